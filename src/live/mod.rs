//! What the running daemon knows now, shared between the part that establishes it and the
//! parts that act on it: the applied manifest model, each integration's last passing online
//! check, the Jira client of each connection, and the webhook routing table.
//!
//! The reconcilers are the only writers (through [`LiveState`]); the sync engine, the one-time
//! jobs, the workspace service and the webhook listener only read (through [`LiveView`], or
//! the routes' watch channel). This module sits below all of them so that none has to know
//! the others: the engine never sees a reconciler, a reconciler never sees the engine.
//!
//! Every value is replaced whole, never edited in place, so a reader holds a consistent
//! version for as long as it likes (an `Arc` or a clone) without blocking the writer.

pub mod routes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::jira::check::ResolvedIntegration;
use crate::jira::JiraClient;
use crate::manifest::Model;

pub use routes::{WebhookConnection, WebhookRoutes};

struct Inner {
    model: watch::Sender<Arc<Model>>,
    resolved: Mutex<HashMap<String, ResolvedIntegration>>,
    clients: Mutex<HashMap<String, Arc<JiraClient>>>,
    routes: watch::Sender<WebhookRoutes>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The writer's handle (held by the composition root and the reconcilers). Cheap to clone.
#[derive(Clone)]
pub struct LiveState {
    inner: Arc<Inner>,
}

/// A reader's handle: the same state, without the means to change it. Cheap to clone.
#[derive(Clone)]
pub struct LiveView {
    inner: Arc<Inner>,
}

impl Default for LiveState {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveState {
    /// An empty state: no model, no connection, no route.
    pub fn new() -> Self {
        let (model, _) = watch::channel(Arc::new(Model::default()));
        let (routes, _) = watch::channel(WebhookRoutes::default());
        LiveState {
            inner: Arc::new(Inner {
                model,
                resolved: Mutex::new(HashMap::new()),
                clients: Mutex::new(HashMap::new()),
                routes,
            }),
        }
    }

    /// The read-only handle to give to the parts that act on this state.
    pub fn view(&self) -> LiveView {
        LiveView {
            inner: self.inner.clone(),
        }
    }

    /// Publishes a newly applied model (last good versions included).
    pub fn set_model(&self, model: Arc<Model>) {
        self.inner.model.send_replace(model);
    }

    /// Records what an integration's passing online check resolved.
    pub fn set_resolved(&self, integration: &str, resolved: ResolvedIntegration) {
        lock(&self.inner.resolved).insert(integration.to_owned(), resolved);
    }

    /// Publishes the client of a connection whose secrets resolved.
    pub fn set_client(&self, connection: &str, client: Arc<JiraClient>) {
        lock(&self.inner.clients).insert(connection.to_owned(), client);
    }

    /// Forgets the client of a connection that was removed.
    pub fn remove_client(&self, connection: &str) {
        lock(&self.inner.clients).remove(connection);
    }

    /// Replaces the webhook routing table; readers are woken only when it changed.
    pub fn set_routes(&self, routes: WebhookRoutes) {
        self.inner.routes.send_if_modified(|cur| {
            if *cur == routes {
                false
            } else {
                *cur = routes;
                true
            }
        });
    }

    /// The client of a connection, for the reconcilers (see [`LiveView::client`]).
    pub fn client(&self, connection: &str) -> Option<Arc<JiraClient>> {
        self.view().client(connection)
    }

    /// The applied model, for the reconcilers (see [`LiveView::model`]).
    pub fn model(&self) -> Arc<Model> {
        self.view().model()
    }

    /// The routing table's channel, for the webhook listener.
    pub fn routes(&self) -> watch::Receiver<WebhookRoutes> {
        self.inner.routes.subscribe()
    }
}

impl LiveView {
    /// The applied model: the valid manifests plus the last good version of rejected ones.
    pub fn model(&self) -> Arc<Model> {
        self.inner.model.borrow().clone()
    }

    /// Changes of the applied model, to wait for the first integration instead of polling.
    pub fn model_changes(&self) -> watch::Receiver<Arc<Model>> {
        self.inner.model.subscribe()
    }

    /// What the integration's last passing online check resolved, if it passed one.
    pub fn resolved_integration(&self, integration: &str) -> Option<ResolvedIntegration> {
        lock(&self.inner.resolved).get(integration).cloned()
    }

    /// The Jira client of a connection whose secrets resolved (it may still be failing its
    /// checks: requests then fail and are retried like any other Jira error).
    pub fn client(&self, connection: &str) -> Option<Arc<JiraClient>> {
        lock(&self.inner.clients).get(connection).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_see_what_the_writer_published_and_only_real_route_changes_wake_them() {
        let state = LiveState::new();
        let view = state.view();
        assert!(view.model().integrations.is_empty());
        let mut changes = view.model_changes();
        state.set_model(Arc::new(Model::default()));
        assert!(changes.has_changed().expect("open"));
        changes.mark_unchanged();

        let mut routes = state.routes();
        state.set_routes(WebhookRoutes::default());
        assert!(
            !routes.has_changed().expect("open"),
            "same table, no wake-up"
        );
        let mut table = WebhookRoutes::default();
        table.workspaces.insert("ws".into(), Vec::new());
        state.set_routes(table.clone());
        assert!(routes.has_changed().expect("open"));
        assert_eq!(*routes.borrow_and_update(), table);
        assert!(view.client("jira").is_none());
        assert!(view.resolved_integration("pi").is_none());
    }
}
