//! Reading the manifests of the checked-out commit instead of the working files: what is
//! committed is what runs. A `git rm` or an edit in place that nobody committed must not
//! delete or change anything; it is listed as uncommitted instead (see [`super::uncommitted`]).
//!
//! Asked of the `git` binary (`rev-parse`, `ls-tree`, one `cat-file --batch`), on the scan's
//! blocking thread, like `uncommitted`. The `gix` crate would read the object database without
//! a binary, but it is a large dependency tree for three plumbing commands whose output is a
//! stable interface, and the watcher already needs git for `git status`.
//!
//! Every invocation disables optional locks and prompts, and allows the repository whatever its
//! owner (`safe.directory`): under systemd's `DynamicUser` the daemon never owns `/etc/tandem`,
//! and it only reads. `core.fsmonitor` is switched off so no hook of the repository runs.

use std::collections::BTreeMap;
use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

/// Where manifests are read from; `tandem run --manifests-mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ManifestsMode {
    /// The checked-out commit when the directory is inside a git work tree, else the directory.
    #[default]
    Auto,
    /// Always the checked-out commit; a directory outside git is a problem, not a fallback.
    Git,
    /// The files as they are, committed or not (uncommitted files are still listed).
    Directory,
}

/// The checked-out state of the repository a manifest directory belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkout {
    /// The commit HEAD resolves to.
    pub commit: String,
    /// Directories whose changes move HEAD: the (worktree's) git dir holds `HEAD`, the common
    /// dir holds `packed-refs` and `refs/`.
    pub git_dir: PathBuf,
    pub common_dir: PathBuf,
}

/// What `dir` is, as far as git is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detected {
    NotGit,
    /// A work tree whose HEAD has no commit yet (a fresh `git init`).
    NoCommit,
    /// A `.git` is there but the git binary could not be run.
    GitUnavailable(String),
    Repo(Checkout),
}

/// Runs git in `dir` with the read-only safety settings above.
fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.args([
        "-c",
        "safe.directory=*",
        "-c",
        "core.fsmonitor=false",
        "-c",
        "core.quotePath=false",
    ])
    .current_dir(dir)
    .env("GIT_TERMINAL_PROMPT", "0")
    .env("GIT_OPTIONAL_LOCKS", "0")
    .env_remove("GIT_DIR")
    .env_remove("GIT_WORK_TREE")
    .env_remove("GIT_INDEX_FILE")
    .stdin(Stdio::null());
    cmd
}

/// Finds out whether `dir` is in a git work tree and which commit it has checked out.
pub fn detect(dir: &Path) -> Detected {
    let out = git(dir)
        .args([
            "rev-parse",
            "--is-inside-work-tree",
            "--absolute-git-dir",
            "--git-common-dir",
        ])
        .stderr(Stdio::null())
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            return if has_dot_git(dir) {
                Detected::GitUnavailable(e.to_string())
            } else {
                Detected::NotGit
            }
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    if !out.status.success() || lines.next() != Some("true") {
        return Detected::NotGit;
    }
    let (Some(git_dir), Some(common)) = (lines.next(), lines.next()) else {
        return Detected::NotGit;
    };
    let git_dir = PathBuf::from(git_dir);
    let common_dir = if Path::new(common).is_absolute() {
        PathBuf::from(common)
    } else {
        dir.join(common)
    };
    let head = git(dir)
        .args(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
        .stderr(Stdio::null())
        .output();
    match head {
        Ok(out) if out.status.success() => Detected::Repo(Checkout {
            commit: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            git_dir,
            common_dir,
        }),
        Ok(_) => Detected::NoCommit,
        Err(e) => Detected::GitUnavailable(e.to_string()),
    }
}

fn has_dot_git(dir: &Path) -> bool {
    dir.ancestors().any(|d| d.join(".git").exists())
}

/// One entry of `git ls-tree`: mode and object id by path relative to the directory.
struct Entry {
    mode: String,
    object: String,
}

/// Reads every manifest of `commit` under `dir` (which must be inside the work tree): the
/// same files `manifest::collect_files` would find in a clean checkout (`.yaml`/`.yml`, names
/// starting with `.` skipped at every level, symlinks followed when they point at a file of the
/// same commit). Paths are `dir` joined with the path inside it, so diagnostics read
/// FILE:LINE:COL like the working copy. An unreadable object or a dangling manifest symlink
/// fails the whole read: a partial list would look like deletions.
pub fn read_commit(dir: &Path, commit: &str) -> io::Result<Vec<(PathBuf, String)>> {
    let out = git(dir)
        .args(["ls-tree", "-r", "-z", commit])
        .stderr(Stdio::piped())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "git ls-tree {commit} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let mut entries: BTreeMap<PathBuf, Entry> = BTreeMap::new();
    for record in out.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let record = String::from_utf8_lossy(record);
        let Some((meta, path)) = record.split_once('\t') else {
            continue;
        };
        let mut parts = meta.split(' ');
        let (Some(mode), Some(kind), Some(object)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        // Submodules (commits) hold no files of this repository.
        if kind != "blob" {
            continue;
        }
        entries.insert(
            PathBuf::from(path),
            Entry {
                mode: mode.to_owned(),
                object: object.to_owned(),
            },
        );
    }

    let mut wanted: Vec<(PathBuf, String)> = Vec::new();
    let mut links: Vec<(PathBuf, String)> = Vec::new();
    for (path, entry) in &entries {
        if !is_manifest(path) || hidden(path) {
            continue;
        }
        if entry.mode == "120000" {
            links.push((path.clone(), entry.object.clone()));
        } else {
            wanted.push((path.clone(), entry.object.clone()));
        }
    }
    // Symlink blobs hold the target path; follow them inside the commit.
    let targets = cat_blobs(dir, links.iter().map(|(_, o)| o.as_str()))?;
    for ((path, _), target) in links.iter().zip(targets) {
        let target = String::from_utf8_lossy(&target).into_owned();
        let resolved = path
            .parent()
            .map(|p| normalize(&p.join(&target)))
            .unwrap_or_else(|| normalize(Path::new(&target)));
        match resolved.and_then(|r| entries.get(&r).filter(|e| e.mode != "120000")) {
            Some(e) => wanted.push((path.clone(), e.object.clone())),
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "{} is a symlink to {target}, which is not a file of commit {}",
                        path.display(),
                        short(commit)
                    ),
                ))
            }
        }
    }
    wanted.sort();
    let blobs = cat_blobs(dir, wanted.iter().map(|(_, o)| o.as_str()))?;
    wanted
        .into_iter()
        .zip(blobs)
        .map(|((path, _), bytes)| {
            let text = String::from_utf8(bytes).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not UTF-8 text", path.display()),
                )
            })?;
            Ok((dir.join(path), text))
        })
        .collect()
}

/// The commit `rev` (a branch, tag, `HEAD^`, an id) names in the repository of `dir`; `None`
/// when it names no commit or `dir` is not in a repository.
pub fn resolve(dir: &Path, rev: &str) -> Option<String> {
    let out = git(dir)
        .args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
        .arg(format!("{rev}^{{commit}}"))
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The first 12 characters of a commit id, as status shows it.
pub fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

fn hidden(path: &Path) -> bool {
    path.components().any(|c| match c {
        Component::Normal(name) => name.as_encoded_bytes().first() == Some(&b'.'),
        _ => false,
    })
}

/// `a/./b/../c` → `a/c`; `None` when it climbs out of the directory.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The contents of the given blobs, in order, from one `git cat-file --batch`.
fn cat_blobs<'a>(dir: &Path, objects: impl Iterator<Item = &'a str>) -> io::Result<Vec<Vec<u8>>> {
    let objects: Vec<String> = objects.map(str::to_owned).collect();
    if objects.is_empty() {
        return Ok(Vec::new());
    }
    let mut child = git(dir)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("no stdin"))?;
    let requests = objects.clone();
    // Written from another thread: git answers while it reads, and both pipes are bounded.
    let writer = std::thread::spawn(move || -> io::Result<()> {
        for o in requests {
            writeln!(stdin, "{o}")?;
        }
        Ok(())
    });
    let mut reader = BufReader::new(
        child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?,
    );
    let mut blobs = Vec::with_capacity(objects.len());
    for o in &objects {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let mut fields = header.split_whitespace();
        let (_, kind, size) = (fields.next(), fields.next(), fields.next());
        let size: usize = match (kind, size.and_then(|s| s.parse().ok())) {
            (Some("blob"), Some(size)) => size,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other(format!(
                    "git cannot read object {o}: {}",
                    header.trim()
                )));
            }
        };
        let mut body = vec![0; size + 1];
        reader.read_exact(&mut body)?;
        body.pop();
        blobs.push(body);
    }
    let _ = writer.join();
    let _ = child.wait();
    Ok(blobs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::testing::git as run;

    #[test]
    fn reads_the_committed_manifests_not_the_working_files() {
        let repo = tempfile::tempdir().unwrap();
        let r = repo.path();
        let m = r.join("manifests");
        std::fs::create_dir_all(m.join("sub")).unwrap();
        std::fs::create_dir_all(m.join(".hidden")).unwrap();
        std::fs::write(m.join("a.yaml"), "a: 1\n").unwrap();
        std::fs::write(m.join("sub/b.yml"), "b: 1\n").unwrap();
        std::fs::write(m.join(".hidden/c.yaml"), "c: 1\n").unwrap();
        std::fs::write(m.join("notes.txt"), "n\n").unwrap();
        std::os::unix::fs::symlink("a.yaml", m.join("link.yaml")).unwrap();
        std::fs::write(r.join("outside.yaml"), "o: 1\n").unwrap();
        assert_eq!(detect(&m), Detected::NotGit);
        run(r, &["init", "-q", "-b", "main"]);
        assert_eq!(detect(&m), Detected::NoCommit);
        run(r, &["add", "."]);
        run(r, &["commit", "-qm", "one"]);
        let Detected::Repo(co) = detect(&m) else {
            panic!("a work tree")
        };
        assert!(co.git_dir.join("HEAD").is_file(), "{co:?}");
        assert!(co.common_dir.join("refs").is_dir(), "{co:?}");

        // Edits, deletions and new files that are not committed are not read.
        std::fs::write(m.join("a.yaml"), "a: 2\n").unwrap();
        std::fs::remove_file(m.join("sub/b.yml")).unwrap();
        std::fs::write(m.join("new.yaml"), "n: 1\n").unwrap();
        let files = read_commit(&m, &co.commit).unwrap();
        assert_eq!(
            files,
            vec![
                (m.join("a.yaml"), "a: 1\n".to_owned()),
                (m.join("link.yaml"), "a: 1\n".to_owned()),
                (m.join("sub/b.yml"), "b: 1\n".to_owned()),
            ]
        );
    }
}
