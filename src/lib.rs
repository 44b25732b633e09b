//! partner-portal: a self-hosted dashboard for Jetpack hosting partners.
//!
//! A person logs in with WordPress.com (OAuth2 authorization code with PKCE), and browses the
//! partner's activations and invoices. The bearer token lives only in the server-side session.
//! [`sandbox`] is a stand-in WordPress.com for tests and the demo; the dashboard itself only
//! talks HTTP to the configured WordPress.com URL.

pub mod api;
pub mod app;
pub mod auth;
pub mod billing;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod export;
pub mod format;
#[cfg(test)]
mod fuzzing;
pub mod index;
pub mod metrics;
pub mod notify;
pub mod pages;
pub mod products;
pub mod ratelimit;
pub mod rendered;
pub mod sandbox;
pub mod secret;
pub mod server;
pub mod session_store;
pub mod state;
pub mod team;
pub mod telemetry;
pub mod tokens;
pub mod upstream;
pub mod versions;
pub mod web;
