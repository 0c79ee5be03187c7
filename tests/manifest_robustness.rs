//! Bad input never panics and every diagnostic points inside the file it names: every prefix of
//! every example (the states an editor saves while someone types) is validated.

use std::path::PathBuf;

use tandem::manifest::{collect_files, validate, SourceFile};

#[test]
fn every_prefix_of_every_example_validates_without_panicking() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let examples = collect_files(&root).expect("collect examples");
    let mut checked = 0;
    for example in &examples {
        for (cut, _) in example.text.char_indices() {
            let text = &example.text[..cut];
            let file = SourceFile {
                path: PathBuf::from("prefix.yaml"),
                text: text.to_string(),
            };
            let result = validate(std::slice::from_ref(&file));
            let lines = text.lines().count().max(1);
            for d in &result.diagnostics {
                assert!(
                    d.location.line >= 1 && d.location.line <= lines + 1 && d.location.column >= 1,
                    "{d} is outside the {lines}-line input:\n{text}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 5000, "only {checked} prefixes checked");
}
