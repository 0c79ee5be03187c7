//! Jira Software's Agile 1.0 API: boards, board configuration, sprints and their lifecycle,
//! moving issues between sprints and the backlog.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::api::diff;
use super::events::{self, IssueView};
use super::model::*;
use super::render::{FieldSel, View};
use super::server::{Req, Resp};
use super::Shared;

/// Jira refuses to move more issues than this in one call.
const MAX_MOVE: usize = 50;

pub fn route(sh: &Shared, req: &Req, rest: &[&str]) -> Resp {
    let r = match (req.method.as_str(), rest) {
        ("POST", ["board"]) => super::agile_board::create_board(sh, req),
        ("GET", ["board"]) => boards(sh, req),
        ("GET", ["board", id]) => with_board(sh, id, |v, b| Ok(Resp::ok(&v.board(b)))),
        ("GET", ["board", id, "configuration"]) => {
            with_board(sh, id, |v, b| Ok(Resp::ok(&v.board_configuration(b))))
        }
        ("GET", ["board", id, "sprint"]) => with_board(sh, id, |v, b| {
            let states: Option<Vec<String>> = req
                .q("state")
                .map(|s| s.split(',').map(|x| x.trim().to_lowercase()).collect());
            let list: Vec<Value> =
                v.st.sprints
                    .values()
                    .filter(|s| s.board_id == b.id)
                    .filter(|s| {
                        states
                            .as_ref()
                            .is_none_or(|st| st.iter().any(|x| x == s.state.as_str()))
                    })
                    .map(|s| v.sprint(s))
                    .collect();
            let start = req.q_usize("startAt", 0)?;
            let max = req.q_usize("maxResults", 50)?;
            let total = list.len();
            let values: Vec<Value> = list.into_iter().skip(start).take(max).collect();
            Ok(Resp::ok(
                &json!({"maxResults": max, "startAt": start, "isLast": start + values.len() >= total, "values": values}),
            ))
        }),
        ("GET", ["board", id, "backlog"]) => with_board(sh, id, |v, b| {
            issue_page(v, req, |i| {
                i.project_id == b.project_id && !in_open_sprint(v.st, i)
            })
        }),
        ("GET", ["board", id, "issue"]) => with_board(sh, id, |v, b| {
            issue_page(v, req, |i| i.project_id == b.project_id)
        }),
        ("POST", ["sprint"]) => req.json().and_then(|b| create_sprint(sh, &b)),
        ("GET", ["sprint", id]) => with_sprint(sh, id, |v, s| Ok(Resp::ok(&v.sprint(s)))),
        ("PUT", ["sprint", id]) => req.json().and_then(|b| update_sprint(sh, id, &b, false)),
        ("POST", ["sprint", id]) => req.json().and_then(|b| update_sprint(sh, id, &b, true)),
        ("DELETE", ["sprint", id]) => delete_sprint(sh, id),
        ("GET", ["sprint", id, "issue"]) => with_sprint(sh, id, |v, s| {
            issue_page(v, req, |i| i.sprints.contains(&s.id))
        }),
        ("POST", ["sprint", id, "issue"]) => {
            req.json().and_then(|b| move_issues(sh, req, &b, Some(id)))
        }
        ("POST", ["backlog", "issue"]) => req.json().and_then(|b| move_issues(sh, req, &b, None)),
        ("GET", ["issue", key]) => {
            let st = sh.read();
            let v = View::new(&st, &sh.base_url, false);
            st.issue(key)
                .map(|i| {
                    Resp::ok(&v.issue(
                        i,
                        &FieldSel::parse(req.q_list("fields").as_deref(), true),
                        &req.q_list("expand").unwrap_or_default(),
                    ))
                })
                .ok_or_else(Resp::issue_not_found)
        }
        _ => Err(Resp::not_found("No resource found for this path.")),
    };
    r.unwrap_or_else(|e| e)
}

fn board_not_found() -> Resp {
    Resp::not_found("The requested board cannot be viewed because it either does not exist or you do not have permission to view it.")
}

fn sprint_not_found(id: &str) -> Resp {
    Resp::not_found(&format!(
        "Sprint with id {id} does not exist or you do not have permission to see it."
    ))
}

fn with_board<F>(sh: &Shared, id: &str, f: F) -> Result<Resp, Resp>
where
    F: FnOnce(&View<'_>, &Board) -> Result<Resp, Resp>,
{
    let st = sh.read();
    let v = View::new(&st, &sh.base_url, false);
    let b = id
        .parse::<u64>()
        .ok()
        .and_then(|id| st.board(id))
        .ok_or_else(board_not_found)?;
    f(&v, b)
}

fn with_sprint<F>(sh: &Shared, id: &str, f: F) -> Result<Resp, Resp>
where
    F: FnOnce(&View<'_>, &Sprint) -> Result<Resp, Resp>,
{
    let st = sh.read();
    let v = View::new(&st, &sh.base_url, false);
    let s = id
        .parse::<u64>()
        .ok()
        .and_then(|id| st.sprints.get(&id))
        .ok_or_else(|| sprint_not_found(id))?;
    f(&v, s)
}

fn boards(sh: &Shared, req: &Req) -> Result<Resp, Resp> {
    let st = sh.read();
    let v = View::new(&st, &sh.base_url, false);
    let project = req.q("projectKeyOrId").map(|p| st.project(p).map(|p| p.id));
    if let Some(None) = project {
        return Err(Resp::error(
            400,
            &[&format!(
                "No project could be found with key '{}'.",
                req.q("projectKeyOrId").unwrap_or_default()
            )],
            Map::new(),
        ));
    }
    let name = req.q("name").map(str::to_lowercase);
    let list: Vec<Value> = st
        .boards
        .iter()
        .filter(|b| project.flatten().is_none_or(|p| b.project_id == p))
        .filter(|b| {
            name.as_ref()
                .is_none_or(|n| b.name.to_lowercase().contains(n))
        })
        .filter(|_| req.q("type").is_none_or(|t| t == "scrum"))
        .map(|b| v.board(b))
        .collect();
    let start = req.q_usize("startAt", 0)?;
    let max = req.q_usize("maxResults", 50)?;
    let total = list.len();
    let values: Vec<Value> = list.into_iter().skip(start).take(max).collect();
    Ok(Resp::ok(
        &json!({"maxResults": max, "startAt": start, "total": total, "isLast": start + values.len() >= total, "values": values}),
    ))
}

fn in_open_sprint(st: &State, i: &Issue) -> bool {
    i.sprints.iter().any(|id| {
        st.sprints
            .get(id)
            .is_some_and(|s| s.state != SprintState::Closed)
    })
}

fn issue_page(v: &View<'_>, req: &Req, pred: impl Fn(&Issue) -> bool) -> Result<Resp, Resp> {
    let start = req.q_usize("startAt", 0)?;
    let max = req.q_usize("maxResults", 50)?.min(1000);
    let sel = FieldSel::parse(req.q_list("fields").as_deref(), true);
    let expand = req.q_list("expand").unwrap_or_default();
    let expand = expand.as_str();
    let hits: Vec<&Issue> = v.st.issues.values().filter(|i| pred(i)).collect();
    let issues: Vec<Value> = hits
        .iter()
        .skip(start)
        .take(max)
        .map(|i| v.issue(i, &sel, expand))
        .collect();
    Ok(Resp::ok(
        &json!({"expand": "schema,names", "startAt": start, "maxResults": max, "total": hits.len(), "issues": issues}),
    ))
}

fn parse_date(v: &Value, field: &str) -> Result<Option<DateTime<Utc>>, Resp> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3f%z"))
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|_| {
                Resp::field_errors(Map::from_iter([(
                    field.to_string(),
                    json!(format!("Invalid date format: {s}")),
                )]))
            }),
        _ => Err(Resp::field_errors(Map::from_iter([(
            field.to_string(),
            json!("Invalid date format."),
        )]))),
    }
}

fn create_sprint(sh: &Shared, body: &Value) -> Result<Resp, Resp> {
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let Some(name) = name else {
        return Err(Resp::field_errors(Map::from_iter([(
            "name".into(),
            json!("Sprint name is required."),
        )])));
    };
    if name.chars().count() > 30 {
        return Err(Resp::field_errors(Map::from_iter([(
            "name".into(),
            json!("Sprint name must not exceed 30 characters."),
        )])));
    }
    let board = body.get("originBoardId").and_then(Value::as_u64);
    let mut st = sh.write();
    let board = board
        .and_then(|b| st.board(b))
        .map(|b| b.id)
        .ok_or_else(|| {
            Resp::field_errors(Map::from_iter([(
                "originBoardId".into(),
                json!("Board does not exist or you do not have permission to see it."),
            )]))
        })?;
    let start = parse_date(body.get("startDate").unwrap_or(&Value::Null), "startDate")?;
    let end = parse_date(body.get("endDate").unwrap_or(&Value::Null), "endDate")?;
    st.counters.sprint += 1;
    let sprint = Sprint {
        id: st.counters.sprint,
        name: name.to_string(),
        state: SprintState::Future,
        board_id: board,
        goal: body
            .get("goal")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        start_date: start,
        end_date: end,
        complete_date: None,
        created_date: Utc::now(),
    };
    st.sprints.insert(sprint.id, sprint.clone());
    st.touch();
    sh.fire(
        "sprint_created",
        events::sprint_event(&st, &sh.base_url, "sprint_created", &sprint, None),
        None,
    );
    let v = View::new(&st, &sh.base_url, false);
    Ok(Resp::json(201, &v.sprint(&sprint)))
}

fn update_sprint(sh: &Shared, id: &str, body: &Value, partial: bool) -> Result<Resp, Resp> {
    let mut st = sh.write();
    let sid = id
        .parse::<u64>()
        .ok()
        .filter(|i| st.sprints.contains_key(i))
        .ok_or_else(|| sprint_not_found(id))?;
    let before = st
        .sprints
        .get(&sid)
        .cloned()
        .ok_or_else(|| sprint_not_found(id))?;
    let mut s = before.clone();
    if let Some(n) = body.get("name").and_then(Value::as_str) {
        s.name = n.to_string();
    } else if !partial {
        return Err(Resp::field_errors(Map::from_iter([(
            "name".into(),
            json!("Sprint name is required."),
        )])));
    }
    if let Some(g) = body.get("goal").and_then(Value::as_str) {
        s.goal = g.to_string();
    }
    if let Some(v) = body.get("startDate") {
        s.start_date = parse_date(v, "startDate")?;
    }
    if let Some(v) = body.get("endDate") {
        s.end_date = parse_date(v, "endDate")?;
    }
    let now = Utc::now();
    let mut event = "sprint_updated";
    if let Some(state) = body.get("state").and_then(Value::as_str) {
        let new = match state.to_lowercase().as_str() {
            "future" => SprintState::Future,
            "active" => SprintState::Active,
            "closed" => SprintState::Closed,
            _ => {
                return Err(Resp::field_errors(Map::from_iter([(
                    "state".into(),
                    json!(format!("Invalid sprint state: {state}")),
                )])))
            }
        };
        match (before.state, new) {
            (a, b) if a == b => {}
            (SprintState::Future, SprintState::Active) => {
                if s.start_date.is_none() || s.end_date.is_none() {
                    return Err(Resp::error(
                        400,
                        &["The sprint must have a start and end date to be started."],
                        Map::new(),
                    ));
                }
                event = "sprint_started";
            }
            (SprintState::Active, SprintState::Closed) => {
                s.complete_date = Some(now);
                event = "sprint_closed";
            }
            (from, to) => {
                return Err(Resp::error(
                    400,
                    &[&format!(
                        "A sprint cannot go from {} to {}.",
                        from.as_str(),
                        to.as_str()
                    )],
                    Map::new(),
                ))
            }
        }
        s.state = new;
    } else if before.state == SprintState::Closed {
        return Err(Resp::error(
            400,
            &["A closed sprint cannot be updated."],
            Map::new(),
        ));
    }
    if let (Some(a), Some(b)) = (s.start_date, s.end_date) {
        if b < a {
            return Err(Resp::field_errors(Map::from_iter([(
                "endDate".into(),
                json!("The end date must be after the start date."),
            )])));
        }
    }
    st.sprints.insert(sid, s.clone());
    st.touch();
    sh.fire(
        event,
        events::sprint_event(&st, &sh.base_url, event, &s, Some(&before)),
        None,
    );
    let v = View::new(&st, &sh.base_url, false);
    Ok(Resp::ok(&v.sprint(&s)))
}

fn delete_sprint(sh: &Shared, id: &str) -> Result<Resp, Resp> {
    let mut st = sh.write();
    let sid = id
        .parse::<u64>()
        .ok()
        .filter(|i| st.sprints.contains_key(i))
        .ok_or_else(|| sprint_not_found(id))?;
    let s = st
        .sprints
        .remove(&sid)
        .ok_or_else(|| sprint_not_found(id))?;
    for i in st.issues.values_mut() {
        i.sprints.retain(|x| *x != sid);
    }
    st.touch();
    sh.fire(
        "sprint_deleted",
        events::sprint_event(&st, &sh.base_url, "sprint_deleted", &s, None),
        None,
    );
    Ok(Resp::no_content())
}

/// Moves issues into a sprint (`Some`) or the backlog (`None`), firing an issue update per
/// moved issue as Jira does.
fn move_issues(sh: &Shared, req: &Req, body: &Value, sprint: Option<&str>) -> Result<Resp, Resp> {
    let user = req.user()?.clone();
    let keys: Vec<String> = body
        .get("issues")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| {
                    x.as_str()
                        .map(String::from)
                        .or_else(|| x.as_u64().map(|n| n.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    if keys.is_empty() {
        return Err(Resp::field_errors(Map::from_iter([(
            "issues".into(),
            json!("At least one issue must be given."),
        )])));
    }
    if keys.len() > MAX_MOVE {
        return Err(Resp::error(
            400,
            &[&format!("You can move at most {MAX_MOVE} issues at once.")],
            Map::new(),
        ));
    }
    let mut st = sh.write();
    let target = match sprint {
        None => None,
        Some(id) => {
            let s = id
                .parse::<u64>()
                .ok()
                .and_then(|i| st.sprints.get(&i))
                .ok_or_else(|| sprint_not_found(id))?;
            if s.state == SprintState::Closed {
                return Err(Resp::error(
                    400,
                    &["Issues cannot be moved to a closed sprint."],
                    Map::new(),
                ));
            }
            Some(s.id)
        }
    };
    let mut ids = Vec::new();
    for k in &keys {
        let id = st.issue_id(k).ok_or_else(|| {
            Resp::error(
                400,
                &[&format!(
                    "Issue does not exist or you do not have permission to see it: {k}"
                )],
                Map::new(),
            )
        })?;
        if st.issues.get(&id).is_some_and(|i| st.is_subtask(i)) {
            return Err(Resp::error(
                400,
                &[&format!(
                    "Sub-tasks move with their parent; {k} cannot be moved on its own."
                )],
                Map::new(),
            ));
        }
        ids.push(id);
    }
    let sprint_field = st.deployment.sprint_field().to_string();
    let now = Utc::now();
    for id in ids {
        let Some(before) = st.issues.get(&id).cloned() else {
            continue;
        };
        let mut issue = before.clone();
        issue.sprints.retain(|s| {
            st.sprints
                .get(s)
                .is_some_and(|x| x.state == SprintState::Closed)
        });
        if let Some(t) = target {
            issue.sprints.push(t);
        }
        let items = diff(&st, &before, &issue, std::slice::from_ref(&sprint_field));
        if items.is_empty() {
            continue;
        }
        issue.updated = now;
        let group = st.change_group(&user.id, now, items);
        issue.changelog.push(group.clone());
        st.issues.insert(id, issue);
        st.touch_issues(&[id]);
        if let Some(i) = st.issues.get(&id) {
            let body = events::issue_updated(&st, &sh.base_url, "issue_updated", i, &user, &group);
            sh.fire(
                "jira:issue_updated",
                body,
                Some(&IssueView { st: &st, issue: i }),
            );
        }
    }
    Ok(Resp::no_content())
}
