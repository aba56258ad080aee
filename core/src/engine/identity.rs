//! Identity binding: whether the NAS-Identifier a NAS announces in Status-Server may
//! identify its connection.
//!
//! `@select` usually picks a NAS by `connection.status.nas_identifier`, a value the
//! NAS itself announces. Without a binding any NAS with a certificate of the client
//! CA could announce another NAS's identifier and receive its CoA/Disconnect
//! requests. A RADIUS client with `nas_identifier_binding certificate_cn;` (or
//! `certificate_dns`) ties the announced identifier to the certificate the
//! connection presented:
//!
//! - **mismatch**: the identifier is not the certificate's CN (or one of its DNS
//!   names) → refused;
//! - **conflict**: another live connection holds the identifier with a different
//!   certificate (another fingerprint) → refused, the first holder keeps it;
//! - otherwise accepted. A refused Status-Server is not recorded at all (neither the
//!   identifier nor its arrival time) and not answered, so the NAS's own status
//!   watchdog sees the server as unresponsive; the engine logs a warning and counts
//!   it ([`NasIdentifierClaim::Mismatch`](crate::contract::NasIdentifierClaim::Mismatch),
//!   [`NasIdentifierClaim::Conflict`](crate::contract::NasIdentifierClaim::Conflict)).
//!
//! With or without a binding, an accepted claim of an identifier that another live
//! connection already holds is a **duplicate**: logged and counted
//! ([`NasIdentifierClaim::Duplicate`](crate::contract::NasIdentifierClaim::Duplicate)) once, when the connection
//! starts claiming it (not on every Status-Server). The check costs one lookup in
//! the registry's NAS-Identifier index: it does not grow with the number of
//! connections.

use crate::contract::{ConnId, Event, NasIdentifierClaim, ServerId, Severity};
use crate::engine::Engine;
use crate::eval::context::ConnectionInfo;
use crate::lang::program::NasIdentifierBinding;

/// What the binding says about one announced NAS-Identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Recorded; `duplicate_of` is a live connection that already holds the same
    /// identifier (the claim is new for this connection).
    Accepted {
        /// Another connection holding it, if any.
        duplicate_of: Option<ConnId>,
    },
    /// The identifier is not the one the certificate names.
    Mismatch {
        /// What the certificate names (`None`: no certificate, or no such field).
        bound: Option<String>,
    },
    /// Another live connection holds the identifier with a different certificate.
    Conflict {
        /// That connection.
        holder: ConnId,
    },
}

/// Whether `binding` lets `info`'s connection announce `claimed`.
pub fn binding_allows(binding: NasIdentifierBinding, info: &ConnectionInfo, claimed: &str) -> bool {
    let cert = info.cert.as_ref();
    match binding {
        NasIdentifierBinding::None => true,
        NasIdentifierBinding::CertificateCn => cert
            .and_then(|c| c.subject_cn.as_deref())
            .is_some_and(|cn| cn == claimed),
        NasIdentifierBinding::CertificateDns => cert.is_some_and(|c| {
            c.san_dns
                .iter()
                .any(|d| d.trim_end_matches('.').eq_ignore_ascii_case(claimed))
        }),
    }
}

/// What the certificate field of `binding` holds for `info`, for log lines.
fn bound_name(binding: NasIdentifierBinding, info: &ConnectionInfo) -> Option<String> {
    let cert = info.cert.as_ref()?;
    match binding {
        NasIdentifierBinding::None => None,
        NasIdentifierBinding::CertificateCn => cert.subject_cn.clone(),
        NasIdentifierBinding::CertificateDns => {
            (!cert.san_dns.is_empty()).then(|| cert.san_dns.join(", "))
        }
    }
}

/// The certificate fingerprint of a connection (`None` without a certificate).
fn fingerprint(info: &ConnectionInfo) -> Option<&str> {
    info.cert.as_ref()?.fingerprint.as_deref()
}

/// Judge `conn`'s claim of `claimed` under `binding`, given the other live
/// connections that hold the identifier now (`holders`, this one left out).
pub fn judge(
    binding: NasIdentifierBinding,
    info: &ConnectionInfo,
    claimed: &str,
    holders: &[(ConnId, &ConnectionInfo)],
) -> Claim {
    if !binding_allows(binding, info, claimed) {
        return Claim::Mismatch {
            bound: bound_name(binding, info),
        };
    }
    if binding != NasIdentifierBinding::None {
        let mine = fingerprint(info);
        if let Some((holder, _)) = holders
            .iter()
            .find(|(_, other)| mine.is_none() || fingerprint(other) != mine)
        {
            return Claim::Conflict { holder: *holder };
        }
    }
    let already = info.status_nas_identifier.as_deref() == Some(claimed);
    Claim::Accepted {
        duplicate_of: if already {
            None
        } else {
            holders.first().map(|(id, _)| *id)
        },
    }
}

impl Engine {
    /// Report a NAS-Identifier claim on one of `server`'s connections that needs
    /// attention.
    fn claim_reported(&mut self, server: ServerId, claim: NasIdentifierClaim) {
        self.emit(Event::NasIdentifierClaim { server, claim });
    }

    /// Check a Status-Server's NAS-Identifier on connection `conn` against the
    /// client's binding and the other live connections (see the module docs).
    /// `true`: record it and answer; `false`: refused (logged and counted).
    pub(super) fn admit_nas_identifier(
        &mut self,
        conn: ConnId,
        binding: NasIdentifierBinding,
        claimed: &str,
    ) -> bool {
        let Some(entry) = self.registry.get(conn) else {
            return false;
        };
        let info = entry.info().clone();
        let server = entry.state.server;
        let holders: Vec<(ConnId, std::sync::Arc<ConnectionInfo>)> = self
            .registry
            .nas_identifier_holders(claimed)
            .filter(|id| *id != conn)
            .filter_map(|id| Some((id, self.registry.get(id)?.info().clone())))
            .collect();
        let borrowed: Vec<(ConnId, &ConnectionInfo)> =
            holders.iter().map(|(id, i)| (*id, i.as_ref())).collect();
        match judge(binding, &info, claimed, &borrowed) {
            Claim::Accepted { duplicate_of } => {
                if let Some(other) = duplicate_of {
                    self.claim_reported(server, NasIdentifierClaim::Duplicate);
                    self.log(
                        Severity::Warn,
                        format!(
                            "connection {conn} (client \"{}\", {}) announces NAS-Identifier {claimed:?}, which connection {other} also holds",
                            info.client_name, info.peer_addr
                        ),
                    );
                }
                true
            }
            Claim::Mismatch { bound } => {
                self.claim_reported(server, NasIdentifierClaim::Mismatch);
                let bound = bound.map_or_else(
                    || "no such certificate field".to_owned(),
                    |b| format!("{b:?}"),
                );
                self.log(
                    Severity::Warn,
                    format!(
                        "connection {conn} (client \"{}\", {}) announces NAS-Identifier {claimed:?} but nas_identifier_binding {} names {bound}; Status-Server refused",
                        info.client_name,
                        info.peer_addr,
                        binding.name()
                    ),
                );
                false
            }
            Claim::Conflict { holder } => {
                self.claim_reported(server, NasIdentifierClaim::Conflict);
                self.log(
                    Severity::Warn,
                    format!(
                        "connection {conn} (client \"{}\", {}) announces NAS-Identifier {claimed:?}, held by connection {holder} with another certificate; Status-Server refused",
                        info.client_name, info.peer_addr
                    ),
                );
                false
            }
        }
    }
}
