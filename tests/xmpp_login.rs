//! SASL EXTERNAL logins against a real ejabberd over TLS, with certificates made at test time
//! by the project's PKI script: who gets in, who is refused, and with which error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{Identity, endpoint, jid, unique};
use labelgate::xmpp::connect::{ConnectError, TlsFailure, TlsMode, connect};
use labelgate::xmpp::session::{IdentityMode, Session, SessionConfig};

#[tokio::test]
async fn trusted_gateway_logs_in_as_three_users() {
    let ep = endpoint(Identity::Gateway, TlsMode::StartTls);
    for name in ["alice", "bob", "carol"] {
        let user = jid(&unique(name));
        let conn = connect(&ep, &user, Some(&user))
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
        assert!(conn.features.bind.is_some());
        // Bound, the session is that user's.
        let cfg = SessionConfig::new(
            Arc::new(ep.clone()),
            user.clone(),
            IdentityMode::TrustedGateway,
        );
        let (s, _rx) = Session::start(cfg)
            .await
            .unwrap_or_else(|e| panic!("{user}: {e}"));
        assert_eq!(s.bound_jid().to_bare(), user);
        s.close().await;
    }
}

#[tokio::test]
async fn direct_tls_works_too() {
    let ep = endpoint(Identity::Gateway, TlsMode::Direct);
    let user = jid(&unique("direct"));
    connect(&ep, &user, Some(&user)).await.unwrap();
}

#[tokio::test]
async fn per_user_certificate_logs_in_without_authzid() {
    let ep = endpoint(Identity::User("alice"), TlsMode::StartTls);
    let alice = jid("alice");
    connect(&ep, &alice, None).await.unwrap();
    // Naming itself in the authzid is fine too.
    connect(&ep, &alice, Some(&alice)).await.unwrap();
}

#[tokio::test]
async fn per_user_certificate_cannot_name_another_user() {
    let ep = endpoint(Identity::User("alice"), TlsMode::StartTls);
    let bob = jid("bob");
    let err = common::refused(&ep, &bob, Some(&bob)).await;
    assert!(matches!(err, ConnectError::NotAuthorized), "{err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn untrusted_ca_is_refused() {
    let ep = endpoint(Identity::Untrusted, TlsMode::StartTls);
    let user = jid("mallory");
    let err = common::refused(&ep, &user, Some(&user)).await;
    // ejabberd offers EXTERNAL but refuses a certificate it cannot verify.
    assert!(matches!(err, ConnectError::NotAuthorized), "{err}");
}

#[tokio::test]
async fn no_client_certificate_is_refused() {
    let ep = endpoint(Identity::Anonymous, TlsMode::StartTls);
    let user = jid("nobody");
    let err = common::refused(&ep, &user, Some(&user)).await;
    assert!(matches!(err, ConnectError::NotAuthorized), "{err}");
}

#[tokio::test]
async fn server_certificate_is_checked() {
    // Trusting another CA: the server's certificate is from an unknown CA.
    let s = common::server();
    let mut ep = endpoint(Identity::Gateway, TlsMode::StartTls);
    ep.tls = labelgate::xmpp::tls::client_config_from_files(
        &s.pki("untrusted-ca.crt"),
        Some((&s.pki("gateway.crt"), &s.pki("gateway.key"))),
    )
    .unwrap();
    let user = jid("alice");
    let err = common::refused(&ep, &user, Some(&user)).await;
    assert!(
        matches!(err, ConnectError::Tls(TlsFailure::UnknownCa)),
        "{err}"
    );
    // The right CA but another name (direct TLS, so TLS comes before any stream header).
    let mut ep = endpoint(Identity::Gateway, TlsMode::Direct);
    ep.domain = "wrong.example".into();
    let err = common::refused(&ep, &user, Some(&user)).await;
    assert_eq!(
        err.to_string(),
        "TLS with the XMPP server failed: the server's certificate is not valid for wrong.example"
    );
    // Over STARTTLS the server already refuses the unknown host in the stream header.
    let mut ep = endpoint(Identity::Gateway, TlsMode::StartTls);
    ep.domain = "wrong.example".into();
    let err = common::refused(&ep, &user, Some(&user)).await;
    assert!(
        matches!(err, ConnectError::Stream(ref c) if c == "HostUnknown"),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_server_is_a_connect_error() {
    let mut ep = endpoint(Identity::Gateway, TlsMode::StartTls);
    ep.addr = "127.0.0.1:1".parse().unwrap();
    let user = jid("alice");
    let err = common::refused(&ep, &user, Some(&user)).await;
    assert!(matches!(err, ConnectError::Connect { .. }), "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn per_user_session_binds_and_joins() {
    use labelgate::xmpp::muc::History;
    use labelgate::xmpp::session::{IdentityMode, Session, SessionConfig};
    let ep = std::sync::Arc::new(endpoint(Identity::User("bob"), TlsMode::StartTls));
    let (s, _rx) = Session::start(SessionConfig::new(ep, jid("bob"), IdentityMode::PerUser))
        .await
        .unwrap();
    assert_eq!(s.bound_jid().to_bare(), jid("bob"));
    let room = common::room(&unique("peruser"));
    let joined = s.join(&room, "bob", History::default()).await.unwrap();
    assert_eq!(joined.nick, "bob");
    s.close().await;
}

#[tokio::test]
async fn a_refused_session_reports_why() {
    use labelgate::xmpp::session::{IdentityMode, Session, SessionConfig};
    let ep = std::sync::Arc::new(endpoint(Identity::User("alice"), TlsMode::StartTls));
    let err = Session::start(SessionConfig::new(
        ep,
        jid("carol"),
        IdentityMode::TrustedGateway,
    ))
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the XMPP server refused the login (not-authorized)"
    );
}
