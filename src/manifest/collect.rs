//! Finding manifest files: the only file-system access of the manifest module.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One manifest file and its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The path as found under the root the caller gave (symlinks not resolved), so that
    /// diagnostics read like the user's own layout.
    pub path: PathBuf,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("manifest directory {} does not exist", .0.display())]
    NotFound(PathBuf),
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not UTF-8 text", .0.display())]
    NotUtf8(PathBuf),
}

/// Reads every `.yaml`/`.yml` file under `root`, recursively, in a deterministic order (sorted
/// by name at each level). Names starting with `.` are skipped: git metadata, editor swap files
/// and the `..data` symlink farms of Kubernetes volumes. Symlinks to files and directories are
/// followed; a directory or file reached twice (a symlink loop, two links to one target) is read
/// once. `root` may also be a single file.
///
/// Any I/O error fails the whole collection: a caller that got a partial list might conclude
/// that resources were deleted.
pub fn collect_files(root: &Path) -> Result<Vec<SourceFile>, CollectError> {
    let meta = match fs::metadata(root) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(CollectError::NotFound(root.to_path_buf()))
        }
        Err(source) => {
            return Err(CollectError::Io {
                path: root.to_path_buf(),
                source,
            })
        }
    };
    let mut walker = Walker::default();
    if meta.is_dir() {
        walker.dir(root)?;
    } else {
        walker.file(root)?;
    }
    Ok(walker.files)
}

#[derive(Default)]
struct Walker {
    seen_dirs: HashSet<PathBuf>,
    seen_files: HashSet<PathBuf>,
    files: Vec<SourceFile>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CollectError + '_ {
    move |source| CollectError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Walker {
    fn dir(&mut self, dir: &Path) -> Result<(), CollectError> {
        let canonical = fs::canonicalize(dir).map_err(io_err(dir))?;
        if !self.seen_dirs.insert(canonical) {
            return Ok(());
        }
        let mut entries = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name();
            if name.as_encoded_bytes().first() == Some(&b'.') {
                continue;
            }
            entries.push(entry.path());
        }
        entries.sort();
        for path in entries {
            // Follows symlinks. A dangling link to a manifest is an error rather than a silent
            // deletion; one to anything else is none of our business.
            let meta = match fs::metadata(&path) {
                Ok(meta) => meta,
                Err(_) if !is_manifest(&path) && fs::symlink_metadata(&path).is_ok() => continue,
                Err(source) => return Err(CollectError::Io { path, source }),
            };
            if meta.is_dir() {
                self.dir(&path)?;
            } else if meta.is_file() && is_manifest(&path) {
                self.file(&path)?;
            }
        }
        Ok(())
    }

    fn file(&mut self, path: &Path) -> Result<(), CollectError> {
        let canonical = fs::canonicalize(path).map_err(io_err(path))?;
        if !self.seen_files.insert(canonical) {
            return Ok(());
        }
        let bytes = fs::read(path).map_err(io_err(path))?;
        let text = String::from_utf8(bytes).map_err(|_| CollectError::NotUtf8(path.into()))?;
        self.files.push(SourceFile {
            path: path.to_path_buf(),
            text,
        });
        Ok(())
    }
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}
