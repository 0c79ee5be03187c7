//! The embedded workspace through `WorkspaceService`, as the admin API and the sync engine use
//! it: manifest validation naming the field, optimistic concurrency, the change feed (one entry
//! per write, in order, durable), history on delete, Jira links, never-reused ids.

use std::path::PathBuf;

use serde_json::json;
use tandem::manifest::{self, model::Model, SourceFile};
use tandem::store::Store;
use tandem::workspace::{
    ChangeOp, ChangeTarget, IfMatch, ImportEntry, ImportTarget, IssueRef, ItemFilter, ItemPatch,
    Origin, ReleasePatch, SprintPatch, WorkspaceError, WorkspaceService,
};

const MANIFESTS: &str = r#"
apiVersion: tandem/v1
kind: Workspace
metadata: {name: acme}
spec:
  id: acme-public
  itemTypes:
    - name: Epic
    - name: Story
      parent: Epic
  statuses: [Backlog, In Progress, Done]
  fields:
    - {name: Risk, type: singleSelect, options: [Low, High]}
    - {name: Due, type: date}
    - {name: Tags, type: labels}
---
apiVersion: tandem/v1
kind: Connection
metadata: {name: jira}
spec:
  displayName: Jira
  url: https://acme.atlassian.net/
  auth:
    email: bot@example.com
    apiToken: {file: token}
---
apiVersion: tandem/v1
kind: ProjectIntegration
metadata: {name: acme-jira}
spec:
  displayName: Acme in Jira
  connection: jira
  workspace: acme
  project: ACME
  types:
    - {workspace: Epic, jira: Epic}
    - {workspace: Story, jira: Story}
  statuses:
    - {workspace: Backlog, jira: To Do}
    - {workspace: In Progress, jira: In Progress}
    - {workspace: Done, jira: Done}
"#;

fn model() -> Model {
    let v = manifest::validate(&[SourceFile {
        path: PathBuf::from("acme.yaml"),
        text: MANIFESTS.to_string(),
    }]);
    assert!(
        v.model.workspaces.contains_key("acme") && v.model.integrations.contains_key("acme-jira"),
        "fixture manifests must be valid: {:?}",
        v.diagnostics
    );
    v.model
}

fn patch(v: serde_json::Value) -> ItemPatch {
    ItemPatch::from_json(&v).expect("patch parses")
}

fn invalid_field<T: std::fmt::Debug>(r: Result<T, WorkspaceError>) -> String {
    match r {
        Err(WorkspaceError::Invalid { field, .. }) => field,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

async fn epic_and_story(svc: &WorkspaceService) -> (String, String) {
    let epic = svc
        .create_item(
            "acme",
            patch(json!({"type": "Epic", "title": "Checkout"})),
            Origin::Api,
        )
        .await
        .expect("epic");
    let story = svc
        .create_item(
            "acme",
            patch(json!({"type": "Story", "title": "Pay", "parent": epic.id})),
            Origin::Api,
        )
        .await
        .expect("story");
    (epic.id, story.id)
}

#[tokio::test]
async fn items_round_trip_with_defaults_filters_and_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = WorkspaceService::with_model(Store::open(dir.path()).expect("open"), model());
    svc.create_sprint(
        "acme",
        SprintPatch::from_json(&json!({"name": "Sprint 1", "state": "active"})).expect("sprint"),
        Origin::Api,
    )
    .await
    .expect("create sprint");
    svc.create_release(
        "acme",
        ReleasePatch::from_json(&json!({"name": "1.0", "releaseDate": "2026-12-01"}))
            .expect("release"),
        Origin::Api,
    )
    .await
    .expect("create release");
    let (epic, story) = epic_and_story(&svc).await;
    assert_eq!((epic.as_str(), story.as_str()), ("ITEM-1", "ITEM-2"));

    let created = svc.get_item("acme", &story).expect("get");
    assert_eq!(created.status, "Backlog", "the first declared status");
    assert_eq!(created.version, 1);
    assert_eq!(created.parent.as_deref(), Some("ITEM-1"));

    let edited = svc
        .patch_item(
            "acme",
            &story,
            patch(json!({
                "status": "In Progress", "sprint": "Sprint 1", "releases": ["1.0"],
                "storyPoints": 3, "labels": ["web"],
                "fields": {"Risk": "High", "Due": "2026-12-24", "Tags": ["a", "b"], "value": 8}
            })),
            Some(IfMatch::Versions(vec![1])),
            Origin::Api,
        )
        .await
        .expect("patch");
    assert_eq!(edited.version, 2);
    assert_eq!(edited.fields["Risk"], json!("High"));
    // Reading by the public id finds the same workspace.
    assert_eq!(svc.get_item("acme-public", &story).expect("get"), edited);

    // A null clears one custom field and keeps the others.
    let cleared = svc
        .patch_item(
            "acme",
            &story,
            patch(json!({"fields": {"Risk": null}, "sprint": null})),
            None,
            Origin::Api,
        )
        .await
        .expect("patch");
    assert!(!cleared.fields.contains_key("Risk"));
    assert_eq!(cleared.fields["Due"], json!("2026-12-24"));
    assert_eq!(cleared.sprint, None);

    for n in 0..5 {
        svc.create_item(
            "acme",
            patch(json!({"type": "Story", "title": format!("S{n}"), "releases": ["1.0"]})),
            Origin::Api,
        )
        .await
        .expect("story");
    }
    let mut seen = Vec::new();
    let mut filter = ItemFilter {
        release: Some("1.0".into()),
        limit: Some(2),
        ..Default::default()
    };
    loop {
        let page = svc.list_items("acme", &filter).expect("list");
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|i| i.id));
        match page.next {
            Some(next) => filter.cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["ITEM-2", "ITEM-3", "ITEM-4", "ITEM-5", "ITEM-6", "ITEM-7"]
    );
    let epics = svc
        .list_items(
            "acme",
            &ItemFilter {
                item_type: Some("Epic".into()),
                ..Default::default()
            },
        )
        .expect("list");
    assert_eq!(epics.items.len(), 1);
    let children = svc
        .list_items(
            "acme",
            &ItemFilter {
                parent: Some(epic.clone()),
                ..Default::default()
            },
        )
        .expect("list");
    assert_eq!(children.items.len(), 1);
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = WorkspaceService::with_model(Store::open(dir.path()).expect("open"), model());
    let (epic, story) = epic_and_story(&svc).await;
    let create = |v| svc.create_item("acme", patch(v), Origin::Api);

    assert_eq!(
        invalid_field(create(json!({"type": "Bug", "title": "x"})).await),
        "type"
    );
    assert_eq!(
        invalid_field(create(json!({"type": "Story"})).await),
        "title"
    );
    assert_eq!(
        invalid_field(create(json!({"type": "Story", "title": " "})).await),
        "title"
    );
    assert_eq!(
        invalid_field(create(json!({"type": "Story", "title": "x", "status": "Doing"})).await),
        "status"
    );
    // Epics have no parent type; a Story's parent must be an Epic and must exist.
    assert_eq!(
        invalid_field(create(json!({"type": "Epic", "title": "x", "parent": epic})).await),
        "parent"
    );
    assert_eq!(
        invalid_field(create(json!({"type": "Story", "title": "x", "parent": story})).await),
        "parent"
    );
    assert_eq!(
        invalid_field(create(json!({"type": "Story", "title": "x", "parent": "ITEM-99"})).await),
        "parent"
    );
    assert_eq!(
        invalid_field(create(json!({"type": "Story", "title": "x", "sprint": "nope"})).await),
        "sprint"
    );
    assert_eq!(
        invalid_field(create(json!({"type": "Story", "title": "x", "releases": ["9.9"]})).await),
        "releases[0]"
    );
    assert_eq!(
        invalid_field(
            create(json!({"type": "Story", "title": "x", "fields": {"Risk": "Medium"}})).await
        ),
        "fields.Risk"
    );
    assert_eq!(
        invalid_field(
            create(json!({"type": "Story", "title": "x", "fields": {"Due": "tomorrow"}})).await
        ),
        "fields.Due"
    );
    assert_eq!(
        invalid_field(
            create(json!({"type": "Story", "title": "x", "fields": {"value": "lots"}})).await
        ),
        "fields.value"
    );
    assert_eq!(
        invalid_field(
            create(json!({"type": "Story", "title": "x", "fields": {"Colour": "red"}})).await
        ),
        "fields.Colour"
    );
    assert_eq!(
        invalid_field(
            create(json!({"type": "Story", "title": "x", "labels": ["two words"]})).await
        ),
        "labels[0]"
    );
    // Comments come from Jira; through the API they are read-only.
    assert_eq!(
        invalid_field(
            svc.patch_item(
                "acme",
                &story,
                patch(json!({"comments": []})),
                None,
                Origin::Api
            )
            .await
        ),
        "comments"
    );
    // Changing the Epic's type would orphan its Story.
    assert_eq!(
        invalid_field(
            svc.patch_item(
                "acme",
                &epic,
                patch(json!({"type": "Story"})),
                None,
                Origin::Api
            )
            .await
        ),
        "type"
    );
    // Nothing of the above was written.
    let all = svc
        .list_items("acme", &ItemFilter::default())
        .expect("list");
    assert_eq!(all.items.len(), 2);
    assert_eq!(svc.changes_since(0, 100).expect("feed").len(), 2);
}

#[tokio::test]
async fn unknown_workspaces_and_items_are_not_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = WorkspaceService::with_model(Store::open(dir.path()).expect("open"), model());
    let r = svc
        .create_item(
            "other",
            patch(json!({"type": "Epic", "title": "x"})),
            Origin::Api,
        )
        .await;
    assert!(
        matches!(r, Err(WorkspaceError::UnknownWorkspace(_))),
        "{r:?}"
    );
    assert!(matches!(
        svc.list_items("other", &ItemFilter::default()),
        Err(WorkspaceError::UnknownWorkspace(_))
    ));
    for id in ["ITEM-1", "ITEM-01", "nonsense"] {
        assert!(
            matches!(
                svc.get_item("acme", id),
                Err(WorkspaceError::NotFound { .. })
            ),
            "{id}"
        );
    }
}

#[tokio::test]
async fn if_match_refuses_a_stale_version_and_exactly_one_concurrent_patch_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = WorkspaceService::with_model(Store::open(dir.path()).expect("open"), model());
    let (_, story) = epic_and_story(&svc).await;

    let stale = svc
        .patch_item(
            "acme",
            &story,
            patch(json!({"title": "late"})),
            Some(IfMatch::Versions(vec![7])),
            Origin::Api,
        )
        .await;
    assert!(
        matches!(
            stale,
            Err(WorkspaceError::VersionMismatch { current: 1, .. })
        ),
        "{stale:?}"
    );

    let mut tasks = Vec::new();
    for n in 0..16 {
        let svc = svc.clone();
        let story = story.clone();
        tasks.push(tokio::spawn(async move {
            svc.patch_item(
                "acme",
                &story,
                patch(json!({"title": format!("writer {n}")})),
                Some(IfMatch::Versions(vec![1])),
                Origin::Api,
            )
            .await
        }));
    }
    let mut winners = Vec::new();
    let mut losers = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(item) => winners.push(item),
            Err(WorkspaceError::VersionMismatch { current: 2, .. }) => losers += 1,
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins");
    assert_eq!(losers, 15);
    let stored = svc.get_item("acme", &story).expect("get");
    assert_eq!(stored.version, 2);
    assert_eq!(stored.title, winners[0].title);

    let deleted = svc
        .delete_item(
            "acme",
            &story,
            Some(IfMatch::Versions(vec![1])),
            Origin::Api,
        )
        .await;
    assert!(matches!(
        deleted,
        Err(WorkspaceError::VersionMismatch { .. })
    ));
    assert!(
        svc.get_item("acme", &story).is_ok(),
        "a refused delete deletes nothing"
    );
}

#[tokio::test]
async fn the_change_feed_has_one_entry_per_write_in_order_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ids;
    {
        let store = Store::open(dir.path()).expect("open");
        let svc = WorkspaceService::with_model(store.clone(), model());
        let mut seen = svc.subscribe();
        let (epic, story) = epic_and_story(&svc).await;
        svc.patch_item(
            "acme",
            &story,
            patch(json!({"title": "Pay with card", "status": "Done"})),
            None,
            Origin::Sync("acme-jira".into()),
        )
        .await
        .expect("patch");
        // A patch that changes nothing writes nothing.
        svc.patch_item(
            "acme",
            &story,
            patch(json!({"title": "Pay with card"})),
            None,
            Origin::Api,
        )
        .await
        .expect("no-op patch");
        svc.delete_item("acme", &story, None, Origin::Api)
            .await
            .expect("delete");
        assert_eq!(*seen.borrow_and_update(), 4);
        ids = (epic, story);
        store.close().await.expect("close");
    }
    let store = Store::open(dir.path()).expect("reopen");
    let svc = WorkspaceService::with_model(store, model());
    let feed = svc.changes_since(0, 100).expect("feed");
    let summary: Vec<(u64, ChangeTarget, ChangeOp, u64, String)> = feed
        .iter()
        .map(|c| {
            (
                c.seq,
                c.target.clone(),
                c.op,
                c.version,
                c.origin.to_string(),
            )
        })
        .collect();
    let (epic, story) = ids;
    assert_eq!(
        summary,
        vec![
            (
                1,
                ChangeTarget::Item(epic.clone()),
                ChangeOp::Create,
                1,
                "api".into()
            ),
            (
                2,
                ChangeTarget::Item(story.clone()),
                ChangeOp::Create,
                1,
                "api".into()
            ),
            (
                3,
                ChangeTarget::Item(story.clone()),
                ChangeOp::Update,
                2,
                "sync:acme-jira".into()
            ),
            (
                4,
                ChangeTarget::Item(story.clone()),
                ChangeOp::Delete,
                3,
                "api".into()
            ),
        ]
    );
    assert_eq!(
        feed[2].fields,
        vec!["status".to_string(), "title".to_string()]
    );
    assert_eq!(svc.changes_since(2, 1).expect("cursor")[0].seq, 3);

    // Ids are never reused, not even after a delete and a reopen.
    let next = svc
        .create_item(
            "acme",
            patch(json!({"type": "Story", "title": "again"})),
            Origin::Api,
        )
        .await
        .expect("create");
    assert_eq!(next.id, "ITEM-3");
}

#[tokio::test]
async fn deleting_records_history_and_refuses_while_children_or_items_depend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = WorkspaceService::with_model(Store::open(dir.path()).expect("open"), model());
    svc.create_sprint(
        "acme",
        SprintPatch::from_json(&json!({"name": "S1"})).expect("sprint"),
        Origin::Api,
    )
    .await
    .expect("sprint");
    let (epic, story) = epic_and_story(&svc).await;
    svc.patch_item(
        "acme",
        &story,
        patch(json!({"sprint": "S1"})),
        None,
        Origin::Api,
    )
    .await
    .expect("into sprint");
    svc.set_jira_link(
        "acme",
        &story,
        "acme-jira",
        Some(IssueRef {
            connection: "jira".into(),
            id: "10001".into(),
            key: "ACME-1".into(),
        }),
    )
    .await
    .expect("link");
    let linked = svc.get_item("acme", &story).expect("get");
    let jira = linked.jira.expect("the item shows its link");
    assert_eq!(
        (
            jira.integration.as_str(),
            jira.key.as_str(),
            jira.id.as_str(),
            jira.url.as_str()
        ),
        (
            "acme-jira",
            "ACME-1",
            "10001",
            "https://acme.atlassian.net/browse/ACME-1"
        )
    );
    assert_eq!(linked.version, 2, "linking is not an edit");

    let r = svc.delete_item("acme", &epic, None, Origin::Api).await;
    assert!(matches!(r, Err(WorkspaceError::Conflict(_))), "{r:?}");
    let r = svc.delete_sprint("acme", "S1", None, Origin::Api).await;
    assert!(matches!(r, Err(WorkspaceError::Conflict(_))), "{r:?}");

    svc.delete_item("acme", &story, None, Origin::Api)
        .await
        .expect("delete story");
    assert!(matches!(
        svc.get_item("acme", &story),
        Err(WorkspaceError::NotFound { .. })
    ));
    let history = svc
        .history("acme", &story)
        .expect("history outlives the item");
    let actions: Vec<&str> = history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(actions, ["linked", "deleted"]);
    let last = history.last().expect("deleted entry");
    assert_eq!(last.origin, Some(Origin::Api));
    let snapshot = last.item.as_ref().expect("the deleted item is kept");
    assert_eq!(snapshot["title"], "Pay");
    assert_eq!(snapshot["jira"]["key"], "ACME-1");
    // Deletion does not touch Jira or the link; the sync engine decides from the feed.
    assert!(svc
        .store()
        .link_by_item("acme-jira", &story)
        .expect("link read")
        .is_some());

    svc.delete_sprint("acme", "S1", None, Origin::Api)
        .await
        .expect("now unused");
    svc.delete_item("acme", &epic, None, Origin::Api)
        .await
        .expect("childless epic");
}

#[tokio::test]
async fn sprints_and_releases_have_versions_and_validate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = WorkspaceService::with_model(Store::open(dir.path()).expect("open"), model());
    let s = svc
        .create_sprint(
            "acme",
            SprintPatch::from_json(&json!({
                "name": "S1", "start": "2026-12-01T09:00:00Z", "end": "2026-12-14T17:00:00Z"
            }))
            .expect("sprint"),
            Origin::Api,
        )
        .await
        .expect("create");
    assert_eq!((s.version, s.state.as_str()), (1, "future"));
    let dup = svc
        .create_sprint(
            "acme",
            SprintPatch::from_json(&json!({"name": "S1"})).expect("sprint"),
            Origin::Api,
        )
        .await;
    assert!(matches!(dup, Err(WorkspaceError::Conflict(_))));
    let bad = svc
        .patch_sprint(
            "acme",
            "S1",
            SprintPatch::from_json(&json!({"end": "2026-11-01T00:00:00Z"})).expect("patch"),
            None,
            Origin::Api,
        )
        .await;
    assert_eq!(invalid_field(bad), "end");
    assert_eq!(
        invalid_field(SprintPatch::from_json(&json!({"state": "done"}))),
        "state"
    );
    let s = svc
        .patch_sprint(
            "acme",
            "S1",
            SprintPatch::from_json(&json!({"state": "active"})).expect("patch"),
            Some(IfMatch::Versions(vec![1])),
            Origin::Api,
        )
        .await
        .expect("patch");
    assert_eq!((s.version, s.state.as_str()), (2, "active"));

    assert_eq!(
        invalid_field(ReleasePatch::from_json(
            &json!({"name": "1.0", "releaseDate": "soon"})
        )),
        "releaseDate"
    );
    let r = svc
        .create_release(
            "acme",
            ReleasePatch::from_json(&json!({"name": "1.0"})).expect("release"),
            Origin::Api,
        )
        .await
        .expect("create");
    let r2 = svc
        .patch_release(
            "acme",
            &r.name,
            ReleasePatch::from_json(&json!({"released": true})).expect("patch"),
            Some(IfMatch::Versions(vec![r.version])),
            Origin::Api,
        )
        .await
        .expect("patch");
    assert!(r2.released);
    assert_eq!(svc.list_releases("acme").expect("list"), vec![r2]);
    let feed = svc.changes_since(0, 10).expect("feed");
    assert_eq!(feed.len(), 4, "two sprint writes and two release writes");
}

#[tokio::test]
async fn an_item_created_from_jira_is_linked_in_the_same_write_and_never_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svc = WorkspaceService::with_model(Store::open(dir.path()).expect("open"), model());
    let issue = IssueRef {
        connection: "jira".into(),
        id: "10007".into(),
        key: "ACME-7".into(),
    };
    let item = svc
        .create_linked_item(
            "acme",
            patch(json!({"type": "Epic", "title": "From Jira"})),
            "acme-jira",
            issue.clone(),
        )
        .await
        .expect("create linked");
    assert_eq!(item.jira.as_ref().map(|j| j.key.as_str()), Some("ACME-7"));
    let again = svc
        .create_linked_item(
            "acme",
            patch(json!({"type": "Epic", "title": "From Jira, redelivered"})),
            "acme-jira",
            issue,
        )
        .await;
    assert!(
        matches!(again, Err(WorkspaceError::Conflict(_))),
        "{again:?}"
    );
    let all = svc
        .list_items("acme", &ItemFilter::default())
        .expect("list");
    assert_eq!(all.items.len(), 1);
    let feed = svc.changes_since(0, 10).expect("feed");
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0].origin, Origin::Sync("acme-jira".into()));
    let history = svc.history("acme", &item.id).expect("history");
    assert_eq!(history[0].action, "created");
}

/// What a one-time import's batch relies on: creates and updates of linked items with their
/// baselines in one durable commit, each entry seeing the ones before it (an issue twice is
/// refused, not linked twice), and an entry the workspace refuses leaving no baseline behind.
#[tokio::test]
async fn an_import_batch_writes_items_links_and_baselines_in_one_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let svc = WorkspaceService::with_model(store.clone(), model());
    let issue = |n: u32| IssueRef {
        connection: "jira".into(),
        id: format!("{}", 10000 + n),
        key: format!("ACME-{n}"),
    };
    let existing = svc
        .create_linked_item(
            "acme",
            patch(json!({"type": "Epic", "title": "old title"})),
            "acme-jira",
            issue(9),
        )
        .await
        .expect("create");
    let base = |s: &str| vec![("baselines".to_string(), s.as_bytes().to_vec())];
    let entry = |target: ImportTarget, p: serde_json::Value, b: &str| ImportEntry {
        target,
        patch: patch(p),
        kv: base(b),
    };
    let feed_before = svc.changes_since(0, 100).expect("feed").len();
    let commits_before = store.stats().commits;
    let results = svc
        .import_items(
            "acme",
            "acme-jira",
            std::sync::Arc::from([
                entry(
                    ImportTarget::Create(issue(1)),
                    json!({"type": "Epic", "title": "one"}),
                    "b1",
                ),
                entry(
                    ImportTarget::Create(issue(2)),
                    json!({"type": "Epic", "title": "bad", "status": "Nope"}),
                    "b2",
                ),
                entry(
                    ImportTarget::Create(issue(1)),
                    json!({"type": "Epic", "title": "one again"}),
                    "b1-again",
                ),
                entry(
                    ImportTarget::Update(existing.id.clone()),
                    json!({"title": "new title"}),
                    "b9",
                ),
            ]),
        )
        .await
        .expect("batch");
    assert_eq!(store.stats().commits - commits_before, 1, "one commit");
    let created = results[0].as_ref().expect("created");
    let linked = svc.get_item("acme", &created.id).expect("item");
    assert_eq!(linked.jira.as_ref().map(|j| j.key.as_str()), Some("ACME-1"));
    assert!(matches!(&results[1], Err(WorkspaceError::Invalid { field, .. }) if field == "status"));
    assert!(
        matches!(&results[2], Err(WorkspaceError::Conflict(_))),
        "the same issue twice in a batch is linked once: {:?}",
        results[2]
    );
    let updated = results[3].as_ref().expect("updated");
    assert_eq!(updated.title, "new title");
    assert_eq!(updated.version, existing.version + 1);
    // Baselines only for the items written, under their ids.
    let kv = store.list_kv("baselines").expect("kv");
    assert_eq!(
        kv,
        vec![
            (existing.id.clone(), b"b9".to_vec()),
            (created.id.clone(), b"b1".to_vec()),
        ]
    );
    // One change-feed entry per item written, by the integration, and the create's history.
    let feed = svc.changes_since(0, 100).expect("feed");
    assert_eq!(feed.len() - feed_before, 2);
    assert!(feed[feed_before..]
        .iter()
        .all(|c| c.origin == Origin::Sync("acme-jira".into())));
    let history = svc.history("acme", &created.id).expect("history");
    assert_eq!(history[0].action, "created");
    assert_eq!(
        svc.list_items("acme", &ItemFilter::default())
            .expect("list")
            .items
            .len(),
        2
    );
}

/// A link the store refuses (the issue is held through another integration) fails the whole
/// batch with nothing written, so the import can write its issues one by one and fail only
/// that one: no item of the batch is left half written or unlinked.
#[tokio::test]
async fn an_import_batch_with_a_refused_link_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let svc = WorkspaceService::with_model(store.clone(), model());
    store
        .put_link(tandem::store::Link {
            integration: "other-jira".into(),
            connection: "jira".into(),
            workspace: "elsewhere".into(),
            workspace_item_id: "item-1".into(),
            jira_issue_id: "10005".into(),
            jira_issue_key: "ACME-5".into(),
        })
        .await
        .expect("link");
    let create = |n: u32| ImportEntry {
        target: ImportTarget::Create(IssueRef {
            connection: "jira".into(),
            id: format!("{}", 10000 + n),
            key: format!("ACME-{n}"),
        }),
        patch: patch(json!({"type": "Epic", "title": format!("issue {n}")})),
        kv: vec![("baselines".to_string(), b"b".to_vec())],
    };
    let refused = svc
        .import_items(
            "acme",
            "acme-jira",
            std::sync::Arc::from([create(1), create(5)]),
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(WorkspaceError::Store(
                tandem::store::StoreError::LinkRefused(_)
            ))
        ),
        "{refused:?}"
    );
    assert!(svc
        .list_items("acme", &ItemFilter::default())
        .expect("list")
        .items
        .is_empty());
    assert!(store.list_kv("baselines").expect("kv").is_empty());
    // Alone, the entry that was not at fault goes through.
    let one = svc
        .import_items("acme", "acme-jira", std::sync::Arc::from([create(1)]))
        .await
        .expect("batch");
    assert!(one[0].is_ok());
}

/// An import batch decides each entry on what the entries before it wrote in the same
/// transaction (a parent created two entries earlier, an item patched after its create), and
/// what it holds back until the commit (the next item number, the next change-feed sequence)
/// is what the next write continues from: a refused entry burns no id, no sequence is skipped
/// or reused.
#[tokio::test]
async fn an_import_batch_sees_its_own_earlier_entries_and_leaves_the_counters_right() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let svc = WorkspaceService::with_model(store.clone(), model());
    svc.create_sprint(
        "acme",
        SprintPatch::from_json(&json!({"name": "S1"})).expect("sprint"),
        Origin::Api,
    )
    .await
    .expect("sprint");
    svc.create_release(
        "acme",
        ReleasePatch::from_json(&json!({"name": "1.0"})).expect("release"),
        Origin::Api,
    )
    .await
    .expect("release");
    let seq_before = store.ws_last_change_seq().expect("seq");
    let create = |n: u32, p: serde_json::Value| ImportEntry {
        target: ImportTarget::Create(IssueRef {
            connection: "jira".into(),
            id: format!("{}", 10000 + n),
            key: format!("ACME-{n}"),
        }),
        patch: patch(p),
        kv: vec![("baselines".to_string(), format!("b{n}").into_bytes())],
    };
    let results = svc
        .import_items(
            "acme",
            "acme-jira",
            std::sync::Arc::from([
                create(1, json!({"type": "Epic", "title": "epic"})),
                create(
                    2,
                    json!({"type": "Story", "title": "story", "parent": "ITEM-1",
                           "sprint": "S1", "releases": ["1.0"]}),
                ),
                create(
                    3,
                    json!({"type": "Story", "title": "bad parent", "parent": "ITEM-2"}),
                ),
                create(
                    4,
                    json!({"type": "Story", "title": "no such", "releases": ["2.0"]}),
                ),
                create(
                    5,
                    json!({"type": "Story", "title": "no such", "sprint": "S9"}),
                ),
                ImportEntry {
                    target: ImportTarget::Update("ITEM-1".into()),
                    patch: patch(json!({"title": "epic, renamed"})),
                    kv: Vec::new(),
                },
                create(
                    6,
                    json!({"type": "Story", "title": "last", "parent": "ITEM-1"}),
                ),
            ]),
        )
        .await
        .expect("batch");
    let ids: Vec<Option<&str>> = results
        .iter()
        .map(|r| r.as_ref().ok().map(|i| i.id.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            Some("ITEM-1"),
            Some("ITEM-2"),
            None,
            None,
            None,
            Some("ITEM-1"),
            Some("ITEM-3")
        ]
    );
    match &results[2] {
        Err(WorkspaceError::Invalid { field, message }) => {
            assert_eq!(field, "parent");
            assert!(message.contains("ITEM-2 is a Story"), "{message}");
        }
        other => panic!("expected a bad parent, got {other:?}"),
    }
    assert!(
        matches!(&results[3], Err(WorkspaceError::Invalid { field, .. }) if field == "releases[0]"),
        "{:?}",
        results[3]
    );
    assert!(
        matches!(&results[4], Err(WorkspaceError::Invalid { field, .. }) if field == "sprint"),
        "{:?}",
        results[4]
    );
    let renamed = results[5].as_ref().expect("renamed");
    assert_eq!(
        (renamed.title.as_str(), renamed.version),
        ("epic, renamed", 2)
    );
    let story = svc.get_item("acme", "ITEM-2").expect("story");
    assert_eq!(story.sprint.as_deref(), Some("S1"));
    assert_eq!(story.releases, ["1.0"]);
    assert_eq!(
        svc.list_items(
            "acme",
            &ItemFilter {
                parent: Some("ITEM-1".into()),
                ..Default::default()
            }
        )
        .expect("children")
        .items
        .len(),
        2
    );
    // Four writes, four consecutive sequence numbers; the next write continues after them.
    let feed = svc.changes_since(seq_before, 100).expect("feed");
    let seqs: Vec<u64> = feed.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (seq_before + 1..=seq_before + 4).collect::<Vec<_>>());
    assert_eq!(store.ws_last_change_seq().expect("seq"), seq_before + 4);
    let next = svc
        .create_item(
            "acme",
            patch(json!({"type": "Epic", "title": "after"})),
            Origin::Api,
        )
        .await
        .expect("after");
    assert_eq!(next.id, "ITEM-4");
    assert_eq!(
        store.ws_last_change_seq().expect("seq"),
        seq_before + 5,
        "the next write continues the feed"
    );
}
