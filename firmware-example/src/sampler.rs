//! A simulated sampling device (an ADC on the board's timer): one multishot request
//! streams its samples into provided buffers, a buffer per timer interrupt.
//!
//! [`SamplerOp`]'s issue goes multishot over the provided-buffer group its SQE names
//! (`IOSQE_BUFFER_SELECT`, `buf_group`) and parks the returned [`Stream`] here. While
//! sampling, the board's periodic interrupt calls [`on_tick`], which takes a free buffer,
//! writes [`PER_BUF`] 16-bit samples into it (a running counter, so the application can
//! check that nothing is lost or reordered) and commits it — one CQE each, posted by the
//! ring at its next `poll`. When no buffer is free the device sees "no buffer" and the
//! request ends with -ENOBUFS after the buffers already filled.

use core::cell::RefCell;

use critical_section::Mutex;
use fwring::{BufRing, Errno, Issue, IssueCx, NoFill, Op, PrepCx, Sqe, Stream};

/// Samples per buffer.
pub const PER_BUF: usize = 8;
/// Buffers in the group.
pub const BUFFERS: usize = 4;

/// The provided-buffer ring of the sampler's group.
pub static RX: BufRing<BUFFERS> = BufRing::new();

struct State {
    stream: Option<Stream>,
    next: u16,
    /// Buffers filled; the interrupt's "no buffer" answers.
    filled: u32,
    starved: u32,
}

static STATE: Mutex<RefCell<State>> = Mutex::new(RefCell::new(State { stream: None, next: 0, filled: 0, starved: 0 }));

/// `(buffers filled, "no buffer" answers)` so far.
pub fn stats() -> (u32, u32) {
    critical_section::with(|cs| {
        let s = STATE.borrow_ref(cs);
        (s.filled, s.starved)
    })
}

/// Stop sampling: the stream is given up (its request ends when the device next finds
/// no buffer, or here with `res` through the stream).
pub fn take_stream() -> Option<Stream> {
    critical_section::with(|cs| STATE.borrow_ref_mut(cs).stream.take())
}

/// The device's interrupt work: one buffer of samples per tick while streaming.
pub fn on_tick() {
    critical_section::with(|cs| {
        let mut s = STATE.borrow_ref_mut(cs);
        let Some(stream) = s.stream.as_ref() else { return };
        match stream.fill() {
            Ok(mut f) => {
                let first = s.next;
                for (i, b) in f.buf().chunks_exact_mut(2).take(PER_BUF).enumerate() {
                    b.copy_from_slice(&first.wrapping_add(i as u16).to_le_bytes());
                }
                f.commit(PER_BUF * 2);
                s.next = first.wrapping_add(PER_BUF as u16);
                s.filled += 1;
            }
            Err(NoFill::NoBuffer) => {
                s.starved += 1;
                s.stream = None;
            }
            Err(NoFill::Ended) => s.stream = None,
        }
    });
}

/// The sampler op: SQE with `IOSQE_BUFFER_SELECT` and `buf_group`; no other fields.
pub struct SamplerOp;

impl Op for SamplerOp {
    type Pdu = ();

    fn prep(_cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        if sqe.len != 0 || sqe.off != 0 || sqe.addr != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        match cx.multishot() {
            Ok(stream) => {
                critical_section::with(|cs| {
                    let mut s = STATE.borrow_ref_mut(cs);
                    s.stream = Some(stream);
                    s.next = 0;
                });
                Issue::Pending
            }
            Err(e) => Issue::Err(e),
        }
    }
}
