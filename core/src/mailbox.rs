//! Pending requests and their completion from interrupt handlers or other cores.
//!
//! An op's issue may answer "pending" ([`Issue::Pending`](crate::Issue::Pending)) after
//! taking a [`Token`] from its context; whoever finishes the work later — an interrupt
//! handler, a DMA-done callback, another core — calls [`Completer::complete`] with the
//! token and the result. The ring picks the completion up the next time it runs
//! (`submit` or `poll`) and carries on exactly as if issue had completed then: the CQE,
//! the rest of the link chain, cleanup.
//!
//! The protocol is lock-free and interrupt-safe — no lock an ISR could deadlock on:
//!
//! - every request slot has a state word `generation << 16 | phase`; a token names a slot
//!   and a generation. `complete` claims the slot with one compare-and-swap from
//!   `PENDING(gen)` to `CLAIMED(gen)`: a second completion, or a token of an earlier
//!   request of the same slot (stale generation), fails the swap and is refused with
//!   [`CompleteError::Stale`] — it never touches another request;
//! - the claimer stores the result, then pushes the slot on a lock-free stack of ready
//!   slots (a compare-and-swap loop on its head, release);
//! - the ring detaches the whole stack with one swap (acquire), reverses it (completion
//!   order) and completes each request.
//!
//! On targets without compare-and-swap (thumbv6m) the atomics come from portable-atomic
//! with a `critical-section` implementation (feature `critical-section`).

use crate::sync::{AtomicI32, AtomicU16, AtomicU32, Ordering};

const IDLE: u32 = 0;
const PENDING: u32 = 1;
const PENDING_CANCELABLE: u32 = 2;
const CLAIMED: u32 = 3;
const NIL: u32 = 0xffff;

const fn pack(generation: u16, phase: u32) -> u32 {
    (generation as u32) << 16 | phase
}

/// Names one pending request: its slot and generation. Plain data (`Copy`, `Send`):
/// hand it to hardware, stash it in a register, pass it to an interrupt handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Token(u32);

impl Token {
    pub(crate) const fn new(index: u16, generation: u16) -> Self {
        Token((generation as u32) << 16 | index as u32)
    }

    /// The token as one `u32` (e.g. a DMA descriptor's tag field).
    pub const fn to_raw(self) -> u32 {
        self.0
    }

    /// A token from [`Token::to_raw`]. Any value is accepted: a forged or corrupted one
    /// is refused by [`Completer::complete`], never misapplied.
    pub const fn from_raw(raw: u32) -> Self {
        Token(raw)
    }

    fn index(self) -> usize {
        (self.0 & 0xffff) as usize
    }

    fn generation(self) -> u16 {
        (self.0 >> 16) as u16
    }
}

/// Why [`Completer::complete`] refused a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CompleteError {
    /// The token names no slot of this ring.
    Invalid,
    /// The request is not pending under this token: it was completed already, cancelled,
    /// or the token belongs to an earlier request of the same slot.
    Stale,
}

/// One request slot's mailbox.
pub(crate) struct MailSlot {
    state: AtomicU32,
    result: AtomicI32,
    next: AtomicU16,
}

impl MailSlot {
    // Only ever used to initialise arrays (each use is a fresh value).
    #[cfg(not(loom))]
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: MailSlot = MailSlot { state: AtomicU32::new(0), result: AtomicI32::new(0), next: AtomicU16::new(0) };
}

/// The mailboxes of `N` request slots and the stack of ready ones.
pub(crate) struct Mailbox<const N: usize> {
    slots: [MailSlot; N],
    ready: AtomicU32,
    /// Woken after every completion (the async front end's driving task).
    #[cfg(feature = "async")]
    waker: crate::asynch::IrqWaker,
}

impl<const N: usize> Mailbox<N> {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Mailbox {
            slots: [MailSlot::EMPTY; N],
            ready: AtomicU32::new(NIL),
            #[cfg(feature = "async")]
            waker: crate::asynch::IrqWaker::new(),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Mailbox {
            slots: core::array::from_fn(|_| MailSlot {
                state: AtomicU32::new(0),
                result: AtomicI32::new(0),
                next: AtomicU16::new(0),
            }),
            ready: AtomicU32::new(NIL),
            #[cfg(feature = "async")]
            waker: crate::asynch::IrqWaker::new(),
        }
    }

    pub(crate) fn slots(&self) -> &[MailSlot] {
        &self.slots
    }

    pub(crate) fn completer(&self) -> Completer<'_> {
        Completer {
            slots: &self.slots,
            ready: &self.ready,
            #[cfg(feature = "async")]
            waker: &self.waker,
        }
    }

    /// See [`withdraw`].
    pub(crate) fn withdraw(&self, index: u16, generation: u16, cancelable_only: bool) -> bool {
        withdraw(&self.slots, index, generation, cancelable_only)
    }

    /// Whether any completion is waiting (cheap check before [`Mailbox::take_ready`]).
    pub(crate) fn has_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) != NIL
    }

    /// Detach every ready slot, in completion order: calls `f(index, generation, result)`
    /// for each. Slots whose state does not say claimed (impossible unless memory is
    /// corrupted) are skipped.
    pub(crate) fn take_ready(&self, mut f: impl FnMut(u16, u16, i32)) {
        // Pairs with the completers' release pushes: their result stores are visible.
        let mut head = self.ready.swap(NIL, Ordering::Acquire);
        // The detached list is ours: reverse it into completion order.
        let mut rev = NIL;
        let mut steps = 0;
        while head != NIL && steps < N {
            let Some(s) = self.slots.get(head as usize) else { break };
            let next = s.next.load(Ordering::Relaxed) as u32;
            s.next.store(rev as u16, Ordering::Relaxed);
            rev = head;
            head = next;
            steps += 1;
        }
        let mut cur = rev;
        while cur != NIL {
            let Some(s) = self.slots.get(cur as usize) else { break };
            let next = s.next.load(Ordering::Relaxed) as u32;
            let state = s.state.load(Ordering::Relaxed);
            if state & 0xffff == CLAIMED {
                let result = s.result.load(Ordering::Relaxed);
                s.state.store(IDLE, Ordering::Relaxed);
                f(cur as u16, (state >> 16) as u16, result);
            }
            cur = next;
        }
    }
}

/// Mark slot `index` pending under `generation` and return its token.
pub(crate) fn pend(slots: &[MailSlot], index: u16, generation: u16, cancelable: bool) -> Token {
    let phase = if cancelable { PENDING_CANCELABLE } else { PENDING };
    if let Some(s) = slots.get(index as usize) {
        // Pairs with the completer's acquire compare-and-swap: the token may travel to
        // it by any means after this.
        s.state.store(pack(generation, phase), Ordering::Release);
    }
    Token::new(index, generation)
}

/// Take a pending slot back (no completion will be accepted for it any more).
/// `cancelable_only`: only if it was marked cancelable. Returns `false` if a completer
/// claimed it first (its completion is on the ready stack).
pub(crate) fn withdraw(slots: &[MailSlot], index: u16, generation: u16, cancelable_only: bool) -> bool {
    let Some(s) = slots.get(index as usize) else { return false };
    let phases: &[u32] = if cancelable_only { &[PENDING_CANCELABLE] } else { &[PENDING, PENDING_CANCELABLE] };
    phases.iter().any(|&p| {
        s.state
            .compare_exchange(pack(generation, p), pack(generation, IDLE), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    })
}

/// Completes pending requests of a ring, from any context: interrupt handlers, other
/// cores, other threads. `Copy`, `Send` and `Sync`.
#[derive(Clone, Copy)]
pub struct Completer<'a> {
    slots: &'a [MailSlot],
    ready: &'a AtomicU32,
    #[cfg(feature = "async")]
    waker: &'a crate::asynch::IrqWaker,
}

impl Completer<'_> {
    /// Complete the request `token` names with `res` (a result, or `-errno`). Refused
    /// with an error — touching nothing — for a token that is not pending any more
    /// (completed twice, cancelled, stale) or names no slot. Lock-free: callable from an
    /// interrupt handler at any priority.
    pub fn complete(&self, token: Token, res: i32) -> Result<(), CompleteError> {
        let index = token.index();
        let slot = self.slots.get(index).ok_or(CompleteError::Invalid)?;
        let generation = token.generation();
        let claimed = [PENDING, PENDING_CANCELABLE].iter().any(|&p| {
            // Acquire pairs with the ring's release when it marked the slot pending.
            slot.state
                .compare_exchange(pack(generation, p), pack(generation, CLAIMED), Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        });
        if !claimed {
            return Err(CompleteError::Stale);
        }
        slot.result.store(res, Ordering::Relaxed);
        let mut head = self.ready.load(Ordering::Relaxed);
        loop {
            slot.next.store(head as u16, Ordering::Relaxed);
            // Release: the result and next stores above are visible to the ring's
            // acquire swap of the stack head.
            match self.ready.compare_exchange_weak(head, index as u32, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(h) => head = h,
            }
        }
        // After the push: a task that registers and then finds the stack empty is
        // woken here (the async front end's hand-off, modelled in tests/loom_async.rs).
        #[cfg(feature = "async")]
        self.waker.wake();
        Ok(())
    }

    /// Register the task to wake after the next completion (async front end).
    #[cfg(feature = "async")]
    pub(crate) fn register(&self, waker: &core::task::Waker) {
        self.waker.register(waker);
    }
}

impl core::fmt::Debug for Completer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Completer").field("slots", &self.slots.len()).finish()
    }
}
