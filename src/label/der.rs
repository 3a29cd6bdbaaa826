//! A small, strict DER reader and DER writer for the few ASN.1 types labels and clearances use.
//!
//! The reader accepts only definite, minimal lengths and single-byte tags, and every
//! constructed value must be consumed exactly. Set ordering is the caller's business (BER
//! allows any order inside a SET; the label codecs accept it and re-encode canonically).

use super::oid::Oid;

/// Universal and context tags used by the label codecs.
pub mod tag {
    /// BOOLEAN.
    pub const BOOLEAN: u8 = 0x01;
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING.
    pub const BIT_STRING: u8 = 0x03;
    /// OBJECT IDENTIFIER.
    pub const OID: u8 = 0x06;
    /// UTF8String.
    pub const UTF8_STRING: u8 = 0x0c;
    /// PrintableString.
    pub const PRINTABLE_STRING: u8 = 0x13;
    /// SEQUENCE (constructed).
    pub const SEQUENCE: u8 = 0x30;
    /// SET (constructed).
    pub const SET: u8 = 0x31;
    /// `[0]` IMPLICIT, primitive.
    pub const CONTEXT_0: u8 = 0x80;
    /// `[1]` EXPLICIT, constructed.
    pub const CONTEXT_1_CONS: u8 = 0xa1;
}

/// Largest value length the reader accepts (labels are small; this bounds allocation).
pub const MAX_LEN: usize = 1 << 16;

/// A DER decoding error, with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DerError {
    /// Input ended inside a value.
    #[error("truncated DER at byte {0}")]
    Truncated(usize),
    /// BER indefinite length (0x80), not allowed here.
    #[error("indefinite length at byte {0}")]
    IndefiniteLength(usize),
    /// A long-form length that could have been shorter.
    #[error("non-minimal length at byte {0}")]
    NonMinimalLength(usize),
    /// A length beyond [`MAX_LEN`].
    #[error("length too large at byte {0}")]
    TooLong(usize),
    /// A multi-byte (high) tag number.
    #[error("unsupported high tag number at byte {0}")]
    HighTag(usize),
    /// A different tag was expected.
    #[error("expected {expected} at byte {at}, found tag 0x{found:02x}")]
    UnexpectedTag {
        /// What the grammar needed.
        expected: &'static str,
        /// The tag octet found.
        found: u8,
        /// Byte offset.
        at: usize,
    },
    /// Bytes left after a complete value.
    #[error("{0} trailing byte(s) after the value")]
    Trailing(usize),
    /// An INTEGER that is empty, padded, negative or out of range.
    #[error("bad INTEGER at byte {0}")]
    BadInteger(usize),
    /// A malformed OBJECT IDENTIFIER.
    #[error("bad OBJECT IDENTIFIER at byte {0}")]
    BadOid(usize),
    /// A malformed BIT STRING (unused-bit count or padding bits).
    #[error("bad BIT STRING at byte {0}")]
    BadBitString(usize),
    /// A string that is not valid for its type.
    #[error("bad character string at byte {0}")]
    BadString(usize),
    /// Well-formed DER that breaks the grammar of the structure being read.
    #[error("{0}")]
    Structure(String),
}

/// One tag-length-value read from the input.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    /// The tag octet.
    pub tag: u8,
    /// The value octets.
    pub value: &'a [u8],
    /// Offset of the tag octet in the whole input.
    pub offset: usize,
    /// Offset of the first value octet in the whole input.
    pub value_offset: usize,
}

/// A cursor over DER input.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over the whole input.
    pub fn new(data: &'a [u8]) -> Self {
        Reader {
            data,
            pos: 0,
            base: 0,
        }
    }

    /// A reader over a value, keeping offsets relative to the whole input.
    pub fn inner(tlv: &Tlv<'a>) -> Self {
        Reader {
            data: tlv.value,
            pos: 0,
            base: tlv.value_offset,
        }
    }

    /// Whether all input was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// Fails unless all input was consumed.
    pub fn finish(&self) -> Result<(), DerError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DerError::Trailing(self.data.len() - self.pos))
        }
    }

    /// The tag of the next value, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Reads the next TLV.
    pub fn read(&mut self) -> Result<Tlv<'a>, DerError> {
        let at = self.base + self.pos;
        let tag = *self.data.get(self.pos).ok_or(DerError::Truncated(at))?;
        if tag & 0x1f == 0x1f {
            return Err(DerError::HighTag(at));
        }
        let first = *self
            .data
            .get(self.pos + 1)
            .ok_or(DerError::Truncated(at + 1))?;
        let mut header = 2;
        let len = if first < 0x80 {
            usize::from(first)
        } else if first == 0x80 {
            return Err(DerError::IndefiniteLength(at + 1));
        } else {
            let n = usize::from(first & 0x7f);
            if n > 3 {
                return Err(DerError::TooLong(at + 1));
            }
            let bytes = self
                .data
                .get(self.pos + 2..self.pos + 2 + n)
                .ok_or(DerError::Truncated(at + 2))?;
            if bytes[0] == 0 {
                return Err(DerError::NonMinimalLength(at + 1));
            }
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return Err(DerError::NonMinimalLength(at + 1));
            }
            header += n;
            len
        };
        if len > MAX_LEN {
            return Err(DerError::TooLong(at + 1));
        }
        let start = self.pos + header;
        let value = self
            .data
            .get(start..start + len)
            .ok_or(DerError::Truncated(self.base + self.data.len()))?;
        self.pos = start + len;
        Ok(Tlv {
            tag,
            value,
            offset: at,
            value_offset: self.base + start,
        })
    }

    /// Reads the next TLV and checks its tag.
    pub fn expect(&mut self, tag: u8, what: &'static str) -> Result<Tlv<'a>, DerError> {
        let tlv = self.read()?;
        if tlv.tag != tag {
            return Err(DerError::UnexpectedTag {
                expected: what,
                found: tlv.tag,
                at: tlv.offset,
            });
        }
        Ok(tlv)
    }
}

/// Decodes a non-negative INTEGER that fits in `u32`.
pub fn read_u32(tlv: &Tlv<'_>) -> Result<u32, DerError> {
    let v = tlv.value;
    let bad = DerError::BadInteger(tlv.offset);
    if v.is_empty() || v[0] & 0x80 != 0 {
        return Err(bad);
    }
    if v.len() > 1 && v[0] == 0 && v[1] & 0x80 == 0 {
        return Err(bad);
    }
    let digits = if v[0] == 0 { &v[1..] } else { v };
    if digits.len() > 4 {
        return Err(bad);
    }
    Ok(digits
        .iter()
        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}

/// Decodes an OBJECT IDENTIFIER value.
pub fn read_oid(tlv: &Tlv<'_>) -> Result<Oid, DerError> {
    Oid::from_der_content(tlv.value).map_err(|_| DerError::BadOid(tlv.offset))
}

/// Largest bit index accepted in a BIT STRING (bounds the categories one bitmap can name).
pub const MAX_BIT: usize = 65535;

/// Decodes a BIT STRING into the indices of its set bits (bit 0 is the most significant bit
/// of the first octet). Padding bits must be zero.
pub fn read_bits(tlv: &Tlv<'_>) -> Result<Vec<u32>, DerError> {
    let bad = DerError::BadBitString(tlv.offset);
    let (&unused, bytes) = tlv.value.split_first().ok_or(bad.clone())?;
    if unused > 7 || (bytes.is_empty() && unused != 0) {
        return Err(bad);
    }
    if let Some(&last) = bytes.last()
        && last & ((1u8 << unused) - 1) != 0
    {
        return Err(bad);
    }
    if bytes.len() * 8 > MAX_BIT + 1 {
        return Err(bad);
    }
    let mut bits = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        for j in 0..8 {
            if b & (0x80 >> j) != 0 {
                bits.push((i * 8 + j) as u32);
            }
        }
    }
    Ok(bits)
}

/// Appends a tag and definite length.
pub fn write_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else if len < 0x1_0000 {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    } else {
        out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
    }
}

/// Appends a complete TLV.
pub fn write_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    write_header(out, tag, value.len());
    out.extend_from_slice(value);
}

/// Appends a non-negative INTEGER.
pub fn write_u32(out: &mut Vec<u8>, v: u32) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take(3).take_while(|&&b| b == 0).count();
    let digits = &bytes[skip..];
    if digits[0] & 0x80 != 0 {
        write_header(out, tag::INTEGER, digits.len() + 1);
        out.push(0);
    } else {
        write_header(out, tag::INTEGER, digits.len());
    }
    out.extend_from_slice(digits);
}

/// Appends an OBJECT IDENTIFIER.
pub fn write_oid(out: &mut Vec<u8>, oid: &Oid) {
    write_tlv(out, tag::OID, oid.as_der_content());
}

/// Appends a DER BIT STRING with the given bit indices set (trailing zero bits removed, as DER
/// requires for named bit lists).
pub fn write_bits(out: &mut Vec<u8>, bits: impl IntoIterator<Item = u32>) {
    let mut bytes: Vec<u8> = Vec::new();
    let mut max: Option<u32> = None;
    for b in bits {
        let idx = b as usize / 8;
        if bytes.len() <= idx {
            bytes.resize(idx + 1, 0);
        }
        bytes[idx] |= 0x80 >> (b % 8);
        max = Some(max.map_or(b, |m: u32| m.max(b)));
    }
    let unused = max.map_or(0, |m| 7 - (m % 8) as u8);
    write_header(out, tag::BIT_STRING, bytes.len() + 1);
    out.push(unused);
    out.extend_from_slice(&bytes);
}

/// Wraps already-encoded members in a constructed TLV.
pub fn write_constructed(out: &mut Vec<u8>, tag: u8, members: &[u8]) {
    write_tlv(out, tag, members);
}

/// Encodes a SET OF from individually encoded members, in DER order (sorted by encoding).
pub fn write_set_of(out: &mut Vec<u8>, mut members: Vec<Vec<u8>>) {
    members.sort();
    let len = members.iter().map(Vec::len).sum();
    write_header(out, tag::SET, len);
    for m in members {
        out.extend_from_slice(&m);
    }
}

/// Encodes a DER `SET OF INTEGER`.
pub fn write_int_set(out: &mut Vec<u8>, values: impl IntoIterator<Item = u32>) {
    let ints = values
        .into_iter()
        .map(|v| {
            let mut e = Vec::new();
            write_u32(&mut e, v);
            e
        })
        .collect();
    write_set_of(out, ints);
}

/// Whether a byte string is a valid PrintableString.
pub fn is_printable(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_strict() {
        // indefinite
        assert_eq!(
            Reader::new(&[0x30, 0x80, 0, 0]).read().unwrap_err(),
            DerError::IndefiniteLength(1)
        );
        // 0x81 0x05: non-minimal
        assert_eq!(
            Reader::new(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5])
                .read()
                .unwrap_err(),
            DerError::NonMinimalLength(1)
        );
        // 0x82 0x00 0x90: leading zero
        assert!(Reader::new(&[0x04, 0x82, 0x00, 0x90]).read().is_err());
        // truncated
        assert!(matches!(
            Reader::new(&[0x04, 0x05, 1]).read(),
            Err(DerError::Truncated(_))
        ));
        // high tag
        assert_eq!(
            Reader::new(&[0x1f, 0x01, 0]).read().unwrap_err(),
            DerError::HighTag(0)
        );
    }

    #[test]
    fn integers() {
        for v in [0u32, 1, 127, 128, 255, 256, 65535, u32::MAX] {
            let mut out = Vec::new();
            write_u32(&mut out, v);
            let tlv = Reader::new(&out).read().unwrap();
            assert_eq!(read_u32(&tlv).unwrap(), v);
        }
        let padded = [0x02, 0x02, 0x00, 0x05];
        assert!(read_u32(&Reader::new(&padded).read().unwrap()).is_err());
        let negative = [0x02, 0x01, 0xff];
        assert!(read_u32(&Reader::new(&negative).read().unwrap()).is_err());
        let empty = [0x02, 0x00];
        assert!(read_u32(&Reader::new(&empty).read().unwrap()).is_err());
    }

    #[test]
    fn bit_strings() {
        let mut out = Vec::new();
        write_bits(&mut out, [1, 3]);
        assert_eq!(out, [0x03, 0x02, 0x04, 0x50]);
        assert_eq!(
            read_bits(&Reader::new(&out).read().unwrap()).unwrap(),
            [1, 3]
        );
        let mut empty = Vec::new();
        write_bits(&mut empty, []);
        assert_eq!(empty, [0x03, 0x01, 0x00]);
        // padding bit set
        let bad = [0x03, 0x02, 0x04, 0x51];
        assert!(read_bits(&Reader::new(&bad).read().unwrap()).is_err());
        let bad_unused = [0x03, 0x01, 0x03];
        assert!(read_bits(&Reader::new(&bad_unused).read().unwrap()).is_err());
    }
}
