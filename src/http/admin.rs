//! The admin listener: `/healthz`, `/readyz`, `/metrics`, `/api/v1/status` and
//! `POST /api/v1/reconcile/{kind}/{name}`. It is how the CLI (`tandem status`, `tandem plan`)
//! and operators talk to the daemon.
//!
//! What the status document says and what "reconcile now" does belong to the controller; this
//! module only serves them, through [`StatusSource`] and [`ReconcileHandler`]. Larger route groups
//! (the workspace API, `super::workspace_api`) plug in as [`ApiRoutes`]: this module still
//! authenticates, reads the body within its limits and decodes the path for them.
//!
//! Architecture invariant: bound to loopback unless a bearer token is configured, and when a
//! token is configured every route except the probes requires it.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::metrics::{render_store, render_webhook_states, WebhookMetrics};
use super::page::{self, Page, Totals};
use super::server::{self, BodyError, Draining, Limits};
use super::{html_response, json_error, json_response, probe, text_response, Body, Secret};
use crate::store::Store;

/// Produces the `/api/v1/status` document. Called on every request, so it should read a
/// snapshot rather than do work.
pub trait StatusSource: Send + Sync {
    fn status(&self) -> serde_json::Value;
}

impl<F> StatusSource for F
where
    F: Fn() -> serde_json::Value + Send + Sync,
{
    fn status(&self) -> serde_json::Value {
        self()
    }
}

/// Why a reconcile request was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReconcileError {
    /// No resource of that kind and name: 404.
    #[error("{0}")]
    NotFound(String),
    /// Anything else: 503 (the controller is not running yet or is stopping).
    #[error("{0}")]
    Unavailable(String),
}

/// Handles "reconcile now". It should only enqueue the key (reconcilers are reason-blind), so it
/// is synchronous.
pub trait ReconcileHandler: Send + Sync {
    fn reconcile(&self, kind: &str, name: &str) -> Result<(), ReconcileError>;
}

impl<F> ReconcileHandler for F
where
    F: Fn(&str, &str) -> Result<(), ReconcileError> + Send + Sync,
{
    fn reconcile(&self, kind: &str, name: &str) -> Result<(), ReconcileError> {
        self(kind, name)
    }
}

/// Extra Prometheus text appended to `/metrics` (controller and sync counters).
pub trait MetricsSource: Send + Sync {
    fn render(&self, out: &mut String);
}

/// A request for a group of API routes served by another module, with its body already read
/// within the admin listener's limits.
#[derive(Debug)]
pub struct ApiRequest {
    pub method: Method,
    /// Path segments, percent-decoded (`/api/v1/workspaces/acme/items` → `api`, `v1`, ...).
    pub segments: Vec<String>,
    /// The raw query string, if any.
    pub query: Option<String>,
    pub headers: hyper::HeaderMap,
    pub body: bytes::Bytes,
}

/// A group of admin API routes owned by another module (the workspace API, later sync jobs):
/// the admin listener keeps authentication, limits and the error shape; the group answers.
pub trait ApiRoutes: Send + Sync {
    /// Whether the (still encoded) path segments belong to this group.
    fn claims(&self, segments: &[&str]) -> bool;
    fn handle(&self, req: ApiRequest) -> Pin<Box<dyn Future<Output = Response<Body>> + Send + '_>>;
}

/// Several route groups served through one hook: the first group that claims a path answers.
pub struct RouteGroups(pub Vec<Arc<dyn ApiRoutes>>);

impl ApiRoutes for RouteGroups {
    fn claims(&self, segments: &[&str]) -> bool {
        self.0.iter().any(|g| g.claims(segments))
    }

    fn handle(&self, req: ApiRequest) -> Pin<Box<dyn Future<Output = Response<Body>> + Send + '_>> {
        let segments: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        match self.0.iter().find(|g| g.claims(&segments)) {
            Some(group) => group.handle(req),
            None => Box::pin(async { json_error(StatusCode::NOT_FOUND, "no such route") }),
        }
    }
}

/// Everything the admin listener needs.
#[derive(Clone)]
pub struct AdminState {
    pub store: Store,
    pub ready: watch::Receiver<bool>,
    pub status: Arc<dyn StatusSource>,
    pub reconcile: Arc<dyn ReconcileHandler>,
    pub webhook_metrics: Arc<WebhookMetrics>,
    pub extra_metrics: Vec<Arc<dyn MetricsSource>>,
    /// Route groups tried, in order, for paths the listener does not serve itself.
    pub api_routes: Vec<Arc<dyn ApiRoutes>>,
    /// Bearer token required on every route but the probes; required to bind off loopback.
    pub token: Option<Secret>,
    pub limits: Limits,
    /// Sync runs so far, for the status page's activity chart.
    pub sync_runs: Arc<dyn Fn() -> u64 + Send + Sync>,
    /// Where the public (webhook) listener is bound, for the page's manual webhook URL.
    pub public_addr: Option<SocketAddr>,
    /// The status page (`/`, `/live`): activity ring and render cache.
    pub page: Arc<Page>,
}

impl AdminState {
    /// A state whose status lists the store's webhook state and whose reconcile answers 503:
    /// what the daemon serves before the controller is wired in.
    pub fn new(
        store: Store,
        ready: watch::Receiver<bool>,
        webhook_metrics: Arc<WebhookMetrics>,
    ) -> Self {
        let status_store = store.clone();
        AdminState {
            store,
            ready,
            status: Arc::new(move || store_status(&status_store)),
            reconcile: Arc::new(|_: &str, _: &str| {
                Err(ReconcileError::Unavailable(
                    "no controller is running in this daemon".to_string(),
                ))
            }),
            webhook_metrics,
            extra_metrics: Vec::new(),
            api_routes: Vec::new(),
            token: None,
            limits: Limits::default(),
            sync_runs: Arc::new(|| 0),
            public_addr: None,
            page: Arc::new(Page::default()),
        }
    }

    fn totals(&self) -> Totals {
        Totals {
            webhooks: self.webhook_metrics.stored_count(),
            runs: (self.sync_runs)(),
        }
    }

    fn page_live(&self) -> std::sync::Arc<str> {
        self.page
            .live(|| self.status.status(), || self.totals(), self.public_addr)
    }
}

/// The webhook part of the status document, from the store: per connection `connected` with
/// count and last event time. Connections without events are `waiting`; only the controller
/// knows them, so it merges this with its own resource list.
pub fn store_status(store: &Store) -> serde_json::Value {
    match store.webhook_states() {
        Ok(states) => serde_json::json!({
            "resources": [],
            "webhooks": states.iter().map(|s| serde_json::json!({
                "connection": s.connection,
                "state": "connected",
                "count": s.count,
                "lastEventTime": s.last_event_at.to_rfc3339(),
            })).collect::<Vec<_>>(),
        }),
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    }
}

/// Errors that keep the admin listener from starting.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "refusing to serve the admin API on {addr}, which is not a loopback address, without a \
         bearer token; set TANDEM_ADMIN_TOKEN_FILE to a file holding the token (or provide the \
         `admin-token` systemd credential), or bind --admin (TANDEM_ADMIN) to a loopback address \
         such as 127.0.0.1:8687"
    )]
    TokenRequired { addr: SocketAddr },
    #[error("admin listener failed")]
    Io(#[from] std::io::Error),
}

/// Refuses a non-loopback admin address unless a token protects it.
pub fn check_bind(addr: SocketAddr, token: Option<&Secret>) -> Result<(), AdminError> {
    if addr.ip().is_loopback() || token.is_some_and(|t| !t.expose().is_empty()) {
        Ok(())
    } else {
        Err(AdminError::TokenRequired { addr })
    }
}

/// [`check_bind`] on the configured address, before anything is opened or bound, so a refused
/// start leaves no trace (no state file created). An address that does not resolve is left to
/// the bind to report; [`check_bind`] still runs on the bound address.
pub async fn check_admin_address(addr: &str, token: Option<&Secret>) -> Result<(), AdminError> {
    let Ok(addrs) = tokio::net::lookup_host(addr).await else {
        return Ok(());
    };
    for addr in addrs {
        check_bind(addr, token)?;
    }
    Ok(())
}

/// Serves the admin listener until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AdminError> {
    check_bind(listener.local_addr()?, state.token.as_ref())?;
    let limits = state.limits.clone();
    let state = Arc::new(state);
    // The activity chart's sampler: reads two counters every few seconds, nothing more.
    let sampler = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(page::SAMPLE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                state.page.sample(state.totals());
            }
        })
    };
    let served = server::serve(
        listener,
        limits,
        Draining::default(),
        move |req| {
            let state = state.clone();
            async move { handle(&state, req).await }
        },
        shutdown,
    )
    .await;
    sampler.abort();
    served?;
    Ok(())
}

async fn handle(state: &AdminState, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    if req.method() == Method::GET {
        if let Some(resp) = probe(&path, &state.ready, &state.store) {
            return resp;
        }
    }
    if let Some(token) = &state.token {
        let presented = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if !presented.is_some_and(|p| token.matches(p.as_bytes())) {
            let mut resp = json_error(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
            resp.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                hyper::header::HeaderValue::from_static("Bearer"),
            );
            return resp;
        }
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let Some(routes) = state.api_routes.iter().find(|r| r.claims(&segments)) {
        return route_to(routes.as_ref(), req, &segments, &state.limits).await;
    }
    match (req.method(), segments.as_slice()) {
        (&Method::GET, [""]) => {
            let live = state.page_live();
            html_response(StatusCode::OK, state.page.full(&live))
        }
        (&Method::GET, ["live"]) => html_response(
            StatusCode::OK,
            bytes::Bytes::from(state.page_live().to_string()),
        ),
        (&Method::GET, ["metrics"]) => {
            let mut out = String::new();
            state.webhook_metrics.render(&mut out);
            render_store(&state.store.stats(), &mut out);
            match state.store.webhook_states() {
                Ok(states) => render_webhook_states(&states, &mut out),
                Err(e) => tracing::warn!(error = %e, "cannot read webhook state for metrics"),
            }
            for extra in &state.extra_metrics {
                extra.render(&mut out);
            }
            let mut resp = text_response(StatusCode::OK, out);
            resp.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        }
        (&Method::GET, ["api", "v1", "status"]) => {
            json_response(StatusCode::OK, &state.status.status())
        }
        (&Method::POST, ["api", "v1", "reconcile", kind, name])
            if !kind.is_empty() && !name.is_empty() =>
        {
            match state.reconcile.reconcile(kind, name) {
                Ok(()) => json_response(
                    StatusCode::ACCEPTED,
                    &serde_json::json!({ "queued": { "kind": kind, "name": name } }),
                ),
                Err(ReconcileError::NotFound(m)) => json_error(StatusCode::NOT_FOUND, &m),
                Err(ReconcileError::Unavailable(m)) => {
                    json_error(StatusCode::SERVICE_UNAVAILABLE, &m)
                }
            }
        }
        (_, [""])
        | (_, ["live"])
        | (_, ["metrics"])
        | (_, ["api", "v1", "status"])
        | (_, ["api", "v1", "reconcile", _, _]) => json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed on this route",
        ),
        _ => json_error(StatusCode::NOT_FOUND, "no such route"),
    }
}

/// Reads the body within the listener's limits and hands the request to its route group.
async fn route_to(
    routes: &dyn ApiRoutes,
    req: Request<Incoming>,
    segments: &[&str],
    limits: &Limits,
) -> Response<Body> {
    let mut decoded = Vec::with_capacity(segments.len());
    for s in segments {
        match percent_encoding::percent_decode_str(s).decode_utf8() {
            Ok(d) => decoded.push(d.into_owned()),
            Err(_) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "the path is not valid percent-encoded UTF-8",
                )
            }
        }
    }
    let (parts, body) = req.into_parts();
    let body = match server::read_body(body, limits).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the body is larger than {} bytes", limits.max_body_bytes),
            )
        }
        Err(BodyError::Timeout) => {
            return json_error(StatusCode::REQUEST_TIMEOUT, "the body arrived too slowly")
        }
        Err(BodyError::Broken) => {
            return json_error(StatusCode::BAD_REQUEST, "the body could not be read")
        }
    };
    routes
        .handle(ApiRequest {
            method: parts.method,
            segments: decoded,
            query: parts.uri.query().map(str::to_string),
            headers: parts.headers,
            body,
        })
        .await
}
