//! ArcSight Common Event Format, wherever it starts in the message:
//! `CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension`.
//!
//! Header parts are split on `|` (`\|` and `\\` are escapes) and reported as `cef_version`,
//! `device_vendor`, `device_product`, `device_version`, `signature_id`, `name`,
//! `cef_severity`; a header with fewer parts reports the ones it has.
//!
//! The extension is `key=value` pairs where a value may contain spaces: a value ends at the
//! last space before the next `key=` (a key is ASCII letters, digits, `_`, `.`, `-`, `[`,
//! `]`, and its `=` is not escaped), and trailing spaces are trimmed. A `=` not preceded by
//! a key (`url=http://x/?a=b`) is part of the value. Values decode `\=`, `\\`, `\n`, `\r`
//! (and `\|`, which some senders write); other backslashes stay. One forward scan finds
//! every key: the scan remembers where the current word started and whether it can still
//! be a key, so nothing is read twice.
//!
//! `vendor` is the device vendor lower-cased (or the house name for the vendors parsed
//! natively: `Palo Alto Networks` → `paloalto`, `Check Point` → `checkpoint`), `product` the
//! device product lower-cased; `rt` (milliseconds since 1970, or a date) is the event time.

use super::SyslogContext;
use super::scan::Needle;
use super::sink::{Map, Norm, Sink};
use super::time;
use jiff::Timestamp;
use memchr::{memchr, memchr2, memchr3};

/// What the standard extension keys mean (short and full ArcSight names).
fn meaning(key: &str) -> Option<Map> {
    Some(match key {
        "src" | "sourceAddress" => Map::To(Norm::SrcIp),
        "spt" | "sourcePort" => Map::To(Norm::SrcPort),
        "dst" | "destinationAddress" => Map::To(Norm::DstIp),
        "dpt" | "destinationPort" => Map::To(Norm::DstPort),
        "act" | "deviceAction" => Map::To(Norm::Action),
        "proto" | "transportProtocol" => Map::To(Norm::Protocol),
        "suser" | "sourceUserName" => Map::To(Norm::User),
        "dvchost" | "deviceHostName" => Map::To(Norm::Device),
        "rt" | "receiptTime" => Map::DateTime,
        _ => return None,
    })
}

/// Vendors whose CEF name differs from the name their native parser reports.
const VENDOR_NAMES: &[(&str, &str)] = &[
    ("Palo Alto Networks", "paloalto"),
    ("Check Point", "checkpoint"),
    ("SonicWALL", "sonicwall"),
    ("Cisco Systems", "cisco"),
    ("Juniper Networks", "juniper"),
];

const HEADER_NAMES: [&str; 7] = [
    "cef_version",
    "device_vendor",
    "device_product",
    "device_version",
    "signature_id",
    "name",
    "cef_severity",
];

/// Where a `CEF:` header starts in `message` (`CEF:` then an optional space, digits and
/// `|`).
pub(crate) fn find(message: &str) -> Option<usize> {
    let bytes = message.as_bytes();
    let mut from = 0;
    static CEF: Needle = Needle::new("CEF:");
    while let Some(at) = CEF.find(&bytes[from..]) {
        let start = from + at;
        let mut i = start + 4;
        while bytes.get(i) == Some(&b' ') {
            i += 1;
        }
        let digits = bytes[i.min(bytes.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits > 0 && bytes.get(i + digits) == Some(&b'|') {
            return Some(start);
        }
        from = start + 4;
    }
    None
}

/// Parses a CEF record that starts at `text` (`CEF:...`); returns the time from `rt`.
pub(crate) fn parse(text: &str, context: &SyslogContext, sink: &mut Sink<'_>) -> Option<Timestamp> {
    let body = text
        .strip_prefix("CEF:")
        .unwrap_or(text)
        .trim_start_matches(' ');
    let mut rest = body;
    let mut vendor = None;
    let mut product = None;
    for (index, name) in HEADER_NAMES.iter().enumerate() {
        let (part, after) = header_part(rest);
        report_header_part(name, part, sink);
        match index {
            1 => vendor = Some(part),
            2 => product = Some(part),
            _ => {}
        }
        match after {
            Some(after) => rest = after,
            None => {
                rest = "";
                break;
            }
        }
    }
    if let Some(vendor) = vendor.filter(|v| !v.contains('\\')) {
        match VENDOR_NAMES
            .iter()
            .find(|(cef, _)| cef.eq_ignore_ascii_case(vendor))
        {
            Some((_, name)) => sink.norm(Norm::Vendor, name),
            None => sink.norm_lowercase(Norm::Vendor, vendor),
        }
    }
    if let Some(product) = product.filter(|p| !p.contains('\\')) {
        sink.norm_lowercase(Norm::Product, product);
    }
    report_extension(rest, context, sink)
}

/// The header part at the start of `text` up to an unescaped `|`, and the rest after it
/// (`None` when there is no `|`).
fn header_part(text: &str) -> (&str, Option<&str>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = memchr2(b'|', b'\\', &bytes[i..]) {
        let at = i + at;
        if bytes[at] == b'|' {
            return (&text[..at], Some(&text[at + 1..]));
        }
        i = (at + 2).min(bytes.len());
    }
    (text, None)
}

fn report_header_part(name: &str, part: &str, sink: &mut Sink<'_>) {
    if part.contains('\\') {
        sink.decoded(part, unescape_header, |sink, value| sink.raw(name, value));
    } else {
        sink.raw(name, part);
    }
}

/// Decodes a header part: `\|` and `\\` lose their backslash.
fn unescape_header(raw: &str, out: &mut String) {
    unescape(raw, out, |c| matches!(c, b'|' | b'\\').then_some(c as char));
}

/// Decodes an extension value: `\=`, `\\`, `\|` lose their backslash, `\n` and `\r` are
/// line breaks.
pub(crate) fn unescape_value(raw: &str, out: &mut String) {
    unescape(raw, out, |c| match c {
        b'=' | b'\\' | b'|' => Some(c as char),
        b'n' => Some('\n'),
        b'r' => Some('\r'),
        _ => None,
    });
}

fn unescape(raw: &str, out: &mut String, escape: impl Fn(u8) -> Option<char>) {
    let mut rest = raw;
    while let Some(at) = memchr(b'\\', rest.as_bytes()) {
        out.push_str(&rest[..at]);
        match rest.as_bytes().get(at + 1).and_then(|&c| escape(c)) {
            Some(c) => {
                out.push(c);
                rest = &rest[at + 2..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'[' | b']')
}

/// One extension pair as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extension<'a> {
    pub key: &'a str,
    pub value: &'a str,
}

/// The pairs of an extension, in order; text before the first key is skipped.
pub(crate) fn extensions(text: &str) -> impl Iterator<Item = Extension<'_>> {
    let mut scanner = Scanner { text, pos: 0 };
    let mut current = scanner.next_key(0);
    std::iter::from_fn(move || {
        let (key_start, eq) = current?;
        let next = scanner.next_key(eq + 1);
        let value_end = next.map_or(text.len(), |(start, _)| start);
        current = next;
        Some(Extension {
            key: &text[key_start..eq],
            value: text[eq + 1..value_end].trim_end_matches(' '),
        })
    })
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl Scanner<'_> {
    /// The next `key=` at or after `from` that starts a word: (key start, `=` index).
    fn next_key(&mut self, from: usize) -> Option<(usize, usize)> {
        let bytes = self.text.as_bytes();
        self.pos = self.pos.max(from);
        // The current word starts at `word`; `keyish` says whether it can still be a key.
        let mut word = self.pos;
        let mut keyish = self.pos == 0 || bytes.get(self.pos - 1) == Some(&b' ');
        let mut i = self.pos;
        while let Some(at) = memchr3(b'=', b' ', b'\\', &bytes[i..]) {
            let at = i + at;
            keyish = keyish && bytes[i.max(word)..at].iter().all(|&b| is_key_byte(b));
            match bytes[at] {
                b' ' => {
                    word = at + 1;
                    keyish = true;
                    i = at + 1;
                }
                b'\\' => {
                    keyish = false;
                    i = (at + 2).min(bytes.len());
                }
                _ => {
                    if keyish && at > word {
                        self.pos = at + 1;
                        return Some((word, at));
                    }
                    keyish = false;
                    i = at + 1;
                }
            }
        }
        self.pos = bytes.len();
        None
    }
}

fn report_extension(text: &str, context: &SyslogContext, sink: &mut Sink<'_>) -> Option<Timestamp> {
    let mut time = None;
    for Extension { key, value } in extensions(text) {
        let map = meaning(key);
        if map == Some(Map::DateTime) && time.is_none() {
            time = time::any(value, context);
        }
        if value.contains('\\') {
            sink.decoded(value, unescape_value, |sink, value| {
                sink.pair(key, value, map)
            });
        } else {
            sink.pair(key, value, map);
        }
    }
    time
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(text: &str) -> Vec<(&str, &str)> {
        extensions(text).map(|e| (e.key, e.value)).collect()
    }

    #[test]
    fn finds_the_header_anywhere() {
        assert_eq!(find("CEF:0|a|b|c|d|e|f|"), Some(0));
        assert_eq!(find("x CEF:1|a"), Some(2));
        assert_eq!(find("CEF: 0|a"), Some(0));
        assert_eq!(find("CEF:x CEF:0|"), Some(6));
        assert_eq!(find("CEF:"), None);
        assert_eq!(find("no CEF here"), None);
    }

    #[test]
    fn header_parts_with_escapes() {
        assert_eq!(header_part("a\\|b|c"), ("a\\|b", Some("c")));
        assert_eq!(header_part("tail\\"), ("tail\\", None));
        let mut out = String::new();
        unescape_header("a\\|b\\\\c\\d", &mut out);
        assert_eq!(out, "a|b\\c\\d");
    }

    #[test]
    fn extension_values_with_spaces_and_equals() {
        assert_eq!(
            ext("src=10.0.0.1 msg=hello there  world request=http://x/?a=b&c=d dst=10.0.0.2"),
            vec![
                ("src", "10.0.0.1"),
                ("msg", "hello there  world"),
                ("request", "http://x/?a=b&c=d"),
                ("dst", "10.0.0.2"),
            ]
        );
        assert_eq!(
            ext("cs1=a\\=b c\\\\ cs1Label=x= empty= last=v "),
            vec![
                ("cs1", "a\\=b c\\\\"),
                ("cs1Label", "x="),
                ("empty", ""),
                ("last", "v")
            ]
        );
        assert_eq!(ext("junk before k=v"), vec![("k", "v")]);
        assert_eq!(ext("a\\=b=c"), vec![]);
        assert_eq!(ext(""), vec![]);
        assert_eq!(ext("=x a==b"), vec![("a", "=b")]);
        let mut out = String::new();
        unescape_value("a\\=b\\nc\\\\\\rd\\x", &mut out);
        assert_eq!(out, "a=b\nc\\\rd\\x");
    }
}
