//! The access decision: does a clearance dominate a label? One function decides, and a grant is
//! a proof value that only it can create.
//!
//! The steps follow `labels.md`: validate the label under its own policy; translate it through
//! an equivalent policy when the clearance is under another one; then check the
//! classification (by hierarchy where the policy orders classifications, else by membership),
//! every restrictive category, at least one value of each permissive tag set; informative
//! categories are ignored. Anything that cannot be decided is denied.

use std::collections::{BTreeMap, BTreeSet};

use super::clearance::Clearance;
use super::model::{Category, Label, TagClass};
use super::oid::Oid;
use super::policy::Policy;
use super::validate::Invalid;

/// Proof that a clearance dominates a label. Only `PolicySet::decide` makes one, and only the
/// audited gate (`crate::audit::Gate`) calls that; code that hands a message to a user must be
/// given one.
#[derive(Debug)]
#[must_use = "a grant is the permission to deliver; drop it only if not delivering"]
pub struct Granted {
    _private: (),
}

/// Why access was denied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The label is not valid under its policy.
    #[error("invalid label: {0}")]
    Invalid(#[from] Invalid),
    /// The label names no policy.
    #[error("the label names no security policy")]
    NoPolicy,
    /// The label's policy is not loaded.
    #[error("the label's policy {0} is not known here")]
    UnknownPolicy(Oid),
    /// The label could not be carried into the clearance's policy.
    #[error("the label under {from} cannot be translated to policy {to}: {why}")]
    Untranslatable {
        /// Label policy name.
        from: String,
        /// Clearance policy.
        to: String,
        /// Why not.
        why: String,
    },
    /// The classification is above the clearance.
    #[error("classification {0} is not within the clearance")]
    Classification(String),
    /// A restrictive category is not held.
    #[error("the clearance lacks restrictive category {0}")]
    Restrictive(String),
    /// No value of a permissive tag set is held.
    #[error("the clearance holds none of {0}")]
    Permissive(String),
    /// The decision could not be recorded in the audit trail (fail closed).
    #[error("the decision could not be audited: {0}")]
    Unaudited(String),
}

/// The policies the gateway knows: the first is its own; others are there for translation.
#[derive(Debug, Clone)]
pub struct PolicySet {
    policies: Vec<Policy>,
}

impl PolicySet {
    /// A set with one (primary) policy.
    pub fn new(primary: Policy) -> Self {
        PolicySet {
            policies: vec![primary],
        }
    }

    /// Adds a policy that labels may be translated from or to.
    pub fn add(&mut self, policy: Policy) {
        self.policies.push(policy);
    }

    /// The gateway's own policy.
    pub fn primary(&self) -> &Policy {
        &self.policies[0]
    }

    /// Every loaded policy, the gateway's own first.
    pub fn iter(&self) -> impl Iterator<Item = &Policy> {
        self.policies.iter()
    }

    /// A loaded policy by OID.
    pub fn get(&self, id: &Oid) -> Option<&Policy> {
        self.policies.iter().find(|p| p.id == *id)
    }

    /// Whether `clearance` dominates `label`, without a grant: for admin tools and
    /// configuration checks. Delivering code must go through the audited gate
    /// (`crate::audit::Gate`), the only caller of the crate-private `decide`.
    pub fn check(&self, clearance: &Clearance, label: &Label) -> Result<(), Denied> {
        self.decide(clearance, label).map(|_granted| ())
    }

    /// Decides whether `clearance` dominates `label`; a grant is the proof delivery needs.
    /// Crate-private: only the audited gate calls it.
    pub(crate) fn decide(&self, clearance: &Clearance, label: &Label) -> Result<Granted, Denied> {
        let label_policy_id = label.policy.as_ref().ok_or(Denied::NoPolicy)?;
        let source = self
            .get(label_policy_id)
            .ok_or_else(|| Denied::UnknownPolicy(label_policy_id.clone()))?;
        source.validate(label)?;
        let target = self
            .get(&clearance.policy)
            .ok_or_else(|| Denied::UnknownPolicy(clearance.policy.clone()))?;
        if source.id == target.id {
            dominates(target, clearance, label)
        } else {
            let translated = translate(source, target, label)?;
            target
                .validate(&translated)
                .map_err(|e| Denied::Untranslatable {
                    from: source.name.clone(),
                    to: target.name.clone(),
                    why: format!("the translated label is invalid: {e}"),
                })?;
            dominates(target, clearance, &translated)
        }
    }

    /// Carries a label into another loaded policy (for display or checking), failing closed.
    pub fn translate(&self, label: &Label, to: &Oid) -> Result<Label, Denied> {
        let from = label.policy.as_ref().ok_or(Denied::NoPolicy)?;
        let source = self
            .get(from)
            .ok_or_else(|| Denied::UnknownPolicy(from.clone()))?;
        let target = self
            .get(to)
            .ok_or_else(|| Denied::UnknownPolicy(to.clone()))?;
        if source.id == target.id {
            return Ok(label.clone());
        }
        source.validate(label)?;
        let t = translate(source, target, label)?;
        target.validate(&t).map_err(Denied::Invalid)?;
        Ok(t)
    }
}

fn dominates(policy: &Policy, clearance: &Clearance, label: &Label) -> Result<Granted, Denied> {
    let lacv = label.classification.ok_or(Invalid::NoClassification)?;
    let class = policy
        .classification(lacv)
        .ok_or(Invalid::UnknownClassification(lacv))?;
    let class_ok = if policy.is_hierarchical() {
        let need = class.hierarchy.unwrap_or(i64::MAX);
        clearance
            .classes
            .iter()
            .filter_map(|c| policy.classification(*c).and_then(|c| c.hierarchy))
            .any(|h| h >= need)
    } else {
        clearance.classes.contains(&lacv)
    };
    if !class_ok {
        return Err(Denied::Classification(class.name.clone()));
    }
    let mut permissive: BTreeMap<&Oid, bool> = BTreeMap::new();
    for c in &label.categories {
        match c.tag_type.class() {
            TagClass::Restrictive => {
                if !clearance.categories.contains(c) {
                    return Err(Denied::Restrictive(policy.category_name(c)));
                }
            }
            TagClass::Permissive => {
                let held = clearance.categories.contains(c);
                *permissive.entry(&c.tag_set).or_insert(false) |= held;
            }
            TagClass::Informative => {}
        }
    }
    if let Some((set, _)) = permissive.iter().find(|(_, held)| !**held) {
        let values: Vec<String> = label
            .categories
            .iter()
            .filter(|c| c.tag_set == **set && c.tag_type.class() == TagClass::Permissive)
            .map(|c| policy.category_name(c))
            .collect();
        return Err(Denied::Permissive(values.join(", ")));
    }
    Ok(Granted { _private: () })
}

/// Translates a valid label of `from` into `to` using `from`'s outbound equivalence mappings.
fn translate(from: &Policy, to: &Policy, label: &Label) -> Result<Label, Denied> {
    let fail = |why: String| Denied::Untranslatable {
        from: from.name.clone(),
        to: to.name.clone(),
        why,
    };
    let eq = from
        .equivalent_policies
        .iter()
        .find(|e| e.id == to.id)
        .ok_or_else(|| {
            fail(format!(
                "{} declares no equivalence to {}",
                from.name, to.id
            ))
        })?;
    let lacv = label.classification.ok_or(Invalid::NoClassification)?;
    let class = from
        .classification(lacv)
        .ok_or(Invalid::UnknownClassification(lacv))?;
    let ec = class
        .equivalents
        .iter()
        .find(|e| e.policy_ref == eq.name && e.applied.outbound())
        .ok_or_else(|| fail(format!("classification {} has no equivalent", class.name)))?;
    let mut cats: BTreeSet<Category> = BTreeSet::new();
    for add in eq.adds.iter().chain(ec.adds.iter()) {
        cats.insert(
            foreign(to, &add.tag_set, add.tag_class, add.lacv).ok_or_else(|| {
                fail(format!(
                    "the equivalence needs a category of `{}` that cannot be made",
                    add.tag_set
                ))
            })?,
        );
    }
    for c in &label.categories {
        let r = from
            .find_category(c)
            .ok_or_else(|| Invalid::UnknownCategory(c.clone()))?;
        let def = from.tag_category(r);
        let maps: Vec<_> = def
            .equivalents
            .iter()
            .filter(|e| e.policy_ref == eq.name && e.applied.outbound())
            .collect();
        if maps.is_empty() {
            if c.tag_type.class() == TagClass::Informative {
                continue;
            }
            return Err(fail(format!("category {} has no equivalent", def.name)));
        }
        for m in maps {
            if m.discard {
                continue;
            }
            let Some(l) = m.lacv else {
                return Err(fail(format!("category {} maps to no value", def.name)));
            };
            let tc = to
                .all_categories()
                .map(|r| to.category_at(r))
                .find(|x| {
                    x.tag_set == m.tag_set && x.tag_type.class() == m.tag_class && x.lacv == l
                })
                .ok_or_else(|| fail(format!("category {} maps to an undefined value", def.name)))?;
            cats.insert(tc);
        }
    }
    Ok(Label {
        policy: Some(to.id.clone()),
        classification: Some(ec.lacv),
        privacy_mark: label.privacy_mark.clone(),
        categories: cats,
    })
}

/// A category of `policy` named by tag set name, class and value.
fn foreign(policy: &Policy, set: &str, class: TagClass, lacv: Option<u32>) -> Option<Category> {
    let lacv = lacv?;
    policy
        .all_categories()
        .filter(|r| policy.tag_sets[r.set].name == set)
        .map(|r| policy.category_at(r))
        .find(|c| c.tag_type.class() == class && c.lacv == lacv)
}
