//! The status page: `GET /` on the admin listener renders what tandem is doing as the product
//! guide's integrations screen (connections with the webhook indicator, project integrations
//! with their Field & Type mapping, one-time sync jobs, manifests, activity), and `GET /live`
//! serves the same page's live region for the page's script to swap in every 1.5 s.
//!
//! Rendered on the server from the status document ([`super::admin::StatusSource`]), so the
//! page shows exactly what `/api/v1/status` says; it works without JavaScript and loads
//! nothing from anywhere else. Polling instead of a server-sent event stream keeps every
//! admin response a small buffered body and keeps no connection open that shutdown would have
//! to cut.
//!
//! Cost: the live region is rendered at most once per [`RENDER_EVERY`] whatever the number of
//! open pages, and nothing here touches the webhook path: the activity chart is fed by a
//! sampler reading counters the parts already keep ([`activity`]).

pub mod activity;
pub mod chart;
pub mod render;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;

use activity::Activity;

/// The live region is re-rendered at most this often; requests in between get the last one.
pub const RENDER_EVERY: Duration = Duration::from_millis(1000);
/// How often the sampler files the counters into the activity ring.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// What the page needs besides the status document: the activity ring and the render cache.
#[derive(Default)]
pub struct Page {
    pub activity: Activity,
    cache: Mutex<Option<(Instant, Arc<str>)>>,
}

/// Cumulative counters the activity chart is drawn from.
pub struct Totals {
    pub webhooks: u64,
    pub runs: u64,
}

impl Page {
    /// Files the counters under the current minute.
    pub fn sample(&self, totals: Totals) {
        self.activity.sample(
            Utc::now().timestamp().div_euclid(60),
            totals.webhooks,
            totals.runs,
        );
    }

    /// The live region: rendered from `status()` unless a render younger than
    /// [`RENDER_EVERY`] can be reused.
    pub fn live(
        &self,
        status: impl FnOnce() -> serde_json::Value,
        totals: impl FnOnce() -> Totals,
        public_addr: Option<SocketAddr>,
    ) -> Arc<str> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, html)) = cache.as_ref() {
            if at.elapsed() < RENDER_EVERY {
                return html.clone();
            }
        }
        self.sample(totals());
        let now = Utc::now();
        let series = self.activity.series(now.timestamp().div_euclid(60));
        let html: Arc<str> = render::live(&status(), &series, now, public_addr).into();
        *cache = Some((Instant::now(), html.clone()));
        html
    }

    /// The whole page around the live region.
    pub fn full(&self, live: &str) -> String {
        render::page(live)
    }
}
