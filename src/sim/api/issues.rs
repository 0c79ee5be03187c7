//! The issue endpoints: create, get, edit, transition and delete, with Jira's hierarchy rules,
//! plus the `*_as_admin` entry points the simulator's own API (`tandem demo`, tests) drives
//! them through. Each write fires its webhook events here; edit and transition also record
//! their changelog group.

use chrono::Utc;
use serde_json::{json, Map, Value};

use crate::sim::events::{self, IssueView};
use crate::sim::model::*;
use crate::sim::render::{FieldSel, View};
use crate::sim::server::{Req, Resp};
use crate::sim::Shared;

use super::changelog::diff;
use super::comments::add_comment_locked;
use super::fields::{apply_updates, rich_text, set_field};
use super::render_cache::{full_issues_json, wants_full_form};
use super::{admin, err, with_issue, Errors};

/// Data Center's Epic Name field (`gh-epic-label`).
const EPIC_NAME_FIELD: &str = "customfield_10102";

/// Jira's message for a field the operation's screen does not have.
fn not_on_screen(id: &str) -> String {
    format!("Field '{id}' cannot be set. It is not on the appropriate screen, or unknown.")
}

pub fn create_issue_as_admin(sh: &Shared, body: &Value) -> Result<Value, Resp> {
    let user = admin(&sh.read()).ok_or_else(|| Resp::forbidden("no administrator"))?;
    create_issue(sh, &user, false, body)
}

pub(super) fn create_issue(
    sh: &Shared,
    user: &User,
    v3: bool,
    body: &Value,
) -> Result<Value, Resp> {
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
    let on_screen = |issue: &Issue, id: &str, op: ScreenOp| {
        st.on_screen(issue.project_id, &issue.issue_type, id, op)
    };
    for (id, v) in fields {
        if id == "project" || id == "issuetype" {
            continue;
        }
        if !on_screen(&issue, id, ScreenOp::Create) {
            err(&mut errors, id, not_on_screen(id));
            continue;
        }
        if let Err(e) = set_field(&st, &sh.base_url, &mut issue, id, v, v3, false) {
            err(&mut errors, id, e);
        }
    }
    // Entity properties set with the create (`properties: [{key, value}]`).
    for p in body
        .get("properties")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match p.get("key").and_then(Value::as_str) {
            Some(k) => {
                let value = p.get("value").cloned().unwrap_or(Value::Null);
                super::properties::check(k, &value)?;
                issue.properties.insert(k.to_owned(), value);
            }
            None => err(&mut errors, "properties", "A property needs a key."),
        }
    }
    if let Some(update) = body.get("update").and_then(Value::as_object) {
        for id in update.keys() {
            if id != "comment" && !on_screen(&issue, id, ScreenOp::Create) {
                err(&mut errors, id, not_on_screen(id));
            }
        }
        apply_updates(&st, &sh.base_url, &mut issue, update, v3, &mut errors);
    }
    if let Some(t) = st.issue_type(&issue.issue_type) {
        check_hierarchy(&st, &issue, t, &mut errors);
        // Data Center 8 and 9 require Epic Name on every Epic (the field is gone in 10).
        let epic_name = EPIC_NAME_FIELD;
        if st.deployment == Deployment::DataCenter
            && t.name == "Epic"
            && st.field(epic_name).is_some()
            && issue
                .custom
                .get(epic_name)
                .and_then(Value::as_str)
                .is_none_or(|n| n.trim().is_empty())
        {
            err(&mut errors, epic_name, "Epic Name is required.");
        }
        for id in st.required_fields.get(t.id).into_iter().flatten() {
            let given = match issue.custom.get(id.as_str()) {
                Some(Value::Null) | None => false,
                Some(Value::String(s)) => !s.trim().is_empty(),
                Some(Value::Array(a)) => !a.is_empty(),
                Some(_) => true,
            };
            if !given && !errors.contains_key(id.as_str()) {
                let name = st.field(id).map_or(id.as_str(), |d| d.name);
                err(&mut errors, id, format!("{name} is required."));
            }
        }
    }
    if !errors.is_empty() {
        return Err(Resp::field_errors(errors));
    }
    issue.status = st.workflow_of(&issue).initial().to_string();
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
        .and_then(|p| st.issue_type(&p.issue_type))
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

pub(super) fn get_issue(sh: &Shared, req: &Req, v3: bool, key: &str) -> Result<Resp, Resp> {
    let resp = get_issue_fields(sh, req, v3, key)?;
    // Entity properties come only when asked for (`properties=key1,key2` or `*all`).
    let Some(wanted) = req.q_list("properties") else {
        return Ok(resp);
    };
    let mut body: Value = resp
        .body
        .as_deref()
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(Value::Null);
    let st = sh.read();
    if let (Some(i), Some(obj)) = (st.issue(key), body.as_object_mut()) {
        obj.insert(
            "properties".into(),
            super::properties::of_issue(&i.properties, &wanted),
        );
    }
    Ok(Resp::ok(&body))
}

fn get_issue_fields(sh: &Shared, req: &Req, v3: bool, key: &str) -> Result<Resp, Resp> {
    let expand = req.q_list("expand").unwrap_or_default();
    let expand = expand.as_str();
    let fields = req.q_list("fields");
    if wants_full_form(fields.as_deref(), true, expand) {
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
    let sel = FieldSel::parse(fields.as_deref(), true);
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

pub(super) fn edit_issue(
    sh: &Shared,
    user: &User,
    v3: bool,
    key: &str,
    body: &Value,
) -> Result<Resp, Resp> {
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
            if !st.on_screen(issue.project_id, &issue.issue_type, f, ScreenOp::Edit) {
                err(&mut errors, f, not_on_screen(f));
                continue;
            }
            if let Err(e) = set_field(&st, &sh.base_url, &mut issue, f, v, v3, false) {
                err(&mut errors, f, e);
            }
            touched.push(f.clone());
        }
    }
    let mut comment = None;
    if let Some(update) = body.get("update").and_then(Value::as_object) {
        for f in update.keys() {
            if f != "comment"
                && !st.on_screen(issue.project_id, &issue.issue_type, f, ScreenOp::Edit)
            {
                err(&mut errors, f, not_on_screen(f));
            }
        }
        apply_updates(&st, &sh.base_url, &mut issue, update, v3, &mut errors);
        touched.extend(update.keys().filter(|k| *k != "comment").cloned());
        if let Some(c) = update
            .get("comment")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            match rich_text(&c["add"]["body"], v3) {
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
    if let Some(t) = st.issue_type(&issue.issue_type) {
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
            if st.field(&f).is_some_and(|d| d.kind == FieldKind::EpicLink) {
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

pub(super) fn delete_issue(
    sh: &Shared,
    user: &User,
    key: &str,
    subtasks: bool,
) -> Result<Resp, Resp> {
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
        .filter(|c| c.parent == Some(id) && st.is_subtask(c))
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
    let found = {
        let st = sh.read();
        st.issue(key).and_then(|i| {
            st.available_transitions(i, None).into_iter().find(|t| {
                st.status(t.to)
                    .is_some_and(|s| s.name.eq_ignore_ascii_case(status_name))
            })
        })
    };
    let t = found.ok_or_else(|| {
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
    // The simulator's own control acts as an administrator who passes every condition.
    transition_inner(sh, &user, false, key, &body, false).map(|_| ())
}

pub(super) fn transition(
    sh: &Shared,
    user: &User,
    v3: bool,
    key: &str,
    body: &Value,
) -> Result<Resp, Resp> {
    transition_inner(sh, user, v3, key, body, true)
}

fn transition_inner(
    sh: &Shared,
    user: &User,
    v3: bool,
    key: &str,
    body: &Value,
    conditions: bool,
) -> Result<Resp, Resp> {
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
    let named = |t: &&TransitionDef| {
        Some(t.id) == tid.as_deref() || tname.is_some_and(|n| n.eq_ignore_ascii_case(t.name))
    };
    let who = conditions.then_some(user.id.as_str());
    let t = st
        .available_transitions(&before, who)
        .into_iter()
        .find(named)
        .ok_or_else(|| {
            // A transition of the workflow that this issue's status or a condition does not
            // offer: Data Center names the action and the issue, Cloud only the id.
            let all = st.workflow_transitions(before.project_id);
            let known = all.into_iter().find(named);
            let msg = match (st.deployment, known) {
                (Deployment::DataCenter, Some(k)) => format!(
                    "It seems that you have tried to perform a workflow operation ({}) that is \
                     not valid for the current state of this issue ({}). The likely cause is \
                     that somebody has changed the issue recently, please look at the issue \
                     history for details.",
                    k.name, before.key
                ),
                _ => format!(
                    "Transition id '{}' is not valid for this issue.",
                    tid.clone().unwrap_or_default()
                ),
            };
            Resp::error(400, &[&msg], Map::new())
        })?;
    let mut issue = before.clone();
    let mut errors = Errors::new();
    let mut touched = vec!["status".to_string(), "resolution".to_string()];
    if let Some(fields) = body.get("fields").and_then(Value::as_object) {
        for (f, v) in fields {
            let allowed = f == "resolution" || st.field(f).is_some_and(|d| d.on_screens);
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
        match rich_text(c, v3) {
            Ok(Some(b)) => comment = Some(b),
            _ => err(&mut errors, "comment", "Comment body can not be empty!"),
        }
    }
    if !errors.is_empty() {
        return Err(Resp::field_errors(errors));
    }
    let now = Utc::now();
    issue.status = t.to.to_string();
    let done = st.status(t.to).is_some_and(|s| s.category == 3);
    if t.requires_resolution {
        issue.resolution_date = Some(now);
    } else if done {
        // Resolved → Closed keeps the resolution and its date.
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
