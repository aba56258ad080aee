//! (dictionary: to be written)
