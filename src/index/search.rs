//! How a search term finds its rows: SQLite's FTS5 trigram table (migration 0008), or
//! `search LIKE` (which PostgreSQL's pg_trgm index serves where installed), and, for one page
//! on SQLite, which of the two reads fewer rows.

use crate::db::{Bind, Dialect, Sql};

/// A large copy's search counts are split into this many parts or fewer, counted at once on
/// their own connections. On SQLite each match is read by row id (about 0.8 µs a row), so a
/// common term at 1,000,000 activations ("bakery", 84,000 matches) took 84 ms on one core and
/// about 40 in two parts (a Python model of the statement; the bench has the portal's). On
/// PostgreSQL each part of the narrow [`facets_table`](super::copies::facets_table) has its own
/// trigram index.
const SEARCH_PARTS_AT_MOST: usize = 4;

/// Copies with fewer rows than this count a search in one statement.
const SEARCH_PARTS_FROM: i64 = 200_000;

/// The parts a search's counts over a copy of `rows` rows are split into: one per core (two to
/// [`SEARCH_PARTS_AT_MOST`]) from [`SEARCH_PARTS_FROM`] rows, else one.
pub(super) fn search_part_count(rows: i64) -> usize {
    if rows < SEARCH_PARTS_FROM {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(2, usize::from)
        .clamp(2, SEARCH_PARTS_AT_MOST)
}

/// How a search term finds its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matcher {
    /// SQLite's FTS5 trigram table lists the rows holding every trigram of the term (migration
    /// 0008), and `search LIKE` confirms them.
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

/// The trigram index's query for a search term of three characters or more (a trigram cannot
/// match less): every trigram of the lowercased term, each a quoted FTS5 string, all required.
/// It lists the rows that hold every trigram from the index's postings alone, without reading
/// a row; `search LIKE` then confirms the substring on the rows read anyway. (Through FTS5's own
/// LIKE, a `detail=none` table read each candidate's text to confirm it, and the query then
/// read the same row again: two reads per match.)
pub(super) fn trigram_term(s: &str) -> Option<String> {
    let chars: Vec<char> = s.to_lowercase().chars().collect();
    if chars.len() < 3 {
        return None;
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut terms = Vec::new();
    // FTS5's query parser stops at a NUL: a trigram holding one is left to LIKE to confirm.
    for w in chars.windows(3).filter(|w| !w.contains(&'\0')) {
        let gram: String = w.iter().collect();
        if seen.insert(gram.clone()) {
            terms.push(format!("\"{}\"", gram.replace('"', "\"\"")));
        }
    }
    (!terms.is_empty()).then(|| terms.join(" AND "))
}

/// Whether walking a sort index to the `wanted`-th of `matches` rows spread over `rows` reads
/// fewer rows than listing all the matches does.
pub(super) fn walk_is_cheaper(matches: i64, rows: i64, wanted: i64) -> bool {
    matches > 0 && wanted.saturating_mul(rows) / matches < matches
}

/// ` AND <the rows matching s>`, `trigrams` naming the copy's trigram table; with `part`, only
/// the rows whose row id is in `(from, to]` (the trigram table seeks to them itself).
pub(super) fn push_search(
    sql: &mut Sql,
    s: &str,
    matcher: Matcher,
    trigrams: &str,
    part: Option<(i64, i64)>,
) {
    if let (Matcher::Trigram, Some(query)) = (matcher, trigram_term(s)) {
        sql.push(&format!(
            " AND rowid IN (SELECT rowid FROM {trigrams} WHERE {trigrams} MATCH "
        ))
        .bind(Bind::Text(query));
        if let Some((from, to)) = part {
            sql.push(" AND rowid > ")
                .bind(Bind::Int(from))
                .push(" AND rowid <= ")
                .bind(Bind::Int(to));
        }
        sql.push(")");
    }
    sql.push(" AND search LIKE ")
        .bind(Bind::Text(escape_like(s)))
        .push(" ESCAPE '\\'");
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
    fn the_trigram_query_requires_every_trigram_of_three_characters_or_more() {
        assert_eq!(trigram_term("Yoga").as_deref(), Some("\"yog\" AND \"oga\""));
        assert_eq!(trigram_term("yo"), None);
        // Wildcards are plain characters here (LIKE confirms with its escapes); quotes double.
        assert_eq!(trigram_term("5%_").as_deref(), Some("\"5%_\""));
        assert_eq!(trigram_term("a\"b").as_deref(), Some("\"a\"\"b\""));
        // A repeated trigram is asked once.
        assert_eq!(trigram_term("aaaa").as_deref(), Some("\"aaa\""));
        // A NUL never reaches FTS5's parser, which would stop at it.
        assert_eq!(trigram_term("abc\0").as_deref(), Some("\"abc\""));
        assert_eq!(trigram_term("ab\0"), None);
    }
}
