//! The webhook client load both `benches/webhook.rs` (tandem's receiver) and
//! `benches/limits.rs` (a bare hyper server) apply, so the two figures compare like with like:
//! the same ~2 KiB signed `issue_updated` body built per request, the same reqwest client, the
//! same closed and open loops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem::http::public::sign;
use tandem::http::Secret;

/// The webhook secret the bodies are signed with.
pub const SECRET: &str = "bench-s3cret";

/// A realistic ~2 KiB issue_updated body, signed once per request like Jira does.
pub fn body(i: usize) -> (String, String) {
    let b = serde_json::json!({
        "timestamp": 1_594_081_625_284u64 + i as u64,
        "webhookEvent": "jira:issue_updated",
        "issue": {
            "id": i.to_string(),
            "self": format!("https://acme.atlassian.net/rest/api/2/issue/{i}"),
            "key": format!("DEMO-{i}"),
            "fields": { "summary": "x".repeat(1500), "status": { "self": "https://acme.atlassian.net/rest/api/2/status/3", "name": "In Progress" } }
        }
    })
    .to_string();
    let sig = sign(&Secret::new(SECRET), b.as_bytes());
    (b, sig)
}

/// One signed POST; its latency.
pub async fn post(client: &reqwest::Client, url: &str, i: usize) -> Duration {
    let (b, sig) = body(i);
    let started = Instant::now();
    let resp = client
        .post(url)
        .header("X-Hub-Signature", sig)
        .header("X-Atlassian-Webhook-Identifier", format!("d-{i}"))
        .body(b)
        .send()
        .await
        .expect("send");
    assert!(resp.status().is_success(), "status {}", resp.status());
    let _ = resp.bytes().await;
    started.elapsed()
}

/// Closed loop: `posters` concurrent clients post `total` requests; returns requests/s.
pub async fn closed_loop(url: &str, total: usize, posters: usize) -> f64 {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(posters)
        .build()
        .expect("client");
    let url = Arc::new(url.to_owned());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..posters {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = p;
            while i < total {
                post(&client, &url, i).await;
                i += posters;
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// Open loop: one request every 1/`per_second` s regardless of answers (after warming the
/// connection pool with 32 requests); returns the sorted latencies.
pub async fn open_loop(url: &str, total: usize, per_second: u64) -> Vec<Duration> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let url = Arc::new(url.to_owned());
    for i in 0..32 {
        post(&client, &url, 1_000_000 + i).await;
    }
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        tick.tick().await;
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move { post(&client, &url, i).await }));
    }
    let mut lat = Vec::with_capacity(total);
    for t in tasks {
        lat.push(t.await.expect("join"));
    }
    lat.sort();
    lat
}

/// The `p` quantile of sorted latencies.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}
