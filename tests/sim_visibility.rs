//! The simulator is as strict as Jira about issues that are gone or hidden, which is what
//! tandem's deletion detection must survive:
//!
//! - a hidden issue (issue security level, permission change) reads exactly like a deleted one:
//!   404 with Jira's message, absent from searches;
//! - a JQL query naming an issue that does not exist (or cannot be seen) is refused whole with
//!   Jira's 400, unless Data Center is asked not to validate (`validateQuery: false`);
//! - Cloud's `POST /issue/bulkfetch` returns the issues it can, leaving out the others silently.

use serde_json::{json, Value};
use tandem::sim::{Deployment, SimConfig, SimHandle, Simulator};

async fn sim(deployment: Deployment) -> SimHandle {
    Simulator::start(SimConfig::new(deployment))
        .await
        .expect("simulator starts")
}

async fn call(sim: &SimHandle, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let (user, secret) = match sim.deployment() {
        Deployment::Cloud => ("admin@example.com", "admin-token"),
        Deployment::DataCenter => ("admin", "admin"),
    };
    let mut rb = reqwest::Client::new()
        .request(
            method.parse().expect("method"),
            format!("{}{path}", sim.base_url()),
        )
        .basic_auth(user, Some(secret));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn story(sim: &SimHandle, summary: &str) -> (String, String) {
    let r = sim
        .create_issue(
            json!({"project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": summary}),
        )
        .expect("create");
    (r.id, r.key)
}

#[tokio::test]
async fn a_hidden_issue_reads_like_a_deleted_one_until_it_is_shown_again() {
    for deployment in [Deployment::Cloud, Deployment::DataCenter] {
        let sim = sim(deployment).await;
        let (id, key) = story(&sim, "secret");
        let (deleted_id, deleted_key) = story(&sim, "deleted");
        sim.delete_issue(&deleted_key).expect("delete");
        assert!(sim.set_issue_visible(&key, false));
        let (hidden, hidden_body) =
            call(&sim, "GET", &format!("/rest/api/2/issue/{id}"), None).await;
        let (gone, gone_body) = call(
            &sim,
            "GET",
            &format!("/rest/api/2/issue/{deleted_id}"),
            None,
        )
        .await;
        assert_eq!((hidden, gone), (404, 404));
        assert_eq!(hidden_body, gone_body, "Jira does not tell them apart");
        assert!(
            !sim.search("project = DEMO").expect("search").contains(&key),
            "searches leave it out"
        );
        assert!(sim.set_issue_visible(&key, true));
        let (status, _) = call(&sim, "GET", &format!("/rest/api/2/issue/{key}"), None).await;
        assert_eq!(status, 200);
        assert!(!sim.set_issue_visible("DEMO-99999", false), "no such issue");
    }
}

#[tokio::test]
async fn data_center_refuses_a_query_naming_a_missing_issue_unless_told_not_to_validate() {
    let sim = sim(Deployment::DataCenter).await;
    let (id, _) = story(&sim, "present");
    let jql = format!("id in ({id}, 99999)");
    let (status, body) = call(
        &sim,
        "POST",
        "/rest/api/2/search",
        Some(json!({"jql": jql, "fields": ["id"]})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errorMessages"][0],
        "An issue with key '99999' does not exist for field 'id'."
    );
    let (status, body) = call(
        &sim,
        "POST",
        "/rest/api/2/search",
        Some(json!({"jql": jql, "fields": ["id"], "validateQuery": false})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(ids, [id.as_str()]);
    let (status, _) = call(
        &sim,
        "GET",
        "/rest/api/2/search?jql=key%3DDEMO-99999&validateQuery=false",
        None,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn cloud_bulkfetch_returns_what_it_can_and_leaves_out_the_rest() {
    let sim = sim(Deployment::Cloud).await;
    let (a, a_key) = story(&sim, "a");
    let (b, b_key) = story(&sim, "b");
    assert!(sim.set_issue_visible(&b_key, false));
    let (status, body) = call(
        &sim,
        "POST",
        "/rest/api/3/issue/bulkfetch",
        Some(json!({"issueIdsOrKeys": [a, b, "99999", a_key], "fields": ["id"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(ids, [a.as_str()], "{body}");
    assert_eq!(body["issueErrors"], json!([]));
    let too_many: Vec<String> = (0..101).map(|n| n.to_string()).collect();
    let (status, _) = call(
        &sim,
        "POST",
        "/rest/api/3/issue/bulkfetch",
        Some(json!({"issueIdsOrKeys": too_many})),
    )
    .await;
    assert_eq!(status, 400);
    // The enhanced search validates issue references as Jira does.
    let (status, body) = call(
        &sim,
        "GET",
        "/rest/api/3/search/jql?jql=key%20%3D%20DEMO-99999",
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
}
