//! The test payload, made by build.rs: a text (with repeats) and pseudo-random bytes,
//! as one LZ4 block compressed on the host by `lz4_flex`, with its CRC-32C computed bit
//! by bit — so the on-target decoder and checksum are checked against independent
//! implementations.

include!(concat!(env!("OUT_DIR"), "/payload.rs"));
