//! The EVTX writer's files read the same with an independent reader: python-evtx (PyPI),
//! written separately from the Rust evtx crate. Ignored by default since it needs Python
//! and python-evtx; `.ci/run` installs python-evtx and runs it with `--ignored`.

mod support;

use std::process::Command;
use support::*;
use tansa_engine::event::Event;
use tansa_engine::field::FieldTable;
use tansa_engine::input::evtx_xml::flatten;
use tansa_fixtures::EventSpec;

/// A record's fields as `(name, value)`, empty values left out (python-evtx writes an
/// element without content as `<X></X>`, the evtx crate as `<X/>`).
fn fields(xml: &str) -> Vec<(String, String)> {
    let table = FieldTable::new();
    let mut event = Event::new();
    flatten(xml, &table, &mut event, |_| true).expect("well-formed XML");
    event
        .to_pairs()
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect()
}

#[test]
#[ignore = "needs python3 with python-evtx (pip install python-evtx); run with --ignored"]
fn python_evtx_reads_what_the_evtx_crate_reads() {
    let available = Command::new("python3")
        .args(["-c", "import Evtx.Evtx"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        available,
        "\n\n*** python-evtx IS NOT INSTALLED ***\nInstall it with `pip install python-evtx` (.ci/run does).\n"
    );
    let dir = TempDir::new("python-evtx");
    let mut events = vec![
        EventSpec::new("Security", 4624)
            .at(at("2024-05-01T09:00:00.1234567Z"))
            .data("TargetUserName", "a&b<c>\"d' 日本")
            .data("LogonType", "10")
            .data("Repeated", "one")
            .data("Repeated", "two")
            .unnamed("no name")
            .binary("0A0B"),
        EventSpec::new("Security", 1102)
            .provider("Microsoft-Windows-Eventlog")
            .user_data("LogFileCleared", &[("SubjectUserName", "bob")]),
    ];
    // Enough records of two shapes to roll over into several chunks.
    for i in 0..3000 {
        events.push(
            EventSpec::new("Security", if i % 2 == 0 { 4625 } else { 4624 })
                .at(at("2024-05-01T10:00:00Z") + jiff::SignedDuration::from_secs(i))
                .data("TargetUserName", &format!("user{i}"))
                .data("IpAddress", "10.0.0.5"),
        );
    }
    let path = dir.evtx("mixed.evtx", &events);
    assert!(std::fs::metadata(&path).unwrap().len() > 4096 + 3 * 65536);

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/support/python_evtx_dump.py"
    );
    let output = Command::new("python3")
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let python: Vec<(u64, String)> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                record["id"].as_u64().unwrap(),
                record["xml"].as_str().unwrap().to_string(),
            )
        })
        .collect();

    let mut parser = evtx::EvtxParser::from_path(&path).unwrap();
    let rust: Vec<(u64, String)> = parser
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r.event_record_id, r.data)
        })
        .collect();

    assert_eq!(python.len(), events.len());
    assert_eq!(rust.len(), events.len());
    for ((python_id, python_xml), (rust_id, rust_xml)) in python.iter().zip(&rust) {
        assert_eq!(python_id, rust_id);
        assert_eq!(fields(python_xml), fields(rust_xml), "record {rust_id}");
    }
    let first = fields(&rust[0].1);
    assert!(first.contains(&("TargetUserName".into(), "a&b<c>\"d' 日本".into())));
    assert!(first.contains(&("TimeCreated".into(), "2024-05-01T09:00:00.1234567Z".into())));
}
