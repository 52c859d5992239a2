//! Setup flags by name, as `--setup-flags` takes them: Linux's `IORING_SETUP_*` names
//! without the prefix, any case (`submit_all,bpf_ext`), or numbers (`0x80`).

use fwring::SetupFlags;

/// Every `IORING_SETUP_*` name, lowercase, with its flag.
pub const NAMES: [(&str, SetupFlags); 22] = [
    ("iopoll", SetupFlags::IOPOLL),
    ("sqpoll", SetupFlags::SQPOLL),
    ("sq_aff", SetupFlags::SQ_AFF),
    ("cqsize", SetupFlags::CQSIZE),
    ("clamp", SetupFlags::CLAMP),
    ("attach_wq", SetupFlags::ATTACH_WQ),
    ("r_disabled", SetupFlags::R_DISABLED),
    ("submit_all", SetupFlags::SUBMIT_ALL),
    ("coop_taskrun", SetupFlags::COOP_TASKRUN),
    ("taskrun_flag", SetupFlags::TASKRUN_FLAG),
    ("sqe128", SetupFlags::SQE128),
    ("cqe32", SetupFlags::CQE32),
    ("single_issuer", SetupFlags::SINGLE_ISSUER),
    ("defer_taskrun", SetupFlags::DEFER_TASKRUN),
    ("no_mmap", SetupFlags::NO_MMAP),
    ("registered_fd_only", SetupFlags::REGISTERED_FD_ONLY),
    ("no_sqarray", SetupFlags::NO_SQARRAY),
    ("hybrid_iopoll", SetupFlags::HYBRID_IOPOLL),
    ("cqe_mixed", SetupFlags::CQE_MIXED),
    ("sqe_mixed", SetupFlags::SQE_MIXED),
    ("sq_rewind", SetupFlags::SQ_REWIND),
    ("bpf_ext", SetupFlags::BPF_EXT),
];

/// The name of a single flag, if it has one.
pub fn name(flag: SetupFlags) -> Option<&'static str> {
    NAMES.iter().find(|(_, f)| *f == flag).map(|(n, _)| *n)
}

/// Parse a comma-separated list of flag names or numbers. An empty list is no flags.
pub fn parse(list: &str) -> Result<SetupFlags, String> {
    let mut flags = SetupFlags::empty();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let lower = item.to_ascii_lowercase();
        let lower = lower.strip_prefix("ioring_setup_").unwrap_or(&lower);
        if let Some((_, f)) = NAMES.iter().find(|(n, _)| *n == lower) {
            flags |= *f;
        } else if let Some(bits) = parse_number(lower) {
            flags |= SetupFlags::from_bits_retain(bits);
        } else {
            return Err(format!("unknown setup flag '{item}' (known: {})", NAMES.map(|(n, _)| n).join(", ")));
        }
    }
    Ok(flags)
}

fn parse_number(s: &str) -> Option<u32> {
    match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_errors() {
        assert_eq!(parse(""), Ok(SetupFlags::empty()));
        assert_eq!(parse("submit_all,BPF_EXT"), Ok(SetupFlags::SUBMIT_ALL | SetupFlags::BPF_EXT));
        assert_eq!(parse("IORING_SETUP_CLAMP"), Ok(SetupFlags::CLAMP));
        assert_eq!(parse("0x80, 16"), Ok(SetupFlags::SUBMIT_ALL | SetupFlags::CLAMP));
        assert!(parse("submit_al").unwrap_err().starts_with("unknown setup flag 'submit_al'"));
        assert_eq!(name(SetupFlags::BPF_EXT), Some("bpf_ext"));
        // Every bit up to BPF_EXT has exactly one name.
        assert_eq!(NAMES.iter().fold(0, |a, (_, f)| a | f.bits()), (1 << 22) - 1);
    }
}
