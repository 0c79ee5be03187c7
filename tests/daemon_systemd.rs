//! `systemd/tandem.service` passes `systemd-analyze verify` and scores 2.0 or lower (OK or
//! better) on `systemd-analyze security --offline=true`.

use std::path::PathBuf;
use std::process::Command;

const UNIT: &str = "systemd/tandem.service";
const MAX_EXPOSURE: f64 = 2.0;

/// `systemd-analyze`, or `None` after a loud skip (a failure under `CI=true`).
fn systemd_analyze() -> Option<&'static str> {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("systemd-analyze");
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("systemd-analyze not found; install the `systemd` package in CI");
    }
    eprintln!("SKIPPED: systemd unit checks (systemd-analyze not found; apt-get install systemd)");
    None
}

fn unit_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(UNIT)
}

#[test]
fn the_unit_verifies() {
    let Some(tool) = systemd_analyze() else {
        return;
    };
    // verify checks that ExecStart exists, so point it at the binary under test.
    let text = std::fs::read_to_string(unit_path()).expect("read unit");
    assert!(
        text.contains("ExecStart=/usr/bin/tandem run"),
        "ExecStart moved?"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = dir.path().join("tandem.service");
    std::fs::write(
        &unit,
        text.replace("/usr/bin/tandem", env!("CARGO_BIN_EXE_tandem")),
    )
    .expect("write unit");
    let out = Command::new(tool)
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("run systemd-analyze verify");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{stderr}"
    );
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("tandem.service"))
        .collect();
    assert!(complaints.is_empty(), "verify complained:\n{stderr}");
}

#[test]
fn the_unit_is_hardened_to_an_exposure_of_at_most_2() {
    let Some(tool) = systemd_analyze() else {
        return;
    };
    let out = Command::new(tool)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(unit_path())
        .output()
        .expect("run systemd-analyze security");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall score in:\n{stdout}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("cannot parse the score from `{line}`"));
    eprintln!("systemd-analyze security: {line}");
    assert!(
        score <= MAX_EXPOSURE,
        "exposure {score} > {MAX_EXPOSURE}:\n{stdout}"
    );
}

#[test]
fn the_unit_declares_what_the_daemon_relies_on() {
    let text = std::fs::read_to_string(unit_path()).expect("read unit");
    for needed in [
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "DynamicUser=yes",
        "StateDirectory=tandem",
        "ConfigurationDirectory=tandem",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(needed)),
            "{UNIT} lacks {needed}"
        );
    }
    // Credentials are shown, commented out: an active line naming a file that is not there
    // would keep the unit from starting (tests/install_layout.rs checks the names).
    assert!(
        text.lines().any(|l| l.starts_with("#LoadCredential=")),
        "{UNIT} shows no LoadCredential= example"
    );
}
