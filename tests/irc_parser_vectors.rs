//! The ircdocs parser-tests vectors (split and join) through our message parser and writer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use labelgate::irc::proto::message::Message;
use serde::Deserialize;

#[derive(Deserialize)]
struct Atoms {
    #[serde(default)]
    tags: Option<BTreeMap<String, Option<String>>>,
    #[serde(default)]
    source: Option<String>,
    verb: String,
    #[serde(default)]
    params: Vec<String>,
}

#[derive(Deserialize)]
struct SplitCase {
    input: String,
    atoms: Atoms,
}

#[derive(Deserialize)]
struct JoinCase {
    #[serde(default)]
    desc: Option<String>,
    atoms: Atoms,
    matches: Vec<String>,
}

#[derive(Deserialize)]
struct File<T> {
    tests: Vec<T>,
}

fn load<T: for<'de> Deserialize<'de>>(name: &str) -> Vec<T> {
    let p = format!(
        "{}/tests/fixtures/irc-parser-tests/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let f: File<T> = serde_yaml::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    f.tests
}

fn tags_of(m: &Message) -> BTreeMap<String, Option<String>> {
    m.tags
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone().unwrap_or_default())))
        .collect()
}

#[test]
fn split_vectors() {
    let cases: Vec<SplitCase> = load("msg-split.yaml");
    assert!(cases.len() > 20);
    for c in cases {
        let m = Message::parse(&c.input).unwrap_or_else(|e| panic!("{:?}: {e}", c.input));
        assert_eq!(m.verb, c.atoms.verb, "{:?}", c.input);
        assert_eq!(m.source, c.atoms.source, "{:?}", c.input);
        assert_eq!(m.params, c.atoms.params, "{:?}", c.input);
        let want: BTreeMap<String, Option<String>> = c
            .atoms
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, Some(v.unwrap_or_default())))
            .collect();
        assert_eq!(tags_of(&m), want, "{:?}", c.input);
    }
}

#[test]
fn join_vectors() {
    let cases: Vec<JoinCase> = load("msg-join.yaml");
    assert!(cases.len() > 5);
    for c in cases {
        let mut m = Message::new(c.atoms.verb.clone(), c.atoms.params.clone());
        m.source = c.atoms.source.clone();
        for (k, v) in c.atoms.tags.clone().unwrap_or_default() {
            m.tags.push((k, v.filter(|v| !v.is_empty())));
        }
        let line = m.to_line();
        // Tag order is free: compare parsed forms when tags are present.
        if m.tags.is_empty() {
            assert!(
                c.matches.contains(&line),
                "{:?}: {line:?} not in {:?}",
                c.desc,
                c.matches
            );
        } else {
            let back = Message::parse(&line).unwrap();
            let any = c.matches.iter().any(|w| {
                let w = Message::parse(w).unwrap();
                tags_of(&w) == tags_of(&back) && w.params == back.params && w.verb == back.verb
            });
            assert!(any, "{:?}: {line:?}", c.desc);
        }
    }
}
