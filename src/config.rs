//! The dashboard's validated settings.
//!
//! [`ConfigBuilder`] holds every setting as a typed value with the documented default; its
//! [`ConfigBuilder::build`] checks them and yields the [`Config`] the application runs with. The
//! command line (`cli`) fills a builder from `PORTAL_*` variables; tests and the
//! benchmark fill one in code and change only what they need. A missing or invalid setting stops
//! start-up with one line that names the variable.

use std::{net::SocketAddr, time::Duration};

use url::Url;

use crate::{
    secret::Secret,
    server::{IpNet, Limits},
};

pub(crate) mod mail;

pub use mail::{SmtpSettings, WebhookPolicy};

/// WordPress.com's API, the default upstream.
pub const WPCOM_URL: &str = "https://public-api.wordpress.com";

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
    /// An error about `variable`.
    pub fn new(variable: &'static str, reason: impl Into<String>) -> Self {
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
    /// Connections for the activations index and exports.
    pub database_pool: u32,
    /// Connections for sessions and readiness, apart so they never wait behind exports.
    pub session_pool: u32,
    /// Largest number of activations CSV downloads at once, in all.
    pub max_exports: usize,
    /// Largest number of activations CSV downloads at once, per session.
    pub max_exports_per_session: usize,
    /// Least time between two "Refresh now" copies of one key.
    pub refresh_min_interval: Duration,
    /// Where exports are spooled before they are sent (`TMPDIR`, else the system's).
    pub spool_dir: std::path::PathBuf,
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
    /// How long a copy's lease lasts without renewal.
    pub index_lease: Duration,
    /// Upstream cache TTL.
    pub cache_ttl: Duration,
    /// Partner-key re-check interval.
    pub access_recheck: Duration,
    /// Team members granted by `PORTAL_TEAM_FILE`.
    pub team_file: Vec<crate::team::FileMember>,
    /// How long audit entries are kept (`PORTAL_AUDIT_RETENTION`).
    pub audit_retention: Duration,
    /// How often team connections are checked with WordPress.com (`PORTAL_CONNECTION_CHECK`).
    pub connection_check: Duration,
    /// The SMTP server for email notifications (`PORTAL_SMTP_URL`), when there is one.
    pub smtp: Option<SmtpSettings>,
    /// The From address of notification mail (`PORTAL_MAIL_FROM`).
    pub mail_from: String,
    /// Which webhook targets are allowed (`PORTAL_WEBHOOK_ALLOW`, `PORTAL_WEBHOOK_ALLOW_HTTP`).
    pub webhooks: WebhookPolicy,
    /// Whether pages say the data comes from the sandbox.
    pub demo: bool,
    /// Key encrypting session data at rest.
    pub session_key: Secret<[u8; 32]>,
    /// Earlier keys, which still open what they sealed.
    pub session_key_previous: Vec<Secret<[u8; 32]>>,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Login attempts per client address per minute.
    pub login_rate_per_minute: u32,
    /// Requests per portal API token per minute.
    pub api_rate_per_minute: u32,
    /// Server limits.
    pub limits: Limits,
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
    /// A builder with every default.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Seals values at rest with the session key, opening what earlier keys sealed too.
    pub fn sealer(&self) -> crate::secret::Sealer {
        let previous: Vec<[u8; 32]> = self
            .session_key_previous
            .iter()
            .map(|k| *k.expose())
            .collect();
        crate::secret::Sealer::rotating(self.session_key.expose(), &previous)
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

/// Every setting, typed, before validation. `Default` gives the documented defaults (the same
/// as the command line's; a unit test in `cli` holds them together).
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    /// `PORTAL_LISTEN`.
    pub listen: SocketAddr,
    /// `PORTAL_PUBLIC_URL`; derived from `listen` when absent.
    pub public_url: Option<Url>,
    /// `PORTAL_WPCOM_URL`; WordPress.com's own API when absent.
    pub wpcom_url: Option<Url>,
    /// `PORTAL_WPCOM_CLIENT_ID` (required).
    pub client_id: Option<String>,
    /// `PORTAL_WPCOM_CLIENT_SECRET` (required).
    pub client_secret: Option<Secret<String>>,
    /// `PORTAL_WPCOM_PKCE`.
    pub pkce: bool,
    /// `PORTAL_DATABASE_URL`.
    pub database_url: String,
    /// `PORTAL_DATABASE_POOL`.
    pub database_pool: u32,
    /// `PORTAL_SESSION_POOL`.
    pub session_pool: u32,
    /// `PORTAL_MAX_EXPORTS`.
    pub max_exports: usize,
    /// `PORTAL_MAX_EXPORTS_PER_SESSION`.
    pub max_exports_per_session: usize,
    /// `PORTAL_REFRESH_MIN_INTERVAL`.
    pub refresh_min_interval: Duration,
    /// `PORTAL_IDLE_CONNECTION_TIMEOUT`.
    pub idle_connection_timeout: Duration,
    /// `PORTAL_WRITE_STALL_TIMEOUT`.
    pub write_stall_timeout: Duration,
    /// `PORTAL_MAX_CONNECTIONS`; derived from the descriptor limit when absent.
    pub max_connections: Option<usize>,
    /// `PORTAL_SESSION_IDLE_TIMEOUT`.
    pub idle_timeout: Duration,
    /// `PORTAL_SESSION_ABSOLUTE_TIMEOUT`.
    pub absolute_timeout: Duration,
    /// `PORTAL_UPSTREAM_DEADLINE`.
    pub upstream_deadline: Duration,
    /// How long a started login may take.
    pub login_timeout: Duration,
    /// `PORTAL_INDEX_MAX_AGE`.
    pub index_max_age: Duration,
    /// `PORTAL_INDEX_PAGE_SIZE`.
    pub index_page_size: u32,
    /// `PORTAL_INDEX_LEASE`.
    pub index_lease: Duration,
    /// `PORTAL_CACHE_TTL`.
    pub cache_ttl: Duration,
    /// `PORTAL_ACCESS_RECHECK`.
    pub access_recheck: Duration,
    /// `PORTAL_TEAM_FILE`.
    pub team_file: Option<std::path::PathBuf>,
    /// `PORTAL_AUDIT_RETENTION`.
    pub audit_retention: Duration,
    /// `PORTAL_CONNECTION_CHECK`.
    pub connection_check: Duration,
    /// `PORTAL_SMTP_URL`, `PORTAL_SMTP_USERNAME` and `PORTAL_SMTP_PASSWORD_FILE`.
    pub smtp: Option<SmtpSettings>,
    /// `PORTAL_MAIL_FROM` (default: `partner-portal@` the public URL's host).
    pub mail_from: Option<String>,
    /// `PORTAL_WEBHOOK_ALLOW`: networks webhooks may reach although internal.
    pub webhook_allow: String,
    /// `PORTAL_WEBHOOK_ALLOW_HTTP`.
    pub webhook_allow_http: bool,
    /// `PORTAL_SESSION_KEY` (required unless `demo`, which makes a throwaway one).
    pub session_key: Option<Secret<[u8; 32]>>,
    /// `PORTAL_SESSION_KEY_PREVIOUS`.
    pub session_key_previous: Vec<Secret<[u8; 32]>>,
    /// `PORTAL_TRUSTED_PROXIES`: addresses or CIDR networks, comma-separated.
    pub trusted_proxies: String,
    /// `PORTAL_LOGIN_RATE_PER_MINUTE`.
    pub login_rate_per_minute: u32,
    /// `PORTAL_API_RATE_PER_MINUTE`.
    pub api_rate_per_minute: u32,
    /// `PORTAL_MAX_CONCURRENT`.
    pub max_concurrent: usize,
    /// `PORTAL_REQUEST_TIMEOUT`.
    pub request_timeout: Duration,
    /// `PORTAL_HEADER_READ_TIMEOUT`.
    pub header_read_timeout: Duration,
    /// `PORTAL_SHUTDOWN_GRACE`.
    pub shutdown_grace: Duration,
    /// `PORTAL_METRICS`: `off`, `on` or an address.
    pub metrics: String,
    /// Pages say the data is sandbox data.
    pub demo: bool,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            wpcom_url: None,
            client_id: None,
            client_secret: None,
            pkce: true,
            database_url: "sqlite://data/partner-portal.db".to_owned(),
            database_pool: 8,
            session_pool: 4,
            max_exports: 4,
            max_exports_per_session: 2,
            refresh_min_interval: Duration::from_secs(60),
            idle_connection_timeout: Duration::from_secs(60),
            write_stall_timeout: Duration::from_secs(30),
            max_connections: None,
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(8 * 3600),
            upstream_deadline: Duration::from_secs(12),
            login_timeout: Duration::from_secs(600),
            index_max_age: Duration::from_secs(15 * 60),
            index_page_size: 1000,
            index_lease: Duration::from_secs(20),
            cache_ttl: Duration::from_secs(60),
            access_recheck: Duration::from_secs(60),
            team_file: None,
            audit_retention: Duration::from_secs(180 * 86_400),
            connection_check: Duration::from_secs(600),
            smtp: None,
            mail_from: None,
            webhook_allow: String::new(),
            webhook_allow_http: false,
            session_key: None,
            session_key_previous: Vec::new(),
            trusted_proxies: String::new(),
            login_rate_per_minute: 30,
            api_rate_per_minute: 600,
            max_concurrent: 256,
            request_timeout: Duration::from_secs(15),
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(20),
            metrics: "off".to_owned(),
            demo: false,
        }
    }
}

impl ConfigBuilder {
    /// Validates every setting.
    pub fn build(self) -> Result<Config, ConfigError> {
        self.check_positive()?;
        let public_url = match &self.public_url {
            Some(url) => validate_public_url(url)?,
            None => derived_public_url(self.listen)?,
        };
        let (wpcom_url, client_id, client_secret) = self.wpcom_app()?;
        let database_url = self.database_url.clone();
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "PORTAL_DATABASE_URL",
                "must start with sqlite: or postgres://",
            ));
        }
        let team_file = read_team_file(self.team_file.as_deref())?;
        let session_key = session_key_or_throwaway(self.session_key.clone(), self.demo)?;
        let trusted_proxies = parse_trusted_proxies(&self.trusted_proxies)?;
        let metrics = parse_metrics(&self.metrics)?;
        let webhooks = WebhookPolicy {
            allow: parse_networks("PORTAL_WEBHOOK_ALLOW", &self.webhook_allow)?,
            allow_http: self.webhook_allow_http,
        };
        let mail_from = mail::from_address(self.mail_from.as_deref(), &public_url)?;
        if let Some(smtp) = &self.smtp {
            mail::check_smtp_url(&smtp.url)?;
        }
        let limits = Limits {
            header_read_timeout: self.header_read_timeout,
            request_timeout: self.request_timeout,
            max_concurrent: self.max_concurrent,
            drain_deadline: self.shutdown_grace,
            idle_timeout: self.idle_connection_timeout,
            write_stall_timeout: self.write_stall_timeout,
            max_connections: self.max_connections,
            ..Limits::default()
        };
        Ok(Config {
            metrics,
            session_key,
            session_key_previous: self.session_key_previous.clone(),
            trusted_proxies,
            login_rate_per_minute: self.login_rate_per_minute,
            api_rate_per_minute: self.api_rate_per_minute,
            limits,
            listen: self.listen,
            public_url,
            wpcom_url,
            client_id,
            client_secret,
            pkce: self.pkce,
            database_url,
            database_pool: self.database_pool,
            session_pool: self.session_pool,
            max_exports: self.max_exports,
            max_exports_per_session: self.max_exports_per_session,
            refresh_min_interval: self.refresh_min_interval,
            spool_dir: std::env::temp_dir(),
            idle_timeout: self.idle_timeout,
            absolute_timeout: self.absolute_timeout,
            upstream_deadline: self.upstream_deadline,
            login_timeout: self.login_timeout,
            index_max_age: self.index_max_age,
            index_page_size: self.index_page_size,
            index_lease: self.index_lease,
            cache_ttl: self.cache_ttl,
            access_recheck: self.access_recheck,
            team_file,
            audit_retention: self.audit_retention,
            connection_check: self.connection_check,
            smtp: self.smtp.clone(),
            mail_from,
            webhooks,
            demo: self.demo,
        })
    }
}

impl ConfigBuilder {
    /// Durations and sizes that must not be zero.
    fn check_positive(&self) -> Result<(), ConfigError> {
        let checks = [
            ("PORTAL_SESSION_IDLE_TIMEOUT", self.idle_timeout.is_zero()),
            (
                "PORTAL_SESSION_ABSOLUTE_TIMEOUT",
                self.absolute_timeout.is_zero(),
            ),
            ("PORTAL_CONNECTION_CHECK", self.connection_check.is_zero()),
            ("PORTAL_INDEX_LEASE", self.index_lease.is_zero()),
            ("PORTAL_MAX_CONCURRENT", self.max_concurrent == 0),
            (
                "PORTAL_DATABASE_POOL",
                self.database_pool == 0 || self.session_pool == 0,
            ),
            (
                "PORTAL_MAX_EXPORTS",
                self.max_exports == 0 || self.max_exports_per_session == 0,
            ),
        ];
        match checks.iter().find(|(_, zero)| *zero) {
            Some((variable, _)) => Err(ConfigError::new(variable, "must be positive")),
            None => Ok(()),
        }
    }

    /// WordPress.com's URL and the app's client id and secret.
    fn wpcom_app(&self) -> Result<(Url, String, Secret<String>), ConfigError> {
        let wpcom_url = match &self.wpcom_url {
            Some(url) => url.clone(),
            None => Url::parse(WPCOM_URL)
                .map_err(|e| ConfigError::new("PORTAL_WPCOM_URL", e.to_string()))?,
        };
        check_base_url("PORTAL_WPCOM_URL", &wpcom_url)?;
        let client_id = match &self.client_id {
            Some(id) if !id.trim().is_empty() => id.trim().to_owned(),
            _ => return Err(ConfigError::new("PORTAL_WPCOM_CLIENT_ID", "is required")),
        };
        let Some(client_secret) = self.client_secret.clone() else {
            return Err(ConfigError::new(
                "PORTAL_WPCOM_CLIENT_SECRET",
                "is required (or PORTAL_WPCOM_CLIENT_SECRET_FILE)",
            ));
        };
        if client_secret.expose().is_empty() {
            return Err(ConfigError::new("PORTAL_WPCOM_CLIENT_SECRET", "is empty"));
        }
        Ok((wpcom_url, client_id, client_secret))
    }
}

/// The members `PORTAL_TEAM_FILE` grants (none without one).
fn read_team_file(
    path: Option<&std::path::Path>,
) -> Result<Vec<crate::team::FileMember>, ConfigError> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            "PORTAL_TEAM_FILE",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    crate::team::file::parse(&text)
        .map_err(|e| ConfigError::new("PORTAL_TEAM_FILE", format!("{}: {e}", path.display())))
}

/// The session key; `demo` makes a throwaway one (its sessions end with the process).
fn session_key_or_throwaway(
    key: Option<Secret<[u8; 32]>>,
    demo: bool,
) -> Result<Secret<[u8; 32]>, ConfigError> {
    match (key, demo) {
        (Some(key), _) => Ok(key),
        (None, true) => {
            let mut key = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
            Ok(Secret::new(key))
        }
        (None, false) => Err(ConfigError::new(
            "PORTAL_SESSION_KEY",
            "is required (32 random bytes, base64); generate one with: head -c 32 /dev/urandom | base64",
        )),
    }
}

/// `PORTAL_TRUSTED_PROXIES`: addresses or networks, comma-separated.
fn parse_trusted_proxies(text: &str) -> Result<Vec<IpNet>, ConfigError> {
    parse_networks("PORTAL_TRUSTED_PROXIES", text)
}

/// Addresses or networks, comma-separated; errors name `variable`.
pub(crate) fn parse_networks(
    variable: &'static str,
    text: &str,
) -> Result<Vec<IpNet>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            IpNet::parse(s).ok_or_else(|| {
                ConfigError::new(variable, format!("{s:?} is not an address or network"))
            })
        })
        .collect()
}

/// `PORTAL_METRICS`: `off`, `on`, or an address of its own.
fn parse_metrics(text: &str) -> Result<MetricsAt, ConfigError> {
    Ok(match text.trim() {
        "" | "off" | "false" => MetricsAt::Off,
        "on" | "true" | "main" => MetricsAt::Main,
        addr => MetricsAt::Separate(addr.parse().map_err(|_| {
            ConfigError::new(
                "PORTAL_METRICS",
                "must be off, on, or an address like 127.0.0.1:9100",
            )
        })?),
    })
}

/// A session key given as text (32 bytes, base64 or hex); errors name `variable`.
pub fn session_key_from_text(
    variable: &'static str,
    text: &str,
) -> Result<Secret<[u8; 32]>, ConfigError> {
    parse_key(text.trim())
        .map(Secret::new)
        .ok_or_else(|| ConfigError::new(variable, "must be 32 bytes, base64 or hex encoded"))
}

fn parse_key(text: &str) -> Option<[u8; 32]> {
    use base64::Engine as _;
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok())
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
