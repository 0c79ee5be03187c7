//! Simulator throughput on loopback: single issue GETs per second and search throughput
//! (issues per second, pages of 100 over `/rest/api/3/search/jql`). Prints the median of
//! several rounds. Target (issue 3): at least 5,000 GETs/s and 20,000 issues/s in search.
//!
//! Run with `cargo bench --bench sim`.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tandem::sim::{Deployment, SimConfig, Simulator};

const ISSUES: usize = 10_000;
const ROUNDS: usize = 5;
const GETS_PER_ROUND: usize = 4_000;
const CONCURRENCY: usize = 8;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    issues: Vec<serde::de::IgnoredAny>,
    next_page_token: Option<String>,
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

async fn get(client: &HttpClient, url: &str, auth: &str) -> Bytes {
    let req = hyper::Request::get(url)
        .header("authorization", auth)
        .body(Empty::new())
        .expect("request");
    let resp = client.request(req).await.expect("response");
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    resp.into_body().collect().await.expect("body").to_bytes()
}

/// Prepares a round: "cold" drops every cached rendering and search result (as a change to
/// shared data such as a sprint or version does); "edited" edits one issue, which invalidates
/// only it and its relatives (what a sync run that writes as it reads sees); "warm" changes
/// nothing.
fn prepare(sim: &tandem::sim::SimHandle, mode: &str, round: usize) {
    match mode {
        "cold" => sim.clear_caches(),
        "edited" => sim
            .edit_issue(
                "DEMO-1",
                serde_json::json!({"fields": {"summary": format!("round {round}")}}),
            )
            .expect("edit"),
        _ => {}
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut config = SimConfig::new(Deployment::Cloud);
        config.generate = ISSUES;
        let sim = Simulator::start(config).await.expect("simulator");
        let base = sim.base_url();
        use base64::Engine;
        let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("admin@example.com:admin-token"));
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

        for mode in ["cold", "edited", "warm"] {
            let mut gets = Vec::new();
            for round in 0..ROUNDS {
                prepare(&sim, mode, round);
                let start = Instant::now();
                let mut tasks = Vec::new();
                for worker in 0..CONCURRENCY {
                    let (client, base, auth) = (client.clone(), base.clone(), auth.clone());
                    tasks.push(tokio::spawn(async move {
                        for n in 0..GETS_PER_ROUND / CONCURRENCY {
                            let k = (worker * 7919 + n * 31 + round) % ISSUES + 1;
                            get(&client, &format!("{base}/rest/api/2/issue/DEMO-{k}"), &auth).await;
                        }
                    }));
                }
                for t in tasks {
                    t.await.expect("worker");
                }
                gets.push(GETS_PER_ROUND as f64 / start.elapsed().as_secs_f64());
            }

            let mut search = Vec::new();
            for round in 0..ROUNDS {
                prepare(&sim, mode, round);
                let start = Instant::now();
                let mut token: Option<String> = None;
                let mut seen = 0usize;
                loop {
                    let mut url = format!("{base}/rest/api/3/search/jql?jql=project%3DDEMO%20ORDER%20BY%20key%20ASC&maxResults=100&fields=*all");
                    if let Some(t) = &token {
                        url.push_str(&format!("&nextPageToken={t}"));
                    }
                    // Only what paging needs, so the client's own parsing stays out of the number.
                    let page: Page = serde_json::from_slice(&get(&client, &url, &auth).await).expect("json");
                    seen += page.issues.len();
                    token = page.next_page_token;
                    if token.is_none() {
                        break;
                    }
                }
                assert_eq!(seen, ISSUES);
                search.push(seen as f64 / start.elapsed().as_secs_f64());
            }
            println!("sim/issue_get ({mode}): median {:.0} GETs/s over {ROUNDS} rounds of {GETS_PER_ROUND} ({CONCURRENCY} connections, {ISSUES} issues)", median(gets));
            println!("sim/search_jql ({mode}): median {:.0} issues/s over {ROUNDS} full scans of {ISSUES} issues in pages of 100 (fields=*all)", median(search));
        }
        // In-process costs, to tell server work from HTTP and client work.
        let start = Instant::now();
        for k in 1..=1000 {
            sim.issue(&format!("DEMO-{k}")).expect("issue");
        }
        println!("sim/render_v2_in_process: {:.1} µs/issue", start.elapsed().as_secs_f64() * 1e6 / 1000.0);
        let start = Instant::now();
        let hits = sim.search("project = DEMO ORDER BY key ASC").expect("search").len();
        println!("sim/jql_in_process: {:.1} ms to parse, filter and sort {hits} issues", start.elapsed().as_secs_f64() * 1e3);
        sim.shutdown().await.expect("shutdown");
    });
}
