//! `tandem plan` with no daemon, as CI runs it on a pull request: two git revisions of a
//! manifest repository, a state directory holding links, a secret that is not there. The plan
//! shows each changed field, the links a deletion drops and the reference that does not
//! resolve, and exits 0 (no change), 2 (changes) or 1 (nothing to compare with) (issue 15,
//! "`tandem plan` offline").

mod common_daemon;

use std::process::Command;

use common_daemon::*;

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `tandem plan` with a clean environment and an admin URL nothing listens on.
fn plan(args: &[&str]) -> Out {
    let out = Command::new(tandem_bin())
        .env_clear()
        .arg("plan")
        .args(args)
        .args(["--admin", &closed_port_url()])
        .output()
        .expect("tandem plan runs");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The first revision: one connection, two workspaces, two integrations.
fn first_revision(dirs: &DaemonDirs) {
    let url = "http://127.0.0.1:9";
    dirs.manifest("workspace.yaml", &workspace("product", "product"));
    dirs.manifest("workspace-mobile.yaml", &workspace("mobile", "mobile"));
    dirs.manifest("fields.yaml", &field_mapping());
    dirs.manifest(
        "connection.yaml",
        &connection("sim", "Sim", url, "admin@example.com", "jira-token", None),
    );
    dirs.manifest(
        "integration-web.yaml",
        &integration("web", "Web", "sim", "product"),
    );
    dirs.manifest(
        "integration-mobile.yaml",
        &integration("mobile", "Mobile", "sim", "mobile"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_revisions_plan_field_by_field_with_dropped_links_and_unresolved_secrets() {
    let dirs = DaemonDirs::new();
    dirs.secret("jira-token", "admin-token");
    let m = dirs.manifests.clone();
    let dir = m.to_str().expect("utf8");
    first_revision(&dirs);
    git(&m, &["init", "-q", "-b", "main"]);
    git(&m, &["add", "."]);
    git(&m, &["commit", "-qm", "first"]);
    // The first commit has no parent: everything in it would be created.
    let first = plan(&[dir]);
    assert_eq!(first.code, Some(2), "{}{}", first.stdout, first.stderr);
    assert!(
        first.stdout.contains("+ create ProjectIntegration/web"),
        "{}",
        first.stdout
    );

    // The second revision: a status mapping changes, mobile goes, the token file is renamed.
    dirs.manifest(
        "integration-web.yaml",
        &integration("web", "Web", "sim", "product").replace(
            "{workspace: Doing, jira: In Progress}",
            "{workspace: Doing, jira: Doing}",
        ),
    );
    dirs.remove_manifest("integration-mobile.yaml");
    dirs.manifest(
        "connection.yaml",
        &connection(
            "sim",
            "Sim",
            "http://127.0.0.1:9",
            "admin@example.com",
            "new-token",
            None,
        ),
    );
    git(&m, &["add", "-A"]);
    git(&m, &["commit", "-qm", "second"]);
    seed_links(&dirs.state, "mobile", "sim", 2).await;
    seed_links(&dirs.state, "web", "sim", 3).await;

    let secrets = dirs.secrets.to_str().expect("utf8");
    let state = dirs.state.to_str().expect("utf8");
    let out = plan(&[dir, "--state", state, "--secrets", secrets]);
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    for line in [
        "plan: ",
        "~ update ProjectIntegration/web",
        "    spec.statuses[workspace=Doing].jira: \"In Progress\" → \"Doing\"",
        "~ update Connection/sim",
        "    spec.auth.apiToken.file: \"jira-token\" → \"new-token\"",
        "- delete ProjectIntegration/mobile (drops 2 links)",
        "! Connection/sim: secret {file: new-token} does not resolve",
    ] {
        assert!(
            out.stdout.lines().any(|l| l.starts_with(line)),
            "plan must say `{line}`:\n{}",
            out.stdout
        );
    }
    assert!(
        out.stdout.contains("against commit") && out.stdout.contains("(HEAD^)"),
        "{}",
        out.stdout
    );

    // With the secret in place the warning goes; the plan is the same.
    dirs.secret("new-token", "admin-token");
    let out = plan(&[dir, "--state", state, "--secrets", secrets]);
    assert_eq!(out.code, Some(2));
    assert!(!out.stdout.contains("does not resolve"), "{}", out.stdout);

    // Against HEAD (what is checked out) nothing changes: exit 0.
    let same = plan(&[dir, "--against", "HEAD", "--secrets", secrets]);
    assert_eq!(same.code, Some(0), "{}{}", same.stdout, same.stderr);
    assert!(same.stdout.contains("no changes"), "{}", same.stdout);

    // Against a directory holding the first revision: the same plan, links unknown without a
    // state directory or a daemon.
    let old = dirs.tmp.path().join("old");
    std::fs::create_dir_all(&old).expect("mkdir");
    git(
        &m,
        &[
            "--work-tree",
            old.to_str().expect("utf8"),
            "checkout",
            "HEAD^",
            "--",
            ".",
        ],
    );
    git(&m, &["reset", "-q"]);
    let out = plan(&[dir, "--against", old.to_str().expect("utf8")]);
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("- delete ProjectIntegration/mobile (drops an unknown number of links"),
        "{}",
        out.stdout
    );

    // The set the daemon last applied, recorded in the state directory, wins over HEAD^.
    let recorded = serde_json::json!({
        "commit": null,
        "digest": "x",
        "files": [["workspace.yaml", workspace("product", "product")]],
    });
    std::fs::write(
        dirs.state.join("applied-manifests.json"),
        recorded.to_string(),
    )
    .expect("write record");
    let out = plan(&[dir, "--state", state, "--secrets", secrets]);
    assert_eq!(out.code, Some(2), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("against the set the daemon last applied")
            && out.stdout.contains("+ create ProjectIntegration/web")
            && !out.stdout.contains("delete"),
        "{}",
        out.stdout
    );

    // Nothing that names a revision or a directory: exit 1 with why.
    let bad = plan(&[dir, "--against", "no-such-branch"]);
    assert_eq!(bad.code, Some(1), "{}{}", bad.stdout, bad.stderr);
    assert!(
        bad.stderr
            .contains("`no-such-branch` is neither a directory nor a git revision"),
        "{}",
        bad.stderr
    );
    // Outside git, with no base and no daemon: exit 1, saying what to give.
    let plain = dirs.tmp.path().join("plain");
    std::fs::create_dir_all(&plain).expect("mkdir");
    std::fs::write(plain.join("w.yaml"), workspace("product", "product")).expect("write");
    let none = plan(&[plain.to_str().expect("utf8")]);
    assert_eq!(none.code, Some(1), "{}{}", none.stdout, none.stderr);
    assert!(none.stderr.contains("--against"), "{}", none.stderr);
}
