//! `fwring-sim replay`: raw SQEs in, every CQE out.
//!
//! The input is concatenated raw 64-byte SQEs (`struct io_uring_sqe`, native endian).
//! They go into a fresh ring and are submitted as one `io_uring_enter` would submit them:
//! a submit-time failure outside a link chain ends the submission (C-OP-2) and the SQEs
//! left are reported on stderr, not run — unless the ring has `SUBMIT_ALL`. Input longer
//! than the SQ is submitted in SQ-sized loads; when the CQ has no room, the CQEs are
//! reaped (printed) and submission goes on.

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
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Length(n) => write!(f, "input is {n} bytes, not a multiple of 64 (one SQE is 64 bytes)"),
            Error::Setup(e, why) => write!(f, "ring setup failed: {e}: {why}"),
            Error::Io(e) => write!(f, "writing output: {e}"),
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
    loop {
        pushed += ring.sq().push_slice(&sqes[pushed..]);
        let s = ring.submit();
        // With the CQ reaped and nothing in flight every chain fits: a stall twice in a
        // row would be a ring bug; report it rather than spin.
        if s.taken == 0 && s.stop == Stop::Backpressure {
            if stalled {
                return Err(Error::Io(io::Error::other("internal error: ring made no progress")));
            }
            stalled = true;
        } else {
            stalled = false;
        }
        report.consumed += s.taken as usize;
        while let Some(cqe) = ring.pop() {
            write_cqe(out, &cqe, opts.format)?;
            report.cqes += 1;
        }
        match s.stop {
            Stop::Failed => {
                report.stopped_at = Some(report.consumed - 1);
                break;
            }
            Stop::Empty if pushed == sqes.len() => break,
            // More input to load, or CQEs were reaped to make room: go on.
            Stop::Empty | Stop::Backpressure => {}
        }
    }
    out.flush()?;
    if let Some(at) = report.stopped_at {
        let left = report.sqes - report.consumed;
        if left > 0 {
            writeln!(
                err,
                "fwring-sim: SQE #{at} failed at submit time and ended the submission; {left} SQE(s) #{}..#{} left unconsumed (use --setup-flags submit_all to go on)",
                at + 1,
                report.sqes - 1
            )?;
        }
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
        Options { sq_entries: 128, cq_entries: None, flags, format: Format::Json }
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
        let o = Options { sq_entries: 8, cq_entries: Some(8), flags: SetupFlags::empty(), format: Format::Bin };
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
}
