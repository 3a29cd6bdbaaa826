//! The user directory (`users.toml`): IRC accounts, their XMPP JIDs, clearances, password
//! hashes (argon2id) and client-certificate fingerprints. Loaded whole or refused whole, with
//! the file and line of each problem.
//!
//! ```toml
//! jid_template = "{account}@labelgate.test"   # optional; default JID for accounts
//!
//! [[user]]
//! account = "alice"
//! clearance = "SECRET, UK, EU"
//! password = "$argon2id$v=19$m=19456,t=2,p=1$..."   # `labelgate user passwd`
//! certificates = ["sha256:9F:86:D0:..."]              # SASL EXTERNAL
//! jid = "alice@labelgate.test"                        # optional, overrides the template
//! groups = ["ops"]                                    # optional; `@ops` in channel controls
//! marking_language = "fr"                             # optional; markings on IRC in the
//!                                                     # policy's French, where a room's has it
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::label::{Clearance, Policy};

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// A file refused, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FileError {
    /// The problems.
    pub problems: Vec<FileProblem>,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Reads a configuration file, refusing it with its name when it cannot be read.
pub fn read_text(path: &Path) -> Result<String, FileError> {
    std::fs::read_to_string(path).map_err(|e| FileError {
        problems: vec![FileProblem {
            file: path.to_owned(),
            line: None,
            message: format!("cannot read: {e}"),
        }],
    })
}

/// The 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUsers {
    jid_template: Option<Spanned<String>>,
    #[serde(default)]
    user: Vec<RawUser>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    account: Spanned<String>,
    jid: Option<Spanned<String>>,
    clearance: Spanned<String>,
    password: Option<Spanned<String>>,
    #[serde(default)]
    certificates: Vec<Spanned<String>>,
    #[serde(default)]
    groups: Vec<Spanned<String>>,
    marking_language: Option<Spanned<String>>,
}

/// One account.
#[derive(Debug, Clone)]
pub struct User {
    /// The account name (what SASL and PASS name).
    pub account: String,
    /// The user's XMPP JID.
    pub jid: jid::BareJid,
    /// The user's clearance.
    pub clearance: Clearance,
    /// The clearance as written (for messages).
    pub clearance_text: String,
    /// The argon2 PHC string, if password login is allowed.
    pub password_hash: Option<String>,
    /// SHA-256 fingerprints of client certificates (32 bytes each).
    pub certificates: Vec<[u8; 32]>,
    /// The groups the account is in (allow and deny lists name them as `@group`).
    pub groups: Vec<String>,
    /// The language (`xml:lang` tag) the user reads and types markings in, where a room's
    /// policy has it (`None`: each room's own).
    pub marking_language: Option<String>,
}

/// The loaded user directory.
#[derive(Debug, Clone, Default)]
pub struct Users {
    by_account: HashMap<String, User>,
    by_cert: HashMap<[u8; 32], String>,
    /// The policy the clearances are under (for the clearances certificates carry).
    policy: Option<std::sync::Arc<Policy>>,
}

/// Parses `sha256:AA:BB:…` (or plain hex) into 32 bytes.
pub fn parse_fingerprint(s: &str) -> Option<[u8; 32]> {
    let hex: String = s
        .trim()
        .trim_start_matches("sha256:")
        .trim_start_matches("SHA256:")
        .chars()
        .filter(|c| *c != ':')
        .collect();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The fingerprint of a DER certificate, as `sha256:AA:BB:…`.
pub fn fingerprint_of(der: &[u8]) -> ([u8; 32], String) {
    let d: [u8; 32] = Sha256::digest(der).into();
    let text = d
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    (d, format!("sha256:{text}"))
}

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt_bytes = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

impl Users {
    /// Loads a users file; `policy` parses the clearances.
    pub fn load(path: &Path, policy: &Policy) -> Result<Users, FileError> {
        let text = read_text(path)?;
        Users::parse(path, &text, policy)
    }

    /// Parses users-file text (`path` is only for messages).
    pub fn parse(path: &Path, text: &str, policy: &Policy) -> Result<Users, FileError> {
        let problem = |offset: Option<usize>, message: String| FileProblem {
            file: path.to_owned(),
            line: offset.map(|o| line_of(text, o)),
            message,
        };
        let raw: RawUsers = toml::from_str(text).map_err(|e| FileError {
            problems: vec![problem(e.span().map(|s| s.start), e.message().to_owned())],
        })?;
        let mut problems = Vec::new();
        let template = raw
            .jid_template
            .as_ref()
            .map(|t| t.get_ref().clone())
            .unwrap_or_else(|| "{account}@localhost".into());
        if !template.contains("{account}") {
            problems.push(problem(
                raw.jid_template.as_ref().map(|t| t.span().start),
                "jid_template must contain {account}".into(),
            ));
        }
        let mut users = Users {
            policy: Some(std::sync::Arc::new(policy.clone())),
            ..Users::default()
        };
        for u in raw.user {
            let account = u.account.get_ref().clone();
            let at = Some(u.account.span().start);
            if account.is_empty()
                || !account
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                problems.push(problem(
                    at,
                    format!("account `{account}` may use only letters, digits, `.`, `_` and `-`"),
                ));
                continue;
            }
            if users.by_account.contains_key(&account) {
                problems.push(problem(at, format!("account `{account}` is defined twice")));
                continue;
            }
            let jid_text = match &u.jid {
                Some(j) => j.get_ref().clone(),
                None => template.replace("{account}", &account),
            };
            let jid: jid::BareJid = match jid_text.parse() {
                Ok(j) => j,
                Err(e) => {
                    problems.push(problem(
                        u.jid.as_ref().map(|j| j.span().start).or(at),
                        format!("`{jid_text}` is not a bare JID: {e}"),
                    ));
                    continue;
                }
            };
            let clearance = match Clearance::parse(policy, u.clearance.get_ref()) {
                Ok(c) => c,
                Err(e) => {
                    problems.push(problem(
                        Some(u.clearance.span().start),
                        format!("clearance of `{account}`: {e}"),
                    ));
                    continue;
                }
            };
            let password_hash = match &u.password {
                Some(p) => {
                    if PasswordHash::new(p.get_ref()).is_err() {
                        problems.push(problem(
                            Some(p.span().start),
                            format!("password of `{account}` is not a PHC hash string (use `labelgate user passwd`)"),
                        ));
                        continue;
                    }
                    Some(p.get_ref().clone())
                }
                None => None,
            };
            let mut certificates = Vec::new();
            for c in &u.certificates {
                match parse_fingerprint(c.get_ref()) {
                    Some(f) => {
                        if let Some(other) = users.by_cert.get(&f) {
                            problems.push(problem(
                                Some(c.span().start),
                                format!("certificate fingerprint already belongs to `{other}`"),
                            ));
                        }
                        certificates.push(f);
                    }
                    None => problems.push(problem(
                        Some(c.span().start),
                        format!("`{}` is not a SHA-256 fingerprint", c.get_ref()),
                    )),
                }
            }
            if password_hash.is_none() && certificates.is_empty() {
                problems.push(problem(at, format!("account `{account}` has neither a password nor a certificate: it could never log in")));
            }
            for f in &certificates {
                users.by_cert.insert(*f, account.clone());
            }
            let mut groups = Vec::new();
            for g in &u.groups {
                if super::controls::valid_name(g.get_ref()) {
                    groups.push(g.get_ref().clone());
                } else {
                    problems.push(problem(
                        Some(g.span().start),
                        format!(
                            "`{}` is not a group name (letters, digits, `.`, `_`, `-`)",
                            g.get_ref()
                        ),
                    ));
                }
            }
            let marking_language = match &u.marking_language {
                Some(l) if !policy.writes_language(l.get_ref()) => {
                    problems.push(problem(
                        Some(l.span().start),
                        format!(
                            "marking_language `{}` of `{account}`: policy {} has no markings in it (it has: {})",
                            l.get_ref(),
                            policy.name,
                            policy.languages_text()
                        ),
                    ));
                    continue;
                }
                l => l.as_ref().map(|l| l.get_ref().clone()),
            };
            users.by_account.insert(
                account.clone(),
                User {
                    account,
                    jid,
                    clearance,
                    clearance_text: u.clearance.get_ref().clone(),
                    password_hash,
                    certificates,
                    groups,
                    marking_language,
                },
            );
        }
        if problems.is_empty() {
            Ok(users)
        } else {
            Err(FileError { problems })
        }
    }

    /// The policy the accounts' clearances are under.
    pub fn policy(&self) -> Option<&Policy> {
        self.policy.as_deref()
    }

    /// An account by name.
    pub fn get(&self, account: &str) -> Option<&User> {
        self.by_account.get(account)
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.by_account.len()
    }

    /// Whether there are no accounts.
    pub fn is_empty(&self) -> bool {
        self.by_account.is_empty()
    }

    /// Checks a password; `None` when the account is unknown, has no password, or it is wrong.
    /// Unknown accounts cost the same as known ones (a dummy hash is verified).
    pub fn check_password(&self, account: &str, password: &str) -> Option<&User> {
        self.check_password_with(account, password, &mut Vec::new())
    }

    /// [`Users::check_password`] with the caller's argon2 working memory, reused from call to
    /// call: allocating ~19 MiB per check leaves the allocator holding a new chunk each time
    /// (measured: resident memory grew by the full amount with every login).
    pub fn check_password_with(
        &self,
        account: &str,
        password: &str,
        memory: &mut Vec<argon2::Block>,
    ) -> Option<&User> {
        let user = self.by_account.get(account);
        let hash = user
            .and_then(|u| u.password_hash.as_deref())
            .unwrap_or(DUMMY_HASH);
        let ok = PasswordHash::new(hash)
            .ok()
            .and_then(|h| verify_with(&h, password.as_bytes(), memory))
            .unwrap_or(false);
        user.filter(|u| ok && u.password_hash.is_some())
    }

    /// The account a client certificate (DER) belongs to.
    pub fn by_certificate(&self, der: &[u8]) -> Option<&User> {
        let (f, _) = fingerprint_of(der);
        self.by_cert.get(&f).and_then(|a| self.by_account.get(a))
    }
}

/// An argon2id hash of a random password, verified for unknown accounts so that timing does
/// not tell which accounts exist.
/// Recomputes an argon2 PHC hash for `password` in `memory` and compares (in constant time).
fn verify_with(
    h: &PasswordHash<'_>,
    password: &[u8],
    memory: &mut Vec<argon2::Block>,
) -> Option<bool> {
    let params = argon2::Params::try_from(h).ok()?;
    let algorithm = argon2::Algorithm::try_from(h.algorithm).ok()?;
    let version = match h.version {
        Some(v) => argon2::Version::try_from(v).ok()?,
        None => argon2::Version::default(),
    };
    let mut salt_buf = [0u8; 64];
    let salt = h.salt?.decode_b64(&mut salt_buf).ok()?;
    let expected = h.hash?;
    let mut out = [0u8; 64];
    let out = out.get_mut(..expected.len())?;
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), argon2::Block::default());
    }
    argon2::Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, out, &mut memory[..])
        .ok()?;
    let got = argon2::password_hash::Output::new(out).ok()?;
    Some(got == expected)
}

const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2ck0Vw1ySS8cRUtpwuBnVQqR5rN1ZGTGfIq3Jsh7ozY";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints() {
        let (raw, text) = fingerprint_of(b"abc");
        assert_eq!(parse_fingerprint(&text), Some(raw));
        assert!(text.starts_with("sha256:BA:78:16:BF"));
        assert_eq!(parse_fingerprint("sha256:zz"), None);
    }
}
