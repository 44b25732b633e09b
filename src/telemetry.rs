//! Logging: human-readable lines by default, JSON with `PORTAL_LOG_FORMAT=json`.
//!
//! `RUST_LOG` overrides the default filter. Nothing logged anywhere in the crate carries a
//! token, secret, authorization code or query string.

use tracing_subscriber::{EnvFilter, fmt};

/// Log output format (`PORTAL_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber (once; later calls are ignored).
pub fn init(format: LogFormat) {
    init_with_default(
        format,
        "info,sqlx=warn,tower_sessions=warn,tower_sessions_core=warn",
    );
}

/// Like [`init`], with another filter when `RUST_LOG` is unset.
pub fn init_with_default(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = fmt().with_env_filter(filter).with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
