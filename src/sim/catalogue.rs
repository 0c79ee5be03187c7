//! What an administrator added to the simulated instance: issue types, statuses, custom fields
//! (with their options) and the statuses each project's workflow gained. Real Jira lets an
//! administrator shape all of these, so a simulator meant to stand in for "our Jira" must too
//! (`tandem jira-sim --like DIR`, `POST /rest/api/{2,3}/issuetype`, `POST /rest/api/{2,3}/field`,
//! Cloud's `POST /rest/api/3/statuses`).
//!
//! The built-in tables of `model` stay the base; additions are kept as owned, serialisable
//! specs (they travel in the `--data` file) and turned into the same `&'static` definitions the
//! rest of the simulator reads. Those are leaked once per addition (and once per load): an
//! instance gains at most a few dozen in its life, as a real Jira does, and leaking keeps every
//! reader of the catalogue (rendering, JQL, create and edit) unchanged and lock-free.
//!
//! A status added to a project's workflow is reachable from every other status by a global
//! transition named after it (Jira's "Allow all statuses to transition to this one"), as a
//! board column added in a team-managed project is.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::sim::model::{
    FieldDef, FieldKind, Issue, IssueTypeDef, Project, State, StatusDef, TransitionDef, Workflow,
    ISSUE_TYPES, TEAM_ISSUE_TYPES,
};

/// Custom field types an administrator can create here (Jira's type keys), with the schema
/// `/field` reports for each.
const CUSTOM_TYPES: &[(&str, &str, Option<&str>)] = &[
    ("select", "option", None),
    ("radiobuttons", "option", None),
    ("multiselect", "array", Some("option")),
    ("multicheckboxes", "array", Some("option")),
    ("textfield", "string", None),
    ("textarea", "string", None),
    ("float", "number", None),
    ("datepicker", "date", None),
    ("url", "string", None),
    ("labels", "array", Some("string")),
];

/// The prefix of every type key in [`CUSTOM_TYPES`].
pub const TYPE_PREFIX: &str = "com.atlassian.jira.plugin.system.customfieldtypes:";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueTypeSpec {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// -1 sub-task, 0 standard, 1 epic, 2 and up above epics (an Initiative of Advanced
    /// Roadmaps/Plans).
    pub hierarchy_level: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusSpec {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Status category id: 2 To Do, 4 In Progress, 3 Done.
    pub category: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldSpec {
    /// `customfield_N`.
    pub id: String,
    pub name: String,
    /// The custom field type key, e.g. `com.atlassian.jira.plugin.system.customfieldtypes:select`.
    #[serde(rename = "type")]
    pub type_key: String,
    /// (option id, value) of select and multi-select fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<(String, String)>,
}

/// An addition the instance refuses, with Jira's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// A name or id already taken (Jira: 409 for issue types, 400 for the others).
    #[error("{0}")]
    Taken(String),
    /// Not a valid request (400).
    #[error("{0}")]
    Invalid(String),
}

/// A status category id by its name ("To Do", "In Progress", "Done") or Cloud's key in
/// `POST /statuses` (`TODO`, `IN_PROGRESS`, `DONE`).
pub fn category_id(name: &str) -> Option<u64> {
    match name.to_ascii_lowercase().replace(['_', ' '], "").as_str() {
        "todo" | "new" => Some(2),
        "inprogress" | "indeterminate" => Some(4),
        "done" => Some(3),
        _ => None,
    }
}

/// The additions (see the module doc); `defs` are their leaked definitions, rebuilt on load.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Catalogue {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issue_types: Vec<IssueTypeSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<StatusSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldSpec>,
    #[serde(skip)]
    defs: Defs,
}

#[derive(Debug, Clone, Default)]
struct Defs {
    issue_types: Vec<&'static IssueTypeDef>,
    statuses: Vec<&'static StatusDef>,
    fields: Vec<&'static FieldDef>,
    /// Status id → the global transition into it.
    transitions: HashMap<String, &'static TransitionDef>,
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

impl IssueTypeSpec {
    fn def(&self) -> &'static IssueTypeDef {
        Box::leak(Box::new(IssueTypeDef {
            id: leak(&self.id),
            name: leak(&self.name),
            description: leak(&self.description),
            hierarchy_level: self.hierarchy_level,
            avatar_id: if self.hierarchy_level < 0 {
                10316
            } else {
                10318
            },
        }))
    }
}

impl StatusSpec {
    fn def(&self) -> &'static StatusDef {
        Box::leak(Box::new(StatusDef {
            id: leak(&self.id),
            name: leak(&self.name),
            description: leak(&self.description),
            category: self.category,
        }))
    }
}

impl FieldSpec {
    fn def(&self) -> Result<&'static FieldDef, Refused> {
        let short = self.type_key.strip_prefix(TYPE_PREFIX).unwrap_or("");
        let Some((_, ty, items)) = CUSTOM_TYPES.iter().find(|(k, _, _)| *k == short) else {
            return Err(Refused::Invalid(format!(
                "Unknown or unsupported custom field type '{}'. The simulator creates: {}",
                self.type_key,
                CUSTOM_TYPES
                    .iter()
                    .map(|(k, _, _)| format!("{TYPE_PREFIX}{k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let options: &'static [(&'static str, &'static str)] = Box::leak(
            self.options
                .iter()
                .map(|(id, v)| (leak(id), leak(v)))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let kind = match short {
            "select" | "radiobuttons" => FieldKind::Select(options),
            "multiselect" | "multicheckboxes" => FieldKind::MultiSelect(options),
            "textfield" => FieldKind::Text,
            "textarea" => FieldKind::Textarea,
            "float" => FieldKind::Number,
            "datepicker" => FieldKind::Date,
            "url" => FieldKind::Url,
            _ => FieldKind::Labels,
        };
        Ok(Box::leak(Box::new(FieldDef {
            id: leak(&self.id),
            name: leak(&self.name),
            kind,
            schema_type: ty,
            schema_items: *items,
            custom: Some(leak(&self.type_key)),
            on_screens: true,
        })))
    }
}

fn transition_into(status: &StatusDef) -> &'static TransitionDef {
    Box::leak(Box::new(TransitionDef {
        // Ids of their own, clear of the built-in workflows' (11, 21, 31; 2 to 701).
        id: leak(&format!("9{}", status.id)),
        name: status.name,
        from: &[],
        to: status.id,
        requires_resolution: status.category == 3,
        condition: None,
    }))
}

impl Catalogue {
    /// Rebuilds the definitions from the specs (after loading a data file).
    pub fn rebuild(&mut self) {
        self.defs = Defs::default();
        self.defs.issue_types = self.issue_types.iter().map(IssueTypeSpec::def).collect();
        self.defs.statuses = self.statuses.iter().map(StatusSpec::def).collect();
        // A spec that no longer parses (a hand-edited data file) is left out, not fatal.
        self.defs.fields = self.fields.iter().filter_map(|f| f.def().ok()).collect();
    }
}

impl State {
    /// Every issue type of the instance's default scheme (company-managed projects).
    pub fn issue_types(&self) -> impl Iterator<Item = &'static IssueTypeDef> + '_ {
        ISSUE_TYPES
            .iter()
            .chain(self.catalogue.defs.issue_types.iter().copied())
    }

    /// The issue types a project's issues may have: a team-managed project has its own.
    pub fn project_issue_types(&self, project: &Project) -> Vec<&'static IssueTypeDef> {
        if project.team_managed {
            TEAM_ISSUE_TYPES.iter().collect()
        } else {
            self.issue_types().collect()
        }
    }

    pub fn issue_type(&self, id: &str) -> Option<&'static IssueTypeDef> {
        self.issue_types()
            .chain(TEAM_ISSUE_TYPES)
            .find(|t| t.id == id)
    }

    /// A type of the default scheme by (case-insensitive) name.
    pub fn issue_type_by_name(&self, name: &str) -> Option<&'static IssueTypeDef> {
        self.issue_types()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    pub fn is_subtask(&self, issue: &Issue) -> bool {
        self.issue_type(&issue.issue_type)
            .is_some_and(IssueTypeDef::subtask)
    }

    /// Every status of the instance (`GET /status`).
    pub fn all_statuses(&self) -> impl Iterator<Item = &'static StatusDef> + '_ {
        crate::sim::model::builtin_statuses().chain(self.catalogue.defs.statuses.iter().copied())
    }

    pub fn status(&self, id: &str) -> Option<&'static StatusDef> {
        self.all_statuses().find(|s| s.id == id)
    }

    pub fn status_by_name(&self, name: &str) -> Option<&'static StatusDef> {
        self.all_statuses()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// Every field: the deployment's system and built-in custom fields, then added ones.
    pub fn fields(&self) -> impl Iterator<Item = &'static FieldDef> + '_ {
        self.deployment
            .fields()
            .chain(self.catalogue.defs.fields.iter().copied())
    }

    pub fn field(&self, id: &str) -> Option<&'static FieldDef> {
        self.fields().find(|f| f.id == id)
    }

    /// A field by id or (case-insensitive) name, as JQL and tandem's mappings name them.
    pub fn field_by_id_or_name(&self, name: &str) -> Option<&'static FieldDef> {
        self.fields()
            .find(|f| f.id == name || f.name.eq_ignore_ascii_case(name))
    }

    /// The statuses of a project's workflow, in the order Jira lists them.
    pub fn workflow_statuses(&self, project: &Project) -> Vec<&'static StatusDef> {
        let mut out = project.workflow.statuses();
        for id in &project.added_statuses {
            if let Some(s) = self.status(id) {
                if !out.iter().any(|o| o.id == s.id) {
                    out.push(s);
                }
            }
        }
        out
    }

    /// The transitions of a project's workflow, the global ones into added statuses included.
    pub fn workflow_transitions(&self, project_id: u64) -> Vec<&'static TransitionDef> {
        let Some(project) = self.project_by_id(project_id) else {
            return Workflow::default().transitions().iter().collect();
        };
        let mut out: Vec<&'static TransitionDef> = project.workflow.transitions().iter().collect();
        out.extend(
            project
                .added_statuses
                .iter()
                .filter_map(|id| self.catalogue.defs.transitions.get(id).copied()),
        );
        out
    }

    /// Transitions leaving `issue`'s status; `user` (an id) `None` ignores conditions (the
    /// simulator's own controls).
    pub fn available_transitions(
        &self,
        issue: &Issue,
        user: Option<&str>,
    ) -> Vec<&'static TransitionDef> {
        self.workflow_transitions(issue.project_id)
            .into_iter()
            .filter(|t| Workflow::offers(t, issue, user))
            .collect()
    }

    /// Adds an issue type to the default scheme, with the next free id.
    pub fn add_issue_type(
        &mut self,
        name: &str,
        description: &str,
        hierarchy_level: i64,
    ) -> Result<&'static IssueTypeDef, Refused> {
        let name = checked_name(name, "issue type", 60)?;
        if self.issue_type_by_name(name).is_some() {
            return Err(Refused::Taken(format!(
                "An issue type with this name already exists: '{name}'."
            )));
        }
        let spec = IssueTypeSpec {
            id: next_id(
                self.issue_types().chain(TEAM_ISSUE_TYPES).map(|t| t.id),
                10200,
            ),
            name: name.to_owned(),
            description: description.to_owned(),
            hierarchy_level,
        };
        let def = spec.def();
        self.catalogue.issue_types.push(spec);
        self.catalogue.defs.issue_types.push(def);
        self.touch();
        Ok(def)
    }

    /// Adds a status (in no workflow yet: see [`State::add_status_to_workflow`]).
    pub fn add_status(
        &mut self,
        name: &str,
        description: &str,
        category: u64,
    ) -> Result<&'static StatusDef, Refused> {
        let name = checked_name(name, "status", 255)?;
        if self.status_by_name(name).is_some() {
            return Err(Refused::Taken(format!(
                "A status with the name '{name}' already exists."
            )));
        }
        let spec = StatusSpec {
            id: next_id(self.all_statuses().map(|s| s.id), 10002),
            name: name.to_owned(),
            description: description.to_owned(),
            category,
        };
        let def = spec.def();
        self.catalogue.statuses.push(spec);
        self.catalogue.defs.statuses.push(def);
        self.touch();
        Ok(def)
    }

    /// Puts a status (by id) into a project's workflow, reachable from every other status.
    pub fn add_status_to_workflow(&mut self, project_key: &str, id: &str) -> Result<(), Refused> {
        let status = self
            .status(id)
            .ok_or_else(|| Refused::Invalid(format!("No status with id {id}.")))?;
        let project = self
            .projects
            .iter_mut()
            .find(|p| p.key.eq_ignore_ascii_case(project_key))
            .ok_or_else(|| {
                Refused::Invalid(format!(
                    "No project could be found with key '{project_key}'."
                ))
            })?;
        if project.workflow.statuses().iter().any(|s| s.id == id)
            || project.added_statuses.iter().any(|s| s == id)
        {
            return Ok(());
        }
        project.added_statuses.push(id.to_owned());
        self.catalogue
            .defs
            .transitions
            .entry(id.to_owned())
            .or_insert_with(|| transition_into(status));
        self.touch();
        Ok(())
    }

    /// Adds a custom field; `id` `None` takes the next free `customfield_N`.
    pub fn add_field(
        &mut self,
        id: Option<&str>,
        name: &str,
        type_key: &str,
        options: &[&str],
    ) -> Result<&'static FieldDef, Refused> {
        let name = checked_name(name, "custom field", 255)?;
        let id = match id {
            Some(id) => {
                let number = id
                    .strip_prefix("customfield_")
                    .and_then(|n| n.parse::<u64>().ok());
                if number.is_none() {
                    return Err(Refused::Invalid(format!(
                        "A custom field id is customfield_ and a number, not '{id}'."
                    )));
                }
                if self.field(id).is_some() {
                    return Err(Refused::Taken(format!("Field id {id} is taken.")));
                }
                id.to_owned()
            }
            None => format!(
                "customfield_{}",
                self.fields()
                    .filter_map(FieldDef::custom_id)
                    .max()
                    .map_or(10000, |n| n + 1)
            ),
        };
        let first_option = next_option_id(self);
        let spec = FieldSpec {
            id,
            name: name.to_owned(),
            type_key: type_key.to_owned(),
            options: options
                .iter()
                .enumerate()
                .map(|(n, v)| ((first_option + n as u64).to_string(), (*v).to_owned()))
                .collect(),
        };
        let def = spec.def()?;
        self.catalogue.fields.push(spec);
        self.catalogue.defs.fields.push(def);
        self.touch();
        Ok(def)
    }

    /// Rebuilds the catalogue's definitions and the global transitions of added statuses.
    pub(crate) fn rebuild_catalogue(&mut self) {
        self.catalogue.rebuild();
        let added: Vec<String> = self
            .projects
            .iter()
            .flat_map(|p| p.added_statuses.iter().cloned())
            .collect();
        for id in added {
            if let Some(status) = self.status(&id) {
                self.catalogue
                    .defs
                    .transitions
                    .entry(id)
                    .or_insert_with(|| transition_into(status));
            }
        }
    }
}

/// The trimmed name, when it has 1 to `max` characters (Jira's limits).
fn checked_name<'a>(name: &'a str, what: &str, max: usize) -> Result<&'a str, Refused> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > max {
        return Err(Refused::Invalid(format!(
            "The {what} name must be 1 to {max} characters long."
        )));
    }
    Ok(name)
}

/// One more than the largest numeric id, and at least `floor`.
fn next_id<'a>(ids: impl Iterator<Item = &'a str>, floor: u64) -> String {
    ids.filter_map(|id| id.parse::<u64>().ok())
        .map(|n| n + 1)
        .chain([floor])
        .max()
        .unwrap_or(floor)
        .to_string()
}

/// Option ids are unique across the instance, as Jira's are.
fn next_option_id(st: &State) -> u64 {
    st.fields()
        .flat_map(|f| match f.kind {
            FieldKind::Select(o) | FieldKind::MultiSelect(o) => o,
            _ => &[],
        })
        .filter_map(|(id, _)| id.parse::<u64>().ok())
        .max()
        .map_or(10200, |n| n + 1)
        .max(10200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::model::Deployment;

    fn state() -> State {
        State::seed(Deployment::Cloud, chrono::Utc::now())
    }

    #[test]
    fn additions_are_found_like_built_ins_and_survive_the_data_file() {
        let mut st = state();
        let t = st
            .add_issue_type("Initiative", "Above epics", 2)
            .expect("added");
        assert_eq!(
            st.issue_type_by_name("initiative").map(|d| d.id),
            Some(t.id)
        );
        let s = st.add_status("In Review", "", 4).expect("added");
        st.add_status_to_workflow("DEMO", s.id)
            .expect("in the workflow");
        let f = st
            .add_field(
                Some("customfield_10060"),
                "Risk",
                &format!("{TYPE_PREFIX}select"),
                &["Low", "High"],
            )
            .expect("added");
        assert!(matches!(f.kind, FieldKind::Select(o) if o.len() == 2));

        let saved = serde_json::to_vec(&st).expect("serialises");
        let mut loaded: State = serde_json::from_slice(&saved).expect("parses");
        loaded.reindex();
        assert_eq!(loaded.issue_type(t.id).map(|d| d.name), Some("Initiative"));
        assert_eq!(
            loaded.field_by_id_or_name("risk").map(|d| d.id),
            Some("customfield_10060")
        );
        let demo = loaded.project("DEMO").expect("DEMO").clone();
        let names: Vec<&str> = loaded
            .workflow_statuses(&demo)
            .iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["To Do", "In Progress", "Done", "In Review"]);
        let into: Vec<&str> = loaded
            .workflow_transitions(demo.id)
            .iter()
            .map(|t| t.name)
            .collect();
        assert!(into.contains(&"In Review"), "{into:?}");
    }

    #[test]
    fn taken_names_and_ids_and_unknown_types_are_refused() {
        let mut st = state();
        assert!(matches!(
            st.add_issue_type("story", "", 0),
            Err(Refused::Taken(_))
        ));
        assert!(matches!(
            st.add_status("Done", "", 3),
            Err(Refused::Taken(_))
        ));
        assert!(matches!(
            st.add_field(
                Some("customfield_10016"),
                "Points",
                &format!("{TYPE_PREFIX}float"),
                &[]
            ),
            Err(Refused::Taken(_))
        ));
        assert!(matches!(
            st.add_field(None, "Who", &format!("{TYPE_PREFIX}userpicker"), &[]),
            Err(Refused::Invalid(_))
        ));
        assert!(
            st.catalogue.fields.is_empty(),
            "a refused field is not kept"
        );
    }
}
