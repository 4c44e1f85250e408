//! End-to-end: the built `tansa` binary over EVTX files the tests generate.

mod support;

use std::path::Path;
use support::*;
use tansa_fixtures::EventSpec;

const WRONG_PASSWORD: &str =
    "  selection:\n    EventID: 4625\n    SubStatus: '0xC000006A'\n  condition: selection\n";

#[test]
fn alerts_carry_rule_event_and_source_and_match_the_schema() {
    let dir = TempDir::new("alerts");
    dir.evtx(
        "logs/Security.evtx",
        &[
            failed_logon("2024-05-01T09:00:00.1234567Z", "alice", "10.0.0.5"),
            EventSpec::new("Security", 4624)
                .at(at("2024-05-01T09:00:01Z"))
                .data("TargetUserName", "bob"),
        ],
    );
    dir.write(
        "rules/wrong.yml",
        rule("wrong-pw", "medium", SECURITY, WRONG_PASSWORD),
    );
    let out = hunt_folder(&dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let alerts = alerts(&stdout(&out));
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a["schema_version"], 1);
    assert_eq!(a["kind"], "detection");
    assert_eq!(a["time"], "2024-05-01T09:00:00.1234567Z");
    assert_eq!(a["rule"]["id"], "wrong-pw");
    assert_eq!(a["rule"]["title"], "Rule wrong-pw");
    assert_eq!(a["rule"]["level"], "medium");
    assert_eq!(a["rule"]["status"], "test");
    assert_eq!(a["rule"]["author"], "tansa tests");
    assert_eq!(a["rule"]["tags"][0], "attack.t1110");
    assert_eq!(
        a["rule"]["references"][0],
        "https://example.invalid/wrong-pw"
    );
    assert_eq!(a["host"], "DC01.example.local");
    assert_eq!(a["channel"], "Security");
    assert_eq!(a["provider"], "Microsoft-Windows-Security-Auditing");
    assert_eq!(a["event_id"], 4625);
    assert_eq!(a["record_id"], 1);
    assert!(
        a["source"]["file"]
            .as_str()
            .unwrap()
            .ends_with("Security.evtx")
    );
    assert_eq!(a["source"]["format"], "evtx");
    assert_eq!(a["event"]["TargetUserName"], "alice");
    assert_eq!(a["event"]["IpAddress"], "10.0.0.5");
    assert_eq!(a["event"]["EventID"], "4625");
    assert_eq!(a["matched"][0]["selection"], "selection");
    assert_eq!(
        a["matched"][0]["fields"],
        serde_json::json!(["EventID", "SubStatus"])
    );
    let summary = stderr(&out);
    assert!(summary.contains("1 scanned"), "{summary}");
    assert!(summary.contains("2 read"), "{summary}");
    assert!(summary.contains("medium 1"), "{summary}");
}

#[test]
fn security_1102_and_rdp_client_1102_stay_apart() {
    let dir = TempDir::new("1102");
    dir.evtx(
        "logs/security.evtx",
        &[EventSpec::new("Security", 1102)
            .provider("Microsoft-Windows-Eventlog")
            .user_data("LogFileCleared", &[("SubjectUserName", "mallory")])],
    );
    dir.evtx(
        "logs/rdpclient.evtx",
        &[EventSpec::new(
            "Microsoft-Windows-TerminalServices-RDPClient/Operational",
            1102,
        )
        .data("Name", "Server")
        .data("Value", "192.0.2.10")],
    );
    let cleared = "  selection:\n    EventID: 1102\n  condition: selection\n";
    dir.write(
        "rules/cleared.yml",
        rule("log-cleared", "high", SECURITY, cleared),
    );
    dir.write("rules/rdp.yml", rule("rdp-out", "low", RDP_CLIENT, cleared));
    let out = hunt_folder(&dir, &[]);
    let alerts = alerts(&stdout(&out));
    let mut pairs: Vec<(String, String)> = alerts
        .iter()
        .map(|a| {
            (
                a["rule"]["id"].as_str().unwrap().into(),
                a["channel"].as_str().unwrap().into(),
            )
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("log-cleared".to_string(), "Security".to_string()),
            (
                "rdp-out".to_string(),
                "Microsoft-Windows-TerminalServices-RDPClient/Operational".to_string()
            )
        ]
    );
    // UserData leaves are fields by their own name.
    let cleared = alerts
        .iter()
        .find(|a| a["rule"]["id"] == "log-cleared")
        .unwrap();
    assert_eq!(cleared["event"]["SubjectUserName"], "mallory");
}

/// Many files, many chunks, several rules: the bytes must not depend on thread count.
#[test]
fn output_is_byte_identical_at_any_thread_count_and_ids_are_stable() {
    let dir = TempDir::new("determinism");
    for host in 0..4 {
        let events: Vec<EventSpec> = (0..3000)
            .map(|i| {
                let t = at("2024-05-01T00:00:00Z") + jiff::SignedDuration::from_secs(i * 7 + host);
                EventSpec::new("Security", if i % 3 == 0 { 4625 } else { 4624 })
                    .at(t)
                    .computer(&format!("HOST{host}"))
                    .data("TargetUserName", &format!("user{}", i % 50))
                    .data(
                        "SubStatus",
                        if i % 2 == 0 {
                            "0xC000006A"
                        } else {
                            "0xC0000064"
                        },
                    )
                    .data("IpAddress", &format!("10.0.{host}.{}", i % 200))
            })
            .collect();
        dir.evtx(&format!("logs/host{host}/Security.evtx"), &events);
    }
    dir.write(
        "rules/wrong.yml",
        rule("wrong-pw", "medium", SECURITY, WRONG_PASSWORD),
    );
    dir.write(
        "rules/user.yml",
        rule(
            "user7",
            "low",
            SECURITY,
            "  sel:\n    TargetUserName|endswith: '7'\n  condition: sel\n",
        ),
    );
    let run = |threads: &str| {
        let out = hunt_folder(&dir, &["-j", threads]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let one = run("1");
    assert!(one.lines().count() > 2000);
    assert_eq!(one, run("8"));
    assert_eq!(one, run("2"));
    // Alerts come in time order.
    let times: Vec<String> = alerts(&one)
        .iter()
        .map(|a| a["time"].as_str().unwrap().to_string())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    // A copy of the logs elsewhere raises alerts with the same ids: they identify the
    // event (host, channel, record id), not the file.
    let copy = TempDir::new("determinism-copy");
    for host in 0..4 {
        let name = format!("host{host}/Security.evtx");
        std::fs::create_dir_all(copy.join(&format!("host{host}"))).unwrap();
        std::fs::copy(dir.join(&format!("logs/{name}")), copy.join(&name)).unwrap();
    }
    let out = tansa(&["hunt", s(copy.path()), "-r", s(&dir.join("rules"))]);
    let ids = |jsonl: &str| -> Vec<String> {
        alerts(jsonl)
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&one), ids(&stdout(&out)));
}

#[test]
fn since_and_until_bound_event_time() {
    let dir = TempDir::new("window");
    dir.evtx(
        "Security.evtx",
        &[
            failed_logon("2024-05-01T08:59:59Z", "early", "10.0.0.1"),
            failed_logon("2024-05-01T09:00:00Z", "first", "10.0.0.1"),
            failed_logon("2024-05-01T09:59:59Z", "last", "10.0.0.1"),
            failed_logon("2024-05-01T10:00:00Z", "late", "10.0.0.1"),
        ],
    );
    dir.write(
        "rules/r.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    let rules = dir.join("rules");
    let users = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["hunt", s(dir.path()), "-r", s(&rules)];
        all.extend_from_slice(args);
        let out = tansa(&all);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        alerts(&stdout(&out))
            .iter()
            .map(|a| a["event"]["TargetUserName"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        users(&[
            "--since",
            "2024-05-01T09:00:00Z",
            "--until",
            "2024-05-01T10:00:00Z"
        ]),
        ["first", "last"]
    );
    // Without a zone, bounds are in --timezone: 18:00 in Tokyo is 09:00 UTC.
    assert_eq!(
        users(&["--since", "2024-05-01T18:00", "--timezone", "Asia/Tokyo"]),
        ["first", "last", "late"]
    );
    // The records outside are turned away by their header's time, before their rules run,
    // and counted as such; without a window every record is evaluated.
    let summary = |args: &[&str]| {
        let mut all = vec!["hunt", s(dir.path()), "-r", s(&rules)];
        all.extend_from_slice(args);
        stderr(&tansa(&all))
    };
    let bounded = summary(&[
        "--since",
        "2024-05-01T09:00:00Z",
        "--until",
        "2024-05-01T10:00:00Z",
    ]);
    assert!(bounded.contains("4 read (2 not evaluated"), "{bounded}");
    let unbounded = summary(&[]);
    assert!(unbounded.contains("4 read (0 not evaluated"), "{unbounded}");
}

#[test]
fn evtx_is_recognised_by_content_and_globs_filter() {
    let dir = TempDir::new("discovery");
    let events = [failed_logon("2024-05-01T09:00:00Z", "alice", "10.0.0.5")];
    dir.evtx("logs/a/Security.evtx", &events);
    dir.evtx("logs/b/renamed.bin", &events);
    dir.write("logs/b/notes.evtx", "not an event log");
    dir.write(
        "rules/r.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    let (logs, rules) = (dir.join("logs"), dir.join("rules"));
    let count = |extra: &[&str]| {
        let mut args = vec!["hunt", s(&logs), "-r", s(&rules)];

        args.extend_from_slice(extra);
        let out = tansa(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        (alerts(&stdout(&out)).len(), stderr(&out))
    };
    let (n, summary) = count(&[]);
    assert_eq!(n, 2);
    assert!(
        summary.contains("notes.evtx: not a format tansa reads"),
        "{summary}"
    );
    assert_eq!(count(&["--include", "*.evtx"]).0, 1);
    assert_eq!(count(&["--exclude", "b/*"]).0, 1);
}

#[test]
fn a_corrupt_chunk_is_reported_and_the_rest_is_read() {
    let dir = TempDir::new("corrupt");
    let events: Vec<EventSpec> = (0..2000)
        .map(|i| {
            failed_logon("2024-05-01T00:00:00Z", &format!("user{i}"), "10.0.0.9")
                .at(at("2024-05-01T00:00:00Z") + jiff::SignedDuration::from_secs(i))
        })
        .collect();
    let path = dir.evtx("logs/Security.evtx", &events);
    let mut bytes = std::fs::read(&path).unwrap();
    let chunks = (bytes.len() - 4096) / 65536;
    assert!(chunks >= 3);
    // Overwrite the second chunk's magic.
    bytes[4096 + 65536..4096 + 65536 + 8].copy_from_slice(b"BADCHUNK");
    std::fs::write(&path, &bytes).unwrap();
    dir.write(
        "rules/r.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    let out = hunt_folder(&dir, &[]);
    assert_eq!(out.status.code(), Some(4), "partial run: {}", stderr(&out));
    let found = alerts(&stdout(&out)).len();
    assert!(found > 1000 && found < 2000, "{found}");
    assert!(stderr(&out).contains("chunk 1"), "{}", stderr(&out));
}

#[test]
fn a_truncated_file_is_reported() {
    let dir = TempDir::new("truncated");
    let events: Vec<EventSpec> = (0..1500)
        .map(|i| failed_logon("2024-05-01T00:00:00Z", &format!("u{i}"), "10.0.0.9"))
        .collect();
    let path = dir.evtx("Security.evtx", &events);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 30000]).unwrap();
    dir.write(
        "rules/r.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    let out = tansa(&["hunt", s(&path), "-r", s(&dir.join("rules"))]);
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("partial chunk"), "{}", stderr(&out));
    assert!(!alerts(&stdout(&out)).is_empty());
    // A file too short for a header fails on its own; the other inputs are still read.
    let short = dir.write("logs/short.evtx", b"ElfFile\0 too short");
    let good = dir.evtx("logs/good.evtx", &events[..1]);
    let out = tansa(&["hunt", s(&short), s(&good), "-r", s(&dir.join("rules"))]);
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("truncated"), "{}", stderr(&out));
    assert_eq!(alerts(&stdout(&out)).len(), 1);
}

#[test]
fn a_broken_rule_is_reported_with_its_position_and_the_others_run() {
    let dir = TempDir::new("broken");
    dir.evtx(
        "Security.evtx",
        &[failed_logon("2024-05-01T09:00:00Z", "alice", "10.0.0.5")],
    );
    dir.write(
        "rules/good.yml",
        rule("good", "low", SECURITY, WRONG_PASSWORD),
    );
    dir.write(
        "rules/bad.yml",
        rule(
            "bad",
            "low",
            SECURITY,
            "  selection:\n    EventID|contians: 4625\n  condition: selection\n",
        ),
    );
    let out = tansa(&["hunt", s(dir.path()), "-r", s(&dir.join("rules"))]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(rule_ids(&alerts(&stdout(&out))), ["good"]);
    let err = stderr(&out);
    assert!(err.contains("bad.yml:15:5: rule bad:"), "{err}");
    assert!(err.contains("unknown modifier `contians`"), "{err}");
    let strict = tansa(&[
        "hunt",
        s(dir.path()),
        "-r",
        s(&dir.join("rules")),
        "--strict",
    ]);
    assert_eq!(strict.status.code(), Some(3));
    assert!(stdout(&strict).is_empty());
}

#[test]
fn exit_codes() {
    let dir = TempDir::new("exit");
    dir.evtx(
        "Security.evtx",
        &[failed_logon("2024-05-01T09:00:00Z", "alice", "10.0.0.5")],
    );
    dir.write(
        "rules/r.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    let rules = dir.join("rules");
    let code = |args: &[&str]| tansa(args).status.code();
    assert_eq!(code(&["hunt", s(dir.path()), "-r", s(&rules)]), Some(0));
    assert_eq!(
        code(&["hunt", s(dir.path()), "-r", s(&rules), "--fail-on-alert"]),
        Some(1)
    );
    dir.write(
        "quiet/Security.evtx",
        tansa_fixtures::write_evtx(&[EventSpec::new("Security", 4624)]).unwrap(),
    );
    assert_eq!(
        code(&[
            "hunt",
            s(&dir.join("quiet")),
            "-r",
            s(&rules),
            "--fail-on-alert"
        ]),
        Some(0)
    );
    assert_eq!(code(&["hunt", s(dir.path())]), Some(2));
    assert_eq!(
        code(&["hunt", s(dir.path()), "-r", s(&rules), "--bogus"]),
        Some(2)
    );
    assert_eq!(
        code(&[
            "hunt",
            s(dir.path()),
            "-r",
            s(&rules),
            "--timezone",
            "Mars/Olympus"
        ]),
        Some(2)
    );
    assert_eq!(
        code(&["hunt", s(dir.path()), "-r", s(&dir.join("missing"))]),
        Some(2)
    );
    assert_eq!(
        code(&["hunt", s(&dir.join("missing")), "-r", s(&rules)]),
        Some(4)
    );
    // Only broken rules: nothing can be hunted.
    dir.write("bad/bad.yml", "title: [unclosed\n");
    assert_eq!(
        code(&["hunt", s(dir.path()), "-r", s(&dir.join("bad"))]),
        Some(3)
    );
}

/// A folder whose `logs` give one alert with the rule in `rules`; the log's path.
fn one_alert_folder(name: &str) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new(name);
    let log = dir.evtx(
        "logs/Security.evtx",
        &[failed_logon("2024-05-01T09:00:00Z", "a", "10.0.0.5")],
    );
    dir.write(
        "rules/r.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    (dir, log)
}

/// `-o` naming something that is not a regular file (here a named pipe; `/dev/null` is the
/// same case) writes into it: the alerts come out of the pipe, and the pipe is still a pipe,
/// not replaced by a file moved over it.
#[cfg(unix)]
#[test]
fn output_to_a_pipe_or_device_is_written_into_it_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let (dir, _) = one_alert_folder("output-pipe");
    let pipe = dir.join("alerts.pipe");
    let made = std::process::Command::new("mkfifo").arg(&pipe).status();
    assert!(made.is_ok_and(|status| status.success()), "mkfifo");
    // The reader waits for a writer; it must not wait forever if tansa never opens the pipe.
    let (sender, received) = std::sync::mpsc::channel();
    let reading = pipe.clone();
    std::thread::spawn(move || {
        let _ = sender.send(std::fs::read_to_string(&reading));
    });
    let out = hunt_folder(&dir, &["-o", s(&pipe)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let read = received
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("tansa wrote into the pipe")
        .unwrap();
    assert_eq!(alerts(&read).len(), 1);
    let kind = std::fs::symlink_metadata(&pipe).unwrap().file_type();
    assert!(kind.is_fifo(), "{kind:?}");
}

#[test]
fn output_file_is_written_whole_and_never_inside_an_input() {
    let (dir, log) = one_alert_folder("output");
    let before = std::fs::read(&log).unwrap();
    let modified = std::fs::metadata(&log).unwrap().modified().unwrap();
    let out_path = dir.join("alerts.jsonl");
    let out = hunt_folder(&dir, &["-o", s(&out_path)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    assert_eq!(
        alerts(&std::fs::read_to_string(&out_path).unwrap()).len(),
        1
    );
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    // Inputs are evidence: never written to, not even by request.
    let inside = dir.join("logs/alerts.jsonl");
    let out = hunt_folder(&dir, &["-o", s(&inside)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("inside input folder"),
        "{}",
        stderr(&out)
    );
    assert!(!inside.exists());
    assert_eq!(std::fs::read(&log).unwrap(), before);
    assert_eq!(
        std::fs::metadata(&log).unwrap().modified().unwrap(),
        modified
    );
    let listing: Vec<_> = std::fs::read_dir(dir.join("logs")).unwrap().collect();
    assert_eq!(listing.len(), 1, "nothing was added beside the input");
}

#[test]
fn rules_lint_points_at_the_line_and_rules_list_shows_channels() {
    let dir = TempDir::new("lint");
    dir.write(
        "rules/good.yml",
        rule("good", "high", SECURITY, WRONG_PASSWORD),
    );
    dir.write(
        "rules/agg.yml",
        rule(
            "agg",
            "low",
            SECURITY,
            "  selection:\n    EventID: 4625\n  condition: selection | count() by IpAddress > 10\n",
        ),
    );
    dir.write("rules/dup.yml", "title: x\ntitle: y\n");
    let out = tansa(&["rules", "lint", s(&dir.join("rules"))]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("agg.yml:16:24: rule agg:"), "{err}");
    assert!(err.contains("correlation rule"), "{err}");
    assert!(err.contains("dup.yml:2:1"), "{err}");
    assert!(err.contains("duplicate"), "{err}");
    assert!(err.contains("1 rule(s) ok"), "{err}");

    let out = tansa(&["rules", "list", s(&dir.join("rules/good.yml"))]);
    assert_eq!(out.status.code(), Some(0));
    let listing = stdout(&out);
    assert!(listing.contains("good"), "{listing}");
    assert!(listing.contains("Security: 4625"), "{listing}");
    let out = tansa(&["rules", "list", "--json", s(&dir.join("rules/good.yml"))]);
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["reads"][0], "Security: 4625");
    assert_eq!(json["level"], "high");
}

#[test]
fn scenario_build_writes_a_log_that_hunts() {
    let dir = TempDir::new("scenario");
    let scenario = dir.write(
        "s.yml",
        "start: 2024-05-01T09:00:00Z\ncomputer: DC01\nevents:\n  - channel: Security\n    event_id: 4625\n    data:\n      TargetUserName: alice\n      SubStatus: '0xC000006A'\n    repeat: 3\n",
    );
    let log = dir.join("logs/Security.evtx");
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let out = tansa(&["scenario", "build", s(&scenario), "-o", s(&log)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    dir.write(
        "rules/r.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    let out = hunt_folder(&dir, &[]);
    let alerts = alerts(&stdout(&out));
    assert_eq!(alerts.len(), 3);
    assert_eq!(alerts[2]["time"], "2024-05-01T09:00:02.0000000Z");
    assert_eq!(alerts[2]["host"], "DC01");
}

#[test]
fn a_live_log_of_a_channel_no_rule_reads_is_skipped_whole() {
    let dir = TempDir::new("skip");
    let sysmon =
        EventSpec::new("Microsoft-Windows-Sysmon/Operational", 1).data("Image", "C:\\x.exe");
    // Windows names a live log after its channel; this one holds only Sysmon events.
    dir.evtx(
        "logs/Microsoft-Windows-Sysmon%4Operational.evtx",
        std::slice::from_ref(&sysmon),
    );
    // The same events under another name are read (a file may mix channels).
    dir.evtx("logs/export.evtx", std::slice::from_ref(&sysmon));
    dir.write(
        "rules/r.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    let out = hunt_folder(&dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = stderr(&out);
    assert!(
        summary.contains(
            "Sysmon%4Operational.evtx: no rule reads channel `Microsoft-Windows-Sysmon/Operational`"
        ),
        "{summary}"
    );
    assert!(summary.contains("1 scanned, 1 skipped"), "{summary}");
    assert!(summary.contains("1 read (1 not evaluated"), "{summary}");
}

#[test]
fn mapping_and_placeholder_files_are_used() {
    let dir = TempDir::new("mapping");
    dir.evtx(
        "logs/forwarded.evtx",
        &[EventSpec::new("ForwardedEvents", 4625)
            .data("SubStatus", "0xC000006A")
            .data("WorkstationName", "KIOSK-3")],
    );
    dir.write(
        "rules/r.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    dir.write(
        "rules/kiosk.yml",
        rule(
            "kiosk",
            "low",
            SECURITY,
            "  sel:\n    WorkstationName|expand: '%Kiosks%'\n  condition: sel\n",
        ),
    );
    let mapping = dir.write(
        "mapping.yml",
        "services:\n  security: [Security, ForwardedEvents]\n",
    );
    let placeholders = dir.write("placeholders.yml", "Kiosks: ['KIOSK-*']\n");
    let out = hunt_folder(
        &dir,
        &["--mapping", s(&mapping), "--placeholders", s(&placeholders)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut ids = rule_ids(&alerts(&stdout(&out)));
    ids.sort();
    assert_eq!(ids, ["kiosk", "wrong-pw"]);
    // Without them: the channel is unknown to the security service, and the placeholder
    // rule is refused with a reason.
    let out = hunt_folder(&dir, &[]);
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains("%Kiosks% has no values"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn alerts_explain_codes_and_speak_japanese() {
    let dir = TempDir::new("lang");
    dir.evtx(
        "Security.evtx",
        &[failed_logon("2024-05-01T09:00:00Z", "alice", "10.0.0.5")],
    );
    let translated = rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD).replace(
        "logsource:",
        "translations:\n  ja:\n    title: 誤ったパスワード\n    falsepositives: [入力ミス]\nlogsource:",
    );
    dir.write("rules/r.yml", translated);
    let rules = dir.join("rules");
    let run = |extra: &[&str]| {
        let mut args = vec!["hunt", s(dir.path()), "-r", s(&rules)];

        args.extend_from_slice(extra);
        let out = tansa(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        alerts(&stdout(&out)).remove(0)
    };
    let en = run(&[]);
    assert_eq!(en["lang"], "en");
    assert_eq!(en["rule"]["title"], "Rule wrong-pw");
    assert_eq!(en["enrichment"]["EventID"], "An account failed to log on");
    assert_eq!(
        en["enrichment"]["SubStatus"],
        "the user name is correct but the password is wrong"
    );
    assert_eq!(
        en["enrichment"]["LogonType"],
        "Network (logon from the network, e.g. a shared folder)"
    );
    let ja = run(&["--lang", "ja"]);
    assert_eq!(ja["lang"], "ja");
    assert_eq!(ja["rule"]["title"], "誤ったパスワード");
    assert_eq!(ja["rule"]["falsepositives"][0], "入力ミス");
    assert_eq!(
        ja["enrichment"]["SubStatus"],
        "ユーザー名は正しいが、パスワードが間違っている"
    );
    // Same event, same alert id, whatever the language.
    assert_eq!(ja["id"], en["id"]);
    // A site's own table extends the built-in one.
    let extra = dir.write(
        "extra.yml",
        "fields:\n  IpAddress:\n    10.0.0.5: {en: the kiosk PC, ja: 受付の PC}\n",
    );
    let local = run(&["--lang", "ja", "--enrichment", s(&extra)]);
    assert_eq!(local["enrichment"]["IpAddress"], "受付の PC");
    assert_eq!(
        tansa(&[
            "hunt",
            s(dir.path()),
            "-r",
            s(&dir.join("rules")),
            "--lang",
            "fr"
        ])
        .status
        .code(),
        Some(2)
    );
}

const BRUTE_FORCE: &str = "title: Brute force
id: bf
name: brute_force
level: high
generate: true
correlation:
  type: event_count
  rules: [wrong-pw]
  group-by: [IpAddress]
  timespan: 10m
  condition: {gte: 5}
";

/// Failed logons from `ip`, one every `step` seconds from `start`.
fn failures(start: &str, ip: &str, count: i64, step: i64) -> Vec<EventSpec> {
    (0..count)
        .map(|i| {
            let time = at(start) + jiff::SignedDuration::from_secs(i * step);
            failed_logon(&time.to_string(), &format!("user{i}"), ip)
        })
        .collect()
}

#[test]
fn a_group_split_over_files_correlates_as_one_stream_whatever_the_order_or_threads() {
    let dir = TempDir::new("split");
    // DC01's log archived in two files whose path order is the reverse of time order,
    // and a second source, interleaved, one failure short of the threshold.
    let mut older = failures("2024-05-01T09:00:00Z", "10.0.0.5", 3, 10);
    older.extend(failures("2024-05-01T09:00:05Z", "10.0.0.6", 2, 10));
    let mut newer = failures("2024-05-01T09:00:30Z", "10.0.0.5", 2, 10);
    newer.extend(failures("2024-05-01T09:00:35Z", "10.0.0.6", 2, 10));
    dir.evtx("logs/2-archive/Security.evtx", &older);
    dir.evtx("logs/1-current/Security.evtx", &newer);
    dir.write(
        "rules/wrong.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    dir.write("rules/bf.yml", BRUTE_FORCE);
    let rules = dir.join("rules");
    let run = |inputs: &[&Path], threads: &str| {
        let mut args = vec!["hunt"];
        args.extend(inputs.iter().map(|p| s(p)));
        args.extend(["-r", s(&rules), "-j", threads]);
        let out = tansa(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let (current, archive) = (
        dir.join("logs/1-current/Security.evtx"),
        dir.join("logs/2-archive/Security.evtx"),
    );
    let one = run(&[&archive, &current], "1");
    assert_eq!(one, run(&[&current, &archive], "8"));
    assert_eq!(one, run(&[&dir.join("logs")], "2"));

    let all = alerts(&one);
    let correlations: Vec<&serde_json::Value> =
        all.iter().filter(|a| a["kind"] == "correlation").collect();
    assert_eq!(correlations.len(), 1, "{one}");
    let c = correlations[0];
    assert_eq!(c["rule"]["id"], "bf");
    assert_eq!(c["rule"]["level"], "high");
    assert_eq!(
        c["time"], "2024-05-01T09:00:40.0000000Z",
        "the fifth failure"
    );
    assert_eq!(c["host"], "DC01.example.local");
    let body = &c["correlation"];
    assert_eq!(body["type"], "event_count");
    assert_eq!(body["group"], serde_json::json!({"IpAddress": "10.0.0.5"}));
    assert_eq!(body["condition"], serde_json::json!({"gte": 5}));
    assert_eq!(body["value"], 5);
    assert_eq!(body["events_total"], 5);
    assert_eq!(body["first_time"], "2024-05-01T09:00:00.0000000Z");
    assert_eq!(
        body["rules"],
        serde_json::json!([{"id": "wrong-pw", "matches": 5}])
    );
    let files: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let file = e["source"]["file"].as_str().unwrap();
            if file.contains("2-archive") {
                "archive"
            } else {
                "current"
            }
        })
        .collect();
    assert_eq!(
        files,
        ["archive", "archive", "archive", "current", "current"]
    );
    // generate: true keeps the base rule's own alerts.
    assert_eq!(
        all.iter().filter(|a| a["rule"]["id"] == "wrong-pw").count(),
        9
    );
    // The correlation alert comes in time order among the detections.
    let times: Vec<&str> = all.iter().map(|a| a["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn a_filter_document_tunes_out_a_source_for_the_rules_it_names() {
    let dir = TempDir::new("filter");
    dir.evtx(
        "logs/Security.evtx",
        &[
            failed_logon("2024-05-01T09:00:00Z", "alice", "10.0.0.5"),
            failed_logon("2024-05-01T09:00:01Z", "scanner", "10.0.0.99"),
        ],
    );
    dir.write(
        "rules/wrong.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    dir.write(
        "rules/other.yml",
        rule("other", "low", SECURITY, WRONG_PASSWORD),
    );
    dir.write(
        "rules/mf_scanner.yml",
        "title: Our vulnerability scanner\nid: mf-scanner\nlogsource: {product: windows}\nfilter:\n  rules: [wrong-pw]\n  scanner:\n    IpAddress: 10.0.0.99\n  condition: not scanner\n",
    );
    let out = hunt_folder(&dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut seen: Vec<(String, String)> = alerts(&stdout(&out))
        .iter()
        .map(|a| {
            (
                a["rule"]["id"].as_str().unwrap().to_string(),
                a["event"]["IpAddress"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("other".to_string(), "10.0.0.5".to_string()),
            ("other".to_string(), "10.0.0.99".to_string()),
            ("wrong-pw".to_string(), "10.0.0.5".to_string()),
        ]
    );
    // `rules list` shows the filter did its work on the rule's listing too.
    let list = tansa(&["rules", "list", "--json", s(&dir.join("rules"))]);
    assert!(
        stdout(&list).contains("\"filters\":[\"mf-scanner\"]"),
        "{}",
        stdout(&list)
    );
}

#[test]
fn site_settings_tune_correlations_and_define_business_hours() {
    let dir = TempDir::new("site");
    // Wednesday 2026-01-07: three failures at 19:30 Tokyo time (10:30 UTC).
    dir.evtx(
        "logs/Security.evtx",
        &failures("2026-01-07T10:30:00Z", "10.0.0.5", 3, 10),
    );
    dir.write(
        "rules/wrong.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    dir.write("rules/bf.yml", BRUTE_FORCE);
    dir.write(
        "rules/late.yml",
        rule(
            "after-hours",
            "medium",
            SECURITY,
            "  selection:\n    EventID: 4625\n  working:\n    TimeCreated|calendar: business_hours\n  condition: selection and not working\n",
        ),
    );
    let (logs, rules) = (dir.join("logs"), dir.join("rules"));
    let hunt = |extra: &[&str]| {
        let mut args = vec!["hunt", s(&logs), "-r", s(&rules)];
        args.extend(extra);
        tansa(&args)
    };
    let count = |out: &std::process::Output, id: &str| {
        alerts(&stdout(out))
            .iter()
            .filter(|a| a["rule"]["id"] == id)
            .count()
    };
    // Without a site file: UTC office hours (10:30 is inside), threshold 5 (not reached).
    let plain = hunt(&[]);
    assert_eq!(plain.status.code(), Some(0), "{}", stderr(&plain));
    assert_eq!(count(&plain, "after-hours"), 0);
    assert_eq!(count(&plain, "bf"), 0);
    let site = dir.write(
        "site.yml",
        "timezone: Asia/Tokyo\ncalendars:\n  business_hours:\n    days: [mon, tue, wed, thu, fri]\n    hours: '08:30-18:00'\ncorrelations:\n  brute_force:\n    condition: {gte: 3}\n",
    );
    let tuned = hunt(&["--site", s(&site)]);
    assert_eq!(tuned.status.code(), Some(0), "{}", stderr(&tuned));
    assert_eq!(
        count(&tuned, "after-hours"),
        3,
        "19:30 in Tokyo is after hours"
    );
    assert_eq!(
        count(&tuned, "bf"),
        1,
        "the site lowered the threshold to 3"
    );
    // --timezone wins over the site's zone: 10:30 UTC is inside again.
    let utc = hunt(&["--site", s(&site), "--timezone", "UTC"]);
    assert_eq!(count(&utc, "after-hours"), 0);
    // A mistake in the site file is refused with its position.
    let bad = dir.write(
        "bad.yml",
        "calendars:\n  business_hours:\n    hours: '8-18'\n",
    );
    let out = hunt(&["--site", s(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.yml:3:12"), "{}", stderr(&out));
}

#[test]
fn the_live_group_cap_is_reported_and_makes_the_run_partial() {
    let dir = TempDir::new("cap");
    let mut events = failures("2024-05-01T09:00:00Z", "10.0.0.5", 5, 1);
    events.extend(failures("2024-05-01T09:00:00.5Z", "10.0.0.6", 5, 1));
    events.sort_by_key(|e| e.time);
    dir.evtx("logs/Security.evtx", &events);
    dir.write(
        "rules/wrong.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    dir.write("rules/bf.yml", BRUTE_FORCE);
    let out = hunt_folder(&dir, &["--max-groups", "1"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("5 match(es) were not correlated: the cap of 1 live groups was reached"),
        "{}",
        stderr(&out)
    );
    // The group that had room still fired.
    let fired: Vec<serde_json::Value> = alerts(&stdout(&out))
        .into_iter()
        .filter(|a| a["kind"] == "correlation")
        .collect();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0]["correlation"]["group"]["IpAddress"], "10.0.0.5");
}

/// Two correlations of wrong-password failures in separate chains.
const BY_SOURCE: &str = "title: Failures by source\nid: by-source\nlevel: high\ngenerate: true\ncorrelation:\n  type: event_count\n  rules: [wrong-pw]\n  group-by: [IpAddress]\n  timespan: 10m\n  condition: {gte: 1}\n";
const BY_USER: &str = "title: Failures by user\nid: by-user\nlevel: high\ngenerate: true\ncorrelation:\n  type: value_count\n  rules: [wrong-pw]\n  group-by: [TargetUserName]\n  timespan: 30s\n  condition: {field: IpAddress, gte: 1}\n";

/// A folder with `events` in a Security log, the wrong-password rule and `BY_SOURCE` and
/// `BY_USER`, the latter with `by_user_span` for its timespan.
fn two_chains(name: &str, events: &[EventSpec], by_user_span: &str) -> TempDir {
    let dir = TempDir::new(name);
    dir.evtx("logs/Security.evtx", events);
    dir.write(
        "rules/wrong.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    dir.write("rules/by_source.yml", BY_SOURCE);
    let span = format!("timespan: {by_user_span}");
    dir.write("rules/by_user.yml", BY_USER.replace("timespan: 30s", &span));
    dir
}

/// Hunts the folder's logs with its rules: exit code, alerts and summary.
fn hunt_chains(dir: &TempDir, threads: &str, cap: Option<&str>) -> (Option<i32>, String, String) {
    let (logs, rules) = (dir.join("logs"), dir.join("rules"));
    let mut args = vec!["hunt", s(&logs), "-r", s(&rules), "-j", threads];
    if let Some(cap) = cap {
        args.extend(["--max-groups", cap]);
    }
    let out = tansa(&args);
    (out.status.code(), stdout(&out), stderr(&out))
}

/// The summary's correlation counts, without the time the stage took.
fn correlation_counts(summary: &str) -> String {
    let line = summary
        .lines()
        .find(|l| l.contains("over the group cap"))
        .unwrap_or_else(|| panic!("no correlation summary: {summary}"));
    line[..line.rfind(';').unwrap()].to_string()
}

/// Two correlations that share nothing but their input: each runs on its own thread with
/// `-j 2`, and the cap on live groups still holds over both as if they ran as one.
#[test]
fn correlations_run_apart_keep_the_cap_and_the_output_of_one_thread() {
    // First three sources fail for one user (three groups by source, one by user), then,
    // once those have expired, one source fails for three users (one and three): each
    // correlation holds three groups at its peak, both together never more than four.
    let mut events: Vec<EventSpec> = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
        .iter()
        .enumerate()
        .map(|(i, ip)| failed_logon(&format!("2024-05-01T09:00:0{i}Z"), "alice", ip))
        .collect();
    events.extend(
        ["bob", "carol", "dave"]
            .iter()
            .enumerate()
            .map(|(i, user)| failed_logon(&format!("2024-05-01T09:30:0{i}Z"), user, "10.0.0.9")),
    );
    let dir = two_chains("chains", &events, "30s");
    let run = |threads, cap| hunt_chains(&dir, threads, cap);
    let peak = |summary: &str| {
        let at = summary
            .find(" live group(s)")
            .expect("a correlation summary");
        summary[..at].rsplit(' ').next().unwrap().to_string()
    };
    let (code, one, summary) = run("1", None);
    assert_eq!(code, Some(0), "{summary}");
    let fired = alerts(&one)
        .iter()
        .filter(|a| a["kind"] == "correlation")
        .count();
    assert_eq!(fired, 3 + 3 + 1 + 1, "{one}");
    assert_eq!(
        peak(&summary),
        "4",
        "one correlator counts the groups at each moment"
    );
    // Apart, each correlation's peak counts: 3 + 3.
    let (code, two, summary) = run("2", None);
    assert_eq!((code, &two), (Some(0), &one), "{summary}");
    assert_eq!(peak(&summary), "6", "{summary}");
    // A cap of 5 is never reached, but the peaks apart add up to it: the stage runs
    // again as one, and says the exact peak.
    let (code, two, summary) = run("2", Some("5"));
    assert_eq!((code, &two), (Some(0), &one), "{summary}");
    assert_eq!(peak(&summary), "4", "{summary}");
    // A cap of 3 is reached, once in each phase: the same matches are left out at any
    // thread count.
    let (code, one, summary) = run("1", Some("3"));
    assert_eq!(code, Some(4), "{summary}");
    assert!(
        summary.contains("2 match(es) were not correlated"),
        "{summary}"
    );
    let (code_two, two, summary_two) = run("2", Some("3"));
    assert_eq!((code_two, &two), (code, &one), "{summary_two}");
    assert_eq!(
        correlation_counts(&summary_two),
        correlation_counts(&summary)
    );
}

/// Thousands of groups at once: a thread running chains apart sees (it looks every 4,096
/// matches) that all threads together hold the cap, they stop, and the stage runs again
/// as one, with the alerts and the left-out matches of one thread.
#[test]
fn chains_apart_that_reach_the_cap_together_stop_and_run_as_one() {
    let start = at("2024-05-01T09:00:00Z");
    let events: Vec<EventSpec> = (0..6000)
        .map(|i: i64| {
            let time = start + jiff::SignedDuration::from_millis(i * 50);
            let ip = format!("10.0.{}.{}", i / 250, i % 250);
            failed_logon(&time.to_string(), &format!("user{i}"), &ip)
        })
        .collect();
    // Both windows long enough to hold every group of the run.
    let dir = two_chains("chains-cap", &events, "10m");
    let run = |threads| {
        let (code, alerts, summary) = hunt_chains(&dir, threads, Some("5000"));
        (code, alerts, correlation_counts(&summary))
    };
    let one = run("1");
    assert_eq!(one.0, Some(4));
    // Each failure opens a group in each correlation until 5,000 are alive: the last
    // 3,500 failures find no room in either.
    assert!(one.2.contains("7000 over the group cap"), "{}", one.2);
    assert_eq!(run("2"), one);
}

#[test]
fn rules_test_checks_correlation_groups_and_event_counts() {
    let dir = TempDir::new("rules-test-correlation");
    dir.write(
        "rules/wrong.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    dir.write("rules/bf.yml", BRUTE_FORCE);
    let scenario = "    scenario:\n      events:\n        - channel: Security\n          event_id: 4625\n          data: {SubStatus: '0xC000006A', IpAddress: 10.0.0.5, TargetUserName: 'u{n}'}\n          repeat: 6\n          every: 30s\n";
    dir.write(
        "rules/bf.tests.yml",
        format!(
            "tests:\n  - name: six failures from one source\n{scenario}    expect:\n      - {{rule: wrong-pw, count: 6}}\n      - {{rule: bf, count: 1, group: {{IpAddress: 10.0.0.5}}, events: 6}}\n  - name: a wrong group is caught\n{scenario}    expect:\n      - {{rule: wrong-pw, count: 6}}\n      - {{rule: bf, count: 1, group: {{IpAddress: 10.0.0.7}}}}\n"
        ),
    );
    let out = tansa(&["rules", "test", s(&dir.join("rules"))]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("ok   "), "{text}");
    assert!(text.contains("FAIL "), "{text}");
    assert!(
        text.contains("bf (Brute force) group {IpAddress=10.0.0.7}: expected 1, got 0"),
        "{text}"
    );
    assert!(
        text.contains(
            "bf (Brute force) group {IpAddress=10.0.0.5} with 6 events: expected 0, got 1"
        ),
        "{text}"
    );
}

#[test]
fn the_readme_example_finds_the_intrusion_in_evtx_and_syslog() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let logs = root.join("examples/logs");
    let rules = root.join("rules");
    let out = tansa(&[
        "hunt",
        logs.to_str().unwrap(),
        "-r",
        rules.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let alerts = alerts(&stdout(&out));
    // What the README says the example shows.
    assert_eq!(alerts.len(), 31);
    let correlations: Vec<&str> = alerts
        .iter()
        .filter(|a| a["kind"] == "correlation")
        .map(|a| a["rule"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(correlations.len(), 3, "{correlations:?}");
    assert!(correlations.contains(&"Burst of VPN Authentication Failures"));
    let from_syslog: Vec<&str> = alerts
        .iter()
        .filter(|a| a["source"]["format"] == "syslog")
        .map(|a| a["rule"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(from_syslog.len(), 11, "{from_syslog:?}");
    assert!(from_syslog.contains(&"RDP Connection Through a Firewall Outside Business Hours"));
}

#[test]
fn a_regex_too_large_to_build_is_a_rule_error_when_first_needed() {
    // Its syntax is valid, so it passes compilation; its program is built when a record
    // first reaches the rule, and that fails.
    const HUGE_REGEX: &str = "  selection:\n    EventID: 4625\n    TargetUserName|re: '\\w{1000}{1000}'\n  condition: selection\n";
    let dir = TempDir::new("lazy-regex");
    dir.evtx(
        "logs/Security.evtx",
        &[failed_logon("2024-05-01T09:00:00Z", "alice", "10.0.0.5")],
    );
    dir.write("rules/huge.yml", rule("huge", "high", SECURITY, HUGE_REGEX));
    dir.write(
        "rules/wrong.yml",
        rule("wrong-pw", "low", SECURITY, WRONG_PASSWORD),
    );
    let rules = dir.join("rules");

    let out = tansa(&["rules", "lint", s(&rules)]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("huge.yml"), "{err}");
    assert!(err.contains("too large"), "{err}");

    let out = tansa(&["hunt", s(&dir.join("logs")), "-r", s(&rules)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let alerts = alerts(&stdout(&out));
    assert_eq!(alerts.len(), 1, "the other rule still runs");
    assert_eq!(alerts[0]["rule"]["id"], "wrong-pw");
    let err = stderr(&out);
    assert!(
        err.contains("rule error:") && err.contains("huge.yml"),
        "{err}"
    );
    assert!(err.contains("too large"), "{err}");
    assert!(err.contains("1 refused"), "{err}");

    let out = tansa(&["hunt", s(&dir.join("logs")), "-r", s(&rules), "--strict"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
}
