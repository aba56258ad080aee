//! Outbound connections the engine asks for: `connect` backends over TCP and TLS (the
//! NAS side of reverse CoA, proxying and queries), and the UDP socket each UDP
//! `connect` server is reached from.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use boomerang_core::contract::Transport;
use boomerang_core::engine::Input;
use boomerang_core::engine::dialer::{AttemptId, ServerRef, Target};
use boomerang_core::lang::program::{BackendKind, ClientTls, Program, RadiusServerMode};
use bytes::Bytes;
use rustls_pki_types::ServerName;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;

use super::listeners::{Direction, Opening, run_connection};
use super::{Event, cert_path, tls_version};
use crate::net::{DatagramSocket, Net};
use crate::tls::{ClientTlsSettings, connector};

/// Largest datagram read from a backend server.
const UDP_BUFFER: usize = 65_535;

/// What a TLS connect needs: the connector and the name checked in the server's
/// certificate.
pub(super) type TlsClient = (TlsConnector, ServerName<'static>);

/// The `connect { tls { … } }` settings of a backend server, as a connector. `None` for
/// a server without TLS settings.
pub(super) fn client_tls(
    program: &Program,
    server: ServerRef,
    target: &Target,
) -> Result<Option<TlsClient>, String> {
    let backend = usize::try_from(server.backend.0)
        .ok()
        .and_then(|i| program.backends.get(i))
        .ok_or_else(|| format!("backend #{} does not exist", server.backend.0))?;
    let BackendKind::Radius(radius) = &backend.kind else {
        return Err(format!(
            "backend `{}` is not a RADIUS backend",
            backend.name
        ));
    };
    let def = usize::try_from(server.server)
        .ok()
        .and_then(|i| radius.servers.get(i))
        .ok_or_else(|| {
            format!(
                "backend `{}` has no server #{}",
                backend.name, server.server
            )
        })?;
    let RadiusServerMode::Connect(connect) = &def.mode else {
        return Err(format!("server `{}` does not connect out", def.name));
    };
    let Some(tls) = &connect.tls else {
        return Ok(None);
    };
    let name = target
        .host
        .clone()
        .or_else(|| target.ip.map(|ip| ip.to_string()))
        .unwrap_or_default();
    let settings = client_settings(program, &def.name, tls, name).map_err(|e| e.to_string())?;
    let config = settings.build_config().map_err(|e| e.to_string())?;
    let server_name = settings.server_name().map_err(|e| e.to_string())?;
    Ok(Some((connector(config), server_name)))
}

fn client_settings(
    program: &Program,
    server: &str,
    tls: &ClientTls,
    server_name: String,
) -> Result<ClientTlsSettings, super::StartError> {
    let (ca, _) = cert_path(program, server, tls.server_ca_certificate, false)?;
    let mut settings = ClientTlsSettings::new(ca, server_name);
    if let Some(cert) = tls.certificate {
        settings.certificate_chain_path = Some(cert_path(program, server, cert, false)?.0.into());
    }
    if let Some(key) = tls.certificate_key {
        let (path, password) = cert_path(program, server, key, true)?;
        settings.key_path = Some(path.into());
        settings.key_password = password.map(str::to_owned);
    }
    settings.min_version = tls.min_version.map(tls_version);
    settings.max_version = tls.max_version.map(tls_version);
    Ok(settings)
}

/// The address of a target: its `ip`, or its `host` resolved through the system
/// resolver (the first address returned).
pub(super) async fn resolve(target: &Target) -> Result<SocketAddr, String> {
    if let Some(ip) = target.ip {
        return Ok(SocketAddr::new(ip, target.port));
    }
    let Some(host) = &target.host else {
        return Err("the server has neither `ip` nor `host`".to_owned());
    };
    let mut addrs = tokio::net::lookup_host((host.as_str(), target.port))
        .await
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?;
    addrs
        .next()
        .ok_or_else(|| format!("`{host}` resolves to no address"))
}

/// Connect to `target` (TCP, then TLS when `tls` is given), report the result to the
/// engine task and, once connected, serve the connection like an accepted one.
#[allow(clippy::too_many_arguments)]
pub(super) async fn connect<N: Net>(
    net: N,
    attempt: AttemptId,
    target: Arc<Target>,
    tls: Option<TlsClient>,
    timeout: Duration,
    write_queue: usize,
    events: mpsc::Sender<Event>,
) {
    let failed = |reason: String| Event::Input(Input::ConnectFailed { attempt, reason });
    let addr = match resolve(&target).await {
        Ok(addr) => addr,
        Err(reason) => {
            let _ = events.send(failed(reason)).await;
            return;
        }
    };
    let stream = match tokio::time::timeout(timeout, net.connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            let _ = events.send(failed(format!("connect to {addr}: {e}"))).await;
            return;
        }
        Err(_) => {
            let reason = format!("connect to {addr}: no answer within {timeout:?}");
            let _ = events.send(failed(reason)).await;
            return;
        }
    };
    let opening = |transport| Opening {
        direction: Direction::Dialed(attempt),
        peer: addr,
        transport,
    };
    match (target.protocol, tls) {
        (Transport::Tls, Some((connector, name))) => {
            match crate::tls::connect(&connector, name, stream, timeout).await {
                Ok((stream, _)) => {
                    run_connection(stream, opening(Transport::Tls), write_queue, events).await;
                }
                Err(e) => {
                    let _ = events.send(failed(format!("TLS with {addr}: {e}"))).await;
                }
            }
        }
        (Transport::Tls, None) => {
            let reason = "a `protocol tls` server needs `tls { server_ca_certificate … }`";
            let _ = events.send(failed(reason.to_owned())).await;
        }
        _ => {
            run_connection(stream, opening(Transport::Tcp), write_queue, events).await;
        }
    }
}

/// Receive what a UDP `connect` server sends back on the socket kept for it.
pub(super) async fn backend_udp_loop<D: DatagramSocket>(
    server: ServerRef,
    socket: Arc<D>,
    events: mpsc::Sender<Event>,
) {
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let data = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                let input = Input::BackendDatagram { server, from, data };
                if events.send(Event::Input(input)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!("backend UDP receive error: {e}");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}
