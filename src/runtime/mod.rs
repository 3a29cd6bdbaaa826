//! The gateway's runtime: start every listener and the bridge from a checked configuration,
//! reload policy, users and mappings on SIGHUP (all or nothing), and shut down on SIGTERM or
//! SIGINT, telling IRC users and letting every XMPP session leave its rooms. Link mode's
//! networks are in [`links`].

mod links;

use std::path::Path;

use anyhow::{Context, Result, bail};

/// Runs the gateway until SIGTERM or SIGINT; SIGHUP reloads policy, users and mappings.
pub fn run(config: &Path) -> Result<bool> {
    use std::sync::Arc;

    use labelgate::audit::{AuditLog, Gate};
    use labelgate::bridge::{Bridge, Identity};
    use labelgate::config::gateway::{self, XmppIdentity};
    use labelgate::xmpp::connect::{Endpoint, TlsMode};

    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let g = match gateway::load(config) {
        Ok(g) => g,
        Err(e) => {
            for p in &e.problems {
                eprintln!("{p}");
            }
            bail!(
                "{}: {} problem(s); not starting",
                config.display(),
                e.problems.len()
            );
        }
    };
    let started_with = g.start_only();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let audit = match &g.audit.file {
            Some(f) => AuditLog::to_file(f, g.audit.bodies)
                .with_context(|| format!("cannot open the audit log {}", f.display()))?,
            None => AuditLog::to_writer(Box::new(std::io::stderr()), g.audit.bodies),
        }
        .for_instance(&g.audit.instance);
        labelgate::metrics::METRICS.set_instance(&g.audit.instance);
        let policies = Arc::new(g.policies);
        let gate = Gate::new(policies.clone(), Arc::new(audit));
        // One check of the XMPP server's certificate for every session; SIGHUP re-reads its
        // CA and CRL files.
        let server_check = labelgate::xmpp::tls::ServerVerifier::load(&g.xmpp.ca_file, &g.xmpp.crls)?;
        let tls = match &g.xmpp.identity {
            XmppIdentity::TrustedGateway { certificate, key } => server_check.client_config_from_files(Some((certificate, key)))?,
            XmppIdentity::PerUser { .. } => server_check.client_config_from_files(None)?,
        };
        let endpoint_tls = tls.clone();
        let endpoint = Arc::new(Endpoint {
            addr: g.xmpp.address,
            failover: g.xmpp.failover.clone(),
            domain: g.xmpp.domain.clone(),
            tls_mode: if g.xmpp.direct_tls { TlsMode::Direct } else { TlsMode::StartTls },
            tls,
            handshake_timeout: std::time::Duration::from_secs(20),
            timeouts: tokio_xmpp::xmlstream::Timeouts {
                read_timeout: std::time::Duration::from_secs(120),
                response_timeout: std::time::Duration::from_secs(30),
            },
        });
        let mut links = links::Links::start(&g.networks, &g.mappings, &server_check, &gate, &endpoint)?;
        let identity = match &g.xmpp.identity {
            XmppIdentity::TrustedGateway { .. } => Identity::TrustedGateway(endpoint),
            XmppIdentity::PerUser { dir } => Identity::PerUser { template: endpoint, server_check: server_check.clone(), dir: dir.clone() },
        };
        let mapping_count = g.mappings.len();
        // The bridge keeps only the mappings of its own IRC server (link mappings never
        // become channels of it).
        let bridge = Bridge::new(gate.clone(), g.mappings, identity).with_room_ping(g.xmpp.room_ping);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let shared = labelgate::irc::server::Shared::new(g.irc, g.users, Arc::new(bridge.clone()), stop_rx);
        shared.set_audit(gate.clone());
        shared.set_certificate_checks(certificate_checks(g.irc_tls.as_ref())?);
        let irc_tls = match &g.irc_tls {
            Some(t) => Some(labelgate::irc::tls::server_config(&t.certificate, &t.key, t.request_client_certificate)?),
            None => None,
        };
        if g.require_fips {
            use labelgate::fips::{Config, check};
            let mut configs = vec![Config::Client("the XMPP server", endpoint_tls.as_ref())];
            if let Some(t) = &irc_tls {
                configs.push(Config::Server("the IRC listener", t.as_ref()));
            }
            check(&configs)?;
            tracing::info!("FIPS mode: every TLS configuration reports FIPS 140-3 mode");
        }
        let mut servers = Vec::new();
        for l in &g.listen {
            let listener = labelgate::irc::server::bind(l.address, l.tls).await?;
            tracing::info!(address = %l.address, tls = l.tls, proxy_from = ?l.proxy_from.0.iter().map(|n| n.to_string()).collect::<Vec<_>>(), "IRC listener");
            servers.push(tokio::spawn(labelgate::irc::server::serve(
                shared.clone(),
                listener,
                if l.tls { irc_tls.clone() } else { None },
                l.proxy_from.clone(),
            )));
        }
        if let Some(addr) = g.metrics {
            let listener = labelgate::metrics::bind(addr).await?;
            tracing::info!(address = %addr, "metrics endpoint (Prometheus text at /metrics)");
            tokio::spawn(labelgate::metrics::serve(listener));
        }
        tracing::info!(
            policy = %policies.primary().name,
            equivalent_policies = g.policy_files.len().saturating_sub(1),
            mappings = mapping_count,
            irc_networks = links.len(),
            users = shared.users().len(),
            "labelgate started"
        );
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    // Reload policy, users and mappings atomically: a bad file keeps the old state.
                    match gateway::load(&g.path) {
                        Ok(new) => {
                            // Said plainly: what a reload does not apply.
                            let waiting = started_with.changed(&new.start_only());
                            if !waiting.is_empty() {
                                tracing::warn!(
                                    settings = %waiting.join(", "),
                                    "changed in the gateway file but not reloaded: they take effect at the next restart"
                                );
                            }
                            let users = Arc::new(new.users);
                            tracing::info!(
                                policy = %new.policies.primary().name,
                                mappings = new.mappings.len(),
                                users = users.len(),
                                not_reloaded = %if waiting.is_empty() { "none changed".to_owned() } else { waiting.join(", ") },
                                "reloaded policy, mappings and users"
                            );
                            shared.reload_users(users.clone());
                            match certificate_checks(new.irc_tls.as_ref()) {
                                Ok(v) => shared.set_certificate_checks(v),
                                Err(e) => tracing::error!(error = %e, "IRC client certificate checks not reloaded; keeping the old ones"),
                            }
                            match server_check.reload() {
                                Ok(()) => tracing::info!(crls = g.xmpp.crls.len(), "XMPP server certificate check re-read (CA and CRL files)"),
                                Err(e) => tracing::error!(error = %e, "XMPP server certificate check not reloaded; keeping the old one"),
                            }
                            let policies = Arc::new(new.policies);
                            links.reload(&new.networks, &new.mappings, &gate.with_policies(policies.clone()));
                            bridge.reload(policies, new.mappings, users);
                        }
                        Err(e) => tracing::error!(problems = %e, "reload refused; keeping the old configuration"),
                    }
                }
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        tracing::info!("shutting down");
        // IRC users are told; each pairing then leaves its rooms and closes its stream.
        let _ = stop_tx.send(true);
        let left = bridge.drain(std::time::Duration::from_secs(8)).await;
        if left > 0 {
            tracing::warn!(sessions = left, "shutting down with XMPP sessions still closing");
        } else {
            tracing::info!("every XMPP session closed");
        }
        links.close(std::time::Duration::from_secs(8)).await;
        anyhow::Ok(true)
    })
}

/// The path validation (CA, CRLs) IRC client certificates must pass, when `[irc.tls]` names a
/// client CA.
fn certificate_checks(
    tls: Option<&labelgate::config::gateway::IrcTls>,
) -> Result<Option<std::sync::Arc<dyn rustls::server::danger::ClientCertVerifier>>> {
    match tls.and_then(|t| t.client_ca.as_ref().map(|ca| (ca, &t.client_crls))) {
        None => Ok(None),
        Some((ca, crls)) => labelgate::pki::client_path_verifier(ca, crls)
            .map(Some)
            .with_context(|| format!("IRC client certificate checks ({})", ca.display())),
    }
}
