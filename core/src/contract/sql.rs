//! What an SQL statement returned, as the driver reports it.

use crate::eval::value::Value;

/// The rows an SQL backend returned.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SqlRows {
    /// Column names, in result order.
    pub columns: Vec<String>,
    /// Rows; each has one value per column.
    pub rows: Vec<Vec<Value>>,
}
