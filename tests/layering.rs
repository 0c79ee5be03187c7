//! The layering stated in ARCHITECTURE.md ("## Layering"), enforced: every `crate::…` path under
//! `src/` must be one its module's row allows, and neither the rules nor the code may form a
//! cycle among the top-level modules. A broken rule fails with the file, the line and the row
//! it broke (as rust-analyzer checks its own architecture).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Rules = BTreeMap<String, BTreeSet<String>>;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Items of the crate root (`src/lib.rs`) every module may use.
const ROOT_ITEMS: [&str; 1] = ["error_chain"];

/// The `| module | may use | why |` table under `## Layering`.
fn rules() -> Rules {
    let text = std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md at the repository root");
    let section = text
        .split("\n## Layering")
        .nth(1)
        .expect("ARCHITECTURE.md has a `## Layering` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut rules = Rules::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let module = cells[1].trim_matches('`').to_owned();
        let allowed = cells[2]
            .split(',')
            .map(|c| c.trim().trim_matches('`').to_owned())
            .filter(|c| !c.is_empty() && c != "—")
            .collect();
        assert!(
            rules.insert(module.clone(), allowed).is_none(),
            "ARCHITECTURE.md names `{module}` twice in its layering table"
        );
    }
    assert!(!rules.is_empty(), "the layering table has no rows");
    rules
}

/// Source with comments and the contents of string and char literals blanked out (newlines
/// kept, so line numbers still hold): a `crate::` in a doc comment or a message is no import.
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('#') || next == Some('"')) && !ident_before(&b, i) {
            // Raw string r#"…"#: ends at a quote followed by as many hashes.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.extend(std::iter::repeat_n(' ', j + 1 - i));
            i = j + 1;
            while i < b.len() {
                if b[i] == '"' && (1..=hashes).all(|k| b.get(i + k) == Some(&'#')) {
                    out.extend(std::iter::repeat_n(' ', hashes + 1));
                    i += hashes + 1;
                    break;
                }
                out.push(blank(b[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}'), not a lifetime ('a).
            let end = if next == Some('\\') {
                (i + 2..b.len().min(i + 12)).find(|&j| b[j] == '\'')
            } else {
                (b.get(i + 2) == Some(&'\'')).then_some(i + 2)
            };
            match end {
                Some(end) => {
                    out.extend(std::iter::repeat_n(' ', end + 1 - i));
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

fn ident_at(code: &str) -> String {
    code.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level modules `code` names through `crate::`, with their 1-based lines; a group
/// (`crate::{a::X, b}`) names each of its members.
fn crate_paths(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().last();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 0;
                let mut start = true;
                for (k, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => start = true,
                        c if c.is_whitespace() => {}
                        _ if start && depth == 0 => {
                            start = false;
                            let name = ident_at(&group[k..]);
                            if !name.is_empty() && name != "self" {
                                found.push((n + 1, name));
                            }
                        }
                        _ => {}
                    }
                }
            } else {
                let name = ident_at(rest);
                if !name.is_empty() {
                    found.push((n + 1, name));
                }
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every use of one top-level module by another: (from, to) → where.
fn uses() -> BTreeMap<(String, String), Vec<String>> {
    let src = Path::new(ROOT).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut edges: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("a component");
        let module = Path::new(first.as_os_str())
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable source");
        for (line, target) in crate_paths(&code_only(&text)) {
            if target == module || ROOT_ITEMS.contains(&target.as_str()) {
                continue;
            }
            edges
                .entry((module.clone(), target))
                .or_default()
                .push(format!("src/{}:{line}", rel.display()));
        }
    }
    edges
}

fn top_level_modules() -> BTreeSet<String> {
    let lib = std::fs::read_to_string(Path::new(ROOT).join("src/lib.rs")).expect("src/lib.rs");
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').trim().to_owned())
        .collect()
}

/// A cycle in `graph`, as the modules along it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_owned(), 1);
        stack.push(n.to_owned());
        for m in graph.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, graph, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn every_top_level_module_has_one_row_and_the_rules_form_no_cycle() {
    let rules = rules();
    let modules = top_level_modules();
    let rows: BTreeSet<String> = rules.keys().cloned().collect();
    assert_eq!(
        rows, modules,
        "ARCHITECTURE.md's layering table must have exactly one row per `pub mod` of src/lib.rs"
    );
    for (module, allowed) in &rules {
        for a in allowed {
            assert!(
                modules.contains(a),
                "the row of `{module}` allows `{a}`, which is not a module"
            );
        }
    }
    if let Some(cycle) = find_cycle(&rules) {
        panic!("the layering table allows a cycle: {}", cycle.join(" → "));
    }
}

#[test]
fn every_crate_path_is_allowed_by_its_modules_row() {
    let rules = rules();
    let mut broken = Vec::new();
    for ((from, to), at) in uses() {
        let Some(allowed) = rules.get(&from) else {
            broken.push(format!(
                "`{from}` has no row in the layering table ({})",
                at[0]
            ));
            continue;
        };
        if !allowed.contains(&to) {
            let may: Vec<&str> = allowed.iter().map(String::as_str).collect();
            broken.push(format!(
                "{}: `{from}` uses `crate::{to}`, which its row does not allow (`{from}` may use: {})",
                at.join(", "),
                if may.is_empty() { "nothing".to_owned() } else { may.join(", ") }
            ));
        }
    }
    assert!(
        broken.is_empty(),
        "imports that break ARCHITECTURE.md's layering:\n  {}",
        broken.join("\n  ")
    );
}

#[test]
fn the_code_forms_no_cycle_among_top_level_modules() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in uses().into_keys() {
        graph.entry(from).or_default().insert(to);
    }
    assert!(
        graph.get("sync").is_some_and(|d| d.contains("jira")),
        "the scan found no use of jira by sync: it is not reading the sources"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("a module cycle: {}", cycle.join(" → "));
    }
}

#[test]
fn the_scanner_sees_imports_and_groups_and_ignores_comments_and_strings() {
    let src = r##"
//! Not an import: crate::reconcile in a doc comment.
use crate::jira::JiraClient;
use crate::{http::Secret, store};
/* crate::daemon in a block comment */
let s = "crate::app in a string"; let c = '"'; let raw = r#"crate::cli"#;
fn f<'a>(x: &'a str) -> crate::live::LiveView { todo!() }
let y = mycrate::other;
"##;
    let found: Vec<(usize, String)> = crate_paths(&code_only(src));
    let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["jira", "http", "store", "live"]);
    assert_eq!(found[0].0, 3, "line numbers survive the blanking");
    assert_eq!(found[3].0, 7);
}
