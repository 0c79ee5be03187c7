//! The redb store: the only code that touches the state file.
