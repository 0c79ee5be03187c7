//! Resolving secret references at use time, so a rotated file takes effect without a restart.
//! Values never leave this module except inside redacting types; errors name the reference,
//! never the value.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::manifest::SecretRef;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret file {name} not found (looked in {searched})")]
    FileNotFound { name: String, searched: String },
    #[error("cannot read secret file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secret file {} is empty", .0.display())]
    EmptyFile(PathBuf),
    #[error("environment variable {0} is not set or empty")]
    EnvMissing(String),
}

/// Where relative secret files live: `$CREDENTIALS_DIRECTORY`, then `--secrets`.
#[derive(Debug, Clone, Default)]
pub struct SecretResolver {
    dirs: Vec<PathBuf>,
}

impl SecretResolver {
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        SecretResolver { dirs }
    }

    /// The path a file reference resolves to, if any candidate exists.
    fn locate(&self, path: &Path) -> Result<PathBuf, SecretError> {
        if path.is_absolute() {
            return Ok(path.to_path_buf());
        }
        for dir in &self.dirs {
            let candidate = dir.join(path);
            if candidate.exists() {
                return Ok(candidate);
            }
        }
        if self.dirs.is_empty() && path.exists() {
            return Ok(path.to_path_buf());
        }
        let searched = if self.dirs.is_empty() {
            "the working directory; set --secrets or $CREDENTIALS_DIRECTORY".to_owned()
        } else {
            self.dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(SecretError::FileNotFound {
            name: path.display().to_string(),
            searched,
        })
    }

    /// Reads the secret now (blocking file I/O: call from a blocking context). Surrounding
    /// whitespace, such as the newline `echo` leaves, is not part of the secret.
    pub fn resolve(&self, reference: &SecretRef) -> Result<String, SecretError> {
        match reference {
            SecretRef::File(path) => {
                let path = self.locate(path)?;
                let raw = std::fs::read_to_string(&path).map_err(|source| SecretError::Read {
                    path: path.clone(),
                    source,
                })?;
                let value = raw.trim();
                if value.is_empty() {
                    return Err(SecretError::EmptyFile(path));
                }
                Ok(value.to_owned())
            }
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
                _ => Err(SecretError::EnvMissing(name.clone())),
            },
        }
    }

    /// A digest over the current values of `refs` (unresolvable ones count as their error), so
    /// a poller can tell that a secret changed without keeping the secret itself.
    pub fn fingerprint<'a>(&self, refs: impl IntoIterator<Item = &'a SecretRef>) -> String {
        let mut h = Sha256::new();
        for r in refs {
            match self.resolve(r) {
                Ok(v) => h.update(v.as_bytes()),
                Err(e) => h.update(format!("error:{e}").as_bytes()),
            }
            h.update([0u8]);
        }
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_files_resolve_in_order_and_are_trimmed() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(b.path().join("tok"), "s3cret\n").unwrap();
        let r = SecretResolver::new(vec![a.path().into(), b.path().into()]);
        assert_eq!(r.resolve(&SecretRef::File("tok".into())).unwrap(), "s3cret");
        std::fs::write(a.path().join("tok"), "first").unwrap();
        assert_eq!(r.resolve(&SecretRef::File("tok".into())).unwrap(), "first");
    }

    #[test]
    fn errors_name_the_reference_not_the_value() {
        let a = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("empty"), " \n").unwrap();
        let r = SecretResolver::new(vec![a.path().into()]);
        let e = r.resolve(&SecretRef::File("missing".into())).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
        let e = r.resolve(&SecretRef::File("empty".into())).unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");
    }

    #[test]
    fn fingerprint_changes_with_the_value() {
        let a = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("t"), "one").unwrap();
        let r = SecretResolver::new(vec![a.path().into()]);
        let refs = [SecretRef::File("t".into())];
        let before = r.fingerprint(&refs);
        assert_eq!(before, r.fingerprint(&refs));
        std::fs::write(a.path().join("t"), "two").unwrap();
        assert_ne!(before, r.fingerprint(&refs));
        assert!(!before.contains("one"));
    }
}
