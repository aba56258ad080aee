//! Codec benchmarks: decode and verify, encode and sign, on a typical ~200-octet
//! CoA-Request (User-Name, Acct-Session-Id, NAS-IP-Address, Framed-IP-Address,
//! Event-Timestamp, a Cisco-AVPair VSA, Message-Authenticator).

use std::hint::black_box;

use boomerang_core::radius::attr::{
    ACCT_SESSION_ID, EVENT_TIMESTAMP, FRAMED_IP_ADDRESS, NAS_IP_ADDRESS, USER_NAME,
};
use boomerang_core::radius::auth::{
    SignOptions, VerifyPolicy, sign_request, sign_response, verify_request, verify_response,
};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::framing::StreamDecoder;
use boomerang_core::radius::id::AttrId;
use boomerang_core::radius::packet::Packet;
use boomerang_core::rng::SplitMix64;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SECRET: &[u8] = b"a-32-octet-shared-secret-for-nas";

fn coa_template() -> Packet {
    let mut p = Packet::new(Code::CoaRequest, 17);
    p.push(USER_NAME, "subscriber-000123@isp.example");
    p.push(ACCT_SESSION_ID, "0A0B0C0D-00001F2E-5F3A");
    p.push(NAS_IP_ADDRESS, vec![192, 0, 2, 10]);
    p.push(FRAMED_IP_ADDRESS, vec![100, 64, 12, 34]);
    p.push(EVENT_TIMESTAMP, 1_700_000_000u32.to_be_bytes().to_vec());
    p.push_logical(
        AttrId::Vendor { vendor: 9, typ: 1 },
        b"subscriber:sub-qos-policy-out=QOS-GOLD-100M;subscriber:command=reauthenticate",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    p
}

fn benches(c: &mut Criterion) {
    let template = coa_template();
    let mut rng = SplitMix64::new(1);
    let mut signed = template.clone();
    let wire = sign_request(&mut signed, SECRET, &mut rng, &SignOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let policy = VerifyPolicy {
        require_message_authenticator: true,
        limit_proxy_state: true,
    };

    let mut g = c.benchmark_group("coa_request");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function(format!("decode/{}B", wire.len()), |b| {
        b.iter(|| Packet::decode(black_box(wire.clone())))
    });
    g.bench_function(format!("decode_verify/{}B", wire.len()), |b| {
        b.iter(|| {
            let p = Packet::decode(black_box(wire.clone())).unwrap_or_else(|e| panic!("{e}"));
            verify_request(&p, SECRET, &policy)
        })
    });
    g.bench_function(format!("encode_sign/{}B", wire.len()), |b| {
        b.iter(|| {
            let mut p = black_box(&template).clone();
            sign_request(&mut p, SECRET, &mut rng, &SignOptions::default())
        })
    });
    let mut ack = signed.new_reply(Code::CoaAck);
    let ack_wire = sign_response(
        &mut ack,
        &signed.authenticator,
        SECRET,
        &SignOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    g.bench_function("ack_sign", |b| {
        b.iter(|| {
            let mut r = signed.new_reply(Code::CoaAck);
            sign_response(
                &mut r,
                black_box(&signed.authenticator),
                SECRET,
                &SignOptions::default(),
            )
        })
    });
    g.bench_function("ack_decode_verify", |b| {
        b.iter(|| {
            let p = Packet::decode(black_box(ack_wire.clone())).unwrap_or_else(|e| panic!("{e}"));
            verify_response(&p, &signed.authenticator, SECRET, &policy)
        })
    });
    g.finish();

    let stream: Vec<u8> = std::iter::repeat_n(wire.as_ref(), 100)
        .flatten()
        .copied()
        .collect();
    let mut g = c.benchmark_group("stream");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("frame_100_packets_in_1400B_reads", |b| {
        b.iter(|| {
            let mut d = StreamDecoder::new();
            let mut n = 0;
            for chunk in black_box(&stream).chunks(1400) {
                d.push(chunk);
                while let Ok(Some(_)) = d.next_packet() {
                    n += 1;
                }
            }
            n
        })
    });
    g.finish();
}

criterion_group!(codec, benches);
criterion_main!(codec);
