//! Tag sets, tags and their categories, required and foreign categories, category groups and
//! equivalent categories.

use super::*;

impl<'d, 'i> Loader<'d, 'i> {
    /// `requiredCategory` inside an equivalence: its groups name the *other* policy's tag sets,
    /// so they are kept by name and resolved when a label is translated.
    pub(super) fn foreign_required(&mut self, n: N<'d, 'i>) -> Vec<ForeignCategory> {
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

    pub(super) fn required(&mut self, n: N<'d, 'i>) -> Option<RequiredCategory> {
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

    pub(super) fn group(&mut self, n: N<'d, 'i>) -> Option<CategoryGroup> {
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

    pub(super) fn tag_set(&mut self, n: N<'d, 'i>) -> Option<TagSet> {
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

    pub(super) fn tag(&mut self, n: N<'d, 'i>) -> Option<Tag> {
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

    pub(super) fn tag_category(&mut self, n: N<'d, 'i>, tt: TagType) -> Option<TagCategory> {
        self.attrs(n, &["name", "lacv", "obsolete", "userInput"]);
        let name = self.req(n, "name")?.to_owned();
        let lacv = self.req(n, "lacv").and_then(|s| self.lacv(n, s))?;
        if matches!(
            tt,
            TagType::Restrictive | TagType::Permissive | TagType::InformativeBits
        ) && lacv as usize > crate::label::der::MAX_BIT
        {
            self.problem(
                n,
                format!(
                    "bitmap lacv {lacv} is larger than {}",
                    crate::label::der::MAX_BIT
                ),
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

    pub(super) fn equivalent_category(&mut self, n: N<'d, 'i>) -> Option<EquivalentCategory> {
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
