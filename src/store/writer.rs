//! The single writer: one OS thread owns every write transaction and commits jobs in groups.
//!
//! Why a group commit: a durable redb commit costs one or two `fsync`s, which dominate the cost
//! of a webhook. While one commit is on disk, new jobs queue in the bounded channel; the next
//! transaction takes all of them at once, so N concurrent callers pay for about one `fsync`
//! instead of N, and every caller is answered only after the commit that holds its write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redb::{Database, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// Upper bound on jobs per transaction, so one commit never grows without limit.
pub(crate) const MAX_BATCH: usize = 1024;

/// Bucket upper bounds of the batch size histogram exposed in metrics.
pub const BATCH_BUCKETS: [u64; 11] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/// A unit of work for the writer. `run` may be called more than once (on a fresh transaction)
/// when another job of the same batch failed, so it must not consume its inputs.
pub(crate) trait Job: Send {
    /// Runs inside the batch transaction; returns false when the job failed (its error is kept
    /// for `finish`), which aborts the transaction.
    fn run(&mut self, txn: &WriteTransaction) -> bool;
    /// Answers the caller once the batch's fate is known.
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
    /// After a failed `run`: the failure with its causes, when it was an I/O error.
    fn io_failure(&self) -> Option<String>;
}

/// A job built from a closure, answering through a oneshot channel.
pub(crate) struct FnJob<T, F> {
    pub(crate) f: F,
    pub(crate) out: Option<Result<T, StoreError>>,
    pub(crate) reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for FnJob<T, F>
where
    T: Send + 'static,
    F: FnMut(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
{
    fn run(&mut self, txn: &WriteTransaction) -> bool {
        let out = (self.f)(txn);
        let ok = out.is_ok();
        self.out = Some(out);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        let answer = match (commit, self.out) {
            (Ok(()), Some(out)) => out,
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(StoreError::Closed),
        };
        // The caller may have gone away (request cancelled); nothing to do then.
        let _ = self.reply.send(answer);
    }

    fn io_failure(&self) -> Option<String> {
        match &self.out {
            Some(Err(e)) => e.io_failure(),
            _ => None,
        }
    }
}

/// The state file as the writer holds it: the slot readers clone the database from, and how
/// to open the file again after an I/O failure.
pub(crate) struct File {
    pub(crate) slot: Arc<RwLock<Option<Arc<Database>>>>,
    pub(crate) reopen: Box<dyn Fn() -> Result<Database, StoreError> + Send>,
}

/// How often, at most, the writer tries to reopen a state file that stopped taking writes.
const REOPEN_EVERY: Duration = Duration::from_secs(2);

pub(crate) enum Msg {
    Job(Box<dyn Job>),
    /// Finish what is queued, then stop and report.
    Close(oneshot::Sender<()>),
}

/// Counters the writer keeps for `/metrics`.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub(crate) commits: AtomicU64,
    pub(crate) failed_commits: AtomicU64,
    pub(crate) jobs: AtomicU64,
    pub(crate) commit_micros: AtomicU64,
    pub(crate) batch_buckets: [AtomicU64; BATCH_BUCKETS.len()],
    /// The first I/O failure, with its causes: from then on redb refuses every write.
    pub(crate) write_failure: std::sync::Mutex<Option<String>>,
}

/// A point-in-time copy of [`WriterStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Transactions committed.
    pub commits: u64,
    /// Transactions that failed to commit.
    pub failed_commits: u64,
    /// Jobs answered (committed or not).
    pub jobs: u64,
    /// Total time spent committing, in microseconds.
    pub commit_micros: u64,
    /// Cumulative counts of batches with at most `BATCH_BUCKETS[i]` jobs (Prometheus style).
    pub batch_size_buckets: [u64; BATCH_BUCKETS.len()],
    /// Set while the state file takes no writes after an I/O error (until a commit succeeds
    /// again, after the writer reopened the file): the first cause, with its chain.
    pub write_failure: Option<String>,
}

impl WriterStats {
    pub(crate) fn snapshot(&self) -> StoreStats {
        let mut buckets = [0; BATCH_BUCKETS.len()];
        let mut acc = 0;
        for (i, b) in self.batch_buckets.iter().enumerate() {
            acc += b.load(Ordering::Relaxed);
            buckets[i] = acc;
        }
        StoreStats {
            commits: self.commits.load(Ordering::Relaxed),
            failed_commits: self.failed_commits.load(Ordering::Relaxed),
            jobs: self.jobs.load(Ordering::Relaxed),
            commit_micros: self.commit_micros.load(Ordering::Relaxed),
            batch_size_buckets: buckets,
            write_failure: self
                .write_failure
                .lock()
                .map(|f| f.clone())
                .unwrap_or_default(),
        }
    }

    fn record_batch(&self, size: usize) {
        let idx = BATCH_BUCKETS
            .iter()
            .position(|b| size as u64 <= *b)
            .unwrap_or(BATCH_BUCKETS.len() - 1);
        self.batch_buckets[idx].fetch_add(1, Ordering::Relaxed);
    }
}

/// The writer loop. Returns when a `Close` arrives or every sender is gone; by then every job
/// that made it into the channel has been answered.
pub(crate) fn run(file: File, mut rx: mpsc::Receiver<Msg>, stats: Arc<WriterStats>) {
    let mut close_reply = None;
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    let mut health = Health::default();
    let mut db = file.slot.read().unwrap_or_else(|e| e.into_inner()).clone();
    loop {
        if batch.is_empty() {
            match rx.blocking_recv() {
                Some(Msg::Job(j)) => batch.push(j),
                Some(Msg::Close(reply)) => {
                    close_reply = Some(reply);
                    rx.close();
                    continue;
                }
                None => break,
            }
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Msg::Job(j)) => batch.push(j),
                Ok(Msg::Close(reply)) => {
                    // Stop taking new work, but what is already queued still gets committed:
                    // those callers are in flight and deserve an answer.
                    close_reply = Some(reply);
                    rx.close();
                }
                Err(_) => break,
            }
        }
        if health.first_io.is_some() && health.may_reopen() {
            db = reopen(&file, db, &mut health);
        }
        match &db {
            Some(db) => commit_batch(db, &mut batch, &stats, &mut health),
            None => {
                let err = health.refusal();
                fail_all(&mut batch, &err, &stats);
            }
        }
    }
    drop(db);
    if let Some(reply) = close_reply {
        let _ = reply.send(());
    }
}

/// The first I/O failure of the state file, until a commit succeeds again. redb refuses every
/// later write with a bare "previous I/O error"; the writer logs the first cause once, names it
/// in those errors, and reopens the file to find out whether the cause is gone.
#[derive(Default)]
struct Health {
    first_io: Option<String>,
    last_reopen: Option<Instant>,
    /// When a failure was last logged: a file that flaps between a few small commits and
    /// failures (a disk that stays full) logs at most once per [`LOG_EVERY`].
    logged: Option<Instant>,
    /// Whether the recovery after the last logged failure was logged (once per failure log).
    recovery_logged: bool,
}

const LOG_EVERY: Duration = Duration::from_secs(60);

impl Health {
    fn may_reopen(&self) -> bool {
        self.last_reopen
            .is_none_or(|at| at.elapsed() >= REOPEN_EVERY)
    }

    /// What a write is answered while the file is failed and not open.
    fn refusal(&self) -> StoreError {
        StoreError::Poisoned {
            first: self.first_io.clone().unwrap_or_default(),
        }
    }

    fn recovered(&mut self, stats: &WriterStats) {
        if let Some(first) = self.first_io.take() {
            if !self.recovery_logged {
                tracing::info!(after = first, "the state file takes writes again");
                self.recovery_logged = true;
            }
        }
        if let Ok(mut f) = stats.write_failure.lock() {
            *f = None;
        }
    }

    fn saw(&mut self, failure: Option<String>, stats: &WriterStats) {
        if let (None, Some(chain)) = (&self.first_io, failure) {
            if self.logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                tracing::error!(
                    error = chain,
                    "the state file failed to take a write; writes are refused until it takes one again"
                );
                self.logged = Some(Instant::now());
                self.recovery_logged = false;
            }
            if let Ok(mut f) = stats.write_failure.lock() {
                *f = Some(chain.clone());
            }
            self.first_io = Some(chain);
        }
    }

    /// `e` as the caller sees it: with the first cause when redb only says "previous I/O error".
    fn error(&mut self, context: &'static str, e: redb::Error, stats: &WriterStats) -> StoreError {
        match (&e, &self.first_io) {
            (redb::Error::PreviousIo, Some(first)) => StoreError::Poisoned {
                first: first.clone(),
            },
            _ => {
                let err = StoreError::db(context, e);
                self.saw(err.io_failure(), stats);
                err
            }
        }
    }
}

/// Closes and reopens the state file after an I/O failure: redb refuses every write until
/// then, and the cause (a full disk) may be gone. Done when a write comes, at most every
/// [`REOPEN_EVERY`]; the file counts as writable again once a commit succeeds. Readers see the
/// store closed for as long as the reopen (and redb's repair of the unclean file) takes; if it
/// fails, the file stays closed until the next try.
fn reopen(file: &File, db: Option<Arc<Database>>, health: &mut Health) -> Option<Arc<Database>> {
    health.last_reopen = Some(Instant::now());
    let old = file.slot.write().unwrap_or_else(|e| e.into_inner()).take();
    drop(db);
    if let Some(mut old) = old {
        // Reads that cloned it before hold it for a moment.
        let mut waited = 0;
        loop {
            match Arc::try_unwrap(old) {
                Ok(closed) => {
                    drop(closed);
                    break;
                }
                Err(shared) if waited < 100 => {
                    old = shared;
                    waited += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(shared) => {
                    // Still read from: keep it, try again later.
                    *file.slot.write().unwrap_or_else(|e| e.into_inner()) = Some(shared.clone());
                    return Some(shared);
                }
            }
        }
    }
    match (file.reopen)() {
        Ok(reopened) => {
            let reopened = Arc::new(reopened);
            *file.slot.write().unwrap_or_else(|e| e.into_inner()) = Some(reopened.clone());
            // Writable again only once a commit succeeds (`Health::recovered`).
            Some(reopened)
        }
        Err(e) => {
            tracing::warn!(error = %e, "the state file could not be reopened yet");
            None
        }
    }
}

/// Commits `batch` in one transaction. A failing job is answered with its own error and taken
/// out; the rest are retried on a fresh transaction so that one bad job never fails its
/// neighbours.
fn commit_batch(
    db: &Database,
    batch: &mut Vec<Box<dyn Job>>,
    stats: &WriterStats,
    health: &mut Health,
) {
    while !batch.is_empty() {
        let started = Instant::now();
        let txn = match db.begin_write() {
            Ok(t) => t,
            Err(e) => {
                let err = health.error("starting a write transaction", e.into(), stats);
                fail_all(batch, &err, stats);
                return;
            }
        };
        let mut failed = None;
        for (i, job) in batch.iter_mut().enumerate() {
            if !job.run(&txn) {
                failed = Some(i);
                break;
            }
        }
        if let Some(i) = failed {
            let _ = txn.abort();
            let job = batch.remove(i);
            health.saw(job.io_failure(), stats);
            // The job's own error is already in its `out`; Ok lets it report that.
            job.finish(Ok(()));
            stats.jobs.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let size = batch.len();
        match txn.commit() {
            Ok(()) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats.commit_micros.fetch_add(
                    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
                stats.record_batch(size);
                stats.jobs.fetch_add(size as u64, Ordering::Relaxed);
                if health.first_io.is_some() {
                    health.recovered(stats);
                }
                for job in batch.drain(..) {
                    job.finish(Ok(()));
                }
            }
            Err(e) => {
                let err = health.error("committing", e.into(), stats);
                fail_all(batch, &err, stats);
            }
        }
        return;
    }
}

fn fail_all(batch: &mut Vec<Box<dyn Job>>, err: &StoreError, stats: &WriterStats) {
    stats.failed_commits.fetch_add(1, Ordering::Relaxed);
    stats.jobs.fetch_add(batch.len() as u64, Ordering::Relaxed);
    for job in batch.drain(..) {
        job.finish(Err(err.clone()));
    }
}
