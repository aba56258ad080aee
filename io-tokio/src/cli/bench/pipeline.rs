//! The load engine: a *lane* is one socket (a UDP socket, a TCP/TLS stream, or an HTTP
//! keep-alive connection) with a fixed number of *slots*, each able to hold one request in
//! flight. Slot `i` of a RADIUS lane always uses identifier `i`, so replies are matched
//! without a table and a lane never has more than 256 slots.
//!
//! Closed loop: a slot sends its next request as soon as the previous one is answered or
//! timed out. Open loop (`--rate`): request number `j` of the run is due at
//! `start + j / rate` (requests are spread over lanes round-robin); when no slot is free
//! the request waits, and its latency counts from when it was due, so a slow server is
//! not hidden by the generator slowing down (no coordinated omission).
//!
//! One task per lane, no locks or channels on the hot path; the request bytes are
//! written into one reused buffer; latencies go into the lane's own histogram, merged at
//! the end.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, sleep_until};

use boomerang_core::radius::framing::StreamDecoder;

use super::histogram::Histogram;
use super::options::Plan;
use crate::cli::client::net::RadiusStream;

/// What a reply means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A positive answer (ACK, Accept, Accounting-Response, HTTP 2xx, an echo).
    Ack,
    /// A negative answer (NAK, Reject, HTTP 403).
    Nak,
    /// An answer that is neither (Protocol-Error, Challenge, HTTP 5xx): an error.
    Error,
    /// Not an answer to the request in this slot (late, or fails verification):
    /// discarded, the slot keeps waiting.
    Stray,
}

/// Builds requests and judges replies for one lane.
pub trait Exchange: Send + 'static {
    /// Writes the request for `slot` (identifier `slot`), the `seq`-th of the run, into
    /// `out` (empty on entry). Returns what the reply must be checked against (the
    /// Request Authenticator).
    fn request(&mut self, slot: usize, seq: u64, out: &mut Vec<u8>) -> Result<[u8; 16], String>;
    /// Judges a reply received for `slot`, whose request had `authenticator`.
    fn judge(&mut self, reply: &Bytes, authenticator: &[u8; 16]) -> Verdict;
}

/// The socket of a lane.
pub enum Io {
    /// A connected UDP socket.
    Udp {
        /// The socket.
        socket: UdpSocket,
        /// Receive buffer.
        buf: BytesMut,
    },
    /// A RADIUS/TCP or RadSec connection.
    Stream {
        /// Read side.
        reader: ReadHalf<Box<dyn RadiusStream>>,
        /// Write side.
        writer: WriteHalf<Box<dyn RadiusStream>>,
        /// RFC 6613 framing.
        decoder: StreamDecoder,
        /// Read buffer.
        buf: Vec<u8>,
    },
    /// An HTTP/1.1 keep-alive connection (one request at a time: use one slot).
    Http {
        /// The connection.
        stream: TcpStream,
        /// Bytes read and not yet consumed.
        buf: BytesMut,
    },
}

impl Io {
    /// A stream lane.
    pub fn stream(stream: Box<dyn RadiusStream>) -> Io {
        let (reader, writer) = tokio::io::split(stream);
        Io::Stream {
            reader,
            writer,
            decoder: StreamDecoder::new(),
            buf: vec![0; 16 * 1024],
        }
    }

    /// A UDP lane.
    pub fn udp(socket: UdpSocket) -> Io {
        Io::Udp {
            socket,
            buf: BytesMut::with_capacity(64 * 1024),
        }
    }

    /// An HTTP lane.
    pub fn http(stream: TcpStream) -> Io {
        Io::Http {
            stream,
            buf: BytesMut::with_capacity(4096),
        }
    }

    /// Sends one request.
    async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Io::Udp { socket, .. } => socket.send(data).await.map(|_| ()),
            Io::Stream { writer, .. } => {
                writer.write_all(data).await?;
                writer.flush().await
            }
            Io::Http { stream, .. } => stream.write_all(data).await,
        }
    }

    /// The next reply; `None` when the peer closed the connection. Cancel-safe: state
    /// lives in `self` and every await is a single read.
    async fn recv(&mut self) -> io::Result<Option<Bytes>> {
        match self {
            Io::Udp { socket, buf } => {
                buf.clear();
                buf.reserve(4096);
                socket.recv_buf(buf).await?;
                Ok(Some(buf.split().freeze()))
            }
            Io::Stream {
                reader,
                decoder,
                buf,
                ..
            } => loop {
                match decoder.next_packet() {
                    Ok(Some(p)) => return Ok(Some(p)),
                    Ok(None) => {}
                    Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                }
                let n = reader.read(buf).await?;
                if n == 0 {
                    return Ok(None);
                }
                decoder.push(buf.get(..n).unwrap_or_default());
            },
            Io::Http { stream, buf } => loop {
                if let Some(len) = http_response_len(buf)? {
                    return Ok(Some(buf.split_to(len).freeze()));
                }
                if stream.read_buf(buf).await? == 0 {
                    return Ok(None);
                }
            },
        }
    }

    /// The slot a reply belongs to: its identifier (the only slot on HTTP).
    fn slot_of(&self, reply: &[u8]) -> Option<usize> {
        match self {
            Io::Http { .. } => Some(0),
            _ => reply.get(1).map(|&id| usize::from(id)),
        }
    }

    /// Whether a receive error ends the lane (streams) or is one failed request (UDP:
    /// an ICMP port unreachable shows up as a receive error).
    fn fatal(&self) -> bool {
        !matches!(self, Io::Udp { .. })
    }
}

/// The length of the first complete HTTP response in `buf` (headers and a
/// Content-Length body), or `None` if more bytes are needed.
pub fn http_response_len(buf: &[u8]) -> io::Result<Option<usize>> {
    let Some(head) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "HTTP response headers too long",
            ));
        }
        return Ok(None);
    };
    let headers = std::str::from_utf8(&buf[..head])
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "HTTP headers not UTF-8"))?;
    let mut length = 0usize;
    for line in headers.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length")
                })?;
            } else if name.trim().eq_ignore_ascii_case("transfer-encoding") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "chunked HTTP responses are not supported",
                ));
            }
        }
    }
    let total = head + 4 + length;
    Ok((buf.len() >= total).then_some(total))
}

/// The HTTP status code of a response.
pub fn http_status(response: &[u8]) -> Option<u16> {
    let line = response.split(|&b| b == b'\r').next()?;
    let code = line.split(|&b| b == b' ').nth(1)?;
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// Closed or open loop.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Every free slot sends at once.
    Closed,
    /// `rate` requests per second over the whole run.
    Open {
        /// Requests per second, all lanes together.
        rate: f64,
    },
}

/// State shared by every lane of a run.
#[derive(Debug, Default)]
pub struct Shared {
    /// Requests handed out so far: the next request's sequence number.
    pub issued: AtomicU64,
}

/// Counts of one lane (or, merged, of a run). Outcomes are counted only when they happen
/// after the warm-up.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Requests sent (warm-up included).
    pub sent: u64,
    /// Positive answers.
    pub ack: u64,
    /// Negative answers.
    pub nak: u64,
    /// No answer within --timeout.
    pub timeout: u64,
    /// Answers that are errors, send/receive failures, requests lost with a connection.
    pub error: u64,
    /// Replies that matched no request in flight (late, or failed verification).
    pub stray: u64,
    /// Outcomes during the warm-up (not in the figures).
    pub warmup: u64,
}

impl Counts {
    /// Adds another lane's counts.
    pub fn merge(&mut self, o: &Counts) {
        self.sent += o.sent;
        self.ack += o.ack;
        self.nak += o.nak;
        self.timeout += o.timeout;
        self.error += o.error;
        self.stray += o.stray;
        self.warmup += o.warmup;
    }
}

/// What a lane (or, merged, a run) measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Latencies of answered requests after the warm-up.
    pub latency: Histogram,
    /// Counts.
    pub counts: Counts,
    /// When the last measured outcome happened.
    pub last: Option<Instant>,
    /// The first error that ended a lane, if any.
    pub failure: Option<String>,
}

impl Outcome {
    /// Adds another lane's outcome.
    pub fn merge(&mut self, o: &Outcome) {
        self.latency.merge(&o.latency);
        self.counts.merge(&o.counts);
        self.last = match (self.last, o.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if self.failure.is_none() {
            self.failure.clone_from(&o.failure);
        }
    }
}

/// One request in flight.
#[derive(Debug, Clone, Copy)]
struct Slot {
    busy: bool,
    authenticator: [u8; 16],
    /// When it was sent, or was due (open loop): latency counts from here.
    since: Instant,
    deadline: Instant,
}

/// A lane ready to run.
pub struct Lane<E> {
    /// Its socket.
    pub io: Io,
    /// Its requests.
    pub exchange: E,
    /// How many slots (≤ 256; 1 on HTTP).
    pub slots: usize,
    /// Its position among `lanes` lanes (open loop spacing).
    pub index: usize,
    /// How many lanes the run has.
    pub lanes: usize,
    /// Closed or open loop.
    pub mode: Mode,
    /// The time plan.
    pub plan: Plan,
    /// Shared counters.
    pub shared: Arc<Shared>,
}

impl<E: Exchange> Lane<E> {
    /// Runs until the plan says stop and every slot is idle; returns what it measured.
    pub async fn run(mut self) -> Outcome {
        let n = self.slots.clamp(1, 256);
        let plan = self.plan;
        let mut out = Outcome::default();
        let mut slots = vec![
            Slot {
                busy: false,
                authenticator: [0; 16],
                since: plan.start,
                deadline: plan.start,
            };
            n
        ];
        let mut free: Vec<usize> = (0..n).rev().collect();
        let mut wire = Vec::with_capacity(1024);
        let (first_due, spacing) = match self.mode {
            Mode::Closed => (plan.start, Duration::ZERO),
            Mode::Open { rate } => {
                let step = 1.0 / rate.max(1e-9);
                (
                    plan.start + Duration::from_secs_f64(step * self.index as f64),
                    Duration::from_secs_f64(step * self.lanes.max(1) as f64),
                )
            }
        };
        let mut ticket: u32 = 0;
        let sweep = (plan.timeout / 10).clamp(Duration::from_millis(1), Duration::from_millis(100));
        let mut next_sweep = Instant::now() + sweep;
        let mut stopping = false;
        loop {
            let now = Instant::now();
            if plan.stop_at.is_some_and(|s| now >= s) {
                stopping = true;
            }
            // Send while a slot is free and a request is due.
            while !stopping {
                let Some(&slot) = free.last() else { break };
                let since = match self.mode {
                    Mode::Closed => now,
                    Mode::Open { .. } => {
                        let due = first_due + spacing * ticket;
                        if due > now {
                            break;
                        }
                        due
                    }
                };
                let seq = self.shared.issued.fetch_add(1, Ordering::Relaxed);
                if plan.count.is_some_and(|c| seq >= c) {
                    stopping = true;
                    break;
                }
                free.pop();
                ticket = ticket.wrapping_add(1);
                wire.clear();
                let authenticator = match self.exchange.request(slot, seq, &mut wire) {
                    Ok(a) => a,
                    Err(e) => {
                        out.failure.get_or_insert(e);
                        stopping = true;
                        free.push(slot);
                        break;
                    }
                };
                out.counts.sent += 1;
                if let Err(e) = self.io.send(&wire).await {
                    record(&mut out, &plan, Instant::now(), None);
                    free.push(slot);
                    if self.io.fatal() {
                        out.failure.get_or_insert(format!("send failed: {e}"));
                        fail_busy(&mut out, &plan, &mut slots);
                        return out;
                    }
                    continue;
                }
                slots[slot] = Slot {
                    busy: true,
                    authenticator,
                    since,
                    deadline: Instant::now() + plan.timeout,
                };
            }
            if stopping && free.len() == n {
                return out;
            }
            let mut wake = next_sweep;
            if !stopping {
                if let Some(stop) = plan.stop_at {
                    wake = wake.min(stop);
                }
                if let (Mode::Open { .. }, false) = (self.mode, free.is_empty()) {
                    wake = wake.min(first_due + spacing * ticket);
                }
            }
            tokio::select! {
                biased;
                received = self.io.recv() => match received {
                    Ok(Some(reply)) => {
                        let now = Instant::now();
                        let slot = self.io.slot_of(&reply).filter(|&s| s < n);
                        let Some(slot) = slot.filter(|&s| slots[s].busy) else {
                            out.counts.stray += 1;
                            continue;
                        };
                        let verdict = self.exchange.judge(&reply, &slots[slot].authenticator);
                        if verdict == Verdict::Stray {
                            out.counts.stray += 1;
                            continue;
                        }
                        slots[slot].busy = false;
                        free.push(slot);
                        record(&mut out, &plan, now, Some((verdict, slots[slot].since)));
                    }
                    Ok(None) => {
                        out.failure.get_or_insert_with(|| "the server closed the connection".into());
                        fail_busy(&mut out, &plan, &mut slots);
                        return out;
                    }
                    Err(e) => {
                        if self.io.fatal() {
                            out.failure.get_or_insert(format!("receive failed: {e}"));
                            fail_busy(&mut out, &plan, &mut slots);
                            return out;
                        }
                        // The request it concerned times out in its slot: counted once.
                        out.failure.get_or_insert(format!("receive failed: {e}"));
                    }
                },
                _ = sleep_until(wake) => {
                    let now = Instant::now();
                    if now >= next_sweep {
                        next_sweep = now + sweep;
                        for (i, s) in slots.iter_mut().enumerate() {
                            if s.busy && s.deadline <= now {
                                s.busy = false;
                                free.push(i);
                                record_timeout(&mut out, &plan, now);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Counts one outcome: `Some((verdict, since))` for an answer, `None` for an error
/// without one.
fn record(out: &mut Outcome, plan: &Plan, now: Instant, answer: Option<(Verdict, Instant)>) {
    if now < plan.measure_from {
        out.counts.warmup += 1;
        return;
    }
    out.last = Some(now);
    match answer {
        Some((verdict, since)) => {
            out.latency.record(now.saturating_duration_since(since));
            match verdict {
                Verdict::Ack => out.counts.ack += 1,
                Verdict::Nak => out.counts.nak += 1,
                Verdict::Error | Verdict::Stray => out.counts.error += 1,
            }
        }
        None => out.counts.error += 1,
    }
}

fn record_timeout(out: &mut Outcome, plan: &Plan, now: Instant) {
    if now < plan.measure_from {
        out.counts.warmup += 1;
    } else {
        out.last = Some(now);
        out.counts.timeout += 1;
    }
}

/// Every request in flight on a lane that died is an error.
fn fail_busy(out: &mut Outcome, plan: &Plan, slots: &mut [Slot]) {
    let now = Instant::now();
    for s in slots.iter_mut().filter(|s| s.busy) {
        s.busy = false;
        record(out, plan, now, None);
    }
}

/// Splits `total` slots into lanes of at most `max_per_lane`, and at least `min_lanes`
/// lanes (so the work spreads over the runtime's threads) when there are enough slots.
pub fn split_slots(total: usize, max_per_lane: usize, min_lanes: usize) -> Vec<usize> {
    let total = total.max(1);
    let lanes = total
        .div_ceil(max_per_lane.max(1))
        .max(min_lanes.min(total))
        .max(1);
    (0..lanes)
        .map(|i| total / lanes + usize::from(i < total % lanes))
        .collect()
}

/// Runs every lane as its own task and merges what they measured.
pub async fn run_lanes<E: Exchange>(lanes: Vec<Lane<E>>) -> Outcome {
    let handles: Vec<_> = lanes.into_iter().map(|l| tokio::spawn(l.run())).collect();
    let mut total = Outcome::default();
    for h in handles {
        match h.await {
            Ok(o) => total.merge(&o),
            Err(e) => {
                total
                    .failure
                    .get_or_insert(format!("a load task failed: {e}"));
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_split_evenly_within_the_identifier_space() {
        assert_eq!(split_slots(400, 256, 2), vec![200, 200]);
        assert_eq!(split_slots(1000, 256, 2), vec![250, 250, 250, 250]);
        assert_eq!(split_slots(3, 256, 4), vec![1, 1, 1]);
        assert_eq!(split_slots(1, 1, 1), vec![1]);
        assert_eq!(split_slots(5, 1, 2).len(), 5);
    }

    #[test]
    fn http_responses_are_framed_by_content_length() {
        let r = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1";
        assert_eq!(http_response_len(r).unwrap(), Some(40));
        assert_eq!(http_status(r), Some(200));
        assert_eq!(http_response_len(b"HTTP/1.1 200 OK\r\n").unwrap(), None);
        let short = b"HTTP/1.1 500 x\r\nContent-Length: 10\r\n\r\n{}";
        assert_eq!(http_response_len(short).unwrap(), None);
    }
}
