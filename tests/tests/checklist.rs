//! docs/CONFORMANCE.md stays true: every checklist id cited anywhere in the repository
//! (comments, docs, test names such as `…_c_link_2_c_link_4`) is defined there, every
//! entry says what pins it, and every test it names exists.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const GROUPS: [&str; 12] = ["ABI", "NOP", "OP", "FLAG", "LINK", "DRAIN", "SKIP", "CQ", "CANCEL", "TIME", "BUF", "BPF"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repository root").to_path_buf()
}

/// Every source and documentation file of the repository, build output and git excluded.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if name != "target" && name != ".git" {
                files(&p, out);
            }
        } else if [".rs", ".md", ".toml"].iter().any(|x| name.ends_with(x)) {
            out.push(p);
        }
    }
}

fn number(s: &[u8], i: &mut usize) -> Option<u32> {
    let start = *i;
    while *i < s.len() && s[*i].is_ascii_digit() {
        *i += 1;
    }
    std::str::from_utf8(&s[start..*i]).ok()?.parse().ok()
}

/// Ids written as in prose: `C-BUF-1`, ranges `C-BUF-1..4`, lists `C-DRAIN-1/3/4`,
/// `C-LINK-2/-4`, `C-CQ-3, -4, -5`.
fn prose_ids(text: &str, out: &mut BTreeSet<String>) {
    let s = text.as_bytes();
    let mut i = 0;
    while let Some(off) = text[i..].find("C-") {
        let at = i + off;
        i = at + 2;
        if at > 0 && (s[at - 1].is_ascii_alphanumeric() || s[at - 1] == b'_') {
            continue; // part of a longer word
        }
        let g0 = i;
        while i < s.len() && s[i].is_ascii_uppercase() {
            i += 1;
        }
        let group = &text[g0..i];
        if group.is_empty() || i >= s.len() || s[i] != b'-' {
            continue;
        }
        i += 1;
        let Some(mut last) = number(s, &mut i) else { continue };
        out.insert(format!("C-{group}-{last}"));
        loop {
            let rest = &text[i..];
            let (range, skip) = if rest.starts_with("..") {
                (true, 2)
            } else if rest.starts_with("/-") || rest.starts_with(", -") {
                (false, if rest.starts_with('/') { 2 } else { 3 })
            } else if rest.starts_with('/') {
                (false, 1)
            } else {
                break;
            };
            let mut j = i + skip;
            let Some(n) = number(s, &mut j) else { break };
            i = j;
            if range {
                for k in last..=n {
                    out.insert(format!("C-{group}-{k}"));
                }
            } else {
                out.insert(format!("C-{group}-{n}"));
            }
            last = n;
        }
    }
}

/// Ids written in test names: `…_c_link_2_c_link_4`, `…_c_bpf_5_8_9`, `…_c_buf_5_to_9`.
fn name_ids(text: &str, out: &mut BTreeSet<String>) {
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let parts: Vec<&str> = word.split('_').collect();
        let mut k = 0;
        while k + 2 < parts.len() + 1 {
            let group = parts.get(k + 1).map(|g| g.to_ascii_uppercase());
            let is_group = group.as_deref().is_some_and(|g| GROUPS.contains(&g));
            if parts[k] != "c" || !is_group || parts.get(k + 2).and_then(|n| n.parse::<u32>().ok()).is_none() {
                k += 1;
                continue;
            }
            let group = group.unwrap_or_default();
            let mut j = k + 2;
            let mut last = 0;
            while j < parts.len() {
                if let Ok(n) = parts[j].parse::<u32>() {
                    out.insert(format!("C-{group}-{n}"));
                    last = n;
                    j += 1;
                } else if parts[j] == "to" && j + 1 < parts.len() {
                    let Ok(n) = parts[j + 1].parse::<u32>() else { break };
                    for x in last..=n {
                        out.insert(format!("C-{group}-{x}"));
                    }
                    last = n;
                    j += 2;
                } else {
                    break;
                }
            }
            k = j;
        }
    }
}

/// The checklist's entries: id → the entry's text (up to the next entry or heading).
fn entries() -> Vec<(String, String)> {
    let doc = fs::read_to_string(root().join("docs/CONFORMANCE.md")).expect("docs/CONFORMANCE.md");
    let mut out: Vec<(String, String)> = Vec::new();
    for line in doc.lines() {
        if let Some(rest) = line.strip_prefix("- **C-") {
            let id = rest.split("**").next().unwrap_or_default();
            out.push((format!("C-{id}"), line.to_string()));
        } else if line.starts_with('#') || line.is_empty() {
            out.push((String::new(), String::new()));
        } else if let Some((id, text)) = out.last_mut().filter(|(id, _)| !id.is_empty()) {
            let _ = id;
            text.push(' ');
            text.push_str(line.trim());
        }
    }
    out.retain(|(id, _)| !id.is_empty());
    out
}

#[test]
fn checklist_defines_every_group_in_order_once() {
    let e = entries();
    let ids: Vec<&str> = e.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 122, "the reference checklist has 122 items");
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "an id is defined twice");
    for g in GROUPS {
        let nums: Vec<u32> =
            ids.iter().filter_map(|id| id.strip_prefix(&format!("C-{g}-")).and_then(|n| n.parse().ok())).collect();
        let want: Vec<u32> = (1..=nums.len() as u32).collect();
        assert_eq!(nums, want, "C-{g} numbered 1..n in order");
    }
}

#[test]
fn every_cited_id_is_defined_in_the_checklist() {
    let defined: BTreeSet<String> = entries().into_iter().map(|(id, _)| id).collect();
    let mut all = Vec::new();
    files(&root(), &mut all);
    let mut missing = Vec::new();
    for f in &all {
        let text = fs::read_to_string(f).unwrap_or_default();
        let mut cited = BTreeSet::new();
        prose_ids(&text, &mut cited);
        name_ids(&text, &mut cited);
        for id in cited.difference(&defined) {
            missing.push(format!("{}: {id}", f.strip_prefix(root()).unwrap_or(f).display()));
        }
    }
    assert!(missing.is_empty(), "ids cited but not in docs/CONFORMANCE.md:\n{}", missing.join("\n"));
}

#[test]
fn id_parsing_reads_ranges_lists_and_test_names() {
    let mut s = BTreeSet::new();
    prose_ids("(C-BUF-1..3, C-DRAIN-1/4, C-LINK-2/-4, C-CQ-5, -6) C-V ABC-DEF-1 C-", &mut s);
    name_ids("fn x_c_bpf_5_8_c_abi_4() fn y_c_buf_5_to_7_c_buf_13 abc_op_2", &mut s);
    let want = [
        "C-ABI-4",
        "C-BPF-5",
        "C-BPF-8",
        "C-BUF-1",
        "C-BUF-13",
        "C-BUF-2",
        "C-BUF-3",
        "C-BUF-5",
        "C-BUF-6",
        "C-BUF-7",
        "C-CQ-5",
        "C-CQ-6",
        "C-DRAIN-1",
        "C-DRAIN-4",
        "C-LINK-2",
        "C-LINK-4",
    ];
    assert_eq!(s.iter().map(String::as_str).collect::<Vec<_>>(), want);
}

/// Where the tests a prefix names live.
fn test_files(prefix: &str) -> Vec<PathBuf> {
    let r = root();
    let dir = |d: &str| {
        let mut v = Vec::new();
        files(&r.join(d), &mut v);
        v.retain(|p| p.extension().is_some_and(|x| x == "rs"));
        v
    };
    match prefix {
        "fwring" => dir("core/src"),
        "fwring-sim" => dir("host-sim/src"),
        "firmware" => vec![r.join("firmware-example/src/suite.rs")],
        file => vec![r.join(format!("tests/tests/{file}.rs"))],
    }
}

#[test]
fn every_entry_is_pinned_or_says_why_and_named_tests_exist() {
    let mut problems = Vec::new();
    for (id, text) in entries() {
        let Some((_, pinned)) = text.split_once("Pinned by:") else {
            if !text.contains("Not applicable") {
                problems.push(format!("{id}: neither 'Pinned by:' nor 'Not applicable'"));
            }
            continue;
        };
        for name in pinned.split('`').skip(1).step_by(2) {
            let Some((prefix, _)) = name.split_once("::") else { continue };
            let func = name.rsplit("::").next().unwrap_or_default();
            let needle = format!("fn {func}(");
            let found = test_files(prefix).iter().any(|f| fs::read_to_string(f).unwrap_or_default().contains(&needle));
            if !found {
                problems.push(format!("{id}: `{name}` not found"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
