//! Syslog parsing throughput on one core: `cargo bench -p tansa-engine --bench syslog`.
//!
//! Parses a mix of typical firewall lines (FortiGate, UFW, ASA, PAN-OS, CEF, RFC 5424,
//! filterlog, plain sshd) over and over into a callback that only counts bytes, and prints
//! lines per second for each format and for the mix. Arguments (`-- fortigate`) choose
//! formats by name.

use std::hint::black_box;
use std::time::{Duration, Instant};
use tansa_engine::input::syslog::{SyslogContext, parse_line};

const LINES: &[(&str, &str)] = &[
    (
        "fortigate",
        "<189>date=2024-01-02 time=12:00:00 devname=\"FGT60D\" devid=\"FGT60D4614000000\" \
         eventtime=1704164400000000000 tz=\"+0900\" logid=\"0000000013\" type=\"traffic\" \
         subtype=\"forward\" level=\"notice\" vd=\"root\" srcip=203.0.113.5 srcport=51234 \
         srcintf=\"wan1\" srcintfrole=\"wan\" dstip=10.0.0.10 dstport=3389 dstintf=\"internal\" \
         dstintfrole=\"lan\" srccountry=\"Reserved\" dstcountry=\"Reserved\" sessionid=123456 \
         proto=6 action=\"deny\" policyid=0 policytype=\"policy\" service=\"RDP\" trandisp=\"noop\" \
         duration=0 sentbyte=0 rcvdbyte=0 sentpkt=0 rcvdpkt=0 appcat=\"unscanned\" crscore=30 \
         craction=131072 crlevel=\"high\"",
    ),
    (
        "ufw",
        "<4>Nov 25 20:40:46 gw kernel: [UFW BLOCK] IN=eth0 OUT= \
         MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=203.0.113.5 DST=10.0.0.10 LEN=60 \
         TOS=0x00 PREC=0x00 TTL=52 ID=4242 DF PROTO=TCP SPT=51234 DPT=3389 WINDOW=64240 RES=0x00 \
         SYN URGP=0",
    ),
    (
        "asa",
        "<166>Jan 02 2024 12:00:00 fw01 : %ASA-6-302013: Built inbound TCP connection 123 for \
         outside:203.0.113.5/51234 (203.0.113.5/51234) to inside:10.0.0.10/3389 (10.0.0.10/3389)",
    ),
    (
        "asa-deny",
        "<164>Jan 02 2024 12:00:00 fw01 : %ASA-4-106023: Deny tcp src outside:203.0.113.5/51234 \
         dst inside:10.0.0.10/445 by access-group \"outside_in\" [0x0, 0x0]",
    ),
    (
        "pan-os",
        "<14>Jan  2 12:00:05 PA-VM 1,2024/01/02 12:00:05,012801000001,TRAFFIC,end,2560,\
         2024/01/02 12:00:00,203.0.113.5,10.0.0.10,0.0.0.0,0.0.0.0,allow-rdp,,,ms-rdp,vsys1,\
         untrust,trust,ethernet1/1,ethernet1/2,Forward,2024/01/02 12:00:05,4242,1,51234,3389,0,0,\
         0x400019,tcp,allow,5000,3000,2000,40,2024/01/02 11:59:00,60,any,0,77,0x0,United States,\
         10.0.0.0-10.255.255.255,0,20,20,tcp-fin,0,0,0,0,,PA-VM,from-policy",
    ),
    (
        "cef",
        "<134>Feb 12 10:39:45 utm01 CEF:0|Sophos|UTM|9.705-3|2002|Packet accepted|1|\
         rt=1707734385000 src=10.0.0.5 spt=51234 dst=93.184.216.34 dpt=443 proto=TCP act=accept \
         msg=outgoing connection deviceInboundInterface=eth0 cs1Label=Rule cs1=60002",
    ),
    (
        "rfc5424",
        "<14>1 2024-01-02T12:00:00.000+01:00 srx01 RT_FLOW - RT_FLOW_SESSION_DENY \
         [junos@2636.1.1.1.2.129 source-address=\"203.0.113.5\" source-port=\"51234\" \
         destination-address=\"10.0.0.10\" destination-port=\"445\" service-name=\"junos-smb\" \
         protocol-id=\"6\" policy-name=\"deny-all\" username=\"N/A\"] session denied",
    ),
    (
        "filterlog",
        "<134>Jan  2 12:00:00 pfsense filterlog[4242]: 5,,,1000000103,igb1,match,block,in,4,0x0,,\
         64,0,0,DF,6,tcp,60,203.0.113.5,10.0.0.10,51234,3389,0,S,1234567890,,64240,,mss",
    ),
    (
        "sshd",
        "<38>Jan  2 12:00:00 host1 sshd[777]: Failed password for invalid user admin from \
         203.0.113.5 port 51234 ssh2",
    ),
];

/// Parses `lines` round after round for about `budget`; returns lines per second.
fn measure(lines: &[&[u8]], context: &SyslogContext, budget: Duration) -> f64 {
    let mut total = 0usize;
    let mut parsed = 0u64;
    let start = Instant::now();
    while start.elapsed() < budget {
        for _ in 0..1000 {
            for line in lines {
                let time = parse_line(black_box(line), context, &mut |name, value| {
                    total += name.len() + value.len();
                });
                black_box(time);
            }
            parsed += lines.len() as u64;
        }
    }
    black_box(total);
    parsed as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let context = SyslogContext {
        year: 2024,
        zone: jiff::tz::TimeZone::UTC,
        latest: None,
    };
    // `cargo bench --bench syslog -- fortigate` measures the formats whose name has that.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let chosen: Vec<&(&str, &str)> = LINES
        .iter()
        .filter(|(name, _)| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str())))
        .collect();
    let budget = Duration::from_millis(700);
    let all: Vec<&[u8]> = chosen.iter().map(|(_, line)| line.as_bytes()).collect();
    let bytes: usize = all.iter().map(|l| l.len()).sum();
    println!("syslog parse_line, one thread:");
    for (name, line) in &chosen {
        let rate = measure(&[line.as_bytes()], &context, budget);
        println!(
            "  {name:<10} {:>6} bytes  {:>10.0} lines/s",
            line.len(),
            rate
        );
    }
    let rate = measure(&all, &context, budget * 3);
    println!(
        "  {:<10} {:>6} bytes  {:>10.0} lines/s (average line {} bytes)",
        "mix",
        bytes / all.len(),
        rate,
        bytes / all.len()
    );
}
