//! The fwring host simulator: the pieces behind the `fwring-sim` binary, usable from
//! tests and other host tools.
//!
//! - [`replay`]: feed a file of raw 64-byte SQEs to a fresh ring, print every CQE.
//! - [`demo`]: a narrated run of the ring.
//! - [`ops`]: the simulator's standard op-slot ops.
//! - [`setup_flags`]: parsing of setup-flag names.

pub mod demo;
mod demo_device;
mod demo_stream;
pub mod ops;
pub mod replay;
pub mod setup_flags;
