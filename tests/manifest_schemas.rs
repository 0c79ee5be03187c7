//! `schemas/` is generated; this fails when the committed files are stale.
//! Regenerate with `cargo run -- schema --out schemas`.

use std::fs;
use std::path::Path;
use std::process::Command;

use tandem::manifest::{schema, Kind};

#[test]
fn committed_schemas_match_the_generated_ones() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["schema", "--out"])
        .arg(tmp.path())
        .output()
        .expect("run tandem schema");
    assert_eq!(out.status.code(), Some(0));

    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let mut generated: Vec<String> = fs::read_dir(tmp.path())
        .expect("read generated")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    generated.sort();
    let mut expected: Vec<String> = Kind::ALL
        .iter()
        .map(|k| schema::file_name(*k).to_string())
        .collect();
    expected.sort();
    assert_eq!(generated, expected);

    for name in generated {
        let fresh = fs::read_to_string(tmp.path().join(&name)).expect("generated schema");
        let old = fs::read_to_string(committed.join(&name)).unwrap_or_default();
        assert!(
            fresh == old,
            "schemas/{name} is stale: run `cargo run -- schema --out schemas` and commit"
        );
    }
}

#[test]
fn schemas_describe_fields_and_reject_unknown_ones() {
    let text = &schema::render_all()
        .into_iter()
        .find(|(n, _)| *n == "connection.json")
        .expect("connection schema")
        .1;
    let value: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
    assert_eq!(value["additionalProperties"], false);
    assert_eq!(value["properties"]["kind"]["const"], "Connection");
    let spec = &value["$defs"]["ConnectionSpec"];
    assert_eq!(spec["additionalProperties"], false);
    let url = spec["properties"]["url"]["description"]
        .as_str()
        .expect("url description");
    assert!(url.contains("trailing slash"), "{url}");
    // Secrets are references only: a bare string must not validate in an editor.
    let secret = &value["$defs"]["SecretRef"];
    assert!(secret["oneOf"]
        .as_array()
        .expect("oneOf")
        .iter()
        .all(|s| s["type"] == "object"));
}
