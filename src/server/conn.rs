//! What one TCP connection may hold: it must send its first byte within the header timeout
//! ([`first_byte`], before any HTTP state is built for it), may sit idle for at most the idle
//! timeout, and must accept response bytes within the write
//! stall timeout. A client that breaks any of these is disconnected, so silent sockets and
//! stalled downloads cannot pile up. The number of open connections is capped below the file
//! descriptor limit, which the process raises to its hard limit at start.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

/// Timeouts of one connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnTimeouts {
    /// Until the first byte of the first request.
    pub first_byte: Duration,
    /// Without any byte read or written.
    pub idle: Duration,
    /// With response bytes waiting for the client to read them.
    pub write_stall: Duration,
}

/// Waits for a new connection's first byte, for at most `within`: `false` when none came (the
/// client was silent or closed) or `closing` fired first, since a shutdown closes such sockets
/// at once.
pub async fn first_byte(
    stream: &tokio::net::TcpStream,
    within: Duration,
    closing: &mut tokio::sync::watch::Receiver<()>,
) -> bool {
    let mut first = [0u8; 1];
    tokio::select! {
        // `readable` answers at once for a new socket; a peek waits for a byte.
        ready = tokio::time::timeout(within, stream.peek(&mut first)) => matches!(ready, Ok(Ok(1..))),
        _ = closing.changed() => false,
    }
}

/// A stream that enforces [`ConnTimeouts`]: reads and writes fail with `TimedOut` once the
/// connection has been idle (or its writes stalled) for too long.
#[derive(Debug)]
pub struct Guarded<S> {
    inner: S,
    timeouts: ConnTimeouts,
    /// Wakes the connection when the idle deadline passes.
    idle: Pin<Box<Sleep>>,
    /// Set while a write is pending: wakes the connection when the stall deadline passes.
    stall: Option<Pin<Box<Sleep>>>,
}

impl<S> Guarded<S> {
    /// Wraps `inner`, whose first byte has come ([`first_byte`]); hyper's header timeout
    /// bounds the rest of the first request's head.
    pub fn new(inner: S, timeouts: ConnTimeouts) -> Self {
        Self {
            inner,
            timeouts,
            idle: Box::pin(tokio::time::sleep(timeouts.idle)),
            stall: None,
        }
    }

    fn progressed(&mut self) {
        let deadline = Instant::now() + self.timeouts.idle;
        self.idle.as_mut().reset(deadline);
    }

    /// `TimedOut` once the idle deadline has passed; otherwise registers the wake-up.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.idle.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the connection was idle too long",
            )),
            Poll::Pending => Ok(()),
        }
    }

    fn check_stall(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let stall = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(self.timeouts.write_stall)));
        match stall.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

use std::future::Future as _;

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.progressed();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                // A response being written is progress of its own; only a connection that
                // neither reads nor writes is idle.
                if this.stall.is_none() {
                    this.check_idle(cx)?;
                }
                Poll::Pending
            }
        }
    }
}

impl<S> Guarded<S> {
    /// After a write attempt: progress resets the clocks; a pending write starts (or checks)
    /// the stall deadline.
    fn wrote<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(result) => {
                self.stall = None;
                self.progressed();
                Poll::Ready(result)
            }
            Poll::Pending => {
                self.check_stall(cx)?;
                Poll::Pending
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(cx, poll)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.wrote(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Raises the soft limit on open files to the hard limit; returns the limit now in force.
pub fn raise_fd_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
        }
    }
}

/// Connections allowed at once: `configured`, or half of the descriptor limit less a reserve
/// for the database, WordPress.com and log files; never more than the limit allows.
pub fn max_connections(configured: Option<usize>, fd_limit: Option<u64>) -> usize {
    const RESERVE: u64 = 64;
    let allowed = fd_limit.map_or(4096, |n| {
        usize::try_from(n.saturating_sub(RESERVE) / 2).unwrap_or(usize::MAX)
    });
    let allowed = allowed.max(16);
    configured.map_or(allowed.min(65_536), |c| c.clamp(1, allowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_stays_well_below_the_descriptor_limit() {
        assert_eq!(max_connections(None, Some(256)), 96);
        assert_eq!(max_connections(None, Some(1024)), 480);
        assert_eq!(max_connections(Some(50), Some(1024)), 50);
        assert_eq!(max_connections(Some(5000), Some(1024)), 480);
        assert_eq!(max_connections(None, None), 4096);
    }
}
