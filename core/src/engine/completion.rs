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
//! - every request slot has a state word (the low 28 bits of a generation, and a
//!   [`Phase`]) and a high word (the generation's other 20 bits); a token names a slot
//!   and a 48-bit generation. `complete` claims the slot with one compare-and-swap from
//!   pending to claimed under the token's generation, and checks the high bits after
//!   the swap (undoing a claim that turns out to be another request's, before anyone
//!   can see it). A second completion, a token of an earlier request of the slot, a
//!   made-up token: refused ([`CompleteError::Stale`]); it never touches another
//!   request;
//! - generations come from one counter per ring, bumped for every request that goes
//!   pending, starting where the ring's process-unique number puts it; `Ring::setup`
//!   does not restart it. A token can only name a later request again after 2⁴⁸ more
//!   requests went pending in its ring;
//! - a request whose buffers are out as a [`PendingIo`](crate::PendingIo) is pending in
//!   the *lent* phase: no token completes it ([`CompleteError::Lent`]), only its handle,
//!   which also checks the ring's number. This is what the soundness of the handle's
//!   views rests on (see `PendingIo`); tokens of plain pending requests never give
//!   anyone memory;
//! - the claimer stores the result, then pushes the slot on a lock-free stack of ready
//!   slots (a compare-and-swap loop on its head, release);
//! - the ring detaches the whole stack with one swap (acquire), reverses it (completion
//!   order) and completes each request.
//!
//! On targets without compare-and-swap (thumbv6m) the atomics come from portable-atomic
//! with a `critical-section` implementation (feature `critical-section`).

use crate::sync::{AtomicI32, AtomicU16, AtomicU32, Ordering, array_of, const_fn_unless_loom};

/// The phase of a slot's state word (its low [`PHASE_BITS`] bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Phase {
    /// No request of this slot is pending.
    Idle = 0,
    /// Pending; only a [`Completer`] ends it (not cancellable).
    Pending = 1,
    /// Pending; a [`Completer`], ASYNC_CANCEL or a link timeout ends it.
    Cancelable = 2,
    /// Pending with its buffers handed out as a [`PendingIo`](crate::PendingIo): only
    /// that handle ends it, so no view it holds can outlive the request.
    Lent = 3,
    /// A completer claimed it; its result is on (or going onto) the ready stack.
    Claimed = 4,
    /// A multishot request: its `Stream` posts fills without touching this word and
    /// ends it (`Stream::finish`); ASYNC_CANCEL may withdraw it. No token completes it.
    Multishot = 5,
}

const PHASE_BITS: u32 = 4;
const PHASE_MASK: u32 = (1 << PHASE_BITS) - 1;
/// The empty ready stack (and the end of it). The stack links slots by their request's
/// table index, which counts from 1 (`engine::table::Idx`): slot `i` is request `i + 1`,
/// so a fresh mailbox is all zeros.
const NIL: u32 = 0;

/// The mailbox slot of request `idx` (a table index, from 1); NIL maps past any table.
const fn slot_of(idx: u32) -> usize {
    (idx as usize).wrapping_sub(1)
}

/// Generations are 48 bits wide: 28 live in the state word beside the phase, the other
/// 20 in the slot's `high` word.
pub(crate) const GEN_MASK: u64 = (1 << 48) - 1;
const LOW_GEN_BITS: u32 = 32 - PHASE_BITS;

/// The state word of a slot pending (or claimed) under `generation`.
const fn pack(generation: u64, phase: Phase) -> u32 {
    ((generation as u32) << PHASE_BITS) | phase as u32
}

/// The high word of `generation`.
const fn high(generation: u64) -> u32 {
    ((generation & GEN_MASK) >> LOW_GEN_BITS) as u32
}

/// Names one pending request: its slot (16 bits) and its generation (48 bits). Plain
/// data (`Copy`, `Send`): hand it to hardware, stash it in a register, pass it to an
/// interrupt handler.
///
/// A token is a name, not a capability: [`Completer::complete`] refuses one that names
/// no request pending now (completed already, cancelled, of an earlier request of the
/// slot, made up) and never touches another request. Generations come from one counter
/// per ring, so a stale token could only match again after the ring has made 2⁴⁸
/// requests pending — nine years at a million pending requests a second — and each
/// ring's counter starts at its own point of that space (rings are numbered once per
/// process; see [`Completer::complete`] for what that means for tokens of another ring).
/// A request whose buffers went out as a [`PendingIo`](crate::PendingIo) cannot be
/// completed by token at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Token(u64);

impl Token {
    /// A placeholder, overwritten before use (a handle being made in place).
    pub(crate) const BLANK: Token = Token(0);

    /// The token of request `idx` (a table index, from 1): it carries the mailbox slot,
    /// `idx - 1`.
    pub(crate) const fn new(idx: u16, generation: u64) -> Self {
        Token(((generation & GEN_MASK) << 16) | (idx.wrapping_sub(1)) as u64)
    }

    /// The token as one `u64` (e.g. a DMA descriptor's tag field).
    pub const fn to_raw(self) -> u64 {
        self.0
    }

    /// A token from [`Token::to_raw`]. Any value is accepted: a forged or corrupted one
    /// is refused by [`Completer::complete`], never misapplied.
    pub const fn from_raw(raw: u64) -> Self {
        Token(raw)
    }

    fn index(self) -> usize {
        (self.0 & 0xffff) as usize
    }

    pub(crate) const fn generation(self) -> u64 {
        self.0 >> 16
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
    /// the token belongs to an earlier request of the same slot, or to another ring.
    Stale,
    /// The request's buffers are out as a [`PendingIo`](crate::PendingIo): only that
    /// handle can complete it.
    Lent,
    /// The [`PendingIo`](crate::PendingIo) (or [`Stream`](crate::Stream)) belongs to
    /// another ring than the completer's.
    Foreign,
    /// The request is multishot: only its [`Stream`](crate::Stream) ends it.
    Multishot,
}

impl core::fmt::Display for CompleteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CompleteError::Invalid => "the token names no request slot of this ring",
            CompleteError::Stale => "no request is pending under this token",
            CompleteError::Lent => "the request's buffers are out as a PendingIo: complete it through that handle",
            CompleteError::Foreign => "the PendingIo or Stream belongs to another ring",
            CompleteError::Multishot => "the request is multishot: end it through its Stream",
        })
    }
}

/// One request slot's mailbox.
pub(crate) struct MailSlot {
    /// Low generation bits and [`Phase`].
    state: AtomicU32,
    /// High generation bits, written before the state word marks the slot pending and
    /// constant while it is.
    high: AtomicU32,
    result: AtomicI32,
    next: AtomicU16,
}

impl MailSlot {
    const_fn_unless_loom! {
        fn new() -> Self {
            MailSlot {
                state: AtomicU32::new(0),
                high: AtomicU32::new(0),
                result: AtomicI32::new(0),
                next: AtomicU16::new(0),
            }
        }
    }

    /// Claim the slot for a completion of `token`, from one of `phases`. The claim is
    /// exact: the state word's compare-and-swap checks the low generation bits, and the
    /// high ones are checked after it (the acquire of the swap makes the ring's high
    /// word of the claimed request visible); a claim whose high bits turn out not to
    /// match is undone before anyone can see it.
    fn claim(&self, generation: u64, phases: &[Phase]) -> bool {
        if self.high.load(Ordering::Relaxed) != high(generation) {
            return false;
        }
        phases.iter().any(|&p| {
            // Acquire pairs with the ring's release when it marked the slot pending.
            let ok = self
                .state
                .compare_exchange(
                    pack(generation, p),
                    pack(generation, Phase::Claimed),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok();
            if ok && self.high.load(Ordering::Relaxed) != high(generation) {
                // Another request of this slot whose low bits are the same (2^28
                // requests later): give it back untouched. Nobody else writes a claimed
                // state word, so a plain store undoes the swap.
                self.state.store(pack(generation, p), Ordering::Release);
                return false;
            }
            ok
        })
    }
}

/// The ring-wide words of a mailbox: the stack of ready slots and the ring's number.
pub(crate) struct MailHead {
    ready: AtomicU32,
    /// The ring's number, from [`next_ring_id`] (0 until the ring first goes pending).
    id: AtomicU32,
    /// Woken after every completion (the async front end's driving task).
    #[cfg(feature = "async")]
    waker: crate::asynch::IrqWaker,
}

/// The mailboxes of `N` request slots and the stack of ready ones.
pub(crate) struct Mailbox<const N: usize> {
    slots: [MailSlot; N],
    head: MailHead,
}

impl<const N: usize> Mailbox<N> {
    const_fn_unless_loom! {
        pub(crate) fn new() -> Self {
            Mailbox {
                slots: array_of!(MailSlot::new(); N),
                head: MailHead {
                    ready: AtomicU32::new(NIL),
                    id: AtomicU32::new(0),
                    #[cfg(feature = "async")]
                    waker: crate::asynch::IrqWaker::new(),
                },
            }
        }
    }

    pub(crate) fn slots(&self) -> &[MailSlot] {
        &self.slots
    }

    pub(crate) fn completer(&self) -> Completer<'_> {
        Completer { slots: &self.slots, head: &self.head }
    }

    /// The ring's number (0: none yet).
    pub(crate) fn id(&self) -> u32 {
        self.head.id.load(Ordering::Relaxed)
    }

    /// Number the ring (once, before its first request goes pending).
    pub(crate) fn set_id(&self, id: u32) {
        self.head.id.store(id, Ordering::Relaxed);
    }

    /// See [`withdraw`].
    #[cfg(any(feature = "timeouts", feature = "multishot"))]
    pub(crate) fn withdraw(&self, index: u16, generation: u64, cancelable_only: bool) -> bool {
        withdraw(&self.slots, index, generation, cancelable_only)
    }

    /// Whether any completion is waiting (cheap check before [`Mailbox::take_ready`]).
    pub(crate) fn has_ready(&self) -> bool {
        self.head.ready.load(Ordering::Relaxed) != NIL
    }

    /// Detach every ready slot, in completion order: calls `f(idx, low, result)` for
    /// each (`idx` the request's table index), `low` being the claimed state word (see [`same_request`]). Slots whose
    /// state does not say claimed (impossible unless memory is corrupted) are skipped.
    pub(crate) fn take_ready(&self, mut f: impl FnMut(u16, u32, i32)) {
        // Pairs with the completers' release pushes: their result stores are visible.
        let mut head = self.head.ready.swap(NIL, Ordering::Acquire);
        // The detached list is ours: reverse it into completion order.
        let mut rev = NIL;
        let mut steps = 0;
        while head != NIL && steps < N {
            let Some(s) = self.slots.get(slot_of(head)) else { break };
            let next = s.next.load(Ordering::Relaxed) as u32;
            s.next.store(rev as u16, Ordering::Relaxed);
            rev = head;
            head = next;
            steps += 1;
        }
        let mut cur = rev;
        while cur != NIL {
            let Some(s) = self.slots.get(slot_of(cur)) else { break };
            let next = s.next.load(Ordering::Relaxed) as u32;
            let state = s.state.load(Ordering::Relaxed);
            if state & PHASE_MASK == Phase::Claimed as u32 {
                let result = s.result.load(Ordering::Relaxed);
                s.state.store(Phase::Idle as u32, Ordering::Relaxed);
                f(cur as u16, state, result);
            }
            cur = next;
        }
    }
}

/// Whether a claimed state word `low` (from [`Mailbox::take_ready`]) is the request
/// pending under `generation`.
pub(crate) fn same_request(low: u32, generation: u64) -> bool {
    low & !PHASE_MASK == pack(generation, Phase::Idle)
}

/// A number for a ring, unique in the process: rings are numbered from 1 by one
/// counter that never wraps (after 2³² − 1 rings it answers 0, and a ring with number 0
/// cannot hand out a [`PendingIo`](crate::PendingIo)).
pub(crate) fn next_ring_id() -> u32 {
    // Rings numbered so far (0 initially: the counter costs no flash either).
    static NUMBERED: portable_atomic::AtomicU32 = portable_atomic::AtomicU32::new(0);
    NUMBERED
        .fetch_update(portable_atomic::Ordering::Relaxed, portable_atomic::Ordering::Relaxed, |n| n.checked_add(1))
        .map_or(0, |n| n + 1)
}

/// Where a ring numbered `id` starts its generation counter: the numbers spread over the
/// 48-bit space by the golden ratio, so two rings' counters are far apart.
pub(crate) fn first_generation(id: u32) -> u64 {
    let g = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) & GEN_MASK;
    if g == 0 { 1 } else { g }
}

/// Mark the slot of request `idx` (a table index) pending under `generation` in `phase`
/// and return its token.
pub(crate) fn pend(slots: &[MailSlot], idx: u16, generation: u64, phase: Phase) -> Token {
    if let Some(s) = slots.get(slot_of(idx as u32)) {
        s.high.store(high(generation), Ordering::Relaxed);
        // Release pairs with the completer's acquire compare-and-swap: the high word and
        // the token may travel to it by any means after this.
        s.state.store(pack(generation, phase), Ordering::Release);
    }
    Token::new(idx, generation)
}

/// Take the pending slot of request `idx` (a table index) back (no completion will be accepted for it any more).
/// `cancelable_only`: only if it was marked cancelable. Returns `false` if a completer
/// claimed it first (its completion is on the ready stack), or if its buffers are lent
/// out. Only the ring calls this, for its own request, so the low generation bits in the
/// state word identify the request exactly.
pub(crate) fn withdraw(slots: &[MailSlot], idx: u16, generation: u64, cancelable_only: bool) -> bool {
    let Some(s) = slots.get(slot_of(idx as u32)) else { return false };
    let phases: &[Phase] = if cancelable_only {
        &[Phase::Cancelable, Phase::Multishot]
    } else {
        &[Phase::Pending, Phase::Cancelable, Phase::Multishot]
    };
    phases.iter().any(|&p| {
        s.state
            .compare_exchange(pack(generation, p), pack(generation, Phase::Idle), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    })
}

/// Completes pending requests of a ring, from any context: interrupt handlers, other
/// cores, other threads. `Copy`, `Send` and `Sync`.
#[derive(Clone, Copy)]
pub struct Completer<'a> {
    slots: &'a [MailSlot],
    head: &'a MailHead,
}

impl Completer<'_> {
    /// Complete the request `token` names with `res` (a result, or `-errno`). Refused
    /// with an error — touching nothing — for a token that is not pending any more
    /// (completed twice, cancelled, stale: [`CompleteError::Stale`]), names no slot
    /// ([`CompleteError::Invalid`]), or names a request whose buffers are out as a
    /// [`PendingIo`](crate::PendingIo) ([`CompleteError::Lent`]: complete it through
    /// that). Lock-free: callable from an interrupt handler at any priority.
    ///
    /// A token of another ring is refused as stale unless that ring's counter happens to
    /// stand where this one's does: the counters start 2⁴⁸/φ apart per ring number, so
    /// that takes billions of requests. Buffers never depend on it — a request holding
    /// buffers is completed through its `PendingIo`, which checks its ring exactly.
    pub fn complete(&self, token: Token, res: i32) -> Result<(), CompleteError> {
        self.complete_in(token, res, &[Phase::Pending, Phase::Cancelable])
    }

    /// The ring's number (see [`next_ring_id`]).
    pub(crate) fn ring_id(&self) -> u32 {
        self.head.id.load(Ordering::Relaxed)
    }

    /// Complete `token` if its slot is pending in one of `phases`.
    pub(crate) fn complete_in(&self, token: Token, res: i32, phases: &[Phase]) -> Result<(), CompleteError> {
        let index = token.index();
        let slot = self.slots.get(index).ok_or(CompleteError::Invalid)?;
        let generation = token.generation();
        if !slot.claim(generation, phases) {
            return Err(if phases != [Phase::Lent] && slot.claim_would_be(generation, Phase::Lent) {
                CompleteError::Lent
            } else if phases != [Phase::Multishot] && slot.claim_would_be(generation, Phase::Multishot) {
                CompleteError::Multishot
            } else {
                CompleteError::Stale
            });
        }
        slot.result.store(res, Ordering::Relaxed);
        let ready = &self.head.ready;
        let mut head = ready.load(Ordering::Relaxed);
        loop {
            slot.next.store(head as u16, Ordering::Relaxed);
            // Release: the result and next stores above are visible to the ring's
            // acquire swap of the stack head.
            // The stack links request indices (slot + 1; 0 ends it).
            match ready.compare_exchange_weak(head, index as u32 + 1, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(h) => head = h,
            }
        }
        // After the push: a task that registers and then finds the stack empty is
        // woken here (the async front end's hand-off, modelled in tests/loom_async.rs).
        #[cfg(feature = "async")]
        self.head.waker.wake();
        Ok(())
    }

    /// Register the task to wake after the next completion (async front end).
    #[cfg(feature = "async")]
    pub(crate) fn register(&self, waker: &core::task::Waker) {
        self.head.waker.register(waker);
    }
}

impl MailSlot {
    /// Whether the slot is pending in `phase` under `generation` (for the error a token
    /// gets).
    fn claim_would_be(&self, generation: u64, phase: Phase) -> bool {
        self.state.load(Ordering::Relaxed) == pack(generation, phase)
            && self.high.load(Ordering::Relaxed) == high(generation)
    }
}

impl core::fmt::Debug for Completer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Completer").field("slots", &self.slots.len()).field("ring", &self.ring_id()).finish()
    }
}
