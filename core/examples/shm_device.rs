//! A host driver and device firmware sharing an io_uring-layout queue pair: the device
//! loop is `feed` → `submit` → `flush`.
//!
//! `cargo run -p fwring --example shm_device`

use fwring::shm::{DeviceEnd, HostEnd, QueuePair};
use fwring::{Cqe, Ring, Setup, SetupFlags, Sqe, SqeFlags};

/// The shared block (on hardware: `QueuePair::from_ptr` over a BAR or a mailbox SRAM).
static QP: QueuePair<8, 16> = QueuePair::new();

fn main() {
    let mut host = HostEnd::new(&QP);
    let mut device = DeviceEnd::new(&QP);
    let mut ring: Ring<8, 16, 8> = Ring::new();
    ring.setup(Setup::new(8).flags(SetupFlags::SUBMIT_ALL)).unwrap();

    // The host queues a link chain and a standalone NOP.
    let sqes = [
        Sqe::nop().user_data(1).flags(SqeFlags::IO_LINK),
        Sqe::nop_inject(-22).user_data(2).flags(SqeFlags::IO_LINK),
        Sqe::nop().user_data(3),
        Sqe::nop().user_data(4),
    ];
    assert_eq!(host.push(&sqes).unwrap(), 4);

    // One turn of the device loop.
    let fed = device.feed(&mut ring).unwrap();
    let _ = ring.submit();
    let flushed = device.flush(&mut ring).unwrap();
    println!("device: took {fed} SQEs, posted {flushed} CQEs");

    let mut out = [Cqe::default(); 8];
    let n = host.reap(&mut out).unwrap();
    for c in &out[..n] {
        println!("host: user_data {} -> res {}", c.user_data, c.res);
    }
    assert_eq!(n, 4);
}
