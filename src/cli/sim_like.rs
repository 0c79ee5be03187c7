//! `tandem jira-sim --like DIR`: a simulator shaped like the Jira a manifest directory expects,
//! so `tandem validate --online DIR` can be tried on one machine. Lives in the CLI because the
//! simulator shares no code with what it tests (it never reads manifests itself); this reads
//! them and shapes a started simulator through its handle, as a Jira administrator would.
//!
//! Seeded: for every Connection of the simulator's deployment (or of none declared), a user
//! with the connection's login and secret (resolved as the daemon would, from
//! `$CREDENTIALS_DIRECTORY`, `--secrets` or the environment); for every integration on such a
//! connection, its project (key, display name) and its board (the manifest's id). Not seeded,
//! and listed instead: issue types, statuses and fields the simulator does not have (its
//! catalogue is fixed: see the README), and connections of the other deployment.

use std::path::{Path, PathBuf};

use crate::manifest::model::{Auth, Deployment as ManifestDeployment, Model, StoryPoints};
use crate::manifest::{collect_files, validate};
use crate::reconcile::SecretResolver;
use crate::sim::{self, SimHandle, SimUser};

/// What a manifest directory asks of the simulator.
#[derive(Debug, Default)]
pub struct Like {
    pub users: Vec<SimUser>,
    /// (key, name)
    pub projects: Vec<(String, String)>,
    /// (id, name, project key)
    pub boards: Vec<(u64, String, String)>,
    /// What the simulator cannot be given, one sentence each.
    pub missing: Vec<String>,
}

/// Reads and validates `dir` and works out what to seed for a simulator of `deployment`.
pub fn plan(
    dir: &Path,
    deployment: sim::Deployment,
    secrets: Option<PathBuf>,
) -> Result<Like, String> {
    let files = collect_files(dir).map_err(|e| super::error_chain(&e))?;
    let validation = validate(&files);
    if !validation.is_valid() {
        let shown: Vec<String> = validation
            .diagnostics
            .iter()
            .map(ToString::to_string)
            .collect();
        return Err(format!(
            "{} is invalid; fix it first:\n{}",
            dir.display(),
            shown.join("\n")
        ));
    }
    let resolver = SecretResolver::new(super::online::secret_dirs(secrets));
    Ok(shape(&validation.model, deployment, &resolver))
}

fn shape(model: &Model, deployment: sim::Deployment, secrets: &SecretResolver) -> Like {
    let mut like = Like::default();
    let ours = |d: &Option<ManifestDeployment>| {
        matches!(
            (d, deployment),
            (None, _)
                | (Some(ManifestDeployment::Cloud), sim::Deployment::Cloud)
                | (
                    Some(ManifestDeployment::DataCenter),
                    sim::Deployment::DataCenter
                )
        )
    };
    for c in model.connections.values() {
        if !ours(&c.deployment) {
            like.missing.push(format!(
                "Connection/{} is another deployment: start a second simulator with --deployment {} --like for it",
                c.name,
                match deployment {
                    sim::Deployment::Cloud => "dataCenter",
                    sim::Deployment::DataCenter => "cloud",
                }
            ));
            continue;
        }
        let (login, secret) = match &c.auth {
            Auth::ApiToken { email, token } => (email.clone(), secrets.resolve(token)),
            Auth::Basic { username, password } => (username.clone(), secrets.resolve(password)),
            Auth::PersonalAccessToken(t) => (format!("{}-pat", c.name), secrets.resolve(t)),
        };
        match secret {
            Ok(secret) => like.users.push(SimUser {
                login,
                secret,
                admin: true,
            }),
            Err(e) => like.missing.push(format!(
                "Connection/{}: no user for {login}: {} (give --secrets DIR)",
                c.name,
                super::error_chain(&e)
            )),
        }
    }
    for pi in model.integrations.values() {
        let Some(c) = model.connections.get(&pi.connection) else {
            continue;
        };
        if !ours(&c.deployment) {
            continue;
        }
        if !like.projects.iter().any(|(k, _)| *k == pi.project) {
            like.projects
                .push((pi.project.clone(), pi.display_name.clone()));
        }
        if let Some(board) = pi.board {
            like.boards
                .push((board, format!("{} board", pi.project), pi.project.clone()));
        }
        let types = pi
            .types
            .iter()
            .filter_map(|t| t.jira.as_deref())
            .chain(pi.secondary_types.iter().map(|t| t.jira.as_str()));
        for t in types {
            if sim::model::issue_type_by_name(t).is_none() {
                like.missing.push(format!(
                    "ProjectIntegration/{}: issue type {t:?} (the simulator has Epic, Story, Task, Bug, Sub-task)",
                    pi.name
                ));
            }
        }
        for s in &pi.statuses {
            if !sim::model::all_statuses().any(|d| d.name.eq_ignore_ascii_case(&s.jira)) {
                like.missing.push(format!(
                    "ProjectIntegration/{}: status {:?}",
                    pi.name, s.jira
                ));
            }
        }
        let Some(fm) = pi
            .field_mapping
            .as_ref()
            .and_then(|n| model.field_mappings.get(n))
        else {
            continue;
        };
        let mut fields: Vec<&str> = Vec::new();
        if let Some(StoryPoints::Field(f)) = &fm.primary.story_points {
            fields.push(f);
        }
        fields.extend(fm.primary.team.as_deref());
        fields.extend(
            [
                &fm.defaults.objective,
                &fm.defaults.key_result,
                &fm.defaults.value,
                &fm.defaults.effort,
            ]
            .into_iter()
            .flatten()
            .map(String::as_str),
        );
        fields.extend(fm.custom.iter().map(|c| c.jira.as_str()));
        for f in fields {
            if deployment.field_by_id_or_name(f).is_none() {
                let line = format!("FieldMapping/{}: field {f:?}", fm.name);
                if !like.missing.contains(&line) {
                    like.missing.push(line);
                }
            }
        }
    }
    like
}

/// Creates the projects and boards on a started simulator.
pub fn apply(handle: &SimHandle, like: &Like) -> Result<(), sim::SimError> {
    let existing = handle.snapshot();
    for (key, name) in &like.projects {
        if existing.projects.iter().all(|p| p.key != *key) {
            handle.create_project(key, name)?;
        }
    }
    for (id, name, project) in &like.boards {
        handle.create_board(*id, name, project)?;
    }
    Ok(())
}
