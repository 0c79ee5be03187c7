//! Conversion between the plain/wiki text the simulator stores and the Atlassian Document
//! Format that Cloud's REST v3 speaks, so one issue reads the same through v2 and v3.

use serde_json::{json, Value};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_survives_a_round_trip_through_adf() {
        let text = "First line\nsecond line\n\nNew paragraph";
        assert_eq!(to_text(&from_text(text)).unwrap(), text);
    }

    #[test]
    fn a_plain_string_is_not_a_document() {
        assert_eq!(to_text(&json!("hello")), Err(NOT_ADF));
        assert_eq!(to_text(&json!({"type": "paragraph"})), Err(NOT_ADF));
    }
}
