//! Rich text between the workspace and Jira: workspace descriptions and comments are
//! markdown-ish plain text; Jira Cloud (REST v3) speaks the Atlassian Document Format and Data
//! Center (REST v2) wiki markup.
//!
//! All three are converted through one small block model ([`Block`]), so that a value read
//! from either side and rendered back gives the same text, and so that two values that mean the
//! same thing compare equal once canonicalised ([`canonical_markdown`]).
//!
//! The block model holds what markdown writes: paragraphs (blank-line separated), hard line
//! breaks (a single newline inside a paragraph), headings (`#`..`######` / `h1.`..`h6.`),
//! bullet and numbered lists (one level), fenced code blocks with their language, and the
//! inline marks bold, italic, inline code and links (inline code is never bold or italic:
//! ADF refuses the `code` mark beside `strong` or `em`).
//!
//! Nothing Jira holds is lost: whatever the model cannot give back exactly is kept whole in
//! the workspace text, readable and editable — an ADF block node as compact JSON in a
//! ```` ```jira-adf ```` fence, an ADF inline node (mention, emoji, status, date, text with
//! underline or colour...) as an `{adf:{…}}` token inside its paragraph, and wiki markup as
//! written in a ```` ```jira-wiki ```` fence. A node or wiki part becomes markdown only when
//! writing that markdown back gives the very same node or text, so Jira → item → Jira gives
//! Jira's document back, an unchanged item text means no write at all, and an edit rewrites
//! only the blocks it touched.

use std::borrow::Cow;

use serde_json::{json, Map, Value};

/// A block of rich text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Paragraph(Vec<Inline>),
    Heading(u8, Vec<Inline>),
    Bullets(Vec<Vec<Inline>>),
    Numbered(Vec<Vec<Inline>>),
    /// A code block: its language (empty: none) and its text.
    Code(String, String),
    /// An ADF block node markdown cannot hold, kept whole (a ```` ```jira-adf ```` fence).
    Adf(Value),
    /// Wiki markup markdown cannot hold, kept as written (a ```` ```jira-wiki ```` fence).
    Wiki(String),
}

/// A run of text with its marks, a hard line break, or an ADF inline node markdown cannot
/// hold (mention, emoji, status, date, card, text with other marks...), kept whole as a
/// `{adf:…}` token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    Text(String, Marks),
    Break,
    Adf(Value),
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
    if inlines_are_normal(&inlines) {
        return inlines;
    }
    normalize_inlines_anew(inlines)
}

/// Whether [`normalize_inlines`] gives `inlines` back as they are. Most runs it sees were
/// normalised already (a paragraph's lines, then its block, a heading or item twice more), and
/// checking allocates nothing where rebuilding allocates every run. May answer `false` for a
/// normal form, never `true` for another.
fn inlines_are_normal(inlines: &[Inline]) -> bool {
    let last = inlines.len().wrapping_sub(1);
    inlines.iter().enumerate().all(|(i, inline)| match inline {
        Inline::Break => i != 0 && i != last,
        Inline::Adf(_) => true,
        Inline::Text(t, m) => {
            let marked = !m.code && *m != Marks::default();
            let before_break = i == last || matches!(inlines.get(i + 1), Some(Inline::Break));
            !t.is_empty()
                && m.link.as_deref().is_none_or(is_url)
                && !(m.code && (m.strong || m.em))
                && !(marked && t.trim().len() != t.len())
                && !(before_break && !m.code && t.trim_end().len() != t.len())
                && !matches!(i.checked_sub(1).map(|p| &inlines[p]), Some(Inline::Text(_, pm)) if pm == m)
        }
    })
}

fn normalize_inlines_anew(inlines: Vec<Inline>) -> Vec<Inline> {
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
                // ADF has no bold or italic inline code (Cloud refuses the `code` mark next
                // to `strong` or `em`): code is code, in every format.
                if m.code {
                    m.strong = false;
                    m.em = false;
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
            other => out.push(other),
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
    if blocks_are_normal(&blocks) {
        return blocks;
    }
    normalize_blocks_anew(blocks)
}

/// Whether [`normalize_blocks`] gives `blocks` back as they are (see [`inlines_are_normal`]:
/// what the parsers return is normal, and it is checked again before every rendering).
fn blocks_are_normal(blocks: &[Block]) -> bool {
    // What `single_line` leaves alone.
    let line = |i: &[Inline]| {
        !i.is_empty()
            && !i.contains(&Inline::Break)
            && inlines_are_normal(i)
            && !matches!(i.first(), Some(Inline::Text(t, m)) if !m.code && t.trim_start().len() != t.len())
    };
    blocks.iter().all(|b| match b {
        Block::Paragraph(i) => {
            !i.is_empty()
                && inlines_are_normal(i)
                && !i
                    .windows(2)
                    .any(|w| w[0] == Inline::Break && w[1] == Inline::Break)
        }
        Block::Heading(l, i) => (1..=6).contains(l) && line(i),
        Block::Bullets(items) | Block::Numbered(items) => {
            !items.is_empty() && items.iter().all(|i| line(i))
        }
        Block::Code(lang, c) => {
            !c.ends_with('\n')
                && lang.trim().len() == lang.len()
                && !lang.contains(['{', '}', '`'])
                && !c.trim().is_empty()
        }
        Block::Adf(_) | Block::Wiki(_) => true,
    })
}

fn normalize_blocks_anew(blocks: Vec<Block>) -> Vec<Block> {
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
            Block::Code(lang, c) => {
                let c = c.trim_end_matches('\n').to_owned();
                // A language holding braces or backticks has no fence or `{code:…}` form.
                let lang = lang.trim();
                let lang = if lang.contains(['{', '}', '`']) {
                    ""
                } else {
                    lang
                };
                if !c.trim().is_empty() {
                    out.push(Block::Code(lang.to_owned(), c));
                }
            }
            raw @ (Block::Adf(_) | Block::Wiki(_)) => out.push(raw),
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

/// What a reader sees of an ADF node: its text, a mention's or status's text, an emoji's
/// short name, a card's address; containers give their children's text.
fn adf_node_text(node: &Value) -> String {
    match node_type(node) {
        "text" => node
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        "hardBreak" => "\n".to_owned(),
        _ => [
            "/attrs/text",
            "/attrs/shortName",
            "/attrs/url",
            "/attrs/timestamp",
        ]
        .iter()
        .find_map(|p| node.pointer(p).and_then(Value::as_str))
        .map(str::to_owned)
        .unwrap_or_else(|| children(node).iter().map(adf_node_text).collect()),
    }
}

/// The info string of a fence that holds one ADF block node as compact JSON.
const ADF_FENCE: &str = "jira-adf";
/// The info string of a fence that holds wiki markup as written.
const WIKI_FENCE: &str = "jira-wiki";
/// The opening of an inline ADF node token, `{adf:{…json…}}`.
const ADF_TOKEN: &str = "{adf:";

/// A fence of backticks longer than any run that starts a line of `content`.
fn fence_for(content: &str) -> String {
    let longest = content
        .split('\n')
        .map(|l| l.trim_start().bytes().take_while(|b| *b == b'`').count())
        .max()
        .unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// An ADF node in compact JSON (object keys sorted: one node, one text).
fn compact(node: &Value) -> String {
    serde_json::to_string(node).unwrap_or_default()
}

/// A JSON object with a `type` at the start of `s`, and the bytes it used.
fn json_node_prefix(s: &str) -> Option<(Value, usize)> {
    if !s.starts_with('{') {
        return None;
    }
    let mut stream = serde_json::Deserializer::from_str(s).into_iter::<Value>();
    let v = stream.next()?.ok()?;
    v.get("type").and_then(Value::as_str)?;
    Some((v, stream.byte_offset()))
}

// ---------------------------------------------------------------------------------------------
// Markdown-ish (the workspace side).

/// Line ends as `\n`, copying only text that has another.
fn lf(text: &str) -> Cow<'_, str> {
    if text.contains("\r\n") {
        Cow::Owned(text.replace("\r\n", "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Parses workspace text.
pub fn parse_markdown(text: &str) -> Vec<Block> {
    let text = lf(text);
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
            let ticks = trimmed.bytes().take_while(|b| *b == b'`').count();
            let info = trimmed[ticks..].trim();
            let mut code = Vec::new();
            i += 1;
            while i < lines.len() {
                let t = lines[i].trim();
                if t.len() >= ticks && t.bytes().all(|b| b == b'`') {
                    break;
                }
                code.push(lines[i]);
                i += 1;
            }
            let code = code.join("\n");
            blocks.push(match info {
                ADF_FENCE => match serde_json::from_str::<Value>(code.trim()) {
                    Ok(v) if v.get("type").and_then(Value::as_str).is_some() => Block::Adf(v),
                    _ => Block::Code(info.to_owned(), code),
                },
                WIKI_FENCE => Block::Wiki(code),
                _ => Block::Code(info.to_owned(), code),
            });
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
        // Text up to the next character that may start markup goes over as it is.
        let plain = rest
            .bytes()
            .position(|b| matches!(b, b'\\' | b'{' | b'`' | b'*' | b'['))
            .unwrap_or(rest.len());
        if plain > 0 {
            buf.push_str(&rest[..plain]);
            rest = &rest[plain..];
            continue;
        }
        if c == '\\' {
            let mut chars = rest[1..].chars();
            if let Some(next) = chars.next().filter(|n| "\\*`[]_#-.{".contains(*n)) {
                buf.push(next);
                rest = &rest[1 + next.len_utf8()..];
                continue;
            }
        }
        if let Some(token) = rest.strip_prefix(ADF_TOKEN) {
            if let Some((node, used)) = json_node_prefix(token) {
                if token[used..].starts_with('}') {
                    push(&mut buf, out);
                    out.push(Inline::Adf(node));
                    rest = &token[used + 1..];
                    continue;
                }
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
    render_markdown_read_back(blocks).0
}

/// [`render_markdown`], and whether the text parses back to exactly `blocks`. Choosing the
/// rendering parses it already, so the callers that check the round trip (exact ADF nodes and
/// wiki parts) need not parse it a second time.
fn render_markdown_read_back(blocks: &[Block]) -> (String, bool) {
    let plain_try = render_markdown_with(blocks, false);
    let parsed = parse_markdown(&plain_try);
    chosen_rendering(blocks, plain_try, parsed)
}

/// The choice of [`render_markdown`] given the plain rendering and its parse.
fn chosen_rendering(blocks: &[Block], plain_try: String, parsed: Vec<Block>) -> (String, bool) {
    let normal = blocks_are_normal(blocks);
    let plain = if normal {
        parsed == blocks
    } else {
        parsed == normalize_blocks_anew(blocks.to_vec())
    };
    if plain {
        // It parses to the normal form of `blocks`, which is `blocks` when they are normal.
        let back = normal || parsed == blocks;
        (plain_try, back)
    } else {
        let escaped = render_markdown_with(blocks, true);
        let back = parse_markdown(&escaped) == blocks;
        (escaped, back)
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
            Block::Code(lang, c) => {
                let fence = fence_for(c);
                format!("{fence}{lang}\n{c}\n{fence}")
            }
            Block::Adf(node) => format!("```{ADF_FENCE}\n{}\n```", compact(node)),
            Block::Wiki(w) => {
                let fence = fence_for(w);
                format!("{fence}{WIKI_FENCE}\n{w}\n{fence}")
            }
        })
        .collect();
    parts.join("\n\n")
}

fn md_inlines(inlines: &[Inline], escape: bool) -> String {
    let text = |t: &str, out: &mut String| {
        if !escape {
            out.push_str(t);
            return;
        }
        for c in t.chars() {
            if "\\*`[]{".contains(c) {
                out.push('\\');
            }
            out.push(c);
        }
    };
    render_spans(
        inlines,
        &Syntax {
            strong: ("**", "**"),
            em: ("*", "*"),
            link_open: "[",
            link_close: &|url, out| {
                out.push_str("](");
                out.push_str(url);
                out.push(')');
            },
            code: &|t, out| {
                out.push('`');
                out.push_str(t);
                out.push('`');
            },
            text: &text,
            raw: &|node, out| {
                out.push_str(ADF_TOKEN);
                out.push_str(&compact(node));
                out.push('}');
            },
            braces: false,
        },
    )
}

/// How one markup writes marks. Each writer appends to the text being rendered: a rendering
/// is built in one string, not one string per run.
struct Syntax<'a> {
    strong: (&'a str, &'a str),
    em: (&'a str, &'a str),
    link_open: &'a str,
    link_close: &'a dyn Fn(&str, &mut String),
    code: &'a dyn Fn(&str, &mut String),
    text: &'a dyn Fn(&str, &mut String),
    /// An ADF inline node kept whole.
    raw: &'a dyn Fn(&Value, &mut String),
    /// Wiki: write `{*}` instead of `*` where a letter or digit touches the delimiter.
    braces: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Open<'a> {
    Link(&'a str),
    Strong,
    Em,
}

/// Renders runs with marks opened and closed as spans (link outermost, then strong, then
/// em; code innermost), so `**a `b` c**` stays one bold span instead of three.
fn render_spans(inlines: &[Inline], syntax: &Syntax) -> String {
    let delim = |s: &mut String, d: &str, touching: bool| {
        if syntax.braces && touching {
            s.push('{');
            s.push_str(d);
            s.push('}');
        } else {
            s.push_str(d);
        }
    };
    let close = |stack: &mut Vec<Open>, s: &mut String, keep: usize, next: Option<char>| {
        let touching = next.is_some_and(char::is_alphanumeric);
        while stack.len() > keep {
            match stack.pop() {
                Some(Open::Link(url)) => (syntax.link_close)(url, s),
                Some(Open::Strong) => delim(s, syntax.strong.1, touching),
                Some(Open::Em) => delim(s, syntax.em.1, touching),
                None => {}
            }
        }
    };
    let mut s = String::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut wanted: Vec<Open> = Vec::new();
    let mut missing: Vec<Open> = Vec::new();
    let mut rendered = String::new();
    for inline in inlines {
        wanted.clear();
        rendered.clear();
        match inline {
            Inline::Break => rendered.push('\n'),
            Inline::Adf(node) => (syntax.raw)(node, &mut rendered),
            Inline::Text(t, m) => {
                if let Some(url) = &m.link {
                    wanted.push(Open::Link(url));
                }
                if m.strong {
                    wanted.push(Open::Strong);
                }
                if m.em {
                    wanted.push(Open::Em);
                }
                if m.code {
                    (syntax.code)(t, &mut rendered)
                } else {
                    (syntax.text)(t, &mut rendered)
                }
            }
        }
        // Spans still wanted stay open, whatever their order: closing and reopening them
        // would write ambiguous runs such as `****`.
        let common = stack.iter().take_while(|o| wanted.contains(o)).count();
        missing.clear();
        missing.extend(wanted.iter().filter(|w| !stack[..common].contains(w)));
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
                Open::Strong => delim(&mut s, syntax.strong.0, touching),
                Open::Em => delim(&mut s, syntax.em.0, touching),
            }
            stack.push(*open);
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
    if known_canonical::contains(text) {
        return text.to_owned();
    }
    let blocks = parse_markdown(text);
    let plain_try = render_markdown_with(&blocks, false);
    if plain_try == text && blocks_are_normal(&blocks) {
        // The plain rendering is `text` itself, which parses to `blocks`, their normal form:
        // `render_markdown` would choose it.
        return plain_try;
    }
    let parsed = if plain_try == text {
        blocks.clone()
    } else {
        parse_markdown(&plain_try)
    };
    let mut current = chosen_rendering(&blocks, plain_try, parsed).0;
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
//
// Reading keeps every node: a top-level node becomes markdown only when writing that markdown
// back gives the very same node (JSON-equal), otherwise it stays whole in a `jira-adf` fence;
// inside a paragraph, an inline node markdown cannot hold stays whole as an `{adf:…}` token.
// So Jira → item → Jira gives Jira's document back, and an edit rewrites only what it touched.

/// Inline node types (what may sit in a paragraph).
const ADF_INLINE: &[&str] = &[
    "text",
    "hardBreak",
    "mention",
    "emoji",
    "date",
    "status",
    "inlineCard",
    "mediaInline",
    "placeholder",
    "inlineExtension",
];

/// Block node types that may sit at the top of a document.
const ADF_TOP_BLOCK: &[&str] = &[
    "paragraph",
    "heading",
    "bulletList",
    "orderedList",
    "taskList",
    "decisionList",
    "codeBlock",
    "blockquote",
    "panel",
    "rule",
    "table",
    "mediaSingle",
    "mediaGroup",
    "expand",
    "nestedExpand",
    "blockCard",
    "embedCard",
    "extension",
    "bodiedExtension",
    "layoutSection",
];

/// Converts blocks to an ADF document.
pub fn to_adf(blocks: &[Block]) -> Value {
    let mut content = Vec::new();
    for b in blocks {
        adf_block_nodes(b, &mut content);
    }
    json!({"type": "doc", "version": 1, "content": content})
}

/// The ADF nodes of one block.
fn adf_block_nodes(block: &Block, out: &mut Vec<Value>) {
    match block {
        Block::Paragraph(i) => out.push(json!({"type": "paragraph", "content": adf_inlines(i)})),
        Block::Heading(l, i) => {
            out.push(json!({"type": "heading", "attrs": {"level": l}, "content": adf_inlines(i)}))
        }
        Block::Bullets(items) => {
            out.push(json!({"type": "bulletList", "content": adf_items(items)}))
        }
        Block::Numbered(items) => {
            out.push(json!({"type": "orderedList", "content": adf_items(items)}))
        }
        Block::Code(lang, c) => {
            let mut node = Map::new();
            node.insert("type".into(), json!("codeBlock"));
            if !lang.is_empty() {
                node.insert("attrs".into(), json!({ "language": lang }));
            }
            if !c.is_empty() {
                node.insert("content".into(), json!([{"type": "text", "text": c}]));
            }
            out.push(Value::Object(node));
        }
        Block::Adf(node) => {
            let kind = node_type(node);
            if ADF_TOP_BLOCK.contains(&kind) {
                out.push(node.clone());
            } else if ADF_INLINE.contains(&kind) {
                out.push(json!({"type": "paragraph", "content": [node]}));
            } else {
                // Not a node a document can hold here (an edit gone wrong): its JSON stays,
                // as code, rather than being dropped or refused by Jira.
                out.push(
                    json!({"type": "codeBlock", "attrs": {"language": ADF_FENCE},
                    "content": [{"type": "text", "text": compact(node)}]}),
                );
            }
        }
        // Wiki markup on a Cloud issue (an item moved between integrations): as far as the
        // block model reads it.
        Block::Wiki(w) => {
            for b in parse_wiki_blocks(w) {
                adf_block_nodes(&b, out);
            }
        }
    }
}

fn adf_items(items: &[Vec<Inline>]) -> Vec<Value> {
    items
        .iter()
        .map(|i| {
            json!({"type": "listItem", "content": [{"type": "paragraph", "content": adf_inlines(i)}]})
        })
        .collect()
}

/// A text node with its marks in the order Jira writes them; `code` takes only `link` along
/// (the schema's `code_inline_node`).
fn adf_text(t: &str, m: &Marks) -> Value {
    let mut marks = Vec::new();
    if let Some(href) = &m.link {
        marks.push(json!({"type": "link", "attrs": {"href": href}}));
    }
    if !m.code {
        if m.em {
            marks.push(json!({"type": "em"}));
        }
        if m.strong {
            marks.push(json!({"type": "strong"}));
        }
    } else {
        marks.push(json!({"type": "code"}));
    }
    let mut node = Map::new();
    node.insert("type".into(), json!("text"));
    node.insert("text".into(), json!(t));
    if !marks.is_empty() {
        node.insert("marks".into(), Value::Array(marks));
    }
    Value::Object(node)
}

fn adf_inlines(inlines: &[Inline]) -> Vec<Value> {
    inlines
        .iter()
        .map(|i| match i {
            Inline::Break => json!({"type": "hardBreak"}),
            Inline::Adf(node) if ADF_INLINE.contains(&node_type(node)) => node.clone(),
            Inline::Adf(node) => json!({"type": "text", "text": compact(node)}),
            Inline::Text(t, m) => adf_text(t, m),
        })
        .collect()
}

/// Reads an ADF document; a plain string (what some v2-shaped payloads carry) is read as
/// workspace text. Every node the block model cannot give back exactly is kept whole.
pub fn from_adf(doc: &Value) -> Vec<Block> {
    if let Some(s) = doc.as_str() {
        return parse_markdown(s);
    }
    children(doc)
        .iter()
        .map(|node| exact_block(node).unwrap_or_else(|| Block::Adf(node.clone())))
        .collect()
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

/// The block that writes back as exactly `node`, through markdown and back, if there is one.
fn exact_block(node: &Value) -> Option<Block> {
    // First every inline node as markdown where it can be; then, if normalisation moved
    // something (whitespace at a bold edge, a trailing space), those text nodes as tokens.
    [false, true].into_iter().find_map(|strict| {
        let candidate = markdown_block(node, strict)?;
        let normal = normalize_blocks(vec![candidate]);
        let [block] = normal.as_slice() else {
            return None;
        };
        let same = adf_block_is(block, node) && render_markdown_read_back(&normal).1;
        same.then(|| normal.into_iter().next()).flatten()
    })
}

/// Whether [`adf_block_nodes`] writes `block` as exactly `node` and nothing else. Every node
/// read is checked against what writing it back would give, and comparing in place spares
/// building that JSON each time.
fn adf_block_is(block: &Block, node: &Value) -> bool {
    let Some(o) = node.as_object() else {
        return false;
    };
    let content_is = |check: &dyn Fn(&Value) -> bool| o.get("content").is_some_and(check);
    let list_is = |kind: &str, items: &[Vec<Inline>]| {
        o.len() == 2
            && str_at(o, "type") == Some(kind)
            && content_is(&|c| {
                c.as_array().is_some_and(|c| {
                    c.len() == items.len()
                        && c.iter().zip(items).all(|(item, i)| {
                            item.as_object().is_some_and(|item| {
                                item.len() == 2
                                    && str_at(item, "type") == Some("listItem")
                                    && item.get("content").and_then(Value::as_array).is_some_and(
                                        |paras| {
                                            paras.len() == 1
                                                && paras[0].as_object().is_some_and(|p| {
                                                    p.len() == 2
                                                        && str_at(p, "type") == Some("paragraph")
                                                        && p.get("content").is_some_and(|pc| {
                                                            adf_inlines_are(i, pc)
                                                        })
                                                })
                                        },
                                    )
                            })
                        })
                })
            })
    };
    match block {
        Block::Paragraph(i) => {
            o.len() == 2
                && str_at(o, "type") == Some("paragraph")
                && content_is(&|c| adf_inlines_are(i, c))
        }
        Block::Heading(l, i) => {
            o.len() == 3
                && str_at(o, "type") == Some("heading")
                && o.get("attrs")
                    .and_then(Value::as_object)
                    .is_some_and(|a| a.len() == 1 && a.get("level") == Some(&Value::from(*l)))
                && content_is(&|c| adf_inlines_are(i, c))
        }
        Block::Bullets(items) => list_is("bulletList", items),
        Block::Numbered(items) => list_is("orderedList", items),
        Block::Code(lang, c) => {
            o.len() == 1 + usize::from(!lang.is_empty()) + usize::from(!c.is_empty())
                && str_at(o, "type") == Some("codeBlock")
                && (lang.is_empty()
                    || o.get("attrs").and_then(Value::as_object).is_some_and(|a| {
                        a.len() == 1 && str_at(a, "language") == Some(lang.as_str())
                    }))
                && (c.is_empty()
                    || content_is(&|content| {
                        content.as_array().is_some_and(|t| {
                            t.len() == 1
                                && t[0].as_object().is_some_and(|t| {
                                    t.len() == 2
                                        && str_at(t, "type") == Some("text")
                                        && str_at(t, "text") == Some(c.as_str())
                                })
                        })
                    }))
        }
        Block::Adf(_) | Block::Wiki(_) => {
            let mut nodes = Vec::new();
            adf_block_nodes(block, &mut nodes);
            nodes.len() == 1 && nodes[0] == *node
        }
    }
}

fn str_at<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str)
}

/// Whether [`adf_inlines`] writes `inlines` as exactly the array `content`.
fn adf_inlines_are(inlines: &[Inline], content: &Value) -> bool {
    let Some(nodes) = content.as_array() else {
        return false;
    };
    nodes.len() == inlines.len()
        && inlines.iter().zip(nodes).all(|(i, node)| match i {
            Inline::Break => node
                .as_object()
                .is_some_and(|o| o.len() == 1 && str_at(o, "type") == Some("hardBreak")),
            Inline::Adf(n) if ADF_INLINE.contains(&node_type(n)) => n == node,
            Inline::Adf(n) => node.as_object().is_some_and(|o| {
                o.len() == 2
                    && str_at(o, "type") == Some("text")
                    && str_at(o, "text") == Some(compact(n).as_str())
            }),
            Inline::Text(t, m) => adf_text_is(node, t, m),
        })
}

/// Whether [`adf_text`] writes `t` with `m` as exactly `node`.
fn adf_text_is(node: &Value, t: &str, m: &Marks) -> bool {
    let Some(o) = node.as_object() else {
        return false;
    };
    let marks_len = usize::from(m.link.is_some())
        + if m.code {
            1
        } else {
            usize::from(m.em) + usize::from(m.strong)
        };
    if o.len() != 2 + usize::from(marks_len > 0)
        || str_at(o, "type") != Some("text")
        || str_at(o, "text") != Some(t)
    {
        return false;
    }
    if marks_len == 0 {
        return true;
    }
    let Some(marks) = o.get("marks").and_then(Value::as_array) else {
        return false;
    };
    if marks.len() != marks_len {
        return false;
    }
    let simple = |mark: &Value, kind: &str| {
        mark.as_object()
            .is_some_and(|o| o.len() == 1 && str_at(o, "type") == Some(kind))
    };
    let mut marks = marks.iter();
    let mut next = || marks.next();
    if let Some(href) = &m.link {
        let link = next().and_then(Value::as_object).is_some_and(|o| {
            o.len() == 2
                && str_at(o, "type") == Some("link")
                && o.get("attrs")
                    .and_then(Value::as_object)
                    .is_some_and(|a| a.len() == 1 && str_at(a, "href") == Some(href.as_str()))
        });
        if !link {
            return false;
        }
    }
    if m.code {
        return next().is_some_and(|k| simple(k, "code"));
    }
    (!m.em || next().is_some_and(|k| simple(k, "em")))
        && (!m.strong || next().is_some_and(|k| simple(k, "strong")))
}

/// The block model's reading of a node, or `None` when it has no such block.
fn markdown_block(node: &Value, strict: bool) -> Option<Block> {
    let obj = node.as_object()?;
    let only = |allowed: &[&str]| obj.keys().all(|k| allowed.contains(&k.as_str()));
    let inlines = |n: &Value| adf_inline_list(children(n), strict);
    match node_type(node) {
        "paragraph" if only(&["type", "content"]) => Some(Block::Paragraph(inlines(node))),
        "heading" if only(&["type", "attrs", "content"]) => {
            let level = node.pointer("/attrs/level")?.as_u64()?;
            Some(Block::Heading(level.min(6) as u8, inlines(node)))
        }
        kind @ ("bulletList" | "orderedList") if only(&["type", "content"]) => {
            let items = children(node)
                .iter()
                .map(|item| match children(item) {
                    [para] if node_type(para) == "paragraph" => Some(inlines(para)),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            Some(if kind == "bulletList" {
                Block::Bullets(items)
            } else {
                Block::Numbered(items)
            })
        }
        "codeBlock" if only(&["type", "attrs", "content"]) => {
            let lang = match node.get("attrs") {
                None => "",
                Some(a) => a.get("language")?.as_str()?,
            };
            let text = match children(node) {
                [] => "",
                [t] => t.get("text")?.as_str()?,
                _ => return None,
            };
            Some(Block::Code(lang.to_owned(), text.to_owned()))
        }
        _ => None,
    }
}

/// Inline nodes as runs; a text node whose marks markdown cannot write (or, `strict`, that
/// normalisation would change) and every other inline node stay whole.
fn adf_inline_list(nodes: &[Value], strict: bool) -> Vec<Inline> {
    let mut out = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        match node_type(node) {
            "text" => {
                let text = node.get("text").and_then(Value::as_str).unwrap_or_default();
                let mut m = Marks::default();
                for mark in node
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
                let run = Inline::Text(text.to_owned(), m.clone());
                let written = adf_text_is(node, text, &m);
                let last_on_line = nodes
                    .get(n + 1)
                    .is_none_or(|next| node_type(next) == "hardBreak");
                let moves = (!inlines_are_normal(std::slice::from_ref(&run))
                    && normalize_inlines_anew(vec![run.clone()]) != vec![run.clone()])
                    || (last_on_line && text.ends_with(char::is_whitespace))
                    || (n == 0 && text.starts_with(char::is_whitespace));
                if written && !(strict && moves) {
                    out.push(run);
                } else {
                    out.push(Inline::Adf(node.clone()));
                }
            }
            "hardBreak" if node.as_object().is_some_and(|o| o.len() == 1) => {
                // A break markdown would drop or read as a paragraph end (first, last, or
                // after another) stays a token when `strict`.
                let dropped =
                    n == 0 || n + 1 == nodes.len() || node_type(&nodes[n - 1]) == "hardBreak";
                if strict && dropped {
                    out.push(Inline::Adf(node.clone()));
                } else {
                    out.push(Inline::Break);
                }
            }
            _ => out.push(Inline::Adf(node.clone())),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Wiki markup (Data Center, REST v2).

/// Renders blocks as Jira wiki markup. Text is escaped only where it would otherwise read
/// as markup: what the wiki parser takes as text (`[~jsmith]`, `!image.png|thumbnail!`,
/// `||tables||`, `{panel}`, `{color:red}`) is written as it is.
pub fn to_wiki(blocks: &[Block]) -> String {
    blocks
        .iter()
        .map(wiki_block)
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn wiki_block(block: &Block) -> String {
    match block {
        Block::Wiki(w) => w.clone(),
        // ADF on a Data Center issue (an item moved between integrations): its text.
        Block::Adf(node) => wiki_block(&Block::Paragraph(vec![Inline::Text(
            adf_node_text(node),
            Marks::default(),
        )])),
        other => {
            let plain = wiki_block_with(other, false);
            let parsed = parse_wiki_blocks(&plain);
            let reads_back = if blocks_are_normal(std::slice::from_ref(other)) {
                parsed.as_slice() == std::slice::from_ref(other)
            } else {
                parsed == normalize_blocks_anew(vec![other.clone()])
            };
            if reads_back {
                plain
            } else {
                wiki_block_with(other, true)
            }
        }
    }
}

fn wiki_block_with(block: &Block, escape: bool) -> String {
    let inl = |i: &[Inline]| wiki_inlines(i, escape);
    match block {
        Block::Paragraph(i) => guard_lines(&inl(i), wiki_block_start),
        Block::Heading(l, i) => format!("h{l}. {}", inl(i)),
        Block::Bullets(items) => items
            .iter()
            .map(|i| format!("* {}", inl(i)))
            .collect::<Vec<_>>()
            .join("\n"),
        Block::Numbered(items) => items
            .iter()
            .map(|i| format!("# {}", inl(i)))
            .collect::<Vec<_>>()
            .join("\n"),
        // A block that itself holds `{code}` goes in `{noformat}` (holding both cannot be
        // written in wiki markup at all).
        Block::Code(_, c) if c.contains("{code") => format!("{{noformat}}\n{c}\n{{noformat}}"),
        Block::Code(lang, c) if lang.is_empty() => format!("{{code}}\n{c}\n{{code}}"),
        Block::Code(lang, c) => format!("{{code:{lang}}}\n{c}\n{{code}}"),
        Block::Adf(_) | Block::Wiki(_) => wiki_block(block),
    }
}

fn wiki_inlines(inlines: &[Inline], escape: bool) -> String {
    let text = |t: &str, out: &mut String| {
        if !escape {
            out.push_str(t);
            return;
        }
        for c in t.chars() {
            if "*_{}[]|\\".contains(c) {
                out.push('\\');
            }
            out.push(c);
        }
    };
    render_spans(
        inlines,
        &Syntax {
            strong: ("*", "*"),
            em: ("_", "_"),
            link_open: "[",
            link_close: &|url, out| {
                out.push('|');
                out.push_str(url);
                out.push(']');
            },
            code: &|t, out| {
                out.push_str("{{");
                for c in t.chars() {
                    if "{}\\".contains(c) {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push_str("}}");
            },
            text: &text,
            raw: &|node, out| text(&adf_node_text(node), out),
            braces: true,
        },
    )
}

/// Reads Jira wiki markup: each part (blank-line separated; code and noformat whole) that
/// the block model writes back exactly becomes markdown, every other part is kept as
/// written. Line ends are read as `\n`.
pub fn from_wiki(text: &str) -> Vec<Block> {
    let text = lf(text);
    let mut out = Vec::new();
    for chunk in wiki_chunks(&text) {
        let blocks = parse_wiki_blocks(chunk);
        let exact = !blocks.is_empty()
            && writes_wiki(&blocks, chunk)
            && render_markdown_read_back(&blocks).1;
        if exact {
            out.extend(blocks);
        } else {
            out.push(Block::Wiki(chunk.to_owned()));
        }
    }
    out
}

/// Whether [`to_wiki`] gives `wiki`: block by block, so a part that reads as more than one
/// block (a heading with its paragraph under it, written without the blank line between) is
/// told apart without rendering all of it.
fn writes_wiki(blocks: &[Block], wiki: &str) -> bool {
    let mut rest = wiki;
    for (n, block) in blocks.iter().enumerate() {
        if n > 0 {
            match rest.strip_prefix("\n\n") {
                Some(r) => rest = r,
                None => return false,
            }
        }
        match rest.strip_prefix(wiki_block(block).as_str()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// Splits wiki text at single empty lines outside `{code}` and `{noformat}`; blank lines
/// at either end are dropped, any other run of blank lines stays inside its part.
fn wiki_chunks(text: &str) -> Vec<&str> {
    let text = text.trim_end();
    let start = text
        .char_indices()
        .find(|(_, c)| !c.is_whitespace())
        .map_or(text.len(), |(i, _)| i);
    let text = &text[text[..start].rfind('\n').map_or(0, |n| n + 1)..];
    if text.trim().is_empty() {
        return Vec::new();
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let mut chunks = Vec::new();
    let mut chunk_start = 0usize;
    let mut offset = 0usize;
    let mut in_code = false;
    for (n, line) in lines.iter().enumerate() {
        let splits = !in_code
            && line.is_empty()
            && n > 0
            && !lines[n - 1].trim().is_empty()
            && lines.get(n + 1).is_some_and(|l| !l.trim().is_empty());
        if splits {
            // The chunk ends before this line's preceding newline.
            chunks.push(&text[chunk_start..offset - 1]);
            chunk_start = offset + 1;
        }
        let toggles = line.matches("{code").count() + line.matches("{noformat}").count();
        if toggles % 2 == 1 {
            in_code = !in_code;
        }
        offset += line.len() + 1;
    }
    chunks.push(&text[chunk_start..]);
    chunks
}

/// Parses Jira wiki markup into the block model (the subset above; other macros stay as
/// text): a lossy reading, for what cannot be kept as written.
fn parse_wiki_blocks(text: &str) -> Vec<Block> {
    let text = lf(text);
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
            let close_at = trimmed.find('}');
            let lang = close_at
                .and_then(|p| trimmed[open.len()..p].strip_prefix(':'))
                .unwrap_or("")
                .to_owned();
            let after_open = close_at.map(|p| &trimmed[p + 1..]).unwrap_or("");
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
            blocks.push(Block::Code(lang, code.join("\n")));
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
        // Text up to the next character that may start markup goes over as it is.
        let plain = rest
            .bytes()
            .position(|b| matches!(b, b'\\' | b'{' | b'*' | b'_' | b'['))
            .unwrap_or(rest.len());
        if plain > 0 {
            buf.push_str(&rest[..plain]);
            rest = &rest[plain..];
            continue;
        }
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
    let blocks = match value {
        Value::Null => return String::new(),
        Value::String(s) => from_wiki(s),
        other => from_adf(other),
    };
    let (text, back) = render_markdown_read_back(&blocks);
    if back && blocks_are_normal(&blocks) {
        // It parses to `blocks`, which render to it: canonical.
        known_canonical::remember(&text);
    }
    text
}

/// Texts known to be canonical because [`from_jira_text`] just proved it. Whatever reads an
/// issue canonicalises what it read right after (the import's baseline and every snapshot of
/// Jira's side: descriptions, comments, rich fields), and proving it again would parse and
/// render each text once or twice more. Per thread, so no lock; a text read on another thread
/// is only canonicalised the long way. Bounded: forgotten all at once when full.
mod known_canonical {
    use std::cell::RefCell;
    use std::collections::HashSet;

    /// Bytes kept at most per thread; an import batch's texts fit many times over.
    const CAPACITY: usize = 1 << 20;

    thread_local! {
        static KNOWN: RefCell<(HashSet<String>, usize)> = RefCell::new((HashSet::new(), 0));
    }

    pub(super) fn remember(text: &str) {
        if text.len() > CAPACITY / 16 {
            return;
        }
        KNOWN.with_borrow_mut(|(texts, bytes)| {
            if *bytes + text.len() > CAPACITY {
                texts.clear();
                *bytes = 0;
            }
            if !texts.contains(text) {
                *bytes += text.len();
                texts.insert(text.to_owned());
            }
        });
    }

    pub(super) fn contains(text: &str) -> bool {
        KNOWN.with_borrow(|(texts, _)| texts.contains(text))
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
        let wiki = "h2. Steps\n\n# open\n# click *Save*\n\n{code:java}\nint x = 1;\n{code}\n\nPing [~admin] at [docs|https://x.example]";
        let md = from_jira_text(&Value::String(wiki.into()));
        assert_eq!(
            md,
            "## Steps\n\n1. open\n2. click **Save**\n\n```java\nint x = 1;\n```\n\nPing [~admin] at [docs](https://x.example)"
        );
        assert_eq!(to_jira_text(&md, false), json!(wiki));
        // What markdown cannot say stays as written, readable, in a `jira-wiki` fence.
        let table =
            "||a||b||\n|[~jsmith]|!pic.png|thumbnail!|\n\n{panel:title=T}\nx\n\n\ny\n{panel}";
        let md = from_jira_text(&json!(table));
        assert!(md.contains("```jira-wiki\n{panel:title=T}"), "{md}");
        assert_eq!(to_jira_text(&md, false), json!(table));
    }

    #[test]
    fn adf_nodes_markdown_cannot_hold_are_kept_whole() {
        let doc = json!({"type": "doc", "version": 1, "content": [
            {"type": "panel", "content": [{"type": "paragraph", "content": [
                {"type": "text", "text": "Hi "},
                {"type": "mention", "attrs": {"id": "1", "text": "@Alice"}},
                {"type": "emoji", "attrs": {"shortName": ":smile:"}}
            ]}]},
            {"type": "rule"}
        ]});
        let md = from_jira_text(&doc);
        assert!(md.starts_with("```jira-adf\n{"), "{md}");
        assert_eq!(to_jira_text(&md, true), doc);
        // Inline nodes inside a paragraph markdown can hold stay tokens in readable text.
        let doc = json!({"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [
                {"type": "text", "text": "Hi "},
                {"type": "mention", "attrs": {"id": "1", "text": "@Alice"}},
                {"type": "text", "text": " see "},
                {"type": "text", "text": "this", "marks": [{"type": "strong"}]}
            ]}
        ]});
        let md = from_jira_text(&doc);
        assert_eq!(
            md,
            r#"Hi {adf:{"attrs":{"id":"1","text":"@Alice"},"type":"mention"}} see **this**"#
        );
        assert_eq!(to_jira_text(&md, true), doc);
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
                |b| matches!(b, Block::Code(l, c) if c.contains("{code") && (c.contains("{noformat") || !l.is_empty())),
            );
            if !unwritable {
                // The block reader agrees with the writer; the keeping reader gives back
                // what it read.
                let wiki = to_wiki(&blocks);
                assert_eq!(parse_wiki_blocks(&wiki), blocks, "wiki {s:?}");
                assert_eq!(to_wiki(&from_wiki(&wiki)), wiki.trim_end(), "wiki {s:?}");
            }
            let wiki_in = s.replace("\r\n", "\n");
            let kept = to_wiki(&from_wiki(&wiki_in));
            assert_eq!(kept, wiki_chunks(&wiki_in).join("\n\n"), "wiki in {s:?}");
        }
    }

    /// The checks that let normalisation return its input must never say "normal" of what
    /// normalising would change; and what the parsers return passes them (else the fast
    /// paths would not be taken).
    #[test]
    fn normal_form_checks_never_skip_a_change() {
        use rand::{Rng, SeedableRng};
        let texts = ["", " ", "a", " a", "a ", " a b ", "\t", "x y"];
        let links = [None, Some("https://a.example"), Some("rel/path")];
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let inline = |rng: &mut rand::rngs::StdRng| match rng.random_range(0..10) {
            0 => Inline::Break,
            1 => Inline::Adf(json!({"type": "emoji"})),
            _ => Inline::Text(
                texts[rng.random_range(0..texts.len())].to_owned(),
                Marks {
                    strong: rng.random_bool(0.3),
                    em: rng.random_bool(0.3),
                    code: rng.random_bool(0.2),
                    link: links[rng.random_range(0..links.len())].map(str::to_owned),
                },
            ),
        };
        let (mut normal, mut normal_blocks) = (0, 0);
        for _ in 0..20_000 {
            let n = rng.random_range(0..5);
            let inlines: Vec<Inline> = (0..n).map(|_| inline(&mut rng)).collect();
            if inlines_are_normal(&inlines) {
                normal += 1;
                assert_eq!(normalize_inlines_anew(inlines.clone()), inlines);
            }
            let block = match rng.random_range(0..5) {
                0 => Block::Paragraph(inlines),
                1 => Block::Heading(rng.random_range(0..8), inlines),
                2 => Block::Bullets(vec![inlines]),
                3 => Block::Numbered(vec![inlines, vec![inline(&mut rng)]]),
                _ => Block::Code(
                    texts[rng.random_range(0..texts.len())].to_owned(),
                    ["", "x", "x\n", " \n", "{code}"][rng.random_range(0..5)].to_owned(),
                ),
            };
            let blocks = vec![block];
            if blocks_are_normal(&blocks) {
                normal_blocks += 1;
                assert_eq!(normalize_blocks_anew(blocks.clone()), blocks);
            }
        }
        // Both answers come up, so both were checked.
        assert!(
            normal > 1000 && normal_blocks > 1000,
            "{normal} {normal_blocks}"
        );
        for s in SAMPLES {
            assert!(blocks_are_normal(&parse_markdown(s)), "{s:?}");
            let once = canonical_markdown(s);
            assert!(blocks_are_normal(&parse_markdown(&once)), "{s:?}");
        }
    }

    #[test]
    fn empty_and_null_are_the_same_text() {
        assert_eq!(from_jira_text(&Value::Null), "");
        assert_eq!(from_jira_text(&to_jira_text("", true)), "");
        assert_eq!(from_jira_text(&to_jira_text("  \n\n ", false)), "");
    }
}
