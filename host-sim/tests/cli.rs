//! The `fwring-sim` binary from the outside: exit codes, one-line errors, output formats.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use fwring::{Sqe, SqeFlags};
use zerocopy::IntoBytes;

fn sim(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fwring-sim"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn bytes(sqes: &[Sqe]) -> Vec<u8> {
    sqes.iter().flat_map(|s| s.as_bytes().to_vec()).collect()
}

/// A usage error: exit 2, the error on stderr (the simulator's own: one line; clap's:
/// its whole message, with the usage or the pointer to --help), nothing on stdout.
fn assert_usage_error(o: &Output, needle: &str) {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains(needle), "{err:?}");
    if err.starts_with("error: ") {
        assert!(err.contains("Usage: fwring-sim") || err.contains("try '--help'"), "clap's whole message: {err:?}");
    } else {
        assert!(err.starts_with("fwring-sim: "), "{err:?}");
        assert_eq!(err.lines().count(), 1, "one-line error expected, got: {err:?}");
    }
    assert!(o.stdout.is_empty());
}

#[test]
fn no_arguments_print_help() {
    let o = sim(&[], b"");
    let all = text(&o.stdout) + &text(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    for needle in ["Usage: fwring-sim", "replay", "demo", "serve", "run"] {
        assert!(all.contains(needle), "help lacks {needle}: {all}");
    }
}

#[test]
fn help_reads_well_and_exits_0() {
    let o = sim(&["--help"], b"");
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    assert!(out.contains("replay") && out.contains("demo"), "{out}");
    let o = sim(&["replay", "--help"], b"");
    let out = text(&o.stdout);
    for needle in ["--sq-entries", "--cq-entries", "--setup-flags", "--format", "submit_all", "slot 0 answer"] {
        assert!(out.contains(needle), "replay --help lacks {needle}: {out}");
    }
}

#[test]
fn replay_prints_json_lines_from_stdin() {
    let sqes = [
        Sqe::nop().user_data(1).flags(SqeFlags::IO_LINK),
        Sqe::nop_inject(-5).user_data(2).flags(SqeFlags::IO_LINK),
        Sqe::nop().user_data(3),
    ];
    let o = sim(&["replay", "-"], &bytes(&sqes));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        text(&o.stdout),
        "{\"user_data\":1,\"res\":0,\"flags\":0}\n{\"user_data\":2,\"res\":-5,\"flags\":0}\n{\"user_data\":3,\"res\":-125,\"flags\":0}\n"
    );
}

#[test]
fn replay_bin_format_is_raw_cqes() {
    let o = sim(&["replay", "--format", "bin"], &bytes(&[Sqe::nop_inject(7).user_data(9)]));
    assert_eq!(o.status.code(), Some(0));
    let mut want = Vec::new();
    want.extend_from_slice(&9u64.to_ne_bytes());
    want.extend_from_slice(&7i32.to_ne_bytes());
    want.extend_from_slice(&0u32.to_ne_bytes());
    assert_eq!(o.stdout, want);
}

#[test]
fn leftovers_after_a_submit_failure_go_to_stderr_and_exit_0() {
    let sqes = [Sqe::new(99).user_data(1), Sqe::nop().user_data(2)];
    let o = sim(&["replay"], &bytes(&sqes));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(text(&o.stdout), "{\"user_data\":1,\"res\":-22,\"flags\":0}\n");
    assert!(text(&o.stderr).contains("1 SQE(s) #1..#1 left unconsumed"));
    let o = sim(&["replay", "--setup-flags", "submit_all"], &bytes(&sqes));
    assert_eq!(text(&o.stdout).lines().count(), 2);
}

#[test]
fn random_bytes_never_fail() {
    let mut x = 0x1234_5678_9abc_def0u64;
    for round in 0..40u64 {
        let n = 64 * (1 + round as usize % 24);
        let input: Vec<u8> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let flags = ["", "submit_all", "bpf_ext", "submit_all,bpf_ext"][round as usize % 4];
        let o = sim(&["replay", "--sq-entries", "8", "--setup-flags", flags], &input);
        assert_eq!(o.status.code(), Some(0), "round {round}: {}", text(&o.stderr));
    }
}

#[test]
fn big_rings_work() {
    let sqes: Vec<Sqe> = (0..40_000).map(|i| Sqe::nop().user_data(i)).collect();
    let o = sim(&["replay", "--sq-entries", "32768", "--cq-entries", "65536"], &bytes(&sqes));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).lines().count(), 40_000);
}

#[test]
fn bad_input_and_arguments_are_one_line_errors_with_status_2() {
    assert_usage_error(&sim(&["replay"], &[0u8; 100]), "not a multiple of 64");
    assert_usage_error(&sim(&["replay", "--setup-flags", "submit_al"], b""), "unknown setup flag 'submit_al'");
    assert_usage_error(&sim(&["replay", "--setup-flags", "sqpoll"], b""), "sqpoll not supported");
    assert_usage_error(&sim(&["replay", "--sq-entries", "abc"], b""), "invalid value 'abc'");
    assert_usage_error(&sim(&["replay", "--sq-entries", "0"], b""), "at least 1");
    assert_usage_error(&sim(&["replay", "--sq-entries", "65536"], b""), "exceeds the maximum");
    assert_usage_error(&sim(&["replay", "--sq-entries", "64", "--cq-entries", "8"], b""), "--cq-entries 8");
    assert_usage_error(&sim(&["replay", "--format", "xml"], b""), "invalid value 'xml'");
    assert_usage_error(&sim(&["replay", "--format", "xml"], b""), "[possible values: json, bin]");
    assert_usage_error(&sim(&["replay", "/nonexistent/sqes"], b""), "/nonexistent/sqes");
    assert_usage_error(&sim(&["frobnicate"], b""), "unrecognized subcommand");
}

#[test]
fn demo_narrates_every_step() {
    let o = sim(&["demo"], b"");
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    for needle in [
        "== 1. Set up a ring",
        "CQE ud=3   res=-125 (-ECANCELED)",
        "res=42",
        "buffer 3 now holds the text: true",
        "application asks for buffer 1 -> Some(\"-EBUSY\")",
        "the CRC in buffer 3 is that of 4096 bytes of 0xa5: true",
        "CQE ud=51  res=-62 (-ETIME)",
        "CQE ud=53  res=-62 (-ETIME)",
        "in flight now: 0",
        "(expected 2500000): true",
        "feed -> Err(SqCorrupt { head: 10000, tail: 11000 })",
        "READ it back: chain BLOCK READ -> DMA TO_HOST: \"fwring!\"…, equal: true",
        "after the restart: READ gives the same bytes: true",
        "Backpressure",
        "CQ_OVERFLOW",
        "CQE ud=70  res=16 F_BUFFER bid=0 F_MORE: samples 0..=7",
        "CQE ud=70  res=16 F_BUFFER bid=0 F_MORE: samples 64..=71",
        "timer interrupt: NoBuffer",
        "CQE ud=70  res=-105 (-ENOBUFS)",
        "done.",
    ] {
        assert!(out.contains(needle), "demo lacks {needle:?}");
    }
}

#[test]
fn replay_runs_the_buffer_ops_on_the_standard_memory() {
    use fwring::BufDesc;
    use fwring::ops::buf_sqe;
    // copy 1000 bytes of buffer 0 (the i % 251 pattern) into buffer 3, then checksum them
    // (VERIFY against the CRC of that pattern), then decompress buffer 2's block.
    let pattern: Vec<u8> = (0..1000).map(|i| (i % 251) as u8).collect();
    let crc = fwring::ops::crc32c::crc32c(&pattern);
    let block_len = lz4_flex::block::compress(&fwring_sim::ops::lz4_plain()).len() as u32;
    let sqes = [
        buf_sqe(3, 0, &BufDesc::user(0x1000_0000, 1000), Some(&BufDesc::user(0x1003_0000, 1000))).user_data(1),
        Sqe {
            len: crc,
            ..buf_sqe(4, fwring::ops::crc32c::VERIFY, &BufDesc::user(0x1003_0000, 1000), None).user_data(2)
        },
        buf_sqe(5, 0, &BufDesc::fixed(2, 0x1002_0000, block_len), Some(&BufDesc::user(0x1001_0000, 65536)))
            .user_data(3),
        buf_sqe(3, 0, &BufDesc::user(0x2000_0000, 10), Some(&BufDesc::user(0x1003_0000, 10))).user_data(4),
    ];
    let o = sim(&["replay", "--setup-flags", "bpf_ext,submit_all"], &bytes(&sqes));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "{\"user_data\":1,\"res\":1000,\"flags\":0}");
    assert_eq!(lines[1], "{\"user_data\":2,\"res\":0,\"flags\":0}");
    assert_eq!(lines[2], format!("{{\"user_data\":3,\"res\":{},\"flags\":0}}", fwring_sim::ops::lz4_plain().len()));
    assert_eq!(lines[3], "{\"user_data\":4,\"res\":-14,\"flags\":0}", "address outside the ring's memory: EFAULT");
}

#[test]
fn encode_turns_json_lines_into_raw_sqes_that_replay_runs() {
    let json = "# a linked NOP, a NOP_INJECT-free NOP, an op-slot SQE\n\
        {\"opcode\":\"nop\",\"user_data\":1,\"flags\":[\"io_link\",\"IOSQE_CQE_SKIP_SUCCESS\"]}\n\
        \n\
        {\"opcode\":0,\"user_data\":2,\"flags\":4}\n\
        {\"opcode\":\"IORING_OP_BPF\",\"fd\":-1,\"slot\":1,\"op_flags\":1234,\"user_data\":3,\"addr3\":18446744073709551615}\n";
    let o = sim(&["encode"], json.as_bytes());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let want = bytes(&[
        Sqe::nop().user_data(1).flags(SqeFlags::IO_LINK | SqeFlags::CQE_SKIP_SUCCESS),
        Sqe::nop().user_data(2).flags(SqeFlags::IO_LINK),
        {
            let mut s = Sqe::bpf(1, 1234).user_data(3);
            s.addr3 = u64::MAX;
            s
        },
    ]);
    assert_eq!(o.stdout, want);
    // replay --input json runs the same SQEs as the raw file.
    let a = sim(&["replay", "--setup-flags", "bpf_ext", "--input", "json"], json.as_bytes());
    let b = sim(&["replay", "--setup-flags", "bpf_ext"], &want);
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(text(&a.stdout), text(&b.stdout));
    assert!(text(&a.stdout).contains("\"user_data\":3,\"res\":1234"));
    // Errors name the line and say what is allowed.
    for (bad, needle) in [
        ("{\"opcode\":\"nop\",\"bogus\":1}", "line 1: unknown field \"bogus\" (fields: opcode"),
        ("{\"opcode\":\"frob\"}", "line 1: opcode: unknown name \"frob\""),
        ("{\"flags\":[\"io_lnk\"]}", "unknown flag \"io_lnk\" (one of fixed_file, io_drain, io_link"),
        ("{\"len\":-1}", "len: -1 is out of range"),
        ("[1,2]", "not a JSON object"),
        ("{\"opcode\":1", "not JSON"),
    ] {
        assert_usage_error(&sim(&["encode"], bad.as_bytes()), needle);
    }
}
