//! The simulator's HTTP side: the hyper accept loop, request decoding, the fault layer (rate
//! limit, latency and jitter, outage, injected errors, lost responses), authentication, request
//! accounting and the bounded request log. Routing to the endpoints lives in `api` and `agile`;
//! the fault decisions in `faults`; `/_sim/` requests go to `control`, past the fault layer and
//! the accounting, since they are not Jira traffic.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::faults::LostAnswer;
use super::model::{Deployment, User};
use super::{RequestRecord, Shared, REQUEST_LOG_CAPACITY};

/// Bodies above this are refused with 413, as Jira's proxy does.
const MAX_BODY: usize = 10 * 1024 * 1024;

/// A decoded request, handed to the endpoint code.
pub struct Req {
    pub method: Method,
    /// Percent-decoded path segments after the leading `/`.
    pub segs: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Bytes,
    pub user: Option<User>,
}

impl Req {
    /// A list parameter (`fields`, `expand`): Jira reads `fields=a&fields=b` as `fields=a,b`,
    /// as every HTTP client that encodes a list does.
    pub fn q_list(&self, key: &str) -> Option<String> {
        let values: Vec<&str> = self
            .query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }

    pub fn q(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Parses the body as JSON, answering 400 with Jira's message when it is not.
    pub fn json(&self) -> Result<Value, Resp> {
        if self.body.is_empty() {
            return Err(Resp::error(
                400,
                &["No content to map due to end-of-input"],
                Map::new(),
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            Resp::error(
                400,
                &[&format!("Unexpected character in the request body: {e}")],
                Map::new(),
            )
        })
    }

    pub fn user(&self) -> Result<&User, Resp> {
        self.user.as_ref().ok_or_else(Resp::unauthorized)
    }

    /// A non-negative integer parameter, 400 when it is not one.
    pub fn q_usize(&self, key: &str, default: usize) -> Result<usize, Resp> {
        match self.q(key) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(|n| n as usize)
                .ok_or_else(|| {
                    Resp::error(
                        400,
                        &[&format!(
                            "The '{key}' parameter must be a non-negative integer: '{v}'"
                        )],
                        Map::new(),
                    )
                }),
        }
    }
}

/// A response under construction.
pub struct Resp {
    pub status: u16,
    pub body: Option<Vec<u8>>,
    pub headers: Vec<(&'static str, String)>,
}

impl Resp {
    pub fn json(status: u16, v: &Value) -> Resp {
        Resp {
            status,
            body: Some(serde_json::to_vec(v).unwrap_or_default()),
            headers: Vec::new(),
        }
    }

    pub fn ok(v: &Value) -> Resp {
        Resp::json(200, v)
    }

    pub fn no_content() -> Resp {
        Resp {
            status: 204,
            body: None,
            headers: Vec::new(),
        }
    }

    /// Jira's error body: `{"errorMessages": [...], "errors": {...}}`.
    pub fn error(status: u16, messages: &[&str], errors: Map<String, Value>) -> Resp {
        Resp::json(
            status,
            &json!({"errorMessages": messages, "errors": errors}),
        )
    }

    pub fn field_errors(errors: Map<String, Value>) -> Resp {
        Resp::error(400, &[], errors)
    }

    pub fn not_found(msg: &str) -> Resp {
        Resp::error(404, &[msg], Map::new())
    }

    pub fn issue_not_found() -> Resp {
        Resp::not_found("Issue does not exist or you do not have permission to see it.")
    }

    pub fn unauthorized() -> Resp {
        let mut r = Resp::error(
            401,
            &["You are not authenticated. Authentication required to perform this operation."],
            Map::new(),
        );
        r.headers
            .push(("WWW-Authenticate", "Basic realm=\"protected-area\"".into()));
        r
    }

    pub fn forbidden(msg: &str) -> Resp {
        Resp::error(403, &[msg], Map::new())
    }

    pub fn header(mut self, name: &'static str, value: String) -> Resp {
        self.headers.push((name, value));
        self
    }
}

/// The service's error: hyper closes a connection whose service fails, without an answer,
/// which is how the lost-response fault drops one.
#[derive(Debug)]
pub struct Unanswered;

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed unanswered (lost-response fault)")
    }
}

impl std::error::Error for Unanswered {}

/// Serves connections until `shutdown` flips to true.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let mut conn_shutdown = shutdown.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let shared = shared.clone();
                        async move { handle(shared, req).await }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = conn_shutdown.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Unanswered> {
    let received = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    if super::control::is_control_path(&path) {
        let (parts, body) = req.into_parts();
        let resp = match decode(&shared, parts, body).await {
            Ok(req) => super::control::route(&shared, &req),
            Err(resp) => resp,
        };
        return Ok(render(resp));
    }
    let answer = handle_inner(&shared, req).await;
    let (status, retry_after) = match &answer {
        Ok(resp) => (
            resp.status,
            resp.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("Retry-After"))
                .and_then(|(_, v)| v.parse::<u64>().ok())
                .map(Duration::from_secs),
        ),
        Err(Unanswered) => (0, None),
    };
    shared.log_request(RequestRecord {
        received,
        method,
        path,
        status,
        retry_after,
    });
    answer.map(render)
}

fn render(resp: Resp) -> Response<Full<Bytes>> {
    let mut builder =
        Response::builder().status(StatusCode::from_u16(resp.status).unwrap_or(StatusCode::OK));
    let has_body = resp.body.is_some();
    if has_body {
        builder = builder.header(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=UTF-8"),
        );
    }
    builder = builder.header("X-AREQUESTID", "sim");
    for (k, v) in &resp.headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            builder = builder.header(*k, v);
        }
    }
    builder
        .body(Full::new(Bytes::from(resp.body.unwrap_or_default())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

async fn handle_inner(shared: &Arc<Shared>, req: Request<Incoming>) -> Result<Resp, Unanswered> {
    let (parts, body) = req.into_parts();
    shared.count(&parts.method, parts.uri.path());

    // Fault layer: rate limit first (Jira answers 429 before doing any work), then latency
    // and jitter, then an outage, then injected server errors; after the request was handled,
    // a write may lose its response.
    if let Some(resp) = shared.rate_limited() {
        return Ok(resp);
    }
    let delay = shared.faults().delay(parts.method == Method::GET);
    if delay > Duration::ZERO {
        tokio::time::sleep(delay).await;
    }
    let outage = shared.faults().outage();
    if let Some(status) = outage {
        return Ok(Resp::error(
            status,
            &["Service unavailable (outage simulated by the simulator)"],
            Map::new(),
        ));
    }
    let injected = shared.faults().take_error();
    if let Some(status) = injected {
        return Ok(Resp::error(
            status,
            &["Internal server error (injected by the simulator)"],
            Map::new(),
        ));
    }

    let req = match decode(shared, parts, body).await {
        Ok(req) => req,
        Err(resp) => return Ok(resp),
    };
    let resp = super::api::route(shared, &req);
    if !((200..300).contains(&resp.status) && is_write(&req)) {
        return Ok(resp);
    }
    let lost = shared.faults().take_lost_response();
    match lost {
        None => Ok(resp),
        Some(LostAnswer::Drop) => Err(Unanswered),
        Some(LostAnswer::Status(status)) => Ok(Resp::error(
            status,
            &["Service unavailable (the simulator applied this request and lost its response)"],
            Map::new(),
        )),
    }
}

/// A request that changes state: POST, PUT or DELETE, except searches sent as POST.
fn is_write(req: &Req) -> bool {
    matches!(
        req.method,
        Method::POST | Method::PUT | Method::DELETE | Method::PATCH
    ) && !req.segs.iter().any(|s| s == "search")
}

/// Reads the body (413 above [`MAX_BODY`]), splits the path and query, and authenticates.
async fn decode(shared: &Shared, parts: Parts, body: Incoming) -> Result<Req, Resp> {
    let path = parts.uri.path();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Resp::error(413, &["Request entity too large"], Map::new())),
    };
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let user = authenticate(shared, parts.headers.get(hyper::header::AUTHORIZATION))?;
    Ok(Req {
        method: parts.method,
        segs,
        query,
        body,
        user,
    })
}

/// Resolves the `Authorization` header to a user. No header is anonymous (most endpoints then
/// answer 401); a header with wrong credentials is 401 at once, as in Jira.
fn authenticate(shared: &Shared, header: Option<&HeaderValue>) -> Result<Option<User>, Resp> {
    let Some(h) = header.and_then(|h| h.to_str().ok()) else {
        return Ok(None);
    };
    let st = shared.read();
    let found = if let Some(b64) = h.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok();
        let text = decoded.and_then(|d| String::from_utf8(d).ok());
        text.and_then(|t| {
            let (login, secret) = t.split_once(':')?;
            st.users
                .iter()
                .find(|u| {
                    u.login.eq_ignore_ascii_case(login) && constant_time_eq(&u.secret, secret)
                })
                .cloned()
        })
    } else if let Some(token) = h.strip_prefix("Bearer ") {
        if st.deployment == Deployment::DataCenter {
            st.users
                .iter()
                .find(|u| {
                    u.pat
                        .as_deref()
                        .is_some_and(|p| constant_time_eq(p, token.trim()))
                })
                .cloned()
        } else {
            None
        }
    } else {
        None
    };
    match found {
        Some(u) => Ok(Some(u)),
        None => Err(Resp::unauthorized()),
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Shared {
    fn count(&self, method: &Method, path: &str) {
        self.total_requests.fetch_add(1, AtomicOrdering::Relaxed);
        if let Ok(mut c) = self.counts.lock() {
            *c.entry((method.as_str().to_string(), path.to_string()))
                .or_insert(0) += 1;
        }
    }

    fn log_request(&self, record: RequestRecord) {
        if let Ok(mut log) = self.request_log.lock() {
            if log.len() >= REQUEST_LOG_CAPACITY {
                log.pop_front();
            }
            log.push_back(record);
        }
    }

    /// Takes one token; answers 429 with Jira's headers when the bucket is empty.
    fn rate_limited(&self) -> Option<Resp> {
        let throttled = self.faults().take_token().err()?;
        let (wait, limit) = (throttled.wait_secs, throttled.limit);
        let reset = chrono::Utc::now() + chrono::Duration::seconds(wait as i64);
        Some(
            Resp::error(429, &["Rate limit exceeded."], Map::new())
                .header("Retry-After", wait.to_string())
                .header("X-RateLimit-Limit", limit.to_string())
                .header("X-RateLimit-Remaining", "0".into())
                .header(
                    "X-RateLimit-Reset",
                    reset.format("%Y-%m-%dT%H:%MZ").to_string(),
                )
                .header("X-RateLimit-NearLimit", "true".into())
                .header("RateLimit-Reason", "jira-quota-tenant-based".into()),
        )
    }
}

/// Bind helper so `Simulator::start` reports the address it failed on.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Per method and path request counts, for tests that count writes.
pub type Counts = HashMap<(String, String), u64>;
