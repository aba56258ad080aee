//! `--reverse`: a NAS that keeps a TCP/TLS connection to the server, sends Status-Server
//! watchdogs, and answers the CoA-Request and Disconnect-Request the server sends down
//! that connection (reverse dynamic authorization). Every event is one JSON line on
//! stdout.

use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde_json::{Map as JsonMap, Value as Json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, sleep, sleep_until};

use boomerang_core::eval::text::format_timestamp;
use boomerang_core::radius::attr::ERROR_CAUSE;
use boomerang_core::radius::auth::{
    SignOptions, VerifyPolicy, sign_response, verify_request, verify_response,
};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::dictionary::{Dictionary, Encrypt};
use boomerang_core::radius::framing::StreamDecoder;
use boomerang_core::radius::packet::Packet;
use boomerang_core::rng::RandomSource;

use super::attrs::{self, AttrError, AttrText, EncodedAttr};
use super::net::{self, OsRandom, RadiusStream, StreamConnector};
use super::oneshot::build_request;
use super::{
    ClientArgs, ClientError, EXIT_POSITIVE, Transport, code_name, connector, default_port,
    gather_attributes, load_dictionary, secret,
};

/// First wait before reconnecting; doubled after each failure.
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Status-Server probes that may go unanswered in a row before the connection is
/// considered dead and reopened (the RFC 3539 watchdog's spirit).
const MAX_MISSED_STATUS: u32 = 3;

/// Everything the NAS needs, checked before the first connection.
struct Settings {
    dict: Dictionary,
    secret: Vec<u8>,
    addr: SocketAddr,
    transport: Transport,
    connector: StreamConnector,
    status_interval: Duration,
    status_timeout: Duration,
    status_attrs: Vec<EncodedAttr>,
    nak_all: bool,
    nak_for: Vec<EncodedAttr>,
    error_cause: u32,
    delay: Option<Duration>,
    count: Option<u64>,
    exit_at: Option<Instant>,
    verbose: bool,
}

/// What survives from one connection to the next.
struct State {
    answered: u64,
    rng: OsRandom,
    next_status_id: u8,
}

/// How a connection ended.
enum SessionEnd {
    /// --count or --exit-after reached: exit 0.
    Done,
    /// The connection is gone (or was closed by us for a protocol reason); `healthy` says
    /// whether the server said anything valid on it (which resets the backoff).
    Dropped { reason: String, healthy: bool },
}

/// Writes one JSON line to stdout. A closed stdout is not an error worth dying for.
fn emit(line: Json) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A JSON object starting with `"time"`, then the given fields in order.
fn line(fields: Vec<(&str, Json)>) -> Json {
    let mut obj = JsonMap::new();
    obj.insert(
        "time".into(),
        Json::String(format_timestamp(SystemTime::now())),
    );
    for (k, v) in fields {
        obj.insert(k.to_string(), v);
    }
    Json::Object(obj)
}

fn millis(d: Duration) -> Json {
    Json::from(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Sleeps for `d`, or until the exit deadline; true when the deadline came first.
async fn sleep_or_exit(d: Duration, exit_at: Option<Instant>) -> bool {
    match exit_at {
        Some(at) if at <= Instant::now() + d => {
            sleep_until(at).await;
            true
        }
        _ => {
            sleep(d).await;
            false
        }
    }
}

/// The Error-Cause of NAKs: a number, or a value name of Error-Cause.
fn parse_error_cause(dict: &Dictionary, text: &str) -> Result<u32, ClientError> {
    if let Ok(n) = text.parse::<u32>() {
        return Ok(n);
    }
    dict.attr("Error-Cause")
        .and_then(|def| dict.value_number(def, text))
        .ok_or_else(|| ClientError::BadErrorCause(text.to_string()))
}

/// Checks every option and builds the settings, plus the --server host to resolve.
fn settings(args: &ClientArgs) -> Result<(Settings, String), ClientError> {
    if args.transport == Transport::Udp {
        return Err(ClientError::ReverseNeedsStream);
    }
    let dict = load_dictionary(&args.dictionaries)?;
    // Every positional argument (CODE included) is an attribute of the Status-Server.
    let positional: Vec<String> = args
        .code
        .iter()
        .chain(args.attributes.iter())
        .cloned()
        .collect();
    let mut texts = gather_attributes(&positional, &args.files)?;
    if let Some(id) = &args.nas_identifier {
        texts.insert(
            0,
            AttrText {
                name: "NAS-Identifier".into(),
                value: id.clone(),
                origin: "--nas-identifier".into(),
            },
        );
    }
    let status_attrs = texts
        .iter()
        .map(|t| attrs::encode(&dict, t))
        .collect::<Result<Vec<_>, _>>()?;
    let mut nak_for = Vec::new();
    for spec in &args.nak_for {
        let text = attrs::parse_argument(spec, "--nak-for")?;
        let encoded = attrs::encode(&dict, &text)?;
        if encoded.encrypt != Encrypt::None {
            return Err(AttrError::BadValue {
                origin: "--nak-for".into(),
                name: encoded.name,
                message: "hidden attributes cannot be matched".into(),
            }
            .into());
        }
        nak_for.push(encoded);
    }
    let error_cause = parse_error_cause(&dict, &args.error_cause)?;
    let secret = secret(args)?;
    let server = net::parse_server(args.server.as_deref().unwrap_or("127.0.0.1"))?;
    let port = server
        .port
        .unwrap_or_else(|| default_port(Code::StatusServer, args.transport));
    let connector = connector(args, &server.host)?.ok_or(ClientError::ReverseNeedsStream)?;
    let settings = Settings {
        dict,
        secret,
        // Resolved by the caller; the port is what matters until then.
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        transport: args.transport,
        connector,
        status_interval: args.status_interval.max(Duration::from_millis(10)),
        status_timeout: args.timeout,
        status_attrs,
        nak_all: args.nak,
        nak_for,
        error_cause,
        delay: args.delay.filter(|d| !d.is_zero()),
        count: args.count,
        exit_at: args.exit_after.map(|d| Instant::now() + d),
        verbose: args.verbose,
    };
    Ok((settings, server.host))
}

/// Runs the NAS until --count or --exit-after; returns the exit status.
pub async fn run(args: &ClientArgs) -> Result<u8, ClientError> {
    let (mut settings, host) = settings(args)?;
    settings.addr = net::resolve(&host, settings.addr.port()).await?;
    if settings.count == Some(0) {
        return Ok(EXIT_POSITIVE);
    }
    let mut state = State {
        answered: 0,
        rng: OsRandom::new(),
        next_status_id: 0,
    };
    let mut first = [0u8; 1];
    state.rng.fill(&mut first);
    state.rng.check()?;
    state.next_status_id = first[0];

    let mut backoff = INITIAL_BACKOFF;
    loop {
        let connect = settings.connector.connect(settings.addr);
        let connected = match settings.exit_at {
            Some(at) => tokio::select! {
                biased;
                _ = sleep_until(at) => return Ok(EXIT_POSITIVE),
                r = connect => r,
            },
            None => connect.await,
        };
        let (event, reason) = match connected {
            Err(e) => ("connect-failed", e.to_string()),
            Ok(stream) => {
                emit(line(vec![
                    ("event", "connected".into()),
                    ("server", settings.addr.to_string().into()),
                    ("transport", settings.transport.name().into()),
                ]));
                match session(stream, &settings, &mut state).await {
                    SessionEnd::Done => return Ok(EXIT_POSITIVE),
                    SessionEnd::Dropped { reason, healthy } => {
                        if healthy {
                            backoff = INITIAL_BACKOFF;
                        }
                        ("disconnected", reason)
                    }
                }
            }
        };
        emit(line(vec![
            ("event", event.into()),
            ("reason", reason.into()),
            ("retry_in_ms", millis(backoff)),
        ]));
        if sleep_or_exit(backoff, settings.exit_at).await {
            return Ok(EXIT_POSITIVE);
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// An answer waiting for --delay to pass.
struct Delayed {
    due: Instant,
    wire: Bytes,
    line: Json,
}

/// The Status-Server in flight.
struct PendingStatus {
    id: u8,
    authenticator: [u8; 16],
    deadline: Instant,
}

/// One connection's state.
struct Session<'a, W> {
    settings: &'a Settings,
    state: &'a mut State,
    writer: W,
    pending: Option<PendingStatus>,
    missed: u32,
    delayed: VecDeque<Delayed>,
    healthy: bool,
}

/// What handling one packet leads to.
enum Step {
    Continue,
    Done,
    Drop(String),
}

/// Runs one connection until it drops or the NAS is done.
async fn session(
    stream: Box<dyn RadiusStream>,
    settings: &Settings,
    state: &mut State,
) -> SessionEnd {
    let (reader, writer) = tokio::io::split(stream);
    let mut s = Session {
        settings,
        state,
        writer,
        pending: None,
        missed: 0,
        delayed: VecDeque::new(),
        healthy: false,
    };
    match s.run(reader).await {
        Step::Done => SessionEnd::Done,
        Step::Drop(reason) => SessionEnd::Dropped {
            reason,
            healthy: s.healthy,
        },
        Step::Continue => SessionEnd::Dropped {
            reason: "connection ended".into(),
            healthy: s.healthy,
        },
    }
}

impl<W: AsyncWrite + Unpin> Session<'_, W> {
    /// The event loop of one connection. `biased`: deadlines first, then the next
    /// Status-Server, then received bytes.
    async fn run<R: AsyncRead + Unpin>(&mut self, mut reader: R) -> Step {
        let mut decoder = StreamDecoder::new();
        let mut buf = vec![0u8; 16 * 1024];
        let mut next_status = Instant::now();
        // Stands in for "never" in disabled branches (their guards keep them off).
        let never = Instant::now() + Duration::from_secs(86_400 * 365);
        loop {
            let exit_at = self.settings.exit_at.unwrap_or(never);
            let delayed_due = self.delayed.front().map_or(never, |d| d.due);
            let status_due = self.pending.as_ref().map_or(never, |p| p.deadline);
            let step = tokio::select! {
                biased;
                _ = sleep_until(exit_at), if self.settings.exit_at.is_some() => Step::Done,
                _ = sleep_until(delayed_due), if !self.delayed.is_empty() => {
                    match self.delayed.pop_front() {
                        Some(d) => self.answer(d.wire, d.line).await,
                        None => Step::Continue,
                    }
                }
                _ = sleep_until(status_due), if self.pending.is_some() => self.status_missed(),
                _ = sleep_until(next_status) => {
                    let now = Instant::now();
                    next_status += self.settings.status_interval;
                    if next_status < now {
                        next_status = now + self.settings.status_interval;
                    }
                    self.send_status().await
                }
                read = reader.read(&mut buf) => match read {
                    Ok(0) => Step::Drop("closed by the server".into()),
                    Err(e) => Step::Drop(format!("read failed: {e}")),
                    Ok(n) => {
                        decoder.push(buf.get(..n).unwrap_or_default());
                        self.drain(&mut decoder).await
                    }
                },
            };
            match step {
                Step::Continue => {}
                other => return other,
            }
        }
    }

    /// Handles every whole packet the decoder holds.
    async fn drain(&mut self, decoder: &mut StreamDecoder) -> Step {
        loop {
            match decoder.next_packet() {
                Ok(None) => return Step::Continue,
                Err(e) => return Step::Drop(format!("bad framing from the server: {e}")),
                Ok(Some(octets)) => match self.packet(octets).await {
                    Step::Continue => {}
                    other => return other,
                },
            }
        }
    }

    /// Writes one packet; a failed write ends the connection.
    async fn write(&mut self, wire: &[u8]) -> Result<(), String> {
        let result = match self.writer.write_all(wire).await {
            Ok(()) => self.writer.flush().await,
            Err(e) => Err(e),
        };
        result.map_err(|e| format!("write failed: {e}"))
    }

    /// Sends the next Status-Server watchdog.
    async fn send_status(&mut self) -> Step {
        if let Some(p) = self.pending.take() {
            // Still unanswered when the next one is due: that one is missed.
            if let Some(step) = self.count_missed(p.id) {
                return step;
            }
        }
        let id = self.state.next_status_id;
        self.state.next_status_id = id.wrapping_add(1);
        let request = match build_request(
            &self.settings.dict,
            Code::StatusServer,
            id,
            &self.settings.status_attrs,
            &self.settings.secret,
            None,
            &mut self.state.rng,
        ) {
            Ok(r) => r,
            Err(e) => return Step::Drop(format!("cannot build Status-Server: {e}")),
        };
        if let Err(reason) = self.write(&request.wire).await {
            return Step::Drop(reason);
        }
        self.pending = Some(PendingStatus {
            id,
            authenticator: request.packet.authenticator,
            deadline: Instant::now() + self.settings.status_timeout,
        });
        if self.settings.verbose {
            emit(line(vec![
                ("event", "status-sent".into()),
                ("id", Json::from(id)),
            ]));
        }
        Step::Continue
    }

    /// The Status-Server in flight timed out.
    fn status_missed(&mut self) -> Step {
        match self.pending.take() {
            Some(p) => self.count_missed(p.id).unwrap_or(Step::Continue),
            None => Step::Continue,
        }
    }

    fn count_missed(&mut self, id: u8) -> Option<Step> {
        self.missed += 1;
        if self.settings.verbose {
            emit(line(vec![
                ("event", "status-timeout".into()),
                ("id", Json::from(id)),
            ]));
        }
        (self.missed >= MAX_MISSED_STATUS).then(|| {
            Step::Drop(format!(
                "no answer to {MAX_MISSED_STATUS} Status-Server in a row"
            ))
        })
    }

    /// Handles one received packet.
    async fn packet(&mut self, octets: Bytes) -> Step {
        let packet = match Packet::decode(octets) {
            Ok(p) => p,
            // RFC 6613 §2.6.4: a malformed packet closes the connection.
            Err(e) => return Step::Drop(format!("malformed packet from the server: {e}")),
        };
        if packet.code.is_response() {
            self.response(&packet)
        } else if packet.code.is_request() {
            self.request(&packet).await
        } else {
            self.discarded(&packet, "unknown code");
            Step::Continue
        }
    }

    /// A reply: only the Status-Server in flight expects one.
    fn response(&mut self, packet: &Packet) -> Step {
        let matches = self
            .pending
            .as_ref()
            .is_some_and(|p| p.id == packet.identifier && packet.code.answers(Code::StatusServer));
        if !matches {
            self.discarded(packet, "reply to nothing we sent");
            return Step::Continue;
        }
        let Some(pending) = self.pending.take() else {
            return Step::Continue;
        };
        if let Err(e) = verify_response(
            packet,
            &pending.authenticator,
            &self.settings.secret,
            &VerifyPolicy::default(),
        ) {
            // RFC 6613 §2.6.4: a bad authenticator closes the connection.
            return Step::Drop(format!(
                "{} to Status-Server failed verification: {e}",
                code_name(packet.code)
            ));
        }
        self.missed = 0;
        self.healthy = true;
        if self.settings.verbose {
            emit(line(vec![
                ("event", "status-reply".into()),
                ("code", code_name(packet.code).into()),
                ("id", Json::from(packet.identifier)),
            ]));
        }
        Step::Continue
    }

    /// A request from the server: verify, decide, sign, answer (now or after --delay).
    async fn request(&mut self, packet: &Packet) -> Step {
        let settings = self.settings;
        let attributes = attrs::to_json(&attrs::show(&settings.dict, packet));
        if let Err(e) = verify_request(packet, &settings.secret, &VerifyPolicy::default()) {
            emit(line(vec![
                ("code", code_name(packet.code).into()),
                ("id", Json::from(packet.identifier)),
                ("attributes", attributes),
                ("answer", Json::Null),
                ("reason", format!("failed verification: {e}").into()),
            ]));
            // RFC 6613 §2.6.4: a bad authenticator closes the connection.
            return Step::Drop(format!(
                "{} failed verification: {e}",
                code_name(packet.code)
            ));
        }
        self.healthy = true;
        let dynamic = matches!(packet.code, Code::CoaRequest | Code::DisconnectRequest);
        let nak = dynamic
            && (settings.nak_all
                || settings
                    .nak_for
                    .iter()
                    .any(|m| attrs::packet_has(&settings.dict, packet, m)));
        let answer = match packet.code {
            Code::StatusServer => Some(Code::AccessAccept),
            c if dynamic && nak => c.nak(),
            c if dynamic => c.ack(),
            _ => None,
        };
        let Some(answer) = answer else {
            emit(line(vec![
                ("code", code_name(packet.code).into()),
                ("id", Json::from(packet.identifier)),
                ("attributes", attributes),
                ("answer", Json::Null),
                ("reason", "not a request a NAS answers; discarded".into()),
            ]));
            return Step::Continue;
        };
        let mut reply = packet.new_reply(answer);
        if nak {
            reply.push(ERROR_CAUSE, settings.error_cause.to_be_bytes().to_vec());
        }
        let wire = match sign_response(
            &mut reply,
            &packet.authenticator,
            &settings.secret,
            &SignOptions::default(),
        ) {
            Ok(w) => w,
            Err(e) => return Step::Drop(format!("cannot sign the answer: {e}")),
        };
        let report = line(vec![
            ("code", code_name(packet.code).into()),
            ("id", Json::from(packet.identifier)),
            ("attributes", attributes),
            ("answer", code_name(answer).into()),
        ]);
        match settings.delay {
            Some(delay) => {
                self.delayed.push_back(Delayed {
                    due: Instant::now() + delay,
                    wire,
                    line: report,
                });
                Step::Continue
            }
            None => self.answer(wire, report).await,
        }
    }

    /// Reports an answer, then writes it; counts towards --count. The line comes
    /// first so that whoever has seen the answer arrive can already read it (a test
    /// that stops the NAS once the server has its reply finds every line).
    async fn answer(&mut self, wire: Bytes, report: Json) -> Step {
        emit(report);
        if let Err(reason) = self.write(&wire).await {
            return Step::Drop(reason);
        }
        self.state.answered += 1;
        match self.settings.count {
            Some(n) if self.state.answered >= n => Step::Done,
            _ => Step::Continue,
        }
    }

    /// Reports (with --verbose) a packet that is dropped without closing the connection.
    fn discarded(&self, packet: &Packet, reason: &str) {
        if self.settings.verbose {
            emit(line(vec![
                ("event", "discarded".into()),
                ("code", code_name(packet.code).into()),
                ("id", Json::from(packet.identifier)),
                ("reason", reason.into()),
            ]));
        }
    }
}
