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
