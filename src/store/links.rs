//! Links between workspace items and Jira issues, and the two invariants that make "nothing
//! duplicated" hold whatever path writes a link (push, import, adoption, move, live sync):
//!
//! 1. an item (workspace, item id) is linked through at most one integration;
//! 2. an issue (connection, issue id) is held by at most one item.
//!
//! They are kept here, where links are written, not by callers: a write that would break
//! either is refused with [`LinkConflict`] and its whole transaction (the item, its history)
//! is not committed. Two indexes make the checks one lookup each: [`LINKED_ITEMS`] and
//! [`LINKED_ISSUES`]. A state file written before they existed may already break the
//! invariants; the migration that builds the indexes keeps every link, indexes the first holder
//! and reports the rest ([`Store::link_violations`]), so nothing is repaired by deleting.

use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};

use super::schema::*;
use super::{Store, StoreError};

/// A link between a workspace item and a Jira issue, within one integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub integration: String,
    pub connection: String,
    /// The workspace of the item (item ids are numbered per workspace). Empty only for a link
    /// of an old state file whose workspace the migration could not tell.
    pub workspace: String,
    pub workspace_item_id: String,
    pub jira_issue_id: String,
    pub jira_issue_key: String,
}

/// Why a link was refused: it would give an item two issues or an issue two items.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkConflict {
    #[error(
        "item {item} of workspace {workspace} is already linked to {key} through integration \
         {integration}"
    )]
    ItemLinkedElsewhere {
        workspace: String,
        item: String,
        integration: String,
        key: String,
    },
    #[error(
        "issue {key} (id {issue}, connection {connection}) is already linked to item {item} \
         through integration {integration}"
    )]
    IssueHeld {
        connection: String,
        issue: String,
        key: String,
        integration: String,
        item: String,
    },
}

/// Who holds an issue: the item and the integration it is linked through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub integration: String,
    pub workspace: String,
    pub item: String,
}

/// An issue's link in one integration, and who holds it on its connection.
pub type LinkAndHolder = (Option<Link>, Option<Holder>);

/// A table of the store, opened in a write transaction on first use and kept open until the
/// holder is dropped: opening and closing a redb table costs about as much as a lookup, and a
/// batch of writes would otherwise pay it several times per row.
pub(crate) struct Lazy<'t, K: redb::Key + 'static, V: redb::Value + 'static> {
    def: TableDefinition<'static, K, V>,
    table: Option<Table<'t, K, V>>,
}

impl<'t, K: redb::Key + 'static, V: redb::Value + 'static> Lazy<'t, K, V> {
    pub(crate) fn new(def: TableDefinition<'static, K, V>) -> Self {
        Lazy { def, table: None }
    }

    pub(crate) fn get(
        &mut self,
        txn: &'t WriteTransaction,
        context: &'static str,
    ) -> Result<&mut Table<'t, K, V>, StoreError> {
        let table = match self.table.take() {
            Some(t) => t,
            None => txn
                .open_table(self.def)
                .map_err(|e| StoreError::db(context, e))?,
        };
        Ok(self.table.insert(table))
    }
}

/// The four link tables of one write transaction, opened once however many links it writes.
pub(crate) struct LinkTables<'t> {
    txn: &'t WriteTransaction,
    links: Lazy<'t, (&'static str, &'static str), (&'static str, &'static str, &'static str)>,
    by_jira: Lazy<'t, (&'static str, &'static str), &'static str>,
    items: Lazy<'t, (&'static str, &'static str), &'static str>,
    issues: Lazy<'t, (&'static str, &'static str), (&'static str, &'static str, &'static str)>,
}

impl<'t> LinkTables<'t> {
    pub(crate) fn new(txn: &'t WriteTransaction) -> Self {
        LinkTables {
            txn,
            links: Lazy::new(LINKS),
            by_jira: Lazy::new(LINKS_BY_JIRA),
            items: Lazy::new(LINKED_ITEMS),
            issues: Lazy::new(LINKED_ISSUES),
        }
    }

    /// The item linked to a Jira issue (by issue id) in an integration.
    pub(crate) fn item_of_issue(
        &mut self,
        integration: &str,
        issue: &str,
        context: &'static str,
    ) -> Result<Option<String>, StoreError> {
        let found = self
            .by_jira
            .get(self.txn, context)?
            .get((integration, issue))
            .map_err(|e| StoreError::db(context, e))?
            .map(|g| g.value().to_string());
        Ok(found)
    }

    /// The integration an item is linked through.
    pub(crate) fn integration_of_item(
        &mut self,
        workspace: &str,
        item: &str,
        context: &'static str,
    ) -> Result<Option<String>, StoreError> {
        let found = self
            .items
            .get(self.txn, context)?
            .get((workspace, item))
            .map_err(|e| StoreError::db(context, e))?
            .map(|g| g.value().to_string());
        Ok(found)
    }

    /// Writes `link`, replacing the item's earlier link in the same integration, or refuses it.
    pub(crate) fn put(&mut self, link: &Link) -> Result<(), StoreError> {
        let ctx = "writing a link";
        let e = |x: redb::Error| StoreError::db(ctx, x);
        let txn = self.txn;
        let links = self.links.get(txn, ctx)?;
        let rev = self.by_jira.get(txn, ctx)?;
        let items = self.items.get(txn, ctx)?;
        let issues = self.issues.get(txn, ctx)?;
        let (integ, ws, item) = (
            link.integration.as_str(),
            link.workspace.as_str(),
            link.workspace_item_id.as_str(),
        );
        let (conn, issue) = (link.connection.as_str(), link.jira_issue_id.as_str());

        if !ws.is_empty() {
            let holder = items
                .get((ws, item))
                .map_err(|x| e(x.into()))?
                .map(|g| g.value().to_owned());
            if let Some(other) = holder.filter(|h| h != integ) {
                let key = links
                    .get((other.as_str(), item))
                    .map_err(|x| e(x.into()))?
                    .map(|g| g.value().2.to_owned())
                    .unwrap_or_default();
                return Err(StoreError::LinkRefused(LinkConflict::ItemLinkedElsewhere {
                    workspace: ws.to_owned(),
                    item: item.to_owned(),
                    integration: other,
                    key,
                }));
            }
        }
        let held = issues
            .get((conn, issue))
            .map_err(|x| e(x.into()))?
            .map(|g| {
                let (i, w, it) = g.value();
                (i.to_owned(), w.to_owned(), it.to_owned())
            });
        if let Some((hi, _, hitem)) =
            held.filter(|(hi, _, hitem)| (hi.as_str(), hitem.as_str()) != (integ, item))
        {
            return Err(StoreError::LinkRefused(LinkConflict::IssueHeld {
                connection: conn.to_owned(),
                issue: issue.to_owned(),
                key: link.jira_issue_key.clone(),
                integration: hi,
                item: hitem,
            }));
        }

        let old = links
            .insert((integ, item), (conn, issue, link.jira_issue_key.as_str()))
            .map_err(|x| e(x.into()))?
            .map(|g| {
                let (c, i, _) = g.value();
                (c.to_owned(), i.to_owned())
            });
        if let Some((old_conn, old_issue)) = old {
            rev.remove((integ, old_issue.as_str()))
                .map_err(|x| e(x.into()))?;
            remove_issue_index(issues, &old_conn, &old_issue, integ, item)?;
        }
        rev.insert((integ, issue), item).map_err(|x| e(x.into()))?;
        issues
            .insert((conn, issue), (integ, ws, item))
            .map_err(|x| e(x.into()))?;
        if !ws.is_empty() {
            items.insert((ws, item), integ).map_err(|x| e(x.into()))?;
        }
        Ok(())
    }

    /// Removes the link of one item in one integration; returns whether there was one.
    pub(crate) fn remove(&mut self, integration: &str, item_id: &str) -> Result<bool, StoreError> {
        let ctx = "removing a link";
        let e = |x: redb::Error| StoreError::db(ctx, x);
        let txn = self.txn;
        let links = self.links.get(txn, ctx)?;
        let rev = self.by_jira.get(txn, ctx)?;
        let items = self.items.get(txn, ctx)?;
        let issues = self.issues.get(txn, ctx)?;
        let old = links
            .remove((integration, item_id))
            .map_err(|x| e(x.into()))?
            .map(|g| {
                let (c, i, _) = g.value();
                (c.to_owned(), i.to_owned())
            });
        let Some((conn, issue)) = old else {
            return Ok(false);
        };
        rev.remove((integration, issue.as_str()))
            .map_err(|x| e(x.into()))?;
        if let Some(ws) = remove_issue_index(issues, &conn, &issue, integration, item_id)? {
            unindex_item(items, &ws, item_id, integration)?;
        }
        Ok(true)
    }
}

/// Writes `link`, replacing the item's earlier link in the same integration, or refuses it.
pub(crate) fn put_link_in(txn: &WriteTransaction, link: &Link) -> Result<(), StoreError> {
    LinkTables::new(txn).put(link)
}

/// Drops the issue index entry of (conn, issue) if it names this (integration, item): after a
/// migration that found two holders, only the indexed one owns the entry.
fn remove_issue_index(
    issues: &mut redb::Table<(&str, &str), (&str, &str, &str)>,
    conn: &str,
    issue: &str,
    integ: &str,
    item: &str,
) -> Result<Option<String>, StoreError> {
    let ctx = "removing a link";
    let entry = issues
        .get((conn, issue))
        .map_err(|x| StoreError::db(ctx, x))?
        .map(|g| {
            let (i, w, it) = g.value();
            (i.to_owned(), w.to_owned(), it.to_owned())
        });
    match entry {
        Some((i, w, it)) if i == integ && it == item => {
            issues
                .remove((conn, issue))
                .map_err(|x| StoreError::db(ctx, x))?;
            Ok(Some(w))
        }
        _ => Ok(None),
    }
}

fn unindex_item(
    items: &mut redb::Table<(&str, &str), &str>,
    ws: &str,
    item: &str,
    integration: &str,
) -> Result<(), StoreError> {
    let ctx = "removing a link";
    let holder = items
        .get((ws, item))
        .map_err(|x| StoreError::db(ctx, x))?
        .map(|g| g.value().to_owned());
    if holder.as_deref() == Some(integration) {
        items
            .remove((ws, item))
            .map_err(|x| StoreError::db(ctx, x))?;
    }
    Ok(())
}

/// Removes every link whose (integration, connection) matches `pred`; returns how many.
pub(crate) fn remove_links_where(
    txn: &WriteTransaction,
    mut pred: impl FnMut(&str, &str) -> bool,
) -> Result<u64, StoreError> {
    let ctx = "removing links";
    let mut doomed = Vec::new();
    {
        let links = txn.open_table(LINKS).map_err(|x| StoreError::db(ctx, x))?;
        for row in links.iter().map_err(|x| StoreError::db(ctx, x))? {
            let (k, v) = row.map_err(|x| StoreError::db(ctx, x))?;
            let (integ, item) = k.value();
            let (conn, _, _) = v.value();
            if pred(integ, conn) {
                doomed.push((integ.to_string(), item.to_string()));
            }
        }
    }
    let mut tables = LinkTables::new(txn);
    for (integ, item) in &doomed {
        tables.remove(integ, item)?;
    }
    Ok(doomed.len() as u64)
}

/// Builds both indexes from the links of a file written before they existed. The workspace of
/// each integration is the one whose items it links (item ids are numbered per workspace);
/// the first holder of an item or issue is indexed, later ones are left for
/// [`Store::link_violations`] to report.
pub(crate) fn build_indexes(txn: &WriteTransaction) -> Result<(), StoreError> {
    let ctx = "indexing the links";
    let e = |x: redb::Error| StoreError::db(ctx, x);
    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    {
        let links = txn.open_table(LINKS).map_err(|x| e(x.into()))?;
        for row in links.iter().map_err(|x| e(x.into()))? {
            let (k, v) = row.map_err(|x| e(x.into()))?;
            let (integ, item) = k.value();
            let (conn, issue, _) = v.value();
            rows.push((integ.into(), item.into(), conn.into(), issue.into()));
        }
    }
    let workspaces: Vec<String> = {
        let next = txn.open_table(WS_NEXT_ITEM).map_err(|x| e(x.into()))?;
        let mut out = Vec::new();
        for row in next.iter().map_err(|x| e(x.into()))? {
            let (k, _) = row.map_err(|x| e(x.into()))?;
            out.push(k.value().to_owned());
        }
        out
    };
    // Per integration, the workspace holding most of its linked items (ties: none).
    let mut votes: std::collections::BTreeMap<String, std::collections::BTreeMap<String, usize>> =
        Default::default();
    {
        let items = txn.open_table(WS_ITEMS).map_err(|x| e(x.into()))?;
        for (integ, item, _, _) in &rows {
            let Some(n) = crate::items::item_number(item) else {
                continue;
            };
            for ws in &workspaces {
                if items
                    .get((ws.as_str(), n))
                    .map_err(|x| e(x.into()))?
                    .is_some()
                {
                    *votes
                        .entry(integ.clone())
                        .or_default()
                        .entry(ws.clone())
                        .or_default() += 1;
                }
            }
        }
    }
    let workspace_of = |integ: &str| -> String {
        let Some(v) = votes.get(integ) else {
            return String::new();
        };
        let best = v.values().copied().max().unwrap_or(0);
        let winners: Vec<&String> = v
            .iter()
            .filter(|(_, n)| **n == best)
            .map(|(w, _)| w)
            .collect();
        match winners.as_slice() {
            [one] => (*one).clone(),
            _ => String::new(),
        }
    };
    let mut items = txn.open_table(LINKED_ITEMS).map_err(|x| e(x.into()))?;
    let mut issues = txn.open_table(LINKED_ISSUES).map_err(|x| e(x.into()))?;
    for (integ, item, conn, issue) in &rows {
        let ws = workspace_of(integ);
        let free = issues
            .get((conn.as_str(), issue.as_str()))
            .map_err(|x| e(x.into()))?
            .is_none();
        if free {
            issues
                .insert(
                    (conn.as_str(), issue.as_str()),
                    (integ.as_str(), ws.as_str(), item.as_str()),
                )
                .map_err(|x| e(x.into()))?;
        }
        if !ws.is_empty()
            && items
                .get((ws.as_str(), item.as_str()))
                .map_err(|x| e(x.into()))?
                .is_none()
        {
            items
                .insert((ws.as_str(), item.as_str()), integ.as_str())
                .map_err(|x| e(x.into()))?;
        }
    }
    Ok(())
}

/// Who holds a Jira issue of a connection, from its holder row.
fn holder_in(
    issues: &impl ReadableTable<
        (&'static str, &'static str),
        (&'static str, &'static str, &'static str),
    >,
    connection: &str,
    issue: &str,
) -> Result<Option<Holder>, redb::StorageError> {
    Ok(issues.get((connection, issue))?.map(|g| {
        let (i, w, it) = g.value();
        Holder {
            integration: i.to_owned(),
            workspace: w.to_owned(),
            item: it.to_owned(),
        }
    }))
}

/// An item's link in an integration, from the links table and the issue's holder row (which
/// names the item's workspace); shared by the one-off and the batched reads.
fn link_in(
    links: &impl ReadableTable<(&'static str, &'static str), (&'static str, &'static str, &'static str)>,
    issues: &impl ReadableTable<
        (&'static str, &'static str),
        (&'static str, &'static str, &'static str),
    >,
    integration: &str,
    item: &str,
) -> Result<Option<Link>, redb::StorageError> {
    let Some(row) = links.get((integration, item))? else {
        return Ok(None);
    };
    let (conn, issue, key) = row.value();
    let workspace = issues
        .get((conn, issue))?
        .and_then(|g| {
            let (i, w, it) = g.value();
            (i == integration && it == item).then(|| w.to_owned())
        })
        .unwrap_or_default();
    Ok(Some(Link {
        integration: integration.to_owned(),
        connection: conn.to_owned(),
        workspace,
        workspace_item_id: item.to_owned(),
        jira_issue_id: issue.to_owned(),
        jira_issue_key: key.to_owned(),
    }))
}

impl Store {
    /// Creates or replaces the link of `link.workspace_item_id` in its integration; refused
    /// with [`StoreError::LinkRefused`] when it would break an invariant.
    pub async fn put_link(&self, link: Link) -> Result<(), StoreError> {
        self.write(move |txn| put_link_in(txn, &link)).await
    }

    /// The link of a workspace item in an integration.
    pub fn link_by_item(
        &self,
        integration: &str,
        item_id: &str,
    ) -> Result<Option<Link>, StoreError> {
        self.read("reading a link", |txn| {
            let links = txn.open_table(LINKS)?;
            let issues = txn.open_table(LINKED_ISSUES)?;
            Ok(link_in(&links, &issues, integration, item_id)?)
        })
    }

    /// The link of a Jira issue (by id, which survives key changes) in an integration.
    pub fn link_by_jira_issue(
        &self,
        integration: &str,
        jira_issue_id: &str,
    ) -> Result<Option<Link>, StoreError> {
        let item = self.read("reading a link", |txn| {
            let t = txn.open_table(LINKS_BY_JIRA)?;
            Ok(t.get((integration, jira_issue_id))?
                .map(|g| g.value().to_string()))
        })?;
        match item {
            Some(item) => self.link_by_item(integration, &item),
            None => Ok(None),
        }
    }

    /// For each Jira issue id: its link in `integration`, and who holds it on `connection`
    /// (what [`Store::link_by_jira_issue`] and [`Store::holder_of_issue`] say), read in one
    /// transaction with each table opened once: an import asks this for every issue of a
    /// batch, where two transactions per issue cost more than the lookups themselves.
    pub fn links_and_holders(
        &self,
        integration: &str,
        connection: &str,
        jira_issue_ids: &[&str],
    ) -> Result<Vec<LinkAndHolder>, StoreError> {
        self.read("reading links", |txn| {
            let by_jira = txn.open_table(LINKS_BY_JIRA)?;
            let links = txn.open_table(LINKS)?;
            let issues = txn.open_table(LINKED_ISSUES)?;
            let mut out = Vec::with_capacity(jira_issue_ids.len());
            for id in jira_issue_ids {
                let holder = holder_in(&issues, connection, id)?;
                let link = match by_jira.get((integration, *id))? {
                    Some(item) => link_in(&links, &issues, integration, item.value())?,
                    None => None,
                };
                out.push((link, holder));
            }
            Ok(out)
        })
    }

    /// Every link of one integration, in item order (the sweep checks them in batches).
    pub fn links_of_integration(&self, integration: &str) -> Result<Vec<Link>, StoreError> {
        self.read("listing links", |txn| {
            let t = txn.open_table(LINKS)?;
            let issues = txn.open_table(LINKED_ISSUES)?;
            let mut out = Vec::new();
            for row in t.range((integration, "")..)? {
                let (k, v) = row?;
                let (integ, item) = k.value();
                if integ != integration {
                    break;
                }
                let (conn, id, key) = v.value();
                let workspace = issues
                    .get((conn, id))?
                    .and_then(|g| {
                        let (i, w, it) = g.value();
                        (i == integ && it == item).then(|| w.to_owned())
                    })
                    .unwrap_or_default();
                out.push(Link {
                    integration: integ.to_owned(),
                    connection: conn.to_owned(),
                    workspace,
                    workspace_item_id: item.to_owned(),
                    jira_issue_id: id.to_owned(),
                    jira_issue_key: key.to_owned(),
                });
            }
            Ok(out)
        })
    }

    /// The link of an item through whichever integration holds it.
    pub fn link_of_item(&self, workspace: &str, item_id: &str) -> Result<Option<Link>, StoreError> {
        let integration = self.read("reading a link", |txn| {
            let t = txn.open_table(LINKED_ITEMS)?;
            Ok(t.get((workspace, item_id))?.map(|g| g.value().to_owned()))
        })?;
        match integration {
            Some(i) => self.link_by_item(&i, item_id),
            None => Ok(None),
        }
    }

    /// The item that holds an issue of a connection, whichever integration links it.
    pub fn holder_of_issue(
        &self,
        connection: &str,
        jira_issue_id: &str,
    ) -> Result<Option<Holder>, StoreError> {
        self.read("reading a link", |txn| {
            let issues = txn.open_table(LINKED_ISSUES)?;
            Ok(holder_in(&issues, connection, jira_issue_id)?)
        })
    }

    /// Links that break an invariant: only possible in a state file written before the
    /// invariants were enforced (see the module doc). Each is described for a person.
    pub fn link_violations(&self) -> Result<Vec<String>, StoreError> {
        self.read("checking the links", |txn| {
            let links = txn.open_table(LINKS)?;
            let items = txn.open_table(LINKED_ITEMS)?;
            let issues = txn.open_table(LINKED_ISSUES)?;
            let mut out = Vec::new();
            for row in links.iter()? {
                let (k, v) = row?;
                let (integ, item) = k.value();
                let (conn, issue, key) = v.value();
                match issues.get((conn, issue))?.map(|g| {
                    let (i, w, it) = g.value();
                    (i.to_owned(), w.to_owned(), it.to_owned())
                }) {
                    Some((i, w, it)) if i == integ && it == item => {
                        if !w.is_empty() {
                            if let Some(holder) = items.get((w.as_str(), item))? {
                                if holder.value() != integ {
                                    out.push(format!(
                                        "item {item} of workspace {w} is linked through both \
                                         {} and {integ} ({key})",
                                        holder.value()
                                    ));
                                }
                            }
                        }
                    }
                    Some((i, _, it)) => out.push(format!(
                        "issue {key} (id {issue}, connection {conn}) is linked to both item {it} \
                         ({i}) and item {item} ({integ})"
                    )),
                    None => out.push(format!(
                        "the link of item {item} ({integ}) to {key} is not indexed"
                    )),
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state file of schema version 2 (before the indexes) holding `links` and the items
    /// of workspace `w1`, written directly as an older tandem left it.
    fn old_file(dir: &std::path::Path, links: &[(&str, &str, &str, &str)]) {
        let db = redb::Database::create(dir.join(super::super::STATE_FILE)).expect("create");
        let txn = db.begin_write().expect("txn");
        for step in &MIGRATIONS[..2] {
            step(&txn).expect("older migrations");
        }
        {
            let mut meta = txn.open_table(META).expect("meta");
            meta.insert(META_SCHEMA_VERSION, 2).expect("version");
            let mut items = txn.open_table(WS_ITEMS).expect("items");
            for n in 1..=3u64 {
                items.insert(("w1", n), b"{}".as_slice()).expect("item");
            }
            txn.open_table(WS_NEXT_ITEM)
                .expect("next")
                .insert("w1", 4)
                .expect("next");
            let mut t = txn.open_table(LINKS).expect("links");
            let mut rev = txn.open_table(LINKS_BY_JIRA).expect("rev");
            for (integ, item, conn, issue) in links {
                t.insert((*integ, *item), (*conn, *issue, "KEY"))
                    .expect("link");
                rev.insert((*integ, *issue), *item).expect("rev");
            }
        }
        txn.commit().expect("commit");
    }

    #[tokio::test]
    async fn an_old_file_that_breaks_the_invariants_keeps_every_link_and_says_which() {
        let dir = tempfile::tempdir().expect("tempdir");
        old_file(
            dir.path(),
            &[
                ("a", "ITEM-1", "j1", "100"),
                ("a", "ITEM-2", "j1", "102"),
                // ITEM-1 also linked through b: one item, two issues.
                ("b", "ITEM-1", "j1", "101"),
                // Issue 102 also held by an item no workspace has: one issue, two items.
                ("x", "ITEM-9", "j1", "102"),
            ],
        );
        let store = Store::open(dir.path()).expect("migrates");
        assert_eq!(store.migration().from, 2);
        let violations = store.link_violations().expect("check");
        assert_eq!(
            violations,
            [
                "item ITEM-1 of workspace w1 is linked through both a and b (KEY)",
                "issue KEY (id 102, connection j1) is linked to both item ITEM-2 (a) and item \
                 ITEM-9 (x)",
            ]
        );
        for (integ, item) in [
            ("a", "ITEM-1"),
            ("a", "ITEM-2"),
            ("b", "ITEM-1"),
            ("x", "ITEM-9"),
        ] {
            assert!(
                store.link_by_item(integ, item).expect("read").is_some(),
                "{integ}/{item} kept"
            );
        }
        assert_eq!(
            store
                .link_by_item("a", "ITEM-1")
                .expect("read")
                .map(|l| l.workspace),
            Some("w1".to_owned()),
            "the workspace of a is the one whose items it links"
        );
        // The first holders are indexed: new links against them are refused from now on.
        let err = store
            .put_link(Link {
                integration: "b".into(),
                connection: "j1".into(),
                workspace: "w1".into(),
                workspace_item_id: "ITEM-3".into(),
                jira_issue_id: "100".into(),
                jira_issue_key: "DEMO-100".into(),
            })
            .await
            .expect_err("issue 100 is held by ITEM-1");
        assert!(matches!(
            err,
            StoreError::LinkRefused(LinkConflict::IssueHeld { .. })
        ));
        // Unlinking the second holder ends its violation without touching the first.
        store
            .remove_links_of_integration("b")
            .await
            .expect("remove b");
        assert_eq!(store.link_violations().expect("check").len(), 1);
        assert_eq!(
            store
                .link_of_item("w1", "ITEM-1")
                .expect("read")
                .map(|l| l.integration),
            Some("a".to_owned())
        );
        store.close().await.expect("close");
    }
}
