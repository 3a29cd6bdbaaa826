//! SASL for the link connections (IRCv3 `sasl` capability): the exchange a connection runs
//! during registration when the network asks for PLAIN (account and password) or EXTERNAL (the
//! TLS client certificate). It fails closed: a server that offers no SASL, refuses the
//! capability or the mechanism, or registers the connection before it authenticated, ends the
//! attempt with the reason — the connection never goes on unauthenticated.

use base64::Engine as _;

use crate::irc::proto::message::Message;

/// The mechanism and what it sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// `PLAIN`: account and password.
    Plain {
        /// The account.
        account: String,
        /// Its password.
        password: String,
    },
    /// `EXTERNAL`: the identity of the TLS client certificate.
    External,
}

impl Mechanism {
    fn name(&self) -> &'static str {
        match self {
            Mechanism::Plain { .. } => "PLAIN",
            Mechanism::External => "EXTERNAL",
        }
    }

    /// The response, base64, in the 400-byte pieces AUTHENTICATE carries (a last piece of
    /// exactly 400 is followed by `+`).
    fn response(&self) -> Vec<String> {
        let raw = match self {
            Mechanism::Plain { account, password } => format!("{account}\0{account}\0{password}"),
            Mechanism::External => return vec!["+".into()],
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw.as_bytes());
        let mut out: Vec<String> = b64
            .as_bytes()
            .chunks(400)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        if out.last().is_some_and(|l| l.len() == 400) {
            out.push("+".into());
        }
        out
    }
}

/// Where the exchange stands.
#[derive(Debug, PartialEq, Eq)]
enum Stage {
    /// `CAP LS` sent; collecting the list (it may come in several lines).
    Listing(String),
    /// `CAP REQ :sasl` sent.
    Requested,
    /// `AUTHENTICATE <mechanism>` sent.
    Started,
    /// The response sent; waiting for 903.
    Responded,
    /// 903 received, `CAP END` sent.
    Done,
}

/// One exchange.
#[derive(Debug)]
pub struct Sasl {
    mechanism: Mechanism,
    stage: Stage,
}

impl Sasl {
    /// A new exchange for `mechanism`, and what opens it (before NICK and USER).
    pub fn start(mechanism: Mechanism) -> (Sasl, Message) {
        (
            Sasl {
                mechanism,
                stage: Stage::Listing(String::new()),
            },
            Message::new("CAP", vec!["LS".into(), "302".into()]),
        )
    }

    /// Whether the server said the authentication succeeded.
    pub fn done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Reads one message of the registration: `Ok(Some(lines))` it was the exchange's (send
    /// `lines`), `Ok(None)` it was not, `Err(why)` the attempt must end.
    pub fn on(&mut self, m: &Message) -> Result<Option<Vec<Message>>, String> {
        let verb = m.verb.to_ascii_uppercase();
        let last = m.params.last().map_or("", String::as_str);
        match (verb.as_str(), &mut self.stage) {
            ("CAP", stage) => {
                let sub = m.params.get(1).map(|s| s.to_ascii_uppercase());
                match (sub.as_deref(), stage) {
                    (Some("LS"), Stage::Listing(caps)) => {
                        caps.push_str(last);
                        caps.push(' ');
                        // `CAP * LS * :…` says more lines follow.
                        if m.params.len() >= 4 && m.params[2] == "*" {
                            return Ok(Some(Vec::new()));
                        }
                        let offered = caps
                            .split(' ')
                            .find(|c| *c == "sasl" || c.starts_with("sasl="))
                            .map(str::to_owned);
                        match offered {
                            None => Err("the server offers no SASL (CAP sasl), which the network's auth setting needs".into()),
                            Some(s) => {
                                if let Some(list) = s.strip_prefix("sasl=")
                                    && !list
                                        .split(',')
                                        .any(|x| x.eq_ignore_ascii_case(self.mechanism.name()))
                                {
                                    return Err(format!(
                                        "the server's SASL offers {list}, not {}",
                                        self.mechanism.name()
                                    ));
                                }
                                self.stage = Stage::Requested;
                                Ok(Some(vec![Message::new(
                                    "CAP",
                                    vec!["REQ".into(), "sasl".into()],
                                )]))
                            }
                        }
                    }
                    (Some("ACK"), Stage::Requested)
                        if last.split(' ').any(|c| c.eq_ignore_ascii_case("sasl")) =>
                    {
                        self.stage = Stage::Started;
                        Ok(Some(vec![Message::new(
                            "AUTHENTICATE",
                            vec![self.mechanism.name().into()],
                        )]))
                    }
                    (Some("NAK"), _) => Err("the server refused the sasl capability".into()),
                    _ => Ok(Some(Vec::new())),
                }
            }
            ("AUTHENTICATE", Stage::Started) if m.params.first().is_some_and(|p| p == "+") => {
                self.stage = Stage::Responded;
                Ok(Some(
                    self.mechanism
                        .response()
                        .into_iter()
                        .map(|piece| Message::new("AUTHENTICATE", vec![piece]))
                        .collect(),
                ))
            }
            ("AUTHENTICATE", _) => {
                Err("the server's SASL exchange is not one this client runs".into())
            }
            // RPL_LOGGEDIN / RPL_LOGGEDOUT: said on the way; 903 decides.
            ("900" | "901", _) => Ok(Some(Vec::new())),
            ("903", Stage::Responded) => {
                self.stage = Stage::Done;
                Ok(Some(vec![Message::new("CAP", vec!["END".into()])]))
            }
            ("902" | "904" | "905" | "906" | "907" | "908", _) => {
                Err(format!("SASL {} failed: {last}", self.mechanism.name()))
            }
            ("001", stage) if *stage != Stage::Done => {
                Err("the server registered the connection before SASL succeeded".into())
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(line: &str) -> Message {
        Message::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn lines(out: Option<Vec<Message>>) -> Vec<String> {
        out.unwrap_or_default()
            .iter()
            .map(Message::to_line)
            .collect()
    }

    #[test]
    fn plain_runs_to_cap_end() {
        let (mut s, hello) = Sasl::start(Mechanism::Plain {
            account: "gw".into(),
            password: "pw".into(),
        });
        assert_eq!(hello.to_line(), "CAP LS 302");
        assert!(lines(s.on(&msg(":srv CAP * LS * :multi-prefix")).unwrap()).is_empty());
        assert_eq!(
            lines(
                s.on(&msg(":srv CAP * LS :sasl=EXTERNAL,PLAIN server-time"))
                    .unwrap()
            ),
            ["CAP REQ sasl"]
        );
        assert_eq!(
            lines(s.on(&msg(":srv CAP * ACK :sasl")).unwrap()),
            ["AUTHENTICATE PLAIN"]
        );
        // base64 of "gw\0gw\0pw"
        assert_eq!(
            lines(s.on(&msg("AUTHENTICATE +")).unwrap()),
            ["AUTHENTICATE Z3cAZ3cAcHc="]
        );
        assert!(!s.done());
        assert_eq!(
            lines(
                s.on(&msg(":srv 903 * :SASL authentication successful"))
                    .unwrap()
            ),
            ["CAP END"]
        );
        assert!(s.done());
        assert_eq!(s.on(&msg(":srv 001 gw :Welcome")).unwrap(), None);
    }

    #[test]
    fn it_fails_closed() {
        let plain = || Mechanism::Plain {
            account: "gw".into(),
            password: "pw".into(),
        };
        let (mut s, _) = Sasl::start(plain());
        assert!(s.on(&msg(":srv CAP * LS :multi-prefix")).is_err());
        let (mut s, _) = Sasl::start(plain());
        assert!(s.on(&msg(":srv CAP * LS :sasl=EXTERNAL")).is_err());
        let (mut s, _) = Sasl::start(Mechanism::External);
        s.on(&msg(":srv CAP * LS :sasl")).unwrap();
        assert!(s.on(&msg(":srv CAP * NAK :sasl")).is_err());
        let (mut s, _) = Sasl::start(Mechanism::External);
        s.on(&msg(":srv CAP * LS :sasl")).unwrap();
        s.on(&msg(":srv CAP * ACK :sasl")).unwrap();
        assert_eq!(
            lines(s.on(&msg("AUTHENTICATE +")).unwrap()),
            ["AUTHENTICATE +"]
        );
        assert!(
            s.on(&msg(":srv 904 * :SASL authentication failed"))
                .is_err()
        );
        let (mut s, _) = Sasl::start(plain());
        assert!(s.on(&msg(":srv 001 gw :Welcome")).is_err());
    }

    #[test]
    fn long_responses_come_in_pieces() {
        let m = Mechanism::Plain {
            account: "a".repeat(150),
            password: "p".repeat(298),
        };
        // 150 + 1 + 150 + 1 + 298 = 600 bytes → 800 base64 characters: two full pieces and "+".
        let r = m.response();
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].len(), r[1].len(), r[2].as_str()), (400, 400, "+"));
    }
}
