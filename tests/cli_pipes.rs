//! Report commands piped into a reader that stops early (`tandem validate DIR | head -1`) end
//! quietly, as Unix tools do, instead of panicking in the middle of their output.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn validate_piped_into_head_ends_without_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Enough diagnostics to overflow the pipe buffer after the reader is gone.
    for i in 0..3000 {
        std::fs::write(
            dir.path().join(format!("f{i}.yaml")),
            "apiVersion: tandem/v1\nkind: Nope\n",
        )
        .expect("write");
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("validate")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tandem validate starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    // The reader goes away, like `head -1` does.
    let out = child.wait_with_output().expect("exits");
    assert!(first.contains("unknown kind `Nope`"), "{first}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "a panic exit: {stderr}");
}
