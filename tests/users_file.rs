//! The user directory: loads whole or is refused whole with file and line; passwords are
//! argon2id; the `labelgate user passwd` tool; reload without dropping connected users.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/irc.rs"]
mod irc;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use labelgate::config::users::{Users, hash_password};

fn parse(text: &str) -> Result<Users, String> {
    Users::parse(Path::new("users.toml"), text, &irc::policy()).map_err(|e| e.to_string())
}

#[test]
fn a_good_file_loads() {
    let pki = irc::pki();
    let users = parse(&irc::users_toml(&pki)).unwrap();
    assert_eq!(users.len(), 3);
    let alice = users.get("alice").unwrap();
    assert_eq!(alice.jid.to_string(), "alice@labelgate.test");
    assert_eq!(alice.clearance.classes.len(), 1);
    assert!(users.check_password("alice", "alice-pw").is_some());
    assert!(users.check_password("alice", "wrong").is_none());
    assert!(users.check_password("nobody", "alice-pw").is_none());
    let cert = labelgate::xmpp::tls::load_certs(&pki.join("users/alice.crt")).unwrap();
    assert_eq!(
        users.by_certificate(cert[0].as_ref()).unwrap().account,
        "alice"
    );
    let other = labelgate::xmpp::tls::load_certs(&pki.join("users/bob.crt")).unwrap();
    assert!(users.by_certificate(other[0].as_ref()).is_none());
}

#[test]
fn bad_files_are_refused_whole_with_file_and_line() {
    let hash = hash_password("x").unwrap();
    let cases = [
        (
            format!(
                "[[user]]\naccount = \"a\"\nclearance = \"SECRET\"\npassword = \"{hash}\"\ncolour = \"red\"\n"
            ),
            "users.toml:5:",
            "unknown field `colour`",
        ),
        (
            format!("[[user]]\naccount = \"a\"\nclearance = \"MAUVE\"\npassword = \"{hash}\"\n"),
            "users.toml:3:",
            "`MAUVE` is not a classification",
        ),
        (
            "[[user]]\naccount = \"a\"\nclearance = \"SECRET\"\npassword = \"hunter2\"\n"
                .to_owned(),
            "users.toml:4:",
            "not a PHC hash string",
        ),
        (
            "[[user]]\naccount = \"a\"\nclearance = \"SECRET\"\n".to_owned(),
            "users.toml:2:",
            "neither a password nor a certificate",
        ),
        (
            format!(
                "[[user]]\naccount = \"a\"\nclearance = \"SECRET\"\npassword = \"{hash}\"\n[[user]]\naccount = \"a\"\nclearance = \"SECRET\"\npassword = \"{hash}\"\n"
            ),
            "users.toml:6:",
            "defined twice",
        ),
        (
            format!("[[user]]\naccount = \"a b\"\nclearance = \"SECRET\"\npassword = \"{hash}\"\n"),
            "users.toml:2:",
            "may use only",
        ),
        (
            format!(
                "[[user]]\naccount = \"a\"\nclearance = \"SECRET\"\ncertificates = [\"sha256:12\"]\npassword = \"{hash}\"\n"
            ),
            "users.toml:4:",
            "not a SHA-256 fingerprint",
        ),
        ("[[user]\n".to_owned(), "users.toml:1:", ""),
    ];
    for (text, at, what) in cases {
        let e = parse(&text).unwrap_err();
        assert!(e.starts_with(at), "{at}: {e}");
        assert!(e.contains(what), "{what}: {e}");
    }
}

#[test]
fn passwd_tool_prints_a_verifiable_hash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_labelgate"))
        .args(["user", "passwd"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let users = parse(&format!(
        "[[user]]\naccount = \"z\"\nclearance = \"SECRET\"\npassword = \"{hash}\"\n"
    ))
    .unwrap();
    assert!(users.check_password("z", "correct horse").is_some());
    assert!(users.check_password("z", "correct horse\n").is_none());
}

#[tokio::test]
async fn reload_keeps_connected_users() {
    let s = irc::start(irc::config()).await;
    let mut bob = irc::Raw::login(s.plain, "bob", "bob", "bob-pw").await;
    // New directory: bob's password changes, carol is gone.
    let hash = hash_password("new-pw").unwrap();
    let text =
        format!("[[user]]\naccount = \"bob\"\nclearance = \"OFFICIAL\"\npassword = \"{hash}\"\n");
    s.shared.reload_users(parse(&text).unwrap());
    // Bob stays connected.
    bob.send("PING still").await;
    assert!(bob.until("PONG").await.ends_with("still"));
    // New logins use the new directory.
    let _bob2 = irc::Raw::login(s.plain, "bob2", "bob", "new-pw").await;
    let mut carol = irc::Raw::connect(s.plain).await;
    carol.send("PASS carol:carol-pw").await;
    carol.send("NICK carol").await;
    carol.send("USER carol 0 * :c").await;
    assert!(carol.until(" 464 ").await.contains("Password incorrect"));
}
