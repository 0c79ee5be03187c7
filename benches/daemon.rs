//! The real `tandem run` against the in-process Jira simulator, measured as an operator would:
//! (a) time from writing a manifest to the resource being Ready with that version in
//! `/api/v1/status`, (b) resident memory of an idle daemon running 20 integrations.
//! Targets on the 2-core reference machine: (a) under 1 s, (b) under 40 MiB.
//!
//! Scale (`TANDEM_BENCH_DAEMON=scale`): (c) 100 integrations over 20 connections, idle: RSS and
//! CPU time over 60 s; (d) a state file holding 1,000,000 links (written through the store's
//! API before the daemon starts): its size on disk, `tandem run` start to Ready, RSS once Ready,
//! and the time of a `GET /api/v1/status`.
//!
//! Run with `cargo bench --bench daemon` ((a) and (b)); `TANDEM_BENCH_DAEMON=scale` for (c)
//! and (d), `=all` for everything.

#[path = "../tests/common_daemon/mod.rs"]
mod common_daemon;

use std::time::{Duration, Instant};

use common_daemon::*;

const EDITS: usize = 10;
const INTEGRATIONS: usize = 20;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `VmRSS` / `VmHWM` of a process, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

async fn manifest_to_ready() {
    let sim = simulator(Vec::new()).await;
    let dirs = DaemonDirs::new();
    dirs.secret("jira-token", "admin-token");
    dirs.manifest("workspace.yaml", &workspace("product", "product"));
    dirs.manifest("fields.yaml", &field_mapping());
    dirs.manifest(
        "connection.yaml",
        &connection(
            "sim",
            "Simulated Jira",
            &sim.base_url(),
            "admin@example.com",
            "jira-token",
            None,
        ),
    );
    dirs.manifest(
        "integration.yaml",
        &integration("demo", "Demo", "sim", "product"),
    );
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    d.wait_status("every resource Ready", all_ready).await;

    let mut samples = Vec::with_capacity(EDITS);
    // One warm-up edit, then the measured ones.
    for k in 0..=EDITS {
        let display = format!("Demo edit {k}");
        let started = Instant::now();
        dirs.manifest(
            "integration.yaml",
            &integration("demo", &display, "sim", "product"),
        );
        loop {
            let s = d.status().await;
            let shown = resource(&s, "ProjectIntegration", "demo")
                .is_some_and(|r| r["details"]["displayName"] == display.as_str());
            if shown && is_current_and_ready(&s, "ProjectIntegration", "demo") {
                break;
            }
            assert!(started.elapsed() < GUARD, "edit {k} never became Ready");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if k > 0 {
            samples.push(started.elapsed());
        }
    }
    let (min, max) = (
        *samples.iter().min().expect("samples"),
        *samples.iter().max().expect("samples"),
    );
    println!(
        "manifest write -> Ready in status: median {:.0} ms (min {:.0}, max {:.0}, {EDITS} edits; target < 1000 ms)",
        median(samples).as_secs_f64() * 1e3,
        min.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
    );
    d.stop().await;
    sim.shutdown().await.expect("sim shutdown");
}

async fn idle_rss() {
    let sim = simulator(Vec::new()).await;
    let dirs = DaemonDirs::new();
    dirs.secret("jira-token", "admin-token");
    dirs.manifest("fields.yaml", &field_mapping());
    dirs.manifest(
        "connection.yaml",
        &connection(
            "sim",
            "Simulated Jira",
            &sim.base_url(),
            "admin@example.com",
            "jira-token",
            None,
        ),
    );
    // One project may be integrated into a workspace once per connection: one workspace each.
    for i in 0..INTEGRATIONS {
        let ws = format!("team-{i:02}");
        dirs.manifest(&format!("{ws}.yaml"), &workspace(&ws, &ws));
        dirs.manifest(
            &format!("integration-{i:02}.yaml"),
            &integration(&format!("pi-{i:02}"), &format!("Team {i:02}"), "sim", &ws),
        );
    }
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    let status = d.wait_status("all 20 integrations Ready", all_ready).await;
    let integrations = status["resources"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["kind"] == "ProjectIntegration")
                .count()
        })
        .unwrap_or(0);
    assert_eq!(integrations, INTEGRATIONS);
    // Settle: let start-up allocations be returned and background tasks go quiet.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss = memory_kib(d.pid(), "VmRSS:");
    let hwm = memory_kib(d.pid(), "VmHWM:");
    println!(
        "idle RSS with {INTEGRATIONS} integrations: {:.1} MiB (peak {:.1} MiB; target < 40 MiB)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    d.stop().await;
    sim.shutdown().await.expect("sim shutdown");
}

/// User and system CPU time of a process so far, in seconds (from `/proc/PID/stat`).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0);
    ticks / 100.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// (c) 100 integrations over 20 connections, idle.
async fn many_integrations_idle() {
    const CONNECTIONS: usize = 20;
    const PER_CONNECTION: usize = 5;
    let sim = simulator(Vec::new()).await;
    let dirs = DaemonDirs::new();
    dirs.secret("jira-token", "admin-token");
    dirs.manifest("fields.yaml", &field_mapping());
    // One project is integrated into a workspace once per connection: five workspaces, each
    // with the project of all 20 connections.
    for w in 0..PER_CONNECTION {
        let ws = format!("team-{w}");
        dirs.manifest(&format!("{ws}.yaml"), &workspace(&ws, &ws));
    }
    for c in 0..CONNECTIONS {
        dirs.manifest(
            &format!("connection-{c:02}.yaml"),
            &connection(
                &format!("jira-{c:02}"),
                &format!("Jira {c:02}"),
                &sim.base_url(),
                "admin@example.com",
                "jira-token",
                None,
            ),
        );
        for w in 0..PER_CONNECTION {
            dirs.manifest(
                &format!("integration-{c:02}-{w}.yaml"),
                &integration(
                    &format!("pi-{c:02}-{w}"),
                    &format!("Team {w} on Jira {c:02}"),
                    &format!("jira-{c:02}"),
                    &format!("team-{w}"),
                ),
            );
        }
    }
    let t = Instant::now();
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    let status = d.wait_status("100 integrations Ready", all_ready).await;
    let ready = t.elapsed();
    let n = status["resources"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["kind"] == "ProjectIntegration")
                .count()
        })
        .unwrap_or(0);
    assert_eq!(n, CONNECTIONS * PER_CONNECTION);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let load = loadavg();
    let cpu0 = cpu_seconds(d.pid());
    let idle = Duration::from_secs(60);
    tokio::time::sleep(idle).await;
    let cpu = cpu_seconds(d.pid()) - cpu0;
    let rss = memory_kib(d.pid(), "VmRSS:");
    let hwm = memory_kib(d.pid(), "VmHWM:");
    println!(
        "{n} integrations over {CONNECTIONS} connections: Ready {:.1} s after start; idle RSS {:.1} MiB (peak {:.1} MiB); CPU {:.2} s in {} s idle ({:.2} % of one core); load {load} -> {}",
        ready.as_secs_f64(),
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        cpu,
        idle.as_secs(),
        cpu / idle.as_secs_f64() * 100.0,
        loadavg()
    );
    d.stop().await;
    sim.shutdown().await.expect("sim shutdown");
}

/// (d) A state file with 1,000,000 links.
async fn million_links() {
    let n: usize = std::env::var("TANDEM_BENCH_LINKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let sim = simulator(Vec::new()).await;
    let dirs = DaemonDirs::new();
    dirs.secret("jira-token", "admin-token");
    dirs.manifest("workspace.yaml", &workspace("product", "product"));
    dirs.manifest("fields.yaml", &field_mapping());
    dirs.manifest(
        "connection.yaml",
        &connection(
            "sim",
            "Simulated Jira",
            &sim.base_url(),
            "admin@example.com",
            "jira-token",
            None,
        ),
    );
    dirs.manifest(
        "integration.yaml",
        &integration("demo", "Demo", "sim", "product"),
    );
    let t = Instant::now();
    {
        let store = tandem::store::Store::open(&dirs.state).expect("store");
        let mut at = 0;
        while at < n {
            let end = (at + 2000).min(n);
            let writes = (at..end).map(|i| {
                store.put_link(tandem::store::Link {
                    integration: "demo".into(),
                    connection: "sim".into(),
                    workspace: "product".into(),
                    workspace_item_id: format!("{}", i + 1),
                    jira_issue_id: format!("{}", 100_000 + i),
                    jira_issue_key: format!("DEMO-{}", i + 1),
                })
            });
            for r in futures_util::future::join_all(writes).await {
                r.expect("link");
            }
            at = end;
        }
        store.close().await.expect("close");
    }
    let written = t.elapsed();
    let size: u64 = std::fs::read_dir(&dirs.state)
        .expect("state dir")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let load = loadavg();
    let t = Instant::now();
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    d.wait_status("Ready", all_ready).await;
    let ready = t.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = memory_kib(d.pid(), "VmRSS:");
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let body = d.admin_get("/api/v1/status").await;
        times.push(t.elapsed());
        assert!(body.contains("demo"));
    }
    let hwm = memory_kib(d.pid(), "VmHWM:");
    println!(
        "{n} links: written in {:.1} s; state on disk {:.1} MiB ({:.0} bytes per link); `tandem run` start to Ready {:.2} s; RSS when Ready {:.1} MiB (peak {:.1} MiB); GET /api/v1/status median {:.1} ms (of 5); load {load} -> {}",
        written.as_secs_f64(),
        size as f64 / 1048576.0,
        size as f64 / n as f64,
        ready.as_secs_f64(),
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        median(times).as_secs_f64() * 1e3,
        loadavg()
    );
    d.stop().await;
    sim.shutdown().await.expect("sim shutdown");
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let which = std::env::var("TANDEM_BENCH_DAEMON").unwrap_or_default();
    rt.block_on(async {
        if which.is_empty() || which == "all" {
            manifest_to_ready().await;
            idle_rss().await;
        }
        if which == "scale" || which == "all" {
            many_integrations_idle().await;
            million_links().await;
        }
    });
}
