//! Simulated devices for host tests and the simulator: an in-memory NOR flash with real
//! erase semantics, and fault-injecting wrappers (the smoltcp way: faults are a wrapper
//! around a device, not flags inside it).
//!
//! - [`MemFlash`]: erase sets bytes to 0xFF, programming can only clear bits (new = old
//!   AND data), alignment and bounds checked as embedded-storage specifies. It counts
//!   reads, programs, erases and *re-programmed* words (words programmed while not
//!   erased — what a flash with ECC forbids), so tests can check wear, not only data.
//! - [`FaultyFlash`]: any NOR flash, with one armed fault: a read error, a partial
//!   program (the first bytes stored, then an error), an erase failure part-way.
//! - [`PowerCut`]: a [`MemFlash`] that loses power at the k-th program or erase: that
//!   operation is torn (a program stores some words, then one partly programmed word;
//!   an erase leaves part of the block erased and a few bytes half-set), and every later
//!   call fails until [`PowerCut::revive`]. It also counts erases per erase block.
//! - [`FaultySpi`]: any SPI device, with one armed bus error of a chosen kind.
//! - [`SpiNorChip`]: a JEDEC SPI NOR chip as an `SpiDevice` — it decodes the commands
//!   [`crate::spinor::SpiNor`] sends (and [`crate::spi`] transactions can send) onto a
//!   [`MemFlash`], stays busy for a set number of status polls, and can hang.
//! - [`NoDelay`]: a `DelayNs` that returns at once.
//!
//! All `no_std`, no alloc: `MemFlash` works on a `&'static mut [u8]` (a `StaticCell` on a
//! target, a leaked `Vec` on the host).

use embedded_hal::delay::DelayNs;
use embedded_hal::spi::{self, Operation, SpiDevice};
use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash, check_erase, check_read, check_write,
};

/// What a [`MemFlash`] has done since it was made (or since [`MemFlash::reset_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FlashStats {
    /// `read` calls.
    pub reads: u32,
    /// `write` (program) calls.
    pub programs: u32,
    /// Bytes programmed.
    pub bytes_programmed: u64,
    /// Erase blocks erased.
    pub erases: u32,
    /// Write words programmed while not fully erased (0xFF): real flash either ANDs
    /// them (as this one does) or, with ECC, corrupts them.
    pub reprogrammed_words: u32,
}

/// An in-memory NOR flash: `WRITE`-byte program words, `ERASE`-byte erase blocks,
/// byte-addressable reads.
pub struct MemFlash<const WRITE: usize, const ERASE: usize> {
    mem: &'static mut [u8],
    capacity: usize,
    stats: FlashStats,
}

/// Geometry and counters, not the memory's bytes.
impl<const WRITE: usize, const ERASE: usize> core::fmt::Debug for MemFlash<WRITE, ERASE> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemFlash")
            .field("write_size", &WRITE)
            .field("erase_size", &ERASE)
            .field("capacity", &self.capacity)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<const WRITE: usize, const ERASE: usize> MemFlash<WRITE, ERASE> {
    const GEOMETRY_OK: () = assert!(
        WRITE > 0 && ERASE > 0 && ERASE.is_multiple_of(WRITE),
        "the erase block must be a whole number of write words"
    );

    /// A flash over `mem`, as found: call [`MemFlash::erase_all`] for a fresh chip. Its
    /// capacity is `mem`'s length rounded down to whole erase blocks.
    pub fn new(mem: &'static mut [u8]) -> Self {
        let () = Self::GEOMETRY_OK;
        let capacity = mem.len() / ERASE * ERASE;
        MemFlash { mem, capacity, stats: FlashStats::default() }
    }

    /// Set every byte to 0xFF (not counted as erases).
    pub fn erase_all(&mut self) {
        self.mem.fill(0xff);
    }

    /// The flash contents.
    pub fn as_bytes(&self) -> &[u8] {
        &self.mem[..self.capacity]
    }

    /// The counters.
    pub fn stats(&self) -> FlashStats {
        self.stats
    }

    /// Zero the counters.
    pub fn reset_stats(&mut self) {
        self.stats = FlashStats::default();
    }
}

impl<const WRITE: usize, const ERASE: usize> ErrorType for MemFlash<WRITE, ERASE> {
    type Error = NorFlashErrorKind;
}

impl<const WRITE: usize, const ERASE: usize> ReadNorFlash for MemFlash<WRITE, ERASE> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        check_read(self, offset, bytes.len())?;
        let at = offset as usize;
        bytes.copy_from_slice(&self.mem[at..at + bytes.len()]);
        self.stats.reads += 1;
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<const WRITE: usize, const ERASE: usize> NorFlash for MemFlash<WRITE, ERASE> {
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        check_erase(self, from, to)?;
        self.mem[from as usize..to as usize].fill(0xff);
        self.stats.erases += (to - from) / ERASE as u32;
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        check_write(self, offset, bytes.len())?;
        let at = offset as usize;
        let cells = &mut self.mem[at..at + bytes.len()];
        for (word, data) in cells.chunks_mut(WRITE).zip(bytes.chunks(WRITE)) {
            if word.iter().any(|&b| b != 0xff) {
                self.stats.reprogrammed_words += 1;
            }
            for (cell, &d) in word.iter_mut().zip(data) {
                *cell &= d;
            }
        }
        self.stats.programs += 1;
        self.stats.bytes_programmed += bytes.len() as u64;
        Ok(())
    }
}

/// A fault a [`FaultyFlash`] injects into the next matching call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FlashFault {
    /// The next read fails (a bus error) and reads nothing.
    Read,
    /// The next program stores only its first `keep` bytes (rounded down to whole write
    /// words), then fails — power lost or a verify error part-way.
    PartialProgram {
        /// Bytes stored before the failure.
        keep: usize,
    },
    /// The next erase erases only its first `keep` erase blocks, then fails.
    Erase {
        /// Erase blocks erased before the failure.
        keep: usize,
    },
}

/// A [`FaultyFlash`] error: the flash's own, or an injected one (kind `Other`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FaultError<E> {
    /// The wrapped device failed.
    Device(E),
    /// An injected fault.
    Injected,
}

impl<E: NorFlashError> NorFlashError for FaultError<E> {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            FaultError::Device(e) => e.kind(),
            FaultError::Injected => NorFlashErrorKind::Other,
        }
    }
}

/// A NOR flash with one armed [`FlashFault`].
pub struct FaultyFlash<F> {
    inner: F,
    armed: Option<(FlashFault, u32)>,
    injected: u32,
}

/// The armed fault and the count injected; the inner flash need not be `Debug`.
impl<F> core::fmt::Debug for FaultyFlash<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FaultyFlash")
            .field("armed", &self.armed)
            .field("injected", &self.injected)
            .finish_non_exhaustive()
    }
}

impl<F> FaultyFlash<F> {
    /// `inner`, with nothing armed.
    pub const fn new(inner: F) -> Self {
        FaultyFlash { inner, armed: None, injected: 0 }
    }

    /// Inject `fault` into the next matching call.
    pub fn arm(&mut self, fault: FlashFault) {
        self.arm_after(fault, 0);
    }

    /// Inject `fault` into the matching call after the next `skip` ones.
    pub fn arm_after(&mut self, fault: FlashFault, skip: u32) {
        self.armed = Some((fault, skip));
    }

    /// Disarm.
    pub fn disarm(&mut self) {
        self.armed = None;
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u32 {
        self.injected
    }

    /// The wrapped flash.
    pub fn inner(&self) -> &F {
        &self.inner
    }

    /// The wrapped flash, writable.
    pub fn inner_mut(&mut self) -> &mut F {
        &mut self.inner
    }

    /// Whether the armed fault fires for a call that `matches`.
    fn fire(&mut self, matches: impl Fn(&FlashFault) -> bool) -> Option<FlashFault> {
        let (fault, skip) = self.armed.as_mut()?;
        if !matches(fault) {
            return None;
        }
        if *skip > 0 {
            *skip -= 1;
            return None;
        }
        let fault = *fault;
        self.armed = None;
        self.injected += 1;
        Some(fault)
    }
}

impl<F: ErrorType> ErrorType for FaultyFlash<F> {
    type Error = FaultError<F::Error>;
}

impl<F: ReadNorFlash> ReadNorFlash for FaultyFlash<F> {
    const READ_SIZE: usize = F::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        if self.fire(|f| matches!(f, FlashFault::Read)).is_some() {
            return Err(FaultError::Injected);
        }
        self.inner.read(offset, bytes).map_err(FaultError::Device)
    }

    fn capacity(&self) -> usize {
        self.inner.capacity()
    }
}

impl<F: NorFlash> NorFlash for FaultyFlash<F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if let Some(FlashFault::Erase { keep }) = self.fire(|f| matches!(f, FlashFault::Erase { .. })) {
            let end = (from as usize).saturating_add(keep.saturating_mul(F::ERASE_SIZE)).min(to as usize);
            if end > from as usize {
                self.inner.erase(from, end as u32).map_err(FaultError::Device)?;
            }
            return Err(FaultError::Injected);
        }
        self.inner.erase(from, to).map_err(FaultError::Device)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        if let Some(FlashFault::PartialProgram { keep }) = self.fire(|f| matches!(f, FlashFault::PartialProgram { .. }))
        {
            let keep = keep.min(bytes.len()) / F::WRITE_SIZE.max(1) * F::WRITE_SIZE.max(1);
            if keep > 0 {
                self.inner.write(offset, &bytes[..keep]).map_err(FaultError::Device)?;
            }
            return Err(FaultError::Injected);
        }
        self.inner.write(offset, bytes).map_err(FaultError::Device)
    }
}

/// A [`MemFlash`] that loses power at a chosen program or erase (see the module docs).
pub struct PowerCut<const WRITE: usize, const ERASE: usize> {
    flash: MemFlash<WRITE, ERASE>,
    ops: u32,
    cut_at: Option<u32>,
    dead: bool,
    rng: u64,
    wear: &'static mut [u32],
    torn: (u32, u32),
}

/// Where the cut stands, not the flash contents.
impl<const WRITE: usize, const ERASE: usize> core::fmt::Debug for PowerCut<WRITE, ERASE> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PowerCut")
            .field("ops", &self.ops)
            .field("cut_at", &self.cut_at)
            .field("dead", &self.dead)
            .finish_non_exhaustive()
    }
}

impl<const WRITE: usize, const ERASE: usize> PowerCut<WRITE, ERASE> {
    /// `flash`, powered, with nothing armed; `wear` gets one erase counter per erase
    /// block (as many as fit); `seed` drives how operations tear.
    pub fn new(flash: MemFlash<WRITE, ERASE>, wear: &'static mut [u32], seed: u64) -> Self {
        PowerCut { flash, ops: 0, cut_at: None, dead: false, rng: seed | 1, wear, torn: (0, 0) }
    }

    /// Cut power during the program or erase `k` operations from now (0: the next).
    pub fn arm(&mut self, k: u32) {
        self.cut_at = Some(self.ops + k);
    }

    /// Disarm without cutting.
    pub fn disarm(&mut self) {
        self.cut_at = None;
    }

    /// Whether power is off (a cut happened and [`PowerCut::revive`] was not called).
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Power back on: calls work again, nothing is armed.
    pub fn revive(&mut self) {
        self.dead = false;
        self.cut_at = None;
    }

    /// Programs and erases so far (cut or not).
    pub fn mutations(&self) -> u32 {
        self.ops
    }

    /// Operations torn so far: (programs, erases).
    pub fn torn(&self) -> (u32, u32) {
        self.torn
    }

    /// Erases per erase block.
    pub fn erase_counts(&self) -> &[u32] {
        &self.wear[..]
    }

    /// The flash.
    pub fn flash(&self) -> &MemFlash<WRITE, ERASE> {
        &self.flash
    }

    /// The flash, writable (to damage an image on purpose).
    pub fn flash_mut(&mut self) -> &mut MemFlash<WRITE, ERASE> {
        &mut self.flash
    }

    fn next_rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Count a mutation: whether it is the one to tear.
    fn tears(&mut self) -> Result<bool, NorFlashErrorKind> {
        if self.dead {
            return Err(NorFlashErrorKind::Other);
        }
        let hit = self.cut_at == Some(self.ops);
        self.ops += 1;
        if hit {
            self.dead = true;
            self.cut_at = None;
        }
        Ok(hit)
    }

    fn tear_program(&mut self, offset: u32, bytes: &[u8]) {
        let words = bytes.len() / WRITE;
        let keep = (self.next_rand() % (words as u64 + 1)) as usize;
        let at = offset as usize;
        for (i, w) in bytes.chunks(WRITE).take(keep + 1).enumerate() {
            for (j, &d) in w.iter().enumerate() {
                // The torn word: each bit that should clear clears or not.
                let d = if i == keep { d | self.next_rand() as u8 } else { d };
                self.flash.mem[at + i * WRITE + j] &= d;
            }
        }
    }

    fn tear_erase(&mut self, from: u32, to: u32) {
        let blocks = ((to - from) as usize / ERASE).max(1);
        let done = (self.next_rand() % blocks as u64) as usize;
        let base = from as usize;
        self.flash.mem[base..base + done * ERASE].fill(0xff);
        for b in 0..done {
            self.count_erase(base / ERASE + b);
        }
        let torn = base + done * ERASE;
        let x = (self.next_rand() % ERASE as u64) as usize;
        let from_end = self.next_rand() & 1 == 1;
        let (lo, hi) = if from_end { (torn + ERASE - x, torn + ERASE) } else { (torn, torn + x) };
        self.flash.mem[lo..hi].fill(0xff);
        // A few bytes at the edge of the erased part: some bits set, some not.
        let edge = if from_end { lo.saturating_sub(8).max(torn)..lo } else { hi..(hi + 8).min(torn + ERASE) };
        for i in edge {
            self.flash.mem[i] |= self.next_rand() as u8;
        }
        self.count_erase(torn / ERASE);
    }

    fn count_erase(&mut self, block: usize) {
        if let Some(c) = self.wear.get_mut(block) {
            *c += 1;
        }
    }
}

impl<const WRITE: usize, const ERASE: usize> ErrorType for PowerCut<WRITE, ERASE> {
    type Error = NorFlashErrorKind;
}

impl<const WRITE: usize, const ERASE: usize> ReadNorFlash for PowerCut<WRITE, ERASE> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        if self.dead {
            return Err(NorFlashErrorKind::Other);
        }
        self.flash.read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.flash.capacity()
    }
}

impl<const WRITE: usize, const ERASE: usize> NorFlash for PowerCut<WRITE, ERASE> {
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        check_erase(&self.flash, from, to)?;
        if self.tears()? {
            self.tear_erase(from, to);
            self.torn.1 += 1;
            return Err(NorFlashErrorKind::Other);
        }
        for b in from as usize / ERASE..to as usize / ERASE {
            self.count_erase(b);
        }
        self.flash.erase(from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        check_write(&self.flash, offset, bytes.len())?;
        if self.tears()? {
            self.tear_program(offset, bytes);
            self.torn.0 += 1;
            return Err(NorFlashErrorKind::Other);
        }
        self.flash.write(offset, bytes)
    }
}

/// A [`FaultySpi`] error: the device's own, or an injected one of the armed kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpiFaultError<E> {
    /// The wrapped device failed.
    Device(E),
    /// An injected bus error.
    Injected(spi::ErrorKind),
}

/// The injected kind is shown through its `Debug` form (embedded-hal's `ErrorKind` has no
/// `defmt::Format` of defmt 1).
#[cfg(feature = "defmt")]
#[cfg_attr(docsrs, doc(cfg(feature = "defmt")))]
impl<E: defmt::Format> defmt::Format for SpiFaultError<E> {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            SpiFaultError::Device(e) => defmt::write!(f, "Device({})", e),
            SpiFaultError::Injected(kind) => defmt::write!(f, "Injected({})", defmt::Debug2Format(kind)),
        }
    }
}

impl<E: spi::Error> spi::Error for SpiFaultError<E> {
    fn kind(&self) -> spi::ErrorKind {
        match self {
            SpiFaultError::Device(e) => e.kind(),
            SpiFaultError::Injected(k) => *k,
        }
    }
}

/// An SPI device whose next transaction (after `skip` ones) fails with a chosen
/// [`spi::ErrorKind`] without reaching the device.
pub struct FaultySpi<S> {
    inner: S,
    armed: Option<(spi::ErrorKind, u32)>,
}

/// The armed fault; the inner device need not be `Debug`.
impl<S> core::fmt::Debug for FaultySpi<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FaultySpi").field("armed", &self.armed).finish_non_exhaustive()
    }
}

impl<S> FaultySpi<S> {
    /// `inner`, with nothing armed.
    pub const fn new(inner: S) -> Self {
        FaultySpi { inner, armed: None }
    }

    /// Fail the transaction after the next `skip` ones with `kind`.
    pub fn arm(&mut self, kind: spi::ErrorKind, skip: u32) {
        self.armed = Some((kind, skip));
    }

    /// The wrapped device, writable.
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    fn fire(&mut self) -> Option<spi::ErrorKind> {
        let (kind, skip) = self.armed.as_mut()?;
        if *skip > 0 {
            *skip -= 1;
            return None;
        }
        let kind = *kind;
        self.armed = None;
        Some(kind)
    }
}

impl<S: spi::ErrorType> spi::ErrorType for FaultySpi<S> {
    type Error = SpiFaultError<S::Error>;
}

impl<S: SpiDevice<u8>> SpiDevice<u8> for FaultySpi<S> {
    fn transaction(&mut self, operations: &mut [Operation<'_, u8>]) -> Result<(), Self::Error> {
        if let Some(kind) = self.fire() {
            return Err(SpiFaultError::Injected(kind));
        }
        self.inner.transaction(operations).map_err(SpiFaultError::Device)
    }
}

/// A `DelayNs` that does not wait (host runs).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDelay;

impl DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}

/// A simulated JEDEC SPI NOR chip: 4 KiB sectors, 256-byte pages, 3-byte addresses.
///
/// Understands `9F` (JEDEC ID), `05` (status: WIP, WEL), `06` (write enable), `04`
/// (write disable), `03` (read), `02` (page program, wrapping inside the page, only
/// after `06`), `20` (sector erase, only after `06`). While busy it ignores everything
/// but `05`, as a real chip does. The command and address may come in one write
/// operation or be followed by more.
pub struct SpiNorChip {
    flash: MemFlash<1, 4096>,
    id: [u8; 3],
    wel: bool,
    busy_left: u32,
    busy_polls: u32,
    hung: bool,
}

/// The chip's state and its flash's geometry and counters, not the flash's bytes.
impl core::fmt::Debug for SpiNorChip {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SpiNorChip")
            .field("flash", &self.flash)
            .field("id", &self.id)
            .field("wel", &self.wel)
            .field("busy_left", &self.busy_left)
            .field("busy_polls", &self.busy_polls)
            .field("hung", &self.hung)
            .finish()
    }
}

impl SpiNorChip {
    /// A chip over `mem` (as found: erase it through [`SpiNorChip::flash_mut`] for a
    /// fresh one), never busy, JEDEC ID `ef 40 18` (a W25Q128).
    pub fn new(mem: &'static mut [u8]) -> Self {
        SpiNorChip {
            flash: MemFlash::new(mem),
            id: [0xef, 0x40, 0x18],
            wel: false,
            busy_left: 0,
            busy_polls: 0,
            hung: false,
        }
    }

    /// Report busy for `n` status polls after each program or erase.
    #[must_use]
    pub fn busy_polls(mut self, n: u32) -> Self {
        self.busy_polls = n;
        self
    }

    /// Hang: stay busy forever (a deadline must catch it).
    pub fn hang(&mut self) {
        self.hung = true;
    }

    /// The memory behind the chip.
    pub fn flash(&self) -> &MemFlash<1, 4096> {
        &self.flash
    }

    /// The memory behind the chip, writable.
    pub fn flash_mut(&mut self) -> &mut MemFlash<1, 4096> {
        &mut self.flash
    }

    fn busy(&self) -> bool {
        self.hung || self.busy_left > 0
    }

    fn status(&mut self) -> u8 {
        let wip = self.busy();
        self.busy_left = self.busy_left.saturating_sub(1);
        u8::from(wip) | u8::from(self.wel) << 1
    }
}

impl spi::ErrorType for SpiNorChip {
    type Error = spi::ErrorKind;
}

impl SpiDevice<u8> for SpiNorChip {
    fn transaction(&mut self, operations: &mut [Operation<'_, u8>]) -> Result<(), Self::Error> {
        use crate::spinor::{PAGE, SECTOR, op};
        let (first, rest) = match operations.split_first_mut() {
            Some((Operation::Write(w), rest)) if !w.is_empty() => (*w, rest),
            _ => return Err(spi::ErrorKind::FrameFormat),
        };
        let cmd = first[0];
        let addressed = matches!(cmd, op::READ | op::PAGE_PROGRAM | op::SECTOR_ERASE);
        if addressed && first.len() < 4 {
            return Err(spi::ErrorKind::FrameFormat);
        }
        let addr = if addressed { u32::from_be_bytes([0, first[1], first[2], first[3]]) as usize } else { 0 };
        if self.busy() && cmd != op::READ_STATUS {
            return Ok(());
        }
        let cap = self.flash.capacity().max(1);
        match cmd {
            op::JEDEC_ID | op::READ_STATUS | op::READ => {
                let mut at = addr;
                for o in rest.iter_mut() {
                    if let Operation::Read(buf) = o {
                        for b in buf.iter_mut() {
                            *b = match cmd {
                                op::JEDEC_ID => self.id[at % 3],
                                op::READ_STATUS => self.status(),
                                _ => self.flash.as_bytes().get(at % cap).copied().unwrap_or(0xff),
                            };
                            at += 1;
                        }
                    }
                }
            }
            op::WRITE_ENABLE => self.wel = true,
            0x04 => self.wel = false,
            op::PAGE_PROGRAM if self.wel => {
                let page = addr / PAGE * PAGE;
                let data = first[4..].iter().chain(rest.iter().flat_map(|o| match o {
                    Operation::Write(w) => &w[..],
                    _ => &[][..],
                }));
                for (i, &b) in data.enumerate() {
                    let at = page + (addr % PAGE + i) % PAGE;
                    if at < cap {
                        self.flash.write(at as u32, &[b]).map_err(|_| spi::ErrorKind::Other)?;
                    }
                }
                self.wel = false;
                self.busy_left = self.busy_polls;
            }
            op::SECTOR_ERASE if self.wel => {
                let start = addr / SECTOR * SECTOR;
                if start + SECTOR <= cap {
                    self.flash.erase(start as u32, (start + SECTOR) as u32).map_err(|_| spi::ErrorKind::Other)?;
                }
                self.wel = false;
                self.busy_left = self.busy_polls;
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leak(n: usize) -> &'static mut [u8] {
        extern crate std;
        std::vec![0u8; n].leak()
    }

    #[test]
    fn program_clears_bits_erase_sets_them() {
        let mut f: MemFlash<4, 64> = MemFlash::new(leak(130));
        assert_eq!(f.capacity(), 128);
        f.erase_all();
        f.write(0, &[0x0f, 0xf0, 0x55, 0xaa]).unwrap();
        f.write(0, &[0xff, 0x0f, 0xff, 0xf0]).unwrap();
        assert_eq!(&f.as_bytes()[..4], &[0x0f, 0x00, 0x55, 0xa0]);
        assert_eq!(f.stats().reprogrammed_words, 1);
        assert_eq!(f.write(2, &[0; 4]), Err(NorFlashErrorKind::NotAligned));
        assert_eq!(f.write(128, &[0; 4]), Err(NorFlashErrorKind::OutOfBounds));
        assert_eq!(f.erase(0, 32), Err(NorFlashErrorKind::NotAligned));
        f.erase(0, 64).unwrap();
        assert_eq!(&f.as_bytes()[..4], &[0xff; 4]);
        assert_eq!(f.stats().erases, 1);
    }

    #[test]
    fn faults_fire_once_after_skip() {
        let mut f = FaultyFlash::new(MemFlash::<4, 64>::new(leak(128)));
        f.inner_mut().erase_all();
        f.arm_after(FlashFault::PartialProgram { keep: 6 }, 1);
        f.write(0, &[0; 4]).unwrap();
        assert_eq!(f.write(4, &[0; 8]), Err(FaultError::Injected));
        assert_eq!(&f.inner().as_bytes()[4..12], &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        f.write(64, &[0; 4]).unwrap();
        f.arm(FlashFault::Erase { keep: 1 });
        assert_eq!(f.erase(0, 128), Err(FaultError::Injected));
        assert_eq!(f.inner().as_bytes()[0], 0xff);
        assert_eq!(f.inner().as_bytes()[64], 0x00, "the second erase block was not erased");
        assert_eq!(f.injected(), 2);
    }

    #[test]
    fn power_cut_tears_the_armed_operation_and_then_everything_fails() {
        let mut f = PowerCut::new(MemFlash::<4, 64>::new(leak(256)), std::vec![0u32; 4].leak(), 7);
        f.flash_mut().erase_all();
        f.arm(1);
        f.write(0, &[0; 8]).unwrap();
        assert_eq!(f.write(8, &[0; 16]), Err(NorFlashErrorKind::Other));
        assert!(f.is_dead());
        let torn = &f.flash().as_bytes()[8..24];
        // Some words fully programmed, at most one in between, the rest untouched.
        let full = torn.chunks(4).take_while(|w| *w == [0; 4]).count();
        assert!(torn.chunks(4).skip(full + 1).all(|w| w == [0xff; 4]), "{torn:?}");
        assert_eq!(f.read(0, &mut [0; 4]), Err(NorFlashErrorKind::Other), "no power, no reads");
        assert_eq!(f.erase(0, 64), Err(NorFlashErrorKind::Other));
        f.revive();
        assert_eq!((f.mutations(), f.torn()), (2, (1, 0)));
        // A torn erase: part of the block erased, the rest (bar a few bytes) kept.
        f.arm(0);
        assert_eq!(f.erase(0, 64), Err(NorFlashErrorKind::Other));
        let b = f.flash().as_bytes();
        assert!(b[..64].contains(&0xff) && b[..64].iter().any(|&x| x != 0xff), "{:?}", &b[..64]);
        assert_eq!(f.erase_counts(), &[1, 0, 0, 0]);
        f.revive();
        f.erase(64, 192).unwrap();
        assert_eq!(f.erase_counts(), &[1, 1, 1, 0]);
    }
}

/// A simulated UART receiver for [`crate::uart`]: bytes "arrive" with
/// [`Loopback::feed`] into a 256-byte receive FIFO (bytes past it are counted as
/// overruns, as a real FIFO drops them), `embedded_io::Read` takes them out, and
/// [`Loopback::fail_next`] arms one read error.
#[derive(Default, Debug)]
pub struct Loopback {
    rx: heapless::Deque<u8, 256>,
    /// Bytes that arrived while the FIFO was full.
    pub overruns: u32,
    fail: bool,
}

impl Loopback {
    /// Bytes arrive on the line.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.rx.push_back(b).is_err() {
                self.overruns += 1;
            }
        }
    }

    /// The next read fails (a framing or parity error).
    pub fn fail_next(&mut self) {
        self.fail = true;
    }

    /// Bytes waiting in the FIFO.
    pub fn pending(&self) -> usize {
        self.rx.len()
    }
}

impl embedded_io::ErrorType for Loopback {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::ReadReady for Loopback {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(self.fail || !self.rx.is_empty())
    }
}

impl embedded_io::Read for Loopback {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if core::mem::take(&mut self.fail) {
            return Err(embedded_io::ErrorKind::InvalidData);
        }
        let mut n = 0;
        for d in buf.iter_mut() {
            match self.rx.pop_front() {
                Some(b) => {
                    *d = b;
                    n += 1;
                }
                None => break,
            }
        }
        Ok(n)
    }
}
