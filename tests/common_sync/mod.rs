//! Shared set-up of the one-time sync tests: the manifests, the simulator with generated
//! issues, a Jira client with short retries, and the integration as a job sees it.
#![allow(dead_code)]

use std::time::Duration;

use tandem::jira::{
    check_integration, Credentials, Deployment, JiraClient, JiraConfig, RetryPolicy,
};
use tandem::manifest::model::Model;
use tandem::manifest::{validate, SourceFile};
use tandem::reconcile::spec::integration_spec;
use tandem::sim::{self, SimConfig, SimHandle, Simulator};
use tandem::sync::context::{fetch_catalog, IntegrationRun};
use tandem::sync::MappingContext;

pub const MANIFESTS: &str = r#"
apiVersion: tandem/v1
kind: Workspace
metadata: {name: product}
spec:
  id: product
  itemTypes:
    - name: Epic
    - {name: Story, parent: Epic}
    - {name: Chore, parent: Epic}
    - {name: Subtask, parent: Story}
  statuses: [Backlog, Doing, Done]
---
apiVersion: tandem/v1
kind: Connection
metadata: {name: jira}
spec:
  displayName: Jira
  url: https://jira.example.com
  auth: {email: admin@example.com, apiToken: {env: TOKEN}}
---
apiVersion: tandem/v1
kind: ProjectIntegration
metadata: {name: demo}
spec:
  displayName: Demo
  connection: jira
  workspace: product
  project: DEMO
  board: 1
  direction: twoWay
  types:
    - {workspace: Epic, jira: Epic}
    - {workspace: Story, jira: Story}
    - {workspace: Chore, ignore: true}
    - {workspace: Subtask, jira: Sub-task}
  secondaryTypes:
    - {jira: Bug, workspace: Story}
  statuses:
    - {workspace: Backlog, jira: To Do}
    - {workspace: Doing, jira: In Progress}
    - {workspace: Done, jira: Done}
  conflicts: lastWriterWins
  resync: 10m
"#;

pub fn model() -> Model {
    let files = [SourceFile {
        path: "manifests.yaml".into(),
        text: MANIFESTS.into(),
    }];
    let v = validate(&files);
    let errors: Vec<String> = v.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(v.model.integrations.contains_key("demo"), "{errors:#?}");
    v.model
}

pub async fn start(deployment: Deployment, issues: usize) -> SimHandle {
    let d = match deployment {
        Deployment::Cloud => sim::Deployment::Cloud,
        Deployment::DataCenter => sim::Deployment::DataCenter,
    };
    let sim = Simulator::start(SimConfig::new(d))
        .await
        .expect("simulator");
    if issues > 0 {
        sim.generate_issues(issues, 7);
    }
    sim
}

pub fn client(sim: &SimHandle, deployment: Deployment) -> JiraClient {
    JiraClient::new(client_config(sim, deployment)).expect("client")
}

/// The settings of [`client`], to change before building one.
pub fn client_config(sim: &SimHandle, deployment: Deployment) -> JiraConfig {
    let auth = match deployment {
        Deployment::Cloud => Credentials::basic("admin@example.com", "admin-token"),
        Deployment::DataCenter => Credentials::basic("admin", "admin"),
    };
    let mut config = JiraConfig::new(sim.base_url(), auth);
    config.deployment = Some(deployment);
    config.retry = RetryPolicy {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        ..RetryPolicy::default()
    };
    config
}

/// The integration as a job sees it: manifests, the online check's result and the catalog.
pub async fn integration_run(
    model: &Model,
    client: JiraClient,
    deployment: Deployment,
) -> IntegrationRun {
    let pi = model.integrations["demo"].clone();
    let ws = model.workspaces["product"].clone();
    let report = check_integration(&client, &integration_spec(&pi, &ws, None))
        .await
        .expect("check runs");
    assert!(report.is_ok(), "{deployment}: {:#?}", report.failures);
    let catalog = fetch_catalog(&client, &pi).await.expect("catalog");
    let ctx = MappingContext::new(&pi, &ws, None, &report.resolved, deployment, catalog);
    IntegrationRun {
        integration: pi,
        workspace: ws,
        client,
        ctx,
    }
}
