//! The workspace routes of the admin API over HTTP, served by the real daemon shell on
//! 127.0.0.1:0: JSON round trips, ETag and If-Match (412), errors that name the field, 404 for
//! workspaces no manifest declares, and the item's Jira link.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};
use tandem::daemon::{Daemon, DaemonConfig, Hooks};
use tandem::http::workspace_api::WorkspaceApi;
use tandem::manifest::{self, SourceFile};
use tandem::workspace::{IssueRef, WorkspaceService};
use tokio::sync::oneshot;

const MANIFESTS: &str = r#"
apiVersion: tandem/v1
kind: Workspace
metadata: {name: acme}
spec:
  id: acme
  itemTypes:
    - name: Epic
    - name: Story
      parent: Epic
  statuses: [Backlog, Done]
  fields:
    - {name: Risk, type: singleSelect, options: [Low, High]}
---
apiVersion: tandem/v1
kind: Connection
metadata: {name: jira}
spec:
  displayName: Jira
  url: https://jira.example.com
  auth:
    username: bot
    password: {file: pw}
  deployment: dataCenter
---
apiVersion: tandem/v1
kind: ProjectIntegration
metadata: {name: acme-jira}
spec:
  displayName: Acme in Jira
  connection: jira
  workspace: acme
  project: ACME
  types:
    - {workspace: Epic, jira: Epic}
    - {workspace: Story, jira: Story}
  statuses:
    - {workspace: Backlog, jira: To Do}
    - {workspace: Done, jira: Done}
"#;

struct Running {
    base: String,
    client: reqwest::Client,
    service: WorkspaceService,
    stop: Option<oneshot::Sender<()>>,
    run: tokio::task::JoinHandle<Result<(), tandem::daemon::DaemonError>>,
    _dir: tempfile::TempDir,
}

impl Running {
    async fn start() -> Running {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = DaemonConfig::new(dir.path().join("state"), dir.path().join("manifests"));
        config.listen = "127.0.0.1:0".into();
        config.admin = "127.0.0.1:0".into();
        let daemon = Daemon::start(config).await.expect("start");
        let base = format!(
            "http://{}/api/v1/workspaces",
            daemon.admin_addr().expect("admin addr")
        );
        let v = manifest::validate(&[SourceFile {
            path: PathBuf::from("acme.yaml"),
            text: MANIFESTS.to_string(),
        }]);
        assert!(
            v.model.integrations.contains_key("acme-jira"),
            "{:?}",
            v.diagnostics
        );
        let service = WorkspaceService::with_model(daemon.store().clone(), v.model);
        let (mut hooks, _senders) = Hooks::standalone();
        hooks.workspace_api = Some(Arc::new(WorkspaceApi::new(service.clone())));
        let (stop, stop_rx) = oneshot::channel::<()>();
        let run = tokio::spawn(daemon.run_until(hooks, async move {
            let _ = stop_rx.await;
        }));
        Running {
            base,
            client: reqwest::Client::new(),
            service,
            stop: Some(stop),
            run,
            _dir: dir,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.run)
            .await
            .expect("join")
            .expect("daemon stops cleanly");
    }
}

async fn json_of(resp: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = resp.status().as_u16();
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, etag, body)
}

#[tokio::test]
async fn items_round_trip_over_http_with_etags_and_if_match() {
    let d = Running::start().await;
    let items = format!("{}/acme/items", d.base);

    let (status, etag, epic) = json_of(
        d.client
            .post(&items)
            .json(&json!({"type": "Epic", "title": "Checkout"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 201, "{epic}");
    assert_eq!(etag.as_deref(), Some("\"1\""));
    assert_eq!(epic["id"], "ITEM-1");
    assert_eq!(epic["status"], "Backlog");
    assert_eq!(epic["jira"], Value::Null);

    let (status, _, story) = json_of(
        d.client
            .post(&items)
            .json(&json!({"type": "Story", "title": "Pay", "parent": "ITEM-1",
                          "fields": {"Risk": "Low"}}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 201, "{story}");
    let story_url = format!("{items}/ITEM-2");

    // PATCH with the current version succeeds and bumps the ETag.
    let (status, etag, patched) = json_of(
        d.client
            .patch(&story_url)
            .header("If-Match", "\"1\"")
            .header("Content-Type", "application/merge-patch+json")
            .body(r#"{"status": "Done", "fields": {"Risk": "High"}}"#)
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(etag.as_deref(), Some("\"2\""));
    assert_eq!(patched["fields"]["Risk"], "High");

    // The same stale version now fails with 412 and says which version is current.
    let (status, etag, err) = json_of(
        d.client
            .patch(&story_url)
            .header("If-Match", "\"1\"")
            .json(&json!({"title": "stale"}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(status, 412, "{err}");
    assert_eq!(err["error"]["code"], 412);
    assert_eq!(err["error"]["currentVersion"], 2);
    assert_eq!(etag.as_deref(), Some("\"2\""));
    let (status, _, _) = json_of(
        d.client
            .delete(&story_url)
            .header("If-Match", "\"1\"")
            .send()
            .await
            .expect("delete"),
    )
    .await;
    assert_eq!(status, 412);

    // Comments are added, not replaced.
    let (status, etag, commented) = json_of(
        d.client
            .post(format!("{story_url}/comments"))
            .json(&json!({"body": "Looks good", "author": "dana"}))
            .send()
            .await
            .expect("comment"),
    )
    .await;
    assert_eq!(
        (status, etag.as_deref()),
        (201, Some("\"3\"")),
        "{commented}"
    );
    assert_eq!(commented["comments"][0]["body"], "Looks good");
    assert_eq!(commented["comments"][0]["author"], "dana");

    // GET shows the item, its ETag and its Jira link once the sync engine linked it.
    d.service
        .set_jira_link(
            "acme",
            "ITEM-2",
            "acme-jira",
            Some(IssueRef {
                connection: "jira".into(),
                id: "10042".into(),
                key: "ACME-7".into(),
            }),
        )
        .await
        .expect("link");
    let (status, etag, got) = json_of(d.client.get(&story_url).send().await.expect("get")).await;
    assert_eq!(status, 200);
    assert_eq!(etag.as_deref(), Some("\"3\""));
    assert_eq!(got["title"], "Pay");
    assert_eq!(
        got["jira"],
        json!({"integration": "acme-jira", "key": "ACME-7", "id": "10042",
               "url": "https://jira.example.com/browse/ACME-7"})
    );

    // Lists filter and page.
    let (status, _, page) = json_of(
        d.client
            .get(format!("{items}?type=Story&limit=10"))
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["items"][0]["jira"]["key"], "ACME-7");
    assert_eq!(page["next"], Value::Null);

    // Delete with the right version; the history says so.
    let resp = d
        .client
        .delete(&story_url)
        .header("If-Match", "\"3\"")
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status().as_u16(), 204);
    let (status, _, _) = json_of(d.client.get(&story_url).send().await.expect("get")).await;
    assert_eq!(status, 404);
    let (status, _, history) = json_of(
        d.client
            .get(format!("{story_url}/history"))
            .send()
            .await
            .expect("history"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(history["history"][1]["action"], "deleted");

    let (status, _, changes) = json_of(
        d.client
            .get(format!("{}/acme/changes?after=0", d.base))
            .send()
            .await
            .expect("changes"),
    )
    .await;
    assert_eq!(status, 200);
    let ops: Vec<&str> = changes["changes"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["op"].as_str())
        .collect();
    assert_eq!(ops, ["create", "create", "update", "update", "delete"]);
    d.stop().await;
}

#[tokio::test]
async fn bad_requests_are_400_with_the_field_and_unknown_workspaces_are_404() {
    let d = Running::start().await;
    let items = format!("{}/acme/items", d.base);

    let cases = [
        (
            json!({"type": "Story", "title": "x", "fields": {"Risk": "Medium"}}),
            "fields.Risk",
        ),
        (json!({"type": "Task", "title": "x"}), "type"),
        (json!({"type": "Story", "title": "x", "id": "ITEM-9"}), "id"),
        (
            json!({"type": "Story", "title": "x", "parent": "ITEM-404"}),
            "parent",
        ),
    ];
    for (body, field) in cases {
        let (status, _, err) = json_of(
            d.client
                .post(&items)
                .json(&body)
                .send()
                .await
                .expect("post"),
        )
        .await;
        assert_eq!(status, 400, "{body} → {err}");
        assert_eq!(err["error"]["code"], 400);
        assert_eq!(err["error"]["field"], field, "{err}");
    }
    let (status, _, err) = json_of(
        d.client
            .post(&items)
            .header("Content-Type", "application/json")
            .body("{not json")
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    let (status, _, err) = json_of(
        d.client
            .get(format!("{items}?stauts=Done"))
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (400, Some("stauts"))
    );

    for url in [
        format!("{}/nope/items", d.base),
        format!("{}/nope/sprints", d.base),
        format!("{}/acme/items/ITEM-77", d.base),
        format!("{}/acme/releases/9.9", d.base),
    ] {
        let (status, _, err) = json_of(d.client.get(&url).send().await.expect("get")).await;
        assert_eq!(status, 404, "{url} → {err}");
    }
    let (status, _, _) = json_of(
        d.client
            .post(format!("{}/nope/items", d.base))
            .json(&json!({"type": "Epic", "title": "x"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 404);
    let resp = d
        .client
        .put(format!("{items}/ITEM-1"))
        .send()
        .await
        .expect("put");
    assert_eq!(resp.status().as_u16(), 405);
    d.stop().await;
}

#[tokio::test]
async fn sprints_and_releases_over_http() {
    let d = Running::start().await;
    let sprints = format!("{}/acme/sprints", d.base);
    let (status, etag, s) = json_of(
        d.client
            .post(&sprints)
            .json(&json!({"name": "Sprint 1", "goal": "ship"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!((status, etag.as_deref()), (201, Some("\"1\"")), "{s}");
    // Names with spaces travel percent-encoded.
    let one = format!("{sprints}/Sprint%201");
    let (status, etag, s) = json_of(
        d.client
            .patch(&one)
            .header("If-Match", "\"1\"")
            .json(&json!({"state": "active"}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!((status, etag.as_deref()), (200, Some("\"2\"")), "{s}");
    let (status, _, _) = json_of(
        d.client
            .patch(&one)
            .header("If-Match", "\"1\"")
            .json(&json!({"state": "closed"}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(status, 412);
    let (status, _, list) = json_of(d.client.get(&sprints).send().await.expect("list")).await;
    assert_eq!(status, 200);
    assert_eq!(list["sprints"][0]["state"], "active");

    let releases = format!("{}/acme/releases", d.base);
    let (status, _, r) = json_of(
        d.client
            .post(&releases)
            .json(&json!({"name": "1.0", "releaseDate": "2026-12-01"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    let (status, _, dup) = json_of(
        d.client
            .post(&releases)
            .json(&json!({"name": "1.0"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 409, "{dup}");
    let resp = d
        .client
        .delete(format!("{releases}/1.0"))
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status().as_u16(), 204);
    d.stop().await;
}

#[tokio::test]
async fn concurrent_patches_with_the_same_etag_one_wins_the_rest_get_412() {
    let d = Running::start().await;
    let items = format!("{}/acme/items", d.base);
    let (status, _, _) = json_of(
        d.client
            .post(&items)
            .json(&json!({"type": "Epic", "title": "Contended"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 201);
    let mut tasks = Vec::new();
    for n in 0..8 {
        let client = d.client.clone();
        let url = format!("{items}/ITEM-1");
        tasks.push(tokio::spawn(async move {
            client
                .patch(url)
                .header("If-Match", "\"1\"")
                .json(&json!({"title": format!("writer {n}")}))
                .send()
                .await
                .expect("patch")
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("join"));
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412, 412, 412, 412, 412, 412, 412]);
    d.stop().await;
}
