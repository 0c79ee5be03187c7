//! The CLI side of the admin API: `status`, `plan` and `sync` talk to the running daemon over
//! HTTP, never to its state file (the daemon owns it).

use std::time::Duration;

/// Why the daemon could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum AdminClientError {
    #[error("cannot reach the tandem daemon at {url} (is `tandem run` running? set --admin or TANDEM_ADMIN_URL)")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the daemon answered {status} for {url}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("the daemon's answer from {url} is not the expected JSON")]
    Decode {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot read the admin token file named by TANDEM_ADMIN_TOKEN_FILE")]
    Token(#[source] std::io::Error),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
}

/// GETs `path` from the admin API and decodes it as JSON. A bearer token is sent when
/// `TANDEM_ADMIN_TOKEN_FILE` names one (needed when the admin API is bound off loopback).
pub fn get_json(admin: &str, path: &str) -> Result<serde_json::Value, AdminClientError> {
    let url = format!("{}{path}", admin.trim_end_matches('/'));
    let token = match std::env::var_os("TANDEM_ADMIN_TOKEN_FILE") {
        Some(file) => Some(
            std::fs::read_to_string(file)
                .map_err(AdminClientError::Token)?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(AdminClientError::Runtime)?;
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|source| AdminClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let mut req = client.get(&url);
        if let Some(token) = &token {
            req = req.bearer_auth(token);
        }
        let resp = req
            .send()
            .await
            .map_err(|source| AdminClientError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(AdminClientError::Status {
                url,
                status: status.as_u16(),
                body,
            });
        }
        resp.json()
            .await
            .map_err(|source| AdminClientError::Decode { url, source })
    })
}
