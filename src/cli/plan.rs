//! `tandem plan [DIR] [--against DIR|GIT-REF] [--state DIR]`: what applying DIR would change,
//! field by field, with the links each deletion drops and the secret references that do not
//! resolve; offline, as Terraform's and Flux's diffs are, so it runs in CI on a pull request.
//!
//! What DIR is compared with, first that applies: `--against` (a directory, or a git revision
//! of DIR's repository), the set the daemon last applied as recorded in `--state DIR`, HEAD's
//! parent when DIR is in a git work tree, else the running daemon (`--admin`). Link counts come
//! from the state file when it is not locked, else from the daemon when it answers, else they
//! are unknown. Exit 0 when nothing would change, 2 when something would, 1 when DIR is
//! invalid or there is nothing to compare with.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

use super::{admin_client, PlanArgs};
use crate::manifest::diff::{field_changes, spec_values, FieldChange};
use crate::manifest::{collect_files, validate, Model, SecretRef, SourceFile};
use crate::reconcile::{spec, SecretResolver};
use crate::store::Store;
use crate::watch::{git, record};

/// One line of the plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Create {
        kind: String,
        name: String,
    },
    Update {
        kind: String,
        name: String,
        note: String,
        /// Field-level changes, when both versions' manifests are at hand.
        fields: Vec<FieldChange>,
    },
    Delete {
        kind: String,
        name: String,
        note: String,
    },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Create { kind, name } => write!(f, "+ create {kind}/{name}"),
            Step::Update {
                kind,
                name,
                note,
                fields,
            } => {
                write!(f, "~ update {kind}/{name}{note}")?;
                for change in fields {
                    write!(f, "\n    {change}")?;
                }
                Ok(())
            }
            Step::Delete { kind, name, note } => write!(f, "- delete {kind}/{name}{note}"),
        }
    }
}

/// Digest and display name of every resource in a model, by (kind, name).
fn declared(model: &Model) -> BTreeMap<(String, String), (String, Option<String>)> {
    let mut out = BTreeMap::new();
    for r in model.workspaces.values() {
        out.insert(
            ("Workspace".into(), r.name.clone()),
            (r.digest.clone(), None),
        );
    }
    for r in model.connections.values() {
        out.insert(
            ("Connection".into(), r.name.clone()),
            (r.digest.clone(), Some(r.display_name.clone())),
        );
    }
    for r in model.integrations.values() {
        out.insert(
            ("ProjectIntegration".into(), r.name.clone()),
            (r.digest.clone(), Some(r.display_name.clone())),
        );
    }
    for r in model.field_mappings.values() {
        out.insert(
            ("FieldMapping".into(), r.name.clone()),
            (r.digest.clone(), None),
        );
    }
    for r in model.sync_jobs.values() {
        out.insert(("SyncJob".into(), r.name.clone()), (r.digest.clone(), None));
    }
    out
}

fn links_word(n: u64) -> String {
    if n == 1 {
        "1 link".to_owned()
    } else {
        format!("{n} links")
    }
}

/// Compares the validated directory with the daemon's status document.
pub fn plan(model: &Model, status: &Value) -> Vec<Step> {
    let wanted = declared(model);
    let running: Vec<&Value> = status
        .get("resources")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let field = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let mut steps = Vec::new();
    for ((kind, name), (digest, display)) in &wanted {
        match running
            .iter()
            .find(|r| field(r, "kind") == *kind && field(r, "name") == *name)
        {
            None => steps.push(Step::Create {
                kind: kind.clone(),
                name: name.clone(),
            }),
            Some(r) if field(r, "digest") != *digest => {
                let old_display = r
                    .pointer("/details/displayName")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let note = match (old_display, display) {
                    (Some(old), Some(new)) if old != *new => {
                        format!(" (rename \"{old}\" → \"{new}\"; links kept)")
                    }
                    _ => String::new(),
                };
                steps.push(Step::Update {
                    kind: kind.clone(),
                    name: name.clone(),
                    note,
                    fields: Vec::new(),
                });
            }
            Some(_) => {}
        }
    }
    for r in &running {
        let (kind, name) = (field(r, "kind"), field(r, "name"));
        if wanted.contains_key(&(kind.clone(), name.clone())) {
            continue;
        }
        let note = match kind.as_str() {
            "ProjectIntegration" => {
                let n = r.get("links").and_then(Value::as_u64).unwrap_or(0);
                format!(" (drops {})", links_word(n))
            }
            "Connection" => {
                let integrations: Vec<&&Value> = running
                    .iter()
                    .filter(|i| {
                        field(i, "kind") == "ProjectIntegration" && field(i, "connection") == name
                    })
                    .collect();
                let n: u64 = integrations
                    .iter()
                    .filter_map(|i| i.get("links").and_then(Value::as_u64))
                    .sum();
                format!(
                    " (disconnect: ends {} integration(s), drops {}; adding it back does not restore them)",
                    integrations.len(),
                    links_word(n)
                )
            }
            _ => String::new(),
        };
        steps.push(Step::Delete { kind, name, note });
    }
    steps
}

/// The set DIR is compared with.
struct Base {
    /// How the plan names it (`commit 1a2b3c4d5e6f (HEAD^)`, `directory ./old`).
    label: String,
    files: Vec<SourceFile>,
}

/// Why there is nothing to plan against.
#[derive(Debug, thiserror::Error)]
enum BaseError {
    #[error(
        "`{0}` is neither a directory nor a git revision of the manifest directory's repository"
    )]
    UnknownAgainst(String),
    #[error("cannot read the manifests of {what}")]
    Read {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the manifests of {what}")]
    Collect {
        what: String,
        #[source]
        source: crate::manifest::CollectError,
    },
}

/// Reads a git revision's manifests under `dir`.
fn at_revision(dir: &Path, rev: &str, commit: &str) -> Result<Base, BaseError> {
    let label = format!("commit {} ({rev})", git::short(commit));
    let files = git::read_commit(dir, commit).map_err(|source| BaseError::Read {
        what: label.clone(),
        source,
    })?;
    Ok(Base {
        label,
        files: files
            .into_iter()
            .map(|(path, text)| SourceFile { path, text })
            .collect(),
    })
}

/// The base set, by the precedence in the module docs; `Ok(None)`: ask the daemon.
fn base(args: &PlanArgs, dir: &Path) -> Result<Option<Base>, BaseError> {
    if let Some(against) = &args.against {
        let path = Path::new(against);
        if path.is_dir() {
            let files = collect_files(path).map_err(|source| BaseError::Collect {
                what: format!("directory {against}"),
                source,
            })?;
            return Ok(Some(Base {
                label: format!("directory {against}"),
                files,
            }));
        }
        let commit =
            git::resolve(dir, against).ok_or_else(|| BaseError::UnknownAgainst(against.clone()))?;
        return at_revision(dir, against, &commit).map(Some);
    }
    if let Some(state) = &args.state {
        let recorded = record::read_applied(state).map_err(|source| BaseError::Read {
            what: format!(
                "the applied set recorded in {}",
                state.join(record::APPLIED_SET_FILE).display()
            ),
            source,
        })?;
        if let Some(set) = recorded {
            let label = match &set.commit {
                Some(c) => format!("the set the daemon last applied (commit {})", git::short(c)),
                None => "the set the daemon last applied".to_owned(),
            };
            return Ok(Some(Base {
                label,
                files: set
                    .files
                    .into_iter()
                    .map(|(path, text)| SourceFile {
                        path: dir.join(path),
                        text,
                    })
                    .collect(),
            }));
        }
    }
    match git::detect(dir) {
        git::Detected::Repo(_) => match git::resolve(dir, "HEAD^") {
            Some(parent) => at_revision(dir, "HEAD^", &parent).map(Some),
            // The first commit: everything in it is new.
            None => Ok(Some(Base {
                label: "nothing (HEAD has no parent)".to_owned(),
                files: Vec::new(),
            })),
        },
        _ => Ok(None),
    }
}

/// Digest, display name and `spec` of every declared resource of a set.
struct Declared {
    digests: BTreeMap<(String, String), (String, Option<String>)>,
    specs: BTreeMap<(String, String), Value>,
    model: Model,
}

fn declare(files: &[SourceFile], model: Model) -> Declared {
    Declared {
        digests: declared(&model),
        specs: spec_values(files),
        model,
    }
}

/// Link counts per integration: the state file when it can be opened, else the running daemon,
/// else unknown (`None`, with why).
fn link_counts(args: &PlanArgs) -> Result<BTreeMap<String, u64>, String> {
    let daemon = |why: String| -> Result<BTreeMap<String, u64>, String> {
        match admin_client::get_json(&args.admin, "/api/v1/status") {
            Ok(status) => Ok(status["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["kind"] == "ProjectIntegration")
                .filter_map(|r| Some((r["name"].as_str()?.to_owned(), r["links"].as_u64()?)))
                .collect()),
            Err(_) => Err(why),
        }
    };
    match &args.state {
        Some(state) => match Store::link_counts_offline(state) {
            Ok(Some(counts)) => Ok(counts),
            Ok(None) => Err(format!("no state file in {}", state.display())),
            Err(e) => daemon(format!(
                "{}, and the daemon does not answer at {}",
                super::error_chain(&e),
                args.admin
            )),
        },
        None => daemon("unknown without --state DIR or a running daemon".to_owned()),
    }
}

/// The plan of `new` against a set of files.
fn plan_sets(
    old: &Declared,
    new: &Declared,
    links: &Result<BTreeMap<String, u64>, String>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for ((kind, name), (digest, display)) in &new.digests {
        let key = (kind.clone(), name.clone());
        match old.digests.get(&key) {
            None => steps.push(Step::Create {
                kind: kind.clone(),
                name: name.clone(),
            }),
            Some((old_digest, old_display)) if old_digest != digest => {
                let note = match (old_display, display) {
                    (Some(old), Some(new)) if old != new => {
                        format!(" (rename \"{old}\" → \"{new}\"; links kept)")
                    }
                    _ => String::new(),
                };
                let fields = match (old.specs.get(&key), new.specs.get(&key)) {
                    (Some(a), Some(b)) => field_changes(a, b),
                    _ => Vec::new(),
                };
                steps.push(Step::Update {
                    kind: kind.clone(),
                    name: name.clone(),
                    note,
                    fields,
                });
            }
            Some(_) => {}
        }
    }
    let count = |integration: &str| {
        links
            .as_ref()
            .ok()
            .map(|c| c.get(integration).copied().unwrap_or(0))
    };
    let dropped = |n: Option<u64>| match (n, links) {
        (Some(n), _) => links_word(n),
        (None, Err(why)) => format!("an unknown number of links: {why}"),
        (None, Ok(_)) => "an unknown number of links".to_owned(),
    };
    for (kind, name) in old.digests.keys() {
        if new.digests.contains_key(&(kind.clone(), name.clone())) {
            continue;
        }
        let note = match kind.as_str() {
            "ProjectIntegration" => format!(" (drops {})", dropped(count(name))),
            "Connection" => {
                let integrations: Vec<&String> = old
                    .model
                    .integrations
                    .values()
                    .filter(|pi| pi.connection == *name)
                    .map(|pi| &pi.name)
                    .collect();
                let n = integrations.iter().map(|i| count(i)).sum::<Option<u64>>();
                format!(
                    " (disconnect: ends {} integration(s), drops {}; adding it back does not restore them)",
                    integrations.len(),
                    dropped(n)
                )
            }
            _ => String::new(),
        };
        steps.push(Step::Delete {
            kind: kind.clone(),
            name: name.clone(),
            note,
        });
    }
    steps
}

/// Secret references of the new set that are new or changed and do not resolve here (against
/// `$CREDENTIALS_DIRECTORY` and `--secrets`): the daemon would fail to connect with them.
fn unresolved_secrets(
    args: &PlanArgs,
    old: Option<&Model>,
    new: &Model,
    steps: &[Step],
) -> Vec<String> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    dirs.extend(args.secrets.clone());
    let resolver = SecretResolver::new(dirs.clone());
    let mut out = Vec::new();
    // Without the old manifests (planned against the daemon), the connections the plan
    // creates or updates.
    let touched = |name: &str| {
        steps.iter().any(|s| match s {
            Step::Create { kind, name: n } | Step::Update { kind, name: n, .. } => {
                kind == "Connection" && n == name
            }
            Step::Delete { .. } => false,
        })
    };
    for c in new.connections.values() {
        if old.is_none() && !touched(&c.name) {
            continue;
        }
        let before: BTreeSet<String> = old
            .and_then(|m| m.connections.get(&c.name))
            .map(|o| spec::secret_refs(o).into_iter().map(describe).collect())
            .unwrap_or_default();
        for r in spec::secret_refs(c) {
            let shown = describe(r);
            if before.contains(&shown) {
                continue;
            }
            if let Err(e) = resolver.resolve(r) {
                let hint = if dirs.is_empty() && matches!(r, SecretRef::File(_)) {
                    " (give --secrets DIR to check secret files)"
                } else {
                    ""
                };
                out.push(format!(
                    "! Connection/{}: secret {shown} does not resolve: {}{hint}",
                    c.name,
                    super::error_chain(&e)
                ));
            }
        }
    }
    out
}

fn describe(r: &SecretRef) -> String {
    match r {
        SecretRef::File(p) => format!("{{file: {}}}", p.display()),
        SecretRef::Env(n) => format!("{{env: {n}}}"),
    }
}

pub fn run(args: PlanArgs) -> ExitCode {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let files = match collect_files(&dir) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {}", super::error_chain(&e));
            return ExitCode::from(1);
        }
    };
    let validation = validate(&files);
    if !validation.is_valid() {
        for d in &validation.diagnostics {
            eprintln!("{d}");
        }
        eprintln!(
            "error: {} is invalid; fix it before planning",
            dir.display()
        );
        return ExitCode::from(1);
    }
    if validation.model.is_empty() {
        println!(
            "{} declares nothing: the daemon keeps every resource (an empty directory never deletes anything)",
            dir.display()
        );
        return ExitCode::SUCCESS;
    }
    let base = match base(&args, &dir) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {}", super::error_chain(&e));
            return ExitCode::from(1);
        }
    };
    let (steps, old_model, label) = match base {
        Some(base) => {
            let old_model = validate(&base.files).model;
            let old = declare(&base.files, old_model);
            let new = declare(&files, validation.model.clone());
            let links = link_counts(&args);
            (plan_sets(&old, &new, &links), Some(old.model), base.label)
        }
        None => {
            let status = match admin_client::get_json(&args.admin, "/api/v1/status") {
                Ok(s) => s,
                Err(e) => {
                    eprintln!(
                        "error: nothing to compare {} with: it is not in a git work tree, and neither --against DIR|GIT-REF nor --state DIR was given; {}",
                        dir.display(),
                        super::error_chain(&e)
                    );
                    return ExitCode::from(1);
                }
            };
            (
                plan(&validation.model, &status),
                None,
                format!("the daemon at {}", args.admin),
            )
        }
    };
    let secrets = unresolved_secrets(&args, old_model.as_ref(), &validation.model, &steps);
    if steps.is_empty() {
        println!("no changes: {} declares exactly {label}", dir.display());
    } else {
        println!("plan: {} against {label}", dir.display());
        for step in &steps {
            println!("{step}");
        }
    }
    // Not errors (the daemon's machine has its own secrets), but what would fail there when
    // the files are missing.
    for line in &secrets {
        println!("{line}");
    }
    // The plan reads the files as they are; a daemon on a git work tree applies only what is
    // committed, so say when the two differ.
    if let Some(dirty) = crate::watch::uncommitted::uncommitted(&dir).filter(|d| !d.is_empty()) {
        println!(
            "note: not committed yet (the daemon applies only what is committed): {}",
            dirty.join(", ")
        );
    }
    if steps.is_empty() {
        return ExitCode::SUCCESS;
    }
    println!("{} change(s)", steps.len());
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::SourceFile;
    use serde_json::json;

    const CONN: &str = "apiVersion: tandem/v1\nkind: Connection\nmetadata: {name: acme}\nspec:\n  displayName: NAME\n  url: https://acme.atlassian.net\n  auth: {email: a@b.c, apiToken: {file: t}}\n";

    fn model(text: &str) -> Model {
        let v = validate(&[SourceFile {
            path: "m.yaml".into(),
            text: text.to_owned(),
        }]);
        assert!(v.is_valid(), "{:?}", v.diagnostics);
        v.model
    }

    fn running(model: &Model, extra: Vec<Value>) -> Value {
        let mut resources: Vec<Value> = model
            .connections
            .values()
            .map(|c| {
                json!({"kind": "Connection", "name": c.name, "digest": c.digest,
                            "details": {"displayName": c.display_name}})
            })
            .collect();
        resources.extend(extra);
        json!({ "resources": resources })
    }

    #[test]
    fn identical_state_plans_nothing_and_a_rename_keeps_links() {
        let m = model(&CONN.replace("NAME", "Acme"));
        assert!(plan(&m, &running(&m, vec![])).is_empty());
        let renamed = model(&CONN.replace("NAME", "Acme Corp"));
        let steps = plan(&renamed, &running(&m, vec![]));
        assert_eq!(steps.len(), 1);
        assert_eq!(
            steps[0].to_string(),
            "~ update Connection/acme (rename \"Acme\" → \"Acme Corp\"; links kept)"
        );
    }

    #[test]
    fn a_disconnect_says_how_many_links_it_drops() {
        let m = model(&CONN.replace("NAME", "Acme"));
        let status = running(
            &m,
            vec![
                json!({"kind": "Connection", "name": "old", "digest": "x"}),
                json!({"kind": "ProjectIntegration", "name": "web", "digest": "y", "connection": "old", "links": 7}),
                json!({"kind": "ProjectIntegration", "name": "app", "digest": "z", "connection": "old", "links": 5}),
            ],
        );
        let text: Vec<String> = plan(&m, &status).iter().map(ToString::to_string).collect();
        assert!(text.contains(&"- delete Connection/old (disconnect: ends 2 integration(s), drops 12 links; adding it back does not restore them)".to_owned()), "{text:?}");
        assert!(
            text.contains(&"- delete ProjectIntegration/web (drops 7 links)".to_owned()),
            "{text:?}"
        );
    }
}
