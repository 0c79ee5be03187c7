//! Shared support for end-to-end tests of the live sync engine: a real `tandem run` with the
//! manifests of a two-way integration (`demo`, workspace `product`, DEMO on board 1) against
//! the in-process simulator in either dialect, Jira's webhooks delivered to the daemon by the
//! managed webhook (`webhook.publicUrl`), and helpers to act on both sides and wait.
//!
//! Used by `tests/sync_live.rs` and `tests/fault_suite.rs` (declare `mod common_daemon;` next
//! to `mod common_live;`). Waits poll the user-visible state with a generous guard; nothing
//! here measures time.

#![allow(dead_code)] // each test binary uses a different part of it

use std::time::{Duration, Instant};

use serde_json::Value;
use tandem::sim::{Deployment, SimConfig, SimHandle, SimUser, Simulator};

use crate::common_daemon::*;

pub const WEBHOOK_SECRET: &str = "live-sync-webhook-secret";

pub struct Env {
    pub sim: SimHandle,
    pub dirs: DaemonDirs,
    pub d: Daemon,
    pub http: reqwest::Client,
    pub dc: bool,
    /// How the daemon was started, for [`Env::kill_and_restart`].
    options: LiveOptions,
}

/// What differs between live environments; [`LiveOptions::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub deployment: Deployment,
    /// `spec.conflicts` of the integration.
    pub conflicts: String,
    /// How tandem authenticates: (login, secret); `None` uses the simulator's administrator.
    pub robot: Option<(String, String)>,
    pub webhook_secret: String,
    pub daemon: DaemonOptions,
    /// Whether tandem registers Jira's webhook (`webhook.publicUrl`); without it Jira never
    /// calls tandem and only the resync sweep finds changes.
    pub managed_webhook: bool,
}

impl LiveOptions {
    pub fn new(deployment: Deployment, conflicts: &str) -> LiveOptions {
        LiveOptions {
            deployment,
            conflicts: conflicts.to_owned(),
            robot: None,
            webhook_secret: WEBHOOK_SECRET.to_owned(),
            daemon: DaemonOptions::default(),
            managed_webhook: true,
        }
    }
}

pub fn workspace_manifest() -> &'static str {
    "apiVersion: tandem/v1
kind: Workspace
metadata:
  name: product
spec:
  id: product
  itemTypes:
    - name: Epic
    - name: Story
      parent: Epic
    - name: Chore
    - name: Defect
  statuses: [Todo, Doing, Done]
  fields:
    - {name: Platforms, type: multiSelect, options: [Web, iOS, Android]}
    - {name: Target date, type: date}
"
}

pub fn fields_manifest() -> &'static str {
    "apiVersion: tandem/v1
kind: FieldMapping
metadata:
  name: demo-fields
spec:
  primary:
    components: true
    releases: true
    storyPoints: auto
  custom:
    - {workspace: Platforms, jira: Platforms}
    - {workspace: Target date, jira: Target date}
"
}

pub fn integration_manifest(conflicts: &str) -> String {
    integration_manifest_with(conflicts, "twoWay")
}

pub fn integration_manifest_with(conflicts: &str, direction: &str) -> String {
    format!(
        "apiVersion: tandem/v1
kind: ProjectIntegration
metadata:
  name: demo
spec:
  displayName: Demo
  connection: jira
  workspace: product
  project: DEMO
  board: 1
  fieldMapping: demo-fields
  types:
    - {{workspace: Epic, jira: Epic}}
    - {{workspace: Story, jira: Story}}
    - {{workspace: Chore, ignore: true}}
    - {{workspace: Defect, ignore: true}}
  secondaryTypes:
    - {{jira: Bug, workspace: Defect}}
  statuses:
    - {{workspace: Todo, jira: To Do}}
    - {{workspace: Doing, jira: In Progress}}
    - {{workspace: Done, jira: Done}}
  conflicts: {conflicts}
  direction: {direction}
  resync: 1h
"
    )
}

/// The Connection `jira`: tandem logs in as `login` (secret file `token` on Cloud, `password`
/// on Data Center); with `public`, tandem manages Jira's webhook to `{public}/`.
pub fn connection_manifest(sim_url: &str, dc: bool, login: &str, public: Option<&str>) -> String {
    let auth = if dc {
        format!("  deployment: dataCenter\n  auth:\n    username: {login}\n    password: {{file: password}}\n")
    } else {
        format!("  deployment: cloud\n  auth:\n    email: {login}\n    apiToken: {{file: token}}\n")
    };
    let webhook = public
        .map(|p| format!("  webhook:\n    publicUrl: {p}/\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: tandem/v1\nkind: Connection\nmetadata:\n  name: jira\nspec:\n  displayName: Jira\n  url: {sim_url}\n{auth}  webhookSecret: {{file: whsecret}}\n{webhook}"
    )
}

/// Status predicate: the managed webhook is registered and every resource is Ready.
pub fn webhook_registered(s: &Value) -> bool {
    resource(s, "Connection", "jira").is_some_and(|r| {
        r["details"]["webhookRegistration"]
            .as_str()
            .is_some_and(|m| m.starts_with("managed: 1 webhook(s)"))
    }) && all_ready(s)
}

/// Work the engine still has, from a status document: unread webhooks, queued or running pairs,
/// and `demo`'s durable pending set (0 when idle; unknown counts as busy).
pub fn engine_busy(s: &Value) -> u64 {
    let q = &s["engine"]["queue"];
    s["pendingWebhookEvents"].as_u64().unwrap_or(1)
        + q["ready"].as_u64().unwrap_or(1)
        + q["running"].as_u64().unwrap_or(1)
        + q["scheduled"].as_u64().unwrap_or(1)
        + resource(s, "ProjectIntegration", "demo")
            .and_then(|r| r["sync"]["pending"].as_u64())
            .unwrap_or(1)
}

impl Env {
    pub async fn start(deployment: Deployment, conflicts: &str) -> Env {
        Env::start_with(LiveOptions::new(deployment, conflicts)).await
    }

    pub async fn start_with(options: LiveOptions) -> Env {
        let dc = options.deployment == Deployment::DataCenter;
        let mut config = SimConfig::new(options.deployment);
        let (login, secret) = match &options.robot {
            Some((login, secret)) => {
                config.users.push(SimUser::new(login, secret, true));
                (login.clone(), secret.clone())
            }
            None if dc => ("admin".to_owned(), "admin".to_owned()),
            None => ("admin@example.com".to_owned(), "admin-token".to_owned()),
        };
        let sim = Simulator::start(config).await.expect("simulator starts");
        let dirs = DaemonDirs::new();
        dirs.secret("token", &secret);
        dirs.secret("password", &secret);
        dirs.secret("whsecret", &options.webhook_secret);
        dirs.manifest("workspace.yaml", workspace_manifest());
        dirs.manifest("fields.yaml", fields_manifest());
        dirs.manifest(
            "integration.yaml",
            &integration_manifest(&options.conflicts),
        );
        dirs.manifest(
            "connection.yaml",
            &connection_manifest(&sim.base_url(), dc, &login, None),
        );
        let d = Daemon::start(&dirs, options.daemon.clone()).await;
        if options.managed_webhook {
            // Jira learns where to send its webhooks: tandem registers them itself.
            dirs.manifest(
                "connection.yaml",
                &connection_manifest(&sim.base_url(), dc, &login, Some(&d.public)),
            );
            d.wait_status("the webhook registered and all Ready", webhook_registered)
                .await;
        } else {
            d.wait_status("all Ready", all_ready).await;
        }
        Env {
            sim,
            dirs,
            d,
            http: reqwest::Client::new(),
            dc,
            options,
        }
    }

    /// SIGKILLs the daemon (no drain, no store close) and waits until it is gone; returns its
    /// log. [`Env::restart`] starts it again.
    pub async fn kill(&mut self) -> Vec<String> {
        let pid = self.d.pid();
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        assert_eq!(rc, 0, "SIGKILL failed");
        let deadline = Instant::now() + GUARD;
        while self.d.is_running() {
            assert!(Instant::now() < deadline, "the daemon survived SIGKILL");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.d.log()
    }

    /// Starts the (killed) daemon again on the same state and on the same public address, so
    /// the managed webhook (and the simulator's retries of deliveries that failed meanwhile)
    /// reach the new process; waits until it is Ready.
    pub async fn restart(&mut self) {
        let mut options = self.options.daemon.clone();
        options.listen = Some(self.d.public.trim_start_matches("http://").to_owned());
        self.d = Daemon::start(&self.dirs, options).await;
        self.d
            .wait_status(
                "the webhook registered and all Ready after the restart",
                webhook_registered,
            )
            .await;
    }

    /// [`Env::kill`] then [`Env::restart`]; returns the killed daemon's log.
    pub async fn kill_and_restart(&mut self) -> Vec<String> {
        let log = self.kill().await;
        self.restart().await;
        log
    }

    /// `POST /api/v1/integrations/{integration}/resync` (a sweep now); its answer.
    pub async fn resync(&self, integration: &str) -> Value {
        let resp = self
            .d
            .admin_request(
                reqwest::Method::POST,
                &format!("/api/v1/integrations/{integration}/resync"),
            )
            .send()
            .await
            .expect("resync");
        assert_eq!(resp.status().as_u16(), 200, "resync of {integration}");
        resp.json().await.expect("JSON")
    }

    /// Starts a one-time sync of `integration` with `body` and waits until it completed.
    pub async fn start_job(&self, integration: &str, body: Value) -> Value {
        let resp = self
            .d
            .admin_request(
                reqwest::Method::POST,
                &format!("/api/v1/integrations/{integration}/sync"),
            )
            .json(&body)
            .send()
            .await
            .expect("POST sync");
        assert_eq!(resp.status().as_u16(), 202, "starting a {integration} job");
        let started: Value = resp.json().await.expect("JSON");
        let id = started["id"].as_str().expect("id").to_owned();
        let deadline = Instant::now() + GUARD;
        loop {
            let j: Value =
                serde_json::from_str(&self.d.admin_get(&format!("/api/v1/jobs/{id}")).await)
                    .expect("job JSON");
            if j["state"] != "running" {
                assert_eq!(j["state"], "completed", "{j:#}");
                return j;
            }
            assert!(Instant::now() < deadline, "the job never finished: {j}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Pairs recorded in the durable pending set of `demo` (status `sync.pending`).
    pub async fn pending(&self) -> u64 {
        let s = self.d.status().await;
        resource(&s, "ProjectIntegration", "demo")
            .and_then(|r| r["sync"]["pending"].as_u64())
            .unwrap_or(0)
    }

    pub fn api(&self) -> &'static str {
        "/rest/api/2"
    }

    /// A request to the simulator's REST API as its administrator (what a person does in Jira).
    pub fn jira(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self
            .http
            .request(method, format!("{}{path}", self.sim.base_url()));
        if self.dc {
            req.basic_auth("admin", Some("admin"))
        } else {
            req.basic_auth("admin@example.com", Some("admin-token"))
        }
    }

    pub async fn jira_get(&self, path: &str) -> Value {
        let resp = self
            .jira(reqwest::Method::GET, path)
            .send()
            .await
            .expect("GET Jira");
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().await.expect("JSON")
    }

    pub async fn jira_issue(&self, key: &str) -> Value {
        self.jira_get(&format!("{}/issue/{key}", self.api())).await
    }

    pub async fn ws(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .d
            .admin_request(method.clone(), &format!("/api/v1/workspaces/product{path}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("admin API");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON")
        }
    }

    pub async fn item(&self, id: &str) -> Value {
        self.ws(reqwest::Method::GET, &format!("/items/{id}"), None)
            .await
    }

    pub async fn history(&self, id: &str) -> Vec<Value> {
        let v = self
            .ws(reqwest::Method::GET, &format!("/items/{id}/history"), None)
            .await;
        v.as_array()
            .cloned()
            .or_else(|| v["history"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Polls an item until `pred` holds.
    pub async fn wait_item(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + GUARD * 2;
        loop {
            let item = self.item(id).await;
            if pred(&item) {
                return item;
            }
            assert!(Instant::now() < deadline, "{what}: item is {item:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls a Jira issue until `pred` holds.
    pub async fn wait_issue(&self, key: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + GUARD * 2;
        loop {
            let issue = self.jira_issue(key).await;
            if pred(&issue) {
                return issue;
            }
            assert!(Instant::now() < deadline, "{what}: issue is {issue:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until Jira has delivered every webhook and the engine has nothing left to do.
    pub async fn quiesce(&self) {
        let deadline = Instant::now() + GUARD * 2;
        let mut calm = 0;
        loop {
            let _ = tokio::time::timeout(Duration::from_secs(5), self.sim.webhooks_idle()).await;
            let s = self.d.status().await;
            let busy = engine_busy(&s);
            calm = if busy == 0 { calm + 1 } else { 0 };
            if calm >= 3 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the engine never went idle: {s:#}"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Requests the simulator received that change Jira.
    pub fn jira_writes(&self) -> u64 {
        ["POST", "PUT", "DELETE"]
            .iter()
            .map(|m| self.sim.requests_to(m, "/rest/"))
            .sum()
    }

    pub async fn create_item(&self, body: Value) -> String {
        let item = self.ws(reqwest::Method::POST, "/items", Some(body)).await;
        item["id"].as_str().expect("item id").to_owned()
    }

    pub async fn linked_key(&self, id: &str) -> String {
        let item = self
            .wait_item(id, "the item is linked to a new issue", |i| {
                i["jira"]["key"].is_string()
            })
            .await;
        item["jira"]["key"].as_str().expect("key").to_owned()
    }

    pub fn story_points_field(&self) -> &'static str {
        if self.dc {
            "customfield_10106"
        } else {
            "customfield_10016"
        }
    }

    pub fn sprint_field(&self) -> &'static str {
        if self.dc {
            "customfield_10101"
        } else {
            "customfield_10020"
        }
    }

    pub async fn sprint(&self) -> (i64, String) {
        let sprints = self.jira_get("/rest/agile/1.0/board/1/sprint").await;
        let s = sprints["values"]
            .as_array()
            .and_then(|v| v.iter().find(|s| s["state"] != "closed"))
            .cloned()
            .expect("an open sprint");
        (
            s["id"].as_i64().expect("sprint id"),
            s["name"].as_str().expect("name").to_owned(),
        )
    }

    pub async fn versions(&self) -> Vec<String> {
        let v = self
            .jira_get(&format!("{}/project/DEMO/versions", self.api()))
            .await;
        v.as_array()
            .expect("versions")
            .iter()
            .filter_map(|v| v["name"].as_str().map(str::to_owned))
            .collect()
    }

    pub fn issue_sprint_ids(&self, issue: &Value) -> Vec<i64> {
        match &issue["fields"][self.sprint_field()] {
            Value::Array(a) => a
                .iter()
                .filter_map(|s| {
                    s["id"].as_i64().or_else(|| {
                        // Data Center renders sprints as strings: "...[id=1,...]".
                        s.as_str()
                            .and_then(|t| t.split("id=").nth(1))
                            .and_then(|t| t.split([',', ']']).next())
                            .and_then(|n| n.parse().ok())
                    })
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn parent_key(&self, issue: &Value) -> Option<String> {
        let f = &issue["fields"];
        f["parent"]["key"]
            .as_str()
            .or_else(|| f["customfield_10100"].as_str())
            .map(str::to_owned)
    }
}

/// A second integration of the same workspace, for project OPS (no board).
pub const OPS_INTEGRATION: &str = "apiVersion: tandem/v1
kind: ProjectIntegration
metadata:
  name: ops
spec:
  displayName: Operations
  connection: jira
  workspace: product
  project: OPS
  types:
    - {workspace: Epic, jira: Epic}
    - {workspace: Story, jira: Story}
    - {workspace: Chore, ignore: true}
    - {workspace: Defect, ignore: true}
  statuses:
    - {workspace: Todo, jira: To Do}
    - {workspace: Doing, jira: In Progress}
    - {workspace: Done, jira: Done}
  conflicts: jiraWins
  resync: 1h
";
