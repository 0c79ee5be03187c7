//! Routing and the REST v2/v3 endpoints: metadata, issues, transitions, comments, worklogs,
//! links, versions, components, search in both dialects, and the admin webhook API.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use hyper::Method;
use serde_json::{json, Map, Value};

use super::events::{self, IssueView};
use super::jql::{self, EvalContext, Field};
use super::model::*;
use super::render::{ts, FieldSel, Memo, View};
use super::server::{Req, Resp};
use super::webhooks::{Webhook, WebhookError, WebhookRequest};
use super::{adf, agile, Shared, SimWebhook};

type Errors = Map<String, Value>;

fn err(errors: &mut Errors, field: &str, msg: impl Into<String>) {
    errors.insert(field.to_string(), Value::String(msg.into()));
}

pub fn route(sh: &Arc<Shared>, req: &Req) -> Resp {
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let dc = sh.read().deployment == Deployment::DataCenter;
    match segs.as_slice() {
        ["rest", "api", ver, rest @ ..] => {
            let v3 = match *ver {
                "2" | "latest" => false,
                "3" if !dc => true,
                _ => return no_resource(),
            };
            if !(req.method == Method::GET && rest == ["serverInfo"]) && req.user.is_none() {
                return Resp::unauthorized();
            }
            rest_api(sh, req, v3, rest)
        }
        ["rest", "agile", "1.0", rest @ ..] => {
            if req.user.is_none() {
                return Resp::unauthorized();
            }
            agile::route(sh, req, rest)
        }
        ["rest", "webhooks", "1.0", "webhook", rest @ ..] => {
            let Some(user) = &req.user else {
                return Resp::unauthorized();
            };
            if !user.admin {
                return Resp::forbidden(
                    "You do not have permission to manage webhooks. Only Jira administrators can.",
                );
            }
            webhook_admin(sh, req, rest)
        }
        ["status"] => Resp::ok(&json!({"state": "RUNNING"})),
        _ => no_resource(),
    }
}

fn no_resource() -> Resp {
    Resp::not_found("No resource found for this path.")
}

fn rest_api(sh: &Arc<Shared>, req: &Req, v3: bool, rest: &[&str]) -> Resp {
    rest_api_inner(sh, req, v3, rest).unwrap_or_else(|e| e)
}

fn rest_api_inner(sh: &Arc<Shared>, req: &Req, v3: bool, rest: &[&str]) -> Result<Resp, Resp> {
    match (req.method.as_str(), rest) {
        ("GET", ["serverInfo"]) => Ok(server_info(sh)),
        ("GET", ["myself"]) => req.user().map(|u| Resp::ok(&view(sh, v3, |v| v.myself(u)))),
        ("GET", ["mypermissions"]) => my_permissions(sh, req),
        ("GET", ["field"]) => Ok(Resp::ok(&view(sh, v3, |v| {
            Value::Array(v.st.deployment.fields().map(|d| v.field(d)).collect())
        }))),
        ("GET", ["issuetype"]) => Ok(Resp::ok(&view(sh, v3, |v| {
            Value::Array(ISSUE_TYPES.iter().map(|t| v.issue_type(t)).collect())
        }))),
        ("GET", ["status"]) => Ok(Resp::ok(&view(sh, v3, |v| {
            Value::Array(STATUSES.iter().map(|s| v.status(s)).collect())
        }))),
        ("GET", ["statuscategory"]) => Ok(Resp::ok(&view(sh, v3, |v| {
            Value::Array(
                STATUS_CATEGORIES
                    .iter()
                    .map(|c| v.status_category(c.id))
                    .collect(),
            )
        }))),
        ("GET", ["priority"]) => Ok(Resp::ok(&view(sh, v3, |v| {
            Value::Array(PRIORITIES.iter().map(|p| v.priority(p.id)).collect())
        }))),
        ("GET", ["resolution"]) => Ok(Resp::ok(&view(sh, v3, |v| {
            Value::Array(RESOLUTIONS.iter().map(|r| v.resolution(r.id)).collect())
        }))),
        ("GET", ["issueLinkType"]) => Ok(Resp::ok(&view(
            sh,
            v3,
            |v| json!({"issueLinkTypes": LINK_TYPES.iter().map(|t| v.link_type(t)).collect::<Vec<_>>()}),
        ))),
        ("GET", ["project"]) => Ok(Resp::ok(&view(sh, v3, |v| {
            Value::Array(v.st.projects.iter().map(|p| v.project_full(p)).collect())
        }))),
        ("GET", ["project", "search"]) => Ok(Resp::ok(&view(sh, v3, |v| {
            let list: Vec<Value> = v.st.projects.iter().map(|p| v.project_full(p)).collect();
            json!({"self": format!("{}/project/search", v.api()), "maxResults": 50, "startAt": 0, "total": list.len(), "isLast": true, "values": list})
        }))),
        ("GET", ["project", key]) => project_get(sh, v3, key, |v, p| v.project_full(p)),
        ("GET", ["project", key, "statuses"]) => project_get(sh, v3, key, |v, _| {
            Value::Array(
                ISSUE_TYPES
                    .iter()
                    .map(|t| {
                        json!({
                            "self": format!("{}/issuetype/{}", v.api(), t.id),
                            "id": t.id,
                            "name": t.name,
                            "subtask": t.subtask(),
                            "statuses": STATUSES.iter().map(|s| v.status(s)).collect::<Vec<_>>(),
                        })
                    })
                    .collect(),
            )
        }),
        ("GET", ["project", key, "components"]) => project_get(sh, v3, key, |v, p| {
            Value::Array(
                v.st.components
                    .iter()
                    .filter(|c| c.project_id == p.id)
                    .map(|c| v.component(c))
                    .collect(),
            )
        }),
        ("GET", ["project", key, "versions"]) => project_get(sh, v3, key, |v, p| {
            Value::Array(
                v.st.versions
                    .iter()
                    .filter(|x| x.project_id == p.id)
                    .map(|x| v.version(x))
                    .collect(),
            )
        }),
        ("POST", ["issue"]) => req.json().and_then(|b| {
            let user = req.user()?;
            create_issue(sh, user, v3, &b).map(|v| Resp::json(201, &v))
        }),
        ("GET", ["issue", "createmeta"]) => Ok(createmeta_legacy(sh, req, v3)),
        ("GET", ["issue", "createmeta", p, "issuetypes"]) => createmeta_types(sh, req, v3, p),
        ("GET", ["issue", "createmeta", p, "issuetypes", t]) => {
            createmeta_fields(sh, req, v3, p, t)
        }
        ("GET", ["issue", key]) => get_issue(sh, req, v3, key),
        ("PUT", ["issue", key]) => req
            .json()
            .and_then(|b| edit_issue(sh, req.user()?, v3, key, &b)),
        ("DELETE", ["issue", key]) => delete_issue(
            sh,
            req.user()?,
            key,
            req.q("deleteSubtasks") == Some("true"),
        ),
        ("GET", ["issue", key, "editmeta"]) => with_issue(sh, v3, key, |v, i| v.editmeta(i)),
        ("GET", ["issue", key, "changelog"]) => with_issue(sh, v3, key, |v, i| {
            let list: Vec<Value> = i.changelog.iter().map(|g| v.change_group(g)).collect();
            json!({"self": format!("{}/issue/{}/changelog", v.api(), i.key), "maxResults": 100, "startAt": 0, "total": list.len(), "isLast": true, "values": list})
        }),
        ("GET", ["issue", key, "transitions"]) => {
            let with_fields = req
                .q("expand")
                .is_some_and(|e| e.contains("transitions.fields"));
            with_issue(
                sh,
                v3,
                key,
                |v, i| json!({"expand": "transitions", "transitions": v.transitions(i, with_fields)}),
            )
        }
        ("POST", ["issue", key, "transitions"]) => req
            .json()
            .and_then(|b| transition(sh, req.user()?, v3, key, &b)),
        ("GET", ["issue", key, "comment"]) => {
            let start = req.q_usize("startAt", 0)?;
            let max = req.q_usize("maxResults", 5000)?;
            with_issue(sh, v3, key, |v, i| v.comments_page(i, start, max))
        }
        ("POST", ["issue", key, "comment"]) => req
            .json()
            .and_then(|b| add_comment(sh, req.user()?, v3, key, &b)),
        ("GET", ["issue", key, "comment", id]) => with_issue(sh, v3, key, |v, i| {
            i.comments
                .iter()
                .find(|c| c.id.to_string() == *id)
                .map(|c| v.comment(i, c))
                .unwrap_or(Value::Null)
        })
        .and_then(|r| null_is_404(r, "Can not find a comment for the id: {id}.")),
        ("PUT", ["issue", key, "comment", id]) => req
            .json()
            .and_then(|b| update_comment(sh, req.user()?, v3, key, id, &b)),
        ("DELETE", ["issue", key, "comment", id]) => delete_comment(sh, req.user()?, key, id),
        ("GET", ["issue", key, "worklog"]) => {
            let start = req.q_usize("startAt", 0)?;
            let max = req.q_usize("maxResults", 5000)?;
            with_issue(sh, v3, key, |v, i| v.worklogs_page(i, start, max))
        }
        ("POST", ["issue", key, "worklog"]) => req
            .json()
            .and_then(|b| add_worklog(sh, req.user()?, v3, key, &b)),
        ("PUT", ["issue", key, "worklog", id]) => {
            req.json().and_then(|b| update_worklog(sh, v3, key, id, &b))
        }
        ("DELETE", ["issue", key, "worklog", id]) => delete_worklog(sh, key, id),
        ("POST", ["issueLink"]) => req.json().and_then(|b| create_link(sh, req.user()?, &b)),
        ("GET", ["issueLink", id]) => {
            let st = sh.read();
            let v = View::new(&st, &sh.base_url, v3);
            id.parse::<u64>()
                .ok()
                .and_then(|id| st.links.get(&id))
                .and_then(|l| v.issue_link_full(l))
                .map(|x| Ok(Resp::ok(&x)))
                .unwrap_or_else(|| {
                    Err(Resp::not_found(&format!(
                        "No issue link with id '{id}' exists."
                    )))
                })
        }
        ("DELETE", ["issueLink", id]) => delete_link(sh, id),
        ("GET" | "POST", ["search"]) => {
            if sh.read().deployment == Deployment::Cloud {
                Err(Resp::error(
                    410,
                    &["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"],
                    Map::new(),
                ))
            } else {
                search_dc(sh, req, v3)
            }
        }
        ("POST", ["search", "approximate-count"]) => {
            if sh.read().deployment == Deployment::Cloud {
                approximate_count(sh, req)
            } else {
                Err(no_resource())
            }
        }
        ("GET" | "POST", ["search", "jql"]) => {
            if sh.read().deployment == Deployment::Cloud {
                search_cloud(sh, req, v3)
            } else {
                Err(no_resource())
            }
        }
        ("POST", ["version"]) => req.json().and_then(|b| create_version(sh, v3, &b)),
        ("GET", ["version", id]) => version_get(sh, v3, id),
        ("PUT", ["version", id]) => req.json().and_then(|b| update_version(sh, v3, id, &b)),
        ("DELETE", ["version", id]) => delete_version(sh, id),
        ("POST", ["component"]) => req.json().and_then(|b| create_component(sh, v3, &b)),
        ("GET", ["component", id]) => {
            let st = sh.read();
            let v = View::new(&st, &sh.base_url, v3);
            id.parse::<u64>()
                .ok()
                .and_then(|id| st.component(id))
                .map(|c| Ok(Resp::ok(&v.component(c))))
                .unwrap_or_else(|| {
                    Err(Resp::not_found(&format!(
                        "The component with id {id} does not exist."
                    )))
                })
        }
        ("GET", ["user"]) => {
            let who = req
                .q("accountId")
                .or(req.q("username"))
                .or(req.q("key"))
                .unwrap_or_default();
            let st = sh.read();
            let v = View::new(&st, &sh.base_url, v3);
            match st.user_by_any(who) {
                Some(u) => Ok(Resp::ok(&v.user(u))),
                None => Err(Resp::not_found(&format!(
                    "The user with the account ID '{who}' does not exist."
                ))),
            }
        }
        ("GET", ["user", "search"]) | ("GET", ["user", "assignable", "search"]) => {
            let q = req
                .q("query")
                .or(req.q("username"))
                .unwrap_or_default()
                .to_lowercase();
            Ok(Resp::ok(&view(sh, v3, |v| {
                Value::Array(
                    v.st.users
                        .iter()
                        .filter(|u| {
                            q.is_empty()
                                || u.login.to_lowercase().contains(&q)
                                || u.display_name.to_lowercase().contains(&q)
                                || u.email.to_lowercase().contains(&q)
                        })
                        .map(|u| v.user(u))
                        .collect(),
                )
            })))
        }
        _ => Err(no_resource()),
    }
}

fn null_is_404(r: Resp, msg: &str) -> Result<Resp, Resp> {
    if r.body.as_deref() == Some(b"null") {
        Err(Resp::not_found(msg))
    } else {
        Ok(r)
    }
}

fn view<F: FnOnce(&View<'_>) -> Value>(sh: &Shared, v3: bool, f: F) -> Value {
    let st = sh.read();
    let v = View::new(&st, &sh.base_url, v3);
    f(&v)
}

fn project_get<F: FnOnce(&View<'_>, &Project) -> Value>(
    sh: &Shared,
    v3: bool,
    key: &str,
    f: F,
) -> Result<Resp, Resp> {
    let st = sh.read();
    let v = View::new(&st, &sh.base_url, v3);
    match st.project(key) {
        Some(p) => Ok(Resp::ok(&f(&v, p))),
        None => Err(Resp::not_found(&format!(
            "No project could be found with key '{key}'."
        ))),
    }
}

fn with_issue<F: FnOnce(&View<'_>, &Issue) -> Value>(
    sh: &Shared,
    v3: bool,
    key: &str,
    f: F,
) -> Result<Resp, Resp> {
    let st = sh.read();
    let v = View::new(&st, &sh.base_url, v3);
    match st.issue(key) {
        Some(i) => Ok(Resp::ok(&f(&v, i))),
        None => Err(Resp::issue_not_found()),
    }
}

fn server_info(sh: &Shared) -> Resp {
    let st = sh.read();
    let now = ts(&Utc::now());
    let body = match st.deployment {
        Deployment::Cloud => json!({
            "baseUrl": sh.base_url,
            "displayUrl": sh.base_url,
            "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0],
            "deploymentType": "Cloud",
            "buildNumber": 100279,
            "buildDate": "2026-11-01T00:00:00.000+0000",
            "serverTime": now,
            "scmInfo": "0000000000000000000000000000000000000000",
            "serverTitle": "Jira",
        }),
        Deployment::DataCenter => json!({
            "baseUrl": sh.base_url,
            "version": "9.12.15",
            "versionNumbers": [9, 12, 15],
            "deploymentType": "Server",
            "buildNumber": 9120015,
            "buildDate": "2024-10-01T00:00:00.000+0000",
            "databaseBuildNumber": 9120015,
            "serverTime": now,
            "scmInfo": "0000000000000000000000000000000000000000",
            "serverTitle": "Jira",
        }),
    };
    Resp::ok(&body)
}

/// Permissions `/mypermissions` knows, with whether a non-administrator holds them.
const PERMISSIONS: &[(&str, u32, &str, &str, bool)] = &[
    ("ADMINISTER", 0, "Administer Jira", "GLOBAL", false),
    (
        "SYSTEM_ADMIN",
        44,
        "Jira System Administrators",
        "GLOBAL",
        false,
    ),
    (
        "ADMINISTER_PROJECTS",
        23,
        "Administer Projects",
        "PROJECT",
        false,
    ),
    ("BROWSE_PROJECTS", 10, "Browse Projects", "PROJECT", true),
    ("CREATE_ISSUES", 11, "Create Issues", "PROJECT", true),
    ("EDIT_ISSUES", 12, "Edit Issues", "PROJECT", true),
    ("ASSIGN_ISSUES", 13, "Assign Issues", "PROJECT", true),
    ("ADD_COMMENTS", 15, "Add Comments", "PROJECT", true),
    ("DELETE_ISSUES", 16, "Delete Issues", "PROJECT", false),
    ("WORK_ON_ISSUES", 20, "Work On Issues", "PROJECT", true),
    ("LINK_ISSUES", 21, "Link Issues", "PROJECT", true),
    ("SCHEDULE_ISSUES", 28, "Schedule Issues", "PROJECT", true),
    (
        "TRANSITION_ISSUES",
        46,
        "Transition Issues",
        "PROJECT",
        true,
    ),
    (
        "MANAGE_SPRINTS_PERMISSION",
        10400,
        "Manage sprints",
        "PROJECT",
        true,
    ),
];

fn my_permissions(sh: &Shared, req: &Req) -> Result<Resp, Resp> {
    let user = req.user()?;
    let cloud = sh.read().deployment == Deployment::Cloud;
    let wanted: Option<Vec<&str>> = req.q("permissions").map(|p| {
        p.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    });
    if cloud && wanted.is_none() {
        return Err(Resp::error(
            400,
            &["The 'permissions' query parameter is required."],
            Map::new(),
        ));
    }
    let mut out = Map::new();
    for (key, id, name, ty, regular) in PERMISSIONS {
        if wanted.as_ref().is_some_and(|w| !w.contains(key)) {
            continue;
        }
        out.insert(
            key.to_string(),
            json!({"id": id.to_string(), "key": key, "name": name, "type": ty, "description": name, "havePermission": user.admin || *regular}),
        );
    }
    if let Some(w) = &wanted {
        if let Some(bad) = w.iter().find(|k| !PERMISSIONS.iter().any(|p| p.0 == **k)) {
            return Err(Resp::error(
                400,
                &[&format!("Permission key '{bad}' is invalid.")],
                Map::new(),
            ));
        }
    }
    Ok(Resp::ok(&json!({ "permissions": out })))
}

// ---------------------------------------------------------------------------------------------
// Field values in create/edit bodies.

fn find_by_id_or_name<'a, T>(
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

fn long_text(v: &Value, v3: bool) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if !v3 => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
        _ if v3 => adf::to_text(v).map(Some).map_err(String::from),
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

fn date_from(v: &Value) -> Result<Option<NaiveDate>, String> {
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
fn set_field(
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
    let def = st.deployment.field(id).ok_or_else(not_settable)?;
    if !(def.on_screens || (transition && id == "resolution")) {
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
        "description" => issue.description = long_text(v, v3)?,
        "issuetype" => {
            let t = find_by_id_or_name(v, ISSUE_TYPES.iter(), |t| t.id.to_string(), |t| t.name)
                .ok_or("Specify a valid issue type")?;
            issue.issue_type = t.id.to_string();
        }
        "project" => {
            let p = find_by_id_or_name(v, st.projects.iter(), |p| p.id.to_string(), |p| &p.key)
                .ok_or("Specify a valid project ID or key")?;
            issue.project_id = p.id;
        }
        "parent" => {
            let subtask = super::model::issue_type(&issue.issue_type).is_some_and(|t| t.subtask());
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
fn apply_updates(
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
        _ => match st.deployment.field(id).map(|d| d.kind) {
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

/// A field's value as changelog strings: (id form, display form).
fn field_strings(st: &State, issue: &Issue, id: &str) -> (Option<String>, Option<String>) {
    let user = |u: &Option<String>| match u.as_deref().and_then(|id| st.user_by_id(id)) {
        Some(u) if st.deployment == Deployment::Cloud => {
            (Some(u.id.clone()), Some(u.display_name.clone()))
        }
        Some(u) => (Some(u.login.clone()), Some(u.display_name.clone())),
        None => (None, None),
    };
    match id {
        "summary" => (None, Some(issue.summary.clone())),
        "description" => (None, issue.description.clone()),
        "status" => (
            Some(issue.status.clone()),
            status(&issue.status).map(|s| s.name.to_string()),
        ),
        "issuetype" => (
            Some(issue.issue_type.clone()),
            super::model::issue_type(&issue.issue_type).map(|t| t.name.to_string()),
        ),
        "priority" => (
            Some(issue.priority.clone()),
            priority(&issue.priority).map(|p| p.name.to_string()),
        ),
        "resolution" => (
            issue.resolution.clone(),
            issue
                .resolution
                .as_deref()
                .and_then(resolution)
                .map(|r| r.name.to_string()),
        ),
        "assignee" => user(&issue.assignee),
        "reporter" => user(&issue.reporter),
        "labels" => (None, Some(issue.labels.join(" ")).filter(|s| !s.is_empty())),
        "duedate" => (
            issue.due_date.map(|d| d.to_string()),
            issue.due_date.map(|d| d.to_string()),
        ),
        "parent" => (
            issue.parent.map(|p| p.to_string()),
            issue
                .parent
                .and_then(|p| st.issues.get(&p))
                .map(|p| p.key.clone()),
        ),
        "components" => (
            Some(
                issue
                    .components
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
            .filter(|s| !s.is_empty()),
            Some(
                issue
                    .components
                    .iter()
                    .filter_map(|c| st.component(*c))
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
            .filter(|s| !s.is_empty()),
        ),
        "fixVersions" => (
            Some(
                issue
                    .fix_versions
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
            .filter(|s| !s.is_empty()),
            Some(
                issue
                    .fix_versions
                    .iter()
                    .filter_map(|c| st.version(*c))
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
            .filter(|s| !s.is_empty()),
        ),
        _ => match st.deployment.field(id).map(|d| d.kind) {
            Some(FieldKind::Sprint) => (
                Some(
                    issue
                        .sprints
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
                .filter(|s| !s.is_empty()),
                Some(
                    issue
                        .sprints
                        .iter()
                        .filter_map(|s| st.sprints.get(s))
                        .map(|s| s.name.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
                .filter(|s| !s.is_empty()),
            ),
            Some(FieldKind::EpicLink) => field_strings(st, issue, "parent"),
            _ => {
                let v = issue.custom.get(id);
                let display = v.map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Array(a) => a
                        .iter()
                        .map(|x| {
                            x.get("value")
                                .and_then(Value::as_str)
                                .map(String::from)
                                .unwrap_or_else(|| {
                                    x.as_str()
                                        .map(String::from)
                                        .unwrap_or_else(|| x.to_string())
                                })
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    Value::Object(o) => o
                        .get("value")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    other => other.to_string(),
                });
                let raw = v
                    .and_then(|v| v.get("id"))
                    .and_then(Value::as_str)
                    .map(String::from);
                (raw, display)
            }
        },
    }
}

/// The changelog `field`/`fieldtype` names Jira uses.
fn changelog_name(st: &State, id: &str) -> (String, String) {
    let cloud = st.deployment == Deployment::Cloud;
    let name = match id {
        "components" => "Component",
        "fixVersions" => "Fix Version",
        "parent" if cloud => "IssueParentAssociation",
        "parent" => "Parent",
        "issuetype" => "issuetype",
        _ => "",
    };
    if !name.is_empty() {
        return (name.into(), "jira".into());
    }
    match st.deployment.field(id) {
        Some(d) if d.is_custom() => (d.name.to_string(), "custom".into()),
        _ => (id.to_string(), "jira".into()),
    }
}

pub(super) fn diff(st: &State, before: &Issue, after: &Issue, ids: &[String]) -> Vec<ChangeItem> {
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id.clone()) {
            continue;
        }
        let (f0, s0) = field_strings(st, before, id);
        let (f1, s1) = field_strings(st, after, id);
        if (f0.as_ref(), s0.as_ref()) == (f1.as_ref(), s1.as_ref()) {
            continue;
        }
        // On Data Center an epic child's parent is its Epic Link, and history says so.
        let epic_link = id == "parent" && !shows_parent(st.deployment, after);
        let (field, fieldtype, field_id) = if epic_link {
            (
                "Epic Link".to_string(),
                "custom".to_string(),
                "customfield_10100".to_string(),
            )
        } else {
            let (f, t) = changelog_name(st, id);
            (f, t, id.clone())
        };
        items.push(ChangeItem {
            field,
            fieldtype,
            field_id,
            from: f0,
            from_string: s0,
            to: f1,
            to_string: s1,
        });
    }
    items
}

// ---------------------------------------------------------------------------------------------
// Issues.

fn admin(st: &State) -> Option<User> {
    st.users.iter().find(|u| u.admin).cloned()
}

pub fn create_issue_as_admin(sh: &Shared, body: &Value) -> Result<Value, Resp> {
    let user = admin(&sh.read()).ok_or_else(|| Resp::forbidden("no administrator"))?;
    create_issue(sh, &user, false, body)
}

fn create_issue(sh: &Shared, user: &User, v3: bool, body: &Value) -> Result<Value, Resp> {
    let Some(fields) = body.get("fields").and_then(Value::as_object) else {
        return Err(Resp::error(400, &["Can not deserialize instance of com.atlassian.jira.rest.v2.issue.IssueUpdateBean: 'fields' is missing."], Map::new()));
    };
    let now = Utc::now();
    let mut st = sh.write();
    let mut errors = Errors::new();
    let mut issue = st.blank_issue("", "", now);
    issue.reporter = Some(user.id.clone());
    match fields.get("project") {
        Some(p) => {
            if let Err(e) = set_field(&st, &sh.base_url, &mut issue, "project", p, v3, false) {
                err(&mut errors, "project", e);
            }
        }
        None => err(&mut errors, "project", "Specify a valid project ID or key"),
    }
    match fields.get("issuetype") {
        Some(t) => {
            if let Err(e) = set_field(&st, &sh.base_url, &mut issue, "issuetype", t, v3, false) {
                err(&mut errors, "issuetype", e);
            }
        }
        None => err(&mut errors, "issuetype", "Specify an issue type"),
    }
    if !fields.contains_key("summary") {
        err(
            &mut errors,
            "summary",
            "You must specify a summary of the issue.",
        );
    }
    for (id, v) in fields {
        if id == "project" || id == "issuetype" {
            continue;
        }
        if let Err(e) = set_field(&st, &sh.base_url, &mut issue, id, v, v3, false) {
            err(&mut errors, id, e);
        }
    }
    if let Some(update) = body.get("update").and_then(Value::as_object) {
        apply_updates(&st, &sh.base_url, &mut issue, update, v3, &mut errors);
    }
    if let Some(t) = super::model::issue_type(&issue.issue_type) {
        check_hierarchy(&st, &issue, t, &mut errors);
    }
    if !errors.is_empty() {
        return Err(Resp::field_errors(errors));
    }
    let blank = st.blank_issue(&issue.issue_type, "", now);
    st.counters.changelog += 1;
    let created_change = st.counters.changelog;
    let (id, key) = st
        .insert_issue(issue)
        .map_err(|e| Resp::error(400, &[&e], Map::new()))?;
    if let Some(i) = st.issues.get(&id) {
        // Cloud's issue_created carries a changelog of the initial values.
        let initial: Vec<String> = [
            "summary",
            "description",
            "priority",
            "assignee",
            "reporter",
            "status",
            "labels",
            "components",
            "fixVersions",
            "parent",
            "duedate",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut blank = blank;
        blank.reporter = None;
        blank.status = String::new();
        blank.priority = String::new();
        let group = ChangeGroup {
            id: created_change,
            author: user.id.clone(),
            created: now,
            items: diff(&st, &blank, i, &initial),
        };
        let mut body = events::issue_event(
            &st,
            &sh.base_url,
            "jira:issue_created",
            "issue_created",
            i,
            user,
        );
        if st.deployment == Deployment::Cloud {
            body["changelog"] = events::changelog(&st, &sh.base_url, &group);
        }
        sh.fire(
            "jira:issue_created",
            body,
            Some(&IssueView { st: &st, issue: i }),
        );
    }
    let api = if v3 { 3 } else { 2 };
    Ok(
        json!({"id": id.to_string(), "key": key, "self": format!("{}/rest/api/{api}/issue/{id}", sh.base_url)}),
    )
}

/// Jira's hierarchy rules: sub-tasks need a parent that is not a sub-task; standard issues may
/// only have an epic as parent; epics have none.
fn check_hierarchy(st: &State, issue: &Issue, t: &IssueTypeDef, errors: &mut Errors) {
    let parent = issue.parent.and_then(|p| st.issues.get(&p));
    let parent_level = parent
        .and_then(|p| super::model::issue_type(&p.issue_type))
        .map(|t| t.hierarchy_level);
    match (t.hierarchy_level, parent_level) {
        (-1, None) => err(
            errors,
            "parent",
            "Issue type is a sub-task but parent issue key or id not specified.",
        ),
        (-1, Some(-1)) => err(
            errors,
            "parent",
            "A sub-task cannot be the parent of another sub-task.",
        ),
        (0, Some(l)) if l != 1 => err(
            errors,
            "parent",
            "Given parent work item does not belong to appropriate hierarchy.",
        ),
        (1, Some(_)) => err(
            errors,
            "parent",
            "Given parent work item does not belong to appropriate hierarchy.",
        ),
        _ => {}
    }
}

/// Entries of the render cache beyond which it starts over, bounding its memory (an entry is
/// a few kilobytes).
const RENDER_CACHE_MAX: usize = 25_000;

/// Whether a request asks for the plain full form (all fields, no expansion) that the render
/// cache holds.
fn wants_full_form(fields: Option<&str>, default_all: bool, expand: &str) -> bool {
    let all = match fields.map(str::trim) {
        None | Some("") => default_all,
        Some(f) => f == "*all" || f == "*navigable",
    };
    all && expand.trim().is_empty()
}

/// The issues `ids` in their full form, serialized. Rendering an issue is most of the cost of
/// a GET or a search page, and the same issues are read over and over between writes (sync
/// sweeps, paging), so full forms are kept until the state changes.
fn full_issues_json(sh: &Shared, st: &State, v3: bool, ids: &[u64]) -> Vec<Arc<Vec<u8>>> {
    let mut out: Vec<Option<Arc<Vec<u8>>>> = vec![None; ids.len()];
    if let Ok(mut cache) = sh.render_cache.lock() {
        if cache.generation != st.generation {
            match st.changes_since(cache.generation) {
                Some(changed) => {
                    for id in changed {
                        cache.map.remove(&(id, false));
                        cache.map.remove(&(id, true));
                    }
                }
                None => cache.map.clear(),
            }
            cache.generation = st.generation;
        }
        for (slot, id) in out.iter_mut().zip(ids) {
            *slot = cache.map.get(&(*id, v3)).cloned();
        }
    }
    let missing: Vec<u64> = out
        .iter()
        .zip(ids)
        .filter(|(slot, _)| slot.is_none())
        .map(|(_, id)| *id)
        .collect();
    let fresh = render_full(sh, st, v3, &missing);
    let mut by_id: HashMap<u64, Arc<Vec<u8>>> =
        fresh.iter().map(|((id, _), b)| (*id, b.clone())).collect();
    for (slot, id) in out.iter_mut().zip(ids) {
        if slot.is_none() {
            *slot = by_id.remove(id);
        }
    }
    if !fresh.is_empty() {
        if let Ok(mut cache) = sh.render_cache.lock() {
            if cache.generation == st.generation {
                if cache.map.len() + fresh.len() > RENDER_CACHE_MAX {
                    cache.map.clear();
                }
                cache.map.extend(fresh);
            }
        }
    }
    out.into_iter().flatten().collect()
}

/// A serialized full form, keyed as the render cache keys it.
type Rendered = ((u64, bool), Arc<Vec<u8>>);

/// Renders full forms, on two threads when there are enough to be worth it: a cold search
/// page is a hundred independent renders under the same read lock.
fn render_full(sh: &Shared, st: &State, v3: bool, ids: &[u64]) -> Vec<Rendered> {
    let render = |chunk: &[u64]| {
        let view = View::new(st, &sh.base_url, v3);
        let mut memo = Memo::new();
        chunk
            .iter()
            .filter_map(|id| st.issues.get(id))
            .map(|i| ((i.id, v3), Arc::new(view.issue_full_bytes(i, &mut memo))))
            .collect::<Vec<_>>()
    };
    if ids.len() < 16 {
        return render(ids);
    }
    let (a, b) = ids.split_at(ids.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| render(b));
        let mut out = render(a);
        match other.join() {
            Ok(more) => out.extend(more),
            Err(_) => out.extend(render(b)),
        }
        out
    })
}

/// `[a,b,c]` from serialized elements.
fn json_array(items: &[Arc<Vec<u8>>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(items.iter().map(|i| i.len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.push(b']');
    out
}

/// A JSON object whose `issues` member is pre-serialized: `head` holds the other members.
fn with_issues(head: Value, issues: &[Arc<Vec<u8>>]) -> Resp {
    let mut body = serde_json::to_vec(&head).unwrap_or_else(|_| b"{}".to_vec());
    body.pop();
    if body.len() > 1 {
        body.push(b',');
    }
    body.extend_from_slice(b"\"issues\":");
    body.extend_from_slice(&json_array(issues));
    body.push(b'}');
    Resp {
        status: 200,
        body: Some(body),
        headers: Vec::new(),
    }
}

fn get_issue(sh: &Shared, req: &Req, v3: bool, key: &str) -> Result<Resp, Resp> {
    let expand = req.q("expand").unwrap_or_default();
    if wants_full_form(req.q("fields"), true, expand) {
        let st = sh.read();
        let id = st.issue_id(key).ok_or_else(Resp::issue_not_found)?;
        let bytes = full_issues_json(sh, &st, v3, &[id]);
        let body = bytes
            .first()
            .map(|b| b.to_vec())
            .ok_or_else(Resp::issue_not_found)?;
        return Ok(Resp {
            status: 200,
            body: Some(body),
            headers: Vec::new(),
        });
    }
    let sel = FieldSel::parse(req.q("fields"), true);
    with_issue(sh, v3, key, |v, i| v.issue(i, &sel, expand))
}

pub fn render_issue_v2(sh: &Shared, key: &str) -> Option<Value> {
    let st = sh.read();
    let v = View::new(&st, &sh.base_url, false);
    st.issue(key).map(|i| v.issue(i, &FieldSel::all(), ""))
}

pub fn edit_issue_as_admin(sh: &Shared, key: &str, body: &Value) -> Result<(), Resp> {
    let user = admin(&sh.read()).ok_or_else(|| Resp::forbidden("no administrator"))?;
    edit_issue(sh, &user, false, key, body).map(|_| ())
}

fn edit_issue(sh: &Shared, user: &User, v3: bool, key: &str, body: &Value) -> Result<Resp, Resp> {
    let mut st = sh.write();
    let id = st.issue_id(key).ok_or_else(Resp::issue_not_found)?;
    let before = st
        .issues
        .get(&id)
        .cloned()
        .ok_or_else(Resp::issue_not_found)?;
    let mut issue = before.clone();
    let mut errors = Errors::new();
    let mut touched: Vec<String> = Vec::new();
    if let Some(fields) = body.get("fields").and_then(Value::as_object) {
        for (f, v) in fields {
            if f == "project" {
                err(&mut errors, f, "Field 'project' cannot be set. It is not on the appropriate screen, or unknown.");
                continue;
            }
            if let Err(e) = set_field(&st, &sh.base_url, &mut issue, f, v, v3, false) {
                err(&mut errors, f, e);
            }
            touched.push(f.clone());
        }
    }
    let mut comment: Option<String> = None;
    if let Some(update) = body.get("update").and_then(Value::as_object) {
        apply_updates(&st, &sh.base_url, &mut issue, update, v3, &mut errors);
        touched.extend(update.keys().filter(|k| *k != "comment").cloned());
        if let Some(c) = update
            .get("comment")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            match long_text(&c["add"]["body"], v3) {
                Ok(Some(b)) => comment = Some(b),
                _ => err(&mut errors, "comment", "Comment body can not be empty!"),
            }
        }
    }
    if body.get("fields").is_none() && body.get("update").is_none() {
        return Err(Resp::error(
            400,
            &["Specify fields or update operations to edit the issue."],
            Map::new(),
        ));
    }
    if let Some(t) = super::model::issue_type(&issue.issue_type) {
        if touched
            .iter()
            .any(|f| f == "parent" || f == "issuetype" || f.starts_with("customfield_10100"))
        {
            check_hierarchy(&st, &issue, t, &mut errors);
        }
    }
    if !errors.is_empty() {
        return Err(Resp::field_errors(errors));
    }
    let touched: Vec<String> = touched
        .into_iter()
        .map(|f| {
            if st
                .deployment
                .field(&f)
                .is_some_and(|d| d.kind == FieldKind::EpicLink)
            {
                "parent".into()
            } else {
                f
            }
        })
        .collect();
    let items = diff(&st, &before, &issue, &touched);
    let now = Utc::now();
    if items.is_empty() && comment.is_none() {
        return Ok(Resp::no_content());
    }
    if !items.is_empty() {
        issue.updated = now;
        let group = st.change_group(&user.id, now, items);
        issue.changelog.push(group.clone());
        st.issues.insert(id, issue);
        st.touch_issues(&std::iter::once(id).chain(before.parent).collect::<Vec<_>>());
        if let Some(i) = st.issues.get(&id) {
            let type_name = if group.items.iter().all(|i| i.field_id == "assignee") {
                "issue_assigned"
            } else {
                "issue_updated"
            };
            let body = events::issue_updated(&st, &sh.base_url, type_name, i, user, &group);
            sh.fire(
                "jira:issue_updated",
                body,
                Some(&IssueView { st: &st, issue: i }),
            );
        }
    }
    if let Some(body) = comment {
        add_comment_locked(sh, &mut st, user, id, body);
    }
    Ok(Resp::no_content())
}

pub fn delete_issue_as_admin(sh: &Shared, key: &str) -> Result<(), Resp> {
    let user = admin(&sh.read()).ok_or_else(|| Resp::forbidden("no administrator"))?;
    delete_issue(sh, &user, key, true).map(|_| ())
}

fn delete_issue(sh: &Shared, user: &User, key: &str, subtasks: bool) -> Result<Resp, Resp> {
    if !user.admin {
        return Err(Resp::forbidden(
            "You do not have permission to delete issues in this project.",
        ));
    }
    let mut st = sh.write();
    let id = st.issue_id(key).ok_or_else(Resp::issue_not_found)?;
    let children: Vec<u64> = st
        .issues
        .values()
        .filter(|c| {
            c.parent == Some(id)
                && super::model::issue_type(&c.issue_type).is_some_and(|t| t.subtask())
        })
        .map(|c| c.id)
        .collect();
    if !children.is_empty() && !subtasks {
        return Err(Resp::error(
            400,
            &["The issue has subtasks. To delete, set the 'deleteSubtasks' parameter to true."],
            Map::new(),
        ));
    }
    for victim in children.into_iter().chain(std::iter::once(id)) {
        if let Some(i) = st.issues.get(&victim) {
            let body = events::issue_event(
                &st,
                &sh.base_url,
                "jira:issue_deleted",
                "issue_deleted",
                i,
                user,
            );
            sh.fire(
                "jira:issue_deleted",
                body,
                Some(&IssueView { st: &st, issue: i }),
            );
        }
        st.issues.remove(&victim);
        st.links
            .retain(|_, l| l.inward != victim && l.outward != victim);
        for other in st.issues.values_mut() {
            if other.parent == Some(victim) {
                other.parent = None;
            }
        }
    }
    st.touch();
    Ok(Resp::no_content())
}

pub fn transition_as_admin(sh: &Shared, key: &str, status_name: &str) -> Result<(), Resp> {
    let user = admin(&sh.read()).ok_or_else(|| Resp::forbidden("no administrator"))?;
    let t = TRANSITIONS
        .iter()
        .find(|t| status(t.to).is_some_and(|s| s.name.eq_ignore_ascii_case(status_name)))
        .ok_or_else(|| {
            Resp::error(
                400,
                &[&format!("No transition to status '{status_name}'.")],
                Map::new(),
            )
        })?;
    let mut body = json!({"transition": {"id": t.id}});
    if t.requires_resolution {
        body["fields"] = json!({"resolution": {"name": "Done"}});
    }
    transition(sh, &user, false, key, &body).map(|_| ())
}

fn transition(sh: &Shared, user: &User, v3: bool, key: &str, body: &Value) -> Result<Resp, Resp> {
    let tid = body
        .get("transition")
        .and_then(|t| t.get("id"))
        .and_then(|x| {
            x.as_str()
                .map(String::from)
                .or_else(|| x.as_u64().map(|n| n.to_string()))
        });
    let tname = body
        .get("transition")
        .and_then(|t| t.get("name"))
        .and_then(Value::as_str);
    let mut st = sh.write();
    let id = st.issue_id(key).ok_or_else(Resp::issue_not_found)?;
    let before = st
        .issues
        .get(&id)
        .cloned()
        .ok_or_else(Resp::issue_not_found)?;
    let t = TRANSITIONS
        .iter()
        .find(|t| {
            Some(t.id) == tid.as_deref() || tname.is_some_and(|n| n.eq_ignore_ascii_case(t.name))
        })
        .filter(|t| t.to != before.status)
        .ok_or_else(|| {
            Resp::error(
                400,
                &[&format!(
                    "Transition id '{}' is not valid for this issue.",
                    tid.clone().unwrap_or_default()
                )],
                Map::new(),
            )
        })?;
    let mut issue = before.clone();
    let mut errors = Errors::new();
    let mut touched = vec!["status".to_string(), "resolution".to_string()];
    if let Some(fields) = body.get("fields").and_then(Value::as_object) {
        for (f, v) in fields {
            let allowed = f == "resolution" || st.deployment.field(f).is_some_and(|d| d.on_screens);
            if !allowed || (f == "resolution" && !t.requires_resolution) {
                err(&mut errors, f, format!("Field '{f}' cannot be set. It is not on the appropriate screen, or unknown."));
                continue;
            }
            if let Err(e) = set_field(&st, &sh.base_url, &mut issue, f, v, v3, true) {
                err(&mut errors, f, e);
            }
            touched.push(f.clone());
        }
    }
    if t.requires_resolution && issue.resolution.is_none() {
        err(&mut errors, "resolution", "Resolution is required.");
    }
    let mut comment = None;
    if let Some(c) = body.pointer("/update/comment/0/add/body") {
        match long_text(c, v3) {
            Ok(Some(b)) => comment = Some(b),
            _ => err(&mut errors, "comment", "Comment body can not be empty!"),
        }
    }
    if !errors.is_empty() {
        return Err(Resp::field_errors(errors));
    }
    let now = Utc::now();
    issue.status = t.to.to_string();
    if t.requires_resolution {
        issue.resolution_date = Some(now);
    } else {
        issue.resolution = None;
        issue.resolution_date = None;
    }
    issue.updated = now;
    let items = diff(&st, &before, &issue, &touched);
    let group = st.change_group(&user.id, now, items);
    issue.changelog.push(group.clone());
    st.issues.insert(id, issue);
    st.touch_issues(&[id]);
    if let Some(i) = st.issues.get(&id) {
        let body = events::issue_updated(&st, &sh.base_url, "issue_generic", i, user, &group);
        sh.fire(
            "jira:issue_updated",
            body,
            Some(&IssueView { st: &st, issue: i }),
        );
    }
    if let Some(b) = comment {
        add_comment_locked(sh, &mut st, user, id, b);
    }
    Ok(Resp::no_content())
}

// ---------------------------------------------------------------------------------------------
// Comments, worklogs, links.

fn add_comment_locked(
    sh: &Shared,
    st: &mut State,
    user: &User,
    issue_id: u64,
    body: String,
) -> Option<u64> {
    let now = Utc::now();
    st.counters.comment += 1;
    let cid = st.counters.comment;
    let issue = st.issues.get_mut(&issue_id)?;
    issue.comments.push(Comment {
        id: cid,
        author: user.id.clone(),
        update_author: user.id.clone(),
        body,
        created: now,
        updated: now,
    });
    issue.updated = now;
    st.touch_issues(&[issue_id]);
    let i = st.issues.get(&issue_id)?;
    let c = i.comments.last()?;
    sh.fire(
        "comment_created",
        events::comment_event(st, &sh.base_url, "comment_created", i, c, user),
        Some(&IssueView { st, issue: i }),
    );
    let mut upd = events::issue_event(
        st,
        &sh.base_url,
        "jira:issue_updated",
        "issue_commented",
        i,
        user,
    );
    upd["comment"] = View::new(st, &sh.base_url, false).comment(i, c);
    sh.fire("jira:issue_updated", upd, Some(&IssueView { st, issue: i }));
    Some(cid)
}

fn add_comment(sh: &Shared, user: &User, v3: bool, key: &str, body: &Value) -> Result<Resp, Resp> {
    let text = match long_text(body.get("body").unwrap_or(&Value::Null), v3) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Err(Resp::field_errors(Map::from_iter([(
                "comment".into(),
                json!("Comment body can not be empty!"),
            )])))
        }
        Err(e) => {
            return Err(Resp::field_errors(Map::from_iter([(
                "comment".into(),
                json!(e),
            )])))
        }
    };
    let mut st = sh.write();
    let id = st.issue_id(key).ok_or_else(Resp::issue_not_found)?;
    let cid = add_comment_locked(sh, &mut st, user, id, text).ok_or_else(Resp::issue_not_found)?;
    let v = View::new(&st, &sh.base_url, v3);
    let i = st.issues.get(&id).ok_or_else(Resp::issue_not_found)?;
    let c = i
        .comments
        .iter()
        .find(|c| c.id == cid)
        .ok_or_else(Resp::issue_not_found)?;
    Ok(Resp::json(201, &v.comment(i, c)))
}

fn update_comment(
    sh: &Shared,
    user: &User,
    v3: bool,
    key: &str,
    cid: &str,
    body: &Value,
) -> Result<Resp, Resp> {
    let text = match long_text(body.get("body").unwrap_or(&Value::Null), v3) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Err(Resp::field_errors(Map::from_iter([(
                "comment".into(),
                json!("Comment body can not be empty!"),
            )])))
        }
        Err(e) => {
            return Err(Resp::field_errors(Map::from_iter([(
                "comment".into(),
                json!(e),
            )])))
        }
    };
    let mut st = sh.write();
    let id = st.issue_id(key).ok_or_else(Resp::issue_not_found)?;
    let now = Utc::now();
    let issue = st.issues.get_mut(&id).ok_or_else(Resp::issue_not_found)?;
    let c = issue
        .comments
        .iter_mut()
        .find(|c| c.id.to_string() == cid)
        .ok_or_else(|| Resp::not_found(&format!("Can not find a comment for the id: {cid}.")))?;
    if c.author != user.id && !user.admin {
        return Err(Resp::forbidden(
            "You do not have the permission to edit this comment.",
        ));
    }
    c.body = text;
    c.updated = now;
    c.update_author = user.id.clone();
    let c = c.clone();
    st.touch_issues(&[id]);
    let i = st.issues.get(&id).ok_or_else(Resp::issue_not_found)?;
    sh.fire(
        "comment_updated",
        events::comment_event(&st, &sh.base_url, "comment_updated", i, &c, user),
        Some(&IssueView { st: &st, issue: i }),
    );
    let v = View::new(&st, &sh.base_url, v3);
    Ok(Resp::ok(&v.comment(i, &c)))
}

fn delete_comment(sh: &Shared, user: &User, key: &str, cid: &str) -> Result<Resp, Resp> {
    let mut st = sh.write();
    let id = st.issue_id(key).ok_or_else(Resp::issue_not_found)?;
    let issue = st.issues.get_mut(&id).ok_or_else(Resp::issue_not_found)?;
    let pos = issue
        .comments
        .iter()
        .position(|c| c.id.to_string() == cid)
        .ok_or_else(|| Resp::not_found(&format!("Can not find a comment for the id: {cid}.")))?;
    if issue.comments[pos].author != user.id && !user.admin {
        return Err(Resp::forbidden(
            "You do not have the permission to delete this comment.",
        ));
    }
    let c = issue.comments.remove(pos);
    st.touch_issues(&[id]);
    let i = st.issues.get(&id).ok_or_else(Resp::issue_not_found)?;
    sh.fire(
        "comment_deleted",
        events::comment_event(&st, &sh.base_url, "comment_deleted", i, &c, user),
        Some(&IssueView { st: &st, issue: i }),
    );
    Ok(Resp::no_content())
}

/// `1w 2d 3h 30m` with Jira's 5-day weeks and 8-hour days.
fn parse_duration(s: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut any = false;
    for part in s.split_whitespace() {
        let (num, unit) = part.split_at(part.find(|c: char| !c.is_ascii_digit() && c != '.')?);
        let n: f64 = num.parse().ok()?;
        let secs = match unit {
            "w" => 5.0 * 8.0 * 3600.0,
            "d" => 8.0 * 3600.0,
            "h" => 3600.0,
            "m" => 60.0,
            _ => return None,
        };
        total += (n * secs) as u64;
        any = true;
    }
    any.then_some(total)
}

fn add_worklog(sh: &Shared, user: &User, v3: bool, key: &str, body: &Value) -> Result<Resp, Resp> {
    let secs = body
        .get("timeSpentSeconds")
        .and_then(Value::as_u64)
        .or_else(|| {
            body.get("timeSpent")
                .and_then(Value::as_str)
                .and_then(parse_duration)
        })
        .filter(|s| *s > 0);
    let Some(secs) = secs else {
        return Err(Resp::field_errors(Map::from_iter([(
            "timeLogged".into(),
            json!("You must indicate the time spent working."),
        )])));
    };
    let started = match body.get("started").and_then(Value::as_str) {
        None => Utc::now(),
        Some(s) => DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3f%z")
            .map(|d| d.with_timezone(&Utc))
            .map_err(|_| {
                Resp::field_errors(Map::from_iter([(
                    "started".into(),
                    json!("Invalid start date."),
                )]))
            })?,
    };
    let comment = long_text(body.get("comment").unwrap_or(&Value::Null), v3)
        .map_err(|e| Resp::field_errors(Map::from_iter([("comment".into(), json!(e))])))?
        .unwrap_or_default();
    let mut st = sh.write();
    let id = st.issue_id(key).ok_or_else(Resp::issue_not_found)?;
    st.counters.worklog += 1;
    let wid = st.counters.worklog;
    let now = Utc::now();
    let w = Worklog {
        id: wid,
        author: user.id.clone(),
        comment,
        started,
        time_spent_seconds: secs,
        created: now,
        updated: now,
    };
    let issue = st.issues.get_mut(&id).ok_or_else(Resp::issue_not_found)?;
    issue.worklogs.push(w.clone());
    issue.updated = now;
    st.touch_issues(&[id]);
    let i = st.issues.get(&id).ok_or_else(Resp::issue_not_found)?;
    sh.fire(
        "worklog_created",
        events::worklog_event(&st, &sh.base_url, "worklog_created", i, &w),
        Some(&IssueView { st: &st, issue: i }),
    );
    let v = View::new(&st, &sh.base_url, v3);
    Ok(Resp::json(201, &v.worklog(i, &w)))
}

fn update_worklog(sh: &Shared, v3: bool, key: &str, wid: &str, body: &Value) -> Result<Resp, Resp> {
    let secs = body
        .get("timeSpentSeconds")
        .and_then(Value::as_u64)
        .or_else(|| {
            body.get("timeSpent")
                .and_then(Value::as_str)
                .and_then(parse_duration)
        });
    let comment = match body.get("comment") {
        Some(c) => long_text(c, v3)
            .map_err(|e| Resp::field_errors(Map::from_iter([("comment".into(), json!(e))])))?,
        None => None,
    };
    let mut st = sh.write();
    let id = st.issue_id(key).ok_or_else(Resp::issue_not_found)?;
    let issue = st.issues.get_mut(&id).ok_or_else(Resp::issue_not_found)?;
    let w = issue
        .worklogs
        .iter_mut()
        .find(|w| w.id.to_string() == wid)
        .ok_or_else(|| Resp::not_found(&format!("Cannot find worklog with id: {wid}")))?;
    if let Some(s) = secs.filter(|s| *s > 0) {
        w.time_spent_seconds = s;
    }
    if let Some(c) = comment {
        w.comment = c;
    }
    w.updated = Utc::now();
    let w = w.clone();
    st.touch_issues(&[id]);
    let i = st.issues.get(&id).ok_or_else(Resp::issue_not_found)?;
    sh.fire(
        "worklog_updated",
        events::worklog_event(&st, &sh.base_url, "worklog_updated", i, &w),
        Some(&IssueView { st: &st, issue: i }),
    );
    let v = View::new(&st, &sh.base_url, v3);
    Ok(Resp::ok(&v.worklog(i, &w)))
}

fn delete_worklog(sh: &Shared, key: &str, wid: &str) -> Result<Resp, Resp> {
    let mut st = sh.write();
    let id = st.issue_id(key).ok_or_else(Resp::issue_not_found)?;
    let issue = st.issues.get_mut(&id).ok_or_else(Resp::issue_not_found)?;
    let pos = issue
        .worklogs
        .iter()
        .position(|w| w.id.to_string() == wid)
        .ok_or_else(|| Resp::not_found(&format!("Cannot find worklog with id: {wid}")))?;
    let w = issue.worklogs.remove(pos);
    st.touch_issues(&[id]);
    let i = st.issues.get(&id).ok_or_else(Resp::issue_not_found)?;
    sh.fire(
        "worklog_deleted",
        events::worklog_event(&st, &sh.base_url, "worklog_deleted", i, &w),
        Some(&IssueView { st: &st, issue: i }),
    );
    Ok(Resp::no_content())
}

fn create_link(sh: &Shared, _user: &User, body: &Value) -> Result<Resp, Resp> {
    let t = body.get("type").unwrap_or(&Value::Null);
    let lt = find_by_id_or_name(t, LINK_TYPES.iter(), |t| t.id.to_string(), |t| t.name)
        .ok_or_else(|| {
            Resp::not_found(&format!(
                "No issue link type with name '{}' found.",
                t.get("name").and_then(Value::as_str).unwrap_or_default()
            ))
        })?;
    let key_of = |side: &str| {
        body.get(side)
            .and_then(|x| x.get("key").or_else(|| x.get("id")))
            .and_then(|x| {
                x.as_str()
                    .map(String::from)
                    .or_else(|| x.as_u64().map(|n| n.to_string()))
            })
    };
    let mut st = sh.write();
    let inward = key_of("inwardIssue").and_then(|k| st.issue_id(&k));
    let outward = key_of("outwardIssue").and_then(|k| st.issue_id(&k));
    let (Some(inward), Some(outward)) = (inward, outward) else {
        return Err(Resp::not_found("Issue Does Not Exist"));
    };
    if inward == outward {
        return Err(Resp::error(
            400,
            &["You cannot link an issue to itself."],
            Map::new(),
        ));
    }
    st.counters.link += 1;
    let link = Link {
        id: st.counters.link,
        link_type: lt.id.to_string(),
        inward,
        outward,
    };
    st.links.insert(link.id, link.clone());
    let now = Utc::now();
    for id in [inward, outward] {
        if let Some(i) = st.issues.get_mut(&id) {
            i.updated = now;
        }
    }
    st.touch_issues(&[inward, outward]);
    sh.fire(
        "issuelink_created",
        events::link_event("issuelink_created", &link),
        None,
    );
    Ok(Resp {
        status: 201,
        body: None,
        headers: vec![(
            "Location",
            format!("{}/rest/api/2/issueLink/{}", sh.base_url, link.id),
        )],
    })
}

fn delete_link(sh: &Shared, id: &str) -> Result<Resp, Resp> {
    let mut st = sh.write();
    let link = id
        .parse::<u64>()
        .ok()
        .and_then(|id| st.links.remove(&id))
        .ok_or_else(|| Resp::not_found(&format!("No issue link with id '{id}' exists.")))?;
    st.touch_issues(&[link.inward, link.outward]);
    sh.fire(
        "issuelink_deleted",
        events::link_event("issuelink_deleted", &link),
        None,
    );
    Ok(Resp::no_content())
}

// ---------------------------------------------------------------------------------------------
// Versions and components.

fn version_get(sh: &Shared, v3: bool, id: &str) -> Result<Resp, Resp> {
    let st = sh.read();
    let v = View::new(&st, &sh.base_url, v3);
    id.parse::<u64>()
        .ok()
        .and_then(|id| st.version(id))
        .map(|x| Resp::ok(&v.version(x)))
        .ok_or_else(|| Resp::not_found(&format!("Could not find version for id '{id}'")))
}

fn version_from(st: &State, body: &Value, x: &mut Version) -> Result<(), Resp> {
    let mut errors = Errors::new();
    if let Some(n) = body.get("name") {
        match n.as_str().map(str::trim).filter(|s| !s.is_empty()) {
            Some(n)
                if st.versions.iter().any(|o| {
                    o.id != x.id && o.project_id == x.project_id && o.name.eq_ignore_ascii_case(n)
                }) =>
            {
                err(
                    &mut errors,
                    "name",
                    "A version with this name already exists in this project.",
                )
            }
            Some(n) => x.name = n.to_string(),
            None => err(&mut errors, "name", "You must specify a valid version name"),
        }
    }
    if let Some(d) = body.get("description").and_then(Value::as_str) {
        x.description = d.to_string();
    }
    if let Some(r) = body.get("released").and_then(Value::as_bool) {
        x.released = r;
    }
    if let Some(a) = body.get("archived").and_then(Value::as_bool) {
        x.archived = a;
    }
    for (k, slot) in [
        ("releaseDate", &mut x.release_date),
        ("startDate", &mut x.start_date),
    ] {
        if let Some(v) = body.get(k) {
            match date_from(v) {
                Ok(d) => *slot = d,
                Err(e) => err(&mut errors, k, e),
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Resp::field_errors(errors))
    }
}

fn create_version(sh: &Shared, v3: bool, body: &Value) -> Result<Resp, Resp> {
    let mut st = sh.write();
    let project = body
        .get("projectId")
        .and_then(Value::as_u64)
        .map(|id| id.to_string())
        .or_else(|| {
            body.get("project")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .and_then(|p| st.project(&p).map(|p| p.id))
        .ok_or_else(|| {
            Resp::field_errors(Map::from_iter([(
                "project".into(),
                json!("Project must be specified to create a version."),
            )]))
        })?;
    if body
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(|n| n.trim().is_empty())
    {
        return Err(Resp::field_errors(Map::from_iter([(
            "name".into(),
            json!("You must specify a valid version name"),
        )])));
    }
    let mut x = Version {
        id: 0,
        project_id: project,
        name: String::new(),
        description: String::new(),
        released: false,
        archived: false,
        release_date: None,
        start_date: None,
    };
    version_from(&st, body, &mut x)?;
    st.counters.version += 1;
    x.id = st.counters.version;
    st.versions.push(x.clone());
    st.touch_issues(&[]);
    sh.fire(
        "jira:version_created",
        events::version_event(&st, &sh.base_url, "jira:version_created", &x),
        None,
    );
    let v = View::new(&st, &sh.base_url, v3);
    Ok(Resp::json(201, &v.version(&x)))
}

fn update_version(sh: &Shared, v3: bool, id: &str, body: &Value) -> Result<Resp, Resp> {
    let mut st = sh.write();
    let pos = id
        .parse::<u64>()
        .ok()
        .and_then(|id| st.versions.iter().position(|v| v.id == id))
        .ok_or_else(|| Resp::not_found(&format!("Could not find version for id '{id}'")))?;
    let before = st.versions[pos].clone();
    let mut x = before.clone();
    version_from(&st, body, &mut x)?;
    st.versions[pos] = x.clone();
    st.touch();
    let event = match (before.released, x.released) {
        (false, true) => "jira:version_released",
        (true, false) => "jira:version_unreleased",
        _ => "jira:version_updated",
    };
    sh.fire(
        event,
        events::version_event(&st, &sh.base_url, event, &x),
        None,
    );
    let v = View::new(&st, &sh.base_url, v3);
    Ok(Resp::ok(&v.version(&x)))
}

fn delete_version(sh: &Shared, id: &str) -> Result<Resp, Resp> {
    let mut st = sh.write();
    let pos = id
        .parse::<u64>()
        .ok()
        .and_then(|vid| st.versions.iter().position(|v| v.id == vid))
        .ok_or_else(|| Resp::not_found(&format!("Could not find version for id '{id}'")))?;
    let x = st.versions.remove(pos);
    for i in st.issues.values_mut() {
        i.fix_versions.retain(|v| *v != x.id);
    }
    st.touch();
    sh.fire(
        "jira:version_deleted",
        events::version_event(&st, &sh.base_url, "jira:version_deleted", &x),
        None,
    );
    Ok(Resp::no_content())
}

fn create_component(sh: &Shared, v3: bool, body: &Value) -> Result<Resp, Resp> {
    let mut st = sh.write();
    let project = body
        .get("project")
        .and_then(Value::as_str)
        .and_then(|p| st.project(p).map(|p| p.id))
        .ok_or_else(|| {
            Resp::field_errors(Map::from_iter([(
                "project".into(),
                json!("The project specified is not valid."),
            )]))
        })?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let Some(name) = name else {
        return Err(Resp::field_errors(Map::from_iter([(
            "name".into(),
            json!("The component name specified is invalid."),
        )])));
    };
    if st
        .components
        .iter()
        .any(|c| c.project_id == project && c.name.eq_ignore_ascii_case(name))
    {
        return Err(Resp::field_errors(Map::from_iter([(
            "name".into(),
            json!(format!(
                "A component with the name {name} already exists in this project."
            )),
        )])));
    }
    st.counters.component += 1;
    let c = Component {
        id: st.counters.component,
        project_id: project,
        name: name.to_string(),
        description: body
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    };
    st.components.push(c.clone());
    st.touch_issues(&[]);
    let v = View::new(&st, &sh.base_url, v3);
    Ok(Resp::json(201, &v.component(&c)))
}

// ---------------------------------------------------------------------------------------------
// Search.

fn eval_context(st: &State, user: &User) -> EvalContext {
    EvalContext {
        now: Utc::now(),
        current_user: user.id.clone(),
        open_sprint_ids: st
            .sprints
            .values()
            .filter(|s| s.state == SprintState::Active)
            .map(|s| s.id)
            .collect(),
        closed_sprint_ids: st
            .sprints
            .values()
            .filter(|s| s.state == SprintState::Closed)
            .map(|s| s.id)
            .collect(),
    }
}

fn parse_jql(st: &State, q: &str) -> Result<jql::Query, Resp> {
    let dep = st.deployment;
    jql::parse_with(q, &|name| {
        dep.field_by_id_or_name(name)
            .and_then(|d| d.custom_id())
            .map(Field::Custom)
    })
    .map_err(|e| Resp::error(400, &[&e.to_string()], Map::new()))
}

/// Runs a query and returns the sorted ids, from the cache when the state has not changed.
pub(super) fn run_query(
    sh: &Shared,
    st: &State,
    user: &User,
    q: &str,
) -> Result<Arc<Vec<u64>>, Resp> {
    let cache_key = format!("{}\u{0}{q}", user.id);
    if let Ok(cache) = sh.search_cache.lock() {
        if let Some((generation, ids)) = cache.get(&cache_key) {
            if *generation == st.generation {
                return Ok(ids.clone());
            }
        }
    }
    let query = parse_jql(st, q)?;
    let ctx = eval_context(st, user);
    let mut hits: Vec<&Issue> = st
        .issues
        .values()
        .filter(|i| query.matches(&IssueView { st, issue: i }, &ctx))
        .collect();
    hits.sort_by_cached_key(|i| query.sort_key(&IssueView { st, issue: i }));
    let ids = Arc::new(hits.into_iter().map(|i| i.id).collect::<Vec<_>>());
    if let Ok(mut cache) = sh.search_cache.lock() {
        if cache.len() > 64 {
            cache.clear();
        }
        cache.insert(cache_key, (st.generation, ids.clone()));
    }
    Ok(ids)
}

pub fn search_keys(sh: &Shared, q: &str) -> Result<Vec<String>, Resp> {
    let st = sh.read();
    let user = admin(&st).ok_or_else(|| Resp::forbidden("no administrator"))?;
    let ids = run_query(sh, &st, &user, q)?;
    Ok(ids
        .iter()
        .filter_map(|id| st.issues.get(id))
        .map(|i| i.key.clone())
        .collect())
}

/// Search parameters from the query string (GET) or the JSON body (POST).
struct SearchParams {
    jql: String,
    start_at: usize,
    max_results: Option<usize>,
    token: Option<String>,
    fields: Option<String>,
    expand: String,
}

fn search_params(req: &Req) -> Result<SearchParams, Resp> {
    if req.method == Method::POST {
        let b = req.json()?;
        let list = |k: &str| match b.get(k) {
            Some(Value::Array(a)) => Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let num = |k: &str| -> Result<Option<usize>, Resp> {
            match b.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| {
                    Resp::error(
                        400,
                        &[&format!(
                            "The '{k}' parameter must be a non-negative integer."
                        )],
                        Map::new(),
                    )
                }),
            }
        };
        Ok(SearchParams {
            jql: b
                .get("jql")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            start_at: num("startAt")?.unwrap_or(0),
            max_results: num("maxResults")?,
            token: b
                .get("nextPageToken")
                .and_then(Value::as_str)
                .map(String::from),
            fields: list("fields"),
            expand: list("expand").unwrap_or_default(),
        })
    } else {
        Ok(SearchParams {
            jql: req.q("jql").unwrap_or_default().to_string(),
            start_at: req.q_usize("startAt", 0)?,
            max_results: match req.q("maxResults") {
                Some(_) => Some(req.q_usize("maxResults", 50)?),
                None => None,
            },
            token: req.q("nextPageToken").map(String::from),
            fields: req.q("fields").map(String::from),
            expand: req.q("expand").unwrap_or_default().to_string(),
        })
    }
}

fn search_dc(sh: &Shared, req: &Req, v3: bool) -> Result<Resp, Resp> {
    let user = req.user()?;
    let p = search_params(req)?;
    let max = p.max_results.unwrap_or(50).min(1000);
    let st = sh.read();
    let ids = run_query(sh, &st, user, &p.jql)?;
    let sel = FieldSel::parse(p.fields.as_deref(), true);
    let v = View::new(&st, &sh.base_url, v3);
    let head = json!({"expand": "schema,names", "startAt": p.start_at, "maxResults": max, "total": ids.len()});
    if wants_full_form(p.fields.as_deref(), true, &p.expand) {
        let page: Vec<u64> = ids.iter().skip(p.start_at).take(max).copied().collect();
        return Ok(with_issues(head, &full_issues_json(sh, &st, v3, &page)));
    }
    let issues: Vec<Value> = ids
        .iter()
        .skip(p.start_at)
        .take(max)
        .filter_map(|id| st.issues.get(id))
        .map(|i| v.issue(i, &sel, &p.expand))
        .collect();
    let mut body = head;
    body["issues"] = Value::Array(issues);
    add_names_schema(&v, &p.expand, &mut body);
    Ok(Resp::ok(&body))
}

fn add_names_schema(v: &View<'_>, expand: &str, body: &mut Value) {
    if expand.split(',').any(|e| e.trim() == "names") {
        body["names"] = Value::Object(
            v.st.deployment
                .fields()
                .map(|d| (d.id.to_string(), json!(d.name)))
                .collect(),
        );
    }
    if expand.split(',').any(|e| e.trim() == "schema") {
        body["schema"] = Value::Object(
            v.st.deployment
                .fields()
                .map(|d| (d.id.to_string(), v.field_schema(d)))
                .collect(),
        );
    }
}

fn encode_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("sim-offset:{offset}"))
}

fn decode_token(t: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("sim-offset:")?
        .parse()
        .ok()
}

/// Cloud's replacement for the `total` that enhanced search dropped.
fn approximate_count(sh: &Shared, req: &Req) -> Result<Resp, Resp> {
    let user = req.user()?;
    let body = req.json()?;
    let q = body.get("jql").and_then(Value::as_str).unwrap_or_default();
    let st = sh.read();
    if !parse_jql(&st, q)?.is_bounded() {
        return Err(Resp::error(400, &["Unbounded JQL queries are not allowed here. Please add a search restriction to your query."], Map::new()));
    }
    let ids = run_query(sh, &st, user, q)?;
    Ok(Resp::ok(&json!({"count": ids.len()})))
}

fn search_cloud(sh: &Shared, req: &Req, v3: bool) -> Result<Resp, Resp> {
    let user = req.user()?;
    let p = search_params(req)?;
    let st = sh.read();
    let query = parse_jql(&st, &p.jql)?;
    if !query.is_bounded() {
        return Err(Resp::error(400, &["Unbounded JQL queries are not allowed here. Please add a search restriction to your query."], Map::new()));
    }
    let offset = match &p.token {
        Some(t) => decode_token(t).ok_or_else(|| {
            Resp::error(
                400,
                &["The provided next page token is invalid or expired."],
                Map::new(),
            )
        })?,
        None => 0,
    };
    let sel = FieldSel::parse(p.fields.as_deref(), false);
    let ids_only = p
        .fields
        .as_deref()
        .is_none_or(|f| f.split(',').all(|x| matches!(x.trim(), "id" | "key" | "")));
    let max = p
        .max_results
        .unwrap_or(50)
        .clamp(1, if ids_only { 5000 } else { 100 });
    let ids = run_query(sh, &st, user, &p.jql)?;
    let v = View::new(&st, &sh.base_url, v3);
    let page: Vec<u64> = ids.iter().skip(offset).take(max).copied().collect();
    let end = offset + page.len();
    let is_last = end >= ids.len();
    let mut head = json!({"isLast": is_last});
    if !is_last {
        head["nextPageToken"] = json!(encode_token(end));
    }
    if wants_full_form(p.fields.as_deref(), false, &p.expand) {
        return Ok(with_issues(head, &full_issues_json(sh, &st, v3, &page)));
    }
    let issues: Vec<Value> = page
        .iter()
        .filter_map(|id| st.issues.get(id))
        .map(|i| v.issue(i, &sel, &p.expand))
        .collect();
    let mut body = head;
    body["issues"] = Value::Array(issues);
    add_names_schema(&v, &p.expand, &mut body);
    Ok(Resp::ok(&body))
}

// ---------------------------------------------------------------------------------------------
// Create metadata.

fn createmeta_legacy(sh: &Shared, req: &Req, v3: bool) -> Resp {
    let st = sh.read();
    let v = View::new(&st, &sh.base_url, v3);
    let keys: Option<Vec<String>> = req
        .q("projectKeys")
        .map(|k| k.split(',').map(|s| s.trim().to_uppercase()).collect());
    let ids: Option<Vec<String>> = req
        .q("projectIds")
        .map(|k| k.split(',').map(|s| s.trim().to_string()).collect());
    let type_names: Option<Vec<String>> = req
        .q("issuetypeNames")
        .map(|k| k.split(',').map(|s| s.trim().to_lowercase()).collect());
    let type_ids: Option<Vec<String>> = req
        .q("issuetypeIds")
        .map(|k| k.split(',').map(|s| s.trim().to_string()).collect());
    let with_fields = req
        .q("expand")
        .is_some_and(|e| e.contains("projects.issuetypes.fields"));
    let projects: Vec<Value> = st
        .projects
        .iter()
        .filter(|p| {
            keys.as_ref().is_none_or(|k| k.contains(&p.key))
                && ids.as_ref().is_none_or(|i| i.contains(&p.id.to_string()))
        })
        .map(|p| {
            let types: Vec<Value> = ISSUE_TYPES
                .iter()
                .filter(|t| {
                    type_names
                        .as_ref()
                        .is_none_or(|n| n.contains(&t.name.to_lowercase()))
                })
                .filter(|t| {
                    type_ids
                        .as_ref()
                        .is_none_or(|n| n.contains(&t.id.to_string()))
                })
                .map(|t| {
                    let mut x = v.issue_type(t);
                    x["expand"] = json!("fields");
                    if with_fields {
                        x["fields"] = Value::Object(
                            v.create_fields(t)
                                .into_iter()
                                .map(|(d, r)| (d.id.to_string(), v.field_meta(d, r, p, false)))
                                .collect(),
                        );
                    }
                    x
                })
                .collect();
            json!({
                "self": format!("{}/project/{}", v.api(), p.id),
                "id": p.id.to_string(),
                "key": p.key,
                "name": p.name,
                "avatarUrls": v.avatars("project", 10424),
                "issuetypes": types,
                "expand": "issuetypes",
            })
        })
        .collect();
    Resp::ok(&json!({"expand": "projects", "projects": projects}))
}

fn page(st: &State, req: &Req, items: Vec<Value>, cloud_key: &str) -> Result<Value, Resp> {
    let start = req.q_usize("startAt", 0)?;
    let max = req.q_usize("maxResults", 50)?;
    let total = items.len();
    let slice: Vec<Value> = items.into_iter().skip(start).take(max).collect();
    Ok(if st.deployment == Deployment::Cloud {
        json!({"maxResults": max, "startAt": start, "total": total, cloud_key: slice})
    } else {
        json!({"maxResults": max, "startAt": start, "total": total, "isLast": start + slice.len() >= total, "values": slice})
    })
}

fn createmeta_types(sh: &Shared, req: &Req, v3: bool, p: &str) -> Result<Resp, Resp> {
    let st = sh.read();
    let v = View::new(&st, &sh.base_url, v3);
    st.project(p)
        .ok_or_else(|| Resp::not_found(&format!("No project could be found with key '{p}'.")))?;
    let items: Vec<Value> = ISSUE_TYPES.iter().map(|t| v.issue_type(t)).collect();
    Ok(Resp::ok(&page(&st, req, items, "issueTypes")?))
}

fn createmeta_fields(sh: &Shared, req: &Req, v3: bool, p: &str, t: &str) -> Result<Resp, Resp> {
    let st = sh.read();
    let v = View::new(&st, &sh.base_url, v3);
    let project = st
        .project(p)
        .ok_or_else(|| Resp::not_found(&format!("No project could be found with key '{p}'.")))?;
    let ty = super::model::issue_type(t)
        .ok_or_else(|| Resp::not_found(&format!("Issue type with id '{t}' does not exist.")))?;
    let items: Vec<Value> = v
        .create_fields(ty)
        .into_iter()
        .map(|(d, r)| v.field_meta(d, r, project, true))
        .collect();
    Ok(Resp::ok(&page(&st, req, items, "fields")?))
}

// ---------------------------------------------------------------------------------------------
// Admin webhooks (`/rest/webhooks/1.0/webhook`).

pub fn register_cli_webhook(sh: &Shared, hook: &SimWebhook) {
    if let Err(e) = sh
        .hooks
        .register(Webhook::for_all_events(&hook.url, hook.secret.clone()))
    {
        tracing::warn!(error = %e, url = %hook.url, "simulator could not register webhook");
    }
}

fn webhook_error(e: WebhookError) -> Resp {
    match e {
        WebhookError::NotFound(_) => Resp::not_found(&e.to_string()),
        WebhookError::InvalidJql(_) => {
            Resp::field_errors(Map::from_iter([("filters".into(), json!(e.to_string()))]))
        }
        WebhookError::InvalidUrl(_) => {
            Resp::field_errors(Map::from_iter([("url".into(), json!(e.to_string()))]))
        }
    }
}

fn webhook_admin(sh: &Shared, req: &Req, rest: &[&str]) -> Resp {
    let user = req
        .user
        .as_ref()
        .map(|u| u.login.clone())
        .unwrap_or_default();
    let to_json =
        |h: &Webhook| serde_json::to_value(h.to_response(&sh.base_url)).unwrap_or(Value::Null);
    let parse = || -> Result<WebhookRequest, Resp> {
        let b = req.json()?;
        serde_json::from_value(b)
            .map_err(|e| Resp::error(400, &[&format!("Invalid webhook: {e}")], Map::new()))
    };
    let id = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| Resp::not_found(&format!("webhook {s} does not exist")))
    };
    let r: Result<Resp, Resp> = match (req.method.as_str(), rest) {
        ("GET", []) => Ok(Resp::ok(&Value::Array(
            sh.hooks.list().iter().map(to_json).collect(),
        ))),
        ("POST", []) => parse().and_then(|w| {
            sh.hooks
                .register(Webhook::from_request(w, &user))
                .map(|h| Resp::json(201, &to_json(&h)))
                .map_err(webhook_error)
        }),
        ("GET", [i]) => id(i).and_then(|i| {
            sh.hooks
                .get(i)
                .map(|h| Resp::ok(&to_json(&h)))
                .ok_or_else(|| webhook_error(WebhookError::NotFound(i)))
        }),
        ("PUT", [i]) => id(i).and_then(|i| {
            let w = parse()?;
            sh.hooks
                .update(i, Webhook::from_request(w, &user))
                .map(|h| Resp::ok(&to_json(&h)))
                .map_err(webhook_error)
        }),
        ("DELETE", [i]) => id(i).and_then(|i| {
            sh.hooks
                .delete(i)
                .map(|_| Resp::no_content())
                .map_err(webhook_error)
        }),
        _ => Err(no_resource()),
    };
    r.unwrap_or_else(|e| e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_jira_working_days() {
        assert_eq!(parse_duration("1h 30m"), Some(5400));
        assert_eq!(parse_duration("1d"), Some(8 * 3600));
        assert_eq!(parse_duration("1w"), Some(40 * 3600));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        assert_eq!(decode_token(&encode_token(300)), Some(300));
        assert_eq!(decode_token("not-a-token"), None);
    }
}
