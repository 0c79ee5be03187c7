//! Webhook as desired state: with `webhook: {publicUrl}` on a Connection, the real daemon
//! registers Jira's admin webhook (the guide's events, the secret, the workspace URL), repairs it
//! when someone changes it in Jira, and removes it when the Connection is removed. Jira's signed
//! deliveries then light the connection's webhook state.

mod common_daemon;

use common_daemon::*;
use serde_json::{json, Value};

async fn jira_webhooks(base: &str) -> Vec<Value> {
    reqwest::Client::new()
        .get(format!("{base}/rest/webhooks/1.0/webhook"))
        .basic_auth("admin@example.com", Some("admin-token"))
        .send()
        .await
        .expect("list webhooks")
        .json()
        .await
        .expect("webhook list json")
}

fn managed(hooks: &[Value]) -> Vec<&Value> {
    hooks
        .iter()
        .filter(|h| h["name"].as_str().is_some_and(|n| n.starts_with("tandem ")))
        .collect()
}

async fn wait_for<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_registers_repairs_and_removes_its_jira_webhook() {
    let sim = simulator(Vec::new()).await;
    let jira = sim.base_url();
    let dirs = DaemonDirs::new();
    dirs.secret("admin-token", "admin-token");
    dirs.secret("hook-secret", "managed-hook-secret");
    dirs.manifest("workspace.yaml", &workspace("product", "ws-managed"));
    dirs.manifest("fields.yaml", &field_mapping());
    dirs.manifest(
        "integration.yaml",
        &integration("demo", "Demo", "acme", "product"),
    );
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    // The public URL is known once the daemon is bound; declare it as an operator would.
    let conn = connection(
        "acme",
        "Acme",
        &jira,
        "admin@example.com",
        "admin-token",
        Some("hook-secret"),
    ) + &format!("  webhook:\n    publicUrl: {}\n", d.public);
    dirs.manifest("connection.yaml", &conn);
    d.wait_status("everything Ready", all_ready).await;

    let expected_url = format!("{}/webhooks/jira/ws-managed", d.public);
    let hooks = jira_webhooks(&jira).await;
    let ours = managed(&hooks);
    assert_eq!(ours.len(), 1, "{hooks:#?}");
    assert_eq!(ours[0]["url"], expected_url.as_str());
    let events: Vec<&str> = ours[0]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for e in [
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_deleted",
        "comment_created",
        "issuelink_created",
        "jira:version_released",
        "worklog_updated",
        "sprint_started",
    ] {
        assert!(events.contains(&e), "{e} missing from {events:?}");
    }

    // Jira's signed delivery of a real event reaches the daemon: the webhook light comes on.
    sim.create_issue(json!({
        "project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": "hello",
    }))
    .expect("create issue");
    d.wait_status("webhook connected", |s| {
        resource(s, "Connection", "acme").is_some_and(|r| {
            r["webhook"]["state"] == "connected" && r["webhook"]["events"].as_u64() >= Some(1)
        })
    })
    .await;

    // Drift: someone points the webhook elsewhere in Jira; a reconcile repairs it.
    let self_url = ours[0]["self"].as_str().expect("self").to_owned();
    let mut changed = ours[0].clone();
    changed["url"] = json!("http://127.0.0.1:9/elsewhere");
    let put = reqwest::Client::new()
        .put(&self_url)
        .basic_auth("admin@example.com", Some("admin-token"))
        .json(&changed)
        .send()
        .await
        .expect("update webhook");
    assert!(put.status().is_success(), "{}", put.status());
    let reconcile = reqwest::Client::new()
        .post(format!("{}/api/v1/reconcile/Connection/acme", d.admin))
        .send()
        .await
        .expect("reconcile");
    assert!(reconcile.status().is_success(), "{}", reconcile.status());
    wait_for("the webhook URL repaired", async || {
        let hooks = jira_webhooks(&jira).await;
        let ours = managed(&hooks);
        (ours.len() == 1 && ours[0]["url"] == expected_url.as_str()).then_some(())
    })
    .await;

    // Disconnect: the Connection and its integration go; so does the webhook tandem made.
    std::fs::remove_file(dirs.manifests.join("integration.yaml")).expect("rm integration");
    std::fs::remove_file(dirs.manifests.join("connection.yaml")).expect("rm connection");
    wait_for("the managed webhook removed", async || {
        managed(&jira_webhooks(&jira).await)
            .is_empty()
            .then_some(())
    })
    .await;
    d.stop().await;
}
