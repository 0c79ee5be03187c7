//! `tandem sync`: starts a one-time sync through the daemon's admin API
//! (`POST /api/v1/integrations/{name}/sync`), then follows `GET /api/v1/jobs/{id}` and prints
//! progress until the job ends. Exit 0 when it completed, 1 when it failed, 2 when the daemon
//! could not be asked.
//!
//! The job runs in the daemon: interrupting this command does not stop it, and the job id it
//! prints can be looked up later.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

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

/// The request body the flags describe.
fn request_body(args: &SyncArgs) -> Value {
    if args.from_jira {
        match &args.jql {
            Some(q) => json!({"direction": "fromJira", "jql": q}),
            None => json!({"direction": "fromJira"}),
        }
    } else if !args.sprints.is_empty() {
        json!({"direction": "toJira", "scope": {"sprints": args.sprints}})
    } else if !args.releases.is_empty() {
        json!({"direction": "toJira", "scope": {"releases": args.releases}})
    } else {
        json!({"direction": "toJira", "scope": "all"})
    }
}

pub fn run(args: SyncArgs) -> ExitCode {
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
    ExitCode::from(EXIT_USAGE)
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
    let mut last = String::new();
    loop {
        let job = api.send(api.client.get(&url), &url).await?;
        let line = progress_line(&job);
        if line != last {
            eprintln!("{line}");
            last = line;
        }
        match job.get("state").and_then(Value::as_str) {
            Some("completed") => {
                print_result(&job);
                return Ok(true);
            }
            Some("failed") => {
                print_result(&job);
                return Ok(false);
            }
            _ => tokio::time::sleep(POLL).await,
        }
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

/// The final counts on stdout (for scripts) and the errors on stderr.
fn print_result(job: &Value) {
    if let Some(m) = job.get("message").and_then(Value::as_str) {
        eprintln!("error: {m}");
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
