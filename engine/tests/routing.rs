//! Which events a rule sees: channels, event ids, categories and their field renames.

mod common;

use common::*;
use tansa_engine::compile::Options;
use tansa_engine::logsource::Mapping;

const SECURITY_1102: &str = "title: Security log cleared
id: security-1102
logsource:
  product: windows
  service: security
detection:
  selection:
    EventID: 1102
  condition: selection
";

const RDP_CLIENT_1102: &str = "title: Outgoing RDP
id: rdpclient-1102
logsource:
  product: windows
  service: terminalservices-rdpclient
detection:
  selection:
    EventID: 1102
  condition: selection
";

#[test]
fn security_1102_and_rdp_client_1102_never_meet() {
    let p = program(&format!("{SECURITY_1102}---\n{RDP_CLIENT_1102}"));
    let security = event(&p, &[("Channel", "Security"), ("EventID", "1102")], &[]);
    assert_eq!(matching(&p, &security), ["security-1102"]);
    let rdp = event(
        &p,
        &[
            (
                "Channel",
                "Microsoft-Windows-TerminalServices-RDPClient/Operational",
            ),
            ("EventID", "1102"),
        ],
        &[("Value", "10.0.0.5")],
    );
    assert_eq!(matching(&p, &rdp), ["rdpclient-1102"]);
    let system = event(&p, &[("Channel", "System"), ("EventID", "1102")], &[]);
    assert!(matching(&p, &system).is_empty());
}

#[test]
fn channel_names_match_ignoring_ascii_case() {
    let p = program(SECURITY_1102);
    let e = event(&p, &[("Channel", "SECURITY"), ("EventID", "1102")], &[]);
    assert_eq!(matching(&p, &e), ["security-1102"]);
}

#[test]
fn process_creation_reads_sysmon_1_and_security_4688_with_renamed_fields() {
    let p = program(
        "title: cmd
id: cmd
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    Image|endswith: '\\cmd.exe'
  condition: selection
",
    );
    let sysmon = event(
        &p,
        &[
            ("Channel", "Microsoft-Windows-Sysmon/Operational"),
            ("EventID", "1"),
        ],
        &[("Image", "C:\\Windows\\System32\\cmd.exe")],
    );
    assert_eq!(matching(&p, &sysmon), ["cmd"]);
    let security = event(
        &p,
        &[("Channel", "Security"), ("EventID", "4688")],
        &[("NewProcessName", "C:\\Windows\\System32\\cmd.exe")],
    );
    assert_eq!(matching(&p, &security), ["cmd"]);
    // The same field on another Sysmon event id is not a process creation.
    let other = event(
        &p,
        &[
            ("Channel", "Microsoft-Windows-Sysmon/Operational"),
            ("EventID", "3"),
        ],
        &[("Image", "C:\\Windows\\System32\\cmd.exe")],
    );
    assert!(matching(&p, &other).is_empty());
}

#[test]
fn category_conditions_beyond_the_event_id_apply() {
    let p = program(
        "title: key
id: key
logsource:
  product: windows
  category: registry_add
detection:
  selection:
    TargetObject|contains: '\\Run\\'
  condition: selection
",
    );
    let sysmon = &[
        ("Channel", "Microsoft-Windows-Sysmon/Operational"),
        ("EventID", "12"),
    ];
    let create = event(
        &p,
        sysmon,
        &[
            ("EventType", "CreateKey"),
            ("TargetObject", "HKLM\\x\\Run\\y"),
        ],
    );
    assert_eq!(matching(&p, &create), ["key"]);
    let delete = event(
        &p,
        sysmon,
        &[
            ("EventType", "DeleteKey"),
            ("TargetObject", "HKLM\\x\\Run\\y"),
        ],
    );
    assert!(matching(&p, &delete).is_empty());
}

#[test]
fn other_products_read_syslog_and_unknown_ones_stay_idle() {
    let p = program(
        "title: linux
id: linux
logsource:
  product: linux
  service: auth
detection:
  keywords: ['Failed password']
  condition: keywords
---
title: fortigate
id: fortigate
logsource:
  product: fortigate
detection:
  selection: {action: deny}
  condition: selection
---
title: zeek
id: zeek
logsource:
  product: zeek
  service: dns
detection:
  selection: {query: x}
  condition: selection
",
    );
    assert_eq!(p.rules().len(), 3);
    assert_eq!(p.idle().len(), 1);
    assert!(p.idle()[0].reason.contains("zeek"));
    let sshd = |channel: &str| {
        event(
            &p,
            &[("Channel", channel)],
            &[("message", "Failed password for root from 203.0.113.5")],
        )
    };
    assert_eq!(matching(&p, &sshd("syslog")), ["linux"]);
    assert!(matching(&p, &sshd("Security")).is_empty());
    // A device rule also needs the device: the parser's `product`.
    let deny = |product: &str| {
        event(
            &p,
            &[("Channel", "syslog")],
            &[("product", product), ("action", "deny")],
        )
    };
    assert_eq!(matching(&p, &deny("fortigate")), ["fortigate"]);
    assert!(matching(&p, &deny("asa")).is_empty());
}

#[test]
fn a_rule_whose_event_ids_never_occur_in_its_source_is_idle() {
    let p = program(
        "title: odd
id: odd
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    EventID: 4688
    NewProcessName|endswith: '\\x.exe'
  condition: selection
",
    );
    // Sysmon 1 cannot be 4688; only the Security target remains.
    assert_eq!(p.compiled_rules().len(), 1);
    assert_eq!(p.compiled_rules()[0].service.as_deref(), Some("security"));
}

#[test]
fn keyword_rules_for_all_windows_channels() {
    let p = program(
        "title: mimikatz
id: mimi
logsource:
  product: windows
detection:
  keywords: ['sekurlsa::logonpasswords']
  condition: keywords
",
    );
    for channel in [
        "Security",
        "Microsoft-Windows-PowerShell/Operational",
        "Some/Custom",
    ] {
        let e = event(
            &p,
            &[("Channel", channel), ("EventID", "1")],
            &[("X", "sekurlsa::LogonPasswords")],
        );
        assert_eq!(matching(&p, &e), ["mimi"], "{channel}");
    }
}

#[test]
fn a_mapping_file_adds_channels() {
    let mut mapping = Mapping::builtin();
    mapping
        .merge_text("services:\n  security: [Security, ForwardedEvents]\n")
        .unwrap();
    let p = program_with(
        SECURITY_1102,
        &Options {
            mapping,
            ..Options::default()
        },
    );
    let forwarded = event(
        &p,
        &[("Channel", "ForwardedEvents"), ("EventID", "1102")],
        &[],
    );
    assert_eq!(matching(&p, &forwarded), ["security-1102"]);
}

#[test]
fn every_spelling_of_a_channel_reads_the_rules_of_all_of_them() {
    // One service names the channel as Windows spells it, another in lowercase: a record
    // meets both rules whichever way its channel is written.
    let mut mapping = Mapping::builtin();
    mapping
        .merge_text("services:\n  audit-lower: [security]\n")
        .unwrap();
    let lower = SECURITY_1102
        .replace("id: security-1102", "id: lower-1102")
        .replace("service: security", "service: audit-lower");
    let p = program_with(
        &format!("{SECURITY_1102}---\n{lower}"),
        &Options {
            mapping,
            ..Options::default()
        },
    );
    for spelling in ["Security", "security", "SECURITY"] {
        let e = event(&p, &[("Channel", spelling), ("EventID", "1102")], &[]);
        assert_eq!(
            matching(&p, &e),
            ["lower-1102", "security-1102"],
            "channel spelled {spelling}"
        );
    }
}

#[test]
fn payload_channel_shadows_the_header_for_rules() {
    // Event 104 names the log it cleared in a payload field called Channel.
    let p = program(
        "title: security cleared via 104
id: c104
logsource:
  product: windows
  service: system
detection:
  selection:
    EventID: 104
    Channel: Security
  condition: selection
",
    );
    let e = event(
        &p,
        &[("Channel", "System"), ("EventID", "104")],
        &[("Channel", "Security")],
    );
    assert_eq!(matching(&p, &e), ["c104"]);
    let other = event(
        &p,
        &[("Channel", "System"), ("EventID", "104")],
        &[("Channel", "Application")],
    );
    assert!(matching(&p, &other).is_empty());
}

#[test]
fn gated_rules_still_match_in_large_buckets() {
    // Twenty rules in one bucket makes the bucket gate its rules on their literals.
    let mut yaml = String::new();
    for i in 0..20 {
        yaml.push_str(&format!(
            "title: r{i}\nid: r{i}\nlogsource:\n  product: windows\n  category: process_creation\ndetection:\n  selection:\n    CommandLine|contains: 'tool{i} '\n  filter:\n    Image|endswith: '\\safe.exe'\n  condition: selection and not filter\n---\n"
        ));
    }
    yaml.push_str("title: regex\nid: regex\nlogsource:\n  product: windows\n  category: process_creation\ndetection:\n  selection:\n    CommandLine|re: 'x[0-9]+y'\n  condition: selection\n");
    let p = program(&yaml);
    let sysmon = &[
        ("Channel", "Microsoft-Windows-Sysmon/Operational"),
        ("EventID", "1"),
    ];
    let e = event(
        &p,
        sysmon,
        &[
            ("CommandLine", "run TOOL7 now x42y"),
            ("Image", "C:\\a.exe"),
        ],
    );
    assert_eq!(matching(&p, &e), ["r7", "regex"]);
    let e = event(
        &p,
        sysmon,
        &[("CommandLine", "run tool7 now"), ("Image", "C:\\safe.exe")],
    );
    assert!(matching(&p, &e).is_empty());
}

/// A record is read for the fields its candidate rules read: those they test, those a
/// `fieldref` compares with, and those their matches carry to a correlation; a keyword
/// search reads everything.
#[test]
fn a_record_is_read_for_the_fields_its_rules_read() {
    let p = program(
        "title: logon
id: logon
name: logon
logsource: {product: windows, service: security}
detection:
  sel:
    EventID: 4624
    TargetUserName|fieldref: SubjectUserName
  condition: sel
---
title: failure
id: failure
name: failure
logsource: {product: windows, service: security}
detection:
  sel:
    EventID: 4625
    Status: '0xc000006a'
  condition: sel
---
title: burst
id: burst
correlation:
  type: event_count
  rules: [failure]
  group-by: [IpAddress]
  timespan: 5m
  condition: {gte: 10}
---
title: anywhere in system
id: anywhere
logsource: {product: windows, service: system}
detection:
  keywords: [mimikatz]
  condition: keywords
",
    );
    let ids =
        |names: &[&str]| -> Vec<Option<u32>> { names.iter().map(|n| p.fields().get(n)).collect() };
    let wanted = |channel: &str, event_id: &str, names: &[&str]| -> Vec<bool> {
        let e = event(&p, &[("Channel", channel), ("EventID", event_id)], &[]);
        let wanted = p.candidates(&e).wanted();
        assert!(!wanted.is_everything(), "{channel} {event_id}");
        ids(names)
            .into_iter()
            .map(|id| wanted.contains(id))
            .collect()
    };
    let names = [
        "TargetUserName",
        "SubjectUserName",
        "Status",
        "IpAddress",
        "LogonType",
    ];
    assert_eq!(
        wanted("Security", "4624", &names),
        [true, true, false, false, false]
    );
    assert_eq!(
        wanted("Security", "4625", &names),
        [false, false, true, true, false]
    );
    // A keyword search reads every value of a record that may hold its keyword: the reader
    // looks at the record's strings first (see `keyword_filter`), and until then every
    // field is wanted.
    let system = event(&p, &[("Channel", "System"), ("EventID", "7045")], &[]);
    let system_wanted = p.candidates(&system).wanted();
    assert_eq!(system_wanted.keyword_filters().count(), 1);
    assert!(system_wanted.contains(None) && !system_wanted.is_everything());
    let without_filters = system_wanted.without_keyword_filters();
    assert!(!without_filters.contains(p.fields().get("TargetUserName")));
    // Before its rules are known, a record's header is read for every rule: not whole for a
    // keyword only a string can hold (the reader reads a record that may hold it again
    // whole), whole for one that a number could hold too.
    assert!(!p.header_wanted().is_everything());
    let number = program(
        "title: a number anywhere\nid: n\nlogsource: {product: windows, service: system}\n\
         detection:\n  keywords: ['4624']\n  condition: keywords\n",
    );
    assert!(number.header_wanted().is_everything());
    assert!(number.candidates(&system).wanted().is_everything());
    let without_keywords = program(&security_rule(
        "  sel:\n    EventID: 4624\n    Level: 4\n  condition: sel\n",
    ));
    let header = without_keywords.header_wanted();
    assert!(!header.is_everything());
    let fields = without_keywords.fields();
    let header_has = |name: &str| header.contains(fields.get(name));
    for name in [
        "EventID",
        "Channel",
        "Computer",
        "Provider_Name",
        "TimeCreated",
        "Level",
    ] {
        assert!(header_has(name), "{name}");
    }
    assert!(!header_has("Keywords"));
}
