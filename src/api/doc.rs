//! The API's contract: an OpenAPI 3.1 document generated from the handlers' types and
//! annotations (`utoipa`), never written beside them, at `/api/v1/openapi.json`; and `/api`, a
//! page in the portal's layout drawn from the same document.

use askama::Template;
use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::Value;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{copy, counts, invoices, proxy};
use crate::{
    auth::session::Authed,
    error::AppError,
    state::AppState,
    web::{Layout, render},
};

/// The document's source: every `/api/v1` handler and the types it answers with.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "partner-portal API",
        description = "Jetpack partner reports for scripts: the keys, the activations and their counts from the portal's own copy, the past invoices with their lines and reconciliation, and WordPress.com's four reporting endpoints passed through. Make a token on the portal's API tokens page (or with `partner-portal token create`) and send it as `Authorization: Bearer ppt_…`. Every answer from the copy says how fresh it is; money is integer minor units beside the currency; times are ISO 8601 UTC.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        copy::keys,
        copy::activations,
        copy::activation,
        counts::counts,
        invoices::list,
        invoices::detail,
        proxy::activations,
        proxy::summary,
        proxy::invoices,
        proxy::upcoming,
    ),
    components(schemas(
        super::ApiError,
        copy::StatusParam,
        copy::SortParam,
        copy::DirParam,
        copy::PresetParam,
        counts::PeriodParam,
    )),
    modifiers(&Security),
    tags(
        (name = "copy", description = "Answered from the portal's copy of the key's activations: search, filters, counts."),
        (name = "invoices", description = "Past invoices with lines and reconciliation: finance and admin, and tokens with `invoices:read`."),
        (name = "wordpress.com", description = "WordPress.com's own reporting endpoints, passed through with the team's connection."),
    )
)]
pub struct ApiDoc;

/// The two ways in: a portal API token, or the browser's session cookie.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ppt_")
                    .description(Some(
                        "A portal API token from the API tokens page: `ppt_` and 49 characters. Scopes: `activations:read` (every token), `invoices:read`, `audit:read`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "portal_session",
                "The browser's login (`__Host-portal_session` over https).",
            ))),
        );
    }
}

/// The document, for this deployment (its sub-path as the server).
pub fn document(state: &AppState) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let base = state.config.base_path();
    doc.servers = Some(vec![utoipa::openapi::Server::new(if base.is_empty() {
        "/"
    } else {
        base
    })]);
    doc
}

/// The routes: the document and its page (neither needs a login).
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api", get(api_page))
}

async fn openapi_json(State(state): State<AppState>) -> Json<utoipa::openapi::OpenApi> {
    Json(document(&state))
}

/// One parameter, as the page lists it.
struct ParamView {
    name: String,
    place: String,
    kind: String,
    required: bool,
    description: String,
}

/// One status an operation answers with.
struct ResponseView {
    status: String,
    description: String,
    body: String,
    /// The body's schema, when it is one of the document's named types.
    link: Option<String>,
}

/// One route.
struct OperationView {
    anchor: String,
    method: String,
    path: String,
    tag: String,
    summary: String,
    description: String,
    scopes: String,
    params: Vec<ParamView>,
    responses: Vec<ResponseView>,
}

/// One field of a schema.
struct FieldView {
    name: String,
    kind: String,
    description: String,
}

/// One schema.
struct SchemaView {
    name: String,
    description: String,
    fields: Vec<FieldView>,
}

#[derive(Template)]
#[template(path = "api.html")]
struct ApiPage {
    layout: Layout,
    title: String,
    description: String,
    version: String,
    operations: Vec<OperationView>,
    schemas: Vec<SchemaView>,
    base_url: String,
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// Markdown's code marks left out, for a page that shows the text as it is.
fn plain(text: &str) -> String {
    text.replace('`', "")
}

/// `text` starting with a capital, as a sentence on its own.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A schema's type in a few characters: `string (date-time)`, `ActivationsAnswer`,
/// `array of Activation`, `integer or null`.
fn kind(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    for combo in ["oneOf", "anyOf", "allOf"] {
        if let Some(list) = schema.get(combo).and_then(Value::as_array) {
            return list.iter().map(kind).collect::<Vec<_>>().join(" or ");
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let shown: Vec<String> = values
            .iter()
            .map(|v| {
                v.as_str()
                    .map_or_else(|| v.to_string(), |s| format!("“{s}”"))
            })
            .collect();
        return format!("one of {}", shown.join(", "));
    }
    let types: Vec<String> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts.iter().map(text).collect(),
        _ => Vec::new(),
    };
    let mut out = types
        .iter()
        .map(|t| match (t.as_str(), schema.get("items")) {
            ("array", Some(items)) => format!("array of {}", kind(items)),
            _ => match schema.get("format").and_then(Value::as_str) {
                Some(f) if t != "null" => format!("{t} ({f})"),
                _ => t.clone(),
            },
        })
        .collect::<Vec<_>>()
        .join(" or ");
    if out.is_empty() {
        out = "any JSON".to_owned();
    }
    out
}

fn operations(doc: &Value) -> Vec<OperationView> {
    let mut out = Vec::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, op) in item {
            let params = op
                .get("parameters")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| ParamView {
                            name: text(&p["name"]),
                            place: text(&p["in"]),
                            kind: kind(&p["schema"]),
                            required: p["required"].as_bool().unwrap_or(false),
                            description: plain(&text(&p["description"])),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let responses = op
                .get("responses")
                .and_then(Value::as_object)
                .map(|rs| {
                    rs.iter()
                        .map(|(status, r)| {
                            let schema = r.pointer("/content/application~1json/schema");
                            ResponseView {
                                status: status.clone(),
                                description: plain(&text(&r["description"])),
                                body: schema.map(kind).unwrap_or_default(),
                                link: schema
                                    .and_then(|s| s.get("$ref"))
                                    .and_then(Value::as_str)
                                    .and_then(|r| r.rsplit('/').next())
                                    .map(|name| format!("schema-{name}")),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            let scopes = op
                .get("security")
                .and_then(Value::as_array)
                .and_then(|s| s.iter().find_map(|req| req.get("token")))
                .and_then(Value::as_array)
                .map(|s| s.iter().map(text).collect::<Vec<_>>().join(", "))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "activations:read".to_owned());
            let mut lines = plain(&text(&op["description"]));
            // The handlers' first doc line reads "`GET /path`: what it does"; the page shows
            // the method and path as the heading already.
            let summary = text(&op["summary"]);
            let summary = sentence(&plain(
                summary
                    .strip_prefix(&format!("`{} {path}`: ", method.to_uppercase()))
                    .unwrap_or(&summary),
            ));
            if lines == summary {
                lines.clear();
            }
            out.push(OperationView {
                anchor: format!("{method}-{path}")
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .collect(),
                method: method.to_uppercase(),
                path: path.clone(),
                tag: op.pointer("/tags/0").map(text).unwrap_or_default(),
                summary,
                description: lines,
                scopes,
                params,
                responses,
            });
        }
    }
    // The portal's own routes first, then WordPress.com's, each by path.
    out.sort_by(|a, b| {
        (a.tag == "wordpress.com", &a.path).cmp(&(b.tag == "wordpress.com", &b.path))
    });
    out
}

fn schemas(doc: &Value) -> Vec<SchemaView> {
    let Some(all) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    all.iter()
        .map(|(name, s)| {
            let required: Vec<&str> = s
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            SchemaView {
                name: name.clone(),
                description: plain(&text(&s["description"])),
                fields: s
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|props| {
                        props
                            .iter()
                            .map(|(field, p)| FieldView {
                                name: if required.contains(&field.as_str()) {
                                    field.clone()
                                } else {
                                    format!("{field} (optional)")
                                },
                                kind: kind(p),
                                description: plain(&text(&p["description"])),
                            })
                            .collect()
                    })
                    .unwrap_or_else(|| {
                        vec![FieldView {
                            name: String::new(),
                            kind: kind(s),
                            description: String::new(),
                        }]
                    }),
            }
        })
        .collect()
}

/// `GET /api`: the API's reference, drawn from the document.
async fn api_page(
    State(state): State<AppState>,
    viewer: Result<Authed, AppError>,
) -> Result<Response, AppError> {
    let doc = serde_json::to_value(document(&state))
        .map_err(|e| AppError::Internal(format!("OpenAPI document: {e}")))?;
    let title = "API reference";
    let layout = match &viewer {
        Ok(authed) => {
            let mut l = Layout::for_user(&state, authed.viewer(), title, "tokens", "/api", None);
            l.here = "/api".to_owned();
            l
        }
        Err(_) => Layout::anonymous(&state, title),
    };
    let page = ApiPage {
        layout,
        title: text(&doc["info"]["title"]),
        description: plain(&text(&doc["info"]["description"])),
        version: text(&doc["info"]["version"]),
        operations: operations(&doc),
        schemas: schemas(&doc),
        base_url: state.config.base_path_url(),
    };
    Ok(render(StatusCode::OK, &page)?.into_response())
}
