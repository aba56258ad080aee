//! The seeds' NAS simulator as the NAS: a second `boomerang run` with
//! `config/examples/nas-simulator` dials the server over RadSec (outbound `connect`
//! backend, Status-Server with its NAS-Identifier) and handles the Disconnect-Request
//! that a radclient trigger makes the server send down that connection, with its own
//! `listen { backend … }` server and policy.

mod e2e_support;

use std::io::Read;
use std::process::{Command, Stdio};

use e2e_support::*;

#[test]
fn nas_simulator_configuration_acts_as_the_nas_end_to_end() {
    let Some(radclient) = radclient() else { return };
    let ports = Ports::pick();
    let server = Server::start(
        &adapt_config("config/examples/udp-trigger/boomerang.conf", ports),
        ports,
    );
    // The NAS uses the same development PKI (its client certificate `nas1`, the CA).
    let nas_conf = adapt_config("config/examples/nas-simulator/boomerang.conf", ports)
        // `adapt_config` adds a management listener; the NAS keeps its own setting.
        .replace(
            &format!(
                "\nmanagement {{\n    listen {{\n        ip 127.0.0.1;\n        port {};\n    }}\n}}\n",
                ports.management
            ),
            "\n",
        );
    let nas_path = server.dir.path().join("nas.conf");
    std::fs::write(&nas_path, nas_conf).unwrap();
    let mut nas = Command::new(BIN)
        .current_dir(server.dir.path())
        .args(["run", "-c"])
        .arg(&nas_path)
        .args(["--log-level", "debug"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The server learns the NAS-Identifier from the simulator's Status-Server.
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

    // The simulator's DYNAUTH_POLICY ran: its debug line names the user.
    let _ = Command::new("kill")
        .args(["-TERM", &nas.id().to_string()])
        .status();
    let status = wait_bounded(&mut nas, WAIT).expect("NAS simulator exits after SIGTERM");
    let mut log = String::new();
    if let Some(mut e) = nas.stderr.take() {
        let _ = e.read_to_string(&mut log);
    }
    assert!(status.success(), "NAS simulator exit: {status}\n{log}");
    assert!(
        log.contains("Received Disconnect-Request for user mikem"),
        "the simulator's policy did not log the request:\n{log}"
    );
}
