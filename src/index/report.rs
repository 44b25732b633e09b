//! What a copy saw of WordPress.com's paging, and the sentence every view of the key shows when
//! the copy does not hold what WordPress.com reported.

/// What one copy saw of WordPress.com's paging.
#[derive(Debug, Clone)]
pub(super) struct CopyReport {
    /// Rows per page asked for.
    pub asked: u32,
    /// Rows per page WordPress.com honoured.
    pub honoured: u32,
    /// The total of the first page.
    pub first_total: u64,
    /// The total of the last page received.
    pub latest_total: u64,
    /// Rows received, repeats included.
    pub received: u64,
    /// Distinct rows stored.
    pub stored: u64,
    /// Why paging stopped early, if it did.
    pub stop: Option<Stop>,
    /// Pages fetched again when the copy resumed.
    pub fetched_again: u32,
}

/// Why a copy stopped before reaching the reported total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// This page came back empty.
    EmptyPage(u32),
    /// Pages up to this one added no new rows.
    NoNewRows(u32),
}

impl CopyReport {
    pub fn new(asked: u32, total: u64) -> Self {
        Self {
            asked,
            honoured: asked,
            first_total: total,
            latest_total: total,
            received: 0,
            stored: 0,
            stop: None,
            fetched_again: 0,
        }
    }

    pub fn saw(&mut self, rows: usize, total: u64) {
        self.received += rows as u64;
        self.latest_total = total;
    }

    /// A sentence on how the pages came back, when anything was out of the ordinary.
    pub fn note(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.honoured < self.asked {
            parts.push(format!(
                "WordPress.com sent at most {} activations per page (the portal asked for {}).",
                self.honoured, self.asked
            ));
        }
        if self.first_total != self.latest_total {
            parts.push(format!(
                "The total it reported changed from {} to {} during the copy.",
                self.first_total, self.latest_total
            ));
        }
        let repeated = self.received.saturating_sub(self.stored);
        if repeated > 0 {
            parts.push(format!(
                "{repeated} rows came more than once and were kept once."
            ));
        }
        match self.stop {
            Some(Stop::EmptyPage(page)) => parts.push(format!(
                "Page {page} came back empty before the reported total was reached."
            )),
            Some(Stop::NoNewRows(page)) => parts.push(format!(
                "Pages up to {page} only repeated rows already copied, so the copy stopped there."
            )),
            None => {}
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// Logs (and counts) a copy that does not hold what WordPress.com reported.
    pub fn log_if_short(&self, key: u64) {
        if self.stored == self.latest_total {
            return;
        }
        crate::metrics::inc("portal_index_copy_mismatches_total", &[]);
        tracing::warn!(
            key,
            reported = self.latest_total,
            copied = self.stored,
            note = self.note().unwrap_or_default(),
            "the activations copy does not match WordPress.com's total"
        );
    }
}
