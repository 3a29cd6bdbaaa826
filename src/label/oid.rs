//! Object identifiers: parsed from dotted text or DER content octets, stored as DER content.

use std::fmt;
use std::str::FromStr;

/// An ASN.1 OBJECT IDENTIFIER.
///
/// It is stored as its DER content octets (without tag and length), which makes equality,
/// hashing and encoding free; the dotted form is computed only for display.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Oid(Box<[u8]>);

/// Why an OID could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidError {
    /// The dotted text is not of the form `n.n[.n…]` with a valid first arc.
    #[error("`{0}` is not a dotted object identifier")]
    BadText(String),
    /// The DER content octets are empty, padded or cut short.
    #[error("malformed object identifier encoding")]
    BadEncoding,
}

/// The largest arc value accepted (keeps arithmetic in `u64` and rejects absurd input).
const MAX_ARC: u64 = u64::MAX >> 8;

impl Oid {
    /// Reads DER content octets, checking minimal base-128 encoding of each sub-identifier.
    pub fn from_der_content(bytes: &[u8]) -> Result<Self, OidError> {
        if bytes.is_empty() || bytes.len() > 256 {
            return Err(OidError::BadEncoding);
        }
        let mut start_of_sub = true;
        let mut value: u64 = 0;
        for &b in bytes {
            if start_of_sub && b == 0x80 {
                return Err(OidError::BadEncoding);
            }
            value = (value << 7) | u64::from(b & 0x7f);
            if value > MAX_ARC {
                return Err(OidError::BadEncoding);
            }
            start_of_sub = b & 0x80 == 0;
            if start_of_sub {
                value = 0;
            }
        }
        if !start_of_sub {
            return Err(OidError::BadEncoding);
        }
        Ok(Oid(bytes.into()))
    }

    /// The DER content octets.
    pub fn as_der_content(&self) -> &[u8] {
        &self.0
    }

    /// The arcs, first two split out of the first sub-identifier.
    pub fn arcs(&self) -> Vec<u64> {
        let mut subs = Vec::new();
        let mut value: u64 = 0;
        for &b in self.0.iter() {
            value = (value << 7) | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                subs.push(value);
                value = 0;
            }
        }
        let mut arcs = Vec::with_capacity(subs.len() + 1);
        if let Some((&first, rest)) = subs.split_first() {
            let (a, b) = match first {
                0..=39 => (0, first),
                40..=79 => (1, first - 40),
                _ => (2, first - 80),
            };
            arcs.push(a);
            arcs.push(b);
            arcs.extend_from_slice(rest);
        }
        arcs
    }

    fn push_sub(out: &mut Vec<u8>, mut v: u64) {
        let mut tmp = [0u8; 10];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                break;
            }
        }
        let last = tmp.len() - 1;
        for (k, byte) in tmp.iter().enumerate().skip(i) {
            out.push(if k == last { *byte } else { *byte | 0x80 });
        }
    }
}

impl FromStr for Oid {
    type Err = OidError;

    fn from_str(s: &str) -> Result<Self, OidError> {
        let bad = || OidError::BadText(s.to_owned());
        let trimmed = s.trim();
        let trimmed = trimmed.strip_prefix("urn:oid:").unwrap_or(trimmed);
        let mut arcs = Vec::new();
        for part in trimmed.split('.') {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) || part.len() > 18 {
                return Err(bad());
            }
            if part.len() > 1 && part.starts_with('0') {
                return Err(bad());
            }
            let v: u64 = part.parse().map_err(|_| bad())?;
            if v > MAX_ARC {
                return Err(bad());
            }
            arcs.push(v);
        }
        if arcs.len() < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39) {
            return Err(bad());
        }
        let mut out = Vec::with_capacity(arcs.len() + 4);
        Oid::push_sub(&mut out, arcs[0] * 40 + arcs[1]);
        for &a in &arcs[2..] {
            Oid::push_sub(&mut out, a);
        }
        Ok(Oid(out.into()))
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for a in self.arcs() {
            if !first {
                f.write_str(".")?;
            }
            first = false;
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_round_trip() {
        for s in [
            "1.1",
            "1.2.826.0.1.6726289.0.4",
            "2.16.840.1.101.2.1.8.3.0",
            "2.999.3",
        ] {
            let oid: Oid = s.parse().unwrap();
            assert_eq!(oid.to_string(), s);
            assert_eq!(Oid::from_der_content(oid.as_der_content()).unwrap(), oid);
        }
        let oid: Oid = "1.1".parse().unwrap();
        assert_eq!(oid.as_der_content(), &[0x29]);
        let oid: Oid = "urn:oid:1.3.26.1.3.1".parse().unwrap();
        assert_eq!(oid.to_string(), "1.3.26.1.3.1");
    }

    #[test]
    fn rejects_bad_text_and_encoding() {
        for s in [
            "", "1", "3.1", "1.40", "1..2", "1.2.", "a.b", "1.02", "-1.2",
        ] {
            assert!(s.parse::<Oid>().is_err(), "{s}");
        }
        assert!(Oid::from_der_content(&[]).is_err());
        assert!(Oid::from_der_content(&[0x80, 0x01]).is_err());
        assert!(Oid::from_der_content(&[0x29, 0x81]).is_err());
    }
}
