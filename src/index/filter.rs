//! What a view asks of the copy: which rows, in which order.

/// Status tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// Every activation.
    #[default]
    All,
    /// Not cancelled.
    Active,
    /// Cancelled.
    Cancelled,
}

/// Sort column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// Site name.
    Site,
    /// Product name.
    Product,
    /// Activation date.
    #[default]
    Activated,
    /// Creation date.
    Created,
    /// Cancellation date.
    Cancelled,
}

impl SortBy {
    /// Every sort column.
    pub const ALL: [Self; 5] = [
        Self::Site,
        Self::Product,
        Self::Activated,
        Self::Created,
        Self::Cancelled,
    ];

    /// The query-string value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Site => "site",
            Self::Product => "product",
            Self::Activated => "activated",
            Self::Created => "created",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the query-string value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Which rows, in which order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Part of the site name or URL, any case.
    pub search: Option<String>,
    /// Status tab.
    pub status: Status,
    /// Product ids (provisioned or current).
    pub plans: Vec<i64>,
    /// Current product ids only (exact reconciliation click-throughs).
    pub current_plans: Vec<i64>,
    /// Activated at or after (Unix seconds).
    pub activated_from: Option<i64>,
    /// Activated before (Unix seconds).
    pub activated_to: Option<i64>,
    /// Active at some moment in `[active_from, active_to)`.
    pub active_during: Option<(i64, i64)>,
    /// Cancelled at or after (Unix seconds).
    pub cancelled_from: Option<i64>,
    /// Cancelled before (Unix seconds).
    pub cancelled_to: Option<i64>,
    /// Sort column.
    pub sort: SortBy,
    /// Descending.
    pub desc: bool,
}

impl Filter {
    /// Whether it leaves out some of the key's rows (a search, a tab, plans or dates).
    pub fn narrows(&self) -> bool {
        self.search.as_deref().is_some_and(|s| !s.trim().is_empty())
            || self.status != Status::All
            || !self.plans.is_empty()
            || !self.current_plans.is_empty()
            || self.activated_from.is_some()
            || self.activated_to.is_some()
            || self.active_during.is_some()
            || self.cancelled_from.is_some()
            || self.cancelled_to.is_some()
    }
}
