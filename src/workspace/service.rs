//! [`WorkspaceService`]: the one way to read and change the embedded workspace, for the admin
//! API and the sync engine alike.
//!
//! Every change is checked against the Workspace manifest (types, hierarchy, statuses, custom
//! fields) and against what is stored (parent, sprint and releases exist), under `If-Match` when
//! given, and lands in one transaction together with its change-feed entry. Only the fields a
//! change touches are validated, so an item that predates a manifest edit (a status since removed)
//! can still be retitled; the new value of any field must be valid.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use serde_json::Value;
use tokio::sync::watch;

use super::model::{
    item_number, Change, ChangeOp, Comment, HistoryEntry, Item, ItemId, JiraLink, Origin, Release,
    Sprint,
};
use super::patch::{check_date, ItemPatch, ReleasePatch, SprintPatch};
use crate::manifest::model::{FieldType, Model, Workspace};
use crate::store::{ItemQuery, Link, Named, Store, StoreError, WsOp, WsPlan, WsReader};

/// The current manifests, as the service needs them: resolved on every call so that a manifest
/// change applies to the next request.
pub type ModelFn = Arc<dyn Fn() -> Arc<Model> + Send + Sync>;

/// Largest page of a listing; larger requests get this many.
pub const MAX_PAGE: usize = 500;
/// Page size when none is asked for.
pub const DEFAULT_PAGE: usize = 50;
/// Jira's own limit on a summary, so that every valid title can be pushed.
pub const MAX_TITLE: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("workspace {0:?} is not declared by any Workspace manifest")]
    UnknownWorkspace(String),
    #[error("{kind} {id:?} does not exist in workspace {workspace:?}")]
    NotFound {
        kind: &'static str,
        workspace: String,
        id: String,
    },
    /// Bad input; `field` names it (`title`, `fields.Risk`, `releases[1]`; empty for the body).
    #[error("{}{message}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
    Invalid { field: String, message: String },
    /// `If-Match` named another version than the stored one.
    #[error("{what} is at version {current}, not the version If-Match names")]
    VersionMismatch { what: String, current: u64 },
    /// The change contradicts stored state (a name taken, children still attached...).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> WorkspaceError {
    WorkspaceError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// `If-Match`: `*` (any existing version) or a list of acceptable versions. Absent means the
/// write is unconditional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    Versions(Vec<u64>),
}

impl IfMatch {
    fn check(&self, what: &str, current: u64) -> Result<(), WorkspaceError> {
        match self {
            IfMatch::Any => Ok(()),
            IfMatch::Versions(v) if v.contains(&current) => Ok(()),
            IfMatch::Versions(_) => Err(WorkspaceError::VersionMismatch {
                what: what.to_string(),
                current,
            }),
        }
    }
}

fn check_if_match(
    if_match: &Option<IfMatch>,
    what: &str,
    current: u64,
) -> Result<(), WorkspaceError> {
    if_match.as_ref().map_or(Ok(()), |m| m.check(what, current))
}

/// Which items to list. Filters combine with AND; `cursor` comes from the previous page.
#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    pub item_type: Option<String>,
    pub status: Option<String>,
    pub parent: Option<ItemId>,
    pub sprint: Option<String>,
    pub release: Option<String>,
    pub cursor: Option<String>,
    /// Clamped to 1..=[`MAX_PAGE`]; `None` is [`DEFAULT_PAGE`].
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ItemPage {
    pub items: Vec<Item>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// One entry of [`WorkspaceService::import_items`].
#[derive(Debug, Clone)]
pub struct ImportEntry {
    pub target: ImportTarget,
    pub patch: ItemPatch,
    /// Key/value entries (namespace, value) stored under the item's id, with the item and only
    /// if it is written: a new item's id is known only inside the transaction.
    pub kv: Vec<(String, Vec<u8>)>,
}

/// What an [`ImportEntry`] writes: a new item linked to the issue, or a patch of an item.
#[derive(Debug, Clone)]
pub enum ImportTarget {
    Create(IssueRef),
    Update(ItemId),
}

/// A Jira issue to link an item to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRef {
    /// The Connection the integration uses (kept so a disconnect drops the link).
    pub connection: String,
    pub id: String,
    pub key: String,
}

/// Handle to the embedded workspace. Cheap to clone.
#[derive(Clone)]
pub struct WorkspaceService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    model: ModelFn,
    /// The newest change-feed sequence written through this service, for consumers that wait.
    last_change: watch::Sender<u64>,
}

impl std::fmt::Debug for WorkspaceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkspaceService").finish_non_exhaustive()
    }
}

impl WorkspaceService {
    pub fn new(store: Store, model: ModelFn) -> Self {
        let last = store.ws_last_change_seq().unwrap_or(0);
        let (last_change, _) = watch::channel(last);
        WorkspaceService {
            inner: Arc::new(Inner {
                store,
                model,
                last_change,
            }),
        }
    }

    /// A service over a fixed model (tests, tools).
    pub fn with_model(store: Store, model: Model) -> Self {
        let model = Arc::new(model);
        WorkspaceService::new(store, Arc::new(move || model.clone()))
    }

    /// The manifest model the service works with now (which integrations sync which
    /// workspace, for callers that relate links across integrations).
    pub fn model(&self) -> Arc<Model> {
        (self.inner.model)()
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Changes to the newest change-feed sequence number after every write through this
    /// service: the sync engine waits on it instead of polling the feed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.last_change.subscribe()
    }

    /// The Workspace manifest for `ws`: by `metadata.name`, else by its public `id`.
    pub fn workspace(&self, ws: &str) -> Result<Workspace, WorkspaceError> {
        let model = (self.inner.model)();
        model
            .workspaces
            .get(ws)
            .or_else(|| model.workspaces.values().find(|w| w.id == ws))
            .cloned()
            .ok_or_else(|| WorkspaceError::UnknownWorkspace(ws.to_string()))
    }

    fn notify(&self, seqs: &[u64]) {
        if let Some(max) = seqs.iter().max() {
            self.inner.last_change.send_if_modified(|v| {
                let newer = *max > *v;
                if newer {
                    *v = *max;
                }
                newer
            });
        }
    }

    /// Runs a decision in the writer and reports its outcome.
    async fn write<T, F>(&self, decide: F) -> Result<T, WorkspaceError>
    where
        T: Send + 'static,
        F: FnMut(&WsReader<'_>) -> Result<(WsPlan, T), WorkspaceError> + Send + 'static,
    {
        let (out, seqs) = self.inner.store.workspace_write(decide).await??;
        self.notify(&seqs);
        Ok(out)
    }

    /// The item's Jira link, from the links of the workspace's integrations.
    fn link_of(&self, model: &Model, ws: &str, id: &str) -> Result<Option<JiraLink>, StoreError> {
        for integ in model.integrations.values().filter(|i| i.workspace == ws) {
            if let Some(link) = self.inner.store.link_by_item(&integ.name, id)? {
                let base = model
                    .connections
                    .get(&link.connection)
                    .map(|c| c.url.as_str())
                    .unwrap_or("");
                return Ok(Some(JiraLink {
                    integration: link.integration,
                    url: if base.is_empty() {
                        String::new()
                    } else {
                        format!("{base}/browse/{}", link.jira_issue_key)
                    },
                    key: link.jira_issue_key,
                    id: link.jira_issue_id,
                }));
            }
        }
        Ok(None)
    }

    fn decorate(&self, mut item: Item) -> Result<Item, WorkspaceError> {
        let model = (self.inner.model)();
        item.jira = self.link_of(&model, &item.workspace, &item.id)?;
        Ok(item)
    }

    // ----- items -----

    /// Creates an item from a patch that has at least `type` and `title`; the status defaults
    /// to the workspace's first.
    pub async fn create_item(
        &self,
        ws: &str,
        patch: ItemPatch,
        origin: Origin,
    ) -> Result<Item, WorkspaceError> {
        self.create(ws, patch, origin, None).await
    }

    /// Creates an item for a Jira issue and links it, in one transaction, so that a crash can
    /// never leave an unlinked copy that a later sync would duplicate. Refused with `Conflict`
    /// when the issue is already linked in `integration`.
    pub async fn create_linked_item(
        &self,
        ws: &str,
        patch: ItemPatch,
        integration: &str,
        issue: IssueRef,
    ) -> Result<Item, WorkspaceError> {
        let origin = Origin::Sync(integration.to_string());
        let item = self
            .create(ws, patch, origin, Some((integration.to_string(), issue)))
            .await?;
        self.decorate(item)
    }

    async fn create(
        &self,
        ws: &str,
        patch: ItemPatch,
        origin: Origin,
        link: Option<(String, IssueRef)>,
    ) -> Result<Item, WorkspaceError> {
        let w = Arc::new(self.workspace(ws)?);
        check_create(&patch, &origin)?;
        let model = (self.inner.model)();
        self.write(move |r| {
            let (ops, item) = plan_create(&w, r, &patch, &origin, link.as_ref())?;
            check_sync_to(&model, &w, r, &item)?;
            let mut plan = WsPlan::new(origin.clone());
            plan.ops = ops;
            Ok((plan, item))
        })
        .await
    }

    /// A one-time import's batch: every entry creates a linked item or patches a linked one,
    /// exactly as [`WorkspaceService::create_linked_item`] and
    /// [`WorkspaceService::patch_item`] would (history, change feed with the integration as
    /// origin), together with its key/value entries (the sync baseline), all in one
    /// transaction and one durable commit. An entry refused by validation writes nothing (not
    /// even its key/value entries) and the others go on. The outer error is a store failure,
    /// including a link the store refuses: then nothing at all was written, and the caller
    /// writes the entries one by one to learn which one it was. The items come back as stored,
    /// without `jira` (the caller knows the issue; reading each link back cost a read
    /// transaction per item).
    pub async fn import_items(
        &self,
        ws: &str,
        integration: &str,
        entries: Arc<[ImportEntry]>,
    ) -> Result<Vec<Result<Item, WorkspaceError>>, WorkspaceError> {
        let w = Arc::new(self.workspace(ws)?);
        let origin = Origin::Sync(integration.to_string());
        let integration = integration.to_string();
        let model = (self.inner.model)();
        let results = self
            .inner
            .store
            .workspace_write_each(entries.len(), move |i, r| {
                let entry = &entries[i];
                let (mut plan, item) = match &entry.target {
                    ImportTarget::Create(issue) => {
                        check_create(&entry.patch, &origin)?;
                        let link = (integration.clone(), issue.clone());
                        let (ops, item) = plan_create(&w, r, &entry.patch, &origin, Some(&link))?;
                        check_sync_to(&model, &w, r, &item)?;
                        let mut plan = WsPlan::new(origin.clone());
                        plan.ops = ops;
                        (plan, item)
                    }
                    ImportTarget::Update(id) => {
                        check_origin(&entry.patch, &origin)?;
                        plan_patch(&w, r, &model, id, &entry.patch, &None, &origin, &[])?
                    }
                };
                plan.ops
                    .extend(entry.kv.iter().map(|(namespace, value)| WsOp::PutKv {
                        namespace: namespace.clone(),
                        key: item.id.clone(),
                        value: value.clone(),
                    }));
                Ok::<_, WorkspaceError>((plan, item))
            })
            .await?;
        Ok(results
            .into_iter()
            .map(|r| {
                r.map(|(item, seqs)| {
                    self.notify(&seqs);
                    item
                })
            })
            .collect())
    }

    /// An item with its Jira link.
    pub fn get_item(&self, ws: &str, id: &str) -> Result<Item, WorkspaceError> {
        let w = self.workspace(ws)?;
        let item = self
            .inner
            .store
            .ws_item(&w.name, id)?
            .ok_or_else(|| not_found("item", &w.name, id))?;
        self.decorate(item)
    }

    /// A page of items in id (creation) order.
    pub fn list_items(&self, ws: &str, filter: &ItemFilter) -> Result<ItemPage, WorkspaceError> {
        let w = self.workspace(ws)?;
        let after = match &filter.cursor {
            None => None,
            Some(c) => Some(item_number(c).ok_or_else(|| invalid("cursor", "is not a cursor"))?),
        };
        let query = ItemQuery {
            item_type: filter.item_type.clone(),
            status: filter.status.clone(),
            parent: filter.parent.clone(),
            sprint: filter.sprint.clone(),
            release: filter.release.clone(),
            after,
            limit: filter.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE),
        };
        let (items, next) = self.inner.store.ws_items(&w.name, &query)?;
        let model = (self.inner.model)();
        let items = items
            .into_iter()
            .map(|mut i| {
                i.jira = self.link_of(&model, &w.name, &i.id)?;
                Ok(i)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(ItemPage {
            items,
            next: next.map(super::model::item_id),
        })
    }

    /// Applies a merge patch under `If-Match`. A patch that changes nothing writes nothing and
    /// returns the item as it is (same version).
    pub async fn patch_item(
        &self,
        ws: &str,
        id: &str,
        patch: ItemPatch,
        if_match: Option<IfMatch>,
        origin: Origin,
    ) -> Result<Item, WorkspaceError> {
        self.patch_item_recorded(ws, id, patch, if_match, origin, Vec::new())
            .await
    }

    /// The fields `patch` would change on the item, without writing anything: what a dry run
    /// of an import reports as updated (some fields) or unchanged (none).
    pub fn would_change(
        &self,
        ws: &str,
        id: &str,
        patch: &ItemPatch,
    ) -> Result<BTreeSet<String>, WorkspaceError> {
        let mut item = self.get_item(ws, id)?;
        Ok(apply_item_patch(&mut item, patch))
    }

    /// [`WorkspaceService::patch_item`] plus history entries, committed in the same
    /// transaction (the entries are written even when the patch changes nothing). The sync
    /// engine records a conflict's losing value this way, so no crash can separate the two.
    pub async fn patch_item_recorded(
        &self,
        ws: &str,
        id: &str,
        patch: ItemPatch,
        if_match: Option<IfMatch>,
        origin: Origin,
        history: Vec<HistoryEntry>,
    ) -> Result<Item, WorkspaceError> {
        let w = Arc::new(self.workspace(ws)?);
        check_origin(&patch, &origin)?;
        let id = id.to_string();
        let model = (self.inner.model)();
        let item = self
            .write(move |r| plan_patch(&w, r, &model, &id, &patch, &if_match, &origin, &history))
            .await?;
        self.decorate(item)
    }

    /// Adds a comment to an item (a new version, `comments` in the change feed), so that people
    /// can comment in the workspace without replacing the list the sync engine keeps.
    pub async fn add_comment(
        &self,
        ws: &str,
        id: &str,
        author: &str,
        body: &str,
        origin: Origin,
    ) -> Result<Item, WorkspaceError> {
        if body.trim().is_empty() {
            return Err(invalid("body", "must not be empty"));
        }
        if author.trim().is_empty() {
            return Err(invalid("author", "must not be empty"));
        }
        let w = self.workspace(ws)?;
        let (ws, id) = (w.name.clone(), id.to_string());
        let (author, body) = (author.to_string(), body.to_string());
        let item = self
            .write(move |r| {
                let mut item = r
                    .item(&ws, &id)?
                    .ok_or_else(|| not_found("item", &ws, &id))?;
                let now = Utc::now();
                item.comments.push(Comment {
                    id: format!("c{}", item.comments.len() + 1),
                    author: author.clone(),
                    body: body.clone(),
                    created: now,
                    jira_id: None,
                });
                item.version += 1;
                item.updated = now;
                let plan = WsPlan::new(origin.clone()).push(WsOp::PutItem {
                    item: Box::new(item.clone()),
                    op: ChangeOp::Update,
                    fields: vec!["comments".into()],
                });
                Ok((plan, item))
            })
            .await?;
        self.decorate(item)
    }

    /// Deletes an item under `If-Match`, recording it (with its last state) in its history.
    /// An item with children is refused (delete or move them first). Nothing happens in Jira
    /// here: the sync engine sees the `delete` change and applies its policy (unlink by default).
    pub async fn delete_item(
        &self,
        ws: &str,
        id: &str,
        if_match: Option<IfMatch>,
        origin: Origin,
    ) -> Result<(), WorkspaceError> {
        let w = self.workspace(ws)?;
        let model = (self.inner.model)();
        let link = self.link_of(&model, &w.name, id)?;
        let (ws, id) = (w.name.clone(), id.to_string());
        self.write(move |r| {
            let mut item = r
                .item(&ws, &id)?
                .ok_or_else(|| not_found("item", &ws, &id))?;
            check_if_match(&if_match, &format!("item {id}"), item.version)?;
            let children = r.items_where(&ws, "parent", &id, 5)?;
            if !children.is_empty() {
                return Err(WorkspaceError::Conflict(format!(
                    "item {id} has children ({}); delete them or move them to another parent first",
                    children.join(", ")
                )));
            }
            item.jira = link.clone();
            let mut history = HistoryEntry::new("deleted", origin.clone());
            history.item = serde_json::to_value(&item).ok();
            let plan = WsPlan::new(origin.clone()).push(WsOp::DeleteItem {
                workspace: ws.clone(),
                id: id.clone(),
                history,
            });
            Ok((plan, ()))
        })
        .await
    }

    /// An item's history, oldest first; still there after the item was deleted.
    pub fn history(&self, ws: &str, id: &str) -> Result<Vec<HistoryEntry>, WorkspaceError> {
        let w = self.workspace(ws)?;
        let history = self.inner.store.ws_history(&w.name, id)?;
        if history.is_empty() && self.inner.store.ws_item(&w.name, id)?.is_none() {
            return Err(not_found("item", &w.name, id));
        }
        Ok(history)
    }

    /// Appends a history entry (sync actions, conflict losers). The item must exist.
    pub async fn append_history(
        &self,
        ws: &str,
        id: &str,
        entry: HistoryEntry,
    ) -> Result<(), WorkspaceError> {
        let w = self.workspace(ws)?;
        let (ws, id) = (w.name.clone(), id.to_string());
        self.write(move |r| {
            r.item(&ws, &id)?
                .ok_or_else(|| not_found("item", &ws, &id))?;
            let origin = entry.origin.clone().unwrap_or(Origin::Api);
            let plan = WsPlan::new(origin).push(WsOp::AppendHistory {
                workspace: ws.clone(),
                id: id.clone(),
                entry: entry.clone(),
            });
            Ok((plan, ()))
        })
        .await
    }

    /// Links an item to a Jira issue in `integration` (replacing an earlier link there), or
    /// removes the link with `None`, and records either in the item's history. The item's
    /// version does not change: the link is the sync engine's bookkeeping, not an edit, so it
    /// never makes a person's `If-Match` fail.
    pub async fn set_jira_link(
        &self,
        ws: &str,
        id: &str,
        integration: &str,
        issue: Option<IssueRef>,
    ) -> Result<(), WorkspaceError> {
        self.set_jira_link_because(ws, id, integration, issue, None)
            .await
    }

    /// [`WorkspaceService::set_jira_link`] with the reason recorded in the same history entry
    /// (why a pair was unlinked: which side was deleted).
    pub async fn set_jira_link_because(
        &self,
        ws: &str,
        id: &str,
        integration: &str,
        issue: Option<IssueRef>,
        reason: Option<String>,
    ) -> Result<(), WorkspaceError> {
        let w = self.workspace(ws)?;
        let model = (self.inner.model)();
        let declared = model
            .integrations
            .get(integration)
            .is_some_and(|i| i.workspace == w.name);
        if issue.is_some() && !declared {
            return Err(invalid(
                "integration",
                format!(
                    "{integration:?} is not a ProjectIntegration of workspace {:?}",
                    w.name
                ),
            ));
        }
        let (ws, id, integration) = (w.name.clone(), id.to_string(), integration.to_string());
        self.write(move |r| {
            let origin = Origin::Sync(integration.clone());
            let exists = r.item(&ws, &id)?.is_some();
            let mut entry = HistoryEntry::new(
                if issue.is_some() {
                    "linked"
                } else {
                    "unlinked"
                },
                origin.clone(),
            );
            let op = match &issue {
                Some(issue) => {
                    if !exists {
                        return Err(not_found("item", &ws, &id));
                    }
                    entry.message = Some(format!("linked to {} (id {})", issue.key, issue.id));
                    WsOp::PutLink(Link {
                        integration: integration.clone(),
                        connection: issue.connection.clone(),
                        workspace: ws.clone(),
                        workspace_item_id: id.clone(),
                        jira_issue_id: issue.id.clone(),
                        jira_issue_key: issue.key.clone(),
                    })
                }
                None => {
                    entry.message = reason.clone();
                    WsOp::RemoveLink {
                        integration: integration.clone(),
                        item_id: id.clone(),
                    }
                }
            };
            let mut plan = WsPlan::new(origin).push(op);
            if item_number(&id).is_some() {
                plan = plan.push(WsOp::AppendHistory {
                    workspace: ws.clone(),
                    id: id.clone(),
                    entry,
                });
            }
            Ok((plan, ()))
        })
        .await
    }

    /// Hands an item's link from one integration to another in one write, with `reason` in
    /// the history: its issue moved (same id, new key) into the project `to` syncs. Removing
    /// the old link and writing the new one separately could leave the item unlinked after a
    /// crash, and the next sync would then import the issue as a second item. `false` when the
    /// link was not (or no longer) held by `from`: nothing changed.
    pub async fn move_jira_link(
        &self,
        ws: &str,
        id: &str,
        from: &str,
        to: &str,
        issue: IssueRef,
        reason: String,
    ) -> Result<bool, WorkspaceError> {
        let w = self.workspace(ws)?;
        let model = (self.inner.model)();
        if model
            .integrations
            .get(to)
            .is_none_or(|i| i.workspace != w.name)
        {
            return Err(invalid(
                "integration",
                format!(
                    "{to:?} is not a ProjectIntegration of workspace {:?}",
                    w.name
                ),
            ));
        }
        let (ws, id, from, to) = (
            w.name.clone(),
            id.to_string(),
            from.to_string(),
            to.to_string(),
        );
        self.write(move |r| {
            if r.item(&ws, &id)?.is_none() {
                return Err(not_found("item", &ws, &id));
            }
            let origin = Origin::Sync(to.clone());
            // Both integrations may notice the move at once: only the first hands over.
            if r.item_linked_to(&from, &issue.id)?.as_deref() != Some(id.as_str()) {
                return Ok((WsPlan::new(origin), false));
            }
            let mut entry = HistoryEntry::new("linked", origin.clone());
            entry.message = Some(reason.clone());
            let mut plan = WsPlan::new(origin)
                .push(WsOp::RemoveLink {
                    integration: from.clone(),
                    item_id: id.clone(),
                })
                .push(WsOp::PutLink(Link {
                    integration: to.clone(),
                    connection: issue.connection.clone(),
                    workspace: ws.clone(),
                    workspace_item_id: id.clone(),
                    jira_issue_id: issue.id.clone(),
                    jira_issue_key: issue.key.clone(),
                }));
            if item_number(&id).is_some() {
                plan = plan.push(WsOp::AppendHistory {
                    workspace: ws.clone(),
                    id: id.clone(),
                    entry,
                });
            }
            Ok((plan, true))
        })
        .await
    }

    /// Change-feed entries after `after` (a sequence number; 0 for the beginning), oldest first.
    pub fn changes_since(&self, after: u64, limit: usize) -> Result<Vec<Change>, WorkspaceError> {
        Ok(self.inner.store.ws_changes_since(after, limit)?)
    }

    // ----- sprints -----

    pub async fn create_sprint(
        &self,
        ws: &str,
        patch: SprintPatch,
        origin: Origin,
    ) -> Result<Sprint, WorkspaceError> {
        self.create_named(ws, patch, origin).await
    }

    pub fn get_sprint(&self, ws: &str, name: &str) -> Result<Sprint, WorkspaceError> {
        self.get_named(ws, name)
    }

    pub fn list_sprints(&self, ws: &str) -> Result<Vec<Sprint>, WorkspaceError> {
        self.list_named(ws)
    }

    pub async fn patch_sprint(
        &self,
        ws: &str,
        name: &str,
        patch: SprintPatch,
        if_match: Option<IfMatch>,
        origin: Origin,
    ) -> Result<Sprint, WorkspaceError> {
        self.patch_named(ws, name, patch, if_match, origin).await
    }

    /// Deletes a sprint no item is in.
    pub async fn delete_sprint(
        &self,
        ws: &str,
        name: &str,
        if_match: Option<IfMatch>,
        origin: Origin,
    ) -> Result<(), WorkspaceError> {
        self.delete_named::<Sprint>(ws, name, if_match, origin)
            .await
    }

    // ----- releases -----

    pub async fn create_release(
        &self,
        ws: &str,
        patch: ReleasePatch,
        origin: Origin,
    ) -> Result<Release, WorkspaceError> {
        self.create_named(ws, patch, origin).await
    }

    pub fn get_release(&self, ws: &str, name: &str) -> Result<Release, WorkspaceError> {
        self.get_named(ws, name)
    }

    pub fn list_releases(&self, ws: &str) -> Result<Vec<Release>, WorkspaceError> {
        self.list_named(ws)
    }

    pub async fn patch_release(
        &self,
        ws: &str,
        name: &str,
        patch: ReleasePatch,
        if_match: Option<IfMatch>,
        origin: Origin,
    ) -> Result<Release, WorkspaceError> {
        self.patch_named(ws, name, patch, if_match, origin).await
    }

    /// Deletes a release no item is in.
    pub async fn delete_release(
        &self,
        ws: &str,
        name: &str,
        if_match: Option<IfMatch>,
        origin: Origin,
    ) -> Result<(), WorkspaceError> {
        self.delete_named::<Release>(ws, name, if_match, origin)
            .await
    }

    // ----- sprints and releases alike -----

    async fn create_named<T: NamedKind>(
        &self,
        ws: &str,
        patch: T::Patch,
        origin: Origin,
    ) -> Result<T, WorkspaceError> {
        let w = self.workspace(ws)?;
        let name = T::patch_name(&patch)
            .cloned()
            .ok_or_else(|| invalid("name", "is required"))?;
        check_name("name", &name)?;
        let ws = w.name.clone();
        self.write(move |r| {
            if r.named::<T>(&ws, &name)?.is_some() {
                return Err(WorkspaceError::Conflict(format!(
                    "{} {name:?} already exists in workspace {ws:?}",
                    T::KIND
                )));
            }
            let mut record = T::blank(ws.clone(), name.clone());
            let fields = record.apply_patch(&patch)?;
            let plan =
                WsPlan::new(origin.clone()).push(record.clone().put_op(ChangeOp::Create, fields));
            Ok((plan, record))
        })
        .await
    }

    fn get_named<T: NamedKind>(&self, ws: &str, name: &str) -> Result<T, WorkspaceError> {
        let w = self.workspace(ws)?;
        self.inner
            .store
            .ws_named(&w.name, name)?
            .ok_or_else(|| not_found(T::KIND, &w.name, name))
    }

    fn list_named<T: NamedKind>(&self, ws: &str) -> Result<Vec<T>, WorkspaceError> {
        let w = self.workspace(ws)?;
        Ok(self.inner.store.ws_named_list(&w.name)?)
    }

    async fn patch_named<T: NamedKind>(
        &self,
        ws: &str,
        name: &str,
        patch: T::Patch,
        if_match: Option<IfMatch>,
        origin: Origin,
    ) -> Result<T, WorkspaceError> {
        let w = self.workspace(ws)?;
        let (ws, name) = (w.name.clone(), name.to_string());
        self.write(move |r| {
            let mut record = r
                .named::<T>(&ws, &name)?
                .ok_or_else(|| not_found(T::KIND, &ws, &name))?;
            check_if_match(&if_match, &format!("{} {name}", T::KIND), record.version())?;
            if T::patch_name(&patch).is_some_and(|n| *n != name) {
                return Err(invalid(
                    "name",
                    format!("is read-only (it is the {}'s identity)", T::KIND),
                ));
            }
            let fields = record.apply_patch(&patch)?;
            if fields.is_empty() {
                return Ok((WsPlan::new(origin.clone()), record));
            }
            *record.version_mut() += 1;
            let plan =
                WsPlan::new(origin.clone()).push(record.clone().put_op(ChangeOp::Update, fields));
            Ok((plan, record))
        })
        .await
    }

    /// Deletes a sprint or a release no item is in.
    async fn delete_named<T: NamedKind>(
        &self,
        ws: &str,
        name: &str,
        if_match: Option<IfMatch>,
        origin: Origin,
    ) -> Result<(), WorkspaceError> {
        let w = self.workspace(ws)?;
        let (ws, name) = (w.name.clone(), name.to_string());
        self.write(move |r| {
            let record = r
                .named::<T>(&ws, &name)?
                .ok_or_else(|| not_found(T::KIND, &ws, &name))?;
            check_if_match(&if_match, &format!("{} {name}", T::KIND), record.version())?;
            let users = r.items_where(&ws, T::KIND, &name, 5)?;
            if !users.is_empty() {
                return Err(WorkspaceError::Conflict(format!(
                    "{} {name:?} still has items ({}); {}",
                    T::KIND,
                    users.join(", "),
                    T::IN_USE_HINT
                )));
            }
            let plan = WsPlan::new(origin.clone()).push(T::delete_op(ws.clone(), name.clone()));
            Ok((plan, ()))
        })
        .await
    }
}

/// What the service needs of a sprint or a release beyond the store's [`Named`]: what a new
/// one starts as, how a patch applies, and what a refused delete tells the caller to do. The
/// rest (name checks, `If-Match`, versions, change-feed ops) is the same for both.
trait NamedKind: Named {
    type Patch: Send + 'static;
    /// The end of the message refusing to delete one that items still use.
    const IN_USE_HINT: &'static str;
    fn patch_name(patch: &Self::Patch) -> Option<&String>;
    /// A new record at version 1 with its defaults, before the create's patch applies.
    fn blank(workspace: String, name: String) -> Self;
    /// Sets what the patch changes; returns the names of the fields that changed.
    fn apply_patch(&mut self, patch: &Self::Patch) -> Result<Vec<String>, WorkspaceError>;
}

impl NamedKind for Sprint {
    type Patch = SprintPatch;
    const IN_USE_HINT: &'static str = "move them out first";
    fn patch_name(patch: &SprintPatch) -> Option<&String> {
        patch.name.as_ref()
    }
    fn blank(workspace: String, name: String) -> Self {
        Sprint {
            name,
            workspace,
            version: 1,
            state: "future".into(),
            start: None,
            end: None,
            goal: None,
        }
    }
    fn apply_patch(&mut self, patch: &SprintPatch) -> Result<Vec<String>, WorkspaceError> {
        let mut changed = Vec::new();
        set_field(&mut changed, "state", &mut self.state, patch.state.as_ref());
        set_field(&mut changed, "start", &mut self.start, patch.start.as_ref());
        set_field(&mut changed, "end", &mut self.end, patch.end.as_ref());
        set_field(&mut changed, "goal", &mut self.goal, patch.goal.as_ref());
        if let (Some(start), Some(end)) = (self.start, self.end) {
            if end < start {
                return Err(invalid("end", "must not be before start"));
            }
        }
        Ok(changed)
    }
}

impl NamedKind for Release {
    type Patch = ReleasePatch;
    const IN_USE_HINT: &'static str = "remove it from them first";
    fn patch_name(patch: &ReleasePatch) -> Option<&String> {
        patch.name.as_ref()
    }
    fn blank(workspace: String, name: String) -> Self {
        Release {
            name,
            workspace,
            version: 1,
            released: false,
            release_date: None,
            description: None,
        }
    }
    fn apply_patch(&mut self, patch: &ReleasePatch) -> Result<Vec<String>, WorkspaceError> {
        let mut changed = Vec::new();
        set_field(
            &mut changed,
            "released",
            &mut self.released,
            patch.released.as_ref(),
        );
        set_field(
            &mut changed,
            "releaseDate",
            &mut self.release_date,
            patch.release_date.as_ref(),
        );
        set_field(
            &mut changed,
            "description",
            &mut self.description,
            patch.description.as_ref(),
        );
        Ok(changed)
    }
}

/// Sets `field` to `value` when there is one and it differs, and names it in `changed` then.
fn set_field<T: PartialEq + Clone>(
    changed: &mut Vec<String>,
    name: &str,
    field: &mut T,
    value: Option<&T>,
) {
    if let Some(v) = value {
        if v != field {
            *field = v.clone();
            changed.push(name.to_string());
        }
    }
}

/// Decides one patch of an existing item (with history entries recorded in the same plan,
/// even when the patch changes nothing): what [`WorkspaceService::patch_item_recorded`] and an
/// import batch write.
#[allow(clippy::too_many_arguments)]
fn plan_patch(
    w: &Workspace,
    r: &WsReader<'_>,
    model: &Model,
    id: &str,
    patch: &ItemPatch,
    if_match: &Option<IfMatch>,
    origin: &Origin,
    history: &[HistoryEntry],
) -> Result<(WsPlan, Item), WorkspaceError> {
    let mut item = r
        .item(&w.name, id)?
        .ok_or_else(|| not_found("item", &w.name, id))?;
    check_if_match(if_match, &format!("item {id}"), item.version)?;
    let changed = apply_item_patch(&mut item, patch);
    let mut plan = WsPlan::new(origin.clone());
    if !changed.is_empty() {
        validate_item(w, r, &item, &changed, false)?;
        if changed.contains("syncTo") || changed.contains("type") {
            check_sync_to(model, w, r, &item)?;
        }
        item.version += 1;
        item.updated = Utc::now();
        stamp_fields(&mut item, &changed);
        plan = plan.push(WsOp::PutItem {
            item: Box::new(item.clone()),
            op: ChangeOp::Update,
            fields: changed.into_iter().collect(),
        });
    }
    for entry in history {
        plan = plan.push(WsOp::AppendHistory {
            workspace: w.name.clone(),
            id: id.to_owned(),
            entry: entry.clone(),
        });
    }
    Ok((plan, item))
}

fn check_create(patch: &ItemPatch, origin: &Origin) -> Result<(), WorkspaceError> {
    check_origin(patch, origin)?;
    if patch.item_type.is_none() {
        return Err(invalid("type", "is required"));
    }
    if patch.title.is_none() {
        return Err(invalid("title", "is required"));
    }
    Ok(())
}

/// Decides one create: a new id, the patch applied to a blank item, validation, and (for an
/// item from Jira) its link and a `created` history entry.
fn plan_create(
    w: &Workspace,
    r: &WsReader<'_>,
    patch: &ItemPatch,
    origin: &Origin,
    link: Option<&(String, IssueRef)>,
) -> Result<(Vec<WsOp>, Item), WorkspaceError> {
    if let Some((integration, issue)) = link {
        if let Some(existing) = r.item_linked_to(integration, &issue.id)? {
            return Err(WorkspaceError::Conflict(format!(
                "Jira issue {} (id {}) is already linked to {existing} in {integration}",
                issue.key, issue.id
            )));
        }
    }
    let now = Utc::now();
    let mut item = Item {
        id: r.allocate_item_id(&w.name)?,
        workspace: w.name.clone(),
        version: 1,
        item_type: String::new(),
        title: String::new(),
        description: String::new(),
        status: w.statuses.first().cloned().unwrap_or_default(),
        parent: None,
        sprint: None,
        releases: Vec::new(),
        components: Vec::new(),
        story_points: None,
        team: None,
        labels: Vec::new(),
        fields: Default::default(),
        comments: Vec::new(),
        time_spent_seconds: 0,
        jira: None,
        sync_to: None,
        field_updated: Default::default(),
        created: now,
        updated: now,
    };
    let mut changed = apply_item_patch(&mut item, patch);
    changed.insert("status".into());
    changed.insert("type".into());
    validate_item(w, r, &item, &changed, true)?;
    stamp_fields(&mut item, &changed);
    let mut ops = vec![WsOp::PutItem {
        item: Box::new(item.clone()),
        op: ChangeOp::Create,
        fields: changed.into_iter().collect(),
    }];
    if let Some((integration, issue)) = link {
        let mut entry = HistoryEntry::new("created", origin.clone());
        entry.message = Some(format!("created from {} (id {})", issue.key, issue.id));
        ops.push(WsOp::PutLink(Link {
            integration: integration.clone(),
            connection: issue.connection.clone(),
            workspace: w.name.clone(),
            workspace_item_id: item.id.clone(),
            jira_issue_id: issue.id.clone(),
            jira_issue_key: issue.key.clone(),
        }));
        ops.push(WsOp::AppendHistory {
            workspace: w.name.clone(),
            id: item.id.clone(),
            entry,
        });
    }
    Ok((ops, item))
}

fn not_found(kind: &'static str, ws: &str, id: &str) -> WorkspaceError {
    WorkspaceError::NotFound {
        kind,
        workspace: ws.to_string(),
        id: id.to_string(),
    }
}

/// Comments and time spent come from Jira; people add comments in Jira or, later, through a
/// comment endpoint, never by replacing the list.
fn check_origin(patch: &ItemPatch, origin: &Origin) -> Result<(), WorkspaceError> {
    if origin.is_api() {
        if patch.comments.is_some() {
            return Err(invalid("comments", "is read-only through the API"));
        }
        if patch.time_spent_seconds.is_some() {
            return Err(invalid(
                "timeSpentSeconds",
                "is read-only (it comes from Jira worklogs)",
            ));
        }
    }
    Ok(())
}

fn check_name(field: &str, name: &str) -> Result<(), WorkspaceError> {
    if name.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if name.chars().count() > MAX_TITLE || name.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("must be at most {MAX_TITLE} characters without control characters"),
        ));
    }
    Ok(())
}

/// Sets what the patch changes; returns the names of the fields whose value actually changed.
/// Records when each changed field changed (`updated` is the item's time, set just before).
fn stamp_fields(item: &mut Item, changed: &BTreeSet<String>) {
    for name in changed {
        if !matches!(name.as_str(), "comments" | "timeSpentSeconds" | "syncTo") {
            item.field_updated.insert(name.clone(), item.updated);
        }
    }
}

fn apply_item_patch(item: &mut Item, p: &ItemPatch) -> BTreeSet<String> {
    let mut changed = BTreeSet::new();
    macro_rules! set {
        ($patch:expr, $field:expr, $name:literal) => {
            if let Some(v) = &$patch {
                if *v != $field {
                    $field = v.clone();
                    changed.insert($name.to_string());
                }
            }
        };
    }
    set!(p.item_type, item.item_type, "type");
    set!(p.title, item.title, "title");
    set!(p.description, item.description, "description");
    set!(p.status, item.status, "status");
    set!(p.parent, item.parent, "parent");
    set!(p.sprint, item.sprint, "sprint");
    set!(p.releases, item.releases, "releases");
    set!(p.components, item.components, "components");
    set!(p.story_points, item.story_points, "storyPoints");
    set!(p.team, item.team, "team");
    set!(p.labels, item.labels, "labels");
    set!(p.comments, item.comments, "comments");
    set!(p.sync_to, item.sync_to, "syncTo");
    if let Some(t) = p.time_spent_seconds {
        if t != item.time_spent_seconds {
            item.time_spent_seconds = t;
            changed.insert("timeSpentSeconds".into());
        }
    }
    for (name, value) in &p.fields {
        let before = item.fields.get(name);
        if before != value.as_ref() {
            match value {
                Some(v) => item.fields.insert(name.clone(), v.clone()),
                None => item.fields.remove(name),
            };
            changed.insert(format!("fields.{name}"));
        }
    }
    changed
}

fn no_duplicates(field: &str, list: &[String]) -> Result<(), WorkspaceError> {
    for (i, v) in list.iter().enumerate() {
        if v.trim().is_empty() {
            return Err(invalid(format!("{field}[{i}]"), "must not be empty"));
        }
        if list[..i].contains(v) {
            return Err(invalid(
                format!("{field}[{i}]"),
                format!("{v:?} appears twice"),
            ));
        }
    }
    Ok(())
}

/// Validates the fields named in `changed` (and the constraints between them) against the
/// manifest and the stored workspace.
/// `syncTo` names an integration of the item's workspace that creates issues of the item's
/// type, and only while the item is not linked through another one.
fn check_sync_to(
    model: &Model,
    w: &Workspace,
    r: &WsReader<'_>,
    item: &Item,
) -> Result<(), WorkspaceError> {
    let Some(name) = &item.sync_to else {
        return Ok(());
    };
    let Some(pi) = model
        .integrations
        .get(name)
        .filter(|pi| pi.workspace == w.name)
    else {
        let declared: Vec<&str> = model
            .integrations
            .values()
            .filter(|pi| pi.workspace == w.name)
            .map(|pi| pi.name.as_str())
            .collect();
        return Err(invalid(
            "syncTo",
            format!(
                "{name:?} is not a ProjectIntegration of workspace {:?} (declared: {})",
                w.name,
                if declared.is_empty() {
                    "none".to_owned()
                } else {
                    declared.join(", ")
                }
            ),
        ));
    };
    if !pi.direction.to_jira() || pi.jira_type(&item.item_type).is_none() {
        return Err(invalid(
            "syncTo",
            format!(
                "integration {name} does not create issues of type {:?} (it ignores the type, \
                 does not map it, or does not write to Jira)",
                item.item_type
            ),
        ));
    }
    if let Some(through) = r.linked_through(&w.name, &item.id)? {
        if through != *name {
            return Err(invalid(
                "syncTo",
                format!(
                    "{} is linked through integration {through}; syncTo chooses the \
                     integration of an unlinked item",
                    item.id
                ),
            ));
        }
    }
    Ok(())
}

fn validate_item(
    w: &Workspace,
    r: &WsReader<'_>,
    item: &Item,
    changed: &BTreeSet<String>,
    creating: bool,
) -> Result<(), WorkspaceError> {
    let has = |f: &str| changed.contains(f);
    let ty = w.item_type(&item.item_type);
    if has("type") {
        let Some(ty) = ty else {
            let declared: Vec<&str> = w.item_types.iter().map(|t| t.name.as_str()).collect();
            return Err(invalid(
                "type",
                format!(
                    "{:?} is not an item type of workspace {:?} (declared: {})",
                    item.item_type,
                    w.name,
                    declared.join(", ")
                ),
            ));
        };
        if !creating {
            for child in r.items_where(&w.name, "parent", &item.id, usize::MAX)? {
                let child_type = r.item(&w.name, &child)?.map(|c| c.item_type);
                let child_parent_type = child_type
                    .as_deref()
                    .and_then(|t| w.item_type(t))
                    .and_then(|t| t.parent.as_deref());
                if child_parent_type != Some(ty.name.as_str()) {
                    return Err(invalid(
                        "type",
                        format!(
                            "child {child} ({}) cannot have a {} as its parent",
                            child_type.unwrap_or_default(),
                            ty.name
                        ),
                    ));
                }
            }
        }
    }
    if has("title") {
        if item.title.trim().is_empty() {
            return Err(invalid("title", "must not be empty"));
        }
        if item.title.chars().count() > MAX_TITLE {
            return Err(invalid(
                "title",
                format!("must be at most {MAX_TITLE} characters"),
            ));
        }
    }
    if has("status") && !w.statuses.contains(&item.status) {
        return Err(invalid(
            "status",
            format!(
                "{:?} is not a status of workspace {:?} (declared: {})",
                item.status,
                w.name,
                w.statuses.join(", ")
            ),
        ));
    }
    if has("parent") || has("type") {
        if let Some(parent_id) = &item.parent {
            let Some(ty) = ty else {
                return Err(invalid("type", "is not declared"));
            };
            let Some(parent_type) = ty.parent.as_deref() else {
                return Err(invalid(
                    "parent",
                    format!("items of type {} have no parent type", ty.name),
                ));
            };
            if *parent_id == item.id {
                return Err(invalid("parent", "an item cannot be its own parent"));
            }
            let found = r
                .item_type(&w.name, parent_id)?
                .ok_or_else(|| invalid("parent", format!("item {parent_id} does not exist")))?;
            if found != parent_type {
                return Err(invalid(
                    "parent",
                    format!(
                        "the parent of a {} must be a {parent_type}; {parent_id} is a {found}",
                        ty.name
                    ),
                ));
            }
        }
    }
    if has("sprint") {
        if let Some(s) = &item.sprint {
            if !r.named_exists::<Sprint>(&w.name, s)? {
                return Err(invalid("sprint", format!("sprint {s:?} does not exist")));
            }
        }
    }
    if has("releases") {
        no_duplicates("releases", &item.releases)?;
        for (i, rel) in item.releases.iter().enumerate() {
            if !r.named_exists::<Release>(&w.name, rel)? {
                return Err(invalid(
                    format!("releases[{i}]"),
                    format!("release {rel:?} does not exist"),
                ));
            }
        }
    }
    if has("components") {
        no_duplicates("components", &item.components)?;
    }
    if has("labels") {
        no_duplicates("labels", &item.labels)?;
        check_labels("labels", &item.labels)?;
    }
    if has("storyPoints") {
        if let Some(sp) = item.story_points {
            if !sp.is_finite() || sp < 0.0 {
                return Err(invalid("storyPoints", "must be a number of at least 0"));
            }
        }
    }
    if has("team") && item.team.as_ref().is_some_and(|t| t.trim().is_empty()) {
        return Err(invalid("team", "must not be empty (use null to clear it)"));
    }
    for name in changed.iter().filter_map(|c| c.strip_prefix("fields.")) {
        if let Some(value) = item.fields.get(name) {
            validate_field(w, name, value)?;
        } else if w.field_type(name).is_none() {
            return Err(invalid(
                format!("fields.{name}"),
                "is not a field of this workspace",
            ));
        }
    }
    Ok(())
}

/// Jira labels cannot contain spaces; refusing them here keeps every item pushable.
fn check_labels(field: &str, labels: &[String]) -> Result<(), WorkspaceError> {
    for (i, l) in labels.iter().enumerate() {
        if l.chars().any(char::is_whitespace) {
            return Err(invalid(
                format!("{field}[{i}]"),
                format!("{l:?} contains whitespace, which Jira labels cannot"),
            ));
        }
    }
    Ok(())
}

fn validate_field(w: &Workspace, name: &str, value: &Value) -> Result<(), WorkspaceError> {
    let field = format!("fields.{name}");
    let Some(ty) = w.field_type(name) else {
        let mut declared: Vec<&str> = crate::manifest::model::DEFAULT_FIELDS
            .iter()
            .map(|(n, _)| *n)
            .collect();
        declared.extend(w.fields.iter().map(|f| f.name.as_str()));
        return Err(invalid(
            field,
            format!(
                "is not a field of this workspace (fields: {})",
                declared.join(", ")
            ),
        ));
    };
    let options: &[String] = w
        .fields
        .iter()
        .find(|f| f.name == name)
        .map(|f| f.options.as_slice())
        .unwrap_or(&[]);
    let check_option = |field: &str, v: &str| -> Result<(), WorkspaceError> {
        if options.iter().any(|o| o == v) {
            Ok(())
        } else {
            Err(invalid(
                field,
                format!("{v:?} is not an option (options: {})", options.join(", ")),
            ))
        }
    };
    let strings = |field: &str| -> Result<Vec<String>, WorkspaceError> {
        value
            .as_array()
            .ok_or_else(|| invalid(field, "must be an array of strings"))?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid(format!("{field}[{i}]"), "must be a string"))
            })
            .collect()
    };
    match ty {
        FieldType::Text => {
            value
                .as_str()
                .ok_or_else(|| invalid(&field, "must be a string (text field)"))?;
        }
        FieldType::Number => {
            value
                .as_f64()
                .filter(|f| f.is_finite())
                .ok_or_else(|| invalid(&field, "must be a number"))?;
        }
        FieldType::SingleSelect => {
            let v = value
                .as_str()
                .ok_or_else(|| invalid(&field, "must be one option as a string"))?;
            check_option(&field, v)?;
        }
        FieldType::MultiSelect => {
            let vs = strings(&field)?;
            no_duplicates(&field, &vs)?;
            for (i, v) in vs.iter().enumerate() {
                check_option(&format!("{field}[{i}]"), v)?;
            }
        }
        FieldType::Labels => {
            let vs = strings(&field)?;
            no_duplicates(&field, &vs)?;
            check_labels(&field, &vs)?;
        }
        FieldType::Date => {
            let v = value
                .as_str()
                .ok_or_else(|| invalid(&field, "must be a date such as 2026-01-31"))?;
            check_date(&field, v)?;
        }
        FieldType::Url => {
            let v = value
                .as_str()
                .ok_or_else(|| invalid(&field, "must be a URL string"))?;
            let rest = v
                .strip_prefix("https://")
                .or_else(|| v.strip_prefix("http://"));
            if !rest.is_some_and(|r| !r.is_empty() && !r.chars().any(char::is_whitespace)) {
                return Err(invalid(&field, "must be an http:// or https:// URL"));
            }
        }
    }
    Ok(())
}
