//! The syslog header: what the sender put in front of the message.
//!
//! Read forward, each part optional, so that anything a device sends keeps as much
//! structure as it has:
//! - `<pri>`: 0 to 191; `facility` = pri / 8 and `severity` = pri % 8, as numbers.
//! - RFC 5424, recognised by a version right after the PRI (`<pri>1 `, or a line starting
//!   `1 ` + timestamp): `time host app procid msgid [sd-id param="value"...] msg`, `-` for
//!   nil, an optional BOM before the message. Structured data that does not scan (an
//!   unclosed `[`) is left in the message.
//! - RFC 3164 otherwise: a timestamp (see `time`), then a host, then a tag. The host is the
//!   word after the timestamp unless that word is a tag (`sshd[1]:`, `kernel:`), or looks
//!   like payload (contains `=`, `|`, `,`, `%`, quotes or brackets, or ends with `:`), or
//!   is the last word; there is no host without a timestamp. The tag is `app[pid]:`,
//!   `app[pid]` or `app:` followed by a space or the end; `CEF`/`LEEF` and words starting
//!   with `%` (Cisco mnemonics) are never tags. Cisco's lone ` : ` after the host is
//!   skipped. Without a timestamp, a tag is looked for only after a PRI.

use super::SyslogContext;
use super::scan::unescape_backslashes;
use super::sink::Sink;
use super::time;
use jiff::Timestamp;
use memchr::memchr;

/// A parsed header; `message` is everything after it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Header<'a> {
    pub priority: Option<u8>,
    pub time: Option<Timestamp>,
    pub host: Option<&'a str>,
    pub app: Option<&'a str>,
    pub pid: Option<&'a str>,
    /// RFC 5424 MSGID.
    pub msgid: Option<&'a str>,
    /// RFC 5424 structured data, `[...]` elements as written; empty when there is none.
    pub structured_data: &'a str,
    pub message: &'a str,
}

/// Reads the header of `line`.
pub(crate) fn parse<'a>(line: &'a str, context: &SyslogContext) -> Header<'a> {
    let (priority, rest) = match priority(line) {
        Some((value, rest)) => (Some(value), rest),
        None => (None, line),
    };
    if let Some(after_version) = rfc5424_version(rest)
        && let Some(header) = rfc5424(after_version, context)
    {
        return Header { priority, ..header };
    }
    Header {
        priority,
        ..rfc3164(rest, priority.is_some(), context)
    }
}

/// Reports the header's fields, in header order.
pub(crate) fn report(header: &Header<'_>, sink: &mut Sink<'_>) {
    if let Some(priority) = header.priority {
        sink.raw("facility", number(priority / 8));
        sink.raw("severity", number(priority % 8));
    }
    let parts = [
        ("host", header.host),
        ("app", header.app),
        ("pid", header.pid),
        ("msgid", header.msgid),
    ];
    for (name, value) in parts {
        if let Some(value) = value {
            sink.raw(name, value);
        }
    }
    for param in StructuredData::new(header.structured_data) {
        if param.value.contains('\\') {
            sink.decoded(param.value, unescape_param, |sink, value| {
                sink.raw_joined(param.id, '.', param.name, value);
            });
        } else {
            sink.raw_joined(param.id, '.', param.name, param.value);
        }
    }
}

/// `<n>` at the start, n in 0..=191: the value and the rest.
pub(crate) fn priority(line: &str) -> Option<(u8, &str)> {
    let bytes = line.as_bytes();
    if bytes.first() != Some(&b'<') {
        return None;
    }
    let close = bytes.iter().take(5).position(|&b| b == b'>')?;
    let digits = &line[1..close];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u16 = digits.parse().ok()?;
    (value <= 191).then(|| (value as u8, &line[close + 1..]))
}

/// The rest after an RFC 5424 version (`1 `) that is followed by a timestamp or `-`.
pub(crate) fn rfc5424_version(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let digits = bytes
        .iter()
        .take(3)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || digits > 2 || bytes[0] == b'0' || bytes.get(digits) != Some(&b' ') {
        return None;
    }
    let rest = &text[digits + 1..];
    let next = rest.as_bytes();
    let looks_right =
        next.starts_with(b"- ") || next.get(4) == Some(&b'-') && next[0].is_ascii_digit();
    looks_right.then_some(rest)
}

fn rfc5424<'a>(text: &'a str, context: &SyslogContext) -> Option<Header<'a>> {
    let mut header = Header::default();
    let mut rest = text;
    if let Some(after) = rest.strip_prefix("- ") {
        rest = after;
    } else {
        let (len, time) = time::leading(rest, context)?;
        header.time = time;
        rest = rest[len..].strip_prefix(' ').unwrap_or(&rest[len..]);
    }
    let fields: [&mut Option<&'a str>; 4] = [
        &mut header.host,
        &mut header.app,
        &mut header.pid,
        &mut header.msgid,
    ];
    for slot in fields {
        let (word, after) = next_word(rest);
        *slot = Some(word).filter(|w| *w != "-" && !w.is_empty());
        rest = after;
    }
    if let Some(after) = rest.strip_prefix("- ") {
        rest = after;
    } else if rest == "-" {
        rest = "";
    } else if rest.starts_with('[')
        && let Some(len) = StructuredData::scan(rest)
    {
        header.structured_data = &rest[..len];
        rest = rest[len..].strip_prefix(' ').unwrap_or(&rest[len..]);
    }
    header.message = rest.strip_prefix('\u{feff}').unwrap_or(rest);
    Some(header)
}

/// The word up to the next space, and the rest after that space.
fn next_word(text: &str) -> (&str, &str) {
    match memchr(b' ', text.as_bytes()) {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (text, ""),
    }
}

fn rfc3164<'a>(text: &'a str, has_priority: bool, context: &SyslogContext) -> Header<'a> {
    let mut header = Header::default();
    let mut rest = text.trim_start_matches(' ');
    let stamped = match time::leading(rest, context) {
        Some((len, time)) => {
            header.time = time;
            rest = rest[len..].trim_start_matches(' ');
            true
        }
        None => false,
    };
    if stamped {
        let (word, after) = next_word(rest);
        if !after.is_empty() && is_host(word) && tag(rest).is_none() {
            header.host = Some(word);
            rest = after.trim_start_matches(' ');
            if let Some(after_colon) = rest.strip_prefix(": ") {
                rest = after_colon.trim_start_matches(' ');
            }
        }
    }
    if (stamped || has_priority)
        && let Some((app, pid, after)) = tag(rest)
    {
        header.app = Some(app);
        header.pid = pid;
        rest = after.trim_start_matches(' ');
    }
    header.message = rest;
    header
}

/// Whether a word can be a host name rather than the start of a payload.
fn is_host(word: &str) -> bool {
    !word.is_empty()
        && !word.ends_with(':')
        && !word.bytes().any(|b| {
            matches!(
                b,
                b'=' | b'|' | b',' | b'%' | b'"' | b'\'' | b'[' | b']' | b'<' | b'>'
            )
        })
}

/// `app[pid]:`, `app[pid]` or `app:` at the start, followed by a space or the end: the app,
/// the pid and the rest.
fn tag(text: &str) -> Option<(&str, Option<&str>, &str)> {
    let bytes = text.as_bytes();
    let end = bytes
        .iter()
        .take(64)
        .position(|&b| matches!(b, b' ' | b'[' | b':' | b'=' | b'|'))?;
    let app = &text[..end];
    if app.is_empty() || app.starts_with('%') || app == "CEF" || app == "LEEF" {
        return None;
    }
    match bytes[end] {
        b'[' => {
            let close = end + 1 + bytes[end + 1..].iter().take(32).position(|&b| b == b']')?;
            let pid = &text[end + 1..close];
            if pid.contains(' ') {
                return None;
            }
            let mut after = close + 1;
            if bytes.get(after) == Some(&b':') {
                after += 1;
            }
            ends_word(bytes, after)
                .then(|| (app, Some(pid).filter(|p| !p.is_empty()), &text[after..]))
        }
        b':' => ends_word(bytes, end + 1).then(|| (app, None, &text[end + 1..])),
        _ => None,
    }
}

fn ends_word(bytes: &[u8], at: usize) -> bool {
    matches!(bytes.get(at), None | Some(b' '))
}

/// One RFC 5424 SD-PARAM: its element's id, its name and its value as written (escapes
/// not yet decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Param<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub value: &'a str,
}

/// The params of well-formed structured data (as `scan` accepted it), in order.
pub(crate) struct StructuredData<'a> {
    text: &'a str,
    pos: usize,
    id: &'a str,
}

impl<'a> StructuredData<'a> {
    pub(crate) fn new(text: &'a str) -> StructuredData<'a> {
        StructuredData {
            text,
            pos: 0,
            id: "",
        }
    }

    /// The length of the structured data at the start of `text` (`[id p="v"][id2]`), or
    /// `None` if it is not well formed. SD-IDs and param names are what RFC 5424 allows
    /// (SD-NAME: printable ASCII but `=`, space, `]`, `"`), and not `[` either, so that the
    /// iterator, which starts an element at `[`, reads the same params.
    pub(crate) fn scan(text: &str) -> Option<usize> {
        let b = text.as_bytes();
        let mut i = 0;
        while b.get(i) == Some(&b'[') {
            i += 1;
            let id_len = name_len(&b[i..]);
            if id_len == 0 || !matches!(b.get(i + id_len), Some(b' ' | b']')) {
                return None;
            }
            i += id_len;
            loop {
                while b.get(i) == Some(&b' ') {
                    i += 1;
                }
                match b.get(i)? {
                    b']' => {
                        i += 1;
                        break;
                    }
                    _ => {
                        let eq = i + name_len(&b[i..]);
                        if eq == i || b.get(eq) != Some(&b'=') || b.get(eq + 1) != Some(&b'"') {
                            return None;
                        }
                        i = closing_quote(b, eq + 2)? + 1;
                    }
                }
            }
        }
        (i > 0).then_some(i)
    }
}

/// The length of the SD-NAME at the start of `b`.
fn name_len(b: &[u8]) -> usize {
    b.iter()
        .take_while(|&&c| c.is_ascii_graphic() && !matches!(c, b'=' | b']' | b'"' | b'['))
        .count()
}

/// The index of the `"` that closes a value starting at `from`, skipping `\"`.
fn closing_quote(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        i += memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[i] == b'"' {
            return Some(i);
        }
        i += 2;
    }
}

impl<'a> Iterator for StructuredData<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        let b = self.text.as_bytes();
        loop {
            while b.get(self.pos) == Some(&b' ') {
                self.pos += 1;
            }
            match b.get(self.pos)? {
                b'[' => {
                    let start = self.pos + 1;
                    let len = b[start..].iter().position(|&c| c == b' ' || c == b']')?;
                    self.id = &self.text[start..start + len];
                    self.pos = start + len;
                }
                b']' => self.pos += 1,
                _ => {
                    let start = self.pos;
                    let eq = start + memchr(b'=', &b[start..])?;
                    if b.get(eq + 1) != Some(&b'"') {
                        return None;
                    }
                    let close = closing_quote(b, eq + 2)?;
                    self.pos = close + 1;
                    return Some(Param {
                        id: self.id,
                        name: &self.text[start..eq],
                        value: &self.text[eq + 2..close],
                    });
                }
            }
        }
    }
}

/// Decodes an SD-PARAM value: `\"`, `\\` and `\]` lose their backslash; any other
/// backslash stays, as RFC 5424 says.
pub(crate) fn unescape_param(raw: &str, out: &mut String) {
    unescape_backslashes(raw, b"\"\\]", out);
}

/// 0..=23 as text, without formatting.
fn number(value: u8) -> &'static str {
    const NUMBERS: [&str; 24] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
        "17", "18", "19", "20", "21", "22", "23",
    ];
    NUMBERS[usize::from(value).min(23)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> SyslogContext {
        SyslogContext {
            year: 2023,
            zone: jiff::tz::TimeZone::UTC,
            latest: None,
        }
    }

    fn header(line: &str) -> Header<'_> {
        parse(line, &context())
    }

    fn time(h: &Header<'_>) -> String {
        h.time.map(|t| t.to_string()).unwrap_or_default()
    }

    #[test]
    fn priorities() {
        assert_eq!(priority("<0>x"), Some((0, "x")));
        assert_eq!(priority("<191>"), Some((191, "")));
        for bad in ["<192>x", "<>x", "<1a>x", "<1", "1>", "<0001>x"] {
            assert_eq!(priority(bad), None, "{bad}");
        }
    }

    #[test]
    fn bsd_with_host_and_tag() {
        let h = header("<4>Nov 25 20:40:46 gw kernel: [UFW BLOCK] IN=eth0");
        assert_eq!(h.priority, Some(4));
        assert_eq!(time(&h), "2023-11-25T20:40:46Z");
        assert_eq!((h.host, h.app, h.pid), (Some("gw"), Some("kernel"), None));
        assert_eq!(h.message, "[UFW BLOCK] IN=eth0");
    }

    #[test]
    fn no_priority() {
        let h = header("Nov  5 08:03:01 gw kernel: IN=eth1 OUT=");
        assert_eq!(
            (h.priority, h.host, h.app),
            (None, Some("gw"), Some("kernel"))
        );
        assert_eq!(h.message, "IN=eth1 OUT=");
    }

    #[test]
    fn year_after_time_is_not_the_host() {
        let h = header("<30>Jan  2 03:04:05 2024 router dnsmasq[123]: query[A] x from 10.0.0.2");
        assert_eq!(time(&h), "2024-01-02T03:04:05Z");
        assert_eq!(
            (h.host, h.app, h.pid),
            (Some("router"), Some("dnsmasq"), Some("123"))
        );
        assert_eq!(h.message, "query[A] x from 10.0.0.2");
    }

    #[test]
    fn rfc3339_in_bsd_layout() {
        let h = header("<38>2024-01-02T12:00:00+00:00 host1 sshd[777]: Accepted publickey");
        assert_eq!(time(&h), "2024-01-02T12:00:00Z");
        assert_eq!(
            (h.host, h.app, h.pid),
            (Some("host1"), Some("sshd"), Some("777"))
        );
        assert_eq!(h.message, "Accepted publickey");
    }

    #[test]
    fn missing_host() {
        let h = header("<13>Jan  2 03:04:05 sshd[1]: msg");
        assert_eq!(
            (h.host, h.app, h.pid, h.message),
            (None, Some("sshd"), Some("1"), "msg")
        );
        let h = header("<13>Jan  2 03:04:05 su: msg");
        assert_eq!((h.host, h.app, h.message), (None, Some("su"), "msg"));
    }

    #[test]
    fn payload_words_are_not_hosts_or_tags() {
        let h = header("<134>Feb 12 10:39:45 utm01 CEF:0|Sophos|UTM|9.7|1|x|3|src=1");
        assert_eq!((h.host, h.app), (Some("utm01"), None));
        assert!(h.message.starts_with("CEF:0|Sophos"));
        let h = header("<134>Feb 12 10:39:45 CEF:0|Sophos|UTM|9.7|1|x|3|");
        assert_eq!((h.host, h.app), (None, None));
        let h = header("<166>Jan 02 2024 12:00:00 fw01 : %ASA-6-302013: Built");
        assert_eq!(
            (h.host, h.app, h.message),
            (Some("fw01"), None, "%ASA-6-302013: Built")
        );
        let h = header("<166>Jan 02 2024 12:00:00: %ASA-6-302013: Built");
        assert_eq!(
            (h.host, h.app, h.message),
            (None, None, "%ASA-6-302013: Built")
        );
        assert_eq!(time(&h), "2024-01-02T12:00:00Z");
        let h = header("<166>%ASA-6-302013: Built");
        assert_eq!(
            (h.time, h.host, h.app, h.message),
            (None, None, None, "%ASA-6-302013: Built")
        );
        let h = header("<189>date=2024-01-02 time=12:00:00 devname=\"FGT60D\"");
        assert_eq!((h.host, h.app), (None, None));
        assert!(h.message.starts_with("date="));
        let h = header("<14>Jan  2 12:00:00 PA-VM 1,2024/01/02 12:00:00,0123,TRAFFIC");
        assert_eq!(
            (h.host, h.app, h.message),
            (Some("PA-VM"), None, "1,2024/01/02 12:00:00,0123,TRAFFIC")
        );
    }

    #[test]
    fn text_without_header() {
        let h = header("error: something");
        assert_eq!(
            h,
            Header {
                message: "error: something",
                ..Header::default()
            }
        );
        let h = header("");
        assert_eq!(h.message, "");
    }

    #[test]
    fn rfc5424_with_two_elements_and_escapes() {
        let line = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
                    [exampleSDID@32473 iut=\"3\" eventSource=\"App \\\"x\\\" \\] \\\\\"][origin ip=\"192.0.2.1\"] \u{feff}An application event";
        let h = header(line);
        assert_eq!(h.priority, Some(165));
        assert_eq!(time(&h), "2003-10-11T22:14:15.003Z");
        assert_eq!(
            (h.host, h.app, h.pid, h.msgid),
            (
                Some("mymachine.example.com"),
                Some("evntslog"),
                None,
                Some("ID47")
            )
        );
        assert_eq!(h.message, "An application event");
        let params: Vec<_> = StructuredData::new(h.structured_data).collect();
        assert_eq!(params.len(), 3);
        assert_eq!(params[1].id, "exampleSDID@32473");
        assert_eq!(params[1].name, "eventSource");
        let mut decoded = String::new();
        unescape_param(params[1].value, &mut decoded);
        assert_eq!(decoded, "App \"x\" ] \\");
        assert_eq!(
            (params[2].id, params[2].name, params[2].value),
            ("origin", "ip", "192.0.2.1")
        );
    }

    #[test]
    fn rfc5424_nil_and_short() {
        let h = header("<34>1 - - - - - -");
        assert_eq!((h.time, h.host, h.app, h.message), (None, None, None, ""));
        let h = header("<34>1 2024-01-02T00:00:00Z host");
        assert_eq!((h.host, h.app, h.message), (Some("host"), None, ""));
        // Broken structured data stays in the message.
        let h = header("<34>1 - h a p m [id x=\"1\" msg");
        assert_eq!((h.structured_data, h.message), ("", "[id x=\"1\" msg"));
        // Found by fuzzing: a name starting with `[` once read as a param by the scan and
        // as an element by the iterator, which then sliced inside the `é`.
        let h = header("<34>1 - h a p m [a [b=\"1 c=é\"] msg");
        assert_eq!((h.structured_data, h.message), ("", "[a [b=\"1 c=é\"] msg"));
        for bad in [
            "[a b=\"1\"",
            "[é b=\"1\"]",
            "[a é=\"1\"]",
            "[a b=1]",
            "[]",
            "[a b]",
        ] {
            assert_eq!(StructuredData::scan(bad), None, "{bad}");
        }
        // The iterator alone stops there rather than slicing inside the `é`.
        assert_eq!(StructuredData::new("[a [b=\"1 c=é\"]").count(), 0);
    }
}
