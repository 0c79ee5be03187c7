//! The simulator's data model: everything a Jira instance stores that tandem reads or writes,
//! the static schema of the simulated instance (issue types, statuses, workflow, fields), the
//! seed of DESIGN.md §8, the generator of realistic issues and the data file format.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which Jira the simulator behaves like; decides paths, user identity and field ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Deployment {
    Cloud,
    DataCenter,
}

/// A login of the simulated instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Stable identity: the accountId on Cloud, the user key on Data Center.
    pub id: String,
    /// What the user logs in with: e-mail on Cloud, username on Data Center.
    pub login: String,
    pub display_name: String,
    pub email: String,
    /// API token (Cloud) or password (Data Center).
    pub secret: String,
    /// Personal access token (Data Center only), sent as `Authorization: Bearer`.
    pub pat: Option<String>,
    pub admin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: u64,
    pub key: String,
    pub name: String,
    pub lead: String,
    /// Last issue number handed out; keys are never reused, as in Jira.
    pub issue_counter: u64,
    /// The workflow its issues follow (`"workflow": "classic"` in a `--data`/seed file).
    #[serde(default)]
    pub workflow: Workflow,
    /// A team-managed (next-gen) Cloud project (`"teamManaged": true`): its own issue types
    /// ([`TEAM_ISSUE_TYPES`], the sub-task type named "Subtask"), `style: next-gen` and
    /// `simplified: true` in its JSON; issue types of other projects are refused in it.
    #[serde(default, rename = "teamManaged")]
    pub team_managed: bool,
    /// Status ids an administrator added to its workflow (see `catalogue`), each reachable from
    /// every other status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added_statuses: Vec<String>,
}

/// The workflow of a project's issues (one per project: every issue type shares it).
///
/// - `simplified` (the default): To Do, In Progress, Done, each reachable from every other
///   (Jira's simplified workflow); the transition into Done asks for a resolution.
/// - `classic`: Jira's classic default workflow ("JIRA Workflow (jira)" of Data Center, the
///   system workflow of company-managed projects): Open, In Progress, Resolved, Closed,
///   Reopened, with the system workflow's transition ids, the Resolve Issue screen
///   (resolution required) on Resolve Issue and Close Issue, and its "only the assignee"
///   condition on Start Progress and Stop Progress: a transition whose condition fails is
///   not offered in `GET transitions`, and posting it answers 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Workflow {
    #[default]
    Simplified,
    Classic,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Version {
    pub id: u64,
    pub project_id: u64,
    pub name: String,
    pub description: String,
    pub released: bool,
    pub archived: bool,
    pub release_date: Option<NaiveDate>,
    pub start_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    pub id: u64,
    pub project_id: u64,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Board {
    pub id: u64,
    pub name: String,
    pub project_id: u64,
    pub filter_id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SprintState {
    Future,
    Active,
    Closed,
}

impl SprintState {
    pub fn as_str(self) -> &'static str {
        match self {
            SprintState::Future => "future",
            SprintState::Active => "active",
            SprintState::Closed => "closed",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sprint {
    pub id: u64,
    pub name: String,
    pub state: SprintState,
    pub board_id: u64,
    pub goal: String,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub complete_date: Option<DateTime<Utc>>,
    pub created_date: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub id: u64,
    pub author: String,
    pub update_author: String,
    pub body: String,
    /// The document a v3 write set, as for [`Issue::description_adf`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_adf: Option<Value>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Worklog {
    pub id: u64,
    pub author: String,
    pub comment: String,
    pub started: DateTime<Utc>,
    pub time_spent_seconds: u64,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// One changed field inside a change group, in Jira's changelog item shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeItem {
    pub field: String,
    pub fieldtype: String,
    pub field_id: String,
    pub from: Option<String>,
    pub from_string: Option<String>,
    pub to: Option<String>,
    pub to_string: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeGroup {
    pub id: u64,
    pub author: String,
    pub created: DateTime<Utc>,
    pub items: Vec<ChangeItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    pub id: u64,
    pub key: String,
    pub project_id: u64,
    pub issue_type: String,
    pub status: String,
    pub summary: String,
    /// Its text: wiki markup as written through REST v2, the text of the document when
    /// written through v3 (search, changelog and v2 read it).
    pub description: Option<String>,
    /// The Atlassian Document a v3 write set (Cloud stores documents), served back as written
    /// through v3; `None` when the description was written as wiki text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_adf: Option<Value>,
    pub parent: Option<u64>,
    pub labels: Vec<String>,
    pub components: Vec<u64>,
    pub fix_versions: Vec<u64>,
    pub assignee: Option<String>,
    pub reporter: Option<String>,
    pub priority: String,
    pub resolution: Option<String>,
    pub resolution_date: Option<DateTime<Utc>>,
    pub due_date: Option<NaiveDate>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// Custom field values in their REST v2 form, keyed by field id.
    pub custom: BTreeMap<String, Value>,
    /// Sprint ids, oldest first (Jira keeps closed sprints an issue passed through).
    pub sprints: Vec<u64>,
    pub comments: Vec<Comment>,
    pub worklogs: Vec<Worklog>,
    pub changelog: Vec<ChangeGroup>,
    /// Issue entity properties (key → JSON value): invisible to people, kept by Jira for apps
    /// and integrations (`/issue/{key}/properties/{propertyKey}`, `properties` on reads).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub id: u64,
    pub link_type: String,
    pub inward: u64,
    pub outward: u64,
}

/// Id sequences; each kind of object has its own, like Jira's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub issue: u64,
    pub comment: u64,
    pub worklog: u64,
    pub link: u64,
    pub version: u64,
    pub component: u64,
    pub sprint: u64,
    pub changelog: u64,
}

/// The whole mutable state of one simulated instance; also the `--data` file format.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub deployment: Deployment,
    pub users: Vec<User>,
    pub projects: Vec<Project>,
    pub versions: Vec<Version>,
    pub components: Vec<Component>,
    pub boards: Vec<Board>,
    pub sprints: BTreeMap<u64, Sprint>,
    pub issues: BTreeMap<u64, Issue>,
    pub links: BTreeMap<u64, Link>,
    pub counters: Counters,
    /// Key → id, including keys of issues moved away; rebuilt after loading.
    #[serde(skip)]
    pub keys: HashMap<String, u64>,
    /// Keys issues had before they moved to another project: Jira keeps resolving them.
    #[serde(default)]
    pub moved_keys: BTreeMap<String, u64>,
    /// Issues no REST caller may see (an issue security level, a permission-scheme change):
    /// Jira answers 404 for them exactly as for a deleted issue, and searches leave them out.
    #[serde(default)]
    pub hidden: std::collections::BTreeSet<u64>,
    /// Custom field id → the issue type ids of its context. A field outside its context is
    /// left out of an issue's `fields` and refused on create and edit ("not on the appropriate
    /// screen"); a field without an entry applies to every type (a global context).
    #[serde(default, rename = "fieldContexts")]
    pub field_contexts: BTreeMap<String, Vec<String>>,
    /// Entity property keys JQL can search (`issue.property[key]…`), as an app's index
    /// declaration makes them; properties set over REST alone are not searchable in Jira.
    #[serde(default, rename = "indexedProperties")]
    pub indexed_properties: Vec<String>,
    /// Fields left off create or edit screens (Jira: the project's issue type screen scheme).
    /// Such a field is refused on that operation with "not on the appropriate screen" and left
    /// out of createmeta or editmeta; reads still show it. No rule: every field is on both.
    #[serde(default)]
    pub screens: Vec<ScreenRule>,
    /// Issue type id → fields its field configuration makes required: a create without them
    /// is refused with "<name> is required.", as Jira does.
    #[serde(default, rename = "requiredFields")]
    pub required_fields: BTreeMap<String, Vec<String>>,
    /// Issue types, statuses and custom fields an administrator added (`catalogue`).
    #[serde(default)]
    pub catalogue: crate::sim::catalogue::Catalogue,
    /// Bumped on every change; caches (search results, indexes) are valid for one generation.
    #[serde(skip)]
    pub generation: u64,
    #[serde(skip)]
    pub indexes: IndexCache,
    /// Which issues each recent generation changed (`None`: possibly all), so caches of
    /// rendered issues can drop only what a write touched.
    #[serde(skip)]
    pub changes: std::collections::VecDeque<(u64, Option<Vec<u64>>)>,
}

/// Generations the change log remembers; a cache further behind starts over.
const CHANGE_LOG: usize = 1024;

/// Children and links per issue, so rendering an issue does not scan every issue. Rebuilt on
/// the first read after a change (one pass over the state), shared by all readers.
#[derive(Debug, Default)]
pub struct IndexCache(std::sync::Mutex<Option<std::sync::Arc<Indexes>>>);

impl Clone for IndexCache {
    fn clone(&self) -> Self {
        IndexCache::default()
    }
}

#[derive(Debug, Default)]
pub struct Indexes {
    generation: u64,
    pub children: HashMap<u64, Vec<u64>>,
    pub links: HashMap<u64, Vec<u64>>,
}

// ---------------------------------------------------------------------------------------------
// Static schema of the simulated instance.

#[derive(Debug)]
pub struct StatusDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub category: u64,
}

pub struct StatusCategoryDef {
    pub id: u64,
    pub key: &'static str,
    pub name: &'static str,
    pub color: &'static str,
}

pub const STATUS_CATEGORIES: &[StatusCategoryDef] = &[
    StatusCategoryDef {
        id: 1,
        key: "undefined",
        name: "No Category",
        color: "medium-gray",
    },
    StatusCategoryDef {
        id: 2,
        key: "new",
        name: "To Do",
        color: "blue-gray",
    },
    StatusCategoryDef {
        id: 4,
        key: "indeterminate",
        name: "In Progress",
        color: "yellow",
    },
    StatusCategoryDef {
        id: 3,
        key: "done",
        name: "Done",
        color: "green",
    },
];

pub const STATUSES: &[StatusDef] = &[
    StatusDef {
        id: "10000",
        name: "To Do",
        description: "",
        category: 2,
    },
    StatusDef {
        id: "3",
        name: "In Progress",
        description: "This issue is being actively worked on at the moment by the assignee.",
        category: 4,
    },
    StatusDef {
        id: "10001",
        name: "Done",
        description: "",
        category: 3,
    },
];

pub const STATUS_TODO: &str = "10000";
pub const STATUS_DONE: &str = "10001";
pub const STATUS_IN_PROGRESS: &str = "3";
pub const STATUS_OPEN: &str = "1";
pub const STATUS_REOPENED: &str = "4";
pub const STATUS_RESOLVED: &str = "5";
pub const STATUS_CLOSED: &str = "6";

/// The statuses of the classic workflow besides In Progress, with Jira's system ids.
pub const CLASSIC_STATUSES: &[StatusDef] = &[
    StatusDef {
        id: STATUS_OPEN,
        name: "Open",
        description: "The issue is open and ready for the assignee to start work on it.",
        category: 2,
    },
    StatusDef {
        id: STATUS_REOPENED,
        name: "Reopened",
        description: "This issue was once resolved, but the resolution was deemed incorrect. From here issues are either marked assigned or resolved.",
        category: 2,
    },
    StatusDef {
        id: STATUS_RESOLVED,
        name: "Resolved",
        description: "A resolution has been taken, and it is awaiting verification by reporter. From here issues are either reopened, or are closed.",
        category: 3,
    },
    StatusDef {
        id: STATUS_CLOSED,
        name: "Closed",
        description: "The issue is considered finished, the resolution is correct. Issues which are closed can be reopened.",
        category: 3,
    },
];

/// Who may see and take a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// "Only the assignee of the issue can execute this transition."
    OnlyAssignee,
}

/// A workflow transition. `from` empty: a global transition (from every other status).
/// `requires_resolution`: its screen is the Resolve Issue screen, resolution required.
#[derive(Debug)]
pub struct TransitionDef {
    pub id: &'static str,
    pub name: &'static str,
    pub from: &'static [&'static str],
    pub to: &'static str,
    pub requires_resolution: bool,
    pub condition: Option<Condition>,
}

pub const TRANSITIONS: &[TransitionDef] = &[
    TransitionDef {
        id: "11",
        name: "To Do",
        from: &[],
        to: "10000",
        requires_resolution: false,
        condition: None,
    },
    TransitionDef {
        id: "21",
        name: "In Progress",
        from: &[],
        to: "3",
        requires_resolution: false,
        condition: None,
    },
    TransitionDef {
        id: "31",
        name: "Done",
        from: &[],
        to: "10001",
        requires_resolution: true,
        condition: None,
    },
];

/// Jira's classic default workflow (the system workflow's action ids).
pub const CLASSIC_TRANSITIONS: &[TransitionDef] = &[
    TransitionDef {
        id: "4",
        name: "Start Progress",
        from: &[STATUS_OPEN, STATUS_REOPENED],
        to: STATUS_IN_PROGRESS,
        requires_resolution: false,
        condition: Some(Condition::OnlyAssignee),
    },
    TransitionDef {
        id: "301",
        name: "Stop Progress",
        from: &[STATUS_IN_PROGRESS],
        to: STATUS_OPEN,
        requires_resolution: false,
        condition: Some(Condition::OnlyAssignee),
    },
    TransitionDef {
        id: "5",
        name: "Resolve Issue",
        from: &[STATUS_OPEN, STATUS_IN_PROGRESS, STATUS_REOPENED],
        to: STATUS_RESOLVED,
        requires_resolution: true,
        condition: None,
    },
    TransitionDef {
        id: "2",
        name: "Close Issue",
        from: &[STATUS_OPEN, STATUS_IN_PROGRESS, STATUS_REOPENED],
        to: STATUS_CLOSED,
        requires_resolution: true,
        condition: None,
    },
    TransitionDef {
        id: "701",
        name: "Close Issue",
        from: &[STATUS_RESOLVED],
        to: STATUS_CLOSED,
        requires_resolution: false,
        condition: None,
    },
    TransitionDef {
        id: "3",
        name: "Reopen Issue",
        from: &[STATUS_RESOLVED, STATUS_CLOSED],
        to: STATUS_REOPENED,
        requires_resolution: false,
        condition: None,
    },
];

impl Workflow {
    /// Its statuses, in the order Jira lists them.
    pub fn statuses(self) -> Vec<&'static StatusDef> {
        match self {
            Workflow::Simplified => STATUSES.iter().collect(),
            Workflow::Classic => [
                STATUS_OPEN,
                STATUS_IN_PROGRESS,
                STATUS_REOPENED,
                STATUS_RESOLVED,
                STATUS_CLOSED,
            ]
            .iter()
            .filter_map(|id| builtin_statuses().find(|s| s.id == *id))
            .collect(),
        }
    }

    pub fn transitions(self) -> &'static [TransitionDef] {
        match self {
            Workflow::Simplified => TRANSITIONS,
            Workflow::Classic => CLASSIC_TRANSITIONS,
        }
    }

    /// The status a new issue starts in.
    pub fn initial(self) -> &'static str {
        match self {
            Workflow::Simplified => STATUS_TODO,
            Workflow::Classic => STATUS_OPEN,
        }
    }

    /// Whether `t` leaves `issue`'s status and its condition lets `user` (an id) take it;
    /// `user` `None` ignores conditions (the simulator's own controls).
    pub fn offers(t: &TransitionDef, issue: &Issue, user: Option<&str>) -> bool {
        let leaves = if t.from.is_empty() {
            t.to != issue.status
        } else {
            t.from.contains(&issue.status.as_str())
        };
        leaves
            && match (t.condition, user) {
                (Some(Condition::OnlyAssignee), Some(u)) => issue.assignee.as_deref() == Some(u),
                _ => true,
            }
    }

    /// Where an issue of the other workflow goes when its project changes workflow.
    pub fn map_status(self, status: &str) -> &'static str {
        match (self, status) {
            (Workflow::Classic, STATUS_TODO) => STATUS_OPEN,
            (Workflow::Classic, STATUS_DONE) => STATUS_RESOLVED,
            (Workflow::Simplified, STATUS_OPEN | STATUS_REOPENED) => STATUS_TODO,
            (Workflow::Simplified, STATUS_RESOLVED | STATUS_CLOSED) => STATUS_DONE,
            (_, STATUS_IN_PROGRESS) => STATUS_IN_PROGRESS,
            (w, s) => w
                .statuses()
                .into_iter()
                .find(|d| d.id == s)
                .map(|d| d.id)
                .unwrap_or(w.initial()),
        }
    }
}

#[derive(Debug)]
pub struct IssueTypeDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub hierarchy_level: i64,
    pub avatar_id: u64,
}

impl IssueTypeDef {
    pub fn subtask(&self) -> bool {
        self.hierarchy_level < 0
    }
}

pub const ISSUE_TYPES: &[IssueTypeDef] = &[
    IssueTypeDef {
        id: "10000",
        name: "Epic",
        description: "A big user story that needs to be broken down.",
        hierarchy_level: 1,
        avatar_id: 10307,
    },
    IssueTypeDef {
        id: "10001",
        name: "Story",
        description: "Functionality or a feature expressed as a user goal.",
        hierarchy_level: 0,
        avatar_id: 10315,
    },
    IssueTypeDef {
        id: "10002",
        name: "Task",
        description: "A small, distinct piece of work.",
        hierarchy_level: 0,
        avatar_id: 10318,
    },
    IssueTypeDef {
        id: "10003",
        name: "Bug",
        description: "A problem or error.",
        hierarchy_level: 0,
        avatar_id: 10303,
    },
    IssueTypeDef {
        id: "10004",
        name: "Sub-task",
        description: "A small piece of work that's part of a larger task.",
        hierarchy_level: -1,
        avatar_id: 10316,
    },
];

/// The issue types of a team-managed project, scoped to it in real Jira (ids of their own).
pub const TEAM_ISSUE_TYPES: &[IssueTypeDef] = &[
    IssueTypeDef {
        id: "10100",
        name: "Epic",
        description: "Epics track collections of related bugs, stories, and tasks.",
        hierarchy_level: 1,
        avatar_id: 10307,
    },
    IssueTypeDef {
        id: "10101",
        name: "Story",
        description: "Stories track functionality or features expressed as user goals.",
        hierarchy_level: 0,
        avatar_id: 10315,
    },
    IssueTypeDef {
        id: "10102",
        name: "Task",
        description: "Tasks track small, distinct pieces of work.",
        hierarchy_level: 0,
        avatar_id: 10318,
    },
    IssueTypeDef {
        id: "10103",
        name: "Bug",
        description: "Bugs track problems or errors.",
        hierarchy_level: 0,
        avatar_id: 10303,
    },
    IssueTypeDef {
        id: "10104",
        name: "Subtask",
        description: "Subtasks track small pieces of work that are part of a larger task.",
        hierarchy_level: -1,
        avatar_id: 10316,
    },
];

pub struct PriorityDef {
    pub id: &'static str,
    pub name: &'static str,
}

pub const PRIORITIES: &[PriorityDef] = &[
    PriorityDef {
        id: "1",
        name: "Highest",
    },
    PriorityDef {
        id: "2",
        name: "High",
    },
    PriorityDef {
        id: "3",
        name: "Medium",
    },
    PriorityDef {
        id: "4",
        name: "Low",
    },
    PriorityDef {
        id: "5",
        name: "Lowest",
    },
];

pub const DEFAULT_PRIORITY: &str = "3";

pub struct ResolutionDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
}

pub const RESOLUTIONS: &[ResolutionDef] = &[
    ResolutionDef {
        id: "10000",
        name: "Done",
        description: "Work has been completed on this issue.",
    },
    ResolutionDef {
        id: "10001",
        name: "Won't Do",
        description: "This issue won't be actioned.",
    },
    ResolutionDef {
        id: "10002",
        name: "Duplicate",
        description: "The problem is a duplicate of an existing issue.",
    },
];

pub struct LinkTypeDef {
    pub id: &'static str,
    pub name: &'static str,
    pub inward: &'static str,
    pub outward: &'static str,
}

pub const LINK_TYPES: &[LinkTypeDef] = &[
    LinkTypeDef {
        id: "10000",
        name: "Blocks",
        inward: "is blocked by",
        outward: "blocks",
    },
    LinkTypeDef {
        id: "10001",
        name: "Cloners",
        inward: "is cloned by",
        outward: "clones",
    },
    LinkTypeDef {
        id: "10002",
        name: "Duplicate",
        inward: "is duplicated by",
        outward: "duplicates",
    },
    LinkTypeDef {
        id: "10003",
        name: "Relates",
        inward: "relates to",
        outward: "relates to",
    },
];

/// How a field's values are written and rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// System fields with their own handling in create/edit.
    System,
    Number,
    Text,
    Textarea,
    Date,
    Url,
    Labels,
    Select(&'static [(&'static str, &'static str)]),
    MultiSelect(&'static [(&'static str, &'static str)]),
    Sprint,
    EpicLink,
    /// Cloud's Atlassian team field: read as the team object, written only by the team's id
    /// (a name is refused, as Jira does); (id, name) pairs.
    AtlassianTeam(&'static [(&'static str, &'static str)]),
}

#[derive(Debug)]
pub struct FieldDef {
    pub id: &'static str,
    pub name: &'static str,
    pub kind: FieldKind,
    /// `schema.type` as `/field` reports it.
    pub schema_type: &'static str,
    pub schema_items: Option<&'static str>,
    /// `schema.custom` for custom fields.
    pub custom: Option<&'static str>,
    /// Whether the field appears on the create and edit screens.
    pub on_screens: bool,
}

impl FieldDef {
    pub fn is_custom(&self) -> bool {
        self.custom.is_some()
    }

    pub fn custom_id(&self) -> Option<u64> {
        self.id
            .strip_prefix("customfield_")
            .and_then(|n| n.parse().ok())
    }
}

const TEAM_OPTIONS: &[(&str, &str)] = &[("10100", "Red"), ("10101", "Blue"), ("10102", "Green")];
const PLATFORM_OPTIONS: &[(&str, &str)] =
    &[("10103", "Web"), ("10104", "iOS"), ("10105", "Android")];

const fn sys(
    id: &'static str,
    name: &'static str,
    ty: &'static str,
    items: Option<&'static str>,
    on_screens: bool,
) -> FieldDef {
    FieldDef {
        id,
        name,
        kind: FieldKind::System,
        schema_type: ty,
        schema_items: items,
        custom: None,
        on_screens,
    }
}

const fn cf(
    id: &'static str,
    name: &'static str,
    kind: FieldKind,
    ty: &'static str,
    items: Option<&'static str>,
    custom: &'static str,
) -> FieldDef {
    FieldDef {
        id,
        name,
        kind,
        schema_type: ty,
        schema_items: items,
        custom: Some(custom),
        on_screens: true,
    }
}

const SYSTEM_FIELDS: &[FieldDef] = &[
    sys("summary", "Summary", "string", None, true),
    sys("description", "Description", "string", None, true),
    sys("issuetype", "Issue Type", "issuetype", None, true),
    sys("project", "Project", "project", None, true),
    sys("parent", "Parent", "issuelink", None, true),
    sys("status", "Status", "status", None, false),
    sys("labels", "Labels", "array", Some("string"), true),
    sys("components", "Components", "array", Some("component"), true),
    sys(
        "fixVersions",
        "Fix versions",
        "array",
        Some("version"),
        true,
    ),
    sys("assignee", "Assignee", "user", None, true),
    sys("reporter", "Reporter", "user", None, true),
    sys("creator", "Creator", "user", None, false),
    sys("priority", "Priority", "priority", None, true),
    sys("resolution", "Resolution", "resolution", None, false),
    sys("resolutiondate", "Resolved", "datetime", None, false),
    sys("duedate", "Due date", "date", None, true),
    sys("created", "Created", "datetime", None, false),
    sys("updated", "Updated", "datetime", None, false),
    sys(
        "issuelinks",
        "Linked Issues",
        "array",
        Some("issuelinks"),
        false,
    ),
    sys("subtasks", "Sub-tasks", "array", Some("issuelinks"), false),
    sys("comment", "Comment", "comments-page", None, false),
    sys("worklog", "Log Work", "array", Some("worklog"), false),
];

const SHARED_CUSTOM: &[FieldDef] = &[
    cf(
        "customfield_10030",
        "Team",
        FieldKind::Select(TEAM_OPTIONS),
        "option",
        None,
        "com.atlassian.jira.plugin.system.customfieldtypes:select",
    ),
    cf(
        "customfield_10031",
        "Objective",
        FieldKind::Textarea,
        "string",
        None,
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
    ),
    cf(
        "customfield_10032",
        "Key result",
        FieldKind::Text,
        "string",
        None,
        "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
    ),
    cf(
        "customfield_10033",
        "Business value",
        FieldKind::Number,
        "number",
        None,
        "com.atlassian.jira.plugin.system.customfieldtypes:float",
    ),
    cf(
        "customfield_10034",
        "Target date",
        FieldKind::Date,
        "date",
        None,
        "com.atlassian.jira.plugin.system.customfieldtypes:datepicker",
    ),
    cf(
        "customfield_10035",
        "Platforms",
        FieldKind::MultiSelect(PLATFORM_OPTIONS),
        "array",
        Some("option"),
        "com.atlassian.jira.plugin.system.customfieldtypes:multiselect",
    ),
    cf(
        "customfield_10036",
        "Keywords",
        FieldKind::Labels,
        "array",
        Some("string"),
        "com.atlassian.jira.plugin.system.customfieldtypes:labels",
    ),
    cf(
        "customfield_10037",
        "Spec URL",
        FieldKind::Url,
        "string",
        None,
        "com.atlassian.jira.plugin.system.customfieldtypes:url",
    ),
];

/// The organisation's teams, as Atlassian's teams service knows them (id, name).
pub const ATLASSIAN_TEAMS: &[(&str, &str)] = &[
    ("36885b3c-1bf0-4f85-a357-c5b858c31de4", "Platform"),
    ("9d2cd6a2-8a57-4a0b-9a1a-3f4bd0a1e5c7", "Mobile"),
];

const CLOUD_AGILE: &[FieldDef] = &[
    cf(
        "customfield_10001",
        "Atlassian Team",
        FieldKind::AtlassianTeam(ATLASSIAN_TEAMS),
        "team",
        None,
        "com.atlassian.jira.plugin.system.customfieldtypes:atlassian-team",
    ),
    cf(
        "customfield_10016",
        "Story point estimate",
        FieldKind::Number,
        "number",
        None,
        "com.pyxis.greenhopper.jira:jsw-story-points",
    ),
    cf(
        "customfield_10020",
        "Sprint",
        FieldKind::Sprint,
        "array",
        Some("json"),
        "com.pyxis.greenhopper.jira:gh-sprint",
    ),
];

const DC_AGILE: &[FieldDef] = &[
    cf(
        "customfield_10100",
        "Epic Link",
        FieldKind::EpicLink,
        "any",
        None,
        "com.pyxis.greenhopper.jira:gh-epic-link",
    ),
    cf(
        "customfield_10101",
        "Sprint",
        FieldKind::Sprint,
        "array",
        Some("string"),
        "com.pyxis.greenhopper.jira:gh-sprint",
    ),
    // Required on every Epic create before Data Center 10 (see `api::issues::create`).
    cf(
        "customfield_10102",
        "Epic Name",
        FieldKind::Text,
        "string",
        None,
        "com.pyxis.greenhopper.jira:gh-epic-label",
    ),
    cf(
        "customfield_10106",
        "Story Points",
        FieldKind::Number,
        "number",
        None,
        "com.atlassian.jira.plugin.system.customfieldtypes:float",
    ),
];

/// Which screen of an issue type an operation shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum ScreenOp {
    Create,
    Edit,
    /// A rule for both screens.
    #[default]
    Both,
}

/// Fields a project's create and/or edit screen leaves out, for some issue types or all.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScreenRule {
    /// Project key.
    pub project: String,
    /// Issue type ids; empty: every type.
    #[serde(default)]
    pub issue_types: Vec<String>,
    #[serde(default)]
    pub screen: ScreenOp,
    /// Field ids not on the screen.
    pub without: Vec<String>,
}

impl State {
    /// Whether field `id` is on the `op` screen of the project and issue type (see
    /// [`State::screens`]).
    pub fn on_screen(&self, project_id: u64, issue_type: &str, id: &str, op: ScreenOp) -> bool {
        let Some(project) = self.project_by_id(project_id) else {
            return true;
        };
        !self.screens.iter().any(|r| {
            r.project.eq_ignore_ascii_case(&project.key)
                && (r.issue_types.is_empty() || r.issue_types.iter().any(|t| t == issue_type))
                && (r.screen == ScreenOp::Both || r.screen == op)
                && r.without.iter().any(|f| f == id)
        })
    }

    /// Whether the custom field `id` applies to issues of type `issue_type` (see
    /// [`State::field_contexts`]).
    pub fn in_context(&self, id: &str, issue_type: &str) -> bool {
        self.field_contexts
            .get(id)
            .is_none_or(|types| types.iter().any(|t| t == issue_type))
    }
}

impl Deployment {
    /// Every field of the instance: system fields, then custom fields.
    pub fn fields(self) -> impl Iterator<Item = &'static FieldDef> {
        let agile = match self {
            Deployment::Cloud => CLOUD_AGILE,
            Deployment::DataCenter => DC_AGILE,
        };
        SYSTEM_FIELDS
            .iter()
            .chain(agile.iter())
            .chain(SHARED_CUSTOM.iter())
    }

    pub fn sprint_field(self) -> &'static str {
        match self {
            Deployment::Cloud => "customfield_10020",
            Deployment::DataCenter => "customfield_10101",
        }
    }

    pub fn story_points_field(self) -> &'static FieldDef {
        let id = match self {
            Deployment::Cloud => "customfield_10016",
            Deployment::DataCenter => "customfield_10106",
        };
        self.fields()
            .find(|f| f.id == id)
            .unwrap_or(&SYSTEM_FIELDS[0])
    }
}

/// The statuses every instance has (`State::all_statuses` adds an administrator's).
pub fn builtin_statuses() -> impl Iterator<Item = &'static StatusDef> {
    STATUSES.iter().chain(CLASSIC_STATUSES)
}

impl State {
    /// The workflow of an issue's project.
    pub fn workflow_of(&self, issue: &Issue) -> Workflow {
        self.project_by_id(issue.project_id)
            .map(|p| p.workflow)
            .unwrap_or_default()
    }
}

pub fn status_category(id: u64) -> &'static StatusCategoryDef {
    STATUS_CATEGORIES
        .iter()
        .find(|c| c.id == id)
        .unwrap_or(&STATUS_CATEGORIES[0])
}

impl State {
    /// Whether `parent` is shown as the issue's parent: on Cloud always, on Data Center only
    /// for sub-tasks (epic membership is the Epic Link field there).
    pub fn shows_parent(&self, issue: &Issue) -> bool {
        self.deployment == Deployment::Cloud || self.is_subtask(issue)
    }
}

pub fn priority(id: &str) -> Option<&'static PriorityDef> {
    PRIORITIES.iter().find(|p| p.id == id)
}

pub fn resolution(id: &str) -> Option<&'static ResolutionDef> {
    RESOLUTIONS.iter().find(|r| r.id == id)
}

// ---------------------------------------------------------------------------------------------
// State helpers.

impl State {
    /// The instance DESIGN.md §8 describes: project DEMO, board 1 with an active sprint, two
    /// versions, two components, an administrator and a regular user.
    pub fn seed(deployment: Deployment, now: DateTime<Utc>) -> State {
        let users = match deployment {
            Deployment::Cloud => vec![
                cloud_user(0, "admin@example.com", "Alice Admin", "admin-token", true),
                cloud_user(1, "user@example.com", "Uma User", "user-token", false),
            ],
            Deployment::DataCenter => vec![
                User {
                    id: "JIRAUSER10000".into(),
                    login: "admin".into(),
                    display_name: "Alice Admin".into(),
                    email: "admin@example.com".into(),
                    secret: "admin".into(),
                    pat: Some("admin-pat".into()),
                    admin: true,
                },
                User {
                    id: "JIRAUSER10001".into(),
                    login: "user".into(),
                    display_name: "Uma User".into(),
                    email: "user@example.com".into(),
                    secret: "user".into(),
                    pat: Some("user-pat".into()),
                    admin: false,
                },
            ],
        };
        let lead = users[0].id.clone();
        let mut sprints = BTreeMap::new();
        sprints.insert(
            1,
            Sprint {
                id: 1,
                name: "DEMO Sprint 1".into(),
                state: SprintState::Active,
                board_id: 1,
                goal: "Ship the demo".into(),
                start_date: Some(now - Duration::days(3)),
                end_date: Some(now + Duration::days(11)),
                complete_date: None,
                created_date: now - Duration::days(4),
            },
        );
        let today = now.date_naive();
        State {
            deployment,
            users,
            projects: vec![Project {
                id: 10000,
                key: "DEMO".into(),
                name: "Demo".into(),
                lead,
                issue_counter: 0,
                workflow: Workflow::default(),
                team_managed: false,
                added_statuses: Vec::new(),
            }],
            versions: vec![
                Version {
                    id: 10000,
                    project_id: 10000,
                    name: "1.0".into(),
                    description: "First release".into(),
                    released: false,
                    archived: false,
                    release_date: Some(today + Duration::days(30)),
                    start_date: Some(today),
                },
                Version {
                    id: 10001,
                    project_id: 10000,
                    name: "2.0".into(),
                    description: "Second release".into(),
                    released: false,
                    archived: false,
                    release_date: Some(today + Duration::days(90)),
                    start_date: None,
                },
            ],
            components: vec![
                Component {
                    id: 10000,
                    project_id: 10000,
                    name: "Backend".into(),
                    description: "Services and storage".into(),
                },
                Component {
                    id: 10001,
                    project_id: 10000,
                    name: "Frontend".into(),
                    description: "Web and mobile clients".into(),
                },
            ],
            boards: vec![Board {
                id: 1,
                name: "DEMO board".into(),
                project_id: 10000,
                filter_id: 10000,
            }],
            sprints,
            issues: BTreeMap::new(),
            links: BTreeMap::new(),
            counters: Counters {
                issue: 10000,
                comment: 10000,
                worklog: 10000,
                link: 10000,
                version: 10001,
                component: 10001,
                sprint: 1,
                changelog: 10000,
            },
            keys: HashMap::new(),
            moved_keys: BTreeMap::new(),
            hidden: Default::default(),
            field_contexts: Default::default(),
            screens: Vec::new(),
            indexed_properties: Vec::new(),
            required_fields: Default::default(),
            catalogue: Default::default(),
            generation: 0,
            indexes: IndexCache::default(),
            changes: std::collections::VecDeque::new(),
        }
    }

    /// Rebuilds indexes that the data file does not carry.
    pub fn reindex(&mut self) {
        self.keys = self
            .moved_keys
            .iter()
            .map(|(k, id)| (k.clone(), *id))
            .chain(self.issues.values().map(|i| (i.key.clone(), i.id)))
            .collect();
        self.rebuild_catalogue();
        self.touch();
    }

    /// Records a change that may affect how any issue renders (sprints, versions, deletes).
    pub fn touch(&mut self) {
        self.generation += 1;
        self.log_change(None);
    }

    /// Records a change to these issues. Their parents, children and linked issues render
    /// stubs of them, so those count as changed too.
    pub fn touch_issues(&mut self, ids: &[u64]) {
        let mut all: std::collections::HashSet<u64> = ids.iter().copied().collect();
        for id in ids {
            if let Some(p) = self.issues.get(id).and_then(|i| i.parent) {
                all.insert(p);
            }
        }
        for i in self.issues.values() {
            if i.parent.is_some_and(|p| ids.contains(&p)) {
                all.insert(i.id);
            }
        }
        for l in self.links.values() {
            if ids.contains(&l.inward) || ids.contains(&l.outward) {
                all.insert(l.inward);
                all.insert(l.outward);
            }
        }
        self.generation += 1;
        self.log_change(Some(all.into_iter().collect()));
    }

    fn log_change(&mut self, ids: Option<Vec<u64>>) {
        self.changes.push_back((self.generation, ids));
        while self.changes.len() > CHANGE_LOG {
            self.changes.pop_front();
        }
    }

    /// Issues changed after generation `since`; `None` when that is unknown or everything.
    pub fn changes_since(&self, since: u64) -> Option<Vec<u64>> {
        if since >= self.generation {
            return Some(Vec::new());
        }
        let oldest = self.changes.front().map(|(g, _)| *g)?;
        if oldest > since + 1 {
            return None;
        }
        let mut out = Vec::new();
        for (g, ids) in &self.changes {
            if *g > since {
                out.extend(ids.as_ref()?.iter().copied());
            }
        }
        Some(out)
    }

    /// The indexes for the current generation.
    pub fn indexes(&self) -> std::sync::Arc<Indexes> {
        let mut slot = self.indexes.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ix) = slot.as_ref().filter(|ix| ix.generation == self.generation) {
            return ix.clone();
        }
        let mut ix = Indexes {
            generation: self.generation,
            ..Indexes::default()
        };
        for i in self.issues.values() {
            if let Some(p) = i.parent {
                ix.children.entry(p).or_default().push(i.id);
            }
        }
        for l in self.links.values() {
            ix.links.entry(l.inward).or_default().push(l.id);
            ix.links.entry(l.outward).or_default().push(l.id);
        }
        let ix = std::sync::Arc::new(ix);
        *slot = Some(ix.clone());
        ix
    }

    pub fn user_by_id(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// Finds a user by any identity a client may send: accountId, key, username or e-mail.
    pub fn user_by_any(&self, who: &str) -> Option<&User> {
        self.users.iter().find(|u| {
            u.id == who || u.login.eq_ignore_ascii_case(who) || u.email.eq_ignore_ascii_case(who)
        })
    }

    pub fn project(&self, id_or_key: &str) -> Option<&Project> {
        self.projects
            .iter()
            .find(|p| p.key.eq_ignore_ascii_case(id_or_key) || p.id.to_string() == id_or_key)
    }

    pub fn project_by_id(&self, id: u64) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }

    /// Resolves `DEMO-1` or `10001` to an issue id.
    pub fn issue_id(&self, id_or_key: &str) -> Option<u64> {
        self.issue_id_even_hidden(id_or_key)
            .filter(|id| !self.hidden.contains(id))
    }

    /// [`Self::issue_id`] for the simulator's own controls, which see hidden issues too.
    pub fn issue_id_even_hidden(&self, id_or_key: &str) -> Option<u64> {
        if let Ok(id) = id_or_key.parse::<u64>() {
            return self.issues.contains_key(&id).then_some(id);
        }
        self.keys
            .get(&id_or_key.to_ascii_uppercase())
            .copied()
            .filter(|id| self.issues.contains_key(id))
    }

    pub fn issue(&self, id_or_key: &str) -> Option<&Issue> {
        self.issue_id(id_or_key).and_then(|id| self.issues.get(&id))
    }

    pub fn version(&self, id: u64) -> Option<&Version> {
        self.versions.iter().find(|v| v.id == id)
    }

    pub fn component(&self, id: u64) -> Option<&Component> {
        self.components.iter().find(|c| c.id == id)
    }

    pub fn board(&self, id: u64) -> Option<&Board> {
        self.boards.iter().find(|b| b.id == id)
    }

    /// A new change group (the next changelog id) for the caller to append to an issue.
    pub fn change_group(
        &mut self,
        author: &str,
        created: DateTime<Utc>,
        items: Vec<ChangeItem>,
    ) -> ChangeGroup {
        self.counters.changelog += 1;
        ChangeGroup {
            id: self.counters.changelog,
            author: author.to_owned(),
            created,
            items,
        }
    }

    /// Inserts a new issue, handing out its id and key.
    pub fn insert_issue(&mut self, mut issue: Issue) -> Result<(u64, String), String> {
        let project = self
            .projects
            .iter_mut()
            .find(|p| p.id == issue.project_id)
            .ok_or_else(|| "project not found".to_string())?;
        project.issue_counter += 1;
        self.counters.issue += 1;
        issue.id = self.counters.issue;
        issue.key = format!("{}-{}", project.key, project.issue_counter);
        let out = (issue.id, issue.key.clone());
        self.keys.insert(issue.key.clone(), issue.id);
        // A new issue has no children or links yet; only its parent's sub-task list changes.
        let changed: Vec<u64> = std::iter::once(issue.id).chain(issue.parent).collect();
        self.issues.insert(issue.id, issue);
        self.generation += 1;
        self.log_change(Some(changed));
        Ok(out)
    }

    /// A blank issue of the first project with the given type, for seeding and generation.
    pub fn blank_issue(&self, issue_type: &str, summary: &str, now: DateTime<Utc>) -> Issue {
        let reporter = self.users.first().map(|u| u.id.clone());
        Issue {
            id: 0,
            key: String::new(),
            project_id: self.projects.first().map(|p| p.id).unwrap_or(10000),
            issue_type: issue_type.to_string(),
            status: STATUS_TODO.to_string(),
            summary: summary.to_string(),
            description: None,
            description_adf: None,
            parent: None,
            labels: Vec::new(),
            components: Vec::new(),
            fix_versions: Vec::new(),
            assignee: None,
            reporter,
            priority: DEFAULT_PRIORITY.to_string(),
            resolution: None,
            resolution_date: None,
            due_date: None,
            created: now,
            updated: now,
            custom: BTreeMap::new(),
            sprints: Vec::new(),
            comments: Vec::new(),
            worklogs: Vec::new(),
            changelog: Vec::new(),
            properties: BTreeMap::new(),
        }
    }

    /// Adds `n` realistic issues (epics with stories, tasks, bugs and sub-tasks, spread over
    /// statuses, sprints, versions and the last 90 days), deterministic for a given seed.
    pub fn generate(&mut self, n: usize, seed: u64, now: DateTime<Utc>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let words = [
            "checkout",
            "login",
            "search",
            "billing",
            "export",
            "dashboard",
            "sync",
            "profile",
            "report",
            "invoice",
            "upload",
            "notification",
            "permissions",
            "onboarding",
            "audit",
            "cache",
        ];
        let verbs = [
            "Improve", "Fix", "Add", "Refactor", "Speed up", "Document", "Remove", "Validate",
        ];
        let sp_field = self.deployment.story_points_field().id;
        let mut epics: Vec<u64> = Vec::new();
        let mut stories: Vec<u64> = Vec::new();
        let user_ids: Vec<String> = self.users.iter().map(|u| u.id.clone()).collect();
        let version_ids: Vec<u64> = self.versions.iter().map(|v| v.id).collect();
        let component_ids: Vec<u64> = self.components.iter().map(|c| c.id).collect();
        let sprint_ids: Vec<u64> = self.sprints.keys().copied().collect();
        for i in 0..n {
            let roll = rng.random_range(0..100);
            let ty = if i % 25 == 0 || epics.is_empty() {
                "10000"
            } else if roll < 45 {
                "10001"
            } else if roll < 70 {
                "10002"
            } else if roll < 90 {
                "10003"
            } else if !stories.is_empty() {
                "10004"
            } else {
                "10002"
            };
            let summary = format!(
                "{} {} {}",
                verbs[rng.random_range(0..verbs.len())],
                words[rng.random_range(0..words.len())],
                if ty == "10000" { "initiative" } else { "flow" }
            );
            let created = now - Duration::minutes(rng.random_range(60..90 * 24 * 60));
            let updated = created
                + Duration::minutes(rng.random_range(0..(now - created).num_minutes().max(1)));
            let mut issue = self.blank_issue(ty, &summary, created);
            issue.updated = updated;
            issue.description = Some(format!(
                "h2. Context\nUsers of the {} flow reported problems.\n\n* acceptance: works for *all* users\n* measured in the {} report",
                words[rng.random_range(0..words.len())],
                words[rng.random_range(0..words.len())]
            ));
            issue.status = STATUSES[rng.random_range(0..STATUSES.len())].id.to_string();
            if issue.status == STATUS_DONE {
                issue.resolution = Some("10000".into());
                issue.resolution_date = Some(updated);
            }
            issue.priority = PRIORITIES[rng.random_range(0..PRIORITIES.len())]
                .id
                .to_string();
            if !user_ids.is_empty() && rng.random_bool(0.7) {
                issue.assignee = Some(user_ids[rng.random_range(0..user_ids.len())].clone());
            }
            if rng.random_bool(0.5) {
                issue
                    .labels
                    .push(words[rng.random_range(0..words.len())].to_string());
            }
            if !component_ids.is_empty() && rng.random_bool(0.6) {
                issue
                    .components
                    .push(component_ids[rng.random_range(0..component_ids.len())]);
            }
            if !version_ids.is_empty() && rng.random_bool(0.5) {
                issue
                    .fix_versions
                    .push(version_ids[rng.random_range(0..version_ids.len())]);
            }
            match ty {
                "10000" => {}
                "10004" => issue.parent = Some(stories[rng.random_range(0..stories.len())]),
                _ => {
                    if rng.random_bool(0.8) {
                        issue.parent = Some(epics[rng.random_range(0..epics.len())]);
                    }
                    issue.custom.insert(
                        sp_field.to_string(),
                        Value::from([1, 2, 3, 5, 8, 13][rng.random_range(0..6)]),
                    );
                    if !sprint_ids.is_empty() && rng.random_bool(0.4) {
                        issue
                            .sprints
                            .push(sprint_ids[rng.random_range(0..sprint_ids.len())]);
                    }
                }
            }
            if let Ok((id, _)) = self.insert_issue(issue) {
                match ty {
                    "10000" => epics.push(id),
                    "10001" => stories.push(id),
                    _ => {}
                }
            }
        }
    }
}

fn cloud_user(n: u32, email: &str, name: &str, token: &str, admin: bool) -> User {
    User {
        id: format!("5b10ac8d82e05b22cc7d{n:04x}"),
        login: email.into(),
        display_name: name.into(),
        email: email.into(),
        secret: token.into(),
        pat: None,
        admin,
    }
}

/// Adds a user from `--user NAME:SECRET[:admin]`.
/// Adds (or replaces) a login. `pat`: the Data Center personal access token, if any.
pub fn add_user(state: &mut State, login: &str, secret: &str, pat: Option<&str>, admin: bool) {
    let n = state.users.len() as u32;
    let user = match state.deployment {
        Deployment::Cloud => cloud_user(
            n,
            login,
            login.split('@').next().unwrap_or(login),
            secret,
            admin,
        ),
        Deployment::DataCenter => User {
            id: format!("JIRAUSER{}", 10000 + n),
            login: login.into(),
            display_name: login.into(),
            email: format!("{login}@example.com"),
            secret: secret.into(),
            pat: pat.map(Into::into),
            admin,
        },
    };
    state.users.retain(|u| !u.login.eq_ignore_ascii_case(login));
    state.users.push(user);
}
