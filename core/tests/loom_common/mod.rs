//! What the loom models share: an op that goes pending and leaves its token in `LAST`,
//! and a ring leaked for `'static` with it registered in slot 0.

use fwring::{Issue, IssueCx, Op, OpVTable, PrepCx, Ring, Setup, SetupFlags, Sqe, Token, vtable};

/// Goes pending; the test reads its token back from `LAST` (a loom atomic would not be
/// reachable from a plain fn).
struct Pend;
impl Op for Pend {
    type Pdu = ();
    fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<(), fwring::Errno> {
        Ok(())
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        let t = match cx.pending() {
            Ok(t) => t,
            Err(e) => return Issue::Err(e),
        };
        LAST.with(|c| c.set(Some(t)));
        Issue::Pending
    }
}
static PEND: OpVTable = vtable::<Pend>(0);

std::thread_local! {
    /// The token of the request that went pending last on this thread.
    pub static LAST: std::cell::Cell<Option<Token>> = const { std::cell::Cell::new(None) };
}

pub type R = Ring<2, 4, 2>;

/// A set-up ring with `Pend` in slot 0, leaked so completers in loom threads can hold it.
pub fn leaked_ring() -> &'static mut R {
    let r: &'static mut R = Box::leak(Box::new(R::new()));
    r.setup(Setup::new(2).flags(SetupFlags::BPF_EXT)).unwrap();
    r.register_op(&PEND).unwrap();
    r
}
