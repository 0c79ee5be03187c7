//! The render cache: issues in their plain full form, serialized once and reused until the
//! state changes, and the helpers that splice those bytes into a response. Separate because
//! both GET issue and both search dialects serve from it, and its invalidation rules (state
//! generations) are a concern of their own.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::sim::model::*;
use crate::sim::render::{Memo, View};
use crate::sim::server::Resp;
use crate::sim::Shared;

/// Entries of the render cache beyond which it starts over, bounding its memory (an entry is
/// a few kilobytes).
const RENDER_CACHE_MAX: usize = 25_000;

/// Whether a request asks for the plain full form (all fields, no expansion) that the render
/// cache holds.
pub(super) fn wants_full_form(fields: Option<&str>, default_all: bool, expand: &str) -> bool {
    let all = match fields.map(str::trim) {
        None | Some("") => default_all,
        Some(f) => f == "*all" || f == "*navigable",
    };
    all && expand.trim().is_empty()
}

/// The issues `ids` in their full form, serialized. Rendering an issue is most of the cost of
/// a GET or a search page, and the same issues are read over and over between writes (sync
/// sweeps, paging), so full forms are kept until the state changes.
pub(super) fn full_issues_json(
    sh: &Shared,
    st: &State,
    v3: bool,
    ids: &[u64],
) -> Vec<Arc<Vec<u8>>> {
    let mut out: Vec<Option<Arc<Vec<u8>>>> = vec![None; ids.len()];
    if let Ok(mut cache) = sh.render_cache.lock() {
        if cache.generation != st.generation {
            match st.changes_since(cache.generation) {
                Some(changed) => {
                    for id in changed {
                        cache.map.remove(&(id, false));
                        cache.map.remove(&(id, true));
                    }
                }
                None => cache.map.clear(),
            }
            cache.generation = st.generation;
        }
        for (slot, id) in out.iter_mut().zip(ids) {
            *slot = cache.map.get(&(*id, v3)).cloned();
        }
    }
    let missing: Vec<u64> = out
        .iter()
        .zip(ids)
        .filter(|(slot, _)| slot.is_none())
        .map(|(_, id)| *id)
        .collect();
    let fresh = render_full(sh, st, v3, &missing);
    let mut by_id: HashMap<u64, Arc<Vec<u8>>> =
        fresh.iter().map(|((id, _), b)| (*id, b.clone())).collect();
    for (slot, id) in out.iter_mut().zip(ids) {
        if slot.is_none() {
            *slot = by_id.remove(id);
        }
    }
    if !fresh.is_empty() {
        if let Ok(mut cache) = sh.render_cache.lock() {
            if cache.generation == st.generation {
                if cache.map.len() + fresh.len() > RENDER_CACHE_MAX {
                    cache.map.clear();
                }
                cache.map.extend(fresh);
            }
        }
    }
    out.into_iter().flatten().collect()
}

/// A serialized full form, keyed as the render cache keys it.
type Rendered = ((u64, bool), Arc<Vec<u8>>);

/// Renders full forms, on two threads when there are enough to be worth it: a cold search
/// page is a hundred independent renders under the same read lock.
fn render_full(sh: &Shared, st: &State, v3: bool, ids: &[u64]) -> Vec<Rendered> {
    let render = |chunk: &[u64]| {
        let view = View::new(st, &sh.base_url, v3);
        let mut memo = Memo::new();
        chunk
            .iter()
            .filter_map(|id| st.issues.get(id))
            .map(|i| ((i.id, v3), Arc::new(view.issue_full_bytes(i, &mut memo))))
            .collect::<Vec<_>>()
    };
    if ids.len() < 16 {
        return render(ids);
    }
    let (a, b) = ids.split_at(ids.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| render(b));
        let mut out = render(a);
        match other.join() {
            Ok(more) => out.extend(more),
            Err(_) => out.extend(render(b)),
        }
        out
    })
}

/// `[a,b,c]` from serialized elements.
fn json_array(items: &[Arc<Vec<u8>>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(items.iter().map(|i| i.len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.push(b']');
    out
}

/// A JSON object whose `issues` member is pre-serialized: `head` holds the other members.
pub(super) fn with_issues(head: Value, issues: &[Arc<Vec<u8>>]) -> Resp {
    let mut body = serde_json::to_vec(&head).unwrap_or_else(|_| b"{}".to_vec());
    body.pop();
    if body.len() > 1 {
        body.push(b',');
    }
    body.extend_from_slice(b"\"issues\":");
    body.extend_from_slice(&json_array(issues));
    body.push(b'}');
    Resp {
        status: 200,
        body: Some(body),
        headers: Vec::new(),
    }
}
