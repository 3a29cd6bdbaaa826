//! The policy element and its classifications: the loader's first steps (names and tag sets
//! known before anything refers to them), then each classification.

use super::*;

impl<'d, 'i> Loader<'d, 'i> {
    pub(super) fn policy(&mut self, root: N<'d, 'i>) -> Option<Policy> {
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
        let rbac_id = root.attribute("rbacId").and_then(|s| self.oid(root, s));
        let privilege_id = root
            .attribute("privilegeId")
            .and_then(|s| self.oid(root, s));
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
            rbac_id,
            privilege_id,
            class_by_lacv: HashMap::new(),
            category_index: HashMap::new(),
            marking_table: Default::default(),
            marking_tables: Vec::new(),
        };
        policy.index();
        Some(policy)
    }

    pub(super) fn check_unique_classes(&mut self, root: N<'d, 'i>, classes: &[Classification]) {
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

    pub(super) fn prescan_tag_sets(&mut self, sets: N<'d, 'i>) {
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

    pub(super) fn classification(&mut self, n: N<'d, 'i>) -> Option<Classification> {
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
}
