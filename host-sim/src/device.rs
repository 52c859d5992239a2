//! The device process: the firmware's code path on this machine. It maps the flash
//! image and the shared memory, runs the device loop (`DeviceEnd::feed` → `submit` →
//! `DeviceEnd::flush`) over a ring with the device's op table
//! ([`fwring_storage_firmware::OpTable`]), and a flash-controller thread — the DMA engine —
//! that runs each block job after the latency model and completes it through its
//! `PendingIo` and the ring's `Completer`, as an interrupt handler would.

use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use embedded_storage::nor_flash::ReadNorFlash;
use fwring::shm::DeviceEnd;
use fwring::{Errno, Region, Ring, Setup, SetupFlags};
use fwring_hal::ftl::{self, Blocking, Ftl, FtlConfig, block_on};
use fwring_storage_firmware::{BlockDev, BlockLayer, FlashPort, Geometry, HostMemory, Job, OpTable, execute};

use crate::flash::{self, Faults, Latency, Layer, SimError, SimFlash};
use crate::shmem::{self, CQ, INFLIGHT, SQ, Shared, Window};

/// What the device process is started with: the arguments of the hidden `device`
/// subcommand, which the driver's [`DeviceProcessConfig`](crate::driver::DeviceProcessConfig) becomes.
#[derive(Clone, Debug)]
pub struct DeviceProcessArgs {
    /// The flash image.
    pub flash: PathBuf,
    /// The shared memory's descriptor.
    pub shm_fd: RawFd,
    /// Flash timings.
    pub latency: Latency,
    /// Injected faults.
    pub faults: Faults,
    /// Seed of the jitter and the faults.
    pub seed: u64,
}

static GEOMETRY: OnceLock<Geometry> = OnceLock::new();
static JOBS: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
static WINDOW: OnceLock<Window<'static>> = OnceLock::new();

/// The flash controller's queue.
struct Controller;

impl FlashPort for Controller {
    fn geometry() -> Result<Geometry, Errno> {
        GEOMETRY.get().copied().ok_or(fwring::Errno::ENODEV)
    }

    fn start(job: Job) {
        if let Some(tx) = JOBS.get() {
            // The receiver lives as long as the process: a send cannot fail.
            let _ = tx.send(job);
        }
    }
}

/// The host's window.
struct HostWindow;

impl HostMemory for HostWindow {
    fn read(off: u64, dst: &mut [u8]) -> Result<(), Errno> {
        WINDOW.get().ok_or(Errno::EFAULT)?.read(off, dst)
    }

    fn write(off: u64, src: &[u8]) -> Result<(), Errno> {
        WINDOW.get().ok_or(Errno::EFAULT)?.write(off, src)
    }
}

static BLOCK_OP: fwring::OpVTable = OpTable::<Controller, HostWindow>::BLOCK;
static DMA_OP: fwring::OpVTable = OpTable::<Controller, HostWindow>::DMA;

/// Run the device until the host goes away (this process is killed with its parent).
pub fn run(opts: DeviceProcessArgs) -> Result<(), String> {
    // Die with the host: the device has no life of its own.
    // SAFETY: prctl with integer arguments; the result is checked.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
        return Err(format!("prctl: {}", std::io::Error::last_os_error()));
    }
    let g = flash::inspect(&opts.flash)?;
    let mem = flash::map(&opts.flash, g)?;
    match g.erase_size {
        4096 => serve::<4096>(opts, g, mem),
        32768 => serve::<32768>(opts, g, mem),
        65536 => serve::<65536>(opts, g, mem),
        e => Err(format!("erase block size {e} is not supported")),
    }
}

fn serve<const E: usize>(opts: DeviceProcessArgs, g: flash::Geometry, mem: &'static mut [u8]) -> Result<(), String> {
    let clock = Arc::new(AtomicU64::new(0));
    let sim = SimFlash::<E>::new(mem, opts.latency, opts.faults, opts.seed, clock.clone());
    let name = opts.flash.display().to_string();
    let arm = sim.arming();
    match g.layer {
        Layer::Blockdev => {
            let scratch: &'static mut [u8] = Box::leak(vec![0u8; E].into_boxed_slice());
            let dev = BlockDev::with_cache(sim, g.block_size, scratch)
                .map_err(|e| format!("{name}: the flash geometry does not fit a block device ({e:?})"))?;
            arm.store(true, Ordering::Relaxed);
            run_ring(opts, dev, clock)
        }
        Layer::Ftl => {
            let config = FtlConfig::new(g.block_size);
            let geo = ftl::Geometry::new::<SimError>(sim.capacity(), E, 1, 1, &config)
                .map_err(|e| format!("{name}: the flash geometry does not fit the FTL ({e:?})"))?;
            let ram: &'static mut [u8] = Box::leak(vec![0u8; geo.ram_needed()].into_boxed_slice());
            let blank = flash::is_blank(&opts.flash, g);
            let ftl = match block_on(Ftl::mount(Blocking(sim), ram)) {
                Ok(f) => f,
                Err(r) if r.error == ftl::FtlError::NotFormatted && blank => {
                    block_on(Ftl::format(r.flash, &config, r.ram))
                        .map_err(|r| format!("{name}: cannot format the FTL: {:?}", r.error))?
                }
                Err(r) => {
                    return Err(format!("{name}: not a usable flash image: the FTL does not mount ({:?})", r.error));
                }
            };
            arm.store(true, Ordering::Relaxed);
            run_ring(opts, ftl, clock)
        }
    }
}

fn run_ring<B: BlockLayer + Send>(opts: DeviceProcessArgs, mut dev: B, clock: Arc<AtomicU64>) -> Result<(), String> {
    let _ = GEOMETRY.set(Geometry { block_size: dev.block_size(), blocks: dev.blocks() });

    let shared: &'static Shared =
        Box::leak(Box::new(Shared::open_fd(opts.shm_fd).map_err(|e| format!("shared memory: {e}"))?));
    let _ = WINDOW.set(shared.window());
    let (tx, rx) = mpsc::channel::<Job>();
    let _ = JOBS.set(tx);

    let mut ring: Box<Ring<SQ, CQ, INFLIGHT>> = Box::default();
    ring.setup(Setup::new(SQ as u32).flags(SetupFlags::BPF_EXT | SetupFlags::SUBMIT_ALL))
        .map_err(|e| format!("ring setup: {e:?}"))?;
    ring.register_op(&BLOCK_OP).map_err(|e| format!("register block op: {e:?}"))?;
    ring.register_op(&DMA_OP).map_err(|e| format!("register DMA op: {e:?}"))?;
    // The staging buffers: the device's own RAM, one slot per window slot.
    let staging: &'static mut [u8] = Box::leak(vec![0u8; shmem::WINDOW_BYTES].into_boxed_slice());
    ring.register_buffers([Region::new(staging)]).map_err(|_| "register the staging buffers".to_string())?;
    let (mut sub, mut reaper, completer) = ring.split();
    let latency_on = opts.latency != Latency::ZERO;
    let (bell, host_bell) = (shared.device_bell(), shared.host_bell());

    std::thread::scope(|s| {
        // The flash controller: one job at a time, as one chip does.
        s.spawn(move || {
            while let Ok(mut job) = rx.recv() {
                let t0 = Instant::now();
                let res = execute(&mut dev, &mut job);
                let spent = clock.swap(0, Ordering::Relaxed);
                if latency_on {
                    let due = t0 + Duration::from_nanos(spent);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                }
                // The "interrupt": the request completes with the buffers handed back.
                let _ = job.io.complete(&completer, res);
                bell.ring();
            }
        });
        let mut qp_dev = DeviceEnd::new(shared.qp());
        let mut idle = 0u32;
        let mut seen = bell.value();
        loop {
            let fed = qp_dev.feed(&mut sub).unwrap_or(0);
            let _ = sub.submit();
            let flushed = qp_dev.flush(&mut reaper).unwrap_or(0);
            if flushed > 0 {
                host_bell.ring();
            }
            if fed == 0 && flushed == 0 {
                idle = idle.saturating_add(1);
                if idle > SPINS {
                    // Nothing came since `seen` was read before this look: sleep until
                    // the host or the flash controller rings.
                    bell.wait(seen, Duration::from_millis(2));
                    idle = 0;
                }
            } else {
                idle = 0;
            }
            seen = bell.value();
        }
    })
}

/// Empty polls before a loop sleeps on its doorbell.
pub const SPINS: u32 = 200;
