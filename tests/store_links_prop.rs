//! The two link invariants, as a property of the store whatever sequence of link operations
//! runs: link, unlink, move (one write), adopt an existing issue, import (item and link in one
//! write), remove an integration, re-add it. After every operation, through the store's public
//! reads (one by one, and the import's batched read, which must agree): an item is linked through at most one integration, an issue is held by at most one
//! item, and the store accepted exactly the operations a reference model says keep both.
//!
//! Replay a failure with `PROPTEST_CASES=1` and the seed proptest prints.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tandem::store::{Link, Store, StoreError, WsOp, WsPlan};
use tandem::workspace::model::Origin;

/// (integration, its workspace, its connection). `a` and `b` share a workspace and a Jira;
/// `c` is another workspace on the same Jira (item ids repeat across workspaces).
const INTEGRATIONS: [(&str, &str, &str); 3] =
    [("a", "w1", "j1"), ("b", "w1", "j1"), ("c", "w2", "j1")];
const ITEMS: [&str; 3] = ["ITEM-1", "ITEM-2", "ITEM-3"];
const ISSUES: [&str; 4] = ["100", "101", "102", "103"];

#[derive(Debug, Clone)]
enum Op {
    /// Link (or re-link) an item to an issue: push, adoption, import.
    Link {
        integ: usize,
        item: usize,
        issue: usize,
    },
    Unlink {
        integ: usize,
        item: usize,
    },
    /// Hand an item's link to another integration in one write (an issue that moved project).
    Move {
        from: usize,
        to: usize,
        item: usize,
    },
    /// Remove every link of an integration (the manifest is gone); re-adding it is `Link`s.
    RemoveIntegration {
        integ: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..3usize, 0..4usize).prop_map(|(integ, item, issue)| Op::Link { integ, item, issue }),
        2 => (0..3usize, 0..3usize).prop_map(|(integ, item)| Op::Unlink { integ, item }),
        2 => (0..3usize, 0..3usize, 0..3usize).prop_map(|(from, to, item)| Op::Move { from, to, item }),
        1 => (0..3usize).prop_map(|integ| Op::RemoveIntegration { integ }),
    ]
}

/// (integration, item) → issue: what the store should hold.
type Model = BTreeMap<(usize, usize), usize>;

fn link(integ: usize, item: usize, issue: usize) -> Link {
    let (i, w, c) = INTEGRATIONS[integ];
    Link {
        integration: i.into(),
        connection: c.into(),
        workspace: w.into(),
        workspace_item_id: ITEMS[item].into(),
        jira_issue_id: ISSUES[issue].into(),
        jira_issue_key: format!("DEMO-{}", ISSUES[issue]),
    }
}

/// Whether `model` keeps both invariants.
fn valid(model: &Model) -> bool {
    let mut items = BTreeMap::new();
    let mut issues = BTreeMap::new();
    for (&(integ, item), &issue) in model {
        let (_, ws, conn) = INTEGRATIONS[integ];
        if items.insert((ws, item), integ).is_some() {
            return false;
        }
        if issues.insert((conn, issue), (integ, item)).is_some() {
            return false;
        }
    }
    true
}

async fn apply(store: &Store, plan: WsPlan) -> Result<(), StoreError> {
    store
        .workspace_write(move |_| Ok::<_, ()>((plan.clone(), ())))
        .await
        .map(|_| ())
}

/// What the store holds, read back through its public API.
fn read_back(store: &Store) -> Model {
    let mut out = Model::new();
    for (integ, (name, _, _)) in INTEGRATIONS.iter().enumerate() {
        for (item, item_id) in ITEMS.iter().enumerate() {
            if let Some(l) = store.link_by_item(name, item_id).expect("read") {
                let issue = ISSUES
                    .iter()
                    .position(|i| *i == l.jira_issue_id)
                    .expect("a known issue");
                out.insert((integ, item), issue);
            }
        }
    }
    out
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let mut model = Model::new();
        for (step, op) in ops.into_iter().enumerate() {
            let origin = || WsPlan::new(Origin::Api);
            let (mut next, plan) = (model.clone(), origin());
            let plan = match &op {
                Op::Link { integ, item, issue } => {
                    next.insert((*integ, *item), *issue);
                    plan.push(WsOp::PutLink(link(*integ, *item, *issue)))
                }
                Op::Unlink { integ, item } => {
                    next.remove(&(*integ, *item));
                    plan.push(WsOp::RemoveLink {
                        integration: INTEGRATIONS[*integ].0.into(),
                        item_id: ITEMS[*item].into(),
                    })
                }
                Op::Move { from, to, item } => match model.get(&(*from, *item)) {
                    Some(&issue) => {
                        next.remove(&(*from, *item));
                        next.insert((*to, *item), issue);
                        plan.push(WsOp::RemoveLink {
                            integration: INTEGRATIONS[*from].0.into(),
                            item_id: ITEMS[*item].into(),
                        })
                        .push(WsOp::PutLink(link(*to, *item, issue)))
                    }
                    None => continue,
                },
                Op::RemoveIntegration { integ } => {
                    next.retain(|(i, _), _| i != integ);
                    let removed = store
                        .remove_links_of_integration(INTEGRATIONS[*integ].0)
                        .await
                        .expect("remove");
                    prop_assert_eq!(removed as usize, model.len() - next.len());
                    model = next;
                    prop_assert_eq!(&read_back(&store), &model, "step {}: {:?}", step, op);
                    continue;
                }
            };
            let result = apply(&store, plan).await;
            let expect_ok = valid(&next);
            match result {
                Ok(()) => {
                    prop_assert!(
                        expect_ok,
                        "step {}: {:?} was accepted but breaks an invariant",
                        step,
                        op
                    );
                    model = next;
                }
                Err(StoreError::LinkRefused(_)) => {
                    prop_assert!(
                        !expect_ok,
                        "step {}: {:?} was refused but keeps both invariants",
                        step,
                        op
                    );
                }
                Err(e) => return Err(TestCaseError::fail(format!("step {step}: {e}"))),
            }
            let held = read_back(&store);
            prop_assert!(
                valid(&held),
                "step {}: the store breaks an invariant: {:?}",
                step,
                held
            );
            prop_assert_eq!(&held, &model, "step {}: {:?}", step, op);
            for (&(integ, item), &issue) in &model {
                let (name, ws, conn) = INTEGRATIONS[integ];
                let of_item = store
                    .link_of_item(ws, ITEMS[item])
                    .expect("read")
                    .expect("linked");
                prop_assert_eq!(&of_item.integration, name);
                let holder = store
                    .holder_of_issue(conn, ISSUES[issue])
                    .expect("read")
                    .expect("held");
                prop_assert_eq!(
                    (holder.integration.as_str(), holder.item.as_str()),
                    (name, ITEMS[item])
                );
            }
            // The import's batched read says what the one-by-one reads say, for every issue.
            for (name, _, conn) in INTEGRATIONS {
                let batched = store
                    .links_and_holders(name, conn, &ISSUES)
                    .expect("batched read");
                for (issue, got) in ISSUES.iter().zip(batched) {
                    let one = (
                        store.link_by_jira_issue(name, issue).expect("read"),
                        store.holder_of_issue(conn, issue).expect("read"),
                    );
                    prop_assert_eq!(&got, &one, "step {}: {} {}", step, name, issue);
                }
            }
        }
        prop_assert!(store.link_violations().expect("check").is_empty());
        store.close().await.expect("close");
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_of_link_operations_gives_an_item_two_issues_or_an_issue_two_items(
        ops in proptest::collection::vec(op(), 1..40)
    ) {
        run(ops)?;
    }
}

#[tokio::test]
async fn a_refused_link_leaves_the_whole_write_undone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    apply(
        &store,
        WsPlan::new(Origin::Api).push(WsOp::PutLink(link(0, 0, 0))),
    )
    .await
    .expect("first link");
    apply(
        &store,
        WsPlan::new(Origin::Api).push(WsOp::PutLink(link(0, 1, 1))),
    )
    .await
    .expect("second link");
    // Moving ITEM-2 to `b` while also linking it to ITEM-1's issue: refused as a whole, so
    // ITEM-2 keeps its link in `a` (the removal in the same write is undone too).
    let err = apply(
        &store,
        WsPlan::new(Origin::Api)
            .push(WsOp::RemoveLink {
                integration: "a".into(),
                item_id: "ITEM-2".into(),
            })
            .push(WsOp::PutLink(link(1, 1, 0))),
    )
    .await
    .expect_err("refused");
    assert!(
        err.to_string()
            .contains("issue DEMO-100 (id 100, connection j1) is already linked to item ITEM-1 through integration a"),
        "{err}"
    );
    assert_eq!(
        store
            .link_by_item("a", "ITEM-2")
            .expect("read")
            .map(|l| l.jira_issue_id),
        Some("101".into())
    );
    store.close().await.expect("close");
}
