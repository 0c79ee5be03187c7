//! One-time import from Jira against the in-process simulator, in both dialects: 2,000
//! generated issues imported with a JQL filter give exactly the simulator's own search count,
//! every imported issue is linked to one item, sub-tasks find their parent, ignored types are
//! skipped, and importing again creates nothing.

use std::collections::HashSet;

mod common_sync;

use common_sync::*;
use tandem::jira::Deployment;
use tandem::store::Store;
use tandem::sync::context::IntegrationRun;
use tandem::sync::import::{import_from_jira, import_jql, ImportEnv};
use tandem::sync::jobs::{JobRecord, JobRequest, Phase};
use tandem::workspace::{ItemFilter, WorkspaceService};

fn all_items(ws: &WorkspaceService) -> Vec<tandem::workspace::model::Item> {
    let mut out = Vec::new();
    let mut filter = ItemFilter {
        limit: Some(500),
        ..ItemFilter::default()
    };
    loop {
        let page = ws.list_items("product", &filter).expect("list");
        out.extend(page.items);
        match page.next {
            Some(next) => filter.cursor = Some(next),
            None => return out,
        }
    }
}

async fn import(
    store: &Store,
    ws: &WorkspaceService,
    run: &IntegrationRun,
    id: &str,
    jql: &str,
) -> JobRecord {
    let request = JobRequest::FromJira {
        jql: Some(jql.into()),
        dry_run: false,
    };
    let mut record = JobRecord::new(id.into(), "demo", request);
    record.jql = import_jql("DEMO", Some(jql));
    let env = ImportEnv {
        store,
        workspace: ws,
        run,
        progress: None,
    };
    import_from_jira(&env, &mut record).await.expect("import");
    record
}

async fn import_2000_with_jql(deployment: Deployment) {
    let sim = start(deployment, 2000).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let model = model();
    let ws = WorkspaceService::with_model(store.clone(), model.clone());
    let run = integration_run(&model, client(&sim, deployment), deployment).await;

    let filter = "statusCategory != Done AND type != Bug";
    let expected = sim
        .search(&format!("project = DEMO AND {filter}"))
        .expect("sim search");
    assert!(
        expected.len() > 500,
        "the filter keeps a good part: {}",
        expected.len()
    );
    let tasks = sim
        .search(&format!("project = DEMO AND ({filter}) AND type = Task"))
        .expect("sim search")
        .len() as u64;

    let record = import(&store, &ws, &run, "first", filter).await;
    let c = record.counts;
    assert_eq!(record.phase, Phase::Done);
    assert_eq!(c.failed, 0, "{deployment}: {:#?}", record.errors);
    assert_eq!(record.processed, expected.len() as u64, "{deployment}");
    assert_eq!(
        c.skipped, tasks,
        "{deployment}: Tasks map to an ignored type"
    );
    assert_eq!(c.created + c.skipped, expected.len() as u64, "{deployment}");

    // Every imported issue is linked exactly once, to its own item.
    let items = all_items(&ws);
    assert_eq!(items.len() as u64, c.created, "{deployment}");
    assert_eq!(store.count_links("demo").expect("links"), c.created);
    let mut issue_ids = HashSet::new();
    for item in &items {
        let link = item
            .jira
            .as_ref()
            .expect("every imported item shows its link");
        assert!(
            issue_ids.insert(link.id.clone()),
            "issue {} linked twice",
            link.key
        );
    }

    // Hierarchy: a sub-task's item has its story's item as parent, whenever the story came too.
    let snapshot = sim.snapshot();
    let mut checked = 0;
    for item in items.iter().filter(|i| i.item_type == "Subtask") {
        let link = item.jira.as_ref().expect("linked");
        let issue = sim.issue(&link.key).expect("issue exists");
        let parent_key = issue
            .pointer("/fields/parent/key")
            .and_then(|v| v.as_str())
            .expect("a sub-task has a parent");
        let parent_item = items
            .iter()
            .find(|i| i.jira.as_ref().is_some_and(|l| l.key == parent_key));
        if let Some(p) = parent_item {
            assert_eq!(item.parent.as_deref(), Some(p.id.as_str()), "{}", link.key);
            checked += 1;
        }
    }
    assert!(
        checked > 10,
        "{deployment}: {checked} sub-tasks with imported parents"
    );
    drop(snapshot);

    // Importing again changes nothing and creates nothing.
    let again = import(&store, &ws, &run, "second", filter).await;
    assert_eq!(again.counts.created, 0, "{deployment}");
    assert_eq!(again.counts.failed, 0, "{deployment}: {:#?}", again.errors);
    assert_eq!(
        again.counts.unchanged + again.counts.updated + again.counts.skipped,
        expected.len() as u64
    );
    assert_eq!(all_items(&ws).len() as u64, c.created);
    sim.shutdown().await.expect("sim stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_import_of_2000_issues_with_jql_links_each_once() {
    import_2000_with_jql(Deployment::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_import_of_2000_issues_with_jql_links_each_once() {
    import_2000_with_jql(Deployment::DataCenter).await;
}
