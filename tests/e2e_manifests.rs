//! The real `tandem run` against the Jira simulator, as someone pushing manifests sees it: a
//! change reaches Ready, an invalid edit leaves the previous version running and says where it
//! is wrong, a symlink swap (status naming the applied git commit) or a burst of writes is one
//! change, and an emptied or removed directory deletes nothing (DESIGN §5, guarantees 5 and 6).

mod common_daemon;

use std::path::Path;
use std::time::Duration;

use common_daemon::*;
use serde_json::{json, Value};

const KIND_PI: &str = "ProjectIntegration";

/// The four files of a working set against the simulator at `url`.
fn base_set(url: &str, pi_display: &str) -> Vec<(&'static str, String)> {
    vec![
        ("workspace.yaml", workspace("product", "product")),
        ("fields.yaml", field_mapping()),
        (
            "connection.yaml",
            connection(
                "sim",
                "Simulated Jira",
                url,
                "admin@example.com",
                "jira-token",
                None,
            ),
        ),
        (
            "integration-demo.yaml",
            integration("demo", pi_display, "sim", "product"),
        ),
    ]
}

fn write_set(dir: &Path, files: &[(&str, String)]) {
    std::fs::create_dir_all(dir).expect("create dir");
    for (name, text) in files {
        write_atomically(&dir.join(name), text);
    }
}

fn digest(status: &Value, kind: &str, name: &str) -> String {
    resource(status, kind, name)
        .and_then(|r| r["digest"].as_str())
        .unwrap_or_else(|| panic!("{kind}/{name} has no digest: {status:#}"))
        .to_owned()
}

fn observed(status: &Value, kind: &str, name: &str) -> String {
    resource(status, kind, name)
        .and_then(|r| r["observedDigest"].as_str())
        .unwrap_or_else(|| panic!("{kind}/{name} has no observedDigest: {status:#}"))
        .to_owned()
}

fn display_name(status: &Value, kind: &str, name: &str) -> String {
    resource(status, kind, name)
        .and_then(|r| r["details"]["displayName"].as_str())
        .unwrap_or("")
        .to_owned()
}

/// Makes `dir` a git repository with everything in it committed; returns the commit id, or
/// `None` (with a note) when no `git` binary is available, which only skips the provenance
/// assertions.
fn commit_all(dir: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(["-c", "user.name=e2e", "-c", "user.email=e2e@example.com"])
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(dir)
            .output()
    };
    match git(&["init", "-q"]) {
        Ok(out) if out.status.success() => {}
        _ => {
            eprintln!("SKIPPED: provenance assertions (no usable git binary)");
            return None;
        }
    }
    for args in [&["add", "-A"][..], &["commit", "-q", "-m", "revision"]] {
        let out = git(args).expect("git");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }
    let out = git(&["rev-parse", "HEAD"]).expect("git rev-parse");
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Longer than the watcher's maximum batching delay (2 s): a second publication of the same
/// change would have happened by then.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(2500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_set_reaches_ready_and_an_edit_becomes_the_observed_digest() {
    let sim = simulator(Vec::new()).await;
    let dirs = DaemonDirs::new();
    dirs.secret("jira-token", "admin-token");
    write_set(&dirs.manifests, &base_set(&sim.base_url(), "Demo project"));
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;

    let before = d.wait_status("every resource Ready", all_ready).await;
    for (kind, name) in [
        ("Workspace", "product"),
        ("FieldMapping", "demo-fields"),
        ("Connection", "sim"),
        (KIND_PI, "demo"),
    ] {
        assert!(
            is_current_and_ready(&before, kind, name),
            "{kind}/{name}: {before:#}"
        );
    }
    assert_eq!(display_name(&before, KIND_PI, "demo"), "Demo project");
    let old = digest(&before, KIND_PI, "demo");

    dirs.manifest(
        "integration-demo.yaml",
        &integration("demo", "Demo project (renamed)", "sim", "product"),
    );
    let after = d
        .wait_status("the edited integration observed and Ready", |s| {
            resource(s, KIND_PI, "demo").is_some_and(|r| r["digest"] != old.as_str())
                && is_current_and_ready(s, KIND_PI, "demo")
        })
        .await;
    assert_ne!(observed(&after, KIND_PI, "demo"), old);
    assert_eq!(
        display_name(&after, KIND_PI, "demo"),
        "Demo project (renamed)"
    );
    assert_eq!(generation(&after), generation(&before) + 1);
    // The untouched resources were not disturbed.
    assert_eq!(
        observed(&after, "Connection", "sim"),
        observed(&before, "Connection", "sim")
    );
    sim.shutdown().await.expect("sim shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_edit_keeps_the_previous_version_running_and_says_file_line_column() {
    let sim = simulator(Vec::new()).await;
    let dirs = DaemonDirs::new();
    dirs.secret("jira-token", "admin-token");
    write_set(&dirs.manifests, &base_set(&sim.base_url(), "Demo project"));
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    let before = d.wait_status("every resource Ready", all_ready).await;
    let good = digest(&before, KIND_PI, "demo");

    // An unknown field on line 7, column 3, in an otherwise changed spec.
    let bad = integration("demo", "Half-edited", "sim", "product").replacen(
        "  connection: sim\n",
        "  colour: blue\n  connection: sim\n",
        1,
    );
    assert_eq!(bad.lines().nth(6), Some("  colour: blue"));
    dirs.manifest("integration-demo.yaml", &bad);

    let status = d
        .wait_status("the rejected edit", |s| {
            resource(s, KIND_PI, "demo").is_some_and(|r| r["rejected"].is_array())
        })
        .await;
    let r = resource(&status, KIND_PI, "demo").expect("integration still listed");
    let why: Vec<&str> = r["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        why.iter()
            .any(|w| w.contains("integration-demo.yaml:7:3:") && w.contains("colour")),
        "rejection must name FILE:LINE:COL and the field: {why:?}"
    );
    // The last good version keeps running.
    assert_eq!(r["digest"], good.as_str(), "{r:#}");
    assert_eq!(r["observedDigest"], good.as_str(), "{r:#}");
    assert!(is_current_and_ready(&status, KIND_PI, "demo"), "{r:#}");
    assert_eq!(display_name(&status, KIND_PI, "demo"), "Demo project");

    // People see it in `tandem status` too, which exits 1 while an edit is rejected: the
    // header names the file, line and column, the row says the edit is rejected.
    let table = d.cli(&["status"]).await;
    assert_eq!(table.code, Some(1), "{table:?}");
    assert!(
        table.stdout.contains("REJECTED edits: 1 error(s)")
            && table.stdout.contains("integration-demo.yaml:7:3:"),
        "{table:?}"
    );
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with(KIND_PI) && l.contains(" demo "))
        .unwrap_or_else(|| panic!("no demo row: {}", table.stdout));
    assert!(row.contains("True"), "{row}");
    assert!(row.contains("REJECTED EDIT"), "{row}");

    // `tandem plan` refuses to plan an invalid directory and says where it is wrong.
    let plan = d
        .cli(&["plan", dirs.manifests.to_str().expect("utf8")])
        .await;
    assert_eq!(plan.code, Some(1), "{plan:?}");
    assert!(
        plan.stderr.contains("integration-demo.yaml:7:3:"),
        "{plan:?}"
    );

    // Fixing the file applies the new version and clears the rejection.
    dirs.manifest(
        "integration-demo.yaml",
        &integration("demo", "Fixed", "sim", "product"),
    );
    let fixed = d
        .wait_status("the fixed edit observed", |s| {
            resource(s, KIND_PI, "demo")
                .is_some_and(|r| r["digest"] != good.as_str() && r["rejected"].is_null())
                && is_current_and_ready(s, KIND_PI, "demo")
        })
        .await;
    assert_eq!(display_name(&fixed, KIND_PI, "demo"), "Fixed");
    sim.shutdown().await.expect("sim shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_atomic_symlink_swap_of_the_directory_is_applied_once() {
    let sim = simulator(Vec::new()).await;
    let dirs = DaemonDirs::new();
    dirs.secret("jira-token", "admin-token");
    // git-sync's layout: `current` points at one checked-out revision at a time.
    let sync = dirs.tmp.path().join("sync");
    write_set(
        &sync.join("gen1"),
        &base_set(&sim.base_url(), "Demo project"),
    );
    let mut gen2 = base_set(&sim.base_url(), "Demo project, second revision");
    gen2.push(("workspace-extra.yaml", workspace("extra", "extra")));
    write_set(&sync.join("gen2"), &gen2);
    // Each revision is a commit, so status can say which one is applied.
    let commits = ["gen1", "gen2"].map(|g| commit_all(&sync.join(g)));
    let current = sync.join("current");
    std::os::unix::fs::symlink("gen1", &current).expect("symlink");

    let d = Daemon::start(
        &dirs,
        DaemonOptions {
            manifests: Some(current.clone()),
            ..DaemonOptions::default()
        },
    )
    .await;
    let before = d.wait_status("every resource Ready", all_ready).await;
    let g0 = generation(&before);
    let old = digest(&before, KIND_PI, "demo");
    assert!(resource(&before, "Workspace", "extra").is_none());
    if let Some(sha) = &commits[0] {
        assert_eq!(before["manifests"]["commit"], sha.as_str());
    }

    // The swap: a new symlink renamed over the old one, atomically.
    let tmp_link = sync.join(".current.tmp");
    std::os::unix::fs::symlink("gen2", &tmp_link).expect("temp symlink");
    std::fs::rename(&tmp_link, &current).expect("swap");

    let after = d
        .wait_status("the second revision applied", |s| {
            resource(s, KIND_PI, "demo").is_some_and(|r| r["digest"] != old.as_str())
                && all_ready(s)
                && resource(s, "Workspace", "extra").is_some()
        })
        .await;
    assert_eq!(
        display_name(&after, KIND_PI, "demo"),
        "Demo project, second revision"
    );
    assert!(
        after["manifests"]["resolvedDir"]
            .as_str()
            .is_some_and(|d| d.ends_with("gen2")),
        "{:#}",
        after["manifests"]
    );
    if let Some(sha) = &commits[1] {
        assert_eq!(after["manifests"]["commit"], sha.as_str());
    }
    settle().await;
    let later = d.status().await;
    assert_eq!(
        generation(&later),
        g0 + 1,
        "the swap must be one change: {:#}",
        later["manifests"]
    );
    sim.shutdown().await.expect("sim shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_thirty_file_writes_is_applied_once() {
    let sim = simulator(Vec::new()).await;
    let dirs = DaemonDirs::new();
    dirs.secret("jira-token", "admin-token");
    write_set(&dirs.manifests, &base_set(&sim.base_url(), "Demo project"));
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    let before = d.wait_status("every resource Ready", all_ready).await;
    let g0 = generation(&before);

    // What a `git checkout` does: many files change at once. One existing file is edited,
    // 29 are added. The contents are prepared first so the burst itself is only renames into
    // place, as quick as a checkout's, however loaded the machine running the test is.
    let staging = dirs.tmp.path().join("staging");
    let mut burst = vec![(
        "integration-demo.yaml".to_owned(),
        integration("demo", "Demo after checkout", "sim", "product"),
    )];
    for i in 0..29 {
        let name = format!("team-{i:02}");
        burst.push((format!("{name}.yaml"), workspace(&name, &name)));
    }
    std::fs::create_dir_all(&staging).expect("staging dir");
    for (name, text) in &burst {
        std::fs::write(staging.join(name), text).expect("stage");
    }
    for (name, _) in &burst {
        std::fs::rename(staging.join(name), dirs.manifests.join(name)).expect("write");
    }
    let after = d
        .wait_status("all 30 writes applied", |s| {
            (0..29).all(|i| is_current_and_ready(s, "Workspace", &format!("team-{i:02}")))
                && display_name(s, KIND_PI, "demo") == "Demo after checkout"
                && all_ready(s)
        })
        .await;
    assert_eq!(
        generation(&after),
        g0 + 1,
        "30 writes must be one change: {:#}",
        after["manifests"]
    );
    settle().await;
    assert_eq!(generation(&d.status().await), g0 + 1);
    sim.shutdown().await.expect("sim shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emptying_or_removing_the_directory_deletes_nothing_and_files_coming_back_apply() {
    let sim = simulator(Vec::new()).await;
    let dirs = DaemonDirs::new();
    dirs.secret("jira-token", "admin-token");
    seed_links(&dirs.state, "demo", "sim", 3).await;
    let set = base_set(&sim.base_url(), "Demo project");
    write_set(&dirs.manifests, &set);
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    let before = d.wait_status("every resource Ready", all_ready).await;
    let g0 = generation(&before);
    let count = before["resources"].as_array().map(Vec::len);
    assert_eq!(resource(&before, KIND_PI, "demo").unwrap()["links"], 3);

    let unchanged = |s: &Value| {
        assert_eq!(s["resources"].as_array().map(Vec::len), count, "{s:#}");
        assert!(all_ready(s), "{s:#}");
        assert_eq!(resource(s, KIND_PI, "demo").unwrap()["links"], 3, "{s:#}");
        assert_eq!(generation(s), g0, "{:#}", s["manifests"]);
    };

    for (name, _) in &set {
        std::fs::remove_file(dirs.manifests.join(name)).expect("remove");
    }
    let empty = d
        .wait_status("the empty directory reported", |s| {
            s["manifests"]["problem"]
                .as_str()
                .is_some_and(|p| p.contains("no manifests"))
        })
        .await;
    unchanged(&empty);

    std::fs::remove_dir(&dirs.manifests).expect("remove dir");
    let missing = d
        .wait_status("the missing directory reported", |s| {
            s["manifests"]["problem"]
                .as_str()
                .is_some_and(|p| p.contains("does not exist"))
        })
        .await;
    unchanged(&missing);
    let table = d.cli(&["status"]).await;
    assert!(
        table
            .stdout
            .contains("PROBLEM: the manifest directory does not exist"),
        "{table:?}"
    );

    // Files come back (with one edit): applied as usual, problem gone.
    let mut back = set.clone();
    back[3].1 = integration("demo", "Demo is back", "sim", "product");
    write_set(&dirs.manifests, &back);
    let restored = d
        .wait_status("the files applied again", |s| {
            s["manifests"]["problem"].is_null()
                && display_name(s, KIND_PI, "demo") == "Demo is back"
                && all_ready(s)
        })
        .await;
    assert_eq!(generation(&restored), g0 + 1);
    assert_eq!(resource(&restored, KIND_PI, "demo").unwrap()["links"], 3);
    let (exit, log) = d.stop().await;
    assert!(exit.success(), "{exit:?}\n{}", log.join("\n"));
    let links = with_store(&dirs.state, |s| s.count_links("demo").expect("count")).await;
    assert_eq!(links, 3, "nothing may be deleted by an empty directory");
    sim.shutdown().await.expect("sim shutdown");
}

/// In a git work tree the daemon runs the checked-out commit: an edit that is not committed
/// does not run and is listed (status `manifests.uncommitted`, the page at `/`) until it is
/// committed, which applies it (issue 15, "Uncommitted edits run"; issue 16, the page's
/// manifests section).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncommitted_edit_is_listed_until_it_is_committed() {
    let sim = simulator(Vec::new()).await;
    let dirs = DaemonDirs::new();
    dirs.secret("jira-token", "admin-token");
    write_set(&dirs.manifests, &base_set(&sim.base_url(), "Demo project"));
    let git = |args: &[&str]| common_daemon::git(&dirs.manifests, args);
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "manifests"]);
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    let clean = d.wait_status("every resource Ready", all_ready).await;
    assert_eq!(clean["manifests"]["uncommitted"], json!([]), "{clean:#}");

    dirs.manifest(
        "integration-demo.yaml",
        &integration("demo", "Demo project (not committed)", "sim", "product"),
    );
    let dirty = d
        .wait_status("the edit is listed as uncommitted", |s| {
            s["manifests"]["uncommitted"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
        .await;
    assert_eq!(
        dirty["manifests"]["uncommitted"],
        json!(["integration-demo.yaml (modified)"]),
        "{dirty:#}"
    );
    assert_eq!(dirty["manifests"]["source"], "git", "{dirty:#}");
    assert_eq!(display_name(&dirty, KIND_PI, "demo"), "Demo project");
    let page = d
        .admin_request(reqwest::Method::GET, "/")
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("page text");
    assert!(
        page.contains("Uncommitted")
            && page.contains("ignored until committed")
            && page.contains("integration-demo.yaml (modified)"),
        "the page says so"
    );

    // The commit changes `.git` inside the watched directory, which makes the next scan.
    git(&["commit", "-qam", "rename"]);
    d.wait_status(
        "nothing uncommitted and the edit running after the commit",
        |s| {
            s["manifests"]["uncommitted"] == json!([])
                && display_name(s, KIND_PI, "demo") == "Demo project (not committed)"
        },
    )
    .await;
    sim.shutdown().await.expect("sim shutdown");
}

/// The first surprise: `git rm integration-mobile.yaml` without a commit removed the
/// integration and dropped its links for good. Now the uncommitted deletion deletes nothing
/// and is shown; the commit applies it (issue 15, "Committed state").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncommitted_deletion_deletes_nothing_and_is_shown_until_the_commit_applies_it() {
    let sim = simulator(Vec::new()).await;
    let dirs = DaemonDirs::new();
    dirs.secret("jira-token", "admin-token");
    let mut set = base_set(&sim.base_url(), "Demo project");
    set.push(("workspace-mobile.yaml", workspace("mobile", "mobile")));
    set.push((
        "integration-mobile.yaml",
        integration("mobile", "Mobile", "sim", "mobile"),
    ));
    write_set(&dirs.manifests, &set);
    git(&dirs.manifests, &["init", "-q", "-b", "main"]);
    git(&dirs.manifests, &["add", "."]);
    git(&dirs.manifests, &["commit", "-qm", "two integrations"]);
    let first = git(&dirs.manifests, &["rev-parse", "HEAD"]);
    seed_links(&dirs.state, "mobile", "sim", 2).await;

    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    let before = d
        .wait_status("both integrations Ready", |s| {
            all_ready(s) && resource(s, KIND_PI, "mobile").is_some()
        })
        .await;
    assert_eq!(before["manifests"]["source"], "git", "{before:#}");
    assert_eq!(before["manifests"]["commit"], first.as_str(), "{before:#}");
    assert_eq!(resource(&before, KIND_PI, "mobile").unwrap()["links"], 2);

    git(&dirs.manifests, &["rm", "-q", "integration-mobile.yaml"]);
    let dirty = d
        .wait_status("the deletion listed as uncommitted", |s| {
            s["manifests"]["uncommitted"] == json!(["integration-mobile.yaml (deleted)"])
        })
        .await;
    // Nothing was deleted: the integration runs with its links, from the same commit.
    settle().await;
    let dirty_later = d.status().await;
    for s in [&dirty, &dirty_later] {
        let mobile = resource(s, KIND_PI, "mobile").expect("mobile still runs");
        assert_eq!(mobile["links"], 2, "{s:#}");
        assert_eq!(s["manifests"]["commit"], first.as_str(), "{s:#}");
    }
    let table = d.cli(&["status"]).await;
    assert!(
        table
            .stdout
            .contains("UNCOMMITTED (ignored until committed): integration-mobile.yaml (deleted)"),
        "{table:?}"
    );
    assert_eq!(
        table.code,
        Some(0),
        "uncommitted is shown, not an error: {table:?}"
    );
    let metrics = d.admin_get("/metrics").await;
    assert!(
        metrics.contains("tandem_manifest_uncommitted 1"),
        "{metrics}"
    );
    assert!(
        d.log()
            .iter()
            .any(|l| l.contains("ignored until committed") && l.contains("integration-mobile.yaml")),
        "a log line says so"
    );

    // `tandem plan` compares the working files with the set the daemon applied (recorded in
    // the state directory); the daemon holds the state file, so it is asked for the links.
    let dir = dirs.manifests.to_str().expect("utf8");
    let state = dirs.state.to_str().expect("utf8");
    let plan = d.cli(&["plan", dir, "--state", state]).await;
    assert_eq!(plan.code, Some(2), "{plan:?}");
    assert!(
        plan.stdout
            .contains("against the set the daemon last applied")
            && plan
                .stdout
                .contains("- delete ProjectIntegration/mobile (drops 2 links)")
            && plan.stdout.contains(
                "note: not committed yet (the daemon applies only what is committed): integration-mobile.yaml (deleted)"
            ),
        "{plan:?}"
    );

    git(&dirs.manifests, &["commit", "-qm", "drop mobile"]);
    let second = git(&dirs.manifests, &["rev-parse", "HEAD"]);
    let after = d
        .wait_status("the commit applied: mobile gone", |s| {
            resource(s, KIND_PI, "mobile").is_none() && s["manifests"]["uncommitted"] == json!([])
        })
        .await;
    assert_eq!(after["manifests"]["commit"], second.as_str(), "{after:#}");
    assert!(resource(&after, KIND_PI, "demo").is_some());
    let plan = d.cli(&["plan", dir, "--state", state]).await;
    assert_eq!(plan.code, Some(0), "{plan:?}");
    sim.shutdown().await.expect("sim shutdown");
}

/// A commit with a typo is not shown as applied: the header names the commit that runs and,
/// apart, the rejected one; `tandem status` exits 1; the metrics count it (issue 15, "Status
/// that cannot be missed").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_commit_is_visible_in_the_header_the_exit_code_and_the_metrics() {
    let sim = simulator(Vec::new()).await;
    let dirs = DaemonDirs::new();
    dirs.secret("jira-token", "admin-token");
    write_set(&dirs.manifests, &base_set(&sim.base_url(), "Demo project"));
    git(&dirs.manifests, &["init", "-q", "-b", "main"]);
    git(&dirs.manifests, &["add", "."]);
    git(&dirs.manifests, &["commit", "-qm", "good"]);
    let good = git(&dirs.manifests, &["rev-parse", "HEAD"]);
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    d.wait_status("every resource Ready", all_ready).await;
    let ok = d.cli(&["status"]).await;
    assert_eq!(ok.code, Some(0), "{ok:?}");
    let metrics = d.admin_get("/metrics").await;
    assert!(metrics.contains("tandem_manifest_rejected 0"), "{metrics}");
    assert!(
        metrics.contains("tandem_resource_ready{kind=\"ProjectIntegration\",name=\"demo\"} 1"),
        "{metrics}"
    );

    let bad = integration("demo", "Typo", "sim", "product").replacen(
        "  connection: sim\n",
        "  conection: sim\n",
        1,
    );
    dirs.manifest("integration-demo.yaml", &bad);
    git(&dirs.manifests, &["commit", "-qam", "typo"]);
    let typo = git(&dirs.manifests, &["rev-parse", "HEAD"]);
    let status = d
        .wait_status("the rejected commit", |s| {
            s["manifests"]["rejectedCommit"] == typo.as_str()
        })
        .await;
    assert_eq!(status["manifests"]["commit"], good.as_str(), "{status:#}");
    assert!(
        status["manifests"]["errors"].as_u64() >= Some(1),
        "{status:#}"
    );
    let table = d.cli(&["status"]).await;
    assert_eq!(table.code, Some(1), "{table:?}");
    let header: Vec<&str> = table
        .stdout
        .lines()
        .take_while(|l| !l.starts_with("KIND"))
        .collect();
    let header = header.join("\n");
    assert!(
        header.contains(&format!("applied commit {}", &good[..12]))
            && header.contains(&format!("REJECTED commit {}", &typo[..12]))
            && header.contains("integration-demo.yaml:"),
        "{header}"
    );
    // One line per resource, whatever the diagnostics' hints.
    let rows: Vec<&str> = table
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("KIND"))
        .skip(1)
        .collect();
    assert_eq!(rows.len(), 4, "{table:?}");
    assert!(
        rows.iter()
            .any(|r| r.contains(" demo ") && r.contains("REJECTED EDIT")),
        "{table:?}"
    );
    let one = d.cli(&["status", "demo"]).await;
    assert_eq!(one.code, Some(1), "{one:?}");
    assert!(
        one.stdout.contains("rejected edit") && one.stdout.contains("conection"),
        "{one:?}"
    );
    let metrics = d.admin_get("/metrics").await;
    assert!(metrics.contains("tandem_manifest_rejected 1"), "{metrics}");
    assert!(
        metrics.contains("tandem_resource_ready{kind=\"ProjectIntegration\",name=\"demo\"} 0"),
        "{metrics}"
    );
    sim.shutdown().await.expect("sim shutdown");
}
