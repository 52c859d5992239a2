//! Random SQE batches from a small, dependency-free, seedable generator, so every
//! failure can be replayed from its seed.

use fwring::{NopFlags, Sqe, SqeFlags, bpf_op_flags, opcode};

/// xorshift64* — deterministic, seedable, good enough to spread test cases.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `pct`%.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// What kinds of SQE a batch may contain.
#[derive(Clone, Copy, Debug)]
pub struct Mix {
    /// Include IORING_OP_BPF SQEs (fwring and the model only: the kernel lacks the op).
    pub bpf: bool,
    /// Include opcodes fwring does not build in (the kernel would run them: never send
    /// those to the kernel).
    pub unsupported: bool,
    /// Only NOPs that cannot fail at submit: flags LINK and HARDLINK only, `nop_flags` 0
    /// or INJECT_RESULT, no ioprio, no personality — link chains of every shape,
    /// failures from injected results (what the ring's NOP chain run takes inline).
    pub plain_nops: bool,
}

/// Random SQE flags, weighted towards links.
pub fn flags(rng: &mut Rng) -> u8 {
    let mut f = 0u8;
    for (bit, pct) in [
        (SqeFlags::IO_LINK.bits(), 35),
        (SqeFlags::IO_HARDLINK.bits(), 10),
        (SqeFlags::IO_DRAIN.bits(), 8),
        (SqeFlags::CQE_SKIP_SUCCESS.bits(), 12),
        (SqeFlags::ASYNC.bits(), 6),
        (SqeFlags::FIXED_FILE.bits(), 6),
        (SqeFlags::BUFFER_SELECT.bits(), 2),
        (0x80, 2),
    ] {
        if rng.chance(pct) {
            f |= bit;
        }
    }
    f
}

fn result(rng: &mut Rng) -> i32 {
    match rng.below(8) {
        0 => 0,
        1 => 42,
        2 => -5,
        3 => -125,
        4 => i32::MIN,
        5 => i32::MAX,
        _ => rng.next_u64() as i32,
    }
}

/// One random SQE with user_data `ud`.
pub fn sqe(rng: &mut Rng, ud: u64, mix: Mix) -> Sqe {
    let mut s = Sqe::nop().user_data(ud);
    if mix.plain_nops {
        s.flags = flags(rng) & SqeFlags::LINKS.bits();
        s.len = result(rng) as u32;
        if rng.chance(30) {
            s.op_flags = NopFlags::INJECT_RESULT.bits();
        }
        return s;
    }
    s.flags = flags(rng);
    s.off = rng.next_u64();
    s.addr = rng.next_u64();
    s.addr3 = rng.next_u64();
    s.len = result(rng) as u32;
    match rng.below(100) {
        0..=54 => {}
        55..=79 => s.op_flags = NopFlags::INJECT_RESULT.bits(),
        80..=91 => {
            // One or two of the other NOP flags.
            let all = [
                NopFlags::FILE,
                NopFlags::FIXED_FILE,
                NopFlags::FIXED_BUFFER,
                NopFlags::TW,
                NopFlags::CQE32,
                NopFlags::INJECT_RESULT,
            ];
            s.op_flags = rng.pick(&all).bits() | rng.pick(&all).bits();
            s.fd = -1;
        }
        _ => s.op_flags = 1 << (6 + rng.below(26)),
    }
    if rng.chance(3) {
        s.ioprio = 1 + rng.below(7) as u16;
    }
    if rng.chance(3) {
        s.personality = 1 + rng.below(3) as u16;
    }
    let roll = rng.below(100);
    if roll < 8 {
        s.opcode = rng.pick(&[opcode::NOP128, opcode::URING_CMD128, opcode::LAST, 100, 200, 255]);
    } else if mix.bpf && roll < 30 {
        let slot = rng.pick(&[0u8, 1, 7, 3, 15, 16, 200]);
        s.opcode = opcode::BPF;
        s.op_flags = bpf_op_flags(slot, rng.below(16) as u32);
        s.fd = -1;
    } else if mix.unsupported && roll < 36 {
        // Opcodes fwring does not build in (timeouts and cancel it does).
        let op = 1 + rng.below(62) as u8;
        let built_in = [opcode::TIMEOUT, opcode::TIMEOUT_REMOVE, opcode::ASYNC_CANCEL, opcode::LINK_TIMEOUT];
        s.opcode = if built_in.contains(&op) { opcode::READV } else { op };
    }
    s
}

/// A batch of `1..=max` random SQEs with unique user_data.
pub fn batch(rng: &mut Rng, max: usize, mix: Mix) -> Vec<Sqe> {
    let n = 1 + rng.below(max as u64) as usize;
    let tag = rng.next_u64() << 16;
    (0..n).map(|i| sqe(rng, tag | i as u64, mix)).collect()
}

/// A batch of raw random bytes, 64 per SQE. Timeout and cancel opcodes (whose requests
/// wait for time the model does not have) become READV.
pub fn raw_batch(rng: &mut Rng, max: usize) -> Vec<Sqe> {
    let n = 1 + rng.below(max as u64) as usize;
    (0..n)
        .map(|_| {
            let mut b = [0u8; 64];
            for chunk in b.chunks_mut(8) {
                chunk.copy_from_slice(&rng.next_u64().to_ne_bytes());
            }
            let mut s: Sqe = zerocopy::transmute!(b);
            if matches!(
                s.opcode,
                opcode::TIMEOUT | opcode::TIMEOUT_REMOVE | opcode::ASYNC_CANCEL | opcode::LINK_TIMEOUT
            ) {
                s.opcode = opcode::READV;
            }
            s
        })
        .collect()
}
