//! Guarantee 1: a webhook that got a 2xx is never lost, even with `kill -9` right after the
//! response.
//!
//! The receiver (store + public listener, library code) runs in a child process: this same test
//! binary, re-executed with `TANDEM_DURABILITY_CHILD` set, so no extra binary and no back door
//! in `tandem`. The parent posts 1,000 webhooks concurrently, SIGKILLs the child right after the
//! last 2xx (no clean shutdown, no close), reopens the state file and checks that every
//! acknowledged event is there exactly once.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use tandem::http::public::{self, sign, PublicState, WebhookConnection, WebhookRoutes};
use tandem::http::Secret;
use tandem::store::{AppendOutcome, NewWebhookEvent, Store};
use tokio::sync::watch;

const CHILD_ENV: &str = "TANDEM_DURABILITY_CHILD";
const SECRET: &str = "durability-s3cret";
const BASE: &str = "https://acme.atlassian.net";
const N: usize = 1000;

fn routes() -> WebhookRoutes {
    let mut workspaces = HashMap::new();
    workspaces.insert(
        "main".to_string(),
        vec![WebhookConnection {
            name: "acme".into(),
            base_url: BASE.into(),
            self_url: None,
            secret: Some(Secret::new(SECRET)),
        }],
    );
    WebhookRoutes { workspaces }
}

/// A failing parent must not leave the child serving forever.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child: serve until killed, announcing the port on stdout.
async fn child(state_dir: &Path) {
    let store = Store::open(state_dir).expect("child: open store");
    let (_routes_tx, routes_rx) = watch::channel(routes());
    let (_ready_tx, ready_rx) = watch::channel(true);
    let state = PublicState::new(store, routes_rx, ready_rx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("child: bind");
    println!("PORT={}", listener.local_addr().expect("addr").port());
    public::serve(listener, state, std::future::pending())
        .await
        .expect("child: serve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_acknowledged_webhooks_survive_sigkill() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir)).await;
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut proc = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "a_thousand_acknowledged_webhooks_survive_sigkill",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdout = proc.stdout.take().expect("stdout");
    let mut proc = KillOnDrop(proc);
    let port: u16 = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // libtest may print "test NAME ... " on the same line first.
            .find_map(|l| l.split("PORT=").nth(1).and_then(|p| p.trim().parse().ok()))
            .expect("child never announced its port")
    })
    .await
    .expect("join");

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let url = Arc::new(format!("http://127.0.0.1:{port}/webhooks/jira/main"));
    let mut posts = Vec::with_capacity(N);
    for i in 0..N {
        let client = client.clone();
        let url = url.clone();
        posts.push(tokio::spawn(async move {
            let body = serde_json::json!({
                "webhookEvent": "jira:issue_updated",
                "issue": { "id": i.to_string(), "self": format!("{BASE}/rest/api/2/issue/{i}") }
            })
            .to_string();
            let sig = sign(&Secret::new(SECRET), body.as_bytes());
            // Jira retries failed deliveries; so do we, with the same identifier.
            for _ in 0..5 {
                let sent = client
                    .post(url.as_str())
                    .header("X-Hub-Signature", &sig)
                    .header("X-Atlassian-Webhook-Identifier", format!("delivery-{i}"))
                    .body(body.clone())
                    .send()
                    .await;
                if let Ok(resp) = sent {
                    if resp.status().is_success() {
                        return (i, true);
                    }
                }
            }
            (i, false)
        }));
    }
    let mut acked = HashSet::new();
    for p in posts {
        let (i, ok) = p.await.expect("join");
        assert!(ok, "delivery-{i} was never acknowledged");
        acked.insert(format!("delivery-{i}"));
    }
    // Right after the last 2xx: no clean shutdown, no store close.
    proc.0.kill().expect("SIGKILL the child");
    let status = proc.0.wait().expect("wait");
    assert!(!status.success(), "the child must have died by the signal");

    let store = Store::open(dir.path()).expect("reopen after SIGKILL");
    let events = store.webhook_events(0, N * 2).expect("events");
    let mut seen = HashSet::new();
    for e in &events {
        let id = e.event.identifier.clone().expect("identifier stored");
        assert!(seen.insert(id.clone()), "{id} stored twice");
    }
    assert_eq!(events.len(), N, "events after restart");
    assert_eq!(seen, acked);
    assert_eq!(
        store.webhook_state("acme").expect("state").map(|s| s.count),
        Some(N as u64)
    );
    // The dedup index survived too: a late retry of an acknowledged delivery is not stored.
    let retry = store
        .append_webhook(NewWebhookEvent {
            received_at: chrono::Utc::now(),
            workspace_id: "main".into(),
            connection: "acme".into(),
            identifier: Some("delivery-0".into()),
            body: b"{}".to_vec(),
        })
        .await
        .expect("append");
    assert!(
        matches!(retry, AppendOutcome::Duplicate { .. }),
        "{retry:?}"
    );
    store.close().await.expect("close");
}
