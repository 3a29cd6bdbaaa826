//! Loader for Open XML SPIF policy files: strict XML, every element and attribute understood,
//! every reference resolved, every problem reported with its line.
//!
//! This file holds the entry point, the problems and the loader's node helpers; `top` reads the
//! policy element and its classifications, `markings` marking data and qualifiers, and
//! `categories` tag sets, tags, categories and their groups and equivalents.

use std::collections::{HashMap, HashSet};
use std::fmt;

use roxmltree::{Document, Node, NodeType};

mod categories;
mod markings;
mod top;

use super::model::{TagClass, TagType};
use super::oid::Oid;
use super::policy::{
    Applied, CategoryGroup, Classification, EquivalentCategory, EquivalentClassification,
    EquivalentPolicy, ForeignCategory, MarkingCode, MarkingData, Operation, Policy, Qualifiers,
    RequiredCategory, Tag, TagCategory, TagSet,
};

/// The SPIF namespace. Files with no namespace at all are accepted too (older samples).
pub const SPIF_NS: &str = "http://www.xmlspif.org/spif";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Largest policy file accepted.
pub const MAX_SPIF_BYTES: usize = 8 * 1024 * 1024;

/// One problem in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpifProblem {
    /// 1-based line, where known.
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SpifProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Why a policy file was refused: every problem found, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpifError {
    /// The problems (at least one).
    pub problems: Vec<SpifProblem>,
}

impl fmt::Display for SpifError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for p in &self.problems {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Loads and validates a policy from SPIF XML text.
pub fn load_policy(text: &str) -> Result<Policy, SpifError> {
    if text.len() > MAX_SPIF_BYTES {
        return Err(SpifError {
            problems: vec![SpifProblem {
                line: 1,
                message: format!("policy file is larger than {MAX_SPIF_BYTES} bytes"),
            }],
        });
    }
    let doc = Document::parse(text).map_err(|e| SpifError {
        problems: vec![SpifProblem {
            line: e.pos().row,
            message: format!("not well-formed XML: {e}"),
        }],
    })?;
    let mut l = Loader {
        doc: &doc,
        ns: None,
        problems: Vec::new(),
        set_names: HashMap::new(),
        set_types: Vec::new(),
        class_names: HashMap::new(),
    };
    let policy = l.policy(doc.root_element());
    match policy {
        Some(p) if l.problems.is_empty() => Ok(p),
        _ => {
            if l.problems.is_empty() {
                l.problems.push(SpifProblem {
                    line: 1,
                    message: "policy could not be loaded".into(),
                });
            }
            Err(SpifError {
                problems: l.problems,
            })
        }
    }
}

struct Loader<'d, 'i> {
    doc: &'d Document<'i>,
    ns: Option<&'d str>,
    problems: Vec<SpifProblem>,
    /// Tag set name → index (filled before anything refers to tag sets).
    set_names: HashMap<String, usize>,
    /// Per tag set: its OID and its tags' (type, lacvs).
    set_types: Vec<(Oid, Vec<TagValues>)>,
    /// Classification name → index.
    class_names: HashMap<String, usize>,
}

type N<'d, 'i> = Node<'d, 'i>;

/// A tag's type and the LACVs of its categories (from the first pass).
type TagValues = (TagType, Vec<u32>);

impl<'d, 'i> Loader<'d, 'i> {
    fn line(&self, n: N<'d, 'i>) -> u32 {
        self.doc.text_pos_at(n.range().start).row
    }

    fn problem(&mut self, n: N<'d, 'i>, message: impl Into<String>) {
        let line = self.line(n);
        self.problems.push(SpifProblem {
            line,
            message: message.into(),
        });
    }

    /// Checks attributes against an allow-list (`xml:lang` and `xsi:…` spelled with prefix).
    fn attrs(&mut self, n: N<'d, 'i>, allowed: &[&str]) {
        for a in n.attributes() {
            let name = match a.namespace() {
                Some(XML_NS) => format!("xml:{}", a.name()),
                Some(XSI_NS) => format!("xsi:{}", a.name()),
                Some(other) => format!("{{{other}}}{}", a.name()),
                None => a.name().to_owned(),
            };
            if !allowed.contains(&name.as_str()) {
                self.problem(
                    n,
                    format!("unknown attribute `{name}` on `{}`", n.tag_name().name()),
                );
            }
        }
    }

    /// The element children, refusing text content and elements of other namespaces.
    fn children(&mut self, n: N<'d, 'i>) -> Vec<N<'d, 'i>> {
        let mut out = Vec::new();
        for c in n.children() {
            match c.node_type() {
                NodeType::Element => {
                    if c.tag_name().namespace() != self.ns {
                        self.problem(
                            c,
                            format!(
                                "element `{}` in namespace {:?} is not a SPIF element",
                                c.tag_name().name(),
                                c.tag_name().namespace().unwrap_or("(none)")
                            ),
                        );
                    } else {
                        out.push(c);
                    }
                }
                NodeType::Text if c.text().is_some_and(|t| !t.trim().is_empty()) => {
                    self.problem(
                        c,
                        format!("unexpected text inside `{}`", n.tag_name().name()),
                    );
                }
                _ => {}
            }
        }
        out
    }

    fn unknown(&mut self, c: N<'d, 'i>, parent: N<'d, 'i>) {
        self.problem(
            c,
            format!(
                "unknown element `{}` in `{}`",
                c.tag_name().name(),
                parent.tag_name().name()
            ),
        );
    }

    fn req(&mut self, n: N<'d, 'i>, attr: &str) -> Option<&'d str> {
        let v = n.attribute(attr);
        if v.is_none() {
            self.problem(
                n,
                format!("`{}` needs attribute `{attr}`", n.tag_name().name()),
            );
        }
        v
    }

    fn lacv(&mut self, n: N<'d, 'i>, s: &str) -> Option<u32> {
        match s.trim().parse::<u32>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.problem(n, format!("lacv `{s}` is not a non-negative integer"));
                None
            }
        }
    }

    fn oid(&mut self, n: N<'d, 'i>, s: &str) -> Option<Oid> {
        match s.parse() {
            Ok(o) => Some(o),
            Err(e) => {
                self.problem(n, format!("{e}"));
                None
            }
        }
    }

    fn boolean(&mut self, n: N<'d, 'i>, attr: &str) -> bool {
        match n.attribute(attr) {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                self.problem(n, format!("`{attr}` must be true or false, not `{other}`"));
                false
            }
        }
    }
}

fn merge_qualifiers(into: &mut Qualifiers, q: Qualifiers) {
    if q.prefix.is_some() {
        into.prefix = q.prefix;
    }
    if q.separator.is_some() {
        into.separator = q.separator;
    }
    if q.suffix.is_some() {
        into.suffix = q.suffix;
    }
    for (lang, t) in q.translations {
        match into.translations.iter_mut().find(|(l, _)| *l == lang) {
            Some((_, have)) => merge_qualifiers(have, t),
            None => into.translations.push((lang, t)),
        }
    }
}

/// Maps SPIF `tagType` / `enumType` / `tag7Encoding` to a [`TagType`].
fn tag_type(tt: &str, enum_type: Option<&str>, tag7: Option<&str>) -> Result<TagType, String> {
    Ok(match (tt, enum_type) {
        ("restrictive", None) => TagType::Restrictive,
        ("permissive", None) => TagType::Permissive,
        ("enumerated", Some("restrictive")) => TagType::EnumeratedRestrictive,
        ("enumerated", Some("permissive")) => TagType::EnumeratedPermissive,
        ("enumerated", other) => {
            return Err(format!(
                "tagType enumerated needs enumType restrictive or permissive, not {other:?}"
            ));
        }
        ("tagType7", None) => match tag7 {
            Some("bitSetAttributes") => TagType::InformativeBits,
            Some("securityAttributes") => TagType::InformativeEnumerated,
            other => {
                return Err(format!(
                    "tagType7 needs tag7Encoding bitSetAttributes or securityAttributes, not {other:?}"
                ));
            }
        },
        (t, Some(e)) if t != "enumerated" => {
            return Err(format!(
                "enumType `{e}` is only allowed with tagType enumerated"
            ));
        }
        (other, _) => return Err(format!("unknown tagType `{other}`")),
    })
}
