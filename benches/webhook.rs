//! Webhook receiver: durable acks per second with concurrent posters, and ack latency at a
//! fixed 500 requests/s. Store + public listener in-process on 127.0.0.1:0, real HTTP, real
//! HMAC, real fsync.
//!
//! `cargo bench --bench webhook`. Targets on the 2-core machine: >= 5,000 acks/s, p99 < 20 ms
//! at 500/s.
//!
//! `TANDEM_BENCH_WEBHOOK=page cargo bench --bench webhook` measures the same two figures with
//! and without the admin listener's status page open on the same store and webhook counters,
//! runs alternating: 8 "browsers" (`GET /`, then `GET /live` every 1.5 s, as the page's script
//! does). Serving the page must cost the webhook path nothing measurable.

#[path = "support/webhook_load.rs"]
mod load;

use std::collections::HashMap;
use std::time::Duration;

use load::{pct, SECRET};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tandem::http::admin::{self, AdminState};
use tandem::http::public::{self, PublicState, WebhookConnection, WebhookRoutes};
use tandem::http::Secret;
use tandem::store::Store;
use tokio::sync::watch;

const RUNS: usize = 3;

struct Server {
    url: String,
    /// The admin listener (status page) on the same store, when asked for.
    admin: Option<String>,
    admin_task: Option<tokio::task::JoinHandle<Result<(), admin::AdminError>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn server(with_page: bool) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let mut workspaces = HashMap::new();
    workspaces.insert(
        "main".to_string(),
        vec![WebhookConnection {
            name: "acme".into(),
            base_url: "https://acme.atlassian.net".into(),
            self_url: None,
            secret: Some(Secret::new(SECRET)),
        }],
    );
    let (_tx, routes) = watch::channel(WebhookRoutes { workspaces });
    let (_rtx, ready) = watch::channel(true);
    let state = PublicState::new(store.clone(), routes, ready.clone());
    let (admin, admin_task) = if with_page {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind admin");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let mut admin_state = AdminState::new(store.clone(), ready, state.metrics.clone());
        // A status document as the daemon serves it (a demo's, with connection, mapping and
        // jobs), with the webhook facts read from this store on every render as the daemon's
        // status does.
        let sample: serde_json::Value =
            serde_json::from_str(include_str!("support/status_sample.json")).expect("sample");
        let status_store = store.clone();
        admin_state.status = Arc::new(move || {
            let mut doc = sample.clone();
            doc["webhooks"] = admin::store_status(&status_store)["webhooks"].clone();
            doc["storedWebhookEvents"] = status_store.webhook_event_count().unwrap_or(0).into();
            doc
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::mem::forget(tx); // serves until the runtime's task is aborted
        let task = tokio::spawn(admin::serve(listener, admin_state, async move {
            let _ = rx.await;
        }));
        (Some(url), Some(task))
    } else {
        (None, None)
    };
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
        admin,
        admin_task,
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
        if let Some(t) = self.admin_task.take() {
            t.abort();
            let _ = t.await;
        }
        self.store.close().await.expect("close");
    }
}

async fn throughput(total: usize, posters: usize, with_page: bool) -> f64 {
    let s = server(with_page).await;
    let page = PageLoad::start(s.admin.as_deref());
    let rate = load::closed_loop(&s.url, total, posters).await;
    page.stop().await;
    assert_eq!(s.store.webhook_event_count().expect("count"), total as u64);
    s.shutdown().await;
    rate
}

/// Open loop at a fixed rate; returns sorted latencies.
async fn fixed_rate(total: usize, per_second: u64, with_page: bool) -> Vec<Duration> {
    let s = server(with_page).await;
    let page = PageLoad::start(s.admin.as_deref());
    let lat = load::open_loop(&s.url, total, per_second).await;
    page.stop().await;
    s.shutdown().await;
    lat
}

/// Page requests answered during the measured runs.
static PAGE_REQUESTS: AtomicU64 = AtomicU64::new(0);

/// People looking at the status page while webhooks arrive.
struct PageLoad {
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl PageLoad {
    fn start(admin: Option<&str>) -> PageLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        if let Some(admin) = admin {
            let client = reqwest::Client::new();
            // Eight open pages, polling like the page's script.
            for _ in 0..8 {
                let (client, admin, stop, requests) = (
                    client.clone(),
                    admin.to_owned(),
                    stop.clone(),
                    requests.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    let get = |path: &'static str| {
                        let (client, url) = (client.clone(), format!("{admin}{path}"));
                        async move {
                            let r = client.get(url).send().await.expect("page");
                            assert!(r.status().is_success(), "{}", r.status());
                            let _ = r.bytes().await;
                        }
                    };
                    get("/").await;
                    requests.fetch_add(1, Ordering::Relaxed);
                    while !stop.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(1500)).await;
                        get("/live").await;
                        requests.fetch_add(1, Ordering::Relaxed);
                    }
                }));
            }
        }
        PageLoad {
            stop,
            requests,
            tasks,
        }
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        PAGE_REQUESTS.fetch_add(self.requests.load(Ordering::Relaxed), Ordering::Relaxed);
    }
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
    if std::env::var("TANDEM_BENCH_WEBHOOK").as_deref() == Ok("page") {
        return page_mode(&rt);
    }
    println!("webhook: durable acks (HMAC + JSON + dedup + fsync), median of {RUNS} runs");
    for posters in [16, 64, 256] {
        let rates: Vec<f64> = (0..RUNS)
            .map(|_| rt.block_on(throughput(20_000, posters, false)))
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
        let lat = rt.block_on(fixed_rate(5_000, 500, false));
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

/// The same figures without and with the status page open, runs alternating so both see the
/// same machine.
fn page_mode(rt: &tokio::runtime::Runtime) {
    const PAGE_RUNS: usize = 5;
    println!(
        "webhook with the status page: median of {PAGE_RUNS} alternating runs, 64 posters and 500/s"
    );
    let mut rates = [Vec::new(), Vec::new()];
    let mut p50 = [Vec::new(), Vec::new()];
    let mut p99 = [Vec::new(), Vec::new()];
    for _ in 0..PAGE_RUNS {
        for (i, with_page) in [false, true].into_iter().enumerate() {
            rates[i].push(rt.block_on(throughput(20_000, 64, with_page)));
            let lat = rt.block_on(fixed_rate(5_000, 500, with_page));
            p50[i].push(pct(&lat, 0.50).as_secs_f64() * 1e3);
            p99[i].push(pct(&lat, 0.99).as_secs_f64() * 1e3);
        }
    }
    println!(
        "  ({} page requests answered during the page-open runs)",
        PAGE_REQUESTS.load(Ordering::Relaxed)
    );
    for (i, label) in ["page closed", "page open  "].into_iter().enumerate() {
        println!(
            "  {label}: {:>8.0} acks/s at 64 posters; at 500/s p50 {:.2} ms  p99 {:.2} ms",
            median(rates[i].clone()),
            median(p50[i].clone()),
            median(p99[i].clone())
        );
        let runs = |v: &[f64], digits: usize| {
            v.iter()
                .map(|x| format!("{x:.digits$}"))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        println!(
            "    runs: acks/s {}; p50 {}; p99 {}",
            runs(&rates[i], 0),
            runs(&p50[i], 2),
            runs(&p99[i], 2)
        );
    }
}
