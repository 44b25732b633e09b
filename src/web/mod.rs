//! What every page shares, and nothing that knows about sessions or routes: the layout and
//! rendering ([`layout`]), the response middleware ([`middleware`]) and its guard against
//! panics ([`panics`]), formatting for people
//! ([`format`]), query-string parsing for pages and JSON routes alike ([`query`]), and the static
//! assets ([`assets`]).

pub mod assets;
pub mod layout;
pub mod middleware;
pub mod panics;
pub mod query;

pub use self::{
    format::{
        fmt_age, fmt_as_of, fmt_date, fmt_datetime, fmt_day, fmt_day_month, fmt_days, fmt_duration,
        fmt_int, fmt_money, fmt_month, fmt_opt_date, fmt_period, fmt_unix, month_abbr, safe_href,
    },
    layout::{KeyChoice, Layout, Viewer, ViewerSlot, render, section_of},
    middleware::{REQUEST_ID, finish_response},
};
/// Formatting for people, shared with the modules below the web layer.
pub use crate::format;
