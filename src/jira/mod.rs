//! The Jira client: the only code that speaks HTTP to Jira (Cloud and Data Center).
//!
//! Responsibilities:
//! - one [`JiraClient`] per Connection: dialect (Cloud REST v3 / Data Center REST v2, detected
//!   from serverInfo when not configured), credentials swappable at runtime, a per-connection
//!   rate limit, `Retry-After` honoured for every request of the connection, retries with
//!   backoff and jitter for 5xx and timeouts on idempotent calls only;
//! - typed endpoints ([`api`]), a page-by-page JQL search ([`SearchPager`]) and a bulk read
//!   with several requests in flight ([`bulk`]: ids then `bulkfetch` on Cloud, concurrent
//!   `startAt` pages on Data Center);
//! - typed errors ([`JiraError`]) whose [`JiraError::reason`] becomes a condition reason;
//! - the Connection check and the ProjectIntegration online checks ([`check`]).
//!
//! Architecture invariant: nothing here logs or formats a secret; [`Secret`] prints `***` and the
//! `Authorization` header is marked sensitive.

pub mod api;
pub mod bulk;
pub mod check;
mod client;
mod config;
mod error;
mod limit;
mod search;
pub mod types;

pub use api::MAX_ISSUES_PER_MOVE;
pub use bulk::{Batch, BulkRead, IssueBatches};
pub use check::{
    check_connection, check_integration, probe_connection, CheckError, CheckFailure,
    ConnectionInfo, FieldKind, FieldPair, IntegrationReport, IntegrationSpec, JiraFieldRef,
    ResolvedIntegration, StatusPair, TypePair,
};
pub use client::{normalize_base_url, Idempotency, JiraClient};
pub use config::{Credentials, Deployment, JiraConfig, RetryPolicy, Secret};
pub use error::JiraError;
pub use limit::RateLimitState;
pub use search::{SearchCursor, SearchPager, DEFAULT_PAGE_SIZE};
pub use types::*;
