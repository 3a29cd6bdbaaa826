//! Loader for Open XML SPIF policy files: strict XML, every element and attribute understood,
//! every reference resolved, every problem reported with its line.

use std::collections::{HashMap, HashSet};
use std::fmt;

use roxmltree::{Document, Node, NodeType};

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

    fn policy(&mut self, root: N<'d, 'i>) -> Option<Policy> {
        if root.tag_name().name() != "SPIF" {
            self.problem(
                root,
                format!("root element is `{}`, not `SPIF`", root.tag_name().name()),
            );
            return None;
        }
        match root.tag_name().namespace() {
            None => self.ns = None,
            Some(SPIF_NS) => self.ns = Some(SPIF_NS),
            Some(other) => {
                self.problem(
                    root,
                    format!("`SPIF` is in namespace {other:?}, not {SPIF_NS:?}"),
                );
                return None;
            }
        }
        self.attrs(
            root,
            &[
                "schemaVersion",
                "version",
                "creationDate",
                "originatorDN",
                "keyIdentifier",
                "privilegeId",
                "rbacId",
                "xsi:schemaLocation",
            ],
        );
        let children = self.children(root);
        // First pass: tag set and classification names, so that references resolve whatever
        // the order of the document.
        for c in &children {
            if c.tag_name().name() == "securityCategoryTagSets" {
                self.prescan_tag_sets(*c);
            }
            if c.tag_name().name() == "securityClassifications" {
                for (i, sc) in c
                    .children()
                    .filter(|x| x.is_element() && x.tag_name().name() == "securityClassification")
                    .enumerate()
                {
                    if let Some(name) = sc.attribute("name")
                        && self.class_names.insert(name.to_owned(), i).is_some()
                    {
                        self.problem(sc, format!("classification name `{name}` is defined twice"));
                    }
                }
            }
        }

        let mut policy_id = None;
        let mut default_policy = None;
        let mut classifications = Vec::new();
        let mut tag_sets = Vec::new();
        let mut qualifiers = Qualifiers::default();
        let mut marking = Vec::new();
        let mut equivalent_policies = Vec::new();
        let mut seen_classes = false;
        for c in children {
            match c.tag_name().name() {
                "securityPolicyId" | "defaultSecurityPolicyId" => {
                    self.attrs(c, &["name", "id"]);
                    let _ = self
                        .children(c)
                        .into_iter()
                        .map(|x| self.unknown(x, c))
                        .count();
                    let name = self.req(c, "name").map(str::to_owned);
                    let id = self.req(c, "id").and_then(|s| self.oid(c, s));
                    if let (Some(name), Some(id)) = (name, id) {
                        let slot = if c.tag_name().name() == "securityPolicyId" {
                            &mut policy_id
                        } else {
                            &mut default_policy
                        };
                        if slot.is_some() {
                            self.problem(c, format!("`{}` appears twice", c.tag_name().name()));
                        }
                        *slot = Some((name, id));
                    }
                }
                "equivalentPolicies" => {
                    self.attrs(c, &[]);
                    for e in self.children(c) {
                        if e.tag_name().name() != "equivalentPolicy" {
                            self.unknown(e, c);
                            continue;
                        }
                        self.attrs(e, &["name", "id"]);
                        let name = self.req(e, "name").map(str::to_owned);
                        let id = self.req(e, "id").and_then(|s| self.oid(e, s));
                        let adds = self.foreign_required(e);
                        if let (Some(name), Some(id)) = (name, id) {
                            equivalent_policies.push(EquivalentPolicy { name, id, adds });
                        }
                    }
                }
                "securityClassifications" => {
                    if seen_classes {
                        self.problem(c, "`securityClassifications` appears twice");
                    }
                    seen_classes = true;
                    self.attrs(c, &[]);
                    for sc in self.children(c) {
                        if sc.tag_name().name() != "securityClassification" {
                            self.unknown(sc, c);
                            continue;
                        }
                        if let Some(cl) = self.classification(sc) {
                            classifications.push(cl);
                        }
                    }
                }
                "securityCategoryTagSets" => {
                    self.attrs(c, &[]);
                    for ts in self.children(c) {
                        if ts.tag_name().name() != "securityCategoryTagSet" {
                            self.unknown(ts, c);
                            continue;
                        }
                        if let Some(t) = self.tag_set(ts) {
                            tag_sets.push(t);
                        }
                    }
                }
                "markingQualifier" => {
                    let q = self.qualifiers(c);
                    merge_qualifiers(&mut qualifiers, q);
                }
                "markingData" => {
                    if let Some(m) = self.marking_data(c) {
                        marking.push(m);
                    }
                }
                "extensions" => {
                    // An extension point by definition: its content belongs to other schemas.
                    self.attrs(c, &[]);
                }
                _ => self.unknown(c, root),
            }
        }
        if !seen_classes {
            self.problem(root, "no `securityClassifications`");
        }
        let Some((name, id)) = policy_id else {
            self.problem(root, "no `securityPolicyId`");
            return None;
        };
        self.check_unique_classes(root, &classifications);
        // Every equivalence must name a declared equivalent policy.
        let known: HashSet<&str> = equivalent_policies
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        let mut unknown_refs = Vec::new();
        for cl in &classifications {
            for e in &cl.equivalents {
                if !known.contains(e.policy_ref.as_str()) {
                    unknown_refs.push(e.policy_ref.clone());
                }
            }
        }
        for set in &tag_sets {
            for tag in &set.tags {
                for cat in &tag.categories {
                    for e in &cat.equivalents {
                        if !known.contains(e.policy_ref.as_str()) {
                            unknown_refs.push(e.policy_ref.clone());
                        }
                    }
                }
            }
        }
        unknown_refs.sort();
        unknown_refs.dedup();
        for r in unknown_refs {
            self.problem(root, format!("policyRef `{r}` names no equivalentPolicy"));
        }
        let mut policy = Policy {
            name,
            id,
            default_policy,
            classifications,
            tag_sets,
            qualifiers,
            marking,
            equivalent_policies,
            class_by_lacv: HashMap::new(),
            category_index: HashMap::new(),
            marking_table: Default::default(),
            marking_tables: Vec::new(),
        };
        policy.index();
        Some(policy)
    }

    fn check_unique_classes(&mut self, root: N<'d, 'i>, classes: &[Classification]) {
        let mut lacvs = HashSet::new();
        for c in classes {
            if !lacvs.insert(c.lacv) {
                self.problem(
                    root,
                    format!("classification lacv {} is used twice", c.lacv),
                );
            }
        }
        let with = classes.iter().filter(|c| c.hierarchy.is_some()).count();
        if with != 0 && with != classes.len() {
            self.problem(
                root,
                "some classifications have a hierarchy and some do not",
            );
        }
    }

    fn prescan_tag_sets(&mut self, sets: N<'d, 'i>) {
        for ts in sets
            .children()
            .filter(|x| x.is_element() && x.tag_name().name() == "securityCategoryTagSet")
        {
            let (Some(name), Some(id)) = (ts.attribute("name"), ts.attribute("id")) else {
                continue; // reported in the second pass
            };
            let Ok(oid) = id.parse::<Oid>() else { continue };
            if self.set_types.iter().any(|(o, _)| *o == oid) {
                self.problem(ts, format!("tag set id {id} is defined twice"));
            }
            let idx = self.set_types.len();
            if self.set_names.insert(name.to_owned(), idx).is_some() {
                self.problem(ts, format!("tag set name `{name}` is defined twice"));
            }
            let mut tags = Vec::new();
            for t in ts
                .children()
                .filter(|x| x.is_element() && x.tag_name().name() == "securityCategoryTag")
            {
                if let Ok(tt) = tag_type(
                    t.attribute("tagType").unwrap_or(""),
                    t.attribute("enumType"),
                    t.attribute("tag7Encoding"),
                ) {
                    let lacvs = t
                        .children()
                        .filter(|x| x.is_element() && x.tag_name().name() == "tagCategory")
                        .filter_map(|x| x.attribute("lacv").and_then(|v| v.trim().parse().ok()))
                        .collect();
                    tags.push((tt, lacvs));
                }
            }
            self.set_types.push((oid, tags));
        }
    }

    fn classification(&mut self, n: N<'d, 'i>) -> Option<Classification> {
        self.attrs(n, &["name", "lacv", "hierarchy", "color", "obsolete"]);
        let name = self.req(n, "name")?.to_owned();
        let lacv = self.req(n, "lacv").and_then(|s| self.lacv(n, s))?;
        let hierarchy = match n.attribute("hierarchy") {
            None => None,
            Some(h) => match h.trim().parse::<i64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    self.problem(n, format!("hierarchy `{h}` is not an integer"));
                    None
                }
            },
        };
        let obsolete = self.boolean(n, "obsolete");
        let mut cl = Classification {
            name,
            lacv,
            hierarchy,
            color: n.attribute("color").map(str::to_owned),
            marking: Vec::new(),
            required: Vec::new(),
            equivalents: Vec::new(),
            obsolete,
        };
        for c in self.children(n) {
            match c.tag_name().name() {
                "markingData" => {
                    if let Some(m) = self.marking_data(c) {
                        cl.marking.push(m);
                    }
                }
                "requiredCategory" => {
                    if let Some(r) = self.required(c) {
                        cl.required.push(r);
                    }
                }
                "equivalentClassification" => {
                    self.attrs(c, &["policyRef", "lacv", "applied"]);
                    let policy_ref = self.req(c, "policyRef").map(str::to_owned);
                    let lacv = self.req(c, "lacv").and_then(|s| self.lacv(c, s));
                    let applied = self.applied(c);
                    let adds = self.foreign_required(c);
                    if let (Some(policy_ref), Some(lacv), Some(applied)) =
                        (policy_ref, lacv, applied)
                    {
                        cl.equivalents.push(EquivalentClassification {
                            policy_ref,
                            lacv,
                            applied,
                            adds,
                        });
                    }
                }
                _ => self.unknown(c, n),
            }
        }
        Some(cl)
    }

    fn applied(&mut self, n: N<'d, 'i>) -> Option<Applied> {
        match self.req(n, "applied")? {
            "encrypt" => Some(Applied::Encrypt),
            "decrypt" => Some(Applied::Decrypt),
            "both" => Some(Applied::Both),
            other => {
                self.problem(
                    n,
                    format!("applied must be encrypt, decrypt or both, not `{other}`"),
                );
                None
            }
        }
    }

    fn marking_data(&mut self, n: N<'d, 'i>) -> Option<MarkingData> {
        self.attrs(n, &["phrase", "xml:lang"]);
        let mut m = MarkingData {
            phrase: n.attribute("phrase").map(str::to_owned),
            lang: n.attribute((XML_NS, "lang")).map(str::to_owned),
            codes: Vec::new(),
        };
        for c in self.children(n) {
            if c.tag_name().name() != "code" {
                self.unknown(c, n);
                continue;
            }
            self.attrs(c, &[]);
            let text = c.text().unwrap_or("").trim();
            match MarkingCode::from_spif(text) {
                Some(code) => {
                    if !m.codes.contains(&code) {
                        m.codes.push(code);
                    }
                }
                None => self.problem(c, format!("unknown marking code `{text}`")),
            }
        }
        Some(m)
    }

    fn qualifiers(&mut self, n: N<'d, 'i>) -> Qualifiers {
        self.attrs(n, &["markingCode", "code"]);
        for attr in ["markingCode", "code"] {
            if let Some(code) = n.attribute(attr)
                && MarkingCode::from_spif(code).is_none()
            {
                self.problem(n, format!("unknown marking code `{code}`"));
            }
        }
        let mut q = Qualifiers::default();
        for c in self.children(n) {
            if c.tag_name().name() != "qualifier" {
                self.unknown(c, n);
                continue;
            }
            self.attrs(c, &["markingQualifier", "qualifierCode", "xml:lang"]);
            for x in self.children(c) {
                self.unknown(x, c);
            }
            let (Some(text), Some(code)) = (
                self.req(c, "markingQualifier"),
                self.req(c, "qualifierCode"),
            ) else {
                continue;
            };
            // English and untagged qualifiers are the default language's; others are kept
            // per language.
            let target = match c.attribute((XML_NS, "lang")) {
                Some(l) if super::policy::lang_rank(Some(l), None).is_none() => {
                    match q
                        .translations
                        .iter()
                        .position(|(t, _)| t.eq_ignore_ascii_case(l))
                    {
                        Some(i) => &mut q.translations[i].1,
                        None => {
                            q.translations.push((l.to_owned(), Qualifiers::default()));
                            let last = q.translations.len() - 1;
                            &mut q.translations[last].1
                        }
                    }
                }
                _ => &mut q,
            };
            let slot = match code {
                "prefix" => &mut target.prefix,
                "separator" => &mut target.separator,
                "suffix" => &mut target.suffix,
                other => {
                    self.problem(
                        c,
                        format!("qualifierCode must be prefix, separator or suffix, not `{other}`"),
                    );
                    continue;
                }
            };
            if slot.is_some() {
                self.problem(c, format!("a second `{code}` qualifier"));
            }
            *slot = Some(text.to_owned());
        }
        q
    }

    /// `requiredCategory` inside an equivalence: its groups name the *other* policy's tag sets,
    /// so they are kept by name and resolved when a label is translated.
    fn foreign_required(&mut self, n: N<'d, 'i>) -> Vec<ForeignCategory> {
        let mut out = Vec::new();
        for r in self.children(n) {
            if r.tag_name().name() != "requiredCategory" {
                self.unknown(r, n);
                continue;
            }
            self.attrs(r, &["operation"]);
            if !matches!(r.attribute("operation"), None | Some("all")) {
                self.problem(
                    r,
                    "a requiredCategory in an equivalence must use operation all",
                );
            }
            for g in self.children(r) {
                if g.tag_name().name() != "categoryGroup" {
                    self.unknown(g, r);
                    continue;
                }
                self.attrs(g, &["tagSetRef", "tagType", "enumType", "lacv", "all"]);
                let Some(set) = self.req(g, "tagSetRef").map(str::to_owned) else {
                    continue;
                };
                let Some(tt) = self.req(g, "tagType") else {
                    continue;
                };
                let tag_class =
                    match tag_type(tt, g.attribute("enumType"), Some("bitSetAttributes")) {
                        Ok(t) => t.class(),
                        Err(e) => {
                            self.problem(g, e);
                            continue;
                        }
                    };
                let lacv = match g.attribute("lacv") {
                    Some(s) => self.lacv(g, s),
                    None => None,
                };
                out.push(ForeignCategory {
                    tag_set: set,
                    tag_class,
                    lacv,
                });
            }
        }
        out
    }

    fn required(&mut self, n: N<'d, 'i>) -> Option<RequiredCategory> {
        self.attrs(n, &["operation"]);
        let operation = match n.attribute("operation") {
            None | Some("oneOrMore") => Operation::OneOrMore,
            Some("onlyOne") => Operation::OnlyOne,
            Some("all") => Operation::All,
            Some(other) => {
                self.problem(
                    n,
                    format!("operation must be onlyOne, oneOrMore or all, not `{other}`"),
                );
                return None;
            }
        };
        let mut groups = Vec::new();
        for c in self.children(n) {
            if c.tag_name().name() != "categoryGroup" {
                self.unknown(c, n);
                continue;
            }
            if let Some(g) = self.group(c) {
                groups.push(g);
            }
        }
        if groups.is_empty() {
            self.problem(n, "`requiredCategory` has no `categoryGroup`");
            return None;
        }
        Some(RequiredCategory { operation, groups })
    }

    fn group(&mut self, n: N<'d, 'i>) -> Option<CategoryGroup> {
        self.attrs(n, &["tagSetRef", "tagType", "enumType", "lacv", "all"]);
        for x in self.children(n) {
            self.unknown(x, n);
        }
        let set_name = self.req(n, "tagSetRef")?;
        let Some(&set) = self.set_names.get(set_name) else {
            self.problem(n, format!("tagSetRef `{set_name}` names no tag set"));
            return None;
        };
        let tt = self.req(n, "tagType")?;
        let types: Vec<TagType> =
            match tag_type(tt, n.attribute("enumType"), Some("bitSetAttributes")) {
                Ok(TagType::InformativeBits) => {
                    vec![TagType::InformativeBits, TagType::InformativeEnumerated]
                }
                Ok(t) => vec![t],
                Err(e) => {
                    self.problem(n, e);
                    return None;
                }
            };
        let all = self.boolean(n, "all");
        let lacv = match n.attribute("lacv") {
            Some(s) if !all => Some(self.lacv(n, s)?),
            _ => None,
        };
        let tags = &self.set_types[set].1;
        let present: Vec<&(TagType, Vec<u32>)> =
            tags.iter().filter(|(t, _)| types.contains(t)).collect();
        if present.is_empty() {
            self.problem(n, format!("tag set `{set_name}` has no {tt} tag"));
            return None;
        }
        if let Some(l) = lacv
            && !present.iter().any(|(_, ls)| ls.contains(&l))
        {
            self.problem(
                n,
                format!("tag set `{set_name}` has no {tt} category with lacv {l}"),
            );
            return None;
        }
        Some(CategoryGroup {
            tag_set: set,
            tag_types: types,
            lacv,
        })
    }

    fn tag_set(&mut self, n: N<'d, 'i>) -> Option<TagSet> {
        self.attrs(n, &["name", "id"]);
        let name = self.req(n, "name")?.to_owned();
        let id = self.req(n, "id").and_then(|s| self.oid(n, s))?;
        let mut tags = Vec::new();
        for c in self.children(n) {
            if c.tag_name().name() != "securityCategoryTag" {
                self.unknown(c, n);
                continue;
            }
            if let Some(t) = self.tag(c) {
                tags.push(t);
            }
        }
        // The same (type, lacv) twice in one tag set would make ESS categories ambiguous.
        let mut seen = HashSet::new();
        for t in &tags {
            for c in &t.categories {
                if !seen.insert((t.tag_type, c.lacv)) {
                    self.problem(
                        n,
                        format!(
                            "tag set `{name}` defines {} lacv {} twice",
                            t.tag_type.spif_name(),
                            c.lacv
                        ),
                    );
                }
            }
        }
        if tags.is_empty() {
            self.problem(n, format!("tag set `{name}` has no tags"));
        }
        Some(TagSet { name, id, tags })
    }

    fn tag(&mut self, n: N<'d, 'i>) -> Option<Tag> {
        self.attrs(
            n,
            &[
                "name",
                "tagType",
                "enumType",
                "tag7Encoding",
                "singleSelection",
            ],
        );
        let name = self.req(n, "name")?.to_owned();
        let tt = self.req(n, "tagType")?;
        let tag_type = match tag_type(tt, n.attribute("enumType"), n.attribute("tag7Encoding")) {
            Ok(t) => t,
            Err(e) => {
                self.problem(n, e);
                return None;
            }
        };
        let single_selection = self.boolean(n, "singleSelection");
        let mut tag = Tag {
            name,
            tag_type,
            single_selection,
            categories: Vec::new(),
            qualifiers: Qualifiers::default(),
        };
        for c in self.children(n) {
            match c.tag_name().name() {
                "tagCategory" => {
                    if let Some(cat) = self.tag_category(c, tag_type) {
                        if tag.categories.iter().any(|x| x.name == cat.name) {
                            self.problem(
                                c,
                                format!("category `{}` is defined twice in its tag", cat.name),
                            );
                        }
                        tag.categories.push(cat);
                    }
                }
                "markingQualifier" => {
                    let q = self.qualifiers(c);
                    merge_qualifiers(&mut tag.qualifiers, q);
                }
                _ => self.unknown(c, n),
            }
        }
        Some(tag)
    }

    fn tag_category(&mut self, n: N<'d, 'i>, tt: TagType) -> Option<TagCategory> {
        self.attrs(n, &["name", "lacv", "obsolete", "userInput"]);
        let name = self.req(n, "name")?.to_owned();
        let lacv = self.req(n, "lacv").and_then(|s| self.lacv(n, s))?;
        if matches!(
            tt,
            TagType::Restrictive | TagType::Permissive | TagType::InformativeBits
        ) && lacv as usize > super::der::MAX_BIT
        {
            self.problem(
                n,
                format!("bitmap lacv {lacv} is larger than {}", super::der::MAX_BIT),
            );
        }
        let obsolete = self.boolean(n, "obsolete");
        let mut cat = TagCategory {
            name,
            lacv,
            marking: Vec::new(),
            excluded_classes: Vec::new(),
            required: Vec::new(),
            excluded: Vec::new(),
            equivalents: Vec::new(),
            obsolete,
        };
        for c in self.children(n) {
            match c.tag_name().name() {
                "markingData" => {
                    if let Some(m) = self.marking_data(c) {
                        cat.marking.push(m);
                    }
                }
                "excludedClass" => {
                    self.attrs(c, &[]);
                    let class = c.text().unwrap_or("").trim();
                    match self.class_names.get(class) {
                        None => self.problem(
                            c,
                            format!("excludedClass `{class}` names no classification"),
                        ),
                        Some(&i) => {
                            if cat.excluded_classes.contains(&i) {
                                self.problem(
                                    c,
                                    format!(
                                        "excludedClass `{class}` is listed twice for category `{}`",
                                        cat.name
                                    ),
                                );
                            } else {
                                cat.excluded_classes.push(i);
                            }
                        }
                    }
                }
                "requiredCategory" => {
                    if let Some(r) = self.required(c) {
                        cat.required.push(r);
                    }
                }
                "excludedCategory" => {
                    if let Some(g) = self.group(c) {
                        cat.excluded.push(g);
                    }
                }
                "equivalentSecCategoryTag" => {
                    if let Some(e) = self.equivalent_category(c) {
                        cat.equivalents.push(e);
                    }
                }
                _ => self.unknown(c, n),
            }
        }
        Some(cat)
    }

    fn equivalent_category(&mut self, n: N<'d, 'i>) -> Option<EquivalentCategory> {
        self.attrs(
            n,
            &[
                "policyRef",
                "tagSetId",
                "tagType",
                "enumType",
                "lacv",
                "applied",
                "action",
            ],
        );
        for x in self.children(n) {
            self.unknown(x, n);
        }
        let policy_ref = self.req(n, "policyRef")?.to_owned();
        let tag_set = self.req(n, "tagSetId").and_then(|s| self.oid(n, s))?;
        let tt = self.req(n, "tagType")?;
        let tag_class = match tag_type(tt, n.attribute("enumType"), Some("bitSetAttributes")) {
            Ok(t) => t.class(),
            Err(e) => {
                self.problem(n, e);
                return None;
            }
        };
        let lacv = match n.attribute("lacv") {
            None | Some("") => None,
            Some(s) => Some(self.lacv(n, s)?),
        };
        let applied = self.applied(n)?;
        let discard = match n.attribute("action") {
            None => false,
            Some("discard") => true,
            Some(other) => {
                self.problem(n, format!("unknown action `{other}`"));
                return None;
            }
        };
        if tag_class == TagClass::Informative && lacv.is_none() && !discard {
            self.problem(
                n,
                "an equivalent category needs a lacv unless it is discarded",
            );
        }
        Some(EquivalentCategory {
            policy_ref,
            tag_set,
            tag_class,
            lacv,
            applied,
            discard,
        })
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
