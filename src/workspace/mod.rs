//! The embedded workspace: items, sprints and releases, and their API.

pub mod model;

pub use model::{Comment, HistoryEntry, Item, ItemId, JiraLink, Release, Sprint};
