//! `boomerang client`: a RADIUS client and NAS emulator built directly on the core codec,
//! the dictionary and the TLS layer (no engine, no configuration file).
//!
//! Two modes:
//! - one request: send a request over UDP, RADIUS/TCP or RadSec, verify the reply, print
//!   it, and exit 0 (positive answer), 1 (negative answer) or 2 (no answer or error);
//! - `--reverse`: behave like a NAS that keeps a TCP/TLS connection to the server, sends
//!   Status-Server watchdogs and answers the CoA-Request and Disconnect-Request the server
//!   sends down that connection (reverse dynamic authorization).

pub(crate) mod attrs;
pub(crate) mod net;
pub(crate) mod oneshot;
mod reverse;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};

use boomerang_core::contract::Transport;
use boomerang_core::eval::convert::parse_duration;
use boomerang_core::radius::code::Code;
use boomerang_core::radius::dictionary::Dictionary;
use boomerang_core::radius::error::PasswordError;
use boomerang_core::radius::error::{AuthError, DecodeError, EncodeError, FramingError};

use crate::config_files::FsDictionarySource;
use crate::tls::{self, ClientTlsSettings, HandshakeError, TlsConfigError};

pub use attrs::{AttrError, AttrText};

/// Exit status for a positive answer (Access-Accept, Accounting-Response, *-ACK).
pub const EXIT_POSITIVE: u8 = 0;
/// Exit status for a negative answer (Access-Reject, *-NAK, Access-Challenge,
/// Protocol-Error).
pub const EXIT_NEGATIVE: u8 = 1;
/// Exit status when there is no usable answer: timeout, bad reply, or any other error.
pub const EXIT_ERROR: u8 = 2;

/// Arguments of `boomerang client`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 Access-Accept, Accounting-Response, CoA-ACK or Disconnect-ACK; \
                  1 Access-Reject, CoA-NAK, Disconnect-NAK, Access-Challenge or Protocol-Error; \
                  2 no answer (timeout) or any error. With --reverse: 0 after --count or \
                  --exit-after, 2 on a setup error.\n\n\
                  Examples:\n  \
                  boomerang client --secret s3cret access-request User-Name=alice User-Password=pw\n  \
                  boomerang client --server 192.0.2.1 --secret s3cret disconnect-request User-Name=alice\n  \
                  boomerang client --reverse --transport tls --server radsec.example:2083 \\\n      \
                  --ca ca.pem --cert nas.pem --key nas.key --nas-identifier nas1"
)]
pub struct ClientArgs {
    /// The request to send: access-request, accounting-request, coa-request,
    /// disconnect-request, status-server (also auth, acct, coa, disconnect, status, a
    /// code number, or any spelling like `CoA-Request`). Not used with --reverse.
    #[arg(value_name = "CODE", required_unless_present = "reverse")]
    pub code: Option<String>,
    /// Attributes to send, `Name=value` (names as in the dictionary, any case; values
    /// by the attribute's type: named values, addresses, `0x…` for octets). With
    /// --reverse they are added to every Status-Server.
    #[arg(value_name = "NAME=VALUE")]
    pub attributes: Vec<String>,
    /// Read more attributes from FILE (`-` for stdin), radclient style: one
    /// `Name = value` per line, values optionally in double quotes.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<String>,
    /// The server, `HOST[:PORT]`. Default 127.0.0.1; the port defaults to 2083 on tls,
    /// otherwise by code: 1812 (access, status), 1813 (accounting), 3799 (CoA,
    /// Disconnect).
    #[arg(short = 's', long, value_name = "HOST[:PORT]")]
    pub server: Option<String>,
    /// Transport to use.
    #[arg(
        short = 't',
        long,
        default_value_t = Transport::Udp,
        value_parser = PossibleValuesParser::new(["udp", "tcp", "tls"])
            .try_map(|s| s.parse::<Transport>()),
    )]
    pub transport: Transport,
    /// The shared secret (default `radsec` on tls; required otherwise).
    #[arg(long, value_name = "SECRET")]
    pub secret: Option<String>,
    /// How long to wait for the reply (per attempt on UDP), and bound on connecting and
    /// the TLS handshake: `3s`, `500ms`, `1m`; a bare number is seconds.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_cli_duration)]
    pub timeout: Duration,
    /// Retransmissions on UDP when no reply arrives (same identifier and authenticator).
    /// Streams never retransmit (RFC 6613).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub retries: u32,
    /// CA certificate(s) the server certificate must chain to (tls; required).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Our client certificate (chain), PEM, for mutual TLS.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The private key of --cert, PEM.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Password of an encrypted --key.
    #[arg(long, value_name = "PASSWORD", requires = "key")]
    pub key_password: Option<String>,
    /// Name the server certificate must carry (default: the host of --server).
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
    /// Extra dictionary file (FreeRADIUS format) loaded over the built-in one; repeatable.
    #[arg(long = "dictionary", value_name = "FILE")]
    pub dictionaries: Vec<String>,
    /// Print the reply as one JSON object instead of `Name = value` lines.
    #[arg(long)]
    pub json: bool,
    /// Do not add Event-Timestamp to CoA-Request and Disconnect-Request.
    #[arg(long)]
    pub no_event_timestamp: bool,
    /// Treat a reply without Message-Authenticator as invalid (one that has one is
    /// always checked).
    #[arg(long)]
    pub require_message_authenticator: bool,

    /// NAS mode: stay connected (tcp or tls), send Status-Server, and answer the requests
    /// the server sends down the connection. Prints one JSON line per event.
    #[arg(long)]
    pub reverse: bool,
    /// Interval between Status-Server watchdogs (--reverse); the first is sent at once.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_cli_duration)]
    pub status_interval: Duration,
    /// NAS-Identifier to put in every Status-Server (--reverse).
    #[arg(long, value_name = "ID")]
    pub nas_identifier: Option<String>,
    /// Answer every CoA-Request / Disconnect-Request with a NAK (--reverse).
    #[arg(long)]
    pub nak: bool,
    /// NAK only the requests carrying this attribute value (--reverse); repeatable, any
    /// one matching is enough.
    #[arg(long = "nak-for", value_name = "NAME=VALUE")]
    pub nak_for: Vec<String>,
    /// Error-Cause of NAKs (--reverse): a name or number.
    #[arg(
        long,
        value_name = "CAUSE",
        default_value = "Session-Context-Not-Found"
    )]
    pub error_cause: String,
    /// Wait this long before answering each request (--reverse).
    #[arg(long, value_name = "DURATION", value_parser = parse_cli_duration)]
    pub delay: Option<Duration>,
    /// Exit 0 after answering this many requests (--reverse).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Exit 0 after this long (--reverse).
    #[arg(long, value_name = "DURATION", value_parser = parse_cli_duration)]
    pub exit_after: Option<Duration>,
    /// Also print Status-Server exchanges and discarded packets (--reverse).
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

/// A duration on the command line: a bare number is seconds (as radclient's `-t`),
/// otherwise the configuration language's units (`500ms`, `3s`, `1m30s`).
pub fn parse_cli_duration(text: &str) -> Result<Duration, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| e.to_string());
    }
    parse_duration(text).map_err(|e| e.to_string())
}

/// Parses the CODE argument: a request code by name, radclient's short names, or a number.
pub fn parse_code(text: &str) -> Result<Code, ClientError> {
    let code = match text.to_ascii_lowercase().as_str() {
        "auth" | "access" => Some(Code::AccessRequest),
        "acct" | "accounting" => Some(Code::AccountingRequest),
        "coa" => Some(Code::CoaRequest),
        "disconnect" | "pod" => Some(Code::DisconnectRequest),
        "status" => Some(Code::StatusServer),
        _ => Code::from_name(text).or_else(|| text.parse::<u8>().ok().map(Code::from_u8)),
    };
    match code {
        Some(c) if c.is_request() => Ok(c),
        _ => Err(ClientError::BadCode(text.to_string())),
    }
}

/// The port a request goes to when `--server` names none.
pub fn default_port(code: Code, transport: Transport) -> u16 {
    if transport == Transport::Tls {
        return 2083;
    }
    match code {
        Code::AccountingRequest => 1813,
        Code::CoaRequest | Code::DisconnectRequest => 3799,
        _ => 1812,
    }
}

/// Everything that can stop `boomerang client`.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// CODE is not a request code.
    #[error(
        "`{0}` is not a request code (access-request, accounting-request, coa-request, disconnect-request, status-server, or a number)"
    )]
    BadCode(String),
    /// Neither --secret nor a transport default.
    #[error("--secret is required on {0} (only tls has a default, `radsec`)")]
    MissingSecret(&'static str),
    /// TLS without a CA to check the server against.
    #[error(
        "--transport tls needs --ca FILE: the CA certificate the server's certificate chains to"
    )]
    MissingCa,
    /// --reverse over UDP.
    #[error(
        "--reverse needs --transport tcp or tls: the server sends its requests down our connection"
    )]
    ReverseNeedsStream,
    /// --server is not `HOST[:PORT]`.
    #[error("--server `{0}` is not HOST, HOST:PORT or [IPv6]:PORT")]
    BadServer(String),
    /// The host name did not resolve.
    #[error("cannot resolve `{host}`: {source}")]
    Resolve {
        /// The host.
        host: String,
        /// What the resolver said.
        source: std::io::Error,
    },
    /// An attributes file could not be read.
    #[error("cannot read {path}: {source}")]
    ReadFile {
        /// The file (`stdin` for `-`).
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Attribute text is wrong.
    #[error(transparent)]
    Attribute(#[from] AttrError),
    /// A --dictionary file did not load; every problem is listed.
    #[error("{}", .0.join("\n"))]
    Dictionary(Vec<String>),
    /// --error-cause is neither a number nor an Error-Cause name.
    #[error("--error-cause `{0}` is not an Error-Cause number or name")]
    BadErrorCause(String),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    TlsConfig(#[from] TlsConfigError),
    /// The request could not be encoded (too long, …).
    #[error("cannot encode the request: {0}")]
    Encode(#[from] EncodeError),
    /// A password could not be hidden.
    #[error("cannot hide the password: {0}")]
    Password(#[from] PasswordError),
    /// The operating system's random generator failed.
    #[error("the operating system's random generator failed")]
    Random,
    /// A local socket could not be opened.
    #[error("cannot open a UDP socket: {0}")]
    Bind(std::io::Error),
    /// TCP connect failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The server.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// TCP connect took too long.
    #[error("cannot connect to {addr}: no answer within {timeout:?}")]
    ConnectTimeout {
        /// The server.
        addr: SocketAddr,
        /// The bound.
        timeout: Duration,
    },
    /// The TLS handshake failed.
    #[error(transparent)]
    Handshake(HandshakeError),
    /// Sending or receiving failed.
    #[error("{0}")]
    Io(std::io::Error),
    /// No reply in time.
    #[error("no reply from {addr} after {attempts} attempt(s) of {timeout:?}")]
    Timeout {
        /// The server.
        addr: SocketAddr,
        /// How many times the request was sent.
        attempts: u32,
        /// The wait after each.
        timeout: Duration,
    },
    /// The server closed the connection before replying.
    #[error("the server closed the connection without replying")]
    Closed,
    /// The stream carried a packet with an impossible Length.
    #[error("bad packet framing from the server: {0}")]
    Framing(#[from] FramingError),
    /// The reply is not a RADIUS packet.
    #[error("malformed reply: {0}")]
    Malformed(#[from] DecodeError),
    /// The reply's code does not answer the request.
    #[error("a {reply} cannot answer a {request}")]
    WrongReplyCode {
        /// The reply's code.
        reply: String,
        /// The request's code.
        request: String,
    },
    /// The reply failed verification (wrong secret, or altered).
    #[error("invalid reply ({code}): {source}")]
    Verify {
        /// The reply's code.
        code: String,
        /// What failed.
        source: AuthError,
    },
}

/// The name of a code for messages and output: `Access-Accept`, or `Code-99`.
pub fn code_name(code: Code) -> String {
    code.name()
        .map(str::to_string)
        .unwrap_or_else(|| format!("Code-{}", code.as_u8()))
}

/// The dictionary: the built-in one plus every --dictionary file.
fn load_dictionary(files: &[String]) -> Result<Dictionary, ClientError> {
    let mut dict = Dictionary::builtin().clone();
    let mut problems = Vec::new();
    for file in files {
        if let Err(errors) = dict.load(file, &mut FsDictionarySource) {
            problems.extend(errors.iter().map(ToString::to_string));
        }
    }
    if problems.is_empty() {
        Ok(dict)
    } else {
        Err(ClientError::Dictionary(problems))
    }
}

/// Every attribute from the command line, then from each -f file in order.
fn gather_attributes(args: &[String], files: &[String]) -> Result<Vec<AttrText>, ClientError> {
    let mut out = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        out.push(
            attrs::parse_argument(arg, &format!("argument `{arg}`")).map_err(|e| match e {
                AttrError::Syntax { message, .. } => AttrError::Syntax {
                    origin: format!("argument {}", i + 1),
                    message,
                },
                other => other,
            })?,
        );
    }
    for file in files {
        let (name, text) = if file == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|source| {
                ClientError::ReadFile {
                    path: "stdin".into(),
                    source,
                }
            })?;
            ("stdin".to_string(), text)
        } else {
            let text = std::fs::read_to_string(file).map_err(|source| ClientError::ReadFile {
                path: file.clone(),
                source,
            })?;
            (file.clone(), text)
        };
        out.extend(attrs::parse_text(&text, &name)?);
    }
    Ok(out)
}

/// The secret, from --secret or the transport's default.
fn secret(args: &ClientArgs) -> Result<Vec<u8>, ClientError> {
    match (&args.secret, args.transport) {
        (Some(s), _) => Ok(s.as_bytes().to_vec()),
        (None, Transport::Tls) => Ok(b"radsec".to_vec()),
        (None, t) => Err(ClientError::MissingSecret(t.name())),
    }
}

/// The stream connector for tcp/tls (None on udp).
fn connector(args: &ClientArgs, host: &str) -> Result<Option<net::StreamConnector>, ClientError> {
    let tls = match args.transport {
        Transport::Udp => return Ok(None),
        Transport::Tcp => None,
        Transport::Tls => {
            let ca = args.ca.clone().ok_or(ClientError::MissingCa)?;
            let name = args.server_name.clone().unwrap_or_else(|| host.to_string());
            let mut settings = ClientTlsSettings::new(ca, name);
            settings.certificate_chain_path = args.cert.clone();
            settings.key_path = args.key.clone();
            settings.key_password = args.key_password.clone();
            let config = settings.build_config()?;
            Some((tls::connector(config), settings.server_name()?))
        }
    };
    Ok(Some(net::StreamConnector {
        tls,
        timeout: args.timeout,
    }))
}

/// Run `boomerang client`; the exit code says how it went (see [`EXIT_POSITIVE`] and
/// friends).
pub fn run(args: ClientArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let result = if args.reverse {
        runtime.block_on(reverse::run(&args))
    } else {
        runtime.block_on(oneshot::run(&args))
    };
    match result {
        Ok(status) => ExitCode::from(status),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_by_name_alias_and_number() {
        assert_eq!(parse_code("access-request").unwrap(), Code::AccessRequest);
        assert_eq!(
            parse_code("Disconnect-Request").unwrap(),
            Code::DisconnectRequest
        );
        assert_eq!(parse_code("COA_REQUEST").unwrap(), Code::CoaRequest);
        assert_eq!(parse_code("acct").unwrap(), Code::AccountingRequest);
        assert_eq!(parse_code("status").unwrap(), Code::StatusServer);
        assert_eq!(parse_code("40").unwrap(), Code::DisconnectRequest);
        assert!(parse_code("access-accept").is_err());
        assert!(parse_code("2").is_err());
        assert!(parse_code("99").is_err());
        assert!(parse_code("bogus").is_err());
    }

    #[test]
    fn ports_default_by_code_and_transport() {
        assert_eq!(default_port(Code::AccessRequest, Transport::Udp), 1812);
        assert_eq!(default_port(Code::StatusServer, Transport::Tcp), 1812);
        assert_eq!(default_port(Code::AccountingRequest, Transport::Udp), 1813);
        assert_eq!(default_port(Code::DisconnectRequest, Transport::Udp), 3799);
        assert_eq!(default_port(Code::CoaRequest, Transport::Tcp), 3799);
        assert_eq!(default_port(Code::CoaRequest, Transport::Tls), 2083);
    }

    #[test]
    fn cli_durations_take_bare_seconds_and_units() {
        assert_eq!(parse_cli_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(
            parse_cli_duration("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            parse_cli_duration("1m30s").unwrap(),
            Duration::from_secs(90)
        );
        assert!(parse_cli_duration("3 s").is_err());
        assert!(parse_cli_duration("").is_err());
    }
}
