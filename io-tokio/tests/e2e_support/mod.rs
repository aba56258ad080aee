//! Shared helpers of the end-to-end tests: they start the real `boomerang` binary on
//! loopback with free ports and development certificates in a temporary directory.
//! Every wait is bounded.

#![allow(dead_code)]

pub mod nats;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use boomerang_io_tokio::pki::{ClientSpec, DevPki};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_boomerang");

/// Bound on every wait for something to happen.
pub const WAIT: Duration = Duration::from_secs(20);

/// A TCP port that was free a moment ago, never handed out before in this process.
pub fn free_tcp_port() -> u16 {
    nats::free_port()
}

/// A UDP port that was free a moment ago, never handed out before in this process.
pub fn free_udp_port() -> u16 {
    nats::fresh_port(|| {
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    })
}

/// Ports of one test server.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub radsec: u16,
    pub udp: u16,
    pub http: u16,
    pub management: u16,
}

impl Ports {
    /// Free ports for one server, each distinct ([`free_tcp_port`]).
    pub fn pick() -> Ports {
        Ports {
            radsec: free_tcp_port(),
            udp: free_udp_port(),
            http: free_tcp_port(),
            management: free_tcp_port(),
        }
    }
}

/// A shipped configuration file with its ports replaced by `ports`, listening on
/// loopback only, with a management listener.
pub fn adapt_config(path: &str, ports: Ports) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join(path)).unwrap();
    let mut text = text
        .replace("port 2083;", &format!("port {};", ports.radsec))
        .replace("port 1812;", &format!("port {};", ports.udp))
        .replace("port 3799;", &format!("port {};", ports.udp))
        .replace("port 4000;", &format!("port {};", ports.http))
        .replace("port 8080;", &format!("port {};", ports.management))
        .replace("ip 0.0.0.0;", "ip 127.0.0.1;");
    if !text.contains("\nmanagement {") {
        text.push_str(&format!(
            "\nmanagement {{\n    listen {{\n        ip 127.0.0.1;\n        port {};\n    }}\n}}\n",
            ports.management
        ));
    }
    text
}

/// `text` (a shipped configuration) with `added` inserted after the line `anchor`,
/// which must be there: a test that adds a setting to an example fails loudly when
/// the example changes under it.
pub fn insert_after(text: &str, anchor: &str, added: &str) -> String {
    assert!(
        text.contains(anchor),
        "the example changed; update this test (no {anchor:?})"
    );
    text.replacen(anchor, &format!("{anchor}{added}"), 1)
}

/// A running `boomerang run`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub ports: Ports,
    pub pki: DevPki,
}

impl Server {
    /// Write `config` (which names `certs/…`) and a development PKI with clients
    /// `nas1` and `radiator-nas-simulator` into a temporary directory, start the
    /// binary and wait until `/ready` answers 200.
    pub fn start(config: &str, ports: Ports) -> Server {
        Self::start_with(config, ports, |_| {})
    }

    /// As [`Server::start`], running `setup` on the directory before starting.
    pub fn start_with(config: &str, ports: Ports, setup: impl FnOnce(&Path)) -> Server {
        Self::start_with_clients(config, ports, &[], setup)
    }

    /// As [`Server::start_with`], issuing `extra_clients` as well as the default ones.
    pub fn start_with_clients(
        config: &str,
        ports: Ports,
        extra_clients: &[ClientSpec],
        setup: impl FnOnce(&Path),
    ) -> Server {
        Self::launch(config, ports, extra_clients, setup, None)
    }

    /// As [`Server::start`], with the process's limit of open files (soft and hard)
    /// lowered to `nofile` through the shell's `ulimit -n`.
    pub fn start_with_nofile(config: &str, ports: Ports, nofile: u32) -> Server {
        Self::launch(config, ports, &[], |_| {}, Some(nofile))
    }

    fn launch(
        config: &str,
        ports: Ports,
        extra_clients: &[ClientSpec],
        setup: impl FnOnce(&Path),
        nofile: Option<u32>,
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut clients = vec![
            ClientSpec::new("nas1"),
            ClientSpec::new("radiator-nas-simulator"),
            ClientSpec {
                issuer: boomerang_io_tokio::pki::ClientIssuer::OtherCa,
                ..ClientSpec::new("untrusted")
            },
            ClientSpec {
                validity: boomerang_io_tokio::pki::ClientValidity::Expired,
                ..ClientSpec::new("expired")
            },
        ];
        clients.extend(extra_clients.iter().cloned());
        let pki = DevPki::generate(&dir.path().join("certs"), &[], &clients).unwrap();
        let conf = dir.path().join("boomerang.conf");
        std::fs::write(&conf, config).unwrap();
        setup(dir.path());
        let mut command = match nofile {
            None => Command::new(BIN),
            Some(n) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), BIN]);
                c
            }
        };
        let child = command
            .current_dir(dir.path())
            .args(["run", "-c"])
            .arg(&conf)
            .args(["--log-level", "debug", "--shutdown-timeout", "10"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            dir,
            ports,
            pki,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut e) = server.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("boomerang run exited early with {status}:\n{err}");
            }
            if let Ok((200, _)) = http(server.management(), "GET", "/ready") {
                break;
            }
            assert!(Instant::now() < deadline, "server not ready in time");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn management(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.management))
    }

    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.http))
    }

    /// Start `boomerang client --reverse` as the NAS `name` (its certificate is the
    /// client certificate of that name) with extra arguments.
    pub fn nas(&self, name: &str, extra: &[&str]) -> Child {
        let files = self.pki.client(name).unwrap();
        Command::new(BIN)
            .args(["client", "--reverse", "--transport", "tls", "--server"])
            .arg(format!("127.0.0.1:{}", self.ports.radsec))
            .arg("--ca")
            .arg(&self.pki.ca_certificate)
            .arg("--cert")
            .arg(&files.certificate)
            .arg("--key")
            .arg(&files.key)
            .args(["--nas-identifier", name, "--server-name", "localhost"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Wait until the management API lists a connection whose NAS-Identifier is `name`
    /// (its Status-Server arrived).
    pub fn wait_for_nas(&self, name: &str) {
        let needle = format!("\"nas_identifier\":\"{name}\"");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok((200, body)) = http(self.management(), "GET", "/api/v1/connections")
                && body.contains(&needle)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "NAS {name} did not connect in time"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Send SIGTERM and wait (bounded) for the exit status; also returns stderr.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let status = wait_bounded(&mut self.child, WAIT).expect("exited after SIGTERM");
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status, err)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait for a child to exit, at most `limit`; `None` if it is still running.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Collect a child's output with a bound (killing it when it overruns).
pub fn output_bounded(mut child: Child, limit: Duration) -> Output {
    if wait_bounded(&mut child, limit).is_none() {
        let _ = child.kill();
    }
    child.wait_with_output().unwrap()
}

/// One HTTP/1.1 request with `Connection: close`; the status and the body.
pub fn http(addr: SocketAddr, method: &str, target: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(WAIT))?;
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    Ok((status, body))
}

/// `radclient`, or `None` (with a loud message) when it is not installed and `CI` is
/// not set; with `CI` set a missing radclient fails the test.
pub fn radclient() -> Option<PathBuf> {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("radclient");
        if p.is_file() {
            return Some(p);
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("radclient (FreeRADIUS) is required in CI; .ci/setup installs it");
    }
    eprintln!("SKIPPED: radclient (FreeRADIUS) is not installed; install freeradius-utils");
    None
}

/// Send `attrs` as a Disconnect-Request with radclient (one try, `timeout` seconds).
pub fn radclient_disconnect(
    radclient: &Path,
    port: u16,
    secret: &str,
    attrs: &str,
    timeout: u32,
) -> Output {
    let mut child = Command::new(radclient)
        .args(["-x", "-r", "1", "-t", &timeout.to_string()])
        .arg(format!("127.0.0.1:{port}"))
        .args(["disconnect", secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(attrs.as_bytes())
        .unwrap();
    output_bounded(child, WAIT)
}

/// A blocking RadSec client stream made in the test (a NAS written with the core codec).
pub type RadsecStream = boomerang_io_tokio::tls::rustls::StreamOwned<
    boomerang_io_tokio::tls::rustls::ClientConnection,
    TcpStream,
>;

impl Server {
    /// Open a RadSec connection to the server from the test itself, presenting the
    /// client certificate `client` (none when `None`), and finish the handshake.
    pub fn radsec_connect(&self, client: Option<&str>) -> std::io::Result<RadsecStream> {
        use boomerang_io_tokio::tls::rustls;
        let mut settings =
            boomerang_io_tokio::tls::ClientTlsSettings::new(&self.pki.ca_certificate, "localhost");
        if let Some(name) = client {
            let files = self.pki.client(name).unwrap();
            settings.certificate_chain_path = Some(files.certificate.clone());
            settings.key_path = Some(files.key.clone());
        }
        let config = settings.build_config().unwrap();
        let conn = rustls::ClientConnection::new(config, settings.server_name().unwrap()).unwrap();
        let tcp = TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], self.ports.radsec)),
            Duration::from_secs(2),
        )?;
        tcp.set_read_timeout(Some(WAIT))?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(stream)
    }
}

/// Read one whole RADIUS packet (by its Length) from a stream.
pub fn read_radius(
    stream: &mut impl Read,
) -> std::io::Result<boomerang_core::radius::packet::Packet> {
    let mut head = [0u8; 4];
    stream.read_exact(&mut head)?;
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let mut buf = head.to_vec();
    buf.resize(len.max(4), 0);
    stream.read_exact(&mut buf[4..])?;
    boomerang_core::radius::packet::Packet::decode(bytes::Bytes::from(buf))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
}

/// Sign `packet` as a request with `secret` and encode it.
pub fn sign_request(packet: &mut boomerang_core::radius::packet::Packet, secret: &str) -> Vec<u8> {
    let mut rng = boomerang_core::rng::SplitMix64::new(0x5eed);
    boomerang_core::radius::auth::sign_request(
        packet,
        secret.as_bytes(),
        &mut rng,
        &boomerang_core::radius::auth::SignOptions::default(),
    )
    .unwrap()
    .to_vec()
}

/// Sign `reply` as the answer to a request whose authenticator was `request_auth`.
pub fn sign_response(
    reply: &mut boomerang_core::radius::packet::Packet,
    request_auth: &[u8; 16],
    secret: &str,
) -> Vec<u8> {
    boomerang_core::radius::auth::sign_response(
        reply,
        request_auth,
        secret.as_bytes(),
        &boomerang_core::radius::auth::SignOptions::default(),
    )
    .unwrap()
    .to_vec()
}

/// The value of the metric line that starts with `name{` and contains every label in
/// `labels` (0 when there is no such line).
pub fn metric_value(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
