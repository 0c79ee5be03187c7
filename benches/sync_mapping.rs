//! Mapping throughput, the per-issue CPU cost of an import and a push: `from_jira` plus the
//! issue's canonical snapshot, and `to_jira` plus the item's snapshot, over realistic issues
//! the simulator generates (fetched once through the client), in both dialects. Prints medians
//! of several runs; no assertions.
//!
//! `import` is what the one-time import spends per issue besides I/O: `from_jira`, then
//! `baseline::after_import` and `baseline::encoded`, over the issues read with the import's
//! own field selection (`MappingContext::issue_fields_read`). `TANDEM_BENCH_MAPPING_IMPORT_ONLY=N` measures
//! only that, N runs, for a profiler.

use std::time::{Duration, Instant};

use tandem::jira::{check_integration, Credentials, Deployment, Issue, JiraClient, JiraConfig};
use tandem::manifest::{validate, SourceFile};
use tandem::reconcile::spec::integration_spec;
use tandem::sim::{self, SimConfig, Simulator};
use tandem::sync::context::fetch_catalog;
use tandem::sync::engine::baseline;
use tandem::sync::{
    fields_snapshot, fields_snapshot_from_issue, from_jira, to_jira, MappingContext,
};
use tandem::workspace::model::Item;

const MANIFESTS: &str = r#"
apiVersion: tandem/v1
kind: Workspace
metadata: {name: product}
spec:
  id: product
  itemTypes:
    - name: Epic
    - {name: Feature, parent: Epic}
    - {name: Step, parent: Feature}
  statuses: [Backlog, Doing, Done]
  fields:
    - {name: Platforms, type: multiSelect, options: [Web, iOS, Android]}
    - {name: Target date, type: date}
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
  primary: {components: true, releases: true, storyPoints: auto, team: Team}
  defaults: {objective: Objective, value: Business value}
  custom:
    - {workspace: Platforms, jira: Platforms}
    - {workspace: Target date, jira: Target date}
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
    - {workspace: Feature, jira: Story}
    - {workspace: Step, jira: Sub-task}
  secondaryTypes:
    - {jira: Bug, workspace: Feature}
    - {jira: Task, workspace: Feature}
  statuses:
    - {workspace: Backlog, jira: To Do}
    - {workspace: Doing, jira: In Progress}
    - {workspace: Done, jira: Done}
  conflicts: lastWriterWins
  resync: 10m
"#;

const ISSUES: usize = 2_000;
const RUNS: usize = 7;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn setup(deployment: Deployment) -> (MappingContext, Vec<Issue>, Vec<Issue>) {
    let mut config = SimConfig::new(match deployment {
        Deployment::Cloud => sim::Deployment::Cloud,
        Deployment::DataCenter => sim::Deployment::DataCenter,
    });
    config.generate = ISSUES;
    let sim = Simulator::start(config).await.expect("simulator");
    let auth = match deployment {
        Deployment::Cloud => Credentials::basic("admin@example.com", "admin-token"),
        Deployment::DataCenter => Credentials::basic("admin", "admin"),
    };
    let mut jc = JiraConfig::new(sim.base_url(), auth);
    jc.deployment = Some(deployment);
    let client = JiraClient::new(jc).expect("client");
    let model = validate(&[SourceFile {
        path: "m.yaml".into(),
        text: MANIFESTS.into(),
    }])
    .model;
    let pi = &model.integrations["demo"];
    let ws = &model.workspaces["product"];
    let fm = model.field_mappings.get("fields");
    let report = check_integration(&client, &integration_spec(pi, ws, fm))
        .await
        .expect("check");
    assert!(report.is_ok(), "{:?}", report.failures);
    let catalog = fetch_catalog(&client, pi).await.expect("catalog");
    let ctx = MappingContext::new(pi, ws, fm, &report.resolved, deployment, catalog);
    let mut issues = Vec::new();
    let mut imported = Vec::new();
    let read = ctx.issue_fields_read();
    let read: Vec<&str> = read.iter().map(String::as_str).collect();
    for (fields, out) in [(&["*all"][..], &mut issues), (&read[..], &mut imported)] {
        let mut pager = client.search("project = DEMO ORDER BY key ASC", fields);
        while let Some(page) = pager.next_page().await.expect("search page") {
            out.extend(page);
        }
    }
    sim.shutdown().await.expect("shutdown");
    (ctx, issues, imported)
}

fn blank() -> Item {
    let now = chrono::Utc::now();
    Item {
        id: "1".into(),
        workspace: "product".into(),
        version: 1,
        item_type: "Feature".into(),
        title: String::new(),
        description: String::new(),
        status: "Backlog".into(),
        parent: None,
        sprint: None,
        releases: vec![],
        components: vec![],
        story_points: None,
        team: None,
        labels: vec![],
        fields: Default::default(),
        comments: vec![],
        time_spent_seconds: 0,
        jira: None,
        sync_to: None,
        field_updated: Default::default(),
        created: now,
        updated: now,
    }
}

/// µs per issue of what the import spends mapping `issues` (the median of `runs`), and how
/// many issues it mapped.
fn import(ctx: &MappingContext, issues: &[Issue], runs: usize) -> (f64, usize) {
    let mut mapped = 0;
    let times: Vec<Duration> = (0..runs)
        .map(|_| {
            mapped = 0;
            let t = Instant::now();
            for issue in issues {
                let Ok(patch) = from_jira(issue, ctx) else {
                    continue;
                };
                let parent = patch.parent_key.clone().flatten();
                if let Ok(base) = baseline::after_import(issue, ctx, &patch, parent) {
                    mapped += 1;
                    std::hint::black_box(baseline::encoded("demo", &base));
                }
                std::hint::black_box(&patch);
            }
            t.elapsed()
        })
        .collect();
    let t = median(times);
    (t.as_secs_f64() * 1e6 / mapped.max(1) as f64, mapped)
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let import_only: Option<usize> = std::env::var("TANDEM_BENCH_MAPPING_IMPORT_ONLY")
        .ok()
        .and_then(|n| n.parse().ok());
    for deployment in [Deployment::Cloud, Deployment::DataCenter] {
        let (ctx, issues, imported) = rt.block_on(setup(deployment));
        if let Some(runs) = import_only {
            let (per, mapped) = import(&ctx, &imported, runs);
            println!("{deployment}: import {mapped} issues, {per:.1} µs/issue");
            continue;
        }
        let mut mapped = 0;
        let read: Vec<Duration> = (0..RUNS)
            .map(|_| {
                mapped = 0;
                let t = Instant::now();
                for issue in &issues {
                    if let Ok(patch) = from_jira(issue, &ctx) {
                        mapped += 1;
                        std::hint::black_box(&patch);
                        std::hint::black_box(fields_snapshot_from_issue(issue, &ctx).ok());
                    }
                }
                t.elapsed()
            })
            .collect();
        let items: Vec<Item> = issues
            .iter()
            .filter_map(|i| from_jira(i, &ctx).ok())
            .filter(|p| p.origin == Some(tandem::sync::mapping::Origin::Primary))
            .map(|p| {
                let mut item = blank();
                p.apply(&mut item);
                item
            })
            .collect();
        let mut written = 0;
        let write: Vec<Duration> = (0..RUNS)
            .map(|_| {
                written = 0;
                let t = Instant::now();
                for item in &items {
                    if let Ok(w) = to_jira(item, None, &ctx) {
                        written += 1;
                        std::hint::black_box(w.create_body());
                        std::hint::black_box(fields_snapshot(item, &ctx));
                    }
                }
                t.elapsed()
            })
            .collect();
        let (im, baselines) = import(&ctx, &imported, RUNS);
        let (r, w) = (median(read), median(write));
        let per = |d: Duration, n: usize| d.as_secs_f64() * 1e6 / n.max(1) as f64;
        println!(
            "{deployment}: from_jira+snapshot {mapped}/{} issues in {r:?} ({:.1} µs/issue, {:.0} issues/s); \
             to_jira+snapshot {written} items in {w:?} ({:.1} µs/item, {:.0} items/s)",
            issues.len(),
            per(r, mapped),
            mapped as f64 / r.as_secs_f64(),
            per(w, written),
            written as f64 / w.as_secs_f64(),
        );
        println!(
            "{deployment}: import (from_jira+after_import+encoded) {baselines}/{} issues, {im:.1} µs/issue",
            imported.len(),
        );
    }
}
