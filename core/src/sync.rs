//! The atomics every concurrent protocol of fwring uses, from one place: `loom`'s
//! model-checked atomics under `cfg(loom)`, `portable-atomic` otherwise (native atomics
//! where the target has them; on targets without compare-and-swap, such as thumbv6m,
//! read-modify-write goes through `critical-section` with the `critical-section` feature).

#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::atomic::{AtomicI32, AtomicU16, AtomicU32, Ordering};

#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use portable_atomic::{AtomicI32, AtomicU16, AtomicU32, Ordering};

#[cfg(all(loom, target_has_atomic = "64"))]
#[allow(unused_imports)]
pub(crate) use loom::sync::atomic::AtomicU64;

#[cfg(all(not(loom), target_has_atomic = "64"))]
#[allow(unused_imports)]
pub(crate) use portable_atomic::AtomicU64;
