//! Workspace releases and sprints to Jira: a release planned in the workspace becomes a fix
//! version of the project, a sprint a sprint of the integration's board, so items that name
//! them can be pushed. Matching is by name (what both sides show people); Jira's own
//! versions and sprints come the other way when the engine builds an integration's run
//! ([`crate::sync::import::ensure_catalog`]).
//!
//! Only creation and a release's `released` flag flow to Jira. Deleting a release or a sprint
//! in the workspace leaves Jira's alone (issues may still use them), and sprint state changes
//! stay with the board, where Jira enforces its own rules (dates to start, one active sprint).

use crate::jira::{NewSprint, NewVersion, VersionUpdate};
use crate::workspace::WorkspaceError;

use super::pair::{PairEnv, PairError, Synced};

pub async fn push_release(env: &PairEnv<'_>, name: &str) -> Result<Synced, PairError> {
    let run = env.run;
    if !run.ctx.direction.to_jira() {
        return Ok(Synced::default());
    }
    let release = match env.shared.workspace.get_release(&run.workspace.name, name) {
        Ok(r) => r,
        Err(WorkspaceError::NotFound { .. }) => return Ok(Synced::default()),
        Err(e) => return Err(e.into()),
    };
    let mut synced = Synced::default();
    match run.ctx.catalog().versions.iter().find(|v| v.name == name) {
        Some(v) if v.released != release.released => {
            let update = VersionUpdate {
                released: Some(release.released),
                ..VersionUpdate::default()
            };
            run.client.update_version(&v.id, &update).await?;
            synced.jira_writes += 1;
        }
        Some(_) => return Ok(synced),
        None => {
            // Not idempotent in Jira: read the project's versions now, not the cached catalog,
            // so a retry after a lost answer does not create a second one.
            let current = run
                .client
                .project_versions(&run.integration.project)
                .await?;
            if !current.iter().any(|v| v.name == name) {
                let project = run.client.project(&run.integration.project).await?;
                let version = NewVersion {
                    name: name.to_owned(),
                    project_id: project.id.parse().unwrap_or_default(),
                    description: release.description.clone(),
                    release_date: release.release_date.clone(),
                    released: Some(release.released),
                    ..NewVersion::default()
                };
                run.client.create_version(&version).await?;
                synced.jira_writes += 1;
                tracing::info!(
                    integration = run.integration.name,
                    release = name,
                    "created the fix version"
                );
            }
        }
    }
    env.shared.invalidate(&run.integration.name).await;
    Ok(synced)
}

pub async fn push_sprint(env: &PairEnv<'_>, name: &str) -> Result<Synced, PairError> {
    let run = env.run;
    let Some(board) = run.integration.board else {
        return Ok(Synced::default());
    };
    if !run.ctx.direction.to_jira() || run.ctx.sprint_by_name(name).is_some() {
        return Ok(Synced::default());
    }
    let sprint = match env.shared.workspace.get_sprint(&run.workspace.name, name) {
        Ok(s) => s,
        Err(WorkspaceError::NotFound { .. }) => return Ok(Synced::default()),
        Err(e) => return Err(e.into()),
    };
    let current = run.client.board_sprints(board as i64, None).await?;
    let mut synced = Synced::default();
    if !current.iter().any(|s| s.name == name) {
        let fmt = |d: Option<chrono::DateTime<chrono::Utc>>| {
            d.map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        };
        let new = NewSprint {
            name: name.to_owned(),
            origin_board_id: board as i64,
            start_date: fmt(sprint.start),
            end_date: fmt(sprint.end),
            goal: sprint.goal.clone(),
        };
        run.client.create_sprint(&new).await?;
        synced.jira_writes += 1;
        tracing::info!(
            integration = run.integration.name,
            sprint = name,
            "created the sprint on the board"
        );
    }
    env.shared.invalidate(&run.integration.name).await;
    Ok(synced)
}
