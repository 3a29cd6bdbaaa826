//! The access decision, end to end, for every label and clearance: three IRC users of
//! different clearances (raw IRC clients through labelgate) and an XMPP user (slixmpp, an
//! independent client library) in one room on the project's ejabberd. Every message is
//! delivered to exactly those whose clearance dominates its label — live, between IRC users,
//! and in the history replayed on join — and nobody can send above their clearance.

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

use std::collections::HashMap;

use bridge::{Gateway, PASSWORD};
use common::{room, server, unique};
use slix::{Slix, SlixLabel};

/// The three IRC users' clearances: OFFICIAL, SECRET with UK, TOP SECRET with every national
/// caveat and OVERLORD.
const CLEARANCES: [&str; 3] = [
    "OFFICIAL",
    "SECRET, UK",
    "TOP SECRET, National Caveats:*, OVERLORD",
];
const NICKS: [&str; 3] = ["uma", "sam", "tia"];

/// One label of the matrix and who may see it (by index into [`CLEARANCES`]).
struct Row {
    id: &'static str,
    label: RowLabel,
    /// The FLOT prefix it is shown under.
    flot: &'static str,
    seen_by: [bool; 3],
}

enum RowLabel {
    Marking(&'static str),
    /// No label: the room's default (OFFICIAL).
    None,
    /// A label element whose ESS content is not base64 DER: fails closed.
    Unreadable,
}

const ROWS: &[Row] = &[
    Row {
        id: "r1",
        label: RowLabel::Marking("OFFICIAL"),
        flot: "[DEMO-UK OFFICIAL]",
        seen_by: [true, true, true],
    },
    Row {
        id: "r2",
        label: RowLabel::Marking("OFFICIAL SENSITIVE COMMERCIAL"),
        flot: "[DEMO-UK OFFICIAL-SENSITIVE COMMERCIAL]",
        seen_by: [false, false, false],
    },
    Row {
        id: "r3",
        label: RowLabel::Marking("SECRET"),
        flot: "[DEMO-UK SECRET]",
        seen_by: [false, true, true],
    },
    Row {
        id: "r4",
        label: RowLabel::Marking("SECRET UK EYES ONLY"),
        flot: "[DEMO-UK SECRET - UK EYES ONLY]",
        seen_by: [false, true, true],
    },
    Row {
        id: "r5",
        label: RowLabel::Marking("SECRET US EYES ONLY"),
        flot: "[DEMO-UK SECRET - US EYES ONLY]",
        seen_by: [false, false, true],
    },
    Row {
        id: "r6",
        label: RowLabel::Marking("SECRET OVERLORD"),
        flot: "[DEMO-UK SECRET OVERLORD]",
        seen_by: [false, false, true],
    },
    Row {
        id: "r7",
        label: RowLabel::Marking("TOP SECRET"),
        flot: "[DEMO-UK TOP SECRET]",
        seen_by: [false, false, true],
    },
    Row {
        id: "r8",
        label: RowLabel::None,
        flot: "[DEMO-UK OFFICIAL]",
        seen_by: [true, true, true],
    },
    Row {
        id: "r9",
        label: RowLabel::Unreadable,
        flot: "",
        seen_by: [false, false, false],
    },
];

fn row(id: &str) -> &'static Row {
    ROWS.iter().find(|r| r.id == id).unwrap()
}

/// A room message's row id: the last word of its body (`... r3`).
fn row_of(body: &str) -> &'static Row {
    row(body.rsplit(' ').next().unwrap())
}

/// Reads a client's lines until it has seen `ends` `PRIVMSG #matrix` lines ending in `end` and
/// `refusals` "Not sent" notices; returns (sender nick, text) of each channel message. With
/// `timed`, every channel message must carry a server-time tag.
async fn collect(
    c: &mut irc::Raw,
    end: &str,
    ends: usize,
    refusals: usize,
    timed: bool,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let (mut seen, mut refused) = (0, 0);
    while seen < ends || refused < refusals {
        let l = c.line().await.expect("connection closed");
        if l.contains(" NOTICE ") && l.contains("Not sent: ") {
            refused += 1;
            continue;
        }
        let Some((head, text)) = l.split_once(" PRIVMSG #matrix :") else {
            continue;
        };
        assert!(!timed || head.starts_with("@time="), "no server-time: {l}");
        let nick = head
            .rsplit_once(':')
            .unwrap()
            .1
            .split('!')
            .next()
            .unwrap()
            .to_owned();
        if text.ends_with(end) {
            seen += 1;
        }
        out.push((nick, text.to_owned()));
    }
    assert_eq!(refused, refusals, "refusals");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_label_reaches_exactly_the_cleared_users_live_and_in_history() {
    let pol = support::demo_policies();
    // The table agrees with the access decision (the table is the test's own statement).
    for r in ROWS {
        if let RowLabel::Marking(m) = r.label {
            let label = pol.primary().parse_marking(m).unwrap();
            for (i, c) in CLEARANCES.iter().enumerate() {
                let c = labelgate::label::Clearance::parse(pol.primary(), c).unwrap();
                assert_eq!(pol.check(&c, &label).is_ok(), r.seen_by[i], "{m} / {c:?}");
            }
        }
    }
    let room_jid = room(&unique("matrix"));
    let mapping = format!(
        "[[channel]]\nirc = \"#matrix\"\nroom = \"{room_jid}\"\ndefault_label = \"OFFICIAL\"\nclearance = \"{}\"\nhistory = 60\n",
        CLEARANCES[2]
    );
    let accounts: Vec<String> = NICKS.iter().map(|n| unique(n)).collect();
    let table: Vec<(&str, &str)> = accounts
        .iter()
        .zip(CLEARANCES)
        .map(|(a, c)| (a.as_str(), c))
        .collect();
    let gw = Gateway::on_test_server(pol.clone(), &mapping, &table).await;

    let mut xmpp = Slix::start(server(), "dave").await;
    xmpp.join(room_jid.as_str(), "dave").await;
    let mut ircs = Vec::new();
    for (nick, account) in NICKS.iter().zip(&accounts) {
        let mut c = irc::Raw::login(gw.addr, nick, account, PASSWORD).await;
        c.send("JOIN #matrix").await;
        c.until(" 366 ").await;
        ircs.push(c);
    }

    // XMPP -> IRC: one message per row, then a sentinel everyone may see.
    for r in ROWS {
        let label = match r.label {
            RowLabel::Marking(m) => Some(SlixLabel::marking(&pol, m)),
            RowLabel::None => None,
            RowLabel::Unreadable => Some(SlixLabel::Raw("%%% not base64 %%%".into())),
        };
        xmpp.send(room_jid.as_str(), &format!("from dave {}", r.id), label)
            .await;
    }
    xmpp.send(
        room_jid.as_str(),
        "dave done",
        Some(SlixLabel::marking(&pol, "OFFICIAL")),
    )
    .await;
    for (i, c) in ircs.iter_mut().enumerate() {
        let got = collect(c, "dave done", 1, 0, false).await;
        let want: Vec<(String, String)> = ROWS
            .iter()
            .filter(|r| r.seen_by[i])
            .map(|r| ("dave".to_owned(), format!("{} from dave {}", r.flot, r.id)))
            .chain([("dave".to_owned(), "[DEMO-UK OFFICIAL] dave done".to_owned())])
            .collect();
        assert_eq!(got, want, "{} ({})", NICKS[i], CLEARANCES[i]);
    }

    // IRC -> XMPP (and IRC -> IRC through the room): each user types every row's marking,
    // an unknown marking, and a sentinel. Only what their clearance and the room's allow is
    // sent; the rest is refused in words (counted below).
    for (i, c) in ircs.iter_mut().enumerate() {
        let me = NICKS[i];
        for r in ROWS {
            match r.label {
                RowLabel::Marking(m) => {
                    c.send(&format!("PRIVMSG #matrix :[{m}] {me} {}", r.id))
                        .await
                }
                RowLabel::None => c.send(&format!("PRIVMSG #matrix :{me} {}", r.id)).await,
                RowLabel::Unreadable => {
                    c.send(&format!("PRIVMSG #matrix :[BANANA] {me} {}", r.id))
                        .await
                }
            }
        }
        c.send(&format!("PRIVMSG #matrix :{me} done")).await;
    }
    // The XMPP user hears, in room order, exactly the allowed messages, each with the label
    // the marking names (ESS and display marking).
    let mut room_order: Vec<(String, String)> = Vec::new();
    let mut per_sender: HashMap<String, Vec<String>> = HashMap::new();
    let mut done = 0;
    while done < 3 {
        let m = xmpp.message(20).await;
        if m.kind != "groupchat" || m.nick == "dave" {
            continue;
        }
        let body = m.body.clone().unwrap();
        if body.ends_with(" done") {
            done += 1;
            continue;
        }
        let r = row_of(&body);
        let marking = match r.label {
            RowLabel::Marking(m) => m,
            RowLabel::None => "OFFICIAL",
            RowLabel::Unreadable => panic!("an unknown marking reached the room: {body}"),
        };
        let want = pol.primary().parse_marking(marking).unwrap();
        assert_eq!(m.ess.as_deref(), Some(want.to_base64().as_str()), "{body}");
        assert_eq!(
            m.display.as_deref(),
            Some(r.flot.trim_matches(['[', ']'])),
            "{body}"
        );
        assert!(body.starts_with(&format!("{} ", r.flot)), "{body}");
        room_order.push((m.nick.clone(), body.clone()));
        per_sender.entry(m.nick).or_default().push(r.id.to_owned());
    }
    for (i, me) in NICKS.iter().enumerate() {
        let want: Vec<String> = ROWS
            .iter()
            .filter(|r| r.seen_by[i])
            .map(|r| r.id.to_owned())
            .collect();
        assert_eq!(
            per_sender.get(*me).cloned().unwrap_or_default(),
            want,
            "{me}"
        );
    }
    // Each IRC user saw the others' messages only where cleared, in the room's order.
    for (i, c) in ircs.iter_mut().enumerate() {
        let others = NICKS.iter().filter(|n| **n != NICKS[i]).count();
        let refused = ROWS.iter().filter(|r| !r.seen_by[i]).count();
        let got: Vec<(String, String)> = collect(c, " done", others, refused, false)
            .await
            .into_iter()
            .filter(|(_, t)| !t.ends_with(" done"))
            .collect();
        let want: Vec<(String, String)> = room_order
            .iter()
            .filter(|(n, b)| n != NICKS[i] && row_of(b).seen_by[i])
            .cloned()
            .collect();
        assert_eq!(got, want, "{} ({})", NICKS[i], CLEARANCES[i]);
    }

    // History on join: the same filter, with server-time, for a second login of each user.
    for (i, account) in accounts.iter().enumerate() {
        let nick = format!("{}2", NICKS[i]);
        let mut c = irc::Raw::login(gw.addr, &nick, account, PASSWORD).await;
        c.send("CAP REQ server-time").await;
        c.until(" ACK ").await;
        c.send("JOIN #matrix").await;
        c.until(" 366 ").await;
        // History holds four sentinels: dave's and the three typed on IRC.
        let got = collect(&mut c, " done", 4, 0, true).await;
        let mut want = Vec::new();
        for r in ROWS.iter().filter(|r| r.seen_by[i]) {
            want.push(("dave".to_owned(), format!("{} from dave {}", r.flot, r.id)));
        }
        want.push(("dave".to_owned(), "[DEMO-UK OFFICIAL] dave done".to_owned()));
        let typed: Vec<(String, String)> = room_order
            .iter()
            .filter(|(_, b)| row_of(b).seen_by[i])
            .cloned()
            .collect();
        want.extend(typed);
        let got_no_done: Vec<(String, String)> = got
            .into_iter()
            .filter(|(n, t)| n == "dave" || !t.ends_with(" done"))
            .collect();
        assert_eq!(
            got_no_done, want,
            "history for {} ({})",
            nick, CLEARANCES[i]
        );
    }

    // Every withheld delivery was audited as a denial.
    let recs = gw.records();
    for (i, account) in accounts.iter().enumerate() {
        let denied = recs
            .iter()
            .filter(|r| {
                r["account"] == account.as_str()
                    && r["decision"] == "deny"
                    && r["direction"] == "xmpp-to-irc"
            })
            .count();
        let withheld = ROWS.iter().filter(|r| !r.seen_by[i]).count();
        assert!(denied >= withheld, "{}: {denied} < {withheld}", NICKS[i]);
    }
    xmpp.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_messages_and_topic_with_an_xmpp_client() {
    let pol = support::demo_policies();
    let room_jid = room(&unique("pm"));
    let (s_acct, u_acct) = (unique("sam"), unique("uma"));
    let gw = Gateway::on_test_server(
        pol.clone(),
        &bridge::channel("#pm", &room_jid, "OFFICIAL", "SECRET, UK"),
        &[(&s_acct, CLEARANCES[1]), (&u_acct, CLEARANCES[0])],
    )
    .await;
    let mut xmpp = Slix::start(server(), "carol").await;
    xmpp.join(room_jid.as_str(), "carol").await;
    let mut sam = irc::Raw::login(gw.addr, "sam", &s_acct, PASSWORD).await;
    let mut uma = irc::Raw::login(gw.addr, "uma", &u_acct, PASSWORD).await;
    for c in [&mut sam, &mut uma] {
        c.send("JOIN #pm").await;
        c.until(" 366 ").await;
    }

    // XMPP -> IRC private messages: labelled, and withheld where the receiver is not cleared.
    let secret = || Some(SlixLabel::marking(&pol, "SECRET UK EYES ONLY"));
    xmpp.private(room_jid.as_str(), "sam", "psst sam", secret())
        .await;
    xmpp.private(room_jid.as_str(), "uma", "psst uma", secret())
        .await;
    xmpp.private(
        room_jid.as_str(),
        "uma",
        "hello uma",
        Some(SlixLabel::marking(&pol, "OFFICIAL")),
    )
    .await;
    let l = sam.until("PRIVMSG sam").await;
    assert!(
        l.starts_with(":carol!") && l.ends_with(" :[DEMO-UK SECRET - UK EYES ONLY] psst sam"),
        "{l}"
    );
    let l = uma.until("PRIVMSG uma").await;
    assert!(
        l.ends_with(" :[DEMO-UK OFFICIAL] hello uma"),
        "withheld PM shown: {l}"
    );
    // The sender of the withheld one is told, by uma's occupant, in the gateway's words at the
    // room's label: never its text or its label.
    let told = loop {
        let m = xmpp.message(20).await;
        if m.kind == "chat" {
            break m;
        }
    };
    assert_eq!(told.nick, "uma");
    let body = told.body.clone().unwrap_or_default();
    assert_eq!(
        body,
        "(labelgate) uma did not receive your private message: their clearance does not cover its label. It was withheld by the gateway."
    );
    let official = pol.primary().parse_marking("OFFICIAL").unwrap();
    assert_eq!(told.ess.as_deref(), Some(official.to_base64().as_str()));

    // The same between two IRC users: sam's withheld line draws a NOTICE from uma; a NOTICE,
    // withheld too, draws none (notices are never answered, so no two gateways loop).
    sam.send("PRIVMSG uma :[SECRET UK EYES ONLY] not for uma")
        .await;
    let l = sam.until("did not receive").await;
    assert!(
        l.starts_with(":uma!")
            && l.contains(" NOTICE sam :[DEMO-UK OFFICIAL] (labelgate) uma did not receive your private message: their clearance does not cover its label."),
        "{l}"
    );
    // A notice, withheld too: uma's occupant says nothing back. Ordered checks: uma gets a
    // later line of sam's, then answers; an answer to the notice would reach sam before that.
    sam.send("NOTICE uma :[SECRET UK EYES ONLY] a notice not for uma")
        .await;
    sam.send("PRIVMSG uma :[DEMO-UK OFFICIAL] for uma").await;
    let seen = uma.lines_until("for uma").await;
    assert!(
        seen.last()
            .is_some_and(|l| l.ends_with(" :[DEMO-UK OFFICIAL] for uma"))
            && !seen.iter().any(|l| l.contains("not for uma")),
        "{seen:#?}"
    );
    uma.send("PRIVMSG sam :[DEMO-UK OFFICIAL] sync").await;
    let seen = sam.lines_until("sync").await;
    assert!(
        !seen.iter().any(|l| l.contains("did not receive")),
        "{seen:#?}"
    );

    // IRC -> XMPP private messages carry the typed label; above the sender's clearance they
    // are refused.
    uma.send("PRIVMSG carol :[SECRET] no").await;
    assert!(uma.until("Not sent").await.contains("your clearance"));
    sam.send("PRIVMSG carol :[SECRET UK EYES ONLY] reply").await;
    let m = loop {
        let m = xmpp.message(20).await;
        if m.kind == "chat" {
            break m;
        }
    };
    assert_eq!(m.nick, "sam");
    assert_eq!(
        m.body.as_deref(),
        Some("[DEMO-UK SECRET - UK EYES ONLY] reply")
    );
    let want = pol.primary().parse_marking("SECRET UK EYES ONLY").unwrap();
    assert_eq!(m.ess.as_deref(), Some(want.to_base64().as_str()));

    // Topic both ways.
    xmpp.subject(room_jid.as_str(), "set on XMPP").await;
    for c in [&mut sam, &mut uma] {
        let l = c.until(" TOPIC #pm").await;
        assert!(
            l.starts_with(":carol!") && l.ends_with(" :set on XMPP"),
            "{l}"
        );
    }
    sam.send("TOPIC #pm :set on IRC").await;
    let subject = loop {
        let m = xmpp.message(20).await;
        if let Some(s) = m.subject
            && m.nick == "sam"
        {
            break s;
        }
    };
    assert_eq!(subject, "set on IRC");
    // Formatting goes before the marking is read (a bold marking is the marking it shows), and
    // no control character goes on toward the room.
    sam.send("TOPIC #pm :\x02[SECRET UK EYES ONLY]\x02 bold \x0304topic\x0f")
        .await;
    let m = loop {
        let m = xmpp.message(20).await;
        if m.subject.is_some() && m.nick == "sam" {
            break m;
        }
    };
    assert_eq!(
        m.subject.as_deref(),
        Some("[DEMO-UK SECRET - UK EYES ONLY] bold topic")
    );
    let want = pol.primary().parse_marking("SECRET UK EYES ONLY").unwrap();
    assert_eq!(m.ess.as_deref(), Some(want.to_base64().as_str()));
    xmpp.quit().await;
}
