//! JQL search in both dialects: Data Center's `/search` (offset paging with `total`) and
//! Cloud's enhanced `/search/jql` (page tokens, no total) with `/search/approximate-count`,
//! plus the query cache and `search_keys` for the simulator's own API. Separate because
//! parameter parsing, paging and the query cache are shared by all of them and by nothing else.

use std::sync::Arc;

use base64::Engine;
use chrono::Utc;
use hyper::Method;
use serde_json::{json, Map, Value};

use crate::sim::events::IssueView;
use crate::sim::jql::{self, EvalContext, Field};
use crate::sim::model::*;
use crate::sim::render::{FieldSel, View};
use crate::sim::server::{Req, Resp};
use crate::sim::Shared;

use super::admin;
use super::render_cache::{full_issues_json, wants_full_form, with_issues};

fn eval_context(st: &State, user: &User) -> EvalContext {
    EvalContext {
        now: Utc::now(),
        current_user: user.id.clone(),
        open_sprint_ids: st
            .sprints
            .values()
            .filter(|s| s.state == SprintState::Active)
            .map(|s| s.id)
            .collect(),
        closed_sprint_ids: st
            .sprints
            .values()
            .filter(|s| s.state == SprintState::Closed)
            .map(|s| s.id)
            .collect(),
    }
}

fn parse_jql(st: &State, q: &str) -> Result<jql::Query, Resp> {
    jql::parse_with(q, &|name| {
        st.field_by_id_or_name(name)
            .and_then(|d| d.custom_id())
            .map(Field::Custom)
    })
    .map_err(|e| Resp::error(400, &[&e.to_string()], Map::new()))
}

/// Runs a query and returns the sorted ids, from the cache when the state has not changed.
pub(super) fn run_query(
    sh: &Shared,
    st: &State,
    user: &User,
    q: &str,
    validate: bool,
) -> Result<Arc<Vec<u64>>, Resp> {
    let cache_key = format!("{}\u{0}{validate}\u{0}{q}", user.id);
    if let Ok(cache) = sh.search_cache.lock() {
        if let Some((generation, ids)) = cache.get(&cache_key) {
            if *generation == st.generation {
                return Ok(ids.clone());
            }
        }
    }
    let query = parse_jql(st, q)?;
    if validate {
        // Jira refuses a query naming an issue that does not exist or cannot be seen.
        for (field, value) in query.issue_refs() {
            if st.issue_id(&value).is_none() {
                return Err(Resp::error(
                    400,
                    &[&format!(
                        "An issue with key '{value}' does not exist for field '{field}'."
                    )],
                    Map::new(),
                ));
            }
        }
    }
    let ctx = eval_context(st, user);
    // A query restricted to named keys or ids looks at those issues only (the key index);
    // a name the index does not know as written (`demo-01`) makes it look at all of them.
    let named: Option<Vec<u64>> = query
        .key_candidates()
        .and_then(|refs| refs.iter().map(|r| st.issue_id(r)).collect());
    let candidates: Box<dyn Iterator<Item = &Issue>> = match named {
        Some(mut ids) => {
            ids.sort_unstable();
            ids.dedup();
            Box::new(ids.into_iter().filter_map(|id| st.issues.get(&id)))
        }
        None => Box::new(st.issues.values()),
    };
    let mut hits: Vec<&Issue> = candidates
        .filter(|i| !st.hidden.contains(&i.id))
        .filter(|i| query.matches(&IssueView { st, issue: i }, &ctx))
        .collect();
    hits.sort_by_cached_key(|i| query.sort_key(&IssueView { st, issue: i }));
    let ids = Arc::new(hits.into_iter().map(|i| i.id).collect::<Vec<_>>());
    if let Ok(mut cache) = sh.search_cache.lock() {
        if cache.len() > 64 {
            // Results of older states first; then the smallest results, so that a client
            // paging through a large result while it looks up a few issues by key (many small
            // distinct queries) does not have its large result sorted again for every page.
            cache.retain(|_, (generation, _)| *generation == st.generation);
            while cache.len() > 64 {
                let smallest = cache
                    .iter()
                    .min_by_key(|(_, (_, ids))| ids.len())
                    .map(|(k, _)| k.clone());
                match smallest {
                    Some(k) => cache.remove(&k),
                    None => break,
                };
            }
        }
        cache.insert(cache_key, (st.generation, ids.clone()));
    }
    Ok(ids)
}

pub fn search_keys(sh: &Shared, q: &str) -> Result<Vec<String>, Resp> {
    let st = sh.read();
    let user = admin(&st).ok_or_else(|| Resp::forbidden("no administrator"))?;
    let ids = run_query(sh, &st, &user, q, false)?;
    Ok(ids
        .iter()
        .filter_map(|id| st.issues.get(id))
        .map(|i| i.key.clone())
        .collect())
}

/// Search parameters from the query string (GET) or the JSON body (POST).
struct SearchParams {
    jql: String,
    start_at: usize,
    max_results: Option<usize>,
    token: Option<String>,
    fields: Option<String>,
    expand: String,
    /// Entity properties to return with each issue (`properties`).
    properties: Option<String>,
    /// `validateQuery` (Data Center): `false` (or `"none"`/`"warn"`) searches even when the
    /// query names issues that do not exist.
    validate: bool,
}

fn search_params(req: &Req) -> Result<SearchParams, Resp> {
    if req.method == Method::POST {
        let b = req.json()?;
        let list = |k: &str| match b.get(k) {
            Some(Value::Array(a)) => Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let num = |k: &str| -> Result<Option<usize>, Resp> {
            match b.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| {
                    Resp::error(
                        400,
                        &[&format!(
                            "The '{k}' parameter must be a non-negative integer."
                        )],
                        Map::new(),
                    )
                }),
            }
        };
        Ok(SearchParams {
            jql: b
                .get("jql")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            start_at: num("startAt")?.unwrap_or(0),
            max_results: num("maxResults")?,
            token: b
                .get("nextPageToken")
                .and_then(Value::as_str)
                .map(String::from),
            fields: list("fields"),
            expand: list("expand").unwrap_or_default(),
            properties: list("properties"),
            validate: match b.get("validateQuery") {
                Some(Value::Bool(v)) => *v,
                Some(Value::String(v)) => v.eq_ignore_ascii_case("strict") || v == "true",
                _ => true,
            },
        })
    } else {
        Ok(SearchParams {
            jql: req.q("jql").unwrap_or_default().to_string(),
            start_at: req.q_usize("startAt", 0)?,
            max_results: match req.q("maxResults") {
                Some(_) => Some(req.q_usize("maxResults", 50)?),
                None => None,
            },
            token: req.q("nextPageToken").map(String::from),
            fields: req.q_list("fields"),
            expand: req.q_list("expand").unwrap_or_default(),
            properties: req.q_list("properties"),
            validate: req
                .q("validateQuery")
                .is_none_or(|v| v.eq_ignore_ascii_case("strict") || v == "true"),
        })
    }
}

pub(super) fn search_dc(sh: &Shared, req: &Req, v3: bool) -> Result<Resp, Resp> {
    let user = req.user()?;
    let p = search_params(req)?;
    let max = p.max_results.unwrap_or(50).min(1000);
    let st = sh.read();
    let ids = run_query(sh, &st, user, &p.jql, p.validate)?;
    let sel = FieldSel::parse(p.fields.as_deref(), true);
    let v = View::new(&st, &sh.base_url, v3);
    let head = json!({"expand": "schema,names", "startAt": p.start_at, "maxResults": max, "total": ids.len()});
    if p.properties.is_none() && wants_full_form(p.fields.as_deref(), true, &p.expand) {
        let page: Vec<u64> = ids.iter().skip(p.start_at).take(max).copied().collect();
        return Ok(with_issues(head, &full_issues_json(sh, &st, v3, &page)));
    }
    let issues: Vec<Value> = ids
        .iter()
        .skip(p.start_at)
        .take(max)
        .filter_map(|id| st.issues.get(id))
        .map(|i| {
            let mut x = v.issue(i, &sel, &p.expand);
            if let Some(wanted) = &p.properties {
                x["properties"] = super::properties::of_issue(&i.properties, wanted);
            }
            x
        })
        .collect();
    let mut body = head;
    body["issues"] = Value::Array(issues);
    add_names_schema(&v, &p.expand, &mut body);
    Ok(Resp::ok(&body))
}

fn add_names_schema(v: &View<'_>, expand: &str, body: &mut Value) {
    if expand.split(',').any(|e| e.trim() == "names") {
        body["names"] = Value::Object(
            v.st.fields()
                .map(|d| (d.id.to_string(), json!(d.name)))
                .collect(),
        );
    }
    if expand.split(',').any(|e| e.trim() == "schema") {
        body["schema"] = Value::Object(
            v.st.fields()
                .map(|d| (d.id.to_string(), v.field_schema(d)))
                .collect(),
        );
    }
}

fn encode_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("sim-offset:{offset}"))
}

fn decode_token(t: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("sim-offset:")?
        .parse()
        .ok()
}

/// Cloud's replacement for the `total` that enhanced search dropped.
pub(super) fn approximate_count(sh: &Shared, req: &Req) -> Result<Resp, Resp> {
    let user = req.user()?;
    let body = req.json()?;
    let q = body.get("jql").and_then(Value::as_str).unwrap_or_default();
    let st = sh.read();
    if !parse_jql(&st, q)?.is_bounded() {
        return Err(Resp::error(400, &["Unbounded JQL queries are not allowed here. Please add a search restriction to your query."], Map::new()));
    }
    let ids = run_query(sh, &st, user, q, true)?;
    Ok(Resp::ok(&json!({"count": ids.len()})))
}

pub(super) fn search_cloud(sh: &Shared, req: &Req, v3: bool) -> Result<Resp, Resp> {
    let user = req.user()?;
    let p = search_params(req)?;
    let st = sh.read();
    let query = parse_jql(&st, &p.jql)?;
    if !query.is_bounded() {
        return Err(Resp::error(400, &["Unbounded JQL queries are not allowed here. Please add a search restriction to your query."], Map::new()));
    }
    let offset = match &p.token {
        Some(t) => decode_token(t).ok_or_else(|| {
            Resp::error(
                400,
                &["The provided next page token is invalid or expired."],
                Map::new(),
            )
        })?,
        None => 0,
    };
    let sel = FieldSel::parse(p.fields.as_deref(), false);
    let ids_only = p
        .fields
        .as_deref()
        .is_none_or(|f| f.split(',').all(|x| matches!(x.trim(), "id" | "key" | "")));
    let max = p
        .max_results
        .unwrap_or(50)
        .clamp(1, if ids_only { 5000 } else { 100 });
    let ids = run_query(sh, &st, user, &p.jql, true)?;
    let v = View::new(&st, &sh.base_url, v3);
    let page: Vec<u64> = ids.iter().skip(offset).take(max).copied().collect();
    let end = offset + page.len();
    let is_last = end >= ids.len();
    let mut head = json!({"isLast": is_last});
    if !is_last {
        head["nextPageToken"] = json!(encode_token(end));
    }
    if wants_full_form(p.fields.as_deref(), false, &p.expand) {
        return Ok(with_issues(head, &full_issues_json(sh, &st, v3, &page)));
    }
    let issues: Vec<Value> = page
        .iter()
        .filter_map(|id| st.issues.get(id))
        .map(|i| v.issue(i, &sel, &p.expand))
        .collect();
    let mut body = head;
    body["issues"] = Value::Array(issues);
    add_names_schema(&v, &p.expand, &mut body);
    Ok(Resp::ok(&body))
}

/// Cloud's `POST /rest/api/3/issue/bulkfetch`: up to 100 issues by id or key in one call,
/// answered in ascending id order.
/// Issues that do not exist or cannot be seen are left out without an error, as Jira does
/// (`issueErrors` is for retriable failures, which the simulator does not have).
pub(super) fn bulk_fetch(sh: &Shared, req: &Req, v3: bool) -> Result<Resp, Resp> {
    req.user()?;
    let b = req.json()?;
    let refs: Vec<String> = match b.get("issueIdsOrKeys") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect::<Option<_>>()
            .ok_or_else(|| {
                Resp::error(
                    400,
                    &["issueIdsOrKeys must be a list of ids or keys."],
                    Map::new(),
                )
            })?,
        _ => {
            return Err(Resp::error(
                400,
                &["issueIdsOrKeys is required."],
                Map::new(),
            ))
        }
    };
    if refs.is_empty() || refs.len() > 100 {
        return Err(Resp::error(
            400,
            &["issueIdsOrKeys must hold between 1 and 100 entries."],
            Map::new(),
        ));
    }
    // The body's lists read as the comma-separated query parameters of the other reads.
    let joined = |key: &str| {
        b.get(key).and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
    };
    let fields = joined("fields");
    let expand = joined("expand").unwrap_or_default();
    let properties = joined("properties");
    let st = sh.read();
    let v = View::new(&st, &sh.base_url, v3);
    let sel = FieldSel::parse(fields.as_deref(), false);
    // Jira answers in ascending id order, whatever order they were asked in.
    let ids: std::collections::BTreeSet<u64> = refs.iter().filter_map(|r| st.issue_id(r)).collect();
    let issues: Vec<Value> = ids
        .into_iter()
        .filter_map(|id| st.issues.get(&id))
        .map(|i| {
            let mut x = v.issue(i, &sel, &expand);
            if let Some(wanted) = &properties {
                x["properties"] = super::properties::of_issue(&i.properties, wanted);
            }
            x
        })
        .collect();
    Ok(Resp::ok(&json!({"issues": issues, "issueErrors": []})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        assert_eq!(decode_token(&encode_token(300)), Some(300));
        assert_eq!(decode_token("not-a-token"), None);
    }
}
