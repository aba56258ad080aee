//! Hidden attribute values: User-Password (RFC 2865 §5.2), Tunnel-Password
//! (RFC 2868 §3.5), and the CHAP-Password check (RFC 2865 §5.3, RFC 1994).
//!
//! All three depend on the Request Authenticator of the request that carries (or,
//! for Tunnel-Password in a reply, that is answered by) the attribute.

use bytes::Bytes;
use md5::{Digest, Md5};

use super::attr::MAX_VALUE_LEN;
use super::auth::constant_time_eq;
use super::error::PasswordError;
use crate::rng::RandomSource;

/// The longest User-Password RFC 2865 allows.
pub const MAX_USER_PASSWORD_LEN: usize = 128;

/// The longest Tunnel-Password that fits in one attribute: tag, 2-octet salt and
/// at most fifteen 16-octet blocks, one octet of which is the length.
pub const MAX_TUNNEL_PASSWORD_LEN: usize = (MAX_VALUE_LEN - 3) / 16 * 16 - 1;

const BLOCK: usize = 16;

/// MD5(secret | a | b) — the key stream block both hiding schemes use.
fn keystream(secret: &[u8], a: &[u8], b: &[u8]) -> [u8; BLOCK] {
    let mut h = Md5::new();
    h.update(secret);
    h.update(a);
    h.update(b);
    h.finalize().into()
}

/// XOR-chain `data` (a multiple of 16 octets) in place. The first block is keyed
/// with MD5(secret|iv|extra); each next one with MD5(secret|previous cipher block).
fn chain(data: &mut [u8], secret: &[u8], iv: &[u8], extra: &[u8], encrypt: bool) {
    let mut key = keystream(secret, iv, extra);
    for block in data.chunks_mut(BLOCK) {
        let mut cipher = [0u8; BLOCK];
        for (i, octet) in block.iter_mut().enumerate() {
            let before = *octet;
            *octet ^= key[i];
            cipher[i] = if encrypt { *octet } else { before };
        }
        key = keystream(secret, &cipher, &[]);
    }
}

/// The length of a User-Password of `len` octets once hidden (padded to whole
/// 16-octet blocks, at least one), or why it cannot be hidden.
pub fn hidden_user_password_len(len: usize) -> Result<usize, PasswordError> {
    if len > MAX_USER_PASSWORD_LEN {
        return Err(PasswordError::TooLong {
            len,
            max: MAX_USER_PASSWORD_LEN,
        });
    }
    Ok(len.div_ceil(BLOCK).max(1) * BLOCK)
}

/// Hide a User-Password for a request with `request_authenticator`: NUL-pad to a
/// multiple of 16 octets (an empty password becomes one block) and XOR-chain.
pub fn hide_user_password(
    password: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Result<Bytes, PasswordError> {
    let padded = hidden_user_password_len(password.len())?;
    let mut out = vec![0u8; padded];
    out[..password.len()].copy_from_slice(password);
    chain(&mut out, secret, request_authenticator, &[], true);
    Ok(Bytes::from(out))
}

/// Reveal a hidden User-Password; trailing NULs (the padding) are removed.
pub fn reveal_user_password(
    hidden: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Result<Vec<u8>, PasswordError> {
    let len = hidden.len();
    if len == 0 || len > MAX_USER_PASSWORD_LEN || !len.is_multiple_of(BLOCK) {
        return Err(PasswordError::BadHiddenLength { len });
    }
    let mut out = hidden.to_vec();
    chain(&mut out, secret, request_authenticator, &[], false);
    while out.last() == Some(&0) {
        out.pop();
    }
    Ok(out)
}

/// Hide a Tunnel-Password, producing the whole attribute value: `tag`, a 2-octet
/// salt from `rng` with its high bit set, then the length-prefixed, padded,
/// XOR-chained password. `request_authenticator` is that of the request this
/// value travels in or answers.
pub fn hide_tunnel_password(
    tag: u8,
    password: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
    rng: &mut dyn RandomSource,
) -> Result<Bytes, PasswordError> {
    if password.len() > MAX_TUNNEL_PASSWORD_LEN {
        return Err(PasswordError::TooLong {
            len: password.len(),
            max: MAX_TUNNEL_PASSWORD_LEN,
        });
    }
    let mut salt = [0u8; 2];
    rng.fill(&mut salt);
    salt[0] |= 0x80;
    let plain_len = password.len() + 1;
    let padded = plain_len.div_ceil(BLOCK) * BLOCK;
    let mut out = Vec::with_capacity(3 + padded);
    out.push(tag);
    out.extend_from_slice(&salt);
    // Cannot truncate: password.len() <= 239.
    out.push(password.len() as u8);
    out.extend_from_slice(password);
    out.resize(3 + padded, 0);
    chain(&mut out[3..], secret, request_authenticator, &salt, true);
    Ok(Bytes::from(out))
}

/// Reveal a Tunnel-Password attribute value, returning its tag and the password.
pub fn reveal_tunnel_password(
    value: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
) -> Result<(u8, Vec<u8>), PasswordError> {
    let len = value.len();
    let (tag, salt, cipher) = match value {
        [tag, s0, s1, rest @ ..] if !rest.is_empty() && rest.len() % BLOCK == 0 => {
            (*tag, [*s0, *s1], rest)
        }
        _ => return Err(PasswordError::BadTunnelLength { len }),
    };
    if salt[0] & 0x80 == 0 {
        return Err(PasswordError::BadSalt {
            salt: u16::from_be_bytes(salt),
        });
    }
    let mut plain = cipher.to_vec();
    chain(&mut plain, secret, request_authenticator, &salt, false);
    let length = plain[0];
    let available = plain.len() - 1;
    if usize::from(length) > available {
        return Err(PasswordError::BadTunnelPasswordLength { length, available });
    }
    Ok((tag, plain[1..=usize::from(length)].to_vec()))
}

/// Whether a CHAP-Password value (CHAP identifier + 16-octet response) is the
/// correct response for `password` to `challenge` (the CHAP-Challenge attribute,
/// or the Request Authenticator when there is none). Compared in constant time.
pub fn chap_password_matches(chap_password: &[u8], password: &[u8], challenge: &[u8]) -> bool {
    let [ident, response @ ..] = chap_password else {
        return false;
    };
    if response.len() != BLOCK {
        return false;
    }
    let mut h = Md5::new();
    h.update([*ident]);
    h.update(password);
    h.update(challenge);
    let expected: [u8; BLOCK] = h.finalize().into();
    constant_time_eq(&expected, response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    const RA: [u8; 16] = [9; 16];

    #[test]
    fn user_password_round_trips_at_every_length() {
        for n in 0..=MAX_USER_PASSWORD_LEN {
            let pw: Vec<u8> = (1..=n as u8).collect();
            let hidden = hide_user_password(&pw, b"secret", &RA).unwrap();
            assert_eq!(hidden.len(), n.div_ceil(16).max(1) * 16);
            assert_eq!(reveal_user_password(&hidden, b"secret", &RA).unwrap(), pw);
        }
        assert!(matches!(
            hide_user_password(&[1; 129], b"s", &RA),
            Err(PasswordError::TooLong { len: 129, max: 128 })
        ));
        for bad in [0usize, 15, 17, 144] {
            assert_eq!(
                reveal_user_password(&vec![0; bad], b"s", &RA),
                Err(PasswordError::BadHiddenLength { len: bad })
            );
        }
    }

    #[test]
    fn tunnel_password_round_trips_and_salts() {
        let mut rng = SplitMix64::new(3);
        for n in [0usize, 1, 15, 16, 100, MAX_TUNNEL_PASSWORD_LEN] {
            let pw = vec![b'p'; n];
            let v = hide_tunnel_password(5, &pw, b"secret", &RA, &mut rng).unwrap();
            assert!(v.len() <= MAX_VALUE_LEN);
            assert_eq!(v[0], 5);
            assert_ne!(v[1] & 0x80, 0);
            assert_eq!((v.len() - 3) % 16, 0);
            assert_eq!(reveal_tunnel_password(&v, b"secret", &RA).unwrap(), (5, pw));
        }
        assert!(
            hide_tunnel_password(0, &[0; MAX_TUNNEL_PASSWORD_LEN + 1], b"s", &RA, &mut rng)
                .is_err()
        );
    }

    #[test]
    fn tunnel_password_errors() {
        assert_eq!(
            reveal_tunnel_password(&[0; 18], b"s", &RA),
            Err(PasswordError::BadTunnelLength { len: 18 })
        );
        assert_eq!(
            reveal_tunnel_password(&[0; 20], b"s", &RA),
            Err(PasswordError::BadTunnelLength { len: 20 })
        );
        assert_eq!(
            reveal_tunnel_password(&[0; 19], b"s", &RA),
            Err(PasswordError::BadSalt { salt: 0 })
        );
        // Craft a value whose decrypted length octet is 200 with only 15 octets after it.
        let mut v = vec![0u8, 0x80, 1];
        let mut block = [0u8; 16];
        block[0] = 200;
        chain(&mut block, b"s", &RA, &[0x80, 1], true);
        v.extend_from_slice(&block);
        assert_eq!(
            reveal_tunnel_password(&v, b"s", &RA),
            Err(PasswordError::BadTunnelPasswordLength {
                length: 200,
                available: 15
            })
        );
    }

    #[test]
    fn chap_rejects_malformed_values() {
        assert!(!chap_password_matches(&[], b"pw", b"c"));
        assert!(!chap_password_matches(&[1; 16], b"pw", b"c"));
    }
}
