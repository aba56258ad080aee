//! (typed attribute values: to be written)
