//! A panic is a bug, and never takes a connection down silently: one in a handler becomes the
//! portal's 500 page (the middleware renders it like any other error) and an error in the log;
//! one while a response body is sent ends that body with an error (the client sees a broken
//! download, not a short one that looks whole) and an error in the log.

use std::{
    any::Any,
    panic::AssertUnwindSafe,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    body::{Body, Bytes},
    response::{IntoResponse as _, Response},
};
use http_body::{Frame, SizeHint};

use crate::error::AppError;

/// The text of a panic's payload.
fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic without a message)")
}

/// For `CatchPanicLayer::custom`: logs the panic, answers the portal's 500.
pub fn handler_panicked(payload: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!(
        panic = message(payload.as_ref()),
        "a request handler panicked"
    );
    AppError::Internal("a request handler panicked".to_owned()).into_response()
}

/// A response body that cannot panic out of its `poll_frame`, and is fused: polled after its
/// end (as the compression layer does), it answers the end again without polling what it wraps.
#[derive(Debug)]
pub struct GuardedBody {
    inner: Option<Body>,
    request_id: String,
}

impl GuardedBody {
    /// `body` guarded; a panic is logged with `request_id`.
    pub fn wrap(body: Body, request_id: &str) -> Body {
        Body::new(Self {
            inner: Some(body),
            request_id: request_id.to_owned(),
        })
    }
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll_frame(cx))) {
            Ok(Poll::Ready(None)) => {
                this.inner = None;
                Poll::Ready(None)
            }
            Ok(Poll::Ready(Some(Err(e)))) => {
                this.inner = None;
                Poll::Ready(Some(Err(e)))
            }
            Ok(other) => other,
            Err(payload) => {
                this.inner = None;
                tracing::error!(
                    request_id = %this.request_id,
                    panic = message(payload.as_ref()),
                    "a response body panicked while it was sent; the response is cut off"
                );
                Poll::Ready(Some(Err(axum::Error::new(std::io::Error::other(
                    "the response body panicked",
                )))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), http_body::Body::size_hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;
    use http_body_util::BodyExt as _;

    #[tokio::test]
    async fn a_body_that_panics_ends_in_an_error_and_stays_ended() {
        let chunks = futures_util::stream::iter(0..3).map(|i| {
            if i == 1 {
                panic!("planted");
            }
            Ok::<_, std::io::Error>(Bytes::from_static(b"row\n"))
        });
        let mut body = GuardedBody::wrap(Body::from_stream(chunks), "r1");
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"row\n"));
        assert!(
            body.frame().await.unwrap().is_err(),
            "the panic is an error"
        );
        assert!(body.frame().await.is_none(), "and then the end, for good");
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn an_ended_body_is_never_polled_again() {
        // A bare `unfold` panics when polled after its end; guarded, it is not polled.
        let chunks = futures_util::stream::unfold(0, |n| async move {
            (n < 2).then(|| (Ok::<_, std::io::Error>(Bytes::from_static(b"x")), n + 1))
        });
        let mut body = GuardedBody::wrap(Body::from_stream(chunks), "r2");
        let mut seen = 0;
        while let Some(frame) = body.frame().await {
            frame.unwrap();
            seen += 1;
        }
        assert_eq!(seen, 2);
        assert!(body.frame().await.is_none());
    }
}
