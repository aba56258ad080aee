//! HTTP servers: axum over the [`Net`](crate::net::Net) listener. Every request becomes
//! an [`Input::HttpRequest`](boomerang_core::engine::Input) for the engine task; the
//! handler waits for the engine's answer on a oneshot.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::ConnectInfo;
use axum::extract::connect_info::Connected;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use boomerang_core::engine::{HttpRequest, HttpRequestId};
use tokio::sync::{mpsc, oneshot, watch};

use super::reload::ListenerSlot;
use super::{Event, HttpAnswer};
use crate::net::StreamListener;

/// After the stop signal, the listener keeps accepting what the kernel already queued
/// until no new connection has come for this long …
const DRAIN_IDLE: Duration = Duration::from_millis(100);
/// … or for at most this long in all, so a steady stream of clients cannot hold
/// shutdown up.
const DRAIN_MAX: Duration = Duration::from_secs(1);
/// HTTPS connections whose handshake is done, waiting for the HTTP server to take them.
const TLS_READY_QUEUE: usize = 1024;

/// A [`StreamListener`] as axum's listener (plain HTTP).
pub(super) struct AxumListener<L>(pub L);

impl<L: StreamListener> axum::serve::Listener for AxumListener<L> {
    type Io = L::Stream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok(x) => return x,
                Err(e) => {
                    tracing::warn!("HTTP accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// An HTTPS listener: a task accepts connections and runs each TLS handshake in a task
/// of its own (bounded by the handshake timeout, so a silent client holds nothing up);
/// axum takes the connections whose handshake succeeded. Dropping it stops accepting.
pub(super) struct TlsListener<S> {
    local: std::io::Result<SocketAddr>,
    ready: mpsc::Receiver<(tokio_rustls::server::TlsStream<S>, SocketAddr)>,
    acceptor_task: tokio::task::JoinHandle<()>,
}

impl<S> TlsListener<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    /// Start accepting on `listener`; must be called inside the runtime.
    pub(super) fn new<L: StreamListener<Stream = S>>(
        name: String,
        mut listener: L,
        slot: Arc<ListenerSlot>,
        handshake_timeout: Duration,
    ) -> TlsListener<S> {
        let local = listener.local_addr();
        let (ready_tx, ready) = mpsc::channel(TLS_READY_QUEUE);
        let acceptor_task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(server = %name, "HTTPS accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // The acceptor of the running configuration (a reload swaps it).
                let Some(acceptor) = slot.tls() else {
                    tracing::warn!(server = %name, %peer, "HTTPS server without TLS settings; connection dropped");
                    continue;
                };
                let ready_tx = ready_tx.clone();
                let name = name.clone();
                tokio::spawn(async move {
                    match crate::tls::accept(&acceptor, stream, handshake_timeout).await {
                        Ok((stream, _)) => {
                            // Fails only when the server stopped; the stream is then closed.
                            let _ = ready_tx.send((stream, peer)).await;
                        }
                        Err(e) => {
                            tracing::info!(server = %name, %peer, "HTTPS handshake failed: {e}");
                        }
                    }
                });
            }
        });
        TlsListener {
            local,
            ready,
            acceptor_task,
        }
    }
}

impl<S> Drop for TlsListener<S> {
    fn drop(&mut self) {
        self.acceptor_task.abort();
    }
}

impl<S> axum::serve::Listener for TlsListener<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    type Io = tokio_rustls::server::TlsStream<S>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(x) => x,
            // The acceptor task ended (it only ends when aborted): nothing more comes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match &self.local {
            Ok(a) => Ok(*a),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        }
    }
}

/// A listener that, once `stop` turns true, still accepts the connections already
/// queued (each then gets an answer, 503 once the engine has stopped) and reports on
/// `drained` when the queue stays empty for [`DRAIN_IDLE`] (or after [`DRAIN_MAX`]);
/// only then does axum close the listener. Closing it straight away would reset every
/// connection the kernel had completed but we had not yet accepted.
pub(super) struct Draining<A> {
    inner: A,
    stop: watch::Receiver<bool>,
    drained: Option<oneshot::Sender<()>>,
    drain_until: Option<tokio::time::Instant>,
}

impl<A: axum::serve::Listener> axum::serve::Listener for Draining<A> {
    type Io = A::Io;
    type Addr = A::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some(until) = self.drain_until else {
                tokio::select! {
                    biased;
                    changed = self.stop.wait_for(|v| *v) => {
                        if changed.is_err() {
                            // The driver is gone without a stop: drain all the same.
                            tracing::debug!("HTTP stop signal dropped; draining");
                        }
                        self.drain_until = Some(tokio::time::Instant::now() + DRAIN_MAX);
                        continue;
                    }
                    conn = self.inner.accept() => return conn,
                }
            };
            let wait = DRAIN_IDLE.min(until.saturating_duration_since(tokio::time::Instant::now()));
            if let Ok(conn) = tokio::time::timeout(wait, self.inner.accept()).await {
                return conn;
            }
            if let Some(drained) = self.drained.take() {
                let _ = drained.send(());
            }
            // axum stops calling accept once told; until then nothing more is taken.
            std::future::pending::<()>().await;
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The client's address, as the handler sees it.
#[derive(Debug, Clone, Copy)]
pub(super) struct PeerAddr(SocketAddr);

impl<A> Connected<IncomingStream<'_, Draining<A>>> for PeerAddr
where
    A: axum::serve::Listener<Addr = SocketAddr>,
{
    fn connect_info(stream: IncomingStream<'_, Draining<A>>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

#[derive(Clone)]
struct Shared {
    /// The server each request is tagged with (a reload may renumber it).
    slot: Arc<ListenerSlot>,
    events: mpsc::Sender<Event>,
    body_limit: usize,
    timeout: Duration,
}

/// Serve one HTTP server until `stop` turns true: then the connections already queued
/// are still accepted (see [`Draining`]) and requests in progress are finished.
pub(super) async fn serve<A: axum::serve::Listener<Addr = SocketAddr>>(
    slot: Arc<ListenerSlot>,
    name: String,
    listener: A,
    events: mpsc::Sender<Event>,
    body_limit: usize,
    timeout: Duration,
    stop: watch::Receiver<bool>,
) {
    let shared = Shared {
        slot,
        events,
        body_limit,
        timeout,
    };
    let app = Router::new().fallback(move |peer, req| handle(shared.clone(), peer, req));
    let (drained_tx, drained_rx) = oneshot::channel();
    let listener = Draining {
        inner: listener,
        stop,
        drained: Some(drained_tx),
        drain_until: None,
    };
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<PeerAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = drained_rx.await;
    })
    .await;
    if let Err(e) = result {
        tracing::error!(server = %name, "HTTP server failed: {e}");
    }
}

fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (status, [("content-type", "application/json")], body).into_response()
}

async fn handle(
    shared: Shared,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    req: Request<Body>,
) -> Response {
    let (parts, body) = req.into_parts();
    let body = match to_bytes(body, shared.body_limit).await {
        Ok(b) => b,
        Err(_) => {
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large or unreadable",
            );
        }
    };
    let mut headers = BTreeMap::new();
    for (name, value) in &parts.headers {
        if let Ok(v) = value.to_str() {
            headers
                .entry(name.as_str().to_ascii_lowercase())
                .or_insert_with(|| v.to_owned());
        }
    }
    let request = HttpRequest {
        id: HttpRequestId(0),
        server: shared.slot.server(),
        peer,
        method: parts.method.as_str().to_ascii_uppercase(),
        path: percent_decode(parts.uri.path(), false),
        query: parse_query(parts.uri.query().unwrap_or("")),
        headers,
        body,
    };
    let (answer_tx, answer_rx) = oneshot::channel();
    let event = Event::Http {
        request,
        answer: answer_tx,
    };
    if shared.events.send(event).await.is_err() {
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match tokio::time::timeout(shared.timeout, answer_rx).await {
        Ok(Ok(answer)) => into_response(answer),
        Ok(Err(_)) => json_error(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
        Err(_) => json_error(StatusCode::GATEWAY_TIMEOUT, "no answer in time"),
    }
}

fn into_response(answer: HttpAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = status;
    for (name, value) in answer.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().append(n, v);
        }
    }
    response
}

/// `a=1&b=x%20y` → `{a: 1, b: "x y"}` (first value of a repeated key; `+` is a space).
pub(super) fn parse_query(query: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(percent_decode(k, true))
            .or_insert_with(|| percent_decode(v, true));
    }
    out
}

/// Decode `%XX` escapes (and `+` as space in query strings); invalid escapes stay as
/// written and invalid UTF-8 is replaced.
fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
        match b {
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b),
            },
            b'+' if plus_is_space => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Connections the kernel completed before the stop signal, but that the server had
    /// not accepted yet, still get an HTTP answer instead of a reset.
    #[tokio::test]
    async fn connections_queued_at_stop_are_still_answered() {
        const CLIENTS: usize = 40;
        let listener = crate::net::tcp_listen("127.0.0.1:0".parse().unwrap(), 128).unwrap();
        let addr = listener.local_addr().unwrap();
        // Every client connects and sends its request before the server accepts anything.
        let mut clients = Vec::new();
        for i in 0..CLIENTS {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(
                format!("POST /t?i={i} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
            clients.push(s);
        }
        let (events_tx, mut events_rx) = mpsc::channel(16);
        // A stand-in engine task: answers every request 200.
        tokio::spawn(async move {
            while let Some(event) = events_rx.recv().await {
                if let Event::Http { answer, .. } = event {
                    let _ = answer.send(HttpAnswer {
                        status: 200,
                        headers: Vec::new(),
                        body: bytes::Bytes::from_static(b"ok"),
                    });
                }
            }
        });
        // The stop signal is already given when the server starts.
        let (_stop_tx, stop_rx) = watch::channel(true);
        let slot = ListenerSlot::new(
            boomerang_core::lang::program::ServerId(0),
            None,
            crate::net::StreamOptions::default(),
        );
        let server = tokio::spawn(serve(
            slot,
            "T".into(),
            AxumListener(listener),
            events_tx,
            1024,
            Duration::from_secs(5),
            stop_rx,
        ));
        for (i, mut c) in clients.into_iter().enumerate() {
            let mut reply = String::new();
            tokio::time::timeout(Duration::from_secs(10), c.read_to_string(&mut reply))
                .await
                .expect("answered in time")
                .unwrap_or_else(|e| panic!("client {i}: {e}"));
            assert!(reply.starts_with("HTTP/1.1 200"), "client {i}: {reply:?}");
        }
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the server stopped once drained")
            .unwrap();
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "the listener is closed after draining"
        );
    }

    #[test]
    fn query_strings_decode_like_forms() {
        let q = parse_query("nas_identifier=nas%201&username=bob+smith&x&username=again&bad=%zz");
        assert_eq!(q["nas_identifier"], "nas 1");
        assert_eq!(q["username"], "bob smith");
        assert_eq!(q["x"], "");
        assert_eq!(q["bad"], "%zz");
        assert_eq!(percent_decode("/a%2Fb+c", false), "/a/b+c");
    }
}
