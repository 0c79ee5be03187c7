//! Changelog items: a field's value as the `from`/`fromString`/`to`/`toString` strings Jira
//! records, the `field`/`fieldtype` names it uses, and the diff between two versions of an
//! issue. Separate from the endpoints because every write path (edit, transition, create's
//! initial changelog, agile sprint moves, project moves) must describe its changes the same way.

use std::collections::HashSet;

use serde_json::Value;

use crate::sim::model::*;

/// A field's value as changelog strings: (id form, display form).
fn field_strings(st: &State, issue: &Issue, id: &str) -> (Option<String>, Option<String>) {
    let user = |u: &Option<String>| match u.as_deref().and_then(|id| st.user_by_id(id)) {
        Some(u) if st.deployment == Deployment::Cloud => {
            (Some(u.id.clone()), Some(u.display_name.clone()))
        }
        Some(u) => (Some(u.login.clone()), Some(u.display_name.clone())),
        None => (None, None),
    };
    match id {
        "summary" => (None, Some(issue.summary.clone())),
        "description" => (None, issue.description.clone()),
        "status" => (
            Some(issue.status.clone()),
            st.status(&issue.status).map(|s| s.name.to_string()),
        ),
        "issuetype" => (
            Some(issue.issue_type.clone()),
            st.issue_type(&issue.issue_type).map(|t| t.name.to_string()),
        ),
        "priority" => (
            Some(issue.priority.clone()),
            priority(&issue.priority).map(|p| p.name.to_string()),
        ),
        "resolution" => (
            issue.resolution.clone(),
            issue
                .resolution
                .as_deref()
                .and_then(resolution)
                .map(|r| r.name.to_string()),
        ),
        "assignee" => user(&issue.assignee),
        "reporter" => user(&issue.reporter),
        "labels" => (None, Some(issue.labels.join(" ")).filter(|s| !s.is_empty())),
        "duedate" => (
            issue.due_date.map(|d| d.to_string()),
            issue.due_date.map(|d| d.to_string()),
        ),
        "parent" => (
            issue.parent.map(|p| p.to_string()),
            issue
                .parent
                .and_then(|p| st.issues.get(&p))
                .map(|p| p.key.clone()),
        ),
        "components" => (
            Some(
                issue
                    .components
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
            .filter(|s| !s.is_empty()),
            Some(
                issue
                    .components
                    .iter()
                    .filter_map(|c| st.component(*c))
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
            .filter(|s| !s.is_empty()),
        ),
        "fixVersions" => (
            Some(
                issue
                    .fix_versions
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
            .filter(|s| !s.is_empty()),
            Some(
                issue
                    .fix_versions
                    .iter()
                    .filter_map(|c| st.version(*c))
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            )
            .filter(|s| !s.is_empty()),
        ),
        _ => match st.field(id).map(|d| d.kind) {
            Some(FieldKind::Sprint) => (
                Some(
                    issue
                        .sprints
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
                .filter(|s| !s.is_empty()),
                Some(
                    issue
                        .sprints
                        .iter()
                        .filter_map(|s| st.sprints.get(s))
                        .map(|s| s.name.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
                .filter(|s| !s.is_empty()),
            ),
            Some(FieldKind::EpicLink) => field_strings(st, issue, "parent"),
            _ => {
                let v = issue.custom.get(id);
                let display = v.map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Array(a) => a
                        .iter()
                        .map(|x| {
                            x.get("value")
                                .and_then(Value::as_str)
                                .map(String::from)
                                .unwrap_or_else(|| {
                                    x.as_str()
                                        .map(String::from)
                                        .unwrap_or_else(|| x.to_string())
                                })
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    Value::Object(o) => ["value", "name", "title"]
                        .iter()
                        .find_map(|k| o.get(*k).and_then(Value::as_str))
                        .unwrap_or_default()
                        .to_string(),
                    other => other.to_string(),
                });
                let raw = v
                    .and_then(|v| v.get("id"))
                    .and_then(Value::as_str)
                    .map(String::from);
                (raw, display)
            }
        },
    }
}

/// The changelog `field`/`fieldtype` names Jira uses.
fn changelog_name(st: &State, id: &str) -> (String, String) {
    let cloud = st.deployment == Deployment::Cloud;
    let name = match id {
        "components" => "Component",
        "fixVersions" => "Fix Version",
        "parent" if cloud => "IssueParentAssociation",
        "parent" => "Parent",
        "issuetype" => "issuetype",
        _ => "",
    };
    if !name.is_empty() {
        return (name.into(), "jira".into());
    }
    match st.field(id) {
        Some(d) if d.is_custom() => (d.name.to_string(), "custom".into()),
        _ => (id.to_string(), "jira".into()),
    }
}

pub(in crate::sim) fn diff(
    st: &State,
    before: &Issue,
    after: &Issue,
    ids: &[String],
) -> Vec<ChangeItem> {
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id.clone()) {
            continue;
        }
        let (f0, s0) = field_strings(st, before, id);
        let (f1, s1) = field_strings(st, after, id);
        // A document can change where its text does not (a mention, a mark, an image).
        let same_doc = id != "description" || before.description_adf == after.description_adf;
        if (f0.as_ref(), s0.as_ref()) == (f1.as_ref(), s1.as_ref()) && same_doc {
            continue;
        }
        // Components and versions: one item per value, a removed one paired with an added one
        // where both exist (`from` v1 `to` v2), as Jira writes them.
        if matches!(id.as_str(), "components" | "fixVersions") {
            items.extend(per_value_items(st, before, after, id));
            continue;
        }
        // On Data Center an epic child's parent is its Epic Link, and history says so.
        let epic_link = id == "parent" && !st.shows_parent(after);
        let (field, fieldtype, field_id) = if epic_link {
            (
                "Epic Link".to_string(),
                "custom".to_string(),
                "customfield_10100".to_string(),
            )
        } else {
            let (f, t) = changelog_name(st, id);
            (f, t, id.clone())
        };
        items.push(ChangeItem {
            field,
            fieldtype,
            field_id,
            from: f0,
            from_string: s0,
            to: f1,
            to_string: s1,
        });
    }
    items
}

/// A multi-value system field's change as Jira records it: each removed value paired with an
/// added one in one item, then the removals or additions left over, one item each.
fn per_value_items(st: &State, before: &Issue, after: &Issue, id: &str) -> Vec<ChangeItem> {
    let ids = |issue: &Issue| -> Vec<u64> {
        if id == "components" {
            issue.components.clone()
        } else {
            issue.fix_versions.clone()
        }
    };
    let name = |v: u64| -> Option<String> {
        if id == "components" {
            st.component(v).map(|c| c.name.clone())
        } else {
            st.version(v).map(|c| c.name.clone())
        }
    };
    let (old, new) = (ids(before), ids(after));
    let removed: Vec<u64> = old.iter().copied().filter(|v| !new.contains(v)).collect();
    let added: Vec<u64> = new.iter().copied().filter(|v| !old.contains(v)).collect();
    let (field, fieldtype) = changelog_name(st, id);
    (0..removed.len().max(added.len()))
        .map(|i| {
            let (from, to) = (removed.get(i).copied(), added.get(i).copied());
            ChangeItem {
                field: field.clone(),
                fieldtype: fieldtype.clone(),
                field_id: id.to_owned(),
                from: from.map(|v| v.to_string()),
                from_string: from.and_then(name),
                to: to.map(|v| v.to_string()),
                to_string: to.and_then(name),
            }
        })
        .collect()
}
