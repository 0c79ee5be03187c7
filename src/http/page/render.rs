//! The page's HTML, rendered on the server from the status document (`/api/v1/status`): the
//! same data the CLI and the JSON API show, laid out as the product guide's integrations
//! screen. Everything that comes from manifests or Jira goes through [`esc`]; links are only
//! made of `http(s)` URLs and the admin API's own relative paths.

use std::fmt::Write as _;
use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::activity::Minute;
use super::chart;

/// Escapes text for HTML content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as plain text ("" for null).
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// An `<a>` to `url` when it is an http(s) URL or a path of this listener, else the text alone.
fn link(url: &str, label: &str) -> String {
    let safe = url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/');
    if safe && !url.starts_with("//") {
        format!("<a href=\"{}\">{}</a>", esc(url), esc(label))
    } else {
        esc(label)
    }
}

/// A time with how long ago it was; empty when absent.
fn when(v: &Value, now: DateTime<Utc>) -> String {
    let Some(t) = v
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
    else {
        return "<span class=\"muted\">never</span>".to_owned();
    };
    let secs = (now - t).num_seconds();
    let ago = if secs < 0 {
        format!("in {}", human_secs(-secs))
    } else {
        format!("{} ago", human_secs(secs))
    };
    format!(
        "<time datetime=\"{}\" title=\"{}\">{}</time>",
        esc(&t.to_rfc3339()),
        esc(&t.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
        esc(&ago)
    )
}

fn human_secs(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s => format!("{} d", s / 86400),
    }
}

/// The Ready condition: (status, reason, message).
fn ready(r: &Value) -> Option<(bool, String, String)> {
    r["conditions"].as_array()?.iter().find_map(|c| {
        (c["type"] == "Ready").then(|| {
            (
                c["status"].as_bool().unwrap_or(false),
                text(&c["reason"]),
                text(&c["message"]),
            )
        })
    })
}

/// A Ready badge with reason, and the message under it.
fn ready_badge(r: &Value) -> String {
    let reconciling = r["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Reconciling"))
        .is_some_and(|c| c["status"].as_bool() == Some(true));
    match ready(r) {
        Some((true, reason, message)) => format!(
            "<span class=\"badge ok\" data-ready=\"true\">Ready</span> <span class=\"reason\">{}</span>\
             <div class=\"message\">{}</div>",
            esc(&reason),
            esc(&message)
        ),
        Some((false, reason, message)) => format!(
            "<span class=\"badge {}\" data-ready=\"false\">{}</span> <span class=\"reason\">{}</span>\
             <div class=\"message\">{}</div>",
            if reconciling { "warn" } else { "bad" },
            if reconciling { "Reconciling" } else { "Not ready" },
            esc(&reason),
            esc(&message)
        ),
        None => "<span class=\"badge warn\" data-ready=\"unknown\">Pending</span>".to_owned(),
    }
}

fn resources<'a>(status: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    status["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |r| r["kind"] == kind)
}

/// Everything inside the page's live region (what polling replaces).
pub fn live(
    status: &Value,
    series: &[Minute],
    now: DateTime<Utc>,
    public_addr: Option<SocketAddr>,
) -> String {
    let mut out = String::new();
    if let Some(e) = status.get("error") {
        let _ = write!(
            out,
            "<section><p class=\"bad\">status unavailable: {}</p></section>",
            esc(&text(e))
        );
        return out;
    }
    manifests(&mut out, status);
    connections(&mut out, status, now, public_addr);
    integrations(&mut out, status, now);
    jobs(&mut out, status, now);
    let _ = write!(
        out,
        "<section id=\"activity\"><h2>Activity</h2>\
         <p class=\"legend\"><span class=\"swatch webhooks\"></span> webhook events \
         <span class=\"swatch runs\"></span> sync runs, per minute over the last hour</p>{}</section>",
        chart::activity_svg(series)
    );
    let _ = write!(
        out,
        "<p class=\"updated\">Rendered {} UTC</p>",
        esc(&now.format("%Y-%m-%d %H:%M:%S").to_string())
    );
    out
}

fn manifests(out: &mut String, status: &Value) {
    let m = &status["manifests"];
    out.push_str("<section id=\"manifests\"><h2>Manifests</h2><dl class=\"facts\">");
    let commit = s(m, "commit");
    let _ = write!(
        out,
        "<dt>Applied commit</dt><dd class=\"commit\">{}</dd>",
        if commit.is_empty() && s(m, "source") == "git" {
            "<span class=\"muted\">none accepted whole yet</span>".to_owned()
        } else if commit.is_empty() {
            "<span class=\"muted\">not a git checkout</span>".to_owned()
        } else {
            format!(
                "<code title=\"{0}\">{1}</code>",
                esc(commit),
                esc(&commit[..commit.len().min(12)])
            )
        }
    );
    let _ = write!(
        out,
        "<dt>Directory</dt><dd><code>{}</code></dd><dt>Generation</dt><dd>{}</dd>",
        esc(&text(&m["dir"])),
        esc(&text(&m["generation"]))
    );
    if let Some(p) = m["problem"].as_str() {
        let _ = write!(out, "<dt>Problem</dt><dd class=\"bad\">{}</dd>", esc(p));
    }
    if let Some(c) = m["rejectedCommit"].as_str() {
        let _ = write!(
            out,
            "<dt>Rejected commit</dt><dd class=\"bad\"><code title=\"{0}\">{1}</code> (its rejected resources keep their last good version)</dd>",
            esc(c),
            esc(&c[..c.len().min(12)])
        );
    }
    let dirty: Vec<&str> = m["uncommitted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !dirty.is_empty() {
        let _ = write!(
            out,
            "<dt>Uncommitted</dt><dd class=\"bad uncommitted\">{} {}: {}</dd>",
            dirty.len(),
            if s(m, "source") == "git" {
                "ignored until committed"
            } else {
                "running as they are, not as committed"
            },
            esc(&dirty.join(", "))
        );
    }
    out.push_str("</dl>");
    // Rejected resources (each diagnostic reads FILE:LINE:COL: Kind/name: message).
    let mut rejected = Vec::new();
    for r in status["resources"].as_array().into_iter().flatten() {
        for d in r["rejected"].as_array().into_iter().flatten() {
            rejected.push((
                format!("{}/{}", text(&r["kind"]), text(&r["name"])),
                text(d),
            ));
        }
    }
    let diagnostics: Vec<String> = m["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    if rejected.is_empty() && diagnostics.is_empty() {
        out.push_str("<p class=\"ok-text\">Every manifest is valid and applied.</p>");
    }
    if !rejected.is_empty() {
        out.push_str(
            "<h3>Rejected (the last good version keeps running)</h3><ul class=\"rejected\">",
        );
        for (resource, d) in &rejected {
            let _ = write!(
                out,
                "<li data-resource=\"{}\">{}</li>",
                esc(resource),
                diagnostic(d)
            );
        }
        out.push_str("</ul>");
    }
    if !diagnostics.is_empty() {
        out.push_str("<h3>Other diagnostics</h3><ul class=\"diagnostics\">");
        for d in &diagnostics {
            let _ = write!(out, "<li>{}</li>", diagnostic(d));
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");
}

/// A diagnostic with its `FILE:LINE:COL` prefix set apart.
fn diagnostic(d: &str) -> String {
    // FILE may itself hold colons; the position is the first `:LINE:COL:` run of digits.
    let bytes: Vec<&str> = d.splitn(4, ':').collect();
    if bytes.len() == 4
        && bytes[1].chars().all(|c| c.is_ascii_digit())
        && !bytes[1].is_empty()
        && bytes[2].chars().all(|c| c.is_ascii_digit())
        && !bytes[2].is_empty()
    {
        format!(
            "<code class=\"position\">{}:{}:{}</code>:{}",
            esc(bytes[0]),
            esc(bytes[1]),
            esc(bytes[2]),
            esc(bytes[3])
        )
    } else {
        esc(d)
    }
}

fn deployment_label(d: &str) -> &str {
    match d {
        "cloud" => "Cloud",
        "dataCenter" => "Data Center",
        "" => "unknown (not checked yet)",
        other => other,
    }
}

fn connections(
    out: &mut String,
    status: &Value,
    now: DateTime<Utc>,
    public_addr: Option<SocketAddr>,
) {
    out.push_str("<section id=\"connections\"><h2>Connections</h2>");
    let mut any = false;
    for c in resources(status, "Connection") {
        any = true;
        let d = &c["details"];
        let name = text(&c["name"]);
        let display = match s(d, "displayName") {
            "" => name.clone(),
            n => n.to_owned(),
        };
        let wh = &c["webhook"];
        let state = match s(wh, "state") {
            "connected" => "connected",
            _ => "waiting",
        };
        let _ = write!(
            out,
            "<article class=\"card connection\" data-connection=\"{}\"><header><h3>\
             <span class=\"webhook {state}\" data-webhook=\"{state}\" title=\"webhook {state}\">\u{25CF}</span> {}</h3>\
             <span class=\"name\">Connection/{}</span></header>{}<dl class=\"facts\">",
            esc(&name),
            esc(&display),
            esc(&name),
            ready_badge(c),
        );
        let url = s(d, "url");
        let _ = write!(
            out,
            "<dt>Jira</dt><dd>{} {}</dd><dt>Deployment</dt><dd class=\"deployment\">{}</dd>",
            link(url, url),
            esc(s(d, "serverTitle")),
            esc(deployment_label(s(d, "deployment")))
        );
        if !s(d, "user").is_empty() {
            let _ = write!(out, "<dt>Signed in as</dt><dd>{}</dd>", esc(s(d, "user")));
        }
        let _ = write!(
            out,
            "<dt>Webhook</dt><dd class=\"webhook-state\"><strong>{}</strong>{}</dd>",
            if state == "connected" {
                "connected"
            } else {
                "waiting for Jira's first event"
            },
            if state == "connected" {
                format!(
                    ": <span class=\"events\">{}</span> {}, last {}",
                    esc(&text(&wh["events"])),
                    if wh["events"].as_u64() == Some(1) {
                        "event"
                    } else {
                        "events"
                    },
                    when(&wh["lastEventAt"], now)
                )
            } else {
                String::new()
            }
        );
        let setup = &c["webhookSetup"];
        if setup["managed"].as_bool() == Some(true) {
            let _ = write!(
                out,
                "<dt>Webhook setup</dt><dd>managed by tandem ({})</dd>",
                esc(s(d, "webhookRegistration"))
            );
        } else if setup.is_object() {
            let host = match public_addr {
                Some(a) if !a.ip().is_unspecified() => format!("http://{a}"),
                Some(a) => format!("https://&lt;this host&gt;:{}", a.port()),
                None => "https://&lt;this host&gt;:8686".to_owned(),
            };
            out.push_str("<dt>Webhook setup</dt><dd class=\"manual\">not managed: create it in Jira (Settings → System → Webhooks) with the URL");
            for p in setup["paths"].as_array().into_iter().flatten() {
                let _ = write!(
                    out,
                    " <code class=\"webhook-url\">{host}{}</code>",
                    esc(&text(p))
                );
            }
            out.push_str(
                " (add <code>?secret=…</code> if Jira cannot sign), events: Issue, Comment, Issue link, Version, Worklog, Sprint</dd>",
            );
        }
        let rl = &c["rateLimit"];
        let rate = match rl["requestsPerSecond"].as_f64() {
            Some(r) => format!("{r} requests/s"),
            None => "no client-side limit".to_owned(),
        };
        let blocked = match rl["blockedForMs"].as_u64() {
            Some(ms) => format!(
                "<span class=\"bad\">held back {:.1} s by Jira's Retry-After</span>",
                ms as f64 / 1000.0
            ),
            None => "<span class=\"ok-text\">not limited now</span>".to_owned(),
        };
        let _ = write!(
            out,
            "<dt>Rate limit</dt><dd class=\"rate-limit\">{rate}; {blocked}; {} × 429 so far</dd></dl></article>",
            rl["limitedTotal"].as_u64().unwrap_or(0)
        );
    }
    if !any {
        out.push_str("<p class=\"muted\">No Connection is declared.</p>");
    }
    out.push_str("</section>");
}

fn integrations(out: &mut String, status: &Value, now: DateTime<Utc>) {
    out.push_str("<section id=\"integrations\"><h2>Project integrations</h2>");
    let mut any = false;
    for pi in resources(status, "ProjectIntegration") {
        any = true;
        let d = &pi["details"];
        let name = text(&pi["name"]);
        let display = match s(d, "displayName") {
            "" => name.clone(),
            n => n.to_owned(),
        };
        let sync = &pi["sync"];
        let _ = write!(
            out,
            "<article class=\"card integration\" data-integration=\"{}\"><header><h3>{}</h3>\
             <span class=\"name\">ProjectIntegration/{} · project {} · connection {}</span></header>{}",
            esc(&name),
            esc(&display),
            esc(&name),
            esc(s(d, "project")),
            esc(&text(&pi["connection"])),
            ready_badge(pi)
        );
        let _ = write!(
            out,
            "<dl class=\"facts\"><dt>Links</dt><dd class=\"links\">{}</dd>\
             <dt>Pending pairs</dt><dd class=\"pending\">{}</dd>\
             <dt>Last sync</dt><dd>{}</dd><dt>Last sweep</dt><dd>{}</dd>",
            esc(&text(&pi["links"])),
            esc(&text(&sync["pending"])),
            when(&sync["lastSync"], now),
            when(&sync["lastSweep"], now)
        );
        if sync["lastError"].is_object() {
            let _ = write!(
                out,
                "<dt>Last error</dt><dd class=\"bad\"><code>{}</code>: {}</dd>",
                esc(s(&sync["lastError"], "pair")),
                esc(s(&sync["lastError"], "message"))
            );
        }
        out.push_str("</dl>");
        mapping(out, &pi["mapping"]);
        let jira = s(pi, "jiraUrl").trim_end_matches('/').to_owned();
        let ws = s(pi, "workspace").to_owned();
        let item_link = |item: &str| {
            link(
                &format!(
                    "/api/v1/workspaces/{}/items/{}",
                    percent(&ws),
                    percent(item)
                ),
                item,
            )
        };
        let issue_link = |key: &str| {
            if key.is_empty() {
                String::new()
            } else {
                link(&format!("{jira}/browse/{}", percent(key)), key)
            }
        };
        let conflicts = pi["recentConflicts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let _ = write!(
            out,
            "<h4>Recent conflicts</h4>{}",
            if conflicts.is_empty() {
                "<p class=\"muted\">none</p>".to_owned()
            } else {
                String::new()
            }
        );
        if !conflicts.is_empty() {
            out.push_str("<table class=\"conflicts\"><tr><th>When</th><th>Item</th><th>Issue</th><th>Field</th><th>Won</th></tr>");
            for c in &conflicts {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    when(&c["at"], now),
                    item_link(s(c, "item")),
                    issue_link(s(c, "issue")),
                    esc(s(c, "field")),
                    esc(s(c, "winnerSide"))
                );
            }
            out.push_str("</table>");
        }
        let unreachable = &sync["unreachable"];
        let pairs = unreachable["pairs"].as_array().cloned().unwrap_or_default();
        let _ = write!(
            out,
            "<h4>Unreachable or stuck pairs</h4>{}",
            if pairs.is_empty() {
                "<p class=\"muted\">none</p>".to_owned()
            } else {
                String::new()
            }
        );
        if !pairs.is_empty() {
            let _ = write!(
                out,
                "<table class=\"unreachable\"><caption>{} unreachable (Jira answers 404; read again at every sweep)</caption>\
                 <tr><th>Item</th><th>Issue</th><th>Since</th><th>Reads</th></tr>",
                esc(&text(&unreachable["count"]))
            );
            for p in &pairs {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    item_link(s(p, "item")),
                    issue_link(s(p, "issue")),
                    when(&p["since"], now),
                    esc(&text(&p["reads"]))
                );
            }
            out.push_str("</table>");
        }
        out.push_str("</article>");
    }
    if !any {
        out.push_str("<p class=\"muted\">No ProjectIntegration is declared.</p>");
    }
    out.push_str("</section>");
}

/// Percent-encodes one path segment.
fn percent(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2D", "-")
        .replace("%5F", "_")
        .replace("%2E", ".")
}

fn verdict_cell(row: &Value) -> String {
    let v = s(row, "verdict");
    let label = match v {
        "ok" => "✓ OK",
        "failed" => "✗ failed",
        "warning" => "⚠ in part",
        "ignored" => "ignored",
        _ => "not checked yet",
    };
    let class = match v {
        "ok" => "ok-text",
        "failed" => "bad",
        "warning" => "warn",
        _ => "muted",
    };
    let msg = s(row, "message");
    format!(
        "<td class=\"verdict {class}\" data-verdict=\"{}\">{label}{}</td>",
        esc(v),
        if msg.is_empty() {
            String::new()
        } else {
            format!("<div class=\"message\">{}</div>", esc(msg))
        }
    )
}

/// The Field & Type mapping, in the guide's order: primary types (with hierarchy), secondary
/// types, statuses, then primary, default and custom fields.
fn mapping(out: &mut String, rows: &Value) {
    let Some(rows) = rows.as_array() else {
        return;
    };
    out.push_str("<details class=\"mapping\" open><summary>Field &amp; Type mapping</summary>");
    let sections = [
        ("types", "Primary types", "Workspace type", "Jira type"),
        (
            "secondaryTypes",
            "Secondary types (Jira ⇒ workspace only)",
            "Workspace type",
            "Jira type",
        ),
        ("statuses", "Statuses", "Workspace status", "Jira status"),
        ("primary", "Primary fields", "Workspace field", "Jira field"),
        (
            "defaults",
            "Default fields",
            "Workspace field",
            "Jira field",
        ),
        ("custom", "Custom fields", "Workspace field", "Jira field"),
    ];
    for (key, title, left, right) in sections {
        let in_section: Vec<&Value> = rows.iter().filter(|r| r["section"] == key).collect();
        if in_section.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "<table class=\"map {key}\"><caption>{title}</caption><tr><th>{left}</th><th></th>\
             <th>{right}</th><th>Resolved id</th><th>Online check</th></tr>"
        );
        for r in in_section {
            let depth = r["depth"].as_u64().unwrap_or(0).min(8) as usize;
            let arrow = match key {
                "secondaryTypes" => "⇐",
                _ if s(r, "verdict") == "ignored" => "",
                _ => "⇄",
            };
            let jira = if s(r, "verdict") == "ignored" {
                "<span class=\"muted\">Ignore</span>".to_owned()
            } else {
                esc(&text(&r["jira"]))
            };
            let mut resolved = esc(&text(&r["resolved"]));
            if let Some(level) = r["level"].as_i64() {
                let _ = write!(resolved, " <span class=\"muted\">(level {level})</span>");
            }
            let kind = match r["kind"].as_str() {
                Some(k) => format!(" <span class=\"muted\">{}</span>", esc(k)),
                None => String::new(),
            };
            let _ = write!(
                out,
                "<tr data-row=\"{}\"><td class=\"ws\" style=\"padding-left:{}em\">{}{}{}</td><td>{arrow}</td><td>{jira}</td><td><code>{resolved}</code></td>{}</tr>",
                esc(s(r, "workspace")),
                0.4 + depth as f64 * 1.2,
                if depth > 0 { "└ " } else { "" },
                esc(s(r, "workspace")),
                kind,
                verdict_cell(r)
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</details>");
}

fn jobs(out: &mut String, status: &Value, now: DateTime<Utc>) {
    out.push_str("<section id=\"jobs\"><h2>One-time sync jobs</h2>");
    let jobs = status["jobs"].as_array().cloned().unwrap_or_default();
    if jobs.is_empty() {
        out.push_str("<p class=\"muted\">No one-time sync has run yet.</p></section>");
        return;
    }
    out.push_str(
        "<table class=\"jobs\"><tr><th>Job</th><th>Integration</th><th>Direction</th><th>State</th>\
         <th>Progress</th><th>Rate</th><th>ETA</th><th>Counts</th><th>Started</th></tr>",
    );
    for j in &jobs {
        let processed = j["processed"].as_u64().unwrap_or(0);
        let total = j["total"].as_u64();
        let state = s(j, "state");
        let started = j["started"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let end = j["finished"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now);
        let secs = started
            .map(|s| (end - s).num_milliseconds().max(1) as f64 / 1000.0)
            .unwrap_or(0.0);
        let rate = if secs > 0.0 && processed > 0 {
            processed as f64 / secs
        } else {
            0.0
        };
        let eta = match (state, total) {
            ("running", Some(t)) if rate > 0.0 && t > processed => {
                human_secs(((t - processed) as f64 / rate).ceil() as i64)
            }
            ("running", _) => "…".to_owned(),
            _ => "—".to_owned(),
        };
        let max = total.unwrap_or(processed).max(processed);
        let bar = if state == "running" && total.is_none() {
            // Jira has not said how many yet: an indeterminate bar.
            "<progress></progress>".to_owned()
        } else {
            format!(
                "<progress value=\"{processed}\" max=\"{}\"></progress>",
                max.max(1)
            )
        };
        let direction = match s(&j["request"], "direction") {
            "fromJira" => "Jira ⇒ workspace",
            "toJira" => "workspace ⇒ Jira",
            other => other,
        };
        let c = &j["counts"];
        let title = match j["manifest"].as_str() {
            Some(m) => format!("SyncJob/{}", m),
            None => text(&j["id"]),
        };
        let mut counts = format!(
            "{} created, {} updated, {} unchanged, {} skipped, {} failed",
            text(&c["created"]),
            text(&c["updated"]),
            text(&c["unchanged"]),
            text(&c["skipped"]),
            text(&c["failed"])
        );
        if let Some(m) = j["message"].as_str() {
            counts.push_str(" — ");
            counts.push_str(m);
        }
        let _ = write!(
            out,
            "<tr class=\"job {state_class}\" data-job=\"{id}\" data-state=\"{st}\" data-processed=\"{processed}\" data-total=\"{tot}\">\
             <td title=\"{id}\">{title}</td><td>{integ}</td><td>{direction}</td><td>{st}</td>\
             <td class=\"progress\">{bar} <span class=\"count\">{processed}{of}</span></td>\
             <td>{rate:.1}/s</td><td>{eta}</td><td class=\"counts\">{counts}</td><td>{started}</td></tr>",
            state_class = match state {
                "completed" => "ok-text",
                "failed" => "bad",
                _ => "",
            },
            id = esc(s(j, "id")),
            st = esc(state),
            tot = total.map(|t| t.to_string()).unwrap_or_default(),
            title = esc(&title),
            integ = esc(s(j, "integration")),
            of = total.map(|t| format!(" / {t}")).unwrap_or_default(),
            counts = esc(&counts),
            started = when(&j["started"], now),
        );
    }
    out.push_str("</table></section>");
}

const STYLE: &str = "\
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f4f5f7;color:#172b4d}\
header.top{background:#0747a6;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:baseline}\
header.top h1{font-size:18px;margin:0}main{padding:8px 20px;max-width:1200px}\
section{margin:12px 0}h2{font-size:16px;border-bottom:1px solid #dfe1e6;padding-bottom:4px}\
h3{font-size:15px;margin:0}h4{margin:10px 0 4px}\
.card{background:#fff;border:1px solid #dfe1e6;border-radius:4px;padding:10px 14px;margin:8px 0}\
.card header{display:flex;gap:12px;align-items:baseline}.name{color:#6b778c;font-size:12px}\
.badge{display:inline-block;border-radius:3px;padding:0 6px;font-size:12px;font-weight:600}\
.badge.ok{background:#e3fcef;color:#006644}.badge.bad{background:#ffebe6;color:#bf2600}\
.badge.warn{background:#fffae6;color:#974f0c}.reason{font-weight:600}.message{color:#42526e;font-size:12px}\
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:6px 0}dt{color:#6b778c}dd{margin:0}\
.webhook{font-size:18px}.webhook.connected{color:#0065ff}.webhook.waiting{color:#c1c7d0}\
.muted{color:#97a0af}.bad{color:#bf2600}.ok-text{color:#006644}\
table{border-collapse:collapse;margin:4px 0 8px;background:#fff}caption{text-align:left;font-weight:600;padding:4px 0}\
th,td{border:1px solid #dfe1e6;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f4f5f7}\
progress{width:160px}code{font-size:12px}.position{font-weight:600;color:#172b4d}\
.chart .axis{stroke:#6b778c}.chart .tick{font-size:10px;fill:#6b778c}.chart .webhooks{fill:#0065ff}.chart .runs{fill:#ff991f}\
.swatch{display:inline-block;width:10px;height:10px}.swatch.webhooks{background:#0065ff}.swatch.runs{background:#ff991f}\
.updated{color:#97a0af;font-size:12px}ul.rejected li{color:#bf2600}\
";

/// Polls the live region every 1.5 s without reloading; the static view needs none of it.
pub(crate) const SCRIPT: &str = "\
(function(){var el=document.getElementById('live'),busy=false;\
function tick(){if(busy)return;busy=true;\
fetch('live',{cache:'no-store',credentials:'same-origin'})\
.then(function(r){if(!r.ok)throw new Error('HTTP '+r.status);return r.text();})\
.then(function(t){el.innerHTML=t;document.body.setAttribute('data-live','updated');})\
.catch(function(){document.body.setAttribute('data-live','error');})\
.then(function(){busy=false;});}\
document.body.setAttribute('data-live','polling');setInterval(tick,1500);})();";

/// The whole page: head with inline style, the live region, and the polling script.
pub fn page(live_html: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>tandem: integrations</title><style>{STYLE}</style></head>\
         <body data-live=\"static\"><header class=\"top\"><h1>tandem</h1><span>integrations</span>\
         <noscript><span>static view (JavaScript is off): reload for news</span></noscript></header>\
         <main id=\"live\">{live_html}</main><script>{SCRIPT}</script></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert(\"x\")</script>&'"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
    }

    #[test]
    fn links_only_to_http_and_own_paths() {
        assert!(link("javascript:alert(1)", "x").starts_with('x'));
        assert!(link("//evil.example/", "x").starts_with('x'));
        assert!(link("https://jira.example/browse/A-1", "A-1").starts_with("<a href"));
    }

    #[test]
    fn diagnostics_set_their_position_apart() {
        let d = diagnostic("m/a.yaml:3:7: Connection/x: <bad>");
        assert!(
            d.contains("<code class=\"position\">m/a.yaml:3:7</code>"),
            "{d}"
        );
        assert!(d.contains("&lt;bad&gt;"));
    }
}
