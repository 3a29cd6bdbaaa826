//! The IRC front-end with raw socket clients: registration and authentication, CAP, tags,
//! bad input, flood control, SendQ, timeouts, channels through the backend interface.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/irc.rs"]
mod irc;

use std::time::Duration;

use base64::Engine as _;
use irc::{Raw, config, start};
use labelgate::irc::server::{IrcConfig, check_plaintext};

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn pass_login_and_welcome_burst() {
    let s = start(config()).await;
    let mut c = Raw::connect(s.plain).await;
    c.send("PASS alice:alice-pw").await;
    c.send("NICK alice").await;
    c.send("USER alice 0 * :Alice A").await;
    let welcome = c.until(" 001 ").await;
    assert!(
        welcome.contains("Welcome to the labelgate IRC network, alice!~alice@127.0.0.1"),
        "{welcome}"
    );
    c.until(" 002 ").await;
    c.until(" 003 ").await;
    c.until(" 004 ").await;
    let isupport = c.until(" 005 ").await;
    // Every token its own parameter (one parameter of tokens joined is what clients cannot read).
    let (params, trailing) = isupport.rsplit_once(" :").unwrap();
    assert_eq!(trailing, "are supported by this server");
    let params: Vec<&str> = params.split(' ').skip(3).collect();
    for token in [
        "CASEMAPPING=ascii",
        "CHANTYPES=#",
        "NICKLEN=30",
        "CHANNELLEN=64",
        "TOPICLEN=390",
        "NETWORK=labelgate",
        "UTF8ONLY",
        "PREFIX=(ov)@+",
        "CLIENTTAGDENY=*,-typing",
    ] {
        assert!(params.contains(&token), "{token} missing from {isupport}");
    }
    c.until(" 375 ").await;
    c.until(" 376 ").await;
    c.send("PING hello").await;
    assert_eq!(c.until("PONG").await, ":labelgate PONG labelgate hello");
    // Clients set +i on connect: accepted quietly (everyone is +i); other user modes are not.
    c.send("MODE alice +i").await;
    c.send("PING after").await;
    assert_eq!(c.line().await.unwrap(), ":labelgate PONG labelgate after");
    c.send("MODE alice +w").await;
    assert!(c.line().await.unwrap().contains(" 501 alice "));
}

#[tokio::test]
async fn failed_logins_get_the_standard_numerics_and_nothing_else() {
    let s = start(config()).await;
    for pass in [
        "PASS alice:wrong",
        "PASS nobody:alice-pw",
        "PASS justapassword",
    ] {
        let mut c = Raw::connect(s.plain).await;
        c.send(pass).await;
        c.send("NICK someone").await;
        c.send("USER someone 0 * :x").await;
        let mut lines = c.rest().await;
        // A password without its account gets a hint of the form first (issue 12).
        if pass == "PASS justapassword" {
            let hint = lines.remove(0);
            assert_eq!(
                hint,
                ":labelgate NOTICE someone :PASS must be account:password (or log in with SASL)"
            );
        }
        assert_eq!(lines.len(), 2, "{pass}: {lines:?}");
        assert!(
            lines[0].starts_with(":labelgate 464 someone :Password incorrect"),
            "{lines:?}"
        );
        assert!(lines[1].starts_with("ERROR :Closing link"), "{lines:?}");
    }
    // No authentication at all.
    let mut c = Raw::connect(s.plain).await;
    c.send("NICK anon").await;
    c.send("USER anon 0 * :x").await;
    let lines = c.rest().await;
    assert!(lines[0].contains(" 464 anon "), "{lines:?}");
    assert!(lines[1].contains("Authentication required"), "{lines:?}");
}

#[tokio::test]
async fn cap_negotiation_and_sasl_plain() {
    let s = start(config()).await;
    let mut c = Raw::connect(s.plain).await;
    c.send("CAP LS 302").await;
    let ls = c.until("CAP * LS").await;
    for cap in [
        "sasl=PLAIN,EXTERNAL",
        "message-tags",
        "server-time",
        "echo-message",
        "account-tag",
        "batch",
        "multi-prefix",
        "userhost-in-names",
        "away-notify",
        "labeled-response",
    ] {
        assert!(ls.contains(cap), "{cap} missing: {ls}");
    }
    c.send("NICK bob").await;
    c.send("USER bob 0 * :Bob").await;
    c.send("CAP REQ :sasl server-time bogus-cap").await;
    assert!(
        c.until("CAP")
            .await
            .contains("NAK :sasl server-time bogus-cap")
    );
    c.send("CAP REQ :sasl server-time").await;
    assert!(c.until("CAP").await.contains("ACK :sasl server-time"));
    c.send("CAP LIST").await;
    assert!(
        c.until("CAP")
            .await
            .ends_with("LIST :sasl server-time cap-notify")
    );
    // A wrong password first: 904, and the connection stays for another try.
    c.send("AUTHENTICATE PLAIN").await;
    assert_eq!(c.line().await.unwrap(), "AUTHENTICATE +");
    c.send(&format!("AUTHENTICATE {}", b64(b"\0bob\0nope")))
        .await;
    assert!(
        c.until(" 904 ")
            .await
            .contains("SASL authentication failed")
    );
    c.send("AUTHENTICATE PLAIN").await;
    c.line().await;
    c.send(&format!("AUTHENTICATE {}", b64(b"\0bob\0bob-pw")))
        .await;
    assert!(
        c.until(" 900 ")
            .await
            .contains("You are now logged in as bob")
    );
    c.until(" 903 ").await;
    c.send("AUTHENTICATE PLAIN").await;
    c.until(" 907 ").await;
    // Registration waits for CAP END.
    c.send("CAP END").await;
    c.until(" 001 ").await;
    // server-time tags on messages from now on.
    c.send("JOIN #room").await;
    let join = c.until("JOIN").await;
    assert!(join.starts_with("@time="), "{join}");
}

#[tokio::test]
async fn sasl_external_without_a_certificate_is_not_offered() {
    let s = start(config()).await;
    let mut c = Raw::connect(s.plain).await;
    c.send("CAP REQ sasl").await;
    c.until("ACK").await;
    c.send("AUTHENTICATE EXTERNAL").await;
    assert!(
        c.until(" 908 ")
            .await
            .contains("PLAIN :are available SASL mechanisms")
    );
    c.until(" 904 ").await;
    c.send("AUTHENTICATE PLAIN").await;
    c.line().await;
    c.send("AUTHENTICATE *").await;
    c.until(" 906 ").await;
}

#[tokio::test]
async fn bad_input_gets_an_error_and_the_connection_lives() {
    let s = start(config()).await;
    let mut c = Raw::login(s.plain, "carol", "carol", "carol-pw").await;
    c.send(&format!("PRIVMSG #x :{}", "a".repeat(700))).await;
    assert!(c.until(" 417 ").await.contains("Input line was too long"));
    c.send_bytes(b"PRIVMSG #x :\xff\xfe bad\r\n").await;
    assert!(
        c.until("FAIL")
            .await
            .contains(" FAIL PRIVMSG INVALID_UTF8 :Your line was not valid UTF-8")
    );
    c.send(":only-a-source").await;
    assert!(c.until("NOTICE").await.contains("Malformed line ignored"));
    c.send("FROBNICATE x").await;
    assert!(
        c.until(" 421 ")
            .await
            .contains("FROBNICATE :Unknown command")
    );
    c.send("PRIVMSG").await;
    assert!(c.until(" 411 ").await.contains("No recipient"));
    c.send("JOIN").await;
    assert!(
        c.until(" 461 ")
            .await
            .contains("JOIN :Not enough parameters")
    );
    c.send("PING still-here").await;
    assert!(c.until("PONG").await.ends_with("still-here"));
}

#[tokio::test]
async fn commands_before_registration_are_refused() {
    let s = start(config()).await;
    let mut c = Raw::connect(s.plain).await;
    c.send("JOIN #a").await;
    assert!(c.until(" 451 ").await.contains("You have not registered"));
    c.send("NICK 9bad").await;
    assert!(c.until(" 432 ").await.contains("Erroneous nickname"));
}

#[tokio::test]
async fn nick_collisions_are_refused() {
    let s = start(config()).await;
    let _a = Raw::login(s.plain, "dup", "alice", "alice-pw").await;
    let mut b = Raw::connect(s.plain).await;
    b.send("NICK DUP").await;
    assert!(
        b.until(" 433 ")
            .await
            .contains("DUP :Nickname is already in use")
    );
}

#[tokio::test]
async fn channels_messages_tags_and_echo() {
    let s = start(config()).await;
    let mut a = Raw::login(s.plain, "alice", "alice", "alice-pw").await;
    let mut b = Raw::login(s.plain, "bob", "bob", "bob-pw").await;
    let mut c = Raw::login(s.plain, "carol", "carol", "carol-pw").await;
    a.send("CAP REQ :message-tags echo-message account-tag")
        .await;
    a.until("ACK").await;
    b.send("CAP REQ :message-tags").await;
    b.until("ACK").await;
    for (cl, nick) in [(&mut a, "alice"), (&mut b, "bob"), (&mut c, "carol")] {
        cl.send("JOIN #ops,#nosuch").await;
        let join = cl.until("JOIN").await;
        assert!(
            join.contains(&format!(":{nick}!~{nick}@127.0.0.1 JOIN #ops")),
            "{join}"
        );
        cl.until(" 366 ").await;
        assert!(cl.until(" 403 ").await.contains("#nosuch :No such channel"));
    }
    a.send("NAMES #ops").await;
    let names = a.until(" 353 ").await;
    assert!(names.ends_with(":alice bob carol"), "{names}");
    // A client-only tag reaches clients that negotiated message-tags, and only them.
    a.send("@+draft/react=ok PRIVMSG #ops :hello all").await;
    let got_b = b.until("PRIVMSG").await;
    assert!(
        got_b.starts_with("@+draft/react=ok :alice!~alice@127.0.0.1 PRIVMSG #ops :hello all"),
        "{got_b}"
    );
    let got_c = c.until("PRIVMSG").await;
    assert_eq!(got_c, ":alice!~alice@127.0.0.1 PRIVMSG #ops :hello all");
    // echo-message: the sender sees its own message, with account-tag.
    let echo = a.until("PRIVMSG").await;
    assert!(
        echo.contains("account=alice") && echo.ends_with("PRIVMSG #ops :hello all"),
        "{echo}"
    );
    // Private messages, unknown nicks, several targets.
    b.send("PRIVMSG carol,nobody :psst").await;
    let pm = labelgate::irc::proto::message::Message::parse(&c.until("PRIVMSG").await).unwrap();
    assert_eq!(pm.params, ["carol", "psst"]);
    assert!(b.until(" 401 ").await.contains("nobody :No such nick"));
    // Not on channel.
    c.send("PRIVMSG #elsewhere :x").await;
    assert!(c.until(" 404 ").await.contains("#elsewhere"));
    // Topic.
    c.send("TOPIC #ops :Operation Dynamo").await;
    assert!(
        a.until("TOPIC")
            .await
            .ends_with("TOPIC #ops :Operation Dynamo")
    );
    c.send("TOPIC #ops").await;
    assert!(c.until(" 332 ").await.ends_with("#ops :Operation Dynamo"));
    // Refused for clearance: a numeric and a notice saying why.
    b.send("JOIN #secret").await;
    assert!(
        b.until(" 477 ")
            .await
            .contains("#secret :Cannot join channel: your clearance")
    );
    assert!(b.until("NOTICE").await.contains("You cannot join #secret"));
    // WHO, WHOIS, MODE, LIST, ISON, USERHOST, AWAY, VERSION.
    b.send("WHO #ops").await;
    assert!(
        b.until(" 352 ")
            .await
            .contains("#ops ~alice 127.0.0.1 labelgate alice H")
    );
    b.until(" 315 ").await;
    b.send("WHOIS alice").await;
    assert!(b.until(" 311 ").await.contains("alice ~alice 127.0.0.1 *"));
    assert!(
        b.until(" 330 ")
            .await
            .contains("alice alice :is logged in as")
    );
    b.until(" 318 ").await;
    b.send("MODE #ops").await;
    assert!(b.until(" 324 ").await.ends_with("#ops :+nt"));
    b.send("MODE #ops +m").await;
    assert!(b.until(" 482 ").await.contains("managed by the XMPP room"));
    b.send("LIST").await;
    assert!(b.until(" 322 ").await.contains("#ops 3 :Operation Dynamo"));
    b.until(" 323 ").await;
    b.send("ISON alice nobody carol").await;
    assert!(b.until(" 303 ").await.ends_with(":alice carol"));
    b.send("USERHOST alice").await;
    assert!(b.until(" 302 ").await.ends_with(":alice=+~alice@127.0.0.1"));
    b.send("AWAY :lunch").await;
    b.until(" 306 ").await;
    b.send("AWAY").await;
    b.until(" 305 ").await;
    b.send("VERSION").await;
    assert!(b.until(" 351 ").await.contains("labelgate-"));
    // PART and QUIT are seen by the others.
    b.send("PART #ops :bye").await;
    let part = labelgate::irc::proto::message::Message::parse(&a.until("PART").await).unwrap();
    assert_eq!(part.params, ["#ops", "bye"]);
    c.send("QUIT :done").await;
    assert!(c.until("ERROR").await.contains("Quit: done"));
    assert!(
        a.until("QUIT")
            .await
            .contains(":carol!~carol@127.0.0.1 QUIT :Quit: done")
    );
}

#[tokio::test]
async fn labeled_response() {
    let s = start(config()).await;
    let mut a = Raw::login(s.plain, "alice", "alice", "alice-pw").await;
    a.send("CAP REQ :labeled-response batch").await;
    a.until("ACK").await;
    a.send("@label=abc PING x").await;
    assert_eq!(
        a.line().await.unwrap(),
        "@label=abc :labelgate PONG labelgate x"
    );
    a.send("@label=def PONG x").await;
    assert_eq!(a.line().await.unwrap(), "@label=def :labelgate ACK");
    a.send("@label=ghi MOTD").await;
    let start = a.line().await.unwrap();
    assert!(
        start.starts_with("@label=ghi :labelgate BATCH +"),
        "{start}"
    );
    let next = a.line().await.unwrap();
    assert!(next.starts_with("@batch="), "{next}");
}

#[tokio::test]
async fn excess_flood_disconnects() {
    let s = start(IrcConfig {
        flood_burst: 5,
        flood_rate: 1.0,
        flood_max_debt: 10,
        ..IrcConfig::default()
    })
    .await;
    let mut c = Raw::login(s.plain, "flood", "bob", "bob-pw").await;
    let burst: String = (0..60).map(|i| format!("PING {i}\r\n")).collect();
    c.send_bytes(burst.as_bytes()).await;
    let lines = c.rest().await;
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("ERROR :Closing link") && last.contains("Excess Flood"),
        "{last}"
    );
    let pongs = lines.iter().filter(|l| l.contains("PONG")).count();
    assert!(pongs < 60, "all {pongs} PINGs were answered");
}

#[tokio::test]
async fn a_client_that_does_not_read_is_dropped_with_sendq_exceeded() {
    let s = start(IrcConfig {
        sendq_bytes: 64 * 1024,
        motd: (0..1000)
            .map(|i| format!("line {i} {}", "x".repeat(100)))
            .collect(),
        // Every request below is taken at once (none waits unread in the socket).
        flood_burst: 250,
        ..config()
    })
    .await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let stream = sock.connect(s.plain).await.unwrap();
    use tokio::io::AsyncWriteExt;
    let (rd, mut wr) = stream.into_split();
    wr.write_all(b"PASS bob:bob-pw\r\nNICK slow\r\nUSER slow 0 * :s\r\n")
        .await
        .unwrap();
    // Ask for ~115 KB at a time, 200 times (~23 MB, far more than the kernel's socket buffers
    // on loopback take: they grow to a few MB), and do not read: the gateway's own queue fills.
    for _ in 0..200 {
        if wr.write_all(b"MOTD\r\n").await.is_err() {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut r = tokio::io::BufReader::new(rd);
    let mut last = String::new();
    loop {
        let mut l = String::new();
        use tokio::io::AsyncBufReadExt;
        match tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut l)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => last = l,
            Err(_) => panic!("the slow client was not disconnected"),
        }
    }
    assert!(last.contains("SendQ exceeded"), "{last}");
}

#[tokio::test]
async fn ping_and_registration_timeouts() {
    let s = start(IrcConfig {
        ping_interval: Duration::from_millis(500),
        ping_timeout: Duration::from_millis(500),
        registration_timeout: Duration::from_millis(800),
        ..config()
    })
    .await;
    let mut c = Raw::login(s.plain, "quiet", "bob", "bob-pw").await;
    assert_eq!(c.until("PING").await, "PING labelgate");
    let rest = c.rest().await;
    assert!(rest.last().unwrap().contains("Ping timeout"), "{rest:?}");
    let mut idle = Raw::connect(s.plain).await;
    let rest = idle.rest().await;
    assert!(
        rest.last().unwrap().contains("Registration timed out"),
        "{rest:?}"
    );
}

#[tokio::test]
async fn away_notify() {
    let s = start(config()).await;
    let mut a = Raw::login(s.plain, "alice", "alice", "alice-pw").await;
    let mut b = Raw::login(s.plain, "bob", "bob", "bob-pw").await;
    a.send("CAP REQ away-notify").await;
    a.until("ACK").await;
    b.send("AWAY :at lunch").await;
    b.until(" 306 ").await;
    assert_eq!(a.until("AWAY").await, ":bob!~bob@127.0.0.1 AWAY :at lunch");
    b.send("AWAY").await;
    assert_eq!(a.until("AWAY").await, ":bob!~bob@127.0.0.1 AWAY");
}

#[tokio::test]
async fn too_many_targets_are_refused_not_dropped() {
    let s = start(config()).await;
    let mut a = Raw::login(s.plain, "alice", "alice", "alice-pw").await;
    a.send("PRIVMSG n1,n2,n3,n4,n5,n6 :hi").await;
    let mut refused = Vec::new();
    for _ in 0..2 {
        refused.push(a.until(" 407 ").await);
    }
    assert!(
        refused[0].contains("n5 :Too many recipients"),
        "{refused:?}"
    );
    assert!(
        refused[1].contains("n6 :Too many recipients"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn plaintext_listener_refused_off_loopback() {
    let e = labelgate::irc::server::bind("0.0.0.0:0".parse().unwrap(), false)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("refusing a plaintext IRC listener on 0.0.0.0:0"),
        "{e}"
    );
    assert!(
        labelgate::irc::server::bind("127.0.0.1:0".parse().unwrap(), false)
            .await
            .is_ok()
    );
    assert!(
        labelgate::irc::server::bind("0.0.0.0:0".parse().unwrap(), true)
            .await
            .is_ok()
    );
}

#[test]
fn plaintext_only_on_loopback() {
    assert!(check_plaintext("127.0.0.1:6667".parse().unwrap()).is_ok());
    assert!(check_plaintext("[::1]:6667".parse().unwrap()).is_ok());
    let e = check_plaintext("0.0.0.0:6667".parse().unwrap()).unwrap_err();
    assert!(
        e.to_string()
            .contains("plaintext is allowed only on a loopback address")
    );
}
