//! The store as its callers see it: schema versions, exclusive ownership of the state
//! directory, group commit, webhook dedup, links and key/values surviving a reopen.

use std::collections::HashSet;

use chrono::Utc;
use redb::{ReadableDatabase, TableDefinition};
use tandem::store::{
    AppendOutcome, Link, NewWebhookEvent, Store, StoreError, SCHEMA_VERSION, STATE_FILE,
};

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

fn event(ws: &str, ident: Option<&str>, body: &str) -> NewWebhookEvent {
    NewWebhookEvent {
        received_at: Utc::now(),
        workspace_id: ws.into(),
        connection: "acme".into(),
        identifier: ident.map(Into::into),
        body: body.as_bytes().to_vec(),
    }
}

fn schema_version_on_disk(dir: &std::path::Path) -> u64 {
    let db = redb::Database::open(dir.join(STATE_FILE)).expect("open raw");
    let txn = db.begin_read().expect("read");
    let meta = txn.open_table(META).expect("meta");
    let v = meta
        .get("schema_version")
        .expect("get")
        .expect("present")
        .value();
    v
}

#[tokio::test]
async fn a_new_state_directory_gets_the_current_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("nested/state")).expect("open");
    assert_eq!(store.migration().from, 0);
    assert_eq!(store.migration().to, SCHEMA_VERSION);
    store.close().await.expect("close");
    assert_eq!(
        schema_version_on_disk(&dir.path().join("nested/state")),
        SCHEMA_VERSION
    );
}

#[tokio::test]
async fn a_file_from_before_versioning_is_migrated_and_usable() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        // What a pre-versioning build left behind: a redb file with an unrelated table.
        let db = redb::Database::create(dir.path().join(STATE_FILE)).expect("create");
        let txn = db.begin_write().expect("write");
        txn.open_table(TableDefinition::<&str, &str>::new("legacy"))
            .expect("legacy")
            .insert("k", "v")
            .expect("insert");
        txn.commit().expect("commit");
    }
    let store = Store::open(dir.path()).expect("open migrates");
    assert_eq!(
        (store.migration().from, store.migration().to),
        (0, SCHEMA_VERSION)
    );
    let out = store
        .append_webhook(event("ws", Some("id-1"), "{}"))
        .await
        .expect("append");
    assert_eq!(out, AppendOutcome::Stored { seq: 1 });
    store.close().await.expect("close");
    assert_eq!(schema_version_on_disk(dir.path()), SCHEMA_VERSION);
}

#[tokio::test]
async fn a_file_from_a_newer_tandem_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = redb::Database::create(dir.path().join(STATE_FILE)).expect("create");
        let txn = db.begin_write().expect("write");
        txn.open_table(META)
            .expect("meta")
            .insert("schema_version", SCHEMA_VERSION + 98)
            .expect("insert");
        txn.commit().expect("commit");
    }
    let err = Store::open(dir.path()).expect_err("newer schema must be refused");
    assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("schema version {}", SCHEMA_VERSION + 98)),
        "{msg}"
    );
    assert!(msg.contains("newer than this tandem supports"), "{msg}");
    assert_eq!(schema_version_on_disk(dir.path()), SCHEMA_VERSION + 98);
}

#[tokio::test]
async fn a_second_open_of_the_same_state_directory_fails_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Store::open(dir.path()).expect("first open");
    let err = Store::open(dir.path()).expect_err("second open must fail");
    assert!(matches!(err, StoreError::InUse { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "state directory {} is in use by another tandem process",
            dir.path().display()
        )
    );
    first.close().await.expect("close");
    let again = Store::open(dir.path()).expect("open after close");
    again.close().await.expect("close");
}

#[tokio::test]
async fn concurrent_appends_share_commits_and_each_gets_its_own_sequence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let n = 500;
    let mut tasks = Vec::new();
    for i in 0..n {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_webhook(event(
                    "ws",
                    Some(&format!("id-{i}")),
                    &format!("{{\"i\":{i}}}"),
                ))
                .await
        }));
    }
    let mut seqs = HashSet::new();
    for t in tasks {
        match t.await.expect("join").expect("append") {
            AppendOutcome::Stored { seq } => assert!(seqs.insert(seq), "seq {seq} given twice"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seqs.len(), n);
    let stats = store.stats();
    assert_eq!(stats.jobs, n as u64);
    assert!(
        stats.commits < n as u64,
        "{} appends took {} commits: no batching",
        n,
        stats.commits
    );
    assert_eq!(store.webhook_event_count().expect("count"), n as u64);
    store.close().await.expect("close");
}

#[tokio::test]
async fn a_repeated_identifier_is_stored_once_per_connection_and_workspace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let first = store
        .append_webhook(event("ws", Some("abc"), "{\"a\":1}"))
        .await
        .expect("append");
    let again = store
        .append_webhook(event("ws", Some("abc"), "{\"a\":2}"))
        .await
        .expect("append");
    assert_eq!(first, AppendOutcome::Stored { seq: 1 });
    assert_eq!(again, AppendOutcome::Duplicate { seq: 1 });
    let other_ws = store
        .append_webhook(event("other", Some("abc"), "{}"))
        .await
        .expect("append");
    assert_eq!(other_ws, AppendOutcome::Stored { seq: 2 });
    // Another Jira (or a restarted one) numbering its deliveries the same way is not a
    // duplicate: identifiers are unique per connection only.
    let other_jira = store
        .append_webhook(NewWebhookEvent {
            connection: "other-jira".into(),
            ..event("ws", Some("abc"), "{}")
        })
        .await
        .expect("append");
    assert_eq!(other_jira, AppendOutcome::Stored { seq: 3 });
    let no_id = store
        .append_webhook(event("ws", None, "{}"))
        .await
        .expect("append");
    let no_id_again = store
        .append_webhook(event("ws", None, "{}"))
        .await
        .expect("append");
    assert_eq!(no_id, AppendOutcome::Stored { seq: 4 });
    assert_eq!(no_id_again, AppendOutcome::Stored { seq: 5 });

    let events = store.webhook_events(0, 100).expect("events");
    assert_eq!(events.len(), 5);
    assert_eq!(events[0].event.body, b"{\"a\":1}");
    assert_eq!(events[0].event.identifier.as_deref(), Some("abc"));
    assert_eq!(events[3].event.identifier, None);

    let state = store
        .webhook_state("acme")
        .expect("state")
        .expect("connected");
    assert_eq!(state.count, 4, "duplicates do not count as events");
    assert_eq!(
        store
            .webhook_state("other-jira")
            .expect("state")
            .map(|s| s.count),
        Some(1)
    );
    assert_eq!(store.webhook_state("never").expect("state"), None);

    // Trimming consumed events neither reuses sequence numbers nor forgets identifiers.
    assert_eq!(store.trim_webhook_events(5).await.expect("trim"), 5);
    assert_eq!(store.webhook_event_count().expect("count"), 0);
    let late_retry = store
        .append_webhook(event("ws", Some("abc"), "{}"))
        .await
        .expect("append");
    assert_eq!(late_retry, AppendOutcome::Duplicate { seq: 1 });
    store.close().await.expect("close");

    let store = Store::open(dir.path()).expect("reopen");
    let next = store
        .append_webhook(event("ws", Some("new"), "{}"))
        .await
        .expect("append");
    assert_eq!(next, AppendOutcome::Stored { seq: 6 });
    store.close().await.expect("close");
}

fn link(integration: &str, connection: &str, item: &str, issue: &str) -> Link {
    Link {
        integration: integration.into(),
        connection: connection.into(),
        workspace: format!("ws-{integration}"),
        workspace_item_id: item.into(),
        jira_issue_id: issue.into(),
        jira_issue_key: format!("DEMO-{issue}"),
    }
}

#[tokio::test]
async fn links_are_found_both_ways_counted_and_dropped_per_integration_or_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    store
        .put_link(link("web", "acme", "item-1", "100"))
        .await
        .expect("put");
    store
        .put_link(link("web", "acme", "item-2", "101"))
        .await
        .expect("put");
    store
        .put_link(link("mobile", "acme", "item-3", "102"))
        .await
        .expect("put");
    store
        .put_link(link("ops", "other", "item-4", "103"))
        .await
        .expect("put");
    // Re-linking an item to another issue replaces the old reverse entry.
    store
        .put_link(link("web", "acme", "item-2", "105"))
        .await
        .expect("put");

    assert_eq!(store.count_links("web").expect("count"), 2);
    assert_eq!(store.count_links_of_connection("acme").expect("count"), 3);
    assert_eq!(
        store
            .link_by_jira_issue("web", "105")
            .expect("get")
            .map(|l| l.workspace_item_id),
        Some("item-2".to_string())
    );
    assert_eq!(store.link_by_jira_issue("web", "101").expect("get"), None);
    assert_eq!(
        store.link_by_item("web", "item-1").expect("get"),
        Some(link("web", "acme", "item-1", "100"))
    );
    store.close().await.expect("close");

    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(
        store
            .remove_links_of_integration("mobile")
            .await
            .expect("rm"),
        1
    );
    assert_eq!(
        store.remove_links_of_connection("acme").await.expect("rm"),
        2
    );
    assert_eq!(store.count_links_of_connection("acme").expect("count"), 0);
    assert_eq!(store.link_by_jira_issue("web", "100").expect("get"), None);
    assert_eq!(store.count_links("ops").expect("count"), 1);
    store.close().await.expect("close");
}

#[tokio::test]
async fn key_values_are_namespaced_and_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    store
        .put_kv("status", "Connection/acme", b"ready".to_vec())
        .await
        .expect("put");
    store
        .put_kv("status", "Workspace/main", b"ready".to_vec())
        .await
        .expect("put");
    store
        .put_kv("watermark", "web", b"2026".to_vec())
        .await
        .expect("put");
    store.close().await.expect("close");

    let store = Store::open(dir.path()).expect("reopen");
    let listed = store.list_kv("status").expect("list");
    assert_eq!(
        listed.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["Connection/acme", "Workspace/main"]
    );
    assert!(store
        .delete_kv("status", "Connection/acme")
        .await
        .expect("delete"));
    assert_eq!(
        store.get_kv("status", "Connection/acme").expect("get"),
        None
    );
    assert_eq!(
        store.get_kv("watermark", "web").expect("get"),
        Some(b"2026".to_vec())
    );
    store.close().await.expect("close");
    assert!(matches!(
        store.get_kv("watermark", "web"),
        Err(StoreError::Closed)
    ));
    assert!(matches!(
        store.put_kv("a", "b", vec![]).await,
        Err(StoreError::Closed)
    ));
}

#[tokio::test]
async fn pruned_identifiers_are_forgotten_and_recent_ones_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let mut old = event("ws", Some("old"), "{}");
    old.received_at = Utc::now() - chrono::Duration::days(30);
    store.append_webhook(old).await.expect("append");
    store
        .append_webhook(event("ws", Some("recent"), "{}"))
        .await
        .expect("append");
    let cutoff = Utc::now() - chrono::Duration::days(7);
    assert_eq!(store.prune_webhook_dedup(cutoff).await.expect("prune"), 1);
    let old_again = store
        .append_webhook(event("ws", Some("old"), "{}"))
        .await
        .expect("append");
    let recent_again = store
        .append_webhook(event("ws", Some("recent"), "{}"))
        .await
        .expect("append");
    assert_eq!(old_again, AppendOutcome::Stored { seq: 3 });
    assert_eq!(recent_again, AppendOutcome::Duplicate { seq: 2 });
    store.close().await.expect("close");
}
