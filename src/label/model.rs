//! The policy-independent label model: a security label is a policy, a classification, a set
//! of categories and an optional privacy mark.

use std::collections::BTreeSet;
use std::fmt;

use super::oid::Oid;

/// How a category is encoded and how it takes part in the access decision.
///
/// The six kinds are the ACP 145 category encodings; the access decision only cares about the
/// [`TagClass`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TagType {
    /// Restrictive bitmap (`…8.3.0`).
    Restrictive,
    /// Enumerated restrictive attributes (`…8.3.4`).
    EnumeratedRestrictive,
    /// Permissive bitmap (`…8.3.2`).
    Permissive,
    /// Enumerated permissive attributes (`…8.3.1`).
    EnumeratedPermissive,
    /// Informative (tagType7), encoded as a bit set.
    InformativeBits,
    /// Informative (tagType7), encoded as a set of integers.
    InformativeEnumerated,
}

/// The role a category plays in an access decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TagClass {
    /// The clearance must hold every such category of the label.
    Restrictive,
    /// For each tag set, the clearance must hold at least one of the label's values.
    Permissive,
    /// Ignored by the access decision.
    Informative,
}

impl TagType {
    /// The decision role of this tag type.
    pub fn class(self) -> TagClass {
        match self {
            TagType::Restrictive | TagType::EnumeratedRestrictive => TagClass::Restrictive,
            TagType::Permissive | TagType::EnumeratedPermissive => TagClass::Permissive,
            TagType::InformativeBits | TagType::InformativeEnumerated => TagClass::Informative,
        }
    }

    /// The SPIF spelling, for messages.
    pub fn spif_name(self) -> &'static str {
        match self {
            TagType::Restrictive => "restrictive",
            TagType::EnumeratedRestrictive => "enumerated restrictive",
            TagType::Permissive => "permissive",
            TagType::EnumeratedPermissive => "enumerated permissive",
            TagType::InformativeBits | TagType::InformativeEnumerated => "tagType7",
        }
    }
}

impl fmt::Display for TagClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TagClass::Restrictive => "restrictive",
            TagClass::Permissive => "permissive",
            TagClass::Informative => "informative",
        })
    }
}

/// One security category: a tag set, the tag type within it, and the category's value (LACV).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Category {
    /// The tag set's OID (the ACP 145 `tagName`).
    pub tag_set: Oid,
    /// The tag type and encoding.
    pub tag_type: TagType,
    /// The category's LACV (bit position or integer value).
    pub lacv: u32,
}

/// The two encodings RFC 2634 allows for a privacy mark.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PrivacyMark {
    /// `PrintableString`.
    Printable(String),
    /// `UTF8String`.
    Utf8(String),
}

impl PrivacyMark {
    /// The text, whichever the encoding.
    pub fn text(&self) -> &str {
        match self {
            PrivacyMark::Printable(s) | PrivacyMark::Utf8(s) => s,
        }
    }
}

/// A security label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Label {
    /// The security policy; `None` only for X.841-style labels that omit it (such a label is
    /// never valid under any policy).
    pub policy: Option<Oid>,
    /// The classification value (LACV), if present.
    pub classification: Option<u32>,
    /// The privacy mark, if any.
    pub privacy_mark: Option<PrivacyMark>,
    /// The categories, as a set.
    pub categories: BTreeSet<Category>,
}

impl Label {
    /// A label with a policy and classification and nothing else.
    pub fn new(policy: Oid, classification: u32) -> Self {
        Label {
            policy: Some(policy),
            classification: Some(classification),
            privacy_mark: None,
            categories: BTreeSet::new(),
        }
    }
}
