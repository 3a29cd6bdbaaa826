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
    stop: watch::Sender<bool>,
    relayed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Proxy {
    /// Relays to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (hold, hold_rx) = watch::channel(false);
        let (cut, cut_rx) = watch::channel(0u64);
        let (stop, mut stop_rx) = watch::channel(false);
        let relayed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = relayed.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = stop_rx.wait_for(|s| *s) => break,
                };
                let Ok((client, _)) = accepted else { break };
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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
        Proxy {
            addr,
            hold,
            cut,
            stop,
            relayed,
        }
    }

    /// The relay dies: its port is closed (new connections refused) and open ones dropped.
    pub fn stop(&self) {
        self.stop.send_replace(true);
        self.cut();
    }

    /// How many connections it has accepted.
    pub fn relayed(&self) -> usize {
        self.relayed.load(std::sync::atomic::Ordering::SeqCst)
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
