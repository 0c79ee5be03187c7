//! The Jira client against the in-process simulator (`tandem jira-sim`), in both dialects:
//! the same calls the daemon makes, end to end.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use tandem::jira::{
    check_connection, check_integration, Credentials, Deployment, FieldKind, FieldPair,
    IntegrationSpec, IssueFields, JiraClient, JiraConfig, JiraFieldRef, KeyRef, NamedRef,
    NewComponent, NewIssueLink, NewVersion, RetryPolicy, StatusPair, TypePair, VersionUpdate,
    WebhookSpec,
};
use tandem::sim::{self, RateLimit, SimConfig, SimHandle, Simulator};

const BOTH: [Deployment; 2] = [Deployment::Cloud, Deployment::DataCenter];

async fn start(deployment: Deployment) -> SimHandle {
    let sim_deployment = match deployment {
        Deployment::Cloud => sim::Deployment::Cloud,
        Deployment::DataCenter => sim::Deployment::DataCenter,
    };
    Simulator::start(SimConfig::new(sim_deployment))
        .await
        .expect("simulator starts")
}

fn admin(deployment: Deployment) -> Credentials {
    match deployment {
        Deployment::Cloud => Credentials::basic("admin@example.com", "admin-token"),
        Deployment::DataCenter => Credentials::basic("admin", "admin"),
    }
}

fn user(deployment: Deployment) -> Credentials {
    match deployment {
        Deployment::Cloud => Credentials::basic("user@example.com", "user-token"),
        Deployment::DataCenter => Credentials::basic("user", "user"),
    }
}

fn config(sim: &SimHandle, auth: Credentials) -> JiraConfig {
    let mut config = JiraConfig::new(sim.base_url(), auth);
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        ..RetryPolicy::default()
    };
    config
}

fn client(sim: &SimHandle, auth: Credentials) -> JiraClient {
    JiraClient::new(config(sim, auth)).expect("client")
}

#[tokio::test]
async fn connection_check_in_both_dialects() {
    for deployment in BOTH {
        let sim = start(deployment).await;
        let info = check_connection(&client(&sim, admin(deployment)))
            .await
            .unwrap_or_else(|e| panic!("{deployment}: {e}"));
        assert_eq!(info.deployment, deployment);
        assert!(info.is_admin);

        let err = check_connection(&client(&sim, user(deployment)))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "NotAdministrator", "{deployment}: {err}");

        let wrong = match admin(deployment) {
            Credentials::Basic { user, .. } => Credentials::basic(user, "not-the-secret"),
            other => other,
        };
        let err = check_connection(&client(&sim, wrong)).await.unwrap_err();
        assert_eq!(err.reason(), "AuthenticationFailed", "{deployment}: {err}");
        assert!(!err.to_string().contains("not-the-secret"));
    }
    // Data Center personal access tokens go as Bearer.
    let sim = start(Deployment::DataCenter).await;
    let info = check_connection(&client(&sim, Credentials::bearer("admin-pat")))
        .await
        .unwrap();
    assert!(info.is_admin);
}

#[tokio::test]
async fn default_project_passes_the_online_checks() {
    for deployment in BOTH {
        let sim = start(deployment).await;
        let client = client(&sim, admin(deployment));
        let field = |workspace: &str, kind, jira: &str| FieldPair {
            workspace: workspace.into(),
            kind,
            jira: JiraFieldRef::Named(jira.into()),
        };
        let spec = IntegrationSpec {
            project: "DEMO".into(),
            board: Some(1),
            types: vec![
                TypePair {
                    workspace: "Epic".into(),
                    jira: "Epic".into(),
                    depth: 0,
                },
                TypePair {
                    workspace: "Story".into(),
                    jira: "Story".into(),
                    depth: 1,
                },
                TypePair {
                    workspace: "Subtask".into(),
                    jira: "Sub-task".into(),
                    depth: 2,
                },
            ],
            secondary_types: vec!["Bug".into()],
            statuses: ["To Do", "In Progress", "Done"]
                .iter()
                .map(|s| StatusPair {
                    workspace: s.to_string(),
                    jira: s.to_string(),
                })
                .collect(),
            fields: vec![
                FieldPair {
                    workspace: "storyPoints".into(),
                    kind: FieldKind::Number,
                    jira: JiraFieldRef::Auto,
                },
                field("team", FieldKind::Team, "Team"),
                field("objective", FieldKind::Text, "Objective"),
                field("value", FieldKind::Number, "Business value"),
                field("platforms", FieldKind::MultiSelect, "Platforms"),
                field("keywords", FieldKind::Labels, "Keywords"),
                field("spec", FieldKind::Url, "Spec URL"),
                field("target", FieldKind::Date, "Target date"),
                field("components", FieldKind::Components, "components"),
                field("releases", FieldKind::Releases, "fixVersions"),
            ],
        };
        let report = check_integration(&client, &spec).await.unwrap();
        assert!(report.is_ok(), "{deployment}: {:#?}", report.failures);
        let expected_points = match deployment {
            Deployment::Cloud => "customfield_10016",
            Deployment::DataCenter => "customfield_10106",
        };
        assert_eq!(
            report.resolved.story_points_field.as_deref(),
            Some(expected_points)
        );
    }
}

#[tokio::test]
async fn search_streams_every_issue_once_in_both_dialects() {
    for deployment in BOTH {
        let sim = start(deployment).await;
        sim.generate_issues(250, 7);
        let jql = "project = DEMO ORDER BY key ASC";
        let expected = sim.search(jql).unwrap();
        assert!(expected.len() >= 250);
        let client = client(&sim, admin(deployment));
        let pages: Vec<Vec<String>> = client
            .search(jql, &["summary", "status"])
            .page_size(100)
            .into_stream()
            .map(|page| {
                page.unwrap_or_else(|e| panic!("{deployment}: {e}"))
                    .into_iter()
                    .map(|issue| issue.key)
                    .collect()
            })
            .collect()
            .await;
        assert!(pages.iter().all(|p| p.len() <= 100), "{deployment}");
        assert_eq!(pages.len(), expected.len().div_ceil(100), "{deployment}");
        assert_eq!(pages.concat(), expected, "{deployment}");
        let search_path = match deployment {
            Deployment::Cloud => "/rest/api/3/search/jql",
            Deployment::DataCenter => "/rest/api/2/search",
        };
        assert_eq!(sim.requests_to("GET", search_path), pages.len() as u64);
    }
}

#[tokio::test]
async fn long_jql_is_sent_in_a_post_body() {
    for deployment in BOTH {
        let sim = start(deployment).await;
        sim.generate_issues(400, 3);
        let keys = sim.search("project = DEMO ORDER BY key ASC").unwrap();
        let wanted: Vec<String> = keys.iter().take(300).cloned().collect();
        let jql = format!("key in ({}) ORDER BY key ASC", wanted.join(", "));
        assert!(jql.len() > 2000);
        let client = client(&sim, admin(deployment));
        let mut pager = client.search(&jql, &["summary"]).page_size(120);
        let mut found = Vec::new();
        while let Some(page) = pager.next_page().await.unwrap() {
            found.extend(page.into_iter().map(|i| i.key));
        }
        assert_eq!(found, sim.search(&jql).unwrap(), "{deployment}");
        assert_eq!(found.len(), 300, "{deployment}");
        let search_path = match deployment {
            Deployment::Cloud => "/rest/api/3/search/jql",
            Deployment::DataCenter => "/rest/api/2/search",
        };
        assert_eq!(sim.requests_to("POST", search_path), 3, "{deployment}");
        assert_eq!(sim.requests_to("GET", search_path), 0, "{deployment}");
    }
}

#[tokio::test]
async fn issue_lifecycle_in_both_dialects() {
    for deployment in BOTH {
        let sim = start(deployment).await;
        let client = client(&sim, admin(deployment));
        let project = client.project("DEMO").await.unwrap();

        let mut create = IssueFields::default();
        create
            .fields
            .insert("project".into(), json!({"key": "DEMO"}));
        create
            .fields
            .insert("issuetype".into(), json!({"name": "Story"}));
        create
            .fields
            .insert("summary".into(), json!("Checkout flow"));
        create.fields.insert(
            "description".into(),
            deployment.rich_text("Pay with one click."),
        );
        let story = client.create_issue(&create).await.unwrap();
        assert!(story.key.starts_with("DEMO-"), "{deployment}: {story:?}");

        let mut edit = IssueFields::default();
        edit.fields
            .insert("summary".into(), json!("Checkout flow v2"));
        client.edit_issue(&story.key, &edit).await.unwrap();

        let transitions = client.transitions(&story.key).await.unwrap();
        let start = transitions
            .iter()
            .find(|t| t.to.as_ref().is_some_and(|s| s.name == "In Progress"))
            .unwrap_or_else(|| panic!("{deployment}: {transitions:?}"));
        client
            .transition_issue(&story.key, &start.id, serde_json::Map::new())
            .await
            .unwrap();

        let comment = client
            .add_comment(&story.key, deployment.rich_text("Started."))
            .await
            .unwrap();
        client
            .update_comment(
                &story.key,
                &comment.id,
                deployment.rich_text("Started today."),
            )
            .await
            .unwrap();
        assert_eq!(client.comments(&story.key).await.unwrap().len(), 1);
        client
            .delete_comment(&story.key, &comment.id)
            .await
            .unwrap();
        assert!(client.comments(&story.key).await.unwrap().is_empty());

        client
            .add_worklog(&story.key, 5400, Some(deployment.rich_text("Pairing")))
            .await
            .unwrap();
        let logged: u64 = client
            .worklogs(&story.key)
            .await
            .unwrap()
            .iter()
            .map(|w| w.time_spent_seconds)
            .sum();
        assert_eq!(logged, 5400, "{deployment}");

        let component = client
            .create_component(&NewComponent {
                name: "Payments".into(),
                project: "DEMO".into(),
                description: None,
            })
            .await
            .unwrap();
        assert!(client
            .project_components("DEMO")
            .await
            .unwrap()
            .iter()
            .any(|c| c.id == component.id));

        let sprints = client
            .board_sprints(1, Some("active,future"))
            .await
            .unwrap();
        let sprint = sprints
            .first()
            .expect("the default board has an open sprint");
        client
            .move_to_sprint(sprint.id, std::slice::from_ref(&story.key))
            .await
            .unwrap();

        let version = client
            .create_version(&NewVersion {
                name: "3.0-tandem".into(),
                project_id: project.id.parse().unwrap(),
                ..NewVersion::default()
            })
            .await
            .unwrap();
        let released = client
            .update_version(
                &version.id,
                &VersionUpdate {
                    released: Some(true),
                    release_date: Some("2026-12-01".into()),
                    ..VersionUpdate::default()
                },
            )
            .await
            .unwrap();
        assert!(released.released, "{deployment}");
        assert!(client
            .project_versions("DEMO")
            .await
            .unwrap()
            .iter()
            .any(|v| v.id == version.id && v.released));

        let mut task = create.clone();
        task.fields
            .insert("issuetype".into(), json!({"name": "Task"}));
        task.fields
            .insert("summary".into(), json!("Blocked by checkout"));
        let task = client.create_issue(&task).await.unwrap();
        client
            .create_issue_link(&NewIssueLink {
                link_type: NamedRef {
                    name: "Blocks".into(),
                },
                inward_issue: KeyRef {
                    key: task.key.clone(),
                },
                outward_issue: KeyRef {
                    key: story.key.clone(),
                },
            })
            .await
            .unwrap();

        let read = client
            .issue(&story.key, &["summary", "status"], true)
            .await
            .unwrap();
        assert_eq!(read.fields["summary"], "Checkout flow v2", "{deployment}");
        assert_eq!(read.fields["status"]["name"], "In Progress", "{deployment}");
        assert!(read.changelog.is_some(), "{deployment}");

        client.delete_issue(&task.key, false).await.unwrap();
        let gone = client.issue(&task.key, &[], false).await.unwrap_err();
        assert_eq!(gone.reason(), "NotFound");
    }
}

#[tokio::test]
async fn admin_webhook_round_trip() {
    let sim = start(Deployment::Cloud).await;
    let client = client(&sim, admin(Deployment::Cloud));
    let spec = WebhookSpec {
        name: "tandem acme-cloud".into(),
        url: "http://127.0.0.1:9/webhooks/jira/ws-1".into(),
        events: vec!["jira:issue_created".into(), "jira:issue_updated".into()],
        exclude_body: false,
        ..WebhookSpec::default()
    };
    let created = client.create_webhook(&spec).await.unwrap();
    let id = created.id().expect("webhook id from self");
    let listed = client.webhooks().await.unwrap();
    assert!(listed
        .iter()
        .any(|h| h.id().as_deref() == Some(id.as_str())));
    let renamed = WebhookSpec {
        name: "tandem acme".into(),
        ..spec
    };
    assert_eq!(
        client.update_webhook(&id, &renamed).await.unwrap().name,
        "tandem acme"
    );
    client.delete_webhook(&id).await.unwrap();
    assert!(client
        .webhooks()
        .await
        .unwrap()
        .iter()
        .all(|h| h.id().as_deref() != Some(id.as_str())));
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_absorbed() {
    let sim = start(Deployment::Cloud).await;
    sim.set_rate_limit(Some(RateLimit {
        per_second: 1.0,
        burst: 2,
    }));
    // Without a client-side limit the client meets 429s and waits them out.
    let eager = client(&sim, admin(Deployment::Cloud));
    for _ in 0..4 {
        eager.fields().await.unwrap();
    }
    assert!(sim.rate_limited_count() > 0);

    sim.set_rate_limit(Some(RateLimit {
        per_second: 20.0,
        burst: 2,
    }));
    // With the connection's rate below Jira's, no request is refused.
    let before = sim.rate_limited_count();
    let mut paced = config(&sim, admin(Deployment::Cloud));
    paced.requests_per_second = Some(2.0);
    let paced = JiraClient::new(paced).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..4 {
        paced.fields().await.unwrap();
    }
    assert_eq!(sim.rate_limited_count(), before);

    sim.set_rate_limit(None);
    sim.inject_errors(2, 503);
    let before = sim.request_count();
    paced.fields().await.unwrap();
    assert_eq!(sim.request_count() - before, 3);
}
