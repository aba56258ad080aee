//! Variables: dotted paths (`radius.request.attr.User-Name[0]`, `connection.peer_ip`,
//! `errors.NO_REVERSE_CONNECTIONS`) resolved to [`VarRef`]s or to constant values, and
//! the places assignments may write (language.md §2, §6 "Variables").
//!
//! Constants are folded here: `radius.<CODE>` (a packet code number),
//! `radius.dict.<Attr>.<Value>` (the value's number) and `errors.<NAME>` (the code's
//! name, what `aaa.caught_error.code` reads as).

use crate::eval::error::ErrorCode;
use crate::eval::ir::{
    AaaField, AaaPlace, ConnField, HttpField, Index, PacketRef, Place, RADIUS_CODES, UserField,
    VarRef, error_code_value, radius_code_constant,
};
use crate::eval::value::Value;
use crate::lang::diag::{Diagnostic, suggest};
use crate::lang::span::Span;
use crate::lang::syntax::{self as syn, Path, Segment};

use super::{Lowerer, Stage, unknown_message};

/// What a path denotes once resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// A variable read at run time.
    Var(VarRef),
    /// A constant folded at load time.
    Const(Value),
}

/// Why a place is being resolved; decides which places are acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceUse {
    /// `modify`, `set`, `append` in a pipeline of the current stage.
    Modify,
    /// The left side of a RADIUS or SQL query's `mapping` (the caller's context).
    Mapping,
    /// The left side of a RADIUS query's `bindings` (the request being built).
    Bindings,
}

/// The top-level namespaces Boomerang supports, for suggestions.
const NAMESPACES: [&str; 10] = [
    "id",
    "datetime",
    "env",
    "vars",
    "radius",
    "connection",
    "aaa",
    "user",
    "http",
    "errors",
];

/// Namespaces of the language outside Boomerang's scope (language.md §2, §6).
const UNSUPPORTED_NAMESPACES: [&str; 13] = [
    "radiusproxy",
    "acct",
    "auth",
    "cert",
    "tls",
    "eap",
    "eap-ttls",
    "eap-teap",
    "tacacsplus",
    "parent",
    "root",
    "cache",
    "util",
];

/// The fields of `connection.*` (and `radius.connection.*`), as written.
const CONN_FIELDS: [&str; 20] = [
    "id",
    "client_name",
    "peer_addr",
    "peer_ip",
    "server_name",
    "server_addr",
    "server_ip",
    "transport_protocol",
    "connected",
    "disconnected",
    "status.received",
    "status.nas_identifier",
    "last_heard",
    "healthy",
    "cert.subject.cn",
    "cert.issuer",
    "cert.fingerprint",
    "cert.subject_alt.email",
    "cert.subject_alt.dns",
    "cert.subject_alt.uri",
];

const AAA_FIELDS: [&str; 14] = [
    "identity",
    "identity.name",
    "identity.realm",
    "policy",
    "handler",
    "result",
    "reason",
    "message",
    "errors",
    "caught_error",
    "caught_error.code",
    "caught_errors",
    "method",
    "protocol",
];

/// `aaa.*` fields of the language that Boomerang does not support.
const AAA_UNSUPPORTED: [&str; 5] = [
    "trace",
    "accounting",
    "challenge-message",
    "stop_location",
    "identity.realm.tld",
];

const USER_FIELDS: [&str; 6] = [
    "username",
    "password",
    "group",
    "role",
    "privilege",
    "backend",
];

const HTTP_FIELDS: [&str; 17] = [
    "method",
    "path",
    "path.<N>",
    "query",
    "query.<K>",
    "header.<K>",
    "body",
    "json",
    "status",
    "response",
    "response_header.<K>",
    "authorization.username",
    "authorization.password",
    "authorization.bearer",
    "client",
    "client.ip",
    "server",
];

const RADIUS_FIELDS: [&str; 7] = [
    "request",
    "reply",
    "response",
    "client",
    "server",
    "connection",
    "dict",
];

const PACKET_FIELDS: [&str; 3] = ["code", "attr", "attrs"];

/// The syntax index converted to the IR's, or a message.
fn ir_index(index: &syn::Index) -> Result<Index, String> {
    Ok(match index {
        syn::Index::Pos(0) => Index::First,
        syn::Index::Pos(n) => {
            Index::Nth(usize::try_from(*n).map_err(|_| format!("index {n} is too large"))?)
        }
        syn::Index::Last => Index::Last,
        syn::Index::All => Index::All,
        // `[-1]` reads as a key (names may hold `-` and digits): say what it is.
        syn::Index::Key(k)
            if k.segments.len() == 1
                && k.segments.first().is_some_and(|s| {
                    s.index.is_none()
                        && s.name
                            .strip_prefix('-')
                            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                }) =>
        {
            return Err(format!(
                "negative indices (`[{k}]`) are not supported: `[N]` counts from 0 (`[0]` is the first value), `[n]` is the last value, `[*]` all of them"
            ));
        }
        syn::Index::Key(_) => {
            return Err("key indices (`[other.variable]`) are not supported".to_owned());
        }
    })
}

fn join(names: &[&str]) -> String {
    names.join(".")
}

/// Span covering segments `from..` of a path (the whole path if out of range).
fn tail_span(segs: &[Segment], from: usize, whole: Span) -> Span {
    match (segs.get(from), segs.last()) {
        (Some(a), Some(b)) => a.span.to(b.span),
        _ => whole,
    }
}

impl Lowerer<'_, '_> {
    /// Resolve a path in read position, reporting any problem. `None` after an error.
    pub(crate) fn resolve_path(&mut self, path: &Path) -> Option<Resolved> {
        match self.resolve_inner(path) {
            Ok(r) => Some(r),
            Err(d) => {
                self.push(d);
                None
            }
        }
    }

    /// Resolve a path as the target of an assignment. `None` after an error.
    pub(crate) fn resolve_place(&mut self, path: &Path, usage: PlaceUse) -> Option<Place> {
        let text = path.to_string();
        let var = match self.resolve_path(path)? {
            Resolved::Var(v) => v,
            Resolved::Const(_) => {
                self.error(
                    path.span,
                    format!("`{text}` is a constant and cannot be assigned"),
                );
                return None;
            }
        };
        if usage == PlaceUse::Bindings {
            return match var {
                VarRef::RadiusCode(PacketRef::Request) => {
                    Some(Place::RadiusCode(PacketRef::Request))
                }
                VarRef::RadiusAttr {
                    packet: PacketRef::Request,
                    attr,
                    index: Index::Auto,
                } => Some(Place::RadiusAttr {
                    packet: PacketRef::Request,
                    attr,
                }),
                VarRef::RadiusAttrs(PacketRef::Request) => {
                    Some(Place::RadiusAttrs(PacketRef::Request))
                }
                _ => {
                    self.error_help(
                        path.span,
                        format!("`{text}` cannot be set in `bindings`"),
                        "bindings build the request being sent: set `radius.request.code`, \
                         `radius.request.attr.<Name>` or `radius.request.attrs`",
                    );
                    None
                }
            };
        }
        if var == VarRef::RadiusCode(PacketRef::Request) {
            self.error(path.span, format!("`{text}` is read-only"));
            return None;
        }
        let Some(place) = var.as_place() else {
            if matches!(var, VarRef::RadiusAttr { .. }) {
                self.error_help(
                    path.span,
                    format!("`{text}` is read-only"),
                    "assign the attribute without an index: `=` replaces every instance, \
                     `+=` adds one",
                );
            } else {
                self.error(path.span, format!("`{text}` is read-only"));
            }
            return None;
        };
        if usage == PlaceUse::Modify {
            match self.stage {
                Stage::Select => {
                    let allowed = matches!(
                        place,
                        Place::Vars(_)
                            | Place::Aaa(
                                AaaPlace::Reason | AaaPlace::Message | AaaPlace::CaughtError
                            )
                    );
                    if !allowed {
                        self.error_help(
                            path.span,
                            format!("`{text}` cannot be written inside `@select`"),
                            "`@select` only reads the caller's context; it may write `vars.*`, \
                             `aaa.reason`, `aaa.message` and `aaa.caught_error`, which last for \
                             one candidate",
                        );
                        return None;
                    }
                }
                Stage::FinalExecute => {
                    let reply = matches!(
                        place,
                        Place::RadiusCode(PacketRef::Reply)
                            | Place::RadiusAttr {
                                packet: PacketRef::Reply,
                                ..
                            }
                            | Place::RadiusAttrs(PacketRef::Reply)
                            | Place::Http(_)
                    );
                    if reply {
                        self.error(
                            path.span,
                            format!(
                                "`{text}` cannot be changed in `@final-execute`: the reply has \
                                 already been sent"
                            ),
                        );
                        return None;
                    }
                }
                Stage::Execute | Stage::Named => {}
            }
        }
        Some(place)
    }

    fn resolve_inner(&self, path: &Path) -> Result<Resolved, Diagnostic> {
        let segs = &path.segments;
        let text = path.to_string();
        for s in segs {
            if s.tag.is_some() {
                return Err(Diagnostic::error(
                    s.span,
                    format!(
                        "attribute tags (`{}:{}`) are not supported",
                        s.name,
                        s.tag.unwrap_or(0)
                    ),
                ));
            }
        }
        let Some((last, init)) = segs.split_last() else {
            return Err(Diagnostic::error(path.span, "empty variable name"));
        };
        for s in init {
            if s.index.is_some() {
                return Err(Diagnostic::error(
                    s.span,
                    format!("only the last part of `{text}` can be indexed"),
                ));
            }
        }
        let index = match &last.index {
            None => None,
            Some(i) => Some(ir_index(i).map_err(|m| Diagnostic::error(last.span, m))?),
        };
        let names: Vec<&str> = path.names().collect();
        if self.env_only && names.first() != Some(&"env") {
            return Err(Diagnostic::error(
                path.span,
                format!(
                    "`{text}` cannot be read here: outside execution pipelines only `env.*` is available"
                ),
            ));
        }
        let not_indexable = || Diagnostic::error(last.span, format!("`{text}` cannot be indexed"));
        let var = |v: VarRef| -> Result<Resolved, Diagnostic> {
            if index.is_some() {
                Err(not_indexable())
            } else {
                Ok(Resolved::Var(v))
            }
        };
        let Some((&ns, rest)) = names.split_first() else {
            return Err(Diagnostic::error(path.span, "empty variable name"));
        };
        match (ns, rest) {
            ("id", []) => var(VarRef::Id),
            ("datetime", ["timestamp"]) => var(VarRef::Timestamp),
            ("env", [name]) => var(VarRef::Env((*name).to_owned())),
            ("vars", [_, ..]) => var(VarRef::Vars(join(rest))),
            ("radius", _) => self.radius(path, rest, index),
            ("connection", _) => {
                if self.stage != Stage::Select {
                    return Err(Diagnostic::error(
                        path.span,
                        "`connection.*` is only available inside `@select`",
                    )
                    .with_help("the connection a request arrived on is `radius.connection.*`"));
                }
                Ok(Resolved::Var(VarRef::Connection(conn_field(
                    path,
                    "connection",
                    rest,
                    index,
                )?)))
            }
            ("aaa", _) => var(VarRef::Aaa(aaa_field(path, rest)?)),
            ("user", _) => var(VarRef::User(user_field(path, rest)?)),
            ("http", _) => var(VarRef::Http(http_field(path, rest)?)),
            ("errors", [name]) => match ErrorCode::from_name(name) {
                Some(code) => {
                    if index.is_some() {
                        return Err(not_indexable());
                    }
                    Ok(Resolved::Const(error_code_value(code)))
                }
                None => {
                    let names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
                    let s = suggest(name, names.iter().copied());
                    Err(Diagnostic::error(
                        last.span,
                        unknown_message(
                            "error code",
                            &text,
                            s.map(|s| format!("errors.{s}")).as_deref(),
                        ),
                    )
                    .with_note(format!("error codes: {}", names.join(", "))))
                }
            },
            _ if UNSUPPORTED_NAMESPACES.contains(&ns) => Err(Diagnostic::error(
                path.span,
                format!("`{ns}.*` is not supported"),
            )),
            ("id" | "datetime" | "env" | "vars" | "errors", _) => Err(Diagnostic::error(
                path.span,
                format!("unknown variable `{text}`"),
            )
            .with_help(match ns {
                "datetime" => "the current time is `datetime.timestamp`",
                "env" => "write `env.<NAME>`",
                "vars" => "write `vars.<name>`",
                "errors" => "write `errors.<CODE>`, e.g. `errors.NO_REVERSE_CONNECTIONS`",
                _ => "`id` is the request id",
            })),
            _ => {
                let suggestion = if rest.is_empty() {
                    None
                } else {
                    suggest(ns, NAMESPACES).map(|s| format!("{s}.{}", join(rest)))
                };
                let mut d = Diagnostic::error(
                    path.span,
                    unknown_message("variable", &text, suggestion.as_deref()),
                );
                if rest.is_empty() {
                    d = d.with_help(format!("to write text, quote it: \"{text}\""));
                }
                Err(d)
            }
        }
    }

    fn radius(
        &self,
        path: &Path,
        rest: &[&str],
        index: Option<Index>,
    ) -> Result<Resolved, Diagnostic> {
        let segs = &path.segments;
        let text = path.to_string();
        let last_span = segs.last().map_or(path.span, |s| s.span);
        let var = |v: VarRef| -> Result<Resolved, Diagnostic> {
            if index.is_some() {
                Err(Diagnostic::error(
                    last_span,
                    format!("`{text}` cannot be indexed"),
                ))
            } else {
                Ok(Resolved::Var(v))
            }
        };
        match rest {
            [] => Err(Diagnostic::error(
                path.span,
                "`radius` needs a field, e.g. `radius.request.attr.User-Name`",
            )),
            [p @ ("request" | "reply" | "response"), tail @ ..] => {
                let packet = if *p == "request" {
                    PacketRef::Request
                } else {
                    PacketRef::Reply
                };
                match tail {
                    ["code"] => var(VarRef::RadiusCode(packet)),
                    ["attrs"] | ["attr"] => var(VarRef::RadiusAttrs(packet)),
                    ["attr", name @ ..] => {
                        let attr_name = join(name);
                        let span = tail_span(segs, 3, path.span);
                        let def = self.dictionary().attr(&attr_name).ok_or_else(|| {
                            Diagnostic::error(
                                span,
                                unknown_message(
                                    "attribute",
                                    &attr_name,
                                    self.dictionary().suggest(&attr_name),
                                ),
                            )
                        })?;
                        Ok(Resolved::Var(VarRef::RadiusAttr {
                            packet,
                            attr: def.id,
                            index: index.unwrap_or_default(),
                        }))
                    }
                    [] => Err(Diagnostic::error(
                        path.span,
                        format!("`{text}` needs a field: `code`, `attr.<Name>` or `attrs`"),
                    )),
                    [field, ..] => Err(Diagnostic::error(
                        segs.get(2).map_or(path.span, |s| s.span),
                        unknown_message(
                            &format!("field of `radius.{p}`"),
                            field,
                            suggest(field, PACKET_FIELDS),
                        ),
                    )),
                }
            }
            ["client"] => var(VarRef::RadiusClient),
            ["client", "ip"] => var(VarRef::RadiusClientIp),
            ["server"] => var(VarRef::RadiusServer),
            ["server", "tls"] => var(VarRef::RadiusServerTls),
            ["connection", tail @ ..] => Ok(Resolved::Var(VarRef::CurrentConnection(conn_field(
                path,
                "radius.connection",
                tail,
                index,
            )?))),
            ["dict", attr, value @ ..] if !value.is_empty() => {
                let attr_span = segs.get(2).map_or(path.span, |s| s.span);
                let value_name = join(value);
                let value_span = tail_span(segs, 3, path.span);
                let dict = self.dictionary();
                let def = dict.attr(attr).ok_or_else(|| {
                    Diagnostic::error(
                        attr_span,
                        unknown_message("attribute", attr, dict.suggest(attr)),
                    )
                })?;
                if index.is_some() {
                    return Err(Diagnostic::error(
                        last_span,
                        format!("`{text}` cannot be indexed"),
                    ));
                }
                match dict.value_number64(def, &value_name) {
                    Some(n) => Ok(Resolved::Const(Value::Integer(i128::from(n)))),
                    None if dict.values(def).next().is_none() => Err(Diagnostic::error(
                        attr_span,
                        format!("attribute `{}` has no named values", def.name),
                    )),
                    None => Err(Diagnostic::error(
                        value_span,
                        unknown_message(
                            &format!("value of `{}`", def.name),
                            &value_name,
                            dict.suggest_value(def, &value_name),
                        ),
                    )),
                }
            }
            ["dict", ..] => Err(Diagnostic::error(
                path.span,
                "write `radius.dict.<Attribute>.<Value>`, e.g. `radius.dict.Acct-Status-Type.Alive`",
            )),
            ["attr", ..] => Err(
                Diagnostic::error(path.span, format!("`{text}` is not supported")).with_help(
                    "write `radius.request.attr.<Name>` (or `radius.reply.attr.<Name>`)",
                ),
            ),
            [name] if radius_code_constant(name).is_some() => {
                if index.is_some() {
                    return Err(Diagnostic::error(
                        last_span,
                        format!("`{text}` cannot be indexed"),
                    ));
                }
                Ok(Resolved::Const(
                    radius_code_constant(name).unwrap_or(Value::None),
                ))
            }
            [name]
                if name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()) =>
            {
                let s = suggest(name, RADIUS_CODES.iter().map(|(_, c, _)| *c));
                Err(Diagnostic::error(
                    last_span,
                    unknown_message(
                        "packet code constant",
                        &text,
                        s.map(|s| format!("radius.{s}")).as_deref(),
                    ),
                ))
            }
            [field, ..] => Err(Diagnostic::error(
                segs.get(1).map_or(path.span, |s| s.span),
                unknown_message("field of `radius`", field, suggest(field, RADIUS_FIELDS)),
            )),
        }
    }
}

/// A `connection.*` field (after the prefix `what`).
fn conn_field(
    path: &Path,
    what: &str,
    rest: &[&str],
    index: Option<Index>,
) -> Result<ConnField, Diagnostic> {
    let text = path.to_string();
    let last_span = path.segments.last().map_or(path.span, |s| s.span);
    let plain = |f: ConnField| {
        if index.is_some() {
            Err(Diagnostic::error(
                last_span,
                format!("`{text}` cannot be indexed"),
            ))
        } else {
            Ok(f)
        }
    };
    let idx = index.unwrap_or_default();
    match rest {
        ["id"] => plain(ConnField::Id),
        ["client_name"] => plain(ConnField::ClientName),
        ["peer_addr"] => plain(ConnField::PeerAddr),
        ["peer_ip"] => plain(ConnField::PeerIp),
        ["server_name"] => plain(ConnField::ServerName),
        ["server_addr"] => plain(ConnField::ServerAddr),
        ["server_ip"] => plain(ConnField::ServerIp),
        ["transport_protocol"] => plain(ConnField::TransportProtocol),
        ["connected"] => plain(ConnField::Connected),
        ["disconnected"] => plain(ConnField::Disconnected),
        ["status", "received"] => plain(ConnField::StatusReceived),
        ["status", "nas_identifier"] => plain(ConnField::StatusNasIdentifier),
        ["last_heard"] => plain(ConnField::LastHeard),
        ["healthy"] => plain(ConnField::Healthy),
        ["cert", "subject", "cn"] => plain(ConnField::CertSubjectCn),
        ["cert", "issuer"] => plain(ConnField::CertIssuer),
        ["cert", "fingerprint"] => plain(ConnField::CertFingerprint),
        ["cert", "subject_alt", "email"] => Ok(ConnField::CertSanEmail(idx)),
        ["cert", "subject_alt", "dns"] => Ok(ConnField::CertSanDns(idx)),
        ["cert", "subject_alt", "uri"] => Ok(ConnField::CertSanUri(idx)),
        [] => Err(Diagnostic::error(
            path.span,
            format!("`{what}` needs a field, e.g. `{what}.id`"),
        )),
        _ => {
            let field = join(rest);
            Err(Diagnostic::error(
                path.span,
                unknown_message(
                    &format!("field of `{what}`"),
                    &field,
                    suggest(&field, CONN_FIELDS),
                ),
            )
            .with_note(format!("fields: {}", CONN_FIELDS.join(", "))))
        }
    }
}

fn aaa_field(path: &Path, rest: &[&str]) -> Result<AaaField, Diagnostic> {
    Ok(match rest {
        ["identity"] => AaaField::Identity,
        ["identity", "name"] => AaaField::IdentityName,
        ["identity", "realm"] => AaaField::IdentityRealm,
        ["policy"] => AaaField::Policy,
        ["handler"] => AaaField::Handler,
        ["result"] => AaaField::Result,
        ["reason"] => AaaField::Reason,
        ["message"] => AaaField::Message,
        ["errors"] => AaaField::Errors,
        ["caught_error"] => AaaField::CaughtError,
        ["caught_error", "code"] => AaaField::CaughtErrorCode,
        ["caught_errors"] => AaaField::CaughtErrors,
        ["method"] => AaaField::Method,
        ["protocol"] => AaaField::Protocol,
        [] => {
            return Err(Diagnostic::error(
                path.span,
                "`aaa` needs a field, e.g. `aaa.identity`",
            ));
        }
        _ => {
            let field = join(rest);
            if AAA_UNSUPPORTED.contains(&field.as_str()) {
                return Err(Diagnostic::error(
                    path.span,
                    format!("`aaa.{field}` is not supported"),
                ));
            }
            return Err(Diagnostic::error(
                path.span,
                unknown_message("field of `aaa`", &field, suggest(&field, AAA_FIELDS)),
            ));
        }
    })
}

fn user_field(path: &Path, rest: &[&str]) -> Result<UserField, Diagnostic> {
    Ok(match rest {
        ["username"] => UserField::Username,
        ["password"] => UserField::Password,
        ["group"] => UserField::Group,
        ["role"] => UserField::Role,
        ["privilege"] => UserField::Privilege,
        ["backend"] => UserField::Backend,
        [] => {
            return Err(Diagnostic::error(
                path.span,
                "`user` needs a field, e.g. `user.username`",
            ));
        }
        _ => {
            let field = join(rest);
            return Err(Diagnostic::error(
                path.span,
                unknown_message("field of `user`", &field, suggest(&field, USER_FIELDS)),
            ));
        }
    })
}

fn http_field(path: &Path, rest: &[&str]) -> Result<HttpField, Diagnostic> {
    Ok(match rest {
        ["method"] => HttpField::Method,
        ["path"] => HttpField::Path,
        ["path", n] => match n.parse::<usize>() {
            Ok(n) => HttpField::PathSegment(n),
            Err(_) => {
                return Err(Diagnostic::error(
                    path.span,
                    format!(
                        "`http.path.{n}`: a path segment is chosen by number, e.g. `http.path.0`"
                    ),
                ));
            }
        },
        ["query"] => HttpField::QueryAll,
        ["query", key @ ..] => HttpField::Query(join(key)),
        ["header", key @ ..] if !key.is_empty() => {
            HttpField::Header(join(key).to_ascii_lowercase())
        }
        ["body"] => HttpField::Body,
        ["json"] => HttpField::Json,
        ["status"] => HttpField::Status,
        ["response"] => HttpField::Response,
        ["response_header", key @ ..] if !key.is_empty() => {
            HttpField::ResponseHeader(join(key).to_ascii_lowercase())
        }
        ["authorization", "username"] => HttpField::AuthUsername,
        ["authorization", "password"] => HttpField::AuthPassword,
        ["authorization", "bearer"] => HttpField::AuthBearer,
        ["client"] => HttpField::Client,
        ["client", "ip"] => HttpField::ClientIp,
        ["server"] => HttpField::Server,
        ["body", _, ..] => {
            return Err(
                Diagnostic::error(path.span, format!("`{path}` is not supported"))
                    .with_help("parse the body and query it: `http.json | jsonpath(\"$.field\")`"),
            );
        }
        ["server", "ip" | "tls"] | ["management", ..] => {
            return Err(Diagnostic::error(
                path.span,
                format!("`{path}` is not supported"),
            ));
        }
        [] => {
            return Err(Diagnostic::error(
                path.span,
                "`http` needs a field, e.g. `http.method`",
            ));
        }
        _ => {
            let field = join(rest);
            return Err(Diagnostic::error(
                path.span,
                unknown_message("field of `http`", &field, suggest(&field, HTTP_FIELDS)),
            ));
        }
    })
}

/// The packet code names accepted as values (`"Disconnect-Request"`, `DISCONNECT_REQUEST`),
/// for suggestions.
pub(crate) fn code_names() -> impl Iterator<Item = &'static str> {
    RADIUS_CODES.iter().flat_map(|(_, c, d)| [*d, *c])
}
