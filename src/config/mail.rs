//! The notification settings: the SMTP server, the From address, and which webhook targets are
//! allowed. The notifications use them; here they are only read and checked.

use url::Url;

use super::ConfigError;
use crate::{secret::Secret, server::IpNet};

/// The SMTP settings (`PORTAL_SMTP_URL`, `PORTAL_SMTP_USERNAME`, `PORTAL_SMTP_PASSWORD_FILE`).
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// `smtp://…` or `smtps://…` (credentials in it are refused: they go in the file).
    pub url: String,
    /// The user name, when the server wants one.
    pub username: Option<String>,
    /// The password (from `PORTAL_SMTP_PASSWORD_FILE`).
    pub password: Option<Secret<String>>,
}

/// Which targets webhooks may reach (`PORTAL_WEBHOOK_ALLOW`, `PORTAL_WEBHOOK_ALLOW_HTTP`).
#[derive(Debug, Clone, Default)]
pub struct WebhookPolicy {
    /// Networks allowed although internal.
    pub allow: Vec<IpNet>,
    /// Whether plain http is allowed.
    pub allow_http: bool,
}

/// `PORTAL_SMTP_URL`'s form: `smtp://` or `smtps://`, without credentials, as lettre reads it.
pub fn check_smtp_url(raw: &str) -> Result<(), ConfigError> {
    let err = |reason: String| ConfigError::new("PORTAL_SMTP_URL", reason);
    let url = Url::parse(raw).map_err(|e| err(e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err(
            "put the user name in PORTAL_SMTP_USERNAME and the password in PORTAL_SMTP_PASSWORD_FILE, not in the URL".into(),
        ));
    }
    if !matches!(url.scheme(), "smtp" | "smtps") {
        return Err(err("must start with smtp:// or smtps://".into()));
    }
    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(raw)
        .map(|_| ())
        .map_err(|e| err(e.to_string()))
}

/// `PORTAL_MAIL_FROM`, or `partner-portal@` the public URL's host.
pub fn from_address(given: Option<&str>, public_url: &Url) -> Result<String, ConfigError> {
    let from = match given.map(str::trim) {
        Some(f) if !f.is_empty() => f.to_owned(),
        _ => {
            let host = public_url.host_str().unwrap_or("localhost");
            let host = if host.contains('.') && !host.starts_with('[') {
                host
            } else {
                "localhost.localdomain"
            };
            format!("partner-portal <partner-portal@{host}>")
        }
    };
    from.parse::<lettre::message::Mailbox>().map_err(|e| {
        ConfigError::new(
            "PORTAL_MAIL_FROM",
            format!("{from:?} is not a mail address: {e}"),
        )
    })?;
    Ok(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smtp_url_takes_no_credentials_and_only_smtp_schemes() {
        assert!(check_smtp_url("smtp://127.0.0.1:2525").is_ok());
        assert!(check_smtp_url("smtps://mail.example.com:465").is_ok());
        assert!(check_smtp_url("smtp://mail.example.com:587?tls=required").is_ok());
        assert!(check_smtp_url("smtp://user:pw@mail.example.com").is_err());
        assert!(check_smtp_url("http://mail.example.com").is_err());
    }

    #[test]
    fn the_from_address_defaults_to_the_public_host() {
        let url = Url::parse("https://partners.example.com/p/").unwrap();
        assert_eq!(
            from_address(None, &url).unwrap(),
            "partner-portal <partner-portal@partners.example.com>"
        );
        assert!(from_address(Some("not an address"), &url).is_err());
        let local = Url::parse("http://127.0.0.1:8080/").unwrap();
        assert!(
            from_address(None, &local).unwrap().ends_with("@127.0.0.1>")
                || from_address(None, &local).is_ok()
        );
    }
}
