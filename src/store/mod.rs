//! The redb store: the only code that touches the state file.
//!
//! Responsibilities: owning `STATE_DIR/tandem.redb` (exclusively: a second process is refused),
//! bringing its schema up to date at open ([`schema`]), and offering a small typed API over its
//! tables. Every write goes through one writer thread that commits concurrent writes together
//! ([`writer`]); an `await`ed write has been durably committed when it returns. Reads use their
//! own read transactions and never wait for the writer.
//!
//! Architecture invariant: no other module names a redb type; tables are private to this module.

mod links;
mod schema;
mod workspace;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use chrono::{DateTime, TimeZone, Utc};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

pub(crate) use links::{remove_links_where, Lazy, LinkTables};
pub use links::{Holder, Link, LinkAndHolder, LinkConflict};
pub use schema::MigrationReport;
pub(crate) use workspace::Named;
pub use workspace::{ItemQuery, WsOp, WsPlan, WsReader};
pub use writer::{StoreStats, BATCH_BUCKETS};

use schema::*;
use writer::{FnJob, Msg, WriterStats};

/// File name of the state file inside the state directory.
pub const STATE_FILE: &str = "tandem.redb";

/// The schema version this build writes; older files are migrated, newer ones refused.
pub const SCHEMA_VERSION: u64 = schema::SCHEMA_VERSION;

/// How many writes may wait for the writer before callers are slowed down (backpressure).
const CHANNEL_CAPACITY: usize = 4096;

/// Errors of the store. Cloneable because one failed commit answers every caller in its batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("state directory {} is in use by another tandem process", dir.display())]
    InUse { dir: PathBuf },
    #[error("{context} {}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error(
        "state file {} has schema version {found}, newer than this tandem supports ({supported}); \
         run a newer tandem or restore a backup",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    #[error("migrating the state file from schema version {from} to {to} failed: {message}")]
    Migration { from: u64, to: u64, message: String },
    /// The state file exists or can be created but not opened (read-only, full or damaged disk).
    #[error("cannot open the state file {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: Arc<redb::Error>,
    },
    #[error("state file error while {context}")]
    Database {
        context: &'static str,
        #[source]
        source: Arc<redb::Error>,
    },
    #[error("the store is closed")]
    Closed,
    /// An earlier write failed with an I/O error (disk full, file too large, device gone):
    /// redb then refuses every write until the file is opened again, which the writer does
    /// when writes keep coming. Names that first cause, since the error redb gives for later
    /// writes ("previous I/O error") does not.
    #[error(
        "the state file stopped taking writes after an I/O error ({first}); free the space or \
         fix the device: tandem reopens the file and takes writes again"
    )]
    Poisoned { first: String },
    /// A link that would give an item two issues, or an issue two items (see `links`).
    #[error("link refused: {0}")]
    LinkRefused(LinkConflict),
    /// A stored value no longer decodes: a bug or a damaged file, never bad input.
    #[error("state file holds an unreadable value while {context}: {message}")]
    Corrupt {
        context: &'static str,
        message: String,
    },
}

/// Opens (creating if needed) the redb file, at start and when the writer reopens it.
fn open_database(dir: &Path, path: &Path) -> Result<Database, StoreError> {
    redb::Builder::new()
        // Most reads are recent events and links; the OS page cache does the rest.
        .set_cache_size(16 * 1024 * 1024)
        .create(path)
        .map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                dir: dir.to_path_buf(),
            },
            other => StoreError::Open {
                path: path.to_path_buf(),
                source: Arc::new(other.into()),
            },
        })
}

impl StoreError {
    /// The error with its causes (`committing: I/O error: File too large (os error 27)`) when
    /// it is an I/O failure of the state file, the kind that stops later writes.
    pub(crate) fn io_failure(&self) -> Option<String> {
        match self {
            StoreError::Database { source, .. } if matches!(**source, redb::Error::Io(_)) => {
                Some(crate::error_chain(self))
            }
            _ => None,
        }
    }

    pub(crate) fn db(context: &'static str, e: impl Into<redb::Error>) -> Self {
        StoreError::Database {
            context,
            source: Arc::new(e.into()),
        }
    }
}

/// A webhook as received, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhookEvent {
    pub received_at: DateTime<Utc>,
    pub workspace_id: String,
    /// Name of the Connection resource the event was authenticated for.
    pub connection: String,
    /// `X-Atlassian-Webhook-Identifier`; `None` when Jira did not send one (no deduplication).
    pub identifier: Option<String>,
    /// The raw request body, exactly as received.
    pub body: Vec<u8>,
}

/// A stored webhook with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub seq: u64,
    pub event: NewWebhookEvent,
}

/// What [`Store::append_webhook`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Newly stored under this sequence number.
    Stored { seq: u64 },
    /// The identifier was seen before; the earlier event has this sequence number.
    Duplicate { seq: u64 },
}

/// Per connection webhook state: the guide's "lit webhook icon".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookState {
    pub connection: String,
    pub count: u64,
    pub last_event_at: DateTime<Utc>,
}

/// Handle to the open store. Cheap to clone; every clone talks to the same writer.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    path: PathBuf,
    /// `None` once closed (or while the writer reopens the file after an I/O failure). Readers
    /// clone the `Arc` out, so a close waits only for reads that are already running.
    db: Arc<RwLock<Option<Arc<Database>>>>,
    tx: mpsc::Sender<Msg>,
    stats: Arc<WriterStats>,
    writer: std::sync::Mutex<Option<JoinHandle<()>>>,
    migration: MigrationReport,
    /// Links that broke an invariant when the file was opened (see `links`), for status.
    violations_at_open: Vec<String>,
    /// Sequence number of the newest stored webhook, so the sync engine wakes on arrival
    /// instead of polling.
    last_webhook: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the state file in `state_dir`, migrates it and starts the
    /// writer. Fails with [`StoreError::InUse`] when another process has it open.
    ///
    /// Blocking: call it before serving, or from `spawn_blocking`.
    pub fn open(state_dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        let dir = state_dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Io {
            context: "cannot create the state directory",
            path: dir.clone(),
            source: Arc::new(e),
        })?;
        let path = dir.join(STATE_FILE);
        let db = open_database(&dir, &path)?;
        let migration = schema::migrate(&db, &path)?;
        let slot = Arc::new(RwLock::new(Some(Arc::new(db))));
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let stats = Arc::new(WriterStats::default());
        let writer = {
            let file = writer::File {
                slot: slot.clone(),
                reopen: {
                    let (dir, path) = (dir.clone(), path.clone());
                    Box::new(move || open_database(&dir, &path))
                },
            };
            let stats = stats.clone();
            std::thread::Builder::new()
                .name("tandem-store-writer".into())
                .spawn(move || writer::run(file, rx, stats))
                .map_err(|e| StoreError::Io {
                    context: "cannot start the store writer thread for",
                    path: path.clone(),
                    source: Arc::new(e),
                })?
        };
        let mut store = Store {
            inner: Arc::new(Inner {
                dir,
                path,
                db: slot,
                tx,
                stats,
                writer: std::sync::Mutex::new(Some(writer)),
                migration,
                violations_at_open: Vec::new(),
                last_webhook: tokio::sync::watch::channel(0).0,
            }),
        };
        let violations = store.link_violations()?;
        if !violations.is_empty() {
            if let Some(inner) = Arc::get_mut(&mut store.inner) {
                inner.violations_at_open = violations;
            }
        }
        Ok(store)
    }

    /// Links of the file that broke an invariant when it was opened (a file written before
    /// they were enforced): reported in status and at start, never repaired by deleting.
    pub fn link_violations_at_open(&self) -> &[String] {
        &self.inner.violations_at_open
    }

    /// The state directory this store owns.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Which schema migration ran at open (from == to when none was needed).
    pub fn migration(&self) -> MigrationReport {
        self.inner.migration
    }

    /// Writer counters, for metrics.
    pub fn stats(&self) -> StoreStats {
        self.inner.stats.snapshot()
    }

    /// Commits everything already queued, stops the writer and closes the file cleanly.
    /// Later writes and reads fail with [`StoreError::Closed`]. Idempotent.
    pub async fn close(&self) -> Result<(), StoreError> {
        let (reply, done) = oneshot::channel();
        if self.inner.tx.send(Msg::Close(reply)).await.is_ok() {
            let _ = done.await;
        }
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.close_blocking())
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` inside the next group commit and returns its result once that commit is
    /// durable. `f` may run more than once (when another write of the same batch fails and the
    /// batch is retried without it), so it must not consume what it captured.
    ///
    /// If `f` fails, its writes are rolled back and only its caller sees the error.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = FnJob {
            f,
            out: None,
            reply,
        };
        self.inner
            .tx
            .send(Msg::Job(Box::new(job)))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    fn read<T>(
        &self,
        context: &'static str,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, StoreError> {
        let db = self
            .inner
            .db
            .read()
            .map_err(|_| StoreError::Closed)?
            .clone()
            .ok_or(StoreError::Closed)?;
        let txn = db.begin_read().map_err(|e| StoreError::db(context, e))?;
        f(&txn).map_err(|e| StoreError::db(context, e))
    }

    /// Stores a webhook durably, unless its identifier was already stored for this connection and
    /// workspace.
    /// Also counts it in the connection's webhook state.
    pub async fn append_webhook(
        &self,
        event: NewWebhookEvent,
    ) -> Result<AppendOutcome, StoreError> {
        let event = Arc::new(event);
        let outcome = self
            .write(move |txn| append_webhook_in(txn, &event))
            .await?;
        if let AppendOutcome::Stored { seq } = outcome {
            self.inner.last_webhook.send_if_modified(|v| {
                let newer = seq > *v;
                if newer {
                    *v = seq;
                }
                newer
            });
        }
        Ok(outcome)
    }

    /// Changes whenever a webhook is newly stored (the value is its sequence number).
    pub fn subscribe_webhooks(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.last_webhook.subscribe()
    }

    /// Webhooks with a sequence number of at least `from_seq`, oldest first, at most `limit`.
    pub fn webhook_events(
        &self,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<WebhookEvent>, StoreError> {
        self.read("reading webhook events", |txn| {
            let table = txn.open_table(WEBHOOK_EVENTS)?;
            let mut out = Vec::new();
            for row in table.range(from_seq..)?.take(limit) {
                let (k, v) = row?;
                let (at, ws, conn, ident, body) = v.value();
                out.push(WebhookEvent {
                    seq: k.value(),
                    event: NewWebhookEvent {
                        received_at: millis_to_time(at),
                        workspace_id: ws.to_string(),
                        connection: conn.to_string(),
                        identifier: (!ident.is_empty()).then(|| ident.to_string()),
                        body: body.to_vec(),
                    },
                });
            }
            Ok(out)
        })
    }

    /// Number of stored webhook events with a sequence number of at least `from_seq` (the
    /// sync engine's backlog).
    pub fn count_webhook_events_from(&self, from_seq: u64) -> Result<u64, StoreError> {
        self.read("counting webhook events", |txn| {
            let table = txn.open_table(WEBHOOK_EVENTS)?;
            let mut n = 0u64;
            for row in table.range(from_seq..)? {
                row?;
                n += 1;
            }
            Ok(n)
        })
    }

    /// Number of stored webhook events.
    pub fn webhook_event_count(&self) -> Result<u64, StoreError> {
        self.read("counting webhook events", |txn| {
            Ok(txn.open_table(WEBHOOK_EVENTS)?.len()?)
        })
    }

    /// Drops events up to and including `through_seq` once they are consumed. Their dedup
    /// entries stay, so a late retry of a consumed event is still recognised.
    pub async fn trim_webhook_events(&self, through_seq: u64) -> Result<u64, StoreError> {
        self.write(move |txn| {
            let ctx = "trimming webhook events";
            let mut t = txn
                .open_table(WEBHOOK_EVENTS)
                .map_err(|e| StoreError::db(ctx, e))?;
            let mut n = 0;
            t.retain_in(..=through_seq, |_, _| {
                n += 1;
                false
            })
            .map_err(|e| StoreError::db(ctx, e))?;
            Ok(n)
        })
        .await
    }

    /// Forgets delivery identifiers received before `before`, so the dedup index does not grow
    /// forever. Jira stops retrying a delivery within hours; pruning days later is safe.
    pub async fn prune_webhook_dedup(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let cutoff = before.timestamp_millis();
        self.write(move |txn| {
            let ctx = "pruning webhook identifiers";
            let mut t = txn
                .open_table(WEBHOOK_DEDUP)
                .map_err(|e| StoreError::db(ctx, e))?;
            let mut n = 0;
            t.retain(|_, (_, at)| {
                let keep = at >= cutoff;
                if !keep {
                    n += 1;
                }
                keep
            })
            .map_err(|e| StoreError::db(ctx, e))?;
            Ok(n)
        })
        .await
    }

    /// Webhook state of one connection; `None` while it is still `waiting` for its first event.
    pub fn webhook_state(&self, connection: &str) -> Result<Option<WebhookState>, StoreError> {
        self.read("reading webhook state", |txn| {
            let t = txn.open_table(WEBHOOK_STATE)?;
            Ok(t.get(connection)?.map(|g| {
                let (count, last) = g.value();
                WebhookState {
                    connection: connection.to_string(),
                    count,
                    last_event_at: millis_to_time(last),
                }
            }))
        })
    }

    /// Webhook state of every connection that received at least one event.
    pub fn webhook_states(&self) -> Result<Vec<WebhookState>, StoreError> {
        self.read("reading webhook state", |txn| {
            let t = txn.open_table(WEBHOOK_STATE)?;
            let mut out = Vec::new();
            for row in t.iter()? {
                let (k, v) = row?;
                let (count, last) = v.value();
                out.push(WebhookState {
                    connection: k.value().to_string(),
                    count,
                    last_event_at: millis_to_time(last),
                });
            }
            Ok(out)
        })
    }

    /// Forgets a connection's webhook state (on disconnect, so a reconnect starts `waiting`).
    pub async fn reset_webhook_state(&self, connection: &str) -> Result<bool, StoreError> {
        let connection = connection.to_string();
        self.write(move |txn| {
            let ctx = "resetting webhook state";
            let mut t = txn
                .open_table(WEBHOOK_STATE)
                .map_err(|e| StoreError::db(ctx, e))?;
            let removed = t
                .remove(connection.as_str())
                .map_err(|e| StoreError::db(ctx, e))?
                .is_some();
            Ok(removed)
        })
        .await
    }

    /// Number of links per integration, read from the state file in `state_dir` without a
    /// `Store` (no writer, no migration, nothing created): for `tandem plan --state` with no
    /// daemon. `Ok(None)` when there is no state file; [`StoreError::InUse`] while a daemon
    /// holds it (ask the daemon instead).
    pub fn link_counts_offline(
        state_dir: &Path,
    ) -> Result<Option<std::collections::BTreeMap<String, u64>>, StoreError> {
        let path = state_dir.join(STATE_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let db = Database::open(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                dir: state_dir.to_path_buf(),
            },
            other => StoreError::Open {
                path: path.clone(),
                source: Arc::new(other.into()),
            },
        })?;
        let ctx = "counting links";
        let txn = db.begin_read().map_err(|e| StoreError::db(ctx, e))?;
        let mut counts = std::collections::BTreeMap::new();
        let table = match txn.open_table(LINKS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Some(counts)),
            Err(e) => return Err(StoreError::db(ctx, e)),
        };
        for row in table.iter().map_err(|e| StoreError::db(ctx, e))? {
            let (k, _) = row.map_err(|e| StoreError::db(ctx, e))?;
            *counts.entry(k.value().0.to_owned()).or_insert(0) += 1;
        }
        Ok(Some(counts))
    }

    /// Number of links of one integration.
    pub fn count_links(&self, integration: &str) -> Result<u64, StoreError> {
        self.read("counting links", |txn| {
            let t = txn.open_table(LINKS)?;
            let mut n = 0;
            for row in t.range((integration, "")..)? {
                let (k, _) = row?;
                if k.value().0 != integration {
                    break;
                }
                n += 1;
            }
            Ok(n)
        })
    }

    /// Number of links of every integration of one connection (what a disconnect would drop).
    pub fn count_links_of_connection(&self, connection: &str) -> Result<u64, StoreError> {
        self.read("counting links", |txn| {
            let t = txn.open_table(LINKS)?;
            let mut n = 0;
            for row in t.iter()? {
                let (_, v) = row?;
                if v.value().0 == connection {
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// Removes every link of an integration; returns how many were removed.
    pub async fn remove_links_of_integration(&self, integration: &str) -> Result<u64, StoreError> {
        let integration = integration.to_string();
        self.write(move |txn| remove_links_where(txn, |integ, _conn| integ == integration.as_str()))
            .await
    }

    /// Removes every link of every integration of a connection (disconnect); returns how many.
    pub async fn remove_links_of_connection(&self, connection: &str) -> Result<u64, StoreError> {
        let connection = connection.to_string();
        self.write(move |txn| remove_links_where(txn, |_integ, conn| conn == connection.as_str()))
            .await
    }

    /// Stores a small value under (namespace, key).
    pub async fn put_kv(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
    ) -> Result<(), StoreError> {
        let (namespace, key) = (namespace.to_string(), key.to_string());
        self.write(move |txn| {
            let ctx = "writing a key/value entry";
            let mut t = txn.open_table(KV).map_err(|e| StoreError::db(ctx, e))?;
            t.insert((namespace.as_str(), key.as_str()), value.as_slice())
                .map_err(|e| StoreError::db(ctx, e))?;
            Ok(())
        })
        .await
    }

    /// Stores many values of one namespace in one transaction (`None` deletes the key).
    pub async fn put_kv_many(
        &self,
        namespace: &str,
        entries: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let namespace = namespace.to_string();
        self.write(move |txn| {
            let ctx = "writing key/value entries";
            let mut t = txn.open_table(KV).map_err(|e| StoreError::db(ctx, e))?;
            for (key, value) in &entries {
                match value {
                    Some(v) => {
                        t.insert((namespace.as_str(), key.as_str()), v.as_slice())
                            .map_err(|e| StoreError::db(ctx, e))?;
                    }
                    None => {
                        t.remove((namespace.as_str(), key.as_str()))
                            .map_err(|e| StoreError::db(ctx, e))?;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    /// Reads a value stored with [`Store::put_kv`].
    pub fn get_kv(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read("reading a key/value entry", |txn| {
            let t = txn.open_table(KV)?;
            Ok(t.get((namespace, key))?.map(|g| g.value().to_vec()))
        })
    }

    /// Every (key, value) of a namespace, in key order.
    pub fn list_kv(&self, namespace: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.read("listing key/value entries", |txn| {
            let t = txn.open_table(KV)?;
            let mut out = Vec::new();
            for row in t.range((namespace, "")..)? {
                let (k, v) = row?;
                let (ns, key) = k.value();
                if ns != namespace {
                    break;
                }
                out.push((key.to_string(), v.value().to_vec()));
            }
            Ok(out)
        })
    }

    /// The (key, value) pairs of a namespace whose key starts with `prefix`, in key order:
    /// a range read, so a status call for one integration never reads the whole namespace.
    pub fn list_kv_prefix(
        &self,
        namespace: &str,
        prefix: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.read("listing key/value entries", |txn| {
            let t = txn.open_table(KV)?;
            let mut out = Vec::new();
            for row in t.range((namespace, prefix)..)? {
                let (k, v) = row?;
                let (ns, key) = k.value();
                if ns != namespace || !key.starts_with(prefix) {
                    break;
                }
                out.push((key.to_string(), v.value().to_vec()));
            }
            Ok(out)
        })
    }

    /// Deletes a value; returns whether it existed.
    pub async fn delete_kv(&self, namespace: &str, key: &str) -> Result<bool, StoreError> {
        let (namespace, key) = (namespace.to_string(), key.to_string());
        self.write(move |txn| {
            let ctx = "deleting a key/value entry";
            let mut t = txn.open_table(KV).map_err(|e| StoreError::db(ctx, e))?;
            let existed = t
                .remove((namespace.as_str(), key.as_str()))
                .map_err(|e| StoreError::db(ctx, e))?
                .is_some();
            Ok(existed)
        })
        .await
    }
}

impl Inner {
    fn close_blocking(&self) -> Result<(), StoreError> {
        if let Some(handle) = self.writer.lock().map_err(|_| StoreError::Closed)?.take() {
            let _ = handle.join();
        }
        let db = match self.db.write() {
            Ok(mut guard) => guard.take(),
            Err(_) => return Ok(()),
        };
        let Some(mut db) = db else { return Ok(()) };
        // Reads that started before the close hold a clone for a moment; wait for them.
        for _ in 0..500 {
            match Arc::try_unwrap(db) {
                Ok(db) => {
                    return db
                        .close()
                        .map_err(|e| StoreError::db("closing the state file", e))
                }
                Err(shared) => {
                    db = shared;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
        }
        // Still shared: the last reader closes it on drop, which is as clean as close().
        Ok(())
    }
}

/// Where a delivery identifier is unique: Jira numbers the deliveries of one instance, so two
/// connections (two Jiras, or one simulator restarted) may reuse each other's identifiers, and
/// one delivery goes to one workspace's webhook. Entries of the older per-workspace scope are
/// simply pruned with age.
fn dedup_scope(ev: &NewWebhookEvent) -> String {
    format!("{}\n{}", ev.connection, ev.workspace_id)
}

fn append_webhook_in(
    txn: &WriteTransaction,
    ev: &NewWebhookEvent,
) -> Result<AppendOutcome, StoreError> {
    let ctx = "storing a webhook";
    let ident = ev.identifier.as_deref().unwrap_or("");
    let scope = dedup_scope(ev);
    if !ident.is_empty() {
        let dedup = txn
            .open_table(WEBHOOK_DEDUP)
            .map_err(|e| StoreError::db(ctx, e))?;
        let seen = dedup
            .get((scope.as_str(), ident))
            .map_err(|e| StoreError::db(ctx, e))?
            .map(|g| g.value().0);
        if let Some(seq) = seen {
            return Ok(AppendOutcome::Duplicate { seq });
        }
    }
    let mut meta = txn.open_table(META).map_err(|e| StoreError::db(ctx, e))?;
    let seq = meta
        .get(META_NEXT_WEBHOOK_SEQ)
        .map_err(|e| StoreError::db(ctx, e))?
        .map(|g| g.value())
        .unwrap_or(1);
    meta.insert(META_NEXT_WEBHOOK_SEQ, seq + 1)
        .map_err(|e| StoreError::db(ctx, e))?;
    let at = ev.received_at.timestamp_millis();
    txn.open_table(WEBHOOK_EVENTS)
        .map_err(|e| StoreError::db(ctx, e))?
        .insert(
            seq,
            (
                at,
                ev.workspace_id.as_str(),
                ev.connection.as_str(),
                ident,
                ev.body.as_slice(),
            ),
        )
        .map_err(|e| StoreError::db(ctx, e))?;
    if !ident.is_empty() {
        txn.open_table(WEBHOOK_DEDUP)
            .map_err(|e| StoreError::db(ctx, e))?
            .insert((scope.as_str(), ident), (seq, at))
            .map_err(|e| StoreError::db(ctx, e))?;
    }
    let mut state = txn
        .open_table(WEBHOOK_STATE)
        .map_err(|e| StoreError::db(ctx, e))?;
    let count = state
        .get(ev.connection.as_str())
        .map_err(|e| StoreError::db(ctx, e))?
        .map(|g| g.value().0)
        .unwrap_or(0);
    state
        .insert(ev.connection.as_str(), (count + 1, at))
        .map_err(|e| StoreError::db(ctx, e))?;
    Ok(AppendOutcome::Stored { seq })
}

fn millis_to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}
