//! The codes of the standard replies (`FAIL <command> <code> <target> :…`) a refused line gets,
//! in one table.

use crate::metrics::Reason;

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal; )*) => {
        /// Why a typed line was refused: the code of its standard reply (`FAIL`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code { $( $(#[$doc])* $variant, )* }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as sent in `FAIL <command> <code> <target> :<text>`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }
        }
    };
}

impl Code {
    /// The metric reason a refusal counts under (none for a line that was no message).
    pub(super) fn reason(self) -> Option<Reason> {
        match self {
            Code::InvalidLabel => Some(Reason::InvalidLabel),
            Code::NotInCatalog => Some(Reason::Catalog),
            Code::NotCleared => Some(Reason::Clearance),
            Code::RoomClearance => Some(Reason::RoomClearance),
            Code::NoPrivateMessages => Some(Reason::PrivateDisabled),
            Code::QueueFull => Some(Reason::QueueFull),
            Code::XmppError => Some(Reason::XmppError),
            Code::AuditFailed => Some(Reason::XmppError),
            Code::BoundaryControl | Code::RateLimited => Some(Reason::Control),
            Code::NotInChannel | Code::CannotInvite => None,
        }
    }
}

codes! {
    /// The marking could not be read or is not a valid label under the policy.
    InvalidLabel = "INVALID_LABEL";
    /// The room accepts only the labels of its catalog.
    NotInCatalog = "LABEL_NOT_IN_CATALOG";
    /// The sender's clearance does not dominate the label.
    NotCleared = "CLEARANCE";
    /// The room's clearance does not dominate the label.
    RoomClearance = "ROOM_CLEARANCE";
    /// The room's mapping does not allow private messages.
    NoPrivateMessages = "PRIVATE_MESSAGES_DISABLED";
    /// The user is not in that channel.
    NotInChannel = "NOT_IN_CHANNEL";
    /// Too many messages are already held while the session reconnects.
    QueueFull = "QUEUE_FULL";
    /// The XMPP side failed to take the message.
    XmppError = "XMPP_ERROR";
    /// The decision could not be written to the audit trail, so nothing was sent.
    AuditFailed = "AUDIT_FAILED";
    /// A boundary control of the room's mapping refused the line (its words name it).
    BoundaryControl = "BOUNDARY_CONTROL";
    /// The sender is over the room's rate; the words say how long to wait.
    RateLimited = "RATE_LIMITED";
    /// An invitation cannot be made: the invitee's XMPP address is not visible to the user.
    CannotInvite = "CANNOT_INVITE";
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_distinct_standard_reply_codes() {
        let mut seen = HashSet::new();
        for c in Code::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{s}"
            );
        }
    }
}
