//! The status page (`GET /` on the admin listener) as a person sees it: the real `tandem run`
//! binary against the in-process simulator, the page opened in a real headless browser
//! (Debian's `chromium`: `--dump-dom` for what is on screen, `--screenshot` for the
//! artifacts under `target/test-artifacts/status-page/`).
//!
//! - the webhook indicator reads "waiting" until the simulator delivers Jira's first event,
//!   then "connected" with the event count, through the page's live updates (JavaScript on)
//!   and in the static view (JavaScript off);
//! - a one-time sync job's progress bar moves while the page polls and ends at its count;
//! - a conflict is listed with links to the item (admin API) and to the issue in Jira;
//! - a rejected manifest appears with its FILE:LINE:COL;
//! - names from manifests are escaped (a `<script>` display name stays text);
//! - neither the page nor its live region ever shows a secret (the fault suite's grep).
//!
//! The live path is observed through a small proxy between the browser and the admin
//! listener: it records every `/live` answer the page's script received, and can hold one
//! back until something has happened (the browser's virtual time stands still while a
//! request is in flight, so "the page was open when the event arrived" is deterministic).
//!
//! Without `chromium` on PATH the browser tests print SKIPPED, and fail under `CI=true`
//! (`.ci/run` installs it).

mod common_daemon;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common_daemon::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HOSTILE: &str = "Demo <script>alert(\"pwned\")</script>";
const JIRA_TOKEN: &str = "page-t0ken-Zq8Xw2Ev";
const WEBHOOK_SECRET: &str = "page-w3bh00k-Rt5Yu7Io";
const ADMIN_TOKEN: &str = "page-adm1n-Bn4Mk9Lp";
const EMAIL: &str = "page-robot@example.com";

/// The browser, or `None` (SKIPPED loudly; a failure under `CI=true`).
fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser"] {
        if let Ok(out) = std::process::Command::new("which").arg(name).output() {
            let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if out.status.success() && !path.is_empty() {
                return Some(PathBuf::from(path));
            }
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("chromium is not installed, and CI=true requires the browser tests (.ci/run installs it)");
    }
    eprintln!(
        "SKIPPED: chromium is not installed (apt-get install -y chromium); the status page was \
         not checked in a browser"
    );
    None
}

fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("test-artifacts").join("status-page");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir
}

/// One headless browser run.
struct Browser {
    bin: PathBuf,
    profile: tempfile::TempDir,
}

impl Browser {
    fn new(bin: PathBuf) -> Browser {
        Browser {
            bin,
            profile: tempfile::tempdir().expect("profile dir"),
        }
    }

    async fn run(&self, args: &[String], url: &str) -> String {
        let out = tokio::time::timeout(
            Duration::from_secs(90),
            tokio::process::Command::new(&self.bin)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--hide-scrollbars",
                    "--window-size=1280,2400",
                ])
                .arg(format!("--user-data-dir={}", self.profile.path().display()))
                .args(args)
                .arg(url)
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("chromium finishes")
        .expect("chromium runs");
        assert!(out.status.success(), "chromium failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The DOM after load; with `js`, after `budget_ms` of virtual time of live updates.
    async fn dom(&self, url: &str, js: bool, budget_ms: u64) -> String {
        let mut args = vec!["--dump-dom".to_owned()];
        if js {
            args.push(format!("--virtual-time-budget={budget_ms}"));
            self.run(&args, url).await
        } else {
            args.push("--virtual-time-budget=2000".to_owned());
            let dom = self.run(&args, &static_view(url)).await;
            assert!(
                dom.contains("data-live=\"static\""),
                "the page's script did not run in the static view: {dom}"
            );
            dom
        }
    }

    async fn screenshot(&self, url: &str, name: &str, js: bool) {
        let path = artifacts().join(name);
        let args = vec![
            format!("--screenshot={}", path.display()),
            "--virtual-time-budget=2000".to_owned(),
        ];
        let url = if js { url.to_owned() } else { static_view(url) };
        self.run(&args, &url).await;
        assert!(path.exists(), "screenshot {} written", path.display());
        println!("screenshot: {}", path.display());
    }
}

/// The page as a browser with JavaScript off shows it: the proxy serves `/?nojs` with a
/// Content-Security-Policy that blocks every script (chromium's headless `--dump-dom` needs
/// scripting itself, so the switch cannot be the browser's).
fn static_view(url: &str) -> String {
    format!("{url}?nojs")
}

type Hook = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A tiny HTTP proxy in front of the admin listener: one request per connection, `GET` only.
/// Every `/live` answer is recorded; `hold` (if set) runs before the next `/live` request is
/// forwarded and is then cleared.
struct Proxy {
    url: String,
    lives: Arc<Mutex<Vec<String>>>,
    hold: Arc<Mutex<Option<Hook>>>,
    /// Real time added to every `/live` request, so virtual time spans real time.
    delay: Arc<Mutex<Duration>>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let lives: Arc<Mutex<Vec<String>>> = Arc::default();
        let hold: Arc<Mutex<Option<Hook>>> = Arc::default();
        let delay = Arc::new(Mutex::new(Duration::ZERO));
        let (l, h, d) = (lives.clone(), hold.clone(), delay.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (client, upstream, l, h, d) = (
                    client.clone(),
                    upstream.clone(),
                    l.clone(),
                    h.clone(),
                    d.clone(),
                );
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).into_owned();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    if path == "/live" {
                        let hook = h.lock().unwrap().take();
                        if let Some(hook) = hook {
                            hook().await;
                        }
                        let wait = *d.lock().unwrap();
                        tokio::time::sleep(wait).await;
                    }
                    let (status, ctype, body) =
                        match client.get(format!("{upstream}{path}")).send().await {
                            Ok(r) => {
                                let status = r.status().as_u16();
                                let ctype = r
                                    .headers()
                                    .get("content-type")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or("text/plain")
                                    .to_owned();
                                (status, ctype, r.text().await.unwrap_or_default())
                            }
                            Err(e) => (502, "text/plain".to_owned(), e.to_string()),
                        };
                    if path == "/live" {
                        l.lock().unwrap().push(body.clone());
                    }
                    let csp = if path.ends_with("?nojs") {
                        "content-security-policy: script-src 'none'\r\n"
                    } else {
                        ""
                    };
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\n\
                         cache-control: no-store\r\n{csp}connection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Proxy {
            url,
            lives,
            hold,
            delay,
        }
    }

    fn lives(&self) -> Vec<String> {
        self.lives.lock().unwrap().clone()
    }
}

/// `data-NAME="VALUE"` values in `html`, in document order.
fn attrs(html: &str, name: &str) -> Vec<String> {
    let needle = format!("{name}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_owned()
        })
        .collect()
}

/// The job row of `id`: (processed, total) as its progress bar shows them.
fn job_progress(html: &str, id: &str) -> Option<(u64, u64)> {
    let start = html.find(&format!("data-job=\"{id}\""))?;
    let row = &html[start..start + html[start..].find("</tr>")?];
    let value = attrs(row, "value").first()?.parse().ok()?;
    let max = attrs(row, "max").first()?.parse().ok()?;
    Some((value, max))
}

/// What the page showed of one job while it ran.
struct Watched {
    /// (processed, bar value and max when the bar has a length), one per poll of the page.
    seen: Vec<(u64, Option<(u64, u64)>)>,
    count: u64,
}

/// Opens the page, declares the SyncJob `name` at the page's first poll (so the page is open
/// before the job starts), keeps the page open until the job has ended, and checks what the
/// static view shows at the end: a full bar at the job's count and its final counts.
async fn watch_job(
    browser: &Browser,
    proxy: &Proxy,
    d: &Daemon,
    dirs: &DaemonDirs,
    name: &str,
    yaml: &str,
) -> Watched {
    let file = dirs.manifests.join(format!("{name}.yaml"));
    let yaml = yaml.to_owned();
    let hook: Hook = Arc::new(move || {
        let (file, yaml) = (file.clone(), yaml.clone());
        Box::pin(async move { write_atomically(&file, &yaml) })
    });
    *proxy.hold.lock().unwrap() = Some(hook);
    *proxy.delay.lock().unwrap() = Duration::from_millis(300);
    let before = proxy.lives().len();
    let page = format!("{}/", proxy.url);
    let deadline = Instant::now() + Duration::from_secs(180);
    let job = loop {
        let _ = browser.dom(&page, true, 20_000).await;
        let status = d.status().await;
        let job = status["jobs"]
            .as_array()
            .and_then(|j| j.iter().find(|j| j["manifest"] == name))
            .cloned();
        if let Some(job) = job.filter(|j| j["state"] != "running") {
            break job;
        }
        assert!(Instant::now() < deadline, "SyncJob/{name} never finished");
    };
    *proxy.delay.lock().unwrap() = Duration::ZERO;
    let id = job["id"].as_str().expect("job id").to_owned();
    assert_eq!(job["state"], "completed", "{job:#}");
    let seen: Vec<(u64, Option<(u64, u64)>)> = proxy.lives()[before..]
        .iter()
        .filter_map(|h| {
            let start = h.find(&format!("data-job=\"{id}\""))?;
            let row = &h[start..];
            let processed = attrs(row, "data-processed").first()?.parse().ok()?;
            Some((processed, job_progress(h, &id)))
        })
        .collect();
    println!("SyncJob/{name} as the page showed it: {seen:?}");
    let count = job["processed"].as_u64().expect("processed");
    assert!(count > 0, "{job:#}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let dom = browser.dom(&page, false, 0).await;
    assert_eq!(job_progress(&dom, &id), Some((count, count)), "{dom}");
    assert!(
        dom.contains(&format!("{} created", job["counts"]["created"])),
        "final counts shown: {dom}"
    );
    Watched { seen, count }
}

fn manifests(dirs: &DaemonDirs, sim_url: &str) {
    dirs.secret("token", JIRA_TOKEN);
    dirs.secret("webhook-secret", WEBHOOK_SECRET);
    dirs.manifest("workspace.yaml", &workspace("product", "product"));
    dirs.manifest(
        "connection.yaml",
        &connection(
            "jira",
            "Jira",
            sim_url,
            EMAIL,
            "token",
            Some("webhook-secret"),
        ),
    );
    dirs.manifest("fields.yaml", &field_mapping());
    dirs.manifest(
        "integration.yaml",
        &integration("demo", &format!("'{HOSTILE}'"), "jira", "product"),
    );
}

/// The same on a Data Center simulator (basic auth `admin`/`admin`).
fn data_center_manifests(dirs: &DaemonDirs, sim_url: &str) {
    dirs.secret("password", "admin");
    dirs.secret("webhook-secret", WEBHOOK_SECRET);
    dirs.manifest("workspace.yaml", &workspace("product", "product"));
    dirs.manifest(
        "connection.yaml",
        &format!(
            "apiVersion: tandem/v1\nkind: Connection\nmetadata:\n  name: jira\nspec:\n  displayName: Jira\n  url: {sim_url}\n  deployment: dataCenter\n  auth:\n    username: admin\n    password: {{file: password}}\n  webhookSecret: {{file: webhook-secret}}\n"
        ),
    );
    dirs.manifest("fields.yaml", &field_mapping());
    dirs.manifest(
        "integration.yaml",
        &integration("demo", &format!("'{HOSTILE}'"), "jira", "product"),
    );
}

async fn sim() -> tandem::sim::SimHandle {
    simulator(vec![tandem::sim::SimUser::new(EMAIL, JIRA_TOKEN, true)]).await
}

fn connected(status: &Value) -> bool {
    resource(status, "Connection", "jira").is_some_and(|c| c["webhook"]["state"] == "connected")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_sees_the_webhook_light_up_a_job_progress_and_a_rejected_manifest() {
    let Some(bin) = chromium() else {
        return;
    };
    let browser = Browser::new(bin);
    // Data Center: its search says how many issues match, so the bar has a length.
    let sim = tandem::sim::Simulator::start(tandem::sim::SimConfig::new(
        tandem::sim::Deployment::DataCenter,
    ))
    .await
    .expect("simulator starts");
    sim.generate_issues(600, 5);
    let dirs = DaemonDirs::new();
    data_center_manifests(&dirs, &sim.base_url());
    let d = Daemon::start(&dirs, DaemonOptions::default()).await;
    d.wait_status("every resource Ready", all_ready).await;
    let proxy = Proxy::start(d.admin.clone()).await;
    let page = format!("{}/", proxy.url);

    // The static view (no JavaScript): waiting, with the manual webhook URL, the mapping
    // with its verdicts, and the hostile display name as text.
    let dom = browser.dom(&page, false, 0).await;
    assert_eq!(attrs(&dom, "data-webhook"), vec!["waiting"], "{dom}");
    assert!(dom.contains("waiting for Jira's first event"), "{dom}");
    assert!(
        dom.contains("/webhooks/jira/product</code>"),
        "manual webhook URL shown: {dom}"
    );
    assert!(dom.contains("data-verdict=\"ok\""), "{dom}");
    assert!(!dom.contains("data-verdict=\"failed\""), "{dom}");
    assert!(
        dom.contains("Demo &lt;script&gt;alert(\"pwned\")&lt;/script&gt;"),
        "{dom}"
    );
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "only the page's own script: {dom}"
    );
    let raw = d.admin_get("/").await;
    assert!(!raw.contains("<script>alert"), "escaped on the wire too");
    browser.screenshot(&page, "1-waiting.png", false).await;

    // The page is open (JavaScript on) when Jira's first event arrives: the proxy holds the
    // page's first poll until the simulator has delivered an event and the daemon stored it.
    sim.register_webhook(tandem::sim::webhooks::Webhook::for_all_events(
        &format!("{}/webhooks/jira/product", d.public),
        Some(WEBHOOK_SECRET.to_owned()),
    ))
    .expect("register webhook");
    {
        let admin = d.admin.clone();
        let sim_url = sim.base_url();
        let hook: Hook = Arc::new(move || {
            let (admin, sim_url) = (admin.clone(), sim_url.clone());
            Box::pin(async move {
                // Jira's side: a person creates an issue; the simulator fires issue_created.
                let resp = reqwest::Client::new()
                    .post(format!("{sim_url}/rest/api/2/issue"))
                    .basic_auth("admin", Some("admin"))
                    .json(&json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": "lights the webhook icon"}}))
                    .send()
                    .await
                    .expect("create issue");
                assert!(resp.status().is_success(), "{resp:?}");
                let deadline = Instant::now() + GUARD;
                loop {
                    let s: Value = reqwest::get(format!("{admin}/api/v1/status"))
                        .await
                        .expect("status")
                        .json()
                        .await
                        .expect("json");
                    if connected(&s) {
                        break;
                    }
                    assert!(Instant::now() < deadline, "the event never arrived: {s:#}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                // Past the page's render cache, so the poll renders the new state.
                tokio::time::sleep(Duration::from_millis(1100)).await;
            })
        });
        *proxy.hold.lock().unwrap() = Some(hook);
    }
    let dom = browser.dom(&format!("{}/", proxy.url), true, 4000).await;
    let lives = proxy.lives();
    assert!(!lives.is_empty(), "the page polled its live region");
    assert_eq!(
        attrs(&lives[0], "data-webhook"),
        vec!["connected"],
        "{}",
        lives[0]
    );
    assert_eq!(attrs(&dom, "data-webhook"), vec!["connected"], "{dom}");
    assert!(dom.contains("data-live=\"updated\""), "{dom}");
    // Straight from the daemon, under its Content-Security-Policy: the script still runs
    // (allowed by its hash) and its polls still land.
    let direct = browser.dom(&format!("{}/", d.admin), true, 3000).await;
    assert!(direct.contains("data-live=\"updated\""), "{direct}");
    let events: Vec<String> = dom
        .match_indices("<span class=\"events\">")
        .map(|(i, m)| {
            let rest = &dom[i + m.len()..];
            rest[..rest.find('<').unwrap_or(0)].to_owned()
        })
        .collect();
    assert!(
        events
            .first()
            .is_some_and(|n| n.parse::<u64>().unwrap_or(0) >= 1),
        "event count shown: {events:?}"
    );
    browser.screenshot(&page, "2-connected.png", false).await;

    // One-time sync jobs while the page is open. An import first: Jira's search does not
    // say how many issues there are, so its bar is indeterminate while it runs, but the count
    // beside it moves; then a push, whose total is known: the bar itself moves. Both end
    // with a full bar at their count.
    sim.set_latency(Duration::from_millis(400));
    // The import keeps all its few batches in flight at once; a Jira that answers two
    // requests a second (429 with Retry-After beyond) makes them land one after the other.
    sim.set_rate_limit(Some(tandem::sim::RateLimit {
        per_second: 2.0,
        burst: 1,
    }));
    let import = watch_job(
        &browser,
        &proxy,
        &d,
        &dirs,
        "import-all",
        "apiVersion: tandem/v1\nkind: SyncJob\nmetadata: {name: import-all}\nspec:\n  integration: demo\n  direction: fromJira\n",
    )
    .await;
    let counts: Vec<u64> = import.seen.iter().map(|(p, _)| *p).collect();
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "the count never goes back: {counts:?}"
    );
    assert!(
        counts.iter().any(|p| *p > 0 && *p < import.count),
        "the count moved while the page was open: {counts:?}"
    );
    sim.set_rate_limit(None);
    sim.set_latency(Duration::from_millis(25));
    let push = watch_job(
        &browser,
        &proxy,
        &d,
        &dirs,
        "push-all",
        "apiVersion: tandem/v1\nkind: SyncJob\nmetadata: {name: push-all}\nspec:\n  integration: demo\n  direction: toJira\n  scope: all\n",
    )
    .await;
    let bars: Vec<(u64, u64)> = push.seen.iter().filter_map(|(_, bar)| *bar).collect();
    assert!(
        bars.windows(2).all(|w| w[0].0 <= w[1].0),
        "the bar never goes back: {bars:?}"
    );
    assert!(
        bars.iter().any(|(v, max)| *v > 0 && v < max),
        "the bar moved while the page was open: {bars:?}"
    );
    sim.set_latency(Duration::ZERO);
    browser.screenshot(&page, "3-jobs-done.png", false).await;

    // A conflict: Jira's edit is not announced (its webhook is lost), then the workspace edits
    // the same field. The page lists it with links to the item and to the issue in Jira.
    let items: Value = serde_json::from_str(
        &d.admin_get("/api/v1/workspaces/product/items?limit=1")
            .await,
    )
    .expect("items");
    let item = items["items"][0].clone();
    let (id, key) = (
        item["id"].as_str().expect("id").to_owned(),
        item["jira"]["key"].as_str().expect("linked").to_owned(),
    );
    sim.set_webhook_faults(tandem::sim::webhooks::Faults {
        duplicate_and_reorder: false,
        drop_rate: 1.0,
    });
    sim.edit_issue(&key, json!({"fields": {"summary": "edited in Jira"}}))
        .expect("edit in Jira");
    let _ = tokio::time::timeout(Duration::from_secs(5), sim.webhooks_idle()).await;
    sim.set_webhook_faults(tandem::sim::webhooks::Faults::default());
    tokio::time::sleep(Duration::from_millis(20)).await;
    let resp = d
        .admin_request(
            reqwest::Method::PATCH,
            &format!("/api/v1/workspaces/product/items/{id}"),
        )
        .json(&json!({"title": "edited in the workspace"}))
        .send()
        .await
        .expect("PATCH");
    assert!(resp.status().is_success(), "{resp:?}");
    d.wait_status("the conflict listed", |s| {
        resource(s, "ProjectIntegration", "demo").is_some_and(|r| {
            r["recentConflicts"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["item"] == id.as_str()))
        })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let dom = browser.dom(&page, false, 0).await;
    let table = dom
        .find("<table class=\"conflicts\">")
        .map(|i| &dom[i..i + dom[i..].find("</table>").unwrap_or(0)])
        .unwrap_or_else(|| panic!("conflicts listed: {dom}"));
    assert!(
        table.contains(&format!("href=\"/api/v1/workspaces/product/items/{id}\"")),
        "{table}"
    );
    assert!(
        table.contains(&format!("href=\"{}/browse/{key}\"", sim.base_url())),
        "{table}"
    );

    // A rejected manifest: shown with its position, while the last good version runs on.
    dirs.manifest(
        "broken.yaml",
        "apiVersion: tandem/v1\nkind: Connection\nmetadata:\n  name: broken\nspec:\n  displayName: Broken\n  url: https://jira.example.com\n  auht: {}\n",
    );
    d.wait_status("Connection/broken rejected", |s| {
        resource(s, "Connection", "broken").is_some_and(|r| r["rejected"].is_array())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let dom = browser.dom(&page, true, 2000).await;
    let li = dom
        .find("data-resource=\"Connection/broken\"")
        .map(|i| &dom[i..i + dom[i..].find("</li>").unwrap_or(0)])
        .unwrap_or_else(|| panic!("rejected manifest listed: {dom}"));
    let marker = "class=\"position\">";
    let start = li.find(marker).expect("a position") + marker.len();
    let position = li[start..start + li[start..].find('<').unwrap_or(0)].to_owned();
    let parts: Vec<&str> = position.rsplitn(3, ':').collect();
    assert!(
        parts.len() == 3
            && parts[2].ends_with("broken.yaml")
            && parts[1].parse::<u32>().is_ok()
            && parts[0].parse::<u32>().is_ok(),
        "FILE:LINE:COL, got {position}"
    );
    browser.screenshot(&page, "4-rejected.png", true).await;

    let (exit, _) = d.stop().await;
    assert!(exit.success(), "{exit:?}");
    sim.shutdown().await.expect("sim shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_live_region_never_show_a_secret() {
    let sim = sim().await;
    sim.generate_issues(60, 9);
    let dirs = DaemonDirs::new();
    manifests(&dirs, &sim.base_url());
    dirs.secret("admin-bearer", ADMIN_TOKEN);
    let d = Daemon::start(
        &dirs,
        DaemonOptions {
            admin_token_file: Some(dirs.secrets.join("admin-bearer")),
            ..DaemonOptions::default()
        },
    )
    .await;
    d.wait_status("every resource Ready", all_ready).await;

    // Same auth as the admin API: no token, no page.
    for path in ["/", "/live"] {
        let resp = reqwest::get(format!("{}{path}", d.admin))
            .await
            .expect("GET");
        assert_eq!(resp.status().as_u16(), 401, "{path}");
    }

    let mut outputs = Vec::new();
    // A webhook from Jira (signed with the secret), a one-time sync, and a rotation of the
    // Jira token: everything the page shows changes while it is read.
    sim.register_webhook(tandem::sim::webhooks::Webhook::for_all_events(
        &format!("{}/webhooks/jira/product", d.public),
        Some(WEBHOOK_SECRET.to_owned()),
    ))
    .expect("register");
    sim.create_issue(
        json!({"project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": "s"}),
    )
    .expect("create");
    let out = d.cli(&["sync", "demo", "--from-jira"]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    d.wait_status("webhook connected", connected).await;
    for i in 0..6 {
        outputs.push((format!("GET / #{i}"), d.admin_get("/").await));
        outputs.push((format!("GET /live #{i}"), d.admin_get("/live").await));
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    let page = d.admin_get("/").await;
    assert!(page.contains("data-webhook=\"connected\""), "{page}");
    assert!(page.contains("<progress"), "{page}");
    let needles = vec![
        JIRA_TOKEN.to_owned(),
        WEBHOOK_SECRET.to_owned(),
        ADMIN_TOKEN.to_owned(),
        base64_basic(EMAIL, JIRA_TOKEN),
    ];
    assert_no_secrets(&outputs, &needles);
    println!("secret grep: {} page outputs checked", outputs.len());
    let (exit, _) = d.stop().await;
    assert!(exit.success(), "{exit:?}");
    sim.shutdown().await.expect("sim shutdown");
}

fn base64_basic(user: &str, secret: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
}
