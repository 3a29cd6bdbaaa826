//! Every decision passes through the audited gate: one JSON line per decision, bodies only
//! when configured, and no grant when the record cannot be written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/support.rs"]
mod support;

use std::io::Write;
use std::sync::Arc;

use support::Buf;

use labelgate::audit::{AuditLog, Context, Direction, Gate};
use labelgate::label::{Clearance, Denied, PolicySet};

struct Broken;

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk full"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn policies() -> Arc<PolicySet> {
    support::demo_policies()
}

fn records(buf: &Buf) -> Vec<serde_json::Value> {
    buf.text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ctx<'a>(body: Option<&'a str>) -> Context<'a> {
    Context {
        direction: Some(Direction::XmppToIrc),
        account: "bob",
        jid: "bob@labelgate.test",
        room: "ops@conference.labelgate.test",
        origin_id: Some("o-1"),
        stanza_id: Some("s-1"),
        body,
        ..Default::default()
    }
}

#[test]
fn grants_and_denials_are_recorded() {
    let pol = policies();
    let buf = Buf::default();
    let gate = Gate::new(
        pol.clone(),
        Arc::new(AuditLog::to_writer(Box::new(buf.clone()), false)),
    );
    let p = pol.primary();
    let secret = p.parse_marking("SECRET UK EYES ONLY").unwrap();
    let bob = Clearance::parse(p, "OFFICIAL").unwrap();
    let alice = Clearance::parse(p, "SECRET, UK").unwrap();
    assert!(gate.decide(&ctx(Some("the plan")), &alice, &secret).is_ok());
    assert_eq!(
        gate.decide(&ctx(Some("the plan")), &bob, &secret)
            .unwrap_err(),
        Denied::Classification("SECRET".into())
    );
    let reason = gate.refuse(&ctx(None), "the label could not be parsed: bad ESS label");
    assert!(reason.contains("could not be parsed"));
    let recs = records(&buf);
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0]["decision"], "grant");
    assert_eq!(recs[0]["direction"], "xmpp-to-irc");
    assert_eq!(recs[0]["label"]["marking"], "DEMO-UK SECRET - UK EYES ONLY");
    assert_eq!(recs[0]["label"]["classification"], 4);
    assert_eq!(recs[0]["origin_id"], "o-1");
    assert!(
        recs[0].get("body").is_none(),
        "bodies are not recorded by default"
    );
    assert_eq!(recs[1]["decision"], "deny");
    assert_eq!(
        recs[1]["reason"],
        "classification SECRET is not within the clearance"
    );
    assert_eq!(recs[2]["decision"], "deny");
    assert!(recs[2]["label"].is_null());
    assert!(recs[0]["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn bodies_only_when_configured() {
    let pol = policies();
    let buf = Buf::default();
    let gate = Gate::new(
        pol.clone(),
        Arc::new(AuditLog::to_writer(Box::new(buf.clone()), true)),
    );
    let p = pol.primary();
    let l = p.parse_marking("OFFICIAL").unwrap();
    let c = Clearance::parse(p, "OFFICIAL").unwrap();
    let _granted = gate.decide(&ctx(Some("hello")), &c, &l).unwrap();
    assert_eq!(records(&buf)[0]["body"], "hello");
}

#[test]
fn no_record_no_grant() {
    let pol = policies();
    let gate = Gate::new(
        pol.clone(),
        Arc::new(AuditLog::to_writer(Box::new(Broken), false)),
    );
    let p = pol.primary();
    let l = p.parse_marking("OFFICIAL").unwrap();
    let c = Clearance::parse(p, "TOP SECRET").unwrap();
    let e = gate.decide(&ctx(None), &c, &l).unwrap_err();
    assert!(matches!(e, Denied::Unaudited(_)), "{e}");
}

#[test]
fn audit_file_appends_json_lines() {
    let dir = format!("{}/target/test-audit", env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = std::path::PathBuf::from(format!("{dir}/audit.log"));
    let _ = std::fs::remove_file(&path);
    let pol = policies();
    let gate = Gate::new(
        pol.clone(),
        Arc::new(AuditLog::to_file(&path, false).unwrap()),
    );
    let p = pol.primary();
    let l = p.parse_marking("OFFICIAL").unwrap();
    let c = Clearance::parse(p, "OFFICIAL").unwrap();
    let _granted = gate.decide(&ctx(None), &c, &l).unwrap();
    let _granted = gate.decide(&ctx(None), &c, &l).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2);
}
