//! The connector: TCP → STARTTLS (or XEP-0368 direct TLS) → TLS with a client certificate →
//! SASL EXTERNAL (XEP-0178) with an optional authzid → stream restart. It hands back an
//! authenticated, not yet bound stream (the session's link binds it, see `session::link`).

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use jid::BareJid;
use minidom::Element;
use rustls::pki_types::ServerName;
use rustls::{AlertDescription, CertificateError, ClientConfig};
use tokio::io::{AsyncBufRead, AsyncWrite, BufStream};
use tokio::net::TcpStream;
use tokio_xmpp::connect::AsyncReadAndWrite;
use tokio_xmpp::xmlstream::{
    self, ReadError, RecvFeaturesError, StreamHeader, Timeouts, XmppStream, XmppStreamElement,
};
use xmpp_parsers::sasl::{self, DefinedCondition};
use xmpp_parsers::starttls;
use xmpp_parsers::stream_features::StreamFeatures;

const NS_CLIENT: &str = "jabber:client";
const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// Each direction's buffer over the TLS stream of a session (tokio's default is 8 KiB): a
/// gateway holds one session per user, and a stanza of a chat message fits in far less; a
/// longer one is read in more than one pass.
const STREAM_BUFFER: usize = 4096;

/// The XML stream of a session, over TLS.
pub type Stream = XmppStream<Box<dyn AsyncReadAndWrite + Send + 'static>>;

/// An authenticated stream, not yet bound, with the features the server offered on it.
pub struct Connection {
    /// The stream.
    pub stream: Stream,
    /// What the server offers after authentication (binding, stream management).
    pub features: StreamFeatures,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("features", &self.features)
            .finish_non_exhaustive()
    }
}

/// How TLS starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// RFC 6120 STARTTLS on a plain connection.
    StartTls,
    /// XEP-0368: TLS from the first byte.
    Direct,
}

/// Where and how to reach the XMPP server; shared by all sessions of one identity.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Server address (loopback in tests).
    pub addr: SocketAddr,
    /// The cluster's other nodes, tried in order when `addr` takes no connection (each
    /// given [`NODE_CONNECT`] to answer); empty: `addr` alone.
    pub failover: Vec<SocketAddr>,
    /// The XMPP domain, also the TLS server name checked against the certificate.
    pub domain: String,
    /// STARTTLS or direct TLS.
    pub tls_mode: TlsMode,
    /// The TLS configuration: roots and client certificate. Built once, shared.
    pub tls: Arc<ClientConfig>,
    /// Longest the whole connect-and-authenticate step may take.
    pub handshake_timeout: Duration,
    /// Stream read timeouts (keep-alive and dead-peer detection).
    pub timeouts: Timeouts,
}

/// Why a TLS handshake failed, in words an IRC user can be shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsFailure {
    /// The server's certificate is not from a trusted CA.
    #[error("the server's certificate is not signed by a trusted CA")]
    UnknownCa,
    /// The server's certificate does not name the domain.
    #[error("the server's certificate is not valid for {0}")]
    NameMismatch(String),
    /// The server's certificate has expired or is not yet valid.
    #[error("the server's certificate has expired or is not yet valid")]
    Expired,
    /// The server's certificate is revoked, or its revocation could not be decided (no CRL
    /// from its issuer, or an out-of-date one).
    #[error("the server's certificate cannot be used: {0}")]
    Revocation(String),
    /// The server refused our certificate (alert received).
    #[error("the server refused the client certificate ({0})")]
    ClientCertificateRefused(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Why a session could not be established. Each case can be shown to the IRC user.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    /// TCP connect failed.
    #[error("cannot connect to the XMPP server at {addr}: {reason}")]
    Connect {
        /// Address tried.
        addr: SocketAddr,
        /// The OS error.
        reason: String,
    },
    /// The server did not offer STARTTLS.
    #[error("the XMPP server does not offer STARTTLS")]
    StartTlsNotOffered,
    /// TLS failed.
    #[error("TLS with the XMPP server failed: {0}")]
    Tls(#[from] TlsFailure),
    /// EXTERNAL was not among the SASL mechanisms (no or untrusted client certificate).
    #[error(
        "the XMPP server does not offer SASL EXTERNAL (offered: {0}); is the client certificate trusted?"
    )]
    ExternalNotOffered(String),
    /// The server refused the certificate's identity.
    #[error("the XMPP server refused the login (not-authorized)")]
    NotAuthorized,
    /// The certificate may not act for the requested JID.
    #[error("the XMPP server refused to let this certificate act as {0} (invalid-authzid)")]
    InvalidAuthzid(String),
    /// Another SASL failure.
    #[error("SASL EXTERNAL failed: {0}")]
    Sasl(String),
    /// Resource binding failed or never completed.
    #[error("resource binding failed: {0}")]
    Bind(String),
    /// The server sent a stream error.
    #[error("the XMPP server closed the stream: {0}")]
    Stream(String),
    /// Too slow.
    #[error("the XMPP server did not answer within {0:?} ({1})")]
    Timeout(Duration, &'static str),
    /// The server said something that makes no sense here.
    #[error("XMPP protocol error: {0}")]
    Protocol(String),
    /// The connection broke.
    #[error("the XMPP connection broke: {0}")]
    Io(String),
}

impl ConnectError {
    /// Whether retrying later could help (network trouble), as opposed to a refusal that will
    /// recur (bad certificate, refused identity).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ConnectError::Connect { .. }
                | ConnectError::Timeout(..)
                | ConnectError::Io(_)
                | ConnectError::Stream(_)
                | ConnectError::Bind(_)
        )
    }
}

/// Maps an I/O error from a TLS stream to the most specific failure.
fn classify_io(e: &io::Error, domain: &str) -> ConnectError {
    let mut src: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|r| r as _);
    while let Some(s) = src {
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return ConnectError::Tls(classify_tls(tls, domain));
        }
        src = s.source();
    }
    ConnectError::Io(e.to_string())
}

fn classify_tls(e: &rustls::Error, domain: &str) -> TlsFailure {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => TlsFailure::UnknownCa,
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => TlsFailure::NameMismatch(domain.to_owned()),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => TlsFailure::Expired,
        rustls::Error::InvalidCertificate(
            CertificateError::Revoked
            | CertificateError::UnknownRevocationStatus
            | CertificateError::ExpiredRevocationList
            | CertificateError::ExpiredRevocationListContext { .. },
        ) => TlsFailure::Revocation(crate::pki::refusal(e)),
        rustls::Error::AlertReceived(
            a @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateRequired
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied
            | AlertDescription::HandshakeFailure),
        ) => TlsFailure::ClientCertificateRefused(format!("{a:?}")),
        other => TlsFailure::Other(other.to_string()),
    }
}

fn features_error(e: RecvFeaturesError, domain: &str) -> ConnectError {
    match e {
        RecvFeaturesError::Io(io) => classify_io(&io, domain),
        RecvFeaturesError::StreamError(se) => ConnectError::Stream(format!("{:?}", se.0.condition)),
    }
}

fn header(domain: &str) -> StreamHeader<'_> {
    StreamHeader {
        to: Some(Cow::Borrowed(domain)),
        from: None,
        id: None,
    }
}

/// Reads the next stream element, skipping soft timeouts (the caller bounds the whole step).
async fn next_element<Io: AsyncBufRead + AsyncWrite + Unpin>(
    stream: &mut XmppStream<Io>,
    domain: &str,
) -> Result<XmppStreamElement, ConnectError> {
    loop {
        match stream.next().await {
            None => return Err(ConnectError::Io("the server closed the connection".into())),
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(ReadError::HardError(e))) => return Err(classify_io(&e, domain)),
            Some(Err(ReadError::ParseError(e))) => {
                return Err(ConnectError::Protocol(e.to_string()));
            }
            Some(Err(ReadError::StreamFooterReceived)) => {
                return Err(ConnectError::Io("the server ended the stream".into()));
            }
            Some(Ok(el)) => match el.into_read_error() {
                Ok(XmppStreamElement::StreamError(se)) => {
                    return Err(ConnectError::Stream(format!("{:?}", se.0.condition)));
                }
                Ok(el) => return Ok(el),
                Err(ReadError::HardError(e)) => return Err(classify_io(&e, domain)),
                Err(other) => return Err(ConnectError::Protocol(format!("{other:?}"))),
            },
        }
    }
}

async fn tls_handshake(
    ep: &Endpoint,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ConnectError> {
    let name = ServerName::try_from(ep.domain.clone()).map_err(|_| {
        ConnectError::Tls(TlsFailure::Other(format!(
            "`{}` is not a DNS name",
            ep.domain
        )))
    })?;
    tokio_rustls::TlsConnector::from(ep.tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| classify_io(&e, &ep.domain))
}

/// How long one node of several may take to accept a TCP connection before the next is tried.
pub const NODE_CONNECT: Duration = Duration::from_secs(3);

/// A TCP connection to the first of the endpoint's nodes that takes one, in order. A node that
/// refuses or does not answer is logged and the next tried; the error names every node.
async fn connect_tcp(ep: &Endpoint) -> Result<TcpStream, ConnectError> {
    if ep.failover.is_empty() {
        return TcpStream::connect(ep.addr)
            .await
            .map_err(|e| ConnectError::Connect {
                addr: ep.addr,
                reason: e.to_string(),
            });
    }
    let mut failed = Vec::new();
    for addr in std::iter::once(ep.addr).chain(ep.failover.iter().copied()) {
        let why = match tokio::time::timeout(NODE_CONNECT, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => {
                if !failed.is_empty() {
                    tracing::info!(%addr, "XMPP connection to a failover node");
                }
                return Ok(tcp);
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} s", NODE_CONNECT.as_secs()),
        };
        tracing::warn!(%addr, reason = %why, "XMPP node takes no connection; trying the next");
        failed.push(format!("{addr}: {why}"));
    }
    Err(ConnectError::Connect {
        addr: ep.addr,
        reason: format!(
            "no node of the cluster takes a connection ({})",
            failed.join("; ")
        ),
    })
}

/// Connects and authenticates with SASL EXTERNAL. `authzid` is the JID to act as (trusted
/// gateway mode) or `None` (per-user certificates: the certificate names the user).
pub async fn connect(
    ep: &Endpoint,
    identity: &BareJid,
    authzid: Option<&BareJid>,
) -> Result<Connection, ConnectError> {
    tokio::time::timeout(ep.handshake_timeout, connect_inner(ep, identity, authzid))
        .await
        .map_err(|_| ConnectError::Timeout(ep.handshake_timeout, "connect and authenticate"))?
}

async fn connect_inner(
    ep: &Endpoint,
    identity: &BareJid,
    authzid: Option<&BareJid>,
) -> Result<Connection, ConnectError> {
    let tcp = connect_tcp(ep).await?;
    let _ = tcp.set_nodelay(true);
    let tls = match ep.tls_mode {
        TlsMode::Direct => tls_handshake(ep, tcp).await?,
        TlsMode::StartTls => {
            let pending = xmlstream::initiate_stream(
                BufStream::new(tcp),
                NS_CLIENT,
                header(&ep.domain),
                ep.timeouts,
            )
            .await
            .map_err(|e| ConnectError::Io(e.to_string()))?;
            let (features, mut stream): (StreamFeatures, XmppStream<_>) = pending
                .recv_features()
                .await
                .map_err(|e| features_error(e, &ep.domain))?;
            if !features.can_starttls() {
                return Err(ConnectError::StartTlsNotOffered);
            }
            stream
                .send(&XmppStreamElement::Starttls(starttls::Nonza::Request(
                    starttls::Request,
                )))
                .await
                .map_err(|e| ConnectError::Io(e.to_string()))?;
            match next_element(&mut stream, &ep.domain).await? {
                XmppStreamElement::Starttls(starttls::Nonza::Proceed(_)) => {}
                other => {
                    return Err(ConnectError::Protocol(format!(
                        "expected <proceed/>, got {other:?}"
                    )));
                }
            }
            let tcp = stream.into_inner().into_inner();
            tls_handshake(ep, tcp).await?
        }
    };
    let pending = xmlstream::initiate_stream(
        BufStream::with_capacity(STREAM_BUFFER, STREAM_BUFFER, tls),
        NS_CLIENT,
        header(&ep.domain),
        ep.timeouts,
    )
    .await
    .map_err(|e| classify_io(&e, &ep.domain))?;
    let (features, mut stream): (StreamFeatures, XmppStream<_>) = pending
        .recv_features()
        .await
        .map_err(|e| features_error(e, &ep.domain))?;
    if !features.sasl_mechanisms.contains("EXTERNAL") {
        let offered: Vec<&str> = features
            .sasl_mechanisms
            .iter()
            .map(String::as_str)
            .collect();
        return Err(ConnectError::ExternalNotOffered(offered.join(", ")));
    }
    let initial = match authzid {
        Some(j) => base64::engine::general_purpose::STANDARD.encode(j.to_string()),
        None => "=".to_owned(),
    };
    let auth = Element::builder("auth", NS_SASL)
        .attr(attr_name("mechanism"), "EXTERNAL")
        .append(initial)
        .build();
    stream
        .send(&auth)
        .await
        .map_err(|e| ConnectError::Io(e.to_string()))?;
    match next_element(&mut stream, &ep.domain).await? {
        XmppStreamElement::Sasl(sasl::Nonza::Success(_)) => {}
        XmppStreamElement::Sasl(sasl::Nonza::Failure(f)) => {
            return Err(match f.defined_condition {
                DefinedCondition::NotAuthorized => ConnectError::NotAuthorized,
                DefinedCondition::InvalidAuthzid => ConnectError::InvalidAuthzid(
                    authzid
                        .map(|j| j.to_string())
                        .unwrap_or_else(|| identity.to_string()),
                ),
                other => ConnectError::Sasl(format!("{other:?}")),
            });
        }
        other => {
            return Err(ConnectError::Protocol(format!(
                "unexpected SASL answer {other:?}"
            )));
        }
    }
    let pending = stream
        .initiate_reset()
        .send_header(header(&ep.domain))
        .await
        .map_err(|e| classify_io(&e, &ep.domain))?;
    let (features, stream): (StreamFeatures, XmppStream<_>) = pending
        .recv_features()
        .await
        .map_err(|e| features_error(e, &ep.domain))?;
    if features.bind.is_none() {
        return Err(ConnectError::Bind(
            "the server offers no resource binding".into(),
        ));
    }
    Ok(Connection {
        stream: stream.box_stream(),
        features,
    })
}

use super::muc::attr_name;
