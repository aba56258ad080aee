//! Stream framing for RADIUS/TCP (RFC 6613) and RadSec (RFC 6614): cut a byte
//! stream into whole packets using only the Length field.
//!
//! The decoder buffers at most the bytes handed to it that do not yet form a
//! whole packet, and does constant work per byte. A Length outside 20..=max is
//! fatal for the connection (RFC 6613 §2.6.4); the error then repeats on every
//! later call so that the caller cannot accidentally resynchronise.

use bytes::{Buf, Bytes, BytesMut};

use super::error::FramingError;
use super::packet::{HEADER_LEN, MAX_PACKET_LEN};

/// Incremental RADIUS stream decoder: push received bytes in any split with
/// [`StreamDecoder::push`], then drain whole packets with
/// [`StreamDecoder::next_packet`] until it returns `Ok(None)`.
#[derive(Debug, Clone)]
pub struct StreamDecoder {
    buf: BytesMut,
    max: usize,
    failed: Option<FramingError>,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamDecoder {
    /// A decoder accepting packets up to 4096 octets.
    pub fn new() -> Self {
        Self::with_max_len(MAX_PACKET_LEN)
    }

    /// A decoder accepting packets up to `max` octets (RFC 7930 allows up to
    /// 65535 over TCP when both ends agree).
    pub fn with_max_len(max: usize) -> Self {
        StreamDecoder {
            buf: BytesMut::new(),
            max,
            failed: None,
        }
    }

    /// Append bytes received from the stream. Drain with
    /// [`StreamDecoder::next_packet`] after each push to keep the buffer small.
    pub fn push(&mut self, data: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(data);
        }
    }

    /// The next whole packet (exactly Length octets), `Ok(None)` when more bytes
    /// are needed, or the error that means the connection must be closed.
    pub fn next_packet(&mut self) -> Result<Option<Bytes>, FramingError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let Some(&[_, _, hi, lo]) = self.buf.get(..4) else {
            return Ok(None);
        };
        let length = u16::from_be_bytes([hi, lo]);
        let len = usize::from(length);
        let error = if len < HEADER_LEN {
            Some(FramingError::LengthBelowMinimum { length })
        } else if len > self.max {
            Some(FramingError::LengthAboveMaximum {
                length,
                max: self.max,
            })
        } else {
            None
        };
        if let Some(e) = error {
            self.buf.clear();
            self.failed = Some(e.clone());
            return Err(e);
        }
        if self.buf.len() < len {
            return Ok(None);
        }
        Ok(Some(self.buf.split_to(len).freeze()))
    }

    /// Octets received but not yet returned as a packet.
    pub fn buffered(&self) -> usize {
        self.buf.remaining()
    }

    /// Whether a framing error has occurred (the connection must be closed).
    pub fn is_failed(&self) -> bool {
        self.failed.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(len: u16, fill: u8) -> Vec<u8> {
        let mut p = vec![fill; usize::from(len)];
        p[2..4].copy_from_slice(&len.to_be_bytes());
        p
    }

    #[test]
    fn byte_at_a_time() {
        let mut stream = packet(20, 1);
        stream.extend(packet(30, 2));
        let mut d = StreamDecoder::new();
        let mut got = Vec::new();
        for b in &stream {
            d.push(&[*b]);
            while let Some(p) = d.next_packet().unwrap() {
                got.push(p);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].len(), 30);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn bad_lengths_are_sticky_errors() {
        let mut d = StreamDecoder::new();
        d.push(&[1, 0, 0, 19]);
        assert_eq!(
            d.next_packet(),
            Err(FramingError::LengthBelowMinimum { length: 19 })
        );
        d.push(&packet(20, 1));
        assert!(d.next_packet().is_err());
        assert!(d.is_failed());
        let mut d = StreamDecoder::with_max_len(100);
        d.push(&[1, 0, 0, 101]);
        assert_eq!(
            d.next_packet(),
            Err(FramingError::LengthAboveMaximum {
                length: 101,
                max: 100
            })
        );
    }
}
