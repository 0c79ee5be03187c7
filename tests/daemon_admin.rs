//! The daemon shell as the lead wires it: `Daemon::start` + `Hooks` + `run_until`, in-process on
//! 127.0.0.1:0. Routes and readiness arrive through watch channels; status, reconcile and
//! extra metrics through the admin hooks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tandem::daemon::{Daemon, DaemonConfig, Hooks};
use tandem::http::admin::{MetricsSource, ReconcileError};
use tandem::http::public::{sign, WebhookConnection, WebhookRoutes};
use tandem::http::Secret;
use tandem::store::Store;
use tokio::sync::oneshot;

struct ExtraMetrics;

impl MetricsSource for ExtraMetrics {
    fn render(&self, out: &mut String) {
        out.push_str("tandem_controller_queue_depth 3\n");
    }
}

#[tokio::test]
async fn the_shell_serves_what_the_controller_plugs_in_and_closes_the_store_on_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = DaemonConfig::new(dir.path().join("state"), dir.path().join("manifests"));
    config.listen = "127.0.0.1:0".into();
    config.admin = "127.0.0.1:0".into();
    let daemon = Daemon::start(config).await.expect("start");
    let public = format!("http://{}", daemon.public_addr().expect("public addr"));
    let admin = format!("http://{}", daemon.admin_addr().expect("admin addr"));
    let mut shutdown_seen = daemon.shutdown_receiver();

    let (mut hooks, senders) = Hooks::standalone();
    let queued: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let q = queued.clone();
    hooks.reconcile = Some(Arc::new(move |kind: &str, name: &str| {
        if kind == "Connection" && name == "acme" {
            q.lock().expect("lock").push((kind.into(), name.into()));
            Ok(())
        } else {
            Err(ReconcileError::NotFound(format!("no {kind} named {name}")))
        }
    }));
    hooks.status = Some(Arc::new(
        || serde_json::json!({"resources": [{"kind": "Connection", "name": "acme"}]}),
    ));
    hooks.extra_metrics.push(Arc::new(ExtraMetrics));
    // Background work persists its in-flight state after the stop, before the store closes.
    let store = daemon.store().clone();
    let mut stopping = daemon.shutdown_receiver();
    hooks.drain = Some(Box::pin(async move {
        let _ = stopping.wait_for(|s| *s).await;
        store
            .put_kv("controller", "checkpoint", b"persisted".to_vec())
            .await
            .expect("write during drain");
    }));

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let run = tokio::spawn(daemon.run_until(hooks, async move {
        let _ = stop_rx.await;
    }));
    let client = reqwest::Client::new();
    let body =
        serde_json::json!({"issue": {"self": "https://acme.atlassian.net/rest/api/2/issue/1"}})
            .to_string();
    let sig = sign(&Secret::new("s"), body.as_bytes());
    let post = || {
        client
            .post(format!("{public}/webhooks/jira/main"))
            .header("X-Hub-Signature", &sig)
            .body(body.clone())
            .send()
    };

    // Before the first snapshot: not ready, and webhooks are deferred (Jira retries 503).
    let readyz = client
        .get(format!("{admin}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(readyz.status().as_u16(), 503);
    assert_eq!(post().await.expect("post").status().as_u16(), 503);

    let mut workspaces = HashMap::new();
    workspaces.insert(
        "main".to_string(),
        vec![WebhookConnection {
            name: "acme".into(),
            base_url: "https://acme.atlassian.net".into(),
            self_url: None,
            secret: Some(Secret::new("s")),
        }],
    );
    senders
        .routes
        .send(WebhookRoutes { workspaces })
        .expect("routes");
    senders.ready.send(true).expect("ready");
    let readyz = client
        .get(format!("{public}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(readyz.status().as_u16(), 200);
    assert_eq!(post().await.expect("post").status().as_u16(), 200);

    let status: serde_json::Value = client
        .get(format!("{admin}/api/v1/status"))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(status["resources"][0]["name"], "acme");

    let ok = client
        .post(format!("{admin}/api/v1/reconcile/Connection/acme"))
        .send()
        .await
        .expect("reconcile");
    assert_eq!(ok.status().as_u16(), 202);
    let missing = client
        .post(format!("{admin}/api/v1/reconcile/Connection/nope"))
        .send()
        .await
        .expect("reconcile");
    assert_eq!(missing.status().as_u16(), 404);
    let err: serde_json::Value = missing.json().await.expect("json");
    assert_eq!(err["error"]["message"], "no Connection named nope");
    assert_eq!(
        queued.lock().expect("lock").as_slice(),
        [("Connection".to_string(), "acme".to_string())]
    );
    let wrong_method = client
        .get(format!("{admin}/api/v1/reconcile/Connection/acme"))
        .send()
        .await
        .expect("get");
    assert_eq!(wrong_method.status().as_u16(), 405);

    let metrics = client
        .get(format!("{admin}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for expected in [
        "tandem_webhooks_received_total 2",
        "tandem_webhooks_stored_total 1",
        "tandem_webhooks_rejected_total{reason=\"not_ready\"} 1",
        "tandem_store_commit_batch_size_count",
        "tandem_webhook_ack_seconds_count 1",
        "tandem_controller_queue_depth 3",
        "tandem_connection_webhook_events_total{connection=\"acme\"} 1",
    ] {
        assert!(
            metrics.contains(expected),
            "missing `{expected}` in:\n{metrics}"
        );
    }

    stop_tx.send(()).expect("stop");
    run.await.expect("join").expect("clean shutdown");
    assert!(
        *shutdown_seen.borrow_and_update(),
        "background work is told to stop"
    );
    assert!(client.get(format!("{admin}/healthz")).send().await.is_err());
    // The store was closed: the state directory can be opened again right away.
    let store = Store::open(dir.path().join("state")).expect("reopen");
    assert_eq!(store.webhook_event_count().expect("count"), 1);
    assert_eq!(
        store.get_kv("controller", "checkpoint").expect("kv"),
        Some(b"persisted".to_vec())
    );
    store.close().await.expect("close");
}
