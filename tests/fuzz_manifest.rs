//! Property-based fuzzing of the manifest loader (issue 6), through the path `tandem validate`
//! takes: `collect_files` on a directory, then `validate`.
//!
//! Inputs: arbitrary bytes, YAML-shaped text generated from a grammar (mappings, sequences,
//! scalars, anchors, aliases, tags, multi-documents, tandem's own keys so documents get past
//! identification), and mutations (byte flips, truncation, insertion) of the shipped examples.
//! Properties: validation never panics; every diagnostic names the file it is about and a
//! line/column inside it; a valid set stays valid after no-op edits; and a rejected file never
//! takes resources of other files down with it unless they depend on it.
//!
//! Ordinary `cargo test` tests with a bounded number of cases: `TANDEM_FUZZ_CASES` (default
//! below) sets it, e.g. `TANDEM_FUZZ_CASES=5000 cargo test --test fuzz_manifest` for a longer
//! run. Shrinking is capped in iterations and time so a failure reports promptly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::Config;
use tandem::manifest::{collect_files, validate, CollectError, Kind, ResourceRef, SourceFile};

/// Cases per property when `TANDEM_FUZZ_CASES` is not set: a few seconds each in a debug build.
const DEFAULT_CASES: u32 = 1000;

fn config() -> Config {
    let cases = std::env::var("TANDEM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        max_shrink_iters: 512,
        // Milliseconds: a failure is reported (shrunk as far as it got) instead of shrinking on.
        max_shrink_time: 15_000,
        // The seed and the minimal input are printed; nothing is written into the source tree.
        failure_persistence: None,
        ..Config::default()
    }
}

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// The shipped examples, as `collect_files` reads them.
fn examples() -> &'static [SourceFile] {
    static EXAMPLES: OnceLock<Vec<SourceFile>> = OnceLock::new();
    EXAMPLES.get_or_init(|| {
        let files = collect_files(&examples_dir()).expect("collect examples");
        assert!(files.len() >= 5, "examples missing: {}", files.len());
        assert!(validate(&files).is_valid(), "the examples must be valid");
        files
    })
}

/// Every diagnostic names one of `files` and a line/column inside it (the line after the last
/// is allowed: that is where "unexpected end of file" points).
fn assert_diagnostics_inside(files: &[SourceFile], diagnostics: &[tandem::manifest::Diagnostic]) {
    // Length in characters of each line, per file, computed once.
    let lines: Vec<Vec<usize>> = files
        .iter()
        .map(|f| {
            yaml_lines(&f.text)
                .iter()
                .map(|l| l.chars().count())
                .collect()
        })
        .collect();
    for d in diagnostics {
        let i = files
            .iter()
            .position(|f| f.path == d.location.file)
            .unwrap_or_else(|| panic!("{d}: names a file that was not validated"));
        let count = lines[i].len();
        assert!(
            d.location.line >= 1 && d.location.line <= count + 1 && d.location.column >= 1,
            "{d}: outside the {count}-line file {:?}",
            files[i].text
        );
        // The column is inside the line it names (or one past its end).
        if let Some(len) = lines[i].get(d.location.line - 1) {
            assert!(
                d.location.column <= len + 1,
                "{d}: column past the end of its line in {:?}",
                files[i].text
            );
        }
        assert!(!d.message.trim().is_empty(), "{d}: empty message");
    }
}

/// Lines as YAML (and editors) count them: `\n`, `\r\n` and a lone `\r` all end a line.
fn yaml_lines(text: &str) -> Vec<String> {
    let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
    normalised.lines().map(str::to_string).collect()
}

/// Writes `bytes` as the only manifest of a fresh directory and loads it like `tandem validate`:
/// a non-UTF-8 file is a typed collection error, anything else validates.
fn load_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fuzz.yaml");
    std::fs::write(&path, bytes).expect("write");
    match collect_files(dir.path()) {
        Err(CollectError::NotUtf8(p)) => {
            prop_assert_eq!(p, path);
            prop_assert!(std::str::from_utf8(bytes).is_err());
        }
        Err(e) => return Err(TestCaseError::fail(format!("unexpected error: {e}"))),
        Ok(files) => {
            prop_assert_eq!(files.len(), 1);
            let v = validate(&files);
            assert_diagnostics_inside(&files, &v.diagnostics);
        }
    }
    Ok(())
}

fn in_memory(text: String) -> Vec<SourceFile> {
    vec![SourceFile {
        path: PathBuf::from("manifests/fuzz.yaml"),
        text,
    }]
}

// ---- a grammar of YAML-shaped text ----

/// A YAML tree before rendering.
#[derive(Debug, Clone)]
enum Y {
    Scalar(String),
    Seq(Vec<Y>),
    Map(Vec<(String, Y)>),
}

/// Keys tandem reads, plus a few it does not, so documents reach every validation pass.
const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "spec",
    "id",
    "displayName",
    "url",
    "deployment",
    "auth",
    "email",
    "apiToken",
    "file",
    "env",
    "webhookSecret",
    "webhook",
    "publicUrl",
    "itemTypes",
    "parent",
    "statuses",
    "fields",
    "type",
    "options",
    "connection",
    "workspace",
    "project",
    "board",
    "fieldMapping",
    "direction",
    "types",
    "jira",
    "ignore",
    "secondaryTypes",
    "conflicts",
    "resync",
    "suspend",
    "primary",
    "components",
    "releases",
    "storyPoints",
    "custom",
    "integration",
    "fromJira",
    "toJira",
    "scope",
    "jql",
    "<<",
    "unknownKey",
    "",
];

const SCALARS: &[&str] = &[
    "tandem/v1",
    "tandem/v2",
    "Workspace",
    "Connection",
    "ProjectIntegration",
    "FieldMapping",
    "SyncJob",
    "acme",
    "acme-cloud",
    "acme-product",
    "web",
    "Epic",
    "Story",
    "To Do",
    "https://acme.atlassian.net",
    "cloud",
    "dataCenter",
    "twoWay",
    "10m",
    "true",
    "false",
    "null",
    "~",
    "0",
    "-1",
    "18446744073709551616",
    "1e400",
    ".nan",
    "0x1F",
    "'single ''quoted'''",
    "\"double \\\"quoted\\\" \\u00e9\\n\"",
    "\"\\xZZ\"",
    "ünïcödé ✓",
    "a: b",
    "- x",
    "#not a comment",
    "!!str 12",
    "!!int x",
    "!custom tagged",
    "!!binary aGk=",
    "&anchor anchored",
    "*anchor",
    "*undefined",
    "? complex",
    "|",
    ">-",
    "%",
    "@",
    "`",
    "{",
    "]",
];

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(SCALARS).prop_map(str::to_string),
        1 => "[a-zA-Z0-9 _./:-]{0,12}",
        1 => any::<u64>().prop_map(|n| n.to_string()),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => proptest::sample::select(KEYS).prop_map(str::to_string),
        1 => scalar(),
    ]
}

fn tree() -> impl Strategy<Value = Y> {
    scalar()
        .prop_map(Y::Scalar)
        .prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Y::Seq),
                proptest::collection::vec((key(), inner), 0..6).prop_map(Y::Map),
            ]
        })
}

/// What may prefix a node: nothing, an anchor, a tag, or both.
fn decoration() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just(String::new()),
        1 => "&[a-c]".prop_map(|a| format!("{a} ")),
        1 => proptest::sample::select(&["!!map ", "!!seq ", "!!str ", "!local ", "!<tag:x> "][..])
            .prop_map(str::to_string),
        1 => "&[a-c]".prop_map(|a| format!("{a} !!map ")),
    ]
}

/// Renders `y` in block style at `indent`, or in flow style when `flow` (and for empty
/// collections).
fn render(
    y: &Y,
    indent: usize,
    flow: bool,
    deco: &mut impl Iterator<Item = String>,
    out: &mut String,
) {
    let pad = " ".repeat(indent);
    match y {
        Y::Scalar(s) => out.push_str(s),
        Y::Seq(items) if flow || items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&deco.next().unwrap_or_default());
                render(item, indent, true, deco, out);
            }
            out.push(']');
        }
        Y::Map(entries) if flow || entries.is_empty() => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push_str(": ");
                out.push_str(&deco.next().unwrap_or_default());
                render(v, indent, true, deco, out);
            }
            out.push('}');
        }
        Y::Seq(items) => {
            for item in items {
                out.push('\n');
                out.push_str(&pad);
                out.push_str("- ");
                out.push_str(&deco.next().unwrap_or_default());
                render(item, indent + 2, false, deco, out);
            }
        }
        Y::Map(entries) => {
            for (k, v) in entries {
                out.push('\n');
                out.push_str(&pad);
                out.push_str(k);
                out.push(':');
                let d = deco.next().unwrap_or_default();
                match v {
                    Y::Scalar(_) => {
                        out.push(' ');
                        out.push_str(&d);
                    }
                    _ if !d.is_empty() => {
                        out.push(' ');
                        out.push_str(d.trim_end());
                    }
                    _ => {}
                }
                render(v, indent + 2, false, deco, out);
            }
        }
    }
}

/// One document: often with a real header so it is identified and deserialized.
fn document() -> impl Strategy<Value = String> {
    let kind = proptest::sample::select(&Kind::ALL[..]);
    (
        any::<bool>(),
        kind,
        "[a-z][a-z0-9-]{0,8}",
        tree(),
        any::<bool>(),
        proptest::collection::vec(decoration(), 0..24),
    )
        .prop_map(|(header, kind, name, spec, flow, decos)| {
            let mut deco = decos.into_iter();
            let mut out = String::new();
            if header {
                out.push_str(&format!(
                    "apiVersion: tandem/v1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:"
                ));
                if flow {
                    out.push(' ');
                }
                render(&spec, 2, flow, &mut deco, &mut out);
            } else {
                render(&spec, 0, flow, &mut deco, &mut out);
            }
            out.push('\n');
            out
        })
}

/// Documents joined with separators, comments and directives.
fn yaml_text() -> impl Strategy<Value = String> {
    let sep = proptest::sample::select(
        &[
            "---\n",
            "--- \n",
            "...\n---\n",
            "%YAML 1.2\n---\n",
            "# comment\n---\n",
            "---\n---\n",
        ][..],
    );
    (
        proptest::collection::vec((sep, document()), 1..4),
        any::<bool>(),
    )
        .prop_map(|(docs, leading)| {
            let mut out = String::new();
            for (i, (sep, doc)) in docs.into_iter().enumerate() {
                if i > 0 || leading {
                    out.push_str(sep);
                }
                out.push_str(&doc);
            }
            out
        })
}

// ---- mutations of real files ----

#[derive(Debug, Clone)]
enum Mutation {
    /// XOR one byte (position as a fraction of the length) with a non-zero mask.
    Flip(f64, u8),
    /// Keep this fraction of the file.
    Truncate(f64),
    /// Insert bytes at a position.
    Insert(f64, Vec<u8>),
    /// Remove a range (start fraction, length).
    Delete(f64, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let frac = 0.0..1.0f64;
    let snippet = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..8),
        proptest::sample::select(
            &[
                "\n", ":", " ", "\t", "- ", "#", "'", "\"", "&a ", "*a", "!!str ", "[", "{", "}",
                "\n---\n", "\u{feff}", "\r\n", "\0", "é"
            ][..]
        )
        .prop_map(|s| s.as_bytes().to_vec()),
    ];
    prop_oneof![
        3 => (frac.clone(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        1 => frac.clone().prop_map(Mutation::Truncate),
        3 => (frac.clone(), snippet).prop_map(|(at, b)| Mutation::Insert(at, b)),
        1 => (frac, 1..40usize).prop_map(|(at, n)| Mutation::Delete(at, n)),
    ]
}

fn apply(text: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut b = text.to_vec();
    let at = |f: f64, len: usize| ((f * len as f64) as usize).min(len);
    for m in mutations {
        match m {
            Mutation::Flip(f, mask) if !b.is_empty() => {
                let i = at(*f, b.len() - 1);
                b[i] ^= mask;
            }
            Mutation::Flip(..) => {}
            Mutation::Truncate(f) => b.truncate(at(*f, b.len())),
            Mutation::Insert(f, bytes) => {
                let i = at(*f, b.len());
                b.splice(i..i, bytes.iter().copied());
            }
            Mutation::Delete(f, n) => {
                let i = at(*f, b.len());
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
        }
    }
    b
}

/// Resources of the valid examples, by file, and which resources each one needs (its
/// references, transitively).
struct ExampleModel {
    by_file: BTreeMap<PathBuf, BTreeSet<ResourceRef>>,
    needs: BTreeMap<ResourceRef, BTreeSet<ResourceRef>>,
}

fn rref(kind: Kind, name: &str) -> ResourceRef {
    ResourceRef {
        kind,
        name: name.to_string(),
    }
}

fn example_model() -> &'static ExampleModel {
    static MODEL: OnceLock<ExampleModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let m = validate(examples()).model;
        let mut by_file: BTreeMap<PathBuf, BTreeSet<ResourceRef>> = BTreeMap::new();
        let mut direct: BTreeMap<ResourceRef, BTreeSet<ResourceRef>> = BTreeMap::new();
        let mut add = |r: ResourceRef, file: &Path, deps: Vec<ResourceRef>| {
            by_file
                .entry(file.to_path_buf())
                .or_default()
                .insert(r.clone());
            direct.entry(r).or_default().extend(deps);
        };
        for w in m.workspaces.values() {
            add(rref(Kind::Workspace, &w.name), &w.source.file, vec![]);
        }
        for c in m.connections.values() {
            add(rref(Kind::Connection, &c.name), &c.source.file, vec![]);
        }
        for f in m.field_mappings.values() {
            add(rref(Kind::FieldMapping, &f.name), &f.source.file, vec![]);
        }
        for i in m.integrations.values() {
            let mut deps = vec![
                rref(Kind::Connection, &i.connection),
                rref(Kind::Workspace, &i.workspace),
            ];
            deps.extend(i.field_mapping.iter().map(|f| rref(Kind::FieldMapping, f)));
            add(
                rref(Kind::ProjectIntegration, &i.name),
                &i.source.file,
                deps,
            );
        }
        for j in m.sync_jobs.values() {
            let deps = vec![rref(Kind::ProjectIntegration, &j.integration)];
            add(rref(Kind::SyncJob, &j.name), &j.source.file, deps);
        }
        // Transitive closure (the graph is three levels deep).
        let mut needs = direct.clone();
        for _ in 0..3 {
            for (r, deps) in needs.clone() {
                let more: BTreeSet<ResourceRef> = deps
                    .iter()
                    .flat_map(|d| needs.get(d).cloned().unwrap_or_default())
                    .collect();
                needs.get_mut(&r).expect("present").extend(more);
            }
        }
        ExampleModel { by_file, needs }
    })
}

fn in_model(m: &tandem::manifest::Model, r: &ResourceRef) -> bool {
    match r.kind {
        Kind::Workspace => m.workspaces.contains_key(&r.name),
        Kind::Connection => m.connections.contains_key(&r.name),
        Kind::ProjectIntegration => m.integrations.contains_key(&r.name),
        Kind::FieldMapping => m.field_mappings.contains_key(&r.name),
        Kind::SyncJob => m.sync_jobs.contains_key(&r.name),
    }
}

/// Replaces example `index` by `mutated` in a copy of the examples directory and validates the
/// set through `collect_files`. Resources of the other files stay valid unless they need a
/// resource of the mutated file, or the mutated file now declares something that collides with
/// them (same name, display name, workspace id or project), which the error says.
fn mutated_next_to_the_others(index: usize, mutated: &[u8]) -> Result<(), TestCaseError> {
    let examples = examples();
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, f) in examples.iter().enumerate() {
        let name = f.path.file_name().expect("name");
        let bytes = if i == index {
            mutated
        } else {
            f.text.as_bytes()
        };
        std::fs::write(dir.path().join(name), bytes).expect("write");
    }
    let files = match collect_files(dir.path()) {
        Err(CollectError::NotUtf8(_)) => {
            prop_assert!(std::str::from_utf8(mutated).is_err());
            return Ok(());
        }
        Err(e) => return Err(TestCaseError::fail(format!("unexpected error: {e}"))),
        Ok(files) => files,
    };
    prop_assert_eq!(files.len(), examples.len());
    let v = validate(&files);
    assert_diagnostics_inside(&files, &v.diagnostics);

    let mutated_name = examples[index].path.file_name().expect("name");
    let mutated_path = dir.path().join(mutated_name);
    let em = example_model();
    let declared_in_mutated: BTreeSet<ResourceRef> = em
        .by_file
        .get(&examples[index].path)
        .cloned()
        .unwrap_or_default();
    // What the mutated file declares now, valid or not, as `Kind/name`.
    let now_in_mutated: BTreeSet<String> = v
        .diagnostics
        .iter()
        .filter(|d| d.location.file == mutated_path)
        .filter_map(|d| d.resource.as_ref().map(ToString::to_string))
        .chain(v.model_resources_in(&mutated_path))
        .collect();
    for (file, resources) in &em.by_file {
        if file == &examples[index].path {
            continue;
        }
        for r in resources {
            let needs_mutated = em.needs[r].iter().any(|d| declared_in_mutated.contains(d));
            if needs_mutated || in_model(&v.model, r) {
                continue;
            }
            let errors: Vec<String> = v.errors_for(r).map(ToString::to_string).collect();
            let collides = v.errors_for(r).any(|d| {
                let text = format!("{} {}", d.message, d.hint.as_deref().unwrap_or(""));
                text.contains(&mutated_path.display().to_string())
                    || now_in_mutated.iter().any(|m| text.contains(m.as_str()))
            });
            prop_assert!(
                collides,
                "{r} (in {}) was taken down by the mutated {}:\n{}\nmutated text:\n{}",
                file.display(),
                mutated_name.to_string_lossy(),
                errors.join("\n"),
                String::from_utf8_lossy(mutated)
            );
        }
    }
    Ok(())
}

/// `Kind/name` of the model's resources declared in `file`.
trait ModelResourcesIn {
    fn model_resources_in(&self, file: &Path) -> Vec<String>;
}

impl ModelResourcesIn for tandem::manifest::Validation {
    fn model_resources_in(&self, file: &Path) -> Vec<String> {
        let m = &self.model;
        let mut out = Vec::new();
        let mut add = |kind: Kind, name: &str, source: &Path| {
            if source == file {
                out.push(rref(kind, name).to_string());
            }
        };
        m.workspaces
            .values()
            .for_each(|x| add(Kind::Workspace, &x.name, &x.source.file));
        m.connections
            .values()
            .for_each(|x| add(Kind::Connection, &x.name, &x.source.file));
        m.field_mappings
            .values()
            .for_each(|x| add(Kind::FieldMapping, &x.name, &x.source.file));
        m.integrations
            .values()
            .for_each(|x| add(Kind::ProjectIntegration, &x.name, &x.source.file));
        m.sync_jobs
            .values()
            .for_each(|x| add(Kind::SyncJob, &x.name, &x.source.file));
        out
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_are_a_typed_error_or_diagnostics_inside_the_file(
        // Mostly printable ASCII, so that many inputs are UTF-8 and reach the parser.
        bytes in proptest::collection::vec(prop_oneof![1 => any::<u8>(), 12 => 0x09u8..0x7f], 0..2048)
    ) {
        load_bytes(&bytes)?;
    }

    #[test]
    fn arbitrary_text_never_panics_and_diagnostics_point_inside_it(
        text in proptest::collection::vec(
            prop_oneof![any::<char>(), proptest::sample::select(&[':', ' ', '\n', '-', '[', '{', '&', '*', '!', '#', '"', '\''][..])],
            0..512,
        ).prop_map(|c| c.into_iter().collect::<String>())
    ) {
        let files = in_memory(text);
        let v = validate(&files);
        assert_diagnostics_inside(&files, &v.diagnostics);
    }

    #[test]
    fn yaml_shaped_documents_never_panic_and_diagnostics_point_inside_them(text in yaml_text()) {
        let files = in_memory(text);
        let v = validate(&files);
        assert_diagnostics_inside(&files, &v.diagnostics);
        // Whatever was accepted really is in the model, and vice versa.
        prop_assert_eq!(v.is_valid(), v.error_count() == 0);
        prop_assert!(v.rejected().iter().all(|r| !in_model(&v.model, r)));
    }

    #[test]
    fn mutated_examples_never_take_the_other_files_down(
        index in 0..10usize,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let examples = examples();
        let index = index % examples.len();
        let mutated = apply(examples[index].text.as_bytes(), &mutations);
        mutated_next_to_the_others(index, &mutated)?;
    }

    #[test]
    fn valid_examples_stay_valid_after_no_op_edits(
        index in 0..10usize,
        edit in 0..5usize,
        comment in "[ -~]{0,40}",
    ) {
        let examples = examples();
        let index = index % examples.len();
        let mut files = examples.to_vec();
        let text = &files[index].text;
        let edited = match edit {
            // A comment line appended, with or without the final newline before it.
            0 => format!("{text}# {comment}\n"),
            1 => format!("{}\n# {comment}", text.trim_end_matches('\n')),
            // Trailing blank lines and a document end marker.
            2 => format!("{text}\n\n...\n"),
            // A leading document start and comment.
            3 => format!("# {comment}\n---\n{text}"),
            // Windows line endings.
            _ => text.replace('\n', "\r\n"),
        };
        files[index].text = edited;
        let v = validate(&files);
        let rendered: Vec<String> = v.diagnostics.iter().map(ToString::to_string).collect();
        prop_assert!(v.is_valid(), "edit {} made it invalid:\n{}", edit, rendered.join("\n"));
        let before = validate(examples).model;
        prop_assert_eq!(before.len(), v.model.len());
        prop_assert_eq!(
            before.connections.keys().collect::<Vec<_>>(),
            v.model.connections.keys().collect::<Vec<_>>()
        );
    }
}

/// The fixed hostile shapes the generators only reach by luck: deep nesting, alias bombs, huge
/// scalars, many documents. Each must come back as diagnostics, not a crash or a hang.
#[test]
fn pathological_yaml_is_refused_with_diagnostics() {
    let bomb = {
        let mut s = String::from("apiVersion: tandem/v1\nkind: Workspace\nmetadata: {name: x}\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        s
    };
    let cases = [
        ("deep flow sequence", "[".repeat(20_000)),
        ("deep flow mapping", "{a: ".repeat(20_000)),
        (
            "deep closed nesting",
            format!("{}{}", "[".repeat(5_000), "]".repeat(5_000)),
        ),
        (
            "deep block nesting",
            (0..2_000)
                .map(|i| format!("{}k:\n", " ".repeat(i)))
                .collect(),
        ),
        ("alias bomb", bomb),
        (
            "huge scalar",
            format!(
                "apiVersion: tandem/v1\nkind: Connection\nmetadata:\n  name: {}\n",
                "n".repeat(1 << 20)
            ),
        ),
        ("many documents", "---\nkind: Workspace\n".repeat(20_000)),
        ("NUL bytes", "apiVersion: tandem/v1\0\nkind: \0\n".into()),
    ];
    for (what, text) in cases {
        // Deep inputs on a thread with the default test stack: a stack overflow would abort the
        // whole test binary, which is the failure this guards against.
        let files = in_memory(text);
        let v = validate(&files);
        assert_diagnostics_inside(&files, &v.diagnostics);
        assert!(!v.is_valid(), "{what}: accepted");
    }
}
