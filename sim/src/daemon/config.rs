//! The configuration the simulated server runs: `config/default.conf`'s reverse CoA
//! setup (RadSec for NAS devices, UDP and HTTP triggers relayed to the NAS named in the
//! trigger) with the simulated hosts' addresses and the simulated PKI's files.

use std::path::Path;

use boomerang_core::lang::program::Program;
use boomerang_io_tokio::config_files::load_and_compile;

use crate::pki::SimPki;

/// The port NAS devices connect to (RadSec).
pub const RADSEC_PORT: u16 = 2083;
/// The port NAS devices connect to over plain RADIUS/TCP.
pub const TCP_PORT: u16 = 1812;
/// The port UDP triggers go to.
pub const TRIGGER_PORT: u16 = 3799;
/// The port of the HTTP API.
pub const HTTP_PORT: u16 = 4000;
/// The secret of UDP triggers.
pub const TRIGGER_SECRET: &[u8] = b"boomerang-trigger";

/// How the reverse backends pick a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// As `config/default.conf`: the connection whose NAS-Identifier the trigger names.
    ByNasIdentifier,
    /// Deliberately wrong, to show the simulation catches it: any connection of the
    /// RadSec server, whatever NAS it belongs to.
    AnyConnection,
}

/// The server's configuration text, with certificate files from `pki`.
///
/// `retries` is the reverse servers' `retries`: how many more connections a request may
/// be tried on when the one it was sent on closes before the answer (`config/default.conf`
/// sets 1; see the regression seed in `sim/tests/daemon_worlds.rs` for why).
pub fn server_config(pki: &SimPki, selection: Selection, retries: u32) -> String {
    let f = &pki.files;
    let condition = |var: &str| match selection {
        Selection::ByNasIdentifier => format!(
            "if all {{ connection.status.nas_identifier == {var}; }} then {{ accept; }} else {{ reject; }}"
        ),
        Selection::AnyConnection => "accept;".to_owned(),
    };
    format!(
        r#"
certificates {{
    x509 "SERVER_CERT" {{ filename "{cert}"; }}
    key "SERVER_KEY" {{ filename "{key}"; }}
    x509 "DEV_CA" {{ filename "{ca}"; }}
}}
clients {{
    radius "NAS_DEVICES" {{
        client "ANY_NAS" {{ source {{ ip 0.0.0.0/0; }} secret "radsec"; }}
    }}
    radius "TRIGGER_CLIENTS" {{
        client "ANY" {{ source {{ ip 0.0.0.0/0; }} secret "boomerang-trigger"; }}
    }}
    http "API_CLIENTS" {{
        client "ANY" {{ source {{ ip 0.0.0.0/0; }} }}
    }}
}}
servers {{
    radius "RADSEC" {{
        listen {{
            protocol tls; ip 0.0.0.0; port {radsec}; timeout 0;
            tls {{
                certificate "SERVER_CERT"; certificate_key "SERVER_KEY";
                client_ca_certificate "DEV_CA"; require_client_certificate true;
            }}
        }}
        clients "NAS_DEVICES";
    }}
    radius "RADIUS_TCP" {{
        listen {{ protocol tcp; ip 0.0.0.0; port {tcp}; timeout 0; }}
        clients "NAS_DEVICES";
    }}
    radius "DYNAUTH_UDP" {{
        listen {{ protocol udp; ip 0.0.0.0; port {trigger}; }}
        clients "TRIGGER_CLIENTS";
    }}
    http "HTTP_API" {{
        listen {{ protocol tcp; ip 0.0.0.0; port {http}; }}
        clients "API_CLIENTS";
    }}
}}
backends {{
    radius "NAS_BY_REQUEST" {{
        server "REVERSE" {{
            retries {retries};
            reverse {{ @select {{ {by_request} }} }}
        }}
        query "PROXY" {{
            bindings {{
                radius.request.code = radius.request.code;
                radius.request.attrs = radius.request.attrs;
            }}
            mapping {{
                radius.reply.code = radius.reply.code;
                radius.reply.attrs = radius.reply.attrs;
            }}
        }}
    }}
    radius "NAS_BY_QUERY" {{
        server "REVERSE" {{
            retries {retries};
            reverse {{ @select {{ {by_query} }} }}
        }}
        query "DISCONNECT" {{
            bindings {{
                radius.request.code = radius.DISCONNECT_REQUEST;
                radius.request.attr.User-Name = http.query.username;
                radius.request.attr.Acct-Session-Id = http.query.session;
            }}
            mapping {{ vars.reply_code = radius.reply.code; }}
        }}
    }}
}}
aaa {{
    policy "UDP_TRIGGERS" {{
        conditions all {{ radius.server == "DYNAUTH_UDP"; }}
        handler "RELAY" {{
            @execute {{
                try {{
                    backend {{ name "NAS_BY_REQUEST"; query "PROXY"; }}
                }} catch {{
                    if all {{ aaa.caught_error.code == errors.NO_REVERSE_CONNECTIONS; }} then {{
                        modify radius.reply.attr.Error-Cause = 502;
                        reject "NAS not connected";
                    }} else {{
                        reject "relay failed: %{{aaa.caught_error}}";
                    }}
                }}
            }}
        }}
    }}
    policy "HTTP_API" {{
        conditions all {{ http.server == "HTTP_API"; }}
        handler "DISCONNECT" {{
            conditions all {{ http.method == "POST"; http.path == "/disconnect"; }}
            @execute {{
                try {{
                    backend {{ name "NAS_BY_QUERY"; query "DISCONNECT"; }}
                }} catch {{
                    if all {{ aaa.caught_error.code == errors.NO_REVERSE_CONNECTIONS; }} then {{
                        modify http.status = 404;
                        reject "NAS not connected";
                    }} else {{
                        modify http.status = 500;
                        reject "request failed: %{{aaa.caught_error}}";
                    }}
                }}
                if any {{ vars.reply_code == radius.DISCONNECT_ACK; }} then {{
                    accept;
                }} else {{
                    reject "the NAS answered %{{vars.reply_code}}";
                }}
            }}
        }}
    }}
}}
"#,
        cert = f.server_certificate.display(),
        key = f.server_key.display(),
        ca = f.ca_certificate.display(),
        radsec = RADSEC_PORT,
        tcp = TCP_PORT,
        trigger = TRIGGER_PORT,
        http = HTTP_PORT,
        by_request = condition("radius.request.attr.NAS-Identifier"),
        by_query = condition("http.query.nas_identifier"),
    )
}

/// Why the server's configuration could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Writing the file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The configuration has errors (a bug in this module).
    #[error("the simulated server's configuration does not compile:\n{0}")]
    Compile(String),
}

/// Write the server's configuration into `dir` and compile it (before the world runs:
/// no file access inside a world).
pub fn compile_server(
    dir: &Path,
    pki: &SimPki,
    selection: Selection,
    retries: u32,
) -> Result<Program, ConfigError> {
    let path = dir.join("server.conf");
    std::fs::write(&path, server_config(pki, selection, retries)).map_err(|source| {
        ConfigError::Write {
            path: path.display().to_string(),
            source,
        }
    })?;
    let name = path.display().to_string();
    let (loaded, compiled) = load_and_compile(&[name.as_str()]);
    match compiled.program {
        Some(program) => Ok(program),
        None => Err(ConfigError::Compile(boomerang_core::lang::render_all(
            &compiled.diagnostics,
            &loaded.sources,
        ))),
    }
}
