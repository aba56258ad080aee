//! An accepted HTTP connection (HTTP API or management) with its time limits and its
//! place under the listener's connection limit.
//!
//! Two deadlines bound what a client may hold without sending a request:
//! - the **header timeout**: from the accept (or from the first byte of a later
//!   request on a kept-alive connection) to the end of the request head;
//! - the **idle timeout**: from the end of an answer to the first byte of the next
//!   request.
//!
//! While a request is being handled ([`Activity::begin`]) neither runs: a trigger
//! waiting for the engine is not idle. When a deadline passes, the next read fails
//! with `TimedOut` and the HTTP server closes the connection.
//!
//! A request's body is read by its handler, after [`Activity::begin`], so the
//! connection's reads do not bound it: the handler does, with
//! [`Busy::body_deadline`] (the header timeout of the request's head carries on to the
//! end of its body). Without that, a client sending a head with `Content-Length: 100`
//! and then nothing, or a byte now and then, would hold its connection forever.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::conn_limit::ConnPermit;

/// The two time limits of an HTTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Time to receive a request head.
    pub header: Duration,
    /// Time a kept-alive connection may wait for its next request.
    pub idle: Duration,
}

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// A request head is awaited (or arriving) until this instant.
    Head(Instant),
    /// Nothing arrived since the last answer; the connection may idle until this instant.
    Idle(Instant),
    /// This many requests are being handled.
    Busy(usize),
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// The reader to wake when the phase changes (its deadline moved).
    waker: Option<Waker>,
}

/// What the request handlers tell a connection: a request is being handled.
#[derive(Debug)]
pub struct Activity {
    deadlines: Deadlines,
    state: Mutex<State>,
}

/// A request being handled; dropping it (the answer is ready) starts the idle timeout
/// once no other request of the connection is in progress.
#[derive(Debug)]
pub struct Busy {
    activity: Arc<Activity>,
    /// See [`Busy::body_deadline`].
    body_deadline: Instant,
}

impl Activity {
    fn new(deadlines: Deadlines) -> Arc<Activity> {
        Arc::new(Activity {
            deadlines,
            state: Mutex::new(State {
                phase: Phase::Head(Instant::now() + deadlines.header),
                waker: None,
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a holder panicked between two plain updates.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A request's head has arrived and is being handled: the connection's reads have
    /// no deadline until it is answered. Its body, which the handler reads, must be in
    /// by [`Busy::body_deadline`].
    pub fn begin(self: &Arc<Self>) -> Busy {
        let mut s = self.state();
        let body_deadline = match s.phase {
            // The head arrived under the header timeout: the body is held to it too.
            Phase::Head(deadline) => deadline,
            // The head was read with an earlier request (pipelined): it gets a header
            // timeout of its own from now.
            Phase::Idle(_) | Phase::Busy(_) => Instant::now() + self.deadlines.header,
        };
        s.phase = match s.phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        };
        Busy {
            activity: self.clone(),
            body_deadline,
        }
    }
}

impl Busy {
    /// When the request's body must have been received: the deadline its head had (the
    /// header timeout from the request's first byte, or from the accept). One deadline
    /// for the whole request, not one per read, so a body trickled a byte at a time is
    /// bounded as well as one that never comes. The handler that reads the body
    /// enforces it (the HTTP API answers 408 and closes the connection).
    pub fn body_deadline(&self) -> Instant {
        self.body_deadline
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.activity;
        let mut s = activity.state();
        s.phase = match s.phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now() + activity.deadlines.idle),
        };
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

/// An accepted HTTP connection: the stream, its deadlines and its permit.
pub struct HttpConn<S> {
    inner: S,
    activity: Arc<Activity>,
    timer: Pin<Box<Sleep>>,
    _permit: Option<ConnPermit>,
}

impl<S> HttpConn<S> {
    /// `inner`, accepted now, bounded by `deadlines`; `permit` is its place under the
    /// listener's limits, given back when the connection is dropped.
    pub fn new(inner: S, deadlines: Deadlines, permit: Option<ConnPermit>) -> HttpConn<S> {
        let activity = Activity::new(deadlines);
        HttpConn {
            inner,
            activity,
            timer: Box::pin(tokio::time::sleep(deadlines.header)),
            _permit: permit,
        }
    }

    /// The handle request handlers use to say a request is in progress.
    pub fn activity(&self) -> Arc<Activity> {
        self.activity.clone()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HttpConn<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let mut s = this.activity.state();
        match polled {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before
                    && let Phase::Idle(_) = s.phase
                {
                    // The next request begins: its head has the header timeout.
                    s.phase = Phase::Head(Instant::now() + this.activity.deadlines.header);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let deadline = match s.phase {
                    Phase::Head(d) | Phase::Idle(d) => d,
                    Phase::Busy(_) => {
                        s.waker = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                };
                s.waker = Some(cx.waker().clone());
                let what = match s.phase {
                    Phase::Idle(_) => "idle timeout",
                    _ => "header timeout",
                };
                drop(s);
                if this.timer.deadline() != deadline {
                    this.timer.as_mut().reset(deadline);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HttpConn<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const D: Deadlines = Deadlines {
        header: Duration::from_millis(200),
        idle: Duration::from_millis(300),
    };

    /// Waits longer than both timeouts.
    const PAST_BOTH: Duration = Duration::from_secs(2);

    #[tokio::test]
    async fn a_silent_client_times_out() {
        let (_client, server) = tokio::io::duplex(64);
        let mut conn = HttpConn::new(server, D, None);
        let mut buf = [0u8; 8];
        let err = tokio::time::timeout(Duration::from_secs(30), conn.read(&mut buf))
            .await
            .expect("the header timeout ends the read")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(err.to_string(), "header timeout");
    }

    #[tokio::test]
    async fn a_request_in_progress_has_no_deadline_and_then_the_idle_timeout_runs() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut conn = HttpConn::new(server, D, None);
        client.write_all(b"GET").await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(conn.read(&mut buf).await.unwrap(), 3);
        let busy = conn.activity().begin();
        let waited = tokio::time::timeout(PAST_BOTH, conn.read(&mut buf)).await;
        assert!(waited.is_err(), "no deadline while a request is handled");
        drop(busy);
        let err = tokio::time::timeout(Duration::from_secs(30), conn.read(&mut buf))
            .await
            .expect("the idle timeout ends the read")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(err.to_string(), "idle timeout");
    }

    /// The body of a request is held to the header deadline its head had (from the
    /// accept here), not to a new one; a request whose head came in with an earlier
    /// one gets a header timeout from when it begins.
    #[tokio::test]
    async fn the_body_deadline_is_the_header_deadline_of_its_request() {
        let (_client, server) = tokio::io::duplex(64);
        let before = Instant::now();
        let conn = HttpConn::new(server, D, None);
        let after = Instant::now();
        let busy = conn.activity().begin();
        let deadline = busy.body_deadline();
        assert!(
            before + D.header <= deadline && deadline <= after + D.header,
            "{deadline:?} is not the accept's header deadline"
        );
        drop(busy);
        // Idle now; the next request's head was already read (pipelined).
        let before = Instant::now();
        let next = conn.activity().begin();
        assert!(next.body_deadline() >= before + D.header);
    }

    #[tokio::test]
    async fn the_first_byte_of_the_next_request_starts_its_header_timeout() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut conn = HttpConn::new(server, D, None);
        drop(conn.activity().begin());
        client.write_all(b"G").await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(conn.read(&mut buf).await.unwrap(), 1);
        let err = tokio::time::timeout(Duration::from_secs(30), conn.read(&mut buf))
            .await
            .expect("the header timeout ends the read")
            .unwrap_err();
        assert_eq!(err.to_string(), "header timeout");
    }
}
