//! Which git commit the applied manifests come from, read straight from the repository files
//! (no `git` binary needed under systemd). Handles a plain work tree, a linked worktree or
//! submodule (`.git` is a file naming the git dir), and git-sync's layout, where the watched
//! path is a symlink to `.worktrees/<sha>` inside the repository.

use std::path::{Path, PathBuf};

/// The commit id checked out at `dir` (after following symlinks), if `dir` is inside a git
/// work tree and its HEAD can be resolved.
pub fn applied_commit(dir: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let git_dir = find_git_dir(&dir)?;
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    match head.strip_prefix("ref:") {
        None => is_sha(head).then(|| head.to_owned()),
        Some(reference) => resolve_ref(&git_dir, reference.trim()),
    }
}

fn find_git_dir(start: &Path) -> Option<PathBuf> {
    let mut cur = Some(start);
    while let Some(dir) = cur {
        let dotgit = dir.join(".git");
        if dotgit.is_dir() {
            return Some(dotgit);
        }
        if dotgit.is_file() {
            let text = std::fs::read_to_string(&dotgit).ok()?;
            let target = text.trim().strip_prefix("gitdir:")?.trim();
            return Some(dir.join(target));
        }
        cur = dir.parent();
    }
    None
}

/// Looks the ref up as a loose file, then in `packed-refs`; a linked worktree keeps its refs in
/// the common directory named by `commondir`.
fn resolve_ref(git_dir: &Path, reference: &str) -> Option<String> {
    let common = std::fs::read_to_string(git_dir.join("commondir"))
        .ok()
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|| git_dir.to_path_buf());
    for dir in [git_dir, common.as_path()] {
        if let Ok(text) = std::fs::read_to_string(dir.join(reference)) {
            let sha = text.trim();
            if is_sha(sha) {
                return Some(sha.to_owned());
            }
        }
        if let Ok(packed) = std::fs::read_to_string(dir.join("packed-refs")) {
            for line in packed.lines() {
                if let Some((sha, name)) = line.split_once(' ') {
                    if name == reference && is_sha(sha) {
                        return Some(sha.to_owned());
                    }
                }
            }
        }
    }
    None
}

fn is_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::testing::git;

    #[test]
    fn reads_the_commit_of_a_work_tree_and_a_git_sync_worktree() {
        let repo = tempfile::tempdir().unwrap();
        let r = repo.path();
        git(r, &["init", "-q", "-b", "main"]);
        std::fs::create_dir(r.join("manifests")).unwrap();
        std::fs::write(r.join("manifests/a.yaml"), "x: 1\n").unwrap();
        git(r, &["add", "."]);
        git(r, &["commit", "-qm", "one"]);
        let sha = git(r, &["rev-parse", "HEAD"]);
        assert_eq!(
            applied_commit(&r.join("manifests")).as_deref(),
            Some(sha.as_str())
        );

        // Packed refs (after `git gc`/`pack-refs`) resolve too.
        git(r, &["pack-refs", "--all"]);
        assert_eq!(applied_commit(r).as_deref(), Some(sha.as_str()));

        // git-sync: a detached worktree per commit, reached through a symlink.
        let wt = r.join(".worktrees").join(&sha);
        git(
            r,
            &[
                "worktree",
                "add",
                "-q",
                "--detach",
                wt.to_str().unwrap(),
                &sha,
            ],
        );
        let link = repo.path().join("current");
        std::os::unix::fs::symlink(&wt, &link).unwrap();
        assert_eq!(applied_commit(&link).as_deref(), Some(sha.as_str()));
    }

    #[test]
    fn outside_git_there_is_no_commit() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(applied_commit(d.path()), None);
    }
}
