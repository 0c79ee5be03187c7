//! The last-synced state of each linked pair: the common ancestor of the 3-way merge.
//!
//! Without it, a difference between the item and the issue cannot say which side changed; with
//! it, "Jira changed", "the workspace changed" and "both changed" (a conflict) are told apart,
//! and what tandem wrote and comes back by webhook compares equal (no echo).
//!
//! Stored as JSON in the key/value table, namespace `sync-baseline/<integration>`, key the item
//! id. Written after every successful sync of the pair (and by the one-time jobs), removed
//! when the pair is unlinked.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::{Store, StoreError};

/// What both sides agreed on after the last sync.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Baseline {
    /// Canonical snapshot values by snapshot key (see [`crate::sync::snapshot`]).
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    /// Key of the parent issue as both sides had it (`None`: no parent).
    #[serde(default)]
    pub parent: Option<String>,
    /// Jira comment id → canonical body, for comments present on both sides.
    #[serde(default)]
    pub comments: BTreeMap<String, String>,
    /// Values tandem is writing to Jira right now, recorded before the write (write-ahead):
    /// a run that stops after the write but before its baseline is saved (a failed workspace
    /// write, a store error, SIGKILL) must not leave tandem's own write looking like someone
    /// else's change. Cleared by the next saved baseline.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub in_flight: BTreeMap<String, Value>,
    /// The issue's `updated` as read by the run that recorded `in_flight`: a run cut off after
    /// its write never checked Jira's changelog for edits of others that its write overwrote,
    /// so the next run checks from here (see [`super::overwrite`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_read: Option<String>,
    /// The same for the other direction: Jira's values a run is writing into the item, on
    /// record before the workspace write. A run cut off after that write (SIGKILL) would
    /// otherwise leave the older ancestor, and the pulled value would look like a workspace
    /// change that goes back over a person's next Jira edit.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ws_in_flight: BTreeMap<String, Value>,
    /// When the values last changed (tandem's clock) and the issue's `updated` then (Jira's
    /// clock): a field a side changed after these, even back to the same value, was changed
    /// (`lastWriterWins` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira_updated: Option<chrono::DateTime<chrono::Utc>>,
}

impl Baseline {
    /// The common ancestor to merge against, given what Jira holds now: a value tandem was
    /// writing and that Jira now shows is tandem's own write, so it is the ancestor; any
    /// other Jira value is judged against the last agreed one.
    pub fn settled(
        &self,
        jira: &BTreeMap<String, Value>,
        ws: &BTreeMap<String, Value>,
    ) -> BTreeMap<String, Value> {
        let mut fields = self.fields.clone();
        for (key, pulled) in &self.ws_in_flight {
            if ws.get(key).unwrap_or(&Value::Null) == pulled {
                fields.insert(key.clone(), pulled.clone());
            }
        }
        for (key, written) in &self.in_flight {
            if jira.get(key).unwrap_or(&Value::Null) == written {
                fields.insert(key.clone(), written.clone());
            }
        }
        fields
    }
}

fn namespace(integration: &str) -> String {
    format!("sync-baseline/{integration}")
}

pub fn load(
    store: &Store,
    integration: &str,
    item_id: &str,
) -> Result<Option<Baseline>, StoreError> {
    Ok(store
        .get_kv(&namespace(integration), item_id)?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

pub async fn save(
    store: &Store,
    integration: &str,
    item_id: &str,
    baseline: &Baseline,
) -> Result<(), StoreError> {
    let (ns, bytes) = encoded(integration, baseline);
    store.put_kv(&ns, item_id, bytes).await
}

/// The key/value namespace and bytes [`save`] stores, for a caller that writes the baseline in
/// a transaction of its own (an import batch writes it with the item, keyed by the item's id).
pub fn encoded(integration: &str, baseline: &Baseline) -> (String, Vec<u8>) {
    // A baseline is agreed on when it is saved, unless the caller knows better.
    let synced_at = baseline.synced_at.unwrap_or_else(chrono::Utc::now);
    let bytes = serde_json::to_vec(&Stamped::new(baseline, synced_at)).unwrap_or_default();
    (namespace(integration), bytes)
}

/// A [`Baseline`] with its `syncedAt`, serialized as the baseline itself would be (same
/// fields, order, names and omissions) but borrowed: an import saves a baseline per issue, and
/// copying each one only to stamp it cost more than writing it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Stamped<'a> {
    fields: &'a BTreeMap<String, Value>,
    parent: &'a Option<String>,
    comments: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "no_entries")]
    in_flight: &'a BTreeMap<String, Value>,
    #[serde(skip_serializing_if = "nothing")]
    in_flight_read: &'a Option<String>,
    #[serde(skip_serializing_if = "no_entries")]
    ws_in_flight: &'a BTreeMap<String, Value>,
    synced_at: chrono::DateTime<chrono::Utc>,
    #[serde(skip_serializing_if = "nothing")]
    jira_updated: &'a Option<chrono::DateTime<chrono::Utc>>,
}

impl<'a> Stamped<'a> {
    fn new(baseline: &'a Baseline, synced_at: chrono::DateTime<chrono::Utc>) -> Stamped<'a> {
        // Every field named: a field added to Baseline fails to compile here until it is
        // written here too.
        let Baseline {
            fields,
            parent,
            comments,
            in_flight,
            in_flight_read,
            ws_in_flight,
            synced_at: _,
            jira_updated,
        } = baseline;
        Stamped {
            fields,
            parent,
            comments,
            in_flight,
            in_flight_read,
            ws_in_flight,
            synced_at,
            jira_updated,
        }
    }
}

fn no_entries<V>(map: &&BTreeMap<String, V>) -> bool {
    map.is_empty()
}

fn nothing<T>(value: &&Option<T>) -> bool {
    value.is_none()
}

pub async fn remove(store: &Store, integration: &str, item_id: &str) -> Result<(), StoreError> {
    store
        .delete_kv(&namespace(integration), item_id)
        .await
        .map(|_| ())
}

/// The baseline after a one-time import wrote the issue's values into the item. `mapped` is the
/// issue as the import mapped it (its comments, so the issue is not mapped twice); `parent` is
/// the parent issue key the item holds now (`None` while the parent is not linked, so the
/// engine still sees Jira's parent as new and sets it later).
pub fn after_import(
    issue: &crate::jira::Issue,
    ctx: &crate::sync::MappingContext,
    mapped: &crate::sync::ItemPatch,
    parent: Option<String>,
) -> Result<Baseline, crate::sync::MappingError> {
    let comments = mapped
        .comments
        .iter()
        .flatten()
        .map(|c| {
            (
                c.jira_id.clone(),
                crate::sync::richtext::canonical_markdown(&c.body),
            )
        })
        .collect();
    let fields = if ctx.reads_every_field() {
        crate::sync::snapshot::fields_snapshot_from_read(issue, ctx, mapped)
    } else {
        crate::sync::fields_snapshot_from_issue(issue, ctx)?
    };
    Ok(Baseline {
        in_flight: Default::default(),
        in_flight_read: None,
        ws_in_flight: Default::default(),
        synced_at: None,
        jira_updated: None,
        fields,
        parent,
        comments,
    })
}

/// The baseline after a one-time push wrote the item's values into the issue.
pub fn after_push(
    item: &crate::workspace::model::Item,
    ctx: &crate::sync::MappingContext,
    parent: Option<String>,
) -> Baseline {
    Baseline {
        in_flight: Default::default(),
        in_flight_read: None,
        ws_in_flight: Default::default(),
        synced_at: None,
        jira_updated: None,
        fields: crate::sync::fields_snapshot(item, ctx),
        parent,
        comments: item
            .comments
            .iter()
            .filter_map(|c| {
                let id = c.jira_id.clone()?;
                Some((id, crate::sync::richtext::canonical_markdown(&c.body)))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `encoded` writes what serializing the stamped baseline itself writes.
    #[test]
    fn encoded_is_the_baseline_serialized() {
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .expect("time")
                .with_timezone(&chrono::Utc)
        };
        let full = Baseline {
            fields: [
                ("title".to_owned(), Value::from("T")),
                ("n".into(), Value::from(3)),
            ]
            .into(),
            parent: Some("P-1".into()),
            comments: [("1".to_owned(), "c \"q\"".to_owned())].into(),
            in_flight: [("title".to_owned(), Value::Null)].into(),
            in_flight_read: Some("2026-01-01T00:00:00.000+0000".into()),
            ws_in_flight: [("labels".to_owned(), serde_json::json!(["a"]))].into(),
            synced_at: Some(at("2026-02-03T04:05:06.789Z")),
            jira_updated: Some(at("2026-02-03T01:00:00Z")),
        };
        let bare = Baseline {
            synced_at: Some(at("2026-02-03T04:05:06Z")),
            ..Baseline::default()
        };
        for b in [full, bare] {
            let (ns, bytes) = encoded("demo", &b);
            assert_eq!(ns, "sync-baseline/demo");
            assert_eq!(bytes, serde_json::to_vec(&b).expect("JSON"));
            assert_eq!(
                serde_json::from_slice::<Baseline>(&bytes).expect("reads"),
                b
            );
        }
        // Without a time, now.
        let (_, bytes) = encoded("demo", &Baseline::default());
        let back: Baseline = serde_json::from_slice(&bytes).expect("reads");
        assert!(back.synced_at.is_some());
    }
}
