//! Table definitions and the schema migrations of the state file.
//!
//! # Adding a table
//! 1. Declare its `TableDefinition` here, next to the others, with a doc comment saying what the
//!    key and value mean and who writes them.
//! 2. Append a migration step to [`MIGRATIONS`] that opens the new table (opening creates it) and
//!    converts whatever older data it replaces. [`SCHEMA_VERSION`] is derived from the list, so a
//!    file written by the new build is refused by older builds instead of being misread.
//! 3. Add typed accessors in `store/mod.rs`; nothing outside `store` sees these definitions.
//!
//! A step runs inside the same write transaction as every other pending step and the version
//! bump, so a crash mid-migration leaves the file at its old version, never in between.
//!
//! Architecture invariant: a released step is never edited; changes go into a new step.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::StoreError;

/// `meta`: small named counters of the store itself (`schema_version`, `next_webhook_seq`).
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const META_SCHEMA_VERSION: &str = "schema_version";
/// The next webhook sequence number. Kept apart from the events table so that trimming
/// consumed events never makes a sequence number come back.
pub(crate) const META_NEXT_WEBHOOK_SEQ: &str = "next_webhook_seq";

/// Value of [`WEBHOOK_EVENTS`]: (received at, Unix ms; workspace id; connection name;
/// `X-Atlassian-Webhook-Identifier` or ""; raw request body).
pub(crate) type WebhookEventValue = (i64, &'static str, &'static str, &'static str, &'static [u8]);

/// `webhook_events`: every accepted webhook in arrival order, keyed by a monotonic sequence.
/// The raw body is kept, not a parsed form, so that a later sync engine can re-read it with
/// whatever understanding it has then.
pub(crate) const WEBHOOK_EVENTS: TableDefinition<u64, WebhookEventValue> =
    TableDefinition::new("webhook_events");

/// `webhook_dedup`: (connection name + "\n" + workspace id, webhook identifier) → (sequence of the stored event, received
/// at, Unix ms). Jira repeats the identifier when it retries a delivery, so its presence means
/// "already stored"; the time lets entries older than any retry be pruned.
pub(crate) const WEBHOOK_DEDUP: TableDefinition<(&str, &str), (u64, i64)> =
    TableDefinition::new("webhook_dedup");

/// `webhook_state`: connection name → (events received, last event at, Unix ms). Drives the
/// `waiting` / `connected` webhook state shown in status.
pub(crate) const WEBHOOK_STATE: TableDefinition<&str, (u64, i64)> =
    TableDefinition::new("webhook_state");

/// `links`: (integration, workspace item id) → (connection, Jira issue id, Jira issue key).
/// The connection is stored so that a disconnect can drop every link of its integrations.
pub(crate) const LINKS: TableDefinition<(&str, &str), (&str, &str, &str)> =
    TableDefinition::new("links");

/// `links_by_jira`: (integration, Jira issue id) → workspace item id. The reverse index of
/// [`LINKS`], always written in the same transaction.
pub(crate) const LINKS_BY_JIRA: TableDefinition<(&str, &str), &str> =
    TableDefinition::new("links_by_jira");

/// `linked_items`: (workspace, item id) → the integration the item is linked through. An item
/// has at most one link across integrations (`links` keeps the invariant).
pub(crate) const LINKED_ITEMS: TableDefinition<(&str, &str), &str> =
    TableDefinition::new("linked_items");

/// `linked_issues`: (connection, Jira issue id) → (integration, workspace, item id) of the one
/// item that holds the issue, across integrations.
pub(crate) const LINKED_ISSUES: TableDefinition<(&str, &str), (&str, &str, &str)> =
    TableDefinition::new("linked_issues");

/// `kv`: (namespace, key) → opaque bytes, for small state that does not deserve a table yet
/// (resource status, watermarks).
pub(crate) const KV: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("kv");

/// The next change-feed sequence number, kept apart from the feed so that trimming consumed
/// entries never makes a number come back.
pub(crate) const META_NEXT_CHANGE_SEQ: &str = "next_change_seq";

/// `ws_items`: (workspace name, item number) → the item as JSON (`workspace::Item`, without its
/// Jira link, which is read from [`LINKS`]). Numbered keys keep `ITEM-9` before `ITEM-10` and make
/// cursors cheap. Written only by `store::workspace`, always with a [`WS_CHANGES`] entry.
pub(crate) const WS_ITEMS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("ws_items");

/// `ws_next_item`: workspace name → the number the next created item gets. Only grows, so an
/// id is never reused, not even after its item was deleted.
pub(crate) const WS_NEXT_ITEM: TableDefinition<&str, u64> = TableDefinition::new("ws_next_item");

/// `ws_item_index`: (workspace, field, value, item number) → (). Secondary index of items by
/// `type`, `status`, `parent`, `sprint` and `release`, maintained with every item write: it
/// answers filtered listings, "has children" and "is this sprint still used".
pub(crate) const WS_ITEM_INDEX: TableDefinition<(&str, &str, &str, u64), ()> =
    TableDefinition::new("ws_item_index");

/// `ws_sprints`: (workspace, sprint name) → `workspace::Sprint` as JSON.
pub(crate) const WS_SPRINTS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("ws_sprints");

/// `ws_releases`: (workspace, release name) → `workspace::Release` as JSON.
pub(crate) const WS_RELEASES: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("ws_releases");

/// `ws_history`: (workspace, item number, sequence within the item) → `workspace::HistoryEntry`
/// as JSON. Append-only; it outlives the item (a deletion is recorded here).
pub(crate) const WS_HISTORY: TableDefinition<(&str, u64, u64), &[u8]> =
    TableDefinition::new("ws_history");

/// `ws_changes`: sequence → `workspace::Change` as JSON. The durable change feed the sync engine
/// consumes from a cursor; JSON so that entries can gain fields without a migration.
pub(crate) const WS_CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("ws_changes");

/// One migration step: brings a file from version `index` to `index + 1`.
type Migration = fn(&WriteTransaction) -> Result<(), StoreError>;

/// Every migration, in order. Version 0 is a file without schema tables: a brand new file or
/// one written before the schema was versioned.
pub(crate) const MIGRATIONS: &[Migration] = &[v0_to_v1, v1_to_v2, v2_to_v3];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: u64 = MIGRATIONS.len() as u64;

fn v0_to_v1(txn: &WriteTransaction) -> Result<(), StoreError> {
    let ctx = "creating the version 1 tables";
    txn.open_table(WEBHOOK_EVENTS)
        .map_err(|e| StoreError::db(ctx, e))?;
    txn.open_table(WEBHOOK_DEDUP)
        .map_err(|e| StoreError::db(ctx, e))?;
    txn.open_table(WEBHOOK_STATE)
        .map_err(|e| StoreError::db(ctx, e))?;
    txn.open_table(LINKS).map_err(|e| StoreError::db(ctx, e))?;
    txn.open_table(LINKS_BY_JIRA)
        .map_err(|e| StoreError::db(ctx, e))?;
    txn.open_table(KV).map_err(|e| StoreError::db(ctx, e))?;
    let mut meta = txn.open_table(META).map_err(|e| StoreError::db(ctx, e))?;
    if meta
        .get(META_NEXT_WEBHOOK_SEQ)
        .map_err(|e| StoreError::db(ctx, e))?
        .is_none()
    {
        meta.insert(META_NEXT_WEBHOOK_SEQ, 1)
            .map_err(|e| StoreError::db(ctx, e))?;
    }
    Ok(())
}

/// Version 2: the embedded workspace (items, their index, sprints, releases, history and the
/// change feed).
fn v1_to_v2(txn: &WriteTransaction) -> Result<(), StoreError> {
    let ctx = "creating the version 2 workspace tables";
    txn.open_table(WS_ITEMS)
        .map_err(|e| StoreError::db(ctx, e))?;
    txn.open_table(WS_NEXT_ITEM)
        .map_err(|e| StoreError::db(ctx, e))?;
    txn.open_table(WS_ITEM_INDEX)
        .map_err(|e| StoreError::db(ctx, e))?;
    txn.open_table(WS_SPRINTS)
        .map_err(|e| StoreError::db(ctx, e))?;
    txn.open_table(WS_RELEASES)
        .map_err(|e| StoreError::db(ctx, e))?;
    txn.open_table(WS_HISTORY)
        .map_err(|e| StoreError::db(ctx, e))?;
    txn.open_table(WS_CHANGES)
        .map_err(|e| StoreError::db(ctx, e))?;
    let mut meta = txn.open_table(META).map_err(|e| StoreError::db(ctx, e))?;
    if meta
        .get(META_NEXT_CHANGE_SEQ)
        .map_err(|e| StoreError::db(ctx, e))?
        .is_none()
    {
        meta.insert(META_NEXT_CHANGE_SEQ, 1)
            .map_err(|e| StoreError::db(ctx, e))?;
    }
    Ok(())
}

/// Version 3: the link indexes behind the one-item-one-issue invariants, built from the links
/// already there (a file that already breaks them keeps every link; see `links`).
fn v2_to_v3(txn: &WriteTransaction) -> Result<(), StoreError> {
    let ctx = "creating the version 3 link indexes";
    txn.open_table(LINKED_ITEMS)
        .map_err(|e| StoreError::db(ctx, e))?;
    txn.open_table(LINKED_ISSUES)
        .map_err(|e| StoreError::db(ctx, e))?;
    super::links::build_indexes(txn)
}

/// Reads the file's schema version (0 when it has none) and runs every pending step in one
/// transaction. Refuses a file written by a newer build rather than guess at its meaning.
pub(crate) fn migrate(
    db: &redb::Database,
    path: &std::path::Path,
) -> Result<MigrationReport, StoreError> {
    let ctx = "migrating the state file";
    let txn = db.begin_write().map_err(|e| StoreError::db(ctx, e))?;
    let found = {
        let meta = txn.open_table(META).map_err(|e| StoreError::db(ctx, e))?;
        let v = meta
            .get(META_SCHEMA_VERSION)
            .map_err(|e| StoreError::db(ctx, e))?
            .map(|g| g.value())
            .unwrap_or(0);
        v
    };
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (from, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        step(&txn).map_err(|e| StoreError::Migration {
            from: from as u64,
            to: from as u64 + 1,
            message: e.to_string(),
        })?;
    }
    {
        let mut meta = txn.open_table(META).map_err(|e| StoreError::db(ctx, e))?;
        meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION)
            .map_err(|e| StoreError::db(ctx, e))?;
    }
    txn.commit().map_err(|e| StoreError::db(ctx, e))?;
    Ok(MigrationReport {
        from: found,
        to: SCHEMA_VERSION,
    })
}

/// What [`migrate`] did, for the startup log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    pub from: u64,
    pub to: u64,
}
