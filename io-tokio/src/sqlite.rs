//! SQLite backends: each `sqlite "NAME" { … }` backend gets one dedicated OS thread that
//! owns its [`rusqlite::Connection`], fed by a bounded queue, so blocking SQLite calls
//! (disk I/O, waiting on a locked database) never stall the async runtime.
//!
//! The engine hands the driver a statement and its positional parameters as policy
//! [`Value`]s; [`SqliteExecutor::query`] runs it and answers with [`SqlRows`] or a
//! [`SqlError`], whose text the engine reports as `errors.BACKEND_ERROR`.
//!
//! # Parameter binding
//!
//! | policy value | bound as |
//! | --- | --- |
//! | `Integer` | INTEGER (a value outside the 64-bit signed range is a [`SqlError::Bind`]) |
//! | `Float` | REAL |
//! | `String` | TEXT |
//! | `Bytes` | BLOB |
//! | `Bool` | INTEGER 1 or 0 |
//! | `None` | NULL |
//! | `Ip`, `Prefix`, `Timestamp`, `Duration` | TEXT, their text form ([`to_text`]): `10.0.0.1`, `10.0.0.0/8`, `2024-05-01T12:00:00Z`, `1h30m` |
//! | `List`, `Map`, `Json`, `Attrs`, `Error`, `Regex`, `Any` | refused: [`SqlError::Bind`] naming the parameter |
//!
//! # Result columns
//!
//! NULL → `None`, INTEGER → `Integer`, REAL → `Float`, TEXT → `String` (invalid UTF-8
//! is replaced with U+FFFD), BLOB → `Bytes`.
//!
//! # Deadlines
//!
//! Every query has a deadline ([`SqliteConfig::query_timeout`], or the one passed to
//! [`SqliteExecutor::query_within`]) covering both the wait for a queue slot and the
//! execution. When it passes the caller gets [`SqlError::Timeout`] at once, but a
//! statement SQLite is already running cannot be interrupted from outside: the thread
//! finishes it (bounded by the busy timeout for lock waits) and throws the answer
//! away. A query still waiting in the queue whose caller has given up is skipped.

use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use boomerang_core::contract::SqlRows;
use boomerang_core::eval::query::SqlQuery;
use boomerang_core::eval::text::{to_text, type_name};
use boomerang_core::eval::value::Value;
use boomerang_core::lang::program::SqliteBackend;
use bytes::Bytes;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use tokio::sync::{mpsc, oneshot};

/// How many queries may wait for a backend's thread by default; further callers wait
/// for a free slot (within their deadline).
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;
/// How long a query may take, queueing included, when nothing else is said.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How many prepared statements each connection keeps ready for reuse.
pub const STATEMENT_CACHE_CAPACITY: usize = 64;

/// Why an SQL query failed. The `Display` text carries SQLite's own message, which is
/// what a policy sees in `errors.BACKEND_ERROR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// The database could not be opened (missing directory, permissions, not a
    /// database, …).
    #[error("cannot open SQLite database {path:?}: {message}")]
    Open {
        /// The path as configured.
        path: String,
        /// SQLite's message.
        message: String,
    },
    /// The statement does not compile (syntax error, unknown table or column, more
    /// than one statement).
    #[error("SQL statement does not prepare: {message}")]
    Prepare {
        /// SQLite's message.
        message: String,
    },
    /// At start: statements of the backend's queries that cannot run against the
    /// database (they do not prepare, or a mapping reads a column they do not return).
    #[error("{problems}")]
    Statements {
        /// Every problem, `query `NAME`: …`, joined with `; `.
        problems: String,
    },
    /// The statement has a different number of `?` placeholders than parameters given.
    #[error("SQL statement takes {expected} parameter(s) but {given} were given")]
    ParameterCount {
        /// Placeholders in the statement.
        expected: usize,
        /// Parameters the query supplied.
        given: usize,
    },
    /// A parameter cannot be bound (a value with no SQL form, an integer out of range,
    /// or SQLite refused it).
    #[error("SQL parameter {index} cannot be bound: {message}")]
    Bind {
        /// The parameter's position, counting from 1 as SQLite does.
        index: usize,
        /// What is wrong with it.
        message: String,
    },
    /// Running the statement failed (constraint violation, I/O error, …).
    #[error("SQL statement failed: {message}")]
    Execute {
        /// SQLite's message.
        message: String,
    },
    /// The database stayed locked by another connection for longer than the busy
    /// timeout.
    #[error("SQLite database is busy: {message}")]
    Busy {
        /// SQLite's message.
        message: String,
    },
    /// The query's deadline passed before its answer arrived.
    #[error("SQL query timed out after {after:?}")]
    Timeout {
        /// The deadline that passed.
        after: Duration,
    },
    /// The backend's thread has stopped (shutdown, or the thread ended unexpectedly).
    #[error("SQLite backend is closed")]
    Closed,
    /// Closing the connection at shutdown failed; the connection is dropped anyway.
    #[error("closing SQLite database failed: {message}")]
    Close {
        /// SQLite's message.
        message: String,
    },
}

/// Everything needed to start one backend's thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteConfig {
    /// The backend's configuration name (names the thread and appears in logs).
    pub name: String,
    /// The database file; `:memory:` is a private in-memory database.
    pub path: String,
    /// How long SQLite waits on a locked database before reporting [`SqlError::Busy`].
    pub busy_timeout: Duration,
    /// Bound of the query queue.
    pub queue_capacity: usize,
    /// Default deadline of [`SqliteExecutor::query`].
    pub query_timeout: Duration,
}

impl SqliteConfig {
    /// The settings of a compiled `sqlite` backend, with the default queue capacity and
    /// query deadline.
    pub fn from_backend(name: &str, backend: &SqliteBackend) -> SqliteConfig {
        SqliteConfig {
            name: name.to_owned(),
            path: backend.path.clone(),
            busy_timeout: backend.busy_timeout,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
        }
    }
}

/// One query on its way to the thread.
struct Job {
    statement: String,
    params: Vec<Value>,
    reply: oneshot::Sender<Result<SqlRows, SqlError>>,
}

/// A running SQLite backend: a thread owning the connection and the queue feeding it.
///
/// Dropping it (or calling [`SqliteExecutor::close`]) lets the thread finish the
/// queries already queued, then close the connection.
#[derive(Debug)]
pub struct SqliteExecutor {
    name: String,
    query_timeout: Duration,
    sender: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<Result<(), SqlError>>>,
}

impl SqliteExecutor {
    /// Open the database (read-write, created when missing), set its busy timeout and
    /// start the backend's thread.
    ///
    /// This blocks while SQLite opens the file: call it at startup or from
    /// `spawn_blocking`.
    pub fn open(config: &SqliteConfig) -> Result<SqliteExecutor, SqlError> {
        Self::open_for(config, &[])
    }

    /// [`SqliteExecutor::open`], first preparing the statement of every one of
    /// `queries` against the database ([`statement_problems`]): one that cannot run
    /// would fail every request that uses it, so the backend is refused instead
    /// ([`SqlError::Statements`]). Statements are not checked against a database that
    /// does not exist yet (opening creates it empty: its tables may come later) nor
    /// against `:memory:`.
    pub fn open_for(
        config: &SqliteConfig,
        queries: &[SqlQuery],
    ) -> Result<SqliteExecutor, SqlError> {
        let existed = config.path != ":memory:" && Path::new(&config.path).exists();
        let conn = open_connection(&config.path, config.busy_timeout)?;
        if existed {
            let problems: Vec<String> = queries
                .iter()
                .flat_map(|q| {
                    statement_problems(&conn, q)
                        .into_iter()
                        .map(move |p| format!("query `{}`: {p}", q.name))
                })
                .collect();
            if !problems.is_empty() {
                return Err(SqlError::Statements {
                    problems: problems.join("; "),
                });
            }
        }
        let (sender, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let thread = std::thread::Builder::new()
            .name(format!("sqlite-{}", config.name))
            .spawn(move || run(conn, receiver))
            .map_err(|e| SqlError::Open {
                path: config.path.clone(),
                message: format!("cannot start the backend thread: {e}"),
            })?;
        Ok(SqliteExecutor {
            name: config.name.clone(),
            query_timeout: config.query_timeout,
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// The backend's configuration name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Run `statement` with positional `params` within the configured deadline.
    pub async fn query(&self, statement: &str, params: Vec<Value>) -> Result<SqlRows, SqlError> {
        self.query_within(statement, params, self.query_timeout)
            .await
    }

    /// Run `statement` with positional `params`; [`SqlError::Timeout`] when the answer
    /// has not arrived within `deadline` (queueing included).
    pub async fn query_within(
        &self,
        statement: &str,
        params: Vec<Value>,
        deadline: Duration,
    ) -> Result<SqlRows, SqlError> {
        let sender = self.sender.as_ref().ok_or(SqlError::Closed)?;
        let (reply, answer) = oneshot::channel();
        let job = Job {
            statement: statement.to_owned(),
            params,
            reply,
        };
        let exchange = async {
            sender.send(job).await.map_err(|_| SqlError::Closed)?;
            answer.await.map_err(|_| SqlError::Closed)?
        };
        match tokio::time::timeout(deadline, exchange).await {
            Ok(result) => result,
            Err(_) => Err(SqlError::Timeout { after: deadline }),
        }
    }

    /// Stop accepting queries, let the thread finish the queued ones, close the
    /// connection and wait for the thread to end.
    pub async fn close(mut self) -> Result<(), SqlError> {
        self.sender = None;
        let Some(handle) = self.thread.take() else {
            return Ok(());
        };
        match tokio::task::spawn_blocking(move || handle.join()).await {
            Ok(Ok(result)) => result,
            // The thread panicked or the join task was cancelled: nothing is left open.
            Ok(Err(_)) | Err(_) => Err(SqlError::Closed),
        }
    }
}

/// Whether [`SqliteExecutor::open`] would succeed on `path`, found out without
/// creating or changing anything (for `boomerang check`): an existing file is opened
/// read-write, not created, and its schema read, as `open` does; a missing one
/// (which `open` creates) needs an existing directory to be created in.
/// `:memory:` always opens.
pub fn probe_database(path: &str) -> Result<(), SqlError> {
    let fail = |message: String| SqlError::Open {
        path: path.to_owned(),
        message,
    };
    if path == ":memory:" {
        return Ok(());
    }
    let file = Path::new(path);
    match std::fs::metadata(file) {
        Ok(meta) if meta.is_dir() => Err(fail("it is a directory".to_owned())),
        Ok(_) => {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(file, flags).map_err(|e| fail(e.to_string()))?;
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
                .map_err(|e| fail(e.to_string()))?;
            conn.close().map_err(|(_, e)| fail(e.to_string()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = match file.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            if parent.is_dir() {
                Ok(())
            } else {
                Err(fail(format!(
                    "the file does not exist and its directory `{}` does not either, so it cannot be created",
                    parent.display()
                )))
            }
        }
        Err(e) => Err(fail(e.to_string())),
    }
}

/// Why a query's statement cannot run against a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementProblem {
    /// It does not prepare (syntax, an unknown table or column, several statements):
    /// SQLite's message.
    Prepare(String),
    /// Entry `index` of the mapping reads `column`, which the statement does not
    /// return (it returns `returned`).
    MissingColumn {
        /// The mapping entry, counting from 0.
        index: usize,
        /// The column it reads.
        column: String,
        /// The columns the statement returns.
        returned: Vec<String>,
    },
}

impl std::fmt::Display for StatementProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatementProblem::Prepare(message) => {
                write!(f, "SQL statement does not prepare: {message}")
            }
            StatementProblem::MissingColumn {
                column, returned, ..
            } => {
                write!(
                    f,
                    "the mapping reads column {column:?}, which the statement does not return"
                )?;
                if returned.is_empty() {
                    write!(f, " (it returns no columns)")
                } else {
                    write!(f, " (it returns {})", returned.join(", "))
                }
            }
        }
    }
}

/// Prepare `query`'s statement on `conn` (nothing runs) and compare the columns it
/// returns with those its mapping reads (case-insensitively, as the mapping does).
pub fn statement_problems(conn: &Connection, query: &SqlQuery) -> Vec<StatementProblem> {
    let stmt = match conn.prepare(&query.statement) {
        Ok(s) => s,
        Err(e) => return vec![StatementProblem::Prepare(e.to_string())],
    };
    let returned: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    query
        .mapping
        .iter()
        .enumerate()
        .filter(|(_, m)| !returned.iter().any(|c| c.eq_ignore_ascii_case(&m.column)))
        .map(|(index, m)| StatementProblem::MissingColumn {
            index,
            column: m.column.clone(),
            returned: returned.clone(),
        })
        .collect()
}

/// For `boomerang check`: the [`statement_problems`] of each of `queries` (with its
/// index) against the database at `path`, opened as [`probe_database`] opens it,
/// creating and changing nothing. Nothing is checked (an empty list) for `:memory:`
/// or a file that does not exist yet, as [`SqliteExecutor::open_for`] does not check
/// them either; a database that does not open is [`probe_database`]'s to report (an
/// empty list here).
pub fn probe_statements(path: &str, queries: &[SqlQuery]) -> Vec<(usize, StatementProblem)> {
    if path == ":memory:" || !Path::new(path).is_file() {
        return Vec::new();
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let Ok(conn) = Connection::open_with_flags(Path::new(path), flags) else {
        return Vec::new();
    };
    // SQLite opens lazily: a file that is not a database fails here, not at prepare.
    if conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .is_err()
    {
        return Vec::new();
    }
    let out = queries
        .iter()
        .enumerate()
        .flat_map(|(i, q)| {
            statement_problems(&conn, q)
                .into_iter()
                .map(move |p| (i, p))
        })
        .collect();
    let _ = conn.close();
    out
}

/// Open `path` read-write-create with the busy timeout set. URI file names are not
/// interpreted: the path is a file name (or `:memory:`).
fn open_connection(path: &str, busy_timeout: Duration) -> Result<Connection, SqlError> {
    let open_err = |e: rusqlite::Error| SqlError::Open {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(Path::new(path), flags).map_err(open_err)?;
    conn.busy_timeout(busy_timeout).map_err(open_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    // SQLite opens files lazily: read the schema now so a file that is not a database
    // fails here, at startup, rather than on the first query.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
        .map_err(open_err)?;
    Ok(conn)
}

/// The backend thread: answer queued queries until every sender is gone.
fn run(conn: Connection, mut receiver: mpsc::Receiver<Job>) -> Result<(), SqlError> {
    while let Some(job) = receiver.blocking_recv() {
        if job.reply.is_closed() {
            // The caller's deadline passed while this waited in the queue.
            continue;
        }
        let result = execute(&conn, &job.statement, &job.params);
        // A caller that gave up meanwhile simply does not get the answer.
        let _ = job.reply.send(result);
    }
    conn.close().map_err(|(_, e)| SqlError::Close {
        message: e.to_string(),
    })
}

/// Prepare (from the cache), bind and run one statement, collecting every row.
fn execute(conn: &Connection, statement: &str, params: &[Value]) -> Result<SqlRows, SqlError> {
    let mut stmt = conn
        .prepare_cached(statement)
        .map_err(|e| classify(e, |message| SqlError::Prepare { message }))?;
    let expected = stmt.parameter_count();
    if expected != params.len() {
        return Err(SqlError::ParameterCount {
            expected,
            given: params.len(),
        });
    }
    // A cached statement keeps its previous bindings: every slot is rebound below.
    for (n, value) in params.iter().enumerate() {
        let index = n + 1;
        let bound = to_sql(value).map_err(|message| SqlError::Bind { index, message })?;
        stmt.raw_bind_parameter(index, bound)
            .map_err(|e| classify(e, |message| SqlError::Bind { index, message }))?;
    }
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let width = columns.len();
    let mut rows = Vec::new();
    let mut cursor = stmt.raw_query();
    loop {
        let row = match cursor.next() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => return Err(classify(e, |message| SqlError::Execute { message })),
        };
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            let cell = row
                .get_ref(i)
                .map_err(|e| classify(e, |message| SqlError::Execute { message }))?;
            values.push(from_sql(cell));
        }
        rows.push(values);
    }
    Ok(SqlRows { columns, rows })
}

/// A lock wait that ran out is [`SqlError::Busy`] wherever it happened; anything else
/// becomes the failure of the step that was running.
fn classify(e: rusqlite::Error, otherwise: impl FnOnce(String) -> SqlError) -> SqlError {
    let message = e.to_string();
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => SqlError::Busy { message },
        _ => otherwise(message),
    }
}

/// The SQL form of a parameter, or why it has none.
fn to_sql(value: &Value) -> Result<SqlValue, String> {
    Ok(match value {
        Value::None => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Integer(i) => SqlValue::Integer(
            i64::try_from(*i)
                .map_err(|_| format!("integer {i} is outside the 64-bit signed range"))?,
        ),
        Value::Float(f) => SqlValue::Real(*f),
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Bytes(b) => SqlValue::Blob(b.to_vec()),
        Value::Ip(_) | Value::Prefix(_) | Value::Timestamp(_) | Value::Duration(_) => {
            SqlValue::Text(to_text(value))
        }
        Value::Error(e) => return Err(format!("an error value has no SQL form ({e})")),
        Value::Any
        | Value::Regex(_)
        | Value::List(_)
        | Value::Map(_)
        | Value::Json(_)
        | Value::Attrs(_) => {
            return Err(format!("a {} value has no SQL form", type_name(value)));
        }
    })
}

/// The policy value of a result cell.
fn from_sql(cell: ValueRef<'_>) -> Value {
    match cell {
        ValueRef::Null => Value::None,
        ValueRef::Integer(i) => Value::Integer(i128::from(i)),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Bytes(Bytes::copy_from_slice(b)),
    }
}
