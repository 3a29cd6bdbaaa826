//! IRCv3 capabilities: one table, and a bitset of what a client enabled.

macro_rules! caps {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $value:expr; )*) => {
        /// A capability the server offers.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Cap { $( $(#[$doc])* $variant, )* }

        impl Cap {
            /// Every capability, in table order.
            pub const ALL: &'static [Cap] = &[$(Cap::$variant),*];

            /// The wire name.
            pub fn name(self) -> &'static str {
                match self { $(Cap::$variant => $name,)* }
            }

            /// The value shown in `CAP LS 302`, if any.
            pub fn value(self) -> Option<&'static str> {
                match self { $(Cap::$variant => $value,)* }
            }

            /// Looks a capability up by wire name.
            pub fn from_name(name: &str) -> Option<Cap> {
                match name { $($name => Some(Cap::$variant),)* _ => None }
            }
        }
    };
}

caps! {
    /// SASL authentication.
    Sasl = "sasl", Some("PLAIN,EXTERNAL");
    /// Tags on messages.
    MessageTags = "message-tags", None;
    /// `time` tags.
    ServerTime = "server-time", None;
    /// Own messages are echoed back.
    EchoMessage = "echo-message", None;
    /// `account` tags.
    AccountTag = "account-tag", None;
    /// Batches.
    Batch = "batch", None;
    /// All prefixes in NAMES and WHO.
    MultiPrefix = "multi-prefix", None;
    /// `nick!user@host` in NAMES.
    UserhostInNames = "userhost-in-names", None;
    /// AWAY changes of others.
    AwayNotify = "away-notify", None;
    /// Replies carry the client's `label` tag.
    LabeledResponse = "labeled-response", None;
    /// Refusals as standard replies (`FAIL`) rather than NOTICEs.
    StandardReplies = "standard-replies", None;
    /// CAP NEW / DEL (implied by 302).
    CapNotify = "cap-notify", None;
}

/// The capabilities a client has enabled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSet(u32);

impl CapSet {
    /// Whether `cap` is on.
    pub fn has(self, cap: Cap) -> bool {
        self.0 & (1 << cap as u8) != 0
    }

    /// Turns `cap` on or off.
    pub fn set(&mut self, cap: Cap, on: bool) {
        if on {
            self.0 |= 1 << cap as u8;
        } else {
            self.0 &= !(1 << cap as u8);
        }
    }

    /// The enabled capabilities' names, space-separated.
    pub fn names(self) -> String {
        Cap::ALL
            .iter()
            .filter(|c| self.has(**c))
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(" ")
    }
}
