//! `fwring-sim`: the fwring host simulator.

use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use fwring_sim::{demo, replay, setup_flags};

/// fwring host simulator: run the ring on this machine.
#[derive(Parser)]
#[command(name = "fwring-sim", version, about, long_about = None, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay raw 64-byte SQEs through a fresh ring and print every CQE.
    ///
    /// The SQEs are submitted as one io_uring_enter would submit them: an SQE that
    /// fails at submit time outside a link chain ends the submission, and the SQEs left
    /// are reported on stderr (unless --setup-flags submit_all). Input longer than the
    /// SQ is submitted in SQ-sized loads; when the CQ fills up, CQEs are reaped and
    /// submission goes on. Exits 0 on any well-formed input, whatever the SQEs do.
    #[command(
        after_help = "With bpf_ext the standard ops are registered: slot 0 answer (-> 42), slot 1 echo (-> op flags), slot 2 errno (fails with the errno in its op flags).\n\nExample:\n  fwring-sim replay --setup-flags submit_all,bpf_ext sqes.bin"
    )]
    Replay {
        /// SQ entries (1..=32768, rounded up to a power of two).
        #[arg(long, value_name = "N", default_value_t = 128)]
        sq_entries: u32,
        /// CQ entries (at least the SQ size) [default: 2 × SQ].
        #[arg(long, value_name = "M")]
        cq_entries: Option<u32>,
        /// Comma-separated IORING_SETUP_* names without the prefix, e.g. submit_all,bpf_ext.
        #[arg(long, value_name = "LIST", default_value = "")]
        setup_flags: String,
        /// Output: JSON lines {"user_data":…,"res":…,"flags":…}, or raw 16-byte CQEs.
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
        /// Fire timers: when the ring waits on armed TIMEOUTs / LINK_TIMEOUTs, jump its
        /// clock to the next deadline (and at the end, until none is left). Without it
        /// time stands still: SQEs the timers leave no room for, and the timers
        /// themselves, are reported on stderr.
        #[arg(long)]
        advance_time: bool,
        /// Input: raw 64-byte SQEs, or JSON lines as `encode` reads them.
        #[arg(long, value_enum, default_value_t = Format::Bin)]
        input: Format,
        /// File of concatenated raw SQEs; - or nothing for stdin.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// SQEs from JSON lines (every io_uring_sqe field by name, opcode and flags by name)
    /// to raw 64-byte SQEs on stdout, for `replay`.
    #[command(
        after_help = "Fields: opcode (number or name: nop, bpf, timeout, ...), flags (number or list of names: io_link, io_hardlink, io_drain, cqe_skip_success, ...), ioprio, fd, off, addr, len, op_flags, user_data, buf_index, personality, file_index, addr3, pad2, slot (IORING_OP_BPF's op slot: the top 8 bits of op_flags). Missing fields are 0; blank lines and lines starting with # are skipped.\n\nExample:\n  printf '%s\\n' '{\"opcode\":\"nop\",\"user_data\":1,\"flags\":[\"io_link\"]}' '{\"opcode\":\"bpf\",\"slot\":0,\"user_data\":2}' | fwring-sim encode | fwring-sim replay --setup-flags bpf_ext"
    )]
    Encode {
        /// JSON-lines file; - or nothing for stdin.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// A short narrated run of the ring: NOPs, a failing link chain, op slots, backpressure.
    Demo,
    /// Serve a simulated storage device over NBD: a device process (the firmware's
    /// ring and block layer over a simulated NOR flash persisted to --flash) behind a
    /// shared-memory queue pair, driven by this process's host driver.
    #[command(
        after_help = "Example:\n  fwring-sim serve --flash disk.img --size 64M\n  qemu-io -f raw nbd://127.0.0.1:10809/fwring -c 'write -P 0xab 0 64k' -c 'read -P 0xab 0 64k'"
    )]
    Serve {
        #[command(flatten)]
        dev: DevArgs,
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:10809")]
        nbd: String,
        /// Export name.
        #[arg(long, value_name = "NAME", default_value = "fwring")]
        export: String,
    },
    /// Run a workload (fio-like) through the host driver against a device process.
    Run(Box<fwring_sim::workload::RunArgs>),
    /// The device process (started by serve and run; not for direct use).
    #[command(hide = true)]
    Device {
        #[arg(long)]
        shm_fd: i32,
        #[arg(long)]
        flash: PathBuf,
        #[arg(long, value_parser = parse_quad)]
        latency_ns: (u64, u64, u64, u64),
        #[arg(long, value_parser = parse_quad)]
        faults: (u64, u64, u64, u64),
        #[arg(long)]
        seed: u64,
    },
}

fn parse_quad(s: &str) -> Result<(u64, u64, u64, u64), String> {
    let v: Vec<u64> = s.split(',').map(|x| x.parse::<u64>().map_err(|e| e.to_string())).collect::<Result<_, _>>()?;
    match v[..] {
        [a, b, c, d] => Ok((a, b, c, d)),
        _ => Err("four comma-separated numbers".into()),
    }
}

use fwring_sim::workload::DevArgs;

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// One JSON object per CQE per line.
    Json,
    /// Raw 16-byte io_uring_cqe structs.
    Bin,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("fwring-sim: {msg}");
    ExitCode::from(2)
}

fn read_input(file: Option<PathBuf>) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    match file {
        Some(p) if p.as_os_str() != "-" => {
            buf = std::fs::read(&p).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?
        }
        _ => {
            io::stdin().lock().read_to_end(&mut buf)?;
        }
    }
    Ok(buf)
}

fn serve(dev: DevArgs, addr: &str, export: String) -> Result<(), String> {
    let cfg = dev.open()?;
    let listener = std::net::TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let driver = fwring_sim::driver::Driver::start(cfg)?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("serving {} bytes ({}-byte blocks) as nbd://{local}/{export}", driver.size, driver.block_size);
    let _ = io::stdout().flush();
    let ex = fwring_sim::nbd::Export { name: export, description: "fwring simulated NOR flash device".into(), driver };
    fwring_sim::nbd::serve(listener, std::sync::Arc::new(ex)).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help / --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's whole message: what was wrong, the possible values, the usage line.
            let _ = e.print();
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Serve { dev, nbd, export } => match serve(dev, &nbd, export) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("fwring-sim: {e}");
                ExitCode::from(1)
            }
        },
        Command::Run(args) => match fwring_sim::workload::run(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("fwring-sim: {e}");
                ExitCode::from(1)
            }
        },
        Command::Device { shm_fd, flash, latency_ns: l, faults: f, seed } => {
            let opts = fwring_sim::device::DeviceProcessArgs {
                flash,
                shm_fd,
                latency: fwring_sim::flash::Latency { read_ns: l.0, program_ns: l.1, erase_ns: l.2, jitter_pct: l.3 },
                faults: fwring_sim::flash::Faults {
                    read_error: f.0,
                    program_fail: f.1,
                    bit_flip: f.2,
                    stuck_busy: f.3,
                },
                seed,
            };
            match fwring_sim::device::run(opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("fwring-sim device: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Demo => match demo::run(&mut io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
        Command::Encode { file } => {
            if io::stdout().is_terminal() {
                return fail("encode writes binary SQEs: redirect stdout to a file or a pipe");
            }
            let input = match read_input(file) {
                Ok(b) => b,
                Err(e) => return fail(e),
            };
            let bytes = match fwring_sim::encode::lines(&String::from_utf8_lossy(&input)) {
                Ok(b) => b,
                Err(e) => return fail(e),
            };
            match io::stdout().lock().write_all(&bytes) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        Command::Replay { sq_entries, cq_entries, setup_flags, format, advance_time, input: input_format, file } => {
            let flags = match setup_flags::parse(&setup_flags) {
                Ok(f) => f,
                Err(e) => return fail(e),
            };
            let format = match format {
                Format::Json => replay::Format::Json,
                Format::Bin => replay::Format::Bin,
            };
            if format == replay::Format::Bin && io::stdout().is_terminal() {
                return fail("--format bin writes binary CQEs: redirect stdout to a file or a pipe");
            }
            let input = match read_input(file) {
                Ok(b) => b,
                Err(e) => return fail(e),
            };
            let input = match input_format {
                Format::Bin => input,
                Format::Json => match fwring_sim::encode::lines(&String::from_utf8_lossy(&input)) {
                    Ok(b) => b,
                    Err(e) => return fail(e),
                },
            };
            let opts = replay::Options { sq_entries, cq_entries, flags, format, advance_time };
            // The largest ring class holds ~6 MiB of entries; give it a roomy stack.
            let worker = std::thread::Builder::new().stack_size(64 << 20).spawn(move || {
                let mut out = io::BufWriter::new(io::stdout().lock());
                let r = replay::run(&input, &opts, &mut out, &mut io::stderr());
                let _ = out.flush();
                r
            });
            match worker.map(|h| h.join()) {
                Ok(Ok(Ok(_))) => ExitCode::SUCCESS,
                Ok(Ok(Err(replay::Error::Io(e)))) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Ok(Ok(Err(e))) => fail(e),
                Ok(Err(_)) => fail("internal error: replay panicked"),
                Err(e) => fail(format!("cannot start the replay thread: {e}")),
            }
        }
    }
}
