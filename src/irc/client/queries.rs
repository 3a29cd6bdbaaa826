//! What a user asks about: NAMES, WHO, WHOIS, MODE, AWAY, ISON, USERHOST, MOTD, HELP.

use super::*;

impl<B: Backend> Client<B> {
    pub(super) fn motd(&mut self) {
        let cfg = self.shared.config.clone();
        if cfg.motd.is_empty() {
            self.numeric(n::ERR_NOMOTD());
            return;
        }
        self.numeric(n::RPL_MOTDSTART(&cfg.server_name));
        for l in &cfg.motd {
            self.numeric(n::RPL_MOTD(l));
        }
        self.numeric(n::RPL_ENDOFMOTD());
    }

    pub(super) fn names_of(&mut self, key: &str) {
        let Some(view) = self.channels.get(key) else {
            return;
        };
        let multi = self.caps.has(Cap::MultiPrefix);
        let uhnames = self.caps.has(Cap::UserhostInNames);
        let name = view.name.clone();
        let mut entries: Vec<String> = view
            .members
            .values()
            .map(|m| {
                let mut p = String::new();
                if m.op {
                    p.push('@');
                }
                if m.voice && (multi || !m.op) {
                    p.push('+');
                }
                let who = if uhnames {
                    m.source.mask()
                } else {
                    m.source.nick.clone()
                };
                format!("{p}{who}")
            })
            .collect();
        entries.sort();
        let mut line = String::new();
        for e in entries {
            if line.len() + e.len() > 380 {
                self.numeric(n::RPL_NAMREPLY(&name, &line));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&e);
        }
        if !line.is_empty() {
            self.numeric(n::RPL_NAMREPLY(&name, &line));
        }
        self.numeric(n::RPL_ENDOFNAMES(&name));
    }

    pub(super) fn names(&mut self, msg: &Message) {
        match msg.params.first() {
            None => self.numeric(n::RPL_ENDOFNAMES("*")),
            Some(list) => {
                for c in list.split(',').map(str::to_owned).collect::<Vec<_>>() {
                    let key = names::fold(&c);
                    if self.channels.contains_key(&key) {
                        self.names_of(&key);
                    } else {
                        self.numeric(n::RPL_ENDOFNAMES(&c));
                    }
                }
            }
        }
    }

    pub(super) fn who(&mut self, msg: &Message) {
        let mask = msg.params.first().cloned().unwrap_or_else(|| "*".into());
        let server = self.shared.config.server_name.clone();
        let key = names::fold(&mask);
        let mut rows: Vec<(String, Member)> = Vec::new();
        if let Some(view) = self.channels.get(&key) {
            rows.extend(
                view.members
                    .values()
                    .map(|m| (view.name.clone(), m.clone())),
            );
        } else {
            // A nick or a mask (`*`, `al*`, `?ob`): each matching person once, with a channel
            // the asker shares with them; the asker too.
            let mut seen = std::collections::BTreeSet::new();
            for view in self.channels.values() {
                for (folded, m) in &view.members {
                    if names::glob(&key, folded) && seen.insert(folded.clone()) {
                        rows.push((view.name.clone(), m.clone()));
                    }
                }
            }
        }
        for (chan, m) in rows {
            let away = self.away_of.contains_key(&names::fold(&m.source.nick));
            let mut flags = String::from(if away { "G" } else { "H" });
            if m.op {
                flags.push('@');
            } else if m.voice {
                flags.push('+');
            }
            self.numeric(n::RPL_WHOREPLY(
                &chan,
                &m.source.user,
                &m.source.host,
                &server,
                &m.source.nick,
                &flags,
                &m.source.nick,
            ));
        }
        self.numeric(n::RPL_ENDOFWHO(&mask));
    }

    pub(super) fn find_member(&self, nick: &str) -> Option<(Member, Vec<String>)> {
        let key = names::fold(nick);
        let mut found = None;
        let mut chans = Vec::new();
        for view in self.channels.values() {
            if let Some(m) = view.members.get(&key) {
                found = Some(m.clone());
                chans.push(view.name.clone());
            }
        }
        found.map(|m| (m, chans))
    }

    pub(super) fn whois(&mut self, msg: &Message) {
        let nick = msg.params.last().cloned().unwrap_or_default();
        let server = self.shared.config.server_name.clone();
        if names::fold(&nick) == names::fold(&self.nick_or_star()) {
            let (user, real) = self.user.clone().unwrap_or_default();
            let host = self.host.clone();
            self.numeric(n::RPL_WHOISUSER(&nick, &user, &host, &real));
            self.numeric(n::RPL_WHOISSERVER(&nick, &server, "labelgate"));
            if let Some(a) = self.account.as_ref().map(|a| a.account.clone()) {
                self.numeric(n::RPL_WHOISACCOUNT(&nick, &a));
            }
            self.numeric(n::RPL_ENDOFWHOIS(&nick));
            return;
        }
        match self.find_member(&nick) {
            Some((m, chans)) => {
                self.numeric(n::RPL_WHOISUSER(
                    &m.source.nick,
                    &m.source.user,
                    &m.source.host,
                    &m.source.nick,
                ));
                self.numeric(n::RPL_WHOISCHANNELS(&m.source.nick, &chans.join(" ")));
                self.numeric(n::RPL_WHOISSERVER(&m.source.nick, &server, "labelgate"));
                if let Some(a) = &m.source.account {
                    self.numeric(n::RPL_WHOISACCOUNT(&m.source.nick, a));
                }
                if let Some(t) = self.away_of.get(&names::fold(&nick)).cloned() {
                    self.numeric(n::RPL_AWAY(&m.source.nick, &t));
                }
                let what = format!(
                    "is an XMPP user (an occupant of a room at {}), reached through the gateway",
                    m.source.host
                );
                self.numeric(n::RPL_WHOISSPECIAL(&m.source.nick, &what));
                self.numeric(n::RPL_ENDOFWHOIS(&m.source.nick));
            }
            None => {
                self.numeric(n::ERR_NOSUCHNICK(&nick));
                self.numeric(n::RPL_ENDOFWHOIS(&nick));
            }
        }
    }

    pub(super) fn mode(&mut self, msg: &Message) {
        let target = msg.params[0].clone();
        if target.starts_with('#') {
            let Some(view) = self.channels.get(&names::fold(&target)) else {
                self.numeric(n::ERR_NOTONCHANNEL(&target));
                return;
            };
            let name = view.name.clone();
            match msg.params.get(1).map(String::as_str) {
                None => self.numeric(n::RPL_CHANNELMODEIS(&name, "+nt")),
                // The lists a client asks for on join: empty here (the room keeps its own).
                Some("b") | Some("+b") if msg.params.len() == 2 => {
                    self.numeric(n::RPL_ENDOFBANLIST(&name))
                }
                Some("e") | Some("+e") if msg.params.len() == 2 => {
                    self.numeric(n::RPL_ENDOFEXCEPTLIST(&name))
                }
                Some("I") | Some("+I") if msg.params.len() == 2 => {
                    self.numeric(n::RPL_ENDOFINVITELIST(&name))
                }
                Some(_) => self.numeric(n::ERR_CHANOPRIVSNEEDED(
                    &name,
                    "Channel modes are managed by the XMPP room; the gateway cannot change them",
                )),
            }
        } else if names::fold(&target) == names::fold(&self.nick_or_star()) {
            match msg.params.get(1) {
                None => self.numeric(n::RPL_UMODEIS("+i")),
                // Clients set +i on connect (irssi does): every user here is +i already.
                Some(m) if m.starts_with('+') && m[1..].chars().all(|c| c == 'i') => {}
                Some(_) => self.numeric(n::ERR_UMODEUNKNOWNFLAG()),
            }
        } else {
            self.numeric(n::ERR_USERSDONTMATCH());
        }
    }

    pub(super) async fn away_cmd(&mut self, msg: &Message) {
        let text = msg.params.first().filter(|t| !t.is_empty()).cloned();
        if text.is_some() {
            self.numeric(n::RPL_NOWAWAY());
        } else {
            self.numeric(n::RPL_UNAWAY());
        }
        self.away = text.clone();
        self.request(Request::Away { text }).await;
    }

    /// ISON answers for the asker and the people in their channels only: who else is on the
    /// gateway is not theirs to learn.
    pub(super) fn ison(&mut self, msg: &Message) {
        let mut on = Vec::new();
        let me = names::fold(&self.nick_or_star());
        for nick in msg.params.iter().flat_map(|p| p.split_whitespace()) {
            if names::fold(nick) == me || self.find_member(nick).is_some() {
                on.push(nick.to_owned());
            }
        }
        self.numeric(n::RPL_ISON(&on.join(" ")));
    }

    pub(super) fn userhost(&mut self, msg: &Message) {
        let mut replies = Vec::new();
        for nick in msg.params.iter().take(5) {
            if names::fold(nick) == names::fold(&self.nick_or_star()) {
                let (user, _) = self.user.clone().unwrap_or_default();
                let away = if self.away.is_some() { '-' } else { '+' };
                replies.push(format!("{nick}={away}{user}@{}", self.host));
            } else if let Some((m, _)) = self.find_member(nick) {
                let away = if self.away_of.contains_key(&names::fold(nick)) {
                    '-'
                } else {
                    '+'
                };
                replies.push(format!(
                    "{}={away}{}@{}",
                    m.source.nick, m.source.user, m.source.host
                ));
            }
        }
        self.numeric(n::RPL_USERHOST(&replies.join(" ")));
    }
}
