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
use crate::sync::snapshot::{authored_by, keys_in_changelog, parse_jira_time};
use crate::sync::MappingContext;

use super::pair::PairError;

/// One overwritten change: the snapshot key, the value the other author had set (Jira's
/// `toString`), and who set it.
#[derive(Debug, Clone, PartialEq)]
pub struct Overwritten {
    pub key: String,
    pub theirs: Option<String>,
    pub author: String,
}

/// Who tandem is on a connection, as changelog authors name it (Cloud: account id; Data
/// Center: user name or key). Asked once per connection.
#[derive(Default)]
pub struct Identities(std::sync::Mutex<HashMap<String, Vec<String>>>);

impl Identities {
    pub(super) async fn of(
        &self,
        connection: &str,
        client: &JiraClient,
    ) -> Result<Vec<String>, PairError> {
        if let Some(ids) = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(connection)
        {
            return Ok(ids.clone());
        }
        let me = client.myself().await?;
        let ids: Vec<String> = [me.account_id, me.name, me.key]
            .into_iter()
            .flatten()
            .collect();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(connection.to_owned(), ids.clone());
        Ok(ids)
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
    let now = client.issue(issue, &["updated"], true).await?;
    let histories: Vec<&Value> = now
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
    for g in histories {
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
                    });
                }
            }
        }
    }
    Ok(out)
}
