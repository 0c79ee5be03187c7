//! The two producers of reconcile work besides the controller's own requeues: manifest
//! snapshots (validated, merged into the desired state, changed keys enqueued) and secret
//! rotation (files re-read, connections whose secrets changed enqueued). Both only enqueue keys;
//! the composition root (`crate::app`) starts them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{spec, Changes, Context, Desired};
use crate::controller::{ObjectRef, WorkQueue};
use crate::manifest::{self, Kind, SourceFile};
use crate::watch::{Snapshot, WatchStatus};

/// Applies each new snapshot: validate off the async threads, merge with the last good
/// versions, enqueue what changed. Readiness is reached after the first scan, whatever it
/// found, so a missing directory shows in status instead of hanging the start.
pub async fn apply_loop(
    ctx: Context,
    queue: WorkQueue<ObjectRef>,
    mut snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    mut watch_status: watch::Receiver<WatchStatus>,
    ready: watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut applied_generation = 0;
    loop {
        let snapshot = snapshots
            .borrow_and_update()
            .clone()
            .filter(|s| s.generation != applied_generation);
        if let Some(snapshot) = snapshot {
            applied_generation = snapshot.generation;
            let files: Vec<SourceFile> = snapshot
                .files
                .iter()
                .map(|(path, text)| SourceFile {
                    path: path.clone(),
                    text: text.clone(),
                })
                .collect();
            let validation =
                match tokio::task::spawn_blocking(move || manifest::validate(&files)).await {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::error!(error = %e, "validating the manifests failed");
                        continue;
                    }
                };
            let previous = ctx.desired();
            let (mut next, changes): (Desired, _) = previous.apply(&validation);
            next.provenance.latest.clone_from(&snapshot.commit);
            if validation.is_valid() {
                next.provenance.accepted.clone_from(&snapshot.commit);
            } else if let Some(commit) = &snapshot.commit {
                tracing::warn!(
                    commit = %commit,
                    errors = validation.error_count(),
                    "commit rejected in part; rejected resources keep their last good version"
                );
            }
            let webhook_owners = managed_webhook_owners(&previous, &next, &changes);
            for d in next
                .rejected
                .values()
                .flatten()
                .chain(&next.other_diagnostics)
            {
                tracing::warn!(diagnostic = %d, "manifest problem");
            }
            ctx.set_desired(next);
            tracing::info!(
                generation = snapshot.generation,
                changed = changes.changed.len(),
                removed = changes.removed.len(),
                "manifests applied"
            );
            for key in changes.changed.into_iter().chain(changes.removed) {
                queue.spec_changed(key);
            }
            for key in webhook_owners {
                queue.enqueue(key);
            }
            let _ = ready.send(true);
        } else if watch_status.borrow_and_update().scans > 0 {
            let _ = ready.send(true);
        }
        tokio::select! {
            _ = &mut shutdown => return,
            r = snapshots.changed() => if r.is_err() { return },
            r = watch_status.changed() => if r.is_err() { return },
        }
    }
}

/// Connections that manage their Jira webhook and serve an integration that was added, changed
/// or removed: the set of workspaces their webhook must cover may have changed, and only their
/// own reconcile registers or removes webhooks.
fn managed_webhook_owners(previous: &Desired, next: &Desired, changes: &Changes) -> Vec<ObjectRef> {
    let mut owners: Vec<ObjectRef> = Vec::new();
    let integration = Kind::ProjectIntegration.as_str();
    for key in changes.changed.iter().chain(&changes.removed) {
        if key.kind != integration {
            continue;
        }
        for desired in [previous, next] {
            let Some(pi) = desired.model.integrations.get(&key.name) else {
                continue;
            };
            let manages = next
                .model
                .connections
                .get(&pi.connection)
                .is_some_and(|c| c.webhook_public_url.is_some());
            let owner = ObjectRef::new(Kind::Connection.as_str(), pi.connection.clone());
            if manages && !owners.contains(&owner) {
                owners.push(owner);
            }
        }
    }
    owners
}

/// Re-reads the secrets each connection refers to and enqueues the connection when one
/// changed: credential rotation without a restart and without touching the manifests.
///
/// "Changed" means different from what the connection's last reconcile used, not from the
/// previous poll: a file rotated between a reconcile and the poller's first look at that
/// connection would otherwise never be noticed. Connections whose secrets never resolved fall
/// back to poll-to-poll comparison (their reconcile is retrying anyway).
pub async fn poll_secrets(
    ctx: Context,
    queue: WorkQueue<ObjectRef>,
    every: Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        let desired = ctx.desired();
        let secrets = ctx.secrets().clone();
        let fingerprints = tokio::task::spawn_blocking(move || {
            desired
                .model
                .connections
                .values()
                .map(|c| (c.name.clone(), secrets.fingerprint(spec::secret_refs(c))))
                .collect::<HashMap<_, _>>()
        })
        .await
        .unwrap_or_default();
        for (name, fp) in &fingerprints {
            let stale = ctx
                .secrets_fingerprint(name)
                .or_else(|| seen.get(name).cloned())
                .is_some_and(|used| used != *fp);
            // Once per new value: if that reconcile cannot resolve it either, its own backoff
            // retries, rather than this poller every few seconds.
            if stale && seen.get(name) != Some(fp) {
                tracing::info!(connection = %name, "a secret changed; reconnecting");
                queue.enqueue(ObjectRef::new(Kind::Connection.as_str(), name.clone()));
            }
        }
        seen = fingerprints;
    }
}
