//! Watching the manifest directory: notify events are hints, a full rescan is the truth.
