//! The command table: every IRC command the front-end knows, with its handler, its minimum
//! number of parameters, and whether it is allowed before registration.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum H {
    Cap,
    Authenticate,
    Pass,
    Nick,
    User,
    Ping,
    Pong,
    Quit,
    Join,
    Part,
    Privmsg,
    Notice,
    Topic,
    Names,
    Who,
    Whois,
    Mode,
    List,
    Away,
    Motd,
    Version,
    Ison,
    Userhost,
    Time,
    Tagmsg,
    Labels,
    Help,
    Kick,
    Invite,
    Whowas,
    Oper,
}

/// One row of the command table.
pub(super) struct CommandSpec {
    pub(super) name: &'static str,
    pub(super) handler: H,
    pub(super) min_params: usize,
    pub(super) pre_registration: bool,
}

macro_rules! commands {
    ($( $name:literal => $h:ident, $min:literal, $pre:literal; )*) => {
        pub(super) const COMMANDS: &[CommandSpec] = &[
            $( CommandSpec { name: $name, handler: H::$h, min_params: $min, pre_registration: $pre }, )*
        ];
    };
}

// name => handler, minimum parameters, allowed before registration.
commands! {
    "CAP" => Cap, 1, true;
    "AUTHENTICATE" => Authenticate, 1, true;
    "PASS" => Pass, 1, true;
    "NICK" => Nick, 1, true;
    "USER" => User, 4, true;
    "PING" => Ping, 1, true;
    "PONG" => Pong, 0, true;
    "QUIT" => Quit, 0, true;
    "JOIN" => Join, 1, false;
    "PART" => Part, 1, false;
    "PRIVMSG" => Privmsg, 0, false;
    "NOTICE" => Notice, 0, false;
    "TOPIC" => Topic, 1, false;
    "NAMES" => Names, 0, false;
    "WHO" => Who, 0, false;
    "WHOIS" => Whois, 1, false;
    "MODE" => Mode, 1, false;
    "LIST" => List, 0, false;
    "AWAY" => Away, 0, false;
    "MOTD" => Motd, 0, false;
    "VERSION" => Version, 0, false;
    "ISON" => Ison, 1, false;
    "USERHOST" => Userhost, 1, false;
    "TIME" => Time, 0, false;
    "TAGMSG" => Tagmsg, 1, false;
    "LABELS" => Labels, 0, false;
    "HELP" => Help, 0, false;
    "KICK" => Kick, 2, false;
    "INVITE" => Invite, 2, false;
    "WHOWAS" => Whowas, 1, false;
    "OPER" => Oper, 2, false;
}
