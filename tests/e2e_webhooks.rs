//! Guarantee 1 on the real binary: 1,000 signed webhooks posted concurrently to `tandem run`
//! (workspace and connection declared in manifests, connection on the simulator), SIGKILL right
//! after the last 2xx, restart: every acknowledged delivery is there exactly once.
//! `tests/webhook_durability.rs` checks the same with the receiver in-process.

mod common_daemon;

use std::collections::HashSet;
use std::sync::Arc;

use common_daemon::*;
use tandem::http::public::sign;
use tandem::http::Secret;

const WEBHOOK_SECRET: &str = "e2e-webhook-s3cret";
const N: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_acknowledged_webhooks_survive_sigkill_of_the_daemon() {
    let sim = simulator(Vec::new()).await;
    let url = sim.base_url();
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
            &url,
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
    let status = d.wait_status("every resource Ready", all_ready).await;
    assert_eq!(
        resource(&status, "Connection", "sim").unwrap()["webhook"]["state"],
        "waiting"
    );

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let endpoint = Arc::new(format!("{}/webhooks/jira/product", d.public));
    let base = Arc::new(url.clone());
    let mut posts = Vec::with_capacity(N);
    for i in 0..N {
        let (client, endpoint, base) = (client.clone(), endpoint.clone(), base.clone());
        posts.push(tokio::spawn(async move {
            let body = serde_json::json!({
                "timestamp": 1_700_000_000_000u64 + i as u64,
                "webhookEvent": "jira:issue_updated",
                "issue": {
                    "id": (10_000 + i).to_string(),
                    "key": format!("DEMO-{i}"),
                    "self": format!("{base}/rest/api/2/issue/{}", 10_000 + i),
                }
            })
            .to_string();
            let signature = sign(&Secret::new(WEBHOOK_SECRET), body.as_bytes());
            // Jira retries failed deliveries with the same identifier; so do we.
            for _ in 0..5 {
                let sent = client
                    .post(endpoint.as_str())
                    .header("Content-Type", "application/json")
                    .header("X-Hub-Signature", &signature)
                    .header("X-Atlassian-Webhook-Identifier", format!("delivery-{i}"))
                    .body(body.clone())
                    .send()
                    .await;
                if sent.is_ok_and(|r| r.status().is_success()) {
                    return (i, true);
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
    // Right after the last 2xx: no drain, no store close.
    let (exit, _) = d.kill().await;
    assert!(!exit.success(), "killed by the signal: {exit:?}");

    // Restarted on the same state: the events and the webhook light are there.
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    let status = d
        .wait_status("the connection Ready after the restart", |s| {
            is_current_and_ready(s, "Connection", "sim")
        })
        .await;
    let webhook = &resource(&status, "Connection", "sim").unwrap()["webhook"];
    assert_eq!(webhook["state"], "connected", "{webhook:#}");
    assert_eq!(webhook["events"], N as u64, "{webhook:#}");
    assert_eq!(status["pendingWebhookEvents"], N as u64);

    // A late retry of an acknowledged delivery is acknowledged and not stored again.
    let body = serde_json::json!({
        "webhookEvent": "jira:issue_updated",
        "issue": {"id": "10000", "self": format!("{url}/rest/api/2/issue/10000")}
    })
    .to_string();
    let resp = client
        .post(format!("{}/webhooks/jira/product", d.public))
        .header(
            "X-Hub-Signature",
            sign(&Secret::new(WEBHOOK_SECRET), body.as_bytes()),
        )
        .header("X-Atlassian-Webhook-Identifier", "delivery-0")
        .body(body)
        .send()
        .await
        .expect("retry");
    assert_eq!(resp.status().as_u16(), 200);
    let answer: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(answer["status"], "duplicate", "{answer}");
    let (exit, log) = d.stop().await;
    assert!(exit.success(), "{exit:?}\n{}", log.join("\n"));

    // Read the store only after the process is gone.
    let (events, count) = with_store(&dirs.state, |s| {
        (
            s.webhook_events(0, N * 2).expect("events"),
            s.webhook_state("sim").expect("state").map(|w| w.count),
        )
    })
    .await;
    let mut seen = HashSet::new();
    for e in &events {
        let id = e.event.identifier.clone().expect("identifier stored");
        assert!(seen.insert(id.clone()), "{id} stored twice");
        assert_eq!(e.event.connection, "sim");
        assert_eq!(e.event.workspace_id, "product");
    }
    assert_eq!(events.len(), N, "events after SIGKILL and restart");
    assert_eq!(seen, acked);
    assert_eq!(count, Some(N as u64));
    sim.shutdown().await.expect("sim shutdown");
}
