//! tandem: a self-hosted daemon that keeps a product workspace in two-way sync with Jira.
//!
//! See `ARCHITECTURE.md` at the repository root for the map of modules and their invariants.

pub mod cli;
pub mod controller;
pub mod daemon;
pub mod http;
pub mod jira;
pub mod manifest;
pub mod reconcile;
pub mod secret;
pub mod sim;
pub mod store;
pub mod sync;
pub mod watch;
pub mod workspace;
