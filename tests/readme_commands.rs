//! Every command in the README's `sh` blocks runs as written (issue 15: "a test runs every
//! command in the README's fenced blocks that can run on loopback"), `tandem` being the binary
//! under test and the simulator the README's examples talk to started on a free loopback port.
//! A command's expected exit code is the number opening its comment (`# 2: changes`), else 0.
//! `cargo` lines are the build and this test suite itself (`cargo run -- demo` is
//! `tests/demo.rs`) and are skipped; `text` blocks are synopses, not commands.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The README's address of the simulator its commands talk to.
const README_SIM: &str = "127.0.0.1:8990";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The commands of every ```` ```sh ```` block, a command spanning lines while a single-quoted
/// string is open or a line ends with `\`.
fn sh_commands(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = line.trim() == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        if pending.is_empty() && line.trim().is_empty() {
            continue;
        }
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(line);
        let open_quote = pending.matches('\'').count() % 2 == 1;
        if !open_quote && !line.ends_with('\\') {
            out.push(std::mem::take(&mut pending));
        }
    }
    assert!(pending.is_empty(), "unterminated command: {pending}");
    out
}

/// The exit code a command's comment announces (`# 2: changes`), else 0.
fn expected_code(command: &str) -> i32 {
    command
        .lines()
        .last()
        .and_then(|l| l.rsplit_once(" # "))
        .and_then(|(_, comment)| comment.split(':').next())
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0)
}

struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tandem jira-sim` on a free port; its address from the first line it prints.
fn start_sim() -> (Sim, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["jira-sim", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("jira-sim starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("jira-sim prints its URL");
    let addr = first
        .trim()
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    (Sim(child), addr)
}

#[test]
fn every_sh_command_in_the_readme_runs() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let commands = sh_commands(&readme);
    assert!(commands.len() >= 5, "{commands:?}");
    let (_sim, sim_addr) = start_sim();
    // `tandem` on PATH is the binary under test.
    let bin_dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_tandem"), bin_dir.path().join("tandem"))
        .expect("symlink");
    let path = format!(
        "{}:{}",
        bin_dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for command in &commands {
        if command.trim_start().starts_with("cargo ") {
            eprintln!("skipped (the build and the test suite themselves): {command}");
            continue;
        }
        let script = command.replace(README_SIM, &sim_addr);
        let out = Command::new("bash")
            .args(["-c", &script])
            .current_dir(root())
            .env("PATH", &path)
            .env_remove("TANDEM_ADMIN_URL")
            .env_remove("TANDEM_STATE")
            .output()
            .expect("bash runs");
        assert_eq!(
            out.status.code(),
            Some(expected_code(command)),
            "README command failed: {command}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 5, "only {ran} commands ran");
}

#[test]
fn commands_spanning_lines_and_exit_codes_are_read_as_written() {
    let text =
        "```sh\na # 2: changes\ncurl -d '{\n  \"x\": 1}'\nb \\\n  c\n```\n```text\nnot run\n```\n";
    let commands = sh_commands(text);
    assert_eq!(
        commands,
        vec!["a # 2: changes", "curl -d '{\n  \"x\": 1}'", "b \\\n  c"]
    );
    assert_eq!(expected_code(&commands[0]), 2);
    assert_eq!(expected_code(&commands[1]), 0);
}
