//! Triggers: the requests that make the server send a Disconnect-Request to a NAS.
//! Over UDP, a Disconnect-Request carrying User-Name and NAS-Identifier, signed with the
//! trigger secret (what `config/examples/udp-trigger` proxies); over HTTP,
//! `POST /disconnect?nas_identifier=…&username=…` (what `config/examples/http-trigger`
//! serves). Each trigger's User-Name is unique and names its target NAS
//! ([`super::nas::user_name`]).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use tokio::net::{TcpStream, UdpSocket};

use boomerang_core::radius::attr::USER_NAME;
use boomerang_core::radius::auth::{SignOptions, VerifyPolicy, sign_request, verify_response};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use boomerang_core::rng::SplitMix64;

use super::BenchError;
use super::nas::{NAS_IDENTIFIER, user_name};
use super::options::{Plan, resolve_server};
use super::pipeline::{Exchange, Io, Lane, Mode, Shared, Verdict, http_status, split_slots};

/// Trigger options of the reverse and mass-disconnect scenarios.
#[derive(Debug, Clone, Args)]
pub struct TriggerOptions {
    /// Where triggers go: `udp:HOST:PORT` (Disconnect-Request) or `http://HOST:PORT`
    /// (`POST /disconnect?nas_identifier=…&username=…`).
    #[arg(long, value_name = "URL", default_value = "udp:127.0.0.1:1812")]
    pub trigger: String,
    /// Secret of UDP triggers.
    #[arg(long, value_name = "SECRET", default_value = "trigger-secret")]
    pub trigger_secret: String,
}

/// Where triggers go, resolved.
#[derive(Debug, Clone)]
pub enum TriggerAddr {
    /// UDP RADIUS.
    Udp(SocketAddr),
    /// The HTTP API, with the Host header to send.
    Http {
        /// Address.
        addr: SocketAddr,
        /// `HOST:PORT` as given.
        host: String,
    },
}

impl TriggerAddr {
    /// Parses and resolves `udp:HOST:PORT` or `http://HOST:PORT`.
    pub async fn resolve(text: &str) -> Result<TriggerAddr, BenchError> {
        if let Some(rest) = text.strip_prefix("udp:") {
            let (addr, _) = resolve_server(rest).await?;
            return Ok(TriggerAddr::Udp(addr));
        }
        if let Some(rest) = text.strip_prefix("http://") {
            let host = rest.trim_end_matches('/');
            let (addr, _) = resolve_server(host).await?;
            return Ok(TriggerAddr::Http {
                addr,
                host: host.to_string(),
            });
        }
        Err(BenchError::BadArgument(format!(
            "--trigger `{text}` is neither udp:HOST:PORT nor http://HOST:PORT"
        )))
    }

    /// `udp` or `http`, for the report.
    pub fn kind(&self) -> &'static str {
        match self {
            TriggerAddr::Udp(_) => "udp",
            TriggerAddr::Http { .. } => "http",
        }
    }
}

/// Which NAS each trigger names.
#[derive(Debug, Clone)]
pub enum Targets {
    /// Slot `s` (counted over the whole run) always names NAS `s / k`: k in flight per NAS.
    PerNas(usize),
    /// A random NAS each time.
    Random,
    /// NAS `seq mod N`: every NAS in turn.
    Rotate,
    /// The listed NAS in turn.
    Fixed(Arc<[usize]>),
}

impl Targets {
    /// Parses `--target random|rotate|fixed:NAME,NAME`; names must be NAS of the fleet.
    pub fn parse(text: &str, names: &[String]) -> Result<Targets, BenchError> {
        match text {
            "random" => Ok(Targets::Random),
            "rotate" => Ok(Targets::Rotate),
            _ => {
                let list = text.strip_prefix("fixed:").ok_or_else(|| {
                    BenchError::BadArgument(format!(
                        "--target `{text}` is not random, rotate or fixed:NAME,NAME…"
                    ))
                })?;
                let mut out = Vec::new();
                for name in list.split(',').filter(|n| !n.is_empty()) {
                    let i = names.iter().position(|n| n == name).ok_or_else(|| {
                        BenchError::BadArgument(format!(
                            "--target names `{name}`, which is not one of the emulated NAS ({} … {})",
                            names.first().map_or("", String::as_str),
                            names.last().map_or("", String::as_str)
                        ))
                    })?;
                    out.push(i);
                }
                if out.is_empty() {
                    return Err(BenchError::BadArgument(
                        "--target fixed: names no NAS".into(),
                    ));
                }
                Ok(Targets::Fixed(out.into()))
            }
        }
    }

    /// A short description for the report.
    pub fn describe(&self) -> String {
        match self {
            Targets::PerNas(k) => format!("per-nas ({k} each)"),
            Targets::Random => "random".into(),
            Targets::Rotate => "rotate".into(),
            Targets::Fixed(l) => format!("fixed ({} NAS)", l.len()),
        }
    }
}

/// Builds triggers for one lane.
pub struct TriggerExchange {
    addr: TriggerAddr,
    names: Arc<[String]>,
    targets: Targets,
    /// The run-wide number of this lane's slot 0.
    base: usize,
    rng: SplitMix64,
    secret: Vec<u8>,
    packet: Packet,
    user: Vec<u8>,
}

impl TriggerExchange {
    fn target(&mut self, slot: usize, seq: u64) -> usize {
        let n = self.names.len().max(1);
        match &self.targets {
            Targets::PerNas(k) => ((self.base + slot) / (*k).max(1)) % n,
            Targets::Random => (self.rng.next_u64() % n as u64) as usize,
            Targets::Rotate => (seq % n as u64) as usize,
            Targets::Fixed(list) => list
                .get((seq % list.len().max(1) as u64) as usize)
                .copied()
                .unwrap_or(0),
        }
    }
}

/// Writes `text` percent-encoded for a query string.
fn percent_encode(out: &mut Vec<u8>, text: &[u8]) {
    for &b in text {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

impl Exchange for TriggerExchange {
    fn request(&mut self, slot: usize, seq: u64, out: &mut Vec<u8>) -> Result<[u8; 16], String> {
        let target = self.target(slot, seq);
        let names = Arc::clone(&self.names);
        let nas = names.get(target).map_or("", String::as_str);
        self.user.clear();
        user_name(&mut self.user, seq, nas);
        match &self.addr {
            TriggerAddr::Udp(_) => {
                let id = u8::try_from(slot).map_err(|_| "more than 256 slots on a lane")?;
                let p = &mut self.packet;
                p.code = Code::DisconnectRequest;
                p.identifier = id;
                p.attributes.clear();
                p.push(USER_NAME, Bytes::copy_from_slice(&self.user));
                p.push(NAS_IDENTIFIER, Bytes::copy_from_slice(nas.as_bytes()));
                let wire = sign_request(p, &self.secret, &mut self.rng, &SignOptions::default())
                    .map_err(|e| format!("cannot sign a trigger: {e}"))?;
                out.extend_from_slice(&wire);
                Ok(p.authenticator)
            }
            TriggerAddr::Http { host, .. } => {
                out.extend_from_slice(b"POST /disconnect?nas_identifier=");
                percent_encode(out, nas.as_bytes());
                out.extend_from_slice(b"&username=");
                percent_encode(out, &self.user);
                let _ = write!(
                    out,
                    " HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"
                );
                Ok([0; 16])
            }
        }
    }

    fn judge(&mut self, reply: &Bytes, authenticator: &[u8; 16]) -> Verdict {
        match &self.addr {
            TriggerAddr::Udp(_) => {
                let Ok(packet) = Packet::decode(reply.clone()) else {
                    return Verdict::Stray;
                };
                if verify_response(
                    &packet,
                    authenticator,
                    &self.secret,
                    &VerifyPolicy::default(),
                )
                .is_err()
                {
                    return Verdict::Stray;
                }
                match packet.code {
                    Code::DisconnectAck | Code::CoaAck => Verdict::Ack,
                    Code::DisconnectNak | Code::CoaNak => Verdict::Nak,
                    _ => Verdict::Error,
                }
            }
            TriggerAddr::Http { .. } => match http_status(reply) {
                Some(200..=299) => Verdict::Ack,
                Some(403) => Verdict::Nak,
                _ => Verdict::Error,
            },
        }
    }
}

/// How many triggers are in flight, and aimed where.
#[derive(Debug, Clone)]
pub struct TriggerShape {
    /// Total triggers in flight.
    pub slots: usize,
    /// Target choice.
    pub targets: Targets,
    /// Closed or open loop.
    pub mode: Mode,
}

/// Opens the trigger lanes: UDP sockets of up to 256 slots (at least `min_lanes`), or
/// one HTTP connection per slot.
pub async fn lanes(
    addr: &TriggerAddr,
    secret: &str,
    names: Arc<[String]>,
    shape: &TriggerShape,
    plan: Plan,
    min_lanes: usize,
    connect_timeout: Duration,
) -> Result<Vec<Lane<TriggerExchange>>, BenchError> {
    let sizes = match addr {
        TriggerAddr::Udp(_) => split_slots(shape.slots, 256, min_lanes),
        TriggerAddr::Http { .. } => vec![1; shape.slots.max(1)],
    };
    let shared = Arc::new(Shared::default());
    let count = sizes.len();
    let mut lanes = Vec::with_capacity(count);
    let mut base = 0usize;
    let seed = seed();
    for (index, slots) in sizes.into_iter().enumerate() {
        let io = match addr {
            TriggerAddr::Udp(to) => {
                let local: SocketAddr = if to.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                let socket = UdpSocket::bind(local).await.map_err(BenchError::Io)?;
                socket.connect(to).await.map_err(BenchError::Io)?;
                Io::udp(socket)
            }
            TriggerAddr::Http { addr, .. } => {
                let stream = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
                    .await
                    .map_err(|_| BenchError::Unreachable {
                        addr: *addr,
                        reason: format!("no answer within {connect_timeout:?}"),
                    })?
                    .map_err(|e| BenchError::Unreachable {
                        addr: *addr,
                        reason: e.to_string(),
                    })?;
                let _ = stream.set_nodelay(true);
                Io::http(stream)
            }
        };
        lanes.push(Lane {
            io,
            exchange: TriggerExchange {
                addr: addr.clone(),
                names: Arc::clone(&names),
                targets: shape.targets.clone(),
                base,
                rng: SplitMix64::new(seed ^ (index as u64).wrapping_mul(0x9E37_79B9)),
                secret: secret.as_bytes().to_vec(),
                packet: Packet::new(Code::DisconnectRequest, 0),
                user: Vec::with_capacity(64),
            },
            slots,
            index,
            lanes: count,
            mode: shape.mode,
            plan,
            shared: Arc::clone(&shared),
        });
        base += slots;
    }
    Ok(lanes)
}

/// A seed for the generator's own randomness (authenticators, random targets): the
/// clock is enough, nothing here is secret.
pub fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x5EED)
}
