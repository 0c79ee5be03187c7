//! The resync sweep: what webhooks missed (dropped, never configured, or a Jira that cannot
//! reach the listener at all) is found by asking Jira which issues changed since the last
//! sweep, and each of them is queued like a webhook would have.
//!
//! The window is relative (`updated >= "-Nm"`): Jira evaluates it on its own clock and in
//! its own time zone, so neither our clock's skew nor the user's time zone can open a gap.
//! Each window reaches back to the previous sweep's start plus an overlap, and the watermark
//! only moves after a sweep completed, so an interrupted sweep is repeated, never skipped.
//! The first sweep of an integration only sets the watermark: history before the integration
//! existed is the one-time sync's job.
//!
//! The changed issues are read whole and in bulk, as the import reads them (`jira::bulk`:
//! ids then `bulkfetch` on Cloud, concurrent `startAt` pages on Data Center), and each is
//! handed to its pair's next run (`EngineShared::prefetch`), which then does not read the issue
//! again: 10,000 changed issues cost about a hundred requests, not ten thousand GETs. A run
//! reads the issue itself when the prefetched one is gone (taken, expired, dropped for room),
//! lacks the changelog `lastWriterWins` needs, or is older than the pair's baseline.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::jira::{BulkRead, SearchCursor};

use super::reachability::{record_sweep, LinkCheck};
use super::{active, EngineKey, EngineShared, PairKey, ENGINE_NS};

/// What one sweep found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    pub integration: String,
    pub jql: String,
    /// Issues Jira returned.
    pub issues: u64,
    /// Pairs queued (every returned issue; unchanged pairs cost a read and no write).
    pub queued: u64,
    /// Linked issues checked for existence in batches, and how many Jira no longer showed
    /// (deleted or hidden: their pairs were queued to find out; see `reachability`).
    pub links_checked: u64,
    pub links_missing: u64,
}

fn watermark_key(integration: &str) -> String {
    format!("watermark/{integration}")
}

fn watermark(s: &EngineShared, integration: &str) -> Option<DateTime<Utc>> {
    let raw = s
        .store
        .get_kv(ENGINE_NS, &watermark_key(integration))
        .ok()??;
    DateTime::parse_from_rfc3339(std::str::from_utf8(&raw).ok()?)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

async fn set_watermark(s: &EngineShared, integration: &str, at: DateTime<Utc>) {
    let entry = (
        watermark_key(integration),
        Some(at.to_rfc3339().into_bytes()),
    );
    if let Err(e) = s.store.put_kv_many(ENGINE_NS, vec![entry]).await {
        tracing::warn!(integration, error = %e, "cannot store the sweep watermark");
    }
}

/// The JQL of a sweep reaching back `since` (rounded up to whole minutes).
pub fn sweep_jql(project: &str, since: Duration) -> String {
    let minutes = since.as_secs().div_ceil(60).max(1);
    format!("project = \"{project}\" AND updated >= \"-{minutes}m\" ORDER BY updated ASC")
}

/// Sweeps one integration now. `force` sweeps even when no watermark exists yet (then the
/// window is one resync interval).
pub async fn sweep(
    s: &EngineShared,
    integration: &str,
    force: bool,
) -> Result<SweepReport, String> {
    let model = s.live.model();
    let pi = model
        .integrations
        .get(integration)
        .ok_or_else(|| format!("ProjectIntegration/{integration} is not declared"))?;
    let started = Utc::now();
    let previous = watermark(s, integration);
    let Some(since) = previous
        .or(force.then(|| started - chrono::Duration::from_std(pi.resync).unwrap_or_default()))
    else {
        set_watermark(s, integration, started).await;
        return Ok(SweepReport {
            integration: integration.to_owned(),
            ..SweepReport::default()
        });
    };
    let window = (started - since).to_std().unwrap_or_default() + s.config.sweep_overlap;
    let jql = sweep_jql(&pi.project, window);
    let run = s
        .run_for(integration, &model)
        .await
        .map_err(|e| e.to_string())?;
    // The changed issues whole, in bulk (ids then `bulkfetch` on Cloud, concurrent pages on
    // Data Center), handed to their pairs' next runs: no pair reads its issue again.
    let lww = pi.conflicts == crate::manifest::model::ConflictPolicy::LastWriterWins;
    let mut read = BulkRead::new(jql.clone(), &["*all"]);
    read.changelog = lww;
    // An issue tandem created but has not linked yet carries only its item property where no
    // screen takes labels: its pair must recognise it from this read.
    read.properties = vec![crate::jira::ITEM_PROPERTY.to_owned()];
    read.complete_comments = true;
    let mut batches = run.client.read_bulk(read, SearchCursor::Start);
    let mut report = SweepReport {
        integration: integration.to_owned(),
        jql: jql.clone(),
        ..SweepReport::default()
    };
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(|e| format!("sweeping with {jql:?}: {e}"))?;
        let mut keys = Vec::with_capacity(batch.issues.len());
        for issue in &batch.issues {
            report.issues += 1;
            let pair = match s.store.link_by_jira_issue(integration, &issue.id) {
                Ok(Some(link)) => PairKey::Item(link.workspace_item_id),
                Ok(None) => PairKey::Issue(issue.id.clone()),
                Err(e) => return Err(e.to_string()),
            };
            keys.push(EngineKey {
                integration: integration.to_owned(),
                pair,
            });
        }
        // Issues Jira could not return this time are queued all the same: their runs read them.
        for (id, _) in &batch.errors {
            report.issues += 1;
            let pair = match s.store.link_by_jira_issue(integration, id) {
                Ok(Some(link)) => PairKey::Item(link.workspace_item_id),
                Ok(None) => PairKey::Issue(id.clone()),
                Err(e) => return Err(e.to_string()),
            };
            keys.push(EngineKey {
                integration: integration.to_owned(),
                pair,
            });
        }
        report.queued += keys.len() as u64;
        s.prefetch(integration, batch.issues).await;
        s.mark_pending(keys, Vec::new())
            .await
            .map_err(|e| e.to_string())?;
    }
    let check = check_links(s, integration, &run.client)
        .await
        .map_err(|e| format!("checking the linked issues: {e}"))?;
    report.links_checked = check.links as u64;
    report.links_missing = check.missing as u64;
    set_watermark(s, integration, started).await;
    s.stats.sweeps.fetch_add(1, Ordering::Relaxed);
    s.state(integration, |st| st.last_sweep = Some(started));
    tracing::debug!(integration, issues = report.issues, "resync sweep done");
    Ok(report)
}

/// Asks Jira, in batches, which linked issues it still shows: a lost `issue_deleted` webhook
/// (or a permission change) is found here, not only when someone edits the pair. The pairs of
/// missing issues are queued; their read decides (see `reachability`).
async fn check_links(
    s: &EngineShared,
    integration: &str,
    client: &crate::jira::JiraClient,
) -> Result<LinkCheck, String> {
    let links = s
        .store
        .links_of_integration(integration)
        .map_err(|e| e.to_string())?;
    if links.is_empty() {
        return Ok(LinkCheck::default());
    }
    let ids: Vec<String> = links.iter().map(|l| l.jira_issue_id.clone()).collect();
    let visible = client
        .visible_issue_ids(&ids)
        .await
        .map_err(|e| e.to_string())?;
    let total = links.len();
    let missing: Vec<_> = links
        .into_iter()
        .filter(|l| !visible.contains(&l.jira_issue_id))
        .collect();
    if missing.is_empty() {
        return Ok(LinkCheck {
            links: total,
            ..LinkCheck::default()
        });
    }
    let check = record_sweep(&s.store, integration, &missing, total)
        .await
        .map_err(|e| e.to_string())?;
    let keys = missing
        .iter()
        .map(|l| EngineKey {
            integration: integration.to_owned(),
            pair: PairKey::Item(l.workspace_item_id.clone()),
        })
        .collect();
    s.mark_pending(keys, Vec::new())
        .await
        .map_err(|e| e.to_string())?;
    Ok(check)
}

/// Whether a sweep is due: never swept (the first sweep sets the watermark), or the last one
/// started at least `interval` ago. A watermark in the future (clock stepped back) waits.
fn is_due(last: Option<DateTime<Utc>>, now: DateTime<Utc>, interval: Duration) -> bool {
    last.is_none_or(|t| (now - t).to_std().is_ok_and(|elapsed| elapsed >= interval))
}

/// Runs each integration's sweep when its `resync` interval has passed, and sweeps asked
/// for through the admin API at once. Also trims consumed webhooks past their retention.
pub(super) async fn sweeper(s: Arc<EngineShared>) {
    let mut tick = tokio::time::interval(s.config.sweep_tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = s.sweep_now.notified() => {}
        }
        let asked: Vec<_> =
            std::mem::take(&mut *s.sweep_requests.lock().unwrap_or_else(|e| e.into_inner()));
        for (integration, reply) in asked {
            let r = sweep(&s, &integration, true).await;
            let _ = reply.send(r);
        }
        let model = s.live.model();
        let now = Utc::now();
        let due: Vec<String> = active(&model)
            .filter(|pi| pi.direction.from_jira() || !pi.secondary_types.is_empty())
            .filter(|pi| is_due(watermark(&s, &pi.name), now, pi.resync))
            .map(|pi| pi.name.clone())
            .collect();
        for name in due {
            if let Err(e) = sweep(&s, &name, false).await {
                tracing::warn!(
                    integration = name,
                    error = e,
                    "resync sweep failed; retrying at the next interval"
                );
                s.state(&name, |st| st.last_error = Some(("resync sweep".into(), e)));
            }
        }
        trim_webhooks(&s).await;
    }
}

/// Drops consumed webhooks older than the retention (their dedup entries stay).
async fn trim_webhooks(s: &EngineShared) {
    let consumed_before = super::read_cursor(&s.store, super::WEBHOOK_CURSOR);
    let Ok(oldest) = s.store.webhook_events(1, 256) else {
        return;
    };
    let cutoff =
        Utc::now() - chrono::Duration::from_std(s.config.webhook_retention).unwrap_or_default();
    let through = oldest
        .iter()
        .take_while(|e| e.seq < consumed_before && e.event.received_at < cutoff)
        .map(|e| e.seq)
        .last();
    if let Some(seq) = through {
        if let Err(e) = s.store.trim_webhook_events(seq).await {
            tracing::warn!(error = %e, "cannot trim consumed webhooks");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_is_due_once_per_interval() {
        let now = Utc::now();
        let ten = Duration::from_secs(600);
        assert!(is_due(None, now, ten));
        assert!(!is_due(
            Some(now - chrono::Duration::seconds(599)),
            now,
            ten
        ));
        assert!(is_due(Some(now - chrono::Duration::seconds(600)), now, ten));
        assert!(!is_due(Some(now + chrono::Duration::seconds(5)), now, ten));
    }

    #[test]
    fn the_window_is_relative_and_rounded_up_to_minutes() {
        assert_eq!(
            sweep_jql("DEMO", Duration::from_secs(61)),
            "project = \"DEMO\" AND updated >= \"-2m\" ORDER BY updated ASC"
        );
        assert!(sweep_jql("DEMO", Duration::from_secs(0)).contains("\"-1m\""));
    }
}
