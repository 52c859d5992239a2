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

/// A `const fn` that is a plain `fn` under loom, whose atomics cannot be built in a
/// const context: one body for both, instead of two copies.
macro_rules! const_fn_unless_loom {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {
        #[cfg(not(loom))]
        $(#[$m])*
        $vis const fn $name($($arg: $ty),*) -> $ret $body
        #[cfg(loom)]
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) -> $ret $body
    };
}
pub(crate) use const_fn_unless_loom;

/// `[value; N]` for a `value` that is not `Copy` (atomics, cells of them): the value
/// repeated as a `const` block, so the array builds inside a `const fn` — or, under loom,
/// whose atomics have no `const fn new`, one fresh value per element.
#[cfg(not(loom))]
macro_rules! array_of {
    ($value:expr; $n:expr) => {
        [const { $value }; $n]
    };
}
#[cfg(loom)]
macro_rules! array_of {
    ($value:expr; $n:expr) => {
        core::array::from_fn(|_| $value)
    };
}
pub(crate) use array_of;
