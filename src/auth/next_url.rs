//! `next`: where to go after login. Only same-origin relative paths are kept (the
//! oauth2-proxy redirect validator's vectors); anything else falls back to `/`.

/// A validated same-origin path (with optional query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeNext(String);

impl SafeNext {
    /// Accepts `/path?query` only: one leading slash, no scheme, no authority, no backslashes,
    /// no control characters or whitespace. Everything else becomes `/`.
    pub fn parse(raw: &str) -> Self {
        let ok = raw.starts_with('/')
            && !raw.starts_with("//")
            && !raw.contains('\\')
            && !raw.chars().any(|c| c.is_control() || c.is_whitespace())
            && raw.len() <= 2048
            && !raw[1..].starts_with(['/', '\\'])
            && !decoded_is_unsafe(raw);
        Self(if ok { ascii_only(raw) } else { "/".to_owned() })
    }

    /// The path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Percent-encodes every non-ASCII character, so the path can go into a `Location` header as
/// it is (`/activations?q=Café` becomes `/activations?q=Caf%C3%A9`).
fn ascii_only(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// Percent-encoded tricks such as `/%2F%2Fevil.example` or `/%09/evil.example`.
fn decoded_is_unsafe(raw: &str) -> bool {
    let path = raw.split(['?', '#']).next().unwrap_or(raw);
    let decoded: String = url::form_urlencoded::parse(format!("p={path}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    decoded.starts_with("//")
        || decoded.contains('\\')
        || decoded.chars().any(|c| c.is_control())
        || decoded.get(1..).is_some_and(|rest| {
            rest.trim_start().starts_with('/') && rest.starts_with(char::is_whitespace)
        })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzzing::{CASES, text};

    #[test]
    fn open_redirect_vectors_fall_back_to_root() {
        for v in [
            "//evil.example",
            "/\\evil.example",
            "/%09/evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\u{b}\\evil.example",
            "/./\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "evil.example/x",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "///evil.example",
            "/ /evil.example",
            "",
        ] {
            assert_eq!(SafeNext::parse(v).as_str(), "/", "{v:?} should be refused");
        }
    }

    #[test]
    fn same_origin_paths_are_kept() {
        assert_eq!(
            SafeNext::parse("/activations?key=70&page=2").as_str(),
            "/activations?key=70&page=2"
        );
        assert_eq!(SafeNext::parse("/invoices").as_str(), "/invoices");
    }

    #[test]
    fn non_ascii_paths_are_percent_encoded_for_the_location_header() {
        assert_eq!(
            SafeNext::parse("/activations?q=Café").as_str(),
            "/activations?q=Caf%C3%A9"
        );
        assert!(axum::http::HeaderValue::from_str(SafeNext::parse("/ä/ö?x=€").as_str()).is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_next_is_a_same_origin_path_and_reading_it_again_keeps_it(raw in text()) {
            let next = SafeNext::parse(&raw);
            let path = next.as_str();
            prop_assert!(path.starts_with('/') && !path.starts_with("//"), "{:?}", path);
            prop_assert!(!path.contains('\\') && path.is_ascii(), "{:?}", path);
            prop_assert!(!path.chars().any(|c| c.is_control() || c.is_whitespace()));
            prop_assert!(axum::http::HeaderValue::from_str(path).is_ok());
            prop_assert_eq!(SafeNext::parse(path), next.clone());
            let joined = format!("/x{}", raw);
            prop_assert_eq!(SafeNext::parse(SafeNext::parse(&joined).as_str()), SafeNext::parse(&joined));
        }
    }
}
