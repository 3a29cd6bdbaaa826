//! The PROXY protocol header a TCP load balancer (HAProxy's `send-proxy`, `send-proxy-v2`)
//! writes before a connection's first byte, in its text (v1) and binary (v2) forms: parsed
//! here from bytes, without I/O. Whether a connection may send one at all is the listener's
//! decision (`proxy_from`), not this parser's.
//!
//! v1 is one line of at most 107 bytes, `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` or
//! `PROXY UNKNOWN …\r\n`; v2 is a 12-byte signature, a version/command byte, a family byte, a
//! big-endian length, then the addresses and optional TLVs (skipped).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 header, CRLF included.
pub const V1_MAX: usize = 107;
/// The longest v2 header accepted (fixed part, addresses and TLVs); longer ones are refused
/// rather than buffered.
pub const V2_MAX: usize = 16 + 1024;

const V1_PREFIX: &[u8] = b"PROXY ";

/// What a header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The client's address (and the address it connected to) behind the proxy.
    Proxied {
        /// The client.
        source: SocketAddr,
        /// Where the client connected (the proxy's front).
        destination: SocketAddr,
    },
    /// A connection the proxy made itself (v2 `LOCAL`, a health check) or whose addresses it
    /// does not give (v1 `UNKNOWN`, v2 `UNSPEC`/`UNIX`): the connection's own address stands.
    Local,
}

/// The result of reading the bytes received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// A whole header of `len` bytes (what follows belongs to the connection's protocol).
    Done {
        /// What it says.
        header: Header,
        /// Its length in bytes.
        len: usize,
    },
}

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The bytes are not a PROXY header at all.
    #[error("the connection did not start with a PROXY protocol header")]
    NotProxy,
    /// A v1 line longer than 107 bytes, or without CRLF.
    #[error("PROXY v1 header without CRLF within {V1_MAX} bytes")]
    V1TooLong,
    /// A v1 line that does not parse.
    #[error("malformed PROXY v1 header: {0}")]
    V1(&'static str),
    /// A v2 version other than 2, or an unknown command.
    #[error("PROXY v2 header with version/command byte {0:#04x}")]
    V2Command(u8),
    /// A v2 family/transport this gateway does not take (datagrams, unknown values).
    #[error("PROXY v2 header with family/transport byte {0:#04x} (not TCP)")]
    V2Family(u8),
    /// A v2 length too short for its addresses, or over [`V2_MAX`].
    #[error("PROXY v2 header with address block of {0} bytes")]
    V2Length(usize),
}

/// Whether `buf` (the first bytes of a connection, possibly cut short) is, or could still
/// become, a PROXY header of either form: what a listener that takes none refuses.
pub fn looks_like(buf: &[u8]) -> bool {
    let starts = |p: &[u8]| {
        let n = buf.len().min(p.len());
        n > 0 && buf[..n] == p[..n]
    };
    starts(V1_PREFIX) || starts(&V2_SIGNATURE)
}

/// Reads a header from the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if !looks_like(buf) {
        return Err(ProxyError::NotProxy);
    }
    if buf.len() < V1_PREFIX.len().min(V2_SIGNATURE.len()) {
        return Ok(Parsed::Incomplete);
    }
    if buf.starts_with(V1_PREFIX) {
        v1(buf)
    } else if buf.len() < V2_SIGNATURE.len() {
        Ok(Parsed::Incomplete)
    } else {
        v2(buf)
    }
}

fn v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Err(ProxyError::V1TooLong)
        } else {
            Ok(Parsed::Incomplete)
        };
    };
    let line =
        std::str::from_utf8(&buf[V1_PREFIX.len()..end]).map_err(|_| ProxyError::V1("not ASCII"))?;
    let len = end + 2;
    let mut fields = line.split(' ');
    let family = fields.next().ok_or(ProxyError::V1("no protocol"))?;
    if family == "UNKNOWN" {
        return Ok(Parsed::Done {
            header: Header::Local,
            len,
        });
    }
    let v6 = match family {
        "TCP4" => false,
        "TCP6" => true,
        _ => return Err(ProxyError::V1("protocol is not TCP4, TCP6 or UNKNOWN")),
    };
    let mut next = || fields.next().ok_or(ProxyError::V1("too few fields"));
    let (src, dst, sport, dport) = (next()?, next()?, next()?, next()?);
    if fields.next().is_some() {
        return Err(ProxyError::V1("too many fields"));
    }
    let ip = |s: &str| -> Result<IpAddr, ProxyError> {
        let a: IpAddr = s.parse().map_err(|_| ProxyError::V1("bad address"))?;
        if a.is_ipv6() == v6 {
            Ok(a)
        } else {
            Err(ProxyError::V1("address of the other family"))
        }
    };
    let port = |s: &str| -> Result<u16, ProxyError> {
        // Decimal, no sign, no leading zero (the spec's form).
        if s.is_empty()
            || !s.bytes().all(|b| b.is_ascii_digit())
            || (s.len() > 1 && s.starts_with('0'))
        {
            return Err(ProxyError::V1("bad port"));
        }
        s.parse().map_err(|_| ProxyError::V1("bad port"))
    };
    Ok(Parsed::Done {
        header: Header::Proxied {
            source: SocketAddr::new(ip(src)?, port(sport)?),
            destination: SocketAddr::new(ip(dst)?, port(dport)?),
        },
        len,
    })
}

fn v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if buf.len() < 16 {
        return Ok(Parsed::Incomplete);
    }
    let (ver_cmd, fam) = (buf[12], buf[13]);
    let block = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let len = 16 + block;
    if len > V2_MAX {
        return Err(ProxyError::V2Length(block));
    }
    let local = match ver_cmd {
        0x20 => true,
        0x21 => false,
        other => return Err(ProxyError::V2Command(other)),
    };
    // Known families and transports; datagrams are not IRC.
    let need = match fam {
        0x00 => 0,
        0x11 => 12,
        0x21 => 36,
        0x31 => 216,
        other => return Err(ProxyError::V2Family(other)),
    };
    if block < need {
        return Err(ProxyError::V2Length(block));
    }
    if buf.len() < len {
        return Ok(Parsed::Incomplete);
    }
    let a = &buf[16..len];
    let header = match fam {
        _ if local => Header::Local,
        0x11 => {
            let ip = |i: usize| IpAddr::V4(Ipv4Addr::new(a[i], a[i + 1], a[i + 2], a[i + 3]));
            let port = |i: usize| u16::from_be_bytes([a[i], a[i + 1]]);
            Header::Proxied {
                source: SocketAddr::new(ip(0), port(8)),
                destination: SocketAddr::new(ip(4), port(10)),
            }
        }
        0x21 => {
            let ip = |i: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&a[i..i + 16]);
                IpAddr::V6(Ipv6Addr::from(o))
            };
            let port = |i: usize| u16::from_be_bytes([a[i], a[i + 1]]);
            Header::Proxied {
                source: SocketAddr::new(ip(0), port(32)),
                destination: SocketAddr::new(ip(16), port(34)),
            }
        }
        // UNSPEC and UNIX: no addresses the gateway can use; the connection's own stands.
        _ => Header::Local,
    };
    Ok(Parsed::Done { header, len })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(buf: &[u8]) -> (Header, usize) {
        match parse(buf) {
            Ok(Parsed::Done { header, len }) => (header, len),
            other => panic!("{other:?} for {buf:?}"),
        }
    }

    #[test]
    fn v1_headers() {
        let line = b"PROXY TCP4 192.0.2.7 127.0.0.1 56324 6697\r\nNICK x\r\n";
        let (h, len) = done(line);
        assert_eq!(len, 43);
        assert_eq!(
            h,
            Header::Proxied {
                source: SocketAddr::from(([192, 0, 2, 7], 56324)),
                destination: SocketAddr::from(([127, 0, 0, 1], 6697)),
            }
        );
        let (h, _) = done(b"PROXY TCP6 2001:db8::1 ::1 1 2\r\n");
        assert!(
            matches!(h, Header::Proxied { source, .. } if source.port() == 1 && source.is_ipv6())
        );
        assert_eq!(done(b"PROXY UNKNOWN\r\n"), (Header::Local, 15));
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4"), Ok(Parsed::Incomplete));
        assert_eq!(parse(b"PRO"), Ok(Parsed::Incomplete));
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"[..],
            b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
        ] {
            assert!(matches!(parse(bad), Err(ProxyError::V1(_))), "{bad:?}");
        }
        let long = [b"PROXY ".as_slice(), &[b'A'; 120]].concat();
        assert_eq!(parse(&long), Err(ProxyError::V1TooLong));
        assert_eq!(parse(b"NICK olive\r\n"), Err(ProxyError::NotProxy));
    }

    fn v2_header(ver_cmd: u8, fam: u8, block: &[u8]) -> Vec<u8> {
        let mut v = V2_SIGNATURE.to_vec();
        v.extend([ver_cmd, fam]);
        v.extend((block.len() as u16).to_be_bytes());
        v.extend(block);
        v
    }

    #[test]
    fn v2_headers() {
        let block = [192, 0, 2, 7, 127, 0, 0, 1, 0xdc, 0x04, 0x1a, 0x29];
        let mut h = v2_header(0x21, 0x11, &block);
        h.extend(b"NICK x\r\n");
        let (header, len) = done(&h);
        assert_eq!(len, 28);
        assert_eq!(
            header,
            Header::Proxied {
                source: SocketAddr::from(([192, 0, 2, 7], 56324)),
                destination: SocketAddr::from(([127, 0, 0, 1], 6697)),
            }
        );
        // TLVs after the addresses are skipped, not read as IRC.
        let with_tlv = [block.as_slice(), &[0x05, 0x00, 0x02, b'i', b'd']].concat();
        assert_eq!(done(&v2_header(0x21, 0x11, &with_tlv)).1, 16 + 17);
        let mut v6 = vec![0u8; 36];
        v6[15] = 1;
        v6[31] = 1;
        v6[32] = 0x12;
        assert!(
            matches!(done(&v2_header(0x21, 0x21, &v6)).0, Header::Proxied { source, .. } if source.port() == 0x1200)
        );
        assert_eq!(done(&v2_header(0x20, 0x00, &[])).0, Header::Local);
        assert_eq!(done(&v2_header(0x20, 0x11, &block)).0, Header::Local);
        // Cut short anywhere: incomplete, never an address read out of bounds.
        for n in 1..h.len() - 8 {
            assert_eq!(parse(&h[..n]), Ok(Parsed::Incomplete), "{n}");
        }
        assert_eq!(
            parse(&v2_header(0x22, 0x11, &block)),
            Err(ProxyError::V2Command(0x22))
        );
        assert_eq!(
            parse(&v2_header(0x11, 0x11, &block)),
            Err(ProxyError::V2Command(0x11))
        );
        assert_eq!(
            parse(&v2_header(0x21, 0x12, &block)),
            Err(ProxyError::V2Family(0x12))
        );
        assert_eq!(
            parse(&v2_header(0x21, 0x11, &block[..11])),
            Err(ProxyError::V2Length(11))
        );
        assert_eq!(
            parse(&v2_header(0x21, 0x11, &vec![0; 2000])),
            Err(ProxyError::V2Length(2000))
        );
    }
}
