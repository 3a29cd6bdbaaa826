//! Registration: CAP negotiation, SASL (PLAIN, EXTERNAL with the certificate's validity
//! checked), PASS, NICK and USER, and the welcome burst once the user is known.

use super::*;
use crate::label::clearance::ClearanceError;

impl<B: Backend> Client<B> {
    pub(super) fn cap(&mut self, msg: &Message) {
        let sub = msg.params[0].to_ascii_uppercase();
        let nick = self.nick_or_star();
        let server = self.shared.config.server_name.clone();
        let reply = |params: Vec<String>| Message::new("CAP", params).with_source(server.clone());
        match sub.as_str() {
            "LS" => {
                if !self.registered {
                    self.cap_negotiating = true;
                }
                let v302 = params_or(msg, 1)
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
                    >= 302;
                if v302 {
                    self.caps.set(Cap::CapNotify, true);
                }
                let list: Vec<String> = Cap::ALL
                    .iter()
                    .map(|c| match (v302, c.value()) {
                        (true, Some(v)) => format!("{}={v}", c.name()),
                        _ => c.name().to_owned(),
                    })
                    .collect();
                self.send(reply(vec![nick, "LS".into(), list.join(" ")]));
            }
            "LIST" => {
                let names = self.caps.names();
                self.send(reply(vec![nick, "LIST".into(), names]));
            }
            "REQ" => {
                if !self.registered {
                    self.cap_negotiating = true;
                }
                let asked = params_or(msg, 1).unwrap_or("").to_owned();
                let mut changes = Vec::new();
                let mut ok = true;
                for item in asked.split_whitespace() {
                    let (off, name) = match item.strip_prefix('-') {
                        Some(n) => (true, n),
                        None => (false, item),
                    };
                    match Cap::from_name(name) {
                        Some(c) => changes.push((c, !off)),
                        None => ok = false,
                    }
                }
                if ok && !asked.trim().is_empty() {
                    for (c, on) in changes {
                        self.caps.set(c, on);
                    }
                    self.send(reply(vec![nick, "ACK".into(), asked]));
                } else {
                    self.send(reply(vec![nick, "NAK".into(), asked]));
                }
            }
            "END" => {
                self.cap_negotiating = false;
                // Registration completed while SASL was under way: the exchange is aborted
                // (906) and registration goes on without it (IRCv3 SASL 3.1).
                if !self.registered && self.sasl.mechanism.is_some() {
                    self.sasl = SaslState::default();
                    self.numeric(n::ERR_SASLABORTED());
                }
            }
            _ => self.send(
                Message::new("410", vec![nick, sub, "Invalid CAP command".into()])
                    .with_source(server),
            ),
        }
    }

    pub(super) async fn authenticate(&mut self, msg: &Message) {
        let arg = msg.params[0].clone();
        if self.account.is_some() {
            self.numeric(n::ERR_SASLALREADY());
            return;
        }
        if arg == "*" {
            self.sasl = SaslState::default();
            self.numeric(n::ERR_SASLABORTED());
            return;
        }
        let Some(mech) = self.sasl.mechanism.clone() else {
            let m = arg.to_ascii_uppercase();
            if m == "PLAIN" || (m == "EXTERNAL" && self.cert.is_some()) {
                self.sasl.mechanism = Some(m);
                self.send(Message::new("AUTHENTICATE", vec!["+".into()]));
            } else {
                let mechs = if self.cert.is_some() {
                    "PLAIN,EXTERNAL"
                } else {
                    "PLAIN"
                };
                self.numeric(n::RPL_SASLMECHS(mechs));
                self.numeric(n::ERR_SASLFAIL());
            }
            return;
        };
        if arg.len() > 400 {
            self.sasl = SaslState::default();
            self.numeric(n::ERR_SASLTOOLONG());
            return;
        }
        if arg != "+" {
            self.sasl.buffer.push_str(&arg);
        }
        if arg.len() == 400 {
            // A single chunk over 400 bytes is 905; a payload that never ends is a failed
            // exchange (904), counted like any other.
            if self.sasl.buffer.len() > 4096 {
                self.sasl = SaslState::default();
                self.sasl_failed(None, "the SASL payload is over 4096 bytes")
                    .await;
            }
            return; // more to come
        }
        let payload = std::mem::take(&mut self.sasl.buffer);
        self.sasl = SaslState::default();
        let decoded = if payload.is_empty() {
            Some(Vec::new())
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(payload.as_bytes())
                .ok()
        };
        let Some(decoded) = decoded else {
            self.sasl_failed(None, "the SASL payload is not base64")
                .await;
            return;
        };
        let users = self.shared.users();
        let (account, user) = match mech.as_str() {
            "PLAIN" => {
                let parts: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
                match parts.as_slice() {
                    [authzid, authcid, password] => {
                        let authcid = String::from_utf8_lossy(authcid).into_owned();
                        let authzid = String::from_utf8_lossy(authzid).into_owned();
                        let password = String::from_utf8_lossy(password).into_owned();
                        if let Err(t) = self.shared.login_allowed(self.peer, Some(&authcid)) {
                            self.server_notice(&format!("Login refused: {t}."));
                            self.sasl_failed(None, "").await;
                            return;
                        }
                        if !authzid.is_empty() && authzid != authcid {
                            (Some(authcid), None)
                        } else {
                            let u = self
                                .shared
                                .passwords
                                .check(users, authcid.clone(), password)
                                .await;
                            (Some(authcid), u)
                        }
                    }
                    _ => (None, None),
                }
            }
            "EXTERNAL" => {
                let authzid = String::from_utf8_lossy(&decoded).into_owned();
                if let Some(cert) = &self.cert
                    && let Err(e) = self.certificate_usable(cert)
                {
                    let pinned = users.by_certificate(cert).map(|u| u.account.clone());
                    self.server_notice(&format!(
                        "Login refused: your client certificate cannot be used ({e})."
                    ));
                    self.sasl_failed(pinned.as_deref(), &format!("client certificate: {e}"))
                        .await;
                    return;
                }
                let u = self
                    .cert
                    .as_ref()
                    .and_then(|c| users.by_certificate(c))
                    .filter(|u| authzid.is_empty() || authzid == u.account)
                    .cloned();
                let u = match u.map(|u| self.certificate_clearance(&users, u)) {
                    Some(Err((account, e))) => {
                        self.server_notice(&format!("Login refused: {e}."));
                        self.sasl_failed(Some(&account), &e).await;
                        return;
                    }
                    Some(Ok(u)) => Some(u),
                    None => None,
                };
                (u.as_ref().map(|u| u.account.clone()), u)
            }
            _ => (None, None),
        };
        match user {
            Some(u) => {
                let mask = self.mask();
                self.numeric(n::RPL_LOGGEDIN(&mask, &u.account));
                self.numeric(n::RPL_SASLSUCCESS());
                self.login = if mech == "EXTERNAL" {
                    Login::Certificate
                } else {
                    Login::Password
                };
                self.account = Some(u);
            }
            None => {
                self.sasl_failed(account.as_deref(), "SASL credentials refused")
                    .await
            }
        }
    }

    /// Whether the client certificate may be used now: within its validity period, and —
    /// when the listener has a client CA — chaining to it and not revoked.
    fn certificate_usable(&self, cert: &[u8]) -> Result<(), String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        crate::irc::cert::check(cert, now).map_err(|e| e.to_string())?;
        match self.shared.certificate_checks() {
            Some(checks) => crate::pki::check_client(checks.as_ref(), cert, &self.intermediates),
            None => Ok(()),
        }
    }

    /// The account's clearance met with the one its client certificate carries (RFC 5755), if
    /// it carries one (kept for reloads); a clearance that cannot be read, under another
    /// policy, or with no classification in common with the account's refuses the login.
    fn certificate_clearance(
        &mut self,
        users: &Users,
        mut u: User,
    ) -> Result<User, (String, String)> {
        let refuse = |e: String| (u.account.clone(), e);
        let Some(cert) = self.cert.as_ref() else {
            return Ok(u);
        };
        let der = match crate::irc::cert::clearance_attribute(cert) {
            Ok(None) => return Ok(u),
            Ok(Some(d)) => d,
            Err(e) => {
                return Err(refuse(format!(
                    "your certificate's clearance attribute: {e}"
                )));
            }
        };
        let Some(policy) = users.policy() else {
            return Err(refuse(
                "your certificate carries a clearance, and this gateway's users file names no policy to read it under".into(),
            ));
        };
        // Read under the users file's policy: its SPIF says the categories' form, and
        // SSLPrivileges' enumerated values are placed where the policy defines them.
        let carried = Clearance::from_der_in(&der, policy).map_err(|e| match e {
            ClearanceError::OtherPolicy(p) => refuse(format!(
                "your certificate's clearance is under policy {p}, which this gateway does not use"
            )),
            e => refuse(format!("your certificate's clearance cannot be read: {e}")),
        })?;
        let Some(met) = u.clearance.meet(&carried, policy) else {
            return Err(refuse(format!(
                "your certificate's clearance ({}) and your account's ({}) have no \
                 classification in common",
                carried.to_text(policy),
                u.clearance_text
            )));
        };
        tracing::info!(
            account = %u.account,
            certificate = %carried.to_text(policy),
            effective = %met.to_text(policy),
            "clearance from the client certificate"
        );
        u.clearance_text = met.to_text(policy);
        u.clearance = met;
        self.certificate_clearance = Some(carried);
        Ok(u)
    }

    /// A failed SASL exchange: 904, counted and audited (`why` empty: already audited), and
    /// the connection closed after [`SASL_ATTEMPTS`].
    pub(super) async fn sasl_failed(&mut self, account: Option<&str>, why: &str) {
        if !why.is_empty() {
            self.shared.login_failed(self.peer, account, why);
        }
        self.numeric(n::ERR_SASLFAIL());
        self.sasl_failures += 1;
        if self.sasl_failures >= SASL_ATTEMPTS {
            self.quit = Some("Too many failed login attempts".into());
        }
    }

    pub(super) async fn nick_cmd(&mut self, msg: &Message) {
        let nick = msg.params[0].clone();
        if nick.is_empty() {
            self.numeric(n::ERR_NONICKNAMEGIVEN());
            return;
        }
        if !names::valid_nick(&nick) {
            self.numeric(n::ERR_ERRONEUSNICKNAME(&nick));
            return;
        }
        if self.nick.as_deref() == Some(nick.as_str()) {
            return;
        }
        if !self.shared.claim_nick(&nick, self.id) {
            self.numeric(n::ERR_NICKNAMEINUSE(&nick));
            return;
        }
        if self.registered {
            let old = self.mask();
            self.send(Message::new("NICK", vec![nick.clone()]).with_source(old));
            self.request(Request::Nick { nick: nick.clone() }).await;
        }
        self.nick = Some(nick);
    }

    pub(super) fn user_cmd(&mut self, msg: &Message) {
        if self.registered {
            self.numeric(n::ERR_ALREADYREGISTERED());
            return;
        }
        if msg.params.len() < 4 || msg.params[3].is_empty() {
            self.numeric(n::ERR_NEEDMOREPARAMS("USER"));
            return;
        }
        let user: String = msg.params[0]
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .take(16)
            .collect();
        let user = if user.is_empty() { "user".into() } else { user };
        self.user = Some((format!("~{user}"), msg.params[3].clone()));
    }

    pub(super) async fn try_register(&mut self) {
        if self.nick.is_none()
            || self.user.is_none()
            || self.cap_negotiating
            || self.sasl.mechanism.is_some()
        {
            return;
        }
        if self.account.is_none()
            && let Some(pass) = self.pass.take()
        {
            let users = self.shared.users();
            let account = pass.split_once(':').map(|(a, _)| a.to_owned());
            if let Err(t) = self.shared.login_allowed(self.peer, account.as_deref()) {
                self.numeric(n::ERR_PASSWDMISMATCH());
                self.quit = Some(format!("Login refused: {t}"));
                return;
            }
            let found = match pass.split_once(':') {
                Some((acct, pw)) => {
                    let (acct, pw) = (acct.to_owned(), pw.to_owned());
                    self.shared.passwords.check(users, acct, pw).await
                }
                None => {
                    self.server_notice("PASS must be account:password (or log in with SASL)");
                    None
                }
            };
            match found {
                Some(u) => self.account = Some(u),
                None => {
                    let why = "PASS credentials refused";
                    self.shared.login_failed(self.peer, account.as_deref(), why);
                    self.numeric(n::ERR_PASSWDMISMATCH());
                    self.quit = Some("Bad password".into());
                    return;
                }
            }
        }
        if self.account.is_none() && self.shared.config.require_auth {
            self.numeric(n::ERR_PASSWDMISMATCH());
            self.quit = Some("Authentication required: use SASL or PASS account:password".into());
            return;
        }
        if self.account.is_none() {
            // Only reachable with require_auth off: no directory entry, no XMPP identity.
            self.quit = Some("No account".into());
            return;
        }
        self.registered = true;
        let cfg = self.shared.config.clone();
        let nick = self.nick_or_star();
        let mask = self.mask();
        self.numeric(n::RPL_WELCOME(&cfg.network, &mask));
        self.numeric(n::RPL_YOURHOST(&cfg.server_name, VERSION));
        self.numeric(n::RPL_CREATED("at start-up"));
        self.numeric(n::RPL_MYINFO(&cfg.server_name, VERSION));
        let tokens: Vec<String> = vec![
            "CASEMAPPING=ascii".into(),
            "CHANTYPES=#".into(),
            "CHANMODES=,,,nt".into(),
            "PREFIX=(ov)@+".into(),
            format!("NICKLEN={}", names::NICKLEN),
            format!("CHANNELLEN={}", names::CHANNELLEN),
            format!("TOPICLEN={}", names::TOPICLEN),
            format!("NETWORK={}", cfg.network),
            "UTF8ONLY".into(),
            format!("MAXTARGETS={MAX_TARGETS}"),
            format!("TARGMAX=PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS}"),
            "CHANLIMIT=#:".into(),
            // Client-only tags never cross the gateway, but for typing notifications (and those
            // only where a room's `chat_states` control allows them).
            "CLIENTTAGDENY=*,-typing".into(),
        ];
        for chunk in tokens.chunks(13) {
            self.numeric(n::RPL_ISUPPORT(chunk));
        }
        self.motd();
        let mode_source = nick.clone();
        self.send(Message::new("MODE", vec![nick, "+i".into()]).with_source(mode_source));
    }

    pub(super) fn attach(&mut self, deliveries: mpsc::Sender<Delivery>) {
        let Some(account) = self.account.clone() else {
            return;
        };
        let (user, realname) = self.user.clone().unwrap_or_default();
        let reg = RegisteredUser {
            id: self.id,
            account: account.account.clone(),
            nick: self.nick_or_star(),
            user,
            host: self.host.clone(),
            realname,
            jid: account.jid.clone(),
            clearance: account.clearance.clone(),
            groups: account.groups.clone(),
            login: self.login,
            certificate_clearance: self.certificate_clearance.clone(),
            marking_language: account.marking_language.clone(),
        };
        tracing::info!(peer = %self.peer, account = %account.account, "IRC user registered");
        crate::metrics::METRICS.irc_clients(1);
        self.to_backend = Some(self.shared.backend.register(reg, deliveries));
    }
}
