//! `tandem plan [DIR]`: what applying DIR would change in the running daemon, including the
//! links a deletion drops. Exit 0 when nothing would change, 2 when something would, 1 when DIR
//! is invalid or the daemon cannot be asked.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use super::{admin_client, PlanArgs};
use crate::manifest::{collect_files, validate, Model};

/// One line of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Create {
        kind: String,
        name: String,
    },
    Update {
        kind: String,
        name: String,
        note: String,
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
            Step::Update { kind, name, note } => write!(f, "~ update {kind}/{name}{note}"),
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

pub fn run(args: PlanArgs) -> ExitCode {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
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
    let status = match admin_client::get_json(&args.admin, "/api/v1/status") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", super::error_chain(&e));
            return ExitCode::from(1);
        }
    };
    let steps = plan(&validation.model, &status);
    if steps.is_empty() {
        println!("no changes: the daemon runs exactly {}", dir.display());
        return ExitCode::SUCCESS;
    }
    for step in &steps {
        println!("{step}");
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
