//! The shipped examples: they validate cleanly, mean what their comments say, and point editors
//! at the right schema.

use std::path::{Path, PathBuf};
use std::process::Command;

use tandem::manifest::model::{Auth, Deployment, Direction, JobSpec, Scope, StoryPoints};
use tandem::manifest::{collect_files, schema, validate, Kind, SecretRef};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn examples_validate_without_any_diagnostic() {
    let files = collect_files(&root().join("examples")).expect("collect examples");
    let result = validate(&files);
    let rendered: Vec<String> = result.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(rendered.is_empty(), "diagnostics:\n{}", rendered.join("\n"));
    let m = &result.model;
    assert_eq!(m.workspaces.len(), 1);
    assert_eq!(m.connections.len(), 2);
    assert_eq!(m.integrations.len(), 3);
    assert_eq!(m.field_mappings.len(), 2);
    assert_eq!(m.sync_jobs.len(), 3);
}

#[test]
fn examples_cover_what_the_guide_describes() {
    let files = collect_files(&root().join("examples")).expect("collect examples");
    let m = validate(&files).model;

    let ws = &m.workspaces["acme-product"];
    let chain: Vec<(&str, Option<&str>)> = ws
        .item_types
        .iter()
        .map(|t| (t.name.as_str(), t.parent.as_deref()))
        .collect();
    assert_eq!(
        chain,
        [
            ("Initiative", None),
            ("Epic", Some("Initiative")),
            ("Feature", Some("Epic")),
            ("Story", Some("Feature"))
        ]
    );
    assert!(ws
        .fields
        .iter()
        .any(|f| f.field_type.is_select() && !f.options.is_empty()));

    let cloud = &m.connections["acme-cloud"];
    assert_eq!(cloud.deployment, Some(Deployment::Cloud));
    assert!(matches!(
        &cloud.auth,
        Auth::ApiToken {
            token: SecretRef::File(_),
            ..
        }
    ));
    let dc = &m.connections["acme-dc"];
    assert_eq!(dc.deployment, Some(Deployment::DataCenter));
    assert!(matches!(
        &dc.auth,
        Auth::PersonalAccessToken(SecretRef::Env(_))
    ));

    // Two projects on one Cloud connection, one on Data Center.
    let on = |c: &str| {
        m.integrations
            .values()
            .filter(|i| i.connection == c)
            .count()
    };
    assert_eq!(on("acme-cloud"), 2);
    assert_eq!(on("acme-dc"), 1);
    assert!(m
        .integrations
        .values()
        .all(|i| i.types.len() == ws.item_types.len()));

    let cloud_fields = &m.field_mappings["cloud-fields"];
    assert_eq!(cloud_fields.primary.story_points, Some(StoryPoints::Auto));
    assert!(cloud_fields.defaults.objective.is_some());
    assert!(cloud_fields
        .custom
        .iter()
        .any(|c| c.direction == Some(Direction::FromJira)));

    let jobs: Vec<&JobSpec> = m.sync_jobs.values().map(|j| &j.job).collect();
    assert!(jobs
        .iter()
        .any(|j| matches!(j, JobSpec::FromJira { jql: Some(_) })));
    assert!(jobs.iter().any(|j| matches!(
        j,
        JobSpec::ToJira {
            scope: Scope::Sprints(_)
        }
    )));
    assert!(jobs.iter().any(|j| matches!(
        j,
        JobSpec::ToJira {
            scope: Scope::Releases(_)
        }
    )));
}

/// Editors resolve `$schema` relative to the file, so the path must exist from there and be
/// the schema of the kind the file declares.
#[test]
fn every_example_names_the_schema_of_its_kind() {
    let dir = root().join("examples");
    let files = collect_files(&dir).expect("collect examples");
    assert!(!files.is_empty());
    for file in files {
        let first = file.text.lines().next().unwrap_or_default();
        let rel = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| {
                panic!(
                    "{} does not start with the schema comment",
                    file.path.display()
                )
            });
        let schema_path = file.path.parent().expect("parent").join(rel);
        assert!(
            schema_path.is_file(),
            "{} names missing {rel}",
            file.path.display()
        );
        let kind = file
            .text
            .lines()
            .find_map(|l| l.strip_prefix("kind: "))
            .and_then(|k| Kind::parse(k.trim()))
            .unwrap_or_else(|| panic!("{} has no kind", file.path.display()));
        assert_eq!(
            Path::new(rel).file_name().and_then(|n| n.to_str()),
            Some(schema::file_name(kind)),
            "{}",
            file.path.display()
        );
    }
}

fn tandem(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run tandem")
}

#[test]
fn validate_exits_0_on_the_examples() {
    let out = tandem(&["validate", "examples"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with("valid: 11 valid resources in 10 files"),
        "{stdout}"
    );
}

#[test]
fn validate_exits_1_and_prints_located_errors_when_invalid() {
    let case = "tests/fixtures/manifests/cases/unresolved-references";
    let out = tandem(&["validate", case]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{case}/manifests.yaml:30:15: ProjectIntegration/web: Connection `clod` does not exist\n  hint: did you mean `cloud`?"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("invalid: 2 valid resources in 1 file, 5 errors and 0 warnings"),
        "{stdout}"
    );
}

#[test]
fn validate_exits_0_with_warnings_only() {
    let out = tandem(&["validate", "tests/fixtures/manifests/cases/url-normalised"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("warning: url has"), "{stdout}");
}

#[test]
fn validate_exits_2_on_a_missing_directory() {
    let out = tandem(&["validate", "examples", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no/such/dir does not exist"), "{stderr}");
}

/// The examples' secret files are not in the repository: online checks report each connection
/// as SecretUnavailable at its manifest (exit 1) instead of reaching out to Jira without
/// credentials. `tests/cli_validate_online.rs` runs the checks against the simulator.
#[test]
fn validate_online_reports_unresolvable_secrets_at_the_connection() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["validate", "--online", "examples"])
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("TANDEM_SECRETS")
        .env_remove("ACME_DC_TOKEN")
        .env_remove("ACME_DC_WEBHOOK_SECRET")
        .output()
        .expect("tandem runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("Connection/acme-cloud: SecretUnavailable"),
        "{stdout}"
    );
}

#[test]
fn literal_secrets_never_reach_the_output() {
    let out = tandem(&["validate", "tests/fixtures/manifests/cases/literal-secrets"]);
    assert_eq!(out.status.code(), Some(1));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("`apiToken` must reference a secret"), "{all}");
    for secret in [
        "ATATT3xFfGF0-super-secret-token",
        "hunter2",
        "12345678",
        "hunter3",
    ] {
        assert!(!all.contains(secret), "secret {secret} leaked:\n{all}");
    }
}
