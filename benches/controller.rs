//! Controller and watcher latencies and throughput; prints medians (`cargo bench --bench controller`).
//!
//! - queue throughput: 10,000 keys through a no-op reconciler, concurrency 4;
//! - enqueue-to-reconcile latency of one key on an idle controller;
//! - manifest write to published snapshot with the default watcher settings (200 ms debounce);
//! - a forced rescan of 500 manifests (read + digest).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem::controller::{
    Controller, ControllerConfig, ObjectRef, Outcome, ReconcileError, Reconciler, StatusBoard,
};
use tandem::watch::{ManifestWatcher, ScanFn, WatchConfig};
use tokio::sync::{mpsc, oneshot};

struct Count {
    done: Arc<AtomicUsize>,
    target: usize,
    tx: mpsc::UnboundedSender<Instant>,
}

impl Reconciler<ObjectRef> for Count {
    async fn reconcile(&self, _key: &ObjectRef) -> Result<Outcome, ReconcileError> {
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if n % self.target == 0 {
            let _ = self.tx.send(Instant::now());
        }
        Ok(Outcome::ready())
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

async fn queue_throughput() {
    const KEYS: usize = 10_000;
    let mut runs = Vec::new();
    for _ in 0..5 {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let reconciler = Count {
            done: Arc::default(),
            target: KEYS,
            tx,
        };
        let config = ControllerConfig {
            resync_interval: None,
            ..ControllerConfig::default()
        };
        let controller = Controller::new(reconciler, StatusBoard::new(), config);
        let queue = controller.queue();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(controller.run(async move {
            let _ = stopped.await;
        }));
        let start = Instant::now();
        for i in 0..KEYS {
            queue.enqueue(ObjectRef::new("ProjectIntegration", format!("p{i}")));
        }
        let end = rx.recv().await.expect("all reconciled");
        runs.push(end - start);
        let _ = stop.send(());
        let _ = handle.await;
    }
    let m = median(runs);
    println!(
        "controller: {KEYS} keys through a no-op reconciler: median {:.1} ms ({:.0} reconciles/s incl. status updates)",
        m.as_secs_f64() * 1e3,
        KEYS as f64 / m.as_secs_f64()
    );
}

async fn enqueue_latency() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reconciler = Count {
        done: Arc::default(),
        target: 1,
        tx,
    };
    let controller = Controller::new(reconciler, StatusBoard::new(), ControllerConfig::default());
    let queue = controller.queue();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(controller.run(async move {
        let _ = stopped.await;
    }));
    let key = ObjectRef::new("Connection", "acme");
    let mut lat = Vec::new();
    for _ in 0..2000 {
        let start = Instant::now();
        queue.enqueue(key.clone());
        let end = rx.recv().await.expect("reconciled");
        lat.push(end - start);
        // Let the controller record the result before the next round.
        tokio::task::yield_now().await;
        while queue.stats().running > 0 {
            tokio::task::yield_now().await;
        }
    }
    let _ = stop.send(());
    let _ = handle.await;
    println!(
        "controller: enqueue -> reconcile start of one key: p50 {:.1} us, p99 {:.1} us",
        pct(lat.clone(), 0.5).as_secs_f64() * 1e6,
        pct(lat, 0.99).as_secs_f64() * 1e6
    );
}

fn read_tree(root: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path)?;
            out.push((path, text));
        }
    }
    Ok(out)
}

async fn watcher_latency() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("manifests");
    std::fs::create_dir(&dir).expect("mkdir");
    let body = "apiVersion: tandem/v1\nkind: ProjectIntegration\nmetadata:\n  name: x\nspec:\n  project: DEMO\n"
        .repeat(10);
    for i in 0..500 {
        std::fs::write(dir.join(format!("m{i}.yaml")), &body).expect("write");
    }
    let scan: ScanFn = Arc::new(read_tree);
    let watcher = ManifestWatcher::new(&dir, scan, WatchConfig::default());
    let mut snaps = watcher.snapshots();
    let mut status = watcher.status();
    let trigger = watcher.rescan_trigger();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(watcher.run(async move {
        let _ = stopped.await;
    }));
    snaps
        .wait_for(|s| s.is_some())
        .await
        .expect("first snapshot");

    let mut write_to_snapshot = Vec::new();
    for i in 0..10 {
        let gen = snaps.borrow().as_ref().map_or(0, |s| s.generation);
        let start = Instant::now();
        std::fs::write(dir.join("m0.yaml"), format!("{body}# edit {i}\n")).expect("write");
        snaps
            .wait_for(|s| s.as_ref().is_some_and(|s| s.generation > gen))
            .await
            .expect("snapshot");
        write_to_snapshot.push(start.elapsed());
    }

    let mut rescans = Vec::new();
    for _ in 0..10 {
        let scans = status.borrow().scans;
        let start = Instant::now();
        trigger.rescan();
        status.wait_for(|s| s.scans > scans).await.expect("rescan");
        rescans.push(start.elapsed());
    }
    let _ = stop.send(());
    let _ = handle.await;
    println!(
        "watcher: file write -> snapshot published (debounce 200 ms): median {:.0} ms",
        median(write_to_snapshot).as_secs_f64() * 1e3
    );
    println!(
        "watcher: forced rescan of 500 manifests ({} bytes each, read + digest): median {:.1} ms",
        body.len(),
        median(rescans).as_secs_f64() * 1e3
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        queue_throughput().await;
        enqueue_latency().await;
        watcher_latency().await;
    });
}
