//! Validates response bodies against Atlassian's OpenAPI 3.0 descriptions of Jira.
//!
//! Hand-written rather than a JSON Schema crate because OpenAPI 3.0 is not JSON Schema:
//! `nullable`, `readOnly`/`writeOnly` and `allOf` combined with `additionalProperties: false`
//! (everywhere in Atlassian's descriptions) need OpenAPI's reading, and a failing test must name
//! every mismatch by its JSON path (`$.columnConfig.columns[0].name`), not only the first one.
//!
//! What is checked: `type` (with `nullable`), `enum`, `properties`, `required` (minus
//! `writeOnly` properties, which a response never carries), `additionalProperties` (false or a
//! schema), `items`, `allOf` (all), `oneOf`/`anyOf` (at least one; Atlassian's alternatives
//! overlap, so "exactly one" would reject valid bodies), `minItems`/`maxItems`,
//! `minLength`/`maxLength`. Not checked: `format` (Jira's own timestamps such as
//! `2024-01-31T10:00:00.000+0000` are not RFC 3339) and `pattern`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// One or more OpenAPI documents; operations are looked up in each in turn.
pub struct Spec {
    docs: Vec<Doc>,
    /// Report properties that a schema with `additionalProperties: false` does not declare.
    pub strict_additional_properties: bool,
    tolerated: Vec<Tolerance>,
}

/// A documented divergence between Atlassian's description and what real Jira sends, which a
/// faithful simulator reproduces (e.g. `null` changelog values the schema calls strings).
#[derive(Debug, Clone)]
pub struct Tolerance {
    /// `METHOD TEMPLATE` glob, e.g. `GET /rest/api/3/issue/{issueIdOrKey}/changelog` or `*`.
    pub operation: String,
    /// JSON path glob with arrays written `[]`, e.g. `$.values[].items[].from`.
    pub path: String,
    pub reason: String,
}

struct Doc {
    name: String,
    root: Value,
    templates: Vec<Template>,
}

struct Template {
    text: String,
    segments: Vec<Segment>,
}

enum Segment {
    Literal(String),
    /// `{param}`, possibly with literal text around it in the same segment.
    Param {
        prefix: String,
        suffix: String,
    },
}

impl Spec {
    /// Loads one OpenAPI document (JSON).
    pub fn load(path: &Path) -> Result<Spec, String> {
        Spec::load_all(&[path.to_path_buf()])
    }

    /// Loads several documents, e.g. Jira's platform and software descriptions together.
    pub fn load_all(paths: &[PathBuf]) -> Result<Spec, String> {
        let mut docs = Vec::new();
        for p in paths {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            let root: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not JSON: {e}", p.display()))?;
            docs.push(Doc::new(p.display().to_string(), root)?);
        }
        Ok(Spec {
            docs,
            strict_additional_properties: true,
            tolerated: Vec::new(),
        })
    }

    /// Jira Cloud's two descriptions (platform REST v3 and software/Agile) from the shared
    /// reference folder.
    pub fn jira(shared: &Path) -> Result<Spec, String> {
        let dir = shared.join("reference/jira-openapi");
        Spec::load_all(&[
            dir.join("jira-cloud-platform.v3.json"),
            dir.join("jira-software.v3.json"),
        ])
    }

    /// A spec built in memory (unit tests of the validator itself).
    pub fn from_value(root: Value) -> Result<Spec, String> {
        Ok(Spec {
            docs: vec![Doc::new("inline".into(), root)?],
            strict_additional_properties: true,
            tolerated: Vec::new(),
        })
    }

    /// Accepts mismatches at `path` (a glob, arrays as `[]`) of responses of `operation` (a
    /// `METHOD TEMPLATE` glob); `reason` documents why real Jira differs from its description.
    pub fn tolerate(&mut self, operation: &str, path: &str, reason: &str) {
        self.tolerated.push(Tolerance {
            operation: operation.to_string(),
            path: path.to_string(),
            reason: reason.to_string(),
        });
    }

    /// Drops errors covered by a tolerance; an alternative's indented detail lines go with
    /// their header.
    fn filter(&self, operation: &str, errors: Vec<String>) -> Vec<String> {
        let mut out = Vec::new();
        let mut dropping = false;
        for e in errors {
            if e.starts_with("  ") {
                if !dropping {
                    out.push(e);
                }
                continue;
            }
            let path = normalise(e.split(": ").next().unwrap_or(""));
            dropping = self
                .tolerated
                .iter()
                .any(|t| glob(&t.operation, operation) && glob(&t.path, &path));
            if !dropping {
                out.push(e);
            }
        }
        out
    }

    /// The path template that `path` (concrete, query string allowed) matches for `method`, as
    /// `(document name, template)`. Literal segments win over parameters, so
    /// `/rest/api/3/issue/createmeta` is not taken for `/rest/api/3/issue/{issueIdOrKey}`.
    pub fn operation(&self, method: &str, path: &str) -> Option<(&str, &str)> {
        self.find(method, path)
            .map(|(d, t, _)| (d.name.as_str(), t.text.as_str()))
    }

    fn find(&self, method: &str, path: &str) -> Option<(&Doc, &Template, &Value)> {
        let path = strip_origin(path);
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let method = method.to_ascii_lowercase();
        let mut best: Option<(usize, &Doc, &Template, &Value)> = None;
        for doc in &self.docs {
            for t in &doc.templates {
                let Some(score) = t.score(&parts) else {
                    continue;
                };
                let Some(op) = doc.root["paths"][&t.text].get(&method) else {
                    continue;
                };
                if best.as_ref().is_none_or(|(s, ..)| score > *s) {
                    best = Some((score, doc, t, op));
                }
            }
        }
        best.map(|(_, d, t, op)| (d, t, op))
    }

    /// Validates `value` against a named schema, e.g. `#/components/schemas/IssueBean`.
    pub fn validate_schema(&self, reference: &str, value: &Value) -> Result<(), Vec<String>> {
        for doc in &self.docs {
            if let Some(schema) = resolve(&doc.root, reference) {
                let mut v = Validator {
                    root: &doc.root,
                    strict: self.strict_additional_properties,
                    errors: Vec::new(),
                };
                v.check(schema, value, "$", &BTreeSet::new());
                return finish(self.filter(reference, v.errors));
            }
        }
        Err(vec![format!("no schema {reference} in the spec")])
    }
}

impl Doc {
    fn new(name: String, root: Value) -> Result<Doc, String> {
        let paths = root
            .get("paths")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{name} has no paths"))?;
        let templates = paths.keys().map(|k| Template::new(k)).collect();
        Ok(Doc {
            name,
            root,
            templates,
        })
    }
}

impl Template {
    fn new(text: &str) -> Template {
        let segments = text
            .trim_end_matches('/')
            .split('/')
            .map(|s| match (s.find('{'), s.rfind('}')) {
                (Some(a), Some(b)) if a < b => Segment::Param {
                    prefix: s[..a].to_string(),
                    suffix: s[b + 1..].to_string(),
                },
                _ => Segment::Literal(s.to_string()),
            })
            .collect();
        Template {
            text: text.to_string(),
            segments,
        }
    }

    /// Number of literal segments when `parts` matches, None otherwise.
    fn score(&self, parts: &[&str]) -> Option<usize> {
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut literals = 0;
        for (seg, part) in self.segments.iter().zip(parts) {
            match seg {
                Segment::Literal(l) if l == part => literals += 1,
                Segment::Literal(_) => return None,
                Segment::Param { prefix, suffix } => {
                    let ok = part.len() > prefix.len() + suffix.len()
                        && part.starts_with(prefix.as_str())
                        && part.ends_with(suffix.as_str());
                    if !ok {
                        return None;
                    }
                }
            }
        }
        Some(literals)
    }
}

fn strip_origin(path: &str) -> &str {
    match path.find("://") {
        Some(i) => {
            let rest = &path[i + 3..];
            rest.find('/').map_or("/", |j| &rest[j..])
        }
        None => path,
    }
}

fn finish(mut errors: Vec<String>) -> Result<(), Vec<String>> {
    let mut seen = BTreeSet::new();
    errors.retain(|e| e.starts_with("  ") || seen.insert(e.clone()));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Checks a response body against the operation's documented response for `status`.
///
/// Fails when the path or method is not in the spec, when the status is not documented (a
/// `default` response counts), or when the body does not match the JSON schema. A documented
/// response without a JSON schema accepts any body.
pub fn validate_response(
    spec: &Spec,
    method: &str,
    path: &str,
    status: u16,
    body: &Value,
) -> Result<(), Vec<String>> {
    let Some((doc, template, op)) = spec.find(method, path) else {
        return Err(vec![format!(
            "{} {path}: no such operation in the OpenAPI description",
            method.to_uppercase()
        )]);
    };
    let responses = &op["responses"];
    let code = status.to_string();
    let class = format!("{}XX", status / 100);
    let Some(response) = responses
        .get(&code)
        .or_else(|| responses.get(&class))
        .or_else(|| responses.get("default"))
    else {
        return Err(vec![format!(
            "{} {}: status {status} is not documented (documented: {})",
            method.to_uppercase(),
            template.text,
            responses
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        )]);
    };
    let response = deref(&doc.root, response);
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return Ok(());
    };
    let schema = content
        .iter()
        .find(|(k, _)| k.starts_with("application/json") || k.as_str() == "*/*")
        .and_then(|(_, c)| c.get("schema"));
    let Some(schema) = schema else {
        return Ok(());
    };
    let mut v = Validator {
        root: &doc.root,
        strict: spec.strict_additional_properties,
        errors: Vec::new(),
    };
    v.check(schema, body, "$", &BTreeSet::new());
    let operation = format!("{} {}", method.to_uppercase(), template.text);
    let prefix = format!("{operation} {status}");
    finish(
        spec.filter(&operation, v.errors)
            .into_iter()
            .map(|e| format!("{prefix}: {e}"))
            .collect(),
    )
}

/// `$.a[3].b` into `$.a[].b`, the form tolerances are written in.
fn normalise(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '[' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
        }
    }
    out
}

/// `*` matches any run of characters (including none); everything else literally.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

/// Follows `$ref`s (chains included) to the schema they name; an unresolvable one is returned
/// as is and reported by the validator.
fn deref<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..32 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => match resolve(root, r) {
                Some(s) => schema = s,
                None => return schema,
            },
            None => return schema,
        }
    }
    schema
}

struct Validator<'a> {
    root: &'a Value,
    strict: bool,
    errors: Vec<String>,
}

fn describe(v: &Value) -> String {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let mut text = v.to_string();
    if text.len() > 60 {
        let mut cut = 57;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    format!("{kind} {text}")
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "number" => v.is_number(),
        "integer" => match v {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        _ => true,
    }
}

fn child(path: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if simple {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", Value::String(key.to_string()))
    }
}

impl<'a> Validator<'a> {
    /// `siblings`: property names declared by the other branches of an enclosing `allOf`,
    /// which `additionalProperties: false` in this branch must not reject.
    fn check(&mut self, schema: &'a Value, v: &Value, path: &str, siblings: &BTreeSet<String>) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            match resolve(self.root, r) {
                Some(s) => return self.check(s, v, path, siblings),
                None => {
                    self.errors
                        .push(format!("{path}: unresolvable $ref {r} in the spec"));
                    return;
                }
            }
        }
        let Some(obj) = schema.as_object() else {
            return; // `true`/`{}`: anything goes.
        };
        let nullable = obj.get("nullable").and_then(Value::as_bool) == Some(true);
        if v.is_null() {
            if nullable {
                return;
            }
            let combined =
                obj.contains_key("allOf") || obj.contains_key("oneOf") || obj.contains_key("anyOf");
            let constrained = combined
                || obj.contains_key("type")
                || obj.contains_key("properties")
                || obj.contains_key("enum");
            // A bare schema admits null; combinators let their branches decide.
            if !constrained {
                return;
            }
            if !combined {
                self.errors
                    .push(format!("{path}: expected {}, got null", expected(obj)));
                return;
            }
        }

        // Under allOf, each part may only reject what no other part declares.
        let mut names = siblings.clone();
        if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
            if let Some(props) = obj.get("properties").and_then(Value::as_object) {
                names.extend(props.keys().cloned());
            }
            for branch in all {
                names.extend(self.declared(branch));
            }
            for branch in all {
                self.check(branch, v, path, &names);
            }
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alts) = obj.get(key).and_then(Value::as_array) {
                self.alternatives(key, alts, v, path, siblings);
            }
        }
        if v.is_null() {
            return; // Only combinators get here with null, and they have reported.
        }

        if let Some(ty) = obj.get("type").and_then(Value::as_str) {
            if !type_matches(ty, v) {
                self.errors.push(format!(
                    "{path}: expected {}, got {}",
                    expected(obj),
                    describe(v)
                ));
                return;
            }
        }
        if let Some(values) = obj.get("enum").and_then(Value::as_array) {
            if !values.contains(v) {
                self.errors.push(format!(
                    "{path}: {} is not one of {}",
                    describe(v),
                    Value::Array(values.clone())
                ));
            }
        }
        match v {
            Value::Object(map) => self.object(obj, map, path, &names),
            Value::Array(items) => {
                if let Some(item_schema) = obj.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{path}[{i}]"), &BTreeSet::new());
                    }
                }
                let n = items.len() as u64;
                if let Some(min) = obj.get("minItems").and_then(Value::as_u64) {
                    if n < min {
                        self.errors
                            .push(format!("{path}: {n} items, at least {min} expected"));
                    }
                }
                if let Some(max) = obj.get("maxItems").and_then(Value::as_u64) {
                    if n > max {
                        self.errors
                            .push(format!("{path}: {n} items, at most {max} expected"));
                    }
                }
            }
            Value::String(s) => {
                let n = s.chars().count() as u64;
                if let Some(min) = obj.get("minLength").and_then(Value::as_u64) {
                    if n < min {
                        self.errors
                            .push(format!("{path}: string shorter than {min} characters"));
                    }
                }
                if let Some(max) = obj.get("maxLength").and_then(Value::as_u64) {
                    if n > max {
                        self.errors
                            .push(format!("{path}: string longer than {max} characters"));
                    }
                }
            }
            _ => {}
        }
    }

    fn alternatives(
        &mut self,
        key: &str,
        alts: &'a [Value],
        v: &Value,
        path: &str,
        siblings: &BTreeSet<String>,
    ) {
        let mut best: Option<Vec<String>> = None;
        for alt in alts {
            let mut sub = Validator {
                root: self.root,
                strict: self.strict,
                errors: Vec::new(),
            };
            sub.check(alt, v, path, siblings);
            if sub.errors.is_empty() {
                return;
            }
            if best.as_ref().is_none_or(|b| sub.errors.len() < b.len()) {
                best = Some(sub.errors);
            }
        }
        self.errors.push(format!(
            "{path}: matches none of the {} {key} alternatives; closest one fails with:",
            alts.len()
        ));
        self.errors.extend(
            best.unwrap_or_default()
                .into_iter()
                .map(|e| format!("  {e}")),
        );
    }

    /// Property names a schema declares, through `$ref` and nested `allOf`.
    fn declared(&self, schema: &Value) -> BTreeSet<String> {
        let schema = deref(self.root, schema);
        let mut names = BTreeSet::new();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            names.extend(props.keys().cloned());
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for b in all {
                names.extend(self.declared(b));
            }
        }
        names
    }

    fn object(
        &mut self,
        obj: &'a Map<String, Value>,
        map: &Map<String, Value>,
        path: &str,
        siblings: &BTreeSet<String>,
    ) {
        let props = obj.get("properties").and_then(Value::as_object);
        if let Some(required) = obj.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                let write_only = props
                    .and_then(|p| p.get(name))
                    .map(|s| deref(self.root, s))
                    .and_then(|s| s.get("writeOnly"))
                    .and_then(Value::as_bool)
                    == Some(true);
                if !map.contains_key(name) && !write_only {
                    self.errors.push(format!(
                        "{}: required property is missing",
                        child(path, name)
                    ));
                }
            }
        }
        let additional = obj.get("additionalProperties");
        for (key, value) in map {
            let p = child(path, key);
            if let Some(s) = props.and_then(|p| p.get(key)) {
                self.check(s, value, &p, &BTreeSet::new());
                continue;
            }
            if siblings.contains(key) {
                continue;
            }
            match additional {
                Some(Value::Bool(false)) if self.strict => {
                    self.errors.push(format!(
                        "{p}: property not declared by the schema (additionalProperties is false)"
                    ));
                }
                Some(s @ Value::Object(_)) => self.check(s, value, &p, &BTreeSet::new()),
                _ => {}
            }
        }
    }
}

fn expected(obj: &Map<String, Value>) -> String {
    let ty = obj.get("type").and_then(Value::as_str).unwrap_or("a value");
    if obj.get("nullable").and_then(Value::as_bool) == Some(true) {
        format!("{ty} or null")
    } else {
        ty.to_string()
    }
}
