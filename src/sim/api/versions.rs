//! Project version endpoints (get, create, update, delete), with the version body rules shared
//! by create and update. Separate because versions carry release state and fire their own
//! `jira:version_*` events; deleting one also clears it from issues' fix versions.

use serde_json::{json, Map, Value};

use crate::sim::events;
use crate::sim::model::*;
use crate::sim::render::View;
use crate::sim::server::Resp;
use crate::sim::Shared;

use super::fields::date_from;
use super::{err, Errors};

pub(super) fn version_get(sh: &Shared, v3: bool, id: &str) -> Result<Resp, Resp> {
    let st = sh.read();
    let v = View::new(&st, &sh.base_url, v3);
    id.parse::<u64>()
        .ok()
        .and_then(|id| st.version(id))
        .map(|x| Resp::ok(&v.version(x)))
        .ok_or_else(|| Resp::not_found(&format!("Could not find version for id '{id}'")))
}

fn version_from(st: &State, body: &Value, x: &mut Version) -> Result<(), Resp> {
    let mut errors = Errors::new();
    if let Some(n) = body.get("name") {
        match n.as_str().map(str::trim).filter(|s| !s.is_empty()) {
            Some(n)
                if st.versions.iter().any(|o| {
                    o.id != x.id && o.project_id == x.project_id && o.name.eq_ignore_ascii_case(n)
                }) =>
            {
                err(
                    &mut errors,
                    "name",
                    "A version with this name already exists in this project.",
                )
            }
            Some(n) => x.name = n.to_string(),
            None => err(&mut errors, "name", "You must specify a valid version name"),
        }
    }
    if let Some(d) = body.get("description").and_then(Value::as_str) {
        x.description = d.to_string();
    }
    if let Some(r) = body.get("released").and_then(Value::as_bool) {
        x.released = r;
    }
    if let Some(a) = body.get("archived").and_then(Value::as_bool) {
        x.archived = a;
    }
    for (k, slot) in [
        ("releaseDate", &mut x.release_date),
        ("startDate", &mut x.start_date),
    ] {
        if let Some(v) = body.get(k) {
            match date_from(v) {
                Ok(d) => *slot = d,
                Err(e) => err(&mut errors, k, e),
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Resp::field_errors(errors))
    }
}

pub(super) fn create_version(sh: &Shared, v3: bool, body: &Value) -> Result<Resp, Resp> {
    let mut st = sh.write();
    let project = body
        .get("projectId")
        .and_then(Value::as_u64)
        .map(|id| id.to_string())
        .or_else(|| {
            body.get("project")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .and_then(|p| st.project(&p).map(|p| p.id))
        .ok_or_else(|| {
            Resp::field_errors(Map::from_iter([(
                "project".into(),
                json!("Project must be specified to create a version."),
            )]))
        })?;
    if body
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(|n| n.trim().is_empty())
    {
        return Err(Resp::field_errors(Map::from_iter([(
            "name".into(),
            json!("You must specify a valid version name"),
        )])));
    }
    let mut x = Version {
        id: 0,
        project_id: project,
        name: String::new(),
        description: String::new(),
        released: false,
        archived: false,
        release_date: None,
        start_date: None,
    };
    version_from(&st, body, &mut x)?;
    st.counters.version += 1;
    x.id = st.counters.version;
    st.versions.push(x.clone());
    st.touch_issues(&[]);
    sh.fire(
        "jira:version_created",
        events::version_event(&st, &sh.base_url, "jira:version_created", &x),
        None,
    );
    let v = View::new(&st, &sh.base_url, v3);
    Ok(Resp::json(201, &v.version(&x)))
}

pub(super) fn update_version(sh: &Shared, v3: bool, id: &str, body: &Value) -> Result<Resp, Resp> {
    let mut st = sh.write();
    let pos = id
        .parse::<u64>()
        .ok()
        .and_then(|id| st.versions.iter().position(|v| v.id == id))
        .ok_or_else(|| Resp::not_found(&format!("Could not find version for id '{id}'")))?;
    let before = st.versions[pos].clone();
    let mut x = before.clone();
    version_from(&st, body, &mut x)?;
    st.versions[pos] = x.clone();
    st.touch();
    let event = match (before.released, x.released) {
        (false, true) => "jira:version_released",
        (true, false) => "jira:version_unreleased",
        _ => "jira:version_updated",
    };
    sh.fire(
        event,
        events::version_event(&st, &sh.base_url, event, &x),
        None,
    );
    let v = View::new(&st, &sh.base_url, v3);
    Ok(Resp::ok(&v.version(&x)))
}

pub(super) fn delete_version(sh: &Shared, id: &str) -> Result<Resp, Resp> {
    let mut st = sh.write();
    let pos = id
        .parse::<u64>()
        .ok()
        .and_then(|vid| st.versions.iter().position(|v| v.id == vid))
        .ok_or_else(|| Resp::not_found(&format!("Could not find version for id '{id}'")))?;
    let x = st.versions.remove(pos);
    for i in st.issues.values_mut() {
        i.fix_versions.retain(|v| *v != x.id);
    }
    st.touch();
    sh.fire(
        "jira:version_deleted",
        events::version_event(&st, &sh.base_url, "jira:version_deleted", &x),
        None,
    );
    Ok(Resp::no_content())
}
