//! `tandem jira-sim --like DIR`: a simulator shaped like the Jira a manifest directory expects,
//! so `tandem validate --online DIR` can be tried on one machine. Lives in the CLI because the
//! simulator shares no code with what it tests (it never reads manifests itself); this reads
//! them and shapes a started simulator through its handle, as a Jira administrator would.
//!
//! Seeded: for every Connection of the simulator's deployment (or of none declared), a user
//! with the connection's login and secret (resolved as the daemon would, from
//! `$CREDENTIALS_DIRECTORY`, `--secrets` or the environment); for every integration on such a
//! connection, its project (key, display name), its board (the manifest's id), the issue types
//! it maps (at the hierarchy level the workspace gives them), its mapped statuses in the
//! project's workflow, and the fields its FieldMapping names (by the id it names, or by name,
//! typed like the workspace field, with its options). Listed instead: connections of the other
//! deployment, and what the simulator refused.

use std::path::{Path, PathBuf};

use crate::manifest::model::{
    Auth, Deployment as ManifestDeployment, FieldType, Model, ProjectIntegration, StoryPoints,
    DEFAULT_FIELDS,
};
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
    /// (name, hierarchy level) of every issue type the integrations map.
    pub issue_types: Vec<(String, i64)>,
    pub statuses: Vec<WantedStatus>,
    pub fields: Vec<WantedField>,
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
        // A token connection's user gets the token as its personal access token and a
        // password nobody knows: it signs in only as the manifests do.
        let (login, secret, pat) = match &c.auth {
            Auth::ApiToken { email, token } => (email.clone(), secrets.resolve(token), false),
            Auth::Basic { username, password } => {
                (username.clone(), secrets.resolve(password), false)
            }
            Auth::PersonalAccessToken(t) => (format!("{}-pat", c.name), secrets.resolve(t), true),
        };
        match secret {
            Ok(secret) => like.users.push(SimUser {
                login,
                pat: pat.then(|| secret.clone()),
                secret: if pat { unguessable() } else { secret },
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
        like.want_types(model, pi);
        for s in &pi.statuses {
            match like
                .statuses
                .iter_mut()
                .find(|w| w.name.eq_ignore_ascii_case(&s.jira))
            {
                Some(w) if !w.projects.contains(&pi.project) => w.projects.push(pi.project.clone()),
                Some(_) => {}
                None => like.statuses.push(WantedStatus {
                    name: s.jira.clone(),
                    category: category_of(&s.jira),
                    projects: vec![pi.project.clone()],
                }),
            }
        }
        let (Some(fm), Some(ws)) = (
            pi.field_mapping
                .as_ref()
                .and_then(|n| model.field_mappings.get(n)),
            model.workspaces.get(&pi.workspace),
        ) else {
            continue;
        };
        let mut fields: Vec<(&str, String, FieldType)> = Vec::new();
        if let Some(StoryPoints::Field(f)) = &fm.primary.story_points {
            fields.push((f, "Story Points".into(), FieldType::Number));
        }
        if let Some(f) = &fm.primary.team {
            fields.push((f, "Team".into(), FieldType::Text));
        }
        for (jira, (name, ty)) in [
            &fm.defaults.objective,
            &fm.defaults.key_result,
            &fm.defaults.value,
            &fm.defaults.effort,
        ]
        .into_iter()
        .zip(DEFAULT_FIELDS)
        {
            if let Some(jira) = jira {
                fields.push((jira, default_field_name(name), ty));
            }
        }
        for c in &fm.custom {
            if let Some(f) = ws.fields.iter().find(|f| f.name == c.workspace) {
                fields.push((&c.jira, f.name.clone(), f.field_type));
            }
        }
        for (jira, name, ty) in fields {
            let options = ws
                .fields
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.options.clone())
                .unwrap_or_default();
            let wanted = if is_custom_id(jira) {
                WantedField {
                    id: Some(jira.to_owned()),
                    name,
                    field_type: ty,
                    options,
                }
            } else {
                WantedField {
                    id: None,
                    name: jira.to_owned(),
                    field_type: ty,
                    options,
                }
            };
            if !like.fields.iter().any(|f| f.same_field(&wanted)) {
                like.fields.push(wanted);
            }
        }
    }
    like
}

impl Like {
    /// The issue types `pi` maps, with the hierarchy level each needs: a sub-task type (by
    /// its name) -1; above the type mapped to Epic, one level per workspace level (an
    /// Initiative over epics is 2, as in Advanced Roadmaps); else a standard type.
    fn want_types(&mut self, model: &Model, pi: &ProjectIntegration) {
        let depth = |ws_type: &str| -> Option<i64> {
            let ws = model.workspaces.get(&pi.workspace)?;
            let mut d = 0;
            let mut t = ws.item_type(ws_type)?;
            while let Some(p) = t.parent.as_deref().and_then(|p| ws.item_type(p)) {
                d += 1;
                t = p;
            }
            Some(d)
        };
        let epic_depth = pi
            .types
            .iter()
            .find(|t| {
                t.jira
                    .as_deref()
                    .is_some_and(|j| j.eq_ignore_ascii_case("epic"))
            })
            .and_then(|t| depth(&t.workspace));
        let mapped = pi
            .types
            .iter()
            .filter_map(|t| Some((t.jira.as_deref()?, Some(t.workspace.as_str()))))
            .chain(pi.secondary_types.iter().map(|t| (t.jira.as_str(), None)));
        for (name, ws_type) in mapped {
            let level = if is_subtask_name(name) {
                -1
            } else {
                match (ws_type.and_then(depth), epic_depth) {
                    (Some(d), Some(e)) if d < e => 1 + (e - d),
                    (Some(d), Some(e)) if d == e => 1,
                    _ => 0,
                }
            };
            if !self
                .issue_types
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                self.issue_types.push((name.to_owned(), level));
            }
        }
    }
}

/// A status the manifests map, the projects whose workflows need it, and the category a new
/// one gets.
#[derive(Debug)]
pub struct WantedStatus {
    pub name: String,
    pub category: &'static str,
    pub projects: Vec<String>,
}

/// A Jira field the mappings name: by id (then created with that id and the workspace
/// field's name) or by name.
#[derive(Debug)]
pub struct WantedField {
    pub id: Option<String>,
    pub name: String,
    pub field_type: FieldType,
    pub options: Vec<String>,
}

impl WantedField {
    fn same_field(&self, other: &WantedField) -> bool {
        match (&self.id, &other.id) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self.name.eq_ignore_ascii_case(&other.name),
            _ => false,
        }
    }

    /// Jira's custom field type for the workspace type.
    fn jira_type(&self) -> &'static str {
        match self.field_type {
            FieldType::Text => "textfield",
            FieldType::Number => "float",
            FieldType::SingleSelect => "select",
            FieldType::MultiSelect => "multiselect",
            FieldType::Date => "datepicker",
            FieldType::Labels => "labels",
            FieldType::Url => "url",
        }
    }
}

/// A password for a user who signs in only with a token.
fn unguessable() -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..32)
        .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
        .collect()
}

fn is_custom_id(f: &str) -> bool {
    f.strip_prefix("customfield_")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn is_subtask_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace(['-', ' '], "");
    n == "subtask"
}

/// "keyResult" → "Key result", as a Jira administrator would name the field.
fn default_field_name(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if i == 0 {
            out.extend(c.to_uppercase());
        } else if c.is_uppercase() {
            out.push(' ');
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The category a new status gets, from its name (Jira asks for one; the manifests do not
/// say): finished-sounding names are Done, waiting-sounding ones To Do, the rest In Progress.
fn category_of(name: &str) -> &'static str {
    let n = name.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| n.contains(w));
    if any(&[
        "done", "closed", "resolved", "complete", "released", "shipped",
    ]) {
        "Done"
    } else if any(&[
        "to do", "todo", "open", "backlog", "new", "selected", "ready",
    ]) {
        "To Do"
    } else {
        "In Progress"
    }
}

/// What shaping did: one line per thing added, and what the simulator refused.
#[derive(Debug, Default)]
pub struct Shaped {
    pub added: Vec<String>,
    pub refused: Vec<String>,
}

/// Creates the projects, boards, issue types, statuses and fields on a started simulator;
/// what it already has is left as it is.
pub fn apply(handle: &SimHandle, like: &Like) -> Result<Shaped, sim::SimError> {
    let before = handle.snapshot();
    for (key, name) in &like.projects {
        if before.projects.iter().all(|p| p.key != *key) {
            handle.create_project(key, name)?;
        }
    }
    for (id, name, project) in &like.boards {
        handle.create_board(*id, name, project)?;
    }
    let existing = handle.snapshot();
    let mut shaped = Shaped::default();
    let mut note = |what: String, r: Result<String, sim::SimError>| match r {
        Ok(_) => shaped.added.push(what),
        Err(e) => shaped
            .refused
            .push(format!("{what}: {}", super::error_chain(&e))),
    };
    for (name, level) in &like.issue_types {
        if existing.issue_type_by_name(name).is_none() {
            note(
                format!("issue type {name} (hierarchy level {level})"),
                handle.add_issue_type(name, "", *level),
            );
        }
    }
    for s in &like.statuses {
        let lacking: Vec<&str> = s
            .projects
            .iter()
            .filter(|p| {
                existing.project(p).is_none_or(|p| {
                    !existing
                        .workflow_statuses(p)
                        .iter()
                        .any(|w| w.name.eq_ignore_ascii_case(&s.name))
                })
            })
            .map(String::as_str)
            .collect();
        if lacking.is_empty() {
            continue;
        }
        let what = match existing.status_by_name(&s.name) {
            Some(_) => format!(
                "status {} in the workflow of {}",
                s.name,
                lacking.join(", ")
            ),
            None => format!(
                "status {} ({}) in the workflow of {}",
                s.name,
                s.category,
                lacking.join(", ")
            ),
        };
        note(what, handle.add_status(&s.name, s.category, &lacking));
    }
    for f in &like.fields {
        let found = match &f.id {
            Some(id) => existing.field(id).is_some(),
            None => existing.field_by_id_or_name(&f.name).is_some(),
        };
        if found {
            continue;
        }
        let options: Vec<&str> = f.options.iter().map(String::as_str).collect();
        let what = format!(
            "field {}{} ({}{})",
            f.id.as_deref()
                .map(|id| format!("{id} "))
                .unwrap_or_default(),
            f.name,
            f.jira_type(),
            if options.is_empty() {
                String::new()
            } else {
                format!(": {}", options.join(", "))
            }
        );
        note(
            what,
            handle.add_field(f.id.as_deref(), &f.name, f.jira_type(), &options),
        );
    }
    Ok(shaped)
}
