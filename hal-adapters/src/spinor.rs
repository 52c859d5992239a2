//! A JEDEC SPI NOR flash (25-series: W25Q, MX25L, IS25LP, GD25Q, …) behind an
//! embedded-hal [`SpiDevice`], as an embedded-storage [`NorFlash`] — so the [`crate::nor`]
//! and [`crate::blk`] ops run on a real SPI chip.
//!
//! Commands, 3-byte addresses (chips up to 16 MiB):
//!
//! | operation | transactions |
//! |---|---|
//! | read | `03 a2 a1 a0` + the destination itself (one transaction, zero-copy) |
//! | program | per 256-byte page: `06`; `02 a2 a1 a0` + the source bytes; then `05` polls |
//! | erase | per 4 KiB sector: `06`; `20 a2 a1 a0`; then `05` polls |
//! | [`SpiNor::jedec_id`] | `9F` + 3 bytes |
//!
//! **Deadlines.** After a program or erase the driver polls the status register (`05`)
//! until the write-in-progress bit clears, waiting [`Timeouts::poll_us`] between polls
//! with the [`DelayNs`] it owns, and gives up after the program or erase deadline
//! ([`Timeouts`]) with [`SpiNorError::Timeout`] — a chip that hangs fails its request
//! instead of hanging the ring. embedded-storage reports it as kind `Other`: -EIO.

use embedded_hal::delay::DelayNs;
use embedded_hal::spi::{Operation, SpiDevice};
use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash, check_erase, check_read, check_write,
};

/// JEDEC command bytes.
pub mod op {
    /// Read data.
    pub const READ: u8 = 0x03;
    /// Page program.
    pub const PAGE_PROGRAM: u8 = 0x02;
    /// 4 KiB sector erase.
    pub const SECTOR_ERASE: u8 = 0x20;
    /// Write enable.
    pub const WRITE_ENABLE: u8 = 0x06;
    /// Read status register 1.
    pub const READ_STATUS: u8 = 0x05;
    /// Read the JEDEC ID.
    pub const JEDEC_ID: u8 = 0x9f;
}

/// Status register: write in progress.
pub const STATUS_WIP: u8 = 1 << 0;
/// Program page size.
pub const PAGE: usize = 256;
/// Erase sector size.
pub const SECTOR: usize = 4096;

/// Busy-poll timing, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timeouts {
    /// Wait between two status polls.
    pub poll_us: u32,
    /// Longest a page program may take (datasheets: 0.7 ms typical, 3 ms max).
    pub program_us: u32,
    /// Longest a sector erase may take (datasheets: 45 ms typical, 400 ms max).
    pub erase_us: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { poll_us: 10, program_us: 5_000, erase_us: 500_000 }
    }
}

/// An [`SpiNor`] error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SpiNorError<E> {
    /// The SPI device failed.
    Spi(E),
    /// The chip stayed busy past the deadline.
    Timeout,
    /// Offset or length not aligned (see embedded-storage).
    NotAligned,
    /// Range outside the chip.
    OutOfBounds,
}

impl<E: core::fmt::Debug> NorFlashError for SpiNorError<E> {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SpiNorError::NotAligned => NorFlashErrorKind::NotAligned,
            SpiNorError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            _ => NorFlashErrorKind::Other,
        }
    }
}

impl<E> From<NorFlashErrorKind> for SpiNorError<E> {
    fn from(k: NorFlashErrorKind) -> Self {
        match k {
            NorFlashErrorKind::NotAligned => SpiNorError::NotAligned,
            _ => SpiNorError::OutOfBounds,
        }
    }
}

/// A SPI NOR flash of `capacity` bytes on `spi`, timed by `delay`.
pub struct SpiNor<S, D> {
    spi: S,
    delay: D,
    capacity: usize,
    timeouts: Timeouts,
}

/// Capacity and timings; the bus and delay need not be `Debug`.
impl<S, D> core::fmt::Debug for SpiNor<S, D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SpiNor")
            .field("capacity", &self.capacity)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl<S: SpiDevice<u8>, D: DelayNs> SpiNor<S, D> {
    /// The chip on `spi`, `capacity` bytes (at most 16 MiB: 3-byte addresses; more is
    /// clamped), default [`Timeouts`].
    pub fn new(spi: S, delay: D, capacity: usize) -> Self {
        SpiNor { spi, delay, capacity: capacity.min(1 << 24) / SECTOR * SECTOR, timeouts: Timeouts::default() }
    }

    /// Use these busy-poll timings.
    #[must_use]
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The SPI device.
    pub fn spi(&self) -> &S {
        &self.spi
    }

    /// The SPI device, writable (e.g. to arm a fault).
    pub fn spi_mut(&mut self) -> &mut S {
        &mut self.spi
    }

    /// The SPI device and the delay back.
    pub fn release(self) -> (S, D) {
        (self.spi, self.delay)
    }

    /// Manufacturer, memory type, capacity code.
    pub fn jedec_id(&mut self) -> Result<[u8; 3], SpiNorError<S::Error>> {
        let mut id = [0; 3];
        self.spi
            .transaction(&mut [Operation::Write(&[op::JEDEC_ID]), Operation::Read(&mut id)])
            .map_err(SpiNorError::Spi)?;
        Ok(id)
    }

    fn command(cmd: u8, addr: u32) -> [u8; 4] {
        let a = addr.to_be_bytes();
        [cmd, a[1], a[2], a[3]]
    }

    fn write_enable(&mut self) -> Result<(), SpiNorError<S::Error>> {
        self.spi.write(&[op::WRITE_ENABLE]).map_err(SpiNorError::Spi)
    }

    /// Poll the status register until the chip is idle, for at most `deadline_us`.
    fn wait_idle(&mut self, deadline_us: u32) -> Result<(), SpiNorError<S::Error>> {
        let poll = self.timeouts.poll_us.max(1);
        let mut waited = 0u32;
        loop {
            let mut status = [0];
            self.spi
                .transaction(&mut [Operation::Write(&[op::READ_STATUS]), Operation::Read(&mut status)])
                .map_err(SpiNorError::Spi)?;
            if status[0] & STATUS_WIP == 0 {
                return Ok(());
            }
            if waited >= deadline_us {
                return Err(SpiNorError::Timeout);
            }
            self.delay.delay_us(poll);
            waited = waited.saturating_add(poll);
        }
    }
}

impl<S: SpiDevice<u8>, D> ErrorType for SpiNor<S, D> {
    type Error = SpiNorError<S::Error>;
}

impl<S: SpiDevice<u8>, D: DelayNs> ReadNorFlash for SpiNor<S, D> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        check_read(self, offset, bytes.len())?;
        let cmd = Self::command(op::READ, offset);
        self.spi.transaction(&mut [Operation::Write(&cmd), Operation::Read(bytes)]).map_err(SpiNorError::Spi)
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<S: SpiDevice<u8>, D: DelayNs> NorFlash for SpiNor<S, D> {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = SECTOR;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        check_erase(self, from, to)?;
        for sector in (from..to).step_by(SECTOR) {
            self.write_enable()?;
            self.spi.write(&Self::command(op::SECTOR_ERASE, sector)).map_err(SpiNorError::Spi)?;
            self.wait_idle(self.timeouts.erase_us)?;
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        check_write(self, offset, bytes.len())?;
        let mut at = offset as usize;
        let mut rest = bytes;
        while !rest.is_empty() {
            // A page program wraps inside its page: never cross a page boundary.
            let n = (PAGE - at % PAGE).min(rest.len());
            let (chunk, tail) = rest.split_at(n);
            self.write_enable()?;
            let cmd = Self::command(op::PAGE_PROGRAM, at as u32);
            self.spi.transaction(&mut [Operation::Write(&cmd), Operation::Write(chunk)]).map_err(SpiNorError::Spi)?;
            self.wait_idle(self.timeouts.program_us)?;
            at += n;
            rest = tail;
        }
        Ok(())
    }
}
