//! The physical limits `BENCHMARKS.md` compares tandem's figures with, measured on the same
//! machine in the same run style (median of a few runs):
//!
//! - the disk: a bare `fsync` of a 4 KiB append, and raw redb commits per second with one
//!   durable commit (one fsync) per insert, many inserts per durable commit, and
//!   `Durability::None` (no fsync at all);
//! - the network stack and HTTP: a minimal hyper 1.x server answering 200 to every request on
//!   loopback, loaded exactly like `benches/webhook.rs` loads tandem's webhook receiver (the
//!   same ~2 KiB signed POST, 16/64/256 concurrent posters over reqwest, then an open loop at
//!   500 requests/s);
//! - the simulator's own serving rate for `GET issue` is measured by `cargo bench --bench sim`
//!   and is not repeated here.
//!
//! `cargo bench --bench limits`.

#[path = "support/webhook_load.rs"]
mod load;

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use load::pct;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use redb::{
    Database, Durability, ReadableDatabase as _, ReadableTableMetadata as _, TableDefinition,
};

const RUNS: usize = 3;
const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("events");

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// fsyncs per second of a file that grows by 4 KiB before each `fdatasync`.
fn raw_fsync(n: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut f = std::fs::File::create(dir.path().join("f")).expect("create");
    let block = vec![b'x'; 4096];
    let t = Instant::now();
    for _ in 0..n {
        f.write_all(&block).expect("write");
        f.sync_data().expect("fsync");
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// Inserts `total` 4 KiB values, `per_commit` per write transaction; returns (inserts/s,
/// commits/s).
fn redb_commits(total: usize, per_commit: usize, durability: Durability) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::create(dir.path().join("bench.redb")).expect("create");
    let value = vec![b'x'; 4096];
    let commits = total.div_ceil(per_commit);
    let t = Instant::now();
    let mut key = 0u64;
    for _ in 0..commits {
        let mut tx = db.begin_write().expect("begin");
        tx.set_durability(durability).expect("durability");
        {
            let mut table = tx.open_table(TABLE).expect("table");
            for _ in 0..per_commit {
                table.insert(key, value.as_slice()).expect("insert");
                key += 1;
            }
        }
        tx.commit().expect("commit");
    }
    let secs = t.elapsed().as_secs_f64();
    // Sanity: everything is there.
    let read = db.begin_read().expect("read");
    let n = read.open_table(TABLE).expect("table").len().expect("len");
    assert_eq!(n as usize, commits * per_commit);
    ((commits * per_commit) as f64 / secs, commits as f64 / secs)
}

struct Server {
    url: String,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The smallest hyper 1.x server: reads the body, answers 200 with an empty body.
async fn hello_server() -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
                _ = stopped.changed() => return,
            };
            tokio::spawn(async move {
                let svc = service_fn(|req: Request<hyper::body::Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Server {
        url: format!("http://{addr}/webhooks/jira/main"),
        stop,
        task,
    }
}

impl Server {
    async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn throughput(total: usize, posters: usize) -> f64 {
    let s = hello_server().await;
    let rate = load::closed_loop(&s.url, total, posters).await;
    s.shutdown().await;
    rate
}

async fn fixed_rate(total: usize, per_second: u64) -> Vec<Duration> {
    let s = hello_server().await;
    let lat = load::open_loop(&s.url, total, per_second).await;
    s.shutdown().await;
    lat
}

fn main() {
    println!("limits: the machine's own ceilings, median of {RUNS} runs");
    println!("  load average at start: {}", loadavg());

    let fsyncs = median((0..RUNS).map(|_| raw_fsync(500)).collect());
    println!(
        "  {:<44}: {fsyncs:>7.0} fsyncs/s",
        "disk: bare 4 KiB append + fdatasync"
    );

    for (label, total, per_commit, durability) in [
        (
            "redb, 1 insert per durable commit",
            2_000,
            1,
            Durability::Immediate,
        ),
        (
            "redb, 100 inserts per durable commit",
            50_000,
            100,
            Durability::Immediate,
        ),
        (
            "redb, 1 insert per commit, Durability::None",
            20_000,
            1,
            Durability::None,
        ),
    ] {
        let runs: Vec<(f64, f64)> = (0..RUNS)
            .map(|_| redb_commits(total, per_commit, durability))
            .collect();
        let inserts = median(runs.iter().map(|r| r.0).collect());
        let commits = median(runs.iter().map(|r| r.1).collect());
        println!("  {label:<44}: {inserts:>7.0} inserts/s ({commits:.0} commits/s, 4 KiB values)");
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("  minimal hyper 1.x server answering 200 (same client load as benches/webhook.rs):");
    for posters in [16, 64, 256] {
        let rates: Vec<f64> = (0..RUNS)
            .map(|_| rt.block_on(throughput(20_000, posters)))
            .collect();
        println!(
            "    {posters:>3} concurrent posters: {:>8.0} requests/s",
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
        "    at 500/s (5,000 requests): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        median(p50),
        median(p99),
        median(max)
    );
    println!("  simulator GET issue: see `cargo bench --bench sim` (sim/issue_get)");
    println!("  load average at end: {}", loadavg());
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
