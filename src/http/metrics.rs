//! Counters behind `/metrics`, rendered in the Prometheus text format by hand: a handful of
//! atomics does not justify a metrics framework.
//!
//! Architecture invariant: no label ever carries a secret or a request body; labels are fixed
//! reasons or resource names.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::store::{StoreStats, WebhookState, BATCH_BUCKETS};
use crate::sync::engine::EngineSnapshot;

/// Why a webhook was refused; each is a label value of `tandem_webhooks_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    Malformed,
    Unauthorized,
    UnknownWorkspace,
    TooLarge,
    Timeout,
    ShuttingDown,
    NotReady,
    StoreError,
}

impl RejectReason {
    const ALL: [RejectReason; 8] = [
        RejectReason::Malformed,
        RejectReason::Unauthorized,
        RejectReason::UnknownWorkspace,
        RejectReason::TooLarge,
        RejectReason::Timeout,
        RejectReason::ShuttingDown,
        RejectReason::NotReady,
        RejectReason::StoreError,
    ];

    fn label(self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::Unauthorized => "unauthorized",
            RejectReason::UnknownWorkspace => "unknown_workspace",
            RejectReason::TooLarge => "too_large",
            RejectReason::Timeout => "timeout",
            RejectReason::ShuttingDown => "shutting_down",
            RejectReason::NotReady => "not_ready",
            RejectReason::StoreError => "store_error",
        }
    }
}

/// Upper bounds (seconds) of the ack latency histogram.
const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0];

/// Webhook receiver counters, shared by the public listener and `/metrics`.
#[derive(Debug, Default)]
pub struct WebhookMetrics {
    received: AtomicU64,
    stored: AtomicU64,
    duplicates: AtomicU64,
    rejected: [AtomicU64; RejectReason::ALL.len()],
    ack_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    ack_count: AtomicU64,
    ack_micros: AtomicU64,
}

impl WebhookMetrics {
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stored(&self, latency: Duration) {
        self.stored.fetch_add(1, Ordering::Relaxed);
        self.ack(latency);
    }

    pub fn duplicate(&self, latency: Duration) {
        self.duplicates.fetch_add(1, Ordering::Relaxed);
        self.ack(latency);
    }

    pub fn rejected(&self, reason: RejectReason) {
        if let Some(i) = RejectReason::ALL.iter().position(|r| *r == reason) {
            self.rejected[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Count of webhook requests received so far (any outcome).
    pub fn received_count(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Count of webhooks durably stored so far (duplicates not included).
    pub fn stored_count(&self) -> u64 {
        self.stored.load(Ordering::Relaxed)
    }

    /// Count of webhooks refused for `reason` so far.
    pub fn rejected_count(&self, reason: RejectReason) -> u64 {
        RejectReason::ALL
            .iter()
            .position(|r| *r == reason)
            .map(|i| self.rejected[i].load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    fn ack(&self, latency: Duration) {
        let secs = latency.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.ack_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.ack_count.fetch_add(1, Ordering::Relaxed);
        self.ack_micros.fetch_add(
            u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Appends this registry in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            out,
            "tandem_webhooks_received_total",
            "Webhook requests received on the public listener.",
            load(&self.received),
        );
        counter(
            out,
            "tandem_webhooks_stored_total",
            "Webhooks durably stored and acknowledged.",
            load(&self.stored),
        );
        counter(
            out,
            "tandem_webhooks_duplicates_total",
            "Webhooks acknowledged without storing because their identifier was already stored.",
            load(&self.duplicates),
        );
        let _ = writeln!(
            out,
            "# HELP tandem_webhooks_rejected_total Webhooks refused, by reason.\n\
             # TYPE tandem_webhooks_rejected_total counter"
        );
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "tandem_webhooks_rejected_total{{reason=\"{}\"}} {}",
                r.label(),
                load(&self.rejected[i])
            );
        }
        let _ = writeln!(
            out,
            "# HELP tandem_webhook_ack_seconds Time from request headers to a durable acknowledgement.\n\
             # TYPE tandem_webhook_ack_seconds histogram"
        );
        let mut acc = 0;
        for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
            acc += load(&self.ack_buckets[i]);
            let _ = writeln!(out, "tandem_webhook_ack_seconds_bucket{{le=\"{b}\"}} {acc}");
        }
        let count = load(&self.ack_count);
        let _ = writeln!(
            out,
            "tandem_webhook_ack_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "tandem_webhook_ack_seconds_sum {}",
            load(&self.ack_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "tandem_webhook_ack_seconds_count {count}");
    }
}

/// Appends the store writer's counters in Prometheus text format.
pub fn render_store(stats: &StoreStats, out: &mut String) {
    counter(
        out,
        "tandem_store_commits_total",
        "Write transactions committed to the state file.",
        stats.commits,
    );
    counter(
        out,
        "tandem_store_failed_commits_total",
        "Write transactions that failed.",
        stats.failed_commits,
    );
    let _ = writeln!(
        out,
        "# HELP tandem_store_writable 0 once a write failed with an I/O error (disk full...): \
         writes are refused until one succeeds again.\n# TYPE tandem_store_writable gauge\n\
         tandem_store_writable {}",
        u8::from(stats.write_failure.is_none())
    );
    let _ = writeln!(
        out,
        "# HELP tandem_store_commit_batch_size Writes grouped into one commit.\n\
         # TYPE tandem_store_commit_batch_size histogram"
    );
    for (i, b) in BATCH_BUCKETS.iter().enumerate() {
        let _ = writeln!(
            out,
            "tandem_store_commit_batch_size_bucket{{le=\"{b}\"}} {}",
            stats.batch_size_buckets[i]
        );
    }
    let _ = writeln!(
        out,
        "tandem_store_commit_batch_size_bucket{{le=\"+Inf\"}} {}\n\
         tandem_store_commit_batch_size_sum {}\n\
         tandem_store_commit_batch_size_count {}",
        stats.commits, stats.jobs, stats.commits
    );
    let _ = writeln!(
        out,
        "# HELP tandem_store_commit_seconds_total Time spent committing.\n\
         # TYPE tandem_store_commit_seconds_total counter\n\
         tandem_store_commit_seconds_total {}",
        stats.commit_micros as f64 / 1e6
    );
}

/// Appends per connection webhook counts and last event times (connections that never
/// received an event are absent: they are still `waiting`).
pub fn render_webhook_states(states: &[WebhookState], out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP tandem_connection_webhook_events_total Webhooks stored per connection.\n\
         # TYPE tandem_connection_webhook_events_total counter"
    );
    for s in states {
        let _ = writeln!(
            out,
            "tandem_connection_webhook_events_total{{connection=\"{}\"}} {}",
            label_value(&s.connection),
            s.count
        );
    }
    let _ = writeln!(
        out,
        "# HELP tandem_connection_webhook_last_event_timestamp_seconds When the last webhook arrived.\n\
         # TYPE tandem_connection_webhook_last_event_timestamp_seconds gauge"
    );
    for s in states {
        let _ = writeln!(
            out,
            "tandem_connection_webhook_last_event_timestamp_seconds{{connection=\"{}\"}} {}",
            label_value(&s.connection),
            s.last_event_at.timestamp_millis() as f64 / 1e3
        );
    }
}

/// Escapes a label value as the text format requires.
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

/// `tandem_sync_*`: the live engine's counters and its pair queue, in Prometheus text.
pub fn render_engine(s: &EngineSnapshot, out: &mut String) {
    for (name, help, v) in [
        ("tandem_sync_runs_total", "Pair syncs run", s.runs),
        (
            "tandem_sync_jira_writes_total",
            "Requests that changed Jira",
            s.jira_writes,
        ),
        (
            "tandem_sync_workspace_writes_total",
            "Writes that changed workspace items",
            s.workspace_writes,
        ),
        (
            "tandem_sync_conflicts_total",
            "Fields both sides changed, decided by policy",
            s.conflicts,
        ),
        (
            "tandem_sync_retries_total",
            "Pair syncs retried after a transient failure",
            s.retries,
        ),
        (
            "tandem_sync_failures_total",
            "Pair syncs that failed permanently",
            s.failures,
        ),
        (
            "tandem_sync_echoes_skipped_total",
            "Events skipped: changes the engine made itself, issue states already synced",
            s.echoes_skipped,
        ),
        (
            "tandem_sync_webhooks_consumed_total",
            "Stored webhooks read by the engine",
            s.webhooks_consumed,
        ),
        ("tandem_sync_sweeps_total", "Resync sweeps run", s.sweeps),
        (
            "tandem_sync_unreachable_total",
            "Pairs marked unreachable: their issue answered 404 without Jira saying it was deleted",
            s.unreachable,
        ),
        (
            "tandem_sync_stuck_total",
            "Status changes found stuck: no path through the workflow avoids Done-category and unmapped statuses",
            s.stuck,
        ),
        (
            "tandem_sync_fields_refused_total",
            "Fields Jira refused in an edit (not on the edit screen, out of context, an invalid value); the edit went on without them",
            s.fields_refused,
        ),
    ] {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
        );
    }
    let q = &s.queue;
    let _ = write!(
        out,
        "# HELP tandem_sync_queue_pairs Pairs waiting in the sync queue\n# TYPE tandem_sync_queue_pairs gauge\ntandem_sync_queue_pairs{{state=\"ready\"}} {}\ntandem_sync_queue_pairs{{state=\"running\"}} {}\ntandem_sync_queue_pairs{{state=\"scheduled\"}} {}\n",
        q.ready, q.running, q.scheduled
    );
}

/// A `/metrics` source reading the engine's counters at each scrape.
pub struct EngineMetrics<F>(pub F);

impl<F> super::admin::MetricsSource for EngineMetrics<F>
where
    F: Fn() -> EngineSnapshot + Send + Sync,
{
    fn render(&self, out: &mut String) {
        render_engine(&(self.0)(), out);
    }
}
