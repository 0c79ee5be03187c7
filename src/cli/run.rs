//! `tandem run`: resolve the configuration (flags, `TANDEM_*`, then systemd's directories),
//! set up logging, and run the daemon until SIGTERM/SIGINT.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use super::RunArgs;
use crate::daemon::{self, DaemonConfig};
use crate::secret::Secret;

/// File name of the admin bearer token in `$CREDENTIALS_DIRECTORY` (`LoadCredential=admin-token:...`).
pub const ADMIN_TOKEN_CREDENTIAL: &str = "admin-token";

/// Why the configuration could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the admin token file {}", path.display())]
    AdminToken {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the admin token file {} is empty", .0.display())]
    EmptyAdminToken(PathBuf),
    #[error("{var} must be a positive number of milliseconds, not `{value}`")]
    InvalidTimeout { var: &'static str, value: String },
}

/// Shortens the slow-client cut-offs of both listeners (tests, and operators behind a proxy
/// that already buffers requests): `TANDEM_HEADER_READ_TIMEOUT_MS` (default 10 s) and
/// `TANDEM_BODY_READ_TIMEOUT_MS` (default 30 s).
pub const TIMEOUT_VARS: [&str; 2] = [
    "TANDEM_HEADER_READ_TIMEOUT_MS",
    "TANDEM_BODY_READ_TIMEOUT_MS",
];

/// Builds the daemon configuration. `env` is the process environment in production and a map
/// in tests; see [`TIMEOUT_VARS`] for the slow-client cut-offs. Precedence: flag (or its `TANDEM_*` variable, handled by clap), then systemd's
/// `$STATE_DIRECTORY` / `$CONFIGURATION_DIRECTORY` / `$CREDENTIALS_DIRECTORY`, then paths
/// relative to the working directory.
pub fn resolve_config(
    args: &RunArgs,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<DaemonConfig, ConfigError> {
    // systemd passes colon-separated lists when several directories are configured; the first
    // one is ours.
    let systemd_dir = |var: &str| {
        env(var).and_then(|v| {
            let s = v.to_string_lossy().into_owned();
            s.split(':').find(|p| !p.is_empty()).map(PathBuf::from)
        })
    };
    let state_dir = args
        .state
        .clone()
        .or_else(|| systemd_dir("STATE_DIRECTORY"))
        .unwrap_or_else(|| PathBuf::from("state"));
    let manifests_dir = args
        .manifests
        .clone()
        .or_else(|| systemd_dir("CONFIGURATION_DIRECTORY"))
        .unwrap_or_else(|| PathBuf::from("manifests"));
    let credentials = systemd_dir("CREDENTIALS_DIRECTORY");
    let mut secret_dirs: Vec<PathBuf> = credentials.iter().cloned().collect();
    secret_dirs.extend(args.secrets.clone());

    let token_file = env("TANDEM_ADMIN_TOKEN_FILE")
        .map(PathBuf::from)
        .or_else(|| {
            credentials
                .as_ref()
                .map(|d| d.join(ADMIN_TOKEN_CREDENTIAL))
                .filter(|p| p.exists())
        });
    let admin_token = match token_file {
        Some(path) => {
            let raw = std::fs::read_to_string(&path).map_err(|source| ConfigError::AdminToken {
                path: path.clone(),
                source,
            })?;
            let token = raw.trim();
            if token.is_empty() {
                return Err(ConfigError::EmptyAdminToken(path));
            }
            Some(Secret::new(token))
        }
        None => None,
    };

    let mut config = DaemonConfig::new(state_dir, manifests_dir);
    config.secret_dirs = secret_dirs;
    config.listen = args.listen.clone();
    config.admin = args.admin.clone();
    config.admin_token = admin_token;
    for var in TIMEOUT_VARS {
        let Some(value) = env(var) else { continue };
        let value = value.to_string_lossy().into_owned();
        let ms = value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms > 0)
            .ok_or_else(|| ConfigError::InvalidTimeout {
                var,
                value: value.clone(),
            })?;
        let timeout = std::time::Duration::from_millis(ms);
        if var == TIMEOUT_VARS[0] {
            config.limits.header_read_timeout = timeout;
        } else {
            config.limits.body_read_timeout = timeout;
        }
    }
    Ok(config)
}

/// Runs the daemon; 0 after a clean shutdown, 1 when it could not start or stopped on an error,
/// 2 for configuration errors.
pub fn run(args: RunArgs) -> ExitCode {
    if let Err(e) = daemon::logging::init() {
        eprintln!("error: {}", super::error_chain(&e));
        return ExitCode::from(super::EXIT_USAGE);
    }
    let config = match resolve_config(&args, &|k| std::env::var_os(k)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {}", super::error_chain(&e));
            return ExitCode::from(super::EXIT_USAGE);
        }
    };
    let runtime = match super::runtime(true, ExitCode::FAILURE) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = runtime.block_on(crate::app::run(config, args.manifests_mode.into()));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", super::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn args() -> RunArgs {
        RunArgs {
            manifests: None,
            manifests_mode: crate::cli::ManifestsModeArg::Auto,
            state: None,
            listen: "127.0.0.1:0".into(),
            admin: "127.0.0.1:0".into(),
            secrets: Some(PathBuf::from("/etc/tandem/secrets")),
        }
    }

    #[test]
    fn systemd_directories_are_the_defaults_and_flags_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(ADMIN_TOKEN_CREDENTIAL), "tok\n").expect("write");
        let creds = dir.path().to_string_lossy().into_owned();
        let env: HashMap<&str, String> = [
            (
                "STATE_DIRECTORY",
                "/var/lib/tandem:/var/lib/other".to_string(),
            ),
            ("CONFIGURATION_DIRECTORY", "/etc/tandem".to_string()),
            ("CREDENTIALS_DIRECTORY", creds.clone()),
        ]
        .into_iter()
        .collect();
        let lookup = |k: &str| env.get(k).map(OsString::from);
        let c = resolve_config(&args(), &lookup).expect("config");
        assert_eq!(c.state_dir, PathBuf::from("/var/lib/tandem"));
        assert_eq!(c.manifests_dir, PathBuf::from("/etc/tandem"));
        assert_eq!(
            c.secret_dirs,
            vec![PathBuf::from(&creds), PathBuf::from("/etc/tandem/secrets")]
        );
        assert_eq!(c.admin_token.as_ref().map(Secret::expose), Some("tok"));

        let mut a = args();
        a.state = Some(PathBuf::from("/tmp/x"));
        let c = resolve_config(&a, &lookup).expect("config");
        assert_eq!(c.state_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn an_empty_admin_token_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t");
        std::fs::write(&path, "  \n").expect("write");
        let p = path.clone();
        let lookup = move |k: &str| (k == "TANDEM_ADMIN_TOKEN_FILE").then(|| p.clone().into());
        let err = resolve_config(&args(), &lookup).expect_err("empty token");
        assert!(err.to_string().contains("is empty"), "{err}");
    }

    #[test]
    fn slow_client_cut_offs_can_be_shortened_and_nonsense_is_refused() {
        let lookup = |k: &str| match k {
            "TANDEM_HEADER_READ_TIMEOUT_MS" => Some(OsString::from("500")),
            "TANDEM_BODY_READ_TIMEOUT_MS" => Some(OsString::from(" 1500 ")),
            _ => None,
        };
        let c = resolve_config(&args(), &lookup).expect("config");
        assert_eq!(c.limits.header_read_timeout.as_millis(), 500);
        assert_eq!(c.limits.body_read_timeout.as_millis(), 1500);
        let c = resolve_config(&args(), &|_| None).expect("config");
        assert_eq!(c.limits.header_read_timeout.as_secs(), 10);
        for bad in ["0", "soon", "-5"] {
            let lookup = |k: &str| (k == "TANDEM_HEADER_READ_TIMEOUT_MS").then(|| bad.into());
            let err = resolve_config(&args(), &lookup).expect_err(bad);
            assert_eq!(
                err.to_string(),
                format!(
                    "TANDEM_HEADER_READ_TIMEOUT_MS must be a positive number of milliseconds, not `{bad}`"
                )
            );
        }
    }
}
