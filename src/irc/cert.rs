//! The validity period of a client certificate (RFC 5280 §4.1.2.5), read from its DER: the pin
//! by fingerprint says whose certificate it is, this says whether it may still be used.

use crate::label::der::{DerError, Reader};

/// Why a certificate's validity could not be read, or does not cover now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Validity {
    /// Not DER of an X.509 certificate as far as its validity.
    #[error("the certificate cannot be read: {0}")]
    Malformed(String),
    /// Before notBefore.
    #[error("the certificate is not valid yet")]
    NotYetValid,
    /// After notAfter.
    #[error("the certificate has expired")]
    Expired,
}

impl From<DerError> for Validity {
    fn from(e: DerError) -> Self {
        Validity::Malformed(e.to_string())
    }
}

/// notBefore and notAfter, in seconds since the Unix epoch.
pub fn validity(der: &[u8]) -> Result<(i64, i64), Validity> {
    let mut top = Reader::new(der);
    let cert = top.expect(0x30, "Certificate")?;
    let mut c = Reader::inner(&cert);
    let tbs = c.expect(0x30, "TBSCertificate")?;
    let mut t = Reader::inner(&tbs);
    if t.peek_tag() == Some(0xa0) {
        t.read()?; // version
    }
    t.expect(0x02, "serialNumber")?;
    t.expect(0x30, "signature")?;
    t.expect(0x30, "issuer")?;
    let v = t.expect(0x30, "validity")?;
    let mut v = Reader::inner(&v);
    let not_before = time(&mut v)?;
    let not_after = time(&mut v)?;
    v.finish()?;
    Ok((not_before, not_after))
}

/// Whether the certificate may be used at `now` (seconds since the epoch).
pub fn check(der: &[u8], now: i64) -> Result<(), Validity> {
    let (from, until) = validity(der)?;
    if now < from {
        Err(Validity::NotYetValid)
    } else if now > until {
        Err(Validity::Expired)
    } else {
        Ok(())
    }
}

fn time(r: &mut Reader<'_>) -> Result<i64, Validity> {
    let tlv = r.read()?;
    let s = std::str::from_utf8(tlv.value).map_err(|_| Validity::Malformed("time".into()))?;
    let bad = || Validity::Malformed(format!("time `{s}`"));
    let (year, rest) = match tlv.tag {
        // UTCTime: YYMMDDHHMMSSZ, years 1950–2049 (RFC 5280).
        0x17 if s.len() == 13 => {
            let yy: i64 = s[..2].parse().map_err(|_| bad())?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
        }
        // GeneralizedTime: YYYYMMDDHHMMSSZ.
        0x18 if s.len() == 15 => (s[..4].parse().map_err(|_| bad())?, &s[4..]),
        _ => return Err(bad()),
    };
    if !rest.ends_with('Z') || !rest[..10].bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n = |i: usize| -> i64 { rest[i..i + 2].parse().unwrap_or(-1) };
    let (month, day, h, m, sec) = (n(0), n(2), n(4), n(6), n(8));
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return Err(bad());
    }
    Ok(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 12, 1), 20_788);
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(validity(b"\x30\x00"), Err(Validity::Malformed(_))));
        assert!(matches!(validity(b""), Err(Validity::Malformed(_))));
    }
}
