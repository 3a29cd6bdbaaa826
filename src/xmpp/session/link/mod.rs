//! The session's stream to its server, driven by the session's own task: our stanzas out in
//! order (written as they come, flushed once per burst), the server's in, XEP-0198
//! acknowledgements both ways, and after a drop a reconnect in the background that resumes the
//! stream or binds afresh.
//!
//! Acknowledgements: every `<r/>` is answered with an `<a/>` once what is already readable has
//! been read (one `<a/>` for all the `<r/>` of a burst, at most 16 stanzas late), and we ask
//! with an `<r/>` of our own after a burst of ours, never with more than one outstanding. What
//! the server has not acknowledged is kept: resent after a resumption, handed back as lost
//! after a reset (with the server's `<failed h/>` taken into account).
//!
//! This replaces tokio-xmpp's `StanzaStream`, which ran a task of its own per stream (a hand-over
//! for every stanza each way), answered every `<r/>` apart, asked an `<r/>` after every write,
//! and followed every stanza with a channel of its own. Everything here is cancel-safe:
//! [`Link::next`] may be dropped at any await (the session's task selects it against its
//! commands) without losing what was read or written.

mod negotiate;
mod sm;

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Sink, Stream as _};
use jid::Jid;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_xmpp::Stanza;
use tokio_xmpp::xmlstream::{
    FallibleStreamElement, ReadError, StreamElementError, XmppStreamElement,
};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::sm as xsm;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use super::{SessionConfig, XmppEvent, new_id};
use crate::xmpp::connect::{ConnectError, Connection, Stream};
use negotiate::Outcome;
use sm::{Counters, Outgoing};

/// An `<r/>` is answered, and what we wrote flushed, at the latest after this many further
/// stanzas have been read.
const ACK_BURST: u32 = 16;

/// How long closing may wait for what is queued and for the stream's end.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the link reports to the session.
// A stanza is moved once per read; boxing it would allocate once per stanza.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum LinkEvent<T> {
    /// A stanza from the server.
    Stanza(Stanza),
    /// The connection dropped; a reconnect is under way.
    Suspended,
    /// The old stream resumed: nothing was lost either way.
    Resumed,
    /// A new stream, bound to `bound`: what the old one carried without acknowledgement, and
    /// the messages that waited for it, are handed back in `lost`.
    Reset {
        bound: Jid,
        /// The new stream has stream management.
        sm: bool,
        lost: Vec<T>,
    },
    /// A stanza could not be written (it did not serialise); what was tracked of it.
    NotSent(T),
}

enum State {
    Up(Pin<Box<Stream>>),
    Down(JoinHandle<Outcome>),
    Closed,
}

/// Stream management on the current (or the suspended) stream.
struct Managed<T> {
    counters: Counters<T>,
    /// Set when the server allows resumption.
    resume_id: Option<String>,
}

/// What a read brought.
#[allow(clippy::large_enum_variant)]
enum Read<T> {
    Event(LinkEvent<T>),
    /// Consumed (a nonza, an unreadable stanza): read on.
    Nothing,
    /// The stream is broken.
    Broken(io::Error),
}

/// The stream of one session. `T` is what the session wants back about a message that may
/// have been lost (see [`LinkEvent::Reset`]).
pub(crate) struct Link<T> {
    config: Arc<SessionConfig>,
    /// For the reconnect task's reports.
    events: mpsc::Sender<XmppEvent>,
    state: State,
    sm: Option<Managed<T>>,
    /// Stanzas not yet written, in order.
    outbox: VecDeque<Outgoing<T>>,
    /// Events to hand out before reading more.
    ready: VecDeque<LinkEvent<T>>,
    /// An `<r/>` was read and is not answered yet.
    ack_due: bool,
    /// Stanzas read since that `<r/>`.
    reads_since_r: u32,
    /// Our `<r/>` waits for its `<a/>`.
    requested: bool,
    /// Stanzas were written since our last `<r/>`.
    request_due: bool,
    /// Bytes were written and not flushed.
    dirty: bool,
    /// Stanzas read since bytes were left unflushed.
    reads_since_write: u32,
}

impl<T> Link<T> {
    /// Binds the first stream (already authenticated) and enables stream management. Answers
    /// with the bound JID.
    pub(crate) async fn start(
        config: Arc<SessionConfig>,
        events: mpsc::Sender<XmppEvent>,
        first: Connection,
    ) -> Result<(Link<T>, Jid), ConnectError> {
        let timeout = config.endpoint.handshake_timeout;
        let outcome = tokio::time::timeout(timeout, negotiate::first(first))
            .await
            .map_err(|_| ConnectError::Bind("no answer to resource binding".into()))??;
        let Outcome::Fresh {
            stream,
            bound,
            sm,
            early,
            ..
        } = outcome
        else {
            return Err(ConnectError::Bind("a first stream cannot resume".into()));
        };
        let link = Link {
            config,
            events,
            state: State::Up(Box::into_pin(stream)),
            sm: sm.map(|e| Managed {
                counters: Counters::default(),
                resume_id: e.resume_id,
            }),
            outbox: VecDeque::new(),
            ready: early.into_iter().map(LinkEvent::Stanza).collect(),
            ack_due: false,
            reads_since_r: 0,
            requested: false,
            request_due: false,
            dirty: false,
            reads_since_write: 0,
        };
        Ok((link, bound))
    }

    /// Whether the outbox has room; the session takes no commands while it is full.
    pub(crate) fn can_accept(&self) -> bool {
        self.outbox.len() < self.config.queue_depth.max(1)
    }

    /// Queues a stanza; `track` comes back if it may have been lost (kept only on a stream
    /// with stream management, where that can be known).
    pub(crate) fn send(&mut self, stanza: Stanza, track: Option<T>) {
        let track = if self.sm.is_some() { track } else { None };
        self.outbox.push_back(Outgoing { stanza, track });
    }

    /// The next event. Writes what waits on the way; cancel-safe.
    pub(crate) async fn next(&mut self) -> LinkEvent<T> {
        poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Writes what waits, then closes the stream (waiting at most [`CLOSE_WAIT`]).
    pub(crate) async fn close(&mut self) {
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            poll_fn(|cx| self.poll_drain(cx)).await;
            if let State::Up(stream) = &mut self.state {
                let _ = poll_fn(|cx| stream.as_mut().poll_shutdown(cx)).await;
            }
        })
        .await;
        if let State::Down(task) = &self.state {
            task.abort();
        }
        self.state = State::Closed;
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<LinkEvent<T>> {
        loop {
            if let Some(ev) = self.ready.pop_front() {
                return Poll::Ready(ev);
            }
            match &mut self.state {
                State::Closed => return Poll::Pending,
                State::Down(task) => match Pin::new(task).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(outcome)) => self.up(outcome),
                    Poll::Ready(Err(e)) => {
                        tracing::error!(error = %e, "the reconnect task ended; starting another");
                        self.reconnect();
                    }
                },
                State::Up(_) => {
                    if let Err(e) = self.poll_write(cx, false) {
                        self.down(e);
                        continue;
                    }
                    match self.poll_read(cx) {
                        Poll::Ready(Read::Event(ev)) => return Poll::Ready(ev),
                        Poll::Ready(Read::Nothing) => continue,
                        Poll::Ready(Read::Broken(e)) => self.down(e),
                        Poll::Pending => {
                            // Nothing more to read for now: answer and flush.
                            if let Err(e) = self.poll_write(cx, true) {
                                self.down(e);
                                continue;
                            }
                            return Poll::Pending;
                        }
                    }
                }
            }
        }
    }

    /// Ready when nothing waits to be written (or the stream is not up).
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !matches!(self.state, State::Up(_)) {
            return Poll::Ready(());
        }
        if self.poll_write(cx, true).is_err() {
            return Poll::Ready(());
        }
        if self.outbox.is_empty() && !self.dirty {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Writes the outbox, then (when `idle`, or when it is overdue) the `<a/>`, then our `<r/>`;
    /// flushes when `idle` (nothing more to read now), or when what was written has waited for
    /// [`ACK_BURST`] stanzas read: one TLS record for a burst, not one per stanza.
    fn poll_write(&mut self, cx: &mut Context<'_>, idle: bool) -> io::Result<()> {
        let State::Up(stream) = &mut self.state else {
            return Ok(());
        };
        while !self.outbox.is_empty() {
            match <Stream as Sink<&Stanza>>::poll_ready(stream.as_mut(), cx) {
                Poll::Pending => break,
                Poll::Ready(r) => r?,
            }
            let Some(out) = self.outbox.pop_front() else {
                break;
            };
            match stream.as_mut().start_send(&out.stanza) {
                Ok(()) => {
                    self.dirty = true;
                    if let Some(m) = &mut self.sm {
                        m.counters.sent(out);
                        self.request_due = true;
                    }
                }
                // The buffer is rewound: the stream is fine, this stanza cannot be written.
                Err(e) => {
                    tracing::error!(error = %e, "a stanza could not be serialised; not sent");
                    if let Some(t) = out.track {
                        self.ready.push_back(LinkEvent::NotSent(t));
                    }
                }
            }
        }
        if let Some(m) = &self.sm {
            if self.ack_due && (idle || self.reads_since_r >= ACK_BURST) {
                let a = XmppStreamElement::SM(xsm::Nonza::Ack(xsm::A {
                    h: m.counters.inbound(),
                }));
                if write_nonza(stream.as_mut(), cx, &a)? {
                    self.ack_due = false;
                    self.reads_since_r = 0;
                    self.dirty = true;
                }
            }
            if self.request_due && !self.requested && self.outbox.is_empty() {
                let r = XmppStreamElement::SM(xsm::Nonza::Req(xsm::R));
                if write_nonza(stream.as_mut(), cx, &r)? {
                    self.requested = true;
                    self.request_due = false;
                    self.dirty = true;
                }
            }
        }
        if self.dirty && (idle || self.reads_since_write >= ACK_BURST) {
            match <Stream as Sink<&Stanza>>::poll_flush(stream.as_mut(), cx) {
                Poll::Ready(Ok(())) => {
                    self.dirty = false;
                    self.reads_since_write = 0;
                }
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {}
            }
        }
        Ok(())
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Read<T>> {
        let State::Up(stream) = &mut self.state else {
            return Poll::Pending;
        };
        let item = match stream.as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item,
        };
        Poll::Ready(match item {
            Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::Stanza(s)))) => {
                self.received();
                Read::Event(LinkEvent::Stanza(s))
            }
            Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::SM(nonza)))) => self.nonza(nonza),
            Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::StreamError(e)))) => Read::Broken(
                io::Error::other(format!("stream error from the server: {e:?}")),
            ),
            Some(Ok(FallibleStreamElement::Ok(other))) => {
                tracing::warn!(?other, "an unexpected stream element, passed over");
                Read::Nothing
            }
            Some(Ok(FallibleStreamElement::Err(StreamElementError::InvalidStanza {
                name,
                header,
                error,
                ..
            }))) => {
                // It counts as handled (the server counts it sent), and an IQ that asks is
                // answered; it reaches no one.
                self.received();
                tracing::warn!(kind = %name, from = ?header.from, id = ?header.id, %error,
                    "a stanza from the server could not be read; passed over");
                let asks = matches!(header.type_.as_deref(), Some("get" | "set"));
                if name.to_string() == "iq"
                    && asks
                    && let Some(id) = header.id
                {
                    let to = header.from.and_then(|f| f.parse::<Jid>().ok());
                    self.send(Stanza::Iq(unreadable_iq(to, id)), None);
                }
                Read::Nothing
            }
            Some(Ok(FallibleStreamElement::Err(e))) => {
                tracing::warn!(error = %e, "an unreadable stream element, passed over");
                Read::Nothing
            }
            Some(Err(ReadError::SoftTimeout)) => {
                // Quiet for a while: ask for something back before the hard timeout.
                if self.sm.is_some() {
                    if !self.requested {
                        self.request_due = true;
                    }
                } else {
                    let ping = Iq::from_get(new_id(), xmpp_parsers::ping::Ping);
                    self.send(Stanza::Iq(ping), None);
                }
                Read::Nothing
            }
            Some(Err(ReadError::ParseError(e))) => {
                tracing::warn!(error = %e, "an unreadable element from the server, passed over");
                Read::Nothing
            }
            Some(Err(ReadError::HardError(e))) => Read::Broken(e),
            Some(Err(ReadError::StreamFooterReceived)) => {
                Read::Broken(io::Error::other("the server closed the stream"))
            }
            None => Read::Broken(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection ended",
            )),
        })
    }

    fn received(&mut self) {
        if self.dirty {
            self.reads_since_write = self.reads_since_write.saturating_add(1);
        }
        if let Some(m) = &mut self.sm {
            m.counters.received();
            if self.ack_due {
                self.reads_since_r = self.reads_since_r.saturating_add(1);
            }
        }
    }

    fn nonza(&mut self, nonza: xsm::Nonza) -> Read<T> {
        let Some(m) = &mut self.sm else {
            tracing::warn!(
                ?nonza,
                "stream management element without stream management"
            );
            return Read::Nothing;
        };
        match nonza {
            xsm::Nonza::Req(_) => {
                self.ack_due = true;
                Read::Nothing
            }
            xsm::Nonza::Ack(a) => {
                self.requested = false;
                match m.counters.ack(a.h) {
                    Ok(()) => Read::Nothing,
                    Err(e) => {
                        // XEP-0198 §4: the stream cannot go on; neither can it be resumed.
                        tracing::error!(error = %e, "stream management out of step");
                        m.resume_id = None;
                        Read::Broken(io::Error::other(e.to_string()))
                    }
                }
            }
            other => {
                tracing::warn!(
                    ?other,
                    "an unexpected stream management element, passed over"
                );
                Read::Nothing
            }
        }
    }

    /// The stream broke: reconnect in the background (resuming when the server allows it).
    fn down(&mut self, error: io::Error) {
        tracing::warn!(jid = %self.config.jid, %error, "XMPP connection lost");
        self.reconnect();
        self.ready.push_back(LinkEvent::Suspended);
    }

    fn reconnect(&mut self) {
        self.ack_due = false;
        self.reads_since_r = 0;
        self.requested = false;
        self.request_due = false;
        self.dirty = false;
        self.reads_since_write = 0;
        let resume = self
            .sm
            .as_ref()
            .and_then(|m| m.resume_id.clone().map(|id| (id, m.counters.inbound())));
        let task = tokio::spawn(negotiate::reconnect(
            self.config.clone(),
            resume,
            self.events.clone(),
        ));
        self.state = State::Down(task);
    }

    /// A new stream is ready.
    fn up(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Resumed { stream, h } => {
                let again = match &mut self.sm {
                    Some(m) => m.counters.resume(h).unwrap_or_else(|e| {
                        // Resend everything rather than lose anything.
                        tracing::error!(error = %e, "resumed out of step; resending all");
                        m.counters.abandon()
                    }),
                    None => VecDeque::new(),
                };
                for out in again.into_iter().rev() {
                    self.outbox.push_front(out);
                }
                self.state = State::Up(Box::into_pin(stream));
                self.ready.push_back(LinkEvent::Resumed);
            }
            Outcome::Fresh {
                stream,
                bound,
                sm,
                old_h,
                early,
            } => {
                let mut lost = Vec::new();
                if let Some(mut m) = self.sm.take() {
                    if let Some(h) = old_h
                        && let Err(e) = m.counters.ack(h)
                    {
                        tracing::warn!(error = %e, "the server's count of the old stream is out of step");
                    }
                    lost.extend(m.counters.abandon().into_iter().filter_map(|o| o.track));
                }
                // What waited was meant for the old stream's room stays: messages are handed
                // back, presences dropped (the rooms are rejoined), the rest goes out.
                for out in std::mem::take(&mut self.outbox) {
                    match out.track {
                        Some(t) => lost.push(t),
                        None if matches!(out.stanza, Stanza::Presence(_)) => {}
                        None => self.outbox.push_back(out),
                    }
                }
                self.sm = sm.map(|e| Managed {
                    counters: Counters::default(),
                    resume_id: e.resume_id,
                });
                self.state = State::Up(Box::into_pin(stream));
                self.ready.push_back(LinkEvent::Reset {
                    bound,
                    sm: self.sm.is_some(),
                    lost,
                });
                self.ready.extend(early.into_iter().map(LinkEvent::Stanza));
            }
        }
    }
}

impl<T> Drop for Link<T> {
    fn drop(&mut self) {
        if let State::Down(task) = &self.state {
            task.abort();
        }
    }
}

/// Writes one nonza if the stream takes it now; `false` when it must wait.
fn write_nonza(
    mut stream: Pin<&mut Stream>,
    cx: &mut Context<'_>,
    el: &XmppStreamElement,
) -> io::Result<bool> {
    match <Stream as Sink<&XmppStreamElement>>::poll_ready(stream.as_mut(), cx) {
        Poll::Pending => Ok(false),
        Poll::Ready(r) => {
            r?;
            stream.start_send(el)?;
            Ok(true)
        }
    }
}

/// The answer to an IQ request that could not be read.
fn unreadable_iq(to: Option<Jid>, id: String) -> Iq {
    Iq::Error {
        from: None,
        to,
        id,
        error: StanzaError::new(
            ErrorType::Modify,
            DefinedCondition::BadRequest,
            "en",
            "the gateway session could not read this request",
        ),
        payload: None,
    }
}
