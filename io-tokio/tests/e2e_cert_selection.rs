//! The select-by-certificate example through the real binary: two NAS processes with
//! different client certificates are connected, and a trigger naming one certificate's
//! common name (or, in variants of the example's commented alternatives, a subject
//! alternative name) reaches that NAS and never the other.

mod e2e_support;

use std::process::Child;

use boomerang_io_tokio::pki::ClientSpec;
use e2e_support::*;

const EXAMPLE: &str = "config/examples/select-by-certificate/boomerang.conf";
const CN_LINE: &str = "connection.cert.subject.cn == http.query.cn;";

fn clients() -> Vec<ClientSpec> {
    vec![
        ClientSpec {
            san_emails: vec![
                "alpha@demo.example".into(),
                "second-alpha@demo.example".into(),
            ],
            san_dns: vec!["alpha.demo.example".into()],
            san_uris: vec!["https://alpha.demo.example".into()],
            ..ClientSpec::new("nas-alpha")
        },
        ClientSpec {
            san_emails: vec!["beta@demo.example".into()],
            san_dns: vec!["beta.demo.example".into()],
            san_uris: vec!["https://beta.demo.example".into()],
            ..ClientSpec::new("nas-beta")
        },
    ]
}

/// Kill a NAS that is still running and return its stdout.
fn stdout_of(mut nas: Child) -> String {
    let _ = nas.kill();
    let out = nas.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Start the server with the example adapted by `edit`, connect both NAS, POST
/// `target_for(who, user)` for each NAS in turn and for nobody, and check that each
/// NAS saw only its own request.
fn run(edit: impl Fn(String) -> String, target_for: impl Fn(&str, &str) -> String) {
    let ports = Ports::pick();
    let config = adapt_config(EXAMPLE, ports);
    assert!(config.contains(CN_LINE), "the example selects by CN");
    let server = Server::start_with_clients(&edit(config), ports, &clients(), |_| {});
    let alpha = server.nas("nas-alpha", &["--exit-after", "20s"]);
    let beta = server.nas("nas-beta", &["--exit-after", "20s"]);
    server.wait_for_nas("nas-alpha");
    server.wait_for_nas("nas-beta");

    for (who, user) in [("alpha", "user-for-alpha"), ("beta", "user-for-beta")] {
        let (status, body) = http(server.http_addr(), "POST", &target_for(who, user)).unwrap();
        assert_eq!(status, 200, "{who}: {body}");
    }
    // Nobody matches: the example catches the error and rejects (reject → 403).
    let (status, body) = http(server.http_addr(), "POST", &target_for("gamma", "nobody")).unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("no available connections"), "{body}");

    let alpha_out = stdout_of(alpha);
    let beta_out = stdout_of(beta);
    assert!(
        alpha_out.contains("\"User-Name\":\"user-for-alpha\""),
        "{alpha_out}"
    );
    assert!(!alpha_out.contains("user-for-beta"), "{alpha_out}");
    assert!(!alpha_out.contains("nobody"), "{alpha_out}");
    assert!(
        beta_out.contains("\"User-Name\":\"user-for-beta\""),
        "{beta_out}"
    );
    assert!(!beta_out.contains("user-for-alpha"), "{beta_out}");
    assert!(!beta_out.contains("nobody"), "{beta_out}");
}

#[test]
fn trigger_reaches_only_the_nas_whose_certificate_cn_matches() {
    run(
        |c| c,
        |who, user| format!("/disconnect?cn=nas-{who}&username={user}"),
    );
}

#[test]
fn trigger_reaches_only_the_nas_whose_first_san_email_matches() {
    run(
        |c| {
            c.replace(
                CN_LINE,
                "connection.cert.subject_alt.email[0] == http.query.email;",
            )
        },
        |who, user| format!("/disconnect?email={who}@demo.example&username={user}"),
    );
}

#[test]
fn trigger_reaches_only_the_nas_whose_san_dns_and_uri_match() {
    run(
        |c| {
            c.replace(
                CN_LINE,
                "connection.cert.subject_alt.dns == http.query.dns;\n\
                 connection.cert.subject_alt.uri == http.query.uri;",
            )
        },
        |who, user| {
            format!(
                "/disconnect?dns={who}.demo.example&uri=https%3A%2F%2F{who}.demo.example&username={user}"
            )
        },
    );
}
