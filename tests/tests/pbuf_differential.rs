//! Differential test of provided-buffer rings and multishot requests against this
//! machine's kernel: `IORING_OP_READ_MULTISHOT` on a pipe with a provided-buffer ring
//! (`IORING_REGISTER_PBUF_RING`) on the kernel side; on fwring's, a multishot op whose
//! device reads the same bytes from a simulated pipe into the same-shaped group. The CQE
//! streams (res, F_BUFFER, buffer ids, F_MORE, F_BUF_MORE with `IOU_PBUF_RING_INC`, the
//! final CQE) and the bytes in each buffer must be equal.
//!
//! Skips (passing, with a message on stderr) where io_uring is refused or the kernel has
//! no multishot read (before 6.7).

#![cfg(target_os = "linux")]

use std::collections::VecDeque;
use std::time::Duration;

use fwring::{BufGroup, BufRing, Cqe, Errno, NoFill, Region, Ring, Setup, SetupFlags, Sqe, SqeFlags, Stream};
use fwring_tests::kernel::{KernelRing, PbufRing, unavailable};

const IORING_OP_READ_MULTISHOT: u8 = 49;
const BGID: u16 = 1;
const ENTRIES: u16 = 4;
const SIZE: u32 = 16;
const BUF_MORE: u32 = 1 << 4;

/// One step of a scenario: bytes written into the pipe, the writer closed, or the
/// application re-providing the buffers of every CQE reaped so far.
#[derive(Clone, Copy, Debug)]
enum Step {
    Write(usize),
    Close,
    Reprovide,
}

/// A CQE and the bytes its buffer holds.
type Seen = Vec<(Cqe, Vec<u8>)>;

fn pattern(from: usize, n: usize) -> Vec<u8> {
    (from..from + n).map(|i| (i * 7 + 3) as u8).collect()
}

fn bid(c: &Cqe) -> Option<u16> {
    (c.flags & 1 != 0).then_some((c.flags >> 16) as u16)
}

/// The scenario on the kernel. `None`: the kernel cannot run it (reason printed).
fn kernel(steps: &[Step], expect: usize, flags: u16) -> Option<Seen> {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: {why}");
        return None;
    }
    let mut kr = KernelRing::new(8, 0, 0).ok()?;
    let mut pb = match PbufRing::register(&kr, BGID, ENTRIES, SIZE, flags) {
        Ok(pb) => pb,
        Err(e) => {
            eprintln!("SKIPPED: IORING_REGISTER_PBUF_RING refused ({e})");
            return None;
        }
    };
    for b in 0..ENTRIES {
        pb.provide(b);
    }
    let mut fds = [0i32; 2];
    // SAFETY: pipe(2) writes two fds into the array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let [rd, mut wr] = fds;
    let mut sqe = Sqe::new(IORING_OP_READ_MULTISHOT).user_data(42).flags(SqeFlags::BUFFER_SELECT).buf_index(BGID);
    sqe.fd = rd;
    kr.submit(&[sqe]).ok()?;
    let mut seen: Seen = Vec::new();
    let mut written = 0;
    let mut reaped = 0;
    for step in steps {
        match *step {
            Step::Write(n) => {
                let bytes = pattern(written, n);
                written += n;
                // SAFETY: writing a live buffer into our pipe.
                assert_eq!(unsafe { libc::write(wr, bytes.as_ptr().cast(), n) }, n as isize);
            }
            Step::Close => {
                // SAFETY: closing our write end once.
                unsafe { libc::close(wr) };
                wr = -1;
            }
            Step::Reprovide => {
                // A buffer comes back once consumed: not after an F_BUF_MORE CQE (the
                // ring still holds the rest of it).
                for (c, _) in seen[reaped..].iter().filter(|(c, _)| c.flags & BUF_MORE == 0) {
                    if let Some(b) = bid(c) {
                        pb.provide(b);
                    }
                }
                reaped = seen.len();
            }
        }
        // Let the kernel run the read (task work runs on enter).
        kr.wait(seen.len() as u32 + 1, Duration::from_millis(50));
        for c in kr.reap() {
            if c.res == Errno::EINVAL.res() && seen.is_empty() && c.flags == 0 {
                eprintln!("SKIPPED: this kernel has no IORING_OP_READ_MULTISHOT (-EINVAL)");
                return None;
            }
            let data = bid(&c).map(|b| pb.read(b, c.res.max(0) as usize)).unwrap_or_default();
            seen.push((c, data));
        }
    }
    kr.wait(expect as u32, Duration::from_millis(500));
    for c in kr.reap() {
        let data = bid(&c).map(|b| pb.read(b, c.res.max(0) as usize)).unwrap_or_default();
        seen.push((c, data));
    }
    for fd in [rd, wr].into_iter().filter(|&fd| fd >= 0) {
        // SAFETY: closing a pipe fd of ours, once.
        unsafe { libc::close(fd) };
    }
    Some(seen)
}

/// The multishot op: hands its stream to the simulated pipe.
use fwring_tests::handoff::{HAND_STREAM as PIPE_READ, take_stream};

/// A pipe as a device: bytes waiting, and whether the writer closed. Each fill takes
/// what fits one buffer, as a read does; a closed, empty pipe ends the request with 0
/// (EOF); no buffer with data waiting is "no buffer" (-ENOBUFS).
struct Pipe {
    bytes: VecDeque<u8>,
    closed: bool,
    stream: Option<Stream>,
}

impl Pipe {
    fn pump<const SQ: usize, const CQ: usize, const N: usize>(&mut self, ring: &mut Ring<SQ, CQ, N>) {
        let Some(s) = self.stream.as_ref() else { return };
        while !self.bytes.is_empty() {
            match s.fill() {
                Ok(mut f) => {
                    let n = f.capacity().min(self.bytes.len());
                    for (d, b) in f.buf().iter_mut().zip(self.bytes.drain(..n)) {
                        *d = b;
                    }
                    f.commit(n);
                }
                Err(NoFill::NoBuffer | NoFill::Ended) => break,
            }
        }
        if self.bytes.is_empty()
            && self.closed
            && let Some(s) = self.stream.take()
        {
            let _ = s.finish(&ring.split().2, 0);
        }
    }
}

fn fwring(steps: &[Step], flags: u16) -> Seen {
    // One group per run (tests run in parallel; a BufRing serves one ring at a time).
    let g: &'static BufRing<{ ENTRIES as usize }> = Box::leak(Box::new(BufRing::new()));
    let mut ring: Ring<8, 16, 8> = Ring::new();
    ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
    ring.register_op(&PIPE_READ).unwrap();
    let mem: &'static mut [u8] = Box::leak(vec![0u8; (ENTRIES as u32 * SIZE) as usize].into_boxed_slice());
    ring.register_buffers([Region::new(mem)]).unwrap();
    ring.register_buf_ring_flags(g, BufGroup { bgid: BGID, buf_index: 0, offset: 0, size: SIZE }, flags).unwrap();
    for b in 0..ENTRIES {
        g.provide(b);
    }
    ring.push(Sqe::bpf(0, 0).user_data(42).flags(SqeFlags::BUFFER_SELECT).buf_index(BGID)).unwrap();
    let _ = ring.submit();
    let stream = take_stream();
    let mut pipe = Pipe { bytes: VecDeque::new(), closed: false, stream: Some(stream) };
    let mut seen: Seen = Vec::new();
    let (mut written, mut reaped) = (0, 0);
    for step in steps {
        match *step {
            Step::Write(n) => {
                pipe.bytes.extend(pattern(written, n));
                written += n;
            }
            Step::Close => pipe.closed = true,
            Step::Reprovide => {
                // A buffer comes back once consumed: not after an F_BUF_MORE CQE (the
                // ring still holds the rest of it).
                for (c, _) in seen[reaped..].iter().filter(|(c, _)| c.flags & BUF_MORE == 0) {
                    if let Some(b) = bid(c) {
                        g.provide(b);
                    }
                }
                reaped = seen.len();
                ring.poll();
            }
        }
        pipe.pump(&mut ring);
        ring.poll();
        while let Some(c) = ring.pop() {
            let data =
                bid(&c).map(|b| ring.provided(BGID, b).unwrap()[..c.res.max(0) as usize].to_vec()).unwrap_or_default();
            seen.push((c, data));
        }
    }
    seen
}

fn compare(name: &str, steps: &[Step], expect: usize) {
    compare_flags(name, steps, expect, 0);
}

fn compare_flags(name: &str, steps: &[Step], expect: usize, flags: u16) {
    let Some(k) = kernel(steps, expect, flags) else { return };
    let f = fwring(steps, flags);
    assert_eq!(f, k, "{name}: fwring's CQE stream and buffers differ from the kernel's");
    assert_eq!(k.len(), expect, "{name}: {k:?}");
}

#[test]
fn group_running_dry_ends_with_enobufs_like_the_kernel() {
    // 80 bytes, four 16-byte buffers: four full buffers, then -ENOBUFS without F_MORE.
    compare("dry", &[Step::Write(80)], 5);
    // What both produce, pinned (also where the kernel is unavailable).
    let more = |bid: u32| 1 | 2 | bid << 16;
    let got: Vec<Cqe> = fwring(&[Step::Write(80)], 0).into_iter().map(|(c, _)| c).collect();
    assert_eq!(
        got,
        [
            Cqe { user_data: 42, res: 16, flags: more(0) },
            Cqe { user_data: 42, res: 16, flags: more(1) },
            Cqe { user_data: 42, res: 16, flags: more(2) },
            Cqe { user_data: 42, res: 16, flags: more(3) },
            Cqe::new(42, Errno::ENOBUFS.res()),
        ]
    );
}

#[test]
fn eof_ends_with_zero_like_the_kernel() {
    compare("eof", &[Step::Write(20), Step::Close], 3);
}

#[test]
fn reaping_and_reproviding_keeps_the_stream_going_like_the_kernel() {
    let mut steps = Vec::new();
    for n in [10, 16, 3, 16, 9, 12, 16, 1] {
        steps.push(Step::Write(n));
        steps.push(Step::Reprovide);
    }
    steps.push(Step::Close);
    compare("reprovide", &steps, 9);
}

#[test]
fn incremental_consumption_matches_the_kernel() {
    use fwring::buffer::provided::IOU_PBUF_RING_INC;
    // 5 bytes into buffer 0 (F_BUF_MORE), then 16: the 11 left in buffer 0 and 5 in
    // buffer 1; 3 more continue buffer 1; EOF.
    compare_flags("inc", &[Step::Write(5), Step::Write(16), Step::Write(3), Step::Close], 5, IOU_PBUF_RING_INC);
    // Pieces across buffers, a re-provide of the consumed one only, then the group runs
    // dry: -ENOBUFS after every piece.
    let steps = [Step::Write(10), Step::Reprovide, Step::Write(10), Step::Write(40), Step::Write(30)];
    compare_flags("inc-dry", &steps, 8, IOU_PBUF_RING_INC);
}
