//! Sigma detection semantics: every modifier and condition form, with the tricky cases.

mod common;

use common::*;
use tansa_engine::compile::{Options, Placeholders};

fn rule(detection: &str) -> tansa_engine::compile::Program {
    program(&security_rule(detection))
}

#[test]
fn plain_values_are_case_insensitive_strings() {
    let p = rule("  sel:\n    TargetUserName: Admin\n  condition: sel\n");
    assert!(hits(&p, &[("TargetUserName", "ADMIN")]));
    assert!(hits(&p, &[("TargetUserName", "admin")]));
    assert!(!hits(&p, &[("TargetUserName", "admin2")]));
    assert!(!hits(&p, &[("Other", "admin")]));
}

#[test]
fn numbers_match_their_text_and_keep_their_spelling() {
    let p = rule("  sel:\n    LogonType: 10\n  condition: sel\n");
    assert!(hits(&p, &[("LogonType", "10")]));
    assert!(!hits(&p, &[("LogonType", "100")]));
    // A leading zero is text, not the number 429.
    let p = rule("  sel:\n    Details|contains: 00000429\n  condition: sel\n");
    assert!(hits(&p, &[("Details", "DWORD (0x00000429)")]));
    assert!(!hits(&p, &[("Details", "429")]));
    let p = rule("  sel:\n    Version: 1.10\n  condition: sel\n");
    assert!(hits(&p, &[("Version", "1.10")]));
    assert!(!hits(&p, &[("Version", "1.1")]));
    let p = rule("  sel:\n    Signed: true\n  condition: sel\n");
    assert!(hits(&p, &[("Signed", "True")]));
}

#[test]
fn maps_are_and_lists_are_or() {
    let p = rule("  sel:\n    A: x\n    B: [y, z]\n  condition: sel\n");
    assert!(hits(&p, &[("A", "x"), ("B", "z")]));
    assert!(!hits(&p, &[("A", "x"), ("B", "w")]));
    assert!(!hits(&p, &[("B", "y")]));
    let p = rule("  sel:\n    - A: x\n    - B: y\n  condition: sel\n");
    assert!(hits(&p, &[("B", "y")]));
    assert!(hits(&p, &[("A", "x")]));
    assert!(!hits(&p, &[("A", "y")]));
}

#[test]
fn wildcards_and_escapes() {
    let p = rule("  sel:\n    F: 'a*b?c'\n  condition: sel\n");
    assert!(hits(&p, &[("F", "aXXbYc")]));
    assert!(hits(&p, &[("F", "ab!c")]));
    assert!(!hits(&p, &[("F", "abc")]));
    // Escaped wildcards are literal.
    let p = rule("  sel:\n    F: 'select \\*'\n  condition: sel\n");
    assert!(hits(&p, &[("F", "select *")]));
    assert!(!hits(&p, &[("F", "select x")]));
    let p = rule("  sel:\n    F: 'why\\?'\n  condition: sel\n");
    assert!(hits(&p, &[("F", "why?")]));
    assert!(!hits(&p, &[("F", "whyx")]));
    // `\\*`: a literal backslash, then a wildcard.
    let p = rule("  sel:\n    F: '\\\\*\\IPC$'\n  condition: sel\n");
    assert!(hits(&p, &[("F", "\\\\server\\IPC$")]));
    // A backslash before an ordinary character, and a trailing one, stay literal.
    let p = rule("  sel:\n    F|startswith: 'C:\\Windows\\'\n  condition: sel\n");
    assert!(hits(&p, &[("F", "c:\\windows\\system32\\x.exe")]));
    assert!(!hits(&p, &[("F", "c:\\windowsX")]));
}

#[test]
fn contains_startswith_endswith_and_all() {
    let p = rule("  sel:\n    F|contains: MiMi\n  condition: sel\n");
    assert!(hits(&p, &[("F", "xxmimikatzxx")]));
    assert!(!hits(&p, &[("F", "mim")]));
    let p = rule("  sel:\n    F|startswith: abc\n  condition: sel\n");
    assert!(hits(&p, &[("F", "ABCdef")]));
    assert!(!hits(&p, &[("F", "xabc")]));
    let p = rule("  sel:\n    F|endswith: '\\cmd.exe'\n  condition: sel\n");
    assert!(hits(&p, &[("F", "C:\\Windows\\CMD.EXE")]));
    assert!(!hits(&p, &[("F", "C:\\cmd.exe.bak")]));
    let p = rule("  sel:\n    F|contains|all: [' -a', ' -b']\n  condition: sel\n");
    assert!(hits(&p, &[("F", "x -b -a")]));
    assert!(!hits(&p, &[("F", "x -a")]));
}

#[test]
fn contains_finds_needles_that_overlap_with_few_needles_on_a_field_and_with_many() {
    // Up to 64 needles on a field, a gate says whether any occurs before the automaton
    // finds them all; past 64 there is no gate. Either way a needle found first must not
    // hide the ones that overlap it.
    for fillers in [0, 70] {
        let filler: Vec<String> = (0..fillers).map(|i| format!("'zz{i}zz'")).collect();
        let p = rule(&format!(
            "  sel:\n    F|contains|all: [abc, bcd, cd, d]\n  other:\n    F|contains: [{}]\n  \
             condition: sel or other\n",
            if filler.is_empty() {
                "qqq".to_string()
            } else {
                filler.join(", ")
            }
        ));
        assert!(hits(&p, &[("F", "xABCDx")]), "{fillers} fillers");
        assert!(!hits(&p, &[("F", "xabcx")]), "{fillers} fillers");
        assert!(hits(&p, &[("F", "zz69zz")]) == (fillers == 70));
    }
}

#[test]
fn null_empty_and_absent() {
    let null = rule("  sel:\n    F: null\n  condition: sel\n");
    let empty = rule("  sel:\n    F: ''\n  condition: sel\n");
    // Absent.
    assert!(hits(&null, &[("G", "x")]));
    assert!(!hits(&empty, &[("G", "x")]));
    // Present and empty.
    assert!(!hits(&null, &[("F", "")]));
    assert!(hits(&empty, &[("F", "")]));
    // Present with a value.
    assert!(!hits(&null, &[("F", "x")]));
    assert!(!hits(&empty, &[("F", "x")]));
    // `not null` is how rules say "the field exists".
    let not_null = rule("  sel:\n    F: null\n  condition: not sel\n");
    assert!(hits(&not_null, &[("F", "")]));
    assert!(!hits(&not_null, &[]));
    // `*` matches any value of a present field, even an empty one.
    let any = rule("  sel:\n    F: '*'\n  condition: sel\n");
    assert!(hits(&any, &[("F", "")]));
    assert!(!hits(&any, &[]));
}

#[test]
fn exists() {
    let p = rule("  sel:\n    F|exists: true\n  condition: sel\n");
    assert!(hits(&p, &[("F", "")]));
    assert!(!hits(&p, &[]));
    let p = rule("  sel:\n    F|exists: false\n  condition: sel\n");
    assert!(!hits(&p, &[("F", "x")]));
    assert!(hits(&p, &[]));
}

#[test]
fn cased() {
    let p = rule("  sel:\n    F|cased: Admin\n  condition: sel\n");
    assert!(hits(&p, &[("F", "Admin")]));
    assert!(!hits(&p, &[("F", "admin")]));
    let p = rule("  sel:\n    F|contains|cased: Kiwi\n  condition: sel\n");
    assert!(hits(&p, &[("F", "gentilKiwi")]));
    assert!(!hits(&p, &[("F", "gentilkiwi")]));
}

#[test]
fn regex_and_its_flags() {
    let p = rule("  sel:\n    F|re: '^ab+c$'\n  condition: sel\n");
    assert!(hits(&p, &[("F", "abbbc")]));
    // Regexes are case-sensitive by default.
    assert!(!hits(&p, &[("F", "ABBC")]));
    let p = rule("  sel:\n    F|re|i: '^ab+c$'\n  condition: sel\n");
    assert!(hits(&p, &[("F", "ABBC")]));
    let p = rule("  sel:\n    F|re|m: '^second$'\n  condition: sel\n");
    assert!(hits(&p, &[("F", "first\nsecond\nthird")]));
    let p = rule("  sel:\n    F|re: '^second$'\n  condition: sel\n");
    assert!(!hits(&p, &[("F", "first\nsecond\nthird")]));
    let p = rule("  sel:\n    F|re|s: 'a.b'\n  condition: sel\n");
    assert!(hits(&p, &[("F", "a\nb")]));
    let p = rule("  sel:\n    F|re: 'a.b'\n  condition: sel\n");
    assert!(!hits(&p, &[("F", "a\nb")]));
    // No wildcard processing inside a regex.
    let p = rule("  sel:\n    F|re: 'a\\*b'\n  condition: sel\n");
    assert!(hits(&p, &[("F", "a*b")]));
}

#[test]
fn base64_and_base64offset() {
    let p = rule("  sel:\n    F|base64: 'cmd'\n  condition: sel\n");
    assert!(hits(&p, &[("F", "Y21k")]));
    let p = rule("  sel:\n    F|base64|contains: 'cmd'\n  condition: sel\n");
    assert!(hits(&p, &[("F", "xxY21kxx")]));
    // base64offset finds the value at each of the three alignments.
    let p = rule("  sel:\n    F|base64offset|contains: 'whoami /all'\n  condition: sel\n");
    for prefix in ["", "a", "ab", "abc"] {
        let encoded = base64(&format!("{prefix}whoami /all and more"));
        assert!(hits(&p, &[("F", &encoded)]), "prefix {prefix:?}: {encoded}");
    }
    assert!(!hits(&p, &[("F", &base64("whoami /priv"))]));
}

#[test]
fn utf16_encodings_before_base64() {
    // PowerShell -EncodedCommand is base64 of UTF-16LE.
    let p = rule("  sel:\n    F|wide|base64offset|contains: 'Invoke-Mimikatz'\n  condition: sel\n");
    for prefix in ["", "x", "xy"] {
        let text = format!("{prefix}IEX (Invoke-Mimikatz -DumpCreds)");
        let utf16: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        assert!(hits(&p, &[("F", &base64_bytes(&utf16))]), "{prefix:?}");
    }
    let p = rule("  sel:\n    F|utf16le|base64: 'ab'\n  condition: sel\n");
    assert!(hits(&p, &[("F", &base64_bytes(&[b'a', 0, b'b', 0]))]));
    let p = rule("  sel:\n    F|utf16be|base64: 'ab'\n  condition: sel\n");
    assert!(hits(&p, &[("F", &base64_bytes(&[0, b'a', 0, b'b']))]));
    let p = rule("  sel:\n    F|utf16|base64: 'ab'\n  condition: sel\n");
    assert!(hits(
        &p,
        &[("F", &base64_bytes(&[0xff, 0xfe, b'a', 0, b'b', 0]))]
    ));
}

#[test]
fn windash_matches_every_dash() {
    let p = rule("  sel:\n    F|windash|contains: ' -encodedcommand '\n  condition: sel\n");
    for dash in ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'] {
        let value = format!("powershell {dash}EncodedCommand AAAA");
        assert!(hits(&p, &[("F", &value)]), "{dash}");
    }
    assert!(!hits(&p, &[("F", "powershell +EncodedCommand AAAA")]));
}

#[test]
fn cidr_v4_and_v6() {
    let p = rule("  sel:\n    IpAddress|cidr: ['10.0.0.0/8', 'fe80::/10']\n  condition: sel\n");
    assert!(hits(&p, &[("IpAddress", "10.20.30.40")]));
    assert!(hits(&p, &[("IpAddress", "::ffff:10.1.1.1")]));
    assert!(hits(&p, &[("IpAddress", "fe80::1")]));
    assert!(!hits(&p, &[("IpAddress", "192.168.1.1")]));
    assert!(!hits(&p, &[("IpAddress", "-")]));
    // A list's networks are tested together, `all` one by one, null beside them.
    let all =
        rule("  sel:\n    IpAddress|cidr|all: ['10.0.0.0/8', '10.1.0.0/16']\n  condition: sel\n");
    assert!(hits(&all, &[("IpAddress", "10.1.2.3")]));
    assert!(!hits(&all, &[("IpAddress", "10.2.0.1")]));
    let or_null = rule("  sel:\n    IpAddress|cidr: [null, '10.0.0.0/8']\n  condition: sel\n");
    assert!(hits(&or_null, &[("Other", "x")]));
    assert!(hits(&or_null, &[("IpAddress", "10.9.9.9")]));
    assert!(!hits(&or_null, &[("IpAddress", "192.168.0.1")]));
    let bad = try_program_with(
        &security_rule("  sel:\n    IpAddress|cidr: '10.0.0.0/40'\n  condition: sel\n"),
        &Options::default(),
    );
    assert!(bad.1[0].contains("prefix length"), "{:?}", bad.1);
}

#[test]
fn fieldref_compares_two_fields() {
    let p = rule("  sel:\n    SubjectUserName|fieldref: TargetUserName\n  condition: sel\n");
    assert!(hits(
        &p,
        &[("SubjectUserName", "Bob"), ("TargetUserName", "bob")]
    ));
    assert!(!hits(
        &p,
        &[("SubjectUserName", "bob"), ("TargetUserName", "alice")]
    ));
    assert!(!hits(&p, &[("SubjectUserName", "bob")]));
    let p = rule("  sel:\n    CommandLine|fieldref|contains: TargetUserName\n  condition: sel\n");
    assert!(hits(
        &p,
        &[
            ("CommandLine", "net user bob /add"),
            ("TargetUserName", "BOB")
        ]
    ));
    let p = rule("  sel:\n    A|fieldref|neq: B\n  condition: sel\n");
    assert!(hits(&p, &[("A", "x"), ("B", "y")]));
    assert!(!hits(&p, &[("A", "x"), ("B", "x")]));
}

#[test]
fn numeric_comparisons() {
    let p = rule("  sel:\n    Count|gt: 10\n  condition: sel\n");
    assert!(hits(&p, &[("Count", "11")]));
    assert!(!hits(&p, &[("Count", "10")]));
    assert!(!hits(&p, &[("Count", "ten")]));
    let p = rule("  sel:\n    Count|gte: 10\n  condition: sel\n");
    assert!(hits(&p, &[("Count", "10")]));
    let p = rule("  sel:\n    Count|lt: 0x10\n  condition: sel\n");
    assert!(hits(&p, &[("Count", "15")]));
    assert!(hits(&p, &[("Count", "0xF")]));
    assert!(!hits(&p, &[("Count", "16")]));
    let p = rule("  sel:\n    Count|lte: 2.5\n  condition: sel\n");
    assert!(hits(&p, &[("Count", "2.5")]));
    assert!(!hits(&p, &[("Count", "2.51")]));
}

#[test]
fn neq_negates_the_item() {
    let p = rule("  sel:\n    EventID: 4624\n    LogonType|neq: 3\n  condition: sel\n");
    assert!(hits(&p, &[("LogonType", "10")]));
    assert!(!hits(&p, &[("LogonType", "3")]));
    let p = rule("  sel:\n    F|neq: [a, b]\n  condition: sel\n");
    assert!(!hits(&p, &[("F", "b")]));
    assert!(hits(&p, &[("F", "c")]));
}

#[test]
fn expand_with_placeholders() {
    let yaml =
        security_rule("  sel:\n    WorkstationName|expand: '%Workstations%'\n  condition: sel\n");
    let (_, errors) = try_program_with(&yaml, &Options::default());
    assert!(errors[0].contains("%Workstations%"), "{errors:?}");
    let options = Options {
        placeholders: Placeholders::parse("Workstations: ['WS-*', PC01]\n").unwrap(),
        ..Options::default()
    };
    let p = program_with(&yaml, &options);
    assert!(hits(&p, &[("WorkstationName", "ws-0042")]));
    assert!(hits(&p, &[("WorkstationName", "PC01")]));
    assert!(!hits(&p, &[("WorkstationName", "PC02")]));
}

#[test]
fn time_parts_in_the_site_time_zone() {
    let yaml = security_rule("  sel:\n    TimeCreated|hour|gte: 20\n  condition: sel\n");
    let utc = program(&yaml);
    let tokyo = program_with(
        &yaml,
        &Options {
            timezone: jiff::tz::TimeZone::get("Asia/Tokyo").unwrap(),
            ..Options::default()
        },
    );
    // 12:30 UTC is 21:30 in Tokyo.
    let at = [("TimeCreated", "2024-05-01T12:30:00.0000000Z")];
    assert!(!hits(&utc, &at));
    assert!(hits(&tokyo, &at));
    // Day of week boundaries and DST: 01:30 UTC on 31 March 2024 is 03:30 in Berlin (CEST).
    let berlin = program_with(
        &security_rule("  sel:\n    TimeCreated|hour: 3\n  condition: sel\n"),
        &Options {
            timezone: jiff::tz::TimeZone::get("Europe/Berlin").unwrap(),
            ..Options::default()
        },
    );
    assert!(hits(&berlin, &[("TimeCreated", "2024-03-31T01:30:00Z")]));
    assert!(!hits(&berlin, &[("TimeCreated", "2024-03-30T01:30:00Z")]));
    for (part, value, when) in [
        ("minute", "42", "2024-05-01T12:42:00Z"),
        ("day", "1", "2024-05-01T12:42:00Z"),
        ("week", "18", "2024-05-01T12:42:00Z"),
        ("month", "5", "2024-05-01T12:42:00Z"),
        ("year", "2024", "2024-05-01T12:42:00Z"),
    ] {
        let p = rule(&format!(
            "  sel:\n    TimeCreated|{part}: {value}\n  condition: sel\n"
        ));
        assert!(hits(&p, &[("TimeCreated", when)]), "{part}");
        assert!(
            !hits(&p, &[("TimeCreated", "2023-12-31T23:59:00Z")]),
            "{part}"
        );
    }
}

#[test]
fn keywords_search_every_value() {
    let p = rule("  keywords:\n    - 'sekurlsa::'\n    - 'mimi*dll'\n  condition: keywords\n");
    assert!(hits(
        &p,
        &[
            ("A", "x"),
            ("CommandLine", "mimikatz.exe SEKURLSA::logonpasswords")
        ]
    ));
    assert!(hits(&p, &[("Path", "C:\\mimilib.dll")]));
    assert!(!hits(&p, &[("A", "sekurlsa:"), ("B", ":")]));
    // Only values count: a keyword in a field's name, or one that would span a value and
    // the next field's name, is not found.
    assert!(!hits(&p, &[("sekurlsa::x", "benign")]));
    assert!(!hits(&p, &[("A", "sekurlsa"), ("::B", "benign")]));
    // Keywords with cased letters beyond ASCII fold case too.
    let p = rule("  keywords:\n    - 'пароль'\n  condition: keywords\n");
    assert!(hits(&p, &[("A", "x"), ("B", "Мой ПАРОЛЬ")]));
    assert!(!hits(&p, &[("пароль", "x")]));
    let p = rule("  keywords:\n    '|all':\n      - foo\n      - bar\n  condition: keywords\n");
    assert!(hits(&p, &[("A", "foo"), ("B", "xbarx")]));
    assert!(!hits(&p, &[("A", "foo")]));
}

#[test]
fn one_of_and_all_of_patterns() {
    let p = rule(
        "  selection_a:\n    A: x\n  selection_b:\n    B: y\n  filter:\n    C: z\n  condition: 1 of selection_* and not filter\n",
    );
    assert!(hits(&p, &[("B", "y")]));
    assert!(!hits(&p, &[("B", "y"), ("C", "z")]));
    let p = rule(
        "  selection_a:\n    A: x\n  selection_b:\n    B: y\n  condition: all of selection_*\n",
    );
    assert!(hits(&p, &[("A", "x"), ("B", "y")]));
    assert!(!hits(&p, &[("A", "x")]));
}

#[test]
fn them_leaves_out_underscore_names() {
    let p = rule("  a:\n    A: x\n  _b:\n    B: y\n  condition: 1 of them\n");
    assert!(hits(&p, &[("A", "x")]));
    assert!(!hits(&p, &[("B", "y")]));
    let p = rule("  a:\n    A: x\n  _b:\n    B: y\n  condition: all of them\n");
    assert!(hits(&p, &[("A", "x")]));
    let p = rule("  a:\n    A: x\n  _b:\n    B: y\n  condition: 1 of _*\n");
    assert!(hits(&p, &[("B", "y")]));
}

#[test]
fn precedence_not_and_or() {
    // not a and b or c == ((not a) and b) or c
    let p = rule("  a:\n    A: 1\n  b:\n    B: 1\n  c:\n    C: 1\n  condition: not a and b or c\n");
    assert!(hits(&p, &[("B", "1")]));
    assert!(!hits(&p, &[("A", "1"), ("B", "1")]));
    assert!(hits(&p, &[("A", "1"), ("C", "1")]));
    assert!(!hits(&p, &[]));
    let p = rule("  a:\n    A: 1\n  b:\n    B: 1\n  condition: not (a or b)\n");
    assert!(hits(&p, &[("C", "1")]));
    assert!(!hits(&p, &[("B", "1")]));
}

#[test]
fn a_list_of_conditions_is_or() {
    let p = rule("  a:\n    A: 1\n  b:\n    B: 1\n  condition:\n    - a\n    - b\n");
    assert!(hits(&p, &[("A", "1")]));
    assert!(hits(&p, &[("B", "1")]));
}

#[test]
fn repeated_fields_match_on_any_value() {
    let p = rule("  sel:\n    Data|contains: needle\n  condition: sel\n");
    assert!(hits(
        &p,
        &[("Data", "a"), ("Data", "has needle"), ("Data", "c")]
    ));
}

fn base64(text: &str) -> String {
    base64_bytes(text.as_bytes())
}

fn base64_bytes(bytes: &[u8]) -> String {
    tansa_engine::rule::sigma_string::base64(bytes)
}

/// A worker remembers the needles found in a field's last value: a record whose value is
/// the same, another, repeated or missing is judged as if its fields were scanned anew.
#[test]
fn a_fields_last_value_seen_again_is_judged_as_if_scanned_anew() {
    let p = rule(
        "  sel:\n    ShareName|contains: ['admin$', 'c$']\n    \
         RelativeTargetName|endswith: ['.exe', '.dll']\n  condition: sel\n",
    );
    let records: &[&[(&str, &str)]] = &[
        &[
            ("ShareName", "\\\\*\\ADMIN$"),
            ("RelativeTargetName", "a.exe"),
        ],
        &[
            ("ShareName", "\\\\*\\ADMIN$"),
            ("RelativeTargetName", "a.exe"),
        ],
        &[
            ("ShareName", "\\\\*\\ADMIN$"),
            ("RelativeTargetName", "a.txt"),
        ],
        &[
            ("ShareName", "\\\\*\\PRINT$"),
            ("RelativeTargetName", "a.txt"),
        ],
        &[
            ("ShareName", "\\\\*\\PRINT$"),
            ("RelativeTargetName", "b.dll"),
        ],
        &[("ShareName", "\\\\*\\C$"), ("RelativeTargetName", "b.dll")],
        &[
            ("ShareName", "\\\\*\\C$"),
            ("RelativeTargetName", "x.txt"),
            ("RelativeTargetName", "b.dll"),
        ],
        &[("ShareName", "\\\\*\\C$"), ("RelativeTargetName", "x.txt")],
        &[("RelativeTargetName", "b.dll")],
        &[("ShareName", "\\\\*\\C$"), ("RelativeTargetName", "b.dll")],
    ];
    let expected = [
        true, true, false, false, false, true, true, false, false, true,
    ];
    let mut scratch = tansa_engine::eval::Scratch::new();
    for (n, (payload, expected)) in records.iter().zip(expected).enumerate() {
        let e = event(&p, &[("Channel", "Security"), ("EventID", "5145")], payload);
        let mut matches = Vec::new();
        p.evaluate(&e, p.candidates(&e), &mut scratch, &mut matches);
        assert_eq!(
            !matches.is_empty(),
            expected,
            "record {n}, one scratch for all"
        );
        assert_eq!(
            !matching(&p, &e).is_empty(),
            expected,
            "record {n}, its own scratch"
        );
    }
}
