//! The Atlassian Document Format in the simulator: conversion between the text it keeps and
//! the documents Cloud's REST v3 speaks (a document written through v3 is also kept whole and
//! served back as written), and [`validate`], the ADF schema's structural rules that every v3
//! write must pass, as on Cloud (400 otherwise).

use serde_json::{json, Map, Value};

/// Renders stored text as an ADF document: blank lines separate paragraphs, single newlines
/// become hard breaks, which is what Jira's own wiki-to-ADF conversion does for plain text.
pub fn from_text(text: &str) -> Value {
    let content: Vec<Value> = text
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|para| {
            let mut nodes = Vec::new();
            for (i, line) in para.split('\n').enumerate() {
                if i > 0 {
                    nodes.push(json!({"type": "hardBreak"}));
                }
                if !line.is_empty() {
                    nodes.push(json!({"type": "text", "text": line}));
                }
            }
            json!({"type": "paragraph", "content": nodes})
        })
        .collect();
    json!({"type": "doc", "version": 1, "content": content})
}

/// Why a value is not an Atlassian Document; the message is the one Jira puts in `errors`.
pub const NOT_ADF: &str =
    "Operation value must be an Atlassian Document (see the Atlassian Document Format)";

/// Extracts the text of an ADF document; block nodes are separated by blank lines.
pub fn to_text(doc: &Value) -> Result<String, &'static str> {
    let obj = doc.as_object().ok_or(NOT_ADF)?;
    if obj.get("type").and_then(Value::as_str) != Some("doc") {
        return Err(NOT_ADF);
    }
    let content = obj
        .get("content")
        .and_then(Value::as_array)
        .ok_or(NOT_ADF)?;
    let blocks: Vec<String> = content.iter().map(inline_text).collect();
    Ok(blocks.join("\n\n"))
}

fn inline_text(node: &Value) -> String {
    match node.get("type").and_then(Value::as_str) {
        Some("text") => node
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        Some("hardBreak") => "\n".to_string(),
        Some("bulletList") | Some("orderedList") => node
            .get("content")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|i| format!("* {}", inline_text(i)))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default(),
        _ => node
            .get("content")
            .and_then(Value::as_array)
            .map(|c| c.iter().map(inline_text).collect::<String>())
            .unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------------
// Validation: the structural rules of Atlassian's ADF JSON Schema (`@atlaskit/adf-schema`,
// `full.json`), written out as a table: which children, attributes and marks each node takes.
// A test (`tests/adf_schema.rs`) checks that these rules agree with the published schema.

/// What one node type may hold.
struct Rule {
    ty: &'static str,
    /// Child node types; empty: a leaf (no `content`).
    content: &'static [&'static str],
    /// Fewest children (when `content` is present or required).
    min: usize,
    max: usize,
    /// `content` must be present.
    needs_content: bool,
    attrs: &'static [&'static str],
    required_attrs: &'static [&'static str],
    /// At least one of these attributes (the schema's alternatives), when not empty.
    one_of_attrs: &'static [&'static str],
    /// `attrs` must be present.
    needs_attrs: bool,
    /// Node marks allowed.
    marks: &'static [&'static str],
}

const INLINE: &[&str] = &[
    "date",
    "emoji",
    "hardBreak",
    "inlineCard",
    "inlineExtension",
    "mediaInline",
    "mention",
    "placeholder",
    "status",
    "text",
];
const DOC_BLOCKS: &[&str] = &[
    "blockCard",
    "blockquote",
    "bodiedExtension",
    "bodiedSyncBlock",
    "bulletList",
    "codeBlock",
    "decisionList",
    "embedCard",
    "expand",
    "extension",
    "heading",
    "layoutSection",
    "mediaGroup",
    "mediaSingle",
    "orderedList",
    "panel",
    "paragraph",
    "rule",
    "syncBlock",
    "table",
    "taskList",
];
const CELL_BLOCKS: &[&str] = &[
    "blockCard",
    "blockquote",
    "bulletList",
    "codeBlock",
    "decisionList",
    "embedCard",
    "extension",
    "heading",
    "mediaGroup",
    "mediaSingle",
    "nestedExpand",
    "orderedList",
    "panel",
    "paragraph",
    "rule",
    "taskList",
];
const EXPAND_BLOCKS: &[&str] = &[
    "blockCard",
    "blockquote",
    "bulletList",
    "codeBlock",
    "decisionList",
    "embedCard",
    "extension",
    "heading",
    "mediaGroup",
    "mediaSingle",
    "nestedExpand",
    "orderedList",
    "panel",
    "paragraph",
    "rule",
    "table",
    "taskList",
];
const EXTENSION_ATTRS: &[&str] = &[
    "extensionKey",
    "extensionType",
    "layout",
    "localId",
    "parameters",
    "text",
];
const MEDIA_MARKS: &[&str] = &["annotation", "border", "dataConsumer", "link"];

const fn leaf(
    ty: &'static str,
    attrs: &'static [&'static str],
    required_attrs: &'static [&'static str],
) -> Rule {
    Rule {
        ty,
        content: &[],
        min: 0,
        max: usize::MAX,
        needs_content: false,
        attrs,
        required_attrs,
        one_of_attrs: &[],
        needs_attrs: !required_attrs.is_empty(),
        marks: &[],
    }
}

const fn container(
    ty: &'static str,
    content: &'static [&'static str],
    min: usize,
    attrs: &'static [&'static str],
    required_attrs: &'static [&'static str],
) -> Rule {
    Rule {
        ty,
        content,
        min,
        max: usize::MAX,
        needs_content: min > 0,
        attrs,
        required_attrs,
        one_of_attrs: &[],
        needs_attrs: !required_attrs.is_empty(),
        marks: &[],
    }
}

const RULES: &[Rule] = &[
    Rule {
        needs_content: true,
        ..container("doc", DOC_BLOCKS, 0, &[], &[])
    },
    Rule {
        marks: &["alignment", "fontSize", "indentation"],
        ..container("paragraph", INLINE, 0, &["localId"], &[])
    },
    Rule {
        marks: &["alignment", "indentation"],
        ..container("heading", INLINE, 0, &["level", "localId"], &["level"])
    },
    container("bulletList", &["listItem"], 1, &["localId"], &[]),
    container("orderedList", &["listItem"], 1, &["localId", "order"], &[]),
    container(
        "listItem",
        &[
            "bulletList",
            "codeBlock",
            "extension",
            "mediaSingle",
            "orderedList",
            "paragraph",
            "taskList",
        ],
        1,
        &["localId"],
        &[],
    ),
    container(
        "taskList",
        &["blockTaskItem", "taskItem", "taskList"],
        1,
        &["localId"],
        &["localId"],
    ),
    container(
        "taskItem",
        INLINE,
        0,
        &["localId", "state"],
        &["localId", "state"],
    ),
    container(
        "blockTaskItem",
        &["extension", "paragraph"],
        1,
        &["localId", "state"],
        &["localId", "state"],
    ),
    container(
        "decisionList",
        &["decisionItem"],
        1,
        &["localId"],
        &["localId"],
    ),
    container(
        "decisionItem",
        INLINE,
        0,
        &["localId", "state"],
        &["localId", "state"],
    ),
    Rule {
        marks: &["breakout"],
        ..container(
            "codeBlock",
            &["text"],
            0,
            &["hideLineNumbers", "language", "localId", "uniqueId", "wrap"],
            &[],
        )
    },
    container(
        "blockquote",
        &[
            "bulletList",
            "codeBlock",
            "extension",
            "mediaGroup",
            "mediaSingle",
            "orderedList",
            "paragraph",
        ],
        1,
        &["localId"],
        &[],
    ),
    container(
        "panel",
        &[
            "blockCard",
            "bulletList",
            "codeBlock",
            "decisionList",
            "extension",
            "heading",
            "mediaGroup",
            "mediaSingle",
            "orderedList",
            "paragraph",
            "rule",
            "taskList",
        ],
        1,
        &[
            "localId",
            "panelColor",
            "panelIcon",
            "panelIconId",
            "panelIconText",
            "panelType",
        ],
        &["panelType"],
    ),
    leaf("rule", &["localId"], &[]),
    Rule {
        marks: &["fragment"],
        ..container(
            "table",
            &["tableRow"],
            1,
            &[
                "displayMode",
                "isNumberColumnEnabled",
                "layout",
                "localId",
                "width",
            ],
            &[],
        )
    },
    Rule {
        needs_content: true,
        ..container(
            "tableRow",
            &["tableCell", "tableHeader"],
            0,
            &["localId"],
            &[],
        )
    },
    container(
        "tableCell",
        CELL_BLOCKS,
        1,
        &[
            "background",
            "colspan",
            "colwidth",
            "localId",
            "rowspan",
            "valign",
        ],
        &[],
    ),
    container(
        "tableHeader",
        CELL_BLOCKS,
        1,
        &[
            "background",
            "colspan",
            "colwidth",
            "localId",
            "rowspan",
            "valign",
        ],
        &[],
    ),
    Rule {
        max: 2,
        marks: &["link"],
        ..container(
            "mediaSingle",
            &["media", "caption"],
            1,
            &["layout", "localId", "width", "widthType"],
            &[],
        )
    },
    container("mediaGroup", &["media"], 1, &[], &[]),
    container(
        "caption",
        &[
            "date",
            "emoji",
            "hardBreak",
            "inlineCard",
            "mention",
            "placeholder",
            "status",
            "text",
        ],
        0,
        &["localId"],
        &[],
    ),
    Rule {
        needs_attrs: true,
        one_of_attrs: &["id", "url"],
        marks: MEDIA_MARKS,
        ..leaf(
            "media",
            &[
                "alt",
                "collection",
                "height",
                "id",
                "localId",
                "occurrenceKey",
                "type",
                "url",
                "width",
            ],
            &["type"],
        )
    },
    Rule {
        marks: MEDIA_MARKS,
        ..leaf(
            "mediaInline",
            &[
                "alt",
                "collection",
                "data",
                "height",
                "id",
                "localId",
                "occurrenceKey",
                "type",
                "width",
            ],
            &["collection", "id"],
        )
    },
    Rule {
        marks: &["breakout"],
        ..container("expand", EXPAND_BLOCKS, 1, &["localId", "title"], &[])
    },
    Rule {
        needs_attrs: true,
        ..container(
            "nestedExpand",
            &[
                "blockquote",
                "bulletList",
                "codeBlock",
                "decisionList",
                "extension",
                "heading",
                "mediaGroup",
                "mediaSingle",
                "orderedList",
                "panel",
                "paragraph",
                "rule",
                "taskList",
            ],
            1,
            &["localId", "title"],
            &[],
        )
    },
    Rule {
        needs_attrs: true,
        one_of_attrs: &["url", "data", "datasource"],
        ..leaf(
            "blockCard",
            &["data", "datasource", "layout", "localId", "url", "width"],
            &[],
        )
    },
    Rule {
        needs_attrs: true,
        one_of_attrs: &["url", "data"],
        ..leaf("inlineCard", &["data", "localId", "url"], &[])
    },
    leaf(
        "embedCard",
        &[
            "layout",
            "localId",
            "originalHeight",
            "originalWidth",
            "url",
            "width",
        ],
        &["layout", "url"],
    ),
    Rule {
        marks: &["dataConsumer", "fragment"],
        ..leaf(
            "extension",
            EXTENSION_ATTRS,
            &["extensionKey", "extensionType"],
        )
    },
    Rule {
        marks: &["dataConsumer", "fragment"],
        ..leaf(
            "inlineExtension",
            &[
                "extensionKey",
                "extensionType",
                "localId",
                "parameters",
                "text",
            ],
            &["extensionKey", "extensionType"],
        )
    },
    Rule {
        marks: &["dataConsumer", "fragment"],
        ..container(
            "bodiedExtension",
            &[
                "blockCard",
                "blockquote",
                "bulletList",
                "codeBlock",
                "decisionList",
                "embedCard",
                "extension",
                "heading",
                "mediaGroup",
                "mediaSingle",
                "orderedList",
                "panel",
                "paragraph",
                "rule",
                "table",
                "taskList",
            ],
            1,
            EXTENSION_ATTRS,
            &["extensionKey", "extensionType"],
        )
    },
    Rule {
        marks: &["breakout"],
        ..container("layoutSection", &["layoutColumn"], 2, &["localId"], &[])
    },
    container(
        "layoutColumn",
        &[
            "blockCard",
            "blockquote",
            "bodiedExtension",
            "bulletList",
            "codeBlock",
            "decisionList",
            "embedCard",
            "expand",
            "extension",
            "heading",
            "mediaGroup",
            "mediaSingle",
            "orderedList",
            "panel",
            "paragraph",
            "rule",
            "table",
            "taskList",
        ],
        1,
        &["localId", "valign", "width"],
        &["width"],
    ),
    Rule {
        marks: &["breakout"],
        ..leaf(
            "syncBlock",
            &["localId", "resourceId"],
            &["localId", "resourceId"],
        )
    },
    Rule {
        marks: &["breakout"],
        ..container(
            "bodiedSyncBlock",
            &[
                "blockCard",
                "blockquote",
                "bulletList",
                "codeBlock",
                "decisionList",
                "embedCard",
                "expand",
                "heading",
                "layoutSection",
                "mediaGroup",
                "mediaSingle",
                "orderedList",
                "panel",
                "paragraph",
                "rule",
                "table",
                "taskList",
            ],
            1,
            &["localId", "resourceId"],
            &["localId", "resourceId"],
        )
    },
    leaf("hardBreak", &["localId", "text"], &[]),
    leaf(
        "mention",
        &["accessLevel", "id", "localId", "text", "userType"],
        &["id"],
    ),
    leaf(
        "emoji",
        &["id", "localId", "shortName", "text"],
        &["shortName"],
    ),
    leaf("date", &["localId", "timestamp"], &["timestamp"]),
    leaf(
        "status",
        &["color", "localId", "style", "text"],
        &["color", "text"],
    ),
    leaf("placeholder", &["localId", "text"], &["text"]),
];

/// Marks a text node may carry, and those that may go with `code`.
const TEXT_MARKS: &[&str] = &[
    "annotation",
    "backgroundColor",
    "code",
    "em",
    "link",
    "strike",
    "strong",
    "subsup",
    "textColor",
    "underline",
];
const WITH_CODE: &[&str] = &["annotation", "code", "link"];

fn hex_colour(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str).is_some_and(|c| {
        c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Checks a document against the schema's rules; the error names the first offending node.
pub fn validate(doc: &Value) -> Result<(), String> {
    if doc.get("type").and_then(Value::as_str) != Some("doc") {
        return Err(NOT_ADF.into());
    }
    if doc.get("version").and_then(Value::as_u64) != Some(1) {
        return Err("doc: version must be 1".into());
    }
    check_node(doc, "doc")
}

fn check_node(node: &Value, path: &str) -> Result<(), String> {
    let obj = node
        .as_object()
        .ok_or_else(|| format!("{path}: not a node"))?;
    let ty = obj.get("type").and_then(Value::as_str).unwrap_or_default();
    let path = format!("{path}/{ty}");
    if ty == "text" {
        return check_text(obj, &path);
    }
    let rule = RULES
        .iter()
        .find(|r| r.ty == ty)
        .ok_or_else(|| format!("{path}: unknown node type"))?;
    for key in obj.keys() {
        let ok = match key.as_str() {
            "type" => true,
            "version" => ty == "doc",
            "content" => !rule.content.is_empty(),
            "attrs" => !rule.attrs.is_empty(),
            "marks" => true,
            _ => false,
        };
        if !ok {
            return Err(format!("{path}: property {key:?} is not allowed"));
        }
    }
    // Attributes.
    match obj.get("attrs") {
        None if rule.needs_attrs => return Err(format!("{path}: attrs are required")),
        None => {}
        Some(a) => {
            let a = a
                .as_object()
                .ok_or_else(|| format!("{path}: attrs must be an object"))?;
            if let Some(k) = a.keys().find(|k| !rule.attrs.contains(&k.as_str())) {
                return Err(format!("{path}: attribute {k:?} is not allowed"));
            }
            if let Some(k) = rule.required_attrs.iter().find(|k| !a.contains_key(**k)) {
                return Err(format!("{path}: attribute {k:?} is required"));
            }
            if !rule.one_of_attrs.is_empty()
                && !rule.one_of_attrs.iter().any(|k| a.contains_key(*k))
            {
                return Err(format!(
                    "{path}: one of the attributes {:?} is required",
                    rule.one_of_attrs
                ));
            }
            check_attr_values(ty, a, &path)?;
        }
    }
    // Marks.
    if let Some(marks) = obj.get("marks") {
        let marks = marks
            .as_array()
            .ok_or_else(|| format!("{path}: marks must be a list"))?;
        for m in marks {
            let mt = m.get("type").and_then(Value::as_str).unwrap_or_default();
            if !rule.marks.contains(&mt) {
                return Err(format!("{path}: mark {mt:?} is not allowed"));
            }
        }
    }
    // Content.
    match obj.get("content") {
        None if rule.needs_content => return Err(format!("{path}: content is required")),
        None => {}
        Some(c) => {
            let c = c
                .as_array()
                .ok_or_else(|| format!("{path}: content must be a list"))?;
            if c.len() < rule.min || c.len() > rule.max {
                return Err(format!("{path}: {} children is not allowed", c.len()));
            }
            for (n, child) in c.iter().enumerate() {
                let ct = child
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let allowed = match ty {
                    // The image first, then at most a caption.
                    "mediaSingle" => ct == ["media", "caption"][n.min(1)],
                    _ => rule.content.contains(&ct),
                };
                if !allowed {
                    return Err(format!("{path}: a {ct:?} node is not allowed here"));
                }
                if ty == "codeBlock" && child.get("marks").is_some() {
                    return Err(format!("{path}: text in a code block takes no marks"));
                }
                check_node(child, &path)?;
            }
            if ty == "layoutSection" && c.len() > 3 {
                return Err(format!("{path}: at most 3 columns"));
            }
        }
    }
    Ok(())
}

fn check_attr_values(ty: &str, a: &Map<String, Value>, path: &str) -> Result<(), String> {
    let text = |k: &str| a.get(k).and_then(Value::as_str);
    let filled = |k: &str| text(k).is_some_and(|t| !t.is_empty());
    let (ok, what) = match ty {
        "heading" => (
            a.get("level")
                .and_then(Value::as_f64)
                .is_some_and(|l| (1.0..=6.0).contains(&l)),
            "level",
        ),
        "panel" => (
            text("panelType").is_some_and(|t| {
                [
                    "info", "note", "tip", "warning", "error", "success", "custom",
                ]
                .contains(&t)
            }),
            "panelType",
        ),
        "taskItem" | "blockTaskItem" => (matches!(text("state"), Some("TODO" | "DONE")), "state"),
        "status" => {
            let named = ["neutral", "purple", "blue", "red", "yellow", "green"];
            let colour =
                text("color").is_some_and(|c| named.contains(&c)) || hex_colour(a.get("color"));
            (colour && filled("text"), "color or text")
        }
        "date" => (filled("timestamp"), "timestamp"),
        "mention" => (text("id").is_some(), "id"),
        "emoji" => (text("shortName").is_some(), "shortName"),
        "codeBlock" => (a.get("language").is_none_or(Value::is_string), "language"),
        "media" => (
            matches!(text("type"), Some("file" | "link" | "external")),
            "type",
        ),
        _ => (true, ""),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{path}: attribute {what} is not valid"))
    }
}

fn check_text(obj: &Map<String, Value>, path: &str) -> Result<(), String> {
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "type" | "text" | "marks"))
    {
        return Err(format!("{path}: property {k:?} is not allowed"));
    }
    if obj
        .get("text")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(format!("{path}: text must be a non-empty string"));
    }
    let Some(marks) = obj.get("marks") else {
        return Ok(());
    };
    let marks = marks
        .as_array()
        .ok_or_else(|| format!("{path}: marks must be a list"))?;
    let kinds: Vec<&str> = marks
        .iter()
        .map(|m| m.get("type").and_then(Value::as_str).unwrap_or_default())
        .collect();
    if let Some(k) = kinds.iter().find(|k| !TEXT_MARKS.contains(k)) {
        return Err(format!("{path}: mark {k:?} is not allowed on text"));
    }
    if kinds.contains(&"code") {
        if let Some(k) = kinds.iter().find(|k| !WITH_CODE.contains(k)) {
            return Err(format!(
                "{path}: the code mark cannot be combined with {k:?}"
            ));
        }
    }
    for m in marks {
        let attrs = m.get("attrs");
        let ok = match m.get("type").and_then(Value::as_str).unwrap_or_default() {
            "link" => attrs
                .and_then(|a| a.get("href"))
                .is_some_and(Value::is_string),
            "textColor" | "backgroundColor" => hex_colour(attrs.and_then(|a| a.get("color"))),
            "subsup" => matches!(
                attrs.and_then(|a| a.get("type")).and_then(Value::as_str),
                Some("sub" | "sup")
            ),
            "annotation" => attrs
                .and_then(|a| a.get("id"))
                .is_some_and(Value::is_string),
            _ => attrs.is_none(),
        };
        if !ok {
            return Err(format!("{path}: a mark's attributes are not valid"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_survives_a_round_trip_through_adf() {
        let text = "First line\nsecond line\n\nNew paragraph";
        assert_eq!(to_text(&from_text(text)).unwrap(), text);
    }

    #[test]
    fn the_schema_rules_take_rich_documents_and_refuse_broken_ones() {
        let good = json!({"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [
                {"type": "text", "text": "x", "marks": [{"type": "code"}, {"type": "link", "attrs": {"href": "https://a"}}]},
                {"type": "mention", "attrs": {"id": "1", "text": "@A"}},
                {"type": "status", "attrs": {"text": "DONE", "color": "green"}}
            ]},
            {"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [
                {"type": "media", "attrs": {"type": "file", "id": "f", "collection": ""}}
            ]},
            {"type": "table", "content": [{"type": "tableRow", "content": [
                {"type": "tableHeader", "content": [{"type": "paragraph"}]}
            ]}]}
        ]});
        assert_eq!(validate(&good), Ok(()));
        for (bad, why) in [
            (
                json!({"type": "text", "text": "x", "marks": [{"type": "code"}, {"type": "strong"}]}),
                "code",
            ),
            (json!({"type": "text", "text": ""}), "non-empty"),
            (json!({"type": "bulletList", "content": []}), "0 children"),
            (json!({"type": "heading", "content": []}), "attrs"),
            (
                json!({"type": "panel", "attrs": {"panelType": "pink"}, "content": [{"type": "paragraph"}]}),
                "panelType",
            ),
            (json!({"type": "frobnicate"}), "not allowed"),
        ] {
            let doc = json!({"type": "doc", "version": 1, "content": [
                if node_is_inline(&bad) { json!({"type": "paragraph", "content": [bad]}) } else { bad }
            ]});
            let err = validate(&doc).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
    }

    fn node_is_inline(n: &Value) -> bool {
        INLINE.contains(&n["type"].as_str().unwrap_or_default())
    }

    #[test]
    fn a_plain_string_is_not_a_document() {
        assert_eq!(to_text(&json!("hello")), Err(NOT_ADF));
        assert_eq!(to_text(&json!({"type": "paragraph"})), Err(NOT_ADF));
    }
}
