//! The first bytes of an accepted connection, before TLS and IRC: from a source the listener's
//! `proxy_from` names, the PROXY header it must send (its client address becomes the
//! connection's address, for throttling, audit and logs); from anyone else, no PROXY header
//! at all — a connection that starts with one is refused with an `ERROR` line and audited.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::proto::proxy::{self, Header, Parsed, ProxyError};
use crate::config::proxy::ProxyFrom;

/// How long a proxy has to send its whole header.
const HEADER_TIME: Duration = Duration::from_secs(5);
/// Between two looks at bytes that have not grown.
const POLL: Duration = Duration::from_millis(10);

/// Why a connection was refused before its protocol began.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// A PROXY header from a source the listener does not take one from.
    #[error("a PROXY protocol header from {0}, which this listener does not take one from")]
    Unexpected(SocketAddr),
    /// A configured proxy sent no header, a malformed one, or was too slow.
    #[error("the load balancer at {peer} sent no valid PROXY header: {why}")]
    Proxy {
        /// The proxy.
        peer: SocketAddr,
        /// What was wrong.
        why: String,
    },
}

/// Reads (from a configured proxy) or refuses (from anyone else) a PROXY header; the address
/// the connection is from. A refused connection is told with [`refuse`] (after the audit).
/// A direct client's first bytes are waited for `wait` at most (then the connection goes on,
/// and its registration timeout, counted from the accept, ends it).
pub async fn accept(
    tcp: &mut TcpStream,
    peer: SocketAddr,
    from: &ProxyFrom,
    wait: Duration,
) -> Result<SocketAddr, Refused> {
    if from.allows(peer.ip()) {
        return match tokio::time::timeout(HEADER_TIME, header(tcp)).await {
            Ok(Ok(Header::Proxied { source, .. })) => Ok(source),
            Ok(Ok(Header::Local)) => Ok(peer),
            Ok(Err(why)) => Err(Refused::Proxy { peer, why }),
            Err(_) => Err(Refused::Proxy {
                peer,
                why: format!("no whole header within {} s", HEADER_TIME.as_secs()),
            }),
        };
    }
    match tokio::time::timeout(wait, starts_like_proxy(tcp)).await {
        Ok(true) => Err(Refused::Unexpected(peer)),
        Ok(false) | Err(_) => Ok(peer),
    }
}

/// Says why on the connection (plain text: whoever sent a PROXY header speaks it), closes
/// its sending side, and reads what the peer had already sent (briefly, and bounded) so that
/// closing does not reset the connection before the peer has read the reason.
pub async fn refuse(tcp: &mut TcpStream, why: &Refused) {
    let line = format!("ERROR :Closing link: {why}\r\n");
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = tcp.write_all(line.as_bytes()).await;
        let _ = tcp.shutdown().await;
        let mut sink = [0u8; 4096];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match tcp.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// Reads exactly the header: peeks until it is whole, then consumes only its bytes.
async fn header(tcp: &mut TcpStream) -> Result<Header, String> {
    let mut buf = vec![0u8; proxy::V2_MAX];
    let mut seen = 0;
    loop {
        let n = tcp.peek(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the connection closed".into());
        }
        match proxy::parse(&buf[..n]) {
            Ok(Parsed::Done { header, len }) => {
                let mut sink = vec![0u8; len];
                tcp.read_exact(&mut sink).await.map_err(|e| e.to_string())?;
                return Ok(header);
            }
            Ok(Parsed::Incomplete) if n == buf.len() => {
                return Err(ProxyError::V2Length(n).to_string());
            }
            Ok(Parsed::Incomplete) => {
                if n == seen {
                    tokio::time::sleep(POLL).await;
                }
                seen = n;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Whether the first bytes are (or may still become) a PROXY header; `false` as soon as they
/// cannot, or when the peer closes.
async fn starts_like_proxy(tcp: &mut TcpStream) -> bool {
    let mut buf = [0u8; proxy::V2_SIGNATURE.len()];
    let mut seen = 0;
    loop {
        let n = match tcp.peek(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        if !proxy::looks_like(&buf[..n]) {
            return false;
        }
        if n >= 6 {
            // "PROXY " or the first half of the v2 signature: nothing else starts so.
            return true;
        }
        if n == seen {
            tokio::time::sleep(POLL).await;
        }
        seen = n;
    }
}
