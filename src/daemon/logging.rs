//! Tracing setup for the daemon: text (default) or JSON lines on stderr, which journald
//! captures under systemd. Filter from `TANDEM_LOG`, else `RUST_LOG`, else `info`.

use tracing_subscriber::EnvFilter;

/// Log line format, from `TANDEM_LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A bad logging setting; the message says which variable and what it accepts.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("TANDEM_LOG_FORMAT must be `text` or `json`, not `{0}`")]
    Format(String),
    #[error("invalid log filter `{filter}` (from {var})")]
    Filter {
        filter: String,
        var: &'static str,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
}

/// Reads the format from `TANDEM_LOG_FORMAT` (unset or empty means text).
pub fn format_from_env() -> Result<LogFormat, LoggingError> {
    match std::env::var("TANDEM_LOG_FORMAT")
        .ok()
        .as_deref()
        .map(str::trim)
    {
        None | Some("") | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(LoggingError::Format(other.to_string())),
    }
}

fn filter_from_env(default: &str) -> Result<EnvFilter, LoggingError> {
    for var in ["TANDEM_LOG", "RUST_LOG"] {
        if let Ok(filter) = std::env::var(var) {
            if !filter.trim().is_empty() {
                return EnvFilter::try_new(&filter).map_err(|source| LoggingError::Filter {
                    filter,
                    var,
                    source,
                });
            }
        }
    }
    Ok(EnvFilter::new(default))
}

/// Installs the global subscriber. A second call (tests) leaves the first one in place.
pub fn init() -> Result<(), LoggingError> {
    init_with_default("info")
}

/// Like [`init`], with another level when no filter variable is set (the demo keeps its
/// terminal for its own story and logs only warnings).
pub fn init_with_default(default: &str) -> Result<(), LoggingError> {
    let format = format_from_env()?;
    let filter = filter_from_env(default)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    Ok(())
}
