//! Watching the manifest directory: notify events are hints, a full rescan is the truth.
//!
//! [`ManifestWatcher::run`] rescans the whole directory through an injected scan function
//! at start, after events settle (a quiet period, bounded by a maximum delay), on
//! [`RescanTrigger::rescan`] (SIGHUP), on watcher errors or queue overflow, and on a timer.
//! Each rescan digests every file and the whole set; a new [`Snapshot`] is published only when
//! the set digest or the resolved directory changed. So an editor's rename-write, a
//! `git checkout` touching fifty files and an atomic symlink swap of the whole directory each
//! reach the consumer as one change, and a rescan that finds nothing new is invisible.
//!
//! Architecture invariant: an empty, missing or unreadable directory never produces a
//! snapshot. It produces a [`WatchProblem`] on the status channel, and the last good snapshot
//! stays current, so nothing downstream deletes anything because a mount went away.
//!
//! What is watched: the directory's resolved target, recursively, and the parent of the
//! configured path, non-recursively, because a symlink swap (git-sync, Kubernetes ConfigMaps)
//! or a `mv` of the directory itself is only visible from the parent. When the resolved target
//! changes (a new path or a new inode at the same path) the recursive watch is moved to it.

pub mod git;
pub mod record;
#[cfg(test)]
pub(crate) mod testing;
pub mod uncommitted;

pub use git::ManifestsMode;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher as _};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;

/// Reads every manifest under a root: `(path, text)` pairs. The daemon plugs in
/// `manifest::collect_files`; it runs on a blocking thread.
pub type ScanFn = Arc<dyn Fn(&Path) -> io::Result<Vec<(PathBuf, String)>> + Send + Sync>;

/// Timing of rescans.
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// Quiet time after the last event before rescanning; long enough to cover an editor's
    /// write-rename-delete dance or a checkout, short enough to feel immediate.
    pub debounce: Duration,
    /// Upper bound from the first event to the rescan, so constant churn still gets applied.
    pub max_delay: Duration,
    /// Rescan this often regardless of events: the safety net for events notify cannot see
    /// (network filesystems, lost inotify watches).
    pub rescan_interval: Duration,
    /// Rescan this often while the directory has a problem, so it is picked up promptly when
    /// it comes back even if no event announces it.
    pub retry_interval: Duration,
    /// Whether the checked-out commit or the working files are read (see [`git`]).
    pub mode: ManifestsMode,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            debounce: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            rescan_interval: Duration::from_secs(60),
            retry_interval: Duration::from_secs(2),
            mode: ManifestsMode::Auto,
        }
    }
}

/// One consistent reading of the manifest directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Every file the scan function returned, sorted by path.
    pub files: Arc<Vec<(PathBuf, String)>>,
    /// SHA-256 (hex) of each file's text, for telling which files changed.
    pub file_digests: Arc<BTreeMap<PathBuf, String>>,
    /// SHA-256 (hex) over every file's path (relative to the root) and digest.
    pub digest: String,
    /// The directory actually read, after following symlinks; shows which git-sync worktree
    /// or ConfigMap generation is applied.
    pub resolved_root: PathBuf,
    /// Counts published snapshots, starting at 1.
    pub generation: u64,
    /// The commit the files were read from, when they come from git (not from the working
    /// files); a new commit is a new snapshot even when no manifest changed in it.
    pub commit: Option<String>,
}

/// Why the last rescan did not produce a snapshot. The previous snapshot stays current.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "problem", content = "message")]
pub enum WatchProblem {
    #[error("the manifest directory contains no manifests; keeping the last applied set")]
    DirectoryEmpty,
    #[error("the manifest directory does not exist; keeping the last applied set")]
    DirectoryMissing,
    #[error("the manifest path is not a directory; keeping the last applied set")]
    NotADirectory,
    #[error("the manifest directory cannot be read ({0}); keeping the last applied set")]
    Unreadable(String),
    #[error("the manifest directory is not inside a git work tree (--manifests-mode=git); keeping the last applied set")]
    NotAGitWorkTree,
    #[error("the manifest directory's git repository has no commit yet: commit the manifests, or run with --manifests-mode=directory")]
    NoCommit,
    #[error("the checked-out commit has no manifests in this directory (files that are not committed are not applied): commit them, or run with --manifests-mode=directory; keeping the last applied set")]
    NothingCommitted,
    #[error("the manifest directory is in a git repository but git cannot be run ({0}): install git, or run with --manifests-mode=directory")]
    GitUnavailable(String),
}

/// What status shows about the watcher.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchStatus {
    /// The directory as configured.
    pub root: PathBuf,
    pub resolved_root: Option<PathBuf>,
    pub problem: Option<WatchProblem>,
    /// Digest and generation of the current (last good) snapshot.
    pub digest: Option<String>,
    pub generation: u64,
    pub scans: u64,
    pub last_scan: Option<DateTime<Utc>>,
    pub last_change: Option<DateTime<Utc>>,
    /// Set when change events are unavailable (e.g. inotify limits); rescans then only
    /// happen on the timer and on request.
    pub events_unavailable: Option<String>,
    /// Files of the directory that differ from its git HEAD after the last scan (see
    /// [`uncommitted`]); `None` outside a git work tree or without git.
    pub uncommitted: Option<Vec<String>>,
    /// Where the current snapshot was read from: `git` (the checked-out commit, uncommitted
    /// files ignored) or `directory` (the files as they are).
    pub source: Option<&'static str>,
    /// The commit the current snapshot was read from (git source only).
    pub commit: Option<String>,
}

/// Asks the watcher to rescan now; cheap to clone and hand to a SIGHUP handler or the API.
#[derive(Clone, Debug)]
pub struct RescanTrigger(Arc<Notify>);

impl RescanTrigger {
    pub fn rescan(&self) {
        self.0.notify_one();
    }

    /// Rescans on every SIGHUP until the runtime shuts down.
    #[cfg(unix)]
    pub fn rescan_on_sighup(&self) -> io::Result<tokio::task::JoinHandle<()>> {
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let trigger = self.clone();
        Ok(tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: rescanning manifests");
                trigger.rescan();
            }
        }))
    }
}

/// Watches one manifest directory and publishes snapshots and status.
pub struct ManifestWatcher {
    root: PathBuf,
    scan: ScanFn,
    config: WatchConfig,
    snapshots: watch::Sender<Option<Arc<Snapshot>>>,
    status: watch::Sender<WatchStatus>,
    trigger: Arc<Notify>,
}

impl ManifestWatcher {
    pub fn new(root: impl Into<PathBuf>, scan: ScanFn, config: WatchConfig) -> Self {
        let root = root.into();
        let root = std::path::absolute(&root).unwrap_or(root);
        let (snapshots, _) = watch::channel(None);
        let (status, _) = watch::channel(WatchStatus {
            root: root.clone(),
            ..WatchStatus::default()
        });
        Self {
            root,
            scan,
            config,
            snapshots,
            status,
            trigger: Arc::new(Notify::new()),
        }
    }

    /// The current snapshot; changes only when the manifests' content (or the resolved
    /// directory) changed. `None` until the first good scan.
    pub fn snapshots(&self) -> watch::Receiver<Option<Arc<Snapshot>>> {
        self.snapshots.subscribe()
    }

    /// Updated after every rescan.
    pub fn status(&self) -> watch::Receiver<WatchStatus> {
        self.status.subscribe()
    }

    pub fn rescan_trigger(&self) -> RescanTrigger {
        RescanTrigger(Arc::clone(&self.trigger))
    }

    /// Watches until `shutdown` resolves.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (tx, mut events) = mpsc::channel::<notify::Result<notify::Event>>(1024);
        let overflow = Arc::new(AtomicBool::new(false));
        let arms = Arc::new(Mutex::new(Arms::new(tx, Arc::clone(&overflow))));
        tokio::pin!(shutdown);

        let mut pending: Option<(Instant, Instant)> = None;
        let mut scan_now = true;
        let mut next_periodic = Instant::now();
        let mut watched = Watched::default();
        let mut events_open = true;
        loop {
            // Checked here as well as by the timer below, because a steady stream of events
            // would otherwise keep winning the (biased) select and starve the deadline.
            let overdue =
                pending.is_some_and(|(first, _)| Instant::now() >= first + self.config.max_delay);
            if scan_now || overdue || overflow.swap(false, Ordering::Relaxed) {
                watched = self.rescan_once(&arms).await;
                pending = None;
                scan_now = false;
                let problem = self.status.borrow().problem.is_some();
                let every = if problem {
                    self.config.retry_interval
                } else {
                    self.config.rescan_interval
                };
                next_periodic = Instant::now() + every;
            }
            let settle_at = pending.map(|(first, last)| {
                (last + self.config.debounce).min(first + self.config.max_delay)
            });
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = self.trigger.notified() => scan_now = true,
                event = events.recv(), if events_open => match event {
                    None => events_open = false,
                    Some(event) => match self.classify(&event, &watched) {
                        Hint::Ignore => {}
                        Hint::Settle => {
                            let now = Instant::now();
                            pending = Some(pending.map_or((now, now), |(first, _)| (first, now)));
                        }
                        Hint::Now => scan_now = true,
                    },
                },
                _ = sleep_until_opt(settle_at) => scan_now = true,
                _ = tokio::time::sleep_until(next_periodic) => scan_now = true,
            }
        }
    }

    fn classify(&self, event: &notify::Result<notify::Event>, watched: &Watched) -> Hint {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(error = %err, "manifest watcher error; rescanning");
                return Hint::Now;
            }
        };
        if event.need_rescan() {
            return Hint::Now;
        }
        // Our own rescans open and read every file; those events must not trigger rescans.
        if let EventKind::Access(kind) = event.kind {
            if !matches!(kind, AccessKind::Close(AccessMode::Write)) {
                return Hint::Ignore;
            }
        }
        if event.paths.is_empty() {
            return Hint::Settle;
        }
        let name = self.root.file_name();
        let resolved = watched.resolved.as_deref();
        let relevant = event.paths.iter().any(|p| {
            p.starts_with(&self.root)
                || resolved.is_some_and(|r| p.starts_with(r))
                // HEAD or a ref moved: a commit, a checkout, a reset.
                || watched.git.iter().any(|g| p.starts_with(g))
                || (p.parent() == self.root.parent() && p.file_name() == name)
        });
        if relevant {
            Hint::Settle
        } else {
            Hint::Ignore
        }
    }

    /// Runs one scan on a blocking thread and publishes the result. Returns where events are
    /// now expected: the resolved root and the git directories whose changes move HEAD.
    async fn rescan_once(&self, arms: &Arc<Mutex<Arms>>) -> Watched {
        let root = self.root.clone();
        let scan = Arc::clone(&self.scan);
        let arms = Arc::clone(arms);
        let mode = self.config.mode;
        let job = tokio::task::spawn_blocking(move || {
            let result = scan_dir(&root, &scan, &arms, mode);
            let dir = result.resolved.clone().unwrap_or_else(|| root.clone());
            (result, uncommitted::uncommitted(&dir))
        })
        .await;
        let (job, dirty) = match job {
            Ok((result, dirty)) => (Ok(result), dirty),
            Err(err) => (Err(err), None),
        };
        let result = match job {
            Ok(result) => result,
            Err(err) => ScanResult {
                outcome: Err(WatchProblem::Unreadable(format!("scan failed: {err}"))),
                resolved: None,
                events_unavailable: None,
                git_paths: Vec::new(),
            },
        };
        let now = Utc::now();
        let resolved = result.resolved.clone();
        let watched = Watched {
            resolved: resolved.clone(),
            git: result.git_paths.clone(),
        };
        let mut published = None;
        match result.outcome {
            Ok(found) => {
                self.snapshots.send_if_modified(|current| {
                    let same = current.as_ref().is_some_and(|s| {
                        s.digest == found.digest
                            && s.resolved_root == found.resolved_root
                            && s.commit == found.commit
                    });
                    if same {
                        return false;
                    }
                    let generation = current.as_ref().map_or(0, |s| s.generation) + 1;
                    let snapshot = Arc::new(Snapshot {
                        generation,
                        ..found
                    });
                    published = Some(Arc::clone(&snapshot));
                    *current = Some(snapshot);
                    true
                });
                if let Some(s) = &published {
                    tracing::info!(
                        digest = %s.digest,
                        files = s.files.len(),
                        generation = s.generation,
                        root = %s.resolved_root.display(),
                        commit = s.commit.as_deref().unwrap_or("(working files)"),
                        "manifest set changed"
                    );
                }
                self.status.send_modify(|st| {
                    if let Some(problem) = st.problem.take() {
                        tracing::info!(was = %problem, "manifest directory readable again");
                    }
                });
            }
            Err(problem) => {
                self.status.send_modify(|st| {
                    if st.problem.as_ref() != Some(&problem) {
                        tracing::warn!(root = %self.root.display(), "{problem}");
                    }
                    st.problem = Some(problem);
                });
            }
        }
        self.status.send_modify(|st| {
            st.scans += 1;
            st.last_scan = Some(now);
            if resolved.is_some() {
                st.resolved_root.clone_from(&resolved);
            }
            st.events_unavailable = result.events_unavailable;
            if let Some(s) = &published {
                st.digest = Some(s.digest.clone());
                st.generation = s.generation;
                st.last_change = Some(now);
                st.source = Some(if s.commit.is_some() { "git" } else { "directory" });
                st.commit.clone_from(&s.commit);
            }
            if st.uncommitted != dirty {
                if let Some(files) = dirty.as_ref().filter(|f| !f.is_empty()) {
                    if st.source == Some("git") {
                        tracing::warn!(
                            files = %files.join(", "),
                            "manifests differ from the checked-out commit; they are ignored until committed"
                        );
                    } else {
                        tracing::warn!(
                            files = %files.join(", "),
                            "manifests differ from the checked-out commit; the daemon runs them as they are (--manifests-mode=directory)"
                        );
                    }
                }
            }
            st.uncommitted = dirty;
        });
        watched
    }
}

enum Hint {
    Ignore,
    Settle,
    Now,
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

struct ScanResult {
    outcome: Result<Snapshot, WatchProblem>,
    resolved: Option<PathBuf>,
    events_unavailable: Option<String>,
    git_paths: Vec<PathBuf>,
}

/// Where the last scan expects change events.
#[derive(Default)]
struct Watched {
    resolved: Option<PathBuf>,
    git: Vec<PathBuf>,
}

/// Which inode a path resolved to, so a directory replaced at the same path is noticed.
#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

/// The notify watcher and what it currently watches. Only touched from blocking threads.
struct Arms {
    tx: mpsc::Sender<notify::Result<notify::Event>>,
    overflow: Arc<AtomicBool>,
    watcher: Option<notify::RecommendedWatcher>,
    target: Option<(PathBuf, (u64, u64))>,
    parent: Option<PathBuf>,
    /// The git directories watched so HEAD moving is seen (outside the target only).
    git: Vec<(PathBuf, RecursiveMode)>,
}

impl Arms {
    fn new(tx: mpsc::Sender<notify::Result<notify::Event>>, overflow: Arc<AtomicBool>) -> Self {
        Self {
            tx,
            overflow,
            watcher: None,
            target: None,
            parent: None,
            git: Vec::new(),
        }
    }

    /// Makes sure the parent of `root` and the resolved target are watched. Returns why
    /// events are unavailable, if they are.
    fn ensure(
        &mut self,
        root: &Path,
        target: Option<(&Path, (u64, u64))>,
        git: &[(PathBuf, RecursiveMode)],
    ) -> Option<String> {
        if self.watcher.is_none() {
            let tx = self.tx.clone();
            let overflow = Arc::clone(&self.overflow);
            let created = notify::recommended_watcher(move |event| {
                // A full channel means a rescan is coming anyway; remember to make it one.
                if tx.try_send(event).is_err() {
                    overflow.store(true, Ordering::Relaxed);
                }
            });
            match created {
                Ok(w) => self.watcher = Some(w),
                Err(err) => return Some(format!("cannot watch for changes: {err}")),
            }
        }
        let watcher = self.watcher.as_mut()?;
        let mut problem = None;

        if self.parent.is_none() {
            if let Some(parent) = root.parent() {
                match watcher.watch(parent, RecursiveMode::NonRecursive) {
                    Ok(()) => self.parent = Some(parent.to_path_buf()),
                    Err(err) => {
                        problem = Some(format!("cannot watch {}: {err}", parent.display()));
                    }
                }
            }
        }

        let wanted = target.map(|(p, id)| (p.to_path_buf(), id));
        if self.target != wanted {
            if let Some((old, _)) = self.target.take() {
                // The old target may be gone already, which removed its watch; that is fine.
                let _ = watcher.unwatch(&old);
            }
            if let Some((path, id)) = wanted {
                match watcher.watch(&path, RecursiveMode::Recursive) {
                    Ok(()) => self.target = Some((path, id)),
                    Err(err) => {
                        problem = Some(format!("cannot watch {}: {err}", path.display()));
                    }
                }
            }
        }

        if self.git != git {
            for (old, _) in self.git.drain(..) {
                let _ = watcher.unwatch(&old);
            }
            for (path, mode) in git {
                match watcher.watch(path, *mode) {
                    Ok(()) => self.git.push((path.clone(), *mode)),
                    Err(err) => {
                        problem = Some(format!("cannot watch {}: {err}", path.display()));
                    }
                }
            }
        }
        problem
    }
}

fn scan_dir(root: &Path, scan: &ScanFn, arms: &Mutex<Arms>, mode: ManifestsMode) -> ScanResult {
    let mut arms = arms.lock().unwrap_or_else(|e| e.into_inner());
    let resolved = match std::fs::canonicalize(root).and_then(|p| {
        let meta = std::fs::metadata(&p)?;
        Ok((p, meta))
    }) {
        Ok((path, meta)) if meta.is_dir() => Some((path, identity(&meta))),
        Ok(_) => {
            let events_unavailable = arms.ensure(root, None, &[]);
            return ScanResult {
                outcome: Err(WatchProblem::NotADirectory),
                resolved: None,
                events_unavailable,
                git_paths: Vec::new(),
            };
        }
        Err(err) => {
            let events_unavailable = arms.ensure(root, None, &[]);
            return ScanResult {
                outcome: Err(problem_from(&err)),
                resolved: None,
                events_unavailable,
                git_paths: Vec::new(),
            };
        }
    };
    let resolved_root = resolved.as_ref().map(|(p, _)| p.clone());
    let detected = match mode {
        ManifestsMode::Directory => git::Detected::NotGit,
        ManifestsMode::Auto | ManifestsMode::Git => git::detect(root),
    };
    // HEAD lives in the (worktree's) git dir, refs and packed-refs in the common dir; watched
    // unless they are inside the target, which is watched recursively already.
    let mut git_watch: Vec<(PathBuf, RecursiveMode)> = Vec::new();
    if let git::Detected::Repo(co) = &detected {
        let candidates = [
            (co.git_dir.clone(), RecursiveMode::NonRecursive),
            (co.common_dir.clone(), RecursiveMode::NonRecursive),
            (co.common_dir.join("refs"), RecursiveMode::Recursive),
        ];
        for (path, m) in candidates {
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            let inside = resolved_root.as_ref().is_some_and(|r| path.starts_with(r));
            if !inside && !git_watch.iter().any(|(p, _)| *p == path) {
                git_watch.push((path, m));
            }
        }
    }
    // Watch before reading, so a change made during the scan is not missed.
    let events_unavailable = arms.ensure(
        root,
        resolved.as_ref().map(|(p, id)| (p.as_path(), *id)),
        &git_watch,
    );
    drop(arms);
    let git_paths = git_watch.into_iter().map(|(p, _)| p).collect();
    let snapshot_root = resolved_root.clone().unwrap_or_else(|| root.to_path_buf());

    let outcome = match (mode, detected) {
        (_, git::Detected::Repo(co)) => match git::read_commit(root, &co.commit) {
            Err(err) => Err(WatchProblem::Unreadable(err.to_string())),
            Ok(files) if files.is_empty() => Err(WatchProblem::NothingCommitted),
            Ok(files) => {
                let mut snapshot = digest_snapshot(root, files, snapshot_root);
                snapshot.commit = Some(co.commit);
                Ok(snapshot)
            }
        },
        (_, git::Detected::NoCommit) => Err(WatchProblem::NoCommit),
        (_, git::Detected::GitUnavailable(why)) => Err(WatchProblem::GitUnavailable(why)),
        (ManifestsMode::Git, git::Detected::NotGit) => Err(WatchProblem::NotAGitWorkTree),
        (_, git::Detected::NotGit) => match scan(root) {
            Err(err) => Err(problem_from(&err)),
            Ok(files) if files.is_empty() => Err(WatchProblem::DirectoryEmpty),
            Ok(files) => Ok(digest_snapshot(root, files, snapshot_root)),
        },
    };
    ScanResult {
        outcome,
        resolved: resolved_root,
        events_unavailable,
        git_paths,
    }
}

fn problem_from(err: &io::Error) -> WatchProblem {
    match err.kind() {
        io::ErrorKind::NotFound => WatchProblem::DirectoryMissing,
        io::ErrorKind::NotADirectory => WatchProblem::NotADirectory,
        _ => WatchProblem::Unreadable(err.to_string()),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Digests are over paths relative to the configured root, so the same content seen through
/// a different symlink target digests the same.
fn digest_snapshot(
    root: &Path,
    mut files: Vec<(PathBuf, String)>,
    resolved_root: PathBuf,
) -> Snapshot {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut file_digests = BTreeMap::new();
    let mut all = Sha256::new();
    for (path, text) in &files {
        let digest = hex(&Sha256::digest(text.as_bytes()));
        let rel = path.strip_prefix(root).unwrap_or(path);
        all.update(rel.to_string_lossy().as_bytes());
        all.update([0]);
        all.update(digest.as_bytes());
        all.update([b'\n']);
        file_digests.insert(path.clone(), digest);
    }
    Snapshot {
        files: Arc::new(files),
        file_digests: Arc::new(file_digests),
        digest: hex(&all.finalize()),
        resolved_root,
        generation: 0,
        commit: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_ignores_order_and_root_but_not_content_or_names() {
        let a = digest_snapshot(
            Path::new("/r1"),
            vec![
                ("/r1/b.yaml".into(), "b".into()),
                ("/r1/a.yaml".into(), "a".into()),
            ],
            "/x".into(),
        );
        let b = digest_snapshot(
            Path::new("/r2"),
            vec![
                ("/r2/a.yaml".into(), "a".into()),
                ("/r2/b.yaml".into(), "b".into()),
            ],
            "/y".into(),
        );
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.files[0].0, PathBuf::from("/r1/a.yaml"));
        let c = digest_snapshot(
            Path::new("/r1"),
            vec![
                ("/r1/a.yaml".into(), "a".into()),
                ("/r1/b.yaml".into(), "b2".into()),
            ],
            "/x".into(),
        );
        assert_ne!(a.digest, c.digest);
        let d = digest_snapshot(
            Path::new("/r1"),
            vec![
                ("/r1/a.yaml".into(), "a".into()),
                ("/r1/c.yaml".into(), "b".into()),
            ],
            "/x".into(),
        );
        assert_ne!(a.digest, d.digest);
    }
}
