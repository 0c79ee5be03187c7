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
    // Straight from the file the killed process left, before anything could repair it.
    let after_kill = with_store(&dirs.state, |s| {
        s.webhook_events(0, N * 2)
            .expect("events")
            .into_iter()
            .filter_map(|e| e.event.identifier)
            .collect::<Vec<_>>()
    })
    .await;
    assert_eq!(after_kill.len(), N, "events right after SIGKILL");
    assert_eq!(after_kill.into_iter().collect::<HashSet<_>>(), acked);

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

/// The admin webhooks registered in the simulator, as Jira's REST API lists them.
async fn jira_webhooks(sim_url: &str) -> Vec<serde_json::Value> {
    reqwest::Client::new()
        .get(format!("{sim_url}/rest/webhooks/1.0/webhook"))
        .basic_auth("admin@example.com", Some("admin-token"))
        .send()
        .await
        .expect("list webhooks")
        .json()
        .await
        .expect("webhook list JSON")
}

fn managed(hooks: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    hooks
        .iter()
        .filter(|h| h["name"].as_str().is_some_and(|n| n.starts_with("tandem ")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_webhook_is_registered_lights_up_on_jira_events_is_repaired_and_removed() {
    let sim = simulator(Vec::new()).await;
    let url = sim.base_url();
    let dirs = DaemonDirs::new();
    dirs.secret("admin-token", "admin-token");
    dirs.secret("webhook-secret", WEBHOOK_SECRET);
    let conn = connection(
        "sim",
        "Simulated Jira",
        &url,
        "admin@example.com",
        "admin-token",
        Some("webhook-secret"),
    );
    dirs.manifest("workspace.yaml", &workspace("product", "product"));
    dirs.manifest("fields.yaml", &field_mapping());
    dirs.manifest("connection.yaml", &conn);
    dirs.manifest(
        "integration.yaml",
        &integration("demo", "Demo", "sim", "product"),
    );
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    d.wait_status("every resource Ready", all_ready).await;
    assert!(managed(&jira_webhooks(&url).await).is_empty());

    // The operator declares where Jira can reach tandem; tandem registers the webhook itself.
    let with_webhook = format!("{conn}  webhook:\n    publicUrl: {}/\n", d.public);
    dirs.manifest("connection.yaml", &with_webhook);
    let expected_url = format!("{}/webhooks/jira/product", d.public);
    let status = d
        .wait_status("the webhook registered", |s| {
            resource(s, "Connection", "sim").is_some_and(|r| {
                r["details"]["webhookRegistration"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("managed: 1 webhook(s)"))
            }) && all_ready(s)
                // The integration shows the URL Jira calls, though only the connection changed.
                && resource(s, "ProjectIntegration", "demo")
                    .is_some_and(|r| r["details"]["webhookUrl"] == expected_url.as_str())
        })
        .await;
    assert!(is_current_and_ready(&status, "Connection", "sim"));
    let hooks = jira_webhooks(&url).await;
    let ours = managed(&hooks);
    assert_eq!(ours.len(), 1, "{hooks:#?}");
    assert_eq!(ours[0]["url"], expected_url.as_str());
    let events: Vec<&str> = ours[0]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    for e in [
        "jira:issue_created",
        "jira:issue_updated",
        "comment_created",
    ] {
        assert!(events.contains(&e), "{e} missing: {events:?}");
    }

    // Jira calls it (signed with the webhook secret): the webhook light turns on.
    sim.create_issue(serde_json::json!({
        "project": {"key": "DEMO"},
        "issuetype": {"name": "Story"},
        "summary": "Delivered by the simulator's own webhook",
    }))
    .expect("create issue");
    let lit = d
        .wait_status("the webhook connected", |s| {
            resource(s, "Connection", "sim").is_some_and(|r| {
                r["webhook"]["state"] == "connected" && r["webhook"]["events"].as_u64() >= Some(1)
            })
        })
        .await;
    // The sync engine reads what was stored (nothing is left unread for long).
    let read = |s: &serde_json::Value| {
        s["engine"]["webhooksConsumed"].as_u64().unwrap_or(0)
            + s["pendingWebhookEvents"].as_u64().unwrap_or(0)
    };
    assert!(read(&lit) >= 1, "{lit:#}");

    // Someone deletes it in Jira; the next reconcile puts it back.
    let id = ours[0]["self"]
        .as_str()
        .and_then(|s| s.rsplit('/').next())
        .expect("webhook id")
        .to_owned();
    let deleted = reqwest::Client::new()
        .delete(format!("{url}/rest/webhooks/1.0/webhook/{id}"))
        .basic_auth("admin@example.com", Some("admin-token"))
        .send()
        .await
        .expect("delete");
    assert!(deleted.status().is_success(), "{}", deleted.status());
    assert!(managed(&jira_webhooks(&url).await).is_empty());
    let queued = reqwest::Client::new()
        .post(format!("{}/api/v1/reconcile/Connection/sim", d.admin))
        .send()
        .await
        .expect("reconcile now");
    assert_eq!(queued.status().as_u16(), 202);
    let deadline = std::time::Instant::now() + GUARD;
    loop {
        let hooks = jira_webhooks(&url).await;
        if managed(&hooks)
            .iter()
            .any(|h| h["url"] == expected_url.as_str())
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the deleted webhook was not repaired: {hooks:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Someone points it elsewhere in Jira (drift, not deletion); a reconcile repairs the URL.
    let hooks = jira_webhooks(&url).await;
    let mut changed = (*managed(&hooks).first().expect("repaired webhook")).clone();
    let self_url = changed["self"].as_str().expect("self").to_owned();
    changed["url"] = serde_json::json!("http://127.0.0.1:9/elsewhere");
    let put = reqwest::Client::new()
        .put(&self_url)
        .basic_auth("admin@example.com", Some("admin-token"))
        .json(&changed)
        .send()
        .await
        .expect("edit webhook");
    assert!(put.status().is_success(), "{}", put.status());
    let queued = reqwest::Client::new()
        .post(format!("{}/api/v1/reconcile/Connection/sim", d.admin))
        .send()
        .await
        .expect("reconcile now");
    assert_eq!(queued.status().as_u16(), 202);
    let deadline = std::time::Instant::now() + GUARD;
    loop {
        let hooks = jira_webhooks(&url).await;
        let ours = managed(&hooks);
        if ours.len() == 1 && ours[0]["url"] == expected_url.as_str() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the edited webhook was not repaired: {hooks:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A second workspace integrated over the same connection gets its own webhook, though the
    // Connection manifest did not change.
    dirs.manifest("workspace-b.yaml", &workspace("product-b", "product-b"));
    dirs.manifest(
        "integration-b.yaml",
        &integration("demo-b", "Demo B", "sim", "product-b"),
    );
    let second_url = format!("{}/webhooks/jira/product-b", d.public);
    let deadline = std::time::Instant::now() + GUARD;
    loop {
        let hooks = jira_webhooks(&url).await;
        let urls: Vec<&str> = managed(&hooks)
            .iter()
            .filter_map(|h| h["url"].as_str())
            .collect();
        if urls.len() == 2 && urls.contains(&second_url.as_str()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no webhook for the second workspace: {hooks:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Disconnect removes what tandem registered.
    for f in ["integration.yaml", "integration-b.yaml", "connection.yaml"] {
        std::fs::remove_file(dirs.manifests.join(f)).expect("remove");
    }
    d.wait_status("the connection gone", |s| {
        resource(s, "Connection", "sim").is_none()
    })
    .await;
    let hooks = jira_webhooks(&url).await;
    assert!(managed(&hooks).is_empty(), "{hooks:#?}");
    let (exit, log) = d.stop().await;
    assert!(exit.success(), "{exit:?}\n{}", log.join("\n"));
    sim.shutdown().await.expect("sim shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_webhook_secret_takes_effect_without_restart() {
    let sim = simulator(Vec::new()).await;
    let url = sim.base_url();
    let dirs = DaemonDirs::new();
    dirs.secret("admin-token", "admin-token");
    dirs.secret("webhook-secret", "first-webhook-secret");
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
    let mut d = Daemon::start(&dirs, DaemonOptions::default()).await;
    d.wait_status("every resource Ready", all_ready).await;
    let client = reqwest::Client::new();
    let endpoint = format!("{}/webhooks/jira/product", d.public);
    let body = serde_json::json!({
        "webhookEvent": "jira:issue_updated",
        "issue": {"id": "10000", "self": format!("{url}/rest/api/2/issue/10000")}
    })
    .to_string();
    let post = |secret: &str, id: String| {
        client
            .post(&endpoint)
            .header(
                "X-Hub-Signature",
                sign(&Secret::new(secret), body.as_bytes()),
            )
            .header("X-Atlassian-Webhook-Identifier", id)
            .body(body.clone())
            .send()
    };
    assert_eq!(
        post("first-webhook-secret", "before".into())
            .await
            .expect("post")
            .status()
            .as_u16(),
        200
    );

    dirs.secret("webhook-secret", "second-webhook-secret");
    let deadline = std::time::Instant::now() + GUARD;
    for attempt in 0.. {
        let status = post("second-webhook-secret", format!("after-{attempt}"))
            .await
            .expect("post")
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        assert_eq!(status, 401, "until the rotation is picked up");
        assert!(
            std::time::Instant::now() < deadline,
            "the new webhook secret was never accepted; log:\n{}",
            d.log().join("\n")
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let old = post("first-webhook-secret", "stale".into())
        .await
        .expect("post");
    assert_eq!(old.status().as_u16(), 401, "the old secret is refused");
    assert!(d.is_running(), "rotated without a restart");
    sim.shutdown().await.expect("sim shutdown");
}
