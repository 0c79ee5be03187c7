//! Raw manifest types: serde and schemars mirrors of the YAML, field for field.
//!
//! Nothing here is validated beyond its shape; [`super::validate()`] turns these into the
//! [`super::model`] the rest of tandem uses. The doc comments on every field are the
//! descriptions editors show from `schemas/`, so they are written for the person editing YAML.
//! Architecture invariant: no other module depends on these types; they may change with the
//! manifest format while the model stays stable.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The only manifest format version this build understands.
pub const API_VERSION: &str = "tandem/v1";

/// Identity of a resource.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Identity of the resource: a lowercase DNS label (`a-z`, `0-9`, `-`, at most 63
    /// characters). It never changes for the life of the object; renaming means deleting one
    /// object and creating another, which drops its state. Change `displayName` instead.
    pub name: String,
    /// Free-form labels for your own tooling; tandem ignores them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Free-form annotations for your own tooling; tandem ignores them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

macro_rules! manifest {
    ($name:ident, $spec:ty, $kind:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        #[schemars(title = $kind)]
        pub struct $name {
            /// Manifest format version: `tandem/v1`.
            #[schemars(extend("const" = "tandem/v1"))]
            pub api_version: String,
            /// What this document declares.
            #[schemars(extend("const" = $kind))]
            pub kind: String,
            /// Identity of the resource.
            pub metadata: Metadata,
            /// The desired state.
            pub spec: $spec,
        }
    };
}

manifest!(
    WorkspaceManifest,
    WorkspaceSpec,
    "Workspace",
    "A product workspace: its item types and hierarchy, statuses and custom fields."
);
manifest!(
    ConnectionManifest,
    ConnectionSpec,
    "Connection",
    "A Jira instance (Cloud or Data Center) and the credentials tandem uses to reach it."
);
manifest!(
    ProjectIntegrationManifest,
    ProjectIntegrationSpec,
    "ProjectIntegration",
    "Keeps one Jira project in sync with one workspace over one connection."
);
manifest!(
    FieldMappingManifest,
    FieldMappingSpec,
    "FieldMapping",
    "Which workspace fields map to which Jira fields; shared by integrations that name it."
);
manifest!(
    SyncJobManifest,
    SyncJobSpec,
    "SyncJob",
    "A one-time sync of one integration; it runs once for every version of its spec."
);

// ---------------------------------------------------------------------------------------------
// Workspace

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceSpec {
    /// Public identifier of the workspace; it appears in the webhook URL
    /// (`/webhooks/jira/{id}`), so keep it stable. Letters, digits, `-` and `_`.
    pub id: String,
    /// The item types, each with an optional parent type. The parent links form the hierarchy,
    /// for example Initiative > Epic > Feature > Story, and must not form a cycle.
    pub item_types: Vec<ItemType>,
    /// Statuses an item can be in, in workflow order.
    pub statuses: Vec<String>,
    /// Custom fields, in addition to the default fields `objective`, `keyResult` (text),
    /// `value` and `effort` (number) that every workspace has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<CustomField>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ItemType {
    /// Name of the item type, as integrations refer to it (for example `Epic`).
    pub name: String,
    /// The item type one level up in the hierarchy; omit it for top-level types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomField {
    /// Name of the field, as field mappings refer to it.
    pub name: String,
    /// Kind of value the field holds; a Jira field mapped to it must have a compatible type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// The choices of a `singleSelect` or `multiSelect` field; required for those, not allowed
    /// for other types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
}

/// Kind of value a workspace field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FieldType {
    /// Free text.
    Text,
    /// A number.
    Number,
    /// One choice out of `options`.
    SingleSelect,
    /// Any number of choices out of `options`.
    MultiSelect,
    /// A calendar date.
    Date,
    /// Free-form labels.
    Labels,
    /// A link.
    Url,
}

impl FieldType {
    pub fn is_select(self) -> bool {
        matches!(self, FieldType::SingleSelect | FieldType::MultiSelect)
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::SingleSelect => "singleSelect",
            FieldType::MultiSelect => "multiSelect",
            FieldType::Date => "date",
            FieldType::Labels => "labels",
            FieldType::Url => "url",
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Connection

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionSpec {
    /// The connection name people see. Must be unique among connections; renaming it keeps
    /// every integration and link.
    pub display_name: String,
    /// Base URL of the Jira instance, for example `https://acme.atlassian.net`, or
    /// `https://jira.example.com/jira` for a Data Center with a context path. Surrounding
    /// whitespace and trailing slashes are removed (with a warning).
    pub url: String,
    /// `cloud` or `dataCenter`. When omitted, tandem detects it from Jira's serverInfo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
    /// Credentials. Jira Cloud: `email` and `apiToken`. Data Center: `username` and
    /// `password`, or `personalAccessToken` (sent as a Bearer token). Connecting needs an
    /// administrator account.
    pub auth: Auth,
    /// Secret that signs Jira's webhooks (`X-Hub-Signature`), as a reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<SecretRef>,
    /// When set, tandem registers the Jira webhook itself and keeps it in shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    /// The base URL Jira writes into the `self` links of its payloads, when it differs from
    /// `url`: tandem reaches Jira through a proxy or an internal host name, or through Cloud's
    /// `https://api.atlassian.com/ex/jira/{cloudId}` gateway. Webhooks are recognised by either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_url: Option<String>,
    /// PEM file of the certificate authority that signed the Jira server's certificate, for
    /// instances with a private CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Upper bound on requests per second tandem sends to this Jira.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Deployment {
    /// Atlassian Cloud (`*.atlassian.net`).
    Cloud,
    /// Jira Data Center or Server, run by you.
    DataCenter,
}

/// Credentials; which fields are needed depends on the deployment.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Auth {
    /// Cloud: the email address of the Atlassian account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Cloud: API token of that account, as a reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token: Option<SecretRef>,
    /// Data Center: user name for basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Data Center: password of that user, as a reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// Data Center: a personal access token, sent as `Authorization: Bearer`, as a reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_access_token: Option<SecretRef>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Webhook {
    /// The address at which Jira reaches tandem's public listener, for example
    /// `https://tandem.example.com`; tandem appends `/webhooks/jira/{workspaceId}`.
    pub public_url: String,
}

/// A reference to a secret, never the secret itself: `{file: PATH}` or `{env: NAME}`.
///
/// A plain string is accepted by the parser only so that validation can reject it with a
/// useful message; its text is dropped on the spot so it cannot leak into diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// A file holding the secret. Relative paths resolve against `$CREDENTIALS_DIRECTORY`,
    /// then the `--secrets` directory.
    File(String),
    /// An environment variable of the daemon holding the secret.
    Env(String),
    /// An inline secret: always a validation error.
    Literal,
    /// A mapping that is neither `{file}` nor `{env}`; the message says what was wrong.
    Invalid(String),
}

impl Serialize for SecretRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            SecretRef::File(path) => map.serialize_entry("file", path)?,
            SecretRef::Env(name) => map.serialize_entry("env", name)?,
            SecretRef::Literal | SecretRef::Invalid(_) => map.serialize_entry("invalid", &true)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = SecretRef;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a secret reference `{file: PATH}` or `{env: NAME}`")
    }

    // Every scalar is a literal secret; none of them is echoed back.
    fn visit_str<E: de::Error>(self, _v: &str) -> Result<SecretRef, E> {
        Ok(SecretRef::Literal)
    }
    fn visit_bool<E: de::Error>(self, _v: bool) -> Result<SecretRef, E> {
        Ok(SecretRef::Literal)
    }
    fn visit_i64<E: de::Error>(self, _v: i64) -> Result<SecretRef, E> {
        Ok(SecretRef::Literal)
    }
    fn visit_u64<E: de::Error>(self, _v: u64) -> Result<SecretRef, E> {
        Ok(SecretRef::Literal)
    }
    fn visit_f64<E: de::Error>(self, _v: f64) -> Result<SecretRef, E> {
        Ok(SecretRef::Literal)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretRef, A::Error> {
        let mut found: Vec<SecretRef> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "file" => found.push(SecretRef::File(map.next_value()?)),
                "env" => found.push(SecretRef::Env(map.next_value()?)),
                other => {
                    map.next_value::<de::IgnoredAny>()?;
                    return Err(de::Error::unknown_field(other, &["file", "env"]));
                }
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Ok(SecretRef::Invalid(
                "a secret reference needs `file` or `env`".to_string(),
            )),
            _ => Ok(SecretRef::Invalid(
                "a secret reference takes either `file` or `env`, not both".to_string(),
            )),
        }
    }
}

impl JsonSchema for SecretRef {
    fn schema_name() -> Cow<'static, str> {
        "SecretRef".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A reference to a secret, never the secret itself. Inline secrets are rejected.",
            "oneOf": [
                {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "description": "File holding the secret. Relative paths resolve against $CREDENTIALS_DIRECTORY, then the --secrets directory."
                        }
                    },
                    "required": ["file"],
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "properties": {
                        "env": {
                            "type": "string",
                            "description": "Environment variable of the daemon holding the secret."
                        }
                    },
                    "required": ["env"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

// ---------------------------------------------------------------------------------------------
// ProjectIntegration

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectIntegrationSpec {
    /// The integration name people see; unique among integrations.
    pub display_name: String,
    /// `metadata.name` of the Connection to the Jira instance holding the project.
    pub connection: String,
    /// `metadata.name` of the Workspace to keep in sync.
    pub workspace: String,
    /// Key of the Jira project, for example `WEB`.
    pub project: String,
    /// Id of the Jira board of the project; needed to sync sprints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board: Option<u64>,
    /// `metadata.name` of the FieldMapping to apply; without one only the item type, summary,
    /// description, status, hierarchy and sprint are synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_mapping: Option<String>,
    /// Which way changes flow. Default: `twoWay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Primary types: every workspace item type appears exactly once, mapped to a Jira issue
    /// type (`{workspace, jira}`) or left out of the sync (`{workspace, ignore: true}`).
    pub types: Vec<TypeMapping>,
    /// Additional Jira issue types brought into the workspace one way only (Jira to workspace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secondary_types: Vec<SecondaryType>,
    /// Workspace status to Jira status pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<StatusMapping>,
    /// Who wins when both sides changed the same field between two syncs. Default:
    /// `lastWriterWins`. The losing value is kept in the item's sync history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<ConflictPolicy>,
    /// Interval of the sweep that catches webhooks Jira never delivered, as a duration such as
    /// `10m` or `1h30m`. At least `1m`. Default: `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resync: Option<String>,
    /// Pause syncing without deleting anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// Changes flow both ways.
    TwoWay,
    /// Workspace changes are written to Jira; Jira changes are not read back.
    ToJira,
    /// Jira changes are written to the workspace; workspace changes are not sent.
    FromJira,
}

impl Direction {
    pub fn to_jira(self) -> bool {
        matches!(self, Direction::TwoWay | Direction::ToJira)
    }
    pub fn from_jira(self) -> bool {
        matches!(self, Direction::TwoWay | Direction::FromJira)
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::TwoWay => "twoWay",
            Direction::ToJira => "toJira",
            Direction::FromJira => "fromJira",
        })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TypeMapping {
    /// A workspace item type.
    pub workspace: String,
    /// The Jira issue type it maps to (for example `Epic`, `Story`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira: Option<String>,
    /// `true` leaves this item type out of the sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecondaryType {
    /// A Jira issue type that is not a primary type (for example `Bug`).
    pub jira: String,
    /// The workspace item type its issues become.
    pub workspace: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusMapping {
    /// A status the workspace declares.
    pub workspace: String,
    /// The Jira status it corresponds to.
    pub jira: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ConflictPolicy {
    /// The most recent change wins.
    LastWriterWins,
    /// Jira's value wins.
    JiraWins,
    /// The workspace's value wins.
    WorkspaceWins,
}

// ---------------------------------------------------------------------------------------------
// FieldMapping

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldMappingSpec {
    /// Built-in concepts both sides know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<PrimaryFields>,
    /// The workspace's default fields, each mapped to a Jira field (id such as
    /// `customfield_10040`, or the field's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<DefaultFields>,
    /// Workspace custom fields mapped to Jira fields. Types must be compatible with the Jira
    /// field's schema, which is checked against the live Jira.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<CustomFieldMapping>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrimaryFields {
    /// Sync the item's components with Jira components.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<bool>,
    /// Jira field holding story points: `auto` uses the board's estimation field, otherwise a
    /// field id (`customfield_10016`) or name (`Story Points`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub story_points: Option<String>,
    /// Sync workspace releases with Jira fix versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub releases: Option<bool>,
    /// Jira field holding the team (id or name, for example `customfield_10001`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Team ids by the names the workspace uses, for Jira Cloud's Atlassian team field, which
    /// shows a team by name but takes only its id (for example
    /// `Platform: 36885b3c-1bf0-4f85-a357-c5b858c31de4`). Find an id in the team's URL
    /// (`/people/team/{id}`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub teams: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultFields {
    /// Jira field for `objective` (text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
    /// Jira field for `keyResult` (text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_result: Option<String>,
    /// Jira field for `value` (number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Jira field for `effort` (number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomFieldMapping {
    /// Name of a custom field of the integration's workspace.
    pub workspace: String,
    /// The Jira field: id (`customfield_10050`) or name.
    pub jira: String,
    /// Restrict this field to one direction; default: the integration's direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
}

// ---------------------------------------------------------------------------------------------
// SyncJob

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncJobSpec {
    /// `metadata.name` of the ProjectIntegration to sync.
    pub integration: String,
    /// `fromJira` (optionally filtered by `jql`) or `toJira` (with a `scope`).
    pub direction: JobDirection,
    /// With `fromJira`: which issues to bring over. Default: all open issues of the project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jql: Option<String>,
    /// With `toJira`: `all` (the whole workspace), `{sprints: [...]}` or `{releases: [...]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum JobDirection {
    /// Bring Jira issues into the workspace.
    FromJira,
    /// Push workspace items to Jira.
    ToJira,
}

/// Which workspace items a `toJira` job pushes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    /// Every item of the workspace.
    All,
    /// Items in these sprints (by name).
    Sprints(Vec<String>),
    /// Items in these releases (by name).
    Releases(Vec<String>),
}
