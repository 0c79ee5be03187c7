//! Hostile clients against both listeners of `tandem run` (issue 6).
//!
//! Slowloris: 50 connections per listener dribble header bytes (one per 200 ms); the server
//! cuts each one off after its header read timeout (shortened with
//! `TANDEM_HEADER_READ_TIMEOUT_MS`), while normal requests sent during the attack are answered.
//! A slow body (complete headers, body never finished) gets 408 and stores nothing.
//!
//! Admin bind: `tests/daemon_lifecycle.rs` already checks that `TANDEM_ADMIN=0.0.0.0:0`
//! without a token exits 1 and that with a token the admin API answers 401 without it and 200
//! with it; this file adds only what it does not check: the error names the flag and the fix,
//! and a refused start leaves the state directory untouched (fresh or existing).

mod common_daemon;

use std::time::{Duration, Instant};

use common_daemon::*;
use tandem::http::public::sign;
use tandem::http::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WEBHOOK_SECRET: &str = "slow-webhook-s3cret";
const HEADER_TIMEOUT_MS: u64 = 1000;
const BODY_TIMEOUT_MS: u64 = 1500;
const ATTACKERS: usize = 50;
const DRIBBLE: Duration = Duration::from_millis(200);

async fn start() -> (Daemon, tandem::sim::SimHandle, DaemonDirs) {
    let sim = simulator(Vec::new()).await;
    let dirs = DaemonDirs::new();
    dirs.secret("admin-token", "admin-token");
    dirs.secret("webhook-secret", WEBHOOK_SECRET);
    dirs.manifest("workspace.yaml", &workspace("product", "product"));
    dirs.manifest("fields.yaml", &field_mapping());
    dirs.manifest(
        "connection.yaml",
        &connection(
            "sim",
            "Simulated Jira",
            &sim.base_url(),
            "admin@example.com",
            "admin-token",
            Some("webhook-secret"),
        ),
    );
    dirs.manifest(
        "integration.yaml",
        &integration("demo", "Demo", "sim", "product"),
    );
    let options = DaemonOptions {
        env: vec![
            (
                "TANDEM_HEADER_READ_TIMEOUT_MS".into(),
                HEADER_TIMEOUT_MS.to_string(),
            ),
            (
                "TANDEM_BODY_READ_TIMEOUT_MS".into(),
                BODY_TIMEOUT_MS.to_string(),
            ),
        ],
        ..DaemonOptions::default()
    };
    let d = Daemon::start(&dirs, options).await;
    d.wait_status("every resource Ready", all_ready).await;
    (d, sim, dirs)
}

fn host_port(url: &str) -> String {
    url.trim_start_matches("http://").to_string()
}

/// How a slow client ended.
#[derive(Debug)]
enum Slow {
    /// The server closed the connection (EOF, reset, or a write failed), after this many bytes.
    Cut { sent: usize },
    /// The server answered (e.g. 408) and this is the status.
    Answered { status: u16, sent: usize },
    /// Still open when the client gave up.
    StillOpen { sent: usize },
}

/// Connects and sends `prefix` slowly, one byte per [`DRIBBLE`], then keeps the connection
/// open without sending more; gives up after `give_up`.
async fn slow_client(addr: String, prefix: Vec<u8>, give_up: Duration) -> Slow {
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    let deadline = Instant::now() + give_up;
    let mut sent = 0;
    let mut buf = [0u8; 1024];
    let mut answer = Vec::new();
    loop {
        if Instant::now() >= deadline {
            return Slow::StillOpen { sent };
        }
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    return match status_of(&answer) {
                        Some(status) => Slow::Answered { status, sent },
                        None => Slow::Cut { sent },
                    }
                }
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if let Some(status) = status_of(&answer) {
                        return Slow::Answered { status, sent };
                    }
                }
            },
            _ = tokio::time::sleep(DRIBBLE) => {
                if let Some(&b) = prefix.get(sent) {
                    if stream.write_all(&[b]).await.is_err() {
                        return Slow::Cut { sent };
                    }
                    sent += 1;
                }
            }
        }
    }
}

fn status_of(answer: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(answer);
    let line = text
        .split("\r\n")
        .next()
        .filter(|_| text.contains("\r\n"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A header section that never ends: a request line, then one header growing forever.
fn endless_headers(path: &str) -> Vec<u8> {
    let mut h = format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-Slow: ").into_bytes();
    h.extend(std::iter::repeat_n(b'a', 10_000));
    h
}

async fn stored(d: &Daemon) -> (u64, u64) {
    let status = d.status().await;
    (
        status["storedWebhookEvents"].as_u64().expect("pending"),
        resource(&status, "Connection", "sim").expect("sim")["webhook"]["events"]
            .as_u64()
            .expect("events"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_on_both_listeners_is_cut_off_while_normal_requests_are_answered() {
    let (d, sim, _dirs) = start().await;
    let before = stored(&d).await;
    // Generous: the cut-off is 1 s; the default (10 s) would not fit.
    let give_up = Duration::from_secs(8);
    let mut attackers = Vec::new();
    for (listener, path) in [(&d.public, "/healthz"), (&d.admin, "/api/v1/status")] {
        for _ in 0..ATTACKERS {
            attackers.push(tokio::spawn(slow_client(
                host_port(listener),
                endless_headers(path),
                give_up,
            )));
        }
    }
    // During the attack both listeners answer ordinary requests.
    tokio::time::sleep(DRIBBLE * 2).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    for url in [
        format!("{}/healthz", d.public),
        format!("{}/readyz", d.public),
        format!("{}/api/v1/status", d.admin),
        format!("{}/metrics", d.admin),
    ] {
        let resp = client
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url} during the attack: {e}"));
        assert_eq!(resp.status().as_u16(), 200, "{url}");
    }
    let body = serde_json::json!({
        "webhookEvent": "jira:issue_updated",
        "issue": {"id": "10000", "self": format!("{}/rest/api/2/issue/10000", sim.base_url())},
    })
    .to_string();
    let resp = client
        .post(format!("{}/webhooks/jira/product", d.public))
        .header(
            "X-Hub-Signature",
            sign(&Secret::new(WEBHOOK_SECRET), body.as_bytes()),
        )
        .header("X-Atlassian-Webhook-Identifier", "during-the-attack")
        .body(body)
        .send()
        .await
        .expect("a webhook during the attack");
    assert_eq!(resp.status().as_u16(), 200);

    let mut cut = 0;
    for a in attackers {
        match a.await.expect("join") {
            Slow::Answered { status, .. } if status != 408 => {
                panic!("a slow client got {status} instead of being cut off")
            }
            Slow::Cut { sent } | Slow::Answered { sent, .. } => {
                // Cut while the headers were still arriving, not refused outright.
                assert!(sent >= 1, "closed before the first byte");
                assert!(sent < 10_000);
                cut += 1;
            }
            Slow::StillOpen { sent } => {
                panic!("a slow client was still connected after {give_up:?} ({sent} bytes)")
            }
        }
    }
    assert_eq!(cut, 2 * ATTACKERS);
    // Nothing but the one real webhook was stored.
    assert_eq!(stored(&d).await, (before.0 + 1, before.1 + 1));
    let (exit, log) = d.stop().await;
    assert!(exit.success(), "{exit:?}\n{}", log.join("\n"));
    sim.shutdown().await.expect("sim shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_gets_408_and_stores_nothing() {
    let (d, sim, _dirs) = start().await;
    let before = stored(&d).await;
    let metrics = d.admin_get("/metrics").await;
    let timeouts = |m: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix("tandem_webhooks_rejected_total{reason=\"timeout\"}"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let timeouts_before = timeouts(&metrics);

    let body = serde_json::json!({
        "webhookEvent": "jira:issue_updated",
        "issue": {"id": "10001", "self": format!("{}/rest/api/2/issue/10001", sim.base_url())},
    })
    .to_string();
    let head = format!(
        "POST /webhooks/jira/product HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-Hub-Signature: {}\r\nX-Atlassian-Webhook-Identifier: slow-body\r\n\
         Content-Length: {}\r\n\r\n",
        sign(&Secret::new(WEBHOOK_SECRET), body.as_bytes()),
        body.len()
    );
    // Headers at once, then a few body bytes slowly, then nothing: the body never completes
    // (the client stops sending before the cut-off so the answer is not lost to a reset).
    let mut stream = TcpStream::connect(host_port(&d.public))
        .await
        .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("headers");
    for b in body.bytes().take(4) {
        stream.write_all(&[b]).await.expect("body byte");
        tokio::time::sleep(DRIBBLE).await;
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(GUARD, async {
        let mut buf = [0u8; 1024];
        while status_of(&answer).is_none() {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer to a slow body within {GUARD:?}");
    assert_eq!(
        status_of(&answer),
        Some(408),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(
        timeouts(&d.admin_get("/metrics").await),
        timeouts_before + 1
    );
    assert_eq!(
        stored(&d).await,
        before,
        "a slow body changed what is stored"
    );

    // The same delivery sent properly afterwards is stored (the identifier was not burnt).
    let resp = reqwest::Client::new()
        .post(format!("{}/webhooks/jira/product", d.public))
        .header(
            "X-Hub-Signature",
            sign(&Secret::new(WEBHOOK_SECRET), body.as_bytes()),
        )
        .header("X-Atlassian-Webhook-Identifier", "slow-body")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 200);
    let answer: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(answer["status"], "stored");
    let (exit, log) = d.stop().await;
    assert!(exit.success(), "{exit:?}\n{}", log.join("\n"));
    sim.shutdown().await.expect("sim shutdown");
}

/// `tandem run --admin 0.0.0.0:0` without a token, on `state`.
fn run_refused(state: &std::path::Path, manifests: &std::path::Path) -> std::process::Output {
    std::process::Command::new(tandem_bin())
        .env_clear()
        .arg("run")
        .arg("--state")
        .arg(state)
        .arg("--manifests")
        .arg(manifests)
        .args(["--listen", "127.0.0.1:0", "--admin", "0.0.0.0:0"])
        .output()
        .expect("run tandem")
}

#[tokio::test]
async fn a_refused_admin_bind_names_the_fix_and_leaves_the_state_untouched() {
    let dirs = DaemonDirs::new();

    // A fresh state directory is not even created.
    let out = run_refused(&dirs.state, &dirs.manifests);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "0.0.0.0:0",
        "not a loopback address",
        "TANDEM_ADMIN_TOKEN_FILE",
        "--admin",
        "127.0.0.1",
    ] {
        assert!(stderr.contains(needle), "`{needle}` missing from: {stderr}");
    }
    assert!(
        !dirs.state.exists(),
        "a refused start created {}",
        dirs.state.display()
    );

    // An existing state file is left byte for byte as it was.
    let store = tandem::store::Store::open(&dirs.state).expect("open");
    store
        .append_webhook(tandem::store::NewWebhookEvent {
            received_at: chrono::Utc::now(),
            workspace_id: "product".into(),
            connection: "sim".into(),
            identifier: Some("kept".into()),
            body: b"{}".to_vec(),
        })
        .await
        .expect("append");
    store.close().await.expect("close");
    let snapshot = |dir: &std::path::Path| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .expect("state dir")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).expect("read"),
                )
            })
            .collect();
        files.sort();
        files
    };
    let before = snapshot(&dirs.state);
    let out = run_refused(&dirs.state, &dirs.manifests);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        snapshot(&dirs.state) == before,
        "the state directory changed"
    );
    let ids = with_store(&dirs.state, |s| {
        s.webhook_events(0, 10)
            .expect("events")
            .into_iter()
            .filter_map(|e| e.event.identifier)
            .collect::<Vec<_>>()
    })
    .await;
    assert_eq!(ids, ["kept"]);
}
