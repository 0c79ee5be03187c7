//! `tandem demo`: the Jira simulator and the daemon on free loopback ports, with a manifest set
//! pointed at the simulator, in a temporary directory removed on exit. Nothing to configure.
//!
//! What it shows today: the manifests are validated and reconciled (connection checked as an
//! administrator, integration checked online against the project, board, types, statuses and
//! fields), tandem registers its webhook in Jira, and Jira's webhooks arrive signed and are
//! stored durably (the guide's lit webhook icon), and a small plan (sprint, release, epic,
//! stories) is created in the embedded workspace through the admin API, ready for `curl` edits.
//! Item sync to Jira arrives with the sync engine.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use crate::daemon::{Daemon, DaemonConfig};
use crate::reconcile::runtime::RuntimeConfig;
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
    let hooks = crate::reconcile::runtime::start(
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

    println!("4/6 planning in the embedded workspace: a sprint, a release, an epic and stories");
    seed_workspace(&format!("http://{admin}"))
        .await
        .context("seeding the demo workspace through the admin API failed")?;

    println!("5/6 creating a small backlog in Jira; its webhooks come back to tandem");
    for (kind, summary) in [
        ("Epic", "Checkout redesign"),
        ("Story", "Pay with saved card"),
        ("Story", "Show delivery estimate"),
    ] {
        jira.create_issue(json!({
            "project": {"key": "DEMO"},
            "issuetype": {"name": kind},
            "summary": summary,
        }))
        .context("the simulator refused a demo issue")?;
    }
    // Webhooks are delivered asynchronously, as Jira does; give them a moment to land.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while webhook_events(&status.status()) < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("6/6 first one-time sync from Jira: every open DEMO issue into the workspace");
    first_sync(&format!("http://{admin}"))
        .await
        .context("the first sync from Jira failed")?;
    println!();
    print!("{}", super::status::render_table(&status.status()));
    println!(
        r#"
Try next (in another terminal):
  tandem status --admin http://{admin}
  curl -s http://{admin}/api/v1/status | python3 -m json.tool
  # the embedded workspace: list the items, then move a story (If-Match guards the version):
  curl -s http://{admin}/api/v1/workspaces/acme-product/items | python3 -m json.tool
  curl -s -X PATCH http://{admin}/api/v1/workspaces/acme-product/items/ITEM-2 \
       -H 'If-Match: "1"' -H 'Content-Type: application/merge-patch+json' \
       -d '{{"status":"In Progress","fields":{{"Risk":"High"}}}}'
  # create an issue in the simulated Jira; its webhook lights up the connection's event count:
  curl -s -u admin@example.com:admin-token -H 'Content-Type: application/json' \
       -X POST {jira_url}/rest/api/2/issue \
       -d '{{"fields":{{"project":{{"key":"DEMO"}},"issuetype":{{"name":"Story"}},"summary":"From curl"}}}}'
  # edit the manifests and watch status follow (an invalid edit is rejected with FILE:LINE:COL):
  $EDITOR {manifest}
Ctrl-C stops everything and removes {tmp}."#,
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

/// The demo's plan, created through the admin API like a user would.
async fn seed_workspace(admin: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let base = format!("{admin}/api/v1/workspaces/acme-product");
    let requests = [
        ("sprints", json!({"name": "Sprint 1", "state": "active"})),
        (
            "releases",
            json!({"name": "1.0", "releaseDate": "2026-12-01"}),
        ),
        (
            "items",
            json!({"type": "Epic", "title": "Checkout redesign"}),
        ),
        (
            "items",
            json!({"type": "Story", "title": "Pay with saved card", "parent": "ITEM-1",
                   "sprint": "Sprint 1", "releases": ["1.0"], "storyPoints": 3,
                   "fields": {"Risk": "Medium"}}),
        ),
        (
            "items",
            json!({"type": "Story", "title": "Show delivery estimate", "parent": "ITEM-1",
                   "releases": ["1.0"]}),
        ),
    ];
    for (path, body) in requests {
        let resp = client
            .post(format!("{base}/{path}"))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {base}/{path}"))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            anyhow::bail!("POST {base}/{path} answered {status}: {text}");
        }
    }
    Ok(())
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

fn webhook_events(status: &Value) -> u64 {
    status
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.pointer("/webhook/events").and_then(Value::as_u64))
        .sum()
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
