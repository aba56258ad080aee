//! SIGHUP through the real binary: a configuration that compiles is applied to the
//! running daemon, which keeps its listeners and NAS connections (a NAS stays connected
//! on the same socket and is reached under the new policy); a broken one is refused with
//! its diagnostics, and one that cannot be prepared (a port in use, a certificate that
//! does not load) is refused before anything is torn down, while the running one keeps
//! serving; a removed listener closes its connections; what cannot be carried over
//! (`connect` backends, the management listener) restarts in process, falling back to
//! the previous configuration or exiting 1; and SIGTERM still exits 0 — also when it
//! arrives while such a restart drains.
//!
//! The daemon's log goes to a file (not a pipe, which a chatty daemon could fill), so
//! the tests can wait for what it says. Every wait is bounded.

mod e2e_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use e2e_support::{BIN, WAIT, free_tcp_port, free_udp_port, http, output_bounded, wait_bounded};

/// A `boomerang run` whose stderr goes to `log`; killed when dropped.
struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    management: SocketAddr,
}

impl Daemon {
    /// Write `config` as `boomerang.conf` (plus a development PKI in `certs/`), start
    /// the binary and wait until `/ready` on `management` answers 200.
    fn start(config: &str, management: u16) -> Daemon {
        Daemon::start_with(config, management, &["--log-level", "info"])
    }

    /// `start` with these logging options on the command line.
    fn start_with(config: &str, management: u16, log_options: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let nas1 = boomerang_io_tokio::pki::ClientSpec::new("nas1");
        boomerang_io_tokio::pki::DevPki::generate(&dir.path().join("certs"), &[], &[nas1]).unwrap();
        std::fs::write(dir.path().join("boomerang.conf"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
        let child = Command::new(BIN)
            .current_dir(dir.path())
            .args(["run", "-c", "boomerang.conf", "--shutdown-timeout", "10"])
            .args(log_options)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut daemon = Daemon {
            child,
            dir,
            management: SocketAddr::from(([127, 0, 0, 1], management)),
        };
        daemon.wait_ready();
        daemon
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("boomerang.conf")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// Wait until `/ready` answers 200 (the daemon must stay up meanwhile).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("boomerang run exited with {status}:\n{}", self.log());
            }
            if let Ok((200, _)) = http(self.management, "GET", "/ready") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not ready in time:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until the log holds `needle` at least `count` times.
    fn wait_log(&self, needle: &str, count: usize) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let log = self.log();
            if log.matches(needle).count() >= count {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "the log never said `{needle}` {count} time(s):\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// Rewrite the configuration file and send SIGHUP.
    fn reload(&self, config: &str) {
        std::fs::write(self.conf(), config).unwrap();
        self.signal("HUP");
    }

    /// Wait (bounded) for the exit status.
    fn wait_exit(&mut self) -> ExitStatus {
        match wait_bounded(&mut self.child, WAIT) {
            Some(status) => status,
            None => panic!("still running:\n{}", self.log()),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A configuration: a UDP RADIUS server on `udp` for clients on 127.0.0.1 (secret
/// `s3cret`), management on `management`, and `extra` (more sections) plus an
/// `@execute` pipeline `execute`.
fn config(udp: u16, management: u16, extra: &str, execute: &str) -> String {
    format!(
        r#"
clients {{
    radius "LOCAL" {{
        client "LOCALHOST" {{ source {{ ip 127.0.0.1; }} secret "s3cret"; }}
    }}
}}
servers {{
    radius "UDP_IN" {{
        listen {{ protocol udp; port {udp}; ip 127.0.0.1; }}
        clients "LOCAL";
    }}
}}
management {{
    listen {{ ip 127.0.0.1; port {management}; }}
}}
{extra}
aaa {{
    policy "P" {{
        handler "H" {{
            @execute {{
                {execute}
            }}
        }}
    }}
}}
"#
    )
}

/// A policy that accepts with `Reply-Message = message`.
fn replying(message: &str) -> String {
    format!("modify radius.reply.attr.Reply-Message = \"{message}\";\n                accept;")
}

/// One Access-Request to `port` with `boomerang client`; its stdout, or `None` on no
/// answer (the daemon may be between two configurations).
fn ask(port: u16) -> Option<String> {
    let child = Command::new(BIN)
        .args(["client", "--server", &format!("127.0.0.1:{port}")])
        .args(["--secret", "s3cret", "--timeout", "500ms", "--retries", "0"])
        .args(["access-request", "User-Name=alice"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = output_bounded(child, WAIT);
    match out.status.code() {
        Some(0 | 1) => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ => None,
    }
}

/// Ask until the reply carries `Reply-Message = "message"` (bounded).
fn wait_reply(port: u16, message: &str, daemon: &Daemon) {
    let want = format!("Reply-Message = \"{message}\"");
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(out) = ask(port)
            && out.contains(&want)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never answered with {want}:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_applies_a_good_configuration_refuses_a_broken_one_and_sigterm_exits_0() {
    let (udp, management) = (free_udp_port(), free_tcp_port());
    let mut daemon = Daemon::start(
        &config(udp, management, "", &replying("config A")),
        management,
    );
    // A kept-alive management connection (a scraper's) must not outlive its driver.
    let mut scraper = std::net::TcpStream::connect(daemon.management).unwrap();
    scraper.set_read_timeout(Some(WAIT)).unwrap();
    scraper
        .write_all(b"GET /live HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.ends_with(b"ok\n") {
        let n = scraper.read(&mut buf).unwrap();
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    let first = ask(udp).expect("config A answers");
    assert!(first.starts_with("Access-Accept"), "{first}");
    assert!(first.contains("Reply-Message = \"config A\""), "{first}");

    // B: a different reply, and a second UDP server that did not exist before.
    let udp2 = free_udp_port();
    let second_server = format!(
        r#"servers {{ radius "UDP_TWO" {{ listen {{ protocol udp; port {udp2}; ip 127.0.0.1; }} clients "LOCAL"; }} }}"#
    );
    daemon.reload(&config(
        udp,
        management,
        &second_server,
        &replying("config B"),
    ));
    let log = daemon.wait_log("configuration reloaded from", 1);
    assert!(log.contains("2 servers, 0 backends"), "{log}");
    // The management listener is unchanged: it is kept, and so is the scraper's
    // kept-alive connection, which goes on being answered.
    scraper
        .write_all(b"GET /live HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut again = Vec::new();
    while !again.ends_with(b"ok\n") {
        let n = scraper.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the kept-alive management connection closed on reload"
        );
        again.extend_from_slice(&buf[..n]);
    }
    wait_reply(udp, "config B", &daemon);
    let second = ask(udp2).expect("the new server answers");
    assert!(second.contains("Reply-Message = \"config B\""), "{second}");
    daemon.wait_ready();

    // A broken configuration: refused with its diagnostics; B keeps serving.
    daemon.reload("servers { broken");
    let log = daemon.wait_log("reload refused", 1);
    assert!(
        log.contains("SIGHUP: the configuration has errors"),
        "{log}"
    );
    assert!(
        log.contains("boomerang.conf"),
        "the diagnostics name the file:\n{log}"
    );
    let after = ask(udp).expect("still serving after a refused reload");
    assert!(after.contains("Reply-Message = \"config B\""), "{after}");
    assert_eq!(log.matches("configuration reloaded from").count(), 1);
    assert_eq!(http(daemon.management, "GET", "/ready").unwrap().0, 200);

    daemon.signal("TERM");
    let status = daemon.wait_exit();
    let log = daemon.log();
    assert!(status.success(), "exit {status}:\n{log}");
    assert!(log.contains("SIGTERM received"), "{log}");
}

#[test]
fn a_reload_that_cannot_bind_is_refused_and_the_running_configuration_keeps_serving() {
    let (udp, management) = (free_udp_port(), free_tcp_port());
    let daemon = Daemon::start(
        &config(udp, management, "", &replying("config A")),
        management,
    );
    wait_reply(udp, "config A", &daemon);

    // B compiles but one of its ports is in use: the previous configuration comes back.
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().port();
    let busy_server = format!(
        r#"servers {{ radius "BUSY" {{ listen {{ protocol udp; port {busy}; ip 127.0.0.1; }} clients "LOCAL"; }} }}"#
    );
    daemon.reload(&config(
        udp,
        management,
        &busy_server,
        &replying("config B"),
    ));
    // Refused while preparing it: nothing was torn down, A never stopped serving.
    let log = daemon.wait_log("reload refused", 1);
    assert!(log.contains("the running configuration stays"), "{log}");
    let cause = format!("server `BUSY`: cannot listen on 127.0.0.1:{busy}");
    assert!(
        log.contains(&cause),
        "the error names server and address:\n{log}"
    );
    assert!(!log.contains("configuration reloaded from"), "{log}");
    assert!(
        !log.contains("shutting down"),
        "nothing was drained:\n{log}"
    );
    wait_reply(udp, "config A", &daemon);
    drop(taken);
}

#[test]
fn a_reload_whose_new_and_previous_configurations_cannot_start_exits_1() {
    let (udp, tls, management) = (free_udp_port(), free_tcp_port(), free_tcp_port());
    // A: also a RadSec listener, whose certificate files are read at every start.
    let radsec = format!(
        r#"certificates {{
    x509 "SERVER_CERT" {{ filename "certs/server.pem"; }}
    key "SERVER_KEY" {{ filename "certs/server.key"; }}
    x509 "CLIENT_CA" {{ filename "certs/ca.pem"; }}
}}
servers {{
    radius "RADSEC" {{
        listen {{
            protocol tls; port {tls}; ip 127.0.0.1;
            tls {{ certificate "SERVER_CERT"; certificate_key "SERVER_KEY"; client_ca_certificate "CLIENT_CA"; }}
        }}
        clients "LOCAL";
    }}
}}"#
    );
    let mut daemon = Daemon::start(
        &config(udp, management, &radsec, &replying("config A")),
        management,
    );
    wait_reply(udp, "config A", &daemon);
    // The previous configuration's certificate goes bad, and the new one's port is in use.
    std::fs::write(
        daemon.dir.path().join("certs/server.pem"),
        "not a certificate",
    )
    .unwrap();
    // B moves the management listener (only a restart applies that) to a port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().port();
    daemon.reload(&config(udp, busy, "", &replying("config B")));
    let status = daemon.wait_exit();
    let log = daemon.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("the previous configuration could not start again either"),
        "{log}"
    );
    assert!(log.contains(&format!("127.0.0.1:{busy}")), "{log}");
    assert!(log.contains("server `RADSEC`: TLS configuration"), "{log}");
    drop(taken);
}

#[test]
fn sigterm_while_a_reload_drains_exits_0_without_starting_the_new_configuration() {
    // A request in flight to a silent UDP upstream keeps the drain busy (up to the
    // backend's 3 s timeout) while SIGTERM arrives.
    let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
    upstream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let up = upstream.local_addr().unwrap().port();
    let backend = format!(
        r#"backends {{
    radius "UPSTREAM" {{
        server "U1" {{
            secret "upstream-secret";
            timeout 3s;
            connect {{ protocol udp; ip 127.0.0.1; port {up}; }}
        }}
    }}
}}"#
    );
    let (udp, management) = (free_udp_port(), free_tcp_port());
    let mut daemon = Daemon::start(
        &config(udp, management, &backend, r#"backend "UPSTREAM";"#),
        management,
    );
    let client = std::thread::spawn(move || ask(udp));
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + WAIT;
    while upstream.recv_from(&mut buf).is_err() {
        assert!(
            Instant::now() < deadline,
            "the request never reached the upstream"
        );
    }
    daemon.reload(&config(udp, management, "", &replying("config B")));
    // The `connect` backend goes away: only an in-process restart applies that.
    daemon.wait_log("restarting with the new configuration", 1);
    daemon.signal("TERM");
    let status = daemon.wait_exit();
    let log = daemon.log();
    assert!(status.success(), "exit {status}:\n{log}");
    assert!(log.contains("SIGTERM arrived during the reload"), "{log}");
    assert!(!log.contains("configuration reloaded from"), "{log}");
    // The proxied request was answered or dropped, not left hanging: the client ends.
    let _ = client.join().unwrap();
}

/// The NAS connections the management API lists: (id, peer address, NAS-Identifier).
fn connections(daemon: &Daemon) -> Vec<(u64, String, String)> {
    let (_, body) = http(daemon.management, "GET", "/api/v1/connections").unwrap();
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_u64().unwrap(),
                c["peer_addr"].as_str().unwrap_or_default().to_owned(),
                c["status"]["nas_identifier"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// The connections once `done` holds for them (the view is refreshed at most twice a
/// second when only connection facts change); bounded.
fn connections_when(
    daemon: &Daemon,
    done: impl Fn(&[(u64, String, String)]) -> bool,
) -> Vec<(u64, String, String)> {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = connections(daemon);
        if done(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "connections never settled: {list:?}\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_reload_keeps_the_nas_connection_and_the_new_policy_reaches_the_nas_over_it() {
    use e2e_support::{Ports, adapt_config};
    // The server: the HTTP trigger example; the NAS: the NAS simulator example (a second
    // `boomerang run`, which dials the server, logs each connection it establishes and
    // reconnects when the connection closes; at debug level it logs each
    // Disconnect-Request its policy handles).
    let ports = Ports::pick();
    let server_conf = adapt_config("config/examples/http-trigger/boomerang.conf", ports);
    let mut server = Daemon::start(&server_conf, ports.management);
    let nas_conf = adapt_config("config/examples/nas-simulator/boomerang.conf", ports).replace(
        &format!(
            "\nmanagement {{\n    listen {{\n        ip 127.0.0.1;\n        port {};\n    }}\n}}\n",
            ports.management
        ),
        "\n",
    );
    let nas_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(nas_dir.path().join("certs")).unwrap();
    for entry in std::fs::read_dir(server.dir.path().join("certs")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            nas_dir.path().join("certs").join(entry.file_name()),
        )
        .unwrap();
    }
    std::fs::write(nas_dir.path().join("nas.conf"), nas_conf).unwrap();
    let nas_log = std::fs::File::create(nas_dir.path().join("nas.log")).unwrap();
    let mut nas = Command::new(BIN)
        .current_dir(nas_dir.path())
        .args(["run", "-c", "nas.conf", "--log-level", "debug"])
        .stdout(Stdio::null())
        .stderr(nas_log)
        .spawn()
        .unwrap();
    let http_addr = SocketAddr::from(([127, 0, 0, 1], ports.http));
    let trigger = |path: &str| {
        let target = format!("{path}?nas_identifier=radiator-nas-simulator&username=mikem");
        http(http_addr, "POST", &target).map_or(0, |(status, _)| status)
    };
    let nas_log_path = nas_dir.path().join("nas.log");
    let nas_log = || std::fs::read_to_string(&nas_log_path).unwrap_or_default();
    // Bounded: until the NAS is connected and acknowledges.
    let until_200 = |path: &str, server: &Daemon| {
        let deadline = Instant::now() + WAIT;
        while trigger(path) != 200 {
            assert!(
                Instant::now() < deadline,
                "POST {path} never answered 200:\n{}\nNAS:\n{}",
                server.log(),
                nas_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    until_200("/disconnect", &server);
    let before = connections_when(&server, |l| l.iter().all(|c| !c.2.is_empty()));
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0].2, "radiator-nas-simulator", "{before:?}");

    // B answers on another path: the policy changed, the listeners did not.
    let renamed = server_conf.replace("http.path == \"/disconnect\";", "http.path == \"/kick\";");
    assert_ne!(renamed, server_conf);
    server.reload(&renamed);
    let log = server.wait_log("configuration reloaded from", 1);
    assert!(
        log.contains(
            "2 listeners kept with their connections, 0 opened, 0 closed; 0 connections closed"
        ),
        "{log}"
    );
    assert_ne!(trigger("/disconnect"), 200, "the old handler is gone");
    // The disconnect goes over the connection that was up before the reload: same
    // connection, same NAS socket (peer address), facts (NAS-Identifier) kept.
    assert_eq!(
        trigger("/kick"),
        200,
        "{}\nNAS:\n{}",
        server.log(),
        nas_log()
    );
    assert_eq!(connections(&server), before);

    // C compiles but cannot bind (a new HTTP server on a port in use): refused before
    // anything is torn down; B goes on over the same connection.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().port();
    let with_busy = renamed.replacen(
        "servers {",
        &format!("servers {{\n    http \"BUSY\" {{ listen {{ protocol tcp; port {busy}; ip 127.0.0.1; }} clients \"HTTP_CLIENTS\"; }}"),
        1,
    );
    assert_ne!(with_busy, renamed);
    server.reload(&with_busy);
    let log = server.wait_log("reload refused", 1);
    assert!(
        log.contains(&format!("server `BUSY`: cannot listen on 127.0.0.1:{busy}")),
        "{log}"
    );
    assert!(log.contains("the running configuration stays"), "{log}");
    assert_eq!(trigger("/kick"), 200, "{}", server.log());
    assert_eq!(connections(&server), before);
    drop(taken);

    // D: the server certificate file no longer loads: refused the same way.
    let cert = server.dir.path().join("certs/server.pem");
    let good_cert = std::fs::read(&cert).unwrap();
    std::fs::write(&cert, "not a certificate").unwrap();
    server.reload(&renamed);
    let log = server.wait_log("reload refused", 2);
    assert!(
        log.contains("server `RADSEC_SERVER`: TLS configuration"),
        "{log}"
    );
    assert_eq!(trigger("/kick"), 200, "{}", server.log());
    assert_eq!(connections(&server), before);
    std::fs::write(&cert, good_cert).unwrap();

    // F changes the RadSec listener's TLS settings (client certificates no longer
    // required): the NAS's connection stays, and new handshakes use the new settings.
    let status_without_cert = || {
        let child = Command::new(BIN)
            .current_dir(server.dir.path())
            .args(["client", "status-server", "--transport", "tls"])
            .args(["--server", &format!("127.0.0.1:{}", ports.radsec)])
            .args(["--ca", "certs/ca.pem", "--timeout", "2s"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        output_bounded(child, WAIT)
    };
    let refused = status_without_cert();
    assert!(
        !refused.status.success(),
        "a client certificate is required before F"
    );
    let relaxed = renamed.replace(
        "require_client_certificate true;",
        "require_client_certificate false;",
    );
    assert_ne!(relaxed, renamed);
    server.reload(&relaxed);
    let log = server.wait_log("configuration reloaded from", 2);
    assert!(
        log.contains("2 listeners kept with their connections"),
        "{log}"
    );
    assert_eq!(connections(&server), before);
    assert_eq!(trigger("/kick"), 200, "{}", server.log());
    let accepted = status_without_cert();
    assert!(
        accepted.status.success(),
        "the new TLS settings apply to new handshakes: {}{}\n{}",
        String::from_utf8_lossy(&accepted.stdout),
        String::from_utf8_lossy(&accepted.stderr),
        server.log()
    );

    // The NAS never had to reconnect.
    assert_eq!(
        nas_log().matches("outbound connection established").count(),
        1,
        "the NAS reconnected:\n{}",
        nas_log()
    );

    // E removes the RadSec listener: its connection closes, and nothing reaches the NAS.
    let start = renamed.find("    radius \"RADSEC_SERVER\" {").unwrap();
    let end = start + renamed[start..].find("\n    }\n").unwrap() + "\n    }\n".len();
    let without_radsec = format!("{}{}", &renamed[..start], &renamed[end..]);
    server.reload(&without_radsec);
    let log = server.wait_log("configuration reloaded from", 3);
    assert!(
        log.contains(
            "1 listeners kept with their connections, 0 opened, 1 closed; 1 connections closed"
        ),
        "{log}"
    );
    connections_when(&server, <[_]>::is_empty);
    assert_eq!(trigger("/kick"), 500, "no NAS connection is left");

    server.signal("TERM");
    let status = server.wait_exit();
    assert!(status.success(), "{}", server.log());
    let _ = Command::new("kill")
        .args(["-TERM", &nas.id().to_string()])
        .status();
    let nas_status = wait_bounded(&mut nas, WAIT).expect("the NAS exits after SIGTERM");
    let nas_log = nas_log();
    assert!(nas_status.success(), "{nas_log}");
    assert!(
        nas_log
            .matches("Received Disconnect-Request for user mikem")
            .count()
            >= 5,
        "the NAS handled a request before and after each reload:\n{nas_log}\nserver:\n{}",
        server.log()
    );
}

/// `config` with `access` (`token "…";`, `allow { … }`) in the management section.
fn config_with_access(udp: u16, management: u16, access: &str, execute: &str) -> String {
    let listen = format!("listen {{ ip 127.0.0.1; port {management}; }}\n");
    let with = config(udp, management, "", execute).replacen(
        &listen,
        &format!("{listen}    {access}\n"),
        1,
    );
    assert!(with.contains(access), "{with}");
    with
}

/// The status of `GET /metrics` on `addr`, with `Authorization: Bearer token` when given.
fn metrics_status(addr: SocketAddr, token: Option<&str>) -> u16 {
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let authorization = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: test\r\n{authorization}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    raw.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {raw:?}"))
}

#[test]
fn sighup_applies_a_new_management_token_and_allow_list_keeping_the_listener() {
    let (udp, management) = (free_udp_port(), free_tcp_port());
    let daemon = Daemon::start(
        &config_with_access(udp, management, r#"token "old-token";"#, &replying("A")),
        management,
    );
    let m = daemon.management;
    assert_eq!(metrics_status(m, Some("old-token")), 200);
    assert_eq!(metrics_status(m, None), 401);

    // The token rotated: the old one is refused from the next request on.
    daemon.reload(&config_with_access(
        udp,
        management,
        r#"token "new-token";"#,
        &replying("B"),
    ));
    let log = daemon.wait_log("configuration reloaded from", 1);
    assert!(
        !log.contains("restart"),
        "no restart for a new token:\n{log}"
    );
    assert_eq!(metrics_status(m, Some("old-token")), 401);
    assert_eq!(metrics_status(m, Some("new-token")), 200);

    // Only 10.0.0.1 may read now: loopback is refused even with the token.
    daemon.reload(&config_with_access(
        udp,
        management,
        r#"token "new-token"; allow { ip 10.0.0.1; }"#,
        &replying("C"),
    ));
    daemon.wait_log("configuration reloaded from", 2);
    assert_eq!(metrics_status(m, Some("new-token")), 403);
    // `/live` and `/ready` stay open to every client.
    assert_eq!(http(m, "GET", "/ready").unwrap().0, 200);

    // No token and the default allow list again: open to loopback.
    daemon.reload(&config(udp, management, "", &replying("D")));
    daemon.wait_log("configuration reloaded from", 3);
    assert_eq!(metrics_status(m, None), 200);
}

#[test]
fn the_logging_section_sets_the_file_the_format_and_the_level_and_the_command_line_wins() {
    let (udp, management) = (free_udp_port(), free_tcp_port());
    let logging = r#"logging { level debug; format json; file "app.log"; }"#;
    let execute = format!("debug \"handled at debug level\";\n{}", replying("A"));
    let daemon = Daemon::start_with(&config(udp, management, logging, &execute), management, &[]);
    let file = daemon.dir.path().join("app.log");
    let lines = || std::fs::read_to_string(&file).unwrap_or_default();
    let log = lines();
    assert!(
        log.contains("ready"),
        "the log file has the start-up lines:\n{log}"
    );
    for line in log.lines() {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(parsed.is_ok(), "not a JSON line: {line}");
    }
    assert!(
        !daemon.log().contains("ready"),
        "logs went to the file, not to stderr:\n{}",
        daemon.log()
    );
    // The level is debug: the policy's `debug` line is logged.
    ask(udp).expect("answers");
    let deadline = Instant::now() + WAIT;
    while !lines().contains("handled at debug level") {
        assert!(Instant::now() < deadline, "no debug line:\n{}", lines());
        std::thread::sleep(Duration::from_millis(50));
    }
    // A changed section is not applied by SIGHUP, and the log says so.
    daemon.reload(&config(udp, management, "", &replying("B")));
    let deadline = Instant::now() + WAIT;
    while !lines().contains("the `logging` section changed") {
        assert!(Instant::now() < deadline, "no warning:\n{}", lines());
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(daemon);

    // The command line wins over the section.
    let (udp, management) = (free_udp_port(), free_tcp_port());
    let logging = r#"logging { format json; file "app.log"; }"#;
    let daemon = Daemon::start_with(
        &config(udp, management, logging, "accept;"),
        management,
        &["--log-format", "text"],
    );
    let log = std::fs::read_to_string(daemon.dir.path().join("app.log")).unwrap();
    assert!(log.contains("ready"), "{log}");
    assert!(
        log.lines().all(|l| !l.starts_with('{')),
        "text lines, as the command line says:\n{log}"
    );
    drop(daemon);

    // A file that cannot be opened stops the start with a clear error.
    let dir = tempfile::tempdir().unwrap();
    let (udp, management) = (free_udp_port(), free_tcp_port());
    let conf = dir.path().join("boomerang.conf");
    std::fs::write(
        &conf,
        config(
            udp,
            management,
            r#"logging { format json; file "no/such/dir/app.log"; }"#,
            "accept;",
        ),
    )
    .unwrap();
    let child = Command::new(BIN)
        .args(["run", "-c"])
        .arg(&conf)
        .args(["--log-format", "text"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = output_bounded(child, WAIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot open the log file") && stderr.contains("no/such/dir/app.log"),
        "{stderr}"
    );
}

/// A reload that restarts in process (here: new management limits) closes the NAS
/// connections; the NAS reconnects, and its new connection gets a number the process
/// has not used, never one of the previous run's (a `connection.id` kept from
/// before, in a database say, must not name another NAS's connection).
#[test]
fn connections_after_an_in_process_restart_are_numbered_on_from_the_previous_run() {
    use e2e_support::{Ports, adapt_config};
    let ports = Ports::pick();
    let conf = adapt_config("config/examples/http-trigger/boomerang.conf", ports);
    let server = Daemon::start(&conf, ports.management);
    let certs = server.dir.path().join("certs");
    let mut nas = Command::new(BIN)
        .args(["client", "--reverse", "--transport", "tls", "--server"])
        .arg(format!("127.0.0.1:{}", ports.radsec))
        .arg("--ca")
        .arg(certs.join("ca.pem"))
        .arg("--cert")
        .arg(certs.join("client-nas1.pem"))
        .arg("--key")
        .arg(certs.join("client-nas1.key"))
        .args(["--nas-identifier", "nas1", "--server-name", "localhost"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let before = connections_when(&server, |l| l.len() == 1 && l[0].2 == "nas1");
    let limited = conf.replacen(
        &format!("port {};", ports.management),
        &format!(
            "port {};\n        limits {{ connections 100; per_source 50; }}",
            ports.management
        ),
        1,
    );
    assert_ne!(limited, conf);
    server.reload(&limited);
    server.wait_log("the management listener changed: restarting", 1);
    server.wait_log("configuration reloaded from", 1);
    let after = connections_when(&server, |l| l.len() == 1 && l[0].2 == "nas1");
    let _ = nas.kill();
    let _ = nas.wait();
    assert!(
        after[0].0 > before[0].0,
        "the reconnected NAS got number {} after {}:\n{}",
        after[0].0,
        before[0].0,
        server.log()
    );
}
