//! Loading a manifest directory: what is read, what is skipped, and that links cannot trap it.

use std::fs;
use std::path::Path;

use tandem::manifest::{collect_files, validate, CollectError};

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, text).expect("write");
}

fn names(root: &Path) -> Vec<String> {
    collect_files(root)
        .expect("collect")
        .into_iter()
        .map(|f| {
            f.path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn reads_yaml_recursively_in_sorted_order_and_skips_dot_names() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    write(&root.join("b.yaml"), "");
    write(&root.join("a.yml"), "");
    write(&root.join("sub/deeper/c.yaml"), "");
    write(&root.join("notes.txt"), "");
    write(&root.join("README.md"), "");
    write(&root.join(".hidden.yaml"), "");
    write(&root.join(".git/config.yaml"), "");
    write(&root.join("..2026_01_01/x.yaml"), "");
    assert_eq!(names(root), ["a.yml", "b.yaml", "sub/deeper/c.yaml"]);
}

#[cfg(unix)]
#[test]
fn follows_symlinks_and_survives_loops() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().expect("tempdir");
    let outside = tmp.path().join("outside");
    write(&outside.join("linked-dir.yaml"), "");
    write(&tmp.path().join("target.yaml"), "");
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("sub")).expect("mkdir");
    symlink(&outside, root.join("shared")).expect("dir link");
    symlink(tmp.path().join("target.yaml"), root.join("file-link.yaml")).expect("file link");
    symlink(&root, root.join("sub/loop")).expect("loop link");
    symlink(root.join("file-link.yaml"), root.join("sub/again.yaml")).expect("second link");
    // The Kubernetes ConfigMap layout: visible names are links into a hidden, swapped directory.
    write(&root.join("..data_v1/cm.yaml"), "");
    symlink("..data_v1", root.join("..data")).expect("data link");
    symlink("..data/cm.yaml", root.join("cm.yaml")).expect("cm link");

    assert_eq!(
        names(&root),
        ["cm.yaml", "file-link.yaml", "shared/linked-dir.yaml"],
        "each file once, loop cut, hidden farm skipped"
    );
}

#[cfg(unix)]
#[test]
fn a_dangling_manifest_link_fails_instead_of_vanishing() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().expect("tempdir");
    symlink(tmp.path().join("gone.yaml"), tmp.path().join("app.yaml")).expect("link");
    symlink(tmp.path().join("gone.txt"), tmp.path().join("notes.txt")).expect("link");
    match collect_files(tmp.path()) {
        Err(CollectError::Io { path, .. }) => assert!(path.ends_with("app.yaml")),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn a_missing_root_is_an_error_not_an_empty_set() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = collect_files(&tmp.path().join("nope")).expect_err("missing dir");
    assert!(matches!(err, CollectError::NotFound(_)));
    assert!(err.to_string().contains("does not exist"));
}

#[test]
fn several_documents_per_file_and_a_single_file_root() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("all.yaml");
    write(
        &file,
        "# leading comment\n---\napiVersion: tandem/v1\nkind: FieldMapping\nmetadata: {name: a}\nspec: {}\n---\n---\napiVersion: tandem/v1\nkind: FieldMapping\nmetadata: {name: b}\nspec: {}\n...\n",
    );
    let files = collect_files(&file).expect("single file");
    assert_eq!(files.len(), 1);
    let result = validate(&files);
    assert!(result.diagnostics.is_empty(), "{:?}", result.diagnostics);
    assert_eq!(
        result.model.field_mappings.keys().collect::<Vec<_>>(),
        ["a", "b"]
    );
}
