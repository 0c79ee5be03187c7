//! The Jira endpoints tandem uses, one method each, in the dialect of the connection.

use reqwest::Method;
use serde_json::json;

use super::client::{Call, Idempotency, JiraClient};
use super::error::JiraError;
use super::types::*;

/// Jira Software refuses more than 50 issues per sprint or backlog move.
pub const MAX_ISSUES_PER_MOVE: usize = 50;

/// Page size for Agile and comment listings (Jira's usual maximum).
const LIST_PAGE: u64 = 50;
/// Comments per page: Cloud's largest (and default) page.
const COMMENT_PAGE: u64 = 100;

impl JiraClient {
    /// `GET /myself`: who the credentials belong to (401 when they are wrong).
    pub async fn myself(&self) -> Result<User, JiraError> {
        let url = self.api_url(&["myself"]).await?;
        self.call(Call::get(url)).await
    }

    /// `GET /mypermissions?permissions=...`.
    pub async fn my_permissions(&self, keys: &[&str]) -> Result<Permissions, JiraError> {
        let url = self.api_url(&["mypermissions"]).await?;
        self.call(Call::get(url).query("permissions", keys.join(",")))
            .await
    }

    /// Whether the authenticated user is a Jira administrator (`ADMINISTER`).
    pub async fn is_admin(&self) -> Result<bool, JiraError> {
        Ok(self.my_permissions(&["ADMINISTER"]).await?.is_admin())
    }

    /// `GET /field`: every system and custom field with its schema.
    pub async fn fields(&self) -> Result<Vec<Field>, JiraError> {
        let url = self.api_url(&["field"]).await?;
        self.call(Call::get(url)).await
    }

    /// `GET /project/{key}` (issue types, components and versions included).
    pub async fn project(&self, key: &str) -> Result<Project, JiraError> {
        let url = self.api_url(&["project", key]).await?;
        self.call(Call::get(url)).await
    }

    /// The project's issue types, with hierarchy levels (derived on Data Center, see [`IssueType::level`]).
    pub async fn project_issue_types(&self, key: &str) -> Result<Vec<IssueType>, JiraError> {
        Ok(self.project(key).await?.issue_types)
    }

    /// The create screen of an issue type in a project, from Jira's create metadata
    /// (`GET /issue/createmeta/{project}/issuetypes/{type}`, Cloud and Data Center 8.4+),
    /// following pages: field id → whether Jira requires it (and has no default value to fill
    /// it with). `None` where Jira has no such
    /// endpoint (older Data Center answers 404 for an existing project).
    pub async fn create_screen(
        &self,
        project: &str,
        issue_type_id: &str,
    ) -> Result<Option<std::collections::BTreeMap<String, bool>>, JiraError> {
        let mut fields = std::collections::BTreeMap::new();
        let mut start_at = 0u64;
        loop {
            let url = self
                .api_url(&["issue", "createmeta", project, "issuetypes", issue_type_id])
                .await?;
            let call = Call::get(url)
                .query("startAt", start_at)
                .query("maxResults", LIST_PAGE);
            let page: serde_json::Value = match self.call(call).await {
                Ok(p) => p,
                Err(JiraError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            // Cloud pages under `fields`, Data Center under `values`.
            let list = page
                .get("fields")
                .or_else(|| page.get("values"))
                .and_then(serde_json::Value::as_array)
                .cloned()
                .unwrap_or_default();
            let count = list.len() as u64;
            for f in &list {
                let id = f
                    .get("fieldId")
                    .or_else(|| f.get("key"))
                    .and_then(serde_json::Value::as_str);
                if let Some(id) = id {
                    let flag = |k: &str| {
                        f.get(k)
                            .and_then(serde_json::Value::as_bool)
                            .unwrap_or(false)
                    };
                    // A required field with a default value is filled by Jira.
                    let required = flag("required") && !flag("hasDefaultValue");
                    fields.insert(id.to_owned(), required);
                }
            }
            let total = page.get("total").and_then(serde_json::Value::as_u64);
            let last = page.get("isLast").and_then(serde_json::Value::as_bool);
            if count == 0 || last == Some(true) || total.is_some_and(|t| start_at + count >= t) {
                return Ok(Some(fields));
            }
            start_at += count;
        }
    }

    /// The fields an issue's edit screen takes (`GET /issue/{key}/editmeta`): Jira knows edit
    /// screens only per issue, so the online check asks one issue of each mapped type.
    pub async fn edit_screen(
        &self,
        key: &str,
    ) -> Result<std::collections::BTreeSet<String>, JiraError> {
        let url = self.api_url(&["issue", key, "editmeta"]).await?;
        let meta: serde_json::Value = self.call(Call::get(url)).await?;
        Ok(meta
            .get("fields")
            .and_then(serde_json::Value::as_object)
            .map(|f| f.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// `GET /project/{key}/statuses`: statuses per issue type.
    pub async fn project_statuses(&self, key: &str) -> Result<Vec<IssueTypeStatuses>, JiraError> {
        let url = self.api_url(&["project", key, "statuses"]).await?;
        self.call(Call::get(url)).await
    }

    /// `GET /project/{key}/components`.
    pub async fn project_components(&self, key: &str) -> Result<Vec<Component>, JiraError> {
        let url = self.api_url(&["project", key, "components"]).await?;
        self.call(Call::get(url)).await
    }

    /// `GET /project/{key}/versions`.
    pub async fn project_versions(&self, key: &str) -> Result<Vec<Version>, JiraError> {
        let url = self.api_url(&["project", key, "versions"]).await?;
        self.call(Call::get(url)).await
    }

    /// `POST /version`. Not idempotent: a retry could create the version twice.
    pub async fn create_version(&self, version: &NewVersion) -> Result<Version, JiraError> {
        let url = self.api_url(&["version"]).await?;
        self.call(Call::new(Method::POST, url, Idempotency::NotIdempotent).json(version)?)
            .await
    }

    /// `PUT /version/{id}`: rename, reschedule or release a fix version.
    pub async fn update_version(
        &self,
        version_id: &str,
        update: &VersionUpdate,
    ) -> Result<Version, JiraError> {
        let url = self.api_url(&["version", version_id]).await?;
        self.call(Call::new(Method::PUT, url, Idempotency::Idempotent).json(update)?)
            .await
    }

    /// `POST /component`. Not idempotent.
    pub async fn create_component(&self, component: &NewComponent) -> Result<Component, JiraError> {
        let url = self.api_url(&["component"]).await?;
        self.call(Call::new(Method::POST, url, Idempotency::NotIdempotent).json(component)?)
            .await
    }

    /// `GET /rest/agile/1.0/board/{id}`.
    pub async fn board(&self, board_id: i64) -> Result<Board, JiraError> {
        let id = board_id.to_string();
        let url = self.url(&["rest", "agile", "1.0", "board", &id]);
        self.call(Call::get(url)).await
    }

    /// `GET /rest/agile/1.0/board/{id}/configuration` (estimation field, ranking field).
    pub async fn board_configuration(
        &self,
        board_id: i64,
    ) -> Result<BoardConfiguration, JiraError> {
        let id = board_id.to_string();
        let url = self.url(&["rest", "agile", "1.0", "board", &id, "configuration"]);
        self.call(Call::get(url)).await
    }

    /// Every sprint of a board, optionally filtered by state (`future,active`), following pages.
    pub async fn board_sprints(
        &self,
        board_id: i64,
        state: Option<&str>,
    ) -> Result<Vec<Sprint>, JiraError> {
        let id = board_id.to_string();
        let mut sprints = Vec::new();
        let mut start_at = 0u64;
        loop {
            let url = self.url(&["rest", "agile", "1.0", "board", &id, "sprint"]);
            let mut call = Call::get(url)
                .query("startAt", start_at)
                .query("maxResults", LIST_PAGE);
            if let Some(state) = state {
                call = call.query("state", state);
            }
            let page: AgilePage<Sprint> = self.call(call).await?;
            let count = page.values.len() as u64;
            sprints.extend(page.values);
            let done = page.is_last.unwrap_or(count == 0)
                || count == 0
                || page.total.is_some_and(|t| start_at + count >= t);
            if done {
                return Ok(sprints);
            }
            start_at += count;
        }
    }

    /// `POST /rest/agile/1.0/sprint`. Not idempotent.
    pub async fn create_sprint(&self, sprint: &NewSprint) -> Result<Sprint, JiraError> {
        let url = self.url(&["rest", "agile", "1.0", "sprint"]);
        self.call(Call::new(Method::POST, url, Idempotency::NotIdempotent).json(sprint)?)
            .await
    }

    /// Partial update (`POST /rest/agile/1.0/sprint/{id}`); repeating it is harmless.
    pub async fn update_sprint(
        &self,
        sprint_id: i64,
        update: &SprintUpdate,
    ) -> Result<Sprint, JiraError> {
        let id = sprint_id.to_string();
        let url = self.url(&["rest", "agile", "1.0", "sprint", &id]);
        self.call(Call::new(Method::POST, url, Idempotency::Idempotent).json(update)?)
            .await
    }

    /// Moves issues into a sprint, at most [`MAX_ISSUES_PER_MOVE`] per call.
    pub async fn move_to_sprint(&self, sprint_id: i64, issues: &[String]) -> Result<(), JiraError> {
        let id = sprint_id.to_string();
        for chunk in issues.chunks(MAX_ISSUES_PER_MOVE) {
            let url = self.url(&["rest", "agile", "1.0", "sprint", &id, "issue"]);
            let call = Call::new(Method::POST, url, Idempotency::Idempotent)
                .json(&json!({ "issues": chunk }))?;
            self.call_empty(call).await?;
        }
        Ok(())
    }

    /// Moves issues to the backlog (out of any sprint), at most [`MAX_ISSUES_PER_MOVE`] per call.
    pub async fn move_to_backlog(&self, issues: &[String]) -> Result<(), JiraError> {
        for chunk in issues.chunks(MAX_ISSUES_PER_MOVE) {
            let url = self.url(&["rest", "agile", "1.0", "backlog", "issue"]);
            let call = Call::new(Method::POST, url, Idempotency::Idempotent)
                .json(&json!({ "issues": chunk }))?;
            self.call_empty(call).await?;
        }
        Ok(())
    }

    /// `GET /issue/{key}` with a field selection (empty = Jira's default) and optional changelog.
    pub async fn issue(
        &self,
        key: &str,
        fields: &[&str],
        changelog: bool,
    ) -> Result<Issue, JiraError> {
        let url = self.api_url(&["issue", key]).await?;
        // tandem's own property comes with every read: it tells an issue tandem created for
        // an item that is not linked yet.
        let mut call = Call::get(url).query("properties", ITEM_PROPERTY);
        if !fields.is_empty() {
            call = call.query("fields", fields.join(","));
        }
        if changelog {
            call = call.query("expand", "changelog");
        }
        self.call(call).await
    }

    /// `GET /issue/{key}/properties/{property}`: the property's value, `None` when the issue
    /// has no such property.
    pub async fn issue_property(
        &self,
        key: &str,
        property: &str,
    ) -> Result<Option<serde_json::Value>, JiraError> {
        let url = self
            .api_url(&["issue", key, "properties", property])
            .await?;
        match self.call::<serde_json::Value>(Call::get(url)).await {
            Ok(v) => Ok(v.get("value").cloned()),
            Err(JiraError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Which of `ids` (issue ids) the caller can see now, asked in batches of 100 rather than
    /// one read each. Cloud: `POST /issue/bulkfetch`, which leaves out issues that are gone or
    /// hidden. Data Center: a JQL `id in (…)` search with `validateQuery: false`, since a
    /// validated query naming a missing issue is refused whole. Either way a missing id means
    /// "deleted or not visible": Jira does not say which.
    pub async fn visible_issue_ids(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashSet<String>, JiraError> {
        let found = self
            .ids_and_keys(ids, |batch| format!("id in ({})", batch.join(",")))
            .await?;
        Ok(found.into_iter().map(|(id, _)| id).collect())
    }

    /// The ids of issues named by key, asked in batches of 100 rather than one read each (as
    /// [`JiraClient::visible_issue_ids`], with a `key in (…)` search on Data Center). A key
    /// missing from the answer names no visible issue, or one that moved to another key.
    pub async fn issue_ids_by_key(
        &self,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, String>, JiraError> {
        let found = self
            .ids_and_keys(keys, |batch| {
                let quoted: Vec<String> = batch.iter().map(|k| format!("\"{k}\"")).collect();
                format!("key in ({})", quoted.join(","))
            })
            .await?;
        Ok(found.into_iter().map(|(id, key)| (key, id)).collect())
    }

    /// (id, key) of the visible issues among `refs` (ids or keys), 100 per request: Cloud's
    /// `bulkfetch`, or on Data Center an unvalidated search with the JQL `clause` builds.
    async fn ids_and_keys(
        &self,
        refs: &[String],
        clause: impl Fn(&[String]) -> String,
    ) -> Result<Vec<(String, String)>, JiraError> {
        #[derive(serde::Deserialize)]
        struct IdKey {
            id: String,
            #[serde(default)]
            key: String,
        }
        #[derive(serde::Deserialize)]
        struct Found {
            #[serde(default)]
            issues: Vec<IdKey>,
        }
        let mut out = Vec::new();
        let cloud = self.deployment().await? == super::Deployment::Cloud;
        for batch in refs.chunks(100) {
            let found: Found = if cloud {
                let url = self.api_url(&["issue", "bulkfetch"]).await?;
                self.call(
                    Call::new(Method::POST, url, Idempotency::Idempotent)
                        .json(&json!({"issueIdsOrKeys": batch, "fields": ["id"]}))?,
                )
                .await?
            } else {
                let url = self.api_url(&["search"]).await?;
                self.call(
                    Call::new(Method::POST, url, Idempotency::Idempotent).json(&json!({
                        "jql": clause(batch),
                        "validateQuery": false,
                        "fields": ["id"],
                        "maxResults": batch.len(),
                    }))?,
                )
                .await?
            };
            out.extend(found.issues.into_iter().map(|i| (i.id, i.key)));
        }
        Ok(out)
    }

    /// `POST /issue`. Not idempotent: see [`crate::jira::RetryPolicy::retry_non_idempotent`].
    pub async fn create_issue(&self, issue: &IssueFields) -> Result<CreatedIssue, JiraError> {
        let url = self.api_url(&["issue"]).await?;
        self.call(Call::new(Method::POST, url, Idempotency::NotIdempotent).json(issue)?)
            .await
    }

    /// `PUT /issue/{key}`: sets fields; repeating it is harmless.
    pub async fn edit_issue(&self, key: &str, edit: &IssueFields) -> Result<(), JiraError> {
        let url = self.api_url(&["issue", key]).await?;
        self.call_empty(Call::new(Method::PUT, url, Idempotency::Idempotent).json(edit)?)
            .await
    }

    /// `DELETE /issue/{key}`; `delete_subtasks` is required by Jira when the issue has any.
    pub async fn delete_issue(&self, key: &str, delete_subtasks: bool) -> Result<(), JiraError> {
        let url = self.api_url(&["issue", key]).await?;
        let call = Call::new(Method::DELETE, url, Idempotency::Idempotent)
            .query("deleteSubtasks", delete_subtasks);
        self.call_empty(call).await
    }

    /// `GET /issue/{key}/transitions?expand=transitions.fields`: what can be done from here and
    /// which fields each transition requires.
    pub async fn transitions(&self, key: &str) -> Result<Vec<Transition>, JiraError> {
        let url = self.api_url(&["issue", key, "transitions"]).await?;
        let list: Transitions = self
            .call(Call::get(url).query("expand", "transitions.fields"))
            .await?;
        Ok(list.transitions)
    }

    /// `POST /issue/{key}/transitions`, with the fields the transition screen requires.
    /// Not idempotent: once applied, the same transition may no longer be available.
    pub async fn transition_issue(
        &self,
        key: &str,
        transition_id: &str,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), JiraError> {
        let url = self.api_url(&["issue", key, "transitions"]).await?;
        let mut body = json!({ "transition": { "id": transition_id } });
        if !fields.is_empty() {
            body["fields"] = serde_json::Value::Object(fields);
        }
        self.call_empty(Call::new(Method::POST, url, Idempotency::NotIdempotent).json(&body)?)
            .await
    }

    /// Every comment of an issue, following pages.
    pub async fn comments(&self, key: &str) -> Result<Vec<Comment>, JiraError> {
        let mut comments = Vec::new();
        let mut start_at = 0u64;
        loop {
            let url = self.api_url(&["issue", key, "comment"]).await?;
            let page: CommentPage = self
                .call(
                    Call::get(url)
                        .query("startAt", start_at)
                        .query("maxResults", LIST_PAGE),
                )
                .await?;
            let count = page.comments.len() as u64;
            comments.extend(page.comments);
            if count == 0 || start_at + count >= page.total {
                return Ok(comments);
            }
            start_at += count;
        }
    }

    /// Fills in the comments an issue read left out: Jira embeds one page of them in
    /// `fields.comment` (Cloud at most 100, the newest) with the true `total`, so an issue with
    /// more is read whole from `GET /issue/{key}/comment`, page by page. Leaves an issue
    /// without `fields.comment` (not asked for) alone.
    pub async fn complete_comments(&self, issue: &mut Issue) -> Result<(), JiraError> {
        let Some(page) = issue.fields.get("comment") else {
            return Ok(());
        };
        let held = page
            .get("comments")
            .and_then(serde_json::Value::as_array)
            .map_or(0, Vec::len) as u64;
        let total = page
            .get("total")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(held);
        if total <= held {
            return Ok(());
        }
        let mut comments = Vec::new();
        let mut start_at = 0u64;
        loop {
            let url = self.api_url(&["issue", &issue.key, "comment"]).await?;
            let page: serde_json::Value = self
                .call(
                    Call::get(url)
                        .query("startAt", start_at)
                        .query("maxResults", COMMENT_PAGE),
                )
                .await?;
            let list = page
                .get("comments")
                .and_then(serde_json::Value::as_array)
                .cloned()
                .unwrap_or_default();
            let count = list.len() as u64;
            let total = page
                .get("total")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0);
            comments.extend(list);
            if count == 0 || start_at + count >= total {
                break;
            }
            start_at += count;
        }
        let n = comments.len();
        issue.fields.insert(
            "comment".into(),
            serde_json::json!({"comments": comments, "startAt": 0, "maxResults": n, "total": n}),
        );
        Ok(())
    }

    /// `POST /issue/{key}/comment`; `body` in the dialect's rich text ([`crate::jira::Deployment::rich_text`]).
    pub async fn add_comment(
        &self,
        key: &str,
        body: serde_json::Value,
    ) -> Result<Comment, JiraError> {
        let url = self.api_url(&["issue", key, "comment"]).await?;
        let call = Call::new(Method::POST, url, Idempotency::NotIdempotent)
            .json(&json!({ "body": body }))?;
        self.call(call).await
    }

    /// `PUT /issue/{key}/comment/{id}`; `body` in the dialect's rich text.
    pub async fn update_comment(
        &self,
        key: &str,
        comment_id: &str,
        body: serde_json::Value,
    ) -> Result<Comment, JiraError> {
        let url = self.api_url(&["issue", key, "comment", comment_id]).await?;
        let call =
            Call::new(Method::PUT, url, Idempotency::Idempotent).json(&json!({ "body": body }))?;
        self.call(call).await
    }

    /// `DELETE /issue/{key}/comment/{id}`; a comment already gone counts as deleted.
    pub async fn delete_comment(&self, key: &str, comment_id: &str) -> Result<(), JiraError> {
        let url = self.api_url(&["issue", key, "comment", comment_id]).await?;
        match self
            .call_empty(Call::new(Method::DELETE, url, Idempotency::Idempotent))
            .await
        {
            Err(JiraError::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    /// Every worklog of an issue, following pages.
    pub async fn worklogs(&self, key: &str) -> Result<Vec<Worklog>, JiraError> {
        let mut worklogs = Vec::new();
        let mut start_at = 0u64;
        loop {
            let url = self.api_url(&["issue", key, "worklog"]).await?;
            let page: WorklogPage = self
                .call(
                    Call::get(url)
                        .query("startAt", start_at)
                        .query("maxResults", LIST_PAGE),
                )
                .await?;
            let count = page.worklogs.len() as u64;
            worklogs.extend(page.worklogs);
            if count == 0 || start_at + count >= page.total {
                return Ok(worklogs);
            }
            start_at += count;
        }
    }

    /// `POST /issue/{key}/worklog`. Not idempotent: a retry would log the time twice.
    pub async fn add_worklog(
        &self,
        key: &str,
        time_spent_seconds: u64,
        comment: Option<serde_json::Value>,
    ) -> Result<Worklog, JiraError> {
        let url = self.api_url(&["issue", key, "worklog"]).await?;
        let mut body = json!({ "timeSpentSeconds": time_spent_seconds });
        if let Some(comment) = comment {
            body["comment"] = comment;
        }
        self.call(Call::new(Method::POST, url, Idempotency::NotIdempotent).json(&body)?)
            .await
    }

    /// `POST /issueLink`.
    pub async fn create_issue_link(&self, link: &NewIssueLink) -> Result<(), JiraError> {
        let url = self.api_url(&["issueLink"]).await?;
        self.call_empty(Call::new(Method::POST, url, Idempotency::NotIdempotent).json(link)?)
            .await
    }

    /// `GET /rest/webhooks/1.0/webhook`: the admin webhooks (needs administrator rights).
    pub async fn webhooks(&self) -> Result<Vec<Webhook>, JiraError> {
        let url = self.url(&["rest", "webhooks", "1.0", "webhook"]);
        self.call(Call::get(url)).await
    }

    /// Registers an admin webhook. Not idempotent: list first and update a match instead.
    pub async fn create_webhook(&self, spec: &WebhookSpec) -> Result<Webhook, JiraError> {
        let url = self.url(&["rest", "webhooks", "1.0", "webhook"]);
        self.call(Call::new(Method::POST, url, Idempotency::NotIdempotent).json(spec)?)
            .await
    }

    /// Replaces an admin webhook by id (see [`Webhook::id`]).
    pub async fn update_webhook(&self, id: &str, spec: &WebhookSpec) -> Result<Webhook, JiraError> {
        let url = self.url(&["rest", "webhooks", "1.0", "webhook", id]);
        self.call(Call::new(Method::PUT, url, Idempotency::Idempotent).json(spec)?)
            .await
    }

    /// Removes an admin webhook; a webhook already gone counts as removed.
    pub async fn delete_webhook(&self, id: &str) -> Result<(), JiraError> {
        let url = self.url(&["rest", "webhooks", "1.0", "webhook", id]);
        match self
            .call_empty(Call::new(Method::DELETE, url, Idempotency::Idempotent))
            .await
        {
            Err(JiraError::NotFound { .. }) => Ok(()),
            other => other,
        }
    }
}
