//! Property tests of the RADIUS codec: canonical round trips, no panics on any
//! input, split-independent stream framing, logical-attribute round trips, and
//! that signing is verified and any single bit flip is caught.

use boomerang_core::fuzzing::radius as fuzz;
use boomerang_core::radius::attr::RawAttribute;
use boomerang_core::radius::auth::{
    SignOptions, VerifyPolicy, sign_request, sign_response, verify_request, verify_response,
};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::framing::StreamDecoder;
use boomerang_core::radius::id::AttrId;
use boomerang_core::radius::packet::Packet;
use boomerang_core::radius::password::{
    hide_tunnel_password, hide_user_password, reveal_tunnel_password, reveal_user_password,
};
use boomerang_core::rng::SplitMix64;
use bytes::Bytes;
use proptest::prelude::*;

fn attribute() -> impl Strategy<Value = RawAttribute> {
    (any::<u8>(), prop::collection::vec(any::<u8>(), 0..=253))
        .prop_map(|(t, v)| RawAttribute::new(t, v))
}

fn small_attribute() -> impl Strategy<Value = RawAttribute> {
    (any::<u8>(), prop::collection::vec(any::<u8>(), 0..=40))
        .prop_map(|(t, v)| RawAttribute::new(t, v))
}

/// Arbitrary packets that fit in 4096 octets (15 * 255 + 20 < 4096).
fn packet() -> impl Strategy<Value = Packet> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<[u8; 16]>(),
        prop::collection::vec(attribute(), 0..15),
    )
        .prop_map(|(c, id, auth, attrs)| Packet {
            code: Code::from_u8(c),
            identifier: id,
            authenticator: auth,
            attributes: attrs,
        })
}

fn small_packet() -> impl Strategy<Value = Packet> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<[u8; 16]>(),
        prop::collection::vec(small_attribute(), 0..6),
    )
        .prop_map(|(c, id, auth, attrs)| Packet {
            code: Code::from_u8(c),
            identifier: id,
            authenticator: auth,
            attributes: attrs,
        })
}

fn frame_all(chunks: &[&[u8]]) -> Vec<Bytes> {
    let mut d = StreamDecoder::new();
    let mut out = Vec::new();
    for c in chunks {
        d.push(c);
        while let Some(p) = d.next_packet().unwrap() {
            out.push(p);
        }
    }
    assert_eq!(d.buffered(), 0);
    out
}

/// Logical attributes whose identity survives a write and read unchanged.
fn logical() -> impl Strategy<Value = (AttrId, Vec<u8>)> {
    let standard = (1u8..=255)
        .prop_filter("not a container type", |t| {
            *t != 26 && !(241..=246).contains(t)
        })
        .prop_flat_map(|t| {
            prop::collection::vec(any::<u8>(), 0..=253).prop_map(move |v| (AttrId::Standard(t), v))
        });
    let vendor = (
        0u32..=0x00FF_FFFF,
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..=247),
    )
        .prop_map(|(vendor, typ, v)| {
            (
                AttrId::Vendor {
                    vendor,
                    typ: u32::from(typ),
                },
                v,
            )
        });
    let ext_type = any::<u8>().prop_filter("not EVS", |e| *e != 26);
    let short_ext = (
        241u8..=244,
        ext_type.clone(),
        prop::collection::vec(any::<u8>(), 0..=252),
    )
        .prop_map(|(base, ext, v)| (AttrId::Extended { base, ext }, v));
    let long_ext = (
        245u8..=246,
        ext_type,
        prop::collection::vec(any::<u8>(), 0..=900),
    )
        .prop_map(|(base, ext, v)| (AttrId::Extended { base, ext }, v));
    let evs_short = (
        241u8..=244,
        0u32..=0x00FF_FFFF,
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..=247),
    )
        .prop_map(|(base, vendor, typ, v)| (AttrId::ExtendedVendor { base, vendor, typ }, v));
    let evs_long = (
        245u8..=246,
        0u32..=0x00FF_FFFF,
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..=700),
    )
        .prop_map(|(base, vendor, typ, v)| (AttrId::ExtendedVendor { base, vendor, typ }, v));
    prop_oneof![standard, vendor, short_ext, long_ext, evs_short, evs_long]
}

fn request_code() -> impl Strategy<Value = Code> {
    prop::sample::select(vec![
        Code::AccessRequest,
        Code::StatusServer,
        Code::AccountingRequest,
        Code::CoaRequest,
        Code::DisconnectRequest,
    ])
}

/// Every bit flip of `wire` must either fail to decode or fail `check`.
fn every_flip_fails(wire: &Bytes, check: impl Fn(&Packet) -> bool) -> Result<(), TestCaseError> {
    for bit in 0..wire.len() * 8 {
        let mut m = wire.to_vec();
        m[bit / 8] ^= 1 << (bit % 8);
        if let Ok(p) = Packet::decode(Bytes::from(m)) {
            prop_assert!(!check(&p), "bit {bit} flipped and still verified");
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn encode_decode_encode_is_identity(p in packet()) {
        let wire = p.encode().unwrap();
        prop_assert_eq!(wire.len(), p.encoded_len());
        let back = Packet::decode(wire.clone()).unwrap();
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(back.encode().unwrap(), wire);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        fuzz::decode_packet(&data);
        fuzz::decode_and_verify(&data);
        fuzz::stream_framing(&data);
    }

    #[test]
    fn header_shaped_bytes_never_panic(
        code in any::<u8>(), len in 0u16..400, body in prop::collection::vec(any::<u8>(), 0..400)
    ) {
        // Bytes with a plausible header get much further into the decoder.
        let mut data = vec![code, 1];
        data.extend_from_slice(&len.to_be_bytes());
        data.extend_from_slice(&[0; 16]);
        data.extend_from_slice(&body);
        fuzz::decode_packet(&data);
        fuzz::decode_and_verify(&data);
    }

    #[test]
    fn stream_split_at_every_position(ps in prop::collection::vec(small_packet(), 1..4)) {
        let wires: Vec<Bytes> = ps.iter().map(|p| p.encode().unwrap()).collect();
        let stream: Vec<u8> = wires.iter().flat_map(|w| w.iter().copied()).collect();
        for k in 0..=stream.len() {
            let got = frame_all(&[&stream[..k], &stream[k..]]);
            prop_assert_eq!(&got, &wires);
        }
    }

    #[test]
    fn stream_random_splits(
        ps in prop::collection::vec(packet(), 1..4),
        sizes in prop::collection::vec(0usize..300, 1..20),
    ) {
        let wires: Vec<Bytes> = ps.iter().map(|p| p.encode().unwrap()).collect();
        let stream: Vec<u8> = wires.iter().flat_map(|w| w.iter().copied()).collect();
        let mut chunks = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < stream.len() {
            let end = (pos + sizes[i % sizes.len()].max(1)).min(stream.len());
            chunks.push(&stream[pos..end]);
            pos = end;
            i += 1;
        }
        prop_assert_eq!(frame_all(&chunks), wires);
    }

    #[test]
    fn logical_attributes_round_trip(items in prop::collection::vec(logical(), 0..8)) {
        let mut p = Packet::new(Code::CoaRequest, 1);
        for (id, v) in &items {
            p.push_logical(*id, v).unwrap();
        }
        let got: Vec<(AttrId, Vec<u8>)> =
            p.logical_attributes().map(|(i, v)| (i, v.to_vec())).collect();
        prop_assert_eq!(&got, &items);
        // ...and through the wire.
        if let Ok(wire) = p.encode_with_max(65535) {
            let back = Packet::decode_with_max(wire, 65535).unwrap();
            let got: Vec<(AttrId, Vec<u8>)> =
                back.logical_attributes().map(|(i, v)| (i, v.to_vec())).collect();
            prop_assert_eq!(got, items);
        }
    }

    #[test]
    fn signed_requests_verify_and_every_bit_flip_fails(
        code in request_code(),
        id in any::<u8>(),
        attrs in prop::collection::vec(small_attribute(), 0..4),
        secret in prop::collection::vec(any::<u8>(), 1..40),
        seed in any::<u64>(),
    ) {
        let mut p = Packet::new(code, id);
        p.attributes = attrs.into_iter().filter(|a| a.typ != 80).collect();
        let before = p.attributes.clone();
        let wire = sign_request(&mut p, &secret, &mut SplitMix64::new(seed), &SignOptions::default())
            .unwrap();
        // Signing adds a Message-Authenticator in front and touches nothing else
        // (Proxy-State and every other attribute stay verbatim and in order).
        prop_assert_eq!(p.attributes[0].typ, 80);
        prop_assert_eq!(&p.attributes[1..], &before[..]);
        let back = Packet::decode(wire.clone()).unwrap();
        prop_assert_eq!(&back, &p);
        // A random-authenticator request is protected only by its
        // Message-Authenticator: a flip that turns type 80 into another type
        // removes it, which only the BlastRADIUS policy catches. MD5-form
        // requests are caught by their authenticator under the default policy.
        let policy = VerifyPolicy {
            require_message_authenticator: matches!(code, Code::AccessRequest | Code::StatusServer),
            limit_proxy_state: false,
        };
        prop_assert_eq!(verify_request(&back, &secret, &policy), Ok(()));
        every_flip_fails(&wire, |m| verify_request(m, &secret, &policy).is_ok())?;
    }

    #[test]
    fn md5_requests_without_message_authenticator_catch_flips(
        code in prop::sample::select(vec![Code::AccountingRequest, Code::CoaRequest, Code::DisconnectRequest]),
        attrs in prop::collection::vec(small_attribute(), 0..4),
    ) {
        let mut p = Packet::new(code, 3);
        p.attributes = attrs.into_iter().filter(|a| a.typ != 80).collect();
        let opts = SignOptions { add_message_authenticator: false, ..SignOptions::default() };
        let wire = sign_request(&mut p, b"secret", &mut SplitMix64::new(0), &opts).unwrap();
        let policy = VerifyPolicy::default();
        prop_assert_eq!(verify_request(&Packet::decode(wire.clone()).unwrap(), b"secret", &policy), Ok(()));
        every_flip_fails(&wire, |m| verify_request(m, b"secret", &policy).is_ok())?;
    }

    #[test]
    fn signed_responses_verify_and_every_bit_flip_fails(
        request in request_code(),
        nak in any::<bool>(),
        with_ma in any::<bool>(),
        attrs in prop::collection::vec(small_attribute(), 0..4),
        request_auth in any::<[u8; 16]>(),
    ) {
        let code = if nak { request.nak().or(request.ack()) } else { request.ack() }.unwrap();
        let mut p = Packet::new(code, 9);
        p.attributes = attrs.into_iter().filter(|a| a.typ != 80).collect();
        let opts = SignOptions { add_message_authenticator: with_ma, ..SignOptions::default() };
        let wire = sign_response(&mut p, &request_auth, b"secret", &opts).unwrap();
        let policy = VerifyPolicy::default();
        let back = Packet::decode(wire.clone()).unwrap();
        prop_assert_eq!(verify_response(&back, &request_auth, b"secret", &policy), Ok(()));
        every_flip_fails(&wire, |m| verify_response(m, &request_auth, b"secret", &policy).is_ok())?;
        // A different request authenticator never verifies.
        let mut other = request_auth;
        other[0] ^= 1;
        prop_assert!(verify_response(&back, &other, b"secret", &policy).is_err());
    }

    #[test]
    fn passwords_round_trip(
        pw in prop::collection::vec(1u8..=255, 0..=128),
        secret in prop::collection::vec(any::<u8>(), 1..40),
        ra in any::<[u8; 16]>(),
        tag in 0u8..32,
    ) {
        let hidden = hide_user_password(&pw, &secret, &ra).unwrap();
        prop_assert_eq!(reveal_user_password(&hidden, &secret, &ra).unwrap(), pw.clone());
        let t = hide_tunnel_password(tag, &pw, &secret, &ra, &mut SplitMix64::new(1)).unwrap();
        prop_assert_eq!(reveal_tunnel_password(&t, &secret, &ra).unwrap(), (tag, pw));
    }
}
