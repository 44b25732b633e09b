//! Parts of pages kept as rendered HTML, per copy generation.
//!
//! A copy of a key's activations never changes once visible, so what a page shows of it (the
//! list under its freshness line: filters, tabs, counts, rows and pager) is the same HTML for
//! every view of the same address, on the same day, while that copy is the visible one. Such a
//! part is rendered once and kept here, under a name that holds the key, the generation, the
//! day and the address; the page around it (the viewer, the CSRF token, the data's age) is
//! rendered for each request. A part holds nothing of a user or a session, only what the copy
//! and the address decide.

use std::{sync::Arc, time::Duration};

use axum::http::StatusCode;

/// One rendered part of a page.
#[derive(Debug)]
pub struct Part {
    /// The status the page answers with.
    pub status: StatusCode,
    /// The page's `<title>`, which the part decides.
    pub title: String,
    /// The HTML, escaped already (or, for [`Part::of_json`], the JSON).
    pub html: String,
    /// A figure the page uses beside the HTML (the overview: the copy's active plans, which
    /// it compares with WordPress.com's summary).
    pub figure: Option<i64>,
    /// Where each piece of `html` but the last ends, in bytes; empty for a part of one piece
    /// (see [`Part::cut`]).
    pub cuts: Vec<usize>,
}

impl Part {
    /// A part that is a JSON text (the JSON list's page), answered with status 200.
    pub fn of_json(json: String) -> Self {
        Self {
            status: StatusCode::OK,
            title: String::new(),
            html: json,
            figure: None,
            cuts: Vec::new(),
        }
    }

    /// The part with its HTML divided at every `marker`, the markers taken out: a page that
    /// puts its own HTML between pieces finds them by offset ([`Part::piece`]) instead of
    /// searching the HTML on every view.
    #[must_use]
    pub fn cut(mut self, marker: &str) -> Self {
        let mut html = String::with_capacity(self.html.len());
        let mut cuts = Vec::new();
        for (i, piece) in self.html.split(marker).enumerate() {
            if i > 0 {
                cuts.push(html.len());
            }
            html.push_str(piece);
        }
        self.html = html;
        self.cuts = cuts;
        self
    }

    /// Piece `n` of the HTML (see [`Part::cut`]); empty past the last.
    pub fn piece(&self, n: usize) -> &str {
        let start = match n {
            0 => 0,
            _ => match self.cuts.get(n - 1) {
                Some(&at) => at,
                None => return "",
            },
        };
        let end = self.cuts.get(n).copied().unwrap_or(self.html.len());
        self.html.get(start..end).unwrap_or_default()
    }
}

/// Rendered parts, weighed by their bytes.
#[derive(Clone)]
pub struct Rendered(moka::future::Cache<String, Arc<Part>>);

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("parts", &self.0.entry_count())
            .finish()
    }
}

/// Bytes of HTML kept at most (about 200 list pages).
const BYTES: u64 = 4 * 1024 * 1024;

/// A part not asked for in this long is let go (a new copy's parts replace the old ones).
const IDLE: Duration = Duration::from_secs(300);

impl Default for Rendered {
    fn default() -> Self {
        Self(
            moka::future::Cache::builder()
                .max_capacity(BYTES)
                .weigher(|name: &String, part: &Arc<Part>| {
                    u32::try_from(name.len() + part.title.len() + part.html.len())
                        .unwrap_or(u32::MAX)
                })
                .time_to_idle(IDLE)
                .build(),
        )
    }
}

impl Rendered {
    /// The part kept under `name`, if any.
    pub async fn get(&self, name: &str) -> Option<Arc<Part>> {
        self.0.get(name).await
    }

    /// The part kept under `name`, or the one `render` makes, which is kept under it.
    pub async fn get_or_render<E>(
        &self,
        name: String,
        render: impl std::future::Future<Output = Result<Part, E>>,
    ) -> Result<Arc<Part>, E> {
        if let Some(part) = self.get(&name).await {
            return Ok(part);
        }
        let part = render.await?;
        Ok(self.keep(name, part).await)
    }

    /// Keeps `part` under `name` and answers it.
    pub async fn keep(&self, name: String, part: Part) -> Arc<Part> {
        let part = Arc::new(part);
        self.0.insert(name, Arc::clone(&part)).await;
        part
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_kept_part_comes_back_under_its_name_only() {
        let kept = Rendered::default();
        let part = Part {
            status: StatusCode::OK,
            title: "Activations".into(),
            html: "<p>rows</p>".into(),
            figure: None,
            cuts: Vec::new(),
        };
        kept.keep("activations:1:7:2026-12-03:".into(), part).await;
        let back = kept.get("activations:1:7:2026-12-03:").await;
        assert_eq!(back.map(|p| p.html.clone()).as_deref(), Some("<p>rows</p>"));
        assert!(kept.get("activations:1:8:2026-12-03:").await.is_none());
    }

    #[test]
    fn a_cut_part_answers_each_piece_without_its_marker() {
        let part = Part {
            status: StatusCode::OK,
            title: String::new(),
            html: "<h1>a</h1><!--m--><p>b</p><!--m--><!--m--><p>d</p>".into(),
            figure: None,
            cuts: Vec::new(),
        }
        .cut("<!--m-->");
        let pieces: Vec<&str> = (0..5).map(|n| part.piece(n)).collect();
        assert_eq!(pieces, ["<h1>a</h1>", "<p>b</p>", "", "<p>d</p>", ""]);
        assert_eq!(part.html, "<h1>a</h1><p>b</p><p>d</p>");
        let whole = Part {
            cuts: Vec::new(),
            ..part
        };
        assert_eq!(whole.piece(0), whole.html);
        assert_eq!(whole.piece(1), "");
    }
}
