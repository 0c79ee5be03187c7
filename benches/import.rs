//! One-time import from Jira: items/s and peak RSS importing generated issues from the
//! in-process simulator (Cloud dialect) into a fresh store: every issue of the project (a JQL
//! filter on the five types, so Done issues come too).
//!
//! `cargo bench --bench import` (10,000 issues); `TANDEM_BENCH_IMPORT=10000,100000` for more
//! sizes. The simulator runs in this process; the import runs in a child process (this same
//! binary, told so by `TANDEM_BENCH_IMPORT_CHILD`), so the peak RSS printed is the import's
//! own, not the simulator's 100,000 issues.

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

/// Every issue type of the simulator's project.
const FILTER: &str = "type in (Epic, Story, Task, Bug, Sub-task)";

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

/// Parent: the simulator with `n` generated issues, and a child process that imports them.
async fn run(n: usize) {
    let sim = Simulator::start(SimConfig::new(sim::Deployment::Cloud))
        .await
        .expect("simulator");
    sim.generate_issues(n, 42);
    let open = sim
        .search(&format!("project = DEMO AND {FILTER}"))
        .expect("search")
        .len();
    let exe = std::env::current_exe().expect("own path");
    let child = tokio::process::Command::new(exe)
        .env("TANDEM_BENCH_IMPORT_CHILD", sim.base_url())
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .expect("run the import child");
    assert!(child.status.success(), "the import child failed");
    println!(
        "import {n:>7} generated ({open} matching): {}",
        String::from_utf8_lossy(&child.stdout).trim()
    );
    sim.shutdown().await.expect("sim stops");
}

/// Child: imports every open issue of DEMO from the simulator at `url` into a fresh store.
async fn import_child(url: String) {
    let model = manifest::validate(&[SourceFile {
        path: PathBuf::from("m.yaml"),
        text: MANIFESTS.into(),
    }])
    .model;
    let pi = model.integrations["demo"].clone();
    let ws = model.workspaces["product"].clone();
    let fm = model.field_mappings.get("fields");
    let mut config = JiraConfig::new(url, Credentials::basic("admin@example.com", "admin-token"));
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
    let mut record = JobRecord::new(
        "bench".into(),
        "demo",
        JobRequest::FromJira {
            jql: Some(FILTER.into()),
            dry_run: false,
        },
    );
    record.jql = import_jql("DEMO", Some(FILTER));

    let (before, _) = rss_mib();
    let t = Instant::now();
    import_from_jira(&env, &mut record).await.expect("import");
    let secs = t.elapsed().as_secs_f64();
    let (_, peak) = rss_mib();
    let c = record.counts;
    println!(
        "{secs:.2} s, {:.0} issues/s; created {} skipped {} failed {}; import process RSS at start {before:.0} MiB, peak {peak:.0} MiB",
        record.processed as f64 / secs,
        c.created,
        c.skipped,
        c.failed,
    );
    store.close().await.expect("close");
}

fn main() {
    if let Ok(url) = std::env::var("TANDEM_BENCH_IMPORT_CHILD") {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(import_child(url));
        return;
    }
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
