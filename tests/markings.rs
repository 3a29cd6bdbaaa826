//! Display markings render as the policies say, parse back tolerantly, and
//! parse(render(l)) == l for valid labels of every sample policy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use labelgate::label::marking::MarkingError;
use labelgate::label::policy::{CategoryRef, MarkingCode, default_marking};
use labelgate::label::{Label, Policy, load_policy};
use proptest::prelude::*;

fn policy(name: &str) -> Policy {
    let p = format!("{}/tests/fixtures/spif/{name}", env!("CARGO_MANIFEST_DIR"));
    load_policy(&std::fs::read_to_string(p).unwrap()).unwrap()
}

const SAMPLES: [&str; 6] = [
    "uk-demo.xml",
    "tlp.xml",
    "tlp-plus.xml",
    "bsi-commercial.xml",
    "food-policy.xml",
    "nato-4774-policy.xml",
];

#[test]
fn uk_demo_renders() {
    let p = policy("uk-demo.xml");
    for (typed, rendered) in [
        (
            "SECRET - UK / EU EYES ONLY",
            "DEMO-UK SECRET - UK / EU EYES ONLY",
        ),
        ("secret eu uk", "DEMO-UK SECRET - UK / EU EYES ONLY"),
        (
            "  demo-uk   Secret -  UK/EU  eyes only ",
            "DEMO-UK SECRET - UK / EU EYES ONLY",
        ),
        ("OFFICIAL", "DEMO-UK OFFICIAL"),
        (
            "OFFICIAL-SENSITIVE LOCSEN",
            "DEMO-UK OFFICIAL-SENSITIVE LOCSEN",
        ),
        (
            "top secret overlord dynamo",
            "DEMO-UK TOP SECRET OVERLORD DYNAMO",
        ),
    ] {
        let l = p
            .parse_marking(typed)
            .unwrap_or_else(|e| panic!("{typed}: {e}"));
        assert_eq!(p.validate(&l), Ok(()), "{typed}");
        assert_eq!(p.render_marking(&l).unwrap(), rendered, "{typed}");
    }
}

#[test]
fn display_marking_carries_the_classification_colour() {
    let p = policy("uk-demo.xml");
    let l = p.parse_marking("SECRET UK EYES ONLY").unwrap();
    let d = p.display_marking(&l).unwrap();
    assert_eq!(d.text, "DEMO-UK SECRET - UK EYES ONLY");
    assert_eq!(d.bg.as_deref(), Some("#FFAA00"));
    assert_eq!(d.fg.as_deref(), Some("black"));
    let l = p.parse_marking("TOP SECRET").unwrap();
    let d = p.display_marking(&l).unwrap();
    assert_eq!(
        (d.bg.as_deref(), d.fg.as_deref()),
        (Some("#FF0000"), Some("white"))
    );
    // A classification without a colour gets none (XEP-0258's default: black on white).
    let bsi = policy("bsi-commercial.xml");
    let d = bsi
        .display_marking(&bsi.parse_marking("Public").unwrap())
        .unwrap();
    assert_eq!((d.bg, d.fg), (None, None));
}

#[test]
fn other_policies_render() {
    for (file, typed, rendered) in [
        (
            "tlp.xml",
            "tlp:amber [region=eu/us]",
            "TLP:AMBER [REGION=EU/US]",
        ),
        (
            "tlp.xml",
            "RED Extra",
            "TLP:RED [Additional Handling May Apply]",
        ),
        ("tlp-plus.xml", "AMBER J:EU,US", "TLPX:AMBER J:EU,US"),
        ("food-policy.xml", "Luxury Sweet", "[ Food Luxury Sweet ]"),
        ("food-policy.xml", "FREE", "[ Food FREE ]"),
        (
            "food-policy.xml",
            "Commodity Contains Peanut+Nut",
            "[ Food Commodity Contains Peanut+Nut ]",
        ),
        ("nato-4774-policy.xml", "TOP SECRET", "COSMIC TOP SECRET"),
        (
            "nato-4774-policy.xml",
            "NATO SECRET Context:NATO",
            "NATO SECRET",
        ),
    ] {
        let p = policy(file);
        let parsed = p.parse_marking(typed);
        let l = match parsed {
            Ok(l) => l,
            Err(e) if typed.contains(':') && file.starts_with("nato") => {
                // Qualified names are clearance syntax, not markings: build the label by hand.
                let _ = e;
                let mut l = p.parse_marking("NATO SECRET").unwrap();
                let r = p
                    .all_categories()
                    .find(|r| {
                        p.tag_sets[r.set].name == "Context" && p.tag_category(*r).name == "NATO"
                    })
                    .unwrap();
                l.categories.insert(p.category_at(r));
                l
            }
            Err(e) => panic!("{file} {typed}: {e}"),
        };
        assert_eq!(p.validate(&l), Ok(()), "{file} {typed}");
        assert_eq!(p.render_marking(&l).unwrap(), rendered, "{file} {typed}");
    }
}

#[test]
fn parse_errors_name_the_word() {
    let p = policy("uk-demo.xml");
    assert_eq!(
        p.parse_marking("SECRET banana EYES ONLY"),
        Err(MarkingError::UnknownWord {
            word: "banana".into(),
            policy: "UK".into()
        })
    );
    // A word must match whole: "UKRAINE" is not "UK".
    assert!(
        matches!(p.parse_marking("SECRET UKRAINE"), Err(MarkingError::UnknownWord { word, .. }) if word == "UKRAINE")
    );
    assert_eq!(
        p.parse_marking("SECRET TOP SECRET"),
        Err(MarkingError::TwoClassifications(
            "SECRET".into(),
            "TOP SECRET".into()
        ))
    );
    assert_eq!(p.parse_marking("   "), Err(MarkingError::Empty));
    assert_eq!(
        p.parse_marking("UK EYES ONLY"),
        Err(MarkingError::NoClassification)
    );
    // Food's "Yummy Chocolate" suppresses the class name and fits Freely Available and
    // Luxury: it is read as the higher, never the lower.
    let food = policy("food-policy.xml");
    let l = food.parse_marking("Yummy Chocolate").unwrap();
    assert_eq!(
        food.classification(l.classification.unwrap()).unwrap().name,
        "Luxury"
    );
    assert_eq!(food.render_marking(&l).unwrap(), "[ Food Yummy Chocolate ]");
    let mut free = l.clone();
    free.classification = Some(food.classifications[0].lacv);
    assert!(
        food.validate(&free).is_ok(),
        "the lower reading is valid too"
    );
    assert_eq!(
        food.render_marking(&free).unwrap(),
        "[ Food Yummy Chocolate ]"
    );
}

/// Whether every category of the label shows in its marking (a category whose marking is
/// suppressed by the policy, e.g. NATO's "Releasable", cannot be read back from text).
fn fully_displayed(p: &Policy, l: &Label) -> bool {
    l.categories.iter().all(|c| {
        let r = p.find_category(c).unwrap();
        let md = default_marking(&p.tag_category(r).marking);
        !md.is_some_and(|m| {
            m.codes.contains(&MarkingCode::NoMarkingDisplay)
                || (m.codes.contains(&MarkingCode::NoNameDisplay) && m.phrase.is_none())
        })
    })
}

/// Whether the policy name reads the same as a category phrase that replaces it (NATO's
/// "NATO" context): then a label without that category cannot be told from one with it, and
/// the parser deliberately reads the stricter label.
fn policy_name_shadowed(p: &Policy, l: &Label) -> bool {
    let name = labelgate::label::marking::fold(&p.name);
    let replacing = |r: CategoryRef| {
        default_marking(&p.tag_category(r).marking)
            .filter(|m| m.codes.contains(&MarkingCode::ReplacePolicy))
            .and_then(|m| m.phrase.as_deref())
            .map(labelgate::label::marking::fold)
    };
    let shadowed = p
        .all_categories()
        .any(|r| replacing(r).as_deref() == Some(name.as_str()));
    let has_replacement = l
        .categories
        .iter()
        .any(|c| p.find_category(c).and_then(replacing).is_some());
    shadowed && !has_replacement
}

/// Whether the label's marking leaves its classification out (`suppressClassName`, as the
/// policy writes it, in `lang`).
fn class_suppressed(p: &Policy, l: &Label, lang: Option<&str>) -> bool {
    l.categories.iter().any(|c| {
        let r = p.find_category(c).unwrap();
        labelgate::label::policy::marking_in(&p.tag_category(r).marking, lang)
            .is_some_and(|m| m.codes.contains(&MarkingCode::SuppressClassName))
    })
}

/// Renders the label in the default language and in every other language the policy is
/// written in, and reads each marking back: the same label, or — where the marking leaves the
/// classification out — the same categories at a classification no lower, still valid.
fn check_round_trip(p: &Policy, l: &Label) -> Result<(), String> {
    if p.validate(l).is_err() || !fully_displayed(p, l) || policy_name_shadowed(p, l) {
        return Ok(());
    }
    let langs: Vec<Option<&str>> = std::iter::once(None)
        .chain(p.marking_languages().map(Some))
        .collect();
    for lang in langs {
        let m = p.render_marking_in(l, lang).map_err(|e| e.to_string())?;
        let back = p
            .parse_marking_in(&m, lang)
            .map_err(|e| format!("{} [{lang:?}]: {m:?} did not parse: {e}", p.name))?;
        if back == *l {
            continue;
        }
        let level = |x: &Label| {
            p.classification(x.classification.unwrap())
                .and_then(|c| c.hierarchy)
        };
        let higher = class_suppressed(p, l, lang)
            && back.categories == l.categories
            && level(&back) >= level(l)
            && p.validate(&back).is_ok();
        if !higher {
            return Err(format!(
                "{} [{lang:?}]: {m:?} parsed to {back}, not {l}",
                p.name
            ));
        }
    }
    Ok(())
}

fn label_of(p: &Policy, class: usize, cats: &[CategoryRef]) -> Label {
    let mut l = Label::new(p.id.clone(), p.classifications[class].lacv);
    for r in cats {
        l.categories.insert(p.category_at(*r));
    }
    l
}

/// Every classification with every single category and every pair of categories.
#[test]
fn round_trip_exhaustive_pairs() {
    for file in SAMPLES {
        let p = policy(file);
        let all: Vec<CategoryRef> = p.all_categories().collect();
        let limit = if file.starts_with("nato") {
            40
        } else {
            all.len()
        };
        let mut checked = 0;
        for class in 0..p.classifications.len() {
            let l = label_of(&p, class, &[]);
            check_round_trip(&p, &l).unwrap();
            checked += usize::from(p.validate(&l).is_ok());
            for (i, a) in all.iter().enumerate() {
                let l = label_of(&p, class, &[*a]);
                check_round_trip(&p, &l).unwrap();
                checked += usize::from(p.validate(&l).is_ok());
                for b in all.iter().skip(i + 1).take(limit) {
                    let l = label_of(&p, class, &[*a, *b]);
                    check_round_trip(&p, &l).unwrap();
                    checked += usize::from(p.validate(&l).is_ok());
                }
            }
        }
        assert!(
            checked > 3,
            "{file}: only {checked} valid labels were checked"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random labels of up to six categories under every sample policy.
    #[test]
    fn round_trip_random(policy_idx in 0usize..SAMPLES.len(), class in 0usize..8, picks in proptest::collection::vec(0usize..1000, 0..6)) {
        let p = policy(SAMPLES[policy_idx]);
        let all: Vec<CategoryRef> = p.all_categories().collect();
        let class = class % p.classifications.len();
        let cats: Vec<CategoryRef> = picks.iter().map(|i| all[i % all.len()]).collect();
        let l = label_of(&p, class, &cats);
        prop_assert_eq!(check_round_trip(&p, &l), Ok(()));
    }
}

/// NATO's policy is written in English and French: a label renders in either (a regional tag
/// such as `fr-CA` takes the French), and French marking text reads back to the same label.
#[test]
fn markings_render_and_read_in_the_policys_other_languages() {
    let p = policy("nato-4774-policy.xml");
    assert_eq!(p.marking_languages().collect::<Vec<_>>(), ["fr"]);
    let l = p
        .parse_marking("NATO RESTRICTED Releasable to Japan, Switzerland, Ukraine")
        .unwrap();
    let fr = p.render_marking_in(&l, Some("fr")).unwrap();
    assert_eq!(
        fr,
        "NATO DIFFUSION RESTREINTE Communicable a Japon, Suisse, Ukraine"
    );
    assert_eq!(p.render_marking_in(&l, Some("fr-CA")).unwrap(), fr);
    assert_eq!(p.parse_marking_in(&fr, Some("fr")).unwrap(), l);
    // Typed loosely, as a French-speaking user would.
    assert_eq!(
        p.parse_marking_in(
            "nato  diffusion restreinte communicable a japon,suisse, ukraine",
            Some("fr")
        )
        .unwrap(),
        l
    );
    // English and unknown languages render in the default language.
    for lang in [Some("en"), Some("en-GB"), Some("de"), None] {
        assert_eq!(
            p.render_marking_in(&l, lang).unwrap(),
            "NATO RESTRICTED Releasable to Japan, Switzerland, Ukraine",
            "{lang:?}"
        );
    }
    // French words are not read as English markings.
    assert!(p.parse_marking("NATO DIFFUSION RESTREINTE").is_err());
}
