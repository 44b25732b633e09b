//! CSV downloads: streamed, UTF-8 with a byte-order mark (so spreadsheet programs detect the
//! encoding), a versioned header row, and cells neutralised against formula injection.
//!
//! Format version 1: the first column of every export is `format_version` (always `1`); a
//! change to the columns bumps it.

use axum::{
    body::Body,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

/// The export format version.
pub const FORMAT_VERSION: &str = "1";

/// Prefixes a quote to cells that a spreadsheet would run as a formula.
pub fn neutralise(cell: &str) -> String {
    // Plain numbers (`-1`, `+2.5`) are data, not formulas, and stay as they are.
    let is_number = cell.parse::<f64>().is_ok_and(f64::is_finite) && !cell.contains(['e', 'E']);
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_number {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

/// One CSV record (with its line ending), every cell neutralised, `format_version` first.
pub fn record<S: AsRef<str>>(cells: &[S]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let row = std::iter::once(FORMAT_VERSION.to_owned())
        .chain(cells.iter().map(|c| neutralise(c.as_ref())));
    // Writing to a Vec cannot fail except on a bug in csv; an empty record is the safe fallback.
    if writer.write_record(row).is_err() {
        return Vec::new();
    }
    writer.into_inner().unwrap_or_default()
}

/// The header record, with the byte-order mark.
pub fn header_record(columns: &[&str]) -> Vec<u8> {
    let mut out = "\u{feff}".as_bytes().to_vec();
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let row = std::iter::once("format_version").chain(columns.iter().copied());
    if writer.write_record(row).is_ok() {
        out.extend(writer.into_inner().unwrap_or_default());
    }
    out
}

/// `partner-portal_<partner>_key-<id>_<view>_<date>.csv`, ASCII only.
pub fn filename(partner: &str, key: u64, view: &str) -> String {
    let slug: String = partner
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let date = chrono::Utc::now().format("%Y-%m-%d");
    format!("partner-portal_{slug}_key-{key}_{view}_{date}.csv")
}

/// A download response around `body`.
pub fn response(filename: &str, body: Body) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// A body streamed from `rows`: the header first, then one record per item, as they arrive.
pub fn stream<T, F>(
    header: Vec<u8>,
    rows: tokio::sync::mpsc::Receiver<Result<T, sqlx::Error>>,
    to_record: F,
) -> Body
where
    T: Send + 'static,
    F: Fn(T) -> Vec<u8> + Send + 'static,
{
    let head = futures_util::stream::once(async move {
        Ok::<_, std::io::Error>(axum::body::Bytes::from(header))
    });
    let rest =
        futures_util::stream::unfold((rows, to_record), |(mut rows, to_record)| async move {
            match rows.recv().await {
                Some(Ok(row)) => {
                    let bytes = axum::body::Bytes::from(to_record(row));
                    Some((Ok(bytes), (rows, to_record)))
                }
                Some(Err(e)) => {
                    // The download is cut short; the client sees a truncated file and a failed transfer.
                    tracing::error!(error = %e, "export query failed mid-stream");
                    Some((
                        Err(std::io::Error::other("export failed")),
                        (rows, to_record),
                    ))
                }
                None => None,
            }
        });
    Body::from_stream(futures_util::StreamExt::chain(head, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for bad in [
            "=1+1", "+cmd", "-2+3", "-1e3", "@SUM(A1)", "\tx", "\rx", "-", "+",
        ] {
            assert!(neutralise(bad).starts_with('\''), "{bad}");
        }
        for number in ["-1", "+2.5", "-0.05"] {
            assert_eq!(neutralise(number), number);
        }
        assert_eq!(neutralise("Plain, \"quoted\""), "Plain, \"quoted\"");
    }

    #[test]
    fn records_are_quoted_csv_with_the_version_first() {
        let r = String::from_utf8(record(&["a,b", "=HYPERLINK(\"x\")", "é"])).unwrap();
        assert_eq!(r, "1,\"a,b\",\"'=HYPERLINK(\"\"x\"\")\",é\r\n");
        let h = String::from_utf8(header_record(&["site"])).unwrap();
        assert_eq!(h, "\u{feff}format_version,site\r\n");
    }

    #[test]
    fn file_names_are_ascii_slugs() {
        let n = filename("Example Hosting <b>", 70, "activations");
        assert!(n.starts_with("partner-portal_example-hosting-b_key-70_activations_"));
        assert!(n.ends_with(".csv"));
    }
}
