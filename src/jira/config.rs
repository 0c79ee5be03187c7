//! Connection settings for one Jira instance: where it is, which dialect it speaks and who we are.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which Jira product answers at the base URL; it decides the REST dialect.
///
/// Cloud speaks REST v3 (rich text as ADF, token-paged search); Data Center speaks REST v2
/// (rich text as wiki markup, offset-paged search).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Deployment {
    Cloud,
    DataCenter,
}

impl Deployment {
    /// The platform REST prefix of the dialect, without a trailing slash.
    pub fn api_prefix(self) -> &'static str {
        match self {
            Deployment::Cloud => "rest/api/3",
            Deployment::DataCenter => "rest/api/2",
        }
    }

    /// Maps serverInfo's `deploymentType` onto a dialect.
    ///
    /// Jira Server and Data Center share the v2 dialect; an absent value means an old Server.
    pub fn from_deployment_type(value: Option<&str>) -> Deployment {
        match value {
            Some(v) if v.eq_ignore_ascii_case("cloud") => Deployment::Cloud,
            _ => Deployment::DataCenter,
        }
    }

    /// Wraps plain text as the dialect's rich-text value (ADF document on Cloud, a string on Data Center).
    ///
    /// Paragraphs are split on blank lines; this is the minimal faithful encoding, richer
    /// conversions belong to the sync engine.
    pub fn rich_text(self, text: &str) -> serde_json::Value {
        match self {
            Deployment::DataCenter => serde_json::Value::String(text.to_owned()),
            Deployment::Cloud => {
                let paragraphs: Vec<serde_json::Value> = text
                    .split("\n\n")
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| {
                        serde_json::json!({
                            "type": "paragraph",
                            "content": [{"type": "text", "text": p}]
                        })
                    })
                    .collect();
                serde_json::json!({"type": "doc", "version": 1, "content": paragraphs})
            }
        }
    }

    /// Human name used in messages.
    pub fn label(self) -> &'static str {
        match self {
            Deployment::Cloud => "Jira Cloud",
            Deployment::DataCenter => "Jira Data Center",
        }
    }
}

impl fmt::Display for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

pub use crate::secret::Secret;

/// How requests authenticate.
///
/// Cloud uses Basic with the account e-mail and an API token; Data Center uses Basic with
/// username and password, or Bearer with a personal access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    Basic { user: String, secret: Secret },
    Bearer { token: Secret },
}

impl Credentials {
    pub fn basic(user: impl Into<String>, secret: impl Into<Secret>) -> Credentials {
        Credentials::Basic {
            user: user.into(),
            secret: secret.into(),
        }
    }

    pub fn bearer(token: impl Into<Secret>) -> Credentials {
        Credentials::Bearer {
            token: token.into(),
        }
    }

    /// The `Authorization` header value, marked sensitive so hyper and reqwest never print it.
    pub(crate) fn header_value(&self) -> Option<reqwest::header::HeaderValue> {
        use base64::Engine as _;
        let raw = match self {
            Credentials::Basic { user, secret } => {
                let pair = format!("{user}:{}", secret.expose());
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )
            }
            Credentials::Bearer { token } => format!("Bearer {}", token.expose()),
        };
        let mut value = reqwest::header::HeaderValue::from_str(&raw).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    /// Who is authenticating, safe to show (the user name, never the secret).
    pub fn principal(&self) -> &str {
        match self {
            Credentials::Basic { user, .. } => user,
            Credentials::Bearer { .. } => "personal access token",
        }
    }
}

/// How hard the client tries before giving an error back to its caller.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts per call, including the first (at least 1).
    pub max_attempts: u32,
    /// First backoff step; doubled on each retry, with full jitter.
    pub base_delay: Duration,
    /// Upper bound of one backoff sleep.
    pub max_delay: Duration,
    /// Longest `Retry-After` the client sleeps through inside one call; a longer one comes back as
    /// [`crate::jira::JiraError::RateLimited`] so the caller can reschedule instead of blocking a worker.
    pub max_retry_after: Duration,
    /// Also retry non-idempotent calls (issue create, comment add, ...) after a 5xx or timeout.
    ///
    /// Off by default: a POST that timed out may have been applied, and a blind retry would make
    /// a duplicate. The sync engine writes a durable intent first and adopts after failures instead.
    pub retry_non_idempotent: bool,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
            retry_non_idempotent: false,
        }
    }
}

/// Everything needed to talk to one Jira instance.
#[derive(Clone, Debug)]
pub struct JiraConfig {
    /// Base URL as the user sees Jira, e.g. `https://acme.atlassian.net` or `https://jira.corp/jira`.
    pub base_url: String,
    /// Known dialect; `None` detects it from serverInfo on first use.
    pub deployment: Option<Deployment>,
    pub auth: Credentials,
    /// Extra PEM roots trusted on top of the system store, for instances behind a private CA.
    pub ca_file: Option<PathBuf>,
    /// Per-connection ceiling; `None` means no client-side limit (429s are still honoured).
    pub requests_per_second: Option<f64>,
    /// Deadline of one HTTP attempt, connect included.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl JiraConfig {
    /// A config with the defaults for everything but location and identity.
    pub fn new(base_url: impl Into<String>, auth: Credentials) -> JiraConfig {
        JiraConfig {
            base_url: base_url.into(),
            deployment: None,
            auth,
            ca_file: None,
            requests_per_second: None,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let creds = Credentials::basic("admin@example.com", "hunter2-token");
        let shown = format!("{creds:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("admin@example.com"));
        let config = JiraConfig::new("https://x", Credentials::bearer("pat-secret"));
        assert!(!format!("{config:?}").contains("pat-secret"));
    }

    #[test]
    fn deployment_type_maps_to_dialect() {
        assert_eq!(
            Deployment::from_deployment_type(Some("Cloud")),
            Deployment::Cloud
        );
        assert_eq!(
            Deployment::from_deployment_type(Some("Server")),
            Deployment::DataCenter
        );
        assert_eq!(
            Deployment::from_deployment_type(Some("DataCenter")),
            Deployment::DataCenter
        );
        assert_eq!(
            Deployment::from_deployment_type(None),
            Deployment::DataCenter
        );
    }

    #[test]
    fn header_is_sensitive_basic() {
        let v = Credentials::basic("a", "b").header_value().unwrap();
        assert!(v.is_sensitive());
        assert_eq!(v.to_str().unwrap(), "Basic YTpi");
    }
}
