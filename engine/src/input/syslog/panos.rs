//! Palo Alto Networks PAN-OS logs in their default CSV syslog format:
//! `1,2024/01/02 12:00:00,012801000001,TRAFFIC,end,2560,2024/01/02 12:00:00,src,dst,...`.
//!
//! Columns are named after the PAN-OS syslog field names (the `$name` variables of PAN-OS
//! custom log formats, in the order of the PAN-OS 10.x/11.x "Syslog Field Descriptions"):
//! one list for TRAFFIC, THREAT, SYSTEM, CONFIG and GLOBALPROTECT; other types (USERID,
//! HIPMATCH, ...) get the seven columns every type shares. `FUTURE_USE` columns and
//! columns past the end of a list are not reported. Fields may be quoted (`"a,b"`, with
//! `""` for a quote).
//!
//! The event time is `high_res_timestamp` (with its zone) when present, else
//! `time_generated`, else `receive_time`, both local time without a zone (the context's
//! zone applies). `device` is `device_name`, else the syslog host, else `serial`.

use super::SyslogContext;
use super::header::Header;
use super::scan::find_any;
use super::sink::{Map, Norm, Sink};
use super::time;
use jiff::Timestamp;
use memchr::memchr;

/// Whether the message is PAN-OS CSV: `[digits],yyyy/mm/dd hh:mm:ss,`.
pub(crate) fn is_csv(message: &str) -> bool {
    let b = message.as_bytes();
    let digits = b.iter().take(4).take_while(|c| c.is_ascii_digit()).count();
    let date = digits + 1;
    b.get(digits) == Some(&b',')
        && b.get(date..date + 4)
            .is_some_and(|y| y.iter().all(u8::is_ascii_digit))
        && b.get(date + 4) == Some(&b'/')
        && b.get(date + 7) == Some(&b'/')
        && b.get(date + 10) == Some(&b' ')
}

/// `""` stands for a `FUTURE_USE` column.
const COMMON: [&str; 7] = [
    "",
    "receive_time",
    "serial",
    "type",
    "subtype",
    "",
    "time_generated",
];

const TRAFFIC: &[&str] = &[
    "",
    "receive_time",
    "serial",
    "type",
    "subtype",
    "",
    "time_generated",
    "src",
    "dst",
    "natsrc",
    "natdst",
    "rule",
    "srcuser",
    "dstuser",
    "app",
    "vsys",
    "from",
    "to",
    "inbound_if",
    "outbound_if",
    "logset",
    "",
    "sessionid",
    "repeatcnt",
    "sport",
    "dport",
    "natsport",
    "natdport",
    "flags",
    "proto",
    "action",
    "bytes",
    "bytes_sent",
    "bytes_received",
    "packets",
    "start",
    "elapsed",
    "category",
    "",
    "seqno",
    "actionflags",
    "srcloc",
    "dstloc",
    "",
    "pkts_sent",
    "pkts_received",
    "session_end_reason",
    "dg_hier_level_1",
    "dg_hier_level_2",
    "dg_hier_level_3",
    "dg_hier_level_4",
    "vsys_name",
    "device_name",
    "action_source",
    "src_uuid",
    "dst_uuid",
    "tunnelid",
    "monitortag",
    "parent_session_id",
    "parent_start_time",
    "tunnel",
    "assoc_id",
    "chunks",
    "chunks_sent",
    "chunks_received",
    "rule_uuid",
    "http2_connection",
    "link_change_count",
    "policy_id",
    "link_switches",
    "sdwan_cluster",
    "sdwan_device_type",
    "sdwan_cluster_type",
    "sdwan_site",
    "dynusergroup_name",
    "xff_ip",
    "src_category",
    "src_profile",
    "src_model",
    "src_vendor",
    "src_osfamily",
    "src_osversion",
    "src_host",
    "src_mac",
    "dst_category",
    "dst_profile",
    "dst_model",
    "dst_vendor",
    "dst_osfamily",
    "dst_osversion",
    "dst_host",
    "dst_mac",
    "container_id",
    "pod_namespace",
    "pod_name",
    "src_edl",
    "dst_edl",
    "hostid",
    "serialnumber",
    "src_dag",
    "dst_dag",
    "session_owner",
    "high_res_timestamp",
];

const THREAT: &[&str] = &[
    "",
    "receive_time",
    "serial",
    "type",
    "subtype",
    "",
    "time_generated",
    "src",
    "dst",
    "natsrc",
    "natdst",
    "rule",
    "srcuser",
    "dstuser",
    "app",
    "vsys",
    "from",
    "to",
    "inbound_if",
    "outbound_if",
    "logset",
    "",
    "sessionid",
    "repeatcnt",
    "sport",
    "dport",
    "natsport",
    "natdport",
    "flags",
    "proto",
    "action",
    "misc",
    "threatid",
    "category",
    "severity",
    "direction",
    "seqno",
    "actionflags",
    "srcloc",
    "dstloc",
    "",
    "contenttype",
    "pcap_id",
    "filedigest",
    "cloud",
    "url_idx",
    "user_agent",
    "filetype",
    "xff",
    "referer",
    "sender",
    "subject",
    "recipient",
    "reportid",
    "dg_hier_level_1",
    "dg_hier_level_2",
    "dg_hier_level_3",
    "dg_hier_level_4",
    "vsys_name",
    "device_name",
    "",
    "src_uuid",
    "dst_uuid",
    "http_method",
    "tunnel_id",
    "monitortag",
    "parent_session_id",
    "parent_start_time",
    "tunnel",
    "thr_category",
    "contentver",
    "",
    "assoc_id",
    "ppid",
    "http_headers",
    "url_category_list",
    "rule_uuid",
    "http2_connection",
    "dynusergroup_name",
    "xff_ip",
    "src_category",
    "src_profile",
    "src_model",
    "src_vendor",
    "src_osfamily",
    "src_osversion",
    "src_host",
    "src_mac",
    "dst_category",
    "dst_profile",
    "dst_model",
    "dst_vendor",
    "dst_osfamily",
    "dst_osversion",
    "dst_host",
    "dst_mac",
    "container_id",
    "pod_namespace",
    "pod_name",
    "src_edl",
    "dst_edl",
    "hostid",
    "serialnumber",
    "domain_edl",
    "src_dag",
    "dst_dag",
    "partial_hash",
    "high_res_timestamp",
];

const SYSTEM: &[&str] = &[
    "",
    "receive_time",
    "serial",
    "type",
    "subtype",
    "",
    "time_generated",
    "vsys",
    "eventid",
    "object",
    "",
    "",
    "module",
    "severity",
    "opaque",
    "seqno",
    "actionflags",
    "dg_hier_level_1",
    "dg_hier_level_2",
    "dg_hier_level_3",
    "dg_hier_level_4",
    "vsys_name",
    "device_name",
];

const CONFIG: &[&str] = &[
    "",
    "receive_time",
    "serial",
    "type",
    "subtype",
    "",
    "time_generated",
    "host",
    "vsys",
    "cmd",
    "admin",
    "client",
    "result",
    "path",
    "before_change_detail",
    "after_change_detail",
    "seqno",
    "actionflags",
    "dg_hier_level_1",
    "dg_hier_level_2",
    "dg_hier_level_3",
    "dg_hier_level_4",
    "vsys_name",
    "device_name",
];

/// GlobalProtect (PAN-OS 9.1 and later; 10.x/11.x add the last columns), in the order of
/// "GlobalProtect Log Fields".
const GLOBALPROTECT: &[&str] = &[
    "",
    "receive_time",
    "serial",
    "type",
    "subtype",
    "",
    "time_generated",
    "vsys",
    "eventid",
    "stage",
    "auth_method",
    "tunnel_type",
    "srcuser",
    "srcregion",
    "machinename",
    "public_ip",
    "public_ipv6",
    "private_ip",
    "private_ipv6",
    "hostid",
    "serialnumber",
    "client_ver",
    "client_os",
    "client_os_ver",
    "repeatcnt",
    "reason",
    "error",
    "opaque",
    "status",
    "location",
    "login_duration",
    "connect_method",
    "error_code",
    "portal",
    "seqno",
    "actionflags",
    "high_res_timestamp",
    "selection_type",
    "response_time",
    "priority",
    "attempted_gateways",
    "gateway",
    "dg_hier_level_1",
    "dg_hier_level_2",
    "dg_hier_level_3",
    "dg_hier_level_4",
    "vsys_name",
    "device_name",
    "vsys_id",
    "cluster_name",
];

/// What PAN-OS columns mean, for every log type.
fn meaning(key: &str) -> Option<Map> {
    Some(match key {
        "src" => Map::To(Norm::SrcIp),
        "dst" => Map::To(Norm::DstIp),
        "sport" => Map::To(Norm::SrcPort),
        "dport" => Map::To(Norm::DstPort),
        "proto" => Map::To(Norm::Protocol),
        "action" => Map::To(Norm::Action),
        "srcuser" | "admin" => Map::To(Norm::User),
        "public_ip" | "public_ipv6" => Map::To(Norm::SrcIp),
        "device_name" => Map::To(Norm::Device),
        "receive_time" | "time_generated" | "high_res_timestamp" => Map::DateTime,
        _ => return None,
    })
}

fn columns(log_type: &str) -> &'static [&'static str] {
    match log_type {
        "TRAFFIC" => TRAFFIC,
        "THREAT" => THREAT,
        "SYSTEM" => SYSTEM,
        "CONFIG" => CONFIG,
        "GLOBALPROTECT" => GLOBALPROTECT,
        _ => &COMMON,
    }
}

/// Parses PAN-OS CSV; returns its event time.
pub(crate) fn parse(
    message: &str,
    header: &Header<'_>,
    context: &SyslogContext,
    sink: &mut Sink<'_>,
) -> Option<Timestamp> {
    sink.vendor("paloalto", "pan-os");
    let mut names: &[&str] = &COMMON;
    let mut serial = None;
    let mut times: [Option<&str>; 3] = [None; 3];
    for (index, field) in Fields::new(message).enumerate() {
        if index == 3 {
            names = columns(field.text);
        }
        let Some(&name) = names.get(index) else {
            break;
        };
        if name.is_empty() {
            continue;
        }
        let map = meaning(name);
        if !field.quoted {
            match name {
                "serial" => serial = Some(field.text),
                "high_res_timestamp" => times[0] = Some(field.text),
                "time_generated" => times[1] = Some(field.text),
                "receive_time" => times[2] = Some(field.text),
                _ => {}
            }
        }
        if field.quoted && field.text.contains('"') {
            sink.decoded(field.text, unescape_csv, |sink, value| {
                sink.pair(name, value, map)
            });
        } else {
            sink.pair(name, field.text, map);
        }
    }
    if header.host.is_none()
        && let Some(serial) = serial
    {
        sink.norm(Norm::Device, serial);
    }
    times
        .iter()
        .flatten()
        .find_map(|text| time::any(text, context))
}

/// One CSV field: its text (inside the quotes, `""` not yet decoded) and whether it was
/// quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    pub text: &'a str,
    pub quoted: bool,
}

/// The fields of a CSV line, in order.
pub(crate) struct Fields<'a> {
    text: &'a str,
    pos: Option<usize>,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(text: &'a str) -> Fields<'a> {
        Fields { text, pos: Some(0) }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        let start = self.pos?;
        let bytes = self.text.as_bytes();
        if bytes.get(start) == Some(&b'"') {
            let close = closing_quote(bytes, start + 1);
            let text = &self.text[start + 1..close.min(bytes.len())];
            let after = (close + 1).min(bytes.len());
            let comma = find_any(bytes, after, b',', b',', b',');
            self.pos = (comma < bytes.len()).then_some(comma + 1);
            return Some(Field { text, quoted: true });
        }
        let end = find_any(bytes, start, b',', b',', b',');
        self.pos = (end < bytes.len()).then_some(end + 1);
        Some(Field {
            text: &self.text[start..end],
            quoted: false,
        })
    }
}

/// The index of the `"` that closes a quoted field from `from`, skipping `""`; the length
/// of the text when the quote is never closed.
fn closing_quote(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(at) = memchr(b'"', &bytes[i.min(bytes.len())..]) {
        let at = i + at;
        if bytes.get(at + 1) == Some(&b'"') {
            i = at + 2;
        } else {
            return at;
        }
    }
    bytes.len()
}

/// Decodes `""` to `"`.
fn unescape_csv(raw: &str, out: &mut String) {
    let mut rest = raw;
    while let Some(at) = rest.find("\"\"") {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_csv() {
        assert!(is_csv("1,2024/01/02 12:00:00,0123,TRAFFIC"));
        assert!(is_csv(",2024/01/02 12:00:00,0123,TRAFFIC"));
        assert!(!is_csv("1,2024-01-02 12:00:00,0123"));
        assert!(!is_csv("12345,2024/01/02 x"));
        assert!(!is_csv("1,2024/01/02"));
    }

    #[test]
    fn splits_fields_with_quotes() {
        let fields: Vec<_> = Fields::new("a,\"b,c\",\"say \"\"hi\"\"\",,\"open").collect();
        let texts: Vec<_> = fields.iter().map(|f| (f.text, f.quoted)).collect();
        assert_eq!(
            texts,
            vec![
                ("a", false),
                ("b,c", true),
                ("say \"\"hi\"\"", true),
                ("", false),
                ("open", true)
            ]
        );
        let mut out = String::new();
        unescape_csv("say \"\"hi\"\"", &mut out);
        assert_eq!(out, "say \"hi\"");
        assert_eq!(Fields::new("").count(), 1);
        assert_eq!(Fields::new("a,").count(), 2);
    }

    #[test]
    fn column_lists_line_up() {
        for list in [TRAFFIC, THREAT] {
            assert_eq!(list[7], "src");
            assert_eq!(list[24], "sport");
            assert_eq!(list[29], "proto");
            assert_eq!(list[30], "action");
        }
        assert_eq!(TRAFFIC[52], "device_name");
        assert_eq!(THREAT[59], "device_name");
        assert_eq!(&TRAFFIC[..7], &COMMON);
        assert_eq!(&CONFIG[..7], &COMMON);
        assert_eq!(&GLOBALPROTECT[..7], &COMMON);
        assert_eq!(GLOBALPROTECT[15], "public_ip");
        assert_eq!(GLOBALPROTECT[28], "status");
        assert_eq!(GLOBALPROTECT[47], "device_name");
    }
}
