//! Status changes through the workflow: Jira sets a status only by a transition, and a
//! transition exists only from some statuses and may require fields (a resolution, typically).
//!
//! Jira's REST API shows only the transitions available from an issue's *current* status
//! (`GET /issue/{key}/transitions?expand=transitions.fields`); no endpoint both dialects share
//! returns a whole workflow. So the workflow is learned: [`WorkflowGraph`] records the outgoing
//! transitions of every status seen, [`plan_transitions`] finds the shortest path over what is
//! known (breadth-first), and [`apply_status`] walks it one transition at a time, exploring a
//! not-yet-seen status when the known part of the workflow has no path. Keep one graph per
//! (integration, Jira issue type): workflows are per issue type.
//!
//! A status change never surprises Jira's users on its way ([`StatusPolicy`]): it passes only
//! through statuses the integration maps and that are not of the Done category (entering
//! Resolved or Closed fills a resolution and fires notifications and post functions), and
//! only by transitions that ask for nothing; the target itself may be any status. Exploring
//! moves the issue only through such statuses, and back to where it started when the
//! exploration finds no way. When no safe path exists the change is [`TransitionError::Stuck`]
//! with the path it would need (as far as the workflow is known), and nothing more is posted.
//!
//! Required fields are filled only on the transition into the target, in order, from the
//! item's own write ([`super::mapping::to_jira`] fields, when the transition asks for a field
//! the item maps) or else from Jira's allowed values: for a resolution "Done", else "Fixed",
//! else the first one Jira offers. A required field with neither is an error naming the
//! transition and the field, not a silent skip.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::future::Future;

use serde_json::{json, Map, Value};

use crate::jira::{JiraClient, JiraError, Status, Transition};

/// Upper bound on transitions applied for one status change (a guard, not a rule).
pub const MAX_STEPS: usize = 16;

/// One transition of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionStep {
    pub transition_id: String,
    pub name: String,
    pub from_status_id: String,
    pub to_status_id: String,
    pub required: Vec<RequiredField>,
}

/// A field a transition requires, with the fallback used when the item has no value for it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequiredField {
    pub field_id: String,
    pub name: Option<String>,
    /// The first allowed value, reduced to how Jira accepts it back (`{"id": ...}`).
    pub fallback: Option<Value>,
}

impl TransitionStep {
    /// The `fields` of the transition request: the item's value when it has one, else the
    /// fallback; `Err` names the first field that has neither.
    pub fn fields(
        &self,
        item_fields: Option<&Map<String, Value>>,
    ) -> Result<Map<String, Value>, TransitionError> {
        let mut out = Map::new();
        for f in &self.required {
            let from_item = item_fields
                .and_then(|m| m.get(&f.field_id))
                .filter(|v| !v.is_null());
            match from_item.or(f.fallback.as_ref()) {
                Some(v) => {
                    out.insert(f.field_id.clone(), v.clone());
                }
                None => {
                    return Err(TransitionError::CannotFill {
                        transition: self.name.clone(),
                        field: f.name.clone().unwrap_or_else(|| f.field_id.clone()),
                    })
                }
            }
        }
        Ok(out)
    }

    fn from_transition(from: &str, t: &Transition) -> Option<TransitionStep> {
        let to = t.to.as_ref()?.id.clone();
        let required = t
            .fields
            .iter()
            .filter(|(_, f)| f.required)
            .map(|(id, f)| RequiredField {
                field_id: id.clone(),
                name: f.name.clone(),
                fallback: preferred_allowed(&f.allowed_values).map(reduce_allowed),
            })
            .collect();
        Some(TransitionStep {
            transition_id: t.id.clone(),
            name: t.name.clone(),
            from_status_id: from.to_owned(),
            to_status_id: to,
            required,
        })
    }
}

/// The value used when the item gives none: "Done", else "Fixed" (the resolutions of Jira's
/// simplified and classic workflows), else the first allowed value.
fn preferred_allowed(allowed: &[Value]) -> Option<&Value> {
    let named = |n: &str| {
        allowed.iter().find(|v| {
            v.get("name")
                .or_else(|| v.get("value"))
                .and_then(Value::as_str)
                .is_some_and(|x| x.eq_ignore_ascii_case(n))
        })
    };
    named("Done")
        .or_else(|| named("Fixed"))
        .or_else(|| allowed.first())
}

/// An allowed value as Jira takes it back: by id when it has one, else by value or name.
fn reduce_allowed(v: &Value) -> Value {
    for key in ["id", "value", "name", "key"] {
        if let Some(x) = v.get(key) {
            return json!({ key: x });
        }
    }
    v.clone()
}

#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    #[error(transparent)]
    Jira(#[from] JiraError),
    #[error(
        "the workflow has no path from status {from} to status {to} (explored {explored} statuses)"
    )]
    NoPath {
        from: String,
        to: String,
        explored: usize,
    },
    #[error("transition \"{transition}\" requires {field}, and neither the item nor Jira's allowed values give one")]
    CannotFill { transition: String, field: String },
    #[error("gave up after {MAX_STEPS} transitions without reaching status {to}")]
    TooManySteps { to: String },
    /// No path from `from` to `to` passes only through mapped statuses outside the Done
    /// category by transitions that ask for nothing; `path` is the one it would take (status
    /// names, `…` where the workflow is not known), `through` the statuses that block it.
    #[error(
        "no safe path from {from} to {to}: it would pass through {} ({})",
        through.join(", "),
        path.join(" → ")
    )]
    Stuck {
        from: String,
        to: String,
        path: Vec<String>,
        through: Vec<String>,
    },
}

impl TransitionError {
    /// Whether retrying cannot help until the workflow, the mapping or the item changes.
    pub fn is_stuck(&self) -> bool {
        match self {
            TransitionError::Jira(_) => false,
            TransitionError::NoPath { .. }
            | TransitionError::CannotFill { .. }
            | TransitionError::TooManySteps { .. }
            | TransitionError::Stuck { .. } => true,
        }
    }

    /// The path a stuck change needed (status names), when known.
    pub fn path(&self) -> Vec<String> {
        match self {
            TransitionError::Stuck { path, .. } => path.clone(),
            _ => Vec::new(),
        }
    }
}

/// Which statuses a status change may pass through on its way to the target: the
/// integration's mapped statuses outside the Done category.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusPolicy {
    /// Mapped status id → (name, category key when known).
    mapped: BTreeMap<String, (String, Option<String>)>,
}

impl StatusPolicy {
    /// From the integration's mapped statuses (as the online check resolved them).
    pub fn new<'a>(mapped: impl IntoIterator<Item = &'a Status>) -> StatusPolicy {
        StatusPolicy {
            mapped: mapped
                .into_iter()
                .map(|s| {
                    let cat = s.status_category.as_ref().map(|c| c.key.clone());
                    (s.id.clone(), (s.name.clone(), cat))
                })
                .collect(),
        }
    }

    /// Whether the change may stop in `status` on its way (the graph tells categories the
    /// mapping did not).
    pub fn passable(&self, status: &str, graph: &WorkflowGraph) -> bool {
        let Some((_, cat)) = self.mapped.get(status) else {
            return false;
        };
        let cat = cat.as_deref().or_else(|| graph.category(status));
        cat != Some("done")
    }

    /// Why `status` may not be passed through.
    fn blocker(&self, status: &str, graph: &WorkflowGraph) -> Option<String> {
        let name = self.name(status, graph);
        let cat = self
            .mapped
            .get(status)
            .and_then(|(_, c)| c.as_deref())
            .or_else(|| graph.category(status));
        if cat == Some("done") {
            Some(format!("{name} (Done category)"))
        } else if !self.mapped.contains_key(status) {
            Some(format!("{name} (not in the integration's statuses)"))
        } else {
            None
        }
    }

    fn name(&self, status: &str, graph: &WorkflowGraph) -> String {
        self.mapped
            .get(status)
            .map(|(n, _)| n.clone())
            .or_else(|| graph.name(status).map(str::to_owned))
            .unwrap_or_else(|| status.to_owned())
    }
}

/// The part of a workflow seen so far: outgoing transitions per status id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkflowGraph {
    edges: BTreeMap<String, Vec<Transition>>,
}

impl WorkflowGraph {
    pub fn new() -> WorkflowGraph {
        WorkflowGraph::default()
    }

    /// Remembers what `GET transitions` answered for an issue in `status_id` (replacing what
    /// was known: workflows change).
    pub fn record(&mut self, status_id: &str, transitions: Vec<Transition>) {
        self.edges.insert(status_id.to_owned(), transitions);
    }

    /// Whether the outgoing transitions of a status are known.
    pub fn knows(&self, status_id: &str) -> bool {
        self.edges.contains_key(status_id)
    }

    pub fn transitions_from(&self, status_id: &str) -> &[Transition] {
        self.edges.get(status_id).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn known_statuses(&self) -> usize {
        self.edges.len()
    }

    fn to_status(&self, id: &str) -> Option<&Status> {
        self.edges
            .values()
            .flatten()
            .filter_map(|t| t.to.as_ref())
            .find(|s| s.id == id)
    }

    /// A status's category key (`new`, `indeterminate`, `done`), as transitions into it say.
    pub fn category(&self, id: &str) -> Option<&str> {
        self.to_status(id)
            .and_then(|s| s.status_category.as_ref())
            .map(|c| c.key.as_str())
            .filter(|k| !k.is_empty())
    }

    pub fn name(&self, id: &str) -> Option<&str> {
        self.to_status(id).map(|s| s.name.as_str())
    }

    /// Adds what another graph knows and this one does not.
    pub fn merge(&mut self, other: &WorkflowGraph) {
        for (k, v) in &other.edges {
            self.edges.insert(k.clone(), v.clone());
        }
    }
}

/// Shortest sequence of transitions from `current` to `target` over the known workflow
/// (breadth-first, ties broken by Jira's order of transitions). `Some(vec![])` when already
/// there, `None` when the known part of the workflow has no path.
pub fn plan_transitions(
    current_status_id: &str,
    target_status_id: &str,
    graph: &WorkflowGraph,
) -> Option<Vec<TransitionStep>> {
    bfs(
        current_status_id,
        graph,
        |s| s == target_status_id,
        |_| true,
    )
}

/// [`plan_transitions`] passing only through statuses `policy` allows, by transitions that
/// ask for nothing; only the transition into the target may require fields.
pub fn plan_safe_transitions(
    current_status_id: &str,
    target_status_id: &str,
    graph: &WorkflowGraph,
    policy: &StatusPolicy,
) -> Option<Vec<TransitionStep>> {
    bfs(
        current_status_id,
        graph,
        |s| s == target_status_id,
        |step| step.required.is_empty() && policy.passable(&step.to_status_id, graph),
    )
}

/// Breadth-first search: a goal may be entered by any step, other statuses only by steps
/// `via` accepts.
fn bfs(
    start: &str,
    graph: &WorkflowGraph,
    is_goal: impl Fn(&str) -> bool,
    via: impl Fn(&TransitionStep) -> bool,
) -> Option<Vec<TransitionStep>> {
    if is_goal(start) {
        return Some(Vec::new());
    }
    let mut seen: HashSet<String> = HashSet::from([start.to_owned()]);
    let mut queue: VecDeque<(String, Vec<TransitionStep>)> =
        VecDeque::from([(start.to_owned(), Vec::new())]);
    while let Some((status, path)) = queue.pop_front() {
        for t in graph.transitions_from(&status) {
            let Some(step) = TransitionStep::from_transition(&status, t) else {
                continue;
            };
            let to = step.to_status_id.clone();
            let goal = is_goal(&to);
            if (!goal && !via(&step)) || seen.contains(&to) {
                continue;
            }
            seen.insert(to.clone());
            let mut next = path.clone();
            next.push(step);
            if goal {
                return Some(next);
            }
            queue.push_back((to, next));
        }
    }
    None
}

/// The path a change from `start` to `target` would need, ignoring the policy: over the
/// known workflow, or to the nearest status whose transitions are unknown and then `…`.
fn needed_path(
    start: &str,
    target: &str,
    graph: &WorkflowGraph,
    policy: &StatusPolicy,
) -> Option<(Vec<String>, Vec<String>)> {
    let (steps, open_end) = match plan_transitions(start, target, graph) {
        Some(p) => (p, false),
        None => (bfs(start, graph, |s| !graph.knows(s), |_| true)?, true),
    };
    let mut path = vec![policy.name(start, graph)];
    let mut through = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        path.push(policy.name(&step.to_status_id, graph));
        let last = i + 1 == steps.len() && !open_end;
        if !last {
            if let Some(why) = policy.blocker(&step.to_status_id, graph) {
                through.push(why);
            } else if !step.required.is_empty() {
                through.push(format!("\"{}\" (asks for fields)", step.name));
            }
        }
    }
    if open_end {
        path.push("…".to_owned());
        path.push(policy.name(target, graph));
    }
    Some((path, through))
}

/// The Jira calls a status change needs; [`JiraClient`] implements it, tests can script it.
pub trait WorkflowApi {
    fn current_status(&self, key: &str) -> impl Future<Output = Result<String, JiraError>> + Send;
    fn transitions(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Vec<Transition>, JiraError>> + Send;
    fn transition(
        &self,
        key: &str,
        transition_id: &str,
        fields: Map<String, Value>,
    ) -> impl Future<Output = Result<(), JiraError>> + Send;
}

impl WorkflowApi for JiraClient {
    async fn current_status(&self, key: &str) -> Result<String, JiraError> {
        let issue = self.issue(key, &["status"], false).await?;
        Ok(issue
            .fields
            .get("status")
            .and_then(|s| s.get("id"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    async fn transitions(&self, key: &str) -> Result<Vec<Transition>, JiraError> {
        JiraClient::transitions(self, key).await
    }

    async fn transition(
        &self,
        key: &str,
        transition_id: &str,
        fields: Map<String, Value>,
    ) -> Result<(), JiraError> {
        self.transition_issue(key, transition_id, fields).await
    }
}

/// What a status change did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusOutcome {
    /// Names of the transitions applied, in order (empty: the issue was already there).
    pub applied: Vec<String>,
    /// Whether a status had to be explored because the known workflow had no path.
    pub explored: bool,
}

/// Brings an issue to `target_status_id`: reads where it is, plans over the known workflow
/// (learning the current status's transitions) through the statuses `policy` allows, and posts
/// one transition at a time, with required fields only on the transition into the target.
/// `item_fields` are the item's write fields (see [`super::mapping::IssueWrite::fields`]),
/// used to fill required fields first. With no safe path: [`TransitionError::Stuck`], after
/// walking back to the starting status if exploring moved the issue.
pub async fn apply_status<A: WorkflowApi + Sync>(
    api: &A,
    issue_key: &str,
    target_status_id: &str,
    item_fields: Option<&Map<String, Value>>,
    graph: &mut WorkflowGraph,
    policy: &StatusPolicy,
) -> Result<StatusOutcome, TransitionError> {
    let mut outcome = StatusOutcome::default();
    let start = api.current_status(issue_key).await?;
    let mut current = start.clone();
    let safe_step = |g: &WorkflowGraph, step: &TransitionStep| {
        step.required.is_empty() && policy.passable(&step.to_status_id, g)
    };
    for _ in 0..MAX_STEPS {
        if current == target_status_id {
            return Ok(outcome);
        }
        let available = api.transitions(issue_key).await?;
        graph.record(&current, available);
        let step = match plan_safe_transitions(&current, target_status_id, graph, policy) {
            Some(plan) => plan.into_iter().next(),
            None => {
                // Walk towards the nearest allowed status whose transitions are unknown.
                let g = &*graph;
                let explore = bfs(
                    &current,
                    g,
                    |s| !g.knows(s) && policy.passable(s, g),
                    |st| safe_step(g, st),
                )
                .and_then(|p| p.into_iter().next())
                .filter(|st| safe_step(g, st));
                if explore.is_some() {
                    outcome.explored = true;
                }
                explore
            }
        };
        let Some(step) = step else {
            return Err(stuck(
                api,
                issue_key,
                &start,
                &current,
                target_status_id,
                graph,
                policy,
            )
            .await);
        };
        let fields = if step.to_status_id == target_status_id {
            step.fields(item_fields)?
        } else {
            Map::new()
        };
        api.transition(issue_key, &step.transition_id, fields)
            .await?;
        outcome.applied.push(step.name.clone());
        current = api.current_status(issue_key).await?;
    }
    Err(TransitionError::TooManySteps {
        to: target_status_id.to_owned(),
    })
}

/// No safe way on: back to `start` when exploring left it (by transitions that ask for
/// nothing, through allowed statuses), and the error naming the path that was needed.
async fn stuck<A: WorkflowApi + Sync>(
    api: &A,
    issue_key: &str,
    start: &str,
    current: &str,
    target: &str,
    graph: &mut WorkflowGraph,
    policy: &StatusPolicy,
) -> TransitionError {
    if current != start {
        let back = bfs(
            current,
            graph,
            |s| s == start,
            |st| st.required.is_empty() && policy.passable(&st.to_status_id, graph),
        );
        for step in back.unwrap_or_default() {
            if !step.required.is_empty() {
                break;
            }
            if let Err(e) = api
                .transition(issue_key, &step.transition_id, Map::new())
                .await
            {
                return e.into();
            }
        }
    }
    match needed_path(start, target, graph, policy) {
        Some((path, through)) => TransitionError::Stuck {
            from: policy.name(start, graph),
            to: policy.name(target, graph),
            path,
            through,
        },
        None => TransitionError::NoPath {
            from: start.to_owned(),
            to: target.to_owned(),
            explored: graph.known_statuses(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::jira::{Status, TransitionField};

    fn t(id: &str, to: &str, required: &[&str]) -> Transition {
        Transition {
            id: id.into(),
            name: format!("to {to}"),
            to: Some(Status {
                id: to.into(),
                name: to.into(),
                status_category: None,
            }),
            has_screen: None,
            fields: required
                .iter()
                .map(|f| {
                    (
                        f.to_string(),
                        TransitionField {
                            required: true,
                            name: Some(f.to_string()),
                            schema: None,
                            allowed_values: if *f == "resolution" {
                                vec![
                                    json!({"id": "10000", "name": "Done"}),
                                    json!({"id": "10001", "name": "Won't Do"}),
                                ]
                            } else {
                                vec![]
                            },
                        },
                    )
                })
                .collect(),
        }
    }

    /// A mapping of these status ids (named as their ids), with category keys ("" unknown).
    fn policy(mapped: &[(&str, &str)]) -> StatusPolicy {
        let statuses: Vec<Status> = mapped
            .iter()
            .map(|(id, cat)| Status {
                id: id.to_string(),
                name: id.to_string(),
                status_category: (!cat.is_empty()).then(|| crate::jira::StatusCategory {
                    key: cat.to_string(),
                    ..Default::default()
                }),
            })
            .collect();
        StatusPolicy::new(&statuses)
    }

    /// `t` into a status of a known category.
    fn tc(id: &str, name: &str, to: &str, cat: &str, required: &[&str]) -> Transition {
        let mut t = t(id, to, required);
        t.name = name.into();
        if let Some(s) = t.to.as_mut() {
            s.status_category = Some(crate::jira::StatusCategory {
                key: cat.into(),
                ..Default::default()
            });
        }
        t
    }

    /// Jira's classic default workflow, as the assignee sees it.
    fn classic() -> BTreeMap<String, Vec<Transition>> {
        let start = || tc("4", "Start Progress", "progress", "indeterminate", &[]);
        let resolve = || tc("5", "Resolve Issue", "resolved", "done", &["resolution"]);
        let close = || tc("2", "Close Issue", "closed", "done", &["resolution"]);
        let reopen = || tc("3", "Reopen Issue", "reopened", "new", &[]);
        BTreeMap::from([
            ("open".into(), vec![start(), resolve(), close()]),
            (
                "progress".into(),
                vec![
                    tc("301", "Stop Progress", "open", "new", &[]),
                    resolve(),
                    close(),
                ],
            ),
            (
                "resolved".into(),
                vec![tc("701", "Close Issue", "closed", "done", &[]), reopen()],
            ),
            ("reopened".into(), vec![start(), resolve(), close()]),
            ("closed".into(), vec![reopen()]),
        ])
    }

    fn classic_mapping() -> StatusPolicy {
        policy(&[
            ("open", "new"),
            ("progress", "indeterminate"),
            ("reopened", "new"),
            ("resolved", "done"),
            ("closed", "done"),
        ])
    }

    #[test]
    fn safe_paths_avoid_done_and_unmapped_statuses() {
        let graph = WorkflowGraph { edges: classic() };
        let all = classic_mapping();
        let names = |p: Option<Vec<TransitionStep>>| {
            p.map(|p| p.into_iter().map(|s| s.to_status_id).collect::<Vec<_>>())
        };
        // Back from Resolved to Open: through Reopened and In Progress, never Closed.
        assert_eq!(
            names(plan_safe_transitions("resolved", "open", &graph, &all)),
            Some(vec!["reopened".into(), "progress".into(), "open".into()])
        );
        // The target itself may be of the Done category, and Closed from Resolved is direct.
        assert_eq!(
            names(plan_safe_transitions("resolved", "closed", &graph, &all)),
            Some(vec!["closed".into()])
        );
        // Reopened from Open only through Resolved or Closed: no safe path, though a path.
        assert_eq!(
            plan_safe_transitions("open", "reopened", &graph, &all),
            None
        );
        assert_eq!(
            names(plan_transitions("open", "reopened", &graph)),
            Some(vec!["resolved".into(), "reopened".into()])
        );
        // Reopened unmapped: Resolved → Open has no safe path either.
        let without_reopened = policy(&[
            ("open", "new"),
            ("progress", "indeterminate"),
            ("resolved", "done"),
            ("closed", "done"),
        ]);
        assert_eq!(
            plan_safe_transitions("resolved", "open", &graph, &without_reopened),
            None
        );
        // A Done-category status is not passed even when mapped: Open → Closed → Reopened
        // exists, but Closed blocks it.
        let err = needed_path("open", "reopened", &graph, &all).unwrap();
        assert_eq!(err.0, ["open", "resolved", "reopened"]);
        assert_eq!(err.1, ["resolved (Done category)"]);
    }

    #[test]
    fn the_resolution_prefers_done_then_fixed() {
        let allowed = [
            json!({"id": "1", "name": "Fixed"}),
            json!({"id": "2", "name": "Won't Fix"}),
        ];
        assert_eq!(preferred_allowed(&allowed), Some(&allowed[0]));
        let allowed = [
            json!({"id": "9", "name": "Duplicate"}),
            json!({"id": "3", "name": "Done"}),
        ];
        assert_eq!(preferred_allowed(&allowed), Some(&allowed[1]));
    }

    #[tokio::test]
    async fn a_change_with_no_safe_path_is_stuck_and_posts_nothing() {
        let api = Scripted {
            edges: classic(),
            status: Mutex::new("open".into()),
            posted: Mutex::new(vec![]),
        };
        let mut graph = WorkflowGraph::new();
        let err = apply_status(
            &api,
            "K-1",
            "reopened",
            None,
            &mut graph,
            &classic_mapping(),
        )
        .await
        .unwrap_err();
        // Exploring In Progress found no way on; the issue went back to Open. What lies
        // beyond Resolved is not known.
        match &err {
            TransitionError::Stuck { path, through, .. } => {
                assert_eq!(path, &["open", "resolved", "…", "reopened"]);
                assert_eq!(through, &["resolved (Done category)"]);
            }
            other => panic!("{other}"),
        }
        assert!(err.is_stuck());
        assert_eq!(*api.status.lock().unwrap(), "open");
        let posted: Vec<String> = api
            .posted
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.0.clone())
            .collect();
        assert_eq!(posted, ["4", "301"]);
        // Known now: stuck at once, nothing posted.
        api.posted.lock().unwrap().clear();
        let err = apply_status(
            &api,
            "K-1",
            "reopened",
            None,
            &mut graph,
            &classic_mapping(),
        )
        .await
        .unwrap_err();
        assert!(err.is_stuck(), "{err}");
        assert!(api.posted.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn resolution_is_filled_only_on_the_transition_into_the_target() {
        let api = Scripted {
            edges: classic(),
            status: Mutex::new("closed".into()),
            posted: Mutex::new(vec![]),
        };
        let out = apply_status(
            &api,
            "K-1",
            "resolved",
            None,
            &mut WorkflowGraph::new(),
            &classic_mapping(),
        )
        .await
        .unwrap();
        assert_eq!(out.applied, ["Reopen Issue", "Resolve Issue"]);
        let posted = api.posted.lock().unwrap().clone();
        assert!(posted[0].1.is_empty());
        assert_eq!(posted[1].1["resolution"], json!({"id": "10000"}));
        // Open → In Progress never goes through Resolved, even before anything is known.
        let api = Scripted {
            edges: classic(),
            status: Mutex::new("resolved".into()),
            posted: Mutex::new(vec![]),
        };
        let out = apply_status(
            &api,
            "K-1",
            "open",
            None,
            &mut WorkflowGraph::new(),
            &classic_mapping(),
        )
        .await
        .unwrap();
        assert_eq!(
            out.applied,
            ["Reopen Issue", "Start Progress", "Stop Progress"]
        );
    }

    /// Open → In Progress → Review → Done, back from any to Open: no shortcut to Done.
    fn linear() -> BTreeMap<String, Vec<Transition>> {
        BTreeMap::from([
            ("open".into(), vec![t("1", "progress", &[])]),
            (
                "progress".into(),
                vec![t("2", "review", &[]), t("9", "open", &[])],
            ),
            (
                "review".into(),
                vec![t("3", "done", &["resolution"]), t("9", "open", &[])],
            ),
            ("done".into(), vec![t("9", "open", &[])]),
        ])
    }

    #[test]
    fn bfs_finds_the_shortest_path_through_intermediate_statuses() {
        let graph = WorkflowGraph { edges: linear() };
        let plan = plan_transitions("open", "done", &graph).unwrap();
        let ids: Vec<&str> = plan.iter().map(|s| s.transition_id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3"]);
        assert_eq!(plan[2].required[0].field_id, "resolution");
        assert_eq!(plan[2].required[0].fallback, Some(json!({"id": "10000"})));
        assert_eq!(plan_transitions("done", "done", &graph), Some(vec![]));
        assert_eq!(plan_transitions("done", "nowhere", &graph), None);
        // From Done, the way to Review goes back through Open.
        let back = plan_transitions("done", "review", &graph).unwrap();
        assert_eq!(back.len(), 3);
    }

    #[test]
    fn required_fields_prefer_the_items_value() {
        let graph = WorkflowGraph { edges: linear() };
        let step = &plan_transitions("review", "done", &graph).unwrap()[0];
        let mine = Map::from_iter([("resolution".to_string(), json!({"name": "Won't Do"}))]);
        assert_eq!(
            step.fields(Some(&mine)).unwrap()["resolution"],
            json!({"name": "Won't Do"})
        );
        assert_eq!(
            step.fields(None).unwrap()["resolution"],
            json!({"id": "10000"})
        );
        let no_fallback = TransitionStep {
            required: vec![RequiredField {
                field_id: "customfield_1".into(),
                name: Some("Reviewer".into()),
                fallback: None,
            }],
            ..step.clone()
        };
        let err = no_fallback.fields(None).unwrap_err();
        assert!(err.to_string().contains("Reviewer"), "{err}");
    }

    /// A workflow behind the API: only the current status's transitions are visible.
    struct Scripted {
        edges: BTreeMap<String, Vec<Transition>>,
        status: Mutex<String>,
        posted: Mutex<Vec<(String, Map<String, Value>)>>,
    }

    impl WorkflowApi for Scripted {
        async fn current_status(&self, _key: &str) -> Result<String, JiraError> {
            Ok(self.status.lock().unwrap().clone())
        }
        async fn transitions(&self, _key: &str) -> Result<Vec<Transition>, JiraError> {
            let s = self.status.lock().unwrap().clone();
            Ok(self.edges.get(&s).cloned().unwrap_or_default())
        }
        async fn transition(
            &self,
            _key: &str,
            id: &str,
            fields: Map<String, Value>,
        ) -> Result<(), JiraError> {
            let s = self.status.lock().unwrap().clone();
            let t = self.edges[&s].iter().find(|t| t.id == id).unwrap();
            for (f, meta) in &t.fields {
                assert!(!meta.required || fields.contains_key(f), "{f} missing");
            }
            *self.status.lock().unwrap() = t.to.as_ref().unwrap().id.clone();
            self.posted.lock().unwrap().push((id.into(), fields));
            Ok(())
        }
    }

    #[tokio::test]
    async fn apply_status_explores_then_walks_the_workflow() {
        let api = Scripted {
            edges: linear(),
            status: Mutex::new("open".into()),
            posted: Mutex::new(vec![]),
        };
        let mut graph = WorkflowGraph::new();
        let all = policy(&[("open", ""), ("progress", ""), ("review", ""), ("done", "")]);
        let out = apply_status(&api, "K-1", "done", None, &mut graph, &all)
            .await
            .unwrap();
        assert_eq!(out.applied, ["to progress", "to review", "to done"]);
        assert!(out.explored);
        let posted = api.posted.lock().unwrap().clone();
        assert_eq!(posted[2].1["resolution"], json!({"id": "10000"}));

        // The second time the graph is known: back to Review in one planned walk.
        let out = apply_status(&api, "K-1", "review", None, &mut graph, &all)
            .await
            .unwrap();
        assert_eq!(out.applied, ["to open", "to progress", "to review"]);
        assert!(!out.explored);
    }

    #[tokio::test]
    async fn unreachable_status_is_an_error() {
        let api = Scripted {
            edges: linear(),
            status: Mutex::new("open".into()),
            posted: Mutex::new(vec![]),
        };
        let all = policy(&[("open", ""), ("progress", ""), ("review", ""), ("done", "")]);
        let err = apply_status(
            &api,
            "K-1",
            "archived",
            None,
            &mut WorkflowGraph::new(),
            &all,
        )
        .await
        .unwrap_err();
        // Every status reachable without filling a field was explored; Done was not entered.
        assert!(err.is_stuck(), "{err}");
        assert_eq!(
            err.path(),
            ["open", "progress", "review", "done", "…", "archived"]
        );
    }
}
