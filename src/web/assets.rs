//! The few static assets, embedded in the binary, and the answer for unknown paths.

use axum::{
    http::header,
    response::{IntoResponse, Response},
};

use crate::error::AppError;

/// `GET /static/{file}`: the few static assets, embedded in the binary.
pub async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match file.as_str() {
        "app.css" => (
            include_bytes!("../../static/app.css"),
            "text/css; charset=utf-8",
        ),
        "app.js" => (
            include_bytes!("../../static/app.js"),
            "text/javascript; charset=utf-8",
        ),
        "favicon.svg" => (include_bytes!("../../static/favicon.svg"), "image/svg+xml"),
        _ => {
            return AppError::not_found("File not found", "There is no such file.").into_response();
        }
    };
    asset(body, content_type)
}

/// `GET /favicon.ico`: what a browser asks for before it has read a page (and for pages
/// without HTML, such as a JSON answer).
pub async fn favicon() -> Response {
    asset(include_bytes!("../../static/favicon.ico"), "image/x-icon")
}

fn asset(body: &'static [u8], content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
