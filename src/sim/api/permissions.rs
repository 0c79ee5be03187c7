//! `/mypermissions`: the permissions the simulator knows and whether the caller holds them
//! (administrators hold all; others hold the regular ones). Separate so the permission table
//! has one home.

use serde_json::{json, Map};

use crate::sim::model::*;
use crate::sim::server::{Req, Resp};
use crate::sim::Shared;

/// Permissions `/mypermissions` knows, with whether a non-administrator holds them.
const PERMISSIONS: &[(&str, u32, &str, &str, bool)] = &[
    ("ADMINISTER", 0, "Administer Jira", "GLOBAL", false),
    (
        "SYSTEM_ADMIN",
        44,
        "Jira System Administrators",
        "GLOBAL",
        false,
    ),
    (
        "ADMINISTER_PROJECTS",
        23,
        "Administer Projects",
        "PROJECT",
        false,
    ),
    ("BROWSE_PROJECTS", 10, "Browse Projects", "PROJECT", true),
    ("CREATE_ISSUES", 11, "Create Issues", "PROJECT", true),
    ("EDIT_ISSUES", 12, "Edit Issues", "PROJECT", true),
    ("ASSIGN_ISSUES", 13, "Assign Issues", "PROJECT", true),
    ("ADD_COMMENTS", 15, "Add Comments", "PROJECT", true),
    ("DELETE_ISSUES", 16, "Delete Issues", "PROJECT", false),
    ("WORK_ON_ISSUES", 20, "Work On Issues", "PROJECT", true),
    ("LINK_ISSUES", 21, "Link Issues", "PROJECT", true),
    ("SCHEDULE_ISSUES", 28, "Schedule Issues", "PROJECT", true),
    (
        "TRANSITION_ISSUES",
        46,
        "Transition Issues",
        "PROJECT",
        true,
    ),
    (
        "MANAGE_SPRINTS_PERMISSION",
        10400,
        "Manage sprints",
        "PROJECT",
        true,
    ),
];

pub(super) fn my_permissions(sh: &Shared, req: &Req) -> Result<Resp, Resp> {
    let user = req.user()?;
    let cloud = sh.read().deployment == Deployment::Cloud;
    let wanted: Option<Vec<&str>> = req.q("permissions").map(|p| {
        p.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    });
    if cloud && wanted.is_none() {
        return Err(Resp::error(
            400,
            &["The 'permissions' query parameter is required."],
            Map::new(),
        ));
    }
    let mut out = Map::new();
    for (key, id, name, ty, regular) in PERMISSIONS {
        if wanted.as_ref().is_some_and(|w| !w.contains(key)) {
            continue;
        }
        out.insert(
            key.to_string(),
            json!({"id": id.to_string(), "key": key, "name": name, "type": ty, "description": name, "havePermission": user.admin || *regular}),
        );
    }
    if let Some(w) = &wanted {
        if let Some(bad) = w.iter().find(|k| !PERMISSIONS.iter().any(|p| p.0 == **k)) {
            return Err(Resp::error(
                400,
                &[&format!("Permission key '{bad}' is invalid.")],
                Map::new(),
            ));
        }
    }
    Ok(Resp::ok(&json!({ "permissions": out })))
}
