//! An independent Jira client (pycontribs `jira`, pinned in `.ci/requirements.txt`) runs its
//! scenario (`tests/support/python/scenario.py`) against the simulator in both dialects: if a
//! third-party client cannot use the simulator, neither would it use real Jira the same way.

use std::process::Command;

use tandem::sim::{Deployment, SimConfig, Simulator};

/// Whether `python3` can import the `jira` package. Without it the test skips loudly, except
/// under `CI=true` where `.ci/run` installs it and its absence is a failure.
fn python_with_jira() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import jira"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        let msg = "SKIPPED: sim_python_client (python3 with the `jira` package not found; pip install -r .ci/requirements.txt)";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg}, and CI=true requires it");
        }
        eprintln!("{msg}");
    }
    ok
}

async fn run_scenario(deployment: Deployment, dialect: &str, user: &str, secret: &str) {
    let sim = Simulator::start(SimConfig::new(deployment))
        .await
        .expect("simulator starts");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/python/scenario.py"
    );
    let (base, dialect, user, secret) = (
        sim.base_url(),
        dialect.to_string(),
        user.to_string(),
        secret.to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .args([script, &base, &dialect, &user, &secret])
            .output()
            .expect("python3 runs")
    })
    .await
    .expect("scenario task");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "scenario failed ({deployment:?}):\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("scenario passed"),
        "scenario did not finish:\n{stdout}"
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_scenario_passes_on_cloud() {
    if !python_with_jira() {
        return;
    }
    run_scenario(
        Deployment::Cloud,
        "cloud",
        "admin@example.com",
        "admin-token",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_scenario_passes_on_data_center_with_a_personal_access_token() {
    if !python_with_jira() {
        return;
    }
    run_scenario(Deployment::DataCenter, "dataCenter", "-", "admin-pat").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_scenario_passes_on_data_center_with_basic_auth() {
    if !python_with_jira() {
        return;
    }
    run_scenario(Deployment::DataCenter, "dataCenter", "admin", "admin").await;
}
