//! Fuzz bodies for the RADIUS codec.

use bytes::Bytes;

use crate::radius::attr::{TUNNEL_PASSWORD, USER_PASSWORD};
use crate::radius::auth::{VerifyPolicy, verify_request, verify_response};
use crate::radius::error::FramingError;
use crate::radius::framing::StreamDecoder;
use crate::radius::packet::Packet;
use crate::radius::password::{reveal_tunnel_password, reveal_user_password};

/// The shared secret the verifying target uses; seeds signed with it get past
/// the authenticator checks.
pub const FUZZ_SECRET: &[u8] = b"fuzz-secret";

/// Decode arbitrary bytes as a RADIUS packet without authenticator checks.
///
/// Whatever decodes must encode to exactly the octets it came from (up to its
/// Length) and decode again to an equal packet; its logical attributes must be
/// readable. A violation panics, which the fuzzer reports.
pub fn decode_packet(data: &[u8]) {
    let input = Bytes::copy_from_slice(data);
    let Ok(packet) = Packet::decode(input) else {
        return;
    };
    let encoded = match packet.encode() {
        Ok(e) => e,
        Err(e) => panic!("decoded packet does not encode: {e}"),
    };
    assert_eq!(
        encoded.as_ref(),
        &data[..encoded.len()],
        "encoding is not the received octets"
    );
    match Packet::decode(encoded) {
        Ok(again) => assert_eq!(again, packet, "re-decoded packet differs"),
        Err(e) => panic!("encoded packet does not decode: {e}"),
    }
    for (_id, _value) in packet.logical_attributes() {}
}

/// Decode arbitrary bytes as a RADIUS packet and run every authenticator check.
/// Nothing here may panic, whatever the input.
pub fn decode_and_verify(data: &[u8]) {
    let Ok(packet) = Packet::decode(Bytes::copy_from_slice(data)) else {
        return;
    };
    let policies = [
        VerifyPolicy::default(),
        VerifyPolicy {
            require_message_authenticator: true,
            limit_proxy_state: true,
        },
    ];
    for policy in &policies {
        let _ = verify_request(&packet, FUZZ_SECRET, policy);
        let _ = verify_response(&packet, &[0u8; 16], FUZZ_SECRET, policy);
        let _ = verify_response(&packet, &packet.authenticator, FUZZ_SECRET, policy);
    }
    for a in packet.all(USER_PASSWORD) {
        let _ = reveal_user_password(&a.value, FUZZ_SECRET, &packet.authenticator);
    }
    for a in packet.all(TUNNEL_PASSWORD) {
        let _ = reveal_tunnel_password(&a.value, FUZZ_SECRET, &packet.authenticator);
    }
    for (_id, _value) in packet.logical_attributes() {}
}

/// Frame a whole input, returning the packets and the error that stopped it.
fn frame(chunks: &mut dyn Iterator<Item = &[u8]>) -> (Vec<Bytes>, Option<FramingError>) {
    let mut decoder = StreamDecoder::new();
    let mut packets = Vec::new();
    for chunk in chunks {
        decoder.push(chunk);
        loop {
            match decoder.next_packet() {
                Ok(Some(p)) => packets.push(p),
                Ok(None) => break,
                Err(e) => return (packets, Some(e)),
            }
        }
    }
    (packets, None)
}

/// Feed arbitrary bytes, in arbitrary splits, through the stream framer.
///
/// The first octet picks the split pattern: chunk sizes cycle through the next
/// few octets of the input (each taken modulo a small bound, zero-length chunks
/// included). The framed packets and any error must equal framing the
/// unsplit remainder in one push.
pub fn stream_framing(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let pattern_len = usize::from(selector % 8) + 1;
    let (pattern, stream) = rest.split_at(pattern_len.min(rest.len()));
    let sizes: Vec<usize> = if pattern.is_empty() {
        vec![1]
    } else {
        pattern.iter().map(|b| usize::from(b % 64)).collect()
    };
    let whole = frame(&mut std::iter::once(stream));
    let mut pieces = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < stream.len() {
        let size = sizes[i % sizes.len()];
        let end = (pos + size).min(stream.len());
        pieces.push(&stream[pos..end]);
        pos = end;
        i += 1;
        // A run of zero sizes must not loop forever.
        if i > stream.len() * 2 + sizes.len() {
            pieces.push(&stream[pos..]);
            break;
        }
    }
    let split = frame(&mut pieces.into_iter());
    assert_eq!(split, whole, "framing depends on how the stream was split");
    for p in &whole.0 {
        let _ = Packet::decode(p.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_accept_odd_inputs() {
        for input in [
            &[][..],
            &[0],
            &[1, 0, 0, 20],
            &[0xFF; 64],
            &[3, 1, 2, 3, 1, 0, 0, 20],
        ] {
            decode_packet(input);
            decode_and_verify(input);
            stream_framing(input);
        }
    }
}
