//! Manifests: reading a directory of YAML, the raw serde/schemars types, validation with
//! precise diagnostics, and the validated [`Model`] the rest of tandem works from.
//!
//! The flow is [`collect_files`] (the only I/O here) then [`validate()`], which never stops at
//! the first problem: every diagnostic of every file comes back in one [`Validation`], and the
//! model keeps every resource that is valid on its own and whose references resolve.
//! Architecture invariant: validation is pure (no network, no clock, no secret files read), so
//! the daemon, `tandem validate` and tests all get the same answer for the same files.

mod collect;
mod de;
pub mod diff;
pub mod model;
pub mod raw;
pub mod schema;
mod suggest;
mod validate;
mod yaml;

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

pub use collect::{collect_files, CollectError, SourceFile};
pub use model::{Model, SecretRef};
pub use validate::validate;

/// The five kinds of resource. Serialized as in YAML (`ProjectIntegration`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Kind {
    Workspace,
    Connection,
    ProjectIntegration,
    FieldMapping,
    SyncJob,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Workspace,
        Kind::Connection,
        Kind::ProjectIntegration,
        Kind::FieldMapping,
        Kind::SyncJob,
    ];

    /// The `kind:` value in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Workspace => "Workspace",
            Kind::Connection => "Connection",
            Kind::ProjectIntegration => "ProjectIntegration",
            Kind::FieldMapping => "FieldMapping",
            Kind::SyncJob => "SyncJob",
        }
    }

    /// Exactly as written in YAML; see [`std::str::FromStr`] for a lenient parse.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Case-insensitive, for URLs and command lines (`projectintegration`, `SyncJob`).
impl std::str::FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown kind `{s}`"))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where something is declared: file as collected (not canonicalised, so it reads like the
/// path the user passed), 1-based line and column.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A resource by kind and name.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ResourceRef {
    pub kind: Kind,
    pub name: String,
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// One problem, rendered as `FILE:LINE:COL: Kind/name: message` (warnings say `warning:`
/// before the message), plus an indented `hint:` line when there is one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub location: Location,
    /// `None` when the document could not be identified (syntax error, unknown kind, no name).
    pub resource: Option<ResourceRef>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location)?;
        if let Some(resource) = &self.resource {
            write!(f, "{resource}: ")?;
        }
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// The outcome of validating a set of files.
#[derive(Debug, Clone, Default)]
pub struct Validation {
    /// Only the valid resources.
    pub model: Model,
    /// Sorted by file, line and column.
    pub diagnostics: Vec<Diagnostic>,
    /// Files in which some documents could not be read at all (a YAML syntax error). Their
    /// resources cannot be named, so a controller should keep running whatever those files
    /// declared before rather than treat it as deleted.
    pub broken_files: Vec<PathBuf>,
}

impl Validation {
    pub fn error_count(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }

    pub fn is_valid(&self) -> bool {
        self.error_count() == 0
    }

    /// Resources that are declared but left out of the model because of an error. A controller
    /// keeps their last good version running instead of deleting them.
    pub fn rejected(&self) -> BTreeSet<ResourceRef> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .filter_map(|d| d.resource.clone())
            .collect()
    }

    /// The errors about one resource, for its status.
    pub fn errors_for<'a>(
        &'a self,
        resource: &'a ResourceRef,
    ) -> impl Iterator<Item = &'a Diagnostic> + 'a {
        self.diagnostics
            .iter()
            .filter(move |d| d.severity == Severity::Error && d.resource.as_ref() == Some(resource))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_render_as_file_line_column_resource_message() {
        let mut d = Diagnostic {
            severity: Severity::Error,
            location: Location {
                file: PathBuf::from("m/a.yaml"),
                line: 3,
                column: 7,
            },
            resource: Some(ResourceRef {
                kind: Kind::ProjectIntegration,
                name: "web".into(),
            }),
            message: "Connection `x` does not exist".into(),
            hint: Some("did you mean `y`?".into()),
        };
        assert_eq!(
            d.to_string(),
            "m/a.yaml:3:7: ProjectIntegration/web: Connection `x` does not exist\n  hint: did you mean `y`?"
        );
        d.severity = Severity::Warning;
        d.resource = None;
        d.hint = None;
        assert_eq!(
            d.to_string(),
            "m/a.yaml:3:7: warning: Connection `x` does not exist"
        );
    }

    #[test]
    fn kinds_parse_leniently_from_urls() {
        assert_eq!("projectintegration".parse(), Ok(Kind::ProjectIntegration));
        assert_eq!(Kind::parse("syncjob"), None);
        assert!("Pipeline".parse::<Kind>().is_err());
    }
}
