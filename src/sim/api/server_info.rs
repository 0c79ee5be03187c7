//! `/serverInfo`: which Jira this is (Cloud or Data Center, version, build). Separate because
//! clients read it before anything else, unauthenticated, to pick their dialect.

use chrono::Utc;
use serde_json::json;

use crate::sim::model::*;
use crate::sim::render::ts;
use crate::sim::server::Resp;
use crate::sim::Shared;

pub(super) fn server_info(sh: &Shared) -> Resp {
    let st = sh.read();
    let now = ts(&Utc::now());
    let body = match st.deployment {
        Deployment::Cloud => json!({
            "baseUrl": sh.base_url,
            "displayUrl": sh.base_url,
            "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0],
            "deploymentType": "Cloud",
            "buildNumber": 100279,
            "buildDate": "2026-11-01T00:00:00.000+0000",
            "serverTime": now,
            "scmInfo": "0000000000000000000000000000000000000000",
            "serverTitle": "Jira",
        }),
        Deployment::DataCenter => json!({
            "baseUrl": sh.base_url,
            "version": "9.12.15",
            "versionNumbers": [9, 12, 15],
            "deploymentType": "Server",
            "buildNumber": 9120015,
            "buildDate": "2024-10-01T00:00:00.000+0000",
            "databaseBuildNumber": 9120015,
            "serverTime": now,
            "scmInfo": "0000000000000000000000000000000000000000",
            "serverTitle": "Jira",
        }),
    };
    Resp::ok(&body)
}
