//! Zero-copy buffers and the shipped ops: CONFORMANCE.md §10 (C-BUF), the series'
//! bpf_ext_memcpy selftest ported (C-BPF-20), and every bad input the ops must turn into
//! a negative-errno CQE.

use fwring::ops::copy::Memcpy;
use fwring::ops::crc32c::{Crc32c, VERIFY, crc32c};
use fwring::ops::decompress::Lz4;
use fwring::ops::inject::{Faulty, Inject, InjectRule};
use fwring::ops::{CHAIN_LEN, buf_sqe};
use fwring::{
    ArgRecord, BufDesc, ChainData, Cqe, Dir, Errno, IoVec, Issue, IssueCx, NopFlags, Op, OpVTable, PrepCx, Region,
    Ring, Setup, SetupFlags, Sqe, vtable,
};
use fwring_tests::res::*;
use fwring_tests::*;
use zerocopy::IntoBytes;

type R = Ring<32, 64, 32, 4>;

/// Memory that lives for the rest of the test process, as DMA memory lives for the
/// firmware's.
fn mem(len: usize, fill: u8) -> &'static mut [u8] {
    Box::leak(vec![fill; len].into_boxed_slice())
}

fn addr(m: &[u8]) -> u64 {
    m.as_ptr() as u64
}

fn ring() -> R {
    let mut r = R::new();
    r.setup(Setup::new(32).flags(SetupFlags::BPF_EXT | SetupFlags::SUBMIT_ALL)).unwrap();
    r
}

const COPY: u8 = 3;
const CRC: u8 = 4;
const LZ4: u8 = 5;
const INJECT: u8 = 6;
const FAULTY_LZ4: u8 = 7;
static OPS: [OpVTable; 5] = [
    vtable::<Memcpy>(COPY),
    vtable::<Crc32c>(CRC),
    vtable::<Lz4>(LZ4),
    vtable::<Inject>(INJECT),
    vtable::<Faulty<Lz4, 1>>(FAULTY_LZ4),
];

fn ring_with_ops() -> R {
    let mut r = ring();
    for t in &OPS {
        r.register_op(t).unwrap();
    }
    r
}

// ------------------------------------------------------------ registration (C-BUF-1..4, 12)

#[test]
fn register_rules_c_buf_1_2_3_4() {
    let mut r = ring();
    let e = r.register_buffers::<0>([]).unwrap_err();
    assert_eq!(e.errno, Errno::EINVAL, "C-BUF-1: 0 buffers");
    assert_eq!(r.unregister_buffers().unwrap_err(), Errno::ENXIO, "C-BUF-3: no table");
    let e = r.register_buffers([Region::new(mem(0, 0))]).unwrap_err();
    assert_eq!(e.errno, Errno::EFAULT, "C-BUF-4: zero-length region");
    assert_eq!(e.back[0].len(), 0, "rejected regions come back");
    let seventeen: [Region; 17] = core::array::from_fn(|_| Region::new(mem(16, 0)));
    assert_eq!(r.register_buffers(seventeen).unwrap_err().errno, Errno::EINVAL, "C-BUF-4: too many");
    r.register_buffers([Region::new(mem(4096, 0))]).unwrap();
    let e = r.register_buffers([Region::new(mem(4096, 0))]).unwrap_err();
    assert_eq!(e.errno, Errno::EBUSY, "C-BUF-2: table exists");
    let back = r.unregister_buffers().unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].len(), 4096);
    // Sparse tables and updates.
    r.register_buffers_sparse(4).unwrap();
    assert!(r.update_buffer(1, Region::new(mem(64, 0))).unwrap().is_none());
    assert_eq!(r.update_buffer(4, Region::new(mem(64, 0))).unwrap_err().errno, Errno::EINVAL, "bad index");
    assert!(r.buffers().contains(1) && !r.buffers().contains(0));
    assert_eq!(r.buffer_mut(0), Err(Errno::EINVAL));
    r.buffer_mut(1).unwrap()[0] = 7;
    assert_eq!(r.buffers().get(1).unwrap().bytes()[0], 7);
}

#[test]
fn nop_fixed_buffer_looks_up_the_table_c_nop_9() {
    let mut r = ring();
    let nop_fb = |ud, idx| Sqe { op_flags: NopFlags::FIXED_BUFFER.bits(), buf_index: idx, ..nop(ud, NONE) };
    assert_eq!(run(&mut r, &[nop_fb(1, 0)]).1, [(1, EFAULT)]);
    r.register_buffers([Region::new(mem(64, 0))]).unwrap();
    assert_eq!(run(&mut r, &[nop_fb(2, 0), nop_fb(3, 1)]).1, [(2, 0), (3, EFAULT)]);
}

// ------------------------------------------------------------ descriptors and imports

/// Imports descriptor A with the direction in op flag bit 0 (1 = source) and completes
/// with the total length it sees at issue — or with the errno import gave.
struct Probe;
impl Op for Probe {
    type Pdu = u32;
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<u32, Errno> {
        let dir = if cx.info().private_flags() & 1 != 0 { Dir::Source } else { Dir::Dest };
        cx.import(&BufDesc::sqe_a(sqe), dir)?;
        Ok(cx.info().private_flags())
    }
    fn issue(cx: &mut IssueCx<'_>, flags: &mut u32) -> Issue {
        let n = {
            let mut io = cx.io().unwrap();
            if *flags & 1 != 0 { io.source(0).unwrap().len() } else { io.dest(0).unwrap().len() }
        };
        cx.set_result(n as i32);
        Issue::Done
    }
}
static PROBE: OpVTable = vtable::<Probe>(9);

fn probe(ud: u64, desc: BufDesc, dir: Dir) -> Sqe {
    buf_sqe(9, (dir == Dir::Source) as u32, &desc, None).user_data(ud)
}

#[test]
fn descriptor_errors_c_buf_5_to_9_c_buf_13() {
    let mut r = ring();
    r.register_op(&PROBE).unwrap();
    let a = mem(4096, 0);
    let b = mem(4096, 0);
    let ro = mem(256, 0);
    let (aa, ba, roa) = (addr(a), addr(b), addr(ro));
    r.register_buffers([Region::new(a), Region::new(b), Region::new(ro).source_only()]).unwrap();
    let outside = mem(64, 0);
    let cases = [
        (1, BufDesc::user(aa + 100, 200), Dir::Dest, 200),
        (2, BufDesc::fixed(1, ba, 4096), Dir::Source, 4096),
        (3, BufDesc::kfixed(1, 4000, 96), Dir::Dest, 96),
        (4, BufDesc::fixed(1, ba + 4000, 97), Dir::Dest, EFAULT), // C-BUF-6: past the end
        (5, BufDesc::fixed(1, ba - 1, 10), Dir::Dest, EFAULT),    // C-BUF-6: before the start
        (6, BufDesc::fixed(7, ba, 10), Dir::Dest, EFAULT),        // C-BUF-9: not registered
        (7, BufDesc::fixed(2, roa, 10), Dir::Dest, EFAULT),       // C-BUF-9: direction refused
        (8, BufDesc::fixed(2, roa, 10), Dir::Source, 10),
        (9, BufDesc { ty: 5, ..BufDesc::user(aa, 10) }, Dir::Dest, EINVAL), // C-BUF-7
        (10, BufDesc::user(aa, 0), Dir::Dest, EINVAL),                      // zero length
        (11, BufDesc::user(addr(outside), 8), Dir::Source, EFAULT),         // not ring memory
        (12, BufDesc::user(aa + 4090, 10), Dir::Dest, EFAULT),              // straddles the end
        (13, BufDesc::kfixed(0, u64::MAX, 10), Dir::Dest, EFAULT),          // offset overflow
    ];
    let sqes: Vec<Sqe> = cases.iter().map(|(ud, d, dir, _)| probe(*ud, *d, *dir)).collect();
    let want: Vec<(u64, i32)> = cases.iter().map(|(ud, _, _, res)| (*ud, *res)).collect();
    assert_eq!(run(&mut r, &sqes).1, want);
}

/// Imports descriptor A as a source and, at issue, asks for the view that op flag bits
/// 1..0 name: 0 → a destination view of that source, 1 → a source view of import 1
/// (never imported), 2 → the source view itself. Completes with its length or errno.
struct ViewRules;
impl Op for ViewRules {
    type Pdu = u32;
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<u32, Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Source)?;
        Ok(cx.info().private_flags() & 3)
    }
    fn issue(cx: &mut IssueCx<'_>, ask: &mut u32) -> Issue {
        let len = cx.io().and_then(|mut io| match *ask {
            0 => io.dest(0).map(|d| d.len()),
            1 => io.source(1).map(|s| s.len()),
            _ => io.source(0).map(|s| s.len()),
        });
        match len {
            Ok(n) => {
                cx.set_result(n as i32);
                Issue::Done
            }
            Err(e) => Issue::Err(e),
        }
    }
}
static VIEW_RULES: OpVTable = vtable::<ViewRules>(10);

#[test]
fn writable_view_of_a_source_is_eperm_missing_view_is_einval_c_buf_10() {
    let mut r = ring();
    r.register_op(&VIEW_RULES).unwrap();
    let m = mem(256, 7);
    let a = addr(m);
    r.register_buffers([Region::new(m)]).unwrap();
    let ask = |ud, what| buf_sqe(10, what, &BufDesc::user(a, 64), None).user_data(ud);
    assert_eq!(run(&mut r, &[ask(1, 0), ask(2, 1), ask(3, 2)]).1, [(1, Errno::EPERM.res()), (2, EINVAL), (3, 64)]);
}

#[test]
fn vectored_descriptors_and_segment_limits() {
    let mut r = ring();
    r.register_op(&PROBE).unwrap();
    let data = mem(8192, 0);
    let iovs = mem(16 * 10, 0);
    let (da, ia) = (addr(data), addr(iovs));
    let list: Vec<IoVec> = (0..10).map(|i| IoVec { base: da + i * 512, len: 100 }).collect();
    iovs.copy_from_slice(list.as_bytes());
    r.register_buffers([Region::new(data), Region::new(iovs)]).unwrap();
    let sqes = [
        probe(1, BufDesc::vec(ia, 5), Dir::Source),
        probe(2, BufDesc::reg_vec(0, ia, 8), Dir::Dest),
        probe(3, BufDesc::vec(ia, 9), Dir::Dest),          // too many segments
        probe(4, BufDesc::vec(ia, 0), Dir::Dest),          // none
        probe(5, BufDesc::reg_vec(1, ia, 2), Dir::Dest),   // entries outside buffer 1
        probe(6, BufDesc::vec(ia + 16 * 9, 2), Dir::Dest), // iovec array runs off its region
    ];
    assert_eq!(run(&mut r, &sqes).1, [(1, 500), (2, 800), (3, EINVAL), (4, EINVAL), (5, EFAULT), (6, EFAULT)]);
}

#[test]
fn overlapping_source_and_destination_is_einval_and_busy_ranges_ebusy_c_buf_12() {
    let mut r = ring_with_ops();
    let m = mem(8192, 1);
    let a = addr(m);
    r.register_buffers([Region::new(m)]).unwrap();
    let copy = |ud, src: BufDesc, dst: BufDesc, f| buf_sqe(COPY, 0, &src, Some(&dst)).user_data(ud).flags(f);
    let sqes = [
        copy(1, BufDesc::user(a, 100), BufDesc::user(a + 50, 100), NONE), // overlap: EINVAL
        // Chain A writes [4096, 4196) and keeps it until its last member ran...
        copy(2, BufDesc::user(a, 100), BufDesc::user(a + 4096, 100), L),
        nop(3, NONE),
        // ...so B, another chain, may neither read nor write it meanwhile,
        copy(4, BufDesc::user(a + 4096, 10), BufDesc::user(a + 6000, 10), NONE),
        copy(5, BufDesc::user(a + 200, 10), BufDesc::user(a + 4150, 10), NONE),
        // but sources are shared with other readers,
        copy(6, BufDesc::user(a, 100), BufDesc::user(a + 7000, 100), NONE),
        // and inside one chain members may share ranges: data flows along it.
        copy(7, BufDesc::user(a, 100), BufDesc::user(a + 5000, 100), L),
        copy(8, BufDesc::user(a + 5000, 100), BufDesc::user(a + 5500, 100), NONE),
    ];
    let c = run(&mut r, &sqes).1;
    assert_eq!(c, [(1, EINVAL), (2, 100), (4, EBUSY), (5, EBUSY), (6, 100), (7, 100), (3, 0), (8, 100)]);
    // Nothing in flight any more: the buffers can go.
    assert!(r.unregister_buffers().is_ok());
}

// ------------------------------------------------------------ the series' memcpy selftest

/// bpf_ext_memcpy, ported (C-BPF-20): `sqe.addr` → one descriptor in user memory,
/// `sqe.len` must be 1; op 0 copies the buffer into the arena (buffer SOURCE), op 1 the
/// arena into the buffer (buffer DEST). The arena is registered buffer 15.
struct ArenaCopy<const TO_ARENA: bool>;
impl<const TO_ARENA: bool> Op for ArenaCopy<TO_ARENA> {
    type Pdu = ();
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        if sqe.len != 1 {
            return Err(Errno::EINVAL);
        }
        let desc = cx.read_desc(sqe.addr)?;
        let arena = BufDesc::kfixed(15, 0, ARENA as u32);
        if TO_ARENA {
            cx.import(&desc, Dir::Source)?;
            cx.import(&arena, Dir::Dest)?;
        } else {
            cx.import(&arena, Dir::Source)?;
            cx.import(&desc, Dir::Dest)?;
        }
        Ok(())
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        let n = {
            let mut io = cx.io().unwrap();
            // Import 0 is always the source: the buffer (to arena) or the arena (from it).
            let (src, dst) = io.split(0, 1).unwrap();
            // The series copies page by page: iterate in ≤ 4096-byte chunks (C-BUF-11).
            let mut src = src.clone();
            let total = src.len();
            let chunks: usize = src.chunks(4096).inspect(|c| assert!(c.len() <= 4096)).map(|c| c.len()).sum();
            assert_eq!(chunks, total);
            src.truncate(dst.len());
            dst.copy_from(&src).unwrap()
        };
        cx.set_result(n as i32);
        Issue::Done
    }
}
const ARENA: usize = 512 * 2050;
static MEMCPY: [OpVTable; 2] = [vtable::<ArenaCopy<true>>(0), vtable::<ArenaCopy<false>>(1)];

#[test]
fn series_memcpy_selftest_all_types_both_directions_c_bpf_20_c_buf_11() {
    const LEN: usize = 512 * 2050; // 1,049,600 bytes
    const IOV: usize = LEN / 5; // 209,920
    let buf = mem(LEN, 0);
    let arena = mem(ARENA, 0);
    let ctl = mem(4096, 0); // descriptors and iovec arrays: "user memory"
    let (bufa, ctla) = (addr(buf), addr(ctl));
    let iovs: Vec<IoVec> = (0..5).map(|i| IoVec { base: bufa + (i * IOV) as u64, len: IOV as u64 }).collect();
    ctl[1024..1024 + 80].copy_from_slice(iovs.as_bytes());
    let descs = [
        ("USER", BufDesc::user(bufa, LEN as u32)),
        ("VEC", BufDesc::vec(ctla + 1024, 5)),
        ("FIXED", BufDesc::fixed(0, bufa, LEN as u32)),
        ("REG_VEC", BufDesc::reg_vec(0, ctla + 1024, 5)),
    ];
    let mut r = ring();
    r.register_op(&MEMCPY[0]).unwrap();
    r.register_op(&MEMCPY[1]).unwrap();
    r.register_buffers_sparse(16).unwrap();
    r.update_buffer(0, Region::new(buf)).unwrap();
    r.update_buffer(1, Region::new(ctl)).unwrap();
    r.update_buffer(15, Region::new(arena)).unwrap();
    let sqe = |op: u8, desc_at: u64, len: u32| Sqe { addr: desc_at, len, ..Sqe::bpf(op, 0).user_data(0xCAFE_BABE) };
    for to_arena in [true, false] {
        for (name, desc) in descs {
            r.buffer_mut(1).unwrap()[..16].copy_from_slice(desc.as_bytes());
            if to_arena {
                r.buffer_mut(0).unwrap().fill(0xAB);
                r.buffer_mut(15).unwrap().fill(0);
            } else {
                r.buffer_mut(15).unwrap().fill(0xAB);
                r.buffer_mut(0).unwrap().fill(0);
            }
            let (_, c) = run(&mut r, &[sqe(if to_arena { 0 } else { 1 }, ctla, 1)]);
            assert_eq!(c, [(0xCAFE_BABE, LEN as i32)], "{name} to_arena={to_arena}");
            let dst = if to_arena { r.buffers().get(15) } else { r.buffers().get(0) }.unwrap();
            assert!(dst.bytes()[..LEN].iter().all(|&b| b == 0xAB), "{name} to_arena={to_arena}: every byte");
        }
    }
    // Failure cases: len != 1, descriptor outside ring memory, bad type.
    let outside = mem(16, 0);
    let bad_type = BufDesc { ty: 9, ..descs[0].1 };
    r.buffer_mut(1).unwrap()[16..32].copy_from_slice(bad_type.as_bytes());
    let (_, c) = run(
        &mut r,
        &[sqe(0, ctla, 2).user_data(1), sqe(0, addr(outside), 1).user_data(2), sqe(0, ctla + 16, 1).user_data(3)],
    );
    assert_eq!(c, [(1, EINVAL), (2, EFAULT), (3, EINVAL)]);
}

// ------------------------------------------------------------ the shipped ops

fn lz4_block(data: &[u8]) -> Vec<u8> {
    lz4_flex::block::compress(data)
}

#[test]
fn copy_crc_lz4_each_work_in_place() {
    let mut r = ring_with_ops();
    let src = mem(10_000, 0);
    for (i, b) in src.iter_mut().enumerate() {
        *b = (i * 31 % 251) as u8;
    }
    let want_crc = crc32c(src);
    let text = b"fwring decompresses in place. ".repeat(200);
    let block = lz4_block(&text);
    let comp = mem(block.len(), 0);
    comp.copy_from_slice(&block);
    let dst = mem(16_384, 0);
    let crc_out = mem(4, 0);
    let (sa, ca, da, oa) = (addr(src), addr(comp), addr(dst), addr(crc_out));
    r.register_buffers([Region::new(src), Region::new(comp), Region::new(dst), Region::new(crc_out)]).unwrap();
    let u = BufDesc::user;
    let sqes = [
        buf_sqe(COPY, 0, &u(sa, 10_000), Some(&u(da, 10_000))).user_data(1),
        buf_sqe(CRC, 0, &u(sa, 10_000), Some(&u(oa, 4))).user_data(2),
        Sqe { len: want_crc, ..buf_sqe(CRC, VERIFY, &u(sa, 10_000), None).user_data(3) },
        Sqe { len: want_crc ^ 1, ..buf_sqe(CRC, VERIFY, &u(sa, 10_000), None).user_data(4) },
    ];
    assert_eq!(run(&mut r, &sqes).1, [(1, 10_000), (2, 10_000), (3, 0), (4, Errno::EBADMSG.res())]);
    assert_eq!(&r.buffers().get(2).unwrap().bytes()[..10_000], r.buffers().get(0).unwrap().bytes());
    assert_eq!(r.buffers().get(3).unwrap().bytes(), want_crc.to_le_bytes());
    let (_, c) = run(&mut r, &[buf_sqe(LZ4, 0, &u(ca, block.len() as u32), Some(&u(da, 16_384))).user_data(5)]);
    assert_eq!(c, [(5, text.len() as i32)]);
    assert_eq!(&r.buffers().get(2).unwrap().bytes()[..text.len()], &text[..]);
}

#[test]
fn lz4_and_copy_bad_input_give_errnos() {
    let mut r = ring_with_ops();
    let text = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabc0123456789".repeat(20);
    let block = lz4_block(&text);
    let good = mem(block.len(), 0);
    good.copy_from_slice(&block);
    let truncated = mem(block.len() - 3, 0);
    truncated.copy_from_slice(&block[..block.len() - 3]);
    let corrupt = mem(block.len(), 0);
    corrupt.copy_from_slice(&block);
    // A match whose offset reaches before the start of the output.
    let bad = [0x1fu8, b'x', 0xff, 0x7f, 0x00];
    corrupt[..bad.len()].copy_from_slice(&bad);
    let small = mem(text.len() - 1, 0);
    let big = mem(text.len() * 2, 0);
    let (ga, ta, ca, sa, ba) = (addr(good), addr(truncated), addr(corrupt), addr(small), addr(big));
    let (gl, tl, cl) = (good.len() as u32, truncated.len() as u32, corrupt.len() as u32);
    r.register_buffers([
        Region::new(good),
        Region::new(truncated),
        Region::new(corrupt),
        Region::new(small),
        Region::new(big),
    ])
    .unwrap();
    let u = BufDesc::user;
    let big_len = text.len() as u32 * 2;
    let sqes = [
        buf_sqe(LZ4, 0, &u(ga, gl), Some(&u(ba, big_len))).user_data(1),
        buf_sqe(LZ4, 0, &u(ta, tl), Some(&u(ba, big_len))).user_data(2), // truncated
        buf_sqe(LZ4, 0, &u(ca, cl), Some(&u(ba, big_len))).user_data(3), // corrupt
        buf_sqe(LZ4, 0, &u(ga, gl), Some(&u(sa, text.len() as u32 - 1))).user_data(4), // output too big
        buf_sqe(COPY, 0, &u(ba, 100), Some(&u(sa, 50))).user_data(5),    // destination too small
        buf_sqe(COPY, 0, &u(ba, 0), Some(&u(sa, 50))).user_data(6),      // zero length
        buf_sqe(COPY, 0, &u(ba, 100), Some(&u(ba + 10, 100))).user_data(7), // overlap
        buf_sqe(COPY, 0, &u(ba, big_len + 1), Some(&u(sa, 50))).user_data(8), // past the region
        buf_sqe(COPY, 0, &BufDesc::fixed(9, 0, 10), Some(&u(sa, 50))).user_data(9), // stale index
    ];
    let ebadmsg = Errno::EBADMSG.res();
    let enospc = Errno::ENOSPC.res();
    assert_eq!(
        run(&mut r, &sqes).1,
        [
            (1, text.len() as i32),
            (2, ebadmsg),
            (3, ebadmsg),
            (4, enospc),
            (5, enospc),
            (6, EINVAL),
            (7, EINVAL),
            (8, EFAULT),
            (9, EFAULT)
        ]
    );
}

/// The zero-copy chain: decompress → checksum the bytes it produced → copy them out, the
/// length travelling in the chain record; then the same chain with an injected failure.
#[test]
fn decompress_checksum_copy_chain_with_and_without_injection() {
    let mut r = ring_with_ops();
    let text = b"The quick brown fox jumps over the lazy dog. ".repeat(100);
    let block = lz4_block(&text);
    let comp = mem(block.len(), 0);
    comp.copy_from_slice(&block);
    let work = mem(8192, 0);
    let out = mem(8192, 0);
    let (ca, wa, oa) = (addr(comp), addr(work), addr(out));
    let cl = comp.len() as u32;
    r.register_buffers([Region::new(comp), Region::new(work), Region::new(out)]).unwrap();
    r.set_arg(1, ArgRecord::from_value(&InjectRule::nth(2, Errno::EIO))).unwrap();
    let u = BufDesc::user;
    let chain = |base: u64, lz4_slot: u8| {
        [
            buf_sqe(lz4_slot, 0, &u(ca, cl), Some(&u(wa, 8192))).user_data(base + 1).flags(L),
            Sqe {
                len: crc32c(&text),
                ..buf_sqe(CRC, CHAIN_LEN | VERIFY, &u(wa, 8192), None).user_data(base + 2).flags(L)
            },
            buf_sqe(COPY, CHAIN_LEN, &u(wa, 8192), Some(&u(oa, 8192))).user_data(base + 3),
        ]
    };
    let n = text.len() as i32;
    assert_eq!(run(&mut r, &chain(0, LZ4)).1, [(1, n), (2, 0), (3, n)]);
    assert_eq!(&r.buffers().get(2).unwrap().bytes()[..text.len()], &text[..]);
    // Faulty<Lz4, 1>: rule record 1 fails the 2nd decompression with -EIO.
    assert_eq!(run(&mut r, &chain(10, FAULTY_LZ4)).1, [(11, n), (12, 0), (13, n)]);
    assert_eq!(run(&mut r, &chain(20, FAULTY_LZ4)).1, [(21, EIO), (22, ECANCELED), (23, ECANCELED)]);
    let rule: &InjectRule = r.arg(1).unwrap().view();
    assert_eq!((rule.seen, rule.injected), (2, 1));
}

const EIO: i32 = Errno::EIO.res();

#[test]
fn inject_op_fails_its_chain_and_needs_its_record() {
    let mut r = ring_with_ops();
    r.set_arg(7, ArgRecord::from_value(&InjectRule::every(2, Errno::ENOSPC))).unwrap();
    let inj = |ud, id: u32| Sqe::bpf(INJECT, id).user_data(ud);
    let sqes = [inj(1, 7).flags(L), nop(2, NONE), inj(3, 7).flags(L), nop(4, NONE), inj(5, 9)];
    assert_eq!(
        run(&mut r, &sqes).1,
        [(1, 0), (3, Errno::ENOSPC.res()), (5, Errno::ENOENT.res()), (2, 0), (4, ECANCELED)]
    );
}

#[test]
fn extended_argument_table_is_fixed_capacity() {
    let mut r = ring();
    for id in [10, 20, 30, 40] {
        assert!(r.set_arg(id, ArgRecord::from_value(&(id as u64))).unwrap().is_none());
    }
    assert_eq!(r.set_arg(50, ArgRecord::ZERO), Err(Errno::ENOSPC));
    assert_eq!(*r.arg(30).unwrap().view::<u64>(), 30);
    *r.arg_mut(30).unwrap().view_mut::<u64>() = 31;
    assert_eq!(*r.remove_arg(30).unwrap().view::<u64>(), 31);
    assert!(r.set_arg(50, ArgRecord::ZERO).is_ok());
}

#[test]
fn chain_record_starts_zeroed_and_flows_to_each_member() {
    /// Appends its op flags to the chain record's user words and completes with the
    /// record's length of words seen so far.
    struct Push;
    impl Op for Push {
        type Pdu = u32;
        fn prep(cx: &mut PrepCx<'_>, _: &Sqe) -> Result<u32, Errno> {
            Ok(cx.info().private_flags())
        }
        fn issue(cx: &mut IssueCx<'_>, v: &mut u32) -> Issue {
            let c: &mut ChainData = cx.chain();
            let k = c.len as usize;
            c.user[k.min(2)] = *v as u64;
            c.len += 1;
            let res = (c.user[0] + c.user[1] * 10 + c.user[2] * 100) as i32;
            cx.set_result(res);
            Issue::Done
        }
    }
    static PUSH: OpVTable = vtable::<Push>(12);
    let mut r = ring();
    r.register_op(&PUSH).unwrap();
    let p = |ud, v| Sqe::bpf(12, v).user_data(ud);
    let c = run(&mut r, &[p(1, 1).flags(L), p(2, 2).flags(L), p(3, 3), p(4, 4), p(5, 5).flags(H), p(6, 6)]).1;
    assert_eq!(c, [(1, 1), (4, 4), (5, 5), (2, 21), (6, 65), (3, 321)]);
}

#[test]
fn copy_handles_vectored_layouts_byte_exact() {
    // Random segment layouts on both sides, against a plain Vec copy.
    let mut rng = fwring_tests::random::Rng::new(7);
    let mut r = ring_with_ops();
    let data = mem(1 << 16, 0);
    let ctl = mem(1024, 0);
    let (da, ca) = (addr(data), addr(ctl));
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i % 253) as u8;
    }
    r.register_buffers([Region::new(data), Region::new(ctl)]).unwrap();
    for round in 0..200 {
        // Sources in the first half, destinations in the second.
        let segs = |rng: &mut fwring_tests::random::Rng, base: u64, n: usize| -> Vec<IoVec> {
            let mut at = base;
            (0..n)
                .map(|_| {
                    at += rng.below(64);
                    let len = 1 + rng.below(300);
                    let v = IoVec { base: at, len };
                    at += len;
                    v
                })
                .collect()
        };
        let ns = 1 + rng.below(8) as usize;
        let src = segs(&mut rng, da, ns);
        let total: u64 = src.iter().map(|v| v.len).sum();
        // Destination segments covering exactly `total` bytes.
        let mut dst = Vec::new();
        let mut left = total;
        let mut at = da + 32_768;
        while left > 0 {
            let len = if dst.len() == 7 { left } else { (1 + rng.below(400)).min(left) };
            dst.push(IoVec { base: at, len });
            at += len + rng.below(32);
            left -= len;
        }
        let ctl = r.buffer_mut(1).unwrap();
        ctl[..src.len() * 16].copy_from_slice(src.as_bytes());
        ctl[512..512 + dst.len() * 16].copy_from_slice(dst.as_bytes());
        let sqe =
            buf_sqe(COPY, 0, &BufDesc::vec(ca, src.len() as u32), Some(&BufDesc::vec(ca + 512, dst.len() as u32)));
        let (_, c) = run(&mut r, &[sqe.user_data(round)]);
        assert_eq!(c, [(round, total as i32)], "round {round}");
        let mem = r.buffers().get(0).unwrap().bytes();
        let want: Vec<u8> =
            src.iter().flat_map(|v| mem[(v.base - da) as usize..(v.base - da + v.len) as usize].to_vec()).collect();
        let got: Vec<u8> =
            dst.iter().flat_map(|v| mem[(v.base - da) as usize..(v.base - da + v.len) as usize].to_vec()).collect();
        assert_eq!(got, want, "round {round}");
    }
}

#[test]
fn hostile_descriptors_never_panic() {
    // Random descriptors of every type against a small table: every CQE is a result or
    // an errno; the ring stays consistent.
    let mut rng = fwring_tests::random::Rng::new(99);
    let mut r = ring_with_ops();
    r.register_op(&PROBE).unwrap();
    let a = mem(4096, 0);
    let b = mem(512, 0);
    let (aa, ba) = (addr(a), addr(b));
    r.register_buffers([Region::new(a), Region::new(b).source_only()]).unwrap();
    for i in 0..3000u64 {
        let desc = |rng: &mut fwring_tests::random::Rng| BufDesc {
            ty: rng.below(6) as u8,
            reserved: 0,
            buf_index: rng.below(4) as u16,
            len: match rng.below(4) {
                0 => rng.below(10) as u32,
                1 => rng.next_u64() as u32,
                _ => rng.below(5000) as u32,
            },
            addr: match rng.below(4) {
                0 => aa + rng.below(5000),
                1 => ba + rng.below(600),
                2 => rng.below(5000),
                _ => rng.next_u64(),
            },
        };
        let slot = [COPY, CRC, LZ4, 9][rng.below(4) as usize];
        let (d1, d2) = (desc(&mut rng), desc(&mut rng));
        let sqe = buf_sqe(slot, rng.below(4) as u32, &d1, Some(&d2)).user_data(i);
        let (s, c) = run(&mut r, &[sqe]);
        assert_eq!(s.taken, 1);
        assert_eq!(c.len(), 1);
        assert_eq!(r.in_flight(), 0);
    }
    assert!(r.unregister_buffers().is_ok(), "no buffer left pinned");
}

#[test]
fn cqe_for_each_op_is_linux_shaped() {
    let mut r = ring_with_ops();
    let m = mem(64, 3);
    let a = addr(m);
    r.register_buffers([Region::new(m)]).unwrap();
    r.push(buf_sqe(CRC, 0, &BufDesc::user(a, 64), None).user_data(77)).unwrap();
    let _ = r.submit();
    assert_eq!(r.pop(), Some(Cqe { user_data: 77, res: 64, flags: 0 }));
}
