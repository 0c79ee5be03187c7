//! The composition root: the one place that builds tandem's parts and wires them together.
//! `tandem run`, `tandem demo` and the in-process benches all start here.
//!
//! Built in dependency order, each part handed only what it uses:
//! ```text
//!  store (opened by the daemon shell)
//!  live state ─ view ─▶ workspace service, sync engine, jobs
//!      ▲ writes            (read the applied model, resolved checks, Jira clients)
//!  reconcile::Context ◀── board, queue (made before the controller), secrets, jobs
//!  controller(queue, reconcilers) · watcher → apply loop · secret poller
//!  daemon::Hooks ──▶ listeners (routes, readiness, status, metrics, API route groups)
//! ```
//! Nothing is attached after construction: the queue exists before the reconcilers that
//! requeue through it and the jobs that wake their SyncJob, so no part holds a half-built other.

pub mod metrics;
pub mod status;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::controller::{Controller, ControllerConfig, ObjectRef, StatusBoard};
use crate::daemon::{Daemon, DaemonConfig, DaemonError, Hooks};
use crate::http::admin::{ReconcileError as AdminReconcileError, RouteGroups};
use crate::http::jobs_api::JobsApi;
use crate::http::metrics::EngineMetrics;
use crate::http::workspace_api::WorkspaceApi;
use crate::live::LiveState;
use crate::manifest::{self, Kind};
use crate::reconcile::{
    loops, Context, ContextParts, ResourceReconciler, SecretResolver, SyncJobStatus,
};
use crate::store::Store;
use crate::sync::engine::{Engine, EngineConfig};
use crate::sync::jobs::Jobs;
use crate::watch::{ManifestWatcher, ManifestsMode, ScanFn, WatchConfig};
use crate::workspace::WorkspaceService;

/// Tuning of everything above the process shell; tests shorten the intervals.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    pub manifests_dir: PathBuf,
    pub secret_dirs: Vec<PathBuf>,
    pub watch: WatchConfig,
    pub controller: ControllerConfig,
    /// How often referenced secret files are re-read to notice rotation.
    pub secret_poll: Duration,
    pub engine: EngineConfig,
    /// How long a Ready resource waits before the next check against Jira.
    pub recheck: Duration,
    /// The bound public listener, for the webhook URL status shows when tandem does not
    /// manage the webhook.
    pub public_addr: Option<std::net::SocketAddr>,
    /// Where the last applied manifest set is recorded for `tandem plan --state`; `None`
    /// records nothing (the demo, benches).
    pub state_dir: Option<PathBuf>,
}

impl RuntimeConfig {
    pub fn new(manifests_dir: PathBuf, secret_dirs: Vec<PathBuf>) -> Self {
        let mut controller = ControllerConfig::default();
        // A fixed secret file or a Jira coming back is picked up within a minute at worst.
        controller.backoff.max = Duration::from_secs(60);
        RuntimeConfig {
            manifests_dir,
            secret_dirs,
            watch: WatchConfig::default(),
            controller,
            secret_poll: Duration::from_secs(2),
            engine: EngineConfig::default(),
            recheck: Duration::from_secs(300),
            public_addr: None,
            state_dir: None,
        }
    }
}

/// The scan the watcher runs: the same loader `tandem validate` uses.
fn scan_fn() -> ScanFn {
    Arc::new(|root: &Path| {
        manifest::collect_files(root)
            .map(|files| files.into_iter().map(|f| (f.path, f.text)).collect())
            .map_err(|e| std::io::Error::other(e.to_string()))
    })
}

/// Records each new manifest set in the state directory (`watch::record`), for `tandem plan`
/// without a daemon. A failure is logged and tried again with the next set: the record is an
/// aid to planning, never a reason to stop applying.
async fn record_applied(
    state_dir: PathBuf,
    manifests_dir: PathBuf,
    mut snapshots: watch::Receiver<Option<Arc<crate::watch::Snapshot>>>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let root = std::path::absolute(&manifests_dir).unwrap_or(manifests_dir);
    loop {
        let current = snapshots.borrow_and_update().clone();
        if let Some(snapshot) = current {
            let (dir, root) = (state_dir.clone(), root.clone());
            let written = tokio::task::spawn_blocking(move || {
                crate::watch::record::write_applied(&dir, &root, &snapshot)
            })
            .await;
            if let Ok(Err(e)) = written {
                tracing::warn!(error = %e, dir = %state_dir.display(), "cannot record the applied manifest set for `tandem plan`");
            }
        }
        tokio::select! {
            _ = &mut stop => return,
            r = snapshots.changed() => if r.is_err() { return },
        }
    }
}

/// Keeps the status page's recent conflicts current: every few seconds, if the engine counted
/// a conflict since the last look, re-reads the linked items' histories on a blocking thread.
async fn status_conflicts(
    conflicts: status::RecentConflicts,
    ctx: Context,
    engine: Engine,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {}
        }
        let counted = engine.stats().conflicts;
        if !conflicts.needs_scan(counted) {
            continue;
        }
        let integrations: Vec<String> = ctx.desired().model.integrations.keys().cloned().collect();
        let (c, store) = (conflicts.clone(), ctx.store().clone());
        let _ = tokio::task::spawn_blocking(move || c.scan(&store, &integrations, counted)).await;
    }
}

/// Runs `tandem run` to the end: opens the store and binds the listeners (the daemon shell),
/// builds everything else on them, serves until SIGTERM/SIGINT, and collects the background
/// work after the shell has shut down in order.
pub async fn run(config: DaemonConfig, mode: ManifestsMode) -> Result<(), DaemonError> {
    let daemon = Daemon::start(config).await?;
    let mut runtime_config = RuntimeConfig::new(
        daemon.config().manifests_dir.clone(),
        daemon.config().secret_dirs.clone(),
    );
    runtime_config.watch.mode = mode;
    runtime_config.public_addr = daemon.public_addr();
    runtime_config.state_dir = Some(daemon.config().state_dir.clone());
    let mut tasks = JoinSet::new();
    let hooks = start(
        runtime_config,
        daemon.store().clone(),
        daemon.shutdown_receiver(),
        &mut tasks,
    );
    let result = daemon.run(hooks).await;
    // The shell has stopped accepting and closed the store; background work saw the shutdown
    // signal and only needs collecting.
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    result
}

/// Builds every part above the process shell on the open `store`, starts their tasks on
/// `tasks` (they stop with `shutdown`), and returns the hooks the shell serves with.
pub fn start(
    config: RuntimeConfig,
    store: Store,
    shutdown: watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) -> Hooks {
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let (ready_tx, ready) = watch::channel(false);

    // Shared run-time state, and the controller's board and queue, come first: every other
    // part is built from them.
    let live = LiveState::new();
    let board = StatusBoard::new();
    let queue = config.controller.new_queue::<ObjectRef>();

    let model_view = live.view();
    let workspace = WorkspaceService::new(store.clone(), Arc::new(move || model_view.model()));
    let jobs = Jobs::new(
        store.clone(),
        live.view(),
        workspace.clone(),
        Arc::new(SyncJobStatus {
            board: board.clone(),
            queue: queue.clone(),
        }),
    );
    match jobs.resume_unfinished() {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "resuming interrupted sync jobs"),
        Err(e) => tracing::error!(error = %e, "cannot read the sync jobs to resume"),
    }

    let ctx = Context::new(ContextParts {
        live: live.clone(),
        board: board.clone(),
        store: store.clone(),
        secrets: SecretResolver::new(config.secret_dirs.clone()),
        queue: queue.clone(),
        jobs: jobs.clone(),
        recheck: config.recheck,
    });
    let controller = Controller::with_queue(
        queue.clone(),
        ResourceReconciler(ctx.clone()),
        board,
        config.controller.clone(),
    );

    let watcher = ManifestWatcher::new(
        config.manifests_dir.clone(),
        scan_fn(),
        config.watch.clone(),
    );
    let snapshots = watcher.snapshots();
    if let Some(state_dir) = config.state_dir.clone() {
        tasks.spawn(record_applied(
            state_dir,
            config.manifests_dir.clone(),
            watcher.snapshots(),
            stopped(shutdown.clone()),
        ));
    }
    let watch_status = watcher.status();
    let trigger = watcher.rescan_trigger();
    tasks.spawn(watcher.run(stopped(shutdown.clone())));
    // The controller is drained by the daemon before the store closes, so reconciles in
    // flight at SIGTERM finish (or are cut off) while their writes can still land.
    let controller_done = tokio::spawn(controller.run(stopped(shutdown.clone())));
    tasks.spawn(loops::apply_loop(
        ctx.clone(),
        queue.clone(),
        snapshots,
        watch_status.clone(),
        ready_tx,
        stopped(shutdown.clone()),
    ));
    tasks.spawn(loops::poll_secrets(
        ctx.clone(),
        queue.clone(),
        config.secret_poll,
        stopped(shutdown.clone()),
    ));

    let engine = Engine::new(store, live.view(), workspace.clone(), config.engine.clone());
    engine.start(tasks, shutdown.clone(), ready.clone());

    let conflicts = status::RecentConflicts::default();
    tasks.spawn(status_conflicts(
        conflicts.clone(),
        ctx.clone(),
        engine.clone(),
        stopped(shutdown.clone()),
    ));
    let status_ctx = ctx.clone();
    let metrics_ctx = ctx.clone();
    let metrics_watch = watch_status.clone();
    let status_engine = engine.clone();
    let status_live = live.view();
    let manifests_dir = config.manifests_dir.clone();
    let public_addr = config.public_addr;
    let metrics_engine = engine.clone();
    let runs_engine = engine.clone();
    Hooks {
        routes: live.routes(),
        ready,
        status: Some(Arc::new(move || {
            status::status_json(&status::StatusInputs {
                ctx: &status_ctx,
                engine: &status_engine,
                live: &status_live,
                conflicts: &conflicts,
                watch: &watch_status.borrow(),
                manifests_dir: &manifests_dir,
                public_addr,
            })
        })),
        sync_runs: Some(Arc::new(move || runs_engine.stats().runs)),
        reconcile: Some(Arc::new(move |kind: &str, name: &str| {
            let kind = Kind::parse(kind)
                .ok_or_else(|| AdminReconcileError::NotFound(format!("unknown kind {kind}")))?;
            let key = ObjectRef::new(kind.as_str(), name);
            if ctx.desired().digest(&key).is_none() {
                return Err(AdminReconcileError::NotFound(format!(
                    "{key} is not declared"
                )));
            }
            queue.spec_changed(key);
            Ok(())
        })),
        on_reload: Arc::new(move || trigger.rescan()),
        extra_metrics: vec![
            Arc::new(EngineMetrics(move || metrics_engine.stats())),
            Arc::new(metrics::ManifestMetrics {
                ctx: metrics_ctx,
                watch: metrics_watch,
            }),
        ],
        drain: Some(Box::pin(async move {
            match controller_done.await {
                Ok(report) if report.aborted > 0 => {
                    tracing::warn!(
                        aborted = report.aborted,
                        "reconciles cut off at shutdown; they run again on start"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "the controller task failed"),
            }
        })),
        workspace_api: Some(Arc::new(RouteGroups(vec![
            Arc::new(WorkspaceApi::new(workspace)),
            Arc::new(JobsApi::new(jobs).with_engine(engine)),
        ]))),
    }
}
