//! A TCP relay on loopback between the gateway and the test ejabberd, for the timing a test
//! needs and the product must not have: new connections can be held back (a slow session
//! start) and live ones cut (a dropped stream). It copies bytes; it reads nothing.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running relay.
pub struct Proxy {
    /// Where to connect instead of the server.
    pub addr: SocketAddr,
    hold: watch::Sender<bool>,
    cut: watch::Sender<u64>,
}

impl Proxy {
    /// Relays to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (hold, hold_rx) = watch::channel(false);
        let (cut, cut_rx) = watch::channel(0u64);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (mut hold_rx, mut cut_rx) = (hold_rx.clone(), cut_rx.clone());
                tokio::spawn(async move {
                    // Held: wait until released before even reaching the server.
                    let _ = hold_rx.wait_for(|held| !held).await;
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let generation = *cut_rx.borrow_and_update();
                    let (mut c, mut s) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut c, &mut s) => {}
                        _ = cut_rx.wait_for(|g| *g != generation) => {}
                    }
                });
            }
        });
        Proxy { addr, hold, cut }
    }

    /// New connections wait until [`Proxy::release`].
    pub fn hold(&self) {
        self.hold.send_replace(true);
    }

    /// Lets waiting and new connections through.
    pub fn release(&self) {
        self.hold.send_replace(false);
    }

    /// Drops every connection now open.
    pub fn cut(&self) {
        self.cut.send_modify(|g| *g += 1);
    }
}
