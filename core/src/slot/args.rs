//! Extended arguments: records of 64 bytes an SQE can refer to by id, for ops whose
//! arguments do not fit in a 64-byte SQE (the series' "extend 64 byte SQE", with a
//! fixed-capacity table in place of a BPF map).
//!
//! The table lives in the ring (`Ring<SQ, CQ, N, ARGS>`: `ARGS` records, a
//! `heapless::LinearMap` keyed by `u16`). The application fills it with
//! [`Ring::set_arg`](crate::Ring::set_arg); ops read a record in prep and issue, and may
//! update it in issue (state kept across requests, e.g. an error-injection counter).

use crate::bytes::aligned_bytes;

aligned_bytes!(
    /// One extended-argument record: 64 bytes, 8-aligned, viewed as any zerocopy type.
    ArgRecord,
    64
);

/// The argument table as contexts see it (capacity-erased).
pub(crate) type ArgsView = heapless::linear_map::LinearMapView<u16, ArgRecord>;
