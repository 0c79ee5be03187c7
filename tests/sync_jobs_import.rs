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

/// When each request to the Jira at `base` left the client (its `tandem::jira::paced` event),
/// recorded by a process-wide subscriber installed on first use.
fn departures(base: &str) -> Vec<std::time::Instant> {
    use std::sync::{Arc, Mutex, OnceLock};
    use tracing_subscriber::layer::SubscriberExt;

    type Log = Arc<Mutex<Vec<(String, std::time::Instant)>>>;
    struct Record(Log);
    struct Base(String);
    impl tracing::field::Visit for Base {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "base" {
                self.0 = format!("{value:?}");
            }
        }
    }
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Record {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            if event.metadata().target() == "tandem::jira::paced" {
                let mut base = Base(String::new());
                event.record(&mut base);
                let now = std::time::Instant::now();
                self.0.lock().expect("log").push((base.0, now));
            }
        }
    }
    static LOG: OnceLock<Log> = OnceLock::new();
    let log = LOG.get_or_init(|| {
        let log = Log::default();
        let subscriber = tracing_subscriber::registry().with(Record(log.clone()));
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        log
    });
    let base = base.trim_end_matches('/');
    log.lock()
        .expect("log")
        .iter()
        .filter(|(b, _)| b.trim_end_matches('/') == base)
        .map(|(_, t)| *t)
        .collect()
}

/// The concurrent import keeps many requests in flight, yet no more than the Connection's
/// `requestsPerSecond` leave in any second, and every request Jira receives went through that
/// pacing.
async fn import_keeps_to_the_rate(deployment: Deployment) {
    const RATE: usize = 4;
    // The simulator on threads of its own: sharing the import's runtime, it would note a
    // request's arrival only when a worker is free of the import's mapping, which bunches
    // arrivals up by hundreds of milliseconds on a loaded machine.
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("simulator runtime");
    let sim = sim_rt
        .spawn(start(deployment, 3000))
        .await
        .expect("simulator starts");
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
    departures(&sim.base_url());
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

    // Every request Jira received left through the limiter...
    let mut left: Vec<std::time::Instant> = departures(&sim.base_url())
        .into_iter()
        .filter(|t| *t >= from)
        .collect();
    left.sort();
    let arrived = sim
        .request_log()
        .into_iter()
        .filter(|r| r.received >= from && !r.path.starts_with("/_sim"))
        .count();
    assert_eq!(
        left.len(),
        arrived,
        "{deployment}: requests that bypassed the pacing"
    );
    assert!(
        left.len() > 3 * RATE,
        "{deployment}: the import made {} requests",
        left.len()
    );
    // ...and no more than RATE left in any one second (less 50 ms for the moment between the
    // limiter's decision and the event, in which a loaded machine may preempt the thread).
    let window = std::time::Duration::from_millis(950);
    let mut busiest = 0;
    for (i, t) in left.iter().enumerate() {
        let n = left[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < window)
            .count();
        busiest = busiest.max(n);
    }
    assert!(
        busiest <= RATE,
        "{deployment}: {busiest} requests within one second at requestsPerSecond {RATE}; departures (ms): {:?}",
        left.iter()
            .map(|t| t.duration_since(from).as_millis())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        sim.request_log().iter().filter(|r| r.status == 429).count(),
        0
    );
    sim.shutdown().await.expect("sim stops");
    sim_rt.shutdown_background();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_import_sends_no_more_than_requests_per_second() {
    import_keeps_to_the_rate(Deployment::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_import_sends_no_more_than_requests_per_second() {
    import_keeps_to_the_rate(Deployment::DataCenter).await;
}

/// Data Center Epic Links name epics by key, and an import in key order has usually read them
/// already: the bulk reader resolves those from what it returned and asks Jira (a `key in
/// (…)` search, one more request against the rate limit) only for parents it has not seen.
/// Here every epic is on the first page, which is read and completed before any other (pages
/// after it run concurrently), so no lookup is needed; before, every later page cost one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_bulk_read_asks_only_for_parents_it_has_not_read() {
    use tandem::jira::{BulkRead, SearchCursor};
    let deployment = Deployment::DataCenter;
    let sim = start(deployment, 1000).await;
    let model = model();
    let run = integration_run(&model, client(&sim, deployment), deployment).await;
    let jql = "project = DEMO AND type != Bug ORDER BY issuetype ASC, key ASC";
    let ordered = sim.search(jql).expect("search");
    let first_non_epic = ordered
        .iter()
        .position(|k| sim.issue(k).expect("issue")["fields"]["issuetype"]["name"] != "Epic")
        .expect("not only epics");
    assert!(
        (1..=100).contains(&first_non_epic),
        "every epic on the first page: {first_non_epic}"
    );
    let mut read = BulkRead::new(jql, &["*navigable"]);
    read.page_size = 100;
    read.key_fields = run
        .ctx
        .epic_link_field()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let field = read
        .key_fields
        .first()
        .cloned()
        .expect("an Epic Link field");
    sim.reset_request_counts();
    let mut batches = run.client.read_bulk(read, SearchCursor::Start);
    let (mut named, mut pages) = (0, 0);
    while let Some(batch) = batches.next().await {
        let batch = batch.expect("batch");
        pages += 1;
        for issue in &batch.issues {
            let Some(epic) = issue.fields.get(&field).and_then(|v| v.as_str()) else {
                continue;
            };
            named += 1;
            let id = sim.issue(epic).expect("the epic exists")["id"]
                .as_str()
                .expect("id")
                .to_owned();
            assert_eq!(batch.key_ids.get(epic), Some(&id), "{}", issue.key);
        }
    }
    assert!(pages >= 8, "{pages} batches of at most 100");
    assert!(named > 300, "{named} Epic Links");
    assert_eq!(
        sim.requests_to("POST", "/rest/api/2/search"),
        0,
        "no lookup for epics already read"
    );
    sim.shutdown().await.expect("sim stops");
}
