//! The opcodes built into the engine: NOP, the op-slot opcode (`IORING_OP_BPF`: prep
//! and issue through the slot's [`OpVTable`](crate::OpVTable)), and, with the feature
//! `timeouts`, TIMEOUT / LINK_TIMEOUT / TIMEOUT_REMOVE and ASYNC_CANCEL.

pub(crate) mod bpf;
pub mod cancel;
pub(crate) mod nop;
pub mod timeout;
