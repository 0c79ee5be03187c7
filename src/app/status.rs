//! `GET /api/v1/status`: one document that reads across the parts (the desired state and
//! conditions of the reconcilers, the store's live facts, the engine's per-integration state),
//! which is why it is assembled here, above them, and not in any one of them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::controller::ObjectRef;
use crate::jira::check::{FieldPair, JiraFieldRef};
use crate::jira::ResolvedIntegration;
use crate::live::LiveView;
use crate::manifest::model::{FieldMapping, ProjectIntegration, Workspace};
use crate::manifest::Kind;
use crate::reconcile::{provenance, spec, Context};
use crate::store::Store;
use crate::sync::engine::Engine;
use crate::sync::jobs::{JobRecord, JOBS_NS};
use crate::watch::WatchStatus;

/// What the status document reads besides the controller's context.
pub struct StatusInputs<'a> {
    pub ctx: &'a Context,
    pub engine: &'a Engine,
    pub live: &'a LiveView,
    pub conflicts: &'a RecentConflicts,
    pub watch: &'a WatchStatus,
    pub manifests_dir: &'a Path,
    /// The public listener's address, for the webhook URL a person creates in Jira when
    /// tandem does not manage the webhook (no `publicUrl`).
    pub public_addr: Option<SocketAddr>,
}

/// The base URL Jira reaches the public listener at, as well as tandem can tell: the bound
/// address when it is a specific one, else a placeholder host with the bound port.
pub fn manual_webhook_base(public_addr: Option<SocketAddr>) -> String {
    match public_addr {
        Some(a) if !a.ip().is_unspecified() => format!("http://{a}"),
        Some(a) => format!("https://<this host>:{}", a.port()),
        None => "https://<this host>:8686".to_owned(),
    }
}

/// `/api/v1/status`: the manifests as applied, every resource with its conditions, and the
/// live facts (webhook state, link counts) read from the store at request time.
pub fn status_json(inputs: &StatusInputs<'_>) -> serde_json::Value {
    let StatusInputs {
        ctx,
        engine,
        live,
        conflicts,
        watch,
        manifests_dir,
        public_addr,
    } = *inputs;
    let manual_base = manual_webhook_base(public_addr);
    let desired = ctx.desired();
    let store = ctx.store();
    let store_stats = store.stats();
    let webhook_states: HashMap<String, crate::store::WebhookState> = store
        .webhook_states()
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.connection.clone(), s))
        .collect();
    let list = ctx.board().list();
    // Declared but never valid: not running, still shown with why.
    let never_good = desired.rejected.iter().filter(|(key, _)| {
        !list
            .iter()
            .any(|s| s.kind == key.kind && s.name == key.name)
    });
    let never_good: Vec<serde_json::Value> = never_good
        .map(|(key, why)| {
            serde_json::json!({
                "kind": key.kind, "name": key.name, "digest": null,
                "conditions": [{"type": "Ready", "status": false, "reason": "InvalidSpec",
                                "message": why.join("; ")}],
                "rejected": why,
            })
        })
        .collect();
    let items: Vec<serde_json::Value> = list
        .into_iter()
        .map(|s| {
            let key = ObjectRef::new(s.kind.clone(), s.name.clone());
            let declared_digest = desired.digest(&key).map(str::to_owned);
            let mut v = serde_json::to_value(&s).unwrap_or_default();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("digest".into(), declared_digest.into());
                if let Some(why) = desired.rejected.get(&key) {
                    obj.insert("rejected".into(), serde_json::json!(why));
                }
                if s.kind == Kind::Connection.as_str() {
                    let state = webhook_states.get(&s.name);
                    obj.insert(
                        "webhook".into(),
                        serde_json::json!({
                            "state": if state.is_some() { "connected" } else { "waiting" },
                            "events": state.map(|w| w.count).unwrap_or(0),
                            "lastEventAt": state.map(|w| w.last_event_at),
                        }),
                    );
                    obj.insert(
                        "rateLimit".into(),
                        serde_json::to_value(live.client(&s.name).map(|c| c.rate_limit()))
                            .unwrap_or_default(),
                    );
                    if let Some(c) = desired.model.connections.get(&s.name) {
                        // Where Jira must send webhooks when tandem does not register them.
                        let mut paths: Vec<String> = desired
                            .model
                            .integrations
                            .values()
                            .filter(|pi| pi.connection == s.name)
                            .filter_map(|pi| desired.model.workspaces.get(&pi.workspace))
                            .map(|ws| format!("/webhooks/jira/{}", ws.id))
                            .collect();
                        paths.sort();
                        paths.dedup();
                        // Cloud and Data Center alike: without publicUrl a person creates
                        // the webhook, and needs the full URL for it.
                        let manual: Vec<String> = if c.webhook_public_url.is_none() {
                            paths.iter().map(|p| format!("{manual_base}{p}")).collect()
                        } else {
                            Vec::new()
                        };
                        obj.insert(
                            "webhookSetup".into(),
                            json!({
                                "managed": c.webhook_public_url.is_some(),
                                "publicUrl": c.webhook_public_url,
                                "paths": paths,
                                "manualUrls": manual,
                            }),
                        );
                    }
                }
                if let Some(pi) = desired
                    .model
                    .integrations
                    .get(&s.name)
                    .filter(|_| s.kind == Kind::ProjectIntegration.as_str())
                {
                    obj.insert("connection".into(), pi.connection.clone().into());
                    let managed = desired
                        .model
                        .connections
                        .get(&pi.connection)
                        .is_some_and(|c| c.webhook_public_url.is_some());
                    if !managed {
                        if let Some(ws) = desired.model.workspaces.get(&pi.workspace) {
                            obj.insert(
                                "manualWebhookUrl".into(),
                                format!("{manual_base}/webhooks/jira/{}", ws.id).into(),
                            );
                        }
                    }
                }
                if s.kind == Kind::Workspace.as_str() {
                    obj.insert("unroutable".into(), engine.unroutable_status(&s.name, 20));
                }
                if s.kind == Kind::ProjectIntegration.as_str() {
                    obj.insert(
                        "links".into(),
                        store.count_links(&s.name).unwrap_or(0).into(),
                    );
                    obj.insert("sync".into(), engine.integration_status(&s.name));
                    obj.insert("recentConflicts".into(), conflicts.of(&s.name).into());
                    if let Some(pi) = desired.model.integrations.get(&s.name) {
                        let failures = s.details.get("failures").cloned().unwrap_or(Value::Null);
                        let warnings = s.details.get("warnings").cloned().unwrap_or(Value::Null);
                        let checked = s.details.get("failures").is_some();
                        let ws = desired.model.workspaces.get(&pi.workspace);
                        let fm = pi
                            .field_mapping
                            .as_ref()
                            .and_then(|n| desired.model.field_mappings.get(n));
                        obj.insert(
                            "jiraUrl".into(),
                            desired
                                .model
                                .connections
                                .get(&pi.connection)
                                .map(|c| c.url.clone())
                                .into(),
                        );
                        obj.insert("workspace".into(), pi.workspace.clone().into());
                        if let Some(ws) = ws {
                            obj.insert(
                                "mapping".into(),
                                mapping_rows(
                                    pi,
                                    ws,
                                    fm,
                                    live.resolved_integration(&s.name).as_ref(),
                                    checked,
                                    &failures,
                                    &warnings,
                                ),
                            );
                        }
                    }
                }
            }
            v
        })
        .chain(never_good)
        .collect();
    let resolved = watch
        .resolved_root
        .clone()
        .unwrap_or_else(|| manifests_dir.to_path_buf());
    let from_git = watch.source == Some("git");
    // Git source: the last commit accepted whole is what runs as declared; a later one with
    // errors is shown apart (its valid resources run, its rejected ones keep their last good
    // version). Directory source: the files run as they are, HEAD is only where they came from.
    let edits_rejected = !desired.rejected.is_empty() || desired.other_errors > 0;
    let commit = if from_git {
        desired.provenance.accepted.clone()
    } else {
        provenance::applied_commit(&resolved)
    };
    let rejected_commit =
        desired.provenance.latest.clone().filter(|latest| {
            edits_rejected && Some(latest) != desired.provenance.accepted.as_ref()
        });
    let rejected: Vec<Value> = desired
        .rejected
        .iter()
        .map(|(key, why)| json!({"kind": key.kind, "name": key.name, "diagnostics": why}))
        .collect();
    serde_json::json!({
        "manifests": {
            "dir": watch.root,
            "resolvedDir": watch.resolved_root,
            // `git`: the checked-out commit is applied and uncommitted files are ignored;
            // `directory`: the files are applied as they are.
            "source": watch.source,
            "commit": commit,
            // The latest commit, when some of it was rejected (null when it was accepted).
            "rejectedCommit": rejected_commit,
            // Files that differ from HEAD: ignored (git source) or running as they are
            // (directory source); null: not a git work tree.
            "uncommitted": watch.uncommitted,
            "digest": watch.digest,
            "generation": watch.generation,
            "problem": watch.problem.as_ref().map(|p| p.to_string()),
            "lastScan": watch.last_scan,
            "lastChange": watch.last_change,
            // Every rejected edit: resources whose new version is rejected (their last good
            // version keeps running) and errors that name no resource (a file that does not
            // parse); `diagnostics` also lists warnings.
            "rejected": rejected,
            "errors": desired.rejected.values().map(Vec::len).sum::<usize>() + desired.other_errors,
            "diagnostics": desired.other_diagnostics,
        },
        "resources": items,
        // Stored (kept for audit until their retention passes) and not yet read by the engine.
        "storedWebhookEvents": store.webhook_event_count().unwrap_or(0),
        // Whether the state file still takes writes (a full disk stops it until a restart).
        "stateFile": {
            "writable": store_stats.write_failure.is_none(),
            "error": store_stats.write_failure,
            // Links that gave an item two issues or an issue two items when the file was
            // opened (written before tandem refused them); kept, never deleted.
            "linkViolations": store.link_violations_at_open(),
        },
        "pendingWebhookEvents": engine.unread_webhooks(),
        // One-time sync jobs (SyncJob manifests and ad-hoc ones), newest first.
        "jobs": recent_jobs(store, 10),
        "engine": engine.stats(),
    })
}

/// The newest `limit` one-time sync jobs, newest first.
fn recent_jobs(store: &Store, limit: usize) -> Value {
    let mut jobs: Vec<JobRecord> = store
        .list_kv(JOBS_NS)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(_, bytes)| serde_json::from_slice(&bytes).ok())
        .collect();
    jobs.sort_by(|a, b| b.started.cmp(&a.started).then_with(|| b.id.cmp(&a.id)));
    jobs.truncate(limit);
    jobs.iter()
        .map(|j| serde_json::to_value(j).unwrap_or_default())
        .collect::<Vec<_>>()
        .into()
}

/// The Field & Type mapping of one integration as the guide's screen shows it: one row per
/// mapped pair, with what Jira resolved it to and the online check's verdict for that row.
fn mapping_rows(
    pi: &ProjectIntegration,
    ws: &Workspace,
    fm: Option<&FieldMapping>,
    resolved: Option<&ResolvedIntegration>,
    checked: bool,
    failures: &Value,
    warnings: &Value,
) -> Value {
    let rows_of = |list: &Value| -> Vec<(String, String)> {
        list.as_array()
            .map(|a| {
                a.iter()
                    .map(|f| {
                        let text = match f["hint"].as_str() {
                            Some(h) if !h.is_empty() => {
                                format!("{} ({h})", f["message"].as_str().unwrap_or_default())
                            }
                            _ => f["message"].as_str().unwrap_or_default().to_owned(),
                        };
                        (f["pair"].as_str().unwrap_or_default().to_owned(), text)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let failures = rows_of(failures);
    let warnings = rows_of(warnings);
    // A row's verdict: the check's failure for its pair, else OK once a check resolved it.
    let verdict = |label_prefix: &str, resolved_id: Option<String>| -> Value {
        let failed: Vec<&str> = failures
            .iter()
            .filter(|(pair, _)| pair.starts_with(label_prefix))
            .map(|(_, m)| m.as_str())
            .collect();
        let warned: Vec<&str> = warnings
            .iter()
            .filter(|(pair, _)| pair.starts_with(label_prefix))
            .map(|(_, m)| m.as_str())
            .collect();
        let (verdict, message) = if !failed.is_empty() {
            ("failed", failed.join("; "))
        } else if !warned.is_empty() {
            ("warning", warned.join("; "))
        } else if checked && (failures.is_empty() || resolved_id.is_some()) {
            // The check reports every failing pair, so a passing check passed every row; a
            // failing one vouches only for rows it resolved.
            ("ok", String::new())
        } else {
            ("unchecked", String::new())
        };
        json!({"verdict": verdict, "message": message, "resolved": resolved_id})
    };
    let spec = spec::integration_spec(pi, ws, fm);
    let mut rows = Vec::new();
    let depth_of = |name: &str| -> u32 {
        spec.types
            .iter()
            .find(|t| t.workspace == name)
            .map(|t| t.depth)
            .unwrap_or_else(|| {
                let mut d = 0;
                let mut cur = ws.item_type(name).and_then(|t| t.parent.clone());
                while let Some(p) = cur {
                    d += 1;
                    if d as usize > ws.item_types.len() {
                        break;
                    }
                    cur = ws.item_type(&p).and_then(|t| t.parent.clone());
                }
                d
            })
    };
    // Workspace types in the workspace's own order (the hierarchy as declared).
    for t in &ws.item_types {
        let mapping = pi.types.iter().find(|m| m.workspace == t.name);
        let jira = mapping.and_then(|m| m.jira.clone());
        let mut row = match &jira {
            Some(j) => {
                let r = resolved.and_then(|r| r.types.get(&t.name));
                let mut v = verdict(&format!("type {} → ", t.name), r.map(|r| r.id.clone()));
                v["level"] = r.map(|r| r.level()).into();
                v["jira"] = j.clone().into();
                v
            }
            None => json!({"verdict": "ignored", "message": "", "resolved": null, "jira": null}),
        };
        row["section"] = "types".into();
        row["workspace"] = t.name.clone().into();
        row["parent"] = t.parent.clone().into();
        row["depth"] = depth_of(&t.name).into();
        rows.push(row);
    }
    for s in &pi.secondary_types {
        let mut row = verdict(&format!("secondary type Jira \"{}\"", s.jira), None);
        if row["verdict"] == "unchecked" && checked {
            row["verdict"] = "ok".into();
        }
        row["section"] = "secondaryTypes".into();
        row["workspace"] = s.workspace.clone().into();
        row["jira"] = s.jira.clone().into();
        rows.push(row);
    }
    for st in &spec.statuses {
        let r = resolved.and_then(|r| r.statuses.get(&st.workspace));
        let mut row = verdict(
            &format!("status {} → ", st.workspace),
            r.map(|r| r.id.clone()),
        );
        row["section"] = "statuses".into();
        row["workspace"] = st.workspace.clone().into();
        row["jira"] = st.jira.clone().into();
        rows.push(row);
    }
    for f in &spec.fields {
        rows.push(field_row(f, resolved, &verdict));
    }
    rows.into()
}

fn field_row(
    f: &FieldPair,
    resolved: Option<&ResolvedIntegration>,
    verdict: &dyn Fn(&str, Option<String>) -> Value,
) -> Value {
    let section = match f.workspace.as_str() {
        "components" | "releases" | "storyPoints" | "team" => "primary",
        "objective" | "keyResult" | "value" | "effort" => "defaults",
        _ => "custom",
    };
    let jira = match &f.jira {
        JiraFieldRef::Auto => "auto (the board's estimation field)".to_owned(),
        JiraFieldRef::Named(n) => n.clone(),
    };
    let id = resolved.and_then(|r| r.fields.get(&f.workspace).map(|x| x.id.clone()));
    let id = match (&f.jira, id) {
        (JiraFieldRef::Auto, None) => resolved.and_then(|r| r.story_points_field.clone()),
        (_, id) => id,
    };
    let mut row = verdict(&format!("field {} → ", f.workspace), id);
    row["section"] = section.into();
    row["workspace"] = f.workspace.clone().into();
    row["jira"] = jira.into();
    row["kind"] = serde_json::to_value(f.kind).unwrap_or_default();
    row
}

/// Conflicts kept per integration for the page.
const CONFLICTS_KEPT: usize = 10;
/// Links read per integration when looking for conflicts (a bound, not a rule).
const CONFLICT_SCAN_LINKS: usize = 20_000;

/// The newest conflicts of each integration, read from the items' histories when the engine's
/// conflict counter moves (not on every status request: the page polls status every second or
/// two, and a scan reads every linked item's history).
#[derive(Clone, Default)]
pub struct RecentConflicts {
    inner: Arc<Mutex<ConflictsState>>,
}

#[derive(Default)]
struct ConflictsState {
    /// The engine's conflict counter at the last scan.
    scanned_at: Option<u64>,
    by_integration: HashMap<String, Vec<Value>>,
}

impl RecentConflicts {
    /// The newest conflicts of `integration`, newest first.
    pub fn of(&self, integration: &str) -> Vec<Value> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_integration
            .get(integration)
            .cloned()
            .unwrap_or_default()
    }

    /// Whether the engine's conflict counter moved since the last scan (or none ran yet).
    pub fn needs_scan(&self, engine_conflicts: u64) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .scanned_at
            != Some(engine_conflicts)
    }

    /// Reads the histories of every linked item of `integrations` (blocking: store reads).
    pub fn scan(&self, store: &Store, integrations: &[String], engine_conflicts: u64) {
        let mut found = HashMap::new();
        for name in integrations {
            let mut list: Vec<Value> = Vec::new();
            let links = store.links_of_integration(name).unwrap_or_default();
            for link in links.iter().take(CONFLICT_SCAN_LINKS) {
                let Ok(history) = store.ws_history(&link.workspace, &link.workspace_item_id) else {
                    continue;
                };
                for e in history.iter().filter(|e| e.action == "conflict") {
                    list.push(json!({
                        "at": e.at,
                        "workspace": link.workspace,
                        "item": link.workspace_item_id,
                        "issue": link.jira_issue_key,
                        "field": e.field,
                        "winnerSide": e.winner_side,
                        "message": e.message,
                    }));
                }
            }
            list.sort_by(|a, b| b["at"].as_str().cmp(&a["at"].as_str()));
            list.truncate(CONFLICTS_KEPT);
            found.insert(name.clone(), list);
        }
        let mut st = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        st.by_integration = found;
        st.scanned_at = Some(engine_conflicts);
    }
}
