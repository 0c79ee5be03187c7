//! The embedded workspace: items, sprints and releases, their history and the change feed.
//!
//! Responsibilities: the data model (`crate::items`, re-exported as [`model`]), edits as merge patches ([`patch`]), and
//! [`WorkspaceService`], which validates every change against the Workspace manifest and writes
//! it through the store together with its change-feed entry. The admin API
//! (`http::workspace_api`) and the sync engine both go through the service; neither touches the
//! workspace tables directly.
//!
//! Architecture invariant: the workspace never calls Jira. A workspace change reaches Jira only
//! because the sync engine reads it from the change feed; a deletion here never deletes in Jira
//! by itself.

/// The data types live below the store (`crate::items`), which persists them; they keep their
/// old path here for callers that think of them as the workspace's.
pub use crate::items as model;
pub mod patch;
pub mod service;

pub use model::{
    Change, ChangeOp, ChangeTarget, Comment, HistoryEntry, Item, ItemId, JiraLink, Origin, Release,
    Sprint,
};
pub use patch::{ItemPatch, ReleasePatch, SprintPatch};
pub use service::{
    IfMatch, ImportEntry, ImportTarget, IssueRef, ItemFilter, ItemPage, ModelFn, WorkspaceError,
    WorkspaceService,
};
