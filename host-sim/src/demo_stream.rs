//! The demo's streaming section: a sampling device (an ADC on a timer interrupt, here
//! simulated in line) writes samples into provided buffers of one multishot request on a
//! ring whose CQ has 2 entries; the application reaps, reads and re-provides; then the
//! group runs dry and the request ends with -ENOBUFS after the buffers already filled.

use std::io;
use std::sync::Mutex;

use fwring::{
    BufGroup, BufRing, Cqe, CqeFlags, Errno, Issue, IssueCx, NoFill, Op, OpVTable, PrepCx, Region, Ring, Setup,
    SetupFlags, Sqe, SqeFlags, Stream, vtable,
};

use crate::narrate::Demo;

/// Slot of [`Sampler`].
const SAMPLER: u8 = 12;
/// Samples (u16) per buffer.
const PER_BUF: usize = 8;

static STREAM: Mutex<Option<Stream>> = Mutex::new(None);

/// The sampling op: goes multishot and hands its stream to the "timer interrupt".
struct Sampler;
impl Op for Sampler {
    type Pdu = ();
    fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<(), Errno> {
        Ok(())
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        match cx.multishot() {
            Ok(s) => {
                *STREAM.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
                Issue::Pending
            }
            Err(e) => Issue::Err(e),
        }
    }
}
static SAMPLER_OP: OpVTable = vtable::<Sampler>(SAMPLER);

/// One timer interrupt: a buffer of samples `next..next + 8`, or why not.
fn tick(s: &Stream, next: &mut u16) -> Result<u16, NoFill> {
    let mut f = s.fill()?;
    for (i, chunk) in f.buf().chunks_exact_mut(2).take(PER_BUF).enumerate() {
        chunk.copy_from_slice(&(*next + i as u16).to_le_bytes());
    }
    *next += PER_BUF as u16;
    let bid = f.bid();
    f.commit(PER_BUF * 2);
    Ok(bid)
}

fn show(d: &mut Demo<'_>, ring: &Ring<2, 2, 4>, c: &Cqe) -> io::Result<Option<u16>> {
    if c.flags & CqeFlags::BUFFER.bits() == 0 {
        d.cqe(c)?;
        return Ok(None);
    }
    let bid = (c.flags >> 16) as u16;
    let more = if c.flags & CqeFlags::MORE.bits() != 0 { " F_MORE" } else { "" };
    let b = ring.provided(1, bid).map_err(io::Error::other)?;
    let first = u16::from_le_bytes([b[0], b[1]]);
    let last = u16::from_le_bytes([b[c.res as usize - 2], b[c.res as usize - 1]]);
    writeln!(d.out, "   CQE ud={:<3} res={} F_BUFFER bid={bid}{more}: samples {first}..={last}", c.user_data, c.res)?;
    Ok(Some(bid))
}

pub(crate) fn streaming(d: &mut Demo<'_>) -> io::Result<()> {
    d.step(
        "Streaming: one SQE, a CQE per buffer a device fills",
        "A provided-buffer group of 4 buffers of 16 bytes; one multishot SQE; a sampling device\n\
         fills a buffer per timer interrupt. The CQ has 2 entries: one is the request's final\n\
         CQE, one carries fills; filled buffers wait in order and nothing is dropped.",
    )?;
    let group: &'static BufRing<4> = Box::leak(Box::new(BufRing::new()));
    let mut ring: Box<Ring<2, 2, 4>> = Box::default();
    ring.setup(Setup::new(1).cq_entries(2).flags(SetupFlags::BPF_EXT)).map_err(io::Error::other)?;
    ring.register_op(&SAMPLER_OP).map_err(io::Error::other)?;
    ring.register_buffers([Region::new(vec![0u8; 64].leak())]).map_err(|e| io::Error::other(e.errno))?;
    ring.register_buf_ring(group, BufGroup { bgid: 1, buf_index: 0, offset: 0, size: 16 }).map_err(io::Error::other)?;
    (0..4).for_each(|b| group.provide(b));
    let _ = ring.push(Sqe::bpf(SAMPLER, 0).user_data(70).flags(SqeFlags::BUFFER_SELECT).buf_index(1));
    let _ = ring.submit();
    let s = STREAM.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or_else(|| io::Error::other("no stream"))?;
    let mut next = 0u16;
    // Three interrupts before the application looks: three buffers filled.
    for _ in 0..3 {
        tick(&s, &mut next).map_err(|e| io::Error::other(format!("{e:?}")))?;
    }
    writeln!(d.out, "   3 timer interrupts filled 3 buffers before the application ran")?;
    for _ in 0..5 {
        ring.poll();
        while let Some(c) = ring.pop() {
            if let Some(bid) = show(d, &ring, &c)? {
                group.provide(bid);
            }
        }
        ring.poll();
        let _ = tick(&s, &mut next);
    }
    writeln!(d.out, "   the application stops re-providing; the device keeps sampling:")?;
    loop {
        match tick(&s, &mut next) {
            Ok(_) => continue,
            Err(e) => {
                writeln!(d.out, "   timer interrupt: {e:?}")?;
                break;
            }
        }
    }
    for _ in 0..8 {
        ring.poll();
        while let Some(c) = ring.pop() {
            show(d, &ring, &c)?;
        }
    }
    writeln!(d.out, "   in flight now: {}", ring.in_flight())?;
    Ok(())
}
