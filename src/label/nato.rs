//! NATO ADatP-4774 XML confidentiality labels (`originatorConfidentialityLabel`), read into the
//! label model using a policy to resolve names, and written back.

use std::collections::BTreeSet;

use minidom::{Element, Node};

use super::decision::PolicySet;
use super::marking::fold;
use super::model::{Category, Label, TagClass};
use super::oid::Oid;
use super::policy::Policy;

/// `urn:nato:stanag:4774:confidentialitymetadatalabel:1:0`.
pub const NS: &str = "urn:nato:stanag:4774:confidentialitymetadatalabel:1:0";

/// Why a 4774 label could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NatoError {
    /// Not a 4774 label element.
    #[error("not an ADatP-4774 confidentiality label")]
    Mismatch,
    /// Malformed structure.
    #[error("malformed ADatP-4774 label: {0}")]
    Malformed(String),
    /// The policy identifier does not name this policy.
    #[error("the label's policy `{0}` is not policy {1}")]
    WrongPolicy(String, String),
    /// A name the policy does not define.
    #[error("{0}")]
    Unknown(String),
    /// XML that is not well-formed.
    #[error("bad XML: {0}")]
    Xml(String),
}

fn malformed(s: impl Into<String>) -> NatoError {
    NatoError::Malformed(s.into())
}

fn only_child<'a>(el: &'a Element, name: &str) -> Result<&'a Element, NatoError> {
    let mut it = el.children().filter(|c| c.is(name, NS));
    let c = it
        .next()
        .ok_or_else(|| malformed(format!("no {name} in {}", el.name())))?;
    if it.next().is_some() {
        return Err(malformed(format!("{name} appears twice")));
    }
    Ok(c)
}

fn texts_only(el: &Element) -> Result<String, NatoError> {
    if el.children().next().is_some() {
        return Err(malformed(format!("{} must hold text only", el.name())));
    }
    Ok(el.text().trim().to_owned())
}

/// Reads an ADatP-4774 label under the loaded policy its `PolicyIdentifier` names (the
/// gateway's own first, then those loaded for translation). None naming it: the gateway's
/// own policy's refusal.
pub fn from_element_in(policies: &PolicySet, el: &Element) -> Result<Label, NatoError> {
    let mut first = None;
    for policy in policies.iter() {
        match from_element(policy, el) {
            Err(e @ NatoError::WrongPolicy(..)) => {
                first.get_or_insert(e);
            }
            read => return read,
        }
    }
    Err(first.unwrap_or(NatoError::Mismatch))
}

/// Reads an `originatorConfidentialityLabel` (or `ConfidentialityLabel`) under `policy`.
pub fn from_element(policy: &Policy, el: &Element) -> Result<Label, NatoError> {
    if !(el.is("originatorConfidentialityLabel", NS) || el.is("ConfidentialityLabel", NS)) {
        return Err(NatoError::Mismatch);
    }
    for c in el.children() {
        if c.ns() != NS {
            return Err(malformed(format!(
                "element {} of namespace {}",
                c.name(),
                c.ns()
            )));
        }
        if !matches!(
            c.name(),
            "ConfidentialityInformation" | "CreationDateTime" | "OriginatorID" | "ReviewDateTime"
        ) {
            return Err(malformed(format!("unexpected element {}", c.name())));
        }
    }
    let info = only_child(el, "ConfidentialityInformation")?;
    for n in info.nodes() {
        if let Node::Text(t) = n
            && !t.trim().is_empty()
        {
            return Err(malformed("text in ConfidentialityInformation"));
        }
    }
    let pid_el = only_child(info, "PolicyIdentifier")?;
    let pid = texts_only(pid_el)?;
    let by_url = pid_el
        .attr("URL")
        .map(|u| u.parse::<Oid>().map(|o| o == policy.id).unwrap_or(false));
    let by_name = fold(&pid) == fold(&policy.name);
    if !(by_url == Some(true) || (by_url.is_none() && by_name)) {
        return Err(NatoError::WrongPolicy(pid, policy.name.clone()));
    }
    let class_name = texts_only(only_child(info, "Classification")?)?;
    let class = policy.classification_by_name(&class_name).ok_or_else(|| {
        NatoError::Unknown(format!("classification `{class_name}` is not defined"))
    })?;
    let mut categories = BTreeSet::new();
    for c in info.children() {
        match c.name() {
            "PolicyIdentifier" | "Classification" => {}
            "PrivacyMark" => {}
            "Category" => read_category(policy, c, &mut categories)?,
            other => return Err(malformed(format!("unexpected element {other}"))),
        }
    }
    let privacy = match info.children().find(|c| c.is("PrivacyMark", NS)) {
        Some(pm) => Some(super::model::PrivacyMark::Utf8(texts_only(pm)?)),
        None => None,
    };
    Ok(Label {
        policy: Some(policy.id.clone()),
        classification: Some(policy.classifications[class].lacv),
        privacy_mark: privacy,
        categories,
    })
}

fn read_category(
    policy: &Policy,
    c: &Element,
    out: &mut BTreeSet<Category>,
) -> Result<(), NatoError> {
    let tag_name = c
        .attr("TagName")
        .ok_or_else(|| malformed("Category without TagName"))?;
    let class = match c.attr("Type") {
        Some("PERMISSIVE") => TagClass::Permissive,
        Some("RESTRICTIVE") => TagClass::Restrictive,
        Some("INFORMATIVE") => TagClass::Informative,
        other => return Err(malformed(format!("Category Type {other:?}"))),
    };
    let set_f = fold(tag_name);
    let set = policy
        .tag_sets
        .iter()
        .position(|s| fold(&s.name) == set_f)
        .ok_or_else(|| NatoError::Unknown(format!("tag set `{tag_name}` is not defined")))?;
    let mut any = false;
    for v in c.children() {
        if !v.is("GenericValue", NS) {
            return Err(malformed(format!(
                "unexpected element {} in Category",
                v.name()
            )));
        }
        any = true;
        let value = texts_only(v)?;
        let vf = fold(&value);
        let found = policy
            .all_categories()
            .filter(|r| r.set == set && policy.tag(*r).tag_type.class() == class)
            .find(|r| fold(&policy.tag_category(*r).name) == vf)
            .ok_or_else(|| {
                NatoError::Unknown(format!(
                    "`{value}` is not a {class} category of `{tag_name}`"
                ))
            })?;
        out.insert(policy.category_at(found));
    }
    if !any {
        return Err(malformed(format!("Category `{tag_name}` has no value")));
    }
    Ok(())
}

/// Parses 4774 XML text under `policy`.
pub fn from_xml(policy: &Policy, text: &str) -> Result<Label, NatoError> {
    let el: Element = text
        .parse()
        .map_err(|e: minidom::Error| NatoError::Xml(e.to_string()))?;
    from_element(policy, &el)
}

/// Writes a label (valid under `policy`) as an `originatorConfidentialityLabel`.
pub fn to_element(policy: &Policy, label: &Label) -> Option<Element> {
    let class = policy.classification(label.classification?)?;
    let text_el = |name: &str, text: &str| Element::builder(name, NS).append(text).build();
    let mut info = Element::builder("ConfidentialityInformation", NS)
        .append(text_el("PolicyIdentifier", &policy.name))
        .append(text_el("Classification", &class.name));
    let mut i = 0;
    let refs: Vec<_> = label
        .categories
        .iter()
        .map(|c| policy.find_category(c))
        .collect::<Option<Vec<_>>>()?;
    let mut refs = refs;
    refs.sort_by_key(|r| (r.set, r.tag, r.cat));
    while i < refs.len() {
        let set = refs[i].set;
        let class = policy.tag(refs[i]).tag_type.class();
        let ty = match class {
            TagClass::Permissive => "PERMISSIVE",
            TagClass::Restrictive => "RESTRICTIVE",
            TagClass::Informative => "INFORMATIVE",
        };
        let mut cat = Element::builder("Category", NS)
            .attr(attr_name("TagName"), policy.tag_sets[set].name.as_str())
            .attr(attr_name("Type"), ty);
        while i < refs.len() && refs[i].set == set && policy.tag(refs[i]).tag_type.class() == class
        {
            cat = cat.append(text_el("GenericValue", &policy.tag_category(refs[i]).name));
            i += 1;
        }
        info = info.append(cat.build());
    }
    Some(
        Element::builder("originatorConfidentialityLabel", NS)
            .append(info.build())
            .build(),
    )
}

#[allow(clippy::expect_used)]
fn attr_name(s: &'static str) -> minidom::rxml::NcName {
    minidom::rxml::NcName::try_from(s).expect("constant attribute names are valid NCNames")
}
