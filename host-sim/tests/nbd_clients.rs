//! Real NBD clients against `fwring-sim serve`: qemu-io, qemu-img, nbdcopy, nbdinfo,
//! nbdsh (installed with apt-get when missing).

mod support;

use support::{Server, TempDir, ensure_tools, random, run};

fn serve(dir: &TempDir) -> Server {
    ensure_tools();
    Server::start(&dir.path("flash.img"), &["--no-latency"])
}

#[test]
fn qemu_io_writes_patterns_reads_them_back_discards_and_flushes() {
    let dir = TempDir::new("qemu-io");
    let s = serve(&dir);
    let size = support::Nbd::open(s.port).size;
    // Offsets and sizes across erase-block (4 KiB) and piece (64 KiB) boundaries.
    let cases: [(u64, u64, u8); 10] = [
        (0, 512, 0x11),
        (512, 3584, 0x22),
        (4096, 4096, 0x33),
        (8704, 1024, 0x44),
        (65024, 1536, 0x55),
        (1 << 20, 65536, 0x66),
        ((1 << 20) + 65536, 200 * 1024, 0x77),
        (3 << 20, 1 << 20, 0x88),
        (size - 4096, 4096, 0x99),
        (5 << 20, 512 * 3, 0xaa),
    ];
    let mut args: Vec<String> = vec!["-f".into(), "raw".into(), s.uri.clone()];
    for (off, len, p) in cases {
        args.extend(["-c".into(), format!("write -P {p:#x} {off} {len}")]);
    }
    args.extend(["-c".into(), "flush".into()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    run("qemu-io", &a);
    // A second connection reads every pattern back.
    let mut args: Vec<String> = vec!["-f".into(), "raw".into(), s.uri.clone()];
    for (off, len, p) in cases {
        args.extend(["-c".into(), format!("read -P {p:#x} {off} {len}")]);
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run("qemu-io", &a);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Pattern verification failed"), "{text}");
    assert_eq!(text.matches("read ").count(), cases.len(), "{text}");
    // Discard, write zeroes (with FUA), and what is left around them.
    let out = run(
        "qemu-io",
        &[
            "-f",
            "raw",
            &s.uri,
            "-c",
            "discard 4096 4096",
            "-c",
            "write -z -f 3145728 65536",
            "-c",
            "read -P 0 3145728 65536",
            "-c",
            "read -P 0x88 3211264 983040",
            "-c",
            "read -P 0x22 512 3584",
            "-c",
            "flush",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("discard 4096/4096 bytes at offset 4096"), "{text}");
    assert!(!text.contains("verification failed"), "{text}");
}

#[test]
fn qemu_img_converts_an_image_in_and_out_unchanged() {
    let dir = TempDir::new("qemu-img");
    let s = serve(&dir);
    let data = random(3 << 20, 7);
    let src = dir.path("in.raw");
    std::fs::write(&src, &data).unwrap();
    run("qemu-img", &["convert", "-n", "-f", "raw", "-O", "raw", src.to_str().unwrap(), &s.uri]);
    let out = dir.path("out.raw");
    run("qemu-img", &["convert", "-f", "raw", "-O", "raw", &s.uri, out.to_str().unwrap()]);
    let back = std::fs::read(&out).unwrap();
    assert_eq!(back.len() as u64, support::Nbd::open(s.port).size);
    assert!(back[..data.len()] == data[..], "converted data differs");
    assert!(back[data.len()..].iter().all(|&b| b == 0), "never-written blocks read zeros");
}

#[test]
fn nbdcopy_both_ways_and_nbdinfo_reports_size_and_flags() {
    let dir = TempDir::new("nbdcopy");
    let s = serve(&dir);
    let size = support::Nbd::open(s.port).size as usize;
    let data = random(size, 99);
    let src = dir.path("in.raw");
    std::fs::write(&src, &data).unwrap();
    run("nbdcopy", &[src.to_str().unwrap(), &s.uri]);
    let out = dir.path("out.raw");
    run("nbdcopy", &[&s.uri, out.to_str().unwrap()]);
    assert!(std::fs::read(&out).unwrap() == data, "nbdcopy round trip differs");

    let info = run("nbdinfo", &["--json", &s.uri]);
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let e = &v["exports"][0];
    assert_eq!(e["export-name"], "fwring");
    assert_eq!(e["export-size"], size as u64);
    assert_eq!(e["is_read_only"], false);
    assert_eq!(e["can_flush"], true);
    assert_eq!(e["can_fua"], true);
    assert_eq!(e["can_trim"], true);
    assert_eq!(e["can_zero"], true);
    assert_eq!(e["can_multi_conn"], true);
    assert_eq!(e["block_size_minimum"], 512);
    assert_eq!(e["block_size_preferred"], 4096);
    assert_eq!(e["block_size_maximum"], 4 << 20);
    let list = run("nbdinfo", &["--list", "--json", &s.uri]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v["exports"].as_array().unwrap().len(), 1);
    assert_eq!(v["exports"][0]["export-name"], "fwring");
}

#[test]
fn nbdsh_reads_writes_flushes_trims_and_zeroes() {
    let dir = TempDir::new("nbdsh");
    let s = serve(&dir);
    let script = r#"
assert h.get_size() > 4 * 1024 * 1024
buf = bytes(range(256)) * 16
h.pwrite(buf, 8192, nbd.CMD_FLAG_FUA)
assert h.pread(4096, 8192) == buf
h.flush()
h.zero(4096, 8192)
assert h.pread(4096, 8192) == bytes(4096)
h.trim(4096, 0)
try:
    h.pread(512, h.get_size())
    raise Exception("read past the end succeeded")
except nbd.Error as e:
    assert e.errno == "EINVAL", e.errno
print("ok")
"#;
    let out = run("nbdsh", &["-u", &s.uri, "-c", script]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}
