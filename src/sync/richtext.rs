//! Rich text between the workspace and Jira: workspace descriptions and comments are
//! markdown-ish plain text; Jira Cloud (REST v3) speaks the Atlassian Document Format and Data
//! Center (REST v2) wiki markup.
//!
//! All three are converted through one small block model ([`Block`]), so that a value read
//! from either side and rendered back gives the same text, and so that two values that mean the
//! same thing compare equal once canonicalised ([`canonical_markdown`]).
//!
//! The supported subset, on every side: paragraphs (blank-line separated), hard line breaks
//! (a single newline inside a paragraph), headings (`#`..`######` / `h1.`..`h6.`), bullet and
//! numbered lists (one level), fenced code blocks, and the inline marks bold, italic, inline
//! code and links. Anything richer that Jira holds (tables, panels, mentions, emoji, media) is
//! kept as its text: nothing is dropped silently, but its formatting does not survive.

use serde_json::{json, Map, Value};

/// A block of rich text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Paragraph(Vec<Inline>),
    Heading(u8, Vec<Inline>),
    Bullets(Vec<Vec<Inline>>),
    Numbered(Vec<Vec<Inline>>),
    Code(String),
}

/// A run of text with its marks, or a hard line break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    Text(String, Marks),
    Break,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    pub strong: bool,
    pub em: bool,
    pub code: bool,
    pub link: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Normalisation shared by every parser.

/// Merges adjacent runs with equal marks and drops empty ones, so equal content has one form.
fn normalize_inlines(inlines: Vec<Inline>) -> Vec<Inline> {
    // Whitespace at the edge of a bold, italic or link span belongs outside it: no markup can
    // write `** a**`, and it means the same.
    let mut split = Vec::with_capacity(inlines.len());
    for inline in inlines {
        // A link target no format can write back (relative, or with brackets) stays as text.
        let inline = match inline {
            Inline::Text(t, mut m) => {
                if m.link.as_deref().is_some_and(|u| !is_url(u)) {
                    m.link = None;
                }
                Inline::Text(t, m)
            }
            other => other,
        };
        match inline {
            Inline::Text(t, m) if !m.code && m != Marks::default() => {
                let core = t.trim();
                let lead = &t[..t.len() - t.trim_start().len()];
                let trail = &t[t.trim_end().len()..];
                if core.is_empty() {
                    split.push(Inline::Text(t.clone(), Marks::default()));
                    continue;
                }
                split.push(Inline::Text(lead.to_owned(), Marks::default()));
                split.push(Inline::Text(core.to_owned(), m));
                split.push(Inline::Text(trail.to_owned(), Marks::default()));
            }
            other => split.push(other),
        }
    }
    let mut out: Vec<Inline> = Vec::with_capacity(split.len());
    for inline in split {
        match inline {
            Inline::Text(t, _) if t.is_empty() => {}
            Inline::Text(t, m) => match out.last_mut() {
                Some(Inline::Text(prev, pm)) if *pm == m => prev.push_str(&t),
                _ => out.push(Inline::Text(t, m)),
            },
            Inline::Break => out.push(Inline::Break),
        }
    }
    // Trailing spaces before a break or at the end carry no meaning in any of the formats.
    let len = out.len();
    for i in 0..len {
        let before_break = i + 1 == len || matches!(out.get(i + 1), Some(Inline::Break));
        if before_break {
            if let Some(Inline::Text(t, m)) = out.get_mut(i) {
                if m.code {
                    continue;
                }
                let trimmed = t.trim_end().len();
                t.truncate(trimmed);
            }
        }
    }
    out.retain(|i| !matches!(i, Inline::Text(t, _) if t.is_empty()));
    while matches!(out.last(), Some(Inline::Break)) {
        out.pop();
    }
    while matches!(out.first(), Some(Inline::Break)) {
        out.remove(0);
    }
    out
}

fn normalize_blocks(blocks: Vec<Block>) -> Vec<Block> {
    let items = |items: Vec<Vec<Inline>>| -> Vec<Vec<Inline>> {
        items
            .into_iter()
            .map(single_line)
            .filter(|i| !i.is_empty())
            .collect()
    };
    let mut out = Vec::with_capacity(blocks.len());
    for b in blocks {
        match b {
            // A blank line inside a paragraph is a paragraph break in every format.
            Block::Paragraph(i) => {
                let mut current = Vec::new();
                let mut breaks = 0;
                for inline in normalize_inlines(i) {
                    if inline == Inline::Break {
                        breaks += 1;
                        continue;
                    }
                    if breaks >= 2 {
                        out.push(Block::Paragraph(std::mem::take(&mut current)));
                    } else if breaks == 1 {
                        current.push(Inline::Break);
                    }
                    breaks = 0;
                    current.push(inline);
                }
                if !current.is_empty() {
                    out.push(Block::Paragraph(current));
                }
            }
            Block::Heading(l, i) => {
                let i = single_line(i);
                if !i.is_empty() {
                    out.push(Block::Heading(l.clamp(1, 6), i));
                }
            }
            Block::Bullets(i) => {
                let i = items(i);
                if !i.is_empty() {
                    out.push(Block::Bullets(i));
                }
            }
            Block::Numbered(i) => {
                let i = items(i);
                if !i.is_empty() {
                    out.push(Block::Numbered(i));
                }
            }
            Block::Code(c) => {
                let c = c.trim_end_matches('\n').to_owned();
                if !c.trim().is_empty() {
                    out.push(Block::Code(c));
                }
            }
        }
    }
    out
}

/// Headings and list items are one line in every format: breaks inside them become spaces.
fn single_line(inlines: Vec<Inline>) -> Vec<Inline> {
    let spaced = inlines
        .into_iter()
        .map(|i| match i {
            Inline::Break => Inline::Text(" ".into(), Marks::default()),
            other => other,
        })
        .collect();
    let mut out = normalize_inlines(spaced);
    if let Some(Inline::Text(t, m)) = out.first_mut() {
        if !m.code {
            *t = t.trim_start().to_owned();
        }
    }
    normalize_inlines(out)
}

/// Prefixes a backslash where a paragraph line would otherwise start a block.
fn guard_lines(text: &str, is_block_start: fn(&str) -> bool) -> String {
    text.split('\n')
        .map(|line| {
            let trimmed = line.trim_start();
            if is_block_start(trimmed) {
                let lead = line.len() - trimmed.len();
                // `12. x` is guarded at its dot, everything else at its first character.
                let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
                let at = lead + if digits > 0 { digits } else { 0 };
                format!("{}\\{}", &line[..at], &line[at..])
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn md_block_start(line: &str) -> bool {
    md_heading(line).is_some()
        || md_bullet(line).is_some()
        || md_numbered(line).is_some()
        || line.starts_with("```")
}

fn wiki_block_start(line: &str) -> bool {
    wiki_heading(line).is_some()
        || line.starts_with("* ")
        || line.starts_with("- ")
        || line.starts_with("# ")
        || line.starts_with("{code")
        || line.starts_with("{noformat")
}

/// The plain text of inlines, marks removed (what a reader sees).
fn plain(inlines: &[Inline]) -> String {
    inlines
        .iter()
        .map(|i| match i {
            Inline::Text(t, _) => t.as_str(),
            Inline::Break => "\n",
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Markdown-ish (the workspace side).

/// Parses workspace text.
pub fn parse_markdown(text: &str) -> Vec<Block> {
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    let mut blocks = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    let flush = |para: &mut Vec<&str>, blocks: &mut Vec<Block>| {
        if !para.is_empty() {
            blocks.push(Block::Paragraph(lines_inlines(para, parse_md_inline)));
            para.clear();
        }
    };
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            flush(&mut para, &mut blocks);
            let mut code = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                code.push(lines[i]);
                i += 1;
            }
            blocks.push(Block::Code(code.join("\n")));
            i += 1;
            continue;
        }
        if line.trim().is_empty() {
            flush(&mut para, &mut blocks);
        } else if let Some((level, rest)) = md_heading(trimmed) {
            flush(&mut para, &mut blocks);
            blocks.push(Block::Heading(level, parse_md_inline(rest)));
        } else if let Some(item) = md_bullet(trimmed) {
            flush(&mut para, &mut blocks);
            match blocks.last_mut() {
                Some(Block::Bullets(items)) if i > 0 && !lines[i - 1].trim().is_empty() => {
                    items.push(parse_md_inline(item))
                }
                _ => blocks.push(Block::Bullets(vec![parse_md_inline(item)])),
            }
        } else if let Some(item) = md_numbered(trimmed) {
            flush(&mut para, &mut blocks);
            match blocks.last_mut() {
                Some(Block::Numbered(items)) if i > 0 && !lines[i - 1].trim().is_empty() => {
                    items.push(parse_md_inline(item))
                }
                _ => blocks.push(Block::Numbered(vec![parse_md_inline(item)])),
            }
        } else {
            para.push(line);
        }
        i += 1;
    }
    flush(&mut para, &mut blocks);
    normalize_blocks(blocks)
}

fn lines_inlines(lines: &[&str], parse: fn(&str) -> Vec<Inline>) -> Vec<Inline> {
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        if n > 0 {
            out.push(Inline::Break);
        }
        out.extend(parse(line));
    }
    out
}

fn md_heading(line: &str) -> Option<(u8, &str)> {
    let hashes = line.bytes().take_while(|b| *b == b'#').count();
    if (1..=6).contains(&hashes) {
        line[hashes..]
            .strip_prefix(' ')
            .map(|rest| (hashes as u8, rest))
    } else {
        None
    }
}

fn md_bullet(line: &str) -> Option<&str> {
    line.strip_prefix("- ").or_else(|| line.strip_prefix("* "))
}

fn md_numbered(line: &str) -> Option<&str> {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    line[digits..].strip_prefix(". ")
}

/// Inline markdown: `**bold**`, `*italic*`, `` `code` ``, `[text](url)`, backslash escapes.
/// An opening delimiter without a closing one is literal text.
fn parse_md_inline(s: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    parse_md_into(s, &Marks::default(), &mut out);
    normalize_inlines(out)
}

fn parse_md_into(s: &str, marks: &Marks, out: &mut Vec<Inline>) {
    let mut buf = String::new();
    let mut rest = s;
    let push = |buf: &mut String, out: &mut Vec<Inline>| {
        if !buf.is_empty() {
            out.push(Inline::Text(std::mem::take(buf), marks.clone()));
        }
    };
    while let Some(c) = rest.chars().next() {
        if c == '\\' {
            let mut chars = rest[1..].chars();
            if let Some(next) = chars.next().filter(|n| "\\*`[]_#-.".contains(*n)) {
                buf.push(next);
                rest = &rest[1 + next.len_utf8()..];
                continue;
            }
        }
        if !marks.code {
            if let Some(inner) = rest.strip_prefix('`') {
                if let Some(end) = inner.find('`').filter(|e| *e > 0) {
                    push(&mut buf, out);
                    let m = Marks {
                        code: true,
                        ..marks.clone()
                    };
                    out.push(Inline::Text(inner[..end].to_owned(), m));
                    rest = &inner[end + 1..];
                    continue;
                }
            }
            if let Some(inner) = rest.strip_prefix("**") {
                if let Some(end) = find_closing(inner, "**", false) {
                    push(&mut buf, out);
                    let m = Marks {
                        strong: true,
                        ..marks.clone()
                    };
                    parse_md_into(&inner[..end], &m, out);
                    rest = &inner[end + 2..];
                    continue;
                }
            }
            if let Some(inner) = rest.strip_prefix('*').filter(|i| !i.starts_with('*')) {
                if let Some(end) = find_closing(inner, "*", false) {
                    push(&mut buf, out);
                    let m = Marks {
                        em: true,
                        ..marks.clone()
                    };
                    parse_md_into(&inner[..end], &m, out);
                    rest = &inner[end + 1..];
                    continue;
                }
            }
            if let Some(inner) = rest.strip_prefix('[') {
                if let Some((text, url, used)) = md_link(inner) {
                    push(&mut buf, out);
                    let m = Marks {
                        link: Some(url.to_owned()),
                        ..marks.clone()
                    };
                    parse_md_into(text, &m, out);
                    rest = &inner[used..];
                    continue;
                }
            }
        }
        buf.push(c);
        rest = &rest[c.len_utf8()..];
    }
    push(&mut buf, out);
}

/// Position of the closing delimiter of a span whose content starts `inner`: content is
/// non-empty and neither starts nor ends with whitespace; in a run of delimiter characters
/// the closing one is the last (`***` closes `*` after `**`); escaped characters are skipped.
/// `bounded`: the closing delimiter must not be followed by a letter or digit (wiki rules).
fn find_closing(inner: &str, delim: &str, bounded: bool) -> Option<usize> {
    if inner.is_empty() || inner.starts_with(char::is_whitespace) {
        return None;
    }
    let d = *delim.as_bytes().first()?;
    let bytes = inner.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == b'`' {
            i += 1 + inner[i + 1..].find('`').map_or(0, |e| e + 1);
            continue;
        }
        if bytes[i] != d {
            i += 1;
            continue;
        }
        let run = bytes[i..].iter().take_while(|b| **b == d).count();
        let candidate = match (delim.len(), run) {
            (2, r) if r >= 2 => Some(i + r - 2),
            (1, 1) | (1, 3) => Some(i + run - 1),
            _ => None,
        };
        if let Some(c) = candidate {
            let after = inner[c + delim.len()..].chars().next();
            let ok_after = !bounded || !after.is_some_and(char::is_alphanumeric);
            if c > 0 && !inner[..c].ends_with(char::is_whitespace) && ok_after {
                return Some(c);
            }
        }
        i += run;
    }
    None
}

/// Link targets all three formats can hold: absolute URLs without the characters wiki links
/// use as syntax.
fn is_url(url: &str) -> bool {
    (url.contains("://") || url.starts_with("mailto:"))
        && !url.contains(|c: char| c.is_whitespace() || "[]|()".contains(c))
}

/// `text](url)` after the `[`: returns text, url and the bytes consumed.
fn md_link(inner: &str) -> Option<(&str, &str, usize)> {
    let close = inner.find("](")?;
    let text = &inner[..close];
    if text.is_empty() || text.contains('[') {
        return None;
    }
    let after = &inner[close + 2..];
    let end = after.find(')')?;
    let url = &after[..end];
    if !is_url(url) {
        return None;
    }
    Some((text, url, close + 2 + end + 1))
}

/// Renders blocks as workspace text; the result parses back to the same blocks.
pub fn render_markdown(blocks: &[Block]) -> String {
    let plain_try = render_markdown_with(blocks, false);
    if parse_markdown(&plain_try) == normalize_blocks(blocks.to_vec()) {
        plain_try
    } else {
        render_markdown_with(blocks, true)
    }
}

fn render_markdown_with(blocks: &[Block], escape: bool) -> String {
    let inl = |i: &[Inline]| md_inlines(i, escape);
    let parts: Vec<String> = blocks
        .iter()
        .map(|b| match b {
            Block::Paragraph(i) if escape => guard_lines(&inl(i), md_block_start),
            Block::Paragraph(i) => inl(i),
            Block::Heading(l, i) => format!("{} {}", "#".repeat(*l as usize), inl(i)),
            Block::Bullets(items) => items
                .iter()
                .map(|i| format!("- {}", inl(i)))
                .collect::<Vec<_>>()
                .join("\n"),
            Block::Numbered(items) => items
                .iter()
                .enumerate()
                .map(|(n, i)| format!("{}. {}", n + 1, inl(i)))
                .collect::<Vec<_>>()
                .join("\n"),
            Block::Code(c) => format!("```\n{c}\n```"),
        })
        .collect();
    parts.join("\n\n")
}

fn md_inlines(inlines: &[Inline], escape: bool) -> String {
    let text = |t: &str| {
        if !escape {
            return t.to_owned();
        }
        let mut e = String::with_capacity(t.len());
        for c in t.chars() {
            if "\\*`[]".contains(c) {
                e.push('\\');
            }
            e.push(c);
        }
        e
    };
    render_spans(
        inlines,
        &Syntax {
            strong: ("**", "**"),
            em: ("*", "*"),
            link_open: "[",
            link_close: &|url| format!("]({url})"),
            code: &|t| format!("`{t}`"),
            text: &text,
            braces: false,
        },
    )
}

/// How one markup writes marks.
struct Syntax<'a> {
    strong: (&'a str, &'a str),
    em: (&'a str, &'a str),
    link_open: &'a str,
    link_close: &'a dyn Fn(&str) -> String,
    code: &'a dyn Fn(&str) -> String,
    text: &'a dyn Fn(&str) -> String,
    /// Wiki: write `{*}` instead of `*` where a letter or digit touches the delimiter.
    braces: bool,
}

#[derive(Clone, PartialEq)]
enum Open {
    Link(String),
    Strong,
    Em,
}

/// Renders runs with marks opened and closed as spans (link outermost, then strong, then
/// em; code innermost), so `**a `b` c**` stays one bold span instead of three.
fn render_spans(inlines: &[Inline], syntax: &Syntax) -> String {
    let delim = |d: &str, touching: bool| {
        if syntax.braces && touching {
            format!("{{{d}}}")
        } else {
            d.to_owned()
        }
    };
    let close = |stack: &mut Vec<Open>, s: &mut String, keep: usize, next: Option<char>| {
        let touching = next.is_some_and(char::is_alphanumeric);
        while stack.len() > keep {
            match stack.pop() {
                Some(Open::Link(url)) => s.push_str(&(syntax.link_close)(&url)),
                Some(Open::Strong) => s.push_str(&delim(syntax.strong.1, touching)),
                Some(Open::Em) => s.push_str(&delim(syntax.em.1, touching)),
                None => {}
            }
        }
    };
    let mut s = String::new();
    let mut stack: Vec<Open> = Vec::new();
    for inline in inlines {
        let (wanted, rendered) = match inline {
            Inline::Break => (Vec::new(), "\n".to_owned()),
            Inline::Text(t, m) => {
                let mut w = Vec::new();
                if let Some(url) = &m.link {
                    w.push(Open::Link(url.clone()));
                }
                if m.strong {
                    w.push(Open::Strong);
                }
                if m.em {
                    w.push(Open::Em);
                }
                let r = if m.code {
                    (syntax.code)(t)
                } else {
                    (syntax.text)(t)
                };
                (w, r)
            }
        };
        // Spans still wanted stay open, whatever their order: closing and reopening them
        // would write ambiguous runs such as `****`.
        let common = stack.iter().take_while(|o| wanted.contains(o)).count();
        let missing: Vec<Open> = wanted
            .iter()
            .filter(|w| !stack[..common].contains(w))
            .cloned()
            .collect();
        let opening = !missing.is_empty();
        let next = if opening {
            // What follows a closing delimiter is the opening one.
            Some('{')
        } else {
            rendered.chars().next()
        };
        close(&mut stack, &mut s, common, next);
        for open in &missing {
            let touching = s.chars().next_back().is_some_and(char::is_alphanumeric);
            match open {
                Open::Link(_) => s.push_str(syntax.link_open),
                Open::Strong => s.push_str(&delim(syntax.strong.0, touching)),
                Open::Em => s.push_str(&delim(syntax.em.0, touching)),
            }
            stack.push(open.clone());
        }
        s.push_str(&rendered);
    }
    close(&mut stack, &mut s, 0, None);
    s
}

/// The one form of a workspace text: equal meaning, equal string.
///
/// Rendering and parsing agree on everything people write; for pathological runs of
/// delimiters (`****`, `***x**`) one pass may still move, so this repeats until the text stops
/// changing (a few passes at most), which makes it idempotent.
pub fn canonical_markdown(text: &str) -> String {
    let mut current = render_markdown(&parse_markdown(text));
    if current == text {
        // Already canonical (the usual case): rendering it again gives it again.
        return current;
    }
    for _ in 0..4 {
        let next = render_markdown(&parse_markdown(&current));
        if next == current {
            break;
        }
        current = next;
    }
    current
}

// ---------------------------------------------------------------------------------------------
// Atlassian Document Format (Cloud, REST v3).

/// Converts blocks to an ADF document.
pub fn to_adf(blocks: &[Block]) -> Value {
    let content: Vec<Value> = blocks
        .iter()
        .map(|b| match b {
            Block::Paragraph(i) => json!({"type": "paragraph", "content": adf_inlines(i)}),
            Block::Heading(l, i) => {
                json!({"type": "heading", "attrs": {"level": l}, "content": adf_inlines(i)})
            }
            Block::Bullets(items) => json!({"type": "bulletList", "content": adf_items(items)}),
            Block::Numbered(items) => json!({"type": "orderedList", "content": adf_items(items)}),
            Block::Code(c) => {
                json!({"type": "codeBlock", "content": [{"type": "text", "text": c}]})
            }
        })
        .collect();
    json!({"type": "doc", "version": 1, "content": content})
}

fn adf_items(items: &[Vec<Inline>]) -> Vec<Value> {
    items
        .iter()
        .map(|i| {
            json!({"type": "listItem", "content": [{"type": "paragraph", "content": adf_inlines(i)}]})
        })
        .collect()
}

fn adf_inlines(inlines: &[Inline]) -> Vec<Value> {
    inlines
        .iter()
        .map(|i| match i {
            Inline::Break => json!({"type": "hardBreak"}),
            Inline::Text(t, m) => {
                let mut marks = Vec::new();
                if m.strong {
                    marks.push(json!({"type": "strong"}));
                }
                if m.em {
                    marks.push(json!({"type": "em"}));
                }
                if m.code {
                    marks.push(json!({"type": "code"}));
                }
                if let Some(href) = &m.link {
                    marks.push(json!({"type": "link", "attrs": {"href": href}}));
                }
                let mut node = Map::new();
                node.insert("type".into(), json!("text"));
                node.insert("text".into(), json!(t));
                if !marks.is_empty() {
                    node.insert("marks".into(), Value::Array(marks));
                }
                Value::Object(node)
            }
        })
        .collect()
}

/// Reads an ADF document; a plain string (what some v2-shaped payloads carry) is read as
/// workspace text. Unknown nodes keep their text.
pub fn from_adf(doc: &Value) -> Vec<Block> {
    if let Some(s) = doc.as_str() {
        return parse_markdown(s);
    }
    let mut blocks = Vec::new();
    for node in children(doc) {
        adf_block(node, &mut blocks);
    }
    normalize_blocks(blocks)
}

fn children(node: &Value) -> &[Value] {
    node.get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn node_type(node: &Value) -> &str {
    node.get("type").and_then(Value::as_str).unwrap_or_default()
}

fn adf_block(node: &Value, blocks: &mut Vec<Block>) {
    match node_type(node) {
        "paragraph" => blocks.push(Block::Paragraph(adf_inline_list(children(node)))),
        "heading" => {
            let level = node
                .pointer("/attrs/level")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 6) as u8;
            blocks.push(Block::Heading(level, adf_inline_list(children(node))));
        }
        kind @ ("bulletList" | "orderedList") => {
            let items = children(node)
                .iter()
                .map(|item| {
                    let mut inl = Vec::new();
                    for (n, child) in children(item).iter().enumerate() {
                        if n > 0 {
                            inl.push(Inline::Break);
                        }
                        inl.extend(adf_inline_list(children(child)));
                    }
                    inl
                })
                .collect();
            blocks.push(if kind == "bulletList" {
                Block::Bullets(items)
            } else {
                Block::Numbered(items)
            });
        }
        "codeBlock" => blocks.push(Block::Code(plain(&adf_inline_list(children(node))))),
        // Containers (panels, quotes, expands, tables...) contribute their blocks.
        _ => {
            let kids = children(node);
            if kids.iter().any(is_adf_inline) {
                blocks.push(Block::Paragraph(adf_inline_list(kids)));
            } else {
                for k in kids {
                    adf_block(k, blocks);
                }
            }
        }
    }
}

fn is_adf_inline(node: &Value) -> bool {
    matches!(
        node_type(node),
        "text" | "hardBreak" | "mention" | "emoji" | "inlineCard" | "date" | "status"
    )
}

fn adf_inline_list(nodes: &[Value]) -> Vec<Inline> {
    let mut out = Vec::new();
    for n in nodes {
        match node_type(n) {
            "text" => {
                let text = n.get("text").and_then(Value::as_str).unwrap_or_default();
                let mut m = Marks::default();
                for mark in n
                    .get("marks")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    match node_type(mark) {
                        "strong" => m.strong = true,
                        "em" => m.em = true,
                        "code" => m.code = true,
                        "link" => {
                            m.link = mark
                                .pointer("/attrs/href")
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                        }
                        _ => {}
                    }
                }
                out.push(Inline::Text(text.to_owned(), m));
            }
            "hardBreak" => out.push(Inline::Break),
            "inlineCard" => {
                if let Some(url) = n.pointer("/attrs/url").and_then(Value::as_str) {
                    out.push(Inline::Text(url.to_owned(), Marks::default()));
                }
            }
            _ => {
                let text = ["/attrs/text", "/attrs/shortName", "/attrs/timestamp"]
                    .iter()
                    .find_map(|p| n.pointer(p).and_then(Value::as_str));
                if let Some(t) = text {
                    out.push(Inline::Text(t.to_owned(), Marks::default()));
                } else {
                    out.extend(adf_inline_list(children(n)));
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Wiki markup (Data Center, REST v2).

/// Renders blocks as Jira wiki markup.
pub fn to_wiki(blocks: &[Block]) -> String {
    let parts: Vec<String> = blocks
        .iter()
        .map(|b| match b {
            Block::Paragraph(i) => guard_lines(&wiki_inlines(i), wiki_block_start),
            Block::Heading(l, i) => format!("h{l}. {}", wiki_inlines(i)),
            Block::Bullets(items) => items
                .iter()
                .map(|i| format!("* {}", wiki_inlines(i)))
                .collect::<Vec<_>>()
                .join("\n"),
            Block::Numbered(items) => items
                .iter()
                .map(|i| format!("# {}", wiki_inlines(i)))
                .collect::<Vec<_>>()
                .join("\n"),
            // A block that itself holds `{code}` goes in `{noformat}` (holding both cannot be
            // written in wiki markup at all).
            Block::Code(c) if c.contains("{code") => format!("{{noformat}}\n{c}\n{{noformat}}"),
            Block::Code(c) => format!("{{code}}\n{c}\n{{code}}"),
        })
        .collect();
    parts.join("\n\n")
}

fn wiki_inlines(inlines: &[Inline]) -> String {
    let text = |t: &str| {
        let mut e = String::with_capacity(t.len());
        for c in t.chars() {
            if "*_{}[]|\\".contains(c) {
                e.push('\\');
            }
            e.push(c);
        }
        e
    };
    render_spans(
        inlines,
        &Syntax {
            strong: ("*", "*"),
            em: ("_", "_"),
            link_open: "[",
            link_close: &|url| format!("|{url}]"),
            code: &|t| {
                let mut e = String::with_capacity(t.len() + 4);
                for c in t.chars() {
                    if "{}\\".contains(c) {
                        e.push('\\');
                    }
                    e.push(c);
                }
                format!("{{{{{e}}}}}")
            },
            text: &text,
            braces: true,
        },
    )
}

/// Parses Jira wiki markup (the subset above; other macros stay as text).
pub fn from_wiki(text: &str) -> Vec<Block> {
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    let mut blocks = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    let flush = |para: &mut Vec<&str>, blocks: &mut Vec<Block>| {
        if !para.is_empty() {
            blocks.push(Block::Paragraph(lines_inlines(para, parse_wiki_inline)));
            para.clear();
        }
    };
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        let code_open = ["{code", "{noformat"]
            .iter()
            .find(|p| trimmed.starts_with(**p))
            .copied();
        if let Some(open) = code_open {
            flush(&mut para, &mut blocks);
            let closer = if open == "{code" {
                "{code}"
            } else {
                "{noformat}"
            };
            let after_open = trimmed.find('}').map(|p| &trimmed[p + 1..]).unwrap_or("");
            let mut code: Vec<&str> = Vec::new();
            if let Some(end) = after_open.find(closer) {
                code.push(&after_open[..end]);
            } else {
                if !after_open.is_empty() {
                    code.push(after_open);
                }
                i += 1;
                while i < lines.len() {
                    if let Some(end) = lines[i].find(closer) {
                        if end > 0 {
                            code.push(&lines[i][..end]);
                        }
                        break;
                    }
                    code.push(lines[i]);
                    i += 1;
                }
            }
            blocks.push(Block::Code(code.join("\n")));
            i += 1;
            continue;
        }
        if line.trim().is_empty() {
            flush(&mut para, &mut blocks);
        } else if let Some((level, rest)) = wiki_heading(trimmed) {
            flush(&mut para, &mut blocks);
            blocks.push(Block::Heading(level, parse_wiki_inline(rest)));
        } else if let Some(item) = trimmed.strip_prefix("* ").or(trimmed.strip_prefix("- ")) {
            flush(&mut para, &mut blocks);
            match blocks.last_mut() {
                Some(Block::Bullets(items)) if i > 0 && !lines[i - 1].trim().is_empty() => {
                    items.push(parse_wiki_inline(item))
                }
                _ => blocks.push(Block::Bullets(vec![parse_wiki_inline(item)])),
            }
        } else if let Some(item) = trimmed.strip_prefix("# ") {
            flush(&mut para, &mut blocks);
            match blocks.last_mut() {
                Some(Block::Numbered(items)) if i > 0 && !lines[i - 1].trim().is_empty() => {
                    items.push(parse_wiki_inline(item))
                }
                _ => blocks.push(Block::Numbered(vec![parse_wiki_inline(item)])),
            }
        } else {
            para.push(line);
        }
        i += 1;
    }
    flush(&mut para, &mut blocks);
    normalize_blocks(blocks)
}

fn wiki_heading(line: &str) -> Option<(u8, &str)> {
    let b = line.as_bytes();
    if b.len() >= 4 && b[0] == b'h' && (b'1'..=b'6').contains(&b[1]) && line.get(2..4) == Some(". ")
    {
        Some((b[1] - b'0', &line[4..]))
    } else {
        None
    }
}

fn parse_wiki_inline(s: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    parse_wiki_into(s, &Marks::default(), &mut out);
    normalize_inlines(out)
}

fn parse_wiki_into(s: &str, marks: &Marks, out: &mut Vec<Inline>) {
    let mut buf = String::new();
    let mut rest = s;
    let push = |buf: &mut String, out: &mut Vec<Inline>| {
        if !buf.is_empty() {
            out.push(Inline::Text(std::mem::take(buf), marks.clone()));
        }
    };
    while let Some(c) = rest.chars().next() {
        if c == '\\' {
            if let Some(next) = rest[1..].chars().next() {
                if "*_{}[]|\\-+^~?#h".contains(next) {
                    buf.push(next);
                    rest = &rest[1 + next.len_utf8()..];
                    continue;
                }
            }
            // `\\` at a line's end is a forced break; elsewhere a literal backslash.
        }
        if let Some(inner) = rest.strip_prefix("{{") {
            if let Some((code, used)) = wiki_monospace(inner) {
                push(&mut buf, out);
                let m = Marks {
                    code: true,
                    ..marks.clone()
                };
                out.push(Inline::Text(code, m));
                rest = &inner[used..];
                continue;
            }
        }
        let after_word = s[..s.len() - rest.len()]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric);
        // `*bold*` needs a word boundary before it; `{*}bold{*}` (what Jira writes next to
        // letters) does not.
        let opener = match rest.as_bytes() {
            [b'{', m @ (b'*' | b'_'), b'}', ..] => Some((*m, 3)),
            [m @ (b'*' | b'_'), ..] if !after_word => Some((*m, 1)),
            _ => None,
        };
        if let Some((mark, open_len)) = opener {
            let inner = &rest[open_len..];
            if let Some((end, close_len)) = find_wiki_closing(inner, mark) {
                push(&mut buf, out);
                let m = if mark == b'*' {
                    Marks {
                        strong: true,
                        ..marks.clone()
                    }
                } else {
                    Marks {
                        em: true,
                        ..marks.clone()
                    }
                };
                parse_wiki_into(&inner[..end], &m, out);
                rest = &inner[end + close_len..];
                continue;
            }
        }
        if let Some(inner) = rest.strip_prefix('[') {
            if let Some(end) = wiki_link_end(inner) {
                let body = &inner[..end];
                push(&mut buf, out);
                let (text, url) = match body.rsplit_once('|') {
                    Some((t, u)) => (t, u),
                    None => (body, body),
                };
                let m = Marks {
                    link: Some(url.trim().to_owned()),
                    ..marks.clone()
                };
                parse_wiki_into(text, &m, out);
                rest = &inner[end + 1..];
                continue;
            }
        }
        buf.push(c);
        rest = &rest[c.len_utf8()..];
    }
    push(&mut buf, out);
}

/// Where a wiki `*`/`_` span closes: a bare delimiter not followed by a letter or digit (the
/// last of a run), or the braced form `{*}`; returns position and delimiter length.
fn find_wiki_closing(inner: &str, mark: u8) -> Option<(usize, usize)> {
    if inner.is_empty() || inner.starts_with(char::is_whitespace) {
        return None;
    }
    let bytes = inner.as_bytes();
    let content_ok = |at: usize| at > 0 && !inner[..at].ends_with(char::is_whitespace);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                i += 2 + wiki_monospace(&inner[i + 2..]).map_or(0, |(_, used)| used);
            }
            b'{' if bytes.get(i + 1) == Some(&mark) && bytes.get(i + 2) == Some(&b'}') => {
                if content_ok(i) {
                    return Some((i, 3));
                }
                i += 3;
            }
            b if b == mark => {
                let run = bytes[i..].iter().take_while(|b| **b == mark).count();
                let at = i + run - 1;
                let next = inner[at + 1..].chars().next();
                if run != 2 && content_ok(at) && !next.is_some_and(char::is_alphanumeric) {
                    return Some((at, 1));
                }
                i += run;
            }
            _ => i += 1,
        }
    }
    None
}

/// The text of `{{monospace}}` after the `{{` (backslash escapes undone) and the bytes used.
fn wiki_monospace(inner: &str) -> Option<(String, usize)> {
    let mut code = String::new();
    let mut chars = inner.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, n)) => code.push(n),
                None => code.push('\\'),
            },
            '}' if inner[i..].starts_with("}}") => {
                return (!code.is_empty()).then_some((code, i + 2));
            }
            _ => code.push(c),
        }
    }
    None
}

/// End of a `[text|url]` or `[url]` link body; user mentions (`[~name]`) and anchors are text.
fn wiki_link_end(inner: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        match c {
            '\\' if !escaped => {
                escaped = true;
                continue;
            }
            ']' if !escaped => {
                let body = &inner[..i];
                let url = body.rsplit('|').next().unwrap_or(body).trim();
                return is_url(url).then_some(i);
            }
            _ => {}
        }
        escaped = false;
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Convenience for the mapping.

/// Workspace text to Jira's rich text value for the dialect (`cloud`: ADF, else wiki string).
pub fn to_jira_text(text: &str, cloud: bool) -> Value {
    let blocks = parse_markdown(text);
    if cloud {
        to_adf(&blocks)
    } else {
        Value::String(to_wiki(&blocks))
    }
}

/// Jira's rich text value (ADF object or wiki string; null = empty) to workspace text.
pub fn from_jira_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => render_markdown(&from_wiki(s)),
        other => render_markdown(&from_adf(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &[&str] = &[
        "Plain paragraph.",
        "First line\nsecond line\n\nNew paragraph",
        "# Goal\n\nShip **fast** and *safely*, see [the spec](https://example.com/spec).\n\n- one\n- two with `code`\n\n1. first\n2. second",
        "```\nfn main() {\n    println!(\"*not bold*\");\n}\n```",
        "Costs 2 * 3 = 6 and a_b_c stays",
        "Literal \\*stars\\* and [brackets]",
        "## Ünïcode — ok\n\nemoji 🎉 text",
    ];

    #[test]
    fn markdown_is_stable_after_one_canonicalisation() {
        for s in SAMPLES {
            let once = canonical_markdown(s);
            assert_eq!(canonical_markdown(&once), once, "{s:?}");
        }
    }

    #[test]
    fn plain_text_stays_as_the_user_typed_it() {
        for s in [
            "First line\nsecond line\n\nNew paragraph",
            "Costs 2 * 3 = 6 and a_b_c stays",
        ] {
            assert_eq!(canonical_markdown(s), s);
        }
    }

    #[test]
    fn markdown_round_trips_through_adf() {
        for s in SAMPLES {
            let blocks = parse_markdown(s);
            let back = from_adf(&to_adf(&blocks));
            assert_eq!(back, blocks, "{s:?}");
            assert_eq!(render_markdown(&back), canonical_markdown(s));
        }
    }

    #[test]
    fn markdown_round_trips_through_wiki() {
        for s in SAMPLES {
            let blocks = parse_markdown(s);
            let wiki = to_wiki(&blocks);
            assert_eq!(from_wiki(&wiki), blocks, "{s:?} via {wiki:?}");
        }
    }

    #[test]
    fn marks_become_wiki_markup() {
        let wiki = to_wiki(&parse_markdown(
            "**bold** *it* `x` [site](https://a.example)\n\n- a",
        ));
        assert_eq!(wiki, "*bold* _it_ {{x}} [site|https://a.example]\n\n* a");
    }

    #[test]
    fn marks_inside_words_use_jiras_braced_form() {
        let blocks = parse_markdown("un**believ**able and *x*y");
        let wiki = to_wiki(&blocks);
        assert_eq!(wiki, "un{*}believ{*}able and _x{_}y");
        assert_eq!(from_wiki(&wiki), blocks);
        // Without braces, delimiters inside words are literal, as in Jira; markdown would
        // read `2*3*4` as italics, so the stars come over escaped.
        let md = from_jira_text(&json!("snake_case_name and 2*3*4"));
        assert_eq!(md, "snake_case_name and 2\\*3\\*4");
        assert_eq!(
            parse_markdown(&md),
            vec![Block::Paragraph(vec![Inline::Text(
                "snake_case_name and 2*3*4".into(),
                Marks::default()
            )])]
        );
    }

    #[test]
    fn jira_wiki_written_by_people_reads_as_markdown() {
        let wiki = "h2. Steps\n\n# open\n# click *Save*\n\n{code:java}\nint x = 1;\n{code}\n\nPing [~admin] at [https://x.example]";
        assert_eq!(
            from_jira_text(&Value::String(wiki.into())),
            "## Steps\n\n1. open\n2. click **Save**\n\n```\nint x = 1;\n```\n\nPing [~admin] at [https://x.example](https://x.example)"
        );
    }

    #[test]
    fn unknown_adf_nodes_keep_their_text() {
        let doc = json!({"type": "doc", "version": 1, "content": [
            {"type": "panel", "content": [{"type": "paragraph", "content": [
                {"type": "text", "text": "Hi "},
                {"type": "mention", "attrs": {"id": "1", "text": "@Alice"}},
                {"type": "emoji", "attrs": {"shortName": ":smile:"}}
            ]}]},
            {"type": "rule"}
        ]});
        assert_eq!(from_jira_text(&doc), "Hi @Alice:smile:");
    }

    /// Arbitrary text made of the characters the parsers care about: no panic, and one
    /// canonicalisation is enough (the engine compares canonical forms).
    #[test]
    fn arbitrary_text_never_panics_and_canonicalises_once() {
        use rand::{Rng, SeedableRng};
        let alphabet: Vec<&str> = vec![
            "*",
            "**",
            "_",
            "`",
            "[",
            "]",
            "(",
            ")",
            "|",
            "{",
            "}",
            "{{",
            "}}",
            "\\",
            "#",
            "# ",
            "- ",
            "1. ",
            "h1. ",
            "```",
            "{code}",
            "\n",
            "\n\n",
            " ",
            "a",
            "b",
            "é",
            "€",
            "🎉",
            "http://x.y",
            "~",
            "{*}",
            "{_}",
            "x_y",
            "2.",
            ".",
            "{noformat}",
            "\t",
            "  ",
        ];
        const ITERATIONS: usize = 4000;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..ITERATIONS {
            let n = rng.random_range(0..24);
            let s: String = (0..n)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let once = canonical_markdown(&s);
            assert_eq!(canonical_markdown(&once), once, "{s:?}");
            let blocks = parse_markdown(&once);
            assert_eq!(from_adf(&to_adf(&blocks)), blocks, "adf {s:?}");
            let _ = from_wiki(&s);
            let unwritable = blocks.iter().any(
                |b| matches!(b, Block::Code(c) if c.contains("{code") && c.contains("{noformat")),
            );
            if !unwritable {
                assert_eq!(from_wiki(&to_wiki(&blocks)), blocks, "wiki {s:?}");
            }
        }
    }

    #[test]
    fn empty_and_null_are_the_same_text() {
        assert_eq!(from_jira_text(&Value::Null), "");
        assert_eq!(from_jira_text(&to_jira_text("", true)), "");
        assert_eq!(from_jira_text(&to_jira_text("  \n\n ", false)), "");
    }
}
