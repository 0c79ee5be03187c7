//! The embedded workspace: items, sprints and releases, and their API.
