//! The simulator's faults as a client outside the process reaches them: the control surface
//! `/_sim/faults` (administrators only), the `tandem jira-sim` fault flags, lost responses, and
//! webhook delivery identifiers that stay unique across restarts.
//!
//! Timing is asserted only as lower bounds (a delay is at least what was asked) or with bounds
//! far above what an idle machine needs; rates are checked with a fixed seed and wide margins.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tandem::sim::webhooks::{DispatcherConfig, Outcome};
use tandem::sim::{Deployment, SimConfig, SimHandle, SimWebhook, Simulator};

const ADMIN: (&str, &str) = ("admin@example.com", "admin-token");
const USER: (&str, &str) = ("user@example.com", "user-token");

struct Sim {
    sim: SimHandle,
    client: reqwest::Client,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Sim {
    async fn start() -> Sim {
        Sim::with(SimConfig::new(Deployment::Cloud)).await
    }

    async fn with(config: SimConfig) -> Sim {
        Sim {
            sim: Simulator::start(config).await.expect("simulator starts"),
            // No pooled connection survives a dropped one into the next test step.
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("client"),
        }
    }

    async fn try_call(
        &self,
        auth: Option<(&str, &str)>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Reply, reqwest::Error> {
        let mut rb = self.client.request(
            method.parse().expect("method"),
            format!("{}{path}", self.sim.base_url()),
        );
        if let Some((u, p)) = auth {
            rb = rb.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        Ok(Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        })
    }

    async fn call(
        &self,
        auth: Option<(&str, &str)>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        self.try_call(auth, method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// `PUT /_sim/faults` as the administrator; panics unless it is accepted.
    async fn put_faults(&self, faults: Value) -> Value {
        let r = self
            .call(Some(ADMIN), "PUT", "/_sim/faults", Some(faults))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    async fn reset(&self) {
        let r = self
            .call(Some(ADMIN), "POST", "/_sim/faults/reset", None)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }

    /// A Jira request as the administrator.
    async fn jira(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.call(Some(ADMIN), method, path, body).await
    }

    async fn story(&self, summary: &str) -> Reply {
        self.jira(
            "POST",
            "/rest/api/2/issue",
            Some(json!({"fields": {"project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": summary}})),
        )
        .await
    }
}

async fn settle(sim: &SimHandle) {
    tokio::time::timeout(Duration::from_secs(30), sim.webhooks_idle())
        .await
        .expect("webhook deliveries settle");
}

#[tokio::test]
async fn the_control_surface_refuses_anyone_but_an_administrator() {
    let s = Sim::start().await;
    let before = s.sim.faults();
    for (method, path, body) in [
        ("GET", "/_sim/faults", None),
        ("PUT", "/_sim/faults", Some(json!({"outage": 503}))),
        ("PATCH", "/_sim/faults", Some(json!({"outage": 503}))),
        ("POST", "/_sim/faults/reset", None),
    ] {
        let anonymous = s.call(None, method, path, body.clone()).await;
        assert_eq!(anonymous.status, 401, "{method} {path}: {}", anonymous.body);
        assert!(anonymous.headers.contains_key("www-authenticate"));
        let wrong = s
            .call(Some((ADMIN.0, "not-the-token")), method, path, body.clone())
            .await;
        assert_eq!(wrong.status, 401, "{method} {path}");
        let user = s.call(Some(USER), method, path, body).await;
        assert_eq!(user.status, 403, "{method} {path}: {}", user.body);
        assert!(
            user.body["errorMessages"][0]
                .as_str()
                .is_some_and(|m| m.contains("administrators")),
            "{}",
            user.body
        );
    }
    assert_eq!(s.sim.faults(), before, "refused calls changed nothing");
    assert_eq!(
        s.jira("GET", "/rest/api/2/myself", None).await.status,
        200,
        "no outage"
    );

    // The administrator of a Data Center simulator (username and password) gets in.
    let dc = Sim::with(SimConfig::new(Deployment::DataCenter)).await;
    let r = dc
        .call(Some(("admin", "admin")), "GET", "/_sim/faults", None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = dc
        .call(Some(("user", "user")), "GET", "/_sim/faults", None)
        .await;
    assert_eq!(r.status, 403);

    // The controls live outside Jira's REST namespace, and only there.
    assert_eq!(
        s.jira("GET", "/rest/api/2/_sim/faults", None).await.status,
        404
    );
    assert_eq!(s.jira("GET", "/_sim/nothing", None).await.status, 404);
    let wrong_method = s.jira("DELETE", "/_sim/faults", None).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.headers["allow"], "GET, PUT, PATCH");
}

#[tokio::test]
async fn settings_read_back_as_written_and_bad_ones_are_refused_naming_the_field() {
    let s = Sim::start().await;
    let all = json!({
        "seed": 5,
        "latencyMs": 1,
        "jitterMs": 2,
        "readLatencyMs": 3,
        "errorRate": 0.0,
        "errorStatus": 502,
        "injectErrors": {"count": 0, "status": 504},
        "outage": null,
        "rateLimit": {"perSecond": 1000.0, "burst": 2000},
        "lostResponses": {"rate": 0.0, "count": 0, "answer": "drop"},
        "webhooks": {"dropRate": 0.25, "duplicate": true, "reorder": true, "delayMs": 4}
    });
    assert_eq!(s.put_faults(all.clone()).await, all);
    let got = s.jira("GET", "/_sim/faults", None).await;
    assert_eq!(got.body, all);
    // The handle sees what HTTP set: one set of faults.
    let f = s.sim.faults();
    assert_eq!(f.latency, Duration::from_millis(1));
    assert_eq!(f.webhooks.drop_rate, 0.25);

    // PATCH merges; PUT replaces (omitted fields are off, the seed stays).
    let patched = s
        .call(
            Some(ADMIN),
            "PATCH",
            "/_sim/faults",
            Some(json!({"latencyMs": 7, "rateLimit": null})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["latencyMs"], 7);
    assert_eq!(patched.body["jitterMs"], 2);
    assert_eq!(patched.body["rateLimit"], Value::Null);
    let replaced = s.put_faults(json!({"latencyMs": 9})).await;
    assert_eq!(replaced["latencyMs"], 9);
    assert_eq!(replaced["jitterMs"], 0);
    assert_eq!(replaced["webhooks"]["duplicate"], false);
    assert_eq!(replaced["seed"], 5);

    for (body, field) in [
        (json!({"errorRate": 1.5}), "errorRate"),
        (json!({"outage": 200}), "outage"),
        (json!({"latencyMs": 3_600_001}), "latencyMs"),
        (json!({"webhooks": {"dropRate": -0.1}}), "webhooks.dropRate"),
        (
            json!({"rateLimit": {"perSecond": 0, "burst": 1}}),
            "rateLimit",
        ),
        (
            json!({"injectErrors": {"count": 1, "status": 99}}),
            "injectErrors.status",
        ),
    ] {
        let r = s
            .call(Some(ADMIN), "PUT", "/_sim/faults", Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.body["errors"].get(field).is_some(), "{body}: {}", r.body);
    }
    for body in [
        json!({"latency": 5}),
        json!({"latencyMs": -5}),
        json!({"lostResponses": {"answer": 200}}),
        json!([1]),
    ] {
        let r = s
            .call(Some(ADMIN), "PUT", "/_sim/faults", Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.body["errorMessages"][0].is_string(), "{}", r.body);
    }
    assert_eq!(
        s.sim.faults().latency,
        Duration::from_millis(9),
        "refused settings changed nothing"
    );

    s.reset().await;
    let quiet = s.jira("GET", "/_sim/faults", None).await.body;
    assert_eq!(quiet["latencyMs"], 0);
    assert_eq!(quiet["seed"], 5, "reset keeps the seed");
    assert!(s.sim.faults().is_quiet());
}

#[tokio::test]
async fn latency_jitter_and_read_latency_set_over_http_slow_requests_down() {
    let s = Sim::start().await;
    s.put_faults(json!({"latencyMs": 300})).await;
    let t = Instant::now();
    assert_eq!(s.jira("GET", "/rest/api/2/myself", None).await.status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    // The controls themselves are never delayed (nor rate limited, nor down).
    s.put_faults(
        json!({"latencyMs": 60_000, "outage": 503, "rateLimit": {"perSecond": 0.001, "burst": 1}}),
    )
    .await;
    let t = Instant::now();
    s.reset().await;
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());

    s.put_faults(json!({"readLatencyMs": 300})).await;
    let t = Instant::now();
    assert_eq!(s.jira("GET", "/rest/api/2/myself", None).await.status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );

    // Jitter: each request waits a seeded random share of it; over a handful one waits long.
    s.put_faults(json!({"jitterMs": 400, "seed": 3})).await;
    let mut longest = Duration::ZERO;
    for _ in 0..8 {
        let t = Instant::now();
        assert_eq!(s.jira("GET", "/rest/api/2/myself", None).await.status, 200);
        longest = longest.max(t.elapsed());
    }
    assert!(longest >= Duration::from_millis(50), "longest {longest:?}");
}

/// Statuses of `n` sequential anonymous reads.
async fn statuses(s: &Sim, n: usize) -> Vec<u16> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(
            s.call(None, "GET", "/rest/api/2/serverInfo", None)
                .await
                .status,
        );
    }
    out
}

#[tokio::test]
async fn error_rate_over_http_fails_about_that_share_and_a_seed_replays_it() {
    let s = Sim::start().await;
    let faults = json!({"errorRate": 0.3, "errorStatus": 503, "seed": 42});
    s.put_faults(faults.clone()).await;
    let first = statuses(&s, 200).await;
    let failed = first.iter().filter(|st| **st == 503).count();
    assert!(first.iter().all(|st| *st == 200 || *st == 503), "{first:?}");
    assert!((30..=90).contains(&failed), "{failed} of 200 failed at 0.3");
    s.put_faults(faults).await;
    assert_eq!(statuses(&s, 200).await, first, "the same seed replays");

    // A failed request does nothing.
    s.put_faults(json!({"errorRate": 1.0})).await;
    let before = s.sim.issue_count();
    assert_eq!(s.story("never").await.status, 500);
    assert_eq!(s.sim.issue_count(), before);

    // A fixed number of failures counts down, visibly.
    s.put_faults(json!({"injectErrors": {"count": 2, "status": 502}}))
        .await;
    assert_eq!(statuses(&s, 3).await, vec![502, 502, 200]);
    assert_eq!(
        s.jira("GET", "/_sim/faults", None).await.body["injectErrors"]["count"],
        0
    );
}

#[tokio::test]
async fn outage_and_rate_limit_over_http_and_control_calls_are_not_jira_traffic() {
    let s = Sim::start().await;
    s.put_faults(json!({"outage": 503})).await;
    assert_eq!(s.jira("GET", "/rest/api/2/myself", None).await.status, 503);
    s.put_faults(json!({"rateLimit": {"perSecond": 0.001, "burst": 2}}))
        .await;
    let got: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(s.jira("GET", "/rest/api/2/myself", None).await.status);
        }
        v
    };
    assert_eq!(got, vec![200, 200, 429]);
    let limited = s.jira("GET", "/rest/api/2/myself", None).await;
    assert!(limited.headers.contains_key("retry-after"));
    assert_eq!(s.sim.rate_limited_count(), 2);
    // 1 outage + 4 rate-limited reads: the control calls are neither counted nor logged.
    assert_eq!(s.sim.request_count(), 5);
    assert!(s
        .sim
        .request_log()
        .iter()
        .all(|r| r.path.starts_with("/rest/")));
}

#[tokio::test]
async fn a_lost_response_still_applies_the_write() {
    let s = Sim::start().await;
    let before = s.sim.issue_count();

    // Answered with an error, applied all the same (and announced by webhook).
    s.put_faults(json!({"lostResponses": {"count": 1, "answer": 503}}))
        .await;
    assert_eq!(s.story("lost create").await.status, 503);
    assert_eq!(s.sim.issue_count(), before + 1, "the create happened");
    // It was announced too: the webhook carries the key the client never saw.
    let created = s
        .sim
        .fired_events()
        .into_iter()
        .rev()
        .find(|e| e.event == "jira:issue_created")
        .expect("issue_created fired");
    assert_eq!(created.body["issue"]["fields"]["summary"], "lost create");
    let key = created.body["issue"]["key"]
        .as_str()
        .expect("key")
        .to_string();
    // The count ran out: the next write is answered.
    assert_eq!(s.story("answered").await.status, 201);
    assert_eq!(s.sim.lost_response_count(), 1);

    // Dropped: the connection closes without an answer, after the comment was added.
    s.put_faults(json!({"lostResponses": {"count": 1, "answer": "drop"}}))
        .await;
    let sent = s
        .try_call(
            Some(ADMIN),
            "POST",
            &format!("/rest/api/2/issue/{key}/comment"),
            Some(json!({"body": "said once"})),
        )
        .await;
    assert!(
        sent.is_err(),
        "no answer expected, got {:?}",
        sent.map(|r| r.status)
    );
    let comments = s
        .jira("GET", &format!("/rest/api/2/issue/{key}/comment"), None)
        .await;
    assert_eq!(comments.body["total"], 1, "{}", comments.body);
    let logged = s
        .sim
        .request_log()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/comment"))
        .expect("the comment request is logged");
    assert_eq!(logged.status, 0, "the log shows no answer was sent");

    // At rate 1 every write loses its answer (edit, transition) but reads and searches do not.
    s.put_faults(json!({"lostResponses": {"rate": 1.0, "answer": 502}}))
        .await;
    let edit = s
        .jira(
            "PUT",
            &format!("/rest/api/2/issue/{key}"),
            Some(json!({"fields": {"summary": "edited"}})),
        )
        .await;
    assert_eq!(edit.status, 502);
    let transitions = s
        .jira("GET", &format!("/rest/api/2/issue/{key}/transitions"), None)
        .await;
    assert_eq!(transitions.status, 200);
    let to_progress = transitions.body["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .find(|t| t["to"]["name"] == "In Progress")
        .expect("a transition to In Progress")["id"]
        .clone();
    let moved = s
        .jira(
            "POST",
            &format!("/rest/api/2/issue/{key}/transitions"),
            Some(json!({"transition": {"id": to_progress}})),
        )
        .await;
    assert_eq!(moved.status, 502);
    let issue = s.sim.issue(&key).expect("issue");
    assert_eq!(issue["fields"]["summary"], "edited");
    assert_eq!(issue["fields"]["status"]["name"], "In Progress");
    let search = s
        .jira(
            "POST",
            "/rest/api/3/search/jql",
            Some(json!({"jql": "project = DEMO", "fields": ["summary"]})),
        )
        .await;
    assert_eq!(search.status, 200, "{}", search.body);
    // A refused write did nothing, so it has no response to lose.
    let refused = s
        .jira(
            "POST",
            "/rest/api/2/issue",
            Some(json!({"fields": {"project": {"key": "NOPE"}}})),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(s.sim.lost_response_count(), 4);
}

/// A receiver that records each delivery's headers and body, and answers 500 to the first
/// attempt of each identifier when `fail_first` is set.
async fn receiver(fail_first: bool) -> (String, Arc<Mutex<Vec<(hyper::HeaderMap, Bytes)>>>) {
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
                        let id = parts.headers.get("x-atlassian-webhook-identifier").cloned();
                        let mut seen = store.lock().expect("lock");
                        let again = seen.iter().any(|(h, _): &(hyper::HeaderMap, Bytes)| {
                            h.get("x-atlassian-webhook-identifier") == id.as_ref()
                        });
                        seen.push((parts.headers, bytes));
                        let mut resp = hyper::Response::new(Full::new(Bytes::new()));
                        if fail_first && !again {
                            *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                        }
                        Ok::<_, std::convert::Infallible>(resp)
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

fn identifiers(seen: &[(hyper::HeaderMap, Bytes)]) -> Vec<String> {
    seen.iter()
        .map(|(h, _)| {
            h["x-atlassian-webhook-identifier"]
                .to_str()
                .expect("ascii")
                .to_string()
        })
        .collect()
}

fn fast_retries() -> DispatcherConfig {
    DispatcherConfig {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        ..DispatcherConfig::default()
    }
}

async fn with_receiver(fail_first: bool) -> (Sim, Arc<Mutex<Vec<(hyper::HeaderMap, Bytes)>>>) {
    let (url, seen) = receiver(fail_first).await;
    let mut config = SimConfig::new(Deployment::Cloud);
    config
        .webhooks
        .push(SimWebhook::parse(&url).expect("webhook"));
    config.dispatcher = fast_retries();
    (Sim::with(config).await, seen)
}

#[tokio::test]
async fn webhook_faults_set_over_http_are_seen_by_a_receiver() {
    let (s, seen) = with_receiver(false).await;

    // Duplicate: every event twice, both copies with one identifier.
    s.put_faults(json!({"webhooks": {"duplicate": true}})).await;
    for n in 0..3 {
        assert_eq!(s.story(&format!("dup {n}")).await.status, 201);
    }
    settle(&s.sim).await;
    let ids = identifiers(&seen.lock().expect("lock"));
    assert_eq!(ids.len(), 6, "{ids:?}");
    let mut per_id: HashMap<&String, usize> = HashMap::new();
    for id in &ids {
        *per_id.entry(id).or_default() += 1;
    }
    assert_eq!(per_id.len(), 3);
    assert!(per_id.values().all(|n| *n == 2), "{per_id:?}");

    // Drop everything: nothing arrives, and the simulator says why.
    seen.lock().expect("lock").clear();
    s.put_faults(json!({"webhooks": {"dropRate": 1.0}})).await;
    assert_eq!(s.story("dropped").await.status, 201);
    settle(&s.sim).await;
    assert!(seen.lock().expect("lock").is_empty());
    assert_eq!(
        s.sim.webhook_deliveries().last().map(|d| d.outcome.clone()),
        Some(Outcome::Dropped)
    );

    // Drop some, with a seed: about that share is lost.
    s.put_faults(json!({"webhooks": {"dropRate": 0.5}, "seed": 11}))
        .await;
    for n in 0..20 {
        assert_eq!(s.story(&format!("maybe {n}")).await.status, 201);
    }
    settle(&s.sim).await;
    let arrived = seen.lock().expect("lock").len();
    assert!(
        (3..=17).contains(&arrived),
        "{arrived} of 20 arrived at 0.5"
    );

    // Reorder: events fired together arrive shuffled.
    seen.lock().expect("lock").clear();
    s.put_faults(json!({"webhooks": {"reorder": true}, "seed": 1}))
        .await;
    let mut keys = Vec::new();
    for n in 0..10 {
        let created = s
            .sim
            .create_issue(json!({"project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": format!("order {n}")}))
            .expect("create");
        keys.push(created.key);
    }
    settle(&s.sim).await;
    let order: Vec<String> = seen
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, b)| {
            serde_json::from_slice::<Value>(b).expect("json")["issue"]["key"]
                .as_str()
                .expect("key")
                .to_string()
        })
        .collect();
    assert_eq!(order.len(), 10);
    assert_ne!(order, keys, "reordered");

    // Delay: nothing is delivered before the delay is over.
    seen.lock().expect("lock").clear();
    s.put_faults(json!({"webhooks": {"delayMs": 400}})).await;
    let t = Instant::now();
    assert_eq!(s.story("late").await.status, 201);
    settle(&s.sim).await;
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(seen.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn delivery_identifiers_are_unique_across_restarts_and_kept_by_retries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("sim.json");
    let (url, seen) = receiver(true).await;
    let start = |data_file: Option<std::path::PathBuf>| {
        let mut config = SimConfig::new(Deployment::Cloud);
        config
            .webhooks
            .push(SimWebhook::parse(&url).expect("webhook"));
        config.dispatcher = fast_retries();
        config.data_file = data_file;
        Sim::with(config)
    };

    let first = start(Some(data.clone())).await;
    for n in 0..3 {
        assert_eq!(first.story(&format!("before {n}")).await.status, 201);
    }
    settle(&first.sim).await;
    let seen_first = seen.lock().expect("lock").clone();
    // Every delivery was refused once and retried under its own identifier.
    let ids = identifiers(&seen_first);
    assert_eq!(ids.len(), 6, "{ids:?}");
    let retried: Vec<&(hyper::HeaderMap, Bytes)> = seen_first
        .iter()
        .filter(|(h, _)| h.get("x-atlassian-webhook-retry").is_some())
        .collect();
    assert_eq!(retried.len(), 3);
    let first_ids: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(first_ids.len(), 3, "one identifier per delivery: {ids:?}");
    first.sim.shutdown().await.expect("shutdown");

    // The same simulator again, from its data file: new events, new identifiers.
    seen.lock().expect("lock").clear();
    let second = start(Some(data.clone())).await;
    assert!(second.sim.issue_count() >= 3, "state survived the restart");
    for n in 0..3 {
        assert_eq!(second.story(&format!("after {n}")).await.status, 201);
    }
    settle(&second.sim).await;
    let second_ids: HashSet<String> = identifiers(&seen.lock().expect("lock"))
        .into_iter()
        .collect();
    assert_eq!(second_ids.len(), 3);
    assert!(
        first_ids.is_disjoint(&second_ids),
        "{first_ids:?} vs {second_ids:?}"
    );

    // Two simulators at once do not share identifiers either.
    seen.lock().expect("lock").clear();
    let other = start(None).await;
    assert_eq!(other.story("elsewhere").await.status, 201);
    settle(&other.sim).await;
    let other_ids: HashSet<String> = identifiers(&seen.lock().expect("lock"))
        .into_iter()
        .collect();
    assert_eq!(other_ids.len(), 1);
    assert!(other_ids.is_disjoint(&second_ids) && other_ids.is_disjoint(&first_ids));
}

fn tandem() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tandem"));
    cmd.kill_on_drop(true)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

#[tokio::test]
async fn jira_sim_flags_reject_nonsense_naming_the_flag() {
    for (args, flag) in [
        (&["--latency", "-5"][..], "--latency"),
        (&["--latency", "fast"], "--latency"),
        (&["--jitter", "1.5"], "--jitter"),
        (&["--error-rate", "1.5"], "--error-rate"),
        (&["--error-rate", "often"], "--error-rate"),
        (
            &["--error-rate", "0.1", "--error-status", "200"],
            "--error-status",
        ),
        (&["--error-status", "503"], "--error-rate"),
        (&["--webhook-drop", "2"], "--webhook-drop"),
        (&["--webhook-delay", "99999999"], "--webhook-delay"),
        (
            &["--lose-responses", "0.5", "--lose-responses-as", "404"],
            "--lose-responses-as",
        ),
        (&["--rate-limit", "0"], "--rate-limit"),
        (&["--fault-seed", "-1"], "--fault-seed"),
        (&["--webhook-duplicate=yes"], "--webhook-duplicate"),
    ] {
        let out = tandem()
            .arg("jira-sim")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .await
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(flag),
            "{args:?} should name {flag}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?} started a simulator");
    }
}

#[tokio::test]
async fn jira_sim_flags_put_their_faults_in_force_from_the_start() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tandem()
        .args([
            "jira-sim",
            "--listen",
            "127.0.0.1:0",
            "--latency",
            "200",
            "--jitter",
            "10",
            "--read-latency",
            "5",
            "--error-rate",
            "0.25",
            "--error-status",
            "503",
            "--rate-limit",
            "1000:2000",
            "--lose-responses",
            "0.1",
            "--lose-responses-as",
            "drop",
            "--webhook-drop",
            "0.5",
            "--webhook-duplicate",
            "--webhook-reorder",
            "--webhook-delay",
            "20",
            "--fault-seed",
            "99",
        ])
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the simulator prints its address")
        .expect("read")
        .expect("a line");
    let client = reqwest::Client::new();
    let faults: Value = client
        .get(format!("{base}/_sim/faults"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .expect("control reachable")
        .json()
        .await
        .expect("json");
    assert_eq!(
        faults,
        json!({
            "seed": 99,
            "latencyMs": 200,
            "jitterMs": 10,
            "readLatencyMs": 5,
            "errorRate": 0.25,
            "errorStatus": 503,
            "injectErrors": {"count": 0, "status": 500},
            "outage": null,
            "rateLimit": {"perSecond": 1000.0, "burst": 2000},
            "lostResponses": {"rate": 0.1, "count": 0, "answer": "drop"},
            "webhooks": {"dropRate": 0.5, "duplicate": true, "reorder": true, "delayMs": 20}
        })
    );
    // The flags act on Jira traffic: every request is at least the latency late.
    let t = Instant::now();
    let status = client
        .get(format!("{base}/rest/api/2/serverInfo"))
        .send()
        .await
        .expect("answered")
        .status()
        .as_u16();
    assert!(status == 200 || status == 503, "{status}");
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    child.kill().await.expect("stopped");
}
