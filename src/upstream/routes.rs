//! The reporting routes: the one list of upstream paths (for the typed client and the JSON
//! proxy alike), their parameters, and one typed method per endpoint.

use chrono::Utc;
use serde_json::Value;

use super::{
    ActivationsPage, BearerToken, Invoice, InvoiceList, Me, Partner, SummaryPoint, UpstreamError,
    WpClient, invoices_from_value, summary_from_value,
};

/// Filters of the activations list, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivationQuery {
    /// 1-based page.
    pub page: u32,
    /// Rows per page.
    pub per_page: u32,
    /// Plan filters (product ids or slugs).
    pub plans: Vec<String>,
    /// Exclusive lower bound, `YYYY-MM-DD HH:MM:SS`.
    pub activated_after: Option<String>,
    /// Exclusive upper bound, `YYYY-MM-DD HH:MM:SS`.
    pub activated_before: Option<String>,
}

impl ActivationQuery {
    fn to_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = vec![
            ("page".to_owned(), self.page.to_string()),
            ("per_page".to_owned(), self.per_page.to_string()),
        ];
        pairs.extend(self.plans.iter().map(|p| ("plans[]".to_owned(), p.clone())));
        if let Some(a) = &self.activated_after {
            pairs.push(("activated_after".into(), a.clone()));
        }
        if let Some(b) = &self.activated_before {
            pairs.push(("activated_before".into(), b.clone()));
        }
        pairs
    }
}

/// Scale of the activations summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scale {
    /// Per day.
    Day,
    /// Per month.
    #[default]
    Month,
    /// Per year.
    Year,
}

impl Scale {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
            Self::Year => "year",
        }
    }

    /// Parses the wire value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "day" => Some(Self::Day),
            "month" => Some(Self::Month),
            "year" => Some(Self::Year),
            _ => None,
        }
    }
}

/// A reporting GET endpoint: its path under the WordPress.com base and its label in logs and
/// metrics. The one list of upstream routes, for the typed client and the JSON proxy alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/rest/v1.1/me`.
    Me,
    /// `/wpcom/v2/jetpack-partners`.
    Partners,
    /// `/wpcom/v2/jetpack-partners/{partner}/key/{key}/activations`.
    Activations {
        /// Partner id.
        partner: u64,
        /// Key id.
        key: u64,
    },
    /// `/wpcom/v2/jetpack-partners/activations` (the key goes in the query).
    Summary,
    /// `/wpcom/v2/jetpack-partners/{partner}/key/{key}/stripe/invoices`.
    Invoices {
        /// Partner id.
        partner: u64,
        /// Key id.
        key: u64,
    },
    /// `/wpcom/v2/jetpack-partners/{partner}/key/{key}/stripe/upcoming-invoice`.
    UpcomingInvoice {
        /// Partner id.
        partner: u64,
        /// Key id.
        key: u64,
    },
}

impl Route {
    /// The label in logs and metrics (bounded: ids are not part of it).
    pub fn label(self) -> &'static str {
        match self {
            Self::Me => "me",
            Self::Partners => "partners",
            Self::Activations { .. } => "activations",
            Self::Summary => "summary",
            Self::Invoices { .. } => "invoices",
            Self::UpcomingInvoice { .. } => "upcoming_invoice",
        }
    }

    /// The path under the base URL, without the leading slash. Ids are numbers, so nothing in
    /// it needs escaping.
    pub fn path(self) -> String {
        const PARTNERS: &str = "wpcom/v2/jetpack-partners";
        match self {
            Self::Me => "rest/v1.1/me".to_owned(),
            Self::Partners => PARTNERS.to_owned(),
            Self::Summary => format!("{PARTNERS}/activations"),
            Self::Activations { partner, key } => {
                format!("{PARTNERS}/{partner}/key/{key}/activations")
            }
            Self::Invoices { partner, key } => {
                format!("{PARTNERS}/{partner}/key/{key}/stripe/invoices")
            }
            Self::UpcomingInvoice { partner, key } => {
                format!("{PARTNERS}/{partner}/key/{key}/stripe/upcoming-invoice")
            }
        }
    }
}

impl WpClient {
    /// `GET /rest/v1.1/me`.
    pub async fn me(&self, token: &BearerToken) -> Result<Me, UpstreamError> {
        let v = self.get_json(Route::Me, token, &[]).await?;
        Me::from_value(&v).ok_or(UpstreamError::Decode)
    }

    /// `GET /wpcom/v2/jetpack-partners`: the user's partner (`None` if the list is empty).
    pub async fn partner(&self, token: &BearerToken) -> Result<Option<Partner>, UpstreamError> {
        let v = self.get_json(Route::Partners, token, &[]).await?;
        match &v {
            Value::Array(items) if items.is_empty() => Ok(None),
            _ => Partner::from_value(&v)
                .map(Some)
                .ok_or(UpstreamError::Decode),
        }
    }

    /// The activations list of one key.
    pub async fn activations(
        &self,
        token: &BearerToken,
        partner_id: u64,
        key_id: u64,
        query: &ActivationQuery,
    ) -> Result<ActivationsPage, UpstreamError> {
        let route = Route::Activations {
            partner: partner_id,
            key: key_id,
        };
        let v = self.get_json(route, token, &query.to_pairs()).await?;
        ActivationsPage::from_value(&v).ok_or(UpstreamError::Decode)
    }

    /// The activations summary of one key.
    pub async fn summary(
        &self,
        token: &BearerToken,
        key_id: u64,
        scale: Scale,
    ) -> Result<Vec<SummaryPoint>, UpstreamError> {
        let query = [
            ("key_id".to_owned(), key_id.to_string()),
            ("scale".to_owned(), scale.as_str().to_owned()),
        ];
        let v = self.get_json(Route::Summary, token, &query).await?;
        summary_from_value(&v).ok_or(UpstreamError::Decode)
    }

    /// Past invoices of one key, newest first.
    pub async fn invoices(
        &self,
        token: &BearerToken,
        partner_id: u64,
        key_id: u64,
    ) -> Result<InvoiceList, UpstreamError> {
        let route = Route::Invoices {
            partner: partner_id,
            key: key_id,
        };
        let v = self.get_json(route, token, &[]).await?;
        invoices_from_value(&v, Utc::now()).ok_or(UpstreamError::Decode)
    }

    /// The upcoming invoice of one key; `None` when there is none yet.
    pub async fn upcoming_invoice(
        &self,
        token: &BearerToken,
        partner_id: u64,
        key_id: u64,
    ) -> Result<Option<Invoice>, UpstreamError> {
        let route = Route::UpcomingInvoice {
            partner: partner_id,
            key: key_id,
        };
        match self.get_json(route, token, &[]).await {
            // "Nothing upcoming" may arrive as a 404, `null`, `{}` or `[]` (`WPCOM_API.md` §5.2).
            Err(UpstreamError::NotFound { .. }) => Ok(None),
            Ok(Value::Null) => Ok(None),
            Ok(Value::Object(m)) if m.is_empty() => Ok(None),
            Ok(Value::Array(a)) if a.is_empty() => Ok(None),
            Ok(v) => Invoice::from_value(&v, Utc::now())
                .map(Some)
                .ok_or(UpstreamError::Decode),
            Err(e) => Err(e),
        }
    }
}
