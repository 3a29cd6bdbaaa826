//! Path validation and revocation on both sides (issue 16), with a CA, certificates and CRLs
//! made at test time by `openssl ca`:
//!
//! * IRC: a client certificate pinned in the users file must also chain to the configured
//!   client CA and not be revoked; expired, revoked, unknown-issuer certificates are refused at
//!   SASL EXTERNAL (the `irc` crate over TLS) with the reason, and new CRLs apply once loaded.
//! * XMPP: the project's ejabberd, whose certificate a CRL revokes, is refused; the same server
//!   with a CRL that revokes something else is not; a real TLS server (`openssl s_server`)
//!   presenting an expired certificate is refused; a reload re-reads the CRL files (a server
//!   revoked since is refused from then on; a CRL that no longer reads keeps the check before).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/ca.rs"]
mod ca;
mod common;
#[path = "common/external.rs"]
mod external;
#[path = "common/irc.rs"]
mod irc;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ca::TestCa;
use common::{Identity, server};
use external::external;
use labelgate::config::users::{Users, fingerprint_of};
use labelgate::xmpp::connect::TlsMode;

fn scratch(name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}/target/test-{name}-{}",
        env!("CARGO_MANIFEST_DIR"),
        std::process::id()
    ))
}

fn fingerprint(crt: &Path) -> String {
    let der = labelgate::xmpp::tls::load_certs(crt).unwrap();
    fingerprint_of(der[0].as_ref()).1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irc_client_certificates_are_validated_and_checked_against_crls() {
    let s = irc::start(irc::config()).await;
    let ca = TestCa::new(&scratch("irc-ca"));
    let other = TestCa::new(&scratch("irc-other-ca"));
    let good = ca.issue("good", None);
    let revoked = ca.issue("revoked", None);
    let later = ca.issue("later", None);
    let expired = ca.issue("expired", Some(("20200101000000Z", "20210101000000Z")));
    let stranger = other.issue("stranger", None);
    ca.revoke(&revoked.0);
    let crl = ca.crl("first.crl");
    // Every certificate is pinned: only path validation can refuse them.
    let mut text = String::from("jid_template = \"{account}@labelgate.test\"\n");
    for (account, (crt, _)) in [
        ("good", &good),
        ("revoked", &revoked),
        ("later", &later),
        ("expired", &expired),
        ("stranger", &stranger),
    ] {
        text.push_str(&format!(
            "[[user]]\naccount = \"{account}\"\nclearance = \"OFFICIAL\"\ncertificates = [\"{}\"]\n",
            fingerprint(crt)
        ));
    }
    let users = Users::parse(Path::new("u.toml"), &text, &irc::policy()).unwrap();
    s.shared.reload_users(users);
    let checks = labelgate::pki::client_path_verifier(&ca.crt(), &[crl]).unwrap();
    s.shared.set_certificate_checks(Some(checks));
    let server_ca = s.pki.join("ca.crt");
    let port = s.tls.port();
    let login = |nick: &'static str, (crt, key): (PathBuf, PathBuf)| {
        let server_ca = server_ca.clone();
        async move {
            let (_client, seen) = external(port, &server_ca, &crt, &key, nick).await;
            seen.join("\n")
        }
    };
    let ok = login("good", good.clone()).await;
    assert!(ok.contains(" 001 "), "{ok}");
    for (nick, cert, words) in [
        (
            "revoked",
            revoked.clone(),
            "the certificate has been revoked",
        ),
        ("expired", expired.clone(), "the certificate has expired"),
        (
            "stranger",
            stranger.clone(),
            "not issued by a CA the gateway trusts",
        ),
    ] {
        let seen = login(nick, cert).await;
        assert!(
            seen.contains(" 904 ") && seen.contains(words),
            "{nick}: {seen}"
        );
    }

    // A new CRL, loaded (as a reload does): `later` is refused from then on.
    let ok = login("later", later.clone()).await;
    assert!(ok.contains(" 001 "), "{ok}");
    ca.revoke(&later.0);
    let crl = ca.crl("second.crl");
    let checks = labelgate::pki::client_path_verifier(&ca.crt(), &[crl]).unwrap();
    s.shared.set_certificate_checks(Some(checks));
    let seen = login("later2", later.clone()).await;
    assert!(seen.contains("revoked"), "{seen}");
}

/// An endpoint for the test server trusting its CA, checking `crls`.
fn endpoint_with_crls(crls: &[PathBuf]) -> labelgate::xmpp::connect::Endpoint {
    let s = server();
    let mut ep = common::endpoint(Identity::Gateway, TlsMode::StartTls);
    ep.tls = labelgate::xmpp::tls::client_config_checked(
        &s.pki("ca.crt"),
        crls,
        Some((&s.pki("gateway.crt"), &s.pki("gateway.key"))),
    )
    .unwrap();
    ep
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_xmpp_servers_certificate_is_checked_against_crls_and_its_validity() {
    let s = server();
    let user = common::jid(&common::unique("crl"));
    // A copy of the test CA with a database of its own: the server's own certificate, revoked.
    let ca = TestCa::adopt(&scratch("xmpp-ca"), &s.pki("ca.crt"), &s.pki("ca.key"));
    let bystander = ca.issue("bystander", None);
    ca.revoke(&bystander.0);
    let clean = ca.crl("bystander.crl");
    let ep = endpoint_with_crls(std::slice::from_ref(&clean));
    let (session, _events) =
        labelgate::xmpp::session::Session::start(labelgate::xmpp::session::SessionConfig::new(
            Arc::new(ep),
            user.clone(),
            labelgate::xmpp::session::IdentityMode::TrustedGateway,
        ))
        .await
        .expect("a CRL that does not list the server lets it through");
    session.close().await;

    ca.revoke(&s.pki("server.crt"));
    let crl = ca.crl("server.crl");
    let err = common::refused(&endpoint_with_crls(&[crl]), &user, Some(&user)).await;
    let text = format!("{err}");
    assert!(text.contains("the certificate has been revoked"), "{text}");

    // A real TLS server (openssl s_server) with an expired certificate: refused on its validity.
    let expired = ca.issue(
        "expired-server",
        Some(("20200101000000Z", "20210101000000Z")),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut tls_server = std::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-accept", &port.to_string(), "-cert"])
        .arg(&expired.0)
        .arg("-key")
        .arg(&expired.1)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ep = endpoint_with_crls(&[]);
    ep.tls_mode = TlsMode::Direct;
    ep.addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let err = common::refused(&ep, &user, Some(&user)).await;
    let _ = tls_server.kill();
    let _ = tls_server.wait();
    let text = format!("{err}");
    assert!(text.to_lowercase().contains("expired"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_rereads_the_xmpp_servers_crls() {
    let s = server();
    let user = common::jid(&common::unique("crlreload"));
    let ca = TestCa::adopt(
        &scratch("xmpp-reload-ca"),
        &s.pki("ca.crt"),
        &s.pki("ca.key"),
    );
    let bystander = ca.issue("bystander", None);
    ca.revoke(&bystander.0);
    let crl = ca.crl("xmpp.crl");
    let check =
        labelgate::xmpp::tls::ServerVerifier::load(&s.pki("ca.crt"), std::slice::from_ref(&crl))
            .unwrap();
    let mut ep = common::endpoint(Identity::Gateway, TlsMode::StartTls);
    ep.tls = check
        .client_config_from_files(Some((&s.pki("gateway.crt"), &s.pki("gateway.key"))))
        .unwrap();
    let connects = |ep: &labelgate::xmpp::connect::Endpoint| {
        let (ep, user) = (ep.clone(), user.clone());
        async move {
            labelgate::xmpp::connect::connect(&ep, &user, Some(&user))
                .await
                .is_ok()
        }
    };
    assert!(connects(&ep).await, "the server is not revoked yet");

    // The CA revokes the server and publishes a new CRL in the same file: connections keep the
    // check in force until it is reloaded, then are refused.
    ca.revoke(&s.pki("server.crt"));
    assert_eq!(ca.crl("xmpp.crl"), crl);
    assert!(
        connects(&ep).await,
        "the old CRL is in force until the reload"
    );
    check.reload().unwrap();
    let text = common::refused(&ep, &user, Some(&user)).await.to_string();
    assert!(text.contains("the certificate has been revoked"), "{text}");

    // A CRL file that no longer reads: the reload fails, naming it, and the check in force
    // (the server revoked) stays.
    std::fs::write(&crl, "not a CRL").unwrap();
    let e = check.reload().unwrap_err().to_string();
    assert!(e.contains("xmpp.crl"), "{e}");
    let text = common::refused(&ep, &user, Some(&user)).await.to_string();
    assert!(text.contains("revoked"), "{text}");
}
