//! The few static assets, embedded in the binary, under content-hashed names.
//!
//! Pages link `/static/app.<hash>.css`: the hash is the first 12 hex digits of the file's
//! SHA-256, so a browser may keep it for a year (`immutable`) and a new build is fetched at
//! once. The plain name (`/static/app.css`) still answers, with a short cache, for anything
//! that links it by hand.

use std::sync::OnceLock;

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use sha2::{Digest as _, Sha256};

use crate::error::AppError;

/// One embedded file.
struct Asset {
    /// `app.css`.
    name: &'static str,
    body: &'static [u8],
    content_type: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        body: include_bytes!("../../static/app.css"),
        content_type: "text/css; charset=utf-8",
    },
    Asset {
        name: "app.js",
        body: include_bytes!("../../static/app.js"),
        content_type: "text/javascript; charset=utf-8",
    },
    Asset {
        name: "favicon.svg",
        body: include_bytes!("../../static/favicon.svg"),
        content_type: "image/svg+xml",
    },
];

/// A year, the longest `max-age` caches honour.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For plain names and names of another build.
const SHORT: &str = "public, max-age=3600";

/// The first 12 hex digits of the SHA-256 of `body`.
pub fn fingerprint(body: &[u8]) -> String {
    Sha256::digest(body)
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The content-hashed file name of each asset, computed once.
fn hashed_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let (stem, ext) = a.name.rsplit_once('.').unwrap_or((a.name, ""));
                format!("{stem}.{}.{ext}", fingerprint(a.body))
            })
            .collect()
    })
}

/// The name pages link for `name` (`app.css` → `app.0123456789ab.css`).
pub fn versioned(name: &str) -> &str {
    ASSETS
        .iter()
        .position(|a| a.name == name)
        .and_then(|i| hashed_names().get(i))
        .map_or(name, String::as_str)
}

/// `GET /static/{file}`: an embedded asset by its hashed name (cached for a year) or its plain
/// name (cached for an hour). A hash of another build (a page from a replica running another
/// version) gets today's file with the short cache, never under a name that says "forever".
pub async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    if let Some(i) = hashed_names().iter().position(|n| *n == file) {
        return asset(&ASSETS[i], IMMUTABLE);
    }
    if let Some(a) = ASSETS.iter().find(|a| a.name == file) {
        return asset(a, SHORT);
    }
    let other_build = file.split('.').collect::<Vec<_>>();
    if let [stem, hash, ext] = other_build.as_slice()
        && hash.len() == 12
        && let Some(a) = ASSETS.iter().find(|a| a.name == format!("{stem}.{ext}"))
    {
        return asset(a, SHORT);
    }
    AppError::not_found("File not found", "There is no such file.").into_response()
}

/// `GET /favicon.ico`: what a browser asks for before it has read a page (and for pages
/// without HTML, such as a JSON answer).
pub async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/x-icon"),
            (header::CACHE_CONTROL, SHORT),
        ],
        include_bytes!("../../static/favicon.ico").as_slice(),
    )
        .into_response()
}

fn asset(a: &Asset, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, a.content_type),
            (header::CACHE_CONTROL, cache),
        ],
        a.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_content_hash() {
        let css = versioned("app.css");
        assert!(
            css.starts_with("app.") && css.ends_with(".css") && css.len() == 20,
            "{css}"
        );
        assert_eq!(
            &css[4..16],
            fingerprint(include_bytes!("../../static/app.css"))
        );
        assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
        assert_eq!(versioned("nope.css"), "nope.css");
    }
}
