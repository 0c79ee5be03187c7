//! The embedded workspace's data model: items, sprints, releases and their sync history.
//!
//! These are plain serde types: the store keeps them as JSON values in its own tables, the admin
//! API serves them as they are, and the sync engine maps them to and from Jira issues.
//! Field names are camelCase on the wire, like the manifests.

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
    pub integration: String,
    /// `pushed | pulled | conflict | unlinked | created | adopted`.
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
}
