//! Routing and the REST v2/v3 endpoints. This file holds the router (`route`, and
//! `rest_api_inner`, the dispatch table from method and path to handler), the small read-only
//! endpoints answered inline in that table (fields, issue types, statuses, priorities,
//! projects, users...) and the helpers every handler shares. Each other concept has its own
//! file below: `issues`, `fields` (values in create/edit bodies), `changelog`, `render_cache`,
//! `comments`, `worklogs`, `links`, `versions`, `components`, `search`, `createmeta`,
//! `server_info`, `permissions`, `admin_hooks` and `catalogue` (issue types, fields and
//! statuses an administrator creates).

mod admin_hooks;
mod catalogue;
mod changelog;
mod comments;
mod components;
mod createmeta;
mod fields;
mod issues;
mod links;
mod permissions;
mod project;
mod properties;
mod render_cache;
mod search;
mod server_info;
mod versions;
mod worklogs;

use std::sync::Arc;

use hyper::Method;
use serde_json::{json, Map, Value};

use crate::sim::model::*;
use crate::sim::render::View;
use crate::sim::server::{Req, Resp};
use crate::sim::{agile, Shared};

use admin_hooks::webhook_admin;
use comments::{add_comment, delete_comment, update_comment};
use components::create_component;
use createmeta::{createmeta_fields, createmeta_legacy, createmeta_types};
use issues::{create_issue, delete_issue, edit_issue, get_issue, transition};
use links::{create_link, delete_link};
use permissions::my_permissions;
use search::{approximate_count, bulk_fetch, search_cloud, search_dc};
use server_info::server_info;
use versions::{create_version, delete_version, update_version, version_get};
use worklogs::{add_worklog, delete_worklog, update_worklog};

pub use admin_hooks::register_cli_webhook;
pub(super) use changelog::diff;
pub use issues::{
    create_issue_as_admin, delete_issue_as_admin, edit_issue_as_admin, render_issue_v2,
    transition_as_admin,
};
pub use search::search_keys;

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
            Value::Array(v.st.fields().map(|d| v.field(d)).collect())
        }))),
        ("GET", ["issuetype"]) => Ok(Resp::ok(&view(sh, v3, |v| {
            // Every type a project uses: team-managed projects add their own.
            let team = v.st.projects.iter().any(|p| p.team_managed);
            let extra = if team { TEAM_ISSUE_TYPES } else { &[] };
            Value::Array(
                v.st.issue_types()
                    .chain(extra)
                    .map(|t| v.issue_type(t))
                    .collect(),
            )
        }))),
        ("GET", ["status"]) => Ok(Resp::ok(&view(sh, v3, |v| {
            Value::Array(v.st.all_statuses().map(|s| v.status(s)).collect())
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
        ("POST", ["project"]) => project::create_project(sh, req, v3),
        ("POST", ["issuetype"]) => catalogue::create_issue_type(sh, req, v3),
        ("POST", ["field"]) => catalogue::create_field(sh, req, v3),
        ("POST", ["statuses"]) => catalogue::create_statuses(sh, req),
        ("GET", ["project"]) => Ok(Resp::ok(&view(sh, v3, |v| {
            Value::Array(v.st.projects.iter().map(|p| v.project_full(p)).collect())
        }))),
        ("GET", ["project", "search"]) => Ok(Resp::ok(&view(sh, v3, |v| {
            let list: Vec<Value> = v.st.projects.iter().map(|p| v.project_full(p)).collect();
            json!({"self": format!("{}/project/search", v.api()), "maxResults": 50, "startAt": 0, "total": list.len(), "isLast": true, "values": list})
        }))),
        ("GET", ["project", key]) => project_get(sh, v3, key, |v, p| v.project_full(p)),
        ("GET", ["project", key, "statuses"]) => project_get(sh, v3, key, |v, p| {
            Value::Array(
                v.st.project_issue_types(p)
                    .into_iter()
                    .map(|t| {
                        json!({
                            "self": format!("{}/issuetype/{}", v.api(), t.id),
                            "id": t.id,
                            "name": t.name,
                            "subtask": t.subtask(),
                            "statuses": v.st.workflow_statuses(p).into_iter().map(|s| v.status(s)).collect::<Vec<_>>(),
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
        ("GET", ["issue", key, "properties"]) => properties::list(sh, key),
        ("GET", ["issue", key, "properties", p]) => properties::get(sh, key, p),
        ("PUT", ["issue", key, "properties", p]) => properties::put(sh, req, key, p),
        ("DELETE", ["issue", key, "properties", p]) => properties::delete(sh, key, p),
        ("GET", ["issue", key, "changelog"]) => with_issue(sh, v3, key, |v, i| {
            let list: Vec<Value> = i.changelog.iter().map(|g| v.change_group(g)).collect();
            json!({"self": format!("{}/issue/{}/changelog", v.api(), i.key), "maxResults": 100, "startAt": 0, "total": list.len(), "isLast": true, "values": list})
        }),
        ("GET", ["issue", key, "transitions"]) => {
            let with_fields = req
                .q("expand")
                .is_some_and(|e| e.contains("transitions.fields"));
            let user = req.user()?.id.clone();
            with_issue(
                sh,
                v3,
                key,
                |v, i| json!({"expand": "transitions", "transitions": v.transitions(i, with_fields, Some(&user))}),
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
        .and_then(|r| null_is_404(r, &format!("Can not find a comment for the id: {id}."))),
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
        ("POST", ["issue", "bulkfetch"]) => {
            if sh.read().deployment == Deployment::Cloud {
                bulk_fetch(sh, req, v3)
            } else {
                Err(no_resource())
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

/// The first administrator, whom the simulator's own API acts as.
pub(in crate::sim) fn admin(st: &State) -> Option<User> {
    st.users.iter().find(|u| u.admin).cloned()
}
