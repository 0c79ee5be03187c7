//! Webhook receiver: durable acks per second with concurrent posters, and ack latency at a
//! fixed 500 requests/s. Store + public listener in-process on 127.0.0.1:0, real HTTP, real
//! HMAC, real fsync.
//!
//! `cargo bench --bench webhook`. Targets on the 2-core machine: >= 5,000 acks/s, p99 < 20 ms
//! at 500/s.

#[path = "support/webhook_load.rs"]
mod load;

use std::collections::HashMap;
use std::time::Duration;

use load::{pct, SECRET};
use tandem::http::public::{self, PublicState, WebhookConnection, WebhookRoutes};
use tandem::http::Secret;
use tandem::store::Store;
use tokio::sync::watch;

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

async fn throughput(total: usize, posters: usize) -> f64 {
    let s = server().await;
    let rate = load::closed_loop(&s.url, total, posters).await;
    assert_eq!(s.store.webhook_event_count().expect("count"), total as u64);
    s.shutdown().await;
    rate
}

/// Open loop at a fixed rate; returns sorted latencies.
async fn fixed_rate(total: usize, per_second: u64) -> Vec<Duration> {
    let s = server().await;
    let lat = load::open_loop(&s.url, total, per_second).await;
    s.shutdown().await;
    lat
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
