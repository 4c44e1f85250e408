//! Juniper SRX session logs (`RT_FLOW`): `RT_FLOW_SESSION_CREATE`, `_CLOSE` and `_DENY`,
//! in either of the two forms Junos sends.
//!
//! - Structured (RFC 5424, `set system syslog ... structured-data`): the fields are SD
//!   params of a `junos@2636...` element, already reported by the header as
//!   `junos@2636.1.1.1.2.129.source-address`; here they are only mapped to shared fields.
//! - Text (BSD, `RT_FLOW: RT_FLOW_SESSION_CREATE: session created 1.2.3.4/5->6.7.8.9/10
//!   ...`): the words are positional. They are named with the structured form's param
//!   names (`source-address`, `service-name`, `policy-name`, ...). Junos releases differ
//!   in a few places (a `0x..` connection tag after each endpoint pair since 12.1X44, two or
//!   four NAT rule words), so the parser skips `0x` tags where they are and finds
//!   `protocol-id` as the first number after the NAT endpoints rather than by position.
//!
//! The text form reports its event name as `msgid`, as the structured form's header does.
//! Words after `encrypted` (reasons, VRF groups in recent releases) are not reported.
//! `action` is `allow` for CREATE and CLOSE, `deny` for DENY; `username` is `user`.

use super::header::{Header, StructuredData};
use super::scan::{Cursor, is_digits, rsplit_once_byte, split_once_byte};
use super::sink::{Map, Norm, Sink};
use memchr::memmem;

/// What the Junos RT_FLOW names mean (structured params and the text form alike).
fn meaning(key: &str) -> Option<Map> {
    Some(match key {
        "source-address" => Map::To(Norm::SrcIp),
        "source-port" => Map::To(Norm::SrcPort),
        "destination-address" => Map::To(Norm::DstIp),
        "destination-port" => Map::To(Norm::DstPort),
        "protocol-id" => Map::To(Norm::Protocol),
        "username" => Map::To(Norm::User),
        _ => return None,
    })
}

const EVENT_PREFIX: &str = "RT_FLOW_SESSION_";

/// Whether the line is an RT_FLOW session event (by MSGID or by message start).
pub(crate) fn is_flow(header: &Header<'_>) -> bool {
    header.msgid.is_some_and(|m| m.starts_with(EVENT_PREFIX))
        || header.message.starts_with(EVENT_PREFIX)
}

/// Parses an RT_FLOW session event.
pub(crate) fn parse(header: &Header<'_>, sink: &mut Sink<'_>) {
    sink.vendor("juniper", "srx");
    let event = header
        .msgid
        .filter(|m| m.starts_with(EVENT_PREFIX))
        .or_else(|| header.message.split(':').next())
        .unwrap_or_default();
    if header.msgid != Some(event) {
        sink.raw("msgid", event);
    }
    if event.starts_with("RT_FLOW_SESSION_DENY") {
        sink.norm(Norm::Action, "deny");
    } else if event.starts_with("RT_FLOW_SESSION_CREATE")
        || event.starts_with("RT_FLOW_SESSION_CLOSE")
    {
        sink.norm(Norm::Action, "allow");
    }
    let mut structured = false;
    for param in StructuredData::new(header.structured_data) {
        if param.id.starts_with("junos@") {
            structured = true;
            if let Some(Map::To(norm)) = meaning(param.name)
                && !param.value.contains('\\')
            {
                sink.norm(norm, param.value);
            }
        }
    }
    if !structured {
        text_form(header.message, sink);
    }
}

/// The words of `session created|denied|closed ...`.
fn text_form(message: &str, sink: &mut Sink<'_>) {
    let bytes = message.as_bytes();
    if let Some(at) = memmem::find(bytes, b"session created ") {
        created_or_closed(&message[at + 16..], false, sink);
    } else if let Some(at) = memmem::find(bytes, b"session closed ") {
        let rest = &message[at + 15..];
        match rest.split_once(": ") {
            Some((reason, rest)) => {
                sink.raw("reason", reason);
                created_or_closed(rest, true, sink);
            }
            None => {
                created_or_closed(rest, true, sink);
            }
        }
    } else if let Some(at) = memmem::find(bytes, b"session denied ") {
        denied(&message[at + 15..], sink);
    }
}

/// Reports `source-address/source-port->destination-address/destination-port`, with
/// `nat-` names for the translated pair; false if `word` is not such a pair.
fn flow(word: &str, nat: bool, sink: &mut Sink<'_>) -> bool {
    let Some((source, destination)) = word.split_once("->") else {
        return false;
    };
    let names = if nat {
        [
            "nat-source-address",
            "nat-source-port",
            "nat-destination-address",
            "nat-destination-port",
        ]
    } else {
        [
            "source-address",
            "source-port",
            "destination-address",
            "destination-port",
        ]
    };
    for (half, [address_name, port_name]) in [
        (source, [names[0], names[1]]),
        (destination, [names[2], names[3]]),
    ] {
        let (address, port) = rsplit_once_byte(half, b'/').unwrap_or((half, ""));
        report(address_name, address, sink);
        report(port_name, port, sink);
    }
    true
}

fn report(name: &str, value: &str, sink: &mut Sink<'_>) {
    sink.pair(name, value, meaning(name));
}

/// The next word, skipping a `0x..` connection tag (reported as `tag_name`).
fn word_after_tag<'a>(c: &mut Cursor<'a>, tag_name: &str, sink: &mut Sink<'_>) -> Option<&'a str> {
    let word = c.word()?;
    if word.starts_with("0x") {
        sink.raw(tag_name, word);
        return c.word();
    }
    Some(word)
}

/// Reports `name(inner)` as `name` and `inner_name`.
fn with_parenthesis(word: &str, name: &str, inner_name: &str, sink: &mut Sink<'_>) {
    match split_once_byte(word, b'(') {
        Some((outer, inner)) => {
            report(name, outer, sink);
            report(inner_name, inner.trim_end_matches(')'), sink);
        }
        None => report(name, word, sink),
    }
}

fn created_or_closed(rest: &str, closed: bool, sink: &mut Sink<'_>) -> Option<()> {
    let mut c = Cursor::new(rest);
    flow(c.word()?, false, sink).then_some(())?;
    let service = word_after_tag(&mut c, "connection-tag", sink)?;
    report("service-name", service, sink);
    let nat = c.word()?;
    flow(nat, true, sink);
    let mut rules = [""; 4];
    let mut count = 0;
    let protocol = loop {
        let word = c.word()?;
        if word.starts_with("0x") {
            sink.raw("nat-connection-tag", word);
        } else if is_digits(word) {
            break word;
        } else if count < rules.len() {
            rules[count] = word;
            count += 1;
        }
    };
    let rule_names: &[&str] = match count {
        4 => &[
            "src-nat-rule-type",
            "src-nat-rule-name",
            "dst-nat-rule-type",
            "dst-nat-rule-name",
        ],
        2 => &["src-nat-rule-name", "dst-nat-rule-name"],
        _ => &[],
    };
    for (name, value) in rule_names.iter().zip(rules) {
        report(name, value, sink);
    }
    report("protocol-id", protocol, sink);
    for name in [
        "policy-name",
        "source-zone-name",
        "destination-zone-name",
        "session-id-32",
    ] {
        report(name, c.word()?, sink);
    }
    if closed {
        with_parenthesis(c.word()?, "packets-from-client", "bytes-from-client", sink);
        with_parenthesis(c.word()?, "packets-from-server", "bytes-from-server", sink);
        report("elapsed-time", c.word()?, sink);
        report("application", c.word()?, sink);
        report("nested-application", c.word()?, sink);
        with_parenthesis(c.word()?, "username", "roles", sink);
        report("packet-incoming-interface", c.word()?, sink);
    } else {
        with_parenthesis(c.word()?, "username", "roles", sink);
        report("packet-incoming-interface", c.word()?, sink);
        report("application", c.word()?, sink);
        report("nested-application", c.word()?, sink);
    }
    report("encrypted", c.word()?, sink);
    Some(())
}

fn denied(rest: &str, sink: &mut Sink<'_>) -> Option<()> {
    let mut c = Cursor::new(rest);
    flow(c.word()?, false, sink).then_some(())?;
    let service = word_after_tag(&mut c, "connection-tag", sink)?;
    report("service-name", service, sink);
    with_parenthesis(c.word()?, "protocol-id", "icmp-type", sink);
    for name in [
        "policy-name",
        "source-zone-name",
        "destination-zone-name",
        "application",
        "nested-application",
    ] {
        report(name, c.word()?, sink);
    }
    with_parenthesis(c.word()?, "username", "roles", sink);
    report("packet-incoming-interface", c.word()?, sink);
    report("encrypted", c.word()?, sink);
    Some(())
}
