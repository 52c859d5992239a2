//! `fw-bench`: the NOP benchmark on the target (see `fwring_firmware::bench`).
#![no_std]
#![no_main]

fwring_firmware::entry!(fwring_firmware::bench::run);
