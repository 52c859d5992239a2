//! The NBD export: the fixed-newstyle handshake and the transmission phase of the NBD
//! protocol (NetworkBlockDevice/nbd `doc/proto.md`), each request translated into the
//! host driver's block requests, replies sent as completions come back — out of order,
//! matched by the client's cookie.
//!
//! Options: `NBD_OPT_EXPORT_NAME`, `NBD_OPT_GO`, `NBD_OPT_INFO` (with
//! `NBD_INFO_EXPORT`, `NBD_INFO_NAME`, `NBD_INFO_DESCRIPTION`, `NBD_INFO_BLOCK_SIZE`),
//! `NBD_OPT_LIST`, `NBD_OPT_ABORT`; every other option is refused with
//! `NBD_REP_ERR_UNSUP`. Commands: READ, WRITE (FUA), FLUSH, TRIM, WRITE_ZEROES (FUA,
//! NO_HOLE), DISC. Transmission flags: HAS_FLAGS, SEND_FLUSH, SEND_FUA, SEND_TRIM,
//! SEND_WRITE_ZEROES, CAN_MULTI_CONN (true: a FLUSH writes back the one device cache
//! every connection's completed writes are in).
//!
//! Each client is untrusted: a bad magic, a truncated or oversized handshake message,
//! a client flag we do not know, or a write longer than [`MAX_PAYLOAD`] disconnects that
//! client; a bad request (unknown command or flag, unaligned, past the end, too long)
//! gets the protocol's error reply (EINVAL, ENOSPC, …) and the connection goes on. A
//! client gets at most [`MAX_INFLIGHT`] requests in flight: beyond that its socket is
//! not read until replies go out.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

use fwring::Errno;

use crate::driver::{Driver, Kind, Outcome, Request};

/// "NBDMAGIC".
pub const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
/// "IHAVEOPT": option-haggling magic.
pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
/// Option reply magic.
pub const REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
/// Request magic.
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
/// Simple reply magic.
pub const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;

/// Handshake flags.
pub const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
/// Handshake flags.
pub const FLAG_NO_ZEROES: u16 = 1 << 1;
/// Client flags.
pub const FLAG_C_FIXED_NEWSTYLE: u32 = 1 << 0;
/// Client flags.
pub const FLAG_C_NO_ZEROES: u32 = 1 << 1;

/// Options.
pub mod opt {
    /// NBD_OPT_EXPORT_NAME.
    pub const EXPORT_NAME: u32 = 1;
    /// NBD_OPT_ABORT.
    pub const ABORT: u32 = 2;
    /// NBD_OPT_LIST.
    pub const LIST: u32 = 3;
    /// NBD_OPT_STARTTLS.
    pub const STARTTLS: u32 = 5;
    /// NBD_OPT_INFO.
    pub const INFO: u32 = 6;
    /// NBD_OPT_GO.
    pub const GO: u32 = 7;
    /// NBD_OPT_STRUCTURED_REPLY.
    pub const STRUCTURED_REPLY: u32 = 8;
}

/// Option replies.
pub mod rep {
    /// NBD_REP_ACK.
    pub const ACK: u32 = 1;
    /// NBD_REP_SERVER.
    pub const SERVER: u32 = 2;
    /// NBD_REP_INFO.
    pub const INFO: u32 = 3;
    /// NBD_REP_ERR_UNSUP.
    pub const ERR_UNSUP: u32 = (1 << 31) + 1;
    /// NBD_REP_ERR_POLICY.
    pub const ERR_POLICY: u32 = (1 << 31) + 2;
    /// NBD_REP_ERR_INVALID.
    pub const ERR_INVALID: u32 = (1 << 31) + 3;
    /// NBD_REP_ERR_UNKNOWN.
    pub const ERR_UNKNOWN: u32 = (1 << 31) + 6;
    /// NBD_REP_ERR_TOO_BIG.
    pub const ERR_TOO_BIG: u32 = (1 << 31) + 9;
}

/// NBD_INFO_* types.
pub mod info {
    /// NBD_INFO_EXPORT.
    pub const EXPORT: u16 = 0;
    /// NBD_INFO_NAME.
    pub const NAME: u16 = 1;
    /// NBD_INFO_DESCRIPTION.
    pub const DESCRIPTION: u16 = 2;
    /// NBD_INFO_BLOCK_SIZE.
    pub const BLOCK_SIZE: u16 = 3;
}

/// Transmission flags.
pub mod tflag {
    /// NBD_FLAG_HAS_FLAGS.
    pub const HAS_FLAGS: u16 = 1 << 0;
    /// NBD_FLAG_READ_ONLY.
    pub const READ_ONLY: u16 = 1 << 1;
    /// NBD_FLAG_SEND_FLUSH.
    pub const SEND_FLUSH: u16 = 1 << 2;
    /// NBD_FLAG_SEND_FUA.
    pub const SEND_FUA: u16 = 1 << 3;
    /// NBD_FLAG_SEND_TRIM.
    pub const SEND_TRIM: u16 = 1 << 5;
    /// NBD_FLAG_SEND_WRITE_ZEROES.
    pub const SEND_WRITE_ZEROES: u16 = 1 << 6;
    /// NBD_FLAG_CAN_MULTI_CONN.
    pub const CAN_MULTI_CONN: u16 = 1 << 8;
}

/// Commands.
pub mod cmd {
    /// NBD_CMD_READ.
    pub const READ: u16 = 0;
    /// NBD_CMD_WRITE.
    pub const WRITE: u16 = 1;
    /// NBD_CMD_DISC.
    pub const DISC: u16 = 2;
    /// NBD_CMD_FLUSH.
    pub const FLUSH: u16 = 3;
    /// NBD_CMD_TRIM.
    pub const TRIM: u16 = 4;
    /// NBD_CMD_WRITE_ZEROES.
    pub const WRITE_ZEROES: u16 = 6;
}

/// Command flags.
pub mod cflag {
    /// NBD_CMD_FLAG_FUA.
    pub const FUA: u16 = 1 << 0;
    /// NBD_CMD_FLAG_NO_HOLE.
    pub const NO_HOLE: u16 = 1 << 1;
}

/// NBD error values.
pub mod err {
    /// NBD_EPERM.
    pub const EPERM: u32 = 1;
    /// NBD_EIO.
    pub const EIO: u32 = 5;
    /// NBD_ENOMEM.
    pub const ENOMEM: u32 = 12;
    /// NBD_EINVAL.
    pub const EINVAL: u32 = 22;
    /// NBD_ENOSPC.
    pub const ENOSPC: u32 = 28;
    /// NBD_EOVERFLOW.
    pub const EOVERFLOW: u32 = 75;
    /// NBD_ENOTSUP.
    pub const ENOTSUP: u32 = 95;
    /// NBD_ESHUTDOWN.
    pub const ESHUTDOWN: u32 = 108;
}

/// Largest request payload the server reads (the protocol's recommended 32 MiB cap); a
/// longer write disconnects the client.
pub const MAX_PAYLOAD: u32 = 32 << 20;
/// Largest request served (advertised as the maximum block size); longer ones get
/// EINVAL.
pub const MAX_BLOCK: u32 = 4 << 20;
/// Preferred request granularity (advertised).
pub const PREFERRED_BLOCK: u32 = 4096;
/// Requests one client may have in flight.
pub const MAX_INFLIGHT: usize = 64;
/// Option data longer than this is refused (`NBD_REP_ERR_TOO_BIG`); longer than 16×
/// this disconnects.
pub const MAX_OPTION: u32 = 4096;
/// How long a handshake read may wait.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a server exports.
pub struct Export {
    /// The export's name (clients may also ask for "", the default export).
    pub name: String,
    /// A description (NBD_INFO_DESCRIPTION).
    pub description: String,
    /// The device.
    pub driver: Driver,
}

impl Export {
    fn flags(&self) -> u16 {
        use tflag::*;
        HAS_FLAGS | SEND_FLUSH | SEND_FUA | SEND_TRIM | SEND_WRITE_ZEROES | CAN_MULTI_CONN
    }

    fn is(&self, name: &[u8]) -> bool {
        name.is_empty() || name == self.name.as_bytes()
    }
}

/// Accept clients forever, each on its own thread.
pub fn serve(listener: TcpListener, export: Arc<Export>) -> io::Result<()> {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("fwring-sim: accept: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let ex = export.clone();
        let _ = std::thread::Builder::new().name("nbd-client".into()).spawn(move || {
            let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            if let Err(e) = client(stream, &ex) {
                eprintln!("nbd: client {peer}: {e}");
            }
        });
    }
    Ok(())
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_be_bytes(b))
}

fn opt_reply(w: &mut impl Write, option: u32, ty: u32, data: &[u8]) -> io::Result<()> {
    let mut m = Vec::with_capacity(20 + data.len());
    m.extend_from_slice(&REPLY_MAGIC.to_be_bytes());
    m.extend_from_slice(&option.to_be_bytes());
    m.extend_from_slice(&ty.to_be_bytes());
    m.extend_from_slice(&(data.len() as u32).to_be_bytes());
    m.extend_from_slice(data);
    w.write_all(&m)
}

/// Skip `n` bytes of the client's input.
fn discard(r: &mut impl Read, n: u64) -> io::Result<()> {
    let got = io::copy(&mut r.take(n), &mut io::sink())?;
    if got < n { Err(io::ErrorKind::UnexpectedEof.into()) } else { Ok(()) }
}

/// Serve one client: handshake, then transmission.
fn client(stream: TcpStream, ex: &Export) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let mut r = BufReader::new(stream.try_clone()?);
    let mut w = BufWriter::new(stream.try_clone()?);
    let go = handshake(&mut r, &mut w, ex);
    w.flush()?;
    match go {
        Ok(true) => {}
        Ok(false) => return Ok(()),
        Err(e) => {
            let _ = stream.shutdown(Shutdown::Both);
            return Err(e);
        }
    }
    stream.set_read_timeout(None)?;
    drop(w);
    transmission(r, stream, ex)
}

/// Returns whether transmission follows.
fn handshake(r: &mut impl Read, w: &mut impl Write, ex: &Export) -> io::Result<bool> {
    w.write_all(&NBDMAGIC.to_be_bytes())?;
    w.write_all(&IHAVEOPT.to_be_bytes())?;
    w.write_all(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes())?;
    w.flush()?;
    let cflags = read_u32(r)?;
    if cflags & !(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES) != 0 {
        return Err(bad(format!("unknown client flags {cflags:#x}")));
    }
    let no_zeroes = cflags & FLAG_C_NO_ZEROES != 0;
    loop {
        w.flush()?;
        let magic = read_u64(r)?;
        if magic != IHAVEOPT {
            return Err(bad(format!("bad option magic {magic:#x}")));
        }
        let option = read_u32(r)?;
        let len = read_u32(r)?;
        if len > MAX_OPTION {
            if len > 16 * MAX_OPTION {
                return Err(bad(format!("option {option} of {len} bytes")));
            }
            discard(r, u64::from(len))?;
            opt_reply(w, option, rep::ERR_TOO_BIG, b"option too long")?;
            continue;
        }
        let mut data = vec![0u8; len as usize];
        r.read_exact(&mut data)?;
        match option {
            opt::EXPORT_NAME => {
                if !ex.is(&data) {
                    return Err(bad("NBD_OPT_EXPORT_NAME for an unknown export"));
                }
                w.write_all(&ex.driver.size.to_be_bytes())?;
                w.write_all(&ex.flags().to_be_bytes())?;
                if !no_zeroes {
                    w.write_all(&[0u8; 124])?;
                }
                return Ok(true);
            }
            opt::ABORT => {
                opt_reply(w, option, rep::ACK, &[])?;
                return Ok(false);
            }
            opt::LIST => {
                if len != 0 {
                    opt_reply(w, option, rep::ERR_INVALID, b"NBD_OPT_LIST takes no data")?;
                    continue;
                }
                let mut d = (ex.name.len() as u32).to_be_bytes().to_vec();
                d.extend_from_slice(ex.name.as_bytes());
                opt_reply(w, option, rep::SERVER, &d)?;
                opt_reply(w, option, rep::ACK, &[])?;
            }
            opt::INFO | opt::GO => {
                let Some((name, infos)) = parse_info(&data) else {
                    opt_reply(w, option, rep::ERR_INVALID, b"malformed NBD_OPT_INFO/GO")?;
                    continue;
                };
                if !ex.is(name) {
                    opt_reply(w, option, rep::ERR_UNKNOWN, b"no such export")?;
                    continue;
                }
                let mut e = info::EXPORT.to_be_bytes().to_vec();
                e.extend_from_slice(&ex.driver.size.to_be_bytes());
                e.extend_from_slice(&ex.flags().to_be_bytes());
                opt_reply(w, option, rep::INFO, &e)?;
                let mut b = info::BLOCK_SIZE.to_be_bytes().to_vec();
                for v in [ex.driver.block_size, PREFERRED_BLOCK.max(ex.driver.block_size), MAX_BLOCK] {
                    b.extend_from_slice(&v.to_be_bytes());
                }
                opt_reply(w, option, rep::INFO, &b)?;
                if infos.contains(&info::NAME) {
                    let mut n = info::NAME.to_be_bytes().to_vec();
                    n.extend_from_slice(ex.name.as_bytes());
                    opt_reply(w, option, rep::INFO, &n)?;
                }
                if infos.contains(&info::DESCRIPTION) {
                    let mut d = info::DESCRIPTION.to_be_bytes().to_vec();
                    d.extend_from_slice(ex.description.as_bytes());
                    opt_reply(w, option, rep::INFO, &d)?;
                }
                opt_reply(w, option, rep::ACK, &[])?;
                if option == opt::GO {
                    return Ok(true);
                }
            }
            _ => opt_reply(w, option, rep::ERR_UNSUP, b"option not supported")?,
        }
    }
}

/// The name and the info requests of NBD_OPT_INFO / NBD_OPT_GO data, or `None` when the
/// lengths do not add up.
fn parse_info(d: &[u8]) -> Option<(&[u8], Vec<u16>)> {
    let nlen = u32::from_be_bytes(d.get(..4)?.try_into().ok()?) as usize;
    let name = d.get(4..4usize.checked_add(nlen)?)?;
    let rest = &d[4 + nlen..];
    let n = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
    let reqs = &rest[2..];
    if reqs.len() != 2 * n {
        return None;
    }
    Some((name, reqs.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect()))
}

/// A client's in-flight count.
struct Inflight {
    n: Mutex<usize>,
    cv: Condvar,
}

impl Inflight {
    fn acquire(&self) {
        let mut n = self.n.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= MAX_INFLIGHT {
            n = self.cv.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
    }

    fn release(&self) {
        let mut n = self.n.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        self.cv.notify_all();
    }

    fn wait_idle(&self) {
        let mut n = self.n.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            n = self.cv.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// A reply for the writer thread.
struct Reply {
    cookie: u64,
    error: u32,
    data: Vec<u8>,
}

fn nbd_errno(e: Errno) -> u32 {
    match e.get() {
        1 => err::EPERM,
        12 => err::ENOMEM,
        22 | 14 => err::EINVAL,
        28 => err::ENOSPC,
        75 => err::EOVERFLOW,
        95 => err::ENOTSUP,
        108 => err::ESHUTDOWN,
        _ => err::EIO,
    }
}

fn transmission(mut r: BufReader<TcpStream>, stream: TcpStream, ex: &Export) -> io::Result<()> {
    let (tx, rx) = mpsc::channel::<Reply>();
    let inflight = Arc::new(Inflight { n: Mutex::new(0), cv: Condvar::new() });
    let wstream = stream.try_clone()?;
    let inf2 = inflight.clone();
    let writer = std::thread::Builder::new().name("nbd-reply".into()).spawn(move || {
        let mut w = BufWriter::with_capacity(256 << 10, wstream);
        let mut ok = true;
        while let Ok(first) = rx.recv() {
            // Write every reply that is ready, then flush once.
            let mut next = Some(first);
            while let Some(rep) = next {
                if ok {
                    let mut h = [0u8; 16];
                    h[..4].copy_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
                    h[4..8].copy_from_slice(&rep.error.to_be_bytes());
                    h[8..].copy_from_slice(&rep.cookie.to_be_bytes());
                    ok = w.write_all(&h).and_then(|()| w.write_all(&rep.data)).is_ok();
                }
                inf2.release();
                next = rx.try_recv().ok();
            }
            ok = ok && w.flush().is_ok();
            if !ok {
                // The client is gone: stop its reads too.
                let _ = w.get_ref().shutdown(Shutdown::Both);
            }
        }
    })?;
    let res = requests(&mut r, ex, &tx, &inflight);
    // Whatever ended the loop, replies for what is in flight still go out (or are
    // dropped if the client is gone); only then is the socket closed.
    inflight.wait_idle();
    drop(tx);
    let _ = writer.join();
    let _ = stream.shutdown(Shutdown::Both);
    res
}

fn requests(r: &mut impl Read, ex: &Export, tx: &mpsc::Sender<Reply>, inflight: &Arc<Inflight>) -> io::Result<()> {
    let size = ex.driver.size;
    let bs = u64::from(ex.driver.block_size);
    loop {
        let mut h = [0u8; 28];
        match r.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let magic = u32::from_be_bytes(h[0..4].try_into().unwrap_or_default());
        if magic != REQUEST_MAGIC {
            return Err(bad(format!("bad request magic {magic:#x}")));
        }
        let flags = u16::from_be_bytes([h[4], h[5]]);
        let ty = u16::from_be_bytes([h[6], h[7]]);
        let cookie = u64::from_be_bytes(h[8..16].try_into().unwrap_or_default());
        let off = u64::from_be_bytes(h[16..24].try_into().unwrap_or_default());
        let len = u32::from_be_bytes(h[24..28].try_into().unwrap_or_default());
        let mut data = Vec::new();
        if ty == cmd::WRITE {
            if len > MAX_PAYLOAD {
                return Err(bad(format!("write of {len} bytes (more than {MAX_PAYLOAD})")));
            }
            if len > MAX_BLOCK {
                discard(r, u64::from(len))?;
            } else {
                data = vec![0u8; len as usize];
                r.read_exact(&mut data)?;
            }
        }
        if ty == cmd::DISC {
            return Ok(());
        }
        let allowed = match ty {
            cmd::READ | cmd::FLUSH => 0,
            cmd::WRITE | cmd::TRIM => cflag::FUA,
            cmd::WRITE_ZEROES => cflag::FUA | cflag::NO_HOLE,
            _ => 0,
        };
        let known = matches!(ty, cmd::READ | cmd::WRITE | cmd::FLUSH | cmd::TRIM | cmd::WRITE_ZEROES);
        let end = off.checked_add(u64::from(len));
        let check = || -> Result<Kind, u32> {
            if !known || flags & !allowed != 0 {
                return Err(err::EINVAL);
            }
            if ty == cmd::FLUSH {
                return if off == 0 && len == 0 { Ok(Kind::Flush) } else { Err(err::EINVAL) };
            }
            if len == 0 || len > MAX_BLOCK || off % bs != 0 || u64::from(len) % bs != 0 {
                return Err(err::EINVAL);
            }
            if end.is_none_or(|e| e > size) {
                return Err(if matches!(ty, cmd::WRITE | cmd::WRITE_ZEROES) { err::ENOSPC } else { err::EINVAL });
            }
            let fua = flags & cflag::FUA != 0;
            Ok(match ty {
                cmd::READ => Kind::Read,
                cmd::WRITE => Kind::Write { fua },
                cmd::TRIM => Kind::Trim,
                _ => Kind::Zero { fua },
            })
        };
        inflight.acquire();
        match check() {
            Err(error) => {
                let _ = tx.send(Reply { cookie, error, data: Vec::new() });
            }
            Ok(kind) => {
                let tx = tx.clone();
                let trim_fua = kind == Kind::Trim && flags & cflag::FUA != 0;
                let done = move |o: Outcome| {
                    let reply = match o {
                        Ok(data) => Reply { cookie, error: 0, data },
                        Err(e) => Reply { cookie, error: nbd_errno(e), data: Vec::new() },
                    };
                    let _ = tx.send(reply);
                };
                if trim_fua {
                    // TRIM with FUA: the discard, then a flush, one reply.
                    let drv = &ex.driver;
                    let (dtx, drx) = mpsc::channel();
                    drv.submit(Request { kind, off, len, data, done: Box::new(move |o| drop(dtx.send(o))) });
                    let o = drx.recv().unwrap_or(Err(Errno::EIO));
                    if o.is_err() {
                        done(o);
                    } else {
                        drv.submit(Request {
                            kind: Kind::Flush,
                            off: 0,
                            len: 0,
                            data: Vec::new(),
                            done: Box::new(done),
                        });
                    }
                } else {
                    ex.driver.submit(Request { kind, off, len, data, done: Box::new(done) });
                }
            }
        }
    }
}
