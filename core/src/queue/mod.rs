//! The submission queue (SQEs in, the application's side) and the completion queue
//! (CQEs out, shared with reapers), over one index arithmetic.

pub(crate) mod cq;
pub(crate) mod index;
pub mod sq;
