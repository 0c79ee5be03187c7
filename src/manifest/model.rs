//! The validated model: what the controller, the sync engine and the HTTP layer see.
//!
//! Every value here has passed validation: names are DNS labels, references resolve to
//! resources that are themselves valid, secrets are references, URLs are normalised. Each
//! resource keeps where it was declared (for status messages) and a digest of its raw spec (so
//! the controller can tell a changed spec from an unchanged one without comparing fields).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use super::raw::{ConflictPolicy, Deployment, Direction, FieldType};
use super::Location;

/// The valid resources of one manifest set, by kind and `metadata.name`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    pub workspaces: BTreeMap<String, Workspace>,
    pub connections: BTreeMap<String, Connection>,
    pub integrations: BTreeMap<String, ProjectIntegration>,
    pub field_mappings: BTreeMap<String, FieldMapping>,
    pub sync_jobs: BTreeMap<String, SyncJob>,
}

impl Model {
    /// Number of resources of every kind.
    pub fn len(&self) -> usize {
        self.workspaces.len()
            + self.connections.len()
            + self.integrations.len()
            + self.field_mappings.len()
            + self.sync_jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A secret named by reference; resolving it is the caller's business (at use time, so that a
/// rotated file takes effect without a restart).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretRef {
    /// Relative paths resolve against `$CREDENTIALS_DIRECTORY`, then `--secrets`.
    File(PathBuf),
    Env(String),
}

/// The default fields every workspace has, with their types.
pub const DEFAULT_FIELDS: [(&str, FieldType); 4] = [
    ("objective", FieldType::Text),
    ("keyResult", FieldType::Text),
    ("value", FieldType::Number),
    ("effort", FieldType::Number),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    pub name: String,
    pub source: Location,
    pub digest: String,
    /// Public id, part of the webhook URL.
    pub id: String,
    /// In declaration order; parents always exist and form no cycle.
    pub item_types: Vec<ItemType>,
    /// In workflow order.
    pub statuses: Vec<String>,
    /// Custom fields only; see [`DEFAULT_FIELDS`] for the others.
    pub fields: Vec<CustomField>,
}

impl Workspace {
    pub fn item_type(&self, name: &str) -> Option<&ItemType> {
        self.item_types.iter().find(|t| t.name == name)
    }

    /// The type of a custom or default field.
    pub fn field_type(&self, name: &str) -> Option<FieldType> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.field_type)
            .or_else(|| {
                DEFAULT_FIELDS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, t)| *t)
            })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemType {
    pub name: String,
    pub parent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomField {
    pub name: String,
    pub field_type: FieldType,
    /// Non-empty for select fields, empty otherwise.
    pub options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub name: String,
    pub source: Location,
    pub digest: String,
    pub display_name: String,
    /// Normalised: no surrounding whitespace, no trailing slash.
    pub url: String,
    /// `None`: detect from serverInfo.
    pub deployment: Option<Deployment>,
    pub auth: Auth,
    pub webhook_secret: Option<SecretRef>,
    /// Public base URL for self-registered webhooks.
    pub webhook_public_url: Option<String>,
    /// Normalised like `url`: the base of Jira's `self` links when it differs from `url`.
    pub self_url: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub requests_per_second: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Cloud: Basic with email and API token.
    ApiToken { email: String, token: SecretRef },
    /// Data Center: Basic with user name and password.
    Basic {
        username: String,
        password: SecretRef,
    },
    /// Data Center: `Authorization: Bearer`.
    PersonalAccessToken(SecretRef),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProjectIntegration {
    pub name: String,
    pub source: Location,
    pub digest: String,
    pub display_name: String,
    /// Name of a valid Connection in the same model.
    pub connection: String,
    /// Name of a valid Workspace in the same model.
    pub workspace: String,
    pub project: String,
    pub board: Option<u64>,
    /// Name of a valid FieldMapping in the same model.
    pub field_mapping: Option<String>,
    pub direction: Direction,
    /// One entry per workspace item type, in the workspace's order of declaration in `types`.
    pub types: Vec<TypeMapping>,
    pub secondary_types: Vec<SecondaryType>,
    pub statuses: Vec<StatusMapping>,
    pub conflicts: ConflictPolicy,
    pub resync: Duration,
    pub suspend: bool,
}

impl ProjectIntegration {
    /// The Jira issue type a workspace item type maps to; `None` when ignored or unknown.
    pub fn jira_type(&self, workspace_type: &str) -> Option<&str> {
        self.types
            .iter()
            .find(|t| t.workspace == workspace_type)
            .and_then(|t| t.jira.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeMapping {
    pub workspace: String,
    /// `None`: the type is ignored.
    pub jira: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondaryType {
    pub jira: String,
    pub workspace: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMapping {
    pub workspace: String,
    pub jira: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMapping {
    pub name: String,
    pub source: Location,
    pub digest: String,
    pub primary: PrimaryFields,
    pub defaults: DefaultFields,
    pub custom: Vec<CustomFieldMapping>,
}

/// A Jira field as the user named it: an id (`customfield_10016`, `summary`) or a display name.
/// Which one it is gets resolved against the live Jira's field list.
pub type JiraField = String;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrimaryFields {
    pub components: bool,
    pub story_points: Option<StoryPoints>,
    pub releases: bool,
    pub team: Option<JiraField>,
    /// Team name → team id, for a team field that takes ids (`primary.teams`).
    pub teams: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoryPoints {
    /// The board's estimation field.
    Auto,
    Field(JiraField),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefaultFields {
    pub objective: Option<JiraField>,
    pub key_result: Option<JiraField>,
    pub value: Option<JiraField>,
    pub effort: Option<JiraField>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomFieldMapping {
    pub workspace: String,
    pub jira: JiraField,
    /// `None`: the integration's direction.
    pub direction: Option<Direction>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncJob {
    pub name: String,
    pub source: Location,
    pub digest: String,
    /// Name of a valid ProjectIntegration in the same model.
    pub integration: String,
    pub job: JobSpec,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSpec {
    /// `None`: all open issues of the project.
    FromJira {
        jql: Option<String>,
    },
    ToJira {
        scope: Scope,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Sprints(Vec<String>),
    Releases(Vec<String>),
}
