//! The command line: clap definitions and dispatch. Each subcommand lives in its own file and
//! returns an [`std::process::ExitCode`], because exit codes are part of the contract
//! (`validate` 0/1/2, `plan` 0/2).

mod admin_client;
mod demo;
mod docs;
mod online;
mod plan;
pub mod run;
mod schema;
mod sim;
mod sim_like;
pub mod status;
mod sync;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::sim::faults::{
    parse_error_status, parse_lost_answer, parse_millis, parse_probability, parse_rate_limit,
};
use crate::sim::{LostAnswer, RateLimit};

/// Exit code for usage and I/O errors, shared by every subcommand.
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "tandem",
    version,
    about = "Two-way sync between a product workspace and Jira, declared as GitOps manifests"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: watch manifests, reconcile, receive webhooks, sync.
    Run(RunArgs),
    /// Check manifests; exit 0 valid, 1 invalid, 2 usage or I/O error.
    Validate(ValidateArgs),
    /// Show what applying a directory would change, field by field, offline; exit 0 no
    /// change, 2 changes, 1 invalid or nothing to compare with.
    Plan(PlanArgs),
    /// Show the daemon's resources and their conditions; exit 0 all Ready and nothing
    /// rejected, 1 otherwise, 2 daemon unreachable.
    Status(StatusArgs),
    /// Run a one-time sync of one integration; exit 0 completed, 1 failed or refused (unknown
    /// integration, sprint or release), 2 usage or daemon unreachable.
    Sync(SyncArgs),
    /// Write the JSON Schema of every manifest kind.
    Schema(SchemaArgs),
    /// Run the Jira simulator.
    JiraSim(Box<JiraSimArgs>),
    /// Start the simulator and the daemon on one machine with the examples, nothing to configure.
    Demo,
    /// Print a shell completion script: `tandem completions bash > /etc/bash_completion.d/tandem`.
    Completions(CompletionsArgs),
    /// Print the man page (roff): `tandem man | man -l -`; `--out DIR` writes one per command.
    Man(ManArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Directory of manifests to watch [default: $CONFIGURATION_DIRECTORY under systemd, else
    /// ./manifests].
    #[arg(long, env = "TANDEM_MANIFESTS")]
    pub manifests: Option<PathBuf>,
    /// Where manifests are read from: `auto` applies the checked-out commit when the directory
    /// is inside a git work tree (uncommitted changes are shown, not applied) and the files
    /// otherwise; `git` requires a work tree; `directory` applies the files as they are.
    #[arg(
        long,
        env = "TANDEM_MANIFESTS_MODE",
        value_enum,
        default_value = "auto"
    )]
    pub manifests_mode: ManifestsModeArg,
    /// Directory holding the state file [default: $STATE_DIRECTORY under systemd, else
    /// ./state].
    #[arg(long, env = "TANDEM_STATE")]
    pub state: Option<PathBuf>,
    /// Public listener for Jira webhooks.
    #[arg(long, env = "TANDEM_LISTEN", default_value = "0.0.0.0:8686")]
    pub listen: String,
    /// Admin listener (status, metrics, workspace API).
    #[arg(long, env = "TANDEM_ADMIN", default_value = "127.0.0.1:8687")]
    pub admin: String,
    /// Directory that relative secret file references resolve against (after $CREDENTIALS_DIRECTORY).
    #[arg(long, env = "TANDEM_SECRETS")]
    pub secrets: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Also check every integration against the live Jira it names.
    #[arg(long)]
    pub online: bool,
    /// With --online: directory that relative secret file references resolve against (after
    /// $CREDENTIALS_DIRECTORY).
    #[arg(long, env = "TANDEM_SECRETS")]
    pub secrets: Option<PathBuf>,
    /// Manifest directories (default: the current directory).
    pub dirs: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Manifest directory to plan (its files as they are) [default: .].
    pub dir: Option<PathBuf>,
    /// What to compare with: a directory, or a git revision of DIR's repository (`main`,
    /// `HEAD^`, a commit id) [default: the set recorded in --state, else HEAD's parent, else
    /// the running daemon].
    #[arg(long, value_name = "DIR|GIT-REF")]
    pub against: Option<String>,
    /// The daemon's state directory: the set it last applied, and the links a deletion drops
    /// (read from the state file when no daemon holds it, else asked of the daemon).
    #[arg(long, env = "TANDEM_STATE")]
    pub state: Option<PathBuf>,
    /// Directory that relative secret file references resolve against (after
    /// $CREDENTIALS_DIRECTORY), to check that new or changed references resolve.
    #[arg(long, env = "TANDEM_SECRETS")]
    pub secrets: Option<PathBuf>,
    /// Admin API of the running daemon (links, and the base when nothing else is given).
    #[arg(
        long,
        env = "TANDEM_ADMIN_URL",
        default_value = "http://127.0.0.1:8687"
    )]
    pub admin: String,
}

/// `--manifests-mode`; mirrors [`crate::watch::ManifestsMode`].
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ManifestsModeArg {
    Auto,
    Git,
    Directory,
}

impl From<ManifestsModeArg> for crate::watch::ManifestsMode {
    fn from(m: ManifestsModeArg) -> Self {
        match m {
            ManifestsModeArg::Auto => crate::watch::ManifestsMode::Auto,
            ManifestsModeArg::Git => crate::watch::ManifestsMode::Git,
            ManifestsModeArg::Directory => crate::watch::ManifestsMode::Directory,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Show only this resource, in full (all conditions, rejected edits with hints, details).
    pub name: Option<String>,
    /// Admin API of the running daemon.
    #[arg(
        long,
        env = "TANDEM_ADMIN_URL",
        default_value = "http://127.0.0.1:8687"
    )]
    pub admin: String,
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Name of the ProjectIntegration.
    pub integration: String,
    /// Jira to workspace.
    #[arg(long, conflicts_with = "to_jira")]
    pub from_jira: bool,
    /// JQL filter (with --from-jira); default: all open issues of the project.
    #[arg(long, requires = "from_jira")]
    pub jql: Option<String>,
    /// Workspace to Jira; needs a scope: --all, --sprint or --release.
    #[arg(long)]
    pub to_jira: bool,
    /// Push the whole workspace (with --to-jira).
    #[arg(long, requires = "to_jira", conflicts_with_all = ["sprints", "releases"])]
    pub all: bool,
    /// Push these sprints (with --to-jira); an unknown name is an error.
    #[arg(long = "sprint", requires = "to_jira", conflicts_with = "releases")]
    pub sprints: Vec<String>,
    /// Push these releases (with --to-jira); an unknown name is an error.
    #[arg(long = "release", requires = "to_jira")]
    pub releases: Vec<String>,
    /// Report what would be created, updated, left unchanged and skipped, and why, writing
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Admin API of the running daemon.
    #[arg(
        long,
        env = "TANDEM_ADMIN_URL",
        default_value = "http://127.0.0.1:8687"
    )]
    pub admin: String,
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write `tandem.1` and one `tandem-COMMAND.1` per command here instead of printing.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Directory to write the schemas to.
    #[arg(long, default_value = "schemas")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Deployment {
    Cloud,
    #[value(name = "dataCenter")]
    DataCenter,
}

#[derive(Debug, clap::Args)]
pub struct JiraSimArgs {
    /// Address to listen on.
    #[arg(long, env = "TANDEM_SIM_LISTEN", default_value = "127.0.0.1:8990")]
    pub listen: String,
    /// Which Jira to behave like.
    #[arg(long, value_enum, default_value = "cloud")]
    pub deployment: Deployment,
    /// Persist state to this file (loaded at start when present).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Register a webhook for all events: URL or URL#SECRET.
    #[arg(long = "webhook")]
    pub webhooks: Vec<String>,
    /// Add a user: NAME:SECRET or NAME:SECRET:admin (the API token on Cloud, the password on
    /// Data Center).
    #[arg(long = "user")]
    pub users: Vec<String>,
    /// Data Center: give a user added with --user a personal access token, NAME:TOKEN. Such
    /// users have none otherwise (the seeded admin and user have admin-pat and user-pat).
    #[arg(long = "pat", value_name = "NAME:TOKEN")]
    pub pats: Vec<String>,
    /// Shape the simulator like the Jira a manifest directory expects: its connections' users
    /// (secrets resolved as the daemon does), its integrations' projects and boards; what the
    /// simulator cannot have (issue types, statuses, fields outside its catalogue) is listed.
    #[arg(long, value_name = "DIR")]
    pub like: Option<PathBuf>,
    /// With --like: directory that relative secret file references resolve against (after
    /// $CREDENTIALS_DIRECTORY).
    #[arg(long, env = "TANDEM_SECRETS")]
    pub secrets: Option<PathBuf>,
    #[command(flatten, next_help_heading = "Faults")]
    pub faults: JiraSimFaultArgs,
}

/// `tandem jira-sim` fault flags: the same settings as the simulator's `/_sim/faults`, checked
/// by the same rules, in force from the start.
#[derive(Debug, clap::Args)]
pub struct JiraSimFaultArgs {
    /// Delay every request by MS milliseconds.
    #[arg(long, value_name = "MS", allow_negative_numbers = true, value_parser = parse_millis)]
    pub latency: Option<Duration>,
    /// Add a random delay from 0 to MS milliseconds to every request.
    #[arg(long, value_name = "MS", allow_negative_numbers = true, value_parser = parse_millis)]
    pub jitter: Option<Duration>,
    /// Delay every GET by MS more milliseconds.
    #[arg(long, value_name = "MS", allow_negative_numbers = true, value_parser = parse_millis)]
    pub read_latency: Option<Duration>,
    /// Fail each request with probability P (0 to 1), doing nothing.
    #[arg(long, value_name = "P", allow_negative_numbers = true, value_parser = parse_probability)]
    pub error_rate: Option<f64>,
    /// The status of --error-rate failures (400 to 599; default 500).
    #[arg(
        long,
        value_name = "STATUS",
        allow_negative_numbers = true,
        value_parser = parse_error_status,
        requires = "error_rate"
    )]
    pub error_status: Option<u16>,
    /// Answer every request with STATUS (400 to 599) until lifted over /_sim/faults.
    #[arg(long, value_name = "STATUS", allow_negative_numbers = true, value_parser = parse_error_status)]
    pub outage: Option<u16>,
    /// A token bucket of PER_SECOND requests (burst BURST, default the rate); 429 beyond.
    #[arg(
        long,
        value_name = "PER_SECOND[:BURST]",
        allow_negative_numbers = true,
        value_parser = parse_rate_limit
    )]
    pub rate_limit: Option<RateLimit>,
    /// Apply each write, then lose its response with probability P (0 to 1).
    #[arg(long, value_name = "P", allow_negative_numbers = true, value_parser = parse_probability)]
    pub lose_responses: Option<f64>,
    /// How a lost response looks: drop (close the connection) or a status 500 to 599.
    #[arg(
        long,
        value_name = "drop|STATUS",
        allow_negative_numbers = true,
        value_parser = parse_lost_answer,
        requires = "lose_responses"
    )]
    pub lose_responses_as: Option<LostAnswer>,
    /// Drop each webhook delivery with probability P (0 to 1).
    #[arg(long, value_name = "P", allow_negative_numbers = true, value_parser = parse_probability)]
    pub webhook_drop: Option<f64>,
    /// Deliver every webhook event twice, with the same identifier.
    #[arg(long)]
    pub webhook_duplicate: bool,
    /// Shuffle webhook events fired close together.
    #[arg(long)]
    pub webhook_reorder: bool,
    /// Hold every webhook delivery MS milliseconds after its event.
    #[arg(long, value_name = "MS", allow_negative_numbers = true, value_parser = parse_millis)]
    pub webhook_delay: Option<Duration>,
    /// Seed of every random fault decision, so a run replays (default 31341).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub fault_seed: Option<u64>,
}

/// Parses the process arguments, runs the subcommand and returns its exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Validate(_)
            | Command::Plan(_)
            | Command::Status(_)
            | Command::Schema(_)
            | Command::Completions(_)
            | Command::Man(_)
    ) {
        restore_sigpipe();
    }
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Status(args) => status::run(args),
        Command::Sync(args) => sync::run(args),
        Command::Schema(args) => schema::run(args),
        Command::JiraSim(args) => sim::run(*args),
        Command::Demo => demo::run(),
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
    }
}

/// Report commands end quietly when their reader goes away (`tandem validate | head`), like
/// other Unix tools, instead of panicking in `println!`. Servers keep Rust's default (SIGPIPE
/// ignored), so a closed socket is an error on that connection, not the end of the process.
fn restore_sigpipe() {
    // SAFETY: called once at start, before any thread is spawned.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

pub(crate) use crate::error_chain;

/// The async runtime a command runs on; when it cannot be built the user is told why and the
/// command exits with `failure`.
pub(crate) fn runtime(
    multi_thread: bool,
    failure: ExitCode,
) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder
        .enable_all()
        .thread_name("tandem")
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            failure
        })
}
