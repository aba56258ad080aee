//! End-to-end tests of `boomerang client`: the real binary as a child process, against
//! small RADIUS servers written here with the core codec, over real sockets on 127.0.0.1.
//! Every wait is bounded so that a bug fails the test instead of hanging the suite.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use boomerang_core::radius::attr::{
    ACCT_SESSION_ID, ERROR_CAUSE, EVENT_TIMESTAMP, MESSAGE_AUTHENTICATOR, USER_NAME, USER_PASSWORD,
};
use boomerang_core::radius::auth::{
    SignOptions, VerifyPolicy, sign_request, sign_response, verify_request, verify_response,
};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::framing::StreamDecoder;
use boomerang_core::radius::packet::Packet;
use boomerang_core::radius::password::reveal_user_password;
use boomerang_core::rng::SplitMix64;
use boomerang_io_tokio::pki::{ClientSpec, DevPki};
use boomerang_io_tokio::tls::{ServerTlsSettings, accept, acceptor};
use serde_json::Value as Json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// Bound on every wait in these tests.
const BOUND: Duration = Duration::from_secs(30);
const BIN: &str = env!("CARGO_BIN_EXE_boomerang");
/// NAS-Identifier (32).
const NAS_IDENTIFIER: u8 = 32;
/// Acct-Status-Type (40).
const ACCT_STATUS_TYPE: u8 = 40;

// ----- running the binary -------------------------------------------------------------

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn spawn_client(args: &[&str], stdin: Option<&str>) -> Child {
    let mut child = Command::new(BIN)
        .arg("client")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start boomerang");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).unwrap();
    }
    child
}

/// Waits for the child (killing it after [`BOUND`]) and collects its output.
fn finish(mut child: Child) -> Output {
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > BOUND {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "boomerang client did not exit within {BOUND:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    Output {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn run_client(args: &[&str], stdin: Option<&str>) -> Output {
    finish(spawn_client(args, stdin))
}

async fn finish_async(child: Child) -> Output {
    tokio::task::spawn_blocking(move || finish(child))
        .await
        .unwrap()
}

// ----- a tiny UDP RADIUS server ---------------------------------------------------------

/// What the UDP server does with a request.
enum Reply {
    /// Stay silent.
    Nothing,
    /// Sign and send this reply.
    Send(Packet),
    /// Sign and send this reply with its Response Authenticator damaged.
    Corrupt(Packet),
}

struct UdpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(Packet, Vec<u8>)>>,
}

impl UdpServer {
    /// Starts a server on 127.0.0.1 answering with `respond`, signing with `secret`.
    fn start(
        secret: &'static [u8],
        mut respond: impl FnMut(&Packet) -> Reply + Send + 'static,
    ) -> UdpServer {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut received = Vec::new();
            let mut buf = [0u8; 4096];
            let start = Instant::now();
            while start.elapsed() < BOUND {
                let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                    // Stop only once nothing is left to read.
                    if stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    continue;
                };
                let raw = buf[..n].to_vec();
                let request =
                    Packet::decode(raw.clone().into()).expect("client sends valid packets");
                let (mut reply, corrupt) = match respond(&request) {
                    Reply::Nothing => {
                        received.push((request, raw));
                        continue;
                    }
                    Reply::Send(p) => (p, false),
                    Reply::Corrupt(p) => (p, true),
                };
                let mut wire = sign_response(
                    &mut reply,
                    &request.authenticator,
                    secret,
                    &SignOptions::default(),
                )
                .unwrap()
                .to_vec();
                if corrupt {
                    wire[4] ^= 0x01;
                }
                socket.send_to(&wire, peer).unwrap();
                received.push((request, raw));
            }
            received
        });
        UdpServer { addr, stop, thread }
    }

    fn server_arg(&self) -> String {
        self.addr.to_string()
    }

    /// Stops the server and returns every request it received, with its octets.
    fn finish(self) -> Vec<(Packet, Vec<u8>)> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

fn text_of(packet: &Packet, typ: u8) -> Option<String> {
    packet
        .first_value(typ)
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
}

fn lines(stdout: &str) -> Vec<&str> {
    stdout.lines().collect()
}

// ----- one request over UDP -------------------------------------------------------------

#[test]
fn access_request_carries_a_hidden_password_and_accept_exits_0() {
    let server = UdpServer::start(b"s3cret", |req| {
        let mut reply = req.new_reply(Code::AccessAccept);
        reply.push(18, "welcome \"alice\"");
        reply.push(8, vec![192, 0, 2, 10]);
        reply.push(6, vec![0, 0, 0, 2]); // Service-Type = Framed-User
        Reply::Send(reply)
    });
    let out = run_client(
        &[
            "--server",
            &server.server_arg(),
            "--secret",
            "s3cret",
            "access-request",
            "User-Name=alice",
            "User-Password=correct horse",
        ],
        None,
    );
    let received = server.finish();
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let printed = lines(&out.stdout);
    assert_eq!(printed.len(), 5, "{}", out.stdout);
    assert_eq!(printed[0], "Access-Accept");
    // Message-Authenticator first, where the server's signing put it.
    assert!(
        printed[1].starts_with("Message-Authenticator = 0x"),
        "{}",
        printed[1]
    );
    assert_eq!(
        printed[2..],
        [
            "Reply-Message = \"welcome \\\"alice\\\"\"",
            "Framed-IP-Address = 192.0.2.10",
            "Service-Type = Framed-User",
        ]
    );

    assert_eq!(received.len(), 1);
    let request = &received[0].0;
    assert_eq!(request.code, Code::AccessRequest);
    assert_eq!(request.attributes[0].typ, MESSAGE_AUTHENTICATOR);
    verify_request(request, b"s3cret", &VerifyPolicy::default()).unwrap();
    assert_eq!(text_of(request, USER_NAME).as_deref(), Some("alice"));
    let hidden = request.first_value(USER_PASSWORD).unwrap();
    assert_ne!(hidden.as_ref(), b"correct horse", "the password is hidden");
    let clear = reveal_user_password(hidden, b"s3cret", &request.authenticator).unwrap();
    assert_eq!(clear, b"correct horse");
}

#[test]
fn access_reject_exits_1() {
    let server = UdpServer::start(b"s3cret", |req| {
        let mut reply = req.new_reply(Code::AccessReject);
        reply.push(18, "no");
        Reply::Send(reply)
    });
    let out = run_client(
        &[
            "--server",
            &server.server_arg(),
            "--secret",
            "s3cret",
            "auth",
            "User-Name=alice",
            "User-Password=wrong",
        ],
        None,
    );
    server.finish();
    assert_eq!(out.code, 1, "stderr: {}", out.stderr);
    assert_eq!(lines(&out.stdout)[0], "Access-Reject");
    assert!(
        out.stdout.contains("Reply-Message = \"no\"\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn silence_exits_2_after_identical_retransmissions() {
    let server = UdpServer::start(b"s3cret", |_| Reply::Nothing);
    let out = run_client(
        &[
            "--server",
            &server.server_arg(),
            "--secret",
            "s3cret",
            "--timeout",
            "300ms",
            "--retries",
            "2",
            "access-request",
            "User-Name=alice",
            "User-Password=pw",
        ],
        None,
    );
    let received = server.finish();
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.stderr.contains("no reply from") && out.stderr.contains("after 3 attempt(s)"),
        "{}",
        out.stderr
    );
    assert_eq!(received.len(), 3, "one send and two retransmissions");
    let (first, first_raw) = &received[0];
    for (p, raw) in &received[1..] {
        assert_eq!(p.identifier, first.identifier);
        assert_eq!(p.authenticator, first.authenticator);
        assert_eq!(raw, first_raw, "a retransmission is the same octets");
    }
}

#[test]
fn reply_with_a_bad_authenticator_exits_2() {
    let server = UdpServer::start(b"s3cret", |req| {
        Reply::Corrupt(req.new_reply(Code::AccessAccept))
    });
    let out = run_client(
        &[
            "--server",
            &server.server_arg(),
            "--secret",
            "s3cret",
            "access-request",
            "User-Name=alice",
        ],
        None,
    );
    server.finish();
    assert_eq!(out.code, 2, "stdout: {}", out.stdout);
    assert!(
        out.stdout.is_empty(),
        "a bad reply is not printed: {}",
        out.stdout
    );
    assert!(
        out.stderr.contains("invalid reply (Access-Accept)")
            && out.stderr.contains("Response Authenticator"),
        "{}",
        out.stderr
    );
}

#[test]
fn reply_signed_with_another_secret_exits_2() {
    let server = UdpServer::start(b"not-the-secret", |req| {
        Reply::Send(req.new_reply(Code::DisconnectAck))
    });
    let out = run_client(
        &[
            "--server",
            &server.server_arg(),
            "--secret",
            "s3cret",
            "disconnect-request",
            "User-Name=alice",
        ],
        None,
    );
    server.finish();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("Message-Authenticator"),
        "{}",
        out.stderr
    );
}

#[test]
fn disconnect_request_with_attributes_is_acknowledged() {
    let server = UdpServer::start(b"s3cret", |req| {
        assert_eq!(req.code, Code::DisconnectRequest);
        Reply::Send(req.new_reply(Code::DisconnectAck))
    });
    let out = run_client(
        &[
            "--server",
            &server.server_arg(),
            "--secret",
            "s3cret",
            "disconnect-request",
            "user-name=alice",
            "Acct-Session-Id=5A3F0001",
            "NAS-IP-Address=192.0.2.1",
        ],
        None,
    );
    let received = server.finish();
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert_eq!(lines(&out.stdout)[0], "Disconnect-ACK");

    let request = &received[0].0;
    verify_request(request, b"s3cret", &VerifyPolicy::default()).unwrap();
    assert!(request.contains(MESSAGE_AUTHENTICATOR));
    assert_eq!(text_of(request, USER_NAME).as_deref(), Some("alice"));
    assert_eq!(
        text_of(request, ACCT_SESSION_ID).as_deref(),
        Some("5A3F0001")
    );
    assert_eq!(request.first_value(4).unwrap().as_ref(), [192, 0, 2, 1]);
    let ts = request
        .first_value(EVENT_TIMESTAMP)
        .expect("Event-Timestamp added");
    let ts = u32::from_be_bytes(ts.as_ref().try_into().unwrap());
    assert!(ts > 1_600_000_000, "a current time: {ts}");
}

#[test]
fn no_event_timestamp_leaves_it_out() {
    let server = UdpServer::start(b"s3cret", |req| Reply::Send(req.new_reply(Code::CoaAck)));
    let out = run_client(
        &[
            "--server",
            &server.server_arg(),
            "--secret",
            "s3cret",
            "--no-event-timestamp",
            "CoA-Request",
            "User-Name=alice",
            "Session-Timeout=3600",
        ],
        None,
    );
    let received = server.finish();
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert_eq!(lines(&out.stdout)[0], "CoA-ACK");
    assert!(!received[0].0.contains(EVENT_TIMESTAMP));
    assert_eq!(
        received[0].0.first_value(27).unwrap().as_ref(),
        [0, 0, 0x0e, 0x10]
    );
}

fn nak_503(req: &Packet) -> Reply {
    let mut reply = req.new_reply(Code::DisconnectNak);
    reply.push(ERROR_CAUSE, 503u32.to_be_bytes().to_vec());
    Reply::Send(reply)
}

#[test]
fn disconnect_nak_exits_1_and_prints_the_error_cause() {
    let server = UdpServer::start(b"s3cret", nak_503);
    let out = run_client(
        &[
            "--server",
            &server.server_arg(),
            "--secret",
            "s3cret",
            "disconnect-request",
            "User-Name=alice",
        ],
        None,
    );
    server.finish();
    assert_eq!(out.code, 1, "stderr: {}", out.stderr);
    assert_eq!(lines(&out.stdout)[0], "Disconnect-NAK");
    assert!(
        out.stdout
            .contains("Error-Cause = Session-Context-Not-Found\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn json_output_names_code_and_attributes() {
    let server = UdpServer::start(b"s3cret", nak_503);
    let out = run_client(
        &[
            "--server",
            &server.server_arg(),
            "--secret",
            "s3cret",
            "--json",
            "40",
            "User-Name=alice",
        ],
        None,
    );
    server.finish();
    assert_eq!(out.code, 1, "stderr: {}", out.stderr);
    let json: Json = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(json["code"], "Disconnect-NAK");
    assert!(json["id"].is_u64());
    assert_eq!(
        json["attributes"]["Error-Cause"],
        "Session-Context-Not-Found"
    );
}

#[test]
fn accounting_attributes_from_stdin_use_named_values() {
    let server = UdpServer::start(b"s3cret", |req| {
        Reply::Send(req.new_reply(Code::AccountingResponse))
    });
    let out = run_client(
        &[
            "--server",
            &server.server_arg(),
            "--secret",
            "s3cret",
            "-f",
            "-",
            "accounting-request",
            "NAS-Identifier=nas7",
        ],
        Some(
            "# radclient style\n\
             Acct-Status-Type = Interim-Update\n\
             User-Name = \"bob smith\", Acct-Session-Id = s-1\n\
             Acct-Input-Octets := 1234\n",
        ),
    );
    let received = server.finish();
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert_eq!(lines(&out.stdout)[0], "Accounting-Response");
    let request = &received[0].0;
    assert_eq!(request.code, Code::AccountingRequest);
    verify_request(request, b"s3cret", &VerifyPolicy::default()).unwrap();
    assert_eq!(text_of(request, NAS_IDENTIFIER).as_deref(), Some("nas7"));
    assert_eq!(
        request.first_value(ACCT_STATUS_TYPE).unwrap().as_ref(),
        [0, 0, 0, 3]
    );
    assert_eq!(text_of(request, USER_NAME).as_deref(), Some("bob smith"));
    assert_eq!(text_of(request, ACCT_SESSION_ID).as_deref(), Some("s-1"));
    assert_eq!(
        request.first_value(42).unwrap().as_ref(),
        1234u32.to_be_bytes()
    );
}

#[test]
fn unknown_attribute_is_refused_with_a_suggestion() {
    let out = run_client(
        &["--secret", "s3cret", "access-request", "User-Nmae=alice"],
        None,
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("unknown attribute `User-Nmae` (did you mean `User-Name`?)"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_values_and_missing_secret_are_refused() {
    let out = run_client(
        &[
            "--secret",
            "s",
            "coa-request",
            "Framed-IP-Address=not-an-ip",
        ],
        None,
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("Framed-IP-Address"), "{}", out.stderr);
    let out = run_client(&["disconnect-request", "User-Name=a"], None);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--secret is required"),
        "{}",
        out.stderr
    );
}

// ----- one request over TCP ------------------------------------------------------------

async fn read_packet<S: AsyncRead + Unpin>(
    stream: &mut S,
    decoder: &mut StreamDecoder,
) -> Option<Packet> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(octets) = decoder.next_packet().unwrap() {
            return Some(Packet::decode(octets).unwrap());
        }
        let n = tokio::time::timeout(BOUND, stream.read(&mut buf))
            .await
            .expect("the client says something within the bound")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        decoder.push(&buf[..n]);
    }
}

async fn write_packet<S: AsyncWrite + Unpin>(stream: &mut S, wire: &[u8]) {
    stream.write_all(wire).await.unwrap();
    stream.flush().await.unwrap();
}

#[tokio::test]
async fn coa_over_tcp_is_acknowledged() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let child = spawn_client(
        &[
            "--transport",
            "tcp",
            "--server",
            &addr,
            "--secret",
            "tcpsecret",
            "coa-request",
            "User-Name=alice",
        ],
        None,
    );
    let (mut stream, _) = tokio::time::timeout(BOUND, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut decoder = StreamDecoder::new();
    let request = read_packet(&mut stream, &mut decoder).await.unwrap();
    assert_eq!(request.code, Code::CoaRequest);
    verify_request(&request, b"tcpsecret", &VerifyPolicy::default()).unwrap();
    let mut reply = request.new_reply(Code::CoaAck);
    let wire = sign_response(
        &mut reply,
        &request.authenticator,
        b"tcpsecret",
        &SignOptions::default(),
    )
    .unwrap();
    write_packet(&mut stream, &wire).await;
    let out = finish_async(child).await;
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert_eq!(lines(&out.stdout)[0], "CoA-ACK");
}

// ----- --reverse: the NAS side -----------------------------------------------------------

/// Reads until a request that is not Status-Server arrives, answering every
/// Status-Server (verified, with NAS-Identifier `nas`) with a signed Access-Accept.
/// Returns how many Status-Server were seen and the reply to `expect_reply_to` if given.
async fn next_packet_answering_status<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    decoder: &mut StreamDecoder,
    secret: &[u8],
    nas: Option<&str>,
) -> Option<Packet> {
    loop {
        let packet = read_packet(stream, decoder).await?;
        if packet.code != Code::StatusServer {
            return Some(packet);
        }
        verify_request(&packet, secret, &VerifyPolicy::default()).unwrap();
        assert_eq!(packet.attributes[0].typ, MESSAGE_AUTHENTICATOR);
        if let Some(nas) = nas {
            assert_eq!(text_of(&packet, NAS_IDENTIFIER).as_deref(), Some(nas));
        }
        let mut reply = packet.new_reply(Code::AccessAccept);
        let wire = sign_response(
            &mut reply,
            &packet.authenticator,
            secret,
            &SignOptions::default(),
        )
        .unwrap();
        write_packet(stream, &wire).await;
    }
}

/// Sends a signed request down the connection and returns the client's verified answer.
async fn ask<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    decoder: &mut StreamDecoder,
    secret: &[u8],
    mut request: Packet,
) -> Packet {
    let mut rng = SplitMix64::new(u64::from(request.identifier));
    let wire = sign_request(&mut request, secret, &mut rng, &SignOptions::default()).unwrap();
    write_packet(stream, &wire).await;
    let reply = next_packet_answering_status(stream, decoder, secret, None)
        .await
        .expect("an answer before the connection closes");
    assert_eq!(reply.identifier, request.identifier);
    assert!(reply.code.answers(request.code), "{:?}", reply.code);
    assert!(reply.contains(MESSAGE_AUTHENTICATOR));
    verify_response(
        &reply,
        &request.authenticator,
        secret,
        &VerifyPolicy {
            require_message_authenticator: true,
            limit_proxy_state: false,
        },
    )
    .unwrap();
    reply
}

fn request(code: Code, id: u8, user: &str) -> Packet {
    let mut p = Packet::new(code, id);
    p.push(USER_NAME, user.as_bytes().to_vec());
    p.push(EVENT_TIMESTAMP, 1_700_000_000u32.to_be_bytes().to_vec());
    p
}

/// The request lines (those with a `code`) of a `--reverse` run's stdout.
fn request_lines(stdout: &str) -> Vec<Json> {
    stdout
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|j| j.get("event").is_none())
        .collect()
}

fn events(stdout: &str, name: &str) -> usize {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|j| j["event"] == name)
        .count()
}

#[tokio::test]
async fn reverse_over_tls_answers_disconnect_and_coa() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::generate(dir.path(), &[], &[ClientSpec::new("nas1")]).unwrap();
    let mut tls = ServerTlsSettings::new(&pki.server_certificate, &pki.server_key);
    tls.client_ca_path = Some(pki.ca_certificate.clone());
    let acceptor = acceptor(tls.build_config().unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let nas1 = pki.client("nas1").unwrap();
    let child = spawn_client(
        &[
            "--reverse",
            "--transport",
            "tls",
            "--server",
            &addr,
            "--ca",
            pki.ca_certificate.to_str().unwrap(),
            "--cert",
            nas1.certificate.to_str().unwrap(),
            "--key",
            nas1.key.to_str().unwrap(),
            "--nas-identifier",
            "nas1",
            "--count",
            "2",
        ],
        None,
    );
    let (tcp, _) = tokio::time::timeout(BOUND, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let (mut stream, peer) = accept(&acceptor, tcp, BOUND).await.unwrap();
    let facts = peer.end_entity_facts().unwrap().unwrap();
    assert_eq!(facts.subject_cn.as_deref(), Some("nas1"));
    let mut decoder = StreamDecoder::new();

    // The first Status-Server comes at once, with NAS-Identifier and Message-Authenticator.
    let status = read_packet(&mut stream, &mut decoder).await.unwrap();
    assert_eq!(status.code, Code::StatusServer);
    verify_request(&status, b"radsec", &VerifyPolicy::default()).unwrap();
    assert_eq!(text_of(&status, NAS_IDENTIFIER).as_deref(), Some("nas1"));
    let mut accept_reply = status.new_reply(Code::AccessAccept);
    let wire = sign_response(
        &mut accept_reply,
        &status.authenticator,
        b"radsec",
        &SignOptions::default(),
    )
    .unwrap();
    write_packet(&mut stream, &wire).await;

    let reply = ask(
        &mut stream,
        &mut decoder,
        b"radsec",
        request(Code::DisconnectRequest, 7, "alice"),
    )
    .await;
    assert_eq!(reply.code, Code::DisconnectAck);
    assert!(!reply.contains(ERROR_CAUSE));
    let reply = ask(
        &mut stream,
        &mut decoder,
        b"radsec",
        request(Code::CoaRequest, 8, "bob"),
    )
    .await;
    assert_eq!(reply.code, Code::CoaAck);

    let out = finish_async(child).await;
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert_eq!(events(&out.stdout, "connected"), 1, "{}", out.stdout);
    let answered = request_lines(&out.stdout);
    assert_eq!(answered.len(), 2, "{}", out.stdout);
    assert_eq!(answered[0]["code"], "Disconnect-Request");
    assert_eq!(answered[0]["id"], 7);
    assert_eq!(answered[0]["attributes"]["User-Name"], "alice");
    assert_eq!(
        answered[0]["attributes"]["Event-Timestamp"],
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(answered[0]["answer"], "Disconnect-ACK");
    assert!(answered[0]["time"].is_string());
    assert_eq!(answered[1]["code"], "CoA-Request");
    assert_eq!(answered[1]["id"], 8);
    assert_eq!(answered[1]["attributes"]["User-Name"], "bob");
    assert_eq!(answered[1]["answer"], "CoA-ACK");
}

#[tokio::test]
async fn reverse_over_tcp_naks_only_matching_requests() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let child = spawn_client(
        &[
            "--reverse",
            "--transport",
            "tcp",
            "--server",
            &addr,
            "--secret",
            "tcpsecret",
            "--nas-identifier",
            "nas2",
            "--nak-for",
            "User-Name=bob",
            "--count",
            "2",
        ],
        None,
    );
    let (mut stream, _) = tokio::time::timeout(BOUND, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut decoder = StreamDecoder::new();
    let secret = b"tcpsecret";
    // Answer the first Status-Server before asking anything.
    let status = read_packet(&mut stream, &mut decoder).await.unwrap();
    assert_eq!(status.code, Code::StatusServer);
    assert_eq!(text_of(&status, NAS_IDENTIFIER).as_deref(), Some("nas2"));

    let reply = ask(
        &mut stream,
        &mut decoder,
        secret,
        request(Code::DisconnectRequest, 1, "alice"),
    )
    .await;
    assert_eq!(reply.code, Code::DisconnectAck);
    let reply = ask(
        &mut stream,
        &mut decoder,
        secret,
        request(Code::DisconnectRequest, 2, "bob"),
    )
    .await;
    assert_eq!(reply.code, Code::DisconnectNak);
    assert_eq!(
        reply.first_value(ERROR_CAUSE).unwrap().as_ref(),
        503u32.to_be_bytes()
    );

    let out = finish_async(child).await;
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let answered = request_lines(&out.stdout);
    assert_eq!(answered.len(), 2, "{}", out.stdout);
    assert_eq!(answered[0]["answer"], "Disconnect-ACK");
    assert_eq!(answered[1]["attributes"]["User-Name"], "bob");
    assert_eq!(answered[1]["answer"], "Disconnect-NAK");
}

#[tokio::test]
async fn reverse_drops_a_connection_carrying_a_forged_request_and_reconnects() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let child = spawn_client(
        &[
            "--reverse",
            "--transport",
            "tcp",
            "--server",
            &addr,
            "--secret",
            "tcpsecret",
            "--nak",
            "--count",
            "1",
        ],
        None,
    );
    let secret = b"tcpsecret";

    // First connection: a Disconnect-Request signed with the wrong secret.
    let (mut first, _) = tokio::time::timeout(BOUND, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut decoder = StreamDecoder::new();
    let status = read_packet(&mut first, &mut decoder).await.unwrap();
    assert_eq!(status.code, Code::StatusServer);
    let mut forged = request(Code::DisconnectRequest, 9, "alice");
    let wire = sign_request(
        &mut forged,
        b"wrong",
        &mut SplitMix64::new(1),
        &SignOptions::default(),
    )
    .unwrap();
    write_packet(&mut first, &wire).await;
    // RFC 6613: the NAS closes the connection instead of answering.
    assert!(
        next_packet_answering_status(&mut first, &mut decoder, secret, None)
            .await
            .is_none(),
        "no answer to a forged request"
    );

    // The NAS comes back; --nak answers a CoA with CoA-NAK and the default Error-Cause.
    let (mut second, _) = tokio::time::timeout(BOUND, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut decoder = StreamDecoder::new();
    let reply = ask(
        &mut second,
        &mut decoder,
        secret,
        request(Code::CoaRequest, 3, "carol"),
    )
    .await;
    assert_eq!(reply.code, Code::CoaNak);
    assert_eq!(
        reply.first_value(ERROR_CAUSE).unwrap().as_ref(),
        503u32.to_be_bytes()
    );

    let out = finish_async(child).await;
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert_eq!(events(&out.stdout, "connected"), 2, "{}", out.stdout);
    assert_eq!(events(&out.stdout, "disconnected"), 1, "{}", out.stdout);
    let lines = request_lines(&out.stdout);
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert_eq!(lines[0]["code"], "Disconnect-Request");
    assert_eq!(lines[0]["answer"], Json::Null);
    assert!(
        lines[0]["reason"]
            .as_str()
            .unwrap()
            .contains("verification"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1]["code"], "CoA-Request");
    assert_eq!(lines[1]["answer"], "CoA-NAK");
}

#[tokio::test]
async fn reverse_delay_answers_every_outstanding_request_in_order() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let child = spawn_client(
        &[
            "--reverse",
            "--transport",
            "tcp",
            "--server",
            &addr,
            "--secret",
            "tcpsecret",
            "--delay",
            "200ms",
            "--count",
            "3",
        ],
        None,
    );
    let (mut stream, _) = tokio::time::timeout(BOUND, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let secret = b"tcpsecret";
    let mut decoder = StreamDecoder::new();
    let mut sent = Vec::new();
    for id in [10u8, 11, 12] {
        let mut req = request(Code::DisconnectRequest, id, "dave");
        let wire = sign_request(
            &mut req,
            secret,
            &mut SplitMix64::new(1),
            &SignOptions::default(),
        )
        .unwrap();
        write_packet(&mut stream, &wire).await;
        sent.push(req);
    }
    for req in &sent {
        let reply = next_packet_answering_status(&mut stream, &mut decoder, secret, None)
            .await
            .expect("every request is answered");
        assert_eq!(reply.identifier, req.identifier, "answers keep their order");
        assert_eq!(reply.code, Code::DisconnectAck);
        verify_response(&reply, &req.authenticator, secret, &VerifyPolicy::default()).unwrap();
    }
    let out = finish_async(child).await;
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let ids: Vec<Json> = request_lines(&out.stdout)
        .iter()
        .map(|l| l["id"].clone())
        .collect();
    assert_eq!(ids, [10, 11, 12]);
}

#[test]
fn reverse_refuses_udp_and_tls_without_a_ca() {
    let out = run_client(&["--reverse", "--secret", "s"], None);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("--reverse needs --transport tcp or tls"),
        "{}",
        out.stderr
    );
    let out = run_client(&["--reverse", "--transport", "tls"], None);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("needs --ca FILE"), "{}", out.stderr);
}

#[test]
fn tls_with_an_untrusted_server_certificate_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::generate(dir.path(), &[], &[ClientSpec::new("nas1")]).unwrap();
    let other = tempfile::tempdir().unwrap();
    let other_pki = DevPki::generate(other.path(), &[], &[]).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let out = rt.block_on(async {
        let mut tls = ServerTlsSettings::new(&pki.server_certificate, &pki.server_key);
        tls.client_ca_path = Some(pki.ca_certificate.clone());
        let acceptor = acceptor(tls.build_config().unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let child = spawn_client(
            &[
                "--transport",
                "tls",
                "--server",
                &addr,
                // A CA that did not sign the server's certificate.
                "--ca",
                other_pki.ca_certificate.to_str().unwrap(),
                "status-server",
            ],
            None,
        );
        let (tcp, _) = tokio::time::timeout(BOUND, listener.accept())
            .await
            .unwrap()
            .unwrap();
        assert!(accept(&acceptor, tcp, BOUND).await.is_err());
        finish_async(child).await
    });
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("TLS handshake failed"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn status_server_over_tls_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::generate(dir.path(), &[], &[ClientSpec::new("nas1")]).unwrap();
    let mut tls = ServerTlsSettings::new(&pki.server_certificate, &pki.server_key);
    tls.client_ca_path = Some(pki.ca_certificate.clone());
    let acceptor = acceptor(tls.build_config().unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let nas1 = pki.client("nas1").unwrap();
    let child = spawn_client(
        &[
            "--transport",
            "tls",
            "--server",
            &format!("localhost:{port}"),
            "--ca",
            pki.ca_certificate.to_str().unwrap(),
            "--cert",
            nas1.certificate.to_str().unwrap(),
            "--key",
            nas1.key.to_str().unwrap(),
            "--json",
            "status-server",
            "NAS-Identifier=nas1",
        ],
        None,
    );
    let (tcp, _) = tokio::time::timeout(BOUND, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let (mut stream, peer) = accept(&acceptor, tcp, BOUND).await.unwrap();
    assert_eq!(peer.sni.as_deref(), Some("localhost"));
    let mut decoder = StreamDecoder::new();
    let status = read_packet(&mut stream, &mut decoder).await.unwrap();
    assert_eq!(status.code, Code::StatusServer);
    verify_request(&status, b"radsec", &VerifyPolicy::default()).unwrap();
    let mut reply = status.new_reply(Code::AccessAccept);
    let wire = sign_response(
        &mut reply,
        &status.authenticator,
        b"radsec",
        &SignOptions::default(),
    )
    .unwrap();
    write_packet(&mut stream, &wire).await;
    let out = finish_async(child).await;
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let json: Json = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(json["code"], "Access-Accept");
    assert_eq!(json["id"], status.identifier);
}
