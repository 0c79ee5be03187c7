//! The pure mapping between one workspace item and one Jira issue, for one ProjectIntegration.
//!
//! [`MappingContext`] gathers what the manifests declare and what the online check resolved
//! against Jira (type, status and field ids, the board's sprints, the project's versions and
//! components). [`to_jira`] turns an item into the create/edit body of the connection's dialect
//! plus the instructions that are not fields (sprint move, status change, hierarchy link);
//! [`from_jira`] turns a REST issue (v2 or v3 shape) into an [`ItemPatch`].
//!
//! Nothing here performs I/O or keeps state: the engine calls it with what it read.
//!
//! Rules the engine relies on:
//! - primary types sync both ways, ignored types never ([`MappingError::IgnoredType`]),
//!   secondary types only from Jira ([`MappingContext::check_pushable`]);
//! - a field whose direction is `fromJira` never appears in a write; one whose direction is
//!   `toJira` never appears in a patch (`custom[].direction` overrides the integration's);
//! - the item's `labels` map to Jira `labels` unless a default or custom field already maps
//!   onto that Jira field (then that field owns it);
//! - parents: sub-tasks and, on Cloud, any child one hierarchy level below its parent use the
//!   `parent` field; on Data Center children of epics use the Epic Link field; every other
//!   parent (same level, or more than one level apart) is expressed by an issue link
//!   ([`IssueWrite::parent_link`], link type [`HIERARCHY_LINK_TYPE`]).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::jira::{
    Component, Deployment, Field, FieldKind, IssueFields, IssueType, ResolvedIntegration, Sprint,
    Status, Version,
};
use crate::manifest::model::{
    Direction, FieldMapping, FieldType, ProjectIntegration, StoryPoints, Workspace,
};
use crate::workspace::model::Item;

use super::richtext;

/// The issue link type that expresses a workspace parent Jira's hierarchy cannot hold
/// (outward: the parent, inward: the child).
pub const HIERARCHY_LINK_TYPE: &str = "Relates";

/// Prefix of the label a push puts on each issue it creates (`tandem-item-<ws>-<id>`), so the
/// issue can be adopted after a crash. It is tandem's bookkeeping: never read into an item,
/// always kept when tandem writes labels.
pub const ADOPTION_LABEL_PREFIX: &str = "tandem-item-";

/// Why an item or an issue cannot be mapped. [`MappingError::is_skip`] tells the expected
/// "not synced by design" outcomes from real failures.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MappingError {
    #[error("workspace type {0} is ignored by the integration; its items are never synced")]
    IgnoredType(String),
    #[error("workspace type {0} is not listed in the integration's types")]
    UnknownType(String),
    #[error("Jira issue type \"{0}\" is neither a primary nor a secondary type of the integration; the issue is not synced")]
    UnmappedJiraType(String),
    #[error("{key} is a Jira \"{jira_type}\", a secondary type: it syncs one way from Jira and edits are not pushed back")]
    SecondaryType { key: String, jira_type: String },
    #[error("the integration's direction is fromJira: workspace changes are not written to Jira")]
    ReadOnly,
    #[error("sprint \"{0}\" is not a sprint of the integration's board")]
    UnknownSprint(String),
    #[error("{field}: \"{value}\" is not a {what} of the project")]
    UnknownValue {
        field: String,
        value: String,
        what: &'static str,
    },
    #[error("{field}: {message}")]
    BadValue { field: String, message: String },
    #[error("the issue has no {0}")]
    Malformed(&'static str),
}

impl MappingError {
    /// Outcomes that mean "this is not synced", not "something went wrong".
    pub fn is_skip(&self) -> bool {
        matches!(
            self,
            MappingError::IgnoredType(_)
                | MappingError::UnmappedJiraType(_)
                | MappingError::SecondaryType { .. }
                | MappingError::ReadOnly
        )
    }
}

/// Where a mapped value lives on the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    StoryPoints,
    Team,
    Components,
    Releases,
    Labels,
    /// A default or custom field, by its workspace name (a key of [`Item::fields`]).
    Field(String),
}

/// One mapped field pair.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRule {
    /// The workspace name, which is also the snapshot key (`storyPoints`, `Risk`...).
    pub workspace: String,
    pub slot: Slot,
    pub kind: FieldKind,
    /// The Jira field as resolved (id and schema).
    pub jira: Field,
    pub direction: Direction,
    /// Whether `custom[].direction` set the direction (secondary types honour only this).
    pub explicit_direction: bool,
}

impl FieldRule {
    /// A text value Jira stores as rich text (textarea custom fields, description-like fields).
    fn rich(&self) -> bool {
        self.kind == FieldKind::Text
            && (self.jira.id == "description"
                || self.jira.id == "environment"
                || self
                    .jira
                    .schema
                    .as_ref()
                    .and_then(|s| s.custom.as_deref())
                    .is_some_and(|c| c.ends_with(":textarea")))
    }

    fn schema_kind(&self) -> &str {
        self.jira
            .schema
            .as_ref()
            .map(|s| s.kind.as_str())
            .unwrap_or("")
    }

    fn schema_items(&self) -> Option<&str> {
        self.jira.schema.as_ref().and_then(|s| s.items.as_deref())
    }
}

/// What the engine fetched from Jira besides the online check's result.
#[derive(Debug, Clone, Default)]
pub struct JiraCatalog {
    /// Sprints of the integration's board (any state).
    pub sprints: Vec<Sprint>,
    pub versions: Vec<Version>,
    pub components: Vec<Component>,
    /// `GET /field`; finds the sprint and Epic Link fields. When empty, the well-known ids
    /// of the dialect are assumed (`customfield_10020` sprint on Cloud; on Data Center no
    /// Epic Link, so epic children use `parent`).
    pub fields: Vec<Field>,
}

/// Everything needed to map items and issues of one integration.
#[derive(Debug, Clone)]
pub struct MappingContext {
    pub integration: String,
    pub deployment: Deployment,
    pub project_key: String,
    pub direction: Direction,
    pub board: Option<u64>,
    /// Workspace type → Jira type; `None` = ignored.
    types: Vec<(String, Option<IssueType>)>,
    /// Jira type name → workspace type (one way from Jira).
    secondary: Vec<(String, String)>,
    /// Workspace status → Jira status.
    statuses: Vec<(String, Status)>,
    rules: Vec<FieldRule>,
    catalog: JiraCatalog,
    sprint_field: Option<String>,
    epic_link_field: Option<String>,
    /// Epic Name (`gh-epic-label`): Data Center before 10 and older company-managed Cloud
    /// sites refuse an Epic created without it, so creates fill it from the title.
    epic_name_field: Option<String>,
    /// Team name → id (`primary.teams`): an Atlassian team field takes only ids.
    team_ids: std::collections::BTreeMap<String, String>,
    /// Every field [`read_issue`] looks at, in the field map's order (see [`ReadKeys`]).
    read_keys: ReadKeys,
}

/// The fields an issue is read from, by position: [`FIXED_KEYS`], then the sprint and Epic
/// Link fields, then each rule's field. Sorted by name, they are found in one ordered walk of
/// the issue's field map, where a search per field (a few dozen of them, in a map of a few
/// dozen to hundreds of fields) cost more than the rest of reading the issue.
#[derive(Debug, Clone, Default)]
struct ReadKeys {
    /// (field id, position), sorted by field id; one id may serve several positions.
    sorted: Vec<(String, usize)>,
    len: usize,
}

/// Positions of the fields every read looks at.
const FIXED_KEYS: [&str; 10] = [
    "issuetype",
    "summary",
    "description",
    "status",
    "parent",
    "issuelinks",
    "timespent",
    "timetracking",
    "worklog",
    "comment",
];
const K_ISSUETYPE: usize = 0;
const K_SUMMARY: usize = 1;
const K_DESCRIPTION: usize = 2;
const K_STATUS: usize = 3;
const K_PARENT: usize = 4;
const K_ISSUELINKS: usize = 5;
const K_TIMESPENT: usize = 6;
const K_TIMETRACKING: usize = 7;
const K_WORKLOG: usize = 8;
const K_COMMENT: usize = 9;
const K_SPRINT: usize = 10;
const K_EPIC_LINK: usize = 11;
/// The position of rule `n`'s field.
const fn k_rule(n: usize) -> usize {
    12 + n
}

impl ReadKeys {
    fn new(sprint: Option<&str>, epic_link: Option<&str>, rules: &[FieldRule]) -> ReadKeys {
        let mut sorted: Vec<(String, usize)> = FIXED_KEYS
            .iter()
            .enumerate()
            .map(|(n, k)| ((*k).to_owned(), n))
            .collect();
        sorted.extend(sprint.map(|k| (k.to_owned(), K_SPRINT)));
        sorted.extend(epic_link.map(|k| (k.to_owned(), K_EPIC_LINK)));
        sorted.extend(
            rules
                .iter()
                .enumerate()
                .map(|(n, r)| (r.jira.id.clone(), k_rule(n))),
        );
        sorted.sort();
        ReadKeys {
            sorted,
            len: k_rule(rules.len()),
        }
    }

    /// The value of each field by position (`None`: not in the map), as `fields.get(id)`
    /// gives it.
    fn find<'a>(&self, fields: &'a Map<String, Value>) -> Vec<Option<&'a Value>> {
        let mut found = vec![None; self.len];
        let mut wanted = self.sorted.as_slice();
        for (key, value) in fields {
            while let Some(((id, at), rest)) = wanted.split_first() {
                match order(id, key) {
                    std::cmp::Ordering::Less => {}
                    std::cmp::Ordering::Equal => found[*at] = Some(value),
                    std::cmp::Ordering::Greater => break,
                }
                wanted = rest;
            }
            if wanted.is_empty() {
                break;
            }
        }
        found
    }
}

/// `a.cmp(b)`, deciding by the first byte where it differs: most of an issue's fields are not
/// read, and most of those differ from the next field read in their first letter.
fn order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(x), Some(y)) if x != y => x.cmp(y),
        _ => a.cmp(b),
    }
}

/// The parent of an item as the engine knows it: the linked Jira issue of the parent item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRef {
    pub id: String,
    pub key: String,
    /// The parent item's workspace type (decides parent field, Epic Link or issue link).
    pub item_type: String,
}

/// Move the issue into a board sprint (`Some(id)`) or to the backlog (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SprintMove {
    pub sprint_id: Option<i64>,
}

/// Bring the issue to this status through the workflow (see [`super::transitions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub target_status_id: String,
}

/// What writing an item to Jira takes.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueWrite {
    /// Field values in the dialect's encoding; `null` means "clear" (kept for edits only).
    pub fields: Map<String, Value>,
    /// `None`: the integration has no board, or the item's sprint is closed (never moved into).
    pub sprint: Option<SprintMove>,
    /// `None`: the item's status is not mapped.
    pub status: Option<StatusChange>,
    /// Parent key to link with [`HIERARCHY_LINK_TYPE`] when no field can hold the parent.
    pub parent_link: Option<String>,
    /// Fields Jira requires on create only, filled by tandem (Epic Name from the title); never
    /// part of an edit, so a person's later rename of the epic label is left alone.
    pub create_only: Map<String, Value>,
}

impl IssueWrite {
    /// Body of `POST /issue`: project and type included, cleared fields left out.
    pub fn create_body(&self) -> IssueFields {
        let mut body = IssueFields::new();
        for (k, v) in &self.fields {
            if !v.is_null() {
                body.fields.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in &self.create_only {
            body.fields.entry(k.clone()).or_insert_with(|| v.clone());
        }
        body
    }

    /// Body of `PUT /issue/{key}`: the project and type stay as they are (moving an issue is a
    /// separate Jira operation), cleared fields are sent as `null`.
    pub fn edit_body(&self) -> IssueFields {
        let mut body = IssueFields::new();
        for (k, v) in &self.fields {
            if k != "project" && k != "issuetype" {
                body.fields.insert(k.clone(), v.clone());
            }
        }
        body
    }
}

/// Which side of the type mapping an issue came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Primary,
    /// A `secondaryTypes` issue: read-only from the workspace's point of view.
    Secondary,
}

/// A Jira comment as the workspace sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraComment {
    pub jira_id: String,
    pub author: String,
    /// Workspace text (converted from ADF or wiki markup).
    pub body: String,
    pub created: Option<String>,
}

/// What a Jira issue says about its item. `None` (or a missing map key) = not mapped in this
/// direction, leave the item's value alone; `Some(None)`/`Value::Null` = cleared in Jira.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ItemPatch {
    pub issue_id: String,
    pub issue_key: String,
    pub origin: Option<Origin>,
    pub jira_type: String,
    pub item_type: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    /// Key of the parent issue (parent field or Epic Link); the engine resolves it to an item.
    pub parent_key: Option<Option<String>>,
    pub sprint: Option<Option<String>>,
    pub releases: Option<Vec<String>>,
    pub components: Option<Vec<String>>,
    pub story_points: Option<Option<f64>>,
    pub team: Option<Option<String>>,
    pub labels: Option<Vec<String>>,
    pub fields: BTreeMap<String, Value>,
    pub comments: Option<Vec<JiraComment>>,
    pub time_spent_seconds: Option<u64>,
}

impl ItemPatch {
    /// Applies everything but the parent (which needs the link table) and comments (which need
    /// matching by Jira id) to an item. Returns whether anything changed.
    pub fn apply(&self, item: &mut Item) -> bool {
        let before = item.clone();
        item.item_type = self.item_type.clone();
        if let Some(v) = &self.title {
            item.title = v.clone();
        }
        if let Some(v) = &self.description {
            item.description = v.clone();
        }
        if let Some(v) = &self.status {
            item.status = v.clone();
        }
        if let Some(v) = &self.sprint {
            item.sprint = v.clone();
        }
        if let Some(v) = &self.releases {
            item.releases = v.clone();
        }
        if let Some(v) = &self.components {
            item.components = v.clone();
        }
        if let Some(v) = self.story_points {
            item.story_points = v;
        }
        if let Some(v) = &self.team {
            item.team = v.clone();
        }
        if let Some(v) = &self.labels {
            item.labels = v.clone();
        }
        for (k, v) in &self.fields {
            if v.is_null() {
                item.fields.remove(k);
            } else {
                item.fields.insert(k.clone(), v.clone());
            }
        }
        if let Some(t) = self.time_spent_seconds {
            item.time_spent_seconds = t;
        }
        *item != before
    }
}

fn field_kind(t: FieldType) -> FieldKind {
    match t {
        FieldType::Text => FieldKind::Text,
        FieldType::Number => FieldKind::Number,
        FieldType::SingleSelect => FieldKind::SingleSelect,
        FieldType::MultiSelect => FieldKind::MultiSelect,
        FieldType::Date => FieldKind::Date,
        FieldType::Labels => FieldKind::Labels,
        FieldType::Url => FieldKind::Url,
    }
}

fn has_custom(field: &Field, suffix: &str) -> bool {
    field
        .schema
        .as_ref()
        .and_then(|s| s.custom.as_deref())
        .is_some_and(|c| c.ends_with(suffix))
}

impl MappingContext {
    /// Builds the context. Fields the online check did not resolve are left out (the
    /// integration is then not Ready anyway); statuses likewise.
    pub fn new(
        integration: &ProjectIntegration,
        workspace: &Workspace,
        field_mapping: Option<&FieldMapping>,
        resolved: &ResolvedIntegration,
        deployment: Deployment,
        catalog: JiraCatalog,
    ) -> MappingContext {
        let direction = integration.direction;
        let types = integration
            .types
            .iter()
            .map(|t| {
                let jira = t
                    .jira
                    .as_ref()
                    .and_then(|_| resolved.types.get(&t.workspace).cloned());
                (t.workspace.clone(), jira)
            })
            .collect();
        let secondary = integration
            .secondary_types
            .iter()
            .map(|s| (s.jira.clone(), s.workspace.clone()))
            .collect();
        let statuses = integration
            .statuses
            .iter()
            .filter_map(|s| {
                resolved
                    .statuses
                    .get(&s.workspace)
                    .map(|st| (s.workspace.clone(), st.clone()))
            })
            .collect();

        let mut rules = Vec::new();
        let mut add = |name: &str, slot: Slot, kind: FieldKind, explicit: Option<Direction>| {
            if let Some(field) = resolved.fields.get(name) {
                rules.push(FieldRule {
                    workspace: name.to_owned(),
                    slot,
                    kind,
                    jira: field.clone(),
                    direction: explicit.unwrap_or(direction),
                    explicit_direction: explicit.is_some(),
                });
            }
        };
        if let Some(fm) = field_mapping {
            if fm.primary.components {
                add("components", Slot::Components, FieldKind::Components, None);
            }
            if fm.primary.releases {
                add("releases", Slot::Releases, FieldKind::Releases, None);
            }
            if matches!(
                fm.primary.story_points,
                Some(StoryPoints::Auto | StoryPoints::Field(_))
            ) {
                add("storyPoints", Slot::StoryPoints, FieldKind::Number, None);
            }
            if fm.primary.team.is_some() {
                add("team", Slot::Team, FieldKind::Team, None);
            }
            let d = &fm.defaults;
            for (name, kind, set) in [
                ("objective", FieldKind::Text, d.objective.is_some()),
                ("keyResult", FieldKind::Text, d.key_result.is_some()),
                ("value", FieldKind::Number, d.value.is_some()),
                ("effort", FieldKind::Number, d.effort.is_some()),
            ] {
                if set {
                    add(name, Slot::Field(name.to_owned()), kind, None);
                }
            }
            for c in &fm.custom {
                if let Some(t) = workspace.field_type(&c.workspace) {
                    add(
                        &c.workspace,
                        Slot::Field(c.workspace.clone()),
                        field_kind(t),
                        c.direction,
                    );
                }
            }
        }
        if !rules.iter().any(|r| r.jira.id == "labels") {
            let labels = catalog
                .fields
                .iter()
                .find(|f| f.id == "labels")
                .cloned()
                .unwrap_or_else(|| Field {
                    id: "labels".into(),
                    name: "Labels".into(),
                    schema: Some(crate::jira::FieldSchema {
                        kind: "array".into(),
                        items: Some("string".into()),
                        system: Some("labels".into()),
                        ..Default::default()
                    }),
                    ..Field::default()
                });
            rules.push(FieldRule {
                workspace: "labels".into(),
                slot: Slot::Labels,
                kind: FieldKind::Labels,
                jira: labels,
                direction,
                explicit_direction: false,
            });
        }

        let sprint_field = catalog
            .fields
            .iter()
            .find(|f| has_custom(f, ":gh-sprint"))
            .map(|f| f.id.clone())
            .or_else(|| (deployment == Deployment::Cloud).then(|| "customfield_10020".into()));
        let epic_link_field = catalog
            .fields
            .iter()
            .find(|f| has_custom(f, ":gh-epic-link"))
            .map(|f| f.id.clone())
            .filter(|_| deployment == Deployment::DataCenter);
        let epic_name_field = catalog
            .fields
            .iter()
            .find(|f| has_custom(f, ":gh-epic-label"))
            .map(|f| f.id.clone());
        let read_keys = ReadKeys::new(sprint_field.as_deref(), epic_link_field.as_deref(), &rules);

        MappingContext {
            integration: integration.name.clone(),
            deployment,
            project_key: integration.project.clone(),
            direction,
            board: integration.board,
            types,
            secondary,
            statuses,
            rules,
            catalog,
            sprint_field,
            epic_link_field,
            epic_name_field,
            team_ids: field_mapping
                .map(|fm| fm.primary.teams.clone())
                .unwrap_or_default(),
            read_keys,
        }
    }

    pub fn rules(&self) -> &[FieldRule] {
        &self.rules
    }

    /// Whether this integration reads every field from Jira (its direction and every rule's
    /// take Jira's value): then [`from_jira`] reads what the snapshot of Jira's side holds, and
    /// a one-time import maps each issue once instead of twice.
    pub fn reads_every_field(&self) -> bool {
        self.direction.from_jira() && self.rules.iter().all(|r| r.direction.from_jira())
    }

    pub fn catalog(&self) -> &JiraCatalog {
        &self.catalog
    }

    /// Replaces the fetched sprints, versions and components (after a sprint or version event).
    pub fn set_catalog(&mut self, catalog: JiraCatalog) {
        if !catalog.fields.is_empty() {
            self.catalog.fields = catalog.fields;
        }
        self.catalog.sprints = catalog.sprints;
        self.catalog.versions = catalog.versions;
        self.catalog.components = catalog.components;
    }

    /// The sprint custom field of the instance, when known.
    pub fn sprint_field(&self) -> Option<&str> {
        self.sprint_field.as_deref()
    }

    /// Data Center's Epic Link field, when the instance has one.
    pub fn epic_link_field(&self) -> Option<&str> {
        self.epic_link_field.as_deref()
    }

    /// Every Jira field [`read_issue`] reads (the import's baseline and parent resolution read
    /// no other), so a bulk read can ask Jira for those alone: a generated Cloud issue under
    /// `*navigable` carries 52 fields, of which a mapping reads about 17, and Jira renders,
    /// sends and tandem decodes every one. `comment` is among them, as Jira never navigates
    /// it. The list is [`ReadKeys`]' own, so a field `read_issue` reads cannot be missing here;
    /// `sync_mapping_fields` checks that an issue read with these alone maps as the whole issue.
    pub fn issue_fields_read(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .read_keys
            .sorted
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        // Sorted, so an id serving several positions is repeated side by side.
        ids.dedup();
        ids
    }

    /// The Jira type of a workspace type: `Err` when ignored or unknown.
    pub fn jira_type(&self, workspace_type: &str) -> Result<&IssueType, MappingError> {
        match self.types.iter().find(|(w, _)| w == workspace_type) {
            Some((_, Some(t))) => Ok(t),
            Some((_, None)) => Err(MappingError::IgnoredType(workspace_type.to_owned())),
            None => Err(MappingError::UnknownType(workspace_type.to_owned())),
        }
    }

    /// The workspace type and origin of a Jira issue type (by id, then by name).
    pub fn workspace_type(
        &self,
        jira_type_id: &str,
        jira_type_name: &str,
    ) -> Result<(String, Origin), MappingError> {
        let primary = self.types.iter().find(|(_, t)| {
            t.as_ref().is_some_and(|t| {
                (!jira_type_id.is_empty() && t.id == jira_type_id)
                    || t.name.eq_ignore_ascii_case(jira_type_name)
            })
        });
        if let Some((w, _)) = primary {
            return Ok((w.clone(), Origin::Primary));
        }
        if let Some((_, w)) = self
            .secondary
            .iter()
            .find(|(j, _)| j.eq_ignore_ascii_case(jira_type_name))
        {
            return Ok((w.clone(), Origin::Secondary));
        }
        Err(MappingError::UnmappedJiraType(jira_type_name.to_owned()))
    }

    /// Whether workspace edits may be written to this (already linked) issue: not when its
    /// type is a secondary type or is not mapped at all.
    pub fn check_pushable(&self, issue: &crate::jira::Issue) -> Result<(), MappingError> {
        if !self.direction.to_jira() {
            return Err(MappingError::ReadOnly);
        }
        let (id, name) = issue_type_of(&issue.fields);
        match self.workspace_type(id, name)? {
            (_, Origin::Primary) => Ok(()),
            (_, Origin::Secondary) => Err(MappingError::SecondaryType {
                key: issue.key.clone(),
                jira_type: name.to_owned(),
            }),
        }
    }

    /// The Jira status a workspace status maps to.
    pub fn jira_status(&self, workspace_status: &str) -> Option<&Status> {
        self.statuses
            .iter()
            .find(|(w, _)| w == workspace_status)
            .map(|(_, s)| s)
    }

    /// The workspace status of a Jira status id (first pair wins when several share it).
    pub fn workspace_status(&self, jira_status_id: &str, jira_status_name: &str) -> Option<&str> {
        self.statuses
            .iter()
            .find(|(_, s)| s.id == jira_status_id)
            .or_else(|| {
                self.statuses
                    .iter()
                    .find(|(_, s)| s.name.eq_ignore_ascii_case(jira_status_name))
            })
            .map(|(w, _)| w.as_str())
    }

    /// The Jira statuses the integration maps (the statuses a status change may pass).
    pub fn mapped_statuses(&self) -> impl Iterator<Item = &Status> {
        self.statuses.iter().map(|(_, s)| s)
    }

    pub fn maps_statuses(&self) -> bool {
        !self.statuses.is_empty()
    }

    pub fn maps_sprints(&self) -> bool {
        self.board.is_some()
    }

    /// A board sprint by name.
    pub fn sprint_by_name(&self, name: &str) -> Option<&Sprint> {
        self.catalog.sprints.iter().find(|s| s.name == name)
    }

    /// The direction of a snapshot key (`title`, `storyPoints`, a custom field name...).
    pub fn field_direction(&self, key: &str) -> Option<Direction> {
        match key {
            "title" | "description" | "status" | "sprint" => Some(self.direction),
            _ => self
                .rules
                .iter()
                .find(|r| r.workspace == key)
                .map(|r| r.direction),
        }
    }

    /// A workspace comment as the dialect's comment body.
    pub fn comment_body(&self, text: &str) -> Value {
        richtext::to_jira_text(text, self.deployment == Deployment::Cloud)
    }

    fn cloud(&self) -> bool {
        self.deployment == Deployment::Cloud
    }
}

fn issue_type_of(fields: &Map<String, Value>) -> (&str, &str) {
    issue_type_in(fields.get("issuetype"))
}

fn issue_type_in(t: Option<&Value>) -> (&str, &str) {
    let id = t
        .and_then(|t| t.get("id"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = t
        .and_then(|t| t.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    (id, name)
}

// ---------------------------------------------------------------------------------------------
// Workspace → Jira.

/// The create/edit body and the non-field instructions for an item.
pub fn to_jira(
    item: &Item,
    parent_issue: Option<&IssueRef>,
    ctx: &MappingContext,
) -> Result<IssueWrite, MappingError> {
    if !ctx.direction.to_jira() {
        return Err(MappingError::ReadOnly);
    }
    let jira_type = ctx.jira_type(&item.item_type)?;
    let mut fields = Map::new();
    fields.insert("project".into(), json!({ "key": ctx.project_key }));
    fields.insert("issuetype".into(), json!({ "id": jira_type.id }));
    let title = item.title.trim();
    if title.is_empty() {
        return Err(MappingError::BadValue {
            field: "title".into(),
            message: "Jira requires a summary; the item has no title".into(),
        });
    }
    fields.insert("summary".into(), json!(title));
    fields.insert(
        "description".into(),
        if item.description.trim().is_empty() {
            Value::Null
        } else {
            richtext::to_jira_text(&item.description, ctx.cloud())
        },
    );

    let parent_link = write_parent(jira_type, parent_issue, ctx, &mut fields)?;
    let mut create_only = Map::new();
    if let Some(epic_name) = &ctx.epic_name_field {
        if jira_type.level() == 1 && !item.title.trim().is_empty() {
            create_only.insert(epic_name.clone(), json!(item.title.trim()));
        }
    }

    for rule in ctx.rules.iter().filter(|r| r.direction.to_jira()) {
        let value = write_rule(item, rule, ctx)?;
        fields.insert(rule.jira.id.clone(), value);
    }

    let sprint = if ctx.maps_sprints() {
        match &item.sprint {
            None => Some(SprintMove { sprint_id: None }),
            Some(name) => {
                let sprint = ctx
                    .sprint_by_name(name)
                    .ok_or_else(|| MappingError::UnknownSprint(name.clone()))?;
                (sprint.state != "closed").then_some(SprintMove {
                    sprint_id: Some(sprint.id),
                })
            }
        }
    } else {
        None
    };
    let status = ctx.jira_status(&item.status).map(|s| StatusChange {
        target_status_id: s.id.clone(),
    });
    Ok(IssueWrite {
        fields,
        sprint,
        status,
        parent_link,
        create_only,
    })
}

/// Sets the parent field (or Epic Link) and returns the key to link when no field fits.
fn write_parent(
    child: &IssueType,
    parent: Option<&IssueRef>,
    ctx: &MappingContext,
    fields: &mut Map<String, Value>,
) -> Result<Option<String>, MappingError> {
    let child_level = child.level();
    let Some(parent) = parent else {
        if child.subtask {
            return Err(MappingError::BadValue {
                field: "parent".into(),
                message: format!(
                    "Jira \"{}\" is a sub-task type, which cannot exist without a parent; give the item a parent first",
                    child.name
                ),
            });
        }
        // Clearing: only where a field could have held a parent.
        if child_level >= 0 {
            match (&ctx.epic_link_field, ctx.cloud()) {
                (_, true) => {
                    fields.insert("parent".into(), Value::Null);
                }
                (Some(epic), false) if child_level == 0 => {
                    fields.insert(epic.clone(), Value::Null);
                }
                _ => {}
            }
        }
        return Ok(None);
    };
    // The parent's level is unknown when its workspace type is ignored or only secondary:
    // then only a link can express the relation.
    let parent_type = ctx.jira_type(&parent.item_type).ok();
    let parent_level = parent_type.map(IssueType::level);
    if child.subtask || child_level < 0 {
        fields.insert("parent".into(), json!({ "key": parent.key }));
        return Ok(None);
    }
    if parent_level == Some(child_level + 1) {
        if ctx.cloud() {
            fields.insert("parent".into(), json!({ "key": parent.key }));
            return Ok(None);
        }
        if let Some(epic) = &ctx.epic_link_field {
            if child_level == 0 {
                fields.insert(epic.clone(), json!(parent.key));
                return Ok(None);
            }
        } else {
            fields.insert("parent".into(), json!({ "key": parent.key }));
            return Ok(None);
        }
    }
    // The link replaces whatever field held a parent before.
    match (&ctx.epic_link_field, ctx.cloud()) {
        (_, true) => {
            fields.insert("parent".into(), Value::Null);
        }
        (Some(epic), false) if child_level == 0 => {
            fields.insert(epic.clone(), Value::Null);
        }
        _ => {}
    }
    Ok(Some(parent.key.clone()))
}

fn write_rule(item: &Item, rule: &FieldRule, ctx: &MappingContext) -> Result<Value, MappingError> {
    let bad = |message: String| MappingError::BadValue {
        field: rule.workspace.clone(),
        message,
    };
    Ok(match &rule.slot {
        Slot::StoryPoints => item.story_points.map(|n| json!(n)).unwrap_or(Value::Null),
        Slot::Team => match &item.team {
            None => Value::Null,
            // Jira Cloud's Atlassian team field shows a team by name and takes only its id.
            Some(t) if rule.schema_kind() == "team" => match ctx.team_ids.get(t) {
                Some(id) => json!(id),
                None => {
                    return Err(MappingError::UnknownValue {
                        field: rule.workspace.clone(),
                        value: t.clone(),
                        what: "team with a declared id (Jira's team field takes ids: add it under the FieldMapping's primary.teams)",
                    })
                }
            },
            Some(t) => select_value(rule, t),
        },
        Slot::Components => {
            let mut out = Vec::new();
            for name in &item.components {
                if !ctx.catalog.components.iter().any(|c| &c.name == name) {
                    return Err(MappingError::UnknownValue {
                        field: rule.workspace.clone(),
                        value: name.clone(),
                        what: "component",
                    });
                }
                out.push(json!({ "name": name }));
            }
            Value::Array(out)
        }
        Slot::Releases => {
            let mut out = Vec::new();
            for name in &item.releases {
                if !ctx.catalog.versions.iter().any(|v| &v.name == name) {
                    return Err(MappingError::UnknownValue {
                        field: rule.workspace.clone(),
                        value: name.clone(),
                        what: "fix version",
                    });
                }
                out.push(json!({ "name": name }));
            }
            Value::Array(out)
        }
        Slot::Labels => labels_value(&item.labels).map_err(bad)?,
        Slot::Field(name) => match item.fields.get(name) {
            None | Some(Value::Null) => match rule.kind {
                FieldKind::MultiSelect | FieldKind::Labels => json!([]),
                _ => Value::Null,
            },
            Some(v) => field_value(rule, v, ctx).map_err(bad)?,
        },
    })
}

fn select_value(rule: &FieldRule, s: &str) -> Value {
    match rule.schema_kind() {
        "option" => json!({ "value": s }),
        _ => json!(s),
    }
}

fn labels_value(labels: &[String]) -> Result<Value, String> {
    for l in labels {
        if l.is_empty() || l.chars().any(char::is_whitespace) {
            return Err(format!(
                "Jira labels cannot be empty or contain spaces: {l:?}"
            ));
        }
    }
    Ok(json!(labels))
}

fn strings_of(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("expected a list of strings, found {v}"))
            })
            .collect(),
        Value::String(s) => Ok(vec![s.clone()]),
        other => Err(format!("expected a list of strings, found {other}")),
    }
}

/// A workspace field value in the Jira field's encoding.
fn field_value(rule: &FieldRule, v: &Value, ctx: &MappingContext) -> Result<Value, String> {
    Ok(match rule.kind {
        FieldKind::Number => {
            let n = number_of(v).ok_or_else(|| format!("expected a number, found {v}"))?;
            json!(n)
        }
        FieldKind::Text | FieldKind::Url | FieldKind::Team => {
            let s = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            if s.trim().is_empty() {
                Value::Null
            } else if rule.rich() {
                richtext::to_jira_text(&s, ctx.cloud())
            } else if rule.kind == FieldKind::Team {
                select_value(rule, &s)
            } else {
                json!(s)
            }
        }
        FieldKind::SingleSelect => match v.as_str() {
            Some(s) if !s.is_empty() => select_value(rule, s),
            Some(_) => Value::Null,
            None => return Err(format!("expected an option name, found {v}")),
        },
        FieldKind::MultiSelect => {
            let values = strings_of(v)?;
            if rule.schema_items() == Some("option") {
                Value::Array(values.iter().map(|s| json!({ "value": s })).collect())
            } else {
                labels_value(&values)?
            }
        }
        FieldKind::Labels => labels_value(&strings_of(v)?)?,
        FieldKind::Date => {
            let s = v
                .as_str()
                .ok_or_else(|| format!("expected a date, found {v}"))?;
            let date = chrono::NaiveDate::parse_from_str(s.get(..10).unwrap_or(s), "%Y-%m-%d")
                .map_err(|_| format!("expected a date as YYYY-MM-DD, found {s:?}"))?;
            if rule.schema_kind() == "datetime" {
                json!(format!("{date}T00:00:00.000+0000"))
            } else {
                json!(date.to_string())
            }
        }
        FieldKind::Components | FieldKind::Releases => Value::Array(
            strings_of(v)?
                .iter()
                .map(|s| json!({ "name": s }))
                .collect(),
        ),
    })
}

pub(crate) fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Jira → workspace.

/// The item patch a Jira issue implies; fields whose direction is `toJira` are left out.
/// Secondary types map to their workspace type and read every field but those explicitly
/// `toJira` (they exist to come from Jira).
pub fn from_jira(
    issue: &crate::jira::Issue,
    ctx: &MappingContext,
) -> Result<ItemPatch, MappingError> {
    read_issue(issue, ctx, true)
}

/// [`from_jira`] on an issue as JSON (a webhook's `issue`, a REST response body).
pub fn from_jira_json(issue: &Value, ctx: &MappingContext) -> Result<ItemPatch, MappingError> {
    let issue: crate::jira::Issue = serde_json::from_value(issue.clone())
        .map_err(|_| MappingError::Malformed("issue shape"))?;
    from_jira(&issue, ctx)
}

pub(crate) fn read_issue(
    issue: &crate::jira::Issue,
    ctx: &MappingContext,
    respect_direction: bool,
) -> Result<ItemPatch, MappingError> {
    let found = ctx.read_keys.find(&issue.fields);
    let f = |at: usize| found[at];
    let (type_id, type_name) = issue_type_in(f(K_ISSUETYPE));
    if type_id.is_empty() && type_name.is_empty() {
        return Err(MappingError::Malformed("issuetype"));
    }
    let (item_type, origin) = ctx.workspace_type(type_id, type_name)?;
    let secondary = origin == Origin::Secondary;
    let core = !respect_direction || secondary || ctx.direction.from_jira();
    let reads = |r: &FieldRule| {
        !respect_direction
            || if secondary {
                !(r.explicit_direction && r.direction == Direction::ToJira)
            } else {
                r.direction.from_jira()
            }
    };

    let mut patch = ItemPatch {
        issue_id: issue.id.clone(),
        issue_key: issue.key.clone(),
        origin: Some(origin),
        jira_type: type_name.to_owned(),
        item_type,
        ..ItemPatch::default()
    };

    if core {
        if let Some(s) = f(K_SUMMARY).and_then(Value::as_str) {
            patch.title = Some(s.trim().to_owned());
        }
        if let Some(d) = f(K_DESCRIPTION) {
            patch.description = Some(richtext::from_jira_text(d));
        }
        if ctx.maps_statuses() {
            if let Some(st) = f(K_STATUS) {
                let id = st.get("id").and_then(Value::as_str).unwrap_or("");
                let name = st.get("name").and_then(Value::as_str).unwrap_or("");
                patch.status = ctx.workspace_status(id, name).map(str::to_owned);
            }
        }
        let epic = ctx.epic_link_field.as_ref().and(f(K_EPIC_LINK));
        patch.parent_key = read_parent(f(K_PARENT), epic, f(K_ISSUELINKS));
        if ctx.maps_sprints() && ctx.sprint_field.is_some() {
            if let Some(v) = f(K_SPRINT) {
                patch.sprint = Some(current_sprint(v));
            }
        }
        if let Some(spent) = read_time_spent(f(K_TIMESPENT), f(K_TIMETRACKING), f(K_WORKLOG)) {
            patch.time_spent_seconds = Some(spent);
        }
        if let Some(c) = f(K_COMMENT) {
            patch.comments = Some(read_comments(c));
        }
    }

    for (n, rule) in ctx.rules.iter().enumerate().filter(|(_, r)| reads(r)) {
        let Some(raw) = f(k_rule(n)) else {
            continue;
        };
        match &rule.slot {
            Slot::StoryPoints => patch.story_points = Some(number_of(raw)),
            Slot::Team => patch.team = Some(option_text(raw)),
            Slot::Components => patch.components = Some(names_of(raw)),
            Slot::Releases => patch.releases = Some(names_of(raw)),
            Slot::Labels => {
                patch.labels = Some(
                    names_of(raw)
                        .into_iter()
                        .filter(|l| !l.starts_with(ADOPTION_LABEL_PREFIX))
                        .collect(),
                )
            }
            Slot::Field(name) => {
                patch.fields.insert(name.clone(), read_field(rule, raw));
            }
        }
    }
    Ok(patch)
}

/// The parent from the issue's `parent`, Epic Link (when the instance has one) and
/// `issuelinks` fields.
fn read_parent(
    parent: Option<&Value>,
    epic: Option<&Value>,
    issuelinks: Option<&Value>,
) -> Option<Option<String>> {
    if let Some(key) = parent.and_then(|p| p.get("key")).and_then(Value::as_str) {
        return Some(Some(key.to_owned()));
    }
    if let Some(key) = epic.and_then(Value::as_str) {
        return Some(Some(key.to_owned()));
    }
    // A parent Jira's hierarchy cannot hold: the child is the inward side of the link.
    let links = issuelinks.and_then(Value::as_array);
    let linked = links.into_iter().flatten().find_map(|l| {
        let name = l.pointer("/type/name").and_then(Value::as_str)?;
        if !name.eq_ignore_ascii_case(HIERARCHY_LINK_TYPE) {
            return None;
        }
        l.pointer("/outwardIssue/key").and_then(Value::as_str)
    });
    if let Some(key) = linked {
        return Some(Some(key.to_owned()));
    }
    // No parent, if the issue was read with the fields that would show one; else unknown.
    (parent.is_some() || issuelinks.is_some() || epic.is_some()).then_some(None)
}

/// Time spent from the issue's `timespent`, `timetracking` or `worklog` field.
fn read_time_spent(
    timespent: Option<&Value>,
    timetracking: Option<&Value>,
    worklog: Option<&Value>,
) -> Option<u64> {
    if let Some(v) = timespent {
        return Some(v.as_u64().unwrap_or(0));
    }
    if let Some(v) = timetracking
        .filter(|t| t.is_object())
        .map(|t| t.get("timeSpentSeconds").and_then(Value::as_u64))
    {
        return Some(v.unwrap_or(0));
    }
    worklog
        .and_then(|w| w.get("worklogs"))
        .and_then(Value::as_array)
        .map(|ws| {
            ws.iter()
                .filter_map(|w| w.get("timeSpentSeconds").and_then(Value::as_u64))
                .sum()
        })
}

fn read_comments(c: &Value) -> Vec<JiraComment> {
    let list = c
        .get("comments")
        .and_then(Value::as_array)
        .or_else(|| c.as_array());
    list.into_iter()
        .flatten()
        .map(|c| JiraComment {
            jira_id: match c.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            },
            author: c
                .get("author")
                .and_then(|a| a.get("displayName"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            body: richtext::from_jira_text(c.get("body").unwrap_or(&Value::Null)),
            created: c.get("created").and_then(Value::as_str).map(str::to_owned),
        })
        .collect()
}

/// One sprint of the sprint field: Cloud objects or Data Center's Greenhopper strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SprintValue {
    pub id: Option<i64>,
    pub name: String,
    /// Lowercase: `future`, `active`, `closed`.
    pub state: String,
}

/// Parses the sprint field value (array of objects on Cloud, of strings on Data Center).
pub fn sprint_values(v: &Value) -> Vec<SprintValue> {
    let Some(list) = v.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|s| match s {
            Value::Object(o) => Some(SprintValue {
                id: o.get("id").and_then(Value::as_i64),
                name: o.get("name").and_then(Value::as_str)?.to_owned(),
                state: o
                    .get("state")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_lowercase(),
            }),
            Value::String(s) => parse_greenhopper_sprint(s),
            _ => None,
        })
        .collect()
}

/// `com.atlassian.greenhopper.service.sprint.Sprint@1a2b[id=1,rapidViewId=1,state=ACTIVE,name=Sprint 1,startDate=...]`.
fn parse_greenhopper_sprint(s: &str) -> Option<SprintValue> {
    let start = s.find('[')? + 1;
    let body = s[start..].strip_suffix(']').unwrap_or(&s[start..]);
    // Without building `key=` or searching the value once per known key: a Data Center sprint
    // field is read for every issue.
    let get = |key: &str| -> Option<&str> {
        let at = body
            .match_indices(key)
            .find(|(i, _)| {
                body[i + key.len()..].starts_with('=')
                    && (*i == 0 || body.as_bytes()[i - 1] == b',')
            })?
            .0
            + key.len()
            + 1;
        let rest = &body[at..];
        // Names may contain commas: the value runs to the next `,key=` of a known key.
        let end = rest
            .match_indices(',')
            .map(|(i, _)| i)
            .find(|i| {
                [
                    ",startDate=",
                    ",endDate=",
                    ",completeDate=",
                    ",activatedDate=",
                    ",sequence=",
                    ",goal=",
                    ",state=",
                    ",name=",
                    ",rapidViewId=",
                ]
                .iter()
                .any(|k| rest[*i..].starts_with(k))
            })
            .unwrap_or(rest.len());
        Some(&rest[..end])
    };
    Some(SprintValue {
        id: get("id").and_then(|v| v.parse().ok()),
        name: get("name")?.to_owned(),
        state: get("state").unwrap_or_default().to_lowercase(),
    })
}

/// The item's sprint: the open (active or future) sprint if any, else the last closed one.
fn current_sprint(v: &Value) -> Option<String> {
    let sprints = sprint_values(v);
    sprints
        .iter()
        .rev()
        .find(|s| s.state != "closed")
        .or(sprints.last())
        .map(|s| s.name.clone())
}

fn option_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => ["value", "name", "title", "displayName", "id"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str))
            .map(str::to_owned),
        _ => None,
    }
}

fn names_of(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(option_text)
        .collect()
}

/// A Jira field value as the workspace field's JSON (`Null` = empty).
fn read_field(rule: &FieldRule, raw: &Value) -> Value {
    match rule.kind {
        FieldKind::Number => number_of(raw).map(|n| json!(n)).unwrap_or(Value::Null),
        FieldKind::Text | FieldKind::Url => match raw {
            Value::Null => Value::Null,
            Value::String(s) if !rule.rich() => {
                if s.is_empty() {
                    Value::Null
                } else {
                    json!(s)
                }
            }
            other => {
                let text = richtext::from_jira_text(other);
                if text.is_empty() {
                    Value::Null
                } else {
                    json!(text)
                }
            }
        },
        FieldKind::SingleSelect | FieldKind::Team => {
            option_text(raw).map(Value::String).unwrap_or(Value::Null)
        }
        FieldKind::MultiSelect
        | FieldKind::Labels
        | FieldKind::Components
        | FieldKind::Releases => {
            json!(names_of(raw))
        }
        FieldKind::Date => raw
            .as_str()
            .and_then(|s| s.get(..10))
            .map(|d| json!(d))
            .unwrap_or(Value::Null),
    }
}
