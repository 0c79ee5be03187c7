//! The Jira simulator (`tandem jira-sim`): a stateful fake of Jira Cloud and Data Center.
pub mod jql;
pub mod webhooks;
