//! Field-level differences between two manifest sets, for `tandem plan`: which fields of a
//! resource's `spec` a change touches, so a reviewer sees `statuses[workspace=Doing].jira:
//! "In Progress" → "Doing"` rather than only "update".
//!
//! Works on the YAML as written (scalars resolved by the YAML 1.2 core schema), not on the
//! validated model, so an old set that no longer validates can still be compared.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Number, Value};

use super::yaml::{self, Node, Resolved};
use super::SourceFile;

/// The `spec` of every identifiable document (kind and `metadata.name` are strings), by
/// (kind, name). A document declared twice keeps its first occurrence (validation reports the
/// duplicate).
pub fn spec_values(files: &[SourceFile]) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for file in files {
        for doc in yaml::parse(&file.text).documents {
            let root = &doc.root;
            let kind = root.get("kind").and_then(|e| e.value.as_str());
            let name = root
                .get("metadata")
                .and_then(|m| m.value.get("name"))
                .and_then(|e| e.value.as_str());
            let (Some(kind), Some(name)) = (kind, name) else {
                continue;
            };
            let spec = root
                .get("spec")
                .map(|e| to_json(&e.value))
                .unwrap_or(Value::Null);
            out.entry((kind.to_owned(), name.to_owned()))
                .or_insert(spec);
        }
    }
    out
}

fn to_json(node: &Node) -> Value {
    match &node.value {
        yaml::Value::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        yaml::Value::Map(entries) => {
            let mut map = Map::new();
            for e in entries {
                let key = match e.key.resolve() {
                    Some(Resolved::Str(s)) => s.to_owned(),
                    _ => match &e.key.value {
                        yaml::Value::Scalar { text, .. } => text.clone(),
                        _ => continue,
                    },
                };
                map.insert(key, to_json(&e.value));
            }
            Value::Object(map)
        }
        yaml::Value::Scalar { .. } => match node.resolve() {
            Some(Resolved::Null) | None => Value::Null,
            Some(Resolved::Bool(b)) => Value::Bool(b),
            Some(Resolved::Int(i)) => Value::Number(i.into()),
            Some(Resolved::UInt(u)) => Value::Number(u.into()),
            Some(Resolved::Float(f)) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            Some(Resolved::Str(s)) => Value::String(s.to_owned()),
        },
    }
}

/// One changed field: its path inside `spec` and both values (`None`: absent on that side).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<Value>| match v {
            None => "(absent)".to_owned(),
            Some(v) => v.to_string(),
        };
        write!(
            f,
            "{}: {} → {}",
            self.path,
            show(&self.old),
            show(&self.new)
        )
    }
}

/// Keys that name a list element, tried in order: a list whose elements all carry one of them
/// with distinct values is compared element by element by that key, so inserting a status
/// mapping shows one added row instead of every later row "changed".
const IDENTITY_KEYS: [&str; 3] = ["workspace", "name", "jira"];

/// The fields that differ between two `spec` values, in path order.
pub fn field_changes(old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk("spec", Some(old), Some(new), &mut out);
    out
}

fn walk(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                walk(&format!("{path}.{k}"), a.get(k), b.get(k), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => match identity_key(a, b) {
            Some(key) => {
                let id = |v: &Value| v[key].to_string().trim_matches('"').to_owned();
                let mut ids: Vec<String> = a.iter().chain(b.iter()).map(id).collect();
                ids.sort();
                ids.dedup();
                for i in ids {
                    let find = |list: &[Value]| list.iter().find(|v| id(v) == i).cloned();
                    walk(
                        &format!("{path}[{key}={i}]"),
                        find(a).as_ref(),
                        find(b).as_ref(),
                        out,
                    );
                }
            }
            None => {
                for i in 0..a.len().max(b.len()) {
                    walk(&format!("{path}[{i}]"), a.get(i), b.get(i), out);
                }
            }
        },
        (a, b) if a == b => {}
        (a, b) => out.push(FieldChange {
            path: path.to_owned(),
            old: a.cloned(),
            new: b.cloned(),
        }),
    }
}

fn identity_key(a: &[Value], b: &[Value]) -> Option<&'static str> {
    IDENTITY_KEYS.into_iter().find(|key| {
        [a, b].iter().all(|list| {
            let mut seen: Vec<String> = Vec::new();
            list.iter().all(|v| match v.get(*key) {
                Some(id) if !id.is_object() && !id.is_array() => {
                    let id = id.to_string();
                    if seen.contains(&id) {
                        false
                    } else {
                        seen.push(id);
                        true
                    }
                }
                _ => false,
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(text: &str) -> BTreeMap<(String, String), Value> {
        spec_values(&[SourceFile {
            path: "m.yaml".into(),
            text: text.to_owned(),
        }])
    }

    #[test]
    fn a_status_mapping_change_is_one_keyed_field() {
        let old = specs(
            "kind: ProjectIntegration\nmetadata: {name: web}\nspec:\n  statuses:\n    - {workspace: Todo, jira: To Do}\n    - {workspace: Doing, jira: In Progress}\n  resync: 10m\n",
        );
        let new = specs(
            "kind: ProjectIntegration\nmetadata: {name: web}\nspec:\n  statuses:\n    - {workspace: Doing, jira: Doing}\n    - {workspace: Todo, jira: To Do}\n  suspend: true\n",
        );
        let key = ("ProjectIntegration".to_owned(), "web".to_owned());
        let changes: Vec<String> = field_changes(&old[&key], &new[&key])
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            changes,
            vec![
                "spec.resync: \"10m\" → (absent)",
                "spec.statuses[workspace=Doing].jira: \"In Progress\" → \"Doing\"",
                "spec.suspend: (absent) → true",
            ]
        );
    }
}
