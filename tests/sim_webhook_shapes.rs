//! The simulator's webhook bodies have the structure of real Jira's: for each event, every key
//! path of a real capture (`reference/jira-webhooks/`) exists in the body the simulator fires
//! for the same event. Keys only the simulator sends are printed as information.

mod support;

use serde_json::{json, Value};
use support::shape::{assert_same_shape, Exception};
use tandem::sim::{Deployment, SimConfig, SimHandle, Simulator};

/// Differences accepted on purpose, in both dialects.
const EXCEPTIONS: &[Exception] = &[
    Exception {
        path: "issue.fields.customfield_*",
        reason: "custom fields are specific to the captured instance",
    },
    Exception {
        path: "issue.fields.attachment[]",
        reason: "the simulator has no attachments",
    },
];

/// Cloud additionally: the captures predate Cloud dropping user names and keys (GDPR).
const CLOUD_EXCEPTIONS: &[Exception] = &[
    Exception {
        path: "issue.fields.customfield_*",
        reason: "custom fields are specific to the captured instance",
    },
    Exception {
        path: "issue.fields.attachment[]",
        reason: "the simulator has no attachments",
    },
    Exception {
        path: "comment.author.key",
        reason: "Cloud stopped sending user keys (GDPR); the capture predates it",
    },
    Exception {
        path: "comment.author.name",
        reason: "Cloud stopped sending user names (GDPR); the capture predates it",
    },
    Exception {
        path: "comment.updateAuthor.key",
        reason: "Cloud stopped sending user keys (GDPR); the capture predates it",
    },
    Exception {
        path: "comment.updateAuthor.name",
        reason: "Cloud stopped sending user names (GDPR); the capture predates it",
    },
    Exception {
        path: "user.key",
        reason: "Cloud stopped sending user keys (GDPR); the capture predates it",
    },
    Exception {
        path: "user.name",
        reason: "Cloud stopped sending user names (GDPR); the capture predates it",
    },
    Exception {
        path: "issue.fields.assignee.key",
        reason: "Cloud stopped sending user keys (GDPR); the capture predates it",
    },
    Exception {
        path: "issue.fields.assignee.name",
        reason: "Cloud stopped sending user names (GDPR); the capture predates it",
    },
    Exception {
        path: "issue.fields.reporter.key",
        reason: "Cloud stopped sending user keys (GDPR); the capture predates it",
    },
    Exception {
        path: "issue.fields.reporter.name",
        reason: "Cloud stopped sending user names (GDPR); the capture predates it",
    },
    Exception {
        path: "issue.fields.creator.key",
        reason: "Cloud stopped sending user keys (GDPR); the capture predates it",
    },
    Exception {
        path: "issue.fields.creator.name",
        reason: "Cloud stopped sending user names (GDPR); the capture predates it",
    },
];

fn capture(shared: &std::path::Path, name: &str) -> Value {
    support::reference_json(shared, &format!("jira-webhooks/{name}"))
}

struct Api {
    sim: SimHandle,
    client: reqwest::Client,
    user: (&'static str, &'static str),
}

impl Api {
    async fn start(deployment: Deployment) -> Api {
        let sim = Simulator::start(SimConfig::new(deployment))
            .await
            .expect("simulator starts");
        let user = match deployment {
            Deployment::Cloud => ("admin@example.com", "admin-token"),
            Deployment::DataCenter => ("admin", "admin"),
        };
        Api {
            sim,
            client: reqwest::Client::new(),
            user,
        }
    }

    async fn send(&self, method: &str, path: &str, body: Value) -> Value {
        let resp = self
            .client
            .request(
                method.parse().expect("method"),
                format!("{}{path}", self.sim.base_url()),
            )
            .basic_auth(self.user.0, Some(self.user.1))
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The last body the simulator fired for `event`.
    fn last(&self, event: &str) -> Value {
        self.sim
            .fired_events()
            .into_iter()
            .rev()
            .find(|e| e.event == event)
            .map(|e| e.body)
            .unwrap_or_else(|| panic!("no {event} event was fired"))
    }

    /// The last `jira:issue_updated` body with this `issue_event_type_name`.
    fn last_update(&self, type_name: &str) -> Value {
        self.sim
            .fired_events()
            .into_iter()
            .rev()
            .find(|e| {
                e.event == "jira:issue_updated" && e.body["issue_event_type_name"] == type_name
            })
            .map(|e| e.body)
            .unwrap_or_else(|| panic!("no jira:issue_updated/{type_name} event was fired"))
    }
}

fn full_issue(assignee: Value) -> Value {
    json!({"fields": {
        "project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": "Checkout fails",
        "description": "Steps to reproduce", "labels": ["web"], "components": [{"name": "Backend"}],
        "fixVersions": [{"name": "1.0"}], "priority": {"name": "High"}, "duedate": "2030-01-31",
        "assignee": assignee,
    }})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_issue_events_have_the_shape_of_real_captures() {
    let Some(shared) = support::shared_dir("sim_webhook_shapes") else {
        return;
    };
    let api = Api::start(Deployment::Cloud).await;
    api.send(
        "POST",
        "/rest/api/2/issue",
        full_issue(json!({"accountId": "5b10ac8d82e05b22cc7d0001"})),
    )
    .await;
    let created = api.last("jira:issue_created");
    for name in [
        "luisfernandezbr__jira_issue_created.json",
        "mattermost__webhook-issue-created.json",
        "mattermost__webhook-cloud-issue-created-many-fields.json",
    ] {
        assert_same_shape(name, &capture(&shared, name), &created, CLOUD_EXCEPTIONS);
    }

    // Links in both directions, so the issue bodies below carry both link forms.
    api.send("POST", "/rest/api/2/issue", full_issue(Value::Null))
        .await;
    api.send("POST", "/rest/api/2/issueLink", json!({"type": {"name": "Blocks"}, "inwardIssue": {"key": "DEMO-2"}, "outwardIssue": {"key": "DEMO-1"}})).await;
    api.send("POST", "/rest/api/2/issueLink", json!({"type": {"name": "Relates"}, "inwardIssue": {"key": "DEMO-1"}, "outwardIssue": {"key": "DEMO-2"}})).await;
    api.send(
        "PUT",
        "/rest/api/2/issue/DEMO-1",
        json!({"fields": {"assignee": {"accountId": "5b10ac8d82e05b22cc7d0000"}}}),
    )
    .await;
    let assigned = api.last_update("issue_assigned");
    assert_same_shape(
        "assignee",
        &capture(&shared, "luisfernandezbr__jira_issue_updated.assignee.json"),
        &assigned,
        CLOUD_EXCEPTIONS,
    );
    assert_same_shape(
        "assigned",
        &capture(&shared, "mattermost__webhook-issue-updated-assigned.json"),
        &assigned,
        CLOUD_EXCEPTIONS,
    );

    api.send(
        "PUT",
        "/rest/api/2/issue/DEMO-1",
        json!({"fields": {"description": "New steps"}}),
    )
    .await;
    let edited = api.last_update("issue_updated");
    assert_same_shape(
        "description",
        &capture(
            &shared,
            "luisfernandezbr__jira_issue_updated.description.json",
        ),
        &edited,
        CLOUD_EXCEPTIONS,
    );

    api.send(
        "PUT",
        "/rest/api/2/issue/DEMO-1",
        json!({"update": {"labels": [{"add": "mobile"}]}}),
    )
    .await;
    let labels = api.last_update("issue_updated");
    assert_same_shape(
        "labels",
        &capture(&shared, "mattermost__webhook-issue-updated-labels.json"),
        &labels,
        CLOUD_EXCEPTIONS,
    );

    api.send(
        "POST",
        "/rest/agile/1.0/sprint/1/issue",
        json!({"issues": ["DEMO-1"]}),
    )
    .await;
    let sprint = api.last_update("issue_updated");
    assert_same_shape(
        "sprint",
        &capture(&shared, "mattermost__webhook-issue-updated-sprint.json"),
        &sprint,
        CLOUD_EXCEPTIONS,
    );

    api.send(
        "POST",
        "/rest/api/2/issue/DEMO-1/transitions",
        json!({"transition": {"id": "31"}, "fields": {"resolution": {"name": "Done"}}}),
    )
    .await;
    let resolved = api.last_update("issue_generic");
    assert_same_shape(
        "resolved",
        &capture(&shared, "mattermost__webhook-issue-updated-resolved.json"),
        &resolved,
        CLOUD_EXCEPTIONS,
    );
    assert_same_shape(
        "resolution",
        &capture(
            &shared,
            "luisfernandezbr__jira_issue_updated.resolution.json",
        ),
        &resolved,
        CLOUD_EXCEPTIONS,
    );

    // A person moves DEMO-1 to another project: same id, new key, the old key still resolves.
    api.sim
        .create_project("OPS", "Operations")
        .expect("project");
    let moved_key = api.sim.move_issue("DEMO-1", "OPS").expect("move");
    assert_eq!(moved_key, "OPS-1");
    let moved = api.last_update("issue_moved");
    assert_same_shape(
        "moved",
        &capture(&shared, "luisfernandezbr__jira_issue_updated.project.json"),
        &moved,
        CLOUD_EXCEPTIONS,
    );
    let items = moved["changelog"]["items"].as_array().expect("items");
    let key_item = items.iter().find(|i| i["field"] == "Key").expect("Key");
    assert_eq!(key_item["fromString"], "DEMO-1");
    assert_eq!(key_item["toString"], "OPS-1");
    assert!(key_item.get("fieldId").is_none(), "{key_item}");
    assert_eq!(moved["issue"]["fields"]["project"]["key"], "OPS");
    let by_old_key = api.sim.issue("DEMO-1").expect("the old key resolves");
    assert_eq!(by_old_key["key"], "OPS-1", "{by_old_key}");

    api.send("DELETE", "/rest/api/2/issue/DEMO-1", Value::Null)
        .await;
    let deleted = api.last("jira:issue_deleted");
    assert_same_shape(
        "deleted",
        &capture(&shared, "luisfernandezbr__jira_issue_deleted.json"),
        &deleted,
        CLOUD_EXCEPTIONS,
    );
    api.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_comment_link_and_sprint_events_have_the_shape_of_real_captures() {
    let Some(shared) = support::shared_dir("sim_webhook_shapes") else {
        return;
    };
    let api = Api::start(Deployment::Cloud).await;
    api.send("POST", "/rest/api/2/issue", full_issue(Value::Null))
        .await;
    api.send("POST", "/rest/api/2/issue", full_issue(Value::Null))
        .await;

    let c = api
        .send(
            "POST",
            "/rest/api/2/issue/DEMO-1/comment",
            json!({"body": "Looks good"}),
        )
        .await;
    let id = c["id"].as_str().expect("comment id").to_string();
    for name in [
        "luisfernandezbr__comment_created.json",
        "mattermost__webhook-cloud-comment-created.json",
    ] {
        assert_same_shape(
            name,
            &capture(&shared, name),
            &api.last("comment_created"),
            CLOUD_EXCEPTIONS,
        );
    }
    api.send(
        "PUT",
        &format!("/rest/api/2/issue/DEMO-1/comment/{id}"),
        json!({"body": "Looks great"}),
    )
    .await;
    assert_same_shape(
        "comment_updated",
        &capture(&shared, "luisfernandezbr__comment_updated.json"),
        &api.last("comment_updated"),
        CLOUD_EXCEPTIONS,
    );
    api.send(
        "DELETE",
        &format!("/rest/api/2/issue/DEMO-1/comment/{id}"),
        Value::Null,
    )
    .await;
    assert_same_shape(
        "comment_deleted",
        &capture(&shared, "luisfernandezbr__comment_deleted.json"),
        &api.last("comment_deleted"),
        CLOUD_EXCEPTIONS,
    );

    api.send("POST", "/rest/api/2/issueLink", json!({"type": {"name": "Blocks"}, "inwardIssue": {"key": "DEMO-1"}, "outwardIssue": {"key": "DEMO-2"}})).await;
    assert_same_shape(
        "issuelink_created",
        &capture(&shared, "luisfernandezbr__issuelink_created.json"),
        &api.last("issuelink_created"),
        CLOUD_EXCEPTIONS,
    );
    api.send("DELETE", "/rest/api/2/issueLink/10001", Value::Null)
        .await;
    assert_same_shape(
        "issuelink_deleted",
        &capture(&shared, "luisfernandezbr__issuelink_deleted.json"),
        &api.last("issuelink_deleted"),
        CLOUD_EXCEPTIONS,
    );

    let s = api
        .send(
            "POST",
            "/rest/agile/1.0/sprint",
            json!({"name": "Sprint 2", "originBoardId": 1, "goal": "More"}),
        )
        .await;
    let sid = s["id"].as_u64().expect("sprint id");
    assert_same_shape(
        "sprint_created",
        &capture(&shared, "luisfernandezbr__sprint_created.json"),
        &api.last("sprint_created"),
        CLOUD_EXCEPTIONS,
    );
    api.send(
        "POST",
        &format!("/rest/agile/1.0/sprint/{sid}"),
        json!({"startDate": "2030-01-01T09:00:00.000Z", "endDate": "2030-01-15T09:00:00.000Z"}),
    )
    .await;
    assert_same_shape(
        "sprint_updated",
        &capture(&shared, "luisfernandezbr__sprint_updated.json"),
        &api.last("sprint_updated"),
        CLOUD_EXCEPTIONS,
    );
    api.send(
        "POST",
        &format!("/rest/agile/1.0/sprint/{sid}"),
        json!({"state": "active"}),
    )
    .await;
    assert_same_shape(
        "sprint_started",
        &capture(&shared, "luisfernandezbr__sprint_started.json"),
        &api.last("sprint_started"),
        CLOUD_EXCEPTIONS,
    );
    api.send(
        "POST",
        &format!("/rest/agile/1.0/sprint/{sid}"),
        json!({"state": "closed"}),
    )
    .await;
    assert_same_shape(
        "sprint_closed",
        &capture(&shared, "luisfernandezbr__sprint_closed.json"),
        &api.last("sprint_closed"),
        CLOUD_EXCEPTIONS,
    );
    api.send(
        "DELETE",
        &format!("/rest/agile/1.0/sprint/{sid}"),
        Value::Null,
    )
    .await;
    assert_same_shape(
        "sprint_deleted",
        &capture(&shared, "luisfernandezbr__sprint_deleted.json"),
        &api.last("sprint_deleted"),
        CLOUD_EXCEPTIONS,
    );
    api.sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_events_have_the_shape_of_real_server_captures() {
    let Some(shared) = support::shared_dir("sim_webhook_shapes") else {
        return;
    };
    let api = Api::start(Deployment::DataCenter).await;
    api.send(
        "POST",
        "/rest/api/2/issue",
        full_issue(json!({"name": "user"})),
    )
    .await;
    let c = api
        .send(
            "POST",
            "/rest/api/2/issue/DEMO-1/comment",
            json!({"body": "Looks good"}),
        )
        .await;
    let id = c["id"].as_str().expect("comment id").to_string();
    assert_same_shape(
        "server comment_created",
        &capture(&shared, "mattermost__webhook-server-comment-created.json"),
        &api.last("comment_created"),
        EXCEPTIONS,
    );
    assert_same_shape(
        "server issue_commented",
        &capture(
            &shared,
            "mattermost__webhook-server-issue-updated-commented.json",
        ),
        &api.last_update("issue_commented"),
        EXCEPTIONS,
    );
    api.send(
        "PUT",
        &format!("/rest/api/2/issue/DEMO-1/comment/{id}"),
        json!({"body": "Looks great"}),
    )
    .await;
    assert_same_shape(
        "server comment_updated",
        &capture(&shared, "mattermost__webhook-server-comment-updated.json"),
        &api.last("comment_updated"),
        EXCEPTIONS,
    );
    api.send(
        "POST",
        "/rest/api/2/issue/DEMO-1/worklog",
        json!({"timeSpent": "2h", "comment": "Fixed"}),
    )
    .await;
    api.send(
        "POST",
        "/rest/api/2/issue/DEMO-1/transitions",
        json!({"transition": {"id": "31"}, "fields": {"resolution": {"name": "Done"}}}),
    )
    .await;
    assert_same_shape(
        "server resolved",
        &capture(
            &shared,
            "mattermost__webhook-server-issue-updated-resolved.json",
        ),
        &api.last_update("issue_generic"),
        EXCEPTIONS,
    );
    api.send(
        "PUT",
        "/rest/api/2/issue/DEMO-1",
        json!({"fields": {"summary": "Renamed", "customfield_10033": 3}}),
    )
    .await;
    assert_same_shape(
        "server edited",
        &capture(
            &shared,
            "mattermost__webhook-server-issue-updated-many-fields.json",
        ),
        &api.last_update("issue_updated"),
        EXCEPTIONS,
    );
    api.send(
        "DELETE",
        &format!("/rest/api/2/issue/DEMO-1/comment/{id}"),
        Value::Null,
    )
    .await;
    assert_same_shape(
        "server comment_deleted",
        &capture(&shared, "mattermost__webhook-server-comment-deleted.json"),
        &api.last("comment_deleted"),
        EXCEPTIONS,
    );
    api.sim.shutdown().await.expect("clean shutdown");
}
