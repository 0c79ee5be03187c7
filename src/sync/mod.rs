//! Mapping between workspace items and Jira issues, one-time sync jobs and the live two-way
//! sync engine.
//!
//! Responsibilities, by submodule:
//! - [`mapping`]: one integration's type, status and field pairs ([`mapping::MappingContext`]);
//!   an item to the dialect's create/edit body plus the instructions that are not fields
//!   ([`mapping::to_jira`]: sprint move, status change, hierarchy link) and a REST issue to an
//!   item patch ([`mapping::from_jira`]), honouring per-field directions and ignored and
//!   secondary types;
//! - [`richtext`]: workspace text (markdown-ish) ⇄ ADF (Cloud v3) and wiki markup (Data Center v2);
//! - [`snapshot`]: canonical per-field snapshots of both sides, the unit of the 3-way merge;
//! - [`transitions`]: status changes by workflow transitions (path-finding over the learned
//!   workflow, required transition fields);
//! - [`sprints`]: sprint and backlog moves through the Agile API, in batches of at most 50;
//! - [`context`], [`import`], [`push`], [`jobs`]: one-time sync jobs (import from Jira, push
//!   to Jira with durable intents; both resumable);
//! - [`engine`]: the live two-way sync (webhooks, the workspace change feed and the resync
//!   sweep name pairs; workers merge each pair against its baseline).
//!
//! Architecture invariant: everything here but [`transitions::apply_status`],
//! [`sprints::apply_sprint_moves`], the job modules and the engine is pure (no I/O, no store);
//! the jobs and the engine decide when to call.

pub mod context;
pub mod engine;
pub mod import;
pub mod jobs;
pub mod mapping;
pub mod push;
pub mod richtext;
pub mod snapshot;
pub mod sprints;
pub mod transitions;

pub use mapping::{
    from_jira, from_jira_json, to_jira, IssueRef, IssueWrite, ItemPatch, JiraCatalog,
    MappingContext, MappingError, SprintMove, StatusChange,
};
pub use snapshot::{fields_snapshot, fields_snapshot_from_issue, fields_snapshot_from_read};
pub use transitions::{
    apply_status, plan_safe_transitions, plan_transitions, StatusPolicy, TransitionStep,
    WorkflowGraph,
};
