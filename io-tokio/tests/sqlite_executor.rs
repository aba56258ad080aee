//! The SQLite executor against real database files in temporary directories.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use boomerang_core::contract::SqlRows;
use boomerang_core::eval::value::{IpPrefix, Value};
use boomerang_core::lang::program::SqliteBackend;
use boomerang_io_tokio::sqlite::{
    DEFAULT_QUERY_TIMEOUT, DEFAULT_QUEUE_CAPACITY, SqlError, SqliteConfig, SqliteExecutor,
};
use bytes::Bytes;
use rusqlite::Connection;

const USERS_QUERY: &str = "SELECT username, nas_identifier FROM users WHERE username = ?";
const QUOTA_QUERY: &str =
    "SELECT (input + output) > quota AS quota_exceeded FROM sessions WHERE acct_session_id = ?";

fn config(path: &Path) -> SqliteConfig {
    SqliteConfig {
        name: "SQL".into(),
        path: path.to_str().unwrap().into(),
        busy_timeout: Duration::from_millis(50),
        queue_capacity: 16,
        query_timeout: Duration::from_secs(30),
    }
}

/// A database with the seed-like `users` and `sessions` tables.
fn seeded(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("radius.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE users (username TEXT PRIMARY KEY, nas_identifier TEXT);
         INSERT INTO users VALUES ('alice', 'NAS123'), ('bob', 'radiator-nas-simulator');
         CREATE TABLE sessions (acct_session_id TEXT PRIMARY KEY, input INTEGER,
                                output INTEGER, quota INTEGER);
         INSERT INTO sessions VALUES ('S-over', 600, 500, 1000), ('S-under', 10, 20, 1000);",
    )
    .unwrap();
    path
}

fn text(s: &str) -> Value {
    Value::String(s.into())
}

#[tokio::test]
async fn seed_user_query_returns_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteExecutor::open(&config(&seeded(&dir))).unwrap();
    let rows = db.query(USERS_QUERY, vec![text("alice")]).await.unwrap();
    assert_eq!(
        rows,
        SqlRows {
            columns: vec!["username".into(), "nas_identifier".into()],
            rows: vec![vec![text("alice"), text("NAS123")]],
        }
    );
}

#[tokio::test]
async fn no_match_gives_columns_and_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteExecutor::open(&config(&seeded(&dir))).unwrap();
    let rows = db.query(USERS_QUERY, vec![text("mallory")]).await.unwrap();
    assert_eq!(rows.columns, vec!["username", "nas_identifier"]);
    assert!(rows.rows.is_empty());
}

#[tokio::test]
async fn quota_query_answers_integer_one_or_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteExecutor::open(&config(&seeded(&dir))).unwrap();
    let over = db.query(QUOTA_QUERY, vec![text("S-over")]).await.unwrap();
    assert_eq!(over.columns, vec!["quota_exceeded"]);
    assert_eq!(over.rows, vec![vec![Value::Integer(1)]]);
    let under = db.query(QUOTA_QUERY, vec![text("S-under")]).await.unwrap();
    assert_eq!(under.rows, vec![vec![Value::Integer(0)]]);
}

#[tokio::test]
async fn cached_statement_is_rebound_on_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteExecutor::open(&config(&seeded(&dir))).unwrap();
    for (user, nas) in [
        ("alice", "NAS123"),
        ("bob", "radiator-nas-simulator"),
        ("alice", "NAS123"),
    ] {
        let rows = db.query(USERS_QUERY, vec![text(user)]).await.unwrap();
        assert_eq!(rows.rows, vec![vec![text(user), text(nas)]]);
    }
}

#[tokio::test]
async fn bad_sql_is_a_prepare_error_with_sqlites_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteExecutor::open(&config(&seeded(&dir))).unwrap();
    let err = db
        .query("SELEC username FROM users", vec![])
        .await
        .unwrap_err();
    let SqlError::Prepare { message } = &err else {
        panic!("expected Prepare, got {err:?}");
    };
    assert!(message.contains("syntax error"), "{message}");
    assert!(err.to_string().contains("syntax error"), "{err}");

    let err = db.query("SELECT * FROM nosuch", vec![]).await.unwrap_err();
    assert!(
        matches!(&err, SqlError::Prepare { message } if message.contains("no such table: nosuch")),
        "{err:?}"
    );
    // The executor keeps working after a failed statement.
    assert_eq!(
        db.query(USERS_QUERY, vec![text("bob")])
            .await
            .unwrap()
            .rows
            .len(),
        1
    );
}

#[tokio::test]
async fn wrong_parameter_count_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteExecutor::open(&config(&seeded(&dir))).unwrap();
    let err = db.query(USERS_QUERY, vec![]).await.unwrap_err();
    assert_eq!(
        err,
        SqlError::ParameterCount {
            expected: 1,
            given: 0
        }
    );
    let err = db
        .query(USERS_QUERY, vec![text("alice"), text("extra")])
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SqlError::ParameterCount {
            expected: 1,
            given: 2
        }
    );
}

#[tokio::test]
async fn exclusive_lock_held_elsewhere_gives_busy() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded(&dir);
    let db = SqliteExecutor::open(&config(&path)).unwrap();
    let holder = Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let err = db
        .query(USERS_QUERY, vec![text("alice")])
        .await
        .unwrap_err();
    let SqlError::Busy { message } = &err else {
        panic!("expected Busy, got {err:?}");
    };
    assert!(message.contains("locked"), "{message}");

    holder.execute_batch("COMMIT").unwrap();
    assert_eq!(
        db.query(USERS_QUERY, vec![text("alice")])
            .await
            .unwrap()
            .rows
            .len(),
        1
    );
}

#[tokio::test]
async fn deadline_passing_while_locked_gives_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded(&dir);
    let mut cfg = config(&path);
    // SQLite would wait far longer than the caller is willing to.
    cfg.busy_timeout = Duration::from_secs(5);
    let db = SqliteExecutor::open(&cfg).unwrap();
    let holder = Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let deadline = Duration::from_millis(100);
    let err = db
        .query_within(USERS_QUERY, vec![text("alice")], deadline)
        .await
        .unwrap_err();
    assert_eq!(err, SqlError::Timeout { after: deadline });
    holder.execute_batch("COMMIT").unwrap();
    // Once the lock is gone the thread catches up and answers the next query.
    assert_eq!(
        db.query(USERS_QUERY, vec![text("alice")])
            .await
            .unwrap()
            .rows
            .len(),
        1
    );
}

#[tokio::test]
async fn null_blob_and_real_columns_map_to_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("types.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE t (n, i INTEGER, r REAL, s TEXT, b BLOB);
         INSERT INTO t VALUES (NULL, -7, 2.5, 'x', x'00ff10');",
    )
    .unwrap();
    drop(conn);
    let db = SqliteExecutor::open(&config(&path)).unwrap();
    let rows = db
        .query("SELECT n, i, r, s, b FROM t", vec![])
        .await
        .unwrap();
    assert_eq!(rows.columns, vec!["n", "i", "r", "s", "b"]);
    assert_eq!(
        rows.rows,
        vec![vec![
            Value::None,
            Value::Integer(-7),
            Value::Float(2.5),
            text("x"),
            Value::Bytes(Bytes::from_static(&[0x00, 0xff, 0x10])),
        ]]
    );
}

#[tokio::test]
async fn parameters_bind_as_documented() {
    let db = SqliteExecutor::open(&SqliteConfig {
        path: ":memory:".into(),
        ..config(Path::new("unused"))
    })
    .unwrap();
    let ip: IpAddr = "10.9.0.1".parse().unwrap();
    let prefix = IpPrefix::new("10.0.0.0".parse().unwrap(), 8).unwrap();
    let cases = [
        (Value::Integer(42), Value::Integer(42), "integer"),
        (
            Value::Integer(i128::from(i64::MIN)),
            Value::Integer(i128::from(i64::MIN)),
            "integer",
        ),
        (Value::Float(1.25), Value::Float(1.25), "real"),
        (text("héllo"), text("héllo"), "text"),
        (
            Value::Bytes(Bytes::from_static(b"\x01\x02")),
            Value::Bytes(Bytes::from_static(b"\x01\x02")),
            "blob",
        ),
        (Value::Bool(true), Value::Integer(1), "integer"),
        (Value::Bool(false), Value::Integer(0), "integer"),
        (Value::None, Value::None, "null"),
        (Value::Ip(ip), text("10.9.0.1"), "text"),
        (Value::Prefix(prefix), text("10.0.0.0/8"), "text"),
        (
            Value::Timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(86_400)),
            text("1970-01-02T00:00:00Z"),
            "text",
        ),
    ];
    for (param, back, sql_type) in cases {
        let rows = db
            .query(
                "SELECT ? AS v, typeof(?) AS t",
                vec![param.clone(), param.clone()],
            )
            .await
            .unwrap();
        assert_eq!(
            rows.rows,
            vec![vec![back, text(sql_type)]],
            "binding {param:?}"
        );
    }
    let rows = db
        .query(
            "SELECT typeof(?)",
            vec![Value::Duration(Duration::from_secs(90))],
        )
        .await
        .unwrap();
    assert_eq!(rows.rows, vec![vec![text("text")]]);
}

#[tokio::test]
async fn unbindable_parameters_are_bind_errors_naming_the_position() {
    let db = SqliteExecutor::open(&SqliteConfig {
        path: ":memory:".into(),
        ..config(Path::new("unused"))
    })
    .unwrap();
    let too_big = Value::Integer(i128::from(i64::MAX) + 1);
    let err = db
        .query("SELECT ?, ?", vec![Value::None, too_big])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SqlError::Bind { index: 2, message } if message.contains("64-bit")),
        "{err:?}"
    );
    for bad in [
        Value::List(vec![Value::Integer(1)]),
        Value::Map(Default::default()),
        Value::Json(serde_json::json!({"a": 1})),
        Value::Attrs(vec![]),
        Value::Any,
    ] {
        let err = db.query("SELECT ?", vec![bad.clone()]).await.unwrap_err();
        assert!(
            matches!(&err, SqlError::Bind { index: 1, message } if message.contains("no SQL form")),
            "{bad:?} gave {err:?}"
        );
    }
}

#[tokio::test]
async fn memory_database_keeps_state_between_queries() {
    let db = SqliteExecutor::open(&SqliteConfig {
        path: ":memory:".into(),
        ..config(Path::new("unused"))
    })
    .unwrap();
    let none = db
        .query("CREATE TABLE kv (k TEXT, v INTEGER)", vec![])
        .await
        .unwrap();
    assert_eq!(none, SqlRows::default());
    db.query(
        "INSERT INTO kv VALUES (?, ?)",
        vec![text("a"), Value::Integer(5)],
    )
    .await
    .unwrap();
    let rows = db
        .query("SELECT v FROM kv WHERE k = ?", vec![text("a")])
        .await
        .unwrap();
    assert_eq!(rows.rows, vec![vec![Value::Integer(5)]]);
}

#[tokio::test]
async fn constraint_violation_is_an_execute_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteExecutor::open(&config(&seeded(&dir))).unwrap();
    let err = db
        .query(
            "INSERT INTO users VALUES (?, ?)",
            vec![text("alice"), text("X")],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SqlError::Execute { message } if message.contains("UNIQUE constraint failed")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_queries_complete() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(SqliteExecutor::open(&config(&seeded(&dir))).unwrap());
    let mut tasks = Vec::new();
    for n in 0..1000 {
        let db = Arc::clone(&db);
        tasks.push(tokio::spawn(async move {
            let (user, nas) = if n % 2 == 0 {
                ("alice", "NAS123")
            } else {
                ("bob", "radiator-nas-simulator")
            };
            let rows = db.query(USERS_QUERY, vec![text(user)]).await.unwrap();
            assert_eq!(rows.rows, vec![vec![text(user), text(nas)]]);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[test]
fn open_failures_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("no/such/dir/radius.db");
    let err = SqliteExecutor::open(&config(&missing_dir)).unwrap_err();
    let SqlError::Open { path, message } = &err else {
        panic!("expected Open, got {err:?}");
    };
    assert_eq!(path, missing_dir.to_str().unwrap());
    assert!(message.contains("unable to open"), "{message}");

    let not_db = dir.path().join("garbage.db");
    std::fs::write(&not_db, vec![b'x'; 4096]).unwrap();
    let err = SqliteExecutor::open(&config(&not_db)).unwrap_err();
    assert!(
        matches!(&err, SqlError::Open { message, .. } if message.contains("not a database")),
        "{err:?}"
    );
}

#[tokio::test]
async fn close_finishes_queued_work_and_releases_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded(&dir);
    let db = SqliteExecutor::open(&config(&path)).unwrap();
    db.query(
        "INSERT INTO users VALUES (?, ?)",
        vec![text("carol"), text("NAS9")],
    )
    .await
    .unwrap();
    db.close().await.unwrap();
    let conn = Connection::open(&path).unwrap();
    let nas: String = conn
        .query_row(
            "SELECT nas_identifier FROM users WHERE username = 'carol'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(nas, "NAS9");
}

#[test]
fn config_from_backend_copies_path_and_busy_timeout() {
    let backend = SqliteBackend {
        path: "/var/lib/boomerang/radius.db".into(),
        busy_timeout: Duration::from_secs(3),
        queries: vec![],
    };
    assert_eq!(
        SqliteConfig::from_backend("SQL", &backend),
        SqliteConfig {
            name: "SQL".into(),
            path: "/var/lib/boomerang/radius.db".into(),
            busy_timeout: Duration::from_secs(3),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
        }
    );
}

#[tokio::test]
async fn queued_query_whose_caller_gave_up_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded(&dir);
    let mut cfg = config(&path);
    cfg.busy_timeout = Duration::from_secs(30);
    let db = SqliteExecutor::open(&cfg).unwrap();
    let holder = Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let deadline = Duration::from_millis(50);
    // The first query occupies the thread, waiting on the lock; the second waits in
    // the queue until its caller gives up.
    let (first, second) = tokio::join!(
        db.query_within(USERS_QUERY, vec![text("alice")], deadline),
        db.query_within(
            "INSERT INTO users VALUES (?, ?)",
            vec![text("late"), text("NAS0")],
            deadline,
        ),
    );
    assert_eq!(first.unwrap_err(), SqlError::Timeout { after: deadline });
    assert_eq!(second.unwrap_err(), SqlError::Timeout { after: deadline });
    holder.execute_batch("COMMIT").unwrap();
    let rows = db
        .query(
            "SELECT count(*) FROM users WHERE username = ?",
            vec![text("late")],
        )
        .await
        .unwrap();
    assert_eq!(rows.rows, vec![vec![Value::Integer(0)]]);
}
