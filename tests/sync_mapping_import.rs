//! What the one-time import maps of each issue, pinned: the item patch (`from_jira`) and the
//! baseline bytes (`baseline::after_import` + `baseline::encoded`) of generated issues in both
//! dialects, plus rich text read from Jira and canonicalised, must stay byte for byte what the
//! mapping gave before it was made faster (the digests below were recorded with the slower
//! code, commit c3ebb60). A faster path that changes any result fails here.
//!
//! On a mismatch, `TANDEM_DUMP_MAPPING=dir` writes every output compared, one file per section,
//! to diff against the same dump from the recording commit.

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tandem::jira::{check_integration, Credentials, Deployment, Issue, JiraClient, JiraConfig};
use tandem::manifest::{validate, SourceFile};
use tandem::reconcile::spec::integration_spec;
use tandem::sim::{self, SimConfig, Simulator};
use tandem::sync::context::fetch_catalog;
use tandem::sync::engine::baseline;
use tandem::sync::richtext::{canonical_markdown, from_jira_text, to_jira_text};
use tandem::sync::{from_jira, MappingContext};

const MANIFESTS: &str = r#"
apiVersion: tandem/v1
kind: Workspace
metadata: {name: product}
spec:
  id: product
  itemTypes:
    - name: Epic
    - {name: Feature, parent: Epic}
    - {name: Step, parent: Feature}
  statuses: [Backlog, Doing, Done]
  fields:
    - {name: Platforms, type: multiSelect, options: [Web, iOS, Android]}
    - {name: Target date, type: date}
---
apiVersion: tandem/v1
kind: Connection
metadata: {name: jira}
spec:
  displayName: Jira
  url: https://jira.example.com
  auth: {email: admin@example.com, apiToken: {env: TOKEN}}
---
apiVersion: tandem/v1
kind: FieldMapping
metadata: {name: fields}
spec:
  primary: {components: true, releases: true, storyPoints: auto, team: Team}
  defaults: {objective: Objective, value: Business value}
  custom:
    - {workspace: Platforms, jira: Platforms}
    - {workspace: Target date, jira: Target date}
---
apiVersion: tandem/v1
kind: ProjectIntegration
metadata: {name: demo}
spec:
  displayName: Demo
  connection: jira
  workspace: product
  project: DEMO
  board: 1
  fieldMapping: fields
  direction: twoWay
  types:
    - {workspace: Epic, jira: Epic}
    - {workspace: Feature, jira: Story}
    - {workspace: Step, jira: Sub-task}
  secondaryTypes:
    - {jira: Bug, workspace: Feature}
    - {jira: Task, workspace: Feature}
  statuses:
    - {workspace: Backlog, jira: To Do}
    - {workspace: Doing, jira: In Progress}
    - {workspace: Done, jira: Done}
  conflicts: lastWriterWins
  resync: 10m
"#;

/// Generated issues per dialect.
const ISSUES: usize = 300;
/// Random texts run through the rich text conversions.
const TEXTS: usize = 3000;

/// Digests of the outputs, recorded with the mapping as it was before it was made faster.
const EXPECTED: &[(&str, &str)] = &[
    (
        "Jira Cloud",
        "2b0e72ec42e1a0eaaa3f0c6e55af20f02902fd00607930e32bc0b9923dd64e48",
    ),
    (
        "Jira Data Center",
        "3536fb9070ec0db16290c8e851824a8f2d22e1224ed56baffc6c3733db83483f",
    ),
    (
        "richtext",
        "545d293e5e0412bb41bad3ee272ad731893729e6adcd1f90ed208920796bd9b3",
    ),
];

/// Collects what a section produced: its digest, and the text itself when dumping.
struct Section {
    name: String,
    hash: Sha256,
    dump: Option<String>,
}

impl Section {
    fn new(name: &str) -> Section {
        Section {
            name: name.to_owned(),
            hash: Sha256::new(),
            dump: std::env::var_os("TANDEM_DUMP_MAPPING").map(|_| String::new()),
        }
    }

    fn add(&mut self, what: &str) {
        self.hash.update((what.len() as u64).to_le_bytes());
        self.hash.update(what.as_bytes());
        if let Some(d) = &mut self.dump {
            d.push_str(what);
            d.push_str("\n\u{1e}\n");
        }
    }

    fn finish(self) -> (String, String) {
        if let (Some(dir), Some(d)) = (std::env::var_os("TANDEM_DUMP_MAPPING"), &self.dump) {
            let path = std::path::Path::new(&dir).join(format!("{}.txt", self.name));
            std::fs::write(path, d).expect("dump");
        }
        (self.name, hex::encode(self.hash.finalize()))
    }
}

/// Markdown-ish text made of what the parsers care about, plus words and whole lines.
fn random_text(rng: &mut rand::rngs::StdRng) -> String {
    const ALPHABET: &[&str] = &[
        "*",
        "**",
        "_",
        "`",
        "[",
        "]",
        "(",
        ")",
        "|",
        "{",
        "}",
        "{{",
        "}}",
        "\\",
        "#",
        "# ",
        "- ",
        "* ",
        "1. ",
        "h1. ",
        "h3. ",
        "```",
        "```rust\n",
        "{code}",
        "{code:java}",
        "\n",
        "\n\n",
        " ",
        "a",
        "b",
        "word ",
        " text ",
        "é",
        "€",
        "🎉",
        "http://x.y",
        "https://a.example/p",
        "[docs](https://x.example)",
        "[x|https://y.example]",
        "~",
        "{*}",
        "{_}",
        "x_y",
        "2.",
        ".",
        "{noformat}",
        "\t",
        "  ",
        "\r\n",
        "**bold**",
        "*it*",
        "`code`",
        "{adf:",
        r#"{adf:{"type":"mention","attrs":{"id":"1","text":"@A"}}}"#,
        "```jira-adf\n",
        r#"{"type":"rule"}"#,
        "```jira-wiki\n",
        "||a||b||",
        "!img.png!",
        "[~admin]",
    ];
    let n = rng.random_range(0..32);
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
        .collect()
}

async fn setup(deployment: Deployment) -> (MappingContext, Vec<Issue>) {
    let mut config = SimConfig::new(match deployment {
        Deployment::Cloud => sim::Deployment::Cloud,
        Deployment::DataCenter => sim::Deployment::DataCenter,
    });
    config.generate = 0;
    let sim = Simulator::start(config).await.expect("simulator");
    sim.generate_issues(ISSUES, 42);
    let auth = match deployment {
        Deployment::Cloud => Credentials::basic("admin@example.com", "admin-token"),
        Deployment::DataCenter => Credentials::basic("admin", "admin"),
    };
    let mut jc = JiraConfig::new(sim.base_url(), auth);
    jc.deployment = Some(deployment);
    let client = JiraClient::new(jc).expect("client");
    let model = validate(&[SourceFile {
        path: "m.yaml".into(),
        text: MANIFESTS.into(),
    }])
    .model;
    let pi = &model.integrations["demo"];
    let ws = &model.workspaces["product"];
    let fm = model.field_mappings.get("fields");
    let report = check_integration(&client, &integration_spec(pi, ws, fm))
        .await
        .expect("check");
    assert!(report.is_ok(), "{:?}", report.failures);
    let catalog = fetch_catalog(&client, pi).await.expect("catalog");
    let ctx = MappingContext::new(pi, ws, fm, &report.resolved, deployment, catalog);
    // What the import reads of each issue.
    let read = ctx.issue_fields_read();
    let read: Vec<&str> = read.iter().map(String::as_str).collect();
    let mut pager = client.search("project = DEMO ORDER BY key ASC", &read);
    let mut issues = Vec::new();
    while let Some(page) = pager.next_page().await.expect("search page") {
        issues.extend(page);
    }
    sim.shutdown().await.expect("shutdown");
    assert_eq!(issues.len(), ISSUES);
    (ctx, issues)
}

/// Gives some issues comments and a rich custom field (generated issues have neither), in the
/// dialect's encoding, so those paths are pinned too.
fn enrich(issues: &mut [Issue], ctx: &MappingContext, rng: &mut rand::rngs::StdRng) {
    let cloud = ctx.deployment == Deployment::Cloud;
    let objective = ctx
        .rules()
        .iter()
        .find(|r| r.workspace == "objective")
        .map(|r| r.jira.id.clone())
        .expect("objective is mapped");
    for (n, issue) in issues.iter_mut().enumerate() {
        if n % 3 == 0 {
            let comments: Vec<Value> = (0..rng.random_range(1..4))
                .map(|c| {
                    let text = random_text(rng);
                    let body = if c == 2 && !cloud {
                        json!(text)
                    } else {
                        to_jira_text(&text, cloud)
                    };
                    json!({"id": format!("{n}{c}"), "author": {"displayName": "A"},
                           "body": body, "created": "2026-01-01T00:00:00.000+0000"})
                })
                .collect();
            issue.fields.insert(
                "comment".into(),
                json!({"comments": comments, "total": comments.len()}),
            );
        }
        if n % 4 == 1 {
            let text = random_text(rng);
            issue
                .fields
                .insert(objective.clone(), to_jira_text(&text, cloud));
        }
    }
}

fn import_section(name: &str, ctx: &MappingContext, issues: &[Issue]) -> Section {
    let mut section = Section::new(name);
    let synced = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    for issue in issues {
        match from_jira(issue, ctx) {
            Err(e) => section.add(&format!("{}: {e:?}", issue.key)),
            Ok(patch) => {
                section.add(&format!("{patch:?}"));
                let parent = patch.parent_key.clone().flatten();
                match baseline::after_import(issue, ctx, &patch, parent) {
                    Err(e) => section.add(&format!("{e:?}")),
                    Ok(mut base) => {
                        base.synced_at = Some(synced);
                        let (ns, bytes) = baseline::encoded("demo", &base);
                        section.add(&ns);
                        section.add(&String::from_utf8(bytes).expect("UTF-8"));
                    }
                }
            }
        }
    }
    section
}

fn richtext_section() -> Section {
    let mut section = Section::new("richtext");
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/richtext");
    let mut jira_values: Vec<Value> = Vec::new();
    for (file, key) in [("adf_real.json", "adf"), ("wiki_real.json", "wiki")] {
        let text = std::fs::read_to_string(dir.join(file)).expect("fixture");
        let list: Vec<Value> = serde_json::from_str(&text).expect("JSON");
        jira_values.extend(list.iter().filter_map(|v| v.get(key).cloned()));
    }
    for _ in 0..TEXTS {
        let text = random_text(&mut rng);
        section.add(&canonical_markdown(&text));
        // The same text as Jira would hold it, in both dialects, and as wiki people wrote.
        jira_values.push(to_jira_text(&text, true));
        jira_values.push(to_jira_text(&text, false));
        jira_values.push(json!(text));
    }
    for v in &jira_values {
        let md = from_jira_text(v);
        section.add(&md);
        section.add(&canonical_markdown(&md));
    }
    section
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_mapping_and_baselines_stay_byte_for_byte() {
    let mut got = Vec::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for deployment in [Deployment::Cloud, Deployment::DataCenter] {
        let (ctx, mut issues) = setup(deployment).await;
        // Once as generated, once with comments and rich custom fields.
        let name = deployment.to_string();
        let mut section = import_section(&name, &ctx, &issues);
        enrich(&mut issues, &ctx, &mut rng);
        let enriched = import_section(&format!("{name} enriched"), &ctx, &issues);
        section.add(&enriched.finish().1);
        got.push(section.finish());
    }
    got.push(richtext_section().finish());
    let expected: Vec<(String, String)> = EXPECTED
        .iter()
        .map(|(n, d)| (n.to_string(), d.to_string()))
        .collect();
    assert_eq!(got, expected, "the import's mapping output changed");
}
