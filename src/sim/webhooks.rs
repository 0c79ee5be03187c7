//! Webhooks of the simulator: the registry behind `/rest/webhooks/1.0/webhook` and the
//! asynchronous deliverer that POSTs events the way Jira does.
//!
//! Responsibilities: storing registrations in Jira's admin REST shape, choosing which webhooks an
//! event goes to (event name and JQL filter), and delivering on a bounded queue with Jira's
//! headers (`X-Atlassian-Webhook-Identifier`, `X-Atlassian-Webhook-Retry`, `X-Hub-Signature`),
//! retries with exponential backoff, and the fault modes sync tests need (duplicates, reordering,
//! dropped and delayed deliveries, seeded so a run replays). Delivery identifiers are unique
//! across restarts and simulators, as Jira's are: a random per-dispatcher half and a counter.
//! Bodies are opaque `serde_json::Value`s built by the simulator: this module knows nothing of
//! the issue model beyond [`JqlIssue`].
//!
//! Architecture invariant: [`WebhookDispatcher::fire`] never waits on the network or on a full
//! queue, so a slow or dead receiver cannot slow the simulator's request handlers. A full queue
//! drops the event and records it as [`Outcome::QueueFull`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use thiserror::Error;
use tokio::sync::{mpsc, Notify};

use super::jql::{self, EvalContext, JqlError, JqlIssue, Query};

/// Every event the simulator fires; `--webhook URL` registers for all of them.
pub const ALL_EVENTS: &[&str] = &[
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
    "issuelink_created",
    "issuelink_deleted",
    "worklog_created",
    "worklog_updated",
    "worklog_deleted",
    "jira:version_created",
    "jira:version_updated",
    "jira:version_released",
    "jira:version_unreleased",
    "jira:version_deleted",
    "sprint_created",
    "sprint_updated",
    "sprint_started",
    "sprint_closed",
    "sprint_deleted",
];

/// The key Jira uses in `filters` for the JQL that issue-related events must match.
const JQL_FILTER_KEY: &str = "issue-related-events-section";

/// A registered webhook. Its `Debug` output redacts the secret, so logging one is safe.
#[derive(Clone, PartialEq)]
pub struct Webhook {
    pub id: u64,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    /// Applies to issue-related events only, as in Jira; other events ignore it.
    pub jql: Option<String>,
    /// Signs bodies (`X-Hub-Signature`); never serialised back to clients.
    pub secret: Option<String>,
    pub enabled: bool,
    /// Jira's `excludeBody`: the POST carries no body, only the headers.
    pub exclude_body: bool,
    pub last_updated_user: String,
    pub last_updated: DateTime<Utc>,
}

impl Webhook {
    /// A webhook for every event, as `--webhook URL[#SECRET]` registers.
    pub fn for_all_events(url: &str, secret: Option<String>) -> Webhook {
        Webhook {
            id: 0,
            name: format!("tandem-sim {url}"),
            url: url.to_string(),
            events: ALL_EVENTS.iter().map(|e| e.to_string()).collect(),
            jql: None,
            secret,
            enabled: true,
            exclude_body: false,
            last_updated_user: "admin".into(),
            last_updated: Utc::now(),
        }
    }

    /// Builds a webhook from a POST/PUT body of `/rest/webhooks/1.0/webhook`.
    pub fn from_request(req: WebhookRequest, user: &str) -> Webhook {
        Webhook {
            id: 0,
            name: req.name,
            url: req.url,
            events: req.events,
            jql: req
                .filters
                .get(JQL_FILTER_KEY)
                .filter(|q| !q.trim().is_empty())
                .cloned(),
            secret: req.secret.filter(|s| !s.is_empty()),
            enabled: req.enabled.unwrap_or(true),
            exclude_body: req.exclude_body.unwrap_or(false),
            last_updated_user: user.to_string(),
            last_updated: Utc::now(),
        }
    }

    /// The representation Jira returns from `/rest/webhooks/1.0/webhook[/{id}]`; `base_url` is
    /// the simulator's own base URL, used for `self`.
    pub fn to_response(&self, base_url: &str) -> WebhookResponse {
        let mut filters = BTreeMap::new();
        filters.insert(
            JQL_FILTER_KEY.to_string(),
            self.jql.clone().unwrap_or_default(),
        );
        WebhookResponse {
            self_url: format!(
                "{}/rest/webhooks/1.0/webhook/{}",
                base_url.trim_end_matches('/'),
                self.id
            ),
            name: self.name.clone(),
            url: self.url.clone(),
            events: self.events.clone(),
            filters,
            exclude_body: self.exclude_body,
            enabled: self.enabled,
            last_updated_user: self.last_updated_user.clone(),
            last_updated_display_name: self.last_updated_user.clone(),
            last_updated: self.last_updated.timestamp_millis(),
        }
    }
}

/// Body of a webhook POST/PUT, as Jira's admin REST API accepts it (`Debug` redacts the
/// secret).
#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookRequest {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
    #[serde(default)]
    pub exclude_body: Option<bool>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Data Center 10 accepts a secret for signed deliveries; Cloud admin webhooks do too.
    #[serde(default)]
    pub secret: Option<String>,
}

fn redact(secret: &Option<String>) -> Option<&'static str> {
    secret.as_ref().map(|_| "<redacted>")
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("jql", &self.jql)
            .field("secret", &redact(&self.secret))
            .field("enabled", &self.enabled)
            .field("exclude_body", &self.exclude_body)
            .field("last_updated_user", &self.last_updated_user)
            .field("last_updated", &self.last_updated)
            .finish()
    }
}

impl fmt::Debug for WebhookRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookRequest")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("filters", &self.filters)
            .field("exclude_body", &self.exclude_body)
            .field("enabled", &self.enabled)
            .field("secret", &redact(&self.secret))
            .finish()
    }
}

/// A webhook as Jira's admin REST API returns it (the secret is deliberately absent).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookResponse {
    #[serde(rename = "self")]
    pub self_url: String,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub filters: BTreeMap<String, String>,
    pub exclude_body: bool,
    pub enabled: bool,
    pub last_updated_user: String,
    pub last_updated_display_name: String,
    /// Milliseconds since the epoch, as Jira sends it.
    pub last_updated: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WebhookError {
    #[error("webhook {0} does not exist")]
    NotFound(u64),
    #[error("invalid JQL filter: {0}")]
    InvalidJql(#[from] JqlError),
    #[error("the webhook URL '{0}' is not an absolute http(s) URL")]
    InvalidUrl(String),
    #[error("{0}")]
    Refused(String),
}

/// Tuning of the deliverer. Faults are switched at run time
/// ([`WebhookDispatcher::set_delivery_faults`], [`WebhookDispatcher::reseed`]); a new
/// dispatcher has none and is seeded with [`super::faults::DEFAULT_SEED`].
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Events waiting for delivery beyond this are dropped (and recorded), never waited for.
    pub queue_capacity: usize,
    /// Retries after the first attempt; Jira gives up after a handful too.
    pub max_retries: u32,
    /// Delay before the first retry; doubled for each further one.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Per-attempt timeout, so a hung receiver counts as a failure.
    pub request_timeout: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            queue_capacity: 10_000,
            max_retries: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// The two webhook faults tests switched before [`DeliveryFaults`] existed; kept because they
/// read well in a test. Converts into [`DeliveryFaults`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Deliver every event twice (same identifier) and shuffle the order of queued events.
    pub duplicate_and_reorder: bool,
    /// Fraction (0.0 to 1.0) of deliveries silently dropped, as if lost in transit.
    pub drop_rate: f64,
}

impl From<Faults> for DeliveryFaults {
    fn from(f: Faults) -> Self {
        DeliveryFaults {
            drop_rate: f.drop_rate,
            duplicate: f.duplicate_and_reorder,
            reorder: f.duplicate_and_reorder,
            delay: Duration::ZERO,
        }
    }
}

/// Misbehaviours of real Jira's webhook delivery that the daemon must survive; switchable at
/// run time. The `webhooks` part of `/_sim/faults` (camelCase JSON, omitted fields off).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct DeliveryFaults {
    /// Fraction (0.0 to 1.0) of deliveries (duplicates included) silently dropped, as if lost
    /// in transit: no attempt, no retry.
    pub drop_rate: f64,
    /// Deliver every event twice, with the same identifier.
    pub duplicate: bool,
    /// Shuffle events fired close together (within 50 ms, up to 16) before delivery.
    pub reorder: bool,
    /// Hold every delivery this long after its event fired before the first attempt.
    #[serde(rename = "delayMs", with = "super::faults::millis")]
    pub delay: Duration,
}

/// What happened to one attempt (or to an event that never got one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered 2xx.
    Delivered,
    /// Non-2xx or a transport error; a retry follows unless `attempt` reached the bound.
    Failed(String),
    /// Dropped by the drop-rate fault.
    Dropped,
    /// The queue was full when the event fired.
    QueueFull,
}

/// One attempt to deliver one event to one webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub webhook_id: u64,
    pub event: String,
    /// `X-Atlassian-Webhook-Identifier`: the same for every retry and duplicate of a delivery.
    pub identifier: String,
    /// 0 for the first attempt, N for the N-th retry.
    pub attempt: u32,
    /// Sent again by the duplicate fault rather than by a retry.
    pub duplicate: bool,
    pub status: Option<u16>,
    pub outcome: Outcome,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Registered {
    hook: Webhook,
    filter: Option<Arc<Query>>,
}

#[derive(Clone)]
struct Job {
    webhook_id: u64,
    url: String,
    secret: Option<String>,
    event: String,
    identifier: String,
    body: Arc<Vec<u8>>,
    duplicate: bool,
    /// No attempt before this (the delay fault); `None` delivers at once.
    not_before: Option<tokio::time::Instant>,
}

struct Shared {
    hooks: Mutex<BTreeMap<u64, Registered>>,
    records: Mutex<Vec<DeliveryRecord>>,
    faults: Mutex<DeliveryFaults>,
    rng: Mutex<StdRng>,
    next_id: AtomicU64,
    /// Why registrations and updates are refused now, if they are (see
    /// [`WebhookDispatcher::refuse_registrations`]).
    refusal: Mutex<Option<String>>,
    /// Random per dispatcher: the high half of every delivery identifier, so identifiers differ
    /// across restarts and across simulators (see [`delivery_identifier`]).
    instance: u64,
    next_delivery: AtomicU64,
    /// Deliveries not yet in a final state (queued, in flight or waiting for a retry).
    pending: AtomicUsize,
    idle: Notify,
    config: DispatcherConfig,
    client: reqwest::Client,
}

/// Lock that survives a panicked holder: the data (lists and counters) stays usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn record(&self, job: &Job, attempt: u32, status: Option<u16>, outcome: Outcome) {
        lock(&self.records).push(DeliveryRecord {
            webhook_id: job.webhook_id,
            event: job.event.clone(),
            identifier: job.identifier.clone(),
            attempt,
            duplicate: job.duplicate,
            status,
            outcome,
            at: Utc::now(),
        });
    }

    fn finish(&self) {
        if self.pending.fetch_sub(1, AtomicOrdering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }
}

/// The registry and deliverer. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct WebhookDispatcher {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Job>,
}

impl WebhookDispatcher {
    /// Starts the delivery task; must be called inside a Tokio runtime.
    pub fn new(config: DispatcherConfig) -> WebhookDispatcher {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let shared = Arc::new(Shared {
            hooks: Mutex::new(BTreeMap::new()),
            records: Mutex::new(Vec::new()),
            faults: Mutex::new(DeliveryFaults::default()),
            rng: Mutex::new(StdRng::seed_from_u64(super::faults::DEFAULT_SEED)),
            next_id: AtomicU64::new(1),
            refusal: Mutex::new(None),
            // From the operating system's entropy, never from the fault seed: a replayed run
            // must still not reuse the identifiers of the run it replays.
            instance: rand::random(),
            next_delivery: AtomicU64::new(1),
            pending: AtomicUsize::new(0),
            idle: Notify::new(),
            config,
            client,
        });
        tokio::spawn(run(shared.clone(), rx));
        WebhookDispatcher { shared, queue: tx }
    }

    /// Refuses every registration and update with `why` (a site that does not take the URL,
    /// a webhook limit reached); `None` takes them again.
    pub fn refuse_registrations(&self, why: Option<String>) {
        *lock(&self.shared.refusal) = why;
    }

    /// Registers a webhook and returns it with its new id. The JQL filter is checked now so a
    /// bad one is a 400 at registration, as in Jira.
    pub fn register(&self, mut hook: Webhook) -> Result<Webhook, WebhookError> {
        if let Some(why) = lock(&self.shared.refusal).clone() {
            return Err(WebhookError::Refused(why));
        }
        let filter = compile(&hook)?;
        hook.id = self.shared.next_id.fetch_add(1, AtomicOrdering::Relaxed);
        lock(&self.shared.hooks).insert(
            hook.id,
            Registered {
                hook: hook.clone(),
                filter,
            },
        );
        Ok(hook)
    }

    /// Replaces webhook `id` (keeping the id).
    pub fn update(&self, id: u64, mut hook: Webhook) -> Result<Webhook, WebhookError> {
        if let Some(why) = lock(&self.shared.refusal).clone() {
            return Err(WebhookError::Refused(why));
        }
        let filter = compile(&hook)?;
        hook.id = id;
        let mut hooks = lock(&self.shared.hooks);
        let slot = hooks.get_mut(&id).ok_or(WebhookError::NotFound(id))?;
        *slot = Registered {
            hook: hook.clone(),
            filter,
        };
        Ok(hook)
    }

    pub fn delete(&self, id: u64) -> Result<(), WebhookError> {
        lock(&self.shared.hooks)
            .remove(&id)
            .map(|_| ())
            .ok_or(WebhookError::NotFound(id))
    }

    pub fn get(&self, id: u64) -> Option<Webhook> {
        lock(&self.shared.hooks).get(&id).map(|r| r.hook.clone())
    }

    /// All webhooks, by id.
    pub fn list(&self) -> Vec<Webhook> {
        lock(&self.shared.hooks)
            .values()
            .map(|r| r.hook.clone())
            .collect()
    }

    /// Switches the duplicate-and-reorder and drop faults (no delay).
    pub fn set_faults(&self, faults: Faults) {
        self.set_delivery_faults(faults.into());
    }

    /// Switches every delivery fault; events already queued are delivered under the new ones
    /// (their delay aside, which was fixed when they fired).
    pub fn set_delivery_faults(&self, faults: DeliveryFaults) {
        *lock(&self.shared.faults) = faults;
    }

    /// Restarts the random stream of the drop and reorder faults from `seed`.
    pub fn reseed(&self, seed: u64) {
        *lock(&self.shared.rng) = StdRng::seed_from_u64(seed);
    }

    /// Queues `event` for every enabled webhook that subscribes to it and whose JQL filter the
    /// issue matches (the filter is evaluated now, against the issue as it is now). Returns at
    /// once; returns the number of deliveries queued.
    pub fn fire(&self, event: &str, body: Value, issue: Option<&dyn JqlIssue>) -> usize {
        let ctx = EvalContext {
            now: Utc::now(),
            current_user: String::new(),
            open_sprint_ids: Vec::new(),
            closed_sprint_ids: Vec::new(),
        };
        self.fire_in(event, body, issue, &ctx)
    }

    /// [`WebhookDispatcher::fire`] with the context JQL filters are evaluated in (open sprints,
    /// current user), for filters that use functions.
    pub fn fire_in(
        &self,
        event: &str,
        body: Value,
        issue: Option<&dyn JqlIssue>,
        ctx: &EvalContext,
    ) -> usize {
        let targets: Vec<(u64, String, Option<String>, bool)> = lock(&self.shared.hooks)
            .values()
            .filter(|r| r.hook.enabled && r.hook.events.iter().any(|e| e == event))
            .filter(|r| match (&r.filter, issue) {
                (Some(q), Some(i)) => q.matches(i, ctx),
                _ => true,
            })
            .map(|r| {
                (
                    r.hook.id,
                    r.hook.url.clone(),
                    r.hook.secret.clone(),
                    r.hook.exclude_body,
                )
            })
            .collect();
        if targets.is_empty() {
            return 0;
        }
        let full = Arc::new(serde_json::to_vec(&body).unwrap_or_default());
        let empty = Arc::new(Vec::new());
        let delay = lock(&self.shared.faults).delay;
        let not_before = (!delay.is_zero()).then(|| tokio::time::Instant::now() + delay);
        let mut queued = 0;
        for (webhook_id, url, secret, exclude_body) in targets {
            let n = self
                .shared
                .next_delivery
                .fetch_add(1, AtomicOrdering::Relaxed);
            let job = Job {
                webhook_id,
                url,
                secret,
                event: event.to_string(),
                identifier: delivery_identifier(self.shared.instance, n),
                body: if exclude_body {
                    empty.clone()
                } else {
                    full.clone()
                },
                duplicate: false,
                not_before,
            };
            self.shared.pending.fetch_add(1, AtomicOrdering::AcqRel);
            match self.queue.try_send(job) {
                Ok(()) => queued += 1,
                Err(e) => {
                    let job = match e {
                        mpsc::error::TrySendError::Full(j)
                        | mpsc::error::TrySendError::Closed(j) => j,
                    };
                    tracing::warn!(event, webhook_id, "webhook queue full; event dropped");
                    self.shared.record(&job, 0, None, Outcome::QueueFull);
                    self.shared.finish();
                }
            }
        }
        queued
    }

    /// Every attempt so far, in the order they completed.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        lock(&self.shared.records).clone()
    }

    /// Waits until every fired event is delivered, given up on or dropped. Tests bound it with
    /// their own timeout.
    pub async fn idle(&self) {
        loop {
            let notified = self.shared.idle.notified();
            if self.shared.pending.load(AtomicOrdering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// `X-Atlassian-Webhook-Identifier` of delivery `n` of a dispatcher: UUID-shaped (version 4
/// layout), the dispatcher's random 64 bits in the high half and `n` in the low half. Unique
/// within a dispatcher by the counter, and across restarts and simulators by the random half,
/// as Jira's identifiers are; retries and duplicates reuse their delivery's.
fn delivery_identifier(instance: u64, n: u64) -> String {
    let mut v = (u128::from(instance) << 64) | u128::from(n);
    // Version 4 in bits 76..80 and the RFC 4122 variant in bits 62..64: both land on bits the
    // counter never reaches or that are random anyway.
    v = (v & !(0xf << 76)) | (0x4 << 76);
    v = (v & !(0x3 << 62)) | (0x2 << 62);
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn compile(hook: &Webhook) -> Result<Option<Arc<Query>>, WebhookError> {
    let url_ok = (hook.url.starts_with("http://") || hook.url.starts_with("https://"))
        && reqwest::Url::parse(&hook.url).is_ok();
    if !url_ok {
        return Err(WebhookError::InvalidUrl(hook.url.clone()));
    }
    match &hook.jql {
        Some(q) if !q.trim().is_empty() => Ok(Some(Arc::new(jql::parse(q)?))),
        _ => Ok(None),
    }
}

/// How long the reorder fault waits for more events to shuffle together.
const REORDER_WINDOW: Duration = Duration::from_millis(50);
const REORDER_BATCH: usize = 16;

/// Takes events off the shared queue, applies the faults, and hands each to its webhook's lane.
async fn run(shared: Arc<Shared>, mut rx: mpsc::Receiver<Job>) {
    let mut lanes: HashMap<u64, mpsc::Sender<Job>> = HashMap::new();
    while let Some(first) = rx.recv().await {
        let faults = lock(&shared.faults).clone();
        let mut batch = vec![first];
        if faults.reorder {
            let deadline = tokio::time::Instant::now() + REORDER_WINDOW;
            while batch.len() < REORDER_BATCH {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(job)) => batch.push(job),
                    _ => break,
                }
            }
        }
        if faults.duplicate {
            let dups: Vec<Job> = batch
                .iter()
                .map(|j| Job {
                    duplicate: true,
                    ..j.clone()
                })
                .collect();
            for _ in &dups {
                shared.pending.fetch_add(1, AtomicOrdering::AcqRel);
            }
            if faults.reorder {
                batch.extend(dups);
            } else {
                // Each copy right after its original: duplicated, in firing order.
                batch = batch
                    .into_iter()
                    .zip(dups)
                    .flat_map(|(a, b)| [a, b])
                    .collect();
            }
        }
        if faults.reorder {
            batch.shuffle(&mut *lock(&shared.rng));
        }
        for job in batch {
            let dropped = faults.drop_rate > 0.0
                && lock(&shared.rng).random_bool(faults.drop_rate.clamp(0.0, 1.0));
            if dropped {
                shared.record(&job, 0, None, Outcome::Dropped);
                shared.finish();
                continue;
            }
            let lane = lanes.entry(job.webhook_id).or_insert_with(|| {
                let (tx, rx) = mpsc::channel(shared.config.queue_capacity.max(1));
                tokio::spawn(lane(shared.clone(), rx));
                tx
            });
            // A receiver that stopped answering fills its own lane first; only then does
            // back-pressure reach the shared queue (and `fire` starts dropping).
            if let Err(mpsc::error::SendError(job)) = lane.send(job).await {
                shared.record(
                    &job,
                    0,
                    None,
                    Outcome::Failed("delivery lane closed".into()),
                );
                shared.finish();
            }
        }
    }
}

/// Delivers one webhook's events: first attempts in queue order, so a receiver sees events in
/// the order they fired (faults aside); retries wait on their own tasks so one failing
/// delivery does not hold up the next.
async fn lane(shared: Arc<Shared>, mut rx: mpsc::Receiver<Job>) {
    while let Some(job) = rx.recv().await {
        if let Some(at) = job.not_before {
            tokio::time::sleep_until(at).await;
        }
        if attempt(&shared, &job, 0).await {
            shared.finish();
        } else {
            tokio::spawn(retry(shared.clone(), job));
        }
    }
}

async fn retry(shared: Arc<Shared>, job: Job) {
    let mut delay = shared.config.initial_backoff;
    for n in 1..=shared.config.max_retries {
        tokio::time::sleep(delay).await;
        if attempt(&shared, &job, n).await {
            break;
        }
        delay = (delay * 2).min(shared.config.max_backoff);
    }
    shared.finish();
}

/// One POST; true when the receiver answered 2xx.
async fn attempt(shared: &Shared, job: &Job, n: u32) -> bool {
    let mut req = shared
        .client
        .post(&job.url)
        .header("Content-Type", "application/json")
        .header("User-Agent", "Atlassian Webhook HTTP Client")
        .header("X-Atlassian-Webhook-Identifier", &job.identifier)
        .body(job.body.as_ref().clone());
    if n > 0 {
        req = req.header("X-Atlassian-Webhook-Retry", n.to_string());
    }
    if let Some(secret) = &job.secret {
        req = req.header("X-Hub-Signature", signature(secret, &job.body));
    }
    match req.send().await {
        Ok(resp) if resp.status().is_success() => {
            shared.record(job, n, Some(resp.status().as_u16()), Outcome::Delivered);
            true
        }
        Ok(resp) => {
            let status = resp.status().as_u16();
            shared.record(
                job,
                n,
                Some(status),
                Outcome::Failed(format!("receiver answered {status}")),
            );
            false
        }
        Err(e) => {
            shared.record(job, n, None, Outcome::Failed(e.to_string()));
            false
        }
    }
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`, the value of `X-Hub-Signature`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::jql::{Field, JqlValue};
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::body::Incoming;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;
    use std::collections::VecDeque;
    use tokio::net::TcpListener;

    #[derive(Debug, Clone)]
    struct Received {
        headers: hyper::HeaderMap,
        body: Vec<u8>,
    }

    /// A receiver on 127.0.0.1:0 that answers the scripted statuses in turn, then 200.
    struct Receiver {
        url: String,
        got: Arc<Mutex<Vec<Received>>>,
    }

    async fn receiver(script: Vec<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let got = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let g = got.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (g, script) = (g.clone(), script.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (g, script) = (g.clone(), script.clone());
                        async move {
                            let headers = req.headers().clone();
                            let body = req.into_body().collect().await?.to_bytes().to_vec();
                            lock(&g).push(Received { headers, body });
                            let status = lock(&script).pop_front().unwrap_or(200);
                            let mut resp = Response::new(Full::new(Bytes::new()));
                            *resp.status_mut() =
                                hyper::StatusCode::from_u16(status).expect("status");
                            Ok::<_, hyper::Error>(resp)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Receiver { url, got }
    }

    fn fast() -> DispatcherConfig {
        DispatcherConfig {
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(40),
            max_retries: 3,
            request_timeout: Duration::from_secs(5),
            ..DispatcherConfig::default()
        }
    }

    async fn settle(d: &WebhookDispatcher) {
        tokio::time::timeout(Duration::from_secs(20), d.idle())
            .await
            .expect("deliveries settle");
    }

    fn hook(url: &str, events: &[&str], jql: Option<&str>, secret: Option<&str>) -> Webhook {
        Webhook {
            events: events.iter().map(|e| e.to_string()).collect(),
            jql: jql.map(str::to_string),
            secret: secret.map(str::to_string),
            ..Webhook::for_all_events(url, None)
        }
    }

    fn header(r: &Received, name: &str) -> Option<String> {
        r.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    struct Issue(&'static str);
    impl JqlIssue for Issue {
        fn values(&self, field: &Field) -> Vec<JqlValue> {
            match field {
                Field::Project => vec![JqlValue::Str(self.0.into())],
                _ => vec![],
            }
        }
    }

    #[tokio::test]
    async fn signed_delivery_carries_jiras_headers_and_a_verifiable_signature() {
        let r = receiver(vec![]).await;
        let d = WebhookDispatcher::new(fast());
        d.register(hook(&r.url, &["jira:issue_created"], None, Some("s3cret")))
            .expect("register");
        let body =
            serde_json::json!({"webhookEvent": "jira:issue_created", "issue": {"key": "DEMO-1"}});
        assert_eq!(d.fire("jira:issue_created", body.clone(), None), 1);
        settle(&d).await;
        let got = lock(&r.got).clone();
        assert_eq!(got.len(), 1);
        let req = &got[0];
        assert_eq!(
            serde_json::from_slice::<Value>(&req.body).expect("json"),
            body
        );
        assert_eq!(
            header(req, "content-type").as_deref(),
            Some("application/json")
        );
        assert!(header(req, "x-atlassian-webhook-identifier").is_some());
        assert_eq!(header(req, "x-atlassian-webhook-retry"), None);
        let sig = header(req, "x-hub-signature").expect("signed");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").expect("key");
        mac.update(&req.body);
        let expected = hex::decode(sig.trim_start_matches("sha256=")).expect("hex");
        mac.verify_slice(&expected).expect("signature verifies");
    }

    #[tokio::test]
    async fn unsigned_webhook_sends_no_signature_and_other_events_are_not_sent() {
        let r = receiver(vec![]).await;
        let d = WebhookDispatcher::new(fast());
        d.register(hook(&r.url, &["comment_created"], None, None))
            .expect("register");
        assert_eq!(d.fire("jira:issue_created", Value::Null, None), 0);
        assert_eq!(d.fire("comment_created", serde_json::json!({}), None), 1);
        settle(&d).await;
        let got = lock(&r.got).clone();
        assert_eq!(got.len(), 1);
        assert_eq!(header(&got[0], "x-hub-signature"), None);
    }

    #[tokio::test]
    async fn failing_receiver_gets_retries_with_the_same_identifier_and_growing_backoff() {
        let r = receiver(vec![500, 503, 200]).await;
        let d = WebhookDispatcher::new(fast());
        d.register(hook(&r.url, &["jira:issue_updated"], None, None))
            .expect("register");
        d.fire("jira:issue_updated", serde_json::json!({"n": 1}), None);
        settle(&d).await;
        let got = lock(&r.got).clone();
        assert_eq!(got.len(), 3);
        let ids: Vec<_> = got
            .iter()
            .map(|g| header(g, "x-atlassian-webhook-identifier"))
            .collect();
        assert!(
            ids.iter().all(|i| i == &ids[0]),
            "identifier stable: {ids:?}"
        );
        let retries: Vec<_> = got
            .iter()
            .map(|g| header(g, "x-atlassian-webhook-retry"))
            .collect();
        assert_eq!(retries, vec![None, Some("1".into()), Some("2".into())]);
        let recs = d.deliveries();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].status, Some(500));
        assert_eq!(recs[2].outcome, Outcome::Delivered);
        // Backoff doubles: the gap before the second retry is at least the doubled delay.
        let gap2 = recs[2].at - recs[1].at;
        assert!(gap2 >= chrono::Duration::milliseconds(10), "gap {gap2}");
    }

    #[tokio::test]
    async fn retries_stop_at_the_bound() {
        let r = receiver(vec![500; 10]).await;
        let d = WebhookDispatcher::new(fast());
        d.register(hook(&r.url, &["jira:issue_updated"], None, None))
            .expect("register");
        d.fire("jira:issue_updated", serde_json::json!({}), None);
        settle(&d).await;
        assert_eq!(lock(&r.got).len(), 4, "first attempt + 3 retries");
        assert!(d
            .deliveries()
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Failed(_))));
    }

    #[tokio::test]
    async fn connection_errors_are_retried_and_recorded() {
        // Bind then drop to get a port nobody listens on.
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            l.local_addr().expect("addr").port()
        };
        let d = WebhookDispatcher::new(fast());
        d.register(hook(
            &format!("http://127.0.0.1:{port}/x"),
            &["sprint_started"],
            None,
            None,
        ))
        .expect("register");
        d.fire("sprint_started", serde_json::json!({}), None);
        settle(&d).await;
        let recs = d.deliveries();
        assert_eq!(recs.len(), 4);
        assert!(recs.iter().all(|r| r.status.is_none()));
    }

    #[tokio::test]
    async fn jql_filter_selects_issue_events_only() {
        let r = receiver(vec![]).await;
        let d = WebhookDispatcher::new(fast());
        d.register(hook(
            &r.url,
            &["jira:issue_created", "sprint_started"],
            Some("project = DEMO"),
            None,
        ))
        .expect("register");
        assert_eq!(
            d.fire(
                "jira:issue_created",
                serde_json::json!({"p": "OTHER"}),
                Some(&Issue("OTHER"))
            ),
            0
        );
        assert_eq!(
            d.fire(
                "jira:issue_created",
                serde_json::json!({"p": "DEMO"}),
                Some(&Issue("DEMO"))
            ),
            1
        );
        assert_eq!(d.fire("sprint_started", serde_json::json!({}), None), 1);
        settle(&d).await;
        assert_eq!(lock(&r.got).len(), 2);
        assert!(matches!(
            d.register(hook(&r.url, &["x"], Some("project = "), None)),
            Err(WebhookError::InvalidJql(_))
        ));
    }

    #[tokio::test]
    async fn duplicate_and_reorder_fault_sends_each_event_twice_out_of_order() {
        let r = receiver(vec![]).await;
        let d = WebhookDispatcher::new(fast());
        d.set_faults(Faults {
            duplicate_and_reorder: true,
            drop_rate: 0.0,
        });
        d.register(hook(&r.url, &["jira:issue_updated"], None, None))
            .expect("register");
        for n in 0..10 {
            d.fire("jira:issue_updated", serde_json::json!({"n": n}), None);
        }
        settle(&d).await;
        let got = lock(&r.got).clone();
        assert_eq!(got.len(), 20);
        let order: Vec<i64> = got
            .iter()
            .map(|g| {
                serde_json::from_slice::<Value>(&g.body).expect("json")["n"]
                    .as_i64()
                    .expect("n")
            })
            .collect();
        for n in 0..10 {
            assert_eq!(order.iter().filter(|x| **x == n).count(), 2);
        }
        let first_seen: Vec<i64> = order
            .iter()
            .enumerate()
            .filter(|(i, x)| !order[..*i].contains(x))
            .map(|(_, x)| *x)
            .collect();
        assert_ne!(first_seen, (0..10).collect::<Vec<_>>(), "reordered");
        // A duplicate has the identifier of its original, so receivers can deduplicate.
        let mut ids: Vec<_> = got
            .iter()
            .map(|g| header(g, "x-atlassian-webhook-identifier").expect("id"))
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 10);
    }

    #[tokio::test]
    async fn drop_rate_fault_drops_deliveries_and_records_them() {
        let r = receiver(vec![]).await;
        let d = WebhookDispatcher::new(fast());
        d.register(hook(&r.url, &["jira:issue_updated"], None, None))
            .expect("register");
        d.set_faults(Faults {
            drop_rate: 1.0,
            ..Faults::default()
        });
        d.fire("jira:issue_updated", serde_json::json!({}), None);
        settle(&d).await;
        assert!(lock(&r.got).is_empty());
        assert_eq!(d.deliveries()[0].outcome, Outcome::Dropped);
        d.set_faults(Faults::default());
        d.fire("jira:issue_updated", serde_json::json!({}), None);
        settle(&d).await;
        assert_eq!(lock(&r.got).len(), 1);
    }

    #[tokio::test]
    async fn full_queue_drops_instead_of_blocking() {
        let r = receiver(vec![]).await;
        let d = WebhookDispatcher::new(DispatcherConfig {
            queue_capacity: 1,
            ..fast()
        });
        d.register(hook(&r.url, &["jira:issue_updated"], None, None))
            .expect("register");
        // Current-thread runtime: the worker cannot run between these calls.
        let queued: usize = (0..5)
            .map(|_| d.fire("jira:issue_updated", serde_json::json!({}), None))
            .sum();
        assert_eq!(queued, 1);
        settle(&d).await;
        let full = d
            .deliveries()
            .iter()
            .filter(|r| r.outcome == Outcome::QueueFull)
            .count();
        assert_eq!(full, 4);
    }

    #[tokio::test]
    async fn exclude_body_sends_headers_only_and_signs_the_empty_body() {
        let r = receiver(vec![]).await;
        let d = WebhookDispatcher::new(fast());
        let mut h = hook(&r.url, &["jira:issue_deleted"], None, Some("k"));
        h.exclude_body = true;
        d.register(h).expect("register");
        d.fire(
            "jira:issue_deleted",
            serde_json::json!({"issue": {"key": "DEMO-1"}}),
            None,
        );
        settle(&d).await;
        let got = lock(&r.got).clone();
        assert_eq!(got.len(), 1);
        assert!(got[0].body.is_empty());
        assert_eq!(
            header(&got[0], "x-hub-signature"),
            Some(signature("k", b""))
        );
    }

    #[tokio::test]
    async fn jql_filters_with_functions_use_the_given_context() {
        struct InSprint(f64);
        impl JqlIssue for InSprint {
            fn values(&self, field: &Field) -> Vec<JqlValue> {
                match field {
                    Field::Sprint => vec![JqlValue::Num(self.0)],
                    _ => vec![],
                }
            }
        }
        let r = receiver(vec![]).await;
        let d = WebhookDispatcher::new(fast());
        d.register(hook(
            &r.url,
            &["jira:issue_updated"],
            Some("sprint in openSprints()"),
            None,
        ))
        .expect("register");
        let ctx = EvalContext {
            now: Utc::now(),
            current_user: "admin".into(),
            open_sprint_ids: vec![1],
            closed_sprint_ids: vec![],
        };
        assert_eq!(
            d.fire_in(
                "jira:issue_updated",
                Value::Null,
                Some(&InSprint(1.0)),
                &ctx
            ),
            1
        );
        assert_eq!(
            d.fire_in(
                "jira:issue_updated",
                Value::Null,
                Some(&InSprint(2.0)),
                &ctx
            ),
            0
        );
        settle(&d).await;
        assert_eq!(lock(&r.got).len(), 1);
    }

    #[tokio::test]
    async fn a_receiver_that_never_answers_does_not_hold_up_other_webhooks() {
        // Accepts connections and never answers.
        let hung = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let hung_url = format!("http://{}/", hung.local_addr().expect("addr"));
        let held = Arc::new(Mutex::new(Vec::new()));
        let h = held.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = hung.accept().await {
                lock(&h).push(stream);
            }
        });
        let r = receiver(vec![]).await;
        let d = WebhookDispatcher::new(DispatcherConfig {
            request_timeout: Duration::from_secs(3600),
            ..fast()
        });
        d.register(hook(&hung_url, &["jira:issue_updated"], None, None))
            .expect("register");
        d.register(hook(&r.url, &["jira:issue_updated"], None, None))
            .expect("register");
        for n in 0..3 {
            d.fire("jira:issue_updated", serde_json::json!({ "n": n }), None);
        }
        // Waits for the healthy receiver only; before lanes, it waited an hour for the hung one.
        tokio::time::timeout(Duration::from_secs(20), async {
            while lock(&r.got).len() < 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("healthy receiver got every event");
        let order: Vec<Value> = lock(&r.got)
            .iter()
            .map(|g| serde_json::from_slice::<Value>(&g.body).expect("json")["n"].clone())
            .collect();
        assert_eq!(order, vec![0, 1, 2], "one lane keeps firing order");
    }

    #[tokio::test]
    async fn registry_round_trips_jiras_admin_shape() {
        let d = WebhookDispatcher::new(fast());
        let req: WebhookRequest = serde_json::from_value(serde_json::json!({
            "name": "tandem",
            "url": "https://tandem.example.com/webhooks/jira/ws1",
            "events": ["jira:issue_created", "jira:issue_updated"],
            "filters": {"issue-related-events-section": "project = DEMO"},
            "excludeBody": false,
            "secret": "abc"
        }))
        .expect("request shape");
        let created = d
            .register(Webhook::from_request(req, "admin"))
            .expect("register");
        let resp = serde_json::to_value(created.to_response("http://127.0.0.1:9/")).expect("json");
        assert_eq!(
            resp["self"],
            format!(
                "http://127.0.0.1:9/rest/webhooks/1.0/webhook/{}",
                created.id
            )
        );
        assert_eq!(
            resp["filters"]["issue-related-events-section"],
            "project = DEMO"
        );
        assert_eq!(resp["enabled"], true);
        assert_eq!(resp["lastUpdatedUser"], "admin");
        assert!(resp.get("secret").is_none(), "secrets are never echoed");
        assert!(
            !format!("{created:?}").contains("abc"),
            "Debug redacts the secret"
        );
        assert_eq!(d.list().len(), 1);
        let mut changed = created.clone();
        changed.enabled = false;
        d.update(created.id, changed).expect("update");
        assert!(!d.get(created.id).expect("exists").enabled);
        d.delete(created.id).expect("delete");
        assert_eq!(
            d.delete(created.id),
            Err(WebhookError::NotFound(created.id))
        );
        assert!(matches!(
            d.register(Webhook::for_all_events("ftp://x", None)),
            Err(WebhookError::InvalidUrl(_))
        ));
    }

    #[test]
    fn identifiers_are_uuid_shaped_and_differ_between_dispatcher_instances() {
        let a = delivery_identifier(0x0123_4567_89ab_cdef, 1);
        assert_eq!(a.len(), 36, "{a}");
        assert_eq!(a.matches('-').count(), 4, "{a}");
        assert_eq!(&a[14..15], "4", "version nibble: {a}");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "variant: {a}");
        assert!(a.ends_with("000000000001"), "{a}");
        assert_ne!(a, delivery_identifier(0x0123_4567_89ab_cdef, 2));
        assert_ne!(a, delivery_identifier(0x0123_4567_89ab_cdee, 1));
    }

    #[tokio::test]
    async fn duplicate_without_reorder_sends_each_copy_right_after_its_original() {
        let r = receiver(vec![]).await;
        let d = WebhookDispatcher::new(fast());
        d.register(hook(&r.url, &["jira:issue_updated"], None, None))
            .expect("register");
        d.set_delivery_faults(DeliveryFaults {
            duplicate: true,
            ..DeliveryFaults::default()
        });
        for n in 0..5 {
            d.fire("jira:issue_updated", serde_json::json!({"n": n}), None);
        }
        settle(&d).await;
        let order: Vec<i64> = lock(&r.got)
            .iter()
            .map(|g| {
                serde_json::from_slice::<Value>(&g.body).expect("json")["n"]
                    .as_i64()
                    .expect("n")
            })
            .collect();
        assert_eq!(order, vec![0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
    }

    #[tokio::test]
    async fn delay_fault_holds_the_first_attempt() {
        let r = receiver(vec![]).await;
        let d = WebhookDispatcher::new(fast());
        d.register(hook(&r.url, &["jira:issue_updated"], None, None))
            .expect("register");
        d.set_delivery_faults(DeliveryFaults {
            delay: Duration::from_millis(300),
            ..DeliveryFaults::default()
        });
        let fired = std::time::Instant::now();
        d.fire("jira:issue_updated", serde_json::json!({}), None);
        settle(&d).await;
        assert!(fired.elapsed() >= Duration::from_millis(300));
        assert_eq!(lock(&r.got).len(), 1);
    }
}
