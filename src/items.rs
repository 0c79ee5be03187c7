//! The embedded workspace's data types: items, sprints, releases, their sync history and the
//! change feed's entries.
//!
//! Plain serde types, below both `store` (which keeps them as JSON values in its tables) and
//! `workspace` (which validates and edits them); the admin API serves them as they are, and the
//! sync engine maps them to and from Jira issues. Field names are camelCase on the wire.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An item's identity inside one workspace: assigned by the store, never reused.
pub type ItemId = String;

/// One backlog item (initiative, epic, feature, story, or whatever the Workspace declares).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub id: ItemId,
    /// `metadata.name` of the Workspace manifest the item belongs to.
    pub workspace: String,
    /// Optimistic concurrency: incremented on every write; `If-Match` compares it.
    pub version: u64,
    /// One of the workspace's `itemTypes` (or a secondary type's workspace type).
    #[serde(rename = "type")]
    pub item_type: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// One of the workspace's `statuses`.
    pub status: String,
    /// Parent item (hierarchy follows the workspace's `itemTypes` parents).
    #[serde(default)]
    pub parent: Option<ItemId>,
    /// Sprint name (a workspace sprint; mapped to the integration board's sprint of that name).
    #[serde(default)]
    pub sprint: Option<String>,
    /// Release names (workspace releases = Jira fix versions).
    #[serde(default)]
    pub releases: Vec<String>,
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(default)]
    pub story_points: Option<f64>,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    /// Default fields (`objective`, `keyResult`, `value`, `effort`) and custom fields, by the
    /// workspace field name; values are JSON of the field's type (text → string, number,
    /// singleSelect → string, multiSelect/labels → array of strings, date → "YYYY-MM-DD", url).
    #[serde(default)]
    pub fields: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub comments: Vec<Comment>,
    /// Time spent from Jira worklogs, in seconds.
    #[serde(default)]
    pub time_spent_seconds: u64,
    /// The Jira issue this item is linked to, per integration (an item belongs to at most one
    /// integration at a time, but the map keeps the API honest about which one).
    #[serde(default)]
    pub jira: Option<JiraLink>,
    /// The ProjectIntegration that creates this item's issue, chosen by a person while the
    /// item is unlinked; without it, the first integration by name that writes to Jira and
    /// maps the item's type does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_to: Option<String>,
    /// When each field last changed (names as in the change feed: `title`, `storyPoints`,
    /// `fields.<name>`...), so `lastWriterWins` can decide per field, not per item.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub field_updated: BTreeMap<String, DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// Where an item lives in Jira; shown on every item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JiraLink {
    pub integration: String,
    /// Issue key (changes when an issue moves between projects; links are keyed on `id`).
    pub key: String,
    pub id: String,
    /// Browse URL of the issue.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    /// Workspace comment id.
    pub id: String,
    pub author: String,
    pub body: String,
    pub created: DateTime<Utc>,
    /// The Jira comment id once the comment exists on both sides.
    #[serde(default)]
    pub jira_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sprint {
    pub name: String,
    pub workspace: String,
    pub version: u64,
    /// `future | active | closed`, as Jira's sprint states.
    pub state: String,
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub goal: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    pub name: String,
    pub workspace: String,
    pub version: u64,
    #[serde(default)]
    pub released: bool,
    #[serde(default)]
    pub release_date: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// One entry of an item's sync history: what tandem did, and every value a conflict policy
/// overruled (never silently dropped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    /// Empty for what happened through the admin API (a deletion, for example).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub integration: String,
    /// `pushed | pulled | conflict | unlinked | created | adopted | linked | deleted`.
    pub action: String,
    /// Workspace field name (`title`, `status`, `storyPoints`, custom field name...).
    #[serde(default)]
    pub field: Option<String>,
    /// For conflicts: the value that won, which side it came from, and the value that lost.
    #[serde(default)]
    pub winner: Option<serde_json::Value>,
    #[serde(default)]
    pub winner_side: Option<String>,
    #[serde(default)]
    pub loser: Option<serde_json::Value>,
    #[serde(default)]
    pub message: Option<String>,
    /// Who made the change: `api` or `sync:<integration>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// For a deletion: the item as it was, so that deleting never loses data silently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<serde_json::Value>,
}

impl HistoryEntry {
    /// An entry with only the mandatory parts; callers fill in what applies.
    pub fn new(action: impl Into<String>, origin: Origin) -> Self {
        HistoryEntry {
            at: Utc::now(),
            integration: origin.integration().unwrap_or_default().to_string(),
            action: action.into(),
            field: None,
            winner: None,
            winner_side: None,
            loser: None,
            message: None,
            origin: Some(origin),
            item: None,
        }
    }
}

/// Prefix of every item id: ids read `ITEM-1`, `ITEM-2`, ... in creation order.
pub const ITEM_ID_PREFIX: &str = "ITEM-";

/// The id of the `n`th item of a workspace.
pub fn item_id(n: u64) -> ItemId {
    format!("{ITEM_ID_PREFIX}{n}")
}

/// The number inside a canonical item id (`ITEM-42` → 42); `None` for anything else, so a
/// non-canonical spelling (`ITEM-042`, `item-42`) is simply not found rather than aliased.
pub fn item_number(id: &str) -> Option<u64> {
    let digits = id.strip_prefix(ITEM_ID_PREFIX)?;
    // Canonical means what `item_id` writes: decimal digits only (no sign), no leading zero.
    // Checked on the text rather than by formatting the number back: every item write and
    // lookup goes through here.
    if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Who made a workspace change. The sync engine skips changes it made itself (no echo) by
/// looking at this.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A person or tool through the admin API.
    Api,
    /// The sync engine, on behalf of the named integration.
    Sync(String),
}

impl Origin {
    /// The integration of a sync origin.
    pub fn integration(&self) -> Option<&str> {
        match self {
            Origin::Api => None,
            Origin::Sync(i) => Some(i),
        }
    }

    pub fn is_api(&self) -> bool {
        matches!(self, Origin::Api)
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Api => f.write_str("api"),
            Origin::Sync(i) => write!(f, "sync:{i}"),
        }
    }
}

impl std::str::FromStr for Origin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "api" => Ok(Origin::Api),
            _ => match s.strip_prefix("sync:") {
                Some(i) if !i.is_empty() => Ok(Origin::Sync(i.to_string())),
                _ => Err(format!("unknown change origin {s:?}")),
            },
        }
    }
}

impl Serialize for Origin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Origin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a change-feed entry is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "ref")]
pub enum ChangeTarget {
    Item(ItemId),
    Sprint(String),
    Release(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeOp {
    Create,
    Update,
    Delete,
}

/// One entry of the durable change feed: every workspace write appends exactly one, in the
/// same transaction as the write, so a consumer reading from a cursor misses nothing and sees
/// writes in commit order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Position in the feed; strictly increasing, never reused.
    pub seq: u64,
    pub workspace: String,
    pub target: ChangeTarget,
    /// The version the write produced (for a deletion: one past the last version).
    pub version: u64,
    pub op: ChangeOp,
    pub origin: Origin,
    pub at: DateTime<Utc>,
    /// Camel-case names of the fields an update changed (`title`, `fields.Risk`...), so the
    /// sync engine pushes only those and can tell which fields both sides changed.
    #[serde(default)]
    pub fields: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_canonical_spelling_of_an_id_has_a_number() {
        for n in [1, 9, 10, 42, 1_000_007, u64::MAX] {
            assert_eq!(item_number(&item_id(n)), Some(n));
        }
        for id in [
            "ITEM-",
            "ITEM-0",
            "ITEM-042",
            "ITEM-+4",
            "ITEM--4",
            "ITEM-4 ",
            "item-4",
            "ITEM-4a",
            "ITEM-١",
            "4",
            "ITEM-18446744073709551616",
        ] {
            assert_eq!(item_number(id), None, "{id:?}");
        }
    }
}
