//! `fwring-sim run`: fio-like workloads through the host driver against a device
//! process, with a progress bar, a latency summary (hdrhistogram), `--json`, an SVG plot
//! (plotters) and a Chrome trace of the requests.

use std::path::PathBuf;

use std::io::IsTerminal;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};

use crate::driver::{Driver, Kind, Request, TraceEvent};

use crate::driver::DeviceProcessConfig;
use crate::flash::{self, Faults, Geometry, Latency, Rng};
/// Device options shared by `serve` and `run`.
#[derive(Args, Clone, Debug)]
pub struct DevArgs {
    /// The flash image: opened if it exists, else created (erased) with --size.
    #[arg(long, value_name = "FILE")]
    pub flash: PathBuf,
    /// Size of a new image (bytes; K, M, G suffixes), the superblock's erase block
    /// included. Must match an existing image if given.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub size: Option<u64>,
    /// Erase block size of a new image: 4096, 32768 or 65536.
    #[arg(long, value_name = "BYTES", default_value_t = 4096)]
    pub erase_size: u32,
    /// Block layer of a new image: the power-safe flash translation layer, or BlockDev
    /// (1:1 mapping with a volatile write cache; not power-safe).
    #[arg(long, value_enum, default_value = "ftl")]
    pub layer: flash::Layer,
    /// Block (LBA) size of a new image: a power of two from 512 to the erase block size.
    #[arg(long, value_name = "BYTES", default_value_t = 512)]
    pub block_size: u32,
    /// Flash read time per 256-byte page (µs).
    #[arg(long, value_name = "US", default_value_t = 2.0)]
    pub read_us: f64,
    /// Flash program time per 256-byte page (µs).
    #[arg(long, value_name = "US", default_value_t = 300.0)]
    pub program_us: f64,
    /// Flash erase time per erase block (µs).
    #[arg(long, value_name = "US", default_value_t = 2000.0)]
    pub erase_us: f64,
    /// Jitter added to each flash time, in percent (deterministic from --seed).
    #[arg(long, value_name = "PCT", default_value_t = 10)]
    pub jitter: u64,
    /// Latency scale: 0 turns the flash latency model off (so does --no-latency).
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    pub latency: f64,
    /// Turn the flash latency model off.
    #[arg(long)]
    pub no_latency: bool,
    /// Seed of the latency jitter and the faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fault: one read in N fails (EIO). 0 = never.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub read_error_every: u64,
    /// Fault: one program in N fails part-way (EIO). 0 = never.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub program_fail_every: u64,
    /// Fault: one read in N finds a bit flip ECC detects but cannot correct (EIO).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub bit_flip_every: u64,
    /// Fault: one flash operation in N leaves the chip stuck busy (times out: EIO).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub stuck_busy_every: u64,
}

/// Parse "64M", "4096", "1G".
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&s[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a size (e.g. 4096, 64M, 1G)"))?;
    n.checked_mul(mul).ok_or_else(|| format!("{s} is too large"))
}

impl DevArgs {
    /// Open or create the image and say how to start the device.
    pub fn open(&self) -> Result<DeviceProcessConfig, String> {
        if self.flash.exists() {
            let g = flash::inspect(&self.flash)?;
            if let Some(size) = self.size
                && size != g.image_size
            {
                return Err(format!(
                    "{}: --size {size} does not match the image's size {}",
                    self.flash.display(),
                    g.image_size
                ));
            }
        } else {
            let size = self
                .size
                .ok_or_else(|| format!("{} does not exist: give --size to create it", self.flash.display()))?;
            let g = Geometry {
                layer: self.layer,
                erase_size: self.erase_size,
                block_size: self.block_size,
                image_size: size,
            };
            flash::create(&self.flash, g)?;
        }
        if !(self.latency >= 0.0 && self.latency.is_finite()) {
            return Err(format!("--latency {} must be a non-negative number", self.latency));
        }
        let scale = if self.no_latency { 0.0 } else { self.latency };
        let ns = |us: f64| (us * 1000.0 * scale) as u64;
        let latency = if scale == 0.0 {
            Latency::ZERO
        } else {
            Latency {
                read_ns: ns(self.read_us),
                program_ns: ns(self.program_us),
                erase_ns: ns(self.erase_us),
                jitter_pct: self.jitter,
            }
        };
        let faults = Faults {
            read_error: self.read_error_every,
            program_fail: self.program_fail_every,
            bit_flip: self.bit_flip_every,
            stuck_busy: self.stuck_busy_every,
        };
        Ok(DeviceProcessConfig {
            flash: self.flash.clone(),
            latency,
            faults,
            seed: self.seed,
            verbose: true,
            trace: None,
        })
    }
}

/// The access pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Pattern {
    /// Random reads.
    Randread,
    /// Random writes.
    Randwrite,
    /// Sequential reads.
    Read,
    /// Sequential writes.
    Write,
    /// Random reads and writes (--read-share percent reads).
    Mixed,
}

/// `run`'s arguments.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    dev: DevArgs,
    /// Access pattern.
    #[arg(long, value_enum, default_value = "randread")]
    rw: Pattern,
    /// Percent of reads in a mixed workload.
    #[arg(long, value_name = "PCT", default_value_t = 70, value_parser = clap::value_parser!(u8).range(0..=100))]
    read_share: u8,
    /// Request size (a multiple of the block size, at most 4M).
    #[arg(long, value_name = "SIZE", default_value = "4k", value_parser = parse_size)]
    bs: u64,
    /// Requests in flight (1..=256).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    qd: u32,
    /// Requests to run (default 10000 unless --duration is given).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Run for this many seconds instead of a count.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// First byte of the region the workload touches.
    #[arg(long, value_name = "OFFSET", default_value = "0", value_parser = parse_size)]
    offset: u64,
    /// Bytes of the region (default: to the end of the device).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    region: Option<u64>,
    /// Seed of the workload's offsets.
    #[arg(long, value_name = "N", default_value_t = 42)]
    workload_seed: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Draw the latency distribution and IOPS over time into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Write each request's life (submit to completion, pieces as flows) as Chrome
    /// trace-event JSON (Perfetto, chrome://tracing).
    #[arg(long, value_name = "FILE.json")]
    trace: Option<PathBuf>,
}

/// One finished request.
struct Done {
    id: u64,
    read: bool,
    start: Duration,
    end: Duration,
    ok: bool,
}

/// Run a workload.
pub fn run(args: RunArgs) -> Result<(), String> {
    if args.count.is_some() && args.duration.is_some() {
        return Err("give --count or --duration, not both".into());
    }
    if let Some(d) = args.duration
        && !(d > 0.0 && d.is_finite())
    {
        return Err(format!("--duration {d} must be a positive number of seconds"));
    }
    let mut cfg = args.dev.open()?;
    let (ttx, trx) = mpsc::channel::<TraceEvent>();
    if args.trace.is_some() {
        cfg.trace = Some(ttx);
    }
    let driver = Driver::start(cfg)?;
    let bs = u64::from(driver.block_size);
    if args.bs == 0 || !args.bs.is_multiple_of(bs) || args.bs > u64::from(crate::nbd::MAX_BLOCK) {
        return Err(format!("--bs {} must be a non-zero multiple of the block size ({bs}) up to 4M", args.bs));
    }
    let region = args.region.unwrap_or(driver.size.saturating_sub(args.offset));
    if !args.offset.is_multiple_of(bs)
        || args.offset.checked_add(region).is_none_or(|e| e > driver.size)
        || region < args.bs
    {
        return Err(format!(
            "region {}+{region} must be block-aligned, hold one request and lie inside the device ({} bytes)",
            args.offset, driver.size
        ));
    }
    let slots = region / args.bs;
    let total = args.count.unwrap_or(if args.duration.is_some() { u64::MAX } else { 10_000 });
    let deadline = args.duration.map(Duration::from_secs_f64);
    let mut rng = Rng::new(args.workload_seed);
    let payload: Vec<u8> = (0..args.bs).map(|_| rng.next_u64() as u8).collect();
    let (tx, rx) = mpsc::channel::<Done>();
    let t0 = Instant::now();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())?;
    let mut per_tick: Vec<u64> = Vec::new(); // completions per 100 ms
    let mut trace: Vec<serde_json::Value> = Vec::new();
    let bar = progress(total, deadline);
    let (mut sent, mut done, mut errors, mut seq_next) = (0u64, 0u64, 0u64, 0u64);
    let mut last_line = Instant::now();
    loop {
        let time_up = deadline.is_some_and(|d| t0.elapsed() >= d);
        while sent < total && !time_up && sent - done < u64::from(args.qd) {
            let read = match args.rw {
                Pattern::Randread | Pattern::Read => true,
                Pattern::Randwrite | Pattern::Write => false,
                Pattern::Mixed => rng.next_u64() % 100 < u64::from(args.read_share),
            };
            let slot = match args.rw {
                Pattern::Read | Pattern::Write => {
                    let s = seq_next % slots;
                    seq_next += 1;
                    s
                }
                _ => rng.next_u64() % slots,
            };
            let off = args.offset + slot * args.bs;
            let (id, tx) = (sent, tx.clone());
            let start = t0.elapsed();
            let kind = if read { Kind::Read } else { Kind::Write { fua: false } };
            let data = if read { Vec::new() } else { payload.clone() };
            driver.submit(Request {
                kind,
                off,
                len: args.bs as u32,
                data,
                done: Box::new(move |o| {
                    let _ = tx.send(Done { id, read, start, end: t0.elapsed(), ok: o.is_ok() });
                }),
            });
            sent += 1;
        }
        if done == sent && (sent == total || time_up) {
            break;
        }
        let Ok(d) = rx.recv_timeout(Duration::from_secs(30)) else {
            return Err("a request took longer than 30 s: the device is stuck".into());
        };
        done += 1;
        if !d.ok {
            errors += 1;
        }
        let lat = (d.end - d.start).as_nanos() as u64;
        let _ = hist.record(lat.max(1));
        let tick = (d.end.as_millis() / 100) as usize;
        if per_tick.len() <= tick {
            per_tick.resize(tick + 1, 0);
        }
        per_tick[tick] += 1;
        if args.trace.is_some() {
            trace.push(serde_json::json!({
                "name": if d.read { "read" } else { "write" }, "cat": "request", "ph": "X",
                "ts": d.start.as_secs_f64() * 1e6, "dur": (d.end - d.start).as_secs_f64() * 1e6,
                "pid": 1, "tid": d.id % u64::from(args.qd), "args": {"id": d.id, "ok": d.ok}
            }));
        }
        match &bar {
            Some(b) => b.set_position(if deadline.is_some() { t0.elapsed().as_millis() as u64 } else { done }),
            None if last_line.elapsed() >= Duration::from_secs(1) => {
                last_line = Instant::now();
                eprintln!("{done} requests, {:.0} IOPS", done as f64 / t0.elapsed().as_secs_f64());
            }
            None => {}
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let secs = t0.elapsed().as_secs_f64();
    let us = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let summary = serde_json::json!({
        "pattern": format!("{:?}", args.rw).to_lowercase(), "bs": args.bs, "qd": args.qd,
        "requests": done, "errors": errors, "seconds": secs,
        "iops": done as f64 / secs, "mb_per_s": (done * args.bs) as f64 / secs / 1e6,
        "latency_us": {"p50": us(0.5), "p90": us(0.9), "p99": us(0.99), "p99_9": us(0.999),
                       "max": hist.max() as f64 / 1000.0, "mean": hist.mean() / 1000.0},
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "{} bs={} qd={}: {done} requests in {secs:.2} s, {errors} errors\n  {:.0} IOPS, {:.1} MB/s\n  latency µs: p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
            summary["pattern"].as_str().unwrap_or(""),
            args.bs,
            args.qd,
            done as f64 / secs,
            (done * args.bs) as f64 / secs / 1e6,
            us(0.5),
            us(0.9),
            us(0.99),
            us(0.999),
            hist.max() as f64 / 1000.0
        );
    }
    if let Some(p) = &args.plot {
        plot(p, &hist, &per_tick).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if let Some(p) = &args.trace {
        // The chains' members on one track per window slot, each chain a flow from its
        // first member to its linked successor.
        let at = |t: Instant| t.saturating_duration_since(t0).as_secs_f64() * 1e6;
        let mut flow = 0u64;
        let mut open = std::collections::HashMap::new();
        for e in trx.try_iter() {
            let tid = 1000 + e.slot;
            trace.push(serde_json::json!({
                "name": e.name, "cat": "chain", "ph": "X", "ts": at(e.start), "dur": at(e.end) - at(e.start),
                "pid": 2, "tid": tid, "args": {"res": e.res, "member": e.member}
            }));
            let (ph, id) = if e.member == 0 {
                flow += 1;
                open.insert(e.slot, flow);
                ("s", flow)
            } else {
                ("f", open.get(&e.slot).copied().unwrap_or(0))
            };
            let ts = if e.member == 0 { at(e.end) } else { at(e.start) };
            trace.push(serde_json::json!({
                "name": "link", "cat": "chain", "ph": ph, "id": id, "ts": ts, "pid": 2, "tid": tid, "bp": "e"
            }));
        }
        trace.push(serde_json::json!({"name": "process_name", "ph": "M", "pid": 1, "args": {"name": "requests"}}));
        trace.push(serde_json::json!({"name": "process_name", "ph": "M", "pid": 2, "args": {"name": "SQE link chains (per window slot)"}}));
        let doc = serde_json::json!({ "traceEvents": trace, "displayTimeUnit": "ns" });
        std::fs::write(p, doc.to_string()).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if errors > 0 {
        return Err(format!("{errors} of {done} requests failed"));
    }
    Ok(())
}

fn progress(total: u64, deadline: Option<Duration>) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let (len, tmpl) = match deadline {
        Some(d) => (d.as_millis() as u64, "{bar:40} {elapsed_precise} {msg}"),
        None => (total, "{bar:40} {pos}/{len} requests, eta {eta}"),
    };
    let b = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(tmpl) {
        b.set_style(style);
    }
    Some(b)
}

/// Latency percentiles (log scale) above, IOPS per 100 ms below.
fn plot(path: &std::path::Path, hist: &Histogram<u64>, per_tick: &[u64]) -> Result<(), String> {
    use plotters::prelude::*;
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::new(path, (900, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (top, bottom) = root.split_vertically(400);
    let pts: Vec<(f64, f64)> = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0]
        .iter()
        .map(|&q| (q * 100.0, hist.value_at_quantile(q).max(1) as f64 / 1000.0))
        .collect();
    let ymax = pts.iter().map(|p| p.1).fold(1.0, f64::max) * 1.2;
    let ymin = pts.iter().map(|p| p.1).fold(f64::MAX, f64::min).max(0.001) / 1.2;
    let mut c = ChartBuilder::on(&top)
        .caption("latency by percentile (µs)", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..100f64, (ymin..ymax).log_scale())
        .map_err(|x| e(&x))?;
    c.configure_mesh().x_desc("percentile").y_desc("µs").draw().map_err(|x| e(&x))?;
    c.draw_series(LineSeries::new(pts.clone(), &BLUE)).map_err(|x| e(&x))?;
    c.draw_series(pts.iter().map(|&p| Circle::new(p, 3, BLUE.filled()))).map_err(|x| e(&x))?;
    let iops: Vec<(f64, f64)> = per_tick.iter().enumerate().map(|(i, &n)| (i as f64 / 10.0, n as f64 * 10.0)).collect();
    let xmax = (per_tick.len() as f64 / 10.0).max(0.1);
    let imax = iops.iter().map(|p| p.1).fold(1.0, f64::max) * 1.2;
    let mut c = ChartBuilder::on(&bottom)
        .caption("IOPS over time (100 ms buckets)", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..xmax, 0f64..imax)
        .map_err(|x| e(&x))?;
    c.configure_mesh().x_desc("s").y_desc("IOPS").draw().map_err(|x| e(&x))?;
    c.draw_series(LineSeries::new(iops, &RED)).map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}
