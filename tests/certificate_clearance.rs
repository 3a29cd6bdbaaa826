//! Clearances from client certificates (RFC 5755 clearance attribute in subjectDirectoryAttributes,
//! issue 16): an IRC user logging in with SASL EXTERNAL (the `irc` crate over TLS) whose
//! certificate, made here with openssl, carries a clearance gets the meet of it and their
//! users-file clearance — never more than either — decided on every line against the project's
//! ejabberd with slixmpp in the room; a clearance that cannot be read or is under a policy the
//! gateway does not use refuses the login.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/bridge.rs"]
mod bridge;
mod common;
#[path = "common/external.rs"]
mod external;
#[path = "common/irc.rs"]
mod irc;
#[path = "common/slix.rs"]
mod slix;
#[path = "common/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use bridge::{Gateway, channel};
use common::{room, server, unique};
use external::external;
use labelgate::config::users::{Users, fingerprint_of};
use labelgate::label::der::{write_oid, write_tlv};
use labelgate::label::oid::Oid;
use labelgate::label::{Clearance, PolicySet};
use slix::Slix;

/// The DER of a subjectDirectoryAttributes extension value holding one clearance attribute
/// (2.5.4.55) whose value is `clearance` (DER of RFC 5755 Clearance, or anything at all).
fn directory_attributes(clearance: &[u8]) -> Vec<u8> {
    let mut oid = Vec::new();
    write_oid(&mut oid, &"2.5.4.55".parse::<Oid>().unwrap());
    let mut values = Vec::new();
    write_tlv(&mut values, 0x31, clearance);
    let mut attr = Vec::new();
    write_tlv(&mut attr, 0x30, &[oid, values].concat());
    let mut out = Vec::new();
    write_tlv(&mut out, 0x30, &attr);
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// A self-signed client certificate (the listener pins certificates by fingerprint) named
/// `name` in `dir`, with a subjectDirectoryAttributes extension of `attributes` DER.
fn certificate(dir: &Path, name: &str, attributes: &[u8]) -> (PathBuf, PathBuf) {
    let (crt, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "30", "-subj", &format!("/CN={name}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .args(["-addext", "extendedKeyUsage=clientAuth"])
        .args(["-addext", &format!("2.5.29.9=DER:{}", hex(attributes))])
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl: {out:?}");
    (crt, key)
}

/// A users file with one account per certificate, each cleared "SECRET, UK".
fn users(p: &PolicySet, accounts: &[(&str, &Path)]) -> Users {
    users_cleared(p, accounts, "SECRET, UK")
}

/// A users file with one account per certificate, each cleared `clearance`.
fn users_cleared(p: &PolicySet, accounts: &[(&str, &Path)], clearance: &str) -> Users {
    let mut text = String::from("jid_template = \"{account}@labelgate.test\"\n");
    for (account, crt) in accounts {
        let der = labelgate::xmpp::tls::load_certs(crt).unwrap();
        let fp = fingerprint_of(der[0].as_ref()).1;
        text.push_str(&format!(
            "[[user]]\naccount = \"{account}\"\nclearance = \"{clearance}\"\ncertificates = [\"{fp}\"]\n"
        ));
    }
    Users::parse(Path::new("users.toml"), &text, p.primary()).unwrap()
}

/// A fresh directory for this test's certificates.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(format!(
        "{}/target/test-{name}-{}",
        env!("CARGO_MANIFEST_DIR"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_clearance_meets_the_users_file_clearance() {
    let pol = support::demo_policies();
    let policy = pol.primary();
    let dir = scratch("cert-clearance");
    let clearance = |t: &str| Clearance::parse(policy, t).unwrap().to_der();
    let above = certificate(
        &dir,
        "above",
        &directory_attributes(&clearance("TOP SECRET, UK, EU")),
    );
    let below = certificate(&dir, "below", &directory_attributes(&clearance("OFFICIAL")));
    let beside = certificate(
        &dir,
        "beside",
        &directory_attributes(&clearance("SECRET, EU")),
    );
    // A Clearance whose policy is an INTEGER: not RFC 5755.
    let garbage = certificate(
        &dir,
        "garbage",
        &directory_attributes(&[0x30, 0x03, 0x02, 0x01, 0x05]),
    );
    let mut foreign = Clearance::parse(policy, "SECRET").unwrap();
    foreign.policy = "1.2.3.4.5".parse().unwrap();
    let foreign = certificate(&dir, "foreign", &directory_attributes(&foreign.to_der()));

    let ops = room(&unique("certops"));
    let (a, b, s, g, f) = (
        unique("above"),
        unique("below"),
        unique("beside"),
        unique("garbage"),
        unique("foreign"),
    );
    let u = users(
        &pol,
        &[
            (&a, &above.0),
            (&b, &below.0),
            (&s, &beside.0),
            (&g, &garbage.0),
            (&f, &foreign.0),
        ],
    );
    let endpoint = common::endpoint(
        common::Identity::Gateway,
        labelgate::xmpp::connect::TlsMode::StartTls,
    );
    let gw = Gateway::start(
        endpoint,
        pol.clone(),
        &channel("#ops", &ops, "OFFICIAL", "TOP SECRET, UK, EU"),
        u,
        irc::config(),
    )
    .await;
    let tls = gw
        .serve_tls(&server().pki("irc.crt"), &server().pki("irc.key"))
        .await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&ops.to_string(), "xavier").await;

    // Unreadable, and under a policy the gateway does not use: the login is refused.
    for (nick, (crt, key), words) in [
        ("garbage", &garbage, "clearance cannot be read"),
        ("foreign", &foreign, "which this gateway does not use"),
    ] {
        let (_c, seen) = external(tls.port(), &server().pki("ca.crt"), crt, key, nick).await;
        let all = seen.join("\n");
        assert!(all.contains(" 904 ") && all.contains(words), "{all}");
    }

    // Each of the others: (nick, certificate, line that must be refused, line that crosses).
    let cases = [
        (
            "above",
            &above,
            "[TOP SECRET] over the users file",
            "[SECRET UK EYES ONLY] within both",
        ),
        (
            "below",
            &below,
            "[SECRET] over the certificate",
            "within the certificate",
        ),
        (
            "beside",
            &beside,
            "[SECRET UK EYES ONLY] outside the certificate",
            "[SECRET] in both",
        ),
    ];
    for (nick, (crt, key), refused, crosses) in cases {
        let (client, seen) = external(tls.port(), &server().pki("ca.crt"), crt, key, nick).await;
        assert!(seen.iter().any(|l| l.contains(" 001 ")), "{seen:#?}");
        client.send_join("#ops").unwrap();
        x.presence_of(&ops.to_string(), nick, "available", 15).await;
        client.send_privmsg("#ops", refused).unwrap();
        client.send_privmsg("#ops", crosses).unwrap();
        let got = x.message_from(nick, Some("groupchat"), 10).await;
        let body = got.body.unwrap_or_default();
        let words = crosses.rsplit("] ").next().unwrap();
        assert!(body.ends_with(words), "{nick}: {body}");
        client.send_quit("done").unwrap();
    }
    let denied: Vec<_> = gw
        .records()
        .into_iter()
        .filter(|r| r["decision"] == "deny" && r["direction"] == "irc-to-xmpp")
        .collect();
    assert_eq!(denied.len(), 3, "{denied:#?}");
    x.quit().await;
}

/// Under a policy whose SPIF names the SSLPrivileges privilegeId (the MISSI sample), a
/// certificate's clearance in that form is read, its enumerated value placed where the policy
/// defines it (restrictive), and met with the users-file clearance: a line the certificate does
/// not clear is refused, one it does crosses. A clearance whose enumerated value the policy
/// does not define cannot be placed: the login is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssl_privileges_clearance_is_placed_under_its_policy() {
    let missi = format!(
        "{}/tests/fixtures/spif/food-policy-missi.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    let pol = std::sync::Arc::new(PolicySet::new(
        labelgate::label::load_policy(&std::fs::read_to_string(missi).unwrap()).unwrap(),
    ));
    let policy = pol.primary();
    let dir = scratch("cert-ssl-privileges");
    // The certificate clears Not Vegan, not Not Fairtrade (both enumerated restrictive).
    // Written with the low-level encoder (no read-back check), so that only the gateway's
    // reading is under test.
    let c = Clearance::parse(policy, "Ambrosia, Crunchy, Sweet, Allergens:*, Not Vegan").unwrap();
    let carried = labelgate::label::ess::ClearanceDer {
        policy: c.policy.clone(),
        classes: c.classes.iter().copied().collect(),
        categories: c.categories.clone(),
        ssl_privileges: true,
    }
    .to_der()
    .unwrap();
    // The SSLPrivileges OID is there: this is the form under test.
    let ssl_oid = [0x60, 0x86, 0x48, 0x01, 0x65, 0x02, 0x01, 0x08, 0x02];
    assert!(carried.windows(9).any(|w| w == ssl_oid));
    let placed = certificate(&dir, "placed", &directory_attributes(&carried));
    // Ethics [2] enumeratedAttributes { 4660 }: a value the policy does not define.
    let mut odd = carried.clone();
    let not_vegan = [0x02, 0x02, 0x26, 0xe2];
    let at = odd.windows(4).position(|w| w == not_vegan).unwrap();
    odd.splice(at..at + 4, [0x02, 0x02, 0x12, 0x34]);
    let unplaceable = certificate(&dir, "unplaceable", &directory_attributes(&odd));

    let r = room(&unique("certmissi"));
    let (p, u) = (unique("placed"), unique("unplaceable"));
    let users = users_cleared(
        &pol,
        &[(&p, &placed.0), (&u, &unplaceable.0)],
        "Ambrosia, Taste Sensations:*, Allergens:*, Ethics:*",
    );
    let mapping = format!(
        "{}flot_template = \"({{marking}}) \"\nflot_pattern = '\\((?P<marking>[^)]+)\\)\\s?'\n",
        channel(
            "#food",
            &r,
            "Commodity",
            "Ambrosia, Taste Sensations:*, Allergens:*, Ethics:*"
        ),
    );
    let endpoint = common::endpoint(
        common::Identity::Gateway,
        labelgate::xmpp::connect::TlsMode::StartTls,
    );
    let gw = Gateway::start(endpoint, pol.clone(), &mapping, users, irc::config()).await;
    let tls = gw
        .serve_tls(&server().pki("irc.crt"), &server().pki("irc.key"))
        .await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&r.to_string(), "xavier").await;

    let (crt, key) = &unplaceable;
    let (_c, seen) = external(tls.port(), &server().pki("ca.crt"), crt, key, "unplaceable").await;
    let all = seen.join("\n");
    assert!(
        all.contains(" 904 ") && all.contains("enumerated value 4660 of tag set"),
        "{all}"
    );

    let (crt, key) = &placed;
    let (client, seen) = external(tls.port(), &server().pki("ca.crt"), crt, key, "placed").await;
    assert!(seen.iter().any(|l| l.contains(" 001 ")), "{seen:#?}");
    client.send_join("#food").unwrap();
    x.presence_of(&r.to_string(), "placed", "available", 15)
        .await;
    client
        .send_privmsg(
            "#food",
            "(Commodity Not Fairtrade) not cleared by the certificate",
        )
        .unwrap();
    client
        .send_privmsg("#food", "(Commodity Not Vegan) cleared by both")
        .unwrap();
    let got = x.message_from("placed", Some("groupchat"), 10).await;
    let body = got.body.unwrap_or_default();
    assert!(body.ends_with("cleared by both"), "{body}");
    let denied: Vec<_> = gw
        .records()
        .into_iter()
        .filter(|r| r["decision"] == "deny" && r["direction"] == "irc-to-xmpp")
        .collect();
    assert_eq!(denied.len(), 1, "{denied:#?}");
    assert!(
        denied[0]["label"]["marking"]
            .as_str()
            .unwrap_or_default()
            .contains("Not Fairtrade"),
        "{denied:#?}"
    );
    client.send_quit("done").unwrap();
    x.quit().await;
}
