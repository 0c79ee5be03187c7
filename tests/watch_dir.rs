//! The manifest watcher against real directories and real notify events: each kind of change
//! people make (editor save, checkout, symlink swap) arrives as one snapshot, and a directory
//! that goes away deletes nothing. Timeouts are safety nets only; every assertion is about
//! what was published.

mod common_daemon;

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tandem::watch::{
    ManifestWatcher, RescanTrigger, ScanFn, Snapshot, WatchConfig, WatchProblem, WatchStatus,
};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use common_daemon::git;

const SAFETY_NET: Duration = Duration::from_secs(10);

/// Like the manifest collector: `.yaml`/`.yml` files at any depth, following symlinks,
/// skipping names that start with a dot.
fn read_tree(root: &Path) -> io::Result<Vec<(PathBuf, String)>> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) -> io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            let meta = match fs::metadata(&path) {
                Ok(meta) => meta,
                // A file deleted between listing and reading is simply not part of this scan.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if meta.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                match fs::read_to_string(&path) {
                    Ok(text) => out.push((path, text)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, &mut out)?;
    Ok(out)
}

fn config() -> WatchConfig {
    WatchConfig {
        debounce: Duration::from_millis(300),
        max_delay: Duration::from_secs(5),
        // Long enough that only events (or explicit triggers) can explain a rescan here.
        rescan_interval: Duration::from_secs(3600),
        retry_interval: Duration::from_secs(3600),
        ..WatchConfig::default()
    }
}

struct Running {
    snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    status: watch::Receiver<WatchStatus>,
    trigger: RescanTrigger,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

impl Running {
    async fn snapshot_where(
        &mut self,
        what: &str,
        f: impl FnMut(&Snapshot) -> bool,
    ) -> Arc<Snapshot> {
        let mut f = f;
        let probe = self.snapshots.clone();
        let found = tokio::time::timeout(
            SAFETY_NET,
            self.snapshots
                .wait_for(|s| s.as_ref().is_some_and(|s| f(s))),
        )
        .await
        .unwrap_or_else(|_| panic!("no snapshot where {what}; last: {:?}", probe.borrow()))
        .expect("watcher stopped");
        found.clone().expect("checked above")
    }

    async fn status_where(
        &mut self,
        what: &str,
        f: impl FnMut(&WatchStatus) -> bool,
    ) -> WatchStatus {
        let probe = self.status.clone();
        let found = tokio::time::timeout(SAFETY_NET, self.status.wait_for(f))
            .await
            .unwrap_or_else(|_| panic!("no status where {what}; last: {:?}", probe.borrow()))
            .expect("watcher stopped");
        found.clone()
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshots.borrow().clone().expect("a snapshot")
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(SAFETY_NET, self.handle)
            .await
            .expect("watcher stops on shutdown")
            .expect("watcher task");
    }
}

fn start_with(root: &Path, scan: ScanFn, config: WatchConfig) -> Running {
    let watcher = ManifestWatcher::new(root, scan, config);
    let snapshots = watcher.snapshots();
    let status = watcher.status();
    let trigger = watcher.rescan_trigger();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(watcher.run(async move {
        let _ = stopped.await;
    }));
    Running {
        snapshots,
        status,
        trigger,
        stop,
        handle,
    }
}

fn start(root: &Path) -> Running {
    start_with(root, Arc::new(read_tree), config())
}

fn text_of(s: &Snapshot, name: &str) -> Option<String> {
    s.files
        .iter()
        .find(|(p, _)| p.file_name().is_some_and(|n| n == name))
        .map(|(_, t)| t.clone())
}

/// Writes in two steps with a flush between, as a slow writer would, so a scan in the middle
/// could see a half-written file.
fn write_slowly(path: &Path, text: &str) {
    let mut f = fs::File::create(path).expect("create");
    let (a, b) = text.split_at(text.len() / 2);
    f.write_all(a.as_bytes()).expect("write");
    f.flush().expect("flush");
    f.write_all(b.as_bytes()).expect("write");
}

/// A gap between file operations well below the debounce quiet time.
async fn human_pause() {
    tokio::time::sleep(Duration::from_millis(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_rename_write_is_one_change() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("manifests");
    fs::create_dir(&dir).expect("mkdir");
    fs::write(dir.join("a.yaml"), "kind: Workspace # v1\n").expect("write");
    fs::write(dir.join("b.yaml"), "kind: Connection\n").expect("write");
    let mut w = start(&dir);
    let first = w.snapshot_where("two files", |s| s.files.len() == 2).await;
    assert_eq!(first.generation, 1);

    // vim-style save: swap file, rename the original away, write anew, delete the backup.
    // The pauses make each intermediate state visible to a watcher that does not settle.
    fs::write(dir.join(".a.yaml.swp"), "swap").expect("swp");
    human_pause().await;
    fs::rename(dir.join("a.yaml"), dir.join("a.yaml~")).expect("rename");
    human_pause().await;
    write_slowly(&dir.join("a.yaml"), "kind: Workspace # v2, a longer line\n");
    human_pause().await;
    fs::remove_file(dir.join("a.yaml~")).expect("rm backup");
    fs::remove_file(dir.join(".a.yaml.swp")).expect("rm swp");

    let next = w
        .snapshot_where("a.yaml at v2", |s| {
            text_of(s, "a.yaml").is_some_and(|t| t.contains("v2"))
        })
        .await;
    assert_eq!(
        next.generation, 2,
        "the save should be published once, not in pieces"
    );
    assert_eq!(next.files.len(), 2);
    assert_ne!(next.digest, first.digest);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_fifty_writes_is_one_change() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("manifests");
    fs::create_dir_all(dir.join("teams")).expect("mkdir");
    fs::write(dir.join("workspace.yaml"), "kind: Workspace\n").expect("write");
    let mut w = start(&dir);
    w.snapshot_where("initial", |s| s.files.len() == 1).await;

    for i in 0..50 {
        let sub = if i % 2 == 0 {
            dir.join("teams")
        } else {
            dir.clone()
        };
        write_slowly(
            &sub.join(format!("integration-{i}.yaml")),
            &format!("kind: ProjectIntegration # {i}\n"),
        );
        // A checkout is not instantaneous; spread the writes so a watcher that rescans on the
        // first event would publish partial sets.
        if i % 5 == 4 {
            human_pause().await;
        }
    }
    let after = w
        .snapshot_where("all 51 files", |s| s.files.len() == 51)
        .await;
    assert_eq!(
        after.generation, 2,
        "a checkout of 50 files should be published once"
    );
    assert_eq!(after.file_digests.len(), 51);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_atomic_symlink_swap_of_the_directory_is_one_change_and_rearms() {
    // git-sync layout: `current` is a symlink to a worktree, replaced atomically on each sync.
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path();
    for (rev, files) in [
        ("rev1", vec![("a.yaml", "kind: Connection # rev1\n")]),
        (
            "rev2",
            vec![
                ("a.yaml", "kind: Connection # rev2\n"),
                ("b.yaml", "kind: Workspace\n"),
            ],
        ),
    ] {
        fs::create_dir(base.join(rev)).expect("mkdir");
        for (name, text) in files {
            fs::write(base.join(rev).join(name), text).expect("write");
        }
    }
    std::os::unix::fs::symlink("rev1", base.join("current")).expect("symlink");
    let root = base.join("current");
    let mut w = start(&root);
    let first = w.snapshot_where("rev1", |s| s.files.len() == 1).await;
    assert_eq!(
        first.resolved_root,
        fs::canonicalize(base.join("rev1")).expect("canon")
    );

    std::os::unix::fs::symlink("rev2", base.join(".current.tmp")).expect("symlink");
    fs::rename(base.join(".current.tmp"), &root).expect("swap");

    let rev2_root = fs::canonicalize(base.join("rev2")).expect("canon");
    let swapped = w
        .snapshot_where("rev2", |s| s.resolved_root == rev2_root)
        .await;
    assert_eq!(swapped.generation, 2, "the swap should be one change");
    assert_eq!(swapped.files.len(), 2);
    assert_eq!(
        text_of(&swapped, "a.yaml").as_deref(),
        Some("kind: Connection # rev2\n")
    );
    assert!(
        swapped.files.iter().all(|(p, _)| p.starts_with(&root)),
        "paths stay under the configured root, for FILE:LINE:COL messages"
    );

    // The recursive watch moved to the new target: an edit there is seen without a rescan timer.
    fs::write(
        base.join("rev2").join("b.yaml"),
        "kind: Workspace # edited\n",
    )
    .expect("write");
    let edited = w
        .snapshot_where("edited b.yaml", |s| {
            text_of(s, "b.yaml").is_some_and(|t| t.contains("edited"))
        })
        .await;
    assert_eq!(edited.generation, 3);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_style_data_swap_is_one_change() {
    // Kubernetes ConfigMap volume: visible files are symlinks through `..data`, which is
    // swapped atomically to a new timestamped directory.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("config");
    fs::create_dir(&dir).expect("mkdir");
    for (v, text) in [
        ("..v1", "kind: SyncJob # v1\n"),
        ("..v2", "kind: SyncJob # v2\n"),
    ] {
        fs::create_dir(dir.join(v)).expect("mkdir");
        fs::write(dir.join(v).join("job.yaml"), text).expect("write");
    }
    std::os::unix::fs::symlink("..v1", dir.join("..data")).expect("symlink");
    std::os::unix::fs::symlink("..data/job.yaml", dir.join("job.yaml")).expect("symlink");
    let mut w = start(&dir);
    w.snapshot_where("v1", |s| {
        text_of(s, "job.yaml").is_some_and(|t| t.contains("v1"))
    })
    .await;

    std::os::unix::fs::symlink("..v2", dir.join("..data_tmp")).expect("symlink");
    fs::rename(dir.join("..data_tmp"), dir.join("..data")).expect("swap");
    let next = w
        .snapshot_where("v2", |s| {
            text_of(s, "job.yaml").is_some_and(|t| t.contains("v2"))
        })
        .await;
    assert_eq!(next.generation, 2);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_or_removed_directory_keeps_the_last_snapshot_and_recovers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("manifests");
    fs::create_dir(&dir).expect("mkdir");
    fs::write(dir.join("a.yaml"), "kind: Connection # v1\n").expect("write");
    let mut w = start(&dir);
    let good = w.snapshot_where("v1", |s| s.files.len() == 1).await;

    fs::remove_file(dir.join("a.yaml")).expect("rm");
    fs::write(dir.join("README.md"), "not a manifest").expect("write");
    w.status_where("DirectoryEmpty", |s| {
        s.problem == Some(WatchProblem::DirectoryEmpty)
    })
    .await;
    assert_eq!(
        w.current(),
        good,
        "an empty directory must not publish an empty set"
    );

    fs::remove_dir_all(&dir).expect("rm -r");
    let st = w
        .status_where("DirectoryMissing", |s| {
            s.problem == Some(WatchProblem::DirectoryMissing)
        })
        .await;
    assert_eq!(
        w.current(),
        good,
        "a missing directory must not publish an empty set"
    );
    assert_eq!(st.generation, 1);
    assert_eq!(st.digest.as_deref(), Some(good.digest.as_str()));

    fs::create_dir(&dir).expect("mkdir");
    fs::write(dir.join("a.yaml"), "kind: Connection # v2\n").expect("write");
    let back = w
        .snapshot_where("v2", |s| {
            text_of(s, "a.yaml").is_some_and(|t| t.contains("v2"))
        })
        .await;
    assert_eq!(back.generation, 2);
    w.status_where("problem cleared", |s| s.problem.is_none())
        .await;

    // The new directory (a new inode at the old path) is watched too.
    fs::write(dir.join("b.yaml"), "kind: Workspace\n").expect("write");
    let more = w.snapshot_where("b.yaml", |s| s.files.len() == 2).await;
    assert_eq!(more.generation, 3);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constant_churn_is_still_applied_within_the_max_delay() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("manifests");
    fs::create_dir(&dir).expect("mkdir");
    fs::write(dir.join("a.yaml"), "kind: Workspace\n").expect("write");
    let cfg = WatchConfig {
        max_delay: Duration::from_millis(500),
        ..config()
    };
    let mut w = start_with(&dir, Arc::new(read_tree), cfg);
    w.snapshot_where("initial", |s| s.generation == 1).await;

    // A writer that never pauses as long as the debounce: only the max delay can publish.
    let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = {
        let (dir, writing) = (dir.clone(), Arc::clone(&writing));
        tokio::spawn(async move {
            let mut i = 0u32;
            while writing.load(std::sync::atomic::Ordering::Relaxed) && i < 400 {
                fs::write(dir.join("churn.yaml"), format!("kind: SyncJob # {i}\n")).expect("write");
                i += 1;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            i
        })
    };
    w.snapshot_where("churn seen", |s| s.generation >= 2).await;
    let still_writing = !writer.is_finished();
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.await.expect("writer");
    assert!(
        still_writing,
        "the snapshot waited for the churn to stop ({writes} writes)"
    );
    w.stop().await;
}

/// A scan function over an in-memory set, so only the watcher's own triggers can notice
/// changes: no filesystem event will announce them.
/// What the in-memory scan function returns next.
type Scripted = Arc<Mutex<io::Result<Vec<(PathBuf, String)>>>>;

fn in_memory() -> (ScanFn, Scripted) {
    let files = Arc::new(Mutex::new(Ok::<_, io::Error>(vec![(
        PathBuf::from("m/a.yaml"),
        "v1".to_owned(),
    )])));
    let shared = Arc::clone(&files);
    let scan: ScanFn = Arc::new(move |_root: &Path| match &*shared.lock().expect("lock") {
        Ok(files) => Ok(files.clone()),
        Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
    });
    (scan, files)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rescan_trigger_picks_up_what_no_event_announced() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (scan, files) = in_memory();
    let mut w = start_with(tmp.path(), scan, config());
    w.snapshot_where("v1", |s| s.generation == 1).await;
    let scans = w.status.borrow().scans;

    // A rescan that finds nothing new publishes nothing.
    w.trigger.rescan();
    w.status_where("another scan", |s| s.scans > scans).await;
    assert_eq!(w.current().generation, 1);

    *files.lock().expect("lock") = Ok(vec![(PathBuf::from("m/a.yaml"), "v2".to_owned())]);
    w.trigger.rescan();
    let next = w.snapshot_where("v2", |s| s.generation == 2).await;
    assert_eq!(next.files[0].1, "v2");

    *files.lock().expect("lock") = Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        "permission denied",
    ));
    w.trigger.rescan();
    let st = w
        .status_where("Unreadable", |s| {
            matches!(s.problem, Some(WatchProblem::Unreadable(_)))
        })
        .await;
    assert!(
        matches!(&st.problem, Some(WatchProblem::Unreadable(m)) if m.contains("permission denied")),
        "{st:?}"
    );
    assert_eq!(
        w.current().generation,
        2,
        "an unreadable directory keeps the last snapshot"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_rescan_catches_changes_without_events() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (scan, files) = in_memory();
    let cfg = WatchConfig {
        rescan_interval: Duration::from_millis(100),
        ..config()
    };
    let mut w = start_with(tmp.path(), scan, cfg);
    w.snapshot_where("v1", |s| s.generation == 1).await;
    *files.lock().expect("lock") = Ok(vec![(PathBuf::from("m/a.yaml"), "v2".to_owned())]);
    let next = w.snapshot_where("v2", |s| s.files[0].1 == "v2").await;
    assert_eq!(next.generation, 2);
    w.stop().await;
}

/// A manifest directory below the repository root: the committed tree is read, working edits
/// are only listed, and a commit (HEAD moving in `.git`, outside the watched directory) is
/// seen by its event and published; `directory` mode reads the files as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_work_tree_the_commit_is_read_and_head_moving_is_a_change() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path();
    let dir = repo.join("deploy/manifests");
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(dir.join("a.yaml"), "v: 1\n").expect("write");
    fs::write(dir.join("b.yaml"), "b: 1\n").expect("write");
    git(repo, &["init", "-q", "-b", "main"]);
    git(repo, &["add", "."]);
    git(repo, &["commit", "-qm", "one"]);
    let mut w = start_with(&dir, Arc::new(read_tree), config());
    let first = w.snapshot_where("initial", |s| s.generation == 1).await;
    assert!(first.commit.is_some(), "{first:?}");
    assert_eq!(first.files.len(), 2);

    fs::write(dir.join("a.yaml"), "v: 2\n").expect("write");
    fs::remove_file(dir.join("b.yaml")).expect("rm");
    let st = w
        .status_where("edits listed", |s| {
            s.uncommitted.as_ref().is_some_and(|u| u.len() == 2)
        })
        .await;
    assert_eq!(st.source, Some("git"));
    assert_eq!(w.current().generation, 1, "working edits are not applied");
    assert_eq!(text_of(&w.current(), "a.yaml").as_deref(), Some("v: 1\n"));

    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-qm", "two"]);
    let second = w.snapshot_where("the commit", |s| s.generation == 2).await;
    assert_ne!(second.commit, first.commit);
    assert_eq!(second.files.len(), 1);
    assert_eq!(text_of(&second, "a.yaml").as_deref(), Some("v: 2\n"));
    w.stop().await;

    fs::write(dir.join("a.yaml"), "v: 3\n").expect("write");
    let cfg = WatchConfig {
        mode: tandem::watch::ManifestsMode::Directory,
        ..config()
    };
    let mut plain = start_with(&dir, Arc::new(read_tree), cfg);
    let s = plain
        .snapshot_where("directory mode", |s| s.generation == 1)
        .await;
    assert_eq!(s.commit, None);
    assert_eq!(text_of(&s, "a.yaml").as_deref(), Some("v: 3\n"));
    plain.stop().await;

    // Manifests nobody committed are not applied, and the problem says why.
    let fresh = repo.join("fresh");
    fs::create_dir_all(&fresh).expect("mkdir");
    fs::write(fresh.join("a.yaml"), "v: 1\n").expect("write");
    let mut w = start_with(&fresh, Arc::new(read_tree), config());
    let st = w.status_where("the problem", |s| s.problem.is_some()).await;
    assert_eq!(st.problem, Some(WatchProblem::NothingCommitted));
    assert!(w.snapshots.borrow().is_none(), "nothing applied");
    w.stop().await;
}
