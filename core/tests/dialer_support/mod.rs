//! Shared helpers for the dialer tests: program builders (kept in one place so
//! that they can later be replaced by compiling configuration text), a virtual
//! clock, a harness that drives an `Dialer` and records its outputs, and a fake
//! far-end RADIUS server working at the codec level.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use boomerang_core::contract::{Output, Transport};
use boomerang_core::engine::dialer::{
    AttemptId, ConnId, Dialer, DialerOutput, RequestToken, ServerRef,
};
use boomerang_core::engine::time::Now;
use boomerang_core::eval::ir::BackendId;
use boomerang_core::lang::program::{
    Backend, BackendKind, Connect, DEFAULT_REQUEST_TIMEOUT, DEFAULT_STATUS_INTERVAL, RadiusBackend,
    RadiusServerDef, RadiusServerMode, ServerSelection,
};
use boomerang_core::lang::span::Span;
use boomerang_core::radius::auth::{
    SignOptions, VerifyPolicy, sign_request, sign_response, verify_request, verify_response,
};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::framing::StreamDecoder;
use boomerang_core::radius::packet::Packet;
use boomerang_core::rng::SplitMix64;

pub const SECRET: &str = "s3cret";
pub const NAS_IDENTIFIER: u8 = 32;
pub const MESSAGE_AUTHENTICATOR: u8 = 80;

/// A `server "NAME" { connect { protocol P; ip 192.0.2.N; port 1812; } }` with defaults.
pub fn server(name: &str, protocol: Transport, n: u8) -> RadiusServerDef {
    RadiusServerDef {
        name: name.to_string(),
        secret: SECRET.to_string(),
        timeout: DEFAULT_REQUEST_TIMEOUT,
        retries: 0,
        status: false,
        status_interval: DEFAULT_STATUS_INTERVAL,
        nas_identifier: None,
        priority: 0,
        mode: RadiusServerMode::Connect(Connect {
            protocol,
            host: None,
            ip: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))),
            port: 1812,
            tls: None,
        }),
    }
}

/// The socket address of `server(_, _, n)`.
pub fn addr(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)), 1812)
}

/// A RADIUS backend with these servers.
pub fn backend(name: &str, selection: ServerSelection, servers: Vec<RadiusServerDef>) -> Backend {
    Backend {
        name: name.to_string(),
        span: Span::default(),
        kind: BackendKind::Radius(RadiusBackend {
            server_selection: selection,
            servers,
            queries: Vec::new(),
        }),
    }
}

/// A virtual clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub start: Instant,
    pub offset: Duration,
}

impl Clock {
    pub fn new() -> Self {
        Clock {
            start: Instant::now(),
            offset: Duration::ZERO,
        }
    }

    pub fn now(&self) -> Now {
        Now {
            mono: self.start + self.offset,
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + self.offset,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.offset
    }
}

/// An `Dialer` on a virtual clock, with every output recorded.
pub struct Harness {
    pub ob: Dialer,
    pub clock: Clock,
    /// Outputs not yet taken by the test, with the virtual time they appeared.
    pub pending: Vec<(Duration, DialerOutput)>,
    next_conn: u64,
}

impl Harness {
    pub fn new(backends: Vec<Backend>, keep: &[u32], seed: u64) -> Self {
        let clock = Clock::new();
        let keep: BTreeSet<BackendId> = keep.iter().map(|b| BackendId(*b)).collect();
        let ob = Dialer::new(
            clock.now(),
            &backends,
            &keep,
            Box::new(SplitMix64::new(seed)),
        );
        let mut h = Harness {
            ob,
            clock,
            pending: Vec::new(),
            next_conn: 1,
        };
        h.collect();
        h
    }

    pub fn now(&self) -> Now {
        self.clock.now()
    }

    /// Move recorded outputs from the machine into `pending`, checking invariants.
    pub fn collect(&mut self) {
        while let Some(o) = self.ob.poll_output() {
            self.pending.push((self.clock.elapsed(), o));
        }
        self.ob.check_invariants().unwrap();
    }

    /// Take every pending output.
    pub fn take(&mut self) -> Vec<DialerOutput> {
        self.collect();
        self.pending.drain(..).map(|(_, o)| o).collect()
    }

    /// Take every pending output with its time.
    pub fn take_timed(&mut self) -> Vec<(Duration, DialerOutput)> {
        self.collect();
        std::mem::take(&mut self.pending)
    }

    /// Advance the clock by `d`, firing every timer on the way at its own time.
    pub fn advance(&mut self, d: Duration) {
        let target = self.clock.offset + d;
        loop {
            match self.ob.poll_timeout() {
                Some(at) if at <= self.clock.start + target => {
                    let at_offset = at.saturating_duration_since(self.clock.start);
                    if at_offset > self.clock.offset {
                        self.clock.offset = at_offset;
                    }
                    let now = self.clock.now();
                    self.ob.handle_timeout(now);
                    self.collect();
                }
                _ => break,
            }
        }
        self.clock.offset = target;
        let now = self.clock.now();
        self.ob.handle_timeout(now);
        self.collect();
    }

    /// Take the first pending `Connect`: its attempt and server.
    fn take_connect(&mut self) -> (AttemptId, ServerRef) {
        self.collect();
        let found = self
            .pending
            .iter()
            .position(|(_, o)| matches!(o, DialerOutput::Driver(Output::Connect { .. })));
        match found.map(|i| self.pending.remove(i).1) {
            Some(DialerOutput::Driver(Output::Connect {
                attempt, server, ..
            })) => (attempt, server),
            _ => panic!("a Connect output"),
        }
    }

    /// Answer a pending `Connect` (the first one found) with a new connection.
    pub fn accept_connect(&mut self) -> (ConnId, ServerRef) {
        let (attempt, server) = self.take_connect();
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let now = self.now();
        self.ob
            .handle_connected(now, attempt, conn, SocketAddr::from(([127, 0, 0, 1], 2083)));
        self.collect();
        (conn, server)
    }

    /// Refuse a pending `Connect`.
    pub fn refuse_connect(&mut self) -> AttemptId {
        let (attempt, _) = self.take_connect();
        let now = self.now();
        self.ob
            .handle_connect_failed(now, attempt, "connection refused");
        self.collect();
        attempt
    }

    pub fn send(&mut self, backend: u32, packet: Packet, token: u64) {
        let now = self.now();
        self.ob
            .send(now, BackendId(backend), packet, RequestToken(token))
            .unwrap();
        self.collect();
    }

    pub fn stream_data(&mut self, conn: ConnId, bytes: &[u8]) {
        let now = self.now();
        self.ob.handle_stream_data(now, conn, bytes);
        self.collect();
    }

    pub fn datagram(&mut self, server: ServerRef, from: SocketAddr, bytes: &[u8]) {
        let now = self.now();
        self.ob.handle_datagram(now, server, from, bytes);
        self.collect();
    }

    /// Bytes written to `conn` among the pending outputs (removed from pending).
    pub fn writes_to(&mut self, conn: ConnId) -> Vec<Bytes> {
        self.take_bytes(|o| match o {
            Output::StreamWrite { conn: c, data } if *c == conn => Some(data.clone()),
            _ => None,
        })
    }

    /// Datagrams sent to `server` among the pending outputs (removed from pending).
    pub fn datagrams_to(&mut self, server: ServerRef) -> Vec<Bytes> {
        self.take_bytes(|o| match o {
            Output::BackendDatagram {
                server: s, data, ..
            } if *s == server => Some(data.clone()),
            _ => None,
        })
    }

    /// The bytes of the pending driver commands `pick` chooses, removed from pending.
    fn take_bytes(&mut self, pick: impl Fn(&Output) -> Option<Bytes>) -> Vec<Bytes> {
        self.collect();
        let mut out = Vec::new();
        self.pending.retain(|(_, o)| {
            match o {
                DialerOutput::Driver(command) => pick(command),
                _ => None,
            }
            .map(|bytes| out.push(bytes))
            .is_none()
        });
        out
    }

    /// Replies and failures among the pending outputs (removed from pending).
    pub fn outcomes(&mut self) -> Vec<DialerOutput> {
        self.collect();
        let mut out = Vec::new();
        self.pending.retain(|(_, o)| match o {
            DialerOutput::Reply { .. } | DialerOutput::Failed { .. } => {
                out.push(o.clone());
                false
            }
            _ => true,
        });
        out
    }
}

/// A request template.
pub fn access_request(user: &str) -> Packet {
    let mut p = Packet::new(Code::AccessRequest, 0);
    p.push(1, Bytes::copy_from_slice(user.as_bytes()));
    p
}

pub fn ser(n: u32) -> ServerRef {
    ServerRef {
        backend: BackendId(0),
        server: n,
    }
}

/// The far end of a dialed connection (or a UDP server), at the codec level.
pub struct FarEnd {
    pub secret: Vec<u8>,
    decoder: StreamDecoder,
    rng: SplitMix64,
}

impl FarEnd {
    pub fn new(secret: &str) -> Self {
        FarEnd {
            secret: secret.as_bytes().to_vec(),
            decoder: StreamDecoder::new(),
            rng: SplitMix64::new(99),
        }
    }

    /// Decode written bytes into requests, checking each one's authenticators.
    pub fn receive(&mut self, chunks: &[Bytes]) -> Vec<Packet> {
        let mut out = Vec::new();
        for chunk in chunks {
            self.decoder.push(chunk);
            while let Some(bytes) = self.decoder.next_packet().unwrap() {
                out.push(self.check(bytes));
            }
        }
        out
    }

    /// Decode one datagram (or packet) and check it.
    pub fn check(&self, bytes: Bytes) -> Packet {
        let p = Packet::decode(bytes).unwrap();
        if p.code.is_request() {
            verify_request(&p, &self.secret, &VerifyPolicy::default())
                .unwrap_or_else(|e| panic!("{} does not verify: {e}", p.code));
            assert_eq!(
                p.attributes.first().map(|a| a.typ),
                Some(MESSAGE_AUTHENTICATOR),
                "Message-Authenticator first"
            );
        }
        p
    }

    /// A signed reply to `request`.
    pub fn answer(&self, request: &Packet, code: Code) -> Bytes {
        let mut reply = request.new_reply(code);
        reply.push(18, Bytes::from_static(b"ok"));
        sign_response(
            &mut reply,
            &request.authenticator,
            &self.secret,
            &SignOptions::default(),
        )
        .unwrap()
    }

    /// A reply to `request` signed with the wrong secret.
    pub fn forged_answer(&self, request: &Packet, code: Code) -> Bytes {
        let mut reply = request.new_reply(code);
        sign_response(
            &mut reply,
            &request.authenticator,
            b"not-the-secret",
            &SignOptions::default(),
        )
        .unwrap()
    }

    /// A signed request from the far end (e.g. a reverse CoA).
    pub fn request(&mut self, code: Code, identifier: u8, user: &str) -> (Packet, Bytes) {
        let mut p = Packet::new(code, identifier);
        p.push(1, Bytes::copy_from_slice(user.as_bytes()));
        let bytes =
            sign_request(&mut p, &self.secret, &mut self.rng, &SignOptions::default()).unwrap();
        (p, bytes)
    }

    /// Verify a reply we received from the machine to a request we sent.
    pub fn verify_reply(&self, bytes: Bytes, request: &Packet) -> Packet {
        let p = Packet::decode(bytes).unwrap();
        verify_response(
            &p,
            &request.authenticator,
            &self.secret,
            &VerifyPolicy::default(),
        )
        .unwrap();
        p
    }
}

/// The `Failed` error code of an outcome, or `None` for a reply.
pub fn failed_code(o: &DialerOutput) -> Option<boomerang_core::eval::error::ErrorCode> {
    match o {
        DialerOutput::Failed { error, .. } => Some(error.code),
        _ => None,
    }
}

pub fn token_of(o: &DialerOutput) -> u64 {
    match o {
        DialerOutput::Reply { token, .. } | DialerOutput::Failed { token, .. } => token.0,
        other => panic!("not an outcome: {other:?}"),
    }
}
