//! The README's main command: `tandem demo` starts everything on loopback with nothing to
//! configure, shows the first reconcile and sync, and Ctrl-C stops it and removes its files.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_demo_runs_its_first_sync_and_stops_cleanly_on_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("demo")
        .env_remove("TANDEM_LOG")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tandem demo starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !out
        .iter()
        .any(|l: &String| l.starts_with("Ctrl-C stops everything"))
    {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => out.push(line),
            Err(_) if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() => {
                let _ = child.kill();
                panic!("the demo never reached its prompt:\n{}", out.join("\n"));
            }
            Err(_) => {}
        }
    }
    let text = out.join("\n");
    for expected in [
        "Connection          demo-jira     True",
        "ProjectIntegration  demo          True",
        "webhook connected",
        "    pushed ITEM-2 Story",
        "    pulled DEMO-2 moved to In Progress in Jira -> ITEM-2 is \"In Progress\"",
        "created in Jira -> ITEM-3",
        ": completed — ",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    follow_the_hints(&text);
    let tmp = text
        .lines()
        .find_map(|l| l.strip_prefix("Ctrl-C stops everything and removes "))
        .map(|p| p.trim_end_matches('.').to_owned())
        .expect("the demo names its temporary directory");
    assert!(
        std::path::Path::new(&tmp).exists(),
        "{tmp} should exist while running"
    );

    // Ctrl-C.
    interrupt(child.id());
    let status = child.wait().expect("demo exits");
    assert!(status.success(), "{status:?}\n{text}");
    assert!(
        !std::path::Path::new(&tmp).exists(),
        "{tmp} should be removed after Ctrl-C"
    );
}

/// Runs the printed "Try next" commands as a user would paste them, and checks that what they
/// promise happens: the workspace edit reaches Jira, the Jira transition reaches the item.
fn follow_the_hints(text: &str) {
    let hints = text
        .split("Try next (in another terminal):")
        .nth(1)
        .expect("the demo prints what to try next")
        .replace("\\\n", " ");
    let commands: Vec<&str> = hints
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("curl "))
        .collect();
    assert_eq!(commands.len(), 5, "{hints}");
    let sh = |cmd: &str| {
        let out = Command::new("sh")
            .args(["-c", cmd])
            .output()
            .expect("sh runs curl");
        assert!(out.status.success(), "{cmd}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let until = |what: &str, cmd: &str, needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let body = sh(cmd);
            if body.contains(needle) {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: {cmd} still says {body}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let patched = sh(commands[0]);
    assert!(
        patched.contains("Pay with a saved card or wallet"),
        "{patched}"
    );
    until(
        "the workspace edit reached Jira",
        commands[1],
        "Pay with a saved card or wallet",
    );
    sh(commands[2]);
    until(
        "the Jira transition reached the item",
        commands[3],
        "\"status\":\"Backlog\"",
    );
    until(
        "the history shows the sync",
        commands[4],
        "\"action\":\"pulled\"",
    );
}

/// SIGINT to the child, as a terminal's Ctrl-C would send.
fn interrupt(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}
