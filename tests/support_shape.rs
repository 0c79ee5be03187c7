//! Self-test of the JSON shape comparison (tests/support/shape.rs).

mod support;

use serde_json::json;
use support::shape::{compare, key_paths, Exception};

#[test]
fn key_paths_collapse_arrays_and_keep_intermediate_objects() {
    let v = json!({
        "issue": {"key": "DEMO-1", "fields": {"labels": ["a"], "status": null, "empty": {}}},
        "changelog": {"items": [{"field": "status"}, {"field": "x", "toString": "Done"}]},
        "list": []
    });
    let got: Vec<String> = key_paths(&v).into_iter().collect();
    assert_eq!(
        got,
        vec![
            "changelog",
            "changelog.items",
            "changelog.items[].field",
            "changelog.items[].toString",
            "issue",
            "issue.fields",
            "issue.fields.empty",
            "issue.fields.labels",
            "issue.fields.status",
            "issue.key",
            "list",
        ]
    );
}

#[test]
fn missing_keys_fail_extras_inform_and_exceptions_cover_subtrees() {
    let real = json!({"timestamp": 1, "issue": {"fields": {"customfield_10020": {"id": 1}, "summary": "s"}}, "user": {"accountId": "x"}});
    let ours = json!({"timestamp": 2, "issue": {"fields": {"summary": "t", "customfield_10016": 3}}, "extra": true});
    let exceptions = [Exception {
        path: "issue.fields.customfield_*",
        reason: "custom field ids differ per site",
    }];
    let diff = compare(&real, &ours, &exceptions);
    assert_eq!(diff.missing, vec!["user", "user.accountId"]);
    assert_eq!(diff.extra, vec!["extra"]);
    let excepted: Vec<&str> = diff.excepted.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        excepted,
        vec![
            "issue.fields.customfield_10020",
            "issue.fields.customfield_10020.id",
            "issue.fields.customfield_10016"
        ]
    );
    assert!(!diff.is_ok());
    assert!(diff.to_string().contains("missing in ours: user.accountId"));
}

#[test]
fn a_real_capture_matches_itself_and_a_trimmed_copy_does_not() {
    let Some(shared) = support::shared_dir("support_shape") else {
        return;
    };
    let real = support::reference_json(
        &shared,
        "jira-webhooks/luisfernandezbr__jira_issue_updated.json",
    );
    assert!(compare(&real, &real, &[]).is_ok());
    let mut ours = real.clone();
    let removed = ours["issue"]["fields"]
        .as_object_mut()
        .and_then(|f| f.remove("status"))
        .is_some();
    assert!(removed, "capture has issue.fields.status");
    let diff = compare(&real, &ours, &[]);
    assert!(diff.missing.contains(&"issue.fields.status".to_string()));
    assert!(diff
        .missing
        .contains(&"issue.fields.status.statusCategory.key".to_string()));
    assert!(diff.extra.is_empty());
}
