//! What the overview is narrowed to: every product, one product line ("Jetpack Security", all
//! its families, yearly and monthly) or one product, and the links that keep the period and the
//! narrowing as they change one of them.

use crate::{error::AppError, products, web::query::Pairs};

/// The products the overview counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every product.
    All,
    /// One product line, by name ("Security").
    Line(&'static str),
    /// One product id.
    Product(u64),
}

impl Selection {
    /// Reads `product=` or `family=` (a line's slug); both at once is refused.
    pub fn read(q: &Pairs) -> Result<Self, AppError> {
        match (q.get("product"), q.get("family")) {
            (None, None) => Ok(Self::All),
            (Some(_), Some(_)) => Err(AppError::BadRequest(
                "Choose a product or a product family, not both.".into(),
            )),
            (Some(p), None) => products::resolve(p)
                .map(Self::Product)
                .ok_or_else(|| AppError::BadRequest(format!("There is no product called “{p}”."))),
            (None, Some(f)) => products::line_by_slug(f).map(Self::Line).ok_or_else(|| {
                AppError::BadRequest(format!("There is no product family called “{f}”."))
            }),
        }
    }

    /// The product ids counted, `None` for every product.
    pub fn ids(&self) -> Option<Vec<i64>> {
        match self {
            Self::All => None,
            Self::Line(l) => Some(
                products::line_ids(l)
                    .into_iter()
                    .map(|i| i as i64)
                    .collect(),
            ),
            Self::Product(p) => Some(vec![*p as i64]),
        }
    }

    /// Whether product `id` is counted.
    pub fn counts(&self, id: i64) -> bool {
        self.ids().is_none_or(|ids| ids.contains(&id))
    }

    /// How the page names it: "Jetpack Security (every plan)", "Jetpack Scan (yearly)".
    pub fn label(&self) -> Option<String> {
        match self {
            Self::All => None,
            Self::Line(l) => Some(format!("{} (every plan)", products::family_name(l))),
            Self::Product(p) => Some(products::display_name(*p)),
        }
    }

    /// Its query pair, if any.
    fn pair(&self) -> Option<(&'static str, String)> {
        match self {
            Self::All => None,
            Self::Line(l) => Some(("family", products::line_slug(l))),
            Self::Product(p) => Some(("product", p.to_string())),
        }
    }
}

/// Builds the overview's links: one key, one period, one selection.
#[derive(Debug, Clone)]
pub struct Links {
    /// Key.
    pub key: u64,
    /// `month`, `30d` or `year`.
    pub period: &'static str,
    /// The selection shown.
    pub selection: Selection,
}

impl Links {
    /// The overview with `period` and `selection`.
    pub fn overview(&self, period: &str, selection: &Selection) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("key", &self.key.to_string())
            .append_pair("period", period);
        if let Some((name, value)) = selection.pair() {
            s.append_pair(name, &value);
        }
        format!("/?{}", s.finish())
    }

    /// This overview with another period.
    pub fn with_period(&self, period: &str) -> String {
        self.overview(period, &self.selection)
    }

    /// This overview narrowed to `selection`, or back to every product when it already is.
    pub fn toggle(&self, selection: &Selection) -> String {
        if *selection == self.selection {
            self.overview(self.period, &Selection::All)
        } else {
            self.overview(self.period, selection)
        }
    }

    /// The activations list of `ids` (by current product) with `extra` pairs.
    pub fn activations(&self, ids: Option<&[i64]>, extra: &[(&str, String)]) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("key", &self.key.to_string());
        for (name, value) in extra {
            s.append_pair(name, value);
        }
        for id in ids.unwrap_or_default() {
            s.append_pair("current_plan", &id.to_string());
        }
        format!("/activations?{}", s.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selection_reads_and_links_back_to_itself() {
        for (query, want) in [
            ("", Selection::All),
            ("family=security", Selection::Line("Security")),
            ("product=2106", Selection::Product(2106)),
            ("product=jetpack_scan", Selection::Product(2106)),
        ] {
            let s = Selection::read(&Pairs::parse(Some(query))).unwrap();
            assert_eq!(s, want, "{query}");
            let links = Links {
                key: 70,
                period: "year",
                selection: s.clone(),
            };
            let href = links.with_period("year");
            let again =
                Selection::read(&Pairs::parse(href.split_once('?').map(|(_, q)| q))).unwrap();
            assert_eq!(again, s);
            assert_eq!(
                links.toggle(&s),
                "/?key=70&period=year",
                "clicking the chosen row again shows every product"
            );
        }
        for bad in [
            "family=nope",
            "product=nope",
            "product=2106&family=security",
        ] {
            assert!(Selection::read(&Pairs::parse(Some(bad))).is_err(), "{bad}");
        }
        assert!(Selection::Line("Security").counts(2011));
        assert!(!Selection::Line("Security").counts(2106));
    }
}
