//! CSV downloads: streamed, UTF-8 with a byte-order mark (so spreadsheet programs detect the
//! encoding), a versioned header row, and cells neutralised against formula injection.
//!
//! Format version 1: the first column of every export is `format_version` (always `1`); a
//! change to the columns bumps it.
//!
//! A large export is spooled: its rows are read from the database into an anonymous temporary
//! file as fast as the database gives them, the connection goes back to the pool, and only then
//! is the file sent, at whatever pace the client reads. Exports at once are bounded in all and
//! per session ([`ExportSlots`]).

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
};

use axum::{
    body::Body,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use futures_util::StreamExt as _;
use tokio::{
    io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _},
    sync::{OwnedSemaphorePermit, Semaphore},
};

/// Bounds on the exports running at once: in all, and per session.
#[derive(Debug)]
pub struct ExportSlots {
    all: Arc<Semaphore>,
    per_session: usize,
    running: Mutex<HashMap<String, usize>>,
}

/// Why an export could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportBusy {
    /// This session already runs as many as it may.
    Session(usize),
    /// The portal runs as many as it may.
    All,
}

/// One running export; dropping it (download done, or client gone) frees its slots.
#[derive(Debug)]
pub struct ExportPermit {
    _all: OwnedSemaphorePermit,
    slots: Arc<ExportSlots>,
    session: String,
}

impl Drop for ExportPermit {
    fn drop(&mut self) {
        let mut running = self
            .slots
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = running.get_mut(&self.session) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.remove(&self.session);
            }
        }
    }
}

impl ExportSlots {
    /// At most `all` exports at once, `per_session` of them for one session.
    pub fn new(all: usize, per_session: usize) -> Arc<Self> {
        Arc::new(Self {
            all: Arc::new(Semaphore::new(all.max(1))),
            per_session: per_session.max(1),
            running: Mutex::default(),
        })
    }

    /// Takes a slot for `session` (any stable per-session key), or says why not.
    pub fn try_start(self: &Arc<Self>, session: &str) -> Result<ExportPermit, ExportBusy> {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mine = running.get(session).copied().unwrap_or(0);
        if mine >= self.per_session {
            return Err(ExportBusy::Session(mine));
        }
        let permit = self
            .all
            .clone()
            .try_acquire_owned()
            .map_err(|_| ExportBusy::All)?;
        running.insert(session.to_owned(), mine + 1);
        Ok(ExportPermit {
            _all: permit,
            slots: self.clone(),
            session: session.to_owned(),
        })
    }
}

/// Why spooling an export failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The database failed while the rows were read.
    #[error("export query: {0}")]
    Query(#[from] sqlx::Error),
    /// The temporary file could not be written or read.
    #[error("export spool file: {0}")]
    File(#[from] std::io::Error),
}

/// Reads every row into an anonymous temporary file in `dir` (the header first), then returns
/// a body that streams the file and holds `permit` until it ends or the client goes. A query
/// failure is reported before anything is sent, never as a cut-off file.
pub async fn spool<T, F>(
    dir: &Path,
    header: Vec<u8>,
    mut rows: tokio::sync::mpsc::Receiver<Result<T, sqlx::Error>>,
    to_record: F,
    permit: ExportPermit,
) -> Result<Body, SpoolError>
where
    F: Fn(T) -> Vec<u8>,
{
    std::fs::create_dir_all(dir)?;
    let file = tempfile::tempfile_in(dir)?;
    let mut out = tokio::io::BufWriter::with_capacity(64 * 1024, tokio::fs::File::from_std(file));
    out.write_all(&header).await?;
    while let Some(row) = rows.recv().await {
        out.write_all(&to_record(row?)).await?;
    }
    out.flush().await?;
    let mut file = out.into_inner();
    file.rewind().await?;
    // The state is `None` once the file is sent or failed. The stream is fused: a layer that
    // polls a body again after its end (the compression layer does) gets the end again, where
    // a bare `unfold` panics and cuts the download off.
    let chunks = futures_util::stream::unfold(
        Some((file, permit, vec![0u8; 64 * 1024])),
        |state| async move {
            let (mut file, permit, mut buf) = state?;
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    let chunk = axum::body::Bytes::copy_from_slice(&buf[..n]);
                    Some((Ok::<_, std::io::Error>(chunk), Some((file, permit, buf))))
                }
                Err(e) => {
                    // The client sees a broken download, never a clean end short of rows.
                    tracing::error!(error = %e, "reading a spooled export failed");
                    Some((Err(e), None))
                }
            }
        },
    )
    .fuse();
    Ok(Body::from_stream(chunks))
}

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

/// A download's name: ASCII for `filename=`, and the partner's name as written for
/// `filename*=` (RFC 6266), both capped to a sane length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadName {
    /// `partner-portal_smith-sons-cafe_key-70_activations_2026-12-01.csv`.
    pub ascii: String,
    /// `partner-portal_Smith & Sons Café_key-70_activations_2026-12-01.csv`.
    pub utf8: String,
}

/// The longest partner part of a download name, in characters.
const MAX_NAME_PART: usize = 60;

/// `partner-portal_<partner>_key-<id>_<view>_<date>.csv`: the partner name transliterated to
/// ASCII (`Café` becomes `cafe`) and slugged for `filename=`, kept as written (less characters
/// a file system refuses) for `filename*=`.
pub fn filename(partner: &str, key: u64, view: &str) -> DownloadName {
    let slug: String = deunicode::deunicode(partner)
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
    let slug: String = slug.chars().take(MAX_NAME_PART).collect();
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { "partner" } else { slug };
    let written: String = partner
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '/' | '\\' | '"' | ':' | '*' | '?' | '<' | '>' | '|')
        })
        .take(MAX_NAME_PART)
        .collect();
    let written = written.trim();
    let date = chrono::Utc::now().format("%Y-%m-%d");
    DownloadName {
        ascii: format!("partner-portal_{slug}_key-{key}_{view}_{date}.csv"),
        utf8: format!("partner-portal_{written}_key-{key}_{view}_{date}.csv"),
    }
}

/// A download response around `body`.
pub fn response(name: &DownloadName, body: Body) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let encoded: String = url::form_urlencoded::byte_serialize(name.utf8.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let disposition = format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{encoded}",
        name.ascii
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzzing::{CASES, text};

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
        let n = filename("Example Hosting <b>", 70, "activations").ascii;
        assert!(n.starts_with("partner-portal_example-hosting-b_key-70_activations_"));
        assert!(n.ends_with(".csv"));
    }

    #[test]
    fn download_names_are_short_ascii_with_the_real_name_beside() {
        let n = filename("Nordic Hosting Café & Sons", 70, "activations");
        assert!(
            n.ascii
                .starts_with("partner-portal_nordic-hosting-cafe-sons_key-70_activations_"),
            "{}",
            n.ascii
        );
        assert!(
            n.utf8
                .starts_with("partner-portal_Nordic Hosting Café & Sons_key-70_")
        );
        let long = filename(&"x".repeat(500), 70, "activations");
        assert!(
            long.ascii.len() < 120 && long.utf8.len() < 120,
            "{}",
            long.ascii
        );
        let r = response(&n, Body::empty());
        let d = r.headers()[header::CONTENT_DISPOSITION].to_str().unwrap();
        assert!(
            d.contains("filename=\"partner-portal_nordic-hosting-cafe-sons_key-70_"),
            "{d}"
        );
        assert!(
            d.contains(
                "filename*=UTF-8''partner-portal_Nordic%20Hosting%20Caf%C3%A9%20%26%20Sons_key-70_"
            ),
            "{d}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_partner_name_makes_a_safe_download_name(partner in text(), key in any::<u64>()) {
            let name = filename(&partner, key, "activations");
            prop_assert!(name.ascii.is_ascii() && name.ascii.len() < 140, "{}", name.ascii);
            for n in [&name.ascii, &name.utf8] {
                prop_assert!(
                    !n.chars().any(|c| c.is_control() || matches!(c, '/' | '\\' | '"' | ':' | '*' | '?' | '<' | '>' | '|')),
                    "{:?}", n
                );
                prop_assert!(n.ends_with(".csv"));
            }
            let r = response(&name, Body::empty());
            prop_assert!(r.headers().get(header::CONTENT_DISPOSITION).is_some());
            // The same name gives the same file name.
            prop_assert_eq!(filename(&partner, key, "activations").utf8, name.utf8);
        }

        #[test]
        fn any_cell_is_one_csv_field_that_reads_back(cell in text()) {
            let line = record(&[cell.as_str()]);
            let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(line.as_slice());
            let row = reader.records().next().unwrap().unwrap();
            prop_assert_eq!(row.len(), 2);
            let expected = neutralise(&cell);
            prop_assert_eq!(&row[1], expected.as_str());
        }
    }
}
