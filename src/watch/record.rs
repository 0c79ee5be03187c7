//! The manifest set the daemon last applied, kept as a plain file in the state directory
//! (`applied-manifests.json`) so that `tandem plan --state DIR` can compare a change with it
//! without a running daemon and without opening the state file, which the daemon locks.
//! Manifests hold secret references, never secrets, so the copy holds none either.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Snapshot;

/// File name in the state directory.
pub const APPLIED_SET_FILE: &str = "applied-manifests.json";

/// One recorded set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AppliedSet {
    /// The commit the files were read from (git source), else `None`.
    pub commit: Option<String>,
    pub digest: String,
    /// Paths relative to the manifest directory, with their text.
    pub files: Vec<(PathBuf, String)>,
}

/// Writes the snapshot's set atomically (a temporary file renamed over the old one), so a
/// reader never sees half a file.
pub fn write_applied(state_dir: &Path, root: &Path, snapshot: &Snapshot) -> io::Result<()> {
    let set = AppliedSet {
        commit: snapshot.commit.clone(),
        digest: snapshot.digest.clone(),
        files: snapshot
            .files
            .iter()
            .map(|(p, t)| (p.strip_prefix(root).unwrap_or(p).to_path_buf(), t.clone()))
            .collect(),
    };
    let text = serde_json::to_vec(&set).map_err(io::Error::other)?;
    let tmp = state_dir.join(format!(".{APPLIED_SET_FILE}.tmp"));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, state_dir.join(APPLIED_SET_FILE))
}

/// The recorded set, or `None` when the daemon never recorded one in `state_dir`.
pub fn read_applied(state_dir: &Path) -> io::Result<Option<AppliedSet>> {
    match std::fs::read(state_dir.join(APPLIED_SET_FILE)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
