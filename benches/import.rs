//! One-time import from Jira: items/s and peak RSS importing generated issues from the
//! in-process simulator (Cloud dialect) into a fresh store, all open issues of the project.
//!
//! `cargo bench --bench import` (10,000 issues); `TANDEM_BENCH_IMPORT=10000,100000` for more
//! sizes. The simulator lives in the same process, so RSS is printed before the import (the
//! simulator's state) and at its peak; the difference is what the import itself held.

use std::path::PathBuf;
use std::time::Instant;

use tandem::jira::{check_integration, Credentials, Deployment, JiraClient, JiraConfig};
use tandem::manifest::{self, SourceFile};
use tandem::reconcile::spec::integration_spec;
use tandem::sim::{self, SimConfig, Simulator};
use tandem::store::Store;
use tandem::sync::context::{fetch_catalog, IntegrationRun};
use tandem::sync::import::{import_from_jira, import_jql, ImportEnv};
use tandem::sync::jobs::{JobRecord, JobRequest};
use tandem::sync::MappingContext;
use tandem::workspace::WorkspaceService;

const MANIFESTS: &str = r#"
apiVersion: tandem/v1
kind: Workspace
metadata: {name: product}
spec:
  id: product
  itemTypes:
    - name: Epic
    - {name: Story, parent: Epic}
    - {name: Task, parent: Epic}
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
kind: FieldMapping
metadata: {name: fields}
spec:
  primary: {components: true, releases: true, storyPoints: auto}
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
  direction: twoWay
  types:
    - {workspace: Epic, jira: Epic}
    - {workspace: Story, jira: Story}
    - {workspace: Task, jira: Task}
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

/// (current, peak) resident set size in MiB, from /proc.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn run(n: usize) {
    let sim = Simulator::start(SimConfig::new(sim::Deployment::Cloud))
        .await
        .expect("simulator");
    sim.generate_issues(n, 42);
    let open = sim
        .search("project = DEMO AND statusCategory != Done")
        .expect("search")
        .len();
    let model = manifest::validate(&[SourceFile {
        path: PathBuf::from("m.yaml"),
        text: MANIFESTS.into(),
    }])
    .model;
    let pi = model.integrations["demo"].clone();
    let ws = model.workspaces["product"].clone();
    let fm = model.field_mappings.get("fields");
    let mut config = JiraConfig::new(
        sim.base_url(),
        Credentials::basic("admin@example.com", "admin-token"),
    );
    config.deployment = Some(Deployment::Cloud);
    let client = JiraClient::new(config).expect("client");
    let report = check_integration(&client, &integration_spec(&pi, &ws, fm))
        .await
        .expect("check");
    assert!(report.is_ok(), "{:#?}", report.failures);
    let catalog = fetch_catalog(&client, &pi).await.expect("catalog");
    let ctx = MappingContext::new(&pi, &ws, fm, &report.resolved, Deployment::Cloud, catalog);
    let run = IntegrationRun {
        integration: pi,
        workspace: ws,
        client,
        ctx,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let workspace = WorkspaceService::with_model(store.clone(), model.clone());
    let env = ImportEnv {
        store: &store,
        workspace: &workspace,
        run: &run,
        progress: None,
    };
    let mut record = JobRecord::new("bench".into(), "demo", JobRequest::FromJira { jql: None });
    record.jql = import_jql("DEMO", None);

    let (before, _) = rss_mib();
    let t = Instant::now();
    import_from_jira(&env, &mut record).await.expect("import");
    let secs = t.elapsed().as_secs_f64();
    let (_, peak) = rss_mib();
    let c = record.counts;
    assert_eq!(record.processed as usize, open);
    println!(
        "import {n:>7} generated ({open} open): {secs:>7.2} s, {:>8.0} issues/s; created {} skipped {} failed {}; RSS before {before:.0} MiB, peak {peak:.0} MiB (+{:.0})",
        open as f64 / secs,
        c.created,
        c.skipped,
        c.failed,
        peak - before
    );
    store.close().await.expect("close");
    sim.shutdown().await.expect("sim stops");
}

fn main() {
    let sizes: Vec<usize> = std::env::var("TANDEM_BENCH_IMPORT")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for n in sizes {
        rt.block_on(run(n));
    }
}
