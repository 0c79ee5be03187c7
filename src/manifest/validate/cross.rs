//! Passes 2 and 3: identities across documents, then references in dependency order.

use std::collections::{BTreeMap, HashMap};

use super::{did_you_mean, Decl, Sink, Validator};
use crate::manifest::raw;
use crate::manifest::yaml::Seg;
use crate::manifest::{Kind, Location, ResourceRef};

impl Validator {
    // -----------------------------------------------------------------------------------------
    // Pass 2: identities across documents

    pub(super) fn identities(&mut self) {
        let s = &mut self.sink;
        let decls: Vec<(ResourceRef, usize)> = self
            .workspaces
            .iter()
            .map(|d| (d.r.clone(), d.doc))
            .chain(self.connections.iter().map(|d| (d.r.clone(), d.doc)))
            .chain(self.integrations.iter().map(|d| (d.r.clone(), d.doc)))
            .chain(self.field_mappings.iter().map(|d| (d.r.clone(), d.doc)))
            .chain(self.sync_jobs.iter().map(|d| (d.r.clone(), d.doc)))
            .collect();
        let mut by_ref: BTreeMap<&ResourceRef, Vec<usize>> = BTreeMap::new();
        for (r, doc) in &decls {
            by_ref.entry(r).or_default().push(*doc);
        }
        for (r, docs) in by_ref {
            if docs.len() < 2 {
                continue;
            }
            let p = path!["metadata", "name"];
            let locations: Vec<Location> = docs.iter().map(|d| s.location(*d, &p, false)).collect();
            for (i, doc) in docs.iter().enumerate() {
                let others: Vec<String> = locations
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, l)| l.to_string())
                    .collect();
                s.err(
                    *doc,
                    r,
                    &p,
                    format!("{} `{}` is declared more than once", r.kind, r.name),
                    Some(format!("also declared at {}", others.join(", "))),
                );
            }
        }

        let conns: Vec<_> = self
            .connections
            .iter()
            .filter_map(|d| {
                d.raw
                    .as_ref()
                    .map(|raw| (&d.r, d.doc, raw.display_name.as_str()))
            })
            .collect();
        unique_values(
            s,
            &conns,
            &path!["spec", "displayName"],
            "display name",
            true,
        );
        let ints: Vec<_> = self
            .integrations
            .iter()
            .filter_map(|d| {
                d.raw
                    .as_ref()
                    .map(|raw| (&d.r, d.doc, raw.display_name.as_str()))
            })
            .collect();
        unique_values(
            s,
            &ints,
            &path!["spec", "displayName"],
            "display name",
            true,
        );
        let ids: Vec<_> = self
            .workspaces
            .iter()
            .filter_map(|d| d.raw.as_ref().map(|raw| (&d.r, d.doc, raw.id.as_str())))
            .collect();
        unique_values(s, &ids, &path!["spec", "id"], "workspace id", false);
    }

    // -----------------------------------------------------------------------------------------
    // Pass 3: references, in dependency order

    pub(super) fn references(&mut self) {
        let s = &mut self.sink;
        let workspaces: HashMap<&str, &Decl<_, _>> = self
            .workspaces
            .iter()
            .map(|d| (d.r.name.as_str(), d))
            .collect();
        let connections: HashMap<&str, &Decl<_, _>> = self
            .connections
            .iter()
            .map(|d| (d.r.name.as_str(), d))
            .collect();
        let mappings: HashMap<&str, &Decl<_, _>> = self
            .field_mappings
            .iter()
            .map(|d| (d.r.name.as_str(), d))
            .collect();
        let mut projects: HashMap<(&str, &str, &str), &ResourceRef> = HashMap::new();

        for d in &self.integrations {
            let Some(spec) = &d.raw else { continue };
            let (doc, r) = (d.doc, &d.r);
            resolve(
                s,
                doc,
                r,
                &path!["spec", "connection"],
                Kind::Connection,
                &spec.connection,
                &connections,
            );
            let ws = resolve(
                s,
                doc,
                r,
                &path!["spec", "workspace"],
                Kind::Workspace,
                &spec.workspace,
                &workspaces,
            )
            .and_then(|w| w.model.as_ref());
            let fm = match &spec.field_mapping {
                Some(name) => resolve(
                    s,
                    doc,
                    r,
                    &path!["spec", "fieldMapping"],
                    Kind::FieldMapping,
                    name,
                    &mappings,
                )
                .and_then(|m| m.model.as_ref()),
                None => None,
            };
            if let Some(other) =
                projects.insert((&spec.connection, &spec.project, &spec.workspace), r)
            {
                s.err(
                    doc,
                    r,
                    &path!["spec", "project"],
                    format!("project `{}` on connection `{}` is already integrated with workspace `{}` by {other}", spec.project, spec.connection, spec.workspace),
                    Some("two integrations of one project into one workspace would sync every issue twice".into()),
                );
            }
            let Some(ws) = ws else { continue };
            let type_names = || ws.item_types.iter().map(|t| t.name.as_str());
            for (i, t) in spec.types.iter().enumerate() {
                if ws.item_type(&t.workspace).is_none() {
                    s.err(
                        doc,
                        r,
                        &path!["spec", "types", i, "workspace"],
                        format!(
                            "`{}` is not an item type of workspace `{}`",
                            t.workspace, ws.name
                        ),
                        did_you_mean(&t.workspace, type_names()),
                    );
                }
            }
            let missing: Vec<&str> = type_names()
                .filter(|name| !spec.types.iter().any(|m| m.workspace == *name))
                .collect();
            match missing.as_slice() {
                [] => {}
                [one] => s.err_key(
                    doc,
                    r,
                    &path!["spec", "types"],
                    format!("workspace item type `{one}` is missing from `types`"),
                    Some(format!("add `{{workspace: {one}, jira: ISSUE TYPE}}` or `{{workspace: {one}, ignore: true}}`")),
                ),
                many => {
                    let list: Vec<String> = many.iter().map(|n| format!("`{n}`")).collect();
                    s.err_key(
                        doc,
                        r,
                        &path!["spec", "types"],
                        format!("workspace item types {} are missing from `types`", list.join(", ")),
                        Some("add `{workspace: NAME, jira: ISSUE TYPE}` or `{workspace: NAME, ignore: true}` for each".into()),
                    );
                }
            }
            for (i, t) in spec.secondary_types.iter().enumerate() {
                if ws.item_type(&t.workspace).is_none() {
                    s.err(
                        doc,
                        r,
                        &path!["spec", "secondaryTypes", i, "workspace"],
                        format!(
                            "`{}` is not an item type of workspace `{}`",
                            t.workspace, ws.name
                        ),
                        did_you_mean(&t.workspace, type_names()),
                    );
                }
            }
            for (i, m) in spec.statuses.iter().enumerate() {
                if !ws.statuses.contains(&m.workspace) {
                    s.err(
                        doc,
                        r,
                        &path!["spec", "statuses", i, "workspace"],
                        format!(
                            "status `{}` is not declared by workspace `{}`",
                            m.workspace, ws.name
                        ),
                        did_you_mean(&m.workspace, ws.statuses.iter().map(String::as_str)),
                    );
                }
            }
            if let Some(fm) = fm {
                let direction = spec.direction.unwrap_or(raw::Direction::TwoWay);
                for c in &fm.custom {
                    let never = match c.direction {
                        Some(raw::Direction::FromJira) => !direction.from_jira(),
                        Some(raw::Direction::ToJira) => !direction.to_jira(),
                        _ => false,
                    };
                    if let (true, Some(field_direction)) = (never, c.direction) {
                        s.warn(
                            doc,
                            r,
                            &path!["spec", "fieldMapping"],
                            format!("field `{}` syncs {field_direction} in field mapping `{}`, but this integration only syncs {direction}; it will never sync", c.workspace, fm.name),
                            None,
                        );
                    }
                    if ws.fields.iter().all(|f| f.name != c.workspace) {
                        s.err(
                            doc,
                            r,
                            &path!["spec", "fieldMapping"],
                            format!("field mapping `{}` maps field `{}`, which workspace `{}` does not declare", fm.name, c.workspace, ws.name),
                            did_you_mean(&c.workspace, ws.fields.iter().map(|f| f.name.as_str())),
                        );
                    }
                }
            }
        }

        let integrations: HashMap<&str, &Decl<_, _>> = self
            .integrations
            .iter()
            .map(|d| (d.r.name.as_str(), d))
            .collect();
        for d in &self.sync_jobs {
            let Some(spec) = &d.raw else { continue };
            let Some(int) = resolve(
                s,
                d.doc,
                &d.r,
                &path!["spec", "integration"],
                Kind::ProjectIntegration,
                &spec.integration,
                &integrations,
            )
            .and_then(|i| i.model.as_ref()) else {
                continue;
            };
            let ok = match spec.direction {
                raw::JobDirection::FromJira => int.direction.from_jira(),
                raw::JobDirection::ToJira => int.direction.to_jira(),
            };
            if !ok {
                s.err(
                    d.doc,
                    &d.r,
                    &path!["spec", "direction"],
                    format!("integration `{}` only syncs {}", int.name, int.direction),
                    None,
                );
            }
            if matches!(spec.scope, Some(raw::Scope::Sprints(_))) && int.board.is_none() {
                s.err(
                    d.doc,
                    &d.r,
                    &path!["spec", "scope", "sprints"],
                    format!(
                        "integration `{}` has no `board`, which sprints need",
                        int.name
                    ),
                    None,
                );
            }
        }
    }
}

/// Reports a reference that resolves to nothing (with a "did you mean") or to a resource that
/// is itself invalid; returns the declaration when it is usable.
fn resolve<'a, S, M>(
    s: &mut Sink,
    doc: usize,
    r: &ResourceRef,
    path: &[Seg],
    kind: Kind,
    name: &str,
    decls: &HashMap<&str, &'a Decl<S, M>>,
) -> Option<&'a Decl<S, M>> {
    match decls.get(name) {
        None => {
            s.err(
                doc,
                r,
                path,
                format!("{kind} `{name}` does not exist"),
                did_you_mean(name, decls.keys().copied()),
            );
            None
        }
        Some(d) if s.is_rejected(&d.r) || d.model.is_none() => {
            s.err(
                doc,
                r,
                path,
                format!("{kind} `{name}` is not valid"),
                Some(format!("fix the errors reported for {}", d.r)),
            );
            None
        }
        Some(d) => Some(d),
    }
}

/// Reports values that must be unique across resources, on every resource that shares one.
fn unique_values(
    s: &mut Sink,
    items: &[(&ResourceRef, usize, &str)],
    path: &[Seg],
    what: &str,
    fold_case: bool,
) {
    let key = |v: &str| {
        let v = v.trim();
        if fold_case {
            v.to_lowercase()
        } else {
            v.to_string()
        }
    };
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (_, _, value)) in items.iter().enumerate() {
        if !value.trim().is_empty() {
            groups.entry(key(value)).or_default().push(i);
        }
    }
    for members in groups.values().filter(|m| m.len() > 1) {
        for &i in members {
            let (r, doc, value) = items[i];
            let others: Vec<String> = members
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| items[j].0.to_string())
                .collect();
            s.err(
                doc,
                r,
                path,
                format!(
                    "{what} `{}` is also used by {}",
                    value.trim(),
                    others.join(", ")
                ),
                None,
            );
        }
    }
}
