//! A ring lives in a `static`: `const fn new` in a `StaticCell`, as firmware places it.

use fwring::{Cqe, Ring, Setup, SetupFlags, Sqe};
use static_cell::StaticCell;

static RING: StaticCell<Ring<8, 16, 8>> = StaticCell::new();

#[test]
fn ring_in_a_static_cell() {
    let ring: &'static mut Ring<8, 16, 8> = RING.init(Ring::new());
    let p = ring.setup(Setup::new(8).flags(SetupFlags::SUBMIT_ALL)).unwrap();
    assert_eq!((p.sq_entries, p.cq_entries), (8, 16));
    ring.push(Sqe::nop().user_data(5)).unwrap();
    assert_eq!(ring.submit().taken, 1);
    assert_eq!(ring.pop(), Some(Cqe::new(5, 0)));
}

/// `Ring::new` is usable in a const context: the whole ring can be a `static`
/// initialiser (evaluated by the compiler here, or this file would not build).
const _: () = {
    let ring: Ring<4, 4, 2> = Ring::new();
    core::mem::forget(ring);
};
