//! FIPS 140 mode: whether this build's cryptography provider is the FIPS-validated form of
//! aws-lc-rs (the `fips` cargo feature), and the check `[crypto] require_fips` makes before the
//! gateway starts: every TLS configuration must report FIPS mode, or the gateway does not run.

use rustls::{ClientConfig, ServerConfig};

/// Whether this is a FIPS build (the `fips` feature: rustls on aws-lc-fips-sys).
pub const BUILD: bool = cfg!(feature = "fips");

/// The line `labelgate --version` adds about FIPS.
pub fn describe() -> &'static str {
    if BUILD {
        "FIPS build: aws-lc-rs in FIPS 140-3 mode"
    } else {
        "not a FIPS build"
    }
}

/// A TLS configuration to check, by what it is for.
pub enum Config<'a> {
    /// A client configuration (to the XMPP server, to an IRC network).
    Client(&'a str, &'a ClientConfig),
    /// A server configuration (the IRC listener).
    Server(&'a str, &'a ServerConfig),
}

/// Why the gateway may not start in FIPS mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "[crypto] require_fips is set but the TLS configuration for {0} is not in FIPS mode ({build})",
    build = describe()
)]
pub struct NotFips(pub String);

/// Every configuration in `configs` reports FIPS mode, or the first that does not.
pub fn check(configs: &[Config<'_>]) -> Result<(), NotFips> {
    for c in configs {
        let (what, fips) = match c {
            Config::Client(w, c) => (w, c.fips()),
            Config::Server(w, s) => (w, s.fips()),
        };
        if !fips {
            return Err(NotFips((*what).to_owned()));
        }
    }
    Ok(())
}
