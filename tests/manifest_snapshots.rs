//! Snapshot tests: each directory under `tests/fixtures/manifests/cases/` is one manifest set,
//! validated alone, with `expected.txt` holding the exact diagnostics (paths relative to the
//! case) followed by the resources that survive into the model.
//!
//! To update after a deliberate change: `UPDATE_SNAPSHOTS=1 cargo test --test manifest_snapshots`,
//! then review the diff of every `expected.txt` before committing.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use tandem::manifest::{collect_files, validate};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests/cases")
}

fn render(case: &Path) -> String {
    let files = collect_files(case).expect("collect case files");
    let files: Vec<_> = files
        .into_iter()
        .map(|mut f| {
            f.path = f.path.strip_prefix(case).expect("under case").to_path_buf();
            f
        })
        .collect();
    let result = validate(&files);
    let mut out = String::new();
    for d in &result.diagnostics {
        writeln!(out, "{d}").unwrap();
    }
    let m = &result.model;
    let mut names: Vec<String> = Vec::new();
    names.extend(m.workspaces.keys().map(|n| format!("Workspace/{n}")));
    names.extend(m.connections.keys().map(|n| format!("Connection/{n}")));
    names.extend(
        m.integrations
            .keys()
            .map(|n| format!("ProjectIntegration/{n}")),
    );
    names.extend(m.field_mappings.keys().map(|n| format!("FieldMapping/{n}")));
    names.extend(m.sync_jobs.keys().map(|n| format!("SyncJob/{n}")));
    writeln!(out, "--- model: {}", names.join(", ")).unwrap();
    out
}

#[test]
fn every_case_matches_its_expected_diagnostics() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut cases: Vec<PathBuf> = fs::read_dir(cases_dir())
        .expect("cases dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 18,
        "expected the full table of cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let actual = render(case);
        let expected_path = case.join("expected.txt");
        if update {
            fs::write(&expected_path, &actual).expect("write snapshot");
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "== {}\n-- expected:\n{expected}-- actual:\n{actual}",
                case.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) differ (UPDATE_SNAPSHOTS=1 rewrites them; review the diff):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
