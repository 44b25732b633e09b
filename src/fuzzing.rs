//! What the property tests of every parser share (tests only): the inputs found at the edges,
//! as fixed seeds, and strategies that mix them with random text.
//!
//! Each parser's own module runs its properties (no panic, and a parse–print–parse round trip
//! that is stable) over [`CASES`] cases, in `cargo test` and so in CI.

use proptest::prelude::*;

/// Cases per property: a few thousand, a second or two each.
pub const CASES: u32 = 3_000;

/// The inputs that broke something once, or sit at an edge: control characters, integers at
/// and past their limits, redirects and paths of every shape, entity-encoded and hostile text.
pub const SEEDS: &[&str] = &[
    "",
    " ",
    "abc\0",
    "\0",
    "ba\0kery",
    "\u{1}\u{1f}\u{7f}\u{85}\u{2028}",
    "\t\r\n",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551616",
    "4294967296",
    "-1",
    "0",
    "1e3",
    "NaN",
    "//join/secret",
    "/join/secret",
    "/%6Aoin/secret",
    "//evil.example",
    "/\\evil.example",
    "/%09/evil.example",
    "/%2F%2Fevil.example",
    "javascript:alert(1)",
    "<script>alert(1)</script>",
    "=HYPERLINK(\"http://evil.example\")",
    "Smith &amp; Sons &#8217; caf&eacute;",
    "2026-02-30",
    "2026-12-01 00:00:00",
    "0000-00-00 00:00:00",
    "+275760-09-13",
    "1551398400",
    "%",
    "_",
    "\\",
    "'",
    "\"",
    "a%00b",
    "q=abc%00&page=9223372036854775807",
    "plan[]=2005&plan[0]=personal&plans=a,b",
    "Ünïcödé ✓ 😀",
];

/// A seed, or random text of any characters.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(SEEDS).prop_map(str::to_owned),
        any::<String>(),
        "[ -~]{0,40}",
    ]
}

/// Words the portal's queries understand, so that generated queries are often valid and the
/// round trips see every field set.
const WORDS: &[&str] = &[
    "all",
    "active",
    "cancelled",
    "asc",
    "desc",
    "site",
    "product",
    "activated",
    "created",
    "this_month",
    "last_month",
    "last_30_days",
    "this_year",
    "custom",
    "personal",
    "2005",
    "2000",
    "jetpack_security_daily",
    "sign_in",
    "csv_download",
    "month",
    "year",
    "day",
];

/// A value for a query field: a seed or random text, a number, a date, or a word the portal
/// understands.
pub fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        text(),
        (0u32..1_200).prop_map(|n| n.to_string()),
        (1990i32..2040, 1u32..13, 1u32..32).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
        prop::sample::select(WORDS).prop_map(str::to_owned),
    ]
}

/// A query string: seeds, random text, and `name=value` pairs over the names the portal reads,
/// values drawn from [`value`] and percent-encoded or not.
pub fn query(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    let pair =
        (prop::sample::select(names), value(), any::<bool>()).prop_map(|(name, value, encode)| {
            if encode {
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair(name, &value)
                    .finish()
            } else {
                format!("{name}={value}")
            }
        });
    prop_oneof![
        text(),
        prop::collection::vec(pair, 0..8).prop_map(|pairs| pairs.join("&")),
    ]
}
