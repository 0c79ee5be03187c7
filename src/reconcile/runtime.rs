//! Assembling the controller side of `tandem run`: manifest watcher → validation → desired
//! state → work queue → reconcilers, plus secret-rotation polling, status and "reconcile now".
//! The process shell (store, listeners, signals) is `daemon`; this fills its [`Hooks`].

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{provenance, spec, Desired, ResourceReconciler, Resources, SecretResolver};
use crate::controller::{Controller, ControllerConfig, ObjectRef, StatusBoard, WorkQueue};
use crate::daemon::Hooks;
use crate::http::admin::{ReconcileError as AdminReconcileError, RouteGroups};
use crate::http::jobs_api::JobsApi;
use crate::http::public::WebhookRoutes;
use crate::http::workspace_api::WorkspaceApi;
use crate::manifest::{self, Kind, SourceFile};
use crate::store::Store;
use crate::sync::engine::{Engine, EngineConfig};
use crate::sync::jobs::Jobs;
use crate::watch::{ManifestWatcher, ScanFn, WatchConfig, WatchStatus};
use crate::workspace::WorkspaceService;

/// Tuning of the controller side; tests shorten the intervals.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    pub manifests_dir: PathBuf,
    pub secret_dirs: Vec<PathBuf>,
    pub watch: WatchConfig,
    pub controller: ControllerConfig,
    /// How often referenced secret files are re-read to notice rotation.
    pub secret_poll: Duration,
    pub engine: EngineConfig,
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

/// Starts the watcher, the apply loop, the controller and the secret poller on `tasks`, and
/// returns the hooks the daemon shell serves with.
pub fn start(
    config: RuntimeConfig,
    store: Store,
    shutdown: watch::Receiver<bool>,
    tasks: &mut JoinSet<()>,
) -> Hooks {
    let board = StatusBoard::new();
    let (routes_tx, routes) = watch::channel(WebhookRoutes::default());
    let (ready_tx, ready) = watch::channel(false);
    let resources = Resources::new(
        store,
        board.clone(),
        SecretResolver::new(config.secret_dirs.clone()),
        routes_tx,
    );
    let controller = Controller::new(
        ResourceReconciler(resources.clone()),
        board.clone(),
        config.controller.clone(),
    );
    let queue = controller.queue();
    resources.attach_queue(queue.clone());
    let watcher = ManifestWatcher::new(
        config.manifests_dir.clone(),
        scan_fn(),
        config.watch.clone(),
    );
    let snapshots = watcher.snapshots();
    let watch_status = watcher.status();
    let trigger = watcher.rescan_trigger();

    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    tasks.spawn(watcher.run(stopped(shutdown.clone())));
    // The controller is drained by the daemon before the store closes, so reconciles in
    // flight at SIGTERM finish (or are cut off) while their writes can still land.
    let controller_done = tokio::spawn(controller.run(stopped(shutdown.clone())));
    tasks.spawn(apply_loop(
        resources.clone(),
        queue.clone(),
        snapshots,
        watch_status.clone(),
        ready_tx,
        stopped(shutdown.clone()),
    ));
    tasks.spawn(poll_secrets(
        resources.clone(),
        queue.clone(),
        config.secret_poll,
        stopped(shutdown.clone()),
    ));

    let model_resources = resources.clone();
    let workspace = WorkspaceService::new(
        resources.store().clone(),
        Arc::new(move || model_resources.desired().model),
    );

    let jobs = Jobs::new(resources.clone(), workspace.clone());
    resources.attach_jobs(jobs.clone());
    match jobs.resume_unfinished() {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "resuming interrupted sync jobs"),
        Err(e) => tracing::error!(error = %e, "cannot read the sync jobs to resume"),
    }

    let engine = Engine::new(resources.clone(), workspace.clone(), config.engine.clone());
    engine.start(tasks, shutdown, ready.clone());

    let status_resources = resources.clone();
    let status_engine = engine.clone();
    let manifests_dir = config.manifests_dir.clone();
    let reconcile_resources = resources;
    Hooks {
        routes,
        ready,
        status: Some(Arc::new(move || {
            status_json(
                &status_resources,
                &status_engine,
                &watch_status.borrow(),
                &manifests_dir,
            )
        })),
        reconcile: Some(Arc::new(move |kind: &str, name: &str| {
            let kind = Kind::parse(kind)
                .ok_or_else(|| AdminReconcileError::NotFound(format!("unknown kind {kind}")))?;
            let key = ObjectRef::new(kind.as_str(), name);
            if reconcile_resources.desired().digest(&key).is_none() {
                return Err(AdminReconcileError::NotFound(format!(
                    "{key} is not declared"
                )));
            }
            queue.spec_changed(key);
            Ok(())
        })),
        on_reload: Arc::new(move || trigger.rescan()),
        extra_metrics: vec![Arc::new(engine.clone())],
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

/// Applies each new snapshot: validate off the async threads, merge with the last good
/// versions, enqueue what changed. Readiness is reached after the first scan, whatever it
/// found, so a missing directory shows in status instead of hanging the start.
async fn apply_loop(
    resources: Resources,
    queue: WorkQueue<ObjectRef>,
    mut snapshots: watch::Receiver<Option<Arc<crate::watch::Snapshot>>>,
    mut watch_status: watch::Receiver<WatchStatus>,
    ready: watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut applied_generation = 0;
    loop {
        let snapshot = snapshots
            .borrow_and_update()
            .clone()
            .filter(|s| s.generation != applied_generation);
        if let Some(snapshot) = snapshot {
            applied_generation = snapshot.generation;
            let files: Vec<SourceFile> = snapshot
                .files
                .iter()
                .map(|(path, text)| SourceFile {
                    path: path.clone(),
                    text: text.clone(),
                })
                .collect();
            let validation =
                match tokio::task::spawn_blocking(move || manifest::validate(&files)).await {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::error!(error = %e, "validating the manifests failed");
                        continue;
                    }
                };
            let previous = resources.desired();
            let (next, changes): (Desired, _) = previous.apply(&validation);
            let webhook_owners = managed_webhook_owners(&previous, &next, &changes);
            for d in next
                .rejected
                .values()
                .flatten()
                .chain(&next.other_diagnostics)
            {
                tracing::warn!(diagnostic = %d, "manifest problem");
            }
            resources.set_desired(next);
            tracing::info!(
                generation = snapshot.generation,
                changed = changes.changed.len(),
                removed = changes.removed.len(),
                "manifests applied"
            );
            for key in changes.changed.into_iter().chain(changes.removed) {
                queue.spec_changed(key);
            }
            for key in webhook_owners {
                queue.enqueue(key);
            }
            let _ = ready.send(true);
        } else if watch_status.borrow_and_update().scans > 0 {
            let _ = ready.send(true);
        }
        tokio::select! {
            _ = &mut shutdown => return,
            r = snapshots.changed() => if r.is_err() { return },
            r = watch_status.changed() => if r.is_err() { return },
        }
    }
}

/// Connections that manage their Jira webhook and serve an integration that was added, changed
/// or removed: the set of workspaces their webhook must cover may have changed, and only their
/// own reconcile registers or removes webhooks.
fn managed_webhook_owners(
    previous: &Desired,
    next: &Desired,
    changes: &super::Changes,
) -> Vec<ObjectRef> {
    let mut owners: Vec<ObjectRef> = Vec::new();
    let integration = Kind::ProjectIntegration.as_str();
    for key in changes.changed.iter().chain(&changes.removed) {
        if key.kind != integration {
            continue;
        }
        for desired in [previous, next] {
            let Some(pi) = desired.model.integrations.get(&key.name) else {
                continue;
            };
            let manages = next
                .model
                .connections
                .get(&pi.connection)
                .is_some_and(|c| c.webhook_public_url.is_some());
            let owner = ObjectRef::new(Kind::Connection.as_str(), pi.connection.clone());
            if manages && !owners.contains(&owner) {
                owners.push(owner);
            }
        }
    }
    owners
}

/// Re-reads the secrets each connection refers to and enqueues the connection when one
/// changed: credential rotation without a restart and without touching the manifests.
///
/// "Changed" means different from what the connection's last reconcile used, not from the
/// previous poll: a file rotated between a reconcile and the poller's first look at that
/// connection would otherwise never be noticed. Connections whose secrets never resolved fall
/// back to poll-to-poll comparison (their reconcile is retrying anyway).
async fn poll_secrets(
    resources: Resources,
    queue: WorkQueue<ObjectRef>,
    every: Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        let desired = resources.desired();
        let secrets = resources.secrets().clone();
        let fingerprints = tokio::task::spawn_blocking(move || {
            desired
                .model
                .connections
                .values()
                .map(|c| (c.name.clone(), secrets.fingerprint(spec::secret_refs(c))))
                .collect::<HashMap<_, _>>()
        })
        .await
        .unwrap_or_default();
        for (name, fp) in &fingerprints {
            let stale = resources
                .secrets_fingerprint(name)
                .or_else(|| seen.get(name).cloned())
                .is_some_and(|used| used != *fp);
            // Once per new value: if that reconcile cannot resolve it either, its own backoff
            // retries, rather than this poller every few seconds.
            if stale && seen.get(name) != Some(fp) {
                tracing::info!(connection = %name, "a secret changed; reconnecting");
                queue.enqueue(ObjectRef::new(Kind::Connection.as_str(), name.clone()));
            }
        }
        seen = fingerprints;
    }
}

/// `/api/v1/status`: the manifests as applied, every resource with its conditions, and the
/// live facts (webhook state, link counts) read from the store at request time.
fn status_json(
    resources: &Resources,
    engine: &Engine,
    watch: &WatchStatus,
    manifests_dir: &Path,
) -> serde_json::Value {
    let desired = resources.desired();
    let store = resources.store();
    let store_stats = store.stats();
    let webhook_states: HashMap<String, crate::store::WebhookState> = store
        .webhook_states()
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.connection.clone(), s))
        .collect();
    let list = resources.board().list();
    // Declared but never valid: not running, still shown with why.
    let never_good = desired.rejected.iter().filter(|(key, _)| {
        !list
            .iter()
            .any(|s| s.kind == key.kind && s.name == key.name)
    });
    let never_good: Vec<serde_json::Value> = never_good
        .map(|(key, why)| {
            serde_json::json!({
                "kind": key.kind, "name": key.name, "digest": null,
                "conditions": [{"type": "Ready", "status": false, "reason": "InvalidSpec",
                                "message": why.join("; ")}],
                "rejected": why,
            })
        })
        .collect();
    let items: Vec<serde_json::Value> = list
        .into_iter()
        .map(|s| {
            let key = ObjectRef::new(s.kind.clone(), s.name.clone());
            let declared_digest = desired.digest(&key).map(str::to_owned);
            let mut v = serde_json::to_value(&s).unwrap_or_default();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("digest".into(), declared_digest.into());
                if let Some(why) = desired.rejected.get(&key) {
                    obj.insert("rejected".into(), serde_json::json!(why));
                }
                if s.kind == Kind::Connection.as_str() {
                    let state = webhook_states.get(&s.name);
                    obj.insert(
                        "webhook".into(),
                        serde_json::json!({
                            "state": if state.is_some() { "connected" } else { "waiting" },
                            "events": state.map(|w| w.count).unwrap_or(0),
                            "lastEventAt": state.map(|w| w.last_event_at),
                        }),
                    );
                }
                if let Some(pi) = desired
                    .model
                    .integrations
                    .get(&s.name)
                    .filter(|_| s.kind == Kind::ProjectIntegration.as_str())
                {
                    obj.insert("connection".into(), pi.connection.clone().into());
                }
                if s.kind == Kind::ProjectIntegration.as_str() {
                    obj.insert(
                        "links".into(),
                        store.count_links(&s.name).unwrap_or(0).into(),
                    );
                    obj.insert("sync".into(), engine.integration_status(&s.name));
                }
            }
            v
        })
        .chain(never_good)
        .collect();
    let resolved = watch
        .resolved_root
        .clone()
        .unwrap_or_else(|| manifests_dir.to_path_buf());
    serde_json::json!({
        "manifests": {
            "dir": watch.root,
            "resolvedDir": watch.resolved_root,
            "commit": provenance::applied_commit(&resolved),
            "digest": watch.digest,
            "generation": watch.generation,
            "problem": watch.problem.as_ref().map(|p| p.to_string()),
            "lastScan": watch.last_scan,
            "lastChange": watch.last_change,
            "diagnostics": desired.other_diagnostics,
        },
        "resources": items,
        // Stored (kept for audit until their retention passes) and not yet read by the engine.
        "storedWebhookEvents": store.webhook_event_count().unwrap_or(0),
        // Whether the state file still takes writes (a full disk stops it until a restart).
        "stateFile": {
            "writable": store_stats.write_failure.is_none(),
            "error": store_stats.write_failure,
        },
        "pendingWebhookEvents": engine.unread_webhooks(),
        "engine": engine.stats_json(),
    })
}
