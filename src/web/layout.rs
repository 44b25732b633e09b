//! The layout every page carries (title, user, partner, key selector, navigation, CSRF token
//! for Log out, sub-path base) and the one way a page is rendered.
//!
//! The layout knows nothing of sessions: the logged-in user arrives as a [`Viewer`], which the
//! auth module builds from the session.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicUsize, Ordering},
};

use askama::Template;
use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};

use crate::{
    error::AppError,
    state::AppState,
    upstream::{Partner, PartnerKey},
};

/// Who is looking at a page: what the header shows of the logged-in user.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    /// Display name.
    pub name: &'a str,
    /// The user's partner, if any.
    pub partner: Option<&'a Partner>,
    /// CSRF token for the Log out form.
    pub csrf: &'a str,
    /// The role shows invoices and amounts.
    pub sees_money: bool,
    /// The role shows the Team and Audit pages.
    pub admin: bool,
    /// A line every page shows (a broken team connection).
    pub banner: Option<&'a str>,
}

/// The logged-in user of a request, for what is rendered after its handler ran (error pages),
/// so that an error keeps the header, the navigation, the key selector and Log out.
/// `web::finish_response` puts an empty slot into every request; the login extractor fills it.
#[derive(Debug, Clone, Default)]
pub struct ViewerSlot(Arc<OnceLock<OwnedViewer>>);

/// What [`ViewerSlot`] keeps of a [`Viewer`].
#[derive(Debug, Clone)]
struct OwnedViewer {
    name: String,
    partner: Option<Partner>,
    csrf: String,
    sees_money: bool,
    admin: bool,
    banner: Option<String>,
}

impl ViewerSlot {
    /// Records who is logged in (the first call wins).
    pub fn fill(&self, viewer: Viewer<'_>) {
        let _ = self.0.set(OwnedViewer {
            name: viewer.name.to_owned(),
            partner: viewer.partner.cloned(),
            csrf: viewer.csrf.to_owned(),
            sees_money: viewer.sees_money,
            admin: viewer.admin,
            banner: viewer.banner.map(str::to_owned),
        });
    }

    /// Who is logged in, if the request got as far as reading its login.
    pub fn get(&self) -> Option<Viewer<'_>> {
        self.0.get().map(|v| Viewer {
            name: &v.name,
            partner: v.partner.as_ref(),
            csrf: &v.csrf,
            sees_money: v.sees_money,
            admin: v.admin,
            banner: v.banner.as_deref(),
        })
    }
}

/// The portal's sections: navigation entry, main page, and the words of a way back to it.
const SECTIONS: &[(&str, &str, &str)] = &[
    ("activations", "/activations", "Back to all activations"),
    ("invoices", "/invoices", "Back to the invoices"),
    ("team", "/team", "Back to the team"),
    ("audit", "/audit", "Back to the audit log"),
    (
        "notifications",
        "/notifications",
        "Back to the notifications",
    ),
];
/// Every other path belongs to the overview.
const OVERVIEW: (&str, &str, &str) = ("overview", "/", "Back to the overview");

/// The section of the portal a path belongs to: its navigation entry and main page.
pub fn section_of(path: &str) -> (&'static str, &'static str) {
    let under = |p: &str| {
        path == p || path.starts_with(&format!("{p}/")) || path.starts_with(&format!("{p}."))
    };
    let (nav, main, _) = SECTIONS
        .iter()
        .copied()
        .find(|(_, main, _)| under(main))
        .unwrap_or(OVERVIEW);
    (nav, main)
}

/// One entry of the key selector.
#[derive(Debug, Clone)]
pub struct KeyChoice {
    /// Key id.
    pub id: u64,
    /// "Production", "Staging (disabled)".
    pub label: String,
    /// Currently shown.
    pub selected: bool,
}

/// The layout context every page carries.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// `<title>` and heading.
    pub title: String,
    /// Show the sandbox-data banner.
    pub demo: bool,
    /// Logged-in user's display name.
    pub user: Option<String>,
    /// Partner name.
    pub partner: Option<String>,
    /// Key selector entries (shown when there are several).
    pub keys: Vec<KeyChoice>,
    /// Selected key id (0 when none).
    pub key_id: u64,
    /// Active navigation entry.
    pub nav: &'static str,
    /// The page path the key selector submits to.
    pub path: &'static str,
    /// CSRF token for the logout form.
    pub csrf: String,
    /// Show invoices (the role sees amounts).
    pub sees_money: bool,
    /// Show Team and Audit.
    pub admin: bool,
    /// A line under the header on every page (a broken team connection).
    pub banner: Option<String>,
    /// Request id (error pages).
    pub request_id: String,
    /// Path and query of the page shown (for "Reload" links), from `/`.
    pub here: String,
    /// The public URL's path without its trailing slash (`""` or `"/partners"`); templates
    /// put it before every internal link, which the handlers build from `/`.
    pub base: String,
}

impl Layout {
    /// A page for someone not logged in.
    pub fn anonymous(state: &AppState, title: &str) -> Self {
        Self {
            title: title.to_owned(),
            demo: state.config.demo,
            base: state.config.base_path().to_owned(),
            ..Self::default()
        }
    }

    /// A page of a logged-in user, showing `key`.
    pub fn for_user(
        state: &AppState,
        viewer: Viewer<'_>,
        title: &str,
        nav: &'static str,
        path: &'static str,
        key: Option<&PartnerKey>,
    ) -> Self {
        let partner = viewer.partner;
        let keys = partner
            .map(|p| {
                p.keys
                    .iter()
                    .map(|k| KeyChoice {
                        id: k.id,
                        label: if k.is_disabled() {
                            format!("{} (disabled)", k.name)
                        } else {
                            k.name.clone()
                        },
                        selected: key.is_some_and(|s| s.id == k.id),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            title: title.to_owned(),
            demo: state.config.demo,
            user: Some(viewer.name.to_owned()),
            partner: partner.map(|p| p.name.clone()),
            keys,
            key_id: key.map_or(0, |k| k.id),
            nav,
            path,
            csrf: viewer.csrf.to_owned(),
            sees_money: viewer.sees_money,
            admin: viewer.admin,
            banner: viewer.banner.map(str::to_owned),
            request_id: String::new(),
            here: String::new(),
            base: state.config.base_path().to_owned(),
        }
    }

    /// The link back to this section's main page, and its words (error pages).
    pub fn way_back(&self) -> (String, &'static str) {
        let (_, main, words) = SECTIONS
            .iter()
            .copied()
            .find(|(nav, _, _)| *nav == self.nav)
            .unwrap_or(OVERVIEW);
        (format!("{main}{}", self.key_query()), words)
    }

    /// The URL of a static asset under its content-hashed name (`/static/app.<hash>.css`).
    pub fn asset(&self, name: &str) -> String {
        format!("{}/static/{}", self.base, super::assets::versioned(name))
    }

    /// `?key=N` for links that keep the selected key.
    pub fn key_query(&self) -> String {
        if self.key_id == 0 {
            String::new()
        } else {
            format!("?key={}", self.key_id)
        }
    }
}

/// Renders a template as an HTML response with `status`, into a buffer of about the size the
/// same template last rendered ([`page_size`]): a 40 KB page written into askama's own
/// estimate of a few KB would be copied four times as the buffer doubles on the way.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Result<Response, AppError> {
    let size = page_size::<T>();
    let last = size.load(Ordering::Relaxed);
    let mut html = String::with_capacity((last + last / 8).clamp(T::SIZE_HINT, MOST_RESERVED));
    page.render_into(&mut html)
        .map_err(|e| AppError::Internal(format!("template: {e}")))?;
    size.store(html.len(), Ordering::Relaxed);
    Ok((status, Html(html)).into_response())
}

/// The most [`render`] reserves before a page is written: a larger page grows its buffer.
const MOST_RESERVED: usize = 1 << 20;

/// The size template `T` last rendered to, in one of a few slots shared by template types
/// (chosen by the address of the type's name): two templates in one slot only make the guess
/// worse, never the page.
fn page_size<T>() -> &'static AtomicUsize {
    static SIZES: [AtomicUsize; 64] = [const { AtomicUsize::new(0) }; 64];
    let at = std::any::type_name::<T>().as_ptr() as usize;
    &SIZES[(at >> 3) % SIZES.len()]
}
