//! Text of the scalar types that have no `Display` of their own, shared by the
//! text form ([`crate::eval::text`]) and the JSON rendering ([`crate::eval::json`]):
//! lower-case hex of octets, RFC 3339 timestamps, durations in the language's units,
//! and the calendar arithmetic behind timestamps (also used by the literal parsers).
//!
//! This module depends on nothing but `std`, so every value module can use it.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Lower-case hex of `bytes`, without a prefix (`00ff`).
pub fn hex_lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(bytes, &mut out);
    out
}

pub(crate) fn push_hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

/// RFC 3339 text of a point in time, in UTC with a `Z` suffix; the fraction of a
/// second is written only when non-zero, with trailing zeros trimmed.
pub fn format_timestamp(t: SystemTime) -> String {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (i128::from(d.as_secs()), d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let mut secs = -i128::from(d.as_secs());
            let mut nanos = d.subsec_nanos();
            if nanos > 0 {
                secs -= 1;
                nanos = 1_000_000_000 - nanos;
            }
            (secs, nanos)
        }
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The civil (proleptic Gregorian) date of a day number counted from 1970-01-01.
pub(crate) fn civil_from_days(days: i128) -> (i128, u32, u32) {
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of a year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    // day is 1..=31 and month 1..=12 by construction, so the casts cannot truncate.
    (year, day_or_month(month), day_or_month(day))
}

fn day_or_month(v: i128) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// The day number (from 1970-01-01) of a civil date; the inverse of
/// [`civil_from_days`]. `month` is 1..=12, `day` 1..=31 (not checked against the
/// month's length here: callers validate).
pub(crate) fn days_from_civil(year: i128, month: u32, day: u32) -> i128 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let m = i128::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i128::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The text of a duration in the language's units, largest first, zero parts
/// omitted: `1d2h`, `1m30s`, `500ms`, `0s`.
///
/// Days are the largest unit written (`w`, `M` and `y` are accepted on input but
/// not produced, so `30d` stays `30d`). Sub-millisecond precision is not
/// representable in the language and is dropped from the text.
pub fn format_duration(d: Duration) -> String {
    let total_ms = d.as_millis();
    if total_ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let parts: [(u128, &str); 5] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
        (1, "ms"),
    ];
    let mut rest = total_ms;
    for (unit_ms, name) in parts {
        let n = rest / unit_ms;
        rest %= unit_ms;
        if n > 0 {
            let _ = write!(out, "{n}{name}");
        }
    }
    out
}
