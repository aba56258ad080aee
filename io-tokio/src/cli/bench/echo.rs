//! The echo server of `bench ceiling` (`boomerang bench echo-server`, hidden): accepts
//! TLS connections and answers every RADIUS-framed packet with a packet of
//! `--reply-size` octets carrying the same identifier and authenticator, and nothing
//! else: no decoding, no signing, no policy. It prints `listening ADDR` on stdout once
//! ready and exits when its stdin closes (its parent is gone).

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use boomerang_core::radius::framing::StreamDecoder;

use super::BenchError;
use crate::tls::{self, ServerTlsSettings};

/// Arguments of `bench echo-server`.
#[derive(Debug, Args)]
pub struct EchoArgs {
    /// Where to listen (port 0: any free port; the chosen address is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Server certificate (chain), PEM.
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// Its private key, PEM.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// CA that client certificates must chain to (then a client certificate is
    /// required, as on a RadSec listener).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Size of every answer, octets (at least 20).
    #[arg(long, value_name = "N", default_value_t = 38)]
    pub reply_size: usize,
    /// Worker threads.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Runs the echo server until stdin closes.
pub async fn run(args: EchoArgs) -> Result<(), BenchError> {
    let mut settings = ServerTlsSettings::new(&args.cert, &args.key);
    settings.client_ca_path = args.ca.clone();
    settings.require_client_certificate = args.ca.is_some();
    let acceptor = tls::acceptor(settings.build_config()?);
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(BenchError::Io)?;
    let addr = listener.local_addr().map_err(BenchError::Io)?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening {addr}");
        let _ = out.flush();
    }
    // The parent holds our stdin: when it goes, so do we.
    std::thread::spawn(|| {
        let mut line = String::new();
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read_line(&mut line), Ok(n) if n > 0) {
            line.clear();
        }
        std::process::exit(0);
    });
    let reply_size = args.reply_size.clamp(20, 4096);
    let acceptor = Arc::new(acceptor);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(_) => continue,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = Arc::clone(&acceptor);
        tokio::spawn(async move {
            if let Ok((stream, _)) = tls::accept(&acceptor, tcp, Duration::from_secs(10)).await {
                echo(stream, reply_size).await;
            }
        });
    }
}

/// Answers every packet on one connection; the answers to one read go out in one write.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(stream: S, reply_size: usize) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut decoder = StreamDecoder::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::with_capacity(16 * 1024);
    let len = u16::try_from(reply_size).unwrap_or(20).to_be_bytes();
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        decoder.push(buf.get(..n).unwrap_or_default());
        loop {
            match decoder.next_packet() {
                Ok(Some(p)) => {
                    let start = out.len();
                    out.resize(start + reply_size, 0);
                    let reply = &mut out[start..];
                    reply[0] = p.first().map_or(0, |c| c.wrapping_add(1));
                    reply[1] = p.get(1).copied().unwrap_or(0);
                    reply[2..4].copy_from_slice(&len);
                    if let (Some(dst), Some(src)) = (reply.get_mut(4..20), p.get(4..20)) {
                        dst.copy_from_slice(src);
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        if !out.is_empty() {
            if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
                return;
            }
            out.clear();
        }
    }
}
