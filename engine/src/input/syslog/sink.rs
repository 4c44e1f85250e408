//! Where parsed fields go: every raw key under its own name, and alongside it the fields
//! all vendors share, under one set of names (the Sigma firewall taxonomy).
//!
//! Each vendor's module says in one table what its raw keys mean (`Map`); the sink turns a
//! raw value into the shared one (`deny`, `tcp`, ...) and reports each shared field at most
//! once per line, the first that has a usable value winning. `-`, `N/A` and empty values
//! are never used for a shared field.
//!
//! When a raw key already has a shared field's name (`action`, `protocol`), the shared value
//! is reported too unless it is the same text: a FortiGate `action="close"` gives
//! `action` = `close` and `action` = `allow`; `action="deny"` gives `action` = `deny` once.
//!
//! Scratch buffers (for decoded values and built names) come from a per-thread cache and
//! go back to it when the sink is dropped, so a warm parser allocates nothing.

use std::cell::Cell;

/// A field every vendor shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Norm {
    SrcIp,
    SrcPort,
    DstIp,
    DstPort,
    Action,
    Protocol,
    User,
    Vendor,
    Product,
    Device,
}

impl Norm {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Norm::SrcIp => "src_ip",
            Norm::SrcPort => "src_port",
            Norm::DstIp => "dst_ip",
            Norm::DstPort => "dst_port",
            Norm::Action => "action",
            Norm::Protocol => "protocol",
            Norm::User => "user",
            Norm::Vendor => "vendor",
            Norm::Product => "product",
            Norm::Device => "device",
        }
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// What a vendor's raw key means: the entries of each vendor's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Map {
    /// The value is (after normalising) this shared field.
    To(Norm),
    /// `ip[:port[:interface]]` (SonicWall `src`): `src_ip` and `src_port`.
    SrcEndpoint,
    /// The same for `dst_ip` and `dst_port`.
    DstEndpoint,
    /// The event's date (`yyyy-mm-dd`), time (`hh:mm:ss`), zone (`+0900`), when apart.
    Date,
    Time,
    Zone,
    /// The event time in one value (any shape `time::any` reads).
    DateTime,
}

#[derive(Default)]
struct Scratch {
    value: String,
    name: String,
    lower: String,
}

thread_local! {
    static SCRATCH: Cell<Scratch> = Cell::new(Scratch::default());
}

/// The caller's field callback, with the scratch buffers and what has been reported.
pub(crate) struct Sink<'f> {
    field: &'f mut dyn FnMut(&str, &str),
    reported: u16,
    scratch: Scratch,
}

impl Drop for Sink<'_> {
    fn drop(&mut self) {
        let scratch = std::mem::take(&mut self.scratch);
        SCRATCH.with(|cell| cell.set(scratch));
    }
}

impl<'f> Sink<'f> {
    pub(crate) fn new(field: &'f mut dyn FnMut(&str, &str)) -> Sink<'f> {
        Sink {
            field,
            reported: 0,
            scratch: SCRATCH.with(Cell::take),
        }
    }

    /// Reports a field as it is.
    pub(crate) fn raw(&mut self, name: &str, value: &str) {
        (self.field)(name, value);
    }

    /// Reports a field named `prefix` `separator` `suffix` (`origin.ip`).
    pub(crate) fn raw_joined(&mut self, prefix: &str, separator: char, suffix: &str, value: &str) {
        let mut name = std::mem::take(&mut self.scratch.name);
        name.clear();
        name.push_str(prefix);
        name.push(separator);
        name.push_str(suffix);
        (self.field)(&name, value);
        self.scratch.name = name;
    }

    /// Reports a field whose name is `label` in lower case with `_` for spaces and dashes
    /// (Cisco's `user IP` becomes `user_ip`); nothing if the label is blank.
    pub(crate) fn raw_snake(&mut self, label: &str, value: &str) {
        let mut name = std::mem::take(&mut self.scratch.name);
        name.clear();
        name.extend(label.trim().chars().map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        }));
        if !name.is_empty() {
            (self.field)(&name, value);
        }
        self.scratch.name = name;
    }

    /// Decodes `raw` with `decode` into the value buffer and hands the result to `then`.
    pub(crate) fn decoded(
        &mut self,
        raw: &str,
        decode: fn(&str, &mut String),
        then: impl FnOnce(&mut Self, &str),
    ) {
        let mut value = std::mem::take(&mut self.scratch.value);
        value.clear();
        decode(raw, &mut value);
        then(self, &value);
        self.scratch.value = value;
    }

    /// Reports a raw key and what its vendor's table says it means.
    pub(crate) fn pair(&mut self, key: &str, value: &str, map: Option<Map>) {
        match map {
            Some(Map::To(norm)) if norm.name() == key => {
                self.raw(key, value);
                self.normalised(norm, value, true);
            }
            Some(Map::To(norm)) => {
                self.raw(key, value);
                self.normalised(norm, value, false);
            }
            Some(Map::SrcEndpoint) => {
                self.raw(key, value);
                self.endpoint(Norm::SrcIp, Norm::SrcPort, value);
            }
            Some(Map::DstEndpoint) => {
                self.raw(key, value);
                self.endpoint(Norm::DstIp, Norm::DstPort, value);
            }
            _ => self.raw(key, value),
        }
    }

    /// Reports a shared field (once per line; `action` and `protocol` normalised).
    pub(crate) fn norm(&mut self, norm: Norm, value: &str) {
        self.normalised(norm, value, false);
    }

    /// Reports a parsed part whose name is a shared field's (Cisco's `src_ip`): once, as
    /// the shared field, unless another key already gave it, in which case it is reported
    /// raw.
    pub(crate) fn part(&mut self, norm: Norm, value: &str) {
        if self.has(norm) {
            self.raw(norm.name(), value);
        } else {
            self.normalised(norm, value, false);
        }
    }

    /// `vendor` and `product`.
    pub(crate) fn vendor(&mut self, vendor: &str, product: &str) {
        self.norm(Norm::Vendor, vendor);
        self.norm(Norm::Product, product);
    }

    /// The syslog host as `device`, unless the payload named the device.
    pub(crate) fn device_fallback(&mut self, host: Option<&str>) {
        if let Some(host) = host {
            self.norm(Norm::Device, host);
        }
    }

    pub(crate) fn has(&self, norm: Norm) -> bool {
        self.reported & norm.bit() != 0
    }

    fn mark(&mut self, norm: Norm) {
        self.reported |= norm.bit();
    }

    /// Reports `norm` from a raw value; with `skip_same`, a shared value equal to the raw
    /// one (already reported under the same name) is only marked.
    fn normalised(&mut self, norm: Norm, value: &str, skip_same: bool) {
        if self.has(norm) || is_nil(value) {
            return;
        }
        let shared = match norm {
            Norm::Action => match action(value) {
                Some(action) => action,
                None => return,
            },
            Norm::Protocol => match protocol(value) {
                Some(name) => name,
                None => {
                    let mut lower = std::mem::take(&mut self.scratch.lower);
                    lower.clear();
                    lower.push_str(protocol_name(value));
                    lower.make_ascii_lowercase();
                    self.report_shared(norm, value, &lower, skip_same);
                    self.scratch.lower = lower;
                    return;
                }
            },
            _ => value,
        };
        self.report_shared(norm, value, shared, skip_same);
    }

    fn report_shared(&mut self, norm: Norm, raw: &str, shared: &str, skip_same: bool) {
        if !(skip_same && raw == shared) {
            (self.field)(norm.name(), shared);
        }
        self.mark(norm);
    }

    fn endpoint(&mut self, ip: Norm, port: Norm, value: &str) {
        let (address, number) = split_endpoint(value);
        self.norm(ip, address);
        if let Some(number) = number {
            self.norm(port, number);
        }
    }

    /// Reports a lower-cased value as `norm` (CEF's device vendor as `vendor`).
    pub(crate) fn norm_lowercase(&mut self, norm: Norm, value: &str) {
        let mut lower = std::mem::take(&mut self.scratch.lower);
        lower.clear();
        lower.push_str(value.trim());
        lower.make_ascii_lowercase();
        self.norm(norm, &lower);
        self.scratch.lower = lower;
    }
}

/// Values that say "none".
pub(crate) fn is_nil(value: &str) -> bool {
    value.is_empty() || value == "-" || value.eq_ignore_ascii_case("n/a")
}

/// An action word as `allow` or `deny`, any case; `None` when it says neither (`alert`,
/// `login`, `monitor`).
pub(crate) fn action(value: &str) -> Option<&'static str> {
    let mut buffer = [0u8; 24];
    let value = value.trim().as_bytes();
    let lower = buffer.get_mut(..value.len())?;
    lower.copy_from_slice(value);
    lower.make_ascii_lowercase();
    Some(match &*lower {
        b"deny" | b"denied" | b"drop" | b"dropped" | b"drop-icmp" | b"drop-all-packets"
        | b"block" | b"blocked" | b"block-url" | b"block-ip" | b"block with reset" | b"reject"
        | b"rejected" | b"reset" | b"reset-client" | b"reset-server" | b"reset-both"
        | b"discard" | b"discarded" | b"sinkhole" => "deny",
        b"allow" | b"allowed" | b"accept" | b"accepted" | b"pass" | b"passed" | b"permit"
        | b"permitted" | b"est-allowed" | b"built" | b"close" | b"closed" | b"trust"
        | b"forward" | b"timeout" | b"server-rst" | b"client-rst" | b"passthrough" => "allow",
        _ => return None,
    })
}

/// A protocol number or a well-known name, any case, as its lower-case name; `None` for
/// other names (lower-cased by the caller). Numbers without a name stay numbers.
fn protocol(value: &str) -> Option<&'static str> {
    let name = protocol_name(value);
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return Some(match name {
            "1" => "icmp",
            "2" => "igmp",
            "6" => "tcp",
            "17" => "udp",
            "41" => "ipv6",
            "47" => "gre",
            "50" => "esp",
            "51" => "ah",
            "58" => "ipv6-icmp",
            "89" => "ospf",
            "112" => "vrrp",
            "132" => "sctp",
            _ => return None,
        });
    }
    const NAMES: &[(&str, &str)] = &[
        ("tcp", "tcp"),
        ("udp", "udp"),
        ("icmp", "icmp"),
        ("icmpv6", "ipv6-icmp"),
        ("icmp6", "ipv6-icmp"),
        ("ipv6-icmp", "ipv6-icmp"),
        ("igmp", "igmp"),
        ("gre", "gre"),
        ("esp", "esp"),
        ("ah", "ah"),
        ("sctp", "sctp"),
    ];
    NAMES
        .iter()
        .find(|(raw, _)| raw.eq_ignore_ascii_case(name))
        .map(|&(_, shared)| shared)
}

/// The protocol part of a value: SonicWall writes `tcp/3389`.
fn protocol_name(value: &str) -> &str {
    let value = value.trim();
    value.split_once('/').map_or(value, |(name, _)| name)
}

/// An `ip[:port[:interface]]` value (SonicWall) as address and port. IPv6 addresses are
/// recognised only whole (`2001:db8::1`) or with a port and interface whose removal leaves
/// a valid address.
pub(crate) fn split_endpoint(value: &str) -> (&str, Option<&str>) {
    let colons = value.bytes().filter(|&b| b == b':').count();
    if colons <= 2 {
        let mut parts = value.splitn(3, ':');
        let address = parts.next().unwrap_or_default();
        let port = parts
            .next()
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        return (address, port);
    }
    if value.parse::<std::net::Ipv6Addr>().is_ok() {
        return (value, None);
    }
    let without_interface = match value.rsplit_once(':') {
        Some((rest, interface)) if !interface.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => value,
    };
    if let Some((address, port)) = without_interface.rsplit_once(':')
        && port.bytes().all(|b| b.is_ascii_digit())
        && address.parse::<std::net::Ipv6Addr>().is_ok()
    {
        return (address, Some(port).filter(|p| !p.is_empty()));
    }
    (without_interface, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(run: impl FnOnce(&mut Sink<'_>)) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut field = |n: &str, v: &str| out.push((n.to_string(), v.to_string()));
        run(&mut Sink::new(&mut field));
        out
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn actions_and_protocols() {
        assert_eq!(action("DENY"), Some("deny"));
        assert_eq!(action("reset-both"), Some("deny"));
        assert_eq!(action("Built"), Some("allow"));
        assert_eq!(action("close"), Some("allow"));
        assert_eq!(action("alert"), None);
        assert_eq!(action("a very long action text that fits nowhere"), None);
        assert_eq!(protocol("6"), Some("tcp"));
        assert_eq!(protocol("TCP"), Some("tcp"));
        assert_eq!(protocol("tcp/3389"), Some("tcp"));
        assert_eq!(protocol("ICMPv6"), Some("ipv6-icmp"));
        assert_eq!(protocol("250"), None);
    }

    #[test]
    fn shared_fields_once_and_not_twice_under_the_same_name() {
        let out = collect(|s| {
            s.pair("action", "deny", Some(Map::To(Norm::Action)));
            s.pair("proto", "17", Some(Map::To(Norm::Protocol)));
            s.pair("srcip", "10.0.0.1", Some(Map::To(Norm::SrcIp)));
            s.pair("src", "10.0.0.2", Some(Map::To(Norm::SrcIp)));
            s.pair("user", "N/A", Some(Map::To(Norm::User)));
            s.pair("PROTOCOL", "Foo", Some(Map::To(Norm::Protocol)));
        });
        assert_eq!(
            out,
            pairs(&[
                ("action", "deny"),
                ("proto", "17"),
                ("protocol", "udp"),
                ("srcip", "10.0.0.1"),
                ("src_ip", "10.0.0.1"),
                ("src", "10.0.0.2"),
                ("user", "N/A"),
                ("PROTOCOL", "Foo"),
            ])
        );
        let out = collect(|s| {
            s.pair("action", "close", Some(Map::To(Norm::Action)));
            s.pair("proto", "250", Some(Map::To(Norm::Protocol)));
            s.pair("service", "X", Some(Map::To(Norm::Protocol)));
        });
        assert_eq!(
            out,
            pairs(&[
                ("action", "close"),
                ("action", "allow"),
                ("proto", "250"),
                ("protocol", "250"),
                ("service", "X"),
            ])
        );
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            split_endpoint("10.0.0.5:51234:X1"),
            ("10.0.0.5", Some("51234"))
        );
        assert_eq!(split_endpoint("10.0.0.5"), ("10.0.0.5", None));
        assert_eq!(split_endpoint("10.0.0.5::X1"), ("10.0.0.5", None));
        assert_eq!(split_endpoint("2001:db8::1"), ("2001:db8::1", None));
        assert_eq!(
            split_endpoint("2001:db8::1:443:X1"),
            ("2001:db8::1", Some("443"))
        );
    }

    #[test]
    fn names_built_in_scratch() {
        let out = collect(|s| {
            s.raw_joined("origin", '.', "ip", "1.2.3.4");
            s.raw_snake("user IP", "5.6.7.8");
            s.decoded(
                "a\\b",
                |raw, out| out.push_str(&raw.replace('\\', "")),
                |s, v| s.raw("x", v),
            );
        });
        assert_eq!(
            out,
            pairs(&[
                ("origin.ip", "1.2.3.4"),
                ("user_ip", "5.6.7.8"),
                ("x", "ab")
            ])
        );
    }
}
