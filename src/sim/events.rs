//! Webhook event bodies in Jira's shape, and the issue view JQL evaluates (search and webhook
//! filters share it, so both agree on what an issue's fields are).

use chrono::{NaiveTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::jql::{Field, JqlIssue, JqlValue};
use super::model::*;
use super::render::{FieldSel, View};

/// An issue as JQL sees it.
pub struct IssueView<'a> {
    pub st: &'a State,
    pub issue: &'a Issue,
}

fn s(x: &str) -> JqlValue {
    JqlValue::Str(x.to_string())
}

impl IssueView<'_> {
    fn user(&self, id: Option<&str>) -> Vec<JqlValue> {
        match id.and_then(|id| self.st.user_by_id(id)) {
            Some(u) => vec![s(&u.id), s(&u.login), s(&u.display_name), s(&u.email)],
            None => Vec::new(),
        }
    }

    fn custom(&self, n: u64) -> Vec<JqlValue> {
        let id = format!("customfield_{n}");
        let Some(def) = self.st.field(&id) else {
            return Vec::new();
        };
        match def.kind {
            FieldKind::Sprint => self.values(&Field::Sprint),
            FieldKind::EpicLink => self.values(&Field::EpicLink),
            _ => match self.issue.custom.get(&id) {
                None | Some(Value::Null) => Vec::new(),
                Some(v) => custom_values(def, v),
            },
        }
    }
}

fn custom_values(def: &FieldDef, v: &Value) -> Vec<JqlValue> {
    match v {
        Value::Number(n) => vec![JqlValue::Num(n.as_f64().unwrap_or_default())],
        Value::String(x) if def.kind == FieldKind::Date => {
            chrono::NaiveDate::parse_from_str(x, "%Y-%m-%d")
                .map(|d| {
                    vec![JqlValue::Date(
                        Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN)),
                    )]
                })
                .unwrap_or_default()
        }
        Value::String(x) => vec![s(x)],
        Value::Array(items) => items.iter().flat_map(|i| custom_values(def, i)).collect(),
        Value::Object(o) => {
            let mut out = Vec::new();
            if let Some(x) = o.get("value").and_then(Value::as_str) {
                out.push(s(x));
            }
            if let Some(id) = o
                .get("id")
                .and_then(Value::as_str)
                .and_then(|i| i.parse::<f64>().ok())
            {
                out.push(JqlValue::Num(id));
            }
            out
        }
        _ => Vec::new(),
    }
}

impl JqlIssue for IssueView<'_> {
    fn values(&self, field: &Field) -> Vec<JqlValue> {
        let i = self.issue;
        let st = self.st;
        match field {
            Field::Project => st
                .project_by_id(i.project_id)
                .map(|p| vec![s(&p.key), JqlValue::Num(p.id as f64), s(&p.name)])
                .unwrap_or_default(),
            Field::IssueType => st
                .issue_type(&i.issue_type)
                .map(|t| vec![s(t.name), JqlValue::Num(t.id.parse().unwrap_or_default())])
                .unwrap_or_default(),
            Field::Status => st
                .status(&i.status)
                .map(|x| vec![s(x.name), JqlValue::Num(x.id.parse().unwrap_or_default())])
                .unwrap_or_default(),
            Field::StatusCategory => st
                .status(&i.status)
                .map(|x| {
                    let c = status_category(x.category);
                    vec![s(c.name), s(c.key), JqlValue::Num(c.id as f64)]
                })
                .unwrap_or_default(),
            Field::Key => vec![s(&i.key)],
            Field::Id => vec![JqlValue::Num(i.id as f64)],
            Field::Property { key, path } => {
                if !st.indexed_properties.iter().any(|k| k == key) {
                    return Vec::new();
                }
                let mut v = i.properties.get(key);
                for part in path.split('.').filter(|p| !p.is_empty()) {
                    v = v.and_then(|x| x.get(part));
                }
                match v {
                    Some(Value::String(x)) => vec![s(x)],
                    Some(Value::Number(n)) => vec![JqlValue::Num(n.as_f64().unwrap_or_default())],
                    Some(Value::Bool(b)) => vec![s(&b.to_string())],
                    _ => Vec::new(),
                }
            }
            Field::Parent => i
                .parent
                .filter(|_| st.shows_parent(i))
                .and_then(|p| st.issues.get(&p))
                .map(|p| vec![s(&p.key), JqlValue::Num(p.id as f64)])
                .unwrap_or_default(),
            Field::EpicLink => i
                .parent
                .and_then(|p| st.issues.get(&p))
                .filter(|p| p.issue_type == "10000")
                .map(|p| vec![s(&p.key), JqlValue::Num(p.id as f64)])
                .unwrap_or_default(),
            Field::Created => vec![JqlValue::Date(i.created)],
            Field::Updated => vec![JqlValue::Date(i.updated)],
            Field::Resolution => i
                .resolution
                .as_deref()
                .and_then(resolution)
                .map(|r| vec![s(r.name), JqlValue::Num(r.id.parse().unwrap_or_default())])
                .unwrap_or_default(),
            Field::Summary => vec![s(&i.summary)],
            Field::Description => i
                .description
                .as_deref()
                .map(|d| vec![s(d)])
                .unwrap_or_default(),
            Field::Text => {
                let mut out = vec![s(&i.summary)];
                if let Some(d) = &i.description {
                    out.push(s(d));
                }
                out.extend(i.comments.iter().map(|c| s(&c.body)));
                for (id, v) in &i.custom {
                    if let (Some(def), Value::String(x)) = (st.field(id), v) {
                        if matches!(def.kind, FieldKind::Text | FieldKind::Textarea) {
                            out.push(s(x));
                        }
                    }
                }
                out
            }
            Field::Labels => i.labels.iter().map(|l| s(l)).collect(),
            Field::Component => i
                .components
                .iter()
                .filter_map(|c| st.component(*c))
                .flat_map(|c| [s(&c.name), JqlValue::Num(c.id as f64)])
                .collect(),
            Field::FixVersion => i
                .fix_versions
                .iter()
                .filter_map(|v| st.version(*v))
                .flat_map(|v| [s(&v.name), JqlValue::Num(v.id as f64)])
                .collect(),
            Field::Sprint => i
                .sprints
                .iter()
                .filter_map(|id| st.sprints.get(id))
                .flat_map(|sp| [s(&sp.name), JqlValue::Num(sp.id as f64)])
                .collect(),
            Field::Assignee => self.user(i.assignee.as_deref()),
            Field::Reporter => self.user(i.reporter.as_deref()),
            Field::Custom(n) => self.custom(*n),
        }
    }
}

/// Milliseconds since the epoch, as webhook bodies carry `timestamp`.
fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Webhook bodies render issues and users in REST v2 form, as real Jira does even on Cloud.
fn v2<'a>(st: &'a State, base: &'a str) -> View<'a> {
    View::new(st, base, false)
}

pub fn issue_event(
    st: &State,
    base: &str,
    event: &str,
    type_name: &str,
    issue: &Issue,
    user: &User,
) -> Value {
    let view = v2(st, base);
    json!({
        "timestamp": now_ms(),
        "webhookEvent": event,
        "issue_event_type_name": type_name,
        "user": view.user(user),
        "issue": view.issue(issue, &FieldSel::all(), ""),
    })
}

pub fn issue_updated(
    st: &State,
    base: &str,
    type_name: &str,
    issue: &Issue,
    user: &User,
    change: &ChangeGroup,
) -> Value {
    let mut body = issue_event(st, base, "jira:issue_updated", type_name, issue, user);
    body["changelog"] = changelog(st, base, change);
    body
}

/// A change group as webhooks carry it; Cloud adds `tmpFromAccountId`/`tmpToAccountId` to
/// user fields.
pub fn changelog(st: &State, base: &str, change: &ChangeGroup) -> Value {
    let view = v2(st, base);
    let cloud = st.deployment == Deployment::Cloud;
    let items: Vec<Value> = change
        .items
        .iter()
        .map(|it| {
            let mut v = view.change_item(it);
            if cloud && matches!(it.field_id.as_str(), "assignee" | "reporter") {
                v["tmpFromAccountId"] = json!(it.from);
                v["tmpToAccountId"] = json!(it.to);
            }
            v
        })
        .collect();
    json!({"id": change.id.to_string(), "items": items})
}

/// The short issue form comment and worklog events carry.
fn issue_brief(view: &View<'_>, issue: &Issue) -> Value {
    let mut stub = view.issue_stub(issue);
    if let Some(f) = stub.get_mut("fields").and_then(Value::as_object_mut) {
        f.insert("assignee".into(), view.user_ref(issue.assignee.as_deref()));
        let project = view
            .st
            .project_by_id(issue.project_id)
            .map(|p| view.project_ref(p))
            .unwrap_or(Value::Null);
        f.insert("project".into(), project);
    }
    stub
}

/// Data Center adds the acting `user` to comment events; Cloud does not.
pub fn comment_event(
    st: &State,
    base: &str,
    event: &str,
    issue: &Issue,
    c: &Comment,
    user: &User,
) -> Value {
    let view = v2(st, base);
    // Data Center's comment events carry no issue: it is known only from `comment.self`
    // (`…/rest/api/2/issue/{id}/comment/{id}`). Updates and deletions name the user, a
    // creation does not, as real deliveries show.
    if st.deployment == Deployment::DataCenter {
        let mut body = json!({
            "timestamp": now_ms(),
            "webhookEvent": event,
            "comment": view.comment(issue, c),
        });
        if event != "comment_created" {
            body["user"] = view.user(user);
        }
        return body;
    }
    json!({
        "timestamp": now_ms(),
        "webhookEvent": event,
        "comment": view.comment(issue, c),
        "issue": issue_brief(&view, issue),
    })
}

pub fn worklog_event(st: &State, base: &str, event: &str, issue: &Issue, w: &Worklog) -> Value {
    let view = v2(st, base);
    json!({
        "timestamp": now_ms(),
        "webhookEvent": event,
        "worklog": view.worklog(issue, w),
    })
}

pub fn link_event(event: &str, link: &Link) -> Value {
    let t = LINK_TYPES.iter().find(|t| t.id == link.link_type);
    json!({
        "timestamp": now_ms(),
        "webhookEvent": event,
        "issueLink": {
            "id": link.id,
            "sourceIssueId": link.outward,
            "destinationIssueId": link.inward,
            "issueLinkType": {
                "id": t.map(|t| t.id.parse::<u64>().unwrap_or_default()),
                "name": t.map(|t| t.name),
                "outwardName": t.map(|t| t.outward),
                "inwardName": t.map(|t| t.inward),
                "isSubTaskLinkType": false,
                "isSystemLinkType": false,
            },
            "systemLink": false,
        }
    })
}

pub fn version_event(st: &State, base: &str, event: &str, v: &Version) -> Value {
    json!({"timestamp": now_ms(), "webhookEvent": event, "version": v2(st, base).version(v)})
}

pub fn sprint_event(
    st: &State,
    base: &str,
    event: &str,
    s: &Sprint,
    old: Option<&Sprint>,
) -> Value {
    let view = v2(st, base);
    let mut body = json!({"timestamp": now_ms(), "webhookEvent": event, "sprint": view.sprint(s)});
    if let Some(o) = old {
        body["oldValue"] = view.sprint(o);
    }
    body
}
