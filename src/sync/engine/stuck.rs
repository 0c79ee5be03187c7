//! Status changes with no safe path (`Stuck`).
//!
//! A status change passes only through the integration's mapped statuses outside the Done
//! category (`sync::transitions`). When the workflow offers no such path, the pair is
//! `Stuck`: the issue keeps its status (and so does the baseline, so the item's status is
//! pushed again whenever either side changes), the item's history says once which path was
//! needed and what blocks it, status lists the pair with that path (`stuck` of the
//! integration), and `tandem_sync_stuck_total` counts it. Nothing is retried with backoff:
//! only a change of the item, the issue, the workflow or the mapping can help. When the
//! status is reached later (or the item's status no longer asks for a change), the record is
//! dropped and the history says so.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::store::Store;
use crate::workspace::model::HistoryEntry;

use super::super::transitions::TransitionError;
use super::pair::{PairEnv, PairError};
use super::ENGINE_NS;

fn stuck_key(integration: &str, item: &str) -> String {
    format!("stuck/{integration}/{item}")
}

/// What is known of a stuck pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stuck {
    key: String,
    /// Status names, `…` where the workflow is not known.
    path: Vec<String>,
    message: String,
    since: DateTime<Utc>,
}

fn load(store: &Store, integration: &str, item: &str) -> Option<Stuck> {
    store
        .get_kv(ENGINE_NS, &stuck_key(integration, item))
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

async fn history(env: &PairEnv<'_>, item: &str, action: &str, message: String) {
    let mut entry = HistoryEntry::new(action, env.origin());
    entry.field = Some("status".to_owned());
    entry.message = Some(message);
    if let Err(e) = env
        .shared
        .workspace
        .append_history(env.ws(), item, entry)
        .await
    {
        tracing::warn!(item, error = %e, "cannot record a stuck status change in its history");
    }
}

/// The status change of `item` ⇄ `key` has no safe path: record it (once per path and
/// reason), and keep the issue's status in the baseline.
pub(super) async fn on_stuck(
    env: &PairEnv<'_>,
    item: &str,
    key: &str,
    error: &TransitionError,
    baseline: &mut BTreeMap<String, Value>,
    jira_snap: &BTreeMap<String, Value>,
) -> Result<(), PairError> {
    match jira_snap.get("status") {
        Some(v) => baseline.insert("status".to_owned(), v.clone()),
        None => baseline.remove("status"),
    };
    let integration = env.integration();
    let message = format!("status of {key} not changed: {error}");
    let path = error.path();
    let prior = load(&env.shared.store, integration, item);
    if prior
        .as_ref()
        .is_some_and(|p| p.path == path && p.message == message)
    {
        return Ok(());
    }
    let record = Stuck {
        key: key.to_owned(),
        path,
        message: message.clone(),
        since: prior.map(|p| p.since).unwrap_or_else(Utc::now),
    };
    env.shared
        .store
        .put_kv_many(
            ENGINE_NS,
            vec![(
                stuck_key(integration, item),
                Some(serde_json::to_vec(&record).unwrap_or_default()),
            )],
        )
        .await?;
    env.shared
        .stats
        .stuck
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::warn!(integration, item, issue = key, %error, "status change stuck");
    history(env, item, "stuck", message).await;
    Ok(())
}

/// The pair's status is in line again: drop a stuck record, saying so in the history.
pub(super) async fn on_settled(env: &PairEnv<'_>, item: &str, key: &str) -> Result<(), PairError> {
    let integration = env.integration();
    if load(&env.shared.store, integration, item).is_none() {
        return Ok(());
    }
    env.shared
        .store
        .put_kv_many(ENGINE_NS, vec![(stuck_key(integration, item), None)])
        .await?;
    history(
        env,
        item,
        "unstuck",
        format!("status of {key} is in line with the item again"),
    )
    .await;
    Ok(())
}

/// The integration's stuck pairs, for status (at most `limit`, and how many in all).
pub fn stuck_status(store: &Store, integration: &str, limit: usize) -> Value {
    super::pair_records(
        store,
        &format!("stuck/{integration}/"),
        "pairs",
        limit,
        |item, s: Stuck| {
            Some(json!({
                "item": item, "issue": s.key, "since": s.since, "path": s.path,
                "message": s.message,
            }))
        },
    )
}
