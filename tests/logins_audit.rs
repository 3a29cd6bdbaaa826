//! Login abuse and audit hygiene: failed logins audited and throttled per address and account,
//! a bounded number of SASL attempts, the client certificate's validity period, ISON only for
//! people the asker can see, the audit file's mode and whole records, and the audit's own
//! failure reported as such (through the bridge, against the project's ejabberd).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/bridge.rs"]
mod bridge;
#[path = "common/ca.rs"]
mod ca;
mod common;
#[path = "common/external.rs"]
mod external;
#[path = "common/irc.rs"]
mod irc;
#[path = "common/support.rs"]
mod support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use labelgate::audit::{AuditLog, Check, Context, Direction, Gate};
use labelgate::config::users::{Users, fingerprint_of};
use labelgate::label::Clearance;

/// A gate writing into `buf`.
fn gate(buf: &support::Buf) -> Gate {
    Gate::new(
        support::demo_policies(),
        Arc::new(AuditLog::to_writer(Box::new(buf.clone()), false)),
    )
}

/// A fresh number, for nicks.
fn c_n() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn records(buf: &support::Buf) -> Vec<serde_json::Value> {
    buf.text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_audited_and_throttled() {
    let s = irc::start(irc::config()).await;
    let buf = support::Buf::default();
    s.shared.set_audit(gate(&buf));
    for _ in 0..labelgate::irc::logins::FAILURES {
        let mut c = irc::Raw::connect(s.plain).await;
        c.send("PASS bob:wrong").await;
        c.send(&format!("NICK guesser{}", c_n())).await;
        c.send("USER g 0 * :g").await;
        assert!(c.until(" 464 ").await.contains("Password incorrect"));
    }
    // Now even the right password is not tried, from this address, for this account.
    let mut c = irc::Raw::connect(s.plain).await;
    c.send("PASS bob:bob-pw").await;
    c.send("NICK bob").await;
    c.send("USER b 0 * :b").await;
    let rest = c.rest().await.join("\n");
    assert!(rest.contains("too many failed logins"), "{rest}");
    assert!(!rest.contains(" 001 "), "{rest}");
    let recs = records(&buf);
    let failed: Vec<_> = recs.iter().filter(|r| r["direction"] == "login").collect();
    assert_eq!(failed.len(), 6, "{recs:#?}");
    assert!(
        failed.iter().all(|r| r["account"] == "bob"
            && r["address"] == "127.0.0.1"
            && r["decision"] == "deny")
    );
    assert!(
        failed[5]["reason"]
            .as_str()
            .unwrap()
            .contains("too many failed logins")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_attempts_are_bounded_per_connection() {
    let s = irc::start(irc::config()).await;
    let mut c = irc::Raw::connect(s.plain).await;
    c.send("CAP REQ :sasl").await;
    c.send("NICK sasl").await;
    c.send("USER s 0 * :s").await;
    for i in 0..3 {
        c.send("AUTHENTICATE PLAIN").await;
        c.until("AUTHENTICATE +").await;
        // "\0carol\0wrong<i>"
        let payload = base64_plain("carol", &format!("wrong{i}"));
        c.send(&format!("AUTHENTICATE {payload}")).await;
        c.until(" 904 ").await;
    }
    let rest = c.rest().await.join("\n");
    assert!(
        rest.starts_with("ERROR ") && rest.contains("Too many failed login attempts"),
        "{rest}"
    );
}

fn base64_plain(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_client_certificate_does_not_log_in() {
    let s = irc::start(irc::config()).await;
    let dir = std::path::PathBuf::from(format!(
        "{}/target/test-expired-cert-{}",
        env!("CARGO_MANIFEST_DIR"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let (crt, key) =
        ca::TestCa::new(&dir).issue("old", Some(("20000101000000Z", "20010101000000Z")));
    // The users file pins exactly this certificate for dora.
    let der = labelgate::xmpp::tls::load_certs(&crt).unwrap();
    let fp = fingerprint_of(der[0].as_ref()).1;
    let text = format!(
        "jid_template = \"{{account}}@labelgate.test\"\n[[user]]\naccount = \"dora\"\n\
         clearance = \"OFFICIAL\"\ncertificates = [\"{fp}\"]\n"
    );
    let users = Users::parse(std::path::Path::new("u.toml"), &text, &irc::policy()).unwrap();
    s.shared.reload_users(users);
    let (_client, seen) =
        external::external(s.tls.port(), &s.pki.join("ca.crt"), &crt, &key, "dora").await;
    let all = seen.join("");
    assert!(
        all.contains("your client certificate cannot be used (the certificate has expired)"),
        "{all}"
    );
    assert!(all.contains(" 904 "), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ison_answers_only_for_people_the_asker_can_see() {
    let s = irc::start(irc::config()).await;
    let mut bob = irc::Raw::login(s.plain, "bob", "bob", "bob-pw").await;
    let _carol = irc::Raw::login(s.plain, "carol", "carol", "carol-pw").await;
    bob.send("ISON carol bob").await;
    let l = bob.until(" 303 ").await;
    assert!(
        l.ends_with(" :bob"),
        "carol shares no channel with bob: {l}"
    );
}

#[test]
fn the_audit_file_is_private_and_keeps_only_whole_records() {
    let dir = std::env::temp_dir().join(format!("labelgate-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("audit.log");
    let _ = std::fs::remove_file(&path);
    let log = AuditLog::to_file(&path, false).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let g = Gate::new(support::demo_policies(), Arc::new(log));
    let pol = support::demo_policies();
    let label = pol.primary().parse_marking("OFFICIAL").unwrap();
    let c = Clearance::parse(pol.primary(), "SECRET").unwrap();
    let ctx = Context {
        direction: Some(Direction::XmppToIrc),
        account: "alice",
        ..Default::default()
    };
    for _ in 0..3 {
        g.clear(&ctx, &[Check::Person(&c)], &[&label], ()).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 3);
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["decision"], "grant");
    }

    // A writer that takes only part of a record: the record fails (a denial), and the next
    // one still starts on a line of its own.
    struct Half(support::Buf, bool);
    impl Write for Half {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let n = if self.1 { b.len() / 2 } else { b.len() };
            self.1 = false;
            self.0.write(&b[..n])
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = support::Buf::default();
    let g = Gate::new(
        pol.clone(),
        Arc::new(AuditLog::to_writer(
            Box::new(Half(buf.clone(), true)),
            false,
        )),
    );
    let e = g
        .clear(&ctx, &[Check::Person(&c)], &[&label], ())
        .unwrap_err();
    assert!(e.unaudited(), "{e}");
    g.clear(&ctx, &[Check::Person(&c)], &[&label], ()).unwrap();
    let text = buf.text();
    let last = text.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(v["decision"], "grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_audit_trail_is_reported_as_such() {
    let pol = support::demo_policies();
    let ops = common::room(&common::unique("audit-fail"));
    let a = common::unique("alice");
    let gw = bridge::Gateway::on_test_server(
        pol.clone(),
        &bridge::channel("#ops", &ops, "OFFICIAL", "SECRET, UK"),
        &[(&a, "SECRET, UK")],
    )
    .await;
    let mut alice = irc::Raw::login(gw.addr, "alice", &a, bridge::PASSWORD).await;
    alice.send("JOIN #ops").await;
    alice.until(" 366 ").await;
    gw.audit.break_now();
    alice
        .send("PRIVMSG #ops :[SECRET UK EYES ONLY] anything")
        .await;
    let l = alice.until("Not sent").await;
    assert!(
        l.contains("could not record the decision in its audit trail"),
        "{l}"
    );
    assert!(!l.contains("clearance"), "not a clearance matter: {l}");
}
