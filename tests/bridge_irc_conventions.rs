//! What every IRC client sends, through the bridge to slixmpp and back, against the project's
//! ejabberd: `/me` as XEP-0245 and back, formatting removed with the words kept, other CTCP
//! answered by the gateway, DCC refused — nothing lost in silence.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/bridge.rs"]
mod bridge;
mod common;
#[path = "common/irc.rs"]
mod irc;
#[path = "common/slix.rs"]
mod slix;
#[path = "common/support.rs"]
mod support;

use bridge::{Gateway, PASSWORD, channel};
use common::{room, server, unique};
use slix::{Slix, SlixLabel};

/// The next message from `nick` (the client's own reflections skipped).
async fn from(x: &mut Slix, nick: &str) -> slix::Received {
    loop {
        let m = x.message(10).await;
        if m.nick == nick {
            return m;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_formatting_and_ctcp_cross_as_an_xmpp_user_expects() {
    let pol = support::demo_policies();
    let ops = room(&unique("conventions"));
    let s = unique("sam");
    let gw = Gateway::on_test_server(
        pol.clone(),
        &channel("#ops", &ops, "OFFICIAL", "SECRET, UK"),
        &[(&s, "SECRET, UK")],
    )
    .await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&ops.to_string(), "xavier").await;
    let mut sam = irc::Raw::login(gw.addr, "sam", &s, PASSWORD).await;
    sam.send("JOIN #ops").await;
    sam.until(" 366 ").await;

    // /me, unmarked and marked.
    sam.send("PRIVMSG #ops :\x01ACTION waves\x01").await;
    let m = from(&mut x, "sam").await;
    assert_eq!(m.body.as_deref(), Some("/me [DEMO-UK OFFICIAL] waves"));
    assert_eq!(m.display.as_deref(), Some("DEMO-UK OFFICIAL"));
    sam.send("PRIVMSG #ops :\x01ACTION [SECRET UK EYES ONLY] whispers\x01")
        .await;
    let m = from(&mut x, "sam").await;
    assert_eq!(
        m.body.as_deref(),
        Some("/me [DEMO-UK SECRET - UK EYES ONLY] whispers")
    );
    assert_eq!(m.display.as_deref(), Some("DEMO-UK SECRET - UK EYES ONLY"));

    // Formatting removed, words kept; control characters an XMPP server refuses are gone.
    sam.send("PRIVMSG #ops :\x02bold\x02 and \x0304,12colour\x03 \x1ditalic\x1d\x07\x0b\x0c\x1b!")
        .await;
    let m = from(&mut x, "sam").await;
    assert_eq!(
        m.body.as_deref(),
        Some("[DEMO-UK OFFICIAL] bold and colour italic!")
    );

    // Other CTCP is answered by the gateway for the XMPP user; DCC is refused; neither crosses.
    sam.send("PRIVMSG xavier :\x01VERSION\x01").await;
    let l = sam.until(" NOTICE sam :\x01VERSION").await;
    assert!(l.starts_with(":xavier!"), "{l}");
    assert!(l.contains("labelgate"), "{l}");
    sam.send("PRIVMSG xavier :\x01PING 12345\x01").await;
    assert!(
        sam.until(" NOTICE sam :\x01PING")
            .await
            .ends_with("\x01PING 12345\x01")
    );
    sam.send("PRIVMSG xavier :\x01DCC SEND secret.pdf 2130706433 5000 1234\x01")
        .await;
    let l = sam.until("Not sent").await;
    assert!(
        l.contains("file transfer (DCC) does not cross the gateway"),
        "{l}"
    );
    sam.send("PRIVMSG #ops :sentinel").await;
    let m = from(&mut x, "sam").await;
    assert_eq!(
        m.body.as_deref(),
        Some("[DEMO-UK OFFICIAL] sentinel"),
        "no CTCP reached the room"
    );

    // XEP-0245 back to IRC: a /me from XMPP is a CTCP ACTION, marked.
    x.send(
        &ops.to_string(),
        "/me nods",
        Some(SlixLabel::marking(&pol, "OFFICIAL")),
    )
    .await;
    let l = sam.until("nods").await;
    assert!(
        l.ends_with(" PRIVMSG #ops :\x01ACTION [DEMO-UK OFFICIAL] nods\x01"),
        "{l:?}"
    );
    x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_and_join_at_once_leaves_no_ghost() {
    let pol = support::demo_policies();
    let ops = room(&unique("cycle"));
    let s = unique("sam");
    let gw = Gateway::on_test_server(
        pol.clone(),
        &channel("#ops", &ops, "OFFICIAL", "SECRET, UK"),
        &[(&s, "SECRET, UK")],
    )
    .await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&ops.to_string(), "xavier").await;
    let mut sam = irc::Raw::login(gw.addr, "sam", &s, PASSWORD).await;
    sam.send("JOIN #ops").await;
    sam.until(" 366 ").await;
    for round in 0..3 {
        // What /cycle sends: both lines at once.
        sam.send_bytes(b"PART #ops :cycling\r\nJOIN #ops\r\n").await;
        let seen = sam.lines_until(" 366 ").await;
        assert!(
            !seen
                .iter()
                .any(|l| l.contains(" 403 ") || l.contains(" 405 ")),
            "{seen:#?}"
        );
        sam.send(&format!("PRIVMSG #ops :still here {round}")).await;
        let m = from(&mut x, "sam").await;
        assert_eq!(
            m.body.as_deref(),
            Some(format!("[DEMO-UK OFFICIAL] still here {round}").as_str())
        );
    }
    x.quit().await;
}
