//! The sync mapping against the in-process Jira simulator, in both dialects: items written
//! with `to_jira` land in Jira as mapped, read back with `from_jira` to the same values, and
//! the canonical snapshots of both sides agree.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use tandem::jira::{
    check_integration, Credentials, Deployment, IssueFields, JiraClient, JiraConfig, RetryPolicy,
};
use tandem::manifest::model::Model;
use tandem::manifest::{validate, SourceFile};
use tandem::reconcile::spec::integration_spec;
use tandem::sim::{self, SimConfig, SimHandle, Simulator};
use tandem::sync::context::fetch_catalog;
use tandem::sync::mapping::{Origin, HIERARCHY_LINK_TYPE};
use tandem::sync::sprints::apply_sprint_moves;
use tandem::sync::transitions::{apply_status, StatusPolicy, WorkflowGraph};
use tandem::sync::{
    fields_snapshot, fields_snapshot_from_issue, from_jira, to_jira, IssueRef, MappingContext,
    MappingError, SprintMove,
};
use tandem::workspace::model::Item;

const BOTH: [Deployment; 2] = [Deployment::Cloud, Deployment::DataCenter];

const MANIFESTS: &str = r#"
apiVersion: tandem/v1
kind: Workspace
metadata: {name: product}
spec:
  id: product
  itemTypes:
    - name: Initiative
    - {name: Epic, parent: Initiative}
    - {name: Feature, parent: Epic}
    - {name: Step, parent: Feature}
  statuses: [Backlog, Doing, Done]
  fields:
    - {name: Platforms, type: multiSelect, options: [Web, iOS, Android]}
    - {name: Target date, type: date}
    - {name: Spec, type: url}
    - {name: Keywords, type: labels}
    - {name: Reviewer note, type: text}
---
apiVersion: tandem/v1
kind: Connection
metadata: {name: jira}
spec:
  displayName: Jira
  url: https://jira.example.com
  auth: {email: admin@example.com, apiToken: {env: TOKEN}}
---
apiVersion: tandem/v1
kind: FieldMapping
metadata: {name: fields}
spec:
  primary:
    components: true
    releases: true
    storyPoints: auto
    team: Team
  defaults:
    objective: Objective
    value: Business value
  custom:
    - {workspace: Platforms, jira: Platforms}
    - {workspace: Target date, jira: Target date}
    - {workspace: Spec, jira: Spec URL}
    - {workspace: Keywords, jira: Keywords}
    - {workspace: Reviewer note, jira: Key result, direction: fromJira}
---
apiVersion: tandem/v1
kind: ProjectIntegration
metadata: {name: demo}
spec:
  displayName: Demo
  connection: jira
  workspace: product
  project: DEMO
  board: 1
  fieldMapping: fields
  direction: DIRECTION
  types:
    - {workspace: Initiative, ignore: true}
    - {workspace: Epic, jira: Epic}
    - {workspace: Feature, jira: Story}
    - {workspace: Step, jira: Sub-task}
  secondaryTypes:
    - {jira: Bug, workspace: Feature}
  statuses:
    - {workspace: Backlog, jira: To Do}
    - {workspace: Doing, jira: In Progress}
    - {workspace: Done, jira: Done}
  conflicts: lastWriterWins
  resync: 10m
"#;

fn model(direction: &str) -> Model {
    let files = [SourceFile {
        path: "manifests.yaml".into(),
        text: MANIFESTS.replace("DIRECTION", direction),
    }];
    let v = validate(&files);
    let errors: Vec<String> = v.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(v.model.integrations.contains_key("demo"), "{errors:#?}");
    v.model
}

async fn start(deployment: Deployment) -> SimHandle {
    let d = match deployment {
        Deployment::Cloud => sim::Deployment::Cloud,
        Deployment::DataCenter => sim::Deployment::DataCenter,
    };
    Simulator::start(SimConfig::new(d))
        .await
        .expect("simulator")
}

fn client(sim: &SimHandle, deployment: Deployment) -> JiraClient {
    let auth = match deployment {
        Deployment::Cloud => Credentials::basic("admin@example.com", "admin-token"),
        Deployment::DataCenter => Credentials::basic("admin", "admin"),
    };
    let mut config = JiraConfig::new(sim.base_url(), auth);
    config.deployment = Some(deployment);
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        ..RetryPolicy::default()
    };
    JiraClient::new(config).expect("client")
}

/// The context exactly as the engine builds it: manifests, online check, fetched catalog.
async fn context(client: &JiraClient, deployment: Deployment, direction: &str) -> MappingContext {
    let model = model(direction);
    let pi = &model.integrations["demo"];
    let ws = &model.workspaces["product"];
    let fm = model.field_mappings.get("fields");
    let report = check_integration(client, &integration_spec(pi, ws, fm))
        .await
        .expect("check runs");
    assert!(report.is_ok(), "{deployment}: {:#?}", report.failures);
    let catalog = fetch_catalog(client, pi).await.expect("catalog");
    MappingContext::new(pi, ws, fm, &report.resolved, deployment, catalog)
}

fn item(item_type: &str, title: &str) -> Item {
    let now = Utc::now();
    Item {
        id: format!("item-{title}"),
        workspace: "product".into(),
        version: 1,
        item_type: item_type.into(),
        title: title.into(),
        description: String::new(),
        status: "Backlog".into(),
        parent: None,
        sprint: None,
        releases: vec![],
        components: vec![],
        story_points: None,
        team: None,
        labels: vec![],
        fields: BTreeMap::new(),
        comments: vec![],
        time_spent_seconds: 0,
        jira: None,
        sync_to: None,
        field_updated: Default::default(),
        created: now,
        updated: now,
    }
}

/// Rich descriptions survive Data Center (wiki stored verbatim); the simulator's Cloud keeps
/// only the text of ADF (as plain paragraphs and line breaks), so Cloud items use those.
fn description(deployment: Deployment) -> &'static str {
    match deployment {
        Deployment::Cloud => "Why we build it.\nSecond line.\n\nAcceptance: it works.",
        Deployment::DataCenter => {
            "# Why\n\nShip **fast**, see [spec](https://example.com/spec).\n\n- web\n- mobile\n\n1. design\n2. build"
        }
    }
}

fn feature(deployment: Deployment) -> Item {
    let mut it = item("Feature", "Checkout with saved cards");
    it.description = description(deployment).into();
    it.status = "Doing".into();
    it.sprint = Some("DEMO Sprint 1".into());
    it.releases = vec!["1.0".into()];
    it.components = vec!["Backend".into(), "Frontend".into()];
    it.story_points = Some(3.0);
    it.team = Some("Red".into());
    it.labels = vec!["payments".into()];
    it.fields = BTreeMap::from([
        ("objective".into(), json!("Grow conversion\n\nby 5%")),
        ("value".into(), json!(8)),
        ("Platforms".into(), json!(["iOS", "Web"])),
        ("Target date".into(), json!("2026-12-24")),
        ("Spec".into(), json!("https://example.com/spec/checkout")),
        ("Keywords".into(), json!(["cards", "checkout"])),
        ("Reviewer note".into(), json!("kept in the workspace")),
    ]);
    it
}

async fn create(client: &JiraClient, body: &IssueFields) -> (String, String) {
    let created = client.create_issue(body).await.expect("create");
    (created.id, created.key)
}

#[tokio::test]
async fn an_item_is_created_with_every_mapped_field_and_reads_back() {
    for deployment in BOTH {
        let sim = start(deployment).await;
        let client = client(&sim, deployment);
        let ctx = context(&client, deployment, "twoWay").await;

        let mut epic = item("Epic", "Payments");
        epic.releases = vec!["1.0".into()];
        let epic_write = to_jira(&epic, None, &ctx).expect("epic maps");
        let (epic_id, epic_key) = create(&client, &epic_write.create_body()).await;

        let feat = feature(deployment);
        let parent = IssueRef {
            id: epic_id,
            key: epic_key.clone(),
            item_type: "Epic".into(),
        };
        let write = to_jira(&feat, Some(&parent), &ctx).expect("feature maps");
        // Hierarchy in the dialect's terms; a fromJira field is never written.
        match deployment {
            Deployment::Cloud => assert_eq!(write.fields["parent"], json!({"key": epic_key})),
            Deployment::DataCenter => {
                assert_eq!(write.fields["customfield_10100"], json!(epic_key));
                assert!(!write.fields.contains_key("parent"));
            }
        }
        assert!(!write.fields.contains_key("customfield_10032"));
        assert_eq!(write.sprint, Some(SprintMove { sprint_id: Some(1) }));
        assert_eq!(write.status.as_ref().unwrap().target_status_id, "3");
        let (_, key) = create(&client, &write.create_body()).await;
        apply_sprint_moves(&client, &[(key.clone(), write.sprint.unwrap())])
            .await
            .expect("sprint move");
        apply_status(
            &client,
            &key,
            &write.status.as_ref().unwrap().target_status_id,
            Some(&write.fields),
            &mut WorkflowGraph::new(),
            &StatusPolicy::new(ctx.mapped_statuses()),
        )
        .await
        .expect("status");

        let issue = client.issue(&key, &[], false).await.expect("read back");
        let f = &issue.fields;
        assert_eq!(f["issuetype"]["name"], "Story", "{deployment}");
        assert_eq!(f["fixVersions"][0]["name"], "1.0");
        assert_eq!(f["components"].as_array().unwrap().len(), 2);
        assert_eq!(f["customfield_10030"]["value"], "Red");
        let sp = if deployment == Deployment::Cloud {
            "customfield_10016"
        } else {
            "customfield_10106"
        };
        assert_eq!(f[sp].as_f64(), Some(3.0));

        let patch = from_jira(&issue, &ctx).expect("maps back");
        assert_eq!(patch.item_type, "Feature");
        assert_eq!(patch.origin, Some(Origin::Primary));
        assert_eq!(patch.parent_key, Some(Some(epic_key.clone())));
        assert_eq!(patch.sprint, Some(Some("DEMO Sprint 1".into())));
        assert_eq!(patch.status.as_deref(), Some("Doing"));
        assert_eq!(patch.description.as_deref(), Some(description(deployment)));
        assert_eq!(patch.story_points, Some(Some(3.0)));
        assert_eq!(patch.fields["Platforms"], json!(["iOS", "Web"]));
        assert_eq!(patch.fields["objective"], json!("Grow conversion\n\nby 5%"));
        // Key result was never written: Jira's (empty) value is what the workspace gets.
        assert_eq!(patch.fields["Reviewer note"], Value::Null);

        let mut expected = fields_snapshot(&feat, &ctx);
        expected.insert("Reviewer note".into(), Value::Null);
        assert_eq!(
            fields_snapshot_from_issue(&issue, &ctx).unwrap(),
            expected,
            "{deployment}"
        );

        // A sub-task under the feature uses `parent` in both dialects; without one Jira
        // would refuse it, so the mapping says so first.
        let step = item("Step", "Add card form");
        let err = to_jira(&step, None, &ctx).unwrap_err();
        assert!(err.to_string().contains("sub-task"), "{err}");
        let step_parent = IssueRef {
            id: issue.id.clone(),
            key: key.clone(),
            item_type: "Feature".into(),
        };
        let step_write = to_jira(&step, Some(&step_parent), &ctx).unwrap();
        assert_eq!(step_write.fields["parent"], json!({"key": key}));
        let (_, step_key) = create(&client, &step_write.create_body()).await;
        let step_issue = client.issue(&step_key, &[], false).await.unwrap();
        let step_patch = from_jira(&step_issue, &ctx).unwrap();
        assert_eq!(step_patch.item_type, "Step");
        assert_eq!(step_patch.parent_key, Some(Some(key.clone())));

        // Comments and worklogs come back with the issue.
        client
            .add_comment(&key, ctx.comment_body("Looks good.\nShip it."))
            .await
            .unwrap();
        client.add_worklog(&key, 5400, None).await.unwrap();
        let issue = client.issue(&key, &[], false).await.unwrap();
        let patch = from_jira(&issue, &ctx).unwrap();
        let comments = patch.comments.expect("comments read");
        assert_eq!(comments.len(), 1);
        assert_eq!(comments[0].body, "Looks good.\nShip it.");
        assert_eq!(comments[0].author, "Alice Admin");
        assert_eq!(patch.time_spent_seconds, Some(5400));
        sim.shutdown().await.unwrap();
    }
}

/// Property-style: many item shapes, each written, stored by Jira, read back: same snapshot.
#[tokio::test]
async fn snapshots_survive_a_round_trip_through_jira() {
    for deployment in BOTH {
        let sim = start(deployment).await;
        let client = client(&sim, deployment);
        let ctx = context(&client, deployment, "twoWay").await;
        let teams = [None, Some("Red"), Some("Blue"), Some("Green")];
        let platforms = [json!([]), json!(["Web"]), json!(["Android", "iOS", "Web"])];
        let points = [None, Some(0.0), Some(0.5), Some(13.0)];
        for n in 0..12usize {
            let mut it = item("Feature", &format!("Item {n}  "));
            if n % 3 == 0 {
                it.description = description(deployment).into();
            }
            it.team = teams[n % 4].map(str::to_owned);
            it.story_points = points[n % 4];
            it.releases = match n % 3 {
                0 => vec![],
                1 => vec!["2.0".into()],
                _ => vec!["2.0".into(), "1.0".into()],
            };
            it.components = if n % 2 == 0 {
                vec![]
            } else {
                vec!["Frontend".into()]
            };
            it.labels = (0..n % 3).map(|i| format!("l{i}")).collect();
            it.fields
                .insert("Platforms".into(), platforms[n % 3].clone());
            if n % 2 == 1 {
                it.fields.insert("value".into(), json!(n as f64 + 0.25));
                it.fields.insert("Target date".into(), json!("2027-01-31"));
            }
            it.status = ["Backlog", "Doing", "Done"][n % 3].into();
            let write = to_jira(&it, None, &ctx).unwrap();
            let (_, key) = create(&client, &write.create_body()).await;
            if let Some(status) = &write.status {
                apply_status(
                    &client,
                    &key,
                    &status.target_status_id,
                    Some(&write.fields),
                    &mut WorkflowGraph::new(),
                    &StatusPolicy::new(ctx.mapped_statuses()),
                )
                .await
                .unwrap();
            }
            let issue = client.issue(&key, &[], false).await.unwrap();
            let mut expected = fields_snapshot(&it, &ctx);
            // The item is in no sprint; the board keeps new issues in the backlog.
            expected.insert("sprint".into(), Value::Null);
            assert_eq!(
                fields_snapshot_from_issue(&issue, &ctx).unwrap(),
                expected,
                "{deployment} item {n}"
            );
            // And applying the patch to a blank item gives the same snapshot again.
            let mut blank = item("Feature", "");
            from_jira(&issue, &ctx).unwrap().apply(&mut blank);
            assert_eq!(fields_snapshot(&blank, &ctx), expected, "{deployment} {n}");
        }
        sim.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn edits_clear_what_the_item_no_longer_has() {
    for deployment in BOTH {
        let sim = start(deployment).await;
        let client = client(&sim, deployment);
        let ctx = context(&client, deployment, "twoWay").await;
        let mut it = feature(deployment);
        let (_, key) = create(&client, &to_jira(&it, None, &ctx).unwrap().create_body()).await;
        it.story_points = None;
        it.team = None;
        it.components.clear();
        it.description.clear();
        it.fields.remove("Platforms");
        it.fields.remove("Spec");
        it.title = "Renamed".into();
        let edit = to_jira(&it, None, &ctx).unwrap().edit_body();
        assert!(!edit.fields.contains_key("project"));
        client.edit_issue(&key, &edit).await.expect("edit");
        let issue = client.issue(&key, &[], false).await.unwrap();
        let snap = fields_snapshot_from_issue(&issue, &ctx).unwrap();
        assert_eq!(snap["title"], "Renamed");
        assert_eq!(snap["storyPoints"], Value::Null);
        assert_eq!(snap["team"], Value::Null);
        assert_eq!(snap["components"], json!([]));
        assert_eq!(snap["description"], Value::Null);
        assert_eq!(snap["Platforms"], json!([]));
        assert_eq!(snap["Spec"], Value::Null, "{deployment}");
        sim.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn status_changes_walk_the_simulators_workflow_with_its_required_resolution() {
    for deployment in BOTH {
        let sim = start(deployment).await;
        let client = client(&sim, deployment);
        let ctx = context(&client, deployment, "twoWay").await;
        let it = item("Feature", "Walk the workflow");
        let (_, key) = create(&client, &to_jira(&it, None, &ctx).unwrap().create_body()).await;
        let mut graph = WorkflowGraph::new();
        let policy = StatusPolicy::new(ctx.mapped_statuses());
        let done = ctx.jira_status("Done").unwrap().id.clone();
        let out = apply_status(&client, &key, &done, None, &mut graph, &policy)
            .await
            .expect("to Done");
        assert_eq!(out.applied, ["Done"]);
        let issue = client.issue(&key, &[], false).await.unwrap();
        assert_eq!(issue.fields["status"]["name"], "Done");
        // The transition's required resolution was filled with Jira's first allowed value.
        assert_eq!(issue.fields["resolution"]["name"], "Done", "{deployment}");

        // Two changes in a row (Done → In Progress → To Do), planned over the learned graph.
        let doing = ctx.jira_status("Doing").unwrap().id.clone();
        apply_status(&client, &key, &doing, None, &mut graph, &policy)
            .await
            .unwrap();
        let todo = ctx.jira_status("Backlog").unwrap().id.clone();
        let out = apply_status(&client, &key, &todo, None, &mut graph, &policy)
            .await
            .unwrap();
        assert_eq!(out.applied, ["To Do"]);
        assert!(graph.knows(&done) && graph.knows(&doing));
        let issue = client.issue(&key, &[], false).await.unwrap();
        assert_eq!(
            from_jira(&issue, &ctx).unwrap().status.as_deref(),
            Some("Backlog")
        );
        assert!(issue.fields["resolution"].is_null());
        // Already there: nothing is posted.
        let out = apply_status(&client, &key, &todo, None, &mut graph, &policy)
            .await
            .unwrap();
        assert!(out.applied.is_empty());
        sim.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn sprint_moves_go_in_batches_of_fifty_and_back_to_the_backlog() {
    for deployment in BOTH {
        let sim = start(deployment).await;
        let client = client(&sim, deployment);
        let ctx = context(&client, deployment, "twoWay").await;
        let keys: Vec<String> = (0..120)
            .map(|n| {
                sim.create_issue(json!({
                    "project": {"key": "DEMO"},
                    "issuetype": {"name": "Story"},
                    "summary": format!("story {n}"),
                }))
                .expect("seed")
                .key
            })
            .collect();
        let sprint = ctx.sprint_by_name("DEMO Sprint 1").unwrap().id;
        let moves: Vec<(String, SprintMove)> = keys
            .iter()
            .map(|k| {
                (
                    k.clone(),
                    SprintMove {
                        sprint_id: Some(sprint),
                    },
                )
            })
            .collect();
        sim.reset_request_counts();
        let report = apply_sprint_moves(&client, &moves).await.unwrap();
        assert_eq!(report.calls, 3);
        assert_eq!(
            sim.requests_to("POST", &format!("/rest/agile/1.0/sprint/{sprint}/issue")),
            3
        );
        let last = client.issue(&keys[119], &[], false).await.unwrap();
        assert_eq!(
            from_jira(&last, &ctx).unwrap().sprint,
            Some(Some("DEMO Sprint 1".into()))
        );

        let back: Vec<(String, SprintMove)> = keys
            .iter()
            .take(60)
            .map(|k| (k.clone(), SprintMove { sprint_id: None }))
            .collect();
        let report = apply_sprint_moves(&client, &back).await.unwrap();
        assert_eq!(report.calls, 2);
        assert_eq!(sim.requests_to("POST", "/rest/agile/1.0/backlog/issue"), 2);
        let first = client.issue(&keys[0], &[], false).await.unwrap();
        assert_eq!(
            from_jira(&first, &ctx).unwrap().sprint,
            Some(None),
            "{deployment}"
        );
        sim.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn ignored_types_never_map_and_secondary_types_arrive_one_way() {
    for deployment in BOTH {
        let sim = start(deployment).await;
        let client = client(&sim, deployment);
        let ctx = context(&client, deployment, "twoWay").await;

        let err = to_jira(&item("Initiative", "Big bet"), None, &ctx).unwrap_err();
        assert_eq!(err, MappingError::IgnoredType("Initiative".into()));
        assert!(err.is_skip());

        let bug = sim
            .create_issue(json!({
                "project": {"key": "DEMO"},
                "issuetype": {"name": "Bug"},
                "summary": "Crash on save",
                "labels": ["crash"],
            }))
            .unwrap();
        let issue = client.issue(&bug.key, &[], false).await.unwrap();
        let patch = from_jira(&issue, &ctx).unwrap();
        assert_eq!(patch.item_type, "Feature");
        assert_eq!(patch.origin, Some(Origin::Secondary));
        assert_eq!(patch.title.as_deref(), Some("Crash on save"));
        assert_eq!(patch.labels, Some(vec!["crash".to_string()]));
        let err = ctx.check_pushable(&issue).unwrap_err();
        assert!(
            matches!(err, MappingError::SecondaryType { .. }),
            "{deployment}: {err}"
        );

        let task = sim
            .create_issue(json!({
                "project": {"key": "DEMO"},
                "issuetype": {"name": "Task"},
                "summary": "Not mapped at all",
            }))
            .unwrap();
        let issue = client.issue(&task.key, &[], false).await.unwrap();
        let err = from_jira(&issue, &ctx).unwrap_err();
        assert_eq!(err, MappingError::UnmappedJiraType("Task".into()));
        assert!(err.is_skip());
        sim.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn directions_decide_what_each_side_gets() {
    let deployment = Deployment::Cloud;
    let sim = start(deployment).await;
    let client = client(&sim, deployment);

    let from = context(&client, deployment, "fromJira").await;
    assert_eq!(
        to_jira(&feature(deployment), None, &from).unwrap_err(),
        MappingError::ReadOnly
    );

    let to = context(&client, deployment, "toJira").await;
    let write = to_jira(&feature(deployment), None, &to).unwrap();
    // A field explicitly fromJira stays out of writes even when the integration pushes.
    assert!(!write.fields.contains_key("customfield_10032"));
    let (_, key) = create(&client, &write.create_body()).await;
    sim.edit_issue(
        &key,
        json!({"fields": {"summary": "Changed in Jira", "customfield_10032": "from Jira"}}),
    )
    .unwrap();
    let issue = client.issue(&key, &[], false).await.unwrap();
    let patch = from_jira(&issue, &to).unwrap();
    // toJira: Jira's changes are not read back, except the field that is explicitly fromJira.
    assert_eq!(patch.title, None);
    assert_eq!(patch.story_points, None);
    assert_eq!(patch.fields.len(), 1);
    assert_eq!(patch.fields["Reviewer note"], "from Jira");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn parents_jira_cannot_hold_become_hierarchy_links() {
    for deployment in BOTH {
        let sim = start(deployment).await;
        let client = client(&sim, deployment);
        let ctx = context(&client, deployment, "twoWay").await;
        // A Feature (Story) whose parent is another Feature: same level in Jira.
        let (id, key) = create(
            &client,
            &to_jira(&item("Feature", "Parent"), None, &ctx)
                .unwrap()
                .create_body(),
        )
        .await;
        let parent = IssueRef {
            id,
            key: key.clone(),
            item_type: "Feature".into(),
        };
        let write = to_jira(&item("Feature", "Child"), Some(&parent), &ctx).unwrap();
        assert_eq!(write.parent_link.as_deref(), Some(key.as_str()));
        // Whatever field held a parent before is cleared by an edit.
        let cleared = match deployment {
            Deployment::Cloud => "parent",
            Deployment::DataCenter => "customfield_10100",
        };
        assert_eq!(write.fields[cleared], Value::Null);
        let (_, child) = create(&client, &write.create_body()).await;
        client
            .create_issue_link(&tandem::jira::NewIssueLink {
                link_type: tandem::jira::NamedRef {
                    name: HIERARCHY_LINK_TYPE.into(),
                },
                inward_issue: tandem::jira::KeyRef { key: child.clone() },
                outward_issue: tandem::jira::KeyRef { key: key.clone() },
            })
            .await
            .unwrap();
        let issue = client.issue(&child, &[], false).await.unwrap();
        assert_eq!(
            from_jira(&issue, &ctx).unwrap().parent_key,
            Some(Some(key.clone())),
            "{deployment}"
        );
        sim.shutdown().await.unwrap();
    }
}
