//! Small reading helpers shared by the parsers: a cursor over a message for the prose-like
//! formats (Cisco, Juniper), and byte tests.
//!
//! Every helper moves forward only, so a parser built from them reads a line once.

use memchr::memmem;
use std::sync::OnceLock;

/// A position in a text, moved forward by what it reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(text: &'a str) -> Cursor<'a> {
        Cursor { text, pos: 0 }
    }

    /// What is left to read.
    pub(crate) fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    pub(crate) fn skip_spaces(&mut self) {
        let rest = self.rest().as_bytes();
        let n = rest.iter().take_while(|&&b| b == b' ').count();
        self.pos += n;
    }

    /// Reads `literal` if the rest starts with it.
    pub(crate) fn eat(&mut self, literal: &str) -> bool {
        if self.rest().starts_with(literal) {
            self.pos += literal.len();
            true
        } else {
            false
        }
    }

    /// Reads the next word (up to a space or the end) and the spaces after it; `None` at
    /// the end.
    pub(crate) fn word(&mut self) -> Option<&'a str> {
        self.skip_spaces();
        let rest = self.rest();
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(b' ', rest.as_bytes()).unwrap_or(rest.len());
        self.pos += end;
        self.skip_spaces();
        Some(&rest[..end])
    }

    /// Reads up to (not including) `delimiter` and then the delimiter; `None`, reading
    /// nothing, if it does not occur.
    pub(crate) fn until(&mut self, delimiter: &str) -> Option<&'a str> {
        let rest = self.rest();
        let end = memchr::memmem::find(rest.as_bytes(), delimiter.as_bytes())?;
        self.pos += end + delimiter.len();
        Some(&rest[..end])
    }

    /// Reads a `(...)` group if one starts here and returns its inside.
    pub(crate) fn parenthesised(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        if !rest.starts_with('(') {
            return None;
        }
        let close = memchr::memchr(b')', rest.as_bytes())?;
        self.pos += close + 1;
        Some(&rest[1..close])
    }
}

/// A fixed string to search for, with its searcher built once per process (building a
/// `memmem` searcher costs more than searching a short line).
pub(crate) struct Needle {
    needle: &'static str,
    finder: OnceLock<memmem::Finder<'static>>,
}

impl Needle {
    pub(crate) const fn new(needle: &'static str) -> Needle {
        Needle {
            needle,
            finder: OnceLock::new(),
        }
    }

    /// Where the needle first occurs in `haystack`.
    pub(crate) fn find(&self, haystack: &[u8]) -> Option<usize> {
        self.finder
            .get_or_init(|| memmem::Finder::new(self.needle))
            .find(haystack)
    }
}

/// The index of the first of `a`, `b`, `c` in `bytes` at or after `from`, or the length.
///
/// Eight bytes at a time in a `u64` (the "has a zero byte" trick on the word XORed with
/// each wanted byte): tokens in key=value lines are a few to a few dozen bytes, too short
/// for `memchr`'s vector setup to pay, and a byte loop pays a branch per byte.
pub(crate) fn find_any(bytes: &[u8], from: usize, a: u8, b: u8, c: u8) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let (wa, wb, wc) = (
        ONES * u64::from(a),
        ONES * u64::from(b),
        ONES * u64::from(c),
    );
    let mut i = from;
    while let Some(chunk) = bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*chunk);
        let hits = zero_bytes(word ^ wa) | zero_bytes(word ^ wb) | zero_bytes(word ^ wc);
        if hits != 0 {
            // The lowest flagged byte is always a real match (a borrow only flags bytes
            // above a real zero).
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == a || byte == b || byte == c {
            return i;
        }
        i += 1;
    }
    bytes.len()
}

/// Whether `text` is one or more ASCII digits.
/// Appends `raw` to `out` with a backslash before any byte of `escapable` dropped; any
/// other backslash stays, as the formats that use this say (RFC 5424 params, quoted
/// key=value values with Windows paths in them).
pub(crate) fn unescape_backslashes(raw: &str, escapable: &[u8], out: &mut String) {
    let mut rest = raw;
    while let Some(at) = memchr::memchr(b'\\', rest.as_bytes()) {
        out.push_str(&rest[..at]);
        match rest.as_bytes().get(at + 1) {
            Some(&c) if escapable.contains(&c) => {
                out.push(c as char);
                rest = &rest[at + 2..];
            }
            _ => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
}

pub(crate) fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// The text before and after the first `delimiter`, or `None`.
pub(crate) fn split_once_byte(text: &str, delimiter: u8) -> Option<(&str, &str)> {
    let at = memchr::memchr(delimiter, text.as_bytes())?;
    Some((&text[..at], &text[at + 1..]))
}

/// The text before and after the last `delimiter`, or `None`.
pub(crate) fn rsplit_once_byte(text: &str, delimiter: u8) -> Option<(&str, &str)> {
    let at = memchr::memrchr(delimiter, text.as_bytes())?;
    Some((&text[..at], &text[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_any_of_three_bytes() {
        let text = b"0123456789abcdef=ghij klm\"";
        assert_eq!(find_any(text, 0, b'=', b' ', b' '), 16);
        assert_eq!(find_any(text, 17, b'=', b' ', b' '), 21);
        assert_eq!(find_any(text, 0, b'"', b'"', b'"'), 25);
        assert_eq!(find_any(text, 0, b'!', b'!', b'!'), text.len());
        assert_eq!(find_any(text, 30, b'!', b'!', b'!'), text.len());
        for len in 0..20 {
            let mut bytes = vec![b'x'; len];
            bytes.push(b'=');
            bytes.extend_from_slice(&[0x80, 0xff, b'=']);
            assert_eq!(find_any(&bytes, 0, b'=', 0, 0), len);
            assert_eq!(find_any(&bytes, len + 1, b'=', 0xff, 0xff), len + 2);
        }
    }

    #[test]
    fn cursor_reads_words_literals_and_groups() {
        let mut c = Cursor::new("Built  inbound (1.2.3.4/5) to x");
        assert!(c.eat("Built"));
        assert_eq!(c.word(), Some("inbound"));
        assert_eq!(c.parenthesised(), Some("1.2.3.4/5"));
        assert_eq!(c.until("->"), None);
        assert_eq!(c.until(" to "), Some(""));
        assert_eq!(c.word(), Some("x"));
        assert_eq!(c.rest(), "");
        assert_eq!(c.word(), None);
    }
}
