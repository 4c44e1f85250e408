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

use crate::alert::{Alert, CorrelationAlert, Detection, EventSnapshot};
use crate::compile::Program;
use crate::correlate::{self, Correlator, MatchRef};
use crate::enrich::{Enrichment, Lang};
use crate::eval::Scratch;
use crate::event::Event;
use crate::field::well_known;
use crate::input::discover::InputFile;
use crate::input::evtx::{self, ChunkStats, EvtxReader};
use crate::order::{SortKey, Sorter};
use jiff::Timestamp;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct HuntOptions {
    /// Worker threads; 0 means one per core.
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
    pub path: PathBuf,
    pub size: u64,
    pub status: FileStatus,
    pub stats: ChunkStats,
    /// Damage that did not stop the file from being read.
    pub notes: Vec<String>,
}

impl FileReport {
    /// Whether some of this file could not be read.
    pub fn is_partial(&self) -> bool {
        matches!(self.status, FileStatus::Failed(_))
            || self.stats.failed > 0
            || self.stats.failed_chunks > 0
            || !self.notes.is_empty()
    }
}

pub struct HuntReport {
    pub files: Vec<FileReport>,
    /// The alerts, serialized, in output order (see `order`).
    pub alerts: Sorter,
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

/// Alerts held in memory before sorted runs spill to disk.
const ALERT_MEMORY_BUDGET: usize = 8 * 1024 * 1024;

/// What the workers of a hunt share.
struct Shared<'a> {
    program: &'a Program,
    files: &'a [InputFile],
    options: &'a HuntOptions,
    progress: &'a Progress,
    /// Output position of each input file (the inputs sorted by path).
    file_rank: Vec<u32>,
    /// Output position of each compiled rule (sorted by rule id).
    rule_rank: Vec<u32>,
    sorter: Mutex<Sorter>,
    /// Matches for the correlation stage (`correlate::wire` records).
    matches: Mutex<Sorter>,
    untimed_matches: AtomicU64,
    levels: [AtomicU64; 5],
    /// The first error writing sorted runs to disk.
    spill_error: Mutex<Option<std::io::Error>>,
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
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
        .map_err(|e| format!("cannot start worker threads: {e}"))?;
    let shared = Shared {
        program,
        files,
        options,
        progress,
        file_rank: ranks(files.len(), |a, b| files[a].path.cmp(&files[b].path)),
        rule_rank: ranks(program.compiled_rules().len(), |a, b| {
            let id = |i: usize| &program.compiled_rules()[i].info.meta.id;
            id(a).cmp(id(b)).then(a.cmp(&b))
        }),
        sorter: Mutex::new(Sorter::new(ALERT_MEMORY_BUDGET)),
        matches: Mutex::new(Sorter::new(ALERT_MEMORY_BUDGET)),
        untimed_matches: AtomicU64::new(0),
        levels: Default::default(),
        spill_error: Mutex::new(None),
    };
    let reports: Vec<FileReport> = pool.install(|| {
        files
            .par_iter()
            .enumerate()
            .map(|(index, file)| {
                let report = scan_file(&shared, index, file);
                progress.files_done.fetch_add(1, Ordering::Relaxed);
                report
            })
            .collect()
    });
    if let Some(e) = lock(&shared.spill_error).take() {
        return Err(spill_message(e));
    }
    let levels = &shared.levels;
    let mut alerts = shared
        .sorter
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    let matches = shared
        .matches
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    let correlation = if program.correlations().is_empty() {
        None
    } else {
        let started = Instant::now();
        let stats = correlate_matches(program, files, matches, options, &mut alerts, levels)
            .map_err(spill_message)?;
        Some(CorrelationReport {
            stats,
            untimed: shared.untimed_matches.into_inner(),
            max_groups: options.max_groups,
            elapsed: started.elapsed(),
        })
    };
    Ok(HuntReport {
        files: reports,
        alerts,
        alerts_by_level: shared.levels.map(|l| l.into_inner()),
        correlation,
        elapsed: started.elapsed(),
    })
}

fn spill_message(e: std::io::Error) -> String {
    format!("cannot write sorted alerts to the temporary folder: {e}")
}

/// The correlation stage: every match in time order through the correlator; what fires
/// becomes an alert (unless a correlation built on it keeps it silent).
fn correlate_matches(
    program: &Program,
    files: &[InputFile],
    matches: Sorter,
    options: &HuntOptions,
    alerts: &mut Sorter,
    levels: &[AtomicU64; 5],
) -> std::io::Result<correlate::Stats> {
    let plan = program.correlations();
    let mut correlator = Correlator::new(plan, options.max_groups);
    let write = |correlator: &mut Correlator<'_>, alerts: &mut Sorter| {
        let mut lines = Vec::new();
        for fired in correlator.drain() {
            let node = &plan.nodes()[fired.node as usize];
            if !node.emits {
                continue;
            }
            levels[node.info.meta.level as usize].fetch_add(1, Ordering::Relaxed);
            let alert = CorrelationAlert::new(&node.info, &fired, options.lang);
            lines.push((fired.key, alert.to_json_line().into_bytes()));
        }
        alerts.extend(lines)
    };
    let paths: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
    let damaged = || std::io::Error::new(std::io::ErrorKind::InvalidData, "a damaged match record");
    matches.for_each(|key, bytes| {
        let m = correlate::wire::decode(&bytes).ok_or_else(damaged)?;
        let (rule, file) = (m.rule as usize, m.file as usize);
        let compiled = program.compiled_rules().get(rule).ok_or_else(damaged)?;
        let feed = program.feed(m.rule).ok_or_else(damaged)?;
        let input = files.get(file).ok_or_else(damaged)?;
        let fields = feed
            .fields
            .iter()
            .zip(m.values)
            .map(|((name, _), value)| (&**name, value))
            .collect();
        correlator.push(
            key,
            MatchRef {
                time: m.time,
                rule: &compiled.info.meta.id,
                host: m.host,
                channel: m.channel,
                record_id: m.record,
                file: &paths[file],
                format: input.format.as_str(),
                fields,
            },
        );
        write(&mut correlator, alerts)
    })?;
    correlator.finish();
    write(&mut correlator, alerts)?;
    Ok(correlator.stats())
}

/// Locks a mutex, also after a worker panicked with it held (the data is still usable).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// `rank[i]`: the position of item `i` when `0..n` is sorted by `order`.
fn ranks(n: usize, order: impl Fn(usize, usize) -> std::cmp::Ordering) -> Vec<u32> {
    let mut indices: Vec<usize> = (0..n).collect();
    indices.sort_by(|&a, &b| order(a, b));
    let mut rank = vec![0u32; n];
    for (position, index) in indices.into_iter().enumerate() {
        rank[index] = position as u32;
    }
    rank
}

fn scan_file(shared: &Shared<'_>, index: usize, file: &InputFile) -> FileReport {
    let (program, options, progress) = (shared.program, shared.options, shared.progress);
    let mut report = FileReport {
        path: file.path.clone(),
        size: file.size,
        status: FileStatus::Scanned,
        stats: ChunkStats::default(),
        notes: Vec::new(),
    };
    let mut reader = match EvtxReader::open(&file.path) {
        Ok(reader) => reader,
        Err(message) => {
            report.status = FileStatus::Failed(message);
            progress.bytes_done.fetch_add(file.size, Ordering::Relaxed);
            return report;
        }
    };
    if let Some(channel) = unneeded_channel_log(program, &file.path, &mut reader) {
        report.status = FileStatus::Skipped(format!("no rule reads channel `{channel}`"));
        progress.bytes_done.fetch_add(file.size, Ordering::Relaxed);
        return report;
    }
    report.notes = std::mem::take(&mut reader.notes);
    let settings = reader.settings();
    // Workers pull chunks from the file as they free up (reading overlaps evaluation).
    // Alerts go straight to the shared sorter; statistics come back in chunk order so
    // that the report does not depend on timing.
    let mut results: Vec<(u64, ChunkStats)> = reader
        .chunks()
        .par_bridge()
        .map_init(
            <(Event, Evaluator)>::default,
            |(event, evaluator), (number, source)| {
                let mut alerts = Vec::new();
                let mut matches = Vec::new();
                let stats = evtx::read_chunk(
                    number,
                    source,
                    &settings,
                    program.fields(),
                    event,
                    |event| {
                        in_window(header_time(event), options)
                            && !program.candidates(event).is_empty()
                    },
                    |event| evaluator.evaluate(shared, index, event, &mut alerts, &mut matches),
                );
                progress
                    .bytes_done
                    .fetch_add(evtx::CHUNK_SIZE, Ordering::Relaxed);
                progress
                    .records
                    .fetch_add(stats.records + stats.skipped, Ordering::Relaxed);
                if !alerts.is_empty() {
                    progress
                        .alerts
                        .fetch_add(alerts.len() as u64, Ordering::Relaxed);
                    if let Err(e) = lock(&shared.sorter).extend(alerts) {
                        lock(&shared.spill_error).get_or_insert(e);
                    }
                }
                if !matches.is_empty()
                    && let Err(e) = lock(&shared.matches).extend(matches)
                {
                    lock(&shared.spill_error).get_or_insert(e);
                }
                (number, stats)
            },
        )
        .collect();
    results.sort_by_key(|(number, _)| *number);
    for (_, stats) in results {
        report.stats.add(&stats);
    }
    report
}

/// What a thread needs to evaluate records, reused from one record to the next.
#[derive(Default)]
struct Evaluator {
    scratch: Scratch,
    matches: Vec<u32>,
}

impl Evaluator {
    /// Evaluates one record; each match becomes a serialized alert in `alerts` and, for a
    /// rule a correlation names, a serialized `Match` in `matches`.
    fn evaluate(
        &mut self,
        shared: &Shared<'_>,
        file: usize,
        event: &mut Event,
        alerts: &mut Vec<(SortKey, Vec<u8>)>,
        matches: &mut Vec<(SortKey, Vec<u8>)>,
    ) {
        let program = shared.program;
        if !in_window(event.time, shared.options) {
            return;
        }
        self.matches.clear();
        let candidates = program.candidates(event);
        program.evaluate(event, candidates, &mut self.scratch, &mut self.matches);
        if self.matches.is_empty() {
            return;
        }
        let input = &shared.files[file];
        let mut snapshot: Option<Arc<EventSnapshot>> = None;
        for &rule in &self.matches {
            let info = &program.rule(rule).info;
            let key = SortKey {
                time: event.time.map_or(i128::MIN, |t| t.as_nanosecond()),
                file: shared.file_rank[file],
                record: event.record_id,
                rule: shared.rule_rank[rule as usize],
            };
            if let Some(feed) = program.feed(rule) {
                match event_nanos(event) {
                    Some(time) => {
                        let mut bytes = Vec::with_capacity(64);
                        correlate::wire::encode(
                            &mut bytes,
                            time,
                            rule,
                            file as u32,
                            event.record_id,
                            event.computer(),
                            event.channel(),
                            feed.fields.iter().map(|(_, id)| event.first(*id)),
                        );
                        matches.push((key, bytes));
                    }
                    None => {
                        shared.untimed_matches.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if !program.raises_alerts(rule) {
                continue;
            }
            let snapshot = snapshot
                .get_or_insert_with(|| {
                    Arc::new(EventSnapshot {
                        fields: event.to_pairs(),
                        host: event.computer().map(str::to_string),
                        channel: event.channel().map(str::to_string),
                        provider: event.provider().map(str::to_string),
                        event_id: event.event_id(),
                    })
                })
                .clone();
            shared.levels[info.meta.level as usize].fetch_add(1, Ordering::Relaxed);
            let alert = Alert::detection(Detection {
                rule: info,
                time: event.time,
                record_id: event.record_id,
                source_file: &input.path,
                format: input.format.as_str(),
                event: snapshot,
                matched: program.explain(rule, event, &mut self.scratch),
                lang: shared.options.lang,
                enrichment: &shared.options.enrichment,
            });
            alerts.push((key, alert.to_json_line().into_bytes()));
        }
    }
}

/// The event's time in nanoseconds, if it has one in the range correlation handles
/// (1677 to 2262).
fn event_nanos(event: &Event) -> Option<i64> {
    event
        .time
        .and_then(|t| i64::try_from(t.as_nanosecond()).ok())
}

fn header_time(event: &Event) -> Option<Timestamp> {
    event
        .header_value(well_known::TIME_CREATED)
        .and_then(evtx::parse_system_time)
}

/// Whether `time` is inside `--since`/`--until`. An event whose time is unknown is kept.
fn in_window(time: Option<Timestamp>, options: &HuntOptions) -> bool {
    let Some(time) = time else { return true };
    options.since.is_none_or(|since| time >= since)
        && options.until.is_none_or(|until| time < until)
}

/// The channel of a live Windows log no rule reads: the file is named after its channel
/// (`Microsoft-Windows-Sysmon%4Operational.evtx`), which Windows does for the logs it
/// keeps, and its first record confirms it. Such a file holds only that channel's events.
/// Files named otherwise (exports, merged samples) are always read.
fn unneeded_channel_log(program: &Program, path: &Path, reader: &mut EvtxReader) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    let named = stem.replace("%4", "/");
    if program.wants_channel(&named) {
        return None;
    }
    let first = reader.first_channel(program.fields())?;
    first.eq_ignore_ascii_case(&named).then_some(first)
}
