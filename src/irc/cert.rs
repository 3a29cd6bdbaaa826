//! What labelgate reads of a client certificate's DER besides its fingerprint: its validity
//! period (RFC 5280 §4.1.2.5) — the pin by fingerprint says whose certificate it is, this says
//! whether it may still be used — and the clearance it carries (RFC 5755).

use crate::label::der::{DerError, Reader, read_oid, write_tlv};

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
    let mut t = tbs_fields(der)?;
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

/// The RFC 5755 clearance attribute a certificate carries in its subjectDirectoryAttributes
/// extension (RFC 5280 §4.2.1.8), as the DER of its one `Clearance` value; `None` when it
/// carries none. More than one clearance value, or an extension that cannot be read, is an
/// error: a clearance that cannot be read is never taken as no clearance.
pub fn clearance_attribute(der: &[u8]) -> Result<Option<Vec<u8>>, Validity> {
    const SUBJECT_DIRECTORY_ATTRIBUTES: &str = "2.5.29.9";
    // id-at-clearance, and the X.501 (1993) spelling RFC 5755 §4.4.6 says to accept.
    const CLEARANCE: [&str; 2] = ["2.5.4.55", "2.5.1.5.55"];
    let mut t = tbs_fields(der)?;
    for what in [
        "serialNumber",
        "signature",
        "issuer",
        "validity",
        "subject",
        "subjectPublicKeyInfo",
    ] {
        t.read()
            .map_err(|e| Validity::Malformed(format!("{what}: {e}")))?;
    }
    let mut found: Option<Vec<u8>> = None;
    while let Some(tag) = t.peek_tag() {
        let field = t.read()?;
        if tag != 0xa3 {
            continue; // issuerUniqueID, subjectUniqueID
        }
        let mut wrapped = Reader::inner(&field);
        let exts = wrapped.expect(0x30, "extensions")?;
        wrapped.finish()?;
        let mut exts = Reader::inner(&exts);
        while !exts.is_empty() {
            let ext = exts.expect(0x30, "Extension")?;
            let mut e = Reader::inner(&ext);
            let id = read_oid(&e.expect(0x06, "extnID")?)?;
            if e.peek_tag() == Some(0x01) {
                e.read()?; // critical
            }
            let value = e.expect(0x04, "extnValue")?;
            e.finish()?;
            if id.to_string() != SUBJECT_DIRECTORY_ATTRIBUTES {
                continue;
            }
            let mut v = Reader::new(value.value);
            let attrs = v.expect(0x30, "SubjectDirectoryAttributes")?;
            v.finish()?;
            let mut attrs = Reader::inner(&attrs);
            while !attrs.is_empty() {
                let attr = attrs.expect(0x30, "Attribute")?;
                let mut a = Reader::inner(&attr);
                let kind = read_oid(&a.expect(0x06, "Attribute type")?)?;
                let values = a.expect(0x31, "Attribute values")?;
                a.finish()?;
                if !CLEARANCE.contains(&kind.to_string().as_str()) {
                    continue;
                }
                let mut vs = Reader::inner(&values);
                while !vs.is_empty() {
                    let one = vs.expect(0x30, "Clearance")?;
                    if found.is_some() {
                        return Err(Validity::Malformed(
                            "the certificate carries more than one clearance".into(),
                        ));
                    }
                    let mut out = Vec::new();
                    write_tlv(&mut out, one.tag, one.value);
                    found = Some(out);
                }
            }
        }
    }
    Ok(found)
}

/// A reader over a certificate's TBSCertificate fields, past the optional version.
fn tbs_fields(der: &[u8]) -> Result<Reader<'_>, Validity> {
    let mut top = Reader::new(der);
    let cert = top.expect(0x30, "Certificate")?;
    let mut c = Reader::inner(&cert);
    let tbs = c.expect(0x30, "TBSCertificate")?;
    let mut t = Reader::inner(&tbs);
    if t.peek_tag() == Some(0xa0) {
        t.read()?; // version
    }
    Ok(t)
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
    let bad = || Validity::Malformed(format!("time `{}`", s.escape_default()));
    // Both forms are ASCII digits and `Z`: anything else is refused before it is sliced.
    if !s.bytes().all(|b| b.is_ascii_digit() || b == b'Z') {
        return Err(bad());
    }
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
