//! IRC numeric replies: one table, one typed constructor per numeric.
//!
//! Each entry names the numeric, its code, its arguments and the parameters it sends after the
//! client's nick. Handlers build replies with these functions, never with free-form strings.

/// A numeric reply, before the server name and the client's nick are put in front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numeric {
    /// The three-digit code.
    pub code: u16,
    /// The parameters after the nick.
    pub params: Vec<String>,
}

macro_rules! numerics {
    ($( $(#[$doc:meta])* $name:ident = $code:literal ( $($arg:ident : $ty:ty),* ) => [ $($p:expr),* $(,)? ]; )*) => {
        $(
            $(#[$doc])*
            #[allow(non_snake_case)]
            pub fn $name($($arg: $ty),*) -> Numeric {
                Numeric { code: $code, params: vec![$($p.to_string()),*] }
            }
        )*
    };
}

/// 005: every token its own parameter (the caller sends at most 13 per line).
#[allow(non_snake_case)]
pub fn RPL_ISUPPORT(tokens: &[String]) -> Numeric {
    let mut params = tokens.to_vec();
    params.push("are supported by this server".into());
    Numeric { code: 5, params }
}

numerics! {
    /// 001
    RPL_WELCOME = 1 (network: &str, mask: &str) => [format!("Welcome to the {network} IRC network, {mask}")];
    /// 002
    RPL_YOURHOST = 2 (server: &str, version: &str) => [format!("Your host is {server}, running version {version}")];
    /// 003
    RPL_CREATED = 3 (when: &str) => [format!("This server was created {when}")];
    /// 004
    RPL_MYINFO = 4 (server: &str, version: &str) => [server, version, "io", "ntv", "v"];
    /// 347
    RPL_ENDOFINVITELIST = 347 (channel: &str) => [channel, "End of channel invite exception list"];
    /// 349
    RPL_ENDOFEXCEPTLIST = 349 (channel: &str) => [channel, "End of channel exception list"];
    /// 368
    RPL_ENDOFBANLIST = 368 (channel: &str) => [channel, "End of channel ban list"];
    /// 391
    RPL_TIME = 391 (server: &str, time: &str) => [server, time];
    /// 221
    RPL_UMODEIS = 221 (modes: &str) => [modes];
    /// 301
    RPL_AWAY = 301 (nick: &str, text: &str) => [nick, text];
    /// 320: free text about a user (here: that they are an XMPP user, and their address).
    RPL_WHOISSPECIAL = 320 (nick: &str, text: &str) => [nick, text];
    /// 341
    RPL_INVITING = 341 (nick: &str, channel: &str) => [nick, channel];
    /// 441
    ERR_USERNOTINCHANNEL = 441 (nick: &str, channel: &str) => [nick, channel, "They aren't on that channel"];
    /// 443
    ERR_USERONCHANNEL = 443 (nick: &str, channel: &str) => [nick, channel, "is already on channel"];
    /// 369
    RPL_ENDOFWHOWAS = 369 (nick: &str) => [nick, "End of WHOWAS"];
    /// 406
    ERR_WASNOSUCHNICK = 406 (nick: &str) => [nick, "There was no such nickname"];
    /// 491
    ERR_NOOPERHOST = 491 (why: &str) => [why];
    /// 302
    RPL_USERHOST = 302 (replies: &str) => [replies];
    /// 303
    RPL_ISON = 303 (nicks: &str) => [nicks];
    /// 305
    RPL_UNAWAY = 305 () => ["You are no longer marked as being away"];
    /// 306
    RPL_NOWAWAY = 306 () => ["You have been marked as being away"];
    /// 311
    RPL_WHOISUSER = 311 (nick: &str, user: &str, host: &str, real: &str) => [nick, user, host, "*", real];
    /// 312
    RPL_WHOISSERVER = 312 (nick: &str, server: &str, info: &str) => [nick, server, info];
    /// 315
    RPL_ENDOFWHO = 315 (mask: &str) => [mask, "End of WHO list"];
    /// 318
    RPL_ENDOFWHOIS = 318 (nick: &str) => [nick, "End of /WHOIS list"];
    /// 319
    RPL_WHOISCHANNELS = 319 (nick: &str, channels: &str) => [nick, channels];
    /// 321
    RPL_LISTSTART = 321 () => ["Channel", "Users  Name"];
    /// 322
    RPL_LIST = 322 (channel: &str, users: usize, topic: &str) => [channel, users, topic];
    /// 323
    RPL_LISTEND = 323 () => ["End of /LIST"];
    /// 324
    RPL_CHANNELMODEIS = 324 (channel: &str, modes: &str) => [channel, modes];
    /// 330
    RPL_WHOISACCOUNT = 330 (nick: &str, account: &str) => [nick, account, "is logged in as"];
    /// 331
    RPL_NOTOPIC = 331 (channel: &str) => [channel, "No topic is set"];
    /// 332
    RPL_TOPIC = 332 (channel: &str, topic: &str) => [channel, topic];
    /// 333
    RPL_TOPICWHOTIME = 333 (channel: &str, by: &str, at: u64) => [channel, by, at];
    /// 351
    RPL_VERSION = 351 (version: &str, server: &str, comments: &str) => [version, server, comments];
    /// 352
    RPL_WHOREPLY = 352 (channel: &str, user: &str, host: &str, server: &str, nick: &str, flags: &str, real: &str) => [channel, user, host, server, nick, flags, format!("0 {real}")];
    /// 353
    RPL_NAMREPLY = 353 (channel: &str, names: &str) => ["=", channel, names];
    /// 366
    RPL_ENDOFNAMES = 366 (channel: &str) => [channel, "End of /NAMES list"];
    /// 372
    RPL_MOTD = 372 (line: &str) => [format!("- {line}")];
    /// 375
    RPL_MOTDSTART = 375 (server: &str) => [format!("- {server} Message of the day - ")];
    /// 376
    RPL_ENDOFMOTD = 376 () => ["End of /MOTD command"];
    /// 401
    ERR_NOSUCHNICK = 401 (nick: &str) => [nick, "No such nick/channel"];
    /// 403
    ERR_NOSUCHCHANNEL = 403 (channel: &str, why: &str) => [channel, why];
    /// 404
    ERR_CANNOTSENDTOCHAN = 404 (channel: &str, why: &str) => [channel, why];
    /// 411
    ERR_NORECIPIENT = 411 (command: &str) => [format!("No recipient given ({command})")];
    /// 412
    ERR_NOTEXTTOSEND = 412 () => ["No text to send"];
    /// 417
    ERR_INPUTTOOLONG = 417 () => ["Input line was too long"];
    /// 421
    ERR_UNKNOWNCOMMAND = 421 (command: &str) => [command, "Unknown command"];
    /// 422
    ERR_NOMOTD = 422 () => ["MOTD File is missing"];
    /// 431
    ERR_NONICKNAMEGIVEN = 431 () => ["No nickname given"];
    /// 432
    ERR_ERRONEUSNICKNAME = 432 (nick: &str) => [nick, "Erroneous nickname"];
    /// 433
    ERR_NICKNAMEINUSE = 433 (nick: &str) => [nick, "Nickname is already in use"];
    /// 442
    ERR_NOTONCHANNEL = 442 (channel: &str) => [channel, "You're not on that channel"];
    /// 451
    ERR_NOTREGISTERED = 451 () => ["You have not registered"];
    /// 461
    ERR_NEEDMOREPARAMS = 461 (command: &str) => [command, "Not enough parameters"];
    /// 462
    ERR_ALREADYREGISTERED = 462 () => ["You may not reregister"];
    /// 464
    ERR_PASSWDMISMATCH = 464 () => ["Password incorrect"];
    /// 472
    ERR_UNKNOWNMODE = 472 (mode: char) => [mode, "is an unknown mode char to me"];
    /// 473
    ERR_INVITEONLYCHAN = 473 (channel: &str) => [channel, "Cannot join channel (+i)"];
    /// 474
    ERR_BANNEDFROMCHAN = 474 (channel: &str, why: &str) => [channel, why];
    /// 477
    ERR_NEEDREGGEDNICK = 477 (channel: &str, why: &str) => [channel, why];
    /// 482
    ERR_CHANOPRIVSNEEDED = 482 (channel: &str, why: &str) => [channel, why];
    /// 501
    ERR_UMODEUNKNOWNFLAG = 501 () => ["Unknown MODE flag"];
    /// 502
    ERR_USERSDONTMATCH = 502 () => ["Cant change mode for other users"];
    /// 900
    RPL_LOGGEDIN = 900 (mask: &str, account: &str) => [mask, account, format!("You are now logged in as {account}")];
    /// 901
    RPL_LOGGEDOUT = 901 (mask: &str) => [mask, "You are now logged out"];
    /// 902
    ERR_NICKLOCKED = 902 () => ["You must use a nick assigned to you"];
    /// 903
    RPL_SASLSUCCESS = 903 () => ["SASL authentication successful"];
    /// 904
    ERR_SASLFAIL = 904 () => ["SASL authentication failed"];
    /// 905
    ERR_SASLTOOLONG = 905 () => ["SASL message too long"];
    /// 906
    ERR_SASLABORTED = 906 () => ["SASL authentication aborted"];
    /// 907
    ERR_SASLALREADY = 907 () => ["You have already authenticated using SASL"];
    /// 908
    RPL_SASLMECHS = 908 (mechs: &str) => [mechs, "are available SASL mechanisms"];
}
