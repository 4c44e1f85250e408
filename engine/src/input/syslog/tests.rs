//! Whole lines through `parse_line`: every format the module reads, the cases from the
//! crate survey (`crates.md` §9), and property tests.

use super::*;
use jiff::tz::{Offset, TimeZone};
use proptest::prelude::*;

fn context() -> SyslogContext {
    SyslogContext {
        year: 2023,
        zone: TimeZone::UTC,
        latest: None,
    }
}

/// Every field of a line, in order, and its time.
struct Parsed {
    fields: Vec<(String, String)>,
    time: Option<String>,
}

impl Parsed {
    /// The values of `name`, in order.
    fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The one value of `name` (panics if there are several).
    fn get(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(all.len() <= 1, "{name} has several values: {all:?}");
        all.first().copied()
    }

    fn names(&self) -> Vec<&str> {
        self.fields.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Asserts each `(name, value)` (value `None`: absent).
    fn expect(&self, expected: &[(&str, Option<&str>)]) {
        for (name, value) in expected {
            assert_eq!(self.get(name), *value, "field {name} in {:?}", self.fields);
        }
    }
}

fn parse(line: &str) -> Parsed {
    parse_bytes(line.as_bytes(), &context())
}

fn parse_bytes(line: &[u8], context: &SyslogContext) -> Parsed {
    let mut fields = Vec::new();
    let time = parse_line(line, context, &mut |n, v| {
        fields.push((n.to_string(), v.to_string()))
    });
    Parsed {
        fields,
        time: time.map(|t| t.to_string()),
    }
}

// --- The survey's table ---

#[test]
fn ufw_block_with_header() {
    let p = parse(
        "<4>Nov 25 20:40:46 gw kernel: [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 \
         SRC=203.0.113.5 DST=10.0.0.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=4242 DF PROTO=TCP SPT=51234 \
         DPT=3389 WINDOW=64240 RES=0x00 SYN URGP=0",
    );
    p.expect(&[
        ("facility", Some("0")),
        ("severity", Some("4")),
        ("host", Some("gw")),
        ("app", Some("kernel")),
        ("log_prefix", Some("[UFW BLOCK]")),
        ("IN", Some("eth0")),
        ("OUT", Some("")),
        ("SRC", Some("203.0.113.5")),
        ("DF", Some("true")),
        ("SYN", Some("true")),
        ("URGP", Some("0")),
        ("src_ip", Some("203.0.113.5")),
        ("dst_ip", Some("10.0.0.10")),
        ("src_port", Some("51234")),
        ("dst_port", Some("3389")),
        ("protocol", Some("tcp")),
        ("action", Some("deny")),
        ("vendor", Some("netfilter")),
        ("product", Some("ufw")),
        ("device", Some("gw")),
    ]);
    assert_eq!(p.time.as_deref(), Some("2023-11-25T20:40:46Z"));
    let names = p.names();
    assert_eq!(
        &names[..6],
        &["facility", "severity", "host", "app", "message", "vendor"]
    );
}

#[test]
fn iptables_without_priority() {
    let p = parse(
        "Nov  5 08:03:01 gw kernel: [123456.789012] IN=eth1 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 \
         SRC=198.51.100.7 DST=192.0.2.1 LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=0 DF PROTO=ICMP TYPE=8 CODE=0 ID=17 SEQ=1",
    );
    p.expect(&[
        ("facility", None),
        ("host", Some("gw")),
        ("log_prefix", None),
        ("vendor", Some("netfilter")),
        ("product", Some("iptables")),
        ("protocol", Some("icmp")),
        ("action", None),
        ("TYPE", Some("8")),
    ]);
    assert_eq!(p.all("ID"), vec!["0", "17"]);
    assert_eq!(p.time.as_deref(), Some("2023-11-05T08:03:01Z"));
}

#[test]
fn fortigate_without_header() {
    let line = "<189>date=2024-01-02 time=12:00:00 devname=\"FGT60D\" devid=\"FGT60D4614000000\" \
                eventtime=1704164400000000000 tz=\"+0900\" logid=\"0000000013\" type=\"traffic\" \
                subtype=\"forward\" level=\"notice\" vd=\"root\" srcip=203.0.113.5 srcport=51234 \
                srcintf=\"wan1\" dstip=10.0.0.10 dstport=3389 dstintf=\"internal\" sessionid=123456 \
                proto=6 action=\"deny\" policyid=0 policytype=\"policy\" service=\"RDP\" \
                msg=\"Denied by \\\"implicit\\\" policy\" user=\"alice\"";
    let p = parse(line);
    p.expect(&[
        ("facility", Some("23")),
        ("severity", Some("5")),
        ("host", None),
        ("app", None),
        ("devname", Some("FGT60D")),
        ("srcip", Some("203.0.113.5")),
        ("src_ip", Some("203.0.113.5")),
        ("dst_port", Some("3389")),
        ("proto", Some("6")),
        ("protocol", Some("tcp")),
        ("action", Some("deny")),
        ("service", Some("RDP")),
        ("msg", Some("Denied by \"implicit\" policy")),
        ("user", Some("alice")),
        ("vendor", Some("fortinet")),
        ("product", Some("fortigate")),
        ("device", Some("FGT60D")),
    ]);
    assert!(p.get("message").unwrap().starts_with("date=2024-01-02"));
    assert_eq!(p.time.as_deref(), Some("2024-01-02T03:00:00Z"));
}

#[test]
fn fortigate_close_is_allow_beside_raw() {
    let p = parse(
        "<189>Jan  2 12:00:01 fw01 date=2024-01-02 time=12:00:00 devname=\"FGT60D\" srcip=10.0.0.5 \
         dstip=8.8.8.8 action=\"close\" proto=17",
    );
    assert_eq!(p.all("action"), vec!["close", "allow"]);
    p.expect(&[
        ("host", Some("fw01")),
        ("device", Some("FGT60D")),
        ("protocol", Some("udp")),
    ]);
    // No tz: the context's zone.
    assert_eq!(p.time.as_deref(), Some("2024-01-02T12:00:00Z"));
}

#[test]
fn rfc5424_with_two_elements() {
    let p = parse(
        "<165>1 2024-01-02T12:00:00.123+09:00 web01 nginx 4242 ACCESS [meta sequenceId=\"7\"]\
         [origin ip=\"192.0.2.10\" software=\"nginx\" x=\"a\\\"b\\\\c\\]d\"] \u{feff}GET /index.html",
    );
    p.expect(&[
        ("facility", Some("20")),
        ("severity", Some("5")),
        ("host", Some("web01")),
        ("app", Some("nginx")),
        ("pid", Some("4242")),
        ("msgid", Some("ACCESS")),
        ("meta.sequenceId", Some("7")),
        ("origin.ip", Some("192.0.2.10")),
        ("origin.software", Some("nginx")),
        ("origin.x", Some("a\"b\\c]d")),
        ("message", Some("GET /index.html")),
        ("device", Some("web01")),
    ]);
    assert_eq!(p.time.as_deref(), Some("2024-01-02T03:00:00.123Z"));
}

#[test]
fn sophos_cef_app_is_not_cef() {
    let p = parse(
        "<134>Feb 12 10:39:45 utm01 CEF:0|Sophos|UTM|9.705-3|2002|Packet accepted|1|\
         rt=Feb 12 2024 10:39:45 src=10.0.0.5 spt=51234 dst=93.184.216.34 dpt=443 proto=TCP act=accept \
         msg=outgoing http\\=ok connection deviceInboundInterface=eth0",
    );
    p.expect(&[
        ("host", Some("utm01")),
        ("app", None),
        ("cef_version", Some("0")),
        ("device_vendor", Some("Sophos")),
        ("device_product", Some("UTM")),
        ("device_version", Some("9.705-3")),
        ("signature_id", Some("2002")),
        ("name", Some("Packet accepted")),
        ("cef_severity", Some("1")),
        ("rt", Some("Feb 12 2024 10:39:45")),
        ("msg", Some("outgoing http=ok connection")),
        ("deviceInboundInterface", Some("eth0")),
        ("src", Some("10.0.0.5")),
        ("src_ip", Some("10.0.0.5")),
        ("dst_port", Some("443")),
        ("protocol", Some("tcp")),
        ("action", Some("allow")),
        ("vendor", Some("sophos")),
        ("product", Some("utm")),
        ("device", Some("utm01")),
    ]);
    assert_eq!(p.time.as_deref(), Some("2024-02-12T10:39:45Z"));
}

#[test]
fn asa_without_header() {
    let p = parse(
        "<166>%ASA-6-302013: Built inbound TCP connection 123 for outside:203.0.113.5/51234 \
         (203.0.113.5/51234) to inside:10.0.0.10/3389 (198.51.100.10/3389)",
    );
    p.expect(&[
        ("facility", Some("20")),
        ("severity", Some("6")),
        ("host", None),
        ("vendor", Some("cisco")),
        ("product", Some("asa")),
        ("asa_level", Some("6")),
        ("asa_id", Some("302013")),
        ("direction", Some("inbound")),
        ("protocol", Some("tcp")),
        ("connection_id", Some("123")),
        ("src_interface", Some("outside")),
        ("src_ip", Some("203.0.113.5")),
        ("src_port", Some("51234")),
        ("src_mapped_ip", Some("203.0.113.5")),
        ("dst_interface", Some("inside")),
        ("dst_ip", Some("10.0.0.10")),
        ("dst_port", Some("3389")),
        ("dst_mapped_ip", Some("198.51.100.10")),
        ("dst_mapped_port", Some("3389")),
        ("action", Some("allow")),
        ("device", None),
    ]);
    assert_eq!(p.time, None);
}

#[test]
fn year_after_time() {
    let p =
        parse("<30>Jan  2 03:04:05 2024 router dnsmasq[123]: query[A] example.com from 10.0.0.2");
    p.expect(&[
        ("host", Some("router")),
        ("app", Some("dnsmasq")),
        ("pid", Some("123")),
        ("message", Some("query[A] example.com from 10.0.0.2")),
    ]);
    assert_eq!(p.time.as_deref(), Some("2024-01-02T03:04:05Z"));
}

#[test]
fn rfc3339_in_bsd_layout() {
    let p = parse(
        "<38>2024-01-02T12:00:00+00:00 host1 sshd[777]: Accepted publickey for root from 203.0.113.5 port 51234 ssh2",
    );
    p.expect(&[
        ("facility", Some("4")),
        ("severity", Some("6")),
        ("host", Some("host1")),
        ("app", Some("sshd")),
        ("pid", Some("777")),
        (
            "message",
            Some("Accepted publickey for root from 203.0.113.5 port 51234 ssh2"),
        ),
        ("vendor", None),
    ]);
    assert_eq!(p.time.as_deref(), Some("2024-01-02T12:00:00Z"));
}

// --- Headers ---

#[test]
fn missing_host_and_zones() {
    let p = parse("<13>Jan  2 03:04:05 sshd[1]: msg");
    p.expect(&[
        ("host", None),
        ("app", Some("sshd")),
        ("pid", Some("1")),
        ("message", Some("msg")),
    ]);
    let p = parse("Jan  2 03:04:05.250 UTC host app: x");
    assert_eq!(p.time.as_deref(), Some("2023-01-02T03:04:05.25Z"));
    let tokyo = SyslogContext {
        year: 2022,
        zone: TimeZone::get("Asia/Tokyo").unwrap(),
        latest: None,
    };
    let p = parse_bytes(b"Jan  2 03:04:05 host app: x", &tokyo);
    assert_eq!(p.time.as_deref(), Some("2022-01-01T18:04:05Z"));
    let p = parse_bytes(b"Jan  2 03:04:05 -05:00 host app: x", &tokyo);
    assert_eq!(p.time.as_deref(), Some("2022-01-02T08:04:05Z"));
    let fixed = SyslogContext {
        year: 2022,
        zone: TimeZone::fixed(Offset::constant(-3)),
        latest: None,
    };
    let p = parse_bytes(b"2024 Jan  2 03:04:05 host app: x", &fixed);
    assert_eq!(p.time.as_deref(), Some("2024-01-02T06:04:05Z"));
}

#[test]
fn plain_text_is_message_only() {
    let p = parse("just some text: with a colon");
    assert_eq!(
        p.fields,
        vec![(
            "message".to_string(),
            "just some text: with a colon".to_string()
        )]
    );
    assert_eq!(p.time, None);
    let p = parse("");
    assert_eq!(p.names(), vec!["message"]);
}

#[test]
fn invalid_utf8_nul_and_line_endings() {
    let p = parse_bytes(b"<13>Jan  2 03:04:05 h\xff app: a\0b\xc3\r\n", &context());
    p.expect(&[
        ("host", Some("h\u{fffd}")),
        ("app", Some("app")),
        ("message", Some("a\0b\u{fffd}")),
    ]);
}

// --- Payloads ---

#[test]
fn sonicwall() {
    let p = parse(
        "<134>Jan  2 12:00:00 sw01 id=firewall sn=C0EAE4000000 time=\"2024-01-02 12:00:00 UTC\" fw=198.51.100.1 \
         pri=6 c=262144 m=98 msg=\"Connection Opened\" app=49175 n=123 src=10.0.0.5:51234:X0 \
         dst=203.0.113.9:3389:X1 srcMac=00:11:22:33:44:55 proto=tcp/3389 sent=52 fw_action=\"NA\" usr=\"bob\"",
    );
    p.expect(&[
        ("host", Some("sw01")),
        ("vendor", Some("sonicwall")),
        ("product", Some("sonicos")),
        ("src", Some("10.0.0.5:51234:X0")),
        ("src_ip", Some("10.0.0.5")),
        ("src_port", Some("51234")),
        ("dst_ip", Some("203.0.113.9")),
        ("dst_port", Some("3389")),
        ("proto", Some("tcp/3389")),
        ("protocol", Some("tcp")),
        ("fw_action", Some("NA")),
        ("action", None),
        ("usr", Some("bob")),
        ("user", Some("bob")),
        ("device", Some("sw01")),
    ]);
    assert_eq!(p.time.as_deref(), Some("2024-01-02T12:00:00Z"));
    let p =
        parse("id=firewall sn=C0EA time=\"2024-01-02 12:00:00\" src=10.0.0.5 fw_action=\"drop\"");
    p.expect(&[
        ("action", Some("deny")),
        ("src_ip", Some("10.0.0.5")),
        ("src_port", None),
    ]);
}

#[test]
fn sophos_utm_packet_filter() {
    let p = parse(
        "<30>2024:01:02-12:00:00 utm01 ulogd[4242]: id=\"2001\" severity=\"info\" sys=\"SecureNet\" \
         sub=\"packetfilter\" name=\"Packet dropped\" action=\"drop\" fwrule=\"60001\" initf=\"eth0\" \
         srcmac=\"00:11:22:33:44:55\" dstmac=\"66:77:88:99:aa:bb\" srcip=\"203.0.113.5\" dstip=\"10.0.0.10\" \
         proto=\"6\" length=\"60\" tos=\"0x00\" prec=\"0x00\" ttl=\"52\" srcport=\"51234\" dstport=\"22\" tcpflags=\"SYN\"",
    );
    p.expect(&[
        ("host", Some("utm01")),
        ("app", Some("ulogd")),
        ("vendor", Some("sophos")),
        ("product", Some("utm")),
        ("src_ip", Some("203.0.113.5")),
        ("dst_port", Some("22")),
        ("protocol", Some("tcp")),
        ("name", Some("Packet dropped")),
        ("device", Some("utm01")),
    ]);
    assert_eq!(p.all("action"), vec!["drop", "deny"]);
    assert_eq!(p.time.as_deref(), Some("2024-01-02T12:00:00Z"));
}

#[test]
fn sophos_sfos() {
    let p = parse(
        "<30>device_name=\"SFW\" timestamp=\"2024-01-02T12:00:00+0530\" device_model=\"XGS2100\" \
         device_serial_id=\"X21000000\" log_id=\"010101600001\" log_type=\"Firewall\" \
         log_component=\"Firewall Rule\" log_subtype=\"Denied\" status=\"Deny\" src_ip=\"203.0.113.5\" \
         dst_ip=\"10.0.0.10\" protocol=\"TCP\" src_port=51234 dst_port=3389 user_name=\"\"",
    );
    p.expect(&[
        ("vendor", Some("sophos")),
        ("product", Some("sfos")),
        ("src_ip", Some("203.0.113.5")),
        ("dst_port", Some("3389")),
        ("action", Some("deny")),
        ("user_name", Some("")),
        ("user", None),
    ]);
    assert_eq!(p.all("protocol"), vec!["TCP", "tcp"]);
    assert_eq!(p.time.as_deref(), Some("2024-01-02T06:30:00Z"));
}

#[test]
fn generic_key_values() {
    let p = parse(
        "<85>Jan  2 12:00:00 h1 audit: type=USER_LOGIN msg=audit(1704196800.123:42): pid=4242 uid=0 \
         acct=\"root\" exe=\"/usr/sbin/sshd\" addr=203.0.113.5 res=failed",
    );
    p.expect(&[
        ("app", Some("audit")),
        ("type", Some("USER_LOGIN")),
        ("acct", Some("root")),
        ("res", Some("failed")),
        ("vendor", None),
        ("device", Some("h1")),
    ]);
    // Prose with `=` in it is not key=value.
    let p = parse(
        "<86>Jan  2 12:00:00 h1 sshd[1]: pam_unix(sshd:session): session opened for user root(uid=0)",
    );
    assert_eq!(
        p.names(),
        vec![
            "facility", "severity", "host", "app", "pid", "message", "device"
        ]
    );
}

#[test]
fn cef_anywhere_with_escapes_and_epoch() {
    let p = parse(
        "<14>Jan  2 12:00:00 pa01 foo: CEF:0|Palo Alto Networks|PAN-OS|10.1|end|TRAFFIC|1|\
         rt=1704196800000 dvchost=pa01-fw src=10.0.0.5 dst=203.0.113.9 suser=corp\\\\alice act=reset-both \
         cs1Label=Rule cs1=a\\=b\\nc",
    );
    p.expect(&[
        ("app", Some("foo")),
        ("device_vendor", Some("Palo Alto Networks")),
        ("vendor", Some("paloalto")),
        ("product", Some("pan-os")),
        ("suser", Some("corp\\alice")),
        ("user", Some("corp\\alice")),
        ("action", Some("deny")),
        ("cs1", Some("a=b\nc")),
        ("device", Some("pa01-fw")),
    ]);
    assert_eq!(p.time.as_deref(), Some("2024-01-02T12:00:00Z"));
    let p = parse("CEF:0|Weird\\|Vendor|Prod|1|2|3");
    p.expect(&[
        ("device_vendor", Some("Weird|Vendor")),
        ("name", Some("3")),
        ("cef_severity", None),
    ]);
}

#[test]
fn asa_family() {
    let p = parse(
        "<166>Jan 02 2024 12:00:00 fw01 : %ASA-6-302013: Built outbound TCP connection 77 for \
         outside:93.184.216.34/443 (93.184.216.34/443) to inside:10.0.0.5/51234 (198.51.100.1/51234)(LOCAL\\alice)",
    );
    p.expect(&[
        ("host", Some("fw01")),
        ("src_ip", Some("10.0.0.5")),
        ("src_interface", Some("inside")),
        ("src_mapped_ip", Some("198.51.100.1")),
        ("dst_ip", Some("93.184.216.34")),
        ("dst_port", Some("443")),
        ("user", Some("LOCAL\\alice")),
        ("device", Some("fw01")),
    ]);
    assert_eq!(p.time.as_deref(), Some("2024-01-02T12:00:00Z"));

    let p = parse(
        "%ASA-6-302014: Teardown TCP connection 123 for outside:203.0.113.5/51234 to inside:10.0.0.10/3389 \
         duration 0:00:30 bytes 1234 TCP FINs from outside",
    );
    p.expect(&[
        ("duration", Some("0:00:30")),
        ("bytes", Some("1234")),
        ("reason", Some("TCP FINs from outside")),
        ("action", Some("allow")),
        ("src_ip", Some("203.0.113.5")),
        ("dst_port", Some("3389")),
    ]);
    let p = parse(
        "%ASA-6-302014: Teardown TCP connection 9 for a:1.1.1.1/1 to b:2.2.2.2/2 duration 0:00:00 bytes 0 Deny Terminate (bob)",
    );
    p.expect(&[
        ("action", Some("deny")),
        ("reason", Some("Deny Terminate")),
        ("user", Some("bob")),
    ]);

    let p = parse(
        "%ASA-4-106023: Deny tcp src outside:203.0.113.5/51234 dst inside:10.0.0.10/445 by access-group \"outside_in\" [0x0, 0x0]",
    );
    p.expect(&[
        ("asa_level", Some("4")),
        ("asa_id", Some("106023")),
        ("action", Some("deny")),
        ("protocol", Some("tcp")),
        ("src_ip", Some("203.0.113.5")),
        ("dst_interface", Some("inside")),
        ("dst_port", Some("445")),
        ("acl", Some("outside_in")),
    ]);
    let p = parse(
        "%ASA-4-106023: Deny icmp src outside:203.0.113.5 dst inside:10.0.0.10 (type 8, code 0) by access-group \"in\" [0x0, 0x0]",
    );
    p.expect(&[
        ("icmp_type", Some("8")),
        ("icmp_code", Some("0")),
        ("src_port", None),
        ("acl", Some("in")),
    ]);

    let p = parse(
        "%ASA-6-106100: access-list outside_in denied tcp outside/203.0.113.5(51234) -> inside/10.0.0.10(22) hit-cnt 1 first hit [0x1, 0x0]",
    );
    p.expect(&[
        ("acl", Some("outside_in")),
        ("action", Some("deny")),
        ("src_interface", Some("outside")),
        ("src_port", Some("51234")),
        ("dst_ip", Some("10.0.0.10")),
        ("hit_count", Some("1")),
    ]);

    let p = parse(
        "%ASA-2-106001: Inbound TCP connection denied from 203.0.113.5/51234 to 10.0.0.10/23 flags SYN  on interface outside",
    );
    p.expect(&[
        ("action", Some("deny")),
        ("protocol", Some("tcp")),
        ("src_ip", Some("203.0.113.5")),
        ("dst_port", Some("23")),
        ("tcp_flags", Some("SYN")),
        ("interface", Some("outside")),
    ]);

    let p = parse(
        "%ASA-3-106014: Deny inbound icmp src outside:203.0.113.5 dst inside:10.0.0.10 (type 8, code 0)",
    );
    p.expect(&[
        ("action", Some("deny")),
        ("direction", Some("inbound")),
        ("protocol", Some("icmp")),
        ("src_ip", Some("203.0.113.5")),
        ("dst_ip", Some("10.0.0.10")),
        ("icmp_type", Some("8")),
    ]);
    let p = parse(
        "%ASA-2-106006: Deny inbound UDP from 203.0.113.5/53 to 10.0.0.10/1234 on interface outside",
    );
    p.expect(&[
        ("action", Some("deny")),
        ("protocol", Some("udp")),
        ("src_port", Some("53")),
        ("dst_ip", Some("10.0.0.10")),
        ("interface", Some("outside")),
    ]);
    // A translation is not a connection: no endpoints.
    let p = parse(
        "%ASA-6-305011: Built dynamic TCP translation from inside:10.0.0.5/51234 to outside:203.0.113.1/51234",
    );
    p.expect(&[
        ("asa_id", Some("305011")),
        ("src_ip", None),
        ("dst_ip", None),
        ("vendor", Some("cisco")),
    ]);

    let p = parse(
        "%ASA-6-113004: AAA user authentication Successful : server =  10.0.0.2 : user = admin",
    );
    p.expect(&[
        ("action", Some("allow")),
        ("server", Some("10.0.0.2")),
        ("user", Some("admin")),
    ]);
    let p = parse(
        "%ASA-6-113005: AAA user authentication Rejected : reason = AAA failure : server = 10.0.0.2 : user = admin : user IP = 203.0.113.5",
    );
    p.expect(&[
        ("action", Some("deny")),
        ("reason", Some("AAA failure")),
        ("user", Some("admin")),
        ("user_ip", Some("203.0.113.5")),
        ("src_ip", Some("203.0.113.5")),
    ]);

    let p = parse(
        "%ASA-6-605005: Login permitted from 203.0.113.5/51234 to inside:10.0.0.1/ssh for user \"admin\"",
    );
    p.expect(&[
        ("action", Some("allow")),
        ("src_ip", Some("203.0.113.5")),
        ("dst_interface", Some("inside")),
        ("service", Some("ssh")),
        ("user", Some("admin")),
    ]);

    let p = parse("%ASA-6-611102: User authentication failed: IP address: 10.0.0.5, Uname: admin");
    p.expect(&[
        ("action", Some("deny")),
        ("src_ip", Some("10.0.0.5")),
        ("user", Some("admin")),
    ]);

    let p = parse(
        "%ASA-5-111010: User 'admin', running 'CLI' from IP 10.0.0.5, executed 'write memory'",
    );
    p.expect(&[
        ("user", Some("admin")),
        ("src_ip", Some("10.0.0.5")),
        ("command", Some("write memory")),
    ]);
    let p = parse("%ASA-5-111008: User 'enable_15' executed the 'configure terminal' command.");
    p.expect(&[
        ("user", Some("enable_15")),
        ("command", Some("configure terminal")),
    ]);

    let p = parse(
        "%ASA-4-113019: Group = RemoteVPN, Username = alice, IP = 203.0.113.5, Session disconnected. \
         Session Type: SSL, Duration: 1h:00m:00s, Bytes xmt: 123, Bytes rcv: 456, Reason: User Requested",
    );
    p.expect(&[
        ("group", Some("RemoteVPN")),
        ("user", Some("alice")),
        ("src_ip", Some("203.0.113.5")),
        ("session_type", Some("SSL")),
        ("bytes_xmt", Some("123")),
        ("reason", Some("User Requested")),
    ]);
    let p = parse(
        "%ASA-6-722051: Group <GroupPolicy_VPN> User <alice> IP <203.0.113.5> IPv4 Address <10.10.10.5> IPv6 address <::> assigned to session",
    );
    p.expect(&[
        ("group", Some("GroupPolicy_VPN")),
        ("user", Some("alice")),
        ("src_ip", Some("203.0.113.5")),
        ("assigned_ip", Some("10.10.10.5")),
        ("assigned_ipv6", Some("::")),
    ]);
    let p = parse(
        "%ASA-6-716001: Group <DfltGrpPolicy> User <bob> IP <198.51.100.4> WebVPN session started.",
    );
    p.expect(&[("user", Some("bob")), ("src_ip", Some("198.51.100.4"))]);

    let p = parse(
        "%ASA-6-302020: Built inbound ICMP connection for faddr 203.0.113.5/1 gaddr 10.0.0.10/0 laddr 10.0.0.10/0",
    );
    p.expect(&[
        ("protocol", Some("icmp")),
        ("src_ip", Some("203.0.113.5")),
        ("dst_ip", Some("10.0.0.10")),
        ("global_ip", Some("10.0.0.10")),
    ]);
}

#[test]
fn ftd_connection_event() {
    let p = parse(
        "<113>Jan  2 12:00:00 ftd01 : %FTD-1-430003: DeviceUUID: 0f1e-aa, InstanceID: 1, \
         AccessControlRuleAction: Block, SrcIP: 203.0.113.5, DstIP: 10.0.0.10, SrcPort: 51234, DstPort: 445, \
         Protocol: tcp, IngressInterface: outside, User: No Authentication Required, ACPolicy: Default, Client: SMB, Other",
    );
    p.expect(&[
        ("product", Some("ftd")),
        ("asa_level", Some("1")),
        ("asa_id", Some("430003")),
        ("AccessControlRuleAction", Some("Block")),
        ("action", Some("deny")),
        ("SrcIP", Some("203.0.113.5")),
        ("src_ip", Some("203.0.113.5")),
        ("dst_port", Some("445")),
        ("protocol", Some("tcp")),
        ("User", Some("No Authentication Required")),
        ("user", None),
        ("Client", Some("SMB, Other")),
        ("device", Some("ftd01")),
    ]);
}

#[test]
fn panos_traffic_and_threat() {
    let traffic = "<14>Jan  2 12:00:05 PA-VM 1,2024/01/02 12:00:05,012801000001,TRAFFIC,end,2560,2024/01/02 12:00:00,\
        203.0.113.5,10.0.0.10,0.0.0.0,0.0.0.0,allow-rdp,,corp\\alice,ms-rdp,vsys1,untrust,trust,ethernet1/1,\
        ethernet1/2,Forward,2024/01/02 12:00:05,4242,1,51234,3389,0,0,0x400019,tcp,allow,5000,3000,2000,40,\
        2024/01/02 11:59:00,60,any,0,77,0x0,United States,10.0.0.0-10.255.255.255,0,20,20,tcp-fin,0,0,0,0,,PA-VM,from-policy";
    let p = parse(traffic);
    p.expect(&[
        ("host", Some("PA-VM")),
        ("vendor", Some("paloalto")),
        ("product", Some("pan-os")),
        ("serial", Some("012801000001")),
        ("type", Some("TRAFFIC")),
        ("subtype", Some("end")),
        ("src", Some("203.0.113.5")),
        ("src_ip", Some("203.0.113.5")),
        ("dst_ip", Some("10.0.0.10")),
        ("rule", Some("allow-rdp")),
        ("srcuser", Some("")),
        ("dstuser", Some("corp\\alice")),
        ("user", None),
        ("app", Some("ms-rdp")),
        ("sport", Some("51234")),
        ("dst_port", Some("3389")),
        ("protocol", Some("tcp")),
        ("action", Some("allow")),
        ("session_end_reason", Some("tcp-fin")),
        ("device_name", Some("PA-VM")),
        ("device", Some("PA-VM")),
        ("action_source", Some("from-policy")),
    ]);
    assert_eq!(p.all("app"), vec!["ms-rdp"]);
    assert_eq!(p.time.as_deref(), Some("2024-01-02T12:00:00Z"));

    let threat = "1,2024/01/02 12:00:05,012801000001,THREAT,vulnerability,2560,2024/01/02 12:00:01,203.0.113.5,\
        10.0.0.10,0.0.0.0,0.0.0.0,allow-web,alice,,web-browsing,vsys1,untrust,trust,ethernet1/1,ethernet1/2,\
        Forward,2024/01/02 12:00:05,4243,1,51235,80,0,0,0x2000,tcp,reset-both,\"/cgi-bin/a,b.cgi?x=\"\"1\"\"\",\
        Bash Remote Code Execution Vulnerability(36731),any,critical,client-to-server";
    let p = parse(threat);
    p.expect(&[
        ("type", Some("THREAT")),
        ("misc", Some("/cgi-bin/a,b.cgi?x=\"1\"")),
        (
            "threatid",
            Some("Bash Remote Code Execution Vulnerability(36731)"),
        ),
        ("severity", Some("critical")),
        ("direction", Some("client-to-server")),
        ("user", Some("alice")),
        ("device", Some("012801000001")),
    ]);
    assert_eq!(p.all("action"), vec!["reset-both", "deny"]);
    assert_eq!(p.time.as_deref(), Some("2024-01-02T12:00:01Z"));
}

#[test]
fn panos_globalprotect() {
    let p = parse(
        "<14>Mar  2 09:55:42 pa01 1,2021/03/02 09:55:42,012801000001,GLOBALPROTECT,0,2305,2021/03/02 09:55:39,vsys1,\
         portal-auth,login,LDAP,,bob,JP,LAPTOP1,203.0.113.20,,0.0.0.0,0.0.0.0,host-1,SN1,6.2.1,Windows,\
         \"Microsoft Windows 10 Pro , 64-bit\",1,,Authentication failed: Invalid username or password,,failure,,0,\
         ,0,GP-Portal,123456,0x0,2021-03-02T09:55:39.000+09:00,,0,,,,0,0,0,0,,pa01",
    );
    p.expect(&[
        ("type", Some("GLOBALPROTECT")),
        ("eventid", Some("portal-auth")),
        ("stage", Some("login")),
        ("srcuser", Some("bob")),
        ("user", Some("bob")),
        ("public_ip", Some("203.0.113.20")),
        ("src_ip", Some("203.0.113.20")),
        ("client_os_ver", Some("Microsoft Windows 10 Pro , 64-bit")),
        (
            "error",
            Some("Authentication failed: Invalid username or password"),
        ),
        ("status", Some("failure")),
        ("portal", Some("GP-Portal")),
        ("device_name", Some("pa01")),
        ("device", Some("pa01")),
    ]);
    assert_eq!(p.time.as_deref(), Some("2021-03-02T00:55:39Z"));
}

#[test]
fn juniper_text_and_structured() {
    let p = parse(
        "<14>Jan  2 12:00:00 srx01 RT_FLOW: RT_FLOW_SESSION_CREATE: session created 203.0.113.5/51234->10.0.0.10/3389 \
         0x0 junos-rdp 203.0.113.5/51234->192.168.1.10/3389 0x0 N/A N/A static-nat rule1 6 allow-rdp untrust trust \
         4242 N/A(N/A) ge-0/0/0.0 UNKNOWN UNKNOWN No",
    );
    p.expect(&[
        ("host", Some("srx01")),
        ("app", Some("RT_FLOW")),
        ("msgid", Some("RT_FLOW_SESSION_CREATE")),
        ("vendor", Some("juniper")),
        ("product", Some("srx")),
        ("source-address", Some("203.0.113.5")),
        ("src_ip", Some("203.0.113.5")),
        ("destination-port", Some("3389")),
        ("dst_port", Some("3389")),
        ("connection-tag", Some("0x0")),
        ("service-name", Some("junos-rdp")),
        ("nat-destination-address", Some("192.168.1.10")),
        ("dst-nat-rule-type", Some("static-nat")),
        ("dst-nat-rule-name", Some("rule1")),
        ("protocol-id", Some("6")),
        ("protocol", Some("tcp")),
        ("policy-name", Some("allow-rdp")),
        ("source-zone-name", Some("untrust")),
        ("session-id-32", Some("4242")),
        ("username", Some("N/A")),
        ("user", None),
        ("packet-incoming-interface", Some("ge-0/0/0.0")),
        ("encrypted", Some("No")),
        ("action", Some("allow")),
    ]);

    let p = parse(
        "<14>Jan  2 12:00:00 srx01 RT_FLOW: RT_FLOW_SESSION_DENY: session denied 203.0.113.5/51234->10.0.0.10/445 \
         0x0 junos-smb 6(0) deny-all untrust trust UNKNOWN UNKNOWN N/A(N/A) ge-0/0/0.0 No policy deny",
    );
    p.expect(&[
        ("action", Some("deny")),
        ("protocol-id", Some("6")),
        ("icmp-type", Some("0")),
        ("policy-name", Some("deny-all")),
        ("destination-zone-name", Some("trust")),
        ("dst_port", Some("445")),
        ("encrypted", Some("No")),
    ]);

    let p = parse(
        "<14>Jan  2 12:00:00 srx01 RT_FLOW: RT_FLOW_SESSION_CLOSE: session closed TCP FIN: 203.0.113.5/51234->10.0.0.10/3389 \
         0x0 junos-rdp 203.0.113.5/51234->10.0.0.10/3389 0x0 N/A N/A N/A N/A 6 allow-rdp untrust trust 4242 \
         10(1000) 12(2000) 30 UNKNOWN UNKNOWN alice(staff) ge-0/0/0.0 No",
    );
    p.expect(&[
        ("reason", Some("TCP FIN")),
        ("bytes-from-client", Some("1000")),
        ("packets-from-server", Some("12")),
        ("elapsed-time", Some("30")),
        ("user", Some("alice")),
        ("roles", Some("staff")),
        ("action", Some("allow")),
    ]);

    let p = parse(
        "<14>1 2024-01-02T12:00:00.000+01:00 srx01 RT_FLOW - RT_FLOW_SESSION_DENY [junos@2636.1.1.1.2.129 \
         source-address=\"203.0.113.5\" source-port=\"51234\" destination-address=\"10.0.0.10\" \
         destination-port=\"445\" service-name=\"junos-smb\" protocol-id=\"6\" policy-name=\"deny-all\" \
         username=\"N/A\"] session denied 203.0.113.5/51234->10.0.0.10/445 0x0 junos-smb 6(0) deny-all",
    );
    p.expect(&[
        ("msgid", Some("RT_FLOW_SESSION_DENY")),
        ("junos@2636.1.1.1.2.129.source-address", Some("203.0.113.5")),
        ("src_ip", Some("203.0.113.5")),
        ("dst_port", Some("445")),
        ("protocol", Some("tcp")),
        ("action", Some("deny")),
        ("user", None),
        ("source-address", None),
    ]);
    assert_eq!(p.time.as_deref(), Some("2024-01-02T11:00:00Z"));
}

#[test]
fn pfsense_filterlog() {
    let p = parse(
        "<134>Jan  2 12:00:00 pfsense filterlog[4242]: 5,,,1000000103,igb1,match,block,in,4,0x0,,64,0,0,DF,6,tcp,60,\
         203.0.113.5,10.0.0.10,51234,3389,0,S,1234567890,,64240,,mss;sackOK;TS;nop;wscale",
    );
    p.expect(&[
        ("app", Some("filterlog")),
        ("vendor", Some("pfsense")),
        ("rule_number", Some("5")),
        ("tracker", Some("1000000103")),
        ("interface", Some("igb1")),
        ("direction", Some("in")),
        ("ttl", Some("64")),
        ("flags", Some("DF")),
        ("protocol", Some("tcp")),
        ("src_ip", Some("203.0.113.5")),
        ("dst_ip", Some("10.0.0.10")),
        ("src_port", Some("51234")),
        ("dst_port", Some("3389")),
        ("tcp_flags", Some("S")),
        ("window", Some("64240")),
        ("options", Some("mss;sackOK;TS;nop;wscale")),
    ]);
    assert_eq!(p.all("action"), vec!["block", "deny"]);

    let p = parse(
        "<134>Jan  2 12:00:00 fw filterlog[1]: 77,,,1000000003,em0,match,pass,out,6,0x00,0x00000,255,udp,17,61,\
         2001:db8::5,2001:db8::53,51234,53,61",
    );
    p.expect(&[
        ("hop_limit", Some("255")),
        ("protocol_id", Some("17")),
        ("src_ip", Some("2001:db8::5")),
        ("dst_port", Some("53")),
        ("data_length", Some("61")),
    ]);
    assert_eq!(p.all("action"), vec!["pass", "allow"]);

    let p = parse(
        "<134>Jan  2 12:00:00 fw filterlog[1]: 9,,,1000000103,em0,match,block,in,4,0x0,,64,0,0,none,1,icmp,84,203.0.113.5,10.0.0.1,request,4242,1",
    );
    p.expect(&[
        ("icmp_type", Some("request")),
        ("icmp_data", Some("4242,1")),
        ("protocol", Some("icmp")),
    ]);
}

// --- Sniffing files ---

#[test]
fn tells_syslog_from_other_text() {
    let yes: [&[u8]; 9] = [
        b"<13>anything",
        b"\n\nJan  2 03:04:05 host app: x\n",
        b"2024-01-02T12:00:00Z host app: x",
        b"date=2024-01-02 time=12:00:00 devname=\"x\"",
        b"%ASA-6-302013: Built",
        b"x CEF:0|a|b|c|d|e|f|",
        b"1,2024/01/02 12:00:00,0123,TRAFFIC,end",
        b"first line\nsecond line\nNov  5 08:03:01 gw kernel: x",
        b"1 2024-01-02T12:00:00Z host app - - - msg",
    ];
    for head in yes {
        assert!(looks_like_syslog(head), "{}", String::from_utf8_lossy(head));
    }
    let no: [&[u8]; 7] = [
        b"",
        b"\n\n  \n",
        b"hello world\nthis is a readme\n",
        b"a,b,c\n1,2,3\n",
        b"2024-01-02T12:00:00,foo,bar\n",
        b"ElfFile\0\x01\x02",
        b"type=SYSCALL msg=audit(1:2): x=y",
    ];
    for head in no {
        assert!(
            !looks_like_syslog(head),
            "{}",
            String::from_utf8_lossy(head)
        );
    }
}

// --- Robustness ---

#[test]
fn long_and_hostile_lines_stay_linear() {
    let long: Vec<u8> = b"<13>Jan  2 03:04:05 h a: "
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b'=', 200_000))
        .collect();
    parse_bytes(&long, &context());
    let many_keys = "CEF:0|a|b|c|d|e|f|".to_string() + &"k=v\\ ".repeat(50_000);
    let start = std::time::Instant::now();
    parse(&many_keys);
    parse(&"a=\"\\".repeat(50_000));
    parse(&("%ASA-6-113019: ".to_string() + &"Group = x, ".repeat(20_000)));
    parse(&("<14>1 - h a p m ".to_string() + &"[x a=\"b\"]".repeat(20_000)));
    parse(&("%FTD-1-430003: ".to_string() + &"K: v, ".repeat(20_000)));
    parse(&("%FTD-1-430003: K: ".to_string() + &", x".repeat(20_000)));
    assert!(start.elapsed().as_secs() < 5, "took {:?}", start.elapsed());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut count = 0;
        parse_line(&line, &context(), &mut |_, _| count += 1);
        prop_assert!(count >= 1);
        looks_like_syslog(&line);
    }

    #[test]
    fn structured_bytes_never_panic(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("<13>"), Just("<14>1 "), Just("Jan  2 03:04:05 "), Just("2024-01-02T12:00:00Z "),
                Just("host "), Just("app[1]: "), Just("CEF:0|"), Just("|"), Just("\\"), Just("="),
                Just("\""), Just("k="), Just(" "), Just("%ASA-6-302013: "), Just("Built inbound TCP "),
                Just("[id a=\""), Just("]"), Just("1,2024/01/02 12:00:00,x,TRAFFIC,"), Just(","),
                Just("IN= OUT= "), Just("date=2024-01-02 "), Just("->"), Just("/"), Just("("), Just(")"),
                Just("session created "), Just("RT_FLOW_SESSION_CREATE: "), Just("é"), Just("\0"),
            ],
            0..40,
        ),
    ) {
        let line = parts.concat();
        parse_line(line.as_bytes(), &context(), &mut |_, _| {});
        let mut sink = |_: &str, _: &str| {};
        parse_cef(&line, &context(), &mut sink);
        parse_key_values(&line, &mut sink);
    }

    #[test]
    fn bsd_header_round_trips(
        priority in proptest::option::of(0u8..=191),
        month in 0usize..12,
        day in 1i8..=28,
        (hour, minute, second) in (0i8..24, 0i8..60, 0i8..60),
        year in proptest::option::of(1990i16..2100),
        host in "[a-z][a-z0-9.-]{0,20}",
        app in "[a-zA-Z][a-zA-Z0-9_/-]{0,15}",
        pid in proptest::option::of(1u32..99999),
        message in "[ -<>-~]{0,60}",
    ) {
        prop_assume!(app != "CEF" && app != "LEEF");
        const MONTHS: [&str; 12] =
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let message = message.trim_start().to_string();
        let mut line = String::new();
        if let Some(p) = priority {
            line += &format!("<{p}>");
        }
        line += &format!("{} {day:>2} {hour:02}:{minute:02}:{second:02}", MONTHS[month]);
        if let Some(y) = year {
            line += &format!(" {y}");
        }
        line += &format!(" {host} {app}");
        if let Some(pid) = pid {
            line += &format!("[{pid}]");
        }
        line += &format!(": {message}");
        let p = parse(&line);
        prop_assert_eq!(p.get("host"), Some(host.as_str()));
        prop_assert_eq!(p.get("app"), Some(app.as_str()));
        let pid_text = pid.map(|p| p.to_string());
        prop_assert_eq!(p.get("pid"), pid_text.as_deref());
        prop_assert_eq!(p.all("message").first().copied(), Some(message.as_str()));
        let facility = priority.map(|p| (p / 8).to_string());
        prop_assert_eq!(p.get("facility"), facility.as_deref());
        let expected = jiff::civil::date(year.unwrap_or(2023), month as i8 + 1, day)
            .at(hour, minute, second, 0)
            .to_zoned(TimeZone::UTC)
            .unwrap()
            .timestamp()
            .to_string();
        prop_assert_eq!(p.time, Some(expected));
    }

    #[test]
    fn rfc5424_round_trips(
        priority in 0u8..=191,
        host in "[a-z][a-z0-9.-]{0,20}",
        app in "[a-zA-Z][a-zA-Z0-9_-]{0,15}",
        params in proptest::collection::vec(("[a-z]{1,8}", "[ -~]{0,12}"), 0..4),
        message in "[ -<>-~]{0,40}",
    ) {
        let escaped: Vec<String> = params
            .iter()
            .map(|(name, value)| {
                let value = value.replace('\\', "\\\\").replace('"', "\\\"").replace(']', "\\]");
                format!(" {name}=\"{value}\"")
            })
            .collect();
        let sd = if params.is_empty() { "-".to_string() } else { format!("[sd@1{}]", escaped.concat()) };
        let line = format!("<{priority}>1 2024-01-02T03:04:05.678Z {host} {app} - - {sd} {message}");
        let p = parse(&line);
        prop_assert_eq!(p.get("host"), Some(host.as_str()));
        prop_assert_eq!(p.get("app"), Some(app.as_str()));
        prop_assert_eq!(p.all("message").first().copied(), Some(message.as_str()));
        for (name, value) in &params {
            let values = p.all(&format!("sd@1.{name}"));
            prop_assert!(values.contains(&value.as_str()), "{} {:?}", name, values);
        }
        prop_assert_eq!(p.time.as_deref(), Some("2024-01-02T03:04:05.678Z"));
    }

    #[test]
    fn key_values_round_trip(pairs in proptest::collection::vec(("[a-z][a-z0-9_]{0,8}", "[ -~]{0,12}"), 1..6)) {
        let text: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        let text = text.join(" ");
        let mut got = Vec::new();
        parse_key_values(&text, &mut |k, v| got.push((k.to_string(), v.to_string())));
        prop_assert_eq!(got, pairs);
    }

    #[test]
    fn cef_extensions_round_trip(
        pairs in proptest::collection::vec(("x[a-zA-Z0-9]{0,8}", "[!-~]([ -~]{0,10}[!-~])?"), 1..6),
    ) {
        let escape = |v: &str| v.replace('\\', "\\\\").replace('=', "\\=");
        let extension: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", escape(v))).collect();
        let line = format!("CEF:0|v|p|1|s|n|5|{}", extension.join(" "));
        let mut got = Vec::new();
        parse_cef(&line, &context(), &mut |k, v| got.push((k.to_string(), v.to_string())));
        // Seven header parts, `vendor` and `product`, then the extension as written.
        prop_assert_eq!(&got[9..], &pairs[..]);
    }
}

/// What the `syslog_line` fuzz target found: a structured-data param name that starts with
/// `[` and holds multi-byte characters once made the scanner and the iterator disagree.
#[test]
fn structured_data_names_with_brackets_and_multibyte_text() {
    for line in [
        "<14>1 2024-01-02T12:00:00Z srx01 RT_FLOW - RT_FLOW_SESSION_DENY [junos@2635 [é=\"v\"] msg",
        "<14>1 2024-01-02T12:00:00Z srx01 RT_FLOW - X [junos@2635 a=\"1\" [ü=\"2\"]",
        "<14>1 2024-01-02T12:00:00Z h a - m [x@1 é=\"v\"][y [=\"w\"] rest",
    ] {
        let p = parse(line);
        p.expect(&[("host", Some(line.split(' ').nth(2).unwrap()))]);
        assert!(p.all("message").iter().all(|m| !m.is_empty()), "{line}");
    }
    let mut bytes =
        b"<14>1 2024-01-02T12:00:00.000+01:00 srx01 RT_FLOW - RT_FLOW_SESSION_DENY [junos@2635"
            .to_vec();
    bytes.extend([0xff; 6]);
    bytes.extend_from_slice(b"ION_DENY [junos@2635");
    bytes.extend([0xff; 13]);
    bytes.extend_from_slice(b"@263\xff5");
    bytes.extend([0xff; 40]);
    let mut fields = 0;
    crate::input::syslog::parse_line(&bytes, &Default::default(), &mut |_, _| fields += 1);
    assert!(fields > 0);
}
