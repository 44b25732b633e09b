//! Command line and configuration.
//!
//! Every flag also reads an environment variable (`PORTAL_*`, and `SANDBOX_*` for the sandbox's
//! switches); the names are a contract used by scripts and the Docker image. Configuration is read
//! once, here, into typed values; a missing or invalid setting stops start-up with one line that
//! names the variable.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

use crate::secret::Secret;

/// The partner-portal command line.
#[derive(Debug, Parser)]
#[command(name = "partner-portal", version, about)]
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
    /// Measure sync time, memory, page latency and upstream calls; print the figures.
    Bench(crate::bench::BenchArgs),
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
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
    /// External origin of the dashboard (the OAuth redirect URI is built from it).
    #[arg(long, env = "PORTAL_PUBLIC_URL", value_name = "PORTAL_PUBLIC_URL")]
    pub public_url: Option<Url>,
    /// Base URL of WordPress.com.
    #[arg(
        long,
        env = "PORTAL_WPCOM_URL",
        value_name = "PORTAL_WPCOM_URL",
        default_value = "https://public-api.wordpress.com"
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
    /// Database URL: `sqlite://path` or `postgres://...`.
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
    /// How long summary and invoice answers are cached.
    #[arg(long, env = "PORTAL_CACHE_TTL", value_name = "PORTAL_CACHE_TTL", default_value = "60s", value_parser = parse_duration)]
    pub cache_ttl: Duration,
    /// How often a session's partner keys are re-checked with WordPress.com.
    #[arg(long, env = "PORTAL_ACCESS_RECHECK", value_name = "PORTAL_ACCESS_RECHECK", default_value = "60s", value_parser = parse_duration)]
    pub access_recheck: Duration,
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
    /// Log format.
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
    /// The redirect URI registered for the sandbox's OAuth app (exact match).
    #[arg(
        long,
        env = "SANDBOX_REDIRECT_URI",
        value_name = "SANDBOX_REDIRECT_URI",
        default_value = "http://127.0.0.1:8080/auth/callback"
    )]
    pub redirect_uri: Url,
    /// Log format.
    #[arg(
        long,
        env = "PORTAL_LOG_FORMAT",
        value_name = "PORTAL_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

/// Switches of the WordPress.com sandbox (`WPCOM_API.md` §9).
#[derive(Debug, Clone, Args)]
pub struct SandboxOptions {
    /// Number of generated activations on the production key.
    #[arg(
        long,
        env = "SANDBOX_ACTIVATIONS",
        value_name = "SANDBOX_ACTIVATIONS",
        default_value_t = 150
    )]
    pub activations: usize,
    /// Emit ids and `blog_id` as numeric strings.
    #[arg(long, env = "SANDBOX_NUMERIC_STRINGS", value_name = "SANDBOX_NUMERIC_STRINGS", default_value_t = false, action = clap::ArgAction::Set)]
    pub numeric_strings: bool,
    /// Serve 2017-era Stripe invoices (no status, `date` instead of `created`).
    #[arg(long, env = "SANDBOX_STRIPE_LEGACY", value_name = "SANDBOX_STRIPE_LEGACY", default_value_t = false, action = clap::ArgAction::Set)]
    pub stripe_legacy: bool,
    /// Shape of the past-invoices body.
    #[arg(
        long,
        env = "SANDBOX_INVOICES_STYLE",
        value_name = "SANDBOX_INVOICES_STYLE",
        value_enum,
        default_value = "list"
    )]
    pub invoices_style: InvoicesStyle,
    /// Format of the summary's `date`.
    #[arg(
        long,
        env = "SANDBOX_SUMMARY_DATE_STYLE",
        value_name = "SANDBOX_SUMMARY_DATE_STYLE",
        value_enum,
        default_value = "full"
    )]
    pub summary_date_style: SummaryDateStyle,
    /// Skip the consent page and approve as this user id.
    #[arg(
        long,
        env = "SANDBOX_AUTO_APPROVE_USER",
        value_name = "SANDBOX_AUTO_APPROVE_USER"
    )]
    pub auto_approve_user: Option<u64>,
    /// Put hostile strings (script tags, javascript: URLs) into site names, URLs and invoice lines.
    #[arg(long, env = "SANDBOX_HOSTILE", value_name = "SANDBOX_HOSTILE", default_value_t = false, action = clap::ArgAction::Set)]
    pub hostile: bool,
    /// Enable the test control API under `/__sandbox/` (faults, latency, revocation, counts).
    #[arg(long, env = "SANDBOX_CONTROL", value_name = "SANDBOX_CONTROL", default_value_t = false, action = clap::ArgAction::Set)]
    pub control: bool,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            activations: 150,
            numeric_strings: false,
            stripe_legacy: false,
            invoices_style: InvoicesStyle::List,
            summary_date_style: SummaryDateStyle::Full,
            auto_approve_user: None,
            hostile: false,
            control: false,
        }
    }
}

/// Shape of the sandbox's past-invoices body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InvoicesStyle {
    /// A Stripe list object.
    List,
    /// A bare array.
    Array,
}

/// Format of the sandbox's summary dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryDateStyle {
    /// Always `YYYY-MM-DD`.
    Full,
    /// `YYYY-MM-DD`, `YYYY-MM` or `YYYY` by scale.
    Truncated,
}

/// A start-up configuration error: one line naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable (or flag) at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        Self {
            variable,
            reason: reason.into(),
        }
    }
}

/// The dashboard's validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// External origin, possibly with a path; no trailing slash in `redirect_uri`.
    pub public_url: Url,
    /// WordPress.com base URL.
    pub wpcom_url: Url,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: Secret<String>,
    /// Send PKCE.
    pub pkce: bool,
    /// Database URL.
    pub database_url: String,
    /// Idle timeout.
    pub idle_timeout: Duration,
    /// Absolute timeout.
    pub absolute_timeout: Duration,
    /// Deadline for one page's upstream calls.
    pub upstream_deadline: Duration,
    /// How long a started login may take.
    pub login_timeout: Duration,
    /// Background refresh age of the activations index.
    pub index_max_age: Duration,
    /// Rows per upstream page when syncing.
    pub index_page_size: u32,
    /// Upstream cache TTL.
    pub cache_ttl: Duration,
    /// Partner-key re-check interval.
    pub access_recheck: Duration,
    /// Whether pages say the data comes from the sandbox.
    pub demo: bool,
    /// Key encrypting session data at rest.
    pub session_key: Secret<[u8; 32]>,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<crate::server::IpNet>,
    /// Login attempts per client address per minute.
    pub login_rate_per_minute: u32,
    /// Server limits.
    pub limits: crate::server::Limits,
    /// Where metrics are served.
    pub metrics: MetricsAt,
}

/// Where `/metrics` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAt {
    /// Not at all.
    Off,
    /// On the main port.
    Main,
    /// On a separate listener.
    Separate(SocketAddr),
}

impl Config {
    /// Validates the dashboard arguments. `demo` fills in the sandbox app's credentials.
    pub fn from_args(args: &PortalArgs, demo: bool) -> Result<Self, ConfigError> {
        let public_url = match &args.public_url {
            Some(url) => validate_public_url(url)?,
            None => derived_public_url(args.listen)?,
        };
        check_base_url("PORTAL_WPCOM_URL", &args.wpcom_url)?;
        let client_id = match (&args.client_id, demo) {
            (Some(id), _) if !id.trim().is_empty() => id.trim().to_owned(),
            (_, true) => crate::sandbox::CLIENT_ID.to_owned(),
            _ => return Err(ConfigError::new("PORTAL_WPCOM_CLIENT_ID", "is required")),
        };
        let client_secret = match (&args.client_secret_file, &args.client_secret) {
            (Some(path), _) => std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .map_err(|e| {
                    ConfigError::new(
                        "PORTAL_WPCOM_CLIENT_SECRET_FILE",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?,
            (None, Some(s)) if !s.is_empty() => s.clone(),
            (None, _) if demo => crate::sandbox::CLIENT_SECRET.to_owned(),
            _ => {
                return Err(ConfigError::new(
                    "PORTAL_WPCOM_CLIENT_SECRET",
                    "is required (or PORTAL_WPCOM_CLIENT_SECRET_FILE)",
                ));
            }
        };
        if client_secret.is_empty() {
            return Err(ConfigError::new("PORTAL_WPCOM_CLIENT_SECRET", "is empty"));
        }
        let database_url = match &args.database_url_file {
            Some(path) => std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .map_err(|e| {
                    ConfigError::new(
                        "PORTAL_DATABASE_URL_FILE",
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?,
            None => args
                .database_url
                .clone()
                .unwrap_or_else(|| "sqlite://data/partner-portal.db".to_owned()),
        };
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "PORTAL_DATABASE_URL",
                "must start with sqlite: or postgres://",
            ));
        }
        if args.session_idle_timeout.is_zero() || args.session_absolute_timeout.is_zero() {
            return Err(ConfigError::new(
                "PORTAL_SESSION_IDLE_TIMEOUT",
                "must be positive",
            ));
        }
        let session_key = session_key(args, demo)?;
        let trusted_proxies = args
            .trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                crate::server::IpNet::parse(s).ok_or_else(|| {
                    ConfigError::new(
                        "PORTAL_TRUSTED_PROXIES",
                        format!("{s:?} is not an address or network"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if args.max_concurrent == 0 {
            return Err(ConfigError::new(
                "PORTAL_MAX_CONCURRENT",
                "must be positive",
            ));
        }
        let limits = crate::server::Limits {
            header_read_timeout: args.header_read_timeout,
            request_timeout: args.request_timeout,
            max_concurrent: args.max_concurrent,
            drain_deadline: args.shutdown_grace,
            ..crate::server::Limits::default()
        };
        let metrics = match args.metrics.trim() {
            "" | "off" | "false" => MetricsAt::Off,
            "on" | "true" | "main" => MetricsAt::Main,
            addr => MetricsAt::Separate(addr.parse().map_err(|_| {
                ConfigError::new(
                    "PORTAL_METRICS",
                    "must be off, on, or an address like 127.0.0.1:9100",
                )
            })?),
        };
        Ok(Self {
            metrics,
            session_key,
            trusted_proxies,
            login_rate_per_minute: args.login_rate_per_minute,
            limits,
            listen: args.listen,
            public_url,
            wpcom_url: args.wpcom_url.clone(),
            client_id,
            client_secret: Secret::new(client_secret),
            pkce: args.pkce,
            database_url,
            idle_timeout: args.session_idle_timeout,
            absolute_timeout: args.session_absolute_timeout,
            upstream_deadline: args.upstream_deadline,
            login_timeout: Duration::from_secs(600),
            index_max_age: args.index_max_age,
            index_page_size: args.index_page_size,
            cache_ttl: args.cache_ttl,
            access_recheck: args.access_recheck,
            demo,
        })
    }

    /// The OAuth redirect URI, built from the public URL only.
    pub fn redirect_uri(&self) -> String {
        format!("{}/auth/callback", self.base_path_url())
    }

    /// The public URL without a trailing slash.
    pub fn base_path_url(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }

    /// The path the portal is served under, without a trailing slash: `""` at the root,
    /// `"/partners"` for `https://intranet.example/partners/`.
    pub fn base_path(&self) -> &str {
        self.public_url.path().trim_end_matches('/')
    }

    /// Whether cookies must be `Secure`.
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

/// The session key: from the file or variable (32 bytes, base64 or hex); `demo` makes a
/// throwaway one (its sessions end with the process).
fn session_key(args: &PortalArgs, demo: bool) -> Result<Secret<[u8; 32]>, ConfigError> {
    let (variable, text) = match (&args.session_key_file, &args.session_key) {
        (Some(path), _) => (
            "PORTAL_SESSION_KEY_FILE",
            std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new(
                    "PORTAL_SESSION_KEY_FILE",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?,
        ),
        (None, Some(k)) => ("PORTAL_SESSION_KEY", k.clone()),
        (None, None) if demo => {
            let mut key = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
            return Ok(Secret::new(key));
        }
        (None, None) => {
            return Err(ConfigError::new(
                "PORTAL_SESSION_KEY",
                "is required (32 random bytes, base64); generate one with: head -c 32 /dev/urandom | base64",
            ));
        }
    };
    parse_key(text.trim())
        .map(Secret::new)
        .ok_or_else(|| ConfigError::new(variable, "must be 32 bytes, base64 or hex encoded"))
}

fn parse_key(text: &str) -> Option<[u8; 32]> {
    use base64::Engine as _;
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?
    };
    bytes.try_into().ok()
}

fn validate_public_url(url: &Url) -> Result<Url, ConfigError> {
    check_base_url("PORTAL_PUBLIC_URL", url)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            "PORTAL_PUBLIC_URL",
            "must not have a query or fragment",
        ));
    }
    Ok(url.clone())
}

fn check_base_url(variable: &'static str, url: &Url) -> Result<(), ConfigError> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(
            variable,
            "must be an http(s) URL with a host",
        ));
    }
    Ok(())
}

/// `http://<listen>`; an unspecified address becomes `127.0.0.1`.
pub fn derived_public_url(listen: SocketAddr) -> Result<Url, ConfigError> {
    let host = if listen.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else if listen.is_ipv6() {
        format!("[{}]", listen.ip())
    } else {
        listen.ip().to_string()
    };
    let text = format!("http://{host}:{}/", listen.port());
    Url::parse(&text).map_err(|e| ConfigError::new("PORTAL_LISTEN", e.to_string()))
}

/// Parses `90`, `90s`, `30m`, `8h` or `2d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("invalid duration {text:?}"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => return Ok(Duration::from_millis(n)),
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => {
            return Err(format!(
                "invalid duration unit in {text:?} (use ms, s, m, h or d)"
            ));
        }
    };
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("8h"), Ok(Duration::from_secs(28_800)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }

    #[test]
    fn public_url_defaults_to_the_listen_address() {
        let url = derived_public_url("0.0.0.0:9000".parse().unwrap()).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9000/");
    }
}
