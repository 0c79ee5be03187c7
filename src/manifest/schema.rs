//! JSON Schemas of the manifest kinds, generated from the raw types.
//!
//! `schemas/` in the repository is the output of [`write_all`]; a test regenerates it and fails
//! when the committed files are stale, so the schemas editors use never drift from the parser.

use std::fs;
use std::io;
use std::path::Path;

use schemars::{schema_for, Schema};

use super::raw;
use super::Kind;

/// The schema file name of a kind, e.g. `project-integration.json`.
pub fn file_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Workspace => "workspace.json",
        Kind::Connection => "connection.json",
        Kind::ProjectIntegration => "project-integration.json",
        Kind::FieldMapping => "field-mapping.json",
        Kind::SyncJob => "sync-job.json",
    }
}

/// The JSON Schema of one kind.
pub fn schema(kind: Kind) -> Schema {
    match kind {
        Kind::Workspace => schema_for!(raw::WorkspaceManifest),
        Kind::Connection => schema_for!(raw::ConnectionManifest),
        Kind::ProjectIntegration => schema_for!(raw::ProjectIntegrationManifest),
        Kind::FieldMapping => schema_for!(raw::FieldMappingManifest),
        Kind::SyncJob => schema_for!(raw::SyncJobManifest),
    }
}

/// Every schema as `(file name, pretty JSON ending in a newline)`.
pub fn render_all() -> Vec<(&'static str, String)> {
    Kind::ALL
        .iter()
        .map(|&kind| {
            let mut text = serde_json::to_string_pretty(&schema(kind))
                .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
            text.push('\n');
            (file_name(kind), text)
        })
        .collect()
}

/// Writes every schema into `dir`, creating it when needed; returns the files written.
pub fn write_all(dir: &Path) -> io::Result<Vec<std::path::PathBuf>> {
    fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, text) in render_all() {
        let path = dir.join(name);
        fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}
