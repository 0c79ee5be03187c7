//! The embedded workspace's tables: items with their secondary index, sprints, releases, item
//! history and the change feed.
//!
//! Writes are plans. The caller (the workspace service) reads through a [`WsReader`] inside the
//! writer's transaction, decides, and returns a [`WsPlan`] that this module applies in that same
//! transaction. Deciding and writing in one transaction on the single writer is what makes
//! `If-Match` sound (two PATCHes with the same version can never both win), and a request that
//! is rejected writes nothing at all because its plan is never applied.
//!
//! Invariants kept here, not by callers: every item, sprint or release write appends exactly one
//! change-feed entry in its transaction; the item index always matches the items; item numbers
//! only grow; an item's Jira link lives in the links table, never in the item's JSON.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::schema::*;
use super::{Lazy, Link, LinkTables, Store, StoreError};
use crate::items::{
    item_id, item_number, Change, ChangeOp, ChangeTarget, HistoryEntry, Item, ItemId, Origin,
    Release, Sprint,
};

/// One write of a plan.
#[derive(Debug, Clone)]
pub enum WsOp {
    /// Creates or replaces an item (the caller has set its version). `fields` names what an
    /// update changed, for the change feed.
    PutItem {
        item: Box<Item>,
        op: ChangeOp,
        fields: Vec<String>,
    },
    /// Removes an item, records `history` for it and appends a `delete` change.
    DeleteItem {
        workspace: String,
        id: ItemId,
        history: HistoryEntry,
    },
    PutSprint {
        sprint: Sprint,
        op: ChangeOp,
        fields: Vec<String>,
    },
    DeleteSprint {
        workspace: String,
        name: String,
    },
    PutRelease {
        release: Release,
        op: ChangeOp,
        fields: Vec<String>,
    },
    DeleteRelease {
        workspace: String,
        name: String,
    },
    /// Appends to an item's history (no change-feed entry: history is not an edit).
    AppendHistory {
        workspace: String,
        id: ItemId,
        entry: HistoryEntry,
    },
    PutLink(Link),
    /// Stores a key/value entry (a sync baseline, say) that belongs with the plan's other
    /// writes: it is committed exactly when they are, so no crash can separate them.
    PutKv {
        namespace: String,
        key: String,
        value: Vec<u8>,
    },
    RemoveLink {
        integration: String,
        item_id: ItemId,
    },
}

/// A record the workspace keeps by (workspace, name): a sprint or a release. For the store they
/// differ only in their table and in how the change feed names them; the service adds what
/// really differs (defaults, patches, the rules for deleting one).
pub(crate) trait Named: Serialize + DeserializeOwned + Clone + Send + 'static {
    /// `sprint` or `release`: what messages call it, and the item index field that names one.
    const KIND: &'static str;
    const TABLE: TableDefinition<'static, (&'static str, &'static str), &'static [u8]>;
    /// Where a write transaction keeps this kind's table open (see `WsTables`).
    const SLOT: usize;
    fn name(&self) -> &str;
    fn workspace(&self) -> &str;
    fn version(&self) -> u64;
    fn version_mut(&mut self) -> &mut u64;
    fn target(name: String) -> ChangeTarget;
    /// The plan op that stores this record.
    fn put_op(self, op: ChangeOp, fields: Vec<String>) -> WsOp;
    /// The plan op that deletes the record `name` of `workspace`.
    fn delete_op(workspace: String, name: String) -> WsOp;
}

/// `Named` for a record type whose `ChangeTarget` variant has its name, stored in `$table` and
/// written by the plan ops `$put { $field, .. }` and `$delete`.
macro_rules! impl_named {
    ($ty:ident, $kind:literal, $table:ident, $slot:literal, $put:ident { $field:ident }, $delete:ident) => {
        impl Named for $ty {
            const KIND: &'static str = $kind;
            const TABLE: TableDefinition<'static, (&'static str, &'static str), &'static [u8]> =
                $table;
            const SLOT: usize = $slot;
            fn name(&self) -> &str {
                &self.name
            }
            fn workspace(&self) -> &str {
                &self.workspace
            }
            fn version(&self) -> u64 {
                self.version
            }
            fn version_mut(&mut self) -> &mut u64 {
                &mut self.version
            }
            fn target(name: String) -> ChangeTarget {
                ChangeTarget::$ty(name)
            }
            fn put_op(self, op: ChangeOp, fields: Vec<String>) -> WsOp {
                WsOp::$put {
                    $field: self,
                    op,
                    fields,
                }
            }
            fn delete_op(workspace: String, name: String) -> WsOp {
                WsOp::$delete { workspace, name }
            }
        }
    };
}

impl_named!(
    Sprint,
    "sprint",
    WS_SPRINTS,
    0,
    PutSprint { sprint },
    DeleteSprint
);
impl_named!(
    Release,
    "release",
    WS_RELEASES,
    1,
    PutRelease { release },
    DeleteRelease
);

/// What one request writes, all in one transaction, attributed to `origin`.
#[derive(Debug, Clone)]
pub struct WsPlan {
    pub origin: Origin,
    pub ops: Vec<WsOp>,
}

impl WsPlan {
    pub fn new(origin: Origin) -> Self {
        WsPlan {
            origin,
            ops: Vec::new(),
        }
    }

    pub fn push(mut self, op: WsOp) -> Self {
        self.ops.push(op);
        self
    }
}

/// A filtered page of items. Filters combine with AND; `after` is the number of the last item
/// of the previous page.
#[derive(Debug, Clone, Default)]
pub struct ItemQuery {
    pub item_type: Option<String>,
    pub status: Option<String>,
    pub parent: Option<ItemId>,
    pub sprint: Option<String>,
    pub release: Option<String>,
    pub after: Option<u64>,
    pub limit: usize,
}

/// Reads inside the writer's transaction: what a plan is decided on. It sees every write
/// committed or batched before it.
pub struct WsReader<'t> {
    /// The tables the plans are also applied through: a batch opens each once, and a read
    /// sees what an earlier entry of the batch wrote because it goes through the same table.
    tables: RefCell<WsTables<'t>>,
    /// Item numbers handed out by this reader for the plan being decided, so one plan can
    /// create several items.
    allocated: RefCell<HashMap<String, u64>>,
}

impl<'t> WsReader<'t> {
    fn new(txn: &'t WriteTransaction) -> Self {
        WsReader {
            tables: RefCell::new(WsTables::new(txn)),
            allocated: RefCell::new(HashMap::new()),
        }
    }

    pub fn item(&self, workspace: &str, id: &str) -> Result<Option<Item>, StoreError> {
        let Some(n) = item_number(id) else {
            return Ok(None);
        };
        let mut tables = self.tables.borrow_mut();
        get_item(tables.items(CTX_READ)?, workspace, n)
    }

    /// The type of an item, without decoding the rest of it: checking a parent needs only
    /// that, and an import checks one per issue.
    pub fn item_type(&self, workspace: &str, id: &str) -> Result<Option<String>, StoreError> {
        #[derive(serde::Deserialize)]
        struct TypeOnly {
            #[serde(rename = "type")]
            item_type: String,
        }
        let Some(n) = item_number(id) else {
            return Ok(None);
        };
        let mut tables = self.tables.borrow_mut();
        let t = tables.items(CTX_READ)?;
        let found = t
            .get((workspace, n))
            .map_err(|e| StoreError::db(CTX_READ, e))?
            .map(|g| serde_json::from_slice::<TypeOnly>(g.value()));
        found
            .transpose()
            .map(|t| t.map(|t| t.item_type))
            .map_err(|e| corrupt(CTX_READ, e))
    }

    pub fn sprint(&self, workspace: &str, name: &str) -> Result<Option<Sprint>, StoreError> {
        self.named(workspace, name)
    }

    pub fn release(&self, workspace: &str, name: &str) -> Result<Option<Release>, StoreError> {
        self.named(workspace, name)
    }

    /// A sprint or a release, by name.
    pub(crate) fn named<T: Named>(
        &self,
        workspace: &str,
        name: &str,
    ) -> Result<Option<T>, StoreError> {
        let mut tables = self.tables.borrow_mut();
        get_named(tables.named::<T>(CTX_READ)?, workspace, name)
    }

    /// Whether a sprint (`T` = [`Sprint`]) or a release exists, without decoding it: what
    /// validating an item's sprint and releases needs, once per imported issue.
    pub(crate) fn named_exists<T: Named>(
        &self,
        workspace: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables.borrow_mut();
        let found = tables
            .named::<T>(CTX_READ)?
            .get((workspace, name))
            .map_err(|e| StoreError::db(CTX_READ, e))?
            .is_some();
        Ok(found)
    }

    /// Ids of the items whose indexed `field` (`type`, `status`, `parent`, `sprint`,
    /// `release`) is `value`, at most `limit`.
    pub fn items_where(
        &self,
        workspace: &str,
        field: &str,
        value: &str,
        limit: usize,
    ) -> Result<Vec<ItemId>, StoreError> {
        let mut tables = self.tables.borrow_mut();
        index_range(tables.index(CTX_READ)?, workspace, field, value, 0, limit)
            .map(|ns| ns.into_iter().map(item_id).collect())
    }

    /// The item linked to a Jira issue (by issue id) in an integration.
    pub fn item_linked_to(
        &self,
        integration: &str,
        jira_issue_id: &str,
    ) -> Result<Option<ItemId>, StoreError> {
        self.tables
            .borrow_mut()
            .links
            .item_of_issue(integration, jira_issue_id, CTX_READ)
    }

    /// The integration an item is linked through, if any (see `links`).
    pub fn linked_through(&self, workspace: &str, id: &str) -> Result<Option<String>, StoreError> {
        self.tables
            .borrow_mut()
            .links
            .integration_of_item(workspace, id, CTX_READ)
    }

    /// Reserves the id the next created item of `workspace` gets.
    pub fn allocate_item_id(&self, workspace: &str) -> Result<ItemId, StoreError> {
        let mut allocated = self.allocated.borrow_mut();
        let n = match allocated.get_mut(workspace) {
            Some(n) => {
                *n += 1;
                *n
            }
            None => {
                let n = self.tables.borrow_mut().next_item(workspace)?;
                allocated.insert(workspace.to_string(), n);
                n
            }
        };
        Ok(item_id(n))
    }

    /// Applies a decided plan; the next plan starts with no item numbers handed out.
    fn apply(&self, plan: &WsPlan) -> Result<Vec<u64>, StoreError> {
        self.allocated.borrow_mut().clear();
        apply(&mut self.tables.borrow_mut(), plan)
    }

    /// Stores the counters the applied plans advanced; the transaction must not commit
    /// without this.
    fn finish(self) -> Result<(), StoreError> {
        self.tables.into_inner().finish()
    }
}

/// Key of [`WS_ITEM_INDEX`]: (workspace, field, value, item number).
type IndexKey = (&'static str, &'static str, &'static str, u64);

/// The workspace tables of one write transaction, opened on first use and kept open for every
/// plan of the job, with the two counters every item write reads and bumps (the next change
/// sequence, the next item number) held here and stored once by [`WsTables::finish`]. Why: a
/// one-time import writes a hundred issues per transaction, and opening a table, or reading
/// and rewriting a counter, per row cost as much as the rows themselves.
struct WsTables<'t> {
    txn: &'t WriteTransaction,
    items: Lazy<'t, (&'static str, u64), &'static [u8]>,
    index: Lazy<'t, IndexKey, ()>,
    history: Lazy<'t, (&'static str, u64, u64), &'static [u8]>,
    changes: Lazy<'t, u64, &'static [u8]>,
    next_items: Lazy<'t, &'static str, u64>,
    meta: Lazy<'t, &'static str, u64>,
    kv: Lazy<'t, (&'static str, &'static str), &'static [u8]>,
    /// Sprints then releases, by [`Named::SLOT`].
    named: [Lazy<'t, (&'static str, &'static str), &'static [u8]>; 2],
    links: LinkTables<'t>,
    /// The next change sequence number once read, and whether it changed since.
    next_change: Option<(u64, bool)>,
    /// Per workspace, the next item number once read, and whether it changed since.
    next_item: HashMap<String, (u64, bool)>,
    /// Where values are serialized before they are stored, reused so that a batch does not
    /// grow a fresh buffer for each of its rows.
    buf: Vec<u8>,
}

impl<'t> WsTables<'t> {
    fn new(txn: &'t WriteTransaction) -> Self {
        WsTables {
            txn,
            items: Lazy::new(WS_ITEMS),
            index: Lazy::new(WS_ITEM_INDEX),
            history: Lazy::new(WS_HISTORY),
            changes: Lazy::new(WS_CHANGES),
            next_items: Lazy::new(WS_NEXT_ITEM),
            meta: Lazy::new(META),
            kv: Lazy::new(KV),
            named: [Lazy::new(Sprint::TABLE), Lazy::new(Release::TABLE)],
            links: LinkTables::new(txn),
            next_change: None,
            next_item: HashMap::new(),
            buf: Vec::with_capacity(4096),
        }
    }

    fn items(
        &mut self,
        ctx: &'static str,
    ) -> Result<&mut Table<'t, (&'static str, u64), &'static [u8]>, StoreError> {
        self.items.get(self.txn, ctx)
    }

    fn index(&mut self, ctx: &'static str) -> Result<&mut Table<'t, IndexKey, ()>, StoreError> {
        self.index.get(self.txn, ctx)
    }

    fn named<T: Named>(
        &mut self,
        ctx: &'static str,
    ) -> Result<&mut Table<'t, (&'static str, &'static str), &'static [u8]>, StoreError> {
        self.named[T::SLOT].get(self.txn, ctx)
    }

    /// The number the next created item of `workspace` gets, as stored or as advanced by
    /// this transaction.
    fn next_item(&mut self, workspace: &str) -> Result<u64, StoreError> {
        if let Some((n, _)) = self.next_item.get(workspace) {
            return Ok(*n);
        }
        let n = self
            .next_items
            .get(self.txn, CTX_READ)?
            .get(workspace)
            .map_err(|e| StoreError::db(CTX_READ, e))?
            .map(|g| g.value())
            .unwrap_or(1);
        self.next_item.insert(workspace.to_string(), (n, false));
        Ok(n)
    }

    /// Item numbers only grow: one written at or past the next number moves it.
    fn saw_item_number(&mut self, workspace: &str, n: u64) -> Result<(), StoreError> {
        self.next_item(workspace)?;
        if let Some(next) = self.next_item.get_mut(workspace) {
            if n >= next.0 {
                *next = (n + 1, true);
            }
        }
        Ok(())
    }

    fn next_change_seq(&mut self) -> Result<u64, StoreError> {
        let seq = match self.next_change {
            Some((seq, _)) => seq,
            None => self
                .meta
                .get(self.txn, CTX_WRITE)?
                .get(META_NEXT_CHANGE_SEQ)
                .map_err(|e| StoreError::db(CTX_WRITE, e))?
                .map(|g| g.value())
                .unwrap_or(1),
        };
        self.next_change = Some((seq + 1, true));
        Ok(seq)
    }

    /// Stores the counters advanced since the tables were opened.
    fn finish(mut self) -> Result<(), StoreError> {
        if let Some((seq, true)) = self.next_change {
            self.meta
                .get(self.txn, CTX_WRITE)?
                .insert(META_NEXT_CHANGE_SEQ, seq)
                .map_err(|e| StoreError::db(CTX_WRITE, e))?;
        }
        let next = std::mem::take(&mut self.next_item);
        for (ws, (n, changed)) in &next {
            if *changed {
                self.next_items
                    .get(self.txn, CTX_WRITE)?
                    .insert(ws.as_str(), *n)
                    .map_err(|e| StoreError::db(CTX_WRITE, e))?;
            }
        }
        Ok(())
    }

    fn append_change(
        &mut self,
        origin: &Origin,
        workspace: &str,
        target: ChangeTarget,
        version: u64,
        op: ChangeOp,
        fields: &[String],
    ) -> Result<u64, StoreError> {
        let seq = self.next_change_seq()?;
        let change = ChangeRow {
            seq,
            workspace,
            target: &target,
            version,
            op,
            origin,
            at: Utc::now(),
            fields,
        };
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, &change).map_err(|e| corrupt(CTX_WRITE, e))?;
        self.changes
            .get(self.txn, CTX_WRITE)?
            .insert(seq, self.buf.as_slice())
            .map_err(|e| StoreError::db(CTX_WRITE, e))?;
        Ok(seq)
    }

    fn append_history(
        &mut self,
        workspace: &str,
        n: u64,
        entry: &HistoryEntry,
    ) -> Result<(), StoreError> {
        let t = self.history.get(self.txn, CTX_WRITE)?;
        let last = t
            .range((workspace, n, 0)..=(workspace, n, u64::MAX))
            .map_err(|e| StoreError::db(CTX_WRITE, e))?
            .next_back()
            .transpose()
            .map_err(|e| StoreError::db(CTX_WRITE, e))?
            .map(|(k, _)| k.value().2);
        let seq = last.map_or(1, |s| s + 1);
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, entry).map_err(|e| corrupt(CTX_WRITE, e))?;
        t.insert((workspace, n, seq), self.buf.as_slice())
            .map_err(|e| StoreError::db(CTX_WRITE, e))?;
        Ok(())
    }

    /// Replaces the index entries of item `n` from `old` to `new` (either may be absent).
    fn reindex(
        &mut self,
        workspace: &str,
        n: u64,
        old: Option<&Item>,
        new: Option<&Item>,
    ) -> Result<(), StoreError> {
        let before = old.map(index_entries).unwrap_or_default();
        let after = new.map(index_entries).unwrap_or_default();
        let t = self.index(CTX_WRITE)?;
        for (field, value) in before.difference(&after) {
            t.remove((workspace, *field, *value, n))
                .map_err(|e| StoreError::db(CTX_WRITE, e))?;
        }
        for (field, value) in after.difference(&before) {
            t.insert((workspace, *field, *value, n), ())
                .map_err(|e| StoreError::db(CTX_WRITE, e))?;
        }
        Ok(())
    }

    /// Stores a sprint or a release and appends its change; returns the change's sequence
    /// number.
    fn put_named<T: Named>(
        &mut self,
        origin: &Origin,
        record: &T,
        op: ChangeOp,
        fields: &[String],
    ) -> Result<u64, StoreError> {
        let bytes = serde_json::to_vec(record).map_err(|e| corrupt(CTX_WRITE, e))?;
        self.named::<T>(CTX_WRITE)?
            .insert((record.workspace(), record.name()), bytes.as_slice())
            .map_err(|e| StoreError::db(CTX_WRITE, e))?;
        self.append_change(
            origin,
            record.workspace(),
            T::target(record.name().to_string()),
            record.version(),
            op,
            fields,
        )
    }

    /// Removes a sprint or a release and appends a `delete` change, when it existed; returns
    /// the change's sequence number.
    fn delete_named<T: Named>(
        &mut self,
        origin: &Origin,
        workspace: &str,
        name: &str,
    ) -> Result<Option<u64>, StoreError> {
        let old: Option<T> = {
            let t = self.named::<T>(CTX_WRITE)?;
            let raw = t
                .remove((workspace, name))
                .map_err(|e| StoreError::db(CTX_WRITE, e))?
                .map(|g| g.value().to_vec());
            raw.map(|b| serde_json::from_slice(&b).map_err(|e| corrupt(CTX_WRITE, e)))
                .transpose()?
        };
        old.map(|old| {
            self.append_change(
                origin,
                workspace,
                T::target(name.to_string()),
                old.version() + 1,
                ChangeOp::Delete,
                &[],
            )
        })
        .transpose()
    }
}

const CTX_READ: &str = "reading the workspace";
const CTX_WRITE: &str = "writing the workspace";

fn corrupt(context: &'static str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        context,
        message: e.to_string(),
    }
}

fn get_named<T, Tab>(t: &Tab, workspace: &str, name: &str) -> Result<Option<T>, StoreError>
where
    T: DeserializeOwned,
    Tab: ReadableTable<(&'static str, &'static str), &'static [u8]>,
{
    let found = t
        .get((workspace, name))
        .map_err(|e| StoreError::db(CTX_READ, e))?
        .map(|g| serde_json::from_slice(g.value()));
    found.transpose().map_err(|e| corrupt(CTX_READ, e))
}

fn get_item<T>(t: &T, workspace: &str, n: u64) -> Result<Option<Item>, StoreError>
where
    T: ReadableTable<(&'static str, u64), &'static [u8]>,
{
    let found = t
        .get((workspace, n))
        .map_err(|e| StoreError::db(CTX_READ, e))?
        .map(|g| serde_json::from_slice(g.value()));
    found.transpose().map_err(|e| corrupt(CTX_READ, e))
}

/// Item numbers in the index under (workspace, field, value), above `after`, at most `limit`.
fn index_range<T>(
    t: &T,
    workspace: &str,
    field: &str,
    value: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<u64>, StoreError>
where
    T: ReadableTable<IndexKey, ()>,
{
    let Some(from) = after.checked_add(1) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for row in t
        .range((workspace, field, value, from)..=(workspace, field, value, u64::MAX))
        .map_err(|e| StoreError::db(CTX_READ, e))?
    {
        if out.len() >= limit {
            break;
        }
        let (k, _) = row.map_err(|e| StoreError::db(CTX_READ, e))?;
        out.push(k.value().3);
    }
    Ok(out)
}

/// The index entries an item contributes: (field, value).
fn index_entries(item: &Item) -> BTreeSet<(&'static str, &str)> {
    let mut out = BTreeSet::new();
    out.insert(("type", item.item_type.as_str()));
    out.insert(("status", item.status.as_str()));
    if let Some(p) = &item.parent {
        out.insert(("parent", p.as_str()));
    }
    if let Some(s) = &item.sprint {
        out.insert(("sprint", s.as_str()));
    }
    for r in &item.releases {
        out.insert(("release", r.as_str()));
    }
    out
}

/// A change-feed entry as stored: [`Change`] with borrowed parts, so that appending one
/// copies nothing but its bytes. Same fields, same order, same names.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangeRow<'a> {
    seq: u64,
    workspace: &'a str,
    target: &'a ChangeTarget,
    version: u64,
    op: ChangeOp,
    origin: &'a Origin,
    at: DateTime<Utc>,
    fields: &'a [String],
}

fn bad_id(id: &str) -> StoreError {
    StoreError::Corrupt {
        context: CTX_WRITE,
        message: format!("{id:?} is not an item id"),
    }
}

fn apply(tables: &mut WsTables<'_>, plan: &WsPlan) -> Result<Vec<u64>, StoreError> {
    let origin = &plan.origin;
    let mut seqs = Vec::new();
    for op in &plan.ops {
        match op {
            WsOp::PutItem { item, op, fields } => {
                let n = item_number(&item.id).ok_or_else(|| bad_id(&item.id))?;
                let ws = item.workspace.as_str();
                let t = tables.items.get(tables.txn, CTX_WRITE)?;
                let old = get_item(t, ws, n)?;
                // The link is read from the links table; a copy here could only go stale.
                let unlinked;
                let stored: &Item = if item.jira.is_some() {
                    let mut copy = (**item).clone();
                    copy.jira = None;
                    unlinked = copy;
                    &unlinked
                } else {
                    item
                };
                tables.buf.clear();
                serde_json::to_writer(&mut tables.buf, stored)
                    .map_err(|e| corrupt(CTX_WRITE, e))?;
                t.insert((ws, n), tables.buf.as_slice())
                    .map_err(|e| StoreError::db(CTX_WRITE, e))?;
                tables.reindex(ws, n, old.as_ref(), Some(stored))?;
                tables.saw_item_number(ws, n)?;
                seqs.push(tables.append_change(
                    origin,
                    ws,
                    ChangeTarget::Item(item.id.clone()),
                    item.version,
                    *op,
                    fields,
                )?);
            }
            WsOp::DeleteItem {
                workspace,
                id,
                history,
            } => {
                let n = item_number(id).ok_or_else(|| bad_id(id))?;
                let old = {
                    let t = tables.items(CTX_WRITE)?;
                    let raw = t
                        .remove((workspace.as_str(), n))
                        .map_err(|e| StoreError::db(CTX_WRITE, e))?
                        .map(|g| g.value().to_vec());
                    raw.map(|b| {
                        serde_json::from_slice::<Item>(&b).map_err(|e| corrupt(CTX_WRITE, e))
                    })
                    .transpose()?
                };
                let Some(old) = old else { continue };
                tables.reindex(workspace, n, Some(&old), None)?;
                tables.append_history(workspace, n, history)?;
                seqs.push(tables.append_change(
                    origin,
                    workspace,
                    ChangeTarget::Item(id.clone()),
                    old.version + 1,
                    ChangeOp::Delete,
                    &[],
                )?);
            }
            WsOp::PutSprint { sprint, op, fields } => {
                seqs.push(tables.put_named(origin, sprint, *op, fields)?);
            }
            WsOp::DeleteSprint { workspace, name } => {
                seqs.extend(tables.delete_named::<Sprint>(origin, workspace, name)?);
            }
            WsOp::PutRelease {
                release,
                op,
                fields,
            } => {
                seqs.push(tables.put_named(origin, release, *op, fields)?);
            }
            WsOp::DeleteRelease { workspace, name } => {
                seqs.extend(tables.delete_named::<Release>(origin, workspace, name)?);
            }
            WsOp::AppendHistory {
                workspace,
                id,
                entry,
            } => {
                let n = item_number(id).ok_or_else(|| bad_id(id))?;
                tables.append_history(workspace, n, entry)?;
            }
            WsOp::PutLink(link) => tables.links.put(link)?,
            WsOp::PutKv {
                namespace,
                key,
                value,
            } => {
                tables
                    .kv
                    .get(tables.txn, CTX_WRITE)?
                    .insert((namespace.as_str(), key.as_str()), value.as_slice())
                    .map_err(|e| StoreError::db(CTX_WRITE, e))?;
            }
            WsOp::RemoveLink {
                integration,
                item_id,
            } => {
                tables.links.remove(integration, item_id)?;
            }
        }
    }
    Ok(seqs)
}

impl Store {
    /// Runs `decide` inside the next group commit and applies the plan it returns in the same
    /// transaction. `Ok(Err(e))` means `decide` refused and nothing was written; the outer error
    /// is a store failure. The returned sequence numbers are the change-feed entries written.
    ///
    /// `decide` runs on the writer thread, so it must be quick, and it may run more than once
    /// (see [`Store::write`]'s retry), so it must not consume what it captured.
    pub async fn workspace_write<T, E, F>(
        &self,
        mut decide: F,
    ) -> Result<Result<(T, Vec<u64>), E>, StoreError>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnMut(&WsReader<'_>) -> Result<(WsPlan, T), E> + Send + 'static,
    {
        self.write(move |txn| {
            let reader = WsReader::new(txn);
            match decide(&reader) {
                Err(e) => Ok(Err(e)),
                Ok((plan, out)) => {
                    let seqs = reader.apply(&plan)?;
                    reader.finish()?;
                    Ok(Ok((out, seqs)))
                }
            }
        })
        .await
    }

    /// Many decisions in one transaction (one durable commit), each decided and applied in
    /// turn, so a later entry sees what an earlier one wrote (item numbers, links). An entry
    /// whose `decide` refuses writes nothing and the others go on; a store failure of any
    /// entry's writes (a refused link, say) aborts the whole transaction, and the caller may
    /// then write the entries one by one. Why: a one-time import writes a hundred items with
    /// their links and baselines per batch, and one commit per batch instead of two per issue
    /// is most of its store cost.
    ///
    /// `decide` runs on the writer thread, possibly more than once (see
    /// [`Store::workspace_write`]).
    pub async fn workspace_write_each<T, E, F>(
        &self,
        entries: usize,
        mut decide: F,
    ) -> Result<Vec<Result<(T, Vec<u64>), E>>, StoreError>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnMut(usize, &WsReader<'_>) -> Result<(WsPlan, T), E> + Send + 'static,
    {
        self.write(move |txn| {
            let mut out = Vec::with_capacity(entries);
            let reader = WsReader::new(txn);
            for i in 0..entries {
                match decide(i, &reader) {
                    Err(e) => {
                        reader.allocated.borrow_mut().clear();
                        out.push(Err(e));
                    }
                    Ok((plan, t)) => {
                        let seqs = reader.apply(&plan)?;
                        out.push(Ok((t, seqs)));
                    }
                }
            }
            reader.finish()?;
            Ok(out)
        })
        .await
    }

    /// One item, without its Jira link (the workspace service adds it).
    pub fn ws_item(&self, workspace: &str, id: &str) -> Result<Option<Item>, StoreError> {
        let Some(n) = item_number(id) else {
            return Ok(None);
        };
        self.read_ws(|txn| {
            let t = txn
                .open_table(WS_ITEMS)
                .map_err(|e| StoreError::db(CTX_READ, e))?;
            get_item(&t, workspace, n)
        })
    }

    /// A page of items in id order and, when the page is full, the cursor of the next one.
    /// An indexed filter narrows the scan; the others are checked on each candidate.
    pub fn ws_items(
        &self,
        workspace: &str,
        query: &ItemQuery,
    ) -> Result<(Vec<Item>, Option<u64>), StoreError> {
        let limit = query.limit.max(1);
        let matches = |item: &Item| {
            query
                .item_type
                .as_ref()
                .is_none_or(|t| &item.item_type == t)
                && query.status.as_ref().is_none_or(|s| &item.status == s)
                && query
                    .parent
                    .as_ref()
                    .is_none_or(|p| item.parent.as_ref() == Some(p))
                && query
                    .sprint
                    .as_ref()
                    .is_none_or(|s| item.sprint.as_ref() == Some(s))
                && query
                    .release
                    .as_ref()
                    .is_none_or(|r| item.releases.contains(r))
        };
        let indexed = [
            ("parent", &query.parent),
            ("sprint", &query.sprint),
            ("release", &query.release),
            ("type", &query.item_type),
            ("status", &query.status),
        ]
        .into_iter()
        .find_map(|(f, v)| v.as_ref().map(|v| (f, v.clone())));
        let after = query.after.unwrap_or(0);
        self.read_ws(|txn| {
            let items = txn
                .open_table(WS_ITEMS)
                .map_err(|e| StoreError::db(CTX_READ, e))?;
            let mut out = Vec::new();
            match indexed {
                Some((field, value)) => {
                    let index = txn
                        .open_table(WS_ITEM_INDEX)
                        .map_err(|e| StoreError::db(CTX_READ, e))?;
                    let mut cursor = after;
                    // Candidates come in chunks so that a page never loads the whole index.
                    'chunks: loop {
                        let chunk = index_range(&index, workspace, field, &value, cursor, 256)?;
                        if chunk.is_empty() {
                            break;
                        }
                        for n in chunk {
                            cursor = n;
                            if let Some(item) = get_item(&items, workspace, n)? {
                                if matches(&item) {
                                    out.push(item);
                                    if out.len() >= limit {
                                        break 'chunks;
                                    }
                                }
                            }
                        }
                    }
                }
                None => {
                    let Some(from) = after.checked_add(1) else {
                        return Ok((out, None));
                    };
                    for row in items
                        .range((workspace, from)..=(workspace, u64::MAX))
                        .map_err(|e| StoreError::db(CTX_READ, e))?
                    {
                        let (_, v) = row.map_err(|e| StoreError::db(CTX_READ, e))?;
                        let item: Item =
                            serde_json::from_slice(v.value()).map_err(|e| corrupt(CTX_READ, e))?;
                        if matches(&item) {
                            out.push(item);
                            if out.len() >= limit {
                                break;
                            }
                        }
                    }
                }
            }
            let next = if out.len() >= limit {
                out.last().and_then(|i| item_number(&i.id))
            } else {
                None
            };
            Ok((out, next))
        })
    }

    pub fn ws_sprint(&self, workspace: &str, name: &str) -> Result<Option<Sprint>, StoreError> {
        self.ws_named(workspace, name)
    }

    /// Every sprint of a workspace, by name.
    pub fn ws_sprints(&self, workspace: &str) -> Result<Vec<Sprint>, StoreError> {
        self.ws_named_list(workspace)
    }

    pub fn ws_release(&self, workspace: &str, name: &str) -> Result<Option<Release>, StoreError> {
        self.ws_named(workspace, name)
    }

    /// Every release of a workspace, by name.
    pub fn ws_releases(&self, workspace: &str) -> Result<Vec<Release>, StoreError> {
        self.ws_named_list(workspace)
    }

    /// A sprint or a release, by name.
    pub(crate) fn ws_named<T: Named>(
        &self,
        workspace: &str,
        name: &str,
    ) -> Result<Option<T>, StoreError> {
        self.read_ws(|txn| {
            let t = txn
                .open_table(T::TABLE)
                .map_err(|e| StoreError::db(CTX_READ, e))?;
            get_named(&t, workspace, name)
        })
    }

    /// Every sprint or every release of a workspace, by name.
    pub(crate) fn ws_named_list<T: Named>(&self, workspace: &str) -> Result<Vec<T>, StoreError> {
        self.read_ws(|txn| {
            let t = txn
                .open_table(T::TABLE)
                .map_err(|e| StoreError::db(CTX_READ, e))?;
            list_named(&t, workspace)
        })
    }

    /// An item's history, oldest first; kept after the item is deleted.
    pub fn ws_history(&self, workspace: &str, id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let Some(n) = item_number(id) else {
            return Ok(Vec::new());
        };
        self.read_ws(|txn| {
            let t = txn
                .open_table(WS_HISTORY)
                .map_err(|e| StoreError::db(CTX_READ, e))?;
            let mut out = Vec::new();
            for row in t
                .range((workspace, n, 0)..=(workspace, n, u64::MAX))
                .map_err(|e| StoreError::db(CTX_READ, e))?
            {
                let (_, v) = row.map_err(|e| StoreError::db(CTX_READ, e))?;
                out.push(serde_json::from_slice(v.value()).map_err(|e| corrupt(CTX_READ, e))?);
            }
            Ok(out)
        })
    }

    /// Change-feed entries with a sequence number greater than `after`, oldest first, at most
    /// `limit`. A consumer keeps the last `seq` it handled as its cursor.
    pub fn ws_changes_since(&self, after: u64, limit: usize) -> Result<Vec<Change>, StoreError> {
        let Some(from) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        self.read_ws(|txn| {
            let t = txn
                .open_table(WS_CHANGES)
                .map_err(|e| StoreError::db(CTX_READ, e))?;
            let mut out = Vec::new();
            for row in t
                .range(from..)
                .map_err(|e| StoreError::db(CTX_READ, e))?
                .take(limit)
            {
                let (_, v) = row.map_err(|e| StoreError::db(CTX_READ, e))?;
                out.push(serde_json::from_slice(v.value()).map_err(|e| corrupt(CTX_READ, e))?);
            }
            Ok(out)
        })
    }

    /// The sequence number of the newest change-feed entry (0 when there is none yet).
    pub fn ws_last_change_seq(&self) -> Result<u64, StoreError> {
        self.read_ws(|txn| {
            let meta = txn
                .open_table(META)
                .map_err(|e| StoreError::db(CTX_READ, e))?;
            let next = meta
                .get(META_NEXT_CHANGE_SEQ)
                .map_err(|e| StoreError::db(CTX_READ, e))?
                .map(|g| g.value())
                .unwrap_or(1);
            Ok(next.saturating_sub(1))
        })
    }

    /// Drops change-feed entries up to and including `through` once every consumer is past
    /// them; sequence numbers are never reused.
    pub async fn ws_trim_changes(&self, through: u64) -> Result<u64, StoreError> {
        self.write(move |txn| {
            let mut t = txn
                .open_table(WS_CHANGES)
                .map_err(|e| StoreError::db(CTX_WRITE, e))?;
            let mut n = 0;
            t.retain_in(..=through, |_, _| {
                n += 1;
                false
            })
            .map_err(|e| StoreError::db(CTX_WRITE, e))?;
            Ok(n)
        })
        .await
    }

    fn read_ws<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut out = None;
        self.read(CTX_READ, |txn| {
            out = Some(f(txn));
            Ok(())
        })?;
        out.unwrap_or(Err(StoreError::Closed))
    }
}

fn list_named<T, Tab>(t: &Tab, workspace: &str) -> Result<Vec<T>, StoreError>
where
    T: DeserializeOwned,
    Tab: ReadableTable<(&'static str, &'static str), &'static [u8]>,
{
    let mut out = Vec::new();
    for row in t
        .range((workspace, "")..)
        .map_err(|e| StoreError::db(CTX_READ, e))?
    {
        let (k, v) = row.map_err(|e| StoreError::db(CTX_READ, e))?;
        if k.value().0 != workspace {
            break;
        }
        out.push(serde_json::from_slice(v.value()).map_err(|e| corrupt(CTX_READ, e))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_change_row_reads_back_as_the_change_it_stands_for() {
        let change = Change {
            seq: 7,
            workspace: "w \"1\"".into(),
            target: ChangeTarget::Item("ITEM-3".into()),
            version: 2,
            op: ChangeOp::Update,
            origin: Origin::Sync("demo".into()),
            at: Utc::now(),
            fields: vec!["title".into(), "fields.Risk".into()],
        };
        let row = ChangeRow {
            seq: change.seq,
            workspace: &change.workspace,
            target: &change.target,
            version: change.version,
            op: change.op,
            origin: &change.origin,
            at: change.at,
            fields: &change.fields,
        };
        let bytes = serde_json::to_vec(&row).expect("row");
        assert_eq!(bytes, serde_json::to_vec(&change).expect("change"));
        let back: Change = serde_json::from_slice(&bytes).expect("decodes");
        assert_eq!(back, change);
    }
}
