//! Linux errno values, as CQE results carry them (negated).

use core::fmt;

/// A Linux errno number (positive), e.g. [`Errno::EINVAL`] = 22.
///
/// CQEs carry the negated value ([`Errno::res`]); the Rust API returns `Result<_, Errno>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Errno(u16);

macro_rules! errnos {
    ($($name:ident = $val:literal: $doc:literal,)*) => {
        impl Errno {
            $(
                #[doc = $doc]
                pub const $name: Errno = Errno($val);
            )*

            /// The symbolic name (`"EINVAL"`), or `None` for a number this table lacks.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

errnos! {
    EPERM = 1: "Operation not permitted: write access to a read-only (source) buffer.",
    ENOENT = 2: "No such entry: cancel target not found.",
    EINTR = 4: "Interrupted.",
    EIO = 5: "I/O error.",
    ENXIO = 6: "No such device or address: unregister with nothing registered.",
    E2BIG = 7: "Argument list too long.",
    EBADF = 9: "Bad file descriptor.",
    EAGAIN = 11: "Try again: the op would block; the core retries once.",
    ENOMEM = 12: "Out of memory.",
    EACCES = 13: "Permission denied.",
    EFAULT = 14: "Bad address: buffer index or range outside what was registered.",
    EBUSY = 16: "Busy: slot or buffer table already registered, or still in use.",
    EEXIST = 17: "Already exists.",
    EINVAL = 22: "Invalid argument: bad opcode, flags, slot or parameters.",
    ENFILE = 23: "File table full.",
    ENOSPC = 28: "No space left.",
    ERANGE = 34: "Result out of range.",
    ENOSYS = 38: "Not implemented.",
    ENODATA = 61: "No data.",
    ETIME = 62: "Timer expired.",
    EBADMSG = 74: "Bad message: corrupted input data.",
    EOVERFLOW = 75: "Value too large.",
    EMSGSIZE = 90: "Message too long.",
    EOPNOTSUPP = 95: "Operation not supported: opcode not built in, empty op slot, drain after skip.",
    ENOBUFS = 105: "No buffer space available.",
    EALREADY = 114: "Operation already in progress: cancel came too late.",
    ECANCELED = 125: "Canceled: a linked request failed, or the request was cancelled.",
}

impl Errno {
    /// `-EIOCBQUEUED` (kernel-internal 529): the value behind "issue will complete
    /// later" (`IOU_ISSUE_SKIP_COMPLETE`). An op that returns it from issue fails with
    /// -EINVAL, as in the series.
    pub const EIOCBQUEUED: Errno = Errno(529);

    /// An errno from its positive number. Returns `None` for 0 and for values above
    /// 4095 (Linux's `MAX_ERRNO`).
    pub const fn new(num: u16) -> Option<Errno> {
        if num == 0 || num > 4095 { None } else { Some(Errno(num)) }
    }

    /// The errno a negative CQE result encodes (`-22` → `EINVAL`), or `None` for results
    /// that are not errors (≥ 0) or are outside the errno range.
    pub const fn from_res(res: i32) -> Option<Errno> {
        if res < 0 && res >= -4095 { Some(Errno((-res) as u16)) } else { None }
    }

    /// The positive errno number.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The CQE result for this error: `-errno`.
    pub const fn res(self) -> i32 {
        -(self.0 as i32)
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(feature = "defmt")]
#[cfg_attr(docsrs, doc(cfg(feature = "defmt")))]
impl defmt::Format for Errno {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self.name() {
            Some(n) => defmt::write!(f, "{=str}", n),
            None => defmt::write!(f, "Errno({=u16})", self.0),
        }
    }
}

impl core::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_numbers_abi_10() {
        assert_eq!(Errno::EPERM.get(), 1);
        assert_eq!(Errno::ENOENT.get(), 2);
        assert_eq!(Errno::ENXIO.get(), 6);
        assert_eq!(Errno::EBADF.get(), 9);
        assert_eq!(Errno::EAGAIN.get(), 11);
        assert_eq!(Errno::EFAULT.get(), 14);
        assert_eq!(Errno::EBUSY.get(), 16);
        assert_eq!(Errno::EINVAL.get(), 22);
        assert_eq!(Errno::ETIME.get(), 62);
        assert_eq!(Errno::EOPNOTSUPP.get(), 95);
        assert_eq!(Errno::EALREADY.get(), 114);
        assert_eq!(Errno::ECANCELED.get(), 125);
        assert_eq!(Errno::EINVAL.res(), -22);
    }

    #[test]
    fn from_res_round_trips() {
        assert_eq!(Errno::from_res(-125), Some(Errno::ECANCELED));
        assert_eq!(Errno::from_res(0), None);
        assert_eq!(Errno::from_res(42), None);
        assert_eq!(Errno::from_res(i32::MIN), None);
        assert_eq!(Errno::new(0), None);
        assert_eq!(Errno::new(4096), None);
        assert_eq!(Errno::new(95), Some(Errno::EOPNOTSUPP));
    }
}
