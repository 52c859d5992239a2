//! Shared by the NBD tests: a `fwring-sim serve` child process that is killed on every
//! exit path, the real clients (installed with apt-get when missing), and a small raw
//! NBD client for what the real clients will not send.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_fwring-sim");

/// The client programs and the Debian packages they come from.
const TOOLS: [(&str, &str); 5] = [
    ("qemu-io", "qemu-utils"),
    ("qemu-img", "qemu-utils"),
    ("nbdinfo", "libnbd-bin"),
    ("nbdcopy", "libnbd-bin"),
    ("nbdsh", "python3-libnbd"),
];

fn have(bin: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {bin}")]).output().is_ok_and(|o| o.status.success())
}

/// Install the real NBD clients if missing (apt-get, as root or through sudo -n);
/// panic loudly if they cannot be had.
pub fn ensure_tools() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut missing: Vec<&str> = TOOLS.iter().filter(|(b, _)| !have(b)).map(|(_, p)| *p).collect();
        missing.dedup();
        if missing.is_empty() {
            return;
        }
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
        let apt = |args: &[&str]| {
            let mut c = if root { Command::new("apt-get") } else { Command::new("sudo") };
            if !root {
                c.args(["-n", "apt-get"]);
            }
            c.env("DEBIAN_FRONTEND", "noninteractive").args(args).stdin(Stdio::null());
            let st = c.status().unwrap_or_else(|e| panic!("cannot run apt-get: {e}"));
            assert!(st.success(), "apt-get {args:?} failed ({st})");
        };
        apt(&["update", "-q"]);
        let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
        args.extend(&missing);
        apt(&args);
        for (b, p) in TOOLS {
            assert!(have(b), "{b} still missing after installing {p}");
        }
    });
}

/// A scratch directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "fwring-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `fwring-sim serve`, killed (with its device) on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    pub uri: String,
    pids: Arc<Mutex<Vec<u32>>>,
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Serve `flash` (created at 16 MiB if new) with `extra` arguments.
    pub fn start(flash: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--nbd", "127.0.0.1:0", "--flash"])
            .arg(flash)
            .args(["--size", "16M"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fwring-sim serve");
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let pids = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("nbd://").nth(1) {
                    let _ = tx.send(rest.to_string());
                }
            }
        });
        let e2 = stderr.clone();
        let p2 = pids.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if let Some(pid) = line.strip_prefix("device: pid ") {
                    p2.lock().unwrap().push(pid.trim().parse().unwrap());
                }
                let mut s = e2.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut server = Server { child, port: 0, uri: String::new(), pids, stderr };
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = server.child.kill();
            let _ = server.child.wait();
            std::thread::sleep(Duration::from_millis(100));
            panic!("serve did not come up: {}", server.stderr.lock().unwrap());
        };
        let hostport = addr.split('/').next().unwrap();
        server.port = hostport.rsplit(':').next().unwrap().parse().unwrap();
        server.uri = format!("nbd://{addr}");
        server
    }

    /// The device process's id now (the last one started).
    pub fn device_pid(&self) -> u32 {
        *self.pids.lock().unwrap().last().unwrap()
    }

    /// Device processes started so far.
    pub fn devices_started(&self) -> usize {
        self.pids.lock().unwrap().len()
    }

    /// Whether the server process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Stop the server the hard way (both processes die: a power cut).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The device dies with its parent (PDEATHSIG); wait until the flash is free.
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a client program with a time limit; panic with its output on failure.
pub fn run(prog: &str, args: &[&str]) -> Output {
    // Debian's programs first: nbdsh runs the python3 it finds on PATH, and only
    // Debian's has the nbd module.
    let path = format!("/usr/bin:/bin:{}", std::env::var("PATH").unwrap_or_default());
    let out = Command::new("timeout")
        .env("PATH", path)
        .args(["-k", "5", "60", prog])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e}"));
    assert!(
        out.status.success(),
        "{prog} {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn kill9(pid: u32) {
    let st = Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(st.success());
}

// ---- a raw NBD client --------------------------------------------------------------

pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
pub const REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
pub const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;

pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Read the server's greeting; returns the handshake flags.
pub fn greeting(s: &mut TcpStream) -> u16 {
    let mut b = [0u8; 18];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b[..8], b"NBDMAGIC");
    assert_eq!(u64::from_be_bytes(b[8..16].try_into().unwrap()), IHAVEOPT);
    u16::from_be_bytes([b[16], b[17]])
}

pub fn send_option(s: &mut TcpStream, opt: u32, data: &[u8]) {
    let mut m = IHAVEOPT.to_be_bytes().to_vec();
    m.extend_from_slice(&opt.to_be_bytes());
    m.extend_from_slice(&(data.len() as u32).to_be_bytes());
    m.extend_from_slice(data);
    s.write_all(&m).unwrap();
}

/// One option reply: (option, type, data).
pub fn option_reply(s: &mut TcpStream) -> (u32, u32, Vec<u8>) {
    let mut h = [0u8; 20];
    s.read_exact(&mut h).unwrap();
    assert_eq!(u64::from_be_bytes(h[..8].try_into().unwrap()), REPLY_MAGIC);
    let opt = u32::from_be_bytes(h[8..12].try_into().unwrap());
    let ty = u32::from_be_bytes(h[12..16].try_into().unwrap());
    let len = u32::from_be_bytes(h[16..20].try_into().unwrap());
    let mut d = vec![0u8; len as usize];
    s.read_exact(&mut d).unwrap();
    (opt, ty, d)
}

pub fn go_data(name: &str, infos: &[u16]) -> Vec<u8> {
    let mut d = (name.len() as u32).to_be_bytes().to_vec();
    d.extend_from_slice(name.as_bytes());
    d.extend_from_slice(&(infos.len() as u16).to_be_bytes());
    for i in infos {
        d.extend_from_slice(&i.to_be_bytes());
    }
    d
}

/// A client in transmission (after NBD_OPT_GO "fwring").
pub struct Nbd {
    pub s: TcpStream,
    pub size: u64,
    pub flags: u16,
}

impl Nbd {
    pub fn open(port: u16) -> Nbd {
        let mut s = connect(port);
        greeting(&mut s);
        s.write_all(&3u32.to_be_bytes()).unwrap();
        send_option(&mut s, 7, &go_data("fwring", &[]));
        let (mut size, mut flags) = (0, 0);
        loop {
            let (_, ty, d) = option_reply(&mut s);
            match ty {
                3 if d[..2] == [0, 0] => {
                    size = u64::from_be_bytes(d[2..10].try_into().unwrap());
                    flags = u16::from_be_bytes([d[10], d[11]]);
                }
                3 => {}
                1 => break,
                t => panic!("GO refused: {t:#x}"),
            }
        }
        Nbd { s, size, flags }
    }

    pub fn send(&mut self, ty: u16, flags: u16, cookie: u64, off: u64, len: u32, data: &[u8]) {
        let mut m = REQUEST_MAGIC.to_be_bytes().to_vec();
        m.extend_from_slice(&flags.to_be_bytes());
        m.extend_from_slice(&ty.to_be_bytes());
        m.extend_from_slice(&cookie.to_be_bytes());
        m.extend_from_slice(&off.to_be_bytes());
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(data);
        self.s.write_all(&m).unwrap();
    }

    /// A simple reply's (error, cookie); `read_len(cookie)` says how many data bytes
    /// follow a successful reply.
    pub fn reply(&mut self, read_len: impl Fn(u64) -> usize) -> std::io::Result<(u32, u64, Vec<u8>)> {
        let mut h = [0u8; 16];
        self.s.read_exact(&mut h)?;
        assert_eq!(u32::from_be_bytes(h[..4].try_into().unwrap()), SIMPLE_REPLY_MAGIC);
        let err = u32::from_be_bytes(h[4..8].try_into().unwrap());
        let cookie = u64::from_be_bytes(h[8..].try_into().unwrap());
        let mut d = vec![0u8; if err == 0 { read_len(cookie) } else { 0 }];
        self.s.read_exact(&mut d)?;
        Ok((err, cookie, d))
    }

    /// One request, waited for: (error, data).
    pub fn call(&mut self, ty: u16, flags: u16, off: u64, len: u32, data: &[u8]) -> (u32, Vec<u8>) {
        self.send(ty, flags, 77, off, len, data);
        let n = if ty == 0 { len as usize } else { 0 };
        let (e, c, d) = self.reply(|_| n).unwrap();
        assert_eq!(c, 77);
        (e, d)
    }

    pub fn read(&mut self, off: u64, len: u32) -> Vec<u8> {
        let (e, d) = self.call(0, 0, off, len, &[]);
        assert_eq!(e, 0, "read at {off}");
        d
    }

    pub fn write(&mut self, off: u64, data: &[u8], fua: bool) {
        let (e, _) = self.call(1, fua as u16, off, data.len() as u32, data);
        assert_eq!(e, 0, "write at {off}");
    }

    /// Whether the server has closed the connection (reads EOF or reset within 10 s).
    pub fn closed(&mut self) -> bool {
        closed(&mut self.s)
    }
}

pub fn closed(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t0 = Instant::now();
    let mut b = [0u8; 4096];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                return false;
            }
            Err(_) => return true,
        }
        if t0.elapsed() > Duration::from_secs(10) {
            return false;
        }
    }
}

/// `n` bytes from a seeded xorshift generator (test data that differs per seed).
pub fn random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
