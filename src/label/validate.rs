//! Validation of a label against its policy: known classification and categories, excluded
//! classes, required and excluded categories, single selection.

use std::fmt;

use super::model::{Category, Label};
use super::oid::Oid;
use super::policy::{CategoryGroup, Operation, Policy, RequiredCategory};

/// Why a label is not valid under a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// The label names no policy.
    #[error("the label names no security policy")]
    NoPolicy,
    /// The label is under another policy.
    #[error("the label is under policy {label}, not {policy}")]
    WrongPolicy {
        /// The label's policy.
        label: Oid,
        /// The policy it was checked against.
        policy: Oid,
    },
    /// The label has no classification.
    #[error("the label has no classification")]
    NoClassification,
    /// The classification is not defined by the policy.
    #[error("classification {0} is not defined by the policy")]
    UnknownClassification(u32),
    /// A category is not defined by the policy.
    #[error("category {} {} lacv {} is not defined by the policy", .0.tag_set, .0.tag_type.spif_name(), .0.lacv)]
    UnknownCategory(Category),
    /// A category may not be used at the label's classification.
    #[error("category {category} may not be used at {classification}")]
    ExcludedClass {
        /// Category name.
        category: String,
        /// Classification name.
        classification: String,
    },
    /// A required-category rule does not hold.
    #[error("{owner} requires {rule}")]
    Required {
        /// What has the rule (a classification or a category).
        owner: String,
        /// The rule in words.
        rule: String,
    },
    /// Two categories exclude each other.
    #[error("category {category} may not be combined with {other}")]
    Excluded {
        /// The category with the exclusion.
        category: String,
        /// The excluded one present.
        other: String,
    },
    /// More than one category of a single-selection tag.
    #[error("at most one category of {0} may be chosen")]
    SingleSelection(String),
}

impl Policy {
    /// A readable name for a category of this policy: `Tag Set/Name`, or its value if unknown.
    pub fn category_name(&self, c: &Category) -> String {
        match self.find_category(c) {
            Some(r) => format!(
                "{}/{}",
                self.tag_sets[r.set].name,
                self.tag_category(r).name
            ),
            None => format!("{}#{}", c.tag_set, c.lacv),
        }
    }

    fn group_members<'a>(&'a self, g: &'a CategoryGroup) -> impl Iterator<Item = Category> + 'a {
        let set = &self.tag_sets[g.tag_set];
        set.tags
            .iter()
            .filter(|t| g.tag_types.contains(&t.tag_type))
            .flat_map(move |t| {
                t.categories
                    .iter()
                    .filter(move |c| g.lacv.is_none_or(|l| l == c.lacv))
                    .map(move |c| Category {
                        tag_set: set.id.clone(),
                        tag_type: t.tag_type,
                        lacv: c.lacv,
                    })
            })
    }

    fn describe_rule(&self, r: &RequiredCategory) -> String {
        let op = match r.operation {
            Operation::OnlyOne => "exactly one of",
            Operation::OneOrMore => "at least one of",
            Operation::All => "all of",
        };
        let mut names: Vec<String> = Vec::new();
        for g in &r.groups {
            for c in self.group_members(g) {
                let n = self.category_name(&c);
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        format!("{op} {}", names.join(", "))
    }

    fn rule_holds(&self, r: &RequiredCategory, label: &Label) -> bool {
        match r.operation {
            Operation::OnlyOne | Operation::OneOrMore => {
                let count = label
                    .categories
                    .iter()
                    .filter(|c| r.groups.iter().any(|g| g.matches(self, c)))
                    .count();
                if r.operation == Operation::OnlyOne {
                    count == 1
                } else {
                    count >= 1
                }
            }
            Operation::All => r
                .groups
                .iter()
                .all(|g| self.group_members(g).all(|c| label.categories.contains(&c))),
        }
    }

    /// Checks that a label is valid under this policy.
    pub fn validate(&self, label: &Label) -> Result<(), Invalid> {
        let policy = label.policy.as_ref().ok_or(Invalid::NoPolicy)?;
        if *policy != self.id {
            return Err(Invalid::WrongPolicy {
                label: policy.clone(),
                policy: self.id.clone(),
            });
        }
        let lacv = label.classification.ok_or(Invalid::NoClassification)?;
        let class_idx = self
            .classification_index(lacv)
            .ok_or(Invalid::UnknownClassification(lacv))?;
        let class = &self.classifications[class_idx];
        let mut tags_used: Vec<(usize, usize)> = Vec::new();
        for c in &label.categories {
            let r = self
                .find_category(c)
                .ok_or_else(|| Invalid::UnknownCategory(c.clone()))?;
            let def = self.tag_category(r);
            if def.excluded_classes.contains(&class_idx) {
                return Err(Invalid::ExcludedClass {
                    category: self.category_name(c),
                    classification: class.name.clone(),
                });
            }
            for rule in &def.required {
                if !self.rule_holds(rule, label) {
                    return Err(Invalid::Required {
                        owner: self.category_name(c),
                        rule: self.describe_rule(rule),
                    });
                }
            }
            for g in &def.excluded {
                if let Some(other) = label
                    .categories
                    .iter()
                    .find(|o| *o != c && g.matches(self, o))
                {
                    return Err(Invalid::Excluded {
                        category: self.category_name(c),
                        other: self.category_name(other),
                    });
                }
            }
            if self.tag(r).single_selection {
                if tags_used.contains(&(r.set, r.tag)) {
                    return Err(Invalid::SingleSelection(self.tag(r).name.clone()));
                }
                tags_used.push((r.set, r.tag));
            }
        }
        for rule in &class.required {
            if !self.rule_holds(rule, label) {
                return Err(Invalid::Required {
                    owner: class.name.clone(),
                    rule: self.describe_rule(rule),
                });
            }
        }
        Ok(())
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.policy {
            Some(p) => write!(f, "policy {p}")?,
            None => f.write_str("no policy")?,
        }
        if let Some(c) = self.classification {
            write!(f, ", classification {c}")?;
        }
        for c in &self.categories {
            write!(f, ", {} {} {}", c.tag_set, c.tag_type.spif_name(), c.lacv)?;
        }
        if let Some(pm) = &self.privacy_mark {
            write!(f, ", privacy mark {:?}", pm.text())?;
        }
        Ok(())
    }
}
