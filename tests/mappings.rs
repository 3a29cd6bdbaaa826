//! Channel mappings: the shipped examples load; every problem is named with file and line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use labelgate::config::mappings::Mappings;
use labelgate::label::{PolicySet, load_policy};

fn policies() -> PolicySet {
    let p = format!(
        "{}/tests/fixtures/spif/uk-demo.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    PolicySet::new(load_policy(&std::fs::read_to_string(p).unwrap()).unwrap())
}

fn parse(files: &[(&str, &str)]) -> Result<Mappings, String> {
    let files: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect();
    Mappings::parse(&files, &policies()).map_err(|e| e.to_string())
}

#[test]
fn shipped_examples_load() {
    let dir = PathBuf::from(format!(
        "{}/contrib/demo/mappings",
        env!("CARGO_MANIFEST_DIR")
    ));
    let m = Mappings::load_dir(&dir, &policies()).unwrap();
    assert_eq!(m.len(), 3);
    let ops = m.get("#OPS").unwrap();
    assert_eq!(ops.room.to_string(), "ops@conference.labelgate.test");
    assert_eq!(ops.catalog.len(), 4);
    assert_eq!(ops.history, 50);
    assert!(ops.flot_in_body && ops.private_messages);
    let ts = m.get("#ts").unwrap();
    assert!(ts.restrict_to_catalog && !ts.private_messages);
    assert_eq!(ts.flot.prefix("X"), "(X) ");
    assert_eq!(
        ts.flot.parse("(TOP SECRET) hi").unwrap().marking,
        Some("TOP SECRET")
    );
}

const OK: &str = "[[channel]]\nirc = \"#a\"\nroom = \"a@conference.x\"\ndefault_label = \"OFFICIAL\"\nclearance = \"SECRET\"\n";

#[test]
fn problems_are_named_with_file_and_line() {
    let bad_pattern = format!("{OK}flot_pattern = \"(x\"\n");
    let bad_template = format!("{OK}flot_template = \"no placeholder\"\n");
    let unknown_key = format!("{OK}colour = \"red\"\n");
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("a.toml", OK),
                (
                    "b.toml",
                    "\n\n[[channel]]\nirc = \"#A\"\nroom = \"b@conference.x\"\ndefault_label = \"OFFICIAL\"\nclearance = \"SECRET\"\n",
                ),
            ],
            "b.toml:4: #A is already mapped in a.toml:2",
        ),
        (
            vec![(
                "a.toml",
                "[[channel]]\nirc = \"#a\"\nroom = \"a@conference.x\"\ndefault_label = \"TOP SECRET\"\nclearance = \"SECRET\"\n",
            )],
            "a.toml:4: the room's clearance does not dominate its default label: classification TOP SECRET",
        ),
        (
            vec![(
                "a.toml",
                "[[channel]]\nirc = \"#a\"\nroom = \"a@conference.x\"\ndefault_label = \"SEKRIT\"\nclearance = \"SECRET\"\n",
            )],
            "a.toml:4: default label `SEKRIT`: `SEKRIT` is not a classification",
        ),
        (
            vec![(
                "a.toml",
                "[[channel]]\nirc = \"#a\"\nroom = \"a@conference.x\"\ndefault_label = \"OFFICIAL\"\nclearance = \"SECRET\"\ncatalog = [\"SECRET\", \"TOP SECRET\"]\n",
            )],
            "a.toml:6: catalog label `TOP SECRET` is above the room's clearance",
        ),
        (
            vec![(
                "a.toml",
                "[[channel]]\nirc = \"a\"\nroom = \"a@conference.x\"\ndefault_label = \"OFFICIAL\"\nclearance = \"SECRET\"\n",
            )],
            "a.toml:2: `a` is not a valid IRC channel name",
        ),
        (
            vec![(
                "a.toml",
                "[[channel]]\nirc = \"#a\"\nroom = \"@@\"\ndefault_label = \"OFFICIAL\"\nclearance = \"SECRET\"\n",
            )],
            "a.toml:3: `@@` is not a room JID",
        ),
        (vec![("a.toml", &bad_pattern)], "a.toml:6: bad FLOT pattern"),
        (
            vec![("a.toml", &bad_template)],
            "a.toml:6: the FLOT template must contain {marking}",
        ),
        (
            vec![("a.toml", &unknown_key)],
            "a.toml:6: unknown field `colour`",
        ),
        (
            vec![
                ("a.toml", OK),
                (
                    "b.toml",
                    "[[channel]]\nirc = \"#b\"\nroom = \"a@conference.x\"\ndefault_label = \"OFFICIAL\"\nclearance = \"SECRET\"\n",
                ),
            ],
            "room a@conference.x is also mapped to",
        ),
        (
            vec![(
                "a.toml",
                "[[channel]]\nirc = \"#a\"\nroom = \"a@conference.x\"\ndefault_label = \"OFFICIAL - UK EYES ONLY\"\nclearance = \"SECRET, UK\"\n",
            )],
            "a.toml:4: default label `OFFICIAL - UK EYES ONLY`: category National Caveats/UK may not be used at OFFICIAL",
        ),
    ];
    for (files, want) in cases {
        let e = parse(&files).unwrap_err();
        assert!(e.contains(want), "want {want:?} in:\n{e}");
    }
    assert_eq!(parse(&[("a.toml", OK)]).unwrap().len(), 1);
}
