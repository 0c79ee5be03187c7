//! The client's response types decode real Jira bodies: the REST samples and the Cloud OpenAPI
//! examples in the shared reference folder (read in place, never copied into the repository).

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tandem::jira::{
    AgilePage, Board, BoardConfiguration, Component, Field, Issue, IssueTypeStatuses, Permissions,
    Project, ServerInfo, Sprint, Transition, User,
};

fn reference_dir() -> Option<PathBuf> {
    let shared = std::env::var_os("TANDEM_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = shared.join("reference");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("shared reference folder not found at {}", dir.display());
    }
    eprintln!(
        "SKIPPED: jira_reference (shared reference folder not found at {})",
        dir.display()
    );
    None
}

fn rest_sample(dir: &std::path::Path, name: &str) -> Value {
    let path = dir.join("jira-rest").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn decode<T: DeserializeOwned>(what: &str, value: Value) -> T {
    serde_json::from_value(value).unwrap_or_else(|e| panic!("{what}: {e}"))
}

#[test]
fn rest_samples_decode() {
    let Some(dir) = reference_dir() else { return };

    let fields: Vec<Field> = decode("fields", rest_sample(&dir, "go-jira__all_fields.json"));
    let summary = fields.iter().find(|f| f.id == "summary").unwrap();
    assert_eq!(summary.schema.as_ref().unwrap().kind, "string");

    let config: BoardConfiguration = decode(
        "board configuration",
        rest_sample(&dir, "go-jira__board_configuration.json"),
    );
    assert_eq!(config.location.unwrap().key.as_deref(), Some("IT"));

    let sprints: AgilePage<Sprint> = decode("sprints", rest_sample(&dir, "go-jira__sprints.json"));
    assert_eq!(sprints.is_last, Some(true));
    assert!(sprints.values.iter().any(|s| s.state == "closed"));

    let boards: AgilePage<Board> = decode("boards", rest_sample(&dir, "go-jira__all_boards.json"));
    assert!(!boards.values.is_empty());

    let project: Project = decode("project", rest_sample(&dir, "go-jira__project.json"));
    assert_eq!(project.key, "ABDERA");
    // Server/DC: no hierarchyLevel, the level is derived.
    let subtask = project.issue_types.iter().find(|t| t.subtask).unwrap();
    assert_eq!(subtask.level(), -1);

    let component: Component = decode(
        "component",
        rest_sample(&dir, "go-jira__component_get.json"),
    );
    assert!(!component.name.is_empty());

    let transitions = rest_sample(&dir, "go-jira__transitions.json");
    let transitions: Vec<Transition> = decode("transitions", transitions["transitions"].clone());
    assert!(transitions.iter().all(|t| !t.id.is_empty()));

    let sprint_issues = rest_sample(&dir, "go-jira__issues_in_sprint.json");
    let issues: Vec<Issue> = decode("issues", sprint_issues["issues"].clone());
    assert!(issues
        .iter()
        .all(|i| !i.key.is_empty() && !i.fields.is_empty()));
}

/// The 200 example of a Cloud platform endpoint, parsed.
fn openapi_example(spec: &Value, path: &str) -> Value {
    let example =
        &spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["example"];
    match example {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    }
}

#[test]
fn cloud_openapi_examples_decode() {
    let Some(dir) = reference_dir() else { return };
    let path = dir.join("jira-openapi/jira-cloud-platform.v3.json");
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();

    let info: ServerInfo = decode(
        "serverInfo",
        openapi_example(&spec, "/rest/api/3/serverInfo"),
    );
    assert!(info.version.is_some());

    let me: User = decode("myself", openapi_example(&spec, "/rest/api/3/myself"));
    assert_eq!(me.display_name, "Mia Krystof");

    let permissions: Permissions = decode(
        "mypermissions",
        openapi_example(&spec, "/rest/api/3/mypermissions"),
    );
    assert!(permissions.has("EDIT_ISSUES"));
    assert!(!permissions.is_admin());

    let project: Project = decode(
        "project",
        openapi_example(&spec, "/rest/api/3/project/{projectIdOrKey}"),
    );
    assert!(!project.key.is_empty());

    let statuses: Vec<IssueTypeStatuses> = decode(
        "project statuses",
        openapi_example(&spec, "/rest/api/3/project/{projectIdOrKey}/statuses"),
    );
    assert_eq!(statuses[0].statuses[0].name, "In Progress");

    let search = openapi_example(&spec, "/rest/api/3/search/jql");
    assert_eq!(search["isLast"], Value::Bool(true));
    let issues: Vec<Issue> = decode("search/jql issues", search["issues"].clone());
    assert!(!issues.is_empty());
}
