//! The live two-way sync engine, in release, against the in-process Jira simulator.
//!
//! The daemon is assembled in this process exactly as `tandem run` assembles it
//! (`daemon::Daemon` + `app::start`, real listeners on 127.0.0.1, real redb with
//! fsync, manifests read by the watcher, Jira's webhooks registered by the managed webhook of the
//! Connection). The simulator and the measuring code run on a second tokio runtime, as a
//! stand-in for Jira being another machine (the CPU is still the same 2 cores).
//!
//! (a) push: N items created through the admin API; items/s until every item is linked, with
//!     the Connection's `requestsPerSecond: R`; requests the simulator received per item; 429s
//!     the simulator answered, once without its own limit and once with its limit slightly above
//!     R (no 429 storm expected).
//! (b) latency: 500 linked issues, edited in the simulator at a fixed 200 edits/s for 20 s; for
//!     each edit, the time from `sim.edit_issue` to the item showing the new title in the
//!     workspace store (found by polling the change feed every millisecond in-process).
//!     `VmHWM` of this process is printed too, but it includes the simulator.
//! (rss) the same load as (b) on the real `tandem run` binary (`target/release/tandem`, which
//!     `cargo bench` builds) in a child process: the daemon's own RSS when Ready, with the 500
//!     items linked, and its peak (`VmHWM`) through the 20 s of edits and the drain after.
//!
//! (sweep) `TANDEM_BENCH_LIVE=sweep` only: N issues (`TANDEM_BENCH_LIVE_SWEEP`, default
//!     10,000) changed in Jira with every webhook lost, the Epics and Stories among them linked
//!     by an import first; then one resync sweep at the simulator latency of
//!     `TANDEM_BENCH_LIVE_LATENCY`, `requestsPerSecond: 50`: seconds from the resync call
//!     until the engine is idle, and the requests Jira received.
//!
//! `cargo bench --bench live` runs push, latency and rss (about 2 minutes); `TANDEM_BENCH_LIVE=push`,
//! `=latency` or `=rss` (or a comma-separated list) runs some. `TANDEM_BENCH_LIVE_LATENCY=300`
//! gives the simulator that `--latency` (ms) during the pushes: a Jira far away.

#[path = "../tests/common_daemon/mod.rs"]
mod common_daemon;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common_daemon::{all_ready, resource, Daemon as Child, DaemonDirs, DaemonOptions};
use serde_json::{json, Value};
use tandem::app::{self as runtime, RuntimeConfig};
use tandem::daemon::{Daemon, DaemonConfig};
use tandem::http::admin::StatusSource;
use tandem::sim::{Deployment, RateLimit, SimConfig, SimHandle, Simulator};
use tandem::store::Store;
use tandem::workspace::model::ChangeTarget;

const WEBHOOK_SECRET: &str = "live-bench-webhook-secret";
const GUARD: Duration = Duration::from_secs(240);

const WORKSPACE: &str = "apiVersion: tandem/v1
kind: Workspace
metadata:
  name: product
spec:
  id: product
  itemTypes:
    - name: Epic
    - name: Story
      parent: Epic
  statuses: [Todo, Doing, Done]
";

const FIELDS: &str = "apiVersion: tandem/v1
kind: FieldMapping
metadata:
  name: demo-fields
spec:
  primary:
    components: true
    releases: true
    storyPoints: auto
";

const INTEGRATION: &str = "apiVersion: tandem/v1
kind: ProjectIntegration
metadata:
  name: demo
spec:
  displayName: Demo
  connection: jira
  workspace: product
  project: DEMO
  board: 1
  fieldMapping: demo-fields
  types:
    - {workspace: Epic, jira: Epic}
    - {workspace: Story, jira: Story}
  statuses:
    - {workspace: Todo, jira: To Do}
    - {workspace: Doing, jira: In Progress}
    - {workspace: Done, jira: Done}
  conflicts: lastWriterWins
  resync: 1h
";

fn connection(sim_url: &str, public: Option<&str>, rps: Option<f64>) -> String {
    let rate = rps
        .map(|r| format!("  requestsPerSecond: {r}\n"))
        .unwrap_or_default();
    let webhook = public
        .map(|p| format!("  webhook:\n    publicUrl: {p}/\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: tandem/v1\nkind: Connection\nmetadata:\n  name: jira\nspec:\n  displayName: Jira\n  url: {sim_url}\n  deployment: cloud\n  auth:\n    email: admin@example.com\n    apiToken: {{file: token}}\n  webhookSecret: {{file: whsecret}}\n{webhook}{rate}"
    )
}

fn registered_and_ready(s: &Value) -> bool {
    let registered = resource(s, "Connection", "jira").is_some_and(|r| {
        r["details"]["webhookRegistration"]
            .as_str()
            .is_some_and(|m| m.starts_with("managed: 1 webhook(s)"))
    });
    registered && all_ready(s)
}

/// Nothing stored, queued, running or pending in the engine.
fn engine_idle(s: &Value) -> bool {
    let q = &s["engine"]["queue"];
    let busy = s["pendingWebhookEvents"].as_u64().unwrap_or(1)
        + q["ready"].as_u64().unwrap_or(1)
        + q["running"].as_u64().unwrap_or(1)
        + q["scheduled"].as_u64().unwrap_or(1)
        + resource(s, "ProjectIntegration", "demo")
            .and_then(|r| r["sync"]["pending"].as_u64())
            .unwrap_or(1);
    busy == 0
}

/// A daemon running on its own runtime.
struct Live {
    _dirs: DaemonDirs,
    store: Store,
    status: Arc<dyn StatusSource>,
    admin: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start_daemon(sim_url: String, rps: Option<f64>) -> Live {
    let dirs = DaemonDirs::new();
    dirs.secret("token", "admin-token");
    dirs.secret("whsecret", WEBHOOK_SECRET);
    dirs.manifest("workspace.yaml", WORKSPACE);
    dirs.manifest("fields.yaml", FIELDS);
    dirs.manifest("integration.yaml", INTEGRATION);
    let mut config = DaemonConfig::new(dirs.state.clone(), dirs.manifests.clone());
    config.secret_dirs = vec![dirs.secrets.clone()];
    config.listen = "127.0.0.1:0".into();
    config.admin = "127.0.0.1:0".into();
    let daemon = Daemon::start(config).await.expect("daemon starts");
    let public = format!("http://{}", daemon.public_addr().expect("public addr"));
    let admin = format!("http://{}", daemon.admin_addr().expect("admin addr"));
    dirs.manifest("connection.yaml", &connection(&sim_url, Some(&public), rps));
    let mut tasks = tokio::task::JoinSet::new();
    let hooks = runtime::start(
        RuntimeConfig::new(dirs.manifests.clone(), vec![dirs.secrets.clone()]),
        daemon.store().clone(),
        daemon.shutdown_receiver(),
        &mut tasks,
    );
    let status = hooks.status.clone().expect("status source");
    let store = daemon.store().clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let r = daemon
            .run_until(hooks, async move {
                let _ = stop_rx.await;
            })
            .await;
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        r.expect("daemon ran");
    });
    Live {
        _dirs: dirs,
        store,
        status,
        admin,
        stop: Some(stop_tx),
        task,
    }
}

impl Live {
    async fn wait_ready(&self) {
        let deadline = Instant::now() + GUARD;
        loop {
            let s = self.status.status();
            if registered_and_ready(&s) {
                return;
            }
            assert!(Instant::now() < deadline, "never Ready: {s:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn links(&self) -> u64 {
        self.store.count_links("demo").expect("count links")
    }

    /// Creates `n` Stories through the admin API, `concurrency` requests in flight; returns
    /// their ids.
    async fn create_items(&self, n: usize, concurrency: usize) -> Vec<String> {
        let http = reqwest::Client::new();
        let url = Arc::new(format!("{}/api/v1/workspaces/product/items", self.admin));
        let mut tasks = Vec::new();
        for w in 0..concurrency {
            let http = http.clone();
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                let mut i = w;
                while i < n {
                    let resp = http
                        .post(url.as_str())
                        .json(&json!({"type": "Story", "title": format!("Bench story {i}")}))
                        .send()
                        .await
                        .expect("create item");
                    assert!(resp.status().is_success(), "create: {}", resp.status());
                    let v: Value = resp.json().await.expect("json");
                    ids.push(v["id"].as_str().expect("id").to_owned());
                    i += concurrency;
                }
                ids
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.extend(t.await.expect("join"));
        }
        ids
    }

    async fn wait_links(&self, n: u64) {
        let deadline = Instant::now() + GUARD;
        while self.links() < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} items linked",
                self.links()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// No queued, running or pending engine work, three looks in a row.
    async fn wait_idle(&self) {
        let deadline = Instant::now() + GUARD;
        let mut calm = 0;
        while calm < 3 {
            calm = if engine_idle(&self.status.status()) {
                calm + 1
            } else {
                0
            };
            assert!(Instant::now() < deadline, "the engine never went idle");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (&mut self.task).await.expect("daemon task");
    }
}

async fn simulator(limit: Option<RateLimit>) -> SimHandle {
    let sim = Simulator::start(SimConfig::new(Deployment::Cloud))
        .await
        .expect("simulator starts");
    sim.set_rate_limit(limit);
    sim
}

fn memory_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// What the simulator received, by method, in a short line.
fn by_method(sim: &SimHandle) -> String {
    let mut m: HashMap<String, u64> = HashMap::new();
    let mut paths: HashMap<String, u64> = HashMap::new();
    for ((method, path), n) in sim.request_counts() {
        *m.entry(method.clone()).or_default() += n;
        // Issue ids and keys collapse into one route.
        let route: Vec<&str> = path
            .split('/')
            .map(|seg| {
                if seg.chars().any(|c| c.is_ascii_digit()) {
                    "*"
                } else {
                    seg
                }
            })
            .collect();
        *paths
            .entry(format!("{method} {}", route.join("/")))
            .or_default() += n;
    }
    let mut v: Vec<_> = paths.into_iter().collect();
    v.sort_by_key(|b| std::cmp::Reverse(b.1));
    v.iter()
        .take(6)
        .map(|(p, n)| format!("{p}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// (a) One push of `n` items with `requestsPerSecond: rps` (`None`: unpaced).
async fn push(
    daemon_rt: &tokio::runtime::Handle,
    n: usize,
    rps: Option<f64>,
    sim_limit: Option<RateLimit>,
) {
    let sim = simulator(sim_limit).await;
    let live = daemon_rt
        .spawn(start_daemon(sim.base_url(), rps))
        .await
        .expect("start");
    live.wait_ready().await;
    // Let the start-up requests (checks, webhook registration) drain out of the bucket.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let latency = std::env::var("TANDEM_BENCH_LIVE_LATENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    sim.set_latency(Duration::from_millis(latency));
    sim.reset_request_counts();
    let limited_before = sim.rate_limited_count();
    let t = Instant::now();
    let ids = live.create_items(n, 4).await;
    let created = t.elapsed();
    live.wait_links(n as u64).await;
    let secs = t.elapsed().as_secs_f64();
    let requests = sim.request_count();
    let breakdown = by_method(&sim);
    let rate_limited = sim.rate_limited_count() - limited_before;
    let items_per_s = n as f64 / secs;
    let requests_per_item = requests as f64 / n as f64;
    assert_eq!(ids.len(), n);
    live.wait_idle().await;
    let after_idle = sim.request_count() as f64 / n as f64;
    let rps_label = rps.map_or("unpaced".to_string(), |r| format!("{r}/s"));
    let sim_label = sim_limit.map_or("no limit".to_string(), |l| {
        format!("limit {}/s burst {}", l.per_second, l.burst)
    });
    println!(
        "  push {n} items, requestsPerSecond {rps_label}, simulator {sim_label}, latency {latency} ms: {secs:.1} s \
         ({:.0} ms to create them), {:.1} items/s; {:.2} requests/item until linked \
         ({after_idle:.2} once idle, webhook echoes included); 429s: {rate_limited}",
        created.as_secs_f64() * 1e3,
        items_per_s,
        requests_per_item,
    );
    if let Some(rps) = rps {
        let bound = rps / requests_per_item;
        let steady = rps / after_idle;
        println!(
            "      bound R / requests-per-item = {bound:.1} items/s (until linked), {steady:.1} items/s (all requests); measured/bound = {:.2} / {:.2}",
            items_per_s / bound,
            items_per_s / steady
        );
    }
    println!("      requests: {breakdown}");
    sim.set_latency(Duration::ZERO);
    live.stop().await;
    sim.shutdown().await.expect("sim stops");
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// (b) Webhook → item latency at a fixed edit rate.
async fn latency(daemon_rt: &tokio::runtime::Handle, issues: usize, per_second: u64, secs: u64) {
    let rss_before = memory_mib("VmRSS:");
    let sim = simulator(None).await;
    let live = daemon_rt
        .spawn(start_daemon(sim.base_url(), None))
        .await
        .expect("start");
    live.wait_ready().await;
    let t = Instant::now();
    let ids = live.create_items(issues, 4).await;
    live.wait_links(issues as u64).await;
    let setup = t.elapsed().as_secs_f64();
    live.wait_idle().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), sim.webhooks_idle()).await;
    println!(
        "  setup: {issues} items pushed unpaced and linked in {setup:.1} s ({:.0} items/s)",
        issues as f64 / setup
    );
    let pairs: Vec<(String, String)> = ids
        .iter()
        .map(|id| {
            let link = live
                .store
                .link_by_item("demo", id)
                .expect("read link")
                .expect("linked");
            (id.clone(), link.jira_issue_key)
        })
        .collect();

    // Edits waiting to show: item id -> (expected title, when the edit was made).
    type Pending = Arc<Mutex<HashMap<String, (String, Instant)>>>;
    let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
    // The same edits by title, for the first leg: edit -> webhook committed by the receiver.
    let by_title: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let pending = pending.clone();
        let done = done.clone();
        let store = live.store.clone();
        let by_title = by_title.clone();
        tokio::spawn(async move {
            let mut after = store.ws_last_change_seq().expect("seq");
            let mut next_webhook = store
                .webhook_events(1, usize::MAX)
                .expect("webhooks")
                .last()
                .map_or(1, |e| e.seq + 1);
            let mut lat = Vec::new();
            let mut stored = Vec::new();
            loop {
                for ev in store.webhook_events(next_webhook, 1000).expect("webhooks") {
                    next_webhook = ev.seq + 1;
                    let body: Value = serde_json::from_slice(&ev.event.body).unwrap_or_default();
                    if let Some(title) = body["issue"]["fields"]["summary"].as_str() {
                        if let Some(at) = by_title.lock().expect("lock").remove(title) {
                            stored.push(at.elapsed());
                        }
                    }
                }
                let changes = store.ws_changes_since(after, 1000).expect("changes");
                let now = Instant::now();
                for ch in &changes {
                    after = ch.seq;
                    let ChangeTarget::Item(id) = &ch.target else {
                        continue;
                    };
                    let mut p = pending.lock().expect("lock");
                    let Some((want, _)) = p.get(id) else { continue };
                    let item = store.ws_item("product", id).expect("item").expect("exists");
                    if item.title == *want {
                        let (_, at) = p.remove(id).expect("pending");
                        lat.push(now - at);
                    }
                }
                if changes.is_empty() {
                    if done.load(std::sync::atomic::Ordering::Relaxed)
                        && pending.lock().expect("lock").is_empty()
                    {
                        return (lat, stored);
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        })
    };

    sim.reset_request_counts();
    let total = (per_second * secs) as usize;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut overwritten = 0;
    for k in 0..total {
        tick.tick().await;
        let (id, key) = &pairs[k % pairs.len()];
        let title = format!("Bench edit {k}");
        {
            let mut p = pending.lock().expect("lock");
            let now = Instant::now();
            by_title.lock().expect("lock").insert(title.clone(), now);
            if p.insert(id.clone(), (title.clone(), now)).is_some() {
                // The previous edit of this issue never showed before this one (> 2.5 s).
                overwritten += 1;
            }
        }
        sim.edit_issue(key, json!({"fields": {"summary": title}}))
            .expect("edit");
    }
    let offered = total as f64 / started.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (lat, mut stored) = match tokio::time::timeout(Duration::from_secs(60), watcher).await {
        Ok(r) => r.expect("watcher"),
        Err(_) => panic!(
            "{} edits never reached the workspace",
            pending.lock().expect("lock").len()
        ),
    };
    let drained = started.elapsed().as_secs_f64();
    let mut lat = lat;
    lat.sort();
    stored.sort();
    let jira_writes: u64 = ["POST", "PUT", "DELETE"]
        .iter()
        .map(|m| sim.requests_to(m, "/rest/"))
        .sum();
    let gets = sim.requests_to("GET", "/rest/");
    println!(
        "  webhook -> item at {offered:.0} edits/s for {secs} s on {issues} linked issues ({} edits, {overwritten} superseded before showing): \
         p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms (target p99 < 250 ms); last edit shown {:.1} s after the first",
        lat.len(),
        ms(pct(&lat, 0.50)),
        ms(pct(&lat, 0.90)),
        ms(pct(&lat, 0.99)),
        ms(lat[lat.len() - 1]),
        drained,
    );
    if !stored.is_empty() {
        println!(
            "      first leg, edit -> webhook committed by the receiver ({} seen): p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            stored.len(),
            ms(pct(&stored, 0.50)),
            ms(pct(&stored, 0.90)),
            ms(pct(&stored, 0.99)),
            ms(stored[stored.len() - 1]),
        );
    }
    println!(
        "      simulator meanwhile: {gets} GETs ({:.2} per edit), {jira_writes} writes (echoes would show here)",
        gets as f64 / total as f64
    );
    live.wait_idle().await;
    println!(
        "  memory of this process (daemon + simulator + 500 issues): RSS before the daemon {rss_before:.1} MiB, now {:.1} MiB, peak (VmHWM) {:.1} MiB",
        memory_mib("VmRSS:"),
        memory_mib("VmHWM:")
    );
    live.stop().await;
    sim.shutdown().await.expect("sim stops");
}

/// `VmRSS` / `VmHWM` of another process, in MiB.
fn memory_of(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// (b)'s load on the real `tandem run` binary (`target/release/tandem`, built by
/// `cargo bench`), so the memory printed is the daemon's alone: idle RSS once linked, then
/// peak RSS (`VmHWM` of the child) through 200 edits/s for 20 s and the drain after.
async fn daemon_rss(issues: usize, per_second: u64, secs: u64) {
    let sim = simulator(None).await;
    let dirs = DaemonDirs::new();
    dirs.secret("token", "admin-token");
    dirs.secret("whsecret", WEBHOOK_SECRET);
    dirs.manifest("workspace.yaml", WORKSPACE);
    dirs.manifest("fields.yaml", FIELDS);
    dirs.manifest("integration.yaml", INTEGRATION);
    dirs.manifest("connection.yaml", &connection(&sim.base_url(), None, None));
    let d = Child::start(
        &dirs,
        DaemonOptions {
            log: "warn,tandem::daemon=info".into(),
            ..DaemonOptions::default()
        },
    )
    .await;
    dirs.manifest(
        "connection.yaml",
        &connection(&sim.base_url(), Some(&d.public), None),
    );
    let deadline = Instant::now() + GUARD;
    while !registered_and_ready(&d.status().await) {
        assert!(
            Instant::now() < deadline,
            "the child daemon never got Ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started_rss = memory_of(d.pid(), "VmRSS:");
    let http = reqwest::Client::new();
    for i in 0..issues {
        let resp = http
            .post(format!("{}/api/v1/workspaces/product/items", d.admin))
            .json(&json!({"type": "Story", "title": format!("Bench story {i}")}))
            .send()
            .await
            .expect("create item");
        assert!(resp.status().is_success(), "create: {}", resp.status());
    }
    let wait_idle = || async {
        let deadline = Instant::now() + GUARD;
        let mut calm = 0;
        while calm < 3 {
            let s = d.status().await;
            let linked = resource(&s, "ProjectIntegration", "demo")
                .and_then(|r| r["links"].as_u64())
                .unwrap_or(0);
            calm = if linked >= issues as u64 && engine_idle(&s) {
                calm + 1
            } else {
                0
            };
            assert!(
                Instant::now() < deadline,
                "the child daemon never went idle"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    wait_idle().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), sim.webhooks_idle()).await;
    let linked_rss = memory_of(d.pid(), "VmRSS:");
    let keys: Vec<String> = sim
        .search("project = DEMO")
        .expect("search")
        .into_iter()
        .filter(|k| {
            sim.issue(k).is_some_and(|i| {
                i["fields"]["summary"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("Bench story"))
            })
        })
        .collect();
    assert_eq!(keys.len(), issues, "the pushed issues");
    let total = (per_second * secs) as usize;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let t = Instant::now();
    for k in 0..total {
        tick.tick().await;
        sim.edit_issue(
            &keys[k % keys.len()],
            json!({"fields": {"summary": format!("Bench edit {k}")}}),
        )
        .expect("edit");
    }
    wait_idle().await;
    let drained = t.elapsed().as_secs_f64();
    println!(
        "  real `tandem run` child, same load: RSS {started_rss:.1} MiB when Ready, {linked_rss:.1} MiB with {issues} linked items, \
         {:.1} MiB after {total} edits at {per_second}/s (drained {drained:.1} s after the first); peak (VmHWM) {:.1} MiB",
        memory_of(d.pid(), "VmRSS:"),
        memory_of(d.pid(), "VmHWM:"),
    );
    d.stop().await;
    sim.shutdown().await.expect("sim stops");
}

/// (sweep) One resync sweep over `n` changed issues; see the module docs.
async fn sweep(daemon_rt: &tokio::runtime::Handle, n: usize, rps: f64) {
    let sim = simulator(None).await;
    // Every webhook is lost: only the sweep finds the changes.
    sim.set_webhook_faults(tandem::sim::webhooks::Faults {
        duplicate_and_reorder: false,
        drop_rate: 1.0,
    });
    sim.generate_issues(n, 42);
    let live = daemon_rt
        .spawn(start_daemon(sim.base_url(), Some(rps)))
        .await
        .expect("start");
    live.wait_ready().await;
    let http = reqwest::Client::new();
    let job: Value = http
        .post(format!("{}/api/v1/integrations/demo/sync", live.admin))
        .json(&json!({"direction": "fromJira", "jql": "type in (Epic, Story)"}))
        .send()
        .await
        .expect("import")
        .json()
        .await
        .expect("json");
    let id = job["id"].as_str().expect("job id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let j: Value = http
            .get(format!("{}/api/v1/jobs/{id}", live.admin))
            .send()
            .await
            .expect("job")
            .json()
            .await
            .expect("json");
        if j["state"] != "running" {
            assert_eq!(j["state"], "completed", "{j}");
            break;
        }
        assert!(Instant::now() < deadline, "import never finished");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let linked = live.links();
    // Every issue changes in Jira (a new summary); the webhooks are lost.
    for key in sim.search("project = DEMO").expect("search") {
        sim.edit_issue(
            &key,
            json!({"fields": {"summary": format!("{key} changed")}}),
        )
        .expect("edit");
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), sim.webhooks_idle()).await;
    live.wait_idle().await;
    let latency = std::env::var("TANDEM_BENCH_LIVE_LATENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    sim.set_latency(Duration::from_millis(latency));
    sim.reset_request_counts();
    let load_before = loadavg();
    let t = Instant::now();
    let report: Value = http
        .post(format!("{}/api/v1/integrations/demo/resync", live.admin))
        .timeout(Duration::from_secs(3600))
        .send()
        .await
        .expect("resync")
        .json()
        .await
        .expect("json");
    let swept = t.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(3600);
    let mut calm = 0;
    while calm < 3 {
        calm = if engine_idle(&live.status.status()) {
            calm + 1
        } else {
            0
        };
        assert!(Instant::now() < deadline, "the engine never went idle");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    let requests = sim.request_count();
    println!(
        "  sweep of {} changed issues ({linked} linked), latency {latency} ms, requestsPerSecond {rps}: \
         sweep call {swept:.1} s, until idle {secs:.1} s; {requests} requests ({:.1}/s); load {load_before} -> {}",
        report["issues"],
        requests as f64 / secs,
        loadavg()
    );
    println!("      requests: {}", by_method(&sim));
    println!(
        "      bound: {requests} requests / {rps} per second = {:.1} s",
        requests as f64 / rps
    );
    sim.set_latency(Duration::ZERO);
    live.stop().await;
    sim.shutdown().await.expect("sim stops");
}

fn main() {
    let which = std::env::var("TANDEM_BENCH_LIVE").unwrap_or_else(|_| "push,latency,rss".into());
    // The daemon gets what `tandem run` gets on this machine: a multi-thread runtime.
    let daemon_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("daemon")
        .build()
        .expect("daemon runtime");
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sim")
        .build()
        .expect("sim runtime");
    let dh = daemon_rt.handle().clone();
    println!("live sync engine (load average at start: {})", loadavg());
    sim_rt.block_on(async {
        if which.contains("push") {
            for (n, rps, limit) in [
                (200, Some(20.0), None),
                (400, Some(50.0), None),
                (
                    400,
                    Some(50.0),
                    Some(RateLimit {
                        per_second: 55.0,
                        burst: 55,
                    }),
                ),
            ] {
                push(&dh, n, rps, limit).await;
            }
        }
        if which.contains("latency") {
            latency(&dh, 500, 200, 20).await;
        }
        if which.contains("rss") {
            daemon_rss(500, 200, 20).await;
        }
        if which.split(',').any(|w| w.trim() == "sweep") {
            let n = std::env::var("TANDEM_BENCH_LIVE_SWEEP")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(10_000);
            sweep(&dh, n, 50.0).await;
        }
    });
    println!("  load average at end: {}", loadavg());
}
