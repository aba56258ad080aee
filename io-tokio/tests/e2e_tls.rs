//! RadSec refusals through the real binary: client certificates the server must not
//! accept never become connections, and the server keeps serving.

mod e2e_support;

use e2e_support::*;

#[test]
fn untrusted_and_expired_client_certificates_are_refused() {
    let ports = Ports::pick();
    let server = Server::start(
        &adapt_config("config/examples/http-trigger/boomerang.conf", ports),
        ports,
    );
    let refused: Vec<_> = ["untrusted", "expired"]
        .iter()
        .map(|name| server.nas(name, &["--exit-after", "2s"]))
        .collect();
    for nas in refused {
        let _ = output_bounded(nas, WAIT);
    }
    let (_, metrics) = http(server.management(), "GET", "/metrics").unwrap();
    assert!(
        !metrics.contains("connections_total{server=\"RADSEC_SERVER\""),
        "{metrics}"
    );
    assert_eq!(
        http(server.management(), "GET", "/api/v1/connections")
            .unwrap()
            .1
            .trim(),
        "[]"
    );
    // A NAS with a good certificate still gets in.
    let good = server.nas("nas1", &["--count", "1"]);
    server.wait_for_nas("nas1");
    let (status, body) = http(
        server.http_addr(),
        "POST",
        "/disconnect?nas_identifier=nas1&username=bob",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(output_bounded(good, WAIT).status.success());
}
