//! A hunt: every input read in parallel, every record evaluated, matches merged in a fixed
//! order, correlated, and turned into alerts. The one place that owns threads.
//!
//! Work is split two ways on one rayon pool: across files, and within a file across the
//! chunks of a batch, so both a folder of small logs and one large Security log keep every
//! core busy. Workers evaluate rules next to the data and send back only matches. Matches
//! carry a sort key (event time, source file, record id, rule id), and alerts are written in
//! that order, so the output is byte-identical at any thread count.
//!
//! Matches of rules that a correlation names also go, as small records (`correlate::wire`), through a
//! second external sort; once every file is read, the correlation stage takes them in time
//! order (`correlate`), so a host's log split over several files, or a spray spread over
//! several domain controllers, correlates as one stream.

mod copies;
mod correlation;
mod evaluate;
mod stream;

pub use stream::{StreamReport, hunt_stream};

use crate::alert::RuleTexts;
use crate::compile::Program;
use crate::correlate;
use crate::enrich::{Enrichment, Lang};
use crate::event::Event;
use crate::input::discover::{Container, Format, InputFile};
use crate::input::evtx::{ChunkContext, ChunkStats, EvtxReader, Wants};
use crate::input::records::{self, ReadOptions, Reader};
use crate::order::{Batch, SharedSorter, Sorter};
use copies::RecentMatches;
use evaluate::{Context, Evaluator, ReadPolicy, header_time, in_window};
use jiff::Timestamp;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct HuntOptions {
    /// Worker threads; 0 means the current rayon pool (the global one, one thread per
    /// core, unless the program configured it). A count equal to the current pool's also
    /// runs there; any other count gets a pool of its own for the hunt.
    pub threads: usize,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
    /// The language of alert texts.
    pub lang: Lang,
    /// Words for codes in events.
    pub enrichment: Arc<Enrichment>,
    /// The most correlation groups alive at once.
    pub max_groups: usize,
    /// Years and zones for syslog timestamps that lack them.
    pub read: ReadOptions,
}

impl Default for HuntOptions {
    fn default() -> Self {
        HuntOptions {
            threads: 0,
            since: None,
            until: None,
            lang: Lang::En,
            enrichment: Arc::new(Enrichment::builtin()),
            max_groups: correlate::DEFAULT_MAX_GROUPS,
            read: ReadOptions::default(),
        }
    }
}

/// Counters a progress display can read while a hunt runs.
#[derive(Debug, Default)]
pub struct Progress {
    pub bytes_total: AtomicU64,
    pub bytes_done: AtomicU64,
    pub records: AtomicU64,
    pub alerts: AtomicU64,
    pub files_done: AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    Scanned,
    /// Not read, on purpose (the reason says why).
    Skipped(String),
    /// Could not be read at all.
    Failed(String),
}

/// What became of one input file.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// How the input is named in alerts (`InputFile::name`), shared with the hunt's
    /// context: a collection can hold many thousands of files.
    pub name: Arc<str>,
    pub size: u64,
    pub status: FileStatus,
    pub stats: ChunkStats,
    /// Damage that did not stop the file from being read.
    pub notes: Vec<String>,
}

impl FileReport {
    /// Whether some of this file could not be read (a line cut at 16 MiB lost its rest).
    pub fn is_partial(&self) -> bool {
        matches!(self.status, FileStatus::Failed(_))
            || self.stats.failed > 0
            || self.stats.failed_chunks > 0
            || self.stats.cut_lines > 0
            || !self.notes.is_empty()
    }
}

pub struct HuntReport {
    pub files: Vec<FileReport>,
    /// The alerts as entries (see `alert`), in output order (see `order`); `write_alerts`
    /// writes them out.
    pub alerts: Sorter,
    /// What the entries leave out.
    pub rule_texts: RuleTexts,
    /// Alerts per level, indexed by `Level as usize`.
    pub alerts_by_level: [u64; 5],
    /// What the correlation stage did (`None` when no correlation rule is loaded).
    pub correlation: Option<CorrelationReport>,
    pub elapsed: Duration,
}

/// The correlation stage's counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct CorrelationReport {
    pub stats: correlate::Stats,
    /// Matches of events without a time, which no window can hold.
    pub untimed: u64,
    /// The live-group cap the hunt ran with.
    pub max_groups: usize,
    /// The time the stage took (ordering the matches and correlating them).
    pub elapsed: Duration,
}

impl HuntReport {
    /// Writes every alert, one JSON line each, in output order, and leaves none behind.
    pub fn write_alerts(&mut self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let alerts = std::mem::replace(&mut self.alerts, Sorter::new(0));
        alerts.for_each(|_, entry| self.rule_texts.write_line(entry, out))
    }

    pub fn records(&self) -> u64 {
        self.files
            .iter()
            .map(|f| f.stats.records + f.stats.skipped)
            .sum()
    }

    pub fn failed_records(&self) -> u64 {
        self.files.iter().map(|f| f.stats.failed).sum()
    }
}

/// Alerts (as entries, without their rule objects: see `alert`) held in memory before
/// sorted runs spill to disk. The archived-logons bench writes 610,000 alerts (1.5 GB of
/// lines, about 0.85 GB of entries): 4 MiB makes about 210 runs, under `order::FAN_IN`, so
/// they merge once, and the hunt takes as long as with 8 MiB (6.5-6.9 s) for 4 MiB less at
/// peak. Past the fan-in they would merge twice: a budget that did so took 25% longer.
const ALERT_MEMORY_BUDGET: usize = 4 * 1024 * 1024;
/// The same for match records, which are small (about 100 bytes) and can be one per record
/// read: a smaller budget keeps a hunt whose every record matches from holding 5 MiB more,
/// and even 1.5 million matches make only about 150 runs, all merged at once (the logons
/// bench takes as long as with 2 MiB).
const MATCH_MEMORY_BUDGET: usize = 1024 * 1024;

/// What the workers of a hunt share.
struct Shared<'a> {
    context: Context<'a>,
    progress: &'a Progress,
    sorter: SharedSorter,
    /// Matches for the correlation stage (`correlate::wire` records).
    matches: SharedSorter,
    /// The first error writing sorted runs to disk.
    spill_error: Mutex<Option<std::io::Error>>,
    /// Workers between two pieces of input (see `Lease`).
    idle_workers: Mutex<Vec<Worker>>,
    /// What every file's EVTX chunks share (see `ChunkContext`).
    evtx: Arc<ChunkContext>,
}

/// Runs `program` over `files`.
pub fn hunt(
    program: &Program,
    files: &[InputFile],
    options: &HuntOptions,
    progress: &Progress,
) -> Result<HuntReport, String> {
    let started = Instant::now();
    progress
        .bytes_total
        .store(files.iter().map(|f| f.size).sum(), Ordering::Relaxed);
    let shared = Shared {
        context: Context::new(program, files, options),
        progress,
        sorter: SharedSorter::new(ALERT_MEMORY_BUDGET),
        matches: SharedSorter::keeping_room(MATCH_MEMORY_BUDGET),
        spill_error: Mutex::new(None),
        idle_workers: Mutex::new(Vec::new()),
        evtx: Arc::default(),
    };
    let scan_all = || -> Vec<FileReport> {
        files
            .par_iter()
            .enumerate()
            .map(|(index, file)| {
                let report = scan_file(&shared, index, file);
                progress.files_done.fetch_add(1, Ordering::Relaxed);
                report
            })
            .collect()
    };
    let reports = if options.threads == 0 || options.threads == rayon::current_num_threads() {
        // The threads that compiled the rules: with glibc each thread allocates from its own
        // arena, and memory the compiler freed stays with its threads, so new threads would
        // hold ~10 MiB more for the same work.
        scan_all()
    } else {
        rayon::ThreadPoolBuilder::new()
            .num_threads(options.threads)
            .build()
            .map_err(|e| format!("cannot start worker threads: {e}"))?
            .install(scan_all)
    };
    if let Some(e) = lock(&shared.spill_error).take() {
        return Err(spill_message(e));
    }
    // Matches made for the correlation stage, per rule, over every worker (copies dropped
    // by the workers included), and the copies.
    let mut fed = vec![0u64; program.compiled_rules().len()];
    let mut copies = 0;
    for worker in lock(&shared.idle_workers).iter() {
        for (total, n) in fed.iter_mut().zip(worker.evaluator.fed()) {
            *total += n;
        }
        copies += worker.recent_matches.dropped();
    }
    let context = shared.context;
    let mut alerts = shared.sorter.into_inner();
    let matches = shared.matches.into_inner();
    let correlation = if program.correlations().is_empty() {
        None
    } else {
        let started = Instant::now();
        let mut stats = correlation::correlate_all(&context, matches, &fed, &mut alerts)
            .map_err(spill_message)?;
        // Counted as the stage counts the copies it drops (see `copies`).
        stats.matches += copies;
        stats.duplicates += copies;
        Some(CorrelationReport {
            stats,
            untimed: context.untimed_matches.load(Ordering::Relaxed),
            max_groups: options.max_groups,
            elapsed: started.elapsed(),
        })
    };
    Ok(HuntReport {
        files: reports,
        alerts,
        rule_texts: context.rule_texts,
        alerts_by_level: context.levels.map(|l| l.into_inner()),
        correlation,
        elapsed: started.elapsed(),
    })
}

fn spill_message(e: std::io::Error) -> String {
    format!("cannot write sorted alerts to the temporary folder: {e}")
}

/// Locks a mutex, also after a worker panicked with it held (the data is still usable).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a worker thread keeps from one piece of input to the next.
#[derive(Default)]
struct Worker {
    event: Event,
    evaluator: Evaluator,
    policy: ReadPolicy,
    /// Alerts and correlation matches of the piece being read, handed to the sorters
    /// (which empty them) when it is done.
    alerts: Batch,
    matches: Batch,
    /// The correlation matches this worker sent lately, to drop copies of them.
    recent_matches: RecentMatches,
}

/// A worker taken from the hunt's idle ones for one file's pieces, and given back after.
/// rayon makes a worker state for each job of a file, and a fresh one would allocate and
/// zero its scratch again (a stamp per needle and per rule: about 110 KB with SigmaHQ's
/// rules) for every file of a collection that can hold thousands.
struct Lease<'a> {
    worker: Worker,
    idle: &'a Mutex<Vec<Worker>>,
}

impl<'a> Lease<'a> {
    fn take(idle: &'a Mutex<Vec<Worker>>) -> Lease<'a> {
        Lease {
            worker: lock(idle).pop().unwrap_or_default(),
            idle,
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        lock(self.idle).push(std::mem::take(&mut self.worker));
    }
}

fn scan_file(shared: &Shared<'_>, index: usize, file: &InputFile) -> FileReport {
    let context = &shared.context;
    let (program, options, progress) = (context.program, context.options, shared.progress);
    let mut report = FileReport {
        name: context.names[index].clone(),
        size: file.size,
        status: FileStatus::Scanned,
        stats: ChunkStats::default(),
        notes: Vec::new(),
    };
    if let Some(channel) = unneeded_channel_log(program, file) {
        report.status = FileStatus::Skipped(format!("no rule reads channel `{channel}`"));
        progress.bytes_done.fetch_add(file.size, Ordering::Relaxed);
        return report;
    }
    let reader = Reader::new(file, &options.read, shared.evtx.clone());
    // Workers pull pieces (EVTX chunks, blocks of lines) from the file as they free up, so
    // reading overlaps evaluation. Alerts go straight to the shared sorter; statistics come
    // back in file order so that the report does not depend on timing.
    let read = records::with_pieces(file, |pieces| {
        pieces
            .par_bridge()
            .map_init(
                || Lease::take(&shared.idle_workers),
                |lease, piece| {
                    let (position, bytes) = (piece.position(), piece.bytes());
                    let Worker {
                        event,
                        evaluator,
                        policy,
                        alerts,
                        matches,
                        recent_matches,
                    } = &mut lease.worker;
                    let policy = &*policy;
                    let stats = reader.read(
                        piece,
                        program.fields(),
                        event,
                        Wants {
                            header: policy.header(program),
                            keep: |event: &Event| {
                                if !in_window(|| header_time(event), options) {
                                    return None;
                                }
                                let candidates = program.candidates(event);
                                (!candidates.is_empty()).then(|| policy.wanted(&candidates))
                            },
                        },
                        |event| {
                            policy
                                .handled(evaluator.evaluate(context, index, event, alerts, matches))
                        },
                    );
                    progress.bytes_done.fetch_add(bytes, Ordering::Relaxed);
                    progress
                        .records
                        .fetch_add(stats.records + stats.skipped, Ordering::Relaxed);
                    if !alerts.is_empty() {
                        progress
                            .alerts
                            .fetch_add(alerts.len() as u64, Ordering::Relaxed);
                        if let Err(e) = shared.sorter.extend(alerts) {
                            lock(&shared.spill_error).get_or_insert(e);
                        }
                    }
                    matches.retain(|key, bytes| !recent_matches.is_copy(key, bytes));
                    if !matches.is_empty()
                        && let Err(e) = shared.matches.extend(matches)
                    {
                        lock(&shared.spill_error).get_or_insert(e);
                    }
                    (position, stats)
                },
            )
            .collect::<Vec<(u64, ChunkStats)>>()
    });
    match read {
        Ok((mut results, notes)) => {
            results.sort_by_key(|(position, _)| *position);
            for (_, stats) in results {
                report.stats.add(&stats);
            }
            report.notes = notes;
        }
        Err(message) => {
            report.status = FileStatus::Failed(message);
            progress.bytes_done.fetch_add(file.size, Ordering::Relaxed);
        }
    }
    report
}

/// The channel of a live Windows log no rule reads: the file is named after its channel
/// (`Microsoft-Windows-Sysmon%4Operational.evtx`), which Windows does for the logs it
/// keeps, and its first record confirms it. Such a file holds only that channel's events.
/// Files named otherwise (exports, merged samples) are always read.
fn unneeded_channel_log(program: &Program, file: &InputFile) -> Option<String> {
    if file.format != Format::Evtx || file.container != Container::Plain {
        return None;
    }
    let stem = file.path.file_stem()?.to_str()?;
    let named = stem.replace("%4", "/");
    if program.wants_channel(&named) {
        return None;
    }
    let first = EvtxReader::open(&file.path)
        .ok()?
        .first_channel(program.fields())?;
    first.eq_ignore_ascii_case(&named).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{Options, compile};
    use crate::rule::load_str;
    use std::path::Path;
    use tansa_fixtures::event::EventSpec;

    /// An alerting rule reading `Status`, and a silent one feeding a correlation by
    /// `IpAddress`.
    const RULES: &str = "title: Locked out
id: locked
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4625, Status: '0xc0000234'}
  condition: selection
---
title: Failure
id: failure
name: failure
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4625}
  condition: selection
---
title: Burst
id: burst
correlation:
  type: event_count
  rules: [failure]
  group-by: [IpAddress]
  timespan: 1h
  condition: {gte: 100}
generate: false
";

    /// Records read in part (only the fields their rules read) still give alerts with every
    /// field, correlations fed from fields no alerting rule reads, and a count of one per
    /// record, whether most alert (a worker then reads whole) or few do.
    #[test]
    fn records_read_in_part_give_whole_alerts_and_feed_correlations() {
        for alerting_share in [2, 1000] {
            let count = 3_000;
            let events: Vec<EventSpec> = (0..count)
                .map(|i| {
                    let time = jiff::Timestamp::from_second(1_700_000_000 + i).unwrap();
                    let status = if i % alerting_share == 0 {
                        "0xc0000234"
                    } else {
                        "0xc000006a"
                    };
                    EventSpec::new("Security", 4625)
                        .at(time)
                        .data("TargetUserName", &format!("user{i}"))
                        .data("Status", status)
                        .data("IpAddress", "10.0.0.5")
                        .data("WorkstationName", "WS01")
                })
                .collect();
            let mut report = hunt_log(&format!("partial-{alerting_share}"), &events, RULES);
            assert_eq!(report.files[0].stats.records, count as u64);
            let alerts = alerts_of(&mut report);
            let locked: Vec<&serde_json::Value> = alerts
                .iter()
                .filter(|a| a["rule"]["id"] == "locked")
                .collect();
            assert_eq!(
                locked.len() as i64,
                (count + alerting_share - 1) / alerting_share
            );
            for alert in locked {
                assert_eq!(alert["event"]["IpAddress"], "10.0.0.5");
                assert_eq!(alert["event"]["WorkstationName"], "WS01");
                assert!(alert["event"]["TargetUserName"].is_string());
            }
            let burst = alerts.iter().find(|a| a["rule"]["id"] == "burst");
            let group = &burst.expect("the correlation fired")["correlation"]["group"];
            assert_eq!(
                group["IpAddress"], "10.0.0.5",
                "grouped by a field only it reads"
            );
        }
    }

    /// A keyword rule over every channel, and a field rule that excludes keyword hits: a
    /// record is read in part unless its strings may hold a keyword, wherever the keyword is
    /// (a field no rule names, `<System>`'s provider, text its template writes, any case).
    #[test]
    fn keyword_searches_find_keywords_in_records_read_in_part() {
        const RULES: &str = "title: Mimikatz words
id: words
logsource: {product: windows}
detection:
  keywords: ['sekurlsa::', 'kiwi legit printer']
  condition: keywords
---
title: Admin logon without the words
id: quiet
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4624, TargetUserName: admin}
  words: ['sekurlsa::']
  condition: selection and not words
";
        // Few alerts, so that the worker goes on reading in part (see `ReadPolicy`).
        let logon = |i: i64| {
            let user = if i % 50 == 0 { "admin" } else { "user" };
            EventSpec::new("Security", 4624)
                .at(jiff::Timestamp::from_second(1_700_000_000 + i).unwrap())
                .data("TargetUserName", user)
                .data("ProcessName", "C:\\Windows\\System32\\lsass.exe")
        };
        let mut events: Vec<EventSpec> = (0..400).map(logon).collect();
        // In a field no rule names; in the provider's source name, which a header read in
        // part leaves out; in capitals. Record 101 is an admin logon with the words.
        events[100] = logon(100).data("CommandLine", "mimikatz sekurlsa::logonpasswords");
        events[110] = logon(110).data("CommandLine", "mimikatz sekurlsa::logonpasswords");
        events[210].event_source_name = Some("Kiwi Legit Printer".into());
        events[310] = logon(310).data("CommandLine", "x SEKURLSA::Tickets");
        let records: Vec<tansa_fixtures::evtx_file::Record> = events
            .iter()
            .enumerate()
            .map(|(i, event)| {
                let id = i as u64 + 1;
                let mut root = event.to_element(id);
                if i == 260 {
                    let computer = root.find_mut("Computer").unwrap();
                    computer.content =
                        tansa_fixtures::binxml::Content::Fixed("kiwi legit printer".into());
                }
                let filetime = tansa_fixtures::event::filetime(event.time);
                tansa_fixtures::evtx_file::Record {
                    record_id: id,
                    filetime,
                    root,
                }
            })
            .collect();
        let evtx = tansa_fixtures::evtx_file::write(&records).unwrap();
        let mut report = hunt_evtx("keywords", &evtx, RULES);
        assert_eq!(report.files[0].stats.records, 400);
        let alerts = alerts_of(&mut report);
        let records_of = |rule: &str| -> Vec<u64> {
            alerts
                .iter()
                .filter(|a| a["rule"]["id"] == rule)
                .map(|a| {
                    a["event"]["EventRecordID"]
                        .as_str()
                        .unwrap()
                        .parse()
                        .unwrap()
                })
                .collect()
        };
        assert_eq!(records_of("words"), [101, 111, 211, 261, 311]);
        assert_eq!(records_of("quiet"), [1, 51, 151, 201, 251, 301, 351]);
    }

    /// A log that holds its events twice (its chunks repeated, record ids and all) raises
    /// the alerts of the log once, byte for byte, and its summary counts every copy as a
    /// match and a duplicate, whether a worker dropped it or the correlation stage did.
    #[test]
    fn a_log_holding_its_events_twice_correlates_as_the_log_once() {
        let events: Vec<EventSpec> = (0..600)
            .map(|i| {
                let status = if i % 7 == 0 {
                    "0xc0000234"
                } else {
                    "0xc000006a"
                };
                EventSpec::new("Security", 4625)
                    .at(jiff::Timestamp::from_second(1_700_000_000 + i).unwrap())
                    .data("TargetUserName", &format!("user{i}"))
                    .data("Status", status)
                    .data("IpAddress", &format!("10.0.0.{}", i % 3))
            })
            .collect();
        let log = |copies: usize| {
            let records: Vec<tansa_fixtures::evtx_file::Record> = (0..copies)
                .flat_map(|_| events.iter().enumerate())
                .map(|(i, event)| tansa_fixtures::evtx_file::Record {
                    record_id: i as u64 + 1,
                    filetime: tansa_fixtures::event::filetime(event.time),
                    root: event.to_element(i as u64 + 1),
                })
                .collect();
            tansa_fixtures::evtx_file::write(&records).unwrap()
        };
        let mut once = hunt_evtx("copies", &log(1), RULES);
        let mut twice = hunt_evtx("copies", &log(2), RULES);
        let counts = |report: &HuntReport| {
            let stats = report.correlation.unwrap().stats;
            (stats.matches, stats.duplicates, stats.fired)
        };
        assert_eq!(counts(&once), (600, 0, 3));
        assert_eq!(counts(&twice), (1200, 600, 3));
        let lines = |report: &mut HuntReport| {
            let mut out = Vec::new();
            report.write_alerts(&mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let (once, twice) = (lines(&mut once), lines(&mut twice));
        assert!(once.contains("\"burst\""), "{once}");
        // The locked-out alerts twice (alerts are not dropped), the correlation's once.
        let locked = |text: &str| text.lines().filter(|l| l.contains("\"locked\"")).count();
        assert_eq!(locked(&twice), 2 * locked(&once));
        let without_locked = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| !l.contains("\"locked\""))
                .map(String::from)
                .collect()
        };
        assert_eq!(without_locked(&twice), without_locked(&once));
    }

    /// The alerts of a hunt, parsed.
    fn alerts_of(report: &mut HuntReport) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        report.write_alerts(&mut out).unwrap();
        std::str::from_utf8(&out)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Hunts a log of `events`, written to a temporary file (`name` tells it apart), with
    /// the rules and correlations of `yaml`, which must all compile.
    fn hunt_log(name: &str, events: &[EventSpec], yaml: &str) -> HuntReport {
        hunt_evtx(name, &tansa_fixtures::write_evtx(events).unwrap(), yaml)
    }

    /// `hunt_log` over an EVTX file's bytes.
    fn hunt_evtx(name: &str, evtx: &[u8], yaml: &str) -> HuntReport {
        let path = std::env::temp_dir().join(format!("tansa-{name}-{}.evtx", std::process::id()));
        std::fs::write(&path, evtx).unwrap();
        let loaded = load_str(Path::new("r.yml"), yaml);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let (program, errors) = compile(loaded.rules, loaded.correlations, &Options::default());
        assert!(errors.is_empty(), "{errors:?}");
        let files = [InputFile {
            size: std::fs::metadata(&path).unwrap().len(),
            path: path.clone(),
            container: Container::Plain,
            format: Format::Evtx,
            modified: None,
        }];
        let report = hunt(
            &program,
            &files,
            &HuntOptions::default(),
            &Progress::default(),
        );
        std::fs::remove_file(&path).unwrap();
        report.unwrap()
    }

    /// Enough alerts to pass `ALERT_MEMORY_BUDGET` come back from disk as whole lines, each
    /// with its rule object, in order.
    #[test]
    fn alerts_spilled_to_disk_come_back_with_their_rule_objects() {
        let count = 12_000;
        let events: Vec<EventSpec> = (0..count)
            .map(|i| {
                let time = jiff::Timestamp::from_second(1_700_000_000 + i).unwrap();
                EventSpec::new("Security", 4625)
                    .at(time)
                    .data("TargetUserName", &format!("user{i}"))
                    .data("IpAddress", "10.0.0.5")
            })
            .collect();
        let mut report = hunt_log(
            "spill",
            &events,
            "title: Failed logon\nid: r\nlevel: low\ndescription: \"Every \\\"failure\\\".\\nTwo lines.\"\n\
             logsource:\n  product: windows\n  service: security\n\
             detection:\n  selection:\n    EventID: 4625\n  condition: selection\n",
        );
        assert!(report.alerts.spilled_runs() > 0, "the alerts went to disk");
        let mut out = Vec::new();
        report.write_alerts(&mut out).unwrap();

        let lines: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
        assert_eq!(lines.len(), count as usize);
        for (n, line) in lines.iter().enumerate() {
            let alert: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(alert["record_id"], n as u64 + 1, "in order");
            assert_eq!(alert["rule"]["id"], "r");
            assert_eq!(
                alert["rule"]["description"],
                "Every \"failure\".\nTwo lines."
            );
            assert_eq!(alert["event"]["TargetUserName"], format!("user{n}"));
        }
    }
}
