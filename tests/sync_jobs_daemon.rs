//! One-time sync jobs through the real `tandem run` binary and the in-process simulator:
//! `tandem sync` starts an import and exits 0 with its counts, a SyncJob manifest runs once and
//! reports `Completed`, pushing already linked items creates no issue, and an
//! import killed with SIGKILL in the middle resumes on restart to the right counts with no
//! duplicate item or link.

mod common_daemon;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common_daemon::*;
use serde_json::Value;

const GENERATED: usize = 2000;

fn manifests(dirs: &DaemonDirs, sim_url: &str) {
    paced_manifests(dirs, sim_url, "");
}

/// [`manifests`] with extra Connection spec lines (e.g. `requestsPerSecond`).
fn paced_manifests(dirs: &DaemonDirs, sim_url: &str, extra: &str) {
    dirs.secret("token", "admin-token");
    dirs.manifest("workspace.yaml", &workspace("product", "product"));
    let connection = connection("jira", "Jira", sim_url, "admin@example.com", "token", None);
    dirs.manifest("connection.yaml", &format!("{connection}{extra}"));
    common_manifests(dirs);
}

/// The same, against a Data Center simulator (basic auth `admin`/`admin`).
fn data_center_manifests(dirs: &DaemonDirs, sim_url: &str, extra: &str) {
    dirs.secret("password", "admin");
    dirs.manifest("workspace.yaml", &workspace("product", "product"));
    dirs.manifest(
        "connection.yaml",
        &format!(
            "apiVersion: tandem/v1\nkind: Connection\nmetadata:\n  name: jira\nspec:\n  displayName: Jira\n  url: {sim_url}\n  deployment: dataCenter\n  auth:\n    username: admin\n    password: {{file: password}}\n{extra}"
        ),
    );
    common_manifests(dirs);
}

fn common_manifests(dirs: &DaemonDirs) {
    dirs.manifest("fields.yaml", &field_mapping());
    dirs.manifest(
        "integration.yaml",
        &integration("demo", "Demo", "jira", "product"),
    );
}

async fn wait_integration(d: &Daemon) {
    d.wait_status("ProjectIntegration/demo Ready", |s| {
        is_current_and_ready(s, "ProjectIntegration", "demo")
    })
    .await;
}

/// Every item of the workspace, through the admin API.
async fn items(d: &Daemon) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/workspaces/product/items?limit=500&cursor={c}"),
            None => "/api/v1/workspaces/product/items?limit=500".to_owned(),
        };
        let page: Value = serde_json::from_str(&d.admin_get(&path).await).expect("JSON");
        out.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => return out,
        }
    }
}

/// Asserts that no Jira issue is linked to two items.
fn assert_linked_once(items: &[Value]) {
    let mut ids = HashSet::new();
    for item in items {
        let id = item["jira"]["id"].as_str().expect("every item is linked");
        assert!(ids.insert(id.to_owned()), "issue {id} linked to two items");
    }
}

async fn job(d: &Daemon, id: &str) -> Value {
    serde_json::from_str(&d.admin_get(&format!("/api/v1/jobs/{id}")).await).expect("job JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_sync_manifest_job_and_push_of_linked_items() {
    let sim = simulator(vec![]).await;
    sim.generate_issues(300, 11);
    let dirs = DaemonDirs::new();
    manifests(&dirs, &sim.base_url());
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    wait_integration(&d).await;

    let stories = sim
        .search("project = DEMO AND type = Story")
        .expect("search")
        .len();
    // A dry run first: what the import would create, and nothing in the workspace after it.
    let dry = d
        .cli(&[
            "sync",
            "demo",
            "--from-jira",
            "--jql",
            "type = Story",
            "--dry-run",
        ])
        .await;
    assert_eq!(dry.code, Some(0), "{dry:?}");
    assert!(items(&d).await.is_empty(), "a dry run writes nothing");
    let out = d
        .cli(&["sync", "demo", "--from-jira", "--jql", "type = Story"])
        .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let counts = |o: &CliOutput| {
        o.stdout
            .lines()
            .find(|l| l.starts_with("created="))
            .unwrap_or_else(|| panic!("no counts: {o:?}"))
            .to_owned()
    };
    assert_eq!(counts(&dry), counts(&out), "dry run and real run agree");
    let again = d
        .cli(&[
            "sync",
            "demo",
            "--from-jira",
            "--jql",
            "type = Story",
            "--dry-run",
        ])
        .await;
    assert_eq!(
        counts(&again),
        format!("created=0 updated=0 unchanged={stories} skipped=0 failed=0"),
        "{again:?}"
    );
    assert!(
        out.stdout.contains(&format!(
            "created={stories} updated=0 unchanged=0 skipped=0 failed=0"
        )),
        "{out:?}"
    );
    assert!(out.stderr.contains("completed"), "progress shown: {out:?}");

    // A SyncJob manifest runs once for its digest and says so.
    dirs.manifest(
        "job.yaml",
        "apiVersion: tandem/v1\nkind: SyncJob\nmetadata: {name: epics}\nspec:\n  integration: demo\n  direction: fromJira\n  jql: type = Epic\n",
    );
    let epics = sim
        .search("project = DEMO AND type = Epic")
        .expect("search")
        .len();
    let status = d
        .wait_status("SyncJob/epics Completed", |s| {
            ready(s, "SyncJob", "epics").is_some_and(|(ok, reason, _)| ok && reason == "Completed")
        })
        .await;
    let (_, _, message) = ready(&status, "SyncJob", "epics").expect("condition");
    assert!(message.contains(&format!("{epics} created")), "{message}");
    assert_eq!(items(&d).await.len(), stories + epics);

    // Pushing a sprint whose items all came from Jira edits them and creates nothing.
    let before = sim.issue_count();
    let out = d
        .cli(&["sync", "demo", "--to-jira", "--sprint", "DEMO Sprint 1"])
        .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("created=0 "), "{out:?}");
    assert!(!out.stdout.contains(" updated=0 "), "{out:?}");
    assert_eq!(sim.issue_count(), before);

    // An unknown integration is refused before anything starts: the job failed to start (1).
    let out = d.cli(&["sync", "nope", "--from-jira"]).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("404"), "{out:?}");
    d.stop().await;
}

/// `--dry-run` says what a push would create, writing nothing, and the real run that follows
/// does exactly that; no scope, no direction or an unknown sprint are errors, never "0/0
/// processed" (issue 15, "One-time sync").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_counts_what_the_real_push_then_does_and_bad_scopes_are_errors() {
    let sim = simulator(vec![]).await;
    let dirs = DaemonDirs::new();
    dirs.secret("token", "admin-token");
    dirs.manifest("workspace.yaml", &workspace("product", "product"));
    dirs.manifest(
        "connection.yaml",
        &connection(
            "jira",
            "Jira",
            &sim.base_url(),
            "admin@example.com",
            "token",
            None,
        ),
    );
    dirs.manifest("fields.yaml", &field_mapping());
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    d.wait_status("Workspace/product Ready", |s| {
        is_current_and_ready(s, "Workspace", "product")
    })
    .await;
    // Items planned before the integration exists wait for a one-time push.
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{}/api/v1/workspaces/product/{path}", d.admin))
            .json(&body)
            .send()
    };
    let resp = post(
        "sprints",
        serde_json::json!({"name": "DEMO Sprint 1", "state": "active"}),
    )
    .await
    .expect("create sprint");
    assert!(resp.status().is_success(), "{}", resp.status());
    for (n, sprint) in [
        (0, Some("DEMO Sprint 1")),
        (1, Some("DEMO Sprint 1")),
        (2, Some("DEMO Sprint 1")),
        (3, None),
    ] {
        let resp = post(
            "items",
            serde_json::json!({"type": "Story", "title": format!("story {n}"), "sprint": sprint}),
        )
        .await
        .expect("create item");
        assert!(resp.status().is_success(), "{}", resp.status());
    }
    common_manifests(&dirs);
    wait_integration(&d).await;

    let out = d.cli(&["sync", "demo"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("--from-jira") && out.stderr.contains("--to-jira"),
        "{out:?}"
    );
    let out = d.cli(&["sync", "demo", "--to-jira"]).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("--all") && out.stderr.contains("--sprint"),
        "{out:?}"
    );
    let before = sim.issue_count();
    let out = d
        .cli(&["sync", "demo", "--to-jira", "--sprint", "Sprint 8"])
        .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("no sprint named Sprint 8") && out.stderr.contains("DEMO Sprint 1"),
        "{out:?}"
    );
    let out = d
        .cli(&["sync", "demo", "--to-jira", "--release", "9.9"])
        .await;
    assert_eq!(out.code, Some(1), "{out:?}");

    let dry = d
        .cli(&[
            "sync",
            "demo",
            "--to-jira",
            "--sprint",
            "DEMO Sprint 1",
            "--dry-run",
        ])
        .await;
    assert_eq!(dry.code, Some(0), "{dry:?}");
    assert_eq!(
        sim.issue_count(),
        before,
        "a dry run writes nothing to Jira"
    );
    assert_eq!(
        dry.stdout
            .lines()
            .filter(|l| l.starts_with("+ would create"))
            .count(),
        3,
        "{dry:?}"
    );
    assert!(dry.stderr.contains("nothing was written"), "{dry:?}");
    let counts = |out: &CliOutput| {
        out.stdout
            .lines()
            .find(|l| l.starts_with("created="))
            .unwrap_or_else(|| panic!("no counts: {out:?}"))
            .to_owned()
    };
    assert_eq!(
        counts(&dry),
        "created=3 updated=0 unchanged=0 skipped=0 failed=0"
    );
    let unlinked = items(&d).await;
    assert!(
        unlinked.iter().all(|i| i["jira"].is_null()),
        "no links: {unlinked:?}"
    );

    let real = d
        .cli(&["sync", "demo", "--to-jira", "--sprint", "DEMO Sprint 1"])
        .await;
    assert_eq!(real.code, Some(0), "{real:?}");
    assert_eq!(counts(&real), counts(&dry), "{real:?}");
    assert_eq!(sim.issue_count(), before + 3);
    // And now the dry run says the same items would be updated.
    let again = d
        .cli(&[
            "sync",
            "demo",
            "--to-jira",
            "--sprint",
            "DEMO Sprint 1",
            "--dry-run",
        ])
        .await;
    assert_eq!(
        counts(&again),
        "created=0 updated=3 unchanged=0 skipped=0 failed=0",
        "{again:?}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_import_killed_mid_way_resumes_without_duplicates() {
    import_killed_mid_way(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_import_killed_mid_way_resumes_without_duplicates() {
    import_killed_mid_way(true).await;
}

/// The import keeps about ten batches in flight when it is killed (a Jira 1 s away, paced at 10
/// requests per second), so the stored cursor must not pass any of them.
async fn import_killed_mid_way(data_center: bool) {
    const PACED: &str = "  requestsPerSecond: 10\n";
    let dirs = DaemonDirs::new();
    let sim = if data_center {
        let sim = tandem::sim::Simulator::start(tandem::sim::SimConfig::new(
            tandem::sim::Deployment::DataCenter,
        ))
        .await
        .expect("simulator");
        data_center_manifests(&dirs, &sim.base_url(), PACED);
        sim
    } else {
        let sim = simulator(vec![]).await;
        paced_manifests(&dirs, &sim.base_url(), PACED);
        sim
    };
    sim.generate_issues(GENERATED, 5);
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    wait_integration(&d).await;

    let jql = "type in (Epic, Story, Task)";
    let matching = sim
        .search(&format!("project = DEMO AND ({jql})"))
        .expect("search");
    let mapped = sim
        .search("project = DEMO AND type in (Epic, Story)")
        .expect("search")
        .len() as u64;

    // A far-away Jira: the job is surely in the middle, with batches in flight, when the
    // daemon dies.
    sim.set_latency(Duration::from_millis(1000));
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/integrations/demo/sync", d.admin))
        .json(&serde_json::json!({"direction": "fromJira", "jql": jql}))
        .send()
        .await
        .expect("POST sync");
    assert_eq!(resp.status().as_u16(), 202);
    let started: Value = resp.json().await.expect("JSON");
    let id = started["id"].as_str().expect("id").to_owned();

    let deadline = Instant::now() + GUARD;
    loop {
        let j = job(&d, &id).await;
        assert_eq!(j["state"], "running", "killed too late: {j}");
        if j["processed"].as_u64().unwrap_or(0) >= 300 {
            break;
        }
        assert!(Instant::now() < deadline, "the job made no progress: {j}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, _) = d.kill().await;
    sim.set_latency(Duration::ZERO);

    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    let deadline = Instant::now() + GUARD * 4;
    let done = loop {
        let j = job(&d, &id).await;
        if j["state"] != "running" {
            break j;
        }
        assert!(Instant::now() < deadline, "the job never finished: {j}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["state"], "completed", "{done}");
    assert!(done["resumed"].as_u64().unwrap_or(0) >= 1, "{done}");
    let c = &done["counts"];
    assert_eq!(c["failed"], 0, "{done}");
    assert_eq!(c["created"].as_u64(), Some(mapped), "{done}");
    assert_eq!(
        c["skipped"].as_u64(),
        Some(matching.len() as u64 - mapped),
        "Tasks are not mapped: {done}"
    );
    assert_eq!(done["processed"].as_u64(), Some(matching.len() as u64));

    let all = items(&d).await;
    assert_eq!(all.len() as u64, mapped, "no duplicate items");
    assert_linked_once(&all);
    d.stop().await;
    let links = with_store(&dirs.state, |s| s.count_links("demo").expect("count")).await;
    assert_eq!(links, mapped, "no duplicate links");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_killed_mid_way_resumes_without_duplicate_issues() {
    const ITEMS: usize = 120;
    let sim = simulator(vec![]).await;
    let dirs = DaemonDirs::new();
    manifests(&dirs, &sim.base_url());
    // The backlog is planned before the integration exists (items created while it is live
    // would be pushed by the live engine at once): then it is pushed "to development".
    std::fs::remove_file(dirs.manifests.join("integration.yaml")).expect("no integration yet");
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    // The workspace API answers 404 until the first manifest set is applied.
    d.wait_status("Workspace/product Ready", |s| {
        is_current_and_ready(s, "Workspace", "product")
    })
    .await;

    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/api/v1/workspaces/product/sprints", d.admin))
        .json(&serde_json::json!({"name": "DEMO Sprint 1", "state": "active"}))
        .send()
        .await
        .expect("create sprint");
    assert!(resp.status().is_success(), "{}", resp.status());
    for n in 0..ITEMS {
        let resp = http
            .post(format!("{}/api/v1/workspaces/product/items", d.admin))
            .json(&serde_json::json!({"type": "Story", "title": format!("story {n}"), "sprint": "DEMO Sprint 1"}))
            .send()
            .await
            .expect("create item");
        assert!(resp.status().is_success(), "{}", resp.status());
    }
    dirs.manifest(
        "integration.yaml",
        &integration("demo", "Demo", "jira", "product"),
    );
    wait_integration(&d).await;
    let before = sim.issue_count();

    sim.set_latency(Duration::from_millis(40));
    let resp = http
        .post(format!("{}/api/v1/integrations/demo/sync", d.admin))
        .json(&serde_json::json!({"direction": "toJira", "scope": {"sprints": ["DEMO Sprint 1"]}}))
        .send()
        .await
        .expect("POST sync");
    assert_eq!(resp.status().as_u16(), 202);
    let started: Value = resp.json().await.expect("JSON");
    let id = started["id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + GUARD;
    while sim.issue_count() < before + 10 {
        assert!(Instant::now() < deadline, "the push made no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, _) = d.kill().await;
    let at_kill = sim.issue_count() - before;
    assert!(at_kill < ITEMS, "killed too late: {at_kill} issues already");
    sim.set_latency(Duration::ZERO);

    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    let deadline = Instant::now() + GUARD * 4;
    let done = loop {
        let j = job(&d, &id).await;
        if j["state"] != "running" {
            break j;
        }
        assert!(Instant::now() < deadline, "the job never finished: {j}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["counts"]["failed"], 0, "{done}");
    assert_eq!(
        done["counts"]["created"].as_u64(),
        Some(ITEMS as u64),
        "{done}"
    );
    assert_eq!(
        sim.issue_count() - before,
        ITEMS,
        "one issue per item, none twice"
    );
    let all = items(&d).await;
    assert_linked_once(&all);
    let in_sprint = sim
        .search("project = DEMO AND sprint = \"DEMO Sprint 1\" AND labels is not EMPTY")
        .expect("search")
        .len();
    assert_eq!(in_sprint, ITEMS, "every pushed issue is in the sprint");
    d.stop().await;
}
