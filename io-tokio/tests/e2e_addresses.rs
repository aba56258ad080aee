//! Which addresses a server answers from and sees, through the real binary: a UDP
//! server on a wildcard address answers from the address each request was sent to
//! (RADIUS clients match replies on it), a server may list both `ip 0.0.0.0;` and
//! `ip ::;`, and an IPv6 wildcard alone serves IPv4 clients as the IPv4 addresses
//! they are (client lists, `connection.peer_ip`).

mod e2e_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use e2e_support::*;

const SECRET: &str = "trigger";

/// A RadSec server and a UDP server, both listening on `ips` (configuration lines).
fn config(ips: &str, ports: Ports) -> String {
    format!(
        r#"
certificates {{
    x509 "SERVER_CERT" {{ filename "certs/server.pem"; }}
    key "SERVER_KEY" {{ filename "certs/server.key"; }}
    x509 "CLIENT_CA" {{ filename "certs/ca.pem"; }}
}}
clients {{
    radius "NAS_DEVICES" {{ client "LOOPBACK_NAS" {{ source {{ ip 127.0.0.1; ip ::1; }} }} }}
    radius "TRIGGERS" {{ client "LOOPBACK" {{ source {{ ip 127.0.0.0/8; ip ::1; }} secret "{SECRET}"; }} }}
}}
servers {{
    radius "RADSEC_SERVER" {{
        listen {{
            protocol tls;
            port {radsec};
            {ips}
            timeout 0;
            tls {{
                certificate "SERVER_CERT";
                certificate_key "SERVER_KEY";
                client_ca_certificate "CLIENT_CA";
                require_client_certificate true;
            }}
        }}
        clients "NAS_DEVICES";
    }}
    radius "UDP" {{
        listen {{ protocol udp; {ips} port {udp}; }}
        clients "TRIGGERS";
    }}
}}
aaa {{ policy "ACK" {{ handler "H" {{ @execute {{ accept; }} }} }} }}
management {{ listen {{ ip 127.0.0.1; port {management}; }} }}
"#,
        radsec = ports.radsec,
        udp = ports.udp,
        management = ports.management,
    )
}

/// Send an Accounting-Request from `from` to `to`; the Accounting-Response and the
/// address it came from.
fn accounting(from: SocketAddr, to: SocketAddr) -> (Packet, SocketAddr) {
    let socket = UdpSocket::bind(from).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut request = Packet::new(Code::AccountingRequest, 7);
    request.push(1, b"bob".to_vec());
    request.push(40, 1u32.to_be_bytes().to_vec());
    socket
        .send_to(&sign_request(&mut request, SECRET), to)
        .unwrap();
    let mut buf = [0u8; 4096];
    let (n, source) = socket
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no answer from {to}: {e}"));
    let reply = Packet::decode(bytes::Bytes::copy_from_slice(&buf[..n])).unwrap();
    assert_eq!(
        (reply.code, reply.identifier),
        (Code::AccountingResponse, 7)
    );
    (reply, source)
}

/// Whether this machine has IPv6 loopback (a CI container may not).
fn ipv6_loopback() -> bool {
    UdpSocket::bind("[::1]:0").is_ok()
}

/// The management API's view of the one RadSec connection: (peer_ip, server_ip).
fn connection_addresses(server: &Server) -> (String, String) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (status, body) = http(server.management(), "GET", "/api/v1/connections").unwrap();
        assert_eq!(status, 200, "{body}");
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        if let Some(c) = list.as_array().and_then(|a| a.first()) {
            return (
                c["peer_ip"].as_str().unwrap_or_default().to_owned(),
                c["server_ip"].as_str().unwrap_or_default().to_owned(),
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no connection: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_wildcard_udp_server_answers_from_the_address_the_request_was_sent_to() {
    let ports = Ports::pick();
    let server = Server::start(&config("ip 0.0.0.0;", ports), ports);
    let from = SocketAddr::from(([127, 0, 0, 1], 0));
    for to in [[127, 0, 0, 1], [127, 0, 0, 2], [127, 0, 0, 9]] {
        let to = SocketAddr::from((to, ports.udp));
        let (_, source) = accounting(from, to);
        assert_eq!(
            source, to,
            "the answer must come from where the request went"
        );
    }
    // A connection accepted on the wildcard listener reads the address it came to.
    let _nas = server.radsec_connect(Some("nas1")).unwrap();
    assert_eq!(
        connection_addresses(&server),
        ("127.0.0.1".to_owned(), "127.0.0.1".to_owned())
    );
}

#[test]
fn a_server_may_listen_on_both_wildcards_and_serves_each_family() {
    if !ipv6_loopback() {
        eprintln!("no IPv6 loopback here: the dual-stack case is not tested");
        return;
    }
    let ports = Ports::pick();
    // Starts (a dual-stack `::` would clash with 0.0.0.0 at the same port).
    let server = Server::start(&config("ip 0.0.0.0; ip ::;", ports), ports);
    let v4 = SocketAddr::from(([127, 0, 0, 2], ports.udp));
    assert_eq!(accounting("127.0.0.1:0".parse().unwrap(), v4).1, v4);
    let v6: SocketAddr = format!("[::1]:{}", ports.udp).parse().unwrap();
    assert_eq!(accounting("[::1]:0".parse().unwrap(), v6).1, v6);
    let _nas = server.radsec_connect(Some("nas1")).unwrap();
    assert_eq!(connection_addresses(&server).0, "127.0.0.1");
}

#[test]
fn an_ipv6_wildcard_alone_serves_ipv4_clients_as_ipv4_addresses() {
    if !ipv6_loopback() {
        eprintln!("no IPv6 loopback here: the dual-stack case is not tested");
        return;
    }
    let ports = Ports::pick();
    let server = Server::start(&config("ip ::;", ports), ports);
    // The client list names 127.0.0.0/8 only in IPv4 form: an IPv4 trigger is
    // a known client, answered from the address it was sent to.
    let to = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), ports.udp);
    assert_eq!(accounting("127.0.0.1:0".parse().unwrap(), to).1, to);
    // An IPv4 NAS over RadSec is accepted (its client entry is 127.0.0.1), and
    // `connection.peer_ip` / `server_ip` read IPv4, not ::ffff:127.0.0.1.
    let _nas = server.radsec_connect(Some("nas1")).unwrap();
    assert_eq!(
        connection_addresses(&server),
        ("127.0.0.1".to_owned(), "127.0.0.1".to_owned())
    );
}
