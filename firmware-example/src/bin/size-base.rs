//! `size-base`: the baseline of the size report — runtime, board and exit, no ring.
//! `size-core` minus this is what the ring costs.
#![no_std]
#![no_main]

fwring_firmware::entry!(app);

fn app() -> bool {
    // The same loop shape as size-core, with nothing in it.
    let mut sum = 0u64;
    for i in 0..core::hint::black_box(4u64) {
        sum = sum.wrapping_add(core::hint::black_box(i));
    }
    core::hint::black_box(sum) != u64::MAX
}
