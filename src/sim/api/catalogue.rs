//! An administrator adding to the instance's catalogue over REST, as Jira allows:
//! `POST /rest/api/{2,3}/issuetype` (`createIssueType`), `POST /rest/api/{2,3}/field`
//! (`createCustomField`) on both deployments, and Cloud's `POST /rest/api/{2,3}/statuses`
//! (`createStatuses`; Data Center has no REST call for it and answers 404). Anyone else gets
//! Jira's 403.
//!
//! A `PROJECT`-scoped status joins that project's workflow, reachable from every other status,
//! as a column added on a team-managed board does; a `GLOBAL` one joins no workflow (Jira
//! adds it with the workflow editor, which has no REST call the simulator offers: `tandem
//! jira-sim --like` and `SimHandle::add_status` do it instead).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::sim::catalogue::{category_id, Refused};
use crate::sim::render::View;
use crate::sim::server::{Req, Resp};
use crate::sim::{Deployment, Shared};

fn admin(req: &Req) -> Result<(), Resp> {
    if req.user()?.admin {
        Ok(())
    } else {
        Err(Resp::forbidden(
            "You are not authorized to perform this action. Administrator privileges are required.",
        ))
    }
}

fn text<'a>(body: &'a Value, field: &str) -> Option<&'a str> {
    body.get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn one_error(field: &str, message: &str) -> Resp {
    let mut errors = Map::new();
    errors.insert(field.into(), message.into());
    Resp::field_errors(errors)
}

/// `POST /issuetype`: `name` required; `hierarchyLevel` -1 or 0 (Cloud), or the deprecated
/// `type: subtask|standard`.
pub(super) fn create_issue_type(sh: &Arc<Shared>, req: &Req, v3: bool) -> Result<Resp, Resp> {
    admin(req)?;
    let body = req.json()?;
    let name = text(&body, "name")
        .ok_or_else(|| one_error("name", "The issue type name must not be empty."))?;
    let level = match (
        body.get("hierarchyLevel").and_then(Value::as_i64),
        text(&body, "type"),
    ) {
        (Some(l @ (-1 | 0)), _) => l,
        (Some(_), _) => {
            return Err(one_error(
                "hierarchyLevel",
                "The hierarchy level must be -1 (subtask) or 0 (base).",
            ))
        }
        (None, Some("subtask")) => -1,
        (None, None | Some("standard")) => 0,
        (None, Some(_)) => return Err(one_error("type", "The type must be standard or subtask.")),
    };
    let description = text(&body, "description").unwrap_or_default();
    let mut st = sh.write();
    let def = st
        .add_issue_type(name, description, level)
        .map_err(|e| match e {
            Refused::Taken(m) => Resp::error(409, &[&m], Map::new()),
            Refused::Invalid(m) => one_error("name", &m),
        })?;
    let v = View::new(&st, &sh.base_url, v3);
    Ok(Resp::json(201, &v.issue_type(def)))
}

/// `POST /field`: `name` and `type` (a custom field type key) required.
pub(super) fn create_field(sh: &Arc<Shared>, req: &Req, v3: bool) -> Result<Resp, Resp> {
    admin(req)?;
    let body = req.json()?;
    let name = text(&body, "name")
        .ok_or_else(|| one_error("name", "The custom field name must not be empty."))?;
    let ty = text(&body, "type")
        .ok_or_else(|| one_error("type", "The custom field type must be specified."))?;
    let mut st = sh.write();
    let def = st
        .add_field(None, name, ty, &[])
        .map_err(|e| one_error("type", &e.to_string()))?;
    let v = View::new(&st, &sh.base_url, v3);
    Ok(Resp::json(201, &v.field(def)))
}

/// Cloud's `POST /statuses`: `scope` and `statuses` (`name`, `statusCategory`) required.
pub(super) fn create_statuses(sh: &Arc<Shared>, req: &Req) -> Result<Resp, Resp> {
    if sh.read().deployment != Deployment::Cloud {
        return Err(Resp::not_found("No resource found for this path."));
    }
    admin(req)?;
    let body = req.json()?;
    let scope = body.get("scope").cloned().unwrap_or(Value::Null);
    let project = match scope.get("type").and_then(Value::as_str) {
        Some("GLOBAL") => None,
        Some("PROJECT") => {
            let id = scope
                .pointer("/project/id")
                .and_then(Value::as_str)
                .ok_or_else(|| one_error("scope", "A PROJECT scope needs project.id."))?;
            let st = sh.read();
            let key = st
                .projects
                .iter()
                .find(|p| p.id.to_string() == id)
                .map(|p| p.key.clone())
                .ok_or_else(|| one_error("scope", &format!("Project {id} does not exist.")))?;
            Some(key)
        }
        _ => {
            return Err(one_error(
                "scope",
                "The scope type must be PROJECT or GLOBAL.",
            ))
        }
    };
    let wanted = body
        .get("statuses")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| one_error("statuses", "At least one status must be given."))?;
    let mut parsed = Vec::new();
    for s in wanted {
        let name = text(s, "name")
            .ok_or_else(|| one_error("name", "The status name must not be empty."))?;
        let category = s
            .get("statusCategory")
            .and_then(Value::as_str)
            .and_then(category_id)
            .ok_or_else(|| {
                one_error(
                    "statusCategory",
                    "The status category must be TODO, IN_PROGRESS or DONE.",
                )
            })?;
        parsed.push((name, text(s, "description").unwrap_or_default(), category));
    }
    // All or nothing, as one request: check every name before adding any.
    let mut st = sh.write();
    for (name, ..) in &parsed {
        if st.status_by_name(name).is_some() {
            return Err(Resp::error(
                400,
                &[&format!("A status with the name '{name}' already exists.")],
                Map::new(),
            ));
        }
    }
    let mut out = Vec::new();
    for (name, description, category) in parsed {
        let def = st
            .add_status(name, description, category)
            .map_err(|e| Resp::error(400, &[&e.to_string()], Map::new()))?;
        if let Some(key) = &project {
            st.add_status_to_workflow(key, def.id)
                .map_err(|e| Resp::error(400, &[&e.to_string()], Map::new()))?;
        }
        out.push(json!({
            "id": def.id,
            "name": def.name,
            "description": def.description,
            "statusCategory": match category {
                2 => "TODO",
                4 => "IN_PROGRESS",
                _ => "DONE",
            },
            "scope": scope,
        }));
    }
    Ok(Resp::ok(&Value::Array(out)))
}
