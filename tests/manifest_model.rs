//! What the daemon relies on from validation: which resources survive, how they are identified,
//! and that a digest changes exactly when a spec does.

use std::path::PathBuf;

use tandem::manifest::{validate, Kind, ResourceRef, Severity, SourceFile, Validation};

const WORKSPACE: &str = "apiVersion: tandem/v1
kind: Workspace
metadata:
  name: product
spec:
  id: product
  itemTypes:
    - name: Epic
    - name: Story
      parent: Epic
  statuses: [To Do, Done]
";

const CONNECTION: &str = "apiVersion: tandem/v1
kind: Connection
metadata:
  name: cloud
spec:
  displayName: Cloud
  url: https://acme.atlassian.net
  auth: {email: bot@acme.com, apiToken: {file: token}}
";

fn run(files: &[(&str, &str)]) -> Validation {
    let files: Vec<SourceFile> = files
        .iter()
        .map(|(path, text)| SourceFile {
            path: PathBuf::from(path),
            text: text.to_string(),
        })
        .collect();
    validate(&files)
}

#[test]
fn an_invalid_resource_does_not_take_the_others_down() {
    let broken = CONNECTION
        .replace("name: cloud", "name: other")
        .replace("Cloud", "Other")
        .replace("{file: token}", "plain-text");
    let v = run(&[
        ("ws.yaml", WORKSPACE),
        ("cloud.yaml", CONNECTION),
        ("other.yaml", &broken),
    ]);
    assert_eq!(v.error_count(), 1);
    assert!(v.model.workspaces.contains_key("product"));
    assert!(v.model.connections.contains_key("cloud"));
    assert!(!v.model.connections.contains_key("other"));
    let other = ResourceRef {
        kind: Kind::Connection,
        name: "other".into(),
    };
    assert_eq!(
        v.rejected().into_iter().collect::<Vec<_>>(),
        std::slice::from_ref(&other)
    );
    let errors: Vec<_> = v.errors_for(&other).collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].location.file, PathBuf::from("other.yaml"));
    assert_eq!(errors[0].location.line, 8);
}

#[test]
fn a_file_with_a_syntax_error_is_reported_as_broken() {
    let v = run(&[("ws.yaml", WORKSPACE), ("bad.yaml", "kind: [Connection\n")]);
    assert_eq!(v.broken_files, [PathBuf::from("bad.yaml")]);
    assert!(v.rejected().is_empty(), "nothing nameable was rejected");
    assert!(v.model.workspaces.contains_key("product"));
}

#[test]
fn digests_ignore_formatting_but_not_content() {
    let digest = |text: &str| {
        let v = run(&[("c.yaml", text)]);
        assert!(v.is_valid(), "{:?}", v.diagnostics);
        v.model.connections["cloud"].digest.clone()
    };
    let base = digest(CONNECTION);
    assert_eq!(base.len(), 64);
    let reformatted = "# comment\napiVersion: tandem/v1\nkind: Connection\nmetadata: {name: cloud, labels: {team: a}}\nspec:\n  auth:\n    apiToken:\n      file: token\n    email: bot@acme.com\n  url: 'https://acme.atlassian.net'\n  displayName: Cloud\n";
    assert_eq!(
        digest(reformatted),
        base,
        "key order, quoting, labels are not spec changes"
    );
    assert_ne!(digest(&CONNECTION.replace("Cloud", "Cloud EU")), base);
    assert_ne!(
        digest(&CONNECTION.replace("{file: token}", "{file: token2}")),
        base
    );
}

#[test]
fn urls_are_normalised_in_the_model_with_a_warning() {
    let v = run(&[(
        "c.yaml",
        &CONNECTION.replace(
            "url: https://acme.atlassian.net",
            "url: ' https://acme.atlassian.net/ '",
        ),
    )]);
    assert!(v.is_valid());
    assert_eq!(v.warning_count(), 1);
    assert_eq!(v.diagnostics[0].severity, Severity::Warning);
    assert_eq!(
        v.model.connections["cloud"].url,
        "https://acme.atlassian.net"
    );
}

#[test]
fn resources_record_where_they_were_declared() {
    let text = format!("{WORKSPACE}---\n{CONNECTION}");
    let v = run(&[("all.yaml", &text)]);
    assert!(v.is_valid(), "{:?}", v.diagnostics);
    assert_eq!(v.model.workspaces["product"].source.line, 1);
    assert_eq!(v.model.connections["cloud"].source.line, 13);
    assert_eq!(
        v.model.connections["cloud"].source.to_string(),
        "all.yaml:13:1"
    );
}
