//! `bench forward`: the classic direction. Access-Request (User-Name, hidden
//! User-Password, NAS-Identifier, Message-Authenticator) or, with `--accounting`,
//! Accounting-Request (Acct-Status-Type Interim-Update, a unique Acct-Session-Id) to any
//! RADIUS server over UDP, RADIUS/TCP or RadSec; counts Accept / Reject /
//! Accounting-Response.

use std::sync::Arc;

use boomerang_core::contract::Transport;
use bytes::Bytes;
use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use serde_json::{Map, json};

use boomerang_core::radius::attr::{ACCT_SESSION_ID, NAS_IP_ADDRESS, USER_NAME, USER_PASSWORD};
use boomerang_core::radius::auth::{SignOptions, VerifyPolicy, sign_request, verify_response};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use boomerang_core::radius::password::hide_user_password;
use boomerang_core::rng::{RandomSource, SplitMix64};

use super::BenchError;
use super::nas::NAS_IDENTIFIER;
use super::options::{Plan, RunOptions, TlsOptions, resolve_server};
use super::pipeline::{Exchange, Io, Lane, Shared, Verdict, run_lanes, split_slots};
use super::report::{self, ServerWatch};
use super::trigger::seed;
use crate::cli::client::net::{FixedVector, StreamConnector};

/// Acct-Status-Type (RFC 2866).
const ACCT_STATUS_TYPE: u8 = 40;
/// Acct-Status-Type Interim-Update.
const INTERIM_UPDATE: [u8; 4] = 3u32.to_be_bytes();

/// Arguments of `bench forward`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  \
    boomerang bench forward --accounting --server 127.0.0.1:1813 --secret testing123 \\\n      \
    --in-flight 32 --duration 10s")]
pub struct ForwardArgs {
    /// The server, `HOST:PORT`.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:1812")]
    pub server: String,
    /// Transport.
    #[arg(
        long,
        default_value_t = Transport::Udp,
        value_parser = PossibleValuesParser::new(["udp", "tcp", "tls"]).try_map(|s| s.parse::<Transport>()),
    )]
    pub transport: Transport,
    /// Shared secret (default `radsec` on tls; required otherwise).
    #[arg(long, value_name = "SECRET")]
    pub secret: Option<String>,
    /// Send Accounting-Request instead of Access-Request.
    #[arg(long)]
    pub accounting: bool,
    /// User-Name of every request (a sequence number is appended with --unique-users).
    #[arg(long, value_name = "NAME", default_value = "bench")]
    pub user: String,
    /// Make each User-Name unique (NAME-SEQ).
    #[arg(long)]
    pub unique_users: bool,
    /// User-Password of Access-Requests.
    #[arg(long, value_name = "PASSWORD", default_value = "bench")]
    pub password: String,
    /// NAS-Identifier of every request.
    #[arg(long, value_name = "ID", default_value = "bench")]
    pub nas_identifier: String,
    /// Requests in flight in total.
    #[arg(long, value_name = "T", default_value_t = 16)]
    pub in_flight: usize,
    /// Connections (tcp/tls) or UDP sockets; the in-flight requests are spread over
    /// them (at most 256 each). Default: 1 connection on tcp/tls, enough sockets on udp.
    #[arg(long, value_name = "N")]
    pub connections: Option<usize>,
    /// Open loop: requests per second (--in-flight then bounds the outstanding ones).
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Certificates (tls).
    #[command(flatten)]
    pub tls: TlsOptions,
    /// Duration, warm-up, report.
    #[command(flatten)]
    pub run: RunOptions,
}

/// Builds Access- or Accounting-Requests.
struct ForwardExchange {
    accounting: bool,
    secret: Vec<u8>,
    user: Bytes,
    unique: bool,
    password: Vec<u8>,
    nas_identifier: Bytes,
    rng: SplitMix64,
    packet: Packet,
    text: Vec<u8>,
}

impl Exchange for ForwardExchange {
    fn request(&mut self, slot: usize, seq: u64, out: &mut Vec<u8>) -> Result<[u8; 16], String> {
        use std::io::Write;
        let id = u8::try_from(slot).map_err(|_| "more than 256 slots on a lane")?;
        let user = if self.unique {
            self.text.clear();
            self.text.extend_from_slice(&self.user);
            let _ = write!(self.text, "-{seq}");
            Bytes::copy_from_slice(&self.text)
        } else {
            self.user.clone()
        };
        let p = &mut self.packet;
        p.identifier = id;
        p.attributes.clear();
        p.push(USER_NAME, user);
        p.push(NAS_IDENTIFIER, self.nas_identifier.clone());
        p.push(NAS_IP_ADDRESS, Bytes::from_static(&[127, 0, 0, 1]));
        let wire = if self.accounting {
            p.code = Code::AccountingRequest;
            p.push(ACCT_STATUS_TYPE, Bytes::from_static(&INTERIM_UPDATE));
            self.text.clear();
            let _ = write!(self.text, "bench-{seq}");
            p.push(ACCT_SESSION_ID, Bytes::copy_from_slice(&self.text));
            sign_request(p, &self.secret, &mut self.rng, &SignOptions::default())
        } else {
            p.code = Code::AccessRequest;
            let mut vector = [0u8; 16];
            self.rng.fill(&mut vector);
            let hidden = hide_user_password(&self.password, &self.secret, &vector)
                .map_err(|e| e.to_string())?;
            p.push(USER_PASSWORD, hidden);
            sign_request(
                p,
                &self.secret,
                &mut FixedVector(vector),
                &SignOptions::default(),
            )
        }
        .map_err(|e| format!("cannot sign a request: {e}"))?;
        out.extend_from_slice(&wire);
        Ok(p.authenticator)
    }

    fn judge(&mut self, reply: &Bytes, authenticator: &[u8; 16]) -> Verdict {
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
            Code::AccessAccept | Code::AccountingResponse => Verdict::Ack,
            Code::AccessReject => Verdict::Nak,
            _ => Verdict::Error,
        }
    }
}

/// Runs the scenario and prints its report.
pub async fn run(args: ForwardArgs) -> Result<(), BenchError> {
    if args.in_flight == 0 {
        return Err(BenchError::BadArgument(
            "--in-flight must be at least 1".into(),
        ));
    }
    if let Some(r) = args.rate
        && !(r.is_finite() && r > 0.0)
    {
        return Err(BenchError::BadArgument(format!(
            "--rate {r} is not a positive number"
        )));
    }
    let secret = match (&args.secret, args.transport) {
        (Some(s), _) => s.as_bytes().to_vec(),
        (None, Transport::Tls) => b"radsec".to_vec(),
        (None, _) => {
            return Err(BenchError::BadArgument(
                "--secret is required on udp and tcp (only tls has a default, `radsec`)".into(),
            ));
        }
    };
    let (addr, host) = resolve_server(&args.server).await?;
    let timeout = args.run.common.timeout;
    let sizes = match (args.transport, args.connections) {
        (Transport::Udp, None) => split_slots(args.in_flight, 256, 4),
        (_, None) => split_slots(args.in_flight, 256, 1),
        (_, Some(c)) => {
            if c == 0 || c > args.in_flight {
                return Err(BenchError::BadArgument(format!(
                    "--connections {c} must be between 1 and --in-flight ({})",
                    args.in_flight
                )));
            }
            split_slots(args.in_flight, 256, c)
        }
    };
    let connector = match args.transport {
        Transport::Udp => None,
        Transport::Tcp => Some(StreamConnector { tls: None, timeout }),
        Transport::Tls => Some(StreamConnector {
            tls: Some(args.tls.connector(&host)?),
            timeout,
        }),
    };
    let mut ios = Vec::with_capacity(sizes.len());
    for _ in &sizes {
        let io = match &connector {
            None => {
                let local: std::net::SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                let socket = tokio::net::UdpSocket::bind(local)
                    .await
                    .map_err(BenchError::Io)?;
                socket.connect(addr).await.map_err(BenchError::Io)?;
                Io::udp(socket)
            }
            Some(c) => Io::stream(c.connect(addr).await?),
        };
        ios.push(io);
    }
    let plan = Plan::new(&args.run);
    let shared = Arc::new(Shared::default());
    let mode = match args.rate {
        Some(rate) => super::pipeline::Mode::Open { rate },
        None => super::pipeline::Mode::Closed,
    };
    let count = sizes.len();
    let base_seed = seed();
    let lanes: Vec<_> = ios
        .into_iter()
        .zip(sizes.iter().copied())
        .enumerate()
        .map(|(index, (io, slots))| Lane {
            io,
            exchange: ForwardExchange {
                accounting: args.accounting,
                secret: secret.clone(),
                user: Bytes::copy_from_slice(args.user.as_bytes()),
                unique: args.unique_users,
                password: args.password.as_bytes().to_vec(),
                nas_identifier: Bytes::copy_from_slice(args.nas_identifier.as_bytes()),
                rng: SplitMix64::new(base_seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9)),
                packet: Packet::new(Code::AccessRequest, 0),
                text: Vec::with_capacity(64),
            },
            slots,
            index,
            lanes: count,
            mode,
            plan,
            shared: Arc::clone(&shared),
        })
        .collect();
    let watch = ServerWatch::start(args.run.common.server_pid, plan.measure_from)?;
    let generator = report::watch_generator(plan.measure_from);
    let outcome = run_lanes(lanes).await;
    let mut out = Map::new();
    out.insert("scenario".into(), json!("forward"));
    out.insert(
        "shape".into(),
        json!({
            "request": if args.accounting { "Accounting-Request" } else { "Access-Request" },
            "transport": format!("{:?}", args.transport).to_lowercase(),
            "server": addr.to_string(),
            "loop": if args.rate.is_some() { "open" } else { "closed" },
            "rate_per_second": args.rate,
            "in_flight_total": args.in_flight,
            "sockets": count,
        }),
    );
    out.extend(report::load(&plan, &outcome));
    report::add_server(&mut out, watch).await;
    report::add_process(&mut out, "generator", generator).await;
    report::print(&out, args.run.common.json);
    Ok(())
}
