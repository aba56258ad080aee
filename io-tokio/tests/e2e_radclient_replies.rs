//! Interop on every reply type: FreeRADIUS's `radclient` sends each request type it
//! can send to the real `boomerang` binary, asks for a Message-Authenticator where it
//! can, and must verify the reply (its Response Authenticator and its
//! Message-Authenticator): exit status 0 and no "verification failed" on stderr.
//!
//! - Access-Request with PAP → Access-Accept (right password) and Access-Reject;
//!   Access-Challenge from a policy that sets the reply code.
//! - Accounting-Request → Accounting-Response (FreeRADIUS computes the
//!   Message-Authenticator of an Accounting-Response over 16 zero octets, not the
//!   request's authenticator).
//! - Status-Server → its Access-Accept.
//! - CoA-Request and Disconnect-Request → ACK and NAK, relayed by the udp-trigger
//!   example to a NAS (`boomerang client --reverse`) connected over RadSec.

mod e2e_support;

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use e2e_support::*;

const EXAMPLE: &str = "config/examples/udp-trigger/boomerang.conf";
const SECRET: &str = "trigger-secret";

/// The udp-trigger example plus a UDP server for authentication and accounting
/// whose policy answers every kind of reply radclient can verify.
fn config(ports: Ports, aaa_port: u16) -> String {
    let mut text = adapt_config(EXAMPLE, ports);
    text.push_str(&format!(
        r#"
servers {{
    radius "AAA_UDP" {{
        listen {{
            protocol udp;
            port {aaa_port};
            ip 127.0.0.1;
        }}
        clients "LOCAL_CLIENTS";
    }}
}}

aaa {{
    policy "AAA" {{
        conditions all {{
            radius.server == "AAA_UDP";
        }}
        handler "ACCOUNTING" {{
            conditions all {{
                radius.request.code == radius.ACCOUNTING_REQUEST;
            }}
            @execute {{
                accept;
            }}
        }}
        handler "CHALLENGE" {{
            conditions all {{
                radius.request.attr.User-Name == "challenge";
            }}
            @execute {{
                modify radius.reply.code = radius.ACCESS_CHALLENGE;
                modify radius.reply.attr.State = "round-1";
                accept "enter the code";
            }}
        }}
        handler "PAP" {{
            @execute {{
                if all {{
                    radius.request.attr.User-Password == "right";
                }} then {{
                    accept;
                }} else {{
                    reject "wrong password";
                }}
            }}
        }}
    }}
}}
"#
    ));
    text
}

/// Run radclient once (`-x`, one try) with `attrs` on stdin.
fn radclient_send(radclient: &std::path::Path, port: u16, kind: &str, attrs: &str) -> Output {
    let mut child = Command::new(radclient)
        .args(["-x", "-r", "1", "-t", "5"])
        .arg(format!("127.0.0.1:{port}"))
        .args([kind, SECRET])
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

/// radclient's pseudo-attribute naming the reply code it is to expect (without it,
/// anything but an ACK or Access-Accept makes it exit non-zero).
fn expect(code: &str) -> String {
    format!("Response-Packet-Type = {code}")
}

/// The reply verified and has the expected code: radclient says nothing about a
/// failed verification, stdout names `expected`, and the exit status is `exit_ok`
/// when given (radclient's status for a reject or a NAK is not about verification).
#[track_caller]
fn assert_verified(out: &Output, expected: &str, exit_ok: Option<bool>) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!all.contains("verification failed"), "{all}");
    assert!(!all.contains("invalid Message-Authenticator"), "{all}");
    assert!(
        stdout.contains(&format!("Received {expected}")),
        "expected {expected}: {all}"
    );
    if let Some(ok) = exit_ok {
        assert_eq!(out.status.success(), ok, "exit status: {all}");
    }
}

#[test]
fn radclient_verifies_every_reply_type() {
    let Some(radclient) = radclient() else { return };
    let ports = Ports::pick();
    let aaa_port = free_udp_port();
    let server = Server::start(&config(ports, aaa_port), ports);
    let mut nas = server.nas(
        "radiator-nas-simulator",
        &["--nak-for", "User-Name=naughty", "--exit-after", "60s"],
    );
    server.wait_for_nas("radiator-nas-simulator");

    let ma = "Message-Authenticator = 0x00";

    // Access-Request (PAP) → Access-Accept and Access-Reject.
    let out = radclient_send(
        &radclient,
        aaa_port,
        "auth",
        &format!("User-Name = \"alice\", User-Password = \"right\", {ma}\n"),
    );
    assert_verified(&out, "Access-Accept", Some(true));
    let out = radclient_send(
        &radclient,
        aaa_port,
        "auth",
        &format!(
            "User-Name = \"alice\", User-Password = \"wrong\", {ma}, {}\n",
            expect("Access-Reject")
        ),
    );
    assert_verified(&out, "Access-Reject", Some(true));

    // Access-Challenge.
    let out = radclient_send(
        &radclient,
        aaa_port,
        "auth",
        &format!(
            "User-Name = \"challenge\", User-Password = \"x\", {ma}, {}\n",
            expect("Access-Challenge")
        ),
    );
    assert_verified(&out, "Access-Challenge", Some(true));

    // Accounting-Request → Accounting-Response (fails before the fix: FreeRADIUS
    // verifies its Message-Authenticator over zeros).
    let out = radclient_send(
        &radclient,
        aaa_port,
        "acct",
        &format!(
            "User-Name = \"alice\", Acct-Status-Type = Start, Acct-Session-Id = \"s1\", {ma}\n"
        ),
    );
    assert_verified(&out, "Accounting-Response", Some(true));

    // Status-Server → Access-Accept.
    let out = radclient_send(&radclient, aaa_port, "status", &format!("{ma}\n"));
    assert_verified(&out, "Access-Accept", Some(true));

    // CoA and Disconnect through the NAS connected over RadSec: ACK and NAK.
    let nas_id = "NAS-Identifier = \"radiator-nas-simulator\"";
    for (kind, ack, nak) in [
        ("coa", "CoA-ACK", "CoA-NAK"),
        ("disconnect", "Disconnect-ACK", "Disconnect-NAK"),
    ] {
        let out = radclient_send(
            &radclient,
            ports.udp,
            kind,
            &format!("User-Name = \"mikem\", {nas_id}, {ma}\n"),
        );
        assert_verified(&out, ack, Some(true));
        let out = radclient_send(
            &radclient,
            ports.udp,
            kind,
            &format!("User-Name = \"naughty\", {nas_id}, {ma}, {}\n", expect(nak)),
        );
        assert_verified(&out, nak, Some(true));
    }
    let _ = nas.kill();
    let _ = nas.wait();
}
