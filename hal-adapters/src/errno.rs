//! HAL errors as Linux errnos: what a CQE's `res` says when a bus or a flash fails.
//!
//! embedded-hal and embedded-storage errors are driver-specific types that all map to a
//! small `ErrorKind` enum; this module maps each kind to one errno, chosen as Linux
//! drivers report the same condition (`Documentation/i2c/fault-codes.rst` for I²C,
//! MTD for flash). A failed op goes through fwring's failure path like any failed
//! request: its `fail` hook runs and the rest of its link chain is cancelled with
//! -ECANCELED.
//!
//! | source | kind | errno |
//! |---|---|---|
//! | SPI | `Overrun` | -EOVERFLOW (75) |
//! | SPI | `ModeFault` | -EBUSY (16): another controller drives the bus |
//! | SPI | `FrameFormat` | -EPROTO (71) |
//! | SPI | `ChipSelectFault` | -ENXIO (6): the device could not be selected |
//! | SPI | `Other` and future kinds | -EIO (5) |
//! | I²C | `Bus` | -EIO (5) |
//! | I²C | `ArbitrationLoss` | -EAGAIN (11): fwring retries it once, one pass later |
//! | I²C | `NoAcknowledge(Address)` | -ENXIO (6): nobody answered the address |
//! | I²C | `NoAcknowledge(Data)` / `(Unknown)` | -EREMOTEIO (121) |
//! | I²C | `Overrun` | -EOVERFLOW (75) |
//! | I²C | `Other` and future kinds | -EIO (5) |
//! | NOR flash | `NotAligned` | -EINVAL (22) |
//! | NOR flash | `OutOfBounds` | -EFAULT (14): the flash address is outside the device |
//! | NOR flash | `Other` and future kinds | -EIO (5) |
//! | GPIO | any | -EIO (5) |
//!
//! fwring-hal's own conditions:
//!
//! | condition | errno |
//! |---|---|
//! | the op's device cell was never initialised | -ENODEV (19) |
//! | the device is lent out (nested or concurrent use) | -EBUSY (16) |
//! | an async worker missed its deadline | -ETIMEDOUT (110) |
//! | an async port's queue is full | -EBUSY (16) |
//! | unknown command, bad flags, a descriptor the command does not take or lacks | -EINVAL (22) |
//! | misaligned offset or length (checked at prep) | -EINVAL (22) |
//! | flash range or LBA range outside the device (checked at prep) | -EFAULT (14) |
//!
//! Every errno here is a constant of fwring's one table, [`Errno`] (`Errno::ENODEV`,
//! `Errno::EREMOTEIO`, …), whose `Display` names and describes it.

use embedded_hal::digital;
use embedded_hal::i2c::{self, NoAcknowledgeSource};
use embedded_hal::spi;
use embedded_storage::nor_flash::NorFlashErrorKind;
use fwring::Errno;

/// A HAL error kind as an errno (see the module's table).
pub trait ToErrno {
    /// The errno this error is reported as.
    fn to_errno(&self) -> Errno;
}

impl ToErrno for spi::ErrorKind {
    fn to_errno(&self) -> Errno {
        match self {
            spi::ErrorKind::Overrun => Errno::EOVERFLOW,
            spi::ErrorKind::ModeFault => Errno::EBUSY,
            spi::ErrorKind::FrameFormat => Errno::EPROTO,
            spi::ErrorKind::ChipSelectFault => Errno::ENXIO,
            _ => Errno::EIO,
        }
    }
}

impl ToErrno for i2c::ErrorKind {
    fn to_errno(&self) -> Errno {
        match self {
            i2c::ErrorKind::Bus => Errno::EIO,
            i2c::ErrorKind::ArbitrationLoss => Errno::EAGAIN,
            i2c::ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address) => Errno::ENXIO,
            i2c::ErrorKind::NoAcknowledge(_) => Errno::EREMOTEIO,
            i2c::ErrorKind::Overrun => Errno::EOVERFLOW,
            _ => Errno::EIO,
        }
    }
}

impl ToErrno for NorFlashErrorKind {
    fn to_errno(&self) -> Errno {
        match self {
            NorFlashErrorKind::NotAligned => Errno::EINVAL,
            NorFlashErrorKind::OutOfBounds => Errno::EFAULT,
            _ => Errno::EIO,
        }
    }
}

impl ToErrno for digital::ErrorKind {
    fn to_errno(&self) -> Errno {
        Errno::EIO
    }
}

/// The errno of any SPI error.
pub fn spi<E: spi::Error>(e: &E) -> Errno {
    e.kind().to_errno()
}

/// The errno of any I²C error.
pub fn i2c<E: i2c::Error>(e: &E) -> Errno {
    e.kind().to_errno()
}

/// The errno of any NOR flash error.
pub fn nor<E: embedded_storage::nor_flash::NorFlashError>(e: &E) -> Errno {
    e.kind().to_errno()
}

/// The errno of any GPIO error.
pub fn pin<E: digital::Error>(e: &E) -> Errno {
    e.kind().to_errno()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_documented_errno() {
        use i2c::ErrorKind as I;
        use spi::ErrorKind as S;
        let spi: [(S, i32); 5] =
            [(S::Overrun, -75), (S::ModeFault, -16), (S::FrameFormat, -71), (S::ChipSelectFault, -6), (S::Other, -5)];
        for (k, res) in spi {
            assert_eq!(k.to_errno().res(), res, "{k:?}");
        }
        let i2c: [(I, i32); 7] = [
            (I::Bus, -5),
            (I::ArbitrationLoss, -11),
            (I::NoAcknowledge(NoAcknowledgeSource::Address), -6),
            (I::NoAcknowledge(NoAcknowledgeSource::Data), -121),
            (I::NoAcknowledge(NoAcknowledgeSource::Unknown), -121),
            (I::Overrun, -75),
            (I::Other, -5),
        ];
        for (k, res) in i2c {
            assert_eq!(k.to_errno().res(), res, "{k:?}");
        }
        assert_eq!(NorFlashErrorKind::NotAligned.to_errno().res(), -22);
        assert_eq!(NorFlashErrorKind::OutOfBounds.to_errno().res(), -14);
        assert_eq!(NorFlashErrorKind::Other.to_errno().res(), -5);
        assert_eq!(digital::ErrorKind::Other.to_errno().res(), -5);
        assert_eq!((Errno::EPROTO.get(), Errno::EREMOTEIO.get()), (71, 121));
    }
}
