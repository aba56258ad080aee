//! NAS hosts: one simulated host multiplexes many NAS devices, each keeping one RadSec (or
//! RADIUS/TCP) connection to the server the way real NAS equipment does: connect, send
//! Status-Server with its NAS-Identifier, answer every Disconnect/CoA request with an ACK or
//! a NAK after a short processing delay, probe the connection with Status-Server and give it
//! up when probes go unanswered, and reconnect with jittered exponential backoff.
//!
//! Everything a NAS sees is reported to the world's [`Ledger`], which checks the
//! invariants that only the receiving side can see.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use boomerang_core::radius::auth::{
    SignOptions, VerifyPolicy, sign_request, sign_response, verify_request, verify_response,
};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::framing::StreamDecoder;
use boomerang_core::radius::packet::Packet;
use boomerang_core::rng::SplitMix64;
use boomerang_io_tokio::net::Net;
use boomerang_io_tokio::tls;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::ledger::{ConnNo, Ledger};
use crate::core_sim::nas::{NAS_IDENTIFIER, RADSEC_SECRET};
use crate::fault::NasHang;
use crate::net::TurmoilNet;
use crate::pki::SimPki;
use crate::seed::sub_seed;

const ACCT_SESSION_ID: u8 = 44;
const ERROR_CAUSE: u8 = 101;
/// Error-Cause 503, Session-Context-Not-Found: what a NAS that refuses says.
pub const NAS_NAK_CAUSE: u32 = 503;

/// How NAS devices time their behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NasTiming {
    /// Bound on connecting plus the TLS handshake.
    pub connect_timeout: Duration,
    /// How often a connection is probed with Status-Server.
    pub probe_interval: Duration,
    /// How long a probe may go unanswered before the connection is given up.
    pub probe_timeout: Duration,
    /// First reconnection delay; doubled per consecutive failure.
    pub backoff_min: Duration,
    /// Largest reconnection delay (before jitter of up to a half more).
    pub backoff_max: Duration,
    /// Longest time a NAS takes to answer a request.
    pub answer_delay_max: Duration,
}

impl Default for NasTiming {
    /// 5 s connect, probes every 10 s answered within 5 s, backoff 0.5–8 s, answers
    /// within 200 ms.
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            probe_interval: Duration::from_secs(10),
            probe_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            answer_delay_max: Duration::from_millis(200),
        }
    }
}

impl NasTiming {
    /// The longest a NAS can take, once the network works again, to notice a dead
    /// connection and have a new one up: a probe interval and its timeout, the largest
    /// backoff with its jitter, and a connection attempt.
    pub fn reconnect_bound(&self) -> Duration {
        self.probe_interval
            + self.probe_timeout
            + self.backoff_max
            + self.backoff_max / 2
            + self.connect_timeout
    }
}

/// A host of NAS devices.
#[derive(Debug, Clone)]
pub struct NasHost {
    /// The turmoil host name (also the CN of the client certificate its NAS present).
    pub host: String,
    /// The NAS-Identifiers of its NAS devices, one connection each.
    pub nas: Vec<String>,
    /// RadSec (`true`) or plain RADIUS/TCP.
    pub tls: bool,
}

/// Run every NAS of `host` until the host is crashed (a host future never ends).
/// `generation` counts restarts so that a restarted host draws fresh random numbers;
/// `hangs` are the NAS that hang, and when (see [`NasHang`]).
#[allow(clippy::too_many_arguments)]
pub async fn run_host(
    host: NasHost,
    server: SocketAddr,
    pki: SimPki,
    ledger: Ledger,
    timing: NasTiming,
    seed: u64,
    generation: Arc<AtomicU64>,
    hangs: Vec<NasHang>,
) -> turmoil::Result {
    let round = generation.fetch_add(1, Ordering::Relaxed);
    let net = TurmoilNet::of_host(&host.host);
    let connector = if host.tls {
        // A (re)booted host starts with no TLS sessions to resume.
        Some(pki.fresh_connector(&host.host)?)
    } else {
        None
    };
    let booted = turmoil::sim_elapsed().unwrap_or_default();
    for nas in &host.nas {
        let rng = SplitMix64::new(sub_seed(seed, &format!("{nas}/{round}")));
        // A hang still to come (a rebooted host does not replay one that passed).
        let hang = hangs
            .iter()
            .find(|h| h.nas == *nas && h.at > booted)
            .map(|h| Instant::now() + (h.at - booted));
        tokio::spawn(run_nas(
            nas.clone(),
            net.clone(),
            server,
            connector.clone(),
            pki.clone(),
            ledger.clone(),
            timing,
            rng,
            hang,
        ));
    }
    std::future::pending::<()>().await;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn run_nas(
    nas: String,
    net: TurmoilNet,
    server: SocketAddr,
    connector: Option<tls::tokio_rustls::TlsConnector>,
    pki: SimPki,
    ledger: Ledger,
    timing: NasTiming,
    mut rng: SplitMix64,
    mut hang: Option<Instant>,
) {
    // Devices do not all boot in the same millisecond.
    let start = rng.next_u64() % 1000;
    tokio::time::sleep(Duration::from_millis(start)).await;
    let mut failures: u32 = 0;
    loop {
        let connected = tokio::time::timeout(timing.connect_timeout, net.connect(server)).await;
        let outcome = match connected {
            Err(_) => Err("connect timed out".to_owned()),
            Ok(Err(e)) => Err(format!("connect: {e}")),
            Ok(Ok(stream)) => match &connector {
                Some(connector) => {
                    match tls::connect(connector, pki.server_name(), stream, timing.connect_timeout)
                        .await
                    {
                        Ok((stream, _)) => {
                            let s = Session {
                                nas: &nas,
                                ledger: &ledger,
                                timing: &timing,
                            };
                            s.run(stream, &mut rng, &mut failures, &mut hang).await
                        }
                        Err(e) => Err(format!("handshake: {e}")),
                    }
                }
                None => {
                    let s = Session {
                        nas: &nas,
                        ledger: &ledger,
                        timing: &timing,
                    };
                    s.run(stream, &mut rng, &mut failures, &mut hang).await
                }
            },
        };
        if let Err(why) = outcome {
            ledger.note(format!("{nas}: attempt failed: {why}"));
        }
        let shift = failures.min(16);
        let base = timing
            .backoff_min
            .saturating_mul(1u32 << shift)
            .min(timing.backoff_max);
        let jitter_ms = u64::try_from(base.as_millis() / 2).unwrap_or(0);
        let jitter = Duration::from_millis(rng.next_u64() % (jitter_ms + 1));
        failures = failures.saturating_add(1);
        tokio::time::sleep(base + jitter).await;
    }
}

/// What one connection's life needs to know.
struct Session<'a> {
    nas: &'a str,
    ledger: &'a Ledger,
    timing: &'a NasTiming,
}

impl Session<'_> {
    /// One connection's life. Returns why it ended. When `hang` comes while it is up, the
    /// NAS hangs on it: the stream is left open and never read again (held by a task of
    /// its own), and the NAS reconnects at once, as one that came back.
    async fn run<S>(
        &self,
        stream: S,
        rng: &mut SplitMix64,
        failures: &mut u32,
        hang: &mut Option<Instant>,
    ) -> Result<(), String>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (nas, ledger) = (self.nas, self.ledger);
        let conn = ledger.conn_opened(nas);
        let result = serve(nas, conn, stream, ledger, self.timing, rng, failures, hang).await;
        let why = match &result {
            Ok(()) => "closed by the server".to_owned(),
            Err(e) => e.clone(),
        };
        ledger.conn_closed(conn, &why);
        if why.starts_with(HUNG) {
            *failures = 0;
        }
        result
    }
}

/// How a session that hung ends (its stream stays open).
const HUNG: &str = "hung";

struct Probe {
    identifier: u8,
    authenticator: [u8; 16],
    sent: Instant,
}

fn status_server(
    nas: &str,
    identifier: u8,
    rng: &mut SplitMix64,
) -> Result<(Probe, Vec<u8>), String> {
    let mut p = Packet::new(Code::StatusServer, identifier);
    p.push(NAS_IDENTIFIER, nas.as_bytes().to_vec());
    let wire = sign_request(&mut p, RADSEC_SECRET, rng, &SignOptions::default())
        .map_err(|e| format!("sign Status-Server: {e}"))?;
    Ok((
        Probe {
            identifier,
            authenticator: p.authenticator,
            sent: Instant::now(),
        },
        wire.to_vec(),
    ))
}

/// An answer waiting for the NAS's processing delay.
struct Answer {
    due: Instant,
    identifier: u8,
    /// The request's Acct-Session-Id (the trigger tag).
    tag: Option<Vec<u8>>,
    ack: bool,
    wire: Vec<u8>,
}

/// What a packet from the server meant.
enum Heard {
    /// The answer to our Status-Server probe.
    ProbeAnswered,
    /// A request, to be answered when due.
    Request(Answer),
    /// The server's own Status-Server: the answer to write now.
    ServerProbe(Vec<u8>),
    /// Anything else (a stray answer, a request that does not verify: reported).
    Nothing,
}

/// Take in one packet from the server on connection `conn`.
fn on_packet(
    nas: &str,
    conn: ConnNo,
    frame: bytes::Bytes,
    ledger: &Ledger,
    probe: &mut Option<Probe>,
    rng: &mut SplitMix64,
    timing: &NasTiming,
) -> Result<Heard, String> {
    let packet = Packet::decode(frame).map_err(|e| {
        ledger.violation(format!(
            "{nas}: connection {conn}: server sent an undecodable packet: {e}"
        ));
        format!("decode: {e}")
    })?;
    if packet.code.is_response() {
        let Some(p) = probe.as_ref().filter(|p| p.identifier == packet.identifier) else {
            return Ok(Heard::Nothing);
        };
        if let Err(e) = verify_response(
            &packet,
            &p.authenticator,
            RADSEC_SECRET,
            &VerifyPolicy::default(),
        ) {
            ledger.violation(format!(
                "{nas}: connection {conn}: Status-Server answer does not verify: {e}"
            ));
        }
        *probe = None;
        ledger.conn_ready(conn);
        return Ok(Heard::ProbeAnswered);
    }
    let strict = VerifyPolicy {
        require_message_authenticator: true,
        limit_proxy_state: false,
    };
    if let Err(e) = verify_request(&packet, RADSEC_SECRET, &strict) {
        ledger.violation(format!(
            "{nas}: connection {conn}: request {} does not verify: {e}",
            packet.identifier
        ));
        return Ok(Heard::Nothing);
    }
    if packet.code == Code::StatusServer {
        // The server's liveness probe after a request timed out (RFC 5997): a live
        // NAS answers it at once; it is no trigger.
        let mut reply = packet.new_reply(Code::AccessAccept);
        let wire = sign_response(
            &mut reply,
            &packet.authenticator,
            RADSEC_SECRET,
            &SignOptions::default(),
        )
        .map_err(|e| format!("sign Status-Server answer: {e}"))?;
        ledger.note(format!(
            "{nas}: connection {conn}: server Status-Server {} answered",
            packet.identifier
        ));
        return Ok(Heard::ServerProbe(wire.to_vec()));
    }
    let tag = packet.first_value(ACCT_SESSION_ID).map(|v| v.to_vec());
    let nak = ledger.request_received(conn, packet.identifier, tag.as_deref());
    let code = if nak {
        packet.code.nak()
    } else {
        packet.code.ack()
    };
    let mut reply = packet.new_reply(code.unwrap_or(Code::ProtocolError));
    if nak {
        reply.push(ERROR_CAUSE, NAS_NAK_CAUSE.to_be_bytes().to_vec());
    }
    let wire = sign_response(
        &mut reply,
        &packet.authenticator,
        RADSEC_SECRET,
        &SignOptions::default(),
    )
    .map_err(|e| format!("sign answer: {e}"))?;
    let span = u64::try_from(timing.answer_delay_max.as_millis()).unwrap_or(0);
    let delay = Duration::from_millis(rng.next_u64() % (span + 1));
    Ok(Heard::Request(Answer {
        due: Instant::now() + delay,
        identifier: packet.identifier,
        tag,
        ack: !nak,
        wire: wire.to_vec(),
    }))
}

#[allow(clippy::too_many_arguments)]
async fn serve<S>(
    nas: &str,
    conn: ConnNo,
    mut stream: S,
    ledger: &Ledger,
    timing: &NasTiming,
    rng: &mut SplitMix64,
    failures: &mut u32,
    hang: &mut Option<Instant>,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut decoder = StreamDecoder::new();
    let mut buf = vec![0u8; 8192];
    let mut next_status_id: u8 = 0;
    let (probe, wire) = status_server(nas, next_status_id, rng)?;
    next_status_id = next_status_id.wrapping_add(1);
    stream
        .write_all(&wire)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut probe = Some(probe);
    let mut next_probe = Instant::now() + timing.probe_interval;
    // Answers waiting for their processing delay, by (due, sequence).
    let mut pending: BTreeMap<(Instant, u64), Answer> = BTreeMap::new();
    let mut seq = 0u64;
    loop {
        let wake = {
            let probe_due = probe
                .as_ref()
                .map_or(next_probe, |p| p.sent + timing.probe_timeout);
            let due = match pending.keys().next() {
                Some((due, _)) => (*due).min(probe_due),
                None => probe_due,
            };
            hang.map_or(due, |h| h.min(due))
        };
        tokio::select! {
            biased;
            read = stream.read(&mut buf) => {
                let n = read.map_err(|e| format!("read: {e}"))?;
                if n == 0 {
                    return Ok(());
                }
                decoder.push(buf.get(..n).unwrap_or_default());
                loop {
                    let frame = match decoder.next_packet() {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(e) => {
                            ledger.violation(format!("{nas}: connection {conn}: server framing: {e}"));
                            return Err(format!("framing: {e}"));
                        }
                    };
                    match on_packet(nas, conn, frame, ledger, &mut probe, rng, timing)? {
                        Heard::ProbeAnswered => {
                            next_probe = Instant::now() + timing.probe_interval;
                            // The server knows us: the connection works.
                            *failures = 0;
                        }
                        Heard::Request(answer) => {
                            seq += 1;
                            pending.insert((answer.due, seq), answer);
                        }
                        Heard::ServerProbe(wire) => {
                            stream.write_all(&wire).await.map_err(|e| format!("write: {e}"))?;
                        }
                        Heard::Nothing => {}
                    }
                }
            }
            () = tokio::time::sleep_until(wake) => {
                let now = Instant::now();
                if hang.is_some_and(|h| now >= h) {
                    *hang = None;
                    // Hung: nothing is read or written on this connection again, and it
                    // stays open (its task holds it until the world ends).
                    tokio::spawn(async move {
                        let _held = stream;
                        std::future::pending::<()>().await;
                    });
                    return Err(format!("{HUNG}: stopped reading and answering; connection left open"));
                }
                while let Some(entry) = pending.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    let answer = entry.remove();
                    stream.write_all(&answer.wire).await.map_err(|e| format!("write: {e}"))?;
                    ledger.request_answered(conn, answer.identifier, answer.tag.as_deref(), answer.ack);
                }
                match &probe {
                    Some(p) if now >= p.sent + timing.probe_timeout => {
                        return Err("watchdog: Status-Server unanswered".to_owned());
                    }
                    None if now >= next_probe => {
                        let (p, wire) = status_server(nas, next_status_id, rng)?;
                        next_status_id = next_status_id.wrapping_add(1);
                        stream.write_all(&wire).await.map_err(|e| format!("write: {e}"))?;
                        probe = Some(p);
                    }
                    _ => {}
                }
            }
        }
    }
}
