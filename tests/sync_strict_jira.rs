//! A stricter Jira (issue 12), through the real `tandem run` binary and the in-process
//! simulator configured the way real Jira sites are: custom fields limited to a context of
//! issue types, creates refused with 400. Each test failed on the code before the fix:
//!
//! - a field outside its context stopped every create of that type (400, retried forever in
//!   silence) and, on read, looked "cleared", which cleared the workspace's value;
//! - a create refused for good was retried forever with nothing in the item's history.

mod common_daemon;
mod common_live;

use std::time::Duration;

use common_daemon::*;
use common_live::*;
use serde_json::json;
use tandem::sim::Deployment;

/// Story points limited to Stories (a company-managed project's usual context): an Epic with
/// story points is created without them, the history names the field Jira refused, the item
/// keeps its value (Jira's read leaves the field out, which is "unknown", not "cleared"), and
/// the pair's other fields go on syncing both ways.
async fn out_of_context_field(deployment: Deployment) {
    let e = Env::start(deployment, "jiraWins").await;
    let sp = e.story_points_field();
    e.sim.set_field_context(sp, Some(&["Story"]));
    let id = e
        .create_item(json!({"type": "Epic", "title": "Checkout", "storyPoints": 5}))
        .await;
    let key = e.linked_key(&id).await;
    let issue = e.jira_issue(&key).await;
    assert!(
        issue["fields"].get(sp).is_none(),
        "{deployment:?}: out of context, Jira shows no story points: {issue:#}"
    );
    let history = e.history(&id).await;
    assert!(
        history.iter().any(|h| h["action"] == "rejected"
            && h["field"] == sp
            && h["message"]
                .as_str()
                .is_some_and(|m| m.contains("appropriate screen"))),
        "{deployment:?}: the refused field is in the history: {history:#?}"
    );
    // And listed per pair and field in status, like a field an edit went without.
    let status = e.d.status().await;
    let refused =
        &resource(&status, "ProjectIntegration", "demo").expect("demo")["sync"]["refusedFields"];
    assert!(
        refused["fields"].as_array().is_some_and(|f| f
            .iter()
            .any(|r| r["item"] == id.as_str() && r["field"] == "storyPoints")),
        "{deployment:?}: {refused}"
    );
    // Both directions go on; the item's story points stay.
    e.sim
        .edit_issue(
            &key,
            json!({"fields": {"summary": "Checkout, edited in Jira"}}),
        )
        .expect("edit");
    e.wait_item(&id, "the Jira edit arrives", |i| {
        i["title"] == "Checkout, edited in Jira"
    })
    .await;
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{id}"),
        Some(json!({"title": "Checkout v2", "storyPoints": 8})),
    )
    .await;
    e.wait_issue(&key, "the workspace edit arrives", |i| {
        i["fields"]["summary"] == "Checkout v2"
    })
    .await;
    e.quiesce().await;
    let item = e.item(&id).await;
    assert_eq!(
        item["storyPoints"], 8.0,
        "{deployment:?}: never cleared: {item:#}"
    );
    assert!(
        e.jira_issue(&key).await["fields"].get(sp).is_none(),
        "{deployment:?}: never written out of context"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_a_field_outside_its_context_neither_blocks_creates_nor_reads_as_cleared() {
    out_of_context_field(Deployment::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_a_field_outside_its_context_neither_blocks_creates_nor_reads_as_cleared() {
    out_of_context_field(Deployment::DataCenter).await;
}

/// A create Jira refuses for good (here a field the Story's field configuration requires and
/// the item does not have) is a visible failure of that item: in its history with Jira's
/// reason and in the integration's last error, and not retried in a loop; other items are
/// created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_jira_refuses_for_good_is_a_visible_failure_of_that_item() {
    let e = Env::start(Deployment::Cloud, "jiraWins").await;
    e.sim.set_required_fields("Story", &["customfield_10034"]);
    let bad = e
        .create_item(json!({"type": "Story", "title": "no target date"}))
        .await;
    let good = e
        .create_item(json!({"type": "Epic", "title": "an epic needs none"}))
        .await;
    e.linked_key(&good).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let failed = loop {
        let history = e.history(&bad).await;
        if let Some(h) = history.iter().find(|h| h["action"] == "failed") {
            break h.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failure recorded: {history:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        failed["message"]
            .as_str()
            .is_some_and(|m| m.contains("Target date is required")),
        "Jira's reason: {failed:#}"
    );
    let status = e.d.status().await;
    let last = &resource(&status, "ProjectIntegration", "demo").expect("demo")["sync"]["lastError"];
    assert!(
        last.to_string().contains(&bad),
        "status names the item: {last}"
    );
    let creates = || {
        e.sim
            .request_log()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/issue") && r.status == 400)
            .count()
    };
    let before = creates();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(creates(), before, "not retried while nothing changes");
    assert!(e.item(&bad).await["jira"].is_null());
    // Once the item has what Jira requires, it goes.
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{bad}"),
        Some(json!({"fields": {"Target date": "2026-12-24"}})),
    )
    .await;
    e.linked_key(&bad).await;
    // The item synced: its error is no longer the integration's last one.
    e.d.wait_status("lastError clears once the pair syncs", |s| {
        resource(s, "ProjectIntegration", "demo").is_some_and(|r| r["sync"]["lastError"].is_null())
    })
    .await;
}

/// Adds `n` comments to `key` as a person does.
async fn comment_many(e: &Env, key: &str, n: usize) {
    for c in 0..n {
        let resp = e
            .jira(
                reqwest::Method::POST,
                &format!("{}/issue/{key}/comment", e.api()),
            )
            .json(&json!({"body": format!("comment {c} on {key}")}))
            .send()
            .await
            .expect("POST comment");
        assert_eq!(resp.status().as_u16(), 201);
    }
}

/// `comment` is not a navigable field, and an issue read embeds one page of comments (Cloud
/// the newest 100) with the true total: an import and a live sync both get every comment of
/// an issue with more (before, an import got none, and comments past the first page never
/// synced).
async fn comments_paged(deployment: Deployment) {
    // No webhook: the import alone makes the item, and the sweep alone brings later changes.
    let mut options = LiveOptions::new(deployment, "jiraWins");
    options.managed_webhook = false;
    let e = Env::start_with(options).await;
    let old = e
        .sim
        .create_issue(json!({"project": {"key": "DEMO"}, "issuetype": {"name": "Story"}, "summary": "a long discussion"}))
        .expect("issue");
    comment_many(&e, &old.key, 130).await;
    let job = e.start_job("demo", json!({"direction": "fromJira"})).await;
    assert_eq!(job["counts"]["failed"], 0, "{job:#}");
    let items = e.ws(reqwest::Method::GET, "/items?limit=500", None).await;
    let item = items["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["jira"]["key"] == old.key.as_str())
        .cloned()
        .expect("the issue has an item");
    let id = item["id"].as_str().expect("id").to_owned();
    let full = e
        .wait_item(&id, "all 130 comments", |i| {
            i["comments"].as_array().is_some_and(|c| c.len() == 130)
        })
        .await;
    let bodies: Vec<&str> = full["comments"]
        .as_array()
        .expect("comments")
        .iter()
        .filter_map(|c| c["body"].as_str())
        .collect();
    assert!(bodies.contains(&format!("comment 0 on {}", old.key).as_str()));
    assert!(bodies.contains(&format!("comment 129 on {}", old.key).as_str()));
    // Later comments past the embedded page reach the item too.
    comment_many(&e, &old.key, 5).await;
    e.resync("demo").await;
    e.wait_item(&id, "135 comments", |i| {
        i["comments"].as_array().is_some_and(|c| c.len() == 135)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_every_comment_is_read_past_the_embedded_page() {
    comments_paged(Deployment::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_every_comment_is_read_though_comment_is_not_navigable() {
    comments_paged(Deployment::DataCenter).await;
}

/// Jira refuses to register tandem's webhook (here it does not take the URL):
/// the connection stays Ready and says why, and the integration goes on syncing, workspace
/// changes at once and Jira's by the resync sweep (before, the Connection and every
/// integration on it stopped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_jira_refuses_leaves_the_connection_syncing_by_the_sweep() {
    let mut options = LiveOptions::new(Deployment::Cloud, "jiraWins");
    options.managed_webhook = false;
    let e = Env::start_with(options).await;
    e.sim
        .refuse_webhook_registrations(Some("The URL must be reachable over HTTPS."));
    e.dirs.manifest(
        "connection.yaml",
        &connection_manifest(
            &e.sim.base_url(),
            false,
            "admin@example.com",
            Some(&e.d.public),
        ),
    );
    let s =
        e.d.wait_status("the connection says its webhook was refused", |s| {
            resource(s, "Connection", "jira").is_some_and(|r| {
                r["details"]["webhookRegistration"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("registration failed"))
            }) && all_ready(s)
        })
        .await;
    let conn = resource(&s, "Connection", "jira").expect("connection");
    assert!(
        conn.to_string().contains("WebhookRegistrationFailed")
            && conn.to_string().contains("resync sweep"),
        "{conn:#}"
    );
    let id = e
        .create_item(json!({"type": "Story", "title": "pushed without a webhook"}))
        .await;
    let key = e.linked_key(&id).await;
    e.sim
        .edit_issue(&key, json!({"fields": {"summary": "edited in Jira"}}))
        .expect("edit");
    e.resync("demo").await;
    e.wait_item(&id, "the sweep brings Jira's edit", |i| {
        i["title"] == "edited in Jira"
    })
    .await;
}

/// A rotated webhook secret reaches Jira: Jira never shows a webhook's secret, so without this
/// tandem would verify with the new secret while Jira signs with the old one, and every
/// webhook would be refused until someone re-registered it by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_webhook_secret_reaches_jira() {
    let e = Env::start(Deployment::Cloud, "jiraWins").await;
    let id = e
        .create_item(json!({"type": "Story", "title": "before the rotation"}))
        .await;
    let key = e.linked_key(&id).await;
    e.quiesce().await;
    e.dirs.secret("whsecret", "a-brand-new-webhook-secret");
    e.d.wait_status("the webhook updated with the new secret", |s| {
        resource(s, "Connection", "jira").is_some_and(|r| {
            r["details"]["webhookRegistration"]
                .as_str()
                .is_some_and(|m| m.contains("1 repaired"))
        })
    })
    .await;
    e.sim
        .edit_issue(&key, json!({"fields": {"summary": "after the rotation"}}))
        .expect("edit");
    e.wait_item(&id, "the Jira edit arrives by webhook", |i| {
        i["title"] == "after the rotation"
    })
    .await;
}

/// A field the project's edit screen does not have (Platforms, on Stories): Jira refuses the
/// whole edit with 400. The other fields of the edit still reach Jira, the item keeps its value
/// (never reverted to Jira's), and the refusal is visible per pair and field: the item's
/// history, `refusedFields` in status and `tandem_sync_fields_refused_total`. Once an
/// administrator puts the field on the screen, the next sync of the pair writes it.
async fn field_off_the_edit_screen(deployment: Deployment) {
    let e = Env::start(deployment, "jiraWins").await;
    let id = e
        .create_item(json!({"type": "Story", "title": "screens", "fields": {"Platforms": ["Web"]}}))
        .await;
    let key = e.linked_key(&id).await;
    e.quiesce().await;
    e.sim.set_screen(
        "DEMO",
        &["Story"],
        tandem::sim::model::ScreenOp::Edit,
        &["customfield_10035"],
    );
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{id}"),
        Some(json!({"title": "screens, retitled", "fields": {"Platforms": ["iOS"]}})),
    )
    .await;
    e.wait_issue(&key, "the title arrives without the refused field", |i| {
        i["fields"]["summary"] == "screens, retitled"
    })
    .await;
    e.quiesce().await;
    let issue = e.jira_issue(&key).await;
    assert_eq!(
        issue["fields"]["customfield_10035"][0]["value"], "Web",
        "{deployment:?}"
    );
    let item = e.item(&id).await;
    assert_eq!(
        item["fields"]["Platforms"],
        json!(["iOS"]),
        "{deployment:?}: the item keeps its value"
    );
    let history = e.history(&id).await;
    assert!(
        history.iter().any(|h| h["action"] == "rejected"
            && h["field"] == "Platforms"
            && h["message"]
                .as_str()
                .is_some_and(|m| m.contains("appropriate screen"))),
        "{deployment:?}: {history:#?}"
    );
    let status = e.d.status().await;
    let refused =
        &resource(&status, "ProjectIntegration", "demo").expect("demo")["sync"]["refusedFields"];
    assert_eq!(refused["count"], 1, "{refused}");
    assert_eq!(refused["fields"][0]["item"], id.as_str());
    assert_eq!(refused["fields"][0]["field"], "Platforms");
    let metrics = e.d.admin_get("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("tandem_sync_fields_refused_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
    // Jira's value did not come back over the item's on a later sync either.
    e.sim
        .edit_issue(&key, json!({"fields": {"summary": "screens, from Jira"}}))
        .expect("edit");
    e.wait_item(&id, "the Jira edit arrives", |i| {
        i["title"] == "screens, from Jira"
    })
    .await;
    assert_eq!(e.item(&id).await["fields"]["Platforms"], json!(["iOS"]));
    // The administrator fixes the screen; the next sync of the pair writes the field.
    e.sim.clear_screens();
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{id}"),
        Some(json!({"title": "screens, fixed"})),
    )
    .await;
    e.wait_issue(&key, "the field arrives once it is on the screen", |i| {
        i["fields"]["customfield_10035"][0]["value"] == "iOS"
    })
    .await;
    e.quiesce().await;
    let status = e.d.status().await;
    let refused =
        &resource(&status, "ProjectIntegration", "demo").expect("demo")["sync"]["refusedFields"];
    assert_eq!(refused["count"], 0, "{refused}");
    assert!(e
        .history(&id)
        .await
        .iter()
        .any(|h| h["action"] == "accepted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_a_field_off_the_edit_screen_does_not_block_the_other_fields() {
    field_off_the_edit_screen(Deployment::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_a_field_off_the_edit_screen_does_not_block_the_other_fields() {
    field_off_the_edit_screen(Deployment::DataCenter).await;
}

/// The integration `team` for project TEAM, the fields named (a team-managed project has no
/// board estimation to take `auto` from).
fn team_integration() -> String {
    OPS_INTEGRATION
        .replace("name: ops", "name: team")
        .replace("displayName: Operations", "displayName: Team")
        .replace(
            "project: OPS\n",
            "project: TEAM\n  fieldMapping: team-fields\n",
        )
}

/// Epics and Stories pushed into a project of each strict kind come out with their hierarchy:
/// a Data Center project that requires Epic Name on every Epic (8 and 9 do), and a
/// team-managed Cloud project (issue types of its own, `parent` for the epic, "Story point
/// estimate").
async fn hierarchy_in(deployment: Deployment) {
    let e = Env::start(deployment, "jiraWins").await;
    let (integration, project) = if deployment == Deployment::Cloud {
        e.sim
            .create_team_managed_project("TEAM", "Team")
            .expect("TEAM");
        e.dirs.manifest(
            "team-fields.yaml",
            &fields_manifest()
                .replace("name: demo-fields", "name: team-fields")
                .replace("storyPoints: auto", "storyPoints: Story point estimate")
                .replace("    components: true\n    releases: true\n", ""),
        );
        e.dirs.manifest("team.yaml", &team_integration());
        e.d.wait_status("the team integration is ready", |s| {
            is_current_and_ready(s, "ProjectIntegration", "team")
        })
        .await;
        ("team", "TEAM")
    } else {
        ("demo", "DEMO")
    };
    let epic = e
        .create_item(json!({"type": "Epic", "title": "Checkout", "syncTo": integration}))
        .await;
    let story = e
        .create_item(json!({
            "type": "Story", "title": "Pay by card", "parent": epic, "storyPoints": 3,
            "syncTo": integration,
        }))
        .await;
    let epic_key = e.linked_key(&epic).await;
    let story_key = e.linked_key(&story).await;
    assert!(epic_key.starts_with(&format!("{project}-")), "{epic_key}");
    e.wait_issue(&story_key, "the story is in its epic", |i| {
        e.parent_key(i).as_deref() == Some(epic_key.as_str())
    })
    .await;
    let epic_issue = e.jira_issue(&epic_key).await;
    let story_issue = e.jira_issue(&story_key).await;
    assert_eq!(epic_issue["fields"]["issuetype"]["name"], "Epic");
    assert_eq!(story_issue["fields"]["issuetype"]["name"], "Story");
    assert_eq!(story_issue["fields"][e.story_points_field()], 3.0);
    if deployment == Deployment::Cloud {
        // The project's own types, not the company-managed ones.
        assert_eq!(epic_issue["fields"]["issuetype"]["id"], "10100");
        assert_eq!(story_issue["fields"]["issuetype"]["id"], "10101");
    } else {
        assert_eq!(
            epic_issue["fields"]["customfield_10102"], "Checkout",
            "Epic Name"
        );
    }
    let history = e.history(&epic).await;
    assert!(
        !history
            .iter()
            .any(|h| h["action"] == "failed" || h["action"] == "rejected"),
        "{history:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_epics_and_stories_keep_their_hierarchy_in_a_team_managed_project() {
    hierarchy_in(Deployment::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_epics_and_stories_keep_their_hierarchy_where_epic_name_is_required() {
    hierarchy_in(Deployment::DataCenter).await;
}

/// Jira Cloud's Atlassian team field shows a team as an object with its name but takes only
/// the team's id: a name is refused with 400 (every create or edit carrying a team failed
/// before). tandem writes the id declared under `primary.teams`, reads the name back, and an
/// item whose team has no declared id fails visibly, naming where to declare it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_a_team_is_written_by_its_id() {
    const PLATFORM: &str = "36885b3c-1bf0-4f85-a357-c5b858c31de4";
    const MOBILE: &str = "9d2cd6a2-8a57-4a0b-9a1a-3f4bd0a1e5c7";
    let e = Env::start(Deployment::Cloud, "jiraWins").await;
    e.dirs.manifest(
        "fields.yaml",
        &fields_manifest().replace(
            "    storyPoints: auto\n",
            &format!(
                "    storyPoints: auto\n    team: Atlassian Team\n    teams:\n      Platform: {PLATFORM}\n      Mobile: {MOBILE}\n"
            ),
        ),
    );
    e.d.wait_status("the mapping with teams is applied", |s| {
        is_current_and_ready(s, "ProjectIntegration", "demo")
            && s.to_string().contains("Atlassian Team")
    })
    .await;
    let id = e
        .create_item(json!({"type": "Story", "title": "teamwork", "team": "Platform"}))
        .await;
    let key = e.linked_key(&id).await;
    // (The engine may take the new mapping a moment after status shows it Ready.)
    let issue = e
        .wait_issue(&key, "the team by its id", |i| {
            i["fields"]["customfield_10001"]["id"] == PLATFORM
        })
        .await;
    assert_eq!(issue["fields"]["customfield_10001"]["name"], "Platform");
    // A person picks another team in Jira: the item shows its name.
    e.sim
        .edit_issue(&key, json!({"fields": {"customfield_10001": MOBILE}}))
        .expect("edit");
    e.wait_item(&id, "the team chosen in Jira", |i| i["team"] == "Mobile")
        .await;
    // A team without a declared id is a visible failure of that item, not a silent 400 loop.
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{id}"),
        Some(json!({"team": "Sales"})),
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let history = e.history(&id).await;
        if history.iter().any(|h| {
            h["action"] == "failed"
                && h["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("Sales") && m.contains("primary.teams"))
        }) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failure naming primary.teams: {history:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        e.jira_issue(&key).await["fields"]["customfield_10001"]["id"],
        MOBILE
    );
}

/// A project whose create screen has no Labels: tandem's creates carry its item property
/// instead of the adoption label, and a create whose answer is lost (the issue exists, tandem
/// does not know it) is found again by that property: one issue, linked, never a second one.
/// Before, labels were never dropped from a create, so every create there was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_labels_a_cut_off_create_is_found_by_its_item_property() {
    let e = Env::start(Deployment::Cloud, "jiraWins").await;
    e.sim.set_screen(
        "DEMO",
        &[],
        tandem::sim::model::ScreenOp::Create,
        &["labels"],
    );
    e.sim
        .set_lost_responses(tandem::sim::faults::LostResponses {
            rate: 0.0,
            count: 1,
            answer: tandem::sim::faults::LostAnswer::Status(503),
        });
    let id = e
        .create_item(json!({"type": "Story", "title": "created once"}))
        .await;
    let key = e.linked_key(&id).await;
    e.quiesce().await;
    let found = e
        .sim
        .search("project = DEMO AND summary ~ \"created once\"")
        .expect("search");
    assert_eq!(found.len(), 1, "one issue, not two: {found:?}");
    let issue = e.jira_issue(&key).await;
    assert!(
        issue["fields"]["labels"]
            .as_array()
            .is_none_or(|l| l.is_empty()),
        "{issue:#}"
    );
    let property = e
        .jira_get(&format!(
            "{}/issue/{key}/properties/{}",
            e.api(),
            tandem::jira::ITEM_PROPERTY
        ))
        .await;
    assert!(
        property["value"]["item"]
            .as_str()
            .is_some_and(|l| l.ends_with(&id)),
        "{property:#}"
    );
    // The issue was found again by reading tandem's property, not by a label.
    assert!(
        e.sim
            .request_log()
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with("/properties/tandem.item")),
        "the property scan ran"
    );
}

/// A FieldMapping shared by two integrations, one without a board while the mapping says
/// `storyPoints: auto`: only that integration is not Ready; the other keeps syncing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_mapping_one_integration_cannot_use_fails_only_that_one() {
    let e = Env::start(Deployment::Cloud, "jiraWins").await;
    e.sim.create_project("OPS", "Operations").expect("OPS");
    e.dirs.manifest(
        "ops.yaml",
        &OPS_INTEGRATION.replace(
            "project: OPS\n",
            "project: OPS\n  fieldMapping: demo-fields\n",
        ),
    );
    let status =
        e.d.wait_status("ops is checked", |s| {
            resource(s, "ProjectIntegration", "ops")
                .is_some_and(|r| r["conditions"].to_string().contains("JiraMismatch"))
        })
        .await;
    let demo = ready(&status, "ProjectIntegration", "demo");
    assert!(
        demo.as_ref().is_some_and(|(ok, _, _)| *ok),
        "demo stays Ready: {demo:?}\n{status:#}"
    );
    let id = e
        .create_item(json!({"type": "Story", "title": "still syncing"}))
        .await;
    assert!(e.linked_key(&id).await.starts_with("DEMO-"));
}

/// A field on the edit screen but not on the create screen (a common screen scheme): the
/// create goes without it, the item keeps its value (never cleared from Jira's empty one), and
/// the next sync writes it with an edit, where Jira takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_only_on_the_edit_screen_is_written_after_the_create() {
    let e = Env::start(Deployment::Cloud, "jiraWins").await;
    e.sim.set_screen(
        "DEMO",
        &["Story"],
        tandem::sim::model::ScreenOp::Create,
        &["customfield_10035"],
    );
    let id = e
        .create_item(
            json!({"type": "Story", "title": "edit later", "fields": {"Platforms": ["Web"]}}),
        )
        .await;
    let key = e.linked_key(&id).await;
    e.wait_issue(&key, "Platforms arrives by an edit", |i| {
        i["fields"]["customfield_10035"][0]["value"] == "Web"
    })
    .await;
    e.quiesce().await;
    assert_eq!(e.item(&id).await["fields"]["Platforms"], json!(["Web"]));
}

/// A comment alone, added in Data Center, reaches the item by webhook (the sweep runs hourly
/// here). Its `comment_created` delivery carries no issue (only `comment.self`, as real server
/// deliveries do); Jira also sends `jira:issue_updated` (`issue_commented`), so this shows the
/// outcome, and `events::tests` shows the `comment.self` routing on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_a_comment_alone_arrives_by_its_webhook() {
    let e = Env::start(Deployment::DataCenter, "jiraWins").await;
    let id = e
        .create_item(json!({"type": "Story", "title": "commented in Jira"}))
        .await;
    let key = e.linked_key(&id).await;
    e.quiesce().await;
    let resp = e
        .jira(
            reqwest::Method::POST,
            &format!("{}/issue/{key}/comment", e.api()),
        )
        .json(&json!({"body": "Only a comment."}))
        .send()
        .await
        .expect("comment");
    assert!(resp.status().is_success(), "{}", resp.status());
    e.wait_item(&id, "the comment arrives", |i| {
        i["comments"].as_array().is_some_and(|c| {
            c.iter().any(|c| {
                c["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("Only a comment"))
            })
        })
    })
    .await;
}
