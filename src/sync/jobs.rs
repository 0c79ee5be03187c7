//! One-time sync jobs: their durable records, and the runner that starts, resumes and finishes
//! them, whether they come from a SyncJob manifest (once per spec digest) or from
//! `POST /api/v1/integrations/{name}/sync`.
//!
//! A job's record lives in the store's key/value table (namespace [`JOBS_NS`]) and is rewritten
//! after every page, so it is at once the progress report served by `GET /api/v1/jobs/{id}` and
//! the checkpoint a restarted daemon resumes from (see [`Jobs::resume_unfinished`]).
//!
//! Architecture invariant: a job record says `running` only while a task owns it or until the
//! daemon restarts and resumes it; it never claims `completed` for work it skipped.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::jira::SearchCursor;
use crate::live::LiveView;
use crate::manifest::model::{JobSpec, Scope, SyncJob};
use crate::store::{Store, StoreError};
use crate::workspace::WorkspaceService;

use super::context::{integration_run, ContextError, IntegrationRun};
use super::{import, push};
use crate::error_chain;

/// Key/value namespace of the job records (key: job id).
pub const JOBS_NS: &str = "sync-jobs";
/// At most this many per-issue errors are kept in a record; the `failed` count has them all.
pub const MAX_ERRORS: usize = 100;
/// How long a job waits for its integration to be declared and Ready (after a restart the
/// manifests are loaded and the integration checked again before the job can map anything).
const WAIT_FOR_INTEGRATION: Duration = Duration::from_secs(300);
/// How long an import keeps resuming from its checkpoint while Jira is unavailable (5xx after the
/// client's retries, unreachable, rate limited) before it gives up and fails.
const RIDE_OUT_OUTAGE: Duration = Duration::from_secs(600);
/// Longest pause between two attempts while Jira is unavailable.
const OUTAGE_MAX_PAUSE: Duration = Duration::from_secs(30);

/// What a job was asked to do: the body of `POST /api/v1/integrations/{name}/sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "direction", rename_all = "camelCase", deny_unknown_fields)]
pub enum JobRequest {
    /// `jql` narrows the import (ANDed with the project); absent: all open issues.
    #[serde(rename_all = "camelCase")]
    FromJira {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jql: Option<String>,
        /// Report what would be created, updated, left unchanged and skipped without writing
        /// to the workspace or the links; only the job's own record is stored.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        dry_run: bool,
    },
    #[serde(rename_all = "camelCase")]
    ToJira {
        #[serde(default = "scope_all")]
        scope: JobScope,
        /// Report what would be created, updated and skipped (and why) without writing to
        /// Jira, the links or the workspace; only the job's own record is stored.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        dry_run: bool,
    },
}

fn scope_all() -> JobScope {
    JobScope::All
}

/// Which workspace items a push covers: `"all"`, `{"sprints": [...]}` or `{"releases": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobScope {
    All,
    Sprints(Vec<String>),
    Releases(Vec<String>),
}

impl From<&JobSpec> for JobRequest {
    fn from(spec: &JobSpec) -> Self {
        match spec {
            JobSpec::FromJira { jql } => JobRequest::FromJira {
                jql: jql.clone(),
                dry_run: false,
            },
            JobSpec::ToJira { scope } => JobRequest::ToJira {
                scope: match scope {
                    Scope::All => JobScope::All,
                    Scope::Sprints(s) => JobScope::Sprints(s.clone()),
                    Scope::Releases(r) => JobScope::Releases(r.clone()),
                },
                dry_run: false,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobState {
    Running,
    Completed,
    Failed,
}

/// Where an import stands: pages first, then the parents that were not linked yet when their
/// children arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    Pages,
    Parents,
    Done,
}

/// What happened to the issues (or items) a job touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Not synced by design: ignored or unmapped types.
    pub skipped: u64,
    pub failed: u64,
}

impl Counts {
    pub fn processed(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.skipped + self.failed
    }
}

/// One issue that could not be synced, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemError {
    /// Jira issue key (imports) or workspace item id (pushes).
    pub subject: String,
    pub message: String,
}

/// At most this many per-item verdicts are kept in a dry run's record.
pub const MAX_PLANNED: usize = 1000;

/// What a dry run would do with one item: `create`, `update`, `skip` or `fail`, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedItem {
    /// Workspace item id.
    pub subject: String,
    pub action: String,
    /// The issue it would update, what it would create, or why it is skipped or fails.
    pub detail: String,
}

/// The durable record of one job: served as its status and used as its checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    pub id: String,
    pub integration: String,
    /// The SyncJob manifest that started it, with the spec digest it runs for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub request: JobRequest,
    pub state: JobState,
    pub phase: Phase,
    /// The JQL actually run (project and filter), fixed at the start so a resume reads the
    /// same result set.
    #[serde(default)]
    pub jql: String,
    /// Where the search resumes: the page after the last one whose writes are stored.
    pub cursor: SearchCursor,
    pub counts: Counts,
    /// Issues read so far, including skipped and failed ones.
    pub processed: u64,
    /// How many the search matches, when Jira says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    pub errors: Vec<ItemError>,
    /// A dry run's verdict per item (at most [`MAX_PLANNED`]; the counts have them all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub planned: Vec<PlannedItem>,
    /// Why the whole job failed (per-issue failures are in `errors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How many times the job was resumed after an interruption.
    #[serde(default)]
    pub resumed: u32,
    pub started: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<DateTime<Utc>>,
}

/// What a dry run says the real run would do with one item (push) or issue (import).
pub(crate) enum Planned {
    Create(String),
    Update(String),
    Unchanged(String),
    Skip(String),
    Fail(String),
}

impl JobRecord {
    pub fn new(id: String, integration: &str, request: JobRequest) -> JobRecord {
        JobRecord {
            id,
            integration: integration.to_owned(),
            manifest: None,
            digest: None,
            request,
            state: JobState::Running,
            phase: Phase::Pages,
            jql: String::new(),
            cursor: SearchCursor::Start,
            counts: Counts::default(),
            processed: 0,
            total: None,
            errors: Vec::new(),
            planned: Vec::new(),
            message: None,
            resumed: 0,
            started: Utc::now(),
            finished: None,
        }
    }

    /// One line for status messages and the CLI.
    pub fn summary(&self) -> String {
        let c = &self.counts;
        let progress = match self.total {
            Some(t) => format!("{}/{t}", self.processed),
            None => self.processed.to_string(),
        };
        let counts = format!(
            "{} created, {} updated, {} unchanged, {} skipped, {} failed",
            c.created, c.updated, c.unchanged, c.skipped, c.failed
        );
        let counts = if self.is_dry_run() {
            format!("dry run, nothing written: would be {counts}")
        } else {
            counts
        };
        match self.state {
            JobState::Running => format!("running: {progress} processed; {counts}"),
            JobState::Completed => format!("completed: {progress} processed; {counts}"),
            JobState::Failed => format!(
                "failed: {}; {progress} processed; {counts}",
                self.message.as_deref().unwrap_or("see errors")
            ),
        }
    }

    /// Records a per-issue failure, keeping at most [`MAX_ERRORS`].
    pub fn push_error(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        self.counts.failed += 1;
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(ItemError {
                subject: subject.into(),
                message: message.into(),
            });
        }
    }

    /// Counts a dry run's verdict on one item or issue as the real run would count its
    /// outcome, and lists it (at most [`MAX_PLANNED`]).
    pub(crate) fn plan(&mut self, subject: &str, verdict: Planned) {
        let (action, detail) = match verdict {
            Planned::Create(what) => {
                self.counts.created += 1;
                ("create", what)
            }
            Planned::Update(what) => {
                self.counts.updated += 1;
                ("update", what)
            }
            Planned::Unchanged(what) => {
                self.counts.unchanged += 1;
                ("unchanged", what)
            }
            Planned::Skip(why) => {
                self.counts.skipped += 1;
                ("skip", why)
            }
            Planned::Fail(why) => {
                self.push_error(subject.to_owned(), why.clone());
                ("fail", why)
            }
        };
        if self.planned.len() < MAX_PLANNED {
            self.planned.push(PlannedItem {
                subject: subject.to_owned(),
                action: action.to_owned(),
                detail,
            });
        }
    }

    /// Whether this job only reports what it would do.
    pub fn is_dry_run(&self) -> bool {
        matches!(
            self.request,
            JobRequest::ToJira { dry_run: true, .. } | JobRequest::FromJira { dry_run: true, .. }
        )
    }

    /// Records a problem that did not fail an issue (a parent that could not be set).
    pub fn push_note(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(ItemError {
                subject: subject.into(),
                message: message.into(),
            });
        }
    }

    pub fn finish(&mut self, outcome: Result<(), String>) {
        self.finished = Some(Utc::now());
        match outcome {
            Ok(()) => {
                self.state = JobState::Completed;
                self.phase = Phase::Done;
            }
            Err(m) => {
                self.state = JobState::Failed;
                self.message = Some(m);
            }
        }
    }
}

/// Why a job could not be started, read or saved.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("ProjectIntegration/{0} is not declared")]
    UnknownIntegration(String),
    /// A push scope names sprints or releases the workspace does not have: pushing "nothing"
    /// and reporting success would hide the typo.
    #[error("workspace {workspace} has no {what} named {}; it has: {}", names.join(", "), if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    UnknownScope {
        workspace: String,
        what: &'static str,
        names: Vec<String>,
        known: Vec<String>,
    },
    #[error("a job record is unreadable: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl JobError {
    pub fn reason(&self) -> &'static str {
        match self {
            JobError::UnknownIntegration(_) => "UnknownIntegration",
            JobError::UnknownScope { .. } => "UnknownScope",
            JobError::Corrupt(_) => "CorruptJob",
            JobError::Store(_) => "StoreError",
        }
    }
}

/// Stores a job record (the checkpoint).
pub async fn save_record(store: &crate::store::Store, record: &JobRecord) -> Result<(), JobError> {
    let bytes = serde_json::to_vec(record).map_err(|e| JobError::Corrupt(e.to_string()))?;
    store.put_kv(JOBS_NS, &record.id, bytes).await?;
    Ok(())
}

/// Reads a job record.
pub fn load_record(store: &crate::store::Store, id: &str) -> Result<Option<JobRecord>, JobError> {
    store
        .get_kv(JOBS_NS, id)?
        .map(|b| serde_json::from_slice(&b).map_err(|e| JobError::Corrupt(format!("{id}: {e}"))))
        .transpose()
}

/// The job id of a SyncJob manifest at one spec digest: the same digest always names the
/// same job, which is what makes it run once.
pub fn manifest_job_id(job: &SyncJob) -> String {
    let digest: String = job
        .digest
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    format!("{}-{digest}", job.name)
}

/// Who hears about jobs of SyncJob manifests while they run. The composition root connects it
/// to what shows them (the SyncJob's status) and what waits for them (its reconciler), so the
/// runner knows neither.
pub trait JobObserver: Send + Sync {
    /// The record of the job of SyncJob `manifest`, after each page.
    fn progress(&self, manifest: &str, record: &JobRecord);
    /// The job of SyncJob `manifest` ended, completed or failed, and its record is stored.
    fn finished(&self, manifest: &str);
}

/// Starts, resumes and reports jobs. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<JobsInner>,
}

struct JobsInner {
    store: Store,
    live: LiveView,
    workspace: WorkspaceService,
    observer: Arc<dyn JobObserver>,
    /// Ids with a task running them in this process.
    running: Mutex<HashSet<String>>,
}

impl Jobs {
    pub fn new(
        store: Store,
        live: LiveView,
        workspace: WorkspaceService,
        observer: Arc<dyn JobObserver>,
    ) -> Jobs {
        Jobs {
            inner: Arc::new(JobsInner {
                store,
                live,
                workspace,
                observer,
                running: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// A job's record, as stored after its last page.
    pub fn get(&self, id: &str) -> Result<Option<JobRecord>, JobError> {
        load_record(&self.inner.store, id)
    }

    /// The record of a SyncJob manifest's current digest, if it ever started.
    pub fn manifest_job(&self, job: &SyncJob) -> Result<Option<JobRecord>, JobError> {
        self.get(&manifest_job_id(job))
    }

    /// Starts the job of a SyncJob manifest's current digest.
    pub async fn start_manifest_job(&self, job: &SyncJob) -> Result<JobRecord, JobError> {
        let mut record = JobRecord::new(
            manifest_job_id(job),
            &job.integration,
            JobRequest::from(&job.job),
        );
        record.manifest = Some(job.name.clone());
        record.digest = Some(job.digest.clone());
        self.launch(record).await
    }

    /// Whether `integration` is declared (valid) now.
    pub fn knows(&self, integration: &str) -> bool {
        self.inner
            .live
            .model()
            .integrations
            .contains_key(integration)
    }

    /// Starts an ad-hoc job on a declared integration.
    pub async fn start(
        &self,
        integration: &str,
        request: JobRequest,
    ) -> Result<JobRecord, JobError> {
        let model = self.inner.live.model();
        let Some(pi) = model.integrations.get(integration) else {
            return Err(JobError::UnknownIntegration(integration.to_owned()));
        };
        if let JobRequest::ToJira { scope, .. } = &request {
            check_scope(&self.inner.workspace, &pi.workspace, scope)?;
        }
        let id = format!(
            "{integration}-{}-{:04x}",
            Utc::now().format("%Y%m%dT%H%M%S%3f"),
            rand::random::<u16>()
        );
        self.launch(JobRecord::new(id, integration, request)).await
    }

    async fn launch(&self, record: JobRecord) -> Result<JobRecord, JobError> {
        save_record(&self.inner.store, &record).await?;
        self.spawn(record.clone());
        Ok(record)
    }

    /// Resumes every job a previous run of the daemon left `running` (killed mid-job).
    pub fn resume_unfinished(&self) -> Result<usize, JobError> {
        let mut n = 0;
        for (id, bytes) in self.inner.store.list_kv(JOBS_NS)? {
            let record: JobRecord = match serde_json::from_slice(&bytes) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(job = id, error = %e, "skipping an unreadable job record");
                    continue;
                }
            };
            if record.state == JobState::Running {
                let mut record = record;
                record.resumed += 1;
                tracing::info!(
                    job = id,
                    processed = record.processed,
                    "resuming a sync job"
                );
                self.spawn(record);
                n += 1;
            }
        }
        Ok(n)
    }

    fn spawn(&self, record: JobRecord) {
        {
            let mut running = self.inner.running.lock().unwrap_or_else(|e| e.into_inner());
            if !running.insert(record.id.clone()) {
                return;
            }
        }
        let jobs = self.clone();
        tokio::spawn(async move {
            let id = record.id.clone();
            jobs.run(record).await;
            jobs.inner
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        });
    }

    /// Waits for the integration's mapping (after a restart it is checked again first).
    async fn integration(&self, name: &str) -> Result<IntegrationRun, ContextError> {
        let deadline = tokio::time::Instant::now() + WAIT_FOR_INTEGRATION;
        loop {
            let model = self.inner.live.model();
            match integration_run(&self.inner.live, &model, name).await {
                Ok(run) => return Ok(run),
                // Right after a restart the manifests are not loaded yet either.
                Err(
                    e @ (ContextError::NotChecked(_)
                    | ContextError::NoClient(_)
                    | ContextError::UnknownIntegration(_)),
                ) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(integration = name, error = %e, "sync job waits for its integration");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn run(&self, mut record: JobRecord) {
        let store = self.inner.store.clone();
        let observer = self.inner.observer.clone();
        let manifest = record.manifest.clone();
        let progress = move |r: &JobRecord| {
            if let Some(name) = &manifest {
                observer.progress(name, r);
            }
        };
        let outcome = match self.integration(&record.integration).await {
            Err(e) => Err(format!("{e}")),
            Ok(run) => match record.request.clone() {
                JobRequest::ToJira { scope, dry_run } => {
                    let env = push::PushEnv {
                        store: &store,
                        workspace: &self.inner.workspace,
                        run: &run,
                        progress: Some(&progress),
                    };
                    match check_scope(&self.inner.workspace, &run.workspace.name, &scope) {
                        Err(e) => Err(e.to_string()),
                        Ok(()) if dry_run => push::dry_run(&env, &mut record, &scope)
                            .await
                            .map_err(|e| error_chain(&e)),
                        Ok(()) => push::push_to_jira(&env, &mut record, &scope)
                            .await
                            .map_err(|e| error_chain(&e)),
                    }
                }
                JobRequest::FromJira { jql, dry_run } => {
                    if record.jql.is_empty() {
                        record.jql = import::import_jql(&run.integration.project, jql.as_deref());
                    }
                    let env = import::ImportEnv {
                        store: &store,
                        workspace: &self.inner.workspace,
                        run: &run,
                        progress: Some(&progress),
                    };
                    if dry_run {
                        import::dry_run(&env, &mut record)
                            .await
                            .map_err(|e| error_chain(&e))
                    } else {
                        let mut outage = Outage::default();
                        loop {
                            match import::import_from_jira(&env, &mut record).await {
                                Err(import::ImportError::Search { source, .. })
                                    if source.is_transient()
                                        && outage.pause(&record, &source).await => {}
                                r => break r.map_err(|e| error_chain(&e)),
                            }
                        }
                    }
                }
            },
        };
        record.finish(outcome);
        tracing::info!(
            job = record.id,
            summary = record.summary(),
            "sync job finished"
        );
        if let Err(e) = save_record(&store, &record).await {
            tracing::error!(job = record.id, error = %e, "cannot store the job's final state");
        }
        if let Some(name) = &record.manifest {
            self.inner.observer.finished(name);
        }
    }
}

/// Fails when a push scope names a sprint or release the workspace does not have.
pub fn check_scope(
    workspace: &WorkspaceService,
    ws: &str,
    scope: &JobScope,
) -> Result<(), JobError> {
    let (what, wanted, known): (&'static str, &Vec<String>, Vec<String>) = match scope {
        JobScope::All => return Ok(()),
        JobScope::Sprints(names) => (
            "sprint",
            names,
            workspace
                .list_sprints(ws)
                .map(|l| l.into_iter().map(|s| s.name).collect())
                .unwrap_or_default(),
        ),
        JobScope::Releases(names) => (
            "release",
            names,
            workspace
                .list_releases(ws)
                .map(|l| l.into_iter().map(|r| r.name).collect())
                .unwrap_or_default(),
        ),
    };
    let missing: Vec<String> = wanted
        .iter()
        .filter(|n| !known.contains(n))
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(JobError::UnknownScope {
            workspace: ws.to_owned(),
            what,
            names: missing,
            known,
        })
    }
}

/// An import riding out a Jira outage: it resumes from its last checkpoint (the record is saved
/// after every page) with growing pauses, for at most [`RIDE_OUT_OUTAGE`] without progress.
#[derive(Default)]
struct Outage {
    started: Option<tokio::time::Instant>,
    pauses: u32,
    /// `processed` at the last pause: progress since then starts a new outage.
    processed: u64,
}

impl Outage {
    /// Waits before the next attempt; `false` when the outage has lasted too long.
    async fn pause(&mut self, record: &JobRecord, error: &crate::jira::JiraError) -> bool {
        if record.processed != self.processed {
            *self = Outage {
                processed: record.processed,
                ..Outage::default()
            };
        }
        let job = record.id.as_str();
        let started = *self.started.get_or_insert_with(tokio::time::Instant::now);
        if started.elapsed() >= RIDE_OUT_OUTAGE {
            return false;
        }
        let pause = (Duration::from_millis(500) * 2u32.saturating_pow(self.pauses.min(10)))
            .min(OUTAGE_MAX_PAUSE);
        self.pauses += 1;
        tracing::warn!(
            job,
            error = %error,
            retry_in_ms = pause.as_millis() as u64,
            "sync job paused: Jira is unavailable; it resumes from its last checkpoint"
        );
        tokio::time::sleep(pause).await;
        true
    }
}
