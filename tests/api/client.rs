//! The upstream client on its own, against small local servers: the body cap.

use std::time::Duration;

use axum::{Router, routing::get};
use partner_portal::{
    secret::Secret,
    upstream::{UpstreamError, WpClient},
};

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn client(base: &str) -> WpClient {
    WpClient::new(
        url::Url::parse(base).unwrap(),
        "1".into(),
        Secret::new("s".into()),
        "http://x/auth/callback".into(),
        Duration::from_secs(5),
    )
    .unwrap()
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused_without_buffering_them() {
    // 6 MB, streamed without a Content-Length, so the cap must be enforced while reading.
    let big = Router::new().route(
        "/rest/v1.1/me",
        get(|| async {
            let chunks = (0..96)
                .map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b' '; 64 * 1024])));
            axum::body::Body::from_stream(futures_util::stream::iter(chunks))
        }),
    );
    let base = serve(big).await;
    let err = client(&base)
        .me(&Secret::new("t".into()))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        UpstreamError::TooLarge(partner_portal::upstream::MAX_BODY)
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let router = Router::new().route(
        "/rest/v1.1/me",
        get(|| async { axum::response::Redirect::temporary("http://127.0.0.1:9/elsewhere") }),
    );
    let base = serve(router).await;
    let err = client(&base)
        .me(&Secret::new("t".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, UpstreamError::Rejected { status: 307, .. }),
        "{err:?}"
    );
}
