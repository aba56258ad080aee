//! A RADIUS server at the far end of a `connect` backend (UDP, or a stream the
//! engine dialed), at the codec level: it checks every request the engine sends
//! (it verifies, Message-Authenticator first) and answers it, or keeps it for the
//! test to answer.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::engine::ConnId;
use crate::engine::dialer::ServerRef;
use crate::radius::auth::{
    SignOptions, VerifyPolicy, sign_request, sign_response, verify_request, verify_response,
};
use crate::radius::code::Code;
use crate::radius::framing::StreamDecoder;
use crate::radius::packet::Packet;
use crate::rng::SplitMix64;

/// Reply-Message (RFC 2865 §5.18).
pub const REPLY_MESSAGE: u8 = 18;
/// Message-Authenticator (RFC 3579 §3.2).
const MESSAGE_AUTHENTICATOR: u8 = 80;

/// How an upstream server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamMode {
    /// Keep every request; the test answers (`Net::upstream_answer`).
    Hold,
    /// Answer every request with this code (and Reply-Message "ok"); Status-Server
    /// gets Access-Accept.
    Answer(Code),
    /// Never answer.
    Silent,
}

/// One `connect` server.
#[derive(Debug)]
pub struct Upstream {
    /// The shared secret.
    pub secret: Vec<u8>,
    /// How it answers.
    pub mode: UpstreamMode,
    /// Requests received, with the backend server they came for, in order.
    pub received: Vec<(ServerRef, Packet)>,
    decoders: BTreeMap<ConnId, StreamDecoder>,
    rng: SplitMix64,
}

impl Upstream {
    /// A server with `secret`, answering in `mode`.
    pub fn new(secret: &str, mode: UpstreamMode) -> Self {
        Upstream {
            secret: secret.as_bytes().to_vec(),
            mode,
            received: Vec::new(),
            decoders: BTreeMap::new(),
            rng: SplitMix64::new(99),
        }
    }

    /// Check one request or reply of the engine.
    pub fn check(&self, bytes: Bytes) -> Result<Packet, String> {
        let p = Packet::decode(bytes).map_err(|e| format!("upstream: bad packet: {e}"))?;
        if p.code.is_request() {
            verify_request(&p, &self.secret, &VerifyPolicy::default())
                .map_err(|e| format!("upstream: {} does not verify: {e}", p.code))?;
            if p.attributes.first().map(|a| a.typ) != Some(MESSAGE_AUTHENTICATOR) {
                return Err(format!(
                    "upstream: {} without Message-Authenticator first",
                    p.code
                ));
            }
        }
        Ok(p)
    }

    /// Decode stream bytes written on `conn` into packets, checking each.
    pub fn receive_stream(&mut self, conn: ConnId, data: &[u8]) -> Result<Vec<Packet>, String> {
        let decoder = self.decoders.entry(conn).or_default();
        decoder.push(data);
        let mut frames = Vec::new();
        while let Some(frame) = decoder
            .next_packet()
            .map_err(|e| format!("upstream: framing on {conn}: {e}"))?
        {
            frames.push(frame);
        }
        frames.into_iter().map(|f| self.check(f)).collect()
    }

    /// A connection to it closed.
    pub fn closed(&mut self, conn: ConnId) {
        self.decoders.remove(&conn);
    }

    /// A request arrived for `server`: its answer, if this server answers now.
    pub fn handle(&mut self, server: ServerRef, request: Packet) -> Result<Option<Bytes>, String> {
        let answer = match self.mode {
            UpstreamMode::Answer(code) if request.code.is_request() => {
                let code = if request.code == Code::StatusServer {
                    Code::AccessAccept
                } else {
                    code
                };
                Some(self.answer(&request, code, &[(REPLY_MESSAGE, b"ok")])?)
            }
            _ => None,
        };
        self.received.push((server, request));
        Ok(answer)
    }

    /// A signed reply to `request`.
    pub fn answer(
        &self,
        request: &Packet,
        code: Code,
        attrs: &[(u8, &[u8])],
    ) -> Result<Bytes, String> {
        self.answer_signed(request, code, attrs, &self.secret)
    }

    /// A reply to `request` signed with the wrong secret.
    pub fn forged_answer(&self, request: &Packet, code: Code) -> Result<Bytes, String> {
        self.answer_signed(request, code, &[], b"not-the-secret")
    }

    fn answer_signed(
        &self,
        request: &Packet,
        code: Code,
        attrs: &[(u8, &[u8])],
        secret: &[u8],
    ) -> Result<Bytes, String> {
        let mut reply = request.new_reply(code);
        for (t, v) in attrs {
            reply.push(*t, v.to_vec());
        }
        sign_response(
            &mut reply,
            &request.authenticator,
            secret,
            &SignOptions::default(),
        )
        .map_err(|e| format!("upstream: signing the reply: {e}"))
    }

    /// A signed request from this server (e.g. a CoA down a dialed connection).
    pub fn request(
        &mut self,
        code: Code,
        identifier: u8,
        user: &str,
    ) -> Result<(Packet, Bytes), String> {
        let mut p = Packet::new(code, identifier);
        p.push(1, Bytes::copy_from_slice(user.as_bytes()));
        let bytes = sign_request(&mut p, &self.secret, &mut self.rng, &SignOptions::default())
            .map_err(|e| format!("upstream: signing the request: {e}"))?;
        Ok((p, bytes))
    }

    /// Verify a reply of the engine to a request of ours.
    pub fn verify_reply(&self, bytes: Bytes, request: &Packet) -> Result<Packet, String> {
        let p = Packet::decode(bytes).map_err(|e| format!("upstream: bad reply: {e}"))?;
        verify_response(
            &p,
            &request.authenticator,
            &self.secret,
            &VerifyPolicy::default(),
        )
        .map_err(|e| format!("upstream: reply does not verify: {e}"))?;
        Ok(p)
    }
}
