//! Helpers shared by the integration tests: the OpenAPI response validator, JSON shape
//! comparison, and locating the shared reference folder.
//!
//! Each test crate uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod openapi;
pub mod shape;

use std::path::PathBuf;

/// The shared folder (`reference/` lives in it): `$TANDEM_SHARED_DIR`, else
/// `$CARGO_MANIFEST_DIR/../shared`.
///
/// When it is absent the caller should skip: this prints a loud `SKIPPED` line and returns
/// None, except under `CI=true`, where a missing reference must fail the run instead of
/// passing silently.
pub fn shared_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("TANDEM_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    if dir.join("reference").is_dir() {
        return Some(dir);
    }
    let msg = format!(
        "SKIPPED: {test} (shared reference folder not found at {}; set TANDEM_SHARED_DIR)",
        dir.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}, and CI=true requires it");
    }
    eprintln!("{msg}");
    None
}

/// Reads a JSON file of the shared reference folder, e.g. `jira-rest/go-jira__all_fields.json`.
pub fn reference_json(shared: &std::path::Path, rel: &str) -> serde_json::Value {
    let path = shared.join("reference").join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}
