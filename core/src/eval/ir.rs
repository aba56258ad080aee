//! The pipeline IR: the fully resolved form of execution pipelines that the
//! interpreter runs.
//!
//! This is the semantic contract between the configuration compiler (`lang`) and the
//! interpreter. Everything that can be resolved when the configuration is loaded is
//! resolved here: variables are enums rather than dotted strings, attributes are
//! [`AttrId`]s, `radius.<CODE>`, `radius.dict.<Attr>.<Value>` and `errors.<NAME>`
//! constants are literal [`Value`]s, `invoke` targets and backends are indices.
//! What is left for run time is data: values read from the context, filters by name
//! (the filter library dispatches on the name), and templates.
//!
//! Nested blocks are `Arc<Pipeline>` so that the interpreter can hold the block it is
//! running without borrowing the program, and so that a parked interpreter is an
//! owned value the engine can store.

use std::sync::Arc;

use crate::eval::error::ErrorCode;
use crate::eval::ops::CompareOp;
use crate::eval::value::Value;
use crate::radius::id::AttrId;

/// How a block combines the results of its actions and when it stops
/// (language.md §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Directive {
    /// FirstToFail: stops at the first reject; the result is the last result.
    #[default]
    While,
    /// FirstToMatch: stops at the first accept or reject; ignore continues.
    First,
    /// FirstToSucceed: stops at the first accept (accept); otherwise reject.
    Any,
    /// AllToSucceed: stops at the first ignore or reject (reject); otherwise accept.
    All,
    /// AllToFail: stops at the first accept (reject); otherwise accept.
    None,
    /// All: never stops; the result is the last result.
    Each,
}

/// A block of actions run under a directive: a whole pipeline (`@execute { … }`), a
/// directive sub-block (`first { … }`), a branch of `if`/`with`/`map`, a `try` body
/// or a `catch` block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pipeline {
    /// How results combine.
    pub directive: Directive,
    /// The actions, in order.
    pub actions: Vec<Action>,
}

impl Pipeline {
    /// A block under the default directive (`while`).
    pub fn new(actions: Vec<Action>) -> Arc<Pipeline> {
        Arc::new(Pipeline {
            directive: Directive::While,
            actions,
        })
    }

    /// A block under `directive`.
    pub fn with_directive(directive: Directive, actions: Vec<Action>) -> Arc<Pipeline> {
        Arc::new(Pipeline { directive, actions })
    }
}

/// The index of a named pipeline (`aaa { pipeline "NAME" { … } }`) in the
/// [`Library`], the target of `invoke`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PipelineId(pub u32);

/// A named pipeline that `invoke` can run.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedPipeline {
    /// Its configuration name, for logs.
    pub name: String,
    /// Its body.
    pub pipeline: Arc<Pipeline>,
}

/// The named pipelines of a program, indexed by [`PipelineId`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Library {
    /// Pipelines in configuration order; `PipelineId(n)` is the n-th.
    pub pipelines: Vec<NamedPipeline>,
}

impl Library {
    /// The pipeline with this id, if it exists.
    pub fn get(&self, id: PipelineId) -> Option<&NamedPipeline> {
        self.pipelines.get(usize::try_from(id.0).ok()?)
    }
}

/// The index of a backend (`backends { radius "NAME" … }`) in the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BackendId(pub u32);

/// The index of a `query` block within its backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueryId(pub u32);

/// A resolved `backend "NAME";` / `backend { name "N"; query "Q"; }` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendCall {
    /// Which backend.
    pub backend: BackendId,
    /// Which of its queries (`query`/`request`), if one was named.
    pub query: Option<QueryId>,
    /// The backend's configuration name, for logs and errors.
    pub backend_name: String,
    /// The query's configuration name, for logs and errors.
    pub query_name: Option<String>,
}

/// One action of a pipeline (language.md §3.3, §6 "Pipelines").
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `accept ["msg"]`, `reject ["msg"]`, `ignore ["msg"]`. A message sets
    /// `aaa.message`; on reject it also sets `aaa.reason`.
    Result {
        /// Which result.
        result: ActionResult,
        /// The optional message.
        message: Option<Template>,
    },
    /// `if all|any|none { … } then { … } else if … else { … }`.
    If {
        /// The `if` and every `else if`, tried in order.
        branches: Vec<(Condition, Arc<Pipeline>)>,
        /// The final `else`, if any.
        otherwise: Option<Arc<Pipeline>>,
    },
    /// `with [directive] { actions } do { … } else { … }`: `do` runs when the
    /// action block's result is accept, `else` otherwise.
    With {
        /// The action block, with its directive.
        test: Arc<Pipeline>,
        /// Runs on accept.
        then: Option<Arc<Pipeline>>,
        /// Runs on reject, ignore or no result.
        otherwise: Option<Arc<Pipeline>>,
    },
    /// `map <expr> { v => { … } any => { … } }`: the first arm whose pattern
    /// equals the value (by `==`, so lists and regexes work) runs.
    Map {
        /// The value switched on.
        subject: Expr,
        /// Arms in order; an `any` arm is written as `MapPattern::Any`.
        arms: Vec<(MapPattern, Arc<Pipeline>)>,
    },
    /// A directive sub-block: `first { … }`, `each { … }`, ….
    Block(Arc<Pipeline>),
    /// `try [directive] { … } catch { … }`; the short form `try <action>;` is a
    /// body of one action and no catch (see [`Action::try_short`]).
    Try {
        /// The guarded block.
        body: Arc<Pipeline>,
        /// The catch block, if written.
        catch: Option<Arc<Pipeline>>,
    },
    /// `reply;`: send the reply now and carry on.
    Reply,
    /// `stop;`: end the whole run with the current result.
    Stop,
    /// `error "msg";`: raise an `errors.ERROR`.
    Error(Template),
    /// `reason <expr>;`: set `aaa.reason`.
    Reason(Expr),
    /// `modify { … }`, `modify a = v;`, `set a v;`, `append a v;`.
    Modify(Vec<Assignment>),
    /// `backend …`: parks the run on a backend effect.
    Backend(BackendCall),
    /// `invoke "PIPELINE";`.
    Invoke(PipelineId),
    /// `debug "fmt";` / `debug vars.x;`.
    Debug(DebugTarget),
    /// `log "LOGGER" { … }`.
    Log {
        /// The logger's configuration name.
        logger: String,
        /// What to log.
        content: LogContent,
    },
    /// `pap;`: check the request's User-Password against `user.password`.
    Pap,
    /// `http-basic-auth;`: check HTTP Basic credentials against `user.password`.
    HttpBasicAuth,
    /// `reject_errors on|off;`.
    RejectErrors(bool),
}

impl Action {
    /// `accept;`
    pub fn accept() -> Action {
        Action::Result {
            result: ActionResult::Accept,
            message: None,
        }
    }

    /// `reject;`
    pub fn reject() -> Action {
        Action::Result {
            result: ActionResult::Reject,
            message: None,
        }
    }

    /// `ignore;`
    pub fn ignore() -> Action {
        Action::Result {
            result: ActionResult::Ignore,
            message: None,
        }
    }

    /// `reject "msg";` with a template message.
    pub fn reject_with(message: Template) -> Action {
        Action::Result {
            result: ActionResult::Reject,
            message: Some(message),
        }
    }

    /// `try <action>;`: a one-action body with no catch.
    pub fn try_short(action: Action) -> Action {
        Action::Try {
            body: Pipeline::new(vec![action]),
            catch: None,
        }
    }

    /// `if <cond> then { then } [else { otherwise }]`.
    pub fn if_then(cond: Condition, then: Vec<Action>, otherwise: Option<Vec<Action>>) -> Action {
        Action::If {
            branches: vec![(cond, Pipeline::new(then))],
            otherwise: otherwise.map(Pipeline::new),
        }
    }

    /// `modify <place> = <value>;`
    pub fn set(place: Place, value: Expr) -> Action {
        Action::Modify(vec![Assignment {
            place,
            op: AssignOp::Set,
            value,
        }])
    }
}

/// The three non-error results of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionResult {
    /// Carry on; a success.
    Accept,
    /// A failure; stops `while` blocks.
    Reject,
    /// A non-result; carry on.
    Ignore,
}

impl ActionResult {
    /// `accept`, `reject` or `ignore`.
    pub fn name(self) -> &'static str {
        match self {
            ActionResult::Accept => "accept",
            ActionResult::Reject => "reject",
            ActionResult::Ignore => "ignore",
        }
    }
}

/// A pattern of a `map` arm.
#[derive(Debug, Clone, PartialEq)]
pub enum MapPattern {
    /// Matches when the subject `==` this value.
    Value(Value),
    /// The `any` arm: matches everything.
    Any,
}

/// What `debug` logs.
#[derive(Debug, Clone, PartialEq)]
pub enum DebugTarget {
    /// `debug "fmt";`: the expanded text.
    Template(Template),
    /// `debug vars.x;`: the path as written and its value.
    Var {
        /// The path as written, e.g. `vars.x`.
        path: String,
        /// The resolved variable.
        var: VarRef,
    },
}

/// What a `log` action writes.
#[derive(Debug, Clone, PartialEq)]
pub enum LogContent {
    /// `json { "k" expr; … }`: a JSON object, keys in the written order.
    Json(Vec<(String, Expr)>),
    /// `format "…";`.
    Format(Template),
    /// `message <expr>;`.
    Message(Expr),
}

/// `=`, `?=` and `+=` (`:=` is `=`; `set` is `=`, `append` is `+=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AssignOp {
    /// Replace the value (`none` removes it).
    Set,
    /// Assign only if the target currently reads as `none`.
    SetIfNone,
    /// Append (attributes get another instance; variables become lists).
    Append,
}

/// One assignment of `modify`, of a query's `bindings` or of a RADIUS `mapping`.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Where the value goes.
    pub place: Place,
    /// How.
    pub op: AssignOp,
    /// The value.
    pub value: Expr,
}

/// A condition group: `all|any|none { left op right; … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// How the tests combine.
    pub mode: CondMode,
    /// The tests.
    pub tests: Vec<Cond>,
}

impl Condition {
    /// `all { tests }`.
    pub fn all(tests: Vec<Cond>) -> Condition {
        Condition {
            mode: CondMode::All,
            tests,
        }
    }

    /// `any { tests }`.
    pub fn any(tests: Vec<Cond>) -> Condition {
        Condition {
            mode: CondMode::Any,
            tests,
        }
    }

    /// `none { tests }`.
    pub fn none(tests: Vec<Cond>) -> Condition {
        Condition {
            mode: CondMode::None,
            tests,
        }
    }
}

/// How the tests of a [`Condition`] combine. An empty `all` or `none` is true, an
/// empty `any` is false.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CondMode {
    /// Every test holds.
    All,
    /// At least one test holds.
    Any,
    /// No test holds.
    None,
}

/// One test: `left op right`. Evaluation errors become error values, which compare
/// false, so a test never raises an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    /// Usually a variable.
    pub left: Expr,
    /// The operator.
    pub op: CompareOp,
    /// A literal, variable, `none`, `any`, list or regex.
    pub right: Expr,
}

impl Cond {
    /// `left == right`.
    pub fn eq(left: Expr, right: Expr) -> Cond {
        Cond {
            left,
            op: CompareOp::Eq,
            right,
        }
    }

    /// `left != right`.
    pub fn ne(left: Expr, right: Expr) -> Cond {
        Cond {
            left,
            op: CompareOp::Ne,
            right,
        }
    }
}

/// An expression: what the right side of an assignment, a condition operand or a
/// `%{…}` holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal, including resolved constants (`radius.DISCONNECT_REQUEST` is
    /// `Integer(40)`, `errors.NO_REVERSE_CONNECTIONS` is
    /// `String("NO_REVERSE_CONNECTIONS")`, `radius.dict.Acct-Status-Type.Alive` is
    /// `Integer(3)`).
    Literal(Value),
    /// A variable of the execution context.
    Var(VarRef),
    /// A format string; evaluates to a string.
    Template(Template),
    /// `expr | f | g(args)`.
    Filtered {
        /// The input.
        input: Box<Expr>,
        /// Filters, applied left to right.
        filters: Vec<FilterCall>,
    },
    /// `[a b c]`.
    List(Vec<Expr>),
}

impl Expr {
    /// A string literal.
    pub fn str(s: &str) -> Expr {
        Expr::Literal(Value::String(s.to_owned()))
    }

    /// An integer literal.
    pub fn int(i: i128) -> Expr {
        Expr::Literal(Value::Integer(i))
    }

    /// A variable.
    pub fn var(v: VarRef) -> Expr {
        Expr::Var(v)
    }

    /// `errors.<code>` resolved.
    pub fn error_code(code: ErrorCode) -> Expr {
        Expr::Literal(error_code_value(code))
    }
}

/// The value of the constant `errors.<code>` (what `aaa.caught_error.code` reads as).
pub fn error_code_value(code: ErrorCode) -> Value {
    Value::String(code.name().to_owned())
}

/// A filter application inside an expression.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterCall {
    /// The filter's name (`lowercase`, `remove`, …).
    pub name: String,
    /// Its arguments (attribute names for `remove`/`select` are string literals).
    pub args: Vec<Expr>,
}

/// A format string: literal text and `%{expr}` parts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    /// The parts in order.
    pub parts: Vec<TemplatePart>,
}

impl Template {
    /// A template with no `%{}`.
    pub fn text(s: &str) -> Template {
        Template {
            parts: vec![TemplatePart::Text(s.to_owned())],
        }
    }
}

/// One part of a [`Template`].
#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    /// Literal text.
    Text(String),
    /// `%{expr}`: the text form of the value.
    Expr(Expr),
}

/// Which packet a `radius.*` variable addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PacketRef {
    /// `radius.request`.
    Request,
    /// `radius.reply` / `radius.response`.
    Reply,
}

/// Which instance(s) of a multi-valued item are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Index {
    /// No index written: none → `none`, one → that value, several → a list.
    #[default]
    Auto,
    /// `[0]`.
    First,
    /// `[n]` (the last one).
    Last,
    /// `[N]`, zero-based.
    Nth(usize),
    /// `[*]`: always a list.
    All,
}

/// A variable of the execution context (language.md §2, §6 "Variables").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VarRef {
    /// `id`: the request id.
    Id,
    /// `datetime.timestamp`: the time handed in by the engine.
    Timestamp,
    /// `env.<name>`: the environment map handed in.
    Env(String),
    /// `vars.<name>`.
    Vars(String),
    /// `radius.request.code` / `radius.reply.code`.
    RadiusCode(PacketRef),
    /// `radius.request.attr.<X>[index]` and the same under `reply`.
    RadiusAttr {
        /// Which packet.
        packet: PacketRef,
        /// Which attribute.
        attr: AttrId,
        /// Which instances.
        index: Index,
    },
    /// `radius.request.attrs` (also `…attr` without a name): the bulk list.
    RadiusAttrs(PacketRef),
    /// `radius.client`: the RADIUS client's configured name.
    RadiusClient,
    /// `radius.client.ip`.
    RadiusClientIp,
    /// `radius.server`: the name of the server the request arrived at.
    RadiusServer,
    /// `radius.server.tls`: whether it arrived over TLS.
    RadiusServerTls,
    /// `radius.connection.<field>`: the stream connection the request arrived on.
    CurrentConnection(ConnField),
    /// `connection.<field>`: the candidate inside `reverse { @select }`.
    Connection(ConnField),
    /// `aaa.<field>`.
    Aaa(AaaField),
    /// `user.<field>`.
    User(UserField),
    /// `http.<…>`.
    Http(HttpField),
}

impl VarRef {
    /// `radius.request.attr.<attr>` with no index.
    pub fn request_attr(attr: AttrId) -> VarRef {
        VarRef::RadiusAttr {
            packet: PacketRef::Request,
            attr,
            index: Index::Auto,
        }
    }

    /// `radius.reply.attr.<attr>` with no index.
    pub fn reply_attr(attr: AttrId) -> VarRef {
        VarRef::RadiusAttr {
            packet: PacketRef::Reply,
            attr,
            index: Index::Auto,
        }
    }

    /// The place this variable names when it is written, if it is writable at all
    /// (the compile-time read/write rule; see also the run-time rules of the
    /// context, which may refuse more, e.g. inside `@select`).
    pub fn as_place(&self) -> Option<Place> {
        Some(match self {
            VarRef::Vars(n) => Place::Vars(n.clone()),
            VarRef::RadiusCode(p) => Place::RadiusCode(*p),
            VarRef::RadiusAttr {
                packet,
                attr,
                index: Index::Auto,
            } => Place::RadiusAttr {
                packet: *packet,
                attr: *attr,
            },
            VarRef::RadiusAttrs(p) => Place::RadiusAttrs(*p),
            VarRef::Aaa(AaaField::Identity) => Place::Aaa(AaaPlace::Identity),
            VarRef::Aaa(AaaField::IdentityName) => Place::Aaa(AaaPlace::IdentityName),
            VarRef::Aaa(AaaField::IdentityRealm) => Place::Aaa(AaaPlace::IdentityRealm),
            VarRef::Aaa(AaaField::Message) => Place::Aaa(AaaPlace::Message),
            VarRef::Aaa(AaaField::Reason) => Place::Aaa(AaaPlace::Reason),
            VarRef::Aaa(AaaField::CaughtError) => Place::Aaa(AaaPlace::CaughtError),
            VarRef::User(f) => Place::User(*f),
            VarRef::Http(HttpField::Status) => Place::Http(HttpPlace::Status),
            VarRef::Http(HttpField::Response) => Place::Http(HttpPlace::Response),
            VarRef::Http(HttpField::ResponseHeader(h)) => {
                Place::Http(HttpPlace::ResponseHeader(h.clone()))
            }
            _ => return None,
        })
    }
}

/// A field of a stream connection (`connection.*`, `radius.connection.*`); the table
/// of the seed `reverse-block.txt` plus `cert.issuer` and `cert.fingerprint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConnField {
    /// `id` (integer): unique within the process.
    Id,
    /// `client_name` (string).
    ClientName,
    /// `peer_addr` (string `ip:port`).
    PeerAddr,
    /// `peer_ip` (ip).
    PeerIp,
    /// `server_name` (string).
    ServerName,
    /// `server_addr` (string `ip:port`).
    ServerAddr,
    /// `server_ip` (ip).
    ServerIp,
    /// `transport_protocol` (`tcp` or `tls`).
    TransportProtocol,
    /// `connected` (timestamp).
    Connected,
    /// `disconnected` (timestamp, none while connected).
    Disconnected,
    /// `status.received` (timestamp of the last Status-Server).
    StatusReceived,
    /// `status.nas_identifier` (string, from Status-Server).
    StatusNasIdentifier,
    /// `last_heard` (timestamp of the last packet from the peer, none before).
    LastHeard,
    /// `healthy` (boolean: false while a timed-out request put the connection in
    /// doubt and no reply has come since).
    Healthy,
    /// `cert.subject.cn`.
    CertSubjectCn,
    /// `cert.issuer`.
    CertIssuer,
    /// `cert.fingerprint`.
    CertFingerprint,
    /// `cert.subject_alt.email[index]`.
    CertSanEmail(Index),
    /// `cert.subject_alt.dns[index]`.
    CertSanDns(Index),
    /// `cert.subject_alt.uri[index]`.
    CertSanUri(Index),
}

/// A field of `aaa.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AaaField {
    /// `aaa.identity` (rw).
    Identity,
    /// `aaa.identity.name`: the part before the last `@` (rw).
    IdentityName,
    /// `aaa.identity.realm`: the part after the last `@` (rw).
    IdentityRealm,
    /// `aaa.policy`: the chosen policy's name.
    Policy,
    /// `aaa.handler`: the chosen handler's name.
    Handler,
    /// `aaa.result`: the result of the handler's `@execute` (set by the engine).
    Result,
    /// `aaa.reason` (rw).
    Reason,
    /// `aaa.message` (rw): reply text.
    Message,
    /// `aaa.errors`: messages of every error raised during the request.
    Errors,
    /// `aaa.caught_error` (rw): the message of the error the latest `try` caught.
    CaughtError,
    /// `aaa.caught_error.code`: its code, comparable with `errors.*`.
    CaughtErrorCode,
    /// `aaa.caught_errors`: messages of every caught error.
    CaughtErrors,
    /// `aaa.method`.
    Method,
    /// `aaa.protocol` (`radius`, `http`).
    Protocol,
}

/// A field of `user.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UserField {
    /// `user.username`.
    Username,
    /// `user.password`.
    Password,
    /// `user.group` (list).
    Group,
    /// `user.role` (list).
    Role,
    /// `user.privilege`.
    Privilege,
    /// `user.backend`: which backend supplied the user.
    Backend,
}

/// A field of `http.*`. Header names are stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HttpField {
    /// `http.method`.
    Method,
    /// `http.path`.
    Path,
    /// `http.path.N`: the N-th non-empty path segment (zero-based).
    PathSegment(usize),
    /// `http.query`: the whole query map.
    QueryAll,
    /// `http.query.K`.
    Query(String),
    /// `http.header.K` (K lower-case).
    Header(String),
    /// `http.body`: the request body as text.
    Body,
    /// `http.json`: the request body parsed as JSON (an error value if it is not).
    Json,
    /// `http.status` (rw).
    Status,
    /// `http.response` (rw).
    Response,
    /// `http.response_header.K` (rw; K lower-case).
    ResponseHeader(String),
    /// `http.authorization.username` (HTTP Basic).
    AuthUsername,
    /// `http.authorization.password` (HTTP Basic).
    AuthPassword,
    /// `http.authorization.bearer`.
    AuthBearer,
    /// `http.client`: the HTTP client's configured name.
    Client,
    /// `http.client.ip`.
    ClientIp,
    /// `http.server`: the name of the HTTP server.
    Server,
}

/// A writable location (the left side of `modify`, `bindings` and `mapping`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    /// `vars.<name>`.
    Vars(String),
    /// `radius.<packet>.code`.
    RadiusCode(PacketRef),
    /// `radius.<packet>.attr.<X>`: every instance of X.
    RadiusAttr {
        /// Which packet.
        packet: PacketRef,
        /// Which attribute.
        attr: AttrId,
    },
    /// `radius.<packet>.attrs`: the whole list.
    RadiusAttrs(PacketRef),
    /// A writable `aaa.*` field.
    Aaa(AaaPlace),
    /// `user.<field>`.
    User(UserField),
    /// A writable `http.*` field.
    Http(HttpPlace),
}

/// The writable fields of `aaa.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AaaPlace {
    /// `aaa.identity`.
    Identity,
    /// `aaa.identity.name`.
    IdentityName,
    /// `aaa.identity.realm`.
    IdentityRealm,
    /// `aaa.message`.
    Message,
    /// `aaa.reason`.
    Reason,
    /// `aaa.caught_error`.
    CaughtError,
}

/// The writable fields of `http.*`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HttpPlace {
    /// `http.status`.
    Status,
    /// `http.response` (`none` answers 204).
    Response,
    /// `http.response_header.K` (K lower-case).
    ResponseHeader(String),
}

/// RADIUS packet codes that have `radius.<CONSTANT>` names, with their
/// dictionary-style names.
pub const RADIUS_CODES: [(u8, &str, &str); 14] = [
    (1, "ACCESS_REQUEST", "Access-Request"),
    (2, "ACCESS_ACCEPT", "Access-Accept"),
    (3, "ACCESS_REJECT", "Access-Reject"),
    (4, "ACCOUNTING_REQUEST", "Accounting-Request"),
    (5, "ACCOUNTING_RESPONSE", "Accounting-Response"),
    (11, "ACCESS_CHALLENGE", "Access-Challenge"),
    (12, "STATUS_SERVER", "Status-Server"),
    (40, "DISCONNECT_REQUEST", "Disconnect-Request"),
    (41, "DISCONNECT_ACK", "Disconnect-ACK"),
    (42, "DISCONNECT_NAK", "Disconnect-NAK"),
    (43, "COA_REQUEST", "CoA-Request"),
    (44, "COA_ACK", "CoA-ACK"),
    (45, "COA_NAK", "CoA-NAK"),
    (52, "PROTOCOL_ERROR", "Protocol-Error"),
];

/// The value of the constant `radius.<NAME>` (e.g. `DISCONNECT_REQUEST` → 40).
pub fn radius_code_constant(name: &str) -> Option<Value> {
    RADIUS_CODES
        .iter()
        .find(|(_, c, _)| *c == name)
        .map(|(n, _, _)| Value::Integer(i128::from(*n)))
}

/// A packet code written as a value: a number, a constant name
/// (`DISCONNECT_REQUEST`) or a dictionary-style name in any case
/// (`"Disconnect-Request"`, `"disconnect-request"`).
pub fn radius_code_from_value(v: &Value) -> Option<u8> {
    match v {
        Value::Integer(i) => u8::try_from(*i).ok().filter(|c| *c != 0),
        Value::String(s) => RADIUS_CODES
            .iter()
            .find(|(_, c, d)| *c == s || d.eq_ignore_ascii_case(s))
            .map(|(n, _, _)| *n)
            .or_else(|| s.parse::<u8>().ok().filter(|c| *c != 0)),
        _ => None,
    }
}
