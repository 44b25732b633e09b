//! The command line: one subcommand per way to run the binary, every flag also an environment
//! variable (`PORTAL_*`; `SANDBOX_*` for the sandbox's switches).
//!
//! The variable names are a contract used by scripts, compose.yaml and the Docker image. This
//! module only reads them (and the `*_FILE` secrets they point at); [`crate::config`] validates.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use url::Url;

use crate::{
    config::{Config, ConfigBuilder, ConfigError, parse_duration, session_key_from_text},
    sandbox::{self, SandboxOptions},
    secret::Secret,
    telemetry::LogFormat,
};

/// The partner-portal command line.
#[derive(Debug, Parser)]
#[command(
    name = "partner-portal",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("PORTAL_COMMIT"), ")"),
    about
)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the dashboard against a configured WordPress.com.
    Serve(PortalArgs),
    /// Run the dashboard and the built-in WordPress.com sandbox in one process.
    Demo(DemoArgs),
    /// Run the WordPress.com sandbox alone, for other tools to point at.
    Sandbox(SandboxArgs),
    /// Ask a running portal's `/healthz` (for container health checks, which have no shell).
    Healthcheck(HealthcheckArgs),
    /// Validate the `serve` configuration and reach the database; exit non-zero with the reason.
    CheckConfig(PortalArgs),
    /// Make, revoke or list portal API tokens in the portal's database.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `partner-portal token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token for a team member (or the owner who connected the partner); prints the
    /// secret once on standard output.
    Create(TokenCreateArgs),
    /// Revoke a token by its id or the prefix the API tokens page shows.
    Revoke(TokenRevokeArgs),
    /// List every token (never a secret).
    List(TokenListArgs),
}

/// `token create`.
#[derive(Debug, Clone, Args)]
pub struct TokenCreateArgs {
    /// The WordPress.com user id or username the token acts for.
    #[arg(long)]
    pub user: String,
    /// The partner, when the user is on more than one team.
    #[arg(long)]
    pub partner: Option<u64>,
    /// What the token may read: `activations:read` (always), `invoices:read`, `audit:read`,
    /// separated by commas; never wider than the user's role.
    #[arg(long, default_value = "activations:read")]
    pub scope: String,
    /// Days until it expires: 7, 30, 90 or 365 (`90d` and `1y` work too).
    #[arg(long, default_value = "90", value_parser = parse_days)]
    pub expires: i64,
    /// The token's name, as the API tokens page shows it.
    #[arg(long, default_value = "made on the command line")]
    pub name: String,
    /// The portal's settings (its database).
    #[command(flatten)]
    pub portal: PortalArgs,
}

/// `token revoke`.
#[derive(Debug, Clone, Args)]
pub struct TokenRevokeArgs {
    /// The token's id (`token list`) or shown prefix (`ppt_Ab12Cd34`).
    pub token: String,
    /// The portal's settings (its database).
    #[command(flatten)]
    pub portal: PortalArgs,
}

/// `token list`.
#[derive(Debug, Clone, Args)]
pub struct TokenListArgs {
    /// The portal's settings (its database).
    #[command(flatten)]
    pub portal: PortalArgs,
}

/// `90`, `90d` or `1y` as days.
fn parse_days(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let days = match t.strip_suffix('y') {
        Some(years) => years.parse::<i64>().map(|y| y * 365),
        None => t.trim_end_matches('d').parse::<i64>(),
    }
    .map_err(|_| format!("{text:?} is not a number of days"))?;
    if crate::tokens::EXPIRY_DAYS.contains(&days) {
        Ok(days)
    } else {
        Err("use 7, 30, 90 or 365 days".to_owned())
    }
}

/// Settings of the dashboard.
#[derive(Debug, Clone, Args)]
pub struct PortalArgs {
    /// Address the dashboard listens on.
    #[arg(
        long,
        env = "PORTAL_LISTEN",
        value_name = "PORTAL_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// External URL of the dashboard, optionally with a path; the OAuth redirect URI is built
    /// from it, never from a request (default: `http://` and the listen address).
    #[arg(long, env = "PORTAL_PUBLIC_URL", value_name = "PORTAL_PUBLIC_URL")]
    pub public_url: Option<Url>,
    /// Base URL of WordPress.com.
    #[arg(
        long,
        env = "PORTAL_WPCOM_URL",
        value_name = "PORTAL_WPCOM_URL",
        default_value = crate::config::WPCOM_URL
    )]
    pub wpcom_url: Url,
    /// OAuth client id of the WordPress.com app.
    #[arg(
        long,
        env = "PORTAL_WPCOM_CLIENT_ID",
        value_name = "PORTAL_WPCOM_CLIENT_ID"
    )]
    pub client_id: Option<String>,
    /// OAuth client secret of the WordPress.com app.
    #[arg(
        long,
        env = "PORTAL_WPCOM_CLIENT_SECRET",
        value_name = "PORTAL_WPCOM_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: Option<String>,
    /// File holding the OAuth client secret (takes precedence over the variable).
    #[arg(
        long,
        env = "PORTAL_WPCOM_CLIENT_SECRET_FILE",
        value_name = "PORTAL_WPCOM_CLIENT_SECRET_FILE"
    )]
    pub client_secret_file: Option<PathBuf>,
    /// Send PKCE (S256) with the authorization request.
    #[arg(long, env = "PORTAL_WPCOM_PKCE", value_name = "PORTAL_WPCOM_PKCE", default_value_t = true, action = clap::ArgAction::Set)]
    pub pkce: bool,
    /// Database URL: `sqlite://path` (created mode 0600) or `postgres://...` (default:
    /// `sqlite://data/partner-portal.db`). Migrations run at start-up.
    #[arg(long, env = "PORTAL_DATABASE_URL", value_name = "PORTAL_DATABASE_URL")]
    pub database_url: Option<String>,
    /// File holding the database URL (wins over the variable; for passwords kept as secrets).
    #[arg(
        long,
        env = "PORTAL_DATABASE_URL_FILE",
        value_name = "PORTAL_DATABASE_URL_FILE"
    )]
    pub database_url_file: Option<PathBuf>,
    /// Log a session out after this long without a request (e.g. `30m`).
    #[arg(long, env = "PORTAL_SESSION_IDLE_TIMEOUT", value_name = "PORTAL_SESSION_IDLE_TIMEOUT", default_value = "30m", value_parser = parse_duration)]
    pub session_idle_timeout: Duration,
    /// Log a session out this long after login, whatever its activity (e.g. `8h`).
    #[arg(long, env = "PORTAL_SESSION_ABSOLUTE_TIMEOUT", value_name = "PORTAL_SESSION_ABSOLUTE_TIMEOUT", default_value = "8h", value_parser = parse_duration)]
    pub session_absolute_timeout: Duration,
    /// Deadline for the upstream calls behind one page (e.g. `12s`).
    #[arg(long, env = "PORTAL_UPSTREAM_DEADLINE", value_name = "PORTAL_UPSTREAM_DEADLINE", default_value = "12s", value_parser = parse_duration)]
    pub upstream_deadline: Duration,
    /// Refresh a key's activations index in the background when older than this.
    #[arg(long, env = "PORTAL_INDEX_MAX_AGE", value_name = "PORTAL_INDEX_MAX_AGE", default_value = "15m", value_parser = parse_duration)]
    pub index_max_age: Duration,
    /// Activations per upstream page when syncing the index (WordPress.com declares no maximum;
    /// the sandbox allows 1000).
    #[arg(long, env = "PORTAL_INDEX_PAGE_SIZE", value_name = "PORTAL_INDEX_PAGE_SIZE", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub index_page_size: u32,
    /// How long a copy's lease lasts without renewal: a replica that stops (killed, stalled)
    /// loses its copy to another after this long (e.g. `20s`).
    #[arg(long, env = "PORTAL_INDEX_LEASE", value_name = "PORTAL_INDEX_LEASE", default_value = "20s", value_parser = parse_duration)]
    pub index_lease: Duration,
    /// How long summary and invoice answers are cached.
    #[arg(long, env = "PORTAL_CACHE_TTL", value_name = "PORTAL_CACHE_TTL", default_value = "60s", value_parser = parse_duration)]
    pub cache_ttl: Duration,
    /// How often a session's partner keys are re-checked with WordPress.com.
    #[arg(long, env = "PORTAL_ACCESS_RECHECK", value_name = "PORTAL_ACCESS_RECHECK", default_value = "60s", value_parser = parse_duration)]
    pub access_recheck: Duration,
    /// Team members as configuration: one `ROLE USER [PARTNER_ID]` per line (docs/team.md).
    #[arg(long, env = "PORTAL_TEAM_FILE", value_name = "PORTAL_TEAM_FILE")]
    pub team_file: Option<std::path::PathBuf>,
    /// How long audit entries are kept.
    #[arg(long, env = "PORTAL_AUDIT_RETENTION", value_name = "PORTAL_AUDIT_RETENTION", default_value = "180d", value_parser = parse_duration)]
    pub audit_retention: Duration,
    /// How often team connections are checked with WordPress.com.
    #[arg(long, env = "PORTAL_CONNECTION_CHECK", value_name = "PORTAL_CONNECTION_CHECK", default_value = "10m", value_parser = parse_duration)]
    pub connection_check: Duration,
    /// SMTP server for email notifications: `smtp://host:25` (plain, trusted network),
    /// `smtp://host:587?tls=required` (STARTTLS) or `smtps://host:465` (implicit TLS).
    #[arg(long, env = "PORTAL_SMTP_URL", value_name = "PORTAL_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// SMTP user name, when the server wants one.
    #[arg(
        long,
        env = "PORTAL_SMTP_USERNAME",
        value_name = "PORTAL_SMTP_USERNAME"
    )]
    pub smtp_username: Option<String>,
    /// File holding the SMTP password.
    #[arg(
        long,
        env = "PORTAL_SMTP_PASSWORD_FILE",
        value_name = "PORTAL_SMTP_PASSWORD_FILE"
    )]
    pub smtp_password_file: Option<PathBuf>,
    /// From address of notification mail (default: `partner-portal@` the public URL's host).
    #[arg(long, env = "PORTAL_MAIL_FROM", value_name = "PORTAL_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Networks (comma-separated addresses or CIDRs) webhooks may reach although they are
    /// loopback or private; others are refused.
    #[arg(
        long,
        env = "PORTAL_WEBHOOK_ALLOW",
        value_name = "PORTAL_WEBHOOK_ALLOW",
        default_value = ""
    )]
    pub webhook_allow: String,
    /// Allow webhooks to plain http URLs (https only otherwise).
    #[arg(long, env = "PORTAL_WEBHOOK_ALLOW_HTTP", value_name = "PORTAL_WEBHOOK_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_http: bool,
    /// Key (32 bytes, base64 or hex) that encrypts session data at rest; required by `serve`.
    #[arg(
        long,
        env = "PORTAL_SESSION_KEY",
        value_name = "PORTAL_SESSION_KEY",
        hide_env_values = true
    )]
    pub session_key: Option<String>,
    /// File holding the session key (wins over the variable).
    #[arg(
        long,
        env = "PORTAL_SESSION_KEY_FILE",
        value_name = "PORTAL_SESSION_KEY_FILE"
    )]
    pub session_key_file: Option<PathBuf>,
    /// Earlier session keys, comma-separated: what they sealed still opens, and is sealed again
    /// with the current key (rotate without logging anyone out; see docs/operations.md).
    #[arg(
        long,
        env = "PORTAL_SESSION_KEY_PREVIOUS",
        value_name = "PORTAL_SESSION_KEY_PREVIOUS",
        hide_env_values = true
    )]
    pub session_key_previous: Option<String>,
    /// File holding earlier session keys, one per line (wins over the variable).
    #[arg(
        long,
        env = "PORTAL_SESSION_KEY_PREVIOUS_FILE",
        value_name = "PORTAL_SESSION_KEY_PREVIOUS_FILE"
    )]
    pub session_key_previous_file: Option<PathBuf>,
    /// Proxies (addresses or CIDR networks, comma-separated) whose X-Forwarded-For is believed.
    #[arg(
        long,
        env = "PORTAL_TRUSTED_PROXIES",
        value_name = "PORTAL_TRUSTED_PROXIES",
        default_value = ""
    )]
    pub trusted_proxies: String,
    /// Login attempts (start and callback) per client address per minute.
    #[arg(
        long,
        env = "PORTAL_LOGIN_RATE_PER_MINUTE",
        value_name = "PORTAL_LOGIN_RATE_PER_MINUTE",
        default_value_t = 30
    )]
    pub login_rate_per_minute: u32,
    /// Requests per portal API token per minute (bursts up to the same number); more get 429.
    #[arg(
        long,
        env = "PORTAL_API_RATE_PER_MINUTE",
        value_name = "PORTAL_API_RATE_PER_MINUTE",
        default_value_t = 600
    )]
    pub api_rate_per_minute: u32,
    /// Requests handled at once; more get 503 with Retry-After.
    #[arg(
        long,
        env = "PORTAL_MAX_CONCURRENT",
        value_name = "PORTAL_MAX_CONCURRENT",
        default_value_t = 256
    )]
    pub max_concurrent: usize,
    /// Deadline of one request.
    #[arg(long, env = "PORTAL_REQUEST_TIMEOUT", value_name = "PORTAL_REQUEST_TIMEOUT", default_value = "15s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Database connections for the activations index and exports.
    #[arg(
        long,
        env = "PORTAL_DATABASE_POOL",
        value_name = "PORTAL_DATABASE_POOL",
        default_value_t = 8
    )]
    pub database_pool: u32,
    /// Database connections for sessions and readiness (kept apart from exports and syncs).
    #[arg(
        long,
        env = "PORTAL_SESSION_POOL",
        value_name = "PORTAL_SESSION_POOL",
        default_value_t = 4
    )]
    pub session_pool: u32,
    /// Activations CSV downloads at once, in all; more get 429.
    #[arg(
        long,
        env = "PORTAL_MAX_EXPORTS",
        value_name = "PORTAL_MAX_EXPORTS",
        default_value_t = 4
    )]
    pub max_exports: usize,
    /// Activations CSV downloads at once, per session; more get 429.
    #[arg(
        long,
        env = "PORTAL_MAX_EXPORTS_PER_SESSION",
        value_name = "PORTAL_MAX_EXPORTS_PER_SESSION",
        default_value_t = 2
    )]
    pub max_exports_per_session: usize,
    /// Least time between two "Refresh now" copies of one key; requests sooner are ignored.
    #[arg(long, env = "PORTAL_REFRESH_MIN_INTERVAL", value_name = "PORTAL_REFRESH_MIN_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub refresh_min_interval: Duration,
    /// Close a connection that sends nothing (no request, no bytes) for this long.
    #[arg(long, env = "PORTAL_IDLE_CONNECTION_TIMEOUT", value_name = "PORTAL_IDLE_CONNECTION_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_connection_timeout: Duration,
    /// Drop a client that accepts no response bytes for this long (a stalled download).
    #[arg(long, env = "PORTAL_WRITE_STALL_TIMEOUT", value_name = "PORTAL_WRITE_STALL_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub write_stall_timeout: Duration,
    /// Open connections at most (new ones are closed at once); default: half the file
    /// descriptor limit, less a reserve.
    #[arg(
        long,
        env = "PORTAL_MAX_CONNECTIONS",
        value_name = "PORTAL_MAX_CONNECTIONS"
    )]
    pub max_connections: Option<usize>,
    /// Time a client has to send its request headers.
    #[arg(long, env = "PORTAL_HEADER_READ_TIMEOUT", value_name = "PORTAL_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,
    /// Prometheus metrics: `off`, `on` (at /metrics on the main port) or an address to serve
    /// them on separately (e.g. `127.0.0.1:9100`).
    #[arg(
        long,
        env = "PORTAL_METRICS",
        value_name = "PORTAL_METRICS",
        default_value = "off"
    )]
    pub metrics: String,
    /// Time in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(long, env = "PORTAL_SHUTDOWN_GRACE", value_name = "PORTAL_SHUTDOWN_GRACE", default_value = "20s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    /// Log format: `text` or `json` (one JSON object a line).
    #[arg(
        long,
        env = "PORTAL_LOG_FORMAT",
        value_name = "PORTAL_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

/// Settings of `healthcheck`.
#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// The address the portal listens on (its `/healthz` is asked on the loopback interface
    /// when it listens on all interfaces).
    #[arg(
        long,
        env = "PORTAL_LISTEN",
        value_name = "PORTAL_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
}

/// Settings of `demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Dashboard settings.
    #[command(flatten)]
    pub portal: PortalArgs,
    /// Sandbox settings.
    #[command(flatten)]
    pub sandbox: SandboxOptions,
    /// Address the sandbox listens on.
    #[arg(
        long,
        env = "PORTAL_SANDBOX_LISTEN",
        value_name = "PORTAL_SANDBOX_LISTEN",
        default_value = "127.0.0.1:8081"
    )]
    pub sandbox_listen: SocketAddr,
}

/// Settings of `sandbox`.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Sandbox settings.
    #[command(flatten)]
    pub sandbox: SandboxOptions,
    /// Address the sandbox listens on.
    #[arg(
        long,
        env = "PORTAL_SANDBOX_LISTEN",
        value_name = "PORTAL_SANDBOX_LISTEN",
        default_value = "127.0.0.1:8081"
    )]
    pub listen: SocketAddr,
    /// The redirect URI registered for the sandbox's OAuth app, kept exactly as given
    /// (WordPress.com compares it character for character).
    #[arg(
        long,
        env = "SANDBOX_REDIRECT_URI",
        value_name = "SANDBOX_REDIRECT_URI",
        default_value = "http://127.0.0.1:8080/auth/callback",
        value_parser = registered_redirect_uri
    )]
    pub redirect_uri: String,
    /// Log format: `text` or `json` (one JSON object a line).
    #[arg(
        long,
        env = "PORTAL_LOG_FORMAT",
        value_name = "PORTAL_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

impl PortalArgs {
    /// `PORTAL_SESSION_KEY_PREVIOUS(_FILE)`: earlier session keys, comma- or line-separated.
    fn previous_keys(&self) -> Result<Vec<Secret<[u8; 32]>>, ConfigError> {
        let (variable, text) = match (&self.session_key_previous_file, &self.session_key_previous) {
            (Some(path), _) => (
                "PORTAL_SESSION_KEY_PREVIOUS_FILE",
                std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new(
                        "PORTAL_SESSION_KEY_PREVIOUS_FILE",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?,
            ),
            (None, Some(text)) => ("PORTAL_SESSION_KEY_PREVIOUS", text.clone()),
            (None, None) => return Ok(Vec::new()),
        };
        text.split([',', '\n'])
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| session_key_from_text(variable, k))
            .collect()
    }

    /// The validated configuration. `demo` fills in the sandbox app's credentials and makes a
    /// throwaway session key when none is given.
    pub fn config(&self, demo: bool) -> Result<Config, ConfigError> {
        let client_id = match &self.client_id {
            Some(id) if !id.trim().is_empty() => Some(id.trim().to_owned()),
            _ if demo => Some(sandbox::CLIENT_ID.to_owned()),
            _ => None,
        };
        let client_secret = match (&self.client_secret_file, &self.client_secret) {
            (Some(path), _) => Some(read_file("PORTAL_WPCOM_CLIENT_SECRET_FILE", path)?),
            (None, Some(s)) if !s.is_empty() => Some(s.clone()),
            (None, _) if demo => Some(sandbox::CLIENT_SECRET.to_owned()),
            (None, _) => None,
        };
        let database_url = match &self.database_url_file {
            Some(path) => Some(read_file("PORTAL_DATABASE_URL_FILE", path)?),
            None => self.database_url.clone(),
        };
        let session_key = match (&self.session_key_file, &self.session_key) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new(
                        "PORTAL_SESSION_KEY_FILE",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                Some(session_key_from_text("PORTAL_SESSION_KEY_FILE", &text)?)
            }
            (None, Some(text)) => Some(session_key_from_text("PORTAL_SESSION_KEY", text)?),
            (None, None) => None,
        };
        let session_key_previous = self.previous_keys()?;
        let smtp = match &self.smtp_url {
            Some(url) if !url.trim().is_empty() => Some(crate::config::SmtpSettings {
                url: url.trim().to_owned(),
                username: self.smtp_username.clone().filter(|u| !u.is_empty()),
                password: match &self.smtp_password_file {
                    Some(path) => Some(Secret::new(read_file("PORTAL_SMTP_PASSWORD_FILE", path)?)),
                    None => None,
                },
            }),
            _ => None,
        };
        let defaults = ConfigBuilder::default();
        ConfigBuilder {
            listen: self.listen,
            public_url: self.public_url.clone(),
            wpcom_url: Some(self.wpcom_url.clone()),
            client_id,
            client_secret: client_secret.map(Secret::new),
            pkce: self.pkce,
            database_url: database_url.unwrap_or(defaults.database_url),
            idle_timeout: self.session_idle_timeout,
            absolute_timeout: self.session_absolute_timeout,
            upstream_deadline: self.upstream_deadline,
            index_max_age: self.index_max_age,
            index_page_size: self.index_page_size,
            index_lease: self.index_lease,
            cache_ttl: self.cache_ttl,
            access_recheck: self.access_recheck,
            team_file: self.team_file.clone(),
            audit_retention: self.audit_retention,
            connection_check: self.connection_check,
            smtp,
            mail_from: self.mail_from.clone(),
            webhook_allow: self.webhook_allow.clone(),
            webhook_allow_http: self.webhook_allow_http,
            session_key,
            session_key_previous,
            trusted_proxies: self.trusted_proxies.clone(),
            login_rate_per_minute: self.login_rate_per_minute,
            api_rate_per_minute: self.api_rate_per_minute,
            max_concurrent: self.max_concurrent,
            database_pool: self.database_pool,
            session_pool: self.session_pool,
            max_exports: self.max_exports,
            max_exports_per_session: self.max_exports_per_session,
            refresh_min_interval: self.refresh_min_interval,
            idle_connection_timeout: self.idle_connection_timeout,
            write_stall_timeout: self.write_stall_timeout,
            max_connections: self.max_connections,
            request_timeout: self.request_timeout,
            header_read_timeout: self.header_read_timeout,
            shutdown_grace: self.shutdown_grace,
            metrics: self.metrics.clone(),
            demo,
            ..defaults
        }
        .build()
    }
}

/// An absolute http(s) URL, returned exactly as written: parsing would normalise it
/// (`http://127.0.0.1:3210` becomes `http://127.0.0.1:3210/`) and break the exact match.
fn registered_redirect_uri(text: &str) -> Result<String, String> {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(text.to_owned()),
        _ => Err(format!("{text:?} is not an http(s) URL")),
    }
}

/// A secret file's content, trimmed; an unreadable file names its variable.
fn read_file(variable: &'static str, path: &std::path::Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| ConfigError::new(variable, format!("cannot read {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_lines_defaults_are_the_builders_defaults() {
        let cli = Cli::try_parse_from(["partner-portal", "demo"]).unwrap();
        let Command::Demo(args) = cli.command else {
            unreachable!("demo parses as demo")
        };
        let from_cli = format!("{:?}", args.portal.config(true).unwrap());
        let built = ConfigBuilder {
            demo: true,
            client_id: Some(sandbox::CLIENT_ID.to_owned()),
            client_secret: Some(Secret::new(sandbox::CLIENT_SECRET.to_owned())),
            ..ConfigBuilder::default()
        }
        .build()
        .unwrap();
        assert_eq!(from_cli, format!("{built:?}"));
    }

    #[test]
    fn the_sandboxs_redirect_uri_is_kept_exactly_as_registered() {
        let cli = Cli::try_parse_from([
            "partner-portal",
            "sandbox",
            "--redirect-uri",
            "http://127.0.0.1:3210",
        ])
        .unwrap();
        let Command::Sandbox(args) = cli.command else {
            unreachable!("sandbox parses as sandbox")
        };
        assert_eq!(args.redirect_uri, "http://127.0.0.1:3210");
        assert!(
            Cli::try_parse_from(["partner-portal", "sandbox", "--redirect-uri", "ftp://x"])
                .is_err()
        );
    }
}
