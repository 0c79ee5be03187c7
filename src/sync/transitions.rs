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
//! Required fields are filled, in order, from the item's own write ([`super::mapping::to_jira`]
//! fields, when the transition asks for a field the item maps) or else from the first allowed
//! value Jira offers (for a resolution: normally "Done"). A required field with neither is an
//! error naming the transition and the field, not a silent skip.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::future::Future;

use serde_json::{json, Map, Value};

use crate::jira::{JiraClient, JiraError, Transition};

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
                fallback: f.allowed_values.first().map(reduce_allowed),
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
}

/// Shortest sequence of transitions from `current` to `target` over the known workflow
/// (breadth-first, ties broken by Jira's order of transitions). `Some(vec![])` when already
/// there, `None` when the known part of the workflow has no path.
pub fn plan_transitions(
    current_status_id: &str,
    target_status_id: &str,
    graph: &WorkflowGraph,
) -> Option<Vec<TransitionStep>> {
    bfs(current_status_id, graph, |s| s == target_status_id)
}

fn bfs(
    start: &str,
    graph: &WorkflowGraph,
    is_goal: impl Fn(&str) -> bool,
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
            if !seen.insert(step.to_status_id.clone()) {
                continue;
            }
            let to = step.to_status_id.clone();
            let mut next = path.clone();
            next.push(step);
            if is_goal(&to) {
                return Some(next);
            }
            queue.push_back((to, next));
        }
    }
    None
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
/// (learning the current status's transitions), and posts one transition at a time with its
/// required fields. `item_fields` are the item's write fields (see
/// [`super::mapping::IssueWrite::fields`]), used to fill required fields first.
pub async fn apply_status<A: WorkflowApi + Sync>(
    api: &A,
    issue_key: &str,
    target_status_id: &str,
    item_fields: Option<&Map<String, Value>>,
    graph: &mut WorkflowGraph,
) -> Result<StatusOutcome, TransitionError> {
    let mut outcome = StatusOutcome::default();
    let start = api.current_status(issue_key).await?;
    let mut current = start.clone();
    for _ in 0..MAX_STEPS {
        if current == target_status_id {
            return Ok(outcome);
        }
        let available = api.transitions(issue_key).await?;
        graph.record(&current, available);
        let step = match plan_transitions(&current, target_status_id, graph) {
            Some(plan) => plan.into_iter().next(),
            None => {
                // Walk towards the nearest status whose transitions are unknown.
                outcome.explored = true;
                bfs(&current, graph, |s| !graph.knows(s)).and_then(|p| p.into_iter().next())
            }
        };
        let Some(step) = step else {
            return Err(TransitionError::NoPath {
                from: start,
                to: target_status_id.to_owned(),
                explored: graph.known_statuses(),
            });
        };
        let fields = step.fields(item_fields)?;
        api.transition(issue_key, &step.transition_id, fields)
            .await?;
        outcome.applied.push(step.name.clone());
        current = api.current_status(issue_key).await?;
    }
    Err(TransitionError::TooManySteps {
        to: target_status_id.to_owned(),
    })
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
        let out = apply_status(&api, "K-1", "done", None, &mut graph)
            .await
            .unwrap();
        assert_eq!(out.applied, ["to progress", "to review", "to done"]);
        assert!(out.explored);
        let posted = api.posted.lock().unwrap().clone();
        assert_eq!(posted[2].1["resolution"], json!({"id": "10000"}));

        // The second time the graph is known: back to Review in one planned walk.
        let out = apply_status(&api, "K-1", "review", None, &mut graph)
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
        let err = apply_status(&api, "K-1", "archived", None, &mut WorkflowGraph::new())
            .await
            .unwrap_err();
        assert!(
            matches!(err, TransitionError::NoPath { explored: 4, .. }),
            "{err}"
        );
    }
}
