//! Channel mappings (`mappings/*.toml`): which IRC channel is which labelled MUC room, with the
//! room's default label, clearance, catalog, FLOT style and history.
//!
//! ```toml
//! [[channel]]
//! irc = "#ops"
//! room = "ops@conference.labelgate.test"
//! default_label = "OFFICIAL"                 # a marking of the gateway's policy (absent: the
//!                                            # gateway's [labels.domains] for the room's
//!                                            # domain, else its [labels] default)
//! clearance = "SECRET, UK, EU"               # the highest the room allows (clearance syntax)
//! catalog = ["OFFICIAL", "SECRET UK EYES ONLY"]   # optional labels offered
//! restrict_to_catalog = false
//! flot_template = "[{marking}] "             # optional
//! flot_pattern = '^\[(?P<marking>[^\]]+)\]\s?'  # optional
//! history = 20                               # lines replayed on join
//! flot_in_body = true                        # keep the marking at the start of XMPP bodies
//! private_messages = true
//! room_label = "OFFICIAL"                    # label of the room's free text (subject, reasons,
//!                                            # status); default: the default label
//! presence_status = "fold"                   # "fold" (default) or "room-label"
//! max_lines = 20                             # IRC lines per message at most (2..=1000)
//! replayed_subjects = "withhold"             # a subject replayed on join whose setting the
//!                                            # gateway did not see: "withhold" or "room-label"
//! network = "opsnet"                         # link mode: the channel is on this existing IRC
//!                                            # network; its ceiling must be within the
//!                                            # network's accreditation
//! ```

mod channel;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::controls::{Controls, RawControls};
pub use super::room_forms::LabelFormat;
use super::room_forms::{self, RawForms};
use super::users::{FileError, FileProblem, line_of};
use crate::irc::proto::names;
use crate::label::flot::{DEFAULT_TEMPLATE, Flot};
use crate::label::shown::Shown;
use crate::label::{Clearance, Label, PolicySet};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    channel: Vec<RawChannel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    irc: Spanned<String>,
    room: Spanned<String>,
    default_label: Option<Spanned<String>>,
    clearance: Spanned<String>,
    #[serde(default)]
    catalog: Vec<Spanned<String>>,
    #[serde(default)]
    restrict_to_catalog: bool,
    flot_template: Option<Spanned<String>>,
    flot_pattern: Option<Spanned<String>>,
    #[serde(default = "default_history")]
    history: u32,
    #[serde(default = "yes")]
    flot_in_body: bool,
    #[serde(default = "yes")]
    private_messages: bool,
    room_label: Option<Spanned<String>>,
    #[serde(default)]
    presence_status: PresenceStatus,
    #[serde(default = "default_max_lines")]
    max_lines: Spanned<usize>,
    #[serde(default)]
    replayed_subjects: ReplayedSubjects,
    network: Option<Spanned<String>>,
    #[serde(default)]
    controls: RawControls,
    marking_language: Option<Spanned<String>>,
    irc_policy: Option<Spanned<String>>,
    #[serde(default)]
    irc_markings: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    label_format: LabelFormat,
}

/// What becomes of the subject a room replays on join when the gateway did not see it set (so
/// does not know the label it was set with: rooms store subjects without labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplayedSubjects {
    /// Not shown (audited) until someone sets the subject while the gateway sees it.
    #[default]
    Withhold,
    /// Shown at the room's label (for rooms whose subjects are known never to be labelled).
    RoomLabel,
}

fn default_max_lines() -> Spanned<usize> {
    Spanned::new(0..0, 20)
}

/// What becomes of presence status text (an occupant's `<status/>`, an IRC PART or QUIT
/// reason) — M-Link's "presence folding".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PresenceStatus {
    /// Status text is dropped both ways: joins and leaves cross, their words do not.
    #[default]
    Fold,
    /// Status text crosses at the room's label, decided for each receiver (a marked IRC
    /// reason must be within the room's label: presence carries no label).
    RoomLabel,
}

fn default_history() -> u32 {
    20
}

fn yes() -> bool {
    true
}

/// One channel ↔ room mapping, validated.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// The IRC channel (as written).
    pub channel: String,
    /// The MUC room.
    pub room: jid::BareJid,
    /// The label of unlabelled messages.
    pub default_label: Label,
    /// The highest the room allows.
    pub clearance: Clearance,
    /// The same, as written in the file (for showing users).
    pub clearance_text: String,
    /// Labels offered.
    pub catalog: Vec<Label>,
    /// Only catalog labels may be used.
    pub restrict_to_catalog: bool,
    /// How markings are written and read.
    pub flot: Flot,
    /// History lines on join.
    pub history: u32,
    /// Keep the FLOT at the start of XMPP bodies.
    pub flot_in_body: bool,
    /// Private messages allowed.
    pub private_messages: bool,
    /// The label of the room's own free text — subjects, PART/QUIT/KICK reasons, presence
    /// status — when it carries none (XEP-0258: presence is decided on "a label associated
    /// with the presence resource, such as a chat room's label").
    pub room_label: Label,
    /// Whether presence status text crosses.
    pub presence_status: PresenceStatus,
    /// IRC lines per message at most; longer messages are cut with a note saying so.
    pub max_lines: usize,
    /// Replayed subjects of unknown label.
    pub replayed_subjects: ReplayedSubjects,
    /// Link mode: the existing IRC network (`[[irc_network]]`) the channel is on; `None`: a
    /// channel of the gateway's own IRC server.
    pub network: Option<String>,
    /// The boundary controls in force: the gateway's defaults under the mapping's own.
    pub controls: Controls,
    /// How labels are shown on IRC and read from what IRC users type (for one person, see
    /// `Mapping::read_in`).
    pub shown: Shown,
    /// The language of display markings written to the room and of markings read in its
    /// subjects (`marking_language`; `None`: the policy's default).
    pub room_language: Option<String>,
    /// How labels are written in stanzas to the room.
    pub label_format: LabelFormat,
    /// Where it was defined.
    pub file: PathBuf,
    /// Line.
    pub line: usize,
}

/// What the gateway file gives every mapping that does not say otherwise: default labels
/// (M-Link's levels: gateway-wide, per XMPP domain; the mapping's own wins) and the boundary
/// controls' defaults.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// `[labels] default`: the default label of mappings whose room's domain has none.
    pub label: Option<String>,
    /// `[labels.domains]`: the default label of mappings of rooms in each XMPP (MUC) domain.
    pub domain_labels: std::collections::BTreeMap<String, String>,
    /// `[controls]`.
    pub controls: RawControls,
}

/// All mappings, by folded channel name.
#[derive(Debug, Clone, Default)]
pub struct Mappings {
    by_channel: HashMap<String, Mapping>,
}

impl Mappings {
    /// The problems of the mappings that name an IRC network: a network not defined (in
    /// `written`, the names the gateway file gives, valid or not), or a ceiling the network's
    /// accreditation does not hold.
    pub fn check_networks(
        &self,
        networks: &[super::network::IrcNetwork],
        written: &[&str],
        policy: &crate::label::Policy,
    ) -> Vec<FileProblem> {
        let mut out = Vec::new();
        let mut all: Vec<&Mapping> = self.by_channel.values().collect();
        all.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        for m in all {
            let Some(name) = &m.network else { continue };
            let problem = |message: String| FileProblem {
                file: m.file.clone(),
                line: Some(m.line),
                message,
            };
            match networks.iter().find(|n| &n.name == name) {
                Some(n) if !m.clearance.within(&n.accreditation, policy) => out.push(problem(format!(
                    "{}: the room's clearance `{}` is not within network `{name}`'s accreditation `{}`",
                    m.channel, m.clearance_text, n.accreditation_text
                ))),
                Some(_) => {}
                None if written.contains(&name.as_str()) => {}
                None => out.push(problem(format!(
                    "{}: network `{name}` is not an [[irc_network]] of the gateway file",
                    m.channel
                ))),
            }
        }
        out
    }

    /// Loads every `*.toml` in `dir` (sorted), validating against `policies`, with no
    /// gateway-wide defaults.
    pub fn load_dir(dir: &Path, policies: &PolicySet) -> Result<Mappings, FileError> {
        Mappings::load_dir_with(dir, policies, &Defaults::default())
    }

    /// [`Mappings::load_dir`] under the gateway file's defaults.
    pub fn load_dir_with(
        dir: &Path,
        policies: &PolicySet,
        defaults: &Defaults,
    ) -> Result<Mappings, FileError> {
        let all: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => {
                return Err(FileError {
                    problems: vec![FileProblem {
                        file: dir.to_owned(),
                        line: None,
                        message: format!("cannot read the mappings directory: {e}"),
                    }],
                });
            }
        };
        let is_toml = |p: &PathBuf| p.extension().is_some_and(|e| e == "toml");
        let mut files: Vec<PathBuf> = all.iter().filter(|p| is_toml(p)).cloned().collect();
        files.sort();
        let mut texts = Vec::new();
        let mut problems = Vec::new();
        // A file with mappings in it under another name would silently map nothing.
        for other in all.iter().filter(|p| !is_toml(p) && p.is_file()) {
            let small = other.metadata().is_ok_and(|m| m.len() < 1 << 20);
            let mapping_like =
                |t: String| toml::from_str::<RawFile>(&t).is_ok_and(|f| !f.channel.is_empty());
            if small && std::fs::read_to_string(other).is_ok_and(mapping_like) {
                problems.push(FileProblem {
                    file: other.clone(),
                    line: None,
                    message: "holds [[channel]] mappings but is not named *.toml, so it is \
                              not read"
                        .into(),
                });
            }
        }
        if files.is_empty() {
            problems.push(FileProblem {
                file: dir.to_owned(),
                line: None,
                message: "no mapping files (*.toml): no channel would reach a room".into(),
            });
        }
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(t) => texts.push((f, t)),
                Err(e) => problems.push(FileProblem {
                    file: f,
                    line: None,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
        if !problems.is_empty() {
            return Err(FileError { problems });
        }
        Mappings::parse_with(&texts, policies, defaults)
    }

    /// Parses mapping files given as (path, text), with no gateway-wide defaults.
    pub fn parse(files: &[(PathBuf, String)], policies: &PolicySet) -> Result<Mappings, FileError> {
        Mappings::parse_with(files, policies, &Defaults::default())
    }

    /// Parses mapping files under the gateway file's defaults (labels, controls).
    pub fn parse_with(
        files: &[(PathBuf, String)],
        policies: &PolicySet,
        defaults: &Defaults,
    ) -> Result<Mappings, FileError> {
        let mut problems = Vec::new();
        let mut out = Mappings::default();
        for (path, text) in files {
            let problem = |offset: Option<usize>, message: String| FileProblem {
                file: path.clone(),
                line: offset.map(|o| line_of(text, o)),
                message,
            };
            let raw: RawFile = match toml::from_str(text) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(problem(e.span().map(|s| s.start), e.message().to_owned()));
                    continue;
                }
            };
            for c in raw.channel {
                let at = c.irc.span().start;
                let channel = c.irc.get_ref().clone();
                let mut bad =
                    |offset: usize, msg: String| problems.push(problem(Some(offset), msg));
                if !names::valid_channel(&channel) {
                    bad(at, format!("`{channel}` is not a valid IRC channel name"));
                    continue;
                }
                let key = names::fold(&channel);
                if let Some(first) = out.by_channel.get(&key) {
                    bad(
                        at,
                        format!(
                            "{channel} is already mapped in {}:{}",
                            first.file.display(),
                            first.line
                        ),
                    );
                    continue;
                }
                if let Some(m) = channel::read(
                    &c,
                    channel,
                    at,
                    path,
                    text,
                    policies,
                    defaults,
                    &mut problems,
                ) {
                    out.by_channel.insert(key, m);
                }
            }
        }
        // One room, one channel.
        let mut rooms: HashMap<&jid::BareJid, &Mapping> = HashMap::new();
        for m in out.by_channel.values() {
            if let Some(other) = rooms.insert(&m.room, m) {
                problems.push(FileProblem {
                    file: m.file.clone(),
                    line: Some(m.line),
                    message: format!(
                        "room {} is also mapped to {} ({}:{})",
                        m.room,
                        other.channel,
                        other.file.display(),
                        other.line
                    ),
                });
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            Err(FileError { problems })
        }
    }

    /// The mappings of the gateway's own IRC server (those that name no network): all a
    /// server-mode bridge may ever serve.
    pub fn own_server(&self) -> Mappings {
        self.only(|m| m.network.is_none())
    }

    /// The mappings of channels on the network `name` (link mode).
    pub fn on_network(&self, name: &str) -> Mappings {
        self.only(|m| m.network.as_deref() == Some(name))
    }

    fn only(&self, keep: impl Fn(&Mapping) -> bool) -> Mappings {
        Mappings {
            by_channel: self
                .by_channel
                .iter()
                .filter(|(_, m)| keep(m))
                .map(|(k, m)| (k.clone(), m.clone()))
                .collect(),
        }
    }

    /// The mapping of a channel.
    pub fn get(&self, channel: &str) -> Option<&Mapping> {
        self.by_channel.get(&names::fold(channel))
    }

    /// Every mapping.
    pub fn iter(&self) -> impl Iterator<Item = &Mapping> {
        self.by_channel.values()
    }

    /// Number of mappings.
    pub fn len(&self) -> usize {
        self.by_channel.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_channel.is_empty()
    }
}
