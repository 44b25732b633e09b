//! A crawl as a browser makes it: the tests' client asks for gzip and br, follows every link
//! and download it finds from the overview, and reads each answer to its end. Nothing may
//! answer 5xx, no body may be cut short, every CSV must parse to its last row, and no link
//! may lead anywhere but back to the portal or to an http(s) address.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use partner_portal::sandbox::SandboxOptions;
use reqwest::StatusCode;

use crate::{helpers::*, team::connect};

/// Pages at most: every page type many times over, without walking every page number.
const MAX_PAGES: usize = 700;

/// Where `href` leads, when it is the portal's own page worth fetching.
fn own_path(href: &str) -> Option<String> {
    let href = href.split('#').next().unwrap_or_default();
    if href.is_empty() || !href.starts_with('/') || href.starts_with("//") {
        return None;
    }
    // Logging out would end the crawl; the sandbox is not the portal.
    if href.starts_with("/logout") || href.starts_with("/__sandbox") {
        return None;
    }
    Some(href.to_owned())
}

/// A crawl's shape: the path without its query's values, so that one page type is not walked
/// page number by page number.
fn shape(path: &str) -> String {
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    let mut names: Vec<&str> = q
        .split('&')
        .map(|kv| kv.split('=').next().unwrap_or(""))
        .collect();
    names.sort_unstable();
    names.dedup();
    let p: String = p
        .split('/')
        .map(|s| {
            if s.chars().any(|c| c.is_ascii_digit()) {
                "N"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    format!("{p}?{}", names.join("&"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_crawl_of_every_page_and_download_finds_nothing() {
    let app = spawn_with(Options {
        sandbox: SandboxOptions {
            control: true,
            hostile: true,
            activations: 400,
            ..SandboxOptions::default()
        },
        ..Options::default()
    })
    .await;
    connect(&app).await;
    app.wait_for_index(70).await;
    let mut queue: VecDeque<String> = ["/", "/activations", "/invoices", "/team", "/audit"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut seen: BTreeSet<String> = queue.iter().cloned().collect();
    let mut per_shape: BTreeMap<String, usize> = BTreeMap::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let (mut pages, mut csvs, mut csv_rows) = (0, 0, 0);
    while let Some(path) = queue.pop_front() {
        if pages >= MAX_PAGES {
            break;
        }
        pages += 1;
        let r = app.get(&path).await;
        let status = r.status();
        *statuses.entry(status.as_u16()).or_default() += 1;
        assert!(!status.is_server_error(), "{path}: {status}");
        let kind = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        // Read to the end: the decoder fails on a gzip or brotli stream cut short.
        let body = r
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{path}: the body was cut short: {e}"));
        if kind.starts_with("text/csv") {
            csvs += 1;
            let text = std::str::from_utf8(&body).unwrap();
            assert!(
                text.is_empty() || text.ends_with("\r\n"),
                "{path}: ends mid-row"
            );
            let mut reader =
                csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
            for record in reader.records() {
                record.unwrap_or_else(|e| panic!("{path}: {e}"));
                csv_rows += 1;
            }
            continue;
        }
        if !kind.starts_with("text/html") || status == StatusCode::SEE_OTHER {
            continue;
        }
        let doc = html(std::str::from_utf8(&body).unwrap());
        for href in attrs(&doc, "a[href]", "href") {
            assert!(
                href.starts_with('/') && !href.starts_with("//")
                    || href.starts_with("http://")
                    || href.starts_with("https://")
                    || href.starts_with('#')
                    || href.starts_with('?'),
                "{path}: a link to {href:?}"
            );
            let Some(next) = own_path(&href) else {
                continue;
            };
            let count = per_shape.entry(shape(&next)).or_default();
            if *count >= 4 || !seen.insert(next.clone()) {
                continue;
            }
            *count += 1;
            queue.push_back(next);
        }
    }
    assert!(pages > 60, "the crawl reached {pages} pages: {statuses:?}");
    assert!(csvs >= 5, "{csvs} CSV downloads");
    eprintln!(
        "crawled {pages} pages and {csvs} downloads ({csv_rows} CSV rows), {} page shapes: {statuses:?}",
        per_shape.len()
    );
}
