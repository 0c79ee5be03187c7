//! `tandem validate --online`: the same checks the daemon runs before an integration is Ready
//! (connection as administrator; project, board, types and their hierarchy, statuses, fields),
//! reported as diagnostics at the manifest that needs fixing.

use std::path::PathBuf;

use crate::jira::check::{check_connection, check_integration};
use crate::jira::JiraClient;
use crate::manifest::{Diagnostic, Kind, Model, ResourceRef, Severity};
use crate::reconcile::{spec, SecretResolver};

fn error(
    kind: Kind,
    name: &str,
    location: &crate::manifest::Location,
    message: String,
    hint: Option<String>,
) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        location: location.clone(),
        resource: Some(ResourceRef {
            kind,
            name: name.to_owned(),
        }),
        message,
        hint,
    }
}

/// Where relative secret files resolve, as in `tandem run`: `$CREDENTIALS_DIRECTORY`, then
/// `--secrets` / `$TANDEM_SECRETS`.
pub fn secret_dirs(flag: Option<PathBuf>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    dirs.extend(flag);
    dirs
}

/// Checks every connection and integration of a valid model against the live Jira.
pub async fn check(model: &Model, secrets: &SecretResolver) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut clients = std::collections::BTreeMap::new();
    for c in model.connections.values() {
        let creds = match spec::credentials(c, secrets) {
            Ok(creds) => creds,
            Err(e) => {
                out.push(error(
                    Kind::Connection,
                    &c.name,
                    &c.source,
                    format!("SecretUnavailable: {e}"),
                    None,
                ));
                continue;
            }
        };
        let client = match JiraClient::new(spec::jira_config(c, creds)) {
            Ok(client) => client,
            Err(e) => {
                out.push(error(
                    Kind::Connection,
                    &c.name,
                    &c.source,
                    e.to_string(),
                    None,
                ));
                continue;
            }
        };
        match check_connection(&client).await {
            Ok(_) => {
                clients.insert(c.name.clone(), client);
            }
            Err(e) => out.push(error(
                Kind::Connection,
                &c.name,
                &c.source,
                format!("{}: {e}", e.reason()),
                None,
            )),
        }
    }
    for pi in model.integrations.values() {
        let (Some(client), Some(ws)) = (
            clients.get(&pi.connection),
            model.workspaces.get(&pi.workspace),
        ) else {
            continue;
        };
        let fm = pi
            .field_mapping
            .as_ref()
            .and_then(|n| model.field_mappings.get(n));
        match check_integration(client, &spec::integration_spec(pi, ws, fm)).await {
            Ok(report) => {
                out.extend(report.failures.into_iter().map(|f| {
                    error(
                        Kind::ProjectIntegration,
                        &pi.name,
                        &pi.source,
                        format!("{}: {}", f.pair, f.message),
                        Some(f.hint),
                    )
                }));
                out.extend(report.warnings.into_iter().map(|f| {
                    let mut d = error(
                        Kind::ProjectIntegration,
                        &pi.name,
                        &pi.source,
                        format!("{}: {}", f.pair, f.message),
                        Some(f.hint),
                    );
                    d.severity = Severity::Warning;
                    d
                }));
            }
            Err(e) => out.push(error(
                Kind::ProjectIntegration,
                &pi.name,
                &pi.source,
                format!("{}: {e}", e.reason()),
                None,
            )),
        }
    }
    out
}
