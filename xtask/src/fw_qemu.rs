//! Running a firmware image under QEMU: no display, no monitor, semihosting for output
//! and exit, always under `timeout` (a semihosting call without `-semihosting-config`
//! would hang forever), stdin closed (CI has none). With `defmt-print`, QEMU's stdout
//! (raw defmt frames) is piped through it.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::describe;

use super::Target;

/// Exit status `timeout` reports when it had to stop the command.
pub const TIMED_OUT: i32 = 124;

/// What a run printed and how it ended.
pub struct Run {
    /// QEMU's exit status (`TIMED_OUT` if it was stopped); `None` if killed by a signal.
    pub status: Option<i32>,
    /// Standard output (decoded by defmt-print when asked), line by line.
    pub lines: Vec<String>,
}

/// How to run.
pub struct Options<'a> {
    /// Decode defmt frames with this `defmt-print`.
    pub defmt_print: Option<&'a Path>,
    /// Extra QEMU arguments (logging, icount).
    pub extra: &'a [String],
    /// Seconds before QEMU is stopped.
    pub timeout: u32,
    /// Print the output as it comes, indented.
    pub echo: bool,
}

/// The QEMU command for `target` running `elf`, under `timeout`.
pub fn command(target: &Target, elf: &Path, opts: &Options<'_>) -> Command {
    let mut c = Command::new("timeout");
    c.args(["--kill-after=5", &opts.timeout.to_string()]);
    c.args(target.qemu);
    c.args(["-display", "none", "-monitor", "none", "-serial", "none"]);
    c.args(["-semihosting-config", "enable=on,target=native"]);
    c.args(opts.extra);
    c.arg("-kernel").arg(elf);
    c.stdin(Stdio::null());
    c
}

/// Run `elf` on `target`'s board.
pub fn run(target: &Target, elf: &Path, opts: &Options<'_>) -> Result<Run, String> {
    if !elf.is_file() {
        // QEMU would exit 1 ("could not load kernel"), the same status as a failed test.
        return Err(format!("{}: no such firmware image", elf.display()));
    }
    let mut qemu = command(target, elf, opts);
    let what = describe(&qemu);
    qemu.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = qemu.spawn().map_err(|e| format!("{what}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut decoder = None;
    let reader: Box<dyn Read> = match opts.defmt_print {
        Some(dp) => {
            let mut d = Command::new(dp)
                .arg("-e")
                .arg(elf)
                .stdin(stdout)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| format!("{}: {e}", dp.display()))?;
            let out = d.stdout.take().ok_or("no stdout from defmt-print")?;
            decoder = Some(d);
            Box::new(out)
        }
        None => Box::new(stdout),
    };
    let mut lines = Vec::new();
    for line in BufReader::new(reader).split(b'\n') {
        let line = line.map_err(|e| e.to_string())?;
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        if opts.echo {
            println!("    {line}");
        }
        lines.push(line);
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if let Some(mut d) = decoder {
        let _ = d.wait();
    }
    Ok(Run { status: status.code(), lines })
}

/// The last `N passed, N failed` line (a level prefix such as defmt-print's is allowed
/// before it).
pub fn summary(lines: &[String]) -> Option<(u64, u64)> {
    lines.iter().rev().find_map(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        match words.as_slice() {
            [.., p, "passed,", f, "failed"] => Some((p.parse().ok()?, f.parse().ok()?)),
            _ => None,
        }
    })
}
