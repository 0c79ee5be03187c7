//! Issue link endpoints (create, delete; GET is answered in the router). Separate because a
//! link touches two issues and fires its own `issuelink_*` events.

use chrono::Utc;
use serde_json::{Map, Value};

use crate::sim::events;
use crate::sim::model::*;
use crate::sim::server::Resp;
use crate::sim::Shared;

use super::fields::find_by_id_or_name;

pub(super) fn create_link(sh: &Shared, _user: &User, body: &Value) -> Result<Resp, Resp> {
    let t = body.get("type").unwrap_or(&Value::Null);
    let lt = find_by_id_or_name(t, LINK_TYPES.iter(), |t| t.id.to_string(), |t| t.name)
        .ok_or_else(|| {
            Resp::not_found(&format!(
                "No issue link type with name '{}' found.",
                t.get("name").and_then(Value::as_str).unwrap_or_default()
            ))
        })?;
    let key_of = |side: &str| {
        body.get(side)
            .and_then(|x| x.get("key").or_else(|| x.get("id")))
            .and_then(|x| {
                x.as_str()
                    .map(String::from)
                    .or_else(|| x.as_u64().map(|n| n.to_string()))
            })
    };
    let mut st = sh.write();
    let inward = key_of("inwardIssue").and_then(|k| st.issue_id(&k));
    let outward = key_of("outwardIssue").and_then(|k| st.issue_id(&k));
    let (Some(inward), Some(outward)) = (inward, outward) else {
        return Err(Resp::not_found("Issue Does Not Exist"));
    };
    if inward == outward {
        return Err(Resp::error(
            400,
            &["You cannot link an issue to itself."],
            Map::new(),
        ));
    }
    st.counters.link += 1;
    let link = Link {
        id: st.counters.link,
        link_type: lt.id.to_string(),
        inward,
        outward,
    };
    st.links.insert(link.id, link.clone());
    let now = Utc::now();
    for id in [inward, outward] {
        if let Some(i) = st.issues.get_mut(&id) {
            i.updated = now;
        }
    }
    st.touch_issues(&[inward, outward]);
    sh.fire(
        "issuelink_created",
        events::link_event("issuelink_created", &link),
        None,
    );
    Ok(Resp {
        status: 201,
        body: None,
        headers: vec![(
            "Location",
            format!("{}/rest/api/2/issueLink/{}", sh.base_url, link.id),
        )],
    })
}

pub(super) fn delete_link(sh: &Shared, id: &str) -> Result<Resp, Resp> {
    let mut st = sh.write();
    let link = id
        .parse::<u64>()
        .ok()
        .and_then(|id| st.links.remove(&id))
        .ok_or_else(|| Resp::not_found(&format!("No issue link with id '{id}' exists.")))?;
    st.touch_issues(&[link.inward, link.outward]);
    sh.fire(
        "issuelink_deleted",
        events::link_event("issuelink_deleted", &link),
        None,
    );
    Ok(Resp::no_content())
}
