//! The fwring host simulator: the pieces behind the `fwring-sim` binary, usable from
//! tests and other host tools.
//!
//! - [`replay`]: feed a file of raw 64-byte SQEs to a fresh ring, print every CQE.
//! - [`demo`]: a narrated run of the ring.
//! - [`ops`]: the simulator's standard op-slot ops.
//! - [`setup_flags`]: parsing of setup-flag names.
//! - [`encode`]: SQEs from JSON lines.
//! - The simulated storage device: [`flash`] (the NOR flash image), [`shmem`] (the
//!   memory host and device processes share), [`device`] (the device process),
//!   [`driver`] (the host driver), [`nbd`] (the NBD export), [`workload`] (`run`).

pub mod demo;
mod demo_device;
mod demo_storage;
mod demo_stream;
pub mod device;
pub mod driver;
pub mod encode;
pub mod flash;
mod narrate;
pub mod nbd;
pub mod ops;
pub mod replay;
pub mod setup_flags;
pub mod shmem;
pub mod workload;
