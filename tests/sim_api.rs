//! Focused behaviour of the simulator that tandem depends on: authentication, paging in both
//! dialects, the removed Cloud search, the workflow, sprints, faults, persistence, webhooks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tandem::sim::{Deployment, RateLimit, SimConfig, SimHandle, SimWebhook, Simulator};

struct Api {
    sim: SimHandle,
    client: reqwest::Client,
    auth: Auth,
}

#[derive(Clone, Copy)]
enum Auth {
    None,
    Basic(&'static str, &'static str),
    Bearer(&'static str),
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Api {
    async fn start(deployment: Deployment) -> Api {
        Api::with(SimConfig::new(deployment)).await
    }

    async fn with(config: SimConfig) -> Api {
        let auth = match config.deployment {
            Deployment::Cloud => Auth::Basic("admin@example.com", "admin-token"),
            Deployment::DataCenter => Auth::Basic("admin", "admin"),
        };
        let sim = Simulator::start(config).await.expect("simulator starts");
        Api {
            sim,
            client: reqwest::Client::new(),
            auth,
        }
    }

    async fn as_(&self, auth: Auth, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut rb = self.client.request(
            method.parse().expect("method"),
            format!("{}{path}", self.sim.base_url()),
        );
        rb = match auth {
            Auth::None => rb,
            Auth::Basic(u, p) => rb.basic_auth(u, Some(p)),
            Auth::Bearer(t) => rb.bearer_auth(t),
        };
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.as_(self.auth, "GET", path, None).await
    }

    async fn send(&self, method: &str, path: &str, body: Value) -> Reply {
        self.as_(self.auth, method, path, Some(body)).await
    }

    async fn story(&self, summary: &str) -> String {
        let r = self
            .send("POST", "/rest/api/2/issue", json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": summary}}))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["key"].as_str().expect("key").to_string()
    }
}

fn error_messages(body: &Value) -> Vec<String> {
    body["errorMessages"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn cloud_auth_accepts_api_tokens_only_and_answers_jira_s_401() {
    let api = Api::start(Deployment::Cloud).await;
    let anonymous = api.as_(Auth::None, "GET", "/rest/api/3/myself", None).await;
    assert_eq!(anonymous.status, 401);
    assert!(
        error_messages(&anonymous.body)[0].contains("not authenticated"),
        "{}",
        anonymous.body
    );
    assert_eq!(
        api.as_(
            Auth::Basic("admin@example.com", "wrong"),
            "GET",
            "/rest/api/3/myself",
            None
        )
        .await
        .status,
        401
    );
    assert_eq!(
        api.as_(
            Auth::Bearer("admin-token"),
            "GET",
            "/rest/api/3/myself",
            None
        )
        .await
        .status,
        401
    );
    // serverInfo answers anonymously, as Jira's does (clients detect the deployment with it).
    let info = api
        .as_(Auth::None, "GET", "/rest/api/2/serverInfo", None)
        .await;
    assert_eq!(info.body["deploymentType"], "Cloud");
    let me = api.get("/rest/api/3/myself").await;
    assert_eq!(me.body["emailAddress"], "admin@example.com");
    assert!(
        me.body["accountId"].is_string() && me.body.get("name").is_none(),
        "{}",
        me.body
    );
}

#[tokio::test]
async fn data_center_auth_accepts_passwords_and_personal_access_tokens() {
    let api = Api::start(Deployment::DataCenter).await;
    let me = api
        .as_(Auth::Bearer("admin-pat"), "GET", "/rest/api/2/myself", None)
        .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["name"], "admin");
    assert!(
        me.body["key"].is_string() && me.body.get("accountId").is_none(),
        "{}",
        me.body
    );
    assert_eq!(
        api.as_(
            Auth::Basic("user", "user"),
            "GET",
            "/rest/api/2/myself",
            None
        )
        .await
        .body["name"],
        "user"
    );
    assert_eq!(
        api.as_(Auth::Bearer("nope"), "GET", "/rest/api/2/myself", None)
            .await
            .status,
        401
    );
    assert_eq!(
        api.get("/rest/api/2/serverInfo").await.body["deploymentType"],
        "Server"
    );
    // Data Center has no REST v3 and no enhanced search.
    assert_eq!(api.get("/rest/api/3/myself").await.status, 404);
    assert_eq!(
        api.get("/rest/api/2/search/jql?jql=project%3DDEMO")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn permissions_tell_administrators_from_users() {
    let mut config = SimConfig::new(Deployment::Cloud);
    config
        .users
        .push(tandem::sim::SimUser::parse("ops@example.com:ops-token:admin").expect("user"));
    let api = Api::with(config).await;
    let path = "/rest/api/3/mypermissions?permissions=ADMINISTER,CREATE_ISSUES";
    let admin = api.get(path).await;
    assert_eq!(
        admin.body["permissions"]["ADMINISTER"]["havePermission"],
        true
    );
    let user = api
        .as_(
            Auth::Basic("user@example.com", "user-token"),
            "GET",
            path,
            None,
        )
        .await;
    assert_eq!(
        user.body["permissions"]["ADMINISTER"]["havePermission"],
        false
    );
    assert_eq!(
        user.body["permissions"]["CREATE_ISSUES"]["havePermission"],
        true
    );
    let added = api
        .as_(
            Auth::Basic("ops@example.com", "ops-token"),
            "GET",
            path,
            None,
        )
        .await;
    assert_eq!(
        added.body["permissions"]["ADMINISTER"]["havePermission"],
        true
    );
    assert_eq!(
        api.get("/rest/api/3/mypermissions").await.status,
        400,
        "Cloud requires the permissions parameter"
    );
    let hooks = api
        .as_(
            Auth::Basic("user@example.com", "user-token"),
            "GET",
            "/rest/webhooks/1.0/webhook",
            None,
        )
        .await;
    assert_eq!(hooks.status, 403);
}

#[tokio::test]
async fn cloud_search_pages_with_tokens_and_the_old_search_is_gone() {
    let api = Api::start(Deployment::Cloud).await;
    let mut created = Vec::new();
    for n in 0..7 {
        created.push(api.story(&format!("story {n}")).await);
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/rest/api/3/search/jql?jql=project%3DDEMO%20ORDER%20BY%20key%20ASC&maxResults=3&fields=summary".to_string();
        if let Some(t) = &token {
            path.push_str(&format!("&nextPageToken={t}"));
        }
        let page = api.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.get("total").is_none(),
            "Cloud's enhanced search has no total"
        );
        pages += 1;
        seen.extend(
            page.body["issues"]
                .as_array()
                .expect("issues")
                .iter()
                .map(|i| i["key"].as_str().expect("key").to_string()),
        );
        token = page.body["nextPageToken"].as_str().map(String::from);
        assert_eq!(page.body["isLast"], token.is_none());
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);
    let bad = api
        .get("/rest/api/3/search/jql?jql=project%3DDEMO&nextPageToken=garbage")
        .await;
    assert_eq!(bad.status, 400);
    for path in [
        "/rest/api/3/search?jql=project%3DDEMO",
        "/rest/api/2/search?jql=project%3DDEMO",
    ] {
        let gone = api.get(path).await;
        assert_eq!(gone.status, 410, "{path}");
        assert!(error_messages(&gone.body)[0].contains("/rest/api/3/search/jql"));
    }
    let count = api
        .send(
            "POST",
            "/rest/api/3/search/approximate-count",
            json!({"jql": "project = DEMO"}),
        )
        .await;
    assert_eq!(count.body["count"], 7);
    let unbounded = api.get("/rest/api/3/search/jql?jql=ORDER%20BY%20key").await;
    assert_eq!(unbounded.status, 400);
}

#[tokio::test]
async fn data_center_search_pages_with_start_at_and_total() {
    let api = Api::start(Deployment::DataCenter).await;
    for n in 0..5 {
        api.story(&format!("story {n}")).await;
    }
    let page = api.get("/rest/api/2/search?jql=project%3DDEMO%20ORDER%20BY%20key%20DESC&startAt=3&maxResults=3").await;
    assert_eq!(page.body["total"], 5);
    assert_eq!(page.body["startAt"], 3);
    let keys: Vec<&str> = page.body["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| i["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, ["DEMO-2", "DEMO-1"]);
    let post = api
        .send(
            "POST",
            "/rest/api/2/search",
            json!({"jql": "summary ~ \"story 4\"", "fields": ["summary"]}),
        )
        .await;
    assert_eq!(post.body["total"], 1);
    assert_eq!(post.body["issues"][0]["fields"]["summary"], "story 4");
    let bad = api.get("/rest/api/2/search?jql=project%20%3D%20%3D").await;
    assert_eq!(bad.status, 400);
    assert!(
        error_messages(&bad.body)[0].starts_with("Error in the JQL Query"),
        "{}",
        bad.body
    );
}

#[tokio::test]
async fn the_done_transition_requires_a_resolution() {
    let api = Api::start(Deployment::Cloud).await;
    let key = api.story("work").await;
    let list = api
        .get(&format!(
            "/rest/api/2/issue/{key}/transitions?expand=transitions.fields"
        ))
        .await;
    let names: Vec<&str> = list.body["transitions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["In Progress", "Done"],
        "no transition to the current status"
    );
    let done = list.body["transitions"]
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["name"] == "Done")
        .expect("done")
        .clone();
    assert_eq!(done["fields"]["resolution"]["required"], true);

    let path = format!("/rest/api/2/issue/{key}/transitions");
    let refused = api
        .send("POST", &path, json!({"transition": {"id": "31"}}))
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body["errors"]["resolution"].is_string(),
        "{}",
        refused.body
    );
    assert_eq!(
        api.send("POST", &path, json!({"transition": {"id": "999"}}))
            .await
            .status,
        400
    );
    assert_eq!(
        api.send(
            "POST",
            &path,
            json!({"transition": {"id": "31"}, "fields": {"resolution": {"name": "Done"}}})
        )
        .await
        .status,
        204
    );
    let issue = api.sim.issue(&key).expect("issue");
    assert_eq!(issue["fields"]["status"]["name"], "Done");
    assert_eq!(issue["fields"]["resolution"]["name"], "Done");
    assert_eq!(
        api.send("POST", &path, json!({"transition": {"id": "11"}}))
            .await
            .status,
        204
    );
    assert!(
        api.sim.issue(&key).expect("issue")["fields"]["resolution"].is_null(),
        "reopening clears the resolution"
    );
    assert_eq!(
        api.sim
            .search("statusCategory = \"To Do\"")
            .expect("search"),
        [key]
    );
}

#[tokio::test]
async fn sprints_start_close_and_take_at_most_fifty_issues() {
    let api = Api::start(Deployment::Cloud).await;
    let key = api.story("sprint work").await;
    let many: Vec<String> = (1..=51).map(|n| format!("DEMO-{n}")).collect();
    let too_many = api
        .send(
            "POST",
            "/rest/agile/1.0/sprint/1/issue",
            json!({"issues": many}),
        )
        .await;
    assert_eq!(too_many.status, 400);
    assert_eq!(
        api.send(
            "POST",
            "/rest/agile/1.0/sprint/1/issue",
            json!({"issues": [key]})
        )
        .await
        .status,
        204
    );
    let issue = api.sim.issue(&key).expect("issue");
    assert_eq!(issue["fields"]["customfield_10020"][0]["id"], 1);
    assert_eq!(
        api.sim.search("sprint in openSprints()").expect("search"),
        std::slice::from_ref(&key)
    );
    let backlog = api.get("/rest/agile/1.0/board/1/backlog").await;
    assert_eq!(backlog.body["total"], 0);
    assert_eq!(
        api.send(
            "POST",
            "/rest/agile/1.0/backlog/issue",
            json!({"issues": [key]})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        api.get("/rest/agile/1.0/board/1/backlog").await.body["total"],
        1
    );

    let created = api
        .send(
            "POST",
            "/rest/agile/1.0/sprint",
            json!({"name": "Sprint 2", "originBoardId": 1}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["state"], "future");
    let id = created.body["id"].as_u64().expect("id");
    let path = format!("/rest/agile/1.0/sprint/{id}");
    assert_eq!(
        api.send("POST", &path, json!({"state": "active"}))
            .await
            .status,
        400,
        "no dates yet"
    );
    let started = api
        .send("POST", &path, json!({"state": "active", "startDate": "2030-01-01T09:00:00.000Z", "endDate": "2030-01-15T09:00:00.000Z"}))
        .await;
    assert_eq!(started.body["state"], "active");
    let closed = api.send("POST", &path, json!({"state": "closed"})).await;
    assert_eq!(closed.body["state"], "closed");
    assert!(closed.body["completeDate"].is_string());
    assert_eq!(
        api.send("POST", &format!("{path}/issue"), json!({"issues": [key]}))
            .await
            .status,
        400,
        "closed sprints take no issues"
    );
    let events: Vec<String> = api
        .sim
        .fired_events()
        .into_iter()
        .map(|e| e.event)
        .filter(|e| e.starts_with("sprint_"))
        .collect();
    assert_eq!(
        events,
        ["sprint_created", "sprint_started", "sprint_closed"]
    );
    let config = api.get("/rest/agile/1.0/board/1/configuration").await;
    assert_eq!(
        config.body["estimation"]["field"]["fieldId"],
        "customfield_10016"
    );
}

#[tokio::test]
async fn data_center_sprint_field_is_greenhopper_text() {
    let api = Api::start(Deployment::DataCenter).await;
    let key = api.story("dc sprint").await;
    api.send(
        "POST",
        "/rest/agile/1.0/sprint/1/issue",
        json!({"issues": [key]}),
    )
    .await;
    let issue = api.sim.issue(&key).expect("issue");
    let sprint = issue["fields"]["customfield_10101"][0]
        .as_str()
        .expect("string sprint");
    assert!(
        sprint.contains("id=1,") && sprint.contains("state=ACTIVE"),
        "{sprint}"
    );
    let config = api.get("/rest/agile/1.0/board/1/configuration").await;
    assert_eq!(
        config.body["estimation"]["field"]["displayName"],
        "Story Points"
    );
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let api = Api::start(Deployment::Cloud).await;
    api.sim.set_rate_limit(Some(RateLimit {
        per_second: 0.01,
        burst: 2,
    }));
    assert_eq!(api.get("/rest/api/3/myself").await.status, 200);
    assert_eq!(api.get("/rest/api/3/myself").await.status, 200);
    let limited = api.get("/rest/api/3/myself").await;
    assert_eq!(limited.status, 429);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry >= 1);
    for h in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        assert!(limited.headers.contains_key(h), "{h} missing");
    }
    assert_eq!(api.sim.rate_limited_count(), 1);
    api.sim.set_rate_limit(None);
    assert_eq!(api.get("/rest/api/3/myself").await.status, 200);
}

#[tokio::test]
async fn injected_errors_fail_requests_without_side_effects() {
    let api = Api::start(Deployment::Cloud).await;
    api.sim.inject_errors(2, 503);
    let body = json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Task"}, "summary": "x"}});
    assert_eq!(
        api.send("POST", "/rest/api/2/issue", body.clone())
            .await
            .status,
        503
    );
    assert_eq!(
        api.send("POST", "/rest/api/2/issue", body.clone())
            .await
            .status,
        503
    );
    assert_eq!(api.sim.issue_count(), 0);
    assert_eq!(
        api.send("POST", "/rest/api/2/issue", body).await.status,
        201
    );
    assert_eq!(api.sim.requests_to("POST", "/rest/api/2/issue"), 3);
    api.sim.set_latency(Duration::from_millis(1));
    assert_eq!(
        api.get("/rest/api/2/issue/DEMO-1").await.status,
        200,
        "latency delays but still answers"
    );
}

#[tokio::test]
async fn bad_requests_get_jira_error_bodies() {
    let api = Api::start(Deployment::Cloud).await;
    let raw = api
        .client
        .post(format!("{}/rest/api/2/issue", api.sim.base_url()))
        .basic_auth("admin@example.com", Some("admin-token"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(raw.status().as_u16(), 400);
    let body: Value = raw.json().await.expect("json body");
    assert!(!error_messages(&body).is_empty());

    let missing = api
        .send(
            "POST",
            "/rest/api/2/issue",
            json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Story"}}}),
        )
        .await;
    assert_eq!(missing.status, 400);
    assert!(missing.body["errors"]["summary"].is_string());
    let unknown = api
        .send("POST", "/rest/api/2/issue", json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": "s", "customfield_99999": 1, "customfield_10016": "five", "labels": ["two words"]}}))
        .await;
    assert_eq!(unknown.status, 400);
    for f in ["customfield_99999", "customfield_10016", "labels"] {
        assert!(
            unknown.body["errors"][f].is_string(),
            "{f}: {}",
            unknown.body
        );
    }
    let v3_string = api
        .send("POST", "/rest/api/3/issue", json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": "s", "description": "plain"}}))
        .await;
    assert_eq!(v3_string.status, 400, "REST v3 wants a document");
    let missing_issue = api.get("/rest/api/3/issue/DEMO-404").await;
    assert_eq!(missing_issue.status, 404);
    assert_eq!(
        error_messages(&missing_issue.body),
        ["Issue does not exist or you do not have permission to see it."]
    );
    for (m, p) in [
        ("GET", "/rest/api/2/issue/%ZZ"),
        ("PUT", "/rest/api/2/issue/DEMO-1"),
        ("POST", "/rest/agile/1.0/sprint/abc"),
        ("GET", "/rest/api/2/search/jql?maxResults=-1"),
    ] {
        let r = api.send(m, p, json!([1, 2])).await;
        assert!((400..500).contains(&r.status), "{m} {p}: {}", r.status);
    }
}

#[tokio::test]
async fn descriptions_read_as_wiki_text_in_v2_and_documents_in_v3() {
    let api = Api::start(Deployment::Cloud).await;
    let doc = json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hello"}]}]});
    let r = api.send("POST", "/rest/api/3/issue", json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Task"}, "summary": "s", "description": doc}})).await;
    let key = r.body["key"].as_str().expect("key");
    assert_eq!(
        api.get(&format!("/rest/api/2/issue/{key}")).await.body["fields"]["description"],
        "Hello"
    );
    assert_eq!(
        api.get(&format!("/rest/api/3/issue/{key}")).await.body["fields"]["description"]["type"],
        "doc"
    );
}

#[tokio::test]
async fn state_survives_a_restart_with_a_data_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("sim.json");
    let mut config = SimConfig::new(Deployment::DataCenter);
    config.data_file = Some(file.clone());
    let api = Api::with(config.clone()).await;
    let key = api.story("persisted").await;
    api.sim.shutdown().await.expect("saves");
    assert!(file.exists());
    let again = Api::with(config).await;
    assert_eq!(
        again.sim.issue(&key).expect("still there")["fields"]["summary"],
        "persisted"
    );
    assert_eq!(
        again.story("next").await,
        "DEMO-2",
        "keys continue after a restart"
    );
    let mut wrong = SimConfig::new(Deployment::Cloud);
    wrong.data_file = Some(file);
    assert!(
        Simulator::start(wrong).await.is_err(),
        "a Data Center file does not start a Cloud simulator"
    );
}

#[tokio::test]
async fn generated_issues_form_a_realistic_hierarchy() {
    let mut config = SimConfig::new(Deployment::Cloud);
    config.generate = 300;
    let api = Api::with(config).await;
    assert_eq!(api.sim.search("project = DEMO").expect("search").len(), 300);
    let epics = api.sim.search("issuetype = Epic").expect("search").len();
    assert!(epics >= 12, "{epics} epics");
    let children = api
        .sim
        .search("parent is not EMPTY AND issuetype = Story")
        .expect("search")
        .len();
    assert!(children > 0);
    assert!(!api
        .sim
        .search("statusCategory = Done")
        .expect("search")
        .is_empty());
}

/// A receiver that records each delivery's headers and body.
async fn receiver() -> (String, Arc<Mutex<Vec<(hyper::HeaderMap, Bytes)>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let store = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let store = store.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let bytes = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        store.lock().expect("lock").push((parts.headers, bytes));
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::new(),
                        )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn webhooks_are_delivered_signed_and_filtered_by_jql() {
    let (url, seen) = receiver().await;
    let mut config = SimConfig::new(Deployment::Cloud);
    config
        .webhooks
        .push(SimWebhook::parse(&format!("{url}#s3cret")).expect("webhook"));
    let api = Api::with(config).await;
    // An admin webhook whose JQL matches nothing we create.
    let filtered = api
        .send("POST", "/rest/webhooks/1.0/webhook", json!({"name": "bugs", "url": url, "events": ["jira:issue_created"], "filters": {"issue-related-events-section": "issuetype = Bug"}}))
        .await;
    assert_eq!(filtered.status, 201, "{}", filtered.body);
    let bad = api
        .send("POST", "/rest/webhooks/1.0/webhook", json!({"name": "bad", "url": url, "events": ["jira:issue_created"], "filters": {"issue-related-events-section": "project = = X"}}))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        api.get("/rest/webhooks/1.0/webhook")
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    api.story("hooked").await;
    tokio::time::timeout(Duration::from_secs(10), api.sim.webhooks_idle())
        .await
        .expect("deliveries finish");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen.len(),
        1,
        "only the unfiltered webhook fires for a story"
    );
    let (headers, body) = &seen[0];
    let value: Value = serde_json::from_slice(body).expect("json");
    assert_eq!(value["webhookEvent"], "jira:issue_created");
    assert_eq!(value["issue"]["key"], "DEMO-1");
    assert!(
        value["issue"]["self"]
            .as_str()
            .expect("self")
            .contains("/rest/api/2/"),
        "webhooks carry REST v2 issues"
    );
    assert!(headers.contains_key("x-atlassian-webhook-identifier"));
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").expect("key");
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        headers["x-hub-signature"].to_str().expect("ascii"),
        expected
    );

    let id = filtered.body["self"]
        .as_str()
        .expect("self")
        .rsplit('/')
        .next()
        .expect("id")
        .to_string();
    assert_eq!(
        api.as_(
            api.auth,
            "DELETE",
            &format!("/rest/webhooks/1.0/webhook/{id}"),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        api.get("/rest/webhooks/1.0/webhook")
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn data_center_puts_stories_in_epics_with_the_epic_link() {
    let api = Api::start(Deployment::DataCenter).await;
    // Data Center 8 and 9 refuse an Epic without its Epic Name.
    let unnamed = api
        .send("POST", "/rest/api/2/issue", json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Epic"}, "summary": "Epic"}}))
        .await;
    assert_eq!(unnamed.status, 400, "{}", unnamed.body);
    assert_eq!(
        unnamed.body["errors"]["customfield_10102"], "Epic Name is required.",
        "{}",
        unnamed.body
    );
    let epic = api
        .send("POST", "/rest/api/2/issue", json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Epic"}, "summary": "Epic", "customfield_10102": "Epic"}}))
        .await;
    let epic = epic.body["key"].as_str().expect("key").to_string();
    let by_parent = api
        .send("POST", "/rest/api/2/issue", json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": "s", "parent": {"key": epic}}}))
        .await;
    assert_eq!(
        by_parent.status, 400,
        "Data Center has no epic parent: {}",
        by_parent.body
    );
    assert!(by_parent.body["errors"]["parent"].is_string());
    let story = api
        .send("POST", "/rest/api/2/issue", json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": "s", "customfield_10100": epic}}))
        .await;
    assert_eq!(story.status, 201, "{}", story.body);
    let key = story.body["key"].as_str().expect("key");
    let issue = api.sim.issue(key).expect("issue");
    assert_eq!(issue["fields"]["customfield_10100"], epic.as_str());
    assert!(
        issue["fields"].get("parent").is_none(),
        "no parent field for epic children on DC"
    );
    assert_eq!(
        api.sim
            .search(&format!("\"Epic Link\" = {epic}"))
            .expect("search"),
        [key]
    );
    let other = api
        .send("POST", "/rest/api/2/issue", json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Epic"}, "summary": "Other epic", "customfield_10102": "Other epic"}}))
        .await;
    let other = other.body["key"].as_str().expect("key").to_string();
    let moved = api
        .send(
            "PUT",
            &format!("/rest/api/2/issue/{key}"),
            json!({"fields": {"customfield_10100": other}}),
        )
        .await;
    assert_eq!(moved.status, 204);
    let change =
        api.sim.fired_events().last().expect("event").body["changelog"]["items"][0].clone();
    assert_eq!(change["field"], "Epic Link", "{change}");
    assert_eq!(change["toString"], other.as_str());
}

#[tokio::test]
async fn worklog_and_version_changes_fire_their_events() {
    let api = Api::start(Deployment::Cloud).await;
    let key = api.story("logged").await;
    let w = api
        .send(
            "POST",
            &format!("/rest/api/2/issue/{key}/worklog"),
            json!({"timeSpent": "1h"}),
        )
        .await;
    assert_eq!(w.status, 201);
    assert_eq!(w.body["timeSpentSeconds"], 3600);
    let wid = w.body["id"].as_str().expect("id");
    let updated = api
        .send(
            "PUT",
            &format!("/rest/api/2/issue/{key}/worklog/{wid}"),
            json!({"timeSpent": "2h"}),
        )
        .await;
    assert_eq!(updated.body["timeSpent"], "2h");
    assert_eq!(
        api.as_(
            api.auth,
            "DELETE",
            &format!("/rest/api/2/issue/{key}/worklog/{wid}"),
            None
        )
        .await
        .status,
        204
    );
    let v = api
        .send(
            "POST",
            "/rest/api/2/version",
            json!({"projectId": 10000, "name": "9.9"}),
        )
        .await;
    assert_eq!(v.status, 201);
    let vid = v.body["id"].as_str().expect("id");
    assert_eq!(
        api.send(
            "PUT",
            &format!("/rest/api/2/version/{vid}"),
            json!({"released": true})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        api.as_(
            api.auth,
            "DELETE",
            &format!("/rest/api/2/version/{vid}"),
            None
        )
        .await
        .status,
        204
    );
    let events: Vec<String> = api
        .sim
        .fired_events()
        .into_iter()
        .map(|e| e.event)
        .filter(|e| e.starts_with("worklog_") || e.starts_with("jira:version_"))
        .collect();
    assert_eq!(
        events,
        [
            "worklog_created",
            "worklog_updated",
            "worklog_deleted",
            "jira:version_created",
            "jira:version_released",
            "jira:version_deleted"
        ]
    );
}

#[tokio::test]
async fn reads_see_every_write_immediately() {
    let api = Api::start(Deployment::Cloud).await;
    let key = api.story("before").await;
    let path = format!("/rest/api/2/issue/{key}");
    let search = "/rest/api/3/search/jql?jql=project%3DDEMO&fields=*all";
    assert_eq!(api.get(&path).await.body["fields"]["summary"], "before");
    assert_eq!(
        api.get(search).await.body["issues"][0]["fields"]["summary"],
        "before"
    );
    assert_eq!(
        api.send("PUT", &path, json!({"fields": {"summary": "after"}}))
            .await
            .status,
        204
    );
    assert_eq!(api.get(&path).await.body["fields"]["summary"], "after");
    assert_eq!(
        api.get(search).await.body["issues"][0]["fields"]["summary"],
        "after"
    );
    api.send("POST", &format!("{path}/comment"), json!({"body": "hi"}))
        .await;
    assert_eq!(api.get(&path).await.body["fields"]["comment"]["total"], 1);
}

#[tokio::test]
async fn the_cached_full_form_equals_the_rendered_one() {
    for deployment in [Deployment::Cloud, Deployment::DataCenter] {
        let mut config = SimConfig::new(deployment);
        config.generate = 60;
        let api = Api::with(config).await;
        api.send("POST", "/rest/api/2/issueLink", json!({"type": {"name": "Blocks"}, "inwardIssue": {"key": "DEMO-2"}, "outwardIssue": {"key": "DEMO-3"}})).await;
        let versions: &[u8] = if deployment == Deployment::Cloud {
            &[2, 3]
        } else {
            &[2]
        };
        for v in versions {
            for n in 1..=60 {
                let cached = api.get(&format!("/rest/api/{v}/issue/DEMO-{n}")).await.body;
                let rendered = api
                    .get(&format!(
                        "/rest/api/{v}/issue/DEMO-{n}?fields=*all,-nothing"
                    ))
                    .await
                    .body;
                assert_eq!(cached, rendered, "{deployment:?} v{v} DEMO-{n}");
            }
        }
    }
}

#[tokio::test]
async fn cached_reads_follow_changes_to_related_issues() {
    let api = Api::start(Deployment::Cloud).await;
    let epic = api.send("POST", "/rest/api/2/issue", json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Epic"}, "summary": "epic"}})).await;
    let epic = epic.body["key"].as_str().expect("key").to_string();
    let story = api.send("POST", "/rest/api/2/issue", json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": "story", "parent": {"key": epic}}})).await;
    let story = story.body["key"].as_str().expect("key").to_string();
    let other = api.story("other").await;
    let get = |key: &str| format!("/rest/api/2/issue/{key}");
    // Warm the cache for all three.
    for k in [&epic, &story, &other] {
        api.get(&get(k)).await;
    }
    api.send(
        "PUT",
        &get(&epic),
        json!({"fields": {"summary": "epic renamed"}}),
    )
    .await;
    assert_eq!(
        api.get(&get(&story)).await.body["fields"]["parent"]["fields"]["summary"],
        "epic renamed"
    );

    api.send("POST", "/rest/api/2/issueLink", json!({"type": {"name": "Blocks"}, "inwardIssue": {"key": other}, "outwardIssue": {"key": story}})).await;
    api.get(&get(&other)).await;
    api.send(
        "POST",
        &format!("{}/transitions", get(&story)),
        json!({"transition": {"id": "21"}}),
    )
    .await;
    let links = api.get(&get(&other)).await.body["fields"]["issuelinks"].clone();
    assert_eq!(
        links[0]["outwardIssue"]["fields"]["status"]["name"], "In Progress",
        "{links}"
    );

    let sub = api.send("POST", "/rest/api/2/issue", json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Sub-task"}, "summary": "sub", "parent": {"key": story}}})).await;
    assert_eq!(sub.status, 201);
    assert_eq!(
        api.get(&get(&story)).await.body["fields"]["subtasks"][0]["key"],
        sub.body["key"]
    );

    api.send(
        "POST",
        "/rest/agile/1.0/sprint/1/issue",
        json!({"issues": [story]}),
    )
    .await;
    api.send(
        "POST",
        "/rest/agile/1.0/sprint/1",
        json!({"name": "Renamed sprint"}),
    )
    .await;
    assert_eq!(
        api.get(&get(&story)).await.body["fields"]["customfield_10020"][0]["name"],
        "Renamed sprint"
    );
}

/// Issue entity properties as Jira keeps them: set on create or with PUT (201 new, 200
/// replaced), listed and read back, 404 with Jira's message when absent, returned on reads
/// only when asked (`properties=`), found by JQL only once an app declares them indexed.
#[tokio::test]
async fn issue_entity_properties_are_kept_read_and_searched_only_when_indexed() {
    let api = Api::start(Deployment::Cloud).await;
    let r = api
        .send(
            "POST",
            "/rest/api/3/issue",
            json!({
                "fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": "with a property"},
                "properties": [{"key": "tandem.item", "value": {"item": "tandem-item-ws-ITEM-1"}}],
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.body["key"].as_str().expect("key").to_owned();
    let got = api
        .get(&format!("/rest/api/3/issue/{key}/properties/tandem.item"))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["value"]["item"], "tandem-item-ws-ITEM-1");
    let put = api
        .send(
            "PUT",
            &format!("/rest/api/3/issue/{key}/properties/other"),
            json!({"n": 1}),
        )
        .await;
    assert_eq!(put.status, 201);
    let again = api
        .send(
            "PUT",
            &format!("/rest/api/3/issue/{key}/properties/other"),
            json!({"n": 2}),
        )
        .await;
    assert_eq!(again.status, 200);
    let keys = api
        .get(&format!("/rest/api/3/issue/{key}/properties"))
        .await;
    let names: Vec<&str> = keys.body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["key"].as_str())
        .collect();
    assert_eq!(names, ["other", "tandem.item"]);
    let missing = api
        .get(&format!("/rest/api/3/issue/{key}/properties/nope"))
        .await;
    assert_eq!(missing.status, 404);
    assert!(error_messages(&missing.body)[0].contains("does not exist"));
    // Reads carry properties only when asked.
    let plain = api.get(&format!("/rest/api/3/issue/{key}")).await;
    assert!(plain.body.get("properties").is_none(), "{}", plain.body);
    let asked = api
        .get(&format!("/rest/api/3/issue/{key}?properties=tandem.item"))
        .await;
    assert_eq!(
        asked.body["properties"],
        json!({"tandem.item": {"item": "tandem-item-ws-ITEM-1"}})
    );
    // JQL finds a property only once it is indexed.
    let jql = "issue.property[tandem.item].item = \"tandem-item-ws-ITEM-1\"";
    assert!(api.sim.search(jql).expect("search").is_empty());
    api.sim.index_property("tandem.item");
    assert_eq!(api.sim.search(jql).expect("search"), vec![key.clone()]);
    let deleted = api
        .send(
            "DELETE",
            &format!("/rest/api/3/issue/{key}/properties/other"),
            Value::Null,
        )
        .await;
    assert_eq!(deleted.status, 204);
}

/// `createmeta?projectKeys=A&projectKeys=B` is a list, as Jira reads it (the simulator kept
/// only the first value before).
#[tokio::test]
async fn createmeta_reads_repeated_project_keys_as_a_list() {
    let api = Api::start(Deployment::Cloud).await;
    api.sim.create_project("OPS", "Operations").expect("OPS");
    let r = api
        .get("/rest/api/3/issue/createmeta?projectKeys=DEMO&projectKeys=OPS")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let keys: Vec<&str> = r.body["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .filter_map(|p| p["key"].as_str())
        .collect();
    assert_eq!(keys, ["DEMO", "OPS"]);
}

/// Looking issues up by key or id (what an import asks for Epic Links) finds exactly what
/// evaluating the query over every issue finds: the other clauses still apply, and keys
/// written as Jira also reads them (`demo-07`, ids, a key that does not exist) still work.
#[tokio::test]
async fn key_and_id_lookups_find_what_a_full_search_finds() {
    let mut config = SimConfig::new(Deployment::DataCenter);
    config.generate = 60;
    let api = Api::with(config).await;
    let search = |q: &str| api.sim.search(q).expect("search");
    assert_eq!(
        search("key in (DEMO-3, DEMO-1, DEMO-2, DEMO-1) ORDER BY key ASC"),
        ["DEMO-1", "DEMO-2", "DEMO-3"]
    );
    assert_eq!(search("key = demo-07"), ["DEMO-7"]);
    assert_eq!(search("key in (DEMO-5, DEMO-999)"), ["DEMO-5"]);
    let epic = search("issuetype = Epic ORDER BY key ASC")[0].clone();
    let story = search("issuetype = Story ORDER BY key ASC")[0].clone();
    assert_eq!(
        search(&format!("key in ({epic}, {story}) AND issuetype = Epic")),
        vec![epic.clone()]
    );
    let id = api.sim.issue(&epic).expect("issue")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(search(&format!("id = {id}")), vec![epic.clone()]);
    assert_eq!(
        search(&format!("id in ({id}) OR key = {story} ORDER BY key ASC")).len(),
        2,
        "an OR is not restricted to the first clause's keys"
    );
}
