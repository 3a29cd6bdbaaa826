//! What a registered user sends: JOIN, PART, PRIVMSG and NOTICE (CTCP and formatting read
//! here, never passed on raw), TOPIC.

use super::*;

impl<B: Backend> Client<B> {
    pub(super) async fn join(&mut self, msg: &Message) {
        if msg.params[0] == "0" {
            let chans: Vec<String> = self.channels.values().map(|c| c.name.clone()).collect();
            for channel in chans {
                self.request(Request::Part {
                    channel,
                    reason: None,
                })
                .await;
            }
            return;
        }
        for channel in msg.params[0].split(',').filter(|c| !c.is_empty()) {
            if !names::valid_channel(channel) {
                self.numeric(n::ERR_NOSUCHCHANNEL(channel, "Invalid channel name"));
                continue;
            }
            let key = names::fold(channel);
            if self.channels.contains_key(&key) && !self.parting.contains(&key) {
                continue;
            }
            self.request(Request::Join {
                channel: channel.to_owned(),
            })
            .await;
        }
    }

    pub(super) async fn part(&mut self, msg: &Message) {
        let reason = msg.params.get(1).cloned();
        for channel in msg.params[0].split(',').filter(|c| !c.is_empty()) {
            if !self.channels.contains_key(&names::fold(channel)) {
                self.numeric(n::ERR_NOTONCHANNEL(channel));
                continue;
            }
            self.parting.insert(names::fold(channel));
            self.request(Request::Part {
                channel: channel.to_owned(),
                reason: reason.clone(),
            })
            .await;
        }
    }

    pub(super) async fn privmsg(&mut self, msg: &Message, notice: bool) {
        let verb = if notice { "NOTICE" } else { "PRIVMSG" };
        let Some(targets) = msg.params.first().filter(|t| !t.is_empty()) else {
            if !notice {
                self.numeric(n::ERR_NORECIPIENT(verb));
            }
            return;
        };
        let Some(raw) = msg.params.get(1).filter(|t| !t.is_empty()).cloned() else {
            if !notice {
                self.numeric(n::ERR_NOTEXTTOSEND());
            }
            return;
        };
        // CTCP and formatting: `/me` crosses as an action, formatting is removed (the words
        // kept), other CTCP is answered here and never crosses.
        let (text, action) = match ctcp::read(&raw) {
            Ctcp::Text(t) => (ctcp::strip_formatting(t), false),
            Ctcp::Action(t) => (ctcp::strip_formatting(t), true),
            Ctcp::Query { command, args } => {
                let (command, args) = (command.to_ascii_uppercase(), args.to_owned());
                for target in targets
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .take(MAX_TARGETS)
                {
                    self.ctcp_query(verb, notice, target, &command, &args);
                }
                return;
            }
            Ctcp::Malformed => {
                if !notice {
                    for target in targets
                        .split(',')
                        .filter(|t| !t.is_empty())
                        .take(MAX_TARGETS)
                    {
                        self.standard_fail(
                            verb,
                            "INVALID_CTCP",
                            target,
                            "Not sent: the line holds a CTCP delimiter (\\x01) after its start; a CTCP message (such as /me) is the whole line",
                        );
                    }
                }
                return;
            }
        };
        if text.trim().is_empty() {
            if !notice {
                self.numeric(n::ERR_NOTEXTTOSEND());
            }
            return;
        }
        let tags: Vec<(String, Option<String>)> = msg
            .tags
            .iter()
            .filter(|(k, _)| k.starts_with('+') || k == "label")
            .cloned()
            .collect();
        let all: Vec<&str> = targets.split(',').filter(|t| !t.is_empty()).collect();
        for extra in all.iter().skip(MAX_TARGETS) {
            self.numeric(Numeric {
                code: 407,
                params: vec![
                    (*extra).to_owned(),
                    format!("Too many recipients (at most {MAX_TARGETS})"),
                ],
            });
        }
        for target in all.into_iter().take(MAX_TARGETS) {
            if target.starts_with('#') {
                if !self.channels.contains_key(&names::fold(target)) {
                    if !notice {
                        self.numeric(n::ERR_CANNOTSENDTOCHAN(
                            target,
                            "You are not on that channel",
                        ));
                    }
                    continue;
                }
            } else if !names::valid_nick(target) {
                if !notice {
                    self.numeric(n::ERR_NOSUCHNICK(target));
                }
                continue;
            } else if !notice && let Some(t) = self.away_of.get(&names::fold(target)).cloned() {
                // As an ircd does: the message goes, and the sender learns they are away.
                self.numeric(n::RPL_AWAY(target, &t));
            }
            let echo = self.caps.has(Cap::EchoMessage);
            self.request(Request::Message {
                notice,
                target: target.to_owned(),
                text: text.clone(),
                action,
                tags: tags.clone(),
                echo,
            })
            .await;
        }
    }

    /// A CTCP query (or reply) to `target`: answered by the gateway for the XMPP side, which has
    /// no CTCP; file transfer (DCC) is refused; nothing crosses.
    pub(super) fn ctcp_query(
        &mut self,
        verb: &str,
        notice: bool,
        target: &str,
        command: &str,
        args: &str,
    ) {
        if notice {
            self.server_notice(&format!(
                "[{target}] CTCP {command} replies do not cross the gateway to XMPP."
            ));
            return;
        }
        if command == "DCC" {
            let account = self.account.as_ref().map(|a| a.account.clone());
            self.shared.control_refused(
                account.as_deref().unwrap_or(""),
                target,
                crate::config::controls::name::FILE_TRANSFER,
                "a DCC offer: file transfer never crosses the gateway",
            );
            self.standard_fail(
                verb,
                "FILE_TRANSFER",
                target,
                "Not sent: file transfer (DCC) does not cross the gateway",
            );
            return;
        }
        let from = if target.starts_with('#') {
            self.shared.config.server_name.clone()
        } else {
            match self.find_member(target) {
                Some((m, _)) => m.source.mask(),
                None => {
                    self.numeric(n::ERR_NOSUCHNICK(target));
                    return;
                }
            }
        };
        let answer = match command {
            "VERSION" => ctcp::reply(
                "VERSION",
                &format!(
                    "labelgate {}: an XMPP user, through a security-label gateway",
                    env!("CARGO_PKG_VERSION")
                ),
            ),
            "PING" => ctcp::reply("PING", args),
            "TIME" => ctcp::reply("TIME", &now_tag()),
            "CLIENTINFO" => ctcp::reply("CLIENTINFO", "ACTION CLIENTINFO PING TIME VERSION"),
            other => ctcp::reply(
                "ERRMSG",
                &format!("{other} :not supported across the gateway"),
            ),
        };
        let me = self.nick_or_star();
        self.send(Message::new("NOTICE", vec![me, answer]).with_source(from));
    }

    /// HELP (RPL_HELPSTART / RPL_HELPTXT / RPL_ENDOFHELP): how labels work here.
    pub(super) fn help(&mut self, msg: &Message) {
        let subject = msg
            .params
            .first()
            .map(|s| s.to_ascii_uppercase())
            .unwrap_or_else(|| "LABELS".into());
        let lines: &[&str] = &[
            "Every line here carries a security label, shown as its marking in front.",
            "Label a line by starting it with a marking in the channel's syntax, e.g.",
            "  [SECRET] text   (some channels use another syntax: LABELS #channel says).",
            "A line without a marking goes out at the channel's default label.",
            "You see only lines your clearance covers; you cannot send above it.",
            "LABELS #channel: the channel's default label, ceiling, catalog and syntax.",
        ];
        let server = self.shared.config.server_name.clone();
        let me = self.nick_or_star();
        let numeric = |code: &str, text: &str| {
            Message::new(code, vec![me.clone(), subject.clone(), text.to_owned()])
                .with_source(server.clone())
        };
        let mut out = vec![numeric("704", "labelgate: security labels")];
        out.extend(lines.iter().map(|l| numeric("705", l)));
        out.push(numeric("706", "End of /HELP"));
        for m in out {
            self.send(m);
        }
    }

    /// TAGMSG: the target is checked like a message's. A typing notification goes to the
    /// backend (whether it crosses is the room's `chat_states` control); other client-only tags
    /// (reactions and the like) do not cross the gateway (`CLIENTTAGDENY=*,-typing`), and a
    /// TAGMSG with nothing else is answered with a refusal rather than dropped unseen.
    pub(super) async fn tagmsg(&mut self, msg: &Message) {
        let target = msg.params[0].clone();
        if target.starts_with('#') && !self.channels.contains_key(&names::fold(&target)) {
            self.numeric(n::ERR_CANNOTSENDTOCHAN(
                &target,
                "You are not on that channel",
            ));
        } else if !target.starts_with('#') && self.find_member(&target).is_none() {
            self.numeric(n::ERR_NOSUCHNICK(&target));
        } else if let Some(value) = msg.tag("+typing") {
            match value.and_then(Typing::parse) {
                Some(state) => self.request(Request::Typing { target, state }).await,
                None => self.standard_fail(
                    "TAGMSG",
                    "INVALID_TYPING",
                    &target,
                    "+typing takes active, paused or done",
                ),
            }
        } else {
            self.standard_fail(
                "TAGMSG",
                "TAG_DENIED",
                &target,
                "Not sent: client-only tags other than +typing do not cross the gateway",
            );
        }
    }

    /// A standard reply `FAIL` for clients that negotiated it, else a NOTICE naming `context`.
    pub(super) fn standard_fail(&mut self, command: &str, code: &str, context: &str, text: &str) {
        if self.caps.has(Cap::StandardReplies) {
            let server = self.shared.config.server_name.clone();
            let params = vec![command.into(), code.into(), context.into(), text.into()];
            self.send(Message::new("FAIL", params).with_source(server));
        } else {
            self.server_notice(&format!("[{context}] {text}"));
        }
    }

    pub(super) async fn topic(&mut self, msg: &Message) {
        let channel = msg.params[0].clone();
        let Some(view) = self.channels.get(&names::fold(&channel)) else {
            // Whether it is 442 (mapped) or 403 (not) is the backend's to say.
            let topic = msg.params.get(1).cloned();
            self.request(Request::Topic { channel, topic }).await;
            return;
        };
        match msg.params.get(1) {
            None => {
                let (name, topic) = (view.name.clone(), view.topic.clone());
                let (by, at) = view.topic_set.clone();
                if topic.is_empty() {
                    self.numeric(n::RPL_NOTOPIC(&name));
                } else {
                    self.numeric(n::RPL_TOPIC(&name, &topic));
                    self.numeric(n::RPL_TOPICWHOTIME(&name, &by, at));
                }
            }
            // Too long is refused in words, never cut short without a word.
            Some(t) if t.len() > names::TOPICLEN => {
                let why = format!(
                    "Not sent: the topic is longer than {} bytes (TOPICLEN)",
                    names::TOPICLEN
                );
                self.standard_fail("TOPIC", "TOO_LONG", &channel, &why);
            }
            Some(t) => {
                self.request(Request::Topic {
                    channel,
                    topic: Some(t.clone()),
                })
                .await;
            }
        }
    }

    /// KICK: a moderator's kick in the room (the room decides whether the user may).
    pub(super) async fn kick(&mut self, msg: &Message) {
        let channel = msg.params[0].clone();
        let reason = msg.params.get(2).filter(|r| !r.is_empty()).cloned();
        let Some(view) = self.channels.get(&names::fold(&channel)) else {
            // 442 or 403 (no room mapped) is the backend's to say.
            let nick = msg.params[1].clone();
            self.request(Request::Kick {
                channel,
                nick,
                reason,
            })
            .await;
            return;
        };
        let name = view.name.clone();
        for nick in msg.params[1]
            .split(',')
            .filter(|n| !n.is_empty())
            .take(MAX_TARGETS)
        {
            let present = self
                .channels
                .get(&names::fold(&channel))
                .is_some_and(|v| v.members.contains_key(&names::fold(nick)));
            if !present {
                self.numeric(n::ERR_USERNOTINCHANNEL(nick, &name));
                continue;
            }
            self.request(Request::Kick {
                channel: name.clone(),
                nick: nick.to_owned(),
                reason: reason.clone(),
            })
            .await;
        }
    }

    /// INVITE: a mediated invitation through the room (XEP-0045).
    pub(super) async fn invite(&mut self, msg: &Message) {
        let (nick, channel) = (msg.params[0].clone(), msg.params[1].clone());
        let Some(view) = self.channels.get(&names::fold(&channel)) else {
            // 442 or 403 (no room mapped) is the backend's to say.
            self.request(Request::Invite { nick, channel }).await;
            return;
        };
        if view.members.contains_key(&names::fold(&nick)) {
            let name = view.name.clone();
            self.numeric(n::ERR_USERONCHANNEL(&nick, &name));
            return;
        }
        if self.find_member(&nick).is_none() {
            self.numeric(n::ERR_NOSUCHNICK(&nick));
            return;
        }
        let channel = view.name.clone();
        self.request(Request::Invite { nick, channel }).await;
    }
}
