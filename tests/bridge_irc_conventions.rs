//! What every IRC client sends, through the bridge to slixmpp and back, against the project's
//! ejabberd: `/me` as XEP-0245 and back, formatting removed with the words kept, other CTCP
//! answered by the gateway, DCC refused — nothing lost in silence.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/bridge.rs"]
mod bridge;
mod common;
#[path = "common/irc.rs"]
mod irc;
#[path = "common/scene.rs"]
mod scene;
#[path = "common/slix.rs"]
mod slix;
#[path = "common/support.rs"]
mod support;

use scene::Scene;
use slix::SlixLabel;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_formatting_and_ctcp_cross_as_an_xmpp_user_expects() {
    let mut sc = Scene::start("conventions", "SECRET, UK", "").await;
    let (pol, ops) = (sc.pol.clone(), sc.room());

    // /me, unmarked and marked.
    sc.sam.send("PRIVMSG #ops :\x01ACTION waves\x01").await;
    let m = sc.from("sam").await;
    assert_eq!(m.body.as_deref(), Some("/me [DEMO-UK OFFICIAL] waves"));
    assert_eq!(m.display.as_deref(), Some("DEMO-UK OFFICIAL"));
    sc.sam
        .send("PRIVMSG #ops :\x01ACTION [SECRET UK EYES ONLY] whispers\x01")
        .await;
    let m = sc.from("sam").await;
    assert_eq!(
        m.body.as_deref(),
        Some("/me [DEMO-UK SECRET - UK EYES ONLY] whispers")
    );
    assert_eq!(m.display.as_deref(), Some("DEMO-UK SECRET - UK EYES ONLY"));

    // Formatting removed, words kept; control characters an XMPP server refuses are gone.
    sc.sam
        .send("PRIVMSG #ops :\x02bold\x02 and \x0304,12colour\x03 \x1ditalic\x1d\x07\x0b\x0c\x1b!")
        .await;
    let m = sc.from("sam").await;
    assert_eq!(
        m.body.as_deref(),
        Some("[DEMO-UK OFFICIAL] bold and colour italic!")
    );

    // Other CTCP is answered by the gateway for the XMPP user; DCC is refused; neither crosses.
    sc.sam.send("PRIVMSG xavier :\x01VERSION\x01").await;
    let l = sc.sam.until(" NOTICE sam :\x01VERSION").await;
    assert!(l.starts_with(":xavier!"), "{l}");
    assert!(l.contains("labelgate"), "{l}");
    sc.sam.send("PRIVMSG xavier :\x01PING 12345\x01").await;
    assert!(
        sc.sam
            .until(" NOTICE sam :\x01PING")
            .await
            .ends_with("\x01PING 12345\x01")
    );
    sc.sam
        .send("PRIVMSG xavier :\x01DCC SEND secret.pdf 2130706433 5000 1234\x01")
        .await;
    let l = sc.sam.until("Not sent").await;
    assert!(
        l.contains("file transfer (DCC) does not cross the gateway"),
        "{l}"
    );
    sc.sam.send("PRIVMSG #ops :sentinel").await;
    let m = sc.from("sam").await;
    assert_eq!(
        m.body.as_deref(),
        Some("[DEMO-UK OFFICIAL] sentinel"),
        "no CTCP reached the room"
    );

    // XEP-0245 back to IRC: a /me from XMPP is a CTCP ACTION, marked.
    sc.x.send(&ops, "/me nods", Some(SlixLabel::marking(&pol, "OFFICIAL")))
        .await;
    let l = sc.sam.until("nods").await;
    assert!(
        l.ends_with(" PRIVMSG #ops :\x01ACTION [DEMO-UK OFFICIAL] nods\x01"),
        "{l:?}"
    );
    sc.x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_and_join_at_once_leaves_no_ghost() {
    let mut sc = Scene::start("cycle", "SECRET, UK", "").await;
    for round in 0..3 {
        // What /cycle sends: both lines at once.
        sc.sam
            .send_bytes(b"PART #ops :cycling\r\nJOIN #ops\r\n")
            .await;
        let seen = sc.sam.lines_until(" 366 ").await;
        assert!(
            !seen
                .iter()
                .any(|l| l.contains(" 403 ") || l.contains(" 405 ")),
            "{seen:#?}"
        );
        sc.sam
            .send(&format!("PRIVMSG #ops :still here {round}"))
            .await;
        let m = sc.from("sam").await;
        assert_eq!(
            m.body.as_deref(),
            Some(format!("[DEMO-UK OFFICIAL] still here {round}").as_str())
        );
    }
    sc.x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_are_shown_where_irc_users_look() {
    let extra = "catalog = [\"OFFICIAL\", \"SECRET\"]\nrestrict_to_catalog = true\n";
    let mut sc = Scene::start("labels", "SECRET, UK", extra).await;
    // Asked for: the channel's facts (the same words were given on join).
    sc.sam.send("LABELS #ops").await;
    let facts = sc.sam.until(":Labels in #ops").await;
    assert!(
        facts.starts_with(
            ":labelgate NOTICE #ops :Labels in #ops: a line without a marking goes \
             out as DEMO-UK OFFICIAL; the room carries labels up to SECRET; mark a line by \
             starting it with [MARKING]"
        ),
        "{facts}"
    );
    let catalog = sc.sam.until("Catalog of #ops").await;
    assert!(
        catalog.ends_with(
            ":Catalog of #ops: DEMO-UK OFFICIAL, DEMO-UK SECRET (only these may be used)"
        ),
        "{catalog}"
    );
    sc.sam.send("HELP LABELS").await;
    sc.sam.until(" 704 ").await;
    assert!(sc.sam.until(" 706 ").await.contains("End of /HELP"));

    // An unmarked line: a client without echo-message is told the label it went out with.
    sc.sam.send("PRIVMSG #ops :plain words").await;
    let l = sc.sam.until("sent as").await;
    assert_eq!(
        l,
        ":labelgate NOTICE #ops :#ops: sent as DEMO-UK OFFICIAL (no marking typed: the \
         channel's default label)"
    );
    assert_eq!(
        sc.from("sam").await.body.as_deref(),
        Some("[DEMO-UK OFFICIAL] plain words")
    );
    // A catalog refusal lists what may be used.
    sc.sam
        .send("PRIVMSG #ops :[SECRET UK EYES ONLY] not listed")
        .await;
    let l = sc.sam.until("Not sent").await;
    assert!(
        l.contains("only the labels of its catalog: DEMO-UK OFFICIAL, DEMO-UK SECRET"),
        "{l}"
    );
    sc.x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_join_burst_gives_the_topic_before_names_and_history_after() {
    let mut sc = Scene::start("burst", "SECRET, UK", "").await;
    let room = sc.room();
    sc.x.subject(&room, "the plan for today").await;
    assert!(
        sc.sam
            .until(" TOPIC #ops")
            .await
            .ends_with(":the plan for today")
    );
    sc.official("said before you came").await;
    sc.sam.until("said before you came").await;
    // A second login of the same account joins: the burst as a standalone ircd gives it.
    let mut late = irc::Raw::login(sc.gw.addr, "sam2", &sc.account, bridge::PASSWORD).await;
    late.send("JOIN #ops").await;
    let burst = late.lines_until("said before you came").await;
    let at = |needle: &str| {
        burst
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {burst:#?}"))
    };
    let (join, topic, who, names, end, facts, history) = (
        at(" JOIN #ops"),
        at(" 332 sam2 #ops :the plan for today"),
        at(" 333 sam2 #ops xavier "),
        at(" 353 "),
        at(" 366 "),
        at("Labels in #ops"),
        at("said before you came"),
    );
    assert!(
        join < topic && topic < who && who < names && names < end && end < facts && facts < history,
        "{burst:#?}"
    );
    assert!(
        !burst
            .iter()
            .any(|l| l.contains(" 331 ") || l.contains(" TOPIC ")),
        "{burst:#?}"
    );
    late.send("TOPIC #ops").await;
    late.until(" 332 ").await;
    assert!(late.until(" 333 ").await.contains(" 333 sam2 #ops xavier "));
    sc.x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_stays_a_notice_for_other_irc_users() {
    let mut sc = Scene::start("notice", "SECRET, UK", "").await;
    let mut other = irc::Raw::login(sc.gw.addr, "sam2", &sc.account, bridge::PASSWORD).await;
    other.send("JOIN #ops").await;
    other.until(" 366 ").await;
    sc.sam.send("NOTICE #ops :heads up, bots stay quiet").await;
    // XMPP clients see an ordinary message; IRC users of the gateway see a NOTICE.
    let m = sc.from("sam").await;
    assert_eq!(
        m.body.as_deref(),
        Some("[DEMO-UK OFFICIAL] heads up, bots stay quiet")
    );
    let l = other.until("heads up").await;
    assert!(
        l.starts_with(":sam!") && l.contains(" NOTICE #ops :[DEMO-UK OFFICIAL] heads up"),
        "{l}"
    );
    sc.sam.send("PRIVMSG #ops :and this one is a message").await;
    let l = other.until("and this one").await;
    assert!(l.contains(" PRIVMSG #ops :"), "{l}");
    sc.x.quit().await;
}
