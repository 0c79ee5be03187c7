//! The daemon's process shell: opens the store, binds both listeners, serves them, speaks
//! sd_notify, handles signals, and shuts down in order (stop accepting, finish in-flight
//! requests, close the store) within the configured deadline.
//!
//! Two steps so that the controller can be built between them with the open store:
//! [`Daemon::start`] fails fast (state directory in use, address taken, admin bind policy),
//! then [`Daemon::run`] serves until SIGTERM/SIGINT. What the controller contributes (routes,
//! readiness, status, reconcile, reload) comes in through [`Hooks`].

pub mod logging;
pub mod notify;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::http::admin::{
    self, AdminError, AdminState, ApiRoutes, MetricsSource, ReconcileHandler, StatusSource,
};
use crate::http::metrics::WebhookMetrics;
use crate::http::public::{self, PublicState, WebhookRoutes};
use crate::http::{Limits, Secret};
use crate::store::{Store, StoreError};

pub use notify::Notifier;

/// Everything `tandem run` resolved from flags, environment and systemd's directories.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Holds the state file; one daemon per directory.
    pub state_dir: PathBuf,
    /// Manifest directory to watch (used by the controller, carried here for it).
    pub manifests_dir: PathBuf,
    /// Where relative secret file references resolve, in order (`$CREDENTIALS_DIRECTORY`,
    /// then `--secrets`).
    pub secret_dirs: Vec<PathBuf>,
    /// Public (webhook) listener address.
    pub listen: String,
    /// Admin listener address.
    pub admin: String,
    /// Bearer token for the admin API; required to bind it off loopback.
    pub admin_token: Option<Secret>,
    /// Request limits of the public listener.
    pub limits: Limits,
    /// From the stop signal to exit, everything included (the contract says 10 s).
    pub shutdown_timeout: Duration,
}

impl DaemonConfig {
    /// A config with the documented defaults for everything but the directories.
    pub fn new(state_dir: PathBuf, manifests_dir: PathBuf) -> Self {
        DaemonConfig {
            state_dir,
            manifests_dir,
            secret_dirs: Vec::new(),
            listen: "0.0.0.0:8686".to_string(),
            admin: "127.0.0.1:8687".to_string(),
            admin_token: None,
            limits: Limits::default(),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// Why the daemon could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr} ({what} listener)")]
    Bind {
        what: &'static str,
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("the {what} listener failed")]
    Listener {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot install the {0} signal handler")]
    Signal(&'static str, #[source] std::io::Error),
    #[error("shutdown did not finish within {0:?}; exiting anyway")]
    ShutdownTimedOut(Duration),
}

/// What the rest of the daemon plugs into the shell.
pub struct Hooks {
    /// Webhook routing table, updated by the controller.
    pub routes: watch::Receiver<WebhookRoutes>,
    /// Becomes true once the first manifest snapshot is applied; `READY=1` waits for it.
    pub ready: watch::Receiver<bool>,
    /// `/api/v1/status`; `None` serves the store's webhook state only.
    pub status: Option<Arc<dyn StatusSource>>,
    /// `POST /api/v1/reconcile/...`; `None` answers 503.
    pub reconcile: Option<Arc<dyn ReconcileHandler>>,
    /// Sync runs so far (a counter), for the status page's activity chart.
    pub sync_runs: Option<Arc<dyn Fn() -> u64 + Send + Sync>>,
    /// Called on SIGHUP (rescan manifests now); should only enqueue work.
    pub on_reload: Arc<dyn Fn() + Send + Sync>,
    /// Appended to `/metrics`.
    pub extra_metrics: Vec<Arc<dyn MetricsSource>>,
    /// Awaited after the listeners have stopped and before the store closes (within the
    /// shutdown deadline): the controller and sync engine finish or persist in-flight work
    /// here, after seeing [`Daemon::shutdown_receiver`] turn true.
    pub drain: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// `/api/v1/workspaces/...` (the embedded workspace); `None` answers 404 there.
    pub workspace_api: Option<Arc<dyn ApiRoutes>>,
}

/// The senders that go with [`Hooks::standalone`].
pub struct HookSenders {
    pub routes: watch::Sender<WebhookRoutes>,
    pub ready: watch::Sender<bool>,
}

impl Hooks {
    /// Hooks with an empty route table, not ready, no status or reconcile, and a SIGHUP that
    /// only logs; the senders let the caller change routes and readiness.
    pub fn standalone() -> (Hooks, HookSenders) {
        let (routes_tx, routes) = watch::channel(WebhookRoutes::default());
        let (ready_tx, ready) = watch::channel(false);
        (
            Hooks {
                routes,
                ready,
                status: None,
                reconcile: None,
                sync_runs: None,
                on_reload: Arc::new(|| tracing::info!("SIGHUP received; nothing to rescan")),
                extra_metrics: Vec::new(),
                drain: None,
                workspace_api: None,
            },
            HookSenders {
                routes: routes_tx,
                ready: ready_tx,
            },
        )
    }
}

/// A started daemon: store open, listeners bound, nothing served yet.
pub struct Daemon {
    config: DaemonConfig,
    store: Store,
    public: TcpListener,
    admin: TcpListener,
    notifier: Notifier,
    webhook_metrics: Arc<WebhookMetrics>,
    shutdown_tx: watch::Sender<bool>,
}

impl Daemon {
    /// Opens the store and binds both listeners. Fails before serving anything, so a second
    /// daemon on the same state directory, a taken port or an unprotected admin address each
    /// stop the process with one clear message.
    pub async fn start(config: DaemonConfig) -> Result<Daemon, DaemonError> {
        admin::check_admin_address(&config.admin, config.admin_token.as_ref()).await?;
        let state_dir = config.state_dir.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(state_dir))
            .await
            .map_err(|_| StoreError::Closed)??;
        let m = store.migration();
        if m.from != m.to {
            tracing::info!(from = m.from, to = m.to, "migrated the state file schema");
        }
        for v in store.link_violations_at_open() {
            tracing::warn!(
                violation = %v,
                "the state file breaks a link invariant; every link is kept as it is until \
                 one is unlinked"
            );
        }
        let public = bind("public", &config.listen).await?;
        let admin_listener = bind("admin", &config.admin).await?;
        let admin_addr = admin_listener
            .local_addr()
            .map_err(|source| DaemonError::Listener {
                what: "admin",
                source,
            })?;
        admin::check_bind(admin_addr, config.admin_token.as_ref())?;
        let (shutdown_tx, _) = watch::channel(false);
        Ok(Daemon {
            config,
            store,
            public,
            admin: admin_listener,
            notifier: Notifier::from_env(),
            webhook_metrics: Arc::new(WebhookMetrics::default()),
            shutdown_tx,
        })
    }

    /// The open store, for the controller and sync engine.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &DaemonConfig {
        &self.config
    }

    /// Where the public listener is bound (useful with port 0).
    pub fn public_addr(&self) -> Option<SocketAddr> {
        self.public.local_addr().ok()
    }

    /// Where the admin listener is bound.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.local_addr().ok()
    }

    /// Becomes true when shutdown starts, so background work (controller, sync) can stop and
    /// persist in-flight state before the store closes.
    pub fn shutdown_receiver(&self) -> watch::Receiver<bool> {
        self.shutdown_tx.subscribe()
    }

    /// Serves until SIGTERM or SIGINT, handling SIGHUP as a reload, then shuts down.
    pub async fn run(self, hooks: Hooks) -> Result<(), DaemonError> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term =
            signal(SignalKind::terminate()).map_err(|e| DaemonError::Signal("SIGTERM", e))?;
        let mut int =
            signal(SignalKind::interrupt()).map_err(|e| DaemonError::Signal("SIGINT", e))?;
        let mut hup = signal(SignalKind::hangup()).map_err(|e| DaemonError::Signal("SIGHUP", e))?;
        let notifier = self.notifier.clone();
        let on_reload = hooks.on_reload.clone();
        let reload_task = tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: rescanning");
                notifier.reloading();
                on_reload();
                notifier.ready("reloaded");
            }
        });
        let stop = async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            }
        };
        let result = self.run_until(hooks, stop).await;
        reload_task.abort();
        result
    }

    /// Serves until `stop` resolves (or a listener fails), then shuts down in order.
    pub async fn run_until(
        self,
        hooks: Hooks,
        stop: impl Future<Output = ()>,
    ) -> Result<(), DaemonError> {
        let Daemon {
            config,
            store,
            public,
            admin: admin_listener,
            notifier,
            webhook_metrics,
            shutdown_tx,
        } = self;
        let public_state = PublicState {
            store: store.clone(),
            routes: hooks.routes.clone(),
            ready: hooks.ready.clone(),
            metrics: webhook_metrics.clone(),
            limits: config.limits.clone(),
            draining: Default::default(),
        };
        let mut admin_state = AdminState::new(store.clone(), hooks.ready.clone(), webhook_metrics);
        if let Some(status) = hooks.status.clone() {
            admin_state.status = status;
        }
        if let Some(reconcile) = hooks.reconcile.clone() {
            admin_state.reconcile = reconcile;
        }
        if let Some(runs) = hooks.sync_runs.clone() {
            admin_state.sync_runs = runs;
        }
        admin_state.public_addr = public.local_addr().ok();
        admin_state.extra_metrics = hooks.extra_metrics.clone();
        admin_state.api_routes.extend(hooks.workspace_api.clone());
        admin_state.token = config.admin_token.clone();
        // The admin API answers small local requests; slow clients get the same cut-offs.
        admin_state.limits = Limits {
            max_body_bytes: 64 * 1024,
            ..config.limits.clone()
        };

        let until_shutdown = |tx: &watch::Sender<bool>| {
            let mut rx = tx.subscribe();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let mut public_task: JoinHandle<std::io::Result<()>> = tokio::spawn(public::serve(
            public,
            public_state,
            until_shutdown(&shutdown_tx),
        ));
        let mut admin_task: JoinHandle<Result<(), AdminError>> = tokio::spawn(admin::serve(
            admin_listener,
            admin_state,
            until_shutdown(&shutdown_tx),
        ));
        let ready_task = tokio::spawn(announce_ready(hooks.ready.clone(), notifier.clone()));
        let watchdog_task = notify::watchdog_interval().map(|every| {
            let notifier = notifier.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    notifier.watchdog();
                }
            })
        });

        // Which listener ended on its own (its handle is spent), and how.
        let mut failure: Option<(&'static str, Result<(), DaemonError>)> = None;
        tokio::select! {
            _ = stop => {}
            res = &mut public_task => failure = Some(("public", listener_failure("public", res.map(|r| r.map_err(DaemonError::from_public))))),
            res = &mut admin_task => failure = Some(("admin", listener_failure("admin", res.map(|r| r.map_err(DaemonError::Admin))))),
        }
        if let Some((what, Err(e))) = &failure {
            tracing::error!(error = %e, "the {what} listener stopped; shutting down");
        }

        // Shutdown, in order, all within the deadline.
        notifier.stopping();
        let deadline = tokio::time::Instant::now() + config.shutdown_timeout;
        let _ = shutdown_tx.send(true);
        let ended = failure.as_ref().map(|(what, _)| *what);
        let drained = tokio::time::timeout_at(deadline, async {
            if ended != Some("public") {
                let _ = (&mut public_task).await;
            }
            if ended != Some("admin") {
                let _ = (&mut admin_task).await;
            }
        })
        .await;
        if drained.is_err() {
            public_task.abort();
            admin_task.abort();
        }
        if let Some(drain) = hooks.drain {
            if tokio::time::timeout_at(deadline, drain).await.is_err() {
                tracing::warn!("background work did not finish before the shutdown deadline");
            }
        }
        ready_task.abort();
        if let Some(t) = watchdog_task {
            t.abort();
        }
        match tokio::time::timeout_at(deadline, store.close()).await {
            Ok(Ok(())) => tracing::info!("store closed cleanly"),
            Ok(Err(e)) => tracing::error!(error = %e, "closing the store failed"),
            Err(_) => return Err(DaemonError::ShutdownTimedOut(config.shutdown_timeout)),
        }
        match failure {
            Some((_, Err(e))) => Err(e),
            _ => Ok(()),
        }
    }
}

impl DaemonError {
    fn from_public(source: std::io::Error) -> Self {
        DaemonError::Listener {
            what: "public",
            source,
        }
    }
}

fn listener_failure(
    what: &'static str,
    joined: Result<Result<(), DaemonError>, tokio::task::JoinError>,
) -> Result<(), DaemonError> {
    match joined {
        Ok(r) => r,
        Err(e) => Err(DaemonError::Listener {
            what,
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

async fn bind(what: &'static str, addr: &str) -> Result<TcpListener, DaemonError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| DaemonError::Bind {
            what,
            addr: addr.to_string(),
            source,
        })?;
    if let Ok(local) = listener.local_addr() {
        tracing::info!(%local, "{what} listener bound");
    }
    Ok(listener)
}

/// Sends `READY=1` the first time readiness becomes true: systemd then considers the start
/// complete, so it must not happen before the first manifest snapshot is applied.
async fn announce_ready(mut ready: watch::Receiver<bool>, notifier: Notifier) {
    if ready.wait_for(|r| *r).await.is_ok() {
        tracing::info!("ready");
        notifier.ready("serving");
    }
}

/// Starts and runs the daemon in one call, for callers whose hooks do not need the store.
/// The controller does: it calls [`Daemon::start`], builds itself on [`Daemon::store`], then
/// [`Daemon::run`].
pub async fn run(config: DaemonConfig, hooks: Hooks) -> Result<(), DaemonError> {
    Daemon::start(config).await?.run(hooks).await
}
