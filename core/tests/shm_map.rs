//! `QueuePair::from_ptr`: the queue pair at a raw address (a host's mapping, shared SRAM)
//! is the same memory as the value it was made from.

use fwring::Sqe;
use fwring::shm::{DeviceEnd, HostEnd, QueuePair};

type Qp = QueuePair<4, 8>;

#[test]
fn from_ptr_reads_the_same_memory() {
    let qp = Qp::new();
    let ptr = &qp as *const Qp as *mut Qp;
    // SAFETY: `qp` outlives `same`, is aligned and initialised, and every access to it
    // (through `same` and through `qp`) is atomic.
    #[allow(unsafe_code)]
    let same: &Qp = unsafe { Qp::from_ptr(ptr) };
    let mut host = HostEnd::new(same);
    assert_eq!(host.push(&[Sqe::nop().user_data(7)]), Ok(1));
    let mut dev = DeviceEnd::new(&qp);
    let mut out = [Sqe::default(); 1];
    assert_eq!(dev.take(&mut out), Ok(1));
    assert_eq!(out[0].user_data, 7);
}
