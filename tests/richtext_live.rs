//! Rich text end to end, through the real `tandem run` binary and the simulator (issue 13):
//! a Jira description holding an image, a table and a mention comes to the item; a title edit
//! leaves Jira's document untouched; a paragraph appended in the workspace reaches Jira with
//! the image, table and mention exactly as they were. On Cloud (ADF, which the simulator
//! validates against the schema's rules) and on Data Center (wiki markup).

mod common_daemon;
mod common_live;

use common_live::*;
use serde_json::{json, Value};
use tandem::sim::Deployment;

const APPENDED: &str = "Appended in the workspace.";

fn rich_doc() -> Value {
    json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [
            {"type": "text", "text": "Hi "},
            {"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d4ef5", "text": "@Alice", "accessLevel": ""}},
            {"type": "text", "text": ", see the mock-up:"}
        ]},
        {"type": "mediaSingle", "attrs": {"layout": "align-start", "width": 133, "widthType": "pixel"}, "content": [
            {"type": "media", "attrs": {"type": "file", "id": "483fce9e-34dc-4221-b041-f7839bbeefc3", "collection": "", "alt": "mock.png", "width": 133, "height": 65}}
        ]},
        {"type": "table", "attrs": {"isNumberColumnEnabled": false, "layout": "default", "localId": "t1"}, "content": [
            {"type": "tableRow", "content": [
                {"type": "tableHeader", "attrs": {}, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Step", "marks": [{"type": "strong"}]}]}]},
                {"type": "tableHeader", "attrs": {}, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Result", "marks": [{"type": "strong"}]}]}]}
            ]},
            {"type": "tableRow", "content": [
                {"type": "tableCell", "attrs": {}, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Open"}]}]},
                {"type": "tableCell", "attrs": {}, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "It opens"}]}]}
            ]}
        ]}
    ]})
}

const RICH_WIKI: &str = "Hi [~alice], see the mock-up:\n\n!mock.png|thumbnail!\n\n||Step||Result||\n|Open|It opens|\n\n{panel:title=Note}\nShips behind a flag.\n{panel}";

async fn set_description(e: &Env, key: &str, cloud: bool) {
    let (path, value) = if cloud {
        (format!("/rest/api/3/issue/{key}"), rich_doc())
    } else {
        (format!("/rest/api/2/issue/{key}"), json!(RICH_WIKI))
    };
    let resp = e
        .jira(reqwest::Method::PUT, &path)
        .json(&json!({"fields": {"description": value}}))
        .send()
        .await
        .expect("PUT issue");
    assert!(resp.status().is_success(), "{}", resp.status());
}

async fn description(e: &Env, key: &str, cloud: bool) -> Value {
    let path = if cloud {
        format!("/rest/api/3/issue/{key}")
    } else {
        format!("/rest/api/2/issue/{key}")
    };
    e.jira_get(&path).await["fields"]["description"].clone()
}

async fn rich_text_survives(deployment: Deployment) {
    let cloud = deployment == Deployment::Cloud;
    let e = Env::start(deployment, "jiraWins").await;
    let item = e
        .create_item(json!({"type": "Story", "title": "Rich", "description": "Draft"}))
        .await;
    let key = e.linked_key(&item).await;
    e.quiesce().await;

    // A person writes a rich description in Jira; it reaches the item, readable, whole.
    set_description(&e, &key, cloud).await;
    let marker = if cloud { "```jira-adf" } else { "mock-up" };
    let pulled = e
        .wait_item(&item, "the rich description reached the item", |i| {
            i["description"]
                .as_str()
                .is_some_and(|d| d.contains(marker))
        })
        .await;
    let text = pulled["description"].as_str().unwrap().to_owned();
    assert!(
        text.contains("@Alice") || text.contains("[~alice]"),
        "{text}"
    );
    e.quiesce().await;
    let original = description(&e, &key, cloud).await;

    // An unrelated edit: Jira's document stays as it was.
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{item}"),
        Some(json!({"title": "Rich, renamed"})),
    )
    .await;
    e.wait_issue(&key, "the title edit reached Jira", |i| {
        i["fields"]["summary"] == "Rich, renamed"
    })
    .await;
    e.quiesce().await;
    assert_eq!(description(&e, &key, cloud).await, original);

    // A paragraph appended in the workspace: Jira gets it, and everything else untouched.
    e.ws(
        reqwest::Method::PATCH,
        &format!("/items/{item}"),
        Some(json!({"description": format!("{text}\n\n{APPENDED}")})),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let now = description(&e, &key, cloud).await;
        if now.to_string().contains(APPENDED) {
            if cloud {
                let before = original["content"].as_array().unwrap();
                let after = now["content"].as_array().unwrap();
                assert_eq!(after.len(), before.len() + 1, "{now:#}");
                assert_eq!(&after[..before.len()], before.as_slice());
                assert_eq!(
                    after[before.len()],
                    json!({"type": "paragraph", "content": [{"type": "text", "text": APPENDED}]})
                );
                assert_eq!(now, json!({"type": "doc", "version": 1, "content": after}));
            } else {
                assert_eq!(now, json!(format!("{RICH_WIKI}\n\n{APPENDED}")));
            }
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the appended paragraph never reached Jira: {now:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    e.quiesce().await;
    // And it stays so: no echo rewrites it.
    let settled = description(&e, &key, cloud).await;
    assert!(settled.to_string().contains(APPENDED));
    assert_eq!(
        e.item(&item).await["description"],
        json!(format!("{text}\n\n{APPENDED}"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_rich_description_survives_workspace_edits() {
    rich_text_survives(Deployment::Cloud).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_center_rich_description_survives_workspace_edits() {
    rich_text_survives(Deployment::DataCenter).await;
}

/// A workspace comment written as bold inline code reaches Cloud as valid ADF (the simulator
/// refuses invalid ADF with Cloud's 400, which would leave the comment unsynced).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_comment_with_bold_inline_code_is_accepted() {
    let e = Env::start(Deployment::Cloud, "jiraWins").await;
    let item = e
        .create_item(json!({"type": "Story", "title": "Commented"}))
        .await;
    let key = e.linked_key(&item).await;
    e.ws(
        reqwest::Method::POST,
        &format!("/items/{item}/comments"),
        Some(json!({"body": "Run **`make test`** first"})),
    )
    .await;
    let issue = e
        .wait_issue(&key, "the comment reached Jira", |i| {
            i["fields"]["comment"]["comments"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        })
        .await;
    let v3 = e.jira_get(&format!("/rest/api/3/issue/{key}")).await;
    let body = &v3["fields"]["comment"]["comments"][0]["body"];
    assert_eq!(
        body["content"][0]["content"][1],
        json!({"type": "text", "text": "make test", "marks": [{"type": "code"}]}),
        "{issue:#}"
    );
}
