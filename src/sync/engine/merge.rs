//! The 3-way merge of one linked pair's snapshots, field by field.
//!
//! For each snapshot key, with `b` the baseline, `w` the workspace and `j` Jira:
//! - `w == j`: in agreement, nothing to write;
//! - only Jira moved away from `b`: the value goes to the workspace;
//! - only the workspace moved: the value goes to Jira;
//! - both moved to different values: a conflict, decided by the integration's policy, and
//!   the losing value is reported so the engine records it in the item's history.
//!
//! Directions narrow this: a key that may only flow one way never flows the other, and in a
//! conflict the allowed direction wins. Without a baseline (a pair linked before tandem kept
//! one) every difference is a conflict, so the policy decides and the loser is recorded:
//! nothing is overwritten silently.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::manifest::model::ConflictPolicy;

/// Which side a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Workspace,
    Jira,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Workspace => "workspace",
            Side::Jira => "jira",
        }
    }
}

/// Which way one key may flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub to_workspace: bool,
    pub to_jira: bool,
}

/// A field both sides changed; `winner` was written to the other side.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub field: String,
    pub winner_side: Side,
    pub winner: Value,
    pub loser: Value,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Merge {
    /// Keys whose Jira value must be written to the item.
    pub to_workspace: BTreeSet<String>,
    /// Keys whose workspace value must be written to the issue.
    pub to_jira: BTreeSet<String>,
    pub conflicts: Vec<Conflict>,
    /// The baseline once the writes are done.
    pub baseline: BTreeMap<String, Value>,
}

/// When each side last changed one field, as far as the sides' own records tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The side that changed the field last (`lastWriterWins` keeps its value).
    pub newer: Side,
    /// The workspace changed the field since the last sync, even if back to the old value.
    pub ws_touched: bool,
    /// Someone other than tandem changed it in Jira since the last sync, likewise.
    pub jira_touched: bool,
}

/// Merges one pair. `newer` is the side edited last (for `lastWriterWins`); `flow` gives each
/// key's allowed directions.
pub fn merge(
    base: Option<&BTreeMap<String, Value>>,
    ws: &BTreeMap<String, Value>,
    jira: &BTreeMap<String, Value>,
    policy: ConflictPolicy,
    newer: Side,
    flow: impl Fn(&str) -> Flow,
) -> Merge {
    let timing = Timing {
        newer,
        ws_touched: false,
        jira_touched: false,
    };
    merge_timed(base, ws, jira, policy, |_| timing, flow)
}

/// [`merge`] with per-field timing: `lastWriterWins` decides each field by which side changed
/// that field last, and a side that changed a field and back (A→B→A) still counts as having
/// changed it, so the other side's older change does not win by default.
pub fn merge_timed(
    base: Option<&BTreeMap<String, Value>>,
    ws: &BTreeMap<String, Value>,
    jira: &BTreeMap<String, Value>,
    policy: ConflictPolicy,
    timing: impl Fn(&str) -> Timing,
    flow: impl Fn(&str) -> Flow,
) -> Merge {
    let mut out = Merge::default();
    let keys: BTreeSet<&String> = ws.keys().chain(jira.keys()).collect();
    for key in keys {
        let w = ws.get(key).unwrap_or(&Value::Null);
        let Some(j) = jira.get(key) else {
            // Jira did not show the field: unknown, so neither side moves and the ancestor
            // stays what it was.
            let b = base.and_then(|b| b.get(key)).unwrap_or(w);
            out.baseline.insert(key.clone(), b.clone());
            continue;
        };
        let f = flow(key);
        if w == j {
            out.baseline.insert(key.clone(), w.clone());
            continue;
        }
        let t = timing(key);
        let newer = t.newer;
        let b = base.map(|b| b.get(key).unwrap_or(&Value::Null));
        let ws_moved = b.is_none_or(|b| b != w) || t.ws_touched;
        let jira_moved = b.is_none_or(|b| b != j) || t.jira_touched;
        let winner = match (ws_moved, jira_moved) {
            (true, false) => Some(Side::Workspace),
            (false, true) => Some(Side::Jira),
            _ => None,
        };
        let (side, conflict) = match winner {
            Some(side) => (side, false),
            None => {
                let side = match (f.to_workspace, f.to_jira) {
                    (true, false) => Side::Jira,
                    (false, true) => Side::Workspace,
                    _ => match policy {
                        ConflictPolicy::JiraWins => Side::Jira,
                        ConflictPolicy::WorkspaceWins => Side::Workspace,
                        ConflictPolicy::LastWriterWins => newer,
                    },
                };
                (side, true)
            }
        };
        let allowed = match side {
            Side::Workspace => f.to_jira,
            Side::Jira => f.to_workspace,
        };
        if !allowed {
            // The change may not flow this way: the sides stay apart and the baseline stays
            // where it was, so the other side's next change is still seen as a change, and
            // the one-way side is never "corrected" back by a later, unrelated sync.
            out.baseline.insert(key.clone(), b.unwrap_or(j).clone());
            continue;
        }
        let (won, lost) = match side {
            Side::Workspace => {
                out.to_jira.insert(key.clone());
                (w, j)
            }
            Side::Jira => {
                out.to_workspace.insert(key.clone());
                (j, w)
            }
        };
        if conflict {
            out.conflicts.push(Conflict {
                field: key.clone(),
                winner_side: side,
                winner: won.clone(),
                loser: lost.clone(),
            });
        }
        out.baseline.insert(key.clone(), won.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snap(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn both(_: &str) -> Flow {
        Flow {
            to_workspace: true,
            to_jira: true,
        }
    }

    #[test]
    fn one_sided_changes_flow_to_the_other_side() {
        let base = snap(&[("title", json!("a")), ("storyPoints", json!(3))]);
        let ws = snap(&[("title", json!("b")), ("storyPoints", json!(3))]);
        let jira = snap(&[("title", json!("a")), ("storyPoints", json!(5))]);
        let m = merge(
            Some(&base),
            &ws,
            &jira,
            ConflictPolicy::JiraWins,
            Side::Jira,
            both,
        );
        assert_eq!(m.to_jira, BTreeSet::from(["title".to_string()]));
        assert_eq!(m.to_workspace, BTreeSet::from(["storyPoints".to_string()]));
        assert!(m.conflicts.is_empty());
        assert_eq!(
            m.baseline,
            snap(&[("title", json!("b")), ("storyPoints", json!(5))])
        );
    }

    #[test]
    fn an_echo_changes_nothing() {
        let s = snap(&[("title", json!("x"))]);
        let m = merge(Some(&s), &s, &s, ConflictPolicy::JiraWins, Side::Jira, both);
        assert!(m.to_jira.is_empty() && m.to_workspace.is_empty() && m.conflicts.is_empty());
    }

    #[test]
    fn each_policy_decides_a_conflict_and_reports_the_loser() {
        let base = snap(&[("title", json!("a"))]);
        let ws = snap(&[("title", json!("ws"))]);
        let jira = snap(&[("title", json!("jira"))]);
        let cases = [
            (ConflictPolicy::JiraWins, Side::Workspace, Side::Jira),
            (ConflictPolicy::WorkspaceWins, Side::Jira, Side::Workspace),
            (ConflictPolicy::LastWriterWins, Side::Jira, Side::Jira),
            (
                ConflictPolicy::LastWriterWins,
                Side::Workspace,
                Side::Workspace,
            ),
        ];
        for (policy, newer, winner) in cases {
            let m = merge(Some(&base), &ws, &jira, policy, newer, both);
            assert_eq!(m.conflicts.len(), 1, "{policy:?}");
            let c = &m.conflicts[0];
            assert_eq!(c.winner_side, winner, "{policy:?} newer={newer:?}");
            let (won, lost) = match winner {
                Side::Jira => (json!("jira"), json!("ws")),
                Side::Workspace => (json!("ws"), json!("jira")),
            };
            assert_eq!((c.winner.clone(), c.loser.clone()), (won.clone(), lost));
            assert_eq!(m.baseline["title"], won);
        }
    }

    #[test]
    fn without_a_baseline_differences_are_conflicts() {
        let ws = snap(&[("title", json!("ws")), ("team", json!("t"))]);
        let jira = snap(&[("title", json!("jira")), ("team", json!("t"))]);
        let m = merge(
            None,
            &ws,
            &jira,
            ConflictPolicy::WorkspaceWins,
            Side::Jira,
            both,
        );
        assert_eq!(m.to_jira, BTreeSet::from(["title".to_string()]));
        assert_eq!(m.conflicts.len(), 1);
    }

    #[test]
    fn one_way_keys_never_flow_back() {
        let base = snap(&[("Risk", json!("low"))]);
        let ws = snap(&[("Risk", json!("high"))]);
        let jira = snap(&[("Risk", json!("low"))]);
        let from_jira_only = |_: &str| Flow {
            to_workspace: true,
            to_jira: false,
        };
        let m = merge(
            Some(&base),
            &ws,
            &jira,
            ConflictPolicy::WorkspaceWins,
            Side::Workspace,
            from_jira_only,
        );
        assert!(m.to_jira.is_empty() && m.to_workspace.is_empty());
        assert_eq!(
            m.baseline["Risk"],
            json!("low"),
            "the baseline does not move"
        );
        // A conflict on a one-way key: the allowed direction wins whatever the policy.
        let jira = snap(&[("Risk", json!("medium"))]);
        let m = merge(
            Some(&base),
            &ws,
            &jira,
            ConflictPolicy::WorkspaceWins,
            Side::Workspace,
            from_jira_only,
        );
        assert_eq!(m.to_workspace, BTreeSet::from(["Risk".to_string()]));
        assert_eq!(m.conflicts[0].winner_side, Side::Jira);
    }
}
