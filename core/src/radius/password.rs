//! (codec: to be written)
