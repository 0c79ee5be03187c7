//! Syncing one pair (a workspace item and its Jira issue), whatever woke it up.
//!
//! The engine is level-triggered: a webhook, a workspace change or the resync sweep only says
//! *which* pair to look at. [`sync_pair`] then reads both sides as they are now, merges them
//! against the pair's [`Baseline`] and writes only what one side lacks. That is what makes
//! events safe to lose, repeat or reorder, and what suppresses echoes: a value tandem wrote
//! comes back equal to the baseline and is not written again.
//!
//! Three cases, by what is linked:
//! - an unlinked item: create its issue (durable intent, adoption after a crash), then sync it
//!   as a linked pair;
//! - an unlinked issue: create its item (unless the issue carries tandem's adoption label: then
//!   its item's own run adopts it);
//! - a linked pair: merge fields, parent, comments and time spent; either side gone unlinks
//!   the pair and records it in the item's history (never cascades into deleting the other).

use std::collections::BTreeMap;

use chrono::Utc;
use serde_json::{Map, Value};

use crate::jira::{Issue, JiraError, KeyRef, NamedRef, NewIssueLink};
use crate::manifest::model::Direction;
use crate::store::Link;
use crate::workspace::model::{Comment, HistoryEntry, Item, Origin};
use crate::workspace::{IfMatch, ItemPatch as WsPatch, WorkspaceError};

use super::super::context::IntegrationRun;
use super::super::import::workspace_patch;
use super::super::mapping::{
    from_jira, to_jira, IssueRef, ItemPatch, MappingError, Origin as TypeOrigin, Slot,
    ADOPTION_LABEL_PREFIX, HIERARCHY_LINK_TYPE,
};
use super::super::push::{create_linked_issue, intent_of, item_label, CreateError, PushEnv};
use super::super::richtext::canonical_markdown;
use super::super::snapshot::{
    fields_snapshot, fields_snapshot_from_issue, item_field_of, key_times_in_changelog,
    keys_in_changelog, parse_jira_time,
};
use super::super::sprints::apply_sprint_moves;
use super::super::transitions::{apply_status, StatusOutcome, StatusPolicy, WorkflowGraph};
use super::baseline::{self, Baseline};
use super::merge::{merge, merge_timed, Flow, Side, Timing};
use super::moved;
use super::{EngineKey, EngineShared, PairKey};

/// Tombstones (in the engine's key/value namespace): a pair unlinked because one side was
/// deleted is not re-created by the live sync from the side that remains. Only an explicit
/// one-time sync brings it back.
/// Keyed by the workspace (and, for issues, the connection), not the integration: after an
/// issue moved to a project another integration of the workspace syncs, a deleted item's
/// issue must not come back as a new item through that integration either.
fn tombstone_key(env: &PairEnv<'_>, side: &str, id: &str) -> String {
    match side {
        "issue" => format!(
            "gone/ws:{}/connection:{}/issue/{id}",
            env.ws(),
            env.run.integration.connection
        ),
        _ => format!("gone/ws:{}/{side}/{id}", env.ws()),
    }
}

/// The key tombstones had before they were per workspace, still honoured.
fn legacy_tombstone_key(integration: &str, side: &str, id: &str) -> String {
    format!("gone/{integration}/{side}/{id}")
}

fn is_tombstoned(env: &PairEnv<'_>, side: &str, id: &str) -> Result<bool, PairError> {
    let store = &env.shared.store;
    Ok(store
        .get_kv(super::ENGINE_NS, &tombstone_key(env, side, id))?
        .is_some()
        || store
            .get_kv(
                super::ENGINE_NS,
                &legacy_tombstone_key(env.integration(), side, id),
            )?
            .is_some())
}

/// Retries spent waiting for a parent to be linked before syncing without it.
const PARENT_PATIENCE: u32 = 4;

/// Why a pair could not be synced this time.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    /// Worth retrying with backoff: Jira unreachable, 429/5xx, a concurrent edit, the store.
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help until someone changes the item, the issue or the manifests
    /// (recorded in the item's history, not retried).
    #[error("{0}")]
    Permanent(String),
}

impl From<JiraError> for PairError {
    fn from(e: JiraError) -> Self {
        if e.is_transient() {
            PairError::Transient(e.to_string())
        } else {
            PairError::Permanent(e.to_string())
        }
    }
}

impl From<WorkspaceError> for PairError {
    fn from(e: WorkspaceError) -> Self {
        match e {
            // A refused link cannot succeed on retry: someone has to unlink one side first.
            WorkspaceError::Store(crate::store::StoreError::LinkRefused(why)) => {
                PairError::Permanent(format!("link refused: {why}"))
            }
            WorkspaceError::VersionMismatch { .. } | WorkspaceError::Store(_) => {
                PairError::Transient(e.to_string())
            }
            other => PairError::Permanent(other.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for PairError {
    fn from(e: crate::store::StoreError) -> Self {
        PairError::Transient(e.to_string())
    }
}

impl From<MappingError> for PairError {
    fn from(e: MappingError) -> Self {
        PairError::Permanent(e.to_string())
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    /// Requests that changed Jira (create, edit, transition, sprint move, comment, link).
    pub jira_writes: u32,
    /// Writes that changed the item (create, patch).
    pub workspace_writes: u32,
    pub conflicts: u32,
    /// The pair was unlinked (one side deleted or moved away).
    pub unlinked: bool,
    /// Another key must run: an issue labelled for an item (the item's run adopts it), a pair
    /// whose issue moved to another integration's project.
    pub reroute: Option<EngineKey>,
}

/// Everything one run needs.
pub struct PairEnv<'a> {
    pub shared: &'a EngineShared,
    pub run: &'a IntegrationRun,
    /// Failed attempts so far of this key (patience with unlinked parents).
    pub attempts: u32,
}

impl PairEnv<'_> {
    pub(super) fn integration(&self) -> &str {
        &self.run.integration.name
    }
    /// `pair` in this integration.
    fn key(&self, pair: PairKey) -> EngineKey {
        EngineKey {
            integration: self.integration().to_owned(),
            pair,
        }
    }
    pub(super) fn ws(&self) -> &str {
        &self.run.workspace.name
    }
    pub(super) fn origin(&self) -> Origin {
        Origin::Sync(self.integration().to_owned())
    }
    fn push_env(&self) -> PushEnv<'_> {
        PushEnv {
            store: &self.shared.store,
            workspace: &self.shared.workspace,
            run: self.run,
            progress: None,
        }
    }
}

pub async fn sync_pair(env: &PairEnv<'_>, key: &PairKey) -> Result<Synced, PairError> {
    let store = &env.shared.store;
    match key {
        PairKey::Item(id) => match store.link_by_item(env.integration(), id)? {
            Some(link) => sync_linked(env, link, None).await,
            None => push_new_item(env, id).await,
        },
        PairKey::Issue(id) => match store.link_by_jira_issue(env.integration(), id)? {
            // Linked since the key was queued (an issue tandem has just created, say): a
            // linked pair only ever runs under its item's key, which the queue never runs
            // twice at once. Running it here too could merge against a baseline not saved yet.
            Some(link) => Ok(Synced {
                reroute: Some(env.key(PairKey::Item(link.workspace_item_id))),
                ..Synced::default()
            }),
            None => pull_new_issue(env, id).await,
        },
        PairKey::Release(name) => super::catalog::push_release(env, name).await,
        PairKey::Sprint(name) => super::catalog::push_sprint(env, name).await,
        // The run was rebuilt for this key (the catalog changed), which is all it asks.
        PairKey::Catalog => Ok(Synced::default()),
    }
}

/// Reads an issue by id; `None` when Jira says it does not exist (deleted, or no permission).
async fn read_issue(env: &PairEnv<'_>, id: &str) -> Result<Option<Issue>, PairError> {
    read_issue_with(env, id, false).await
}

/// [`read_issue`], with the changelog when `changelog` (per-field times for `lastWriterWins`).
async fn read_issue_with(
    env: &PairEnv<'_>,
    id: &str,
    changelog: bool,
) -> Result<Option<Issue>, PairError> {
    match env.run.client.issue(id, &[], changelog).await {
        Ok(mut i) => {
            env.run.client.complete_comments(&mut i).await?;
            Ok(Some(i))
        }
        Err(JiraError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether `issue` was read before the state the pair's baseline holds (by Jira's `updated`).
fn older_than_baseline(env: &PairEnv<'_>, item_id: &str, issue: &Issue) -> bool {
    let read = issue
        .fields
        .get("updated")
        .and_then(Value::as_str)
        .and_then(parse_jira_time);
    let Ok(base) = baseline::load(&env.shared.store, env.integration(), item_id) else {
        return true;
    };
    match (read, base.and_then(|b| b.jira_updated)) {
        (Some(read), Some(agreed)) => read < agreed,
        (None, _) => true,
        (Some(_), None) => false,
    }
}

fn project_of(issue: &Issue) -> Option<&str> {
    issue
        .fields
        .get("project")
        .and_then(|p| p.get("key"))
        .and_then(Value::as_str)
}

/// The labels of an issue, and the item tandem's property names (an issue tandem created
/// where no screen takes labels carries only the property).
fn labels_of(issue: &Issue) -> impl Iterator<Item = &str> {
    issue
        .fields
        .get("labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .chain(
            issue
                .properties
                .get(crate::jira::ITEM_PROPERTY)
                .and_then(|p| p.get("item"))
                .and_then(Value::as_str),
        )
}

// ---------------------------------------------------------------------------------------------
// Unlinked item → new issue.

async fn push_new_item(env: &PairEnv<'_>, id: &str) -> Result<Synced, PairError> {
    let item = match env.shared.workspace.get_item(env.ws(), id) {
        Ok(i) => i,
        Err(WorkspaceError::NotFound { .. }) => return Ok(Synced::default()),
        Err(e) => return Err(e.into()),
    };
    if item
        .jira
        .as_ref()
        .is_some_and(|l| l.integration != env.integration())
        || item
            .sync_to
            .as_ref()
            .is_some_and(|s| s != env.integration())
        || is_tombstoned(env, "item", &item.id)?
    {
        return Ok(Synced::default());
    }
    let ctx = &env.run.ctx;
    if !ctx.direction.to_jira() {
        return Ok(Synced::default());
    }
    let parent = match parent_ref(env, &item)? {
        ParentRef::Linked(p) => Some(p),
        ParentRef::None => None,
        ParentRef::Unlinked(pid) => {
            if env.attempts < PARENT_PATIENCE {
                return Err(PairError::Transient(format!(
                    "waiting for parent {pid} to be linked to Jira first"
                )));
            }
            None
        }
    };
    let write = match to_jira(&item, parent.as_ref(), ctx) {
        Ok(w) => w,
        Err(e) if e.is_skip() => return Ok(Synced::default()),
        Err(e) => return Err(e.into()),
    };
    let intent = intent_of(&env.shared.store, env.integration(), &item.id)?;
    let created = create_linked_issue(&env.push_env(), &item, &write, intent, "live")
        .await
        .map_err(|e| match e {
            CreateError::Refused(why) | CreateError::Rejected(why) => PairError::Permanent(why),
            CreateError::Failed(why) => PairError::Transient(why),
        })?;
    // Fields the create went without are listed per pair like those an edit went without
    // (the push already wrote the item's history).
    for (jira_field, reason) in &created.dropped {
        let key = ctx
            .rules()
            .iter()
            .find(|r| &r.jira.id == jira_field)
            .map_or(jira_field.as_str(), |r| r.workspace.as_str());
        super::refused::on_refused(env, &item.id, &created.key, key, jira_field, reason, false)
            .await?;
    }
    let (issue_id, issue_key) = (created.id, created.key);
    let mut synced = Synced {
        jira_writes: 1,
        ..Synced::default()
    };
    if let (Some(link_to), Some(_)) = (&write.parent_link, &parent) {
        link_hierarchy(env, link_to, &issue_key).await?;
        synced.jira_writes += 1;
    }
    tracing::info!(
        integration = env.integration(),
        item = item.id,
        issue = issue_key,
        "created the item's issue"
    );
    // What Jira made of the create is the baseline: fields it did not take, the status and
    // the sprint (set by separate calls below) then count as workspace changes to push.
    // A field someone changed since the create (its history says so) is a Jira change: its
    // baseline is the item's value, so the merge brings the change back instead of pushing
    // the item's value over it.
    let issue = match env.run.client.issue(&issue_id, &[], true).await {
        Ok(i) => i,
        Err(JiraError::NotFound { .. }) => {
            return Err(PairError::Transient(format!(
                "{issue_key} vanished right after its create"
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let mut fields = fields_snapshot_from_issue(&issue, ctx)?;
    let touched = keys_in_changelog(issue.changelog.as_ref(), ctx);
    if !touched.is_empty() {
        let wanted = fields_snapshot(&item, ctx);
        for key in &touched {
            if let Some(v) = wanted.get(key) {
                fields.insert(key.clone(), v.clone());
            }
        }
        tracing::debug!(
            integration = env.integration(),
            issue = issue_key,
            fields = ?touched,
            "the new issue was changed in Jira right after its create"
        );
    }
    let base = Baseline {
        in_flight: Default::default(),
        in_flight_read: None,
        ws_in_flight: Default::default(),
        synced_at: None,
        jira_updated: None,
        fields,
        parent: parent.map(|p| p.key),
        comments: BTreeMap::new(),
    };
    baseline::save(&env.shared.store, env.integration(), &item.id, &base).await?;
    let link = Link {
        integration: env.integration().to_owned(),
        connection: env.run.integration.connection.clone(),
        workspace: item.workspace.clone(),
        workspace_item_id: item.id.clone(),
        jira_issue_id: issue_id,
        jira_issue_key: issue_key,
    };
    let more = sync_linked(env, link, Some(issue)).await?;
    synced.jira_writes += more.jira_writes;
    synced.workspace_writes += more.workspace_writes;
    synced.conflicts += more.conflicts;
    Ok(synced)
}

enum ParentRef {
    None,
    Linked(IssueRef),
    /// The item has a parent that has no issue (yet).
    Unlinked(String),
}

fn parent_ref(env: &PairEnv<'_>, item: &Item) -> Result<ParentRef, PairError> {
    let Some(pid) = &item.parent else {
        return Ok(ParentRef::None);
    };
    match env.shared.store.link_by_item(env.integration(), pid)? {
        Some(link) => {
            let item_type = env
                .shared
                .workspace
                .get_item(env.ws(), pid)
                .map(|p| p.item_type)
                .unwrap_or_default();
            Ok(ParentRef::Linked(IssueRef {
                id: link.jira_issue_id,
                key: link.jira_issue_key,
                item_type,
            }))
        }
        None => {
            // A parent whose type this integration never pushes will never be linked.
            let pushable = env
                .shared
                .workspace
                .get_item(env.ws(), pid)
                .ok()
                .is_some_and(|p| env.run.ctx.jira_type(&p.item_type).is_ok());
            Ok(if pushable {
                ParentRef::Unlinked(pid.clone())
            } else {
                ParentRef::None
            })
        }
    }
}

async fn link_hierarchy(
    env: &PairEnv<'_>,
    parent_key: &str,
    child_key: &str,
) -> Result<(), PairError> {
    let link = NewIssueLink {
        link_type: NamedRef {
            name: HIERARCHY_LINK_TYPE.to_owned(),
        },
        inward_issue: KeyRef {
            key: child_key.to_owned(),
        },
        outward_issue: KeyRef {
            key: parent_key.to_owned(),
        },
    };
    env.run.client.create_issue_link(&link).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Unlinked issue → new item.

async fn pull_new_issue(env: &PairEnv<'_>, id: &str) -> Result<Synced, PairError> {
    let prefetched = env.shared.take_prefetched(env.integration(), id);
    let issue = match prefetched {
        Some(i) => i,
        None => match read_issue(env, id).await? {
            Some(i) => i,
            None => return Ok(Synced::default()),
        },
    };
    if project_of(&issue) != Some(env.run.integration.project.as_str())
        || is_tombstoned(env, "issue", &issue.id)?
    {
        return Ok(Synced::default());
    }
    // An issue that moved here from another integration's project keeps its item: the
    // link moves with it. An item of another workspace is unlinked by its integration (the
    // issue left its project), and this one imports the issue.
    if let Some((link, ws)) = moved::linked_elsewhere(env, &issue, &env.run.integration.project)? {
        if ws == env.ws() {
            return moved::hand_over(env, &link, env.integration(), &issue).await;
        }
        // One issue, one item: the item of the other workspace lets go first (its run
        // unlinks it), then a retry of this key imports the issue here.
        let other = EngineKey {
            integration: link.integration.clone(),
            pair: PairKey::Item(link.workspace_item_id.clone()),
        };
        env.shared.mark_pending(vec![other], Vec::new()).await?;
        return Err(PairError::Transient(format!(
            "{} moved here from integration {}, whose item {} still holds it; importing it \
             once that item lets go",
            issue.key, link.integration, link.workspace_item_id
        )));
    }
    // An issue tandem created for an item whose link is not written yet (its create is in
    // flight, or crashed): the item's own run links or adopts it.
    let own = format!("{ADOPTION_LABEL_PREFIX}{}-", env.ws());
    if let Some(item_id) = labels_of(&issue).find_map(|l| l.strip_prefix(own.as_str())) {
        if env.shared.workspace.get_item(env.ws(), item_id).is_ok() {
            return Ok(Synced {
                reroute: Some(env.key(PairKey::Item(item_id.to_owned()))),
                ..Synced::default()
            });
        }
    }
    let ctx = &env.run.ctx;
    let patch = match from_jira(&issue, ctx) {
        Ok(p) => p,
        Err(e) if e.is_skip() => return Ok(Synced::default()),
        Err(e) => return Err(e.into()),
    };
    let secondary = patch.origin == Some(TypeOrigin::Secondary);
    if !secondary && !ctx.direction.from_jira() {
        return Ok(Synced::default());
    }
    let parent = match &patch.parent_key {
        Some(Some(key)) => match parent_item(env, &issue, key).await? {
            Some(item) => Some(Some(item)),
            None if env.attempts < PARENT_PATIENCE => {
                return Err(PairError::Transient(format!(
                    "waiting for parent {key} to be linked to an item first"
                )))
            }
            None => None,
        },
        _ => None,
    };
    let ws_patch = workspace_patch(&patch, parent.clone(), None);
    if ws_patch.title.is_none() {
        return Err(PairError::Permanent(format!(
            "{} has no summary",
            issue.key
        )));
    }
    let issue_ref = crate::workspace::IssueRef {
        connection: env.run.integration.connection.clone(),
        id: issue.id.clone(),
        key: issue.key.clone(),
    };
    let item = env
        .shared
        .workspace
        .create_linked_item(env.ws(), ws_patch, env.integration(), issue_ref)
        .await?;
    tracing::info!(
        integration = env.integration(),
        item = item.id,
        issue = issue.key,
        "created an item for a new issue"
    );
    let base = Baseline {
        in_flight: Default::default(),
        in_flight_read: None,
        ws_in_flight: Default::default(),
        synced_at: None,
        jira_updated: None,
        fields: fields_snapshot_from_issue(&issue, ctx)?,
        parent: parent.flatten().and(patch.parent_key.clone().flatten()),
        comments: patch
            .comments
            .iter()
            .flatten()
            .map(|c| (c.jira_id.clone(), canonical_markdown(&c.body)))
            .collect(),
    };
    baseline::save(&env.shared.store, env.integration(), &item.id, &base).await?;
    let updated = issue.fields.get("updated").and_then(Value::as_str);
    env.shared.saw(
        &env.run.integration.connection,
        &issue.id,
        updated,
        item.version,
    );
    Ok(Synced {
        workspace_writes: 1,
        ..Synced::default()
    })
}

/// The item linked to the parent issue `key` of `issue`, if any.
async fn parent_item(
    env: &PairEnv<'_>,
    issue: &Issue,
    key: &str,
) -> Result<Option<String>, PairError> {
    let from_field = issue
        .fields
        .get("parent")
        .filter(|p| p.get("key").and_then(Value::as_str) == Some(key))
        .and_then(|p| p.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let from_links = || {
        issue
            .fields
            .get("issuelinks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| l.get("outwardIssue"))
            .find(|o| o.get("key").and_then(Value::as_str) == Some(key))
            .and_then(|o| o.get("id").and_then(Value::as_str))
            .map(str::to_owned)
    };
    let id = match from_field.or_else(from_links) {
        Some(id) => id,
        // Data Center's Epic Link holds only a key.
        None => match env.run.client.issue(key, &["summary"], false).await {
            Ok(p) => p.id,
            Err(JiraError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        },
    };
    Ok(env
        .shared
        .store
        .link_by_jira_issue(env.integration(), &id)?
        .map(|l| l.workspace_item_id))
}

// ---------------------------------------------------------------------------------------------
// A linked pair.

/// Which side of an unlinked pair is gone (and must not be re-created from the other).
#[derive(Clone, Copy)]
enum Gone {
    Item,
    Issue,
}

async fn unlink(
    env: &PairEnv<'_>,
    link: &Link,
    gone: Gone,
    why: String,
) -> Result<Synced, PairError> {
    let ws = env.ws();
    let store = &env.shared.store;
    // The survivor is remembered first: a crash after the unlink must not let the next
    // sweep or edit re-create the deleted side.
    let survivor = match gone {
        Gone::Item => tombstone_key(env, "issue", &link.jira_issue_id),
        Gone::Issue => tombstone_key(env, "item", &link.workspace_item_id),
    };
    store
        .put_kv_many(super::ENGINE_NS, vec![(survivor, Some(b"1".to_vec()))])
        .await?;
    // The item's history says why, in the same transaction as the unlink (for a deleted item
    // the history is kept too, next to the deletion).
    env.shared
        .workspace
        .set_jira_link_because(
            ws,
            &link.workspace_item_id,
            env.integration(),
            None,
            Some(why.clone()),
        )
        .await?;
    baseline::remove(store, env.integration(), &link.workspace_item_id).await?;
    tracing::info!(
        integration = env.integration(),
        item = link.workspace_item_id,
        issue = link.jira_issue_key,
        reason = why,
        "unlinked"
    );
    Ok(Synced {
        unlinked: true,
        ..Synced::default()
    })
}

/// Decides changes of others that tandem's write just overwrote (see `overwrite`) under the
/// integration's policy, and records each as a conflict in the item's history. `jiraWins` and
/// `lastWriterWins` (the other author wrote after tandem read, so after the workspace edit)
/// restore the other author's value on both sides: title, description, status and story
/// points from the changelog's `toString`, every other mapped field by undoing tandem's own
/// changelog items (`overwrite::Overwritten::restore`); a field whose value cannot be rebuilt
/// from Jira's history, or `workspaceWins`, keeps tandem's value and the history names the
/// lost one. Returns the baseline values of what was restored.
async fn settle_overwrites(
    env: &PairEnv<'_>,
    item: &Item,
    key: &str,
    lost: Vec<super::overwrite::Overwritten>,
    synced: &mut Synced,
    version: &mut u64,
) -> Result<BTreeMap<String, Value>, PairError> {
    let ctx = &env.run.ctx;
    let jira_wins = !matches!(
        env.run.integration.conflicts,
        crate::manifest::model::ConflictPolicy::WorkspaceWins
    );
    let mut patch = WsPatch::default();
    let mut entries = Vec::new();
    // Story points come back from `toString` as a number ("" when cleared).
    let story_points = |key: &str| {
        ctx.rules()
            .iter()
            .any(|r| r.workspace == key && matches!(r.slot, Slot::StoryPoints))
    };
    let points = |o: &super::overwrite::Overwritten| -> Option<Option<f64>> {
        match o.theirs.as_deref().map(str::trim) {
            None | Some("") => Some(None),
            Some(t) => t.parse::<f64>().ok().map(Some),
        }
    };
    // A status comes back as the name Jira shows; restorable when the integration maps it.
    let mapped_status = |o: &super::overwrite::Overwritten| {
        let theirs = o.theirs.as_deref()?;
        env.run
            .integration
            .statuses
            .iter()
            .find(|m| m.jira.eq_ignore_ascii_case(theirs))
            .map(|m| m.workspace.clone())
    };
    let restorable = |o: &super::overwrite::Overwritten| {
        matches!(o.key.as_str(), "title" | "description")
            || (o.key == "status" && mapped_status(o).is_some())
            || o.restore.is_some()
            || (story_points(&o.key) && points(o).is_some())
    };
    // The other author set the very value the item holds (both sides made the same change at
    // once): nothing was lost, and there is no conflict to record. Compared with the item as
    // it is now, not as this run read it: when the workspace moved on meanwhile, the other
    // author's value is a concurrent change of its own, recorded like any other.
    let now_snap = env
        .shared
        .workspace
        .get_item(env.ws(), &item.id)
        .map(|i| fields_snapshot(&i, ctx))
        .unwrap_or_else(|_| fields_snapshot(item, ctx));
    let same_as_ours = |o: &super::overwrite::Overwritten| {
        let ours = now_snap.get(&o.key).cloned().unwrap_or(Value::Null);
        let ours_text = ours.as_str().unwrap_or_default().trim();
        match o.key.as_str() {
            "status" => mapped_status(o).is_some_and(|s| s == ours_text),
            "title" | "description" => o.theirs.as_deref().unwrap_or_default().trim() == ours_text,
            _ => match (&o.restore, points(o)) {
                (Some(v), _) => *v == ours,
                (None, Some(p)) if story_points(&o.key) => {
                    p.map_or(Value::Null, crate::sync::snapshot::canonical_number) == ours
                }
                _ => false,
            },
        }
    };
    let lost: Vec<_> = lost.into_iter().filter(|o| !same_as_ours(o)).collect();
    if lost.is_empty() {
        return Ok(BTreeMap::new());
    }
    for o in &lost {
        let restore = jira_wins && restorable(o);
        let ours = now_snap.get(&o.key).cloned().unwrap_or(Value::Null);
        let mut theirs = o.theirs.clone().unwrap_or_default();
        if o.key == "status" {
            // In the workspace's terms, like every other status in the history.
            if let Some(ws_status) = mapped_status(o) {
                theirs = ws_status;
            }
        }
        let theirs = o.restore.clone().unwrap_or(Value::String(theirs));
        let mut entry = HistoryEntry::new("conflict", env.origin());
        entry.field = Some(o.key.clone());
        if restore {
            match o.key.as_str() {
                "title" => patch.title = o.theirs.clone(),
                "description" => patch.description = Some(o.theirs.clone().unwrap_or_default()),
                "status" => patch.status = mapped_status(o),
                _ => match &o.restore {
                    Some(v) => put_snapshot_value(&o.key, v, &mut patch, env.run),
                    None => patch.story_points = points(o),
                },
            }
            entry.winner = Some(theirs);
            entry.winner_side = Some(Side::Jira.as_str().to_owned());
            entry.loser = Some(ours);
        } else {
            entry.winner = Some(ours);
            entry.winner_side = Some(Side::Workspace.as_str().to_owned());
            entry.loser = Some(theirs);
        }
        entry.message = Some(format!(
            "{} changed {} in Jira ({key}) while tandem was writing it; {:?} kept the {} value{}",
            o.author,
            o.key,
            env.run.integration.conflicts,
            if restore { "jira" } else { "workspace" },
            if !restore && jira_wins {
                " (this field cannot be restored from Jira's history)"
            } else {
                ""
            }
        ));
        entries.push(entry);
    }
    synced.conflicts += lost.len() as u32;
    let after = env
        .shared
        .workspace
        .patch_item_recorded(
            env.ws(),
            &item.id,
            patch.clone(),
            // A workspace edit made meanwhile is never replaced: the pair runs again instead.
            Some(IfMatch::Versions(vec![*version])),
            env.origin(),
            entries,
        )
        .await?;
    synced.workspace_writes += 1;
    *version = after.version;
    let mut restored = BTreeMap::new();
    if patch_is_empty(&patch) {
        return Ok(restored);
    }
    let write = to_jira(&after, None, ctx)?;
    let after_snap = fields_snapshot(&after, ctx);
    let mut fields = Map::new();
    for o in lost.iter().filter(|o| restorable(o)) {
        for id in jira_ids(&o.key, env.run) {
            if let Some(v) = write.fields.get(&id) {
                fields.insert(id, v.clone());
            }
        }
        if let Some(v) = after_snap.get(&o.key) {
            restored.insert(o.key.clone(), v.clone());
        }
    }
    if !fields.is_empty() {
        let mut body = crate::jira::IssueFields::new();
        body.fields = fields;
        env.run.client.edit_issue(key, &body).await?;
        synced.jira_writes += 1;
    }
    // Their status goes back by transition, along the same safe paths as any other.
    if lost.iter().any(|o| o.key == "status" && restorable(o)) {
        if let Some(st) = &write.status {
            let outcome = apply_status(
                &env.run.client,
                key,
                &st.target_status_id,
                None,
                &mut WorkflowGraph::new(),
                &StatusPolicy::new(env.run.ctx.mapped_statuses()),
            )
            .await
            .map_err(|e| PairError::Transient(format!("status of {key}: {e}")))?;
            synced.jira_writes += outcome.applied.len() as u32;
        }
    }
    Ok(restored)
}

/// A run cut off after its Jira write left `in_flight`; when Jira no longer shows a value
/// tandem was writing, either the write never landed or someone changed the field after it
/// did. Only the changelog tells: a change of that field by tandem after the cut-off run's read
/// means it landed, so that value is the ancestor and the later Jira value is a person's
/// change (before, the older ancestor made the person's change look like no change, and the
/// workspace value went over it in silence).
async fn settle_landed_writes(
    env: &PairEnv<'_>,
    key: &str,
    base: &mut Baseline,
    jira_snap: &BTreeMap<String, Value>,
) -> Result<(), PairError> {
    let unseen: Vec<String> = base
        .in_flight
        .iter()
        .filter(|(k, v)| jira_snap.get(*k).unwrap_or(&Value::Null) != *v)
        .map(|(k, _)| k.clone())
        .collect();
    let Some(read_at) = base
        .in_flight_read
        .as_deref()
        .and_then(crate::sync::snapshot::parse_jira_time)
    else {
        return Ok(());
    };
    if unseen.is_empty() {
        return Ok(());
    }
    let me = env
        .shared
        .identities
        .of(&env.run.integration.connection, &env.run.client)
        .await?;
    let now = env.run.client.issue(key, &["updated"], true).await?;
    let histories = now
        .changelog
        .as_ref()
        .and_then(|c| c.get("histories"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for group in histories.iter().filter(|g| {
        crate::sync::snapshot::authored_by(g, &me)
            && g.get("created")
                .and_then(Value::as_str)
                .and_then(crate::sync::snapshot::parse_jira_time)
                .is_some_and(|t| t > read_at)
    }) {
        let keys = keys_in_changelog(
            Some(&serde_json::json!({"histories": [group]})),
            &env.run.ctx,
        );
        for k in unseen.iter().filter(|k| keys.contains(*k)) {
            if let Some(v) = base.in_flight.get(k).cloned() {
                base.fields.insert(k.clone(), v);
            }
        }
    }
    Ok(())
}

/// A run cut off after writing to Jira (SIGKILL, a failed workspace write) never asked the
/// changelog whether its write overwrote someone's edit made after its read; Jira now shows
/// tandem's value, which `settled` takes for tandem's own. Asks now, from the cut-off run's
/// read: what was overwritten is settled under the policy like any other overwrite, the
/// baseline is saved without the in-flight record, and the pair runs again (`true`).
async fn recover_cut_off_write(
    env: &PairEnv<'_>,
    item: &Item,
    issue: &Issue,
    base: &Baseline,
    settled: &BTreeMap<String, Value>,
    jira_snap: &BTreeMap<String, Value>,
    synced: &mut Synced,
) -> Result<bool, PairError> {
    let shown: std::collections::BTreeSet<String> = base
        .in_flight
        .iter()
        .filter(|(k, v)| {
            k.as_str() != "sprint"
                && jira_snap.get(*k).unwrap_or(&Value::Null) == *v
                && base.fields.get(*k) != Some(*v)
        })
        .map(|(k, _)| k.clone())
        .collect();
    if shown.is_empty() {
        return Ok(false);
    }
    let window = super::overwrite::Window {
        read_updated: base.in_flight_read.as_deref(),
        last_sync: None,
        unchanged: &Default::default(),
    };
    let mut version = item.version;
    let Some(restored) =
        settle_overwritten(env, item, &issue.key, window, &shown, synced, &mut version).await?
    else {
        return Ok(false);
    };
    let mut next = base.clone();
    next.fields = settled.clone();
    next.fields.extend(restored);
    next.in_flight.clear();
    next.in_flight_read = None;
    baseline::save(&env.shared.store, env.integration(), &item.id, &next).await?;
    synced.reroute = Some(env.key(PairKey::Item(item.id.clone())));
    Ok(true)
}

/// Asks the changelog which of `wrote` someone else changed inside `window` before tandem's
/// write, and settles those under the policy ([`settle_overwrites`]); the restored values
/// (`None` when nothing was overwritten).
async fn settle_overwritten(
    env: &PairEnv<'_>,
    item: &Item,
    key: &str,
    window: super::overwrite::Window<'_>,
    wrote: &std::collections::BTreeSet<String>,
    synced: &mut Synced,
    version: &mut u64,
) -> Result<Option<BTreeMap<String, Value>>, PairError> {
    let lost = super::overwrite::overwritten_by_others(
        &env.shared.identities,
        &env.run.integration.connection,
        &env.run.client,
        &env.run.ctx,
        key,
        window,
        wrote,
    )
    .await?;
    if lost.is_empty() {
        return Ok(None);
    }
    settle_overwrites(env, item, key, lost, synced, version)
        .await
        .map(Some)
}

/// Unlinks a pair whose issue Jira deleted (see `reachability`), tombstoning both sides: the
/// item is not pushed again, and should the issue reappear (it was hidden after all) it is not
/// imported as a second item.
pub(super) async fn unlink_deleted_issue(
    env: &PairEnv<'_>,
    link: &Link,
    why: String,
) -> Result<Synced, PairError> {
    env.shared
        .store
        .put_kv_many(
            super::ENGINE_NS,
            vec![(
                tombstone_key(env, "issue", &link.jira_issue_id),
                Some(b"1".to_vec()),
            )],
        )
        .await?;
    unlink(env, link, Gone::Issue, why).await
}

/// Writes `body` to `key`; when Jira refuses some of its fields (400 naming each, e.g. not on
/// the edit screen, outside its context, an invalid value), writes the rest without them.
/// Returns the refused Jira field ids with Jira's reasons (see `refused`); `body` is left
/// holding what was written.
async fn edit_dropping_refused(
    env: &PairEnv<'_>,
    key: &str,
    body: &mut crate::jira::IssueFields,
) -> Result<BTreeMap<String, String>, PairError> {
    match env.run.client.edit_issue(key, body).await {
        Ok(()) => Ok(BTreeMap::new()),
        Err(crate::jira::JiraError::BadRequest { errors, .. })
            if !errors.is_empty() && errors.keys().all(|f| body.fields.contains_key(f)) =>
        {
            for f in errors.keys() {
                body.fields.remove(f);
            }
            if !body.fields.is_empty() {
                env.run.client.edit_issue(key, body).await?;
            }
            Ok(errors)
        }
        Err(e) => Err(e.into()),
    }
}

/// Jira field ids that carry a snapshot key in an edit.
fn jira_ids(key: &str, run: &IntegrationRun) -> Vec<String> {
    match key {
        "title" => vec!["summary".into()],
        "description" => vec!["description".into()],
        "status" | "sprint" => Vec::new(),
        other => run
            .ctx
            .rules()
            .iter()
            .filter(|r| r.workspace == other)
            .map(|r| r.jira.id.clone())
            .collect(),
    }
}

/// Copies the value of snapshot key `key` from a Jira patch into a workspace patch.
fn pull_key(key: &str, from: &ItemPatch, into: &mut WsPatch, run: &IntegrationRun) {
    match key {
        "title" => into.title = from.title.clone(),
        "description" => into.description = Some(from.description.clone().unwrap_or_default()),
        "status" => into.status = from.status.clone(),
        "sprint" => into.sprint = Some(from.sprint.clone().flatten()),
        other => {
            for rule in run.ctx.rules().iter().filter(|r| r.workspace == other) {
                match &rule.slot {
                    Slot::StoryPoints => into.story_points = Some(from.story_points.flatten()),
                    Slot::Team => into.team = Some(from.team.clone().flatten()),
                    Slot::Components => {
                        into.components = Some(from.components.clone().unwrap_or_default())
                    }
                    Slot::Releases => {
                        into.releases = Some(from.releases.clone().unwrap_or_default())
                    }
                    Slot::Labels => into.labels = Some(from.labels.clone().unwrap_or_default()),
                    Slot::Field(name) => {
                        let v = from.fields.get(name).cloned().filter(|v| !v.is_null());
                        into.fields.insert(name.clone(), v);
                    }
                }
            }
        }
    }
}

/// Sets a mapped field's snapshot value (see `snapshot`) in a workspace patch: what an
/// overwritten value rebuilt from the changelog needs to go back to the item.
fn put_snapshot_value(key: &str, v: &Value, into: &mut WsPatch, run: &IntegrationRun) {
    let strings = || -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    for rule in run.ctx.rules().iter().filter(|r| r.workspace == key) {
        match &rule.slot {
            Slot::StoryPoints => into.story_points = Some(v.as_f64()),
            Slot::Team => into.team = Some(v.as_str().map(str::to_owned)),
            Slot::Components => into.components = Some(strings()),
            Slot::Releases => into.releases = Some(strings()),
            Slot::Labels => into.labels = Some(strings()),
            Slot::Field(name) => {
                into.fields
                    .insert(name.clone(), Some(v.clone()).filter(|v| !v.is_null()));
            }
        }
    }
}

fn patch_is_empty(p: &WsPatch) -> bool {
    p.title.is_none()
        && p.description.is_none()
        && p.status.is_none()
        && p.parent.is_none()
        && p.sprint.is_none()
        && p.releases.is_none()
        && p.components.is_none()
        && p.story_points.is_none()
        && p.team.is_none()
        && p.labels.is_none()
        && p.fields.is_empty()
        && p.comments.is_none()
        && p.time_spent_seconds.is_none()
        && p.sync_to.is_none()
}

async fn sync_linked(
    env: &PairEnv<'_>,
    link: Link,
    fetched: Option<Issue>,
) -> Result<Synced, PairError> {
    let ws = env.ws();
    let integration = env.integration();
    let ctx = &env.run.ctx;
    let lww =
        env.run.integration.conflicts == crate::manifest::model::ConflictPolicy::LastWriterWins;
    let item = match env.shared.workspace.get_item(ws, &link.workspace_item_id) {
        Ok(i) => i,
        Err(WorkspaceError::NotFound { .. }) => {
            return unlink(
                env,
                &link,
                Gone::Item,
                "the item was deleted in the workspace; the Jira issue is kept".into(),
            )
            .await
        }
        Err(e) => return Err(e.into()),
    };
    // What the sweep read in bulk, unless it lacks the changelog this policy needs or is
    // older than what a run since then agreed on (then it would look like Jira going back).
    let fetched = fetched.or_else(|| {
        env.shared
            .take_prefetched(integration, &link.jira_issue_id)
            .filter(|i| !lww || i.changelog.is_some())
            .filter(|i| !older_than_baseline(env, &item.id, i))
    });
    let issue = match fetched {
        Some(i) => i,
        None => match read_issue_with(env, &link.jira_issue_id, lww).await? {
            Some(i) => i,
            // Deleted, or hidden from tandem's user: only Jira's word tells which.
            None => return super::reachability::on_not_found(env, &link).await,
        },
    };
    super::reachability::on_visible(env, &link).await?;
    if let Some(project) = project_of(&issue) {
        if project != env.run.integration.project {
            if let Some(to) = moved::integration_for_project(env, project) {
                return moved::hand_over(env, &link, &to, &issue).await;
            }
            return unlink(
                env,
                &link,
                Gone::Issue,
                format!(
                    "{} moved to project {project}, outside this integration",
                    issue.key
                ),
            )
            .await;
        }
    }
    let mut synced = Synced::default();
    if issue.key != link.jira_issue_key {
        // The issue moved (new key, same id): keep the link's key current.
        let r = crate::workspace::IssueRef {
            connection: link.connection.clone(),
            id: issue.id.clone(),
            key: issue.key.clone(),
        };
        env.shared
            .workspace
            .set_jira_link(ws, &item.id, integration, Some(r))
            .await?;
    }
    let pulled = match from_jira(&issue, ctx) {
        Ok(p) => p,
        Err(e) if e.is_skip() => return Ok(synced),
        Err(e) => return Err(e.into()),
    };
    let secondary = pulled.origin == Some(TypeOrigin::Secondary);
    let mut base = baseline::load(&env.shared.store, integration, &item.id)?;
    let ws_snap = fields_snapshot(&item, ctx);
    let jira_snap = fields_snapshot_from_issue(&issue, ctx)?;
    if let Some(b) = base.as_mut() {
        settle_landed_writes(env, &issue.key, b, &jira_snap).await?;
    }
    let issue_updated = issue
        .fields
        .get("updated")
        .and_then(Value::as_str)
        .and_then(parse_jira_time);
    let newer = match issue_updated {
        Some(t) if t > item.updated => Side::Jira,
        _ => Side::Workspace,
    };
    let flow = |key: &str| {
        let dir = ctx.field_direction(key).unwrap_or(ctx.direction);
        Flow {
            to_workspace: dir.from_jira() || (secondary && dir != Direction::ToJira),
            to_jira: dir.to_jira() && !secondary,
        }
    };
    let settled = base.as_ref().map(|b| b.settled(&jira_snap, &ws_snap));
    if let (Some(b), Some(settled)) = (&base, &settled) {
        if recover_cut_off_write(env, &item, &issue, b, settled, &jira_snap, &mut synced).await? {
            return Ok(synced);
        }
    }
    // lastWriterWins: per field, by when each side changed that field (the item's field times,
    // Jira's changelog without tandem's own entries), not by the items' update times.
    let jira_times = if lww && issue.changelog.is_some() {
        let me = env
            .shared
            .identities
            .of(&env.run.integration.connection, &env.run.client)
            .await?;
        key_times_in_changelog(issue.changelog.as_ref(), ctx, &me)
    } else {
        BTreeMap::new()
    };
    let timing = |key: &str| {
        if !lww {
            return Timing {
                newer,
                ws_touched: false,
                jira_touched: false,
            };
        }
        let ws_at = item_field_of(key, ctx)
            .and_then(|f| item.field_updated.get(&f).copied())
            .unwrap_or(item.updated);
        let jira_at = jira_times.get(key).copied().or(issue_updated);
        let synced = base.as_ref().and_then(|b| b.synced_at);
        let jira_synced = base.as_ref().and_then(|b| b.jira_updated);
        Timing {
            newer: match jira_at {
                Some(t) if t > ws_at => Side::Jira,
                _ => Side::Workspace,
            },
            ws_touched: synced.is_some_and(|s| {
                item.field_updated
                    .get(&item_field_of(key, ctx).unwrap_or_default())
                    .is_some_and(|t| *t > s)
            }),
            jira_touched: jira_synced.is_some_and(|s| jira_times.get(key).is_some_and(|t| *t > s)),
        }
    };
    let mut m = merge_timed(
        settled.as_ref(),
        &ws_snap,
        &jira_snap,
        env.run.integration.conflicts,
        timing,
        flow,
    );

    // The parent, compared as parent issue keys (the item's parent through its link).
    let core = flow("title");
    let ws_parent = parent_ref(env, &item)?;
    let mut m_conflicts_extra = Vec::new();
    let mut new_parent = base.as_ref().and_then(|b| b.parent.clone());
    let mut pull_parent: Option<Option<String>> = None;
    let mut push_parent: Option<Option<IssueRef>> = None;
    let ws_key = match &ws_parent {
        ParentRef::Linked(p) => Some(Some(p.key.clone())),
        ParentRef::None => Some(None),
        // Not comparable until the parent has its issue.
        ParentRef::Unlinked(_) => None,
    };
    if let (Some(ws_key), Some(jira_key)) = (ws_key, pulled.parent_key.clone()) {
        let one =
            |v: &Option<String>| BTreeMap::from([("parent".to_owned(), serde_json::json!(v))]);
        let base_parent = base.as_ref().map(|b| one(&b.parent));
        let pm = merge(
            base_parent.as_ref(),
            &one(&ws_key),
            &one(&jira_key),
            env.run.integration.conflicts,
            newer,
            |_| core,
        );
        if !pm.to_workspace.is_empty() {
            match &jira_key {
                None => pull_parent = Some(None),
                Some(k) => {
                    if let Some(pid) = parent_item(env, &issue, k).await? {
                        pull_parent = Some(Some(pid));
                    }
                }
            }
            if pull_parent.is_some() {
                new_parent = jira_key;
            }
        } else if !pm.to_jira.is_empty() {
            push_parent = Some(match &ws_parent {
                ParentRef::Linked(p) => Some(p.clone()),
                _ => None,
            });
            new_parent = ws_key;
        } else {
            // In agreement, or a change that may not flow: the merged baseline says which.
            new_parent = pm
                .baseline
                .get("parent")
                .and_then(|v| v.as_str().map(str::to_owned));
        }
        for c in pm.conflicts {
            m_conflicts_extra.push(c);
        }
    }

    // Workspace side first, with every conflict's losing value in the same transaction: a
    // crash can then never lose a loser (the Jira write below is what makes a workspace
    // winner's loser disappear, and it comes after).
    let mut patch = WsPatch::default();
    for k in &m.to_workspace {
        pull_key(k, &pulled, &mut patch, env.run);
    }
    if let Some(p) = pull_parent {
        patch.parent = Some(p);
    }
    if let Some(t) = pulled.time_spent_seconds {
        if t != item.time_spent_seconds {
            patch.time_spent_seconds = Some(t);
        }
    }
    let conflicts: Vec<_> = m.conflicts.iter().chain(&m_conflicts_extra).collect();
    let recorded = if conflicts.is_empty() {
        Vec::new()
    } else {
        env.shared.workspace.history(ws, &item.id)?
    };
    let mut entries = Vec::new();
    for c in conflicts {
        // A retry after a failed Jira write meets the same conflict again: record it once.
        let seen = recorded.iter().rev().take(50).any(|h| {
            h.action == "conflict"
                && h.field.as_deref() == Some(c.field.as_str())
                && h.winner.as_ref() == Some(&c.winner)
                && h.loser.as_ref() == Some(&c.loser)
        });
        synced.conflicts += 1;
        if seen {
            continue;
        }
        let mut entry = HistoryEntry::new("conflict", env.origin());
        entry.field = Some(c.field.clone());
        entry.winner = Some(c.winner.clone());
        entry.winner_side = Some(c.winner_side.as_str().to_owned());
        entry.loser = Some(c.loser.clone());
        entry.message = Some(format!(
            "both sides changed {} since the last sync; {:?} kept the {} value",
            c.field,
            env.run.integration.conflicts,
            c.winner_side.as_str()
        ));
        entries.push(entry);
    }
    if !m.to_workspace.is_empty() {
        let mut entry = HistoryEntry::new("pulled", env.origin());
        let list: Vec<&str> = m.to_workspace.iter().map(String::as_str).collect();
        entry.message = Some(format!("{} ({})", list.join(", "), issue.key));
        entries.push(entry);
    }
    let mut version = item.version;
    // Write-ahead for the workspace side: what is pulled is on record before the item changes.
    let mut saved = base.clone();
    if !m.to_workspace.is_empty() {
        let mut ahead = base.clone().unwrap_or_default();
        if let Some(settled) = &settled {
            ahead.fields = settled.clone();
        }
        ahead.ws_in_flight = m
            .to_workspace
            .iter()
            .filter_map(|k| jira_snap.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        if base.as_ref() != Some(&ahead) {
            baseline::save(&env.shared.store, integration, &item.id, &ahead).await?;
            saved = Some(ahead);
        }
    }
    if !patch_is_empty(&patch) || !entries.is_empty() {
        let after = env
            .shared
            .workspace
            .patch_item_recorded(
                ws,
                &item.id,
                patch,
                Some(IfMatch::Versions(vec![item.version])),
                env.origin(),
                entries,
            )
            .await?;
        if after.version != version {
            synced.workspace_writes += 1;
        }
        version = after.version;
        // The pulled values are in the item: they are the ancestor from now on, whatever
        // happens to the rest of this run (a failed Jira write, a kill).
        if let Some(mut landed) = saved.clone().filter(|s| !s.ws_in_flight.is_empty()) {
            for (k, v) in std::mem::take(&mut landed.ws_in_flight) {
                landed.fields.insert(k, v);
            }
            // Agreed as of this read: the times move with the values (see the final save).
            landed.synced_at = Some(Utc::now());
            landed.jira_updated = issue_updated;
            baseline::save(&env.shared.store, integration, &item.id, &landed).await?;
            saved = Some(landed);
        }
    }

    // Jira side.
    let key = issue.key.clone();
    // Keys the merge pushes because Jira showed no change: a person's change and change back
    // since the last sync counts as a change all the same (see `overwrite::Window`).
    let last_sync = base.as_ref().and_then(|b| b.jira_updated);
    let unchanged: std::collections::BTreeSet<String> = m
        .to_jira
        .iter()
        .filter(|k| !m.conflicts.iter().any(|c| &c.field == *k))
        .cloned()
        .collect();
    let window = || super::overwrite::Window {
        read_updated: issue.fields.get("updated").and_then(Value::as_str),
        last_sync,
        unchanged: &unchanged,
    };
    if !m.to_jira.is_empty() || push_parent.is_some() {
        let parent_for_write = match (&push_parent, &ws_parent) {
            (Some(p), _) => p.clone(),
            (None, ParentRef::Linked(p)) => Some(p.clone()),
            _ => None,
        };
        let write = to_jira(&item, parent_for_write.as_ref(), ctx)?;
        let mut fields = Map::new();
        for k in &m.to_jira {
            for id in jira_ids(k, env.run) {
                if let Some(v) = write.fields.get(&id) {
                    fields.insert(id, v.clone());
                }
            }
        }
        if push_parent.is_some() {
            for id in ["parent".to_owned()]
                .into_iter()
                .chain(ctx.epic_link_field().map(str::to_owned))
            {
                if let Some(v) = write.fields.get(&id) {
                    fields.insert(id, v.clone());
                }
            }
        }
        if fields.contains_key("labels") {
            super::super::push::add_label(&mut fields, &item_label(ws, &item.id), false);
        }
        // Write-ahead: what is about to be written is on record before Jira sees it.
        // Built on the settled ancestor: an earlier in-flight value Jira already shows stays
        // known as tandem's own after this one replaces it.
        let mut ahead = saved.clone().unwrap_or_default();
        if saved == base {
            // (Otherwise the workspace write-ahead above started from the settled ancestor.)
            if let Some(settled) = &settled {
                ahead.fields = settled.clone();
            }
        }
        ahead.in_flight = m
            .to_jira
            .iter()
            .filter_map(|k| ws_snap.get(k).map(|v| (k.clone(), v.clone())))
            .collect();
        ahead.in_flight_read = issue
            .fields
            .get("updated")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if !ahead.in_flight.is_empty() && saved.as_ref() != Some(&ahead) {
            baseline::save(&env.shared.store, integration, &item.id, &ahead).await?;
        }
        if !fields.is_empty() {
            let mut body = crate::jira::IssueFields::new();
            body.fields = fields;
            let refused_ids = edit_dropping_refused(env, &key, &mut body).await?;
            if !body.fields.is_empty() {
                synced.jira_writes += 1;
            }
            // A refused field keeps its old ancestor: the workspace value is neither lost nor
            // taken for synced, and goes to Jira again the next time the pair runs.
            let mut refused_keys = std::collections::BTreeSet::new();
            for k in m
                .to_jira
                .iter()
                .filter(|k| !matches!(k.as_str(), "status" | "sprint"))
            {
                let ids = jira_ids(k, env.run);
                match ids.iter().find_map(|id| refused_ids.get_key_value(id)) {
                    Some((id, reason)) => {
                        refused_keys.insert(k.clone());
                        match base.as_ref().and_then(|b| b.fields.get(k)) {
                            Some(v) => m.baseline.insert(k.clone(), v.clone()),
                            None => m.baseline.remove(k),
                        };
                        super::refused::on_refused(env, &item.id, &key, k, id, reason, true)
                            .await?;
                    }
                    None if ids.iter().any(|id| body.fields.contains_key(id)) => {
                        super::refused::on_accepted(env, &item.id, &key, k).await?;
                    }
                    None => {}
                }
            }
            // Someone may have changed the same fields between the read and this write.
            let wrote: std::collections::BTreeSet<String> = m
                .to_jira
                .iter()
                .filter(|k| !matches!(k.as_str(), "status" | "sprint"))
                .filter(|k| !refused_keys.contains(*k))
                .cloned()
                .collect();
            let restored = settle_overwritten(
                env,
                &item,
                &key,
                window(),
                &wrote,
                &mut synced,
                &mut version,
            )
            .await?;
            m.baseline.extend(restored.into_iter().flatten());
        }
        if m.to_jira.contains("status") {
            if let Some(st) = &write.status {
                // Transitions start from wherever the issue is now: if someone moved it since
                // the read, driving it to the item's status would undo their transition in
                // silence. Merge again from a fresh read instead.
                let read_status = issue.fields["status"]["id"].as_str().map(str::to_owned);
                let now = env.run.client.issue(&key, &["status"], false).await?;
                let now_status = now.fields["status"]["id"].as_str().map(str::to_owned);
                if now_status != read_status {
                    return Err(PairError::Transient(format!(
                        "{key} was transitioned in Jira while tandem was syncing it; merging again"
                    )));
                }
                let issue_type = issue.fields["issuetype"]["id"].as_str().unwrap_or_default();
                let mut graph = env.shared.workflow(integration, issue_type);
                let result = apply_status(
                    &env.run.client,
                    &key,
                    &st.target_status_id,
                    Some(&write.fields),
                    &mut graph,
                    &StatusPolicy::new(ctx.mapped_statuses()),
                )
                .await;
                env.shared.learn_workflow(integration, issue_type, &graph);
                let outcome = match result {
                    Ok(o) => {
                        super::stuck::on_settled(env, &item.id, &key).await?;
                        o
                    }
                    Err(e) if e.is_stuck() => {
                        let (b, j) = (&mut m.baseline, &jira_snap);
                        super::stuck::on_stuck(env, &item.id, &key, &e, b, j).await?;
                        m.to_jira.remove("status");
                        StatusOutcome::default()
                    }
                    Err(e) => return Err(PairError::Transient(format!("status of {key}: {e}"))),
                };
                synced.jira_writes += outcome.applied.len() as u32;
                // A transition by someone else between the check above and tandem's own is
                // not undone in silence either: it is recorded as a conflict.
                if !outcome.applied.is_empty() {
                    let status = std::collections::BTreeSet::from(["status".to_owned()]);
                    let restored = settle_overwritten(
                        env,
                        &item,
                        &key,
                        window(),
                        &status,
                        &mut synced,
                        &mut version,
                    )
                    .await?;
                    m.baseline.extend(restored.into_iter().flatten());
                }
            }
        }
        if m.to_jira.contains("sprint") {
            if let Some(mv) = write.sprint {
                apply_sprint_moves(&env.run.client, &[(key.clone(), mv)]).await?;
                synced.jira_writes += 1;
            }
        }
        if let (Some(Some(_)), Some(parent_key)) = (&push_parent, &write.parent_link) {
            link_hierarchy(env, parent_key, &key).await?;
            synced.jira_writes += 1;
        }
    }

    // Comments, both ways, matched by Jira comment id.
    let mut comments = item.comments.clone();
    let mut comments_changed = false;
    let mut base_comments = BTreeMap::new();
    let old_comments = base
        .as_ref()
        .map(|b| b.comments.clone())
        .unwrap_or_default();
    if core.to_jira {
        let jira_comments = pulled.comments.clone().unwrap_or_default();
        for i in 0..comments.len() {
            if comments[i].jira_id.is_some() {
                continue;
            }
            // A run that posted this comment but could not record its id (a concurrent edit)
            // left it in Jira unmatched: adopt it instead of posting it twice.
            let canon = canonical_markdown(&comments[i].body);
            let orphan = jira_comments.iter().find(|jc| {
                canonical_markdown(&jc.body) == canon
                    && !comments
                        .iter()
                        .any(|c| c.jira_id.as_deref() == Some(jc.jira_id.as_str()))
            });
            if let Some(jc) = orphan {
                comments[i].jira_id = Some(jc.jira_id.clone());
                base_comments.insert(jc.jira_id.clone(), canon);
                comments_changed = true;
                continue;
            }
        }
    }
    if let Some(jira_comments) = &pulled.comments {
        for jc in jira_comments {
            let jb = canonical_markdown(&jc.body);
            match comments
                .iter_mut()
                .find(|c| c.jira_id.as_deref() == Some(jc.jira_id.as_str()))
            {
                None => {
                    if core.to_workspace && !old_comments.contains_key(&jc.jira_id) {
                        comments.push(Comment {
                            id: format!("jira-{}", jc.jira_id),
                            author: jc.author.clone(),
                            body: jc.body.clone(),
                            created: jc
                                .created
                                .as_deref()
                                .and_then(parse_jira_time)
                                .unwrap_or_else(Utc::now),
                            jira_id: Some(jc.jira_id.clone()),
                        });
                        comments_changed = true;
                    }
                    base_comments.insert(jc.jira_id.clone(), jb);
                }
                Some(wc) => {
                    let wb = canonical_markdown(&wc.body);
                    let b = old_comments.get(&jc.jira_id);
                    if wb == jb {
                        base_comments.insert(jc.jira_id.clone(), jb);
                    } else if b != Some(&jb) && core.to_workspace {
                        wc.body = jc.body.clone();
                        comments_changed = true;
                        base_comments.insert(jc.jira_id.clone(), jb);
                    } else if core.to_jira {
                        env.run
                            .client
                            .update_comment(&key, &jc.jira_id, ctx.comment_body(&wc.body))
                            .await?;
                        synced.jira_writes += 1;
                        base_comments.insert(jc.jira_id.clone(), wb);
                    } else {
                        base_comments.insert(jc.jira_id.clone(), jb);
                    }
                }
            }
        }
    }
    if core.to_jira {
        for wc in comments.iter_mut().filter(|c| c.jira_id.is_none()) {
            // Jira shows the connection's user as the author; the text is kept as written so
            // both sides hold the same comment.
            let created = env
                .run
                .client
                .add_comment(&key, ctx.comment_body(&wc.body))
                .await?;
            synced.jira_writes += 1;
            wc.jira_id = Some(created.id.clone());
            base_comments.insert(created.id, canonical_markdown(&wc.body));
            comments_changed = true;
        }
    }

    if comments_changed {
        let patch = WsPatch {
            comments: Some(comments),
            ..WsPatch::default()
        };
        let after = env
            .shared
            .workspace
            .patch_item(
                ws,
                &item.id,
                patch,
                Some(IfMatch::Versions(vec![version])),
                env.origin(),
            )
            .await?;
        if after.version != version {
            synced.workspace_writes += 1;
        }
        version = after.version;
    }
    if !m.to_jira.is_empty() {
        let mut entry = HistoryEntry::new("pushed", env.origin());
        let list: Vec<&str> = m.to_jira.iter().map(String::as_str).collect();
        entry.message = Some(format!("{} ({key})", list.join(", ")));
        env.shared
            .workspace
            .append_history(ws, &item.id, entry)
            .await?;
    }

    let connection = &env.run.integration.connection;
    if synced.jira_writes == 0 {
        let updated = issue.fields.get("updated").and_then(Value::as_str);
        env.shared.saw(connection, &issue.id, updated, version);
    } else {
        env.shared.unsee(connection, &issue.id);
    }
    let stored = baseline::load(&env.shared.store, integration, &item.id)?;
    let mut new_base = Baseline {
        fields: m.baseline,
        parent: new_parent,
        comments: base_comments,
        in_flight: BTreeMap::new(),
        in_flight_read: None,
        ws_in_flight: Default::default(),
        synced_at: stored.as_ref().and_then(|b| b.synced_at),
        jira_updated: stored.as_ref().and_then(|b| b.jira_updated),
    };
    // Saved whenever it differs from what is stored (a write-ahead record included); the
    // times move only with the values, so an unchanged pair costs no write.
    if stored.as_ref() != Some(&new_base) {
        new_base.synced_at = Some(Utc::now());
        new_base.jira_updated = issue_updated;
        baseline::save(&env.shared.store, integration, &item.id, &new_base).await?;
    }
    Ok(synced)
}
