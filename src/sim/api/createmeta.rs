//! Create metadata: the legacy `/issue/createmeta` (filtered by project and type, fields on
//! `expand`) and the paged per-project `/createmeta/{project}/issuetypes[/{type}]` that
//! replaced it. Separate because both compute per-type field metadata and page it differently
//! on Cloud and Data Center.

use serde_json::{json, Value};

use crate::sim::model::*;
use crate::sim::render::View;
use crate::sim::server::{Req, Resp};
use crate::sim::Shared;

pub(super) fn createmeta_legacy(sh: &Shared, req: &Req, v3: bool) -> Resp {
    let st = sh.read();
    let v = View::new(&st, &sh.base_url, v3);
    let keys: Option<Vec<String>> = req
        .q_list("projectKeys")
        .map(|k| k.split(',').map(|s| s.trim().to_uppercase()).collect());
    let ids: Option<Vec<String>> = req
        .q_list("projectIds")
        .map(|k| k.split(',').map(|s| s.trim().to_string()).collect());
    let type_names: Option<Vec<String>> = req
        .q_list("issuetypeNames")
        .map(|k| k.split(',').map(|s| s.trim().to_lowercase()).collect());
    let type_ids: Option<Vec<String>> = req
        .q_list("issuetypeIds")
        .map(|k| k.split(',').map(|s| s.trim().to_string()).collect());
    let with_fields = req
        .q_list("expand")
        .is_some_and(|e| e.contains("projects.issuetypes.fields"));
    let projects: Vec<Value> = st
        .projects
        .iter()
        .filter(|p| {
            keys.as_ref().is_none_or(|k| k.contains(&p.key))
                && ids.as_ref().is_none_or(|i| i.contains(&p.id.to_string()))
        })
        .map(|p| {
            let types: Vec<Value> = st
                .project_issue_types(p)
                .into_iter()
                .filter(|t| {
                    type_names
                        .as_ref()
                        .is_none_or(|n| n.contains(&t.name.to_lowercase()))
                })
                .filter(|t| {
                    type_ids
                        .as_ref()
                        .is_none_or(|n| n.contains(&t.id.to_string()))
                })
                .map(|t| {
                    let mut x = v.issue_type(t);
                    x["expand"] = json!("fields");
                    if with_fields {
                        x["fields"] = Value::Object(
                            v.create_fields(t, p, ScreenOp::Create)
                                .into_iter()
                                .map(|(d, r)| (d.id.to_string(), v.field_meta(d, r, p, false)))
                                .collect(),
                        );
                    }
                    x
                })
                .collect();
            json!({
                "self": format!("{}/project/{}", v.api(), p.id),
                "id": p.id.to_string(),
                "key": p.key,
                "name": p.name,
                "avatarUrls": v.avatars("project", 10424),
                "issuetypes": types,
                "expand": "issuetypes",
            })
        })
        .collect();
    Resp::ok(&json!({"expand": "projects", "projects": projects}))
}

fn page(st: &State, req: &Req, items: Vec<Value>, cloud_key: &str) -> Result<Value, Resp> {
    let start = req.q_usize("startAt", 0)?;
    let max = req.q_usize("maxResults", 50)?;
    let total = items.len();
    let slice: Vec<Value> = items.into_iter().skip(start).take(max).collect();
    Ok(if st.deployment == Deployment::Cloud {
        json!({"maxResults": max, "startAt": start, "total": total, cloud_key: slice})
    } else {
        json!({"maxResults": max, "startAt": start, "total": total, "isLast": start + slice.len() >= total, "values": slice})
    })
}

pub(super) fn createmeta_types(sh: &Shared, req: &Req, v3: bool, p: &str) -> Result<Resp, Resp> {
    let st = sh.read();
    let v = View::new(&st, &sh.base_url, v3);
    let project = st
        .project(p)
        .ok_or_else(|| Resp::not_found(&format!("No project could be found with key '{p}'.")))?;
    let items: Vec<Value> = st
        .project_issue_types(project)
        .into_iter()
        .map(|t| v.issue_type(t))
        .collect();
    Ok(Resp::ok(&page(&st, req, items, "issueTypes")?))
}

pub(super) fn createmeta_fields(
    sh: &Shared,
    req: &Req,
    v3: bool,
    p: &str,
    t: &str,
) -> Result<Resp, Resp> {
    let st = sh.read();
    let v = View::new(&st, &sh.base_url, v3);
    let project = st
        .project(p)
        .ok_or_else(|| Resp::not_found(&format!("No project could be found with key '{p}'.")))?;
    let ty = st
        .issue_type(t)
        .ok_or_else(|| Resp::not_found(&format!("Issue type with id '{t}' does not exist.")))?;
    let items: Vec<Value> = v
        .create_fields(ty, project, ScreenOp::Create)
        .into_iter()
        .map(|(d, r)| v.field_meta(d, r, project, true))
        .collect();
    Ok(Resp::ok(&page(&st, req, items, "fields")?))
}
