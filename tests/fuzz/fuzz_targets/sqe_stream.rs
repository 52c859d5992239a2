//! Fuzz random SQE streams with registered buffers: lent buffers, every descriptor
//! type, links, drains, forged tokens, cancels and timeouts (`fwring_tests::stream`).
//! A broken promise — a lent range written by another request, a CQE lost or doubled,
//! a ring that does not drain, regions not released — is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = fwring_tests::stream::run(data) {
        panic!("{e}");
    }
});
