//! The one-time sync routes of the admin API (DESIGN §4), over [`Jobs`]:
//!
//! ```text
//! POST  /api/v1/integrations/{name}/sync   {"direction":"fromJira","jql":"..."}
//!                                          {"direction":"toJira","scope":"all"|{"sprints":[..]}|{"releases":[..]},"dryRun":true?}
//!                                          → 202 {"id": ..., "job": <record>}; 404 unknown
//!                                          integration, 422 unknown sprint or release
//! GET   /api/v1/jobs/{id}                  → 200 the job record (state, progress, counts, errors)
//! POST  /api/v1/integrations/{name}/resync → 200 {"issues", "queued", "jql"}: a resync sweep now
//! ```
//!
//! A POST only starts the job; it runs in the daemon and survives the client going away (and a
//! daemon restart). Errors use the admin API's `{"error": {"code", "message"}}` shape.

use std::future::Future;
use std::pin::Pin;

use hyper::header::{HeaderValue, LOCATION};
use hyper::{Method, Response, StatusCode};

use super::admin::{ApiRequest, ApiRoutes};
use super::{json_error, json_response, Body};
use crate::sync::engine::Engine;
use crate::sync::jobs::{JobError, JobRequest, Jobs};

/// The sync-job route group.
#[derive(Clone)]
pub struct JobsApi {
    jobs: Jobs,
    engine: Option<Engine>,
}

impl JobsApi {
    pub fn new(jobs: Jobs) -> Self {
        JobsApi { jobs, engine: None }
    }

    /// Serves `POST /api/v1/integrations/{name}/resync` (a resync sweep now) with `engine`.
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = Some(engine);
        self
    }

    async fn route(&self, req: &ApiRequest) -> Response<Body> {
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        match (&req.method, segs.as_slice()) {
            (&Method::POST, ["api", "v1", "integrations", name, "sync"]) => {
                let request: JobRequest = match serde_json::from_slice(&req.body) {
                    Ok(r) => r,
                    Err(e) => {
                        return json_error(
                            StatusCode::BAD_REQUEST,
                            &format!(
                                "the body must be {{\"direction\":\"fromJira\",\"jql\":...}} or \
                                 {{\"direction\":\"toJira\",\"scope\":...}}: {e}"
                            ),
                        )
                    }
                };
                match self.jobs.start(name, request).await {
                    Ok(record) => {
                        let mut resp = json_response(
                            StatusCode::ACCEPTED,
                            &serde_json::json!({ "id": record.id, "job": record }),
                        );
                        if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/jobs/{}", record.id))
                        {
                            resp.headers_mut().insert(LOCATION, v);
                        }
                        resp
                    }
                    Err(e @ JobError::UnknownIntegration(_)) => {
                        json_error(StatusCode::NOT_FOUND, &e.to_string())
                    }
                    Err(e @ JobError::UnknownScope { .. }) => {
                        json_error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string())
                    }
                    Err(e) => json_error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
                }
            }
            (&Method::POST, ["api", "v1", "integrations", name, "resync"]) => {
                let Some(engine) = &self.engine else {
                    return json_error(StatusCode::NOT_FOUND, "the sync engine is not running");
                };
                if !self.jobs.knows(name) {
                    return json_error(
                        StatusCode::NOT_FOUND,
                        &format!("ProjectIntegration/{name} is not declared"),
                    );
                }
                match engine.sweep_now(name).await {
                    Ok(report) => json_response(
                        StatusCode::OK,
                        &serde_json::to_value(&report).unwrap_or_default(),
                    ),
                    Err(message) => json_error(StatusCode::SERVICE_UNAVAILABLE, &message),
                }
            }
            (&Method::GET, ["api", "v1", "jobs", id]) => match self.jobs.get(id) {
                Ok(Some(record)) => json_response(
                    StatusCode::OK,
                    &serde_json::to_value(&record).unwrap_or_default(),
                ),
                Ok(None) => json_error(StatusCode::NOT_FOUND, &format!("no job {id:?}")),
                Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            },
            (_, ["api", "v1", "integrations", _, "sync" | "resync"])
            | (_, ["api", "v1", "jobs", _]) => json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            ),
            _ => json_error(StatusCode::NOT_FOUND, "no such route"),
        }
    }
}

impl ApiRoutes for JobsApi {
    fn claims(&self, segments: &[&str]) -> bool {
        matches!(
            segments,
            ["api", "v1", "integrations", _, "sync" | "resync"] | ["api", "v1", "jobs", _]
        )
    }

    fn handle(&self, req: ApiRequest) -> Pin<Box<dyn Future<Output = Response<Body>> + Send + '_>> {
        Box::pin(async move { self.route(&req).await })
    }
}
