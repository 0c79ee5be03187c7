//! Issues that move between projects. Jira gives a moved issue a new key in its new project
//! and keeps its id; links are keyed on the id. When the new project is synced by another
//! integration of the same workspace and connection, the link is handed over to it, with the
//! pair's baseline, instead of unlinking and importing the issue again as a second item.
//! One-time imports use the same lookup ([`link_left_behind`], [`move_link`]), so a move that
//! no webhook announced does not yield a second item either.

use crate::jira::Issue;
use crate::manifest::model::ProjectIntegration;
use crate::manifest::Model;
use crate::store::{Link, Store, StoreError};
use crate::workspace::{IssueRef, WorkspaceError, WorkspaceService};

use super::baseline;
use super::pair::{PairEnv, PairError, Synced};
use super::{EngineKey, PairKey};

/// The other integration of this workspace and connection that syncs `project`.
pub(super) fn integration_for_project(env: &PairEnv<'_>, project: &str) -> Option<String> {
    let model = env.shared.live.model();
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
    let model = env.shared.live.model();
    Ok(link_left_behind(
        &env.shared.store,
        &model,
        &env.run.integration,
        &issue.id,
        project,
    )?)
}

/// The link another integration of `me`'s connection holds to issue `issue_id`, now in
/// `project`, which is not that integration's project: the issue moved away from it. Returns
/// the link and that integration's workspace. Also used by one-time imports, which must not
/// import a moved issue as a second item either.
pub fn link_left_behind(
    store: &Store,
    model: &Model,
    me: &ProjectIntegration,
    issue_id: &str,
    project: &str,
) -> Result<Option<(Link, String)>, StoreError> {
    for other in model
        .integrations
        .values()
        .filter(|i| i.name != me.name && i.connection == me.connection && i.project != project)
    {
        if let Some(link) = store.link_by_jira_issue(&other.name, issue_id)? {
            return Ok(Some((link, other.workspace.clone())));
        }
    }
    Ok(None)
}

/// Moves `link` (of workspace `ws`) to integration `to`, with the issue's new key and the
/// reason in the item's history; `false` when another run already did.
pub async fn move_link(
    workspace: &WorkspaceService,
    ws: &str,
    link: &Link,
    to: &str,
    issue: &Issue,
) -> Result<bool, WorkspaceError> {
    let reason = format!(
        "{} moved to {} in Jira; now synced by integration {to}",
        link.jira_issue_key, issue.key
    );
    let issue_ref = IssueRef {
        connection: link.connection.clone(),
        id: issue.id.clone(),
        key: issue.key.clone(),
    };
    workspace
        .move_jira_link(
            ws,
            &link.workspace_item_id,
            &link.integration,
            to,
            issue_ref,
            reason,
        )
        .await
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
    let moved = move_link(
        &env.shared.workspace,
        &env.run.workspace.name,
        link,
        to,
        issue,
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
