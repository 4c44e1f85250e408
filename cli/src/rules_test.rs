//! `tansa rules test`: run each rule's example scenarios through the real pipeline.
//!
//! A rule file `name.yml` has its tests beside it in `name.tests.yml`:
//!
//! ```yaml
//! tests:
//!   - name: a wrong password raises the rule
//!     scenario:                      # the `tansa scenario build` format
//!       events:
//!         - channel: Security
//!           event_id: 4625
//!           data: {TargetUserName: alice, SubStatus: '0xC000006A'}
//!     expect:                        # every alert of the run, by rule id and count
//!       - rule: 044fa5d5-3237-4bef-a68f-32007964685d
//!         count: 1
//!   - name: an unknown user is another rule's business
//!     scenario: ...
//!     expect: []
//! ```
//!
//! For a correlation rule an expectation can also name the group and the number of
//! contributing events: `{rule: ID, count: 1, group: {IpAddress: 10.0.0.5}, events: 10}`
//! counts only that rule's alerts for that group with 10 events.
//!
//! Each scenario is written as a real EVTX file (in the temporary folder) and hunted with
//! every rule under the given paths, so `expect` lists *all* the alerts of the run: a test
//! fails if an expected rule does not fire, fires a different number of times, or another
//! rule fires too. With `--require-tests`, every rule file must have a test that raises it
//! (positive) and one that does not (negative). A rule that stays silent because the
//! correlations built on it say `generate: false` is raised through them: a test where one
//! of those correlations fires is its positive test.

use crate::exit;
use crate::settings::CompileArgs;
use anyhow::{Context, Result};
use clap::Args;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tansa_engine::compile::{Program, load_and_compile};
use tansa_engine::hunt::{HuntOptions, Progress, hunt};
use tansa_engine::input::discover::{Container, Format, InputFile};
use tansa_fixtures::scenario::{OutputKind, Scenario};

#[derive(Args)]
pub struct TestArgs {
    /// Rule files and folders; their `*.tests.yml` files are run.
    #[arg(required = true, value_name = "RULES")]
    pub rules: Vec<PathBuf>,
    /// Fail unless every rule file has a positive and a negative test.
    #[arg(long)]
    pub require_tests: bool,
    #[command(flatten)]
    pub compile: CompileArgs,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    tests: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    scenario: Scenario,
    #[serde(default)]
    expect: Vec<Expect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    rule: String,
    count: u64,
    /// Correlation alerts only: the group-by values.
    #[serde(default)]
    group: Option<BTreeMap<String, String>>,
    /// Correlation alerts only: the number of contributing events.
    #[serde(default)]
    events: Option<u64>,
}

/// What a test looks at in one alert of its run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Actual {
    rule: String,
    group: Option<BTreeMap<String, String>>,
    events: Option<u64>,
}

impl Expect {
    fn covers(&self, alert: &Actual) -> bool {
        self.rule == alert.rule
            && self.group.as_ref().is_none_or(|want| {
                alert
                    .group
                    .as_ref()
                    .is_some_and(|got| want.iter().all(|(k, v)| got.get(k) == Some(v)))
            })
            && self.events.is_none_or(|want| alert.events == Some(want))
    }
}

pub fn run(args: &TestArgs) -> Result<u8> {
    let mut ruleset = load_and_compile(&args.rules, &args.compile.options()?);
    ruleset.build_all();
    for error in &ruleset.errors {
        eprintln!("tansa: rule error: {error}");
    }
    if !ruleset.errors.is_empty() {
        return Ok(exit::RULES);
    }
    let program = &ruleset.program;
    let work = TempFolder::new()?;
    let mut failures = 0usize;
    let mut passed = 0usize;
    let (rule_files, _) = tansa_engine::rule::rule_files(&args.rules);
    for rule_file in &rule_files {
        let ids = rule_ids_in(program, rule_file);
        let tests_path = tests_file_for(rule_file);
        if !tests_path.exists() {
            if args.require_tests {
                eprintln!(
                    "FAIL {}: no tests ({} missing)",
                    rule_file.display(),
                    tests_path.display()
                );
                failures += 1;
            }
            continue;
        }
        let tests = read_tests(&tests_path)?;
        let (mut positive, mut negative) = (false, false);
        for (index, test) in tests.tests.iter().enumerate() {
            for id in &ids {
                let raised_by = raised_through(program, id);
                if test
                    .expect
                    .iter()
                    .any(|e| e.count > 0 && raised_by.contains(&e.rule))
                {
                    positive = true;
                } else {
                    negative = true;
                }
            }
            let log = work
                .path
                .join(format!("test-{}-{index}.evtx", passed + failures));
            match run_test(program, test, &log) {
                Ok(actual) => match differences(program, &test.expect, &actual) {
                    differences if differences.is_empty() => {
                        passed += 1;
                        println!("ok   {}: {}", tests_path.display(), test.name);
                    }
                    differences => {
                        failures += 1;
                        println!("FAIL {}: {}", tests_path.display(), test.name);
                        for line in differences {
                            println!("       {line}");
                        }
                    }
                },
                Err(e) => {
                    failures += 1;
                    println!("FAIL {}: {}: {e:#}", tests_path.display(), test.name);
                }
            }
        }
        if args.require_tests && !ids.is_empty() && !(positive && negative) {
            failures += 1;
            let missing = if positive { "negative" } else { "positive" };
            println!("FAIL {}: no {missing} test", rule_file.display());
        }
    }
    eprintln!("{passed} passed, {failures} failed");
    Ok(if failures == 0 {
        exit::OK
    } else {
        exit::ALERTS
    })
}

/// The ids of the rules whose alerts show that rule `id` matched: itself and every
/// correlation built on it, directly or through other correlations.
fn raised_through(program: &Program, id: &str) -> Vec<String> {
    let plan = program.correlations();
    let nodes = plan.nodes();
    let mut found = vec![id.to_string()];
    let mut pending: Vec<usize> = plan
        .inputs
        .get(id)
        .into_iter()
        .flatten()
        .map(|slot| slot.node as usize)
        .chain(
            nodes
                .iter()
                .position(|n| n.info.meta.id == id)
                .into_iter()
                .flat_map(|own| nodes[own].outputs.iter().map(|slot| slot.node as usize)),
        )
        .collect();
    while let Some(node) = pending.pop() {
        let node_id = &nodes[node].info.meta.id;
        if !found.contains(node_id) {
            found.push(node_id.clone());
            pending.extend(nodes[node].outputs.iter().map(|slot| slot.node as usize));
        }
    }
    found
}

/// The ids of the rules (detection and correlation) loaded from `file`.
fn rule_ids_in(program: &Program, file: &Path) -> Vec<String> {
    let detections = program
        .rules()
        .iter()
        .filter(|r| r.source.path == file)
        .map(|r| r.meta.id.clone());
    let correlations = program
        .correlations()
        .nodes()
        .iter()
        .filter(|n| n.info.source.path == file)
        .map(|n| n.info.meta.id.clone());
    detections.chain(correlations).collect()
}

/// `dir/name.yml` → `dir/name.tests.yml`.
fn tests_file_for(rule_file: &Path) -> PathBuf {
    let stem = rule_file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    rule_file.with_file_name(format!("{stem}.tests.yml"))
}

fn read_tests(path: &Path) -> Result<TestFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_saphyr::from_str_with_options(&text, tansa_fixtures::scenario::yaml_options()).map_err(
        |e| {
            anyhow::anyhow!(
                "{}: {}",
                path.display(),
                e.to_string().lines().next().unwrap_or("")
            )
        },
    )
}

/// Writes the scenario as `log`, hunts it, and returns its alerts.
fn run_test(program: &Program, test: &TestCase, log: &Path) -> Result<Vec<Actual>> {
    let scenario = &test.scenario;
    let mut inputs = Vec::new();
    for output in scenario.outputs(log)? {
        std::fs::write(&output.path, &output.bytes)?;
        inputs.push(InputFile {
            size: output.bytes.len() as u64,
            path: output.path,
            container: Container::Plain,
            format: match output.kind {
                OutputKind::Evtx => Format::Evtx,
                OutputKind::Syslog => Format::Syslog,
            },
            modified: None,
        });
    }
    let options = HuntOptions {
        threads: 1,
        // Syslog lines without a year are in the scenario's.
        read: tansa_engine::input::records::ReadOptions {
            year: Some(scenario.start()?.to_zoned(jiff::tz::TimeZone::UTC).year()),
            ..Default::default()
        },
        ..HuntOptions::default()
    };
    let mut report =
        hunt(program, &inputs, &options, &Progress::default()).map_err(anyhow::Error::msg)?;
    if report.failed_records() > 0 {
        anyhow::bail!(
            "{} records of the scenario could not be read",
            report.failed_records()
        );
    }
    let mut lines = Vec::new();
    report.write_alerts(&mut lines)?;
    let mut alerts = Vec::new();
    for line in String::from_utf8(lines)?.lines() {
        let alert: serde_json::Value = serde_json::from_str(line)?;
        let correlation = &alert["correlation"];
        alerts.push(Actual {
            rule: alert["rule"]["id"].as_str().unwrap_or("").to_string(),
            group: correlation["group"].as_object().map(|group| {
                group
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            }),
            events: correlation["events_total"].as_u64(),
        });
    }
    Ok(alerts)
}

/// What differs between the expectations and the alerts: each expectation whose count is
/// off, and each alert no expectation covers. Empty when the test passes.
fn differences(program: &Program, expected: &[Expect], actual: &[Actual]) -> Vec<String> {
    let title = |id: &str| {
        let detection = program
            .rules()
            .iter()
            .find(|r| r.meta.id == id)
            .map(|r| &r.meta);
        let correlation = program
            .correlations()
            .nodes()
            .iter()
            .find(|n| n.info.meta.id == id)
            .map(|n| &n.info.meta);
        detection
            .or(correlation)
            .map_or(String::new(), |meta| format!(" ({})", meta.title))
    };
    let describe = |rule: &str, group: &Option<BTreeMap<String, String>>, events: Option<u64>| {
        let mut text = format!("{rule}{}", title(rule));
        if let Some(group) = group {
            let pairs: Vec<String> = group.iter().map(|(k, v)| format!("{k}={v}")).collect();
            text.push_str(&format!(" group {{{}}}", pairs.join(", ")));
        }
        if let Some(events) = events {
            text.push_str(&format!(" with {events} events"));
        }
        text
    };
    let mut lines = Vec::new();
    for expect in expected {
        let got = actual.iter().filter(|a| expect.covers(a)).count() as u64;
        if got != expect.count {
            lines.push(format!(
                "{}: expected {}, got {got}",
                describe(&expect.rule, &expect.group, expect.events),
                expect.count
            ));
        }
    }
    let mut unexpected: BTreeMap<&Actual, u64> = BTreeMap::new();
    for alert in actual {
        if !expected.iter().any(|e| e.count > 0 && e.covers(alert)) {
            *unexpected.entry(alert).or_default() += 1;
        }
    }
    for (alert, count) in unexpected {
        lines.push(format!(
            "{}: expected 0, got {count}",
            describe(&alert.rule, &alert.group, alert.events)
        ));
    }
    lines
}

/// A folder in the system's temporary folder, removed when dropped.
struct TempFolder {
    path: PathBuf,
}

impl TempFolder {
    fn new() -> Result<TempFolder> {
        let path = std::env::temp_dir().join(format!("tansa-rules-test-{}", std::process::id()));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempFolder { path })
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
