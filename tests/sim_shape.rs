//! Shaping the simulator as one shapes a Jira (issue 15, "A simulator you can shape"): an
//! administrator creates a project through `POST /rest/api/{2,3}/project` with the body and
//! answer of Jira's `createProject`, and a scrum board on it through
//! `POST /rest/agile/1.0/board`; others get Jira's 403, a body without key or name its 400;
//! `tandem jira-sim` prints who can sign in, and `--like DIR` gives it the users, projects and
//! boards a manifest directory expects, so `tandem validate --online DIR` passes against it.

mod common_daemon;
mod support;

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use tandem::sim::{Deployment, SimConfig, Simulator};

async fn post(base: &str, user: (&str, &str), path: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .basic_auth(user.0, Some(user.1))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON body"))
}

async fn get(base: &str, user: (&str, &str), path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .basic_auth(user.0, Some(user.1))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("JSON body")
}

/// Checks an answer against Atlassian's OpenAPI when `../shared` is there.
fn like_jira(method: &str, path: &str, status: u16, body: &Value) {
    if let Some(shared) = support::shared_dir("sim_shape") {
        let spec = support::openapi::Spec::jira(&shared).expect("OpenAPI loads");
        support::openapi::validate_response(&spec, method, path, status, body)
            .unwrap_or_else(|e| panic!("not Jira's answer to {method} {path}: {e:?}\n{body}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_creates_projects_through_the_rest_api() {
    let sim = Simulator::start(SimConfig::new(Deployment::Cloud))
        .await
        .expect("simulator");
    let base = sim.base_url();
    let admin = ("admin@example.com", "admin-token");
    let body = json!({"key": "WEB", "name": "Web", "projectTypeKey": "software"});
    let (status, created) = post(&base, admin, "/rest/api/3/project", body.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["key"], "WEB");
    assert_eq!(
        created["self"],
        format!("{base}/rest/api/3/project/{}", created["id"])
    );
    like_jira("POST", "/rest/api/3/project", 201, &created);
    let project = get(&base, admin, "/rest/api/2/project/WEB").await;
    assert_eq!(project["name"], "Web", "{project}");

    // A scrum board on it, as the manifests' `board:` needs.
    let (status, board) = post(
        &base,
        admin,
        "/rest/agile/1.0/board",
        json!({"name": "WEB board", "type": "scrum", "filterId": 10040,
               "location": {"type": "project", "projectKeyOrId": "WEB"}}),
    )
    .await;
    assert_eq!(status, 201, "{board}");
    assert_eq!(board["location"]["projectKey"], "WEB", "{board}");
    like_jira("POST", "/rest/agile/1.0/board", 201, &board);
    let listed = get(&base, admin, "/rest/agile/1.0/board?projectKeyOrId=WEB").await;
    assert_eq!(listed["values"][0]["id"], board["id"], "{listed}");
    let (status, _) = post(
        &base,
        ("user@example.com", "user-token"),
        "/rest/agile/1.0/board",
        json!({"name": "Mine", "location": {"type": "project", "projectKeyOrId": "WEB"}}),
    )
    .await;
    assert_eq!(status, 403);

    let (status, _) = post(&base, admin, "/rest/api/2/project", body).await;
    assert_eq!(status, 400, "a key is used once");
    let (status, err) = post(
        &base,
        ("user@example.com", "user-token"),
        "/rest/api/3/project",
        json!({"key": "APP", "name": "App"}),
    )
    .await;
    assert_eq!(status, 403, "{err}");
    let (status, err) = post(
        &base,
        admin,
        "/rest/api/3/project",
        json!({"name": "No key"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(err["errors"]["projectKey"].is_string(), "{err}");
    sim.shutdown().await.expect("shutdown");
}

#[test]
fn jira_sim_prints_its_users_after_its_address() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args([
            "jira-sim",
            "--listen",
            "127.0.0.1:0",
            "--user",
            "bob:secret:admin",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("jira-sim starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut out = Vec::new();
    for _ in 0..4 {
        out.push(lines.next().expect("a line").expect("read"));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(out[0].starts_with("http://127.0.0.1:"), "{out:?}");
    assert_eq!(
        out[1..],
        [
            "user admin@example.com API token admin-token (administrator)",
            "user user@example.com API token user-token (not an administrator)",
            "user bob API token secret (administrator)",
        ]
    );
}

/// Reads a child's stderr in the background, so it never blocks on a full pipe.
fn drain(r: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn jira_sim_like_a_manifest_directory_passes_validate_online() {
    use common_daemon::{connection, field_mapping, integration, workspace};
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, secrets) = (tmp.path().join("manifests"), tmp.path().join("secrets"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::create_dir_all(&secrets).expect("mkdir");
    std::fs::write(secrets.join("jira-token"), "s3cret-of-the-manifests\n").expect("secret");
    let url = common_daemon::closed_port_url();
    std::fs::write(dir.join("workspace.yaml"), workspace("product", "product")).expect("write");
    std::fs::write(dir.join("fields.yaml"), field_mapping()).expect("write");
    std::fs::write(
        dir.join("connection.yaml"),
        connection(
            "jira",
            "Jira",
            &url,
            "tandem@acme.example",
            "jira-token",
            None,
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join("integration.yaml"),
        integration("web", "Web", "jira", "product")
            .replace("project: DEMO", "project: WEB")
            .replace("board: 1\n", "board: 12\n"),
    )
    .expect("write");

    let sim = LikeSim::start("cloud", &url, tmp.path(), &[]);
    let validate = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["validate", "--online"])
        .arg(&dir)
        .arg("--secrets")
        .arg(&secrets)
        .output()
        .expect("tandem validate");
    let printed = sim.stop();
    assert!(
        validate.status.success(),
        "{}{}",
        String::from_utf8_lossy(&validate.stdout),
        String::from_utf8_lossy(&validate.stderr)
    );
    assert!(
        printed.contains("shaped like") && printed.contains("projects WEB; boards 12 (WEB)"),
        "{printed}"
    );
    assert!(
        printed.contains("user tandem@acme.example (administrator;"),
        "{printed}"
    );
    assert!(
        !printed.contains("s3cret"),
        "a manifest's secret was printed: {printed}"
    );
}

/// A `tandem jira-sim --like` child and what it printed.
struct LikeSim {
    child: std::process::Child,
    out: std::sync::mpsc::Receiver<String>,
    err: std::sync::mpsc::Receiver<String>,
}

impl LikeSim {
    fn start(deployment: &str, url: &str, dir: &std::path::Path, env: &[(&str, &str)]) -> LikeSim {
        let listen = url.trim_start_matches("http://");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args([
                "jira-sim",
                "--deployment",
                deployment,
                "--listen",
                listen,
                "--like",
            ])
            .arg(dir.join("manifests"))
            .arg("--secrets")
            .arg(dir.join("secrets"))
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("jira-sim starts");
        let out = drain(child.stdout.take().expect("stdout"));
        let err = drain(child.stderr.take().expect("stderr"));
        let first = out
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the simulator prints its URL");
        assert_eq!(first, url);
        LikeSim { child, out, err }
    }

    /// Stops it and returns everything it printed.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let lines: Vec<String> = self.out.try_iter().chain(self.err.try_iter()).collect();
        lines.join("\n")
    }
}

#[test]
fn jira_sim_like_the_examples_passes_validate_online() {
    // `examples/` as they are, with the Connections pointed at two simulators on loopback
    // (and no private CA: the simulators speak plain HTTP).
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, secrets) = (tmp.path().join("manifests"), tmp.path().join("secrets"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::create_dir_all(&secrets).expect("mkdir");
    let cloud_url = common_daemon::closed_port_url();
    // Two free ports, never the same one twice.
    let dc_url = std::iter::repeat_with(common_daemon::closed_port_url)
        .find(|u| *u != cloud_url)
        .expect("a second free port");
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    for entry in std::fs::read_dir(&examples).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).expect("read");
            let text = text
                .replace(
                    "url: https://acme.atlassian.net",
                    &format!("url: {cloud_url}"),
                )
                .replace("url: https://jira.acme.internal", &format!("url: {dc_url}"))
                .lines()
                .filter(|l| !l.trim_start().starts_with("caFile:"))
                .collect::<Vec<_>>()
                .join("\n");
            std::fs::write(dir.join(path.file_name().expect("name")), text).expect("write");
        }
    }
    std::fs::write(secrets.join("acme-cloud-token"), "cloud-s3cret\n").expect("secret");
    std::fs::write(secrets.join("acme-cloud-webhook-secret"), "w\n").expect("secret");
    let env = [
        ("ACME_DC_TOKEN", "dc-s3cret"),
        ("ACME_DC_WEBHOOK_SECRET", "w"),
    ];
    let cloud = LikeSim::start("cloud", &cloud_url, tmp.path(), &env);
    let dc = LikeSim::start("dataCenter", &dc_url, tmp.path(), &env);
    let validate = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["validate", "--online"])
        .arg(&dir)
        .arg("--secrets")
        .arg(&secrets)
        .envs(env)
        .output()
        .expect("tandem validate");
    let (cloud, dc) = (cloud.stop(), dc.stop());
    let shown = format!(
        "{}{}\n--- cloud simulator:\n{cloud}\n--- data center simulator:\n{dc}",
        String::from_utf8_lossy(&validate.stdout),
        String::from_utf8_lossy(&validate.stderr)
    );
    assert!(validate.status.success(), "{shown}");
    // What each simulator had to be given, said once, and no secret printed.
    for (printed, expected) in [
        (&cloud, "projects MOB, WEB; boards 14 (MOB), 12 (WEB)"),
        (&cloud, "added issue type Subtask (hierarchy level -1)"),
        (
            &cloud,
            "added status In Review (In Progress) in the workflow of WEB",
        ),
        (
            &cloud,
            "added field customfield_10060 Risk (select: Low, Medium, High)",
        ),
        (&dc, "projects PLAT; boards 3 (PLAT)"),
        (
            &dc,
            "added status Selected for Development (To Do) in the workflow of PLAT",
        ),
        (&dc, "added field Risk (select: Low, Medium, High)"),
    ] {
        assert!(printed.contains(expected), "missing {expected:?}:\n{shown}");
    }
    assert!(!shown.contains("s3cret"), "a secret was printed:\n{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_adds_issue_types_fields_and_statuses_through_the_rest_api() {
    let sim = Simulator::start(SimConfig::new(Deployment::Cloud))
        .await
        .expect("simulator");
    let base = sim.base_url();
    let admin = ("admin@example.com", "admin-token");
    let user = ("user@example.com", "user-token");

    // An issue type: then listed, offered on create, and usable.
    let (status, created) = post(
        &base,
        admin,
        "/rest/api/3/issuetype",
        json!({"name": "Spike", "description": "Time-boxed research", "hierarchyLevel": 0}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    like_jira("POST", "/rest/api/3/issuetype", 201, &created);
    let listed = get(&base, admin, "/rest/api/3/issuetype").await;
    assert!(
        listed
            .as_array()
            .expect("list")
            .iter()
            .any(|t| t["id"] == created["id"]),
        "{listed}"
    );
    let (status, issue) = post(
        &base,
        admin,
        "/rest/api/3/issue",
        json!({"fields": {"project": {"key": "DEMO"}, "summary": "Try it",
                          "issuetype": {"id": created["id"]}}}),
    )
    .await;
    assert_eq!(status, 201, "{issue}");
    let (status, _) = post(
        &base,
        admin,
        "/rest/api/2/issuetype",
        json!({"name": "spike"}),
    )
    .await;
    assert_eq!(status, 409, "a name is used once");
    let (status, _) = post(
        &base,
        user,
        "/rest/api/3/issuetype",
        json!({"name": "Mine"}),
    )
    .await;
    assert_eq!(status, 403);

    // A custom field: listed in /field, written and read on an issue.
    let (status, field) = post(
        &base,
        admin,
        "/rest/api/3/field",
        json!({"name": "Acceptance notes",
               "type": "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
               "searcherKey": "com.atlassian.jira.plugin.system.customfieldtypes:textsearcher"}),
    )
    .await;
    assert_eq!(status, 201, "{field}");
    like_jira("POST", "/rest/api/3/field", 201, &field);
    let id = field["id"].as_str().expect("id").to_owned();
    let key = issue["key"].as_str().expect("key");
    let resp = reqwest::Client::new()
        .put(format!("{base}/rest/api/2/issue/{key}"))
        .basic_auth(admin.0, Some(admin.1))
        .json(&json!({"fields": {id.clone(): "Works offline"}}))
        .send()
        .await
        .expect("edit");
    assert_eq!(resp.status().as_u16(), 204);
    let read = get(
        &base,
        admin,
        &format!("/rest/api/2/issue/{key}?fields={id}"),
    )
    .await;
    assert_eq!(read["fields"][&id], "Works offline", "{read}");
    let (status, err) = post(
        &base,
        admin,
        "/rest/api/3/field",
        json!({"name": "Who", "type": "com.atlassian.jira.plugin.system.customfieldtypes:userpicker"}),
    )
    .await;
    assert_eq!(status, 400, "{err}");

    // A status scoped to the project: in its workflow, and an issue can move into it.
    let project = get(&base, admin, "/rest/api/3/project/DEMO").await;
    let (status, statuses) = post(
        &base,
        admin,
        "/rest/api/3/statuses",
        json!({"scope": {"type": "PROJECT", "project": {"id": project["id"]}},
               "statuses": [{"name": "In Review", "statusCategory": "IN_PROGRESS"}]}),
    )
    .await;
    assert_eq!(status, 200, "{statuses}");
    like_jira("POST", "/rest/api/3/statuses", 200, &statuses);
    let workflow = get(&base, admin, "/rest/api/3/project/DEMO/statuses").await;
    assert!(
        workflow[0]["statuses"]
            .as_array()
            .expect("statuses")
            .iter()
            .any(|s| s["name"] == "In Review"),
        "{workflow}"
    );
    sim.transition_issue(key, "In Review").expect("reachable");
    let read = get(
        &base,
        admin,
        &format!("/rest/api/3/issue/{key}?fields=status"),
    )
    .await;
    assert_eq!(read["fields"]["status"]["name"], "In Review", "{read}");
    let (status, _) = post(
        &base,
        admin,
        "/rest/api/3/statuses",
        json!({"scope": {"type": "GLOBAL"},
               "statuses": [{"name": "in review", "statusCategory": "DONE"}]}),
    )
    .await;
    assert_eq!(status, 400, "a status name is used once");
    sim.shutdown().await.expect("shutdown");

    // Data Center creates fields over REST, but statuses only in its UI.
    let dc = Simulator::start(SimConfig::new(Deployment::DataCenter))
        .await
        .expect("simulator");
    let dc_admin = ("admin", "admin");
    let (status, field) = post(
        &dc.base_url(),
        dc_admin,
        "/rest/api/2/field",
        json!({"name": "Risk", "type": "com.atlassian.jira.plugin.system.customfieldtypes:float"}),
    )
    .await;
    assert_eq!(status, 201, "{field}");
    assert_eq!(field["schema"]["type"], "number", "{field}");
    let resp = reqwest::Client::new()
        .post(format!("{}/rest/api/2/statuses", dc.base_url()))
        .basic_auth(dc_admin.0, Some(dc_admin.1))
        .json(&json!({"scope": {"type": "GLOBAL"}, "statuses": [{"name": "X", "statusCategory": "TODO"}]}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 404);
    dc.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_data_center_a_password_and_a_personal_access_token_are_set_apart() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args([
            "jira-sim",
            "--deployment",
            "dataCenter",
            "--listen",
            "127.0.0.1:0",
            "--user",
            "bob:bobs-password:admin",
            "--pat",
            "bob:bobs-token",
            "--user",
            "carol:carols-password",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("jira-sim starts");
    let out = drain(child.stdout.take().expect("stdout"));
    let mut lines = Vec::new();
    for _ in 0..5 {
        lines.push(
            out.recv_timeout(std::time::Duration::from_secs(30))
                .expect("a line"),
        );
    }
    let base = lines[0].clone();
    assert_eq!(
        lines[3..],
        [
            "user bob password bobs-password personal access token bobs-token (administrator)",
            "user carol password carols-password (not an administrator)",
        ],
        "{lines:?}"
    );
    let client = reqwest::Client::new();
    let myself = format!("{base}/rest/api/2/myself");
    let status = |r: reqwest::RequestBuilder| async move {
        r.send().await.expect("request").status().as_u16()
    };
    assert_eq!(
        status(client.get(&myself).bearer_auth("bobs-token")).await,
        200
    );
    assert_eq!(
        status(client.get(&myself).bearer_auth("bobs-password")).await,
        401,
        "a password is no token"
    );
    assert_eq!(
        status(client.get(&myself).basic_auth("bob", Some("bobs-token"))).await,
        401,
        "a token is no password"
    );
    assert_eq!(
        status(
            client
                .get(&myself)
                .basic_auth("carol", Some("carols-password"))
        )
        .await,
        200
    );
    let _ = child.kill();
    let _ = child.wait();

    let refused = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args([
            "jira-sim",
            "--listen",
            "127.0.0.1:0",
            "--user",
            "a@b.c:t",
            "--pat",
            "a@b.c:x",
        ])
        .output()
        .expect("jira-sim");
    assert!(
        !refused.status.success(),
        "a Cloud simulator has no personal access tokens"
    );
}
