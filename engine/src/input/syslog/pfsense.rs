//! pfSense and OPNsense packet filter logs: `filterlog[123]: 5,,,1000000103,igb1,match,
//! block,in,4,0x0,,64,0,0,DF,6,tcp,60,203.0.113.5,10.0.0.10,51234,3389,0,S,...`.
//!
//! Recognised by the syslog tag `filterlog`. The columns follow the pfSense "Filter Log
//! Format" documentation: nine common ones, then an IPv4 or IPv6 block (chosen by the IP
//! version column), then a block for the protocol (TCP, UDP, ICMP, CARP) chosen by the
//! protocol text column. For ICMP only the type is named, the rest of the line (whose
//! shape depends on the type) is `icmp_data`. OPNsense writes the same format, so both
//! report `vendor` = `pfsense`, `product` = `filterlog`.
//!
//! The raw names already are the shared ones where they overlap (`src_ip`, `dst_port`,
//! `protocol`, `action`), so those are reported once, `action` normalised beside the raw
//! `block`/`pass`.

use super::sink::{Map, Norm, Sink};

const COMMON: [&str; 9] = [
    "rule_number",
    "sub_rule_number",
    "anchor",
    "tracker",
    "interface",
    "reason",
    "action",
    "direction",
    "ip_version",
];
const IPV4: [&str; 11] = [
    "tos",
    "ecn",
    "ttl",
    "id",
    "offset",
    "flags",
    "protocol_id",
    "protocol",
    "length",
    "src_ip",
    "dst_ip",
];
const IPV6: [&str; 8] = [
    "class",
    "flow_label",
    "hop_limit",
    "protocol",
    "protocol_id",
    "length",
    "src_ip",
    "dst_ip",
];
const TCP: [&str; 9] = [
    "src_port",
    "dst_port",
    "data_length",
    "tcp_flags",
    "sequence_number",
    "ack_number",
    "window",
    "urg",
    "options",
];
const UDP: [&str; 3] = ["src_port", "dst_port", "data_length"];
const CARP: [&str; 6] = [
    "carp_type",
    "carp_ttl",
    "vhid",
    "version",
    "advbase",
    "advskew",
];

/// What filterlog columns mean.
fn meaning(key: &str) -> Option<Map> {
    Some(match key {
        "src_ip" => Map::To(Norm::SrcIp),
        "dst_ip" => Map::To(Norm::DstIp),
        "src_port" => Map::To(Norm::SrcPort),
        "dst_port" => Map::To(Norm::DstPort),
        "protocol" => Map::To(Norm::Protocol),
        "action" => Map::To(Norm::Action),
        _ => return None,
    })
}

/// Parses a filterlog line.
pub(crate) fn parse(message: &str, sink: &mut Sink<'_>) {
    sink.vendor("pfsense", "filterlog");
    let mut columns = Columns {
        text: message,
        pos: 0,
    };
    let Some(ip_version) = report_block(&COMMON, "ip_version", &mut columns, sink) else {
        return;
    };
    let ip_block: &[&str] = match ip_version {
        "4" => &IPV4,
        "6" => &IPV6,
        _ => return,
    };
    let Some(protocol) = report_block(ip_block, "protocol", &mut columns, sink) else {
        return;
    };
    let is = |name: &str| protocol.eq_ignore_ascii_case(name);
    let protocol_block: &[&str] = if is("tcp") {
        &TCP
    } else if is("udp") {
        &UDP
    } else if is("carp") {
        &CARP
    } else if is("icmp") || is("ipv6-icmp") || is("icmpv6") {
        if let Some(icmp_type) = columns.next() {
            report("icmp_type", icmp_type, sink);
        }
        let rest = columns.rest();
        if !rest.is_empty() {
            report("icmp_data", rest, sink);
        }
        return;
    } else {
        return;
    };
    report_block(protocol_block, "", &mut columns, sink);
}

/// Reports the next columns under `names`; returns the value of the one named `wanted`,
/// or `None` if the line ends first.
fn report_block<'a>(
    names: &[&str],
    wanted: &str,
    columns: &mut Columns<'a>,
    sink: &mut Sink<'_>,
) -> Option<&'a str> {
    let mut found = "";
    for &name in names {
        let value = columns.next()?;
        if name == wanted {
            found = value;
        }
        report(name, value, sink);
    }
    Some(found)
}

/// Comma-separated columns, read one at a time.
struct Columns<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Columns<'a> {
    fn next(&mut self) -> Option<&'a str> {
        if self.pos > self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let end = memchr::memchr(b',', rest.as_bytes()).unwrap_or(rest.len());
        self.pos += end + 1;
        Some(&rest[..end])
    }

    /// The columns not yet read, as written.
    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or_default()
    }
}

fn report(name: &str, value: &str, sink: &mut Sink<'_>) {
    sink.pair(name, value, meaning(name));
}
