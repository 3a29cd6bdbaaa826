//! The SSLPrivileges form of a clearance's security categories: for a policy whose SPIF names
//! the SSLPrivileges `privilegeId` (2.16.840.1.101.2.1.8.2, the clearance side of the MISSI
//! form in [`super::missi`]), an RFC 5755 Clearance's categories travel as one
//! `SecurityCategory` of that type whose value is:
//!
//! ```text
//! SSLPrivileges ::= SET OF NamedTagSetPrivilege          -- module with IMPLICIT TAGS
//! NamedTagSetPrivilege ::= SEQUENCE {
//!   tagSetName OBJECT IDENTIFIER,
//!   securityTagPrivileges SEQUENCE OF SecurityTagPrivilege }
//! SecurityTagPrivilege ::= CHOICE {
//!   restrictivebitMap    [1] IMPLICIT BIT STRING,
//!   enumeratedAttributes [2] IMPLICIT SET OF INTEGER,    -- permissive or restrictive
//!   permissivebitMap     [6] IMPLICIT BIT STRING }
//! ```
//!
//! As in the MISSI label form, `enumeratedAttributes` does not say permissive or restrictive:
//! decoding gives such values as enumerated permissive, and a clearance in this form is used
//! only after [`super::missi::place`] has put each value where its policy defines it
//! ([`super::Clearance::from_der_in`]); a value defined as both or neither refuses it. There
//! is no informative privilege: a clearance with informative categories cannot be written in
//! this form.

use std::collections::BTreeSet;

use super::der::{self, DerError, Reader, Tlv, tag};
use super::ess::{EssError, read_int_set};
use super::missi::{self, MissiError};
use super::model::{Category, TagType};
use super::policy::Policy;

/// `id-sslPrivileges`, 2.16.840.1.101.2.1.8.2, as DER content.
pub const SSL_PRIVILEGES_OID: [u8; 9] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x02, 0x01, 0x08, 0x02];

const RESTRICTIVE_BITMAP: u8 = 0x81;
const ENUMERATED_ATTRIBUTES: u8 = 0xa2;
const PERMISSIVE_BITMAP: u8 = 0x86;

/// Whether `policy` writes its clearances' categories as SSLPrivileges (its SPIF's
/// `privilegeId`).
pub fn uses_ssl_privileges(policy: &Policy) -> bool {
    policy
        .privilege_id
        .as_ref()
        .is_some_and(|o| o.as_der_content() == SSL_PRIVILEGES_OID)
}

/// Reads the value of an SSLPrivileges `SecurityCategory` (the `[1]` wrapper's contents) into
/// `out`, enumerated values as permissive (to be placed).
pub(crate) fn read(value: &Tlv<'_>, out: &mut BTreeSet<Category>) -> Result<(), EssError> {
    let mut v = Reader::inner(value);
    let set = v.expect(tag::SET, "SSLPrivileges SET OF NamedTagSetPrivilege")?;
    v.finish()?;
    missi::read_named(&set, out, |p| {
        Ok(match p.tag {
            RESTRICTIVE_BITMAP => (TagType::Restrictive, der::read_bits(p)?),
            PERMISSIVE_BITMAP => (TagType::Permissive, der::read_bits(p)?),
            ENUMERATED_ATTRIBUTES => (TagType::EnumeratedPermissive, read_int_set(p)?),
            found => {
                return Err(EssError::Der(DerError::UnexpectedTag {
                    expected: "an SSLPrivileges SecurityTagPrivilege ([1], [2] or [6])",
                    found,
                    at: p.offset,
                }));
            }
        })
    })
}

/// Writes `cats` as the `SET OF SecurityCategory` of a clearance in the SSLPrivileges form.
pub(crate) fn write(out: &mut Vec<u8>, cats: &BTreeSet<Category>) -> Result<(), MissiError> {
    missi::write_named(
        out,
        cats,
        &SSL_PRIVILEGES_OID,
        |tag_set, tag_type, lacvs| {
            // Each is the universal encoding with its tag replaced (IMPLICIT).
            let mut privilege = Vec::new();
            let implicit = match tag_type {
                TagType::Restrictive => {
                    der::write_bits(&mut privilege, lacvs);
                    RESTRICTIVE_BITMAP
                }
                TagType::Permissive => {
                    der::write_bits(&mut privilege, lacvs);
                    PERMISSIVE_BITMAP
                }
                TagType::EnumeratedPermissive | TagType::EnumeratedRestrictive => {
                    der::write_int_set(&mut privilege, lacvs);
                    ENUMERATED_ATTRIBUTES
                }
                TagType::InformativeBits | TagType::InformativeEnumerated => {
                    return Err(MissiError::InformativePrivilege(tag_set.clone()));
                }
            };
            if let Some(t) = privilege.first_mut() {
                *t = implicit;
            }
            Ok(privilege)
        },
    )
}
