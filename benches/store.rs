//! Store commit throughput: one durable commit per write versus the writer's group commit.
//!
//! `cargo bench --bench store`. Prints the median of a few runs of each scenario.

use std::time::Instant;

use chrono::Utc;
use tandem::store::{NewWebhookEvent, Store};

const RUNS: usize = 3;

fn event(i: usize) -> NewWebhookEvent {
    NewWebhookEvent {
        received_at: Utc::now(),
        workspace_id: "main".into(),
        connection: "acme".into(),
        identifier: Some(format!("delivery-{i}")),
        // About the size of a real jira:issue_updated body.
        body: vec![b'x'; 4096],
    }
}

/// Appends `total` events with `concurrency` writers in flight; returns (appends/s, commits/s,
/// mean batch size).
async fn scenario(total: usize, concurrency: usize) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < total {
                store.append_webhook(event(i)).await.expect("append");
                i += concurrency;
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    let secs = started.elapsed().as_secs_f64();
    let stats = store.stats();
    store.close().await.expect("close");
    (
        total as f64 / secs,
        stats.commits as f64 / secs,
        stats.jobs as f64 / stats.commits.max(1) as f64,
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("store: durable webhook appends (4 KiB bodies), median of {RUNS} runs");
    for (label, total, concurrency) in [
        ("no batching (1 writer in flight)", 2_000, 1),
        ("group commit, 16 in flight", 10_000, 16),
        ("group commit, 64 in flight", 20_000, 64),
        ("group commit, 256 in flight", 20_000, 256),
    ] {
        let mut appends = Vec::new();
        let mut commits = Vec::new();
        let mut batch = Vec::new();
        for _ in 0..RUNS {
            let (a, c, b) = rt.block_on(scenario(total, concurrency));
            appends.push(a);
            commits.push(c);
            batch.push(b);
        }
        println!(
            "  {label:<36} {:>9.0} appends/s  {:>7.0} commits/s  mean batch {:>6.1}",
            median(appends),
            median(commits),
            median(batch)
        );
    }
}
