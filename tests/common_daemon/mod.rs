//! Shared support for end-to-end tests (and the daemon benchmark) that start the real
//! `tandem run` binary on loopback: spawning it with its own state, manifest and secret
//! directories, reading its JSON logs, polling `/api/v1/status`, running the CLI against it,
//! and writing the manifests those tests declare.
//!
//! Waiting is always "poll until the user-visible state says so, or give up after a generous
//! guard"; nothing here measures time.

#![allow(dead_code)] // each test binary uses a different part of it

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A generous guard against hangs; never a measurement.
pub const GUARD: Duration = Duration::from_secs(15);

/// Path of the binary under test: set by Cargo for integration tests and benches, or
/// `TANDEM_BIN` when a long campaign runs from copies of the test and the binary, so the work
/// tree can be rebuilt meanwhile.
pub fn tandem_bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("TANDEM_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_tandem").to_owned())
    })
}

/// The directories one daemon runs with, inside a temporary directory removed on drop.
pub struct DaemonDirs {
    pub tmp: tempfile::TempDir,
    pub manifests: PathBuf,
    pub secrets: PathBuf,
    pub state: PathBuf,
}

impl DaemonDirs {
    /// Creates `manifests/`, `secrets/` and (lazily, by the daemon) `state/`.
    pub fn new() -> DaemonDirs {
        let tmp = tempfile::tempdir().expect("tempdir");
        let manifests = tmp.path().join("manifests");
        let secrets = tmp.path().join("secrets");
        std::fs::create_dir_all(&manifests).expect("manifests dir");
        std::fs::create_dir_all(&secrets).expect("secrets dir");
        let state = tmp.path().join("state");
        DaemonDirs {
            tmp,
            manifests,
            secrets,
            state,
        }
    }

    /// Writes a secret file the way an operator would (`echo VALUE > FILE`: trailing newline).
    pub fn secret(&self, name: &str, value: &str) {
        write_atomically(&self.secrets.join(name), &format!("{value}\n"));
    }

    /// Writes (or replaces) a manifest file.
    pub fn manifest(&self, name: &str, text: &str) {
        write_atomically(&self.manifests.join(name), text);
    }

    /// Deletes a manifest file, as `git rm` does.
    pub fn remove_manifest(&self, name: &str) {
        std::fs::remove_file(self.manifests.join(name)).expect("remove manifest");
    }
}

impl Default for DaemonDirs {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes through a temporary file and a rename, as editors and `git checkout` do, so the
/// watcher never reads a half-written file.
pub fn write_atomically(path: &Path, text: &str) {
    let dir = path.parent().expect("parent");
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().expect("name").to_string_lossy()
    ));
    std::fs::write(&tmp, text).expect("write temp file");
    std::fs::rename(&tmp, path).expect("rename into place");
}

/// How to start a daemon.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// `TANDEM_LOG` filter.
    pub log: String,
    /// Watched directory, when not `dirs.manifests` (e.g. a git-sync style symlink).
    pub manifests: Option<PathBuf>,
    /// Admin bearer token file (`TANDEM_ADMIN_TOKEN_FILE`): the daemon requires the token and
    /// the helpers here ([`Daemon::admin_get`], [`Daemon::cli`]) send it.
    pub admin_token_file: Option<PathBuf>,
    /// `RLIMIT_FSIZE` of the daemon process, with `SIGXFSZ` ignored: a write that would grow a
    /// file past it fails with `EFBIG`, as a full disk fails a write (for fault tests).
    pub file_size_limit: Option<u64>,
    /// Extra environment (e.g. `TANDEM_HEADER_READ_TIMEOUT_MS`).
    pub env: Vec<(String, String)>,
    /// Address of the public (webhook) listener; `None` picks a free port. A restart after a
    /// kill passes the old address so webhooks keep reaching the daemon.
    pub listen: Option<String>,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            log: "info".into(),
            manifests: None,
            admin_token_file: None,
            file_size_limit: None,
            env: Vec::new(),
            listen: None,
        }
    }
}

/// A running `tandem run`. Its stderr (JSON log lines) is collected in the background.
pub struct Daemon {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    /// `http://127.0.0.1:PORT` of the admin API.
    pub admin: String,
    /// `http://127.0.0.1:PORT` of the public (webhook) listener.
    pub public: String,
    http: reqwest::Client,
    admin_token_file: Option<PathBuf>,
}

impl Daemon {
    /// Starts the daemon and waits until both listeners are bound.
    pub async fn start(dirs: &DaemonDirs, options: DaemonOptions) -> Daemon {
        let manifests = options.manifests.as_ref().unwrap_or(&dirs.manifests);
        let mut command = std::process::Command::new(tandem_bin());
        if let Some(limit) = options.file_size_limit {
            use std::os::unix::process::CommandExt as _;
            // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                    // The hard limit stays open, so the test can lift the soft one later.
                    let rlim = libc::rlimit {
                        rlim_cur: limit as libc::rlim_t,
                        rlim_max: libc::RLIM_INFINITY,
                    };
                    if libc::setrlimit(libc::RLIMIT_FSIZE, &rlim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command
            // Nothing from the developer's environment (TANDEM_*, CREDENTIALS_DIRECTORY).
            .env_clear()
            .envs(
                options
                    .admin_token_file
                    .iter()
                    .map(|f| ("TANDEM_ADMIN_TOKEN_FILE", f.as_os_str())),
            )
            .env("TANDEM_LOG_FORMAT", "json")
            .env("TANDEM_LOG", &options.log)
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .arg("run")
            .arg("--manifests")
            .arg(manifests)
            .arg("--state")
            .arg(&dirs.state)
            .arg("--secrets")
            .arg(&dirs.secrets)
            .arg("--listen")
            .arg(options.listen.as_deref().unwrap_or("127.0.0.1:0"))
            .args(["--admin", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tandem run");
        let stderr = child.stderr.take().expect("stderr");
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = log.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                sink.lock().expect("log lock").push(line);
            }
        });
        let mut d = Daemon {
            child,
            log,
            admin: String::new(),
            public: String::new(),
            http: reqwest::Client::new(),
            admin_token_file: options.admin_token_file.clone(),
        };
        d.admin = format!("http://{}", d.bound("admin").await);
        d.public = format!("http://{}", d.bound("public").await);
        d
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every log line so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        log[log.len().saturating_sub(40)..].join("\n")
    }

    /// The address from the `"{which} listener bound"` log line.
    async fn bound(&mut self, which: &str) -> String {
        let message = format!("{which} listener bound");
        let deadline = Instant::now() + GUARD;
        loop {
            let found = self.log().iter().find_map(|l| {
                let v: Value = serde_json::from_str(l).ok()?;
                (v["message"] == message.as_str())
                    .then(|| v["local"].as_str().map(str::to_owned))
                    .flatten()
            });
            if let Some(addr) = found {
                return addr;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "tandem run exited ({status}) before binding; log:\n{}",
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no `{message}` log line; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The admin bearer token, when the daemon was started with one.
    pub fn admin_token(&self) -> Option<String> {
        let file = self.admin_token_file.as_ref()?;
        let text = std::fs::read_to_string(file).expect("read the admin token file");
        Some(text.trim().to_owned())
    }

    /// A request to the admin API, with the bearer token when there is one.
    pub fn admin_request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.admin));
        match self.admin_token() {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    /// GET on the admin API, as text.
    pub async fn admin_get(&self, path: &str) -> String {
        let resp = self
            .admin_request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.text().await.expect("body")
    }

    /// The `/api/v1/status` document.
    pub async fn status(&self) -> Value {
        let text = self.admin_get("/api/v1/status").await;
        serde_json::from_str(&text).expect("status is JSON")
    }

    /// Polls status until `pred` holds; panics after [`GUARD`] with the last status and log.
    pub async fn wait_status(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + GUARD;
        loop {
            let status = self.status().await;
            if pred(&status) {
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "status never showed: {what}\nlast status: {:#}\nlog tail:\n{}",
                    status,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs a `tandem` CLI command against this daemon's admin API (`--admin` appended).
    pub async fn cli(&self, args: &[&str]) -> CliOutput {
        let out = tokio::process::Command::new(tandem_bin())
            .env_clear()
            .envs(
                self.admin_token_file
                    .iter()
                    .map(|f| ("TANDEM_ADMIN_TOKEN_FILE", f.as_os_str())),
            )
            .args(args)
            .args(["--admin", &self.admin])
            .output()
            .await
            .expect("run tandem CLI");
        CliOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Lifts the file size limit `DaemonOptions::file_size_limit` set (the disk has space
    /// again), without restarting the daemon.
    pub fn lift_file_size_limit(&self) {
        let rlim = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: prlimit(2) on our own child's pid with a valid rlimit; no old value asked.
        let rc = unsafe {
            libc::prlimit(
                self.child.id() as libc::pid_t,
                libc::RLIMIT_FSIZE,
                &rlim,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    }

    /// Still running (not exited or killed)?
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({sig}) failed");
    }

    /// SIGTERM and wait: returns the exit status and the whole log.
    pub async fn stop(mut self) -> (ExitStatus, Vec<String>) {
        self.signal(libc::SIGTERM);
        self.wait().await
    }

    /// SIGKILL (no drain, no store close) and wait.
    pub async fn kill(mut self) -> (ExitStatus, Vec<String>) {
        self.signal(libc::SIGKILL);
        self.wait().await
    }

    async fn wait(&mut self) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + GUARD;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "tandem run did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // Let the reader thread drain the pipe.
        tokio::time::sleep(Duration::from_millis(100)).await;
        (status, self.log())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A failed test must not leave daemons behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a CLI command printed and how it exited.
#[derive(Debug)]
pub struct CliOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `f` on a freshly opened store of a stopped daemon, then closes it.
pub async fn with_store<T>(state: &Path, f: impl FnOnce(&tandem::store::Store) -> T) -> T {
    let store = tandem::store::Store::open(state).expect("open the store (no daemon holds it)");
    let out = f(&store);
    store.close().await.expect("close store");
    out
}

/// Seeds `n` links of one integration, before the daemon starts (it locks the store).
pub async fn seed_links(state: &Path, integration: &str, connection: &str, n: usize) {
    let store = tandem::store::Store::open(state).expect("open store to seed");
    let base = 100_000 * (1 + integration.bytes().map(u64::from).sum::<u64>());
    for i in 0..n {
        store
            .put_link(tandem::store::Link {
                integration: integration.into(),
                connection: connection.into(),
                workspace: String::new(),
                workspace_item_id: format!("{integration}-item-{i}"),
                // Distinct per integration: an issue is held by one item only.
                jira_issue_id: format!("{}", base + i as u64),
                jira_issue_key: format!("DEMO-{}", 100 + i),
            })
            .await
            .expect("seed link");
    }
    store.close().await.expect("close seeded store");
}

// ---- reading status ----

/// The resource `kind/name` in a status document.
pub fn resource<'a>(status: &'a Value, kind: &str, name: &str) -> Option<&'a Value> {
    status["resources"]
        .as_array()?
        .iter()
        .find(|r| r["kind"] == kind && r["name"] == name)
}

/// The Ready condition of `kind/name`: (status, reason, message).
pub fn ready(status: &Value, kind: &str, name: &str) -> Option<(bool, String, String)> {
    let c = resource(status, kind, name)?["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some((
        c["status"].as_bool()?,
        c["reason"].as_str().unwrap_or("").to_owned(),
        c["message"].as_str().unwrap_or("").to_owned(),
    ))
}

/// Ready=True and the declared digest is the observed one: the manifest as written runs.
pub fn is_current_and_ready(status: &Value, kind: &str, name: &str) -> bool {
    let Some(r) = resource(status, kind, name) else {
        return false;
    };
    r["digest"].is_string()
        && r["digest"] == r["observedDigest"]
        && ready(status, kind, name).is_some_and(|(ok, _, _)| ok)
}

/// Every resource Ready and current.
pub fn all_ready(status: &Value) -> bool {
    status["resources"].as_array().is_some_and(|rs| {
        !rs.is_empty()
            && rs.iter().all(|r| {
                is_current_and_ready(
                    status,
                    r["kind"].as_str().unwrap_or(""),
                    r["name"].as_str().unwrap_or(""),
                )
            })
    })
}

/// The Ready=False reason of `kind/name`, if it is not Ready.
pub fn not_ready_reason(status: &Value, kind: &str, name: &str) -> Option<String> {
    match ready(status, kind, name)? {
        (false, reason, _) => Some(reason),
        _ => None,
    }
}

pub fn generation(status: &Value) -> u64 {
    status["manifests"]["generation"].as_u64().unwrap_or(0)
}

// ---- manifests ----

/// A Workspace whose types and statuses map onto the simulator's DEMO project.
pub fn workspace(name: &str, id: &str) -> String {
    format!(
        "apiVersion: tandem/v1
kind: Workspace
metadata:
  name: {name}
spec:
  id: {id}
  itemTypes:
    - name: Epic
    - name: Story
      parent: Epic
  statuses: [Todo, Doing, Done]
"
    )
}

/// A Cloud Connection authenticating as `email` with the token in secret file `token_file`.
pub fn connection(
    name: &str,
    display_name: &str,
    url: &str,
    email: &str,
    token_file: &str,
    webhook_secret_file: Option<&str>,
) -> String {
    let webhook = webhook_secret_file
        .map(|f| format!("  webhookSecret: {{file: {f}}}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: tandem/v1
kind: Connection
metadata:
  name: {name}
spec:
  displayName: {display_name}
  url: {url}
  deployment: cloud
  auth:
    email: {email}
    apiToken: {{file: {token_file}}}
{webhook}"
    )
}

/// A ProjectIntegration of DEMO (board 1) that passes the simulator's online checks.
pub fn integration(name: &str, display_name: &str, connection: &str, workspace: &str) -> String {
    format!(
        "apiVersion: tandem/v1
kind: ProjectIntegration
metadata:
  name: {name}
spec:
  displayName: {display_name}
  connection: {connection}
  workspace: {workspace}
  project: DEMO
  board: 1
  fieldMapping: demo-fields
  types:
    - {{workspace: Epic, jira: Epic}}
    - {{workspace: Story, jira: Story}}
  statuses:
    - {{workspace: Todo, jira: To Do}}
    - {{workspace: Doing, jira: In Progress}}
    - {{workspace: Done, jira: Done}}
"
    )
}

/// The FieldMapping every [`integration`] refers to: the simulator's components, fix versions
/// and board estimation field.
pub fn field_mapping() -> String {
    "apiVersion: tandem/v1
kind: FieldMapping
metadata:
  name: demo-fields
spec:
  primary:
    components: true
    releases: true
    storyPoints: auto
"
    .to_owned()
}

/// Starts the in-process simulator (Jira Cloud dialect, DESIGN §8 defaults plus `users`).
pub async fn simulator(users: Vec<tandem::sim::SimUser>) -> tandem::sim::SimHandle {
    let mut config = tandem::sim::SimConfig::new(tandem::sim::Deployment::Cloud);
    config.users = users;
    tandem::sim::Simulator::start(config)
        .await
        .expect("simulator starts")
}

/// A loopback URL nothing listens on (bound, then released).
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// The fault suite's secret grep: fails naming the output and the secret when any `needle`
/// appears in any `(what, text)` output.
pub fn assert_no_secrets(outputs: &[(String, String)], needles: &[String]) {
    for (what, text) in outputs {
        for needle in needles {
            assert!(
                !text.contains(needle.as_str()),
                "a secret ({needle}) leaked into {what}: {text}"
            );
        }
    }
}

/// Runs git in `dir` as a person would (a fixed author, no signing), failing the test on
/// error; returns stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
