//! tandem: a self-hosted daemon that keeps a product workspace in two-way sync with Jira.
//!
//! See `ARCHITECTURE.md` at the repository root for the map of modules and their invariants.

pub mod app;
pub mod cli;
pub mod controller;
pub mod daemon;
pub mod http;
pub mod items;
pub mod jira;
pub mod live;
pub mod manifest;
pub mod reconcile;
pub mod secret;
pub mod sim;
pub mod store;
pub mod sync;
pub mod watch;
pub mod workspace;

/// `outer: inner: root`, an error with its causes in one sentence for people to read (logs, CLI
/// messages, job errors); a cause its parent already spelled out is not repeated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}
