//! `fwring-sim demo`: a short narrated run of the ring, each step printed.

use std::io::{self, Write};

use fwring::{Cqe, Errno, Ring, Setup, SetupFlags, Sqe, SqeFlags, opcode};

use crate::ops;

const L: SqeFlags = SqeFlags::IO_LINK;
const H: SqeFlags = SqeFlags::IO_HARDLINK;

fn res_str(res: i32) -> String {
    match Errno::from_res(res) {
        Some(e) if e.name().is_some() => format!("{res} (-{e})"),
        _ => res.to_string(),
    }
}

struct Demo<'a> {
    out: &'a mut dyn Write,
    step: u32,
}

impl Demo<'_> {
    fn step(&mut self, title: &str, text: &str) -> io::Result<()> {
        self.step += 1;
        writeln!(self.out, "\n== {}. {title}", self.step)?;
        for line in text.lines() {
            writeln!(self.out, "   {line}")?;
        }
        Ok(())
    }

    fn sqe(&mut self, sqe: &Sqe, what: &str) -> io::Result<()> {
        writeln!(self.out, "   SQE ud={:<3} {what}", sqe.user_data)
    }

    fn submit<const SQ: usize, const CQ: usize, const N: usize>(
        &mut self,
        ring: &mut Ring<SQ, CQ, N>,
        sqes: &[(Sqe, &str)],
    ) -> io::Result<Vec<Cqe>> {
        for (sqe, what) in sqes {
            self.sqe(sqe, what)?;
            if ring.push(*sqe).is_err() {
                writeln!(self.out, "   (SQ full: SQE ud={} handed back)", sqe.user_data)?;
            }
        }
        let s = ring.submit();
        writeln!(self.out, "   submit -> took {} SQE(s), stop: {:?}", s.taken, s.stop)?;
        self.reap(ring)
    }

    fn reap<const SQ: usize, const CQ: usize, const N: usize>(
        &mut self,
        ring: &mut Ring<SQ, CQ, N>,
    ) -> io::Result<Vec<Cqe>> {
        let mut got = Vec::new();
        while let Some(c) = ring.pop() {
            writeln!(self.out, "   CQE ud={:<3} res={}", c.user_data, res_str(c.res))?;
            got.push(c);
        }
        Ok(got)
    }
}

/// Run the demo, writing the narration to `out`.
pub fn run(out: &mut dyn Write) -> io::Result<()> {
    let mut d = Demo { out, step: 0 };
    writeln!(d.out, "fwring demo: an io_uring-style ring with Linux SQE/CQE semantics, no heap, fixed memory.")?;

    let mut ring: Box<Ring<32, 64, 32>> = Box::default();
    let p = ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).map_err(io::Error::other)?;
    d.step(
        "Set up a ring",
        &format!(
            "Ring<32, 64, 32>: storage for 32 SQEs, 64 CQEs, 32 requests in flight ({} bytes, all static).\n\
             setup(entries 8, BPF_EXT) -> {} SQ entries, {} CQ entries, features {:?}\n\
             probe: NOP supported={}, BPF supported={}, READV supported={}",
            core::mem::size_of::<Ring<32, 64, 32>>(),
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
         slot 0 answer (-> 42), slot 1 echo (-> its 24 op flag bits), slot 2 errno (fails with the errno in its op flags).\n\
         An IORING_OP_BPF SQE picks its slot with the top 8 bits of bpf_op_flags.",
    )?;
    ops::register(&mut ring).map_err(io::Error::other)?;
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
    let u = ring.unregister_op(ops::ECHO as u16).map_err(io::Error::other)?;
    writeln!(d.out, "   unregister slot 1 -> {u:?}")?;
    d.submit(&mut ring, &[(Sqe::bpf(ops::ECHO, 1).user_data(6), "BPF slot 1 after unregister")])?;

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
    writeln!(d.out, "\ndone.")?;
    Ok(())
}
