//! How a search term finds its rows: SQLite's FTS5 trigram table (migration 0008), or
//! `search LIKE` (which PostgreSQL's pg_trgm index serves where installed), and, for one page
//! on SQLite, which of the two reads fewer rows.

use crate::db::{Bind, Dialect, Sql};

/// How a search term finds its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matcher {
    /// SQLite's FTS5 trigram table lists the matching rows (migration 0008).
    Trigram,
    /// `search LIKE`: on PostgreSQL its trigram index serves it where installed; on SQLite it
    /// checks the rows a sort index walks, which finds a common term's page in a few rows.
    Like,
}

impl From<Dialect> for Matcher {
    fn from(d: Dialect) -> Self {
        match d {
            Dialect::Sqlite => Self::Trigram,
            Dialect::Postgres => Self::Like,
        }
    }
}

/// `%term%`, lowercased, with LIKE's wildcards escaped by `\`.
pub(super) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The search term, when the trigram index can serve it: three characters or more (a trigram
/// cannot match less), and no LIKE wildcard to escape (FTS5's LIKE takes no ESCAPE).
pub(super) fn trigram_term(s: &str) -> Option<String> {
    (s.chars().count() >= 3 && !s.contains(['%', '_', '\\']))
        .then(|| format!("%{}%", s.to_lowercase()))
}

/// Whether walking a sort index to the `wanted`-th of `matches` rows spread over `rows` reads
/// fewer rows than listing all the matches does.
pub(super) fn walk_is_cheaper(matches: i64, rows: i64, wanted: i64) -> bool {
    matches > 0 && wanted.saturating_mul(rows) / matches < matches
}

/// ` AND <the rows matching s>`.
pub(super) fn push_search(sql: &mut Sql, s: &str, matcher: Matcher) {
    match (matcher, trigram_term(s)) {
        (Matcher::Trigram, Some(term)) => {
            sql.push(" AND rowid IN (SELECT rowid FROM activations_search WHERE search LIKE ")
                .bind(Bind::Text(term))
                .push(")");
        }
        _ => {
            sql.push(" AND search LIKE ")
                .bind(Bind::Text(escape_like(s)))
                .push(" ESCAPE '\\'");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards_and_lowercase() {
        assert_eq!(escape_like("Ab%_\\"), "%ab\\%\\_\\\\%");
    }

    #[test]
    fn a_common_term_walks_and_a_rare_one_reads_the_trigram_index() {
        // 30,000 of 100,000 rows match: page 1 is found within about 67 rows.
        assert!(walk_is_cheaper(30_000, 100_000, 20));
        // 40 matches: a walk would read about 50,000 rows for page 1.
        assert!(!walk_is_cheaper(40, 100_000, 20));
        // A deep page of a common term: the walk reads 66,000 rows, more than the 30,000 matches.
        assert!(!walk_is_cheaper(30_000, 100_000, 20_000));
        assert!(!walk_is_cheaper(0, 100_000, 20));
    }

    #[test]
    fn the_trigram_index_serves_three_characters_without_wildcards() {
        assert_eq!(trigram_term("Yoga").as_deref(), Some("%yoga%"));
        assert_eq!(trigram_term("yo"), None);
        assert_eq!(trigram_term("50%_off"), None);
        assert_eq!(trigram_term("a\\b"), None);
    }
}
