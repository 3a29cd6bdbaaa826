//! The MISSI form of an ESS label's security categories: for a policy whose SPIF names the
//! MISSI `rbacId` (2.16.840.1.101.2.1.8.1), the categories travel as one `SecurityCategory`
//! of that type whose value is a `MissiSecurityCategories`, instead of one ACP 145 category per
//! tag set and type:
//!
//! ```text
//! MissiSecurityCategories ::= CHOICE {
//!   lrbacInfo LrbacInfo,                               -- a SEQUENCE: not supported, refused
//!   prbacSecurityCategories SET OF NamedTagSet }
//! NamedTagSet ::= SEQUENCE { tagSetName OBJECT IDENTIFIER, securityTags SEQUENCE OF SecurityTag }
//! SecurityTag ::= CHOICE {                             -- module with IMPLICIT TAGS
//!   restrictivebitMap    [1] SEQUENCE { securityLevel INTEGER OPTIONAL, attributeFlags BIT STRING },
//!   enumeratedAttributes [2] SEQUENCE { securityLevel INTEGER OPTIONAL, attributeFlags SET OF INTEGER },
//!   permissivebitMap     [6] SEQUENCE { securityLevel INTEGER OPTIONAL, attributeFlags BIT STRING },
//!   freeFormField        [7] ANY  -- explicit: TagType7Data ::= CHOICE { BIT STRING, SET OF INTEGER } }
//! ```
//!
//! (SDN.801's MISSI label, as the MISSI module of surevine/spiffing writes it.) Two things the
//! form does not say, and how they are decided, failing closed:
//!
//! * `enumeratedAttributes` does not say permissive or restrictive. Decoding gives them as
//!   enumerated *permissive*; [`normalize`] then puts each value where the label's policy defines
//!   it, and refuses a value the policy defines as both or neither. A label in the MISSI form is
//!   used only after that step (the XEP-0258 reader marks it `LabelPayload::EssMissi`).
//! * `securityLevel` has no meaning in a SPIF: a tag that carries one is refused.
//!
//! For the same reason, a label whose one tag set holds both enumerated kinds cannot be written
//! in this form ([`write`] refuses it).

use std::collections::BTreeSet;

use super::decision::PolicySet;
use super::der::{self, DerError, Reader, Tlv, tag};
use super::ess::{EssError, MAX_CATEGORIES, read_int_set as int_set, structure};
use super::model::{Category, Label, TagType};
use super::oid::Oid;
use super::policy::Policy;

/// `id-missiSecurityCategories`, 2.16.840.1.101.2.1.8.1, as DER content.
pub const MISSI_OID: [u8; 9] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x02, 0x01, 0x08, 0x01];

/// Whether `policy` writes its labels' categories in the MISSI form (its SPIF's `rbacId`).
pub fn uses_missi(policy: &Policy) -> bool {
    policy
        .rbac_id
        .as_ref()
        .is_some_and(|o| o.as_der_content() == MISSI_OID)
}

const RESTRICTIVE_BITMAP: u8 = 0xa1;
const ENUMERATED_ATTRIBUTES: u8 = 0xa2;
const PERMISSIVE_BITMAP: u8 = 0xa6;
const FREE_FORM: u8 = 0xa7;

/// The attribute flags of a `[1]`, `[2]` or `[6]` tag (a `securityLevel` is refused).
fn flags<'a>(tlv: &Tlv<'a>, want: u8) -> Result<Tlv<'a>, EssError> {
    let mut r = Reader::inner(tlv);
    if r.peek_tag() == Some(tag::INTEGER) {
        return Err(structure(
            "a MISSI security tag carries a securityLevel, which no SPIF policy gives a meaning",
        ));
    }
    let f = r.expect(want, "attribute flags")?;
    r.finish()?;
    Ok(f)
}

/// Reads the value of a MISSI `SecurityCategory` (the `[1]` wrapper's contents) into `out`.
pub(crate) fn read(value: &Tlv<'_>, out: &mut BTreeSet<Category>) -> Result<(), EssError> {
    let mut v = Reader::inner(value);
    if v.peek_tag() == Some(tag::SEQUENCE) {
        return Err(structure(
            "MISSI lrbacInfo (a local RBAC policy) is not supported",
        ));
    }
    let set = v.expect(tag::SET, "prbacSecurityCategories SET OF NamedTagSet")?;
    v.finish()?;
    read_named(&set, out, |st| {
        Ok(match st.tag {
            RESTRICTIVE_BITMAP => (
                TagType::Restrictive,
                der::read_bits(&flags(st, tag::BIT_STRING)?)?,
            ),
            PERMISSIVE_BITMAP => (
                TagType::Permissive,
                der::read_bits(&flags(st, tag::BIT_STRING)?)?,
            ),
            ENUMERATED_ATTRIBUTES => (
                TagType::EnumeratedPermissive,
                int_set(&flags(st, tag::SET)?)?,
            ),
            FREE_FORM => {
                let mut f = Reader::inner(st);
                let data = f.read()?;
                f.finish()?;
                match data.tag {
                    tag::BIT_STRING => (TagType::InformativeBits, der::read_bits(&data)?),
                    tag::SET => (TagType::InformativeEnumerated, int_set(&data)?),
                    found => {
                        return Err(EssError::Der(DerError::UnexpectedTag {
                            expected: "TagType7Data (BIT STRING or SET OF INTEGER)",
                            found,
                            at: data.offset,
                        }));
                    }
                }
            }
            found => {
                return Err(EssError::Der(DerError::UnexpectedTag {
                    expected: "a MISSI SecurityTag ([1], [2], [6] or [7])",
                    found,
                    at: st.offset,
                }));
            }
        })
    })
}

/// Reads a `SET OF SEQUENCE { tagSetName OBJECT IDENTIFIER, SEQUENCE OF tag }` — the shape the
/// MISSI label form and the SSLPrivileges clearance form share — into `out`, each tag read by
/// `tag_of`. Refused: an empty set, a tag set twice, a tag set without tags, two tags of one
/// kind in a tag set, a tag without values, too many categories.
pub(crate) fn read_named(
    set: &Tlv<'_>,
    out: &mut BTreeSet<Category>,
    mut tag_of: impl FnMut(&Tlv<'_>) -> Result<(TagType, Vec<u32>), EssError>,
) -> Result<(), EssError> {
    let mut sets = Reader::inner(set);
    if sets.is_empty() {
        return Err(structure("no tag set in the security category"));
    }
    let mut seen_sets: BTreeSet<Oid> = BTreeSet::new();
    while !sets.is_empty() {
        let nts = sets.expect(tag::SEQUENCE, "NamedTagSet SEQUENCE")?;
        let mut n = Reader::inner(&nts);
        let tag_set = der::read_oid(&n.expect(tag::OID, "tagSetName OBJECT IDENTIFIER")?)?;
        let tags = n.expect(tag::SEQUENCE, "SEQUENCE OF security tags")?;
        n.finish()?;
        if !seen_sets.insert(tag_set.clone()) {
            return Err(structure(format!("tag set {tag_set} appears twice")));
        }
        let mut t = Reader::inner(&tags);
        if t.is_empty() {
            return Err(structure(format!("tag set {tag_set} has no security tag")));
        }
        let mut seen_types: BTreeSet<u8> = BTreeSet::new();
        while !t.is_empty() {
            let st = t.read()?;
            let (tag_type, values) = tag_of(&st)?;
            if !seen_types.insert(st.tag) {
                return Err(structure(format!(
                    "tag set {tag_set} has two security tags of one kind"
                )));
            }
            if values.is_empty() {
                return Err(structure(format!(
                    "a security tag of tag set {tag_set} names no value"
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
    }
    Ok(())
}

/// Why a label cannot be written or used in the MISSI form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MissiError {
    /// One tag set holds both enumerated kinds: the form cannot tell them apart.
    #[error(
        "tag set {0} holds enumerated permissive and restrictive categories, which the MISSI form cannot tell apart"
    )]
    BothEnumerated(Oid),
    /// Written in the form and read back under its policy, the label would not be the same.
    #[error("it would not read back the same from its policy's MISSI (or SSLPrivileges) form")]
    Changed,
    /// A clearance's informative category: SSLPrivileges has no form for it.
    #[error(
        "tag set {0} has informative categories, which a clearance's SSLPrivileges cannot carry"
    )]
    InformativePrivilege(Oid),
    /// The label's policy is not loaded.
    #[error("the label's policy is not loaded")]
    UnknownPolicy,
    /// The label is in the MISSI form and its policy does not use it.
    #[error("the label's categories are in the MISSI form, which policy {0} does not use")]
    NotMissi(String),
    /// A decoded enumerated value the policy defines as both kinds, or as neither.
    #[error(
        "enumerated value {lacv} of tag set {tag_set} is not one enumerated category of the policy"
    )]
    Unresolved {
        /// The tag set.
        tag_set: Oid,
        /// The value.
        lacv: u32,
    },
}

/// Writes `cats` as the `SET OF SecurityCategory` of a label in the MISSI form.
pub(crate) fn write(out: &mut Vec<u8>, cats: &BTreeSet<Category>) -> Result<(), MissiError> {
    write_named(out, cats, &MISSI_OID, |_, tag_type, lacvs| {
        let mut inner = Vec::new();
        let wrapper = match tag_type {
            TagType::Restrictive => {
                der::write_bits(&mut inner, lacvs);
                RESTRICTIVE_BITMAP
            }
            TagType::Permissive => {
                der::write_bits(&mut inner, lacvs);
                PERMISSIVE_BITMAP
            }
            TagType::EnumeratedPermissive | TagType::EnumeratedRestrictive => {
                der::write_int_set(&mut inner, lacvs);
                ENUMERATED_ATTRIBUTES
            }
            TagType::InformativeBits => {
                der::write_bits(&mut inner, lacvs);
                FREE_FORM
            }
            TagType::InformativeEnumerated => {
                der::write_int_set(&mut inner, lacvs);
                FREE_FORM
            }
        };
        let mut tag = Vec::new();
        der::write_constructed(&mut tag, wrapper, &inner);
        Ok(tag)
    })
}

/// Writes `cats` as one `SecurityCategory` of type `category_type` whose value is the shape
/// [`read_named`] reads, each (tag set, type) written by `tag_of`. A tag set holding both
/// enumerated kinds is refused: neither form can tell them apart.
pub(crate) fn write_named(
    out: &mut Vec<u8>,
    cats: &BTreeSet<Category>,
    category_type: &[u8],
    mut tag_of: impl FnMut(&Oid, TagType, Vec<u32>) -> Result<Vec<u8>, MissiError>,
) -> Result<(), MissiError> {
    let mut named = Vec::new();
    let mut iter = cats.iter().peekable();
    while let Some(first) = iter.next() {
        let mut in_set = vec![first];
        while let Some(next) = iter.next_if(|c| c.tag_set == first.tag_set) {
            in_set.push(next);
        }
        let enumerated = |t: TagType| in_set.iter().any(|c| c.tag_type == t);
        if enumerated(TagType::EnumeratedPermissive) && enumerated(TagType::EnumeratedRestrictive) {
            return Err(MissiError::BothEnumerated(first.tag_set.clone()));
        }
        let mut tags = Vec::new();
        let mut by_type = in_set.into_iter().peekable();
        while let Some(t0) = by_type.next() {
            let mut lacvs = vec![t0.lacv];
            while let Some(next) = by_type.next_if(|c| c.tag_type == t0.tag_type) {
                lacvs.push(next.lacv);
            }
            tags.extend(tag_of(&first.tag_set, t0.tag_type, lacvs)?);
        }
        let mut nts = Vec::new();
        der::write_oid(&mut nts, &first.tag_set);
        der::write_constructed(&mut nts, tag::SEQUENCE, &tags);
        let mut member = Vec::new();
        der::write_constructed(&mut member, tag::SEQUENCE, &nts);
        named.push(member);
    }
    let mut value = Vec::new();
    der::write_set_of(&mut value, named);
    let mut sc = Vec::new();
    der::write_tlv(&mut sc, tag::CONTEXT_0, category_type);
    der::write_constructed(&mut sc, tag::CONTEXT_1_CONS, &value);
    let mut category = Vec::new();
    der::write_constructed(&mut category, tag::SEQUENCE, &sc);
    der::write_set_of(out, vec![category]);
    Ok(())
}

/// `label` in the MISSI form of `policy`, checked to read back as itself under the policy (so
/// that every reader, resolving it, gets this label).
pub fn encode(policy: &Policy, label: &Label) -> Result<Vec<u8>, MissiError> {
    let der = label.to_der_missi()?;
    let back = Label::from_der(&der).map_err(|_| MissiError::Changed)?;
    if normalize(policy, &back)? != *label {
        return Err(MissiError::Changed);
    }
    Ok(der)
}

/// A label read in the MISSI form, made usable: its policy must be loaded and use the form, and
/// its enumerated values are placed ([`normalize`]).
pub fn resolve(policies: &PolicySet, label: &Label) -> Result<Label, MissiError> {
    let policy = label
        .policy
        .as_ref()
        .and_then(|id| policies.get(id))
        .ok_or(MissiError::UnknownPolicy)?;
    if !uses_missi(policy) {
        return Err(MissiError::NotMissi(policy.name.clone()));
    }
    normalize(policy, label)
}

/// A label decoded from the MISSI form, with each enumerated value put where `policy` defines
/// it (permissive or restrictive). A value the policy defines as both, or as neither, refuses
/// the label.
pub fn normalize(policy: &Policy, label: &Label) -> Result<Label, MissiError> {
    Ok(Label {
        categories: place(policy, &label.categories)?,
        ..label.clone()
    })
}

/// Categories decoded from a form whose enumerated values do not say permissive or restrictive
/// (read as permissive), each put where `policy` defines it; a value the policy defines as
/// both, or as neither, is refused. Shared by the MISSI label form and the SSLPrivileges
/// clearance form.
pub(crate) fn place(
    policy: &Policy,
    categories: &BTreeSet<Category>,
) -> Result<BTreeSet<Category>, MissiError> {
    let mut out = BTreeSet::new();
    for c in categories {
        if c.tag_type != TagType::EnumeratedPermissive {
            out.insert(c.clone());
            continue;
        }
        let as_kind = |t: TagType| {
            let probe = Category {
                tag_type: t,
                ..c.clone()
            };
            policy.category_index.contains_key(&probe).then_some(probe)
        };
        match (
            as_kind(TagType::EnumeratedPermissive),
            as_kind(TagType::EnumeratedRestrictive),
        ) {
            (Some(p), None) => out.insert(p),
            (None, Some(r)) => out.insert(r),
            _ => {
                return Err(MissiError::Unresolved {
                    tag_set: c.tag_set.clone(),
                    lacv: c.lacv,
                });
            }
        };
    }
    Ok(out)
}
