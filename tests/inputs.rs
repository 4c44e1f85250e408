//! End-to-end: inputs other than plain EVTX files. gzip files and zip collections (read
//! without unpacking anything), JSON lines in the three shapes tansa knows, syslog from
//! every device format with its shared field names, the year and zone that BSD timestamps
//! lack, events piped on stdin with alerts written as they happen, and `tansa events`.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use support::*;
use tansa_fixtures::write_evtx;

const WRONG_PASSWORD: &str =
    "  selection:\n    EventID: 4625\n    SubStatus: '0xC000006A'\n  condition: selection\n";

/// Every file under `dir` with its size and modification time, to show nothing changed.
fn snapshot(dir: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            out.extend(snapshot(&entry.path()));
        } else {
            out.push((
                entry.path().display().to_string(),
                meta.len(),
                meta.modified().unwrap(),
            ));
        }
    }
    out.sort();
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn security_log(user: &str) -> Vec<u8> {
    write_evtx(&[
        failed_logon("2024-05-01T09:00:00Z", user, "10.0.0.5"),
        failed_logon("2024-05-01T09:00:01Z", user, "10.0.0.5"),
    ])
    .unwrap()
}

#[test]
fn gzip_files_and_zip_collections_are_read_in_place() {
    let dir = TempDir::new("archives");
    let log = security_log("alice");
    // Two gzip members back to back, as `cat a.gz b.gz` makes.
    let mut two_members = gzip(&log[..log.len() / 2]);
    two_members.extend(gzip(&log[log.len() / 2..]));
    dir.write("logs/Security.evtx.gz", two_members);
    dir.write(
        "logs/kape.zip",
        zip(&[
            (
                "C/Windows/System32/winevt/Logs/Security.evtx",
                &security_log("bob"),
            ),
            ("C/readme.txt", b"collected by a tool"),
            ("../../escape.evtx", &security_log("carol")),
        ]),
    );
    dir.write("logs/broken.zip", b"PK\x03\x04 this is not really a zip");
    dir.write(
        "rules/wrong.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    let before = snapshot(&dir.join("logs"));
    let out = hunt_folder(&dir, &[]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "the broken zip: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("broken.zip"), "{}", stderr(&out));
    let alerts = alerts(&stdout(&out));
    let mut seen: Vec<(String, String)> = alerts
        .iter()
        .map(|a| {
            let file = a["source"]["file"].as_str().unwrap();
            let file = &file[file.find("logs/").unwrap() + 5..];
            (
                file.to_string(),
                a["event"]["TargetUserName"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen,
        [
            ("Security.evtx.gz".to_string(), "alice".to_string()),
            (
                "kape.zip:../../escape.evtx".to_string(),
                "carol".to_string()
            ),
            (
                "kape.zip:C/Windows/System32/winevt/Logs/Security.evtx".to_string(),
                "bob".to_string()
            ),
        ]
    );
    assert_eq!(alerts.len(), 6);
    // Nothing was unpacked, written or touched, and the odd member name stayed a label.
    assert_eq!(snapshot(&dir.join("logs")), before);
    assert!(!dir.path().join("escape.evtx").exists());
    assert!(!Path::new("../../escape.evtx").exists());
    // Globs reach inside archives.
    let out = hunt_folder(&dir, &["--include", "Security.evtx"]);
    let alerts = support::alerts(&stdout(&out));
    assert_eq!(alerts.len(), 2, "{}", stderr(&out));
    assert!(
        alerts[0]["source"]["file"]
            .as_str()
            .unwrap()
            .contains("kape.zip:C/")
    );
}

#[test]
fn damaged_archives_are_reported_and_the_rest_is_read() {
    let dir = TempDir::new("damaged-archives");
    // A zip whose first member's compressed bytes are damaged: the member is reported, the
    // other member is read.
    let syslog = "<4>Jan 10 02:00:00 gw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.9 DST=10.0.0.5 PROTO=TCP SPT=51000 DPT=3389 SYN\n".repeat(200);
    let mut collection = zip(&[
        ("fw/damaged.log", syslog.as_bytes()),
        ("fw/intact.log", syslog.as_bytes()),
    ]);
    let name_at = collection
        .windows(b"fw/damaged.log".len())
        .position(|w| w == b"fw/damaged.log")
        .unwrap();
    for byte in &mut collection[name_at + 40..name_at + 60] {
        *byte ^= 0x5a;
    }
    dir.write("logs/collection.zip", collection);
    // A gzip file cut short: what decompressed before the cut is read, and the cut reported.
    let many: String = (0..30_000)
        .map(|i| format!("<4>Jan 10 02:00:00 gw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.9 DST=10.0.0.5 PROTO=TCP SPT={i} DPT=3389 ID={} SYN\n", i * 7919 % 65536))
        .collect();
    let mut cut = gzip(many.as_bytes());
    cut.truncate(cut.len() * 2 / 3);
    dir.write("logs/fw.log.gz", cut);
    dir.write("rules/denied.yml", DENIED_RDP_RULE);
    let out = hunt_folder(&dir, &["--year", "2026"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("collection.zip:fw/damaged.log"), "{err}");
    assert!(err.contains("fw.log.gz"), "{err}");
    let alerts = alerts(&stdout(&out));
    let from = |name: &str| {
        alerts
            .iter()
            .filter(|a| a["source"]["file"].as_str().unwrap().ends_with(name))
            .count()
    };
    assert_eq!(from("collection.zip:fw/intact.log"), 200, "{err}");
    let from_cut = from("fw.log.gz");
    assert!(
        from_cut > 1000 && from_cut < 30_000,
        "{from_cut} lines before the cut"
    );
}

#[test]
fn json_lines_of_every_shape_are_hunted_like_evtx() {
    let dir = TempDir::new("json");
    let lines = [
        // evtx_dump
        r##"{"Event":{"#attributes":{"xmlns":"http://schemas.microsoft.com/win/2004/08/events/event"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing"}},"EventID":4625,"TimeCreated":{"#attributes":{"SystemTime":"2024-05-01T09:00:00.000000Z"}},"EventRecordID":11,"Channel":"Security","Computer":"DC01"},"EventData":{"TargetUserName":"alice","SubStatus":"0xC000006A","IpAddress":"10.0.0.5"}}}"##,
        // Winlogbeat
        r#"{"@timestamp":"2024-05-01T09:00:01Z","winlog":{"channel":"Security","event_id":4625,"computer_name":"DC02","record_id":12,"event_data":{"TargetUserName":"bob","SubStatus":"0xC000006A"}}}"#,
        // flat
        r#"{"EventID":4625,"Channel":"Security","Computer":"DC03","TimeCreated":"2024-05-01T09:00:02Z","TargetUserName":"carol","SubStatus":"0xc000006a"}"#,
        // a flat event of another channel, and one that is not JSON
        r#"{"EventID":4625,"Channel":"Application","TargetUserName":"dave","SubStatus":"0xC000006A"}"#,
        "{oops",
    ];
    dir.write("logs/events.jsonl", lines.join("\n"));
    dir.write(
        "rules/wrong.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    let out = hunt_folder(&dir, &[]);
    assert_eq!(out.status.code(), Some(4), "one line is not JSON");
    assert!(
        stderr(&out).contains("line 5: not JSON at column 2: key must be a string"),
        "{}",
        stderr(&out)
    );
    let alerts = alerts(&stdout(&out));
    let users: Vec<&str> = alerts
        .iter()
        .map(|a| a["event"]["TargetUserName"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["alice", "bob", "carol"]);
    assert_eq!(alerts[0]["record_id"], 11);
    assert_eq!(alerts[1]["host"], "DC02");
    assert_eq!(alerts[2]["source"]["format"], "json");
    assert_eq!(alerts[2]["record_id"], 3, "no record id: the line number");
}

#[test]
fn stdin_alerts_come_out_as_events_go_in() {
    let dir = TempDir::new("stdin");
    dir.write(
        "rules/wrong.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    dir.write(
        "rules/bf.yml",
        "title: Brute force\nid: bf\ngenerate: true\ncorrelation:\n  type: event_count\n  rules: [wrong-pw]\n  group-by: [IpAddress]\n  timespan: 1m\n  condition: {gte: 3}\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_tansa"))
        .args(["hunt", "-", "-r", s(&dir.join("rules")), "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let line = |time: &str| {
        format!(
            r#"{{"EventID":4625,"Channel":"Security","Computer":"DC01","TimeCreated":"2024-05-01T{time}Z","SubStatus":"0xC000006A","IpAddress":"10.0.0.5"}}"#
        ) + "\n"
    };
    let mut read_alert = || {
        let mut text = String::new();
        stdout.read_line(&mut text).unwrap();
        let alert: serde_json::Value = serde_json::from_str(&text).unwrap();
        alert
    };
    // Each event's alert arrives while the pipe is still open.
    for second in 0..3 {
        stdin
            .write_all(line(&format!("09:00:{second:02}")).as_bytes())
            .unwrap();
        stdin.flush().unwrap();
        let alert = read_alert();
        assert_eq!(alert["kind"], "detection");
        assert_eq!(alert["record_id"], second + 1);
    }
    // The burst's alert comes once it is over: here, when an event a window later shows
    // that it has ended. That event's own alert comes with it.
    stdin.write_all(line("09:01:59").as_bytes()).unwrap();
    stdin.flush().unwrap();
    let first = read_alert();
    let second = read_alert();
    let kinds = [first["kind"].clone(), second["kind"].clone()];
    assert!(kinds.contains(&"correlation".into()), "{first}\n{second}");
    drop(stdin);
    let rest: Vec<String> = stdout.lines().map(Result::unwrap).collect();
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn events_shows_what_rules_see() {
    let dir = TempDir::new("events");
    dir.write("logs/Security.evtx", security_log("alice"));
    dir.write(
        "logs/app.jsonl",
        r#"{"time":"2024-05-01T09:00:00Z","user":{"name":"bob"},"tags":["a","b"]}"#,
    );
    let out = tansa(&["events", s(&dir.join("logs"))]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 3);
    // Files in path order (bytewise: `Security.evtx` before `app.jsonl`).
    assert_eq!(events[0]["fields"]["TargetUserName"], "alice");
    assert_eq!(events[0]["fields"]["EventID"], "4625");
    assert_eq!(events[0]["source"]["format"], "evtx");
    assert_eq!(events[0]["time"], "2024-05-01T09:00:00.0000000Z");
    assert_eq!(events[1]["record_id"], 2);
    assert_eq!(events[2]["fields"]["user.name"], "bob");
    assert_eq!(events[2]["fields"]["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(events[2]["source"]["format"], "json");
    // The same on stdin.
    let mut child = Command::new(env!("CARGO_BIN_EXE_tansa"))
        .args(["events", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"a\":1}\n{\"a\":2}\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
}

/// One denied RDP connection (203.0.113.9 → 10.0.0.5:3389, 2026-01-10 02:00:00 UTC) as each
/// device format writes it.
const DENIED_RDP: [(&str, &str); 10] = [
    (
        "fortinet",
        r#"<189>date=2026-01-10 time=02:00:00 devname="FGT60E" logid="0000000013" type="traffic" subtype="forward" tz="+0000" srcip=203.0.113.9 srcport=51000 dstip=10.0.0.5 dstport=3389 proto=6 action="deny" policyid=0"#,
    ),
    (
        "cisco",
        r#"<164>Jan 10 2026 02:00:00 asa01 : %ASA-4-106023: Deny tcp src outside:203.0.113.9/51000 dst inside:10.0.0.5/3389 by access-group "outside_access_in" [0x0, 0x0]"#,
    ),
    (
        "paloalto",
        "<14>Jan 10 02:00:00 pa01 1,2026/01/10 02:00:00,012801000001,TRAFFIC,drop,2561,2026/01/10 02:00:00,203.0.113.9,10.0.0.5,0.0.0.0,0.0.0.0,deny-all,,,not-applicable,vsys1,untrust,trust,ethernet1/1,,default,2026/01/10 02:00:00,0,1,51000,3389,0,0,0x0,tcp,deny,66,66,0,1,2026/01/10 02:00:00,0,any,0,1234,0x0,US,10.0.0.0-10.255.255.255,0,1,0,policy-deny,0,0,0,0,,pa01,from-policy",
    ),
    (
        "juniper",
        r#"<14>1 2026-01-10T02:00:00Z srx01 RT_FLOW - RT_FLOW_SESSION_DENY [junos@2636.1.1.1.2.129 source-address="203.0.113.9" source-port="51000" destination-address="10.0.0.5" destination-port="3389" protocol-id="6" policy-name="deny-all"]"#,
    ),
    (
        "pfsense",
        "<134>Jan 10 02:00:00 pfsense filterlog[1234]: 5,,,1000000103,igb0,match,block,in,4,0x0,,64,12345,0,DF,6,tcp,60,203.0.113.9,10.0.0.5,51000,3389,0,S,123456,,64240,,mss",
    ),
    (
        "netfilter",
        "<4>Jan 10 02:00:00 gw kernel: [12345.678] [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.9 DST=10.0.0.5 LEN=60 PROTO=TCP SPT=51000 DPT=3389 SYN URGP=0",
    ),
    (
        "checkpoint",
        "<134>Jan 10 02:00:00 cp01 CEF:0|Check Point|VPN-1 & FireWall-1|R81|Drop|Drop|5|rt=1768010400000 src=203.0.113.9 spt=51000 dst=10.0.0.5 dpt=3389 proto=TCP act=Drop",
    ),
    (
        "sonicwall",
        r#"<134>Jan 10 02:00:00 198.51.100.1 id=firewall sn=0017C5000000 time="2026-01-10 02:00:00 UTC" fw=198.51.100.1 pri=6 m=36 msg="TCP packet dropped" src=203.0.113.9:51000:X1 dst=10.0.0.5:3389:X0 proto=tcp/3389 fw_action="drop""#,
    ),
    (
        "sophos",
        r#"<30>device_name="SFW" timestamp="2026-01-10T02:00:00+0000" log_type="Firewall" log_component="Firewall Rule" log_subtype="Denied" status="Deny" src_ip="203.0.113.9" dst_ip="10.0.0.5" protocol="TCP" src_port=51000 dst_port=3389"#,
    ),
    (
        "",
        "<14>1 2026-01-10T02:00:00Z fw01 firewall - - - action=deny src_ip=203.0.113.9 src_port=51000 dst_ip=10.0.0.5 dst_port=3389 protocol=tcp",
    ),
];

const DENIED_RDP_RULE: &str = "title: Denied RDP\nid: denied-rdp\nlevel: low\nlogsource:\n  category: firewall\ndetection:\n  selection:\n    dst_port: 3389\n    action: deny\n    src_ip|cidr: 203.0.113.0/24\n  condition: selection\n";

#[test]
fn syslog_of_every_device_meets_one_firewall_rule() {
    let dir = TempDir::new("syslog-vendors");
    let mut text: String = DENIED_RDP
        .iter()
        .map(|(_, line)| format!("{line}\n"))
        .collect();
    // A line in no known format, invalid UTF-8, a NUL byte and a long line are events too.
    text.push_str("this is not syslog at all\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"<13>Jan 10 02:00:01 host app: caf\xe9 \x00 end\n");
    bytes.extend_from_slice(
        format!("<13>Jan 10 02:00:02 host app: {}\n", "x".repeat(2 << 20)).as_bytes(),
    );
    dir.write("logs/firewalls.log", &bytes);
    dir.write("rules/denied.yml", DENIED_RDP_RULE);
    let out = hunt_folder(&dir, &["--year", "2026"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let alerts = alerts(&stdout(&out));
    assert_eq!(alerts.len(), DENIED_RDP.len(), "{}", stdout(&out));
    for (alert, (vendor, _)) in alerts.iter().zip(DENIED_RDP) {
        let fields = &alert["event"];
        assert_eq!(alert["time"], "2026-01-10T02:00:00.0000000Z", "{alert}");
        assert_eq!(alert["source"]["format"], "syslog");
        assert_eq!(alert["channel"], "syslog", "{alert}");
        assert_eq!(fields["src_ip"], "203.0.113.9", "{alert}");
        assert_eq!(fields["dst_ip"], "10.0.0.5", "{alert}");
        if !vendor.is_empty() {
            assert_eq!(fields["vendor"], *vendor, "{alert}");
        }
    }
    // Every line is an event; nothing is dropped.
    let events = tansa(&["events", s(&dir.join("logs")), "--year", "2026"]);
    assert_eq!(events.status.code(), Some(0), "{}", stderr(&events));
    let events: Vec<serde_json::Value> = stdout(&events)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), DENIED_RDP.len() + 3);
    assert_eq!(events[10]["fields"]["message"], "this is not syslog at all");
    assert_eq!(events[11]["fields"]["message"], "caf\u{fffd} \u{0} end");
    assert_eq!(
        events[12]["fields"]["message"].as_str().unwrap().len(),
        2 << 20
    );
}

#[test]
fn year_and_zone_fill_what_bsd_timestamps_leave_out() {
    let dir = TempDir::new("syslog-year");
    let line = "<4>Jan 10 02:00:00 gw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.9 DST=10.0.0.5 PROTO=TCP SPT=51000 DPT=3389 SYN\n";
    let log = dir.write("logs/ufw.log", line);
    dir.write("rules/denied.yml", DENIED_RDP_RULE);
    let rules = dir.join("rules");
    let time_of = |extra: &[&str]| {
        let mut args = vec!["hunt", s(&log), "-r", s(&rules), "-q"];
        args.extend_from_slice(extra);
        let out = tansa(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        alerts(&stdout(&out))[0]["time"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        time_of(&["--year", "2025", "--syslog-tz", "Asia/Tokyo"]),
        "2025-01-09T17:00:00.0000000Z"
    );
    assert_eq!(
        time_of(&["--year", "2025", "--syslog-tz", "+05:30"]),
        "2025-01-09T20:30:00.0000000Z"
    );
    // Without --year, the year the file was last modified; without a zone, UTC.
    let set_modified = |time: &str| {
        let time: jiff::Timestamp = time.parse().unwrap();
        std::fs::File::options()
            .write(true)
            .open(&log)
            .unwrap()
            .set_modified(std::time::SystemTime::from(time))
            .unwrap();
    };
    set_modified("2023-06-01T12:00:00Z");
    assert_eq!(time_of(&[]), "2023-01-10T02:00:00.0000000Z");
    // A log last written early in January has its December lines in the year before.
    dir.write(
        "logs/ufw.log",
        line.replace("Jan 10 02:00:00", "Dec 31 23:59:59"),
    );
    set_modified("2024-01-01T00:10:00Z");
    assert_eq!(time_of(&[]), "2023-12-31T23:59:59.0000000Z");
    // A zone in the line wins over --syslog-tz.
    dir.write(
        "logs/ufw.log",
        "<4>2025-01-10T02:00:00+01:00 gw kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.9 DST=10.0.0.5 PROTO=TCP SPT=51000 DPT=3389 SYN\n",
    );
    assert_eq!(
        time_of(&["--syslog-tz", "Asia/Tokyo"]),
        "2025-01-10T01:00:00.0000000Z"
    );
}

/// Runs tansa with `input` on stdin.
fn tansa_with_stdin(args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tansa"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

#[test]
fn stdin_takes_gzip_a_byte_order_mark_and_blank_lines_and_refuses_evtx() {
    let dir = TempDir::new("stdin-kinds");
    dir.write("rules/denied.yml", DENIED_RDP_RULE);
    let rules = dir.join("rules");
    let hunt = ["hunt", "-", "-r", s(&rules), "--year", "2026", "-q"];
    // Syslog, gzip-compressed, with blank lines between.
    let text = format!("{}\n\n{}\n   \n", DENIED_RDP[5].1, DENIED_RDP[1].1);
    let out = tansa_with_stdin(&hunt, &gzip(text.as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(alerts(&stdout(&out)).len(), 2);
    // JSON lines behind a byte order mark, with a blank line.
    let json = "\u{feff}{\"Channel\":\"syslog\",\"dst_port\":\"3389\",\"action\":\"deny\",\"src_ip\":\"203.0.113.7\"}\n\n";
    let out = tansa_with_stdin(&hunt, json.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let alerts = alerts(&stdout(&out));
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["source"]["format"], "json");
    // `tansa events -` reads the same way.
    let out = tansa_with_stdin(&["events", "-"], &gzip(text.as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 2);
    // EVTX needs its file.
    let out = tansa_with_stdin(&hunt, &security_log("alice"));
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("give its path"), "{}", stderr(&out));
}

#[test]
fn globs_choose_the_members_of_a_zip_named_on_the_command_line() {
    let dir = TempDir::new("zip-named");
    let archive = dir.write(
        "kape.zip",
        zip(&[
            (
                "C/Windows/System32/winevt/Logs/Security.evtx",
                &security_log("bob"),
            ),
            (
                "C/Windows/System32/winevt/Logs/Other.evtx",
                &security_log("carol"),
            ),
        ]),
    );
    dir.write(
        "rules/wrong.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    let out = tansa(&[
        "hunt",
        s(&archive),
        "-r",
        s(&dir.join("rules")),
        "--include",
        "Security.evtx",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let users: Vec<String> = alerts(&stdout(&out))
        .iter()
        .map(|a| a["event"]["TargetUserName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(users, ["bob", "bob"]);
}
