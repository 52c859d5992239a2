//! The demo's narrator: numbered steps, SQEs and CQEs as they go by. Shared by the
//! demo's sections (`demo`, `demo_device`, `demo_storage`), which import it and not
//! each other.

use std::io::{self, Write};

use fwring::{Cqe, Errno, Ring, Sqe, SqeFlags};

pub(crate) const L: SqeFlags = SqeFlags::IO_LINK;

fn res_str(res: i32) -> String {
    match Errno::from_res(res) {
        Some(e) if e.name().is_some() => format!("{res} (-{e:?})"),
        _ => res.to_string(),
    }
}

pub(crate) struct Demo<'a> {
    pub(crate) out: &'a mut dyn Write,
    step: u32,
}

impl<'a> Demo<'a> {
    pub(crate) fn new(out: &'a mut dyn Write) -> Self {
        Demo { out, step: 0 }
    }

    pub(crate) fn step(&mut self, title: &str, text: &str) -> io::Result<()> {
        self.step += 1;
        writeln!(self.out, "\n== {}. {title}", self.step)?;
        for line in text.lines() {
            writeln!(self.out, "   {line}")?;
        }
        Ok(())
    }

    pub(crate) fn cqe(&mut self, c: &Cqe) -> io::Result<()> {
        writeln!(self.out, "   CQE ud={:<3} res={}", c.user_data, res_str(c.res))
    }

    pub(crate) fn sqe(&mut self, sqe: &Sqe, what: &str) -> io::Result<()> {
        writeln!(self.out, "   SQE ud={:<3} {what}", sqe.user_data)
    }

    pub(crate) fn submit<const SQ: usize, const CQ: usize, const N: usize, const A: usize>(
        &mut self,
        ring: &mut Ring<SQ, CQ, N, A>,
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

    pub(crate) fn reap<const SQ: usize, const CQ: usize, const N: usize, const A: usize>(
        &mut self,
        ring: &mut Ring<SQ, CQ, N, A>,
    ) -> io::Result<Vec<Cqe>> {
        let mut got = Vec::new();
        while let Some(c) = ring.pop() {
            self.cqe(&c)?;
            got.push(c);
        }
        Ok(got)
    }
}
