//! The Jira client: the only code that speaks HTTP to Jira (Cloud and Data Center).
