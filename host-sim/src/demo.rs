//! `fwring-sim demo`: a short narrated run of the ring, each step printed.

use std::io::{self, Write};

use fwring::ops::crc32c::{VERIFY, crc32c};
use fwring::ops::{CHAIN_LEN, buf_sqe};
use fwring::{BufDesc, Ring, Setup, SetupFlags, Sqe, SqeFlags, opcode};

use crate::ops;

use crate::narrate::{Demo, L};

const H: SqeFlags = SqeFlags::IO_HARDLINK;

/// The zero-copy chain: decompress → checksum → copy, in place, then with injection.
fn zero_copy(d: &mut Demo<'_>, ring: &mut Ring<32, 64, 32, 8>) -> io::Result<()> {
    let [_, (work_at, work_len), (comp_at, _), (out_at, out_len)] = ops::REGIONS;
    let comp_len = ring.buffers().get(2).map_or(0, |r| r.len()) as u32;
    let plain = ops::lz4_plain();
    d.step(
        "A zero-copy chain: decompress -> checksum -> copy",
        &format!(
            "Buffer 2 holds a {comp_len}-byte LZ4 block ({} bytes of text). Three linked ops work in place:\n\
             lz4 decompresses it into buffer 1 and records the length in the chain record;\n\
             crc32c (CHAIN_LEN|VERIFY) checksums exactly those bytes and checks the CRC passed in sqe.len;\n\
             copy (CHAIN_LEN) copies them to buffer 3. No byte is staged anywhere else.",
            plain.len()
        ),
    )?;
    let chain = |base: u64, lz4_slot: u8| {
        [
            (
                buf_sqe(lz4_slot, 0, &BufDesc::user(comp_at, comp_len), Some(&BufDesc::user(work_at, work_len as u32)))
                    .user_data(base + 1)
                    .flags(L),
                "lz4     buffer 2 -> buffer 1          LINK",
            ),
            (
                Sqe {
                    len: crc32c(&plain),
                    ..buf_sqe(ops::CRC32C, CHAIN_LEN | VERIFY, &BufDesc::user(work_at, work_len as u32), None)
                }
                .user_data(base + 2)
                .flags(L),
                "crc32c  buffer 1 (chain len), verify  LINK",
            ),
            (
                buf_sqe(
                    ops::COPY,
                    CHAIN_LEN,
                    &BufDesc::user(work_at, work_len as u32),
                    Some(&BufDesc::user(out_at, out_len as u32)),
                )
                .user_data(base + 3),
                "copy    buffer 1 -> buffer 3 (chain len)",
            ),
        ]
    };
    d.submit(ring, &chain(10, ops::LZ4))?;
    let same = ring.buffers().get(3).is_some_and(|r| r.bytes().get(..plain.len()) == Some(&plain[..]));
    writeln!(d.out, "   buffer 3 now holds the text: {same}")?;
    d.step(
        "The same chain with error injection",
        "Slot 7 is lz4 wrapped in Faulty<Lz4, 1>: argument record 1 says \"fail the 2nd request with -EIO\".\n\
         The first run passes; in the second, decompression fails and the rest of the chain is cancelled.",
    )?;
    d.submit(ring, &chain(20, ops::FAULTY_LZ4))?;
    d.submit(ring, &chain(30, ops::FAULTY_LZ4))?;
    Ok(())
}

/// Run the demo, writing the narration to `out`.
pub fn run(out: &mut dyn Write) -> io::Result<()> {
    let mut d = Demo::new(out);
    writeln!(d.out, "fwring demo: an io_uring-style ring with Linux SQE/CQE semantics, no heap, fixed memory.")?;

    let mut ring: Box<Ring<32, 64, 32, 8>> = Box::default();
    let p = ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).map_err(io::Error::other)?;
    d.step(
        "Set up a ring",
        &format!(
            "Ring<32, 64, 32, 8>: storage for 32 SQEs, 64 CQEs, 32 requests in flight, 8 argument records\n\
             ({} bytes, all static).\n\
             setup(entries 8, BPF_EXT) -> {} SQ entries, {} CQ entries, features {:?}\n\
             probe: NOP supported={}, BPF supported={}, READV supported={}",
            core::mem::size_of::<Ring<32, 64, 32, 8>>(),
            p.sq_entries,
            p.cq_entries,
            p.features,
            ring.probe().is_supported(opcode::NOP),
            ring.probe().is_supported(opcode::BPF),
            ring.probe().is_supported(opcode::READV),
        ),
    )?;

    d.step("NOPs", "A plain NOP completes with 0; NOP_INJECT_RESULT completes with sqe.len as the result.")?;
    d.submit(
        &mut ring,
        &[
            (Sqe::nop().user_data(1), "NOP"),
            (Sqe::nop_inject(42).user_data(2), "NOP inject 42"),
            (Sqe::nop_inject(-5).user_data(3), "NOP inject -5 (-EIO)"),
        ],
    )?;

    d.step(
        "A link chain that fails and cancels",
        "1 -> 2 -> 3 -> 4 are linked (IOSQE_IO_LINK); 2 fails with -5, so 3 and 4 are cancelled with -ECANCELED.\n\
         5 is independent: it completes in the first pass, before the rest of the chain (C-LINK-4),\n\
         exactly the order Linux posts.",
    )?;
    d.submit(
        &mut ring,
        &[
            (Sqe::nop().user_data(1).flags(L), "NOP        LINK"),
            (Sqe::nop_inject(-5).user_data(2).flags(L), "NOP inj -5 LINK"),
            (Sqe::nop().user_data(3).flags(L), "NOP        LINK"),
            (Sqe::nop().user_data(4), "NOP        (end of chain)"),
            (Sqe::nop().user_data(5), "NOP        (independent)"),
        ],
    )?;

    d.step("Hardlinks survive failures", "With IOSQE_IO_HARDLINK the chain goes on after a failure.")?;
    d.submit(
        &mut ring,
        &[(Sqe::nop_inject(-5).user_data(1).flags(H), "NOP inj -5 HARDLINK"), (Sqe::nop().user_data(2), "NOP")],
    )?;

    d.step(
        "A submit-time failure",
        "An invalid SQE (opcode 200) outside a chain gets its own CQE (-EINVAL) and ends the submit call:\n\
         the SQE behind it stays in the SQ and runs on the next submit (C-OP-2).",
    )?;
    d.submit(&mut ring, &[(Sqe::new(200).user_data(1), "opcode 200"), (Sqe::nop().user_data(2), "NOP")])?;
    let s = ring.submit();
    writeln!(d.out, "   submit again -> took {}", s.taken)?;
    d.reap(&mut ring)?;

    d.step(
        "Op slots at work",
        "BPF_EXT rings have 16 op slots. The simulator registers its standard ops:\n\
         slot 0 answer (-> 42), slot 1 echo (-> its 24 op flag bits), slot 2 errno (fails with the errno in its op flags),\n\
         3 copy, 4 crc32c, 5 lz4, 6 inject, 7 lz4 with error injection.\n\
         An IORING_OP_BPF SQE picks its slot with the top 8 bits of bpf_op_flags.",
    )?;
    ops::register(&mut *ring).map_err(io::Error::other)?;
    d.submit(
        &mut ring,
        &[
            (Sqe::bpf(ops::ANSWER, 0).user_data(1), "BPF slot 0 (answer)"),
            (Sqe::bpf(ops::ECHO, 1234).user_data(2), "BPF slot 1 (echo) op flags 1234"),
            (Sqe::bpf(ops::ERRNO, 5).user_data(3).flags(L), "BPF slot 2 (errno 5) LINK"),
            (Sqe::bpf(ops::ANSWER, 0).user_data(4), "BPF slot 0 (cancelled behind the failure)"),
            (Sqe::bpf(9, 0).user_data(5), "BPF slot 9 (empty slot -> -EOPNOTSUPP)"),
        ],
    )?;
    let u = ring.unregister_op(ops::ECHO).map_err(io::Error::other)?;
    writeln!(d.out, "   unregister slot 1 -> {u:?}")?;
    d.submit(&mut ring, &[(Sqe::bpf(ops::ECHO, 1).user_data(6), "BPF slot 1 after unregister")])?;

    zero_copy(&mut d, &mut ring)?;
    crate::demo_device::dma(&mut d, &mut ring)?;
    crate::demo_device::timeouts(&mut d, &mut ring)?;
    crate::demo_device::shared_memory(&mut d)?;
    crate::demo_storage::storage(&mut d)?;

    d.step(
        "Backpressure: no completion is ever dropped",
        "A ring with a 4-entry CQ: the first submit fills it; the next one takes nothing and raises\n\
         SQ flag CQ_OVERFLOW; after the CQEs are reaped, submission resumes.",
    )?;
    let mut small: Box<Ring<4, 4, 4>> = Box::default();
    small.setup(Setup::new(4).cq_entries(4)).map_err(io::Error::other)?;
    for i in 0..4 {
        let _ = small.push(Sqe::nop().user_data(10 + i));
    }
    let s = small.submit();
    writeln!(d.out, "   4 NOPs: submit -> took {}, CQ holds {}", s.taken, small.cq().len())?;
    for i in 0..4 {
        let _ = small.push(Sqe::nop().user_data(20 + i));
    }
    let s = small.submit();
    writeln!(d.out, "   4 more: submit -> took {}, stop {:?}, sq_flags {:?}", s.taken, s.stop, small.sq_flags())?;
    d.reap(&mut small)?;
    let s = small.submit();
    writeln!(
        d.out,
        "   after reaping: submit -> took {}, stop {:?}, sq_flags {:?}",
        s.taken,
        s.stop,
        small.sq_flags()
    )?;
    d.reap(&mut small)?;
    crate::demo_stream::streaming(&mut d)?;
    writeln!(d.out, "\ndone.")?;
    Ok(())
}
