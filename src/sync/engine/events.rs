//! What a stored Jira webhook says, reduced to hints for the engine.
//!
//! Payloads are only hints: they arrive late, twice or out of order, and the engine re-reads
//! the issue before acting. So all that is kept here is *which* issues to look at (by id, the
//! stable identity), in which project when the payload says, and whether the board's sprints
//! or the project's versions changed (the mapping catalog must be refreshed).

use serde_json::Value;

/// The hints of one webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hint {
    /// `webhookEvent`, for logs and metrics.
    pub event: String,
    /// Issue ids to re-read.
    pub issues: Vec<String>,
    /// Project key when the payload carries it (issue and comment events).
    pub project: Option<String>,
    /// Sprint events: the board the sprint belongs to.
    pub board: Option<u64>,
    /// Version events: the project id the version belongs to.
    pub version_project: Option<String>,
    /// `jira:issue_created` only: the issue's `updated` as the payload shows it. When tandem has
    /// already read and synced the issue at exactly that time, the event is the echo of what it
    /// saw (typically tandem's own create).
    pub updated: Option<String>,
}

impl Hint {
    /// Whether the event changes the mapping catalog (sprints or versions).
    pub fn changes_catalog(&self) -> bool {
        self.board.is_some() || self.version_project.is_some()
    }
}

fn string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The issue id (or key) in a comment's REST URL, `…/rest/api/{2|3}/issue/{id}/comment/{id}`.
fn issue_of_comment_url(url: &str) -> Option<String> {
    let mut parts = url.rsplit('/');
    let _comment_id = parts.next()?;
    if parts.next()? != "comment" {
        return None;
    }
    let issue = parts.next()?;
    (parts.next()? == "issue" && !issue.is_empty()).then(|| issue.to_owned())
}

/// Decodes a stored body. `None` when it is not a JSON object (the listener already refused
/// those, so this only guards against old or foreign rows).
pub fn decode(body: &[u8]) -> Option<Hint> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object()?;
    let mut hint = Hint {
        event: obj
            .get("webhookEvent")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        ..Hint::default()
    };
    if let Some(issue) = obj.get("issue") {
        if let Some(id) = string(issue.get("id")) {
            hint.issues.push(id);
        }
        hint.project = issue
            .pointer("/fields/project/key")
            .and_then(Value::as_str)
            .map(str::to_owned);
        // Only a create: two updates can share one `updated` millisecond (an engine write and
        // a person's transition racing it), so an update is never taken as already seen.
        if hint.event == "jira:issue_created" {
            hint.updated = issue
                .pointer("/fields/updated")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
    }
    // Data Center's comment events carry no issue: its id is in the comment's own URL.
    if hint.issues.is_empty() {
        if let Some(id) = obj
            .get("comment")
            .and_then(|c| c.get("self"))
            .and_then(Value::as_str)
            .and_then(issue_of_comment_url)
        {
            hint.issues.push(id);
        }
    }
    if let Some(id) = obj.get("worklog").and_then(|w| string(w.get("issueId"))) {
        hint.issues.push(id);
    }
    if let Some(link) = obj.get("issueLink") {
        for side in ["sourceIssueId", "destinationIssueId"] {
            if let Some(id) = string(link.get(side)) {
                hint.issues.push(id);
            }
        }
    }
    if let Some(sprint) = obj.get("sprint") {
        hint.board = sprint
            .get("originBoardId")
            .and_then(Value::as_u64)
            .or(Some(0));
    }
    if let Some(version) = obj.get("version") {
        hint.version_project = string(version.get("projectId")).or(Some(String::new()));
    }
    hint.issues.dedup();
    Some(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_center_comment_events_name_their_issue_by_the_comment_url() {
        // The shape of a Data Center 8 `comment_created` delivery (as captured by the
        // mattermost-plugin-jira project): the comment alone, no `issue`, no project.
        let h = decode(br#"{"timestamp":1610111270010,"webhookEvent":"comment_created","comment":{"self":"http://jira.example:8080/rest/api/2/issue/10013/comment/10082","id":"10082","author":{"name":"admin"},"body":"a comment","created":"2021-01-08T13:07:50.010+0000","updated":"2021-01-08T13:07:50.010+0000"}}"#).unwrap();
        assert_eq!(h.issues, vec!["10013".to_owned()]);
        assert_eq!(h.event, "comment_created");
        assert_eq!(
            issue_of_comment_url("http://x/rest/api/2/issue/DEMO-1/comment/7").as_deref(),
            Some("DEMO-1")
        );
        assert_eq!(
            issue_of_comment_url("http://x/rest/api/2/issue/10013"),
            None
        );
        assert_eq!(issue_of_comment_url("http://x/comment/7"), None);
    }

    #[test]
    fn issue_comment_worklog_and_link_events_name_their_issues() {
        let h = decode(br#"{"webhookEvent":"jira:issue_updated","issue":{"id":"10001","key":"DEMO-1","fields":{"project":{"key":"DEMO"},"updated":"2026-11-27T08:00:00.000+0000"}}}"#).unwrap();
        assert_eq!(
            (h.issues, h.project),
            (vec!["10001".to_string()], Some("DEMO".to_string()))
        );
        assert_eq!(h.updated, None, "an update never counts as already seen");
        let h = decode(br#"{"webhookEvent":"jira:issue_created","issue":{"id":"10001","fields":{"updated":"2026-11-27T08:00:00.000+0000"}}}"#).unwrap();
        assert_eq!(h.updated.as_deref(), Some("2026-11-27T08:00:00.000+0000"));
        let h =
            decode(br#"{"webhookEvent":"worklog_created","worklog":{"issueId":"10002"}}"#).unwrap();
        assert_eq!(h.issues, vec!["10002".to_string()]);
        let h = decode(br#"{"webhookEvent":"issuelink_created","issueLink":{"sourceIssueId":10003,"destinationIssueId":10004}}"#).unwrap();
        assert_eq!(h.issues, vec!["10003".to_string(), "10004".to_string()]);
        assert!(!h.changes_catalog());
    }

    #[test]
    fn sprint_and_version_events_refresh_the_catalog() {
        let h = decode(br#"{"webhookEvent":"sprint_started","sprint":{"id":3,"originBoardId":1}}"#)
            .unwrap();
        assert_eq!(h.board, Some(1));
        assert!(h.changes_catalog());
        let h = decode(br#"{"webhookEvent":"jira:version_created","version":{"id":"10000","projectId":10000}}"#).unwrap();
        assert_eq!(h.version_project.as_deref(), Some("10000"));
    }

    #[test]
    fn garbage_is_not_a_hint() {
        assert_eq!(decode(b"not json"), None);
        assert_eq!(decode(b"[1,2]"), None);
    }
}
