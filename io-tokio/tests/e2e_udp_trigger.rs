//! UDP-triggered reverse CoA through the real binary: radclient → boomerang → a NAS
//! (`boomerang client --reverse`) over RadSec, and back.

mod e2e_support;

use e2e_support::*;

const EXAMPLE: &str = "config/examples/udp-trigger/boomerang.conf";

#[test]
fn udp_trigger_is_relayed_to_the_nas_and_its_ack_comes_back() {
    let Some(radclient) = radclient() else { return };
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(EXAMPLE, ports), ports);
    let nas = server.nas("radiator-nas-simulator", &["--count", "1"]);
    server.wait_for_nas("radiator-nas-simulator");
    let out = radclient_disconnect(
        &radclient,
        ports.udp,
        "trigger-secret",
        "User-Name = \"mikem\", NAS-Identifier = \"radiator-nas-simulator\"\n",
        5,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "radclient failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Received Disconnect-ACK"), "{stdout}");
    // The NAS answered one request and exits 0 (--count 1); it saw User-Name.
    let nas = output_bounded(nas, WAIT);
    assert!(nas.status.success());
    let nas_out = String::from_utf8_lossy(&nas.stdout);
    assert!(nas_out.contains("\"User-Name\":\"mikem\""), "{nas_out}");
    assert!(nas_out.contains("Disconnect-ACK"), "{nas_out}");
}

#[test]
fn udp_trigger_without_a_connected_nas_gets_no_reply() {
    let Some(radclient) = radclient() else { return };
    let ports = Ports::pick();
    let _server = Server::start(&adapt_config(EXAMPLE, ports), ports);
    let out = radclient_disconnect(
        &radclient,
        ports.udp,
        "trigger-secret",
        "User-Name = \"mikem\", NAS-Identifier = \"nobody\"\n",
        1,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(!stdout.contains("Received"), "{stdout}");
}

#[test]
fn default_config_naks_with_error_cause_502_when_no_nas_is_connected() {
    let Some(radclient) = radclient() else { return };
    let ports = Ports::pick();
    let _server = Server::start(&adapt_config("config/default.conf", ports), ports);
    let out = radclient_disconnect(
        &radclient,
        ports.udp,
        "boomerang-trigger",
        "User-Name = \"bob\", NAS-Identifier = \"nas1\"\n",
        5,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Received Disconnect-NAK"), "{stdout}");
    assert!(
        stdout.contains("Request-Not-Routable") || stdout.contains("Error-Cause = 502"),
        "502 (Request-Not-Routable; FreeRADIUS names it Proxy-Request-Not-Routable): {stdout}"
    );
    assert!(stdout.contains("Error-Cause"), "{stdout}");
}

#[test]
/// radclient adds a Message-Authenticator, computed with the wrong secret: that is
/// what fails first.
fn a_trigger_with_the_wrong_secret_is_dropped_and_counted() {
    let Some(radclient) = radclient() else { return };
    let ports = Ports::pick();
    let server = Server::start(&adapt_config(EXAMPLE, ports), ports);
    let out = radclient_disconnect(
        &radclient,
        ports.udp,
        "wrong-secret",
        "User-Name = \"mikem\", NAS-Identifier = \"radiator-nas-simulator\", Message-Authenticator = 0x00\n",
        1,
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Received"));
    let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
    assert!(
        metrics.contains(
            r#"radius_dropped_total{server="RADIUS_UDP",reason="bad_message_authenticator"} 1"#
        ),
        "{metrics}"
    );
}
