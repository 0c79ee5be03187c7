//! `tandem validate --online` against the simulator: the daemon's own checks, reported at the
//! manifest to fix, with the exit codes of `validate`.

use std::path::Path;
use std::process::Command;

use tandem::sim::{self, SimConfig, Simulator};

fn manifests(url: &str, token_file: &str, story_type: &str, doing: &str) -> String {
    format!(
        r#"apiVersion: tandem/v1
kind: Workspace
metadata: {{name: product}}
spec:
  id: prod1
  itemTypes:
    - name: Epic
    - name: Story
      parent: Epic
  statuses: [Backlog, Doing, Done]
---
apiVersion: tandem/v1
kind: Connection
metadata: {{name: sim}}
spec:
  displayName: Simulator
  url: {url}
  auth:
    email: admin@example.com
    apiToken: {{file: {token_file}}}
---
apiVersion: tandem/v1
kind: ProjectIntegration
metadata: {{name: demo}}
spec:
  displayName: Demo
  connection: sim
  workspace: product
  project: DEMO
  board: 1
  types:
    - {{workspace: Epic, jira: Epic}}
    - {{workspace: Story, jira: {story_type}}}
  statuses:
    - {{workspace: Backlog, jira: To Do}}
    - {{workspace: Doing, jira: {doing}}}
    - {{workspace: Done, jira: Done}}
"#
    )
}

fn validate_online(dir: &Path, secrets: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["validate", "--online", "--secrets"])
        .arg(secrets)
        .arg(dir)
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .expect("tandem runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_checks_pass_and_fail_where_jira_disagrees() {
    let jira = Simulator::start(SimConfig::new(sim::Deployment::Cloud))
        .await
        .expect("simulator");
    let url = jira.base_url();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, secrets) = (tmp.path().join("m"), tmp.path().join("s"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("good"), "admin-token\n").unwrap();
    std::fs::write(secrets.join("wrong"), "not-the-token\n").unwrap();
    let file = dir.join("all.yaml");

    std::fs::write(&file, manifests(&url, "good", "Story", "In Progress")).unwrap();
    let (code, text) = tokio::task::spawn_blocking({
        let (d, s) = (dir.clone(), secrets.clone());
        move || validate_online(&d, &s)
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{text}");

    // A Jira type and a status the project does not have: exit 1, both named at the integration.
    std::fs::write(&file, manifests(&url, "good", "Feature", "Doing it")).unwrap();
    let (code, text) = tokio::task::spawn_blocking({
        let (d, s) = (dir.clone(), secrets.clone());
        move || validate_online(&d, &s)
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{text}");
    let at = format!("{}:", file.display());
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(&at)).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ProjectIntegration/demo") && l.contains("Feature")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ProjectIntegration/demo") && l.contains("Doing it")),
        "{text}"
    );

    // Wrong token: the connection fails with its reason, and the secret is not printed.
    std::fs::write(&file, manifests(&url, "wrong", "Story", "In Progress")).unwrap();
    let (code, text) = tokio::task::spawn_blocking({
        let (d, s) = (dir.clone(), secrets.clone());
        move || validate_online(&d, &s)
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("Connection/sim: AuthenticationFailed"),
        "{text}"
    );
    assert!(!text.contains("not-the-token"), "{text}");
    jira.shutdown().await.expect("shutdown");
}

/// Manifests mapping the multi-select `Platforms` (a custom field) for Epics and Stories.
fn manifests_with_platforms(url: &str) -> String {
    manifests(url, "good", "Story", "In Progress")
        .replace(
            "  statuses: [Backlog, Doing, Done]\n",
            "  statuses: [Backlog, Doing, Done]\n  fields:\n    - {name: Platforms, type: multiSelect, options: [Web, iOS, Android]}\n",
        )
        .replace(
            "  board: 1\n",
            "  board: 1\n  fieldMapping: fields\n",
        )
        + "---
apiVersion: tandem/v1
kind: FieldMapping
metadata: {name: fields}
spec:
  custom:
    - {workspace: Platforms, jira: Platforms}
"
}

/// Jira's create screens decide what tandem can write (issue 12): the online check reads the
/// create metadata of each mapped type. A mapped field on no type's screen fails (exit 1,
/// naming field, types and the fix); on some types' screens only, it is a warning naming the
/// types (exit 0); a create screen without Labels is a warning (tandem's creates then carry
/// only its item property).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_screens_decide_what_can_be_written() {
    use tandem::sim::model::ScreenOp;
    let jira = Simulator::start(SimConfig::new(sim::Deployment::Cloud))
        .await
        .expect("simulator");
    let url = jira.base_url();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, secrets) = (tmp.path().join("m"), tmp.path().join("s"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("good"), "admin-token\n").unwrap();
    std::fs::write(dir.join("all.yaml"), manifests_with_platforms(&url)).unwrap();
    let run = || {
        let (d, s) = (dir.clone(), secrets.clone());
        tokio::task::spawn_blocking(move || validate_online(&d, &s))
    };
    let (code, text) = run().await.unwrap();
    assert_eq!(code, 0, "every field on every screen: {text}");

    jira.set_screen("DEMO", &["Story"], ScreenOp::Create, &["customfield_10035"]);
    let (code, text) = run().await.unwrap();
    assert_eq!(code, 0, "a warning only: {text}");
    assert!(
        text.lines()
            .any(|l| l.contains("Platforms") && l.contains("not on the create screen of Story")),
        "{text}"
    );

    jira.set_screen("DEMO", &["Epic"], ScreenOp::Create, &["customfield_10035"]);
    let (code, text) = run().await.unwrap();
    assert_eq!(code, 1, "on no mapped type's screen: {text}");
    assert!(
        text.lines().any(|l| l.contains("Platforms")
            && l.contains("on no create screen")
            && l.contains("Epic, Story")),
        "{text}"
    );

    jira.clear_screens();
    jira.set_screen("DEMO", &["Epic"], ScreenOp::Create, &["labels"]);
    let (code, text) = run().await.unwrap();
    assert_eq!(
        code, 0,
        "a warning: creates carry tandem's item property instead: {text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("type Epic") && l.contains("no Labels field")),
        "{text}"
    );
    // Edit screens are asked of an issue of each type: a mapped field missing there is a
    // warning (such edits go on without it), not a failure.
    jira.clear_screens();
    jira.set_screen("DEMO", &["Story"], ScreenOp::Edit, &["customfield_10035"]);
    let (code, text) = run().await.unwrap();
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("edit screen"), "no Story to ask yet: {text}");
    jira.create_issue(serde_json::json!({
        "project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": "a story",
    }))
    .expect("story");
    let (code, text) = run().await.unwrap();
    assert_eq!(code, 0, "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("Platforms") && l.contains("not on the edit screen of Story")),
        "{text}"
    );
    jira.shutdown().await.expect("shutdown");
}
