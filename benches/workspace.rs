//! Embedded workspace throughput: item creates and patches through `WorkspaceService` (each a
//! validated, durable write with its change-feed entry, group-committed), and listing pages.
//!
//! `cargo bench --bench workspace`. Prints the median of a few runs of each scenario.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use tandem::manifest::{self, SourceFile};
use tandem::store::Store;
use tandem::workspace::{
    ImportEntry, ImportTarget, IssueRef, ItemFilter, ItemPatch, Origin, WorkspaceService,
};

const RUNS: usize = 3;
const ITEMS: usize = 5_000;

const MANIFEST: &str = r#"
apiVersion: tandem/v1
kind: Workspace
metadata: {name: bench}
spec:
  id: bench
  itemTypes:
    - name: Epic
    - name: Story
      parent: Epic
  statuses: [Backlog, In Progress, Done]
  fields:
    - {name: Risk, type: singleSelect, options: [Low, High]}
"#;

fn service(dir: &std::path::Path) -> WorkspaceService {
    let v = manifest::validate(&[SourceFile {
        path: PathBuf::from("bench.yaml"),
        text: MANIFEST.into(),
    }]);
    WorkspaceService::with_model(Store::open(dir).expect("open"), v.model)
}

fn patch(v: serde_json::Value) -> ItemPatch {
    ItemPatch::from_json(&v).expect("patch")
}

/// (creates/s, patches/s, ms per 100-item page of a filtered listing) with `concurrency`
/// writers in flight.
async fn scenario(concurrency: usize) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = service(dir.path());
    let epic = svc
        .create_item(
            "bench",
            patch(json!({"type": "Epic", "title": "e"})),
            Origin::Api,
        )
        .await
        .expect("epic")
        .id;
    let run = |mk: fn(usize, &str) -> serde_json::Value, update: bool| {
        let svc = svc.clone();
        let epic = epic.clone();
        async move {
            let started = Instant::now();
            let mut tasks = Vec::new();
            for w in 0..concurrency {
                let svc = svc.clone();
                let epic = epic.clone();
                tasks.push(tokio::spawn(async move {
                    let mut i = w;
                    while i < ITEMS {
                        if update {
                            svc.patch_item(
                                "bench",
                                &format!("ITEM-{}", i + 2),
                                patch(mk(i, &epic)),
                                None,
                                Origin::Api,
                            )
                            .await
                            .expect("patch");
                        } else {
                            svc.create_item("bench", patch(mk(i, &epic)), Origin::Api)
                                .await
                                .expect("create");
                        }
                        i += concurrency;
                    }
                }));
            }
            for t in tasks {
                t.await.expect("join");
            }
            ITEMS as f64 / started.elapsed().as_secs_f64()
        }
    };
    let creates = run(
        |i, epic| {
            json!({"type": "Story", "title": format!("story {i}"), "parent": epic,
                   "fields": {"Risk": "Low"}})
        },
        false,
    )
    .await;
    let patches = run(
        |i, _| json!({"status": if i % 2 == 0 { "Done" } else { "In Progress" }}),
        true,
    )
    .await;
    let started = Instant::now();
    let mut pages = 0;
    let mut filter = ItemFilter {
        status: Some("Done".into()),
        limit: Some(100),
        ..Default::default()
    };
    loop {
        let page = svc.list_items("bench", &filter).expect("list");
        pages += 1;
        match page.next {
            Some(n) => filter.cursor = Some(n),
            None => break,
        }
    }
    let page_ms = started.elapsed().as_secs_f64() * 1000.0 / pages as f64;
    svc.store().close().await.expect("close");
    (creates, patches, page_ms)
}

/// Items/s of a bulk import from Jira (`import_items`, as a one-time import writes) in batches
/// of `batch`.
async fn import(total: usize, batch: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = service(dir.path());
    let started = Instant::now();
    let mut n = 0;
    while n < total {
        let entries = (n..(n + batch).min(total))
            .map(|i| ImportEntry {
                target: ImportTarget::Create(IssueRef {
                    connection: "jira".into(),
                    id: format!("{}", 10_000 + i),
                    key: format!("BENCH-{i}"),
                }),
                patch: patch(json!({"type": "Story", "title": format!("issue {i}"),
                                    "fields": {"Risk": "High"}, "labels": ["imported"]})),
                kv: Vec::new(),
            })
            .collect();
        let results = svc
            .import_items("bench", "bench-jira", entries)
            .await
            .expect("import");
        assert!(results.iter().all(Result::is_ok));
        n += batch;
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    svc.store().close().await.expect("close");
    rate
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
    println!("workspace: {ITEMS} items per run, median of {RUNS} runs");
    for concurrency in [1, 16, 64] {
        let (mut c, mut p, mut l) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let (creates, patches, page_ms) = rt.block_on(scenario(concurrency));
            c.push(creates);
            p.push(patches);
            l.push(page_ms);
        }
        println!(
            "  {concurrency:>3} writers: {:>8.0} creates/s  {:>8.0} patches/s  {:>6.2} ms per 100-item filtered page",
            median(c),
            median(p),
            median(l)
        );
    }
    let total = 20_000;
    let rates: Vec<f64> = (0..RUNS).map(|_| rt.block_on(import(total, 500))).collect();
    println!(
        "  bulk import: {:>8.0} items/s ({total} items from Jira, batches of 500, linked)",
        median(rates)
    );
}
