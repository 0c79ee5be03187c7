//! The sync mapping on real Jira payloads (webhook captures and REST responses of the shared
//! reference folder): every captured issue maps or is skipped by design, sprint field strings
//! parse, wiki bodies convert stably, captured transitions plan, and captured changelogs name
//! the snapshot keys they touch.

mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use tandem::jira::{Deployment, Issue, IssueType, ResolvedIntegration, Transition};
use tandem::manifest::{validate, SourceFile};
use tandem::sync::mapping::sprint_values;
use tandem::sync::richtext::{
    canonical_markdown, from_jira_text, from_wiki, parse_markdown, to_wiki,
};
use tandem::sync::snapshot::keys_in_changelog;
use tandem::sync::transitions::{plan_transitions, WorkflowGraph};
use tandem::sync::{fields_snapshot_from_issue, from_jira, JiraCatalog, MappingContext};

const MANIFESTS: &str = r#"
apiVersion: tandem/v1
kind: Workspace
metadata: {name: product}
spec:
  id: product
  itemTypes:
    - name: Epic
    - {name: Feature, parent: Epic}
  statuses: [Open]
---
apiVersion: tandem/v1
kind: Connection
metadata: {name: jira}
spec:
  displayName: Jira
  url: https://jira.example.com
  auth: {username: admin, password: {env: PASSWORD}}
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
  direction: twoWay
  types:
    - {workspace: Epic, jira: Epic}
    - {workspace: Feature, jira: Story}
  secondaryTypes:
    - {jira: Bug, workspace: Feature}
  conflicts: lastWriterWins
  resync: 10m
"#;

fn files(shared: &std::path::Path, dir: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let root = shared.join("reference").join(dir);
    let mut entries: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    entries.sort();
    for p in entries {
        let text = std::fs::read_to_string(&p).unwrap();
        if let Ok(v) = serde_json::from_str(&text) {
            out.push((p.file_name().unwrap().to_string_lossy().into_owned(), v));
        }
    }
    out
}

fn walk<'a>(v: &'a Value, f: &mut dyn FnMut(&'a Value)) {
    f(v);
    match v {
        Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        Value::Object(o) => o.values().for_each(|x| walk(x, f)),
        _ => {}
    }
}

fn context(shared: &std::path::Path) -> MappingContext {
    let m = validate(&[SourceFile {
        path: "m.yaml".into(),
        text: MANIFESTS.into(),
    }])
    .model;
    let pi = &m.integrations["demo"];
    let ty = |name: &str| IssueType {
        id: String::new(),
        name: name.into(),
        ..IssueType::default()
    };
    let resolved = ResolvedIntegration {
        types: BTreeMap::from([("Epic".into(), ty("Epic")), ("Feature".into(), ty("Story"))]),
        ..ResolvedIntegration::default()
    };
    let fields = support::reference_json(shared, "jira-rest/go-jira__all_fields.json");
    let catalog = JiraCatalog {
        fields: serde_json::from_value(fields).unwrap_or_default(),
        ..JiraCatalog::default()
    };
    MappingContext::new(
        pi,
        &m.workspaces["product"],
        None,
        &resolved,
        Deployment::DataCenter,
        catalog,
    )
}

#[test]
fn captured_webhook_issues_map_or_are_skipped() {
    let Some(shared) = support::shared_dir("captured_webhook_issues_map_or_are_skipped") else {
        return;
    };
    let ctx = context(&shared);
    let (mut mapped, mut skipped) = (0, 0);
    for (name, body) in files(&shared, "jira-webhooks") {
        let Some(raw) = body.get("issue").filter(|i| i.get("fields").is_some()) else {
            continue;
        };
        let issue: Issue = serde_json::from_value(raw.clone())
            .unwrap_or_else(|e| panic!("{name}: issue does not deserialize: {e}"));
        match from_jira(&issue, &ctx) {
            Ok(patch) => {
                mapped += 1;
                assert!(patch.title.is_some(), "{name}: no summary read");
                assert!(fields_snapshot_from_issue(&issue, &ctx).is_ok(), "{name}");
            }
            Err(e) => {
                assert!(e.is_skip(), "{name}: {e}");
                skipped += 1;
            }
        }
    }
    assert!(mapped > 10, "mapped {mapped}");
    // Tasks and Improvements are neither primary nor secondary types here.
    assert!(skipped > 0, "skipped {skipped}");
}

#[test]
fn captured_sprint_strings_parse() {
    let Some(shared) = support::shared_dir("captured_sprint_strings_parse") else {
        return;
    };
    let mut seen = 0;
    for dir in ["jira-webhooks", "jira-rest"] {
        for (name, body) in files(&shared, dir) {
            walk(&body, &mut |v| {
                if let Some(s) = v
                    .as_str()
                    .filter(|s| s.starts_with("com.atlassian.greenhopper.service.sprint.Sprint@"))
                {
                    let parsed = sprint_values(&Value::Array(vec![Value::String(s.into())]));
                    assert_eq!(parsed.len(), 1, "{name}: {s}");
                    assert!(
                        parsed[0].id.is_some() && !parsed[0].name.is_empty(),
                        "{name}: {s}"
                    );
                    assert!(
                        ["active", "closed", "future"].contains(&parsed[0].state.as_str()),
                        "{name}: {s}"
                    );
                    seen += 1;
                }
            });
        }
    }
    assert!(seen > 0, "no sprint strings in the captures");
}

#[test]
fn captured_wiki_bodies_convert_stably() {
    let Some(shared) = support::shared_dir("captured_wiki_bodies_convert_stably") else {
        return;
    };
    let mut seen = 0;
    for (name, body) in files(&shared, "jira-webhooks") {
        walk(&body, &mut |v| {
            let Some(o) = v.as_object() else { return };
            for key in ["body", "description"] {
                if let Some(Value::String(wiki)) = o.get(key) {
                    let md = from_jira_text(&Value::String(wiki.clone()));
                    assert_eq!(canonical_markdown(&md), md, "{name}: {wiki:?}");
                    let blocks = parse_markdown(&md);
                    assert_eq!(from_wiki(&to_wiki(&blocks)), blocks, "{name}: {wiki:?}");
                    seen += 1;
                }
            }
        });
    }
    assert!(seen > 0);
}

#[test]
fn captured_transitions_plan() {
    let Some(shared) = support::shared_dir("captured_transitions_plan") else {
        return;
    };
    let body = support::reference_json(&shared, "jira-rest/go-jira__transitions.json");
    let transitions: Vec<Transition> =
        serde_json::from_value(body["transitions"].clone()).expect("transitions deserialize");
    assert!(!transitions.is_empty());
    let mut graph = WorkflowGraph::new();
    graph.record("1", transitions.clone());
    for t in &transitions {
        let to = &t.to.as_ref().unwrap().id;
        let plan = plan_transitions("1", to, &graph).unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].transition_id, t.id);
        // None of the captured screen fields is required, so nothing needs filling.
        assert!(plan[0].fields(None).unwrap().is_empty());
    }
}

/// Real changelogs, in both forms (Cloud's `fieldId`, Data Center's and old Cloud's `field`
/// only): a change of the summary, description or sprint is recognised as that snapshot key,
/// and nothing outside the snapshot (priority, assignee, `Key`, `Workflow`...) is ever named.
/// The engine relies on this right after a create, to pull what a person changed meanwhile.
#[test]
fn captured_changelogs_name_the_snapshot_keys_they_touch() {
    let Some(shared) = support::shared_dir("captured_changelogs_name_the_snapshot_keys_they_touch")
    else {
        return;
    };
    let ctx = context(&shared);
    let snapshot_keys: Vec<String> = {
        // Every mapped field present (empty): a field missing from a read is left out.
        let mut fields = serde_json::json!({"summary": "x", "issuetype": {"name": "Story"}});
        for rule in ctx.rules() {
            fields[rule.jira.id.as_str()] = Value::Null;
        }
        let issue: Issue = serde_json::from_value(serde_json::json!({
            "id": "1", "key": "DEMO-1", "fields": fields
        }))
        .expect("issue");
        fields_snapshot_from_issue(&issue, &ctx)
            .expect("snapshot")
            .into_keys()
            .collect()
    };
    let sprint_name = ctx
        .sprint_field()
        .and_then(|id| ctx.catalog().fields.iter().find(|f| f.id == id))
        .map(|f| f.name.clone());
    let mut changelogs: Vec<(String, Value)> = Vec::new();
    for (name, body) in files(&shared, "jira-webhooks") {
        if let Some(group) = body.get("changelog").filter(|c| c.get("items").is_some()) {
            changelogs.push((name, serde_json::json!({"histories": [group]})));
        }
    }
    for (name, body) in files(&shared, "jira-rest") {
        walk(&body, &mut |v| {
            if let Some(c) = v.get("changelog").filter(|c| c.get("histories").is_some()) {
                changelogs.push((name.clone(), c.clone()));
            }
        });
    }
    let (mut seen, mut recognised) = (0, 0);
    for (name, changelog) in &changelogs {
        let keys = keys_in_changelog(Some(changelog), &ctx);
        for key in &keys {
            assert!(
                snapshot_keys.contains(key),
                "{name}: {key:?} is not a snapshot key ({snapshot_keys:?})"
            );
        }
        let items = changelog["histories"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h["items"].as_array())
            .flatten();
        for item in items {
            seen += 1;
            let field = item["fieldId"]
                .as_str()
                .or_else(|| item["field"].as_str())
                .unwrap_or("");
            let expected = match field {
                "summary" => Some("title"),
                "description" => Some("description"),
                f if Some(f) == ctx.sprint_field() || Some(f) == sprint_name.as_deref() => {
                    Some("sprint")
                }
                _ => None,
            };
            if let Some(key) = expected {
                recognised += 1;
                assert!(
                    keys.contains(key),
                    "{name}: {field} not seen as {key}: {keys:?}"
                );
            }
        }
    }
    println!(
        "{} captured changelogs, {seen} items, {recognised} of them summary, description or sprint",
        changelogs.len()
    );
    assert!(changelogs.len() >= 5, "{} changelogs", changelogs.len());
    assert!(recognised >= 3, "{recognised} of {seen} items recognised");
}
