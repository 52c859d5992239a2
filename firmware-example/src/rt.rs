//! Entry point and panics: the same on every board.
//!
//! A panic prints its message and exits QEMU with status 1, so a panicking test run
//! fails instead of hanging.

/// Define the program's entry point: `entry!(app)` runs `fn app() -> bool` and exits
/// through the board (`true` → QEMU exit status 0, `false` → 1). Expands to
/// cortex-m-rt's or riscv-rt's `#[entry]`.
#[macro_export]
macro_rules! entry {
    ($app:path) => {
        #[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
        #[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
        fn main() -> ! {
            $crate::board::exit($app())
        }
    };
}

#[cfg(all(not(feature = "defmt"), not(feature = "size-image")))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    crate::board::print_fmt(format_args!("PANIC {}", info));
    crate::board::exit(false)
}

#[cfg(feature = "defmt")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    defmt::error!("PANIC {}", defmt::Display2Format(info));
    crate::board::exit(false)
}

/// `defmt::panic!` and failed `defmt::assert!`s: the message is already logged.
#[cfg(feature = "defmt")]
#[defmt::panic_handler]
fn defmt_panic() -> ! {
    crate::board::exit(false)
}

/// Size images: no formatting machinery, just fail.
#[cfg(feature = "size-image")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    crate::board::exit(false)
}
