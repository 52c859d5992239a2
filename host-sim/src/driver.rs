//! The host driver: turns block requests into SQE link chains on the shared queue pair,
//! moves data through the shared window, and matches CQEs back to requests. It also
//! supervises the device process: when the device dies (a crash, a `kill -9` — a power
//! cut), every request it held fails with EIO, and a new device process is started on
//! the same flash image and shared memory.
//!
//! A request is cut into pieces of at most [`PIECE`] bytes; each piece gets a window
//! slot (and the device's staging slot at the same offset) and one link chain:
//!
//! - read: `BLOCK READ (→ staging) → DMA TO_HOST (staging → window)`; the driver copies
//!   the window slot out when the chain's CQEs are in;
//! - write / write-zeroes: the driver fills the window slot, then
//!   `DMA FROM_HOST (window → staging) → BLOCK WRITE (staging, FUA if asked)`.
//!
//! FLUSH, TRIM (DISCARD) and BLOCKS are single SQEs.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use fwring::shm::HostEnd;
use fwring::{BufDesc, Cqe, Errno, Sqe, SqeFlags};
use fwring_storage_firmware as dev;

use crate::device::SPINS;
use crate::flash::{Faults, Latency};
use crate::shmem::{PIECE, SLOTS, Shared};

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Read `len` bytes.
    Read,
    /// Write the request's data.
    Write {
        /// Forced unit access: on the flash before the reply.
        fua: bool,
    },
    /// Write `len` zero bytes.
    Zero {
        /// Forced unit access.
        fua: bool,
    },
    /// Write the device's cache back.
    Flush,
    /// Discard `len` bytes.
    Trim,
}

/// A request's outcome: the data read (empty for other kinds), or the errno.
pub type Outcome = Result<Vec<u8>, Errno>;

/// A block request.
pub struct Request {
    /// What to do.
    pub kind: Kind,
    /// Byte offset (a multiple of the block size).
    pub off: u64,
    /// Bytes (a multiple of the block size; 0 for FLUSH).
    pub len: u32,
    /// The data of a write.
    pub data: Vec<u8>,
    /// Called once with the outcome, on the driver's thread.
    pub done: Box<dyn FnOnce(Outcome) + Send>,
}

/// How the driver starts (and restarts) the device process; it passes the device's part
/// on as [`DeviceProcessArgs`](crate::device::DeviceProcessArgs).
#[derive(Clone, Debug)]
pub struct DeviceProcessConfig {
    /// The flash image.
    pub flash: PathBuf,
    /// Flash timings.
    pub latency: Latency,
    /// Injected faults.
    pub faults: Faults,
    /// Seed.
    pub seed: u64,
    /// Say on stderr when a device process starts or dies.
    pub verbose: bool,
    /// Where to send the life of each chain member (for `run --trace`).
    pub trace: Option<mpsc::Sender<TraceEvent>>,
}

/// One member of a piece's link chain, as the host saw it: from when the chain was
/// published (the first member) or its predecessor's CQE came (the second) to its own
/// CQE.
#[derive(Clone, Debug)]
pub struct TraceEvent {
    /// The window slot (one chain at a time per slot).
    pub slot: u32,
    /// 0 = first member, 1 = its linked successor.
    pub member: u8,
    /// What it did ("BLOCK READ", "DMA TO_HOST", …).
    pub name: &'static str,
    /// Start.
    pub start: Instant,
    /// Its CQE.
    pub end: Instant,
    /// CQE result.
    pub res: i32,
}

/// The running driver (its thread owns the queue pair and the device process).
pub struct Driver {
    tx: mpsc::Sender<Request>,
    shared: &'static Shared,
    /// Bytes of the device.
    pub size: u64,
    /// Block size.
    pub block_size: u32,
    pid: Arc<AtomicU32>,
}

/// A piece of a read/write request waiting for, or holding, a window slot.
#[derive(Clone, Copy)]
struct Piece {
    req: u64,
    /// Offset within the request.
    rel: u32,
    len: u32,
}

/// A request in the driver.
struct Live {
    kind: Kind,
    off: u64,
    data: Vec<u8>,
    left: u32,
    err: Option<Errno>,
    done: Option<Box<dyn FnOnce(Outcome) + Send>>,
}

/// A piece on the device: its chain's two CQEs.
struct OnDevice {
    piece: Piece,
    res: [Option<i32>; 2],
    read: bool,
    pushed: Instant,
    first_done: Option<Instant>,
}

const SINGLE: u64 = 1 << 63;

impl Driver {
    /// Start the device process and the driver thread; waits until the device answers.
    pub fn start(cfg: DeviceProcessConfig) -> Result<Driver, String> {
        // The mapping lives as long as the process (the driver thread never ends early).
        let shared: &'static Shared = Box::leak(Box::new(Shared::create().map_err(|e| format!("shared memory: {e}"))?));
        let mut child = spawn(&cfg, shared)?;
        let pid = Arc::new(AtomicU32::new(child.id()));
        // Probe: BLOCKS, answered once the device is up.
        let mut host = HostEnd::new(shared.qp());
        let probe = dev::blocks().user_data(SINGLE);
        host.push(&[probe]).map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        let blocks = loop {
            let mut c = [Cqe::default(); 1];
            if host.reap(&mut c).map_err(|e| e.to_string())? == 1 {
                if c[0].res < 0 {
                    return Err(format!("the device failed its first request ({})", c[0].res));
                }
                break c[0].res as u32;
            }
            if let Ok(Some(st)) = child.try_wait() {
                return Err(format!("the device process exited ({st})"));
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                return Err("the device process did not answer within 20 s".into());
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        let g = crate::flash::inspect(&cfg.flash)?;
        let (tx, rx) = mpsc::channel();
        let block_size = g.block_size;
        let size = u64::from(blocks) * u64::from(block_size);
        let pid2 = pid.clone();
        std::thread::Builder::new()
            .name("fwring-driver".into())
            .spawn(move || {
                let mut w = Worker {
                    host,
                    shared,
                    cfg,
                    child,
                    pid: pid2,
                    rx,
                    free: (0..SLOTS as u32).rev().collect(),
                    queued: VecDeque::new(),
                    singles: VecDeque::new(),
                    live: HashMap::new(),
                    on_dev: (0..SLOTS).map(|_| None).collect(),
                    single_live: HashMap::new(),
                    next_id: 1,
                    block_size,
                    closed: false,
                };
                w.run();
            })
            .map_err(|e| format!("cannot start the driver thread: {e}"))?;
        Ok(Driver { tx, shared, size, block_size, pid })
    }

    /// Queue a request (its `done` runs on the driver's thread).
    pub fn submit(&self, req: Request) {
        if let Err(mpsc::SendError(req)) = self.tx.send(req) {
            (req.done)(Err(Errno::EIO));
        }
        self.shared.host_bell().ring();
    }

    /// Submit and wait.
    pub fn call(&self, kind: Kind, off: u64, len: u32, data: Vec<u8>) -> Outcome {
        let (tx, rx) = mpsc::channel();
        self.submit(Request { kind, off, len, data, done: Box::new(move |o| drop(tx.send(o))) });
        rx.recv().unwrap_or(Err(Errno::EIO))
    }

    /// The device process's id now.
    pub fn device_pid(&self) -> u32 {
        self.pid.load(Ordering::Relaxed)
    }
}

fn spawn(cfg: &DeviceProcessConfig, shared: &Shared) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let l = cfg.latency;
    let f = cfg.faults;
    let child = Command::new(exe)
        .arg("device")
        .arg("--shm-fd")
        .arg(shared.fd().to_string())
        .arg("--flash")
        .arg(&cfg.flash)
        .arg(format!("--latency-ns={},{},{},{}", l.read_ns, l.program_ns, l.erase_ns, l.jitter_pct))
        .arg(format!("--faults={},{},{},{}", f.read_error, f.program_fail, f.bit_flip, f.stuck_busy))
        .arg(format!("--seed={}", cfg.seed))
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the device process: {e}"))?;
    if cfg.verbose {
        eprintln!("device: pid {}", child.id());
    }
    Ok(child)
}

struct Worker<'s> {
    host: HostEnd<'s, { crate::shmem::SQ }, { crate::shmem::CQ }>,
    shared: &'s Shared,
    cfg: DeviceProcessConfig,
    child: Child,
    pid: Arc<AtomicU32>,
    rx: mpsc::Receiver<Request>,
    free: Vec<u32>,
    queued: VecDeque<Piece>,
    singles: VecDeque<(u64, Sqe)>,
    live: HashMap<u64, Live>,
    on_dev: Vec<Option<OnDevice>>,
    single_live: HashMap<u64, u64>,
    next_id: u64,
    block_size: u32,
    closed: bool,
}

impl Worker<'_> {
    fn run(&mut self) {
        let mut idle = 0u32;
        let mut last_check = Instant::now();
        let bell = self.shared.host_bell();
        let mut seen = bell.value();
        loop {
            let mut busy = self.accept();
            let pushed = self.push();
            if pushed {
                self.shared.device_bell().ring();
            }
            busy |= pushed;
            busy |= self.reap();
            if last_check.elapsed() > Duration::from_millis(2) {
                last_check = Instant::now();
                self.check_device();
            }
            if self.closed && self.live.is_empty() {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            if busy {
                idle = 0;
            } else {
                idle = idle.saturating_add(1);
                if idle > SPINS {
                    // Sleep until the device posts CQEs or a request comes (both ring).
                    bell.wait(seen, Duration::from_millis(2));
                    idle = 0;
                }
            }
            seen = bell.value();
        }
    }

    fn accept(&mut self) -> bool {
        let mut any = false;
        loop {
            match self.rx.try_recv() {
                Ok(r) => {
                    self.add(r);
                    any = true;
                }
                Err(mpsc::TryRecvError::Empty) => return any,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.closed = true;
                    return any;
                }
            }
        }
    }

    fn add(&mut self, r: Request) {
        let id = self.next_id;
        self.next_id += 1;
        let bs = u64::from(self.block_size);
        let lba = r.off / bs;
        let data = if r.kind == Kind::Read { vec![0u8; r.len as usize] } else { r.data };
        let mut live = Live { kind: r.kind, off: r.off, data, left: 0, err: None, done: Some(r.done) };
        let single = match r.kind {
            Kind::Flush => Some(dev::flush()),
            Kind::Trim => Some(dev::discard(lba as u32, (u64::from(r.len) / bs) as u32)),
            _ => None,
        };
        if let Some(sqe) = single {
            live.left = 1;
            self.singles.push_back((id, sqe.user_data(SINGLE | id)));
        } else {
            let mut rel = 0u32;
            while rel < r.len {
                let len = (r.len - rel).min(PIECE as u32);
                self.queued.push_back(Piece { req: id, rel, len });
                live.left += 1;
                rel += len;
            }
        }
        if live.left == 0 {
            if let Some(d) = live.done.take() {
                d(Ok(Vec::new()));
            }
            return;
        }
        self.live.insert(id, live);
    }

    /// Put queued work on the SQ while slots and SQ room last.
    fn push(&mut self) -> bool {
        let mut any = false;
        while let Some(&(id, sqe)) = self.singles.front() {
            match self.host.push_whole(&[sqe]) {
                Ok(true) => {
                    self.singles.pop_front();
                    self.single_live.insert(id, id);
                    any = true;
                }
                _ => break,
            }
        }
        while let (Some(&p), Some(&slot)) = (self.queued.front(), self.free.last()) {
            let Some(live) = self.live.get(&p.req) else {
                self.queued.pop_front();
                continue;
            };
            let woff = slot as u64 * PIECE as u64;
            let desc = BufDesc::kfixed(0, woff, p.len);
            let lba = ((live.off + u64::from(p.rel)) / u64::from(self.block_size)) as u32;
            let ud = |m: u64| u64::from(slot) << 1 | m;
            let chain = match live.kind {
                Kind::Read => [
                    dev::read(lba, &desc).user_data(ud(0)).flags(SqeFlags::IO_LINK),
                    dev::to_host(woff as u32, &desc).user_data(ud(1)),
                ],
                Kind::Write { fua } | Kind::Zero { fua } => {
                    let w = self.shared.window();
                    let r = if let Kind::Zero { .. } = live.kind {
                        w.zero(woff, p.len as usize)
                    } else {
                        w.write(woff, &live.data[p.rel as usize..(p.rel + p.len) as usize])
                    };
                    if r.is_err() {
                        break;
                    }
                    [
                        dev::from_host(woff as u32, &desc).user_data(ud(0)).flags(SqeFlags::IO_LINK),
                        dev::write(lba, &desc, fua).user_data(ud(1)),
                    ]
                }
                Kind::Flush | Kind::Trim => unreachable!("single SQEs"),
            };
            match self.host.push_whole(&chain) {
                Ok(true) => {
                    self.queued.pop_front();
                    self.free.pop();
                    let read = live.kind == Kind::Read;
                    self.on_dev[slot as usize] =
                        Some(OnDevice { piece: p, res: [None, None], read, pushed: Instant::now(), first_done: None });
                    any = true;
                }
                _ => break,
            }
        }
        any
    }

    fn reap(&mut self) -> bool {
        let mut cqes = [Cqe::default(); 64];
        let n = match self.host.reap(&mut cqes) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("fwring-sim: the device broke the queue protocol ({e}); restarting it");
                self.restart();
                return true;
            }
        };
        for c in &cqes[..n] {
            if c.user_data & SINGLE != 0 {
                let id = c.user_data & !SINGLE;
                if self.single_live.remove(&id).is_some() {
                    self.finish(id, (c.res < 0).then(|| errno(c.res)), None);
                }
                continue;
            }
            let slot = (c.user_data >> 1) as usize;
            let member = (c.user_data & 1) as usize;
            let Some(Some(od)) = self.on_dev.get_mut(slot) else { continue };
            od.res[member] = Some(c.res);
            if let Some(tx) = &self.cfg.trace {
                let now = Instant::now();
                let names = if od.read { ["BLOCK READ", "DMA TO_HOST"] } else { ["DMA FROM_HOST", "BLOCK WRITE"] };
                let start = if member == 0 { od.pushed } else { od.first_done.unwrap_or(od.pushed) };
                let _ = tx.send(TraceEvent {
                    slot: slot as u32,
                    member: member as u8,
                    name: names[member],
                    start,
                    end: now,
                    res: c.res,
                });
            }
            if member == 0 {
                od.first_done = Some(Instant::now());
            }
            if let [Some(a), Some(b)] = od.res {
                let piece = od.piece;
                self.on_dev[slot] = None;
                self.free.push(slot as u32);
                let err = if a < 0 {
                    Some(errno(a))
                } else if b < 0 {
                    Some(errno(b))
                } else {
                    None
                };
                self.finish(piece.req, err, Some((slot, piece)));
            }
        }
        n > 0
    }

    /// One part of request `id` is done (`piece` with its window slot for reads).
    fn finish(&mut self, id: u64, err: Option<Errno>, piece: Option<(usize, Piece)>) {
        let Some(live) = self.live.get_mut(&id) else { return };
        if err.is_some() && live.err.is_none() {
            live.err = err;
        }
        if let (None, Some((slot, p)), Kind::Read) = (err, piece, live.kind) {
            let dst = &mut live.data[p.rel as usize..(p.rel + p.len) as usize];
            if self.shared.window().read(slot as u64 * PIECE as u64, dst).is_err() {
                live.err = Some(Errno::EIO);
            }
        }
        live.left -= 1;
        if live.left == 0
            && let Some(mut live) = self.live.remove(&id)
            && let Some(done) = live.done.take()
        {
            let out = match live.err {
                Some(e) => Err(e),
                None if live.kind == Kind::Read => Ok(std::mem::take(&mut live.data)),
                None => Ok(Vec::new()),
            };
            done(out);
        }
    }

    fn check_device(&mut self) {
        if let Ok(Some(st)) = self.child.try_wait() {
            if self.cfg.verbose {
                eprintln!("fwring-sim: the device process exited ({st}); restarting it on the same flash image");
            }
            self.restart();
        }
    }

    /// The device is gone: fail what it held, start a new one.
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let held: Vec<(usize, Piece)> =
            self.on_dev.iter_mut().enumerate().filter_map(|(i, o)| o.take().map(|o| (i, o.piece))).collect();
        for (slot, p) in held {
            self.free.push(slot as u32);
            self.finish(p.req, Some(Errno::EIO), None);
        }
        let singles: Vec<u64> = self.single_live.drain().map(|(k, _)| k).collect();
        for id in singles {
            self.finish(id, Some(Errno::EIO), None);
        }
        self.shared.qp().init(0);
        self.host = HostEnd::new(self.shared.qp());
        loop {
            match spawn(&self.cfg, self.shared) {
                Ok(c) => {
                    self.pid.store(c.id(), Ordering::Relaxed);
                    self.child = c;
                    return;
                }
                Err(e) => {
                    eprintln!("fwring-sim: {e}; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
}

fn errno(res: i32) -> Errno {
    Errno::from_res(res).unwrap_or(Errno::EIO)
}
