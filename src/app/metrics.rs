//! The manifest and resource gauges of `/metrics`: what an alert needs so that a rejected
//! commit, an uncommitted change or a resource that is not Ready cannot go unnoticed. They read
//! the controller's board, the desired state and the watcher's status, which is why they are
//! assembled here, above those parts; `http` only renders what a `MetricsSource` writes.
//!
//! Architecture invariant: labels are resource kinds and names (DNS labels), never text from a
//! manifest's values or a message.

use std::fmt::Write as _;

use tokio::sync::watch;

use crate::controller::ConditionType;
use crate::http::admin::MetricsSource;
use crate::reconcile::Context;
use crate::watch::WatchStatus;

pub struct ManifestMetrics {
    pub ctx: Context,
    pub watch: watch::Receiver<WatchStatus>,
}

impl MetricsSource for ManifestMetrics {
    fn render(&self, out: &mut String) {
        let desired = self.ctx.desired();
        let watch = self.watch.borrow().clone();
        out.push_str(
            "# HELP tandem_resource_ready 1 when the resource's Ready condition is true and its latest declaration was accepted.\n# TYPE tandem_resource_ready gauge\n",
        );
        let mut rows: Vec<(String, String, bool)> = self
            .ctx
            .board()
            .list()
            .into_iter()
            .map(|r| {
                let ready = r
                    .conditions
                    .iter()
                    .any(|c| c.type_ == ConditionType::Ready && c.status);
                (r.kind, r.name, ready)
            })
            .collect();
        for key in desired.rejected.keys() {
            if !rows
                .iter()
                .any(|(k, n, _)| *k == key.kind && *n == key.name)
            {
                rows.push((key.kind.clone(), key.name.clone(), false));
            }
        }
        rows.sort();
        for (kind, name, ready) in rows {
            let rejected = desired
                .rejected
                .keys()
                .any(|k| k.kind == kind && k.name == name);
            let _ = writeln!(
                out,
                "tandem_resource_ready{{kind=\"{}\",name=\"{}\"}} {}",
                label(&kind),
                label(&name),
                u8::from(ready && !rejected)
            );
        }
        let rejected = desired.rejected.len() + desired.other_errors;
        let _ = writeln!(
            out,
            "# HELP tandem_manifest_rejected Rejected manifest edits: resources whose latest declaration is invalid (their last good version runs) plus errors naming no resource.\n# TYPE tandem_manifest_rejected gauge\ntandem_manifest_rejected {rejected}"
        );
        let uncommitted = watch.uncommitted.as_ref().map_or(0, Vec::len);
        let _ = writeln!(
            out,
            "# HELP tandem_manifest_uncommitted Manifest files that differ from the checked-out commit (ignored in git mode).\n# TYPE tandem_manifest_uncommitted gauge\ntandem_manifest_uncommitted {uncommitted}"
        );
        let _ = writeln!(
            out,
            "# HELP tandem_manifest_problem 1 while the manifest directory cannot be read (the last applied set keeps running).\n# TYPE tandem_manifest_problem gauge\ntandem_manifest_problem {}",
            u8::from(watch.problem.is_some())
        );
    }
}

/// Escapes a label value (names are DNS labels already; this is the belt to those braces).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
