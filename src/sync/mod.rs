//! Mapping between workspace items and Jira issues, and the two-way sync engine.
