//! `tandem jira-sim`: runs the Jira simulator until Ctrl-C or SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;

use super::{Deployment, JiraSimArgs, JiraSimFaultArgs, EXIT_USAGE};
use crate::sim::faults::InjectErrors;
use crate::sim::webhooks::DeliveryFaults;
use crate::sim::{self, FaultSettings, LostResponses, SimConfig, SimUser, SimWebhook, Simulator};

pub fn run(args: JiraSimArgs) -> ExitCode {
    let runtime = match super::runtime(true, ExitCode::from(EXIT_USAGE)) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

async fn serve(args: JiraSimArgs) -> anyhow::Result<()> {
    let fault_settings = faults(&args.faults);
    let listen: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {:?} is not an IP:PORT address", args.listen))?;
    let deployment = match args.deployment {
        Deployment::Cloud => sim::Deployment::Cloud,
        Deployment::DataCenter => sim::Deployment::DataCenter,
    };
    let mut config = SimConfig::new(deployment);
    config.listen = listen;
    config.data_file = args.data;
    config.users = args
        .users
        .iter()
        .map(|u| SimUser::parse(u))
        .collect::<Result<_, _>>()?;
    for p in &args.pats {
        let (login, token) = SimUser::parse_pat(p)?;
        if deployment == sim::Deployment::Cloud {
            anyhow::bail!(
                "--pat {login}:…: personal access tokens are a Data Center login; Cloud users sign in with --user NAME:API_TOKEN"
            );
        }
        match config.users.iter_mut().find(|u| u.login == login) {
            Some(u) => u.pat = Some(token),
            None => anyhow::bail!(
                "--pat {login}:…: add the user with --user {login}:PASSWORD first (the seeded admin and user already have admin-pat and user-pat)"
            ),
        }
    }
    let like = match &args.like {
        Some(dir) => {
            let like = super::sim_like::plan(dir, deployment, args.secrets.clone())
                .map_err(|e| anyhow::anyhow!("--like {}: {e}", dir.display()))?;
            config.users.extend(like.users.iter().cloned());
            Some((dir.clone(), like))
        }
        None => None,
    };
    config.webhooks = args
        .webhooks
        .iter()
        .map(|w| SimWebhook::parse(w))
        .collect::<Result<_, _>>()?;
    // Seeding knobs without flags of their own (the flag set is the contract of DESIGN.md §3):
    // a state file to start from, and a number of generated issues for benchmarks and demos.
    config.seed_file = std::env::var_os("TANDEM_SIM_SEED_FILE").map(Into::into);
    if let Ok(n) = std::env::var("TANDEM_SIM_GENERATE") {
        config.generate = n
            .parse()
            .with_context(|| format!("TANDEM_SIM_GENERATE={n:?} is not a number of issues"))?;
    }
    config.faults = fault_settings;
    let handle = Simulator::start(config)
        .await
        .context("cannot start the Jira simulator")?;
    let shaped = match &like {
        Some((dir, like)) => Some(
            super::sim_like::apply(&handle, like)
                .with_context(|| format!("cannot shape the simulator like {}", dir.display()))?,
        ),
        None => None,
    };
    println!("{}", handle.base_url());
    // Who can sign in, and with what: the simulator's credentials are test fixtures, printed
    // so nobody has to read the source to use it (after the URL, which scripts read first).
    // A reader that took only the URL and closed the pipe must not stop the simulator.
    let mut out = std::io::stdout().lock();
    // Users made from a manifest's secret reference hold a real secret: never printed.
    let from_manifests: Vec<String> = like
        .iter()
        .flat_map(|(_, l)| l.users.iter().map(|u| u.login.clone()))
        .collect();
    for line in user_lines(&handle.snapshot().users, deployment, &from_manifests) {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
    drop(out);
    let in_force = handle.faults();
    if !in_force.is_quiet() {
        eprintln!(
            "faults in force (GET/PUT {}/_sim/faults as an administrator): {}",
            handle.base_url(),
            serde_json::to_string(&in_force).unwrap_or_default()
        );
    }
    if let Some((dir, like)) = &like {
        let projects: Vec<&str> = like.projects.iter().map(|(k, _)| k.as_str()).collect();
        let boards: Vec<String> = like
            .boards
            .iter()
            .map(|(id, _, p)| format!("{id} ({p})"))
            .collect();
        eprintln!(
            "shaped like {}: projects {}; boards {}",
            dir.display(),
            if projects.is_empty() {
                "none".to_owned()
            } else {
                projects.join(", ")
            },
            if boards.is_empty() {
                "none".to_owned()
            } else {
                boards.join(", ")
            },
        );
        for added in shaped.iter().flat_map(|s| &s.added) {
            eprintln!("added {added}");
        }
        for m in like
            .missing
            .iter()
            .chain(shaped.iter().flat_map(|s| &s.refused))
        {
            eprintln!("cannot shape: {m}");
        }
    }
    eprintln!(
        "Jira simulator ({}) listening on {}; Ctrl-C to stop",
        match deployment {
            sim::Deployment::Cloud => "Cloud",
            sim::Deployment::DataCenter => "Data Center",
        },
        handle.base_url()
    );
    shutdown_signal().await;
    handle
        .shutdown()
        .await
        .context("the simulator did not shut down cleanly")?;
    Ok(())
}

/// The settings the flags describe; clap's value parsers already checked each value with the
/// rules `/_sim/faults` applies, and `Simulator::start` checks the whole again.
/// One line per user: login, secret(s) and role, as the deployment authenticates them.
fn user_lines(
    users: &[crate::sim::model::User],
    deployment: sim::Deployment,
    hidden: &[String],
) -> Vec<String> {
    users
        .iter()
        .map(|u| {
            if hidden.contains(&u.login) {
                return format!(
                    "user {} (administrator; its secret is the one the manifests refer to)",
                    u.login
                );
            }
            let role = if u.admin {
                "administrator"
            } else {
                "not an administrator"
            };
            match deployment {
                sim::Deployment::Cloud => {
                    format!("user {} API token {} ({role})", u.login, u.secret)
                }
                sim::Deployment::DataCenter => match &u.pat {
                    Some(pat) => format!(
                        "user {} password {} personal access token {pat} ({role})",
                        u.login, u.secret
                    ),
                    None => format!("user {} password {} ({role})", u.login, u.secret),
                },
            }
        })
        .collect()
}

fn faults(a: &JiraSimFaultArgs) -> FaultSettings {
    let d = FaultSettings::default();
    let lost = LostResponses::default();
    FaultSettings {
        seed: a.fault_seed,
        latency: a.latency.unwrap_or(d.latency),
        jitter: a.jitter.unwrap_or(d.jitter),
        read_latency: a.read_latency.unwrap_or(d.read_latency),
        error_rate: a.error_rate.unwrap_or(d.error_rate),
        error_status: a.error_status.unwrap_or(d.error_status),
        inject_errors: InjectErrors::default(),
        outage: a.outage,
        rate_limit: a.rate_limit,
        lost_responses: LostResponses {
            rate: a.lose_responses.unwrap_or(lost.rate),
            count: 0,
            answer: a.lose_responses_as.unwrap_or(lost.answer),
        },
        webhooks: DeliveryFaults {
            drop_rate: a.webhook_drop.unwrap_or(0.0),
            duplicate: a.webhook_duplicate,
            reorder: a.webhook_reorder,
            delay: a.webhook_delay.unwrap_or_default(),
        },
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
