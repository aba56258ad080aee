//! The database at the other end of [`crate::engine::Output::Sql`].
//!
//! A test either scripts the answers (a function of the statement and its
//! parameters) or hands in a small in-memory table of answers by statement.
//! Every statement run is logged, so a test can check what the engine asked.

use std::collections::BTreeMap;

use crate::contract::SqlRows;
use crate::eval::value::Value;

/// A scripted database: the answer to one statement and its parameters.
pub type SqlFn = Box<dyn FnMut(&str, &[Value]) -> Result<SqlRows, String>>;

/// Answers the engine's SQL effects.
#[derive(Default)]
pub struct SqlResponder {
    script: Option<SqlFn>,
    table: BTreeMap<String, Result<SqlRows, String>>,
    /// Keep [`SqlResponder::log`] (on unless a long run turns it off).
    pub record: bool,
    /// Statements run, in order, with their parameters.
    pub log: Vec<(String, Vec<Value>)>,
}

impl SqlResponder {
    /// No database: every statement fails with "no database".
    pub fn none() -> Self {
        SqlResponder {
            record: true,
            ..SqlResponder::default()
        }
    }

    /// Answers computed by `f`.
    pub fn scripted(f: SqlFn) -> Self {
        SqlResponder {
            script: Some(f),
            ..SqlResponder::none()
        }
    }

    /// Replace the script.
    pub fn set_script(&mut self, f: Option<SqlFn>) {
        self.script = f;
    }

    /// Answer `statement` (whatever its parameters) with `result` from now on;
    /// the table is consulted before the script.
    pub fn table(&mut self, statement: &str, result: Result<SqlRows, String>) {
        self.table.insert(statement.to_owned(), result);
    }

    /// The answer to one statement.
    pub fn run(&mut self, statement: &str, params: &[Value]) -> Result<SqlRows, String> {
        if self.record {
            self.log.push((statement.to_owned(), params.to_vec()));
        }
        if let Some(answer) = self.table.get(statement) {
            return answer.clone();
        }
        match self.script.as_mut() {
            Some(f) => f(statement, params),
            None => Err("no database".into()),
        }
    }
}
