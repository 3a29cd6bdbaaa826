//! Link-mode test helpers: the test network's settings, a link started against a test ircd,
//! labelled room messages, and reading dave's lines in the room.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use labelgate::audit::{AuditLog, Gate};
use labelgate::bridge::link::LinkInbound;
use labelgate::config::mappings::Mappings;
use labelgate::config::network::{IrcNetwork, NetworkAuth};
use labelgate::label::xep0258::{LabelPayload, SecurityLabel};
use labelgate::label::{Clearance, PolicySet};
use labelgate::xmpp::connect::TlsMode;
use labelgate::xmpp::muc::OutgoingMessage;
use labelgate::xmpp::session::{XmppEvent, origin_id};

use crate::common::{Identity, endpoint, wait_for};
use crate::{ircd, support};

/// `#ops` linked to `room` on the test network (default OFFICIAL, ceiling `clearance`).
pub fn ops_on_testnet(pol: &PolicySet, room: &jid::BareJid, clearance: &str) -> Mappings {
    let mapping = format!(
        "[[channel]]\nirc = \"#ops\"\nroom = \"{room}\"\ndefault_label = \"OFFICIAL\"\n\
         clearance = \"{clearance}\"\nnetwork = \"testnet\"\n"
    );
    Mappings::parse(&[(PathBuf::from("m.toml"), mapping)], pol).unwrap()
}

/// A room message as an XMPP client sends it, labelled with `marking`.
pub fn labelled(p: &PolicySet, body: &str, marking: &str) -> OutgoingMessage {
    let l = p.primary().parse_marking(marking).unwrap();
    OutgoingMessage {
        body: body.into(),
        label: Some(SecurityLabel {
            display: Some(p.primary().display_marking(&l).unwrap()),
            label: LabelPayload::Ess(l),
            equivalents: vec![],
        }),
        origin_id: origin_id(),
        notice: false,
    }
}

/// The next private message from `from` in the room that `rx`'s session sees.
pub async fn private_from(
    rx: &mut tokio::sync::mpsc::Receiver<XmppEvent>,
    from: &str,
) -> Box<labelgate::xmpp::muc::ReceivedMessage> {
    wait_for(rx, 20, |e| match e {
        XmppEvent::Private { nick, message, .. } if nick == from => Some(message.clone()),
        _ => None,
    })
    .await
}

/// Waits until `who` has joined a room that `rx`'s session is in.
pub async fn occupant_joined(rx: &mut tokio::sync::mpsc::Receiver<XmppEvent>, who: &str) {
    wait_for(rx, 20, |e| match e {
        XmppEvent::OccupantJoined { occupant, .. } if occupant.nick == who => Some(()),
        _ => None,
    })
    .await
}

/// The next room message from dave that carol sees.
pub async fn next_from_dave(
    rx: &mut tokio::sync::mpsc::Receiver<XmppEvent>,
) -> Box<labelgate::xmpp::muc::ReceivedMessage> {
    wait_for(rx, 20, |e| match e {
        XmppEvent::Groupchat { nick, message, .. } if nick.as_deref() == Some("dave") => {
            Some(message.clone())
        }
        _ => None,
    })
    .await
}

/// The test network, accredited to `accreditation`, with quick pacing.
pub fn testnet(p: &labelgate::label::Policy, accreditation: &str) -> IrcNetwork {
    IrcNetwork {
        name: "testnet".into(),
        servers: vec![],
        tls: true,
        tls_name: "localhost".into(),
        ca_file: None,
        auth: NetworkAuth::None,
        nick_template: "{nick}".into(),
        nick_length: 30,
        burst: 10,
        interval: Duration::from_millis(50),
        accreditation: Clearance::parse(p, accreditation).unwrap(),
        accreditation_text: accreditation.into(),
        puppet_domain: "irc.labelgate.test".into(),
        puppet_certificate: PathBuf::new(),
        puppet_key: PathBuf::new(),
        service_nick: "labelgate".into(),
        line: 1,
    }
}

/// The link of `network` to `net`, deciding with `pol`, auditing to `audit`, its puppets
/// logged in with the test PKI's puppet certificate.
pub fn start_link(
    net: &ircd::Ircd,
    pol: &Arc<PolicySet>,
    mappings: Mappings,
    network: IrcNetwork,
    audit: &support::Buf,
) -> LinkInbound {
    start_link_to(vec![net.tls_server()], pol, mappings, network, audit)
}

/// The same to `servers` (tried in turn).
pub fn start_link_to(
    servers: Vec<labelgate::link::Server>,
    pol: &Arc<PolicySet>,
    mappings: Mappings,
    network: IrcNetwork,
    audit: &support::Buf,
) -> LinkInbound {
    let gate = Gate::new(
        pol.clone(),
        Arc::new(AuditLog::to_writer(Box::new(audit.clone()), false)),
    );
    let mut puppets = endpoint(Identity::Puppets, TlsMode::StartTls);
    puppets.domain = "irc.labelgate.test".into();
    LinkInbound::start(
        network,
        servers,
        gate,
        Arc::new(mappings),
        Arc::new(puppets),
    )
}
