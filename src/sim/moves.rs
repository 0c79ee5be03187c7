//! What a person does in Jira's UI that the REST API does not offer tandem: creating another
//! project and moving issues between projects. A moved issue keeps its id, gets the next key
//! of its new project (the old key keeps resolving, as in Jira), loses the fix versions and
//! components of its old project, takes its sub-tasks along, and fires `jira:issue_updated`
//! with `issue_event_type_name: issue_moved` and `project` and `Key` changelog items, the
//! shape of a webhook Jira Cloud sent (reference `jira-webhooks/*issue_updated.project.json`).

use chrono::Utc;
use serde_json::Map;

use super::api::admin;
use super::events::{self, IssueView};
use super::model::*;
use super::server::Resp;
use super::Shared;

/// Adds a project; its key must be new and look like a Jira key (`[A-Z][A-Z0-9]+`).
pub fn create_project(sh: &Shared, key: &str, name: &str, team_managed: bool) -> Result<(), Resp> {
    let mut st = sh.write();
    let valid = key.len() >= 2
        && key.starts_with(|c: char| c.is_ascii_uppercase())
        && key
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !valid || st.project(key).is_some() {
        let mut errors = Map::new();
        errors.insert(
            "projectKey".into(),
            format!("Project key {key:?} is invalid or already used.").into(),
        );
        return Err(Resp::field_errors(errors));
    }
    let lead = admin(&st).map(|u| u.id).unwrap_or_default();
    let id = st.projects.iter().map(|p| p.id).max().unwrap_or(9999) + 1;
    st.projects.push(Project {
        id,
        key: key.to_owned(),
        name: name.to_owned(),
        lead,
        issue_counter: 0,
        workflow: Workflow::default(),
        team_managed,
        added_statuses: Vec::new(),
    });
    st.touch();
    Ok(())
}

/// Switches project `key` to `workflow`; its issues take the matching status.
pub fn set_workflow(sh: &Shared, key: &str, workflow: Workflow) -> Result<(), Resp> {
    let mut st = sh.write();
    let project = st.project(key).map(|p| p.id).ok_or_else(|| {
        Resp::error(
            400,
            &[&format!("Project {key:?} does not exist.")],
            Map::new(),
        )
    })?;
    for p in st.projects.iter_mut().filter(|p| p.id == project) {
        p.workflow = workflow;
    }
    for i in st.issues.values_mut().filter(|i| i.project_id == project) {
        i.status = workflow.map_status(&i.status).to_owned();
    }
    st.touch();
    Ok(())
}

/// Moves `key` (and its sub-tasks) to project `to`; returns the new key.
pub fn move_issue(sh: &Shared, key: &str, to: &str) -> Result<String, Resp> {
    let mut st = sh.write();
    let user = admin(&st).ok_or_else(|| Resp::forbidden("no administrator"))?;
    let id = st.issue_id(key).ok_or_else(Resp::issue_not_found)?;
    let target = st.project(to).cloned().ok_or_else(|| {
        Resp::error(
            400,
            &[&format!("Project {to:?} does not exist.")],
            Map::new(),
        )
    })?;
    let issue = st
        .issues
        .get(&id)
        .cloned()
        .ok_or_else(Resp::issue_not_found)?;
    if issue.project_id == target.id {
        return Err(Resp::error(
            400,
            &["The issue is already in that project."],
            Map::new(),
        ));
    }
    if st.is_subtask(&issue) {
        return Err(Resp::error(
            400,
            &["Sub-tasks move with their parent."],
            Map::new(),
        ));
    }
    let subtasks: Vec<u64> = st
        .issues
        .values()
        .filter(|i| i.parent == Some(id) && st.is_subtask(i))
        .map(|i| i.id)
        .collect();
    let mut new_key = String::new();
    for moving in std::iter::once(id).chain(subtasks) {
        let k = move_one(sh, &mut st, &user, moving, &target);
        if moving == id {
            new_key = k;
        }
    }
    Ok(new_key)
}

fn move_one(sh: &Shared, st: &mut State, user: &User, id: u64, target: &Project) -> String {
    let Some(before) = st.issues.get(&id).cloned() else {
        return String::new();
    };
    let from = st.project_by_id(before.project_id).cloned();
    let number = match st.projects.iter_mut().find(|p| p.id == target.id) {
        Some(p) => {
            p.issue_counter += 1;
            p.issue_counter
        }
        None => return String::new(),
    };
    let new_key = format!("{}-{number}", target.key);
    let mut issue = before.clone();
    issue.key = new_key.clone();
    issue.project_id = target.id;
    // A workflow scheme migration: the status the new project's workflow has for it.
    issue.status = target.workflow.map_status(&issue.status).to_owned();
    // Versions and components belong to a project; Jira's move wizard clears them by default.
    issue.fix_versions.clear();
    issue.components.clear();
    let now = Utc::now();
    issue.updated = now;
    let mut items = vec![ChangeItem {
        field: "project".into(),
        fieldtype: "jira".into(),
        field_id: "project".into(),
        from: from.as_ref().map(|p| p.id.to_string()),
        from_string: from.as_ref().map(|p| p.name.clone()),
        to: Some(target.id.to_string()),
        to_string: Some(target.name.clone()),
    }];
    items.extend(super::api::diff(
        st,
        &before,
        &issue,
        &["fixVersions".into(), "components".into()],
    ));
    // Jira names the key change without a field id.
    items.push(ChangeItem {
        field: "Key".into(),
        fieldtype: "jira".into(),
        field_id: String::new(),
        from: None,
        from_string: Some(before.key.clone()),
        to: None,
        to_string: Some(new_key.clone()),
    });
    let group = st.change_group(&user.id, now, items);
    issue.changelog.push(group.clone());
    st.keys.insert(new_key.clone(), id);
    st.moved_keys.insert(before.key.clone(), id);
    st.issues.insert(id, issue);
    st.touch_issues(&[id]);
    if let Some(i) = st.issues.get(&id) {
        let body = events::issue_updated(st, &sh.base_url, "issue_moved", i, user, &group);
        sh.fire(
            "jira:issue_updated",
            body,
            Some(&IssueView { st, issue: i }),
        );
    }
    new_key
}
