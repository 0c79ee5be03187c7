//! JQL engine throughput over 100,000 issues: parse, filter, and filter + sort, as the
//! simulator's search does per request. Prints medians of several runs; no assertions.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use tandem::sim::jql::{self, EvalContext, Field, JqlIssue, JqlValue};

struct Issue {
    n: u64,
    project: &'static str,
    status: &'static str,
    assignee: Option<String>,
    labels: Vec<String>,
    created: chrono::DateTime<Utc>,
    points: Option<f64>,
    summary: String,
}

impl JqlIssue for Issue {
    fn values(&self, field: &Field) -> Vec<JqlValue> {
        let s = |x: &str| JqlValue::Str(x.to_string());
        match field {
            Field::Key => vec![JqlValue::Str(format!("{}-{}", self.project, self.n))],
            Field::Id => vec![JqlValue::Num((10_000 + self.n) as f64)],
            Field::Project => vec![s(self.project), JqlValue::Num(10_000.0), s("Demo project")],
            Field::Status => vec![s(self.status)],
            Field::Assignee => self.assignee.iter().map(|a| s(a)).collect(),
            Field::Labels => self.labels.iter().map(|l| s(l)).collect(),
            Field::Created | Field::Updated => vec![JqlValue::Date(self.created)],
            Field::Custom(10016) => self.points.map(JqlValue::Num).into_iter().collect(),
            Field::Summary | Field::Text => vec![s(&self.summary)],
            _ => vec![],
        }
    }
}

fn issues(n: u64) -> Vec<Issue> {
    let base = Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("date");
    (1..=n)
        .map(|i| Issue {
            n: i,
            project: if i % 10 == 0 { "OPS" } else { "DEMO" },
            status: ["To Do", "In Progress", "Done"][(i % 3) as usize],
            assignee: (i % 4 != 0).then(|| format!("user{}", i % 7)),
            labels: (0..(i % 3)).map(|l| format!("label{l}")).collect(),
            created: base + chrono::Duration::minutes(i as i64 * 7),
            points: (i % 5 != 0).then_some((i % 13) as f64),
            summary: format!("Issue number {i} about checkout and payments"),
        })
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let all = issues(100_000);
    let ctx = EvalContext {
        now: Utc::now(),
        current_user: "user3".into(),
        open_sprint_ids: vec![1],
        closed_sprint_ids: vec![],
    };
    let queries = [
        "project = DEMO",
        "project = DEMO AND status IN (\"To Do\", \"In Progress\") AND created >= -1000w ORDER BY key DESC",
        "assignee = currentUser() OR labels = label1 AND cf[10016] > 5 ORDER BY created DESC, key ASC",
        "summary ~ payments AND key > DEMO-50000",
    ];
    let runs = 7;
    for q in queries {
        let parse: Vec<Duration> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                let _ = std::hint::black_box(jql::parse(q));
                t.elapsed()
            })
            .collect();
        let query = jql::parse(q).expect("bench query parses");
        let mut hits = 0;
        let filter: Vec<Duration> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                hits = all.iter().filter(|i| query.matches(*i, &ctx)).count();
                t.elapsed()
            })
            .collect();
        let sorted: Vec<Duration> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                let mut found: Vec<&Issue> =
                    all.iter().filter(|i| query.matches(*i, &ctx)).collect();
                found.sort_by_cached_key(|i| query.sort_key(*i));
                std::hint::black_box(found.first().map(|i| i.n));
                t.elapsed()
            })
            .collect();
        let first_page: Vec<Duration> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(query.page(&all, &ctx, 0, 100).total);
                t.elapsed()
            })
            .collect();
        let f = median(filter);
        println!(
            "{q}\n  parse {:?}  filter 100k {:?} ({:.1} M issues/s, {hits} hits)  filter+full sort {:?}  first page of 100 {:?}",
            median(parse),
            f,
            100_000.0 / f.as_secs_f64() / 1e6,
            median(sorted),
            median(first_page)
        );
    }
}
