//! Desired state: what the controller works towards, derived from manifest snapshots with one
//! rule above all others: nothing is deleted because a manifest is invalid or unreadable.
//! A resource whose new version is rejected, or whose file no longer parses, keeps its last
//! good version; only a resource that is validly absent from the snapshot is removed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::controller::ObjectRef;
use crate::manifest::model::{Connection, FieldMapping, ProjectIntegration, SyncJob, Workspace};
use crate::manifest::{Kind, Model, ResourceRef, Validation};

/// What applying a snapshot changed, as controller keys (added, changed or removed).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    pub changed: Vec<ObjectRef>,
    pub removed: Vec<ObjectRef>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.removed.is_empty()
    }
}

/// The desired state and why some of it is older than the manifests.
#[derive(Debug, Default, Clone)]
pub struct Desired {
    /// Effective resources: the valid new versions plus the last good version of rejected ones.
    /// Shared: every workspace call and pair run reads it, and a copy per read was the
    /// engine's largest allocation.
    pub model: Arc<Model>,
    /// Rendered diagnostics of rejected new versions, per resource (shown in its status).
    pub rejected: BTreeMap<ObjectRef, Vec<String>>,
    /// Diagnostics that name no resource (syntax errors, unknown kinds) and all warnings.
    pub other_diagnostics: Vec<String>,
    /// How many of `other_diagnostics` are errors: a file that does not parse is a rejected
    /// edit too, even though it names no resource.
    pub other_errors: usize,
    /// Where the last applied snapshot came from, so status can tell the commit that runs
    /// from one that was (partly) rejected.
    pub provenance: Provenance,
}

/// The commits behind the desired state (git source only; `None` for plain directories).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The commit of the last snapshot applied, accepted or not.
    pub latest: Option<String>,
    /// The last commit whose every manifest was accepted: what runs as declared.
    pub accepted: Option<String>,
}

/// Something every model resource has: where it is declared and the digest of its spec.
trait Declared: Clone {
    fn file(&self) -> &Path;
    fn digest(&self) -> &str;
}

macro_rules! declared {
    ($($t:ty),*) => {$(
        impl Declared for $t {
            fn file(&self) -> &Path { &self.source.file }
            fn digest(&self) -> &str { &self.digest }
        }
    )*};
}
declared!(
    Workspace,
    Connection,
    ProjectIntegration,
    FieldMapping,
    SyncJob
);

impl Desired {
    /// Applies a validated snapshot on top of the current desired state.
    pub fn apply(&self, validation: &Validation) -> (Desired, Changes) {
        let rejected_refs = validation.rejected();
        let broken: BTreeSet<PathBuf> = validation.broken_files.iter().cloned().collect();
        let ctx = MergeCtx {
            rejected: &rejected_refs,
            broken: &broken,
        };
        let mut changes = Changes::default();
        let (prev, new) = (&self.model, &validation.model);
        let model = Model {
            workspaces: ctx.merge(
                Kind::Workspace,
                &prev.workspaces,
                &new.workspaces,
                &mut changes,
            ),
            connections: ctx.merge(
                Kind::Connection,
                &prev.connections,
                &new.connections,
                &mut changes,
            ),
            integrations: ctx.merge(
                Kind::ProjectIntegration,
                &prev.integrations,
                &new.integrations,
                &mut changes,
            ),
            field_mappings: ctx.merge(
                Kind::FieldMapping,
                &prev.field_mappings,
                &new.field_mappings,
                &mut changes,
            ),
            sync_jobs: ctx.merge(Kind::SyncJob, &prev.sync_jobs, &new.sync_jobs, &mut changes),
        };
        let mut rejected: BTreeMap<ObjectRef, Vec<String>> = BTreeMap::new();
        let mut other = Vec::new();
        let mut other_errors = 0;
        for d in &validation.diagnostics {
            match (&d.resource, d.severity) {
                (Some(r), crate::manifest::Severity::Error) => rejected
                    .entry(ObjectRef::new(r.kind.as_str(), r.name.clone()))
                    .or_default()
                    .push(d.to_string()),
                (None, crate::manifest::Severity::Error) => {
                    other_errors += 1;
                    other.push(d.to_string());
                }
                _ => other.push(d.to_string()),
            }
        }
        // A rejected resource that never had a good version is not running; it still shows.
        (
            Desired {
                model: Arc::new(model),
                rejected,
                other_diagnostics: other,
                other_errors,
                provenance: self.provenance.clone(),
            },
            changes,
        )
    }

    /// Every resource key in the effective model.
    pub fn keys(&self) -> Vec<ObjectRef> {
        let m = &self.model;
        let mut keys = Vec::with_capacity(m.len());
        let mut add = |kind: Kind, names: Vec<&String>| {
            keys.extend(
                names
                    .into_iter()
                    .map(|n| ObjectRef::new(kind.as_str(), n.clone())),
            )
        };
        add(Kind::Workspace, m.workspaces.keys().collect());
        add(Kind::Connection, m.connections.keys().collect());
        add(Kind::FieldMapping, m.field_mappings.keys().collect());
        add(Kind::ProjectIntegration, m.integrations.keys().collect());
        add(Kind::SyncJob, m.sync_jobs.keys().collect());
        keys
    }

    /// The spec digest of a resource in the effective model.
    pub fn digest(&self, key: &ObjectRef) -> Option<&str> {
        let m = &self.model;
        match Kind::parse(&key.kind)? {
            Kind::Workspace => m.workspaces.get(&key.name).map(|r| r.digest.as_str()),
            Kind::Connection => m.connections.get(&key.name).map(|r| r.digest.as_str()),
            Kind::ProjectIntegration => m.integrations.get(&key.name).map(|r| r.digest.as_str()),
            Kind::FieldMapping => m.field_mappings.get(&key.name).map(|r| r.digest.as_str()),
            Kind::SyncJob => m.sync_jobs.get(&key.name).map(|r| r.digest.as_str()),
        }
    }
}

struct MergeCtx<'a> {
    rejected: &'a BTreeSet<ResourceRef>,
    broken: &'a BTreeSet<PathBuf>,
}

impl MergeCtx<'_> {
    fn merge<T: Declared>(
        &self,
        kind: Kind,
        prev: &BTreeMap<String, T>,
        new: &BTreeMap<String, T>,
        changes: &mut Changes,
    ) -> BTreeMap<String, T> {
        let mut out = new.clone();
        for (name, resource) in new {
            if prev.get(name).map(Declared::digest) != Some(resource.digest()) {
                changes
                    .changed
                    .push(ObjectRef::new(kind.as_str(), name.clone()));
            }
        }
        for (name, old) in prev {
            if new.contains_key(name) {
                continue;
            }
            let r = ResourceRef {
                kind,
                name: name.clone(),
            };
            if self.rejected.contains(&r) || self.broken.contains(old.file()) {
                out.insert(name.clone(), old.clone());
            } else {
                changes
                    .removed
                    .push(ObjectRef::new(kind.as_str(), name.clone()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{validate, SourceFile};

    const WS: &str = "apiVersion: tandem/v1\nkind: Workspace\nmetadata:\n  name: product\nspec:\n  id: ws1\n  itemTypes:\n    - name: Epic\n    - name: Story\n      parent: Epic\n  statuses: [Open, Done]\n";

    fn files(list: &[(&str, &str)]) -> Vec<SourceFile> {
        list.iter()
            .map(|(p, t)| SourceFile {
                path: PathBuf::from(p),
                text: t.to_string(),
            })
            .collect()
    }

    #[test]
    fn a_valid_snapshot_adds_and_a_valid_absence_removes() {
        let v = validate(&files(&[("ws.yaml", WS)]));
        assert!(v.is_valid(), "{:?}", v.diagnostics);
        let (d, c) = Desired::default().apply(&v);
        assert_eq!(c.changed, vec![ObjectRef::new("Workspace", "product")]);
        let (_, c) = d.apply(&validate(&files(&[("other.yaml", "# nothing\n")])));
        assert_eq!(c.removed, vec![ObjectRef::new("Workspace", "product")]);
    }

    #[test]
    fn an_unchanged_snapshot_changes_nothing() {
        let v = validate(&files(&[("ws.yaml", WS)]));
        let (d, _) = Desired::default().apply(&v);
        let (_, c) = d.apply(&v);
        assert!(c.is_empty(), "{c:?}");
    }

    #[test]
    fn a_rejected_edit_keeps_the_last_good_version() {
        let (d, _) = Desired::default().apply(&validate(&files(&[("ws.yaml", WS)])));
        let bad = WS.replace("  id: ws1\n", "  id: ws1\n  colour: blue\n");
        let v = validate(&files(&[("ws.yaml", &bad)]));
        assert!(!v.is_valid());
        let (d2, c) = d.apply(&v);
        assert!(c.is_empty(), "{c:?}");
        assert!(d2.model.workspaces.contains_key("product"));
        let why = &d2.rejected[&ObjectRef::new("Workspace", "product")];
        assert!(why[0].starts_with("ws.yaml:"), "{why:?}");
    }

    #[test]
    fn a_file_that_no_longer_parses_removes_nothing() {
        let (d, _) = Desired::default().apply(&validate(&files(&[("ws.yaml", WS)])));
        let v = validate(&files(&[("ws.yaml", "kind: [unclosed\n")]));
        let (d2, c) = d.apply(&v);
        assert!(c.is_empty(), "{c:?}");
        assert!(d2.model.workspaces.contains_key("product"));
        assert!(!d2.other_diagnostics.is_empty());
    }
}
