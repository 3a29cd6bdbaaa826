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

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Reads an XEP-0082 DateTime (`CCYY-MM-DDThh:mm:ss[.sss]TZD`, TZD `Z` or `±hh:mm`) as seconds
/// since 1970 and milliseconds, in UTC. `None` for anything else: a wrong shape, a field out of
/// range (the 30th of February, hour 24), a time before 1970 or after 9999.
pub fn parse_stamp(s: &str) -> Option<(u64, u32)> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut millis = 0u32;
    if at(i, b'.') {
        let start = i + 1;
        let end = start + b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
        if end == start || end - start > 9 {
            return None;
        }
        // Milliseconds: the first three digits, the rest dropped (never rounded up a second).
        let digits = &s[start..end];
        let three: String = digits.chars().chain("00".chars()).take(3).collect();
        millis = three.parse().ok()?;
        i = end;
    }
    let offset = match b.get(i..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let days_in = *month_days.get(usize::try_from(mo - 1).ok()?)?;
    if !(1..=days_in).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    if !(1970..=9999).contains(&y) {
        return None;
    }
    Some((u64::try_from(secs).ok()?, millis))
}

/// An XEP-0082 DateTime from the other side, rewritten in the one form IRCv3 `server-time`
/// takes (UTC, milliseconds, `Z`); `None` when it is not one.
pub fn server_time(stamp: &str) -> Option<String> {
    parse_stamp(stamp).map(|(secs, ms)| timestamp(secs, Some(ms)))
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

    #[test]
    fn stamps_are_read_and_normalized() {
        assert_eq!(
            server_time("2026-11-27T21:20:25Z").as_deref(),
            Some("2026-11-27T21:20:25.000Z")
        );
        assert_eq!(
            server_time("2026-11-27T23:20:25.12345+02:00").as_deref(),
            Some("2026-11-27T21:20:25.123Z")
        );
        assert_eq!(
            server_time("2000-02-29T23:30:00.5-01:00").as_deref(),
            Some("2000-03-01T00:30:00.500Z")
        );
        assert_eq!(
            server_time("1970-01-01T00:00:00Z").as_deref(),
            Some("1970-01-01T00:00:00.000Z")
        );
        for bad in [
            "",
            "2026-11-27",
            "2026-11-27T21:20:25",
            "2026-11-27 21:20:25Z",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T21:60:00Z",
            "2026-11-27T21:20:60Z",
            "2026-11-27T21:20:25.Z",
            "2026-11-27T21:20:25.1234567890Z",
            "2026-11-27T21:20:25+0200",
            "2026-11-27T21:20:25+24:00",
            "2026-11-27T21:20:25Zjunk",
            "2026-11-27T21:20:25Z; PRIVMSG",
            "+026-11-27T21:20:25Z",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:30:00+01:00",
            "2026-11-27T21:20:2\u{e9}Z",
            "２026-11-27T21:20:25Z",
        ] {
            assert_eq!(server_time(bad), None, "{bad:?}");
        }
    }
}
