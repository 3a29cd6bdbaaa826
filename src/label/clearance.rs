//! Clearances: what a user may see. Parsed from the short text admins write in the users file,
//! or from RFC 5755 Clearance DER.
//!
//! # Text syntax
//!
//! A comma-separated list of names from the policy, in any case and spacing:
//!
//! ```text
//! SECRET, UK, EU, OVERLORD
//! OFFICIAL, SECRET, National Caveats:*, Codewords:OVERLORD
//! ```
//!
//! * a classification name (`SECRET`); where the policy orders classifications by hierarchy,
//!   the highest one held is what counts, so naming it is enough;
//! * a category name (`UK`), when only one category of the policy has that name;
//! * `Tag Set:Category` for a category whose name is shared, or clashes with a classification;
//! * `Tag Set:*` for every category of a tag set.

use std::collections::BTreeSet;
use std::fmt;

use super::ess::{ClearanceDer, EssError};
use super::marking::fold;
use super::missi::{MissiError, place};
use super::model::Category;
use super::oid::Oid;
use super::policy::Policy;
use super::privileges::uses_ssl_privileges;

/// A clearance: a policy, the classifications held and the categories held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clearance {
    /// The policy the clearance is under.
    pub policy: Oid,
    /// Classification values held.
    pub classes: BTreeSet<u32>,
    /// Categories held.
    pub categories: BTreeSet<Category>,
}

/// Why clearance text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClearanceError {
    /// Nothing was written.
    #[error("the clearance is empty")]
    Empty,
    /// An empty item between commas.
    #[error("empty item in the clearance (two commas in a row?)")]
    EmptyItem,
    /// A name the policy does not define.
    #[error("`{0}` is not a classification or category of policy {1}")]
    Unknown(String, String),
    /// A tag set name the policy does not define.
    #[error("`{0}` is not a tag set of policy {1}")]
    UnknownTagSet(String, String),
    /// A category name shared by several tag sets.
    #[error("`{name}` is ambiguous; write one of {candidates}")]
    Ambiguous {
        /// The name.
        name: String,
        /// Qualified spellings.
        candidates: String,
    },
    /// Bad DER.
    #[error("bad clearance DER: {0}")]
    Der(#[from] EssError),
    /// SSLPrivileges categories read without their policy (needed to place enumerated values).
    #[error(
        "the clearance's categories are SSLPrivileges, which can only be read under its policy"
    )]
    NeedsPolicy,
    /// The clearance is under another policy than the one it was read for.
    #[error("the clearance is under policy {0}")]
    OtherPolicy(Oid),
    /// SSLPrivileges categories under a policy that does not use the form.
    #[error("the clearance's categories are SSLPrivileges, which policy {0} does not use")]
    NotSslPrivileges(String),
    /// Categories that cannot be placed, or written, in the SSLPrivileges form.
    #[error("{0}")]
    Privileges(#[from] MissiError),
}

impl Clearance {
    /// Parses the text syntax described in the module documentation.
    pub fn parse(policy: &Policy, text: &str) -> Result<Clearance, ClearanceError> {
        if text.trim().is_empty() {
            return Err(ClearanceError::Empty);
        }
        let mut cl = Clearance {
            policy: policy.id.clone(),
            classes: BTreeSet::new(),
            categories: BTreeSet::new(),
        };
        for item in text.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(ClearanceError::EmptyItem);
            }
            let unknown = || ClearanceError::Unknown(item.to_owned(), policy.name.clone());
            if let Some((set, cat)) = item.split_once(':') {
                let set_f = fold(set);
                let (s, tag_set) = policy
                    .tag_sets
                    .iter()
                    .enumerate()
                    .find(|(_, t)| fold(&t.name) == set_f)
                    .ok_or_else(|| {
                        ClearanceError::UnknownTagSet(set.trim().to_owned(), policy.name.clone())
                    })?;
                let cat_f = fold(cat);
                let mut found = false;
                for r in policy.all_categories().filter(|r| r.set == s) {
                    if cat_f == "*" || fold(&policy.tag_category(r).name) == cat_f {
                        cl.categories.insert(policy.category_at(r));
                        found = true;
                    }
                }
                if !found {
                    return Err(ClearanceError::Unknown(
                        format!("{}:{}", tag_set.name, cat.trim()),
                        policy.name.clone(),
                    ));
                }
                continue;
            }
            if let Some(i) = policy.classification_by_name(item) {
                cl.classes.insert(policy.classifications[i].lacv);
                continue;
            }
            let f = fold(item);
            let matches: Vec<_> = policy
                .all_categories()
                .filter(|r| fold(&policy.tag_category(*r).name) == f)
                .collect();
            // One name may stand for the same value in several tags of one set (e.g. a
            // restrictive and an informative spelling); different tag sets are ambiguous.
            let sets: BTreeSet<usize> = matches.iter().map(|r| r.set).collect();
            match sets.len() {
                0 => return Err(unknown()),
                1 => {
                    for r in matches {
                        cl.categories.insert(policy.category_at(r));
                    }
                }
                _ => {
                    return Err(ClearanceError::Ambiguous {
                        name: item.to_owned(),
                        candidates: sets
                            .iter()
                            .map(|&s| format!("`{}:{}`", policy.tag_sets[s].name, item))
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        }
        Ok(cl)
    }

    /// Decodes RFC 5755 Clearance DER with its categories in the ACP 145 form. Categories in
    /// the SSLPrivileges form need their policy to be read ([`Clearance::from_der_in`]).
    pub fn from_der(bytes: &[u8]) -> Result<Clearance, ClearanceError> {
        let d = ClearanceDer::from_der(bytes)?;
        if d.ssl_privileges {
            return Err(ClearanceError::NeedsPolicy);
        }
        Ok(Clearance {
            policy: d.policy,
            classes: d.classes.into_iter().collect(),
            categories: d.categories,
        })
    }

    /// Decodes RFC 5755 Clearance DER under `policy`, its categories in either form: ACP 145,
    /// or SSLPrivileges when the policy's SPIF names that `privilegeId` — then each enumerated
    /// value is placed where the policy defines it, and one defined as both kinds or neither
    /// refuses the clearance. A clearance under another policy is refused.
    pub fn from_der_in(bytes: &[u8], policy: &Policy) -> Result<Clearance, ClearanceError> {
        let d = ClearanceDer::from_der(bytes)?;
        if d.policy != policy.id {
            return Err(ClearanceError::OtherPolicy(d.policy));
        }
        let categories = if d.ssl_privileges {
            if !uses_ssl_privileges(policy) {
                return Err(ClearanceError::NotSslPrivileges(policy.name.clone()));
            }
            place(policy, &d.categories)?
        } else {
            d.categories
        };
        Ok(Clearance {
            policy: d.policy,
            classes: d.classes.into_iter().collect(),
            categories,
        })
    }

    fn der_form(&self, ssl_privileges: bool) -> Result<Vec<u8>, MissiError> {
        ClearanceDer {
            policy: self.policy.clone(),
            classes: self.classes.iter().copied().collect(),
            categories: self.categories.clone(),
            ssl_privileges,
        }
        .to_der()
    }

    /// Encodes as RFC 5755 Clearance DER, the categories in the ACP 145 form.
    pub fn to_der(&self) -> Vec<u8> {
        // Only the SSLPrivileges form can refuse a clearance.
        self.der_form(false).unwrap_or_default()
    }

    /// Encodes as RFC 5755 Clearance DER in `policy`'s own form (SSLPrivileges when its SPIF
    /// names it), checked to read back under the policy as this clearance.
    pub fn to_der_in(&self, policy: &Policy) -> Result<Vec<u8>, ClearanceError> {
        if !uses_ssl_privileges(policy) {
            return Ok(self.to_der());
        }
        let der = self.der_form(true)?;
        if Clearance::from_der_in(&der, policy)? != *self {
            return Err(MissiError::Changed.into());
        }
        Ok(der)
    }

    /// Whether everything this clearance allows is allowed by `other` (same policy; each
    /// classification held is held by `other` or is below one it holds in the policy's
    /// hierarchy; every category held is held by `other`). A network's accreditation must
    /// hold each of its rooms' ceilings so.
    pub fn within(&self, other: &Clearance, policy: &Policy) -> bool {
        if self.policy != other.policy {
            return false;
        }
        let level = |c: u32| policy.classification(c).and_then(|c| c.hierarchy);
        let class_ok = |c: &u32| {
            other.classes.contains(c)
                || other.classes.iter().any(|o| match (level(*c), level(*o)) {
                    (Some(a), Some(b)) => a <= b,
                    _ => false,
                })
        };
        self.classes.iter().all(class_ok) && self.categories.is_subset(&other.categories)
    }

    /// The greatest clearance within both `self` and `other` (the classifications both hold,
    /// directly or through the policy's hierarchy, and the categories both hold): what a person
    /// holds when two authorities each vouch for part. `None`: different policies, or no
    /// classification in common.
    pub fn meet(&self, other: &Clearance, policy: &Policy) -> Option<Clearance> {
        if self.policy != other.policy || self.policy != policy.id {
            return None;
        }
        let level = |c: u32| policy.classification(c).and_then(|c| c.hierarchy);
        let holds = |cl: &Clearance, c: u32| {
            cl.classes.contains(&c)
                || cl.classes.iter().any(|o| match (level(c), level(*o)) {
                    (Some(a), Some(b)) => a <= b,
                    _ => false,
                })
        };
        let classes: BTreeSet<u32> = policy
            .classifications
            .iter()
            .map(|c| c.lacv)
            .filter(|&c| holds(self, c) && holds(other, c))
            .collect();
        if classes.is_empty() {
            return None;
        }
        Some(Clearance {
            policy: self.policy.clone(),
            classes,
            categories: self
                .categories
                .intersection(&other.categories)
                .cloned()
                .collect(),
        })
    }

    /// Writes the clearance in the text syntax, using the policy's names.
    pub fn to_text(&self, policy: &Policy) -> String {
        let mut items: Vec<String> = Vec::new();
        for c in &policy.classifications {
            if self.classes.contains(&c.lacv) {
                items.push(c.name.clone());
            }
        }
        for r in policy.all_categories() {
            let c = policy.category_at(r);
            if self.categories.contains(&c) {
                let name = format!(
                    "{}:{}",
                    policy.tag_sets[r.set].name,
                    policy.tag_category(r).name
                );
                if !items.contains(&name) {
                    items.push(name);
                }
            }
        }
        items.join(", ")
    }
}

impl fmt::Display for Clearance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "clearance under {}: classes {:?}, {} categories",
            self.policy,
            self.classes,
            self.categories.len()
        )
    }
}
