//! Hostile webhooks against the real binary (issue 6): `tandem run` with a workspace and a
//! connection (on the simulator) that has a webhook secret. Malformed JSON, oversized bodies
//! (declared and chunked), wrong and missing signatures, an unknown workspace and a replayed
//! delivery each get their status code, and none of them changes what is stored: the store's
//! event count and the connection's webhook count stay put, the rejection is counted under its
//! reason in `/metrics`, and a valid webhook right after is still accepted.

mod common_daemon;

use common_daemon::*;
use serde_json::Value;
use tandem::http::public::sign;
use tandem::http::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WEBHOOK_SECRET: &str = "hostile-webhook-s3cret";
const LIMIT: usize = 1024 * 1024;

struct Env {
    d: Daemon,
    sim: tandem::sim::SimHandle,
    client: reqwest::Client,
    endpoint: String,
}

async fn start() -> (Env, DaemonDirs) {
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
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    d.wait_status("every resource Ready", all_ready).await;
    let endpoint = format!("{}/webhooks/jira/product", d.public);
    (
        Env {
            d,
            sim,
            client: reqwest::Client::new(),
            endpoint,
        },
        dirs,
    )
}

/// A real-shaped event whose `self` URL points at the simulator.
fn event(base: &str, n: u64) -> String {
    serde_json::json!({
        "timestamp": 1_700_000_000_000u64 + n,
        "webhookEvent": "jira:issue_updated",
        "issue": {"id": (10_000 + n).to_string(), "self": format!("{base}/rest/api/2/issue/{}", 10_000 + n)},
    })
    .to_string()
}

fn signature(body: &[u8]) -> String {
    sign(&Secret::new(WEBHOOK_SECRET), body)
}

/// What is stored, as an operator sees it: the store's event count (status) and the
/// connection's webhook count (status and `/metrics`, both read from the store).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Stored {
    events: u64,
    connection: u64,
}

impl Env {
    async fn stored(&self) -> Stored {
        let status = self.d.status().await;
        let events = status["storedWebhookEvents"]
            .as_u64()
            .expect("pending count");
        let connection = resource(&status, "Connection", "sim").expect("sim")["webhook"]["events"]
            .as_u64()
            .expect("webhook events");
        let metrics = self.d.admin_get("/metrics").await;
        let from_metrics = metric(
            &metrics,
            "tandem_connection_webhook_events_total{connection=\"sim\"}",
        );
        assert_eq!(from_metrics, connection, "status and /metrics disagree");
        Stored { events, connection }
    }

    async fn rejected(&self, reason: &str) -> u64 {
        let metrics = self.d.admin_get("/metrics").await;
        metric(
            &metrics,
            &format!("tandem_webhooks_rejected_total{{reason=\"{reason}\"}}"),
        )
    }

    /// POSTs a signed valid event with identifier `id`; returns the JSON answer.
    async fn valid(&self, n: u64, id: &str) -> Value {
        let body = event(&self.sim.base_url(), n);
        let resp = self
            .client
            .post(&self.endpoint)
            .header("X-Hub-Signature", signature(body.as_bytes()))
            .header("X-Atlassian-Webhook-Identifier", id)
            .body(body)
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status().as_u16(), 200, "a valid webhook is accepted");
        resp.json().await.expect("JSON answer")
    }
}

/// The value of one sample line in Prometheus text (0 when absent: counters start there).
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Sends raw bytes on a fresh connection and returns the status code of the answer. Used where
/// an HTTP client would not send what a hostile one does (an oversized declared length with no
/// body, a chunked body that never ends).
async fn raw(addr: &str, bytes: &[u8]) -> (u16, String) {
    let addr = addr.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write request");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(GUARD, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            if complete(&answer) {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within {GUARD:?}");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    (status, text)
}

/// Headers and a `Content-Length` body received.
fn complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())
                .flatten()
        })
        .is_some_and(|n| body.len() >= n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_webhooks_get_their_status_and_change_nothing_stored() {
    let (env, dirs) = start().await;
    let base = env.sim.base_url();
    assert_eq!(env.valid(0, "first").await["status"], "stored");
    let mut expected = Stored {
        events: 1,
        connection: 1,
    };
    assert_eq!(env.stored().await, expected);

    // (what, request, status, reason counted in /metrics)
    let body = event(&base, 1);
    let sig = signature(body.as_bytes());
    let wrong_sig = sign(&Secret::new("not-the-secret"), body.as_bytes());
    let malformed = "{\"webhookEvent\": \"jira:issue_updated\", \"issue\": ";
    let malformed_sig = signature(malformed.as_bytes());
    let array = "[1, 2, 3]";
    let array_sig = signature(array.as_bytes());
    let other_workspace = format!("{}/webhooks/jira/nope", env.d.public);
    // A `self` URL with a multi-byte character across the length of the connection's URL.
    let straddling =
        serde_json::json!({"issue": {"self": format!("{}\u{e9}/rest", &base[..base.len() - 1])}})
            .to_string();
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "malformed JSON, correctly signed",
            env.client
                .post(&env.endpoint)
                .header("X-Hub-Signature", &malformed_sig)
                .body(malformed),
            400,
            "malformed",
        ),
        (
            "a JSON array, correctly signed",
            env.client
                .post(&env.endpoint)
                .header("X-Hub-Signature", &array_sig)
                .body(array),
            400,
            "malformed",
        ),
        (
            "signed with another secret",
            env.client
                .post(&env.endpoint)
                .header("X-Hub-Signature", &wrong_sig)
                .header("X-Atlassian-Webhook-Identifier", "wrong-sig")
                .body(body.clone()),
            401,
            "unauthorized",
        ),
        (
            "a garbage signature",
            env.client
                .post(&env.endpoint)
                .header("X-Hub-Signature", "sha256=zz")
                .body(body.clone()),
            401,
            "unauthorized",
        ),
        (
            "no signature while the connection has a secret",
            env.client
                .post(&env.endpoint)
                .header("X-Atlassian-Webhook-Identifier", "unsigned")
                .body(body.clone()),
            401,
            "unauthorized",
        ),
        (
            "a wrong ?secret= token",
            env.client
                .post(format!("{}?secret=guess", env.endpoint))
                .body(body.clone()),
            401,
            "unauthorized",
        ),
        (
            "a self URL straddling the connection's URL, unsigned",
            env.client.post(&env.endpoint).body(straddling.clone()),
            401,
            "unauthorized",
        ),
        (
            "an unknown workspace, correctly signed",
            env.client
                .post(&other_workspace)
                .header("X-Hub-Signature", &sig)
                .body(body.clone()),
            404,
            "unknown_workspace",
        ),
    ];
    for (what, request, status, reason) in cases {
        let before = env.rejected(reason).await;
        let resp = request.send().await.expect(what);
        assert_eq!(resp.status().as_u16(), status, "{what}");
        let answer: Value = resp.json().await.expect("a JSON error");
        assert_eq!(answer["error"]["code"], status, "{what}: {answer}");
        assert!(
            !answer.to_string().contains(WEBHOOK_SECRET),
            "{what}: the secret leaked"
        );
        assert_eq!(env.rejected(reason).await, before + 1, "{what}: {reason}");
        assert_eq!(
            env.stored().await,
            expected,
            "{what} changed what is stored"
        );
    }

    // Over 1 MiB, declared up front: refused from the headers, before any body is read.
    let before = env.rejected("too_large").await;
    let head = format!(
        "POST /webhooks/jira/product HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-Hub-Signature: {sig}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        LIMIT + 1
    );
    let (status, answer) = raw(&env.d.public, head.as_bytes()).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(env.rejected("too_large").await, before + 1);
    assert_eq!(env.stored().await, expected);

    // Over 1 MiB without a length (chunked): cut off once the limit is passed.
    let mut chunked = format!(
        "POST /webhooks/jira/product HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-Hub-Signature: {sig}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
        LIMIT + 1
    )
    .into_bytes();
    chunked.extend(std::iter::repeat_n(b' ', LIMIT + 1));
    chunked.extend_from_slice(b"\r\n");
    let (status, answer) = raw(&env.d.public, &chunked).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(env.rejected("too_large").await, before + 2);
    assert_eq!(env.stored().await, expected);

    // Exactly the limit is still a webhook: the cut-off is not off by one.
    let mut exact = event(&base, 2);
    exact.push_str(&" ".repeat(LIMIT - exact.len()));
    let resp = env
        .client
        .post(&env.endpoint)
        .header("X-Hub-Signature", signature(exact.as_bytes()))
        .header("X-Atlassian-Webhook-Identifier", "exactly-1MiB")
        .body(exact)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 200);
    expected = Stored {
        events: 2,
        connection: 2,
    };
    assert_eq!(env.stored().await, expected);

    // A replayed delivery (same identifier, same body) is acknowledged and stored once; the
    // identifier wins even when the replay's body differs.
    let duplicates = metric(
        &env.d.admin_get("/metrics").await,
        "tandem_webhooks_duplicates_total",
    );
    assert_eq!(env.valid(3, "replayed").await["status"], "stored");
    expected = Stored {
        events: 3,
        connection: 3,
    };
    assert_eq!(env.stored().await, expected);
    for n in [3, 4] {
        let answer = env.valid(n, "replayed").await;
        assert_eq!(answer["status"], "duplicate", "{answer}");
        assert_eq!(
            env.stored().await,
            expected,
            "a replay changed what is stored"
        );
    }
    assert_eq!(
        metric(
            &env.d.admin_get("/metrics").await,
            "tandem_webhooks_duplicates_total"
        ),
        duplicates + 2
    );

    // After all that, a valid webhook is still accepted.
    assert_eq!(env.valid(5, "last").await["status"], "stored");
    let (exit, log) = env.d.stop().await;
    assert!(exit.success(), "{exit:?}\n{}", log.join("\n"));
    for line in &log {
        assert!(!line.contains(WEBHOOK_SECRET), "secret in the log: {line}");
    }

    // The store, read after the process is gone: exactly the accepted deliveries.
    let ids = with_store(&dirs.state, |s| {
        s.webhook_events(0, 100)
            .expect("events")
            .into_iter()
            .map(|e| e.event.identifier.unwrap_or_default())
            .collect::<Vec<_>>()
    })
    .await;
    assert_eq!(ids, ["first", "exactly-1MiB", "replayed", "last"]);
    env.sim.shutdown().await.expect("sim shutdown");
}
