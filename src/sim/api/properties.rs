//! Issue entity properties: JSON values Jira keeps on an issue for apps and integrations,
//! invisible to people (`/issue/{key}/properties[/{propertyKey}]`), set on create with
//! `properties: [{key, value}]` and returned on reads that ask for them (`properties=a,b`).
//! JQL (`issue.property[…]`) finds a property only when an app declares it indexed, which a
//! REST client cannot do, so the simulator does not search them either.

use serde_json::{json, Value};

use crate::sim::server::{Req, Resp};
use crate::sim::Shared;

/// Jira's limit on a property value (32 KiB of JSON).
const MAX_VALUE: usize = 32_768;

pub(super) fn list(sh: &Shared, key: &str) -> Result<Resp, Resp> {
    let st = sh.read();
    let i = st.issue(key).ok_or_else(Resp::issue_not_found)?;
    let base = format!("{}/rest/api/2/issue/{}/properties", sh.base_url, i.id);
    let keys: Vec<Value> = i
        .properties
        .keys()
        .map(|k| json!({"self": format!("{base}/{k}"), "key": k}))
        .collect();
    Ok(Resp::ok(&json!({ "keys": keys })))
}

pub(super) fn get(sh: &Shared, key: &str, property: &str) -> Result<Resp, Resp> {
    let st = sh.read();
    let i = st.issue(key).ok_or_else(Resp::issue_not_found)?;
    match i.properties.get(property) {
        Some(v) => Ok(Resp::ok(&json!({"key": property, "value": v}))),
        None => Err(Resp::not_found(&format!(
            "The property with key '{property}' does not exist."
        ))),
    }
}

pub(super) fn put(sh: &Shared, req: &Req, key: &str, property: &str) -> Result<Resp, Resp> {
    let value = req.json()?;
    check(property, &value)?;
    let mut st = sh.write();
    let id = st.issue_id(key).ok_or_else(Resp::issue_not_found)?;
    let existed = st
        .issues
        .get_mut(&id)
        .map(|i| i.properties.insert(property.to_owned(), value).is_some())
        .unwrap_or(false);
    st.touch_issues(&[id]);
    Ok(if existed {
        Resp::ok(&json!({}))
    } else {
        Resp::json(201, &json!({}))
    })
}

pub(super) fn delete(sh: &Shared, key: &str, property: &str) -> Result<Resp, Resp> {
    let mut st = sh.write();
    let id = st.issue_id(key).ok_or_else(Resp::issue_not_found)?;
    let removed = st
        .issues
        .get_mut(&id)
        .and_then(|i| i.properties.remove(property));
    if removed.is_none() {
        return Err(Resp::not_found(&format!(
            "The property with key '{property}' does not exist."
        )));
    }
    st.touch_issues(&[id]);
    Ok(Resp::no_content())
}

/// Jira's rules for a property: a key of at most 255 characters, a value of at most 32 KiB.
pub(in crate::sim) fn check(property: &str, value: &Value) -> Result<(), Resp> {
    if property.is_empty() || property.chars().count() > 255 {
        return Err(Resp::error(
            400,
            &["The property key cannot be longer than 255 characters."],
            serde_json::Map::new(),
        ));
    }
    if value.to_string().len() > MAX_VALUE {
        return Err(Resp::error(
            400,
            &["The property value cannot be longer than 32768 bytes."],
            serde_json::Map::new(),
        ));
    }
    Ok(())
}

/// The `properties` member of an issue read asking for `wanted` (a comma list; `*all`).
pub(in crate::sim) fn of_issue(
    props: &std::collections::BTreeMap<String, Value>,
    wanted: &str,
) -> Value {
    let all = wanted.split(',').any(|w| w.trim() == "*all");
    Value::Object(
        props
            .iter()
            .filter(|(k, _)| all || wanted.split(',').any(|w| w.trim() == k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}
