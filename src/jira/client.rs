//! The HTTP core of the Jira client: URL building, authentication, pacing, retries and the
//! mapping of answers onto [`JiraError`]. Endpoints live in `api.rs` on top of [`JiraClient::call`].

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::OnceCell;

use super::config::{Credentials, Deployment, JiraConfig, RetryPolicy};
use super::error::{body_excerpt, classify_transport, ErrorCollection, JiraError, TransportKind};
use super::limit::{backoff, parse_retry_after, scopes_of, RateLimitState, RateLimiter, Scope};
use super::types::ServerInfo;

/// A client for one Jira connection. Cheap to clone; clones share the rate limit, the
/// `Retry-After` gate, the detected dialect and the credentials.
#[derive(Clone)]
pub struct JiraClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Normalised base with a trailing slash, so joins keep a Data Center context path.
    base: Url,
    configured: Option<Deployment>,
    detected: OnceCell<Deployment>,
    /// Swapped in place on rotation; read once per attempt.
    credentials: RwLock<Credentials>,
    limiter: RateLimiter,
    retry: RetryPolicy,
}

impl std::fmt::Debug for JiraClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiraClient")
            .field("base_url", &self.base_url())
            .field("deployment", &self.inner.configured)
            .finish_non_exhaustive()
    }
}

/// Whether a call may be sent again after an answer that leaves its effect unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Repeating it has the same effect (GET, PUT, DELETE, and POSTs such as "move to sprint").
    Idempotent,
    /// Repeating it may duplicate (create issue, add comment): retried only after failures that
    /// prove Jira never saw it, unless [`RetryPolicy::retry_non_idempotent`] says otherwise.
    NotIdempotent,
}

/// One call as the endpoint layer describes it.
pub(crate) struct Call {
    pub method: Method,
    pub url: Url,
    pub query: Vec<(String, String)>,
    pub body: Option<serde_json::Value>,
    pub idempotency: Idempotency,
}

impl Call {
    pub(crate) fn get(url: Url) -> Call {
        Call {
            method: Method::GET,
            url,
            query: Vec::new(),
            body: None,
            idempotency: Idempotency::Idempotent,
        }
    }

    pub(crate) fn new(method: Method, url: Url, idempotency: Idempotency) -> Call {
        Call {
            method,
            url,
            query: Vec::new(),
            body: None,
            idempotency,
        }
    }

    pub(crate) fn query(mut self, key: &str, value: impl ToString) -> Call {
        self.query.push((key.to_owned(), value.to_string()));
        self
    }

    pub(crate) fn json(mut self, body: &impl Serialize) -> Result<Call, JiraError> {
        let value = serde_json::to_value(body)
            .map_err(|e| JiraError::Config(format!("cannot encode request body: {e}")))?;
        self.body = Some(value);
        Ok(self)
    }

    fn endpoint(&self) -> String {
        format!("{} {}", self.method, self.url.path())
    }
}

/// Normalises a user-written base URL: trims whitespace and trailing slashes, requires http(s).
pub fn normalize_base_url(raw: &str) -> Result<Url, JiraError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let mut url = Url::parse(trimmed)
        .map_err(|e| JiraError::Config(format!("url {trimmed:?} is not a valid URL: {e}")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(JiraError::Config(format!(
            "url {trimmed:?} must start with https:// (or http://)"
        )));
    }
    if url.host_str().is_none() {
        return Err(JiraError::Config(format!("url {trimmed:?} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(JiraError::Config(
            "url must not contain credentials; use the auth section".to_owned(),
        ));
    }
    url.set_query(None);
    url.set_fragment(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

impl JiraClient {
    /// Builds a client; fails only on settings that can never work (bad URL, unreadable CA file).
    pub fn new(config: JiraConfig) -> Result<JiraClient, JiraError> {
        let base = normalize_base_url(&config.base_url)?;
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("tandem/", env!("CARGO_PKG_VERSION")))
            // Jira redirects a bad context path to its login page; an error is clearer.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                JiraError::Config(format!("cannot read caFile {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                JiraError::Config(format!(
                    "caFile {} holds no usable PEM certificate: {e}",
                    path.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(JiraError::Config(format!(
                    "caFile {} holds no PEM certificate",
                    path.display()
                )));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| JiraError::Config(format!("cannot set up the HTTP client: {e}")))?;
        let mut retry = config.retry;
        retry.max_attempts = retry.max_attempts.max(1);
        Ok(JiraClient {
            inner: Arc::new(Inner {
                http,
                base,
                configured: config.deployment,
                detected: OnceCell::new(),
                credentials: RwLock::new(config.auth),
                limiter: RateLimiter::new(config.requests_per_second),
                retry,
            }),
        })
    }

    /// How requests to this Jira are paced now (configured rate, `Retry-After` gate, 429s).
    pub fn rate_limit(&self) -> RateLimitState {
        self.inner.limiter.state()
    }

    /// The normalised base URL, without the trailing slash.
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str().trim_end_matches('/')
    }

    /// Replaces the credentials for every later request (secret rotation, no rebuild needed).
    pub fn set_credentials(&self, credentials: Credentials) {
        let mut guard = self
            .inner
            .credentials
            .write()
            .unwrap_or_else(|p| p.into_inner());
        *guard = credentials;
    }

    /// The user name the client authenticates as (never the secret).
    pub fn principal(&self) -> String {
        self.inner
            .credentials
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .principal()
            .to_owned()
    }

    /// The dialect in use: the configured one, else detected once from serverInfo and cached.
    pub async fn deployment(&self) -> Result<Deployment, JiraError> {
        if let Some(d) = self.inner.configured {
            return Ok(d);
        }
        self.inner
            .detected
            .get_or_try_init(|| async { self.detect_deployment().await })
            .await
            .copied()
    }

    /// Records a dialect learned elsewhere (the connection check reads serverInfo anyway).
    pub(crate) fn remember_deployment(&self, deployment: Deployment) {
        let _ = self.inner.detected.set(deployment);
    }

    /// The dialect fixed in the configuration, if any.
    pub fn configured_deployment(&self) -> Option<Deployment> {
        self.inner.configured
    }

    /// Asks `/rest/api/2/serverInfo` which product answers (works for both dialects).
    pub async fn detect_deployment(&self) -> Result<Deployment, JiraError> {
        let info = self.server_info().await?;
        Ok(info.deployment())
    }

    /// `GET /rest/api/2/serverInfo`; the dialect-neutral endpoint every Jira has.
    pub async fn server_info(&self) -> Result<ServerInfo, JiraError> {
        let url = self.url(&["rest", "api", "2", "serverInfo"]);
        self.call(Call::get(url)).await
    }

    /// A URL under the base from path segments, each percent-encoded.
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for segment in segments {
                path.push(segment);
            }
        }
        url
    }

    /// A URL under the dialect's REST prefix (`rest/api/3` or `rest/api/2`).
    pub(crate) async fn api_url(&self, segments: &[&str]) -> Result<Url, JiraError> {
        let deployment = self.deployment().await?;
        let mut all: Vec<&str> = deployment.api_prefix().split('/').collect();
        all.extend_from_slice(segments);
        Ok(self.url(&all))
    }

    /// Sends a call and decodes its JSON answer.
    pub(crate) async fn call<T: DeserializeOwned>(&self, call: Call) -> Result<T, JiraError> {
        let endpoint = call.endpoint();
        let body = self.send(call).await?;
        serde_json::from_slice(&body).map_err(|e| JiraError::Decode {
            endpoint,
            detail: format!("{e}; {}", body_excerpt(&body)),
        })
    }

    /// Sends a call whose answer has no body worth reading (204 and friends).
    pub(crate) async fn call_empty(&self, call: Call) -> Result<(), JiraError> {
        self.send(call).await.map(|_| ())
    }

    /// Sends a call with pacing and retries; returns the body of a 2xx answer.
    ///
    /// Retries: 429 always (Jira did not process the request) after its `Retry-After`; 5xx and
    /// timeouts for idempotent calls only; refused connections for every call (nothing was sent).
    pub(crate) async fn send(&self, call: Call) -> Result<Bytes, JiraError> {
        let policy = &self.inner.retry;
        let endpoint = call.endpoint();
        let may_repeat = call.idempotency == Idempotency::Idempotent || policy.retry_non_idempotent;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let last_attempt = attempt >= policy.max_attempts;
            let scopes = scopes_of(call.method.as_str(), call.url.path());
            if let Err(remaining) = self
                .inner
                .limiter
                .acquire_scoped(&scopes, policy.max_retry_after)
                .await
            {
                return Err(JiraError::RateLimited {
                    retry_after: Some(remaining),
                });
            }
            // The moment a request leaves, for whoever checks the pacing (tests subscribe).
            tracing::trace!(target: "tandem::jira::paced", base = %self.base_url(), %endpoint, "request leaves");
            let started = tokio::time::Instant::now();
            let result = self.request(&call)?.send().await;
            let response = match result {
                Ok(response) => response,
                Err(err) => {
                    let (kind, error) = classify_transport(&err, self.base_url());
                    tracing::debug!(%endpoint, attempt, error = %error, "jira request failed");
                    let retryable = match kind {
                        TransportKind::Connect => true,
                        TransportKind::AfterSend => may_repeat,
                        TransportKind::Tls => false,
                    };
                    if retryable && !last_attempt {
                        self.pause(attempt).await;
                        continue;
                    }
                    return Err(error);
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            let body = match response.bytes().await {
                Ok(body) => body,
                Err(err) => {
                    let (_, error) = classify_transport(&err, self.base_url());
                    if may_repeat && !last_attempt {
                        self.pause(attempt).await;
                        continue;
                    }
                    return Err(error);
                }
            };
            tracing::debug!(
                %endpoint,
                status = status.as_u16(),
                attempt,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "jira request"
            );
            if status.is_success() {
                return Ok(body);
            }
            let retry_after = retry_after(&headers);
            if status == StatusCode::TOO_MANY_REQUESTS {
                // Without a Retry-After, back off like a 5xx, still gating the 429's scope.
                let wait = retry_after.unwrap_or_else(|| {
                    backoff(attempt, policy.base_delay, policy.max_delay).max(policy.base_delay)
                });
                let reason = headers
                    .get("RateLimit-Reason")
                    .and_then(|v| v.to_str().ok());
                let scope = Scope::of(reason, call.method.as_str(), call.url.path());
                self.inner.limiter.block_scope(&scope, wait);
                self.inner.limiter.note_limited();
                tracing::info!(%endpoint, retry_after_ms = wait.as_millis() as u64, reason, scope = ?scope, "jira rate limit");
                if wait > policy.max_retry_after || last_attempt {
                    return Err(JiraError::RateLimited {
                        retry_after: Some(wait),
                    });
                }
                continue;
            }
            if status.is_server_error() {
                if let Some(wait) = retry_after {
                    self.inner.limiter.block_for(wait);
                }
                if may_repeat && !last_attempt {
                    self.pause(attempt).await;
                    continue;
                }
            }
            return Err(self.status_error(status, &headers, &endpoint, &body));
        }
    }

    async fn pause(&self, attempt: u32) {
        let policy = &self.inner.retry;
        tokio::time::sleep(backoff(attempt - 1, policy.base_delay, policy.max_delay)).await;
    }

    fn request(&self, call: &Call) -> Result<reqwest::RequestBuilder, JiraError> {
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .header(ACCEPT, "application/json");
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        let header = self
            .inner
            .credentials
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .header_value();
        let Some(value) = header else {
            return Err(JiraError::Config(
                "the credentials contain characters that cannot be sent in an HTTP header (a line break in the secret file?)".to_owned(),
            ));
        };
        request = request.header(AUTHORIZATION, value);
        // Data Center refuses state-changing calls without this when XSRF checks are on.
        if call.method != Method::GET {
            request = request.header("X-Atlassian-Token", "no-check");
        }
        Ok(request)
    }

    fn status_error(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        endpoint: &str,
        body: &[u8],
    ) -> JiraError {
        let parsed = ErrorCollection::parse(body);
        let detail = parsed.summary(body);
        let endpoint = endpoint.to_owned();
        match status.as_u16() {
            401 => JiraError::Unauthorized {
                principal: self.principal(),
                detail: login_reason(headers).unwrap_or_else(|| {
                    "the user name or secret is wrong, or the token was revoked (HTTP 401)"
                        .to_owned()
                }),
            },
            403 => {
                // Data Center answers 403 to a login that now needs a CAPTCHA.
                let denied = headers
                    .get("X-Authentication-Denied-Reason")
                    .and_then(|v| v.to_str().ok());
                if let Some(reason) = denied {
                    JiraError::Unauthorized {
                        principal: self.principal(),
                        detail: format!(
                            "login denied ({reason}); log in once in a browser to clear it"
                        ),
                    }
                } else {
                    JiraError::Forbidden { endpoint, detail }
                }
            }
            404 => JiraError::NotFound { endpoint, detail },
            s if (300..400).contains(&s) => {
                let location = headers
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("elsewhere");
                JiraError::Decode {
                    endpoint,
                    detail: format!(
                        "redirected ({s}) to {location}; check the url (and the context path of Data Center)"
                    ),
                }
            }
            s if s >= 500 => JiraError::Server {
                status: s,
                endpoint,
                detail,
            },
            s => JiraError::BadRequest {
                status: s,
                endpoint,
                error_messages: parsed.error_messages.clone(),
                errors: parsed.errors_as_text(),
            },
        }
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

fn login_reason(headers: &HeaderMap) -> Option<String> {
    let reason = headers.get("X-Seraph-LoginReason")?.to_str().ok()?;
    Some(match reason {
        "AUTHENTICATED_FAILED" | "AUTHENTICATION_DENIED" => {
            format!("login failed ({reason}); check the user name and secret")
        }
        other => format!("login failed ({other})"),
    })
    .filter(|_| !reason.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalised() {
        let url = normalize_base_url("  https://acme.atlassian.net//  ").unwrap();
        assert_eq!(url.as_str(), "https://acme.atlassian.net/");
        let url = normalize_base_url("https://jira.corp/jira/").unwrap();
        assert_eq!(url.as_str(), "https://jira.corp/jira/");
        assert!(normalize_base_url("ftp://jira").is_err());
        assert!(normalize_base_url("jira.corp").is_err());
        assert!(normalize_base_url("https://u:p@jira.corp").is_err());
    }

    #[test]
    fn urls_keep_the_context_path_and_encode_segments() {
        let client = JiraClient::new(JiraConfig::new(
            "https://jira.corp/jira",
            Credentials::bearer("t"),
        ))
        .unwrap();
        let url = client.url(&["rest", "api", "2", "issue", "A B/?"]);
        assert_eq!(
            url.as_str(),
            "https://jira.corp/jira/rest/api/2/issue/A%20B%2F%3F"
        );
    }
}
