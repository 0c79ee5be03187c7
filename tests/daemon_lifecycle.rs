//! The real `tandem run` binary as systemd and an operator see it: sd_notify messages, signals,
//! exclusive state directory, admin bind policy and token, JSON logs without secrets.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A generous guard against hangs; never a measurement.
const GUARD: Duration = Duration::from_secs(30);

struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

fn tandem(state: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tandem"));
    cmd.env_clear()
        .env("TANDEM_LOG_FORMAT", "json")
        .env("TANDEM_LOG", "debug")
        .arg("run")
        .arg("--state")
        .arg(state)
        .arg("--manifests")
        .arg(state.join("manifests"))
        .args(["--listen", "127.0.0.1:0"])
        .env("TANDEM_ADMIN", "127.0.0.1:0")
        .args(extra_args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

impl Daemon {
    fn spawn(state: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut child = tandem(state, extra_args, env)
            .spawn()
            .expect("spawn tandem");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Daemon {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits for a JSON log line whose message is `message`; returns it parsed.
    fn wait_log(&mut self, message: &str) -> serde_json::Value {
        loop {
            let line = self
                .lines
                .recv_timeout(GUARD)
                .unwrap_or_else(|_| panic!("no `{message}` log line; log so far: {:#?}", self.log));
            self.log.push(line.clone());
            let v: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
            if v["message"] == message {
                return v;
            }
        }
    }

    fn addr(&mut self, which: &str) -> String {
        let v = self.wait_log(&format!("{which} listener bound"));
        v["local"].as_str().expect("local address").to_string()
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    fn wait_exit(mut self) -> (ExitStatus, Vec<String>) {
        let status = self.child.wait().expect("wait");
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.log.push(line);
        }
        (status, std::mem::take(&mut self.log))
    }
}

/// A failing test must not leave a daemon running.
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 1024];
    let n = sock
        .recv(&mut buf)
        .expect("notification (socket read timed out)");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Skips watchdog pings, which arrive at any time.
fn recv_state(sock: &UnixDatagram) -> String {
    loop {
        let msg = recv(sock);
        if msg != "WATCHDOG=1" {
            return msg;
        }
    }
}

#[test]
fn systemd_hears_ready_reloading_watchdog_and_stopping_and_the_store_closes_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
    sock.set_read_timeout(Some(GUARD)).expect("timeout");
    let state = dir.path().join("state");
    let mut d = Daemon::spawn(
        &state,
        &[],
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().expect("utf8")),
            ("WATCHDOG_USEC", "200000"),
        ],
    );

    let ready = recv_state(&sock);
    assert!(ready.starts_with("READY=1"), "{ready}");
    let public = d.addr("public");
    let admin = d.addr("admin");
    assert!(public.starts_with("127.0.0.1:") && admin.starts_with("127.0.0.1:"));

    // The watchdog is petted (every 100 ms here) without anything else happening.
    loop {
        if recv(&sock) == "WATCHDOG=1" {
            break;
        }
    }

    d.signal(libc::SIGHUP);
    let reloading = recv_state(&sock);
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    let usec: u64 = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse().ok())
        .expect("MONOTONIC_USEC value");
    assert!(usec > 0);
    assert!(recv_state(&sock).starts_with("READY=1"));

    d.signal(libc::SIGTERM);
    assert!(recv_state(&sock).starts_with("STOPPING=1"));
    let (status, log) = d.wait_exit();
    assert!(status.success(), "exit {status:?}; log: {log:#?}");
    assert!(
        log.iter().any(|l| l.contains("store closed cleanly")),
        "{log:#?}"
    );
    // Nothing holds the state directory any more.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let store = tandem::store::Store::open(&state).expect("reopen after SIGTERM");
    rt.block_on(store.close()).expect("close");
}

#[test]
fn a_second_daemon_on_the_same_state_directory_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = Daemon::spawn(dir.path(), &[], &[]);
    first.wait_log("ready");

    let out = tandem(dir.path(), &[], &[]).output().expect("run second");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "error: state directory {} is in use by another tandem process",
        dir.path().display()
    );
    assert!(stderr.lines().any(|l| l == expected), "{stderr}");

    first.signal(libc::SIGINT);
    let (status, log) = first.wait_exit();
    assert!(status.success(), "first daemon: {status:?} {log:#?}");
}

#[test]
fn the_admin_api_refuses_a_public_address_without_a_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = tandem(dir.path(), &[], &[("TANDEM_ADMIN", "0.0.0.0:0")])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not a loopback address, without a bearer token"),
        "{stderr}"
    );
}

#[tokio::test]
async fn with_a_token_the_admin_api_requires_it_and_never_prints_it() {
    const TOKEN: &str = "adm1n-t0ken-never-logged";
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write token");
    let state = dir.path().join("state");
    let mut d = Daemon::spawn(
        &state,
        &[],
        &[
            ("TANDEM_ADMIN", "0.0.0.0:0"),
            (
                "TANDEM_ADMIN_TOKEN_FILE",
                token_file.to_str().expect("utf8"),
            ),
        ],
    );
    let admin = d.addr("admin");
    let port = admin.rsplit(':').next().expect("port");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();

    for path in ["/metrics", "/api/v1/status", "/nowhere"] {
        let resp = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("get");
        assert_eq!(resp.status().as_u16(), 401, "{path} without a token");
        let resp = client
            .get(format!("{base}{path}"))
            .bearer_auth("wrong")
            .send()
            .await
            .expect("get");
        assert_eq!(resp.status().as_u16(), 401, "{path} with a wrong token");
    }
    // Probes stay open for load balancers and systemd checks.
    let resp = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 200);

    let metrics = client
        .get(format!("{base}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(metrics.status().as_u16(), 200);
    let metrics = metrics.text().await.expect("text");
    assert!(
        metrics.contains("tandem_webhooks_received_total 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tandem_store_commit_batch_size_bucket"),
        "{metrics}"
    );

    let status = client
        .get(format!("{base}/api/v1/status"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(status.status().as_u16(), 200);
    let status = status.text().await.expect("text");
    let missing = client
        .get(format!("{base}/nowhere"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status().as_u16(), 404);
    let body: serde_json::Value = missing.json().await.expect("json error");
    assert_eq!(body["error"]["code"], 404);
    let reconcile = client
        .post(format!("{base}/api/v1/reconcile/Connection/acme"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("post");
    assert_eq!(
        reconcile.status().as_u16(),
        404,
        "reconciling a resource no manifest declares is refused as not found"
    );

    d.signal(libc::SIGTERM);
    let (exit, log) = d.wait_exit();
    assert!(exit.success(), "{exit:?} {log:#?}");
    for text in log.iter().chain([&metrics, &status]) {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
    }
    for line in &log {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| {
            panic!("TANDEM_LOG_FORMAT=json but a line is not JSON ({e}): {line}")
        });
    }
}
