//! Push to Jira (a `toJira` one-time sync): the workspace's items in scope (all, chosen sprints
//! or chosen releases) become Jira issues, parents before children, linked by issue id; sprint
//! membership goes through the Agile API in batches of at most 50 and statuses through
//! workflow transitions.
//!
//! Guarantee kept here: one item never yields two issues. Before each create a durable intent
//! (namespace [`INTENTS_NS`]) names the item and the label the issue will carry
//! (`tandem-item-<workspace>-<id>`); then the issue is created, then linked. After a crash, an
//! item with an intent but no link is adopted: Jira is searched for the label and the issue
//! found is linked instead of creating a second one. The intent stays, marked with its job, so
//! a resumed job counts the items it created before the crash as created.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::jira::JiraError;
use crate::store::{Store, StoreError};
use crate::workspace::model::Item;
use crate::workspace::{IssueRef as WsIssueRef, ItemFilter, WorkspaceError, WorkspaceService};

use super::context::IntegrationRun;
use super::jobs::{save_record, JobError, JobRecord, JobScope, Phase, Planned};
use super::mapping::{to_jira, IssueRef, SprintMove};
use super::sprints::apply_sprint_moves;
use super::transitions::{apply_status, StatusPolicy, WorkflowGraph};

/// Key/value namespace of create intents (key: `<integration>/<item id>`).
pub const INTENTS_NS: &str = "push-intents";
/// Items pushed between two checkpoints (and sprint-move batches).
const CHUNK: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("reading the workspace")]
    Workspace(#[from] WorkspaceError),
    #[error("saving the job's progress")]
    Job(#[from] JobError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("moving issues into their sprints")]
    Sprints(#[source] JiraError),
}

/// What is known before creating an issue for an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    pub job: String,
    pub label: String,
}

/// What a push works with.
pub struct PushEnv<'a> {
    pub store: &'a Store,
    pub workspace: &'a WorkspaceService,
    pub run: &'a IntegrationRun,
    /// Called after every checkpoint, to show progress (the SyncJob's status details).
    pub progress: Option<&'a (dyn Fn(&JobRecord) + Sync)>,
}

/// The label that finds the issue created for an item after a crash.
pub fn item_label(workspace: &str, item_id: &str) -> String {
    format!(
        "{}{workspace}-{item_id}",
        super::mapping::ADOPTION_LABEL_PREFIX
    )
}

fn intent_key(integration: &str, item_id: &str) -> String {
    format!("{integration}/{item_id}")
}

/// The items in scope, parents first (by depth in the hierarchy, then id). Items only are
/// held, not issues; a workspace fits in memory where a Jira result might not.
fn items_in_scope(env: &PushEnv<'_>, scope: &JobScope) -> Result<Vec<Item>, WorkspaceError> {
    let ws = &env.run.workspace.name;
    let filters: Vec<ItemFilter> = match scope {
        JobScope::All => vec![ItemFilter::default()],
        JobScope::Sprints(s) => s
            .iter()
            .map(|s| ItemFilter {
                sprint: Some(s.clone()),
                ..ItemFilter::default()
            })
            .collect(),
        JobScope::Releases(r) => r
            .iter()
            .map(|r| ItemFilter {
                release: Some(r.clone()),
                ..ItemFilter::default()
            })
            .collect(),
    };
    let mut items: Vec<Item> = Vec::new();
    for mut f in filters {
        f.limit = Some(crate::workspace::service::MAX_PAGE);
        loop {
            let page = env.workspace.list_items(ws, &f)?;
            for it in page.items {
                if !items.iter().any(|x| x.id == it.id) {
                    items.push(it);
                }
            }
            match page.next {
                Some(n) => f.cursor = Some(n),
                None => break,
            }
        }
    }
    let parents: HashMap<String, Option<String>> = items
        .iter()
        .map(|i| (i.id.clone(), i.parent.clone()))
        .collect();
    let depth = |id: &str| {
        let mut d = 0;
        let mut cur = parents.get(id).cloned().flatten();
        while let Some(p) = cur {
            d += 1;
            if d > 32 {
                break;
            }
            cur = parents.get(&p).cloned().flatten();
        }
        d
    };
    let mut keyed: Vec<(usize, u64, Item)> = items
        .into_iter()
        .map(|i| {
            let n = crate::workspace::model::item_number(&i.id).unwrap_or(u64::MAX);
            (depth(&i.id), n, i)
        })
        .collect();
    keyed.sort_by_key(|(d, n, _)| (*d, *n));
    Ok(keyed.into_iter().map(|(_, _, i)| i).collect())
}

enum Pushed {
    Created(String),
    Updated(String),
    Skipped,
    /// Left alone for a reason the job reports (linked through another integration, say).
    Refused(String),
    Failed(String),
}

/// Why no issue was created or adopted for an item.
#[derive(Debug)]
pub(crate) enum CreateError {
    /// Linking would give an issue two items or an item two issues: retrying cannot help until
    /// someone unlinks one of them.
    Refused(String),
    /// Jira refused the create for good (400: a required field, an invalid value): retrying
    /// the same body cannot help until the item, the mapping or Jira's configuration changes.
    Rejected(String),
    /// Anything else (Jira unreachable, 5xx, the store); worth retrying.
    Failed(String),
}

impl std::fmt::Display for CreateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CreateError::Refused(m) | CreateError::Rejected(m) | CreateError::Failed(m) => {
                f.write_str(m)
            }
        }
    }
}

/// Runs (or resumes) the push described by `record`. `record.processed` counts the items done
/// in the parents-first order, which is recomputed identically on resume.
pub async fn push_to_jira(
    env: &PushEnv<'_>,
    record: &mut JobRecord,
    scope: &JobScope,
) -> Result<(), PushError> {
    let items = items_in_scope(env, scope)?;
    record.total = Some(items.len() as u64);
    let start = (record.processed as usize).min(items.len());
    let mut graph = WorkflowGraph::new();
    for chunk in items[start..].chunks(CHUNK) {
        let mut moves: Vec<(String, SprintMove)> = Vec::new();
        for item in chunk {
            let (outcome, mv) = push_item(env, record, item, &mut graph).await;
            match outcome {
                Pushed::Created(key) => {
                    record.counts.created += 1;
                    if let Some(m) = mv {
                        moves.push((key, m));
                    }
                }
                Pushed::Updated(key) => {
                    record.counts.updated += 1;
                    if let Some(m) = mv {
                        moves.push((key, m));
                    }
                }
                Pushed::Skipped => record.counts.skipped += 1,
                Pushed::Refused(reason) => {
                    record.counts.skipped += 1;
                    record.push_note(item.id.clone(), format!("skipped: {reason}"));
                }
                Pushed::Failed(message) => record.push_error(item.id.clone(), message),
            }
        }
        if !moves.is_empty() {
            apply_sprint_moves(&env.run.client, &moves)
                .await
                .map_err(PushError::Sprints)?;
        }
        record.processed += chunk.len() as u64;
        save_record(env.store, record).await?;
        if let Some(progress) = env.progress {
            progress(record);
        }
    }
    record.phase = Phase::Done;
    Ok(())
}

/// A dry run of [`push_to_jira`]: every item in scope classified as the push would (created,
/// updated, skipped with the reason, failed when its mapping fails), with nothing written to
/// Jira, the links, the baselines or the workspace. Only the job's record is stored, so the
/// CLI and `GET /api/v1/jobs/{id}` can show it. Jira's own refusals of a create (a required
/// field it alone knows) cannot be foreseen and show up only in the real run.
pub async fn dry_run(
    env: &PushEnv<'_>,
    record: &mut JobRecord,
    scope: &JobScope,
) -> Result<(), PushError> {
    let items = items_in_scope(env, scope)?;
    record.total = Some(items.len() as u64);
    record.processed = 0;
    record.counts = Default::default();
    record.planned.clear();
    for (i, item) in items.iter().enumerate() {
        record.plan(&item.id, plan_item(env, item));
        record.processed += 1;
        if (i + 1) % CHUNK == 0 {
            save_record(env.store, record).await?;
            if let Some(progress) = env.progress {
                progress(record);
            }
        }
    }
    record.phase = Phase::Done;
    Ok(())
}

/// [`push_item`]'s decisions, without its writes.
fn plan_item(env: &PushEnv<'_>, item: &Item) -> Planned {
    let run = env.run;
    let integration = &run.integration.name;
    let ws = &run.workspace.name;
    match env.store.link_of_item(ws, &item.id) {
        Ok(Some(other)) if other.integration != *integration => {
            return Planned::Skip(format!(
                "already linked to {} through integration {}",
                other.jira_issue_key, other.integration
            ))
        }
        Ok(_) => {}
        Err(e) => return Planned::Fail(e.to_string()),
    }
    if let Some(chosen) = item.sync_to.as_ref().filter(|c| *c != integration) {
        return Planned::Skip(format!("its syncTo chooses integration {chosen}"));
    }
    let parent = match &item.parent {
        None => None,
        Some(pid) => match env.store.link_by_item(integration, pid) {
            Ok(Some(link)) => Some(IssueRef {
                id: link.jira_issue_id,
                key: link.jira_issue_key,
                item_type: env
                    .workspace
                    .get_item(ws, pid)
                    .map(|p| p.item_type)
                    .unwrap_or_default(),
            }),
            Ok(None) => None,
            Err(e) => return Planned::Fail(e.to_string()),
        },
    };
    match to_jira(item, parent.as_ref(), &run.ctx) {
        Ok(_) => {}
        Err(e) if e.is_skip() => return Planned::Skip(e.to_string()),
        Err(e) => return Planned::Fail(e.to_string()),
    }
    match env.store.link_by_item(integration, &item.id) {
        Ok(Some(link)) => Planned::Update(link.jira_issue_key),
        Ok(None) => Planned::Create(format!(
            "{} \"{}\" in {}",
            item.item_type, item.title, run.integration.project
        )),
        Err(e) => Planned::Fail(e.to_string()),
    }
}

async fn push_item(
    env: &PushEnv<'_>,
    record: &JobRecord,
    item: &Item,
    graph: &mut WorkflowGraph,
) -> (Pushed, Option<SprintMove>) {
    let run = env.run;
    let integration = &run.integration.name;
    let ws = &run.workspace.name;
    let fail = |m: String| (Pushed::Failed(m), None);
    // One item, one issue: an item another integration links is that integration's to push.
    match env.store.link_of_item(ws, &item.id) {
        Ok(Some(other)) if other.integration != *integration => {
            return (
                Pushed::Refused(format!(
                    "already linked to {} through integration {}",
                    other.jira_issue_key, other.integration
                )),
                None,
            )
        }
        Ok(_) => {}
        Err(e) => return fail(e.to_string()),
    }
    if let Some(chosen) = item.sync_to.as_ref().filter(|c| *c != integration) {
        return (
            Pushed::Refused(format!("its syncTo chooses integration {chosen}")),
            None,
        );
    }
    let parent = match &item.parent {
        None => None,
        Some(pid) => match env.store.link_by_item(integration, pid) {
            Ok(Some(link)) => {
                let item_type = env
                    .workspace
                    .get_item(ws, pid)
                    .map(|p| p.item_type)
                    .unwrap_or_default();
                Some(IssueRef {
                    id: link.jira_issue_id,
                    key: link.jira_issue_key,
                    item_type,
                })
            }
            Ok(None) => None,
            Err(e) => return fail(e.to_string()),
        },
    };
    let write = match to_jira(item, parent.as_ref(), &run.ctx) {
        Ok(w) => w,
        Err(e) if e.is_skip() => return (Pushed::Skipped, None),
        Err(e) => return fail(e.to_string()),
    };
    let key = intent_key(integration, &item.id);
    let intent: Option<Intent> = match env.store.get_kv(INTENTS_NS, &key) {
        Ok(v) => v.and_then(|b| serde_json::from_slice(&b).ok()),
        Err(e) => return fail(e.to_string()),
    };
    let link = match env.store.link_by_item(integration, &item.id) {
        Ok(l) => l,
        Err(e) => return fail(e.to_string()),
    };
    let issue_key = match (link, intent) {
        (Some(link), Some(i)) if i.job == record.id => {
            // Created by this job before an interruption.
            return (Pushed::Created(link.jira_issue_key), write.sprint);
        }
        (Some(link), _) => {
            let mut body = write.edit_body();
            add_label(&mut body.fields, &item_label(ws, &item.id), false);
            if let Err(e) = run.client.edit_issue(&link.jira_issue_key, &body).await {
                return fail(format!("editing {}: {e}", link.jira_issue_key));
            }
            if let Some(st) = &write.status {
                if let Err(e) = apply_status(
                    &run.client,
                    &link.jira_issue_key,
                    &st.target_status_id,
                    Some(&write.fields),
                    graph,
                    &StatusPolicy::new(run.ctx.mapped_statuses()),
                )
                .await
                {
                    return fail(format!("status of {}: {e}", link.jira_issue_key));
                }
            }
            if let Err(e) = save_baseline(env, item, parent.as_ref()).await {
                return fail(e);
            }
            return (Pushed::Updated(link.jira_issue_key), write.sprint);
        }
        (None, intent) => match create_linked_issue(env, item, &write, intent, &record.id).await {
            Ok(created) => created.key,
            Err(CreateError::Refused(reason)) => return (Pushed::Refused(reason), None),
            Err(CreateError::Failed(message) | CreateError::Rejected(message)) => {
                return fail(message)
            }
        },
    };
    if let Some(st) = &write.status {
        if let Err(e) = apply_status(
            &run.client,
            &issue_key,
            &st.target_status_id,
            Some(&write.fields),
            graph,
            &StatusPolicy::new(run.ctx.mapped_statuses()),
        )
        .await
        {
            return fail(format!("status of {issue_key}: {e}"));
        }
    }
    if let Err(e) = save_baseline(env, item, parent.as_ref()).await {
        return fail(e);
    }
    (Pushed::Created(issue_key), write.sprint)
}

/// What the live engine merges later edits against: the item's values, now in Jira.
async fn save_baseline(
    env: &PushEnv<'_>,
    item: &Item,
    parent: Option<&IssueRef>,
) -> Result<(), String> {
    let base =
        super::engine::baseline::after_push(item, &env.run.ctx, parent.map(|p| p.key.clone()));
    super::engine::baseline::save(env.store, &env.run.integration.name, &item.id, &base)
        .await
        .map_err(|e| e.to_string())
}

/// Creates the issue of an unlinked item and links it, or adopts the issue an interrupted
/// earlier attempt created (found by its label when an intent is on record). Returns the
/// issue's (id, key). The intent is (re)written with `job` after the link, so a resumed job
/// can tell its own creates.
pub(crate) async fn create_linked_issue(
    env: &PushEnv<'_>,
    item: &Item,
    write: &super::mapping::IssueWrite,
    intent: Option<Intent>,
    job: &str,
) -> Result<Created, CreateError> {
    let failed = CreateError::Failed;
    let mut dropped = std::collections::BTreeMap::new();
    let run = env.run;
    let integration = &run.integration.name;
    let ws = &run.workspace.name;
    let key = intent_key(integration, &item.id);
    let label = item_label(ws, &item.id);
    // An intent without a link: the issue may exist already (crash after create).
    let adopted = match intent {
        Some(i) => find_labelled(env, &i.label)
            .await
            .map_err(|e| failed(format!("looking for an earlier create: {e}")))?,
        None => None,
    };
    // Adopt only an issue no other item holds: after an integration was removed and added
    // again, a one-time import may have given the labelled issue an item of its own.
    if let Some((id, found_key)) = &adopted {
        let holder = env
            .store
            .holder_of_issue(&run.integration.connection, id)
            .map_err(|e| failed(e.to_string()))?;
        if let Some(h) = holder.filter(|h| !(h.integration == *integration && h.item == item.id)) {
            return Err(CreateError::Refused(format!(
                "{found_key}, the issue an earlier push created for it, is linked to item {} \
                 through integration {}; not adopting it and not creating a second one",
                h.item, h.integration
            )));
        }
    }
    let (id, key_) = match adopted {
        Some(found) => found,
        None => {
            let intent = Intent {
                job: job.to_owned(),
                label: label.clone(),
            };
            let bytes = serde_json::to_vec(&intent).unwrap_or_default();
            env.store
                .put_kv(INTENTS_NS, &key, bytes)
                .await
                .map_err(|e| failed(e.to_string()))?;
            let mut body = write.create_body();
            add_label(&mut body.fields, &label, true);
            body.properties.push(serde_json::json!({
                "key": crate::jira::ITEM_PROPERTY,
                "value": {"item": label},
            }));
            let c = match run.client.create_issue(&body).await {
                Ok(c) => c,
                Err(JiraError::BadRequest { errors, .. }) if droppable(&errors, &body) => {
                    // Fields this project's create screen or context does not take: the
                    // issue is created without them, and the item's history says which.
                    for field in errors.keys() {
                        body.fields.remove(field);
                    }
                    let c = run
                        .client
                        .create_issue(&body)
                        .await
                        .map_err(create_failed)?;
                    dropped = errors;
                    c
                }
                Err(e) => return Err(create_failed(e)),
            };
            (c.id, c.key)
        }
    };
    let issue = WsIssueRef {
        connection: run.integration.connection.clone(),
        id: id.clone(),
        key: key_.clone(),
    };
    env.workspace
        .set_jira_link(ws, &item.id, integration, Some(issue))
        .await
        .map_err(|e| match e {
            WorkspaceError::Store(StoreError::LinkRefused(why)) => {
                CreateError::Refused(format!("linking {key_}: {why}"))
            }
            e => failed(format!("linking {key_}: {e}")),
        })?;
    // The intent now belongs to this job, so a resume counts the item as created.
    let intent = Intent {
        job: job.to_owned(),
        label,
    };
    let bytes = serde_json::to_vec(&intent).unwrap_or_default();
    env.store
        .put_kv(INTENTS_NS, &key, bytes)
        .await
        .map_err(|e| failed(e.to_string()))?;
    for (field, why) in &dropped {
        let mut entry = crate::workspace::HistoryEntry::new(
            "rejected",
            crate::workspace::Origin::Sync(integration.clone()),
        );
        entry.field = Some(field.clone());
        entry.message = Some(format!(
            "Jira refused {field} when creating {key_} ({why}); the issue was created without it"
        ));
        if let Err(e) = env.workspace.append_history(ws, &item.id, entry).await {
            tracing::warn!(error = %e, item = %item.id, "cannot record a refused field");
        }
    }
    Ok(Created {
        id,
        key: key_,
        dropped,
    })
}

/// An issue created (or adopted) for an item.
pub(crate) struct Created {
    pub id: String,
    pub key: String,
    /// Jira field id → Jira's reason, for fields the create went without (already in the
    /// item's history).
    pub dropped: std::collections::BTreeMap<String, String>,
}

/// Whether a create refused with these field errors can go again without those fields: each
/// names an optional field tandem sent; never the summary, project, type or parent (the
/// hierarchy). Labels may go: crash recovery finds tandem's creates by label, or, where no
/// screen takes labels, by the item property every create carries.
fn droppable(
    errors: &std::collections::BTreeMap<String, String>,
    body: &crate::jira::IssueFields,
) -> bool {
    const KEEP: &[&str] = &["summary", "project", "issuetype", "parent"];
    !errors.is_empty()
        && errors
            .keys()
            .all(|f| body.fields.contains_key(f) && !KEEP.contains(&f.as_str()))
}

fn create_failed(e: JiraError) -> CreateError {
    let message = format!("creating the issue: {e}");
    if e.is_transient() {
        CreateError::Failed(message)
    } else {
        CreateError::Rejected(message)
    }
}

/// The intent on record for an item of an integration, if any.
pub(crate) fn intent_of(
    store: &Store,
    integration: &str,
    item_id: &str,
) -> Result<Option<Intent>, StoreError> {
    Ok(store
        .get_kv(INTENTS_NS, &intent_key(integration, item_id))?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Adds tandem's label to the labels a write sets (or, on create, to none), so that an edit
/// replacing the labels never drops the one adoption relies on.
pub(crate) fn add_label(fields: &mut serde_json::Map<String, Value>, label: &str, always: bool) {
    let existing = fields.get("labels").cloned();
    if existing.is_none() && !always {
        return;
    }
    let mut labels: Vec<Value> = existing
        .as_ref()
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !labels.iter().any(|l| l.as_str() == Some(label)) {
        labels.push(Value::String(label.to_owned()));
    }
    fields.insert("labels".into(), Value::Array(labels));
}

/// How far back a create cut off before its link is looked for by its item property, and how
/// many of tandem's recent issues are read for it (JQL cannot search a property no app indexes).
const PROPERTY_SCAN_WINDOW: &str = "-2d";
const PROPERTY_SCAN_LIMIT: usize = 50;

/// The issue tandem created for the item `label` names, in the project, as (id, key): by its
/// label, or, where no screen let tandem set labels, by the item property among the issues
/// tandem created recently.
async fn find_labelled(
    env: &PushEnv<'_>,
    label: &str,
) -> Result<Option<(String, String)>, JiraError> {
    let project = &env.run.integration.project;
    let jql = format!("project = \"{project}\" AND labels = \"{label}\"");
    let mut pager = env.run.client.search(&jql, &["summary"]).page_size(2);
    if let Some(found) = pager
        .next_page()
        .await?
        .and_then(|p| p.into_iter().next())
        .map(|i| (i.id, i.key))
    {
        return Ok(Some(found));
    }
    let jql = format!(
        "project = \"{project}\" AND reporter = currentUser() AND created >= \"{PROPERTY_SCAN_WINDOW}\" ORDER BY created DESC"
    );
    let page = env
        .run
        .client
        .search(&jql, &["summary"])
        .page_size(PROPERTY_SCAN_LIMIT as u32)
        .next_page()
        .await?
        .unwrap_or_default();
    for issue in page.into_iter().take(PROPERTY_SCAN_LIMIT) {
        let value = env
            .run
            .client
            .issue_property(&issue.key, crate::jira::ITEM_PROPERTY)
            .await?;
        if value
            .as_ref()
            .and_then(|v| v.get("item"))
            .and_then(Value::as_str)
            == Some(label)
        {
            return Ok(Some((issue.id, issue.key)));
        }
    }
    Ok(None)
}
