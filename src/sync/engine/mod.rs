//! The live two-way sync engine.
//!
//! Data flow:
//! ```text
//!  stored webhooks ──(events::decode, route)──┐
//!  workspace change feed ──(skip own origin)──┼─▶ pending set (redb) ─▶ WorkQueue ─▶ workers ─▶ pair::sync_pair
//!  resync sweep (JQL updated >= -Nm) ─────────┘        (durable)       (per pair, backoff)
//! ```
//! Every source only names a pair (an item or an issue of one integration); the pair is then
//! synced from what both sides hold now. Sources record the pair in the durable pending set
//! *before* advancing their cursor, and a worker clears it only after a successful run, so a
//! crash between the two never loses work: the pending set is re-queued at start.
//!
//! One pair never runs twice at once, and a failing pair is retried with exponential backoff
//! without holding up the others (the controller's [`WorkQueue`]). Requests to one Jira are
//! paced by the connection's client (`requestsPerSecond`, `Retry-After`).

pub mod baseline;
pub mod catalog;
pub mod events;
pub mod merge;
pub mod moved;
pub mod overwrite;
pub mod pair;
pub mod reachability;
pub mod refused;
pub mod stuck;
pub mod sweep;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::controller::{Backoff, Disposition, WorkQueue};
use crate::live::LiveView;
use crate::manifest::model::Model;
use crate::store::{Store, StoreError};
use crate::workspace::model::{ChangeOp, ChangeTarget, HistoryEntry, Origin};
use crate::workspace::WorkspaceService;

use super::context::{integration_run, ContextError, IntegrationRun};
use pair::{sync_pair, PairEnv, PairError};

/// Key/value namespace of the engine: cursors, the pending set, sweep watermarks.
pub const ENGINE_NS: &str = "sync-engine";
const WEBHOOK_CURSOR: &str = "cursor/webhooks";
const CHANGES_CURSOR: &str = "cursor/changes";
const PENDING_PREFIX: &str = "pending/";
/// Pair runs in flight by default (see [`EngineConfig::workers`]).
pub const DEFAULT_WORKERS: usize = 48;

/// Up to `limit` of the engine's per-pair records stored under `prefix` (the rest of each key
/// is the pair), as `row` renders them (`None`: not listed), and how many were listed in all:
/// what status shows of stuck, unreachable and refused pairs. One range read of the prefix.
pub(crate) fn pair_records<T: serde::de::DeserializeOwned>(
    store: &crate::store::Store,
    prefix: &str,
    list: &str,
    limit: usize,
    row: impl Fn(&str, T) -> Option<Value>,
) -> Value {
    let mut rows = Vec::new();
    let mut count = 0;
    for (k, v) in store.list_kv_prefix(ENGINE_NS, prefix).unwrap_or_default() {
        let (Some(pair), Ok(record)) = (k.strip_prefix(prefix), serde_json::from_slice::<T>(&v))
        else {
            continue;
        };
        let Some(r) = row(pair, record) else { continue };
        count += 1;
        if rows.len() < limit {
            rows.push(r);
        }
    }
    json!({"count": count, list: rows})
}
/// Events or changes read per batch.
const BATCH: usize = 500;
/// A run older than this is rebuilt, so the catalog (sprints, versions) follows Jira.
const RUN_TTL: Duration = Duration::from_secs(600);

/// One pair, by the side that is known: linked pairs always use the item. Releases and
/// sprints of the workspace (by name) pair with the project's versions and the board's sprints.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PairKey {
    Item(String),
    Issue(String),
    Release(String),
    Sprint(String),
    /// Jira's sprints or versions changed: rebuild the run, adding new ones to the workspace.
    Catalog,
}

/// Names may hold `/`; the pending key splits on it.
fn escape(name: &str) -> String {
    name.replace('%', "%25").replace('/', "%2F")
}

fn unescape(name: &str) -> String {
    name.replace("%2F", "/").replace("%25", "%")
}

/// A pair within an integration: the unit of the work queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EngineKey {
    pub integration: String,
    pub pair: PairKey,
}

impl EngineKey {
    fn pending_key(&self) -> String {
        let (kind, id) = match &self.pair {
            PairKey::Item(id) => ("item", id),
            PairKey::Issue(id) => ("issue", id),
            PairKey::Release(name) => ("release", name),
            PairKey::Sprint(name) => ("sprint", name),
            PairKey::Catalog => ("catalog", &String::new()),
        };
        format!("{PENDING_PREFIX}{}/{kind}/{}", self.integration, escape(id))
    }

    fn parse_pending(key: &str) -> Option<EngineKey> {
        let rest = key.strip_prefix(PENDING_PREFIX)?;
        let mut parts = rest.rsplitn(3, '/');
        let id = unescape(parts.next()?);
        let kind = parts.next()?;
        let integration = parts.next()?.to_owned();
        let pair = match kind {
            "item" => PairKey::Item(id),
            "issue" => PairKey::Issue(id),
            "release" => PairKey::Release(id),
            "sprint" => PairKey::Sprint(id),
            "catalog" => PairKey::Catalog,
            _ => return None,
        };
        Some(EngineKey { integration, pair })
    }
}

impl std::fmt::Display for EngineKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.pair {
            PairKey::Item(id) => write!(f, "{}/item {id}", self.integration),
            PairKey::Issue(id) => write!(f, "{}/issue {id}", self.integration),
            PairKey::Release(n) => write!(f, "{}/release {n:?}", self.integration),
            PairKey::Sprint(n) => write!(f, "{}/sprint {n:?}", self.integration),
            PairKey::Catalog => write!(f, "{}/catalog", self.integration),
        }
    }
}

/// Tuning; tests and the demo shorten the intervals.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Concurrent pair runs (across integrations; each Jira is paced by its own client). A
    /// pair waits on Jira most of its run, so throughput is workers / (requests per pair ×
    /// latency): at 300 ms and two requests per pair, 8 workers gave 13 pairs/s, short of the
    /// 25/s a connection at 50 requests/s allows; [`DEFAULT_WORKERS`] leaves room for slower
    /// Jiras and several connections. The work queue still never runs one pair twice at once.
    pub workers: usize,
    pub backoff: Backoff,
    /// How often the sweeper checks whether an integration's `resync` interval has passed.
    pub sweep_tick: Duration,
    /// Added to every sweep's window, for clock skew and Jira's minute-precision dates.
    pub sweep_overlap: Duration,
    /// Stored webhooks are kept this long after they are consumed (for audit), then trimmed.
    pub webhook_retention: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: DEFAULT_WORKERS,
            backoff: Backoff {
                initial: Duration::from_millis(500),
                max: Duration::from_secs(300),
                jitter: 0.2,
            },
            sweep_tick: Duration::from_secs(1),
            sweep_overlap: Duration::from_secs(120),
            webhook_retention: Duration::from_secs(24 * 3600),
        }
    }
}

/// Counters shown in status and metrics.
#[derive(Debug, Default)]
pub struct EngineStats {
    pub runs: AtomicU64,
    pub jira_writes: AtomicU64,
    pub workspace_writes: AtomicU64,
    pub conflicts: AtomicU64,
    pub retries: AtomicU64,
    pub failures: AtomicU64,
    pub unlinked: AtomicU64,
    /// Workspace changes skipped because the engine made them (no echo).
    pub echoes_skipped: AtomicU64,
    pub webhooks_consumed: AtomicU64,
    pub sweeps: AtomicU64,
    /// Pairs marked unreachable (their issue answered 404 without Jira saying it was deleted).
    pub unreachable: AtomicU64,
    /// Status changes found stuck: no safe path through the workflow (`stuck`).
    pub stuck: AtomicU64,
    /// Fields Jira refused in an edit that went on without them (`refused`).
    pub fields_refused: AtomicU64,
}

/// A reading of [`EngineStats`] and the pair queue at one moment (`engine` in status).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineSnapshot {
    pub runs: u64,
    pub jira_writes: u64,
    pub workspace_writes: u64,
    pub conflicts: u64,
    pub retries: u64,
    pub failures: u64,
    pub unlinked: u64,
    pub echoes_skipped: u64,
    pub webhooks_consumed: u64,
    pub sweeps: u64,
    pub unreachable: u64,
    pub stuck: u64,
    pub fields_refused: u64,
    pub queue: crate::controller::QueueStats,
}

#[derive(Debug, Clone, Default)]
struct IntegrationState {
    last_sync: Option<DateTime<Utc>>,
    last_error: Option<(String, String)>,
    last_sweep: Option<DateTime<Utc>>,
}

struct CachedRun {
    digest: String,
    built: Instant,
    run: Arc<IntegrationRun>,
}

/// A sweep asked for through the admin API, with where to send its report.
type SweepRequest = (
    String,
    tokio::sync::oneshot::Sender<Result<sweep::SweepReport, String>>,
);

/// What every task of the engine shares.
pub struct EngineShared {
    pub store: Store,
    pub workspace: WorkspaceService,
    /// The applied model, resolved checks and Jira clients, as the reconcilers published them.
    pub live: LiveView,
    pub stats: EngineStats,
    config: EngineConfig,
    queue: WorkQueue<EngineKey>,
    runs: tokio::sync::Mutex<HashMap<String, CachedRun>>,
    states: Mutex<BTreeMap<String, IntegrationState>>,
    /// Stamp of each pending entry, so a worker clears only what it has seen.
    stamp: AtomicU64,
    sweep_now: tokio::sync::Notify,
    /// (connection, issue id) → the issue's `updated` when tandem last read it and left Jira
    /// as it was: an issue-created event carrying that same time describes nothing new (the
    /// echo of tandem's own create) and costs no read. Updates are never skipped this way: two
    /// of them can share one `updated` millisecond.
    /// The value also holds the item's version after that sync, so a workspace change made
    /// since is never skipped.
    seen: Mutex<HashMap<(String, String), (String, u64)>>,
    sweep_requests: Mutex<Vec<SweepRequest>>,
    /// Who tandem is on each connection, to tell its own changelog entries (see `overwrite`).
    pub(crate) identities: overwrite::Identities,
    /// The workflow learned so far per (integration, Jira issue type id), shared by pairs.
    workflows: Mutex<HashMap<(String, String), crate::sync::transitions::WorkflowGraph>>,
    /// (integration, issue id) → the issue as the resync sweep read it in bulk, and when: the
    /// first run of the pair takes it instead of reading the issue again (see `sweep`).
    prefetched: Mutex<HashMap<(String, String), (crate::jira::Issue, Instant)>>,
    /// Signalled when a run takes a prefetched issue: a sweep waiting for room goes on.
    prefetch_taken: tokio::sync::Notify,
}

/// Most issues the sweep holds for pairs that have not run yet: a sweep that gets ahead of
/// the workers waits for them (memory stays bounded whatever the number of changed issues).
const PREFETCH_CAP: usize = 2_000;
/// A prefetched issue older than this is read again by its pair instead.
const PREFETCH_TTL: Duration = Duration::from_secs(120);

/// Handle to the engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<EngineShared>,
}

impl Engine {
    pub fn new(
        store: Store,
        live: LiveView,
        workspace: WorkspaceService,
        config: EngineConfig,
    ) -> Engine {
        let dependency = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            jitter: 0.2,
        };
        let queue = WorkQueue::new(config.backoff.clone(), dependency);
        let stamp =
            AtomicU64::new(u64::try_from(Utc::now().timestamp_micros()).unwrap_or_default());
        Engine {
            shared: Arc::new(EngineShared {
                store,
                workspace,
                live,
                stats: EngineStats::default(),
                config,
                queue,
                runs: tokio::sync::Mutex::new(HashMap::new()),
                states: Mutex::new(BTreeMap::new()),
                stamp,
                sweep_now: tokio::sync::Notify::new(),
                seen: Mutex::new(HashMap::new()),
                sweep_requests: Mutex::new(Vec::new()),
                prefetched: Mutex::new(HashMap::new()),
                prefetch_taken: tokio::sync::Notify::new(),
                identities: overwrite::Identities::default(),
                workflows: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Starts the consumers, the workers and the sweeper on `tasks` once `manifests_ready` is
    /// true; they stop with `shutdown`.
    ///
    /// Sources route by the declared integrations and workers forget keys of undeclared ones,
    /// so nothing may run before the first manifests declaring an integration are applied: on
    /// an empty model the pending set left by a crash would be dropped and the cursors moved
    /// past unrouted webhooks and changes.
    pub fn start(
        &self,
        tasks: &mut JoinSet<()>,
        shutdown: watch::Receiver<bool>,
        mut manifests_ready: watch::Receiver<bool>,
    ) {
        let engine = self.clone();
        let stop = shutdown.clone();
        tasks.spawn(until_shutdown(stop, async move {
            if manifests_ready.wait_for(|r| *r).await.is_err() {
                return;
            }
            // A first scan that found no manifests (a missing or unreadable directory) also
            // counts as ready; routing by an empty model would drop work, so wait for the
            // first integration.
            let mut models = engine.shared.live.model_changes();
            if models
                .wait_for(|m| !m.integrations.is_empty())
                .await
                .is_err()
            {
                return;
            }
            let mut running = JoinSet::new();
            engine.start_now(&mut running, shutdown);
            while running.join_next().await.is_some() {}
        }));
    }

    fn start_now(&self, tasks: &mut JoinSet<()>, shutdown: watch::Receiver<bool>) {
        match self.requeue_pending() {
            Ok(0) => {}
            Ok(n) => tracing::info!(pairs = n, "resuming pending sync work"),
            Err(e) => tracing::error!(error = %e, "cannot read the pending sync work"),
        }
        let s = self.shared.clone();
        tasks.spawn(until_shutdown(shutdown.clone(), consume_webhooks(s)));
        // Read before anything can write: on the first start, items that exist already wait
        // for a one-time push ("ready to push to development"); from then on every change
        // syncs. The cursor is stored with the first batch.
        let after = match self.shared.store.get_kv(ENGINE_NS, CHANGES_CURSOR) {
            Ok(Some(_)) => read_cursor(&self.shared.store, CHANGES_CURSOR),
            _ => self.shared.store.ws_last_change_seq().unwrap_or(0),
        };
        let s = self.shared.clone();
        tasks.spawn(until_shutdown(shutdown.clone(), consume_changes(s, after)));
        for _ in 0..self.shared.config.workers.max(1) {
            let s = self.shared.clone();
            tasks.spawn(until_shutdown(shutdown.clone(), worker(s)));
        }
        let s = self.shared.clone();
        tasks.spawn(until_shutdown(shutdown.clone(), sweep::sweeper(s)));
        // Pairs waiting for their integration (suspended, not declared yet) run as soon as the
        // applied model changes, not at their next dependency backoff (up to 30 s later).
        let s = self.shared.clone();
        tasks.spawn(until_shutdown(shutdown, async move {
            let mut models = s.live.model_changes();
            while models.changed().await.is_ok() {
                s.queue.wake_dependents();
            }
        }));
    }

    /// Runs a resync sweep of `integration` now and reports what it found.
    pub async fn sweep_now(&self, integration: &str) -> Result<sweep::SweepReport, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.shared
            .sweep_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((integration.to_owned(), tx));
        self.shared.sweep_now.notify_one();
        rx.await
            .map_err(|_| "the engine is shutting down".to_owned())?
    }

    /// Per-integration engine state for `GET /api/v1/status`.
    pub fn integration_status(&self, integration: &str) -> Value {
        let st = self
            .shared
            .states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(integration)
            .cloned()
            .unwrap_or_default();
        let pending = self
            .shared
            .store
            .list_kv_prefix(ENGINE_NS, &format!("{PENDING_PREFIX}{integration}/"))
            .map(|rows| rows.len())
            .unwrap_or(0);
        json!({
            "lastSync": st.last_sync,
            "lastSweep": st.last_sweep,
            "pending": pending,
            "lastError": st.last_error.map(|(pair, message)| json!({"pair": pair, "message": message})),
            "unreachable": reachability::unreachable_status(&self.shared.store, integration, 20),
            "stuck": stuck::stuck_status(&self.shared.store, integration, 20),
            "refusedFields": refused::refused_status(&self.shared.store, integration, 20),
        })
    }

    /// Engine-wide counters and the queue's state, as plain numbers (status and metrics read
    /// them; how they are served is the listener's business).
    pub fn stats(&self) -> EngineSnapshot {
        let s = &self.shared.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        EngineSnapshot {
            runs: get(&s.runs),
            jira_writes: get(&s.jira_writes),
            workspace_writes: get(&s.workspace_writes),
            conflicts: get(&s.conflicts),
            retries: get(&s.retries),
            failures: get(&s.failures),
            unlinked: get(&s.unlinked),
            echoes_skipped: get(&s.echoes_skipped),
            webhooks_consumed: get(&s.webhooks_consumed),
            sweeps: get(&s.sweeps),
            unreachable: get(&s.unreachable),
            stuck: get(&s.stuck),
            fields_refused: get(&s.fields_refused),
            queue: self.shared.queue.stats(),
        }
    }

    /// New items of `workspace` that no integration can take, with why (`unroutable` in the
    /// Workspace's status): at most `limit` of them, and how many in all.
    pub fn unroutable_status(&self, workspace: &str, limit: usize) -> Value {
        let prefix = format!("unroutable/{workspace}/");
        let rows = self.shared.store.list_kv(ENGINE_NS).unwrap_or_default();
        let mut items = Vec::new();
        let mut count = 0;
        for (k, v) in rows {
            let Some(item) = k.strip_prefix(&prefix) else {
                continue;
            };
            count += 1;
            if items.len() < limit {
                items.push(json!({"item": item, "reason": String::from_utf8_lossy(&v)}));
            }
        }
        json!({"count": count, "items": items})
    }

    /// Stored webhooks the engine has not read yet.
    pub fn unread_webhooks(&self) -> u64 {
        let next = read_cursor(&self.shared.store, WEBHOOK_CURSOR).max(1);
        self.shared
            .store
            .count_webhook_events_from(next)
            .unwrap_or(0)
    }

    fn requeue_pending(&self) -> Result<usize, StoreError> {
        let rows = self.shared.store.list_kv(ENGINE_NS)?;
        let mut n = 0;
        for (k, _) in rows {
            if let Some(key) = EngineKey::parse_pending(&k) {
                self.shared.queue.enqueue(key);
                n += 1;
            }
        }
        Ok(n)
    }
}

async fn until_shutdown(
    mut shutdown: watch::Receiver<bool>,
    task: impl std::future::Future<Output = ()>,
) {
    tokio::select! {
        _ = shutdown.wait_for(|s| *s) => {}
        _ = task => {}
    }
}

/// Entries kept in [`EngineShared::seen`] before it starts over (a cache, not a record).
const SEEN_CAPACITY: usize = 50_000;

impl EngineShared {
    /// Keeps issues the sweep read for their pairs' next runs, once there is room (waiting a
    /// few seconds at most for workers to take some, then dropping the oldest: a pair without
    /// its prefetched issue reads it itself).
    pub(crate) async fn prefetch(&self, integration: &str, issues: Vec<crate::jira::Issue>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let full = {
                let mut map = self.prefetched.lock().unwrap_or_else(|e| e.into_inner());
                map.retain(|_, (_, at)| at.elapsed() < PREFETCH_TTL);
                map.len() + issues.len() > PREFETCH_CAP
            };
            if !full || Instant::now() >= deadline {
                break;
            }
            let _ =
                tokio::time::timeout(Duration::from_millis(200), self.prefetch_taken.notified())
                    .await;
        }
        let mut map = self.prefetched.lock().unwrap_or_else(|e| e.into_inner());
        while map.len() + issues.len() > PREFETCH_CAP && !map.is_empty() {
            let oldest = map
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        let now = Instant::now();
        for issue in issues {
            map.insert((integration.to_owned(), issue.id.clone()), (issue, now));
        }
    }

    /// The issue the sweep read for this pair, if it is recent; taken, so only one run uses it.
    pub(crate) fn take_prefetched(
        &self,
        integration: &str,
        issue_id: &str,
    ) -> Option<crate::jira::Issue> {
        let taken = self
            .prefetched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(integration.to_owned(), issue_id.to_owned()));
        let (issue, at) = taken?;
        self.prefetch_taken.notify_waiters();
        (at.elapsed() < PREFETCH_TTL).then_some(issue)
    }

    /// What is known of the workflow of `issue_type` in `integration`.
    pub(crate) fn workflow(
        &self,
        integration: &str,
        issue_type: &str,
    ) -> crate::sync::transitions::WorkflowGraph {
        let graphs = self.workflows.lock().unwrap_or_else(|e| e.into_inner());
        graphs
            .get(&(integration.to_owned(), issue_type.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// Keeps what a status change learned of the workflow.
    pub(crate) fn learn_workflow(
        &self,
        integration: &str,
        issue_type: &str,
        graph: &crate::sync::transitions::WorkflowGraph,
    ) {
        let mut graphs = self.workflows.lock().unwrap_or_else(|e| e.into_inner());
        graphs
            .entry((integration.to_owned(), issue_type.to_owned()))
            .or_default()
            .merge(graph);
    }

    /// Remembers the state of an issue tandem has just synced without writing to it, and the
    /// version its item had then.
    pub(crate) fn saw(
        &self,
        connection: &str,
        issue_id: &str,
        updated: Option<&str>,
        item_version: u64,
    ) {
        let Some(updated) = updated else { return };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= SEEN_CAPACITY {
            seen.clear();
        }
        seen.insert(
            (connection.to_owned(), issue_id.to_owned()),
            (updated.to_owned(), item_version),
        );
    }

    /// Forgets it (tandem is about to change the issue, or the pair failed).
    pub(crate) fn unsee(&self, connection: &str, issue_id: &str) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(connection.to_owned(), issue_id.to_owned()));
    }

    /// Whether the pending entry of `key` describes an issue state already synced, with the
    /// item unchanged since.
    fn already_synced(&self, key: &EngineKey, pending: Option<&[u8]>) -> bool {
        let Some(state) = pending.and_then(|v| v.get(8..)).filter(|s| !s.is_empty()) else {
            return false;
        };
        let Some((issue, updated)) = std::str::from_utf8(state)
            .ok()
            .and_then(|s| s.split_once('\n'))
        else {
            return false;
        };
        let PairKey::Item(item_id) = &key.pair else {
            return false;
        };
        let model = self.live.model();
        let Some(pi) = model.integrations.get(&key.integration) else {
            return false;
        };
        let Some((seen_updated, seen_version)) = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(pi.connection.clone(), issue.to_owned()))
            .cloned()
        else {
            return false;
        };
        let version = match self.store.ws_item(&pi.workspace, item_id) {
            Ok(Some(item)) => item.version,
            _ => return false,
        };
        seen_updated == updated && seen_version == version
    }

    /// Whether a webhook describes exactly the issue state tandem last synced (the item may
    /// have changed since: then the item's own change queues the pair anyway).
    fn already_seen(&self, connection: &str, issue_id: &str, updated: &str) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(connection.to_owned(), issue_id.to_owned()))
            .is_some_and(|(u, _)| u == updated)
    }

    fn next_stamp(&self) -> u64 {
        self.stamp.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Records pairs durably (with `extra` entries such as a cursor, in the same transaction),
    /// then queues them.
    async fn mark_pending(
        &self,
        keys: Vec<EngineKey>,
        extra: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(), StoreError> {
        self.mark_pending_seen(keys.into_iter().map(|k| (k, None)).collect(), extra)
            .await
    }

    /// [`EngineShared::mark_pending`] with, per pair, the issue state the webhook described
    /// (issue id, `updated`), so a worker can skip a run for a state already synced.
    async fn mark_pending_seen(
        &self,
        keys: Vec<(EngineKey, Option<(String, String)>)>,
        extra: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(), StoreError> {
        let mut entries: Vec<(String, Option<Vec<u8>>)> = keys
            .iter()
            .map(|(k, state)| {
                let mut value = self.next_stamp().to_be_bytes().to_vec();
                if let Some((issue, updated)) = state {
                    value.extend_from_slice(format!("{issue}\n{updated}").as_bytes());
                }
                (k.pending_key(), Some(value))
            })
            .collect();
        entries.extend(extra);
        self.store.put_kv_many(ENGINE_NS, entries).await?;
        for (k, _) in keys {
            self.queue.enqueue(k);
        }
        Ok(())
    }

    fn state<T>(&self, integration: &str, f: impl FnOnce(&mut IntegrationState) -> T) -> T {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        f(states.entry(integration.to_owned()).or_default())
    }

    /// The integration's run, rebuilt when its manifest changed, after [`RUN_TTL`], or after
    /// [`EngineShared::invalidate`] (a sprint or version event, an unknown sprint).
    /// `model` is the desired model the caller already holds.
    async fn run_for(
        &self,
        integration: &str,
        model: &Model,
    ) -> Result<Arc<IntegrationRun>, ContextError> {
        let digest = model
            .integrations
            .get(integration)
            .map(|pi| pi.digest.clone())
            .ok_or_else(|| ContextError::UnknownIntegration(integration.to_owned()))?;
        let mut runs = self.runs.lock().await;
        if let Some(c) = runs.get(integration) {
            if c.digest == digest && c.built.elapsed() < RUN_TTL {
                return Ok(c.run.clone());
            }
        }
        let run = Arc::new(integration_run(&self.live, model, integration).await?);
        // Sprints and releases named by Jira must exist in the workspace before items use them.
        if let Err(e) = super::import::ensure_catalog(&self.workspace, &run).await {
            tracing::warn!(integration, error = %e, "cannot add Jira's sprints and releases to the workspace");
        }
        runs.insert(
            integration.to_owned(),
            CachedRun {
                digest,
                built: Instant::now(),
                run: run.clone(),
            },
        );
        Ok(run)
    }

    async fn invalidate(&self, integration: &str) {
        self.runs.lock().await.remove(integration);
    }
}

/// Integrations that sync (declared, not suspended), by name.
fn active(model: &Model) -> impl Iterator<Item = &crate::manifest::model::ProjectIntegration> {
    model.integrations.values().filter(|pi| !pi.suspend)
}

fn read_cursor(store: &Store, key: &str) -> u64 {
    store
        .get_kv(ENGINE_NS, key)
        .ok()
        .flatten()
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

/// Waits before retrying a failed store read, without spinning.
async fn pause() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

async fn consume_webhooks(s: Arc<EngineShared>) {
    let mut arrivals = s.store.subscribe_webhooks();
    let mut next = read_cursor(&s.store, WEBHOOK_CURSOR).max(1);
    loop {
        let events = match s.store.webhook_events(next, BATCH) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "cannot read stored webhooks");
                pause().await;
                continue;
            }
        };
        let Some(last) = events.last().map(|e| e.seq) else {
            arrivals.borrow_and_update();
            if s.store
                .webhook_events(next, 1)
                .map(|e| e.is_empty())
                .unwrap_or(true)
            {
                let _ = arrivals.changed().await;
            }
            continue;
        };
        let model = s.live.model();
        let mut keys = Vec::new();
        let mut extra = Vec::new();
        for ev in &events {
            let Some(hint) = events::decode(&ev.event.body) else {
                continue;
            };
            if hint.event == "jira:issue_deleted" {
                // Jira's word that the issue is gone: its pair's 404 then means deleted, not
                // hidden (see `reachability`). Recorded with the cursor, before it moves.
                for id in &hint.issues {
                    extra.push((
                        reachability::deleted_key(&ev.event.connection, id),
                        Some(b"1".to_vec()),
                    ));
                }
            }
            route_hint(&s, &model, &ev.event.connection, &hint, &mut keys).await;
        }
        let keys = merge_hinted(keys);
        extra.push((
            WEBHOOK_CURSOR.to_owned(),
            Some((last + 1).to_be_bytes().to_vec()),
        ));
        if let Err(e) = s.mark_pending_seen(keys, extra).await {
            tracing::error!(error = %e, "cannot record pending sync work");
            pause().await;
            continue;
        }
        s.stats
            .webhooks_consumed
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        next = last + 1;
    }
}

/// The pairs a webhook is about, in each integration of its connection that can hold them.
/// One entry per pair, keeping the described issue state only when every event of the batch
/// for that pair described the same one.
fn merge_hinted(
    mut keys: Vec<(EngineKey, Option<(String, String)>)>,
) -> Vec<(EngineKey, Option<(String, String)>)> {
    keys.sort_by(|a, b| (&a.0.integration, &a.0.pair).cmp(&(&b.0.integration, &b.0.pair)));
    let mut out: Vec<(EngineKey, Option<(String, String)>)> = Vec::with_capacity(keys.len());
    for (key, state) in keys {
        match out.last_mut() {
            Some((last, last_state)) if *last == key => {
                if *last_state != state {
                    *last_state = None;
                }
            }
            _ => out.push((key, state)),
        }
    }
    out
}

async fn route_hint(
    s: &EngineShared,
    model: &Model,
    connection: &str,
    hint: &events::Hint,
    keys: &mut Vec<(EngineKey, Option<(String, String)>)>,
) {
    // Suspended integrations too: their pairs wait in the pending set (see `run_key`) so
    // that nothing changed meanwhile is lost when they resume.
    for pi in model
        .integrations
        .values()
        .filter(|pi| pi.connection == connection)
    {
        if hint.changes_catalog() {
            let board_matches = hint.board.is_none_or(|b| b == 0 || pi.board == Some(b));
            if board_matches {
                s.invalidate(&pi.name).await;
                keys.push((
                    EngineKey {
                        integration: pi.name.clone(),
                        pair: PairKey::Catalog,
                    },
                    None,
                ));
            }
        }
        for id in &hint.issues {
            if let Some(updated) = &hint.updated {
                if s.already_seen(connection, id, updated) {
                    s.stats.echoes_skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            let linked = s.store.link_by_jira_issue(&pi.name, id).ok().flatten();
            let pair = match linked {
                Some(link) => PairKey::Item(link.workspace_item_id),
                None => {
                    if hint.project.as_deref().is_some_and(|p| p != pi.project) {
                        continue;
                    }
                    PairKey::Issue(id.clone())
                }
            };
            let state = hint.updated.clone().map(|u| (id.clone(), u));
            keys.push((
                EngineKey {
                    integration: pi.name.clone(),
                    pair,
                },
                state,
            ));
        }
    }
}

async fn consume_changes(s: Arc<EngineShared>, mut after: u64) {
    let mut feed = s.workspace.subscribe();
    loop {
        let changes = match s.workspace.changes_since(after, BATCH) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the workspace change feed");
                pause().await;
                continue;
            }
        };
        let Some(last) = changes.last().map(|c| c.seq) else {
            if *feed.borrow_and_update() <= after {
                let _ = feed.changed().await;
            }
            continue;
        };
        let model = s.live.model();
        let mut keys = Vec::new();
        // Items no integration can take, with why (None: routable again, or gone).
        let mut unroutable: Vec<(String, Option<String>)> = Vec::new();
        for ch in &changes {
            // Suspended integrations too (see `route_hint`).
            let integrations: Vec<_> = model
                .integrations
                .values()
                .filter(|pi| pi.workspace == ch.workspace)
                .collect();
            let id = match &ch.target {
                ChangeTarget::Item(id) => id,
                ChangeTarget::Release(name) | ChangeTarget::Sprint(name) => {
                    if ch.origin != Origin::Api || ch.op == ChangeOp::Delete {
                        continue;
                    }
                    for pi in integrations.iter().filter(|pi| pi.direction.to_jira()) {
                        let pair = match &ch.target {
                            ChangeTarget::Release(_) => PairKey::Release(name.clone()),
                            _ if pi.board.is_some() => PairKey::Sprint(name.clone()),
                            _ => continue,
                        };
                        keys.push(EngineKey {
                            integration: pi.name.clone(),
                            pair,
                        });
                    }
                    continue;
                }
            };
            let linked = integrations
                .iter()
                .find(|pi| s.store.link_by_item(&pi.name, id).ok().flatten().is_some());
            match linked {
                Some(pi) => {
                    if ch.origin == Origin::Sync(pi.name.clone()) {
                        s.stats.echoes_skipped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    keys.push(EngineKey {
                        integration: pi.name.clone(),
                        pair: PairKey::Item(id.clone()),
                    });
                }
                None if ch.op != ChangeOp::Delete && ch.origin == Origin::Api => {
                    match owner_of(&s, &integrations, &ch.workspace, id) {
                        Ok(Some(owner)) => {
                            keys.push(EngineKey {
                                integration: owner,
                                pair: PairKey::Item(id.clone()),
                            });
                            unroutable.push((unroutable_key(&ch.workspace, id), None));
                        }
                        Ok(None) => {}
                        Err(why) => {
                            unroutable.push((unroutable_key(&ch.workspace, id), Some(why)));
                        }
                    }
                }
                None if ch.op == ChangeOp::Delete => {
                    unroutable.push((unroutable_key(&ch.workspace, id), None));
                }
                None => {}
            }
        }
        keys.sort_by(|a, b| (&a.integration, &a.pair).cmp(&(&b.integration, &b.pair)));
        keys.dedup();
        let mut extra: Vec<(String, Option<Vec<u8>>)> = unroutable
            .drain(..)
            .map(|(k, why)| (k, why.map(String::into_bytes)))
            .collect();
        extra.push((CHANGES_CURSOR.to_owned(), Some(last.to_be_bytes().to_vec())));
        if let Err(e) = s.mark_pending(keys, extra).await {
            tracing::error!(error = %e, "cannot record pending sync work");
            pause().await;
            continue;
        }
        after = last;
    }
}

/// The integration that creates the issue of a new, unlinked item: the one its `syncTo`
/// names, else the first (by name) that writes to Jira and maps the item's type (not
/// ignored). `Ok(None)`: the item is not meant for Jira (no integration writes its type);
/// `Err`: it is, but none can take it (said in status).
fn owner_of(
    s: &EngineShared,
    integrations: &[&crate::manifest::model::ProjectIntegration],
    ws: &str,
    id: &str,
) -> Result<Option<String>, String> {
    let Ok(item) = s.workspace.get_item(ws, id) else {
        return Ok(None);
    };
    let takes = |pi: &&&crate::manifest::model::ProjectIntegration| {
        pi.direction.to_jira() && pi.jira_type(&item.item_type).is_some()
    };
    if let Some(name) = &item.sync_to {
        return match integrations.iter().find(|pi| pi.name == *name) {
            Some(pi) if takes(&pi) => Ok(Some(pi.name.clone())),
            Some(_) => Err(format!(
                "syncTo names integration {name}, which does not create issues of type {:?}",
                item.item_type
            )),
            None => Err(format!(
                "syncTo names integration {name}, which is not declared for this workspace"
            )),
        };
    }
    match integrations.iter().find(takes) {
        Some(pi) => Ok(Some(pi.name.clone())),
        None => {
            let mentioned = integrations
                .iter()
                .filter(|pi| pi.direction.to_jira())
                .any(|pi| pi.types.iter().any(|t| t.workspace == item.item_type));
            if mentioned {
                // Every integration that writes to Jira ignores the type on purpose.
                Ok(None)
            } else if integrations.iter().any(|pi| pi.direction.to_jira()) {
                Err(format!(
                    "no integration that writes to Jira maps type {:?}",
                    item.item_type
                ))
            } else {
                Ok(None)
            }
        }
    }
}

/// `unroutable/{workspace}/{item}`: why a new item cannot go to any integration.
fn unroutable_key(workspace: &str, item: &str) -> String {
    format!("unroutable/{workspace}/{item}")
}

async fn worker(s: Arc<EngineShared>) {
    loop {
        let key = s.queue.next().await;
        let pending = key.pending_key();
        let seen = s.store.get_kv(ENGINE_NS, &pending).ok().flatten();
        let disposition = if s.already_synced(&key, seen.as_deref()) {
            // Queued by a webhook (or a duplicate delivery) describing exactly the state the
            // previous run read and synced: nothing to do.
            s.stats.echoes_skipped.fetch_add(1, Ordering::Relaxed);
            Disposition::Succeeded {
                requeue_after: None,
            }
        } else {
            run_key(&s, &key).await
        };
        if matches!(disposition, Disposition::Succeeded { .. }) {
            // Cleared only if no newer event re-marked it meanwhile (it then runs again).
            let now = s.store.get_kv(ENGINE_NS, &pending).ok().flatten();
            if now == seen && now.is_some() {
                if let Err(e) = s.store.put_kv_many(ENGINE_NS, vec![(pending, None)]).await {
                    tracing::warn!(error = %e, "cannot clear a finished pair");
                }
            }
        }
        s.queue.done(&key, disposition);
    }
}

async fn run_key(s: &EngineShared, key: &EngineKey) -> Disposition {
    let integration = &key.integration;
    let model = s.live.model();
    match model.integrations.get(integration) {
        None => return Disposition::Forget,
        // Kept pending; resumes when the integration is resumed.
        Some(pi) if pi.suspend => return Disposition::WaitForDependency,
        Some(_) => {}
    }
    let run = match s.run_for(integration, &model).await {
        Ok(r) => r,
        Err(e) => {
            s.state(integration, |st| {
                st.last_error = Some((key.to_string(), e.to_string()))
            });
            return Disposition::WaitForDependency;
        }
    };
    let attempts = s.queue.failures(key);
    let env = PairEnv {
        shared: s,
        run: &run,
        attempts,
    };
    s.stats.runs.fetch_add(1, Ordering::Relaxed);
    match sync_pair(&env, &key.pair).await {
        Ok(done) => {
            let st = &s.stats;
            st.jira_writes
                .fetch_add(u64::from(done.jira_writes), Ordering::Relaxed);
            st.workspace_writes
                .fetch_add(u64::from(done.workspace_writes), Ordering::Relaxed);
            st.conflicts
                .fetch_add(u64::from(done.conflicts), Ordering::Relaxed);
            if done.unlinked {
                st.unlinked.fetch_add(1, Ordering::Relaxed);
            }
            s.state(integration, |st| {
                st.last_sync = Some(Utc::now());
                // The pair that failed last has synced since: its error is over.
                if st
                    .last_error
                    .as_ref()
                    .is_some_and(|(p, _)| *p == key.to_string())
                {
                    st.last_error = None;
                }
            });
            if let Some(k) = done.reroute {
                if let Err(e) = s.mark_pending(vec![k], Vec::new()).await {
                    tracing::warn!(error = %e, "cannot queue the pair's next run");
                }
            }
            Disposition::Succeeded {
                requeue_after: None,
            }
        }
        Err(PairError::Transient(message)) => {
            s.stats.retries.fetch_add(1, Ordering::Relaxed);
            // The first retries are usually ordering (a parent still being created) or a
            // blip; persistent failures are what an operator needs to see.
            if attempts >= 2 {
                tracing::warn!(pair = %key, attempts = attempts + 1, error = message, "sync failed; retrying with backoff");
            } else {
                tracing::debug!(pair = %key, attempts = attempts + 1, error = message, "sync failed; retrying with backoff");
            }
            s.state(integration, |st| {
                st.last_error = Some((key.to_string(), message))
            });
            Disposition::Retry
        }
        Err(PairError::Permanent(message)) => {
            if attempts < 2 {
                // Maybe only the catalog is stale (a sprint or version created a moment ago).
                s.invalidate(integration).await;
                s.stats.retries.fetch_add(1, Ordering::Relaxed);
                return Disposition::Retry;
            }
            s.stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(pair = %key, error = message, "sync failed; not retried until the pair changes");
            s.state(integration, |st| {
                st.last_error = Some((key.to_string(), message.clone()))
            });
            if let PairKey::Item(id) = &key.pair {
                let mut entry = HistoryEntry::new("failed", Origin::Sync(integration.clone()));
                entry.message = Some(message);
                let _ = s
                    .workspace
                    .append_history(&run.workspace.name, id, entry)
                    .await;
            }
            Disposition::Succeeded {
                requeue_after: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_keys_round_trip_with_slashes_in_names() {
        for key in [
            EngineKey {
                integration: "demo".into(),
                pair: PairKey::Item("ITEM-7".into()),
            },
            EngineKey {
                integration: "a/b".into(),
                pair: PairKey::Issue("10001".into()),
            },
            EngineKey {
                integration: "demo".into(),
                pair: PairKey::Release("3.0 / 100% spring".into()),
            },
        ] {
            assert_eq!(EngineKey::parse_pending(&key.pending_key()), Some(key));
        }
    }
}
