//! What follows authentication on a stream: resuming the previous stream (XEP-0198 §5), or
//! binding a resource (RFC 6120 §7) and enabling stream management; and the reconnect loop
//! that gets a new stream after a drop, with backoff, reporting each failed attempt.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use jid::Jid;
use tokio::sync::mpsc;
use tokio_xmpp::Stanza;
use tokio_xmpp::xmlstream::{ReadError, XmppStreamElement};
use xmpp_parsers::bind::{BindQuery, BindResponse};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::sm;

use super::super::{IdentityMode, SessionConfig, XmppEvent, new_id};
use crate::xmpp::connect::{self, ConnectError, Connection, Stream};
use tokio_xmpp::xmlstream::FallibleStreamElement;

/// Stream management as enabled on a fresh stream.
#[derive(Debug, Clone)]
pub(crate) struct Enabled {
    /// The id to resume the stream with, when the server allows resumption.
    pub(crate) resume_id: Option<String>,
}

/// A stream ready for stanzas.
pub(crate) enum Outcome {
    /// The previous stream resumed: the server had handled `h` of our stanzas.
    Resumed { stream: Box<Stream>, h: u32 },
    /// A new stream, bound afresh.
    Fresh {
        stream: Box<Stream>,
        bound: Jid,
        /// Stream management, when the server offers it.
        sm: Option<Enabled>,
        /// How many stanzas of the old stream the server said it had handled when it refused
        /// to resume (`<failed h/>`), if it said.
        old_h: Option<u32>,
        /// Stanzas the server sent before stream management was enabled.
        early: Vec<Stanza>,
    },
}

/// Reads the next element, passing over soft timeouts (the caller bounds the whole step).
async fn next(stream: &mut Stream) -> Result<FallibleStreamElement, ConnectError> {
    loop {
        match stream.next().await {
            Some(Ok(el)) => return Ok(el),
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(e)) => return Err(ConnectError::Io(e.to_string())),
            None => return Err(ConnectError::Io("the stream ended".into())),
        }
    }
}

async fn send(stream: &mut Stream, el: &XmppStreamElement) -> Result<(), ConnectError> {
    stream
        .send(el)
        .await
        .map_err(|e| ConnectError::Io(e.to_string()))
}

/// Binds a resource the server picks, then enables stream management when offered.
async fn bind_and_enable(
    mut conn: Connection,
    old_h: Option<u32>,
) -> Result<Outcome, ConnectError> {
    let id = new_id();
    let iq = Iq::from_set(id.clone(), BindQuery::new(None));
    send(&mut conn.stream, &XmppStreamElement::Stanza(Stanza::Iq(iq))).await?;
    let bound = loop {
        match next(&mut conn.stream).await? {
            FallibleStreamElement::Ok(XmppStreamElement::Stanza(Stanza::Iq(Iq::Result {
                id: got,
                payload,
                ..
            }))) if got == id => {
                let payload = payload
                    .ok_or_else(|| ConnectError::Bind("an empty answer to binding".into()))?;
                let resp = BindResponse::try_from(payload)
                    .map_err(|e| ConnectError::Bind(format!("an unreadable answer: {e}")))?;
                break Jid::from(resp);
            }
            FallibleStreamElement::Ok(XmppStreamElement::Stanza(Stanza::Iq(Iq::Error {
                id: got,
                error,
                ..
            }))) if got == id => {
                return Err(ConnectError::Bind(format!(
                    "refused: {:?}",
                    error.defined_condition
                )));
            }
            FallibleStreamElement::Ok(XmppStreamElement::StreamError(e)) => {
                return Err(ConnectError::Protocol(format!("stream error: {e:?}")));
            }
            // Nothing else is expected before binding; it is not a stanza for the session.
            other => tracing::debug!(?other, "passed over while binding"),
        }
    };
    let mut early = Vec::new();
    let sm = if conn.features.stream_management.is_some() {
        send(
            &mut conn.stream,
            &XmppStreamElement::SM(sm::Nonza::Enable(sm::Enable::new().with_resume())),
        )
        .await?;
        loop {
            match next(&mut conn.stream).await? {
                FallibleStreamElement::Ok(XmppStreamElement::SM(sm::Nonza::Enabled(e))) => {
                    break Some(Enabled {
                        resume_id: e.id.filter(|_| e.resume).map(|id| id.0),
                    });
                }
                FallibleStreamElement::Ok(XmppStreamElement::SM(sm::Nonza::Failed(f))) => {
                    tracing::warn!(error = ?f.error, "the server refused to enable stream management");
                    break None;
                }
                FallibleStreamElement::Ok(XmppStreamElement::Stanza(s)) => early.push(s),
                FallibleStreamElement::Ok(XmppStreamElement::StreamError(e)) => {
                    return Err(ConnectError::Protocol(format!("stream error: {e:?}")));
                }
                other => tracing::debug!(?other, "passed over while enabling stream management"),
            }
        }
    } else {
        None
    };
    Ok(Outcome::Fresh {
        stream: Box::new(conn.stream),
        bound,
        sm,
        old_h,
        early,
    })
}

/// The first stream of a session: binds and enables stream management.
pub(crate) async fn first(conn: Connection) -> Result<Outcome, ConnectError> {
    bind_and_enable(conn, None).await
}

/// Resumes the stream `id` (we had handled `h` of its stanzas); when the server refuses, binds
/// afresh on the same stream. `Err` with `true` means the answer could not be read: the next
/// attempt should not try to resume.
async fn resume_or_bind(
    mut conn: Connection,
    id: &str,
    h: u32,
) -> Result<Outcome, (ConnectError, bool)> {
    if conn.features.stream_management.is_none() {
        return bind_and_enable(conn, None).await.map_err(|e| (e, false));
    }
    let resume = sm::Resume {
        h,
        previd: sm::StreamId(id.to_owned()),
    };
    send(
        &mut conn.stream,
        &XmppStreamElement::SM(sm::Nonza::Resume(resume)),
    )
    .await
    .map_err(|e| (e, false))?;
    let old_h = loop {
        match conn.stream.next().await {
            Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::SM(sm::Nonza::Resumed(r))))) => {
                return Ok(Outcome::Resumed {
                    stream: Box::new(conn.stream),
                    h: r.h,
                });
            }
            Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::SM(sm::Nonza::Failed(f))))) => {
                tracing::info!(error = ?f.error, "the server did not resume the stream; binding afresh");
                break f.h;
            }
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Ok(FallibleStreamElement::Err(e))) => {
                // A well-formed element the parsers refused: in practice `<failed/>` without
                // `h`, which XEP-0198 allows (a cluster node that does not know the session
                // sends it) and xmpp-parsers does not. Either way the old stream is not
                // counted on: unacknowledged lines are reported, and the session binds afresh.
                tracing::info!(error = %e, "the server did not resume the stream (its answer gave no count); binding afresh");
                break None;
            }
            Some(Err(ReadError::ParseError(e))) => {
                tracing::warn!(error = %e, "unreadable answer to stream resumption; binding afresh");
                break None;
            }
            Some(Ok(other)) => {
                return Err((
                    ConnectError::Protocol(format!("unexpected answer to resumption: {other:?}")),
                    true,
                ));
            }
            Some(Err(e)) => return Err((ConnectError::Io(e.to_string()), false)),
            None => return Err((ConnectError::Io("the stream ended".into()), false)),
        }
    };
    bind_and_enable(conn, old_h).await.map_err(|e| (e, true))
}

/// Connects again until a stream is ready, with backoff and jitter between attempts; each
/// failed attempt is reported (best effort: a full event queue drops the report, not the
/// reconnect). `resume` is the old stream's id and our `h` for it.
pub(crate) async fn reconnect(
    config: Arc<SessionConfig>,
    mut resume: Option<(String, u32)>,
    events: mpsc::Sender<XmppEvent>,
) -> Outcome {
    let authzid = match config.mode {
        IdentityMode::TrustedGateway => Some(&config.jid),
        IdentityMode::PerUser => None,
    };
    let mut attempt = 0u32;
    loop {
        let step = async {
            let conn = connect::connect(&config.endpoint, &config.jid, authzid)
                .await
                .map_err(|e| (e, false))?;
            let negotiate = async {
                match &resume {
                    Some((id, h)) => resume_or_bind(conn, id, *h).await,
                    None => bind_and_enable(conn, None).await.map_err(|e| (e, false)),
                }
            };
            tokio::time::timeout(config.endpoint.handshake_timeout, negotiate)
                .await
                .map_err(|_| {
                    (
                        ConnectError::Timeout(config.endpoint.handshake_timeout, "negotiation"),
                        true,
                    )
                })?
        };
        match step.await {
            Ok(outcome) => return outcome,
            Err((error, confused)) => {
                if confused {
                    resume = None;
                }
                let retry_in = config.backoff.delay(attempt);
                attempt = attempt.saturating_add(1);
                tracing::warn!(jid = %config.jid, %error, ?retry_in, "XMPP reconnect failed");
                let _ = events.try_send(XmppEvent::ReconnectFailed { error, retry_in });
                tokio::time::sleep(retry_in).await;
            }
        }
    }
}
