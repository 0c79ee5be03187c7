//! Fields Jira refuses in an edit.
//!
//! Jira refuses a whole edit with 400 when one field cannot be set: it is not on the issue
//! type's edit screen, outside its context, or its value is invalid there. One such field must
//! not hold back the others, so the engine writes the edit again without the refused fields
//! (`pair`), and each refused field is recorded here per pair: the item's history says it
//! once per reason, status lists it (`refusedFields` of the integration), and
//! `tandem_sync_fields_refused_total` counts it. The baseline keeps the field's old ancestor,
//! so the workspace value is neither lost nor taken for synced: it is offered to Jira again
//! whenever the pair runs, and the record is dropped (history: `accepted`) once Jira takes it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::store::Store;
use crate::workspace::model::HistoryEntry;

use super::pair::{PairEnv, PairError};
use super::ENGINE_NS;

fn refused_key(integration: &str, item: &str, field: &str) -> String {
    format!("refused/{integration}/{item}/{field}")
}

/// What is known of a refused field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Refused {
    /// The issue key.
    key: String,
    /// The Jira field id Jira named.
    jira_field: String,
    /// Jira's reason.
    reason: String,
    since: DateTime<Utc>,
}

fn load(store: &Store, integration: &str, item: &str, field: &str) -> Option<Refused> {
    store
        .get_kv(ENGINE_NS, &refused_key(integration, item, field))
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

async fn history(env: &PairEnv<'_>, item: &str, action: &str, field: &str, message: String) {
    let mut entry = HistoryEntry::new(action, env.origin());
    entry.field = Some(field.to_owned());
    entry.message = Some(message);
    if let Err(e) = env
        .shared
        .workspace
        .append_history(env.ws(), item, entry)
        .await
    {
        tracing::warn!(item, field, error = %e, "cannot record a refused field in its history");
    }
}

/// Jira refused `field` (a snapshot key, Jira field `jira_field`) of `item` ⇄ `key` with
/// `reason`; recorded once per reason, in the history too unless the caller already wrote it
/// there (a create's push does).
pub(super) async fn on_refused(
    env: &PairEnv<'_>,
    item: &str,
    key: &str,
    field: &str,
    jira_field: &str,
    reason: &str,
    with_history: bool,
) -> Result<(), PairError> {
    let integration = env.integration();
    env.shared
        .stats
        .fields_refused
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let prior = load(&env.shared.store, integration, item, field);
    if prior.as_ref().is_some_and(|p| p.reason == reason) {
        return Ok(());
    }
    let record = Refused {
        key: key.to_owned(),
        jira_field: jira_field.to_owned(),
        reason: reason.to_owned(),
        since: prior.map(|p| p.since).unwrap_or_else(Utc::now),
    };
    env.shared
        .store
        .put_kv_many(
            ENGINE_NS,
            vec![(
                refused_key(integration, item, field),
                Some(serde_json::to_vec(&record).unwrap_or_default()),
            )],
        )
        .await?;
    tracing::warn!(
        integration,
        item,
        issue = key,
        field,
        jira_field,
        reason,
        "Jira refused a field"
    );
    if !with_history {
        return Ok(());
    }
    history(
        env,
        item,
        "rejected",
        field,
        format!(
            "Jira refused {field} ({jira_field}) on {key}: {reason}; the other fields were written, and this one is offered again when the pair next syncs"
        ),
    )
    .await;
    Ok(())
}

/// Jira took `field` of `item` in an edit: drop a refusal on record, saying so.
pub(super) async fn on_accepted(
    env: &PairEnv<'_>,
    item: &str,
    key: &str,
    field: &str,
) -> Result<(), PairError> {
    let integration = env.integration();
    if load(&env.shared.store, integration, item, field).is_none() {
        return Ok(());
    }
    env.shared
        .store
        .put_kv_many(
            ENGINE_NS,
            vec![(refused_key(integration, item, field), None)],
        )
        .await?;
    history(
        env,
        item,
        "accepted",
        field,
        format!("Jira took {field} on {key} again"),
    )
    .await;
    Ok(())
}

/// The integration's refused fields, for status (at most `limit`, and how many in all).
pub fn refused_status(store: &Store, integration: &str, limit: usize) -> Value {
    super::pair_records(
        store,
        &format!("refused/{integration}/"),
        "fields",
        limit,
        |pair, r: Refused| {
            let (item, field) = pair.split_once('/')?;
            Some(json!({
                "item": item, "issue": r.key, "field": field, "jiraField": r.jira_field,
                "reason": r.reason, "since": r.since,
            }))
        },
    )
}
