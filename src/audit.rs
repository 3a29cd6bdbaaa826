//! The audit trail and the gate every access decision passes through.
//!
//! [`Gate::clear`] is how anything crosses the gateway: it takes the value to hand over (a
//! message body, a subject, a status, a reason), decides every check asked for (the sender's
//! or receiver's clearance, the room's clearance) against every label that applies, writes one
//! JSON line for the decision, and only then wraps the value in a [`Cleared`]. A `Cleared` can
//! be made nowhere else, and the IRC and XMPP sides accept foreign text only as a `Cleared`: text
//! handed across without a decision does not compile. If the record cannot be written, the
//! answer is a denial (fail closed). Labels that could not even be read are recorded with
//! [`Gate::refuse`].
//!
//! Records are JSON lines on their own stream (a file created `0600`, by default), separate
//! from the operational `tracing` log; each is written with one `write` call, and a record that
//! could not be written whole is ended before the next so that no line is left half-written in
//! the middle of another. Message bodies are left out unless configured.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::label::{Clearance, Denied, Granted, Label, PolicySet};

/// Which way a message was going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Typed on IRC, bound for the room.
    IrcToXmpp,
    /// From the room, bound for one IRC user.
    XmppToIrc,
    /// Room history replayed to one IRC user on join.
    History,
    /// A private message.
    Private,
    /// A JOIN (the user's clearance against the room's default label).
    Join,
    /// A login attempt (refused or throttled).
    Login,
    /// A stanza that was not shown (an error from someone other than the server or room).
    Ignored,
}

/// What kind of text crossed (or was stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum What {
    /// A message body.
    Body,
    /// A room subject (IRC topic).
    Subject,
    /// Presence status text.
    Status,
    /// A part, quit or kick reason.
    Reason,
    /// An error stanza's report.
    Error,
    /// A chat state (typing notification).
    ChatState,
}

/// A value an audited decision let cross the gateway. Only [`Gate::clear`] makes one; the IRC
/// and XMPP sides take foreign text only in this form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleared<T> {
    value: T,
}

impl<T> Cleared<T> {
    /// The value.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// The value, for the side that sends it.
    pub fn into_inner(self) -> T {
        self.value
    }

    #[cfg(feature = "test-peer")]
    pub(crate) fn unchecked(value: T) -> Cleared<T> {
        Cleared { value }
    }
}

/// Whose clearance a decision checks.
#[derive(Debug, Clone, Copy)]
pub enum Check<'a> {
    /// The person sending or receiving (the context's account).
    Person(&'a Clearance),
    /// The room's clearance (its ceiling).
    Room(&'a Clearance),
}

/// Who and what a decision is about.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// Direction (`None` is not allowed when recording; see [`Gate::decide`]).
    pub direction: Option<Direction>,
    /// The IRC account concerned.
    pub account: &'a str,
    /// Their JID.
    pub jid: &'a str,
    /// The room.
    pub room: &'a str,
    /// XEP-0359 origin-id, if any.
    pub origin_id: Option<&'a str>,
    /// XEP-0359 stanza-id, if any.
    pub stanza_id: Option<&'a str>,
    /// The body (written only when the log is configured to keep bodies).
    pub body: Option<&'a str>,
    /// What kind of text (none: a message body or a join).
    pub what: Option<What>,
    /// The peer address (logins).
    pub address: Option<&'a str>,
    /// The boundary control that decided (`config::controls::name`), if one did.
    pub control: Option<&'static str>,
}

#[derive(Serialize)]
struct LabelRecord<'a> {
    policy: Option<String>,
    classification: Option<u32>,
    marking: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    privacy_mark: Option<&'a str>,
}

#[derive(Serialize)]
struct Record<'a> {
    time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<&'a str>,
    direction: Option<Direction>,
    account: &'a str,
    jid: &'a str,
    room: &'a str,
    label: Option<LabelRecord<'a>>,
    decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stanza_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    what: Option<What>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    control: Option<&'static str>,
}

/// Where audit records go.
pub struct AuditLog {
    out: Mutex<Sink>,
    bodies: bool,
    /// The gateway instance every record names (several gateways, one audit collection).
    instance: Option<String>,
}

struct Sink {
    w: Out,
    /// The last record may have been written in part: end it before the next one.
    torn: bool,
}

enum Out {
    /// A file: a record written in part is cut off again.
    File(std::fs::File),
    /// Anything else: a record written in part is ended before the next.
    Other(Box<dyn Write + Send>),
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("bodies", &self.bodies)
            .finish()
    }
}

impl AuditLog {
    /// Appends to a file, created if missing with mode `0600` (an existing file keeps its
    /// mode: the operator's choice).
    pub fn to_file(path: &Path, bodies: bool) -> std::io::Result<AuditLog> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        Ok(AuditLog {
            out: Mutex::new(Sink {
                w: Out::File(f),
                torn: false,
            }),
            bodies,
            instance: None,
        })
    }

    /// Writes to any writer (standard error, a test buffer).
    pub fn to_writer(w: Box<dyn Write + Send>, bodies: bool) -> AuditLog {
        AuditLog {
            out: Mutex::new(Sink {
                w: Out::Other(w),
                torn: false,
            }),
            bodies,
            instance: None,
        }
    }

    /// Every record names this gateway instance (`"instance": …`).
    pub fn for_instance(mut self, name: &str) -> AuditLog {
        self.instance = Some(name.to_owned());
        self
    }

    fn write(&self, rec: &Record<'_>) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(rec).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut out = self
            .out
            .lock()
            .map_err(|_| std::io::Error::other("audit log lock poisoned"))?;
        if out.torn && matches!(out.w, Out::Other(_)) {
            // End whatever part of the last record got out, so this one starts a line.
            line.insert(0, b'\n');
        }
        let sink = &mut *out;
        let result = match &mut sink.w {
            Out::File(f) => whole(f, &line).inspect_err(|e| {
                // A record written in part: cut off what got out (the file's end now, less
                // that part), so no half record stays. A failed write wrote nothing, so the
                // file's length is looked up only here, never on the way of every record.
                if let Some(PartialRecord(n, _)) = e.get_ref().and_then(|i| i.downcast_ref()) {
                    let n = *n as u64;
                    let _ = f
                        .metadata()
                        .and_then(|m| f.set_len(m.len().saturating_sub(n)));
                }
            }),
            Out::Other(w) => whole(w, &line),
        };
        sink.torn = result.is_err();
        result
    }
}

/// A label with nothing in it (never dominated: it names no policy).
static NO_LABEL: Label = Label {
    policy: None,
    classification: None,
    privacy_mark: None,
    categories: std::collections::BTreeSet::new(),
};

/// Why [`Gate::clear`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{denied}", if *room { "room clearance: " } else { "" })]
pub struct Refusal {
    /// The room's clearance refused (not the person's).
    pub room: bool,
    /// The decision.
    pub denied: Denied,
}

impl Refusal {
    /// The decision could not be recorded (not a clearance matter).
    pub fn unaudited(&self) -> bool {
        matches!(self.denied, Denied::Unaudited(_))
    }
}

/// One write for the whole record, then a flush; anything less is a failure (the rest is not
/// retried, so no record is ever split around another).
fn whole(w: &mut impl Write, line: &[u8]) -> std::io::Result<()> {
    match w.write(line) {
        Ok(n) if n == line.len() => w.flush(),
        Ok(n) => Err(std::io::Error::other(PartialRecord(n, line.len()))),
        Err(e) => Err(e),
    }
}

/// A record of which only the first `.0` of `.1` bytes were written.
#[derive(Debug, thiserror::Error)]
#[error("only {0} of {1} bytes of the record were written")]
struct PartialRecord(usize, usize);

/// The access decision, audited.
#[derive(Debug, Clone)]
pub struct Gate {
    policies: Arc<PolicySet>,
    log: Arc<AuditLog>,
}

impl Gate {
    /// A gate over `policies` writing to `log`.
    pub fn new(policies: Arc<PolicySet>, log: Arc<AuditLog>) -> Gate {
        Gate { policies, log }
    }

    /// The same log under other policies (a reload).
    pub fn with_policies(&self, policies: Arc<PolicySet>) -> Gate {
        Gate {
            policies,
            log: self.log.clone(),
        }
    }

    /// The policies decisions are made under.
    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    fn label_record<'a>(&self, label: &'a Label) -> LabelRecord<'a> {
        let policy = label.policy.as_ref().and_then(|p| self.policies.get(p));
        LabelRecord {
            policy: label.policy.as_ref().map(|p| p.to_string()),
            classification: label.classification,
            marking: policy.and_then(|p| p.render_marking(label).ok()),
            privacy_mark: label.privacy_mark.as_ref().map(|p| p.text()),
        }
    }

    fn record(
        &self,
        ctx: &Context<'_>,
        label: Option<&Label>,
        reason: Option<String>,
    ) -> std::io::Result<()> {
        let rec = Record {
            time: crate::util::timestamp_now(true),
            instance: self.log.instance.as_deref(),
            direction: ctx.direction,
            account: ctx.account,
            jid: ctx.jid,
            room: ctx.room,
            label: label.map(|l| self.label_record(l)),
            decision: if reason.is_none() { "grant" } else { "deny" },
            reason,
            origin_id: ctx.origin_id,
            stanza_id: ctx.stanza_id,
            body: ctx.body.filter(|_| self.log.bodies),
            what: ctx.what,
            address: ctx.address,
            control: ctx.control,
        };
        self.log.write(&rec)
    }

    /// Decides, records, and only then grants. A failure to record is a denial.
    pub fn decide(
        &self,
        ctx: &Context<'_>,
        clearance: &Clearance,
        label: &Label,
    ) -> Result<Granted, Denied> {
        let result = self.policies.decide(clearance, label);
        let reason = result.as_ref().err().map(|e| e.to_string());
        match self.record(ctx, Some(label), reason) {
            Ok(()) => result,
            Err(e) => {
                tracing::error!(error = %e, "audit record could not be written; denying");
                Err(Denied::Unaudited(e.to_string()))
            }
        }
    }

    /// Decides whether `value` may cross: every check in `checks` must dominate every label in
    /// `labels` (none is a denial). One record is written for the decision (the first label,
    /// or the one that failed); only then is the value handed back as [`Cleared`]. A failure to
    /// record is a denial.
    pub fn clear<T>(
        &self,
        ctx: &Context<'_>,
        checks: &[Check<'_>],
        labels: &[&Label],
        value: T,
    ) -> Result<Cleared<T>, Refusal> {
        let mut failed: Option<(&Label, Refusal)> = None;
        'all: for label in labels {
            for check in checks {
                let (c, room) = match check {
                    Check::Person(c) => (*c, false),
                    Check::Room(c) => (*c, true),
                };
                if let Err(d) = self.policies.decide(c, label) {
                    failed = Some((label, Refusal { room, denied: d }));
                    break 'all;
                }
            }
        }
        if labels.is_empty() || checks.is_empty() {
            failed = Some((
                labels.first().copied().unwrap_or(&NO_LABEL),
                Refusal {
                    room: false,
                    denied: Denied::NoPolicy,
                },
            ));
        }
        let (label, reason) = match &failed {
            Some((l, r)) => (Some(*l), Some(r.to_string())),
            None => (labels.first().copied(), None),
        };
        if let Err(e) = self.record(ctx, label, reason) {
            tracing::error!(error = %e, "audit record could not be written; denying");
            return Err(Refusal {
                room: false,
                denied: Denied::Unaudited(e.to_string()),
            });
        }
        match failed {
            Some((_, r)) => Err(r),
            None => Ok(Cleared { value }),
        }
    }

    /// Records a boundary control's refusal (`control`: its name) and returns the words for
    /// the user. A refusal that could not be recorded is still a refusal.
    pub fn stop(&self, ctx: &Context<'_>, control: &'static str, why: &str) -> String {
        let ctx = Context {
            control: Some(control),
            ..ctx.clone()
        };
        if let Err(e) = self.record(&ctx, None, Some(format!("control {control}: {why}"))) {
            tracing::error!(error = %e, "audit record could not be written");
        }
        why.to_owned()
    }

    /// Records the refusal of a label that could not be read or validated (no decision was
    /// possible). Returns the reason, for the user.
    pub fn refuse(&self, ctx: &Context<'_>, reason: &str) -> String {
        if let Err(e) = self.record(ctx, None, Some(reason.to_owned())) {
            tracing::error!(error = %e, "audit record could not be written");
        }
        reason.to_owned()
    }
}
