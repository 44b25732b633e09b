//! Integration tests: the real app over HTTP against the WordPress.com sandbox.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod api;
mod binary;
mod browser;
mod client;
mod crawl;
mod docs;
mod edges;
mod errors;
mod faults;
mod hardening;
mod helpers;
mod index;
mod login;
mod matches;
mod notify;
mod numbers;
mod ops;
mod pages;
mod perf;
mod postgres;
mod process;
mod product_sort;
mod questions;
mod recipe;
mod reports;
mod sandbox;
mod screens;
mod security;
mod structure;
mod subpath;
mod team;
mod tokens;
mod ways;
