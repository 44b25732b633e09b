//! The activations view as the query string spells it: parsing and validation, the index
//! filter it means, links that change one thing, and what an empty result says.

use chrono::{Datelike as _, Duration, NaiveDate};

use crate::{
    error::AppError,
    index::query::{Filter, SortBy, Status},
    products,
    web::{fmt_day, query::Pairs},
};

/// Page sizes offered.
pub const PAGE_SIZES: &[u32] = &[20, 50, 100, 500];

/// Date presets.
pub(super) const PRESETS: &[(&str, &str)] = &[
    ("this_month", "This month"),
    ("last_month", "Last month"),
    ("last_30_days", "Last 30 days"),
    ("this_year", "This year"),
];

/// The view, as read from the query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// Selected key.
    pub key: Option<u64>,
    /// Search text.
    pub q: String,
    /// Status tab.
    pub status: Status,
    /// Product ids.
    pub plans: Vec<u64>,
    /// Current product ids only.
    pub current_plans: Vec<u64>,
    /// Date preset.
    pub preset: Option<String>,
    /// Activated from (inclusive).
    pub from: Option<NaiveDate>,
    /// Activated to (inclusive).
    pub to: Option<NaiveDate>,
    /// Active at some point from (inclusive).
    pub active_from: Option<NaiveDate>,
    /// Active at some point to (exclusive).
    pub active_to: Option<NaiveDate>,
    /// Cancelled from (inclusive).
    pub cancelled_from: Option<NaiveDate>,
    /// Cancelled to (inclusive).
    pub cancelled_to: Option<NaiveDate>,
    /// Sort column.
    pub sort: SortBy,
    /// Descending.
    pub desc: bool,
    /// Page.
    pub page: u32,
    /// Page size.
    pub per_page: u32,
}

pub(super) fn status_str(s: Status) -> &'static str {
    match s {
        Status::All => "all",
        Status::Active => "active",
        Status::Cancelled => "cancelled",
    }
}

/// The value of a query field, or `default` with the reason noted.
fn noted<T>(read: Result<T, AppError>, default: T, problems: &mut Vec<String>) -> T {
    read.unwrap_or_else(|e| {
        problems.push(match e {
            AppError::BadRequest(m) => m,
            other => other.to_string(),
        });
        default
    })
}

fn midnight(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp())
}

/// `[start, end]` of a preset, as inclusive days, relative to `today`.
pub fn preset_range(preset: &str, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let month_start = today.with_day(1)?;
    match preset {
        "this_month" => Some((month_start, today)),
        "last_month" => {
            let end = month_start.pred_opt()?;
            Some((end.with_day(1)?, end))
        }
        "last_30_days" => Some((today - Duration::days(29), today)),
        "this_year" => Some((NaiveDate::from_ymd_opt(today.year(), 1, 1)?, today)),
        _ => None,
    }
}

impl View {
    /// Reads and validates the query, refusing the first thing that cannot be read (the CSV
    /// export, which cannot show a message beside its rows).
    pub fn parse(q: &Pairs) -> Result<Self, AppError> {
        let (view, problems) = Self::read(q);
        match problems.into_iter().next() {
            Some(first) => Err(AppError::BadRequest(first)),
            None => Ok(view),
        }
    }

    /// Reads the query. What cannot be read is left out of the view and said in the sentences
    /// returned beside it, so the list can show the rest with its form and the message inline.
    pub fn read(q: &Pairs) -> (Self, Vec<String>) {
        let mut problems = Vec::new();
        let mut plans = Vec::new();
        for p in q.all("plan") {
            match products::resolve(&p) {
                Some(id) => plans.push(id),
                None => problems.push(format!("There is no plan called “{p}”, so it is left out.")),
            }
        }
        let status = match q.get("status") {
            None | Some("all") => Status::All,
            Some("active") => Status::Active,
            Some("cancelled") => Status::Cancelled,
            Some(_) => {
                problems.push("The status must be all, active or cancelled; showing all.".into());
                Status::All
            }
        };
        let mut preset = q
            .get("preset")
            .filter(|p| *p != "custom")
            .map(str::to_owned);
        if let Some(p) = &preset
            && !PRESETS.iter().any(|(v, _)| v == p)
        {
            problems.push("That date preset is unknown, so no preset is applied.".into());
            preset = None;
        }
        let from = noted(q.date("from"), None, &mut problems);
        let to = noted(q.date("to"), None, &mut problems);
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            problems.push(format!(
                "The start date ({}) is after the end date ({}), so the dates are not applied. Swap them, or pick a preset.",
                fmt_day(&f),
                fmt_day(&t)
            ));
        }
        let cancelled_from = noted(q.date("cancelled_from"), None, &mut problems);
        let cancelled_to = noted(q.date("cancelled_to"), None, &mut problems);
        if let (Some(f), Some(t)) = (cancelled_from, cancelled_to)
            && f > t
        {
            problems.push(format!(
                "The first cancellation date ({}) is after the last ({}), so those dates are not applied.",
                fmt_day(&f),
                fmt_day(&t)
            ));
        }
        // Dates, when given, decide; a preset beside them is not in effect and is not shown.
        if from.is_some() || to.is_some() {
            preset = None;
        }
        let sort = match q.get("sort") {
            None => SortBy::Activated,
            Some(s) => SortBy::parse(s).unwrap_or_else(|| {
                problems.push("That sort column is unknown; sorting by activation date.".into());
                SortBy::Activated
            }),
        };
        let default_desc = sort != SortBy::Site && sort != SortBy::Product;
        let desc = match q.get("dir") {
            None => default_desc,
            Some("desc") => true,
            Some("asc") => false,
            Some(_) => {
                problems.push("The sort direction must be asc or desc.".into());
                default_desc
            }
        };
        let per_page = noted(q.int("per_page", 20, 1, 500), 20, &mut problems);
        let mut current_plans = Vec::new();
        for p in q.all("current_plan") {
            match p.parse::<u64>() {
                Ok(id) => current_plans.push(id),
                Err(_) => problems.push("current_plan must be product ids.".into()),
            }
        }
        let view = Self {
            key: q.key().ok().flatten(),
            q: q.get("q")
                .unwrap_or_default()
                .trim()
                .chars()
                .take(200)
                .collect(),
            status,
            plans,
            current_plans,
            preset,
            from,
            to,
            active_from: noted(q.date("active_from"), None, &mut problems),
            active_to: noted(q.date("active_to"), None, &mut problems),
            cancelled_from,
            cancelled_to,
            sort,
            desc,
            page: noted(q.int("page", 1, 1, 10_000_000), 1, &mut problems),
            per_page,
        };
        (view, problems)
    }

    /// Whether the activation dates are given the wrong way round (and so not applied).
    pub fn dates_reversed(&self) -> bool {
        matches!((self.from, self.to), (Some(f), Some(t)) if f > t)
    }

    /// Whether the cancellation dates are given the wrong way round (and so not applied).
    pub fn cancelled_reversed(&self) -> bool {
        matches!((self.cancelled_from, self.cancelled_to), (Some(f), Some(t)) if f > t)
    }

    /// The cancellation-date range in effect, as inclusive days.
    pub fn cancelled_range(&self) -> (Option<NaiveDate>, Option<NaiveDate>) {
        if self.cancelled_reversed() {
            (None, None)
        } else {
            (self.cancelled_from, self.cancelled_to)
        }
    }

    /// The activation-date range in effect: an explicit range wins over a preset.
    pub fn range(&self, today: NaiveDate) -> (Option<NaiveDate>, Option<NaiveDate>) {
        if self.dates_reversed() {
            return (None, None);
        }
        if self.from.is_some() || self.to.is_some() {
            return (self.from, self.to);
        }
        match self.preset.as_deref().and_then(|p| preset_range(p, today)) {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        }
    }

    /// The index filter.
    pub fn filter(&self, today: NaiveDate) -> Filter {
        let (from, to) = self.range(today);
        let (cancelled_from, cancelled_to) = self.cancelled_range();
        Filter {
            search: (!self.q.is_empty()).then(|| self.q.clone()),
            status: self.status,
            plans: self.plans.iter().map(|p| *p as i64).collect(),
            current_plans: self.current_plans.iter().map(|p| *p as i64).collect(),
            activated_from: from.map(midnight),
            activated_to: to.and_then(|d| d.succ_opt()).map(midnight),
            active_during: match (self.active_from, self.active_to) {
                (Some(a), Some(b)) => Some((midnight(a), midnight(b))),
                _ => None,
            },
            cancelled_from: cancelled_from.map(midnight),
            cancelled_to: cancelled_to.and_then(|d| d.succ_opt()).map(midnight),
            sort: self.sort,
            desc: self.desc,
        }
    }

    /// Whether anything narrows the list.
    pub fn narrowed(&self) -> bool {
        !self.q.is_empty()
            || !self.plans.is_empty()
            || !self.current_plans.is_empty()
            || self.preset.is_some()
            || self.from.is_some()
            || self.to.is_some()
            || self.active_from.is_some()
            || self.cancelled_from.is_some()
            || self.cancelled_to.is_some()
    }

    /// This view's query string after `change`, for links (pages reset to 1 unless changed).
    pub fn href(&self, path: &str, key: u64, change: impl FnOnce(&mut Self)) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in self.pairs(key, change) {
            s.append_pair(name, &value);
        }
        format!("{path}?{}", s.finish())
    }

    /// The query pairs of this view after `change` (pages reset to 1 unless changed): for
    /// links, and for the hidden fields of a form that changes one thing.
    pub fn pairs(&self, key: u64, change: impl FnOnce(&mut Self)) -> Vec<(&'static str, String)> {
        let mut v = self.clone();
        v.page = 1;
        change(&mut v);
        let mut s: Vec<(&'static str, String)> = vec![("key", key.to_string())];
        if !v.q.is_empty() {
            s.push(("q", v.q.clone()));
        }
        if v.status != Status::All {
            s.push(("status", status_str(v.status).to_owned()));
        }
        for p in &v.plans {
            s.push(("plan", p.to_string()));
        }
        for p in &v.current_plans {
            s.push(("current_plan", p.to_string()));
        }
        if let Some(p) = &v.preset {
            s.push(("preset", p.clone()));
        }
        for (name, d) in [
            ("from", v.from),
            ("to", v.to),
            ("active_from", v.active_from),
            ("active_to", v.active_to),
            ("cancelled_from", v.cancelled_from),
            ("cancelled_to", v.cancelled_to),
        ] {
            if let Some(d) = d {
                s.push((name, d.to_string()));
            }
        }
        if v.sort != SortBy::Activated || !v.desc {
            s.push(("sort", v.sort.as_str().to_owned()));
            s.push(("dir", (if v.desc { "desc" } else { "asc" }).to_owned()));
        }
        if v.per_page != 20 {
            s.push(("per_page", v.per_page.to_string()));
        }
        if v.page > 1 {
            s.push(("page", v.page.to_string()));
        }
        s
    }

    /// What an empty result says: what was asked for, and what to change.
    pub fn empty_message(&self, today: NaiveDate) -> String {
        let view = self;
        let what = match view.status {
            Status::All => "activations",
            Status::Active => "active activations",
            Status::Cancelled => "cancelled activations",
        };
        let (from, to) = view.range(today);
        let when = match (from, to) {
            (Some(a), Some(b))
                if a.day() == 1
                    && b.succ_opt().is_some_and(|n| n.day() == 1)
                    && a.month() == b.month() =>
            {
                format!(" in {}", a.format("%B %Y"))
            }
            (Some(a), Some(b)) => format!(" in {}", crate::web::fmt_days(a, b, true)),
            (Some(a), None) => format!(" since {}", fmt_day(&a)),
            (None, Some(b)) => format!(" until {}", fmt_day(&b)),
            (None, None) => String::new(),
        };
        let cancelled = match self.cancelled_range() {
            (Some(a), Some(b)) => format!(" cancelled {}", crate::web::fmt_days(a, b, true)),
            (Some(a), None) => format!(" cancelled since {}", fmt_day(&a)),
            (None, Some(b)) => format!(" cancelled by {}", fmt_day(&b)),
            (None, None) => String::new(),
        };
        let search = if view.q.is_empty() {
            String::new()
        } else {
            format!(" matching “{}”", view.q)
        };
        let hint = if from.is_some() || to.is_some() || !cancelled.is_empty() {
            " — widen the dates"
        } else if !view.q.is_empty() {
            " — try part of the site name or address"
        } else if !view.plans.is_empty() {
            " — pick more plans"
        } else {
            ""
        };
        format!("No {what}{search}{when}{cancelled}{hint}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::{CASES, query};
    use proptest::prelude::*;

    #[test]
    fn presets_cover_whole_periods() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(
            preset_range("this_month", today),
            Some((d(2026, 3, 1), today))
        );
        assert_eq!(
            preset_range("last_month", today),
            Some((d(2026, 2, 1), d(2026, 2, 28)))
        );
        assert_eq!(
            preset_range("last_30_days", today),
            Some((d(2026, 2, 14), today))
        );
        assert_eq!(
            preset_range("this_year", today),
            Some((d(2026, 1, 1), today))
        );
        assert_eq!(
            preset_range("last_month", d(2026, 1, 5)),
            Some((d(2025, 12, 1), d(2025, 12, 31)))
        );
    }

    #[test]
    fn views_round_trip_through_their_links() {
        let q = Pairs::parse(Some(
            "key=70&q=bakery&status=cancelled&plan=personal&plan=2106&preset=last_month&sort=site&dir=asc&per_page=50&page=3",
        ));
        let v = View::parse(&q).unwrap();
        let href = v.href("/activations", 70, |x| x.page = 3);
        let again = View::parse(&Pairs::parse(href.split_once('?').map(|(_, q)| q))).unwrap();
        assert_eq!(again, View { key: Some(70), ..v });
    }

    #[test]
    fn invalid_views_are_refused() {
        for bad in [
            "status=gone",
            "sort=size",
            "dir=up",
            "preset=someday",
            "per_page=0",
            "plan=nope",
            "from=2024-05-01&to=2024-04-01",
        ] {
            assert!(View::parse(&Pairs::parse(Some(bad))).is_err(), "{bad}");
        }
    }

    #[test]
    fn what_cannot_be_read_is_left_out_and_said() {
        let (v, problems) = View::read(&Pairs::parse(Some(
            "q=bakery&from=2026-05-01&to=2026-04-01&plan=nope&plan=personal&page=x",
        )));
        assert_eq!(v.q, "bakery");
        assert_eq!(v.plans, vec![2005]);
        assert_eq!(v.page, 1);
        assert!(v.dates_reversed());
        assert_eq!(
            v.range(NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()),
            (None, None)
        );
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[1]
                .starts_with("The start date (1 May 2026) is after the end date (1 Apr 2026)")
        );
    }

    #[test]
    fn dates_decide_over_a_preset_so_only_one_looks_chosen() {
        let v = View::parse(&Pairs::parse(Some(
            "preset=this_year&from=2026-01-05&to=2026-02-01",
        )))
        .unwrap();
        assert_eq!(v.preset, None);
        let custom = View::parse(&Pairs::parse(Some("preset=custom"))).unwrap();
        assert_eq!(custom.preset, None);
    }

    #[test]
    fn empty_states_say_what_to_change() {
        let today = NaiveDate::from_ymd_opt(2026, 4, 10).unwrap();
        let v = View {
            status: Status::Cancelled,
            from: NaiveDate::from_ymd_opt(2026, 3, 1),
            to: NaiveDate::from_ymd_opt(2026, 3, 31),
            ..View::default()
        };
        assert_eq!(
            v.empty_message(today),
            "No cancelled activations in March 2026 — widen the dates."
        );
    }

    /// The names the view reads, for the generated queries.
    const NAMES: &[&str] = &[
        "key",
        "q",
        "status",
        "plan",
        "plan[]",
        "current_plan",
        "preset",
        "from",
        "to",
        "active_from",
        "active_to",
        "cancelled_from",
        "cancelled_to",
        "sort",
        "dir",
        "per_page",
        "page",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_query_reads_and_its_link_reads_back_as_the_same_view(raw in query(NAMES)) {
            let (view, _) = View::read(&Pairs::parse(Some(&raw)));
            let href = view.href("/activations", 70, |_| {});
            let (again, problems) =
                View::read(&Pairs::parse(href.split_once('?').map(|(_, q)| q)));
            let expected = View { key: Some(70), page: 1, ..view.clone() };
            prop_assert_eq!(&again, &expected, "{}", href);
            prop_assert_eq!(again.href("/activations", 70, |_| {}), href);
            // What a view's own link says is never a problem, but reversed dates are kept so
            // the form shows them.
            prop_assert!(
                problems.len() <= usize::from(view.dates_reversed()) + usize::from(view.cancelled_reversed()),
                "{:?}", problems
            );
            let _ = view.filter(NaiveDate::from_ymd_opt(2026, 12, 2).unwrap());
            let _ = view.empty_message(NaiveDate::from_ymd_opt(2026, 12, 2).unwrap());
        }
    }
}
