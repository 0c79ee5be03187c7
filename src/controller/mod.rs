//! The reconciling controller: a keyed work queue feeding reason-blind reconcilers, with
//! per-key backoff, drift requeues, parking on terminal errors, panic isolation, and the
//! status board that `/api/v1/status` serves.
//!
//! How the pieces fit (kube-runtime style): anything that might change a resource (a manifest
//! snapshot, a webhook, a timer, `POST /api/v1/reconcile/...`) only enqueues its key on the
//! [`WorkQueue`]. [`Controller::run`] takes due keys, calls [`Reconciler::reconcile`] with at
//! most `concurrency` keys in flight and never two runs of one key at once, and turns the
//! result into conditions on the [`StatusBoard`] and into the key's next schedule:
//!
//! | result                 | conditions                                   | next run                          |
//! |------------------------|----------------------------------------------|-----------------------------------|
//! | `Ok(Outcome)`          | Ready=True, Reconciling=False, Stalled=False | after `resync_interval` (drift)   |
//! | `Transient`            | Ready=False, Reconciling=True                | exponential backoff with jitter   |
//! | `DependencyNotReady`   | Ready=False, Reconciling=True                | when any resource becomes Ready, else short backoff |
//! | `Terminal`             | Ready=False, Stalled=True                    | only after `spec_changed(key)`    |
//! | panic                  | Ready=False, Stalled=True (`ReconcilerPanicked`) | backoff, like a transient error |
//!
//! Manifest snapshots are turned into spec changes by `reconcile::desired` (which also keeps
//! the last good version of rejected resources): it calls [`WorkQueue::spec_changed`] for each
//! new, changed or removed key and leaves unchanged ones alone.
//!
//! Architecture invariant: the controller never looks at why a key was enqueued, and a
//! reconciler never assumes it knows; it re-reads desired and live state every time.

mod backoff;
mod queue;
mod status;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

pub use backoff::Backoff;
pub use queue::{Disposition, QueueStats, WorkQueue};
pub use status::{
    set_condition, Condition, ConditionType, LastError, ObjectRef, ResourceKey, ResourceStatus,
    StatusBoard,
};

/// Why a reconcile did not reach Ready. The variant decides the retry policy; `reason` is the
/// CamelCase word status shows (e.g. `Unreachable`, `NotAdministrator`, `InvalidSpec`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ReconcileError {
    /// May go away by itself (network, 5xx, rate limit): retried with backoff.
    #[error("{reason}: {message}")]
    Transient { reason: String, message: String },
    /// Will not go away until someone changes the spec: the key is parked.
    #[error("{reason}: {message}")]
    Terminal { reason: String, message: String },
    /// Another resource this one needs is not Ready yet; see [`StatusBoard::require_ready`].
    #[error("DependencyNotReady: {message}")]
    DependencyNotReady { message: String },
}

impl ReconcileError {
    pub fn transient(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Transient {
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn terminal(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Terminal {
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Self::Transient { reason, .. } | Self::Terminal { reason, .. } => reason,
            Self::DependencyNotReady { .. } => "DependencyNotReady",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Transient { message, .. }
            | Self::Terminal { message, .. }
            | Self::DependencyNotReady { message } => message,
        }
    }
}

/// A successful reconcile.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Reason on the Ready condition; `Reconciled` unless the reconciler has something better.
    pub reason: String,
    pub message: String,
    /// Digest of the spec that is now applied; kept on the status board when set.
    pub observed_digest: Option<String>,
    /// Overrides the controller's drift interval for this key.
    pub requeue_after: Option<Duration>,
    /// The resource no longer exists and its cleanup is done: drop its status and schedule.
    pub removed: bool,
}

impl Outcome {
    pub fn ready() -> Self {
        Self {
            reason: "Reconciled".to_owned(),
            message: String::new(),
            observed_digest: None,
            requeue_after: None,
            removed: false,
        }
    }

    /// The resource was deleted from the manifests and its cleanup finished.
    pub fn removed() -> Self {
        Self {
            removed: true,
            ..Self::ready()
        }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    pub fn with_digest(mut self, digest: impl Into<String>) -> Self {
        self.observed_digest = Some(digest.into());
        self
    }

    pub fn requeue_after(mut self, delay: Duration) -> Self {
        self.requeue_after = Some(delay);
        self
    }
}

/// Brings one resource's live state in line with its desired state. Called with no reason:
/// implementations re-read both sides every time and must be safe to call repeatedly.
pub trait Reconciler<K>: Send + Sync + 'static {
    fn reconcile(&self, key: &K) -> impl Future<Output = Result<Outcome, ReconcileError>> + Send;
}

/// Tuning for [`Controller`].
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Reconciles in flight at once across all keys.
    pub concurrency: usize,
    /// Re-run every Ready resource this often to catch drift; `None` disables.
    pub resync_interval: Option<Duration>,
    /// Retry policy for transient errors and panics.
    pub backoff: Backoff,
    /// Retry policy while a dependency is not Ready; a safety net behind `wake_dependents`.
    pub dependency_backoff: Backoff,
    /// How long `run` waits for in-flight reconciles after shutdown before aborting them;
    /// below the 10 s SIGTERM budget so the store still gets closed in time.
    pub shutdown_grace: Duration,
}

impl ControllerConfig {
    /// A queue with these backoffs, made before the controller so that the parts a reconciler
    /// is built from (jobs that wake their SyncJob, reconcilers that requeue dependents) hold
    /// it from the start instead of having it attached later.
    pub fn new_queue<K: ResourceKey>(&self) -> WorkQueue<K> {
        WorkQueue::new(self.backoff.clone(), self.dependency_backoff.clone())
    }
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            concurrency: 4,
            resync_interval: Some(Duration::from_secs(300)),
            backoff: Backoff::default(),
            dependency_backoff: Backoff {
                initial: Duration::from_millis(500),
                max: Duration::from_secs(30),
                jitter: 0.2,
            },
            shutdown_grace: Duration::from_secs(7),
        }
    }
}

/// What happened to in-flight work at shutdown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Reconciles that finished within the grace period.
    pub completed: usize,
    /// Reconciles cut off at the deadline; they run again on the next start.
    pub aborted: usize,
}

/// Runs a [`Reconciler`] over the keys of a [`WorkQueue`], recording results on a
/// [`StatusBoard`].
pub struct Controller<K, R> {
    queue: WorkQueue<K>,
    reconciler: Arc<R>,
    board: StatusBoard,
    config: ControllerConfig,
}

impl<K, R> Controller<K, R>
where
    K: ResourceKey,
    R: Reconciler<K>,
{
    pub fn new(reconciler: R, board: StatusBoard, config: ControllerConfig) -> Self {
        let queue = config.new_queue();
        Self::with_queue(queue, reconciler, board, config)
    }

    /// A controller over a queue made beforehand with [`ControllerConfig::new_queue`].
    pub fn with_queue(
        queue: WorkQueue<K>,
        reconciler: R,
        board: StatusBoard,
        config: ControllerConfig,
    ) -> Self {
        Self {
            queue,
            reconciler: Arc::new(reconciler),
            board,
            config,
        }
    }

    /// The handle through which everything else asks for reconciles.
    pub fn queue(&self) -> WorkQueue<K> {
        self.queue.clone()
    }

    pub fn board(&self) -> StatusBoard {
        self.board.clone()
    }

    /// Reconciles until `shutdown` resolves, then stops taking keys and waits up to
    /// `shutdown_grace` for the runs in flight.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> ShutdownReport {
        let concurrency = self.config.concurrency.max(1);
        let mut tasks: JoinSet<Result<Outcome, ReconcileError>> = JoinSet::new();
        let mut keys: HashMap<tokio::task::Id, K> = HashMap::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    self.finish(done, &mut keys);
                }
                key = self.queue.next(), if tasks.len() < concurrency => {
                    self.start(key, &mut tasks, &mut keys);
                }
            }
        }

        let mut report = ShutdownReport::default();
        let deadline = Instant::now() + self.config.shutdown_grace;
        loop {
            tokio::select! {
                done = tasks.join_next_with_id() => match done {
                    Some(done) => {
                        report.completed += 1;
                        self.finish(done, &mut keys);
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => {
                    report.aborted = tasks.len();
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    for key in keys.values() {
                        tracing::warn!(kind = key.kind(), name = key.name(), "reconcile aborted at shutdown");
                    }
                    break;
                }
            }
        }
        report
    }

    fn start(
        &self,
        key: K,
        tasks: &mut JoinSet<Result<Outcome, ReconcileError>>,
        keys: &mut HashMap<tokio::task::Id, K>,
    ) {
        let now = self.board.now();
        self.board.update(key.kind(), key.name(), |s| {
            set_condition(
                &mut s.conditions,
                ConditionType::Reconciling,
                true,
                "Progressing",
                "reconcile in progress",
                now,
            );
            if s.condition(ConditionType::Ready).is_none() {
                set_condition(
                    &mut s.conditions,
                    ConditionType::Ready,
                    false,
                    "Progressing",
                    "first reconcile in progress",
                    now,
                );
            }
        });
        let reconciler = Arc::clone(&self.reconciler);
        let task_key = key.clone();
        let handle = tasks.spawn(async move { reconciler.reconcile(&task_key).await });
        keys.insert(handle.id(), key);
    }

    fn finish(
        &self,
        done: Result<(tokio::task::Id, Result<Outcome, ReconcileError>), tokio::task::JoinError>,
        keys: &mut HashMap<tokio::task::Id, K>,
    ) {
        let (id, result, panicked) = match done {
            Ok((id, result)) => (id, result, false),
            Err(err) => {
                let id = err.id();
                if err.is_cancelled() {
                    keys.remove(&id);
                    return;
                }
                let message = match err.try_into_panic() {
                    Ok(payload) => panic_message(payload.as_ref()),
                    Err(_) => "reconcile task failed".to_owned(),
                };
                let error = ReconcileError::transient(
                    "ReconcilerPanicked",
                    format!("reconciler panicked: {message}"),
                );
                (id, Err(error), true)
            }
        };
        let Some(key) = keys.remove(&id) else {
            return;
        };
        let (kind, name) = (key.kind(), key.name());
        let now = self.board.now();
        match result {
            Ok(outcome) if outcome.removed => {
                self.queue.done(&key, Disposition::Forget);
                self.board.remove(kind, name);
                tracing::info!(kind, name, "resource removed");
            }
            Ok(outcome) => {
                let requeue_after = outcome.requeue_after.or(self.config.resync_interval);
                let next = self
                    .queue
                    .done(&key, Disposition::Succeeded { requeue_after });
                let next = next.map(|at| self.board.wall(at));
                let became_ready = self.board.update(kind, name, |s| {
                    let flipped = set_condition(
                        &mut s.conditions,
                        ConditionType::Ready,
                        true,
                        &outcome.reason,
                        &outcome.message,
                        now,
                    );
                    set_condition(
                        &mut s.conditions,
                        ConditionType::Reconciling,
                        false,
                        "Succeeded",
                        "",
                        now,
                    );
                    set_condition(
                        &mut s.conditions,
                        ConditionType::Stalled,
                        false,
                        "Succeeded",
                        "",
                        now,
                    );
                    if let Some(d) = &outcome.observed_digest {
                        s.observed_digest = Some(d.clone());
                    }
                    s.last_error = None;
                    s.failures = 0;
                    s.next_reconcile = next;
                    s.last_reconciled = Some(now);
                    s.reconcile_count += 1;
                    flipped
                });
                if became_ready {
                    tracing::info!(kind, name, "resource Ready");
                    self.queue.wake_dependents();
                }
            }
            Err(error) => {
                let disposition = match (&error, panicked) {
                    (_, true) | (ReconcileError::Transient { .. }, _) => Disposition::Retry,
                    (ReconcileError::DependencyNotReady { .. }, _) => {
                        Disposition::WaitForDependency
                    }
                    (ReconcileError::Terminal { .. }, _) => Disposition::Park,
                };
                let stalled = panicked || disposition == Disposition::Park;
                let next = self.queue.done(&key, disposition);
                let failures = self.queue.failures(&key);
                let next = next.map(|at| self.board.wall(at));
                let (reason, message) = (error.reason(), error.message());
                if panicked {
                    tracing::error!(kind, name, reason, message, "reconcile panicked");
                } else if matches!(error, ReconcileError::DependencyNotReady { .. }) {
                    // Expected while dependencies start; status shows it, the log need not shout.
                    tracing::info!(
                        kind,
                        name,
                        reason,
                        message,
                        failures,
                        "waiting for a dependency"
                    );
                } else {
                    tracing::warn!(kind, name, reason, message, failures, "reconcile failed");
                }
                self.board.update(kind, name, |s| {
                    set_condition(
                        &mut s.conditions,
                        ConditionType::Ready,
                        false,
                        reason,
                        message,
                        now,
                    );
                    let (rec_reason, rec_msg) = match next {
                        Some(_) => ("RetryScheduled", "will retry on its own"),
                        None => ("WaitingForSpecChange", "waits for the manifest to change"),
                    };
                    set_condition(
                        &mut s.conditions,
                        ConditionType::Reconciling,
                        next.is_some(),
                        rec_reason,
                        rec_msg,
                        now,
                    );
                    if stalled {
                        set_condition(
                            &mut s.conditions,
                            ConditionType::Stalled,
                            true,
                            reason,
                            message,
                            now,
                        );
                    } else {
                        set_condition(
                            &mut s.conditions,
                            ConditionType::Stalled,
                            false,
                            "Retrying",
                            "",
                            now,
                        );
                    }
                    s.last_error = Some(LastError {
                        reason: reason.to_owned(),
                        message: message.to_owned(),
                        at: now,
                    });
                    s.failures = failures;
                    s.next_reconcile = next;
                    s.last_reconciled = Some(now);
                    s.reconcile_count += 1;
                });
            }
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
