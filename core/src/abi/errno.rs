//! Linux errno values, as CQE results carry them (negated).

use core::fmt;

/// A Linux errno number (positive), e.g. [`Errno::EINVAL`] = 22.
///
/// CQEs carry the negated value ([`Errno::res`], or [`Cqe::result`](crate::Cqe::result)
/// to get it back); the Rust API returns `Result<_, Errno>`. One table holds every errno
/// the fwring crates use, with Linux's numbers; `Display` gives the name, the number and
/// Linux's description, `Debug` the name alone.
///
/// ```
/// use fwring::{Cqe, Errno};
///
/// assert_eq!(Errno::EBUSY.to_string(), "EBUSY (16): device or resource busy");
/// assert_eq!(format!("{:?}", Errno::EBUSY), "EBUSY");
/// assert_eq!(Errno::ETIMEDOUT.res(), -110);
/// assert_eq!(Cqe::new(1, -16).result(), Err(Errno::EBUSY));
/// assert_eq!(Cqe::new(2, 4096).result(), Ok(4096));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Errno(u16);

macro_rules! errnos {
    ($($name:ident = $val:literal, $text:literal: $doc:literal,)*) => {
        impl Errno {
            $(
                #[doc = concat!("`", stringify!($name), "` (", stringify!($val), ", \"", $text, "\"): ", $doc)]
                pub const $name: Errno = Errno($val);
            )*

            /// The symbolic name (`"EINVAL"`), or `None` for a number this table lacks.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// What the number means, as Linux's `strerror` words it
            /// (`"invalid argument"`), or `None` for a number this table lacks.
            pub const fn description(self) -> Option<&'static str> {
                match self.0 {
                    $($val => Some($text),)*
                    _ => None,
                }
            }
        }

        #[cfg(test)]
        const TABLE: &[(Errno, &str, u16)] = &[$((Errno::$name, stringify!($name), $val),)*];
    };
}

// Every errno the fwring crates use, in one table: the constant, Linux's number, Linux's
// `strerror` text (lower case) and what it means in fwring.
errnos! {
    EPERM = 1, "operation not permitted": "write access to a read-only (source) buffer.",
    ENOENT = 2, "no such file or directory": "no such entry: cancel target not found.",
    EINTR = 4, "interrupted system call": "interrupted.",
    EIO = 5, "input/output error": "I/O error: a device or bus reported a failure.",
    ENXIO = 6, "no such device or address":
        "unregister with nothing registered; a bus device that did not answer its address.",
    E2BIG = 7, "argument list too long": "argument list too long.",
    EBADF = 9, "bad file descriptor": "bad file descriptor (fwring has no file table).",
    EAGAIN = 11, "resource temporarily unavailable": "try again: the op would block; the core retries once.",
    ENOMEM = 12, "cannot allocate memory": "out of memory: a fixed-size table is full.",
    EACCES = 13, "permission denied": "permission denied.",
    EFAULT = 14, "bad address": "buffer index or range outside what was registered.",
    EBUSY = 16, "device or resource busy":
        "slot or buffer table already registered, or still in use; a device lent out.",
    EEXIST = 17, "file exists": "already exists.",
    ENODEV = 19, "no such device": "no such device: a device cell that was never initialised.",
    EINVAL = 22, "invalid argument": "bad opcode, flags, slot or parameters.",
    ENFILE = 23, "too many open files in system": "file table full.",
    ENOSPC = 28, "no space left on device": "no space left: the destination is too small.",
    ERANGE = 34, "numerical result out of range": "result out of range.",
    ENOSYS = 38, "function not implemented": "not implemented.",
    ENODATA = 61, "no data available": "no data.",
    ETIME = 62, "timer expired": "a TIMEOUT or LINK_TIMEOUT fired.",
    EPROTO = 71, "protocol error": "protocol error: e.g. an SPI frame format error.",
    EBADMSG = 74, "bad message": "corrupted input data, or a checksum that does not verify.",
    EOVERFLOW = 75, "value too large for defined data type": "value too large; a bus overrun.",
    EMSGSIZE = 90, "message too long": "message too long.",
    EOPNOTSUPP = 95, "operation not supported": "opcode not built in, empty op slot, drain after skip.",
    ENOBUFS = 105, "no buffer space available": "no buffer space available.",
    ETIMEDOUT = 110, "connection timed out": "a deadline passed (e.g. an async HAL worker's).",
    EALREADY = 114, "operation already in progress": "cancel came too late: the request is already running.",
    EREMOTEIO = 121, "remote I/O error": "remote I/O error: e.g. an I²C target did not acknowledge data.",
    ECANCELED = 125, "operation canceled": "a linked request failed, or the request was cancelled.",
    EIOCBQUEUED = 529, "iocb queued, will complete later":
        "kernel-internal: the value behind \"issue will complete later\" (`IOU_ISSUE_SKIP_COMPLETE`). \
        An op that returns it from issue fails with -EINVAL, as in the series.",
}

impl Errno {
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

/// The name, the number and what it means: `EBUSY (16): device or resource busy`
/// (`Errno(4000)` for a number the table lacks). `{:?}` gives the name alone.
impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), self.description()) {
            (Some(n), Some(d)) => write!(f, "{n} ({}): {d}", self.0),
            _ => write!(f, "Errno({})", self.0),
        }
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

    /// Every entry of the table, pinned to Linux's number (asm-generic/errno-base.h,
    /// asm-generic/errno.h; EIOCBQUEUED from linux/errno.h).
    #[test]
    fn table_has_every_errno_the_crates_use_with_linux_numbers() {
        let want: [(&str, u16); 32] = [
            ("EPERM", 1),
            ("ENOENT", 2),
            ("EINTR", 4),
            ("EIO", 5),
            ("ENXIO", 6),
            ("E2BIG", 7),
            ("EBADF", 9),
            ("EAGAIN", 11),
            ("ENOMEM", 12),
            ("EACCES", 13),
            ("EFAULT", 14),
            ("EBUSY", 16),
            ("EEXIST", 17),
            ("ENODEV", 19),
            ("EINVAL", 22),
            ("ENFILE", 23),
            ("ENOSPC", 28),
            ("ERANGE", 34),
            ("ENOSYS", 38),
            ("ENODATA", 61),
            ("ETIME", 62),
            ("EPROTO", 71),
            ("EBADMSG", 74),
            ("EOVERFLOW", 75),
            ("EMSGSIZE", 90),
            ("EOPNOTSUPP", 95),
            ("ENOBUFS", 105),
            ("ETIMEDOUT", 110),
            ("EALREADY", 114),
            ("EREMOTEIO", 121),
            ("ECANCELED", 125),
            ("EIOCBQUEUED", 529),
        ];
        assert_eq!(TABLE.len(), want.len());
        for (&(e, name, num), (want_name, want_num)) in TABLE.iter().zip(want) {
            assert_eq!((name, num, e.get()), (want_name, want_num, want_num));
            assert_eq!(e.name(), Some(want_name));
            assert!(e.description().is_some_and(|d| !d.is_empty()), "{name}");
            assert_eq!(Errno::new(num), Some(e));
            assert_eq!(Errno::from_res(-(num as i32)), Some(e));
        }
        assert_eq!((Errno::ENODEV.get(), Errno::EPROTO.get()), (19, 71));
        assert_eq!((Errno::ETIMEDOUT.get(), Errno::EREMOTEIO.get()), (110, 121));
    }

    #[test]
    fn display_gives_name_number_and_description() {
        let mut s = heapless::String::<64>::new();
        let mut show = |e: Errno| {
            s.clear();
            fmt::write(&mut s, format_args!("{e}")).unwrap();
            s.clone()
        };
        assert_eq!(show(Errno::EBUSY), "EBUSY (16): device or resource busy");
        assert_eq!(show(Errno::EINVAL), "EINVAL (22): invalid argument");
        assert_eq!(show(Errno::ETIMEDOUT), "ETIMEDOUT (110): connection timed out");
        assert_eq!(show(Errno::EREMOTEIO), "EREMOTEIO (121): remote I/O error");
        assert_eq!(show(Errno::ECANCELED), "ECANCELED (125): operation canceled");
        assert_eq!(show(Errno::new(4000).unwrap()), "Errno(4000)");
        assert_eq!(Errno::new(4000).unwrap().description(), None);
        let mut d = heapless::String::<16>::new();
        fmt::write(&mut d, format_args!("{:?} {:?}", Errno::ENODEV, Errno::new(3).unwrap())).unwrap();
        assert_eq!(d, "ENODEV Errno(3)");
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
        assert_eq!(Errno::from_res(-4095).map(Errno::get), Some(4095));
        assert_eq!(Errno::from_res(-4096), None);
    }
}
