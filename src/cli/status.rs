//! `tandem status`: what the daemon runs, as a table for people or JSON for scripts.

use std::process::ExitCode;

use serde_json::Value;

use super::{admin_client, OutputFormat, StatusArgs, EXIT_USAGE};

pub fn run(args: StatusArgs) -> ExitCode {
    let status = match admin_client::get_json(&args.admin, "/api/v1/status") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", super::error_chain(&e));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&status).unwrap_or_default()
        ),
        OutputFormat::Table => print!("{}", render_table(&status)),
    }
    ExitCode::SUCCESS
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

/// The table: a manifests line, then one row per resource with its Ready condition and the
/// facts people look for (webhook light, link counts, rejected edits).
pub fn render_table(status: &Value) -> String {
    let mut out = String::new();
    let m = &status["manifests"];
    let commit = m
        .get("commit")
        .and_then(Value::as_str)
        .map(|c| format!(", commit {}", &c[..c.len().min(12)]))
        .unwrap_or_default();
    let dir = match s(m, "resolvedDir") {
        "" => s(m, "dir"),
        resolved => resolved,
    };
    out.push_str(&format!(
        "manifests: {dir} (generation {}{commit})\n",
        m.get("generation").and_then(Value::as_u64).unwrap_or(0),
    ));
    if let Some(problem) = m.get("problem").and_then(Value::as_str) {
        out.push_str(&format!("  problem: {problem}\n"));
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
        out.push_str(&format!("  {}\n", d.as_str().unwrap_or("")));
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
        let mut message = message.to_owned();
        // Link counts are read live from the store, unlike the message of the last reconcile.
        if let Some(links) = r.get("links").and_then(Value::as_u64) {
            message.push_str(&format!(
                "{}{links} links",
                if message.is_empty() { "" } else { "; " }
            ));
        }
        // The live sync's backlog and its last successful pair, per integration.
        if let Some(sync) = r.get("sync") {
            let pending = sync.get("pending").and_then(Value::as_u64).unwrap_or(0);
            if pending > 0 {
                message.push_str(&format!(
                    "{}{pending} pending",
                    if message.is_empty() { "" } else { "; " }
                ));
            }
            if let Some(at) = sync.get("lastSync").and_then(Value::as_str) {
                message.push_str(&format!(
                    "{}last sync {}",
                    if message.is_empty() { "" } else { "; " },
                    at.get(..19).unwrap_or(at).replace('T', " ")
                ));
            }
        }
        if let Some(w) = r.get("webhook") {
            message.push_str(&format!(
                "{}webhook {} ({} events)",
                if message.is_empty() { "" } else { "; " },
                s(w, "state"),
                w.get("events").and_then(Value::as_u64).unwrap_or(0)
            ));
        }
        if let Some(why) = r.get("rejected").and_then(Value::as_array) {
            for w in why {
                message.push_str(&format!("; rejected edit: {}", w.as_str().unwrap_or("")));
            }
        }
        rows.push([
            s(r, "kind").to_owned(),
            s(r, "name").to_owned(),
            ok.to_owned(),
            reason.to_owned(),
            message,
        ]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        for (i, w) in widths.iter().enumerate() {
            out.push_str(&format!("{:<w$}  ", r[i], w = w));
        }
        out.push_str(&r[4]);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
