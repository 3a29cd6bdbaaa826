//! Link mode's XMPP side, found out against the real ejabberd: the IRC network's people can be
//! real occupants of the gateway's rooms, logged in with SASL EXTERNAL under a domain of their
//! own (`irc.labelgate.test`, a second host of the same server) with one certificate whose
//! xmppAddr is that bare domain. That certificate names anyone of the puppet domain and nobody
//! of the users' domain; the users' trusted-gateway certificate cannot name a puppet.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{Identity, endpoint, unique};
use labelgate::xmpp::connect::{ConnectError, TlsMode, connect};
use labelgate::xmpp::muc::History;
use labelgate::xmpp::session::{IdentityMode, Session, SessionConfig, XmppEvent};

const PUPPETS: &str = "irc.labelgate.test";

fn puppet(node: &str) -> jid::BareJid {
    format!("{node}@{PUPPETS}").parse().unwrap()
}

fn puppet_endpoint(identity: Identity<'_>) -> labelgate::xmpp::connect::Endpoint {
    let mut ep = endpoint(identity, TlsMode::StartTls);
    ep.domain = PUPPETS.into();
    ep
}

#[tokio::test]
async fn a_puppet_logs_in_under_its_own_domain_and_joins_a_users_room() {
    let ep = Arc::new(puppet_endpoint(Identity::Puppets));
    let who = puppet(&unique("ircbob"));
    let (session, _events) = Session::start(SessionConfig::new(
        ep,
        who.clone(),
        IdentityMode::TrustedGateway,
    ))
    .await
    .unwrap_or_else(|e| panic!("puppet login: {e}"));
    assert_eq!(session.bound_jid().to_bare(), who);
    // A room of the users' MUC service, with a user of the main domain in it.
    let room = common::room(&unique("linked"));
    let (alice, mut alice_events) = common::session(&unique("alice")).await;
    alice
        .join(&room, "alice", History::default())
        .await
        .unwrap();
    session
        .join(&room, "bob", History::default())
        .await
        .unwrap();
    // Alice learns of bob from the room's broadcast, which may come after bob's own join
    // completes: wait for it (within 10 s) before reading her occupant list.
    common::wait_for(&mut alice_events, 10, |e| match e {
        XmppEvent::OccupantJoined { room: r, occupant } if *r == room && occupant.nick == "bob" => {
            Some(())
        }
        _ => None,
    })
    .await;
    let (_, occupants) = alice.occupants(&room).await.expect("alice is in the room");
    let nicks: Vec<&str> = occupants.values().map(|o| o.nick.as_str()).collect();
    assert!(
        nicks.contains(&"bob"),
        "the puppet is an occupant: {nicks:?}"
    );
    session.close().await;
    alice.close().await;
}

#[tokio::test]
async fn the_puppet_certificate_names_nobody_of_the_users_domain() {
    // Asking for the users' domain with the puppet certificate.
    let ep = endpoint(Identity::Puppets, TlsMode::StartTls);
    let alice = common::jid("alice");
    let err = common::refused(&ep, &alice, Some(&alice)).await;
    assert!(matches!(err, ConnectError::NotAuthorized), "{err}");
    // Naming a user of the main domain from a stream to the puppet domain.
    let ep = puppet_endpoint(Identity::Puppets);
    let err = common::refused(&ep, &alice, Some(&alice)).await;
    assert!(!matches!(err, ConnectError::Tls(_)), "{err}");
}

#[tokio::test]
async fn the_users_gateway_certificate_names_no_puppet() {
    let ep = puppet_endpoint(Identity::Gateway);
    let p = puppet("ircmallory");
    let err = common::refused(&ep, &p, Some(&p)).await;
    assert!(matches!(err, ConnectError::NotAuthorized), "{err}");
    // …while the puppet certificate does name it.
    connect(&puppet_endpoint(Identity::Puppets), &p, Some(&p))
        .await
        .unwrap();
}
