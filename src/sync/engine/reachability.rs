//! Telling a deleted issue from one tandem can no longer see.
//!
//! Jira answers a read of a deleted issue and of an issue the user may not see (an issue
//! security level, a permission-scheme change, an archived project) with the same 404.
//! Unlinking on any 404 dropped links wholesale when permissions changed, and the issue came
//! back as a second item when access returned. So a pair is unlinked as deleted only on
//! Jira's word:
//!
//! - an `issue_deleted` webhook for it (recorded under [`deleted_key`] when consumed), or
//! - the resync sweep's batch check no longer finding it while it finds the integration's
//!   other linked issues (a handful missing, not a mass disappearance), followed by a read
//!   that still answers 404.
//!
//! Any other 404 marks the pair `Unreachable`: link and baseline kept, the item's history and
//! status say so, and the pair is read again at every resync sweep (the integration's
//! `resync` interval: the slow schedule), or sooner when either side changes. When the
//! issue is visible again the pair resumes as it was, with no second item or issue. A pair
//! unlinked as deleted is tombstoned on both sides, so neither side is re-created later.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::store::{Link, Store, StoreError};
use crate::workspace::model::{HistoryEntry, Origin};

use super::pair::{PairEnv, PairError, Synced};
use super::ENGINE_NS;

/// A sweep that finds more linked issues missing than this, and more than half of them, sees
/// a permission change, not deletions: it leaves no evidence of deletion. (A tenth was too
/// strict: the convergence campaign, seed 11, deleted 6 of about 55 issues with their
/// webhooks lost, and they stayed linked as unreachable.)
const MASS_MISSING: usize = 3;

/// `deleted/{connection}/{issue id}`: Jira said the issue was deleted (`issue_deleted`).
pub fn deleted_key(connection: &str, issue_id: &str) -> String {
    format!("deleted/{connection}/{issue_id}")
}

fn unreachable_key(integration: &str, item: &str) -> String {
    format!("unreachable/{integration}/{item}")
}

/// What is known of an unreachable pair.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Unreachable {
    key: String,
    issue: String,
    since: DateTime<Utc>,
    /// Reads that answered 404.
    reads: u32,
    /// When a sweep last found the issue missing while it found the others (deletion evidence).
    missing_in_sweep: Option<DateTime<Utc>>,
    /// The last read that answered 404.
    last_read: Option<DateTime<Utc>>,
}

fn load(store: &Store, integration: &str, item: &str) -> Result<Option<Unreachable>, StoreError> {
    Ok(store
        .get_kv(ENGINE_NS, &unreachable_key(integration, item))?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

async fn save(
    store: &Store,
    integration: &str,
    item: &str,
    u: Option<&Unreachable>,
) -> Result<(), StoreError> {
    let value = u.map(|u| serde_json::to_vec(u).unwrap_or_default());
    store
        .put_kv_many(ENGINE_NS, vec![(unreachable_key(integration, item), value)])
        .await
}

async fn history(env: &PairEnv<'_>, item: &str, action: &str, message: String) {
    let mut entry = HistoryEntry::new(action, Origin::Sync(env.integration().to_owned()));
    entry.message = Some(message);
    if let Err(e) = env
        .shared
        .workspace
        .append_history(env.ws(), item, entry)
        .await
    {
        tracing::warn!(item, error = %e, "cannot record the pair's reachability in its history");
    }
}

/// A read of the pair's issue answered 404: unlink it as deleted if Jira said so, else mark it
/// unreachable and read it again later.
pub(super) async fn on_not_found(env: &PairEnv<'_>, link: &Link) -> Result<Synced, PairError> {
    let store = &env.shared.store;
    let integration = env.integration();
    let item = &link.workspace_item_id;
    let deleted = deleted_key(&link.connection, &link.jira_issue_id);
    let prior = load(store, integration, item)?;
    let now = Utc::now();
    let why = if store.get_kv(ENGINE_NS, &deleted)?.is_some() {
        Some(format!(
            "{} was deleted in Jira; the item is kept",
            link.jira_issue_key
        ))
    } else {
        prior.as_ref().and_then(|u| u.missing_in_sweep).map(|at| {
            format!(
                "{} is gone from Jira: the resync sweep of {} no longer found it while it \
                     found the integration's other issues, and a read since answers 404; \
                     treated as deleted, the item is kept",
                link.jira_issue_key,
                at.format("%Y-%m-%d %H:%M UTC")
            )
        })
    };
    if let Some(why) = why {
        let synced = super::pair::unlink_deleted_issue(env, link, why).await?;
        store
            .put_kv_many(
                ENGINE_NS,
                vec![(deleted, None), (unreachable_key(integration, item), None)],
            )
            .await?;
        return Ok(synced);
    }
    let first = prior.is_none();
    let mut u = prior.unwrap_or(Unreachable {
        key: link.jira_issue_key.clone(),
        issue: link.jira_issue_id.clone(),
        since: now,
        reads: 0,
        missing_in_sweep: None,
        last_read: None,
    });
    u.reads += 1;
    u.last_read = Some(now);
    save(store, integration, item, Some(&u)).await?;
    if first || u.reads == 1 {
        env.shared
            .stats
            .unreachable
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(
            integration,
            item = item.as_str(),
            issue = link.jira_issue_key,
            "the pair's issue answers 404; kept linked as unreachable"
        );
        history(
            env,
            item,
            "unreachable",
            format!(
                "{} cannot be read (404: deleted, or no longer visible to tandem's Jira user); \
                 the link is kept and the issue read again at each resync sweep (every {})",
                link.jira_issue_key,
                humanize(env.run.integration.resync)
            ),
        )
        .await;
    }
    Ok(Synced::default())
}

fn humanize(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The pair's issue was read: if it was unreachable, say that it is back.
pub(super) async fn on_visible(env: &PairEnv<'_>, link: &Link) -> Result<(), PairError> {
    let store = &env.shared.store;
    let item = &link.workspace_item_id;
    let Some(u) = load(store, env.integration(), item)? else {
        return Ok(());
    };
    save(store, env.integration(), item, None).await?;
    history(
        env,
        item,
        "reachable",
        format!(
            "{} can be read again (unreachable since {}); sync resumed",
            link.jira_issue_key,
            u.since.format("%Y-%m-%d %H:%M UTC")
        ),
    )
    .await;
    tracing::info!(
        integration = env.integration(),
        item = item.as_str(),
        issue = link.jira_issue_key,
        "the pair's issue is visible again"
    );
    Ok(())
}

/// What a sweep's batch check of the links found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LinkCheck {
    pub links: usize,
    pub missing: usize,
    /// Whether the missing ones count as evidence of deletion (few of many), or as a
    /// permission change (many at once).
    pub evidence: bool,
}

/// Records the sweep's finding for the pairs whose issue it no longer found: evidence of
/// deletion when only a few of the integration's issues went missing.
pub(super) async fn record_sweep(
    store: &Store,
    integration: &str,
    missing: &[Link],
    links: usize,
) -> Result<LinkCheck, StoreError> {
    let evidence = missing.len() <= MASS_MISSING || missing.len() * 2 <= links;
    if evidence {
        let now = Utc::now();
        let mut entries = Vec::new();
        for link in missing {
            let item = &link.workspace_item_id;
            let mut u = load(store, integration, item)?.unwrap_or(Unreachable {
                key: link.jira_issue_key.clone(),
                issue: link.jira_issue_id.clone(),
                since: now,
                reads: 0,
                missing_in_sweep: None,
                last_read: None,
            });
            u.missing_in_sweep = Some(now);
            entries.push((
                unreachable_key(integration, item),
                Some(serde_json::to_vec(&u).unwrap_or_default()),
            ));
        }
        store.put_kv_many(ENGINE_NS, entries).await?;
    } else {
        tracing::warn!(
            integration,
            missing = missing.len(),
            links,
            "many linked issues vanished at once (a permission change?); they stay linked as \
             unreachable until Jira shows them again"
        );
    }
    Ok(LinkCheck {
        links,
        missing: missing.len(),
        evidence,
    })
}

/// The integration's unreachable pairs, for status (at most `limit`, and how many in all).
pub fn unreachable_status(store: &Store, integration: &str, limit: usize) -> Value {
    super::pair_records(
        store,
        &format!("unreachable/{integration}/"),
        "pairs",
        limit,
        |item, u: Unreachable| {
            // Only a sweep's evidence so far (no read has failed yet) is not listed.
            (u.reads > 0)
                .then(|| json!({"item": item, "issue": u.key, "since": u.since, "reads": u.reads}))
        },
    )
}
