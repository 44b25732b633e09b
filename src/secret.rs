//! Secrets that must never reach logs, HTML, URLs or error messages.
//!
//! [`Secret`] wraps a value and prints `[redacted]` for both `Debug` and `Display`. Reading the
//! value needs an explicit [`Secret::expose`], which keeps every use easy to find in review.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A value whose formatting is always redacted.
///
/// It serialises transparently because the session store must persist the bearer token; the
/// store is server-side only and never rendered.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Returns the secret value. Call it only where the value is sent to its one destination.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Returns `n` random bytes encoded as unpadded base64url, from the operating system's CSPRNG.
pub fn random_token(n: usize) -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares two strings in time independent of where they first differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Authenticated encryption (XChaCha20-Poly1305) of values kept at rest: session data and team
/// connections' tokens. Each sealed value is bound to its `aad` (a session id, a partner id), so
/// a value copied to another row does not open. The text form is `v1.` + base64 of nonce and
/// ciphertext.
///
/// Values are sealed with the current key and opened with it or with a previous one, so the
/// key can be rotated without logging anyone out (`PORTAL_SESSION_KEY_PREVIOUS`).
#[derive(Clone)]
pub struct Sealer {
    current: std::sync::Arc<chacha20poly1305::XChaCha20Poly1305>,
    previous: Vec<std::sync::Arc<chacha20poly1305::XChaCha20Poly1305>>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

/// Prefix of sealed values (format version 1).
const SEALED: &str = "v1.";

impl Sealer {
    /// A sealer with `key`.
    pub fn new(key: &[u8; 32]) -> Self {
        Self::rotating(key, &[])
    }

    /// A sealer that seals with `key` and also opens what `previous` keys sealed.
    pub fn rotating(key: &[u8; 32], previous: &[[u8; 32]]) -> Self {
        use chacha20poly1305::KeyInit as _;
        let cipher =
            |k: &[u8; 32]| std::sync::Arc::new(chacha20poly1305::XChaCha20Poly1305::new(k.into()));
        Self {
            current: cipher(key),
            previous: previous.iter().map(cipher).collect(),
        }
    }

    /// Whether previous keys are configured (values sealed with them should be sealed again).
    pub fn is_rotating(&self) -> bool {
        !self.previous.is_empty()
    }

    /// Encrypts `plain`, bound to `aad`.
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> Option<String> {
        use base64::Engine as _;
        use chacha20poly1305::aead::{Aead as _, Payload};
        use rand::RngCore as _;
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .current
            .encrypt(
                chacha20poly1305::XNonce::from_slice(&nonce),
                Payload { msg: plain, aad },
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Some(format!(
            "{SEALED}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
        ))
    }

    /// Decrypts what [`Sealer::seal`] made with the current or a previous key and the same
    /// `aad`; `None` otherwise.
    pub fn open(&self, stored: &str, aad: &[u8]) -> Option<Vec<u8>> {
        self.open_with(stored, aad).map(|(plain, _)| plain)
    }

    /// [`Sealer::open`], and whether the current key opened it (else a previous one did, and
    /// the value should be sealed again).
    pub fn open_with(&self, stored: &str, aad: &[u8]) -> Option<(Vec<u8>, bool)> {
        use base64::Engine as _;
        use chacha20poly1305::aead::{Aead as _, Payload};
        let raw = stored.strip_prefix(SEALED)?;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(raw)
            .ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(24);
        let nonce = chacha20poly1305::XNonce::from_slice(nonce);
        std::iter::once(&self.current)
            .chain(&self.previous)
            .enumerate()
            .find_map(|(i, cipher)| {
                cipher
                    .decrypt(nonce, Payload { msg: sealed, aad })
                    .ok()
                    .map(|plain| (plain, i == 0))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("tok#^@en".to_owned());
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(s.expose(), "tok#^@en");
    }

    #[test]
    fn random_tokens_carry_the_requested_entropy() {
        let t = random_token(16);
        assert_eq!(t.len(), 22);
        assert_ne!(t, random_token(16));
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_aad() {
        let a = Sealer::new(&[7; 32]);
        let sealed = a.seal(b"token", b"partner:1").unwrap();
        assert!(!sealed.contains("token"));
        assert_eq!(a.open(&sealed, b"partner:1").unwrap(), b"token");
        assert!(a.open(&sealed, b"partner:2").is_none());
        assert!(Sealer::new(&[8; 32]).open(&sealed, b"partner:1").is_none());
        assert!(a.open("v1.xx", b"partner:1").is_none());
    }

    #[test]
    fn a_rotated_key_still_opens_what_the_previous_one_sealed() {
        let old = Sealer::new(&[7; 32]);
        let sealed = old.seal(b"token", b"partner:1").unwrap();
        let rotated = Sealer::rotating(&[9; 32], &[[7; 32]]);
        assert_eq!(
            rotated.open_with(&sealed, b"partner:1"),
            Some((b"token".to_vec(), false))
        );
        let again = rotated.seal(b"token", b"partner:1").unwrap();
        assert_eq!(
            rotated.open_with(&again, b"partner:1"),
            Some((b"token".to_vec(), true))
        );
        assert!(
            old.open(&again, b"partner:1").is_none(),
            "sealed with the new key"
        );
        assert!(Sealer::new(&[9; 32]).open(&sealed, b"partner:1").is_none());
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
