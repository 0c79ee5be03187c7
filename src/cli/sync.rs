//! `tandem sync`: starts a one-time sync through the daemon's admin API
//! (`POST /api/v1/integrations/{name}/sync`), then follows `GET /api/v1/jobs/{id}` and shows
//! progress until the job ends: a bar with rate and ETA on a terminal, plain lines otherwise.
//! Exit 0 when it completed, 1 when it failed or the daemon refused it (unknown integration,
//! sprint or release), 2 for usage errors (no direction, no scope) or when the daemon could not
//! be asked.
//!
//! `--to-jira` needs an explicit scope, because "everything" is too big a default for a write
//! to someone's Jira; `--dry-run` asks the daemon what the push or import would do and writes
//! nothing.
//!
//! The job runs in the daemon: interrupting this command does not stop it, and the job id it
//! prints can be looked up later.

use std::io::{IsTerminal as _, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{SyncArgs, EXIT_USAGE};

/// How often the job's record is read while it runs.
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
enum SyncCliError {
    #[error("cannot reach the tandem daemon at {url} (is `tandem run` running? set --admin or TANDEM_ADMIN_URL)")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the daemon answered {status} for {url}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("cannot read the admin token file named by TANDEM_ADMIN_TOKEN_FILE")]
    Token(#[source] std::io::Error),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("the daemon's answer has no job id")]
    NoId,
}

impl SyncCliError {
    /// A refusal of the request itself (4xx) is the job failing to start: 1. The rest is
    /// usage or reachability: 2.
    fn exit_code(&self) -> u8 {
        match self {
            SyncCliError::Status { status, .. } if (400..500).contains(status) => 1,
            _ => EXIT_USAGE,
        }
    }
}

/// Why the flags do not describe a job.
fn usage_error(args: &SyncArgs) -> Option<&'static str> {
    if !args.from_jira && !args.to_jira {
        return Some(
            "choose a direction: --from-jira (Jira to the workspace) or --to-jira (the workspace to Jira)",
        );
    }
    if args.to_jira && !args.all && args.sprints.is_empty() && args.releases.is_empty() {
        return Some(
            "--to-jira needs a scope: --all (the whole workspace), --sprint NAME or --release NAME",
        );
    }
    None
}

/// The request body the flags describe.
fn request_body(args: &SyncArgs) -> Value {
    if args.from_jira {
        let mut body = match &args.jql {
            Some(q) => json!({"direction": "fromJira", "jql": q}),
            None => json!({"direction": "fromJira"}),
        };
        if args.dry_run {
            body["dryRun"] = json!(true);
        }
        body
    } else {
        let scope = if !args.sprints.is_empty() {
            json!({"sprints": args.sprints})
        } else if !args.releases.is_empty() {
            json!({"releases": args.releases})
        } else {
            json!("all")
        };
        let mut body = json!({"direction": "toJira", "scope": scope});
        if args.dry_run {
            body["dryRun"] = json!(true);
        }
        body
    }
}

pub fn run(args: SyncArgs) -> ExitCode {
    if let Some(why) = usage_error(&args) {
        eprintln!("error: {why}");
        return ExitCode::from(EXIT_USAGE);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&SyncCliError::Runtime(e)),
    };
    match rt.block_on(follow(&args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => fail(&e),
    }
}

fn fail(e: &SyncCliError) -> ExitCode {
    eprintln!("error: {}", super::error_chain(e));
    ExitCode::from(e.exit_code())
}

struct Api {
    base: String,
    client: reqwest::Client,
    token: Option<String>,
}

impl Api {
    async fn send(&self, req: reqwest::RequestBuilder, url: &str) -> Result<Value, SyncCliError> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let unreachable = |source| SyncCliError::Unreachable {
            url: url.to_owned(),
            source,
        };
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status();
        let text = resp.text().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(SyncCliError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
                body: text,
            });
        }
        serde_json::from_str(&text).map_err(|_| SyncCliError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
            body: text,
        })
    }
}

/// Starts the job and prints its progress; `Ok(true)` when it completed.
async fn follow(args: &SyncArgs) -> Result<bool, SyncCliError> {
    let token = match std::env::var_os("TANDEM_ADMIN_TOKEN_FILE") {
        Some(file) => Some(
            std::fs::read_to_string(file)
                .map_err(SyncCliError::Token)?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    let base = args.admin.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|source| SyncCliError::Unreachable {
            url: base.clone(),
            source,
        })?;
    let api = Api {
        base,
        client,
        token,
    };
    let integration: String = percent_encoding::utf8_percent_encode(
        &args.integration,
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string();
    let url = format!("{}/api/v1/integrations/{integration}/sync", api.base);
    let started = api
        .send(api.client.post(&url).json(&request_body(args)), &url)
        .await?;
    let id = started
        .get("id")
        .and_then(Value::as_str)
        .ok_or(SyncCliError::NoId)?
        .to_owned();
    eprintln!("started sync job {id}");
    let url = format!(
        "{}/api/v1/jobs/{}",
        api.base,
        percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC)
    );
    let mut progress = Progress::new(std::io::stderr().is_terminal());
    loop {
        let job = api.send(api.client.get(&url), &url).await?;
        progress.show(&job);
        match job.get("state").and_then(Value::as_str) {
            Some("completed") => {
                progress.done();
                print_result(&job);
                return Ok(true);
            }
            Some("failed") => {
                progress.done();
                print_result(&job);
                return Ok(false);
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
}

/// Shows a job's progress: on a terminal one bar redrawn in place, with rate and ETA when the
/// total is known; otherwise one plain line whenever it changes (logs, CI, pipes).
struct Progress {
    tty: bool,
    started: Instant,
    last: String,
    drawn: bool,
}

/// Width of the bar in characters.
const BAR: usize = 30;

impl Progress {
    fn new(tty: bool) -> Self {
        Progress {
            tty,
            started: Instant::now(),
            last: String::new(),
            drawn: false,
        }
    }

    fn show(&mut self, job: &Value) {
        let processed = job.get("processed").and_then(Value::as_u64).unwrap_or(0);
        let total = job.get("total").and_then(Value::as_u64);
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            processed as f64 / secs
        } else {
            0.0
        };
        if !self.tty {
            let line = progress_line(job);
            if line != self.last {
                eprintln!("{line}");
                self.last = line;
            }
            return;
        }
        let bar = bar(processed, total, rate);
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[2K{bar}  {} created, {} updated, {} skipped, {} failed",
            count(job, "created"),
            count(job, "updated"),
            count(job, "skipped"),
            count(job, "failed"),
        );
        let _ = std::io::stderr().flush();
        self.drawn = true;
    }

    /// Ends the bar's line so what follows starts on a new one.
    fn done(&mut self) {
        if self.drawn {
            eprintln!();
        }
    }
}

/// The bar itself: `[####------] 40/100  40% 12.5/s ETA 0:05` when the total is known, the
/// count and rate otherwise (an import: Jira's search does not say how many issues match).
fn bar(processed: u64, total: Option<u64>, rate: f64) -> String {
    match total {
        Some(t) if t > 0 => {
            let filled = ((processed.min(t) as f64 / t as f64) * BAR as f64).round() as usize;
            let eta = if rate > 0.0 && processed < t {
                format!(" ETA {}", clock((t - processed) as f64 / rate))
            } else {
                String::new()
            };
            format!(
                "[{}{}] {processed}/{t} {:>3}% {rate:.1}/s{eta}",
                "#".repeat(filled),
                "-".repeat(BAR - filled),
                processed.min(t) * 100 / t
            )
        }
        _ => format!("{processed} processed {rate:.1}/s"),
    }
}

/// Seconds as `M:SS` (or `H:MM:SS`).
fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn count(job: &Value, key: &str) -> u64 {
    job.pointer(&format!("/counts/{key}"))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

fn progress_line(job: &Value) -> String {
    let processed = job.get("processed").and_then(Value::as_u64).unwrap_or(0);
    let progress = match job.get("total").and_then(Value::as_u64) {
        Some(t) => format!("{processed}/{t}"),
        None => processed.to_string(),
    };
    format!(
        "{}: {progress} processed ({} created, {} updated, {} unchanged, {} skipped, {} failed)",
        job.get("state").and_then(Value::as_str).unwrap_or("?"),
        count(job, "created"),
        count(job, "updated"),
        count(job, "unchanged"),
        count(job, "skipped"),
        count(job, "failed"),
    )
}

/// The final counts on stdout (for scripts) and the errors on stderr; for a dry run, first
/// what it would do with each item.
fn print_result(job: &Value) {
    if let Some(m) = job.get("message").and_then(Value::as_str) {
        eprintln!("error: {m}");
    }
    let dry_run = job.pointer("/request/dryRun").and_then(Value::as_bool) == Some(true);
    if dry_run {
        let mut out = std::io::stdout().lock();
        for p in job
            .get("planned")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let sign = match p["action"].as_str().unwrap_or("") {
                "create" => "+ would create",
                "update" => "~ would update",
                "unchanged" => "  unchanged",
                "skip" => "= would skip",
                _ => "! would fail",
            };
            let _ = writeln!(
                out,
                "{sign} {}: {}",
                p["subject"].as_str().unwrap_or("?"),
                p["detail"].as_str().unwrap_or("")
            );
        }
    }
    for e in job
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        eprintln!(
            "  {}: {}",
            e.get("subject").and_then(Value::as_str).unwrap_or("?"),
            e.get("message").and_then(Value::as_str).unwrap_or("")
        );
    }
    if dry_run {
        eprintln!("dry run: nothing was written to Jira or the workspace");
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "created={} updated={} unchanged={} skipped={} failed={}",
        count(job, "created"),
        count(job, "updated"),
        count(job, "unchanged"),
        count(job, "skipped"),
        count(job, "failed"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_shows_progress_rate_and_eta() {
        assert_eq!(
            bar(40, Some(100), 4.0),
            "[############------------------] 40/100  40% 4.0/s ETA 0:15"
        );
        assert_eq!(
            bar(100, Some(100), 4.0),
            "[##############################] 100/100 100% 4.0/s"
        );
        assert_eq!(bar(7, None, 2.5), "7 processed 2.5/s");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
