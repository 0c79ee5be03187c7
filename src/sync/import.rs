//! Import from Jira (a `fromJira` one-time sync): read the search's issues in batches
//! ([`crate::jira::bulk`]: ids then `bulkfetch` on Cloud, concurrent `startAt` pages on Data
//! Center), map each issue with [`from_jira`], create or update its workspace item, link it by
//! Jira issue **id**, and set parents once both ends exist.
//!
//! Pipelined: while a few batches are mapped and written, the reader keeps a fixed number of
//! batches in flight (paced by the connection's `requestsPerSecond` and `Retry-After`), so
//! memory stays bounded. The writes of a batch are issued together so the store's group
//! commit folds them into a few transactions. Batches are handed over in search order, each
//! with the cursor that resumes right after it; after each batch the job record (that cursor
//! and the counts) is stored. So the stored cursor never passes an issue whose writes are not
//! stored, whatever was in flight when the process died: an interrupted import resumes at the
//! first batch not stored, and re-reading an already linked issue updates its item instead of
//! creating a second one. Counts stay right across a resume because an item linked to an issue
//! and created after the job started was created by this job.
//!
//! A child whose parent is not linked yet (later in the results, or in the same page) is
//! recorded in the key/value table and its parent set after the last page.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use futures_util::stream::{FuturesOrdered, StreamExt};
use serde_json::Value;

use crate::jira::{BulkRead, Issue, JiraError};
use crate::store::{Link, LinkAndHolder, Store, StoreError};
use crate::workspace::model::{Comment, Item, Origin};
use crate::workspace::{
    ImportEntry, ImportTarget, ItemPatch as WsPatch, ReleasePatch, SprintPatch, WorkspaceError,
    WorkspaceService,
};

use super::context::IntegrationRun;
use super::jobs::{save_record, JobError, JobRecord, Phase, Planned};
use super::mapping::{from_jira, ItemPatch, JiraComment, MappingError};

/// Issues per Data Center search page (Cloud fetches 100 per `bulkfetch`, Jira's limit).
pub const PAGE_SIZE: u32 = 100;
/// Batches mapped and written at once (see [`import_from_jira`]): enough that a round trip a
/// batch may need (Data Center parents named by key) overlaps the others' writes.
const BATCHES_WRITING: usize = 8;
/// Deferred parent fixups applied concurrently at the end.
const FIXUP_CHUNK: usize = 200;
/// Parent keys remembered while resolving Epic Links (keys only) to issue ids.
const KEY_CACHE: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("searching Jira with {jql:?}")]
    Search {
        jql: String,
        #[source]
        source: JiraError,
    },
    #[error("preparing the workspace's sprints and releases")]
    Workspace(#[source] WorkspaceError),
    #[error("saving the job's progress")]
    Job(#[from] JobError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import works with.
pub struct ImportEnv<'a> {
    pub store: &'a Store,
    pub workspace: &'a WorkspaceService,
    pub run: &'a IntegrationRun,
    /// Called after every checkpoint, to show progress (the SyncJob's status details).
    pub progress: Option<&'a (dyn Fn(&JobRecord) + Sync)>,
}

/// The JQL an import runs: the project's open issues, or the given filter within the project,
/// in key order so parents (created first) are usually linked before their children.
pub fn import_jql(project: &str, jql: Option<&str>) -> String {
    let scope = format!("project = \"{project}\"");
    let Some(q) = jql.map(str::trim).filter(|q| !q.is_empty()) else {
        return format!("{scope} AND statusCategory != Done ORDER BY key ASC");
    };
    let (filter, order) = match q.to_ascii_lowercase().find("order by") {
        Some(i) => (q[..i].trim(), q[i..].trim().to_owned()),
        None => (q, "ORDER BY key ASC".to_owned()),
    };
    if filter.is_empty() {
        format!("{scope} {order}")
    } else {
        format!("{scope} AND ({filter}) {order}")
    }
}

/// Key/value namespace of a job's deferred parents (key: child item id, value: parent issue id).
fn parents_ns(job: &str) -> String {
    format!("sync-job-parents/{job}")
}

enum Outcome {
    Created,
    Updated,
    Unchanged,
    Skipped,
    /// Left alone, with the reason reported in the job (issue key, reason).
    Refused(String, String),
    Failed(String, String),
}

/// One issue's writes, decided from reads before its batch's transaction.
struct Pending {
    /// The issue's key, for the job's notes and errors.
    key: String,
    entry: ImportEntry,
    /// The linked item before this import touched it (`None` for a create).
    before: Option<Item>,
    /// The issue's new key when it moved (same id): the link's key is set after the write.
    rekey: Option<crate::workspace::IssueRef>,
}

/// What an issue comes to before the batch is written.
enum Prepared {
    Done(Outcome),
    Write(Box<Pending>),
}

/// Runs (or resumes) the import described by `record`, saving it after every page.
pub async fn import_from_jira(
    env: &ImportEnv<'_>,
    record: &mut JobRecord,
) -> Result<(), ImportError> {
    if record.phase == Phase::Pages {
        ensure_sprints_and_releases(env).await?;
        let mut batches = env
            .run
            .client
            .read_bulk(bulk_read(env, &record.jql), record.cursor.clone());
        let keys = Mutex::new(HashMap::new());
        let ns = parents_ns(&record.id);
        let started = record.started;
        // Batches arrive in search order while the next ones are fetched; up to
        // `BATCHES_WRITING` of them are mapped and written at once (their writes share group
        // commits), and their results are taken in search order, so the stored cursor only
        // ever moves past batches whose writes are all stored.
        let mut writing = FuturesOrdered::new();
        let mut exhausted = false;
        loop {
            tokio::select! {
                biased;
                done = writing.next(), if !writing.is_empty() => {
                    let Some(done) = done else { continue };
                    let done: Written = done?;
                    apply(record, done);
                    save_record(env.store, record).await?;
                    if let Some(progress) = env.progress {
                        progress(record);
                    }
                }
                batch = batches.next(), if !exhausted && writing.len() < BATCHES_WRITING => {
                    match batch {
                        None => exhausted = true,
                        Some(batch) => {
                            let batch = batch.map_err(|source| ImportError::Search {
                                jql: record.jql.clone(),
                                source,
                            })?;
                            writing.push_back(write_batch(env, started, batch, &keys, &ns));
                        }
                    }
                }
                else => break,
            }
        }
        record.phase = Phase::Parents;
        save_record(env.store, record).await?;
    }
    if record.phase == Phase::Parents {
        fix_parents(env, record).await?;
    }
    Ok(())
}

/// What an import reads of each issue, and how.
pub fn bulk_read(env: &ImportEnv<'_>, jql: &str) -> BulkRead {
    let fields = env.run.ctx.issue_fields_read();
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    let mut read = BulkRead::new(jql, &fields);
    read.complete_comments = true;
    read.page_size = PAGE_SIZE;
    // Data Center's Epic Link names the parent by key: its id comes with the batch.
    read.key_fields = env
        .run
        .ctx
        .epic_link_field()
        .into_iter()
        .map(str::to_owned)
        .collect();
    read
}

/// Puts a batch's key → id pairs in the parent-key cache (emptied when it would grow too big).
fn remember_keys(keys: &Mutex<HashMap<String, String>>, batch: &crate::jira::Batch) {
    if batch.key_ids.is_empty() {
        return;
    }
    let mut cache = keys.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() + batch.key_ids.len() > KEY_CACHE {
        cache.clear();
    }
    cache.extend(batch.key_ids.iter().map(|(k, v)| (k.clone(), v.clone())));
}

/// A dry run of [`import_from_jira`]: the same search, read the same way (reads only), every issue
/// classified as the import would (created, updated, unchanged, skipped with the reason,
/// failed when its mapping fails), with nothing written to the workspace, the links or the
/// baselines; sprints and releases the import would add are not added either. Only the job's
/// record is stored. What the workspace's own validation would refuse shows only in the real
/// run, and an issue another integration's item holds is reported as skipped even when the
/// real run adopts it because it moved between this workspace's projects.
pub async fn dry_run(env: &ImportEnv<'_>, record: &mut JobRecord) -> Result<(), ImportError> {
    record.processed = 0;
    record.counts = Default::default();
    record.planned.clear();
    let mut batches = env.run.client.read_bulk(
        bulk_read(env, &record.jql),
        crate::jira::SearchCursor::Start,
    );
    let keys = Mutex::new(HashMap::new());
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(|source| ImportError::Search {
            jql: record.jql.clone(),
            source,
        })?;
        remember_keys(&keys, &batch);
        match batch_links(env, &batch.issues) {
            Ok(found) => {
                for (issue, found) in batch.issues.iter().zip(found) {
                    let verdict = plan_issue(env, issue, found, &keys).await;
                    record.plan(&issue.key, verdict);
                }
            }
            Err(e) => {
                for issue in &batch.issues {
                    record.plan(&issue.key, Planned::Fail(e.to_string()));
                }
            }
        }
        for (id, message) in &batch.errors {
            record.plan(
                id,
                Planned::Fail(format!("Jira could not return the issue: {message}")),
            );
        }
        record.processed += (batch.issues.len() + batch.errors.len()) as u64;
        if batch.total.is_some() {
            record.total = batch.total;
        }
        save_record(env.store, record).await?;
        if let Some(progress) = env.progress {
            progress(record);
        }
    }
    record.phase = Phase::Done;
    Ok(())
}

/// [`import_issue`]'s decisions, without its writes.
async fn plan_issue(
    env: &ImportEnv<'_>,
    issue: &Issue,
    (link, holder): LinkAndHolder,
    keys: &Mutex<HashMap<String, String>>,
) -> Planned {
    let run = env.run;
    let ws = &run.workspace.name;
    let patch = match from_jira(issue, &run.ctx) {
        Ok(p) => p,
        Err(e) if e.is_skip() => return Planned::Skip(e.to_string()),
        Err(e) => return Planned::Fail(e.to_string()),
    };
    // A parent not linked yet is left alone here; the real run sets it in its parents phase.
    let parent = match resolve_parent(env, issue, &patch, keys).await {
        Ok((parent, _unlinked)) => parent,
        Err(e) => return Planned::Fail(e.to_string()),
    };
    match link {
        Some(link) => {
            let item = match env.workspace.get_item(ws, &link.workspace_item_id) {
                Ok(i) => i,
                Err(e) => return Planned::Fail(e.to_string()),
            };
            let ws_patch = workspace_patch(&patch, parent, Some(&item));
            match env.workspace.would_change(ws, &item.id, &ws_patch) {
                Ok(changed) if changed.is_empty() => Planned::Unchanged(item.id),
                Ok(changed) => Planned::Update(format!(
                    "{}: {}",
                    item.id,
                    changed.into_iter().collect::<Vec<_>>().join(", ")
                )),
                Err(e) => Planned::Fail(e.to_string()),
            }
        }
        None => match holder {
            Some(h) => Planned::Skip(format!(
                "already linked to item {} through integration {}",
                h.item, h.integration
            )),
            None if patch.title.is_none() => Planned::Fail("the issue has no summary".into()),
            None => Planned::Create(format!(
                "{} \"{}\"",
                patch.item_type,
                patch.title.as_deref().unwrap_or_default()
            )),
        },
    }
}

/// What one batch's writes came to, applied to the job record in search order.
struct Written {
    results: Vec<Outcome>,
    errors: Vec<(String, String)>,
    read: u64,
    after: Option<crate::jira::SearchCursor>,
    total: Option<u64>,
}

/// Maps and writes one batch (items, links, baselines, deferred parents: one transaction for
/// the whole batch); the job record is left to [`apply`].
async fn write_batch(
    env: &ImportEnv<'_>,
    started: DateTime<Utc>,
    batch: crate::jira::Batch,
    keys: &Mutex<HashMap<String, String>>,
    ns: &str,
) -> Result<Written, ImportError> {
    remember_keys(keys, &batch);
    let mapped: Vec<_> = batch
        .issues
        .iter()
        .map(|issue| from_jira(issue, &env.run.ctx))
        .collect();
    resolve_parent_keys(env, &batch.issues, &mapped, keys).await;
    let prepared = match batch_links(env, &batch.issues) {
        Ok(found) => {
            join_all(
                batch
                    .issues
                    .iter()
                    .zip(mapped)
                    .zip(found)
                    .map(|((issue, m), found)| prepare_issue(env, issue, m, found, keys, ns)),
            )
            .await
        }
        Err(e) => batch.issues.iter().map(|i| failed(i, &e)).collect(),
    };
    let mut results: Vec<Option<Outcome>> = Vec::with_capacity(prepared.len());
    let mut pending = Vec::new();
    for p in prepared {
        match p {
            Prepared::Done(outcome) => results.push(Some(outcome)),
            Prepared::Write(w) => {
                pending.push((results.len(), *w));
                results.push(None);
            }
        }
    }
    for (slot, outcome) in write_pending(env, started, pending).await {
        results[slot] = Some(outcome);
    }
    let results = results.into_iter().flatten().collect();
    Ok(Written {
        results,
        read: (batch.issues.len() + batch.errors.len()) as u64,
        errors: batch.errors,
        after: batch.after,
        total: batch.total,
    })
}

/// Each issue's link in this integration and its holder on the connection, for a batch: one
/// read transaction, shared by the import and its dry run so both decide from the same read.
fn batch_links(env: &ImportEnv<'_>, issues: &[Issue]) -> Result<Vec<LinkAndHolder>, StoreError> {
    let ids: Vec<&str> = issues.iter().map(|i| i.id.as_str()).collect();
    env.store.links_and_holders(
        &env.run.integration.name,
        &env.run.integration.connection,
        &ids,
    )
}

/// Counts a written batch into the record and moves its cursor past it.
fn apply(record: &mut JobRecord, done: Written) {
    for r in done.results {
        match r {
            Outcome::Created => record.counts.created += 1,
            Outcome::Updated => record.counts.updated += 1,
            Outcome::Unchanged => record.counts.unchanged += 1,
            Outcome::Skipped => record.counts.skipped += 1,
            Outcome::Refused(key, reason) => {
                record.counts.skipped += 1;
                record.push_note(key, format!("skipped: {reason}"));
            }
            Outcome::Failed(key, message) => record.push_error(key, message),
        }
    }
    for (id, message) in done.errors {
        record.push_error(id, format!("Jira could not return the issue: {message}"));
    }
    record.processed += done.read;
    if done.total.is_some() {
        record.total = done.total;
    }
    if let Some(after) = done.after {
        record.cursor = after;
    }
}

/// Imported items name sprints and releases by name; they must exist in the workspace first.
async fn ensure_sprints_and_releases(env: &ImportEnv<'_>) -> Result<(), ImportError> {
    ensure_catalog(env.workspace, env.run).await
}

/// Adds the board's sprints and the project's versions the workspace lacks (by name).
pub(crate) async fn ensure_catalog(
    workspace: &WorkspaceService,
    run: &IntegrationRun,
) -> Result<(), ImportError> {
    let ws = &run.workspace.name;
    let origin = Origin::Sync(run.integration.name.clone());
    let have: Vec<String> = workspace
        .list_sprints(ws)
        .map_err(ImportError::Workspace)?
        .into_iter()
        .map(|s| s.name)
        .collect();
    for s in &run.ctx.catalog().sprints {
        if have.contains(&s.name) {
            continue;
        }
        let patch = SprintPatch {
            name: Some(s.name.clone()),
            state: Some(s.state.to_ascii_lowercase()),
            ..SprintPatch::default()
        };
        match workspace.create_sprint(ws, patch, origin.clone()).await {
            Ok(_) | Err(WorkspaceError::Conflict(_)) => {}
            Err(e) => return Err(ImportError::Workspace(e)),
        }
    }
    let have: Vec<String> = workspace
        .list_releases(ws)
        .map_err(ImportError::Workspace)?
        .into_iter()
        .map(|r| r.name)
        .collect();
    for v in &run.ctx.catalog().versions {
        if have.contains(&v.name) {
            continue;
        }
        let patch = ReleasePatch {
            name: Some(v.name.clone()),
            released: Some(v.released),
            ..ReleasePatch::default()
        };
        match workspace.create_release(ws, patch, origin.clone()).await {
            Ok(_) | Err(WorkspaceError::Conflict(_)) => {}
            Err(e) => return Err(ImportError::Workspace(e)),
        }
    }
    Ok(())
}

/// The issue's parent as an item id (`None` leaves it, `Some(None)` clears it), and the
/// parent's issue id when that issue has no item yet. One place, so the dry run decides
/// exactly as the import.
async fn resolve_parent(
    env: &ImportEnv<'_>,
    issue: &Issue,
    patch: &ItemPatch,
    keys: &Mutex<HashMap<String, String>>,
) -> Result<(Option<Option<String>>, Option<String>), StoreError> {
    let key = match &patch.parent_key {
        None => return Ok((None, None)),
        Some(None) => return Ok((Some(None), None)),
        Some(Some(key)) => key,
    };
    let Some(pid) = parent_issue_id(env, issue, key, keys).await else {
        return Ok((None, None));
    };
    Ok(
        match env
            .store
            .link_by_jira_issue(&env.run.integration.name, &pid)?
        {
            Some(link) => (Some(Some(link.workspace_item_id)), None),
            None => (None, Some(pid)),
        },
    )
}

fn failed(issue: &Issue, message: impl std::fmt::Display) -> Prepared {
    Prepared::Done(Outcome::Failed(issue.key.clone(), message.to_string()))
}

/// Decides what one issue writes, from reads only (an issue that moved here from another
/// integration's project has its link moved first, as before).
async fn prepare_issue(
    env: &ImportEnv<'_>,
    issue: &Issue,
    mapped: Result<ItemPatch, MappingError>,
    (link, holder): LinkAndHolder,
    keys: &Mutex<HashMap<String, String>>,
    ns: &str,
) -> Prepared {
    let run = env.run;
    let integration = &run.integration.name;
    let ws = &run.workspace.name;
    let patch = match mapped {
        Ok(p) => p,
        Err(e) if e.is_skip() => return Prepared::Done(Outcome::Skipped),
        Err(e) => return failed(issue, e),
    };
    // A parent not linked yet is deferred to the parents phase.
    let (parent, parent_issue) = match resolve_parent(env, issue, &patch, keys).await {
        Ok(resolved) => resolved,
        Err(e) => return failed(issue, e),
    };
    let parent_linked = matches!(parent, Some(Some(_)));
    let link = match link {
        Some(l) => Some(l),
        None => match adopt_moved(env, issue).await {
            Ok(l) => l,
            Err(e) => return failed(issue, e),
        },
    };
    // The live engine merges later edits against what this import agreed on.
    let parent_key = match &patch.parent_key {
        Some(Some(key)) if parent_linked => Some(key.clone()),
        _ => None,
    };
    let baseline = match super::engine::baseline::after_import(issue, &run.ctx, &patch, parent_key)
    {
        Ok(base) => super::engine::baseline::encoded(integration, &base),
        Err(e) => return failed(issue, e),
    };
    let mut kv = vec![baseline];
    if let Some(pid) = parent_issue {
        kv.push((ns.to_owned(), pid.into_bytes()));
    }
    let issue_ref = crate::workspace::IssueRef {
        connection: run.integration.connection.clone(),
        id: issue.id.clone(),
        key: issue.key.clone(),
    };
    let pending = match link {
        None => {
            // One issue, one item: an issue another integration's item holds stays with it.
            if let Some(h) = holder {
                return Prepared::Done(Outcome::Refused(
                    issue.key.clone(),
                    format!(
                        "already linked to item {} through integration {}",
                        h.item, h.integration
                    ),
                ));
            }
            let ws_patch = workspace_patch(&patch, parent, None);
            if ws_patch.title.is_none() {
                return failed(issue, "the issue has no summary");
            }
            Pending {
                key: issue.key.clone(),
                entry: ImportEntry {
                    target: ImportTarget::Create(issue_ref),
                    patch: ws_patch,
                    kv,
                },
                before: None,
                rekey: None,
            }
        }
        Some(link) => {
            let item = match env.workspace.get_item(ws, &link.workspace_item_id) {
                Ok(i) => i,
                Err(e) => return failed(issue, e),
            };
            let ws_patch = workspace_patch(&patch, parent, Some(&item));
            // The issue moved (new key, same id): the link's key is kept current.
            let rekey = (link.jira_issue_key != issue.key).then(|| crate::workspace::IssueRef {
                connection: link.connection.clone(),
                ..issue_ref
            });
            Pending {
                key: issue.key.clone(),
                entry: ImportEntry {
                    target: ImportTarget::Update(item.id.clone()),
                    patch: ws_patch,
                    kv,
                },
                before: Some(item),
                rekey,
            }
        }
    };
    Prepared::Write(Box::new(pending))
}

/// Writes a batch's pending issues in one transaction and says what each came to (by its slot
/// in the batch). When the store refuses the transaction (a link another writer took since
/// the reads, say), nothing was written, and each issue is written on its own instead (those
/// writes still share group commits), so only the offending one fails.
async fn write_pending(
    env: &ImportEnv<'_>,
    started: DateTime<Utc>,
    pending: Vec<(usize, Pending)>,
) -> Vec<(usize, Outcome)> {
    if pending.is_empty() {
        return Vec::new();
    }
    let ws = &env.run.workspace.name;
    let integration = &env.run.integration.name;
    let (rest, entries): (Vec<_>, Vec<ImportEntry>) = pending
        .into_iter()
        .map(|(slot, p)| ((slot, p.key, p.before, p.rekey), p.entry))
        .unzip();
    let entries: std::sync::Arc<[ImportEntry]> = entries.into();
    let written: Vec<Result<Item, WorkspaceError>> = match env
        .workspace
        .import_items(ws, integration, entries.clone())
        .await
    {
        Ok(w) => w,
        Err(e) => {
            tracing::debug!(error = %e, "an import batch's transaction failed; writing its issues one by one");
            join_all(entries.iter().map(|entry| async move {
                let one = std::sync::Arc::from([entry.clone()]);
                match env.workspace.import_items(ws, integration, one).await {
                    Ok(mut one) => one.pop().unwrap_or_else(|| {
                        Err(WorkspaceError::Conflict("nothing was written".into()))
                    }),
                    Err(e) => Err(e),
                }
            }))
            .await
        }
    };
    let mut out = Vec::with_capacity(rest.len());
    for ((slot, key, before, rekey), result) in rest.into_iter().zip(written) {
        let after = match result {
            Ok(item) => item,
            Err(e) => {
                out.push((slot, Outcome::Failed(key, e.to_string())));
                continue;
            }
        };
        if let Some(rekey) = rekey {
            if let Err(e) = env
                .workspace
                .set_jira_link(ws, &after.id, integration, Some(rekey))
                .await
            {
                out.push((slot, Outcome::Failed(key, e.to_string())));
                continue;
            }
        }
        let outcome = match before {
            None => Outcome::Created,
            Some(item) if item.created >= started => {
                // Created by this job before it was interrupted (its batch's counts were not
                // stored), even if this read sets more (a parent linked since, in a batch
                // written at the same time).
                Outcome::Created
            }
            Some(item) if after.version != item.version || item.updated >= started => {
                // Changed now, or by this job before it was interrupted.
                Outcome::Updated
            }
            Some(_) => Outcome::Unchanged,
        };
        out.push((slot, outcome));
    }
    out
}

/// An issue that moved here from the project of another integration of this workspace keeps
/// its item: the link moves to this integration (the baseline this import writes replaces the
/// other's). An item of another workspace is left to its own integration, which unlinks it
/// when it sees the move; this workspace imports the issue as its own.
async fn adopt_moved(env: &ImportEnv<'_>, issue: &Issue) -> Result<Option<Link>, String> {
    let run = env.run;
    let model = env.workspace.model();
    let found = super::engine::moved::link_left_behind(
        env.store,
        &model,
        &run.integration,
        &issue.id,
        &run.integration.project,
    )
    .map_err(|e| e.to_string())?;
    let Some((left, ws)) = found.filter(|(_, ws)| *ws == run.workspace.name) else {
        return Ok(None);
    };
    super::engine::moved::move_link(env.workspace, &ws, &left, &run.integration.name, issue)
        .await
        .map_err(|e| e.to_string())?;
    super::engine::baseline::remove(env.store, &left.integration, &left.workspace_item_id)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(Link {
        integration: run.integration.name.clone(),
        jira_issue_key: issue.key.clone(),
        ..left
    }))
}

/// Learns, in one request per 100, the issue ids of the parents a batch names by key only
/// (Data Center's Epic Link), so that mapping a batch costs no read per issue. A parent the
/// issue itself carries the id of, or already known, is not asked for; one Jira does not
/// return is left to [`parent_issue_id`], which asks for it alone.
async fn resolve_parent_keys(
    env: &ImportEnv<'_>,
    issues: &[Issue],
    mapped: &[Result<ItemPatch, MappingError>],
    keys: &Mutex<HashMap<String, String>>,
) {
    let mut wanted: Vec<String> = {
        let cache = keys.lock().unwrap_or_else(|e| e.into_inner());
        issues
            .iter()
            .zip(mapped)
            .filter_map(|(issue, m)| match m {
                Ok(ItemPatch {
                    parent_key: Some(Some(key)),
                    ..
                }) if carried_parent_id(issue, key).is_none() && !cache.contains_key(key) => {
                    Some(key.clone())
                }
                _ => None,
            })
            .collect()
    };
    wanted.sort();
    wanted.dedup();
    if wanted.is_empty() {
        return;
    }
    // In a task of its own: the import's loop polls this batch only between other batches'
    // checkpoints, and the request must not wait for those to go out.
    let client = env.run.client.clone();
    let asked = tokio::spawn(async move { client.issue_ids_by_key(&wanted).await });
    match asked
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    {
        Ok(found) => {
            let mut cache = keys.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() + found.len() > KEY_CACHE {
                cache.clear();
            }
            cache.extend(found);
        }
        Err(e) => {
            tracing::debug!(error = %e, "cannot resolve parent keys in one request; asking one by one");
        }
    }
}

/// The parent's id when the issue carries it: in its parent field or its hierarchy link.
fn carried_parent_id(issue: &Issue, key: &str) -> Option<String> {
    let f = &issue.fields;
    if let Some(p) = f.get("parent") {
        if p.get("key").and_then(Value::as_str) == Some(key) {
            if let Some(id) = p.get("id").and_then(Value::as_str) {
                return Some(id.to_owned());
            }
        }
    }
    f.get("issuelinks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| l.get("outwardIssue"))
        .find(|o| o.get("key").and_then(Value::as_str) == Some(key))
        .and_then(|o| o.get("id").and_then(Value::as_str))
        .map(str::to_owned)
}

/// The parent's issue id: from the parent field or the hierarchy link when they carry it,
/// else (Data Center's Epic Link holds a key) asked from Jira and remembered.
async fn parent_issue_id(
    env: &ImportEnv<'_>,
    issue: &Issue,
    key: &str,
    keys: &Mutex<HashMap<String, String>>,
) -> Option<String> {
    if let Some(id) = carried_parent_id(issue, key) {
        return Some(id);
    }
    if let Some(id) = keys
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(key)
        .cloned()
    {
        return Some(id);
    }
    match env.run.client.issue(key, &["summary"], false).await {
        Ok(parent) => {
            let mut cache = keys.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= KEY_CACHE {
                cache.clear();
            }
            cache.insert(key.to_owned(), parent.id.clone());
            Some(parent.id)
        }
        Err(e) => {
            tracing::warn!(issue = issue.key, parent = key, error = %e, "cannot resolve the parent issue");
            None
        }
    }
}

/// The workspace patch of a mapped issue. Comments keep the workspace ids of those already
/// stored (matched by Jira id) so that an unchanged issue changes nothing.
pub(crate) fn workspace_patch(
    p: &ItemPatch,
    parent: Option<Option<String>>,
    item: Option<&Item>,
) -> WsPatch {
    WsPatch {
        item_type: Some(p.item_type.clone()),
        title: p.title.clone(),
        description: p.description.clone(),
        status: p.status.clone(),
        parent,
        sprint: p.sprint.clone(),
        releases: p.releases.clone(),
        components: p.components.clone(),
        story_points: p.story_points,
        team: p.team.clone(),
        labels: p.labels.clone(),
        fields: p
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), (!v.is_null()).then(|| v.clone())))
            .collect(),
        comments: p
            .comments
            .as_ref()
            .map(|cs| cs.iter().map(|c| comment(c, item)).collect()),
        time_spent_seconds: p.time_spent_seconds,
        sync_to: None,
    }
}

fn comment(c: &JiraComment, item: Option<&Item>) -> Comment {
    let existing = item.and_then(|i| {
        i.comments
            .iter()
            .find(|x| x.jira_id.as_deref() == Some(c.jira_id.as_str()))
    });
    let created = c
        .created
        .as_deref()
        .and_then(super::snapshot::parse_jira_time)
        .or(existing.map(|x| x.created))
        .unwrap_or_else(Utc::now);
    Comment {
        id: existing
            .map(|x| x.id.clone())
            .unwrap_or_else(|| format!("jira-{}", c.jira_id)),
        author: c.author.clone(),
        body: c.body.clone(),
        created,
        jira_id: Some(c.jira_id.clone()),
    }
}

/// Sets the parents that were deferred, now that every page's items exist. A parent outside
/// the import (not linked) is left unset.
async fn fix_parents(env: &ImportEnv<'_>, record: &mut JobRecord) -> Result<(), ImportError> {
    let ns = parents_ns(&record.id);
    let pending = env.store.list_kv(&ns)?;
    let integration = &env.run.integration.name;
    let ws = &env.run.workspace.name;
    for chunk in pending.chunks(FIXUP_CHUNK) {
        let work = chunk.iter().map(|(child, parent)| async move {
            let parent = String::from_utf8_lossy(parent).into_owned();
            let Some(link) = env.store.link_by_jira_issue(integration, &parent)? else {
                return Ok::<_, StoreError>(None);
            };
            let patch = WsPatch {
                parent: Some(Some(link.workspace_item_id)),
                ..WsPatch::default()
            };
            let origin = Origin::Sync(integration.clone());
            Ok(env
                .workspace
                .patch_item(ws, child, patch, None, origin)
                .await
                .err()
                .map(|e| (child.clone(), e.to_string())))
        });
        for r in join_all(work).await {
            if let Some((child, message)) = r? {
                record.push_note(child, format!("parent not set: {message}"));
            }
        }
        // One durable commit for the chunk's entries, not one each.
        let done = chunk
            .iter()
            .map(|(child, _)| (child.clone(), None))
            .collect();
        env.store.put_kv_many(&ns, done).await?;
    }
    record.phase = Phase::Done;
    save_record(env.store, record).await?;
    Ok(())
}
