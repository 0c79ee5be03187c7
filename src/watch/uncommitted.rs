//! Which manifest files differ from the commit the directory is checked out at. The daemon
//! applies what is in the directory, committed or not; an operator must see when that is not
//! what git says (an edit in place, a `git rm` without a commit). Asked of the `git` binary
//! after each scan, on the scan's blocking thread; without git, or outside a work tree, the
//! answer is "unknown" (`None`), never "clean".

use std::path::Path;
use std::process::Command;

/// Manifest paths under `dir` (relative to it) that are modified, added, deleted or untracked
/// compared with HEAD; `None` when `dir` is not in a git work tree or git cannot tell. Only
/// files tandem would read count (`.yaml`/`.yml`, no name starting with `.`): a README next
/// to the manifests is nobody's uncommitted change.
pub fn uncommitted(dir: &Path) -> Option<Vec<String>> {
    // Porcelain paths are relative to the repository root; the prefix makes them the dir's.
    let prefix = git(dir, &["rev-parse", "--show-prefix"])?;
    let prefix = String::from_utf8_lossy(&prefix).trim().to_owned();
    let status = git(
        dir,
        &[
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--",
            ".",
        ],
    )?;
    let mut files: Vec<String> = status
        .split(|b| *b == 0)
        .filter(|entry| entry.len() > 3)
        .filter(|entry| {
            let path = String::from_utf8_lossy(&entry[3..]);
            let path = Path::new(path.as_ref());
            let manifest = matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            );
            let hidden = path.components().any(|c| {
                matches!(c, std::path::Component::Normal(n) if n.as_encoded_bytes().first() == Some(&b'.'))
            });
            manifest && !hidden
        })
        .map(|entry| {
            let (code, path) = entry.split_at(3);
            let what = match &code[..2] {
                b"??" => "untracked",
                c if c.contains(&b'D') => "deleted",
                c if c.contains(&b'A') => "added",
                _ => "modified",
            };
            let path = String::from_utf8_lossy(path);
            let path = path.strip_prefix(prefix.as_str()).unwrap_or(&path);
            format!("{path} ({what})")
        })
        .collect();
    files.sort();
    Some(files)
}

/// Runs git in `dir`; its output when it succeeded.
fn git(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        // Never prompt, and never take a lock a person's git would then find.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::testing::git as run;

    #[test]
    fn lists_what_differs_from_head_and_nothing_once_committed() {
        let repo = tempfile::tempdir().unwrap();
        let r = repo.path();
        let m = r.join("manifests");
        std::fs::create_dir(&m).unwrap();
        std::fs::write(m.join("a.yaml"), "a: 1\n").unwrap();
        std::fs::write(m.join("b.yaml"), "b: 1\n").unwrap();
        std::fs::write(r.join("outside.txt"), "x\n").unwrap();
        std::fs::write(m.join("README.md"), "not a manifest\n").unwrap();
        assert_eq!(uncommitted(&m), None, "not a work tree yet");
        run(r, &["init", "-q", "-b", "main"]);
        run(r, &["add", "manifests"]);
        run(r, &["commit", "-qm", "one"]);
        assert_eq!(
            uncommitted(&m),
            Some(Vec::new()),
            "outside files do not count"
        );

        std::fs::write(m.join("a.yaml"), "a: 2\n").unwrap();
        std::fs::remove_file(m.join("b.yaml")).unwrap();
        std::fs::write(m.join("c.yaml"), "c: 1\n").unwrap();
        assert_eq!(
            uncommitted(&m).unwrap(),
            vec![
                "a.yaml (modified)".to_owned(),
                "b.yaml (deleted)".to_owned(),
                "c.yaml (untracked)".to_owned()
            ]
        );
        run(r, &["add", "-A"]);
        run(r, &["commit", "-qm", "two"]);
        assert_eq!(uncommitted(&m), Some(Vec::new()));
    }
}
