//! After tandem writes fields to Jira: did someone change the same fields between tandem's read
//! of the issue and its write? Jira has no conditional update, so such an edit is overwritten
//! and, without this check, survives only in Jira's history.
//!
//! The issue's changelog tells: a change group by another author, made after the `updated`
//! tandem read and before tandem's own group, that touches a field tandem wrote. The pair then
//! has a conflict the merge could not see; `pair` decides it under the integration's policy
//! and records it in the item's history.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use crate::jira::JiraClient;
use crate::sync::snapshot::{
    authored_by, fields_snapshot_from_issue, keys_in_changelog, parse_jira_time, value_before,
};
use crate::sync::MappingContext;

use super::pair::PairError;

/// One overwritten change: the snapshot key, the value the other author had set (Jira's
/// `toString`), and who set it.
#[derive(Debug, Clone, PartialEq)]
pub struct Overwritten {
    pub key: String,
    pub theirs: Option<String>,
    pub author: String,
    /// For a mapped field (not title, description or status): the other author's value in
    /// snapshot terms, rebuilt by undoing tandem's own changelog items on today's value.
    /// `None` when it cannot be rebuilt, or when someone else changed the field since.
    pub restore: Option<Value>,
}

/// Who tandem is on a connection, as changelog authors name it (Cloud: account id; Data
/// Center: user name or key). Asked once per connection: the many pair runs that need it at
/// once (a sweep's, a restart's) wait for one answer instead of each asking Jira, and a
/// connection that does not answer holds up only its own pairs.
#[derive(Default)]
pub struct Identities(
    std::sync::Mutex<HashMap<String, std::sync::Arc<tokio::sync::OnceCell<Vec<String>>>>>,
);

impl Identities {
    pub(super) async fn of(
        &self,
        connection: &str,
        client: &JiraClient,
    ) -> Result<Vec<String>, PairError> {
        let cell = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(connection.to_owned())
            .or_default()
            .clone();
        let ids = cell
            .get_or_try_init(|| async {
                let me = client.myself().await?;
                Ok::<_, PairError>(
                    [me.account_id, me.name, me.key]
                        .into_iter()
                        .flatten()
                        .collect(),
                )
            })
            .await?;
        Ok(ids.clone())
    }
}

fn display(group: &Value) -> String {
    let a = &group["author"];
    a.get("displayName")
        .or_else(|| a.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("someone")
        .to_owned()
}

/// Where the changelog window of a key starts: the read, or, for a key the merge saw as
/// unchanged in Jira (`unchanged_since`), the last sync. A person who changed such a field and
/// back (or back and forth) since then changed it too, though the read showed the old value.
pub struct Window<'a> {
    pub read_updated: Option<&'a str>,
    pub last_sync: Option<chrono::DateTime<chrono::Utc>>,
    pub unchanged: &'a BTreeSet<String>,
}

/// The changes of others that tandem's write of `wrote` (snapshot keys) to `issue` overwrote:
/// made after the key's window starts (see [`Window`]) and before tandem's own change.
pub async fn overwritten_by_others(
    identities: &Identities,
    connection: &str,
    client: &JiraClient,
    ctx: &MappingContext,
    issue: &str,
    window: Window<'_>,
    wrote: &BTreeSet<String>,
) -> Result<Vec<Overwritten>, PairError> {
    let Some(read_at) = window.read_updated.and_then(parse_jira_time) else {
        return Ok(Vec::new());
    };
    let start_of = |key: &str| match window.last_sync {
        Some(s) if window.unchanged.contains(key) => s.min(read_at),
        _ => read_at,
    };
    let earliest = window.last_sync.map_or(read_at, |s| s.min(read_at));
    let me = identities.of(connection, client).await?;
    // The mapped fields tandem wrote come with the read: their values now are where undoing
    // tandem's own changes starts (see [`restore_values`]).
    let rules: Vec<&crate::sync::mapping::FieldRule> = ctx
        .rules()
        .iter()
        .filter(|r| wrote.contains(&r.workspace))
        .collect();
    let mut asked = vec!["updated", "issuetype"];
    asked.extend(rules.iter().map(|r| r.jira.id.as_str()));
    let now = client.issue(issue, &asked, true).await?;
    let mut histories: Vec<&Value> = now
        .changelog
        .as_ref()
        .and_then(|c| c.get("histories"))
        .and_then(Value::as_array)
        .map(|h| h.iter().collect())
        .unwrap_or_default();
    let when = |g: &Value| {
        (
            g.get("created")
                .and_then(Value::as_str)
                .and_then(parse_jira_time),
            g.get("id")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0),
        )
    };
    histories.sort_by_key(|g| when(g));
    let mine = |g: &Value| authored_by(g, &me);
    // Tandem's own last group touching what it wrote: everything of others before it (and
    // after the read) was overwritten.
    let keys_of = |g: &Value| keys_in_changelog(Some(&json!({"histories": [g]})), ctx);
    let ours = histories
        .iter()
        .filter(|g| mine(g) && keys_of(g).iter().any(|k| wrote.contains(k)))
        .map(|g| when(g))
        .max();
    let Some(ours) = ours else {
        return Ok(Vec::new());
    };
    let mut out: Vec<Overwritten> = Vec::new();
    for g in histories.iter().copied() {
        if mine(g) {
            continue;
        }
        let (created, id) = when(g);
        let Some(created) = created else { continue };
        if created <= earliest || (Some(created), id) >= ours {
            continue;
        }
        for item in g
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let single = json!({"histories": [{"items": [item]}]});
            for key in keys_in_changelog(Some(&single), ctx) {
                if wrote.contains(&key) && created > start_of(&key) {
                    out.retain(|o| o.key != key);
                    out.push(Overwritten {
                        key,
                        theirs: item
                            .get("toString")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        author: display(g),
                        restore: None,
                    });
                }
            }
        }
    }
    if !out.is_empty() && !rules.is_empty() {
        let now_snap = fields_snapshot_from_issue(&now, ctx).unwrap_or_default();
        for o in &mut out {
            let Some(rule) = rules.iter().find(|r| r.workspace == o.key) else {
                continue;
            };
            let Some(current) = now_snap.get(&o.key) else {
                continue;
            };
            o.restore = restore_value(rule, current, &histories, ctx, &mine, |g| {
                when(g).0.is_some_and(|c| c > earliest) && !mine(g)
            });
        }
    }
    Ok(out)
}

/// The last value of `rule`'s field that another author set, rebuilt from `current` by
/// undoing, newest first, the changes tandem made after it. `None` when a change after that
/// author's is someone else's too (the newest value is then no longer tandem's to undo), or a
/// change cannot be undone.
fn restore_value(
    rule: &crate::sync::mapping::FieldRule,
    current: &Value,
    histories: &[&Value],
    ctx: &MappingContext,
    mine: &dyn Fn(&Value) -> bool,
    theirs: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let touches = |item: &Value| {
        keys_in_changelog(Some(&json!({"histories": [{"items": [item]}]})), ctx)
            .contains(&rule.workspace)
    };
    let items_of = |g: &Value| -> Vec<Value> {
        g.get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|i| touches(i))
            .cloned()
            .collect()
    };
    let person = histories
        .iter()
        .rposition(|g| theirs(g) && !items_of(g).is_empty())?;
    let mut value = current.clone();
    for g in histories[person + 1..].iter().rev() {
        let items = items_of(g);
        if items.is_empty() {
            continue;
        }
        if !mine(g) {
            return None;
        }
        for item in items.iter().rev() {
            value = value_before(rule, &value, item)?;
        }
    }
    Some(value)
}
