//! The public webhook listener as Jira and attackers see it, served in-process on 127.0.0.1:0
//! with a real store: durable acks, dedup, authentication, limits, timeouts, shutdown.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tandem::http::metrics::WebhookMetrics;
use tandem::http::public::{self, sign, PublicState, WebhookConnection, WebhookRoutes};
use tandem::http::server::Draining;
use tandem::http::{Limits, Secret};
use tandem::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

const ACME_SECRET: &str = "acme-webhook-s3cret";
const MM_SECRET: &str = "mm-webhook-s3cret";
const ACME_URL: &str = "https://pinpt-hq.atlassian.net";
const MM_URL: &str = "https://some-instance-test.atlassian.net";

struct Harness {
    url: String,
    addr: std::net::SocketAddr,
    store: Store,
    metrics: Arc<WebhookMetrics>,
    draining: Draining,
    ready: watch::Sender<bool>,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

fn routes() -> WebhookRoutes {
    let mut workspaces = HashMap::new();
    workspaces.insert(
        "main".to_string(),
        vec![
            WebhookConnection {
                name: "acme".into(),
                base_url: ACME_URL.into(),
                self_url: None,
                secret: Some(Secret::new(ACME_SECRET)),
            },
            WebhookConnection {
                name: "mm".into(),
                base_url: MM_URL.into(),
                self_url: None,
                secret: Some(Secret::new(MM_SECRET)),
            },
        ],
    );
    WebhookRoutes { workspaces }
}

async fn start(limits: Limits) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open store");
    let (_routes_tx, routes_rx) = watch::channel(routes());
    let (ready_tx, ready_rx) = watch::channel(true);
    let mut state = PublicState::new(store.clone(), routes_rx, ready_rx);
    state.limits = limits;
    let metrics = state.metrics.clone();
    let draining = state.draining.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(public::serve(listener, state, async move {
        let _ = stop_rx.await;
    }));
    Harness {
        url: format!("http://{addr}"),
        addr,
        store,
        metrics,
        draining,
        ready: ready_tx,
        stop: Some(stop_tx),
        server,
        _dir: dir,
    }
}

fn issue_payload(base: &str, n: u32) -> String {
    serde_json::json!({
        "timestamp": 1_594_081_625_284u64 + u64::from(n),
        "webhookEvent": "jira:issue_updated",
        "issue": { "id": format!("{}", 20000 + n), "self": format!("{base}/rest/api/2/issue/{}", 20000 + n), "key": format!("GOLD-{n}") }
    })
    .to_string()
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &str,
    signature: Option<&str>,
    identifier: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut req = client.post(url).body(body.to_string());
    if let Some(sig) = signature {
        req = req.header("X-Hub-Signature", sig);
    }
    if let Some(id) = identifier {
        req = req.header("X-Atlassian-Webhook-Identifier", id);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let json = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, json)
}

#[tokio::test]
async fn a_signed_webhook_is_stored_before_it_is_acknowledged() {
    let h = start(Limits::default()).await;
    let client = reqwest::Client::new();
    let body = issue_payload(ACME_URL, 1);
    let sig = sign(&Secret::new(ACME_SECRET), body.as_bytes());
    let (status, json) = post(
        &client,
        &format!("{}/webhooks/jira/main", h.url),
        &body,
        Some(&sig),
        Some("delivery-1"),
    )
    .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["status"], "stored");
    let seq = json["seq"].as_u64().expect("seq");
    // The 2xx came after the commit, so the event is readable now, byte for byte.
    let events = h.store.webhook_events(seq, 1).expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.body, body.as_bytes());
    assert_eq!(events[0].event.connection, "acme");
    assert_eq!(events[0].event.workspace_id, "main");
    assert_eq!(events[0].event.identifier.as_deref(), Some("delivery-1"));
    let state = h
        .store
        .webhook_state("acme")
        .expect("state")
        .expect("connected");
    assert_eq!(state.count, 1);
}

#[tokio::test]
async fn a_retried_delivery_is_acknowledged_and_stored_once() {
    let h = start(Limits::default()).await;
    let client = reqwest::Client::new();
    let url = format!("{}/webhooks/jira/main", h.url);
    let body = issue_payload(ACME_URL, 2);
    let sig = sign(&Secret::new(ACME_SECRET), body.as_bytes());
    let (s1, j1) = post(&client, &url, &body, Some(&sig), Some("same-id")).await;
    let (s2, j2) = post(&client, &url, &body, Some(&sig), Some("same-id")).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(j1["status"], "stored");
    assert_eq!(j2["status"], "duplicate");
    assert_eq!(j1["seq"], j2["seq"]);
    assert_eq!(h.store.webhook_event_count().expect("count"), 1);
}

#[tokio::test]
async fn bad_or_missing_credentials_get_401_and_nothing_is_stored() {
    let h = start(Limits::default()).await;
    let client = reqwest::Client::new();
    let url = format!("{}/webhooks/jira/main", h.url);
    let body = issue_payload(ACME_URL, 3);

    let wrong = sign(&Secret::new("not-the-secret"), body.as_bytes());
    assert_eq!(post(&client, &url, &body, Some(&wrong), None).await.0, 401);
    assert_eq!(post(&client, &url, &body, None, None).await.0, 401);
    assert_eq!(
        post(&client, &url, &body, Some("sha256=zz"), None).await.0,
        401
    );
    // Signed by the other connection of the workspace: its self URLs say acme, so mm's
    // secret proves nothing.
    let other = sign(&Secret::new(MM_SECRET), body.as_bytes());
    assert_eq!(post(&client, &url, &body, Some(&other), None).await.0, 401);
    // A signature over a different body.
    let tampered = sign(&Secret::new(ACME_SECRET), b"{}");
    assert_eq!(
        post(&client, &url, &body, Some(&tampered), None).await.0,
        401
    );
    assert_eq!(
        post(&client, &format!("{url}?secret=guess"), &body, None, None)
            .await
            .0,
        401
    );
    assert_eq!(h.store.webhook_event_count().expect("count"), 0);
    assert_eq!(
        h.metrics
            .rejected_count(tandem::http::metrics::RejectReason::Unauthorized),
        6
    );
}

#[tokio::test]
async fn a_secret_token_in_the_url_authenticates_instances_that_cannot_sign() {
    let h = start(Limits::default()).await;
    let client = reqwest::Client::new();
    let body = issue_payload(MM_URL, 4);
    let url = format!("{}/webhooks/jira/main?secret={}", h.url, MM_SECRET);
    let (status, json) = post(&client, &url, &body, None, None).await;
    assert_eq!(status, 200, "{json}");
    let events = h.store.webhook_events(0, 10).expect("events");
    assert_eq!(events[0].event.connection, "mm");
}

#[tokio::test]
async fn unknown_workspace_malformed_body_and_wrong_routes_are_told_apart() {
    let h = start(Limits::default()).await;
    let client = reqwest::Client::new();
    let body = issue_payload(ACME_URL, 5);
    let sig = sign(&Secret::new(ACME_SECRET), body.as_bytes());
    let (status, json) = post(
        &client,
        &format!("{}/webhooks/jira/nope", h.url),
        &body,
        Some(&sig),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(json["error"]["message"], "unknown workspace");

    let garbage = "{not json";
    let sig = sign(&Secret::new(ACME_SECRET), garbage.as_bytes());
    let url = format!("{}/webhooks/jira/main", h.url);
    assert_eq!(post(&client, &url, garbage, Some(&sig), None).await.0, 400);
    assert_eq!(post(&client, &url, "[1,2]", None, None).await.0, 400);

    let get = client.get(&url).send().await.expect("get");
    assert_eq!(get.status().as_u16(), 405);
    let missing = client
        .get(format!("{}/elsewhere", h.url))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status().as_u16(), 404);
    let err: serde_json::Value = missing.json().await.expect("json error body");
    assert_eq!(err["error"]["code"], 404);
    assert_eq!(h.store.webhook_event_count().expect("count"), 0);
}

#[tokio::test]
async fn probes_follow_readiness_and_unknown_workspaces_are_retried_before_it() {
    let h = start(Limits::default()).await;
    let client = reqwest::Client::new();
    let get = |p: &str| client.get(format!("{}{p}", h.url)).send();
    assert_eq!(
        get("/healthz").await.expect("healthz").status().as_u16(),
        200
    );
    assert_eq!(get("/readyz").await.expect("readyz").status().as_u16(), 200);
    h.ready.send(false).expect("ready");
    assert_eq!(get("/readyz").await.expect("readyz").status().as_u16(), 503);
    assert_eq!(
        get("/healthz").await.expect("healthz").status().as_u16(),
        200
    );
    // Not ready yet: a workspace the first snapshot may still bring gets 503 (Jira retries).
    let body = issue_payload(ACME_URL, 6);
    let url = format!("{}/webhooks/jira/later", h.url);
    assert_eq!(post(&client, &url, &body, None, None).await.0, 503);
}

#[tokio::test]
async fn an_oversized_body_gets_413_whether_declared_or_streamed() {
    let limits = Limits {
        max_body_bytes: 64 * 1024,
        ..Limits::default()
    };
    let h = start(limits).await;
    let client = reqwest::Client::new();
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(100 * 1024));
    let sig = sign(&Secret::new(ACME_SECRET), big.as_bytes());
    let url = format!("{}/webhooks/jira/main", h.url);
    assert_eq!(post(&client, &url, &big, Some(&sig), None).await.0, 413);

    // Chunked: no Content-Length to refuse up front; the limit cuts the stream.
    let mut tcp = TcpStream::connect(h.addr).await.expect("connect");
    let head = "POST /webhooks/jira/main HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    tcp.write_all(head.as_bytes()).await.expect("write");
    let chunk = vec![b'x'; 16 * 1024];
    for _ in 0..8 {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if tcp.write_all(&framed).await.is_err() {
            break;
        }
    }
    let response = read_response(&mut tcp).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert_eq!(h.store.webhook_event_count().expect("count"), 0);
}

/// Reads until the server closes or a generous guard elapses (a hang is a failure, not a
/// measurement).
async fn read_response(tcp: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), async {
        let mut chunk = [0u8; 4096];
        loop {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(300),
        body_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let h = start(limits).await;

    // Headers that never finish: the connection is closed without a request being handled.
    let mut slow_headers = TcpStream::connect(h.addr).await.expect("connect");
    slow_headers
        .write_all(b"POST /webhooks/jira/main HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match slow_headers.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(
        closed,
        "a client that never finishes its headers must be disconnected"
    );

    // A body that never finishes: 408.
    let mut slow_body = TcpStream::connect(h.addr).await.expect("connect");
    slow_body
        .write_all(
            b"POST /webhooks/jira/main HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":",
        )
        .await
        .expect("write");
    let response = read_response(&mut slow_body).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert_eq!(h.store.webhook_event_count().expect("count"), 0);
}

#[tokio::test]
async fn a_request_still_arriving_at_shutdown_gets_503_and_the_server_stops() {
    let mut h = start(Limits::default()).await;
    let body = issue_payload(ACME_URL, 7);
    let sig = sign(&Secret::new(ACME_SECRET), body.as_bytes());
    let (first, rest) = body.split_at(10);
    let mut tcp = TcpStream::connect(h.addr).await.expect("connect");
    let head = format!(
        "POST /webhooks/jira/main HTTP/1.1\r\nHost: x\r\nX-Hub-Signature: {sig}\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.expect("write");
    // Wait until the handler has the request, then start shutting down.
    while h.metrics.received_count() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    h.stop.take().expect("stop").send(()).expect("stop");
    while !h.draining.is_set() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tcp.write_all(rest.as_bytes()).await.expect("write rest");
    let response = read_response(&mut tcp).await;
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    (&mut h.server).await.expect("join").expect("serve");
    assert_eq!(h.store.webhook_event_count().expect("count"), 0);
    assert!(
        TcpStream::connect(h.addr).await.is_err(),
        "listener still accepting"
    );
}

#[test]
fn secrets_never_show_in_debug_or_display() {
    let routes = routes();
    let debug = format!("{routes:?}");
    assert!(
        !debug.contains(ACME_SECRET) && !debug.contains(MM_SECRET),
        "{debug}"
    );
    assert!(debug.contains("***"));
    let s = Secret::new("hunter2");
    assert_eq!(format!("{s} {s:?} {:?}", Some(&s)), "*** *** Some(***)");
}

fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("TANDEM_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    if dir.join("reference/jira-webhooks").is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("shared reference folder not found at {}", dir.display());
    }
    eprintln!(
        "SKIPPED: real Jira webhook captures (shared reference folder not found at {})",
        dir.display()
    );
    None
}

#[tokio::test]
async fn real_jira_payloads_are_attributed_to_the_connection_their_self_urls_name() {
    let Some(shared) = shared_dir() else { return };
    let h = start(Limits::default()).await;
    let client = reqwest::Client::new();
    let url = format!("{}/webhooks/jira/main", h.url);
    let mut checked = 0;
    let mut files: Vec<_> = std::fs::read_dir(shared.join("reference/jira-webhooks"))
        .expect("read captures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    for (i, path) in files.iter().enumerate() {
        let body = std::fs::read_to_string(path).expect("read capture");
        let (expected, secret, wrong) = if body.contains(ACME_URL) && !body.contains(MM_URL) {
            ("acme", ACME_SECRET, MM_SECRET)
        } else if body.contains(MM_URL) && !body.contains(ACME_URL) {
            ("mm", MM_SECRET, ACME_SECRET)
        } else {
            continue;
        };
        let id = format!("capture-{i}");
        let bad = sign(&Secret::new(wrong), body.as_bytes());
        let (status, _) = post(&client, &url, &body, Some(&bad), Some(&id)).await;
        assert_eq!(
            status,
            401,
            "{}: signed by the other connection",
            path.display()
        );
        let sig = sign(&Secret::new(secret), body.as_bytes());
        let (status, json) = post(&client, &url, &body, Some(&sig), Some(&id)).await;
        assert_eq!(status, 200, "{}: {json}", path.display());
        let seq = json["seq"].as_u64().expect("seq");
        let stored = h.store.webhook_events(seq, 1).expect("events");
        assert_eq!(stored[0].event.connection, expected, "{}", path.display());
        checked += 1;
    }
    assert!(
        checked >= 60,
        "only {checked} captures matched a configured connection"
    );
}
