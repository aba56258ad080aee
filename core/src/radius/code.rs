//! RADIUS packet codes: what each one is called, which direction it travels in, and
//! how its Authenticator field is formed.

use std::fmt;

/// How the Authenticator field of a packet with a given code is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticatorKind {
    /// A request whose authenticator is 16 unpredictable octets (Access-Request,
    /// Status-Server). Only a Message-Authenticator can protect such a packet.
    Random,
    /// A request whose authenticator is MD5(Code|ID|Length|16 zero octets|attributes|secret)
    /// (Accounting-Request, Disconnect-Request, CoA-Request, Status-Client).
    Md5Request,
    /// A response whose authenticator is
    /// MD5(Code|ID|Length|Request Authenticator|attributes|secret).
    Response,
}

/// A RADIUS packet code.
///
/// Every octet decodes: codes this crate has no name for become [`Code::Unknown`],
/// so that a peer sending one can be answered with a discard rather than a
/// decoding failure (RFC 6613 §2.6.4). [`Code::from_u8`] never produces
/// `Unknown` for a code that has a named variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// 1, RFC 2865.
    AccessRequest,
    /// 2, RFC 2865.
    AccessAccept,
    /// 3, RFC 2865.
    AccessReject,
    /// 4, RFC 2866.
    AccountingRequest,
    /// 5, RFC 2866.
    AccountingResponse,
    /// 11, RFC 2865.
    AccessChallenge,
    /// 12, RFC 5997.
    StatusServer,
    /// 13, RFC 2865 (reserved, experimental).
    StatusClient,
    /// 40, RFC 5176.
    DisconnectRequest,
    /// 41, RFC 5176.
    DisconnectAck,
    /// 42, RFC 5176.
    DisconnectNak,
    /// 43, RFC 5176.
    CoaRequest,
    /// 44, RFC 5176.
    CoaAck,
    /// 45, RFC 5176.
    CoaNak,
    /// 52, RFC 7930.
    ProtocolError,
    /// Any other code, kept as received.
    Unknown(u8),
}

/// Every named code with its number and canonical name, in numeric order.
const NAMED: [(Code, u8, &str); 15] = [
    (Code::AccessRequest, 1, "Access-Request"),
    (Code::AccessAccept, 2, "Access-Accept"),
    (Code::AccessReject, 3, "Access-Reject"),
    (Code::AccountingRequest, 4, "Accounting-Request"),
    (Code::AccountingResponse, 5, "Accounting-Response"),
    (Code::AccessChallenge, 11, "Access-Challenge"),
    (Code::StatusServer, 12, "Status-Server"),
    (Code::StatusClient, 13, "Status-Client"),
    (Code::DisconnectRequest, 40, "Disconnect-Request"),
    (Code::DisconnectAck, 41, "Disconnect-ACK"),
    (Code::DisconnectNak, 42, "Disconnect-NAK"),
    (Code::CoaRequest, 43, "CoA-Request"),
    (Code::CoaAck, 44, "CoA-ACK"),
    (Code::CoaNak, 45, "CoA-NAK"),
    (Code::ProtocolError, 52, "Protocol-Error"),
];

impl Code {
    /// The code carried by the first octet of a packet.
    pub fn from_u8(value: u8) -> Code {
        NAMED
            .iter()
            .find(|(_, n, _)| *n == value)
            .map(|(c, _, _)| *c)
            .unwrap_or(Code::Unknown(value))
    }

    /// The octet written on the wire.
    pub fn as_u8(self) -> u8 {
        match self {
            Code::Unknown(n) => n,
            named => NAMED
                .iter()
                .find(|(c, _, _)| *c == named)
                .map(|(_, n, _)| *n)
                .unwrap_or(0),
        }
    }

    /// The canonical name (`"Disconnect-Request"`), or `None` for an unknown code.
    pub fn name(self) -> Option<&'static str> {
        let n = self.as_u8();
        NAMED
            .iter()
            .find(|(_, v, _)| *v == n)
            .map(|(_, _, name)| *name)
    }

    /// Look a code up by name, ignoring case and treating `_` like `-`, so that
    /// `Disconnect-Request`, `disconnect-request` and `DISCONNECT_REQUEST` all match.
    pub fn from_name(name: &str) -> Option<Code> {
        NAMED
            .iter()
            .find(|(_, _, canonical)| names_match(canonical, name))
            .map(|(c, _, _)| *c)
    }

    /// Whether packets with this code are requests (they start an exchange).
    pub fn is_request(self) -> bool {
        matches!(
            self.authenticator_kind(),
            Some(AuthenticatorKind::Random | AuthenticatorKind::Md5Request)
        )
    }

    /// Whether packets with this code are responses to a request.
    pub fn is_response(self) -> bool {
        self.authenticator_kind() == Some(AuthenticatorKind::Response)
    }

    /// How the Authenticator field is formed; `None` for unknown codes, which this
    /// crate neither signs nor verifies.
    pub fn authenticator_kind(self) -> Option<AuthenticatorKind> {
        match self {
            Code::AccessRequest | Code::StatusServer => Some(AuthenticatorKind::Random),
            Code::AccountingRequest
            | Code::DisconnectRequest
            | Code::CoaRequest
            | Code::StatusClient => Some(AuthenticatorKind::Md5Request),
            Code::AccessAccept
            | Code::AccessReject
            | Code::AccountingResponse
            | Code::AccessChallenge
            | Code::DisconnectAck
            | Code::DisconnectNak
            | Code::CoaAck
            | Code::CoaNak
            | Code::ProtocolError => Some(AuthenticatorKind::Response),
            Code::Unknown(_) => None,
        }
    }

    /// The positive reply to a request with this code: Access-Accept for
    /// Access-Request and Status-Server, Accounting-Response for Accounting-Request,
    /// Disconnect-ACK and CoA-ACK for the RFC 5176 requests. `None` otherwise.
    pub fn ack(self) -> Option<Code> {
        match self {
            Code::AccessRequest | Code::StatusServer => Some(Code::AccessAccept),
            Code::AccountingRequest => Some(Code::AccountingResponse),
            Code::DisconnectRequest => Some(Code::DisconnectAck),
            Code::CoaRequest => Some(Code::CoaAck),
            _ => None,
        }
    }

    /// The negative reply to a request with this code: Access-Reject,
    /// Disconnect-NAK, CoA-NAK. `None` when the request has no negative reply
    /// (Accounting-Request, Status-Server) or is not a request.
    pub fn nak(self) -> Option<Code> {
        match self {
            Code::AccessRequest => Some(Code::AccessReject),
            Code::DisconnectRequest => Some(Code::DisconnectNak),
            Code::CoaRequest => Some(Code::CoaNak),
            _ => None,
        }
    }

    /// Whether this reply code is a positive answer: Access-Accept,
    /// Accounting-Response, Disconnect-ACK, CoA-ACK.
    pub fn is_positive(self) -> bool {
        matches!(
            self,
            Code::AccessAccept | Code::AccountingResponse | Code::DisconnectAck | Code::CoaAck
        )
    }

    /// Whether a packet with this code may answer a request with code `request`.
    /// Protocol-Error (RFC 7930) may answer any request.
    pub fn answers(self, request: Code) -> bool {
        if !request.is_request() {
            return false;
        }
        match self {
            Code::ProtocolError => true,
            Code::AccessChallenge => request == Code::AccessRequest,
            // RFC 5997: Status-Server on an accounting port is answered with
            // Accounting-Response.
            Code::AccountingResponse => {
                matches!(request, Code::AccountingRequest | Code::StatusServer)
            }
            other => request.ack() == Some(other) || request.nak() == Some(other),
        }
    }
}

/// Case-insensitive name comparison where `_` and `-` are the same character.
fn names_match(canonical: &str, given: &str) -> bool {
    let norm = |c: u8| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    canonical.len() == given.len()
        && canonical
            .bytes()
            .zip(given.bytes())
            .all(|(a, b)| norm(a) == norm(b))
}

impl From<u8> for Code {
    fn from(value: u8) -> Self {
        Code::from_u8(value)
    }
}

impl From<Code> for u8 {
    fn from(code: Code) -> Self {
        code.as_u8()
    }
}

impl fmt::Display for Code {
    /// The canonical name, or `Unknown-Code-N` for codes without one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Unknown-Code-{}", self.as_u8()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_octet_round_trips() {
        for n in 0..=255u8 {
            let code = Code::from_u8(n);
            assert_eq!(code.as_u8(), n);
            if let Code::Unknown(_) = code {
                assert!(code.name().is_none());
            }
        }
    }

    #[test]
    fn names_are_case_insensitive_and_underscore_tolerant() {
        for name in [
            "Disconnect-Request",
            "disconnect-request",
            "DISCONNECT_REQUEST",
        ] {
            assert_eq!(Code::from_name(name), Some(Code::DisconnectRequest));
        }
        assert_eq!(Code::from_name("coa-ack"), Some(Code::CoaAck));
        assert_eq!(Code::from_name("Disconnect-Requests"), None);
        assert_eq!(Code::DisconnectRequest.to_string(), "Disconnect-Request");
        assert_eq!(Code::Unknown(99).to_string(), "Unknown-Code-99");
    }

    #[test]
    fn authenticator_kinds_follow_the_rfcs() {
        use AuthenticatorKind::*;
        let expect = [
            (1, Some(Random)),
            (12, Some(Random)),
            (4, Some(Md5Request)),
            (40, Some(Md5Request)),
            (43, Some(Md5Request)),
            (2, Some(Response)),
            (3, Some(Response)),
            (5, Some(Response)),
            (11, Some(Response)),
            (41, Some(Response)),
            (42, Some(Response)),
            (44, Some(Response)),
            (45, Some(Response)),
            (52, Some(Response)),
            (99, None),
        ];
        for (n, kind) in expect {
            assert_eq!(Code::from_u8(n).authenticator_kind(), kind, "code {n}");
        }
    }

    #[test]
    fn replies_pair_with_their_requests() {
        assert_eq!(Code::DisconnectRequest.ack(), Some(Code::DisconnectAck));
        assert_eq!(Code::DisconnectRequest.nak(), Some(Code::DisconnectNak));
        assert_eq!(Code::CoaRequest.ack(), Some(Code::CoaAck));
        assert_eq!(Code::CoaRequest.nak(), Some(Code::CoaNak));
        assert_eq!(Code::AccessRequest.nak(), Some(Code::AccessReject));
        assert_eq!(Code::AccountingRequest.nak(), None);
        assert!(Code::CoaNak.answers(Code::CoaRequest));
        assert!(!Code::CoaNak.answers(Code::DisconnectRequest));
        assert!(Code::ProtocolError.answers(Code::CoaRequest));
        assert!(Code::AccountingResponse.answers(Code::StatusServer));
        assert!(!Code::AccessAccept.answers(Code::AccessAccept));
    }
}
