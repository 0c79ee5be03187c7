//! The workspace routes of the admin API (DESIGN §4), over [`WorkspaceService`]:
//!
//! ```text
//! GET|POST             /api/v1/workspaces/{ws}/items          ?type= &status= &sprint= &release= &parent= &limit= &cursor=
//! GET|PATCH|DELETE     /api/v1/workspaces/{ws}/items/{id}
//! GET                  /api/v1/workspaces/{ws}/items/{id}/history
//! POST                 /api/v1/workspaces/{ws}/items/{id}/comments  {"body", "author"?}
//! GET|POST             /api/v1/workspaces/{ws}/sprints        (and /releases)
//! GET|PATCH|DELETE     /api/v1/workspaces/{ws}/sprints/{name} (and /releases/{name})
//! GET                  /api/v1/workspaces/{ws}/changes        ?after=SEQ &limit=
//! ```
//!
//! `{ws}` is the Workspace's `metadata.name` (or its `id`). Bodies are JSON whatever the
//! Content-Type says; PATCH bodies are JSON merge patches (RFC 7396). Items, sprints and
//! releases carry `ETag: "<version>"`.
//!
//! Concurrency choice: `If-Match` is honoured but not required. With it, PATCH and DELETE
//! succeed only when the stored version is one of the tags (or `*`), else 412 with the current
//! version; the check and the write happen in one store transaction, so of two writers holding
//! the same version exactly one wins. Without it the write is unconditional (last writer wins),
//! which keeps one-line `curl` edits and scripts simple; tools that read-modify-write should send
//! it. Weak tags (`W/"3"`) never match, as RFC 9110 requires for If-Match.
//!
//! Errors use the admin API's shape, `{"error": {"code", "message"}}`, plus `field` for 400s
//! and `currentVersion` for 412s. Bad input is never a 500.

use std::future::Future;
use std::pin::Pin;

use hyper::header::{HeaderValue, ETAG, IF_MATCH, LOCATION};
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};

use super::admin::{ApiRequest, ApiRoutes};
use super::{json_response, Body};
use crate::store::StoreError;
use crate::workspace::{
    IfMatch, ItemFilter, ItemPatch, Origin, ReleasePatch, SprintPatch, WorkspaceError,
    WorkspaceService,
};

/// Most change-feed entries one request returns.
const MAX_CHANGES: usize = 1000;

/// The workspace route group, plugged into the admin listener through `Hooks::workspace_api`.
#[derive(Clone, Debug)]
pub struct WorkspaceApi {
    service: WorkspaceService,
}

impl WorkspaceApi {
    pub fn new(service: WorkspaceService) -> Self {
        WorkspaceApi { service }
    }
}

impl ApiRoutes for WorkspaceApi {
    fn claims(&self, segments: &[&str]) -> bool {
        segments.len() >= 3 && segments[..3] == ["api", "v1", "workspaces"]
    }

    fn handle(&self, req: ApiRequest) -> Pin<Box<dyn Future<Output = Response<Body>> + Send + '_>> {
        Box::pin(async move {
            match self.route(&req).await {
                Ok(resp) => resp,
                Err(e) => error_response(e),
            }
        })
    }
}

/// Why a request failed, before or inside the service.
enum ApiError {
    Workspace(WorkspaceError),
    Status(StatusCode, String),
}

impl From<WorkspaceError> for ApiError {
    fn from(e: WorkspaceError) -> Self {
        ApiError::Workspace(e)
    }
}

type Answer = Result<Response<Body>, ApiError>;

fn error_body(status: StatusCode, message: &str, extra: Option<(&str, Value)>) -> Response<Body> {
    let mut error = json!({ "code": status.as_u16(), "message": message });
    if let (Some((k, v)), Some(obj)) = (extra, error.as_object_mut()) {
        obj.insert(k.to_string(), v);
    }
    json_response(status, &json!({ "error": error }))
}

fn error_response(e: ApiError) -> Response<Body> {
    match e {
        ApiError::Status(status, message) => error_body(status, &message, None),
        ApiError::Workspace(e) => {
            let message = e.to_string();
            match e {
                WorkspaceError::UnknownWorkspace(_) | WorkspaceError::NotFound { .. } => {
                    error_body(StatusCode::NOT_FOUND, &message, None)
                }
                WorkspaceError::Invalid { field, message } => error_body(
                    StatusCode::BAD_REQUEST,
                    &message,
                    Some(("field", Value::String(field))),
                ),
                WorkspaceError::VersionMismatch { current, .. } => {
                    let mut resp = error_body(
                        StatusCode::PRECONDITION_FAILED,
                        &message,
                        Some(("currentVersion", current.into())),
                    );
                    set_etag(&mut resp, current);
                    resp
                }
                WorkspaceError::Conflict(_) => error_body(StatusCode::CONFLICT, &message, None),
                WorkspaceError::Store(StoreError::Closed) => error_body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the daemon is shutting down",
                    None,
                ),
                WorkspaceError::Store(e) => {
                    tracing::error!(error = %e, "workspace API: store failure");
                    error_body(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the state file could not be read or written; see the daemon log",
                        None,
                    )
                }
            }
        }
    }
}

fn set_etag(resp: &mut Response<Body>, version: u64) {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        resp.headers_mut().insert(ETAG, v);
    }
}

fn with_etag(status: StatusCode, value: &Value, version: u64) -> Response<Body> {
    let mut resp = json_response(status, value);
    set_etag(&mut resp, version);
    resp
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn no_content() -> Response<Body> {
    let mut resp = Response::new(Body::default());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

fn method_not_allowed(allow: &'static str) -> Answer {
    let mut resp = error_body(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
        None,
    );
    resp.headers_mut()
        .insert(hyper::header::ALLOW, HeaderValue::from_static(allow));
    Ok(resp)
}

/// Parses `If-Match`: absent → unconditional; `*` → any; otherwise the strong numeric tags
/// (anything else can never match a version, so it leaves an empty list that always fails).
fn parse_if_match(headers: &hyper::HeaderMap) -> Result<Option<IfMatch>, String> {
    let values: Vec<&HeaderValue> = headers.get_all(IF_MATCH).iter().collect();
    if values.is_empty() {
        return Ok(None);
    }
    let mut versions = Vec::new();
    for v in values {
        let s = v
            .to_str()
            .map_err(|_| "If-Match is not ASCII".to_string())?;
        for tag in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if tag == "*" {
                return Ok(Some(IfMatch::Any));
            }
            if let Some(n) = tag
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .and_then(|t| t.parse::<u64>().ok())
            {
                versions.push(n);
            }
        }
    }
    Ok(Some(IfMatch::Versions(versions)))
}

fn if_match(req: &ApiRequest) -> Result<Option<IfMatch>, ApiError> {
    parse_if_match(&req.headers).map_err(|e| ApiError::Status(StatusCode::BAD_REQUEST, e))
}

fn json_body(req: &ApiRequest) -> Result<Value, ApiError> {
    // Any Content-Type is read as JSON: `curl -d` labels bodies as form data.
    if req.body.is_empty() {
        return Err(WorkspaceError::Invalid {
            field: String::new(),
            message: "the body must be a JSON object".into(),
        }
        .into());
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        WorkspaceError::Invalid {
            field: String::new(),
            message: format!("the body is not valid JSON: {e}"),
        }
        .into()
    })
}

/// Query parameters, refusing any not in `allowed` (a typo in a filter must not silently list
/// everything).
fn query(req: &ApiRequest, allowed: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(req.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    for (k, _) in &pairs {
        if !allowed.contains(&k.as_str()) {
            return Err(WorkspaceError::Invalid {
                field: k.clone(),
                message: format!(
                    "unknown query parameter; expected one of {}",
                    allowed.join(", ")
                ),
            }
            .into());
        }
    }
    Ok(pairs)
}

fn number_param(name: &str, v: &str) -> Result<u64, ApiError> {
    v.parse().map_err(|_| {
        WorkspaceError::Invalid {
            field: name.to_string(),
            message: "must be a non-negative whole number".into(),
        }
        .into()
    })
}

impl WorkspaceApi {
    async fn route(&self, req: &ApiRequest) -> Answer {
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let m = &req.method;
        let svc = &self.service;
        match &segs[3..] {
            [ws, "items"] => match *m {
                Method::GET => self.list_items(req, ws),
                Method::POST => {
                    let patch = ItemPatch::from_json(&json_body(req)?)?;
                    let item = svc.create_item(ws, patch, Origin::Api).await?;
                    let mut resp = with_etag(StatusCode::CREATED, &to_json(&item), item.version);
                    let location = format!(
                        "/api/v1/workspaces/{}/items/{}",
                        percent_encoding::utf8_percent_encode(
                            &item.workspace,
                            percent_encoding::NON_ALPHANUMERIC
                        ),
                        item.id
                    );
                    if let Ok(v) = HeaderValue::from_str(&location) {
                        resp.headers_mut().insert(LOCATION, v);
                    }
                    Ok(resp)
                }
                _ => method_not_allowed("GET, POST"),
            },
            [ws, "items", id] => match *m {
                Method::GET => {
                    let item = svc.get_item(ws, id)?;
                    Ok(with_etag(StatusCode::OK, &to_json(&item), item.version))
                }
                Method::PATCH => {
                    let cond = if_match(req)?;
                    let patch = ItemPatch::from_json(&json_body(req)?)?;
                    let item = svc.patch_item(ws, id, patch, cond, Origin::Api).await?;
                    Ok(with_etag(StatusCode::OK, &to_json(&item), item.version))
                }
                Method::DELETE => {
                    svc.delete_item(ws, id, if_match(req)?, Origin::Api).await?;
                    Ok(no_content())
                }
                _ => method_not_allowed("GET, PATCH, DELETE"),
            },
            [ws, "items", id, "history"] => match *m {
                Method::GET => {
                    let history = svc.history(ws, id)?;
                    Ok(json_response(
                        StatusCode::OK,
                        &json!({ "history": to_json(&history) }),
                    ))
                }
                _ => method_not_allowed("GET"),
            },
            [ws, "items", id, "comments"] => match *m {
                Method::POST => {
                    let body = json_body(req)?;
                    let text = body.get("body").and_then(Value::as_str).ok_or_else(|| {
                        WorkspaceError::Invalid {
                            field: "body".into(),
                            message: "is required (the comment text)".into(),
                        }
                    })?;
                    let author = match body.get("author") {
                        None | Some(Value::Null) => "api",
                        Some(Value::String(a)) => a.as_str(),
                        Some(_) => {
                            return Err(WorkspaceError::Invalid {
                                field: "author".into(),
                                message: "must be a string".into(),
                            }
                            .into())
                        }
                    };
                    let item = svc.add_comment(ws, id, author, text, Origin::Api).await?;
                    Ok(with_etag(
                        StatusCode::CREATED,
                        &to_json(&item),
                        item.version,
                    ))
                }
                _ => method_not_allowed("POST"),
            },
            [ws, "sprints"] => match *m {
                Method::GET => Ok(json_response(
                    StatusCode::OK,
                    &json!({ "sprints": to_json(&svc.list_sprints(ws)?) }),
                )),
                Method::POST => {
                    let patch = SprintPatch::from_json(&json_body(req)?)?;
                    let s = svc.create_sprint(ws, patch, Origin::Api).await?;
                    Ok(with_etag(StatusCode::CREATED, &to_json(&s), s.version))
                }
                _ => method_not_allowed("GET, POST"),
            },
            [ws, "sprints", name] => match *m {
                Method::GET => {
                    let s = svc.get_sprint(ws, name)?;
                    Ok(with_etag(StatusCode::OK, &to_json(&s), s.version))
                }
                Method::PATCH => {
                    let cond = if_match(req)?;
                    let patch = SprintPatch::from_json(&json_body(req)?)?;
                    let s = svc.patch_sprint(ws, name, patch, cond, Origin::Api).await?;
                    Ok(with_etag(StatusCode::OK, &to_json(&s), s.version))
                }
                Method::DELETE => {
                    svc.delete_sprint(ws, name, if_match(req)?, Origin::Api)
                        .await?;
                    Ok(no_content())
                }
                _ => method_not_allowed("GET, PATCH, DELETE"),
            },
            [ws, "releases"] => match *m {
                Method::GET => Ok(json_response(
                    StatusCode::OK,
                    &json!({ "releases": to_json(&svc.list_releases(ws)?) }),
                )),
                Method::POST => {
                    let patch = ReleasePatch::from_json(&json_body(req)?)?;
                    let r = svc.create_release(ws, patch, Origin::Api).await?;
                    Ok(with_etag(StatusCode::CREATED, &to_json(&r), r.version))
                }
                _ => method_not_allowed("GET, POST"),
            },
            [ws, "releases", name] => match *m {
                Method::GET => {
                    let r = svc.get_release(ws, name)?;
                    Ok(with_etag(StatusCode::OK, &to_json(&r), r.version))
                }
                Method::PATCH => {
                    let cond = if_match(req)?;
                    let patch = ReleasePatch::from_json(&json_body(req)?)?;
                    let r = svc
                        .patch_release(ws, name, patch, cond, Origin::Api)
                        .await?;
                    Ok(with_etag(StatusCode::OK, &to_json(&r), r.version))
                }
                Method::DELETE => {
                    svc.delete_release(ws, name, if_match(req)?, Origin::Api)
                        .await?;
                    Ok(no_content())
                }
                _ => method_not_allowed("GET, PATCH, DELETE"),
            },
            [ws, "changes"] => match *m {
                Method::GET => self.changes(req, ws),
                _ => method_not_allowed("GET"),
            },
            _ => Err(ApiError::Status(
                StatusCode::NOT_FOUND,
                "no such route".into(),
            )),
        }
    }

    fn list_items(&self, req: &ApiRequest, ws: &str) -> Answer {
        let mut filter = ItemFilter::default();
        for (k, v) in query(
            req,
            &[
                "type", "status", "sprint", "release", "parent", "limit", "cursor",
            ],
        )? {
            match k.as_str() {
                "type" => filter.item_type = Some(v),
                "status" => filter.status = Some(v),
                "sprint" => filter.sprint = Some(v),
                "release" => filter.release = Some(v),
                "parent" => filter.parent = Some(v),
                "cursor" => filter.cursor = Some(v),
                "limit" => {
                    let n = number_param("limit", &v)?;
                    filter.limit = Some(usize::try_from(n).unwrap_or(usize::MAX));
                }
                _ => {}
            }
        }
        let page = self.service.list_items(ws, &filter)?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "items": to_json(&page.items), "next": page.next }),
        ))
    }

    /// The change feed of one workspace, for operators and debugging; the sync engine reads the
    /// feed through the service.
    fn changes(&self, req: &ApiRequest, ws: &str) -> Answer {
        let w = self.service.workspace(ws)?;
        let mut after = 0;
        let mut limit = 100usize;
        for (k, v) in query(req, &["after", "limit"])? {
            match k.as_str() {
                "after" => after = number_param("after", &v)?,
                "limit" => {
                    limit = usize::try_from(number_param("limit", &v)?)
                        .unwrap_or(MAX_CHANGES)
                        .clamp(1, MAX_CHANGES)
                }
                _ => {}
            }
        }
        // The feed is global; filter to this workspace while keeping the cursor honest.
        let batch = self.service.changes_since(after, limit)?;
        let next = batch.last().map(|c| c.seq);
        let changes: Vec<_> = batch
            .into_iter()
            .filter(|c| c.workspace == w.name)
            .collect();
        Ok(json_response(
            StatusCode::OK,
            &json!({ "changes": to_json(&changes), "next": next }),
        ))
    }
}
