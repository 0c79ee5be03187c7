//! Mapping manifest resources onto what the Jira layer needs: client configuration and the
//! integration online-check input. Shared by the controller and `tandem validate --online`.

use crate::jira::check::{
    FieldKind, FieldPair, IntegrationSpec, JiraFieldRef, StatusPair, TypePair,
};
use crate::jira::{Credentials, Deployment, JiraConfig};
use crate::manifest::model::{
    Auth, Connection, FieldMapping, FieldType, ProjectIntegration, StoryPoints, Workspace,
};
use crate::manifest::SecretRef;

use super::secrets::{SecretError, SecretResolver};

/// Every secret a connection refers to, for rotation polling.
pub fn secret_refs(c: &Connection) -> Vec<&SecretRef> {
    let mut refs = vec![match &c.auth {
        Auth::ApiToken { token, .. } => token,
        Auth::Basic { password, .. } => password,
        Auth::PersonalAccessToken(t) => t,
    }];
    refs.extend(c.webhook_secret.as_ref());
    refs
}

/// Resolves a connection's credentials now (blocking: reads secret files).
pub fn credentials(c: &Connection, secrets: &SecretResolver) -> Result<Credentials, SecretError> {
    Ok(match &c.auth {
        Auth::ApiToken { email, token } => {
            Credentials::basic(email.clone(), secrets.resolve(token)?)
        }
        Auth::Basic { username, password } => {
            Credentials::basic(username.clone(), secrets.resolve(password)?)
        }
        Auth::PersonalAccessToken(t) => Credentials::bearer(secrets.resolve(t)?),
    })
}

pub fn jira_config(c: &Connection, credentials: Credentials) -> JiraConfig {
    let mut config = JiraConfig::new(c.url.clone(), credentials);
    config.deployment = c.deployment.map(|d| match d {
        crate::manifest::model::Deployment::Cloud => Deployment::Cloud,
        crate::manifest::model::Deployment::DataCenter => Deployment::DataCenter,
    });
    config.ca_file = c.ca_file.clone();
    config.requests_per_second = c.requests_per_second;
    config
}

fn field_kind(t: FieldType) -> FieldKind {
    match t {
        FieldType::Text => FieldKind::Text,
        FieldType::Number => FieldKind::Number,
        FieldType::SingleSelect => FieldKind::SingleSelect,
        FieldType::MultiSelect => FieldKind::MultiSelect,
        FieldType::Date => FieldKind::Date,
        FieldType::Labels => FieldKind::Labels,
        FieldType::Url => FieldKind::Url,
    }
}

/// Depth of an item type in the workspace hierarchy (0 = top). Validation rejects cycles, so
/// the walk ends; the bound is a guard, not a rule.
fn depth(ws: &Workspace, name: &str) -> u32 {
    let mut depth = 0;
    let mut cur = ws.item_type(name).and_then(|t| t.parent.clone());
    while let Some(parent) = cur {
        depth += 1;
        if depth as usize > ws.item_types.len() {
            break;
        }
        cur = ws.item_type(&parent).and_then(|t| t.parent.clone());
    }
    depth
}

/// What the online checks verify for one integration.
pub fn integration_spec(
    pi: &ProjectIntegration,
    ws: &Workspace,
    fm: Option<&FieldMapping>,
) -> IntegrationSpec {
    let types = pi
        .types
        .iter()
        .filter_map(|t| {
            t.jira.as_ref().map(|jira| TypePair {
                workspace: t.workspace.clone(),
                jira: jira.clone(),
                depth: depth(ws, &t.workspace),
            })
        })
        .collect();
    let statuses = pi
        .statuses
        .iter()
        .map(|s| StatusPair {
            workspace: s.workspace.clone(),
            jira: s.jira.clone(),
        })
        .collect();
    let mut fields = Vec::new();
    if let Some(fm) = fm {
        let mut add = |workspace: &str, kind: FieldKind, jira: JiraFieldRef| {
            fields.push(FieldPair {
                workspace: workspace.to_owned(),
                kind,
                jira,
            })
        };
        let named = |s: &str| JiraFieldRef::Named(s.to_owned());
        if fm.primary.components {
            add("components", FieldKind::Components, named("components"));
        }
        if fm.primary.releases {
            add("releases", FieldKind::Releases, named("fixVersions"));
        }
        match &fm.primary.story_points {
            Some(StoryPoints::Auto) => add("storyPoints", FieldKind::Number, JiraFieldRef::Auto),
            Some(StoryPoints::Field(f)) => add("storyPoints", FieldKind::Number, named(f)),
            None => {}
        }
        if let Some(team) = &fm.primary.team {
            add("team", FieldKind::Team, named(team));
        }
        let d = &fm.defaults;
        for (name, kind, jira) in [
            ("objective", FieldKind::Text, &d.objective),
            ("keyResult", FieldKind::Text, &d.key_result),
            ("value", FieldKind::Number, &d.value),
            ("effort", FieldKind::Number, &d.effort),
        ] {
            if let Some(jira) = jira {
                add(name, kind, named(jira));
            }
        }
        for c in &fm.custom {
            if let Some(t) = ws.field_type(&c.workspace) {
                add(&c.workspace, field_kind(t), named(&c.jira));
            }
        }
    }
    IntegrationSpec {
        project: pi.project.clone(),
        board: pi.board.map(|b| b as i64),
        types,
        secondary_types: pi.secondary_types.iter().map(|s| s.jira.clone()).collect(),
        statuses,
        fields,
    }
}
