//! Which pages of WordPress.com's activations list a copy has stored, kept in the copy's row
//! of `key_syncs` as ranges (`1-37,39,41-44`) and written in the same transaction as the rows
//! of those pages: a copy that stops resumes by fetching exactly the pages that are not there.

use std::collections::BTreeSet;

/// A set of page numbers (1-based).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageSet(BTreeSet<u32>);

impl PageSet {
    /// Reads ranges as [`PageSet::to_text`] writes them; anything unreadable is left out (a
    /// page left out is fetched again, which costs a call and loses nothing).
    pub fn parse(text: &str) -> Self {
        let mut pages = BTreeSet::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (from, to) = part.split_once('-').unwrap_or((part, part));
            let (Ok(from), Ok(to)) = (from.trim().parse::<u32>(), to.trim().parse::<u32>()) else {
                continue;
            };
            // A range wider than any copy's pages is not one this portal wrote.
            if from == 0 || to < from || to - from > 1_000_000 {
                continue;
            }
            pages.extend(from..=to);
        }
        Self(pages)
    }

    /// The pages as ranges, `1-37,39`.
    pub fn to_text(&self) -> String {
        let mut out = Vec::new();
        let mut pages = self.0.iter().copied().peekable();
        while let Some(start) = pages.next() {
            let mut end = start;
            while pages.peek() == Some(&(end + 1)) {
                end += 1;
                pages.next();
            }
            out.push(if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            });
        }
        out.join(",")
    }

    /// Adds `pages`.
    pub fn extend(&mut self, pages: impl IntoIterator<Item = u32>) {
        self.0.extend(pages);
    }

    /// Whether `page` is stored.
    pub fn contains(&self, page: u32) -> bool {
        self.0.contains(&page)
    }

    /// How many pages are stored.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The pages of `1..=planned` not stored, in order.
    pub fn missing(&self, planned: u32) -> Vec<u32> {
        (1..=planned).filter(|p| !self.0.contains(p)).collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzzing::{CASES, text};

    #[test]
    fn ranges_are_short_and_read_back() {
        let mut pages = PageSet::default();
        pages.extend([1, 2, 3, 5, 7, 8, 9, 10]);
        assert_eq!(pages.to_text(), "1-3,5,7-10");
        assert_eq!(PageSet::parse("1-3,5,7-10"), pages);
        assert_eq!(pages.missing(11), vec![4, 6, 11]);
        assert_eq!(PageSet::parse("").len(), 0);
        assert_eq!(PageSet::parse("0,x,5-3,2").to_text(), "2");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_set_of_pages_reads_back_from_its_text(pages in prop::collection::btree_set(1u32..2_000, 0..300)) {
            let set = PageSet(pages.clone());
            let again = PageSet::parse(&set.to_text());
            prop_assert_eq!(&again, &set);
            prop_assert_eq!(again.missing(2_000).len() + pages.len(), 2_000);
        }

        #[test]
        fn any_text_reads_without_a_panic_and_prints_stably(raw in text()) {
            let set = PageSet::parse(&raw);
            prop_assert_eq!(PageSet::parse(&set.to_text()), set);
        }
    }
}
