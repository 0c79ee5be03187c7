//! `GET /api/v1/status`: one document that reads across the parts (the desired state and
//! conditions of the reconcilers, the store's live facts, the engine's per-integration state),
//! which is why it is assembled here, above them, and not in any one of them.

use std::collections::HashMap;
use std::path::Path;

use crate::controller::ObjectRef;
use crate::manifest::Kind;
use crate::reconcile::{provenance, Context};
use crate::sync::engine::Engine;
use crate::watch::WatchStatus;

/// `/api/v1/status`: the manifests as applied, every resource with its conditions, and the
/// live facts (webhook state, link counts) read from the store at request time.
pub fn status_json(
    ctx: &Context,
    engine: &Engine,
    watch: &WatchStatus,
    manifests_dir: &Path,
) -> serde_json::Value {
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
                }
                if let Some(pi) = desired
                    .model
                    .integrations
                    .get(&s.name)
                    .filter(|_| s.kind == Kind::ProjectIntegration.as_str())
                {
                    obj.insert("connection".into(), pi.connection.clone().into());
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
    serde_json::json!({
        "manifests": {
            "dir": watch.root,
            "resolvedDir": watch.resolved_root,
            "commit": provenance::applied_commit(&resolved),
            "digest": watch.digest,
            "generation": watch.generation,
            "problem": watch.problem.as_ref().map(|p| p.to_string()),
            "lastScan": watch.last_scan,
            "lastChange": watch.last_change,
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
        "engine": engine.stats(),
    })
}
