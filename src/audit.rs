//! The audit trail and the gate every access decision passes through.
//!
//! [`Gate::decide`] is the only caller of the access decision that yields a
//! [`Granted`]: it decides, writes one JSON line for the decision
//! (grant or deny, with the reason), and only then hands out the proof. If the record cannot be
//! written, the answer is a denial (fail closed). Labels that could not even be read are
//! recorded with [`Gate::refuse`].
//!
//! Records are JSON lines on their own stream (a file, by default), separate from the
//! operational `tracing` log. Message bodies are left out unless configured.

use std::fs::OpenOptions;
use std::io::Write;
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
}

/// Where audit records go.
pub struct AuditLog {
    out: Mutex<Box<dyn Write + Send>>,
    bodies: bool,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("bodies", &self.bodies)
            .finish()
    }
}

impl AuditLog {
    /// Appends to a file (created if missing).
    pub fn to_file(path: &Path, bodies: bool) -> std::io::Result<AuditLog> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AuditLog::to_writer(Box::new(f), bodies))
    }

    /// Writes to any writer (standard error, a test buffer).
    pub fn to_writer(w: Box<dyn Write + Send>, bodies: bool) -> AuditLog {
        AuditLog {
            out: Mutex::new(w),
            bodies,
        }
    }

    fn write(&self, rec: &Record<'_>) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(rec).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut out = self
            .out
            .lock()
            .map_err(|_| std::io::Error::other("audit log lock poisoned"))?;
        out.write_all(&line)?;
        out.flush()
    }
}

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

    /// Records the refusal of a label that could not be read or validated (no decision was
    /// possible). Returns the reason, for the user.
    pub fn refuse(&self, ctx: &Context<'_>, reason: &str) -> String {
        if let Err(e) = self.record(ctx, None, Some(reason.to_owned())) {
            tracing::error!(error = %e, "audit record could not be written");
        }
        reason.to_owned()
    }
}
