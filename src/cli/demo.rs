//! `tandem demo`: the Jira simulator and the daemon on free loopback ports, with a manifest set
//! pointed at the simulator, in a temporary directory removed on exit. Nothing to configure.
//!
//! What it shows: the manifests are validated and reconciled (connection checked as an
//! administrator, integration checked online against the project, board, types, statuses and
//! fields) and tandem registers its webhook in Jira; a small plan (sprint, release, epic,
//! stories) created in the embedded workspace is pushed to Jira live by the sync engine;
//! changes made in Jira come back through signed webhooks (the guide's lit webhook icon); the
//! one-time sync from Jira imports the rest with progress; then it prints what to try next.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use crate::app::{self, RuntimeConfig};
use crate::daemon::{Daemon, DaemonConfig};
use crate::sim::{self, SimConfig, Simulator};

/// A directory under the system temp dir that is removed when dropped (also on error paths).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let path = std::env::temp_dir().join(format!("tandem-demo-{}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run() -> ExitCode {
    if let Err(e) = crate::daemon::logging::init_with_default("warn") {
        eprintln!("error: {}", super::error_chain(&e));
        return ExitCode::from(super::EXIT_USAGE);
    }
    let runtime = match super::runtime(true, ExitCode::FAILURE) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = runtime.block_on(demo());
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The demo's manifests: the examples' shape, pointed at the simulator's DEMO project.
fn manifests(jira_url: &str, public_url: &str) -> String {
    format!(
        r#"apiVersion: tandem/v1
kind: Workspace
metadata: {{name: acme-product}}
spec:
  id: acme-product
  itemTypes:
    - name: Epic
    - name: Story
      parent: Epic
  statuses: [Backlog, In Progress, Done]
  fields:
    - {{name: Risk, type: singleSelect, options: [Low, Medium, High]}}
---
apiVersion: tandem/v1
kind: Connection
metadata: {{name: demo-jira}}
spec:
  displayName: Demo Jira
  url: {jira_url}
  auth:
    email: admin@example.com
    apiToken: {{file: jira-token}}
  webhookSecret: {{file: webhook-secret}}
  webhook: {{publicUrl: "{public_url}"}}
---
apiVersion: tandem/v1
kind: FieldMapping
metadata: {{name: demo-fields}}
spec:
  primary:
    components: true
    storyPoints: auto
    releases: true
---
apiVersion: tandem/v1
kind: ProjectIntegration
metadata: {{name: demo}}
spec:
  displayName: Demo project
  connection: demo-jira
  workspace: acme-product
  project: DEMO
  board: 1
  fieldMapping: demo-fields
  types:
    - {{workspace: Epic, jira: Epic}}
    - {{workspace: Story, jira: Story}}
  statuses:
    - {{workspace: Backlog, jira: To Do}}
    - {{workspace: In Progress, jira: In Progress}}
    - {{workspace: Done, jira: Done}}
"#
    )
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

async fn demo() -> anyhow::Result<()> {
    let tmp = TempDir::new().context("cannot create the demo's temporary directory")?;
    let (manifest_dir, state_dir, secrets_dir) = (
        tmp.0.join("manifests"),
        tmp.0.join("state"),
        tmp.0.join("secrets"),
    );
    for d in [&manifest_dir, &state_dir, &secrets_dir] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }

    println!("1/6 starting the Jira simulator (Cloud dialect)");
    let jira = Simulator::start(SimConfig::new(sim::Deployment::Cloud))
        .await
        .context("cannot start the Jira simulator")?;
    let jira_url = jira.base_url();

    let mut config = DaemonConfig::new(state_dir, manifest_dir.clone());
    config.listen = "127.0.0.1:0".into();
    config.admin = "127.0.0.1:0".into();
    config.secret_dirs = vec![secrets_dir.clone()];
    let daemon = Daemon::start(config)
        .await
        .context("cannot start the daemon")?;
    let public = daemon
        .public_addr()
        .context("public listener has no address")?;
    let admin = daemon
        .admin_addr()
        .context("admin listener has no address")?;

    println!("2/6 writing manifests to {}", manifest_dir.display());
    write(&secrets_dir.join("jira-token"), "admin-token\n")?;
    write(&secrets_dir.join("webhook-secret"), "demo-webhook-secret\n")?;
    write(
        &manifest_dir.join("demo.yaml"),
        &manifests(&jira_url, &format!("http://{public}")),
    )?;

    let mut tasks = tokio::task::JoinSet::new();
    let hooks = app::start(
        RuntimeConfig::new(manifest_dir.clone(), vec![secrets_dir.clone()]),
        daemon.store().clone(),
        daemon.shutdown_receiver(),
        &mut tasks,
    );
    let status = hooks.status.clone().context("runtime provides status")?;
    // Serve from here on: Jira's webhooks need the public listener, Ctrl-C stops it all.
    let mut served = tokio::spawn(daemon.run(hooks));

    println!("3/6 reconciling: connection check, online checks, webhook registration");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = status.status();
        if all_ready(&s) {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            print!("{}", super::status::render_table(&s));
            served.abort();
            anyhow::bail!("the demo's resources did not become Ready within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let admin_url = format!("http://{admin}");
    println!("4/6 planning in the embedded workspace; the sync engine pushes it to Jira live");
    let seeded = seed_workspace(&admin_url)
        .await
        .context("seeding the demo workspace through the admin API failed")?;
    let mut story_key = String::new();
    for (id, what) in &seeded {
        let item = wait_item(&admin_url, id, |i| i["jira"]["key"].is_string())
            .await
            .with_context(|| format!("{id} was not pushed to Jira within 30 s"))?;
        let key = item["jira"]["key"].as_str().unwrap_or_default().to_owned();
        println!("    pushed {id} {what} -> {key}");
        if story_key.is_empty() && item["type"] == "Story" {
            story_key = key;
        }
    }

    println!("5/6 changing Jira; its webhooks bring the changes back to the workspace");
    let created = jira
        .create_issue(json!({
            "project": {"key": "DEMO"},
            "issuetype": {"name": "Story"},
            "summary": "Show delivery estimate at checkout",
        }))
        .context("the simulator refused a demo issue")?;
    jira.transition_issue(&story_key, "In Progress")
        .context("the simulator refused a demo transition")?;
    let story_id = seeded
        .iter()
        .find(|(_, what)| what.starts_with("Story"))
        .map(|(id, _)| id.clone())
        .unwrap_or_default();
    let moved = wait_item(&admin_url, &story_id, |i| i["status"] == "In Progress")
        .await
        .context("the Jira transition did not reach the workspace within 30 s")?;
    println!(
        "    pulled {story_key} moved to In Progress in Jira -> {story_id} is \"{}\"",
        moved["status"].as_str().unwrap_or("?")
    );
    let pulled = wait_linked(&admin_url, &created.key)
        .await
        .context("the issue created in Jira did not reach the workspace within 30 s")?;
    println!(
        "    pulled {} created in Jira -> {} \"{}\"",
        created.key,
        pulled["id"].as_str().unwrap_or("?"),
        pulled["title"].as_str().unwrap_or("?")
    );
    println!("6/6 first one-time sync from Jira: every open DEMO issue into the workspace");
    first_sync(&admin_url)
        .await
        .context("the first sync from Jira failed")?;
    println!();
    print!("{}", super::status::render_table(&status.status()));
    println!(
        r#"
Try next (in another terminal):
  tandem status --admin http://{admin}
  # edit the story in the workspace (If-Match guards its version); Jira follows in a moment:
  curl -s -X PATCH http://{admin}/api/v1/workspaces/acme-product/items/{story_id} \
       -H 'If-Match: "{version}"' -H 'Content-Type: application/merge-patch+json' \
       -d '{{"title":"Pay with a saved card or wallet","storyPoints":5}}'
  curl -s -u admin@example.com:admin-token {jira_url}/rest/api/2/issue/{story_key}?fields=summary,customfield_10016
  # move the issue back to To Do in Jira; the item follows through the webhook:
  curl -s -u admin@example.com:admin-token -H 'Content-Type: application/json' \
       -X POST {jira_url}/rest/api/2/issue/{story_key}/transitions -d '{{"transition":{{"id":"11"}}}}'
  curl -s http://{admin}/api/v1/workspaces/acme-product/items/{story_id}
  # what the sync did to the item, conflicts included:
  curl -s http://{admin}/api/v1/workspaces/acme-product/items/{story_id}/history
  # edit the manifests and watch status follow (an invalid edit is rejected with FILE:LINE:COL):
  $EDITOR {manifest}
Ctrl-C stops everything and removes {tmp}."#,
        version = current_version(&admin_url, &story_id).await,
        manifest = manifest_dir.join("demo.yaml").display(),
        tmp = tmp.0.display(),
    );

    let result = (&mut served).await.context("the daemon task failed")?;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let _ = jira.shutdown().await;
    result.context("the daemon stopped with an error")?;
    println!("stopped; removed {}", tmp.0.display());
    Ok(())
}

/// The demo's plan, created through the admin API like a user would. Returns the items as
/// (id, short description), in creation order.
async fn seed_workspace(admin: &str) -> anyhow::Result<Vec<(String, String)>> {
    let client = reqwest::Client::new();
    let base = format!("{admin}/api/v1/workspaces/acme-product");
    let post = |path: &'static str, body: Value| {
        let client = client.clone();
        let url = format!("{base}/{path}");
        async move {
            let resp = client
                .post(&url)
                .json(&body)
                .send()
                .await
                .with_context(|| format!("POST {url}"))?;
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            if !status.is_success() {
                anyhow::bail!("POST {url} answered {status}: {text}");
            }
            Ok::<Value, anyhow::Error>(serde_json::from_str(&text).unwrap_or_default())
        }
    };
    post("sprints", json!({"name": "Sprint 2", "state": "future"})).await?;
    post(
        "releases",
        json!({"name": "1.1", "releaseDate": "2026-12-15"}),
    )
    .await?;
    let epic = post(
        "items",
        json!({"type": "Epic", "title": "Checkout redesign"}),
    )
    .await?;
    let epic_id = epic["id"].as_str().unwrap_or_default().to_owned();
    let story = post(
        "items",
        json!({"type": "Story", "title": "Pay with saved card", "parent": epic_id,
               "sprint": "Sprint 2", "releases": ["1.1"], "storyPoints": 3,
               "fields": {"Risk": "Medium"}}),
    )
    .await?;
    Ok(vec![
        (epic_id, "Epic \"Checkout redesign\"".to_owned()),
        (
            story["id"].as_str().unwrap_or_default().to_owned(),
            "Story \"Pay with saved card\" (Sprint 2, release 1.1, 3 points)".to_owned(),
        ),
    ])
}

/// Polls an item through the admin API until `pred` holds (30 s at most).
async fn wait_item(admin: &str, id: &str, pred: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    let url = format!("{admin}/api/v1/workspaces/acme-product/items/{id}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let item: Value = reqwest::get(&url).await?.error_for_status()?.json().await?;
        if pred(&item) {
            return Ok(item);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("gave up waiting on {id}: {item}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls the workspace until an item is linked to the Jira issue `key` (30 s at most).
async fn wait_linked(admin: &str, key: &str) -> anyhow::Result<Value> {
    let url = format!("{admin}/api/v1/workspaces/acme-product/items?limit=500");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let page: Value = reqwest::get(&url).await?.error_for_status()?.json().await?;
        if let Some(item) = page["items"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["jira"]["key"] == key))
        {
            return Ok(item.clone());
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("no item is linked to {key}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The item's version, for the If-Match in the printed hint.
async fn current_version(admin: &str, id: &str) -> u64 {
    wait_item(admin, id, |_| true)
        .await
        .ok()
        .and_then(|i| i["version"].as_u64())
        .unwrap_or(1)
}

fn all_ready(status: &Value) -> bool {
    let Some(resources) = status.get("resources").and_then(Value::as_array) else {
        return false;
    };
    resources.len() >= 4
        && resources.iter().all(|r| {
            r.get("conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == true)
                })
        })
}

/// Starts the guide's "Jira => workspace" one-time sync through the admin API, as
/// `tandem sync demo --from-jira` would, and prints its progress and counts.
async fn first_sync(admin: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let started: Value = http
        .post(format!("{admin}/api/v1/integrations/demo/sync"))
        .json(&json!({"direction": "fromJira"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = started["id"]
        .as_str()
        .context("the job has no id")?
        .to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let job: Value = http
            .get(format!("{admin}/api/v1/jobs/{id}"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let counts = &job["counts"];
        println!(
            "    job {id}: {} — {} issues read (created {}, updated {}, unchanged {}, skipped {}, failed {})",
            job["state"].as_str().unwrap_or("?"),
            job["processed"].as_u64().unwrap_or(0),
            counts["created"], counts["updated"], counts["unchanged"], counts["skipped"], counts["failed"],
        );
        match job["state"].as_str() {
            Some("completed") => return Ok(()),
            Some("failed") => anyhow::bail!(
                "job {id} failed: {}",
                job["message"].as_str().unwrap_or("no reason given")
            ),
            _ if tokio::time::Instant::now() > deadline => {
                anyhow::bail!("job {id} did not finish within 60 s")
            }
            _ => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}
