//! `boomerang pki …`: development certificates for RadSec.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::pki::{ClientSpec, DevPki, DevPkiOptions};

/// Development PKI commands.
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create (or refresh) a development CA, a server certificate and client
    /// certificates. Valid existing files are kept.
    Dev(DevArgs),
}

/// Arguments of `boomerang pki dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Directory to write the PEM files into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// A client certificate to issue, by name (its CN); repeat for more.
    /// `NAME:email=a@b,dns=x.example,uri=https://x` adds subject alternative names.
    #[arg(long = "client", value_name = "SPEC", default_values_t = vec!["nas1".to_string()])]
    pub clients: Vec<String>,
    /// Extra DNS name or IP for the server certificate (localhost, 127.0.0.1 and ::1 are
    /// always included); repeat for more.
    #[arg(long = "server-name", value_name = "NAME")]
    pub server_names: Vec<String>,
    /// Also write `server-encrypted.key`, encrypted with this password.
    #[arg(long, value_name = "PASSWORD")]
    pub key_password: Option<String>,
    /// Regenerate everything, including the CA.
    #[arg(long)]
    pub force: bool,
}

/// Parse `NAME[:email=…,dns=…,uri=…]`.
fn parse_client(spec: &str) -> Result<ClientSpec, String> {
    let (name, sans) = spec.split_once(':').unwrap_or((spec, ""));
    let mut client = ClientSpec::new(name);
    for san in sans.split(',').filter(|s| !s.is_empty()) {
        let (kind, value) = san
            .split_once('=')
            .ok_or_else(|| format!("client `{name}`: `{san}` is not KIND=VALUE"))?;
        match kind {
            "email" => client.san_emails.push(value.to_string()),
            "dns" => client.san_dns.push(value.to_string()),
            "uri" => client.san_uris.push(value.to_string()),
            other => {
                return Err(format!(
                    "client `{name}`: unknown SAN kind `{other}` (email, dns, uri)"
                ));
            }
        }
    }
    Ok(client)
}

/// Run a `pki` command.
pub fn run(cmd: PkiCommand) -> ExitCode {
    let PkiCommand::Dev(args) = cmd;
    let clients: Result<Vec<_>, _> = args.clients.iter().map(|c| parse_client(c)).collect();
    let clients = match clients {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = DevPkiOptions {
        force: args.force,
        server_key_password: args.key_password,
    };
    match DevPki::generate_with(&args.out, &args.server_names, &clients, &options) {
        Ok(pki) => {
            for path in &pki.written {
                println!("wrote {}", path.display());
            }
            for path in &pki.kept {
                println!("kept  {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_specs_parse_names_and_sans() {
        let c = parse_client("nas7:email=a@b.example,dns=nas7.example,uri=https://nas7").unwrap();
        assert_eq!(c.name, "nas7");
        assert_eq!(c.san_emails, ["a@b.example"]);
        assert_eq!(c.san_dns, ["nas7.example"]);
        assert_eq!(c.san_uris, ["https://nas7"]);
        assert!(
            parse_client("x:ip=1.2.3.4")
                .unwrap_err()
                .contains("unknown SAN kind `ip`")
        );
        assert!(parse_client("x:email").unwrap_err().contains("KIND=VALUE"));
    }
}
