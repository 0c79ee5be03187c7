//! Typed request and response bodies. Every response type ignores unknown fields and defaults
//! missing ones, because Jira versions and apps add and drop fields freely.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};

use super::config::{Deployment, Secret};

/// `GET /rest/api/2/serverInfo`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerInfo {
    pub base_url: Option<String>,
    pub version: Option<String>,
    pub version_numbers: Vec<i64>,
    /// "Cloud", "Server" or "DataCenter"; absent on old Server versions.
    pub deployment_type: Option<String>,
    pub build_number: Option<i64>,
    pub server_title: Option<String>,
}

impl ServerInfo {
    pub fn deployment(&self) -> Deployment {
        Deployment::from_deployment_type(self.deployment_type.as_deref())
    }
}

/// A Jira user (`/myself`, authors). Cloud identifies by `accountId`, Data Center by `name`/`key`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    pub account_id: Option<String>,
    pub name: Option<String>,
    pub key: Option<String>,
    pub display_name: String,
    pub email_address: Option<String>,
    pub active: Option<bool>,
}

/// `GET /mypermissions`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Permissions {
    pub permissions: BTreeMap<String, Permission>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Permission {
    pub key: Option<String>,
    pub name: Option<String>,
    pub have_permission: bool,
}

impl Permissions {
    /// Whether the global Jira administrator permission is held (the guide requires it).
    pub fn is_admin(&self) -> bool {
        self.has("ADMINISTER")
    }

    pub fn has(&self, key: &str) -> bool {
        self.permissions.get(key).is_some_and(|p| p.have_permission)
    }
}

/// A field from `GET /field`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Field {
    pub id: String,
    pub key: Option<String>,
    pub name: String,
    pub custom: bool,
    pub schema: Option<FieldSchema>,
    pub clause_names: Vec<String>,
}

/// What a field holds: `type` (string, number, option, array, date, ...), `items` for arrays,
/// `custom` for the custom field type key (e.g. `...:float`), `system` for system fields.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct FieldSchema {
    #[serde(rename = "type")]
    pub kind: String,
    pub items: Option<String>,
    pub custom: Option<String>,
    pub custom_id: Option<i64>,
    pub system: Option<String>,
}

impl FieldSchema {
    /// e.g. `array<option>` or `number`, for messages.
    pub fn describe(&self) -> String {
        let base = match &self.items {
            Some(items) => format!("{}<{items}>", self.kind),
            None => self.kind.clone(),
        };
        match self.custom.as_deref().and_then(|c| c.rsplit(':').next()) {
            Some(custom) => format!("{base} ({custom})"),
            None => base,
        }
    }
}

/// An issue type; `hierarchyLevel` orders them (Epic 1, standard 0, sub-task -1, higher on Cloud
/// Premium). Data Center has no such field: see [`IssueType::level`].
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct IssueType {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub subtask: bool,
    pub hierarchy_level: Option<i32>,
}

impl IssueType {
    /// The hierarchy level, derived on Data Center where Jira does not report it: sub-tasks -1,
    /// the type named "Epic" 1, everything else 0 (Jira Software's fixed hierarchy there).
    pub fn level(&self) -> i32 {
        if let Some(level) = self.hierarchy_level {
            return level;
        }
        if self.subtask {
            -1
        } else if self.name.eq_ignore_ascii_case("epic") {
            1
        } else {
            0
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Project {
    pub id: String,
    pub key: String,
    pub name: String,
    pub project_type_key: Option<String>,
    /// Cloud: "classic" (company-managed) or "next-gen" (team-managed).
    pub style: Option<String>,
    pub issue_types: Vec<IssueType>,
    pub components: Vec<Component>,
    pub versions: Vec<Version>,
}

/// `GET /project/{key}/statuses`: the statuses each issue type's workflow can reach.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct IssueTypeStatuses {
    pub id: String,
    pub name: String,
    pub subtask: bool,
    pub statuses: Vec<Status>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Status {
    pub id: String,
    pub name: String,
    pub status_category: Option<StatusCategory>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct StatusCategory {
    pub id: Option<i64>,
    /// "new", "indeterminate" or "done".
    pub key: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Component {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
}

/// A fix version (a workspace release).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Version {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub released: bool,
    pub archived: bool,
    pub release_date: Option<String>,
    pub start_date: Option<String>,
    pub project_id: Option<i64>,
}

/// Body of `POST /version`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NewVersion {
    pub name: String,
    pub project_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released: Option<bool>,
}

/// `GET /rest/agile/1.0/board/{id}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Board {
    pub id: i64,
    pub name: String,
    /// "scrum", "kanban" or "simple".
    #[serde(rename = "type")]
    pub kind: String,
    pub location: Option<BoardLocation>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BoardLocation {
    pub project_id: Option<i64>,
    pub project_key: Option<String>,
    pub project_name: Option<String>,
    pub display_name: Option<String>,
}

/// `GET /rest/agile/1.0/board/{id}/configuration`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BoardConfiguration {
    pub id: i64,
    pub name: String,
    pub location: Option<ConfigurationLocation>,
    pub estimation: Option<Estimation>,
    pub ranking: Option<Ranking>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ConfigurationLocation {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub key: Option<String>,
    /// A string in Jira's examples, a number on some versions.
    pub id: Option<serde_json::Value>,
}

/// How the board estimates: `type` "field" (with the field) or "issueCount"/"none".
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Estimation {
    #[serde(rename = "type")]
    pub kind: String,
    pub field: Option<EstimationField>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct EstimationField {
    pub field_id: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Ranking {
    pub rank_custom_field_id: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Sprint {
    pub id: i64,
    pub name: String,
    /// "future", "active" or "closed".
    pub state: String,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub complete_date: Option<String>,
    pub origin_board_id: Option<i64>,
    pub goal: Option<String>,
}

/// Body of `POST /rest/agile/1.0/sprint`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NewSprint {
    pub name: String,
    pub origin_board_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
}

/// Body of a partial sprint update (`POST /rest/agile/1.0/sprint/{id}`): only set fields change.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SprintUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
}

/// One page of an Agile API listing.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgilePage<T> {
    #[serde(default)]
    pub start_at: u64,
    #[serde(default)]
    pub max_results: u64,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub is_last: Option<bool>,
    #[serde(default = "Vec::new")]
    pub values: Vec<T>,
}

/// An issue as Jira returns it; `fields` stays untyped so the sync engine maps custom fields itself.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Issue {
    pub id: String,
    pub key: String,
    #[serde(rename = "self")]
    pub self_url: Option<String>,
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Present with `expand=changelog`.
    pub changelog: Option<serde_json::Value>,
    /// Entity properties asked for with the read (`properties=`), by key.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub properties: serde_json::Map<String, serde_json::Value>,
}

/// The issue entity property in which tandem records, on every issue it creates, the item it
/// was created for (`{"item": "<adoption label>"}`): invisible to people, and there even where
/// no screen lets tandem set labels, so a create cut off before its link is still found.
pub const ITEM_PROPERTY: &str = "tandem.item";

/// What `POST /issue` answers.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CreatedIssue {
    pub id: String,
    pub key: String,
    #[serde(rename = "self")]
    pub self_url: Option<String>,
}

/// Body of `POST /issue` and `PUT /issue/{key}`: field values in the dialect's encoding, and
/// optional `update` operations (add/remove on multi-value fields).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct IssueFields {
    pub fields: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub update: serde_json::Map<String, serde_json::Value>,
    /// Entity properties set with a create (`[{key, value}]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<serde_json::Value>,
}

impl IssueFields {
    pub fn new() -> IssueFields {
        IssueFields::default()
    }

    /// Sets one field value (already in the dialect's encoding).
    pub fn set(mut self, field: &str, value: serde_json::Value) -> IssueFields {
        self.fields.insert(field.to_owned(), value);
        self
    }
}

/// Body of `PUT /version/{id}`: only set fields change (rename, dates, release).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VersionUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
}

/// Body of `POST /component`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NewComponent {
    pub name: String,
    /// Project key.
    pub project: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Time logged on an issue (the workspace item's time spent).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Worklog {
    pub id: String,
    pub author: Option<User>,
    /// ADF on Cloud, a string on Data Center.
    pub comment: Option<serde_json::Value>,
    pub started: Option<String>,
    pub time_spent_seconds: u64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WorklogPage {
    pub start_at: u64,
    pub max_results: u64,
    pub total: u64,
    pub worklogs: Vec<Worklog>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Transition {
    pub id: String,
    pub name: String,
    pub to: Option<Status>,
    pub has_screen: Option<bool>,
    /// With `expand=transitions.fields`: what the transition screen asks for.
    pub fields: BTreeMap<String, TransitionField>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct TransitionField {
    pub required: bool,
    pub name: Option<String>,
    pub schema: Option<FieldSchema>,
    pub allowed_values: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Transitions {
    pub transitions: Vec<Transition>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Comment {
    pub id: String,
    /// ADF on Cloud, wiki markup string on Data Center.
    pub body: serde_json::Value,
    pub author: Option<User>,
    pub created: Option<String>,
    pub updated: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct CommentPage {
    pub start_at: u64,
    pub max_results: u64,
    pub total: u64,
    pub comments: Vec<Comment>,
}

/// Body of `POST /issueLink`: `outward` "blocks" `inward`, in the link type's words.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NewIssueLink {
    #[serde(rename = "type")]
    pub link_type: NamedRef,
    pub inward_issue: KeyRef,
    pub outward_issue: KeyRef,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NamedRef {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyRef {
    pub key: String,
}

/// An admin webhook from `/rest/webhooks/1.0/webhook`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Webhook {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    /// e.g. `issue-related-events-section` → JQL.
    pub filters: BTreeMap<String, serde_json::Value>,
    pub exclude_body: bool,
    pub enabled: Option<bool>,
    #[serde(rename = "self")]
    pub self_url: Option<String>,
}

impl Webhook {
    /// The id Jira addresses the webhook by: the last segment of its `self` URL.
    pub fn id(&self) -> Option<String> {
        let url = self.self_url.as_deref()?;
        let last = url.trim_end_matches('/').rsplit('/').next()?;
        (!last.is_empty() && last.chars().all(|c| c.is_ascii_digit())).then(|| last.to_owned())
    }
}

/// Body of a webhook create or update.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSpec {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub filters: BTreeMap<String, String>,
    pub exclude_body: bool,
    /// Jira signs deliveries with it (`X-Hub-Signature`); redacted in `Debug`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_secret"
    )]
    pub secret: Option<Secret>,
}

fn serialize_secret<S: Serializer>(secret: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_str(secret.expose()),
        None => s.serialize_none(),
    }
}

/// One page of Cloud's `/rest/api/3/search/jql`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct TokenSearchPage {
    pub issues: Vec<Issue>,
    pub next_page_token: Option<String>,
    pub is_last: Option<bool>,
}

/// One page of Data Center's `/rest/api/2/search`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct OffsetSearchPage {
    pub start_at: u64,
    pub max_results: u64,
    pub total: Option<u64>,
    pub issues: Vec<Issue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_id_comes_from_self() {
        let hook = Webhook {
            self_url: Some("https://jira/rest/webhooks/1.0/webhook/42".into()),
            ..Webhook::default()
        };
        assert_eq!(hook.id().as_deref(), Some("42"));
        assert_eq!(Webhook::default().id(), None);
    }

    #[test]
    fn webhook_spec_debug_hides_the_secret() {
        let spec = WebhookSpec {
            secret: Some(Secret::new("s3cret-value")),
            ..WebhookSpec::default()
        };
        assert!(!format!("{spec:?}").contains("s3cret"));
        let json = serde_json::to_string(&spec).unwrap();
        assert!(json.contains("s3cret-value"));
    }

    #[test]
    fn data_center_levels_are_derived() {
        let epic = IssueType {
            name: "Epic".into(),
            ..IssueType::default()
        };
        let sub = IssueType {
            name: "Sub-task".into(),
            subtask: true,
            ..IssueType::default()
        };
        let cloud = IssueType {
            name: "Initiative".into(),
            hierarchy_level: Some(2),
            ..IssueType::default()
        };
        assert_eq!((epic.level(), sub.level(), cloud.level()), (1, -1, 2));
    }
}
