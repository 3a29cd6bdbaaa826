//! What of the gateway file only a restart applies ([`StartOnly`]), and how a reload says
//! which of those settings changed and wait.

use std::net::SocketAddr;

use super::gateway::{Audit, Gateway, IrcTls, Listen, Xmpp};
use super::irc::IrcConfig;
use super::network::IrcNetwork;

/// The settings a running gateway took at start and keeps until restarted: a reload (SIGHUP)
/// applies policy, users and mappings only (and each network's accreditation).
#[derive(Debug, Clone)]
pub struct StartOnly {
    pub(super) networks: Vec<IrcNetwork>,
    pub(super) irc: IrcConfig,
    pub(super) listen: Vec<Listen>,
    pub(super) irc_tls: Option<IrcTls>,
    pub(super) xmpp: Xmpp,
    pub(super) audit: Audit,
    pub(super) metrics: Option<SocketAddr>,
    pub(super) require_fips: bool,
}

impl StartOnly {
    /// The names of the settings that differ in `new` (they wait for a restart).
    pub fn changed(&self, new: &StartOnly) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.networks.len() != new.networks.len()
            || self
                .networks
                .iter()
                .zip(&new.networks)
                .any(|(a, b)| !a.same_connection(b))
        {
            out.push("[[irc_network]] (other than accreditation)");
        }
        if self.irc != new.irc {
            out.push("[irc]");
        }
        if self.listen != new.listen {
            out.push("listen");
        }
        if self.irc_tls != new.irc_tls {
            out.push("IRC TLS");
        }
        if self.xmpp != new.xmpp {
            out.push("[xmpp]");
        }
        if self.audit != new.audit {
            out.push("[audit]");
        }
        if self.metrics != new.metrics {
            out.push("metrics");
        }
        if self.require_fips != new.require_fips {
            out.push("[crypto]");
        }
        out
    }
}

impl Gateway {
    /// What of this configuration only a restart applies.
    pub fn start_only(&self) -> StartOnly {
        StartOnly {
            networks: self.networks.clone(),
            irc: self.irc.clone(),
            listen: self.listen.clone(),
            // The client CA and CRLs are re-read on reload; the rest of IRC TLS waits.
            irc_tls: self.irc_tls.clone().map(|t| IrcTls {
                client_ca: None,
                client_crls: Vec::new(),
                ..t
            }),
            xmpp: self.xmpp.clone(),
            audit: self.audit.clone(),
            metrics: self.metrics,
            require_fips: self.require_fips,
        }
    }
}
