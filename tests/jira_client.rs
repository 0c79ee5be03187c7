//! The Jira client against a scripted fake Jira: dialects, authentication, failure classes,
//! rate limits, retries and paging.

mod jira_fake;

use std::time::Duration;

use futures_util::StreamExt;
use jira_fake::{Exchange, FakeJira, Reply, TestCert};
use serde_json::json;
use tandem::jira::{
    check_connection, Credentials, Deployment, IssueFields, JiraClient, JiraConfig, JiraError,
    RetryPolicy, SearchCursor,
};

const SECRET: &str = "very-secret-api-token-1234";

fn config(url: &str, deployment: Option<Deployment>) -> JiraConfig {
    let mut config = JiraConfig::new(url, Credentials::basic("admin@example.com", SECRET));
    config.deployment = deployment;
    config.timeout = Duration::from_secs(5);
    config.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(10),
        retry_non_idempotent: false,
    };
    config
}

fn client(fake: &FakeJira, deployment: Option<Deployment>) -> JiraClient {
    JiraClient::new(config(&fake.url(), deployment)).expect("client")
}

fn connection_script(myself: Reply, permissions: &str) -> Vec<Exchange> {
    vec![
        Exchange::on(
            "GET",
            "/rest/api/2/serverInfo",
            Reply::fixture(200, "server_info_cloud.json"),
        ),
        Exchange::on("GET", "/rest/api/3/myself", myself),
        Exchange::on(
            "GET",
            "/rest/api/3/mypermissions",
            Reply::fixture(200, permissions),
        )
        .with_query("permissions", "ADMINISTER"),
    ]
}

fn issue(n: usize) -> serde_json::Value {
    json!({
        "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
        "id": (10000 + n).to_string(),
        "self": format!("https://tandem-test.atlassian.net/rest/api/3/issue/{}", 10000 + n),
        "key": format!("DEMO-{n}"),
        "fields": {
            "summary": format!("Issue {n}"),
            "customfield_10016": 3.0,
            "status": {"name": "To Do", "id": "10000"}
        }
    })
}

#[tokio::test]
async fn detects_cloud_and_data_center_from_server_info() {
    let cloud = FakeJira::start(vec![Exchange::on(
        "GET",
        "/rest/api/2/serverInfo",
        Reply::fixture(200, "server_info_cloud.json"),
    )])
    .await;
    let dc = FakeJira::start(vec![Exchange::on(
        "GET",
        "/jira/rest/api/2/serverInfo",
        Reply::fixture(200, "server_info_dc.json"),
    )])
    .await;
    assert_eq!(
        client(&cloud, None).detect_deployment().await.unwrap(),
        Deployment::Cloud
    );
    // A Data Center context path survives URL normalisation (trailing slash, whitespace).
    let dc_client = JiraClient::new(config(&format!(" {}/jira/ ", dc.url()), None)).unwrap();
    assert_eq!(
        dc_client.deployment().await.unwrap(),
        Deployment::DataCenter
    );
}

#[tokio::test]
async fn connection_check_reports_server_user_and_admin() {
    let fake = FakeJira::start(connection_script(
        Reply::fixture(200, "myself_cloud.json"),
        "mypermissions_admin.json",
    ))
    .await;
    let info = check_connection(&client(&fake, None)).await.unwrap();
    assert_eq!(info.deployment, Deployment::Cloud);
    assert_eq!(info.server_title.as_deref(), Some("Tandem Test Cloud"));
    assert_eq!(info.user_display_name, "Ada Admin");
    assert!(info.is_admin);
    // The dialect learned from serverInfo is used right away: v3 endpoints, one serverInfo call.
    assert_eq!(fake.requests_to("GET", "/rest/api/2/serverInfo").len(), 1);
    fake.assert_script_done();
}

#[tokio::test]
async fn wrong_credentials_are_authentication_failed_and_rotation_recovers() {
    let fake = FakeJira::start(vec![
        Exchange::on(
            "GET",
            "/rest/api/2/serverInfo",
            Reply::fixture(200, "server_info_cloud.json"),
        ),
        Exchange::once(
            "GET",
            "/rest/api/3/myself",
            Reply::json(401, "Client must be authenticated to access this resource.")
                .header("content-type", "text/html;charset=UTF-8"),
        ),
        Exchange::on(
            "GET",
            "/rest/api/3/myself",
            Reply::fixture(200, "myself_cloud.json"),
        ),
        Exchange::on(
            "GET",
            "/rest/api/3/mypermissions",
            Reply::fixture(200, "mypermissions_admin.json"),
        ),
    ])
    .await;
    let client = client(&fake, None);
    let err = check_connection(&client).await.unwrap_err();
    assert_eq!(err.reason(), "AuthenticationFailed");
    let message = format!("{err:#} {err:?}");
    assert!(message.contains("admin@example.com"), "{message}");
    assert!(!message.contains(SECRET), "secret leaked: {message}");
    // 401 is not retried: one request only.
    assert_eq!(fake.requests_to("GET", "/rest/api/3/myself").len(), 1);

    client.set_credentials(Credentials::basic("admin@example.com", "rotated-token"));
    check_connection(&client).await.unwrap();
    let sent: Vec<String> = fake
        .requests_to("GET", "/rest/api/3/myself")
        .iter()
        .map(|r| r.authorization().unwrap())
        .collect();
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert_eq!(
        sent,
        vec![
            format!("Basic {}", b64(&format!("admin@example.com:{SECRET}"))),
            format!("Basic {}", b64("admin@example.com:rotated-token")),
        ]
    );
}

#[tokio::test]
async fn data_center_login_failure_header_and_bearer_tokens() {
    let fake = FakeJira::start(vec![Exchange::on(
        "GET",
        "/rest/api/2/myself",
        Reply::json(401, "<html>Unauthorized</html>")
            .header("X-Seraph-LoginReason", "AUTHENTICATED_FAILED"),
    )])
    .await;
    let mut config = config(&fake.url(), Some(Deployment::DataCenter));
    config.auth = Credentials::bearer("dc-pat-secret");
    let client = JiraClient::new(config).unwrap();
    let err = client.myself().await.unwrap_err();
    assert_eq!(err.reason(), "AuthenticationFailed");
    assert!(err.to_string().contains("AUTHENTICATED_FAILED"), "{err}");
    assert!(!err.to_string().contains("dc-pat-secret"));
    assert_eq!(
        fake.requests()[0].authorization().as_deref(),
        Some("Bearer dc-pat-secret")
    );
}

#[tokio::test]
async fn non_administrator_is_refused() {
    let fake = FakeJira::start(connection_script(
        Reply::fixture(200, "myself_cloud.json"),
        "mypermissions_user.json",
    ))
    .await;
    let err = check_connection(&client(&fake, None)).await.unwrap_err();
    assert_eq!(err.reason(), "NotAdministrator");
    assert!(err.to_string().contains("Ada Admin"), "{err}");
    assert!(err.to_string().contains("Administer Jira"), "{err}");
}

#[tokio::test]
async fn configured_dialect_must_match_the_server() {
    let fake = FakeJira::start(connection_script(
        Reply::fixture(200, "myself_cloud.json"),
        "mypermissions_admin.json",
    ))
    .await;
    let err = check_connection(&client(&fake, Some(Deployment::DataCenter)))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "DeploymentMismatch");
}

#[tokio::test]
async fn something_that_is_not_jira_is_named_as_such() {
    let fake = FakeJira::start(vec![Exchange::on(
        "GET",
        "/rest/api/2/serverInfo",
        Reply::json(200, "<html><body>Welcome to nginx!</body></html>"),
    )])
    .await;
    let err = check_connection(&client(&fake, None)).await.unwrap_err();
    assert_eq!(err.reason(), "NotJira");
    assert!(err.to_string().contains("nginx"), "{err}");
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = JiraClient::new(config(&format!("http://127.0.0.1:{port}"), None)).unwrap();
    let err = check_connection(&client).await.unwrap_err();
    assert_eq!(err.reason(), "Unreachable", "{err}");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
}

#[tokio::test]
async fn untrusted_certificate_is_a_tls_error_and_ca_file_fixes_it() {
    let cert = TestCert::generate();
    let fake = FakeJira::start_tls(
        connection_script(
            Reply::fixture(200, "myself_cloud.json"),
            "mypermissions_admin.json",
        ),
        &cert,
    )
    .await;
    let err = check_connection(&client(&fake, None)).await.unwrap_err();
    assert_eq!(err.reason(), "TlsError", "{err}");
    assert!(err.to_string().contains("caFile"), "{err}");
    assert!(
        fake.requests().is_empty(),
        "no request may pass an untrusted TLS session"
    );

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert.cert_pem).unwrap();
    let mut trusted = config(&fake.url(), None);
    trusted.ca_file = Some(ca);
    let info = check_connection(&JiraClient::new(trusted).unwrap())
        .await
        .unwrap();
    assert!(info.is_admin);
}

#[tokio::test]
async fn https_against_a_plain_http_port_is_a_tls_error() {
    let fake = FakeJira::start(vec![]).await;
    let url = format!("https://{}", fake.addr);
    let err = JiraClient::new(config(&url, None))
        .unwrap()
        .server_info()
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "TlsError", "{err}");
    assert!(err.to_string().contains("does not speak TLS"), "{err}");
}

#[tokio::test]
async fn a_secret_with_a_line_break_is_refused_before_sending() {
    let fake = FakeJira::start(vec![]).await;
    let mut config = config(&fake.url(), Some(Deployment::Cloud));
    config.auth = Credentials::bearer("token\nwith-newline");
    let err = JiraClient::new(config).unwrap().myself().await.unwrap_err();
    assert_eq!(err.reason(), "InvalidConnection");
    assert!(!err.to_string().contains("with-newline"), "{err}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn unreadable_ca_file_is_a_config_error() {
    let mut config = config("https://jira.example", None);
    config.ca_file = Some("/nonexistent/ca.pem".into());
    let err = JiraClient::new(config).unwrap_err();
    assert_eq!(err.reason(), "InvalidConnection");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

#[tokio::test]
async fn retry_after_seconds_holds_back_every_request_of_the_connection() {
    let fake = FakeJira::start(vec![
        Exchange::once(
            "GET",
            "/rest/api/3/myself",
            Reply::json(429, r#"{"errorMessages":["Rate limit exceeded."]}"#)
                .header("Retry-After", "1"),
        ),
        Exchange::on(
            "GET",
            "/rest/api/3/myself",
            Reply::fixture(200, "myself_cloud.json"),
        ),
        Exchange::on(
            "GET",
            "/rest/api/3/field",
            Reply::fixture(200, "fields.json"),
        ),
    ])
    .await;
    let client = client(&fake, Some(Deployment::Cloud));
    let first = tokio::spawn({
        let client = client.clone();
        async move { client.myself().await }
    });
    // Once the 429 has been answered, a different call on a clone must wait too.
    while fake.requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let fields = client.fields().await.unwrap();
    assert!(!fields.is_empty());
    first.await.unwrap().unwrap();

    let requests = fake.requests();
    let limited_at = requests[0].at;
    assert_eq!(requests[0].path, "/rest/api/3/myself");
    assert_eq!(requests.len(), 3);
    for later in &requests[1..] {
        assert!(
            later.at.duration_since(limited_at) >= Duration::from_secs(1),
            "{} {} arrived {:?} after the 429 with Retry-After: 1",
            later.method,
            later.path,
            later.at.duration_since(limited_at)
        );
    }
}

#[tokio::test]
async fn retry_after_http_date_is_honoured() {
    let until = std::time::SystemTime::now() + Duration::from_secs(2);
    let date = httpdate::fmt_http_date(until);
    // HTTP dates have whole seconds; the retry must not arrive before the date as written.
    let not_before = httpdate::parse_http_date(&date).unwrap();
    let fake = FakeJira::start(vec![
        Exchange::once(
            "GET",
            "/rest/api/3/myself",
            Reply::json(429, "").header("Retry-After", &date),
        ),
        Exchange::on(
            "GET",
            "/rest/api/3/myself",
            Reply::fixture(200, "myself_cloud.json"),
        ),
    ])
    .await;
    client(&fake, Some(Deployment::Cloud))
        .myself()
        .await
        .unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].at_wall >= not_before);
}

#[tokio::test]
async fn long_retry_after_comes_back_as_rate_limited() {
    let fake = FakeJira::start(vec![Exchange::on(
        "GET",
        "/rest/api/3/myself",
        Reply::json(429, "").header("Retry-After", "3600"),
    )])
    .await;
    let client = client(&fake, Some(Deployment::Cloud));
    let err = client.myself().await.unwrap_err();
    assert!(
        matches!(err, JiraError::RateLimited { retry_after: Some(d) } if d >= Duration::from_secs(3599)),
        "{err:?}"
    );
    // The gate stays shut: the next call fails without reaching Jira.
    let again = client.fields().await.unwrap_err();
    assert_eq!(again.reason(), "RateLimited");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_for_reads() {
    let fake = FakeJira::start(vec![
        Exchange::once("GET", "/rest/api/3/field", Reply::json(503, "")),
        Exchange::once(
            "GET",
            "/rest/api/3/field",
            Reply::json(
                500,
                r#"{"errorMessages":["Internal server error"],"errors":{}}"#,
            ),
        ),
        Exchange::on(
            "GET",
            "/rest/api/3/field",
            Reply::fixture(200, "fields.json"),
        ),
    ])
    .await;
    let fields = client(&fake, Some(Deployment::Cloud))
        .fields()
        .await
        .unwrap();
    assert!(fields.iter().any(|f| f.id == "customfield_10016"));
    assert_eq!(fake.requests().len(), 3);
    fake.assert_script_done();
}

#[tokio::test]
async fn server_errors_give_up_after_the_attempt_budget() {
    let fake = FakeJira::start(vec![Exchange::on(
        "GET",
        "/rest/api/3/field",
        Reply::json(502, "<html>Bad gateway</html>"),
    )])
    .await;
    let err = client(&fake, Some(Deployment::Cloud))
        .fields()
        .await
        .unwrap_err();
    assert!(
        matches!(err, JiraError::Server { status: 502, .. }),
        "{err:?}"
    );
    assert_eq!(fake.requests().len(), 4);
}

#[tokio::test]
async fn creates_are_not_retried_blindly() {
    let script = || {
        vec![
            Exchange::once("POST", "/rest/api/3/issue", Reply::json(502, "")),
            Exchange::on(
                "POST",
                "/rest/api/3/issue",
                Reply::value(
                    201,
                    json!({"id": "10042", "key": "DEMO-42", "self": "https://tandem-test.atlassian.net/rest/api/3/issue/10042"}),
                ),
            ),
        ]
    };
    let mut fields = IssueFields::default();
    fields
        .fields
        .insert("summary".into(), json!("Only once, please"));

    let fake = FakeJira::start(script()).await;
    let err = client(&fake, Some(Deployment::Cloud))
        .create_issue(&fields)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert_eq!(fake.requests().len(), 1);

    let fake = FakeJira::start(script()).await;
    let mut opted_in = config(&fake.url(), Some(Deployment::Cloud));
    opted_in.retry.retry_non_idempotent = true;
    let created = JiraClient::new(opted_in)
        .unwrap()
        .create_issue(&fields)
        .await
        .unwrap();
    assert_eq!(created.key, "DEMO-42");
    assert_eq!(fake.requests().len(), 2);
    assert_eq!(
        fake.requests()[1].json()["fields"]["summary"],
        "Only once, please"
    );
}

#[tokio::test]
async fn timeouts_are_retried_for_reads() {
    let fake = FakeJira::start(vec![
        Exchange::once(
            "GET",
            "/rest/api/3/field",
            Reply::fixture(200, "fields.json").after(Duration::from_secs(3)),
        ),
        Exchange::on(
            "GET",
            "/rest/api/3/field",
            Reply::fixture(200, "fields.json"),
        ),
    ])
    .await;
    let mut config = config(&fake.url(), Some(Deployment::Cloud));
    config.timeout = Duration::from_millis(300);
    let fields = JiraClient::new(config).unwrap().fields().await.unwrap();
    assert!(!fields.is_empty());
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn bad_requests_carry_jiras_field_errors() {
    let fake = FakeJira::start(vec![Exchange::on(
        "POST",
        "/rest/api/2/issue",
        Reply::value(
            400,
            json!({"errorMessages": [], "errors": {"customfield_10050": "Option id 'Severe' is not valid", "summary": "You must specify a summary of the issue."}}),
        ),
    )])
    .await;
    let err = client(&fake, Some(Deployment::DataCenter))
        .create_issue(&IssueFields::default())
        .await
        .unwrap_err();
    match &err {
        JiraError::BadRequest { status, errors, .. } => {
            assert_eq!(*status, 400);
            assert_eq!(
                errors.get("summary").map(String::as_str),
                Some("You must specify a summary of the issue.")
            );
        }
        other => panic!("expected BadRequest, got {other:?}"),
    }
    assert!(err
        .to_string()
        .contains("customfield_10050: Option id 'Severe' is not valid"));
}

#[tokio::test]
async fn missing_issue_is_not_found() {
    let fake = FakeJira::start(vec![Exchange::on(
        "GET",
        "/rest/api/3/issue/DEMO-999",
        Reply::value(
            404,
            json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}),
        ),
    )])
    .await;
    let err = client(&fake, Some(Deployment::Cloud))
        .issue("DEMO-999", &["summary"], false)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "NotFound");
    assert!(err.to_string().contains("Issue does not exist"));
}

#[tokio::test]
async fn cloud_search_streams_token_pages_one_at_a_time() {
    let page = |range: std::ops::Range<usize>, next: Option<&str>| {
        let mut body = json!({
            "issues": range.map(issue).collect::<Vec<_>>(),
            "isLast": next.is_none(),
        });
        if let Some(next) = next {
            body["nextPageToken"] = json!(next);
        }
        Reply::value(200, body)
    };
    let fake = FakeJira::start(vec![
        Exchange::once("GET", "/rest/api/3/search/jql", page(0..2, Some("tok-2")))
            .with_query("jql", "project = DEMO ORDER BY key"),
        Exchange::once("GET", "/rest/api/3/search/jql", page(2..4, Some("tok-3")))
            .with_query("nextPageToken", "tok-2"),
        Exchange::once("GET", "/rest/api/3/search/jql", page(4..5, None))
            .with_query("nextPageToken", "tok-3"),
    ])
    .await;
    let client = client(&fake, Some(Deployment::Cloud));
    let mut pager = client
        .search(
            "project = DEMO ORDER BY key",
            &["summary", "customfield_10016"],
        )
        .page_size(2);
    let first = pager.next_page().await.unwrap().unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].key, "DEMO-0");
    assert_eq!(first[0].fields["customfield_10016"], json!(3.0));
    // Page by page: nothing beyond the first page has been asked for yet.
    assert_eq!(fake.requests().len(), 1);
    assert_eq!(pager.cursor(), &SearchCursor::Token("tok-2".into()));
    let first_request = &fake.requests()[0];
    assert_eq!(
        first_request.query_value("fields"),
        Some("summary,customfield_10016")
    );
    assert_eq!(first_request.query_value("maxResults"), Some("2"));

    // Resume from the saved cursor, as a one-time sync does after a crash.
    let resumed = client.search_from(
        "project = DEMO ORDER BY key",
        &["summary"],
        pager.cursor().clone(),
    );
    let keys: Vec<Vec<String>> = resumed
        .into_stream()
        .map(|page| page.unwrap().into_iter().map(|i| i.key).collect())
        .collect()
        .await;
    assert_eq!(keys, vec![vec!["DEMO-2", "DEMO-3"], vec!["DEMO-4"]]);
    fake.assert_script_done();
}

#[tokio::test]
async fn data_center_search_pages_by_offset_until_total() {
    let page = |start: usize, end: usize| {
        Reply::value(
            200,
            json!({
                "expand": "schema,names",
                "startAt": start,
                "maxResults": 2,
                "total": 5,
                "issues": (start..end).map(issue).collect::<Vec<_>>(),
            }),
        )
    };
    let fake = FakeJira::start(vec![
        Exchange::once("GET", "/rest/api/2/search", page(0, 2)).with_query("startAt", "0"),
        Exchange::once("GET", "/rest/api/2/search", page(2, 4)).with_query("startAt", "2"),
        Exchange::once("GET", "/rest/api/2/search", page(4, 5)).with_query("startAt", "4"),
    ])
    .await;
    let client = client(&fake, Some(Deployment::DataCenter));
    let mut stream = Box::pin(
        client
            .search("project = DEMO", &[])
            .page_size(2)
            .into_stream(),
    );
    let mut sizes = Vec::new();
    while let Some(page) = stream.next().await {
        sizes.push(page.unwrap().len());
        // Each page is fetched only when the consumer asks for it.
        assert_eq!(fake.requests().len(), sizes.len());
    }
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(fake.requests()[0].query_value("fields"), Some("*navigable"));
    fake.assert_script_done();
}

#[tokio::test]
async fn search_errors_end_the_stream_and_keep_the_cursor() {
    let fake = FakeJira::start(vec![Exchange::on(
        "GET",
        "/rest/api/2/search",
        Reply::value(
            400,
            json!({"errorMessages": ["Error in the JQL Query: The character '%' is a reserved JQL character."], "errors": {}}),
        ),
    )])
    .await;
    let client = client(&fake, Some(Deployment::DataCenter));
    let mut pager = client.search("summary ~ %", &["summary"]);
    let err = pager.next_page().await.unwrap_err();
    assert!(err.to_string().contains("reserved JQL character"), "{err}");
    assert_eq!(pager.cursor(), &SearchCursor::Start);
    let results: Vec<_> = client
        .search("summary ~ %", &[])
        .into_stream()
        .collect()
        .await;
    assert_eq!(results.len(), 1);
    assert!(results[0].is_err());
}

#[tokio::test]
async fn sprint_moves_are_chunked_by_fifty() {
    let fake = FakeJira::start(vec![
        Exchange::on("POST", "/rest/agile/1.0/sprint/12/issue", Reply::empty(204)),
        Exchange::on("POST", "/rest/agile/1.0/backlog/issue", Reply::empty(204)),
    ])
    .await;
    let client = client(&fake, Some(Deployment::Cloud));
    let keys: Vec<String> = (1..=120).map(|n| format!("DEMO-{n}")).collect();
    client.move_to_sprint(12, &keys).await.unwrap();
    client.move_to_backlog(&keys[..3]).await.unwrap();
    let sizes: Vec<usize> = fake
        .requests_to("POST", "/rest/agile/1.0/sprint/12/issue")
        .iter()
        .map(|r| r.json()["issues"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![50, 50, 20]);
    let backlog = fake.requests_to("POST", "/rest/agile/1.0/backlog/issue");
    assert_eq!(
        backlog[0].json(),
        json!({"issues": ["DEMO-1", "DEMO-2", "DEMO-3"]})
    );
}

#[tokio::test]
async fn board_sprints_follow_agile_pages() {
    let sprint = |id: i64, state: &str| json!({"id": id, "self": format!("https://tandem-test.atlassian.net/rest/agile/1.0/sprint/{id}"), "state": state, "name": format!("DEMO Sprint {id}"), "startDate": "2026-11-16T09:00:00.000Z", "endDate": "2026-11-30T17:00:00.000Z", "originBoardId": 1, "goal": ""});
    let fake = FakeJira::start(vec![
        Exchange::once(
            "GET",
            "/rest/agile/1.0/board/1/sprint",
            Reply::value(200, json!({"maxResults": 2, "startAt": 0, "isLast": false, "values": [sprint(1, "closed"), sprint(2, "active")]})),
        )
        .with_query("startAt", "0"),
        Exchange::once(
            "GET",
            "/rest/agile/1.0/board/1/sprint",
            Reply::value(200, json!({"maxResults": 2, "startAt": 2, "isLast": true, "values": [sprint(3, "future")]})),
        )
        .with_query("startAt", "2"),
    ])
    .await;
    let sprints = client(&fake, Some(Deployment::Cloud))
        .board_sprints(1, None)
        .await
        .unwrap();
    let states: Vec<&str> = sprints.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, vec!["closed", "active", "future"]);
    fake.assert_script_done();
}

#[tokio::test]
async fn dialects_pick_their_rest_version() {
    let transitions = json!({"expand": "transitions", "transitions": [
        {"id": "21", "name": "Start progress", "to": {"id": "3", "name": "In Progress", "statusCategory": {"id": 4, "key": "indeterminate", "name": "In Progress"}}, "hasScreen": false, "isGlobal": false, "isInitial": false, "isConditional": false, "fields": {}},
        {"id": "31", "name": "Done", "to": {"id": "10001", "name": "Done"}, "hasScreen": true, "fields": {"resolution": {"required": true, "schema": {"type": "resolution", "system": "resolution"}, "name": "Resolution", "operations": ["set"], "allowedValues": [{"id": "10000", "name": "Done"}]}}}
    ]});
    let fake = FakeJira::start(vec![
        Exchange::on("GET", "/rest/api/2/issue/DEMO-1/transitions", Reply::value(200, transitions.clone()))
            .with_query("expand", "transitions.fields"),
        Exchange::on("GET", "/rest/api/3/issue/DEMO-1/transitions", Reply::value(200, transitions)),
        Exchange::on("POST", "/rest/api/3/issue/DEMO-1/transitions", Reply::empty(204)),
        Exchange::on(
            "POST",
            "/rest/api/3/issue/DEMO-1/comment",
            Reply::value(201, json!({"id": "10100", "body": {"type": "doc", "version": 1, "content": []}, "created": "2026-11-27T05:00:00.000+0000"})),
        ),
    ])
    .await;
    let dc = client(&fake, Some(Deployment::DataCenter));
    let found = dc.transitions("DEMO-1").await.unwrap();
    assert!(found[1].fields["resolution"].required);

    let cloud = client(&fake, Some(Deployment::Cloud));
    assert_eq!(cloud.transitions("DEMO-1").await.unwrap().len(), 2);
    let mut fields = serde_json::Map::new();
    fields.insert("resolution".into(), json!({"name": "Done"}));
    cloud
        .transition_issue("DEMO-1", "31", fields)
        .await
        .unwrap();
    let posted = fake.requests_to("POST", "/rest/api/3/issue/DEMO-1/transitions");
    assert_eq!(
        posted[0].json(),
        json!({"transition": {"id": "31"}, "fields": {"resolution": {"name": "Done"}}})
    );
    // Data Center (and Jira's XSRF check) need this header on writes.
    assert_eq!(posted[0].headers["x-atlassian-token"], "no-check");

    cloud
        .add_comment("DEMO-1", Deployment::Cloud.rich_text("Shipped.\n\nThanks!"))
        .await
        .unwrap();
    let comment = &fake.requests_to("POST", "/rest/api/3/issue/DEMO-1/comment")[0];
    assert_eq!(comment.json()["body"]["type"], "doc");
    assert_eq!(
        comment.json()["body"]["content"].as_array().unwrap().len(),
        2
    );
}

#[tokio::test]
async fn admin_webhooks_are_listed_with_their_ids() {
    let fake = FakeJira::start(vec![
        Exchange::on(
            "GET",
            "/rest/webhooks/1.0/webhook",
            Reply::value(
                200,
                json!([{
                    "name": "tandem acme-cloud",
                    "url": "https://tandem.example/webhooks/jira/ws-1",
                    "excludeBody": false,
                    "filters": {"issue-related-events-section": "project = DEMO"},
                    "events": ["jira:issue_created", "jira:issue_updated"],
                    "enabled": true,
                    "self": "https://tandem-test.atlassian.net/rest/webhooks/1.0/webhook/3",
                    "lastUpdatedUser": "712020:5b1f0a3c",
                    "lastUpdatedDisplayName": "Ada Admin",
                    "lastUpdated": 1764219662114u64
                }]),
            ),
        ),
        Exchange::on("DELETE", "/rest/webhooks/1.0/webhook/3", Reply::empty(204)),
        Exchange::on("DELETE", "/rest/webhooks/1.0/webhook/4", Reply::empty(404)),
    ])
    .await;
    let client = client(&fake, Some(Deployment::Cloud));
    let hooks = client.webhooks().await.unwrap();
    assert_eq!(hooks[0].id().as_deref(), Some("3"));
    client.delete_webhook("3").await.unwrap();
    // Already gone counts as removed, so disconnect can be repeated.
    client.delete_webhook("4").await.unwrap();
}

/// Jira Cloud's `RateLimit-Reason` says what a 429 holds back: `jira-per-issue-on-write` only
/// writes to that issue, `jira-burst-based` only that endpoint and method. Other requests go
/// on at once; the limited one waits its `Retry-After` (before, every 429 stopped the whole
/// connection).
#[tokio::test]
async fn a_per_issue_write_limit_holds_back_only_that_issue() {
    let fake = FakeJira::start(vec![
        Exchange::once(
            "PUT",
            "/rest/api/3/issue/DEMO-1",
            Reply::json(429, r#"{"errorMessages":["Rate limit exceeded."]}"#)
                .header("Retry-After", "2")
                .header("RateLimit-Reason", "jira-per-issue-on-write"),
        ),
        Exchange::on("PUT", "/rest/api/3/issue/DEMO-1", Reply::empty(204)),
        Exchange::on("PUT", "/rest/api/3/issue/DEMO-2", Reply::empty(204)),
        Exchange::on(
            "GET",
            "/rest/api/3/myself",
            Reply::fixture(200, "myself_cloud.json"),
        ),
    ])
    .await;
    let client = client(&fake, Some(Deployment::Cloud));
    let edit = IssueFields::new().set("summary", json!("renamed"));
    let first = tokio::spawn({
        let client = client.clone();
        let edit = edit.clone();
        async move { client.edit_issue("DEMO-1", &edit).await }
    });
    while fake.requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.edit_issue("DEMO-2", &edit).await.unwrap();
    client.myself().await.unwrap();
    first.await.unwrap().unwrap();

    let requests = fake.requests();
    let limited_at = requests[0].at;
    for r in &requests[1..] {
        let after = r.at.duration_since(limited_at);
        if r.path.ends_with("DEMO-1") {
            assert!(
                after >= Duration::from_secs(2),
                "the limited issue waited: {after:?}"
            );
        } else {
            assert!(
                after < Duration::from_secs(1),
                "{} {} waited {after:?}",
                r.method,
                r.path
            );
        }
    }
    assert_eq!(requests.len(), 4);
}

#[tokio::test]
async fn a_burst_limit_holds_back_only_that_endpoint() {
    let fake = FakeJira::start(vec![
        Exchange::once(
            "GET",
            "/rest/api/3/myself",
            Reply::json(429, r#"{"errorMessages":["Rate limit exceeded."]}"#)
                .header("Retry-After", "2")
                .header("RateLimit-Reason", "jira-burst-based"),
        ),
        Exchange::on(
            "GET",
            "/rest/api/3/myself",
            Reply::fixture(200, "myself_cloud.json"),
        ),
        Exchange::on(
            "GET",
            "/rest/api/3/field",
            Reply::fixture(200, "fields.json"),
        ),
    ])
    .await;
    let client = client(&fake, Some(Deployment::Cloud));
    let first = tokio::spawn({
        let client = client.clone();
        async move { client.myself().await }
    });
    while fake.requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!client.fields().await.unwrap().is_empty());
    first.await.unwrap().unwrap();
    let requests = fake.requests();
    let limited_at = requests[0].at;
    let fields = requests
        .iter()
        .find(|r| r.path.ends_with("/field"))
        .unwrap();
    assert!(fields.at.duration_since(limited_at) < Duration::from_secs(1));
    let retry = requests
        .iter()
        .skip(1)
        .find(|r| r.path.ends_with("/myself"))
        .unwrap();
    assert!(retry.at.duration_since(limited_at) >= Duration::from_secs(2));
}
