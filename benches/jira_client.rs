//! Jira client benchmarks against the in-process simulator: search import throughput (pages
//! streamed, both dialects), single-call latency, and how closely the rate limit is kept.
//! Prints medians; run with `cargo bench --bench jira_client`.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tandem::jira::{Credentials, Deployment, JiraClient, JiraConfig};
use tandem::sim::{self, SimConfig, Simulator};

const ISSUES: usize = 10_000;
const RUNS: usize = 3;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main]
async fn main() {
    for deployment in [Deployment::Cloud, Deployment::DataCenter] {
        let (sim_deployment, auth) = match deployment {
            Deployment::Cloud => (
                sim::Deployment::Cloud,
                Credentials::basic("admin@example.com", "admin-token"),
            ),
            Deployment::DataCenter => (
                sim::Deployment::DataCenter,
                Credentials::basic("admin", "admin"),
            ),
        };
        let mut config = SimConfig::new(sim_deployment);
        config.generate = ISSUES;
        let sim = Simulator::start(config).await.expect("simulator");
        let client = JiraClient::new(JiraConfig::new(sim.base_url(), auth.clone())).unwrap();
        let fields = [
            "summary",
            "status",
            "issuetype",
            "parent",
            "labels",
            "fixVersions",
            "components",
            "updated",
        ];

        let mut rates = Vec::new();
        let mut total = 0;
        for _ in 0..RUNS {
            let started = Instant::now();
            let mut stream = Box::pin(
                client
                    .search("project = DEMO ORDER BY key ASC", &fields)
                    .page_size(100)
                    .into_stream(),
            );
            total = 0;
            while let Some(page) = stream.next().await {
                total += page.expect("page").len();
            }
            rates.push(total as f64 / started.elapsed().as_secs_f64());
        }
        println!(
            "{deployment}: search import of {total} issues, pages of 100: median {:.0} issues/s",
            median(rates)
        );

        let mut latencies = Vec::new();
        for _ in 0..500 {
            let started = Instant::now();
            client.myself().await.expect("myself");
            latencies.push(started.elapsed());
        }
        latencies.sort();
        println!(
            "{deployment}: GET myself round trip: p50 {:?}, p99 {:?}",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        );

        let mut limited = JiraConfig::new(sim.base_url(), auth);
        limited.requests_per_second = Some(50.0);
        let limited = JiraClient::new(limited).unwrap();
        // Drain the initial burst so the measurement sees the steady rate.
        for _ in 0..50 {
            limited.myself().await.unwrap();
        }
        let started = Instant::now();
        for _ in 0..100 {
            limited.myself().await.unwrap();
        }
        println!(
            "{deployment}: requestsPerSecond 50 -> measured {:.1} requests/s",
            100.0 / started.elapsed().as_secs_f64()
        );
        sim.shutdown().await.ok();
    }
}
