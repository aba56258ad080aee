//! Packet authentication: Request and Response Authenticators (RFC 2865 §3,
//! RFC 2866 §3, RFC 5176 §3.3), Message-Authenticator (RFC 2869 §5.14,
//! RFC 3579 §3.2, RFC 5997 §3), and the BlastRADIUS verification options of
//! draft-ietf-radext-deprecating-radius.
//!
//! Signing computes the Message-Authenticator first and the MD5 authenticator
//! second, so the MD5 covers the final HMAC. Verification checks the
//! Message-Authenticator first, before anything else in the packet is trusted.
//! Every comparison of a computed value with a received one is constant-time.

use bytes::Bytes;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

use super::attr::{MESSAGE_AUTHENTICATOR, PROXY_STATE};
use super::code::{AuthenticatorKind, Code};
use super::error::{AuthError, EncodeError};
use super::packet::{HEADER_LEN, MAX_PACKET_LEN, Packet};
use crate::rng::RandomSource;

type HmacMd5 = Hmac<Md5>;

/// Length of a Message-Authenticator value.
pub const MESSAGE_AUTHENTICATOR_LEN: usize = 16;

/// Which optional checks a server applies to requests from one client, and a
/// client to the responses it receives.
///
/// Both BlastRADIUS flags default to off, as the draft asks; it also says to
/// ignore them on RadSec/DTLS, which is the caller's decision (pass the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VerifyPolicy {
    /// Discard any request (and any response) that has no Message-Authenticator.
    /// Status-Server always requires one, whatever this says (RFC 5997).
    pub require_message_authenticator: bool,
    /// Discard requests that carry Proxy-State but no Message-Authenticator.
    pub limit_proxy_state: bool,
}

/// Options for signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignOptions {
    /// Add a Message-Authenticator (as the first attribute) when the packet has
    /// none. Status-Server requests and Access-Accept/Reject/Challenge and
    /// Protocol-Error replies always get one, first, whatever this says.
    pub add_message_authenticator: bool,
    /// Largest packet to produce (4096 unless RFC 7930 larger packets were agreed).
    pub max_packet_len: usize,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            add_message_authenticator: true,
            max_packet_len: MAX_PACKET_LEN,
        }
    }
}

/// Compare two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// An HMAC-MD5 keyed with `secret`. HMAC accepts keys of any length, so the
/// fallback is unreachable; it exists so that no code path can panic.
fn hmac_md5(secret: &[u8]) -> HmacMd5 {
    <HmacMd5 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| <HmacMd5 as KeyInit>::new(&Default::default()))
}

/// Feed the packet's encoding to `update`, with `vector` in the Authenticator
/// field and, if `zero_ma`, every Message-Authenticator value replaced by zeros.
/// For a decoded packet this is exactly the received octets (decoding is strict
/// and encoding canonical), so no copy of the wire bytes needs to be kept.
fn feed(packet: &Packet, vector: &[u8; 16], zero_ma: bool, mut update: impl FnMut(&[u8])) {
    let len = u16::try_from(packet.encoded_len()).unwrap_or(u16::MAX);
    let [l0, l1] = len.to_be_bytes();
    update(&[packet.code.as_u8(), packet.identifier, l0, l1]);
    update(vector);
    for a in &packet.attributes {
        // Values over 253 octets cannot come from the wire; clamping only makes
        // a hand-built invalid packet fail verification.
        let alen = u8::try_from(a.value.len() + 2).unwrap_or(u8::MAX);
        update(&[a.typ, alen]);
        if zero_ma && a.typ == MESSAGE_AUTHENTICATOR {
            update(&[0u8; MESSAGE_AUTHENTICATOR_LEN]);
        } else {
            update(&a.value);
        }
    }
}

/// HMAC-MD5 over the packet with the Message-Authenticator zeroed.
fn compute_message_authenticator(packet: &Packet, vector: &[u8; 16], secret: &[u8]) -> [u8; 16] {
    let mut mac = hmac_md5(secret);
    feed(packet, vector, true, |b| mac.update(b));
    mac.finalize().into_bytes().into()
}

/// MD5 over the packet (Message-Authenticator as is) followed by the secret.
fn compute_md5_authenticator(packet: &Packet, vector: &[u8; 16], secret: &[u8]) -> [u8; 16] {
    let mut md5 = Md5::new();
    feed(packet, vector, false, |b| md5.update(b));
    md5.update(secret);
    md5.finalize().into()
}

/// The single Message-Authenticator value, if any; errors for duplicates and
/// wrong lengths.
fn message_authenticator(packet: &Packet) -> Result<Option<&Bytes>, AuthError> {
    let mut found = None;
    let mut count = 0;
    for a in packet.all(MESSAGE_AUTHENTICATOR) {
        count += 1;
        found.get_or_insert(&a.value);
    }
    if count > 1 {
        return Err(AuthError::DuplicateMessageAuthenticator { count });
    }
    match found {
        Some(v) if v.len() != MESSAGE_AUTHENTICATOR_LEN => {
            Err(AuthError::MessageAuthenticatorLength { len: v.len() })
        }
        other => Ok(other),
    }
}

/// Check the Message-Authenticator (if present) against `vector`.
fn check_message_authenticator(
    packet: &Packet,
    ma: &Bytes,
    vector: &[u8; 16],
    secret: &[u8],
) -> Result<(), AuthError> {
    let expected = compute_message_authenticator(packet, vector, secret);
    if constant_time_eq(&expected, ma) {
        Ok(())
    } else {
        Err(AuthError::BadMessageAuthenticator)
    }
}

/// Verify a received request with the client's `secret`.
///
/// Order: the code must be a known request code; the Message-Authenticator is
/// checked (or its absence judged against Status-Server's requirement and the
/// policy) before anything else; then, for Accounting-, CoA- and
/// Disconnect-Request, the MD5 Request Authenticator. Access-Request and
/// Status-Server carry a random authenticator that cannot be checked.
pub fn verify_request(
    packet: &Packet,
    secret: &[u8],
    policy: &VerifyPolicy,
) -> Result<(), AuthError> {
    let code = packet.code;
    let kind = match code.authenticator_kind() {
        None => return Err(AuthError::UnknownCode { code: code.as_u8() }),
        Some(AuthenticatorKind::Response) => {
            return Err(AuthError::WrongDirection {
                code: code.as_u8(),
                expected: "request",
            });
        }
        Some(kind) => kind,
    };
    let vector = match kind {
        AuthenticatorKind::Random => packet.authenticator,
        _ => [0u8; 16],
    };
    match message_authenticator(packet)? {
        Some(ma) => check_message_authenticator(packet, ma, &vector, secret)?,
        None => {
            if policy.require_message_authenticator || code == Code::StatusServer {
                return Err(AuthError::MissingMessageAuthenticator);
            }
            if policy.limit_proxy_state && packet.contains(PROXY_STATE) {
                return Err(AuthError::ProxyStateWithoutMessageAuthenticator);
            }
        }
    }
    if kind == AuthenticatorKind::Md5Request {
        let expected = compute_md5_authenticator(packet, &[0u8; 16], secret);
        if !constant_time_eq(&expected, &packet.authenticator) {
            return Err(AuthError::BadRequestAuthenticator);
        }
    }
    Ok(())
}

/// The Authenticator field while the Message-Authenticator of a response with
/// `code` is computed, when we sign it.
///
/// RFC 3579 §3.2 puts the Request Authenticator of the request there, and so does
/// every implementation for Access-Accept/Reject/Challenge and, since FreeRADIUS
/// 2.2 (pull request 556, following RFC 5176 §3.3), for CoA- and
/// Disconnect-ACK/NAK. An Accounting-Response is the exception: FreeRADIUS
/// (`rad_sign`/`rad_verify` in `src/lib/radius.c`, 3.0 to 3.2) treats it like an
/// Accounting-Request and uses 16 zero octets, except when it answers a
/// Status-Server. pyrad and radsecproxy do the same. We never answer a
/// Status-Server with an Accounting-Response (our Status-Server reply is an
/// Access-Accept), so zeros are right for every Accounting-Response we sign.
fn response_signing_vector(code: Code, request_authenticator: &[u8; 16]) -> [u8; 16] {
    match code {
        Code::AccountingResponse => [0u8; 16],
        _ => *request_authenticator,
    }
}

/// Check the Message-Authenticator of a received response. An Accounting-Response
/// is accepted with either vector: 16 zeros (FreeRADIUS, pyrad, radsecproxy, and
/// what we send) or the request's authenticator (the letter of RFC 3579 §3.2, and
/// FreeRADIUS's Accounting-Response to a Status-Server). Its MD5 Response
/// Authenticator is checked as well, so accepting both weakens nothing.
fn check_response_message_authenticator(
    packet: &Packet,
    ma: &Bytes,
    request_authenticator: &[u8; 16],
    secret: &[u8],
) -> Result<(), AuthError> {
    if packet.code == Code::AccountingResponse
        && check_message_authenticator(packet, ma, &[0u8; 16], secret).is_ok()
    {
        return Ok(());
    }
    check_message_authenticator(packet, ma, request_authenticator, secret)
}

/// Verify a received response against the authenticator of the request it
/// answers (as sent), with the peer's `secret`: the Message-Authenticator first
/// (required if the policy says so), then the Response Authenticator.
///
/// Matching the response to its request (identifier, connection) and checking
/// that its code answers the request's code ([`Code::answers`]) are the caller's.
pub fn verify_response(
    packet: &Packet,
    request_authenticator: &[u8; 16],
    secret: &[u8],
    policy: &VerifyPolicy,
) -> Result<(), AuthError> {
    let code = packet.code;
    match code.authenticator_kind() {
        None => return Err(AuthError::UnknownCode { code: code.as_u8() }),
        Some(AuthenticatorKind::Response) => {}
        Some(_) => {
            return Err(AuthError::WrongDirection {
                code: code.as_u8(),
                expected: "response",
            });
        }
    }
    match message_authenticator(packet)? {
        Some(ma) => {
            check_response_message_authenticator(packet, ma, request_authenticator, secret)?
        }
        None if policy.require_message_authenticator => {
            return Err(AuthError::MissingMessageAuthenticator);
        }
        None => {}
    }
    let expected = compute_md5_authenticator(packet, request_authenticator, secret);
    if constant_time_eq(&expected, &packet.authenticator) {
        Ok(())
    } else {
        Err(AuthError::BadResponseAuthenticator)
    }
}

/// Encode a signed packet: Message-Authenticator (if present) over the packet
/// with `vector` in the Authenticator field, then, if `md5` is `Some(v)`, the MD5
/// authenticator over the result with `v` in the Authenticator field. Updates
/// `packet` to what was sent.
fn sign(
    packet: &mut Packet,
    vector: [u8; 16],
    secret: &[u8],
    md5: Option<[u8; 16]>,
    max: usize,
) -> Result<Bytes, EncodeError> {
    let count = packet.all(MESSAGE_AUTHENTICATOR).count();
    if count > 1 {
        return Err(EncodeError::DuplicateMessageAuthenticator { count });
    }
    let ma_index = packet
        .attributes
        .iter()
        .position(|a| a.typ == MESSAGE_AUTHENTICATOR);
    if let Some(i) = ma_index {
        packet.attributes[i].value = Bytes::from_static(&[0u8; MESSAGE_AUTHENTICATOR_LEN]);
    }
    let mut buf = packet.encode_raw(&vector, max)?;
    if let Some(i) = ma_index {
        let offset = HEADER_LEN
            + packet.attributes[..i]
                .iter()
                .map(|a| a.wire_len())
                .sum::<usize>()
            + 2;
        let mut mac = hmac_md5(secret);
        mac.update(&buf);
        let value: [u8; 16] = mac.finalize().into_bytes().into();
        if let Some(slot) = buf.get_mut(offset..offset + MESSAGE_AUTHENTICATOR_LEN) {
            slot.copy_from_slice(&value);
        }
        packet.attributes[i].value = Bytes::copy_from_slice(&value);
    }
    if let Some(md5_vector) = md5 {
        buf[4..HEADER_LEN].copy_from_slice(&md5_vector);
        let mut h = Md5::new();
        h.update(&buf);
        h.update(secret);
        let auth: [u8; 16] = h.finalize().into();
        buf[4..HEADER_LEN].copy_from_slice(&auth);
    }
    packet.authenticator.copy_from_slice(&buf[4..HEADER_LEN]);
    Ok(buf.freeze())
}

/// Sign and encode a request for a peer with `secret`.
///
/// Access-Request and Status-Server get a random Request Authenticator from
/// `rng`; Accounting-, CoA-, Disconnect-Request and Status-Client the MD5 one.
/// A Message-Authenticator is added first when absent if the options ask for it,
/// and always for Status-Server. On success `packet.authenticator` holds the
/// authenticator sent, which [`verify_response`] needs for the reply.
pub fn sign_request(
    packet: &mut Packet,
    secret: &[u8],
    rng: &mut dyn RandomSource,
    options: &SignOptions,
) -> Result<Bytes, EncodeError> {
    let code = packet.code;
    let kind = match code.authenticator_kind() {
        Some(k @ (AuthenticatorKind::Random | AuthenticatorKind::Md5Request)) => k,
        _ => return Err(EncodeError::NotARequest { code: code.as_u8() }),
    };
    if (options.add_message_authenticator || code == Code::StatusServer)
        && !packet.contains(MESSAGE_AUTHENTICATOR)
    {
        packet.insert_first(MESSAGE_AUTHENTICATOR, Bytes::from_static(&[0u8; 16]));
    }
    match kind {
        AuthenticatorKind::Random => {
            let mut vector = [0u8; 16];
            rng.fill(&mut vector);
            sign(packet, vector, secret, None, options.max_packet_len)
        }
        _ => sign(
            packet,
            [0u8; 16],
            secret,
            Some([0u8; 16]),
            options.max_packet_len,
        ),
    }
}

/// Sign and encode a response to a request whose authenticator was
/// `request_authenticator`, for a peer with `secret`.
///
/// Access-Accept, Access-Reject, Access-Challenge and Protocol-Error always get a
/// Message-Authenticator as their first attribute (an existing one is moved
/// there); other responses get one first when absent if the options ask for it.
/// It is computed over the request's authenticator, except in an
/// Accounting-Response, where FreeRADIUS expects 16 zeros
/// (see `response_signing_vector`).
pub fn sign_response(
    packet: &mut Packet,
    request_authenticator: &[u8; 16],
    secret: &[u8],
    options: &SignOptions,
) -> Result<Bytes, EncodeError> {
    let code = packet.code;
    if !code.is_response() {
        return Err(EncodeError::NotAResponse { code: code.as_u8() });
    }
    let ma_first = matches!(
        code,
        Code::AccessAccept | Code::AccessReject | Code::AccessChallenge | Code::ProtocolError
    );
    if ma_first {
        packet.remove_all(MESSAGE_AUTHENTICATOR);
        packet.insert_first(MESSAGE_AUTHENTICATOR, Bytes::from_static(&[0u8; 16]));
    } else if options.add_message_authenticator && !packet.contains(MESSAGE_AUTHENTICATOR) {
        packet.insert_first(MESSAGE_AUTHENTICATOR, Bytes::from_static(&[0u8; 16]));
    }
    sign(
        packet,
        response_signing_vector(code, request_authenticator),
        secret,
        Some(*request_authenticator),
        options.max_packet_len,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn signed_request_and_response_verify() {
        let mut rng = SplitMix64::new(1);
        for code in [
            Code::AccessRequest,
            Code::StatusServer,
            Code::CoaRequest,
            Code::AccountingRequest,
        ] {
            let mut req = Packet::new(code, 9);
            req.push(1, "alice");
            let wire =
                sign_request(&mut req, b"s3cret", &mut rng, &SignOptions::default()).unwrap();
            let back = Packet::decode(wire).unwrap();
            assert_eq!(back, req);
            verify_request(&back, b"s3cret", &VerifyPolicy::default()).unwrap();
            assert!(verify_request(&back, b"other", &VerifyPolicy::default()).is_err());
            let mut resp = Packet::new(code.ack().unwrap(), 9);
            let wire = sign_response(
                &mut resp,
                &req.authenticator,
                b"s3cret",
                &SignOptions::default(),
            )
            .unwrap();
            let back = Packet::decode(wire).unwrap();
            assert_eq!(back.attributes[0].typ, MESSAGE_AUTHENTICATOR);
            verify_response(
                &back,
                &req.authenticator,
                b"s3cret",
                &VerifyPolicy::default(),
            )
            .unwrap();
            // An Accounting-Response's Message-Authenticator does not cover the
            // request authenticator (FreeRADIUS): only its MD5 authenticator fails.
            let wrong_request = if code == Code::AccountingRequest {
                AuthError::BadResponseAuthenticator
            } else {
                AuthError::BadMessageAuthenticator
            };
            assert_eq!(
                verify_response(&back, &[0; 16], b"s3cret", &VerifyPolicy::default()),
                Err(wrong_request)
            );
        }
    }

    /// The Message-Authenticator value of a signed packet.
    fn ma_of(packet: &Packet) -> [u8; 16] {
        let v = packet.first_value(MESSAGE_AUTHENTICATOR).unwrap();
        v.as_ref().try_into().unwrap()
    }

    #[test]
    fn accounting_response_message_authenticator_uses_zeros_like_freeradius() {
        let request_auth = [7u8; 16];
        let mut resp = Packet::new(Code::AccountingResponse, 3);
        resp.push(18, "ok");
        let wire = sign_response(&mut resp, &request_auth, b"k", &SignOptions::default()).unwrap();
        let back = Packet::decode(wire).unwrap();
        assert_eq!(
            ma_of(&back),
            compute_message_authenticator(&back, &[0u8; 16], b"k")
        );
        assert_ne!(
            ma_of(&back),
            compute_message_authenticator(&back, &request_auth, b"k")
        );
        verify_response(&back, &request_auth, b"k", &VerifyPolicy::default()).unwrap();
    }

    #[test]
    fn other_responses_sign_over_the_request_authenticator() {
        let request_auth = [9u8; 16];
        for code in [
            Code::AccessAccept,
            Code::AccessReject,
            Code::AccessChallenge,
            Code::CoaAck,
            Code::CoaNak,
            Code::DisconnectAck,
            Code::DisconnectNak,
        ] {
            let mut resp = Packet::new(code, 3);
            let wire =
                sign_response(&mut resp, &request_auth, b"k", &SignOptions::default()).unwrap();
            let back = Packet::decode(wire).unwrap();
            assert_eq!(
                ma_of(&back),
                compute_message_authenticator(&back, &request_auth, b"k"),
                "{code}"
            );
        }
    }

    #[test]
    fn accounting_response_signed_over_the_request_authenticator_is_accepted() {
        // The letter of RFC 3579 §3.2 (and FreeRADIUS's answer to a Status-Server).
        let request_auth = [5u8; 16];
        let mut resp = Packet::new(Code::AccountingResponse, 4);
        resp.insert_first(MESSAGE_AUTHENTICATOR, Bytes::from_static(&[0u8; 16]));
        let wire = sign(&mut resp, request_auth, b"k", Some(request_auth), 4096).unwrap();
        let back = Packet::decode(wire).unwrap();
        verify_response(&back, &request_auth, b"k", &VerifyPolicy::default()).unwrap();
        assert_eq!(
            verify_response(&back, &request_auth, b"other", &VerifyPolicy::default()),
            Err(AuthError::BadMessageAuthenticator)
        );
    }

    #[test]
    fn accept_gets_message_authenticator_moved_first() {
        let mut resp = Packet::new(Code::AccessAccept, 1);
        resp.push(18, "hi");
        resp.push(MESSAGE_AUTHENTICATOR, vec![1u8; 16]);
        sign_response(
            &mut resp,
            &[3; 16],
            b"k",
            &SignOptions {
                add_message_authenticator: false,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(resp.attributes[0].typ, MESSAGE_AUTHENTICATOR);
        assert_eq!(resp.all(MESSAGE_AUTHENTICATOR).count(), 1);
    }
}
