//! Webhook receiver: durable acks per second with concurrent posters, and ack latency at a
//! fixed 500 requests/s. Store + public listener in-process on 127.0.0.1:0, real HTTP, real
//! HMAC, real fsync.
//!
//! `cargo bench --bench webhook`. Targets on the 2-core machine: >= 5,000 acks/s, p99 < 20 ms
//! at 500/s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem::http::public::{self, sign, PublicState, WebhookConnection, WebhookRoutes};
use tandem::http::Secret;
use tandem::store::Store;
use tokio::sync::watch;

const SECRET: &str = "bench-s3cret";
const RUNS: usize = 3;

struct Server {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let mut workspaces = HashMap::new();
    workspaces.insert(
        "main".to_string(),
        vec![WebhookConnection {
            name: "acme".into(),
            base_url: "https://acme.atlassian.net".into(),
            secret: Some(Secret::new(SECRET)),
        }],
    );
    let (_tx, routes) = watch::channel(WebhookRoutes { workspaces });
    let (_rtx, ready) = watch::channel(true);
    let state = PublicState::new(store.clone(), routes, ready);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/webhooks/jira/main",
        listener.local_addr().expect("addr")
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(public::serve(listener, state, async move {
        let _ = stop_rx.await;
    }));
    Server {
        url,
        stop: Some(stop_tx),
        task,
        store,
        _dir: dir,
    }
}

impl Server {
    async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
        self.store.close().await.expect("close");
    }
}

/// A realistic ~2 KiB issue_updated body, signed once per request like Jira does.
fn body(i: usize) -> (String, String) {
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

async fn post(client: &reqwest::Client, url: &str, i: usize) -> Duration {
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

async fn throughput(total: usize, posters: usize) -> f64 {
    let s = server().await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(posters)
        .build()
        .expect("client");
    let url = Arc::new(s.url.clone());
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
    let rate = total as f64 / started.elapsed().as_secs_f64();
    assert_eq!(s.store.webhook_event_count().expect("count"), total as u64);
    s.shutdown().await;
    rate
}

/// Open loop: one request every 2 ms regardless of answers; returns sorted latencies.
async fn fixed_rate(total: usize, per_second: u64) -> Vec<Duration> {
    let s = server().await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let url = Arc::new(s.url.clone());
    // Warm the connection pool so the first requests do not pay for connects.
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
    s.shutdown().await;
    lat.sort();
    lat
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
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
    println!("webhook: durable acks (HMAC + JSON + dedup + fsync), median of {RUNS} runs");
    for posters in [16, 64, 256] {
        let rates: Vec<f64> = (0..RUNS)
            .map(|_| rt.block_on(throughput(20_000, posters)))
            .collect();
        println!(
            "  {posters:>3} concurrent posters: {:>8.0} acks/s",
            median(rates)
        );
    }
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    let mut max = Vec::new();
    for _ in 0..RUNS {
        let lat = rt.block_on(fixed_rate(5_000, 500));
        p50.push(pct(&lat, 0.50).as_secs_f64() * 1e3);
        p99.push(pct(&lat, 0.99).as_secs_f64() * 1e3);
        max.push(lat[lat.len() - 1].as_secs_f64() * 1e3);
    }
    println!(
        "  at 500/s (5,000 requests): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        median(p50),
        median(p99),
        median(max)
    );
}
