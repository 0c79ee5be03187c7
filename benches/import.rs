//! One-time import from Jira: items/s and peak RSS importing generated issues from the
//! in-process simulator into a fresh store: every issue of the project (a JQL filter on the five
//! types, so Done issues come too).
//!
//! `cargo bench --bench import` (10,000 issues, Cloud, loopback). Variables:
//! - `TANDEM_BENCH_IMPORT=10000,100000`: sizes;
//! - `TANDEM_BENCH_IMPORT_DIALECTS=cloud,dataCenter` (default `cloud`);
//! - `TANDEM_BENCH_IMPORT_LATENCY=300`: the simulator's `--latency` in ms (default 0);
//! - `TANDEM_BENCH_IMPORT_RATE=50`: the Connection's `requestsPerSecond` (default none);
//! - `TANDEM_BENCH_IMPORT_DRY_RUN=1`: time the dry run (`tandem sync --from-jira --dry-run`)
//!   instead of the import;
//! - `TANDEM_BENCH_IMPORT_PYTHON=10000`: also run the pycontribs `jira` script
//!   (`benches/support/pycontribs_import.py`: `search_issues(jql, maxResults=False)`, each
//!   issue into SQLite) against the same simulator and latency, for sizes up to this;
//! - at latency 0 the same requests are replayed with a bare HTTP client (same concurrency,
//!   bodies read and dropped): the simulator's own serving rate for them, the import's bound.
//!
//! The simulator runs in this process; the import runs in a child process (this same
//! binary, told so by `TANDEM_BENCH_IMPORT_CHILD`), so the peak RSS printed is the import's
//! own, not the simulator's 100,000 issues.

use std::path::PathBuf;

/// The allocator of the `tandem` binary (`src/main.rs`): the import child stands for it.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Instant;

use tandem::jira::{check_integration, Credentials, Deployment, JiraClient, JiraConfig};
use tandem::manifest::{self, SourceFile};
use tandem::reconcile::spec::integration_spec;
use tandem::sim::{self, SimConfig, Simulator};
use tandem::store::Store;
use tandem::sync::context::{fetch_catalog, IntegrationRun};
use tandem::sync::import::{dry_run as dry_run_import, import_from_jira, import_jql, ImportEnv};
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

/// CPU seconds (user + system) this process has used so far: on 2 shared cores the import and
/// the in-process simulator compete for CPU, so each side's CPU per issue explains a rate that
/// wall time alone does not.
fn cpu_secs() -> f64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn env_num(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Requests the simulator answered since `before`, by endpoint (ids and keys blanked).
fn requests_since(sim: &tandem::sim::SimHandle, before: &[(String, u64)]) -> String {
    let now = request_counts(sim);
    now.iter()
        .map(|(k, v)| {
            let b = before.iter().find(|(bk, _)| bk == k).map_or(0, |(_, n)| *n);
            (k, v - b)
        })
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn request_counts(sim: &tandem::sim::SimHandle) -> Vec<(String, u64)> {
    [
        ("GET", "/rest/api/3/search/jql"),
        ("POST", "/rest/api/3/issue/bulkfetch"),
        ("GET", "/rest/api/2/search"),
        ("POST", "/rest/api/2/search"),
        ("GET", "/rest/api/3/issue/"),
        ("GET", "/rest/api/2/issue/"),
        ("POST", "/rest/api/3/search/jql"),
    ]
    .iter()
    .map(|(m, p)| (format!("{m} {p}"), sim.requests_to(m, p)))
    .collect()
}

/// Parent: the simulator with `n` generated issues, and a child process that imports them;
/// then, in the same run, the pycontribs script or the bare replay.
async fn run(n: usize, dialect: Deployment) {
    let cloud = dialect == Deployment::Cloud;
    let sim = Simulator::start(SimConfig::new(if cloud {
        sim::Deployment::Cloud
    } else {
        sim::Deployment::DataCenter
    }))
    .await
    .expect("simulator");
    sim.generate_issues(n, 42);
    let jql = format!("project = DEMO AND {FILTER}");
    let open = sim.search(&jql).expect("search").len();
    let latency = env_num("TANDEM_BENCH_IMPORT_LATENCY").unwrap_or(0);
    let rate = std::env::var("TANDEM_BENCH_IMPORT_RATE").unwrap_or_default();
    sim.set_latency(std::time::Duration::from_millis(latency));
    let before = request_counts(&sim);
    let load_before = load();
    let sim_cpu = cpu_secs();
    let exe = std::env::current_exe().expect("own path");
    let child = tokio::process::Command::new(&exe)
        .env("TANDEM_BENCH_IMPORT_CHILD", sim.base_url())
        .env(
            "TANDEM_BENCH_IMPORT_CHILD_DIALECT",
            if cloud { "cloud" } else { "dataCenter" },
        )
        .env("TANDEM_BENCH_IMPORT_RATE", &rate)
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .expect("run the import child");
    assert!(child.status.success(), "the import child failed");
    let sim_cpu = cpu_secs() - sim_cpu;
    let stdout = String::from_utf8_lossy(&child.stdout);
    let mut lines = stdout.lines();
    let out = lines.next().unwrap_or_default().trim().to_owned();
    // The fields the import asked Jira for, so the bare replay asks for the same.
    let fields = lines
        .find_map(|l| l.strip_prefix("fields "))
        .unwrap_or("*navigable,comment")
        .to_owned();
    let rate_label = if rate.is_empty() {
        "none".to_owned()
    } else {
        rate.clone()
    };
    println!(
        "import {dialect} {n:>7} generated ({open} matching), latency {latency} ms, requestsPerSecond {rate_label}, load {load_before} -> {}:\n  tandem: {out}\n  simulator CPU meanwhile: {sim_cpu:.2} s ({:.0} µs per issue)\n  requests: {}",
        load(),
        sim_cpu * 1e6 / n as f64,
        requests_since(&sim, &before)
    );
    let tandem_rate: f64 = out
        .split(", ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    if let Ok(r) = rate.parse::<f64>() {
        let per = 100.0;
        println!(
            "  bound: requestsPerSecond × {per} issues per request = {:.0} issues/s (tandem at {:.2} of it)",
            r * per,
            tandem_rate / (r * per)
        );
    }
    let python_up_to = env_num("TANDEM_BENCH_IMPORT_PYTHON").unwrap_or(0) as usize;
    if n <= python_up_to {
        let (user, secret) = if cloud {
            ("admin@example.com", "admin-token")
        } else {
            ("admin", "admin")
        };
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/support/pycontribs_import.py"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("issues.sqlite");
        let before = request_counts(&sim);
        let t = Instant::now();
        let py = tokio::process::Command::new("python3")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .args([
                script,
                &sim.base_url(),
                if cloud { "cloud" } else { "dataCenter" },
                user,
                secret,
                &jql,
                db.to_str().expect("path"),
            ])
            .output()
            .await
            .expect("python3 runs");
        let secs = t.elapsed().as_secs_f64();
        assert!(
            py.status.success(),
            "pycontribs script failed: {}",
            String::from_utf8_lossy(&py.stderr)
        );
        let py_out = String::from_utf8_lossy(&py.stdout).trim().to_owned();
        let count: f64 = py_out
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let py_rate = count / secs;
        println!(
            "  pycontribs jira 3.10 script: {py_out} (process {secs:.2} s, {py_rate:.0} issues/s); requests: {}\n  tandem / pycontribs: {:.1}×",
            requests_since(&sim, &before),
            tandem_rate / py_rate
        );
    }
    if latency == 0 {
        let t = Instant::now();
        let cpu = cpu_secs();
        let served = replay(&sim, cloud, &jql, &fields).await;
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_secs() - cpu;
        let served_rate = served as f64 / secs;
        println!(
            "  simulator serving the same requests to a bare client ({} in flight): {served} issues in {secs:.2} s, {served_rate:.0} issues/s, CPU {cpu:.2} s (simulator and client); tandem at {:.2} of it",
            tandem::jira::bulk::DEFAULT_IN_FLIGHT,
            tandem_rate / served_rate
        );
    }
    sim.shutdown().await.expect("sim stops");
}

/// The import's requests from a bare client: Cloud's id pages of 5,000 and `bulkfetch` of 100
/// (the fields the import asked for), or Data Center's pages of 100; as many in flight as the import.
/// Returns the issues served.
async fn replay(sim: &tandem::sim::SimHandle, cloud: bool, jql: &str, fields: &str) -> usize {
    use futures_util::StreamExt;
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let in_flight = tandem::jira::bulk::DEFAULT_IN_FLIGHT;
    let (user, secret) = if cloud {
        ("admin@example.com", "admin-token")
    } else {
        ("admin", "admin")
    };
    let count = |v: &serde_json::Value| v["issues"].as_array().map_or(0, Vec::len);
    if cloud {
        let mut ids: Vec<String> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = vec![
                ("jql", jql.to_owned()),
                ("fields", "id".to_owned()),
                ("maxResults", "5000".to_owned()),
            ];
            if let Some(t) = &token {
                q.push(("nextPageToken", t.clone()));
            }
            let page: serde_json::Value = http
                .get(format!("{base}/rest/api/3/search/jql"))
                .basic_auth(user, Some(secret))
                .query(&q)
                .send()
                .await
                .expect("id page")
                .json()
                .await
                .expect("JSON");
            ids.extend(
                page["issues"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i["id"].as_str().map(str::to_owned)),
            );
            match page["nextPageToken"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        let chunks: Vec<Vec<String>> = ids.chunks(100).map(<[String]>::to_vec).collect();
        futures_util::stream::iter(chunks)
            .map(|chunk| {
                let http = http.clone();
                let url = format!("{base}/rest/api/3/issue/bulkfetch");
                async move {
                    let body = serde_json::json!({"issueIdsOrKeys": chunk, "fields": fields.split(',').collect::<Vec<_>>()});
                    let v: serde_json::Value = http
                        .post(url)
                        .basic_auth(user, Some(secret))
                        .json(&body)
                        .send()
                        .await
                        .expect("bulkfetch")
                        .json()
                        .await
                        .expect("JSON");
                    count(&v)
                }
            })
            .buffer_unordered(in_flight)
            .fold(0, |a, b| async move { a + b })
            .await
    } else {
        let first: serde_json::Value = http
            .get(format!("{base}/rest/api/2/search"))
            .basic_auth(user, Some(secret))
            .query(&[("jql", jql), ("fields", fields), ("maxResults", "100")])
            .send()
            .await
            .expect("page")
            .json()
            .await
            .expect("JSON");
        let total = first["total"].as_u64().unwrap_or(0);
        let rest = (100..total).step_by(100).map(|at| {
            let http = http.clone();
            let url = format!("{base}/rest/api/2/search");
            let jql = jql.to_owned();
            async move {
                let v: serde_json::Value = http
                    .get(url)
                    .basic_auth(user, Some(secret))
                    .query(&[
                        ("jql", jql.as_str()),
                        ("fields", fields),
                        ("maxResults", "100"),
                        ("startAt", &at.to_string()),
                    ])
                    .send()
                    .await
                    .expect("page")
                    .json()
                    .await
                    .expect("JSON");
                count(&v)
            }
        });
        let n = futures_util::stream::iter(rest)
            .buffer_unordered(in_flight)
            .fold(0, |a, b| async move { a + b })
            .await;
        count(&first) + n
    }
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
    let dialect =
        if std::env::var("TANDEM_BENCH_IMPORT_CHILD_DIALECT").as_deref() == Ok("dataCenter") {
            Deployment::DataCenter
        } else {
            Deployment::Cloud
        };
    let auth = match dialect {
        Deployment::Cloud => Credentials::basic("admin@example.com", "admin-token"),
        Deployment::DataCenter => Credentials::basic("admin", "admin"),
    };
    let mut config = JiraConfig::new(url, auth);
    config.deployment = Some(dialect);
    config.requests_per_second = std::env::var("TANDEM_BENCH_IMPORT_RATE")
        .ok()
        .and_then(|r| r.parse().ok());
    let client = JiraClient::new(config).expect("client");
    let report = check_integration(&client, &integration_spec(&pi, &ws, fm))
        .await
        .expect("check");
    assert!(report.is_ok(), "{:#?}", report.failures);
    let catalog = fetch_catalog(&client, &pi).await.expect("catalog");
    let ctx = MappingContext::new(&pi, &ws, fm, &report.resolved, dialect, catalog);
    let run = IntegrationRun {
        integration: pi,
        workspace: ws,
        client,
        ctx,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    // `TANDEM_BENCH_IMPORT_DRY_RUN=1`: what `tandem sync --from-jira --dry-run` does instead.
    let dry_run = std::env::var("TANDEM_BENCH_IMPORT_DRY_RUN").as_deref() == Ok("1");
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
            dry_run,
        },
    );
    record.jql = import_jql("DEMO", Some(FILTER));

    let (before, _) = rss_mib();
    let cpu = cpu_secs();
    let t = Instant::now();
    if dry_run {
        dry_run_import(&env, &mut record).await.expect("dry run");
    } else {
        import_from_jira(&env, &mut record).await.expect("import");
    }
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu;
    let (_, peak) = rss_mib();
    let c = record.counts;
    println!(
        "{}{secs:.2} s, {:.0} issues/s; created {} skipped {} failed {}; import process RSS at start {before:.0} MiB, peak {peak:.0} MiB; CPU {cpu:.2} s ({:.0} µs per issue)",
        if dry_run { "dry run: " } else { "" },
        record.processed as f64 / secs,
        c.created,
        c.skipped,
        c.failed,
        cpu * 1e6 / record.processed.max(1) as f64,
    );
    println!(
        "fields {}",
        tandem::sync::import::bulk_read(&env, &record.jql)
            .fields
            .join(",")
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
    let dialects: Vec<Deployment> = std::env::var("TANDEM_BENCH_IMPORT_DIALECTS")
        .unwrap_or_else(|_| "cloud".into())
        .split(',')
        .map(|d| {
            if d.trim().eq_ignore_ascii_case("datacenter") {
                Deployment::DataCenter
            } else {
                Deployment::Cloud
            }
        })
        .collect();
    for n in sizes {
        for d in &dialects {
            rt.block_on(run(n, *d));
        }
    }
}
