//! `POST /rest/api/{2,3}/project`: a Jira administrator creating a project through the REST
//! API, so a test or a person can shape the simulator the way they shape their Jira (Cloud's
//! `createProject`: `key` and `name` required, 201 with `ProjectIdentifiers`; 403 for anyone
//! who is not an administrator). The project gets the simulator's issue types and simplified
//! workflow, no board and no versions, as `SimHandle::create_project` makes it.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::sim::moves;
use crate::sim::server::{Req, Resp};
use crate::sim::Shared;

pub(super) fn create_project(sh: &Arc<Shared>, req: &Req, v3: bool) -> Result<Resp, Resp> {
    let user = req.user()?;
    if !user.admin {
        return Err(Resp::forbidden(
            "You must have global administrator rights in order to create projects.",
        ));
    }
    let body = req.json()?;
    let text = |field: &str| {
        body.get(field)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let mut errors = Map::new();
    let key = text("key");
    let name = text("name");
    if key.is_none() {
        errors.insert(
            "projectKey".into(),
            "You must specify a valid project key.".into(),
        );
    }
    if name.is_none() {
        errors.insert(
            "projectName".into(),
            "You must specify a valid project name.".into(),
        );
    }
    let (Some(key), Some(name)) = (key, name) else {
        return Err(Resp::field_errors(errors));
    };
    // Cloud's team-managed templates (`…gh-simplified-…`) make a team-managed project.
    let team_managed = sh.read().deployment == crate::sim::Deployment::Cloud
        && text("projectTemplateKey").is_some_and(|t| t.contains("simplified"));
    moves::create_project(sh, &key, &name, team_managed)?;
    let id = sh
        .read()
        .project(&key)
        .map(|p| p.id)
        .ok_or_else(|| Resp::not_found("The project was not created."))?;
    let version = if v3 { 3 } else { 2 };
    Ok(Resp::json(
        201,
        &json!({
            "self": format!("{}/rest/api/{version}/project/{id}", sh.base_url),
            "id": id,
            "key": key,
        }),
    ))
}
