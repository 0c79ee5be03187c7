//! Building the [`MappingContext`] of one integration at run time: the applied manifests, the
//! online check's result the integration reconciler published (both from [`LiveView`]), and the
//! catalog (sprints, versions, components, fields) fetched from Jira now.
//!
//! The one-time sync jobs call this once per run, so the context reflects Jira as it is when
//! the job starts rather than when the integration was last checked.

use crate::jira::{JiraClient, JiraError};
use crate::live::LiveView;
use crate::manifest::model::{Model, ProjectIntegration, Workspace};

use super::mapping::{JiraCatalog, MappingContext};

/// Why a context cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("ProjectIntegration/{0} is not declared")]
    UnknownIntegration(String),
    #[error("Workspace/{0} is not declared")]
    UnknownWorkspace(String),
    #[error("ProjectIntegration/{0} has not passed its online check yet; retry once it is Ready")]
    NotChecked(String),
    #[error("Connection/{0} has no Jira client yet; retry once it is Ready")]
    NoClient(String),
    #[error("reading the catalog of project {project} from Jira")]
    Jira {
        project: String,
        #[source]
        source: JiraError,
    },
}

/// An integration ready to sync: its manifests, its client and its mapping.
#[derive(Clone)]
pub struct IntegrationRun {
    pub integration: ProjectIntegration,
    pub workspace: Workspace,
    pub client: JiraClient,
    pub ctx: MappingContext,
}

/// Fetches what [`MappingContext`] needs besides the online check.
pub async fn fetch_catalog(
    client: &JiraClient,
    integration: &ProjectIntegration,
) -> Result<JiraCatalog, JiraError> {
    let sprints = match integration.board {
        Some(board) => client.board_sprints(board as i64, None).await?,
        None => Vec::new(),
    };
    Ok(JiraCatalog {
        sprints,
        versions: client.project_versions(&integration.project).await?,
        components: client.project_components(&integration.project).await?,
        fields: client.fields().await?,
    })
}

/// Looks the integration up in `model` and builds its run from the resolved check result.
pub async fn integration_run(
    live: &LiveView,
    model: &Model,
    name: &str,
) -> Result<IntegrationRun, ContextError> {
    let pi = model
        .integrations
        .get(name)
        .cloned()
        .ok_or_else(|| ContextError::UnknownIntegration(name.to_owned()))?;
    let ws = model
        .workspaces
        .get(&pi.workspace)
        .cloned()
        .ok_or_else(|| ContextError::UnknownWorkspace(pi.workspace.clone()))?;
    let resolved = live
        .resolved_integration(name)
        .ok_or_else(|| ContextError::NotChecked(name.to_owned()))?;
    let client = live
        .client(&pi.connection)
        .ok_or_else(|| ContextError::NoClient(pi.connection.clone()))?;
    let client = (*client).clone();
    let jira = |source| ContextError::Jira {
        project: pi.project.clone(),
        source,
    };
    let deployment = client.deployment().await.map_err(jira)?;
    let catalog = fetch_catalog(&client, &pi).await.map_err(jira)?;
    let fm = pi
        .field_mapping
        .as_ref()
        .and_then(|n| model.field_mappings.get(n));
    let ctx = MappingContext::new(&pi, &ws, fm, &resolved, deployment, catalog);
    Ok(IntegrationRun {
        integration: pi,
        workspace: ws,
        client,
        ctx,
    })
}
