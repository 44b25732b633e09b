//! Serving: hyper-util instead of `axum::serve`, because the server must bound what a client can
//! hold open (`SECURITY.md` findings 3 and 4):
//!
//! - a header-read timeout (a client that sends headers slowly is cut off);
//! - a header-size cap (oversized headers get 431), a URI cap (414), a body cap (413);
//! - a per-request deadline (503, not 408) and a global concurrency limit that sheds load with
//!   503 and `Retry-After` instead of queueing without bound;
//! - on SIGTERM/SIGINT: readiness turns 503, no new connections are accepted, in-flight
//!   requests finish within the drain deadline, then the process exits;
//! - per connection ([`conn`]): first bytes within the header timeout, an idle timeout, a write
//!   stall timeout, and a cap on open connections below the file descriptor limit.

pub mod conn;

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::Service as _;

/// Limits of the server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time a client has to send its request headers.
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers) in bytes.
    pub max_header_bytes: usize,
    /// Longest URI (path and query) in bytes.
    pub max_uri_bytes: usize,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Deadline of one request.
    pub request_timeout: Duration,
    /// Requests handled at once; more are refused with 503.
    pub max_concurrent: usize,
    /// Time in-flight requests get to finish after a shutdown signal.
    pub drain_deadline: Duration,
    /// A connection that reads and writes nothing for this long is closed.
    pub idle_timeout: Duration,
    /// A client that accepts no response bytes for this long is disconnected.
    pub write_stall_timeout: Duration,
    /// Open connections at most; `None` derives it from the file descriptor limit.
    pub max_connections: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_uri_bytes: 8 * 1024,
            max_body_bytes: 16 * 1024,
            request_timeout: Duration::from_secs(15),
            max_concurrent: 256,
            drain_deadline: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            write_stall_timeout: Duration::from_secs(30),
            max_connections: None,
        }
    }
}

/// Refuses URIs over the cap with 414 before anything else runs.
pub async fn limit_uri(State(max): State<usize>, req: Request, next: Next) -> Response {
    let len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if len > max {
        return (StatusCode::URI_TOO_LONG, "URI too long").into_response();
    }
    next.run(req).await
}

/// Sheds load: without a free slot the answer is an immediate 503 with `Retry-After`.
pub async fn shed_load(State(slots): State<Arc<Semaphore>>, req: Request, next: Next) -> Response {
    let Ok(_permit) = slots.try_acquire_owned() else {
        let mut r = (StatusCode::SERVICE_UNAVAILABLE, "busy; try again shortly").into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    };
    next.run(req).await
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    draining: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let fd_limit = conn::raise_fd_limit();
    let max_connections = conn::max_connections(limits.max_connections, fd_limit);
    tracing::info!(
        open_file_limit = fd_limit,
        max_connections,
        "connection limits"
    );
    let open = Arc::new(Semaphore::new(max_connections));
    // Sent at shutdown to the connections that have not sent their first bytes yet.
    let (closing, _) = tokio::sync::watch::channel(());
    let timeouts = conn::ConnTimeouts {
        first_byte: limits.header_read_timeout,
        idle: limits.idle_timeout,
        write_stall: limits.write_stall_timeout,
    };
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32);
    let builder = Arc::new(builder);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and similar: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Over the cap, the connection is closed at once: cheaper than any answer.
                let Ok(permit) = open.clone().try_acquire_owned() else {
                    crate::metrics::inc("portal_connections_refused_total", &[]);
                    tracing::debug!(%peer, "connection refused: too many open connections");
                    drop(stream);
                    continue;
                };
                let router = router.clone();
                let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    let mut router = router.clone();
                    async move { Ok::<_, Infallible>(router.call(req.map(Body::new)).await.unwrap_or_else(|e| match e {})) }
                });
                let (builder, watcher, mut closing) = (builder.clone(), graceful.watcher(), closing.subscribe());
                tokio::spawn(async move {
                    // The HTTP connection (its parser, buffers and timers) is built when the
                    // first bytes arrive: until then a socket holds only itself and this wait
                    // (1,000 silent sockets took 1.0 MB instead of 4.3), and a shutdown closes
                    // it at once. The header timeout then starts again for the headers.
                    if !conn::first_byte(&stream, timeouts.first_byte, &mut closing).await {
                        tracing::debug!(%peer, "connection closed before its first byte");
                        return;
                    }
                    // Built and boxed in a block of its own: a local in scope across the
                    // `await` would be laid out in the waiting task too.
                    let served = {
                        let stream = TokioIo::new(conn::Guarded::new(stream, timeouts));
                        Box::pin(watcher.watch(builder.serve_connection_with_upgrades(stream, service).into_owned()))
                    };
                    if let Err(e) = served.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
            () = &mut shutdown => break,
        }
    }
    draining.store(true, Ordering::SeqCst);
    drop(listener);
    closing.send_replace(());
    tracing::info!(
        deadline_s = limits.drain_deadline.as_secs(),
        "draining in-flight requests"
    );
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(limits.drain_deadline) => tracing::warn!("drain deadline passed; closing the remaining connections"),
    }
    Ok(())
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the right-most address
/// in `X-Forwarded-For` that is not a trusted proxy.
pub fn client_ip(
    peer: Option<SocketAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpNet],
) -> Option<std::net::IpAddr> {
    let peer_ip = peer?.ip();
    if !trusted.iter().any(|n| n.contains(peer_ip)) {
        return Some(peer_ip);
    }
    let chain: Vec<std::net::IpAddr> = forwarded_for
        .unwrap_or("")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    chain
        .into_iter()
        .rev()
        .find(|ip| !trusted.iter().any(|n| n.contains(*ip)))
        .or(Some(peer_ip))
}

/// An IP network (`10.0.0.0/8`, `::1/128`, or a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `addr` or `addr/prefix`.
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a.parse().ok()?, p.parse().ok()?),
            None => {
                let a: std::net::IpAddr = s.trim().parse().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if matches!(addr, std::net::IpAddr::V4(_)) {
            32
        } else {
            128
        };
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        match (self.addr, ip) {
            (std::net::IpAddr::V4(n), std::net::IpAddr::V4(i)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                u32::from(n) & mask == u32::from(i) & mask
            }
            (std::net::IpAddr::V6(n), std::net::IpAddr::V6(i)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match_addresses() {
        let n = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(
            IpNet::parse("::1")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        assert!(IpNet::parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let proxy: SocketAddr = "10.0.0.5:443".parse().unwrap();
        let trusted = [IpNet::parse("10.0.0.0/8").unwrap()];
        let xff = Some("203.0.113.9, 198.51.100.7, 10.0.0.4");
        assert_eq!(
            client_ip(Some(proxy), xff, &trusted),
            Some("198.51.100.7".parse().unwrap())
        );
        // Not behind a trusted proxy: the header is ignored.
        assert_eq!(
            client_ip(Some(proxy), xff, &[]),
            Some("10.0.0.5".parse().unwrap())
        );
        let direct: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        assert_eq!(
            client_ip(Some(direct), xff, &trusted),
            Some("192.0.2.1".parse().unwrap())
        );
    }
}
