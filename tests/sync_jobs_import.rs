//! One-time import from Jira against the in-process simulator, in both dialects: 2,000
//! generated issues imported with a JQL filter give exactly the simulator's own search count,
//! every imported issue is linked to one item, sub-tasks find their parent, ignored types are
//! skipped, and importing again creates nothing.

use std::collections::HashSet;
use std::time::Duration;

use tandem::jira::{
    check_integration, Credentials, Deployment, JiraClient, JiraConfig, RetryPolicy,
};
use tandem::manifest::model::Model;
use tandem::manifest::{validate, SourceFile};
use tandem::reconcile::spec::integration_spec;
use tandem::sim::{self, SimConfig, SimHandle, Simulator};
use tandem::store::Store;
use tandem::sync::context::{fetch_catalog, IntegrationRun};
use tandem::sync::import::{import_from_jira, import_jql, ImportEnv};
use tandem::sync::jobs::{JobRecord, JobRequest, Phase};
use tandem::sync::MappingContext;
use tandem::workspace::{ItemFilter, WorkspaceService};

const MANIFESTS: &str = r#"
apiVersion: tandem/v1
kind: Workspace
metadata: {name: product}
spec:
  id: product
  itemTypes:
    - name: Epic
    - {name: Story, parent: Epic}
    - {name: Chore, parent: Epic}
    - {name: Subtask, parent: Story}
  statuses: [Backlog, Doing, Done]
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
kind: ProjectIntegration
metadata: {name: demo}
spec:
  displayName: Demo
  connection: jira
  workspace: product
  project: DEMO
  board: 1
  direction: twoWay
  types:
    - {workspace: Epic, jira: Epic}
    - {workspace: Story, jira: Story}
    - {workspace: Chore, ignore: true}
    - {workspace: Subtask, jira: Sub-task}
  secondaryTypes:
    - {jira: Bug, workspace: Story}
  statuses:
    - {workspace: Backlog, jira: To Do}
    - {workspace: Doing, jira: In Progress}
    - {workspace: Done, jira: Done}
  conflicts: lastWriterWins
  resync: 10m
"#;

fn model() -> Model {
    let files = [SourceFile {
        path: "manifests.yaml".into(),
        text: MANIFESTS.into(),
    }];
    let v = validate(&files);
    let errors: Vec<String> = v.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(v.model.integrations.contains_key("demo"), "{errors:#?}");
    v.model
}

async fn start(deployment: Deployment, issues: usize) -> SimHandle {
    let d = match deployment {
        Deployment::Cloud => sim::Deployment::Cloud,
        Deployment::DataCenter => sim::Deployment::DataCenter,
    };
    let sim = Simulator::start(SimConfig::new(d))
        .await
        .expect("simulator");
    sim.generate_issues(issues, 7);
    sim
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

/// The integration as a job sees it: manifests, the online check's result and the catalog.
async fn integration_run(
    model: &Model,
    client: JiraClient,
    deployment: Deployment,
) -> IntegrationRun {
    let pi = model.integrations["demo"].clone();
    let ws = model.workspaces["product"].clone();
    let report = check_integration(&client, &integration_spec(&pi, &ws, None))
        .await
        .expect("check runs");
    assert!(report.is_ok(), "{deployment}: {:#?}", report.failures);
    let catalog = fetch_catalog(&client, &pi).await.expect("catalog");
    let ctx = MappingContext::new(&pi, &ws, None, &report.resolved, deployment, catalog);
    IntegrationRun {
        integration: pi,
        workspace: ws,
        client,
        ctx,
    }
}

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
