//! `fwring-sim encode`: SQEs from JSON lines to raw 64-byte SQEs, so test cases need no
//! `struct.pack`. One JSON object per line, every field of `io_uring_sqe` by name
//! (missing fields are 0):
//!
//! `opcode` (a number or a name: `"nop"`, `"bpf"`, `"timeout"`, … with or without
//! `IORING_OP_`), `flags` (a number or a list of names: `["io_link", "cqe_skip_success"]`,
//! with or without `IOSQE_`), `ioprio`, `fd`, `off`, `addr`, `len`, `op_flags`,
//! `user_data`, `buf_index`, `personality`, `file_index`, `addr3`, `pad2`; and, for
//! `IORING_OP_BPF`, `slot` (the top 8 bits of `op_flags`). Blank lines and lines starting
//! with `#` are skipped.
//!
//! ```
//! use fwring::{Sqe, SqeFlags};
//! let sqe = fwring_sim::encode::line(r#"{"opcode":"nop","user_data":7,"flags":["io_link"]}"#).unwrap();
//! assert_eq!(sqe, Sqe::nop().user_data(7).flags(SqeFlags::IO_LINK));
//! ```

use fwring::{Sqe, SqeFlags, opcode};
use serde_json::Value;

/// Opcode names (lower case, without `IORING_OP_`).
const OPCODES: &[(&str, u8)] = &[
    ("nop", opcode::NOP),
    ("readv", opcode::READV),
    ("writev", opcode::WRITEV),
    ("fsync", opcode::FSYNC),
    ("read_fixed", opcode::READ_FIXED),
    ("write_fixed", opcode::WRITE_FIXED),
    ("poll_add", opcode::POLL_ADD),
    ("poll_remove", opcode::POLL_REMOVE),
    ("sync_file_range", opcode::SYNC_FILE_RANGE),
    ("sendmsg", opcode::SENDMSG),
    ("recvmsg", opcode::RECVMSG),
    ("timeout", opcode::TIMEOUT),
    ("timeout_remove", opcode::TIMEOUT_REMOVE),
    ("accept", opcode::ACCEPT),
    ("async_cancel", opcode::ASYNC_CANCEL),
    ("link_timeout", opcode::LINK_TIMEOUT),
    ("connect", opcode::CONNECT),
    ("fallocate", opcode::FALLOCATE),
    ("openat", opcode::OPENAT),
    ("close", opcode::CLOSE),
    ("files_update", opcode::FILES_UPDATE),
    ("statx", opcode::STATX),
    ("read", opcode::READ),
    ("write", opcode::WRITE),
    ("fadvise", opcode::FADVISE),
    ("madvise", opcode::MADVISE),
    ("send", opcode::SEND),
    ("recv", opcode::RECV),
    ("openat2", opcode::OPENAT2),
    ("epoll_ctl", opcode::EPOLL_CTL),
    ("splice", opcode::SPLICE),
    ("provide_buffers", opcode::PROVIDE_BUFFERS),
    ("remove_buffers", opcode::REMOVE_BUFFERS),
    ("tee", opcode::TEE),
    ("shutdown", opcode::SHUTDOWN),
    ("renameat", opcode::RENAMEAT),
    ("unlinkat", opcode::UNLINKAT),
    ("mkdirat", opcode::MKDIRAT),
    ("symlinkat", opcode::SYMLINKAT),
    ("linkat", opcode::LINKAT),
    ("msg_ring", opcode::MSG_RING),
    ("fsetxattr", opcode::FSETXATTR),
    ("setxattr", opcode::SETXATTR),
    ("fgetxattr", opcode::FGETXATTR),
    ("getxattr", opcode::GETXATTR),
    ("socket", opcode::SOCKET),
    ("uring_cmd", opcode::URING_CMD),
    ("send_zc", opcode::SEND_ZC),
    ("sendmsg_zc", opcode::SENDMSG_ZC),
    ("read_multishot", opcode::READ_MULTISHOT),
    ("waitid", opcode::WAITID),
    ("futex_wait", opcode::FUTEX_WAIT),
    ("futex_wake", opcode::FUTEX_WAKE),
    ("futex_waitv", opcode::FUTEX_WAITV),
    ("fixed_fd_install", opcode::FIXED_FD_INSTALL),
    ("ftruncate", opcode::FTRUNCATE),
    ("bind", opcode::BIND),
    ("listen", opcode::LISTEN),
    ("recv_zc", opcode::RECV_ZC),
    ("epoll_wait", opcode::EPOLL_WAIT),
    ("readv_fixed", opcode::READV_FIXED),
    ("writev_fixed", opcode::WRITEV_FIXED),
    ("pipe", opcode::PIPE),
    ("nop128", opcode::NOP128),
    ("uring_cmd128", opcode::URING_CMD128),
    ("bpf", opcode::BPF),
];

/// The fields a line may hold.
pub const FIELDS: &[&str] = &[
    "opcode",
    "flags",
    "ioprio",
    "fd",
    "off",
    "addr",
    "len",
    "op_flags",
    "user_data",
    "buf_index",
    "personality",
    "file_index",
    "addr3",
    "pad2",
    "slot",
];

fn num(v: &Value, key: &str, min: i128, max: i128) -> Result<i128, String> {
    let n = v
        .as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
        .ok_or_else(|| format!("{key}: {v} is not an integer"))?;
    if n < min || n > max {
        return Err(format!("{key}: {n} is out of range ({min}..={max})"));
    }
    Ok(n)
}

fn opcode_of(v: &Value) -> Result<u8, String> {
    if let Some(s) = v.as_str() {
        let l = s.to_ascii_lowercase();
        let l = l.strip_prefix("ioring_op_").unwrap_or(&l);
        return OPCODES.iter().find(|(n, _)| *n == l).map(|(_, c)| *c).ok_or_else(|| {
            format!("opcode: unknown name {s:?} (e.g. nop, bpf, timeout, link_timeout, async_cancel, or a number)")
        });
    }
    Ok(num(v, "opcode", 0, 255)? as u8)
}

fn flags_of(v: &Value) -> Result<u8, String> {
    let Some(list) = v.as_array() else { return Ok(num(v, "flags", 0, 255)? as u8) };
    let mut f = SqeFlags::empty();
    for item in list {
        let s = item.as_str().ok_or_else(|| format!("flags: {item} is not a name"))?;
        let u = s.to_ascii_uppercase();
        let u = u.strip_prefix("IOSQE_").unwrap_or(&u);
        let one = SqeFlags::from_name(u).ok_or_else(|| {
            let all: Vec<&str> = SqeFlags::all().iter_names().map(|(n, _)| n).collect();
            format!("flags: unknown flag {s:?} (one of {})", all.join(", ").to_ascii_lowercase())
        })?;
        f |= one;
    }
    Ok(f.bits())
}

/// One SQE from one JSON object.
pub fn line(text: &str) -> Result<Sqe, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let mut sqe = Sqe::new(0);
    let mut slot = None;
    for (k, v) in obj {
        match k.as_str() {
            "opcode" => sqe.opcode = opcode_of(v)?,
            "flags" => sqe.flags = flags_of(v)?,
            "ioprio" => sqe.ioprio = num(v, k, 0, u16::MAX.into())? as u16,
            "fd" => sqe.fd = num(v, k, i32::MIN.into(), i32::MAX.into())? as i32,
            "off" => sqe.off = num(v, k, 0, u64::MAX.into())? as u64,
            "addr" => sqe.addr = num(v, k, 0, u64::MAX.into())? as u64,
            "len" => sqe.len = num(v, k, 0, u32::MAX.into())? as u32,
            "op_flags" => sqe.op_flags = num(v, k, 0, u32::MAX.into())? as u32,
            "user_data" => sqe.user_data = num(v, k, 0, u64::MAX.into())? as u64,
            "buf_index" => sqe.buf_index = num(v, k, 0, u16::MAX.into())? as u16,
            "personality" => sqe.personality = num(v, k, 0, u16::MAX.into())? as u16,
            "file_index" => sqe.file_index = num(v, k, 0, u32::MAX.into())? as u32,
            "addr3" => sqe.addr3 = num(v, k, 0, u64::MAX.into())? as u64,
            "pad2" => sqe.pad2 = num(v, k, 0, u64::MAX.into())? as u64,
            "slot" => slot = Some(num(v, k, 0, 255)? as u32),
            other => return Err(format!("unknown field {other:?} (fields: {})", FIELDS.join(", "))),
        }
    }
    if let Some(s) = slot {
        if sqe.op_flags >> 24 != 0 {
            return Err("slot: op_flags already has a slot in its top 8 bits".into());
        }
        sqe.op_flags |= s << 24;
    }
    Ok(sqe)
}

/// Every SQE of a JSON-lines text, as raw bytes; errors name the line.
pub fn lines(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let sqe = line(t).map_err(|e| format!("line {}: {e}", i + 1))?;
        out.extend_from_slice(zerocopy::IntoBytes::as_bytes(&sqe));
    }
    Ok(out)
}
