//! Sprint membership through the Agile API: the sprint field is not written by issue edits
//! (Data Center refuses it on most screens, and Cloud's semantics differ), so moves go through
//! `POST /sprint/{id}/issue` and `POST /backlog/issue`, at most
//! [`MAX_ISSUES_PER_MOVE`](crate::jira::MAX_ISSUES_PER_MOVE) issues per call.

use std::collections::BTreeMap;

use crate::jira::{JiraClient, JiraError, MAX_ISSUES_PER_MOVE};

use super::mapping::SprintMove;

/// What a batch of moves did: Agile API calls made and issues moved per target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoveReport {
    pub calls: usize,
    /// Sprint id (`None` = backlog) → issues moved there.
    pub moved: BTreeMap<Option<i64>, usize>,
}

/// Groups the moves by target and sends each group in batches of at most
/// [`MAX_ISSUES_PER_MOVE`]. Moving an issue where it already is is harmless in Jira, so a
/// retried batch does no damage. Stops at the first failing call (earlier groups stay moved).
pub async fn apply_sprint_moves(
    client: &JiraClient,
    moves: &[(String, SprintMove)],
) -> Result<MoveReport, JiraError> {
    let mut groups: BTreeMap<Option<i64>, Vec<String>> = BTreeMap::new();
    for (key, m) in moves {
        let group = groups.entry(m.sprint_id).or_default();
        if !group.contains(key) {
            group.push(key.clone());
        }
    }
    let mut report = MoveReport::default();
    for (target, keys) in groups {
        for chunk in keys.chunks(MAX_ISSUES_PER_MOVE) {
            match target {
                Some(sprint) => client.move_to_sprint(sprint, chunk).await?,
                None => client.move_to_backlog(chunk).await?,
            }
            report.calls += 1;
        }
        report.moved.insert(target, keys.len());
    }
    Ok(report)
}
