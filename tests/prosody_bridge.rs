//! The gateway end to end against Prosody (the second real XMPP server), a faithful subset of
//! the ejabberd tests: IRC users (raw lines) through the trusted-gateway certificate and
//! through per-user certificates, a room their join creates (Prosody locks it until accepted),
//! labelled traffic both ways with a slixmpp occupant, clearance-filtered delivery and history,
//! and private messages.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

#[path = "common/bridge.rs"]
mod bridge;
mod common;
#[path = "common/irc.rs"]
mod irc;
#[path = "common/slix.rs"]
mod slix;
#[path = "common/support.rs"]
mod support;

use std::sync::Arc;

use bridge::{Gateway, PASSWORD, channel, hashed, users};
use common::{Identity, endpoint_on, prosody, unique};
use labelgate::xmpp::connect::TlsMode;
use slix::{Slix, SlixLabel};

fn fresh_room() -> jid::BareJid {
    format!("{}@conference.labelgate.test", unique("p"))
        .parse()
        .unwrap()
}

/// A gateway whose users log in to Prosody with the trusted-gateway certificate.
async fn gateway(
    pol: Arc<labelgate::label::PolicySet>,
    mapping: &str,
    accounts: &[(&str, &str)],
) -> Gateway {
    Gateway::start(
        endpoint_on(prosody(), Identity::Gateway, TlsMode::StartTls),
        pol.clone(),
        mapping,
        users(&pol, accounts, &hashed()),
        irc::config(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_traffic_history_and_private_messages_through_prosody() {
    let pol = support::demo_policies();
    let ops = fresh_room();
    let (a, b, l) = (unique("alice"), unique("bob"), unique("late"));
    let gw = gateway(
        pol.clone(),
        &channel("#ops", &ops, "OFFICIAL", "SECRET, UK"),
        &[(&a, "SECRET, UK"), (&b, "OFFICIAL"), (&l, "OFFICIAL")],
    )
    .await;
    // alice's join creates the room on Prosody; bob and an XMPP user can enter it after her.
    let mut alice = irc::Raw::login(gw.addr, "alice", &a, PASSWORD).await;
    alice.send("JOIN #ops").await;
    alice.until(" 366 ").await;
    let mut bob = irc::Raw::login(gw.addr, "bob", &b, PASSWORD).await;
    bob.send("JOIN #ops").await;
    bob.until(" 366 ").await;
    let mut x = Slix::start(prosody(), "carol").await;
    let room = ops.to_string();
    x.join(&room, "xavier").await;

    // IRC to XMPP, labelled by its marking.
    alice.send("PRIVMSG #ops :[SECRET] over prosody").await;
    let m = x.message_from("alice", None, 20).await;
    assert_eq!(m.body.as_deref(), Some("[DEMO-UK SECRET] over prosody"));
    assert_eq!(
        m.ess.as_deref(),
        Some(
            pol.primary()
                .parse_marking("SECRET")
                .unwrap()
                .to_base64()
                .as_str()
        )
    );
    // XMPP to IRC, decided per receiver: alice sees the SECRET line, bob (OFFICIAL) does not.
    x.send(
        &room,
        "secret plan",
        Some(SlixLabel::marking(&pol, "SECRET")),
    )
    .await;
    x.send(
        &room,
        "open news",
        Some(SlixLabel::marking(&pol, "OFFICIAL")),
    )
    .await;
    let l1 = alice.until("secret plan").await;
    assert!(l1.ends_with(":[DEMO-UK SECRET] secret plan"), "{l1}");
    let seen = bob.lines_until("open news").await;
    assert!(
        !seen.iter().any(|l| l.contains("secret plan")),
        "bob saw a SECRET line: {seen:?}"
    );
    // History on join, filtered by clearance.
    let mut late = irc::Raw::login(gw.addr, "late", &l, PASSWORD).await;
    late.send("JOIN #ops").await;
    let history = late.lines_until(" 366 ").await;
    let mut more = late.lines_until("open news").await;
    more.extend(history);
    assert!(
        !more.iter().any(|l| l.contains("secret plan")),
        "history gave an OFFICIAL user a SECRET line: {more:?}"
    );
    // A private message to the XMPP occupant.
    alice.send("PRIVMSG xavier :[SECRET] just you").await;
    let pm = x.message_from("alice", Some("chat"), 20).await;
    assert_eq!(pm.body.as_deref(), Some("[DEMO-UK SECRET] just you"));
    x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_certificates_log_in_through_prosody() {
    let pol = support::demo_policies();
    let ops = fresh_room();
    let s = prosody();
    // The per-user identity: the gateway presents the user's own certificate (alice's of the
    // Prosody PKI), no authzid.
    let audit = support::Buf::default();
    let gate = labelgate::audit::Gate::new(
        pol.clone(),
        Arc::new(labelgate::audit::AuditLog::to_writer(
            Box::new(audit.clone()),
            false,
        )),
    );
    let bridge = labelgate::bridge::Bridge::new(
        gate.clone(),
        bridge::mappings(&pol, &channel("#ops", &ops, "OFFICIAL", "SECRET, UK")),
        labelgate::bridge::Identity::PerUser {
            template: Arc::new(endpoint_on(s, Identity::Anonymous, TlsMode::StartTls)),
            server_check: labelgate::xmpp::tls::ServerVerifier::load(&s.pki("ca.crt"), &[])
                .unwrap(),
            dir: s.pki("users"),
        },
    );
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let shared = labelgate::irc::server::Shared::new(
        irc::config(),
        users(&pol, &[("alice", "SECRET, UK")], &hashed()),
        Arc::new(bridge),
        stop_rx,
    );
    shared.set_audit(gate);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(labelgate::irc::server::serve(
        shared,
        listener,
        None,
        Default::default(),
    ));
    let mut alice = irc::Raw::login(addr, "alice", "alice", PASSWORD).await;
    alice.send("JOIN #ops").await;
    alice.until(" 366 ").await;
    let mut x = Slix::start(s, "carol").await;
    x.join(&ops.to_string(), "xavier").await;
    alice
        .send("PRIVMSG #ops :hello from a certificate of my own")
        .await;
    let m = x.message_from("alice", None, 20).await;
    assert_eq!(
        m.body.as_deref(),
        Some("[DEMO-UK OFFICIAL] hello from a certificate of my own")
    );
    x.quit().await;
}

/// Prosody restarted under two live IRC users (with stream management on): each is told once
/// that the connection is lost and once that it is back, and stays in the channel — Prosody's
/// 333 self-presence at shutdown is not a removal, and a rejoin that finds the room still
/// locked by the other's re-creation tries again (both parted one user before) — and their
/// next lines reach the room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prosody_restart_under_a_live_user() {
    let pol = support::demo_policies();
    let s = common::TestServer::private("test-prosody-bridge-restart", 25752);
    let ops = fresh_room();
    let (a, b) = (unique("alice"), unique("bob"));
    let gw = Gateway::start(
        endpoint_on(&s, Identity::Gateway, TlsMode::StartTls),
        pol.clone(),
        &channel("#ops", &ops, "OFFICIAL", "SECRET, UK"),
        users(&pol, &[(&a, "SECRET, UK"), (&b, "SECRET, UK")], &hashed()),
        irc::config(),
    )
    .await;
    let mut alice = irc::Raw::login(gw.addr, "alice", &a, PASSWORD).await;
    let mut bob = irc::Raw::login(gw.addr, "bob", &b, PASSWORD).await;
    for c in [&mut alice, &mut bob] {
        c.send("JOIN #ops").await;
        c.until(" 366 ").await;
    }
    s.stop();
    s.start();
    for c in [&mut alice, &mut bob] {
        let seen = c
            .lines_until_within("XMPP connection re-established", 60)
            .await;
        let lost = seen
            .iter()
            .filter(|l| l.contains("XMPP connection lost"))
            .count();
        assert_eq!(lost, 1, "one notice for the loss: {seen:?}");
        assert!(
            !seen.iter().any(|l| l.contains(" PART #ops")),
            "parted by the restart: {seen:?}"
        );
    }
    let mut x = Slix::start(&s, "carol").await;
    x.join(&ops.to_string(), "xavier").await;
    // (The rejoin may still be under way: the line waits for it, never lost.)
    alice.send("PRIVMSG #ops :still here").await;
    let m = loop {
        let m = x.message(30).await;
        if m.nick == "alice" && m.body.as_deref().is_some_and(|b| b.ends_with("still here")) {
            break m;
        }
    };
    assert_eq!(m.body.as_deref(), Some("[DEMO-UK OFFICIAL] still here"));
    bob.send("PRIVMSG #ops :me too").await;
    let m = loop {
        let m = x.message(30).await;
        if m.nick == "bob" && m.body.as_deref().is_some_and(|b| b.ends_with("me too")) {
            break m;
        }
    };
    assert_eq!(m.body.as_deref(), Some("[DEMO-UK OFFICIAL] me too"));
    x.quit().await;
    s.stop();
}

/// The XMPP server's label catalog (Prosody's mod_seclabels) is fetched for the room and used
/// instead of the mapping's: what the IRC user is shown as the room's catalog and what
/// `restrict_to_catalog` allows. Items above the room's ceiling are left out; an item whose
/// label is plain text (mod_seclabels' default form) is unusable, never the default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_catalog_is_fetched_and_used() {
    let pol = support::demo_policies();
    let p = pol.primary();
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = std::path::PathBuf::from(format!("{root}/target/test-prosody-catalog"));
    std::fs::create_dir_all(&dir).unwrap();
    let ess = |m: &str| {
        format!(
            "\"<esssecuritylabel xmlns='urn:xmpp:sec-label:ess:0'>{}</esssecuritylabel>\"",
            p.parse_marking(m).unwrap().to_base64()
        )
    };
    std::fs::write(
        dir.join("seclabels.lua"),
        format!(
            "{{ {{ name = \"Unclassified\", label = true, default = true }}, Demo = {{ \
             OFFICIAL = {{ label = {} }}, SECRET = {{ label = {} }}, TOPSECRET = {{ label = {} }} }} }}",
            ess("OFFICIAL"),
            ess("SECRET"),
            ess("TOP SECRET")
        ),
    )
    .unwrap();
    let s = common::TestServer::private("test-prosody-catalog", 25762);
    let ops = fresh_room();
    let a = unique("alice");
    let mapping = format!(
        "[[channel]]\nirc = \"#ops\"\nroom = \"{ops}\"\ndefault_label = \"OFFICIAL\"\n\
         clearance = \"SECRET, UK\"\ncatalog = [\"OFFICIAL\"]\nrestrict_to_catalog = true\n"
    );
    let gw = Gateway::start(
        endpoint_on(&s, Identity::Gateway, TlsMode::StartTls),
        pol.clone(),
        &mapping,
        users(&pol, &[(&a, "SECRET, UK")], &hashed()),
        irc::config(),
    )
    .await;
    let mut alice = irc::Raw::login(gw.addr, "alice", &a, PASSWORD).await;
    alice.send("JOIN #ops").await;
    let catalog = &alice.until("Catalog of #ops").await;
    assert!(
        catalog.contains("SECRET") && catalog.contains("OFFICIAL"),
        "{catalog}"
    );
    assert!(!catalog.contains("TOP SECRET"), "{catalog}");
    // SECRET is in the server's catalog (not in the mapping's): restrict_to_catalog allows it.
    let mut x = Slix::start(&s, "carol").await;
    x.join(&ops.to_string(), "xavier").await;
    alice.send("PRIVMSG #ops :[SECRET] from the catalog").await;
    let m = x.message_from("alice", None, 20).await;
    assert_eq!(m.body.as_deref(), Some("[DEMO-UK SECRET] from the catalog"));
    x.quit().await;
    s.stop();
}
