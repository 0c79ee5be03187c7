//! Conditions and the status board: what every resource looks like to `/api/v1/status`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::ReconcileError;

/// The three condition types of the kstatus convention, which `kubectl wait`-style tooling
/// and people used to Kubernetes already know how to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionType {
    /// The declared spec is applied and working.
    Ready,
    /// The controller is working on the resource or will retry on its own.
    Reconciling,
    /// The controller cannot make progress without someone changing something.
    Stalled,
}

/// One observation about a resource, Kubernetes style.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: ConditionType,
    pub status: bool,
    /// Machine-readable CamelCase cause, e.g. `AuthenticationFailed`.
    pub reason: String,
    /// One sentence a person can act on.
    pub message: String,
    /// When `status` last flipped; not touched by reason or message updates, so it answers
    /// "since when is this broken" rather than "when did we last look".
    pub last_transition_time: DateTime<Utc>,
}

/// Sets `type_` in `conditions`, moving `last_transition_time` only when `status` flips (or
/// the condition is new). Returns whether the status flipped.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: ConditionType,
    status: bool,
    reason: &str,
    message: &str,
    now: DateTime<Utc>,
) -> bool {
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == type_) {
        let flipped = c.status != status;
        if flipped {
            c.last_transition_time = now;
        }
        c.status = status;
        reason.clone_into(&mut c.reason);
        message.clone_into(&mut c.message);
        flipped
    } else {
        conditions.push(Condition {
            type_,
            status,
            reason: reason.to_owned(),
            message: message.to_owned(),
            last_transition_time: now,
        });
        true
    }
}

/// Identifies a resource by kind and name; the controller's keys implement this so the
/// status board can file results without knowing the key type.
pub trait ResourceKey: Clone + Eq + std::hash::Hash + fmt::Debug + Send + Sync + 'static {
    fn kind(&self) -> &str;
    fn name(&self) -> &str;
}

/// A ready-made key: `Kind/name`, as manifests identify resources.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    pub kind: String,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

impl ResourceKey for ObjectRef {
    fn kind(&self) -> &str {
        &self.kind
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// The most recent failure, kept after later conditions change so status still explains
/// why a retry is pending.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    pub reason: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// Everything status shows about one resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    pub kind: String,
    pub name: String,
    /// Digest of the spec the last successful reconcile applied, so operators can tell whether
    /// the manifest they just pushed is the one running.
    pub observed_digest: Option<String>,
    pub conditions: Vec<Condition>,
    pub last_error: Option<LastError>,
    /// When the controller will look at this resource again on its own (retry or drift check).
    pub next_reconcile: Option<DateTime<Utc>>,
    /// Consecutive failures; zero after a success.
    pub failures: u32,
    pub last_reconciled: Option<DateTime<Utc>>,
    pub reconcile_count: u64,
    /// Kind-specific facts a reconciler publishes (webhook state, link counts, ...).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl ResourceStatus {
    fn new(kind: &str, name: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            name: name.to_owned(),
            observed_digest: None,
            conditions: Vec::new(),
            last_error: None,
            next_reconcile: None,
            failures: 0,
            last_reconciled: None,
            reconcile_count: 0,
            details: serde_json::Value::Null,
        }
    }

    pub fn condition(&self, type_: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    pub fn is_ready(&self) -> bool {
        self.condition(ConditionType::Ready)
            .is_some_and(|c| c.status)
    }
}

/// Maps the monotonic clock the controller schedules with onto wall-clock time, so status
/// times and retry times agree (and tests with a paused clock get deterministic timestamps).
#[derive(Clone, Copy, Debug)]
struct Clock {
    base_wall: DateTime<Utc>,
    base: Instant,
}

impl Clock {
    fn new() -> Self {
        Self {
            base_wall: Utc::now(),
            base: Instant::now(),
        }
    }

    fn wall(&self, at: Instant) -> DateTime<Utc> {
        let offset = if at >= self.base {
            chrono::TimeDelta::from_std(at - self.base).unwrap_or(chrono::TimeDelta::MAX)
        } else {
            -chrono::TimeDelta::from_std(self.base - at).unwrap_or(chrono::TimeDelta::MAX)
        };
        self.base_wall
            .checked_add_signed(offset)
            .unwrap_or(self.base_wall)
    }
}

/// Shared, cheaply cloned table of every resource's status. Readers (HTTP status, metrics,
/// dependency checks) take a short read lock; the controller is the main writer.
#[derive(Clone)]
pub struct StatusBoard {
    inner: Arc<RwLock<BTreeMap<(String, String), ResourceStatus>>>,
    clock: Clock,
}

impl Default for StatusBoard {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for StatusBoard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusBoard")
            .field("resources", &self.list().len())
            .finish()
    }
}

impl StatusBoard {
    pub fn new() -> Self {
        Self {
            inner: Arc::new(RwLock::new(BTreeMap::new())),
            clock: Clock::new(),
        }
    }

    /// Wall-clock time consistent with the controller's schedule.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.wall(Instant::now())
    }

    pub(crate) fn wall(&self, at: Instant) -> DateTime<Utc> {
        self.clock.wall(at)
    }

    pub fn get(&self, kind: &str, name: &str) -> Option<ResourceStatus> {
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        map.get(&(kind.to_owned(), name.to_owned())).cloned()
    }

    /// Every resource, ordered by kind then name.
    pub fn list(&self) -> Vec<ResourceStatus> {
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        map.values().cloned().collect()
    }

    /// The JSON array served by `/api/v1/status`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.list()).unwrap_or(serde_json::Value::Null)
    }

    pub fn is_ready(&self, kind: &str, name: &str) -> bool {
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        map.get(&(kind.to_owned(), name.to_owned()))
            .is_some_and(ResourceStatus::is_ready)
    }

    /// Runs `f` on the resource's entry, creating it if absent, and returns what `f` returns.
    pub fn update<T>(&self, kind: &str, name: &str, f: impl FnOnce(&mut ResourceStatus) -> T) -> T {
        let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let entry = map
            .entry((kind.to_owned(), name.to_owned()))
            .or_insert_with(|| ResourceStatus::new(kind, name));
        f(entry)
    }

    /// Replaces the kind-specific details a reconciler publishes.
    pub fn set_details(&self, kind: &str, name: &str, details: serde_json::Value) {
        self.update(kind, name, |s| s.details = details);
    }

    pub fn remove(&self, kind: &str, name: &str) -> Option<ResourceStatus> {
        let mut map = self.inner.write().unwrap_or_else(|e| e.into_inner());
        map.remove(&(kind.to_owned(), name.to_owned()))
    }

    /// For reconcilers of dependent kinds: `Ok` when the dependency is Ready, otherwise the
    /// `DependencyNotReady` error to return, naming the dependency and why it is not Ready.
    pub fn require_ready(&self, kind: &str, name: &str) -> Result<(), ReconcileError> {
        match self.get(kind, name) {
            Some(s) if s.is_ready() => Ok(()),
            Some(s) => {
                let why = s
                    .condition(ConditionType::Ready)
                    .map(|c| format!("{}: {}", c.reason, c.message))
                    .unwrap_or_else(|| "not reconciled yet".to_owned());
                Err(ReconcileError::DependencyNotReady {
                    message: format!("{kind}/{name} is not Ready ({why})"),
                })
            }
            None => Err(ReconcileError::DependencyNotReady {
                message: format!("{kind}/{name} does not exist"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let mut c = Vec::new();
        assert!(set_condition(
            &mut c,
            ConditionType::Ready,
            false,
            "Pending",
            "",
            t(0)
        ));
        assert!(set_condition(
            &mut c,
            ConditionType::Ready,
            true,
            "Reconciled",
            "ok",
            t(10)
        ));
        assert!(!set_condition(
            &mut c,
            ConditionType::Ready,
            true,
            "Reconciled",
            "again",
            t(20)
        ));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].last_transition_time, t(10));
        assert_eq!(c[0].message, "again");
        assert!(!set_condition(
            &mut c,
            ConditionType::Ready,
            true,
            "OtherReason",
            "x",
            t(25)
        ));
        assert_eq!(c[0].last_transition_time, t(10));
        assert_eq!(c[0].reason, "OtherReason");
        assert!(set_condition(
            &mut c,
            ConditionType::Ready,
            false,
            "Unreachable",
            "down",
            t(30)
        ));
        assert_eq!(c[0].last_transition_time, t(30));
    }

    #[test]
    fn require_ready_explains_why_a_dependency_blocks() {
        let board = StatusBoard::new();
        let err = board.require_ready("Connection", "acme").unwrap_err();
        assert!(
            err.to_string().contains("Connection/acme does not exist"),
            "{err}"
        );
        let now = board.now();
        board.update("Connection", "acme", |s| {
            set_condition(
                &mut s.conditions,
                ConditionType::Ready,
                false,
                "NotAdministrator",
                "user lacks admin",
                now,
            );
        });
        let err = board.require_ready("Connection", "acme").unwrap_err();
        assert!(err.to_string().contains("NotAdministrator"), "{err}");
        board.update("Connection", "acme", |s| {
            set_condition(
                &mut s.conditions,
                ConditionType::Ready,
                true,
                "Reconciled",
                "",
                now,
            );
        });
        assert!(board.require_ready("Connection", "acme").is_ok());
    }

    #[test]
    fn status_json_uses_kubernetes_field_names() {
        let board = StatusBoard::new();
        let now = board.now();
        board.update("Workspace", "main", |s| {
            s.observed_digest = Some("abc".into());
            set_condition(
                &mut s.conditions,
                ConditionType::Ready,
                true,
                "Reconciled",
                "",
                now,
            );
        });
        let json = board.to_json();
        let first = &json[0];
        assert_eq!(first["kind"], "Workspace");
        assert_eq!(first["observedDigest"], "abc");
        assert_eq!(first["conditions"][0]["type"], "Ready");
        assert_eq!(first["conditions"][0]["status"], true);
        assert!(first["conditions"][0]["lastTransitionTime"].is_string());
        assert!(first.get("details").is_none());
    }
}
