//! The NAS fleet: N emulated NAS devices, each on its own RadSec or RADIUS/TCP
//! connection. Each announces its NAS-Identifier with Status-Server, waits for the
//! answer (it is then *identified*), and answers every CoA-Request and
//! Disconnect-Request the server sends down its connection: ACK, NAK, or nothing, at once
//! or after a delay, each reply signed (Response Authenticator and Message-Authenticator).
//!
//! Triggers of the bench name their target in the User-Name (`b<seq>@<nas>`, see
//! [`user_name`]), so a NAS notices a request meant for another NAS (misdirected) and,
//! with a [`Tracker`], a request it or another NAS already received (duplicated).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use boomerang_core::radius::attr::{ERROR_CAUSE, USER_NAME};
use boomerang_core::radius::auth::{
    SignOptions, VerifyPolicy, sign_request, sign_response, verify_request, verify_response,
};
use boomerang_core::radius::code::Code;
use boomerang_core::radius::framing::StreamDecoder;
use boomerang_core::radius::packet::Packet;
use boomerang_core::rng::SplitMix64;

use super::histogram::Histogram;
use super::options::{NasAnswer, NasTarget};
use crate::cli::client::net::RadiusStream;

/// NAS-Identifier (RFC 2865).
pub const NAS_IDENTIFIER: u8 = 32;
/// Error-Cause of NAKs: Session-Context-Not-Found (RFC 5176).
const NAK_CAUSE: [u8; 4] = 503u32.to_be_bytes();

/// The User-Name of trigger `seq` aimed at NAS `nas`: unique per trigger, and naming
/// its target so the receiving NAS can check it.
pub fn user_name(out: &mut Vec<u8>, seq: u64, nas: &str) {
    use std::io::Write;
    let _ = write!(out, "b{seq}@{nas}");
}

/// Parses a User-Name written by [`user_name`]: the sequence number and the target.
fn parse_user_name(value: &[u8]) -> Option<(u64, &[u8])> {
    let rest = value.strip_prefix(b"b")?;
    let at = rest.iter().position(|&b| b == b'@')?;
    let seq = std::str::from_utf8(&rest[..at]).ok()?.parse().ok()?;
    Some((seq, &rest[at + 1..]))
}

/// Which trigger sequence numbers some NAS received: one bit each.
#[derive(Debug)]
pub struct Tracker {
    bits: Vec<AtomicU64>,
    capacity: u64,
}

impl Tracker {
    /// Room for sequence numbers `0..capacity`.
    pub fn new(capacity: u64) -> Tracker {
        let words = usize::try_from(capacity.div_ceil(64)).unwrap_or(0);
        Tracker {
            bits: (0..words).map(|_| AtomicU64::new(0)).collect(),
            capacity,
        }
    }

    /// Marks `seq` received; true if it already was (a duplicate). Out of range: false.
    pub fn mark(&self, seq: u64) -> bool {
        if seq >= self.capacity {
            return false;
        }
        let Some(word) = usize::try_from(seq / 64)
            .ok()
            .and_then(|w| self.bits.get(w))
        else {
            return false;
        };
        let bit = 1u64 << (seq % 64);
        word.fetch_or(bit, Ordering::Relaxed) & bit != 0
    }

    /// How many of `0..upto` were received.
    pub fn received(&self, upto: u64) -> u64 {
        let upto = upto.min(self.capacity);
        let full = usize::try_from(upto / 64).unwrap_or(0);
        let mut n: u64 = self
            .bits
            .iter()
            .take(full)
            .map(|w| u64::from(w.load(Ordering::Relaxed).count_ones()))
            .sum();
        let rest = upto % 64;
        if rest > 0
            && let Some(w) = self.bits.get(full)
        {
            let mask = (1u64 << rest) - 1;
            n += u64::from((w.load(Ordering::Relaxed) & mask).count_ones());
        }
        n
    }
}

/// Counters of the whole fleet.
#[derive(Debug, Default)]
pub struct FleetStats {
    /// Connections whose TCP (and TLS) handshake finished.
    pub connected: AtomicUsize,
    /// NAS whose first Status-Server was answered.
    pub identified: AtomicUsize,
    /// NAS that could not connect or were not identified.
    pub failed: AtomicUsize,
    /// Connections that ended before the fleet was stopped.
    pub dropped: AtomicUsize,
    /// Requests received from the server (verified).
    pub received: AtomicU64,
    /// ACKs sent.
    pub acked: AtomicU64,
    /// NAKs sent.
    pub naked: AtomicU64,
    /// Requests left unanswered on purpose (`--nas-answer silent`).
    pub silent: AtomicU64,
    /// Requests that failed verification, or that a NAS does not answer.
    pub invalid: AtomicU64,
    /// Requests whose User-Name names another NAS.
    pub misdirected: AtomicU64,
    /// Requests some NAS had already received (with a tracker).
    pub duplicated: AtomicU64,
    /// Microseconds from the fleet's start until the last handshake finished.
    pub last_handshake_us: AtomicU64,
    /// Microseconds from the fleet's start until the last NAS was identified.
    pub last_identified_us: AtomicU64,
}

/// How the fleet behaves.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Where and how to connect.
    pub target: NasTarget,
    /// The NAS-Identifier of each NAS.
    pub names: Arc<[String]>,
    /// How to answer.
    pub answer: NasAnswer,
    /// Wait before answering.
    pub delay: Option<Duration>,
    /// Status-Server watchdog interval after the first.
    pub status_interval: Duration,
    /// Bound on connecting and on the first Status-Server's answer.
    pub timeout: Duration,
    /// At most this many NAS connecting at once.
    pub concurrency: usize,
    /// Records every trigger received, for duplicate detection.
    pub tracker: Option<Arc<Tracker>>,
}

/// The running fleet.
pub struct Fleet {
    /// Counters.
    pub stats: Arc<FleetStats>,
    /// Connect-to-identified time of each NAS.
    pub identify_latency: Arc<Mutex<Histogram>>,
    /// TCP+TLS handshake time of each NAS.
    pub handshake_latency: Arc<Mutex<Histogram>>,
    /// The first connection error, word for word.
    pub first_error: Arc<Mutex<Option<String>>>,
    notify: Arc<Notify>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    size: usize,
}

impl Fleet {
    /// Starts every NAS (at most `concurrency` connecting at once).
    pub fn start(config: FleetConfig) -> Fleet {
        let stats = Arc::new(FleetStats::default());
        let notify = Arc::new(Notify::new());
        let identify_latency = Arc::new(Mutex::new(Histogram::new()));
        let handshake_latency = Arc::new(Mutex::new(Histogram::new()));
        let first_error = Arc::new(Mutex::new(None));
        let (stop, stopped) = watch::channel(false);
        let gate = Arc::new(Semaphore::new(config.concurrency.max(1)));
        let started = Instant::now();
        let config = Arc::new(config);
        let size = config.names.len();
        let tasks = (0..size)
            .map(|index| {
                let nas = Nas {
                    index,
                    config: Arc::clone(&config),
                    stats: Arc::clone(&stats),
                    notify: Arc::clone(&notify),
                    identify_latency: Arc::clone(&identify_latency),
                    handshake_latency: Arc::clone(&handshake_latency),
                    first_error: Arc::clone(&first_error),
                    started,
                };
                let gate = Arc::clone(&gate);
                let stopped = stopped.clone();
                tokio::spawn(nas.run(gate, stopped))
            })
            .collect();
        Fleet {
            stats,
            identify_latency,
            handshake_latency,
            first_error,
            notify,
            stop,
            tasks,
            size,
        }
    }

    /// Waits until every NAS is identified or failed, at most until `deadline`; returns
    /// how many are identified.
    pub async fn wait_identified(&self, deadline: Instant) -> usize {
        loop {
            let notified = self.notify.notified();
            let identified = self.stats.identified.load(Ordering::Acquire);
            let failed = self.stats.failed.load(Ordering::Acquire);
            if identified + failed >= self.size || Instant::now() >= deadline {
                return identified;
            }
            tokio::select! {
                _ = notified => {}
                _ = sleep_until(deadline) => {}
            }
        }
    }

    /// The first connection error, if any NAS failed.
    pub fn error(&self) -> Option<String> {
        self.first_error.lock().ok().and_then(|e| e.clone())
    }

    /// Closes every connection and waits for the tasks.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// One NAS.
struct Nas {
    index: usize,
    config: Arc<FleetConfig>,
    stats: Arc<FleetStats>,
    notify: Arc<Notify>,
    identify_latency: Arc<Mutex<Histogram>>,
    handshake_latency: Arc<Mutex<Histogram>>,
    first_error: Arc<Mutex<Option<String>>>,
    started: Instant,
}

/// The micro-seconds since `from`, for atomics.
fn micros_since(from: Instant) -> u64 {
    u64::try_from(from.elapsed().as_micros()).unwrap_or(u64::MAX)
}

impl Nas {
    fn name(&self) -> &str {
        self.config.names.get(self.index).map_or("", String::as_str)
    }

    fn fail(&self, reason: String) {
        if let Ok(mut e) = self.first_error.lock() {
            e.get_or_insert_with(|| format!("NAS {}: {reason}", self.name()));
        }
        self.stats.failed.fetch_add(1, Ordering::AcqRel);
        self.notify.notify_waiters();
    }

    async fn run(self, gate: Arc<Semaphore>, mut stopped: watch::Receiver<bool>) {
        let Ok(permit) = gate.acquire().await else {
            return;
        };
        let begun = Instant::now();
        let config = Arc::clone(&self.config);
        let stream = match config.target.connector.connect(config.target.addr).await {
            Ok(s) => s,
            Err(e) => return self.fail(e.to_string()),
        };
        if let Ok(mut h) = self.handshake_latency.lock() {
            h.record(begun.elapsed());
        }
        self.stats.connected.fetch_add(1, Ordering::AcqRel);
        self.stats
            .last_handshake_us
            .fetch_max(micros_since(self.started), Ordering::AcqRel);
        let mut conn = Connection::new(stream, &self);
        let first = tokio::time::timeout(config.timeout, conn.identify()).await;
        drop(permit);
        match first {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return self.fail(e),
            Err(_) => {
                return self.fail(format!(
                    "Status-Server not answered within {:?}",
                    config.timeout
                ));
            }
        }
        if let Ok(mut h) = self.identify_latency.lock() {
            h.record(begun.elapsed());
        }
        self.stats
            .last_identified_us
            .fetch_max(micros_since(self.started), Ordering::AcqRel);
        self.stats.identified.fetch_add(1, Ordering::AcqRel);
        self.notify.notify_waiters();
        if *stopped.borrow() {
            return;
        }
        tokio::select! {
            biased;
            _ = stopped.changed() => {}
            end = conn.serve() => {
                if !*stopped.borrow() {
                    self.stats.dropped.fetch_add(1, Ordering::AcqRel);
                    if let Ok(mut e) = self.first_error.lock() {
                        e.get_or_insert_with(|| format!("NAS {}: {end}", self.name()));
                    }
                }
            }
        }
    }
}

/// An answer waiting for its delay.
struct Delayed {
    due: Instant,
    wire: Bytes,
}

/// One NAS's connection.
struct Connection<'a> {
    nas: &'a Nas,
    reader: tokio::io::ReadHalf<Box<dyn RadiusStream>>,
    writer: tokio::io::WriteHalf<Box<dyn RadiusStream>>,
    decoder: StreamDecoder,
    buf: Vec<u8>,
    rng: SplitMix64,
    status_id: u8,
    /// Authenticator of the Status-Server in flight.
    status_auth: Option<(u8, [u8; 16])>,
    delayed: VecDeque<Delayed>,
    /// Replies ready to write, written in one go per read.
    outbox: Vec<u8>,
}

impl<'a> Connection<'a> {
    fn new(stream: Box<dyn RadiusStream>, nas: &'a Nas) -> Self {
        let (reader, writer) = tokio::io::split(stream);
        let seed = (nas.index as u64) ^ micros_since(nas.started).rotate_left(32);
        Connection {
            nas,
            reader,
            writer,
            decoder: StreamDecoder::new(),
            buf: vec![0; 16 * 1024],
            rng: SplitMix64::new(seed),
            status_id: 0,
            status_auth: None,
            delayed: VecDeque::new(),
            outbox: Vec::with_capacity(4096),
        }
    }

    /// Sends Status-Server with our NAS-Identifier and waits for its verified answer;
    /// requests arriving meanwhile are answered.
    async fn identify(&mut self) -> Result<(), String> {
        self.send_status().await?;
        while self.status_auth.is_some() {
            self.read_some().await?;
            self.flush_outbox().await?;
        }
        Ok(())
    }

    /// Answers requests until the connection ends; returns why it ended.
    async fn serve(&mut self) -> String {
        let interval = self
            .nas
            .config
            .status_interval
            .max(Duration::from_millis(100));
        let mut next_status = Instant::now() + interval;
        let never = Instant::now() + Duration::from_secs(86_400 * 365);
        loop {
            let due = self.delayed.front().map_or(never, |d| d.due);
            let step = tokio::select! {
                biased;
                _ = sleep_until(due), if !self.delayed.is_empty() => {
                    let now = Instant::now();
                    while self.delayed.front().is_some_and(|d| d.due <= now) {
                        if let Some(d) = self.delayed.pop_front() {
                            self.outbox.extend_from_slice(&d.wire);
                        }
                    }
                    Ok(())
                }
                _ = sleep_until(next_status) => {
                    next_status = Instant::now() + interval;
                    self.send_status().await
                }
                r = self.read_some() => r,
            };
            if let Err(e) = step {
                return e;
            }
            if let Err(e) = self.flush_outbox().await {
                return e;
            }
        }
    }

    async fn send_status(&mut self) -> Result<(), String> {
        let id = self.status_id;
        self.status_id = id.wrapping_add(1);
        let mut packet = Packet::new(Code::StatusServer, id);
        packet.push(
            NAS_IDENTIFIER,
            Bytes::copy_from_slice(self.nas.name().as_bytes()),
        );
        let wire = sign_request(
            &mut packet,
            &self.nas.config.target.secret,
            &mut self.rng,
            &SignOptions::default(),
        )
        .map_err(|e| format!("cannot sign Status-Server: {e}"))?;
        self.status_auth = Some((id, packet.authenticator));
        self.outbox.extend_from_slice(&wire);
        self.flush_outbox().await
    }

    async fn flush_outbox(&mut self) -> Result<(), String> {
        if self.outbox.is_empty() {
            return Ok(());
        }
        let r = match self.writer.write_all(&self.outbox).await {
            Ok(()) => self.writer.flush().await,
            Err(e) => Err(e),
        };
        self.outbox.clear();
        r.map_err(|e| format!("write failed: {e}"))
    }

    /// Reads once and handles every whole packet (cancel-safe: one read per call).
    async fn read_some(&mut self) -> Result<(), String> {
        let n = read_once(&mut self.reader, &mut self.buf).await?;
        self.decoder.push(self.buf.get(..n).unwrap_or_default());
        loop {
            match self.decoder.next_packet() {
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("bad framing from the server: {e}")),
                Ok(Some(octets)) => self.packet(octets)?,
            }
        }
    }

    fn packet(&mut self, octets: Bytes) -> Result<(), String> {
        let packet =
            Packet::decode(octets).map_err(|e| format!("malformed packet from the server: {e}"))?;
        let secret = &self.nas.config.target.secret;
        let stats = &self.nas.stats;
        if packet.code.is_response() {
            if let Some((id, auth)) = self.status_auth
                && packet.identifier == id
                && packet.code.answers(Code::StatusServer)
            {
                verify_response(&packet, &auth, secret, &VerifyPolicy::default())
                    .map_err(|e| format!("answer to Status-Server failed verification: {e}"))?;
                self.status_auth = None;
            }
            return Ok(());
        }
        if verify_request(&packet, secret, &VerifyPolicy::default()).is_err() {
            stats.invalid.fetch_add(1, Ordering::Relaxed);
            return Err(format!(
                "a request (code {}) failed verification: wrong secret?",
                packet.code.as_u8()
            ));
        }
        let (Some(ack), Some(nak)) = (packet.code.ack(), packet.code.nak()) else {
            stats.invalid.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        if !matches!(packet.code, Code::CoaRequest | Code::DisconnectRequest) {
            stats.invalid.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        stats.received.fetch_add(1, Ordering::Relaxed);
        if let Some((seq, target)) = packet
            .first_value(USER_NAME)
            .and_then(|v| parse_user_name(v))
        {
            if target != self.nas.name().as_bytes() {
                stats.misdirected.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(tracker) = &self.nas.config.tracker
                && tracker.mark(seq)
            {
                stats.duplicated.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut reply = match self.nas.config.answer {
            NasAnswer::Silent => {
                stats.silent.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            NasAnswer::Ack => {
                stats.acked.fetch_add(1, Ordering::Relaxed);
                packet.new_reply(ack)
            }
            NasAnswer::Nak => {
                stats.naked.fetch_add(1, Ordering::Relaxed);
                let mut r = packet.new_reply(nak);
                r.push(ERROR_CAUSE, Bytes::from_static(&NAK_CAUSE));
                r
            }
        };
        let wire = sign_response(
            &mut reply,
            &packet.authenticator,
            secret,
            &SignOptions::default(),
        )
        .map_err(|e| format!("cannot sign the answer: {e}"))?;
        match self.nas.config.delay {
            Some(d) if !d.is_zero() => self.delayed.push_back(Delayed {
                due: Instant::now() + d,
                wire,
            }),
            _ => self.outbox.extend_from_slice(&wire),
        }
        Ok(())
    }
}

/// One read; a closed connection or a read error is the end.
async fn read_once<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> Result<usize, String> {
    match reader.read(buf).await {
        Ok(0) => Err("closed by the server".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("read failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_round_trip() {
        let mut v = Vec::new();
        user_name(&mut v, 42, "nas-7");
        assert_eq!(v, b"b42@nas-7");
        assert_eq!(parse_user_name(&v), Some((42, &b"nas-7"[..])));
        assert_eq!(parse_user_name(b"alice"), None);
        assert_eq!(parse_user_name(b"bx@y"), None);
    }

    #[test]
    fn tracker_counts_and_spots_duplicates() {
        let t = Tracker::new(130);
        assert!(!t.mark(0));
        assert!(!t.mark(129));
        assert!(t.mark(129));
        assert!(!t.mark(1000));
        assert_eq!(t.received(130), 2);
        assert_eq!(t.received(100), 1);
    }
}
