//! Ring parameters, chosen at init the way `io_uring_setup(2)` chooses them.
//!
//! The storage of a ring is fixed by its const generics; `setup` picks how much of it a
//! ring uses (`sq_entries ≤ SQ`, `cq_entries ≤ CQ`, both powers of two) and which setup
//! flags it runs with. The sizing rules are Linux's (C-ABI-7): entries 0 → EINVAL, sizes
//! rounded up to a power of two, CQ defaults to twice the SQ, too-large sizes → EINVAL
//! unless `CLAMP`. fwring's one addition: the default CQ is clamped to the CQ storage.

use crate::abi::errno::Errno;
use crate::abi::{Features, SetupFlags, opcode};

/// Setup flags fwring implements. Every other bit, known to Linux or not, fails setup
/// with EINVAL: fwring does not pretend to poll, share workers or change entry sizes.
///
/// - `CQSIZE`, `CLAMP`: sizing, as in Linux.
/// - `SUBMIT_ALL`: keep consuming SQEs after a submit-time failure (C-OP-3).
/// - `SINGLE_ISSUER`, `NO_SQARRAY`, `COOP_TASKRUN`: accepted; they describe what fwring
///   always is (one submitter, SQEs consumed in ring order, work run at submit).
/// - `BPF_EXT`: enables the 16 op slots (IORING_OP_BPF).
pub const SUPPORTED_SETUP_FLAGS: SetupFlags = SetupFlags::CQSIZE
    .union(SetupFlags::CLAMP)
    .union(SetupFlags::SUBMIT_ALL)
    .union(SetupFlags::SINGLE_ISSUER)
    .union(SetupFlags::NO_SQARRAY)
    .union(SetupFlags::COOP_TASKRUN)
    .union(SetupFlags::BPF_EXT);

/// Features every fwring ring reports (C-ABI-9).
///
/// `SUBMIT_STABLE` (SQEs are read during `submit` only), `CQE_SKIP`, and `BPF` (the op
/// slots exist; they are enabled per ring by `BPF_EXT`). `NODROP` is deliberately absent:
/// fwring never drops a CQE, but by backpressure, not by Linux's overflow list.
pub const FEATURES: Features = Features::SUBMIT_STABLE.union(Features::CQE_SKIP).union(Features::BPF);

/// What to ask of [`Ring::setup`](crate::Ring::setup): `io_uring_params` in Rust form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Setup {
    /// Requested SQ entries (`io_uring_setup`'s `entries`).
    pub entries: u32,
    /// Requested CQ entries; used only with [`SetupFlags::CQSIZE`].
    pub cq_entries: u32,
    /// Setup flags.
    pub flags: SetupFlags,
}

impl Setup {
    /// `entries` SQ entries, default CQ size, no flags.
    pub const fn new(entries: u32) -> Self {
        Setup { entries, cq_entries: 0, flags: SetupFlags::empty() }
    }

    /// Builder: add setup flags.
    #[must_use]
    pub const fn flags(mut self, flags: SetupFlags) -> Self {
        self.flags = self.flags.union(flags);
        self
    }

    /// Builder: ask for `cq_entries` CQ entries (sets [`SetupFlags::CQSIZE`]).
    #[must_use]
    pub const fn cq_entries(mut self, cq_entries: u32) -> Self {
        self.cq_entries = cq_entries;
        self.flags = self.flags.union(SetupFlags::CQSIZE);
        self
    }
}

/// What a ring was set up with: the sizes after rounding and the features it reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Params {
    /// SQ entries in use (power of two).
    pub sq_entries: u32,
    /// CQ entries in use (power of two).
    pub cq_entries: u32,
    /// Setup flags in effect.
    pub flags: SetupFlags,
    /// Features reported ([`FEATURES`]).
    pub features: Features,
}

/// Resolve a [`Setup`] against ring storage of `sq_cap` SQEs and `cq_cap` CQEs (both
/// powers of two), with Linux's rules. Pure: no ring state involved.
pub(crate) const fn resolve(setup: &Setup, sq_cap: u32, cq_cap: u32) -> Result<Params, Errno> {
    let flags = setup.flags;
    if !SUPPORTED_SETUP_FLAGS.contains(flags) {
        return Err(Errno::EINVAL);
    }
    let clamp = flags.contains(SetupFlags::CLAMP);
    let mut entries = setup.entries;
    if entries == 0 {
        return Err(Errno::EINVAL);
    }
    if entries > sq_cap {
        if !clamp {
            return Err(Errno::EINVAL);
        }
        entries = sq_cap;
    }
    let sq_entries = entries.next_power_of_two();
    let cq_entries = if flags.contains(SetupFlags::CQSIZE) {
        let mut cq = setup.cq_entries;
        if cq == 0 {
            return Err(Errno::EINVAL);
        }
        if cq > cq_cap {
            if !clamp {
                return Err(Errno::EINVAL);
            }
            cq = cq_cap;
        }
        let cq = cq.next_power_of_two();
        if cq < sq_entries {
            return Err(Errno::EINVAL);
        }
        cq
    } else {
        let want = sq_entries.saturating_mul(2);
        if want > cq_cap { cq_cap } else { want }
    };
    Ok(Params { sq_entries, cq_entries, flags, features: FEATURES })
}

/// `IO_URING_OP_SUPPORTED`: the probe flag of a supported opcode.
pub const OP_SUPPORTED: u16 = 1 << 0;

/// Which opcodes a ring runs: `io_uring_probe` in Rust form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Probe {
    /// The last opcode the ring knows (`IORING_OP_LAST - 1`).
    pub last_op: u8,
    supported: u128,
}

impl Probe {
    pub(crate) const fn new(bpf_ext: bool) -> Self {
        let mut supported = 1u128 << opcode::NOP;
        if crate::TIMEOUTS {
            supported |= 1u128 << opcode::TIMEOUT
                | 1u128 << opcode::TIMEOUT_REMOVE
                | 1u128 << opcode::ASYNC_CANCEL
                | 1u128 << opcode::LINK_TIMEOUT;
        }
        if bpf_ext {
            supported |= 1u128 << opcode::BPF;
        }
        Probe { last_op: opcode::LAST - 1, supported }
    }

    /// Whether `op` runs on this ring (as opposed to failing with -EOPNOTSUPP or -EINVAL).
    pub const fn is_supported(&self, op: u8) -> bool {
        op < 128 && self.supported & (1u128 << op) != 0
    }

    /// The probe flags of `op` (`OP_SUPPORTED` or 0), as `struct io_uring_probe_op`.
    pub const fn op_support(&self, op: u8) -> u16 {
        if self.is_supported(op) { OP_SUPPORTED } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: SetupFlags = SetupFlags::empty();

    #[test]
    fn sizing_follows_linux_c_abi_7() {
        assert_eq!(resolve(&Setup::new(0), 1 << 15, 1 << 16), Err(Errno::EINVAL));
        let p = resolve(&Setup::new(5), 1 << 15, 1 << 16).unwrap();
        assert_eq!((p.sq_entries, p.cq_entries), (8, 16));
        let p = resolve(&Setup::new(32), 1 << 15, 1 << 16).unwrap();
        assert_eq!((p.sq_entries, p.cq_entries), (32, 64));
        assert_eq!(resolve(&Setup::new(65536), 1 << 15, 1 << 16), Err(Errno::EINVAL));
        let p = resolve(&Setup::new(65536).flags(SetupFlags::CLAMP), 1 << 15, 1 << 16).unwrap();
        assert_eq!((p.sq_entries, p.cq_entries), (32768, 65536));
        let p = resolve(&Setup::new(4).cq_entries(4), 64, 64).unwrap();
        assert_eq!((p.sq_entries, p.cq_entries), (4, 4));
        assert_eq!(resolve(&Setup::new(8).cq_entries(4), 64, 64), Err(Errno::EINVAL));
        assert_eq!(resolve(&Setup::new(8).cq_entries(0), 64, 64), Err(Errno::EINVAL));
        let p = resolve(&Setup::new(8).cq_entries(5), 64, 64).unwrap();
        assert_eq!(p.cq_entries, 8);
    }

    #[test]
    fn default_cq_is_clamped_to_storage() {
        let p = resolve(&Setup::new(64), 64, 64).unwrap();
        assert_eq!((p.sq_entries, p.cq_entries), (64, 64));
    }

    #[test]
    fn unknown_and_unsupported_setup_flags_fail_c_abi_8() {
        assert_eq!(resolve(&Setup::new(8).flags(SetupFlags::from_bits_retain(1 << 22)), 64, 64), Err(Errno::EINVAL));
        assert_eq!(resolve(&Setup::new(8).flags(SetupFlags::SQPOLL), 64, 64), Err(Errno::EINVAL));
        assert_eq!(resolve(&Setup::new(8).flags(SetupFlags::CQE32), 64, 64), Err(Errno::EINVAL));
        let p = resolve(&Setup::new(8).flags(SetupFlags::BPF_EXT), 64, 64).unwrap();
        assert!(p.flags.contains(SetupFlags::BPF_EXT));
        assert!(p.features.contains(Features::BPF));
        assert!(!p.features.contains(Features::NODROP));
        assert_eq!(resolve(&Setup::new(8).flags(F), 64, 64).unwrap().features, FEATURES);
    }

    #[test]
    fn probe_lists_nop_and_bpf_only_with_bpf_ext() {
        let p = Probe::new(false);
        assert!(p.is_supported(opcode::NOP));
        assert!(!p.is_supported(opcode::BPF));
        assert!(!p.is_supported(opcode::READV));
        assert!(!p.is_supported(200));
        assert_eq!(p.last_op, 65);
        let p = Probe::new(true);
        assert_eq!(p.op_support(opcode::BPF), OP_SUPPORTED);
    }

    #[test]
    fn probe_lists_timeout_and_cancel_opcodes_only_with_the_feature() {
        let p = Probe::new(false);
        for op in [opcode::TIMEOUT, opcode::LINK_TIMEOUT, opcode::TIMEOUT_REMOVE, opcode::ASYNC_CANCEL] {
            assert_eq!(p.is_supported(op), cfg!(feature = "timeouts"), "opcode {op}");
        }
    }
}
