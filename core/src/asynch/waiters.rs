//! The waiter table: one entry per request an async caller awaits, `N` of them (the
//! ring's in-flight capacity), and the user_data tags that tie CQEs to entries.

use core::task::Waker;

use crate::abi::Cqe;

/// The top 16 bits of every user_data the async front end puts on its SQEs. A CQE whose
/// user_data carries this tag and names a live waiter belongs to an awaiting future; any
/// other CQE belongs to the plain API (see [`AsyncRing::pop`](super::AsyncRing::pop)).
/// Plain-API SQEs must not use user_data with this tag
/// ([`AsyncRing::push`](super::AsyncRing::push) refuses them).
pub const USER_DATA_TAG: u64 = 0xf1a5 << 48;

/// The bits of user_data [`USER_DATA_TAG`] occupies.
pub const USER_DATA_TAG_MASK: u64 = 0xffff << 48;

/// What a tagged CQE is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The awaited request itself.
    Request,
    /// The ASYNC_CANCEL a dropped future submitted for it: always discarded.
    Cancel,
}

const KIND_SHIFT: u32 = 40;

/// The user_data of waiter `idx`, generation `generation`.
pub(crate) const fn tag(kind: Kind, idx: u16, generation: u16) -> u64 {
    let k = match kind {
        Kind::Request => 0,
        Kind::Cancel => 1,
    };
    USER_DATA_TAG | k << KIND_SHIFT | (generation as u64) << 16 | idx as u64
}

/// The waiter a user_data names, if it carries the tag.
pub(crate) const fn untag(user_data: u64) -> Option<(Kind, u16, u16)> {
    if user_data & USER_DATA_TAG_MASK != USER_DATA_TAG {
        return None;
    }
    let kind = if (user_data >> KIND_SHIFT) & 0xff == 0 { Kind::Request } else { Kind::Cancel };
    Some((kind, user_data as u16, (user_data >> 16) as u16))
}

/// One waiter's state.
pub(crate) enum State {
    /// Unused.
    Free,
    /// Taken by a future whose SQE is not queued yet.
    Reserved,
    /// Its SQE is queued or in flight; wake this task when the CQE arrives.
    Waiting(Option<Waker>),
    /// The CQE arrived; the future has not collected it yet.
    Done(Cqe),
    /// The future was dropped with the request in flight: the CQE is discarded when it
    /// arrives, and only then is the entry free (the request still owns its buffers).
    Detached,
}

/// A waiter: its state, the caller's own user_data (restored on the CQE it gets) and
/// a generation, so a CQE for an earlier use of the entry is never misdelivered.
pub(crate) struct Waiter {
    pub state: State,
    pub user_data: u64,
    pub generation: u16,
}

/// What arrived for a waiter.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// Not a waiter's CQE: the plain API's.
    NotOurs,
    /// Stored for the waiting future (woken).
    Stored,
    /// Discarded (a detached request's or a cancel's); `true` if an entry was freed.
    Discarded(bool),
}

/// `N` waiters.
pub(crate) struct Table<const N: usize> {
    w: [Waiter; N],
    nr_free: usize,
}

impl<const N: usize> Table<N> {
    pub(crate) const fn new() -> Self {
        const { assert!(N <= u16::MAX as usize, "at most 65535 waiters") };
        Table { w: [const { Waiter { state: State::Free, user_data: 0, generation: 0 } }; N], nr_free: N }
    }

    pub(crate) fn nr_free(&self) -> usize {
        self.nr_free
    }

    /// Take a free entry (`Reserved`).
    pub(crate) fn reserve(&mut self) -> Option<u16> {
        let i = self.w.iter().position(|w| matches!(w.state, State::Free))?;
        self.w[i].state = State::Reserved;
        self.nr_free -= 1;
        Some(i as u16)
    }

    /// The entry `idx` (always in range: indices come from `reserve`).
    pub(crate) fn get(&mut self, idx: u16) -> &mut Waiter {
        &mut self.w[idx as usize]
    }

    /// Make entry `idx` free again; a new generation, so late CQEs cannot match it.
    pub(crate) fn release(&mut self, idx: u16) {
        let w = &mut self.w[idx as usize];
        if !matches!(w.state, State::Free) {
            w.state = State::Free;
            w.generation = w.generation.wrapping_add(1);
            self.nr_free += 1;
        }
    }

    /// Hand a reaped CQE to its waiter. `me`: the task running this (not woken: it
    /// looks at its entries itself).
    pub(crate) fn deliver(&mut self, cqe: Cqe, me: Option<&Waker>) -> Delivered {
        let Some((kind, idx, generation)) = untag(cqe.user_data) else { return Delivered::NotOurs };
        if kind == Kind::Cancel {
            return Delivered::Discarded(false);
        }
        let Some(w) = self.w.get_mut(idx as usize) else { return Delivered::NotOurs };
        if w.generation != generation {
            return Delivered::NotOurs;
        }
        match &mut w.state {
            State::Waiting(waker) => {
                let waker = waker.take();
                w.state = State::Done(Cqe { user_data: w.user_data, ..cqe });
                if let Some(waker) = waker
                    && !me.is_some_and(|m| m.will_wake(&waker))
                {
                    waker.wake();
                }
                Delivered::Stored
            }
            State::Detached => {
                self.release(idx);
                Delivered::Discarded(true)
            }
            State::Free | State::Reserved | State::Done(_) => Delivered::NotOurs,
        }
    }

    /// Wake one waiting task other than `me` (it takes over registering for interrupt
    /// wakes); whether there was one.
    pub(crate) fn wake_one(&mut self, me: Option<&Waker>) -> bool {
        for w in &mut self.w {
            if let State::Waiting(Some(waker)) = &w.state
                && !me.is_some_and(|m| waker.will_wake(m))
            {
                waker.wake_by_ref();
                return true;
            }
        }
        false
    }
}

/// Tasks waiting for room (a waiter entry, SQ space): up to `N` wakers; when full, all
/// are woken and the set starts over (each woken task registers again if it must still
/// wait) — nobody is forgotten. A fixed array of `Option<Waker>`: the few lines of
/// embassy-sync's `MultiWakerRegistration`, without its mutex and heapless 0.8 deps.
pub(crate) struct WakerSet<const N: usize> {
    w: [Option<Waker>; N],
    /// How many are registered (so the common case, nobody waiting, costs one compare).
    n: usize,
}

impl<const N: usize> WakerSet<N> {
    pub(crate) const fn new() -> Self {
        WakerSet { w: [const { None }; N], n: 0 }
    }

    pub(crate) fn register(&mut self, waker: &Waker) {
        if self.w.iter().flatten().any(|w| w.will_wake(waker)) {
            return;
        }
        if self.n == N {
            self.wake_all();
        }
        if let Some(slot) = self.w.iter_mut().find(|w| w.is_none()) {
            *slot = Some(waker.clone());
            self.n += 1;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub(crate) fn wake_all(&mut self) {
        if self.n == 0 {
            return;
        }
        for w in &mut self.w {
            if let Some(w) = w.take() {
                w.wake();
            }
        }
        self.n = 0;
    }
}
