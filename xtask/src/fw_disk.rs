//! virtio-blk disks for the RISC-V (QEMU virt) firmware: the suite's three test disks,
//! written before QEMU starts and checked byte for byte after it exits, and a user's
//! image for `fw-run --disk FILE`.
//!
//! The test disks' contents and sizes are the firmware's (firmware-example/src/virtio.rs
//! `disk_byte` / `written_byte`, src/suite_virtio.rs for the layout); they are repeated
//! here on purpose — the host side is an independent check of what the firmware did.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::describe;

/// Whether the board has virtio-mmio transports (QEMU virt).
pub fn has_virtio(triple: &str) -> bool {
    triple.starts_with("riscv")
}

/// Byte `off` of a test disk as written before the run (firmware: `virtio::disk_byte`).
pub fn disk_byte(off: u64) -> u8 {
    ((off >> 9) as u8).wrapping_mul(31) ^ (off as u8).wrapping_mul(7) ^ 0xa5
}

/// Byte `off` of what the firmware writes (firmware: `virtio::written_byte`).
pub fn written_byte(off: u64) -> u8 {
    (off as u8).wrapping_mul(13) ^ ((off >> 9) as u8) ^ 0x3c
}

/// Disk 0's sectors (read-write), disks 1 (read-only) and 2 (blkdebug).
const DISK0_SECTORS: u64 = 2048;
const SMALL_SECTORS: u64 = 128;
/// Disk 2: reads covering this sector fail (blkdebug inject-error, EIO).
const BAD_SECTOR: u64 = 8;
/// Where the firmware writes on disk 0: 8 KiB at sector 100, and the last sector.
const WRITE_OFF: u64 = 100 * 512;
const WRITE_LEN: u64 = 8192;

/// The three test disks of one run.
pub struct TestDisks {
    dir: PathBuf,
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let what = describe(cmd);
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{what}: {} {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl TestDisks {
    /// Create the images in `dir` (replacing earlier ones): `qemu-img create`, then the
    /// known bytes written into them with `dd conv=notrunc`.
    pub fn create(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let d = TestDisks { dir: dir.to_path_buf() };
        for (name, sectors) in d.images() {
            let img = d.dir.join(name);
            let _ = std::fs::remove_file(&img);
            run(Command::new("qemu-img")
                .args(["create", "-q", "-f", "raw"])
                .arg(&img)
                .arg((sectors * 512).to_string()))?;
            let pattern = d.dir.join(format!("{name}.pattern"));
            let bytes: Vec<u8> = (0..sectors * 512).map(disk_byte).collect();
            std::fs::write(&pattern, bytes).map_err(|e| format!("{}: {e}", pattern.display()))?;
            run(Command::new("dd")
                .arg(format!("if={}", pattern.display()))
                .arg(format!("of={}", img.display()))
                .args(["bs=64k", "conv=notrunc,fsync", "status=none"]))?;
            std::fs::remove_file(&pattern).map_err(|e| format!("{}: {e}", pattern.display()))?;
        }
        let conf =
            format!("[inject-error]\nevent = \"read_aio\"\nerrno = \"5\"\nsector = \"{BAD_SECTOR}\"\nonce = \"off\"\n");
        std::fs::write(d.dir.join("blkdebug.conf"), conf).map_err(|e| e.to_string())?;
        Ok(d)
    }

    fn images(&self) -> [(&'static str, u64); 3] {
        [("disk0.img", DISK0_SECTORS), ("disk1-ro.img", SMALL_SECTORS), ("disk2-blkdebug.img", SMALL_SECTORS)]
    }

    /// QEMU arguments: disk 0 read-write, disk 1 `readonly=on`, disk 2 through blkdebug,
    /// on virtio-mmio transports 0, 1, 2 (PLIC sources 1, 2, 3), modern (virtio 1.0)
    /// transports.
    pub fn qemu_args(&self) -> Vec<String> {
        let p = |n: &str| self.dir.join(n).display().to_string();
        let mut a = vec!["-global".to_string(), "virtio-mmio.force-legacy=false".to_string()];
        let drives = [
            format!("file={},if=none,format=raw,id=d0", p("disk0.img")),
            format!("file={},if=none,format=raw,id=d1,readonly=on", p("disk1-ro.img")),
            format!(
                "file=blkdebug:{}:{},if=none,format=raw,id=d2,rerror=report",
                p("blkdebug.conf"),
                p("disk2-blkdebug.img")
            ),
        ];
        for (i, drive) in drives.into_iter().enumerate() {
            a.extend(["-drive".to_string(), drive]);
            a.extend(["-device".to_string(), format!("virtio-blk-device,drive=d{i},bus=virtio-mmio-bus.{i}")]);
        }
        a
    }

    /// After the run: disk 0 holds the image's bytes except what the firmware wrote —
    /// `written_byte`s over `WRITE_OFF..+WRITE_LEN` and over the last sector — and disks
    /// 1 and 2 are unchanged; byte for byte.
    pub fn check(&self) -> Result<(), String> {
        for (name, sectors) in self.images() {
            let img = self.dir.join(name);
            let got = std::fs::read(&img).map_err(|e| format!("{}: {e}", img.display()))?;
            let size = sectors * 512;
            if got.len() as u64 != size {
                return Err(format!("{name}: {} bytes, want {size}", got.len()));
            }
            let written = |off: u64| {
                name == "disk0.img" && ((WRITE_OFF..WRITE_OFF + WRITE_LEN).contains(&off) || off >= size - 512)
            };
            let bad: Vec<u64> = (0..size)
                .filter(|&off| {
                    let want = if written(off) { written_byte(off) } else { disk_byte(off) };
                    got[off as usize] != want
                })
                .collect();
            if let Some(first) = bad.first() {
                return Err(format!(
                    "{name}: {} byte(s) differ from what the firmware should have left, first at {first}",
                    bad.len()
                ));
            }
        }
        Ok(())
    }
}

/// QEMU arguments attaching a user's image as disk 0 (format from `qemu-img info`).
pub fn user_disk_args(file: &Path) -> Result<Vec<String>, String> {
    if !file.is_file() {
        return Err(format!("--disk {}: no such file", file.display()));
    }
    let out = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("qemu-img info: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "--disk {}: qemu-img info: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let info = String::from_utf8_lossy(&out.stdout);
    let format = info
        .split("\"format\":")
        .nth(1)
        .and_then(|r| r.split('"').nth(1))
        .ok_or_else(|| format!("--disk {}: qemu-img info gave no format", file.display()))?
        .to_string();
    let path = file.canonicalize().map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(vec![
        "-global".into(),
        "virtio-mmio.force-legacy=false".into(),
        "-drive".into(),
        format!("file={},if=none,format={format},id=d0", path.display()),
        "-device".into(),
        "virtio-blk-device,drive=d0,bus=virtio-mmio-bus.0".into(),
    ])
}

/// CRC-32C (Castagnoli) bit by bit, to print beside the firmware's.
pub fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
        }
    }
    !crc
}
