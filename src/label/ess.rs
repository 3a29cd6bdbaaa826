//! ESS security labels (RFC 2634 §3.2) and RFC 5755 clearances in DER, with ACP 145 category
//! encodings.
//!
//! Decoding is strict DER except that members of a SET may come in any order (BER allows it and
//! XEP-0258 carries BER); encoding is canonical DER, so `encode(decode(x)) == x` for DER input.

use std::collections::BTreeSet;

use base64::Engine as _;

use super::der::{self, DerError, Reader, Tlv, tag};
use super::model::{Category, Label, PrivacyMark, TagType};
use super::oid::Oid;

/// Largest encoded label or clearance accepted.
pub const MAX_ENCODED: usize = 16 * 1024;
/// Most categories one label or clearance may carry.
pub const MAX_CATEGORIES: usize = 4096;
/// RFC 2634 `ub-integer-options`: the largest classification value.
pub const MAX_CLASSIFICATION: u32 = 256;

/// ACP 145 category type OIDs (arc under 2.16.840.1.101.2.1.8.3).
const ACP145_PREFIX: [u8; 9] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x02, 0x01, 0x08, 0x03];

/// Why a label or clearance could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EssError {
    /// The DER itself is malformed.
    #[error("malformed DER: {0}")]
    Der(#[from] DerError),
    /// Base64 text that does not decode.
    #[error("bad base64: {0}")]
    Base64(String),
    /// The encoding is larger than [`MAX_ENCODED`].
    #[error("encoded label of {0} bytes is larger than the {MAX_ENCODED}-byte limit")]
    TooLarge(usize),
}

pub(crate) fn structure(msg: impl Into<String>) -> EssError {
    EssError::Der(DerError::Structure(msg.into()))
}

/// Decodes base64, tolerating missing padding and embedded ASCII white space.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, EssError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.len() > MAX_ENCODED * 4 / 3 + 4 {
        return Err(EssError::TooLarge(compact.len() * 3 / 4));
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine
        .decode(compact.as_bytes())
        .map_err(|e| EssError::Base64(e.to_string()))
}

/// Encodes bytes as padded standard base64.
pub fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn category_type_oid(t: TagType) -> [u8; 10] {
    let last = match t {
        TagType::Restrictive => 0,
        TagType::EnumeratedPermissive => 1,
        TagType::Permissive => 2,
        TagType::InformativeBits | TagType::InformativeEnumerated => 3,
        TagType::EnumeratedRestrictive => 4,
    };
    let mut oid = [0u8; 10];
    oid[..9].copy_from_slice(&ACP145_PREFIX);
    oid[9] = last;
    oid
}

/// Reads `SET OF INTEGER`, refusing duplicates.
pub(crate) fn read_int_set(tlv: &Tlv<'_>) -> Result<Vec<u32>, EssError> {
    let mut r = Reader::inner(tlv);
    let mut out = Vec::new();
    while !r.is_empty() {
        let t = r.expect(tag::INTEGER, "INTEGER")?;
        out.push(der::read_u32(&t)?);
    }
    let unique: BTreeSet<u32> = out.iter().copied().collect();
    if unique.len() != out.len() {
        return Err(structure("duplicate value in a SET OF INTEGER"));
    }
    Ok(out)
}

/// The form a `SET OF SecurityCategory` was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// One category per (tag set, type), of the ACP 145 types.
    Acp145,
    /// A label's MISSI category ([`super::missi`]).
    Missi,
    /// A clearance's SSLPrivileges category ([`super::privileges`]).
    SslPrivileges,
}

/// Reads `SET OF SecurityCategory` into categories, and says which form they were in: a
/// label's may be in the MISSI form, a clearance's (`clearance`) in the SSLPrivileges form.
fn read_categories(
    tlv: &Tlv<'_>,
    out: &mut BTreeSet<Category>,
    clearance: bool,
) -> Result<Form, EssError> {
    let mut r = Reader::inner(tlv);
    let mut groups: BTreeSet<(Oid, u8)> = BTreeSet::new();
    if r.is_empty() {
        return Err(structure("empty security-categories (SIZE 1..64)"));
    }
    let mut count = 0;
    while !r.is_empty() {
        count += 1;
        if count > 64 {
            return Err(structure("more than 64 security categories"));
        }
        let seq = r.expect(tag::SEQUENCE, "SecurityCategory SEQUENCE")?;
        let mut s = Reader::inner(&seq);
        let type_tlv = s.expect(tag::CONTEXT_0, "[0] category type")?;
        let value = s.expect(tag::CONTEXT_1_CONS, "[1] category value")?;
        s.finish()?;
        let ty = type_tlv.value;
        let whole = match ty {
            t if t == super::missi::MISSI_OID && !clearance => Some(Form::Missi),
            t if t == super::privileges::SSL_PRIVILEGES_OID && clearance => {
                Some(Form::SslPrivileges)
            }
            t if t == super::missi::MISSI_OID => {
                return Err(structure(
                    "a clearance's categories in the MISSI label form (a clearance's MISSI form is SSLPrivileges)",
                ));
            }
            _ => None,
        };
        if let Some(form) = whole {
            if count > 1 || !r.is_empty() {
                return Err(structure(
                    "a MISSI or SSLPrivileges security category must be the only one",
                ));
            }
            match form {
                Form::Missi => super::missi::read(&value, out)?,
                _ => super::privileges::read(&value, out)?,
            }
            return Ok(form);
        }
        if ty.len() != 10 || ty[..9] != ACP145_PREFIX || ty[9] > 4 {
            let oid = Oid::from_der_content(ty)
                .map(|o| o.to_string())
                .unwrap_or_else(|_| "(malformed)".into());
            return Err(structure(format!(
                "unsupported security category type {oid}"
            )));
        }
        let mut v = Reader::inner(&value);
        let inner = v.expect(tag::SEQUENCE, "category value SEQUENCE")?;
        v.finish()?;
        let mut iv = Reader::inner(&inner);
        let tag_set = der::read_oid(&iv.expect(tag::OID, "tagName OBJECT IDENTIFIER")?)?;
        let field = iv.read()?;
        iv.finish()?;
        let (tag_type, values) = match (ty[9], field.tag) {
            (0, tag::BIT_STRING) => (TagType::Restrictive, der::read_bits(&field)?),
            (2, tag::BIT_STRING) => (TagType::Permissive, der::read_bits(&field)?),
            (3, tag::BIT_STRING) => (TagType::InformativeBits, der::read_bits(&field)?),
            (1, tag::SET) => (TagType::EnumeratedPermissive, read_int_set(&field)?),
            (4, tag::SET) => (TagType::EnumeratedRestrictive, read_int_set(&field)?),
            (3, tag::SET) => (TagType::InformativeEnumerated, read_int_set(&field)?),
            (_, found) => {
                return Err(EssError::Der(DerError::UnexpectedTag {
                    expected: "attribute flags or attribute list",
                    found,
                    at: field.offset,
                }));
            }
        };
        if values.is_empty() {
            return Err(structure(format!(
                "security category {tag_set} names no value"
            )));
        }
        if !groups.insert((tag_set.clone(), ty[9])) {
            return Err(structure(format!(
                "security category {tag_set} of one type appears twice"
            )));
        }
        for lacv in values {
            out.insert(Category {
                tag_set: tag_set.clone(),
                tag_type,
                lacv,
            });
            if out.len() > MAX_CATEGORIES {
                return Err(structure("too many categories"));
            }
        }
    }
    Ok(Form::Acp145)
}

/// Encodes categories as a DER `SET OF SecurityCategory`, one per (tag set, type).
fn write_categories(out: &mut Vec<u8>, cats: &BTreeSet<Category>) {
    let mut members = Vec::new();
    let mut iter = cats.iter().peekable();
    while let Some(first) = iter.next() {
        let mut lacvs = vec![first.lacv];
        while let Some(next) =
            iter.next_if(|c| c.tag_set == first.tag_set && c.tag_type == first.tag_type)
        {
            lacvs.push(next.lacv);
        }
        let mut inner = Vec::new();
        der::write_oid(&mut inner, &first.tag_set);
        match first.tag_type {
            TagType::Restrictive | TagType::Permissive | TagType::InformativeBits => {
                der::write_bits(&mut inner, lacvs)
            }
            _ => der::write_int_set(&mut inner, lacvs),
        }
        let mut seq = Vec::new();
        der::write_constructed(&mut seq, tag::SEQUENCE, &inner);
        let mut explicit = Vec::new();
        der::write_constructed(&mut explicit, tag::CONTEXT_1_CONS, &seq);
        let mut member = Vec::new();
        der::write_tlv(
            &mut member,
            tag::CONTEXT_0,
            &category_type_oid(first.tag_type),
        );
        member.extend_from_slice(&explicit);
        let mut sc = Vec::new();
        der::write_constructed(&mut sc, tag::SEQUENCE, &member);
        members.push(sc);
    }
    der::write_set_of(out, members);
}

impl Label {
    /// Decodes an ESSSecurityLabel from BER/DER (SET members in any order). Categories in the
    /// MISSI form are read too, their enumerated values as permissive: such a label is used only
    /// after [`super::missi::normalize`] (see [`Label::from_der_form`]).
    pub fn from_der(bytes: &[u8]) -> Result<Label, EssError> {
        Label::from_der_form(bytes).map(|(l, _)| l)
    }

    /// [`Label::from_der`], and whether the categories were in the MISSI form.
    pub fn from_der_form(bytes: &[u8]) -> Result<(Label, bool), EssError> {
        if bytes.len() > MAX_ENCODED {
            return Err(EssError::TooLarge(bytes.len()));
        }
        let mut top = Reader::new(bytes);
        let set = top.expect(tag::SET, "ESSSecurityLabel SET")?;
        top.finish()?;
        let mut r = Reader::inner(&set);
        let mut label = Label::default();
        let mut seen_categories = false;
        let mut missi = false;
        while !r.is_empty() {
            let t = r.read()?;
            let dup = || structure(format!("field with tag 0x{:02x} appears twice", t.tag));
            match t.tag {
                tag::OID => {
                    if label.policy.is_some() {
                        return Err(dup());
                    }
                    label.policy = Some(der::read_oid(&t)?);
                }
                tag::INTEGER => {
                    if label.classification.is_some() {
                        return Err(dup());
                    }
                    let v = der::read_u32(&t)?;
                    if v > MAX_CLASSIFICATION {
                        return Err(structure(format!(
                            "classification {v} is out of range (0..256)"
                        )));
                    }
                    label.classification = Some(v);
                }
                tag::PRINTABLE_STRING | tag::UTF8_STRING => {
                    if label.privacy_mark.is_some() {
                        return Err(dup());
                    }
                    let s = std::str::from_utf8(t.value)
                        .map_err(|_| DerError::BadString(t.offset))?
                        .to_owned();
                    label.privacy_mark = Some(if t.tag == tag::PRINTABLE_STRING {
                        if s.is_empty() || s.len() > 128 || !der::is_printable(&s) {
                            return Err(DerError::BadString(t.offset).into());
                        }
                        PrivacyMark::Printable(s)
                    } else {
                        PrivacyMark::Utf8(s)
                    });
                }
                tag::SET => {
                    if seen_categories {
                        return Err(dup());
                    }
                    seen_categories = true;
                    missi = read_categories(&t, &mut label.categories, false)? == Form::Missi;
                }
                other => {
                    return Err(EssError::Der(DerError::UnexpectedTag {
                        expected: "a member of ESSSecurityLabel",
                        found: other,
                        at: t.offset,
                    }));
                }
            }
        }
        Ok((label, missi))
    }

    /// Decodes a base64 ESSSecurityLabel (padding optional).
    pub fn from_base64(text: &str) -> Result<Label, EssError> {
        Label::from_der(&decode_base64(text)?)
    }

    /// Encodes as canonical DER with the categories in the MISSI form (for a policy that uses
    /// it: [`super::missi::uses_missi`]).
    pub fn to_der_missi(&self) -> Result<Vec<u8>, super::missi::MissiError> {
        self.encode(true)
    }

    /// Encodes as canonical DER.
    pub fn to_der(&self) -> Vec<u8> {
        // Only the MISSI form can refuse a label.
        self.encode(false).unwrap_or_default()
    }

    fn encode(&self, missi: bool) -> Result<Vec<u8>, super::missi::MissiError> {
        let mut members = Vec::new();
        if let Some(c) = self.classification {
            der::write_u32(&mut members, c);
        }
        if let Some(p) = &self.policy {
            der::write_oid(&mut members, p);
        }
        match &self.privacy_mark {
            Some(PrivacyMark::Utf8(s)) => {
                der::write_tlv(&mut members, tag::UTF8_STRING, s.as_bytes())
            }
            Some(PrivacyMark::Printable(s)) => {
                der::write_tlv(&mut members, tag::PRINTABLE_STRING, s.as_bytes())
            }
            None => {}
        }
        if !self.categories.is_empty() {
            if missi {
                super::missi::write(&mut members, &self.categories)?;
            } else {
                write_categories(&mut members, &self.categories);
            }
        }
        let mut out = Vec::with_capacity(members.len() + 4);
        der::write_constructed(&mut out, tag::SET, &members);
        Ok(out)
    }

    /// Encodes as base64 of canonical DER.
    pub fn to_base64(&self) -> String {
        encode_base64(&self.to_der())
    }
}

/// The contents of an RFC 5755 Clearance, before it is bound to a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearanceDer {
    /// `policyId`.
    pub policy: Oid,
    /// The classification values whose bits are set in `classList`.
    pub classes: Vec<u32>,
    /// `securityCategories`.
    pub categories: BTreeSet<Category>,
    /// The categories are (to be) in the SSLPrivileges form ([`super::privileges`]); read so,
    /// their enumerated values are permissive until placed under the policy.
    pub ssl_privileges: bool,
}

impl ClearanceDer {
    /// Decodes `Clearance ::= SEQUENCE { policyId OID, classList BIT STRING DEFAULT
    /// {unclassified}, securityCategories SET OF SecurityCategory OPTIONAL }`.
    pub fn from_der(bytes: &[u8]) -> Result<ClearanceDer, EssError> {
        if bytes.len() > MAX_ENCODED {
            return Err(EssError::TooLarge(bytes.len()));
        }
        let mut top = Reader::new(bytes);
        let seq = top.expect(tag::SEQUENCE, "Clearance SEQUENCE")?;
        top.finish()?;
        let mut r = Reader::inner(&seq);
        let policy = der::read_oid(&r.expect(tag::OID, "policyId OBJECT IDENTIFIER")?)?;
        let mut classes = vec![1];
        if r.peek_tag() == Some(tag::BIT_STRING) {
            classes = der::read_bits(&r.read()?)?;
        }
        let mut categories = BTreeSet::new();
        let mut ssl_privileges = false;
        if r.peek_tag() == Some(tag::SET) {
            ssl_privileges =
                read_categories(&r.read()?, &mut categories, true)? == Form::SslPrivileges;
        }
        r.finish()?;
        Ok(ClearanceDer {
            policy,
            classes,
            categories,
            ssl_privileges,
        })
    }

    /// Encodes as DER (the default class list `{unclassified}` is omitted, as DER requires),
    /// the categories in the form `ssl_privileges` says.
    pub fn to_der(&self) -> Result<Vec<u8>, super::missi::MissiError> {
        let mut members = Vec::new();
        der::write_oid(&mut members, &self.policy);
        let mut classes = self.classes.clone();
        classes.sort_unstable();
        classes.dedup();
        if classes != [1] {
            der::write_bits(&mut members, classes);
        }
        if !self.categories.is_empty() {
            if self.ssl_privileges {
                super::privileges::write(&mut members, &self.categories)?;
            } else {
                write_categories(&mut members, &self.categories);
            }
        }
        let mut out = Vec::new();
        der::write_constructed(&mut out, tag::SEQUENCE, &members);
        Ok(out)
    }
}
