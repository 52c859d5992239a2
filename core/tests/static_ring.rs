//! A ring lives in a `static`: `const fn new` in a `StaticCell`, as firmware places it —
//! and costs no flash there, because `Ring::new()` is all zero bytes.

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

/// `Ring::new()`'s bytes are all zeros, for several sizes (issue 13): each ring below is
/// the initial value of a `static`, and the test finds each `static` in the `.bss` of
/// its own executable.
///
/// Why this is the check, and a sound one: the compiler evaluates a `static`'s
/// initialiser to bytes at build time, and LLVM places the static in a zero-fill section
/// (`.bss`, no initial image) exactly when every byte of that image is zero (padding,
/// which has no value, counts as zero); otherwise it goes to `.data` and its image to
/// flash. Reading the ELF file needs no `unsafe` and no look at padding bytes, which no
/// Rust code may read. The firmware size report (`cargo xtask fw-size`) checks the same
/// on the targets.
#[cfg(target_os = "linux")]
mod zeroed {
    use fwring::Ring;
    use object::{Object, ObjectSection, ObjectSymbol, SectionKind};
    use static_cell::ConstStaticCell;

    macro_rules! rings {
        ($($name:ident: $ty:ty),* $(,)?) => {
            $(
                #[used]
                static $name: ConstStaticCell<$ty> = ConstStaticCell::new(Ring::new());
            )*
            /// Each static's name and size.
            const RINGS: &[(&str, usize)] = &[$((stringify!($name), size_of::<ConstStaticCell<$ty>>())),*];
        };
    }

    rings! {
        ZEROED_RING_1_1_1: Ring<1, 1, 1>,
        ZEROED_RING_8_16_8: Ring<8, 16, 8>,
        ZEROED_RING_16_32_16: Ring<16, 32, 16>,
        // A CQ larger than `Ring::new` uses (2 × SQ), extended-argument records.
        ZEROED_RING_8_64_4_2: Ring<8, 64, 4, 2>,
        ZEROED_RING_256_512_128: Ring<256, 512, 128>,
    }

    #[test]
    #[cfg_attr(miri, ignore = "reads the native executable's ELF file")]
    fn ring_new_is_all_zero_bytes() {
        let exe = std::env::current_exe().unwrap();
        let data = std::fs::read(&exe).unwrap();
        let file = object::File::parse(&*data).unwrap();
        for &(name, size) in RINGS {
            let sym = file
                .symbols()
                .find(|s| s.name().is_ok_and(|n| n.contains(name)))
                .unwrap_or_else(|| panic!("{name} not in {}", exe.display()));
            assert_eq!(sym.size() as usize, size, "{name}");
            let section = file.section_by_index(sym.section_index().unwrap()).unwrap();
            assert_eq!(
                (section.name().unwrap(), section.kind()),
                (".bss", SectionKind::UninitializedData),
                "{name}: Ring::new() has non-zero bytes"
            );
        }
    }
}
