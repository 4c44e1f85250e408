//! Tests over the public corpus in `../shared/corpus` (real attack-sample EVTX files and the
//! SigmaHQ rule repository). They are ignored by default, since a plain checkout has no
//! corpus; `.ci/run` runs them with `cargo test --test corpus -- --ignored`. Run that way
//! without the corpus, they fail and say where they looked.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use support::*;
use tansa_engine::compile::{Options, compile};
use tansa_engine::hunt::{FileStatus, HuntOptions, Progress, hunt};
use tansa_engine::input::discover::{Filter, discover};
use tansa_engine::logsource::{Mapping, Resolution};
use tansa_engine::rule::{load, load_str};

/// `../shared/corpus` beside the repository, or `$TANSA_CORPUS`.
fn corpus() -> PathBuf {
    let path = std::env::var_os("TANSA_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    let path = path.canonicalize().unwrap_or(path);
    assert!(
        path.join("evtx").is_dir() && path.join("sigma").is_dir(),
        "\n\n*** THE CORPUS IS ABSENT ***\nThese tests need the public corpus at {} (evtx/ and sigma/).\nPut ../shared beside the repository or set TANSA_CORPUS.\n",
        path.display()
    );
    path
}

/// Records the evtx crate itself reads from a file: (ok, errors).
fn evtx_crate_count(path: &Path) -> (u64, u64) {
    let Ok(mut parser) = evtx::EvtxParser::from_path(path) else {
        return (0, 0);
    };
    let (mut ok, mut errors) = (0, 0);
    for record in parser.records() {
        match record {
            Ok(_) => ok += 1,
            Err(_) => errors += 1,
        }
    }
    (ok, errors)
}

#[test]
#[ignore = "reads ../shared/corpus; run with --ignored"]
fn every_evtx_file_is_read_with_the_evtx_crates_record_count() {
    let root = corpus().join("evtx");
    // A keyword rule on every channel, so that every record is read.
    let loaded = load_str(
        Path::new("all.yml"),
        "title: all\nid: all\nlogsource:\n  product: windows\ndetection:\n  keywords: ['zz-never-zz']\n  condition: keywords\n",
    );
    assert!(loaded.errors.is_empty());
    let (program, errors) = compile(loaded.rules, Vec::new(), &Options::default());
    assert!(errors.is_empty());
    let files = discover(std::slice::from_ref(&root), &Filter::default()).files;
    assert!(files.len() > 250, "only {} EVTX files found", files.len());
    let report = hunt(
        &program,
        &files,
        &HuntOptions::default(),
        &Progress::default(),
    )
    .unwrap();
    let mut total = 0;
    assert_eq!(
        report.files.len(),
        files.len(),
        "one report per input, in order"
    );
    for (file, input) in report.files.iter().zip(&files) {
        let (ok, errors) = evtx_crate_count(&input.path);
        let ours = file.stats.records + file.stats.skipped;
        assert_eq!(file.status, FileStatus::Scanned, "{}", file.name);
        assert_eq!(
            ours, ok,
            "{}: we read {ours}, the evtx crate {ok}",
            file.name
        );
        assert_eq!(file.stats.failed, errors, "{}", file.name);
        total += ours;
    }
    eprintln!(
        "corpus: {} files, {total} records, every count equal to the evtx crate's",
        report.files.len()
    );
    assert!(total > 8000);
}

/// What one record became, for comparing two ways of reading it.
#[derive(Debug, PartialEq)]
struct ReadRecord {
    record_id: u64,
    time: Option<jiff::Timestamp>,
    fields: Vec<(String, String)>,
    /// Every well-known field as the header has it (shadowing depends on each field's origin).
    header: Vec<Option<String>>,
    /// The values of every name in the table, by id (the index the rules read).
    indexed: Vec<Vec<String>>,
    /// The reader found none of the keywords of its filters (see `keyword_filter`).
    keywords_absent: bool,
}

/// Every record of the EVTX file at `path`, read as `reading` says; and the stats.
fn read_evtx(
    path: &Path,
    reading: tansa_engine::input::evtx::Reading,
    table: &tansa_engine::field::FieldTable,
    keep_every: u64,
    // The header's and the payload's fields to read (all if `None`).
    wanted: Option<(
        &tansa_engine::field::FieldSet,
        &tansa_engine::field::FieldSet,
    )>,
    // Every field of a record that may hold one of these keywords.
    keywords: Option<&tansa_engine::keyword_filter::KeywordFilter>,
) -> (Vec<ReadRecord>, tansa_engine::input::evtx::ChunkStats) {
    use tansa_engine::event::{Event, Handled};
    use tansa_engine::field::{Wanted, well_known};
    use tansa_engine::input::evtx::{ChunkStats, EvtxReader, Wants, read_chunk_with};
    let mut records = Vec::new();
    let mut stats = ChunkStats::default();
    let Ok(mut reader) = EvtxReader::open(path) else {
        return (records, stats);
    };
    let context = tansa_engine::input::evtx::ChunkContext::default();
    let mut event = Event::new();
    for (index, source) in reader.chunks() {
        let chunk_stats = read_chunk_with(
            reading,
            index,
            source,
            &context,
            table,
            &mut event,
            // Skip some records after their header, as a hunt does when no rule reads them.
            Wants {
                header: match wanted {
                    Some((header, _)) => Wanted::any_of([Some(header), None, None, None]),
                    None => Wanted::EVERYTHING,
                },
                keep: |event: &Event| {
                    (!event.record_id.is_multiple_of(keep_every)).then_some(match wanted {
                        Some((_, payload)) => Wanted::any_of([Some(payload), None, None, None])
                            .unless_keywords([keywords, None, None, None]),
                        None => Wanted::EVERYTHING,
                    })
                },
            },
            |event| {
                records.push(ReadRecord {
                    record_id: event.record_id,
                    time: event.time,
                    fields: event.to_pairs(),
                    header: (0..well_known::NAMES.len() as u32)
                        .map(|id| event.header_value(id).map(str::to_string))
                        .collect(),
                    indexed: (0..table.len() as u32)
                        .map(|id| event.values(id).map(str::to_string).collect())
                        .collect(),
                    keywords_absent: event.keywords_absent(),
                });
                Handled::Done
            },
        );
        stats.add(&chunk_stats);
    }
    (records, stats)
}

#[test]
#[ignore = "reads ../shared/corpus; run with --ignored"]
fn direct_binxml_reading_agrees_with_xml_on_every_record() {
    use tansa_engine::input::evtx::Reading;
    let root = corpus().join("evtx");
    let files = discover(std::slice::from_ref(&root), &Filter::default()).files;
    assert!(files.len() > 250, "only {} EVTX files found", files.len());
    let mut table = tansa_engine::field::FieldTable::new();
    for name in [
        "EventID",
        "Data",
        "Binary",
        "SubjectUserSid",
        "TargetUserName",
        "ProcessID",
        "UserID",
        "ActivityID",
        "Provider_Guid",
        "Image",
        "CommandLine",
        "ParentImage",
        "LogonType",
        "IpAddress",
        "ServiceName",
        "param1",
        "Hashes",
        "Level",
        "Keywords",
        "Security_UserID",
    ] {
        table.intern(name);
    }
    let mut even_ids = tansa_engine::field::FieldSet::default();
    (0..table.len() as u32)
        .step_by(2)
        .for_each(|id| even_ids.insert(id));
    // As in a hunt, a header always has the fields routing and windows need.
    let mut even_and_known_ids = even_ids.clone();
    (0..tansa_engine::field::well_known::NAMES.len() as u32)
        .for_each(|id| even_and_known_ids.insert(id));
    // Keywords in some records' strings, and (`eventlog`) in a provider's name, which its
    // template writes as fixed text.
    const KEYWORDS: [&str; 5] = ["mimikatz", "sekurlsa::", "eventlog", "\\temp\\", "rundll32"];
    let keywords = tansa_engine::keyword_filter::KeywordFilter::new(KEYWORDS).unwrap();
    let (mut with_keyword, mut found_absent) = (0u64, 0u64);
    let (mut records, mut via_xml) = (0u64, 0u64);
    for file in &files {
        let path = &file.path;
        // Every 7th record is skipped after its header, in both readings alike.
        let (direct, direct_stats) = read_evtx(path, Reading::Direct, &table, 7, None, None);
        let (xml, xml_stats) = read_evtx(path, Reading::Xml, &table, 7, None, None);
        // Read in part, a record has the header and the wanted fields' values of the whole.
        let (part, part_stats) = read_evtx(
            path,
            Reading::Direct,
            &table,
            7,
            Some((&even_and_known_ids, &even_ids)),
            None,
        );
        assert_eq!(
            part_stats.records,
            direct_stats.records,
            "{}",
            path.display()
        );
        for (p, d) in part.iter().zip(&direct) {
            let wanted = |r: &ReadRecord| -> Vec<Vec<String>> {
                r.indexed.iter().step_by(2).cloned().collect()
            };
            assert_eq!(
                (p.record_id, p.time, &p.header, wanted(p)),
                (d.record_id, d.time, &d.header, wanted(d)),
                "{}: record {} read in part",
                path.display(),
                d.record_id
            );
        }
        // With keyword filters, a record read in part has every value that holds a keyword
        // (so keyword searches find them), and one found to hold none says so.
        let (filtered, filtered_stats) = read_evtx(
            path,
            Reading::Direct,
            &table,
            7,
            Some((&even_and_known_ids, &even_ids)),
            Some(&keywords),
        );
        assert_eq!(filtered_stats.records, direct_stats.records);
        let holds_keyword = |value: &str| {
            let value = value.to_ascii_lowercase();
            KEYWORDS.iter().any(|k| value.contains(k))
        };
        for (f, d) in filtered.iter().zip(&direct) {
            let what = format!("{}: record {}", path.display(), d.record_id);
            assert_eq!((&f.header, &f.time), (&d.header, &d.time), "{what}");
            let wanted = |r: &ReadRecord| r.indexed.iter().step_by(2).cloned().collect::<Vec<_>>();
            assert_eq!(wanted(f), wanted(d), "{what}");
            let with_keywords: Vec<&(String, String)> =
                d.fields.iter().filter(|(_, v)| holds_keyword(v)).collect();
            if with_keywords.is_empty() {
                found_absent += u64::from(f.keywords_absent);
                continue;
            }
            assert!(!f.keywords_absent, "{what} holds a keyword");
            for field in with_keywords {
                assert!(f.fields.contains(field), "{what}: {field:?} left out");
            }
            with_keyword += 1;
        }
        assert_eq!(direct.len(), xml.len(), "{}", path.display());
        for (d, x) in direct.iter().zip(&xml) {
            assert_eq!(d, x, "{}: record {}", path.display(), x.record_id);
        }
        assert_eq!(
            (
                direct_stats.records,
                direct_stats.skipped,
                direct_stats.failed
            ),
            (xml_stats.records, xml_stats.skipped, xml_stats.failed),
            "{}",
            path.display()
        );
        records += direct_stats.records + direct_stats.skipped;
        via_xml += direct_stats.via_xml;
    }
    eprintln!(
        "corpus: {records} records read both ways alike; {via_xml} ({:.2}%) went through XML",
        100.0 * via_xml as f64 / records as f64
    );
    assert!(records > 8000);
    eprintln!(
        "keyword filters: {with_keyword} records with a keyword kept every value holding one, {found_absent} found to hold none"
    );
    assert!(with_keyword > 100 && found_absent > records / 2);
    // The direct reading must be the rule, not the exception.
    assert!(
        via_xml * 20 < records,
        "{via_xml} of {records} records went through XML"
    );
}

#[test]
#[ignore = "reads ../shared/corpus; run with --ignored"]
fn every_sigmahq_rule_loads_or_is_refused_for_a_real_limitation() {
    let sigma = corpus().join("sigma");
    let roots: Vec<PathBuf> = std::fs::read_dir(&sigma)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("rules"))
        })
        .collect();
    assert!(roots.len() >= 5, "{roots:?}");
    let loaded = load(&roots);
    let files = loaded.files;
    let (program, compile_errors) = compile(loaded.rules, loaded.correlations, &Options::default());
    let errors: Vec<_> = loaded.errors.iter().chain(&compile_errors).collect();
    let mut idle: BTreeMap<&str, usize> = BTreeMap::new();
    for rule in program.idle() {
        *idle.entry(rule.reason.as_str()).or_default() += 1;
    }
    eprintln!(
        "SigmaHQ: {files} files, {} rules loaded ({} idle on EVTX), {} refused",
        program.rules().len(),
        program.idle().len(),
        errors.len()
    );
    for error in &errors {
        eprintln!("  refused: {error}");
    }
    for (reason, count) in &idle {
        eprintln!("  idle {count:4}: {reason}");
    }
    assert!(files > 3500, "{files} rule files");
    // The only refusals are placeholders with no values, which the spec says a tool must
    // refuse; a site gives their values with --placeholders.
    for error in &errors {
        assert!(
            error.message.contains("placeholder %"),
            "unexpected refusal: {error}"
        );
    }
    assert!(errors.len() < 40, "{} refused", errors.len());
}

#[test]
#[ignore = "reads ../shared/corpus; run with --ignored"]
fn sigmahq_windows_rules_raise_alerts_in_their_own_channels() {
    let corpus = corpus();
    let rules_dir = corpus.join("sigma/rules/windows");
    let out = tansa(&[
        "hunt",
        s(&corpus.join("evtx")),
        "-r",
        s(&rules_dir),
        "-j",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let jsonl = stdout(&out);
    let alerts = alerts(&jsonl);
    eprintln!("{} alerts over the corpus\n{}", alerts.len(), stderr(&out));
    assert!(alerts.len() > 800, "{} alerts", alerts.len());

    assert_alerts_within_their_rules_channels(&alerts, &rules_dir);

    // Spot checks, confirmed by reading the events themselves.
    let find = |rule: &str, file: &str| {
        alerts
            .iter()
            .find(|a| {
                a["rule"]["id"] == rule && a["source"]["file"].as_str().unwrap().ends_with(file)
            })
            .unwrap_or_else(|| panic!("no alert of {rule} in {file}"))
    };
    // RDP Login from Localhost: 4624, logon type 10, from 127.0.0.1.
    let a = find(
        "51e33403-2a37-4d66-a574-1fda1782cc31",
        "DE_RDP_Tunneling_4624.evtx",
    );
    assert_eq!(
        (a["event_id"].as_u64(), a["channel"].as_str()),
        (Some(4624), Some("Security"))
    );
    assert_eq!(a["event"]["LogonType"], "10");
    assert_eq!(a["event"]["IpAddress"], "127.0.0.1");
    // Pass the Hash Activity 2: logon type 9 through seclogo.
    let a = find(
        "8eef149c-bd26-49f2-9e5a-9b00e3af499b",
        "LM_4624_mimikatz_sekurlsa_pth_source_machine.evtx",
    );
    assert_eq!(a["event"]["LogonType"], "9");
    assert_eq!(a["event"]["LogonProcessName"], "seclogo");
    assert_eq!(a["matched"][0]["selection"], "selection_logon9");
    // Security Eventlog Cleared: Security 1102 from the Eventlog provider, user in UserData.
    let a = find(
        "d99b79d2-0a6f-4f46-ad8b-260b6e17f982",
        "DE_1102_security_log_cleared.evtx",
    );
    assert_eq!(
        (a["event_id"].as_u64(), a["channel"].as_str()),
        (Some(1102), Some("Security"))
    );
    assert_eq!(a["provider"], "Microsoft-Windows-Eventlog");
    // Important Windows Eventlog Cleared: System 104 whose payload names the cleared log.
    let a = find(
        "100ef69e-3327-481c-8e5c-6d80d9507556",
        "DE_104_system_log_cleared.evtx",
    );
    assert_eq!(
        (a["event_id"].as_u64(), a["channel"].as_str()),
        (Some(104), Some("System"))
    );
    assert_eq!(a["event"]["SubjectUserName"], "user01");

    // The same bytes with one thread.
    let one = tansa(&[
        "hunt",
        s(&corpus.join("evtx")),
        "-r",
        s(&rules_dir),
        "-j",
        "1",
    ]);
    assert_eq!(stdout(&one), jsonl, "output differs between -j1 and -j2");
}

/// No channel confusion: every alert's channel is one its rule's logsource reads.
fn assert_alerts_within_their_rules_channels(alerts: &[serde_json::Value], rules_dir: &Path) {
    let mapping = Mapping::builtin();
    let loaded = load(&[rules_dir.to_path_buf()]);
    let channels: HashMap<String, Option<Vec<String>>> = loaded
        .rules
        .iter()
        .map(|rule| {
            let channels = match mapping.resolve(&rule.logsource) {
                Resolution::Targets(targets) => {
                    let mut all = Vec::new();
                    for target in targets {
                        match target.channels {
                            Some(c) => all.extend(c),
                            None => return (rule.meta.id.clone(), None),
                        }
                    }
                    Some(all)
                }
                Resolution::Idle(_) => Some(Vec::new()),
            };
            (rule.meta.id.clone(), channels)
        })
        .collect();
    // A detection alert's own event, and every event a correlation alert lists.
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for alert in alerts {
        if alert["kind"] == "correlation" {
            for event in alert["correlation"]["events"].as_array().unwrap() {
                if let Some(channel) = event["channel"].as_str()
                    && event.get("alert").is_none()
                {
                    seen.push((event["rule"].as_str().unwrap(), channel));
                }
            }
        } else {
            seen.push((
                alert["rule"]["id"].as_str().unwrap(),
                alert["channel"].as_str().unwrap(),
            ));
        }
    }
    for (id, channel) in seen {
        if let Some(allowed) = &channels[id] {
            assert!(
                allowed.iter().any(|c| c.eq_ignore_ascii_case(channel)),
                "rule {id} fired on channel {channel}, outside {allowed:?}"
            );
        }
    }
}

#[test]
#[ignore = "reads ../shared/corpus; run with --ignored"]
fn the_rule_pack_over_the_attack_samples() {
    let corpus = corpus();
    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let out = tansa(&[
        "hunt",
        s(&corpus.join("evtx")),
        "-r",
        s(&rules_dir),
        "--lang",
        "ja",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let alerts = alerts(&stdout(&out));
    let mut fired: BTreeMap<String, usize> = BTreeMap::new();
    for alert in &alerts {
        *fired
            .entry(alert["rule"]["title"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    eprintln!("{} alerts of the pack over the corpus:", alerts.len());
    for (title, count) in &fired {
        eprintln!("  {count:4}  {title}");
    }
    assert_alerts_within_their_rules_channels(&alerts, &rules_dir);

    // Spot checks, confirmed by reading the events: (rule id, file, record id, field, value).
    let checks = [
        (
            "f95e9492-6dde-4360-9979-1154d51aa44d",
            "DE_1102_security_log_cleared.evtx",
            1,
            "SubjectUserName",
            "user01",
        ),
        (
            "c08e6e45-1882-40df-a53d-a1d4ba590515",
            "DE_104_system_log_cleared.evtx",
            1,
            "SubjectUserName",
            "user01",
        ),
        (
            "25cfb6c5-fbfd-4ed9-a164-09fbea2bb564",
            "Network_Service_Guest_added_to_admins_4732.evtx",
            1,
            "TargetSid",
            "S-1-5-32-544",
        ),
        (
            "591dd491-05cb-427d-b301-9d925c8ff41a",
            "DE_Fake_ComputerAccount_4720.evtx",
            1,
            "SamAccountName",
            "$",
        ),
        (
            "f87d93cd-e9eb-4977-8a4a-55539b6d7464",
            "kerberos_pwd_spray_4771.evtx",
            2,
            "Status",
            "0x6",
        ),
        (
            "3c3c93e2-0471-4583-b1e6-868a605e5fe8",
            "kerberos_pwd_spray_4771.evtx",
            9,
            "Status",
            "0x18",
        ),
        (
            "6f414e42-5b56-441d-9ff0-59fe5169c84e",
            "LM_renamed_psexecsvc_5145.evtx",
            16,
            "RelativeTargetName",
            "blabla.exe",
        ),
        (
            "dacbb183-0761-4841-8a80-d2e5a4420976",
            "LM_4624_mimikatz_sekurlsa_pth_source_machine.evtx",
            2,
            "LogonProcessName",
            "seclogo",
        ),
        (
            "7a7100c2-afa7-4d0d-b7a4-9baf2c383461",
            "LM_Remote_Service02_7045.evtx",
            1,
            "ImagePath",
            "cmd.exe",
        ),
    ];
    for (rule, file, record, field, value) in checks {
        let alert = alerts
            .iter()
            .find(|a| {
                a["rule"]["id"] == rule
                    && a["record_id"] == record
                    && a["source"]["file"].as_str().unwrap().ends_with(file)
            })
            .unwrap_or_else(|| panic!("no alert of {rule} for record {record} of {file}"));
        assert_eq!(alert["event"][field], value, "{rule} on {file}");
        assert_eq!(alert["lang"], "ja");
    }
    // The one correlation the samples hold: a kerbrute-style guess of seven user names
    // from one address (written both as IPv4 and as IPv4-mapped IPv6), within a second.
    let correlations: Vec<&serde_json::Value> = alerts
        .iter()
        .filter(|a| a["kind"] == "correlation")
        .collect();
    assert_eq!(correlations.len(), 1, "{correlations:#?}");
    let guess = &correlations[0]["correlation"];
    assert_eq!(
        correlations[0]["rule"]["id"],
        "8f2893f3-f083-4ad6-8578-cf9255cbf3c2"
    );
    assert_eq!(guess["group"]["IpAddress"], "172.16.66.1");
    assert_eq!(guess["values_total"], 7);
    assert!(guess["events"].as_array().unwrap().iter().all(|e| {
        e["source"]["file"]
            .as_str()
            .unwrap()
            .ends_with("kerberos_pwd_spray_4771.evtx")
    }));
    // No RDP-client alert from a Security 1102 and the other way round: the pack has both
    // rules, and the corpus has Security 1102 events.
    for alert in &alerts {
        if alert["event_id"] == 1102 {
            let expected = if alert["channel"] == "Security" {
                "f95e9492-6dde-4360-9979-1154d51aa44d"
            } else {
                "9275aef9-fada-47d6-b242-9e37d23026ec"
            };
            assert_eq!(alert["rule"]["id"], expected);
        }
    }
}
