//! The IRC side's one numeric table and one capability table, checked against the conventions
//! they follow (`tests/fixtures/irc-conventions/conventions.toml`, from the ircdocs Modern IRC
//! documentation and the IRCv3 specifications): every numeric the gateway can send has the
//! code the documentation gives its name, and every capability offered is a specified one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use labelgate::irc::proto::caps::Cap;

fn conventions() -> toml::Table {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!(
        "{root}/tests/fixtures/irc-conventions/conventions.toml"
    ))
    .unwrap();
    text.parse().unwrap()
}

/// `NAME = CODE` of each entry of the numeric table in `src/irc/proto/numeric.rs`.
fn table() -> BTreeMap<String, i64> {
    let root = env!("CARGO_MANIFEST_DIR");
    let src = std::fs::read_to_string(format!("{root}/src/irc/proto/numeric.rs")).unwrap();
    let mut out = BTreeMap::new();
    for line in src.lines() {
        let line = line.trim();
        if !(line.starts_with("RPL_") || line.starts_with("ERR_")) {
            continue;
        }
        let Some((name, rest)) = line.split_once(" = ") else {
            continue;
        };
        let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
        out.insert(name.to_owned(), code.parse().unwrap());
    }
    out
}

#[test]
fn every_numeric_has_the_code_its_name_has_in_the_documentation() {
    let c = conventions();
    let documented = c["numerics"].as_table().unwrap();
    let ours = table();
    assert!(ours.len() > 60, "the table was not read: {ours:?}");
    for (name, code) in &ours {
        let want = documented
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not a documented numeric"))
            .as_integer()
            .unwrap();
        assert_eq!(*code, want, "{name}");
    }
    // And 005, built apart from the table.
    let isupport = labelgate::irc::proto::numeric::RPL_ISUPPORT(&["X".into()]);
    assert_eq!(
        i64::from(isupport.code),
        documented["RPL_ISUPPORT"].as_integer().unwrap()
    );
}

#[test]
fn every_capability_offered_is_specified() {
    let c = conventions();
    let specified = c["capabilities"].as_table().unwrap();
    for cap in Cap::ALL {
        assert!(
            specified.contains_key(cap.name()),
            "{} has no specification in the fixture",
            cap.name()
        );
    }
}
