//! Deliveries from the backend rendered as IRC lines for this client: its capabilities decide
//! the tags; every message line is one the bridge cleared.

use super::*;

impl<B: Backend> Client<B> {
    pub(super) fn tagged(
        &self,
        mut m: Message,
        tags: &[(String, Option<String>)],
        time: Option<&str>,
        account: Option<&str>,
    ) -> Message {
        if self.caps.has(Cap::ServerTime) {
            m.tags.push((
                "time".into(),
                Some(time.map(str::to_owned).unwrap_or_else(now_tag)),
            ));
        }
        if let Some(a) = account.filter(|_| self.caps.has(Cap::AccountTag)) {
            m.tags.push(("account".into(), Some(a.to_owned())));
        }
        if self.caps.has(Cap::MessageTags) {
            m.tags.extend(tags.iter().cloned());
        }
        m
    }

    /// Forgets `nick`'s away state once they share no channel with the user.
    fn forget_away_if_gone(&mut self, nick: &str) {
        if self.find_member(nick).is_none() {
            self.away_of.remove(&names::fold(nick));
        }
    }

    pub(super) fn delivery(&mut self, d: Delivery) {
        match d {
            Delivery::Joined {
                channel,
                topic,
                topic_by,
                members,
            } => {
                let key = names::fold(&channel);
                let mask = self.mask();
                let account = self.account.as_ref().map(|a| a.account.clone());
                let join = self.tagged(
                    Message::new("JOIN", vec![channel.clone()]).with_source(mask),
                    &[],
                    None,
                    account.as_deref(),
                );
                self.send(join);
                let topic = topic.map(Cleared::into_inner).unwrap_or_default();
                let set = topic_set(topic_by.as_deref(), &self.shared.config.server_name);
                let view = ChannelView {
                    name: channel.clone(),
                    topic: topic.clone(),
                    topic_set: set.clone(),
                    members: members
                        .into_iter()
                        .map(|m| (names::fold(&m.source.nick), m))
                        .collect(),
                };
                self.channels.insert(key.clone(), view);
                if !topic.is_empty() {
                    self.numeric(n::RPL_TOPIC(&channel, &topic));
                    self.numeric(n::RPL_TOPICWHOTIME(&channel, &set.0, set.1));
                }
                self.names_of(&key);
            }
            Delivery::JoinRefused { channel, reason } => match reason {
                JoinRefusal::NoSuchChannel(why) | JoinRefusal::Other(why) => {
                    self.numeric(n::ERR_NOSUCHCHANNEL(&channel, &why));
                }
                JoinRefusal::NotCleared(why) => {
                    self.numeric(n::ERR_NEEDREGGEDNICK(
                        &channel,
                        &format!("Cannot join channel: {why}"),
                    ));
                    self.server_notice(&format!("You cannot join {channel}: {why}"));
                }
                JoinRefusal::Control {
                    authentication,
                    why,
                } => {
                    let words = format!("Cannot join channel: {why}");
                    if authentication {
                        self.numeric(n::ERR_NEEDREGGEDNICK(&channel, &words));
                    } else {
                        self.numeric(n::ERR_BANNEDFROMCHAN(&channel, &words));
                    }
                    self.server_notice(&format!("You cannot join {channel}: {why}"));
                }
            },
            Delivery::Message {
                from,
                target,
                message,
                notice,
                action,
            } => {
                let verb = if notice { "NOTICE" } else { "PRIVMSG" };
                let Relayed { lines, tags, time } = message.into_inner();
                for text in lines {
                    let text = if action { ctcp::action(&text) } else { text };
                    let m = Message::new(verb, vec![target.clone(), text]).with_source(from.mask());
                    let m = self.tagged(m, &tags, time.as_deref(), from.account.as_deref());
                    self.send(m);
                }
            }
            // A typing notification has no text to show: clients without message-tags get
            // nothing (as from any IRC server).
            Delivery::Typing {
                from,
                target,
                state,
            } => {
                if self.caps.has(Cap::MessageTags) {
                    let value = state.into_inner().as_str().to_owned();
                    let m = Message::new("TAGMSG", vec![target]).with_source(from.mask());
                    let mut m = self.tagged(m, &[], None, from.account.as_deref());
                    m.tags.push(("+typing".into(), Some(value)));
                    self.send(m);
                }
            }
            Delivery::Join { channel, who } => {
                let key = names::fold(&channel);
                if let Some(view) = self.channels.get_mut(&key) {
                    view.members
                        .insert(names::fold(&who.source.nick), who.clone());
                    let name = view.name.clone();
                    let m = Message::new("JOIN", vec![name.clone()]).with_source(who.source.mask());
                    let m = self.tagged(m, &[], None, who.source.account.as_deref());
                    self.send(m);
                    // JOIN carries no prefix: the member's status follows as a mode change.
                    let modes = match (who.op, who.voice) {
                        (true, true) => Some("+ov"),
                        (true, false) => Some("+o"),
                        (false, true) => Some("+v"),
                        (false, false) => None,
                    };
                    if let Some(modes) = modes {
                        let mut params = vec![name, modes.to_owned(), who.source.nick.clone()];
                        if who.op && who.voice {
                            params.push(who.source.nick.clone());
                        }
                        let server = self.shared.config.server_name.clone();
                        self.send(Message::new("MODE", params).with_source(server));
                    }
                }
            }
            Delivery::Part {
                channel,
                who,
                reason,
            } => {
                let key = names::fold(&channel);
                let me = names::fold(&who.nick) == names::fold(&self.nick_or_star());
                if let Some(view) = self.channels.get_mut(&key) {
                    view.members.remove(&names::fold(&who.nick));
                    let mut params = vec![view.name.clone()];
                    params.extend(reason.map(|r| r.as_str().to_owned()));
                    self.send(Message::new("PART", params).with_source(who.mask()));
                }
                if me {
                    self.channels.remove(&key);
                    self.parting.remove(&key);
                }
                self.forget_away_if_gone(&who.nick);
            }
            Delivery::Quit { who, reason } => {
                let key = names::fold(&who.nick);
                let mut seen = false;
                for view in self.channels.values_mut() {
                    seen |= view.members.remove(&key).is_some();
                }
                self.away_of.remove(&key);
                if seen {
                    let reason = reason.map(|r| r.as_str().to_owned()).unwrap_or_default();
                    self.send(Message::new("QUIT", vec![reason]).with_source(who.mask()));
                }
            }
            Delivery::Nick { who, new } => {
                let old = names::fold(&who.nick);
                if let Some(t) = self.away_of.remove(&old) {
                    self.away_of.insert(names::fold(&new), t);
                }
                let mut seen = false;
                for view in self.channels.values_mut() {
                    if let Some(mut m) = view.members.remove(&old) {
                        m.source.nick = new.clone();
                        view.members.insert(names::fold(&new), m);
                        seen = true;
                    }
                }
                if seen {
                    self.send(Message::new("NICK", vec![new]).with_source(who.mask()));
                }
            }
            Delivery::Kick {
                channel,
                by,
                nick,
                reason,
            } => {
                let key = names::fold(&channel);
                if let Some(view) = self.channels.get_mut(&key) {
                    view.members.remove(&names::fold(&nick));
                    let mut params = vec![view.name.clone(), nick.clone()];
                    params.extend(reason.map(|r| r.as_str().to_owned()));
                    self.send(Message::new("KICK", params).with_source(by.mask()));
                }
                if names::fold(&nick) == names::fold(&self.nick_or_star()) {
                    self.channels.remove(&key);
                    self.parting.remove(&key);
                }
                self.forget_away_if_gone(&nick);
            }
            Delivery::Topic { channel, topic, by } => {
                let topic = topic.map(Cleared::into_inner).unwrap_or_default();
                let key = names::fold(&channel);
                let server = self.shared.config.server_name.clone();
                if let Some(view) = self.channels.get_mut(&key) {
                    view.topic = topic.clone();
                    view.topic_set = topic_set(by.as_ref().map(|b| b.nick.as_str()), &server);
                }
                match by {
                    Some(who) => self
                        .send(Message::new("TOPIC", vec![channel, topic]).with_source(who.mask())),
                    None if topic.is_empty() => self.numeric(n::RPL_NOTOPIC(&channel)),
                    None => self.numeric(n::RPL_TOPIC(&channel, &topic)),
                }
            }
            Delivery::List { entries } => {
                self.numeric(n::RPL_LISTSTART());
                let masks = std::mem::take(&mut self.list_masks);
                for (c, users, topic) in entries {
                    let key = names::fold(&c);
                    if !masks.is_empty() && !masks.iter().any(|m| names::glob(m, &key)) {
                        continue;
                    }
                    // For a channel the user is in: its members and the topic as decided for
                    // them; for others, what the backend knows.
                    let (users, topic) = match self.channels.get(&key) {
                        Some(v) => (v.members.len(), v.topic.clone()),
                        None => (users, topic.as_str().to_owned()),
                    };
                    self.numeric(n::RPL_LIST(&c, users, &topic));
                }
                self.numeric(n::RPL_LISTEND());
            }
            Delivery::Away { who, text } => {
                let key = names::fold(&who.nick);
                let text = text.map(|t| t.as_str().to_owned());
                let changed = match &text {
                    Some(t) => self.away_of.insert(key, t.clone()).as_ref() != Some(t),
                    None => self.away_of.remove(&key).is_some(),
                };
                if changed && self.caps.has(Cap::AwayNotify) {
                    let params = text.into_iter().collect();
                    self.send(Message::new("AWAY", params).with_source(who.mask()));
                }
            }
            Delivery::ServerNotice { text } => self.server_notice(&text),
            Delivery::ChannelNotice { channel, text } => {
                let server = self.shared.config.server_name.clone();
                self.send(Message::new("NOTICE", vec![channel, text]).with_source(server));
            }
            Delivery::Fail {
                command,
                code,
                context,
                text,
            } => self.standard_fail(&command, &code, &context, &text),
            Delivery::NotInChannel { channel, mapped } => {
                if mapped {
                    self.numeric(n::ERR_NOTONCHANNEL(&channel));
                } else {
                    let why = "No room is mapped to this channel";
                    self.numeric(n::ERR_NOSUCHCHANNEL(&channel, why));
                }
            }
            Delivery::NotOperator { channel, why } => {
                self.numeric(n::ERR_CHANOPRIVSNEEDED(&channel, &why));
            }
            Delivery::Inviting { nick, channel } => {
                self.numeric(n::RPL_INVITING(&nick, &channel));
            }
            Delivery::NoSuchTarget { target } => self.numeric(n::ERR_NOSUCHNICK(&target)),
            Delivery::Disconnect { reason } => self.quit = Some(reason),
            Delivery::Pong { token } => self.pong(token),
            Delivery::Response { label, deliveries } => {
                // What is in the buffer already is not part of this answer.
                self.flush_buffer(None);
                for d in deliveries {
                    self.delivery(d);
                }
                self.flush_buffer(Some(label));
            }
        }
    }
}
