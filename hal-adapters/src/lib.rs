//! fwring-hal: ops over embedded-hal 1.0 and embedded-storage (being written).
#![no_std]
