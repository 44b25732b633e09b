//! The few static assets, embedded in the binary, and the answer for unknown paths.

use axum::{
    http::header,
    response::{IntoResponse, Response},
};

use crate::error::AppError;

/// `GET /static/{file}`: the few static assets, embedded in the binary.
pub async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, content_type): (&'static str, &str) = match file.as_str() {
        "app.css" => (
            include_str!("../../static/app.css"),
            "text/css; charset=utf-8",
        ),
        "app.js" => (
            include_str!("../../static/app.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return AppError::NotFound("No such file.".into()).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Unknown paths.
pub async fn not_found() -> AppError {
    AppError::NotFound("There is no page at this address.".into())
}
