//! The real `tandem run` against the in-process Jira simulator, measured as an operator would:
//! (a) time from writing a manifest to the resource being Ready with that version in
//! `/api/v1/status`, (b) resident memory of an idle daemon running 20 integrations.
//! Targets on the 2-core reference machine: (a) under 1 s, (b) under 40 MiB.
//!
//! Run with `cargo bench --bench daemon`.

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

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        manifest_to_ready().await;
        idle_rss().await;
    });
}
