//! key=value payloads: FortiGate, SonicWall, Sophos UTM and SFOS, iptables/UFW, and any
//! message that starts with `key=`.
//!
//! One tokenizer (`Tokens`) reads them all: words separated by spaces or tabs; a word with
//! `=` after a key (ASCII letters, digits, `_`, `-`, `.`) is a pair, whose value is either
//! quoted (`"..."` or `'...'`, where `\"`, `\'` and `\\` are escapes; an unclosed quote runs
//! to the end) or runs to the next space; `key=` is an empty value; any other word is bare.
//! Bare words are reported as `WORD=true` only for iptables (its flags `DF`, `SYN`, ...)
//! and by `parse_key_values`; elsewhere they are prose and skipped.
//!
//! Which dialect a message is, is decided before reading it (`sniff`), from its first key
//! and a few telltale keys, so each raw key is mapped as it is read. Each dialect's table
//! below is the whole of what its keys mean (see README.md).

use super::SyslogContext;
use super::scan::{Needle, find_any, unescape_backslashes};
use super::sink::{Map, Norm, Sink};
use super::time;
use jiff::Timestamp;
use memchr::{memchr, memmem};

/// A key=value dialect: who sends it and what its keys mean.
#[derive(Debug)]
pub(crate) struct Dialect {
    pub vendor: &'static str,
    pub product: &'static str,
    /// What its keys mean.
    pub meaning: fn(&str) -> Option<Map>,
    /// Whether bare words are flags (`SYN` reported as `SYN=true`).
    pub flags: bool,
}

impl Dialect {
    /// Whether this is a device's own dialect (not the generic key=value fallback).
    pub(crate) fn is_device(&self) -> bool {
        !self.vendor.is_empty()
    }
}

use Map::{Date, DateTime, DstEndpoint, SrcEndpoint, Time, To, Zone};
use Norm::{Action, Device, DstIp, DstPort, Protocol, SrcIp, SrcPort, User};

/// FortiGate (FortiOS traffic, UTM and event logs).
pub(crate) const FORTIGATE: Dialect = Dialect {
    vendor: "fortinet",
    product: "fortigate",
    meaning: fortigate,
    flags: false,
};

fn fortigate(key: &str) -> Option<Map> {
    Some(match key {
        "date" => Date,
        "time" => Time,
        "tz" => Zone,
        "devname" => To(Device),
        "srcip" => To(SrcIp),
        "srcport" => To(SrcPort),
        "dstip" => To(DstIp),
        "dstport" => To(DstPort),
        "proto" => To(Protocol),
        "action" => To(Action),
        "user" | "unauthuser" => To(User),
        _ => return None,
    })
}

/// SonicWall (SonicOS enhanced syslog).
pub(crate) const SONICWALL: Dialect = Dialect {
    vendor: "sonicwall",
    product: "sonicos",
    meaning: sonicwall,
    flags: false,
};

fn sonicwall(key: &str) -> Option<Map> {
    Some(match key {
        "time" => DateTime,
        "src" => SrcEndpoint,
        "dst" => DstEndpoint,
        "proto" => To(Protocol),
        "fw_action" => To(Action),
        "usr" | "user" => To(User),
        _ => return None,
    })
}

/// Sophos UTM (packet filter, web filter, ... via ulogd, httpproxy, ...).
pub(crate) const SOPHOS_UTM: Dialect = Dialect {
    vendor: "sophos",
    product: "utm",
    meaning: sophos_utm,
    flags: false,
};

fn sophos_utm(key: &str) -> Option<Map> {
    Some(match key {
        "srcip" => To(SrcIp),
        "srcport" => To(SrcPort),
        "dstip" => To(DstIp),
        "dstport" => To(DstPort),
        "proto" => To(Protocol),
        "action" => To(Action),
        "user" => To(User),
        _ => return None,
    })
}

/// Sophos Firewall (SFOS, XG/XGS).
pub(crate) const SOPHOS_SFOS: Dialect = Dialect {
    vendor: "sophos",
    product: "sfos",
    meaning: sophos_sfos,
    flags: false,
};

fn sophos_sfos(key: &str) -> Option<Map> {
    Some(match key {
        "date" => Date,
        "time" => Time,
        "timezone" => Zone,
        "timestamp" => DateTime,
        "src_ip" => To(SrcIp),
        "src_port" => To(SrcPort),
        "dst_ip" => To(DstIp),
        "dst_port" => To(DstPort),
        "protocol" => To(Protocol),
        "log_subtype" | "status" => To(Action),
        "user_name" => To(User),
        _ => return None,
    })
}

/// Linux netfilter LOG target (iptables, nftables `log`, UFW), after its log prefix.
pub(crate) const NETFILTER: Dialect = Dialect {
    vendor: "netfilter",
    product: "iptables",
    meaning: netfilter,
    flags: true,
};

fn netfilter(key: &str) -> Option<Map> {
    Some(match key {
        "SRC" => To(SrcIp),
        "DST" => To(DstIp),
        "SPT" => To(SrcPort),
        "DPT" => To(DstPort),
        "PROTO" => To(Protocol),
        _ => return None,
    })
}

/// UFW: netfilter with UFW's prefixes.
pub(crate) const UFW: Dialect = Dialect {
    product: "ufw",
    ..NETFILTER
};

/// Any other message that starts with `key=` (auditd, logfmt, unknown devices): raw keys,
/// and the shared fields only under their own names.
pub(crate) const GENERIC: Dialect = Dialect {
    vendor: "",
    product: "",
    meaning: generic,
    flags: false,
};

fn generic(key: &str) -> Option<Map> {
    Some(match key {
        "src_ip" => To(SrcIp),
        "src_port" => To(SrcPort),
        "dst_ip" => To(DstIp),
        "dst_port" => To(DstPort),
        "protocol" => To(Protocol),
        "action" => To(Action),
        "user" => To(User),
        _ => return None,
    })
}

/// The dialect of a key=value message, or `None` when the message is not key=value.
pub(crate) fn sniff(message: &str) -> Option<&'static Dialect> {
    // Searchers built once (building one per line costs more than the search).
    static UFW_TAG: Needle = Needle::new("UFW ");
    static DEVID: Needle = Needle::new(" devid=");
    static DEVNAME: Needle = Needle::new(" devname=");
    static SN: Needle = Needle::new(" sn=");
    static SYS: Needle = Needle::new(" sys=");
    static LOG_TYPE: Needle = Needle::new(" log_type=");
    let text = message.as_bytes();
    let has = |needle: &Needle| needle.find(text).is_some();
    if netfilter_start(message).is_some() {
        return Some(if has(&UFW_TAG) { &UFW } else { &NETFILTER });
    }
    if !starts_with_pair(message) {
        return None;
    }
    Some(
        if text.starts_with(b"date=") || has(&DEVID) || has(&DEVNAME) {
            &FORTIGATE
        } else if text.starts_with(b"id=") && has(&SN) {
            &SONICWALL
        } else if text.starts_with(b"id=\"") && has(&SYS) {
            &SOPHOS_UTM
        } else if text.starts_with(b"device") && has(&LOG_TYPE) {
            &SOPHOS_SFOS
        } else {
            &GENERIC
        },
    )
}

/// Parses a key=value message, if it is one; returns its own event time.
pub(crate) fn parse(
    message: &str,
    context: &SyslogContext,
    sink: &mut Sink<'_>,
) -> Option<Timestamp> {
    let dialect = sniff(message)?;
    if dialect.is_device() {
        sink.vendor(dialect.vendor, dialect.product);
    }
    let mut text = message;
    if dialect.flags
        && let Some(start) = netfilter_start(message)
    {
        report_netfilter_prefix(&message[..start], sink);
        text = &message[start..];
    }
    report_dialect(text, dialect, context, sink)
}

/// Reports every pair and bare word of `text`, no dialect (`parse_key_values`).
pub(crate) fn report_all(text: &str, sink: &mut Sink<'_>) {
    for token in Tokens::new(text) {
        match token {
            Token::Pair(pair) => report_pair(&pair, None, sink),
            Token::Bare(word) => sink.raw(word, "true"),
        }
    }
}

/// The parts of the event time a dialect's keys gave.
#[derive(Default)]
struct TimeParts<'a> {
    date: Option<&'a str>,
    time: Option<&'a str>,
    zone: Option<&'a str>,
    datetime: Option<&'a str>,
}

impl TimeParts<'_> {
    fn resolve(&self, context: &SyslogContext) -> Option<Timestamp> {
        if let (Some(date), Some(time)) = (self.date, self.time)
            && let Some(t) = time::from_parts(date, time, self.zone, context)
        {
            return Some(t);
        }
        time::any(self.datetime?, context)
    }
}

fn report_dialect(
    text: &str,
    dialect: &Dialect,
    context: &SyslogContext,
    sink: &mut Sink<'_>,
) -> Option<Timestamp> {
    let mut parts = TimeParts::default();
    for token in Tokens::new(text) {
        match token {
            Token::Pair(pair) => {
                let map = (dialect.meaning)(pair.key);
                let slot = match map {
                    Some(Date) => Some(&mut parts.date),
                    Some(Time) => Some(&mut parts.time),
                    Some(Zone) => Some(&mut parts.zone),
                    Some(DateTime) => Some(&mut parts.datetime),
                    _ => None,
                };
                if let Some(slot) = slot
                    && !pair.escaped
                {
                    *slot = Some(pair.value);
                }
                report_pair(&pair, map, sink);
            }
            Token::Bare(word) if dialect.flags && is_flag(word) => sink.raw(word, "true"),
            Token::Bare(_) => {}
        }
    }
    parts.resolve(context)
}

fn report_pair(pair: &Pair<'_>, map: Option<Map>, sink: &mut Sink<'_>) {
    if pair.escaped {
        sink.decoded(pair.value, unescape_quoted, |sink, value| {
            sink.pair(pair.key, value, map);
        });
    } else {
        sink.pair(pair.key, pair.value, map);
    }
}

/// Where the netfilter fields start (`IN=`), if the message is a netfilter LOG line (it
/// has `IN=` at a word start and ` OUT=` later).
fn netfilter_start(message: &str) -> Option<usize> {
    let bytes = message.as_bytes();
    static OUT: Needle = Needle::new(" OUT=");
    let out = OUT.find(bytes)?;
    let head = &bytes[..out];
    let start = memmem::rfind(head, b"IN=")?;
    let at_word_start = start == 0 || matches!(bytes[start - 1], b' ' | b']' | b':');
    at_word_start.then_some(start)
}

/// Reports netfilter's log prefix (`[UFW BLOCK]`, `DROP-IN:`) as `log_prefix`, without the
/// kernel's `[seconds.micros]` stamp, and the action its words say.
fn report_netfilter_prefix(prefix: &str, sink: &mut Sink<'_>) {
    let mut prefix = prefix.trim();
    if prefix.starts_with('[')
        && let Some(close) = memchr(b']', prefix.as_bytes())
        && prefix[1..close]
            .trim()
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.')
        && close > 1
    {
        prefix = prefix[close + 1..].trim_start();
    }
    if prefix.is_empty() {
        return;
    }
    sink.raw("log_prefix", prefix);
    if let Some(action) = prefix_action(prefix) {
        sink.norm(Norm::Action, action);
    }
}

/// The action a log prefix's words name (`BLOCK`, `DROP`, `REJECT`, `DENY` → deny; `ALLOW`,
/// `ACCEPT`, `PASS` → allow); `None` for neither (UFW `AUDIT`).
fn prefix_action(prefix: &str) -> Option<&'static str> {
    const DENY: [&[u8]; 5] = [b"BLOCK", b"DROP", b"REJECT", b"DENY", b"DENIED"];
    const ALLOW: [&[u8]; 3] = [b"ALLOW", b"ACCEPT", b"PASS"];
    let upper = prefix.as_bytes();
    let contains = |word: &[u8]| {
        upper
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word))
    };
    if DENY.iter().any(|w| contains(w)) {
        Some("deny")
    } else if ALLOW.iter().any(|w| contains(w)) {
        Some("allow")
    } else {
        None
    }
}

/// Whether the message starts with `key=`.
fn starts_with_pair(message: &str) -> bool {
    matches!(Tokens::new(message).next(), Some(Token::Pair(_)))
}

/// A bare word that can be a flag: letters, digits, `_`.
fn is_flag(word: &str) -> bool {
    word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_key_byte(b: u8) -> bool {
    KEY_BYTES[usize::from(b)]
}

/// ASCII letters, digits, `_`, `-`, `.`.
const KEY_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.';
        b += 1;
    }
    table
};

/// One `key=value`: the value as written inside its quotes, and whether it has escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pair<'a> {
    pub key: &'a str,
    pub value: &'a str,
    pub escaped: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    Pair(Pair<'a>),
    Bare(&'a str),
}

/// The tokens of a key=value text, in order.
pub(crate) struct Tokens<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Tokens<'a> {
    pub(crate) fn new(text: &'a str) -> Tokens<'a> {
        Tokens { text, pos: 0 }
    }

    /// The end of the word at `from` (the next space or tab, or the end). A plain loop:
    /// words are a few bytes long, shorter than it takes `memchr` to get going.
    fn word_end(&self, from: usize) -> usize {
        find_any(self.text.as_bytes(), from, b' ', b'\t', b'\t')
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let bytes = self.text.as_bytes();
        while matches!(bytes.get(self.pos), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        let start = self.pos;
        if start >= bytes.len() {
            return None;
        }
        let stop = find_any(bytes, start, b'=', b' ', b'\t');
        let is_pair = stop > start
            && bytes.get(stop) == Some(&b'=')
            && bytes[start..stop].iter().all(|&b| is_key_byte(b));
        if !is_pair {
            let end = self.word_end(start);
            self.pos = end;
            return Some(Token::Bare(&self.text[start..end]));
        }
        let key = &self.text[start..stop];
        let value_start = stop + 1;
        let (value, escaped, end) = match bytes.get(value_start) {
            Some(&quote @ (b'"' | b'\'')) => quoted(self.text, value_start + 1, quote),
            _ => {
                let end = self.word_end(value_start);
                (&self.text[value_start..end], false, end)
            }
        };
        self.pos = end;
        Some(Token::Pair(Pair {
            key,
            value,
            escaped,
        }))
    }
}

/// A quoted value from `from` (after the opening quote): the inside, whether it has
/// escapes, and where the token ends (after the closing quote, or the end of the text).
fn quoted(text: &str, from: usize, quote: u8) -> (&str, bool, usize) {
    let bytes = text.as_bytes();
    let mut escaped = false;
    let mut i = from;
    loop {
        i = find_any(bytes, i, quote, b'\\', quote);
        match bytes.get(i) {
            None => return (&text[from..], escaped, bytes.len()),
            Some(&b) if b == quote => return (&text[from..i], escaped, i + 1),
            Some(_) => {
                escaped = true;
                i += 2;
            }
        }
    }
}

/// Decodes a quoted value: `\"`, `\'` and `\\` lose their backslash; any other backslash
/// stays (Windows paths in FortiGate messages).
pub(crate) fn unescape_quoted(raw: &str, out: &mut String) {
    unescape_backslashes(raw, b"\"'\\", out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<Token<'_>> {
        Tokens::new(text).collect()
    }

    fn pair<'a>(key: &'a str, value: &'a str) -> Token<'a> {
        Token::Pair(Pair {
            key,
            value,
            escaped: false,
        })
    }

    #[test]
    fn tokenizer() {
        assert_eq!(
            tokens("a=1  b=\"x y\" c= d='q' SYN e=\"unterminated"),
            vec![
                pair("a", "1"),
                pair("b", "x y"),
                pair("c", ""),
                pair("d", "q"),
                Token::Bare("SYN"),
                pair("e", "unterminated"),
            ]
        );
        assert_eq!(
            tokens("msg=\"say \\\"hi\\\"\" url=http://x/?a=b (uid=0) =x"),
            vec![
                Token::Pair(Pair {
                    key: "msg",
                    value: "say \\\"hi\\\"",
                    escaped: true
                }),
                pair("url", "http://x/?a=b"),
                Token::Bare("(uid=0)"),
                Token::Bare("=x"),
            ]
        );
        assert_eq!(
            tokens("k=\"ends with backslash\\"),
            vec![Token::Pair(Pair {
                key: "k",
                value: "ends with backslash\\",
                escaped: true
            })]
        );
        assert_eq!(tokens(""), vec![]);
    }

    #[test]
    fn unescaping() {
        let mut out = String::new();
        unescape_quoted("say \\\"hi\\\" C:\\temp \\\\ end\\", &mut out);
        assert_eq!(out, "say \"hi\" C:\\temp \\ end\\");
    }

    #[test]
    fn sniffing() {
        let vendor = |m: &str| sniff(m).map(|d| (d.vendor, d.product));
        assert_eq!(
            vendor("date=2024-01-02 time=12:00:00 devname=\"x\""),
            Some(("fortinet", "fortigate"))
        );
        assert_eq!(
            vendor("id=firewall sn=C0EA fw=1.2.3.4"),
            Some(("sonicwall", "sonicos"))
        );
        assert_eq!(
            vendor("id=\"2001\" severity=\"info\" sys=\"SecureNet\""),
            Some(("sophos", "utm"))
        );
        assert_eq!(
            vendor("device_name=\"SFW\" timestamp=\"x\" log_type=\"Firewall\""),
            Some(("sophos", "sfos"))
        );
        assert_eq!(
            vendor("[UFW BLOCK] IN=eth0 OUT= MAC=x"),
            Some(("netfilter", "ufw"))
        );
        assert_eq!(
            vendor("IN=eth0 OUT= MAC=x"),
            Some(("netfilter", "iptables"))
        );
        assert_eq!(
            vendor("type=SYSCALL msg=audit(1:2): arch=c000003e"),
            Some(("", ""))
        );
        assert_eq!(
            vendor("pam_unix(sshd:session): session opened for user root(uid=0)"),
            None
        );
        assert_eq!(vendor("LOGIN=x but OUT= later"), Some(("", "")));
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefix_action("[UFW BLOCK]"), Some("deny"));
        assert_eq!(prefix_action("[UFW ALLOW]"), Some("allow"));
        assert_eq!(prefix_action("[UFW AUDIT]"), None);
        assert_eq!(prefix_action("iptables-dropped:"), Some("deny"));
    }
}
