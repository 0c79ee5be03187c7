//! `tandem jira-sim`: runs the Jira simulator until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;

use super::{Deployment, JiraSimArgs, EXIT_USAGE};
use crate::sim::{self, SimConfig, SimUser, SimWebhook, Simulator};

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
    let handle = Simulator::start(config)
        .await
        .context("cannot start the Jira simulator")?;
    println!("{}", handle.base_url());
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
