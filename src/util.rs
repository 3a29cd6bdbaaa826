//! Small pure helpers shared by the protocol layers (a leaf: imports nothing of the crate).

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time as an XEP-0082 / IRCv3 `server-time` timestamp in UTC, with milliseconds
/// (`2026-11-27T21:20:25.123Z`) or without (`2026-11-27T21:20:25Z`).
pub fn timestamp_now(millis: bool) -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    timestamp(d.as_secs(), millis.then_some(d.subsec_millis()))
}

/// Formats seconds since 1970 (and optional milliseconds) as an XEP-0082 UTC timestamp.
pub fn timestamp(secs: u64, millis: Option<u32>) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's days_from_civil, inverted).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    match millis {
        Some(ms) => format!("{y:04}-{mo:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z"),
        None => format!("{y:04}-{mo:02}-{day:02}T{h:02}:{m:02}:{s:02}Z"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(timestamp(0, None), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(951_782_400, Some(7)), "2000-02-29T00:00:00.007Z");
        assert_eq!(timestamp(1_795_814_425, None), "2026-11-27T21:20:25Z");
    }
}
