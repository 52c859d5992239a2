//! `fwring-sim replay`: raw SQEs in, every CQE out.
//!
//! The input is concatenated raw 64-byte SQEs (`struct io_uring_sqe`, native endian).
//! They go into a fresh ring and are submitted as one `io_uring_enter` would submit them:
//! a submit-time failure outside a link chain ends the submission (C-OP-2) and the SQEs
//! left are reported on stderr, not run — unless the ring has `SUBMIT_ALL`. Input longer
//! than the SQ is submitted in SQ-sized loads; when the CQ has no room, the CQEs are
//! reaped (printed) and submission goes on.
//!
//! Time does not pass by itself: armed timers (TIMEOUT, LINK_TIMEOUT) fire only with
//! [`Options::advance_time`], which jumps the ring's clock to the next deadline whenever
//! the ring waits on requests in flight, and at the end of the input until no timer is
//! left. Without it, SQEs that cannot be taken while the timers hold the ring's room are
//! reported on stderr, as are requests still in flight at the end; either way a
//! well-formed input replays with success.

use std::io::{self, Write};

use fwring::{Cqe, Errno, Ring, Setup, SetupFlags, Sqe, Stop};
use zerocopy::{FromBytes, IntoBytes};

use crate::ops;

/// How CQEs are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// One JSON object per line: `{"user_data":…,"res":…,"flags":…}`.
    #[default]
    Json,
    /// Raw 16-byte CQEs (`struct io_uring_cqe`, native endian).
    Bin,
}

/// Ring parameters for a replay.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// SQ entries (rounded up to a power of two).
    pub sq_entries: u32,
    /// CQ entries; `None` for twice the SQ.
    pub cq_entries: Option<u32>,
    /// Setup flags.
    pub flags: SetupFlags,
    /// Output format.
    pub format: Format,
    /// Fire timers: jump the clock to the next deadline when the ring waits on them.
    pub advance_time: bool,
}

/// What a replay did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// SQEs in the input.
    pub sqes: usize,
    /// SQEs consumed by the ring.
    pub consumed: usize,
    /// CQEs printed.
    pub cqes: usize,
    /// Index of the SQE whose submit-time failure ended the submission, if one did.
    pub stopped_at: Option<usize>,
    /// Whether the submission ended because requests in flight (timers) held the room
    /// the next SQE needed, with no way to free it (no `advance_time`).
    pub blocked: bool,
    /// Requests still in flight at the end (armed timers without `advance_time`).
    pub in_flight: u32,
    /// The ring's clock at the end (ns; moved only by `advance_time`).
    pub clock: u64,
}

/// Why a replay could not run.
#[derive(Debug)]
pub enum Error {
    /// The input is not a whole number of SQEs.
    Length(usize),
    /// The ring could not be set up with these parameters.
    Setup(Errno, String),
    /// Writing the output failed.
    Io(io::Error),
    /// The ring broke a promise it makes (a bug in fwring, reported rather than spun on).
    Internal(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Length(n) => write!(f, "input is {n} bytes, not a multiple of 64 (one SQE is 64 bytes)"),
            Error::Setup(e, why) => write!(f, "ring setup failed: {e:?}: {why}"),
            Error::Io(e) => write!(f, "writing output: {e}"),
            Error::Internal(e) => write!(f, "internal error: {e}"),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// Split the input into SQEs.
pub fn parse(input: &[u8]) -> Result<Vec<Sqe>, Error> {
    if !input.len().is_multiple_of(64) {
        return Err(Error::Length(input.len()));
    }
    Ok(input.chunks_exact(64).map(|c| Sqe::read_from_bytes(c).expect("chunks are exactly 64 bytes")).collect())
}

/// Replay `input` and write every CQE to `out`; a note on SQEs left unconsumed goes to
/// `err`.
pub fn run(input: &[u8], opts: &Options, out: &mut dyn Write, err: &mut dyn Write) -> Result<Report, Error> {
    let sqes = parse(input)?;
    let sq = opts.sq_entries.max(1).checked_next_power_of_two().unwrap_or(u32::MAX);
    let cq = opts.cq_entries.map_or(sq.saturating_mul(2), |c| c.max(1).checked_next_power_of_two().unwrap_or(u32::MAX));
    // Ring storage comes in size classes; each is a separate monomorphization.
    if sq <= 256 && cq <= 512 {
        replay_on::<256, 512, 256>(&sqes, opts, out, err)
    } else if sq <= 4096 && cq <= 8192 {
        replay_on::<4096, 8192, 4096>(&sqes, opts, out, err)
    } else {
        replay_on::<32768, 65536, 32768>(&sqes, opts, out, err)
    }
}

fn setup_error<const SQ: usize, const CQ: usize>(e: Errno, opts: &Options) -> Error {
    let unsupported = opts.flags.difference(fwring::setup::SUPPORTED_SETUP_FLAGS);
    let why = if !unsupported.is_empty() {
        let names: Vec<String> = unsupported
            .iter()
            .map(|f| crate::setup_flags::name(f).map_or_else(|| format!("{:#x}", f.bits()), str::to_string))
            .collect();
        format!("setup flag(s) {} not supported by fwring", names.join(", "))
    } else if opts.sq_entries == 0 {
        "--sq-entries must be at least 1".into()
    } else if opts.sq_entries as usize > SQ && !opts.flags.contains(SetupFlags::CLAMP) {
        format!("--sq-entries {} exceeds the maximum {SQ} (add clamp to clamp it)", opts.sq_entries)
    } else if let Some(c) = opts.cq_entries {
        format!("--cq-entries {c} must be at least the SQ size and at most {CQ}")
    } else {
        "rejected".into()
    };
    Error::Setup(e, why)
}

fn replay_on<const SQ: usize, const CQ: usize, const N: usize>(
    sqes: &[Sqe],
    opts: &Options,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Report, Error> {
    let mut ring: Box<Ring<SQ, CQ, N, 8>> = Box::default();
    let mut setup = Setup::new(opts.sq_entries).flags(opts.flags);
    if let Some(c) = opts.cq_entries {
        setup = setup.cq_entries(c);
    }
    ring.setup(setup).map_err(|e| setup_error::<SQ, CQ>(e, opts))?;
    if opts.flags.contains(SetupFlags::BPF_EXT) {
        ops::register(&mut *ring).map_err(|e| Error::Setup(e, "registering the standard ops".into()))?;
    }
    let mut report = Report { sqes: sqes.len(), ..Report::default() };
    let mut pushed = 0;
    let mut stalled = false;
    let mut reap = |ring: &mut Ring<SQ, CQ, N, 8>, report: &mut Report| -> io::Result<usize> {
        let mut n = 0;
        while let Some(cqe) = ring.pop() {
            write_cqe(out, &cqe, opts.format)?;
            n += 1;
        }
        report.cqes += n;
        Ok(n)
    };
    loop {
        pushed += ring.sq().push_slice(&sqes[pushed..]);
        let s = ring.submit();
        report.consumed += s.taken as usize;
        let reaped = reap(&mut ring, &mut report)?;
        match s.stop {
            Stop::Failed => {
                report.stopped_at = Some(report.consumed - 1);
                break;
            }
            Stop::Empty if pushed == sqes.len() => break,
            // More input to load.
            Stop::Empty => {}
            // Reaping makes room (it just did); twice without progress would be a bug.
            Stop::Backpressure => {
                if s.taken == 0 && reaped == 0 && stalled {
                    return Err(Error::Internal("backpressure that reaping does not relieve".into()));
                }
                stalled = s.taken == 0 && reaped == 0;
            }
            // Only requests in flight can make room: their timers.
            Stop::InFlight => match ring.next_deadline() {
                Some(deadline) if opts.advance_time => {
                    report.clock = report.clock.max(deadline);
                    ring.tick(deadline);
                }
                _ => {
                    report.blocked = true;
                    break;
                }
            },
        }
    }
    if opts.advance_time {
        while let Some(deadline) = ring.next_deadline() {
            report.clock = report.clock.max(deadline);
            ring.tick(deadline);
            reap(&mut ring, &mut report)?;
        }
    }
    reap(&mut ring, &mut report)?;
    report.in_flight = ring.in_flight();
    out.flush()?;
    let left = report.sqes - report.consumed;
    if let Some(at) = report.stopped_at {
        if left > 0 {
            writeln!(
                err,
                "fwring-sim: SQE #{at} failed at submit time and ended the submission; {left} SQE(s) #{}..#{} left unconsumed (use --setup-flags submit_all to go on)",
                at + 1,
                report.sqes - 1
            )?;
        }
    } else if report.blocked {
        writeln!(
            err,
            "fwring-sim: {left} SQE(s) #{}..#{} left unconsumed: the ring's room is held by {} request(s) in flight waiting on timers (use --advance-time to fire them)",
            report.consumed,
            report.sqes - 1,
            report.in_flight
        )?;
    }
    if report.in_flight > 0 && !report.blocked {
        writeln!(
            err,
            "fwring-sim: {} request(s) still in flight at the end, waiting on timers (use --advance-time to fire them)",
            report.in_flight
        )?;
    }
    Ok(report)
}

fn write_cqe(out: &mut dyn Write, cqe: &Cqe, format: Format) -> io::Result<()> {
    match format {
        Format::Json => {
            writeln!(out, "{{\"user_data\":{},\"res\":{},\"flags\":{}}}", cqe.user_data, cqe.res, cqe.flags)
        }
        Format::Bin => out.write_all(cqe.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fwring::SqeFlags;

    fn bytes(sqes: &[Sqe]) -> Vec<u8> {
        sqes.iter().flat_map(|s| s.as_bytes().to_vec()).collect()
    }

    fn opts(flags: SetupFlags) -> Options {
        Options { sq_entries: 128, cq_entries: None, flags, format: Format::Json, advance_time: false }
    }

    fn replay(sqes: &[Sqe], o: &Options) -> (Report, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let r = run(&bytes(sqes), o, &mut out, &mut err).unwrap();
        (r, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    #[test]
    fn json_lines_per_cqe() {
        let (r, out, err) =
            replay(&[Sqe::nop().user_data(7), Sqe::nop_inject(-5).user_data(u64::MAX)], &opts(SetupFlags::empty()));
        assert_eq!(
            out,
            "{\"user_data\":7,\"res\":0,\"flags\":0}\n{\"user_data\":18446744073709551615,\"res\":-5,\"flags\":0}\n"
        );
        assert_eq!((r.consumed, r.cqes, r.stopped_at), (2, 2, None));
        assert_eq!(err, "");
    }

    #[test]
    fn failure_ends_the_submission_and_reports_leftovers_c_op_2() {
        let sqes = [Sqe::new(200).user_data(1), Sqe::nop().user_data(2), Sqe::nop().user_data(3)];
        let (r, out, err) = replay(&sqes, &opts(SetupFlags::empty()));
        assert_eq!(out, "{\"user_data\":1,\"res\":-22,\"flags\":0}\n");
        assert_eq!((r.consumed, r.stopped_at), (1, Some(0)));
        assert!(err.contains("2 SQE(s) #1..#2 left unconsumed"), "{err}");
        let (r, out, _) = replay(&sqes, &opts(SetupFlags::SUBMIT_ALL));
        assert_eq!((r.consumed, out.lines().count()), (3, 3));
    }

    #[test]
    fn input_larger_than_sq_and_cq_is_fully_replayed() {
        let sqes: Vec<Sqe> = (0..1000).map(|i| Sqe::nop().user_data(i)).collect();
        let o = Options {
            sq_entries: 8,
            cq_entries: Some(8),
            flags: SetupFlags::empty(),
            format: Format::Bin,
            advance_time: false,
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let r = run(&bytes(&sqes), &o, &mut out, &mut err).unwrap();
        assert_eq!((r.consumed, r.cqes), (1000, 1000));
        let cqes: Vec<Cqe> = out.chunks_exact(16).map(|c| Cqe::read_from_bytes(c).unwrap()).collect();
        assert!(cqes.iter().enumerate().all(|(i, c)| *c == Cqe::new(i as u64, 0)));
    }

    #[test]
    fn bad_length_and_bad_setup_are_errors() {
        let mut sink = Vec::new();
        assert!(matches!(
            run(&[0; 65], &opts(SetupFlags::empty()), &mut sink, &mut Vec::new()),
            Err(Error::Length(65))
        ));
        let e = run(&[], &opts(SetupFlags::SQPOLL), &mut sink, &mut Vec::new()).unwrap_err();
        assert_eq!(e.to_string(), "ring setup failed: EINVAL: setup flag(s) sqpoll not supported by fwring");
        let o = Options { sq_entries: 0, ..opts(SetupFlags::empty()) };
        assert!(run(&[], &o, &mut sink, &mut Vec::new()).unwrap_err().to_string().contains("at least 1"));
    }

    #[test]
    fn standard_ops_run_with_bpf_ext() {
        let sqes = [
            Sqe::bpf(ops::ANSWER, 0).user_data(1),
            Sqe::bpf(ops::ECHO, 77).user_data(2),
            Sqe::bpf(ops::ERRNO, 5).user_data(3),
        ];
        let (_, out, _) = replay(&sqes, &opts(SetupFlags::BPF_EXT | SetupFlags::SUBMIT_ALL));
        let res: Vec<&str> = out.lines().collect();
        assert_eq!(
            res,
            [
                "{\"user_data\":1,\"res\":42,\"flags\":0}",
                "{\"user_data\":2,\"res\":77,\"flags\":0}",
                "{\"user_data\":3,\"res\":-5,\"flags\":0}"
            ]
        );
        let chain =
            [Sqe::bpf(ops::ERRNO, 5).user_data(1).flags(SqeFlags::IO_LINK), Sqe::bpf(ops::ANSWER, 0).user_data(2)];
        let (_, out, _) = replay(&chain, &opts(SetupFlags::BPF_EXT));
        assert_eq!(out.lines().nth(1), Some("{\"user_data\":2,\"res\":-125,\"flags\":0}"));
    }

    /// A one-second TIMEOUT by immediate argument.
    fn timeout_1s(user_data: u64) -> Sqe {
        Sqe::timeout(1_000_000_000, 0, fwring::TimeoutFlags::empty()).user_data(user_data)
    }

    #[test]
    fn timers_holding_the_ring_end_the_submission_cleanly_without_advance_time() {
        // 5 timeouts + 3 NOPs, then a chain of 4 NOPs on an 8/8 ring: the chain needs 4
        // CQ slots while 5 are promised to the timers — reaping cannot give them.
        let mut sqes: Vec<Sqe> = (0..5).map(timeout_1s).collect();
        sqes.extend((5..8).map(|i| Sqe::nop().user_data(i)));
        sqes.extend(
            (8..12).map(|i| Sqe::nop().user_data(i).flags(if i < 11 { SqeFlags::IO_LINK } else { SqeFlags::empty() })),
        );
        let o = Options { sq_entries: 8, cq_entries: Some(8), ..opts(SetupFlags::empty()) };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let r = run(&bytes(&sqes), &o, &mut out, &mut err).unwrap();
        let err = String::from_utf8(err).unwrap();
        assert_eq!((r.consumed, r.cqes, r.blocked, r.in_flight, r.clock), (8, 3, true, 5, 0));
        assert!(err.contains("4 SQE(s) #8..#11 left unconsumed"), "{err}");
        assert!(err.contains("5 request(s) in flight waiting on timers"), "{err}");
    }

    #[test]
    fn advance_time_fires_the_timers_and_replays_everything() {
        let mut sqes: Vec<Sqe> = (0..5).map(timeout_1s).collect();
        sqes.extend((5..8).map(|i| Sqe::nop().user_data(i)));
        sqes.extend(
            (8..12).map(|i| Sqe::nop().user_data(i).flags(if i < 11 { SqeFlags::IO_LINK } else { SqeFlags::empty() })),
        );
        let o = Options { sq_entries: 8, cq_entries: Some(8), advance_time: true, ..opts(SetupFlags::empty()) };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let r = run(&bytes(&sqes), &o, &mut out, &mut err).unwrap();
        assert_eq!((r.consumed, r.cqes, r.blocked, r.in_flight, r.clock), (12, 12, false, 0, 1_000_000_000));
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        // NOPs first, then the timers' -ETIME at the deadline, then the chain.
        assert_eq!(lines[0], "{\"user_data\":5,\"res\":0,\"flags\":0}");
        assert_eq!(lines[3], "{\"user_data\":0,\"res\":-62,\"flags\":0}");
        assert_eq!(lines[11], "{\"user_data\":11,\"res\":0,\"flags\":0}");
        assert_eq!(String::from_utf8(err).unwrap(), "");
    }

    #[test]
    fn three_hundred_timeouts_at_default_sizes_exit_cleanly() {
        let sqes: Vec<Sqe> = (0..300).map(timeout_1s).collect();
        let (r, out, err) = replay(&sqes, &opts(SetupFlags::empty()));
        assert_eq!((r.consumed, r.cqes, r.blocked, r.in_flight), (256, 0, true, 256));
        assert_eq!(out, "");
        assert!(err.contains("44 SQE(s) #256..#299 left unconsumed"), "{err}");
        let o = Options { advance_time: true, ..opts(SetupFlags::empty()) };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let r = run(&bytes(&sqes), &o, &mut out, &mut err).unwrap();
        assert_eq!((r.consumed, r.cqes, r.in_flight), (300, 300, 0));
        assert!(String::from_utf8(out).unwrap().lines().all(|l| l.contains("\"res\":-62")));
    }
}
