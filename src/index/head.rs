//! The first page of each copy this process is making, as WordPress.com sent it. The overview
//! starts a key's first copy, so by the time a person opens the activations list the copy's
//! first call (1,000 rows, newest first) is usually back: a list view of rows within that page
//! is shown from it, and needs no WordPress.com call of its own (the preview of
//! `pages::activations` otherwise makes one per view). The page lives as long as the copy runs
//! here; another replica, or a view of rows past it, asks WordPress.com as before.

use std::sync::Arc;

use super::Index;
use crate::upstream::{Activation, ActivationsPage};

/// A running copy's first page.
#[derive(Debug)]
pub(super) struct Head {
    /// The total WordPress.com reported with it.
    total: u64,
    /// Its rows, in WordPress.com's order.
    rows: Vec<Activation>,
}

impl Head {
    /// WordPress.com's page `page` of `per_page` rows, when this page holds all of it: every
    /// row of it lies within this page, or this page is the whole list.
    fn page(&self, page: u32, per_page: u32) -> Option<ActivationsPage> {
        let per_page = usize::try_from(per_page).ok()?.max(1);
        let start = usize::try_from(page.max(1) - 1)
            .ok()?
            .checked_mul(per_page)?;
        let end = start.checked_add(per_page)?;
        let whole = self.rows.len() as u64 >= self.total;
        if end > self.rows.len() && !whole {
            return None;
        }
        let rows = self
            .rows
            .get(start..end.min(self.rows.len()))
            .unwrap_or(&[]);
        Some(ActivationsPage {
            total: self.total,
            activations: rows.to_vec(),
        })
    }
}

impl Index {
    /// Keeps `rows`, the first page of the copy of `key` this process runs, until it ends.
    pub(super) fn keep_head(&self, key: u64, total: u64, rows: &[Activation]) {
        let head = Arc::new(Head {
            total,
            rows: rows.to_vec(),
        });
        if let Some(slot) = self.local_copies().get_mut(&key) {
            *slot = Some(head);
        }
    }

    /// WordPress.com's page `page` of `per_page` rows of `key`, from the first page of the
    /// copy of `key` this process is making, when that page holds all of it.
    pub fn head_page(&self, key: u64, page: u32, per_page: u32) -> Option<ActivationsPage> {
        let head = self.local_copies().get(&key).cloned().flatten()?;
        head.page(page, per_page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(rows: u64, total: u64) -> Head {
        Head {
            total,
            rows: (1..=rows)
                .filter_map(|id| Activation::from_value(&serde_json::json!({ "id": id })))
                .collect(),
        }
    }

    fn ids(page: Option<ActivationsPage>) -> Option<Vec<u64>> {
        page.map(|p| p.activations.iter().map(|a| a.id).collect())
    }

    #[test]
    fn a_page_within_the_first_page_is_served_and_one_past_it_is_not() {
        let h = head(30, 150);
        assert_eq!(ids(h.page(1, 20)), Some((1..=20).collect()));
        assert_eq!(h.page(1, 20).map(|p| p.total), Some(150));
        assert_eq!(ids(h.page(3, 10)), Some((21..=30).collect()));
        assert_eq!(ids(h.page(2, 20)), None, "rows 21–40 are not all here");
        assert_eq!(ids(h.page(1, 50)), None);
        assert_eq!(
            ids(h.page(0, 20)),
            Some((1..=20).collect()),
            "page 0 is page 1"
        );
    }

    #[test]
    fn a_first_page_that_is_the_whole_list_serves_every_page() {
        let h = head(25, 25);
        assert_eq!(ids(h.page(2, 20)), Some((21..=25).collect()));
        assert_eq!(ids(h.page(4, 20)), Some(Vec::new()), "past the end: empty");
        assert_eq!(ids(head(0, 0).page(1, 20)), Some(Vec::new()));
    }
}
