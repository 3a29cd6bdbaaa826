//! What IRC users expect of one another and of the server, through the bridge to the project's
//! ejabberd and slixmpp: QUIT shown as QUIT with its reason, AWAY as XMPP presence and back
//! (away-notify, `G` in WHO, 301), `msgid` on messages, labelled answers (IRCv3
//! labeled-response with `batch`) for what the backend answers, 403 for an unmapped channel.

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
use irc::Raw;
use slix::{Slix, SlixLabel};

/// Registers with the capabilities `caps` asked for first.
async fn login_with(addr: std::net::SocketAddr, nick: &str, account: &str, caps: &str) -> Raw {
    let mut r = Raw::connect(addr).await;
    r.send("CAP LS 302").await;
    r.send(&format!("CAP REQ :{caps}")).await;
    r.until(" ACK ").await;
    r.send(&format!("PASS {account}:{PASSWORD}")).await;
    r.send(&format!("NICK {nick}")).await;
    r.send(&format!("USER {nick} 0 * :{nick}")).await;
    r.send("CAP END").await;
    r.until(" 376 ").await;
    r
}

/// A gateway with `#ops` (status may cross at the room's label) on a fresh room, slixmpp in it
/// as `xavier`, and two accounts.
async fn two_users(name: &str) -> (Gateway, jid::BareJid, Slix, String, String) {
    let pol = support::demo_policies();
    let room = room(&unique(name));
    let (sam, ann) = (unique("sam"), unique("ann"));
    let block = format!(
        "{}presence_status = \"room-label\"\n",
        channel("#ops", &room, "OFFICIAL", "SECRET, UK")
    );
    let gw =
        Gateway::on_test_server(pol, &block, &[(&sam, "SECRET, UK"), (&ann, "SECRET, UK")]).await;
    let mut x = Slix::start(server(), "carol").await;
    x.join(&room.to_string(), "xavier").await;
    (gw, room, x, sam, ann)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn away_and_quit_reach_irc_and_xmpp_users_as_they_expect() {
    let (gw, room, mut x, sam_account, ann_account) = two_users("away").await;
    let r = room.to_string();
    let mut sam = Raw::login(gw.addr, "sam", &sam_account, PASSWORD).await;
    sam.send("JOIN #ops").await;
    sam.until(" 366 ").await;
    let mut ann = login_with(gw.addr, "ann", &ann_account, "away-notify").await;
    ann.send("JOIN #ops").await;
    ann.until(" 366 ").await;

    // AWAY: the XMPP user sees the presence, the IRC user with away-notify an AWAY.
    sam.send("AWAY :at lunch").await;
    sam.until(" 306 ").await;
    let p = loop {
        // (sam's join presence may come first)
        let p = x.presence_of(&r, "sam", "available", 10).await;
        if !p["show"].is_null() {
            break p;
        }
    };
    assert_eq!(p["show"], "away", "{p}");
    assert_eq!(p["status"], "at lunch", "{p}");
    let l = ann.until(" AWAY").await;
    assert!(
        l.starts_with(":sam!") && l.ends_with(" AWAY :at lunch"),
        "{l}"
    );
    // WHO shows them gone, a message to them says so, WHOIS says it and what they are.
    ann.send("WHO #ops").await;
    let rows = ann.lines_until(" 315 ").await;
    let row = rows
        .iter()
        .find(|l| l.contains(" 352 ") && l.contains(" sam "))
        .unwrap();
    assert!(row.contains(" G"), "{row}");
    ann.send("PRIVMSG sam :are you there?").await;
    assert!(ann.until(" 301 ").await.ends_with(" 301 ann sam :at lunch"));
    ann.send("WHOIS sam").await;
    let whois = ann.lines_until(" 318 ").await;
    assert!(
        whois.iter().any(|l| l.ends_with(" 301 ann sam :at lunch")),
        "{whois:#?}"
    );
    assert!(
        whois
            .iter()
            .any(|l| l.contains(" 320 ann sam :is an XMPP user")),
        "{whois:#?}"
    );

    // An XMPP user going away reaches IRC the same way.
    x.raw(&format!(
        "<presence to='{r}/xavier'><show>xa</show><status>in a meeting</status></presence>"
    ))
    .await;
    let l = ann.until(" AWAY").await;
    assert!(
        l.starts_with(":xavier!") && l.ends_with(" AWAY :in a meeting"),
        "{l}"
    );
    x.raw(&format!("<presence to='{r}/xavier'/>")).await;
    let l = ann.until(" AWAY").await;
    assert!(l.starts_with(":xavier!") && l.ends_with(" AWAY"), "{l}");

    // Back.
    sam.send("AWAY").await;
    sam.until(" 305 ").await;
    let p = x.presence_of(&r, "sam", "available", 10).await;
    assert!(p["show"].is_null(), "{p}");
    let l = ann.until(" AWAY").await;
    assert!(l.starts_with(":sam!") && l.ends_with(" AWAY"), "{l}");

    // QUIT: IRC users see a QUIT with its reason (not a PART), XMPP users a leave with it.
    sam.send("QUIT :gone home").await;
    let l = ann.until("gone home").await;
    assert!(
        l.starts_with(":sam!") && l.ends_with(" QUIT :Quit: gone home"),
        "{l}"
    );
    let p = x.presence_of(&r, "sam", "unavailable", 10).await;
    assert_eq!(p["status"], "Quit: gone home", "{p}");
    x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_labelled_messages_carry_msgid_and_unmapped_channels_are_403() {
    let (gw, room, mut x, sam_account, ann_account) = two_users("labelled").await;
    let r = room.to_string();
    let pol = support::demo_policies();
    let caps = "labeled-response batch echo-message message-tags";
    let mut sam = login_with(gw.addr, "sam", &sam_account, caps).await;
    let mut ann = login_with(gw.addr, "ann", &ann_account, "message-tags").await;
    ann.send("JOIN #ops").await;
    ann.until(" 366 ").await;

    // A PING sent right after a JOIN is answered after the JOIN's burst (clients synchronise on
    // it, as with a standalone ircd); after a message, after its echo.
    ann.send_bytes(b"PART #ops\r\nJOIN #ops\r\nPING sync1\r\n")
        .await;
    let seen = ann.lines_until("PONG").await;
    assert!(
        seen.iter().any(|l| l.contains(" 366 ann #ops ")),
        "{seen:#?}"
    );
    assert!(seen.last().unwrap().ends_with(" sync1"), "{seen:#?}");

    // A labelled JOIN: its burst is one labeled-response batch.
    sam.send("@label=j1 JOIN #ops").await;
    let mut burst = sam.lines_until("BATCH -").await;
    let at = burst.iter().position(|l| l.contains(" BATCH +")).unwrap();
    burst.drain(..at);
    let start = &burst[0];
    assert!(
        start.starts_with("@label=j1 :")
            && start.contains(" BATCH +")
            && start.ends_with(" labeled-response"),
        "{burst:#?}"
    );
    let id = start
        .split(" BATCH +")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    for needle in [" JOIN #ops", " 353 ", " 366 "] {
        let l = burst
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{burst:#?}"));
        assert!(l.starts_with(&format!("@batch={id}")), "{l}");
    }
    assert!(
        burst.last().unwrap().ends_with(&format!(" BATCH -{id}")),
        "{burst:#?}"
    );

    // A labelled message: its echo is the answer, with the label and the room's msgid; the
    // other reader gets the same msgid.
    sam.send("@label=m1 PRIVMSG #ops :hello all").await;
    let echo = sam.until("hello all").await;
    assert!(
        echo.starts_with("@label=m1;") || echo.contains(";label=m1"),
        "{echo}"
    );
    let msgid = |l: &str| {
        l.trim_start_matches('@')
            .split(' ')
            .next()
            .unwrap()
            .split(';')
            .find_map(|t| t.strip_prefix("msgid=").map(str::to_owned))
            .unwrap_or_else(|| panic!("no msgid in {l}"))
    };
    let seen = ann.until("hello all").await;
    assert_eq!(msgid(&echo), msgid(&seen));
    sam.send_bytes(b"PRIVMSG #ops :then a ping\r\nPING sync2\r\n")
        .await;
    let seen = sam.lines_until("PONG").await;
    assert!(seen.iter().any(|l| l.contains("then a ping")), "{seen:#?}");
    // A private message's echo is made by the gateway (no room reflects it): labelled, with
    // the marking it went out with and the msgid its receiver sees.
    sam.send("@label=p1 PRIVMSG ann :psst").await;
    let echo = sam.until("psst").await;
    assert!(echo.starts_with("@label=p1;"), "{echo}");
    assert!(
        echo.ends_with(" PRIVMSG ann :[DEMO-UK OFFICIAL] psst"),
        "{echo}"
    );
    let got = ann.until("psst").await;
    assert_eq!(msgid(&echo), msgid(&got));
    sam.send_bytes(b"TOPIC #ops :the new plan\r\nPING sync3\r\n")
        .await;
    let seen = sam.lines_until("PONG").await;
    assert!(
        seen.iter().any(|l| l.contains(" TOPIC #ops :the new plan")),
        "{seen:#?}"
    );
    // From XMPP, too.
    x.send(&r, "from xmpp", Some(SlixLabel::marking(&pol, "OFFICIAL")))
        .await;
    let a = ann.until("from xmpp").await;
    let s = sam.until("from xmpp").await;
    assert_eq!(msgid(&a), msgid(&s));

    // Answered by the backend: TOPIC of an unmapped channel is 403, labelled; of a mapped one
    // not joined, 442.
    sam.send("@label=t1 TOPIC #unmapped").await;
    let l = sam.until(" 403 ").await;
    assert!(
        l.starts_with("@label=t1 :") && l.contains(" 403 sam #unmapped "),
        "{l}"
    );
    ann.send("PART #ops").await;
    ann.until(" PART ").await;
    ann.send("TOPIC #ops").await;
    assert!(ann.until(" 442 ").await.contains(" 442 ann #ops "));
    ann.send("TOPIC #unmapped :new topic").await;
    assert!(ann.until(" 403 ").await.contains(" 403 ann #unmapped "));
    // Answered here: a single reply carries the label.
    sam.send("@label=a1 AWAY :brb").await;
    let l = sam.until(" 306 ").await;
    assert!(l.starts_with("@label=a1 :"), "{l}");
    // LIST from the backend: one batch.
    sam.send("@label=l1 LIST").await;
    let list = sam.lines_until("BATCH -").await;
    let start = list.iter().find(|l| l.contains(" BATCH +")).unwrap();
    assert!(start.starts_with("@label=l1 :"), "{list:#?}");
    assert!(
        list.iter().any(|l| l.contains(" 322 sam #ops ")),
        "{list:#?}"
    );
    x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_and_invite_are_the_rooms_moderation() {
    let pol = support::demo_policies();
    let (a, b) = (room(&unique("kick")), room(&unique("two")));
    let (sam_account, ann_account) = (unique("sam"), unique("ann"));
    let block = format!(
        "{}presence_status = \"room-label\"\n\n{}",
        channel("#ops", &a, "OFFICIAL", "SECRET, UK"),
        channel("#two", &b, "OFFICIAL", "SECRET, UK")
    );
    let accounts = [(&*sam_account, "SECRET, UK"), (&*ann_account, "SECRET, UK")];
    let gw = Gateway::on_test_server(pol, &block, &accounts).await;
    let (ra, rb) = (a.to_string(), b.to_string());
    let mut x = Slix::start(server(), "carol").await;
    x.join(&ra, "xavier").await;
    let mut sam = Raw::login(gw.addr, "sam", &sam_account, PASSWORD).await;
    sam.send("JOIN #ops").await;
    sam.until(" 366 ").await;
    let mut ann = Raw::login(gw.addr, "ann", &ann_account, PASSWORD).await;
    ann.send("JOIN #ops").await;
    ann.until(" 366 ").await;
    sam.until(" JOIN #ops").await;

    // Not a moderator of the room: 482; someone not in the channel: 441.
    sam.send("KICK #ops ann :out").await;
    assert!(
        sam.until(" 482 ")
            .await
            .contains(" 482 sam #ops :You are not a moderator")
    );
    sam.send("KICK #ops nobody").await;
    assert!(sam.until(" 441 ").await.contains(" 441 sam nobody #ops "));
    // Oneself: said so, not that one is not in the room.
    sam.send("KICK #ops SAM").await;
    let l = sam.until("yourself").await;
    assert!(
        l.contains("[#ops] Not sent: you cannot kick yourself"),
        "{l}"
    );
    sam.send("KICK #elsewhere ann").await;
    assert!(
        sam.until(" 403 ")
            .await
            .contains(" 403 sam #elsewhere :No room is mapped")
    );
    sam.send("INVITE ann #two").await;
    assert!(sam.until(" 442 ").await.contains(" 442 sam #two "));

    // The owner makes sam an admin (a moderator, who may also invite); sam's KICK is then the
    // room's kick, with its reason.
    x.raw(&format!(
        "<iq type='set' to='{ra}' id='mod1'><query xmlns='http://jabber.org/protocol/muc#admin'>\
         <item jid='{sam_account}@labelgate.test' affiliation='admin'/></query></iq>"
    ))
    .await;
    loop {
        let p = x.presence_of(&ra, "sam", "available", 10).await;
        if p["role"] == "moderator" {
            break;
        }
    }
    sam.send("KICK #ops ann :enough for today").await;
    let l = ann.until(" KICK ").await;
    assert!(l.contains(" KICK #ops ann :enough for today"), "{l}");
    let p = x.presence_of(&ra, "ann", "unavailable", 10).await;
    assert!(p["codes"].as_array().unwrap().contains(&307.into()), "{p}");
    assert_eq!(p["reason"], "enough for today", "{p}");
    assert!(
        sam.until(" KICK ")
            .await
            .contains(" KICK #ops ann :enough for today")
    );

    // INVITE: a mediated invitation to someone whose address a shared room shows (sam owns
    // the room of #two, so sees real addresses there).
    sam.send("JOIN #two").await;
    sam.until(" 366 ").await;
    let mut d = Slix::start(server(), "dave").await;
    d.join(&rb, "dora").await;
    sam.until(" JOIN #two").await;
    // The room shows sam dora's address: WHOIS gives it as her account.
    sam.send("WHOIS dora").await;
    let whois = sam.lines_until(" 318 ").await;
    assert!(
        whois
            .iter()
            .any(|l| l.contains(" 330 sam dora dave@labelgate.test ")),
        "{whois:#?}"
    );
    sam.send("INVITE dora #ops").await;
    let l = sam.until(" 341 ").await;
    assert!(l.contains(" 341 sam dora ") && l.ends_with("#ops"), "{l}");
    let (to, from) = d.invitation(10).await;
    assert_eq!(to, ra);
    assert!(from.starts_with(&sam_account), "{from}");
    // Already there: 443; an address the rooms do not show: refused in words.
    sam.send("INVITE xavier #ops").await;
    assert!(sam.until(" 443 ").await.contains(" 443 sam xavier #ops "));
    sam.send("INVITE xavier #two").await;
    let l = sam.until("cannot invite").await;
    assert!(l.contains("do not show their XMPP address"), "{l}");
    d.quit().await;
    x.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_counts_the_people_in_rooms_not_joined() {
    let (gw, room, mut x, sam_account, _) = two_users("list").await;
    let _ = (&room, &mut x);
    let mut sam = Raw::login(gw.addr, "sam", &sam_account, PASSWORD).await;
    sam.send("LIST").await;
    let l = sam.until(" 322 ").await;
    assert!(
        l.contains(" 322 sam #ops 1 :"),
        "xavier is in the room: {l}"
    );
    x.quit().await;
}
