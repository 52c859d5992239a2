//! The publishable crates carry the repository's license texts: cargo packages only what
//! is inside a crate's directory, so `core/` and `hal-adapters/` hold copies, and the
//! copies must not drift from the root files.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repository root").to_path_buf()
}

#[test]
fn crate_license_copies_equal_the_root_texts() {
    for name in ["LICENSE-MIT", "LICENSE-APACHE"] {
        let root_text = fs::read_to_string(root().join(name)).expect("root license");
        assert!(root_text.len() > 1000, "{name} holds the whole license text");
        for krate in ["core", "hal-adapters"] {
            let copy = fs::read_to_string(root().join(krate).join(name)).unwrap_or_default();
            assert!(copy == root_text, "{krate}/{name} differs from /{name}: copy the root file over it");
        }
    }
    let mit = fs::read_to_string(root().join("LICENSE-MIT")).expect("LICENSE-MIT");
    assert!(mit.starts_with("Copyright (c) 2026 The fwring developers\n"));
}

#[test]
fn publishable_manifests_name_their_readme_and_docs_rs_settings() {
    for krate in ["core", "hal-adapters"] {
        let manifest = fs::read_to_string(root().join(krate).join("Cargo.toml")).expect("manifest");
        assert!(manifest.contains("readme = \"README.md\""), "{krate}: readme key");
        assert!(root().join(krate).join("README.md").is_file(), "{krate}/README.md");
        assert!(manifest.contains("[package.metadata.docs.rs]"), "{krate}: docs.rs metadata");
        assert!(!manifest.contains("publish = false"), "{krate} is publishable");
    }
}
