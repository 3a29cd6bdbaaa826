//! Failed logins, counted per peer address and per account: after [`FAILURES`] failures within
//! [`WINDOW`], further attempts from that address or for that account are refused without a
//! password check until the window has passed (so guessing costs time, and a flood of guesses
//! cannot keep the argon2 checkers busy). Both maps are bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failures allowed within the window.
pub const FAILURES: u32 = 5;
/// How long failures are remembered.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Most addresses and accounts remembered each (the oldest are forgotten first).
const REMEMBERED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Count {
    since: Instant,
    failures: u32,
}

/// The failure counts.
#[derive(Debug, Default)]
pub struct LoginGuard {
    by_address: HashMap<IpAddr, Count>,
    by_account: HashMap<String, Count>,
}

/// Why a login may not even be tried now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Throttled {
    /// Too many failures from this address.
    #[error("too many failed logins from this address; try again in {0} s")]
    Address(u64),
    /// Too many failures for this account.
    #[error("too many failed logins for this account; try again in {0} s")]
    Account(u64),
}

fn blocked(c: Option<&Count>, now: Instant) -> Option<u64> {
    let c = c?;
    let age = now.saturating_duration_since(c.since);
    (c.failures >= FAILURES && age < WINDOW).then(|| (WINDOW - age).as_secs().max(1))
}

fn bump<K: std::hash::Hash + Eq + Clone>(map: &mut HashMap<K, Count>, key: &K, now: Instant) {
    if map.len() >= REMEMBERED && !map.contains_key(key) {
        map.retain(|_, c| now.saturating_duration_since(c.since) < WINDOW);
        if map.len() >= REMEMBERED
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, c)| c.since)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
    }
    let c = map.entry(key.clone()).or_insert(Count {
        since: now,
        failures: 0,
    });
    if now.saturating_duration_since(c.since) >= WINDOW {
        *c = Count {
            since: now,
            failures: 0,
        };
    }
    c.failures += 1;
}

impl LoginGuard {
    /// Whether a login from `address` (for `account`, when it is known before the check) may be
    /// tried at `now`.
    pub fn check(
        &self,
        address: IpAddr,
        account: Option<&str>,
        now: Instant,
    ) -> Result<(), Throttled> {
        if let Some(s) = blocked(self.by_address.get(&address), now) {
            return Err(Throttled::Address(s));
        }
        if let Some(s) = account.and_then(|a| blocked(self.by_account.get(a), now)) {
            return Err(Throttled::Account(s));
        }
        Ok(())
    }

    /// Counts a failed login.
    pub fn failed(&mut self, address: IpAddr, account: Option<&str>, now: Instant) {
        bump(&mut self.by_address, &address, now);
        if let Some(a) = account {
            bump(&mut self.by_account, &a.to_owned(), now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_per_address_and_per_account_within_the_window() {
        let mut g = LoginGuard::default();
        let (a, b): (IpAddr, IpAddr) = ([127, 0, 0, 1].into(), [127, 0, 0, 2].into());
        let t0 = Instant::now();
        for _ in 0..FAILURES {
            assert_eq!(g.check(a, Some("alice"), t0), Ok(()));
            g.failed(a, Some("alice"), t0);
        }
        assert!(matches!(g.check(a, None, t0), Err(Throttled::Address(60))));
        // Another address, the same account: the account is throttled too.
        assert!(matches!(
            g.check(b, Some("alice"), t0),
            Err(Throttled::Account(_))
        ));
        assert_eq!(g.check(b, Some("bob"), t0), Ok(()));
        // After the window, both are free again.
        let later = t0 + WINDOW;
        assert_eq!(g.check(a, Some("alice"), later), Ok(()));
    }
}
