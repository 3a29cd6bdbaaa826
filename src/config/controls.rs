//! Boundary controls (M-Link's peering controls, for what crosses labelgate): who may join a
//! mapped channel and how they must have logged in, which kinds of traffic cross, and the
//! limits on what crosses. Gateway-wide defaults are the gateway file's `[controls]`; a
//! mapping's `[channel.controls]` overrides them one setting at a time.
//!
//! ```toml
//! [controls]                      # gateway file: the defaults of every mapping
//! authentication = "any"          # "any" or "certificate" (SASL EXTERNAL only)
//! deny = ["mallory", "@contractors"]   # accounts, or @groups of the users file
//! max_bytes = 4000                # largest message typed on IRC (UTF-8 bytes)
//! rate = 5.0                      # messages per second per sender, sustained (default:
//!                                 # no limit beyond the IRC listener's flood control)
//! burst = 10                      # messages a sender may send at once
//!
//! [[channel]]                     # a mappings file
//! irc = "#ops"
//! # …
//! [channel.controls]
//! allow = ["@ops", "olive"]       # only these may join (absent: everyone cleared)
//! authentication = "certificate"
//! room_messages = true            # IRC lines to the room cross
//! subjects = false                # topics and room subjects do not cross, either way
//! actions = false                 # `/me` (CTCP ACTION) does not cross
//! chat_states = true              # typing notifications cross, both ways (IRCv3 `+typing`
//!                                 # ⇄ XEP-0085); default false
//! corrections = false             # XEP-0308 corrections from the room are withheld (default
//!                                 # true: shown as `(correction) …` lines)
//! receipts = true                 # the gateway answers XEP-0184 receipt requests on private
//!                                 # messages once delivered to the IRC user; default false
//! ```
//!
//! What never crosses, whatever is written here: file transfer (DCC offers from IRC are refused
//! with a reply; out-of-band data, XEP-0066, and upload links are not passed on from XMPP),
//! and any part of a stanza besides its body, label and the identifiers the gateway needs
//! (XHTML-IM, unknown payloads: "message folding"). Chat states, corrections and receipts are
//! switched above: what they carry is rebuilt by the gateway (a state, the id corrected, the id
//! received), never forwarded as received.

use serde::Deserialize;

/// How an IRC user logged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// SASL PLAIN or PASS.
    Password,
    /// SASL EXTERNAL with a client certificate.
    Certificate,
}

impl Login {
    /// The name used in messages and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            Login::Password => "password",
            Login::Certificate => "certificate",
        }
    }
}

/// The strength of authentication a channel requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Authentication {
    /// A password or a certificate.
    #[default]
    Any,
    /// A client certificate (SASL EXTERNAL) only.
    Certificate,
}

/// The controls as written (every setting optional: absent means "as the level above").
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawControls {
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
    authentication: Option<Authentication>,
    room_messages: Option<bool>,
    subjects: Option<bool>,
    actions: Option<bool>,
    chat_states: Option<bool>,
    corrections: Option<bool>,
    receipts: Option<bool>,
    max_bytes: Option<usize>,
    rate: Option<f64>,
    burst: Option<u32>,
}

/// An entry of an allow or deny list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    /// One account.
    Account(String),
    /// Every account of a users-file group (written `@name`).
    Group(String),
}

impl Member {
    fn parse(s: &str) -> Result<Member, String> {
        match s.strip_prefix('@') {
            Some(g) if valid_name(g) => Ok(Member::Group(g.to_owned())),
            None if valid_name(s) => Ok(Member::Account(s.to_owned())),
            _ => Err(format!(
                "`{s}` is not an account or an @group (letters, digits, `.`, `_`, `-`)"
            )),
        }
    }

    fn matches(&self, account: &str, groups: &[String]) -> bool {
        match self {
            Member::Account(a) => a == account,
            Member::Group(g) => groups.iter().any(|x| x == g),
        }
    }
}

impl std::fmt::Display for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Member::Account(a) => f.write_str(a),
            Member::Group(g) => write!(f, "@{g}"),
        }
    }
}

/// Whether `s` may name an account or group in a list.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// One mapping's controls, resolved and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Controls {
    /// Only these may join; `None`: everyone cleared for the room.
    pub allow: Option<Vec<Member>>,
    /// These may not join (checked before `allow`).
    pub deny: Vec<Member>,
    /// The authentication a member must have used.
    pub authentication: Authentication,
    /// IRC lines to the room cross (private messages: the mapping's `private_messages`).
    pub room_messages: bool,
    /// Subjects and topics cross, both ways.
    pub subjects: bool,
    /// `/me` crosses (as XEP-0245 `/me `).
    pub actions: bool,
    /// Typing notifications cross, both ways (IRCv3 `+typing` ⇄ XEP-0085 chat states).
    pub chat_states: bool,
    /// XEP-0308 corrections from the room cross (shown as marked `(correction)` lines).
    pub corrections: bool,
    /// XEP-0184 receipt requests on private messages are answered once the line is delivered.
    pub receipts: bool,
    /// Largest message typed on IRC, in bytes.
    pub max_bytes: usize,
    /// Messages per second per sender, sustained (`None`: no limit here; the IRC listener's
    /// flood control still paces every client).
    pub rate: Option<f64>,
    /// Messages a sender may send at once.
    pub burst: u32,
}

/// The names of the controls, as audit records and refusals give them.
pub mod name {
    /// The allow list.
    pub const ALLOW: &str = "allow";
    /// The deny list.
    pub const DENY: &str = "deny";
    /// The authentication required.
    pub const AUTHENTICATION: &str = "authentication";
    /// Room messages switched off.
    pub const ROOM_MESSAGES: &str = "room_messages";
    /// Subjects switched off.
    pub const SUBJECTS: &str = "subjects";
    /// `/me` switched off.
    pub const ACTIONS: &str = "actions";
    /// Chat states (typing notifications) switched off.
    pub const CHAT_STATES: &str = "chat_states";
    /// Corrections switched off.
    pub const CORRECTIONS: &str = "corrections";
    /// The size limit.
    pub const MAX_BYTES: &str = "max_bytes";
    /// The rate limit.
    pub const RATE: &str = "rate";
    /// File transfer (never crosses).
    pub const FILE_TRANSFER: &str = "file_transfer";
    /// Private messages switched off.
    pub const PRIVATE_MESSAGES: &str = "private_messages";
}

/// A control's refusal: which control, and the words for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// The control's name (one of [`name`]).
    pub control: &'static str,
    /// What the user is told.
    pub why: String,
}

impl Default for Controls {
    fn default() -> Self {
        Controls {
            allow: None,
            deny: Vec::new(),
            authentication: Authentication::Any,
            room_messages: true,
            subjects: true,
            actions: true,
            chat_states: false,
            corrections: true,
            receipts: false,
            max_bytes: 4000,
            rate: None,
            burst: 10,
        }
    }
}

impl RawControls {
    /// `self` with `over`'s settings where it has them.
    pub fn under(&self, over: &RawControls) -> RawControls {
        RawControls {
            allow: over.allow.clone().or_else(|| self.allow.clone()),
            deny: over.deny.clone().or_else(|| self.deny.clone()),
            authentication: over.authentication.or(self.authentication),
            room_messages: over.room_messages.or(self.room_messages),
            subjects: over.subjects.or(self.subjects),
            actions: over.actions.or(self.actions),
            chat_states: over.chat_states.or(self.chat_states),
            corrections: over.corrections.or(self.corrections),
            receipts: over.receipts.or(self.receipts),
            max_bytes: over.max_bytes.or(self.max_bytes),
            rate: over.rate.or(self.rate),
            burst: over.burst.or(self.burst),
        }
    }

    /// The controls, with the built-in defaults for what is not written; every problem found.
    pub fn resolve(&self) -> Result<Controls, Vec<String>> {
        let d = Controls::default();
        let mut problems = Vec::new();
        let mut list = |l: &Option<Vec<String>>| -> Vec<Member> {
            l.iter()
                .flatten()
                .filter_map(|s| Member::parse(s).map_err(|e| problems.push(e)).ok())
                .collect()
        };
        let allow = self.allow.is_some().then(|| list(&self.allow));
        let deny = list(&self.deny);
        let max_bytes = self.max_bytes.unwrap_or(d.max_bytes);
        if !(1..=65536).contains(&max_bytes) {
            problems.push(format!(
                "controls.max_bytes must be from 1 to 65536, not {max_bytes}"
            ));
        }
        let rate = self.rate.or(d.rate);
        if let Some(rate) = rate
            && !(rate.is_finite() && rate > 0.0 && rate <= 1000.0)
        {
            problems.push(format!(
                "controls.rate must be more than 0 and at most 1000 messages a second, not {rate}"
            ));
        }
        let burst = self.burst.unwrap_or(d.burst);
        if !(1..=1000).contains(&burst) {
            problems.push(format!(
                "controls.burst must be from 1 to 1000, not {burst}"
            ));
        }
        if allow.as_ref().is_some_and(|a| a.is_empty()) {
            problems.push("controls.allow is empty: nobody could join (leave it out to allow everyone cleared)".into());
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Controls {
            allow,
            deny,
            authentication: self.authentication.unwrap_or(d.authentication),
            room_messages: self.room_messages.unwrap_or(d.room_messages),
            subjects: self.subjects.unwrap_or(d.subjects),
            actions: self.actions.unwrap_or(d.actions),
            chat_states: self.chat_states.unwrap_or(d.chat_states),
            corrections: self.corrections.unwrap_or(d.corrections),
            receipts: self.receipts.unwrap_or(d.receipts),
            max_bytes,
            rate,
            burst,
        })
    }
}

impl Controls {
    /// Whether `account` (in `groups`, logged in by `login`) may join: the deny list, then the
    /// allow list, then the authentication required.
    pub fn admits(&self, account: &str, groups: &[String], login: Login) -> Result<(), Stopped> {
        if let Some(m) = self.deny.iter().find(|m| m.matches(account, groups)) {
            return Err(Stopped {
                control: name::DENY,
                why: format!("the channel's deny list names you ({m})"),
            });
        }
        if let Some(allow) = &self.allow
            && !allow.iter().any(|m| m.matches(account, groups))
        {
            return Err(Stopped {
                control: name::ALLOW,
                why: "you are not on the channel's allow list".into(),
            });
        }
        if self.authentication == Authentication::Certificate && login != Login::Certificate {
            return Err(Stopped {
                control: name::AUTHENTICATION,
                why: format!(
                    "the channel requires a certificate login (SASL EXTERNAL); you logged in \
                     with a {}",
                    login.as_str()
                ),
            });
        }
        Ok(())
    }

    /// Whether a line typed on IRC may cross: room messages, `/me`, and the size limit (the
    /// rate is per sender: [`RateLimit`]).
    pub fn typed(&self, private: bool, action: bool, text: &str) -> Result<(), Stopped> {
        if !private && !self.room_messages {
            return Err(Stopped {
                control: name::ROOM_MESSAGES,
                why: "messages to this room are switched off at the gateway".into(),
            });
        }
        if action && !self.actions {
            return Err(Stopped {
                control: name::ACTIONS,
                why: "/me lines do not cross to this room".into(),
            });
        }
        if text.len() > self.max_bytes {
            return Err(Stopped {
                control: name::MAX_BYTES,
                why: format!(
                    "the message is {} bytes; this room takes at most {}",
                    text.len(),
                    self.max_bytes
                ),
            });
        }
        Ok(())
    }

    /// Whether subjects cross.
    pub fn subject(&self) -> Result<(), Stopped> {
        if self.subjects {
            Ok(())
        } else {
            Err(Stopped {
                control: name::SUBJECTS,
                why: "topics do not cross to or from this room".into(),
            })
        }
    }

    /// Whether typing notifications cross.
    pub fn chat_state(&self) -> Result<(), Stopped> {
        if self.chat_states {
            Ok(())
        } else {
            Err(Stopped {
                control: name::CHAT_STATES,
                why: "typing notifications do not cross to or from this room".into(),
            })
        }
    }

    /// Whether a correction from the room crosses.
    pub fn correction(&self) -> Result<(), Stopped> {
        if self.corrections {
            Ok(())
        } else {
            Err(Stopped {
                control: name::CORRECTIONS,
                why: "corrections are not passed on from this room".into(),
            })
        }
    }

    /// The settings, one `name = value` each, for `labelgate check`.
    pub fn describe(&self) -> Vec<String> {
        let list = |l: &[Member]| {
            l.iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        vec![
            format!(
                "allow = {}",
                match &self.allow {
                    None => "everyone cleared".to_owned(),
                    Some(a) => list(a),
                }
            ),
            format!(
                "deny = {}",
                if self.deny.is_empty() {
                    "nobody".to_owned()
                } else {
                    list(&self.deny)
                }
            ),
            format!(
                "authentication = {}",
                match self.authentication {
                    Authentication::Any => "any",
                    Authentication::Certificate => "certificate",
                }
            ),
            format!("room_messages = {}", self.room_messages),
            format!("subjects = {}", self.subjects),
            format!("actions = {}", self.actions),
            format!("chat_states = {}", self.chat_states),
            format!("corrections = {}", self.corrections),
            format!("receipts = {}", self.receipts),
            format!("max_bytes = {}", self.max_bytes),
            match self.rate {
                Some(r) => format!("rate = {r}/s, burst {}", self.burst),
                None => "rate = off".to_owned(),
            },
            "file_transfer = never".to_owned(),
        ]
    }
}

/// A token bucket: one sender's messages to one room.
#[derive(Debug, Clone)]
pub struct RateLimit {
    tokens: f64,
    last: std::time::Instant,
}

impl RateLimit {
    /// A full bucket for `controls`.
    pub fn new(controls: &Controls, now: std::time::Instant) -> RateLimit {
        RateLimit {
            tokens: f64::from(controls.burst),
            last: now,
        }
    }

    /// Takes one message's token, or says how long until there is one.
    pub fn take(&mut self, controls: &Controls, now: std::time::Instant) -> Result<(), Stopped> {
        let Some(rate) = controls.rate else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * rate).min(f64::from(controls.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - self.tokens) / rate).max(0.001);
            Err(Stopped {
                control: name::RATE,
                why: format!(
                    "you are sending faster than this room allows ({}/s, {} at once); \
                     wait {wait:.1}s and send it again",
                    rate, controls.burst
                ),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn raw(text: &str) -> RawControls {
        toml::from_str(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ok(text: &str) -> Controls {
        raw(text).resolve().unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn a_mapping_overrides_the_gateway_one_setting_at_a_time() {
        let gw = raw("authentication = \"certificate\"\nmax_bytes = 100\n");
        let m = raw("max_bytes = 50\nsubjects = false\n");
        let c = gw.under(&m).resolve().unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(c.authentication, Authentication::Certificate);
        assert_eq!(c.max_bytes, 50);
        assert!(!c.subjects);
        assert!(c.room_messages);
    }

    #[test]
    fn who_is_decided_deny_first_then_allow_then_authentication() {
        let c = ok(
            "allow = [\"@ops\", \"olive\"]\ndeny = [\"mallory\"]\nauthentication = \"certificate\"",
        );
        let ops = vec!["ops".to_owned()];
        assert_eq!(c.admits("sam", &ops, Login::Certificate), Ok(()));
        assert_eq!(c.admits("olive", &[], Login::Certificate), Ok(()));
        let stop = |r: Result<(), Stopped>| r.err().map(|s| s.control);
        assert_eq!(
            stop(c.admits("mallory", &ops, Login::Certificate)),
            Some(name::DENY)
        );
        assert_eq!(
            stop(c.admits("trent", &[], Login::Certificate)),
            Some(name::ALLOW)
        );
        assert_eq!(
            stop(c.admits("olive", &[], Login::Password)),
            Some(name::AUTHENTICATION)
        );
    }

    #[test]
    fn bad_controls_are_refused_with_each_problem() {
        let e = raw("allow = []\nmax_bytes = 0\nrate = -1.0\ndeny = [\"a b\"]")
            .resolve()
            .err()
            .unwrap_or_default();
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(toml::from_str::<RawControls>("colour = 1").is_err());
    }

    #[test]
    fn the_rate_refuses_past_the_burst_and_refills() {
        let c = ok("rate = 2.0\nburst = 3");
        let t = Instant::now();
        let mut r = RateLimit::new(&c, t);
        for _ in 0..3 {
            assert_eq!(r.take(&c, t), Ok(()));
        }
        assert_eq!(r.take(&c, t).err().map(|s| s.control), Some(name::RATE));
        assert_eq!(r.take(&c, t + Duration::from_millis(600)), Ok(()));
        // Unless configured, no rate here (the IRC listener's flood control paces clients).
        let off = Controls::default();
        let mut r = RateLimit::new(&off, t);
        assert!((0..1000).all(|_| r.take(&off, t).is_ok()));
    }

    #[test]
    fn typed_lines_meet_the_switches_and_the_size() {
        let c = ok("room_messages = false\nactions = false\nmax_bytes = 5");
        let stop = |r: Result<(), Stopped>| r.err().map(|s| s.control);
        assert_eq!(stop(c.typed(false, false, "hi")), Some(name::ROOM_MESSAGES));
        assert_eq!(stop(c.typed(true, true, "hi")), Some(name::ACTIONS));
        assert_eq!(stop(c.typed(true, false, "hello!")), Some(name::MAX_BYTES));
        assert_eq!(c.typed(true, false, "hello"), Ok(()));
    }

    #[test]
    fn chat_states_corrections_and_receipts_are_switched_one_by_one() {
        let d = Controls::default();
        let stop = |r: Result<(), Stopped>| r.err().map(|s| s.control);
        assert_eq!(stop(d.chat_state()), Some(name::CHAT_STATES));
        assert_eq!(d.correction(), Ok(()));
        assert!(!d.receipts);
        let gw = raw("chat_states = true\nreceipts = true\n");
        let c = gw
            .under(&raw("corrections = false\n"))
            .resolve()
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(c.chat_state(), Ok(()));
        assert_eq!(stop(c.correction()), Some(name::CORRECTIONS));
        assert!(c.receipts);
        let shown = c.describe();
        for s in [
            "chat_states = true",
            "corrections = false",
            "receipts = true",
        ] {
            assert!(shown.iter().any(|l| l == s), "{shown:?}");
        }
    }
}
