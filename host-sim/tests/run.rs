//! `fwring-sim run`: a workload through the host driver against a device process, its
//! summary, JSON, SVG plot and Chrome trace.

mod support;

use std::process::Command;

use support::{BIN, TempDir};

#[test]
fn run_reports_json_draws_a_plot_and_writes_a_trace() {
    let dir = TempDir::new("run");
    let (flash, svg, trace) = (dir.path("f.img"), dir.path("p.svg"), dir.path("t.json"));
    let out = Command::new(BIN)
        .args(["run", "--size", "8M", "--no-latency", "--rw", "mixed", "--read-share", "50", "--qd", "4"])
        .args(["--count", "300", "--json", "--flash"])
        .arg(&flash)
        .arg("--plot")
        .arg(&svg)
        .arg("--trace")
        .arg(&trace)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON summary");
    assert_eq!(v["requests"], 300);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["qd"], 4);
    assert_eq!(v["bs"], 4096);
    assert_eq!(v["pattern"], "mixed");
    let l = &v["latency_us"];
    let p = |k: &str| l[k].as_f64().unwrap();
    assert!(0.0 < p("p50") && p("p50") <= p("p90") && p("p90") <= p("p99") && p("p99") <= p("p99_9"));
    assert!(p("p99_9") <= p("max") * 1.001);
    assert!(v["iops"].as_f64().unwrap() > 0.0);
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("latency by percentile") && svg.contains("IOPS over time"));
    let t: serde_json::Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let all = t["traceEvents"].as_array().unwrap();
    let ev: Vec<&serde_json::Value> = all.iter().filter(|e| e["cat"] == "request").collect();
    assert_eq!(ev.len(), 300);
    assert!(ev.iter().all(|e| e["ph"] == "X" && e["dur"].as_f64().unwrap() > 0.0));
    // Each 4 KiB request is one link chain of two members, joined by a flow.
    let chain: Vec<&serde_json::Value> = all.iter().filter(|e| e["cat"] == "chain").collect();
    let count = |ph: &str| chain.iter().filter(|e| e["ph"] == ph).count();
    assert_eq!((count("X"), count("s"), count("f")), (600, 300, 300));
    let names = |n: &str| chain.iter().filter(|e| e["name"] == n).count();
    assert_eq!(names("BLOCK READ"), names("DMA TO_HOST"));
    assert_eq!(names("DMA FROM_HOST"), names("BLOCK WRITE"));
    assert_eq!(names("BLOCK READ") + names("BLOCK WRITE"), 300);
    let mut ids: Vec<u64> = chain.iter().filter(|e| e["ph"] == "f").map(|e| e["id"].as_u64().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (1..=300).collect::<Vec<u64>>(), "every flow ends once");
    let reads = ev.iter().filter(|e| e["name"] == "read").count();
    assert!((60..240).contains(&reads), "about half reads: {reads}");
}

#[test]
fn run_refuses_bad_arguments_with_a_clear_message() {
    let dir = TempDir::new("run-bad");
    let flash = dir.path("f.img");
    let cases: [(&[&str], &str); 4] = [
        (&["--bs", "1000"], "multiple of the block size"),
        (&["--region", "1G"], "inside the device"),
        (&["--count", "5", "--duration", "1"], "not both"),
        (&["--latency=-1"], "non-negative"),
    ];
    for (extra, needle) in cases {
        let out = Command::new(BIN)
            .args(["run", "--size", "1M", "--no-latency", "--flash"])
            .arg(&flash)
            .args(extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert!(!err.contains("panicked"), "{extra:?}: {err}");
    }
    // A missing image without --size.
    let out = Command::new(BIN).args(["serve", "--flash"]).arg(dir.path("none.img")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --size to create it"));
}
