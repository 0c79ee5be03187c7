//! Issues that move between projects. Jira gives a moved issue a new key in its new project
//! and keeps its id; links are keyed on the id. When the new project is synced by another
//! integration of the same workspace and connection, the link is handed over to it, with the
//! pair's baseline, instead of unlinking and importing the issue again as a second item.

use crate::jira::Issue;
use crate::store::Link;
use crate::workspace::IssueRef;

use super::baseline;
use super::pair::{PairEnv, PairError, Synced};
use super::{EngineKey, PairKey};

/// The other integration of this workspace and connection that syncs `project`.
pub(super) fn integration_for_project(env: &PairEnv<'_>, project: &str) -> Option<String> {
    let model = env.shared.resources.desired().model;
    let me = &env.run.integration;
    model
        .integrations
        .values()
        .find(|i| {
            i.name != me.name
                && i.workspace == me.workspace
                && i.connection == me.connection
                && i.project == project
        })
        .map(|i| i.name.clone())
}

/// A link to `issue` held by another integration on this connection whose project no longer
/// holds the issue (it moved out), with that integration's workspace.
pub(super) fn linked_elsewhere(
    env: &PairEnv<'_>,
    issue: &Issue,
    project: &str,
) -> Result<Option<(Link, String)>, PairError> {
    let model = env.shared.resources.desired().model;
    let me = &env.run.integration;
    for other in model
        .integrations
        .values()
        .filter(|i| i.name != me.name && i.connection == me.connection && i.project != project)
    {
        if let Some(link) = env
            .shared
            .store
            .link_by_jira_issue(&other.name, &issue.id)?
        {
            return Ok(Some((link, other.workspace.clone())));
        }
    }
    Ok(None)
}

/// Hands `link` over to integration `to`, whose project now holds `issue`, and names the
/// pair's next run (under `to`). The baseline is copied before the link moves and removed
/// after, so a crash in between leaves at worst a stale copy, never a pair without one.
pub(super) async fn hand_over(
    env: &PairEnv<'_>,
    link: &Link,
    to: &str,
    issue: &Issue,
) -> Result<Synced, PairError> {
    let store = &env.shared.store;
    let item = &link.workspace_item_id;
    // Never over a baseline `to` already has: it ran the pair after a concurrent hand-over.
    if baseline::load(store, to, item)?.is_none() {
        if let Some(base) = baseline::load(store, &link.integration, item)? {
            baseline::save(store, to, item, &base).await?;
        }
    }
    let reason = format!(
        "{} moved to {} in Jira; now synced by integration {to}",
        link.jira_issue_key, issue.key
    );
    let moved = env
        .shared
        .workspace
        .move_jira_link(
            &env.run.workspace.name,
            item,
            &link.integration,
            to,
            IssueRef {
                connection: link.connection.clone(),
                id: issue.id.clone(),
                key: issue.key.clone(),
            },
            reason,
        )
        .await?;
    baseline::remove(store, &link.integration, item).await?;
    if moved {
        tracing::info!(
            item,
            from = link.jira_issue_key,
            to = issue.key,
            integration = to,
            "the issue moved project; its link moved with it"
        );
    }
    Ok(Synced {
        reroute: Some(EngineKey {
            integration: to.to_owned(),
            pair: PairKey::Item(item.clone()),
        }),
        ..Synced::default()
    })
}
