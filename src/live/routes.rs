//! The webhook routing table: which connections may post webhooks for which workspace. The
//! Connection reconciler builds it from the applied model and each connection's resolved
//! webhook secret; the public listener reads it on every request and never learns about
//! manifests.

use std::collections::HashMap;

use crate::secret::Secret;

/// Where webhooks of each workspace may come from. Replaced whole whenever Workspace or
/// Connection resources change; read on every request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookRoutes {
    /// Workspace id (as in the URL) → the connections integrated into it.
    pub workspaces: HashMap<String, Vec<WebhookConnection>>,
}

/// One connection that may post webhooks for a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConnection {
    /// `metadata.name` of the Connection: the identity stored with each event.
    pub name: String,
    /// The connection's normalised base URL (no trailing slash), matched against `self` URLs.
    pub base_url: String,
    /// `selfUrl` of the Connection: the base Jira's `self` links use when it is not `base_url`.
    pub self_url: Option<String>,
    /// `webhookSecret`. Without one, events are accepted only when their `self` URLs point at
    /// this connection, which is all Jira offers when it cannot sign.
    pub secret: Option<Secret>,
}
