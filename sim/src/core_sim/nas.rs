//! A simulated NAS at the codec level: it frames the stream, sends Status-Server
//! with its NAS-Identifier, and answers the Disconnect/CoA requests the server
//! sends it, checking on its side that no identifier is in flight twice.

use std::time::Duration;

use bytes::Bytes;

use boomerang_core::engine::ConnId;
use boomerang_core::radius::auth::{
    SignOptions, VerifyPolicy, sign_request, sign_response, verify_request,
};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::framing::StreamDecoder;
use boomerang_core::radius::packet::Packet;
use boomerang_core::rng::SplitMix64;

/// The RadSec secret the fleet uses.
pub const RADSEC_SECRET: &[u8] = b"radsec";

/// NAS-Identifier (RFC 2865 §5.32).
pub const NAS_IDENTIFIER: u8 = 32;

/// What a simulated NAS does with the server's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers every request (ACK, or NAK for some).
    Answers,
    /// Never answers (the server times out).
    Silent,
}

/// One simulated NAS connection.
#[derive(Debug)]
pub struct SimNas {
    /// The connection's id.
    pub conn: ConnId,
    /// Index of its NAS-Identifier.
    pub name: usize,
    /// How it answers.
    pub behaviour: Behaviour,
    decoder: StreamDecoder,
    rng: SplitMix64,
    next_id: u8,
    /// When each identifier's request arrived, while it is unanswered.
    in_flight: [Option<Duration>; 256],
    in_flight_count: usize,
    /// The most server requests in flight at once.
    pub max_in_flight: usize,
}

impl SimNas {
    /// A NAS on `conn` named by index `name`.
    pub fn new(conn: ConnId, name: usize, behaviour: Behaviour, seed: u64) -> Self {
        SimNas {
            conn,
            name,
            behaviour,
            decoder: StreamDecoder::new(),
            rng: SplitMix64::new(seed),
            next_id: 0,
            in_flight: [None; 256],
            in_flight_count: 0,
            max_in_flight: 0,
        }
    }

    /// A signed Status-Server carrying `nas_identifier`.
    pub fn status_server(&mut self, nas_identifier: &str) -> Bytes {
        let mut p = Packet::new(Code::StatusServer, self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        p.push(NAS_IDENTIFIER, nas_identifier.as_bytes().to_vec());
        sign_request(
            &mut p,
            RADSEC_SECRET,
            &mut self.rng,
            &SignOptions::default(),
        )
        .unwrap_or_default()
    }

    /// Bytes from the server at virtual time `now`: the server's requests
    /// received, in order (replies to our Status-Server are dropped). An identifier
    /// may come again only once answered, or — for a request never answered — once
    /// `reuse_after` has passed (the server's timeout plus its quarantine). Errors
    /// describe a broken invariant.
    pub fn receive(
        &mut self,
        data: &[u8],
        now: Duration,
        reuse_after: Duration,
    ) -> Result<Vec<Packet>, String> {
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
                continue;
            }
            verify_request(&p, RADSEC_SECRET, &VerifyPolicy::default())
                .map_err(|e| format!("connection {}: server request: {e}", self.conn))?;
            let slot = &mut self.in_flight[usize::from(p.identifier)];
            match *slot {
                Some(at) if now.saturating_sub(at) < reuse_after => {
                    return Err(format!(
                        "connection {}: identifier {} sent again {:?} after it, still unanswered",
                        self.conn,
                        p.identifier,
                        now.saturating_sub(at)
                    ));
                }
                // Abandoned by the server long ago: it counts as a new request.
                Some(_) => {}
                None => self.in_flight_count += 1,
            }
            *slot = Some(now);
            self.max_in_flight = self.max_in_flight.max(self.in_flight_count);
            requests.push(p);
        }
    }

    /// The signed answer to `request`.
    pub fn answer(&mut self, request: &Packet, ack: bool) -> Bytes {
        let slot = &mut self.in_flight[usize::from(request.identifier)];
        if slot.take().is_some() {
            self.in_flight_count -= 1;
        }
        let code = if ack {
            request.code.ack()
        } else {
            request.code.nak()
        };
        let mut reply = request.new_reply(code.unwrap_or(Code::ProtocolError));
        sign_response(
            &mut reply,
            &request.authenticator,
            RADSEC_SECRET,
            &SignOptions::default(),
        )
        .unwrap_or_default()
    }
}
