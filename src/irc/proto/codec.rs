//! The line codec: splits the byte stream into lines, bounded *before* buffering (512 bytes for
//! the message plus 8191 for tags), and turns each bad line into a per-line error instead of a
//! dead connection.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Bytes allowed for the message part of a line, CR LF included (RFC 1459 / modern IRC).
pub const MAX_MESSAGE: usize = 512;
/// Bytes allowed for the tags part, `@` and the separating space included (IRCv3).
pub const MAX_TAGS: usize = 8191;

/// One line read from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line of valid UTF-8 (CR LF stripped).
    Text(String),
    /// The line was longer than allowed; its bytes were discarded.
    TooLong,
    /// The line was not valid UTF-8: its text with each bad sequence replaced (U+FFFD), only
    /// to name the command and label in the refusal; it is never acted on.
    InvalidUtf8(String),
}

/// Splits input into [`Line`]s; accepts LF or CR LF endings (and a lone CR, as some clients).
#[derive(Debug, Default)]
pub struct LineCodec {
    /// Currently discarding an over-long line until its end.
    discarding: bool,
    /// How far the buffer has been searched for a line end.
    scanned: usize,
}

impl LineCodec {
    fn limit(buf: &[u8]) -> usize {
        if buf.first() == Some(&b'@') {
            MAX_TAGS + MAX_MESSAGE
        } else {
            MAX_MESSAGE
        }
    }
}

impl Decoder for LineCodec {
    type Item = Line;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, Self::Error> {
        loop {
            let end = buf[self.scanned..]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .map(|i| i + self.scanned);
            if self.discarding {
                match end {
                    Some(e) => {
                        buf.advance(e + 1);
                        self.discarding = false;
                        self.scanned = 0;
                        return Ok(Some(Line::TooLong));
                    }
                    None => {
                        buf.clear();
                        self.scanned = 0;
                        return Ok(None);
                    }
                }
            }
            let Some(e) = end else {
                if buf.len() > Self::limit(buf) {
                    self.discarding = true;
                    continue;
                }
                self.scanned = buf.len();
                return Ok(None);
            };
            self.scanned = 0;
            // e excludes the line end; the limit counts CR LF.
            if e + 2 > Self::limit(buf) {
                buf.advance(e + 1);
                return Ok(Some(Line::TooLong));
            }
            let line = buf.split_to(e + 1);
            let text = &line[..e];
            if text.is_empty() {
                // A bare line end (e.g. the LF after a CR): skip it.
                continue;
            }
            // A tagged line: the tags and the message each have their own limit.
            if text.first() == Some(&b'@') {
                let space = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
                if space + 1 > MAX_TAGS || text.len() - space + 1 > MAX_MESSAGE {
                    return Ok(Some(Line::TooLong));
                }
            }
            return Ok(Some(match std::str::from_utf8(text) {
                Ok(s) => Line::Text(s.to_owned()),
                Err(_) => Line::InvalidUtf8(String::from_utf8_lossy(text).into_owned()),
            }));
        }
    }
}

impl Encoder<String> for LineCodec {
    type Error = std::io::Error;

    fn encode(&mut self, line: String, buf: &mut BytesMut) -> Result<(), Self::Error> {
        buf.extend_from_slice(line.as_bytes());
        buf.extend_from_slice(b"\r\n");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<Line> {
        let mut c = LineCodec::default();
        let mut b = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(l) = c.decode(&mut b).unwrap() {
            out.push(l);
        }
        out
    }

    #[test]
    fn lines_and_errors() {
        assert_eq!(
            all(b"NICK a\r\nUSER a 0 * :A\nPING x\r\n"),
            [
                Line::Text("NICK a".into()),
                Line::Text("USER a 0 * :A".into()),
                Line::Text("PING x".into())
            ]
        );
        let mut long = vec![b'A'; 600];
        long.extend_from_slice(b"\r\nPING y\r\n");
        assert_eq!(all(&long), [Line::TooLong, Line::Text("PING y".into())]);
        assert_eq!(
            all(b"PRIVMSG #a :\xff\xfe\r\nPING z\r\n"),
            [
                Line::InvalidUtf8("PRIVMSG #a :\u{fffd}\u{fffd}".into()),
                Line::Text("PING z".into())
            ]
        );
        // A long line arriving in pieces is discarded without buffering it whole.
        let mut c = LineCodec::default();
        let mut b = BytesMut::new();
        for _ in 0..100 {
            b.extend_from_slice(&[b'x'; 1000]);
            assert_eq!(c.decode(&mut b).unwrap(), None);
            assert!(b.len() <= 1000 + MAX_MESSAGE);
        }
        b.extend_from_slice(b"\nPING w\n");
        assert_eq!(c.decode(&mut b).unwrap(), Some(Line::TooLong));
        assert_eq!(c.decode(&mut b).unwrap(), Some(Line::Text("PING w".into())));
        // Tags get their own allowance.
        let mut tagged = b"@".to_vec();
        tagged.extend_from_slice(&[b'k'; 4000]);
        tagged.extend_from_slice(b" PING v\r\n");
        assert_eq!(
            all(&tagged),
            [Line::Text(format!("@{} PING v", "k".repeat(4000)))]
        );
    }
}
