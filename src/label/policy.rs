//! The security policy model (what an Open XML SPIF file says), with lookup indexes.

use std::collections::HashMap;

use super::model::{Category, TagClass, TagType};
use super::oid::Oid;

/// Where a marking phrase or qualifier is meant to appear (SPIF `markingCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkingCode {
    /// `pageTop`.
    PageTop,
    /// `pageBottom`.
    PageBottom,
    /// `pageTopBottom`.
    PageTopBottom,
    /// `documentStart`.
    DocumentStart,
    /// `documentEnd`.
    DocumentEnd,
    /// `noNameDisplay`: the name is not displayed (the phrase, if any, may be used elsewhere).
    NoNameDisplay,
    /// `noMarkingDisplay`: nothing is displayed.
    NoMarkingDisplay,
    /// `suppressClassName`: the classification's name is left out of the marking.
    SuppressClassName,
    /// `replacePolicy`: the phrase replaces the policy name in the marking.
    ReplacePolicy,
    /// `unused`.
    Unused,
}

impl MarkingCode {
    /// Parses the SPIF spelling.
    pub fn from_spif(s: &str) -> Option<Self> {
        Some(match s {
            "pageTop" => MarkingCode::PageTop,
            "pageBottom" => MarkingCode::PageBottom,
            "pageTopBottom" => MarkingCode::PageTopBottom,
            "documentStart" => MarkingCode::DocumentStart,
            "documentEnd" => MarkingCode::DocumentEnd,
            "noNameDisplay" => MarkingCode::NoNameDisplay,
            "noMarkingDisplay" => MarkingCode::NoMarkingDisplay,
            "suppressClassName" => MarkingCode::SuppressClassName,
            "replacePolicy" => MarkingCode::ReplacePolicy,
            "unused" => MarkingCode::Unused,
            _ => return None,
        })
    }
}

/// One `markingData` element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarkingData {
    /// The phrase shown instead of the name, if given.
    pub phrase: Option<String>,
    /// `xml:lang`, if given (absent means the default language, English).
    pub lang: Option<String>,
    /// The marking codes.
    pub codes: Vec<MarkingCode>,
}

/// Marking qualifiers: text put before, between and after the phrases of a group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Qualifiers {
    /// `prefix`.
    pub prefix: Option<String>,
    /// `separator`.
    pub separator: Option<String>,
    /// `suffix`.
    pub suffix: Option<String>,
    /// The same qualifiers in other languages (`xml:lang` on `qualifier`), by language tag;
    /// a slot a language leaves out is taken from the default language.
    pub translations: Vec<(String, Qualifiers)>,
}

/// One group's qualifiers in one language (see [`Qualifiers::in_lang`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QualifierText<'a> {
    /// `prefix`.
    pub prefix: Option<&'a str>,
    /// `separator`.
    pub separator: Option<&'a str>,
    /// `suffix`.
    pub suffix: Option<&'a str>,
}

impl Qualifiers {
    /// The qualifiers as a marking in `lang` shows them: each slot from the best-matching
    /// language that gives it (see [`lang_rank`]), else from the default language.
    pub fn in_lang(&self, lang: Option<&str>) -> QualifierText<'_> {
        let pick = |slot: fn(&Qualifiers) -> &Option<String>| -> Option<&str> {
            std::iter::once((None, self))
                .chain(self.translations.iter().map(|(l, q)| (Some(l.as_str()), q)))
                .filter_map(|(l, q)| Some((lang_rank(l, lang)?, slot(q).as_deref()?)))
                .min_by_key(|(rank, _)| *rank)
                .map(|(_, text)| text)
        };
        QualifierText {
            prefix: pick(|q| &q.prefix),
            separator: pick(|q| &q.separator),
            suffix: pick(|q| &q.suffix),
        }
    }
}

/// How well text tagged `have` (an `xml:lang`, `None` when absent) serves a reader of
/// `want` (`None`: the default language, English): `0` the same tag, `1` the same primary
/// language (`fr` for `fr-CA`), `2` the default language standing in; `None` when it does not
/// serve at all (another language).
pub fn lang_rank(have: Option<&str>, want: Option<&str>) -> Option<u8> {
    fn primary(tag: &str) -> &str {
        tag.split('-').next().unwrap_or(tag)
    }
    let english = |t: &str| primary(t).eq_ignore_ascii_case("en");
    match (have, want) {
        (None, None) => Some(0),
        (Some(h), None) if english(h) => Some(1),
        (Some(_), None) => None,
        (Some(h), Some(w)) if h.eq_ignore_ascii_case(w) => Some(0),
        (Some(h), Some(w)) if primary(h).eq_ignore_ascii_case(primary(w)) => Some(1),
        (None, Some(w)) if english(w) => Some(0),
        (None, Some(_)) => Some(2),
        (Some(h), Some(_)) if english(h) => Some(3),
        (Some(_), Some(_)) => None,
    }
}

/// A set of categories named by a SPIF `categoryGroup` (or `excludedCategory`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryGroup {
    /// Index of the tag set in [`Policy::tag_sets`].
    pub tag_set: usize,
    /// Which tag types match: `None` matches every informative encoding.
    pub tag_types: Vec<TagType>,
    /// One value, or every value of the tag set and type (`all="true"` or no `lacv`).
    pub lacv: Option<u32>,
}

impl CategoryGroup {
    /// Whether a category belongs to this group.
    pub fn matches(&self, policy: &Policy, c: &Category) -> bool {
        policy.tag_sets[self.tag_set].id == c.tag_set
            && self.tag_types.contains(&c.tag_type)
            && self.lacv.is_none_or(|l| l == c.lacv)
    }
}

/// `requiredCategory` operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Exactly one category of the groups.
    OnlyOne,
    /// At least one.
    OneOrMore,
    /// Every category the groups name.
    All,
}

/// A `requiredCategory` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredCategory {
    /// How many of the groups' categories must be present.
    pub operation: Operation,
    /// The groups.
    pub groups: Vec<CategoryGroup>,
}

/// `applied` on equivalence mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Used when translating from this policy to the other.
    Encrypt,
    /// Used when translating from the other policy to this one.
    Decrypt,
    /// Both directions.
    Both,
}

impl Applied {
    /// Whether the mapping applies when translating out of this policy.
    pub fn outbound(self) -> bool {
        matches!(self, Applied::Encrypt | Applied::Both)
    }
}

/// An `equivalentClassification`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EquivalentClassification {
    /// The `equivalentPolicy` name it refers to.
    pub policy_ref: String,
    /// The classification value in that policy.
    pub lacv: u32,
    /// Direction.
    pub applied: Applied,
    /// Categories (of the other policy) the translated label gains.
    pub adds: Vec<ForeignCategory>,
}

/// A category of another policy, named as an equivalence names it (tag set by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignCategory {
    /// The other policy's tag set name.
    pub tag_set: String,
    /// The tag class there.
    pub tag_class: TagClass,
    /// The value; `None` when the group names a whole tag set (cannot be translated).
    pub lacv: Option<u32>,
}

/// An `equivalentSecCategoryTag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EquivalentCategory {
    /// The `equivalentPolicy` name it refers to.
    pub policy_ref: String,
    /// The tag set OID in that policy.
    pub tag_set: Oid,
    /// The tag class there.
    pub tag_class: TagClass,
    /// The value there; `None` when the mapping names no value (`lacv=""`).
    pub lacv: Option<u32>,
    /// Direction.
    pub applied: Applied,
    /// `action`, e.g. `discard`.
    pub discard: bool,
}

/// A `securityClassification`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// Name.
    pub name: String,
    /// LACV (the value in ESS labels).
    pub lacv: u32,
    /// Hierarchy position, where the policy orders its classifications.
    pub hierarchy: Option<i64>,
    /// Colour (CSS name or `#RRGGBB`).
    pub color: Option<String>,
    /// Marking data.
    pub marking: Vec<MarkingData>,
    /// Rules the label's categories must meet at this classification.
    pub required: Vec<RequiredCategory>,
    /// Mappings to equivalent policies.
    pub equivalents: Vec<EquivalentClassification>,
    /// Marked obsolete.
    pub obsolete: bool,
}

/// A `tagCategory`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCategory {
    /// Name.
    pub name: String,
    /// LACV.
    pub lacv: u32,
    /// Marking data.
    pub marking: Vec<MarkingData>,
    /// Classifications (by index) this category may not be used with.
    pub excluded_classes: Vec<usize>,
    /// Categories that must accompany this one.
    pub required: Vec<RequiredCategory>,
    /// Categories that may not accompany this one.
    pub excluded: Vec<CategoryGroup>,
    /// Mappings to equivalent policies.
    pub equivalents: Vec<EquivalentCategory>,
    /// Marked obsolete.
    pub obsolete: bool,
}

/// A `securityCategoryTag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// Name.
    pub name: String,
    /// Type and encoding.
    pub tag_type: TagType,
    /// At most one category of this tag per label.
    pub single_selection: bool,
    /// Categories, in document order.
    pub categories: Vec<TagCategory>,
    /// Qualifiers for this tag's phrases.
    pub qualifiers: Qualifiers,
}

/// A `securityCategoryTagSet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSet {
    /// Name.
    pub name: String,
    /// OID (the `tagName` in ESS categories).
    pub id: Oid,
    /// Tags, in document order.
    pub tags: Vec<Tag>,
}

/// An `equivalentPolicy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EquivalentPolicy {
    /// The name used by `policyRef` attributes.
    pub name: String,
    /// The policy's OID.
    pub id: Oid,
    /// Categories (of that policy) every translated label gains.
    pub adds: Vec<ForeignCategory>,
}

/// Where a category sits in the policy: (tag set, tag, category) indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategoryRef {
    /// Index into [`Policy::tag_sets`].
    pub set: usize,
    /// Index into [`TagSet::tags`].
    pub tag: usize,
    /// Index into [`Tag::categories`].
    pub cat: usize,
}

/// A loaded, validated security policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `securityPolicyId/@name`.
    pub name: String,
    /// `securityPolicyId/@id`.
    pub id: Oid,
    /// `defaultSecurityPolicyId`, if any.
    pub default_policy: Option<(String, Oid)>,
    /// Classifications, in document order.
    pub classifications: Vec<Classification>,
    /// Tag sets, in document order.
    pub tag_sets: Vec<TagSet>,
    /// Policy-level qualifiers.
    pub qualifiers: Qualifiers,
    /// Policy-level marking data (e.g. `replacePolicy` with an empty phrase).
    pub marking: Vec<MarkingData>,
    /// Equivalent policies.
    pub equivalent_policies: Vec<EquivalentPolicy>,
    /// `SPIF/@rbacId`: the security-category form of the policy's labels; the MISSI OID means
    /// the MISSI form (`label::missi`), anything else (or none) the ACP 145 form.
    pub rbac_id: Option<Oid>,
    /// `SPIF/@privilegeId`: the security-category form of the policy's clearances; the
    /// SSLPrivileges OID means that form (`label::privileges`), anything else the ACP 145 form.
    pub privilege_id: Option<Oid>,
    pub(crate) class_by_lacv: HashMap<u32, usize>,
    pub(crate) category_index: HashMap<Category, CategoryRef>,
    pub(crate) marking_table: super::marking::MarkingTable,
    /// Tables for the other languages the policy's markings are written in.
    pub(crate) marking_tables: Vec<(String, super::marking::MarkingTable)>,
}

impl Policy {
    /// Builds the lookup indexes; called by the loader once the model is complete.
    pub(crate) fn index(&mut self) {
        self.class_by_lacv = self
            .classifications
            .iter()
            .enumerate()
            .map(|(i, c)| (c.lacv, i))
            .collect();
        let mut idx = HashMap::new();
        for (s, set) in self.tag_sets.iter().enumerate() {
            for (t, tag) in set.tags.iter().enumerate() {
                for (c, cat) in tag.categories.iter().enumerate() {
                    idx.insert(
                        Category {
                            tag_set: set.id.clone(),
                            tag_type: tag.tag_type,
                            lacv: cat.lacv,
                        },
                        CategoryRef {
                            set: s,
                            tag: t,
                            cat: c,
                        },
                    );
                }
            }
        }
        self.category_index = idx;
        self.marking_table = super::marking::MarkingTable::build(self, None);
        self.marking_tables = languages(self)
            .into_iter()
            .map(|l| {
                let t = super::marking::MarkingTable::build(self, Some(&l));
                (l, t)
            })
            .collect();
    }

    /// The classification with this LACV.
    pub fn classification(&self, lacv: u32) -> Option<&Classification> {
        self.class_by_lacv
            .get(&lacv)
            .map(|&i| &self.classifications[i])
    }

    /// The index of the classification with this LACV.
    pub fn classification_index(&self, lacv: u32) -> Option<usize> {
        self.class_by_lacv.get(&lacv).copied()
    }

    /// Where a category is defined, if it is.
    pub fn find_category(&self, c: &Category) -> Option<CategoryRef> {
        self.category_index.get(c).copied()
    }

    /// The definition at a reference.
    pub fn tag_category(&self, r: CategoryRef) -> &TagCategory {
        &self.tag_sets[r.set].tags[r.tag].categories[r.cat]
    }

    /// The tag at a reference.
    pub fn tag(&self, r: CategoryRef) -> &Tag {
        &self.tag_sets[r.set].tags[r.tag]
    }

    /// The category value a reference stands for.
    pub fn category_at(&self, r: CategoryRef) -> Category {
        let set = &self.tag_sets[r.set];
        let tag = &set.tags[r.tag];
        Category {
            tag_set: set.id.clone(),
            tag_type: tag.tag_type,
            lacv: tag.categories[r.cat].lacv,
        }
    }

    /// Every category the policy defines, in document order.
    pub fn all_categories(&self) -> impl Iterator<Item = CategoryRef> + '_ {
        self.tag_sets.iter().enumerate().flat_map(|(s, set)| {
            set.tags.iter().enumerate().flat_map(move |(t, tag)| {
                (0..tag.categories.len()).map(move |c| CategoryRef {
                    set: s,
                    tag: t,
                    cat: c,
                })
            })
        })
    }

    /// Whether classifications are ordered by `hierarchy` (every one has a value).
    pub fn is_hierarchical(&self) -> bool {
        !self.classifications.is_empty()
            && self.classifications.iter().all(|c| c.hierarchy.is_some())
    }

    /// The equivalent policy with this `policyRef` name.
    pub fn equivalent_policy(&self, name: &str) -> Option<&EquivalentPolicy> {
        self.equivalent_policies.iter().find(|p| p.name == name)
    }

    /// A classification by name (case-insensitive, white space folded).
    pub fn classification_by_name(&self, name: &str) -> Option<usize> {
        let n = super::marking::fold(name);
        self.classifications
            .iter()
            .position(|c| super::marking::fold(&c.name) == n)
    }
}

/// The marking data in the default language (no `xml:lang`, or English).
pub fn default_marking(data: &[MarkingData]) -> Option<&MarkingData> {
    marking_in(data, None)
}

/// The marking data that serves a reader of `lang` best ([`lang_rank`]), falling back to the
/// default language.
pub fn marking_in<'a>(data: &'a [MarkingData], lang: Option<&str>) -> Option<&'a MarkingData> {
    data.iter()
        .filter_map(|m| Some((lang_rank(m.lang.as_deref(), lang)?, m)))
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, m)| m)
}

/// The languages, besides the default, this policy's markings can be rendered and read in.
impl Policy {
    /// Every language (an `xml:lang` tag) the policy writes markings in besides its default.
    pub fn marking_languages(&self) -> impl Iterator<Item = &str> {
        self.marking_tables.iter().map(|(l, _)| l.as_str())
    }

    /// Whether markings can be shown in `lang`: English (the default), or one of
    /// [`Policy::marking_languages`] (a region-less tag matches its regions and back).
    pub fn writes_language(&self, lang: &str) -> bool {
        let english = lang
            .split('-')
            .next()
            .is_some_and(|x| x.eq_ignore_ascii_case("en"));
        english
            || self
                .marking_languages()
                .any(|have| lang_rank(Some(have), Some(lang)).is_some_and(|r| r < 2))
    }

    /// The languages markings can be shown in, for messages: `English, fr, …`.
    pub fn languages_text(&self) -> String {
        std::iter::once("English")
            .chain(self.marking_languages())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every language a policy's marking data or qualifiers are written in, besides the default
/// (English), in the order first met.
pub fn languages(policy: &Policy) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |l: &str| {
        if lang_rank(Some(l), None).is_none() && !out.iter().any(|o| o.eq_ignore_ascii_case(l)) {
            out.push(l.to_owned());
        }
    };
    let mut data = |d: &[MarkingData]| {
        d.iter()
            .filter_map(|m| m.lang.as_deref())
            .for_each(&mut add)
    };
    data(&policy.marking);
    for c in &policy.classifications {
        data(&c.marking);
    }
    for set in &policy.tag_sets {
        for tag in &set.tags {
            for c in &tag.categories {
                data(&c.marking);
            }
        }
    }
    let mut quals = |q: &Qualifiers| q.translations.iter().for_each(|(l, _)| add(l));
    quals(&policy.qualifiers);
    for set in &policy.tag_sets {
        for tag in &set.tags {
            quals(&tag.qualifiers);
        }
    }
    out
}
