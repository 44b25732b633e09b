//! Mail: over SMTP with `lettre` (`PORTAL_SMTP_URL`: `smtp://host:25` in the clear on a
//! trusted network, `smtp://host:587?tls=required` for STARTTLS, `smtps://host:465` for
//! implicit TLS; the password from `PORTAL_SMTP_PASSWORD_FILE`), or, in the demo without a
//! server, into a mailbox the portal shows at `/demo/mail`.
//!
//! Each message has a plain-text and an HTML part, and the one-click unsubscribe headers of
//! RFC 8058 (`List-Unsubscribe` with an https link, `List-Unsubscribe-Post:
//! List-Unsubscribe=One-Click`).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use lettre::{
    AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor,
    message::{Mailbox, MultiPart, header::HeaderName, header::HeaderValue},
    transport::smtp::authentication::Credentials,
};

use super::render::Rendered;
pub use crate::config::SmtpSettings;

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// How many messages the demo's mailbox keeps.
const MAILBOX_SIZE: usize = 50;

/// A message the demo's mailbox caught.
#[derive(Debug, Clone)]
pub struct Caught {
    /// Unix seconds.
    pub at: i64,
    /// To.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
    /// The whole message as sent over SMTP.
    pub raw: String,
}

/// Where mail goes.
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP server.
    Smtp {
        /// The transport (pooled connections).
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// The From address.
        from: Mailbox,
    },
    /// The demo's mailbox, newest first.
    Mailbox {
        /// What it caught.
        caught: Arc<Mutex<VecDeque<Caught>>>,
        /// The From address.
        from: Mailbox,
    },
    /// Mail is not configured: email channels cannot be made.
    Off,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp { from, .. } => write!(f, "Mailer::Smtp(from {from})"),
            Self::Mailbox { .. } => f.write_str("Mailer::Mailbox"),
            Self::Off => f.write_str("Mailer::Off"),
        }
    }
}

/// Why a message was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// The settings cannot be used.
    #[error("{0}")]
    Settings(String),
    /// The server refused or could not be reached.
    #[error("{0}")]
    Send(String),
}

impl Mailer {
    /// The mailer for the settings: SMTP when `smtp` is given, the demo's mailbox in the demo,
    /// else off.
    pub fn new(smtp: Option<&SmtpSettings>, from: &str, demo: bool) -> Result<Self, MailerError> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| MailerError::Settings(format!("PORTAL_MAIL_FROM: {e}")))?;
        let Some(smtp) = smtp else {
            return Ok(if demo {
                Self::Mailbox {
                    caught: Arc::default(),
                    from,
                }
            } else {
                Self::Off
            });
        };
        crate::config::mail::check_smtp_url(&smtp.url)
            .map_err(|e| MailerError::Settings(e.to_string()))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&smtp.url)
            .map_err(|e| MailerError::Settings(format!("PORTAL_SMTP_URL: {e}")))?
            .timeout(Some(SMTP_TIMEOUT));
        if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().clone()));
        }
        Ok(Self::Smtp {
            transport: builder.build(),
            from,
        })
    }

    /// Whether email channels can be used.
    pub fn is_on(&self) -> bool {
        !matches!(self, Self::Off)
    }

    /// The demo's mailbox, newest first, when there is one.
    pub fn caught(&self) -> Option<Vec<Caught>> {
        match self {
            Self::Mailbox { caught, .. } => Some(
                caught
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .iter()
                    .cloned()
                    .collect(),
            ),
            _ => None,
        }
    }

    /// Sends `message` to `to`, with `id` as its Message-ID's local part and `unsubscribe` as
    /// its one-click unsubscribe link.
    pub async fn send(
        &self,
        to: &str,
        id: &str,
        message: &Rendered,
        unsubscribe: &str,
        now: i64,
    ) -> Result<String, MailerError> {
        let (Self::Smtp { from, .. } | Self::Mailbox { from, .. }) = self else {
            return Err(MailerError::Settings(
                "mail is not configured (PORTAL_SMTP_URL is not set)".into(),
            ));
        };
        let to_box: Mailbox = to
            .parse()
            .map_err(|e| MailerError::Settings(format!("the address {to:?}: {e}")))?;
        let domain = from.email.domain().to_owned();
        let header = |name: &'static str, value: String| {
            HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
        };
        let email = Message::builder()
            .from(from.clone())
            .to(to_box)
            .subject(message.subject.clone())
            .message_id(Some(format!("<{id}@{domain}>")))
            .raw_header(header("List-Unsubscribe", format!("<{unsubscribe}>")))
            .raw_header(header(
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click".to_owned(),
            ))
            .raw_header(header("Auto-Submitted", "auto-generated".to_owned()))
            .multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                message.html.clone(),
            ))
            .map_err(|e| MailerError::Settings(format!("the message cannot be built: {e}")))?;
        match self {
            Self::Smtp { transport, .. } => match transport.send(email).await {
                Ok(answer) => Ok(format!("the mail server accepted it ({})", answer.code())),
                Err(e) => Err(MailerError::Send(smtp_error(&e))),
            },
            Self::Mailbox { caught, .. } => {
                let raw = String::from_utf8_lossy(&email.formatted()).into_owned();
                let mut caught = caught
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                caught.push_front(Caught {
                    at: now,
                    to: to.to_owned(),
                    subject: message.subject.clone(),
                    text: message.text.clone(),
                    html: message.html.clone(),
                    raw,
                });
                caught.truncate(MAILBOX_SIZE);
                Ok("caught by the demo's mailbox (/demo/mail)".into())
            }
            Self::Off => Err(MailerError::Settings("mail is not configured".into())),
        }
    }
}

/// What an SMTP failure says, without anything secret (lettre's errors carry the server's
/// answer, never the credentials).
fn smtp_error(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    if let Some(code) = e.status() {
        text = format!("the mail server answered {code}: {text}");
    } else if e.is_timeout() {
        text = format!("the mail server did not answer in time: {text}");
    } else {
        text = format!("the mail server could not be reached: {text}");
    }
    text.chars().take(300).collect()
}

/// Whether `address` looks like one mail address (the server has the last word).
pub fn valid_address(address: &str) -> bool {
    address.len() <= 254
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '<' || c == '>')
        && address.parse::<lettre::Address>().is_ok()
}
