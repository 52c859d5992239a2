//! Shared scaffolding of the FTL tests: a power-cut flash, a model of the device (a
//! plain array of blocks), workloads, and the check of the power-cut guarantee.
#![allow(dead_code)]

use fwring_hal::ftl::{Blocking, Ftl, FtlConfig, FtlError, block_on};
use fwring_hal::sim::{MemFlash, PowerCut};

/// 4-byte program words, 4 KiB erase blocks.
pub type Chip = PowerCut<4, 4096>;
pub type Dev = Ftl<Blocking<Chip>>;
pub type Err = FtlError<embedded_storage::nor_flash::NorFlashErrorKind>;

pub fn leak(n: usize) -> &'static mut [u8] {
    vec![0u8; n].leak()
}

/// A fresh (erased) chip of `bytes`.
pub fn chip(bytes: usize, seed: u64) -> Chip {
    let mut f = MemFlash::new(leak(bytes));
    f.erase_all();
    PowerCut::new(f, vec![0u32; bytes / 4096].leak(), seed)
}

pub fn format(chip: Chip, cfg: &FtlConfig) -> Dev {
    format_with(chip, leak(64 * 1024), cfg)
}

/// Format `chip` (erased first, powered) with `ram`.
pub fn format_with(mut chip: Chip, ram: &'static mut [u8], cfg: &FtlConfig) -> Dev {
    chip.revive();
    chip.flash_mut().erase_all();
    block_on(Ftl::format(Blocking(chip), cfg, ram)).unwrap()
}

/// Power back on and mount again.
pub fn remount(dev: Dev) -> Dev {
    let (mut flash, ram) = dev.into_parts();
    flash.0.revive();
    block_on(Ftl::mount(flash, ram)).unwrap_or_else(|r| panic!("mount refused: {:?}", r.error))
}

/// xorshift64*.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The contents of block `lba` at write number `ver`: unique to both, so a block that
/// reads another block's data (or an older write's) is caught.
pub fn block_data(bs: usize, lba: u32, ver: u64) -> Vec<u8> {
    let mut r = Rng(u64::from(lba) << 32 ^ ver ^ 0x9e37_79b9_7f4a_7c15);
    let mut v: Vec<u8> = (0..bs).map(|_| r.next() as u8).collect();
    v[..4].copy_from_slice(&lba.to_le_bytes());
    v[4..12].copy_from_slice(&ver.to_le_bytes());
    v
}

/// One host request.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    Write { lba: u32, n: u32, fua: bool },
    Discard { lba: u32, n: u32 },
    Flush,
}

/// `count` random requests over `blocks` blocks: mostly writes of 1–`max_n` blocks,
/// some discards and flushes. `hot`: 90 % of writes go to the first 10 % of blocks.
pub fn workload(seed: u64, blocks: u32, count: usize, max_n: u32, hot: bool) -> Vec<Step> {
    let mut r = Rng(seed | 1);
    (0..count)
        .map(|_| {
            let n = 1 + r.below(u64::from(max_n)) as u32;
            let span = if hot && r.below(10) < 9 { (blocks / 10).max(n) } else { blocks };
            let lba = r.below(u64::from(span - n + 1)) as u32;
            match r.below(20) {
                0 => Step::Discard { lba, n },
                1 => Step::Flush,
                k => Step::Write { lba, n, fua: k % 2 == 0 },
            }
        })
        .collect()
}

/// The model: what every block must read.
pub struct Model {
    pub bs: usize,
    pub blocks: Vec<Vec<u8>>,
    /// Blocks of the request in flight at a cut: (lba, the value it may have instead).
    pub inflight: Vec<(u32, Vec<u8>)>,
    pub ver: u64,
}

impl Model {
    pub fn new(bs: usize, blocks: u32) -> Self {
        Model { bs, blocks: vec![vec![0; bs]; blocks as usize], inflight: Vec::new(), ver: 0 }
    }

    /// Run `step` on `dev`: on success the model follows; on failure (a cut) the
    /// request's blocks may hold either value.
    pub fn apply(&mut self, dev: &mut Dev, step: Step) -> Result<(), Err> {
        self.inflight.clear();
        match step {
            Step::Write { lba, n, .. } => {
                let mut data = Vec::new();
                for i in 0..n {
                    self.ver += 1;
                    let d = block_data(self.bs, lba + i, self.ver);
                    data.extend_from_slice(&d);
                    self.inflight.push((lba + i, d));
                }
                // Two segments, cut off-word, as a scatter-gather request brings them.
                let cut = self.bs / 2 + 2;
                block_on(dev.write(lba, &[&data[..cut], &data[cut..]]))?;
            }
            Step::Discard { lba, n } => {
                for i in 0..n {
                    self.inflight.push((lba + i, vec![0; self.bs]));
                }
                block_on(dev.discard(lba, n))?;
            }
            Step::Flush => block_on(dev.flush())?,
        }
        for (lba, d) in self.inflight.drain(..) {
            self.blocks[lba as usize] = d;
        }
        Ok(())
    }

    /// After a mount: every block reads its model value, or (a block of the request cut
    /// short) the new value; the check passes. The model takes what was read.
    pub fn verify(&mut self, dev: &mut Dev) {
        let mut buf = vec![0u8; self.bs];
        for lba in 0..self.blocks.len() as u32 {
            block_on(dev.read_blocks(lba, &mut buf)).unwrap_or_else(|e| panic!("read {lba}: {e:?}"));
            if buf == self.blocks[lba as usize] {
                continue;
            }
            match self.inflight.iter().find(|(l, _)| *l == lba) {
                Some((_, new)) if *new == buf => self.blocks[lba as usize] = buf.clone(),
                _ => panic!("block {lba} reads neither its acknowledged nor its in-flight value: {:?}", &buf[..12]),
            }
        }
        self.inflight.clear();
        block_on(dev.check()).unwrap_or_else(|e| panic!("check: {e:?}"));
    }
}
