//! The test table of an independent SPIF implementation (surevine/spiffing `test-data/tests.xml`,
//! MIT), run against labelgate's label engine: validity, label and clearance markings (in the
//! languages the table asks for), access decisions and translation to equivalent policies.
//!
//! Labels and clearances in that table are written in spiffing's own small XML form
//! (`<label xmlns='http://surevine.com/xmlns/spiffy'>`); the reader for it lives here, as test
//! scaffolding: the gateway itself never reads that form.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use labelgate::label::{
    Category, Clearance, Label, Oid, Policy, PolicySet, TagType, load_policy, nato,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Reads a table file: the labels and clearances are in `spiffing/`, policies in `spif/`
/// (the project's repaired copies where the upstream file is not well-formed).
fn table_file(name: &str) -> PathBuf {
    let own = fixture(&format!("spiffing/{name}"));
    if own.exists() {
        own
    } else if name.ends_with(".nato") || name.ends_with(".ber") {
        fixture(&format!("labels/{name}"))
    } else {
        fixture(&format!("spif/{name}"))
    }
}

const SPIFFY: &str = "http://surevine.com/xmlns/spiffy";

/// A category from spiffing's `<tag type= id= lacv=>`; `informative` is resolved to the
/// encoding the policy declares for that tag set and value.
fn spiffy_category(policies: &PolicySet, policy: &Oid, tag: roxmltree::Node) -> Category {
    let tag_set: Oid = tag.attribute("id").unwrap().parse().unwrap();
    let lacv: u32 = tag.attribute("lacv").unwrap().parse().unwrap();
    let types: &[TagType] = match tag.attribute("type").unwrap() {
        "restrictive" => &[TagType::Restrictive],
        "permissive" => &[TagType::Permissive],
        "enumeratedRestrictive" => &[TagType::EnumeratedRestrictive],
        "enumeratedPermissive" => &[TagType::EnumeratedPermissive],
        "informative" => &[TagType::InformativeBits, TagType::InformativeEnumerated],
        other => panic!("tag type {other}"),
    };
    let p = policies
        .get(policy)
        .expect("policy of a table label is loaded");
    for &tag_type in types {
        let c = Category {
            tag_set: tag_set.clone(),
            tag_type,
            lacv,
        };
        if p.find_category(&c).is_some() || types.len() == 1 {
            return c;
        }
    }
    panic!("no informative category {tag_set} {lacv} in {}", p.name)
}

enum Item {
    Label(Label),
    Clearance(Clearance),
}

fn read_spiffy(policies: &PolicySet, text: &str) -> Item {
    let doc = roxmltree::Document::parse(text).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().namespace(), Some(SPIFFY));
    let el = |name: &'static str| {
        root.children()
            .filter(move |n| n.is_element() && n.tag_name().name() == name)
    };
    let policy: Oid = el("policy")
        .next()
        .unwrap()
        .attribute("id")
        .unwrap()
        .parse()
        .unwrap();
    let classes: Vec<u32> = el("classification")
        .map(|c| c.attribute("lacv").unwrap().parse().unwrap())
        .collect();
    let categories: BTreeSet<Category> = el("tag")
        .map(|t| spiffy_category(policies, &policy, t))
        .collect();
    match root.tag_name().name() {
        "label" => Item::Label(Label {
            policy: Some(policy),
            classification: classes.first().copied(),
            privacy_mark: None,
            categories,
        }),
        "clearance" => Item::Clearance(Clearance {
            policy,
            classes: classes.into_iter().collect(),
            categories,
        }),
        other => panic!("root {other}"),
    }
}

/// Reads a label or clearance named by the table; `Err` with the reason it could not be read.
fn read_item(policies: &PolicySet, name: &str) -> Result<Item, String> {
    let path = table_file(name);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if name.ends_with(".xml") {
        Ok(read_spiffy(policies, std::str::from_utf8(&bytes).unwrap()))
    } else if name.ends_with(".nato") {
        let text = String::from_utf8(bytes).unwrap();
        nato::from_xml(policies.primary(), &text)
            .map(Item::Label)
            .map_err(|e| e.to_string())
    } else {
        let label = Label::from_der(&bytes).map_err(|e| e.to_string())?;
        let id = label.policy.clone().ok_or("no policy")?;
        policies
            .get(&id)
            .ok_or_else(|| format!("Unknown policy id: {id}"))?;
        Ok(Item::Label(label))
    }
}

fn load(name: &str) -> Result<Policy, String> {
    let text = std::fs::read_to_string(table_file(name)).unwrap();
    load_policy(&text).map_err(|e| e.to_string())
}

/// What one `<test>` row came to: `Ok` when every assertion it makes holds.
fn run_row(policies: &PolicySet, test: roxmltree::Node) -> Result<(), String> {
    let name = test.attribute("label").unwrap();
    let lang = test.attribute(("http://www.w3.org/XML/1998/namespace", "lang"));
    let item = match read_item(policies, name) {
        Ok(i) => i,
        Err(why) => {
            return match test.attribute("exception") {
                Some(_) => Ok(()),
                None => Err(format!("could not read {name}: {why}")),
            };
        }
    };
    if let Some(e) = test.attribute("exception") {
        return Err(format!("{name} was read, but the table expects `{e}`"));
    }
    let Item::Label(label) = item else {
        return Err(format!("{name} is not a label"));
    };
    let policy = policies
        .get(label.policy.as_ref().unwrap())
        .ok_or("label policy not loaded")?;
    if let Some(v) = test.attribute("valid") {
        let got = policy.validate(&label);
        if (v == "true") != got.is_ok() {
            return Err(format!("{name}: valid={v} expected, got {got:?}"));
        }
    }
    if let Some(want) = test.attribute("label-marking") {
        let got = policy
            .render_marking_in(&label, lang)
            .map_err(|e| e.to_string())?;
        if got != want {
            return Err(format!("{name} [{lang:?}]: marking `{got}`, want `{want}`"));
        }
    }
    if let Some(to) = test.attribute("encrypt") {
        let to: Oid = to.parse().unwrap();
        let t = policies
            .translate(&label, &to)
            .map_err(|e| format!("{name}: translation to {to} refused: {e}"))?;
        if let Some(want) = test.attribute("encrypt-marking") {
            let got = policies.get(&to).unwrap().render_marking(&t).unwrap();
            if got != want {
                return Err(format!("{name} → {to}: marking `{got}`, want `{want}`"));
            }
        }
    }
    if let Some(cname) = test.attribute("clearance") {
        let Ok(Item::Clearance(c)) = read_item(policies, cname) else {
            return Err(format!("{cname} is not a clearance"));
        };
        let cpolicy = policies.get(&c.policy).unwrap();
        if let Some(want) = test.attribute("clearance-marking") {
            let got = cpolicy
                .render_clearance(&c, lang)
                .map_err(|e| e.to_string())?;
            if got != want {
                return Err(format!("{cname}: clearance marking `{got}`, want `{want}`"));
            }
        }
        if let Some(want) = test.attribute("acdf-result") {
            let got = policies.check(&c, &label);
            if (want == "1") != got.is_ok() {
                return Err(format!(
                    "{name} vs {cname}: acdf {want} expected, got {got:?}"
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn every_row_of_the_spiffing_table_holds() {
    let table = std::fs::read_to_string(fixture("spiffing/tests.xml")).unwrap();
    let doc = roxmltree::Document::parse(&table).unwrap();
    let mut failures = Vec::new();
    let mut rows = 0;
    for seq in doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("sequence"))
    {
        let mut set: Option<PolicySet> = None;
        for el in seq.children().filter(roxmltree::Node::is_element) {
            match el.tag_name().name() {
                "policy" => {
                    let spif = el.attribute("spif").unwrap();
                    match (load(spif), el.attribute("exception")) {
                        (Ok(p), None) => match &mut set {
                            Some(s) => s.add(p),
                            None => set = Some(PolicySet::new(p)),
                        },
                        (Err(_), Some(_)) => rows += 1,
                        (Ok(_), Some(e)) => failures.push(format!("{spif} loaded; want `{e}`")),
                        (Err(e), None) => failures.push(format!("{spif}: {e}")),
                    }
                }
                "test" => {
                    rows += 1;
                    let set = set.as_ref().expect("a sequence loads a policy first");
                    if let Err(e) = run_row(set, el) {
                        failures.push(e);
                    }
                }
                other => panic!("unknown table element {other}"),
            }
        }
    }
    assert!(rows >= 25, "the table has {rows} rows");
    assert!(
        failures.is_empty(),
        "{} of {rows} rows fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
