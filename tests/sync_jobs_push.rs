//! One-time push to Jira against the in-process simulator, in both dialects: a sprint's items
//! become issues in that sprint, linked once, parents first; pushing again creates nothing; and
//! an item whose create reached Jira but whose link was never written (a crash in between,
//! reproduced by writing the intent and creating the labelled issue) is adopted, not duplicated.

use serde_json::json;
mod common_sync;

use common_sync::*;
use tandem::jira::Deployment;
use tandem::sim::SimHandle;
use tandem::store::Store;
use tandem::sync::context::IntegrationRun;
use tandem::sync::jobs::{JobRecord, JobRequest, JobScope};
use tandem::sync::push::{item_label, push_to_jira, Intent, PushEnv, INTENTS_NS};
use tandem::workspace::{ItemPatch, Origin, SprintPatch, WorkspaceService};

async fn push(
    store: &Store,
    ws: &WorkspaceService,
    run: &IntegrationRun,
    id: &str,
    scope: JobScope,
) -> JobRecord {
    let mut record = JobRecord::new(
        id.into(),
        "demo",
        JobRequest::ToJira {
            scope: scope.clone(),
            dry_run: false,
        },
    );
    let env = PushEnv {
        store,
        workspace: ws,
        run,
        progress: None,
    };
    push_to_jira(&env, &mut record, &scope).await.expect("push");
    record
}

async fn item(ws: &WorkspaceService, v: serde_json::Value) -> String {
    let patch = ItemPatch::from_json(&v).expect("patch");
    ws.create_item("product", patch, Origin::Api)
        .await
        .expect("create item")
        .id
}

async fn setup(
    deployment: Deployment,
) -> (
    SimHandle,
    tempfile::TempDir,
    Store,
    WorkspaceService,
    IntegrationRun,
) {
    let sim = start(deployment, 0).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let model = model();
    let ws = WorkspaceService::with_model(store.clone(), model.clone());
    let run = integration_run(&model, client(&sim, deployment), deployment).await;
    ws.create_sprint(
        "product",
        SprintPatch {
            name: Some("DEMO Sprint 1".into()),
            state: Some("active".into()),
            ..SprintPatch::default()
        },
        Origin::Api,
    )
    .await
    .expect("sprint");
    (sim, dir, store, ws, run)
}

async fn push_one_sprint(deployment: Deployment) {
    let (sim, _dir, store, ws, run) = setup(deployment).await;
    let epic = item(&ws, json!({"type": "Epic", "title": "Checkout"})).await;
    let mut stories = Vec::new();
    for n in 0..3 {
        stories.push(
            item(
                &ws,
                json!({"type": "Story", "title": format!("story {n}"), "parent": epic, "sprint": "DEMO Sprint 1", "status": "Doing"}),
            )
            .await,
        );
    }
    item(&ws, json!({"type": "Story", "title": "not in the sprint"})).await;
    let before = sim.issue_count();

    // The epic first (whole workspace would do too), then the sprint.
    let first = push(&store, &ws, &run, "epic", JobScope::All).await;
    assert_eq!(first.counts.failed, 0, "{deployment}: {:#?}", first.errors);
    assert_eq!(sim.issue_count(), before + 5);
    let again = push(
        &store,
        &ws,
        &run,
        "sprint",
        JobScope::Sprints(vec!["DEMO Sprint 1".into()]),
    )
    .await;
    assert_eq!(again.counts.failed, 0, "{deployment}: {:#?}", again.errors);
    assert_eq!(again.counts.created, 0, "{deployment}");
    assert_eq!(again.counts.updated, 3, "{deployment}");
    assert_eq!(
        sim.issue_count(),
        before + 5,
        "{deployment}: pushing again creates nothing"
    );

    let epic_key = store
        .link_by_item("demo", &epic)
        .expect("read")
        .expect("epic linked")
        .jira_issue_key;
    // Data Center (8, 9) refuses an Epic without Epic Name: tandem names it after the title.
    if deployment == Deployment::DataCenter {
        let issue = sim.issue(&epic_key).expect("epic");
        assert_eq!(
            issue["fields"]["customfield_10102"], "Checkout",
            "{issue:#}"
        );
    }
    for s in &stories {
        let link = store
            .link_by_item("demo", s)
            .expect("read")
            .expect("story linked");
        let issue = sim.issue(&link.jira_issue_key).expect("issue");
        let text = issue.to_string();
        assert!(
            text.contains("DEMO Sprint 1"),
            "{deployment}: {} in the sprint: {text}",
            link.jira_issue_key
        );
        assert!(
            text.contains(&epic_key),
            "{deployment}: {} has its epic: {text}",
            link.jira_issue_key
        );
        assert!(
            text.contains(&item_label("product", s)),
            "{deployment}: labelled"
        );
        assert!(
            text.contains("In Progress"),
            "{deployment}: status by transition: {text}"
        );
    }
    sim.shutdown().await.expect("sim stops");
}

async fn crash_between_create_and_link_is_adopted(deployment: Deployment) {
    let (sim, _dir, store, ws, run) = setup(deployment).await;
    let id = item(
        &ws,
        json!({"type": "Story", "title": "half pushed", "sprint": "DEMO Sprint 1"}),
    )
    .await;
    // What a crash right after Jira's create leaves: the intent and a labelled issue, no link.
    let label = item_label("product", &id);
    let intent = Intent {
        job: "crashed".into(),
        label: label.clone(),
    };
    store
        .put_kv(
            INTENTS_NS,
            &format!("demo/{id}"),
            serde_json::to_vec(&intent).expect("json"),
        )
        .await
        .expect("intent");
    let created = sim
        .create_issue(json!({
            "project": {"key": "DEMO"}, "issuetype": {"name": "Story"},
            "summary": "half pushed", "labels": [label],
        }))
        .expect("create");
    let before = sim.issue_count();

    let record = push(
        &store,
        &ws,
        &run,
        "resume",
        JobScope::Sprints(vec!["DEMO Sprint 1".into()]),
    )
    .await;
    assert_eq!(
        record.counts.failed, 0,
        "{deployment}: {:#?}",
        record.errors
    );
    assert_eq!(record.counts.created, 1, "{deployment}");
    assert_eq!(sim.issue_count(), before, "{deployment}: no second issue");
    let link = store
        .link_by_item("demo", &id)
        .expect("read")
        .expect("linked");
    assert_eq!(
        link.jira_issue_id, created.id,
        "{deployment}: the existing issue was adopted"
    );
    sim.shutdown().await.expect("sim stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_push_one_sprint() {
    push_one_sprint(Deployment::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_push_one_sprint() {
    push_one_sprint(Deployment::DataCenter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_crash_between_create_and_link_is_adopted() {
    crash_between_create_and_link_is_adopted(Deployment::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_crash_between_create_and_link_is_adopted() {
    crash_between_create_and_link_is_adopted(Deployment::DataCenter).await;
}
