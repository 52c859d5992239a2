//! `fwring-sim encode`: SQEs from JSON lines to raw 64-byte SQEs, so test cases need no
//! `struct.pack`. One JSON object per line, every field of `io_uring_sqe` by name
//! (missing fields are 0):
//!
//! `opcode` (a number or a name: `"nop"`, `"bpf"`, `"timeout"`, … with or without
//! `IORING_OP_`), `flags` (a number or a list of names: `["io_link", "cqe_skip_success"]`,
//! with or without `IOSQE_`), `ioprio`, `fd`, `off`, `addr`, `len`, `op_flags` (a
//! number, or for NOP, the timeout opcodes and ASYNC_CANCEL a list of their flag names:
//! `["immediate_arg", "abs"]`, with or without `IORING_NOP_` / `IORING_TIMEOUT_` /
//! `IORING_ASYNC_CANCEL_`), `user_data`, `buf_index`, `personality`, `file_index`,
//! `addr3`, `pad2`; and, for `IORING_OP_BPF`, `slot` (the top 8 bits of `op_flags`).
//! Blank lines and lines starting with `#` are skipped.
//!
//! ```
//! use fwring::{Sqe, SqeFlags, TimeoutFlags};
//! let sqe = fwring_sim::encode::line(r#"{"opcode":"nop","user_data":7,"flags":["io_link"]}"#).unwrap();
//! assert_eq!(sqe, Sqe::nop().user_data(7).flags(SqeFlags::IO_LINK));
//! let t = r#"{"opcode":"timeout","addr":1000,"len":1,"op_flags":["immediate_arg","etime_success"]}"#;
//! assert_eq!(fwring_sim::encode::line(t).unwrap(), Sqe::timeout(1000, 0, TimeoutFlags::ETIME_SUCCESS));
//! ```

use fwring::{CancelFlags, NopFlags, Sqe, SqeFlags, TimeoutFlags, opcode};
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

/// A flag word from a list of names (`what`: the field, for messages), each name with or
/// without `prefix`, in any case.
fn names_of<'a>(
    what: &str,
    list: &[Value],
    prefix: &str,
    from_name: impl Fn(&str) -> Option<u32>,
    all: impl Iterator<Item = &'a str>,
) -> Result<u32, String> {
    let all: Vec<&str> = all.collect();
    let mut bits = 0;
    for item in list {
        let s = item.as_str().ok_or_else(|| format!("{what}: {item} is not a name"))?;
        let u = s.to_ascii_uppercase();
        let u = u.strip_prefix(prefix).unwrap_or(&u);
        bits |= from_name(u)
            .ok_or_else(|| format!("{what}: unknown flag {s:?} (one of {})", all.join(", ").to_ascii_lowercase()))?;
    }
    Ok(bits)
}

fn flags_of(v: &Value) -> Result<u8, String> {
    let Some(list) = v.as_array() else { return Ok(num(v, "flags", 0, 255)? as u8) };
    let names = SqeFlags::all().iter_names().map(|(n, _)| n);
    let bits = names_of("flags", list, "IOSQE_", |n| SqeFlags::from_name(n).map(|f| f.bits().into()), names)?;
    Ok(bits as u8)
}

/// `op_flags`: a number, or the names of the opcode's own flag type.
fn op_flags_of(v: &Value, op: u8) -> Result<u32, String> {
    let Some(list) = v.as_array() else { return Ok(num(v, "op_flags", 0, u32::MAX.into())? as u32) };
    match op {
        opcode::NOP => {
            let names = NopFlags::all().iter_names().map(|(n, _)| n);
            names_of("op_flags", list, "IORING_NOP_", |n| NopFlags::from_name(n).map(|f| f.bits()), names)
        }
        opcode::TIMEOUT | opcode::LINK_TIMEOUT | opcode::TIMEOUT_REMOVE => {
            let names = TimeoutFlags::all().iter_names().map(|(n, _)| n);
            names_of("op_flags", list, "IORING_TIMEOUT_", |n| TimeoutFlags::from_name(n).map(|f| f.bits()), names)
        }
        opcode::ASYNC_CANCEL => {
            let names = CancelFlags::all().iter_names().map(|(n, _)| n);
            names_of("op_flags", list, "IORING_ASYNC_CANCEL_", |n| CancelFlags::from_name(n).map(|f| f.bits()), names)
        }
        _ => Err(format!(
            "op_flags: names only for nop, timeout, link_timeout, timeout_remove and async_cancel; a number for opcode {op}"
        )),
    }
}

/// One SQE from one JSON object.
pub fn line(text: &str) -> Result<Sqe, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let mut sqe = Sqe::new(0);
    let mut slot = None;
    // Named op flags mean what the opcode's flag type says: read them once the opcode is.
    let mut op_flags = None;
    for (k, v) in obj {
        match k.as_str() {
            "opcode" => sqe.opcode = opcode_of(v)?,
            "flags" => sqe.flags = flags_of(v)?,
            "ioprio" => sqe.ioprio = num(v, k, 0, u16::MAX.into())? as u16,
            "fd" => sqe.fd = num(v, k, i32::MIN.into(), i32::MAX.into())? as i32,
            "off" => sqe.off = num(v, k, 0, u64::MAX.into())? as u64,
            "addr" => sqe.addr = num(v, k, 0, u64::MAX.into())? as u64,
            "len" => sqe.len = num(v, k, 0, u32::MAX.into())? as u32,
            "op_flags" => op_flags = Some(v),
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
    if let Some(v) = op_flags {
        sqe.op_flags = op_flags_of(v, sqe.opcode)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_flags_by_name_use_the_opcodes_flag_type() {
        let t = line(r#"{"opcode":"timeout","addr":500,"len":1,"op_flags":["IORING_TIMEOUT_ABS","immediate_arg"]}"#);
        assert_eq!(t, Ok(Sqe::timeout(500, 0, TimeoutFlags::ABS)));
        // The opcode may come after the flags in the object.
        let u = line(r#"{"op_flags":["update","immediate_arg"],"opcode":"timeout_remove","addr":3,"off":9}"#);
        assert_eq!(u, Ok(Sqe::timeout_update(3, 9, TimeoutFlags::empty())));
        let c = line(r#"{"opcode":"async_cancel","addr":5,"op_flags":["all"]}"#);
        assert_eq!(c, Ok(Sqe::cancel(5, CancelFlags::ALL)));
        let n = line(r#"{"opcode":"nop","len":4294967291,"op_flags":["inject_result"]}"#);
        assert_eq!(n, Ok(Sqe::nop_inject(-5)));
        // A number is taken as it is, undefined bits included (the ring refuses them).
        assert_eq!(line(r#"{"opcode":"timeout","op_flags":256}"#).map(|s| s.op_flags), Ok(256));
    }

    #[test]
    fn op_flags_names_that_mean_nothing_are_errors_that_say_what_would() {
        let bpf = line(r#"{"opcode":"bpf","slot":1,"op_flags":["abs"]}"#).unwrap_err();
        assert!(bpf.starts_with("op_flags: names only for nop, timeout, link_timeout"), "{bpf}");
        let typo = line(r#"{"opcode":"timeout","op_flags":["abss"]}"#).unwrap_err();
        assert_eq!(
            typo,
            "op_flags: unknown flag \"abss\" (one of abs, update, boottime, realtime, link_timeout_update, \
             etime_success, multishot, immediate_arg)"
        );
        let cancel = line(r#"{"opcode":"async_cancel","op_flags":["abs"]}"#).unwrap_err();
        assert!(cancel.contains("(one of all, fd, any, fd_fixed, userdata, op)"), "{cancel}");
        assert_eq!(line(r#"{"opcode":"nop","op_flags":[1]}"#), Err("op_flags: 1 is not a name".into()));
    }
}
