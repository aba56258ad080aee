//! A simulated NAS on a stream connection (RadSec or RADIUS/TCP), at the codec
//! level.
//!
//! It frames the stream, signs its own requests (Status-Server with its
//! NAS-Identifier, accounting built by a test) and verifies the replies to them,
//! and checks every request the server sends it: it verifies, carries
//! Message-Authenticator, and its identifier is not already in flight. What it
//! does with a request is its [`NasMode`]; the network carries out the answer
//! (at once, or after the network's answer delay).

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

use crate::engine::ConnId;
use crate::radius::auth::{
    SignOptions, VerifyPolicy, sign_request, sign_response, verify_request, verify_response,
};
use crate::radius::code::Code;
use crate::radius::framing::StreamDecoder;
use crate::radius::packet::Packet;
use crate::rng::SplitMix64;

/// NAS-Identifier (RFC 2865 §5.32).
pub const NAS_IDENTIFIER: u8 = 32;
/// Message-Authenticator (RFC 3579 §3.2).
pub const MESSAGE_AUTHENTICATOR: u8 = 80;
/// Error-Cause (RFC 5176 §3.5), carried by the NAKs a NAS sends.
pub const ERROR_CAUSE: u8 = 101;
/// Error-Cause 503, "Session Context Not Found".
pub const SESSION_CONTEXT_NOT_FOUND: u32 = 503;

/// How a simulated NAS answers the requests the server sends it. Status-Server
/// is answered in every mode but [`NasMode::Silent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NasMode {
    /// ACK (the network may turn some into NAKs: [`crate::testnet::Timing::nak_per_mille`]).
    Ack,
    /// NAK, with Error-Cause 503.
    Nak,
    /// Keep them; the test answers with [`Nas::answer_held`].
    Hold,
    /// Ignore them, but answer Status-Server (alive, never answering).
    Ignore,
    /// Answer nothing at all, not even Status-Server (a hung NAS).
    Silent,
}

/// What the NAS does with one request it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// Answer it: ACK (`true`) or NAK.
    Answer(bool),
    /// Keep it for the test.
    Hold,
    /// Nothing.
    Drop,
}

/// One simulated NAS connection.
#[derive(Debug)]
pub struct Nas {
    /// The connection it is on (the engine's number for it).
    pub conn: ConnId,
    /// The RADIUS secret of the connection.
    pub secret: Vec<u8>,
    /// How it answers.
    pub mode: NasMode,
    /// Keep every packet received (the tests read them); off in long simulations.
    pub record: bool,
    /// An identifier may be reused by the server while unanswered once this long
    /// has passed since it was sent (the server abandoned it); `None`: never.
    pub reuse_after: Option<Duration>,
    decoder: StreamDecoder,
    rng: SplitMix64,
    next_id: u8,
    /// Authenticators of our own requests awaiting a reply, by identifier.
    outstanding: Box<[Option<[u8; 16]>; 256]>,
    /// When each of the server's requests arrived, while unanswered.
    in_flight: Box<[Option<Duration>; 256]>,
    in_flight_count: usize,
    /// The most server requests in flight at once.
    pub max_in_flight: usize,
    /// Requests received from the server, in order (when recording).
    pub received: Vec<Packet>,
    /// Requests held for a later answer ([`NasMode::Hold`]).
    pub held: VecDeque<Packet>,
    /// Verified replies to our own requests, in order (when recording).
    pub replies: Vec<Packet>,
    /// Replies to nothing we sent (to bytes a test wrote by hand; when recording).
    pub unmatched: Vec<Packet>,
    /// Status-Server probes received from the server.
    pub status_probes: usize,
}

impl Nas {
    /// A NAS on `conn` with `secret`, answering in `mode`, its own randomness from
    /// `seed`.
    pub fn new(conn: ConnId, secret: &[u8], mode: NasMode, seed: u64) -> Self {
        Nas {
            conn,
            secret: secret.to_vec(),
            mode,
            record: true,
            reuse_after: None,
            decoder: StreamDecoder::new(),
            rng: SplitMix64::new(seed),
            next_id: 0,
            outstanding: Box::new([None; 256]),
            in_flight: Box::new([None; 256]),
            in_flight_count: 0,
            max_in_flight: 0,
            received: Vec::new(),
            held: VecDeque::new(),
            replies: Vec::new(),
            unmatched: Vec::new(),
            status_probes: 0,
        }
    }

    /// Requests of the server in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight_count
    }

    /// Forget the server's requests in flight (a test that lets the server reuse
    /// their identifiers without answering).
    pub fn forget_in_flight(&mut self) {
        self.in_flight.fill(None);
        self.in_flight_count = 0;
    }

    /// Sign one of our own requests (its reply is verified when it comes).
    pub fn request<A: AsRef<[u8]>>(
        &mut self,
        code: Code,
        attrs: &[(u8, A)],
    ) -> Result<Bytes, String> {
        let mut p = Packet::new(code, self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        for (t, v) in attrs {
            p.push(*t, v.as_ref().to_vec());
        }
        let data = sign_request(&mut p, &self.secret, &mut self.rng, &SignOptions::default())
            .map_err(|e| format!("connection {}: signing our {}: {e}", self.conn, code))?;
        self.outstanding[usize::from(p.identifier)] = Some(p.authenticator);
        Ok(data)
    }

    /// A signed Status-Server, with `nas_identifier` if given.
    pub fn status_server(&mut self, nas_identifier: Option<&str>) -> Result<Bytes, String> {
        match nas_identifier {
            Some(n) => self.request(Code::StatusServer, &[(NAS_IDENTIFIER, n.as_bytes())]),
            None => self.request::<&[u8]>(Code::StatusServer, &[]),
        }
    }

    /// Bytes from the server at virtual time `now`: the server's requests, in
    /// order, each with what this NAS does with it. Replies to our own requests
    /// are verified and kept. Errors describe a broken expectation.
    pub fn receive(
        &mut self,
        data: &[u8],
        now: Duration,
    ) -> Result<Vec<(Packet, Reaction)>, String> {
        self.decoder.push(data);
        let mut requests = Vec::new();
        loop {
            let frame = match self.decoder.next_packet() {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(requests),
                Err(e) => return Err(format!("connection {}: server framing: {e}", self.conn)),
            };
            let p = Packet::decode(frame)
                .map_err(|e| format!("connection {}: server packet: {e}", self.conn))?;
            if p.code.is_response() {
                self.reply(p)?;
                continue;
            }
            verify_request(&p, &self.secret, &VerifyPolicy::default())
                .map_err(|e| format!("connection {}: server request: {e}", self.conn))?;
            if p.first(MESSAGE_AUTHENTICATOR).is_none() {
                return Err(format!(
                    "connection {}: server {} without Message-Authenticator",
                    self.conn, p.code
                ));
            }
            self.arrived(p.identifier, now)?;
            let reaction = self.react(&p);
            if reaction == Reaction::Hold {
                self.held.push_back(p.clone());
            }
            if self.record {
                self.received.push(p.clone());
            }
            requests.push((p, reaction));
        }
    }

    fn reply(&mut self, p: Packet) -> Result<(), String> {
        match self.outstanding[usize::from(p.identifier)].take() {
            Some(auth) => {
                verify_response(&p, &auth, &self.secret, &VerifyPolicy::default())
                    .map_err(|e| format!("connection {}: server reply: {e}", self.conn))?;
                if self.record {
                    self.replies.push(p);
                }
            }
            None if self.record => self.unmatched.push(p),
            None => {}
        }
        Ok(())
    }

    /// Identifier bookkeeping for a server request arriving at `now`.
    fn arrived(&mut self, identifier: u8, now: Duration) -> Result<(), String> {
        let slot = &mut self.in_flight[usize::from(identifier)];
        match (*slot, self.reuse_after) {
            (Some(at), Some(after)) if now.saturating_sub(at) >= after => {}
            (Some(at), _) => {
                return Err(format!(
                    "connection {}: identifier {identifier} sent again {:?} after it, still unanswered",
                    self.conn,
                    now.saturating_sub(at)
                ));
            }
            (None, _) => self.in_flight_count += 1,
        }
        *slot = Some(now);
        self.max_in_flight = self.max_in_flight.max(self.in_flight_count);
        Ok(())
    }

    fn react(&mut self, p: &Packet) -> Reaction {
        if p.code == Code::StatusServer {
            self.status_probes += 1;
            return if self.mode == NasMode::Silent {
                Reaction::Drop
            } else {
                Reaction::Answer(true)
            };
        }
        match self.mode {
            NasMode::Ack => Reaction::Answer(true),
            NasMode::Nak => Reaction::Answer(false),
            NasMode::Hold => Reaction::Hold,
            NasMode::Ignore | NasMode::Silent => Reaction::Drop,
        }
    }

    /// The signed answer to a server request: ACK, or NAK with Error-Cause 503.
    pub fn answer(&mut self, request: &Packet, ack: bool) -> Result<Bytes, String> {
        let cause = SESSION_CONTEXT_NOT_FOUND.to_be_bytes();
        let attrs: &[(u8, &[u8])] = if ack { &[] } else { &[(ERROR_CAUSE, &cause)] };
        self.answer_with(request, ack, attrs)
    }

    /// The signed answer to a server request with these attributes.
    pub fn answer_with(
        &mut self,
        request: &Packet,
        ack: bool,
        attrs: &[(u8, &[u8])],
    ) -> Result<Bytes, String> {
        if self.in_flight[usize::from(request.identifier)]
            .take()
            .is_some()
        {
            self.in_flight_count -= 1;
        }
        let code = if ack {
            request.code.ack()
        } else {
            request.code.nak()
        }
        .ok_or_else(|| format!("{} has no ACK or NAK", request.code))?;
        let mut reply = request.new_reply(code);
        for (t, v) in attrs {
            reply.push(*t, v.to_vec());
        }
        sign_response(
            &mut reply,
            &request.authenticator,
            &self.secret,
            &SignOptions::default(),
        )
        .map_err(|e| format!("connection {}: signing the answer: {e}", self.conn))
    }

    /// The answer to the oldest held request, if any.
    pub fn answer_held(&mut self, ack: bool) -> Result<Option<Bytes>, String> {
        match self.held.pop_front() {
            Some(req) => self.answer(&req, ack).map(Some),
            None => Ok(None),
        }
    }
}
