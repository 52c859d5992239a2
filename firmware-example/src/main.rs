//! `fw-tests`: the on-target test suite. Prints one line per test and then
//! `N passed, N failed`; QEMU exits with status 0 only if every test passed.
#![no_std]
#![no_main]

fwring_firmware::entry!(fwring_firmware::suite::run);
