//! Port clashes: two listeners of one configuration that would bind the same local
//! address. `boomerang run` could not bind the second one, so the compiler refuses
//! the configuration, with the place of both, and `boomerang check` says so before
//! anything is started.
//!
//! Two listeners clash when they use the same port (not 0, which asks the system for
//! a free one), the same socket family (UDP; or TCP, which RADIUS/TCP, RadSec, HTTP,
//! HTTPS and the management listener all are) and overlapping addresses: equal
//! ones, or a wildcard and an address it covers. `0.0.0.0` covers every IPv4
//! address; `::` covers every address, IPv4 included, because the driver opens
//! dual-stack IPv6 sockets (Linux's default, `IPV6_V6ONLY` off).

use std::net::IpAddr;

use crate::contract::Transport;
use crate::lang::diag::Diagnostic;
use crate::lang::program::{Management, RadiusListen, Server, ServerKind};
use crate::lang::span::Span;

/// The socket family a listener binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Udp,
    Tcp,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::Udp => "UDP",
            Family::Tcp => "TCP",
        }
    }
}

/// One listener: what it is called in a message, where it was defined, and what
/// it binds.
#[derive(Debug)]
struct Listener {
    what: String,
    span: Option<Span>,
    family: Family,
    ips: Vec<IpAddr>,
    port: u16,
}

/// Whether sockets bound to `a` and `b` (same family, same port) would collide.
fn addresses_overlap(a: IpAddr, b: IpAddr) -> bool {
    let covers = |wild: IpAddr, other: IpAddr| match wild {
        IpAddr::V4(w) => w.is_unspecified() && other.is_ipv4(),
        IpAddr::V6(w) => w.is_unspecified(),
    };
    a == b || covers(a, b) || covers(b, a)
}

fn listeners(
    servers: &[Option<Server>],
    management: &Management,
    mgmt_span: Option<Span>,
) -> Vec<Listener> {
    let mut out = Vec::new();
    for s in servers.iter().flatten() {
        let (what, family, ips, port) = match &s.kind {
            ServerKind::Radius(r) => match &r.listen {
                RadiusListen::Network(n) => (
                    format!("RADIUS server `{}` ({})", s.name, n.protocol.name()),
                    match n.protocol {
                        Transport::Udp => Family::Udp,
                        Transport::Tcp | Transport::Tls => Family::Tcp,
                    },
                    n.ips.clone(),
                    n.port,
                ),
                RadiusListen::Backend(_) => continue,
            },
            ServerKind::Http(h) => (
                format!("HTTP server `{}`", s.name),
                Family::Tcp,
                h.ips.clone(),
                h.port,
            ),
        };
        out.push(Listener {
            what,
            span: Some(s.span),
            family,
            ips,
            port,
        });
    }
    if management.enabled {
        out.push(Listener {
            what: match mgmt_span {
                Some(_) => "the management listener".to_owned(),
                None => format!(
                    "the management listener (by default on {}:{})",
                    management.ip, management.port
                ),
            },
            span: mgmt_span,
            family: Family::Tcp,
            ips: vec![management.ip],
            port: management.port,
        });
    }
    out
}

/// The first pair of addresses of `a` and `b` that overlap, if they share family
/// and port.
fn clash(a: &Listener, b: &Listener) -> Option<(IpAddr, IpAddr)> {
    if a.family != b.family || a.port != b.port || a.port == 0 {
        return None;
    }
    a.ips
        .iter()
        .flat_map(|x| b.ips.iter().map(move |y| (*x, *y)))
        .find(|(x, y)| addresses_overlap(*x, *y))
}

/// One error per listener that clashes with an earlier one (in configuration
/// order, the management listener last), at the later listener with a label at
/// the earlier; a listener without a place (the default management listener) is
/// reported at the other one. Servers that could not be built (`None`, already
/// reported) are left out.
pub(super) fn clashes(
    servers: &[Option<Server>],
    management: &Management,
    mgmt_span: Option<Span>,
) -> Vec<Diagnostic> {
    let all = listeners(servers, management, mgmt_span);
    let mut out = Vec::new();
    for (j, later) in all.iter().enumerate() {
        let Some((earlier, (ip_e, ip_l))) = all
            .get(..j)
            .unwrap_or(&[])
            .iter()
            .find_map(|e| clash(e, later).map(|ips| (e, ips)))
        else {
            continue;
        };
        let family = later.family.name();
        let port = later.port;
        let message = format!(
            "{} listens on {family} {} port {port}, which {} already uses ({})",
            later.what,
            ip_l,
            earlier.what,
            if ip_e == ip_l {
                "the same address".to_owned()
            } else {
                format!("{ip_e} overlaps it")
            },
        );
        let help = "give each listener its own port, or addresses that do not overlap \
                    (`0.0.0.0` covers every IPv4 address, `::` every address)";
        let d = match (later.span, earlier.span) {
            (Some(l), Some(e)) => Diagnostic::error(l, message)
                .with_label(e, format!("{} is defined here", earlier.what)),
            (Some(l), None) => Diagnostic::error(l, message),
            (None, Some(e)) => Diagnostic::error(e, message),
            (None, None) => Diagnostic::error_global(message),
        };
        out.push(d.with_help(help));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn wildcards_cover_their_family_and_ipv6_any_covers_all() {
        let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let other4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert!(addresses_overlap(lo4, lo4));
        assert!(!addresses_overlap(lo4, other4));
        assert!(addresses_overlap(any4, lo4));
        assert!(addresses_overlap(lo4, any4));
        assert!(!addresses_overlap(any4, lo6));
        assert!(addresses_overlap(any6, lo4));
        assert!(addresses_overlap(lo6, any6));
        assert!(addresses_overlap(any4, any6));
        assert!(!addresses_overlap(lo4, lo6));
    }
}
