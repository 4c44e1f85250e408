//! Syslog from network and security devices: one line in, named text fields out.
//!
//! A line is read in two layers. The header (`header`) is whatever syslog framing the sender
//! put in front: RFC 3164 (`<pri>Mmm dd hh:mm:ss host tag[pid]: msg`, with the variations
//! devices really send: no PRI, no host, a year before or after the time, an RFC 3339 time,
//! a zone) or RFC 5424 (`<pri>1 time host app procid msgid [sd] msg`), or nothing at all.
//! The message is then sniffed for the payloads firewalls send (`cef`, `cisco`, `panos`,
//! `juniper`, `pfsense`, and the key=value dialects in `kv`), each parsed by hand.
//!
//! Why by hand (see `/work/shared/research/crates.md` §9): the syslog crates either reject
//! what devices send or misread it (a year after the time becomes the host), none parses the
//! payloads, and a line has about a microsecond to be read. Every parser here is a forward
//! scan over the line (`memchr`, or eight bytes at a time for short tokens), never going
//! back by more than a token, so no input is quadratic. Values are borrowed from the line;
//! a value whose escapes had to be decoded, or a name that had to be built (`origin.ip`),
//! goes through scratch buffers reused from line to line; only a line with invalid UTF-8
//! is copied (once, lossily).
//!
//! Fields are reported in the order the line has them, header first:
//! `facility`, `severity`, `host`, `app`, `pid`, `msgid`, RFC 5424 structured data as
//! `<sd-id>.<param>`, then `message`, then the payload's fields. Everything reported before
//! `message` comes from the header; everything after it, from the payload. Alongside every
//! raw key, the fields every vendor shares are reported under one set of names (`src_ip`,
//! `dst_port`, `action`, `vendor`, ...: see `sink` and README.md), each at most once.

mod cef;
mod cisco;
mod header;
mod juniper;
mod kv;
mod panos;
mod pfsense;
mod scan;
mod sink;
mod time;

#[cfg(test)]
mod tests;

use header::Header;
use jiff::Timestamp;
use sink::Sink;
use std::borrow::Cow;

/// What a line does not say for itself.
#[derive(Debug, Clone)]
pub struct SyslogContext {
    /// For timestamps without a year (`--year`, or the file's modification year).
    pub year: i16,
    /// For timestamps without a zone (`--syslog-tz`, default UTC).
    pub zone: jiff::tz::TimeZone,
    /// When `year` is the year the log was last written: that time. A timestamp without a
    /// year that would fall more than a day after it is from the year before (a log that
    /// spans new year, or was rotated on the first of January).
    pub latest: Option<Timestamp>,
}

impl Default for SyslogContext {
    /// The year 1970 and UTC: what a line is read against when nothing better is known.
    fn default() -> Self {
        SyslogContext {
            year: 1970,
            zone: jiff::tz::TimeZone::UTC,
            latest: None,
        }
    }
}

/// Parses one line (without its line ending; may contain invalid UTF-8, NUL bytes, any
/// length) and reports every field through `field(name, value)`, in a stable order.
/// Returns the event time when the line has one. Never fails: a line in no known format
/// still yields its header fields (if any) and `message`.
///
/// The event time is the payload's own when it has one (FortiGate `date`/`time`/`tz`, CEF
/// `rt`, PAN-OS generated time, ...), else the header's.
pub fn parse_line(
    line: &[u8],
    context: &SyslogContext,
    field: &mut dyn FnMut(&str, &str),
) -> Option<Timestamp> {
    let text = as_text(line);
    let text = text.trim_end_matches(['\r', '\n']);
    let header = header::parse(text, context);
    let mut sink = Sink::new(field);
    header::report(&header, &mut sink);
    sink.raw("message", header.message);
    let payload_time = parse_payload(&header, context, &mut sink);
    sink.device_fallback(header.host);
    payload_time.or(header.time)
}

/// Whether the first bytes of a file look like syslog (used to tell a syslog file from any
/// other text file): true if any of the first non-empty lines has a PRI, a BSD or RFC 3339
/// timestamp at the start (after an optional PRI), or a known vendor payload (FortiGate
/// `date=... time=...`, `CEF:`, `%ASA-`/`%FTD-`, ...).
///
/// Only the first ten non-empty lines are looked at; the last one may be cut short.
pub fn looks_like_syslog(head: &[u8]) -> bool {
    head.split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| line.iter().any(|b| !b.is_ascii_whitespace()))
        .take(10)
        .any(|line| line_looks_like_syslog(&as_text(line)))
}

/// Reads a CEF record (`CEF:Version|Vendor|Product|Version|SignatureID|Name|Severity|ext`)
/// that starts somewhere in `message`, and reports its header parts (`cef_version`,
/// `device_vendor`, ..., `cef_severity`), every extension key as-is, and the normalised
/// fields. Returns the time from `rt`, if any. Reports nothing when `message` holds no
/// `CEF:` header. Exposed for the fuzz target `cef`.
pub fn parse_cef(
    message: &str,
    context: &SyslogContext,
    field: &mut dyn FnMut(&str, &str),
) -> Option<Timestamp> {
    let start = cef::find(message)?;
    let mut sink = Sink::new(field);
    cef::parse(&message[start..], context, &mut sink)
}

/// Reports every `key=value` pair of `text` with its value unquoted and unescaped, and
/// every bare word (`SYN`, `DF`) as `word=true`: the tokenizer under the FortiGate,
/// SonicWall, Sophos, iptables and generic key=value parsers, without any vendor's
/// normalisation. Exposed for the fuzz target `key_value`.
pub fn parse_key_values(text: &str, field: &mut dyn FnMut(&str, &str)) {
    let mut sink = Sink::new(field);
    kv::report_all(text, &mut sink);
}

/// The line as text: borrowed when it is valid UTF-8, else with U+FFFD for each bad
/// sequence.
fn as_text(line: &[u8]) -> Cow<'_, str> {
    // `from_utf8` checks ASCII a word at a time; `from_utf8_lossy` walks it in chunks and
    // costs several times more on the valid lines that are nearly all of them.
    match std::str::from_utf8(line) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(line),
    }
}

/// Sniffs the message for a payload format, most specific first, and parses it.
fn parse_payload(
    header: &Header<'_>,
    context: &SyslogContext,
    sink: &mut Sink<'_>,
) -> Option<Timestamp> {
    let message = header.message;
    if header.app == Some("filterlog") {
        pfsense::parse(message, sink);
        return None;
    }
    if juniper::is_flow(header) {
        juniper::parse(header, sink);
        return None;
    }
    if let Some(start) = cisco::find(message) {
        cisco::parse(&message[start..], sink);
        return None;
    }
    if let Some(start) = cef::find(message) {
        return cef::parse(&message[start..], context, sink);
    }
    if panos::is_csv(message) {
        return panos::parse(message, header, context, sink);
    }
    kv::parse(message, context, sink)
}

fn line_looks_like_syslog(line: &str) -> bool {
    let line = line.trim_start_matches([' ', '\t']);
    let (has_pri, rest) = match header::priority(line) {
        Some((_, rest)) => (true, rest),
        None => (false, line),
    };
    has_pri
        || time::leading(rest, &SyslogContext::default()).is_some()
        || header::rfc5424_version(rest).is_some()
        || cisco::find(rest) == Some(0)
        || cef::find(rest).is_some()
        || panos::is_csv(rest)
        || kv::sniff(rest).is_some_and(|vendor| vendor.is_device())
}
