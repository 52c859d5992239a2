//! The engine: what turns SQEs into CQEs.
//!
//! - `table`: the in-flight request table and its lists;
//! - `submit`: consuming SQEs in Linux's order of checks, link-chain assembly;
//! - `complete`: issuing requests, posting CQEs, the passes that move chains along;
//! - `drain`: IOSQE_IO_DRAIN barriers;
//! - `multishot`: posting the buffers a multishot request's device filled, ending it;
//! - `completion`: pending requests completed from interrupts, other cores or threads
//!   (the lock-free [`Completer`](crate::Completer) and its [`Token`](crate::Token)s);
//! - `ring`: the [`Ring`](crate::Ring) and its split halves.

pub(crate) mod complete;
pub(crate) mod completion;
pub(crate) mod drain;
#[cfg(feature = "multishot")]
pub(crate) mod multishot;
pub(crate) mod ring;
pub(crate) mod submit;
pub(crate) mod table;
