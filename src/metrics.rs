//! Prometheus metrics in the text exposition format.
//!
//! One process-wide registry, like the `metrics` crate's global recorder: counters and latency
//! histograms are recorded where things happen (request log, upstream client, cache, index
//! sync) without threading a handle through every constructor. Label values come from bounded
//! sets (route patterns, endpoint names, outcomes), never from user input.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{Mutex, OnceLock},
};

const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Registry {
    /// By name, then by labels as written in the exposition.
    counters: BTreeMap<&'static str, BTreeMap<String, u64>>,
    histograms: BTreeMap<&'static str, BTreeMap<String, Histogram>>,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

fn lock() -> std::sync::MutexGuard<'static, Registry> {
    registry()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `k1="v1",k2="v2"`, each value escaped: written once into one string (this runs on every
/// request).
fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len() + 4).sum());
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out
}

/// Adds one to the counter `name{labels}`.
pub fn inc(name: &'static str, pairs: &[(&str, &str)]) {
    let labels = labels(pairs);
    *lock()
        .counters
        .entry(name)
        .or_default()
        .entry(labels)
        .or_default() += 1;
}

/// Records `seconds` in the histogram `name{labels}`.
pub fn observe(name: &'static str, pairs: &[(&str, &str)], seconds: f64) {
    let labels = labels(pairs);
    let mut r = lock();
    let h = r
        .histograms
        .entry(name)
        .or_default()
        .entry(labels)
        .or_default();
    if h.counts.is_empty() {
        h.counts = vec![0; BUCKETS.len()];
    }
    for (i, le) in BUCKETS.iter().enumerate() {
        if seconds <= *le {
            h.counts[i] += 1;
        }
    }
    h.sum += seconds;
    h.count += 1;
}

const HELP: &[(&str, &str, &str)] = &[
    (
        "portal_http_requests_total",
        "counter",
        "HTTP requests by route, method and status.",
    ),
    (
        "portal_http_request_duration_seconds",
        "histogram",
        "HTTP request latency by route.",
    ),
    (
        "portal_upstream_calls_total",
        "counter",
        "WordPress.com calls by endpoint and outcome.",
    ),
    (
        "portal_cache_requests_total",
        "counter",
        "Summary and invoice cache lookups by endpoint and result.",
    ),
    (
        "portal_index_syncs_total",
        "counter",
        "Activations index syncs by outcome.",
    ),
    (
        "portal_connections_refused_total",
        "counter",
        "Connections closed on arrival because PORTAL_MAX_CONNECTIONS were open.",
    ),
    (
        "portal_index_copy_mismatches_total",
        "counter",
        "Completed activations copies whose row count differs from WordPress.com's total.",
    ),
];

/// The exposition text, with `gauges` (name, help, value) appended.
pub fn render(gauges: &[(&str, &str, f64)]) -> String {
    let r = lock();
    let mut out = String::new();
    for (name, kind, help) in HELP {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        if *kind == "counter" {
            for (l, v) in r.counters.get(name).into_iter().flatten() {
                let _ = writeln!(out, "{name}{{{l}}} {v}");
            }
        } else {
            for (l, h) in r.histograms.get(name).into_iter().flatten() {
                let n = name;
                let sep = if l.is_empty() { "" } else { "," };
                for (i, le) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(out, "{n}_bucket{{{l}{sep}le=\"{le}\"}} {}", h.counts[i]);
                }
                let _ = writeln!(out, "{n}_bucket{{{l}{sep}le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "{n}_sum{{{l}}} {}", h.sum);
                let _ = writeln!(out, "{n}_count{{{l}}} {}", h.count);
            }
        }
    }
    for (name, help, value) in gauges {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_in_the_text_format() {
        inc("portal_index_syncs_total", &[("outcome", "ok\"x")]);
        inc(
            "portal_index_syncs_total",
            &[("outcome", "a\\b\nc"), ("n", "1")],
        );
        observe(
            "portal_http_request_duration_seconds",
            &[("route", "/t")],
            0.02,
        );
        let text = render(&[("portal_sessions_active", "Live sessions.", 3.0)]);
        assert!(
            text.contains(r#"portal_index_syncs_total{outcome="ok\"x"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"portal_index_syncs_total{outcome="a\\b\nc",n="1"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"portal_http_request_duration_seconds_bucket{route="/t",le="0.025"} 1"#
            )
        );
        assert!(
            text.contains(r#"portal_http_request_duration_seconds_bucket{route="/t",le="0.01"} 0"#)
        );
        assert!(text.contains("# TYPE portal_sessions_active gauge\nportal_sessions_active 3"));
    }
}
