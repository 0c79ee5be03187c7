//! Pass 1: each resource's spec checked on its own, building its model object when valid.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use super::{did_you_mean, digest, Sink, Validator};
use crate::manifest::model;
use crate::manifest::raw;
use crate::manifest::yaml::Seg;
use crate::manifest::{ResourceRef, Severity};

const DEFAULT_RESYNC: Duration = Duration::from_secs(600);
const MIN_RESYNC: Duration = Duration::from_secs(60);

const SECRET_HINT: &str = "put the secret in a file and write `{file: NAME}` (relative paths \
                           resolve against $CREDENTIALS_DIRECTORY, then --secrets), or use `{env: VARIABLE}`";

impl Validator {
    pub(super) fn workspace(
        &mut self,
        doc: usize,
        r: &ResourceRef,
        spec: &raw::WorkspaceSpec,
    ) -> Option<model::Workspace> {
        let s = &mut self.sink;
        if !is_workspace_id(&spec.id) {
            s.err(
                doc,
                r,
                &path!["spec", "id"],
                format!("`{}` is not a valid workspace id", spec.id),
                Some("use letters, digits, `-` and `_` (at most 64): the id is part of the webhook URL".into()),
            );
        }
        if spec.item_types.is_empty() {
            s.err_key(
                doc,
                r,
                &path!["spec", "itemTypes"],
                "a workspace needs at least one item type".into(),
                None,
            );
        }
        let mut types: HashMap<&str, usize> = HashMap::new();
        for (i, t) in spec.item_types.iter().enumerate() {
            if t.name.trim().is_empty() {
                s.err(
                    doc,
                    r,
                    &path!["spec", "itemTypes", i, "name"],
                    "item type name is empty".into(),
                    None,
                );
            } else if let Some(first) = types.insert(&t.name, i) {
                types.insert(&t.name, first);
                let line = s.earlier(
                    doc,
                    &path!["spec", "itemTypes", first, "name"],
                    &path!["spec", "itemTypes", i, "name"],
                );
                s.err(
                    doc,
                    r,
                    &path!["spec", "itemTypes", i, "name"],
                    format!("item type `{}` is declared twice", t.name),
                    Some(format!("first declared on {line}")),
                );
            }
        }
        for (i, t) in spec.item_types.iter().enumerate() {
            if let Some(parent) = &t.parent {
                if !types.contains_key(parent.as_str()) {
                    s.err(
                        doc,
                        r,
                        &path!["spec", "itemTypes", i, "parent"],
                        format!("parent `{parent}` is not an item type of this workspace"),
                        did_you_mean(parent, spec.item_types.iter().map(|t| t.name.as_str())),
                    );
                }
            }
        }
        // Cycles: follow parents from every type; report each cycle once, at its first member.
        let parent_of: HashMap<&str, &str> = spec
            .item_types
            .iter()
            .filter_map(|t| t.parent.as_deref().map(|p| (t.name.as_str(), p)))
            .collect();
        let mut in_reported_cycle: HashSet<&str> = HashSet::new();
        for (i, t) in spec.item_types.iter().enumerate() {
            let start = t.name.as_str();
            if in_reported_cycle.contains(start) {
                continue;
            }
            let mut chain = vec![start];
            let mut cur = start;
            while let Some(&p) = parent_of.get(cur) {
                if p == start {
                    chain.push(p);
                    in_reported_cycle.extend(chain.iter().copied());
                    // Shown parent first, the way hierarchies are written (Epic > Story).
                    let rendered: Vec<String> =
                        chain.iter().rev().map(|n| format!("`{n}`")).collect();
                    s.err(
                        doc,
                        r,
                        &path!["spec", "itemTypes", i, "parent"],
                        format!("item type hierarchy has a cycle: {}", rendered.join(" > ")),
                        Some("every chain of parents must end at a type without `parent`".into()),
                    );
                    break;
                }
                if chain.contains(&p) || chain.len() > spec.item_types.len() {
                    break; // a cycle that does not include `start`; reported from its own members
                }
                chain.push(p);
                cur = p;
            }
        }
        if spec.statuses.is_empty() {
            s.err_key(
                doc,
                r,
                &path!["spec", "statuses"],
                "a workspace needs at least one status".into(),
                None,
            );
        }
        check_unique(
            s,
            doc,
            r,
            &spec.statuses,
            |i| path!["spec", "statuses", i].to_vec(),
            "status",
        );
        let mut fields: HashMap<&str, usize> = HashMap::new();
        for (i, f) in spec.fields.iter().enumerate() {
            let base = path!["spec", "fields", i];
            if f.name.trim().is_empty() {
                s.err(
                    doc,
                    r,
                    &[&base[..], &path!["name"]].concat(),
                    "field name is empty".into(),
                    None,
                );
            } else if model::DEFAULT_FIELDS.iter().any(|(n, _)| *n == f.name) {
                s.err(
                    doc,
                    r,
                    &[&base[..], &path!["name"]].concat(),
                    format!("`{}` is a default field and cannot be redeclared", f.name),
                    Some(
                        "default fields are `objective`, `keyResult`, `value` and `effort`".into(),
                    ),
                );
            } else if let Some(first) = fields.insert(&f.name, i) {
                fields.insert(&f.name, first);
                let line = s.earlier(
                    doc,
                    &path!["spec", "fields", first, "name"],
                    &path!["spec", "fields", i, "name"],
                );
                s.err(
                    doc,
                    r,
                    &[&base[..], &path!["name"]].concat(),
                    format!("field `{}` is declared twice", f.name),
                    Some(format!("first declared on {line}")),
                );
            }
            match (&f.options, f.field_type.is_select()) {
                (None, true) => s.err(
                    doc,
                    r,
                    &[&base[..], &path!["type"]].concat(),
                    format!("{} field `{}` has no options", f.field_type, f.name),
                    Some("add `options: [...]` with the choices".into()),
                ),
                (Some(options), true) if options.is_empty() => s.err_key(
                    doc,
                    r,
                    &[&base[..], &path!["options"]].concat(),
                    format!("{} field `{}` has no options", f.field_type, f.name),
                    None,
                ),
                (Some(options), true) => check_unique(
                    s,
                    doc,
                    r,
                    options,
                    |j| path!["spec", "fields", i, "options", j].to_vec(),
                    "option",
                ),
                (Some(_), false) => s.err_key(
                    doc,
                    r,
                    &[&base[..], &path!["options"]].concat(),
                    format!(
                        "`options` only apply to singleSelect and multiSelect fields, not {}",
                        f.field_type
                    ),
                    None,
                ),
                (None, false) => {}
            }
        }
        if s.is_rejected(r) {
            return None;
        }
        Some(model::Workspace {
            name: r.name.clone(),
            source: self.source(doc),
            digest: digest(spec),
            id: spec.id.clone(),
            item_types: spec
                .item_types
                .iter()
                .map(|t| model::ItemType {
                    name: t.name.clone(),
                    parent: t.parent.clone(),
                })
                .collect(),
            statuses: spec.statuses.clone(),
            fields: spec
                .fields
                .iter()
                .map(|f| model::CustomField {
                    name: f.name.clone(),
                    field_type: f.field_type,
                    options: f.options.clone().unwrap_or_default(),
                })
                .collect(),
        })
    }

    pub(super) fn connection(
        &mut self,
        doc: usize,
        r: &ResourceRef,
        spec: &raw::ConnectionSpec,
    ) -> Option<model::Connection> {
        let s = &mut self.sink;
        if spec.display_name.trim().is_empty() {
            s.err(
                doc,
                r,
                &path!["spec", "displayName"],
                "displayName is empty".into(),
                None,
            );
        }
        let url = check_url(s, doc, r, &path!["spec", "url"], &spec.url);
        let self_url = spec
            .self_url
            .as_ref()
            .and_then(|u| check_url(s, doc, r, &path!["spec", "selfUrl"], u));
        let webhook_public_url = spec.webhook.as_ref().and_then(|w| {
            check_url(
                s,
                doc,
                r,
                &path!["spec", "webhook", "publicUrl"],
                &w.public_url,
            )
        });

        let a = &spec.auth;
        let cloud = a.email.is_some() || a.api_token.is_some();
        let basic = a.username.is_some() || a.password.is_some();
        let pat = a.personal_access_token.is_some();
        let auth_path = path!["spec", "auth"];
        let shapes = usize::from(cloud) + usize::from(basic) + usize::from(pat);
        let shape_hint = "use `email` and `apiToken` (Jira Cloud), `username` and `password`, or \
                          `personalAccessToken` (Data Center)";
        let mut auth = None;
        if shapes == 0 {
            s.err_key(
                doc,
                r,
                &auth_path,
                "auth has no credentials".into(),
                Some(shape_hint.into()),
            );
        } else if shapes > 1 {
            s.err_key(
                doc,
                r,
                &auth_path,
                "auth mixes several kinds of credentials".into(),
                Some(shape_hint.into()),
            );
        } else if cloud {
            if spec.deployment == Some(raw::Deployment::DataCenter) {
                s.err_key(
                    doc,
                    r,
                    &auth_path,
                    "`email` and `apiToken` are for Jira Cloud, but deployment is dataCenter"
                        .into(),
                    Some(
                        "Data Center takes `username` and `password`, or `personalAccessToken`"
                            .into(),
                    ),
                );
            }
            if a.email.is_none() {
                s.err_key(
                    doc,
                    r,
                    &auth_path,
                    "auth: missing required field `email`".into(),
                    Some(
                        "Jira Cloud authenticates with the account's email and an API token".into(),
                    ),
                );
            }
            if a.api_token.is_none() {
                s.err_key(
                    doc,
                    r,
                    &auth_path,
                    "auth: missing required field `apiToken`".into(),
                    Some(
                        "Jira Cloud authenticates with the account's email and an API token".into(),
                    ),
                );
            }
            let token = a
                .api_token
                .as_ref()
                .and_then(|t| check_secret(s, doc, r, &path!["spec", "auth", "apiToken"], t));
            if let (Some(email), Some(token)) = (&a.email, token) {
                if !email.contains('@') {
                    s.err(
                        doc,
                        r,
                        &path!["spec", "auth", "email"],
                        format!("`{email}` is not an email address"),
                        None,
                    );
                }
                auth = Some(model::Auth::ApiToken {
                    email: email.clone(),
                    token,
                });
            }
        } else {
            if spec.deployment == Some(raw::Deployment::Cloud) {
                s.err_key(
                    doc,
                    r,
                    &auth_path,
                    "Jira Cloud does not accept passwords or personal access tokens".into(),
                    Some("use `email` and `apiToken`".into()),
                );
            }
            if basic {
                if a.username.is_none() {
                    s.err_key(
                        doc,
                        r,
                        &auth_path,
                        "auth: missing required field `username`".into(),
                        None,
                    );
                }
                if a.password.is_none() {
                    s.err_key(
                        doc,
                        r,
                        &auth_path,
                        "auth: missing required field `password`".into(),
                        None,
                    );
                }
                let password = a
                    .password
                    .as_ref()
                    .and_then(|p| check_secret(s, doc, r, &path!["spec", "auth", "password"], p));
                if let (Some(username), Some(password)) = (&a.username, password) {
                    auth = Some(model::Auth::Basic {
                        username: username.clone(),
                        password,
                    });
                }
            } else if let Some(token) = &a.personal_access_token {
                auth = check_secret(
                    s,
                    doc,
                    r,
                    &path!["spec", "auth", "personalAccessToken"],
                    token,
                )
                .map(model::Auth::PersonalAccessToken);
            }
        }
        let webhook_secret = spec
            .webhook_secret
            .as_ref()
            .and_then(|w| check_secret(s, doc, r, &path!["spec", "webhookSecret"], w));
        if let Some(ca) = &spec.ca_file {
            if ca.trim().is_empty() {
                s.err(
                    doc,
                    r,
                    &path!["spec", "caFile"],
                    "caFile is empty".into(),
                    None,
                );
            }
        }
        if let Some(rps) = spec.requests_per_second {
            if !(rps.is_finite() && rps > 0.0) {
                s.err(
                    doc,
                    r,
                    &path!["spec", "requestsPerSecond"],
                    "requestsPerSecond must be a positive number".into(),
                    None,
                );
            }
        }
        if s.is_rejected(r) {
            return None;
        }
        Some(model::Connection {
            name: r.name.clone(),
            source: self.source(doc),
            digest: digest(spec),
            display_name: spec.display_name.trim().to_string(),
            url: url?,
            deployment: spec.deployment,
            auth: auth?,
            webhook_secret,
            webhook_public_url,
            self_url,
            ca_file: spec.ca_file.as_ref().map(PathBuf::from),
            requests_per_second: spec.requests_per_second,
        })
    }

    pub(super) fn integration(
        &mut self,
        doc: usize,
        r: &ResourceRef,
        spec: &raw::ProjectIntegrationSpec,
    ) -> Option<model::ProjectIntegration> {
        let s = &mut self.sink;
        if spec.display_name.trim().is_empty() {
            s.err(
                doc,
                r,
                &path!["spec", "displayName"],
                "displayName is empty".into(),
                None,
            );
        }
        if !is_project_key(&spec.project) {
            let upper = spec.project.to_uppercase();
            let hint = if is_project_key(&upper) {
                format!("Jira project keys are upper case: `{upper}`")
            } else {
                "Jira project keys are an upper-case letter followed by upper-case letters, digits or `_`".into()
            };
            s.err(
                doc,
                r,
                &path!["spec", "project"],
                format!("`{}` is not a Jira project key", spec.project),
                Some(hint),
            );
        }
        if spec.board == Some(0) {
            s.err(
                doc,
                r,
                &path!["spec", "board"],
                "board ids start at 1".into(),
                None,
            );
        }
        let direction = spec.direction.unwrap_or(raw::Direction::TwoWay);

        // Primary types: local checks only; coverage of the workspace's types comes later.
        let mut seen_ws: HashMap<&str, usize> = HashMap::new();
        let mut seen_jira: HashMap<&str, usize> = HashMap::new();
        let mut types = Vec::new();
        for (i, t) in spec.types.iter().enumerate() {
            let base = path!["spec", "types", i];
            if let Some(first) = seen_ws.get(t.workspace.as_str()) {
                let line = s.earlier(
                    doc,
                    &path!["spec", "types", *first, "workspace"],
                    &path!["spec", "types", i, "workspace"],
                );
                s.err(
                    doc,
                    r,
                    &[&base[..], &path!["workspace"]].concat(),
                    format!("item type `{}` is listed twice in `types`", t.workspace),
                    Some(format!("first listed on {line}")),
                );
            } else {
                seen_ws.insert(&t.workspace, i);
            }
            match (&t.jira, t.ignore) {
                (Some(_), Some(true)) => s.err_key(
                    doc,
                    r,
                    &[&base[..], &path!["ignore"]].concat(),
                    format!("`{}` is both mapped to `jira` and ignored", t.workspace),
                    Some("keep either `jira` or `ignore: true`".into()),
                ),
                (None, None | Some(false)) => s.err(
                    doc,
                    r,
                    &base,
                    format!(
                        "item type `{}` needs `jira: ISSUE TYPE` or `ignore: true`",
                        t.workspace
                    ),
                    None,
                ),
                (Some(jira), _) => {
                    if let Some(first) = seen_jira.get(jira.as_str()) {
                        let other = &spec.types[*first].workspace;
                        s.err(
                            doc,
                            r,
                            &[&base[..], &path!["jira"]].concat(),
                            format!(
                                "Jira type `{jira}` is mapped from both `{other}` and `{}`",
                                t.workspace
                            ),
                            Some(
                                "a Jira issue type can stand for one workspace item type only"
                                    .into(),
                            ),
                        );
                    } else {
                        seen_jira.insert(jira, i);
                    }
                    types.push(model::TypeMapping {
                        workspace: t.workspace.clone(),
                        jira: Some(jira.clone()),
                    });
                }
                (None, Some(true)) => types.push(model::TypeMapping {
                    workspace: t.workspace.clone(),
                    jira: None,
                }),
            }
        }
        if direction == raw::Direction::ToJira && !spec.secondary_types.is_empty() {
            let loc = s.location(doc, &path!["spec", "secondaryTypes"], true);
            s.push(
                Severity::Warning,
                loc,
                Some(r),
                "secondary types only flow from Jira, but direction is toJira; they will never sync".into(),
                None,
            );
        }
        let mut seen_secondary: HashMap<&str, usize> = HashMap::new();
        for (i, t) in spec.secondary_types.iter().enumerate() {
            let p = path!["spec", "secondaryTypes", i, "jira"];
            if let Some(first) = seen_jira.get(t.jira.as_str()) {
                let line = s.earlier(doc, &path!["spec", "types", *first, "jira"], &p);
                s.err(
                    doc,
                    r,
                    &p,
                    format!("Jira type `{}` is already a primary type", t.jira),
                    Some(format!(
                        "mapped in `types` on {line}; a type is either primary or secondary"
                    )),
                );
            } else if seen_secondary.insert(&t.jira, i).is_some() {
                s.err(
                    doc,
                    r,
                    &p,
                    format!("Jira type `{}` is listed twice in `secondaryTypes`", t.jira),
                    None,
                );
            }
        }
        let mut seen_status_ws: HashSet<&str> = HashSet::new();
        let mut seen_status_jira: HashMap<&str, &str> = HashMap::new();
        for (i, m) in spec.statuses.iter().enumerate() {
            if !seen_status_ws.insert(&m.workspace) {
                s.err(
                    doc,
                    r,
                    &path!["spec", "statuses", i, "workspace"],
                    format!("status `{}` is mapped twice", m.workspace),
                    None,
                );
            }
            if let Some(other) = seen_status_jira.insert(&m.jira, &m.workspace) {
                if direction.from_jira() {
                    s.err(
                        doc,
                        r,
                        &path!["spec", "statuses", i, "jira"],
                        format!("Jira status `{}` is mapped from both `{other}` and `{}`", m.jira, m.workspace),
                        Some("changes coming from Jira would be ambiguous; with `direction: toJira` this is allowed".into()),
                    );
                }
            }
        }
        let resync = match &spec.resync {
            None => Some(DEFAULT_RESYNC),
            Some(text) => match parse_duration(text) {
                Some(d) if d >= MIN_RESYNC => Some(d),
                Some(_) => {
                    s.err(
                        doc,
                        r,
                        &path!["spec", "resync"],
                        format!("resync `{text}` is shorter than 1m"),
                        Some("a short sweep spends the Jira rate limit for little benefit".into()),
                    );
                    None
                }
                None => {
                    s.err(
                        doc,
                        r,
                        &path!["spec", "resync"],
                        format!("`{text}` is not a duration"),
                        Some("write it like `10m`, `1h` or `1h30m`".into()),
                    );
                    None
                }
            },
        };
        if s.is_rejected(r) {
            return None;
        }
        Some(model::ProjectIntegration {
            name: r.name.clone(),
            source: self.source(doc),
            digest: digest(spec),
            display_name: spec.display_name.trim().to_string(),
            connection: spec.connection.clone(),
            workspace: spec.workspace.clone(),
            project: spec.project.clone(),
            board: spec.board,
            field_mapping: spec.field_mapping.clone(),
            direction,
            types,
            secondary_types: spec
                .secondary_types
                .iter()
                .map(|t| model::SecondaryType {
                    jira: t.jira.clone(),
                    workspace: t.workspace.clone(),
                })
                .collect(),
            statuses: spec
                .statuses
                .iter()
                .map(|m| model::StatusMapping {
                    workspace: m.workspace.clone(),
                    jira: m.jira.clone(),
                })
                .collect(),
            conflicts: spec
                .conflicts
                .unwrap_or(raw::ConflictPolicy::LastWriterWins),
            resync: resync?,
            suspend: spec.suspend.unwrap_or(false),
        })
    }

    pub(super) fn field_mapping(
        &mut self,
        doc: usize,
        r: &ResourceRef,
        spec: &raw::FieldMappingSpec,
    ) -> Option<model::FieldMapping> {
        let s = &mut self.sink;
        // Every Jira field may be the target of one mapping only.
        let mut targets: HashMap<String, Vec<Seg>> = HashMap::new();
        let mut target = |s: &mut Sink, path: &[Seg], jira: &str| {
            if jira.trim().is_empty() {
                s.err(doc, r, path, "Jira field is empty".into(), None);
                return;
            }
            if let Some(first) = targets.get(jira) {
                let line = s.earlier(doc, first, path);
                s.err(
                    doc,
                    r,
                    path,
                    format!("Jira field `{jira}` is mapped twice"),
                    Some(format!("also mapped on {line}")),
                );
            } else {
                targets.insert(jira.to_string(), path.to_vec());
            }
        };
        let primary = spec.primary.clone().unwrap_or_default();
        if let Some(sp) = &primary.story_points {
            if sp != "auto" {
                target(s, &path!["spec", "primary", "storyPoints"], sp);
            }
        }
        if let Some(team) = &primary.team {
            target(s, &path!["spec", "primary", "team"], team);
        }
        let defaults = spec.defaults.clone().unwrap_or_default();
        for (key, value) in [
            ("objective", &defaults.objective),
            ("keyResult", &defaults.key_result),
            ("value", &defaults.value),
            ("effort", &defaults.effort),
        ] {
            if let Some(jira) = value {
                target(s, &path!["spec", "defaults", key], jira);
            }
        }
        let mut seen_ws: HashSet<&str> = HashSet::new();
        for (i, c) in spec.custom.iter().enumerate() {
            if model::DEFAULT_FIELDS.iter().any(|(n, _)| *n == c.workspace) {
                s.err(
                    doc,
                    r,
                    &path!["spec", "custom", i, "workspace"],
                    format!("`{}` is a default field", c.workspace),
                    Some(format!("map it under `defaults.{}`", c.workspace)),
                );
            } else if !seen_ws.insert(&c.workspace) {
                s.err(
                    doc,
                    r,
                    &path!["spec", "custom", i, "workspace"],
                    format!("workspace field `{}` is mapped twice", c.workspace),
                    None,
                );
            }
            target(s, &path!["spec", "custom", i, "jira"], &c.jira);
        }
        if s.is_rejected(r) {
            return None;
        }
        Some(model::FieldMapping {
            name: r.name.clone(),
            source: self.source(doc),
            digest: digest(spec),
            primary: model::PrimaryFields {
                components: primary.components.unwrap_or(false),
                story_points: primary.story_points.map(|sp| {
                    if sp == "auto" {
                        model::StoryPoints::Auto
                    } else {
                        model::StoryPoints::Field(sp)
                    }
                }),
                releases: primary.releases.unwrap_or(false),
                team: primary.team,
                teams: primary.teams,
            },
            defaults: model::DefaultFields {
                objective: defaults.objective,
                key_result: defaults.key_result,
                value: defaults.value,
                effort: defaults.effort,
            },
            custom: spec
                .custom
                .iter()
                .map(|c| model::CustomFieldMapping {
                    workspace: c.workspace.clone(),
                    jira: c.jira.clone(),
                    direction: c.direction,
                })
                .collect(),
        })
    }

    pub(super) fn sync_job(
        &mut self,
        doc: usize,
        r: &ResourceRef,
        spec: &raw::SyncJobSpec,
    ) -> Option<model::SyncJob> {
        let s = &mut self.sink;
        let job = match spec.direction {
            raw::JobDirection::FromJira => {
                if spec.scope.is_some() {
                    s.err_key(
                        doc,
                        r,
                        &path!["spec", "scope"],
                        "`scope` only applies to `toJira` jobs".into(),
                        Some("filter a `fromJira` job with `jql`".into()),
                    );
                }
                if spec.jql.as_deref().is_some_and(|q| q.trim().is_empty()) {
                    s.err(
                        doc,
                        r,
                        &path!["spec", "jql"],
                        "jql is empty".into(),
                        Some("omit it to bring over all open issues".into()),
                    );
                }
                model::JobSpec::FromJira {
                    jql: spec.jql.clone(),
                }
            }
            raw::JobDirection::ToJira => {
                if spec.jql.is_some() {
                    s.err_key(
                        doc,
                        r,
                        &path!["spec", "jql"],
                        "`jql` only applies to `fromJira` jobs".into(),
                        Some("choose what to push with `scope`".into()),
                    );
                }
                let scope = match &spec.scope {
                    None => {
                        s.err(
                            doc,
                            r,
                            &path!["spec", "direction"],
                            "a `toJira` job needs a `scope`".into(),
                            Some("add `scope: all`, `scope: {sprints: [...]}` or `scope: {releases: [...]}`".into()),
                        );
                        model::Scope::All
                    }
                    Some(raw::Scope::All) => model::Scope::All,
                    Some(raw::Scope::Sprints(list)) => {
                        if list.is_empty() {
                            s.err_key(
                                doc,
                                r,
                                &path!["spec", "scope", "sprints"],
                                "no sprints listed".into(),
                                None,
                            );
                        }
                        model::Scope::Sprints(list.clone())
                    }
                    Some(raw::Scope::Releases(list)) => {
                        if list.is_empty() {
                            s.err_key(
                                doc,
                                r,
                                &path!["spec", "scope", "releases"],
                                "no releases listed".into(),
                                None,
                            );
                        }
                        model::Scope::Releases(list.clone())
                    }
                };
                model::JobSpec::ToJira { scope }
            }
        };
        if s.is_rejected(r) {
            return None;
        }
        Some(model::SyncJob {
            name: r.name.clone(),
            source: self.source(doc),
            digest: digest(spec),
            integration: spec.integration.clone(),
            job,
        })
    }
}

fn check_unique(
    s: &mut Sink,
    doc: usize,
    r: &ResourceRef,
    values: &[String],
    path: impl Fn(usize) -> Vec<Seg>,
    what: &str,
) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, v) in values.iter().enumerate() {
        if v.trim().is_empty() {
            s.err(doc, r, &path(i), format!("{what} is empty"), None);
        } else if let Some(first) = seen.get(v.as_str()) {
            let line = s.earlier(doc, &path(*first), &path(i));
            s.err(
                doc,
                r,
                &path(i),
                format!("{what} `{v}` is listed twice"),
                Some(format!("first listed on {line}")),
            );
        } else {
            seen.insert(v, i);
        }
    }
}

/// Checks an http(s) base URL and returns it normalised (trimmed, no trailing slash), with a
/// warning when normalising changed it.
fn check_url(s: &mut Sink, doc: usize, r: &ResourceRef, path: &[Seg], url: &str) -> Option<String> {
    let normalised = url.trim().trim_end_matches('/').to_string();
    let rest = normalised
        .strip_prefix("https://")
        .or_else(|| normalised.strip_prefix("http://"));
    let host = rest.map(|r| r.split('/').next().unwrap_or(""));
    let problem = match (rest, host) {
        (None, _) => Some("must start with `https://` or `http://`"),
        (_, Some("")) => Some("has no host"),
        _ if normalised.chars().any(char::is_whitespace) => Some("contains whitespace"),
        _ if normalised.contains(['?', '#']) => Some("must not have a query or fragment"),
        _ => None,
    };
    if let Some(problem) = problem {
        s.err(
            doc,
            r,
            path,
            format!("url `{}` {problem}", url.trim()),
            None,
        );
        return None;
    }
    if normalised != url {
        let what = match (url.trim() != url, url.trim().ends_with('/')) {
            (true, true) => "surrounding whitespace and a trailing slash",
            (true, false) => "surrounding whitespace",
            _ => "a trailing slash",
        };
        s.warn(
            doc,
            r,
            path,
            format!("url has {what}; using `{normalised}`"),
            Some("remove it from the manifest to silence this warning".into()),
        );
    }
    Some(normalised)
}

/// A secret reference from its raw form. Never puts the value of a literal in a message.
fn check_secret(
    s: &mut Sink,
    doc: usize,
    r: &ResourceRef,
    path: &[Seg],
    secret: &raw::SecretRef,
) -> Option<model::SecretRef> {
    let field = match path.last() {
        Some(Seg::Key(k)) => k.as_str(),
        _ => "secret",
    };
    match secret {
        raw::SecretRef::Literal => {
            s.err(
                doc,
                r,
                path,
                format!("`{field}` must reference a secret, not contain it"),
                Some(SECRET_HINT.into()),
            );
            None
        }
        raw::SecretRef::Invalid(message) => {
            s.err(doc, r, path, format!("`{field}`: {message}"), None);
            None
        }
        raw::SecretRef::File(file) if file.trim().is_empty() => {
            s.err(
                doc,
                r,
                &[path, &path!["file"]].concat(),
                "secret file path is empty".into(),
                None,
            );
            None
        }
        raw::SecretRef::File(file) => Some(model::SecretRef::File(PathBuf::from(file))),
        raw::SecretRef::Env(name) => {
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if valid {
                Some(model::SecretRef::Env(name.clone()))
            } else {
                s.err(
                    doc,
                    r,
                    &[path, &path!["env"]].concat(),
                    format!("`{name}` is not an environment variable name"),
                    Some("use letters, digits and `_`, not starting with a digit".into()),
                );
                None
            }
        }
    }
}

pub(super) fn is_dns_label(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_workspace_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

fn is_project_key(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() >= 2
        && b.len() <= 255
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

/// `45s`, `10m`, `1h30m`, `1d`.
fn parse_duration(text: &str) -> Option<Duration> {
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.trim().chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(u64::from(d))?,
            );
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    if number.is_some() || text.trim().is_empty() {
        return None;
    }
    Some(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("5x"), None);
    }

    #[test]
    fn names() {
        assert!(is_dns_label("acme-cloud"));
        assert!(!is_dns_label("Acme"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(is_project_key("WEB"));
        assert!(!is_project_key("web"));
    }
}
