//! Guarantee 9 on the real binary: the values written in the secret files (a wrong token, the
//! right one, the webhook secret) never appear in any log line at `debug`, in
//! `/api/v1/status`, in `tandem status` (table or JSON) or in `/metrics`, across a run with a
//! failed authentication, a recovery, and webhooks authenticated both ways.

mod common_daemon;

use base64::Engine as _;
use common_daemon::*;
use tandem::http::public::sign;
use tandem::http::Secret;

const EMAIL: &str = "robot@example.com";
const WRONG_TOKEN: &str = "wr0ng-t0ken-Hj3sD0qA";
const TOKEN: &str = "r1ght-t0ken-7Qz9xLm2";
const WEBHOOK_SECRET: &str = "w3bh00k-s3cret-K4pR8vN1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_never_reach_logs_status_or_metrics() {
    let sim = simulator(vec![tandem::sim::SimUser::new(EMAIL, TOKEN, true)]).await;
    let url = sim.base_url();
    let dirs = DaemonDirs::new();
    dirs.secret("jira-token", WRONG_TOKEN);
    dirs.secret("webhook-secret", WEBHOOK_SECRET);
    dirs.manifest("workspace.yaml", &workspace("product", "product"));
    dirs.manifest("fields.yaml", &field_mapping());
    dirs.manifest(
        "connection.yaml",
        &connection(
            "sim",
            "Simulated Jira",
            &url,
            EMAIL,
            "jira-token",
            Some("webhook-secret"),
        ),
    );
    dirs.manifest(
        "integration.yaml",
        &integration("demo", "Demo", "sim", "product"),
    );
    let d = Daemon::start(
        &dirs,
        DaemonOptions {
            log: "debug".into(),
            ..DaemonOptions::default()
        },
    )
    .await;
    let mut outputs: Vec<(String, String)> = Vec::new();

    let failed = d
        .wait_status("the wrong token refused", |s| {
            not_ready_reason(s, "Connection", "sim").as_deref() == Some("AuthenticationFailed")
        })
        .await;
    outputs.push(("status while failing".into(), failed.to_string()));
    dirs.secret("jira-token", TOKEN);
    d.wait_status("every resource Ready", all_ready).await;

    let client = reqwest::Client::new();
    let endpoint = format!("{}/webhooks/jira/product", d.public);
    let body = serde_json::json!({
        "webhookEvent": "jira:issue_updated",
        "issue": {"id": "10001", "self": format!("{url}/rest/api/2/issue/10001")}
    })
    .to_string();
    let signed = client
        .post(&endpoint)
        .header(
            "X-Hub-Signature",
            sign(&Secret::new(WEBHOOK_SECRET), body.as_bytes()),
        )
        .header("X-Atlassian-Webhook-Identifier", "secret-test-1")
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(signed.status().as_u16(), 200);
    // For Jira instances that cannot sign, the secret travels in the URL: it must not be logged.
    let by_token = client
        .post(format!("{endpoint}?secret={WEBHOOK_SECRET}"))
        .header("X-Atlassian-Webhook-Identifier", "secret-test-2")
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(by_token.status().as_u16(), 200);
    let forged = client
        .post(&endpoint)
        .header(
            "X-Hub-Signature",
            sign(&Secret::new(TOKEN), body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status().as_u16(), 401);

    let status = d
        .wait_status("two webhooks counted", |s| {
            resource(s, "Connection", "sim").is_some_and(|r| r["webhook"]["events"] == 2)
        })
        .await;
    outputs.push(("/api/v1/status".into(), status.to_string()));
    outputs.push(("/metrics".into(), d.admin_get("/metrics").await));
    for format in ["table", "json"] {
        let out = d.cli(&["status", "--output", format]).await;
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout.contains("sim"), "{out:?}");
        outputs.push((format!("tandem status --output {format}"), out.stdout));
        outputs.push((
            format!("tandem status --output {format} (stderr)"),
            out.stderr,
        ));
    }
    let (exit, log) = d.stop().await;
    assert!(exit.success(), "{exit:?}");
    // The run did go through the paths that handle secrets.
    assert!(
        log.iter().any(|l| l.contains("AuthenticationFailed")),
        "the failed authentication is logged"
    );
    assert!(log.len() > 20, "debug logging is on: {} lines", log.len());
    for (i, line) in log.into_iter().enumerate() {
        outputs.push((format!("log line {i}"), line));
    }

    let b64 = |user: &str, secret: &str| {
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
    };
    let needles = [
        WRONG_TOKEN.to_owned(),
        TOKEN.to_owned(),
        WEBHOOK_SECRET.to_owned(),
        // What a leaked Authorization header would show instead of the token itself.
        b64(EMAIL, WRONG_TOKEN),
        b64(EMAIL, TOKEN),
    ];
    for (what, text) in &outputs {
        for needle in &needles {
            assert!(
                !text.contains(needle.as_str()),
                "a secret leaked into {what}: {text}"
            );
        }
    }
    sim.shutdown().await.expect("sim shutdown");
}
