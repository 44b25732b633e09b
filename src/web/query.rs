//! Query strings with repeated keys and PHP array spellings (`plans[]=a&plans[]=b`), which
//! axum's `Query` cannot read, parsed once into pairs.

use chrono::NaiveDate;

use crate::{error::AppError, upstream::Scale};

/// The decoded pairs of a query string.
#[derive(Debug, Clone, Default)]
pub struct Pairs(Vec<(String, String)>);

/// `s` with each control character replaced by a space.
fn without_controls(s: std::borrow::Cow<'_, str>) -> String {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    } else {
        s.into_owned()
    }
}

impl Pairs {
    /// Parses a raw query string. Control characters in names and values (a NUL, a line
    /// break, an escape) become spaces: nothing the portal reads from a query is meant to hold
    /// one, and a NUL cut a search term short inside SQLite's FTS5 parser.
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (without_controls(k), without_controls(v)))
                .collect(),
        )
    }

    /// Every pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The last non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, `name[]` or `name[N]`, comma lists split.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k.split('[').next() == Some(name))
            .flat_map(|(_, v)| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .collect::<Vec<_>>()
            })
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// An integer in `min..=max`, or `default` when absent.
    pub fn int(&self, name: &str, default: u32, min: u32, max: u32) -> Result<u32, AppError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    AppError::BadRequest(format!(
                        "{name} must be a whole number from {min} to {max}."
                    ))
                }),
        }
    }

    /// The selected key id, if given.
    pub fn key(&self) -> Result<Option<u64>, AppError> {
        self.get("key")
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| AppError::BadRequest("key must be a key id.".into()))
            })
            .transpose()
    }

    /// The summary `scale` (`day`, `month` or `year`); `month` when absent.
    pub fn scale(&self) -> Result<Scale, AppError> {
        self.get("scale").map_or(Ok(Scale::Month), |s| {
            Scale::parse(s)
                .ok_or_else(|| AppError::BadRequest("scale must be day, month or year.".into()))
        })
    }

    /// A `YYYY-MM-DD` date, if given.
    pub fn date(&self, name: &str) -> Result<Option<NaiveDate>, AppError> {
        self.get(name)
            .map(|v| {
                NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").map_err(|_| {
                    AppError::BadRequest(format!("{name} must be a date like 2024-03-31."))
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzzing::{CASES, text};

    #[test]
    fn control_characters_become_spaces() {
        let q = Pairs::parse(Some("q=abc%00&x%01y=1&t=a%09b"));
        assert_eq!(q.get("q"), Some("abc "));
        assert_eq!(q.get("x y"), Some("1"));
        assert_eq!(q.get("t"), Some("a b"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn dates_and_numbers_read_back_as_they_print(raw in text()) {
            let q = Pairs::parse(Some(&format!(
                "d={}",
                url::form_urlencoded::byte_serialize(raw.as_bytes()).collect::<String>()
            )));
            prop_assert!(q.get("d").is_none_or(|v| !v.chars().any(char::is_control)));
            if let Ok(Some(d)) = q.date("d") {
                let again = Pairs::parse(Some(&format!("d={d}"))).date("d");
                prop_assert_eq!(again.ok().flatten(), Some(d));
            }
            if let Ok(n) = q.int("d", 1, 1, 10_000_000) {
                let again = Pairs::parse(Some(&format!("d={n}"))).int("d", 1, 1, 10_000_000);
                prop_assert_eq!(again.ok(), Some(n));
            }
            let _ = (q.key(), q.scale(), q.all("d"));
        }
    }
}
