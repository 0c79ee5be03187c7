//! Worklog endpoints (add, update, delete) and Jira's duration syntax (`1w 2d 3h 30m`).
//! Separate from comments: worklogs have their own time rules and webhook events.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::sim::events::{self, IssueView};
use crate::sim::model::*;
use crate::sim::render::View;
use crate::sim::server::Resp;
use crate::sim::Shared;

use super::fields::long_text;

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

pub(super) fn add_worklog(
    sh: &Shared,
    user: &User,
    v3: bool,
    key: &str,
    body: &Value,
) -> Result<Resp, Resp> {
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

pub(super) fn update_worklog(
    sh: &Shared,
    v3: bool,
    key: &str,
    wid: &str,
    body: &Value,
) -> Result<Resp, Resp> {
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

pub(super) fn delete_worklog(sh: &Shared, key: &str, wid: &str) -> Result<Resp, Resp> {
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
}
