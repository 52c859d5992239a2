//! The logging shim: `defmt` when the `defmt` feature is on (frames over semihosting,
//! decoded on the host by `defmt-print`), plain semihosting text otherwise.
//!
//! The macros take the subset of format syntax both backends read the same way: `{}`
//! (and `{:#x}`) with integer, `bool` and `&str` arguments.

/// A line as is: the summary line the host parses. (`defmt::println!`, or plain text.)
#[cfg(feature = "defmt")]
#[macro_export]
macro_rules! log_line {
    ($($t:tt)*) => { ::defmt::println!($($t)*) };
}

/// An informational line. (`defmt::info!`, or plain text.)
#[cfg(feature = "defmt")]
#[macro_export]
macro_rules! log_info {
    ($($t:tt)*) => { ::defmt::info!($($t)*) };
}

/// An error line. (`defmt::error!`, or plain text prefixed `ERROR`.)
#[cfg(feature = "defmt")]
#[macro_export]
macro_rules! log_error {
    ($($t:tt)*) => { ::defmt::error!($($t)*) };
}

/// A line as is: the summary line the host parses. (`defmt::println!`, or plain text.)
#[cfg(not(feature = "defmt"))]
#[macro_export]
macro_rules! log_line {
    ($($t:tt)*) => { $crate::board::print_fmt(format_args!($($t)*)) };
}

/// An informational line. (`defmt::info!`, or plain text.)
#[cfg(not(feature = "defmt"))]
#[macro_export]
macro_rules! log_info {
    ($($t:tt)*) => { $crate::board::print_fmt(format_args!($($t)*)) };
}

/// An error line. (`defmt::error!`, or plain text prefixed `ERROR`.)
#[cfg(not(feature = "defmt"))]
#[macro_export]
macro_rules! log_error {
    ($fmt:literal $($t:tt)*) => { $crate::board::print_fmt(format_args!(concat!("ERROR ", $fmt) $($t)*)) };
}
