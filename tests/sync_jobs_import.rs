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

/// The concurrent import keeps many requests in flight, yet no more than the Connection's
/// `requestsPerSecond` reach Jira in any second (counted where Jira counts: on arrival).
async fn import_keeps_to_the_rate(deployment: Deployment) {
    const RATE: usize = 4;
    let sim = start(deployment, 3000).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let model = model();
    let ws = WorkspaceService::with_model(store.clone(), model.clone());
    let mut config = client_config(&sim, deployment);
    config.requests_per_second = Some(RATE as f64);
    let client = tandem::jira::JiraClient::new(config).expect("client");
    let run = integration_run(&model, client, deployment).await;
    // A far-away Jira whose answers take different times, so requests overlap and bunch up.
    sim.set_latency(std::time::Duration::from_millis(150));
    sim.set_jitter(std::time::Duration::from_millis(300));
    let from = std::time::Instant::now();

    let record = import(
        &store,
        &ws,
        &run,
        "paced",
        "type in (Epic, Story, Sub-task)",
    )
    .await;
    assert_eq!(
        record.counts.failed, 0,
        "{deployment}: {:#?}",
        record.errors
    );
    let expected = sim
        .search("project = DEMO AND type in (Epic, Story, Sub-task)")
        .expect("search")
        .len() as u64;
    assert_eq!(record.counts.created, expected, "{deployment}");

    let mut arrivals: Vec<std::time::Instant> = sim
        .request_log()
        .into_iter()
        .filter(|r| r.received >= from && !r.path.starts_with("/_sim"))
        .map(|r| r.received)
        .collect();
    arrivals.sort();
    assert!(
        arrivals.len() > 3 * RATE,
        "{deployment}: the import made {} requests",
        arrivals.len()
    );
    // Any window of one second holds at most RATE arrivals, less a margin: the limiter counts
    // requests when they leave, and on a loaded machine one request can take up to a tenth of
    // a second longer than the next to get from the client's limiter into the simulator.
    let window = std::time::Duration::from_millis(900);
    let mut busiest = 0;
    for (i, t) in arrivals.iter().enumerate() {
        let n = arrivals[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < window)
            .count();
        busiest = busiest.max(n);
    }
    assert!(
        busiest <= RATE,
        "{deployment}: {busiest} requests within one second at requestsPerSecond {RATE}"
    );
    assert_eq!(
        sim.request_log().iter().filter(|r| r.status == 429).count(),
        0
    );
    sim.shutdown().await.expect("sim stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_import_sends_no_more_than_requests_per_second() {
    import_keeps_to_the_rate(Deployment::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_import_sends_no_more_than_requests_per_second() {
    import_keeps_to_the_rate(Deployment::DataCenter).await;
}
