//! An op that starts a multishot stream and hands it to the test that submitted it: the
//! stream goes to whatever plays the device (a simulated pipe, a device thread). Tests
//! run in parallel, so streams are kept by the submitting thread.

use std::sync::Mutex;
use std::thread::ThreadId;

use fwring::{Errno, Issue, IssueCx, Op, OpVTable, PrepCx, Sqe, Stream, vtable};

static STREAMS: Mutex<Vec<(ThreadId, Stream)>> = Mutex::new(Vec::new());

/// Issue starts the multishot stream (`IssueCx::multishot`) and parks it for
/// [`take_stream`]; the request stays pending.
pub struct HandStream;

impl Op for HandStream {
    type Pdu = ();
    fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<(), Errno> {
        Ok(())
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        match cx.multishot() {
            Ok(s) => {
                STREAMS.lock().unwrap_or_else(|e| e.into_inner()).push((std::thread::current().id(), s));
                Issue::Pending
            }
            Err(e) => Issue::Err(e),
        }
    }
}

/// [`HandStream`] in slot 0.
pub static HAND_STREAM: OpVTable = vtable::<HandStream>(0);

/// The stream this thread's last [`HandStream`] request started (panics if none did).
pub fn take_stream() -> Stream {
    let me = std::thread::current().id();
    let mut all = STREAMS.lock().unwrap_or_else(|e| e.into_inner());
    let i = all.iter().position(|(t, _)| *t == me).expect("a stream started by this thread");
    all.remove(i).1
}
