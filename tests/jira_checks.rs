//! ProjectIntegration online checks against a scripted fake Jira: each failure names its pair,
//! says what is wrong and how to fix it.

mod jira_fake;

use std::time::Duration;

use jira_fake::{fixture, Exchange, FakeJira, Reply};
use tandem::jira::{
    check_integration, CheckFailure, Credentials, Deployment, FieldKind, FieldPair,
    IntegrationReport, IntegrationSpec, JiraClient, JiraConfig, JiraFieldRef, StatusPair, TypePair,
};

fn cloud_jira() -> Vec<Exchange> {
    vec![
        Exchange::on(
            "GET",
            "/rest/api/3/project/DEMO",
            Reply::fixture(200, "project_demo.json"),
        ),
        Exchange::on(
            "GET",
            "/rest/api/3/project/DEMO/statuses",
            Reply::fixture(200, "project_demo_statuses.json"),
        ),
        Exchange::on(
            "GET",
            "/rest/api/3/project/NOPE",
            Reply::json(
                404,
                r#"{"errorMessages":["No project could be found with key 'NOPE'."],"errors":{}}"#,
            ),
        ),
        Exchange::on(
            "GET",
            "/rest/api/3/field",
            Reply::fixture(200, "fields.json"),
        ),
        Exchange::on(
            "GET",
            "/rest/agile/1.0/board/1",
            Reply::fixture(200, "board_1.json"),
        ),
        Exchange::on(
            "GET",
            "/rest/agile/1.0/board/1/configuration",
            Reply::fixture(200, "board_1_configuration.json"),
        ),
        Exchange::on(
            "GET",
            "/rest/agile/1.0/board/7",
            Reply::fixture(200, "board_7_other_project.json"),
        ),
        Exchange::on(
            "GET",
            "/rest/agile/1.0/board/7/configuration",
            Reply::fixture(200, "board_7_configuration.json"),
        ),
        Exchange::on(
            "GET",
            "/rest/agile/1.0/board/99",
            Reply::json(
                404,
                r#"{"errorMessages":["Board does not exist or you do not have permission to see it."],"errors":{}}"#,
            ),
        ),
    ]
}

fn client(fake: &FakeJira, deployment: Deployment) -> JiraClient {
    let mut config = JiraConfig::new(
        fake.url(),
        Credentials::basic("admin@example.com", "admin-token"),
    );
    config.deployment = Some(deployment);
    config.retry.base_delay = Duration::from_millis(5);
    JiraClient::new(config).unwrap()
}

fn ty(workspace: &str, jira: &str, depth: u32) -> TypePair {
    TypePair {
        workspace: workspace.into(),
        jira: jira.into(),
        depth,
    }
}

fn status(workspace: &str, jira: &str) -> StatusPair {
    StatusPair {
        workspace: workspace.into(),
        jira: jira.into(),
    }
}

fn field(workspace: &str, kind: FieldKind, jira: &str) -> FieldPair {
    FieldPair {
        workspace: workspace.into(),
        kind,
        jira: if jira == "auto" {
            JiraFieldRef::Auto
        } else {
            JiraFieldRef::Named(jira.into())
        },
    }
}

fn good_spec() -> IntegrationSpec {
    IntegrationSpec {
        project: "DEMO".into(),
        board: Some(1),
        types: vec![
            ty("Epic", "Epic", 0),
            ty("Feature", "Story", 1),
            // Same Jira level as its parent: the sync engine links them instead.
            ty("Story", "Story", 2),
            ty("Subtask", "Sub-task", 3),
        ],
        secondary_types: vec!["Bug".into()],
        statuses: vec![
            status("Todo", "To Do"),
            status("Doing", "in progress"),
            status("Review", "In Review"),
            status("Done", "Done"),
        ],
        fields: vec![
            field("storyPoints", FieldKind::Number, "auto"),
            field("risk", FieldKind::SingleSelect, "Risk"),
            field("platforms", FieldKind::MultiSelect, "customfield_10051"),
            field("value", FieldKind::Number, "Business value"),
            field("objective", FieldKind::Text, "Objective"),
            field("spec", FieldKind::Url, "Spec link"),
            field("team", FieldKind::Team, "Team"),
            field("labels", FieldKind::Labels, "labels"),
            field("components", FieldKind::Components, "components"),
            field("releases", FieldKind::Releases, "Fix versions"),
            field("due", FieldKind::Date, "duedate"),
        ],
    }
}

async fn run(spec: &IntegrationSpec) -> IntegrationReport {
    let fake = FakeJira::start(cloud_jira()).await;
    check_integration(&client(&fake, Deployment::Cloud), spec)
        .await
        .expect("Jira answered")
}

fn failure<'a>(report: &'a IntegrationReport, pair: &str) -> &'a CheckFailure {
    report
        .failures
        .iter()
        .find(|f| f.pair == pair)
        .unwrap_or_else(|| panic!("no failure for {pair:?} in {:#?}", report.failures))
}

#[tokio::test]
async fn a_matching_integration_passes_and_resolves_ids() {
    let report = run(&good_spec()).await;
    assert!(report.is_ok(), "{:#?}", report.failures);
    let resolved = &report.resolved;
    assert_eq!(resolved.project_id.as_deref(), Some("10000"));
    assert_eq!(
        resolved.story_points_field.as_deref(),
        Some("customfield_10016")
    );
    assert_eq!(resolved.types["Feature"].id, "10002");
    assert_eq!(resolved.statuses["Doing"].id, "3");
    assert_eq!(resolved.fields["releases"].id, "fixVersions");
    assert_eq!(resolved.fields["risk"].id, "customfield_10050");
}

#[tokio::test]
async fn missing_project_is_named() {
    let spec = IntegrationSpec {
        project: "NOPE".into(),
        board: None,
        ..good_spec()
    };
    let report = run(&spec).await;
    let f = failure(&report, "project NOPE");
    assert!(f.message.contains("does not exist"), "{f:?}");
    assert!(f.message.contains("admin@example.com"), "{f:?}");
    assert!(f.hint.contains("case-sensitive"), "{f:?}");
}

#[tokio::test]
async fn missing_board_is_named() {
    let report = run(&IntegrationSpec {
        board: Some(99),
        ..good_spec()
    })
    .await;
    let f = failure(&report, "board 99");
    assert!(f.message.contains("board 99 does not exist"), "{f:?}");
    assert!(f.hint.contains("project DEMO"), "{f:?}");
    // `auto` depends on the board and says so instead of guessing.
    let auto = failure(&report, "field storyPoints → auto");
    assert!(auto.message.contains("board 99 is unavailable"), "{auto:?}");
}

#[tokio::test]
async fn board_of_another_project_is_refused() {
    let report = run(&IntegrationSpec {
        board: Some(7),
        ..good_spec()
    })
    .await;
    let f = failure(&report, "board 7");
    assert_eq!(
        f.message,
        "board 7 (\"OPS board\") belongs to OPS, not to project DEMO"
    );
    assert!(f.hint.contains("board of project DEMO"), "{f:?}");
}

#[tokio::test]
async fn story_points_auto_needs_a_field_estimating_board() {
    let report = run(&IntegrationSpec {
        board: Some(7),
        ..good_spec()
    })
    .await;
    let f = failure(&report, "field storyPoints → auto");
    assert!(f.message.contains("estimates by issueCount"), "{f:?}");
    assert!(f.hint.contains("Estimation"), "{f:?}");

    let report = run(&IntegrationSpec {
        board: None,
        ..good_spec()
    })
    .await;
    let f = failure(&report, "field storyPoints → auto");
    assert!(f.message.contains("names no board"), "{f:?}");
    assert!(f.hint.contains("set `board`"), "{f:?}");
}

#[tokio::test]
async fn unknown_jira_type_suggests_the_closest() {
    let mut spec = good_spec();
    spec.types[1] = ty("Feature", "Storyy", 1);
    spec.secondary_types = vec!["Incident".into()];
    let report = run(&spec).await;
    let f = failure(&report, "type Feature → Jira \"Storyy\"");
    assert_eq!(f.message, "project DEMO has no issue type \"Storyy\"");
    assert!(f.hint.starts_with("did you mean \"Story\"?"), "{f:?}");
    let f = failure(&report, "secondary type Jira \"Incident\"");
    assert!(f.hint.contains("Epic, Story, Task, Bug, Sub-task"), "{f:?}");
}

#[tokio::test]
async fn inverted_hierarchy_is_refused() {
    let mut spec = good_spec();
    spec.types = vec![ty("Epic", "Story", 0), ty("Feature", "Epic", 1)];
    let report = run(&spec).await;
    assert_eq!(report.failures.len(), 1, "{:#?}", report.failures);
    let f = failure(&report, "type Feature → Jira \"Epic\"");
    assert!(
        f.message
            .contains("Feature sits below Epic in the workspace")
            && f.message.contains("(hierarchy level 1)"),
        "{f:?}"
    );
    assert!(f.hint.contains("level 0 or lower"), "{f:?}");
}

#[tokio::test]
async fn a_top_level_type_cannot_be_a_sub_task() {
    let mut spec = good_spec();
    spec.types = vec![ty("Chore", "Sub-task", 0)];
    spec.statuses.clear();
    let report = run(&spec).await;
    let f = failure(&report, "type Chore → Jira \"Sub-task\"");
    assert!(f.message.contains("cannot exist without a parent"), "{f:?}");
    assert!(f.hint.contains("standard issue type"), "{f:?}");
}

#[tokio::test]
async fn statuses_must_be_in_the_mapped_types_workflow() {
    let mut spec = good_spec();
    spec.types = vec![ty("Epic", "Epic", 0), ty("Story", "Story", 1)];
    spec.statuses = vec![status("Blocked", "Blocked"), status("Review", "In Reveiw")];
    let report = run(&spec).await;
    // "Blocked" exists only in the Sub-task workflow, which is not mapped.
    let f = failure(&report, "status Blocked → Jira \"Blocked\"");
    assert!(f.message.contains("for the mapped issue types"), "{f:?}");
    assert!(
        f.hint.contains("To Do, In Progress, Done, In Review"),
        "{f:?}"
    );
    let f = failure(&report, "status Review → Jira \"In Reveiw\"");
    assert!(f.hint.starts_with("did you mean \"In Review\"?"), "{f:?}");
}

#[tokio::test]
async fn fields_must_exist_be_unambiguous_compatible_and_unique() {
    let mut spec = good_spec();
    spec.fields = vec![
        field("risk", FieldKind::SingleSelect, "Riskk"),
        field("effort", FieldKind::Number, "Effort"),
        field("platforms", FieldKind::SingleSelect, "Platforms"),
        field("value", FieldKind::Number, "customfield_10052"),
        field("effortAgain", FieldKind::Number, "Business value"),
        field("due", FieldKind::Date, "Summary"),
    ];
    let report = run(&spec).await;
    assert_eq!(report.failures.len(), 5, "{:#?}", report.failures);

    let f = failure(&report, "field risk → Jira \"Riskk\"");
    assert_eq!(f.message, "Jira has no field with id or name \"Riskk\"");
    assert!(
        f.hint
            .starts_with("did you mean \"Risk\" (customfield_10050)?"),
        "{f:?}"
    );

    let f = failure(&report, "field effort → Jira \"Effort\"");
    assert!(
        f.message.contains("2 Jira fields are named \"Effort\""),
        "{f:?}"
    );
    assert!(f.hint.contains("customfield_10060"), "{f:?}");

    let f = failure(&report, "field platforms → Jira \"Platforms\"");
    assert_eq!(
        f.message,
        "Jira field \"Platforms\" (customfield_10051) holds array<option> (multiselect), which cannot hold a workspace singleSelect"
    );
    assert!(f.hint.contains("single-select"), "{f:?}");

    let f = failure(&report, "field effortAgain → Jira \"Business value\"");
    assert!(f.message.contains("already mapped from value"), "{f:?}");

    let f = failure(&report, "field due → Jira \"Summary\"");
    assert!(f.message.contains("holds string"), "{f:?}");
    assert!(f.hint.contains("date"), "{f:?}");
}

#[tokio::test]
async fn data_center_levels_are_derived_without_hierarchy_level() {
    let mut project: serde_json::Value =
        serde_json::from_str(&fixture("project_demo.json")).unwrap();
    for t in project["issueTypes"].as_array_mut().unwrap() {
        t.as_object_mut().unwrap().remove("hierarchyLevel");
    }
    let fake = FakeJira::start(vec![
        Exchange::on(
            "GET",
            "/rest/api/2/project/DEMO",
            Reply::value(200, project),
        ),
        Exchange::on(
            "GET",
            "/rest/api/2/project/DEMO/statuses",
            Reply::fixture(200, "project_demo_statuses.json"),
        ),
    ])
    .await;
    let client = client(&fake, Deployment::DataCenter);
    let spec = IntegrationSpec {
        project: "DEMO".into(),
        types: vec![
            ty("Epic", "Epic", 0),
            ty("Story", "Story", 1),
            ty("Subtask", "Sub-task", 2),
        ],
        ..IntegrationSpec::default()
    };
    let report = check_integration(&client, &spec).await.unwrap();
    assert!(report.is_ok(), "{:#?}", report.failures);

    let inverted = IntegrationSpec {
        types: vec![ty("Story", "Sub-task", 0), ty("Subtask", "Story", 1)],
        ..spec
    };
    let report = check_integration(&client, &inverted).await.unwrap();
    let f = failure(&report, "type Subtask → Jira \"Story\"");
    assert!(
        f.message.contains("level 0") && f.message.contains("level -1"),
        "{f:?}"
    );
}

#[tokio::test]
async fn connection_problems_are_errors_not_failures() {
    let fake = FakeJira::start(vec![Exchange::on(
        "GET",
        "/rest/api/3/project/DEMO",
        Reply::json(401, ""),
    )])
    .await;
    let err = check_integration(&client(&fake, Deployment::Cloud), &good_spec())
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "AuthenticationFailed");
}
