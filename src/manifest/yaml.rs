//! A YAML tree that remembers where every node came from.
//!
//! serde_yaml forgets positions once a value is parsed, but every diagnostic must point at the
//! offending key or value. This module turns the event stream of `yaml-rust2` into a small tree
//! of [`Node`]s carrying 1-based line and column, keeps mapping entries in source order (so
//! duplicate keys can be reported instead of silently overwritten) and resolves paths such as
//! `spec.types[2].jira` back to positions.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based position in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn from_marker(mark: &Marker) -> Pos {
        // yaml-rust2 counts lines from 1 but columns from 0.
        Pos {
            line: mark.line().max(1),
            column: mark.col() + 1,
        }
    }
}

/// One YAML node with the position of its first character.
#[derive(Debug, Clone)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub enum Value {
    /// A scalar as written; `plain` is false for quoted and block scalars, which are always
    /// strings, while plain ones may also be null, booleans or numbers.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: Node,
    pub value: Node,
}

/// A scalar after YAML 1.2 core-schema resolution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(&'a str),
}

impl Node {
    /// The scalar text when this node is a string-like scalar (not null).
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, plain } => {
                if *plain && is_null(text) {
                    None
                } else {
                    Some(text)
                }
            }
            _ => None,
        }
    }

    /// Levels of this subtree: 1 for a scalar.
    fn height(&self) -> usize {
        1 + match &self.value {
            Value::Scalar { .. } => 0,
            Value::Seq(items) => items.iter().map(Node::height).max().unwrap_or(0),
            Value::Map(entries) => entries
                .iter()
                .map(|e| e.key.height().max(e.value.height()))
                .max()
                .unwrap_or(0),
        }
    }

    /// Number of nodes in this subtree, keys included.
    fn size(&self) -> usize {
        1 + match &self.value {
            Value::Scalar { .. } => 0,
            Value::Seq(items) => items.iter().map(Node::size).sum(),
            Value::Map(entries) => entries.iter().map(|e| e.key.size() + e.value.size()).sum(),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if is_null(text))
    }

    pub fn resolve(&self) -> Option<Resolved<'_>> {
        match &self.value {
            Value::Scalar { text, plain: true } => Some(resolve_plain(text)),
            Value::Scalar { text, plain: false } => Some(Resolved::Str(text)),
            _ => None,
        }
    }

    /// The entry of a mapping node with this key.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key.as_str() == Some(key)),
            _ => None,
        }
    }

    /// Resolves a field path to the node it names. When the path leads nowhere (for example a
    /// field that is missing), the position of the deepest node that exists is returned, which
    /// is where a user would add the missing piece. `key` asks for the position of the final
    /// mapping key instead of its value.
    pub fn locate(&self, path: &[Seg], key: bool) -> Pos {
        let mut node = self;
        let mut key_pos: Option<Pos> = None;
        for seg in path {
            match (seg, &node.value) {
                (Seg::Key(k), Value::Map(_)) => match node.get(k) {
                    Some(entry) => {
                        key_pos = Some(entry.key.pos);
                        node = &entry.value;
                    }
                    None => return key_pos.unwrap_or(node.pos),
                },
                (Seg::Index(i), Value::Seq(items)) => match items.get(*i) {
                    Some(item) => {
                        key_pos = None;
                        node = item;
                    }
                    None => return key_pos.unwrap_or(node.pos),
                },
                _ => return key_pos.unwrap_or(node.pos),
            }
        }
        match (key, key_pos) {
            (true, Some(pos)) => pos,
            // An empty value (`key:`) has no position of its own worth showing.
            (_, Some(pos)) if node.is_null() && node.pos.line != pos.line => pos,
            _ => node.pos,
        }
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// YAML 1.2 core schema: no `yes`/`no` booleans, no sexagesimal numbers.
fn resolve_plain(text: &str) -> Resolved<'_> {
    if is_null(text) {
        return Resolved::Null;
    }
    match text {
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    let bytes = text.as_bytes();
    let first = bytes.first().copied().unwrap_or(b'x');
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Resolved::Str(text);
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(v) = u64::from_str_radix(hex, 16) {
            return Resolved::UInt(v);
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(v) = u64::from_str_radix(oct, 8) {
            return Resolved::UInt(v);
        }
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(v) = text.parse::<u64>() {
            return Resolved::UInt(v);
        }
        if let Ok(v) = text.parse::<i64>() {
            return Resolved::Int(v);
        }
    }
    let looks_float = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit());
    if looks_float {
        if let Ok(v) = text.parse::<f64>() {
            return Resolved::Float(v);
        }
    }
    Resolved::Str(text)
}

/// One segment of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Renders a path the way users write it: `spec.types[2].jira`.
pub struct PathDisplay<'a>(pub &'a [Seg]);

impl fmt::Display for PathDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// One `---` document of a file.
#[derive(Debug)]
pub struct Document {
    pub root: Node,
    /// Problems the tree builder found that YAML itself allows (duplicate keys, non-string keys).
    pub problems: Vec<(Pos, String)>,
}

/// A parsed file: every complete document, plus the syntax error that stopped parsing, if any.
#[derive(Debug, Default)]
pub struct Parsed {
    pub documents: Vec<Document>,
    pub syntax_error: Option<(Pos, String)>,
}

/// Parses every document of `text`. Documents before a syntax error are kept: they are
/// complete and valid YAML, and dropping them would make one typo hide unrelated resources.
pub fn parse(text: &str) -> Parsed {
    // Editors on Windows may save a byte-order mark, which the YAML scanner would make part of
    // the first key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut builder = Builder::default();
    // Events are pulled one at a time rather than through `Parser::load`, which recurses once
    // per nesting level and so lets a deeply nested file overflow the stack (an abort, not a
    // panic); nesting is capped here instead.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut parser = Parser::new_from_str(text);
        let mut depth = 0usize;
        loop {
            let (ev, mark) = parser
                .next_token()
                .map_err(|e| (Pos::from_marker(e.marker()), e.info().to_string()))?;
            match ev {
                Event::SequenceStart(..) | Event::MappingStart(..) => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err((
                            Pos::from_marker(&mark),
                            format!("nesting deeper than {MAX_DEPTH} levels"),
                        ));
                    }
                }
                Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
                _ => {}
            }
            let end = ev == Event::StreamEnd;
            builder.on_event(ev, mark);
            if end {
                return Ok(());
            }
        }
    }));
    let syntax_error = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some((
            Pos { line: 1, column: 1 },
            "the YAML parser failed".to_string(),
        )),
    };
    Parsed {
        documents: builder.documents,
        syntax_error,
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        pos: Pos,
        anchor: usize,
    },
    Map {
        entries: Vec<Entry>,
        key: Option<Node>,
        pos: Pos,
        anchor: usize,
    },
}

/// How deeply collections may nest, aliases expanded. Manifests nest about six levels; the cap
/// keeps every recursive walk of the tree (the parser's, serde's, ours) far from the stack limit.
const MAX_DEPTH: usize = 64;

/// How many nodes aliases may add to one document. Real manifests use a handful; the limit
/// stops a "billion laughs" file from exhausting memory.
const ALIAS_BUDGET: usize = 100_000;

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Anchored nodes with their size in nodes and their height.
    anchors: HashMap<usize, (Node, usize, usize)>,
    /// Nodes added by aliases so far in this document.
    expanded: usize,
    root: Option<Node>,
    problems: Vec<(Pos, String)>,
    documents: Vec<Document>,
}

impl Builder {
    fn insert(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            let size = node.size();
            let height = node.height();
            self.anchors.insert(anchor, (node.clone(), size, height));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    match k.as_str() {
                        Some(name) => {
                            if let Some(first) =
                                entries.iter().find(|e| e.key.as_str() == Some(name))
                            {
                                self.problems.push((
                                    k.pos,
                                    format!(
                                        "duplicate key `{name}` (first on line {})",
                                        first.key.pos.line
                                    ),
                                ));
                            }
                        }
                        None => self
                            .problems
                            .push((k.pos, "mapping keys must be strings".to_string())),
                    }
                    entries.push(Entry {
                        key: k,
                        value: node,
                    });
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from_marker(&mark);
        match ev {
            Event::DocumentStart => {
                self.stack.clear();
                self.anchors.clear();
                self.expanded = 0;
                self.root = None;
                self.problems.clear();
            }
            Event::DocumentEnd => {
                if let Some(root) = self.root.take() {
                    // A document holding only comments, or a stray `---`, is not a resource.
                    if !root.is_null() {
                        self.documents.push(Document {
                            root,
                            problems: std::mem::take(&mut self.problems),
                        });
                    }
                }
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = matches!(style, TScalarStyle::Plain);
                self.insert(
                    Node {
                        value: Value::Scalar { text, plain },
                        pos,
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                items: Vec::new(),
                pos,
                anchor,
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                entries: Vec::new(),
                key: None,
                pos,
                anchor,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, pos, anchor }) => (
                        Node {
                            value: Value::Seq(items),
                            pos,
                        },
                        anchor,
                    ),
                    Some(Frame::Map {
                        entries,
                        pos,
                        anchor,
                        ..
                    }) => {
                        // yaml-rust2 marks a block mapping after its first key; the key itself
                        // is where a reader expects the mapping to start.
                        let pos = entries.first().map_or(pos, |e| e.key.pos.min(pos));
                        (
                            Node {
                                value: Value::Map(entries),
                                pos,
                            },
                            anchor,
                        )
                    }
                    None => return,
                };
                self.insert(node, anchor);
            }
            Event::Alias(id) => {
                let depth = self.stack.len();
                let found = self.anchors.get(&id).and_then(|(node, size, height)| {
                    (self.expanded + size <= ALIAS_BUDGET && depth + height <= MAX_DEPTH + 1)
                        .then_some((node, *size))
                });
                let node = match found {
                    Some((node, size)) => {
                        self.expanded += size;
                        Node {
                            value: node.value.clone(),
                            pos,
                        }
                    }
                    None => {
                        let message = match self.anchors.get(&id) {
                            Some((_, size, _)) if self.expanded + size > ALIAS_BUDGET => {
                                "aliases expand to too many nodes".to_string()
                            }
                            Some(_) => format!("aliases nest deeper than {MAX_DEPTH} levels"),
                            None => "alias refers to an unknown anchor".to_string(),
                        };
                        self.problems.push((pos, message));
                        Node {
                            value: Value::Scalar {
                                text: "~".to_string(),
                                plain: true,
                            },
                            pos,
                        }
                    }
                };
                self.insert(node, 0);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(path: &str) -> Vec<Seg> {
        path.split('.')
            .map(|s| match s.parse::<usize>() {
                Ok(i) => Seg::Index(i),
                Err(_) => Seg::Key(s.to_string()),
            })
            .collect()
    }

    #[test]
    fn positions_point_at_keys_and_values() {
        let text = "a: 1\nspec:\n  types:\n    - workspace: Epic\n      jira: Epic\n---\nb: x\n";
        let parsed = parse(text);
        assert!(parsed.syntax_error.is_none());
        assert_eq!(parsed.documents.len(), 2);
        let root = &parsed.documents[0].root;
        let p = seg("spec.types.0.jira");
        assert_eq!(
            root.locate(&p, false),
            Pos {
                line: 5,
                column: 13
            }
        );
        assert_eq!(root.locate(&p, true), Pos { line: 5, column: 7 });
        // A missing field resolves to its parent's key.
        assert_eq!(
            root.locate(&seg("spec.missing"), false),
            Pos { line: 2, column: 1 }
        );
        assert_eq!(parsed.documents[1].root.locate(&seg("b"), false).line, 7);
    }

    #[test]
    fn documents_before_a_syntax_error_are_kept() {
        let parsed = parse("a: 1\n---\nb: [1, 2\n");
        assert_eq!(parsed.documents.len(), 1);
        let (pos, _) = parsed.syntax_error.expect("syntax error");
        assert!(pos.line >= 3);
    }

    #[test]
    fn byte_order_mark_and_crlf_are_accepted() {
        let parsed = parse("\u{feff}a: 1\r\nb: x\r\n");
        assert!(parsed.syntax_error.is_none());
        let root = &parsed.documents[0].root;
        assert!(root.get("a").is_some());
        assert_eq!(
            root.locate(&[Seg::Key("b".into())], false),
            Pos { line: 2, column: 4 }
        );
    }

    #[test]
    fn duplicate_keys_are_reported() {
        let parsed = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(
            parsed.documents[0].problems,
            vec![(
                Pos { line: 3, column: 1 },
                "duplicate key `a` (first on line 1)".to_string()
            )]
        );
    }

    #[test]
    fn anchors_expand_but_alias_bombs_do_not() {
        let parsed = parse("a: &x {b: 1}\nc: *x\n");
        assert!(parsed.documents[0].problems.is_empty());
        assert_eq!(
            parsed.documents[0].root.get("c").map(|e| e.value.size()),
            Some(3)
        );

        let mut bomb = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            bomb.push_str(&format!(
                "l{i}: &l{i} [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]\n"
            ));
        }
        let parsed = parse(&bomb);
        let problems = &parsed.documents[0].problems;
        assert!(problems.iter().any(|(_, m)| m.contains("too many nodes")));
        assert!(parsed.documents[0].root.size() < 2 * ALIAS_BUDGET);
    }

    #[test]
    fn deep_nesting_is_a_syntax_error_not_a_stack_overflow() {
        let ok = format!("{}x{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let parsed = parse(&ok);
        assert_eq!(parsed.syntax_error, None);
        assert_eq!(parsed.documents[0].root.height(), MAX_DEPTH + 1);

        let block: String = (0..5_000)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        let parsed = parse(&block);
        let (pos, message) = parsed.syntax_error.expect("too deep");
        assert_eq!(message, format!("nesting deeper than {MAX_DEPTH} levels"));
        assert_eq!(pos.line, MAX_DEPTH + 1);
        assert!(parsed.documents.is_empty());

        // Aliases cannot stack anchored subtrees past the cap either.
        let mut chain = format!("a0: &a0 {}x{}\n", "[".repeat(40), "]".repeat(40));
        for i in 1..6 {
            chain.push_str(&format!(
                "a{i}: &a{i} {}*a{}{}\n",
                "[".repeat(40),
                i - 1,
                "]".repeat(40)
            ));
        }
        let parsed = parse(&chain);
        assert_eq!(parsed.syntax_error, None);
        let doc = &parsed.documents[0];
        assert!(doc.root.height() <= MAX_DEPTH + 1);
        assert!(
            doc.problems
                .iter()
                .any(|(_, m)| m == &format!("aliases nest deeper than {MAX_DEPTH} levels")),
            "{:?}",
            doc.problems
        );
    }

    #[test]
    fn plain_scalars_resolve_like_yaml_1_2() {
        assert_eq!(resolve_plain("12"), Resolved::UInt(12));
        assert_eq!(resolve_plain("-3"), Resolved::Int(-3));
        assert_eq!(resolve_plain("1.5"), Resolved::Float(1.5));
        assert_eq!(resolve_plain("yes"), Resolved::Str("yes"));
        assert_eq!(resolve_plain("~"), Resolved::Null);
        assert_eq!(resolve_plain("1.2.3"), Resolved::Str("1.2.3"));
    }
}
