//! The Jira simulator (`tandem jira-sim`): a stateful fake of Jira Cloud and Data Center.
//!
//! Responsible for behaving like a real Jira towards tandem and third-party clients: REST v2/v3
//! and Agile 1.0 response shapes, authentication, the workflow, JQL search with each dialect's
//! paging, webhooks, and the faults a real instance shows (rate limits, latency, 5xx, lost
//! responses, webhook drops and duplicates). It runs in-process for tests (`Simulator::start` on
//! port 0, with a handle to seed and inspect state) and as `tandem jira-sim`.
//!
//! Faults have two doors and one implementation (`faults`): the handle's setters and the
//! simulator's own control surface `/_sim/faults` (`control`, administrators only, outside Jira's
//! REST namespace and outside the fault layer), which `tandem jira-sim` flags also preset.
//!
//! Architecture invariant: all state sits behind one `RwLock` and no handler awaits while holding
//! it, so requests are cheap and a test never sees a half-applied write. Webhook delivery never
//! runs on the request path.

pub mod adf;
mod agile;
mod agile_board;
mod api;
pub mod catalogue;
mod control;
mod events;
pub mod faults;
pub mod jql;
pub mod model;
mod moves;
mod render;
mod server;
pub mod webhooks;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::{FaultError, FaultSettings, LostAnswer, LostResponses};
pub use model::{Deployment, State, Workflow};
pub use server::Counts;

/// A user given on the command line (`--user NAME:SECRET[:admin]`, `--pat NAME:TOKEN`) or by
/// a test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUser {
    /// E-mail on Cloud, username on Data Center.
    pub login: String,
    /// API token on Cloud; password on Data Center.
    pub secret: String,
    /// Data Center: a personal access token (`Authorization: Bearer`); `None`: the user has
    /// none, as until they create one in their profile. Ignored on Cloud.
    pub pat: Option<String>,
    pub admin: bool,
}

impl SimUser {
    /// A user whose Data Center personal access token is its password too, so a test signs in
    /// either way with one secret.
    pub fn new(login: &str, secret: &str, admin: bool) -> SimUser {
        SimUser {
            login: login.into(),
            secret: secret.into(),
            pat: Some(secret.into()),
            admin,
        }
    }

    /// Parses `--pat NAME:TOKEN` into (login, token).
    pub fn parse_pat(s: &str) -> Result<(String, String), SimError> {
        match s.split_once(':') {
            Some((login, token)) if !login.is_empty() && !token.is_empty() => {
                Ok((login.into(), token.into()))
            }
            _ => Err(SimError::BadPat(s.to_string())),
        }
    }

    /// Parses `NAME:SECRET` or `NAME:SECRET:admin`.
    pub fn parse(s: &str) -> Result<SimUser, SimError> {
        let bad = || SimError::BadUser(s.to_string());
        let (login, rest) = s.split_once(':').ok_or_else(bad)?;
        let (secret, admin) = match rest.rsplit_once(':') {
            Some((secret, "admin")) => (secret, true),
            _ => (rest, false),
        };
        if login.is_empty() || secret.is_empty() {
            return Err(bad());
        }
        Ok(SimUser {
            login: login.into(),
            secret: secret.into(),
            pat: None,
            admin,
        })
    }
}

/// A webhook given on the command line (`--webhook URL[#SECRET]`): all events, no filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimWebhook {
    pub url: String,
    pub secret: Option<String>,
}

impl SimWebhook {
    pub fn parse(s: &str) -> Result<SimWebhook, SimError> {
        let (url, secret) = match s.split_once('#') {
            Some((u, sec)) => (u, Some(sec.to_string()).filter(|x| !x.is_empty())),
            None => (s, None),
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(SimError::BadWebhook(s.to_string()));
        }
        Ok(SimWebhook {
            url: url.into(),
            secret,
        })
    }
}

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    pub deployment: Deployment,
    /// Added to (or replacing, by login) the default users of DESIGN.md §8.
    pub users: Vec<SimUser>,
    pub webhooks: Vec<SimWebhook>,
    /// Loaded at start when it exists, written on changes and at shutdown.
    pub data_file: Option<PathBuf>,
    /// A state file (same format as `data_file`) to start from, never written.
    pub seed_file: Option<PathBuf>,
    /// Realistic issues to generate at start (benchmarks); ignored when state comes from a file.
    pub generate: usize,
    /// Seed of the generator, so generated data is reproducible.
    pub seed: u64,
    /// Webhook delivery tuning (queue, retries, backoff, timeouts).
    pub dispatcher: webhooks::DispatcherConfig,
    /// Faults in force from the start, webhook faults and the fault seed included (a `None`
    /// seed is [`faults::DEFAULT_SEED`]); checked by [`Simulator::start`].
    pub faults: FaultSettings,
}

impl SimConfig {
    pub fn new(deployment: Deployment) -> SimConfig {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            deployment,
            users: Vec::new(),
            webhooks: Vec::new(),
            data_file: None,
            seed_file: None,
            generate: 0,
            seed: 1,
            dispatcher: webhooks::DispatcherConfig::default(),
            faults: FaultSettings::default(),
        }
    }
}

#[derive(Debug, Error)]
pub enum SimError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read simulator data file {path}")]
    ReadData {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("simulator data file {path} is not valid")]
    ParseData {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write simulator data file {path}")]
    WriteData {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("simulator data file {path} holds a {found:?} instance, not {wanted:?}")]
    WrongDeployment {
        path: PathBuf,
        found: Deployment,
        wanted: Deployment,
    },
    #[error("invalid --user {0:?}: expected NAME:SECRET or NAME:SECRET:admin")]
    BadUser(String),
    #[error("invalid --pat {0:?}: expected NAME:TOKEN")]
    BadPat(String),
    #[error("invalid --webhook {0:?}: expected an http(s) URL, optionally followed by #SECRET")]
    BadWebhook(String),
    #[error("invalid simulator fault {0}")]
    BadFault(#[from] FaultError),
    /// A seeding call the simulated Jira refused, with Jira's status and error body.
    #[error("the simulated Jira answered {status}: {body}")]
    Rejected { status: u16, body: String },
    /// A catalogue addition the simulated Jira refused (a taken name, an unknown field type).
    #[error("the simulated Jira refused it: {0}")]
    Refused(#[from] catalogue::Refused),
}

/// A rate limit: a token bucket refilled at `per_second`, holding at most `burst` tokens
/// (`{"perSecond": 10, "burst": 20}` in `/_sim/faults`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// A webhook event the simulator fired (whether or not any webhook matched it).
#[derive(Debug, Clone)]
pub struct FiredEvent {
    pub event: String,
    pub body: Value,
}

/// Most requests the request log keeps; older ones are dropped first.
pub const REQUEST_LOG_CAPACITY: usize = 10_000;

/// One request as the simulator saw and answered it (see [`SimHandle::request_log`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// When the request reached the simulator (before any fault or latency).
    pub received: Instant,
    pub method: String,
    pub path: String,
    /// The status it was answered with; 0 when the connection was closed without an answer
    /// (the lost-response fault with `"drop"`).
    pub status: u16,
    /// The `Retry-After` it was answered with (429s and faults that set one), in seconds.
    pub retry_after: Option<Duration>,
}

/// Sorted result ids of one query and the state generation they were computed for.
type CachedSearch = (u64, Arc<Vec<u64>>);

/// Issues rendered with all fields and no expansion, as JSON bytes, keyed by (id, REST v3).
#[derive(Default)]
struct RenderCache {
    generation: u64,
    map: HashMap<(u64, bool), Arc<Vec<u8>>>,
}

/// State shared by the server, the handle and background tasks.
pub(crate) struct Shared {
    state: RwLock<State>,
    base_url: String,
    faults: Mutex<faults::FaultState>,
    counts: Mutex<Counts>,
    total_requests: AtomicU64,
    /// Sorted issue ids per query, valid for one state generation: paging through a large result
    /// must not re-evaluate the query for every page.
    search_cache: Mutex<HashMap<String, CachedSearch>>,
    /// Serialized full issues for one state generation (see `api::render_cache::full_issues_json`).
    render_cache: Mutex<RenderCache>,
    events: Mutex<Vec<FiredEvent>>,
    /// The last [`REQUEST_LOG_CAPACITY`] requests, oldest first.
    request_log: Mutex<std::collections::VecDeque<RequestRecord>>,
    hooks: webhooks::WebhookDispatcher,
    dirty: AtomicBool,
    data_file: Option<PathBuf>,
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.dirty.store(true, Ordering::Relaxed);
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an event and hands it to webhook delivery; returns at once. `issue` is what
    /// webhook JQL filters are evaluated against.
    fn fire(&self, event: &str, body: Value, issue: Option<&dyn jql::JqlIssue>) {
        if let Ok(mut ev) = self.events.lock() {
            ev.push(FiredEvent {
                event: event.to_string(),
                body: body.clone(),
            });
        }
        self.hooks.fire(event, body, issue);
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, faults::FaultState> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The one way faults change (handle setters, `/_sim/faults`, start-up flags): `change` edits
    /// the settings in force (with `seed: None`, so the random streams go on unless it sets
    /// one); request faults take effect for the next request, webhook faults for the next
    /// delivery. Returns the settings now in force.
    fn update_faults(&self, change: impl FnOnce(&mut FaultSettings)) -> FaultSettings {
        self.update_faults_and(change, |_| ())
    }

    /// [`Self::update_faults`], then `after` on the new state under the same lock.
    fn update_faults_and(
        &self,
        change: impl FnOnce(&mut FaultSettings),
        after: impl FnOnce(&mut faults::FaultState),
    ) -> FaultSettings {
        let mut state = self.faults();
        let mut next = FaultSettings {
            seed: None,
            ..state.settings().clone()
        };
        change(&mut next);
        let reseed = next.seed;
        state.apply(next);
        after(&mut state);
        self.hooks
            .set_delivery_faults(state.settings().webhooks.clone());
        if let Some(seed) = reseed {
            self.hooks.reseed(seed);
        }
        state.settings().clone()
    }

    /// Replaces every fault after checking it (`PUT /_sim/faults`, [`SimHandle::set_faults`]).
    fn set_faults(&self, new: FaultSettings) -> Result<FaultSettings, FaultError> {
        new.validate()?;
        Ok(self.update_faults(|s| *s = new))
    }

    /// Switches every fault off and restarts the random streams from the seed in force.
    fn reset_faults(&self) -> FaultSettings {
        let seed = self.faults().settings().seed;
        self.update_faults(|s| {
            *s = FaultSettings {
                seed,
                ..FaultSettings::default()
            }
        })
    }

    fn save(&self) -> Result<(), SimError> {
        let Some(path) = &self.data_file else {
            return Ok(());
        };
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let bytes = {
            let st = self.read();
            serde_json::to_vec(&*st).map_err(|e| SimError::WriteData {
                path: path.clone(),
                source: std::io::Error::other(e),
            })?
        };
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|source| SimError::WriteData {
                path: path.clone(),
                source,
            })
    }
}

/// Entry point for starting simulators.
pub struct Simulator;

impl Simulator {
    /// Binds, loads or seeds state, and serves in the background until the handle shuts down.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        config.faults.validate()?;
        let listener = server::bind(config.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
        let base_url = format!("http://{addr}");
        let now = chrono::Utc::now();

        let from_file = match (&config.data_file, &config.seed_file) {
            (Some(p), _) if p.exists() => Some(load_state(p, config.deployment)?),
            (_, Some(p)) => Some(load_state(p, config.deployment)?),
            _ => None,
        };
        let loaded = from_file.is_some();
        let mut state = from_file.unwrap_or_else(|| State::seed(config.deployment, now));
        for u in &config.users {
            model::add_user(&mut state, &u.login, &u.secret, u.pat.as_deref(), u.admin);
        }
        state.reindex();
        // A data file already holds what an earlier run generated.
        if config.generate > 0 && !loaded {
            state.generate(config.generate, config.seed, now);
        }

        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            base_url,
            faults: Mutex::new(faults::FaultState::new()),
            counts: Mutex::new(HashMap::new()),
            total_requests: AtomicU64::new(0),
            search_cache: Mutex::new(HashMap::new()),
            render_cache: Mutex::new(RenderCache::default()),
            events: Mutex::new(Vec::new()),
            request_log: Mutex::new(std::collections::VecDeque::new()),
            hooks: webhooks::WebhookDispatcher::new(config.dispatcher.clone()),
            dirty: AtomicBool::new(config.data_file.is_some()),
            data_file: config.data_file.clone(),
        });
        shared.set_faults(FaultSettings {
            seed: Some(config.faults.seed.unwrap_or(faults::DEFAULT_SEED)),
            ..config.faults.clone()
        })?;
        for hook in &config.webhooks {
            api::register_cli_webhook(&shared, hook);
        }
        let (tx, rx) = watch::channel(false);
        let server = tokio::spawn(server::serve(listener, shared.clone(), rx.clone()));
        let flusher = shared.data_file.as_ref().map(|_| {
            let shared = shared.clone();
            let mut rx = rx.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {
                            if let Err(e) = shared.save() {
                                tracing::warn!(error = %e, "simulator could not save its data file");
                            }
                        }
                        _ = rx.changed() => break,
                    }
                }
            })
        });
        Ok(SimHandle {
            shared,
            addr,
            shutdown: tx,
            server,
            flusher,
        })
    }
}

fn load_state(path: &Path, wanted: Deployment) -> Result<State, SimError> {
    let bytes = std::fs::read(path).map_err(|source| SimError::ReadData {
        path: path.into(),
        source,
    })?;
    let state: State = serde_json::from_slice(&bytes).map_err(|source| SimError::ParseData {
        path: path.into(),
        source,
    })?;
    if state.deployment != wanted {
        return Err(SimError::WrongDeployment {
            path: path.into(),
            found: state.deployment,
            wanted,
        });
    }
    Ok(state)
}

/// A running simulator: its address, and the levers tests pull to seed, inspect and misbehave.
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
    flusher: Option<JoinHandle<()>>,
}

/// The id and key of an issue the handle created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRef {
    pub id: String,
    pub key: String,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn deployment(&self) -> Deployment {
        self.shared.read().deployment
    }

    /// Stops accepting, closes connections, and writes the data file when there is one.
    pub async fn shutdown(self) -> Result<(), SimError> {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        if let Some(f) = self.flusher {
            let _ = f.await;
        }
        self.shared.save()
    }

    /// Creates an issue as the administrator, exactly as `POST /rest/api/2/issue` with
    /// `{"fields": fields}` would (webhooks fire too). Fields use REST v2 forms.
    pub fn create_issue(&self, fields: Value) -> Result<IssueRef, SimError> {
        let body = serde_json::json!({ "fields": fields });
        let created = api::create_issue_as_admin(&self.shared, &body).map_err(rejected)?;
        Ok(IssueRef {
            id: created["id"].as_str().unwrap_or_default().to_string(),
            key: created["key"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// Edits an issue as the administrator, as `PUT /rest/api/2/issue/{key}` with this body
    /// (`{"fields": {...}}` and/or `{"update": {...}}`) would.
    pub fn edit_issue(&self, key: &str, body: Value) -> Result<(), SimError> {
        api::edit_issue_as_admin(&self.shared, key, &body).map_err(rejected)
    }

    /// Moves an issue to the status named `status`, as an administrator using the workflow
    /// transition to it (a resolution is supplied when the transition needs one).
    pub fn transition_issue(&self, key: &str, status: &str) -> Result<(), SimError> {
        api::transition_as_admin(&self.shared, key, status).map_err(rejected)
    }

    /// Adds a project (no board, no versions), as an administrator would in Jira's UI.
    pub fn create_project(&self, key: &str, name: &str) -> Result<(), SimError> {
        moves::create_project(&self.shared, key, name, false).map_err(rejected)
    }

    /// Adds a team-managed (next-gen) Cloud project: issue types of its own, the sub-task type
    /// named "Subtask", `style: next-gen` (see [`model::Project::team_managed`]).
    pub fn create_team_managed_project(&self, key: &str, name: &str) -> Result<(), SimError> {
        moves::create_project(&self.shared, key, name, true).map_err(rejected)
    }

    /// Adds a scrum board with this id on `project` (by key); one already there on that
    /// project is kept. Manifests name boards by id, so `tandem jira-sim --like` needs it.
    pub fn create_board(&self, id: u64, name: &str, project: &str) -> Result<(), SimError> {
        agile_board::insert_board(&self.shared, id, name, project).map_err(rejected)
    }

    /// Switches a project to another workflow, as an administrator does by changing its
    /// workflow scheme: its issues move to the matching status of the new workflow (To Do ⇄
    /// Open, Done ⇄ Resolved). A `--data`/seed file sets it per project (`"workflow":
    /// "classic"`).
    pub fn set_project_workflow(
        &self,
        project: &str,
        workflow: model::Workflow,
    ) -> Result<(), SimError> {
        moves::set_workflow(&self.shared, project, workflow).map_err(rejected)
    }

    /// Moves an issue (with its sub-tasks) to another project, as a person does with Jira's
    /// Move action: same id, the new project's next key, `issue_moved` webhook. Returns the
    /// new key; the old one keeps resolving.
    pub fn move_issue(&self, key: &str, project: &str) -> Result<String, SimError> {
        moves::move_issue(&self.shared, key, project).map_err(rejected)
    }

    /// Adds an issue type to the instance's default scheme (every company-managed project), as
    /// an administrator does; `hierarchy_level` -1 is a sub-task type, 2 sits above epics.
    /// Returns its id.
    pub fn add_issue_type(
        &self,
        name: &str,
        description: &str,
        hierarchy_level: i64,
    ) -> Result<String, SimError> {
        let mut st = self.shared.write();
        st.add_issue_type(name, description, hierarchy_level)
            .map(|d| d.id.to_owned())
            .map_err(SimError::from)
    }

    /// Adds a status of category `category` ("To Do", "In Progress" or "Done", any case) and
    /// puts it in `projects`' workflows, reachable from every other status (Jira's "allow all
    /// statuses to transition to this one"). A status of that name already there (Open,
    /// Resolved…) is only put in the workflows. Returns its id.
    pub fn add_status(
        &self,
        name: &str,
        category: &str,
        projects: &[&str],
    ) -> Result<String, SimError> {
        let mut st = self.shared.write();
        let id = match st.status_by_name(name) {
            Some(s) => s.id.to_owned(),
            None => {
                let category = catalogue::category_id(category).ok_or_else(|| {
                    catalogue::Refused::Invalid(format!(
                        "status category {category:?}: use To Do, In Progress or Done"
                    ))
                })?;
                st.add_status(name, "", category)?.id.to_owned()
            }
        };
        for p in projects {
            st.add_status_to_workflow(p, &id)?;
        }
        Ok(id)
    }

    /// Adds a custom field of Jira type `type_key` (the part after
    /// `com.atlassian.jira.plugin.system.customfieldtypes:`, e.g. `select`, or the whole key)
    /// with these options (select types); `id` `None` takes the next free `customfield_N`.
    /// Returns its id.
    pub fn add_field(
        &self,
        id: Option<&str>,
        name: &str,
        type_key: &str,
        options: &[&str],
    ) -> Result<String, SimError> {
        let key = if type_key.contains(':') {
            type_key.to_owned()
        } else {
            format!("{}{type_key}", catalogue::TYPE_PREFIX)
        };
        let mut st = self.shared.write();
        st.add_field(id, name, &key, options)
            .map(|d| d.id.to_owned())
            .map_err(SimError::from)
    }

    /// Makes the custom fields `fields` required on creates of `issue_type` (by name or id), as
    /// a field configuration does; an empty list makes nothing required.
    pub fn set_required_fields(&self, issue_type: &str, fields: &[&str]) {
        let mut st = self.shared.write();
        let type_id = st
            .issue_type_by_name(issue_type)
            .map(|d| d.id.to_owned())
            .unwrap_or_else(|| issue_type.to_owned());
        st.required_fields
            .insert(type_id, fields.iter().map(|f| (*f).to_owned()).collect());
        st.touch();
    }

    /// Leaves `without` (field ids) off the `screen` of `project`'s issue types (by name or id;
    /// empty: every type), as a screen scheme does: Jira then refuses them on that operation.
    pub fn set_screen(
        &self,
        project: &str,
        issue_types: &[&str],
        screen: model::ScreenOp,
        without: &[&str],
    ) {
        let mut st = self.shared.write();
        let issue_types = issue_types
            .iter()
            .map(|t| {
                st.issue_type_by_name(t)
                    .map(|d| d.id.to_owned())
                    .unwrap_or_else(|| (*t).to_owned())
            })
            .collect();
        st.screens.push(model::ScreenRule {
            project: project.to_owned(),
            issue_types,
            screen,
            without: without.iter().map(|f| (*f).to_owned()).collect(),
        });
        st.touch();
    }

    /// Makes JQL find the entity property `key` (`issue.property[key].path = …`), as an app
    /// declaring it indexed does; until then it matches nothing, as in Jira.
    pub fn index_property(&self, key: &str) {
        let mut st = self.shared.write();
        st.indexed_properties.push(key.to_owned());
        st.touch();
    }

    /// Puts every field back on every screen (drops what [`SimHandle::set_screen`] set).
    pub fn clear_screens(&self) {
        let mut st = self.shared.write();
        st.screens.clear();
        st.touch();
    }

    /// Limits the custom field `field` to a context of these issue types (by name or id), as a
    /// Jira administrator does; `None` makes its context global again.
    pub fn set_field_context(&self, field: &str, issue_types: Option<&[&str]>) {
        let mut st = self.shared.write();
        match issue_types {
            Some(types) => {
                let ids = types
                    .iter()
                    .map(|t| {
                        st.issue_type_by_name(t)
                            .map(|d| d.id.to_owned())
                            .unwrap_or_else(|| (*t).to_owned())
                    })
                    .collect();
                st.field_contexts.insert(field.to_owned(), ids);
            }
            None => {
                st.field_contexts.remove(field);
            }
        }
        st.touch();
    }

    /// Hides an issue from every REST caller (`false`), as an issue security level or a
    /// permission-scheme change does: reads answer the same 404 as for a deleted issue, and
    /// searches leave it out. `true` shows it again. Returns whether the issue exists.
    pub fn set_issue_visible(&self, key: &str, visible: bool) -> bool {
        let mut st = self.shared.write();
        let Some(id) = st.issue_id_even_hidden(key) else {
            return false;
        };
        if visible {
            st.hidden.remove(&id);
        } else {
            st.hidden.insert(id);
        }
        st.touch();
        true
    }

    pub fn delete_issue(&self, key: &str) -> Result<(), SimError> {
        api::delete_issue_as_admin(&self.shared, key).map_err(rejected)
    }

    /// The issue as `GET /rest/api/2/issue/{key}` renders it, `None` when it does not exist.
    pub fn issue(&self, key: &str) -> Option<Value> {
        api::render_issue_v2(&self.shared, key)
    }

    pub fn issue_count(&self) -> usize {
        self.shared.read().issues.len()
    }

    /// Keys of the issues a JQL query finds, in result order.
    pub fn search(&self, jql: &str) -> Result<Vec<String>, SimError> {
        api::search_keys(&self.shared, jql).map_err(rejected)
    }

    /// Adds `n` generated issues.
    pub fn generate_issues(&self, n: usize, seed: u64) {
        let mut st = self.shared.write();
        st.generate(n, seed, chrono::Utc::now());
    }

    /// A copy of the whole state (for assertions or to write a seed file).
    pub fn snapshot(&self) -> State {
        self.shared.read().clone()
    }

    /// Every fault in force, with the seed last applied (what `GET /_sim/faults` answers).
    pub fn faults(&self) -> FaultSettings {
        self.shared.faults().settings().clone()
    }

    /// Replaces every fault, as `PUT /_sim/faults` does: omitted (default) settings are off; a
    /// `seed` restarts the random streams, `None` continues them. Refuses out-of-range values.
    pub fn set_faults(&self, faults: FaultSettings) -> Result<FaultSettings, FaultError> {
        self.shared.set_faults(faults)
    }

    /// Switches every fault off and restarts the random streams from the seed in force, as
    /// `POST /_sim/faults/reset` does.
    pub fn reset_faults(&self) -> FaultSettings {
        self.shared.reset_faults()
    }

    /// `None` removes the limit. A limit always starts with a full bucket.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        let limit = limit.map(|l| RateLimit {
            per_second: l.per_second.max(0.001),
            burst: l.burst.max(1),
        });
        self.shared
            .update_faults_and(|f| f.rate_limit = limit, |state| state.refill_bucket());
    }

    /// Requests answered with 429 so far.
    pub fn rate_limited_count(&self) -> u64 {
        self.shared.faults().rate_limited
    }

    /// Writes whose response the lost-response fault swallowed so far.
    pub fn lost_response_count(&self) -> u64 {
        self.shared.faults().lost_responses
    }

    /// Added to every request before it is handled.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.update_faults(|f| f.latency = latency);
    }

    /// Adds a uniformly random delay from zero to `jitter` to every request (seeded).
    pub fn set_jitter(&self, jitter: Duration) {
        self.shared.update_faults(|f| f.jitter = jitter);
    }

    /// Added to every GET before it is handled, on top of [`Self::set_latency`]. A slow read
    /// lets a test change an issue while a client's read of it is in flight, the way a person
    /// edits an issue between two calls of an integration on a busy instance.
    pub fn set_read_latency(&self, latency: Duration) {
        self.shared.update_faults(|f| f.read_latency = latency);
    }

    /// The next `count` requests fail with `status` (e.g. 500, 503) and do nothing.
    pub fn inject_errors(&self, count: u32, status: u16) {
        self.shared
            .update_faults(|f| f.inject_errors = faults::InjectErrors { count, status });
    }

    /// `Some(status)`: every request is answered with `status` (e.g. 503) and does nothing until
    /// `None` ends the outage. Rate limiting still applies first, as at Jira's edge.
    pub fn set_outage(&self, status: Option<u16>) {
        self.shared.update_faults(|f| f.outage = status);
    }

    /// Writes (create, edit, transition, comment, …) are applied and then answered with
    /// `lost.answer` instead of their result: the next `lost.count` writes, then each with
    /// probability `lost.rate`.
    pub fn set_lost_responses(&self, lost: LostResponses) {
        self.shared.update_faults(|f| f.lost_responses = lost);
    }

    /// The last [`REQUEST_LOG_CAPACITY`] requests with their arrival time and answer, oldest
    /// first: what tests check pacing against (no request before a `Retry-After` expired).
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.shared
            .request_log
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every request fails with the error status (500 unless [`Self::set_faults`] chose
    /// another) with this probability (0.0 to 1.0), drawn from the seeded fault stream.
    pub fn set_error_rate(&self, rate: f64) {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        self.shared.update_faults(|f| f.error_rate = rate);
    }

    /// Requests received, including refused ones.
    pub fn request_count(&self) -> u64 {
        self.shared.total_requests.load(Ordering::Relaxed)
    }

    /// Requests per (method, path).
    pub fn request_counts(&self) -> Counts {
        self.shared
            .counts
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// Requests with this method whose path starts with `path_prefix`, e.g.
    /// `("POST", "/rest/api/2/issue")` to count issue writes.
    pub fn requests_to(&self, method: &str, path_prefix: &str) -> u64 {
        self.shared
            .counts
            .lock()
            .map(|c| {
                c.iter()
                    .filter(|((m, p), _)| {
                        m.eq_ignore_ascii_case(method) && p.starts_with(path_prefix)
                    })
                    .map(|(_, n)| *n)
                    .sum()
            })
            .unwrap_or(0)
    }

    pub fn reset_request_counts(&self) {
        if let Ok(mut c) = self.shared.counts.lock() {
            c.clear();
        }
        self.shared.total_requests.store(0, Ordering::Relaxed);
    }

    /// Every webhook delivery attempt so far (see [`webhooks::DeliveryRecord`]).
    pub fn webhook_deliveries(&self) -> Vec<webhooks::DeliveryRecord> {
        self.shared.hooks.deliveries()
    }

    /// Waits until every fired webhook is delivered or given up on; bound it with a timeout.
    pub async fn webhooks_idle(&self) {
        self.shared.hooks.idle().await
    }

    /// Registers a webhook directly (as the admin REST API would).
    pub fn register_webhook(
        &self,
        hook: webhooks::Webhook,
    ) -> Result<webhooks::Webhook, webhooks::WebhookError> {
        self.shared.hooks.register(hook)
    }

    /// Makes Jira refuse webhook registrations and updates with `why` (400 on `url`).
    pub fn refuse_webhook_registrations(&self, why: Option<&str>) {
        self.shared
            .hooks
            .refuse_registrations(why.map(str::to_owned));
    }

    /// Switches webhook delivery faults (duplicate and reorder, drop rate; no delay).
    pub fn set_webhook_faults(&self, faults: webhooks::Faults) {
        self.set_webhook_delivery_faults(faults.into());
    }

    /// Switches every webhook delivery fault (drop rate, duplicate, reorder, delay).
    pub fn set_webhook_delivery_faults(&self, faults: webhooks::DeliveryFaults) {
        self.shared.update_faults(|f| f.webhooks = faults);
    }

    /// Every webhook event fired so far, in order.
    pub fn fired_events(&self) -> Vec<FiredEvent> {
        self.shared
            .events
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// Drops cached renderings and search results, as a change to shared data (a sprint, a
    /// version) does; benchmarks use it to measure reads that find nothing cached.
    pub fn clear_caches(&self) {
        self.shared.write().touch();
    }

    /// Writes the data file now (when configured).
    pub fn save(&self) -> Result<(), SimError> {
        self.shared.dirty.store(true, Ordering::Relaxed);
        self.shared.save()
    }
}

fn rejected(r: server::Resp) -> SimError {
    SimError::Rejected {
        status: r.status,
        body: r
            .body
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_flags_parse_like_the_cli_documents() {
        assert_eq!(
            SimUser::parse("bob@example.com:tok:admin").unwrap(),
            SimUser {
                login: "bob@example.com".into(),
                secret: "tok".into(),
                pat: None,
                admin: true
            }
        );
        assert!(!SimUser::parse("bob:pw").unwrap().admin);
        assert_eq!(
            SimUser::parse_pat("bob:tok:with:colons").unwrap(),
            ("bob".into(), "tok:with:colons".into())
        );
        assert!(SimUser::parse_pat("bob").is_err());
        assert!(SimUser::parse("bob").is_err());
        assert!(SimUser::parse(":pw").is_err());
    }

    #[test]
    fn webhook_flags_split_the_secret_off() {
        let w = SimWebhook::parse("http://127.0.0.1:9/hook#s3cret").unwrap();
        assert_eq!(w.url, "http://127.0.0.1:9/hook");
        assert_eq!(w.secret.as_deref(), Some("s3cret"));
        assert!(SimWebhook::parse("ftp://x").is_err());
    }
}
