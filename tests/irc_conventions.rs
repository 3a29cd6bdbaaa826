//! IRC server conventions (modern IRC documentation, IRCv3) the front-end follows, over raw
//! sockets against the real listener: TIME, TAGMSG, the ban/exception/invite list ends, WHO
//! masks, registration edge cases, unknown commands with tags, over-long client tags.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/irc.rs"]
mod irc;

use irc::{Raw, config, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_answer_with_the_standard_numerics() {
    let s = start(config()).await;
    let mut a = Raw::login(s.plain, "alice", "alice", "alice-pw").await;
    let mut b = Raw::login(s.plain, "bob", "bob", "bob-pw").await;
    for c in [&mut a, &mut b] {
        c.send("JOIN #ops").await;
        c.until(" 366 ").await;
    }
    // Alice's view of the channel has bob once his JOIN has reached her; her WHO is read
    // alongside what is delivered to her, so wait for it rather than race it.
    assert!(a.until(" JOIN ").await.starts_with(":bob!"));
    a.send("TIME").await;
    let l = a.until(" 391 ").await;
    assert!(l.starts_with(":labelgate 391 alice labelgate :20"), "{l}");

    a.send("MODE #ops e").await;
    assert!(
        a.until(" 349 ")
            .await
            .contains("#ops :End of channel exception list")
    );
    a.send("MODE #ops I").await;
    assert!(
        a.until(" 347 ")
            .await
            .contains("#ops :End of channel invite")
    );
    a.send("MODE #ops b").await;
    assert!(
        a.until(" 368 ")
            .await
            .contains("#ops :End of channel ban list")
    );

    a.send("WHO *").await;
    let mut nicks = Vec::new();
    loop {
        let l = a.line().await.unwrap();
        if l.contains(" 315 ") {
            break;
        }
        if l.contains(" 352 ") {
            nicks.push(l.split(' ').nth(7).unwrap().to_owned());
        }
    }
    nicks.sort();
    assert_eq!(nicks, ["alice", "bob"]);
    a.send("WHO b?b").await;
    let l = a.until(" 352 ").await;
    assert!(l.contains(" bob H"), "{l}");
    assert!(a.until(" 315 ").await.contains("b?b :End of WHO list"));

    // TAGMSG is understood: nothing to say back when it is fine, the usual refusal when not.
    a.send("@+typing=active TAGMSG #ops").await;
    a.send("@+typing=active TAGMSG #elsewhere").await;
    assert!(a.until(" 404 ").await.contains("#elsewhere"));
    // Any other client-only tag does not cross (CLIENTTAGDENY=*,-typing): a TAGMSG carrying
    // only such tags is refused in words, not dropped unseen.
    a.send("@+draft/react=convoy TAGMSG #ops").await;
    let l = a.until("client-only tags").await;
    assert!(
        l.contains("#ops") && l.contains("Not sent: client-only tags other than +typing"),
        "{l}"
    );
    // Text outside a CTCP message's delimiters is refused in words, not half sent.
    a.send("PRIVMSG #ops :\x01ACTION\x01 [SECRET] words").await;
    let l = a.until("CTCP delimiter").await;
    assert!(
        l.contains("#ops") && l.contains("Not sent: the line holds a CTCP delimiter (\\x01)"),
        "{l}"
    );
    a.send("@label=x1 NONEXISTENT_COMMAND with args").await;
    let l = a.until(" 421 ").await;
    assert!(l.contains("NONEXISTENT_COMMAND :Unknown command"), "{l}");
    // With labeled-response, even a command the parser refuses is answered with its label.
    a.send("CAP REQ :labeled-response batch").await;
    a.until(" ACK ").await;
    a.send("@label=x2 NONEXISTENT_COMMAND").await;
    let l = a.until(" 421 ").await;
    assert!(l.starts_with("@label=x2 :"), "{l}");
    // No history of nicks is kept; there are no IRC operators.
    a.send("WHOWAS someone").await;
    assert!(a.until(" 406 ").await.contains(" 406 alice someone :"));
    assert!(a.until(" 369 ").await.contains(" 369 alice someone :"));
    a.send("OPER admin secret").await;
    assert!(a.until(" 491 ").await.contains("no IRC operators"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_edge_cases_get_their_numerics() {
    let s = start(config()).await;
    // An empty realname: 461.
    let mut c = Raw::connect(s.plain).await;
    c.send("USER u 0 * :").await;
    assert!(c.until(" 461 ").await.contains("USER"));
    // A password without the account: a hint, then 464.
    let mut c = Raw::connect(s.plain).await;
    c.send("PASS alice-pw").await;
    c.send("NICK hinted").await;
    c.send("USER h 0 * :h").await;
    let l = c.until("PASS must be").await;
    assert!(l.contains("account:password"), "{l}");
    c.until(" 464 ").await;
    // A client tag section over 4094 bytes: 417, and the connection lives.
    let mut c = Raw::login(s.plain, "carol", "carol", "carol-pw").await;
    c.send(&format!("@+x={} PING a", "y".repeat(4096))).await;
    c.until(" 417 ").await;
    c.send("PING alive").await;
    assert!(c.until("PONG").await.ends_with(" alive"));

    // CAP END while SASL is under way: the exchange is aborted (906), registration goes on
    // (here with PASS).
    let mut c = Raw::connect(s.plain).await;
    c.send("CAP LS 302").await;
    c.send("CAP REQ sasl").await;
    c.until(" ACK ").await;
    c.send("PASS alice:alice-pw").await;
    c.send("NICK midsasl").await;
    c.send("USER m 0 * :m").await;
    c.send("AUTHENTICATE PLAIN").await;
    assert_eq!(c.line().await.unwrap(), "AUTHENTICATE +");
    c.send("CAP END").await;
    c.until(" 906 ").await;
    c.until(" 001 ").await;

    // A payload that never ends (400-byte chunks past 4096 bytes): 904, a failed exchange;
    // one chunk over 400 bytes: 905.
    let mut c = Raw::connect(s.plain).await;
    c.send("CAP REQ sasl").await;
    c.until(" ACK ").await;
    c.send("AUTHENTICATE PLAIN").await;
    c.line().await;
    for _ in 0..11 {
        c.send(&format!("AUTHENTICATE {}", "A".repeat(400))).await;
    }
    let l = c.until(" 90").await;
    assert!(l.contains(" 904 "), "{l}");
    c.send("AUTHENTICATE PLAIN").await;
    c.line().await;
    c.send(&format!("AUTHENTICATE {}", "A".repeat(450))).await;
    c.until(" 905 ").await;

    // A real name that is not UTF-8: FAIL USER INVALID_UTF8, and USER can be sent again.
    let mut c = Raw::connect(s.plain).await;
    c.send("PASS alice:alice-pw").await;
    c.send("NICK latin1").await;
    c.send_bytes(b"USER u 0 * :i\xe8rc\xe9\r\n").await;
    let l = c.until("FAIL").await;
    assert!(l.contains(" FAIL USER INVALID_UTF8 :"), "{l}");
    c.send("USER u 0 * :irc").await;
    c.until(" 001 ").await;
    // Any other line that is not UTF-8: FAIL with its command, labelled when asked.
    c.send("CAP REQ :labeled-response batch").await;
    c.until(" ACK ").await;
    c.send_bytes(b"@label=u8 PRIVMSG #x :hi\xaa\r\n").await;
    let l = c.until("FAIL").await;
    assert!(
        l.starts_with("@label=u8 :") && l.contains(" FAIL PRIVMSG INVALID_UTF8 :"),
        "{l}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_takes_its_mask_and_a_long_topic_is_refused_not_cut() {
    let s = start(config()).await;
    let mut a = Raw::login(s.plain, "alice", "alice", "alice-pw").await;
    a.send("JOIN #ops,#other").await;
    a.until("#other :End of").await;
    a.send("LIST #ot*").await;
    a.until(" 321 ").await;
    let l = a.line().await.unwrap();
    assert!(l.contains(" 322 alice #other 1 :"), "{l}");
    assert!(
        a.line().await.unwrap().contains(" 323 "),
        "only #other matches"
    );
    a.send("LIST").await;
    a.until(" 321 ").await;
    let (one, two) = (a.line().await.unwrap(), a.line().await.unwrap());
    assert!(one.contains(" #op") || two.contains(" #op"), "{one} {two}");
    a.until(" 323 ").await;

    a.send(&format!("TOPIC #ops :{}", "t".repeat(391))).await;
    let l = a.until("TOPICLEN").await;
    assert!(
        l.contains("[#ops] Not sent: the topic is longer than 390 bytes"),
        "{l}"
    );
    a.send(&format!("TOPIC #ops :{}", "t".repeat(390))).await;
    let l = a.until(" TOPIC #ops").await;
    assert!(l.ends_with(&"t".repeat(390)), "{l}");
}
