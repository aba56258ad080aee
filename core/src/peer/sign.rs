//! Signing: turning a request template into bytes for one peer and one identifier.
//!
//! A request may be signed several times (a retry after a connection closed, or a
//! fallback to another server): each time it gets a new identifier, a new Request
//! Authenticator, its User-Password (when the template holds it in clear text)
//! hidden again with that peer's secret and that authenticator, and a fresh
//! Message-Authenticator, first (RFC 6613 §2.6.1, radiusdtls-bis).

use bytes::Bytes;

use crate::radius::attr::MESSAGE_AUTHENTICATOR;
use crate::radius::auth::{SignOptions, sign_request};
use crate::radius::code::{AuthenticatorKind, Code};
use crate::radius::error::{EncodeError, PasswordError};
use crate::radius::packet::Packet;
use crate::radius::password::{hidden_user_password_len, hide_user_password};
use crate::rng::RandomSource;

/// The User-Password attribute (RFC 2865 §5.2).
const USER_PASSWORD: u8 = 2;
/// The NAS-Identifier attribute (RFC 2865 §5.32).
const NAS_IDENTIFIER: u8 = 32;
/// The longest attribute value.
const MAX_VALUE: usize = 253;

/// A [`RandomSource`] that hands out one chosen authenticator, so that
/// [`sign_request`] uses the vector the User-Password was already hidden with.
struct ChosenVector([u8; 16]);

impl RandomSource for ChosenVector {
    fn fill(&mut self, buf: &mut [u8]) {
        for (slot, byte) in buf.iter_mut().zip(self.0.iter().cycle()) {
            *slot = *byte;
        }
    }
}

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The packet does not encode (too long, bad attribute).
    #[error("{0}")]
    Encode(#[from] EncodeError),
    /// The User-Password cannot be hidden (longer than 128 octets).
    #[error("User-Password: {0}")]
    Password(#[from] PasswordError),
}

/// A request signed for one transmission.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The bytes to send.
    pub bytes: Bytes,
    /// The Request Authenticator sent, which the reply is verified against.
    pub authenticator: [u8; 16],
}

/// Sign `template` (code and attributes) with `identifier` for a peer with
/// `secret`; with `hide_password` its User-Password is in clear text and is hidden
/// with the authenticator sent. Any Message-Authenticator in the template is
/// dropped and a fresh one is put first.
pub fn sign(
    template: &Packet,
    identifier: u8,
    secret: &[u8],
    hide_password: bool,
    rng: &mut dyn RandomSource,
) -> Result<Signed, SignError> {
    let mut packet = template.clone();
    packet.identifier = identifier;
    packet.remove_all(MESSAGE_AUTHENTICATOR);
    let mut vector = [0u8; 16];
    if template.code.authenticator_kind() == Some(AuthenticatorKind::Random) {
        rng.fill(&mut vector);
    }
    for attr in packet
        .attributes
        .iter_mut()
        .filter(|a| hide_password && a.typ == USER_PASSWORD)
    {
        attr.value = hide_user_password(&attr.value, secret, &vector)?;
    }
    let options = SignOptions {
        add_message_authenticator: true,
        ..SignOptions::default()
    };
    let bytes = sign_request(&mut packet, secret, &mut ChosenVector(vector), &options)?;
    Ok(Signed {
        bytes,
        authenticator: packet.authenticator,
    })
}

/// Whether [`sign`] can sign `template`: a request code, a User-Password that can
/// be hidden (with `hide_password`), and the packet with its Message-Authenticator
/// within the size limits. The same checks as signing, without drawing randomness
/// or computing a digest, so that a request can be refused before it is queued.
pub fn check(template: &Packet, hide_password: bool) -> Result<(), SignError> {
    if !matches!(
        template.code.authenticator_kind(),
        Some(AuthenticatorKind::Random | AuthenticatorKind::Md5Request)
    ) {
        return Err(EncodeError::NotARequest {
            code: template.code.as_u8(),
        }
        .into());
    }
    let mut packet = template.clone();
    packet.remove_all(MESSAGE_AUTHENTICATOR);
    for attr in packet
        .attributes
        .iter_mut()
        .filter(|a| hide_password && a.typ == USER_PASSWORD)
    {
        attr.value = Bytes::from(vec![0u8; hidden_user_password_len(attr.value.len())?]);
    }
    packet.insert_first(MESSAGE_AUTHENTICATOR, Bytes::from_static(&[0u8; 16]));
    packet.encode()?;
    Ok(())
}

/// A Status-Server template, carrying NAS-Identifier when configured so that the
/// far end can select this connection by `connection.status.nas_identifier`.
/// Message-Authenticator is added by signing.
pub fn status_server(nas_identifier: Option<&str>) -> Packet {
    let mut packet = Packet::new(Code::StatusServer, 0);
    if let Some(nas) = nas_identifier
        && nas.len() <= MAX_VALUE
    {
        packet.push(NAS_IDENTIFIER, Bytes::copy_from_slice(nas.as_bytes()));
    }
    packet
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radius::auth::{VerifyPolicy, verify_request};
    use crate::radius::password::reveal_user_password;
    use crate::rng::SplitMix64;

    #[test]
    fn check_accepts_exactly_what_sign_signs() {
        let mut ok = Packet::new(Code::AccessRequest, 0);
        ok.push(USER_PASSWORD, vec![b'p'; 128]);
        let mut long_password = Packet::new(Code::AccessRequest, 0);
        long_password.push(USER_PASSWORD, vec![b'p'; 129]);
        // 20 + 15 × 255 + 233 = 4,078 octets, 4,096 with the Message-Authenticator
        // signing adds: fits; one octet more does not.
        let big = |last: usize| {
            let mut p = Packet::new(Code::AccountingRequest, 0);
            for _ in 0..15 {
                p.push(1, vec![b'u'; 253]);
            }
            p.push(1, vec![b'u'; last]);
            p
        };
        let fits = big(231);
        let full = big(232);
        let not_a_request = Packet::new(Code::AccessAccept, 0);
        for (template, hide) in [
            (&ok, true),
            (&long_password, true),
            (&long_password, false),
            (&full, true),
            (&fits, true),
            (&not_a_request, true),
        ] {
            let mut rng = SplitMix64::new(1);
            assert_eq!(
                check(template, hide).is_ok(),
                sign(template, 7, b"secret", hide, &mut rng).is_ok(),
                "{:?} with {} attributes, hide {hide}",
                template.code,
                template.attributes.len()
            );
        }
        assert!(check(&ok, true).is_ok());
        assert!(check(&fits, true).is_ok());
        assert!(check(&long_password, true).is_err());
        assert!(check(&long_password, false).is_ok());
        assert!(check(&full, true).is_err());
        assert!(check(&not_a_request, true).is_err());
    }

    #[test]
    fn password_is_hidden_with_the_authenticator_actually_sent() {
        let mut rng = SplitMix64::new(5);
        let mut template = Packet::new(Code::AccessRequest, 0);
        template.push(1, "bob");
        template.push(USER_PASSWORD, "hunter2");
        template.push(MESSAGE_AUTHENTICATOR, Bytes::from_static(&[7u8; 16]));
        let signed = sign(&template, 42, b"secret", true, &mut rng).unwrap();
        let p = Packet::decode(signed.bytes.clone()).unwrap();
        assert_eq!(p.identifier, 42);
        assert_eq!(p.authenticator, signed.authenticator);
        assert_eq!(p.attributes[0].typ, MESSAGE_AUTHENTICATOR);
        assert_eq!(p.all(MESSAGE_AUTHENTICATOR).count(), 1);
        verify_request(&p, b"secret", &VerifyPolicy::default()).unwrap();
        let hidden = p.first_value(USER_PASSWORD).unwrap();
        let clear = reveal_user_password(hidden, b"secret", &p.authenticator).unwrap();
        assert_eq!(clear, b"hunter2");
        // Signing again gives a new authenticator.
        let again = sign(&template, 43, b"secret", true, &mut rng).unwrap();
        assert_ne!(again.authenticator, signed.authenticator);
    }

    #[test]
    fn probe_carries_nas_identifier_and_message_authenticator() {
        let mut rng = SplitMix64::new(5);
        let signed = sign(&status_server(Some("nas-1")), 0, b"radsec", false, &mut rng).unwrap();
        let p = Packet::decode(signed.bytes).unwrap();
        assert_eq!(p.code, Code::StatusServer);
        assert_eq!(p.identifier, 0);
        assert_eq!(p.first_value(NAS_IDENTIFIER).unwrap().as_ref(), b"nas-1");
        verify_request(&p, b"radsec", &VerifyPolicy::default()).unwrap();
    }
}
