//! Self-test of the OpenAPI response validator (tests/support/openapi.rs): real Jira responses
//! pass, broken copies fail naming the exact JSON path, and each OpenAPI 3.0 construct is read
//! the way the specification says.

mod support;

use serde_json::{json, Value};
use support::openapi::{validate_response, Spec};

fn jira() -> Option<(Spec, std::path::PathBuf)> {
    let shared = support::shared_dir("support_openapi")?;
    let spec = Spec::jira(&shared).expect("Jira OpenAPI descriptions load");
    Some((spec, shared))
}

#[test]
fn real_responses_validate() {
    let Some((spec, shared)) = jira() else { return };
    for (path, file) in [
        ("/rest/api/3/field", "go-jira__all_fields.json"),
        ("/rest/api/3/project/DEMO", "go-jira__project.json"),
        ("/rest/api/3/status", "go-jira__all_statuses.json"),
        (
            "/rest/api/3/statuscategory",
            "go-jira__all_statuscategories.json",
        ),
        ("/rest/agile/1.0/board", "go-jira__all_boards.json"),
        ("/rest/agile/1.0/board/1/sprint", "go-jira__sprints.json"),
        (
            "/rest/agile/1.0/sprint/1/issue",
            "go-jira__issues_in_sprint.json",
        ),
    ] {
        let body = support::reference_json(&shared, &format!("jira-rest/{file}"));
        if let Err(e) = validate_response(&spec, "GET", path, 200, &body) {
            panic!("{file} should validate:\n{}", e.join("\n"));
        }
    }
}

#[test]
fn board_configuration_passes_with_its_documented_divergence_only() {
    let Some((mut spec, shared)) = jira() else {
        return;
    };
    let body = support::reference_json(&shared, "jira-rest/go-jira__board_configuration.json");
    let path = "https://test.jira.org/rest/agile/1.0/board/35/configuration";
    // Real Jira describes the board's project location in full; the Agile description only
    // declares `type` and `projectKeyOrId` and forbids anything else.
    let errors = validate_response(&spec, "GET", path, 200, &body).expect_err("strict fails");
    let prefix = "GET /rest/agile/1.0/board/{boardId}/configuration 200: ";
    let undeclared = ": property not declared by the schema (additionalProperties is false)";
    assert_eq!(
        errors,
        ["id", "key", "name", "self"]
            .iter()
            .map(|k| format!("{prefix}$.location.{k}{undeclared}"))
            .collect::<Vec<_>>()
    );
    spec.tolerate(
        "GET /rest/agile/1.0/board/{boardId}/configuration",
        "$.location.*",
        "real Jira returns the project's key, id, name and self",
    );
    validate_response(&spec, "GET", path, 200, &body).expect("passes with the tolerance");

    // A tolerance does not hide other mistakes.
    let mut broken = body.clone();
    broken["columnConfig"]["columns"][1]["statuses"][0]["id"] = json!(10001);
    broken["estimation"]["field"]["displayName"] = Value::Null;
    let errors = validate_response(&spec, "GET", path, 200, &broken).expect_err("broken fails");
    assert_eq!(
        errors,
        vec![
            format!("{prefix}$.columnConfig.columns[1].statuses[0].id: expected string, got integer 10001"),
            format!("{prefix}$.estimation.field.displayName: expected string, got null"),
        ]
    );
}

#[test]
fn broken_fields_list_fails_with_every_path() {
    let Some((spec, shared)) = jira() else { return };
    let mut body = support::reference_json(&shared, "jira-rest/go-jira__all_fields.json");
    body[0]["custom"] = json!("false");
    body[1]["schema"]["type"] = json!(42);
    body[1]["clauseNames"] = json!("summary");
    let errors = validate_response(&spec, "GET", "/rest/api/3/field", 200, &body)
        .expect_err("broken copy fails");
    let p = "GET /rest/api/3/field 200: ";
    assert_eq!(
        errors,
        vec![
            format!("{p}$[0].custom: expected boolean, got string \"false\""),
            format!("{p}$[1].clauseNames: expected array, got string \"summary\""),
            format!("{p}$[1].schema.type: expected string, got integer 42"),
        ]
    );
}

#[test]
fn atlassians_own_examples_mostly_validate() {
    // Guards against false alarms: Atlassian's examples are not all faithful to their schemas
    // (74 of 690 are not, e.g. null changelog values, epoch numbers for date strings), but a
    // validator that rejected most of them would be misreading OpenAPI.
    let Some((spec, shared)) = jira() else { return };
    let root = support::reference_json(&shared, "jira-openapi/jira-cloud-platform.v3.json");
    let (mut ok, mut total) = (0, 0);
    for (path, item) in root["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Some(responses) = op.get("responses").and_then(Value::as_object) else {
                continue;
            };
            for (code, r) in responses {
                let example = r
                    .pointer("/content/application~1json/example")
                    .and_then(Value::as_str)
                    .and_then(|e| serde_json::from_str::<Value>(e).ok());
                let (Some(body), Ok(status)) = (example, code.parse::<u16>()) else {
                    continue;
                };
                let concrete = path.replace(['{', '}'], "");
                total += 1;
                ok += validate_response(&spec, method, &concrete, status, &body).is_ok() as usize;
            }
        }
    }
    eprintln!("{ok} of {total} response examples validate");
    assert!(total > 500, "examples found: {total}");
    assert!(
        ok * 100 >= total * 85,
        "only {ok} of {total} examples validate"
    );
}

fn mini() -> Spec {
    Spec::from_value(json!({
        "openapi": "3.0.1",
        "paths": {
            "/rest/api/3/issue/{issueIdOrKey}": {"get": {"responses": {
                "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Issue"}}}},
                "404": {"description": "not found"}
            }}},
            "/rest/api/3/issue/createmeta": {"get": {"responses": {
                "200": {"content": {"application/json": {"schema": {"type": "object", "properties": {"projects": {"type": "array"}}}}}}
            }}},
            "/rest/api/3/thing": {"get": {"responses": {
                "default": {"content": {"application/json": {"schema": {"oneOf": [
                    {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}, "additionalProperties": false},
                    {"type": "object", "required": ["b"], "properties": {"b": {"type": "integer"}}, "additionalProperties": false}
                ]}}}}
            }}}
        },
        "components": {"schemas": {
            "Issue": {"allOf": [{"$ref": "#/components/schemas/Base"}], "type": "object",
                "required": ["key", "password"],
                "properties": {
                    "key": {"type": "string", "readOnly": true},
                    "password": {"type": "string", "writeOnly": true},
                    "parent": {"allOf": [{"$ref": "#/components/schemas/Ref"}], "nullable": true},
                    "fields": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Field"}},
                    "kind": {"type": "string", "enum": ["story", "bug"]}
                },
                "additionalProperties": false},
            "Base": {"type": "object", "properties": {"id": {"type": "string"}, "self": {"type": "string"}}, "additionalProperties": false},
            "Ref": {"$ref": "#/components/schemas/Base"},
            "Field": {"type": "object", "properties": {"v": {"type": "number", "nullable": true}}}
        }}
    }))
    .expect("mini spec")
}

#[test]
fn openapi_constructs_are_read_as_the_specification_says() {
    let spec = mini();
    let ok = json!({
        "id": "1", "self": "x", "key": "DEMO-1", "parent": null,
        "fields": {"customfield_1": {"v": null}, "customfield_2": {"v": 2.5}}, "kind": "bug"
    });
    validate_response(&spec, "get", "/rest/api/3/issue/DEMO-1", 200, &ok).expect("valid");
    let bad = json!({
        "id": 1, "extra": true, "parent": {"id": "2", "oops": 1},
        "fields": {"customfield_1": {"v": "x"}}, "kind": "epic"
    });
    let errors = validate_response(&spec, "GET", "/rest/api/3/issue/DEMO-1", 200, &bad)
        .expect_err("invalid");
    let p = "GET /rest/api/3/issue/{issueIdOrKey} 200: ";
    assert_eq!(
        errors,
        vec![
            format!("{p}$.extra: property not declared by the schema (additionalProperties is false)"),
            format!("{p}$.id: expected string, got integer 1"),
            format!("{p}$.key: required property is missing"),
            format!("{p}$.fields.customfield_1.v: expected number or null, got string \"x\""),
            format!("{p}$.kind: string \"epic\" is not one of [\"story\",\"bug\"]"),
            format!("{p}$.parent.oops: property not declared by the schema (additionalProperties is false)"),
        ]
    );
}

#[test]
fn one_of_reports_the_closest_alternative() {
    let spec = mini();
    validate_response(&spec, "GET", "/rest/api/3/thing", 200, &json!({"b": 3})).expect("valid");
    let errors = validate_response(&spec, "GET", "/rest/api/3/thing", 500, &json!({"b": "3"}))
        .expect_err("invalid");
    assert_eq!(errors[0], "GET /rest/api/3/thing 500: $: matches none of the 2 oneOf alternatives; closest one fails with:");
    assert_eq!(
        errors[1],
        "GET /rest/api/3/thing 500:   $.b: expected integer, got string \"3\""
    );
}

#[test]
fn paths_statuses_and_operations_are_matched_precisely() {
    let spec = mini();
    assert_eq!(
        spec.operation(
            "GET",
            "http://127.0.0.1:1/rest/api/3/issue/createmeta?projectKeys=DEMO"
        ),
        Some(("inline", "/rest/api/3/issue/createmeta"))
    );
    assert_eq!(
        spec.operation("GET", "/rest/api/3/issue/10001"),
        Some(("inline", "/rest/api/3/issue/{issueIdOrKey}"))
    );
    assert_eq!(spec.operation("DELETE", "/rest/api/3/issue/10001"), None);
    // A documented status without content accepts any body.
    validate_response(
        &spec,
        "GET",
        "/rest/api/3/issue/X-1",
        404,
        &json!({"errorMessages": []}),
    )
    .expect("404");
    let e =
        validate_response(&spec, "GET", "/rest/api/3/issue/X-1", 401, &json!({})).expect_err("401");
    assert_eq!(e, vec!["GET /rest/api/3/issue/{issueIdOrKey}: status 401 is not documented (documented: 200, 404)"]);
    let e =
        validate_response(&spec, "GET", "/rest/api/3/nope", 200, &json!({})).expect_err("unknown");
    assert_eq!(
        e,
        vec!["GET /rest/api/3/nope: no such operation in the OpenAPI description"]
    );
}

#[test]
fn tolerances_apply_to_their_operation_and_path_only() {
    let mut spec = mini();
    let body = json!({"id": "1", "key": "K-1", "extra": 1, "fields": {"a": {"v": "x"}}});
    spec.tolerate(
        "GET /rest/api/3/issue/*",
        "$.fields.*.v",
        "real Jira sends text here",
    );
    let e = validate_response(&spec, "GET", "/rest/api/3/issue/K-1", 200, &body)
        .expect_err("extra remains");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("$.extra"));
    spec.tolerate("GET /rest/api/3/other", "$.extra", "elsewhere");
    assert!(validate_response(&spec, "GET", "/rest/api/3/issue/K-1", 200, &body).is_err());
    spec.tolerate("*", "$.extra", "everywhere");
    validate_response(&spec, "GET", "/rest/api/3/issue/K-1", 200, &body).expect("all tolerated");
}
