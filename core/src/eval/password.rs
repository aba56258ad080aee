//! Password verification for PAP (`pap` action): plain text and the standard
//! crypt-style hashes.
//!
//! A stored password is one of:
//! - a hash in modular crypt format, recognised by its `$id$` prefix:
//!   `$argon2id$`, `$argon2i$`, `$argon2d$` (PHC string), `$2a$`, `$2b$`, `$2y$`
//!   (bcrypt), `$5$` (SHA-256-crypt), `$6$` (SHA-512-crypt);
//! - `{CLEARTEXT}secret` or `{PLAIN}secret` (RFC 2307 style): plain text;
//! - anything else: plain text, compared in constant time (for equal lengths).
//!
//! Anything that *looks like* a hash but is not one of the schemes above — any
//! `$id$…` with another id (`$1$` MD5-crypt, `$apr1$`, `$y$` yescrypt, `$2x$`, …) or
//! an RFC 2307 scheme such as `{SSHA}` — is an error, never compared as plain text:
//! a plain compare would let anyone who knows the stored hash log in with it. A
//! plain-text password that happens to start with `$word$` must be stored as
//! `{CLEARTEXT}$word$…`.
//!
//! Hash parameters come from the stored string; to keep one bad row from stalling
//! the server, costs above [`MAX_BCRYPT_COST`], [`MAX_ARGON2_MEMORY_KIB`] and
//! [`MAX_ARGON2_PASSES`] are refused with [`PasswordError::TooExpensive`].

use argon2::PasswordVerifier as _;
use base64ct::{Base64Bcrypt, Encoding as _};
use blowfish::Blowfish;
use subtle::ConstantTimeEq as _;

/// Highest bcrypt cost accepted (2^20 rounds: about a minute on one core).
pub const MAX_BCRYPT_COST: u32 = 20;
/// Most memory an argon2 hash may ask for, in KiB (1 GiB).
pub const MAX_ARGON2_MEMORY_KIB: u64 = 1 << 20;
/// Most passes (`t`) an argon2 hash may ask for.
pub const MAX_ARGON2_PASSES: u64 = 100;

/// Why a stored password could not be checked (as opposed to "did not match").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// The stored value names a hash scheme Boomerang does not implement.
    #[error("unsupported password hash scheme `{scheme}`")]
    UnsupportedScheme {
        /// The scheme as written (`$1$`, `{SSHA}`, …).
        scheme: String,
    },
    /// The stored value names a supported scheme but is not a valid hash of it.
    #[error("malformed {scheme} password hash: {reason}")]
    Malformed {
        /// `argon2`, `bcrypt`, `sha256-crypt` or `sha512-crypt`.
        scheme: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The stored hash asks for more work than Boomerang allows.
    #[error("{scheme} password hash is too expensive to verify: {reason}")]
    TooExpensive {
        /// `argon2` or `bcrypt`.
        scheme: &'static str,
        /// Which parameter, and the limit.
        reason: String,
    },
}

/// RFC 2307 scheme names that mean "hashed": refused rather than compared as text.
const RFC2307_HASHES: &[&str] = &[
    "CRYPT",
    "MD5",
    "SMD5",
    "SHA",
    "SSHA",
    "SHA256",
    "SSHA256",
    "SHA384",
    "SSHA384",
    "SHA512",
    "SSHA512",
    "ARGON2",
    "PBKDF2",
    "PBKDF2-SHA256",
    "PBKDF2-SHA512",
    "BCRYPT",
    "NS-MTA-MD5",
];

/// Check `presented` (the password the user sent, as octets) against `stored`.
///
/// `Ok(true)` on a match, `Ok(false)` on a mismatch, `Err` when `stored` cannot be
/// used (unknown scheme, malformed, too expensive) — the `pap` action treats that as
/// an error, not as a wrong password, so that it is logged and fixed.
pub fn verify_password(stored: &str, presented: &[u8]) -> Result<bool, PasswordError> {
    if let Some(id) = crypt_id(stored) {
        return match id {
            "argon2id" | "argon2i" | "argon2d" => verify_argon2(stored, presented),
            "2a" | "2b" | "2y" => verify_bcrypt(stored, presented),
            "5" | "6" => verify_sha_crypt(id, stored, presented),
            other => Err(PasswordError::UnsupportedScheme {
                scheme: format!("${other}$"),
            }),
        };
    }
    if let Some((scheme, rest)) = rfc2307_scheme(stored) {
        let upper = scheme.to_ascii_uppercase();
        if upper == "CLEARTEXT" || upper == "PLAIN" {
            return Ok(plain_eq(rest.as_bytes(), presented));
        }
        if RFC2307_HASHES.contains(&upper.as_str()) {
            return Err(PasswordError::UnsupportedScheme {
                scheme: format!("{{{scheme}}}"),
            });
        }
    }
    Ok(plain_eq(stored.as_bytes(), presented))
}

/// Constant time for equal lengths (the length itself is not secret enough to hide).
fn plain_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The id of a `$id$…` string: one or more of `[a-z0-9-]` between the first two `$`.
fn crypt_id(stored: &str) -> Option<&str> {
    let rest = stored.strip_prefix('$')?;
    let (id, _) = rest.split_once('$')?;
    let ok = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then_some(id)
}

/// `{SCHEME}rest` with a scheme of letters, digits and `-`.
fn rfc2307_scheme(stored: &str) -> Option<(&str, &str)> {
    let rest = stored.strip_prefix('{')?;
    let (scheme, value) = rest.split_once('}')?;
    let ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    ok.then_some((scheme, value))
}

fn verify_argon2(stored: &str, presented: &[u8]) -> Result<bool, PasswordError> {
    let malformed = |reason: String| PasswordError::Malformed {
        scheme: "argon2",
        reason,
    };
    // `$argon2id$v=19$m=65536,t=3,p=4$salt$hash`: check the costs before running it.
    if let Some(params) = stored
        .split('$')
        .find(|f| f.starts_with("m=") || f.contains(",m="))
    {
        for kv in params.split(',') {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let limit = match k {
                "m" => Some(("memory (m)", MAX_ARGON2_MEMORY_KIB)),
                "t" => Some(("passes (t)", MAX_ARGON2_PASSES)),
                _ => None,
            };
            if let Some((what, max)) = limit {
                let n: u64 = v
                    .parse()
                    .map_err(|_| malformed(format!("parameter `{kv}` is not a number")))?;
                if n > max {
                    return Err(PasswordError::TooExpensive {
                        scheme: "argon2",
                        reason: format!("{what} is {n}, at most {max} allowed"),
                    });
                }
            }
        }
    }
    let hash = argon2::password_hash::phc::PasswordHash::new(stored)
        .map_err(|e| malformed(e.to_string()))?;
    match argon2::Argon2::default().verify_password(presented, &hash) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(malformed(e.to_string())),
    }
}

fn verify_sha_crypt(id: &str, stored: &str, presented: &[u8]) -> Result<bool, PasswordError> {
    let scheme = if id == "5" {
        "sha256-crypt"
    } else {
        "sha512-crypt"
    };
    let verifier = if id == "5" {
        sha_crypt::ShaCrypt::SHA256
    } else {
        sha_crypt::ShaCrypt::SHA512
    };
    match sha_crypt::PasswordVerifier::<str>::verify_password(&verifier, presented, stored) {
        Ok(()) => Ok(true),
        Err(sha_crypt::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(PasswordError::Malformed {
            scheme,
            reason: e.to_string(),
        }),
    }
}

/// bcrypt (`$2a$`, `$2b$`, `$2y$`, which differ only in bugs of other
/// implementations): `$2b$CC$` + 22 characters of salt + 31 of hash, in bcrypt's
/// base64 alphabet. The password is NUL-terminated and cut at 72 octets.
fn verify_bcrypt(stored: &str, presented: &[u8]) -> Result<bool, PasswordError> {
    let malformed = |reason: &str| PasswordError::Malformed {
        scheme: "bcrypt",
        reason: reason.to_owned(),
    };
    let rest = stored.get(4..).ok_or_else(|| malformed("too short"))?;
    let (cost, tail) = rest
        .split_once('$')
        .ok_or_else(|| malformed("missing cost"))?;
    if cost.len() != 2 || !cost.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("the cost must be two digits"));
    }
    let cost: u32 = cost.parse().map_err(|_| malformed("bad cost"))?;
    if !(4..=31).contains(&cost) {
        return Err(malformed("the cost must be between 04 and 31"));
    }
    if cost > MAX_BCRYPT_COST {
        return Err(PasswordError::TooExpensive {
            scheme: "bcrypt",
            reason: format!("cost is {cost}, at most {MAX_BCRYPT_COST} allowed"),
        });
    }
    if tail.len() != 53 || !tail.is_ascii() {
        return Err(malformed("salt and hash must be 53 characters"));
    }
    let (salt_text, hash_text) = tail.split_at(22);
    let salt = Base64Bcrypt::decode_vec(salt_text).map_err(|_| malformed("bad salt encoding"))?;
    let salt: [u8; 16] = salt.try_into().map_err(|_| malformed("bad salt length"))?;

    let mut key: Vec<u8> = presented.iter().copied().take(72).collect();
    if key.len() < 72 {
        key.push(0);
    }
    let raw = bcrypt_raw(cost, &salt, &key);
    let computed = Base64Bcrypt::encode_string(raw.get(..23).unwrap_or(&raw));
    Ok(computed.as_bytes().ct_eq(hash_text.as_bytes()).into())
}

/// The EksBlowfish core of bcrypt: 24 output octets (bcrypt keeps 23).
/// `key` is never empty (it carries the terminating NUL).
fn bcrypt_raw(cost: u32, salt: &[u8; 16], key: &[u8]) -> [u8; 24] {
    let mut state = Blowfish::bc_init_state();
    state.salted_expand_key(salt, key);
    for _ in 0..(1u64 << cost) {
        state.bc_expand_key(key);
        state.bc_expand_key(salt);
    }
    // "OrpheanBeholderScryDoubt" as six big-endian words.
    let mut words: [u32; 6] = [
        0x4f72_7068,
        0x6561_6e42,
        0x6568_6f6c,
        0x6465_7253,
        0x6372_7944,
        0x6f75_6274,
    ];
    for pair in words.chunks_exact_mut(2) {
        let mut lr = [pair[0], pair[1]];
        for _ in 0..64 {
            lr = state.bc_encrypt(lr);
        }
        pair[0] = lr[0];
        pair[1] = lr[1];
    }
    let mut out = [0u8; 24];
    for (chunk, word) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher as _;

    /// (stored, password, expected) rows from well-known reference suites.
    const REFERENCE: &[(&str, &[u8], bool)] = &[
        // jBCrypt / OpenBSD test vectors.
        (
            "$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.",
            b"",
            true,
        ),
        (
            "$2a$06$m0CrhHm10qJ3lXRY.5zDGO3rS2KdeeWLuGmsfGlMfOxih58VYVfxe",
            b"a",
            true,
        ),
        (
            "$2a$06$m0CrhHm10qJ3lXRY.5zDGO3rS2KdeeWLuGmsfGlMfOxih58VYVfxe",
            b"b",
            false,
        ),
        (
            "$2a$08$aTsUwsyowQuzRrDqFflhgekJ8d9/7Z3GV3UcgvzQW3J5zMyrTvlz.",
            b"abcdefghijklmnopqrstuvwxyz",
            true,
        ),
        // Python bcrypt ($2b$), and a 100-octet password (only 72 count).
        (
            "$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie",
            b"correctbatteryhorsestapler",
            true,
        ),
        (
            "$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie",
            b"correctbatteryhorsestaple",
            false,
        ),
        (
            "$2a$05$......................YgIDy4hFBdVlc/6LHnD9mX488r9cLd2",
            &[b'x'; 100],
            true,
        ),
        (
            "$2a$05$......................YgIDy4hFBdVlc/6LHnD9mX488r9cLd2",
            &[b'x'; 72],
            true,
        ),
        (
            "$2a$05$......................YgIDy4hFBdVlc/6LHnD9mX488r9cLd2",
            &[b'x'; 71],
            false,
        ),
        // Drepper's SHA-crypt specification.
        (
            "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
            b"Hello world!",
            true,
        ),
        (
            "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
            b"Hello world",
            false,
        ),
        (
            "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA",
            b"Hello world!",
            true,
        ),
        (
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
            b"Hello world!",
            true,
        ),
        (
            "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
            b"Hello world!",
            true,
        ),
        (
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
            b"hello world!",
            false,
        ),
        // Argon2 reference implementation (password "password", salt "somesalt").
        (
            "$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8",
            b"password",
            true,
        ),
        (
            "$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8",
            b"Password",
            false,
        ),
        // Plain text and explicit cleartext.
        ("secret", b"secret", true),
        ("secret", b"Secret", false),
        ("secret", b"secret ", false),
        ("", b"", true),
        ("", b"x", false),
        ("{CLEARTEXT}$1$abc", b"$1$abc", true),
        ("{plain}pw", b"pw", true),
        ("{plain}pw", b"{plain}pw", false),
        // Not a `$id$` shape: plain text.
        ("$ecret", b"$ecret", true),
        ("$Secret$", b"$Secret$", true),
    ];

    #[test]
    fn reference_hashes() {
        for (stored, pw, expected) in REFERENCE {
            assert_eq!(
                verify_password(stored, pw),
                Ok(*expected),
                "{stored} with {:?}",
                String::from_utf8_lossy(pw)
            );
        }
    }

    fn argon2_hash(alg: argon2::Algorithm, pw: &[u8]) -> String {
        let params = argon2::Params::new(64, 1, 1, None).unwrap();
        argon2::Argon2::new(alg, argon2::Version::V0x13, params)
            .hash_password_with_salt(pw, b"fixed-salt-16byt")
            .unwrap()
            .to_string()
    }

    #[test]
    fn generated_argon2_every_variant() {
        for (alg, prefix) in [
            (argon2::Algorithm::Argon2id, "$argon2id$"),
            (argon2::Algorithm::Argon2i, "$argon2i$"),
            (argon2::Algorithm::Argon2d, "$argon2d$"),
        ] {
            let stored = argon2_hash(alg, b"hunter2");
            assert!(stored.starts_with(prefix), "{stored}");
            assert_eq!(verify_password(&stored, b"hunter2"), Ok(true), "{stored}");
            assert_eq!(verify_password(&stored, b"hunter3"), Ok(false), "{stored}");
            assert_eq!(verify_password(&stored, b""), Ok(false), "{stored}");
        }
    }

    #[test]
    fn generated_bcrypt_round_trip() {
        // Build a hash with our own core and a fixed salt, then verify it.
        let salt = *b"0123456789abcdef";
        let mut key = b"s3cret".to_vec();
        key.push(0);
        let raw = bcrypt_raw(4, &salt, &key);
        let stored = format!(
            "$2b$04${}{}",
            Base64Bcrypt::encode_string(&salt),
            Base64Bcrypt::encode_string(&raw[..23])
        );
        assert_eq!(stored.len(), 60);
        assert_eq!(verify_password(&stored, b"s3cret"), Ok(true));
        assert_eq!(verify_password(&stored, b"s3cre"), Ok(false));
        let y = stored.replacen("$2b$", "$2y$", 1);
        assert_eq!(verify_password(&y, b"s3cret"), Ok(true));
    }

    #[test]
    fn unknown_schemes_are_errors_not_plain_text() {
        for stored in [
            "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
            "$apr1$abc$def",
            "$y$j9T$abc$def",
            "$2x$05$......................YgIDy4hFBdVlc/6LHnD9mX488r9cLd2",
            "$pbkdf2-sha256$29000$abc$def",
            "{SSHA}abcdef",
            "{crypt}$1$abc",
        ] {
            let r = verify_password(stored, stored.as_bytes());
            assert!(
                matches!(r, Err(PasswordError::UnsupportedScheme { .. })),
                "{stored}: {r:?}"
            );
        }
    }

    #[test]
    fn malformed_hashes_are_errors() {
        for stored in [
            "$2b$04$short",
            "$2b$4$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie",
            "$2b$03$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie",
            "$2b$04$EGdrhbKUv8Oc9vGiXX0H!OxSg445d458Muh7DAHskb6QbtCvdxcie",
            "$2b$",
            "$argon2id$v=19$m=abc,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW",
            "$argon2id$garbage",
            "$5$",
            "$6$salt$not!base64",
        ] {
            let r = verify_password(stored, b"x");
            assert!(
                matches!(r, Err(PasswordError::Malformed { .. })),
                "{stored}: {r:?}"
            );
        }
    }

    #[test]
    fn too_expensive_hashes_are_refused_before_work() {
        let r = verify_password(
            "$2b$31$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie",
            b"x",
        );
        assert!(
            matches!(r, Err(PasswordError::TooExpensive { .. })),
            "{r:?}"
        );
        let r = verify_password(
            "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8",
            b"x",
        );
        assert!(
            matches!(r, Err(PasswordError::TooExpensive { .. })),
            "{r:?}"
        );
        let r = verify_password(
            "$argon2id$v=19$m=256,t=1000,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8",
            b"x",
        );
        assert!(
            matches!(r, Err(PasswordError::TooExpensive { .. })),
            "{r:?}"
        );
    }
}
