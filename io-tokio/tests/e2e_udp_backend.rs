//! A `connect { protocol udp; … }` backend end to end: the real binary proxies (and
//! queries) requests to a UDP upstream — a small RADIUS server written here with the
//! core codec — and relays the answer; an upstream that stays silent ends in
//! `errors.BACKEND_TIMEOUT`, which a `try` turns into an Access-Reject, within the
//! backend's timeout. Every wait is bounded.

mod e2e_support;

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use boomerang_core::radius::auth::{SignOptions, VerifyPolicy, sign_response, verify_request};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::packet::Packet;
use boomerang_core::radius::password::reveal_user_password;
use e2e_support::{BIN, Ports, Server, WAIT, free_tcp_port, free_udp_port, output_bounded};

const USER_NAME: u8 = 1;
const USER_PASSWORD: u8 = 2;
const REPLY_MESSAGE: u8 = 18;
const PROXY_STATE: u8 = 33;
const UPSTREAM_SECRET: &[u8] = b"upstream-secret";

/// A UDP RADIUS server on 127.0.0.1: it checks each request's authenticator with
/// [`UPSTREAM_SECRET`] and answers Access-Accept with `Reply-Message = "hello
/// <User-Name> <password>"`, or stays silent when `silent`. It keeps what it received.
struct Upstream {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Packet>>,
}

impl Upstream {
    fn start(silent: bool) -> Upstream {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut received = Vec::new();
            let mut buf = [0u8; 4096];
            let start = std::time::Instant::now();
            while !stopped.load(Ordering::SeqCst) && start.elapsed() < WAIT * 3 {
                let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let request = Packet::decode(buf[..n].to_vec().into()).unwrap();
                received.push(request.clone());
                if silent {
                    continue;
                }
                verify_request(&request, UPSTREAM_SECRET, &VerifyPolicy::default())
                    .expect("the request is signed with the upstream's secret");
                let user = text(&request, USER_NAME).unwrap_or_default();
                let password = request
                    .first_value(USER_PASSWORD)
                    .map(|hidden| {
                        let clear =
                            reveal_user_password(hidden, UPSTREAM_SECRET, &request.authenticator)
                                .unwrap();
                        String::from_utf8(clear.to_vec()).unwrap()
                    })
                    .unwrap_or_default();
                let mut reply = request.new_reply(Code::AccessAccept);
                reply.push(
                    REPLY_MESSAGE,
                    format!("hello {user} {password}").into_bytes(),
                );
                let wire = sign_response(
                    &mut reply,
                    &request.authenticator,
                    UPSTREAM_SECRET,
                    &SignOptions::default(),
                )
                .unwrap();
                socket.send_to(&wire, peer).unwrap();
            }
            received
        });
        Upstream { port, stop, thread }
    }

    fn finish(self) -> Vec<Packet> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

fn text(packet: &Packet, typ: u8) -> Option<String> {
    packet
        .first_value(typ)
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
}

/// Three UDP servers, each pinned to a policy by a condition on `radius.server`:
/// PROXY_IN proxies to UPSTREAM, QUERY_IN queries it, SILENT_IN proxies (inside a
/// `try`) to SILENT, whose upstream never answers, or for User-Name `retry` to
/// RETRYING, the same silent upstream with `retries 2`.
fn config(ports: &ServerPorts, upstream: u16, silent: u16) -> String {
    let ServerPorts {
        proxy,
        query,
        silent_in,
        management,
    } = ports;
    format!(
        r#"
clients {{
    radius "LOCAL" {{
        client "LOCALHOST" {{ source {{ ip 127.0.0.1; }} secret "client-secret"; }}
    }}
}}
servers {{
    radius "PROXY_IN" {{ listen {{ protocol udp; port {proxy}; ip 127.0.0.1; }} clients "LOCAL"; }}
    radius "QUERY_IN" {{ listen {{ protocol udp; port {query}; ip 127.0.0.1; }} clients "LOCAL"; }}
    radius "SILENT_IN" {{ listen {{ protocol udp; port {silent_in}; ip 127.0.0.1; }} clients "LOCAL"; }}
}}
management {{
    listen {{ ip 127.0.0.1; port {management}; }}
}}
backends {{
    radius "UPSTREAM" {{
        server "U1" {{
            secret "upstream-secret";
            timeout 3s;
            connect {{ protocol udp; ip 127.0.0.1; port {upstream}; }}
        }}
        query "AUTH" {{
            bindings {{
                radius.request.code = radius.ACCESS_REQUEST;
                radius.request.attr.User-Name = "%{{radius.request.attr.User-Name}}-q";
                radius.request.attr.User-Password = "query-password";
            }}
            mapping {{
                vars.upstream_says = radius.reply.attr.Reply-Message;
                radius.reply.attr.Reply-Message = "upstream: %{{vars.upstream_says}}";
            }}
        }}
    }}
    radius "SILENT" {{
        server "S1" {{
            secret "upstream-secret";
            timeout 1s;
            retries 0;
            connect {{ protocol udp; ip 127.0.0.1; port {silent}; }}
        }}
    }}
    radius "RETRYING" {{
        server "R1" {{
            secret "upstream-secret";
            timeout 1500ms;
            retries 2;
            connect {{ protocol udp; ip 127.0.0.1; port {silent}; }}
        }}
    }}
}}
aaa {{
    policy "PROXY" {{
        conditions all {{ radius.server == "PROXY_IN"; }}
        handler "H" {{ @execute {{ backend "UPSTREAM"; }} }}
    }}
    policy "QUERY" {{
        conditions all {{ radius.server == "QUERY_IN"; }}
        handler "H" {{ @execute {{ backend {{ name "UPSTREAM"; query "AUTH"; }} }} }}
    }}
    policy "RETRYING" {{
        conditions all {{ radius.server == "SILENT_IN"; radius.request.attr.User-Name == "retry"; }}
        handler "H" {{
            @execute {{
                try {{
                    backend "RETRYING";
                }} catch {{
                    reject "retried: %{{aaa.caught_error.code}}";
                }}
            }}
        }}
    }}
    policy "SILENT" {{
        conditions all {{ radius.server == "SILENT_IN"; }}
        handler "H" {{
            @execute {{
                try {{
                    backend "SILENT";
                }} catch {{
                    reject "upstream failed: %{{aaa.caught_error.code}}";
                }}
            }}
        }}
    }}
}}
"#
    )
}

struct ServerPorts {
    proxy: u16,
    query: u16,
    silent_in: u16,
    management: u16,
}

fn start(upstream: u16, silent: u16) -> (Server, ServerPorts) {
    let ports = ServerPorts {
        proxy: free_udp_port(),
        query: free_udp_port(),
        silent_in: free_udp_port(),
        management: free_tcp_port(),
    };
    let harness = Ports {
        radsec: 0,
        udp: ports.proxy,
        http: 0,
        management: ports.management,
    };
    let server = Server::start(&config(&ports, upstream, silent), harness);
    (server, ports)
}

/// `boomerang client` sends one Access-Request to `port` (waiting up to `timeout`
/// for the answer); its exit code and stdout.
fn ask(port: u16, timeout: &str, attrs: &[&str]) -> (Option<i32>, String) {
    let child = Command::new(BIN)
        .args(["client", "--server", &format!("127.0.0.1:{port}")])
        .args([
            "--secret",
            "client-secret",
            "--timeout",
            timeout,
            "--retries",
            "0",
        ])
        .arg("access-request")
        .args(attrs)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = output_bounded(child, WAIT);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn proxy_mode_relays_the_upstream_answer_over_udp() {
    let upstream = Upstream::start(false);
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (server, ports) = start(upstream.port, silent.local_addr().unwrap().port());

    let (code, out) = ask(
        ports.proxy,
        "10s",
        &[
            "User-Name=bob",
            "User-Password=secret-pw",
            "Proxy-State=0x6162",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"Access-Accept"), "{out}");
    // The password reached the upstream re-hidden with its secret, and came back.
    assert!(
        out.contains("Reply-Message = \"hello bob secret-pw\""),
        "{out}"
    );
    assert_eq!(
        out.matches("Proxy-State = 0x6162").count(),
        1,
        "the client's Proxy-State is echoed once:\n{out}"
    );

    let (code, out) = ask(ports.proxy, "10s", &["User-Name=carol"]);
    assert_eq!(
        code,
        Some(0),
        "a second request over the same socket: {out}"
    );
    assert!(out.contains("Reply-Message = \"hello carol \""), "{out}");

    drop(server);
    let received = upstream.finish();
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[0].code, Code::AccessRequest);
    assert_eq!(text(&received[0], USER_NAME).as_deref(), Some("bob"));
    assert_ne!(
        received[0].first_value(USER_PASSWORD).unwrap().as_ref(),
        b"secret-pw",
        "the password is hidden on the wire"
    );
    assert!(
        received[0]
            .attributes
            .iter()
            .any(|a| a.typ == PROXY_STATE && a.value.as_ref() == b"ab"),
        "the client's Proxy-State is forwarded"
    );
}

#[test]
fn query_mode_builds_a_request_and_maps_the_reply() {
    let upstream = Upstream::start(false);
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (server, ports) = start(upstream.port, silent.local_addr().unwrap().port());

    let (code, out) = ask(ports.query, "10s", &["User-Name=alice", "User-Password=x"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("Access-Accept"), "{out}");
    assert!(
        out.contains("Reply-Message = \"upstream: hello alice-q query-password\""),
        "{out}"
    );
    drop(server);
    let received = upstream.finish();
    assert_eq!(received.len(), 1);
    assert_eq!(text(&received[0], USER_NAME).as_deref(), Some("alice-q"));
}

#[test]
fn a_silent_upstream_times_out_into_the_caught_error() {
    let upstream = Upstream::start(false);
    let silent = Upstream::start(true);
    let (server, ports) = start(upstream.port, silent.port);

    // The backend's timeout is 1 s; the client waits up to 10 s: the reject is the
    // daemon's answer, not the client giving up.
    let (code, out) = ask(ports.silent_in, "10s", &["User-Name=dave"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.starts_with("Access-Reject"), "{out}");
    assert!(
        out.contains("Reply-Message = \"upstream failed: BACKEND_TIMEOUT\""),
        "{out}"
    );
    // The other backend is unaffected.
    let (code, out) = ask(ports.proxy, "10s", &["User-Name=erin"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("hello erin"), "{out}");

    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    let to_silent = silent.finish();
    assert_eq!(to_silent.len(), 1, "retries 0: one datagram");
    assert_eq!(text(&to_silent[0], USER_NAME).as_deref(), Some("dave"));
    upstream.finish();
}

#[test]
fn concurrent_requests_share_the_backend_socket_and_each_gets_its_own_answer() {
    let upstream = Upstream::start(false);
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (server, ports) = start(upstream.port, silent.local_addr().unwrap().port());
    let port = ports.proxy;
    let clients: Vec<_> = (0..12)
        .map(|i| std::thread::spawn(move || ask(port, "10s", &[&format!("User-Name=user{i}")])))
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        let (code, out) = client.join().unwrap();
        assert_eq!(code, Some(0), "user{i}: {out}");
        assert!(
            out.contains(&format!("Reply-Message = \"hello user{i} \"")),
            "user{i} got another's answer:\n{out}"
        );
    }
    drop(server);
    assert_eq!(upstream.finish().len(), 12);
}

#[test]
fn an_answer_signed_with_another_secret_is_not_taken() {
    // The upstream signs with a secret the daemon does not know: the answer is dropped
    // and the request ends in the timeout, caught as for a silent upstream.
    let forger = UdpSocket::bind("127.0.0.1:0").unwrap();
    forger
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let forger_port = forger.local_addr().unwrap().port();
    let upstream = Upstream::start(false);
    let (server, ports) = start(upstream.port, forger_port);
    let responder = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let deadline = std::time::Instant::now() + WAIT;
        while std::time::Instant::now() < deadline {
            let Ok((n, peer)) = forger.recv_from(&mut buf) else {
                continue;
            };
            let request = Packet::decode(buf[..n].to_vec().into()).unwrap();
            let mut reply = request.new_reply(Code::AccessAccept);
            let wire = sign_response(
                &mut reply,
                &request.authenticator,
                b"not-the-secret",
                &SignOptions::default(),
            )
            .unwrap();
            forger.send_to(&wire, peer).unwrap();
            return true;
        }
        false
    });
    let (code, out) = ask(ports.silent_in, "10s", &["User-Name=frank"]);
    assert!(
        responder.join().unwrap(),
        "the request reached the upstream"
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("Reply-Message = \"upstream failed: BACKEND_TIMEOUT\""),
        "{out}"
    );
    drop(server);
    upstream.finish();
}

#[test]
fn a_udp_request_is_retransmitted_unchanged_then_times_out() {
    let upstream = Upstream::start(false);
    let silent = Upstream::start(true);
    let (server, ports) = start(upstream.port, silent.port);
    let (code, out) = ask(ports.silent_in, "10s", &["User-Name=retry"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("Reply-Message = \"retried: BACKEND_TIMEOUT\""),
        "{out}"
    );
    drop(server);
    let sent = silent.finish();
    assert_eq!(
        sent.len(),
        3,
        "one send and `retries 2` retransmissions: {sent:?}"
    );
    for again in &sent[1..] {
        assert_eq!(again.identifier, sent[0].identifier);
        assert_eq!(again.authenticator, sent[0].authenticator);
        assert_eq!(again.attributes, sent[0].attributes);
    }
    upstream.finish();
}
