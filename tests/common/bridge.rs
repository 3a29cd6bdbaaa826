//! A gateway under test: the bridge and the IRC front-end in this process, users logging in to
//! the project's ejabberd through the trusted gateway certificate, audit records in memory.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use labelgate::audit::{AuditLog, Gate};
use labelgate::bridge::{Bridge, Identity};
use labelgate::config::mappings::Mappings;
use labelgate::config::users::{Users, hash_password};
use labelgate::irc::server::{IrcConfig, Shared, serve};
use labelgate::label::PolicySet;
use labelgate::label::xep0258::{LabelPayload, SecurityLabel};
use labelgate::xmpp::connect::Endpoint;
use tokio::sync::watch;

use crate::support::Buf;

/// A running gateway.
pub struct Gateway {
    /// Where IRC clients connect (plain TCP on loopback).
    pub addr: SocketAddr,
    /// The bridge (for reloads).
    pub bridge: Bridge,
    /// The IRC front-end's shared state (for reloads).
    pub shared: Arc<Shared<Bridge>>,
    /// Every audit record written.
    pub audit: Buf,
    /// The policies.
    pub policies: Arc<PolicySet>,
    /// Dropping it stops nothing; sending `true` tells clients the server is going.
    pub stop: watch::Sender<bool>,
}

/// Parses a mappings file's text under `policies`.
pub fn mappings(policies: &PolicySet, text: &str) -> Mappings {
    Mappings::parse(
        &[(PathBuf::from("mappings.toml"), text.to_owned())],
        policies,
    )
    .unwrap_or_else(|e| panic!("mappings: {e}\n{text}"))
}

/// A users file: each `(account, clearance)` with the account name as password (hashes are
/// slow, so the caller passes them in once through [`hashed`]).
pub fn users(policies: &PolicySet, accounts: &[(&str, &str)], hash: &str) -> Users {
    let mut text = String::from("jid_template = \"{account}@labelgate.test\"\n");
    for (account, clearance) in accounts {
        text.push_str(&format!(
            "[[user]]\naccount = \"{account}\"\nclearance = \"{clearance}\"\npassword = \"{hash}\"\n"
        ));
    }
    Users::parse(Path::new("users.toml"), &text, policies.primary())
        .unwrap_or_else(|e| panic!("users: {e}\n{text}"))
}

/// The one password every test account has, and its hash.
pub const PASSWORD: &str = "pw";

/// The hash of [`PASSWORD`] (argon2 is slow: compute it once per test).
pub fn hashed() -> String {
    hash_password(PASSWORD).unwrap()
}

/// A `[[channel]]` block.
pub fn channel(irc: &str, room: &jid::BareJid, default_label: &str, clearance: &str) -> String {
    format!(
        "[[channel]]\nirc = \"{irc}\"\nroom = \"{room}\"\ndefault_label = \"{default_label}\"\nclearance = \"{clearance}\"\nhistory = 20\n\n"
    )
}

impl Gateway {
    /// Starts a gateway logging users in through `endpoint` (the trusted gateway certificate).
    pub async fn start(
        endpoint: Endpoint,
        policies: Arc<PolicySet>,
        mapping_text: &str,
        users: Users,
        config: IrcConfig,
    ) -> Gateway {
        let audit = Buf::default();
        let gate = Gate::new(
            policies.clone(),
            Arc::new(AuditLog::to_writer(Box::new(audit.clone()), false)),
        );
        let bridge = Bridge::new(
            gate.clone(),
            mappings(&policies, mapping_text),
            Identity::TrustedGateway(Arc::new(endpoint)),
        );
        let (stop, stop_rx) = watch::channel(false);
        let shared = Shared::new(config, users, Arc::new(bridge.clone()), stop_rx);
        shared.set_audit(gate);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(shared.clone(), listener, None, Default::default()));
        Gateway {
            addr,
            bridge,
            shared,
            audit,
            policies,
            stop,
        }
    }

    /// A gateway on the run's ejabberd through the trusted gateway certificate, with the test
    /// IRC limits and `accounts` as (account, clearance), each with [`PASSWORD`].
    pub async fn on_test_server(
        policies: Arc<PolicySet>,
        mapping_text: &str,
        accounts: &[(&str, &str)],
    ) -> Gateway {
        let users = users(&policies, accounts, &hashed());
        let endpoint = crate::common::endpoint(
            crate::common::Identity::Gateway,
            labelgate::xmpp::connect::TlsMode::StartTls,
        );
        Gateway::start(
            endpoint,
            policies,
            mapping_text,
            users,
            crate::irc::config(),
        )
        .await
    }

    /// Serves the same front-end on a plain listener that takes PROXY headers from
    /// `proxy_from` (addresses or networks); where it listens.
    pub async fn serve_proxied(&self, proxy_from: &[&str]) -> SocketAddr {
        let nets = proxy_from
            .iter()
            .map(|n| labelgate::config::proxy::Net::parse(n).unwrap())
            .collect();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(
            self.shared.clone(),
            listener,
            None,
            labelgate::config::proxy::ProxyFrom(nets),
        ));
        addr
    }

    /// Serves the same front-end over TLS too (client certificates requested, for SASL
    /// EXTERNAL) with the listener certificate `cert` and `key`; where it listens.
    pub async fn serve_tls(&self, cert: &Path, key: &Path) -> SocketAddr {
        let tls = labelgate::irc::tls::server_config(cert, key, true).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(
            self.shared.clone(),
            listener,
            Some(tls),
            Default::default(),
        ));
        addr
    }

    /// The audit records so far.
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.audit
            .text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// A XEP-0258 label for a marking of the demo policy.
pub fn label_element(p: &PolicySet, marking: &str) -> SecurityLabel {
    let l = p.primary().parse_marking(marking).unwrap();
    SecurityLabel {
        display: Some(p.primary().display_marking(&l).unwrap()),
        label: LabelPayload::Ess(l),
        equivalents: vec![],
    }
}
