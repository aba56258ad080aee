//! The RADIUS codec: packets, attributes, dictionary, authenticators,
//! Message-Authenticator, attribute hiding, and stream framing.
//!
//! Follows RFC 2865/2866/2869/3579/5176/5997/6613/6614/6929 and the BlastRADIUS
//! mitigations; see `docs/codec.md` for what is validated and what closes a stream.

pub mod attr;
pub mod auth;
pub mod code;
pub mod dictionary;
pub mod error;
pub mod extended;
pub mod framing;
pub mod id;
pub mod logical;
pub mod packet;
pub mod password;
pub mod vsa;
