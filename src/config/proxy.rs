//! Who may put a PROXY protocol header before an IRC connection (`[[irc.listen]] proxy_from`):
//! a list of addresses and networks (`127.0.0.1`, `10.1.0.0/16`, `::1`, `fd00::/8`).

use std::net::IpAddr;

/// One address or network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    /// Reads `ADDRESS` or `ADDRESS/PREFIX`; host bits set under the prefix are refused (a
    /// typo that would widen or narrow the network silently).
    pub fn parse(text: &str) -> Result<Net, String> {
        let (a, p) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not an address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("`{text}`: the prefix length must be 0 to {max}")),
            },
        };
        let net = Net { addr, prefix };
        if net.masked(addr) != bits(addr) {
            return Err(format!(
                "`{text}`: address bits are set beyond the /{prefix} prefix"
            ));
        }
        Ok(net)
    }

    fn masked(&self, ip: IpAddr) -> u128 {
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let shift = width - u32::from(self.prefix);
        let b = bits(ip);
        if shift >= 128 {
            0
        } else {
            (b >> shift) << shift
        }
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        ip.is_ipv4() == self.addr.is_ipv4() && self.masked(ip) == bits(self.addr)
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The sources a listener takes PROXY headers from; empty: it takes none, and refuses a
/// connection that starts with one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyFrom(pub Vec<Net>);

impl ProxyFrom {
    /// Whether a connection from `ip` must (and may) start with a PROXY header.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// Whether the listener takes PROXY headers from anyone.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn networks() {
        let n = Net::parse("10.1.0.0/16").unwrap_or_else(|e| panic!("{e}"));
        assert!(n.contains(ip("10.1.200.3")) && !n.contains(ip("10.2.0.1")));
        assert!(n.contains(ip("::ffff:10.1.0.9")));
        assert!(!n.contains(ip("::1")));
        let one = Net::parse("127.0.0.1").unwrap_or_else(|e| panic!("{e}"));
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6 = Net::parse("fd00::/8").unwrap_or_else(|e| panic!("{e}"));
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        let all = Net::parse("0.0.0.0/0").unwrap_or_else(|e| panic!("{e}"));
        assert!(all.contains(ip("203.0.113.9")));
        for bad in [
            "10.1.0.1/16",
            "10.0.0.0/33",
            "example.org",
            "::1/129",
            "1.2.3.4/x",
        ] {
            assert!(Net::parse(bad).is_err(), "{bad}");
        }
    }
}
