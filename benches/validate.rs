//! Collect and validate a generated directory of 1,000 manifests; prints the median.
//! Run: `cargo bench --bench validate`. Target: under 200 ms on a 2-core machine.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use tandem::manifest::{collect_files, validate};

const WORKSPACES: usize = 20;
const CONNECTIONS: usize = 40;
const FIELD_MAPPINGS: usize = 100;
const INTEGRATIONS: usize = 440;
const JOBS: usize = 400;
const RUNS: usize = 21;

fn workspace(i: usize) -> String {
    format!(
        "apiVersion: tandem/v1
kind: Workspace
metadata:
  name: ws-{i}
spec:
  id: ws-{i}
  itemTypes:
    - name: Initiative
    - {{name: Epic, parent: Initiative}}
    - {{name: Feature, parent: Epic}}
    - {{name: Story, parent: Feature}}
  statuses: [Backlog, Ready, In Progress, In Review, Done]
  fields:
    - {{name: Risk, type: singleSelect, options: [Low, Medium, High]}}
    - {{name: Platforms, type: multiSelect, options: [Web, iOS, Android]}}
    - {{name: Target date, type: date}}
    - {{name: Notes, type: text}}
"
    )
}

fn connection(i: usize) -> String {
    if i % 2 == 0 {
        format!(
            "apiVersion: tandem/v1
kind: Connection
metadata:
  name: conn-{i}
spec:
  displayName: Cloud {i}
  url: https://acme-{i}.atlassian.net
  deployment: cloud
  auth:
    email: bot@acme.com
    apiToken: {{file: token-{i}}}
  webhookSecret: {{file: webhook-{i}}}
"
        )
    } else {
        format!(
            "apiVersion: tandem/v1
kind: Connection
metadata:
  name: conn-{i}
spec:
  displayName: Data Center {i}
  url: https://jira-{i}.acme.internal
  deployment: dataCenter
  auth:
    personalAccessToken: {{env: PAT_{i}}}
"
        )
    }
}

fn field_mapping(i: usize) -> String {
    format!(
        "apiVersion: tandem/v1
kind: FieldMapping
metadata:
  name: fields-{i}
spec:
  primary: {{components: true, storyPoints: auto, releases: true}}
  defaults: {{objective: customfield_10050, effort: customfield_10053}}
  custom:
    - {{workspace: Risk, jira: customfield_10060}}
    - {{workspace: Platforms, jira: customfield_10061}}
    - {{workspace: Target date, jira: duedate}}
"
    )
}

fn integration(i: usize) -> String {
    format!(
        "apiVersion: tandem/v1
kind: ProjectIntegration
metadata:
  name: int-{i}
spec:
  displayName: Integration {i}
  connection: conn-{c}
  workspace: ws-{w}
  project: P{i}
  board: {board}
  fieldMapping: fields-{f}
  types:
    - {{workspace: Initiative, ignore: true}}
    - {{workspace: Epic, jira: Epic}}
    - {{workspace: Feature, jira: Story}}
    - {{workspace: Story, jira: Sub-task}}
  secondaryTypes:
    - {{jira: Bug, workspace: Feature}}
  statuses:
    - {{workspace: Backlog, jira: To Do}}
    - {{workspace: In Progress, jira: In Progress}}
    - {{workspace: Done, jira: Done}}
  resync: 10m
",
        c = i % CONNECTIONS,
        w = i % WORKSPACES,
        f = i % FIELD_MAPPINGS,
        board = i + 1,
    )
}

fn job(i: usize) -> String {
    let spec = if i % 2 == 0 {
        "direction: fromJira\n  jql: statusCategory != Done".to_string()
    } else {
        "direction: toJira\n  scope:\n    sprints: [Sprint 1, Sprint 2]".to_string()
    };
    format!(
        "apiVersion: tandem/v1
kind: SyncJob
metadata:
  name: job-{i}
spec:
  integration: int-{n}
  {spec}
",
        n = i % INTEGRATIONS
    )
}

fn generate(root: &Path) {
    let mut docs: Vec<(String, String)> = Vec::new();
    docs.extend((0..WORKSPACES).map(|i| (format!("workspaces/ws-{i}.yaml"), workspace(i))));
    docs.extend((0..CONNECTIONS).map(|i| (format!("connections/conn-{i}.yaml"), connection(i))));
    docs.extend((0..FIELD_MAPPINGS).map(|i| (format!("fields/fields-{i}.yml"), field_mapping(i))));
    docs.extend((0..INTEGRATIONS).map(|i| {
        (
            format!("integrations/team-{}/int-{i}.yaml", i % 10),
            integration(i),
        )
    }));
    // Jobs come four to a file, as people batch one-off syncs.
    let mut jobs = String::new();
    for i in 0..JOBS {
        jobs.push_str("---\n");
        jobs.push_str(&job(i));
        if i % 4 == 3 {
            docs.push((
                format!("jobs/batch-{}.yaml", i / 4),
                std::mem::take(&mut jobs),
            ));
        }
    }
    for (path, text) in docs {
        let path = root.join(path);
        let existing = fs::read_to_string(&path).unwrap_or_default();
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, existing + &text).expect("write manifest");
    }
}

fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    generate(tmp.path());

    let files = collect_files(tmp.path()).expect("collect");
    let result = validate(&files);
    assert!(
        result.is_valid(),
        "generated set must be valid: {}",
        result.diagnostics[0]
    );
    let resources = result.model.len();

    let total = measure(|| {
        let files = collect_files(tmp.path()).expect("collect");
        std::hint::black_box(validate(&files));
    });
    let collect = measure(|| {
        std::hint::black_box(collect_files(tmp.path()).expect("collect"));
    });
    let validate_only = measure(|| {
        std::hint::black_box(validate(&files));
    });
    println!(
        "validate: {resources} manifests in {} files ({RUNS} runs each)",
        files.len()
    );
    println!("  collect+validate median {}", total);
    println!("  collect only     median {}", collect);
    println!("  validate only    median {}", validate_only);
}

/// Runs `f` RUNS times; "median (min .. max)" in milliseconds.
fn measure(mut f: impl FnMut()) -> String {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "{:.1} ms (min {:.1}, max {:.1})",
        ms(times[RUNS / 2]),
        ms(times[0]),
        ms(times[RUNS - 1])
    )
}
