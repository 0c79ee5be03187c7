//! Field conversions of the sync mapping without any Jira: what each dialect is sent, how each
//! dialect's shapes read back, and that equal values compare equal in canonical snapshots.

use std::collections::BTreeMap;

use chrono::Utc;
use serde_json::{json, Value};
use tandem::jira::{
    Component, Deployment, Field, FieldSchema, Issue, IssueType, ResolvedIntegration, Sprint,
    Status, Version,
};
use tandem::manifest::{validate, SourceFile};
use tandem::sync::mapping::sprint_values;
use tandem::sync::{
    fields_snapshot, fields_snapshot_from_issue, fields_snapshot_from_read, from_jira,
    from_jira_json, to_jira, JiraCatalog, MappingContext, MappingError,
};
use tandem::workspace::model::Item;

const MANIFESTS: &str = r#"
apiVersion: tandem/v1
kind: Workspace
metadata: {name: product}
spec:
  id: product
  itemTypes:
    - name: Epic
    - {name: Feature, parent: Epic}
  statuses: [Backlog, Doing, Done]
  fields:
    - {name: Platforms, type: multiSelect, options: [Web, iOS, Android]}
    - {name: Target date, type: date}
    - {name: Due, type: date}
    - {name: Spec, type: url}
---
apiVersion: tandem/v1
kind: Connection
metadata: {name: jira}
spec:
  displayName: Jira
  url: https://jira.example.com
  auth: {email: admin@example.com, apiToken: {env: TOKEN}}
---
apiVersion: tandem/v1
kind: FieldMapping
metadata: {name: fields}
spec:
  primary: {components: true, releases: true, storyPoints: auto, team: Team}
  defaults: {objective: Objective, value: Business value}
  custom:
    - {workspace: Platforms, jira: Platforms}
    - {workspace: Target date, jira: Target date}
    - {workspace: Due, jira: Due at}
    - {workspace: Spec, jira: Spec URL}
---
apiVersion: tandem/v1
kind: ProjectIntegration
metadata: {name: demo}
spec:
  displayName: Demo
  connection: jira
  workspace: product
  project: DEMO
  board: 1
  fieldMapping: fields
  direction: twoWay
  types:
    - {workspace: Epic, jira: Epic}
    - {workspace: Feature, jira: Story}
  statuses:
    - {workspace: Backlog, jira: To Do}
    - {workspace: Doing, jira: In Progress}
    - {workspace: Done, jira: Done}
  conflicts: lastWriterWins
  resync: 10m
"#;

fn field(id: &str, kind: &str, items: Option<&str>, custom: Option<&str>) -> Field {
    Field {
        id: id.into(),
        name: id.into(),
        custom: custom.is_some(),
        schema: Some(FieldSchema {
            kind: kind.into(),
            items: items.map(Into::into),
            custom: custom
                .map(|c| format!("com.atlassian.jira.plugin.system.customfieldtypes:{c}")),
            ..FieldSchema::default()
        }),
        ..Field::default()
    }
}

fn context(deployment: Deployment) -> MappingContext {
    let v = validate(&[SourceFile {
        path: "m.yaml".into(),
        text: MANIFESTS.into(),
    }]);
    let m = v.model;
    assert!(m.integrations.contains_key("demo"), "{:?}", v.diagnostics);
    let (epic_level, sp) = match deployment {
        Deployment::Cloud => (Some(1), "customfield_10016"),
        Deployment::DataCenter => (None, "customfield_10106"),
    };
    let status = |id: &str, name: &str| Status {
        id: id.into(),
        name: name.into(),
        status_category: None,
    };
    let resolved = ResolvedIntegration {
        project_id: Some("10000".into()),
        types: BTreeMap::from([
            (
                "Epic".into(),
                IssueType {
                    id: "10000".into(),
                    name: "Epic".into(),
                    hierarchy_level: epic_level,
                    ..IssueType::default()
                },
            ),
            (
                "Feature".into(),
                IssueType {
                    id: "10001".into(),
                    name: "Story".into(),
                    hierarchy_level: epic_level.map(|_| 0),
                    ..IssueType::default()
                },
            ),
        ]),
        statuses: BTreeMap::from([
            ("Backlog".into(), status("10000", "To Do")),
            ("Doing".into(), status("3", "In Progress")),
            ("Done".into(), status("10001", "Done")),
        ]),
        fields: BTreeMap::from([
            (
                "components".into(),
                field("components", "array", Some("component"), None),
            ),
            (
                "releases".into(),
                field("fixVersions", "array", Some("version"), None),
            ),
            (
                "storyPoints".into(),
                field(sp, "number", None, Some("float")),
            ),
            (
                "team".into(),
                field("customfield_10030", "option", None, Some("select")),
            ),
            (
                "objective".into(),
                field("customfield_10031", "string", None, Some("textarea")),
            ),
            (
                "value".into(),
                field("customfield_10033", "number", None, Some("float")),
            ),
            (
                "Platforms".into(),
                field(
                    "customfield_10035",
                    "array",
                    Some("option"),
                    Some("multiselect"),
                ),
            ),
            (
                "Target date".into(),
                field("customfield_10034", "date", None, Some("datepicker")),
            ),
            (
                "Due".into(),
                field("customfield_10040", "datetime", None, Some("datetime")),
            ),
            (
                "Spec".into(),
                field("customfield_10037", "string", None, Some("url")),
            ),
        ]),
        story_points_field: Some(sp.into()),
    };
    let sprint = |id: i64, name: &str, state: &str| Sprint {
        id,
        name: name.into(),
        state: state.into(),
        ..Sprint::default()
    };
    let mut fields = vec![field("labels", "array", Some("string"), None)];
    match deployment {
        Deployment::Cloud => fields.push(Field {
            id: "customfield_10020".into(),
            schema: Some(FieldSchema {
                kind: "array".into(),
                custom: Some("com.pyxis.greenhopper.jira:gh-sprint".into()),
                ..FieldSchema::default()
            }),
            ..Field::default()
        }),
        Deployment::DataCenter => {
            for (id, custom) in [
                ("customfield_10100", "gh-epic-link"),
                ("customfield_10101", "gh-sprint"),
            ] {
                fields.push(Field {
                    id: id.into(),
                    schema: Some(FieldSchema {
                        kind: "any".into(),
                        custom: Some(format!("com.pyxis.greenhopper.jira:{custom}")),
                        ..FieldSchema::default()
                    }),
                    ..Field::default()
                });
            }
        }
    }
    let catalog = JiraCatalog {
        sprints: vec![
            sprint(1, "Sprint 1", "closed"),
            sprint(2, "Sprint 2, the big one", "active"),
        ],
        versions: ["1.0", "2.0"]
            .iter()
            .map(|n| Version {
                id: n.to_string(),
                name: n.to_string(),
                ..Version::default()
            })
            .collect(),
        components: ["Backend", "Frontend"]
            .iter()
            .map(|n| Component {
                id: n.to_string(),
                name: n.to_string(),
                ..Component::default()
            })
            .collect(),
        fields,
    };
    MappingContext::new(
        &m.integrations["demo"],
        &m.workspaces["product"],
        m.field_mappings.get("fields"),
        &resolved,
        deployment,
        catalog,
    )
}

fn item() -> Item {
    let now = Utc::now();
    Item {
        id: "1".into(),
        workspace: "product".into(),
        version: 1,
        item_type: "Feature".into(),
        title: " Saved cards ".into(),
        description: "Pay **faster**.\nNo typing.\n\n- web\n- mobile".into(),
        status: "Doing".into(),
        parent: None,
        sprint: Some("Sprint 2, the big one".into()),
        releases: vec!["2.0".into(), "1.0".into()],
        components: vec!["Backend".into()],
        story_points: Some(3.0),
        team: Some("Red".into()),
        labels: vec!["payments".into()],
        fields: BTreeMap::from([
            ("objective".into(), json!("Grow *conversion*")),
            ("value".into(), json!(8)),
            ("Platforms".into(), json!(["Web", "iOS"])),
            ("Target date".into(), json!("2026-12-24")),
            ("Due".into(), json!("2027-01-02")),
            ("Spec".into(), json!("https://example.com/s")),
        ]),
        comments: vec![],
        time_spent_seconds: 0,
        jira: None,
        sync_to: None,
        field_updated: Default::default(),
        created: now,
        updated: now,
    }
}

#[test]
fn cloud_is_sent_adf_options_and_names() {
    let ctx = context(Deployment::Cloud);
    let w = to_jira(&item(), None, &ctx).unwrap();
    let f = &w.fields;
    assert_eq!(f["summary"], "Saved cards");
    assert_eq!(f["issuetype"], json!({"id": "10001"}));
    assert_eq!(f["project"], json!({"key": "DEMO"}));
    assert_eq!(f["description"]["type"], "doc");
    assert_eq!(f["description"]["content"][1]["type"], "bulletList");
    assert_eq!(
        f["description"]["content"][0]["content"][1]["marks"],
        json!([{"type": "strong"}])
    );
    assert_eq!(f["customfield_10031"]["type"], "doc");
    assert_eq!(f["customfield_10030"], json!({"value": "Red"}));
    assert_eq!(
        f["customfield_10035"],
        json!([{"value": "Web"}, {"value": "iOS"}])
    );
    assert_eq!(f["customfield_10034"], "2026-12-24");
    assert_eq!(f["customfield_10040"], "2027-01-02T00:00:00.000+0000");
    assert_eq!(f["customfield_10037"], "https://example.com/s");
    assert_eq!(f["customfield_10016"], json!(3.0));
    assert_eq!(f["components"], json!([{"name": "Backend"}]));
    assert_eq!(f["fixVersions"], json!([{"name": "2.0"}, {"name": "1.0"}]));
    assert_eq!(f["labels"], json!(["payments"]));
    // Sprint and status are instructions, not fields.
    assert!(!f.contains_key("customfield_10020") && !f.contains_key("status"));
    assert_eq!(w.sprint.map(|s| s.sprint_id), Some(Some(2)));
    assert_eq!(w.status.as_ref().unwrap().target_status_id, "3");
    // No parent: an edit clears it, a create does not mention it.
    assert_eq!(f["parent"], Value::Null);
    assert!(!w.create_body().fields.contains_key("parent"));
}

#[test]
fn data_center_is_sent_wiki_markup() {
    let ctx = context(Deployment::DataCenter);
    let w = to_jira(&item(), None, &ctx).unwrap();
    assert_eq!(
        w.fields["description"],
        "Pay *faster*.\nNo typing.\n\n* web\n* mobile"
    );
    assert_eq!(w.fields["customfield_10031"], "Grow _conversion_");
    assert_eq!(w.fields["customfield_10106"], json!(3.0));
    // Stories on Data Center lose their epic through the Epic Link field.
    assert_eq!(w.fields["customfield_10100"], Value::Null);
    assert!(!w.fields.contains_key("parent"));
}

#[test]
fn values_jira_would_reject_are_reported_before_the_call() {
    let ctx = context(Deployment::Cloud);
    let mut it = item();
    it.releases.push("9.9".into());
    assert!(matches!(
        to_jira(&it, None, &ctx),
        Err(MappingError::UnknownValue {
            what: "fix version",
            ..
        })
    ));
    let mut it = item();
    it.sprint = Some("Sprint 7".into());
    assert_eq!(
        to_jira(&it, None, &ctx).unwrap_err(),
        MappingError::UnknownSprint("Sprint 7".into())
    );
    let mut it = item();
    it.labels = vec!["two words".into()];
    assert!(matches!(
        to_jira(&it, None, &ctx),
        Err(MappingError::BadValue { .. })
    ));
    let mut it = item();
    it.fields.insert("Target date".into(), json!("24/12/2026"));
    let err = to_jira(&it, None, &ctx).unwrap_err();
    assert!(err.to_string().contains("Target date"), "{err}");
    let mut it = item();
    it.title = "  ".into();
    assert!(to_jira(&it, None, &ctx).is_err());
    // A closed sprint is never moved into.
    let mut it = item();
    it.sprint = Some("Sprint 1".into());
    assert_eq!(to_jira(&it, None, &ctx).unwrap().sprint, None);
}

fn issue(fields: Value) -> Issue {
    Issue {
        id: "10042".into(),
        key: "DEMO-42".into(),
        fields: fields.as_object().cloned().unwrap_or_default(),
        ..Issue::default()
    }
}

/// The same issue as Cloud (v3) and Data Center (v2) render it.
fn cloud_issue() -> Issue {
    issue(json!({
        "issuetype": {"id": "10001", "name": "Story"},
        "summary": "Saved cards",
        "status": {"id": "3", "name": "In Progress"},
        "description": {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [
                {"type": "text", "text": "Pay "},
                {"type": "text", "text": "faster", "marks": [{"type": "strong"}]},
                {"type": "text", "text": "."},
                {"type": "hardBreak"},
                {"type": "text", "text": "No typing."}
            ]},
            {"type": "bulletList", "content": [
                {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "web"}]}]},
                {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "mobile"}]}]}
            ]}
        ]},
        "customfield_10020": [
            {"id": 1, "name": "Sprint 1", "state": "closed", "boardId": 1},
            {"id": 2, "name": "Sprint 2, the big one", "state": "active", "boardId": 1}
        ],
        "fixVersions": [{"id": "1", "name": "1.0"}, {"id": "2", "name": "2.0"}],
        "components": [{"id": "1", "name": "Backend"}],
        "customfield_10016": 3,
        "customfield_10030": {"self": "x", "value": "Red", "id": "10100"},
        "labels": ["payments"],
        "customfield_10031": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
            {"type": "text", "text": "Grow "}, {"type": "text", "text": "conversion", "marks": [{"type": "em"}]}
        ]}]},
        "customfield_10033": 8.0,
        "customfield_10035": [{"value": "iOS", "id": "2"}, {"value": "Web", "id": "1"}],
        "customfield_10034": "2026-12-24",
        "customfield_10040": "2027-01-02T00:00:00.000+0000",
        "customfield_10037": "https://example.com/s",
        "timespent": 7200,
        "comment": {"comments": [{"id": "1", "author": {"displayName": "Dev"}, "body": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "On it"}]}]}}]}
    }))
}

fn dc_issue() -> Issue {
    issue(json!({
        "issuetype": {"id": "10001", "name": "Story"},
        "summary": "Saved cards",
        "status": {"id": "3", "name": "In Progress"},
        "description": "Pay *faster*.\nNo typing.\n\n* web\n* mobile",
        "customfield_10101": [
            "com.atlassian.greenhopper.service.sprint.Sprint@1a[id=1,rapidViewId=1,state=CLOSED,name=Sprint 1,startDate=<null>,endDate=<null>,completeDate=<null>,sequence=1,goal=]",
            "com.atlassian.greenhopper.service.sprint.Sprint@1b[id=2,rapidViewId=1,state=ACTIVE,name=Sprint 2, the big one,goal=,startDate=2026-01-01T00:00:00.000Z,endDate=<null>,completeDate=<null>,sequence=2]"
        ],
        "customfield_10100": "DEMO-1",
        "fixVersions": [{"id": "2", "name": "2.0"}, {"id": "1", "name": "1.0"}],
        "components": [{"id": "1", "name": "Backend"}],
        "customfield_10106": 3.0,
        "customfield_10030": {"value": "Red", "id": "10100"},
        "labels": ["payments"],
        "customfield_10031": "Grow _conversion_",
        "customfield_10033": 8,
        "customfield_10035": [{"value": "Web"}, {"value": "iOS"}],
        "customfield_10034": "2026-12-24",
        "customfield_10040": "2027-01-02T00:00:00.000+0000",
        "customfield_10037": "https://example.com/s",
        "worklog": {"worklogs": [{"timeSpentSeconds": 3600}, {"timeSpentSeconds": 3600}]},
        "comment": {"comments": [{"id": "1", "author": {"displayName": "Dev"}, "body": "On it"}]}
    }))
}

#[test]
fn both_dialects_read_back_to_the_items_snapshot() {
    let it = item();
    for (deployment, issue) in [
        (Deployment::Cloud, cloud_issue()),
        (Deployment::DataCenter, dc_issue()),
    ] {
        let ctx = context(deployment);
        let from_item = fields_snapshot(&it, &ctx);
        let from_issue = fields_snapshot_from_issue(&issue, &ctx).unwrap();
        assert_eq!(from_issue, from_item, "{deployment}");
        // An import maps each issue once and takes the baseline from that same read.
        assert!(ctx.reads_every_field());
        let read = from_jira(&issue, &ctx).unwrap();
        assert_eq!(
            fields_snapshot_from_read(&issue, &ctx, &read),
            from_issue,
            "{deployment}"
        );
        assert_eq!(from_item["value"], json!(8));
        assert_eq!(from_item["releases"], json!(["1.0", "2.0"]));

        let patch = from_jira(&issue, &ctx).unwrap();
        assert_eq!(patch.sprint, Some(Some("Sprint 2, the big one".into())));
        assert_eq!(patch.time_spent_seconds, Some(7200));
        assert_eq!(patch.comments.as_ref().unwrap()[0].body, "On it");
        assert_eq!(patch.description.as_deref(), Some(it.description.as_str()));
        assert_eq!(patch.fields["objective"], "Grow *conversion*");
        let mut back = item();
        back.description.clear();
        back.fields.clear();
        back.story_points = None;
        assert!(patch.apply(&mut back));
        assert_eq!(fields_snapshot(&back, &ctx), from_item, "{deployment}");
    }
    let dc = from_jira(&dc_issue(), &context(Deployment::DataCenter)).unwrap();
    assert_eq!(dc.parent_key, Some(Some("DEMO-1".into())));
}

#[test]
fn a_changed_field_shows_in_the_snapshot_and_only_there() {
    let ctx = context(Deployment::Cloud);
    let base = fields_snapshot_from_issue(&cloud_issue(), &ctx).unwrap();
    let mut changed = cloud_issue();
    changed.fields.insert("customfield_10016".into(), json!(5));
    changed
        .fields
        .insert("customfield_10035".into(), json!([{"value": "Web"}]));
    let after = fields_snapshot_from_issue(&changed, &ctx).unwrap();
    let differing: Vec<&String> = base
        .keys()
        .filter(|k| base[k.as_str()] != after[k.as_str()])
        .collect();
    assert_eq!(differing, ["Platforms", "storyPoints"]);
}

#[test]
fn sprint_field_values_of_both_dialects() {
    let cloud = sprint_values(&json!([{"id": 3, "name": "S3", "state": "future"}]));
    assert_eq!(cloud[0].id, Some(3));
    assert_eq!(cloud[0].state, "future");
    let dc = sprint_values(&json!([
        "com.atlassian.greenhopper.service.sprint.Sprint@38c6bd04[id=1,rapidViewId=2,state=ACTIVE,name=SCRUM1 Sprint 1,goal=,startDate=2019-05-23T14:02:10.170Z,endDate=2019-06-06T14:02:00.000Z,completeDate=<null>,sequence=1]",
        "garbage",
        42
    ]));
    assert_eq!(dc.len(), 1);
    assert_eq!(dc[0].name, "SCRUM1 Sprint 1");
    assert_eq!((dc[0].id, dc[0].state.as_str()), (Some(1), "active"));
    assert!(sprint_values(&Value::Null).is_empty());

    // All sprints closed: the item shows the last one it was in.
    let ctx = context(Deployment::Cloud);
    let mut i = cloud_issue();
    i.fields.insert(
        "customfield_10020".into(),
        json!([{"id": 1, "name": "Sprint 1", "state": "closed"}]),
    );
    assert_eq!(
        from_jira(&i, &ctx).unwrap().sprint,
        Some(Some("Sprint 1".into()))
    );
    i.fields.insert("customfield_10020".into(), Value::Null);
    assert_eq!(from_jira(&i, &ctx).unwrap().sprint, Some(None));
}

#[test]
fn malformed_issues_are_errors_not_panics() {
    let ctx = context(Deployment::Cloud);
    assert_eq!(
        from_jira_json(&json!("not an issue"), &ctx).unwrap_err(),
        MappingError::Malformed("issue shape")
    );
    let webhook_issue = json!({"id": "1", "key": "DEMO-1", "fields": {
        "issuetype": {"id": "10001", "name": "Story"}, "summary": "From a webhook"
    }});
    assert_eq!(
        from_jira_json(&webhook_issue, &ctx)
            .unwrap()
            .title
            .as_deref(),
        Some("From a webhook")
    );
    assert_eq!(
        from_jira(&issue(json!({})), &ctx).unwrap_err(),
        MappingError::Malformed("issuetype")
    );
    let odd = issue(json!({
        "issuetype": {"name": "Story"},
        "summary": 42,
        "description": [1, 2],
        "customfield_10020": {"not": "a list"},
        "customfield_10016": "three",
        "customfield_10030": [],
        "customfield_10035": "Web",
        "customfield_10034": 20261224,
        "fixVersions": null,
        "comment": "nope",
        "timespent": "long"
    }));
    let patch = from_jira(&odd, &ctx).unwrap();
    assert_eq!(patch.story_points, Some(None));
    assert_eq!(patch.releases, Some(vec![]));
    assert!(fields_snapshot_from_issue(&odd, &ctx).is_ok());
}

/// An import asks Jira for [`MappingContext::issue_fields_read`] alone, not `*navigable`: an
/// issue read that way must map, and give the baseline, exactly as the issue read whole does.
/// Fails when `read_issue` (or the baseline) reads a field the list leaves out.
#[test]
fn an_issue_read_with_the_fields_the_mapping_reads_maps_as_the_whole_issue() {
    for (deployment, mut whole) in [
        (Deployment::Cloud, cloud_issue()),
        (Deployment::DataCenter, dc_issue()),
    ] {
        let ctx = context(deployment);
        // What `*navigable` brings besides: none of it may matter.
        for (k, v) in [
            ("assignee", json!({"displayName": "Dev", "accountId": "1"})),
            ("priority", json!({"id": "3", "name": "Medium"})),
            ("customfield_19999", json!("unmapped")),
            ("issuelinks", json!([])),
            ("parent", json!({"id": "10001", "key": "DEMO-1"})),
        ] {
            whole.fields.insert(k.into(), v);
        }
        let wanted = ctx.issue_fields_read();
        let mut narrow = whole.clone();
        narrow.fields.retain(|k, _| wanted.contains(k));
        assert!(narrow.fields.len() < whole.fields.len(), "{deployment}");
        assert!(!narrow.fields.contains_key("assignee"));
        let (a, b) = (
            from_jira(&whole, &ctx).unwrap(),
            from_jira(&narrow, &ctx).unwrap(),
        );
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{deployment}");
        assert!(b.story_points.is_some() && b.sprint.is_some() && !b.fields.is_empty());
        assert_eq!(
            fields_snapshot_from_issue(&whole, &ctx).unwrap(),
            fields_snapshot_from_issue(&narrow, &ctx).unwrap(),
            "{deployment}"
        );
        let base = |i: &Issue, p| {
            let b = tandem::sync::engine::baseline::after_import(i, &ctx, p, None).unwrap();
            format!("{b:?}")
        };
        assert_eq!(base(&whole, &a), base(&narrow, &b), "{deployment}");
    }
}
