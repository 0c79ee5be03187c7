//! JSON rendering of the simulator's state in Jira's response shapes, for REST v2 (wiki text,
//! Data Center and Cloud) and REST v3 (Atlassian Document Format, Cloud).

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Map, Value};

use super::adf;
use super::model::*;

/// Jira's timestamp format: milliseconds and a `+0000` offset.
pub fn ts(t: &DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.timestamp_subsec_millis().min(999)
    )
}

pub fn date(d: &NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// `1d 2h 30m` with Jira's 8-hour days and 5-day weeks.
pub fn duration(seconds: u64) -> String {
    let mut mins = seconds / 60;
    let mut parts = Vec::new();
    for (unit, size) in [("w", 5 * 8 * 60), ("d", 8 * 60), ("h", 60), ("m", 1)] {
        if mins >= size {
            parts.push(format!("{}{unit}", mins / size));
            mins %= size;
        }
    }
    if parts.is_empty() {
        "0m".into()
    } else {
        parts.join(" ")
    }
}

/// Serialized sub-objects shared by the issues of one page.
pub type Memo = std::collections::HashMap<String, Vec<u8>>;

/// `"key":`; field ids are plain ASCII, anything else goes through the JSON escaper.
fn push_key(out: &mut Vec<u8>, key: &str) {
    if key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
    } else {
        push_json(out, &Value::String(key.to_string()));
        out.push(b':');
    }
}

fn push_json(out: &mut Vec<u8>, v: &Value) {
    if serde_json::to_writer(&mut *out, v).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// Which fields a client asked for (`fields=` parameter).
#[derive(Debug, Clone)]
pub struct FieldSel {
    all: bool,
    /// `*navigable`: `all` without [`NOT_NAVIGABLE`] fields unless named.
    navigable_only: bool,
    include: HashSet<String>,
    exclude: HashSet<String>,
}

impl FieldSel {
    pub fn all() -> FieldSel {
        FieldSel {
            all: true,
            navigable_only: false,
            include: HashSet::new(),
            exclude: HashSet::new(),
        }
    }

    /// Parses `summary,status`, `*all`, `*navigable`, `-comment`; `default` applies when absent.
    pub fn parse(param: Option<&str>, default_all: bool) -> FieldSel {
        let mut sel = FieldSel {
            all: false,
            navigable_only: false,
            include: HashSet::new(),
            exclude: HashSet::new(),
        };
        let Some(p) = param.filter(|p| !p.trim().is_empty()) else {
            sel.all = default_all;
            if !default_all {
                sel.include.insert("id".into());
            }
            return sel;
        };
        for part in p.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match part {
                "*all" => sel.all = true,
                // Everything but what Jira does not navigate (comments): those only by name.
                "*navigable" => {
                    sel.all = true;
                    sel.navigable_only = true;
                }
                _ => {
                    if let Some(x) = part.strip_prefix('-') {
                        sel.exclude.insert(x.to_string());
                    } else {
                        sel.include.insert(part.to_string());
                    }
                }
            }
        }
        sel
    }

    pub fn wants(&self, id: &str) -> bool {
        let by_all = self.all && !(self.navigable_only && NOT_NAVIGABLE.contains(&id));
        (by_all || self.include.contains(id)) && !self.exclude.contains(id)
    }
}

/// Fields Jira leaves out of `*navigable` (and marks `navigable: false` in `/field`).
const NOT_NAVIGABLE: &[&str] = &["comment"];

/// Comments Cloud embeds in an issue's `fields.comment`.
const EMBEDDED_COMMENTS: usize = 100;

/// Everything rendering needs: the state, the public base URL and the API version of the path.
pub struct View<'a> {
    pub st: &'a State,
    pub base: &'a str,
    pub v3: bool,
    /// `{base}/rest/api/{2|3}`, the prefix of most `self` links.
    api: String,
}

impl<'a> View<'a> {
    pub fn new(st: &'a State, base: &'a str, v3: bool) -> View<'a> {
        let api = format!("{base}/rest/api/{}", if v3 { 3 } else { 2 });
        View { st, base, v3, api }
    }
}

impl View<'_> {
    pub fn api(&self) -> &str {
        &self.api
    }

    pub fn cloud(&self) -> bool {
        self.st.deployment == Deployment::Cloud
    }

    /// Long text as the API version speaks it: a string in v2, a document in v3.
    pub fn text(&self, s: &str) -> Value {
        if self.v3 {
            adf::from_text(s)
        } else {
            Value::String(s.to_string())
        }
    }

    /// Long text kept with the document a v3 write set: v3 serves that document as written.
    pub fn rich(&self, s: &str, adf: Option<&Value>) -> Value {
        match adf {
            Some(doc) if self.v3 => doc.clone(),
            _ => self.text(s),
        }
    }

    pub fn avatars(&self, kind: &str, id: u64) -> Value {
        let b = self.base;
        json!({
            "48x48": format!("{b}/secure/{kind}avatar?avatarId={id}"),
            "24x24": format!("{b}/secure/{kind}avatar?size=small&avatarId={id}"),
            "16x16": format!("{b}/secure/{kind}avatar?size=xsmall&avatarId={id}"),
            "32x32": format!("{b}/secure/{kind}avatar?size=medium&avatarId={id}"),
        })
    }

    pub fn user(&self, u: &User) -> Value {
        let mut m = Map::new();
        if self.cloud() {
            m.insert(
                "self".into(),
                json!(format!("{}/user?accountId={}", self.api(), u.id)),
            );
            m.insert("accountId".into(), json!(u.id));
            m.insert("accountType".into(), json!("atlassian"));
        } else {
            m.insert(
                "self".into(),
                json!(format!("{}/user?username={}", self.api(), u.login)),
            );
            m.insert("name".into(), json!(u.login));
            m.insert("key".into(), json!(u.id));
        }
        m.insert("emailAddress".into(), json!(u.email));
        m.insert("avatarUrls".into(), self.avatars("user", 10122));
        m.insert("displayName".into(), json!(u.display_name));
        m.insert("active".into(), json!(true));
        m.insert("timeZone".into(), json!("Etc/UTC"));
        Value::Object(m)
    }

    pub fn user_ref(&self, id: Option<&str>) -> Value {
        id.and_then(|id| self.st.user_by_id(id))
            .map(|u| self.user(u))
            .unwrap_or(Value::Null)
    }

    pub fn myself(&self, u: &User) -> Value {
        let mut v = self.user(u);
        if let Some(m) = v.as_object_mut() {
            m.insert("locale".into(), json!("en_US"));
            let mut groups = vec![
                json!({"name": "jira-software-users", "self": format!("{}/group?groupname=jira-software-users", self.api())}),
            ];
            if u.admin {
                groups.push(json!({"name": "jira-administrators", "self": format!("{}/group?groupname=jira-administrators", self.api())}));
            }
            m.insert(
                "groups".into(),
                json!({"size": groups.len(), "items": groups}),
            );
            m.insert("applicationRoles".into(), json!({"size": 0, "items": []}));
            m.insert("expand".into(), json!("groups,applicationRoles"));
        }
        v
    }

    pub fn status_category(&self, id: u64) -> Value {
        let c = status_category(id);
        json!({
            "self": format!("{}/statuscategory/{}", self.api(), c.id),
            "id": c.id,
            "key": c.key,
            "colorName": c.color,
            "name": c.name,
        })
    }

    pub fn status(&self, s: &StatusDef) -> Value {
        json!({
            "self": format!("{}/status/{}", self.api(), s.id),
            "description": s.description,
            "iconUrl": format!("{}/images/icons/statuses/generic.png", self.base),
            "name": s.name,
            "id": s.id,
            "statusCategory": self.status_category(s.category),
        })
    }

    pub fn status_id(&self, id: &str) -> Value {
        self.st
            .status(id)
            .map(|s| self.status(s))
            .unwrap_or(Value::Null)
    }

    pub fn issue_type(&self, t: &IssueTypeDef) -> Value {
        let mut v = json!({
            "self": format!("{}/issuetype/{}", self.api(), t.id),
            "id": t.id,
            "description": t.description,
            "iconUrl": format!("{}/rest/api/2/universal_avatar/view/type/issuetype/avatar/{}?size=medium", self.base, t.avatar_id),
            "name": t.name,
            "subtask": t.subtask(),
            "avatarId": t.avatar_id,
        });
        if self.cloud() {
            v["hierarchyLevel"] = json!(t.hierarchy_level);
        }
        v
    }

    pub fn issue_type_id(&self, id: &str) -> Value {
        self.st
            .issue_type(id)
            .map(|t| self.issue_type(t))
            .unwrap_or(Value::Null)
    }

    pub fn priority(&self, id: &str) -> Value {
        match priority(id) {
            Some(p) => json!({
                "self": format!("{}/priority/{}", self.api(), p.id),
                "iconUrl": format!("{}/images/icons/priorities/{}.svg", self.base, p.name.to_lowercase()),
                "name": p.name,
                "id": p.id,
            }),
            None => Value::Null,
        }
    }

    pub fn resolution(&self, id: &str) -> Value {
        match resolution(id) {
            Some(r) => json!({
                "self": format!("{}/resolution/{}", self.api(), r.id),
                "id": r.id,
                "description": r.description,
                "name": r.name,
            }),
            None => Value::Null,
        }
    }

    pub fn project_ref(&self, p: &Project) -> Value {
        let mut v = json!({
            "self": format!("{}/project/{}", self.api(), p.id),
            "id": p.id.to_string(),
            "key": p.key,
            "name": p.name,
            "projectTypeKey": "software",
            "avatarUrls": self.avatars("project", 10424),
        });
        if self.cloud() {
            v["simplified"] = json!(p.team_managed);
            v["style"] = json!(if p.team_managed {
                "next-gen"
            } else {
                "classic"
            });
        }
        v["projectCategory"] = json!({
            "self": format!("{}/projectCategory/10000", self.api()),
            "id": "10000",
            "description": "Product development",
            "name": "Product",
        });
        v
    }

    pub fn project_full(&self, p: &Project) -> Value {
        let mut v = self.project_ref(p);
        v["description"] = json!("");
        v["lead"] = self.user_ref(Some(&p.lead));
        v["components"] = Value::Array(
            self.st
                .components
                .iter()
                .filter(|c| c.project_id == p.id)
                .map(|c| self.component(c))
                .collect(),
        );
        v["issueTypes"] = Value::Array(
            self.st
                .project_issue_types(p)
                .into_iter()
                .map(|t| self.issue_type(t))
                .collect(),
        );
        v["assigneeType"] = json!("UNASSIGNED");
        v["versions"] = Value::Array(
            self.st
                .versions
                .iter()
                .filter(|x| x.project_id == p.id)
                .map(|x| self.version(x))
                .collect(),
        );
        v["roles"] = json!({});
        if self.cloud() {
            v["style"] = json!(if p.team_managed {
                "next-gen"
            } else {
                "classic"
            });
            v["isPrivate"] = json!(false);
            v["properties"] = json!({});
        }
        v
    }

    pub fn version(&self, x: &Version) -> Value {
        let mut v = json!({
            "self": format!("{}/version/{}", self.api(), x.id),
            "id": x.id.to_string(),
            "description": x.description,
            "name": x.name,
            "archived": x.archived,
            "released": x.released,
            "projectId": x.project_id,
        });
        if let Some(d) = &x.release_date {
            v["releaseDate"] = json!(date(d));
            v["userReleaseDate"] = json!(d.format("%d/%b/%y").to_string());
            v["overdue"] = json!(!x.released && *d < Utc::now().date_naive());
        }
        if let Some(d) = &x.start_date {
            v["startDate"] = json!(date(d));
            v["userStartDate"] = json!(d.format("%d/%b/%y").to_string());
        }
        v
    }

    pub fn component(&self, c: &Component) -> Value {
        let project = self.st.project_by_id(c.project_id);
        json!({
            "self": format!("{}/component/{}", self.api(), c.id),
            "id": c.id.to_string(),
            "name": c.name,
            "description": c.description,
            "assigneeType": "PROJECT_DEFAULT",
            "realAssigneeType": "PROJECT_DEFAULT",
            "isAssigneeTypeValid": false,
            "project": project.map(|p| p.key.clone()).unwrap_or_default(),
            "projectId": c.project_id,
        })
    }

    pub fn link_type(&self, t: &LinkTypeDef) -> Value {
        json!({
            "id": t.id,
            "name": t.name,
            "inward": t.inward,
            "outward": t.outward,
            "self": format!("{}/issueLinkType/{}", self.api(), t.id),
        })
    }

    /// The small form of an issue used in links, parents and sub-task lists.
    pub fn issue_stub(&self, i: &Issue) -> Value {
        json!({
            "id": i.id.to_string(),
            "key": i.key,
            "self": format!("{}/issue/{}", self.api(), i.id),
            "fields": {
                "summary": i.summary,
                "status": self.status_id(&i.status),
                "priority": self.priority(&i.priority),
                "issuetype": self.issue_type_id(&i.issue_type),
            }
        })
    }

    pub fn issue_link(&self, l: &Link, from: u64) -> Option<Value> {
        let t = LINK_TYPES.iter().find(|t| t.id == l.link_type)?;
        let mut v = json!({
            "id": l.id.to_string(),
            "self": format!("{}/issueLink/{}", self.api(), l.id),
            "type": self.link_type(t),
        });
        if l.outward == from {
            v["inwardIssue"] = self.issue_stub(self.st.issues.get(&l.inward)?);
        } else {
            v["outwardIssue"] = self.issue_stub(self.st.issues.get(&l.outward)?);
        }
        Some(v)
    }

    /// `GET /issueLink/{id}`: both ends.
    pub fn issue_link_full(&self, l: &Link) -> Option<Value> {
        let t = LINK_TYPES.iter().find(|t| t.id == l.link_type)?;
        Some(json!({
            "id": l.id.to_string(),
            "self": format!("{}/issueLink/{}", self.api(), l.id),
            "type": self.link_type(t),
            "inwardIssue": self.issue_stub(self.st.issues.get(&l.inward)?),
            "outwardIssue": self.issue_stub(self.st.issues.get(&l.outward)?),
        }))
    }

    pub fn comment(&self, issue: &Issue, c: &Comment) -> Value {
        let mut v = json!({
            "self": format!("{}/issue/{}/comment/{}", self.api(), issue.id, c.id),
            "id": c.id.to_string(),
            "author": self.user_ref(Some(&c.author)),
            "body": self.rich(&c.body, c.body_adf.as_ref()),
            "updateAuthor": self.user_ref(Some(&c.update_author)),
            "created": ts(&c.created),
            "updated": ts(&c.updated),
        });
        if self.cloud() {
            v["jsdPublic"] = json!(true);
        }
        v
    }

    pub fn comments_page(&self, issue: &Issue, start: usize, max: usize) -> Value {
        let list: Vec<Value> = issue
            .comments
            .iter()
            .skip(start)
            .take(max)
            .map(|c| self.comment(issue, c))
            .collect();
        json!({"comments": list, "maxResults": max, "total": issue.comments.len(), "startAt": start})
    }

    pub fn worklog(&self, issue: &Issue, w: &Worklog) -> Value {
        let mut v = json!({
            "self": format!("{}/issue/{}/worklog/{}", self.api(), issue.id, w.id),
            "author": self.user_ref(Some(&w.author)),
            "updateAuthor": self.user_ref(Some(&w.author)),
            "created": ts(&w.created),
            "updated": ts(&w.updated),
            "started": ts(&w.started),
            "timeSpent": duration(w.time_spent_seconds),
            "timeSpentSeconds": w.time_spent_seconds,
            "id": w.id.to_string(),
            "issueId": issue.id.to_string(),
        });
        v["comment"] = self.text(&w.comment);
        v
    }

    pub fn worklogs_page(&self, issue: &Issue, start: usize, max: usize) -> Value {
        let list: Vec<Value> = issue
            .worklogs
            .iter()
            .skip(start)
            .take(max)
            .map(|w| self.worklog(issue, w))
            .collect();
        json!({"startAt": start, "maxResults": max, "total": issue.worklogs.len(), "worklogs": list})
    }

    /// A sprint in the Agile API's shape.
    pub fn sprint(&self, s: &Sprint) -> Value {
        let mut v = json!({
            "id": s.id,
            "self": format!("{}/rest/agile/1.0/sprint/{}", self.base, s.id),
            "state": s.state.as_str(),
            "name": s.name,
            "originBoardId": s.board_id,
            "goal": s.goal,
        });
        if let Some(d) = &s.start_date {
            v["startDate"] = json!(ts(d));
        }
        if let Some(d) = &s.end_date {
            v["endDate"] = json!(ts(d));
        }
        if let Some(d) = &s.complete_date {
            v["completeDate"] = json!(ts(d));
        }
        if self.cloud() {
            v["createdDate"] = json!(ts(&s.created_date));
        }
        v
    }

    /// A sprint as the sprint custom field shows it: an object on Cloud, Greenhopper's
    /// `toString()` on Data Center (which is what DC really returns).
    fn sprint_field_value(&self, s: &Sprint) -> Value {
        let fmt = |d: &Option<DateTime<Utc>>| d.as_ref().map(ts).unwrap_or_else(|| "<null>".into());
        if self.cloud() {
            let mut v = json!({
                "id": s.id,
                "name": s.name,
                "state": s.state.as_str(),
                "boardId": s.board_id,
                "goal": s.goal,
            });
            if let Some(d) = &s.start_date {
                v["startDate"] = json!(ts(d));
            }
            if let Some(d) = &s.end_date {
                v["endDate"] = json!(ts(d));
            }
            if let Some(d) = &s.complete_date {
                v["completeDate"] = json!(ts(d));
            }
            v
        } else {
            Value::String(format!(
                "com.atlassian.greenhopper.service.sprint.Sprint@{:x}[id={},rapidViewId={},state={},name={},startDate={},endDate={},completeDate={},activatedDate={},sequence={},goal={},autoStartStop=false,synced=false]",
                0x1f2e3d4c_u64 + s.id,
                s.id,
                s.board_id,
                s.state.as_str().to_uppercase(),
                s.name,
                fmt(&s.start_date),
                fmt(&s.end_date),
                fmt(&s.complete_date),
                fmt(&s.start_date),
                s.id,
                s.goal
            ))
        }
    }

    pub fn custom_value(&self, def: &FieldDef, issue: &Issue) -> Value {
        match def.kind {
            FieldKind::Sprint => {
                let list: Vec<Value> = issue
                    .sprints
                    .iter()
                    .filter_map(|id| self.st.sprints.get(id))
                    .map(|s| self.sprint_field_value(s))
                    .collect();
                if list.is_empty() {
                    Value::Null
                } else {
                    Value::Array(list)
                }
            }
            FieldKind::EpicLink => issue
                .parent
                .and_then(|p| self.st.issues.get(&p))
                .filter(|p| p.issue_type == "10000")
                .map(|p| Value::String(p.key.clone()))
                .unwrap_or(Value::Null),
            FieldKind::Textarea => match issue.custom.get(def.id) {
                Some(Value::String(s)) => self.text(s),
                _ => Value::Null,
            },
            _ => issue.custom.get(def.id).cloned().unwrap_or(Value::Null),
        }
    }

    /// Fix versions as an issue's field shows them (no project or user-facing dates).
    pub fn fix_versions(&self, ids: &[u64]) -> Value {
        Value::Array(
            ids.iter()
                .filter_map(|id| self.st.version(*id))
                .map(|v| {
                    let mut x = self.version(v);
                    if let Some(m) = x.as_object_mut() {
                        for k in [
                            "projectId",
                            "userReleaseDate",
                            "userStartDate",
                            "overdue",
                            "startDate",
                        ] {
                            m.remove(k);
                        }
                    }
                    x
                })
                .collect(),
        )
    }

    /// Components as an issue's field shows them.
    pub fn issue_components(&self, ids: &[u64]) -> Value {
        Value::Array(
            ids.iter()
                .filter_map(|id| self.st.component(*id))
                .map(|c| json!({"self": format!("{}/component/{}", self.api(), c.id), "id": c.id.to_string(), "name": c.name, "description": c.description}))
                .collect(),
        )
    }

    /// An issue in the shape of `GET /issue/{key}`.
    pub fn issue(&self, i: &Issue, sel: &FieldSel, expand: &str) -> Value {
        let st = self.st;
        let mut f = Map::new();
        let mut put = |k: &str, v: &dyn Fn() -> Value| {
            if sel.wants(k) {
                f.insert(k.to_string(), v());
            }
        };
        put("issuetype", &|| self.issue_type_id(&i.issue_type));
        if let Some(p) = i
            .parent
            .and_then(|p| st.issues.get(&p))
            .filter(|_| st.shows_parent(i))
        {
            put("parent", &|| self.issue_stub(p));
        }
        put("project", &|| {
            st.project_by_id(i.project_id)
                .map(|p| self.project_ref(p))
                .unwrap_or(Value::Null)
        });
        put("fixVersions", &|| self.fix_versions(&i.fix_versions));
        put("resolution", &|| {
            i.resolution
                .as_deref()
                .map(|r| self.resolution(r))
                .unwrap_or(Value::Null)
        });
        put("resolutiondate", &|| {
            i.resolution_date
                .as_ref()
                .map(|d| json!(ts(d)))
                .unwrap_or(Value::Null)
        });
        put("priority", &|| self.priority(&i.priority));
        put("labels", &|| json!(i.labels));
        put("assignee", &|| self.user_ref(i.assignee.as_deref()));
        put("status", &|| self.status_id(&i.status));
        put("components", &|| self.issue_components(&i.components));
        put("creator", &|| self.user_ref(i.reporter.as_deref()));
        put("reporter", &|| self.user_ref(i.reporter.as_deref()));
        put("created", &|| json!(ts(&i.created)));
        put("updated", &|| json!(ts(&i.updated)));
        put("description", &|| {
            i.description
                .as_deref()
                .map(|d| self.rich(d, i.description_adf.as_ref()))
                .unwrap_or(Value::Null)
        });
        put("summary", &|| json!(i.summary));
        put("duedate", &|| {
            i.due_date
                .as_ref()
                .map(|d| json!(date(d)))
                .unwrap_or(Value::Null)
        });
        let ix = st.indexes();
        put("issuelinks", &|| {
            Value::Array(
                ix.links
                    .get(&i.id)
                    .into_iter()
                    .flatten()
                    .filter_map(|id| st.links.get(id))
                    .filter_map(|l| self.issue_link(l, i.id))
                    .collect(),
            )
        });
        put("subtasks", &|| {
            Value::Array(
                ix.children
                    .get(&i.id)
                    .into_iter()
                    .flatten()
                    .filter_map(|id| st.issues.get(id))
                    .filter(|c| st.is_subtask(c))
                    .map(|c| self.issue_stub(c))
                    .collect(),
            )
        });
        // Time tracking, votes, watches and the like: tandem does not use them, but clients
        // (and webhook consumers) expect the keys real Jira always sends.
        let spent: u64 = i.worklogs.iter().map(|w| w.time_spent_seconds).sum();
        let spent_v = || {
            if spent == 0 {
                Value::Null
            } else {
                json!(spent)
            }
        };
        put("timespent", &spent_v);
        put("aggregatetimespent", &spent_v);
        put("timeoriginalestimate", &|| Value::Null);
        put("aggregatetimeoriginalestimate", &|| Value::Null);
        put("timeestimate", &|| Value::Null);
        put("aggregatetimeestimate", &|| Value::Null);
        let progress = || {
            if spent == 0 {
                json!({"progress": 0, "total": 0})
            } else {
                json!({"progress": spent, "total": spent, "percent": 100})
            }
        };
        put("progress", &progress);
        put("aggregateprogress", &progress);
        put("timetracking", &|| {
            if spent == 0 {
                json!({})
            } else {
                json!({
                    "remainingEstimate": "0m",
                    "timeSpent": duration(spent),
                    "remainingEstimateSeconds": 0,
                    "timeSpentSeconds": spent,
                })
            }
        });
        put("workratio", &|| json!(-1));
        put(
            "votes",
            &|| json!({"self": format!("{}/issue/{}/votes", self.api(), i.key), "votes": 0, "hasVoted": false}),
        );
        put(
            "watches",
            &|| json!({"self": format!("{}/issue/{}/watchers", self.api(), i.key), "watchCount": 1, "isWatching": false}),
        );
        put("lastViewed", &|| Value::Null);
        put("environment", &|| Value::Null);
        put("security", &|| Value::Null);
        put("versions", &|| json!([]));
        put("attachment", &|| json!([]));
        if self.cloud() {
            put("statuscategorychangedate", &|| {
                let changed = i
                    .changelog
                    .iter()
                    .rev()
                    .find(|g| g.items.iter().any(|it| it.field_id == "status"));
                json!(ts(&changed.map(|g| g.created).unwrap_or(i.created)))
            });
            put(
                "issuerestriction",
                &|| json!({"issuerestrictions": {}, "shouldDisplay": false}),
            );
        }
        // Cloud embeds at most its newest 100 comments, with the true total.
        put("comment", &|| {
            let start = if self.cloud() {
                i.comments.len().saturating_sub(EMBEDDED_COMMENTS)
            } else {
                0
            };
            self.comments_page(
                i,
                start,
                if self.cloud() {
                    EMBEDDED_COMMENTS
                } else {
                    5000
                },
            )
        });
        put("worklog", &|| self.worklogs_page(i, 0, 20));
        for def in st.fields().filter(|d| d.is_custom()) {
            if sel.wants(def.id) && st.in_context(def.id, &i.issue_type) {
                f.insert(def.id.to_string(), self.custom_value(def, i));
            }
        }
        let mut out = Map::new();
        out.insert(
            "expand".into(),
            json!("renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"),
        );
        out.insert("id".into(), json!(i.id.to_string()));
        out.insert(
            "self".into(),
            json!(format!("{}/issue/{}", self.api(), i.id)),
        );
        out.insert("key".into(), json!(i.key));
        let expands: HashSet<&str> = expand.split(',').map(str::trim).collect();
        if expands.contains("names") {
            let names: Map<String, Value> = st
                .fields()
                .filter(|d| f.contains_key(d.id))
                .map(|d| (d.id.to_string(), json!(d.name)))
                .collect();
            out.insert("names".into(), Value::Object(names));
        }
        if expands.contains("schema") {
            let schema: Map<String, Value> = st
                .fields()
                .filter(|d| f.contains_key(d.id))
                .map(|d| (d.id.to_string(), self.field_schema(d)))
                .collect();
            out.insert("schema".into(), Value::Object(schema));
        }
        if expands.contains("changelog") {
            out.insert("changelog".into(), self.changelog(i));
        }
        if expands.contains("transitions") {
            out.insert(
                "transitions".into(),
                // Issue renders are shared across callers: conditions are not evaluated here.
                Value::Array(self.transitions(i, false, None)),
            );
        }
        if expands.contains("editmeta") {
            out.insert("editmeta".into(), self.editmeta(i));
        }
        out.insert("fields".into(), Value::Object(f));
        Value::Object(out)
    }

    /// The full form of an issue (all fields, no expansion) as JSON bytes, byte-for-byte the
    /// meaning of [`View::issue`] with [`FieldSel::all`]. Users, statuses, types, priorities and
    /// projects repeat across issues, so `memo` keeps their serialized form for the page.
    pub fn issue_full_bytes(&self, i: &Issue, memo: &mut Memo) -> Vec<u8> {
        let st = self.st;
        let join = |ids: &[u64]| {
            ids.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let sprint_field = st.deployment.sprint_field();
        let shared: [(&str, String); 10] = [
            ("issuetype", format!("t:{}", i.issue_type)),
            ("project", format!("p:{}", i.project_id)),
            ("priority", format!("r:{}", i.priority)),
            ("status", format!("s:{}", i.status)),
            (
                "assignee",
                format!("u:{}", i.assignee.as_deref().unwrap_or_default()),
            ),
            (
                "creator",
                format!("u:{}", i.reporter.as_deref().unwrap_or_default()),
            ),
            (
                "reporter",
                format!("u:{}", i.reporter.as_deref().unwrap_or_default()),
            ),
            ("fixVersions", format!("v:{}", join(&i.fix_versions))),
            ("components", format!("c:{}", join(&i.components))),
            (sprint_field, format!("sp:{}", join(&i.sprints))),
        ];
        let mut sel = FieldSel::all();
        for (field, _) in &shared {
            sel.exclude.insert((*field).to_string());
        }
        let rest = self.issue(i, &sel, "");
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(b"{\"expand\":");
        push_json(&mut out, &rest["expand"]);
        for k in ["id", "self", "key"] {
            out.extend_from_slice(format!(",\"{k}\":").as_bytes());
            push_json(&mut out, &rest[k]);
        }
        out.extend_from_slice(b",\"fields\":{");
        for (n, (field, memo_key)) in shared.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            push_key(&mut out, field);
            let bytes = memo.entry(memo_key.clone()).or_insert_with(|| {
                let v = match *field {
                    "issuetype" => self.issue_type_id(&i.issue_type),
                    "project" => st
                        .project_by_id(i.project_id)
                        .map(|p| self.project_ref(p))
                        .unwrap_or(Value::Null),
                    "priority" => self.priority(&i.priority),
                    "status" => self.status_id(&i.status),
                    "assignee" => self.user_ref(i.assignee.as_deref()),
                    "creator" | "reporter" => self.user_ref(i.reporter.as_deref()),
                    "fixVersions" => self.fix_versions(&i.fix_versions),
                    "components" => self.issue_components(&i.components),
                    _ => st
                        .field(sprint_field)
                        .map(|d| self.custom_value(d, i))
                        .unwrap_or(Value::Null),
                };
                serde_json::to_vec(&v).unwrap_or_else(|_| b"null".to_vec())
            });
            out.extend_from_slice(bytes);
        }
        if let Some(fields) = rest.get("fields").and_then(Value::as_object) {
            for (k, v) in fields {
                out.push(b',');
                push_key(&mut out, k);
                push_json(&mut out, v);
            }
        }
        out.extend_from_slice(b"}}");
        out
    }

    pub fn changelog(&self, i: &Issue) -> Value {
        let histories: Vec<Value> = i.changelog.iter().map(|g| self.change_group(g)).collect();
        json!({"startAt": 0, "maxResults": histories.len(), "total": histories.len(), "histories": histories})
    }

    pub fn change_group(&self, g: &ChangeGroup) -> Value {
        json!({
            "id": g.id.to_string(),
            "author": self.user_ref(Some(&g.author)),
            "created": ts(&g.created),
            "items": g.items.iter().map(|it| self.change_item(it)).collect::<Vec<_>>(),
        })
    }

    pub fn change_item(&self, it: &ChangeItem) -> Value {
        let mut v = json!({
            "field": it.field,
            "fieldtype": it.fieldtype,
            "from": it.from,
            "fromString": it.from_string,
            "to": it.to,
            "toString": it.to_string,
        });
        // Jira leaves `fieldId` out for pseudo-fields such as `Key` and `Workflow`.
        if self.cloud() && !it.field_id.is_empty() {
            v["fieldId"] = json!(it.field_id);
        }
        v
    }

    pub fn field_schema(&self, d: &FieldDef) -> Value {
        let mut s = json!({"type": d.schema_type});
        if let Some(items) = d.schema_items {
            s["items"] = json!(items);
        }
        match d.custom {
            Some(c) => {
                s["custom"] = json!(c);
                if let Some(id) = d.custom_id() {
                    s["customId"] = json!(id);
                }
            }
            None => s["system"] = json!(d.id),
        }
        s
    }

    /// `/field` entry.
    pub fn field(&self, d: &FieldDef) -> Value {
        let mut clause = vec![d.id.to_string()];
        if let Some(n) = d.custom_id() {
            clause = vec![format!("cf[{n}]"), d.name.to_string()];
        }
        let mut v = json!({
            "id": d.id,
            "key": d.id,
            "name": d.name,
            "custom": d.is_custom(),
            "orderable": d.on_screens,
            "navigable": !NOT_NAVIGABLE.contains(&d.id),
            "searchable": true,
            "clauseNames": clause,
            "schema": self.field_schema(d),
        });
        if !self.cloud() {
            if let Some(m) = v.as_object_mut() {
                m.remove("key");
            }
        }
        v
    }

    pub fn allowed_values(&self, d: &FieldDef, project: &Project) -> Option<Value> {
        let opts = |o: &[(&str, &str)]| {
            Value::Array(
                o.iter()
                    .map(|(id, v)| json!({"self": format!("{}/customFieldOption/{id}", self.api()), "value": v, "id": id, "disabled": false}))
                    .collect(),
            )
        };
        match (d.id, d.kind) {
            (_, FieldKind::Select(o)) | (_, FieldKind::MultiSelect(o)) => Some(opts(o)),
            ("priority", _) => Some(Value::Array(
                PRIORITIES.iter().map(|p| self.priority(p.id)).collect(),
            )),
            ("resolution", _) => Some(Value::Array(
                RESOLUTIONS.iter().map(|r| self.resolution(r.id)).collect(),
            )),
            ("components", _) => Some(Value::Array(
                self.st
                    .components
                    .iter()
                    .filter(|c| c.project_id == project.id)
                    .map(|c| self.component(c))
                    .collect(),
            )),
            ("fixVersions", _) => Some(Value::Array(
                self.st
                    .versions
                    .iter()
                    .filter(|v| v.project_id == project.id)
                    .map(|v| self.version(v))
                    .collect(),
            )),
            ("project", _) => Some(json!([self.project_ref(project)])),
            _ => None,
        }
    }

    fn operations(d: &FieldDef) -> Value {
        match (d.schema_type, d.kind) {
            ("array", _) => json!(["add", "set", "remove"]),
            (_, FieldKind::System) if d.id == "summary" || d.id == "description" => json!(["set"]),
            _ => json!(["set"]),
        }
    }

    /// One field in createmeta/editmeta/transition-screen form.
    pub fn field_meta(
        &self,
        d: &FieldDef,
        required: bool,
        project: &Project,
        with_id: bool,
    ) -> Value {
        let mut v = json!({
            "required": required,
            "schema": self.field_schema(d),
            "name": d.name,
            "key": d.id,
            "hasDefaultValue": d.id == "priority",
            "operations": Self::operations(d),
        });
        if with_id {
            v["fieldId"] = json!(d.id);
        }
        if let Some(a) = self.allowed_values(d, project) {
            v["allowedValues"] = a;
        }
        if d.id == "priority" {
            v["defaultValue"] = self.priority(DEFAULT_PRIORITY);
        }
        v
    }

    /// Fields on the `op` screen of an issue type in a project (in the type's context, not
    /// left off by a screen rule), with whether each is required.
    pub fn create_fields(
        &self,
        t: &IssueTypeDef,
        project: &Project,
        op: ScreenOp,
    ) -> Vec<(&'static FieldDef, bool)> {
        self.st
            .fields()
            .filter(|d| d.on_screens)
            .filter(|d| !d.is_custom() || self.st.in_context(d.id, t.id))
            .filter(|d| {
                matches!(d.id, "project" | "issuetype")
                    || self.st.on_screen(project.id, t.id, d.id, op)
            })
            .filter(|d| d.id != "parent" || t.hierarchy_level < 1)
            .filter(|d| !(d.kind == FieldKind::Sprint && t.hierarchy_level != 0))
            .filter(|d| !(d.kind == FieldKind::EpicLink && t.hierarchy_level != 0))
            .map(|d| {
                let required = matches!(d.id, "summary" | "issuetype" | "project" | "reporter")
                    || (d.id == "parent" && t.subtask())
                    || (d.id == "customfield_10102" && t.name == "Epic")
                    || self
                        .st
                        .required_fields
                        .get(t.id)
                        .is_some_and(|r| r.iter().any(|f| f == d.id));
                (d, required)
            })
            .collect()
    }

    pub fn editmeta(&self, i: &Issue) -> Value {
        let (Some(t), Some(p)) = (
            self.st.issue_type(&i.issue_type),
            self.st.project_by_id(i.project_id),
        ) else {
            return json!({"fields": {}});
        };
        let fields: Map<String, Value> = self
            .create_fields(t, p, ScreenOp::Edit)
            .into_iter()
            .filter(|(d, _)| d.id != "project")
            .map(|(d, req)| {
                (
                    d.id.to_string(),
                    self.field_meta(d, req && d.id == "summary", p, false),
                )
            })
            .collect();
        json!({ "fields": fields })
    }

    /// The transitions `user` (an id) is offered from the issue's status: conditions that
    /// fail hide a transition, as Jira does (`None`: conditions are not evaluated).
    pub fn transitions(&self, i: &Issue, with_fields: bool, user: Option<&str>) -> Vec<Value> {
        let project = self.st.project_by_id(i.project_id);
        self.st
            .available_transitions(i, user)
            .into_iter()
            .map(|t| {
                let mut v = json!({
                    "id": t.id,
                    "name": t.name,
                    "to": self.status_id(t.to),
                    "hasScreen": t.requires_resolution,
                    "isGlobal": t.from.is_empty(),
                    "isInitial": false,
                    "isAvailable": true,
                    "isConditional": t.condition.is_some(),
                    "isLooped": false,
                });
                if !self.cloud() {
                    if let Some(m) = v.as_object_mut() {
                        m.remove("isLooped");
                        m.remove("isAvailable");
                    }
                }
                if with_fields {
                    let mut fields = Map::new();
                    if t.requires_resolution {
                        if let (Some(d), Some(p)) = (self.st.field("resolution"), project) {
                            fields.insert("resolution".into(), self.field_meta(d, true, p, false));
                        }
                    }
                    v["fields"] = Value::Object(fields);
                }
                v
            })
            .collect()
    }

    pub fn board(&self, b: &Board) -> Value {
        let p = self.st.project_by_id(b.project_id);
        json!({
            "id": b.id,
            "self": format!("{}/rest/agile/1.0/board/{}", self.base, b.id),
            "name": b.name,
            "type": "scrum",
            "location": {
                "projectId": b.project_id,
                "displayName": p.map(|p| format!("{} ({})", p.name, p.key)).unwrap_or_default(),
                "projectName": p.map(|p| p.name.clone()).unwrap_or_default(),
                "projectKey": p.map(|p| p.key.clone()).unwrap_or_default(),
                "projectTypeKey": "software",
                "avatarURI": format!("{}/secure/projectavatar?size=small&avatarId=10424", self.base),
                "name": p.map(|p| format!("{} ({})", p.name, p.key)).unwrap_or_default(),
            }
        })
    }

    pub fn board_configuration(&self, b: &Board) -> Value {
        let sp = self.st.deployment.story_points_field();
        let p = self.st.project_by_id(b.project_id);
        let col = |name: &str, ids: &[&str]| {
            json!({
                "name": name,
                "statuses": ids.iter().map(|id| json!({"id": id, "self": format!("{}/rest/api/2/status/{id}", self.base)})).collect::<Vec<_>>(),
            })
        };
        json!({
            "id": b.id,
            "name": b.name,
            "type": "scrum",
            "self": format!("{}/rest/agile/1.0/board/{}/configuration", self.base, b.id),
            "location": {"type": "project", "projectKeyOrId": p.map(|p| p.id.to_string()).unwrap_or_default()},
            "filter": {"id": b.filter_id.to_string(), "self": format!("{}/rest/api/2/filter/{}", self.base, b.filter_id)},
            "subQuery": {"query": "fixVersion in unreleasedVersions() OR fixVersion is EMPTY"},
            "columnConfig": {
                "columns": [col("To Do", &["10000"]), col("In Progress", &["3"]), col("Done", &["10001"])],
                "constraintType": "none",
            },
            "estimation": {"type": "field", "field": {"fieldId": sp.id, "displayName": sp.name}},
            "ranking": {"rankCustomFieldId": 10019},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_use_jira_s_format() {
        let t = Utc.with_ymd_and_hms(2024, 1, 31, 10, 5, 9).unwrap()
            + chrono::Duration::milliseconds(42);
        assert_eq!(ts(&t), "2024-01-31T10:05:09.042+0000");
    }

    #[test]
    fn durations_use_working_days() {
        assert_eq!(duration(3600 * 9 + 60 * 30), "1d 1h 30m");
        assert_eq!(duration(0), "0m");
    }

    #[test]
    fn field_selection_follows_jira_syntax() {
        let sel = FieldSel::parse(Some("*all,-comment"), false);
        assert!(sel.wants("summary") && !sel.wants("comment"));
        let ids = FieldSel::parse(None, false);
        assert!(!ids.wants("summary"));
        let some = FieldSel::parse(Some("summary,status"), true);
        assert!(some.wants("status") && !some.wants("labels"));
    }
}
