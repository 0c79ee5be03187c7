//! Field values in create, edit and transition bodies: how each `fields` entry and each
//! `update` operation (`set`, `add`, `remove`, `edit`) is parsed, validated and applied to an
//! issue. Kept apart from the endpoints because create, edit and transition (and the link and
//! version endpoints, for their lookups and dates) all share these rules, and Jira's error
//! messages for bad values live here in one place.

use chrono::NaiveDate;
use serde_json::{json, Map, Value};

use crate::sim::adf;
use crate::sim::model::*;

use super::{err, Errors};

pub(super) fn find_by_id_or_name<'a, T>(
    v: &Value,
    items: impl Iterator<Item = &'a T>,
    id: impl Fn(&T) -> String,
    name: impl Fn(&T) -> &str,
) -> Option<&'a T>
where
    T: 'a,
{
    let want_id = v.get("id").and_then(|x| {
        x.as_str()
            .map(String::from)
            .or_else(|| x.as_u64().map(|n| n.to_string()))
    });
    let want_name = v
        .get("name")
        .or_else(|| v.get("key"))
        .and_then(Value::as_str);
    let mut items = items;
    items.find(|t| {
        want_id.as_deref() == Some(id(t).as_str())
            || want_name.is_some_and(|n| name(t).eq_ignore_ascii_case(n))
    })
}

fn user_from(st: &State, v: &Value) -> Result<Option<String>, String> {
    if v.is_null() {
        return Ok(None);
    }
    let who = v
        .get("accountId")
        .or_else(|| v.get("name"))
        .or_else(|| v.get("key"))
        .or_else(|| v.get("id"))
        .and_then(Value::as_str)
        .or_else(|| v.as_str());
    match who {
        Some(w) => st
            .user_by_any(w)
            .map(|u| Some(u.id.clone()))
            .ok_or_else(|| format!("User '{w}' does not exist.")),
        None => Err("Specified user does not exist or you do not have required permissions".into()),
    }
}

pub(super) fn long_text(v: &Value, v3: bool) -> Result<Option<String>, String> {
    rich_text(v, v3).map(|t| t.map(|(text, _)| text))
}

/// Long text as Jira keeps it: its text and, written through v3, the document itself, which
/// must be valid under the ADF schema (Cloud answers 400 otherwise). `None`: empty.
pub(super) fn rich_text(v: &Value, v3: bool) -> Result<Option<(String, Option<Value>)>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if !v3 => Ok(Some(s.clone()).filter(|s| !s.is_empty()).map(|s| (s, None))),
        _ if v3 => {
            let text = adf::to_text(v)?;
            adf::validate(v).map_err(|e| format!("INVALID_INPUT: {e}"))?;
            let empty = v
                .get("content")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
            Ok((!empty).then(|| (text, Some(v.clone()))))
        }
        _ => Err("Operation value must be a string".into()),
    }
}

fn option_value(base: &str, options: &[(&str, &str)], v: &Value) -> Result<Value, String> {
    let found = if let Some(id) = v.get("id").and_then(|x| {
        x.as_str()
            .map(String::from)
            .or_else(|| x.as_u64().map(|n| n.to_string()))
    }) {
        options
            .iter()
            .find(|(oid, _)| *oid == id)
            .ok_or(format!("Option id '{id}' is not valid"))?
    } else if let Some(val) = v
        .get("value")
        .and_then(Value::as_str)
        .or_else(|| v.as_str())
    {
        options
            .iter()
            .find(|(_, ov)| ov.eq_ignore_ascii_case(val))
            .ok_or(format!("Option value '{val}' is not valid"))?
    } else {
        return Err("Specify the option by 'id' or 'value'".into());
    };
    Ok(
        json!({"self": format!("{base}/rest/api/2/customFieldOption/{}", found.0), "value": found.1, "id": found.0}),
    )
}

fn labels_from(v: &Value) -> Result<Vec<String>, String> {
    let arr = v
        .as_array()
        .ok_or("Operation value must be an array of strings")?;
    let mut out = Vec::new();
    for l in arr {
        let s = l
            .as_str()
            .ok_or("Operation value must be an array of strings")?;
        if s.contains(char::is_whitespace) {
            return Err(format!("The label '{s}' contains spaces which is invalid."));
        }
        if !out.contains(&s.to_string()) {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

pub(super) fn date_from(v: &Value) -> Result<Option<NaiveDate>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| format!("Error parsing date string: {s}")),
        _ => Err("Operation value must be a date string (yyyy-MM-dd)".into()),
    }
}

/// Applies one `fields` entry to an issue. `transition` allows fields only transition screens
/// carry (resolution).
pub(super) fn set_field(
    st: &State,
    base: &str,
    issue: &mut Issue,
    id: &str,
    v: &Value,
    v3: bool,
    transition: bool,
) -> Result<(), String> {
    let not_settable =
        || format!("Field '{id}' cannot be set. It is not on the appropriate screen, or unknown.");
    let def = st.field(id).ok_or_else(not_settable)?;
    if !(def.on_screens || (transition && id == "resolution")) {
        return Err(not_settable());
    }
    if def.is_custom() && !st.in_context(id, &issue.issue_type) {
        return Err(not_settable());
    }
    match id {
        "summary" => {
            let s = v.as_str().map(str::trim).unwrap_or_default();
            if s.is_empty() {
                return Err("You must specify a summary of the issue.".into());
            }
            if s.chars().count() > 255 {
                return Err("Summary must be less than 255 characters.".into());
            }
            issue.summary = s.to_string();
        }
        "description" => {
            let rich = rich_text(v, v3)?;
            issue.description_adf = rich.as_ref().and_then(|(_, adf)| adf.clone());
            issue.description = rich.map(|(text, _)| text);
        }
        "issuetype" => {
            // A team-managed project has issue types of its own; others are not valid there.
            let types = st
                .project_by_id(issue.project_id)
                .map_or_else(|| st.issue_types().collect(), |p| st.project_issue_types(p));
            let t = find_by_id_or_name(v, types.iter(), |t| t.id.to_string(), |t| t.name)
                .ok_or("Specify a valid issue type")?;
            issue.issue_type = t.id.to_string();
        }
        "project" => {
            let p = find_by_id_or_name(v, st.projects.iter(), |p| p.id.to_string(), |p| &p.key)
                .ok_or("Specify a valid project ID or key")?;
            issue.project_id = p.id;
        }
        "parent" => {
            let subtask = st.is_subtask(issue);
            if st.deployment == Deployment::DataCenter && !subtask {
                // Data Center links stories to epics with the Epic Link field, not `parent`.
                return Err("The parent can only be set on sub-tasks; use the Epic Link field to put an issue in an epic.".into());
            }
            if v.is_null() {
                issue.parent = None;
            } else {
                let key = v.get("key").or_else(|| v.get("id")).and_then(|x| {
                    x.as_str()
                        .map(String::from)
                        .or_else(|| x.as_u64().map(|n| n.to_string()))
                });
                let pid = key.as_deref().and_then(|k| st.issue_id(k)).ok_or_else(|| {
                    format!(
                        "Could not find issue by id or key: {}",
                        key.clone().unwrap_or_default()
                    )
                })?;
                if pid == issue.id {
                    return Err("An issue cannot be its own parent.".into());
                }
                issue.parent = Some(pid);
            }
        }
        "labels" => issue.labels = labels_from(v)?,
        "components" => {
            let arr = v.as_array().ok_or("Operation value must be an array")?;
            let mut ids = Vec::new();
            for c in arr {
                let found = find_by_id_or_name(
                    c,
                    st.components
                        .iter()
                        .filter(|x| x.project_id == issue.project_id),
                    |x| x.id.to_string(),
                    |x| &x.name,
                )
                .ok_or_else(|| {
                    format!(
                        "Component name '{}' is not valid",
                        c.get("name")
                            .or(c.get("id"))
                            .cloned()
                            .unwrap_or(Value::Null)
                    )
                })?;
                ids.push(found.id);
            }
            issue.components = ids;
        }
        "fixVersions" => {
            let arr = v.as_array().ok_or("Operation value must be an array")?;
            let mut ids = Vec::new();
            for x in arr {
                let found = find_by_id_or_name(
                    x,
                    st.versions
                        .iter()
                        .filter(|y| y.project_id == issue.project_id),
                    |y| y.id.to_string(),
                    |y| &y.name,
                )
                .ok_or_else(|| {
                    format!(
                        "Version name '{}' is not valid",
                        x.get("name")
                            .or(x.get("id"))
                            .cloned()
                            .unwrap_or(Value::Null)
                    )
                })?;
                ids.push(found.id);
            }
            issue.fix_versions = ids;
        }
        "assignee" => issue.assignee = user_from(st, v)?,
        "reporter" => issue.reporter = Some(user_from(st, v)?.ok_or("Reporter is required.")?),
        "priority" => {
            let p = find_by_id_or_name(v, PRIORITIES.iter(), |p| p.id.to_string(), |p| p.name)
                .ok_or("Specify a valid priority")?;
            issue.priority = p.id.to_string();
        }
        "resolution" => {
            if v.is_null() {
                issue.resolution = None;
            } else {
                let r = find_by_id_or_name(v, RESOLUTIONS.iter(), |r| r.id.to_string(), |r| r.name)
                    .ok_or("Specify a valid resolution")?;
                issue.resolution = Some(r.id.to_string());
            }
        }
        "duedate" => issue.due_date = date_from(v)?,
        _ => return set_custom(st, base, issue, def, v, v3),
    }
    Ok(())
}

fn set_custom(
    st: &State,
    base: &str,
    issue: &mut Issue,
    def: &FieldDef,
    v: &Value,
    v3: bool,
) -> Result<(), String> {
    let stored = match def.kind {
        FieldKind::System => return Err(format!("Field '{}' cannot be set.", def.id)),
        _ if v.is_null() && def.kind != FieldKind::Sprint && def.kind != FieldKind::EpicLink => {
            Value::Null
        }
        FieldKind::Number => Value::from(v.as_f64().ok_or("Operation value must be a number")?),
        FieldKind::Text | FieldKind::Url => {
            let s = v.as_str().ok_or("Operation value must be a string")?;
            if s.chars().count() > 255 {
                return Err(
                    "The entered text is too long. It exceeds the allowed limit of 255 characters."
                        .into(),
                );
            }
            Value::String(s.to_string())
        }
        FieldKind::Textarea => long_text(v, v3)?.map(Value::String).unwrap_or(Value::Null),
        FieldKind::Date => date_from(v)?
            .map(|d| Value::String(d.to_string()))
            .unwrap_or(Value::Null),
        FieldKind::Labels => Value::from(labels_from(v)?),
        FieldKind::Select(opts) => option_value(base, opts, v)?,
        FieldKind::AtlassianTeam(teams) => {
            let id = v
                .as_str()
                .or_else(|| v.get("id").and_then(Value::as_str))
                .ok_or("Specify the team by its ID.")?;
            let (id, name) = teams.iter().find(|(tid, _)| *tid == id).ok_or(format!(
                "Team with ID '{id}' is not valid. Specify a team ID."
            ))?;
            json!({
                "id": id, "name": name, "title": name, "isVisible": true, "isVerified": false,
                "isShared": true,
                "avatarUrl": format!("{base}/gateway/api/web/teams/avatar/{id}"),
            })
        }
        FieldKind::MultiSelect(opts) => {
            let arr = v.as_array().ok_or("Operation value must be an array")?;
            Value::Array(
                arr.iter()
                    .map(|x| option_value(base, opts, x))
                    .collect::<Result<_, _>>()?,
            )
        }
        FieldKind::Sprint => {
            let closed: Vec<u64> = issue
                .sprints
                .iter()
                .copied()
                .filter(|id| {
                    st.sprints
                        .get(id)
                        .is_some_and(|s| s.state == SprintState::Closed)
                })
                .collect();
            issue.sprints = closed;
            if !v.is_null() {
                let id = v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .or_else(|| v.as_array().and_then(|a| a.last()).and_then(Value::as_u64))
                    .ok_or("Number value expected as the Sprint id.")?;
                let sprint = st
                    .sprints
                    .get(&id)
                    .ok_or_else(|| format!("Sprint with id {id} does not exist."))?;
                if sprint.state == SprintState::Closed {
                    return Err(format!("Issue can be assigned only to active or future sprints. Sprint {id} is closed."));
                }
                issue.sprints.push(id);
            }
            return Ok(());
        }
        FieldKind::EpicLink => {
            if v.is_null() {
                if issue
                    .parent
                    .and_then(|p| st.issues.get(&p))
                    .is_some_and(|p| p.issue_type == "10000")
                {
                    issue.parent = None;
                }
                return Ok(());
            }
            let key = v.as_str().ok_or("Epic Link must be an issue key")?;
            let epic = st
                .issue(key)
                .filter(|e| e.issue_type == "10000")
                .ok_or_else(|| format!("Epic '{key}' does not exist."))?;
            issue.parent = Some(epic.id);
            return Ok(());
        }
    };
    if stored.is_null() {
        issue.custom.remove(def.id);
    } else {
        issue.custom.insert(def.id.to_string(), stored);
    }
    Ok(())
}

/// Applies `update` operations (`add`, `remove`, `set`, `edit`) of an edit body.
pub(super) fn apply_updates(
    st: &State,
    base: &str,
    issue: &mut Issue,
    update: &Map<String, Value>,
    v3: bool,
    errors: &mut Errors,
) {
    for (id, ops) in update {
        if id == "comment" {
            continue;
        }
        let Some(ops) = ops.as_array() else {
            err(errors, id, "Operations must be a list.");
            continue;
        };
        for op in ops {
            let Some((verb, arg)) = op.as_object().and_then(|o| o.iter().next()) else {
                continue;
            };
            let result = match verb.as_str() {
                "set" | "edit" => set_field(st, base, issue, id, arg, v3, false),
                "add" | "remove" => {
                    let current = array_value(st, issue, id);
                    match current {
                        None => Err(format!(
                            "Field '{id}' does not support the '{verb}' operation."
                        )),
                        Some(mut items) => {
                            let same = |a: &Value, b: &Value| {
                                a == b
                                    || ["id", "name", "value", "key"]
                                        .iter()
                                        .any(|k| a.get(k).is_some() && a.get(k) == b.get(k))
                            };
                            if verb == "add" {
                                if !items.iter().any(|x| same(x, arg)) {
                                    items.push(arg.clone());
                                }
                            } else {
                                items.retain(|x| !same(x, arg));
                            }
                            set_field(st, base, issue, id, &Value::Array(items), v3, false)
                        }
                    }
                }
                other => Err(format!("Unsupported operation '{other}'.")),
            };
            if let Err(e) = result {
                err(errors, id, e);
            }
        }
    }
}

/// The current value of an array field in the form `set` accepts.
fn array_value(st: &State, issue: &Issue, id: &str) -> Option<Vec<Value>> {
    match id {
        "labels" => Some(issue.labels.iter().map(|l| json!(l)).collect()),
        "components" => Some(
            issue
                .components
                .iter()
                .map(|c| json!({"id": c.to_string()}))
                .collect(),
        ),
        "fixVersions" => Some(
            issue
                .fix_versions
                .iter()
                .map(|c| json!({"id": c.to_string()}))
                .collect(),
        ),
        _ => match st.field(id).map(|d| d.kind) {
            Some(FieldKind::Labels) | Some(FieldKind::MultiSelect(_)) => Some(
                issue
                    .custom
                    .get(id)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            ),
            _ => None,
        },
    }
}
