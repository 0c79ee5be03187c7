//! Connections of the real `tandem run` against the Jira simulator: each way of failing has its
//! own reason, a fixed secret file recovers without a restart, a rename keeps every link and a
//! disconnect drops them, as `tandem plan` said beforehand (DESIGN §5, guarantees 7 and 8).

mod common_daemon;

use common_daemon::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_connection_failure_has_its_reason_and_a_fixed_secret_recovers_without_restart() {
    let sim = simulator(Vec::new()).await;
    let url = sim.base_url();
    let dirs = DaemonDirs::new();
    dirs.secret("wrong-token", "not-the-admin-token");
    dirs.secret("user-token", "user-token");
    dirs.secret("admin-token", "admin-token");
    dirs.manifest(
        "wrong.yaml",
        &connection(
            "wrong",
            "Wrong token",
            &url,
            "admin@example.com",
            "wrong-token",
            None,
        ),
    );
    dirs.manifest(
        "nonadmin.yaml",
        &connection(
            "nonadmin",
            "Not an admin",
            &url,
            "user@example.com",
            "user-token",
            None,
        ),
    );
    dirs.manifest(
        "down.yaml",
        &connection(
            "down",
            "Nobody home",
            &closed_port_url(),
            "admin@example.com",
            "admin-token",
            None,
        ),
    );
    dirs.manifest(
        "nosecret.yaml",
        &connection(
            "nosecret",
            "Secret not there yet",
            &url,
            "admin@example.com",
            "late-token",
            None,
        ),
    );
    let mut d = Daemon::start(&dirs, DaemonOptions::default()).await;
    let pid = d.pid();

    let expected = [
        ("wrong", "AuthenticationFailed"),
        ("nonadmin", "NotAdministrator"),
        ("down", "Unreachable"),
        ("nosecret", "SecretUnavailable"),
    ];
    let status = d
        .wait_status("each connection failing with its own reason", |s| {
            expected.iter().all(|(name, reason)| {
                not_ready_reason(s, "Connection", name).as_deref() == Some(reason)
            })
        })
        .await;
    for (name, _) in expected {
        let (_, _, message) = ready(&status, "Connection", name).expect("Ready condition");
        assert!(!message.is_empty(), "{name}: a reason needs a message");
    }

    // The operator fixes the secret file; nothing else changes.
    dirs.secret("wrong-token", "admin-token");
    let fixed = d
        .wait_status("the fixed connection Ready", |s| {
            is_current_and_ready(s, "Connection", "wrong")
        })
        .await;
    let (_, reason, _) = ready(&fixed, "Connection", "wrong").expect("Ready");
    assert_eq!(reason, "Connected");
    assert!(d.is_running(), "recovered without a restart");
    assert_eq!(d.pid(), pid);
    // The other two still say what is wrong with them.
    assert_eq!(
        not_ready_reason(&fixed, "Connection", "nonadmin").as_deref(),
        Some("NotAdministrator")
    );
    assert_eq!(
        not_ready_reason(&fixed, "Connection", "down").as_deref(),
        Some("Unreachable")
    );

    // The missing secret file appears: picked up without a restart too.
    dirs.secret("late-token", "admin-token");
    d.wait_status("the connection with its secret Ready", |s| {
        is_current_and_ready(s, "Connection", "nosecret")
    })
    .await;
    assert_eq!(d.pid(), pid);
    assert!(d.is_running());
    sim.shutdown().await.expect("sim shutdown");
}

/// Link counts per integration as status shows them.
fn links(status: &Value, name: &str) -> Option<u64> {
    resource(status, "ProjectIntegration", name).and_then(|r| r["links"].as_u64())
}

/// The manifest set: connection `sim` (two integrations) and connection `other` (one), both on
/// the simulator. One project may be integrated into a workspace once per connection, hence
/// two workspaces.
fn full_set(url: &str, sim_display: &str) -> Vec<(&'static str, String)> {
    vec![
        ("workspace.yaml", workspace("product", "product")),
        ("workspace-b.yaml", workspace("product-b", "product-b")),
        ("fields.yaml", field_mapping()),
        (
            "conn-sim.yaml",
            connection(
                "sim",
                sim_display,
                url,
                "admin@example.com",
                "admin-token",
                None,
            ),
        ),
        (
            "conn-other.yaml",
            connection(
                "other",
                "Other Jira",
                url,
                "admin@example.com",
                "admin-token",
                None,
            ),
        ),
        (
            "pi-demo.yaml",
            integration("demo", "Demo", "sim", "product"),
        ),
        (
            "pi-demo-b.yaml",
            integration("demo-b", "Demo B", "sim", "product-b"),
        ),
        (
            "pi-kept.yaml",
            integration("kept", "Kept", "other", "product"),
        ),
    ]
}

fn write_dir(dir: &std::path::Path, files: &[(&str, String)]) {
    std::fs::create_dir_all(dir).expect("dir");
    for (name, text) in files {
        write_atomically(&dir.join(name), text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_keeps_links_and_disconnect_drops_the_number_plan_announced() {
    let sim = simulator(Vec::new()).await;
    let url = sim.base_url();
    let dirs = DaemonDirs::new();
    dirs.secret("admin-token", "admin-token");
    seed_links(&dirs.state, "demo", "sim", 5).await;
    seed_links(&dirs.state, "demo-b", "sim", 3).await;
    seed_links(&dirs.state, "kept", "other", 2).await;
    write_dir(&dirs.manifests, &full_set(&url, "Simulated Jira"));
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    let before = d.wait_status("every resource Ready", all_ready).await;
    assert_eq!(
        ["demo", "demo-b", "kept"].map(|n| links(&before, n)),
        [Some(5), Some(3), Some(2)]
    );

    // Rename: plan first, then apply.
    let renamed = full_set(&url, "Renamed Jira");
    let plan_dir = dirs.tmp.path().join("plan-rename");
    write_dir(&plan_dir, &renamed);
    let plan = d.cli(&["plan", plan_dir.to_str().expect("utf8")]).await;
    assert_eq!(plan.code, Some(2), "{plan:?}");
    assert!(
        plan.stdout.contains(
            "~ update Connection/sim (rename \"Simulated Jira\" → \"Renamed Jira\"; links kept)"
        ),
        "{plan:?}"
    );
    assert!(!plan.stdout.contains("drops"), "{plan:?}");
    write_dir(&dirs.manifests, &renamed);
    let after = d
        .wait_status("the renamed connection Ready", |s| {
            resource(s, "Connection", "sim")
                .is_some_and(|r| r["details"]["displayName"] == "Renamed Jira")
                && all_ready(s)
        })
        .await;
    assert_eq!(
        ["demo", "demo-b", "kept"].map(|n| links(&after, n)),
        [Some(5), Some(3), Some(2)],
        "a rename keeps every link"
    );
    let (exit, log) = d.stop().await;
    assert!(exit.success(), "{exit:?}\n{}", log.join("\n"));
    let stored = with_store(&dirs.state, |s| {
        ["demo", "demo-b", "kept"].map(|n| s.count_links(n).expect("count"))
    })
    .await;
    assert_eq!(stored, [5, 3, 2], "links in the store after the rename");

    // Disconnect: the Connection and its integrations go; plan says how many links that drops.
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    d.wait_status("every resource Ready again", all_ready).await;
    let remaining: Vec<(&str, String)> = renamed
        .iter()
        .filter(|(f, _)| !matches!(*f, "conn-sim.yaml" | "pi-demo.yaml" | "pi-demo-b.yaml"))
        .cloned()
        .collect();
    let plan_dir = dirs.tmp.path().join("plan-disconnect");
    write_dir(&plan_dir, &remaining);
    let plan = d.cli(&["plan", plan_dir.to_str().expect("utf8")]).await;
    assert_eq!(plan.code, Some(2), "{plan:?}");
    for line in [
        "- delete Connection/sim (disconnect: ends 2 integration(s), drops 8 links;",
        "- delete ProjectIntegration/demo (drops 5 links)",
        "- delete ProjectIntegration/demo-b (drops 3 links)",
    ] {
        assert!(
            plan.stdout.lines().any(|l| l.starts_with(line)),
            "plan must say `{line}`: {plan:?}"
        );
    }
    assert!(
        !plan.stdout.contains("kept") && !plan.stdout.contains("Connection/other"),
        "{plan:?}"
    );

    for f in ["pi-demo.yaml", "pi-demo-b.yaml", "conn-sim.yaml"] {
        std::fs::remove_file(dirs.manifests.join(f)).expect("remove manifest");
    }
    let after = d
        .wait_status("the connection and its integrations gone", |s| {
            resource(s, "Connection", "sim").is_none()
                && resource(s, "ProjectIntegration", "demo").is_none()
                && resource(s, "ProjectIntegration", "demo-b").is_none()
        })
        .await;
    assert_eq!(links(&after, "kept"), Some(2), "{after:#}");
    assert!(is_current_and_ready(&after, "Connection", "other"));
    // The plan of the applied directory is now empty.
    let plan = d
        .cli(&["plan", dirs.manifests.to_str().expect("utf8")])
        .await;
    assert_eq!(plan.code, Some(0), "{plan:?}");

    // Adding the connection back starts fresh: the dropped links do not come back.
    for (name, text) in renamed
        .iter()
        .filter(|(f, _)| matches!(*f, "conn-sim.yaml" | "pi-demo.yaml"))
    {
        dirs.manifest(name, text);
    }
    let readded = d
        .wait_status("the re-added connection Ready", |s| {
            is_current_and_ready(s, "ProjectIntegration", "demo") && all_ready(s)
        })
        .await;
    assert_eq!(links(&readded, "demo"), Some(0), "{readded:#}");

    let (exit, log) = d.stop().await;
    assert!(exit.success(), "{exit:?}\n{}", log.join("\n"));
    let stored = with_store(&dirs.state, |s| {
        (
            ["demo", "demo-b", "kept"].map(|n| s.count_links(n).expect("count")),
            s.count_links_of_connection("sim").expect("count"),
        )
    })
    .await;
    assert_eq!(
        stored,
        ([0, 0, 2], 0),
        "links in the store after disconnect and re-adding"
    );
    sim.shutdown().await.expect("sim shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_center_connection_with_a_personal_access_token_reaches_ready() {
    let config = tandem::sim::SimConfig::new(tandem::sim::Deployment::DataCenter);
    let sim = tandem::sim::Simulator::start(config)
        .await
        .expect("simulator starts");
    let dirs = DaemonDirs::new();
    dirs.secret("dc-pat", "admin-pat");
    dirs.manifest("workspace.yaml", &workspace("product", "product"));
    dirs.manifest("fields.yaml", &field_mapping());
    dirs.manifest(
        "connection.yaml",
        &format!(
            "apiVersion: tandem/v1
kind: Connection
metadata:
  name: dc
spec:
  displayName: Data Center
  url: {}/
  auth:
    personalAccessToken: {{file: dc-pat}}
",
            sim.base_url()
        ),
    );
    dirs.manifest(
        "integration.yaml",
        &integration("demo", "Demo", "dc", "product"),
    );
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    let status = d.wait_status("every resource Ready", all_ready).await;
    let details = &resource(&status, "Connection", "dc").unwrap()["details"];
    // Detected from serverInfo (the manifest does not say), URL normalised.
    assert_eq!(details["deployment"], "dataCenter", "{details:#}");
    assert_eq!(details["url"], sim.base_url().as_str(), "{details:#}");
    // No publicUrl: the webhook URL to create by hand is in status JSON and in the table
    // (issue 15, "Data Center without publicUrl").
    let url = format!("{}/webhooks/jira/product", d.public);
    let conn = resource(&status, "Connection", "dc").unwrap();
    assert_eq!(
        conn["webhookSetup"]["manualUrls"],
        serde_json::json!([url]),
        "{conn:#}"
    );
    let pi = resource(&status, "ProjectIntegration", "demo").unwrap();
    assert_eq!(pi["manualWebhookUrl"], url.as_str(), "{pi:#}");
    let table = d.cli(&["status"]).await;
    assert_eq!(table.code, Some(0), "{table:?}");
    assert!(
        table.stdout.lines().any(|l| l.starts_with("Connection")
            && l.contains(&format!("create webhook in Jira: {url}"))),
        "{table:?}"
    );
    let one = d.cli(&["status", "dc"]).await;
    assert!(
        one.stdout
            .contains(&format!("create this webhook in Jira: {url}")),
        "{one:?}"
    );
    let (exit, _) = d.stop().await;
    assert!(exit.success());
    sim.shutdown().await.expect("sim shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integration_stops_being_ready_when_its_connection_starts_failing() {
    let sim = simulator(Vec::new()).await;
    let dirs = DaemonDirs::new();
    dirs.secret("token", "admin-token");
    dirs.manifest("workspace.yaml", &workspace("product", "ws1"));
    dirs.manifest("fields.yaml", &field_mapping());
    dirs.manifest(
        "connection.yaml",
        &connection(
            "acme",
            "Acme",
            &sim.base_url(),
            "admin@example.com",
            "token",
            None,
        ),
    );
    dirs.manifest(
        "integration.yaml",
        &integration("demo", "Demo", "acme", "product"),
    );
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    d.wait_status("everything Ready", all_ready).await;

    // The token is revoked (rotated to a wrong value): the connection and its integration both
    // leave Ready, without waiting for the integration's periodic recheck.
    dirs.secret("token", "revoked-token");
    d.wait_status("connection and integration not Ready", |s| {
        not_ready_reason(s, "Connection", "acme").as_deref() == Some("AuthenticationFailed")
            && not_ready_reason(s, "ProjectIntegration", "demo").as_deref()
                == Some("DependencyNotReady")
    })
    .await;

    // Fixed again: both come back.
    dirs.secret("token", "admin-token");
    d.wait_status("everything Ready again", all_ready).await;
    d.stop().await;
}
