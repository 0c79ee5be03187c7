//! Mapping between workspace items and Jira issues, and (next) the two-way sync engine.
//!
//! Responsibilities, by submodule:
//! - [`richtext`]: workspace text (markdown-ish) ⇄ ADF (Cloud v3) and wiki markup (Data Center v2).
pub mod richtext;
