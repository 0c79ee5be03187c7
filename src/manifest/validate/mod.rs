//! Validation: raw documents in, [`Validation`](super::Validation) out.
//!
//! Three passes. Each document is parsed, identified (apiVersion, kind, name), deserialized and
//! checked on its own. Then identities are checked across documents (duplicate names, display
//! names, workspace ids). Then references are resolved in dependency order (workspaces,
//! connections and field mappings, then integrations, then jobs), so that a resource pointing at
//! an invalid one is itself left out, with a message saying why. A resource is in the model
//! exactly when no error names it.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::de::{Ctx, Issue, NodeDe};
use super::model::{self, Model};
use super::raw::{self, API_VERSION};
use super::suggest::similar;
use super::yaml::{self, Node, Pos, Seg, Value};
use super::{Diagnostic, Kind, Location, ResourceRef, Severity, SourceFile, Validation};

/// Validates a set of files as one manifest set: references may cross files.
pub fn validate(files: &[SourceFile]) -> Validation {
    let mut v = Validator::default();
    for file in files {
        v.file(file);
    }
    v.identities();
    v.references();
    v.finish()
}

impl From<&str> for Seg {
    fn from(s: &str) -> Seg {
        Seg::Key(s.to_string())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Seg {
        Seg::Index(i)
    }
}

macro_rules! path {
    ($($seg:expr),* $(,)?) => { [$(Seg::from($seg)),*] };
}

mod cross;
mod spec;

use spec::is_dns_label;

/// Collects diagnostics and remembers which resources have errors.
#[derive(Default)]
struct Sink {
    docs: Vec<(PathBuf, Node)>,
    diagnostics: Vec<Diagnostic>,
    rejected: HashSet<ResourceRef>,
    broken_files: Vec<PathBuf>,
}

impl Sink {
    /// "line 12", or "line 12, column 30" when `first` is on the same line as `here`.
    fn earlier(&self, doc: usize, first: &[Seg], here: &[Seg]) -> String {
        let a = self.location(doc, first, false);
        let b = self.location(doc, here, false);
        if a.line == b.line {
            format!("line {}, column {}", a.line, a.column)
        } else {
            format!("line {}", a.line)
        }
    }

    fn location(&self, doc: usize, path: &[Seg], key: bool) -> Location {
        let (file, root) = &self.docs[doc];
        let pos = root.locate(path, key);
        at(file, pos)
    }

    fn push(
        &mut self,
        severity: Severity,
        location: Location,
        resource: Option<&ResourceRef>,
        message: String,
        hint: Option<String>,
    ) {
        if severity == Severity::Error {
            if let Some(r) = resource {
                self.rejected.insert(r.clone());
            }
        }
        self.diagnostics.push(Diagnostic {
            severity,
            location,
            resource: resource.cloned(),
            message,
            hint,
        });
    }

    /// An error at the value of `path` in the document.
    fn err(
        &mut self,
        doc: usize,
        r: &ResourceRef,
        path: &[Seg],
        msg: String,
        hint: Option<String>,
    ) {
        let loc = self.location(doc, path, false);
        self.push(Severity::Error, loc, Some(r), msg, hint);
    }

    /// An error at the key of `path`: for problems with a whole list or mapping.
    fn err_key(
        &mut self,
        doc: usize,
        r: &ResourceRef,
        path: &[Seg],
        msg: String,
        hint: Option<String>,
    ) {
        let loc = self.location(doc, path, true);
        self.push(Severity::Error, loc, Some(r), msg, hint);
    }

    fn warn(
        &mut self,
        doc: usize,
        r: &ResourceRef,
        path: &[Seg],
        msg: String,
        hint: Option<String>,
    ) {
        let loc = self.location(doc, path, false);
        self.push(Severity::Warning, loc, Some(r), msg, hint);
    }

    fn is_rejected(&self, r: &ResourceRef) -> bool {
        self.rejected.contains(r)
    }
}

fn at(file: &Path, pos: Pos) -> Location {
    Location {
        file: file.to_path_buf(),
        line: pos.line,
        column: pos.column,
    }
}

/// One declared resource: the raw spec when it deserialized, and the model object when the
/// spec is also valid on its own.
struct Decl<S, M> {
    r: ResourceRef,
    doc: usize,
    raw: Option<S>,
    model: Option<M>,
}

#[derive(Default)]
struct Validator {
    sink: Sink,
    workspaces: Vec<Decl<raw::WorkspaceSpec, model::Workspace>>,
    connections: Vec<Decl<raw::ConnectionSpec, model::Connection>>,
    integrations: Vec<Decl<raw::ProjectIntegrationSpec, model::ProjectIntegration>>,
    field_mappings: Vec<Decl<raw::FieldMappingSpec, model::FieldMapping>>,
    sync_jobs: Vec<Decl<raw::SyncJobSpec, model::SyncJob>>,
}

impl Validator {
    // -----------------------------------------------------------------------------------------
    // Pass 1: each document on its own

    fn file(&mut self, file: &SourceFile) {
        let parsed = yaml::parse(&file.text);
        if let Some((pos, message)) = parsed.syntax_error {
            self.sink.push(
                Severity::Error,
                at(&file.path, pos),
                None,
                format!("YAML syntax error: {message}"),
                None,
            );
            self.sink.broken_files.push(file.path.clone());
        }
        for document in parsed.documents {
            let doc = self.sink.docs.len();
            self.sink.docs.push((file.path.clone(), document.root));
            self.document(doc, &document.problems);
        }
    }

    /// Reads apiVersion, kind and name without deserializing, so that every later diagnostic
    /// can name its resource. `None` when the document cannot be identified (already reported).
    fn identify(&mut self, doc: usize) -> Option<(ResourceRef, Option<String>)> {
        let (file, root) = &self.sink.docs[doc];
        let file = file.clone();
        if !matches!(root.value, Value::Map(_)) {
            let loc = at(&file, root.pos);
            self.sink.push(
                Severity::Error,
                loc,
                None,
                "a manifest must be a mapping with apiVersion, kind, metadata and spec".into(),
                None,
            );
            return None;
        }
        let api_version = root
            .get("apiVersion")
            .map(|e| e.value.as_str().map(str::to_string));
        let kind_text = root
            .get("kind")
            .map(|e| e.value.as_str().map(str::to_string));
        let name = root
            .get("metadata")
            .and_then(|e| e.value.get("name"))
            .and_then(|e| e.value.as_str())
            .map(str::to_string);

        let kind = match kind_text {
            None | Some(None) => {
                let loc = at(&file, root.pos);
                self.sink.push(
                    Severity::Error,
                    loc,
                    None,
                    "missing required field `kind`".into(),
                    Some(kinds_hint()),
                );
                return None;
            }
            Some(Some(text)) => match Kind::parse(&text) {
                Some(kind) => kind,
                None => {
                    let loc = self.sink.location(doc, &path!["kind"], false);
                    let hint = match similar(&text, Kind::ALL.iter().map(|k| k.as_str())) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => kinds_hint(),
                    };
                    self.sink.push(
                        Severity::Error,
                        loc,
                        None,
                        format!("unknown kind `{text}`"),
                        Some(hint),
                    );
                    return None;
                }
            },
        };
        let Some(name) = name else {
            let loc = self.sink.location(doc, &path!["metadata", "name"], true);
            self.sink.push(
                Severity::Error,
                loc,
                None,
                format!("{kind}: missing required field `metadata.name`"),
                None,
            );
            return None;
        };
        Some((ResourceRef { kind, name }, api_version.flatten()))
    }

    fn document(&mut self, doc: usize, problems: &[(Pos, String)]) {
        let identity = self.identify(doc);
        let file = self.sink.docs[doc].0.clone();
        for (pos, message) in problems {
            let loc = at(&file, *pos);
            let r = identity.as_ref().map(|(r, _)| r);
            self.sink
                .push(Severity::Error, loc, r, message.clone(), None);
        }
        let Some((r, api_version)) = identity else {
            return;
        };
        match api_version {
            None => {
                let loc = self.sink.location(doc, &[], false);
                self.sink.push(
                    Severity::Error,
                    loc,
                    Some(&r),
                    "missing required field `apiVersion`".into(),
                    Some(format!("add `apiVersion: {API_VERSION}`")),
                );
                return;
            }
            Some(v) if v != API_VERSION => {
                self.sink.err(
                    doc,
                    &r,
                    &path!["apiVersion"],
                    format!("unknown apiVersion `{v}`"),
                    Some(format!("this version of tandem reads `{API_VERSION}`")),
                );
                return;
            }
            Some(_) => {}
        }
        if !is_dns_label(&r.name) {
            self.sink.err(
                doc,
                &r,
                &path!["metadata", "name"],
                format!("`{}` is not a valid name", r.name),
                Some(
                    "names are lowercase DNS labels: `a-z`, `0-9` and `-`, starting and ending \
                     with a letter or digit, at most 63 characters"
                        .into(),
                ),
            );
        }
        match r.kind {
            Kind::Workspace => {
                let raw = self.deserialize::<raw::WorkspaceManifest>(doc, &r);
                let model = raw.as_ref().and_then(|m| self.workspace(doc, &r, &m.spec));
                self.workspaces.push(Decl {
                    r,
                    doc,
                    raw: raw.map(|m| m.spec),
                    model,
                });
            }
            Kind::Connection => {
                let raw = self.deserialize::<raw::ConnectionManifest>(doc, &r);
                let model = raw.as_ref().and_then(|m| self.connection(doc, &r, &m.spec));
                self.connections.push(Decl {
                    r,
                    doc,
                    raw: raw.map(|m| m.spec),
                    model,
                });
            }
            Kind::ProjectIntegration => {
                let raw = self.deserialize::<raw::ProjectIntegrationManifest>(doc, &r);
                let model = raw
                    .as_ref()
                    .and_then(|m| self.integration(doc, &r, &m.spec));
                self.integrations.push(Decl {
                    r,
                    doc,
                    raw: raw.map(|m| m.spec),
                    model,
                });
            }
            Kind::FieldMapping => {
                let raw = self.deserialize::<raw::FieldMappingManifest>(doc, &r);
                let model = raw
                    .as_ref()
                    .and_then(|m| self.field_mapping(doc, &r, &m.spec));
                self.field_mappings.push(Decl {
                    r,
                    doc,
                    raw: raw.map(|m| m.spec),
                    model,
                });
            }
            Kind::SyncJob => {
                let raw = self.deserialize::<raw::SyncJobManifest>(doc, &r);
                let model = raw.as_ref().and_then(|m| self.sync_job(doc, &r, &m.spec));
                self.sync_jobs.push(Decl {
                    r,
                    doc,
                    raw: raw.map(|m| m.spec),
                    model,
                });
            }
        }
    }

    /// Deserializes a whole document, reporting every unknown field and wrong value, and the
    /// missing field or malformed structure that stops it, if any.
    fn deserialize<T: for<'de> Deserialize<'de>>(
        &mut self,
        doc: usize,
        r: &ResourceRef,
    ) -> Option<T> {
        let ctx = Ctx::default();
        let (file, root) = &self.sink.docs[doc];
        let file = file.clone();
        let result = T::deserialize(NodeDe::root(root, &ctx));
        let root_pos = root.pos;
        let (mut issues, substituted) = ctx.into_parts();
        let value = match result {
            // Placeholders stand in for wrong values; checking them would only add noise.
            Ok(_) if substituted => None,
            Ok(value) => Some(value),
            Err(e) => {
                issues.push(e.into_issue(root_pos));
                None
            }
        };
        for Issue { pos, message, hint } in issues {
            self.sink
                .push(Severity::Error, at(&file, pos), Some(r), message, hint);
        }
        value
    }

    fn source(&self, doc: usize) -> Location {
        self.sink.location(doc, &[], false)
    }

    fn finish(self) -> Validation {
        let Validator {
            mut sink,
            workspaces,
            connections,
            integrations,
            field_mappings,
            sync_jobs,
        } = self;
        fn keep<S, M>(sink: &Sink, decls: Vec<Decl<S, M>>) -> BTreeMap<String, M> {
            decls
                .into_iter()
                .filter(|d| !sink.is_rejected(&d.r))
                .filter_map(|d| d.model.map(|m| (d.r.name, m)))
                .collect()
        }
        let model = Model {
            workspaces: keep(&sink, workspaces),
            connections: keep(&sink, connections),
            integrations: keep(&sink, integrations),
            field_mappings: keep(&sink, field_mappings),
            sync_jobs: keep(&sink, sync_jobs),
        };
        // Stable sort: problems at one position stay in the order they were found.
        sink.diagnostics.sort_by(|a, b| a.location.cmp(&b.location));
        Validation {
            model,
            diagnostics: sink.diagnostics,
            broken_files: sink.broken_files,
        }
    }
}

fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    similar(word, candidates).map(|s| format!("did you mean `{s}`?"))
}

fn kinds_hint() -> String {
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    format!("kind is one of {}", kinds.join(", "))
}

/// sha256 of the spec as canonical JSON (keys sorted at every level), so that reordering keys
/// or reformatting YAML does not count as a change.
fn digest<T: serde::Serialize>(spec: &T) -> String {
    let value = serde_json::to_value(spec).unwrap_or(serde_json::Value::Null);
    let mut text = String::new();
    canonical(&value, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(*k) {
                    canonical(v, out);
                }
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}
