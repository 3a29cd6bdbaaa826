//! A real HAProxy (Debian's `haproxy`) in TCP mode on loopback, started for one test: each
//! frontend relays to one backend server, with the PROXY header form asked for; or one
//! frontend balancing over several gateways, health-checked, as a site runs it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::free_port;

/// How HAProxy tells the backend who the client is.
#[derive(Debug, Clone, Copy)]
pub enum Send {
    /// No PROXY header (a misconfigured or absent load balancer).
    Nothing,
    /// `send-proxy` (v1, text).
    V1,
    /// `send-proxy-v2` (binary).
    V2,
}

/// A running HAProxy; killed when dropped.
pub struct HaProxy {
    child: Child,
    /// The frontends' addresses, in the order given.
    pub fronts: Vec<SocketAddr>,
}

impl HaProxy {
    /// One frontend per `(backend, send)`.
    pub async fn start(name: &str, routes: &[(SocketAddr, Send)]) -> HaProxy {
        HaProxy::run(name, routes, &[]).await
    }

    /// One frontend balancing round-robin over `backends` with `send-proxy-v2`, each
    /// health-checked every 300 ms (with a PROXY v2 LOCAL header) and taken out after one
    /// failed check; a connection a dead gateway refuses is retried on another.
    pub async fn balance(name: &str, backends: &[SocketAddr]) -> HaProxy {
        HaProxy::run(name, &[], backends).await
    }

    async fn run(name: &str, routes: &[(SocketAddr, Send)], balanced: &[SocketAddr]) -> HaProxy {
        let dir = PathBuf::from(format!(
            "{}/target/test-haproxy-{name}-{}",
            env!("CARGO_MANIFEST_DIR"),
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cfg = String::from(
            "global\n  maxconn 200\n\ndefaults\n  mode tcp\n  timeout connect 5s\n  \
             timeout client 60s\n  timeout server 60s\n\n",
        );
        let mut fronts = Vec::new();
        for (i, (backend, send)) in routes.iter().enumerate() {
            let port = free_port();
            let opt = match send {
                Send::Nothing => "",
                Send::V1 => " send-proxy",
                Send::V2 => " send-proxy-v2",
            };
            cfg.push_str(&format!(
                "listen irc{i}\n  bind 127.0.0.1:{port}\n  server gw {backend}{opt}\n\n"
            ));
            fronts.push(SocketAddr::from(([127, 0, 0, 1], port)));
        }
        if !balanced.is_empty() {
            let port = free_port();
            cfg.push_str(&format!(
                "listen irc\n  bind 127.0.0.1:{port}\n  balance roundrobin\n  \
                 option redispatch\n  retries 3\n  timeout connect 1s\n"
            ));
            for (i, b) in balanced.iter().enumerate() {
                cfg.push_str(&format!(
                    "  server gw{i} {b} send-proxy-v2 check check-send-proxy inter 300 fall 1 rise 1\n"
                ));
            }
            cfg.push('\n');
            fronts.push(SocketAddr::from(([127, 0, 0, 1], port)));
        }
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, cfg).unwrap();
        let check = Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "haproxy -c: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // Up when the ports are taken (a probe connection would reach the backends).
        for f in &fronts {
            let mut up = false;
            for _ in 0..100 {
                if std::net::TcpListener::bind(f).is_err() {
                    up = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(up, "haproxy did not listen on {f}");
        }
        HaProxy { child, fronts }
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
