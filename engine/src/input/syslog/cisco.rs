//! Cisco ASA and Firepower Threat Defense: `%ASA-6-302013: Built inbound TCP ...`.
//!
//! Every message reports `asa_level` and `asa_id` (also for FTD, whose mnemonic is
//! `%FTD-`), `vendor` = `cisco` and `product` = `asa`/`ftd`. The messages that matter for
//! detection are then read by the shape of their text, one small parser per family:
//!
//! | ids | text | parts |
//! |---|---|---|
//! | 302013/15/17/303 | `Built {inbound,outbound} TCP connection N for if:ip/port (mapped/port) [(user)] to if:ip/port (mapped/port)` | direction, protocol, connection_id, src/dst interface, ip, port, mapped ip/port, user |
//! | 302014/16/18/304 | `Teardown TCP connection N for if:ip/port to if:ip/port duration D bytes B [reason] [(user)]` | the same, duration, bytes, reason |
//! | 302020/21 | `Built inbound ICMP connection for faddr ip/n gaddr ip/n laddr ip/n` | foreign, global, local ip |
//! | 106023, 106010/14 | `Deny [inbound] tcp src if:ip/port dst if:ip/port [(type t, code c)] [by access-group "acl"]` | direction, protocol, src/dst, icmp type/code, acl |
//! | 106100 | `access-list acl {permitted,denied,est-allowed} tcp if/ip(port) -> if/ip(port) hit-cnt N` | acl, protocol, src/dst, hit_count |
//! | 106001/06/07/15/21/22, 710002/03/05 | `... TCP ... from ip/port to [if:]ip/port [flags F] [on interface I]` | protocol, src/dst, tcp_flags, interface |
//! | 113004/05/15, ... | `AAA user authentication Rejected : reason = R : server = S : user = U : user IP = I` | each `k = v` |
//! | 605004/05 | `Login {permitted,denied} from ip/port to if:ip/service for user "U"` | src, dst, service, user |
//! | 611101/02 | `User authentication {succeeded,failed}: IP address: I, Uname: U` | src_ip, user |
//! | 111008/09/10 | `User 'U' executed ...` | user, command, src_ip |
//! | 113019 and other `Group = G, Username = U, IP = I, ...` | VPN sessions | group, user, src_ip, then `Key: value` pairs |
//! | 716001/02, 722051, other `Group <G> User <U> IP <I> ...` | AnyConnect/WebVPN sessions | group, user, src_ip, assigned_ip |
//! | FTD 430001-05 | `Key: value, Key: value, ...` | every key as-is |
//!
//! Direction: for `Built inbound` the first (`for`) endpoint is the source; for `Built
//! outbound` ASA lists the responder first, so the `to` endpoint is the source. Teardown
//! and ICMP teardown messages have no direction; their first endpoint is reported as the
//! source. A teardown whose reason mentions `Deny` is `deny`, any other connection event
//! `allow`.

use super::scan::{Cursor, is_digits, rsplit_once_byte, split_once_byte};
use super::sink::{Map, Norm, Sink};
use memchr::memmem;

/// Where `%ASA-`/`%FTD-` starts in the message: at its start, after spaces or `: `.
pub(crate) fn find(message: &str) -> Option<usize> {
    let start = message.len() - message.trim_start_matches([' ', ':']).len();
    let rest = &message.as_bytes()[start..];
    (rest.starts_with(b"%ASA-") || rest.starts_with(b"%FTD-") || rest.starts_with(b"%PIX-"))
        .then_some(start)
}

/// Parses a message that starts with `%ASA-`, `%FTD-` or `%PIX-`.
pub(crate) fn parse(text: &str, sink: &mut Sink<'_>) {
    let Some((mnemonic, body)) = split_once_byte(text, b':') else {
        return;
    };
    let body = body.trim_start_matches(' ');
    let mut segments = mnemonic[1..].split('-');
    let product = segments.next().unwrap_or_default();
    sink.vendor("cisco", if product == "FTD" { "ftd" } else { "asa" });
    let mut level = None;
    let mut last = None;
    for segment in segments {
        if level.is_none() && segment.len() == 1 && is_digits(segment) {
            level = Some(segment);
        }
        last = Some(segment);
    }
    if let Some(level) = level {
        sink.raw("asa_level", level);
    }
    let Some(id) = last.filter(|s| is_digits(s)) else {
        return;
    };
    sink.raw("asa_id", id);
    parse_message(id, body, sink);
}

/// Reads the message by its id, or by its shape. A handler stops at the first word that
/// is not what the message's format says, keeping what it reported until then.
fn parse_message(id: &str, body: &str, sink: &mut Sink<'_>) {
    match id {
        "302013" | "302015" | "302017" | "302303" => {
            built(body, sink);
        }
        "302014" | "302016" | "302018" | "302304" => {
            teardown(body, sink);
        }
        "302020" | "302021" => {
            icmp_connection(body, sink);
        }
        "106023" | "106010" | "106014" => {
            access_group(body, sink);
        }
        "106100" => {
            access_list(body, sink);
        }
        "106001" | "106006" | "106007" | "106015" | "106021" | "106022" | "710002" | "710003"
        | "710005" => {
            from_to(body, sink);
        }
        "605004" | "605005" => {
            login(body, sink);
        }
        "611101" | "611102" => user_authentication(body, sink),
        "111008" | "111009" | "111010" => command(body, sink),
        "430001" | "430002" | "430003" | "430004" | "430005" => ftd_event(body, sink),
        _ => by_shape(body, sink),
    }
}

/// Messages recognised by how their text starts rather than by id.
fn by_shape(body: &str, sink: &mut Sink<'_>) {
    if body.starts_with("AAA ") {
        aaa(body, sink);
    } else if body.starts_with("Group = ") {
        group_equals(body, sink);
    } else if body.starts_with("Group <") {
        angle_labels(body, sink);
    }
}

/// An endpoint as ASA writes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Endpoint<'a> {
    interface: Option<&'a str>,
    ip: &'a str,
    port: Option<&'a str>,
}

/// `[interface:]ip[/port]`: the interface is what precedes the first `:` unless the whole
/// address (before `/`) is an IP address on its own.
fn endpoint(text: &str) -> Endpoint<'_> {
    let (address, port) = match rsplit_once_byte(text, b'/') {
        Some((address, port)) => (address, Some(port)),
        None => (text, None),
    };
    if address.parse::<std::net::IpAddr>().is_ok() || !address.contains(':') {
        return Endpoint {
            interface: None,
            ip: address,
            port,
        };
    }
    let (interface, ip) = split_once_byte(address, b':').unwrap_or(("", address));
    Endpoint {
        interface: Some(interface).filter(|i| !i.is_empty()),
        ip,
        port,
    }
}

/// `interface/ip(port)` (106100).
fn slash_endpoint(text: &str) -> Endpoint<'_> {
    let (interface, rest) = split_once_byte(text, b'/').unwrap_or(("", text));
    let (ip, port) = match split_once_byte(rest, b'(') {
        Some((ip, port)) => (ip, port.split(')').next()),
        None => (rest, None),
    };
    Endpoint {
        interface: Some(interface).filter(|i| !i.is_empty()),
        ip,
        port,
    }
}

#[derive(Clone, Copy)]
enum Side {
    Src,
    Dst,
}

fn report_endpoint(side: Side, endpoint: &Endpoint<'_>, sink: &mut Sink<'_>) {
    let (interface, ip, port) = match side {
        Side::Src => ("src_interface", Norm::SrcIp, Norm::SrcPort),
        Side::Dst => ("dst_interface", Norm::DstIp, Norm::DstPort),
    };
    if let Some(name) = endpoint.interface {
        sink.raw(interface, name);
    }
    if !endpoint.ip.is_empty() {
        sink.part(ip, endpoint.ip);
    }
    match endpoint.port {
        Some(number) if is_digits(number) => sink.part(port, number),
        Some(service) if !service.is_empty() => sink.raw("service", service),
        _ => {}
    }
}

/// A mapped endpoint `(ip/port)` as `{side}_mapped_ip` and `{side}_mapped_port`.
fn report_mapped(side: Side, mapped: &str, sink: &mut Sink<'_>) {
    let (ip_name, port_name) = match side {
        Side::Src => ("src_mapped_ip", "src_mapped_port"),
        Side::Dst => ("dst_mapped_ip", "dst_mapped_port"),
    };
    let mapped = endpoint(mapped);
    sink.raw(ip_name, mapped.ip);
    if let Some(port) = mapped.port {
        sink.raw(port_name, port);
    }
}

/// The `(...)` groups after an endpoint: a mapped endpoint (has `/`) and a user.
fn groups<'a>(cursor: &mut Cursor<'a>) -> (Option<&'a str>, Option<&'a str>) {
    let mut mapped = None;
    let mut user = None;
    cursor.skip_spaces();
    while let Some(group) = cursor.parenthesised() {
        if mapped.is_none() && group.contains('/') && !group.contains('\\') {
            mapped = Some(group);
        } else if user.is_none() {
            user = Some(group);
        }
        cursor.skip_spaces();
    }
    (mapped, user)
}

/// A word followed directly by `(...)` groups, as in `outside:1.2.3.4/5(LOCAL\alice)`.
fn word_and_user<'a>(cursor: &mut Cursor<'a>) -> Option<(&'a str, Option<&'a str>)> {
    let word = cursor.word()?;
    Some(match split_once_byte(word, b'(') {
        Some((address, user)) => (address, user.strip_suffix(')')),
        None => (word, None),
    })
}

fn report_user(user: Option<&str>, sink: &mut Sink<'_>) {
    if let Some(user) = user {
        sink.part(Norm::User, user);
    }
}

/// 302013 and kin.
fn built(body: &str, sink: &mut Sink<'_>) -> Option<()> {
    let mut c = Cursor::new(body);
    c.eat("Built ").then_some(())?;
    let direction = c.word()?;
    let protocol = c.word()?;
    sink.raw("direction", direction);
    sink.part(Norm::Protocol, protocol);
    sink.norm(Norm::Action, "built");
    c.eat("connection ").then_some(())?;
    sink.raw("connection_id", c.word()?);
    c.eat("for ").then_some(())?;
    let (first, first_user) = word_and_user(&mut c)?;
    let (first_mapped, first_group_user) = groups(&mut c);
    c.eat("to ").then_some(())?;
    let (second, second_user) = word_and_user(&mut c)?;
    let (second_mapped, second_group_user) = groups(&mut c);
    let first = (
        endpoint(first),
        first_mapped,
        first_user.or(first_group_user),
    );
    let second = (
        endpoint(second),
        second_mapped,
        second_user.or(second_group_user),
    );
    let (src, dst) = if direction == "outbound" {
        (second, first)
    } else {
        (first, second)
    };
    report_connection(src, dst, sink);
    Some(())
}

type Side3<'a> = (Endpoint<'a>, Option<&'a str>, Option<&'a str>);

fn report_connection(src: Side3<'_>, dst: Side3<'_>, sink: &mut Sink<'_>) {
    report_endpoint(Side::Src, &src.0, sink);
    if let Some(mapped) = src.1 {
        report_mapped(Side::Src, mapped, sink);
    }
    report_endpoint(Side::Dst, &dst.0, sink);
    if let Some(mapped) = dst.1 {
        report_mapped(Side::Dst, mapped, sink);
    }
    report_user(src.2.or(dst.2), sink);
}

/// 302014 and kin.
fn teardown(body: &str, sink: &mut Sink<'_>) -> Option<()> {
    let mut c = Cursor::new(body);
    c.eat("Teardown ").then_some(())?;
    sink.part(Norm::Protocol, c.word()?);
    c.eat("connection ").then_some(())?;
    sink.raw("connection_id", c.word()?);
    c.eat("for ").then_some(())?;
    let (first, first_user) = word_and_user(&mut c)?;
    c.eat("to ").then_some(())?;
    let (second, second_user) = word_and_user(&mut c)?;
    let mut user = first_user.or(second_user);
    if c.eat("duration ") {
        sink.raw("duration", c.word()?);
    }
    if c.eat("bytes ") {
        sink.raw("bytes", c.word()?);
    }
    let mut reason = c.rest().trim();
    if reason.ends_with(')')
        && let Some(open) = reason.rfind('(')
    {
        user = user.or(Some(&reason[open + 1..reason.len() - 1]));
        reason = reason[..open].trim_end();
    }
    if !reason.is_empty() {
        sink.raw("reason", reason);
    }
    let denied = memmem::find(reason.as_bytes(), b"Deny").is_some();
    sink.norm(Norm::Action, if denied { "deny" } else { "allow" });
    report_connection(
        (endpoint(first), None, user),
        (endpoint(second), None, None),
        sink,
    );
    Some(())
}

/// 302020/302021: `faddr`, `gaddr`, `laddr`.
fn icmp_connection(body: &str, sink: &mut Sink<'_>) -> Option<()> {
    let mut c = Cursor::new(body);
    let built = c.eat("Built ");
    let direction = if built {
        let direction = c.word()?;
        sink.raw("direction", direction);
        Some(direction)
    } else {
        c.eat("Teardown ").then_some(())?;
        None
    };
    sink.part(Norm::Protocol, c.word()?);
    sink.norm(Norm::Action, "allow");
    c.until("faddr ")?;
    let (foreign, user) = word_and_user(&mut c)?;
    c.eat("gaddr ").then_some(())?;
    let (global, _) = word_and_user(&mut c)?;
    c.eat("laddr ").then_some(())?;
    let (local, local_user) = word_and_user(&mut c)?;
    let foreign = endpoint(foreign);
    let local = endpoint(local);
    sink.raw("foreign_ip", foreign.ip);
    sink.raw("global_ip", endpoint(global).ip);
    sink.raw("local_ip", local.ip);
    let (src, dst) = if direction == Some("outbound") {
        (local, foreign)
    } else {
        (foreign, local)
    };
    sink.part(Norm::SrcIp, src.ip);
    sink.part(Norm::DstIp, dst.ip);
    report_user(user.or(local_user), sink);
    Some(())
}

/// 106023: `Deny tcp src if:ip/port dst if:ip/port ... by access-group "acl"`, and 106010,
/// 106014: `Deny inbound icmp src if:ip dst if:ip (type 8, code 0)`.
fn access_group(body: &str, sink: &mut Sink<'_>) -> Option<()> {
    let mut c = Cursor::new(body);
    let verdict = c.word()?;
    sink.norm(Norm::Action, verdict);
    let mut protocol = c.word()?;
    if protocol == "inbound" || protocol == "outbound" {
        sink.raw("direction", protocol);
        protocol = c.word()?;
    }
    if protocol == "protocol" {
        protocol = c.word()?;
    }
    sink.part(Norm::Protocol, protocol);
    c.eat("src ").then_some(())?;
    let (src, src_user) = word_and_user(&mut c)?;
    c.eat("dst ").then_some(())?;
    let (dst, dst_user) = word_and_user(&mut c)?;
    report_connection(
        (endpoint(src), None, src_user),
        (endpoint(dst), None, dst_user),
        sink,
    );
    if let Some(group) = c.parenthesised() {
        icmp_type_code(group, sink);
        c.skip_spaces();
    }
    if c.until("access-group \"").is_some()
        && let Some(acl) = c.until("\"")
    {
        sink.raw("acl", acl);
    }
    Some(())
}

/// `type 8, code 0`.
fn icmp_type_code(group: &str, sink: &mut Sink<'_>) {
    for part in group.split(", ") {
        if let Some(value) = part.strip_prefix("type ") {
            sink.raw("icmp_type", value);
        } else if let Some(value) = part.strip_prefix("code ") {
            sink.raw("icmp_code", value);
        }
    }
}

/// 106100: `access-list acl denied tcp if/ip(port) -> if/ip(port) hit-cnt 1 ...`.
fn access_list(body: &str, sink: &mut Sink<'_>) -> Option<()> {
    let mut c = Cursor::new(body);
    c.eat("access-list ").then_some(())?;
    sink.raw("acl", c.word()?);
    let verdict = c.word()?;
    sink.raw("verdict", verdict);
    sink.norm(Norm::Action, verdict);
    sink.part(Norm::Protocol, c.word()?);
    let src = c.word()?;
    c.eat("-> ").then_some(())?;
    let dst = c.word()?;
    let (src, dst) = (slash_endpoint(src), slash_endpoint(dst));
    report_connection((src, None, None), (dst, None, None), sink);
    if c.eat("hit-cnt ") {
        sink.raw("hit_count", c.word()?);
    }
    Some(())
}

/// `... from ip/port to [if:]ip/port [flags ...] [on interface if]`.
fn from_to(body: &str, sink: &mut Sink<'_>) -> Option<()> {
    let (before, after) = body.split_once(" from ")?;
    let one_of = |list: &[&str], word: &str| list.iter().any(|w| w.eq_ignore_ascii_case(word));
    const VERDICTS: [&str; 4] = ["deny", "denied", "permitted", "permit"];
    const PROTOCOLS: [&str; 6] = ["tcp", "udp", "icmp", "icmpv6", "gre", "esp"];
    if let Some(verdict) = before.split(' ').find(|w| one_of(&VERDICTS, w)) {
        sink.norm(Norm::Action, verdict);
    }
    let protocol = before.split(' ').find(|w| one_of(&PROTOCOLS, w));
    if let Some(protocol) = protocol {
        sink.part(Norm::Protocol, protocol);
    }
    let mut c = Cursor::new(after);
    let (src, src_user) = word_and_user(&mut c)?;
    let src = endpoint(src.trim_end_matches(','));
    c.eat("to ").then_some(())?;
    let (dst, dst_user) = word_and_user(&mut c)?;
    let dst = endpoint(dst.trim_end_matches(','));
    report_connection((src, None, src_user), (dst, None, dst_user), sink);
    let rest = c.rest();
    if let Some(flags) = rest.strip_prefix("flags ") {
        let flags = flags.split(" on interface").next().unwrap_or(flags).trim();
        sink.raw("tcp_flags", flags);
    }
    if let Some(at) = memmem::find(rest.as_bytes(), b"on interface ") {
        let interface = rest[at + 13..].split(' ').next().unwrap_or_default();
        sink.raw("interface", interface);
    }
    Some(())
}

/// `AAA user authentication Rejected : reason = AAA failure : server = 10.0.0.2 : user = x`.
fn aaa(body: &str, sink: &mut Sink<'_>) {
    let mut segments = body.split(" : ");
    let headline = segments.next().unwrap_or_default();
    let outcome = headline.rsplit(' ').next().unwrap_or_default();
    match outcome {
        "Successful" => sink.norm(Norm::Action, "allow"),
        "Rejected" | "failed" => sink.norm(Norm::Action, "deny"),
        _ => {}
    }
    for segment in segments {
        if let Some((key, value)) = segment.split_once(" = ") {
            let value = value.trim();
            match key.trim() {
                "user" => sink.part(Norm::User, value),
                "user IP" => {
                    sink.raw("user_ip", value);
                    sink.norm(Norm::SrcIp, value);
                }
                key => sink.raw_snake(key, value),
            }
        }
    }
}

/// `Login permitted from 203.0.113.5/51234 to inside:10.0.0.1/ssh for user "admin"`.
fn login(body: &str, sink: &mut Sink<'_>) -> Option<()> {
    let mut c = Cursor::new(body);
    c.eat("Login ").then_some(())?;
    sink.norm(Norm::Action, c.word()?);
    c.eat("from ").then_some(())?;
    let src = endpoint(c.word()?);
    c.eat("to ").then_some(())?;
    let dst = endpoint(c.word()?);
    report_connection((src, None, None), (dst, None, None), sink);
    if c.until("for user \"").is_some()
        && let Some(user) = c.until("\"")
    {
        sink.part(Norm::User, user);
    }
    Some(())
}

/// `User authentication succeeded: IP address: 10.0.0.5, Uname: admin`.
fn user_authentication(body: &str, sink: &mut Sink<'_>) {
    if body.contains("succeeded") {
        sink.norm(Norm::Action, "allow");
    } else if body.contains("failed") {
        sink.norm(Norm::Action, "deny");
    }
    let mut c = Cursor::new(body);
    if c.until("IP address: ").is_some() {
        let ip = c.rest().split([',', ' ']).next().unwrap_or_default();
        sink.part(Norm::SrcIp, ip);
    }
    if c.until("Uname: ").is_some() {
        sink.part(Norm::User, c.rest().trim());
    }
}

/// `User 'enable_15' executed the 'configure terminal' command.` and kin.
fn command(body: &str, sink: &mut Sink<'_>) {
    let mut c = Cursor::new(body);
    if c.eat("User '")
        && let Some(user) = c.until("'")
    {
        sink.part(Norm::User, user);
    }
    if c.until("from IP ").is_some() {
        let ip = c.rest().split([',', ' ']).next().unwrap_or_default();
        sink.part(Norm::SrcIp, ip);
    }
    let rest = c.rest();
    let after =
        |marker: &[u8]| memmem::find(rest.as_bytes(), marker).map(|at| &rest[at + marker.len()..]);
    let command = after(b"executed the '")
        .and_then(before_last_quote)
        .or_else(|| after(b"executed '").and_then(before_last_quote))
        .or_else(|| after(b"executed cmd: "));
    if let Some(command) = command {
        sink.raw("command", command);
    }
}

/// The text before the last `'`.
fn before_last_quote(text: &str) -> Option<&str> {
    text.rsplit_once('\'').map(|(inside, _)| inside)
}

/// `Group = VPN, Username = alice, IP = 203.0.113.5, Session disconnected. Session Type:
/// SSL, Duration: 1h:00m:00s, Reason: User Requested`.
fn group_equals(body: &str, sink: &mut Sink<'_>) {
    let mut rest = body;
    while let Some((key, after)) = rest.split_once(" = ") {
        if key.contains(',') || key.len() > 32 {
            break;
        }
        let (value, next) = after.split_once(", ").unwrap_or((after, ""));
        vpn_label(key, value, sink);
        rest = next;
    }
    let rest = rest.split_once(". ").map_or("", |(_, pairs)| pairs);
    for pair in rest.split(", ") {
        if let Some((key, value)) = pair.split_once(": ") {
            sink.raw_snake(key, value.trim_end_matches('.'));
        }
    }
}

/// `Group <GroupPolicy> User <alice> IP <203.0.113.5> IPv4 Address <10.10.10.5> ...`.
fn angle_labels(body: &str, sink: &mut Sink<'_>) {
    let mut rest = body;
    while let Some((label, after)) = rest.split_once(" <") {
        let Some((value, next)) = after.split_once('>') else {
            break;
        };
        vpn_label(label.trim(), value, sink);
        rest = next;
    }
}

/// A labelled VPN value: `Group`, `User`/`Username`, `IP`, `IPv4 Address`, or any other
/// label in snake case.
fn vpn_label(label: &str, value: &str, sink: &mut Sink<'_>) {
    match label {
        "Group" => sink.raw("group", value),
        "User" | "Username" => sink.part(Norm::User, value),
        "IP" => sink.part(Norm::SrcIp, value),
        "IPv4 Address" => sink.raw("assigned_ip", value),
        "IPv6 address" | "IPv6 Address" => sink.raw("assigned_ipv6", value),
        label => sink.raw_snake(label, value),
    }
}

/// What FTD connection and intrusion event keys mean.
fn ftd_meaning(key: &str) -> Option<Map> {
    Some(match key {
        "SrcIP" => Map::To(Norm::SrcIp),
        "DstIP" => Map::To(Norm::DstIp),
        "SrcPort" => Map::To(Norm::SrcPort),
        "DstPort" => Map::To(Norm::DstPort),
        "Protocol" => Map::To(Norm::Protocol),
        "AccessControlRuleAction" => Map::To(Norm::Action),
        "User" => Map::To(Norm::User),
        _ => return None,
    })
}

/// FTD 430001-430005: `Key: value, Key: value, ...`; a `, ` followed by something that is
/// not `Key: ` belongs to the value.
fn ftd_event(body: &str, sink: &mut Sink<'_>) {
    let bytes = body.as_bytes();
    let mut start = 0;
    while start < body.len() {
        let Some(colon) = memmem::find(&bytes[start..], b": ").map(|i| start + i) else {
            break;
        };
        let key = &body[start..colon];
        let value_start = colon + 2;
        let mut search = value_start;
        let value_end = loop {
            match memmem::find(&bytes[search..], b", ").map(|i| search + i) {
                Some(comma) if starts_with_key(&body[comma + 2..]) => break comma,
                Some(comma) => search = comma + 2,
                None => break body.len(),
            }
        };
        let value = &body[value_start..value_end];
        if is_ftd_key(key) {
            let map = ftd_meaning(key);
            if map == Some(Map::To(Norm::User)) && value.starts_with("No Authentication") {
                sink.raw(key, value);
            } else {
                sink.pair(key, value, map);
            }
        }
        start = (value_end + 2).min(body.len());
    }
}

fn is_ftd_key(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn starts_with_key(text: &str) -> bool {
    let len = text
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    len > 0 && text[len..].starts_with(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mnemonics() {
        assert_eq!(find("%ASA-6-302013: x"), Some(0));
        assert_eq!(find(": %FTD-1-430003: x"), Some(2));
        assert_eq!(find("x %ASA-6-302013"), None);
    }

    #[test]
    fn endpoints() {
        let e = endpoint("outside:203.0.113.5/51234");
        assert_eq!(
            (e.interface, e.ip, e.port),
            (Some("outside"), "203.0.113.5", Some("51234"))
        );
        let e = endpoint("203.0.113.5/51234");
        assert_eq!(
            (e.interface, e.ip, e.port),
            (None, "203.0.113.5", Some("51234"))
        );
        let e = endpoint("inside:2001:db8::1/443");
        assert_eq!(
            (e.interface, e.ip, e.port),
            (Some("inside"), "2001:db8::1", Some("443"))
        );
        let e = endpoint("2001:db8::1/443");
        assert_eq!((e.interface, e.ip), (None, "2001:db8::1"));
        let e = slash_endpoint("outside/203.0.113.5(51234)");
        assert_eq!(
            (e.interface, e.ip, e.port),
            (Some("outside"), "203.0.113.5", Some("51234"))
        );
    }
}
