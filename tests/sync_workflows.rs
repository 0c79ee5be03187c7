//! Status changes across Jira's classic Data Center workflow (Open, In Progress, Resolved,
//! Closed, Reopened; the Resolve Issue screen; Start/Stop Progress only for the assignee), with
//! the real daemon against the simulator: every mapped target is reached without passing
//! through Resolved or Closed unless asked, and a change whose only path goes through Closed
//! is `Stuck`, visible in status, history and metrics, with the issue untouched.

mod common_daemon;
mod common_live;

use std::time::{Duration, Instant};

use common_daemon::*;
use common_live::*;
use serde_json::{json, Value};
use tandem::sim::{Deployment, Workflow};

/// Workspace status → Jira status of the classic workflow.
const MAPPED: &[(&str, &str)] = &[
    ("Open", "Open"),
    ("Doing", "In Progress"),
    ("Reopened", "Reopened"),
    ("Resolved", "Resolved"),
    ("Closed", "Closed"),
];

/// The classic workflow's transitions (ignoring conditions), for the test's own moves.
const CLASSIC: &[(&str, &str)] = &[
    ("Open", "In Progress"),
    ("Open", "Resolved"),
    ("Open", "Closed"),
    ("In Progress", "Open"),
    ("In Progress", "Resolved"),
    ("In Progress", "Closed"),
    ("Resolved", "Closed"),
    ("Resolved", "Reopened"),
    ("Reopened", "In Progress"),
    ("Reopened", "Resolved"),
    ("Reopened", "Closed"),
    ("Closed", "Reopened"),
];

const ROBOT: &str = "robot";

/// A Data Center environment whose DEMO project follows the classic workflow, tandem logged
/// in as `robot` (so the administrator's moves are a person's), the five statuses mapped.
async fn classic_env() -> Env {
    let mut options = LiveOptions::new(Deployment::DataCenter, "jiraWins");
    options.robot = Some((ROBOT.to_owned(), "robot-secret".to_owned()));
    let e = Env::start_with(options).await;
    e.sim
        .set_project_workflow("DEMO", Workflow::Classic)
        .expect("classic workflow");
    let before = e.d.status().await;
    let digest = |s: &Value, kind: &str, name: &str| {
        resource(s, kind, name).map(|r| r["observedDigest"].clone())
    };
    let (ws0, pi0) = (
        digest(&before, "Workspace", "product"),
        digest(&before, "ProjectIntegration", "demo"),
    );
    e.dirs.manifest(
        "workspace.yaml",
        &workspace_manifest().replace(
            "statuses: [Todo, Doing, Done]",
            "statuses: [Open, Doing, Reopened, Resolved, Closed]",
        ),
    );
    let statuses: String = MAPPED
        .iter()
        .map(|(w, j)| format!("    - {{workspace: {w}, jira: {j}}}\n"))
        .collect();
    let integration = integration_manifest("jiraWins");
    let start = integration.find("  statuses:\n").expect("statuses");
    let end = start
        + integration[start..]
            .find("    - {workspace: Done, jira: Done}\n")
            .unwrap()
        + "    - {workspace: Done, jira: Done}\n".len();
    let integration = format!(
        "{}  statuses:\n{statuses}{}",
        &integration[..start],
        &integration[end..]
    );
    e.dirs.manifest("integration.yaml", &integration);
    e.d.wait_status("the classic mapping applied and Ready", |s| {
        all_ready(s)
            && digest(s, "Workspace", "product") != ws0
            && digest(s, "ProjectIntegration", "demo") != pi0
    })
    .await;
    e
}

/// Moves the issue as the administrator (a person), along the shortest classic path.
fn admin_walk(e: &Env, key: &str, from: &str, to: &str) {
    let mut prev: Vec<(&str, &str)> = vec![(from, "")];
    let mut queue = vec![from];
    while let Some(s) = (!queue.is_empty()).then(|| queue.remove(0)) {
        for (a, b) in CLASSIC.iter().filter(|(a, _)| *a == s) {
            if prev.iter().all(|(x, _)| x != b) {
                prev.push((b, a));
                queue.push(b);
            }
        }
    }
    let mut path = vec![to];
    while path[0] != from {
        let p = prev
            .iter()
            .find(|(x, _)| *x == path[0])
            .expect("reachable")
            .1;
        path.insert(0, p);
    }
    for s in &path[1..] {
        e.sim.transition_issue(key, s).expect("admin transition");
    }
}

async fn changelog(e: &Env, key: &str) -> Vec<Value> {
    e.jira_get(&format!("/rest/api/2/issue/{key}?expand=changelog"))
        .await["changelog"]["histories"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Status hops (`toString`) and who made them, in the change groups from `skip` on.
fn status_hops(groups: &[Value], skip: usize) -> Vec<(String, String)> {
    groups[skip..]
        .iter()
        .flat_map(|g| {
            let who = g["author"]["name"].as_str().unwrap_or("").to_owned();
            g["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|i| i["field"] == "status")
                .map(move |i| (i["toString"].as_str().unwrap_or("").to_owned(), who.clone()))
        })
        .collect()
}

async fn set_item_status(e: &Env, id: &str, status: &str) {
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{id}"),
        Some(json!({"status": status})),
    )
    .await;
}

async fn wait_stuck(e: &Env, what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = e.d.status().await;
        let stuck =
            resource(&s, "ProjectIntegration", "demo").expect("demo")["sync"]["stuck"].clone();
        if stuck["count"].as_u64().unwrap_or(0) > 0 {
            return stuck;
        }
        assert!(Instant::now() < deadline, "{what}: {s:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_changes_across_the_classic_workflow_never_pass_resolved_or_closed_unless_asked() {
    let e = classic_env().await;
    let safe = ["Open", "In Progress", "Reopened"];
    // (from, to) pairs whose only paths pass Resolved or Closed: Reopened follows a
    // resolution; the other test shows them stuck.
    let unsafe_pair =
        |from: &str, to: &str| to == "Reopened" && !["Resolved", "Closed"].contains(&from);
    let mut checked = 0;
    for (from_ws, from) in MAPPED {
        let id = e
            .create_item(
                json!({"type": "Story", "title": format!("From {from}"), "status": "Open"}),
            )
            .await;
        let key = e.linked_key(&id).await;
        // Start Progress and Stop Progress are offered only to the assignee.
        e.sim
            .edit_issue(&key, json!({"fields": {"assignee": {"name": ROBOT}}}))
            .expect("assign");
        let mut at = "Open";
        for (to_ws, to) in MAPPED {
            if to == from || unsafe_pair(from, to) {
                continue;
            }
            // A person puts the issue in `from`; the item follows.
            admin_walk(&e, &key, at, from);
            e.wait_item(&id, "the item pulls the person's status", |i| {
                i["status"] == *from_ws
            })
            .await;
            e.quiesce().await;
            let mark = changelog(&e, &key).await.len();
            set_item_status(&e, &id, to_ws).await;
            e.wait_issue(&key, "the status reaches Jira", |i| {
                i["fields"]["status"]["name"] == *to
            })
            .await;
            e.quiesce().await;
            let hops = status_hops(&changelog(&e, &key).await, mark);
            assert_eq!(
                hops.last().map(|h| h.0.as_str()),
                Some(*to),
                "{from} → {to}: {hops:?}"
            );
            for (i, (s, who)) in hops.iter().enumerate() {
                assert_eq!(who, ROBOT, "{from} → {to}: {hops:?}");
                if i + 1 < hops.len() {
                    assert!(
                        safe.contains(&s.as_str()),
                        "{from} → {to} passed {s}: {hops:?}"
                    );
                }
            }
            let issue = e.jira_issue(&key).await;
            if ["Resolved", "Closed"].contains(to) {
                assert!(
                    issue["fields"]["resolution"]["name"].is_string(),
                    "{issue:#}"
                );
            } else {
                assert!(issue["fields"]["resolution"].is_null(), "{issue:#}");
            }
            at = to;
            checked += 1;
        }
        let hist = e.history(&id).await;
        assert!(!hist.iter().any(|h| h["action"] == "stuck"), "{hist:#?}");
    }
    assert_eq!(checked, 18);
    let s = e.d.status().await;
    let stuck = &resource(&s, "ProjectIntegration", "demo").expect("demo")["sync"]["stuck"];
    assert_eq!(stuck["count"], 0, "{stuck:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_only_path_goes_through_closed_is_stuck_and_leaves_the_issue_alone() {
    let e = classic_env().await;
    // One issue is closed and reopened through tandem: the workflow past Closed is known.
    let first = e
        .create_item(json!({"type": "Story", "title": "Closed once", "status": "Open"}))
        .await;
    let first_key = e.linked_key(&first).await;
    for (ws, jira) in [("Closed", "Closed"), ("Reopened", "Reopened")] {
        set_item_status(&e, &first, ws).await;
        e.wait_issue(&first_key, "tandem moves it", |i| {
            i["fields"]["status"]["name"] == jira
        })
        .await;
    }
    e.quiesce().await;

    // Reopened from Open (unassigned: Start Progress is not offered) passes Closed or
    // Resolved: stuck, and Jira is not touched.
    let id = e
        .create_item(json!({"type": "Story", "title": "Never closed", "status": "Open"}))
        .await;
    let key = e.linked_key(&id).await;
    e.quiesce().await;
    let before = changelog(&e, &key).await.len();
    set_item_status(&e, &id, "Reopened").await;
    let stuck = wait_stuck(&e, "the pair is reported stuck").await;
    assert_eq!(stuck["count"], 1, "{stuck:#}");
    let pair = &stuck["pairs"][0];
    assert_eq!(pair["item"], id.as_str(), "{stuck:#}");
    assert_eq!(pair["issue"], key.as_str(), "{stuck:#}");
    assert_eq!(
        pair["path"],
        json!(["Open", "Closed", "Reopened"]),
        "{stuck:#}"
    );
    assert!(
        pair["message"]
            .as_str()
            .unwrap()
            .contains("Closed (Done category)"),
        "{stuck:#}"
    );
    e.quiesce().await;
    let issue = e.jira_issue(&key).await;
    assert_eq!(issue["fields"]["status"]["name"], "Open");
    assert!(issue["fields"]["resolution"].is_null());
    assert_eq!(
        changelog(&e, &key).await.len(),
        before,
        "the issue is untouched"
    );
    let hist = e.history(&id).await;
    let entries: Vec<&Value> = hist.iter().filter(|h| h["action"] == "stuck").collect();
    assert_eq!(entries.len(), 1, "{hist:#?}");
    let msg = entries[0]["message"].as_str().unwrap();
    assert!(msg.contains("Open → Closed → Reopened"), "{msg}");
    assert!(
        e.d.admin_get("/metrics")
            .await
            .contains("tandem_sync_stuck_total 1"),
        "the metric counts it"
    );
    // The item keeps its status; the pair is not retried in a loop.
    assert_eq!(e.item(&id).await["status"], "Reopened");
    let runs = e.d.status().await["engine"]["runs"].as_u64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        e.d.status().await["engine"]["runs"].as_u64(),
        runs,
        "no retry loop"
    );

    // Asked for a status it can reach, the pair settles and says so.
    set_item_status(&e, &id, "Doing").await;
    e.sim
        .edit_issue(&key, json!({"fields": {"assignee": {"name": ROBOT}}}))
        .expect("assign");
    e.wait_issue(&key, "In Progress reached", |i| {
        i["fields"]["status"]["name"] == "In Progress"
    })
    .await;
    e.quiesce().await;
    let s = e.d.status().await;
    let stuck = &resource(&s, "ProjectIntegration", "demo").expect("demo")["sync"]["stuck"];
    assert_eq!(stuck["count"], 0, "{stuck:#}");
    assert!(e
        .history(&id)
        .await
        .iter()
        .any(|h| h["action"] == "unstuck"));
}
