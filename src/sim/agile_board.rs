//! `POST /rest/agile/1.0/board`: creating a scrum board on a project, as a Jira administrator
//! does, so a test or a person can give the simulator the boards their manifests name. Jira
//! Software's `createBoard` takes `name`, `type` and a filter; the simulator has no saved
//! filters, so the board's project comes from `location: {type: "project", projectKeyOrId}`
//! (which Jira also accepts) and `filterId` is kept as given. 201 with the board, as
//! `GET /rest/agile/1.0/board/{id}` shows it; 403 for anyone who is not an administrator.

use serde_json::{Map, Value};

use super::model::Board;
use super::render::View;
use super::server::{Req, Resp};
use super::Shared;

pub(super) fn create_board(sh: &Shared, req: &Req) -> Result<Resp, Resp> {
    let user = req.user()?;
    if !user.admin {
        return Err(Resp::forbidden(
            "You must have global administrator rights in order to create boards.",
        ));
    }
    let body = req.json()?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let Some(name) = name else {
        return Err(Resp::error(400, &["'name' must not be empty."], Map::new()));
    };
    match body.get("type").and_then(Value::as_str) {
        Some("scrum") | None => {}
        Some(other) => {
            return Err(Resp::error(
                400,
                &[&format!(
                    "The simulator creates scrum boards only, not '{other}'."
                )],
                Map::new(),
            ))
        }
    }
    let project = body
        .pointer("/location/projectKeyOrId")
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .ok_or_else(|| {
            Resp::error(
                400,
                &["'location.projectKeyOrId' must name the board's project."],
                Map::new(),
            )
        })?;
    let filter_id = body.get("filterId").and_then(Value::as_u64);
    let mut st = sh.write();
    let project_id = st.project(&project).map(|p| p.id).ok_or_else(|| {
        Resp::error(
            400,
            &[&format!("No project could be found with key '{project}'.")],
            Map::new(),
        )
    })?;
    let id = st.boards.iter().map(|b| b.id).max().unwrap_or(0) + 1;
    st.boards.push(Board {
        id,
        name: name.to_owned(),
        project_id,
        filter_id: filter_id.unwrap_or(10_000 + id),
    });
    st.touch();
    let v = View::new(&st, &sh.base_url, false);
    let board = st
        .board(id)
        .map(|b| v.board(b))
        .ok_or_else(|| Resp::not_found("The board was not created."))?;
    Ok(Resp::json(201, &board))
}

/// Adds a scrum board with a chosen id on `project` (by key), for `tandem jira-sim --like`,
/// whose manifests name boards by id. A board already there with that id on that project is
/// kept; on another project it is a conflict.
pub(super) fn insert_board(sh: &Shared, id: u64, name: &str, project: &str) -> Result<(), Resp> {
    let mut st = sh.write();
    let project_id = st.project(project).map(|p| p.id).ok_or_else(|| {
        Resp::error(
            400,
            &[&format!("No project could be found with key '{project}'.")],
            Map::new(),
        )
    })?;
    if let Some(existing) = st.board(id) {
        if existing.project_id == project_id {
            return Ok(());
        }
        return Err(Resp::error(
            400,
            &[&format!("Board {id} already exists on another project.")],
            Map::new(),
        ));
    }
    st.boards.push(Board {
        id,
        name: name.to_owned(),
        project_id,
        filter_id: 10_000 + id,
    });
    st.touch();
    Ok(())
}
