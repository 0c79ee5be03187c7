//! `tandem status`: what the daemon runs, as a table for people or JSON for scripts.
//!
//! Exit codes are a contract, so a script or a person glancing at `$?` cannot miss trouble:
//! 0 every resource is Ready, no edit is rejected and the manifest directory can be read; 1
//! something is not Ready, a manifest edit is rejected, the directory has a problem or the
//! named resource does not exist; 2 the daemon cannot be reached.

use std::process::ExitCode;

use serde_json::Value;

use super::{admin_client, OutputFormat, StatusArgs, EXIT_USAGE};

/// The longest MESSAGE a table row shows; the rest is in `tandem status NAME` and JSON.
const MESSAGE_WIDTH: usize = 160;

pub fn run(args: StatusArgs) -> ExitCode {
    let status = match admin_client::get_json(&args.admin, "/api/v1/status") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", super::error_chain(&e));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Some(name) = &args.name {
        let found: Vec<&Value> = status["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| s(r, "name") == name)
            .collect();
        if found.is_empty() {
            eprintln!("error: no resource named {name} (see `tandem status` for the list)");
            return ExitCode::FAILURE;
        }
        match args.output {
            OutputFormat::Json => println!(
                "{}",
                serde_json::to_string_pretty(&found).unwrap_or_default()
            ),
            OutputFormat::Table => {
                for r in &found {
                    print!("{}", render_resource(r));
                }
            }
        }
        let healthy = found.iter().all(|r| resource_healthy(r));
        return if healthy {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&status).unwrap_or_default()
        ),
        OutputFormat::Table => print!("{}", render_table(&status)),
    }
    if healthy(&status) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Ready and its latest declaration accepted.
fn resource_healthy(r: &Value) -> bool {
    ready(r).0 == "True" && r.get("rejected").is_none_or(Value::is_null)
}

/// Every resource healthy, no rejected edit (including files that do not parse) and no
/// problem reading the manifests.
pub fn healthy(status: &Value) -> bool {
    let m = &status["manifests"];
    let resources_ok = status["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .all(resource_healthy);
    resources_ok
        && m["errors"].as_u64().unwrap_or(0) == 0
        && m["rejectedCommit"].is_null()
        && m["problem"].is_null()
}

/// One resource in full: every condition, the rejected diagnostics with their hints, the
/// webhook URL to create by hand, and the details of the last reconcile.
pub fn render_resource(r: &Value) -> String {
    let mut out = format!("{}/{}\n", s(r, "kind"), s(r, "name"));
    for c in r["conditions"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}: {} {}\n",
            s(c, "type"),
            if c["status"].as_bool() == Some(true) {
                "True"
            } else {
                "False"
            },
            s(c, "reason")
        ));
        for line in s(c, "message").lines() {
            out.push_str(&format!("      {line}\n"));
        }
    }
    if let Some(url) = manual_webhook_url(r) {
        out.push_str(&format!("  create this webhook in Jira: {url}\n"));
    }
    for d in r["rejected"].as_array().into_iter().flatten() {
        out.push_str("  rejected edit (the last good version keeps running):\n");
        for line in d.as_str().unwrap_or("").lines() {
            out.push_str(&format!("      {line}\n"));
        }
    }
    if let Some(details) = r.get("details").filter(|d| !d.is_null()) {
        out.push_str("  details:\n");
        for line in serde_json::to_string_pretty(details)
            .unwrap_or_default()
            .lines()
        {
            out.push_str(&format!("      {line}\n"));
        }
    }
    out
}

/// The webhook URL(s) a person must create in Jira for a connection tandem does not manage.
fn manual_webhook_url(r: &Value) -> Option<String> {
    let urls: Vec<&str> = r["webhookSetup"]["manualUrls"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    (!urls.is_empty()).then(|| urls.join(" "))
}

/// Makes any text one table cell: newlines (a multi-line `hint:`) become ` | `, runs of
/// spaces one, and long text is cut with a pointer to the full version.
fn one_line(text: &str, name: &str) -> String {
    let joined: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    if joined.chars().count() <= MESSAGE_WIDTH {
        return joined;
    }
    let cut: String = joined.chars().take(MESSAGE_WIDTH).collect();
    format!("{cut}… (tandem status {name})")
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The Ready condition of a resource: (status, reason, message).
fn ready(resource: &Value) -> (&str, &str, &str) {
    let cond = resource
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| s(c, "type") == "Ready"));
    match cond {
        Some(c) => (
            if c.get("status").and_then(Value::as_bool) == Some(true) {
                "True"
            } else {
                "False"
            },
            s(c, "reason"),
            s(c, "message"),
        ),
        None => ("Unknown", "", ""),
    }
}

/// The table: the manifests header (applied commit, then apart from it a rejected commit,
/// the rejected edits and the uncommitted files), then exactly one row per resource with its
/// Ready condition and the facts people look for (webhook light, link counts).
pub fn render_table(status: &Value) -> String {
    let mut out = String::new();
    let m = &status["manifests"];
    let short = |c: &str| c[..c.len().min(12)].to_owned();
    let from_git = s(m, "source") == "git";
    let commit = match m.get("commit").and_then(Value::as_str) {
        Some(c) => format!(", applied commit {}", short(c)),
        None if from_git => ", no commit accepted whole yet".to_owned(),
        None => String::new(),
    };
    let dir = match s(m, "resolvedDir") {
        "" => s(m, "dir"),
        resolved => resolved,
    };
    let source = match s(m, "source") {
        "" => String::new(),
        source => format!("{source}, "),
    };
    out.push_str(&format!(
        "manifests: {dir} ({source}generation {}{commit})\n",
        m.get("generation").and_then(Value::as_u64).unwrap_or(0),
    ));
    if let Some(problem) = m.get("problem").and_then(Value::as_str) {
        out.push_str(&format!("  PROBLEM: {problem}\n"));
    }
    let errors = m["errors"].as_u64().unwrap_or(0);
    if let Some(c) = m.get("rejectedCommit").and_then(Value::as_str) {
        out.push_str(&format!(
            "  REJECTED commit {}: {errors} error(s); its rejected resources keep their last good version\n",
            short(c)
        ));
    } else if errors > 0 {
        out.push_str(&format!(
            "  REJECTED edits: {errors} error(s); rejected resources keep their last good version\n"
        ));
    }
    for r in m["rejected"].as_array().into_iter().flatten() {
        for d in r["diagnostics"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "    {}\n",
                d.as_str().unwrap_or("").lines().next().unwrap_or("")
            ));
        }
    }
    let dirty: Vec<&str> = m["uncommitted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !dirty.is_empty() {
        out.push_str(&format!(
            "  UNCOMMITTED ({}): {}\n",
            if from_git {
                "ignored until committed"
            } else {
                "running as they are"
            },
            dirty.join(", ")
        ));
    }
    if let Some(error) = status["stateFile"]["error"].as_str() {
        out.push_str(&format!("state file: NOT WRITABLE: {error}\n"));
    }
    for d in m
        .get("diagnostics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.push_str(&format!(
            "  {}\n",
            d.as_str().unwrap_or("").lines().next().unwrap_or("")
        ));
    }
    let mut rows = vec![[
        "KIND".to_owned(),
        "NAME".to_owned(),
        "READY".to_owned(),
        "REASON".to_owned(),
        "MESSAGE".to_owned(),
    ]];
    for r in status
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (ok, reason, message) = ready(r);
        let mut parts: Vec<String> = Vec::new();
        if let Some(why) = r.get("rejected").and_then(Value::as_array) {
            parts.push(format!(
                "REJECTED EDIT ({} error(s), see tandem status {})",
                why.len(),
                s(r, "name")
            ));
        }
        if !message.is_empty() {
            parts.push(message.to_owned());
        }
        // Link counts are read live from the store, unlike the message of the last reconcile.
        if let Some(links) = r.get("links").and_then(Value::as_u64) {
            parts.push(format!("{links} links"));
        }
        // The live sync's backlog and its last successful pair, per integration.
        if let Some(sync) = r.get("sync") {
            let pending = sync.get("pending").and_then(Value::as_u64).unwrap_or(0);
            if pending > 0 {
                parts.push(format!("{pending} pending"));
            }
            if let Some(at) = sync.get("lastSync").and_then(Value::as_str) {
                parts.push(format!(
                    "last sync {}",
                    at.get(..19).unwrap_or(at).replace('T', " ")
                ));
            }
        }
        if let Some(w) = r.get("webhook") {
            parts.push(format!(
                "webhook {} ({} events)",
                s(w, "state"),
                w.get("events").and_then(Value::as_u64).unwrap_or(0)
            ));
        }
        if let Some(url) = manual_webhook_url(r) {
            parts.push(format!("create webhook in Jira: {url}"));
        }
        rows.push([
            s(r, "kind").to_owned(),
            s(r, "name").to_owned(),
            ok.to_owned(),
            one_line(reason, s(r, "name")),
            one_line(&parts.join("; "), s(r, "name")),
        ]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        for (i, w) in widths.iter().enumerate() {
            out.push_str(&format!("{:<w$}  ", r[i], w = w));
        }
        out.push_str(r[4].trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_line_hint_stays_on_its_row_and_a_rejected_commit_is_apart_from_the_applied_one() {
        let status = serde_json::json!({
            "manifests": {"dir": "/etc/tandem", "generation": 3, "source": "git",
                "commit": "1111111111111111", "rejectedCommit": "2222222222222222", "errors": 1,
                "rejected": [{"kind": "Connection", "name": "c", "diagnostics":
                    ["c.yaml:3:5: Connection/c: unknown field `urll`\n  hint: did you mean `url`?"]}],
                "uncommitted": ["x.yaml (deleted)"]},
            "resources": [{"kind": "Connection", "name": "c",
                "conditions": [{"type": "Ready", "status": false, "reason": "InvalidSpec",
                    "message": "first line\n  hint: second line"}],
                "rejected": ["c.yaml:3:5: Connection/c: unknown field `urll`\n  hint: did you mean `url`?"]}],
        });
        let table = render_table(&status);
        assert!(table.contains("applied commit 111111111111"), "{table}");
        assert!(
            table.contains("REJECTED commit 222222222222: 1 error(s)"),
            "{table}"
        );
        assert!(
            table.contains("c.yaml:3:5: Connection/c: unknown field `urll`"),
            "{table}"
        );
        assert!(
            table.contains("UNCOMMITTED (ignored until committed): x.yaml (deleted)"),
            "{table}"
        );
        let rows: Vec<&str> = table
            .lines()
            .skip_while(|l| !l.starts_with("KIND"))
            .collect();
        assert_eq!(rows.len(), 2, "{table}");
        assert!(
            rows[1].contains("first line | hint: second line"),
            "{table}"
        );
        assert!(!healthy(&status));
    }

    #[test]
    fn a_state_file_that_takes_no_writes_is_shown_first() {
        let status = serde_json::json!({
            "manifests": {"dir": "/etc/tandem", "generation": 3},
            "resources": [],
            "stateFile": {"writable": false, "error": "committing: I/O error: No space left on device (os error 28)"},
        });
        let table = render_table(&status);
        assert!(
            table.contains(
                "state file: NOT WRITABLE: committing: I/O error: No space left on device"
            ),
            "{table}"
        );
        let healthy = serde_json::json!({
            "manifests": {"dir": "/etc/tandem", "generation": 3},
            "resources": [],
            "stateFile": {"writable": true, "error": null},
        });
        assert!(!render_table(&healthy).contains("state file"));
    }
}
