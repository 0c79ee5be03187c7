//! Comment endpoints (add, update, delete) and `add_comment_locked`, which edit and transition
//! also use for a comment in their `update` body. Separate from issues because comments have
//! their own ids, permissions (author or admin) and webhook events.

use chrono::Utc;
use serde_json::{json, Map, Value};

use crate::sim::events::{self, IssueView};
use crate::sim::model::*;
use crate::sim::render::View;
use crate::sim::server::Resp;
use crate::sim::Shared;

use super::fields::rich_text;

pub(super) fn add_comment_locked(
    sh: &Shared,
    st: &mut State,
    user: &User,
    issue_id: u64,
    (body, body_adf): (String, Option<Value>),
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
        body_adf,
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

pub(super) fn add_comment(
    sh: &Shared,
    user: &User,
    v3: bool,
    key: &str,
    body: &Value,
) -> Result<Resp, Resp> {
    let text = match rich_text(body.get("body").unwrap_or(&Value::Null), v3) {
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

pub(super) fn update_comment(
    sh: &Shared,
    user: &User,
    v3: bool,
    key: &str,
    cid: &str,
    body: &Value,
) -> Result<Resp, Resp> {
    let text = match rich_text(body.get("body").unwrap_or(&Value::Null), v3) {
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
    (c.body, c.body_adf) = text;
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

pub(super) fn delete_comment(sh: &Shared, user: &User, key: &str, cid: &str) -> Result<Resp, Resp> {
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
