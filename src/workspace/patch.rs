//! Edits as data: JSON merge patches (RFC 7396) of an item's, a sprint's or a release's
//! editable fields, parsed into typed patches whose errors name the offending field.
//!
//! A field that is absent is left alone; `null` clears it (or empties a list); a value replaces
//! it. `fields` is itself merged key by key, so `{"fields": {"Risk": null}}` clears one custom
//! field and keeps the others. Read-only fields (`id`, `version`, `created`...) are refused
//! rather than silently ignored, so a client that thinks it can set them learns otherwise.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::model::{Comment, ItemId};
use super::WorkspaceError;

/// A change to an item. `None` leaves a field alone; for nullable fields `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemPatch {
    pub item_type: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub parent: Option<Option<ItemId>>,
    pub sprint: Option<Option<String>>,
    pub releases: Option<Vec<String>>,
    pub components: Option<Vec<String>>,
    pub story_points: Option<Option<f64>>,
    pub team: Option<Option<String>>,
    pub labels: Option<Vec<String>>,
    /// Default and custom fields by workspace field name; `None` removes the value.
    pub fields: BTreeMap<String, Option<Value>>,
    /// Only the sync engine writes comments and time spent (they come from Jira); through the
    /// API they are read-only.
    pub comments: Option<Vec<Comment>>,
    pub time_spent_seconds: Option<u64>,
    /// `syncTo`: the integration that creates the item's issue (`None` inside: the default).
    pub sync_to: Option<Option<String>>,
}

const ITEM_FIELDS: &[&str] = &[
    "type",
    "title",
    "description",
    "status",
    "parent",
    "sprint",
    "releases",
    "components",
    "storyPoints",
    "team",
    "labels",
    "fields",
    "comments",
    "timeSpentSeconds",
    "syncTo",
];
const ITEM_READ_ONLY: &[&str] = &[
    "id",
    "workspace",
    "version",
    "created",
    "updated",
    "jira",
    "fieldUpdated",
];

fn invalid(field: impl Into<String>, message: impl Into<String>) -> WorkspaceError {
    WorkspaceError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, WorkspaceError> {
    v.as_object()
        .ok_or_else(|| invalid("", format!("the body must be a JSON object ({what})")))
}

fn check_keys(
    map: &Map<String, Value>,
    allowed: &[&str],
    read_only: &[&str],
) -> Result<(), WorkspaceError> {
    for key in map.keys() {
        if read_only.contains(&key.as_str()) {
            return Err(invalid(key, "is read-only"));
        }
        if !allowed.contains(&key.as_str()) {
            return Err(invalid(
                key,
                format!("unknown field; expected one of {}", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn string(field: &str, v: &Value) -> Result<String, WorkspaceError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| invalid(field, "must be a string"))
}

fn required_string(field: &str, v: &Value) -> Result<String, WorkspaceError> {
    if v.is_null() {
        return Err(invalid(field, "cannot be null"));
    }
    string(field, v)
}

fn nullable_string(field: &str, v: &Value) -> Result<Option<String>, WorkspaceError> {
    if v.is_null() {
        Ok(None)
    } else {
        string(field, v).map(Some)
    }
}

fn string_list(field: &str, v: &Value) -> Result<Vec<String>, WorkspaceError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| string(&format!("{field}[{i}]"), x))
            .collect(),
        _ => Err(invalid(field, "must be an array of strings")),
    }
}

fn timestamp(field: &str, v: &Value) -> Result<Option<DateTime<Utc>>, WorkspaceError> {
    match nullable_string(field, v)? {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(&s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                invalid(
                    field,
                    "must be an RFC 3339 date-time such as 2026-01-31T09:00:00Z",
                )
            }),
    }
}

/// Checks a `YYYY-MM-DD` date.
pub(crate) fn check_date(field: &str, s: &str) -> Result<(), WorkspaceError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|_| ())
        .map_err(|_| invalid(field, "must be a date such as 2026-01-31"))
}

impl ItemPatch {
    /// Parses a merge patch of an item (also the body of a create).
    pub fn from_json(body: &Value) -> Result<ItemPatch, WorkspaceError> {
        let map = object(body, "an item or a merge patch of one")?;
        check_keys(map, ITEM_FIELDS, ITEM_READ_ONLY)?;
        let mut p = ItemPatch::default();
        for (key, v) in map {
            let k = key.as_str();
            match k {
                "type" => p.item_type = Some(required_string(k, v)?),
                "title" => p.title = Some(required_string(k, v)?),
                "description" => p.description = Some(nullable_string(k, v)?.unwrap_or_default()),
                "status" => p.status = Some(required_string(k, v)?),
                "parent" => p.parent = Some(nullable_string(k, v)?),
                "sprint" => p.sprint = Some(nullable_string(k, v)?),
                "team" => p.team = Some(nullable_string(k, v)?),
                "syncTo" => p.sync_to = Some(nullable_string(k, v)?),
                "releases" => p.releases = Some(string_list(k, v)?),
                "components" => p.components = Some(string_list(k, v)?),
                "labels" => p.labels = Some(string_list(k, v)?),
                "storyPoints" => {
                    p.story_points = Some(match v {
                        Value::Null => None,
                        Value::Number(n) => n.as_f64(),
                        _ => return Err(invalid(k, "must be a number")),
                    })
                }
                "fields" => match v {
                    Value::Null => {}
                    Value::Object(fields) => {
                        for (name, value) in fields {
                            p.fields
                                .insert(name.clone(), (!value.is_null()).then(|| value.clone()));
                        }
                    }
                    _ => return Err(invalid(k, "must be an object of field name to value")),
                },
                "comments" => {
                    p.comments = Some(if v.is_null() {
                        Vec::new()
                    } else {
                        serde_json::from_value(v.clone())
                            .map_err(|e| invalid(k, format!("must be a list of comments: {e}")))?
                    })
                }
                "timeSpentSeconds" => {
                    p.time_spent_seconds = Some(
                        v.as_u64()
                            .ok_or_else(|| invalid(k, "must be a whole number of seconds"))?,
                    )
                }
                _ => {}
            }
        }
        Ok(p)
    }
}

/// A change to a sprint; the name is the sprint's identity and is set only on create.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SprintPatch {
    pub name: Option<String>,
    pub state: Option<String>,
    pub start: Option<Option<DateTime<Utc>>>,
    pub end: Option<Option<DateTime<Utc>>>,
    pub goal: Option<Option<String>>,
}

/// Jira's sprint states.
pub const SPRINT_STATES: [&str; 3] = ["future", "active", "closed"];

impl SprintPatch {
    pub fn from_json(body: &Value) -> Result<SprintPatch, WorkspaceError> {
        let map = object(body, "a sprint or a merge patch of one")?;
        check_keys(
            map,
            &["name", "state", "start", "end", "goal"],
            &["workspace", "version"],
        )?;
        let mut p = SprintPatch::default();
        for (key, v) in map {
            let k = key.as_str();
            match k {
                "name" => p.name = Some(required_string(k, v)?),
                "state" => {
                    let s = required_string(k, v)?;
                    if !SPRINT_STATES.contains(&s.as_str()) {
                        return Err(invalid(k, "must be one of future, active, closed"));
                    }
                    p.state = Some(s);
                }
                "start" => p.start = Some(timestamp(k, v)?),
                "end" => p.end = Some(timestamp(k, v)?),
                "goal" => p.goal = Some(nullable_string(k, v)?),
                _ => {}
            }
        }
        Ok(p)
    }
}

/// A change to a release; the name is its identity and is set only on create.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReleasePatch {
    pub name: Option<String>,
    pub released: Option<bool>,
    pub release_date: Option<Option<String>>,
    pub description: Option<Option<String>>,
}

impl ReleasePatch {
    pub fn from_json(body: &Value) -> Result<ReleasePatch, WorkspaceError> {
        let map = object(body, "a release or a merge patch of one")?;
        check_keys(
            map,
            &["name", "released", "releaseDate", "description"],
            &["workspace", "version"],
        )?;
        let mut p = ReleasePatch::default();
        for (key, v) in map {
            let k = key.as_str();
            match k {
                "name" => p.name = Some(required_string(k, v)?),
                "released" => {
                    p.released = Some(match v {
                        Value::Null => false,
                        Value::Bool(b) => *b,
                        _ => return Err(invalid(k, "must be true or false")),
                    })
                }
                "releaseDate" => {
                    let d = nullable_string(k, v)?;
                    if let Some(d) = &d {
                        check_date(k, d)?;
                    }
                    p.release_date = Some(d);
                }
                "description" => p.description = Some(nullable_string(k, v)?),
                _ => {}
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_clears_and_absent_keeps() {
        let p =
            ItemPatch::from_json(&json!({"sprint": null, "fields": {"Risk": null, "value": 3}}))
                .expect("valid patch");
        assert_eq!(p.sprint, Some(None));
        assert_eq!(p.parent, None);
        assert_eq!(p.fields.get("Risk"), Some(&None));
        assert_eq!(p.fields.get("value"), Some(&Some(json!(3))));
    }

    #[test]
    fn errors_name_the_field() {
        let field = |v: Value| match ItemPatch::from_json(&v) {
            Err(WorkspaceError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid-field error, got {other:?}"),
        };
        assert_eq!(field(json!({"version": 3})), "version");
        assert_eq!(field(json!({"titel": "x"})), "titel");
        assert_eq!(field(json!({"labels": ["ok", 3]})), "labels[1]");
        assert_eq!(field(json!({"title": null})), "title");
        assert_eq!(field(json!({"storyPoints": "5"})), "storyPoints");
    }
}
