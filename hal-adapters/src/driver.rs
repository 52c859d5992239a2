//! Where an op finds its device's driver: a [`DriverCell`] in a `static`, named by a
//! marker type that implements [`StaticDriver`].
//!
//! Op slots are plain `fn` pointers with no data pointer, so an op cannot carry its
//! driver. Instead each device gets a zero-sized **marker type** that implements
//! [`StaticDriver`] and names a `static DriverCell<Driver>`; ops are generic over the marker
//! (`spi::Spi<Flash>`, `nor::Nor<Flash>`), so every monomorphised op knows its static at
//! compile time. The [`static_driver!`](crate::static_driver!) macro writes marker, static and impl in
//! one line:
//!
//! ```
//! use embedded_hal_mock::eh1::spi::Mock;
//!
//! fwring_hal::static_driver! {
//!     /// The SPI NOR flash on SPI1.
//!     pub Flash: Mock<u8>;
//! }
//! # use fwring_hal::StaticDriver;
//! assert!(!Flash::is_ready());
//! Flash::init(Mock::new(&[])).unwrap();
//! assert!(Flash::is_ready());
//! # Flash::take().unwrap().done();
//! ```
//!
//! **Why not hold a critical section across the bus transfer?** A transfer can take
//! milliseconds (a flash page program, a 64 KiB read); interrupts must stay enabled. So
//! the cell *lends* the driver: one short critical section moves it out, the op runs with
//! interrupts enabled, another short one puts it back. While it is lent, anyone else
//! asking for it (an interrupt handler using the same cell, a nested op) gets -EBUSY
//! rather than a deadlock; a cell that was never initialised gives -ENODEV. No `unsafe`
//! anywhere: the cell is a `critical_section::Mutex<RefCell<…>>`, `Sync` whenever the
//! driver is `Send`.

use core::cell::RefCell;

use critical_section::Mutex;
use fwring::Errno;

enum Slot<D> {
    Empty,
    Ready(D),
    Lent,
}

/// A driver in a `static`, lent to one user at a time. `const fn new`, so it can be a
/// `static` initialiser; [`DriverCell::init`] puts the driver in at run time.
pub struct DriverCell<D> {
    slot: Mutex<RefCell<Slot<D>>>,
}

impl<D> DriverCell<D> {
    /// An empty cell.
    pub const fn new() -> Self {
        DriverCell { slot: Mutex::new(RefCell::new(Slot::Empty)) }
    }

    /// Put the driver in. A cell that already holds one (or has it lent out) hands the
    /// new one back.
    pub fn init(&self, driver: D) -> Result<(), D> {
        critical_section::with(|cs| {
            let mut slot = self.slot.borrow_ref_mut(cs);
            match *slot {
                Slot::Empty => {
                    *slot = Slot::Ready(driver);
                    Ok(())
                }
                _ => Err(driver),
            }
        })
    }

    /// Take the driver out (e.g. to reconfigure it, or to call `done()` on a mock). `None`
    /// if the cell is empty or the driver is lent out.
    pub fn take(&self) -> Option<D> {
        critical_section::with(|cs| {
            let mut slot = self.slot.borrow_ref_mut(cs);
            match core::mem::replace(&mut *slot, Slot::Empty) {
                Slot::Ready(d) => Some(d),
                other => {
                    *slot = other;
                    None
                }
            }
        })
    }

    /// Whether a driver is in the cell and not lent out.
    pub fn is_ready(&self) -> bool {
        critical_section::with(|cs| matches!(*self.slot.borrow_ref(cs), Slot::Ready(_)))
    }

    /// Lend the driver to `f`, outside any critical section, and put it back afterwards
    /// (also if `f` unwinds). Errors: -ENODEV if the cell is empty, -EBUSY if the driver
    /// is lent out already (a nested or concurrent use).
    pub fn with<R>(&self, f: impl FnOnce(&mut D) -> R) -> Result<R, Errno> {
        let driver = critical_section::with(|cs| {
            let mut slot = self.slot.borrow_ref_mut(cs);
            match core::mem::replace(&mut *slot, Slot::Lent) {
                Slot::Ready(d) => Ok(d),
                Slot::Empty => {
                    *slot = Slot::Empty;
                    Err(Errno::ENODEV)
                }
                Slot::Lent => Err(Errno::EBUSY),
            }
        })?;
        let mut lent = Lent { cell: self, driver: Some(driver) };
        let driver = lent.driver.as_mut().ok_or(Errno::EBUSY)?;
        Ok(f(driver))
    }
}

impl<D> Default for DriverCell<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D> core::fmt::Debug for DriverCell<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = critical_section::with(|cs| match *self.slot.borrow_ref(cs) {
            Slot::Empty => "empty",
            Slot::Ready(_) => "ready",
            Slot::Lent => "lent",
        });
        f.debug_struct("DriverCell").field("state", &state).finish()
    }
}

/// The driver while it is lent out; puts it back when dropped.
struct Lent<'a, D> {
    cell: &'a DriverCell<D>,
    driver: Option<D>,
}

impl<D> Drop for Lent<'_, D> {
    fn drop(&mut self) {
        if let Some(d) = self.driver.take() {
            critical_section::with(|cs| *self.cell.slot.borrow_ref_mut(cs) = Slot::Ready(d));
        }
    }
}

/// A marker type naming a device's driver in a `static`: the [`DriverCell`] it lives in
/// (the name says what the marker gives an op — a driver it reaches statically, without
/// a data pointer).
/// Implement it with [`static_driver!`](crate::static_driver!); ops take the marker as their type
/// parameter.
pub trait StaticDriver: 'static {
    /// The driver type (an embedded-hal `SpiDevice`, an `I2c`, a `NorFlash`, …).
    type Hal: 'static;

    /// The cell the driver lives in.
    fn cell() -> &'static DriverCell<Self::Hal>;

    /// Put the driver in (see [`DriverCell::init`]).
    fn init(driver: Self::Hal) -> Result<(), Self::Hal> {
        Self::cell().init(driver)
    }

    /// Take the driver out (see [`DriverCell::take`]).
    fn take() -> Option<Self::Hal> {
        Self::cell().take()
    }

    /// Whether the driver is in and not lent out.
    fn is_ready() -> bool {
        Self::cell().is_ready()
    }

    /// Lend the driver to `f` (see [`DriverCell::with`]): -ENODEV, -EBUSY.
    fn with<R>(f: impl FnOnce(&mut Self::Hal) -> R) -> Result<R, Errno> {
        Self::cell().with(f)
    }
}

/// Declare device marker types ([`StaticDriver`]s), each with its own `static`
/// [`DriverCell`]:
///
/// ```
/// # use embedded_hal_mock::eh1::{i2c, digital};
/// fwring_hal::static_driver! {
///     /// The temperature sensor on I2C0.
///     pub Sensor: i2c::Mock;
///     /// The sensor's reset line.
///     Reset: digital::Mock;
/// }
/// ```
///
/// Each `NAME: Type;` becomes a unit struct `NAME` implementing [`StaticDriver`] with
/// `Hal = Type`. The driver type must be `Send` (the cell is shared with interrupt
/// handlers).
#[macro_export]
macro_rules! static_driver {
    ($($(#[$meta:meta])* $vis:vis $name:ident: $hal:ty;)+) => {
        $(
            $(#[$meta])*
            #[derive(Clone, Copy, Debug)]
            $vis struct $name;

            impl $crate::StaticDriver for $name {
                type Hal = $hal;

                fn cell() -> &'static $crate::DriverCell<$hal> {
                    static CELL: $crate::DriverCell<$hal> = $crate::DriverCell::new();
                    &CELL
                }
            }
        )+
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lend_take_and_errors() {
        static CELL: DriverCell<u32> = DriverCell::new();
        assert_eq!(CELL.with(|_| ()), Err(Errno::ENODEV));
        assert_eq!(CELL.take(), None);
        CELL.init(7).unwrap();
        assert_eq!(CELL.init(8), Err(8));
        assert_eq!(
            CELL.with(|d| {
                *d += 1;
                // Nested use while lent: EBUSY, not a deadlock; take and init refuse.
                assert_eq!(CELL.with(|_| ()), Err(Errno::EBUSY));
                assert_eq!(CELL.take(), None);
                assert_eq!(CELL.init(1), Err(1));
                assert!(!CELL.is_ready());
                *d
            }),
            Ok(8)
        );
        assert!(CELL.is_ready());
        assert_eq!(CELL.take(), Some(8));
        assert!(!CELL.is_ready());
    }
}
