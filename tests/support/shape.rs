//! Structural comparison of JSON bodies: which keys exist at which paths, values ignored.
//!
//! Used to hold the simulator's bodies (webhooks, REST) to real Jira captures: a key the real
//! capture has and ours lacks is a failure unless declared as a documented exception; a key only
//! we send is reported as information, since real captures are samples, not the full contract.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

/// Every key path of a document, e.g. `issue.fields.status.name`. Arrays collapse to `[]`
/// (`changelog.items[].field`), merging the keys of all their elements; intermediate objects
/// are included, so an empty object still shows up.
pub fn key_paths(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    walk(v, "", &mut out);
    out
}

fn walk(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(p.clone());
                walk(child, &p, out);
            }
        }
        Value::Array(items) => {
            let p = format!("{prefix}[]");
            for item in items {
                walk(item, &p, out);
            }
        }
        _ => {}
    }
}

/// A difference we accept on purpose, with the reason a reader of the test needs.
#[derive(Debug, Clone, Copy)]
pub struct Exception {
    /// A key path; `*` inside a segment matches any text (`issue.fields.customfield_*`). It
    /// also covers everything below the path.
    pub path: &'static str,
    pub reason: &'static str,
}

/// Outcome of [`compare`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ShapeDiff {
    /// In the real capture, not in ours, and not excepted: a failure.
    pub missing: Vec<String>,
    /// Only in ours: information.
    pub extra: Vec<String>,
    /// Differences covered by an exception, with its reason.
    pub excepted: Vec<(String, &'static str)>,
}

impl ShapeDiff {
    pub fn is_ok(&self) -> bool {
        self.missing.is_empty()
    }
}

impl fmt::Display for ShapeDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.missing {
            writeln!(f, "missing in ours: {m}")?;
        }
        for e in &self.extra {
            writeln!(f, "only in ours (info): {e}")?;
        }
        for (p, why) in &self.excepted {
            writeln!(f, "excepted: {p} ({why})")?;
        }
        Ok(())
    }
}

/// Compares the key paths of `real` (a capture of real Jira) with `ours`.
pub fn compare(real: &Value, ours: &Value, exceptions: &[Exception]) -> ShapeDiff {
    let (r, o) = (key_paths(real), key_paths(ours));
    let mut diff = ShapeDiff::default();
    for p in r.difference(&o) {
        match exceptions.iter().find(|e| covers(e.path, p)) {
            Some(e) => diff.excepted.push((p.clone(), e.reason)),
            None => diff.missing.push(p.clone()),
        }
    }
    for p in o.difference(&r) {
        match exceptions.iter().find(|e| covers(e.path, p)) {
            Some(e) => diff.excepted.push((p.clone(), e.reason)),
            None => diff.extra.push(p.clone()),
        }
    }
    diff
}

/// Panics with the full list when a real key is missing from ours; prints the extras.
pub fn assert_same_shape(what: &str, real: &Value, ours: &Value, exceptions: &[Exception]) {
    let diff = compare(real, ours, exceptions);
    if !diff.extra.is_empty() {
        eprintln!(
            "{what}: keys only in ours (information):\n  {}",
            diff.extra.join("\n  ")
        );
    }
    assert!(
        diff.is_ok(),
        "{what}: {} key path(s) of the real capture are missing in ours:\n  {}",
        diff.missing.len(),
        diff.missing.join("\n  ")
    );
}

/// Whether `pattern` names `path` or one of its ancestors.
fn covers(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.split('.').collect();
    let segs: Vec<&str> = path.split('.').collect();
    pat.len() <= segs.len() && pat.iter().zip(&segs).all(|(p, s)| glob(p, s))
}

/// `*` matches any run of characters; everything else literally.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}
