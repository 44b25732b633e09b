//! Webhooks: a JSON event POSTed to an https URL (http only where `PORTAL_WEBHOOK_ALLOW_HTTP`
//! says so), signed with HMAC-SHA256 over `"{t}.{body}"` in a `Portal-Signature: t=…,v1=…`
//! header (Stripe's scheme; `docs/notifications.md` has the verification recipe).
//!
//! No SSRF through a webhook: the target's host is resolved at every send and refused when any
//! of its addresses is loopback, private, link-local, shared (CGNAT), multicast or unspecified,
//! unless `PORTAL_WEBHOOK_ALLOW` lists it; the request then goes to the address that was
//! checked (no second lookup to rebind), through no proxy, and follows no redirect.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use hmac::{Hmac, Mac as _};
use url::Url;

use super::render::Rendered;
use crate::secret::Secret;
#[cfg(test)]
use crate::server::IpNet;

/// How long one webhook request may take.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

pub use crate::config::WebhookPolicy;

/// Whether `ip` is an address a webhook must not reach unless allowed.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
                || v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] // NAT64 of anything
                || first == 0x2002 // 6to4 of anything
        }
    }
}

fn internal_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240
}

impl WebhookPolicy {
    /// The URL, if its form is one a webhook may have: https (or allowed http), a host, no
    /// user name or password, no fragment. Addresses are checked at each send.
    pub fn check_form(&self, raw: &str) -> Result<Url, String> {
        let url = Url::parse(raw.trim()).map_err(|_| "That is not a URL.".to_owned())?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(
                    "The URL must start with https:// (this portal does not allow plain http webhooks)."
                        .into(),
                );
            }
            _ => return Err("The URL must start with https://.".into()),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("The URL must not carry a user name or password.".into());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("The URL has no host.".into());
        }
        if url.fragment().is_some() {
            return Err("The URL must not have a #fragment.".into());
        }
        if raw.len() > 2000 {
            return Err("The URL is longer than 2,000 characters.".into());
        }
        Ok(url)
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.allow.iter().any(|n| n.contains(ip))
    }

    /// Resolves the URL's host and checks every address: the address to connect to, or why
    /// the target is refused.
    pub async fn resolve(&self, url: &Url) -> Result<SocketAddr, String> {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            _ => tokio::time::timeout(
                Duration::from_secs(5),
                tokio::net::lookup_host((host, port)),
            )
            .await
            .map_err(|_| format!("looking up {host} took too long"))?
            .map_err(|e| format!("{host} cannot be looked up: {e}"))?
            .collect(),
        };
        if let Some(bad) = addrs.iter().find(|a| !self.allowed(a.ip())) {
            return Err(format!(
                "refused: {host} is {}, a loopback, private or otherwise internal address (PORTAL_WEBHOOK_ALLOW can allow it)",
                bad.ip()
            ));
        }
        addrs
            .first()
            .copied()
            .ok_or_else(|| format!("{host} has no address"))
    }
}

/// `Portal-Signature`'s value: `t={t},v1={hex HMAC-SHA256(secret, "{t}.{body}")}`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// The body of an event: the portal's JSON, or Slack's.
pub fn body(
    json_format: bool,
    id: &str,
    partner_id: u64,
    created: i64,
    demo: bool,
    message: &Rendered,
) -> Vec<u8> {
    let value = if json_format {
        serde_json::json!({
            "id": id,
            "type": message.event_type,
            "created": chrono::DateTime::from_timestamp(created, 0).map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            "partner_id": partner_id,
            "sandbox": demo,
            "summary": message.summary,
            "url": message.url,
            "data": message.data,
        })
    } else {
        serde_json::json!({ "text": message.slack })
    };
    serde_json::to_vec(&value).unwrap_or_default()
}

/// POSTs `body` to `url`, signed with `secret` at `now`: what the receiver answered.
pub async fn post(
    policy: &WebhookPolicy,
    url: &str,
    id: &str,
    secret: Option<&Secret<String>>,
    body: Vec<u8>,
    now: i64,
) -> Result<String, String> {
    let url = policy.check_form(url)?;
    let addr = policy.resolve(&url).await?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(WEBHOOK_TIMEOUT)
        .resolve(&host, addr)
        .user_agent(concat!("partner-portal/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("the request cannot be made: {e}"))?;
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Portal-Event-Id", id);
    if let Some(secret) = secret {
        request = request.header("Portal-Signature", signature(secret.expose(), now, &body));
    }
    let response = request.body(body).send().await.map_err(|e| {
        if e.is_timeout() {
            "the receiver did not answer within 10 s".to_owned()
        } else {
            format!("the receiver could not be reached: {}", e.without_url())
        }
    })?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let said: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    if status.is_success() {
        Ok(format!("the receiver answered {status}"))
    } else if status.is_redirection() {
        Err(format!(
            "the receiver answered {status}; webhooks do not follow redirects"
        ))
    } else {
        Err(format!("the receiver answered {status}: {said}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_unless_allowed() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "8.8.8.8",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
        let policy = WebhookPolicy {
            allow: vec![IpNet::parse("127.0.0.1").unwrap()],
            allow_http: true,
        };
        assert!(policy.allowed("127.0.0.1".parse().unwrap()));
        assert!(!policy.allowed("127.0.0.2".parse().unwrap()));
    }

    #[test]
    fn the_form_of_a_url_is_checked_before_any_lookup() {
        let strict = WebhookPolicy::default();
        assert!(strict.check_form("https://hooks.example.com/x").is_ok());
        assert!(strict.check_form("http://hooks.example.com/x").is_err());
        assert!(
            strict
                .check_form("https://user:pw@hooks.example.com/x")
                .is_err()
        );
        assert!(strict.check_form("ftp://hooks.example.com/x").is_err());
        assert!(strict.check_form("javascript:alert(1)").is_err());
    }

    #[tokio::test]
    async fn a_loopback_target_is_refused_at_send() {
        let policy = WebhookPolicy {
            allow: Vec::new(),
            allow_http: true,
        };
        for url in [
            "http://127.0.0.1:9/x",
            "http://[::1]:9/x",
            "http://localhost:9/x",
        ] {
            let err = post(&policy, url, "evt_1", None, b"{}".to_vec(), 0)
                .await
                .unwrap_err();
            assert!(err.starts_with("refused:"), "{url}: {err}");
        }
    }

    #[test]
    fn the_signature_is_stripes_scheme() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let sig = signature("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            sig,
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }
}
