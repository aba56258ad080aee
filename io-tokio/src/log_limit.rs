//! Rate-limited warnings for things that repeat at the rate an attacker chooses:
//! dropped datagrams, refused HTTP requests, connections over a limit, accept errors,
//! and (at `info`) failed TLS handshakes.
//!
//! Each warning has a key (its reason and server, with addresses and numbers taken
//! out). The first warning of a key is written; further ones within [`WINDOW`] are
//! only counted, and the count is reported ("… N more suppressed") with the next
//! warning of that key after the window, or by [`flush_expired`] (the driver calls it
//! every second) and [`flush_all`] (when the driver stops). A flood of 20,000 junk
//! datagrams thus writes a handful of lines instead of 20,000. Warnings about a name a
//! peer chose (a NAS-Identifier claim) are keyed by that name ([`warn_named`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// At most one line per key in this period.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Keys remembered at once; past that, keys whose window has ended are forgotten, and
/// if none has, further new keys are counted under one overflow key (the one key
/// allowed past the bound).
pub const MAX_KEYS: usize = 1024;
/// The key that new keys fall under while [`MAX_KEYS`] keys are in their window.
const OVERFLOW_KEY: &str = "other repeated warnings";

/// The level a key's lines are written at; the report of its suppressed lines comes
/// at the same level (the higher one if a key was used at both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `tracing::info!`.
    Info,
    /// `tracing::warn!`.
    Warn,
}

/// The warnings of one key suppressed in a window, to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    /// The key.
    pub key: String,
    /// How many were suppressed.
    pub count: u64,
    /// The level to report them at.
    pub level: Level,
}

/// What to do with one warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write it, saying how many warnings of its key were suppressed before it.
    Emit {
        /// Warnings of this key suppressed since the last one written.
        suppressed: u64,
    },
    /// Count it, write nothing.
    Suppress,
}

/// One key's window.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// When the last written warning of this key was written.
    since: Instant,
    /// Warnings suppressed since then.
    suppressed: u64,
    /// The level of its lines.
    level: Level,
}

/// The rate limiter: at most one warning per key per window.
#[derive(Debug)]
pub struct LogLimiter {
    window: Duration,
    max_keys: usize,
    slots: BTreeMap<String, Slot>,
}

impl LogLimiter {
    /// A limiter writing at most one warning per key per `window`, remembering at most
    /// `max_keys` keys.
    pub const fn new(window: Duration, max_keys: usize) -> LogLimiter {
        LogLimiter {
            window,
            max_keys,
            slots: BTreeMap::new(),
        }
    }

    /// Whether a warning of `key`, at `level`, seen at `now` is written or counted.
    pub fn check(&mut self, key: &str, level: Level, now: Instant) -> Verdict {
        if let Some(slot) = self.slots.get_mut(key) {
            if now.saturating_duration_since(slot.since) < self.window {
                slot.suppressed += 1;
                slot.level = slot.level.max(level);
                return Verdict::Suppress;
            }
            let suppressed = slot.suppressed;
            *slot = Slot {
                since: now,
                suppressed: 0,
                level,
            };
            return Verdict::Emit { suppressed };
        }
        if self.slots.len() >= self.max_keys {
            let window = self.window;
            self.slots
                .retain(|_, s| now.saturating_duration_since(s.since) < window || s.suppressed > 0);
            if self.slots.len() >= self.max_keys && key != OVERFLOW_KEY {
                return self.check(OVERFLOW_KEY, level, now);
            }
        }
        self.slots.insert(
            key.to_owned(),
            Slot {
                since: now,
                suppressed: 0,
                level,
            },
        );
        Verdict::Emit { suppressed: 0 }
    }

    /// The keys whose window has ended with warnings suppressed, and how many; their
    /// counts restart (and keys with nothing left to report are forgotten).
    pub fn take_expired(&mut self, now: Instant) -> Vec<Suppressed> {
        let window = self.window;
        let mut out = Vec::new();
        self.slots.retain(|key, slot| {
            if now.saturating_duration_since(slot.since) < window {
                return true;
            }
            if slot.suppressed > 0 {
                out.push(Suppressed {
                    key: key.clone(),
                    count: slot.suppressed,
                    level: slot.level,
                });
            }
            false
        });
        out
    }

    /// Every key with warnings suppressed, and how many, whatever its window; the
    /// limiter starts afresh.
    pub fn take_all(&mut self) -> Vec<Suppressed> {
        std::mem::take(&mut self.slots)
            .into_iter()
            .filter(|(_, s)| s.suppressed > 0)
            .map(|(key, s)| Suppressed {
                key,
                count: s.suppressed,
                level: s.level,
            })
            .collect()
    }
}

/// Keys remembered at once by the limiter of [`warn_named`], apart from the others.
pub const MAX_NAMED_KEYS: usize = 256;

/// The process's limiter: warnings are about the process's sockets, whichever driver
/// (a reload starts a new one) writes them.
static LIMITER: Mutex<LogLimiter> = Mutex::new(LogLimiter::new(WINDOW, MAX_KEYS));
/// The limiter of keys that keep a name a peer chose ([`warn_named`]): bounded on its
/// own, so that many names cannot crowd the other keys out.
static NAMED: Mutex<LogLimiter> = Mutex::new(LogLimiter::new(WINDOW, MAX_NAMED_KEYS));

fn with<T>(limiter: &Mutex<LogLimiter>, f: impl FnOnce(&mut LogLimiter) -> T) -> T {
    // A poisoned lock only means a writer panicked; the counts are still usable.
    let mut guard = limiter.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard)
}

/// Write `message` as a warning unless a line of `key` was written less than
/// [`WINDOW`] ago (then it is counted). The first written after suppressed ones says
/// how many were suppressed.
pub fn warn(key: &str, message: impl std::fmt::Display) {
    limited(Level::Warn, key, message);
}

/// [`warn`] at `info` level: for events worth a line now and then, not one each
/// (a failed TLS handshake, which anyone who can connect can cause).
pub fn info(key: &str, message: impl std::fmt::Display) {
    limited(Level::Info, key, message);
}

/// [`warn`] for a key that keeps a name a peer chose ([`key_naming`]: a
/// NAS-Identifier): one line per name per window, so that the line of each name is
/// written, and the summary of a name's suppressed lines still names it. These keys
/// are bounded apart from the others ([`MAX_NAMED_KEYS`]); past the bound, further
/// names share one overflow key.
pub fn warn_named(key: &str, message: impl std::fmt::Display) {
    limited_in(&NAMED, Level::Warn, key, message);
}

fn limited(level: Level, key: &str, message: impl std::fmt::Display) {
    limited_in(&LIMITER, level, key, message);
}

fn limited_in(
    limiter: &Mutex<LogLimiter>,
    level: Level,
    key: &str,
    message: impl std::fmt::Display,
) {
    match with(limiter, |l| l.check(key, level, Instant::now())) {
        Verdict::Emit { suppressed: 0 } => write(level, format_args!("{message}")),
        Verdict::Emit { suppressed } => write(
            level,
            format_args!("{message} (… {suppressed} more suppressed)"),
        ),
        Verdict::Suppress => {}
    }
}

fn write(level: Level, line: std::fmt::Arguments<'_>) {
    match level {
        Level::Info => tracing::info!("{line}"),
        Level::Warn => tracing::warn!("{line}"),
    }
}

/// Report the warnings suppressed in windows that have ended.
pub fn flush_expired() {
    for limiter in [&LIMITER, &NAMED] {
        for s in with(limiter, |l| l.take_expired(Instant::now())) {
            report(&s);
        }
    }
}

/// Report every count of suppressed warnings (the driver is stopping).
pub fn flush_all() {
    for limiter in [&LIMITER, &NAMED] {
        for s in with(limiter, LogLimiter::take_all) {
            report(&s);
        }
    }
}

/// The count of a key's suppressed lines, with the key: their shared text, where `#`
/// stands for the addresses and numbers that varied.
fn report(s: &Suppressed) {
    write(
        s.level,
        format_args!(
            "{} (… {} more suppressed; # stands for what varied)",
            s.key, s.count
        ),
    );
}

/// The key of a warning text: every word holding a digit (addresses, ports, counts,
/// identifiers) becomes `#`, so that the same reason at the same server shares a key
/// whatever the peer.
pub fn key_of(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            if w.bytes().any(|b| b.is_ascii_digit()) {
                "#"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// [`key_of`], except that the quoted string (as `{:?}` writes it) right after
/// `marker` is kept whole: the key of a warning about a name (`announces
/// NAS-Identifier "kiosk-1", …`) then names it, digits and all. `None` when `text` has
/// no such string after `marker`.
pub fn key_naming(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)? + marker.len();
    let quoted = text.get(start..)?;
    if !quoted.starts_with('"') {
        return None;
    }
    let mut escaped = false;
    let mut len = None;
    for (i, c) in quoted.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => {
                len = Some(i + 1);
                break;
            }
            _ => {}
        }
    }
    let end = start + len?;
    Some(format!(
        "{}{}{}",
        key_of(text.get(..start)?),
        text.get(start..end)?,
        key_of(text.get(end..)?)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_key_per_window_then_the_suppressed_count() {
        let mut l = LogLimiter::new(Duration::from_secs(10), 16);
        let t0 = Instant::now();
        assert_eq!(
            l.check("a", Level::Warn, t0),
            Verdict::Emit { suppressed: 0 }
        );
        for i in 1..=500u64 {
            let at = t0 + Duration::from_millis(i);
            assert_eq!(l.check("a", Level::Warn, at), Verdict::Suppress);
        }
        // Another key is not held back by the first.
        assert_eq!(
            l.check("b", Level::Warn, t0),
            Verdict::Emit { suppressed: 0 }
        );
        // Before the window ends nothing is reported; after, the count is.
        assert!(l.take_expired(t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(
            l.check("a", Level::Warn, t0 + Duration::from_secs(10)),
            Verdict::Emit { suppressed: 500 }
        );
        assert_eq!(
            l.check("a", Level::Warn, t0 + Duration::from_secs(11)),
            Verdict::Suppress
        );
        assert_eq!(
            l.take_expired(t0 + Duration::from_secs(21)),
            vec![Suppressed {
                key: "a".to_owned(),
                count: 1,
                level: Level::Warn
            }]
        );
        // Reported counts restart.
        assert!(l.take_all().is_empty());
    }

    #[test]
    fn keys_are_bounded_and_overflow_is_counted_under_one_key() {
        let mut l = LogLimiter::new(Duration::from_secs(10), 2);
        let t0 = Instant::now();
        assert_eq!(
            l.check("a", Level::Warn, t0),
            Verdict::Emit { suppressed: 0 }
        );
        assert_eq!(
            l.check("b", Level::Warn, t0),
            Verdict::Emit { suppressed: 0 }
        );
        // Full: new keys share the overflow key.
        assert_eq!(
            l.check("c", Level::Warn, t0),
            Verdict::Emit { suppressed: 0 }
        );
        assert_eq!(l.check("d", Level::Warn, t0), Verdict::Suppress);
        assert_eq!(l.check("e", Level::Warn, t0), Verdict::Suppress);
        assert_eq!(l.slots.len(), 3);
        // Once a window has ended (nothing suppressed in it), its key makes room.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            l.check("c", Level::Warn, later),
            Verdict::Emit { suppressed: 0 }
        );
        assert_eq!(
            l.take_all(),
            vec![Suppressed {
                key: OVERFLOW_KEY.to_owned(),
                count: 2,
                level: Level::Warn
            }]
        );
    }

    /// A key's suppressed lines are reported at its level: `info` ones stay `info`; a
    /// key used at both levels is reported at the higher.
    #[test]
    fn suppressed_lines_are_reported_at_their_keys_level() {
        let mut l = LogLimiter::new(Duration::from_secs(10), 16);
        let t0 = Instant::now();
        for key in ["quiet", "mixed"] {
            assert_eq!(
                l.check(key, Level::Info, t0),
                Verdict::Emit { suppressed: 0 }
            );
            assert_eq!(l.check(key, Level::Info, t0), Verdict::Suppress);
        }
        assert_eq!(l.check("mixed", Level::Warn, t0), Verdict::Suppress);
        let level_of = |all: &[Suppressed], key: &str| {
            all.iter()
                .find(|s| s.key == key)
                .map(|s| (s.count, s.level))
        };
        let all = l.take_all();
        assert_eq!(level_of(&all, "quiet"), Some((1, Level::Info)));
        assert_eq!(level_of(&all, "mixed"), Some((2, Level::Warn)));
    }

    #[test]
    fn named_keys_keep_the_quoted_name() {
        let marker = "announces NAS-Identifier ";
        let line = |conn: u32, name: &str| {
            format!(
                "connection {conn} (client \"ANY\", 127.0.0.1:{conn}) announces NAS-Identifier {name:?}, which connection 1 also holds"
            )
        };
        let key = |text: &str| key_naming(text, marker);
        assert_eq!(
            key(&line(2, "kiosk-1")).as_deref(),
            Some(
                "connection # (client \"ANY\", # announces NAS-Identifier \"kiosk-1\", which connection # also holds"
            )
        );
        // One key per name, whatever the connections.
        assert_eq!(key(&line(2, "kiosk-1")), key(&line(7, "kiosk-1")));
        assert_ne!(key(&line(2, "kiosk-1")), key(&line(2, "kiosk-2")));
        // A name with quotes and spaces stays one name.
        assert_ne!(key(&line(2, "a \" b")), key(&line(2, "a \" c")));
        assert!(
            key(&line(2, "a \" b"))
                .unwrap_or_default()
                .contains(r#""a \" b", which"#)
        );
        assert_eq!(key("nothing named here"), None);
        assert_eq!(key("announces NAS-Identifier \"unterminated"), None);
    }

    #[test]
    fn keys_leave_out_addresses_and_numbers() {
        assert_eq!(
            key_of("UDP from 127.0.0.2:40000 to server \"udp\": unknown client, dropped"),
            "UDP from # to server \"udp\": unknown client, dropped"
        );
        assert_eq!(
            key_of("UDP from [::1]:5 to server \"udp\": unknown client, dropped"),
            key_of("UDP from 10.1.1.1:7 to server \"udp\": unknown client, dropped")
        );
    }
}
