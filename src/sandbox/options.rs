//! The sandbox's own switches (`WPCOM_API.md` §9): how much data it generates, which of the
//! documented response variants it serves, and whether its test control API is on.
//!
//! Every switch is also an environment variable (`SANDBOX_*`), read by `demo` and `sandbox`.

use clap::{Args, ValueEnum};

/// Switches of the WordPress.com sandbox (`WPCOM_API.md` §9).
#[derive(Debug, Clone, Args)]
pub struct SandboxOptions {
    /// Number of generated activations on the production key.
    #[arg(
        long,
        env = "SANDBOX_ACTIVATIONS",
        value_name = "SANDBOX_ACTIVATIONS",
        default_value_t = 150
    )]
    pub activations: usize,
    /// Emit ids and `blog_id` as numeric strings.
    #[arg(long, env = "SANDBOX_NUMERIC_STRINGS", value_name = "SANDBOX_NUMERIC_STRINGS", default_value_t = false, action = clap::ArgAction::Set)]
    pub numeric_strings: bool,
    /// Serve 2017-era Stripe invoices (no status, `date` instead of `created`).
    #[arg(long, env = "SANDBOX_STRIPE_LEGACY", value_name = "SANDBOX_STRIPE_LEGACY", default_value_t = false, action = clap::ArgAction::Set)]
    pub stripe_legacy: bool,
    /// Shape of the past-invoices body.
    #[arg(
        long,
        env = "SANDBOX_INVOICES_STYLE",
        value_name = "SANDBOX_INVOICES_STYLE",
        value_enum,
        default_value = "list"
    )]
    pub invoices_style: InvoicesStyle,
    /// Format of the summary's `date`.
    #[arg(
        long,
        env = "SANDBOX_SUMMARY_DATE_STYLE",
        value_name = "SANDBOX_SUMMARY_DATE_STYLE",
        value_enum,
        default_value = "full"
    )]
    pub summary_date_style: SummaryDateStyle,
    /// Skip the consent page and approve as this user id.
    #[arg(
        long,
        env = "SANDBOX_AUTO_APPROVE_USER",
        value_name = "SANDBOX_AUTO_APPROVE_USER"
    )]
    pub auto_approve_user: Option<u64>,
    /// Put hostile strings (script tags, javascript: URLs) into site names, URLs and invoice lines.
    #[arg(long, env = "SANDBOX_HOSTILE", value_name = "SANDBOX_HOSTILE", default_value_t = false, action = clap::ArgAction::Set)]
    pub hostile: bool,
    /// Enable the test control API under `/__sandbox/` (faults, latency, revocation, counts).
    #[arg(long, env = "SANDBOX_CONTROL", value_name = "SANDBOX_CONTROL", default_value_t = false, action = clap::ArgAction::Set)]
    pub control: bool,
    /// Lists say there is more than they sent: past invoices stop at the newest 10 of 12
    /// (`has_more`), and every invoice sends only its first line (`has_more`, `total_count`).
    #[arg(long, env = "SANDBOX_PARTIAL_LISTS", value_name = "SANDBOX_PARTIAL_LISTS", default_value_t = false, action = clap::ArgAction::Set)]
    pub partial_lists: bool,
    /// Add this to every `total` of the activations summary, as when WordPress.com's summary
    /// and its list disagree.
    #[arg(
        long,
        env = "SANDBOX_SUMMARY_OFFSET",
        value_name = "SANDBOX_SUMMARY_OFFSET",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub summary_offset: i64,
    /// Paging as real APIs do it, for the activations list.
    #[command(flatten)]
    pub paging: PagingQuirks,
}

/// How the activations list pages, when it should misbehave the way real APIs do
/// (`WPCOM_API.md` §3.7). All off by default.
#[derive(Debug, Clone, Default, Args)]
pub struct PagingQuirks {
    /// Honour at most this many rows per page, whatever `per_page` asks (and count offsets in
    /// the size honoured), without saying so.
    #[arg(
        long,
        env = "SANDBOX_PER_PAGE_CAP",
        value_name = "SANDBOX_PER_PAGE_CAP"
    )]
    pub per_page_cap: Option<u32>,
    /// This page number comes back with only half of its rows; the other half is lost to
    /// offset paging, as when an upstream filters rows after paging.
    #[arg(long, env = "SANDBOX_SHORT_PAGE", value_name = "SANDBOX_SHORT_PAGE")]
    pub short_page: Option<u32>,
    /// Pages after the first report a total this much larger, as when activations arrive while
    /// a client pages through.
    #[arg(
        long,
        env = "SANDBOX_TOTAL_DRIFT",
        value_name = "SANDBOX_TOTAL_DRIFT",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub total_drift: i64,
    /// Pages after the first start this many rows early, so rows repeat across pages and the
    /// last ones move to later pages.
    #[arg(
        long,
        env = "SANDBOX_REPEAT_ROWS",
        value_name = "SANDBOX_REPEAT_ROWS",
        default_value_t = 0
    )]
    pub repeat_rows: u32,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            activations: 150,
            numeric_strings: false,
            stripe_legacy: false,
            invoices_style: InvoicesStyle::List,
            summary_date_style: SummaryDateStyle::Full,
            auto_approve_user: None,
            hostile: false,
            control: false,
            summary_offset: 0,
            partial_lists: false,
            paging: PagingQuirks::default(),
        }
    }
}

/// Shape of the sandbox's past-invoices body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InvoicesStyle {
    /// A Stripe list object.
    List,
    /// A bare array.
    Array,
}

/// Format of the sandbox's summary dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryDateStyle {
    /// Always `YYYY-MM-DD`.
    Full,
    /// `YYYY-MM-DD`, `YYYY-MM` or `YYYY` by scale.
    Truncated,
}
