//! FTL benchmark: write amplification, erases and flash operations per request under
//! random 4 KiB writes at 50 % and 90 % fill, RAM for a 16 MiB and a 1 GiB flash, mount
//! cost after a cut, and the in-place `BlockDev` on the same workload (erases, and
//! blocks lost at power cuts). Deterministic (simulated flash); run with
//! `cargo run --release -p fwring-hal --example ftl_bench`.

use fwring_hal::blk::BlockDev;
use fwring_hal::ftl::{Blocking, Ftl, FtlConfig, Geometry, block_on};
use fwring_hal::sim::{MemFlash, PowerCut};

const MIB: usize = 1024 * 1024;
const BS: usize = 4096;
type Chip = PowerCut<4, 4096>;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn leak(n: usize) -> &'static mut [u8] {
    vec![0u8; n].leak()
}

fn chip(bytes: usize) -> Chip {
    let mut f = MemFlash::new(leak(bytes));
    f.erase_all();
    PowerCut::new(f, vec![0u32; bytes / 4096].leak(), 5)
}

/// 16 erase blocks (64 KiB) per segment: 15 slots of 4 KiB blocks.
fn config() -> FtlConfig {
    FtlConfig::new(BS as u32).erase_per_seg(16).op_percent(0)
}

fn data(lba: u32, ver: u64) -> Vec<u8> {
    let mut v = vec![(ver as u8) ^ (lba as u8); BS];
    v[..4].copy_from_slice(&lba.to_le_bytes());
    v[4..12].copy_from_slice(&ver.to_le_bytes());
    v
}

/// Random 4 KiB writes over the first `fill` of the flash's slots.
fn ftl_fill(fill: f64) {
    let mut dev = block_on(Ftl::format(Blocking(chip(16 * MIB)), &config(), leak(64 * 1024))).unwrap();
    let g = *dev.geometry();
    let live = ((f64::from(g.segs * g.slots_per_seg) * fill) as u32).min(dev.blocks());
    for lba in 0..live {
        block_on(dev.write_blocks(lba, &data(lba, 0))).unwrap();
    }
    let mut r = Rng(99);
    // Warm up two device-fulls, then measure four.
    for i in 0..2 * live {
        let lba = (r.next() % u64::from(live)) as u32;
        block_on(dev.write_blocks(lba, &data(lba, u64::from(i)))).unwrap();
    }
    dev.reset_stats();
    let wear0: Vec<u32> = dev.flash().0.erase_counts().to_vec();
    let n = 4 * live;
    for i in 0..n {
        let lba = (r.next() % u64::from(live)) as u32;
        block_on(dev.write_blocks(lba, &data(lba, u64::from(i)))).unwrap();
    }
    let s = dev.stats();
    let wear: Vec<u32> = dev.flash().0.erase_counts().iter().zip(&wear0).map(|(a, b)| a - b).collect();
    let (lo, hi) = (wear.iter().min().unwrap(), wear.iter().max().unwrap());
    dev.reset_stats();
    let mut buf = vec![0u8; BS];
    for _ in 0..1000 {
        let lba = (r.next() % u64::from(live)) as u32;
        block_on(dev.read_blocks(lba, &mut buf)).unwrap();
    }
    let rd = dev.stats();
    eprintln!("FTL {:.0} % fill: {:.2} flash reads per 4 KiB read request", fill * 100.0, rd.reads as f64 / 1000.0);
    println!(
        "| FTL | {:.0} % ({live} of {} slots) | {:.2} | {:.3} | {:.2} | {:.2} | {:.2} | {lo}..{hi} |",
        fill * 100.0,
        g.segs * g.slots_per_seg,
        s.bytes_programmed as f64 / (u64::from(n) * BS as u64) as f64,
        s.erases as f64 * 16.0 / f64::from(n),
        s.programs as f64 / f64::from(n),
        s.reads as f64 / f64::from(n),
        (s.reads + s.programs + s.erases) as f64 / f64::from(n),
    );
}

/// The same random 4 KiB writes on the in-place block device (write-back of each block
/// at once, as FUA): every write erases its erase block.
fn blockdev_fill(fill: f64) {
    let mut f: MemFlash<4, 4096> = MemFlash::new(leak(16 * MIB));
    f.erase_all();
    let mut dev = BlockDev::with_cache(f, BS as u32, leak(BS)).unwrap();
    let live = (f64::from(dev.blocks()) * fill) as u32;
    for lba in 0..live {
        dev.write_blocks(lba, &data(lba, 0)).unwrap();
    }
    dev.flush().unwrap();
    let mut r = Rng(99);
    let n = 4 * live;
    let before = dev.flash().stats();
    for i in 0..n {
        let lba = (r.next() % u64::from(live)) as u32;
        dev.write_blocks(lba, &data(lba, u64::from(i))).unwrap();
        dev.flush().unwrap();
    }
    let s = dev.flash().stats();
    let (prog, erases, reads) =
        (s.bytes_programmed - before.bytes_programmed, s.erases - before.erases, s.reads - before.reads);
    let programs = s.programs - before.programs;
    println!(
        "| BlockDev | {:.0} % | {:.2} | {:.3} | {:.2} | {:.2} | {:.2} | (in place) |",
        fill * 100.0,
        prog as f64 / (u64::from(n) * BS as u64) as f64,
        f64::from(erases) / f64::from(n),
        f64::from(programs) / f64::from(n),
        f64::from(reads) / f64::from(n),
        f64::from(programs + erases + reads) / f64::from(n),
    );
}

/// Cut power `cuts` times at random points of a random-write run; count blocks that
/// read neither their acknowledged nor their in-flight contents.
fn ftl_cuts(cuts: u32) -> (u32, u64, u64) {
    let mut dev = block_on(Ftl::format(Blocking(chip(16 * MIB)), &config(), leak(64 * 1024))).unwrap();
    let live = dev.blocks() * 9 / 10;
    let mut model: Vec<u64> = vec![u64::MAX; live as usize];
    let mut r = Rng(7);
    let (mut lost, mut reads, mut bytes) = (0, 0, 0);
    let mut ver = 0;
    for _ in 0..cuts {
        dev.flash_mut().0.arm((r.next() % 3000) as u32);
        let inflight = loop {
            let lba = (r.next() % u64::from(live)) as u32;
            ver += 1;
            if block_on(dev.write_blocks(lba, &data(lba, ver))).is_err() {
                break (lba, ver);
            }
            model[lba as usize] = ver;
        };
        let (mut flash, ram) = dev.into_parts();
        flash.0.revive();
        dev = block_on(Ftl::mount(flash, ram)).unwrap();
        reads += dev.stats().reads;
        bytes += dev.stats().bytes_read;
        let mut buf = vec![0u8; BS];
        for lba in 0..live {
            block_on(dev.read_blocks(lba, &mut buf)).unwrap();
            let v = model[lba as usize];
            let ok = if v == u64::MAX { buf.iter().all(|&b| b == 0) } else { buf == data(lba, v) };
            if !ok {
                if (lba, ver) == inflight && buf == data(lba, ver) {
                    model[lba as usize] = ver;
                } else {
                    lost += 1;
                }
            }
        }
    }
    (lost, reads / u64::from(cuts), bytes / u64::from(cuts))
}

fn blockdev_cuts(cuts: u32) -> u32 {
    let mut f = chip(16 * MIB);
    f.flash_mut().erase_all();
    let mut dev = BlockDev::with_cache(f, BS as u32, leak(BS)).unwrap();
    let live = dev.blocks() * 9 / 10;
    // What each block must read: its acknowledged contents (erased at first).
    let mut model: Vec<Vec<u8>> = vec![vec![0xff; BS]; live as usize];
    let mut r = Rng(7);
    let mut lost = 0;
    let mut ver = 0;
    for _ in 0..cuts {
        dev.flash_mut().arm((r.next() % 3000) as u32);
        let inflight = loop {
            let lba = (r.next() % u64::from(live)) as u32;
            ver += 1;
            if dev.write_blocks(lba, &data(lba, ver)).and_then(|()| dev.flush()).is_err() {
                break (lba, data(lba, ver));
            }
            model[lba as usize] = data(lba, ver);
        };
        let (mut flash, scratch) = dev.into_parts();
        flash.revive();
        dev = BlockDev::with_cache(flash, BS as u32, scratch.unwrap()).unwrap();
        let mut buf = vec![0u8; BS];
        for lba in 0..live {
            dev.read_blocks(lba, &mut buf).unwrap();
            if buf != model[lba as usize] {
                if !(lba == inflight.0 && buf == inflight.1) {
                    lost += 1;
                }
                // Count each loss once: from now on the block holds what it reads.
                model[lba as usize] = buf.clone();
            }
        }
    }
    lost
}

fn ram(capacity: usize) -> (u32, usize) {
    let g = Geometry::new::<()>(capacity, 4096, 4, 1, &FtlConfig::new(BS as u32).erase_per_seg(16)).unwrap();
    (g.blocks, g.ram_needed() + size_of::<Ftl<Blocking<MemFlash<4, 4096>>>>())
}

fn main() {
    println!("Random 4 KiB writes on a 16 MiB NOR flash (4 KiB erase blocks, 4-byte words),");
    println!("4 device-fulls measured after 2 of warm-up. Per host write:");
    println!();
    println!(
        "| layer | fill | write amplification | erase blocks erased | programs | reads | flash ops | erases per segment (min..max) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for fill in [0.5, 0.9] {
        ftl_fill(fill);
        blockdev_fill(fill);
    }
    println!();
    for cap in [16 * MIB, 1024 * MIB] {
        let (blocks, bytes) = ram(cap);
        println!("RAM, {} MiB flash ({blocks} blocks of 4 KiB): {bytes} bytes", cap / MIB);
    }
    let cuts = 100;
    let (lost, reads, bytes) = ftl_cuts(cuts);
    println!();
    println!("Power cuts at {cuts} random points of random 4 KiB writes at 90 % fill:");
    println!("FTL: blocks lost {lost}; mount after a cut: {reads} flash reads, {bytes} bytes read");
    println!("BlockDev: blocks lost {}", blockdev_cuts(cuts));
}
