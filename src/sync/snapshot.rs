//! Canonical field snapshots, the unit of the engine's 3-way merge.
//!
//! [`fields_snapshot`] (from an item) and [`fields_snapshot_from_issue`] (from a Jira issue)
//! produce the same keys for one integration: `title`, `description`, `status` (when statuses
//! are mapped), `sprint` (when a board is), then every mapped field by its workspace name
//! (`storyPoints`, `team`, `components`, `releases`, `labels`, default and custom fields).
//! Values are canonical, so equal meaning compares equal across sides: rich text as canonical
//! workspace markdown (ADF, wiki and markdown alike), options as their value string, numbers
//! `3` and `3.0` alike, sets (labels, components, releases, multi-selects) sorted, dates as
//! `YYYY-MM-DD`, and empty text or lists the same as absent (`null`, `[]`).
//!
//! The parent is not part of the snapshot: comparing it needs the link table (item id on one
//! side, issue key on the other), which the engine owns.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use serde_json::{json, Value};

use crate::jira::{FieldKind, Issue};
use crate::workspace::model::Item;

use super::mapping::{
    number_of, read_issue, FieldRule, ItemPatch, MappingContext, MappingError, Slot,
    ADOPTION_LABEL_PREFIX,
};
use super::richtext::canonical_markdown;

/// Snapshot of an item's mapped fields.
pub fn fields_snapshot(item: &Item, ctx: &MappingContext) -> BTreeMap<String, Value> {
    let mut snap = BTreeMap::new();
    snap.insert("title".into(), text(&item.title));
    snap.insert("description".into(), rich(&item.description));
    if ctx.maps_statuses() {
        snap.insert("status".into(), text(&item.status));
    }
    if ctx.maps_sprints() {
        snap.insert(
            "sprint".into(),
            item.sprint.as_deref().map(text).unwrap_or(Value::Null),
        );
    }
    for rule in ctx.rules() {
        let raw = match &rule.slot {
            Slot::StoryPoints => item.story_points.map(|n| json!(n)).unwrap_or(Value::Null),
            Slot::Team => item.team.clone().map(Value::String).unwrap_or(Value::Null),
            Slot::Components => json!(item.components),
            Slot::Releases => json!(item.releases),
            Slot::Labels => json!(item.labels),
            Slot::Field(name) => item.fields.get(name).cloned().unwrap_or(Value::Null),
        };
        snap.insert(rule.workspace.clone(), canonical(rule, &raw));
    }
    snap
}

/// Snapshot of the same fields as Jira holds them, whatever each field's direction.
pub fn fields_snapshot_from_issue(
    issue: &Issue,
    ctx: &MappingContext,
) -> Result<BTreeMap<String, Value>, MappingError> {
    let patch = read_issue(issue, ctx, false)?;
    Ok(fields_snapshot_from_read(issue, ctx, &patch))
}

/// [`fields_snapshot_from_issue`] from the issue as already read without regard to direction
/// (`read_issue(issue, ctx, false)`, or [`crate::sync::from_jira`]'s patch when
/// [`MappingContext::reads_every_field`]): a one-time import maps each issue only once.
pub fn fields_snapshot_from_read(
    issue: &Issue,
    ctx: &MappingContext,
    patch: &ItemPatch,
) -> BTreeMap<String, Value> {
    let mut snap = BTreeMap::new();
    snap.insert(
        "title".into(),
        patch.title.as_deref().map(text).unwrap_or(Value::Null),
    );
    snap.insert(
        "description".into(),
        rich(patch.description.as_deref().unwrap_or("")),
    );
    if ctx.maps_statuses() {
        snap.insert(
            "status".into(),
            patch.status.as_deref().map(text).unwrap_or(Value::Null),
        );
    }
    if ctx.maps_sprints() {
        snap.insert(
            "sprint".into(),
            patch
                .sprint
                .clone()
                .flatten()
                .as_deref()
                .map(text)
                .unwrap_or(Value::Null),
        );
    }
    for rule in ctx.rules() {
        // A field missing from the read (outside its context for this issue type, or one
        // Cloud failed to load) is unknown, not cleared: it stays out of the snapshot, and
        // the merge leaves both sides alone.
        if !issue.fields.contains_key(&rule.jira.id) {
            continue;
        }
        let raw = match &rule.slot {
            Slot::StoryPoints => patch
                .story_points
                .flatten()
                .map(|n| json!(n))
                .unwrap_or(Value::Null),
            Slot::Team => patch
                .team
                .clone()
                .flatten()
                .map(Value::String)
                .unwrap_or(Value::Null),
            Slot::Components => json!(patch.components.clone().unwrap_or_default()),
            Slot::Releases => json!(patch.releases.clone().unwrap_or_default()),
            Slot::Labels => json!(patch.labels.clone().unwrap_or_default()),
            Slot::Field(name) => patch.fields.get(name).cloned().unwrap_or(Value::Null),
        };
        snap.insert(rule.workspace.clone(), canonical(rule, &raw));
    }
    snap
}

/// The snapshot keys that an issue's changelog (`expand=changelog`) says were changed.
///
/// Right after tandem creates an issue, a change in its history was made by someone else
/// (a person, an automation rule): the create itself leaves no history. The engine uses this
/// to tell such a change, which must come back to the item, from a value Jira simply did not
/// take at create, which the item must push again.
///
/// Cloud names the field by `fieldId`. Data Center only gives `field`: the id of most system
/// fields, a display name for a few (`Fix Version`, `Component`) and for custom fields.
pub fn keys_in_changelog(changelog: Option<&Value>, ctx: &MappingContext) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let histories = changelog
        .and_then(|c| c.get("histories"))
        .and_then(Value::as_array);
    for item in histories
        .into_iter()
        .flatten()
        .filter_map(|h| h.get("items").and_then(Value::as_array))
        .flatten()
    {
        let id = match item.get("fieldId").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => {
                let name = item
                    .get("field")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match name {
                    "Fix Version" => "fixVersions".to_owned(),
                    "Component" => "components".to_owned(),
                    _ => ctx
                        .catalog()
                        .fields
                        .iter()
                        .find(|f| f.custom && f.name == name)
                        .map(|f| f.id.clone())
                        .unwrap_or_else(|| name.to_owned()),
                }
            }
        };
        let key = match id.as_str() {
            "summary" => Some("title".to_owned()),
            "description" => Some("description".to_owned()),
            "status" if ctx.maps_statuses() => Some("status".to_owned()),
            _ if ctx.maps_sprints() && ctx.sprint_field() == Some(id.as_str()) => {
                Some("sprint".to_owned())
            }
            _ => ctx
                .rules()
                .iter()
                .find(|r| r.jira.id == id)
                .map(|r| r.workspace.clone()),
        };
        keys.extend(key);
    }
    keys
}

fn text(s: &str) -> Value {
    let t = s.trim();
    if t.is_empty() {
        Value::Null
    } else {
        json!(t)
    }
}

fn rich(s: &str) -> Value {
    let c = canonical_markdown(s);
    if c.is_empty() {
        Value::Null
    } else {
        json!(c)
    }
}

/// `3` and `3.0` are one value; integers stay integers in JSON.
pub fn canonical_number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

fn string_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => ["value", "name", "title", "key"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str))
            .map(str::to_owned),
        other => Some(other.to_string()),
    }
}

fn canonical(rule: &FieldRule, v: &Value) -> Value {
    match rule.kind {
        FieldKind::Number => number_of(v).map(canonical_number).unwrap_or(Value::Null),
        FieldKind::Text if is_rich(rule) => string_of(v).map(|s| rich(&s)).unwrap_or(Value::Null),
        FieldKind::Text | FieldKind::Url | FieldKind::SingleSelect | FieldKind::Team => {
            string_of(v).map(|s| text(&s)).unwrap_or(Value::Null)
        }
        FieldKind::Date => string_of(v)
            .map(|s| text(s.get(..10).unwrap_or(&s)))
            .unwrap_or(Value::Null),
        FieldKind::MultiSelect
        | FieldKind::Labels
        | FieldKind::Components
        | FieldKind::Releases => {
            let mut items: Vec<String> = match v {
                Value::Array(a) => a
                    .iter()
                    .filter_map(string_of)
                    .map(|s| s.trim().to_owned())
                    .collect(),
                other => string_of(other).into_iter().collect(),
            };
            items.retain(|s| !s.is_empty());
            items.sort();
            items.dedup();
            json!(items)
        }
    }
}

/// The value of `rule`'s field before one changelog `item` changed it, given the value after
/// it (`after`, in snapshot terms): undoing the change. This is how a person's value that a
/// write of tandem's overwrote comes back, for fields whose value `toString` alone cannot
/// rebuild: Jira records a version or component change one value per item, labels as the
/// whole space-separated set, a date by its ISO `from`, and other fields by display text.
/// `None` when `after` is not the value such an item leaves (the change cannot be undone).
pub(crate) fn value_before(rule: &FieldRule, after: &Value, item: &Value) -> Option<Value> {
    let s = |k: &str| item.get(k).and_then(Value::as_str).map(str::trim);
    let before = match rule.kind {
        FieldKind::Labels => json!(s("fromString")
            .unwrap_or_default()
            .split_whitespace()
            .filter(|l| !l.starts_with(ADOPTION_LABEL_PREFIX))
            .collect::<Vec<_>>()),
        FieldKind::Components | FieldKind::Releases => {
            let mut set: Vec<&str> = after.as_array()?.iter().filter_map(Value::as_str).collect();
            if let Some(to) = s("toString") {
                if !set.contains(&to) {
                    return None;
                }
                set.retain(|v| *v != to);
            }
            set.extend(s("fromString"));
            json!(set)
        }
        FieldKind::MultiSelect => json!(s("fromString")
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(str::trim)
            .collect::<Vec<_>>()),
        FieldKind::Date => s("from")
            .or(s("fromString"))
            .map_or(Value::Null, |d| json!(d)),
        _ => s("fromString").map_or(Value::Null, |v| json!(v)),
    };
    Some(canonical(rule, &before))
}

fn is_rich(rule: &FieldRule) -> bool {
    rule.jira.id == "description"
        || rule.jira.id == "environment"
        || rule
            .jira
            .schema
            .as_ref()
            .and_then(|s| s.custom.as_deref())
            .is_some_and(|c| c.ends_with(":textarea"))
}

/// A Jira date-time (`2026-01-31T09:00:00.000+0000`, or RFC 3339).
pub(crate) fn parse_jira_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Whether a changelog history was written by one of `me` (account id, user name or key).
pub(crate) fn authored_by(history: &Value, me: &[String]) -> bool {
    let author = &history["author"];
    ["accountId", "name", "key"]
        .iter()
        .filter_map(|k| author.get(*k).and_then(Value::as_str))
        .any(|a| me.iter().any(|m| m == a))
}

/// The item field (as the change feed and `Item::field_updated` name it) behind a snapshot key.
pub fn item_field_of(key: &str, ctx: &MappingContext) -> Option<String> {
    match key {
        "title" | "description" | "status" | "sprint" => Some(key.to_owned()),
        _ => ctx
            .rules()
            .iter()
            .find(|r| r.workspace == key)
            .map(|r| match &r.slot {
                Slot::StoryPoints => "storyPoints".to_owned(),
                Slot::Team => "team".to_owned(),
                Slot::Components => "components".to_owned(),
                Slot::Releases => "releases".to_owned(),
                Slot::Labels => "labels".to_owned(),
                Slot::Field(name) => format!("fields.{name}"),
            }),
    }
}

/// When someone other than `me` (changelog author ids) last changed each snapshot key, from an
/// issue read with `expand=changelog`.
pub fn key_times_in_changelog(
    changelog: Option<&Value>,
    ctx: &MappingContext,
    me: &[String],
) -> BTreeMap<String, DateTime<Utc>> {
    let mut out: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let histories = changelog
        .and_then(|c| c.get("histories"))
        .and_then(Value::as_array);
    for h in histories.into_iter().flatten() {
        if authored_by(h, me) {
            continue;
        }
        let Some(at) = h
            .get("created")
            .and_then(Value::as_str)
            .and_then(parse_jira_time)
        else {
            continue;
        };
        let one = serde_json::json!({"histories": [h]});
        for key in keys_in_changelog(Some(&one), ctx) {
            let slot = out.entry(key).or_insert(at);
            if at > *slot {
                *slot = at;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(canonical_number(3.0), json!(3));
        assert_eq!(canonical_number(3.0), canonical_number(3.0_f64));
        assert_eq!(canonical_number(2.5), json!(2.5));
    }
}
