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
use boomerang_core::eval::value::IpPrefix;
use tokio::sync::{mpsc, oneshot, watch};

use super::reload::ListenerSlot;
use super::{Event, HttpAnswer};
use crate::conn_limit::{self, ConnLimiter, ConnPermit};
use crate::http_conn::{Activity, Deadlines, HttpConn};
use crate::metrics::Metrics;
use crate::net::StreamListener;

/// After the stop signal, the listener keeps accepting what the kernel already queued
/// until no new connection has come for this long …
const DRAIN_IDLE: Duration = Duration::from_millis(100);
/// … or for at most this long in all, so a steady stream of clients cannot hold
/// shutdown up.
const DRAIN_MAX: Duration = Duration::from_secs(1);
/// HTTPS connections whose handshake is done, waiting for the HTTP server to take them.
const TLS_READY_QUEUE: usize = 1024;

/// What an HTTP listener checks at accept, before reading anything: the client list
/// (address-based, so it can be applied to the bare connection) and the connection
/// limits; and the deadlines of the connections it admits.
#[derive(Clone)]
pub(super) struct Gate {
    /// The server's configuration name, for logs and metrics.
    pub name: String,
    /// `clients "LIST";`: the prefixes of its clients; `None` admits every address.
    pub allow: Option<Arc<[IpPrefix]>>,
    /// Its connection counts.
    pub limiter: Arc<ConnLimiter>,
    /// TLS handshakes in progress per source address (HTTPS only).
    pub handshakes: Arc<ConnLimiter>,
    /// Header and idle timeouts of its connections.
    pub deadlines: Deadlines,
    /// Where refusals are counted.
    pub metrics: Arc<Metrics>,
}

impl Gate {
    /// A place for a connection from `peer`, or `None` (the caller drops it: closed).
    fn admit(&self, peer: SocketAddr) -> Option<ConnPermit> {
        if let Some(allow) = &self.allow
            && !allow.iter().any(|p| p.contains(&peer.ip()))
        {
            conn_limit::refuse_not_allowed(&self.metrics, &self.name, peer);
            return None;
        }
        conn_limit::admit(&self.limiter, &self.metrics, &self.name, peer)
    }
}

/// A [`StreamListener`] as axum's listener (plain HTTP): connections not admitted by
/// its [`Gate`] are closed at once, the others carry their deadlines.
pub(super) struct AxumListener<L> {
    pub listener: L,
    pub gate: Gate,
}

impl<L: StreamListener> axum::serve::Listener for AxumListener<L> {
    type Io = HttpConn<L::Stream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    if let Some(permit) = self.gate.admit(peer) {
                        return (
                            HttpConn::new(stream, self.gate.deadlines, Some(permit)),
                            peer,
                        );
                    }
                }
                Err(e) => {
                    conn_limit::accept_failed(&self.gate.name, &e);
                    tokio::time::sleep(conn_limit::ACCEPT_BACKOFF).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// An HTTPS listener: a task accepts connections and runs each TLS handshake in a task
/// of its own (bounded by the handshake timeout, so a silent client holds nothing up);
/// axum takes the connections whose handshake succeeded. Dropping it stops accepting.
pub(super) struct TlsListener<S> {
    local: std::io::Result<SocketAddr>,
    ready: mpsc::Receiver<(HttpConn<tokio_rustls::server::TlsStream<S>>, SocketAddr)>,
    acceptor_task: tokio::task::JoinHandle<()>,
}

impl<S> TlsListener<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    /// Start accepting on `listener`; must be called inside the runtime.
    pub(super) fn new<L: StreamListener<Stream = S>>(
        gate: Gate,
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
                        conn_limit::accept_failed(&gate.name, &e);
                        tokio::time::sleep(conn_limit::ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                let Some(permit) = gate.admit(peer) else {
                    continue;
                };
                // The acceptor of the running configuration (a reload swaps it).
                let Some(acceptor) = slot.tls() else {
                    tracing::warn!(server = %gate.name, %peer, "HTTPS server without TLS settings; connection dropped");
                    continue;
                };
                let Some(handshake) =
                    conn_limit::admit(&gate.handshakes, &gate.metrics, &gate.name, peer)
                else {
                    continue;
                };
                let ready_tx = ready_tx.clone();
                let name = gate.name.clone();
                let deadlines = gate.deadlines;
                tokio::spawn(async move {
                    let accepted = crate::tls::accept(&acceptor, stream, handshake_timeout).await;
                    drop(handshake);
                    match accepted {
                        Ok((stream, _)) => {
                            let conn = HttpConn::new(stream, deadlines, Some(permit));
                            // Fails only when the server stopped; the stream is then closed.
                            let _ = ready_tx.send((conn, peer)).await;
                        }
                        Err(e) => {
                            // Anyone who can connect can fail handshakes at will: one
                            // line per kind of failure per window, with the count.
                            crate::log_limit::info(
                                &crate::log_limit::key_of(&format!(
                                    "server \"{name}\": HTTPS handshake failed: {e}"
                                )),
                                format_args!(
                                    "server \"{name}\": HTTPS handshake failed (peer {peer}): {e}"
                                ),
                            );
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
    type Io = HttpConn<tokio_rustls::server::TlsStream<S>>;
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

/// The client's address, as the handler sees it, and its connection's activity (a
/// request in progress holds the connection's deadlines off).
#[derive(Debug, Clone)]
pub(super) struct PeerAddr(SocketAddr, Arc<Activity>);

impl<A, S> Connected<IncomingStream<'_, Draining<A>>> for PeerAddr
where
    A: axum::serve::Listener<Addr = SocketAddr, Io = HttpConn<S>>,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    fn connect_info(stream: IncomingStream<'_, Draining<A>>) -> Self {
        PeerAddr(*stream.remote_addr(), stream.io().activity())
    }
}

/// What the handler of one HTTP server needs, shared by its requests.
#[derive(Clone)]
pub(super) struct Shared {
    /// The server each request is tagged with (a reload may renumber it).
    pub slot: Arc<ListenerSlot>,
    /// Its configuration name, for metrics and logs.
    pub name: Arc<str>,
    pub events: mpsc::Sender<Event>,
    pub body_limit: usize,
    pub timeout: Duration,
    /// Where every answer is counted (`http_requests_total`), here where it is sent:
    /// the engine's, and those the handler gives itself (a body refused or not
    /// received, a malformed path or query, 503 at shutdown, 504 at the HTTP timeout).
    /// A request whose client went away before its answer was sent is not counted.
    pub metrics: Arc<Metrics>,
}

impl Shared {
    /// An answer the handler gives itself, counted and logged (at debug: these are
    /// the client's faults, and a flood of them must not flood the log).
    fn refuse(&self, peer: SocketAddr, status: StatusCode, message: &str) -> Response {
        self.metrics.http_request(&self.name, status.as_u16());
        tracing::debug!(server = %self.name, %peer, status = status.as_u16(), "HTTP request refused: {message}");
        json_error(status, message)
    }
}

/// Serve one HTTP server until `stop` turns true: then the connections already queued
/// are still accepted (see [`Draining`]) and requests in progress are finished.
pub(super) async fn serve<A, S>(shared: Shared, listener: A, stop: watch::Receiver<bool>)
where
    A: axum::serve::Listener<Addr = SocketAddr, Io = HttpConn<S>>,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let name = shared.name.clone();
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

/// 408 for a request whose body did not arrive by its deadline, closing the connection:
/// what is left of the body would otherwise be read as the next request.
fn body_timed_out(shared: &Shared, peer: SocketAddr) -> Response {
    let mut response = shared.refuse(
        peer,
        StatusCode::REQUEST_TIMEOUT,
        "request body not received within the header timeout",
    );
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        HeaderValue::from_static("close"),
    );
    response
}

async fn handle(
    shared: Shared,
    ConnectInfo(PeerAddr(peer, activity)): ConnectInfo<PeerAddr>,
    req: Request<Body>,
) -> Response {
    let busy = activity.begin();
    let (parts, body) = req.into_parts();
    // The connection's reads have no deadline while the request is handled: the whole
    // body must be in by the request's header deadline, or the client gets 408.
    let read = tokio::time::timeout_at(busy.body_deadline(), to_bytes(body, shared.body_limit));
    let body = match read.await {
        Ok(Ok(b)) => b,
        Err(_) => return body_timed_out(&shared, peer),
        Ok(Err(e)) => {
            let too_large = e
                .into_inner()
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            return if too_large {
                shared.refuse(
                    peer,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request body too large",
                )
            } else {
                shared.refuse(
                    peer,
                    StatusCode::BAD_REQUEST,
                    "request body unreadable (malformed chunked encoding, or cut short)",
                )
            };
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
    // Percent-escapes that do not decode to UTF-8 would reach a policy changed
    // (U+FFFD in place of the octets): refused instead.
    let Some(path) = percent_decode(parts.uri.path(), false) else {
        return shared.refuse(
            peer,
            StatusCode::BAD_REQUEST,
            "the path is not UTF-8 once its %-escapes are decoded",
        );
    };
    let query = match parse_query(parts.uri.query().unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return shared.refuse(peer, StatusCode::BAD_REQUEST, &e),
    };
    let request = HttpRequest {
        id: HttpRequestId(0),
        server: shared.slot.server(),
        peer,
        // As sent: methods are case-sensitive (RFC 9110 §9.1).
        method: parts.method.as_str().to_owned(),
        path,
        query,
        headers,
        body,
    };
    let (answer_tx, answer_rx) = oneshot::channel();
    let event = Event::Http {
        request,
        answer: answer_tx,
    };
    if shared.events.send(event).await.is_err() {
        return shared.refuse(peer, StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match tokio::time::timeout(shared.timeout, answer_rx).await {
        Ok(Ok(answer)) => {
            let response = into_response(&shared.name, answer);
            shared
                .metrics
                .http_request(&shared.name, response.status().as_u16());
            response
        }
        Ok(Err(_)) => shared.refuse(peer, StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
        Err(_) => shared.refuse(peer, StatusCode::GATEWAY_TIMEOUT, "no answer in time"),
    }
}

/// Headers that frame the message or manage the connection (RFC 9110 §7.6.1, RFC 9112
/// §6–7, and the proxies' `proxy-connection`): the server frames the body it sends
/// itself, so a policy's value for one of these is not sent — a `content-length`
/// other than the body's would make the client read the rest of the body as the next
/// response on a kept-alive connection.
const FRAMING_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The policy's answer as an HTTP response. Framing headers ([`FRAMING_HEADERS`]) and
/// headers whose name or value HTTP cannot carry (a control character such as a line
/// feed in the value) are left out, each with a rate-limited warning keyed by the
/// header's name.
fn into_response(server: &str, answer: HttpAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = status;
    for (name, value) in answer.headers {
        let lower = name.to_ascii_lowercase();
        if FRAMING_HEADERS.contains(&lower.as_str()) {
            crate::log_limit::warn(
                &format!("HTTP server \"{server}\": policy response header {lower:?} not sent"),
                format_args!(
                    "HTTP server \"{server}\": response header {lower:?} set by the policy \
                     not sent: it frames the message or the connection, which the server \
                     does itself"
                ),
            );
            continue;
        }
        match (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            (Ok(n), Ok(v)) => {
                response.headers_mut().append(n, v);
            }
            (Err(_), _) => crate::log_limit::warn(
                &format!("HTTP server \"{server}\": invalid policy response header name"),
                format_args!(
                    "HTTP server \"{server}\": response header {name:?} set by the policy \
                     not sent: not a valid header name"
                ),
            ),
            (Ok(_), Err(_)) => crate::log_limit::warn(
                &format!(
                    "HTTP server \"{server}\": invalid value of policy response header {lower:?}"
                ),
                format_args!(
                    "HTTP server \"{server}\": response header {lower:?} set by the policy \
                     not sent: its value holds a character a header cannot carry (a control \
                     character such as a line feed)"
                ),
            ),
        }
    }
    response
}

/// `a=1&b=x%20y` → `{a: 1, b: "x y"}` (first value of a repeated key; `+` is a space).
/// A key or value whose escapes decode to something other than UTF-8 is an error
/// naming it.
pub(super) fn parse_query(query: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let not_utf8 = |what: &str| {
            format!("query {what} {pair:?} is not UTF-8 once its %-escapes are decoded")
        };
        let key = percent_decode(k, true).ok_or_else(|| not_utf8("parameter"))?;
        let value = percent_decode(v, true).ok_or_else(|| not_utf8("value of"))?;
        out.entry(key).or_insert(value);
    }
    Ok(out)
}

/// Decode `%XX` escapes (and `+` as space in query strings); invalid escapes stay as
/// written. `None` when the result is not UTF-8.
fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
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
    String::from_utf8(out).ok()
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
            boomerang_core::contract::ServerId(0),
            None,
            crate::net::StreamOptions::default(),
        );
        let shared = Shared {
            slot,
            name: "T".into(),
            events: events_tx,
            body_limit: 1024,
            timeout: Duration::from_secs(5),
            metrics: Arc::new(Metrics::new("test")),
        };
        let server = tokio::spawn(serve(
            shared,
            AxumListener {
                listener,
                gate: gate(None, 0, 0),
            },
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

    /// A gate with these limits and client prefixes, and generous deadlines.
    fn gate(allow: Option<Vec<IpPrefix>>, connections: usize, per_source: usize) -> Gate {
        let limits = conn_limit::ConnLimits {
            connections,
            per_source,
        };
        Gate {
            name: "T".into(),
            allow: allow.map(Arc::from),
            limiter: ConnLimiter::new(limits),
            handshakes: ConnLimiter::new(limits),
            deadlines: Deadlines {
                header: Duration::from_secs(30),
                idle: Duration::from_secs(30),
            },
            metrics: Arc::new(Metrics::new("test")),
        }
    }

    /// Connections from an address off the client list, and connections over the
    /// limit, are closed at accept (the client reads EOF or a reset without sending
    /// anything); the connection admitted is handed over and counted.
    #[tokio::test]
    async fn the_gate_closes_unlisted_and_surplus_connections_at_accept() {
        use axum::serve::Listener as _;
        let listener = crate::net::tcp_listen("127.0.0.1:0".parse().unwrap(), 128).unwrap();
        let addr = listener.local_addr().unwrap();
        let only_two = IpPrefix::new("127.0.0.2".parse().unwrap(), 32).unwrap();
        let g = gate(Some(vec![only_two]), 1, 0);
        let limiter = g.limiter.clone();
        let metrics = g.metrics.clone();
        let mut l = AxumListener { listener, gate: g };
        // From 127.0.0.1: not on the list.
        let mut refused = tokio::net::TcpStream::connect(addr).await.unwrap();
        // From 127.0.0.2: admitted, then a second one over the limit of one.
        let connect_from_2 = || async {
            let s = tokio::net::TcpSocket::new_v4().unwrap();
            s.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            s.connect(addr).await.unwrap()
        };
        let _kept = connect_from_2().await;
        let mut surplus = connect_from_2().await;
        let (_conn, peer) = tokio::time::timeout(Duration::from_secs(10), l.accept())
            .await
            .expect("accepted");
        assert_eq!(peer.ip().to_string(), "127.0.0.2");
        assert_eq!(limiter.held(), 1);
        // Accepting goes on: the surplus connection is closed without blocking.
        let next = tokio::time::timeout(Duration::from_millis(500), l.accept()).await;
        assert!(next.is_err(), "nothing else is admitted");
        let mut buf = [0u8; 1];
        for (what, s) in [("unlisted", &mut refused), ("surplus", &mut surplus)] {
            let read = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("{what}: closed"));
            assert!(matches!(read, Ok(0) | Err(_)), "{what}: {read:?}");
        }
        let text = metrics.encode();
        assert!(
            text.contains(r#"connections_refused_total{server="T",reason="not_allowed"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"connections_refused_total{server="T",reason="connections"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn query_strings_decode_like_forms() {
        let q = parse_query(
            "nas_identifier=nas%201&username=bob+smith&x&username=again&bad=%zz&u=%C3%A9",
        )
        .unwrap();
        assert_eq!(q["nas_identifier"], "nas 1");
        assert_eq!(q["username"], "bob smith");
        assert_eq!(q["x"], "");
        assert_eq!(q["bad"], "%zz");
        assert_eq!(q["u"], "é");
        assert_eq!(percent_decode("/a%2Fb+c", false).as_deref(), Some("/a/b+c"));
    }

    #[test]
    fn escapes_that_are_not_utf8_are_refused_not_replaced() {
        let e = parse_query("username=%FF").unwrap_err();
        assert!(e.contains("\"username=%FF\""), "{e}");
        assert!(parse_query("%C3=1").is_err());
        assert_eq!(percent_decode("/%FF", false), None);
    }
}
