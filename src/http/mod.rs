//! The daemon's hyper listeners: the public webhook listener ([`public`]) and the admin API
//! ([`admin`]), plus what they share: the connection loop with graceful shutdown and request
//! limits ([`server`]), counters for `/metrics` ([`metrics`]) and the [`Secret`] type.
//!
//! Both `serve` functions take the listener and a shutdown future (mini-redis style), so tests
//! run the real listeners on port 0 and stop them when they like.

pub mod admin;
pub mod jobs_api;
pub mod metrics;
pub mod page;
pub mod public;
pub mod server;
pub mod workspace_api;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

pub use server::Limits;

pub use crate::secret::Secret;

/// The response body type of both listeners: every answer is small and fully buffered.
pub type Body = Full<Bytes>;

/// A JSON error document `{"error": {"code": .., "message": ..}}` with `status`.
pub(crate) fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({
        "error": { "code": status.as_u16(), "message": message }
    });
    json_response(status, &body)
}

pub(crate) fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

pub(crate) fn html_response(status: StatusCode, html: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(Full::new(html.into()));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    // Nothing but this listener: the inline style and the page's own script (by its hash, so
    // no other script could run even if some text escaped its escaping), no other origin.
    static CSP: std::sync::OnceLock<hyper::header::HeaderValue> = std::sync::OnceLock::new();
    let csp = CSP.get_or_init(|| {
        use base64::Engine as _;
        use sha2::Digest as _;
        let hash = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(page::render::SCRIPT.as_bytes()));
        hyper::header::HeaderValue::from_str(&format!(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{hash}'; \
             connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'"
        ))
        .unwrap_or_else(|_| hyper::header::HeaderValue::from_static("default-src 'none'"))
    });
    headers.insert(hyper::header::CONTENT_SECURITY_POLICY, csp.clone());
    headers.insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        hyper::header::HeaderValue::from_static("nosniff"),
    );
    resp
}

pub(crate) fn text_response(status: StatusCode, text: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(Full::new(text.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// `/healthz` and `/readyz`, shared by both listeners. Health means "the process answers";
/// readiness comes from the daemon (store open and first manifest snapshot applied) and ends
/// when the state file stops taking writes (a full disk): webhooks would only get 5xx then.
pub(crate) fn probe(
    path: &str,
    ready: &tokio::sync::watch::Receiver<bool>,
    store: &crate::store::Store,
) -> Option<Response<Body>> {
    match path {
        "/healthz" => Some(text_response(StatusCode::OK, "ok\n")),
        "/readyz" => Some(if !*ready.borrow() {
            text_response(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
        } else if store.stats().write_failure.is_some() {
            text_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the state file takes no writes (see tandem status)\n",
            )
        } else {
            text_response(StatusCode::OK, "ready\n")
        }),
        _ => None,
    }
}
