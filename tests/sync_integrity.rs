//! One item ↔ one issue, whatever path a configuration takes (issue 11, "Duplicates through
//! configuration"), through the real `tandem run` binary and the in-process simulator:
//!
//! - with two integrations in one workspace, a one-time push through the second skips the
//!   items the first links, says why, and creates nothing;
//! - removing an integration, adding it back, importing and then pushing never leaves two
//!   items following one issue: the push refuses to adopt an issue an imported item holds.
//!
//! Both failed before the store refused such links: the first created a second issue per
//! item, the second linked two items to each issue.

mod common_daemon;
mod common_live;

use std::time::{Duration, Instant};

use common_daemon::*;
use common_live::*;
use serde_json::{json, Value};
use tandem::sim::Deployment;

const GUARD: Duration = Duration::from_secs(60);

async fn start_job(e: &Env, integration: &str, body: Value) -> Value {
    e.start_job(integration, body).await
}

async fn items(e: &Env) -> Vec<Value> {
    let list = e.ws(reqwest::Method::GET, "/items?limit=500", None).await;
    list["items"].as_array().cloned().unwrap_or_default()
}

fn links(status: &Value, integration: &str) -> u64 {
    resource(status, "ProjectIntegration", integration)
        .and_then(|r| r["links"].as_u64())
        .unwrap_or(0)
}

fn notes(job: &Value) -> String {
    job["errors"].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_through_a_second_integration_skips_items_the_first_links() {
    let e = Env::start(Deployment::Cloud, "jiraWins").await;
    e.sim.create_project("OPS", "Operations").expect("OPS");
    e.dirs.manifest("ops.yaml", OPS_INTEGRATION);
    e.d.wait_status("the ops integration is ready", |s| {
        is_current_and_ready(s, "ProjectIntegration", "ops")
    })
    .await;
    let mut keys = Vec::new();
    for n in 0..3 {
        let id = e
            .create_item(json!({"type": "Story", "title": format!("story {n}")}))
            .await;
        keys.push(e.linked_key(&id).await);
    }
    e.quiesce().await;
    let issues = e.sim.issue_count();

    let job = start_job(&e, "ops", json!({"direction": "toJira"})).await;
    assert_eq!(job["counts"]["created"], 0, "{job:#}");
    assert_eq!(job["counts"]["skipped"], 3, "{job:#}");
    for key in &keys {
        assert!(
            notes(&job).contains(&format!("already linked to {key} through integration demo")),
            "the job says why {key}'s item was skipped: {job:#}"
        );
    }
    assert_eq!(e.sim.issue_count(), issues, "no second issue in OPS");
    let status = e.d.status().await;
    assert_eq!((links(&status, "demo"), links(&status, "ops")), (3, 0));
    for it in items(&e).await {
        assert_eq!(it["jira"]["integration"], "demo", "{it:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_integration_then_importing_and_pushing_never_gives_an_issue_two_items() {
    let e = Env::start(Deployment::Cloud, "jiraWins").await;
    let mut keys = Vec::new();
    for n in 0..2 {
        let id = e
            .create_item(json!({"type": "Story", "title": format!("kept {n}")}))
            .await;
        keys.push(e.linked_key(&id).await);
    }
    e.quiesce().await;
    let issues = e.sim.issue_count();

    // The integration goes (its links with it), then comes back, as a reverted commit does.
    e.dirs.remove_manifest("integration.yaml");
    e.d.wait_status("the integration is gone with its links", |s| {
        resource(s, "ProjectIntegration", "demo").is_none()
    })
    .await;
    e.dirs
        .manifest("integration.yaml", &integration_manifest("jiraWins"));
    e.d.wait_status("the integration is back", |s| {
        is_current_and_ready(s, "ProjectIntegration", "demo")
    })
    .await;

    // The import gives the issues new items; the push then finds the old items' issues by
    // their labels, held by those new items.
    let import = start_job(&e, "demo", json!({"direction": "fromJira"})).await;
    assert_eq!(import["counts"]["created"], 2, "{import:#}");
    let push = start_job(&e, "demo", json!({"direction": "toJira"})).await;
    assert_eq!(push["counts"]["created"], 0, "{push:#}");
    assert!(
        notes(&push).contains("not adopting it and not creating a second one"),
        "the push says why: {push:#}"
    );
    e.quiesce().await;
    assert_eq!(e.sim.issue_count(), issues, "no issue was created");
    let all = items(&e).await;
    for key in &keys {
        let holders: Vec<&Value> = all
            .iter()
            .filter(|i| i["jira"]["key"] == key.as_str())
            .collect();
        assert_eq!(holders.len(), 1, "{key} is followed by {holders:#?}");
    }
}

/// A live env in which tandem logs in as its own user, so Jira's changelog tells tandem's
/// writes from the person's (the simulator's administrator, whom `SimHandle` acts as).
async fn env_as_robot(deployment: Deployment, policy: &str) -> Env {
    let mut options = LiveOptions::new(deployment, policy);
    options.robot = Some(match deployment {
        Deployment::Cloud => ("robot@example.com".into(), "robot-token".into()),
        Deployment::DataCenter => ("robot".into(), "robot-password".into()),
    });
    Env::start_with(options).await
}

/// A race between tandem and a person: while every Jira request takes `latency_ms`, the item
/// gets `edit` in the workspace, the person acts in Jira `at_ms` later (inside the window
/// between tandem's read and its write), and the latency is lifted `settle_ms` after that.
async fn race(
    e: &Env,
    id: &str,
    edit: Value,
    (latency_ms, at_ms, settle_ms): (u64, u64, u64),
    person: impl FnOnce(&tandem::sim::SimHandle),
) {
    e.sim.set_latency(Duration::from_millis(latency_ms));
    e.ws(reqwest::Method::PATCH, &format!("/items/{id}"), Some(edit))
        .await;
    tokio::time::sleep(Duration::from_millis(at_ms)).await;
    person(&e.sim);
    tokio::time::sleep(Duration::from_millis(settle_ms)).await;
    e.sim.set_latency(Duration::ZERO);
}

async fn resync(e: &Env) -> Value {
    e.resync("demo").await
}

fn has_history(history: &[Value], action: &str, text: &str) -> bool {
    history
        .iter()
        .any(|h| h["action"] == action && h["message"].as_str().is_some_and(|m| m.contains(text)))
}

async fn linked_items(e: &Env, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in 0..n {
        let id = e
            .create_item(json!({"type": "Story", "title": format!("story {i}")}))
            .await;
        let key = e.linked_key(&id).await;
        out.push((id, key));
    }
    e.quiesce().await;
    out
}

/// A 404 is not a deletion: issues hidden from tandem's user (here four of five at once, as a
/// permission-scheme change does) stay linked as unreachable, through edits and a resync sweep;
/// when they are visible again the pairs resume, with no second item or issue.
async fn hidden_issues_stay_linked(deployment: Deployment) {
    let e = Env::start(deployment, "jiraWins").await;
    let pairs = linked_items(&e, 5).await;
    let (issues, items_before) = (e.sim.issue_count(), items(&e).await.len());
    for (_, key) in &pairs[1..] {
        assert!(e.sim.set_issue_visible(key, false));
    }
    let (first, first_key) = &pairs[1];
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{first}"),
        Some(json!({"title": "edited while hidden"})),
    )
    .await;
    let deadline = Instant::now() + GUARD;
    while !has_history(&e.history(first).await, "unreachable", first_key) {
        assert!(Instant::now() < deadline, "{:#?}", e.history(first).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let report = resync(&e).await;
    assert_eq!(report["linksChecked"], 5, "{report:#}");
    assert_eq!(report["linksMissing"], 4, "{report:#}");
    e.quiesce().await;
    for (id, key) in &pairs {
        let it = e.item(id).await;
        assert_eq!(it["jira"]["key"], key.as_str(), "still linked: {it:#}");
    }
    let status = e.d.status().await;
    let unreachable =
        &resource(&status, "ProjectIntegration", "demo").expect("demo")["sync"]["unreachable"];
    assert_eq!(unreachable["count"], 4, "{unreachable:#}");
    assert!(
        e.d.admin_get("/metrics")
            .await
            .contains("tandem_sync_unreachable_total 4"),
        "the metric counts them"
    );

    for (_, key) in &pairs[1..] {
        assert!(e.sim.set_issue_visible(key, true));
    }
    resync(&e).await;
    e.wait_issue(first_key, "the edit made while hidden reaches Jira", |i| {
        i["fields"]["summary"] == "edited while hidden"
    })
    .await;
    e.quiesce().await;
    assert!(has_history(
        &e.history(first).await,
        "reachable",
        "sync resumed"
    ));
    assert_eq!(e.sim.issue_count(), issues, "no issue created");
    assert_eq!(items(&e).await.len(), items_before, "no item created");
    let status = e.d.status().await;
    assert_eq!(
        resource(&status, "ProjectIntegration", "demo").expect("demo")["sync"]["unreachable"]
            ["count"],
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_hidden_issues_stay_linked_as_unreachable_and_resume() {
    hidden_issues_stay_linked(Deployment::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_hidden_issues_stay_linked_as_unreachable_and_resume() {
    hidden_issues_stay_linked(Deployment::DataCenter).await;
}

/// A lost `issue_deleted` webhook is repaired: the sweep's batch check no longer finds the one
/// deleted issue among the integration's others, the pair's read confirms the 404, and the
/// item is unlinked as deleted (and not pushed again).
async fn lost_deletion_is_found(deployment: Deployment) {
    let e = Env::start(deployment, "jiraWins").await;
    let pairs = linked_items(&e, 5).await;
    e.sim.set_webhook_faults(tandem::sim::webhooks::Faults {
        duplicate_and_reorder: false,
        drop_rate: 1.0,
    });
    let (gone, gone_key) = &pairs[0];
    e.sim.delete_issue(gone_key).expect("delete");
    let issues = e.sim.issue_count();
    let report = resync(&e).await;
    assert_eq!(report["linksMissing"], 1, "{report:#}");
    let it = e
        .wait_item(gone, "the deleted issue's item is unlinked", |i| {
            i["jira"].is_null()
        })
        .await;
    assert!(
        has_history(&e.history(gone).await, "unlinked", "treated as deleted"),
        "{it:#}"
    );
    e.quiesce().await;
    assert_eq!(e.sim.issue_count(), issues, "the item was not pushed again");
    for (id, key) in &pairs[1..] {
        assert_eq!(e.item(id).await["jira"]["key"], key.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_a_lost_issue_deleted_webhook_is_repaired_by_the_sweep() {
    lost_deletion_is_found(Deployment::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_a_lost_issue_deleted_webhook_is_repaired_by_the_sweep() {
    lost_deletion_is_found(Deployment::DataCenter).await;
}

/// Edits made on both sides while an integration is suspended wait in its pending set and
/// arrive once it resumes (the change feed and webhook cursors used to move past them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_made_while_suspended_arrive_after_resume() {
    let e = Env::start(Deployment::Cloud, "jiraWins").await;
    let pairs = linked_items(&e, 2).await;
    let ((ws_side, ws_key), (jira_side, jira_key)) = (&pairs[0], &pairs[1]);
    let manifest = integration_manifest("jiraWins");
    e.dirs.manifest(
        "integration.yaml",
        &format!("{}  suspend: true\n", manifest),
    );
    e.d.wait_status("the integration is suspended", |s| {
        ready(s, "ProjectIntegration", "demo").is_some_and(|(_, reason, _)| reason == "Suspended")
            && is_current_and_ready(s, "ProjectIntegration", "demo")
    })
    .await;
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{ws_side}"),
        Some(json!({"title": "edited in the workspace while suspended"})),
    )
    .await;
    e.sim
        .edit_issue(
            jira_key,
            json!({"fields": {"summary": "edited in Jira while suspended"}}),
        )
        .expect("edit");
    let _ = tokio::time::timeout(Duration::from_secs(5), e.sim.webhooks_idle()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        e.jira_issue(ws_key).await["fields"]["summary"],
        "story 0",
        "nothing syncs while suspended"
    );
    assert!(e.pending().await >= 2, "both pairs wait in the pending set");

    e.dirs.manifest("integration.yaml", &manifest);
    e.wait_issue(
        ws_key,
        "the workspace edit reaches Jira after resume",
        |i| i["fields"]["summary"] == "edited in the workspace while suspended",
    )
    .await;
    e.wait_item(
        jira_side,
        "the Jira edit reaches the item after resume",
        |i| i["title"] == "edited in Jira while suspended",
    )
    .await;
}

/// A run whose Jira write lands but whose answer is lost (so the run fails before it saves
/// its baseline) must not make its own write look like a Jira change on the retry: the
/// person's newer workspace edit made meanwhile wins, with no conflict (issue 11, "aborted
/// run, stale baseline"; before, jiraWins pulled tandem's own older write over it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cut_off_after_its_jira_write_does_not_take_that_write_for_a_jira_change() {
    let e = Env::start(Deployment::Cloud, "jiraWins").await;
    let pairs = linked_items(&e, 1).await;
    let (id, key) = &pairs[0];
    e.sim
        .set_lost_responses(tandem::sim::faults::LostResponses {
            rate: 1.0,
            count: 0,
            answer: tandem::sim::faults::LostAnswer::Status(503),
        });
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{id}"),
        Some(json!({"title": "B"})),
    )
    .await;
    e.wait_issue(key, "the write lands though its answer is lost", |i| {
        i["fields"]["summary"] == "B"
    })
    .await;
    // The person edits again while that run is still retrying its lost write; the run then
    // gives up without saving its baseline, and its retry meets the newer edit.
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{id}"),
        Some(json!({"title": "C, the newer edit"})),
    )
    .await;
    e.d.wait_status("the pair's run failed", |s| {
        resource(s, "ProjectIntegration", "demo").is_some_and(|r| !r["sync"]["lastError"].is_null())
    })
    .await;
    // A retry while Jira still loses answers, then Jira recovers.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    e.sim
        .set_lost_responses(tandem::sim::faults::LostResponses::default());
    e.wait_issue(key, "the newer workspace edit reaches Jira", |i| {
        i["fields"]["summary"] == "C, the newer edit"
    })
    .await;
    e.quiesce().await;
    assert_eq!(e.item(id).await["title"], "C, the newer edit");
    let history = e.history(id).await;
    assert!(
        !history.iter().any(|h| h["action"] == "conflict"),
        "tandem's own write is no conflict: {history:#?}"
    );
}

/// A new item goes to the integration its `syncTo` names (else to the first by name that
/// writes to Jira and maps its type); a bad choice is refused naming the field, a linked item
/// cannot be redirected, and an item no integration can take is listed in status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_item_goes_where_its_sync_to_says_and_unroutable_items_show_in_status() {
    let e = Env::start(Deployment::Cloud, "jiraWins").await;
    e.sim.create_project("OPS", "Operations").expect("OPS");
    e.dirs.manifest("ops.yaml", OPS_INTEGRATION);
    e.d.wait_status("the ops integration is ready", |s| {
        is_current_and_ready(s, "ProjectIntegration", "ops")
    })
    .await;
    let to_ops = e
        .create_item(json!({"type": "Story", "title": "for ops", "syncTo": "ops"}))
        .await;
    let default = e
        .create_item(json!({"type": "Story", "title": "for the default"}))
        .await;
    assert!(e.linked_key(&to_ops).await.starts_with("OPS-"));
    assert!(e.linked_key(&default).await.starts_with("DEMO-"));
    assert_eq!(e.item(&to_ops).await["jira"]["integration"], "ops");

    let refused =
        e.d.admin_request(reqwest::Method::POST, "/api/v1/workspaces/product/items")
            .json(&json!({"type": "Story", "title": "x", "syncTo": "nope"}))
            .send()
            .await
            .expect("POST");
    assert_eq!(refused.status().as_u16(), 400);
    let body: Value = refused.json().await.expect("JSON");
    assert!(
        body.to_string().contains("syncTo") && body.to_string().contains("declared: demo, ops"),
        "{body}"
    );
    let redirected =
        e.d.admin_request(
            reqwest::Method::PATCH,
            &format!("/api/v1/workspaces/product/items/{default}"),
        )
        .json(&json!({"syncTo": "ops"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(
        redirected.status().as_u16(),
        400,
        "a linked item keeps its integration"
    );

    // A type no integration maps: the item waits, and status says why.
    let before = generation(&e.d.status().await);
    e.dirs.manifest(
        "workspace.yaml",
        &workspace_manifest().replace(
            "    - name: Defect\n",
            "    - name: Defect\n    - name: Spike\n",
        ),
    );
    e.d.wait_status("the workspace knows Spike", |s| {
        generation(s) > before && is_current_and_ready(s, "Workspace", "product")
    })
    .await;
    let spike = e
        .create_item(json!({"type": "Spike", "title": "nobody takes me"}))
        .await;
    let status =
        e.d.wait_status("the spike is listed as unroutable", |s| {
            resource(s, "Workspace", "product").is_some_and(|w| w["unroutable"]["count"] == 1)
        })
        .await;
    let listed = &resource(&status, "Workspace", "product").expect("ws")["unroutable"]["items"][0];
    assert_eq!(listed["item"], spike.as_str());
    assert!(
        listed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no integration that writes to Jira maps type \"Spike\"")),
        "{listed}"
    );
}

/// A person's Jira edit that lands between tandem's read of the issue and its write of the
/// same field is not overwritten in silence: Jira's changelog shows it, the pair is re-decided
/// under the policy (here jiraWins: the person's value on both sides) and the history records
/// the conflict (issue 11, "stale read"; before, tandem's value replaced the person's and the
/// history said only "pushed").
async fn a_stale_read_is_caught(deployment: Deployment) {
    let e = env_as_robot(deployment, "jiraWins").await;
    let pairs = linked_items(&e, 1).await;
    let (id, key) = &pairs[0];
    // Every request takes two seconds: the person's edit lands while tandem's write is on its
    // way, with a second of margin on either side.
    race(
        &e,
        id,
        json!({"title": "tandem's value"}),
        (2000, 3000, 3000),
        |sim| {
            sim.edit_issue(key, json!({"fields": {"summary": "the person's value"}}))
                .expect("edit")
        },
    )
    .await;
    e.wait_item(id, "the person's value wins under jiraWins", |i| {
        i["title"] == "the person's value"
    })
    .await;
    e.quiesce().await;
    assert_eq!(
        e.jira_issue(key).await["fields"]["summary"],
        "the person's value",
        "restored in Jira"
    );
    let history = e.history(id).await;
    assert!(
        history.iter().any(|h| h["action"] == "conflict"
            && h["field"] == "title"
            && h["loser"].to_string().contains("tandem's value")),
        "the conflict is recorded: {history:#?}"
    );
}

/// The same race on story points: the person's number is restored on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwritten_story_points_are_restored_under_jira_wins() {
    let e = env_as_robot(Deployment::Cloud, "jiraWins").await;
    let pairs = linked_items(&e, 1).await;
    let (id, key) = &pairs[0];
    let field = e.story_points_field();
    race(
        &e,
        id,
        json!({"storyPoints": 3}),
        (2000, 3000, 3000),
        |sim| {
            sim.edit_issue(key, json!({"fields": {field: 8}}))
                .expect("edit")
        },
    )
    .await;
    e.wait_item(id, "the person's 8 wins under jiraWins", |i| {
        i["storyPoints"] == 8.0
    })
    .await;
    e.quiesce().await;
    assert_eq!(
        e.jira_issue(key).await["fields"][field],
        8.0,
        "restored in Jira"
    );
    let history = e.history(id).await;
    assert!(
        history
            .iter()
            .any(|h| h["action"] == "conflict" && h["winner"].to_string().contains('8')),
        "{history:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_an_edit_landing_between_read_and_write_is_not_overwritten_in_silence() {
    a_stale_read_is_caught(Deployment::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_an_edit_landing_between_read_and_write_is_not_overwritten_in_silence() {
    a_stale_read_is_caught(Deployment::DataCenter).await;
}

/// lastWriterWins decides each field by when each side changed that field: a workspace change
/// and back (A→B→A) made after Jira's change still wins, and an unrelated later Jira edit (of
/// the description) does not make Jira's older title win (issue 11, "ABA"; before, the item's
/// and the issue's whole update times decided, and a field changed back counted as unchanged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_writer_wins_decides_per_field_by_when_each_side_changed_it() {
    let e = env_as_robot(Deployment::Cloud, "lastWriterWins").await;
    let pairs = linked_items(&e, 2).await;
    let ((aba, aba_key), (other, other_key)) = (&pairs[0], &pairs[1]);
    let manifest = integration_manifest("lastWriterWins");
    e.dirs
        .manifest("integration.yaml", &format!("{manifest}  suspend: true\n"));
    e.d.wait_status("suspended", |s| {
        ready(s, "ProjectIntegration", "demo").is_some_and(|(_, reason, _)| reason == "Suspended")
            && is_current_and_ready(s, "ProjectIntegration", "demo")
    })
    .await;
    // Jira first, then the workspace, then an unrelated Jira edit.
    e.sim
        .edit_issue(aba_key, json!({"fields": {"summary": "five"}}))
        .expect("edit");
    e.sim
        .edit_issue(other_key, json!({"fields": {"summary": "jira title"}}))
        .expect("edit");
    tokio::time::sleep(Duration::from_millis(50)).await;
    for (id, title) in [(aba, "three"), (aba, "story 0"), (other, "workspace title")] {
        e.ws(
            reqwest::Method::PATCH,
            &format!("/items/{id}"),
            Some(json!({ "title": title })),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    e.sim
        .edit_issue(
            other_key,
            json!({"fields": {"description": "an unrelated later edit"}}),
        )
        .expect("edit");

    e.dirs.manifest("integration.yaml", &manifest);
    e.wait_issue(aba_key, "the workspace's later A→B→A wins", |i| {
        i["fields"]["summary"] == "story 0"
    })
    .await;
    e.wait_issue(other_key, "the workspace's later title wins", |i| {
        i["fields"]["summary"] == "workspace title"
    })
    .await;
    e.quiesce().await;
    assert_eq!(e.item(aba).await["title"], "story 0");
    let o = e.item(other).await;
    assert_eq!(o["title"], "workspace title");
    assert_eq!(o["description"], "an unrelated later edit");
    let history = e.history(aba).await;
    assert!(
        history.iter().any(|h| h["action"] == "conflict"
            && h["field"] == "title"
            && h["loser"].to_string().contains("five")),
        "Jira's older value is recorded as the loser: {history:#?}"
    );
}

/// A person's transition that lands while tandem is syncing a workspace status change is not
/// undone: tandem merges again and, under jiraWins, keeps the person's status on both sides
/// (issue 11, "apply_status drives the issue from wherever it is now"; before, tandem moved
/// the issue on to the item's status).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_made_while_tandem_syncs_a_status_is_not_undone() {
    let e = env_as_robot(Deployment::Cloud, "jiraWins").await;
    let pairs = linked_items(&e, 1).await;
    let (id, key) = &pairs[0];
    race(
        &e,
        id,
        json!({"status": "Doing"}),
        (2000, 3000, 3000),
        |sim| sim.transition_issue(key, "Done").expect("transition"),
    )
    .await;
    e.wait_item(id, "the person's transition wins under jiraWins", |i| {
        i["status"] == "Done"
    })
    .await;
    e.quiesce().await;
    assert_eq!(
        e.jira_issue(key).await["fields"]["status"]["name"],
        "Done",
        "not driven back to In Progress"
    );
}

/// Under workspaceWins a person's transition racing tandem's own is overruled, but never in
/// silence: the history records it as the conflict's loser (found by the convergence campaign,
/// seed 3: a Jira status edit vanished with no record).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_overruled_by_workspace_wins_is_recorded() {
    let e = env_as_robot(Deployment::Cloud, "workspaceWins").await;
    let pairs = linked_items(&e, 1).await;
    let (id, key) = &pairs[0];
    race(
        &e,
        id,
        json!({"status": "Done"}),
        (1000, 2500, 3000),
        |sim| {
            sim.transition_issue(key, "In Progress")
                .expect("transition")
        },
    )
    .await;
    e.wait_issue(key, "the workspace's status wins", |i| {
        i["fields"]["status"]["name"] == "Done"
    })
    .await;
    e.quiesce().await;
    assert_eq!(e.item(id).await["status"], "Done");
    let history = e.history(id).await;
    assert!(
        history
            .iter()
            .any(|h| h["action"] == "conflict" && h["field"] == "status" && h["loser"] == "Doing"),
        "the person's transition is recorded as the loser: {history:#?}"
    );
}

/// Under jiraWins the same race ends with the person's status on both sides: tandem's
/// transition is followed by one back to theirs, and the history says so (before, the conflict
/// was recorded with the workspace as winner and Jira kept tandem's status).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_overwritten_by_tandem_is_restored_under_jira_wins() {
    let e = env_as_robot(Deployment::Cloud, "jiraWins").await;
    let pairs = linked_items(&e, 1).await;
    let (id, key) = &pairs[0];
    race(
        &e,
        id,
        json!({"status": "Done"}),
        (1000, 2500, 3000),
        |sim| {
            sim.transition_issue(key, "In Progress")
                .expect("transition")
        },
    )
    .await;
    e.wait_item(id, "the person's status wins under jiraWins", |i| {
        i["status"] == "Doing"
    })
    .await;
    e.quiesce().await;
    assert_eq!(e.item(id).await["status"], "Doing");
    assert_eq!(
        e.jira_issue(key).await["fields"]["status"]["name"],
        "In Progress",
        "Jira is back at the person's status"
    );
    let history = e.history(id).await;
    assert!(
        history
            .iter()
            .any(|h| h["action"] == "conflict" && h["field"] == "status" && h["winner"] == "Doing"),
        "the conflict is recorded with the person's status as winner: {history:#?}"
    );
}

/// The stale-read race again, but tandem's write lands and its answer is lost, so that run
/// fails before it can ask the changelog. The next run finds Jira showing tandem's in-flight
/// value and must still ask: the person's edit wins under jiraWins and is recorded (found by
/// the convergence campaign; before, the retry took the value for tandem's own and the
/// person's edit was gone without a record).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_cut_off_before_its_changelog_check_is_checked_by_the_next_run() {
    let e = env_as_robot(Deployment::Cloud, "jiraWins").await;
    let pairs = linked_items(&e, 1).await;
    let (id, key) = &pairs[0];
    e.sim
        .set_lost_responses(tandem::sim::faults::LostResponses {
            rate: 1.0,
            count: 0,
            answer: tandem::sim::faults::LostAnswer::Status(503),
        });
    race(
        &e,
        id,
        json!({"title": "tandem's value"}),
        (2000, 3000, 1500),
        |sim| {
            sim.edit_issue(key, json!({"fields": {"summary": "the person's value"}}))
                .expect("edit")
        },
    )
    .await;
    e.wait_issue(key, "tandem's write lands over the person's edit", |i| {
        i["fields"]["summary"] == "tandem's value"
    })
    .await;
    e.d.wait_status("the run failed on its lost answers", |s| {
        resource(s, "ProjectIntegration", "demo").is_some_and(|r| !r["sync"]["lastError"].is_null())
    })
    .await;
    e.sim
        .set_lost_responses(tandem::sim::faults::LostResponses::default());
    e.wait_item(id, "the person's value wins under jiraWins", |i| {
        i["title"] == "the person's value"
    })
    .await;
    e.quiesce().await;
    assert_eq!(
        e.jira_issue(key).await["fields"]["summary"],
        "the person's value",
        "restored in Jira"
    );
    let history = e.history(id).await;
    assert!(
        history.iter().any(|h| h["action"] == "conflict"
            && h["field"] == "title"
            && h["loser"].to_string().contains("tandem's value")),
        "the conflict is recorded: {history:#?}"
    );
}

/// tandem's transition lands and the daemon is killed before the run saves its baseline; a
/// person then moves the issue back to the status of the last saved baseline. After the
/// restart that must read as the person's change, not as "Jira unchanged": under jiraWins the
/// person's status stays on both sides (found by the convergence campaign, seed 37; before,
/// the restarted run drove the issue back to the workspace's status without a record).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_moving_an_issue_after_a_cut_off_transition_is_not_undone() {
    let mut e = env_as_robot(Deployment::Cloud, "jiraWins").await;
    let pairs = linked_items(&e, 1).await;
    let (id, key) = &pairs[0];
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{id}"),
        Some(json!({"status": "Doing"})),
    )
    .await;
    e.wait_issue(key, "In Progress first", |i| {
        i["fields"]["status"]["name"] == "In Progress"
    })
    .await;
    e.quiesce().await;
    // Every request takes 1.5 s: after the transition lands, the run still has its changelog
    // check and its baseline ahead of it when the kill comes.
    e.sim.set_latency(Duration::from_millis(1500));
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{id}"),
        Some(json!({"status": "Done"})),
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while e.sim.issue(key).expect("issue")["fields"]["status"]["name"] != "Done" {
        assert!(
            std::time::Instant::now() < deadline,
            "tandem's transition never landed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    e.kill().await;
    e.sim.set_latency(Duration::ZERO);
    e.sim
        .transition_issue(key, "In Progress")
        .expect("transition");
    e.restart().await;
    e.wait_item(id, "the person's status reaches the item", |i| {
        i["status"] == "Doing"
    })
    .await;
    e.quiesce().await;
    assert_eq!(e.item(id).await["status"], "Doing");
    assert_eq!(
        e.jira_issue(key).await["fields"]["status"]["name"],
        "In Progress",
        "the person's transition is not undone"
    );
}

/// The mirror image: a run pulls a person's Jira status into the item and is killed before it
/// saves its baseline; the person then moves the issue back to the last saved status. After
/// the restart the pulled value must read as tandem's own write, not as a workspace change
/// that goes back over the person's edit (found by the convergence campaign, seed 26).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_pulled_before_a_kill_is_not_taken_for_a_workspace_change() {
    let mut e = env_as_robot(Deployment::Cloud, "jiraWins").await;
    let pairs = linked_items(&e, 1).await;
    let (id, key) = &pairs[0];
    e.quiesce().await;
    // Every request takes 1.5 s: after the item changes, the run still writes the title to
    // Jira and checks the changelog before it would save its baseline.
    e.sim.set_latency(Duration::from_millis(1500));
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{id}"),
        Some(json!({"title": "renamed in the workspace"})),
    )
    .await;
    e.sim.transition_issue(key, "Done").expect("transition");
    let deadline = Instant::now() + Duration::from_secs(30);
    while e.item(id).await["status"] != "Done" {
        assert!(Instant::now() < deadline, "the status was never pulled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    e.kill().await;
    e.sim.set_latency(Duration::ZERO);
    e.sim.transition_issue(key, "To Do").expect("transition");
    e.restart().await;
    e.wait_item(id, "the person's status reaches the item", |i| {
        i["status"] == "Todo"
    })
    .await;
    e.quiesce().await;
    assert_eq!(e.item(id).await["status"], "Todo");
    assert_eq!(
        e.jira_issue(key).await["fields"]["status"]["name"],
        "To Do",
        "the person's transition is not undone"
    );
    assert_eq!(
        e.jira_issue(key).await["fields"]["summary"],
        "renamed in the workspace"
    );
}

/// A person moves the issue away and back (its webhooks lost) since the last sync, then the
/// workspace changes the status: Jira's value equals the ancestor, so the merge pushes, but the
/// person did change the field. Under workspaceWins the workspace keeps its value and the
/// person's change is recorded as the conflict's loser (campaign seed 24; before, nothing was
/// recorded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jira_change_and_back_since_the_last_sync_is_a_change_too() {
    let e = env_as_robot(Deployment::Cloud, "workspaceWins").await;
    let pairs = linked_items(&e, 1).await;
    let (id, key) = &pairs[0];
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{id}"),
        Some(json!({"status": "Doing"})),
    )
    .await;
    e.wait_issue(key, "In Progress first", |i| {
        i["fields"]["status"]["name"] == "In Progress"
    })
    .await;
    e.quiesce().await;
    e.sim
        .set_webhook_delivery_faults(tandem::sim::webhooks::DeliveryFaults {
            drop_rate: 1.0,
            ..Default::default()
        });
    e.sim.transition_issue(key, "Done").expect("transition");
    e.sim
        .transition_issue(key, "In Progress")
        .expect("transition");
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{id}"),
        Some(json!({"status": "Todo"})),
    )
    .await;
    e.wait_issue(key, "the workspace's status wins", |i| {
        i["fields"]["status"]["name"] == "To Do"
    })
    .await;
    e.quiesce().await;
    let history = e.history(id).await;
    assert!(
        history
            .iter()
            .any(|h| h["action"] == "conflict" && h["field"] == "status" && h["loser"] == "Doing"),
        "the person's change is recorded as the loser: {history:#?}"
    );
}

/// An item is deleted while its issue moves to a project another integration of the workspace
/// syncs (the move's webhook lost): the issue stays in Jira and never comes back as a new item
/// through that other integration (found by the convergence campaign, seed 35; before, the
/// tombstone was per integration and the second integration imported the issue again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_items_issue_moved_to_another_integration_is_not_imported_again() {
    let e = Env::start(Deployment::Cloud, "jiraWins").await;
    e.sim.create_project("OPS", "Operations").expect("OPS");
    e.dirs.manifest("ops.yaml", OPS_INTEGRATION);
    e.d.wait_status("the ops integration is ready", |s| {
        is_current_and_ready(s, "ProjectIntegration", "ops")
    })
    .await;
    let pairs = linked_items(&e, 1).await;
    let (id, key) = &pairs[0];
    e.quiesce().await;
    e.sim
        .set_webhook_delivery_faults(tandem::sim::webhooks::DeliveryFaults {
            drop_rate: 1.0,
            ..Default::default()
        });
    let moved = e.sim.move_issue(key, "OPS").expect("move");
    e.ws(reqwest::Method::DELETE, &format!("/items/{id}"), None)
        .await;
    e.quiesce().await;
    e.sim
        .set_webhook_delivery_faults(tandem::sim::webhooks::DeliveryFaults::default());
    for integration in ["demo", "ops"] {
        e.resync(integration).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    e.quiesce().await;
    let holders: Vec<Value> = items(&e)
        .await
        .into_iter()
        .filter(|i| i["jira"]["key"] == moved.as_str() || i["jira"]["key"] == key.as_str())
        .collect();
    assert!(
        holders.is_empty(),
        "the deleted item's issue came back: {holders:#?}"
    );
    assert!(e.sim.issue(&moved).is_some(), "the issue stays in Jira");
}

/// Under jiraWins a person's components, fix versions and multi-select values that tandem's
/// write went over come back on both sides, not only their title or story points. Jira's
/// changelog records components and versions one value per item, so the person's set is
/// rebuilt by undoing tandem's own items.
async fn overwritten_multi_value_fields_are_restored(deployment: Deployment) {
    let e = env_as_robot(deployment, "jiraWins").await;
    // The workspace plans the releases Jira has (the catalog adopts them by name).
    for name in ["1.0", "2.0"] {
        e.ws(
            reqwest::Method::POST,
            "/releases",
            Some(json!({"name": name})),
        )
        .await;
    }
    let id = e
        .create_item(json!({
            "type": "Story",
            "title": "multi",
            "components": ["Backend"],
            "releases": ["1.0"],
            "fields": {"Platforms": ["Web"]}
        }))
        .await;
    let key = e.linked_key(&id).await;
    e.quiesce().await;
    race(
        &e,
        &id,
        json!({
            "components": ["Backend", "Frontend"],
            "releases": ["2.0"],
            "fields": {"Platforms": ["iOS"]}
        }),
        (2000, 3000, 3000),
        |sim| {
            sim.edit_issue(
                &key,
                json!({"fields": {
                    "components": [{"name": "Frontend"}],
                    "fixVersions": [{"name": "1.0"}, {"name": "2.0"}],
                    "customfield_10035": [{"value": "Android"}],
                }}),
            )
            .expect("edit")
        },
    )
    .await;
    e.wait_item(&id, "the person's values win under jiraWins", |i| {
        i["components"] == json!(["Frontend"])
            && i["releases"] == json!(["1.0", "2.0"])
            && i["fields"]["Platforms"] == json!(["Android"])
    })
    .await;
    e.quiesce().await;
    let issue = e.jira_issue(&key).await;
    let names = |v: &Value, k: &str| -> Vec<String> {
        let mut n: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x[k].as_str().map(str::to_owned))
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&issue["fields"]["components"], "name"), ["Frontend"]);
    assert_eq!(
        names(&issue["fields"]["fixVersions"], "name"),
        ["1.0", "2.0"]
    );
    assert_eq!(
        names(&issue["fields"]["customfield_10035"], "value"),
        ["Android"]
    );
    let history = e.history(&id).await;
    for field in ["components", "releases", "Platforms"] {
        assert!(
            history.iter().any(|h| h["action"] == "conflict"
                && h["field"] == field
                && h["winnerSide"] == "jira"),
            "a conflict on {field} won by Jira: {history:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_overwritten_components_versions_and_options_are_restored_under_jira_wins() {
    overwritten_multi_value_fields_are_restored(Deployment::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_overwritten_components_versions_and_options_are_restored_under_jira_wins() {
    overwritten_multi_value_fields_are_restored(Deployment::DataCenter).await;
}

/// Both sides make the same change at once (campaign seed 6): the workspace moves the item to
/// Done while a person moves the issue to Done, landing between tandem's read and its
/// transition. Nothing was lost, so no conflict may be recorded (before, the history said
/// "Alice changed status … JiraWins kept the jira value" with Done beating Done).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_change_on_both_sides_at_once_is_no_conflict() {
    let e = env_as_robot(Deployment::Cloud, "jiraWins").await;
    let pairs = linked_items(&e, 1).await;
    let (id, key) = &pairs[0];
    for at_ms in [1000, 3000, 5000, 7000] {
        let target = if at_ms % 4000 == 1000 { "Done" } else { "Todo" };
        let jira = if target == "Done" { "Done" } else { "To Do" };
        race(
            &e,
            id,
            json!({"status": target}),
            (2000, at_ms, 10_000 - at_ms),
            |sim| sim.transition_issue(key, jira).expect("transition"),
        )
        .await;
        e.quiesce().await;
        assert_eq!(e.item(id).await["status"], target);
        let history = e.history(id).await;
        let conflicts: Vec<&Value> = history
            .iter()
            .filter(|h| h["action"] == "conflict")
            .collect();
        assert!(
            conflicts.is_empty(),
            "person at +{at_ms} ms: no conflict for the same change: {conflicts:#?}"
        );
    }
}

/// The same change on both sides at once, but the workspace moved on meanwhile (campaign
/// seeds 24 and 26): the item goes Todo → Done, tandem reads it and starts driving the issue
/// to Done, the item goes on to Doing, and a person moves the issue to Done just before
/// tandem's transition. The person's Done came after the workspace's Doing, so it is a
/// concurrent change like any other: decided under the policy and recorded, never taken for
/// tandem's own value and overwritten in silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matching_jira_change_after_the_workspace_moved_on_is_a_conflict() {
    let e = env_as_robot(Deployment::Cloud, "workspaceWins").await;
    let pairs = linked_items(&e, 1).await;
    let (id, key) = &pairs[0];
    e.sim.set_latency(Duration::from_millis(2000));
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{id}"),
        Some(json!({"status": "Done"})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{id}"),
        Some(json!({"status": "Doing"})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(5500)).await;
    e.sim.transition_issue(key, "Done").expect("transition");
    tokio::time::sleep(Duration::from_millis(4000)).await;
    e.sim.set_latency(Duration::ZERO);
    e.quiesce().await;
    assert_eq!(e.item(id).await["status"], "Doing");
    assert_eq!(
        e.jira_issue(key).await["fields"]["status"]["name"],
        "In Progress"
    );
    let history = e.history(id).await;
    assert!(
        history.iter().any(|h| h["action"] == "conflict"
            && h["field"] == "status"
            && h["loser"] == "Done"
            && h["winner"] == "Doing"),
        "the person's Done lost to the workspace's Doing, on record: {history:#?}"
    );
}

/// Who tandem is on a connection is asked of Jira once, not once per pair: after a restart, 20
/// pairs written at once (each checking the changelog for others' edits, which needs tandem's
/// own identity) cost one `GET /myself` for that, where 48 workers asked at the same moment
/// before (issue 14's sweep measurements).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tandems_identity_is_asked_once_however_many_pairs_need_it() {
    let mut e = env_as_robot(Deployment::Cloud, "jiraWins").await;
    let pairs = linked_items(&e, 20).await;
    e.kill_and_restart().await;
    e.quiesce().await;
    let before = e.sim.requests_to("GET", "/rest/api/3/myself");
    // A Jira far away, so the 20 runs overlap as they do in a sweep.
    e.sim.set_latency(Duration::from_millis(300));
    for (i, (id, _)) in pairs.iter().enumerate() {
        e.ws(
            reqwest::Method::PATCH,
            &format!("/items/{id}"),
            Some(json!({"title": format!("renamed {i}")})),
        )
        .await;
    }
    for (i, (_, key)) in pairs.iter().enumerate() {
        let want = format!("renamed {i}");
        e.wait_issue(key, "the rename arrives", |is| {
            is["fields"]["summary"] == want.as_str()
        })
        .await;
    }
    e.sim.set_latency(Duration::ZERO);
    e.quiesce().await;
    let asked = e.sim.requests_to("GET", "/rest/api/3/myself") - before;
    assert!(
        asked <= 2,
        "{asked} GET /myself for 20 pairs (one for the identity, at most one connection check)"
    );
}
