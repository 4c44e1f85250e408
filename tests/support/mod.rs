//! Shared helpers for the end-to-end tests: temporary folders, generated logs, running the
//! built `tansa` binary, and checking alerts against the JSON Schema.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use tansa_fixtures::{EventSpec, write_evtx};

/// A folder that is removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "tansa-test-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `contents` at `name` (creating folders), returns the path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, contents).expect("write file");
        path
    }

    /// Writes `events` as an EVTX file at `name`.
    pub fn evtx(&self, name: &str, events: &[EventSpec]) -> PathBuf {
        self.write(name, write_evtx(events).expect("events fit in chunks"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn at(time: &str) -> jiff::Timestamp {
    time.parse().expect("valid time")
}

/// Runs `tansa` with `args`.
pub fn tansa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tansa"))
        .args(args)
        .output()
        .expect("run tansa")
}

/// A path as a command-line argument.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// `tansa hunt` over the test folder's `logs` with its `rules`, then `extra` arguments.
pub fn hunt_folder(dir: &TempDir, extra: &[&str]) -> Output {
    let (logs, rules) = (dir.join("logs"), dir.join("rules"));
    let mut args = vec!["hunt", s(&logs), "-r", s(&rules)];
    args.extend_from_slice(extra);
    tansa(&args)
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parses JSONL alerts and validates each against `schema/alert.schema.json`.
pub fn alerts(jsonl: &str) -> Vec<serde_json::Value> {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/alert.schema.json"))
            .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    jsonl
        .lines()
        .map(|line| {
            let alert: serde_json::Value = serde_json::from_str(line).expect("alert is JSON");
            let errors: Vec<String> = validator
                .iter_errors(&alert)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "alert does not match the schema: {errors:?}\n{line}"
            );
            alert
        })
        .collect()
}

/// The rule ids of `alerts`, in output order.
pub fn rule_ids(alerts: &[serde_json::Value]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| a["rule"]["id"].as_str().expect("rule id").to_string())
        .collect()
}

/// A rule file with the given logsource and detection.
pub fn rule(id: &str, level: &str, logsource: &str, detection: &str) -> String {
    format!(
        "title: Rule {id}\nid: {id}\nstatus: test\nlevel: {level}\nauthor: tansa tests\ntags:\n  - attack.t1110\nreferences:\n  - https://example.invalid/{id}\nlogsource:\n{logsource}detection:\n{detection}"
    )
}

pub const SECURITY: &str = "  product: windows\n  service: security\n";
pub const RDP_CLIENT: &str = "  product: windows\n  service: terminalservices-rdpclient\n";

/// A 4625 (failed logon) event.
pub fn failed_logon(time: &str, user: &str, ip: &str) -> EventSpec {
    EventSpec::new("Security", 4625)
        .at(at(time))
        .computer("DC01.example.local")
        .data("TargetUserName", user)
        .data("Status", "0xC000006D")
        .data("SubStatus", "0xC000006A")
        .data("LogonType", "3")
        .data("IpAddress", ip)
}
