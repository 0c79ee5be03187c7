//! The typed failures of a Jira call, and how transport errors are told apart (refused vs TLS).

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::time::Duration;

/// Why a Jira call failed, shaped so the controller can turn it into a condition reason.
///
/// Messages never contain credentials: the client never puts them in URLs and never formats
/// request headers.
#[derive(Debug, thiserror::Error)]
pub enum JiraError {
    /// 401: the credentials are wrong, expired or revoked (or Data Center wants a CAPTCHA).
    #[error("Jira rejected the credentials of {principal}: {detail}")]
    Unauthorized { principal: String, detail: String },
    /// 403: authenticated, but not allowed to do this.
    #[error("Jira denied {endpoint}: {detail}")]
    Forbidden { endpoint: String, detail: String },
    /// 404: the object does not exist or the user cannot see it (Jira does not say which).
    #[error("not found in Jira: {endpoint}: {detail}")]
    NotFound { endpoint: String, detail: String },
    /// No HTTP answer at all: DNS, refused or reset connections, timeouts.
    #[error("cannot reach Jira at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// The TLS handshake failed: untrusted or expired certificate, wrong host name, or the
    /// server does not speak TLS on that port.
    #[error("TLS handshake with {url} failed: {detail}")]
    Tls { url: String, detail: String },
    /// 429 that outlasted the retry budget, or a `Retry-After` longer than the client waits in one call.
    #[error("Jira is rate limiting this connection{}", retry_hint(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx after the retries allowed for the call.
    #[error("Jira failed with HTTP {status} on {endpoint}: {detail}")]
    Server {
        status: u16,
        endpoint: String,
        detail: String,
    },
    /// Other 4xx (400, 409, ...): Jira's own explanation, field by field.
    #[error("Jira rejected {endpoint} (HTTP {status}): {}", bad_request_summary(.error_messages, .errors))]
    BadRequest {
        status: u16,
        endpoint: String,
        error_messages: Vec<String>,
        errors: BTreeMap<String, String>,
    },
    /// The answer was not what this endpoint returns (not JSON, or missing required parts).
    #[error("unexpected answer from {endpoint}: {detail}")]
    Decode { endpoint: String, detail: String },
    /// The settings cannot work (bad URL, unreadable CA file); retrying will not help.
    #[error("invalid Jira connection settings: {0}")]
    Config(String),
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!("; retry after {}s", d.as_secs_f64().ceil()),
        None => String::new(),
    }
}

fn bad_request_summary(messages: &[String], errors: &BTreeMap<String, String>) -> String {
    let mut parts: Vec<String> = messages.to_vec();
    parts.extend(errors.iter().map(|(field, msg)| format!("{field}: {msg}")));
    if parts.is_empty() {
        "no details given".to_owned()
    } else {
        parts.join("; ")
    }
}

impl JiraError {
    /// The condition reason this error maps to (CamelCase, stable: controller and status use it).
    pub fn reason(&self) -> &'static str {
        match self {
            JiraError::Unauthorized { .. } => "AuthenticationFailed",
            JiraError::Forbidden { .. } => "Forbidden",
            JiraError::NotFound { .. } => "NotFound",
            JiraError::Unreachable { .. } => "Unreachable",
            JiraError::Tls { .. } => "TlsError",
            JiraError::RateLimited { .. } => "RateLimited",
            JiraError::Server { .. } => "JiraServerError",
            JiraError::BadRequest { .. } => "JiraRejected",
            JiraError::Decode { .. } => "UnexpectedResponse",
            JiraError::Config(_) => "InvalidConnection",
        }
    }

    /// Whether trying the same call later can succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            JiraError::Unreachable { .. }
                | JiraError::RateLimited { .. }
                | JiraError::Server { .. }
        )
    }

    /// The HTTP status Jira answered with, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            JiraError::Unauthorized { .. } => Some(401),
            JiraError::Forbidden { .. } => Some(403),
            JiraError::NotFound { .. } => Some(404),
            JiraError::RateLimited { .. } => Some(429),
            JiraError::Server { status, .. } | JiraError::BadRequest { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// Jira's error body (`ErrorCollection`), tolerant of anything else.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorCollection {
    #[serde(default)]
    pub error_messages: Vec<String>,
    #[serde(default)]
    pub errors: BTreeMap<String, serde_json::Value>,
    /// Some endpoints (Agile, webhooks) answer `{"message": ...}` instead.
    #[serde(default)]
    pub message: Option<String>,
}

impl ErrorCollection {
    pub(crate) fn parse(body: &[u8]) -> ErrorCollection {
        let mut parsed: ErrorCollection = serde_json::from_slice(body).unwrap_or_default();
        if let Some(m) = parsed.message.take() {
            parsed.error_messages.push(m);
        }
        parsed
    }

    pub(crate) fn errors_as_text(&self) -> BTreeMap<String, String> {
        self.errors
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()
    }

    /// One line for messages; falls back to a hint of the body when it is not Jira's shape.
    pub(crate) fn summary(&self, body: &[u8]) -> String {
        let mut parts = self.error_messages.clone();
        parts.extend(
            self.errors_as_text()
                .into_iter()
                .map(|(k, v)| format!("{k}: {v}")),
        );
        if parts.is_empty() {
            body_excerpt(body)
        } else {
            parts.join("; ")
        }
    }
}

/// The start of a body, for messages about answers we could not use.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    const MAX: usize = 160;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "empty body".to_owned();
    }
    let mut cut: String = text.chars().take(MAX).collect();
    if text.chars().count() > MAX {
        cut.push('…');
    }
    format!("body starts with {cut:?}")
}

/// What kind of transport failure a reqwest error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransportKind {
    /// Failed before the request could reach Jira (refused, DNS): safe to retry any method.
    Connect,
    /// May have reached Jira (timeout, reset mid-answer): only idempotent calls retry.
    AfterSend,
    Tls,
}

/// Classifies a transport error by walking its source chain, because reqwest folds DNS, refused
/// connections and TLS failures into one "connect" error.
pub(crate) fn classify_transport(err: &reqwest::Error, url: &str) -> (TransportKind, JiraError) {
    if let Some(tls) = find_rustls_error(err) {
        return (
            TransportKind::Tls,
            JiraError::Tls {
                url: url.to_owned(),
                detail: describe_tls(tls),
            },
        );
    }
    let detail = chain_detail(err);
    let kind = if err.is_timeout() {
        TransportKind::AfterSend
    } else if err.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::AfterSend
    };
    let detail = if err.is_timeout() {
        format!("timed out ({detail})")
    } else {
        detail
    };
    (
        kind,
        JiraError::Unreachable {
            url: url.to_owned(),
            detail,
        },
    )
}

fn find_rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // io::Error::source skips the wrapped error itself, so look inside explicitly.
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                    return Some(tls);
                }
                if let Some(found) = find_rustls_error(inner) {
                    return Some(found);
                }
            }
        }
        current = e.source();
    }
    None
}

fn describe_tls(err: &rustls::Error) -> String {
    use rustls::{CertificateError, Error};
    match err {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the server's certificate is not signed by a trusted CA (set caFile to the CA that signed it)".to_owned()
        }
        Error::InvalidCertificate(CertificateError::Expired)
        | Error::InvalidCertificate(CertificateError::ExpiredContext { .. }) => {
            "the server's certificate has expired".to_owned()
        }
        Error::InvalidCertificate(CertificateError::NotValidForName)
        | Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
            "the server's certificate is not valid for this host name (check the url)".to_owned()
        }
        Error::InvalidCertificate(other) => format!("the server's certificate was refused: {other:?}"),
        Error::InvalidMessage(_) | Error::InappropriateMessage { .. } => {
            "the server does not speak TLS on this port (is the url http rather than https?)"
                .to_owned()
        }
        other => other.to_string(),
    }
}

/// The causes of an error as one line, innermost last, without reqwest's URL repetition.
fn chain_detail(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn StdError + 'static)> = StdError::source(err);
    while let Some(e) = current {
        let text = e.to_string();
        // hyper-util's wrapper line adds nothing a person can act on.
        let noise = text.starts_with("client error (");
        if !text.is_empty() && !noise && !parts.iter().any(|p| p == &text) {
            parts.push(text);
        }
        current = e.source();
    }
    if parts.is_empty() {
        if err.is_timeout() {
            return "no answer in time".to_owned();
        }
        return "request failed".to_owned();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_collection_summary_lists_fields() {
        let body = br#"{"errorMessages":["Bad"],"errors":{"summary":"You must specify a summary of the issue."}}"#;
        let parsed = ErrorCollection::parse(body);
        assert_eq!(
            parsed.summary(body),
            "Bad; summary: You must specify a summary of the issue."
        );
    }

    #[test]
    fn non_json_bodies_are_quoted_briefly() {
        let body = b"<html>proxy error</html>";
        let parsed = ErrorCollection::parse(body);
        assert!(parsed.summary(body).contains("proxy error"));
    }

    #[test]
    fn reasons_are_stable() {
        let e = JiraError::Unauthorized {
            principal: "a".into(),
            detail: "b".into(),
        };
        assert_eq!(e.reason(), "AuthenticationFailed");
        assert_eq!(
            JiraError::Tls {
                url: "u".into(),
                detail: "d".into()
            }
            .reason(),
            "TlsError"
        );
    }
}
