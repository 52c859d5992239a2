//! The FTL over a flash whose operations complete later: each program, erase and read
//! is handed to a "DMA engine" thread that owns the chip, and the FTL's future waits
//! (returns Pending) until the engine has done it — as a simulator's DMA engine or a
//! DMA-driven SPI NOR does. Data must equal the model, across a remount.

mod ftlsim;

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::Poll;

use embedded_storage::nor_flash::{ErrorType, NorFlash as _, NorFlashErrorKind, ReadNorFlash as _};
use embedded_storage_async::nor_flash::{NorFlash, ReadNorFlash};
use ftlsim::{Rng, block_data, leak};
use fwring_hal::ftl::{Ftl, FtlConfig, block_on};
use fwring_hal::sim::MemFlash;

enum Cmd {
    Read(u32, usize),
    Write(u32, Vec<u8>),
    Erase(u32, u32),
}

/// Where the engine leaves an operation's outcome.
#[derive(Default)]
struct Done {
    flag: AtomicBool,
    out: Mutex<Option<Result<Vec<u8>, NorFlashErrorKind>>>,
}

/// The FTL's side: operations go to the engine thread.
struct DmaFlash {
    tx: mpsc::Sender<(Cmd, Arc<Done>)>,
    capacity: usize,
    pending_polls: Arc<AtomicU64>,
}

impl DmaFlash {
    async fn submit(&mut self, cmd: Cmd) -> Result<Vec<u8>, NorFlashErrorKind> {
        let done = Arc::new(Done::default());
        self.tx.send((cmd, done.clone())).map_err(|_| NorFlashErrorKind::Other)?;
        poll_fn(|cx| {
            if done.flag.load(Ordering::Acquire) {
                return Poll::Ready(done.out.lock().unwrap().take().unwrap_or(Err(NorFlashErrorKind::Other)));
            }
            self.pending_polls.fetch_add(1, Ordering::Relaxed);
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await
    }
}

impl ErrorType for DmaFlash {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for DmaFlash {
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let data = self.submit(Cmd::Read(offset, bytes.len())).await?;
        bytes.copy_from_slice(&data);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}

impl NorFlash for DmaFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.submit(Cmd::Erase(from, to)).await.map(drop)
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.submit(Cmd::Write(offset, bytes.to_vec())).await.map(drop)
    }
}

/// The engine: owns the chip, does each operation, marks it done.
fn engine(rx: mpsc::Receiver<(Cmd, Arc<Done>)>, mut chip: MemFlash<4, 4096>) {
    while let Ok((cmd, done)) = rx.recv() {
        let out = match cmd {
            Cmd::Read(at, len) => {
                let mut v = vec![0; len];
                chip.read(at, &mut v).map(|()| v)
            }
            Cmd::Write(at, data) => chip.write(at, &data).map(|()| Vec::new()),
            Cmd::Erase(from, to) => chip.erase(from, to).map(|()| Vec::new()),
        };
        *done.out.lock().unwrap() = Some(out);
        done.flag.store(true, Ordering::Release);
    }
}

#[test]
fn the_ftl_runs_on_a_flash_whose_operations_a_dma_thread_completes_later() {
    let mut chip = MemFlash::<4, 4096>::new(leak(256 * 1024));
    chip.erase_all();
    let (tx, rx) = mpsc::channel();
    let dma = std::thread::spawn(move || engine(rx, chip));
    let pending_polls = Arc::new(AtomicU64::new(0));
    let flash = DmaFlash { tx, capacity: 256 * 1024, pending_polls: pending_polls.clone() };
    let mut dev = block_on(Ftl::format(flash, &FtlConfig::new(512), leak(16 * 1024))).unwrap();
    let blocks = dev.blocks();
    let mut model = vec![vec![0u8; 512]; blocks as usize];
    let mut r = Rng(3);
    let mut buf = vec![0u8; 512];
    for i in 0..1500u64 {
        let lba = r.below(u64::from(blocks)) as u32;
        let d = block_data(512, lba, i);
        block_on(dev.write_blocks(lba, &d)).unwrap();
        model[lba as usize] = d;
        let back = r.below(u64::from(blocks)) as u32;
        block_on(dev.read_blocks(back, &mut buf)).unwrap();
        assert_eq!(buf, model[back as usize], "block {back} after write {i}");
    }
    assert!(dev.stats().moved > 0, "garbage collection ran on the async flash");
    let (flash, ram) = dev.into_parts();
    let mut dev = block_on(Ftl::mount(flash, ram)).map_err(|r| r.error).unwrap();
    for lba in 0..blocks {
        block_on(dev.read_blocks(lba, &mut buf)).unwrap();
        assert_eq!(buf, model[lba as usize], "block {lba} after the remount");
    }
    block_on(dev.check()).unwrap();
    assert!(pending_polls.load(Ordering::Relaxed) > 1000, "operations completed later, not at once");
    drop(dev);
    dma.join().unwrap();
}
