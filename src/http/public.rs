//! The public listener, the only thing exposed to Jira: `POST /webhooks/jira/{workspaceId}`,
//! `GET /healthz`, `GET /readyz`.
//!
//! A webhook is answered 2xx only after [`Store::append_webhook`] has durably committed it, so
//! Jira retries anything we might have lost. Which connection sent it is learnt from the
//! payload's `self` URLs (matched against each connection's base URL) and proven by the
//! connection's secret: an `X-Hub-Signature: sha256=HMAC(body)` header, or a `?secret=` token
//! for instances that cannot sign.
//!
//! Architecture invariant: the routing table ([`crate::live::routes`]) is read from a watch
//! channel the Connection reconciler writes; this module never learns about manifests.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use hmac::{Hmac, Mac};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::metrics::{RejectReason, WebhookMetrics};
use super::server::{self, BodyError, Draining, Limits};
use super::{json_error, json_response, probe, Body, Secret};
use crate::store::{AppendOutcome, NewWebhookEvent, Store, StoreError};

/// Header Jira signs webhooks with (`sha256=<hex HMAC of the body>`).
pub const SIGNATURE_HEADER: &str = "x-hub-signature";
/// Header Jira repeats on every retry of one delivery.
pub const IDENTIFIER_HEADER: &str = "x-atlassian-webhook-identifier";

pub use crate::live::{WebhookConnection, WebhookRoutes};

/// Everything the public listener needs.
#[derive(Clone)]
pub struct PublicState {
    pub store: Store,
    pub routes: watch::Receiver<WebhookRoutes>,
    /// True once the store is open and the first manifest snapshot is applied.
    pub ready: watch::Receiver<bool>,
    pub metrics: Arc<WebhookMetrics>,
    pub limits: Limits,
    /// Set when shutdown starts; requests still arriving get 503 so Jira retries later.
    pub draining: Draining,
}

impl PublicState {
    pub fn new(
        store: Store,
        routes: watch::Receiver<WebhookRoutes>,
        ready: watch::Receiver<bool>,
    ) -> Self {
        PublicState {
            store,
            routes,
            ready,
            metrics: Arc::new(WebhookMetrics::default()),
            limits: Limits::default(),
            draining: Draining::default(),
        }
    }
}

/// Serves the public listener until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: PublicState,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let limits = state.limits.clone();
    let draining = state.draining.clone();
    let state = Arc::new(state);
    server::serve(
        listener,
        limits,
        draining,
        move |req| {
            let state = state.clone();
            async move { handle(&state, req).await }
        },
        shutdown,
    )
    .await
}

async fn handle(state: &PublicState, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    if req.method() == Method::GET {
        if let Some(resp) = probe(&path, &state.ready, &state.store) {
            return resp;
        }
    }
    let Some(workspace) = path.strip_prefix("/webhooks/jira/") else {
        return json_error(StatusCode::NOT_FOUND, "no such route");
    };
    if workspace.is_empty() || workspace.contains('/') {
        return json_error(StatusCode::NOT_FOUND, "no such route");
    }
    if req.method() != Method::POST {
        return json_error(StatusCode::METHOD_NOT_ALLOWED, "webhooks must be POSTed");
    }
    let workspace = workspace.to_string();
    state.metrics.received();
    let started = Instant::now();
    match receive(state, &workspace, req).await {
        Ok((outcome, connection)) => {
            let (status, seq) = match outcome {
                AppendOutcome::Stored { seq } => {
                    state.metrics.stored(started.elapsed());
                    ("stored", seq)
                }
                AppendOutcome::Duplicate { seq } => {
                    state.metrics.duplicate(started.elapsed());
                    tracing::debug!(%workspace, %connection, seq, "duplicate webhook acknowledged");
                    ("duplicate", seq)
                }
            };
            json_response(
                StatusCode::OK,
                &serde_json::json!({ "status": status, "seq": seq }),
            )
        }
        Err(rejection) => {
            state.metrics.rejected(rejection.reason);
            tracing::info!(
                %workspace,
                reason = rejection.message,
                status = rejection.status.as_u16(),
                "webhook refused"
            );
            json_error(rejection.status, rejection.message)
        }
    }
}

struct Rejection {
    status: StatusCode,
    reason: RejectReason,
    message: &'static str,
}

fn reject(status: StatusCode, reason: RejectReason, message: &'static str) -> Rejection {
    Rejection {
        status,
        reason,
        message,
    }
}

fn shutting_down() -> Rejection {
    reject(
        StatusCode::SERVICE_UNAVAILABLE,
        RejectReason::ShuttingDown,
        "tandem is shutting down; retry later",
    )
}

async fn receive(
    state: &PublicState,
    workspace: &str,
    req: Request<Incoming>,
) -> Result<(AppendOutcome, String), Rejection> {
    if state.draining.is_set() {
        return Err(shutting_down());
    }
    let known = state.routes.borrow().workspaces.get(workspace).cloned();
    let Some(connections) = known else {
        // Before the first manifest snapshot every workspace looks unknown; a 503 makes Jira
        // retry instead of dropping events sent during a restart.
        if !*state.ready.borrow() {
            return Err(reject(
                StatusCode::SERVICE_UNAVAILABLE,
                RejectReason::NotReady,
                "tandem is starting; retry later",
            ));
        }
        return Err(reject(
            StatusCode::NOT_FOUND,
            RejectReason::UnknownWorkspace,
            "unknown workspace",
        ));
    };
    let too_large = || {
        reject(
            StatusCode::PAYLOAD_TOO_LARGE,
            RejectReason::TooLarge,
            "request body too large",
        )
    };
    let declared_len = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|n| n > state.limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let signature = header_str(&req, SIGNATURE_HEADER).map(str::to_string);
    let identifier = header_str(&req, IDENTIFIER_HEADER).map(str::to_string);
    let token = req.uri().query().and_then(|q| query_param(q, "secret"));
    let body = server::read_body(req.into_body(), &state.limits)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => too_large(),
            BodyError::Timeout => reject(
                StatusCode::REQUEST_TIMEOUT,
                RejectReason::Timeout,
                "request body not received in time",
            ),
            BodyError::Broken => reject(
                StatusCode::BAD_REQUEST,
                RejectReason::Malformed,
                "request body could not be read",
            ),
        })?;
    if state.draining.is_set() {
        return Err(shutting_down());
    }
    let routed = route_webhook(
        &connections,
        &body,
        signature.as_deref(),
        token.as_deref(),
        identifier.as_deref(),
    )
    .map_err(|e| {
        let (status, reason) = match e {
            WebhookError::NotJson | WebhookError::NotAnObject => {
                (StatusCode::BAD_REQUEST, RejectReason::Malformed)
            }
            WebhookError::Unauthorized => (StatusCode::UNAUTHORIZED, RejectReason::Unauthorized),
        };
        reject(status, reason, e.message())
    })?;
    let RoutedWebhook {
        connection,
        identifier,
    } = routed;
    let event = NewWebhookEvent {
        received_at: chrono::Utc::now(),
        workspace_id: workspace.to_string(),
        connection: connection.clone(),
        identifier,
        body: body.to_vec(),
    };
    match state.store.append_webhook(event).await {
        Ok(outcome) => Ok((outcome, connection)),
        Err(StoreError::Closed) => Err(shutting_down()),
        Err(e) => {
            // With its causes: "committing: I/O error: No space left on device" tells the
            // operator what to fix.
            let error = crate::error_chain(&e);
            tracing::error!(%error, "could not store a webhook");
            Err(reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                RejectReason::StoreError,
                "the webhook could not be stored; retry later",
            ))
        }
    }
}

/// Why a webhook body (already read within the limits) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// 400.
    #[error("request body is not valid JSON")]
    NotJson,
    /// 400: valid JSON, but Jira only ever sends objects.
    #[error("request body is not a JSON object")]
    NotAnObject,
    /// 401: no connection of the workspace could be proven to have sent it.
    #[error("webhook signature or secret does not match any connection of this workspace")]
    Unauthorized,
}

impl WebhookError {
    /// The message the listener answers with (the same as `Display`, without allocating).
    pub fn message(self) -> &'static str {
        match self {
            WebhookError::NotJson => "request body is not valid JSON",
            WebhookError::NotAnObject => "request body is not a JSON object",
            WebhookError::Unauthorized => {
                "webhook signature or secret does not match any connection of this workspace"
            }
        }
    }
}

/// A webhook body that decoded and was proven to come from one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedWebhook {
    /// `metadata.name` of the connection that sent it.
    pub connection: String,
    /// The delivery identifier (`X-Atlassian-Webhook-Identifier`, trimmed), when there is one:
    /// a repeated identifier is stored once.
    pub identifier: Option<String>,
}

/// Decodes a webhook body and decides which of the workspace's `connections` sent it: JSON
/// parse, `self` URL extraction, signature or `?secret=` check, identifier normalisation.
///
/// This is exactly what the public listener runs on every body it has read; it is public for
/// fuzzing and tools (e.g. replaying captured deliveries). It never panics: any input yields a
/// route or a [`WebhookError`].
pub fn route_webhook(
    connections: &[WebhookConnection],
    body: &[u8],
    signature: Option<&str>,
    token: Option<&str>,
    identifier: Option<&str>,
) -> Result<RoutedWebhook, WebhookError> {
    let payload: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| WebhookError::NotJson)?;
    if !payload.is_object() {
        return Err(WebhookError::NotAnObject);
    }
    let connection = authenticate(connections, &payload, body, signature, token)
        .ok_or(WebhookError::Unauthorized)?;
    let identifier = identifier
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Ok(RoutedWebhook {
        connection,
        identifier,
    })
}

fn header_str<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Picks the connection that sent `payload`, or `None` when none can be proven.
///
/// Connections whose base URL prefixes one of the payload's `self` URLs are tried first; when
/// none matches (some events carry no `self`), every connection with a secret is tried, since a
/// valid signature identifies the sender as well as a URL does.
pub fn authenticate(
    connections: &[WebhookConnection],
    payload: &serde_json::Value,
    body: &[u8],
    signature: Option<&str>,
    token: Option<&str>,
) -> Option<String> {
    let mut self_urls = Vec::new();
    collect_self_urls(payload, &mut self_urls, 0);
    let matched: Vec<&WebhookConnection> = connections
        .iter()
        .filter(|c| {
            self_urls.iter().any(|u| {
                url_is_under(u, &c.base_url)
                    || c.self_url.as_deref().is_some_and(|b| url_is_under(u, b))
            })
        })
        .collect();
    let candidates: Vec<&WebhookConnection> = if matched.is_empty() {
        connections.iter().filter(|c| c.secret.is_some()).collect()
    } else {
        matched
    };
    candidates
        .into_iter()
        .find(|c| match &c.secret {
            None => true,
            Some(secret) => {
                signature.is_some_and(|s| signature_matches(secret, body, s))
                    || token.is_some_and(|t| secret.matches(t.as_bytes()))
            }
        })
        .map(|c| c.name.clone())
}

/// Verifies `sha256=<hex>` against the HMAC-SHA256 of `body` (constant time, via `hmac`).
pub fn signature_matches(secret: &Secret, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header
        .trim()
        .strip_prefix("sha256=")
        .or_else(|| header.trim().strip_prefix("SHA256="))
    else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The `X-Hub-Signature` value Jira would send for `body` signed with `secret`.
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Payloads nest (issue → fields → project → ...), but never deeply; the cap keeps a hostile
/// body from costing more than it is worth.
const MAX_SELF_DEPTH: usize = 16;

fn collect_self_urls<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>, depth: usize) {
    if depth > MAX_SELF_DEPTH || out.len() > 64 {
        return;
    }
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("self", serde_json::Value::String(s)) => out.push(s),
                    _ => collect_self_urls(v, out, depth + 1),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                collect_self_urls(item, out, depth + 1);
            }
        }
        _ => {}
    }
}

/// Whether `url` is `base` or below it, comparing case-insensitively (hosts are) and on a
/// path boundary so `https://a.example` does not claim `https://a.example.evil`.
fn url_is_under(url: &str, base: &str) -> bool {
    let base = base.trim_end_matches('/');
    if base.is_empty() || url.len() < base.len() {
        return false;
    }
    // `get`, not `split_at`: a multi-byte character straddling the base's length must not
    // panic (the URL comes from an unauthenticated body).
    let (Some(head), Some(rest)) = (url.get(..base.len()), url.get(base.len()..)) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(base) {
        return false;
    }
    rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')
}

/// The first value of `name` in a query string, percent-decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match hex::decode(&bytes[i + 1..i + 3]) {
                Ok(b) => {
                    out.extend_from_slice(&b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(name: &str, base: &str, secret: Option<&str>) -> WebhookConnection {
        WebhookConnection {
            name: name.into(),
            base_url: base.into(),
            self_url: None,
            secret: secret.map(Secret::new),
        }
    }

    #[test]
    fn a_base_url_does_not_claim_a_longer_host() {
        assert!(url_is_under(
            "https://a.example/rest/api/2/1",
            "https://a.example"
        ));
        assert!(url_is_under("https://A.example/rest", "https://a.example/"));
        assert!(!url_is_under(
            "https://a.example.evil/rest",
            "https://a.example"
        ));
        // A multi-byte character across the base's length: no match, no panic.
        assert!(!url_is_under(
            "https://a.exampl\u{e9}/rest",
            "https://a.example"
        ));
    }

    #[test]
    fn a_connection_behind_another_base_url_is_found_by_its_self_url() {
        // Data Center behind a proxy, with no webhook secret (Jira cannot sign there): the
        // payload's links name the internal host, which only `selfUrl` declares.
        let payload = serde_json::json!({"webhookEvent": "comment_created", "comment": {"self": "http://jira-internal:8080/rest/api/2/issue/10013/comment/10082"}});
        let body = payload.to_string();
        let plain = [conn("dc", "https://jira.example.com", None)];
        assert_eq!(
            authenticate(&plain, &payload, body.as_bytes(), None, None),
            None
        );
        let mut declared = conn("dc", "https://jira.example.com", None);
        declared.self_url = Some("http://jira-internal:8080".into());
        assert_eq!(
            authenticate(&[declared], &payload, body.as_bytes(), None, None).as_deref(),
            Some("dc")
        );
    }

    #[test]
    fn the_connection_is_chosen_by_self_url_and_proven_by_its_secret() {
        let conns = [
            conn("one", "https://one.example", Some("s1")),
            conn("two", "https://two.example", Some("s2")),
        ];
        let payload =
            serde_json::json!({"issue": {"self": "https://two.example/rest/api/2/issue/1"}});
        let body = payload.to_string();
        let sig = sign(&Secret::new("s2"), body.as_bytes());
        assert_eq!(
            authenticate(&conns, &payload, body.as_bytes(), Some(&sig), None).as_deref(),
            Some("two")
        );
        let wrong = sign(&Secret::new("s1"), body.as_bytes());
        assert_eq!(
            authenticate(&conns, &payload, body.as_bytes(), Some(&wrong), None),
            None
        );
        assert_eq!(
            authenticate(&conns, &payload, body.as_bytes(), None, Some("s2")).as_deref(),
            Some("two")
        );
    }

    #[test]
    fn percent_encoded_tokens_are_decoded() {
        assert_eq!(
            query_param("a=1&secret=a%2Bb%3D", "secret").as_deref(),
            Some("a+b=")
        );
        assert_eq!(
            query_param("secret=%zz%", "secret").as_deref(),
            Some("%zz%")
        );
    }
}
