//! The PROXY protocol on IRC listeners (issue 17), with Debian's HAProxy in front of the
//! gateway and the project's ejabberd behind it: a listener configured for the load balancer's
//! address takes its v1 and v2 headers, so that IRC (the host in a user's prefix) and the audit
//! trail see the client's own address, not the balancer's; a PROXY header anywhere else — from
//! HAProxy to a listener not configured for it, or forged by a client — is refused with an
//! `ERROR` line and audited; a configured balancer that sends no header is refused too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/bridge.rs"]
mod bridge;
mod common;
#[path = "common/haproxy.rs"]
mod haproxy;
#[path = "common/irc.rs"]
mod irc;
#[path = "common/support.rs"]
mod support;

use std::net::{Ipv4Addr, SocketAddr};

use bridge::{Gateway, PASSWORD, channel};
use common::{room, unique};
use haproxy::{HaProxy, Send};

/// Registers from `source` through `front` (PASS account:password) and returns the client
/// and the first line that ends registration (376 on success).
async fn register(
    front: SocketAddr,
    source: Ipv4Addr,
    nick: &str,
    account: &str,
    password: &str,
) -> (irc::Raw, String) {
    let mut c = irc::Raw::connect_from(front, source).await;
    c.send(&format!("PASS {account}:{password}")).await;
    c.send(&format!("NICK {nick}")).await;
    c.send(&format!("USER {nick} 0 * :{nick}")).await;
    let lines = c.lines_until_within(" 376 ", 10).await;
    let last = lines.last().cloned().unwrap_or_default();
    (c, last)
}

/// The audit records of refused connections and logins from `address`.
fn refusals_from(gw: &Gateway, address: &str) -> Vec<serde_json::Value> {
    gw.records()
        .into_iter()
        .filter(|r| r["address"] == address && r["decision"] == "deny")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_headers_are_taken_from_the_balancer_only() {
    let r = room(&unique("lb"));
    let olive = unique("olive");
    let gw = Gateway::on_test_server(
        support::demo_policies(),
        &channel("#lb", &r, "OFFICIAL", "SECRET, UK"),
        &[(&olive, "SECRET, UK")],
    )
    .await;
    let proxied = gw.serve_proxied(&["127.0.0.1"]).await;
    let hp = HaProxy::start(
        "lb",
        &[
            (proxied, Send::V1),
            (proxied, Send::V2),
            (gw.addr, Send::V1),
            (proxied, Send::Nothing),
        ],
    )
    .await;

    // Through HAProxy, v1 and v2: the client's own loopback address is its host on IRC.
    // (A nick of its own each: the last one's is released only once its connection ends.)
    for (front, source, nick) in [
        (hp.fronts[0], Ipv4Addr::new(127, 0, 0, 2), "olive"),
        (hp.fronts[1], Ipv4Addr::new(127, 0, 0, 3), "olive2"),
    ] {
        let (mut c, done) = register(front, source, nick, &olive, PASSWORD).await;
        assert!(done.contains(" 376 "), "{done}");
        c.send("JOIN #lb").await;
        let join = c.until(" JOIN #lb").await;
        assert!(
            join.starts_with(&format!(":{nick}!~{nick}@{source} ")),
            "{join}"
        );
        c.send("QUIT :bye").await;
        c.until("ERROR").await;
    }

    // A failed login through v2 is audited (and throttled) under the client's address.
    let mut c = irc::Raw::connect_from(hp.fronts[1], Ipv4Addr::new(127, 0, 0, 3)).await;
    c.send(&format!("PASS {olive}:wrong")).await;
    c.send("NICK wrong").await;
    c.send("USER wrong 0 * :wrong").await;
    c.until(" 464 ").await;
    let closing = c.until("ERROR").await;
    assert!(closing.contains("(127.0.0.3)"), "{closing}");
    let recs = refusals_from(&gw, "127.0.0.3");
    assert_eq!(recs.len(), 1, "{recs:#?}");
    assert_eq!(recs[0]["direction"], "login");
    assert!(refusals_from(&gw, "127.0.0.1").is_empty());

    // HAProxy sending headers to the plain listener, which takes none: refused, told, audited.
    let mut c = irc::Raw::connect_from(hp.fronts[2], Ipv4Addr::new(127, 0, 0, 4)).await;
    c.send("NICK olive").await;
    let e = c.until("ERROR").await;
    assert!(
        e.contains("a PROXY protocol header from 127.0.0.1:")
            && e.contains("which this listener does not take one from"),
        "{e}"
    );
    // A client forging a header, to either listener (from an address not in proxy_from).
    for target in [gw.addr, proxied] {
        let mut f = irc::Raw::connect_from(target, Ipv4Addr::new(127, 0, 0, 5)).await;
        f.send_bytes(b"PROXY TCP4 203.0.113.9 127.0.0.1 5555 6667\r\nNICK forger\r\n")
            .await;
        let e = f.until("ERROR").await;
        assert!(e.contains("a PROXY protocol header from 127.0.0.5:"), "{e}");
    }
    let forged = refusals_from(&gw, "127.0.0.5");
    assert_eq!(forged.len(), 2, "{forged:#?}");
    assert!(refusals_from(&gw, "203.0.113.9").is_empty());
    // The balancer's header to the wrong listener is audited under the balancer's address.
    assert!(
        refusals_from(&gw, "127.0.0.1")
            .iter()
            .any(|r| r["reason"].as_str().unwrap_or("").contains("PROXY")),
        "{:#?}",
        gw.records()
    );

    // The configured balancer sending no header: refused (its client's IRC is not a header).
    let mut c = irc::Raw::connect_from(hp.fronts[3], Ipv4Addr::new(127, 0, 0, 6)).await;
    c.send("NICK olive").await;
    let e = c.until("ERROR").await;
    assert!(
        e.contains("the load balancer at 127.0.0.1:") && e.contains("sent no valid PROXY header"),
        "{e}"
    );

    // A direct client from elsewhere still reaches the proxied listener as itself.
    let (_c, done) = register(
        proxied,
        Ipv4Addr::new(127, 0, 0, 7),
        "direct",
        &olive,
        PASSWORD,
    )
    .await;
    assert!(done.contains(" 376 "), "{done}");
}
