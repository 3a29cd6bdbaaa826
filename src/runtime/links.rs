//! Link mode in the running gateway: one [`LinkInbound`] per `[[irc_network]]`, started with
//! the TLS settings and the puppet identity the file names, reloaded with the rest of the
//! configuration, and closed at shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use labelgate::audit::Gate;
use labelgate::bridge::link::LinkInbound;
use labelgate::config::mappings::Mappings;
use labelgate::config::network::{IrcNetwork, NetworkAuth};
use labelgate::link::{Server, ServerTls};
use labelgate::xmpp::connect::Endpoint;
use labelgate::xmpp::tls::ServerVerifier;

/// The running links, each with the network as it was last applied.
pub struct Links {
    running: Vec<(IrcNetwork, LinkInbound)>,
}

impl Links {
    /// Starts every network of `networks` with its channels of `mappings`; `endpoint` is the
    /// users' XMPP endpoint (its address, TLS mode and timeouts are the puppets' too) and
    /// `server_check` the check of the XMPP server's certificate.
    pub fn start(
        networks: &[IrcNetwork],
        mappings: &Mappings,
        server_check: &Arc<ServerVerifier>,
        gate: &Gate,
        endpoint: &Endpoint,
    ) -> Result<Links> {
        let mut running = Vec::new();
        for n in networks {
            let servers = servers(n)?;
            let tls = server_check
                .client_config_from_files(Some((&n.puppet_certificate, &n.puppet_key)))
                .with_context(|| format!("irc_network `{}`: the puppet certificate", n.name))?;
            let puppets = Arc::new(Endpoint {
                addr: endpoint.addr,
                failover: endpoint.failover.clone(),
                domain: n.puppet_domain.clone(),
                tls_mode: endpoint.tls_mode,
                tls,
                handshake_timeout: endpoint.handshake_timeout,
                timeouts: endpoint.timeouts,
            });
            let mappings = Arc::new(mappings.on_network(&n.name));
            tracing::info!(
                network = %n.name,
                servers = n.servers.len(),
                channels = mappings.len(),
                accreditation = %n.accreditation_text,
                puppet_domain = %n.puppet_domain,
                "link mode: connecting to the IRC network"
            );
            let link = LinkInbound::start(n.clone(), servers, gate.clone(), mappings, puppets);
            running.push((n.clone(), link));
        }
        Ok(Links { running })
    }

    /// How many networks are linked.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Applies a reloaded configuration (its gate already holding the new policies): each
    /// running network takes its new mappings and accreditation at once. A network gone from
    /// the file keeps running with no channels until the restart; a new one waits for it.
    pub fn reload(&mut self, networks: &[IrcNetwork], mappings: &Mappings, gate: &Gate) {
        for (n, link) in &mut self.running {
            match networks.iter().find(|m| m.name == n.name) {
                Some(m) => *n = m.clone(),
                None => tracing::warn!(
                    network = %n.name,
                    "irc_network removed from the file: its channels are left; the connection ends at the next restart"
                ),
            }
            link.reload(gate.clone(), Arc::new(mappings.on_network(&n.name)), n);
        }
        for m in networks {
            if !self.running.iter().any(|(n, _)| n.name == m.name) {
                tracing::warn!(network = %m.name, "irc_network added to the file: it is linked at the next restart");
            }
        }
    }

    /// Quits every network, waiting at most `within` for each.
    pub async fn close(self, within: Duration) {
        for (n, link) in self.running {
            if link.close(within).await {
                tracing::info!(network = %n.name, "link closed");
            } else {
                tracing::warn!(network = %n.name, "link still closing at shutdown");
            }
        }
    }
}

/// The servers of `n` as the link connections reach them.
fn servers(n: &IrcNetwork) -> Result<Vec<Server>> {
    let tls = if n.tls {
        let ca = n
            .ca_file
            .as_ref()
            .with_context(|| format!("irc_network `{}`: tls needs ca_file", n.name))?;
        let client = match &n.auth {
            NetworkAuth::SaslExternal { certificate, key } => {
                Some((certificate.as_path(), key.as_path()))
            }
            _ => None,
        };
        let config = labelgate::xmpp::tls::client_config_from_files(ca, client)
            .with_context(|| format!("irc_network `{}`: {}", n.name, ca.display()))?;
        let name = rustls::pki_types::ServerName::try_from(n.tls_name.clone())
            .with_context(|| format!("irc_network `{}`: tls_name", n.name))?;
        Some(ServerTls { config, name })
    } else {
        None
    };
    Ok(n.servers
        .iter()
        .map(|a| Server {
            address: *a,
            tls: tls.clone(),
        })
        .collect())
}
