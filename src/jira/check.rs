//! The checks run before anything syncs: can we log in as an administrator (Connection), and does
//! Jira have what a ProjectIntegration maps onto (project, board, types, statuses, fields).
//! `tandem validate --online` and the controller share them.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::client::JiraClient;
use super::config::Deployment;
use super::error::JiraError;
use super::types::{Board, BoardConfiguration, Field, FieldSchema, IssueType, Project, Status};

/// What a successful connection check learned.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    pub deployment: Deployment,
    pub base_url: String,
    pub server_title: Option<String>,
    pub version: Option<String>,
    pub user_display_name: String,
    /// Cloud `accountId` or Data Center user name.
    pub user_id: Option<String>,
    pub is_admin: bool,
}

/// Why a connection cannot be used; [`CheckError::reason`] is the condition reason.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("authentication failed: {0}")]
    AuthenticationFailed(#[source] JiraError),
    #[error("{user} is not a Jira administrator; tandem needs the global \"Administer Jira\" permission to connect (ask an administrator to add the user to the jira-administrators group)")]
    NotAdministrator { user: String },
    #[error("{0}")]
    Unreachable(#[source] JiraError),
    #[error("{0}")]
    TlsError(#[source] JiraError),
    #[error("no Jira answers at {url} ({detail}); check the url, including the context path of Data Center such as /jira")]
    NotJira { url: String, detail: String },
    #[error("the connection says deployment {configured} but {url} is {detected}; fix or remove `deployment`")]
    DeploymentMismatch {
        url: String,
        configured: Deployment,
        detected: Deployment,
    },
    #[error("{0}")]
    Jira(#[source] JiraError),
}

impl CheckError {
    pub fn reason(&self) -> &'static str {
        match self {
            CheckError::AuthenticationFailed(_) => "AuthenticationFailed",
            CheckError::NotAdministrator { .. } => "NotAdministrator",
            CheckError::Unreachable(_) => "Unreachable",
            CheckError::TlsError(_) => "TlsError",
            CheckError::NotJira { .. } => "NotJira",
            CheckError::DeploymentMismatch { .. } => "DeploymentMismatch",
            CheckError::Jira(e) => e.reason(),
        }
    }
}

impl From<JiraError> for CheckError {
    fn from(e: JiraError) -> CheckError {
        match e {
            JiraError::Unauthorized { .. } => CheckError::AuthenticationFailed(e),
            JiraError::Unreachable { .. } => CheckError::Unreachable(e),
            JiraError::Tls { .. } => CheckError::TlsError(e),
            other => CheckError::Jira(other),
        }
    }
}

/// Connects, detects the dialect and reads who we are and whether we administer Jira, without
/// requiring it. Use [`check_connection`] to enforce the guide's administrator rule.
pub async fn probe_connection(client: &JiraClient) -> Result<ConnectionInfo, CheckError> {
    let info = match client.server_info().await {
        Ok(info) => info,
        Err(e @ (JiraError::NotFound { .. } | JiraError::Decode { .. })) => {
            return Err(CheckError::NotJira {
                url: client.base_url().to_owned(),
                detail: e.to_string(),
            })
        }
        Err(e) => return Err(e.into()),
    };
    let detected = info.deployment();
    if let Some(configured) = client.configured_deployment() {
        if configured != detected {
            return Err(CheckError::DeploymentMismatch {
                url: client.base_url().to_owned(),
                configured,
                detected,
            });
        }
    }
    client.remember_deployment(detected);
    let user = client.myself().await?;
    let is_admin = client.is_admin().await?;
    Ok(ConnectionInfo {
        deployment: detected,
        base_url: client.base_url().to_owned(),
        server_title: info.server_title,
        version: info.version,
        user_display_name: user.display_name,
        user_id: user.account_id.or(user.name),
        is_admin,
    })
}

/// The Connection check: reachable, TLS trusted, a Jira, credentials accepted, administrator.
pub async fn check_connection(client: &JiraClient) -> Result<ConnectionInfo, CheckError> {
    let info = probe_connection(client).await?;
    if !info.is_admin {
        let user = if info.user_display_name.is_empty() {
            client.principal()
        } else {
            format!("{} ({})", info.user_display_name, client.principal())
        };
        return Err(CheckError::NotAdministrator { user });
    }
    Ok(info)
}

/// What a ProjectIntegration maps, in the terms the online checks need (the manifest layer maps
/// its model onto this).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntegrationSpec {
    /// Jira project key.
    pub project: String,
    pub board: Option<i64>,
    /// Primary types, each with the depth of the workspace type (0 = top of the hierarchy).
    pub types: Vec<TypePair>,
    /// Jira type names of `secondaryTypes` (one-way from Jira); they must exist too.
    pub secondary_types: Vec<String>,
    pub statuses: Vec<StatusPair>,
    pub fields: Vec<FieldPair>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypePair {
    pub workspace: String,
    pub jira: String,
    pub depth: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusPair {
    pub workspace: String,
    pub jira: String,
}

/// A workspace field (by the name people know it, e.g. `storyPoints` or `risk`) and its Jira side.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldPair {
    pub workspace: String,
    pub kind: FieldKind,
    pub jira: JiraFieldRef,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JiraFieldRef {
    /// The board's estimation field (`storyPoints: auto`).
    Auto,
    /// A field id (`customfield_10016`, `summary`) or a field name.
    Named(String),
}

/// The workspace side's value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FieldKind {
    Text,
    Number,
    SingleSelect,
    MultiSelect,
    Date,
    Labels,
    Url,
    /// The primary `team` field (Atlassian team, or a select/text field holding team names).
    Team,
    /// The primary `components` field.
    Components,
    /// The primary `releases` field (fix versions).
    Releases,
}

impl FieldKind {
    fn label(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Number => "number",
            FieldKind::SingleSelect => "singleSelect",
            FieldKind::MultiSelect => "multiSelect",
            FieldKind::Date => "date",
            FieldKind::Labels => "labels",
            FieldKind::Url => "url",
            FieldKind::Team => "team",
            FieldKind::Components => "components",
            FieldKind::Releases => "releases",
        }
    }

    /// What Jira schema fits, described for hints.
    fn wants(self) -> &'static str {
        match self {
            FieldKind::Text | FieldKind::Url => "a text field (schema type string)",
            FieldKind::Number => "a number field (schema type number)",
            FieldKind::SingleSelect => "a single-select or radio field (schema type option)",
            FieldKind::MultiSelect => {
                "a multi-select, checkboxes or labels field (schema type array of option or string)"
            }
            FieldKind::Date => "a date or date-time field",
            FieldKind::Labels => "a labels field (schema type array of string)",
            FieldKind::Team => "a team field (Atlassian team, select or text)",
            FieldKind::Components => "the components field",
            FieldKind::Releases => "the fixVersions field",
        }
    }

    fn accepts(self, schema: &FieldSchema) -> bool {
        let kind = schema.kind.as_str();
        let items = schema.items.as_deref();
        match self {
            FieldKind::Text | FieldKind::Url => kind == "string",
            FieldKind::Number => kind == "number",
            FieldKind::SingleSelect => kind == "option",
            FieldKind::MultiSelect => kind == "array" && matches!(items, Some("option" | "string")),
            FieldKind::Date => matches!(kind, "date" | "datetime"),
            FieldKind::Labels => kind == "array" && items == Some("string"),
            FieldKind::Team => matches!(kind, "team" | "any" | "option" | "string"),
            FieldKind::Components => kind == "array" && items == Some("component"),
            FieldKind::Releases => kind == "array" && items == Some("version"),
        }
    }
}

/// One thing the integration needs that Jira does not have, with the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckFailure {
    /// The pair as the manifest names it, e.g. `type Feature → Jira "Story"`.
    pub pair: String,
    pub message: String,
    pub hint: String,
}

/// What the Jira side resolved to, for the sync engine (ids instead of names).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedIntegration {
    pub project_id: Option<String>,
    /// Workspace type → Jira issue type.
    pub types: BTreeMap<String, IssueType>,
    /// Workspace status → Jira status.
    pub statuses: BTreeMap<String, Status>,
    /// Workspace field → Jira field.
    pub fields: BTreeMap<String, Field>,
    /// The board's estimation field when `auto` was asked for and resolved.
    pub story_points_field: Option<String>,
}

/// Every failure found (empty = the integration can run), what works only in part, and what
/// resolved.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IntegrationReport {
    pub failures: Vec<CheckFailure>,
    /// What does not stop the integration but leaves something out (a mapped field some
    /// types' create screens lack, a field Jira requires that tandem does not fill).
    pub warnings: Vec<CheckFailure>,
    pub resolved: ResolvedIntegration,
}

impl IntegrationReport {
    pub fn is_ok(&self) -> bool {
        self.failures.is_empty()
    }

    fn warn(&mut self, pair: String, message: String, hint: String) {
        self.warnings.push(CheckFailure {
            pair,
            message,
            hint,
        });
    }

    fn fail(&mut self, pair: String, message: String, hint: String) {
        self.failures.push(CheckFailure {
            pair,
            message,
            hint,
        });
    }
}

/// Checks an integration against Jira. `Err` only when Jira could not be asked at all
/// (unreachable, credentials, rate limit); everything Jira lacks is a [`CheckFailure`].
pub async fn check_integration(
    client: &JiraClient,
    spec: &IntegrationSpec,
) -> Result<IntegrationReport, JiraError> {
    let mut report = IntegrationReport::default();
    let user = client.principal();

    let project = match client.project(&spec.project).await {
        Ok(p) => Some(p),
        Err(JiraError::NotFound { .. }) => {
            report.fail(
                format!("project {}", spec.project),
                format!(
                    "project {} does not exist or {user} cannot browse it",
                    spec.project
                ),
                "check the project key (it is case-sensitive, e.g. DEMO) and that the connection's user has Browse Projects on it".to_owned(),
            );
            None
        }
        Err(e) => return Err(e),
    };
    if let Some(project) = &project {
        report.resolved.project_id = Some(project.id.clone());
    }

    let mut board_config = None;
    if let Some(board_id) = spec.board {
        board_config = check_board(client, board_id, spec, project.as_ref(), &mut report).await?;
    }

    if let Some(project) = &project {
        check_types(project, spec, &mut report);
        check_statuses(client, project, spec, &mut report).await?;
    }

    if !spec.fields.is_empty() {
        let fields = client.fields().await?;
        check_fields(&fields, spec, board_config.as_ref(), &mut report);
    }
    if let Some(project) = &project {
        check_screens(client, project, spec, &mut report).await?;
    }
    Ok(report)
}

/// The label of a field pair in failures, as `check_fields` names it.
fn field_label(pair: &FieldPair) -> String {
    match &pair.jira {
        JiraFieldRef::Auto => format!("field {} → auto", pair.workspace),
        JiraFieldRef::Named(name) => format!("field {} → Jira \"{name}\"", pair.workspace),
    }
}

/// Fields tandem fills on every create itself, whatever the mapping says.
const FILLED_ON_CREATE: &[&str] = &[
    "summary",
    "description",
    "project",
    "issuetype",
    "reporter",
    "parent",
    "labels",
];

/// What the create screen of each mapped type takes (Jira's create metadata, which follows
/// the project's screens and each custom field's context). A mapped field on no mapped type's
/// screen can never be written: a failure naming the field, the types and the fix. One that
/// only some types' screens lack is a warning: issues of those types are created without it.
/// A screen without Labels is a warning (tandem's creates then carry only its item property,
/// which a restart finds more slowly than a label), and so is a field Jira requires that
/// tandem does not fill: every create of that type would be refused.
async fn check_screens(
    client: &JiraClient,
    project: &Project,
    spec: &IntegrationSpec,
    report: &mut IntegrationReport,
) -> Result<(), JiraError> {
    let types: Vec<(String, IssueType)> = report
        .resolved
        .types
        .iter()
        .map(|(w, t)| (w.clone(), t.clone()))
        .collect();
    let mut lacking: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut epic_names: Option<Vec<String>> = None;
    for (ws_type, t) in &types {
        let Some(screen) = client.create_screen(&project.key, &t.id).await? else {
            // A Jira without per-type create metadata: nothing to check against.
            return Ok(());
        };
        // Epic Name (Data Center before 10) is filled from the title on every Epic create.
        if epic_names.is_none() {
            epic_names = Some(
                client
                    .fields()
                    .await?
                    .into_iter()
                    .filter(|f| {
                        f.schema
                            .as_ref()
                            .and_then(|s| s.custom.as_deref())
                            .is_some_and(|c| c.ends_with(":gh-epic-label"))
                    })
                    .map(|f| f.id)
                    .collect(),
            );
        }
        let epic_names = epic_names.as_deref().unwrap_or_default();
        let type_label = format!("type {ws_type} → Jira \"{}\"", t.name);
        if !screen.contains_key("labels") {
            report.warn(
                type_label.clone(),
                format!(
                    "the create screen of {} in {} has no Labels field: tandem's creates carry only its item property, so a create cut off by a restart is found again by reading the properties of up to 50 recent issues instead of one labelled search",
                    t.name, project.key
                ),
                "add Labels to the project's create screen for this issue type (Project settings → Issues → Screens)".to_owned(),
            );
        }
        for (ws_field, field) in &report.resolved.fields {
            if !screen.contains_key(&field.id) {
                lacking
                    .entry(ws_field.clone())
                    .or_default()
                    .push(t.name.clone());
            }
        }
        // Edit screens are known only per issue: asked of the newest issue of the type, when
        // there is one. A mapped field it lacks cannot be updated on such issues.
        let jql = format!(
            "project = \"{}\" AND issuetype = {} ORDER BY created DESC",
            project.key, t.id
        );
        let sample = client
            .search(&jql, &["summary"])
            .page_size(1)
            .next_page()
            .await?
            .and_then(|p| p.into_iter().next());
        if let Some(sample) = sample {
            let editable = client.edit_screen(&sample.key).await?;
            let fields = report.resolved.fields.clone();
            for (ws_field, field) in &fields {
                if !editable.contains(&field.id) {
                    let label = spec
                        .fields
                        .iter()
                        .find(|p| &p.workspace == ws_field)
                        .map(field_label)
                        .unwrap_or_else(|| format!("field {ws_field}"));
                    report.warn(
                        label,
                        format!(
                            "Jira field \"{}\" ({}) is not on the edit screen of {} issues in {} (asked of {}): tandem cannot update it there, and lists each refused edit under refusedFields",
                            field.name, field.id, t.name, project.key, sample.key
                        ),
                        format!(
                            "add \"{}\" to the edit screen of {} in {}",
                            field.name, t.name, project.key
                        ),
                    );
                }
            }
        }
        let mapped: Vec<String> = report
            .resolved
            .fields
            .values()
            .map(|f| f.id.clone())
            .chain(report.resolved.story_points_field.clone())
            .collect();
        for (id, required) in &screen {
            if *required
                && !FILLED_ON_CREATE.contains(&id.as_str())
                && !mapped.contains(id)
                && !epic_names.contains(id)
            {
                report.warn(
                    type_label.clone(),
                    format!(
                        "Jira requires {id} on every {} created in {}, and the mapping does not fill it: such creates will be refused",
                        t.name, project.key
                    ),
                    format!(
                        "map a workspace field to {id}, give it a default value in Jira, or make it optional for {}",
                        t.name
                    ),
                );
            }
        }
    }
    for (ws_field, types_lacking) in lacking {
        let Some(pair) = spec.fields.iter().find(|p| p.workspace == ws_field) else {
            continue;
        };
        let Some(field) = report.resolved.fields.get(&ws_field) else {
            continue;
        };
        let message_types = types_lacking.join(", ");
        if types_lacking.len() == types.len() {
            report.fail(
                field_label(pair),
                format!(
                    "Jira field \"{}\" ({}) is on no create screen of the mapped types in {} ({message_types}), so Jira refuses it on every create",
                    field.name, field.id, project.key
                ),
                format!(
                    "add \"{}\" to the project's create screens (Project settings → Issues → Screens) and its context (Jira administration → Issues → Custom fields), or map {} to another field",
                    field.name, ws_field
                ),
            );
        } else {
            report.warn(
                field_label(pair),
                format!(
                    "Jira field \"{}\" ({}) is not on the create screen of {message_types} in {}: issues of those types are created without it",
                    field.name, field.id, project.key
                ),
                format!(
                    "add \"{}\" to those types' create screens and to the field's context if they should carry it",
                    field.name
                ),
            );
        }
    }
    Ok(())
}

async fn check_board(
    client: &JiraClient,
    board_id: i64,
    spec: &IntegrationSpec,
    project: Option<&Project>,
    report: &mut IntegrationReport,
) -> Result<Option<BoardConfiguration>, JiraError> {
    let pair = format!("board {board_id}");
    let board: Board = match client.board(board_id).await {
        Ok(b) => b,
        Err(JiraError::NotFound { .. }) => {
            report.fail(
                pair,
                format!(
                    "board {board_id} does not exist or {} cannot see it",
                    client.principal()
                ),
                format!(
                    "use the id from the board's URL (…/boards/ID) of a board on project {}",
                    spec.project
                ),
            );
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let config = client.board_configuration(board_id).await?;
    if let Some(project) = project {
        let location = board.location.as_ref();
        let by_key = location
            .and_then(|l| l.project_key.as_deref())
            .or(config.location.as_ref().and_then(|l| l.key.as_deref()));
        let by_id = location.and_then(|l| l.project_id).map(|id| id.to_string());
        let belongs = match (by_key, by_id) {
            (Some(key), _) => key == project.key,
            (None, Some(id)) => id == project.id,
            // A board on a filter spanning projects has no location; nothing to compare.
            (None, None) => true,
        };
        if !belongs {
            let elsewhere = by_key
                .map(str::to_owned)
                .or_else(|| location.and_then(|l| l.project_name.clone()))
                .unwrap_or_else(|| "another project".to_owned());
            report.fail(
                pair,
                format!(
                    "board {board_id} (\"{}\") belongs to {elsewhere}, not to project {}",
                    board.name, project.key
                ),
                format!(
                    "set `board` to a board of project {} or change `project` to {elsewhere}",
                    project.key
                ),
            );
        }
    }
    Ok(Some(config))
}

fn check_types(project: &Project, spec: &IntegrationSpec, report: &mut IntegrationReport) {
    let names: Vec<&str> = project
        .issue_types
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let mut resolved: Vec<(&TypePair, &IssueType)> = Vec::new();
    for pair in &spec.types {
        match find_by_name(&project.issue_types, &pair.jira, |t| &t.name) {
            Some(t) => {
                resolved.push((pair, t));
                report
                    .resolved
                    .types
                    .insert(pair.workspace.clone(), t.clone());
            }
            None => report.fail(
                format!("type {} → Jira \"{}\"", pair.workspace, pair.jira),
                format!(
                    "project {} has no issue type \"{}\"",
                    project.key, pair.jira
                ),
                missing_hint(&pair.jira, &names, "issue types"),
            ),
        }
    }
    for (pair, jira_type) in &resolved {
        if pair.depth == 0 && jira_type.subtask {
            report.fail(
                format!("type {} → Jira \"{}\"", pair.workspace, pair.jira),
                format!(
                    "{} is at the top of the workspace hierarchy, but Jira \"{}\" is a sub-task type, which cannot exist without a parent",
                    pair.workspace, jira_type.name
                ),
                format!("map {} to a standard issue type such as Epic, Story or Task", pair.workspace),
            );
        }
    }
    for name in &spec.secondary_types {
        if find_by_name(&project.issue_types, name, |t| &t.name).is_none() {
            report.fail(
                format!("secondary type Jira \"{name}\""),
                format!("project {} has no issue type \"{name}\"", project.key),
                missing_hint(name, &names, "issue types"),
            );
        }
    }
    // A workspace ancestor must not sit below its descendant in Jira. Equal levels are allowed:
    // the sync engine then expresses the parent with an issue link.
    for (upper, upper_type) in &resolved {
        for (lower, lower_type) in &resolved {
            if upper.depth < lower.depth && upper_type.level() < lower_type.level() {
                report.fail(
                    format!("type {} → Jira \"{}\"", lower.workspace, lower.jira),
                    format!(
                        "{} sits below {} in the workspace, but Jira \"{}\" (hierarchy level {}) sits above Jira \"{}\" (level {})",
                        lower.workspace,
                        upper.workspace,
                        lower_type.name,
                        lower_type.level(),
                        upper_type.name,
                        upper_type.level()
                    ),
                    format!(
                        "map {} to a Jira type at level {} or lower, or {} to one at level {} or higher",
                        lower.workspace,
                        upper_type.level(),
                        upper.workspace,
                        lower_type.level()
                    ),
                );
            }
        }
    }
}

async fn check_statuses(
    client: &JiraClient,
    project: &Project,
    spec: &IntegrationSpec,
    report: &mut IntegrationReport,
) -> Result<(), JiraError> {
    if spec.statuses.is_empty() {
        return Ok(());
    }
    let per_type = client.project_statuses(&project.key).await?;
    let mapped: BTreeSet<String> = report
        .resolved
        .types
        .values()
        .map(|t| t.name.to_lowercase())
        .collect();
    // The workflows of the mapped types; all of the project's when none resolved.
    let mut available: Vec<Status> = Vec::new();
    for entry in &per_type {
        if mapped.is_empty() || mapped.contains(&entry.name.to_lowercase()) {
            for status in &entry.statuses {
                if !available.iter().any(|s| s.id == status.id) {
                    available.push(status.clone());
                }
            }
        }
    }
    let names: Vec<&str> = available.iter().map(|s| s.name.as_str()).collect();
    for pair in &spec.statuses {
        match find_by_name(&available, &pair.jira, |s| &s.name) {
            Some(status) => {
                report
                    .resolved
                    .statuses
                    .insert(pair.workspace.clone(), status.clone());
            }
            None => report.fail(
                format!("status {} → Jira \"{}\"", pair.workspace, pair.jira),
                format!(
                    "status \"{}\" is not in the workflow of project {}{}",
                    pair.jira,
                    project.key,
                    if mapped.is_empty() {
                        String::new()
                    } else {
                        " for the mapped issue types".to_owned()
                    }
                ),
                missing_hint(&pair.jira, &names, "statuses"),
            ),
        }
    }
    Ok(())
}

fn check_fields(
    fields: &[Field],
    spec: &IntegrationSpec,
    board: Option<&BoardConfiguration>,
    report: &mut IntegrationReport,
) {
    let mut used: BTreeMap<String, String> = BTreeMap::new();
    for pair in &spec.fields {
        let (label, field) = match &pair.jira {
            JiraFieldRef::Auto => {
                let label = format!("field {} → auto", pair.workspace);
                match resolve_auto(fields, spec, board) {
                    Ok(f) => {
                        report.resolved.story_points_field = Some(f.id.clone());
                        (label, f)
                    }
                    Err((message, hint)) => {
                        report.fail(label, message, hint);
                        continue;
                    }
                }
            }
            JiraFieldRef::Named(name) => {
                let label = format!("field {} → Jira \"{name}\"", pair.workspace);
                match resolve_field(fields, name) {
                    Ok(f) => (label, f),
                    Err((message, hint)) => {
                        report.fail(label, message, hint);
                        continue;
                    }
                }
            }
        };
        let Some(schema) = &field.schema else {
            report.fail(
                label,
                format!(
                    "Jira field \"{}\" ({}) has no value schema, so it cannot hold a workspace {}",
                    field.name,
                    field.id,
                    pair.kind.label()
                ),
                format!("map {} to {}", pair.workspace, pair.kind.wants()),
            );
            continue;
        };
        if !pair.kind.accepts(schema) {
            report.fail(
                label,
                format!(
                    "Jira field \"{}\" ({}) holds {}, which cannot hold a workspace {}",
                    field.name,
                    field.id,
                    schema.describe(),
                    pair.kind.label()
                ),
                format!(
                    "map {} to {}, or change the workspace field's type",
                    pair.workspace,
                    pair.kind.wants()
                ),
            );
            continue;
        }
        if let Some(previous) = used.insert(field.id.clone(), pair.workspace.clone()) {
            report.fail(
                label,
                format!(
                    "Jira field \"{}\" ({}) is already mapped from {previous}",
                    field.name, field.id
                ),
                format!("map {} to a different Jira field", pair.workspace),
            );
            continue;
        }
        report
            .resolved
            .fields
            .insert(pair.workspace.clone(), field.clone());
    }
}

fn resolve_auto<'a>(
    fields: &'a [Field],
    spec: &IntegrationSpec,
    board: Option<&BoardConfiguration>,
) -> Result<&'a Field, (String, String)> {
    let Some(board_id) = spec.board else {
        return Err((
            "`auto` uses the board's estimation field, but the integration names no board".to_owned(),
            "set `board` on the integration, or name the story points field (e.g. customfield_10016)".to_owned(),
        ));
    };
    let Some(config) = board else {
        return Err((
            format!("`auto` cannot be resolved because board {board_id} is unavailable"),
            "fix the board first".to_owned(),
        ));
    };
    let estimation = config.estimation.as_ref();
    let field_id = estimation
        .filter(|e| e.kind == "field")
        .and_then(|e| e.field.as_ref())
        .map(|f| f.field_id.as_str())
        .filter(|id| !id.is_empty());
    let Some(field_id) = field_id else {
        let how = estimation
            .map(|e| e.kind.as_str())
            .filter(|k| !k.is_empty())
            .unwrap_or("nothing");
        return Err((
            format!("board {board_id} estimates by {how}, not by a field, so `auto` has no story points field"),
            "set the board's estimation to Story points (board settings → Estimation), or name the story points field instead of auto".to_owned(),
        ));
    };
    fields.iter().find(|f| f.id == field_id).ok_or_else(|| {
        (
            format!("board {board_id} estimates with field {field_id}, which Jira does not list"),
            "name the story points field explicitly instead of auto".to_owned(),
        )
    })
}

fn resolve_field<'a>(fields: &'a [Field], wanted: &str) -> Result<&'a Field, (String, String)> {
    if let Some(f) = fields.iter().find(|f| f.id == wanted) {
        return Ok(f);
    }
    let mut by_name: Vec<&Field> = fields.iter().filter(|f| f.name == wanted).collect();
    if by_name.is_empty() {
        by_name = fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(wanted))
            .collect();
    }
    match by_name.as_slice() {
        [one] => Ok(one),
        [] => {
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            let hint = match closest(wanted, &names) {
                Some(near) => {
                    let id = fields
                        .iter()
                        .find(|f| f.name == near)
                        .map(|f| f.id.as_str())
                        .unwrap_or_default();
                    format!("did you mean \"{near}\" ({id})? Fields are named by id (customfield_10016) or by name")
                }
                None => "name the field by its id (e.g. customfield_10016, see Jira administration → Issues → Custom fields) or by its exact name".to_owned(),
            };
            Err((
                format!("Jira has no field with id or name \"{wanted}\""),
                hint,
            ))
        }
        many => {
            let ids: Vec<&str> = many.iter().map(|f| f.id.as_str()).collect();
            Err((
                format!(
                    "{} Jira fields are named \"{wanted}\" ({})",
                    many.len(),
                    ids.join(", ")
                ),
                format!("name the field by its id instead, e.g. {}", ids[0]),
            ))
        }
    }
}

/// Exact name first, then case-insensitive (Jira names are case-insensitive in practice).
fn find_by_name<'a, T>(
    items: &'a [T],
    wanted: &str,
    name: impl Fn(&T) -> &String,
) -> Option<&'a T> {
    items
        .iter()
        .find(|i| name(i) == wanted)
        .or_else(|| items.iter().find(|i| name(i).eq_ignore_ascii_case(wanted)))
}

fn missing_hint(wanted: &str, available: &[&str], what: &str) -> String {
    let list = if available.is_empty() {
        "none".to_owned()
    } else {
        available.join(", ")
    };
    match closest(wanted, available) {
        Some(near) => format!("did you mean \"{near}\"? Available {what}: {list}"),
        None => format!("use one of the available {what}: {list}"),
    }
}

/// The candidate within a small edit distance, for "did you mean".
fn closest<'a>(wanted: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&wanted_lower, &c.to_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.chars().count().max(wanted.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b_chars: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b_chars.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b_chars.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let value = (prev[j] + cost).min(prev[j + 1] + 1).min(current[j] + 1);
            current.push(value);
        }
        prev = current;
    }
    prev[b_chars.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_only() {
        assert_eq!(closest("Storyy", &["Epic", "Story"]), Some("Story"));
        assert_eq!(
            closest("in progres", &["In Progress", "Done"]),
            Some("In Progress")
        );
        assert_eq!(closest("Initiative", &["Epic", "Story"]), None);
    }

    #[test]
    fn schema_compatibility() {
        let schema = |kind: &str, items: Option<&str>| FieldSchema {
            kind: kind.into(),
            items: items.map(Into::into),
            ..FieldSchema::default()
        };
        assert!(FieldKind::Number.accepts(&schema("number", None)));
        assert!(!FieldKind::Number.accepts(&schema("string", None)));
        assert!(FieldKind::SingleSelect.accepts(&schema("option", None)));
        assert!(!FieldKind::SingleSelect.accepts(&schema("array", Some("option"))));
        assert!(FieldKind::MultiSelect.accepts(&schema("array", Some("option"))));
        assert!(FieldKind::Labels.accepts(&schema("array", Some("string"))));
        assert!(!FieldKind::Labels.accepts(&schema("array", Some("option"))));
        assert!(FieldKind::Date.accepts(&schema("datetime", None)));
        assert!(FieldKind::Url.accepts(&schema("string", None)));
        assert!(FieldKind::Releases.accepts(&schema("array", Some("version"))));
    }
}
