//! Sigma string values: wildcards, escapes, and the modifiers that rewrite a value.
//!
//! `*` matches any run of characters and `?` exactly one. A backslash makes the next `*`,
//! `?` or `\` literal; before any other character, and at the end of the value, it is
//! itself literal (`C:\Windows\` stays as written; SigmaHQ relies on that). These are the
//! spec's rules and pySigma's parser's.
//!
//! The encoding modifiers (`base64`, `base64offset`, `wide`, `utf16*`) work on bytes and so
//! need a value without wildcards; `windash` expands a value into every dash spelling.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Part {
    Literal(String),
    /// `*`
    Many,
    /// `?`
    One,
}

/// A parsed Sigma string: literals and wildcards.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SigmaString {
    pub parts: Vec<Part>,
}

impl SigmaString {
    pub fn parse(text: &str) -> SigmaString {
        // Runs of plain text between the special characters are copied whole (rules hold
        // thousands of values; copying them a character at a time was a third of compiling).
        let mut s = SigmaString::default();
        let mut rest = text;
        while let Some(at) = memchr::memchr3(b'\\', b'*', b'?', rest.as_bytes()) {
            s.push_text(&rest[..at]);
            let after = &rest[at + 1..];
            rest = match rest.as_bytes()[at] {
                b'*' => {
                    s.push_wildcard(Part::Many);
                    after
                }
                b'?' => {
                    s.push_wildcard(Part::One);
                    after
                }
                _ => match after.as_bytes().first() {
                    Some(b'*' | b'?' | b'\\') => {
                        s.push_text(&after[..1]);
                        &after[1..]
                    }
                    _ => {
                        s.push_text("\\");
                        after
                    }
                },
            };
        }
        s.push_text(rest);
        s
    }

    /// A value with no wildcards at all.
    pub fn literal(text: &str) -> SigmaString {
        let mut s = SigmaString::default();
        if !text.is_empty() {
            s.parts.push(Part::Literal(text.to_string()));
        }
        s
    }

    fn push_char(&mut self, c: char) {
        self.push_text(c.encode_utf8(&mut [0; 4]));
    }

    fn push_text(&mut self, more: &str) {
        if more.is_empty() {
            return;
        }
        match self.parts.last_mut() {
            Some(Part::Literal(text)) => text.push_str(more),
            _ => self.parts.push(Part::Literal(more.to_string())),
        }
    }

    fn push_wildcard(&mut self, part: Part) {
        // `**` is `*`.
        if part == Part::Many && self.parts.last() == Some(&Part::Many) {
            return;
        }
        self.parts.push(part);
    }

    pub fn has_wildcards(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Literal(_)))
    }

    /// The literal text, if the value has no wildcards.
    pub fn as_literal(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                _ => return None,
            }
        }
        Some(out)
    }

    pub fn starts_with_many(&self) -> bool {
        self.parts.first() == Some(&Part::Many)
    }

    pub fn ends_with_many(&self) -> bool {
        self.parts.last() == Some(&Part::Many)
    }

    /// `contains`: `*value*`, without doubling wildcards already there.
    pub fn contains(mut self) -> SigmaString {
        if !self.starts_with_many() {
            self.parts.insert(0, Part::Many);
        }
        if !self.ends_with_many() {
            self.parts.push(Part::Many);
        }
        self
    }

    pub fn startswith(mut self) -> SigmaString {
        if !self.ends_with_many() {
            self.parts.push(Part::Many);
        }
        self
    }

    pub fn endswith(mut self) -> SigmaString {
        if !self.starts_with_many() {
            self.parts.insert(0, Part::Many);
        }
        self
    }

    /// `windash`: every spelling of each command-line flag dash. A `-` or `/` is a flag dash
    /// when it follows the start, a space or another non-word character and precedes a word
    /// character (pySigma's `\B[-/]\b`). Returns the variants, the value itself first.
    pub fn windash(&self, limit: usize) -> Result<Vec<SigmaString>, String> {
        const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
        let mut variants = vec![SigmaString::default()];
        let mut previous: Option<char> = None;
        for part in &self.parts {
            match part {
                Part::Literal(text) => {
                    let chars: Vec<char> = text.chars().collect();
                    for (i, &c) in chars.iter().enumerate() {
                        let next = chars.get(i + 1).copied();
                        let before_ok = previous.is_none_or(|p| !is_word(p));
                        let after_ok = next.is_some_and(is_word);
                        if matches!(c, '-' | '/') && before_ok && after_ok {
                            if variants.len() * DASHES.len() > limit {
                                return Err(format!(
                                    "windash makes more than {limit} variants of this value"
                                ));
                            }
                            variants = variants
                                .into_iter()
                                .flat_map(|v| {
                                    DASHES.iter().map(move |&d| {
                                        let mut v = v.clone();
                                        v.push_char(d);
                                        v
                                    })
                                })
                                .collect();
                        } else {
                            variants.iter_mut().for_each(|v| v.push_char(c));
                        }
                        previous = Some(c);
                    }
                }
                wildcard => {
                    variants
                        .iter_mut()
                        .for_each(|v| v.push_wildcard(wildcard.clone()));
                    // A wildcard can match a space: treat it as a non-word character.
                    previous = Some(' ');
                }
            }
        }
        Ok(variants)
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl fmt::Display for SigmaString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Literal(text) => {
                    for c in text.chars() {
                        if matches!(c, '*' | '?' | '\\') {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                }
                Part::Many => f.write_str("*")?,
                Part::One => f.write_str("?")?,
            }
        }
        Ok(())
    }
}

/// Text encodings for `wide`, `utf16le`, `utf16be`, `utf16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Utf16 {
    Le,
    Be,
    /// Little-endian with a byte-order mark, as Windows writes it.
    LeWithBom,
}

pub fn encode_utf16(text: &[u8], encoding: Utf16) -> Vec<u8> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::with_capacity(text.len() * 2 + 2);
    if encoding == Utf16::LeWithBom {
        out.extend_from_slice(&[0xff, 0xfe]);
    }
    for unit in text.encode_utf16() {
        match encoding {
            Utf16::Be => out.extend_from_slice(&unit.to_be_bytes()),
            _ => out.extend_from_slice(&unit.to_le_bytes()),
        }
    }
    out
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(BASE64[(n >> 18) as usize & 63] as char);
        out.push(BASE64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            BASE64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            BASE64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// `base64offset`: the three encodings of `bytes` at each alignment inside a longer
/// encoded text, trimmed to the characters that do not depend on the neighbours.
pub fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END_TRIM: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut shifted = vec![b' '; i];
            shifted.extend_from_slice(bytes);
            let encoded = base64(&shifted);
            let end = encoded.len() - END_TRIM[(bytes.len() + i) % 3];
            encoded.get(START[i]..end).unwrap_or("").to_string()
        })
        .collect()
}

/// Bytes as text for matching: UTF-8 where they are, otherwise one character per byte.
pub fn bytes_to_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Part::*;

    fn lit(s: &str) -> Part {
        Literal(s.into())
    }

    /// The spec's reading, a character at a time.
    fn parse_by_characters(text: &str) -> SigmaString {
        let mut s = SigmaString::default();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&next @ ('*' | '?' | '\\')) => {
                        chars.next();
                        s.push_char(next);
                    }
                    _ => s.push_char('\\'),
                },
                '*' => s.push_wildcard(Part::Many),
                '?' => s.push_wildcard(Part::One),
                c => s.push_char(c),
            }
        }
        s
    }

    proptest::proptest! {
        #[test]
        fn parsing_by_runs_reads_what_parsing_by_characters_reads(
            text in "[ab\\\\*?é\u{3042}]{0,12}"
        ) {
            proptest::prop_assert_eq!(SigmaString::parse(&text), parse_by_characters(&text));
        }
    }

    #[test]
    fn escapes_and_wildcards() {
        assert_eq!(SigmaString::parse("select \\*").parts, [lit("select *")]);
        assert_eq!(
            SigmaString::parse("\\\\*\\IPC$").parts,
            [lit("\\"), Many, lit("\\IPC$")]
        );
        assert_eq!(SigmaString::parse("\\\\\\*").parts, [lit("\\*")]);
        assert_eq!(
            SigmaString::parse("prog?.exe").parts,
            [lit("prog"), One, lit(".exe")]
        );
        assert_eq!(
            SigmaString::parse("C:\\Windows\\").parts,
            [lit("C:\\Windows\\")]
        );
        assert_eq!(
            SigmaString::parse("C:\\\\Windows").parts,
            [lit("C:\\Windows")]
        );
        assert_eq!(SigmaString::parse("a**b").parts, [lit("a"), Many, lit("b")]);
        assert_eq!(SigmaString::parse("").parts, []);
    }

    #[test]
    fn display_round_trips() {
        for text in ["a*b?c", "x\\*y", "C:\\Windows\\", "\\\\*\\IPC$"] {
            let parsed = SigmaString::parse(text);
            assert_eq!(SigmaString::parse(&parsed.to_string()), parsed, "{text}");
        }
    }

    #[test]
    fn position_modifiers_do_not_double_wildcards() {
        assert_eq!(
            SigmaString::parse("*a").contains().parts,
            [Many, lit("a"), Many]
        );
        assert_eq!(SigmaString::parse("a").startswith().parts, [lit("a"), Many]);
        assert_eq!(SigmaString::parse("a").endswith().parts, [Many, lit("a")]);
    }

    #[test]
    fn windash_spells_every_dash() {
        let variants = SigmaString::parse(" -enc ").windash(1000).unwrap();
        let texts: Vec<String> = variants.iter().map(|v| v.as_literal().unwrap()).collect();
        assert_eq!(
            texts,
            [
                " -enc ",
                " /enc ",
                " \u{2013}enc ",
                " \u{2014}enc ",
                " \u{2015}enc "
            ]
        );
        // Not a flag: inside a word, or not followed by a word character.
        assert_eq!(SigmaString::parse("a-b").windash(1000).unwrap().len(), 1);
        assert_eq!(SigmaString::parse("x - y").windash(1000).unwrap().len(), 1);
        // Two flags: every combination.
        assert_eq!(SigmaString::parse("-a -b").windash(1000).unwrap().len(), 25);
        assert!(SigmaString::parse("-a -b -c -d -e").windash(1000).is_err());
    }

    #[test]
    fn base64_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn base64offset_gives_pysigmas_three_offsets() {
        assert_eq!(base64_offsets(b"abc"), ["YWJj", "FiY", "hYm"]);
        // Each variant is found inside the encoding of text that contains the value at
        // the matching alignment.
        for prefix in ["", "x", "xy", "xyz", "wxyz"] {
            let text = format!("{prefix}/c whoami /all");
            let encoded = base64(text.as_bytes());
            assert!(
                base64_offsets(b"whoami")
                    .iter()
                    .any(|v| encoded.contains(v.as_str())),
                "{prefix}"
            );
        }
    }

    #[test]
    fn utf16_encodings() {
        assert_eq!(encode_utf16(b"cmd", Utf16::Le), [0x63, 0, 0x6d, 0, 0x64, 0]);
        assert_eq!(encode_utf16(b"cmd", Utf16::Be), [0, 0x63, 0, 0x6d, 0, 0x64]);
        assert_eq!(encode_utf16(b"a", Utf16::LeWithBom), [0xff, 0xfe, 0x61, 0]);
        assert_eq!(base64(&encode_utf16(b"cmd", Utf16::Le)), "YwBtAGQA");
    }
}
