//! HTTPS triggers through the real binary: the HTTP API of the shipped http-trigger
//! example with a `tls { … }` block, called with curl (a real HTTP client) over TLS with
//! the development PKI; a plain-HTTP request to the HTTPS port fails without an HTTP
//! answer and the server keeps serving; a client certificate, when required, is required.

mod e2e_support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use e2e_support::*;

const EXAMPLE: &str = "config/examples/http-trigger/boomerang.conf";

/// The example with `tls` (the given block body) added to its HTTP server.
fn https_config(ports: Ports, tls_body: &str) -> String {
    insert_after(
        &adapt_config(EXAMPLE, ports),
        "        clients \"HTTP_CLIENTS\";\n",
        &format!("        tls {{\n{tls_body}        }}\n"),
    )
}

const SERVER_ONLY: &str =
    "            certificate \"SERVER_CERT\";\n            certificate_key \"SERVER_KEY\";\n";

const CLIENT_REQUIRED: &str = "            certificate \"SERVER_CERT\";\n            certificate_key \"SERVER_KEY\";\n            client_ca_certificate \"CLIENT_CA\";\n            require_client_certificate true;\n";

/// curl, or `None` (with a loud message) when it is not installed and `CI` is not set;
/// with `CI` set a missing curl fails the test.
fn curl() -> Option<PathBuf> {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = std::path::Path::new(dir).join("curl");
        if p.is_file() {
            return Some(p);
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("curl is required in CI");
    }
    eprintln!("SKIPPED: curl is not installed");
    None
}

/// What curl made of one request.
#[derive(Debug)]
struct CurlResult {
    /// curl's exit code (0: an HTTP answer was received).
    exit: Option<i32>,
    /// The HTTP status (0 when there was none).
    status: u16,
    /// The body.
    body: String,
    /// curl's error message.
    stderr: String,
}

/// `curl -X POST https://localhost:PORT/TARGET` trusting the development CA, with the
/// client certificate `client` when given.
fn curl_post(curl: &PathBuf, server: &Server, target: &str, client: Option<&str>) -> CurlResult {
    let port = server.ports.http;
    let mut cmd = Command::new(curl);
    cmd.args(["-sS", "--max-time", "15", "-X", "POST"])
        .args(["-w", "\n%{http_code}"])
        .arg("--resolve")
        .arg(format!("localhost:{port}:127.0.0.1"))
        .arg("--cacert")
        .arg(&server.pki.ca_certificate);
    if let Some(name) = client {
        let files = server.pki.client(name).unwrap();
        cmd.arg("--cert")
            .arg(&files.certificate)
            .arg("--key")
            .arg(&files.key);
    }
    cmd.arg(format!("https://localhost:{port}{target}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = output_bounded(cmd.spawn().unwrap(), WAIT);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    CurlResult {
        exit: out.status.code(),
        status: code.trim().parse().unwrap_or(0),
        body: body.to_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The bound address as the server printed it: `listening: HTTP_API https on …`.
fn wait_for_https_line(server: &mut Server) -> String {
    use std::io::{BufRead, BufReader};
    let stdout = server.child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("listening: HTTP_API") {
                let _ = tx.send(line);
            }
        }
    });
    rx.recv_timeout(WAIT)
        .expect("the HTTP server's listening line")
}

#[test]
fn https_trigger_answers_200_and_plain_http_on_the_https_port_fails_cleanly() {
    let Some(curl) = curl() else { return };
    let ports = Ports::pick();
    let mut server = Server::start(&https_config(ports, SERVER_ONLY), ports);
    let line = wait_for_https_line(&mut server);
    assert!(line.contains(" https on 127.0.0.1:"), "{line}");

    // No NAS yet: an HTTP answer over TLS, naming the error.
    let r = curl_post(
        &curl,
        &server,
        "/disconnect?nas_identifier=nas1&username=bob",
        None,
    );
    assert_eq!((r.exit, r.status), (Some(0), 500), "{r:?}");
    assert!(r.body.contains("NO_REVERSE_CONNECTIONS"), "{r:?}");

    // Plain HTTP to the HTTPS port: no HTTP answer, the connection is closed (the
    // client is not left waiting until its timeout).
    let started = Instant::now();
    let plain = http(
        server.http_addr(),
        "POST",
        "/disconnect?nas_identifier=nas1&username=bob",
    );
    eprintln!("plain HTTP to the HTTPS port: {plain:?}");
    match &plain {
        Ok((status, _)) => assert_eq!(*status, 0, "an HTTP answer on the HTTPS port"),
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "the server left the plain-HTTP client hanging: {e}"
        ),
    }
    assert!(
        started.elapsed() < WAIT,
        "the plain-HTTP connection was not closed: {plain:?}"
    );

    // The server keeps serving: a NAS connects and an HTTPS trigger reaches it.
    let nas = server.nas("nas1", &["--count", "1"]);
    server.wait_for_nas("nas1");
    let r = curl_post(
        &curl,
        &server,
        "/disconnect?nas_identifier=nas1&username=bob%20smith",
        None,
    );
    assert_eq!((r.exit, r.status), (Some(0), 200), "{r:?}");
    assert!(
        serde_json::from_str::<serde_json::Value>(&r.body).is_ok(),
        "{r:?}"
    );
    let nas = output_bounded(nas, WAIT);
    assert!(nas.status.success());
    let nas_out = String::from_utf8_lossy(&nas.stdout);
    assert!(nas_out.contains("\"User-Name\":\"bob smith\""), "{nas_out}");

    let (status, stderr) = server.terminate();
    assert!(status.success(), "exit {status}\n{stderr}");
    assert!(stderr.contains("HTTPS handshake failed"), "{stderr}");
}

#[test]
fn https_with_a_required_client_certificate_refuses_a_client_without_one() {
    let Some(curl) = curl() else { return };
    let ports = Ports::pick();
    let server = Server::start(&https_config(ports, CLIENT_REQUIRED), ports);

    let r = curl_post(
        &curl,
        &server,
        "/disconnect?nas_identifier=nas1&username=bob",
        None,
    );
    eprintln!("without a certificate: {r:?}");
    assert_ne!(
        r.exit,
        Some(0),
        "accepted without a client certificate: {r:?}"
    );
    assert_eq!(r.status, 0, "{r:?}");
    assert!(!r.stderr.is_empty(), "curl says why: {r:?}");

    let r = curl_post(
        &curl,
        &server,
        "/disconnect?nas_identifier=nas1&username=bob",
        Some("untrusted"),
    );
    eprintln!("certificate of another CA: {r:?}");
    assert_ne!(
        r.exit,
        Some(0),
        "accepted a certificate of another CA: {r:?}"
    );

    // With a certificate of the trusted CA: an HTTP answer (500: no NAS connected).
    let r = curl_post(
        &curl,
        &server,
        "/disconnect?nas_identifier=nas1&username=bob",
        Some("nas1"),
    );
    assert_eq!((r.exit, r.status), (Some(0), 500), "{r:?}");
    assert!(r.body.contains("NO_REVERSE_CONNECTIONS"), "{r:?}");
}
