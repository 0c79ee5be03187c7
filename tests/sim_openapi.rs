//! Every response body of the Cloud endpoints the simulator implements validates against
//! Atlassian's own OpenAPI descriptions (platform REST v3 and Jira Software), so tandem is
//! tested against the shapes real Jira Cloud documents, not against our assumptions.

mod support;

use serde_json::{json, Value};
use support::openapi::{validate_response, Spec};
use tandem::sim::{Deployment, SimConfig, Simulator};

struct Call {
    method: &'static str,
    path: String,
    body: Option<Value>,
}

fn call(method: &'static str, path: impl Into<String>, body: Option<Value>) -> Call {
    Call {
        method,
        path: path.into(),
        body,
    }
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    user: Option<(&str, &str)>,
    c: &Call,
) -> (u16, Option<Value>) {
    let url = format!("{base}{}", c.path);
    let mut rb = client.request(c.method.parse().expect("method"), &url);
    if let Some((u, p)) = user {
        rb = rb.basic_auth(u, Some(p));
    }
    if let Some(b) = &c.body {
        rb = rb.json(b);
    }
    let resp = rb.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body = if text.is_empty() {
        None
    } else {
        Some(
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} {}: not JSON ({e}): {text}", c.method, c.path)),
        )
    };
    (status, body)
}

fn adf(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cloud_response_validates_against_the_openapi_description() {
    let Some(shared) = support::shared_dir("sim_openapi") else {
        return;
    };
    let mut spec = Spec::jira(&shared).expect("OpenAPI descriptions load");
    // Real Jira sends `null` for the id form of a changelog value that has none (summary,
    // labels, description...), as the captures in reference/jira-webhooks and
    // reference/jira-rest/go-jira__issues_in_sprint_with_changelog.json show; the description
    // calls them strings.
    let why = "real Jira sends null changelog from/to; see the captured changelogs";
    for path in [
        "$.changelog.histories[].items[].from",
        "$.changelog.histories[].items[].to",
        "$.values[].items[].from",
        "$.values[].items[].to",
    ] {
        spec.tolerate("GET /rest/api/3/issue/*", path, why);
    }
    let sim = Simulator::start(SimConfig::new(Deployment::Cloud))
        .await
        .expect("simulator starts");
    let base = sim.base_url();
    let client = reqwest::Client::new();
    let admin = Some(("admin@example.com", "admin-token"));

    // Seed through the API so every kind of value appears in the responses.
    let seed = [
        call(
            "POST",
            "/rest/api/3/issue",
            Some(
                json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Epic"}, "summary": "Epic", "description": adf("An epic")}}),
            ),
        ),
        call(
            "POST",
            "/rest/api/3/issue",
            Some(json!({"fields": {
                "project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": "Story", "parent": {"key": "DEMO-1"},
                "description": adf("A story"), "labels": ["web"], "components": [{"name": "Backend"}], "fixVersions": [{"name": "1.0"}],
                "assignee": {"accountId": "5b10ac8d82e05b22cc7d0001"}, "priority": {"name": "High"}, "duedate": "2030-01-31",
                "customfield_10016": 5, "customfield_10020": 1, "customfield_10030": {"value": "Red"}, "customfield_10031": adf("Grow"),
                "customfield_10032": "KR1", "customfield_10033": 8, "customfield_10034": "2030-02-01", "customfield_10035": [{"value": "Web"}],
                "customfield_10036": ["alpha"], "customfield_10037": "https://example.com/spec",
            }})),
        ),
        call(
            "POST",
            "/rest/api/3/issue",
            Some(
                json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Sub-task"}, "summary": "Sub", "parent": {"key": "DEMO-2"}}}),
            ),
        ),
        call(
            "POST",
            "/rest/api/3/issue",
            Some(
                json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Bug"}, "summary": "Bug"}}),
            ),
        ),
        call(
            "POST",
            "/rest/api/3/issue/DEMO-2/comment",
            Some(json!({"body": adf("A comment")})),
        ),
        call(
            "POST",
            "/rest/api/3/issue/DEMO-2/worklog",
            Some(json!({"timeSpent": "1h 30m", "comment": adf("Work")})),
        ),
        call(
            "POST",
            "/rest/api/3/issueLink",
            Some(
                json!({"type": {"name": "Blocks"}, "inwardIssue": {"key": "DEMO-4"}, "outwardIssue": {"key": "DEMO-2"}}),
            ),
        ),
        call(
            "PUT",
            "/rest/api/3/issue/DEMO-2",
            Some(
                json!({"fields": {"summary": "Story, renamed"}, "update": {"labels": [{"add": "mobile"}]}}),
            ),
        ),
        call(
            "POST",
            "/rest/api/3/issue/DEMO-2/transitions",
            Some(json!({"transition": {"id": "21"}})),
        ),
        call(
            "POST",
            "/rest/api/3/issue/DEMO-4/transitions",
            Some(json!({"transition": {"id": "31"}, "fields": {"resolution": {"name": "Done"}}})),
        ),
    ];
    let checked = [
        call("GET", "/rest/api/3/serverInfo", None),
        call("GET", "/rest/api/3/myself", None),
        call("GET", "/rest/api/3/mypermissions?permissions=ADMINISTER,BROWSE_PROJECTS,CREATE_ISSUES", None),
        call("GET", "/rest/api/3/field", None),
        call("GET", "/rest/api/3/issuetype", None),
        call("GET", "/rest/api/3/status", None),
        call("GET", "/rest/api/3/statuscategory", None),
        call("GET", "/rest/api/3/priority", None),
        call("GET", "/rest/api/3/resolution", None),
        call("GET", "/rest/api/3/issueLinkType", None),
        call("GET", "/rest/api/3/project", None),
        call("GET", "/rest/api/3/project/search", None),
        call("GET", "/rest/api/3/project/DEMO", None),
        call("GET", "/rest/api/3/project/DEMO/statuses", None),
        call("GET", "/rest/api/3/project/DEMO/components", None),
        call("GET", "/rest/api/3/project/DEMO/versions", None),
        call("GET", "/rest/api/3/issue/createmeta?projectKeys=DEMO&expand=projects.issuetypes.fields", None),
        call("GET", "/rest/api/3/issue/createmeta/DEMO/issuetypes", None),
        call("GET", "/rest/api/3/issue/createmeta/DEMO/issuetypes/10001", None),
        call("GET", "/rest/api/3/issue/DEMO-2", None),
        call("GET", "/rest/api/3/issue/DEMO-2?expand=names,schema,changelog,transitions,editmeta", None),
        call("GET", "/rest/api/3/issue/DEMO-3", None),
        call("GET", "/rest/api/3/issue/DEMO-4", None),
        call("GET", "/rest/api/3/issue/DEMO-2/editmeta", None),
        call("GET", "/rest/api/3/issue/DEMO-2/changelog", None),
        call("GET", "/rest/api/3/issue/DEMO-2/transitions", None),
        call("GET", "/rest/api/3/issue/DEMO-2/transitions?expand=transitions.fields", None),
        call("GET", "/rest/api/3/issue/DEMO-2/comment", None),
        call("POST", "/rest/api/3/issue/DEMO-2/comment", Some(json!({"body": adf("Another")}))),
        call("GET", "/rest/api/3/issue/DEMO-2/comment/10001", None),
        call("PUT", "/rest/api/3/issue/DEMO-2/comment/10001", Some(json!({"body": adf("Edited")}))),
        call("GET", "/rest/api/3/issue/DEMO-2/worklog", None),
        call("POST", "/rest/api/3/issue/DEMO-2/worklog", Some(json!({"timeSpentSeconds": 600}))),
        call("GET", "/rest/api/3/issueLink/10001", None),
        call("GET", "/rest/api/3/search/jql?jql=project%3DDEMO&maxResults=2", None),
        call("GET", "/rest/api/3/search/jql?jql=project%3DDEMO%20ORDER%20BY%20created&fields=*all&expand=names,schema", None),
        call("POST", "/rest/api/3/search/jql", Some(json!({"jql": "project = DEMO AND statusCategory != Done", "maxResults": 1, "fields": ["summary", "status"]}))),
        call("POST", "/rest/api/3/search/approximate-count", Some(json!({"jql": "project = DEMO"}))),
        call("POST", "/rest/api/3/issue/bulkfetch", Some(json!({"issueIdsOrKeys": ["DEMO-1", "10001", "99999"], "fields": ["summary", "status"]}))),
        call("POST", "/rest/api/3/version", Some(json!({"projectId": 10000, "name": "3.0", "releaseDate": "2031-01-01"}))),
        call("GET", "/rest/api/3/version/10000", None),
        call("PUT", "/rest/api/3/version/10000", Some(json!({"released": true}))),
        call("POST", "/rest/api/3/component", Some(json!({"project": "DEMO", "name": "Docs"}))),
        call("GET", "/rest/api/3/component/10000", None),
        call("GET", "/rest/api/3/user?accountId=5b10ac8d82e05b22cc7d0001", None),
        call("GET", "/rest/api/3/user/search?query=admin", None),
        // Error bodies are part of the contract too.
        call("GET", "/rest/api/3/issue/NOPE-1", None),
        call("POST", "/rest/api/3/issue", Some(json!({"fields": {"project": {"key": "DEMO"}}}))),
        call("PUT", "/rest/api/3/issue/DEMO-2", Some(json!({"fields": {"customfield_10016": "many"}}))),
        call("GET", "/rest/api/3/search/jql?jql=project%20%3D", None),
        // Agile.
        call("GET", "/rest/agile/1.0/board", None),
        call("GET", "/rest/agile/1.0/board/1", None),
        call("GET", "/rest/agile/1.0/board/1/configuration", None),
        call("GET", "/rest/agile/1.0/board/1/sprint", None),
        call("GET", "/rest/agile/1.0/board/1/backlog", None),
        call("GET", "/rest/agile/1.0/board/1/issue", None),
        call("POST", "/rest/agile/1.0/sprint", Some(json!({"name": "Next", "originBoardId": 1, "startDate": "2030-01-01T09:00:00.000+0000", "endDate": "2030-01-15T09:00:00.000+0000"}))),
        call("GET", "/rest/agile/1.0/sprint/1", None),
        call("POST", "/rest/agile/1.0/sprint/2", Some(json!({"goal": "Ship it"}))),
        call("POST", "/rest/agile/1.0/sprint/2/issue", Some(json!({"issues": ["DEMO-4"]}))),
        call("GET", "/rest/agile/1.0/sprint/1/issue", None),
        call("POST", "/rest/agile/1.0/backlog/issue", Some(json!({"issues": ["DEMO-4"]}))),
        call("GET", "/rest/agile/1.0/issue/DEMO-2", None),
        call("DELETE", "/rest/api/3/issue/DEMO-4", None),
    ];
    for c in &seed {
        let (status, body) = send(&client, &base, admin, c).await;
        assert!(
            status < 300,
            "seeding {} {} answered {status}: {body:?}",
            c.method,
            c.path
        );
    }
    let mut failures = Vec::new();
    let mut validated = 0;
    for c in &checked {
        let (status, body) = send(&client, &base, admin, c).await;
        if status >= 500 {
            failures.push(format!("{} {}: {status}", c.method, c.path));
            continue;
        }
        let Some(body) = body else { continue };
        validated += 1;
        if let Err(errors) = validate_response(&spec, c.method, &c.path, status, &body) {
            failures.push(format!(
                "{} {} ({status}):\n    {}",
                c.method,
                c.path,
                errors.join("\n    ")
            ));
        }
    }
    // Unauthenticated calls: the 401 body.
    let (status, body) = send(
        &client,
        &base,
        None,
        &call("GET", "/rest/api/3/myself", None),
    )
    .await;
    assert_eq!(status, 401);
    if let Err(errors) = validate_response(
        &spec,
        "GET",
        "/rest/api/3/myself",
        status,
        &body.unwrap_or(Value::Null),
    ) {
        failures.push(format!(
            "GET /rest/api/3/myself (401): {}",
            errors.join("; ")
        ));
    }
    assert!(validated > 50, "only {validated} bodies were validated");
    assert!(
        failures.is_empty(),
        "{} response(s) do not match Atlassian's OpenAPI:\n{}",
        failures.len(),
        failures.join("\n")
    );
    sim.shutdown().await.expect("clean shutdown");
}
