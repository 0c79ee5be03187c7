//! The reconcilers of the five manifest kinds and their [`Context`]: the desired state (last
//! good version of every resource) and what each Connection's reconcile established. What the
//! rest of the daemon needs from them (applied model, resolved checks, Jira clients, webhook
//! routes) they publish in [`crate::live`]. The generic machinery (queue, backoff, conditions)
//! is in `controller`; this module decides what "in line with the manifest" means for each kind.
//!
//! Architecture invariant: reconcilers are reason-blind. A snapshot, a secret rotation, a timer
//! or an API call only enqueues a key; every run re-reads the desired state and asks Jira again.

pub mod desired;
pub mod loops;
pub mod provenance;
pub mod secrets;
pub mod spec;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::controller::{ObjectRef, Outcome, ReconcileError, Reconciler, StatusBoard, WorkQueue};
use crate::jira::check::{check_connection, check_integration};
use crate::jira::{JiraClient, JiraError, WebhookSpec};
use crate::live::{LiveState, WebhookConnection, WebhookRoutes};
use crate::manifest::Kind;
use crate::secret::Secret;
use crate::store::Store;
use crate::sync::jobs::{JobObserver, JobRecord, JobState, Jobs};

pub use desired::{Changes, Desired};
pub use secrets::SecretResolver;

/// Events the guide asks to tick when creating the webhook by hand (Issue, Comment, Issue link,
/// Version, Worklog, Sprint); the same set is registered when tandem manages the webhook.
pub const WEBHOOK_EVENTS: [&str; 19] = [
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
    "issuelink_created",
    "issuelink_deleted",
    "jira:version_created",
    "jira:version_updated",
    "jira:version_deleted",
    "jira:version_released",
    "worklog_created",
    "worklog_updated",
    "worklog_deleted",
    "sprint_created",
    "sprint_started",
    "sprint_closed",
    "sprint_updated",
];

/// Store namespace: per connection, a fingerprint (never the value) of the webhook secret its
/// managed webhooks were last registered with.
const WEBHOOK_SECRETS_NS: &str = "webhook-secrets";

/// How soon a connection whose webhook Jira refused tries again.
const WEBHOOK_RETRY: std::time::Duration = std::time::Duration::from_secs(60);

/// Name prefix of the admin webhooks tandem manages, so it never touches anyone else's.
const MANAGED_WEBHOOK_PREFIX: &str = "tandem ";

/// What a Connection's last successful reconcile established.
struct LiveConnection {
    /// Also published in [`LiveState`] for the engine and jobs; kept here to reuse it while
    /// the spec is unchanged and to clean up with it on disconnect.
    client: Arc<JiraClient>,
    digest: String,
    webhook_secret: Option<Secret>,
    /// The public URL webhooks were registered under, to clean them up on disconnect.
    webhook_public_url: Option<String>,
    /// Fingerprint of the secret files as they were just before this version resolved them;
    /// the rotation poller compares against it, so a file changed at any moment after that is
    /// noticed (see `runtime::poll_secrets`).
    secrets_fingerprint: String,
    /// Whether the last connection check passed. The status board lags a reconcile by a
    /// moment; integrations read this instead so a connection that just failed stops them.
    healthy: bool,
}

/// What the reconcilers are given (kube-rs' `Context`): everything is passed in by the
/// composition root (`crate::app`), nothing is attached later. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

/// The parts a [`Context`] is built from.
pub struct ContextParts {
    /// Where the applied model, resolved checks, clients and routes are published.
    pub live: LiveState,
    pub board: StatusBoard,
    pub store: Store,
    pub secrets: SecretResolver,
    /// The controller's queue, made before the controller so reconcilers can requeue others.
    pub queue: WorkQueue<ObjectRef>,
    /// The one-time sync jobs the SyncJob reconciler starts and reports.
    pub jobs: Jobs,
    /// How long a Ready resource waits before the next check against Jira.
    pub recheck: Duration,
}

struct Inner {
    /// The desired state with its diagnostics; its model is also published in `live`.
    desired: RwLock<Desired>,
    live: LiveState,
    board: StatusBoard,
    store: Store,
    secrets: SecretResolver,
    connections: Mutex<HashMap<String, LiveConnection>>,
    queue: WorkQueue<ObjectRef>,
    jobs: Jobs,
    recheck: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Context {
    pub fn new(parts: ContextParts) -> Self {
        Context {
            inner: Arc::new(Inner {
                desired: RwLock::new(Desired::default()),
                live: parts.live,
                board: parts.board,
                store: parts.store,
                secrets: parts.secrets,
                connections: Mutex::new(HashMap::new()),
                queue: parts.queue,
                jobs: parts.jobs,
                recheck: parts.recheck,
            }),
        }
    }

    /// Re-checks the integrations that use `kind/name` when a new version of it is about to be
    /// observed. An integration's own digest does not change when its Connection, Workspace or
    /// FieldMapping does, yet what it is checked against (client, URL, hierarchy, fields, the
    /// webhook URL it shows) did; without this it would stay Ready on stale checks until its
    /// periodic recheck. The first version needs nothing: dependents waiting for it are woken
    /// when it becomes Ready.
    fn requeue_dependents(&self, kind: Kind, name: &str, digest: &str) {
        let observed = self
            .inner
            .board
            .get(kind.as_str(), name)
            .and_then(|s| s.observed_digest);
        if observed.is_none() || observed.as_deref() == Some(digest) {
            return;
        }
        self.requeue_integrations_of(kind, name);
    }

    /// Queues every integration that uses `kind/name`.
    fn requeue_integrations_of(&self, kind: Kind, name: &str) {
        for pi in self.desired().model.integrations.values() {
            let uses = match kind {
                Kind::Connection => pi.connection == name,
                Kind::Workspace => pi.workspace == name,
                Kind::FieldMapping => pi.field_mapping.as_deref() == Some(name),
                Kind::ProjectIntegration | Kind::SyncJob => false,
            };
            if uses {
                self.inner.queue.enqueue(ObjectRef::new(
                    Kind::ProjectIntegration.as_str(),
                    pi.name.clone(),
                ));
            }
        }
    }

    pub fn board(&self) -> &StatusBoard {
        &self.inner.board
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn secrets(&self) -> &SecretResolver {
        &self.inner.secrets
    }

    /// A copy of the current desired state.
    pub fn desired(&self) -> Desired {
        self.inner
            .desired
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the desired state (after a snapshot was applied), publishes its model and
    /// republishes the routes.
    pub fn set_desired(&self, desired: Desired) {
        let model = desired.model.clone();
        *self
            .inner
            .desired
            .write()
            .unwrap_or_else(|e| e.into_inner()) = desired;
        self.inner.live.set_model(model);
        self.publish_routes();
    }

    /// Rebuilds the webhook routing table: every workspace id maps to the connections of the
    /// integrations that use it. A connection is routable once its secrets resolved.
    fn publish_routes(&self) {
        let desired = self.desired();
        let live = lock(&self.inner.connections);
        let mut routes = WebhookRoutes::default();
        for pi in desired.model.integrations.values() {
            let (Some(ws), Some(conn)) = (
                desired.model.workspaces.get(&pi.workspace),
                desired.model.connections.get(&pi.connection),
            ) else {
                continue;
            };
            let Some(l) = live.get(&conn.name) else {
                continue;
            };
            let entry = routes.workspaces.entry(ws.id.clone()).or_default();
            if !entry.iter().any(|c| c.name == conn.name) {
                entry.push(WebhookConnection {
                    name: conn.name.clone(),
                    base_url: conn.url.clone(),
                    self_url: conn.self_url.clone(),
                    secret: l.webhook_secret.clone(),
                });
            }
        }
        drop(live);
        self.inner.live.set_routes(routes);
    }

    /// The secrets fingerprint the connection's current client and webhook secret were built
    /// from, if its secrets ever resolved.
    pub fn secrets_fingerprint(&self, connection: &str) -> Option<String> {
        lock(&self.inner.connections)
            .get(connection)
            .map(|l| l.secrets_fingerprint.clone())
    }

    async fn reconcile_connection(&self, name: &str) -> Result<Outcome, ReconcileError> {
        let Some(conn) = self.desired().model.connections.get(name).cloned() else {
            return self.disconnect(name).await;
        };
        let secrets = self.inner.secrets.clone();
        let c2 = conn.clone();
        let resolved = tokio::task::spawn_blocking(move || {
            // Taken before reading: a rotation racing with this read at worst costs one more
            // reconcile, never a missed one.
            let fingerprint = secrets.fingerprint(spec::secret_refs(&c2));
            let creds = spec::credentials(&c2, &secrets)?;
            let webhook = c2
                .webhook_secret
                .as_ref()
                .map(|r| secrets.resolve(r).map(Secret::new))
                .transpose()?;
            Ok::<_, secrets::SecretError>((creds, webhook, fingerprint))
        })
        .await
        .map_err(|e| ReconcileError::transient("InternalError", e.to_string()))?;
        let (creds, webhook_secret, secrets_fingerprint) =
            resolved.map_err(|e| ReconcileError::transient("SecretUnavailable", e.to_string()))?;

        // Reuse the client while the spec is unchanged (it keeps its rate limiter and learned
        // dialect); rotated credentials are swapped in place.
        let existing = lock(&self.inner.connections)
            .get(name)
            .filter(|l| l.digest == conn.digest)
            .map(|l| l.client.clone());
        let client = match existing {
            Some(client) => {
                client.set_credentials(creds);
                client
            }
            None => Arc::new(
                JiraClient::new(spec::jira_config(&conn, creds))
                    .map_err(|e| ReconcileError::terminal("InvalidConnection", e.to_string()))?,
            ),
        };
        let checked = check_connection(&client).await;
        // Routes work even while Jira is down: webhooks are stored and processed later.
        self.inner.live.set_client(name, client.clone());
        lock(&self.inner.connections).insert(
            name.to_owned(),
            LiveConnection {
                client: client.clone(),
                digest: conn.digest.clone(),
                webhook_secret: webhook_secret.clone(),
                webhook_public_url: conn.webhook_public_url.clone(),
                secrets_fingerprint,
                healthy: checked.is_ok(),
            },
        );
        self.publish_routes();
        if checked.is_err() && self.inner.board.is_ready(Kind::Connection.as_str(), name) {
            // Ready → failing: its integrations must stop showing Ready on the old check.
            self.requeue_integrations_of(Kind::Connection, name);
        }
        let info = checked.map_err(|e| ReconcileError::transient(e.reason(), e.to_string()))?;

        // A webhook Jira will not take (tandem's user is no Jira administrator, Jira refuses
        // the URL) does not stop the connection: the integrations sync by the resync sweep
        // until a later check registers it, and status says so.
        let mut webhook_failed = None;
        let webhook = match &conn.webhook_public_url {
            Some(public) => match self
                .ensure_webhooks(&client, name, public, webhook_secret)
                .await
            {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(connection = name, error = %e, "cannot register the Jira webhook; syncing by the resync sweep only");
                    let text = format!(
                        "registration failed ({e}); changes in Jira arrive only by the resync sweep until it succeeds"
                    );
                    webhook_failed = Some(text.clone());
                    text
                }
            },
            None => "webhook not managed: create it in Jira (see status for the URL)".to_owned(),
        };
        self.inner.board.set_details(
            Kind::Connection.as_str(),
            name,
            serde_json::json!({
                "displayName": conn.display_name,
                "url": conn.url,
                "deployment": info.deployment,
                "serverTitle": info.server_title,
                "version": info.version,
                "user": info.user_display_name,
                "webhookRegistration": webhook,
            }),
        );
        self.requeue_dependents(Kind::Connection, name, &conn.digest);
        if let Some(why) = webhook_failed {
            return Ok(Outcome::ready()
                .with_reason("WebhookRegistrationFailed")
                .with_message(format!(
                    "connected to {} as {}, but the webhook: {why}",
                    info.server_title.as_deref().unwrap_or(&conn.url),
                    info.user_display_name
                ))
                .with_digest(conn.digest)
                .requeue_after(self.inner.recheck.min(WEBHOOK_RETRY)));
        }
        Ok(Outcome::ready()
            .with_reason("Connected")
            .with_message(format!(
                "connected to {} ({}) as {}",
                info.server_title.as_deref().unwrap_or(&conn.url),
                info.deployment.label(),
                info.user_display_name
            ))
            .with_digest(conn.digest)
            .requeue_after(self.inner.recheck))
    }

    /// The webhook URL Jira should call for a workspace.
    pub fn webhook_url(public_base: &str, workspace_id: &str) -> String {
        format!(
            "{}/webhooks/jira/{workspace_id}",
            public_base.trim_end_matches('/')
        )
    }

    /// Registers (or repairs) one admin webhook per workspace this connection serves, and
    /// removes managed webhooks of workspaces it no longer serves.
    async fn ensure_webhooks(
        &self,
        client: &JiraClient,
        connection: &str,
        public: &str,
        secret: Option<Secret>,
    ) -> Result<String, JiraError> {
        let desired = self.desired();
        let mut wanted: Vec<WebhookSpec> = Vec::new();
        for pi in desired.model.integrations.values() {
            if pi.connection != connection {
                continue;
            }
            let Some(ws) = desired.model.workspaces.get(&pi.workspace) else {
                continue;
            };
            let name = format!("{MANAGED_WEBHOOK_PREFIX}{connection} {}", ws.id);
            if wanted.iter().any(|w| w.name == name) {
                continue;
            }
            wanted.push(WebhookSpec {
                name,
                url: Self::webhook_url(public, &ws.id),
                events: WEBHOOK_EVENTS.iter().map(|e| e.to_string()).collect(),
                filters: Default::default(),
                exclude_body: false,
                secret: secret.as_ref().cloned(),
            });
        }
        // Jira never shows a webhook's secret, so a rotated secret is noticed by comparing a
        // fingerprint of the one last registered (kept in the store) with the current one; the
        // webhooks then get the new secret, or Jira would go on signing with the old.
        let fingerprint = secret.as_ref().map(|s| {
            use sha2::Digest as _;
            let mut h = sha2::Sha256::new();
            h.update(b"tandem webhook secret\0");
            h.update(s.expose().as_bytes());
            hex::encode(h.finalize())
        });
        let registered = self
            .inner
            .store
            .get_kv(WEBHOOK_SECRETS_NS, connection)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let rotated = registered != fingerprint;
        let existing = client.webhooks().await?;
        let prefix = format!("{MANAGED_WEBHOOK_PREFIX}{connection} ");
        let (mut created, mut repaired, mut removed) = (0, 0, 0);
        for spec in &wanted {
            match existing.iter().find(|w| w.name == spec.name) {
                None => {
                    client.create_webhook(spec).await?;
                    created += 1;
                }
                Some(w) => {
                    let mut have = w.events.clone();
                    have.sort();
                    let mut want = spec.events.clone();
                    want.sort();
                    if w.url != spec.url || have != want || w.enabled == Some(false) || rotated {
                        if let Some(id) = w.id() {
                            client.update_webhook(&id, spec).await?;
                            repaired += 1;
                        }
                    }
                }
            }
        }
        for w in &existing {
            if w.name.starts_with(&prefix) && !wanted.iter().any(|s| s.name == w.name) {
                if let Some(id) = w.id() {
                    client.delete_webhook(&id).await?;
                    removed += 1;
                }
            }
        }
        if rotated {
            let stored = match &fingerprint {
                Some(f) => {
                    self.inner
                        .store
                        .put_kv(WEBHOOK_SECRETS_NS, connection, f.as_bytes().to_vec())
                        .await
                }
                None => self
                    .inner
                    .store
                    .delete_kv(WEBHOOK_SECRETS_NS, connection)
                    .await
                    .map(|_| ()),
            };
            if let Err(e) = stored {
                tracing::warn!(connection, error = %e, "cannot record the webhook secret's fingerprint; the webhooks are updated again next time");
            }
        }
        Ok(format!(
            "managed: {} webhook(s) ({created} created, {repaired} repaired, {removed} removed)",
            wanted.len()
        ))
    }

    /// The Connection manifest is gone: stop using it, drop every link of its integrations
    /// (the guide: re-adding it does not restore them) and remove the webhooks tandem made.
    async fn disconnect(&self, name: &str) -> Result<Outcome, ReconcileError> {
        let live = lock(&self.inner.connections).remove(name);
        self.inner.live.remove_client(name);
        if let Some(l) = &live {
            if l.webhook_public_url.is_some() {
                let prefix = format!("{MANAGED_WEBHOOK_PREFIX}{name} ");
                match l.client.webhooks().await {
                    Ok(hooks) => {
                        for w in hooks.iter().filter(|w| w.name.starts_with(&prefix)) {
                            if let Some(id) = w.id() {
                                if let Err(e) = l.client.delete_webhook(&id).await {
                                    tracing::warn!(connection = name, error = %e, "could not remove a managed webhook");
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(connection = name, error = %e, "could not list webhooks to remove")
                    }
                }
            }
        }
        self.publish_routes();
        let store = &self.inner.store;
        let dropped = store
            .remove_links_of_connection(name)
            .await
            .map_err(|e| ReconcileError::transient("StoreError", e.to_string()))?;
        store
            .reset_webhook_state(name)
            .await
            .map_err(|e| ReconcileError::transient("StoreError", e.to_string()))?;
        tracing::info!(connection = name, links = dropped, "disconnected");
        Ok(Outcome::removed())
    }

    async fn reconcile_integration(&self, name: &str) -> Result<Outcome, ReconcileError> {
        let desired = self.desired();
        let Some(pi) = desired.model.integrations.get(name).cloned() else {
            let dropped = self
                .inner
                .store
                .remove_links_of_integration(name)
                .await
                .map_err(|e| ReconcileError::transient("StoreError", e.to_string()))?;
            tracing::info!(integration = name, links = dropped, "integration removed");
            return Ok(Outcome::removed());
        };
        let board = &self.inner.board;
        board.require_ready(Kind::Workspace.as_str(), &pi.workspace)?;
        board.require_ready(Kind::Connection.as_str(), &pi.connection)?;
        let healthy = lock(&self.inner.connections)
            .get(&pi.connection)
            .is_some_and(|l| l.healthy);
        if !healthy {
            return Err(ReconcileError::DependencyNotReady {
                message: format!("Connection/{} failed its last check", pi.connection),
            });
        }
        if let Some(fm) = &pi.field_mapping {
            board.require_ready(Kind::FieldMapping.as_str(), fm)?;
        }
        let links = self.inner.store.count_links(name).unwrap_or(0);
        if pi.suspend {
            return Ok(Outcome::ready()
                .with_reason("Suspended")
                .with_message("suspended: nothing is synced until `suspend` is removed")
                .with_digest(pi.digest.clone()));
        }
        let ws = desired.model.workspaces.get(&pi.workspace).ok_or_else(|| {
            ReconcileError::DependencyNotReady {
                message: format!("Workspace/{} does not exist", pi.workspace),
            }
        })?;
        let fm = pi
            .field_mapping
            .as_ref()
            .and_then(|n| desired.model.field_mappings.get(n));
        let client = self.inner.live.client(&pi.connection).ok_or_else(|| {
            ReconcileError::DependencyNotReady {
                message: format!("Connection/{} has no client yet", pi.connection),
            }
        })?;
        let spec = spec::integration_spec(&pi, ws, fm);
        let report = check_integration(&client, &spec)
            .await
            .map_err(|e| ReconcileError::transient(e.reason(), e.to_string()))?;
        let webhook_url = desired
            .model
            .connections
            .get(&pi.connection)
            .and_then(|c| c.webhook_public_url.as_deref())
            .map(|p| Self::webhook_url(p, &ws.id));
        board.set_details(
            Kind::ProjectIntegration.as_str(),
            name,
            serde_json::json!({
                "displayName": pi.display_name,
                "project": pi.project,
                "links": links,
                "lastSync": null,
                "failures": report.failures,
                "warnings": report.warnings,
                "webhookUrl": webhook_url,
            }),
        );
        if !report.is_ok() {
            let text = report
                .failures
                .iter()
                .map(|f| format!("{}: {} ({})", f.pair, f.message, f.hint))
                .collect::<Vec<_>>()
                .join("; ");
            // Jira may be fixed rather than the manifest: retried with backoff, not parked.
            return Err(ReconcileError::transient("JiraMismatch", text));
        }
        self.inner.live.set_resolved(name, report.resolved.clone());
        Ok(Outcome::ready()
            .with_reason("Checked")
            .with_message(format!(
                "project {}: {} types, {} statuses, {} fields checked{}",
                pi.project,
                spec.types.len(),
                spec.statuses.len(),
                spec.fields.len(),
                match report.warnings.len() {
                    0 => String::new(),
                    n => format!("; {n} warning(s): {}", report.warnings[0].message),
                }
            ))
            .with_digest(pi.digest)
            .requeue_after(self.inner.recheck))
    }

    fn reconcile_plain(&self, key: &ObjectRef) -> Result<Outcome, ReconcileError> {
        let desired = self.desired();
        match desired.digest(key) {
            Some(d) => {
                if let Some(kind) = Kind::parse(&key.kind) {
                    self.requeue_dependents(kind, &key.name, d);
                }
                Ok(Outcome::ready().with_digest(d))
            }
            None => Ok(Outcome::removed()),
        }
    }

    /// A SyncJob runs once per spec digest: the first reconcile of a digest starts its job
    /// (or finds it resumed after a restart), later ones report how it stands. The job wakes
    /// this key when it finishes.
    async fn reconcile_job(&self, name: &str) -> Result<Outcome, ReconcileError> {
        let desired = self.desired();
        let Some(job) = desired.model.sync_jobs.get(name).cloned() else {
            return Ok(Outcome::removed());
        };
        let jobs = &self.inner.jobs;
        let record = match jobs.manifest_job(&job) {
            Ok(Some(r)) => r,
            Ok(None) => {
                self.inner
                    .board
                    .require_ready(Kind::ProjectIntegration.as_str(), &job.integration)?;
                jobs.start_manifest_job(&job)
                    .await
                    .map_err(|e| ReconcileError::transient(e.reason(), e.to_string()))?
            }
            Err(e) => return Err(ReconcileError::transient(e.reason(), e.to_string())),
        };
        self.inner.board.set_details(
            Kind::SyncJob.as_str(),
            name,
            serde_json::to_value(&record).unwrap_or_default(),
        );
        match record.state {
            JobState::Completed => Ok(Outcome::ready()
                .with_reason("Completed")
                .with_message(record.summary())
                .with_digest(job.digest)),
            JobState::Failed => Err(ReconcileError::terminal("Failed", record.summary())),
            JobState::Running => Err(ReconcileError::transient("Running", record.summary())),
        }
    }
}

/// The controller's reconciler: dispatches on the key's kind.
pub struct ResourceReconciler(pub Context);

impl Reconciler<ObjectRef> for ResourceReconciler {
    async fn reconcile(&self, key: &ObjectRef) -> Result<Outcome, ReconcileError> {
        let r = &self.0;
        match Kind::parse(&key.kind) {
            Some(Kind::Connection) => r.reconcile_connection(&key.name).await,
            Some(Kind::ProjectIntegration) => r.reconcile_integration(&key.name).await,
            Some(Kind::SyncJob) => r.reconcile_job(&key.name).await,
            Some(Kind::Workspace | Kind::FieldMapping) => r.reconcile_plain(key),
            None => Err(ReconcileError::terminal(
                "UnknownKind",
                format!("no reconciler for kind {}", key.kind),
            )),
        }
    }
}

/// Shows a running job of a SyncJob manifest in that SyncJob's status and wakes its reconciler
/// when the job ends: what the job runner reports, put where the controller keeps it.
pub struct SyncJobStatus {
    pub board: StatusBoard,
    pub queue: WorkQueue<ObjectRef>,
}

impl JobObserver for SyncJobStatus {
    fn progress(&self, manifest: &str, record: &JobRecord) {
        self.board.set_details(
            Kind::SyncJob.as_str(),
            manifest,
            serde_json::to_value(record).unwrap_or_default(),
        );
    }

    fn finished(&self, manifest: &str) {
        self.queue
            .enqueue(ObjectRef::new(Kind::SyncJob.as_str(), manifest));
    }
}
