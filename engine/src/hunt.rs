//! A hunt: every input read in parallel, every record evaluated, matches merged in a fixed
//! order and turned into alerts. The one place that owns threads.
//!
//! Work is split two ways on one rayon pool: across files, and within a file across the
//! chunks of a batch, so both a folder of small logs and one large Security log keep every
//! core busy. Workers evaluate rules next to the data and send back only matches. Matches
//! carry a sort key (event time, source file, record id, rule id), and alerts are written in
//! that order, so the output is byte-identical at any thread count.

use crate::alert::{Alert, Detection, EventSnapshot};
use crate::compile::Program;
use crate::eval::{MatchedSelection, Scratch};
use crate::event::Event;
use crate::field::well_known;
use crate::input::discover::InputFile;
use crate::input::evtx::{self, ChunkStats, EvtxReader};
use jiff::Timestamp;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct HuntOptions {
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
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

#[derive(Debug)]
pub struct HuntReport {
    pub files: Vec<FileReport>,
    pub alerts: Vec<Alert>,
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

/// A match, before it becomes an alert.
struct Hit {
    time: Option<Timestamp>,
    file: usize,
    record_id: u64,
    rule: u32,
    event: Arc<EventSnapshot>,
    matched: Vec<MatchedSelection>,
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
    let results: Vec<(FileReport, Vec<Hit>)> = pool.install(|| {
        files
            .par_iter()
            .enumerate()
            .map(|(index, file)| {
                let result = scan_file(program, index, file, options, progress);
                progress.files_done.fetch_add(1, Ordering::Relaxed);
                result
            })
            .collect()
    });

    let mut reports = Vec::with_capacity(results.len());
    let mut hits = Vec::new();
    for (report, file_hits) in results {
        reports.push(report);
        hits.extend(file_hits);
    }
    hits.sort_by(|a, b| {
        a.time
            .cmp(&b.time)
            .then_with(|| files[a.file].path.cmp(&files[b.file].path))
            .then(a.record_id.cmp(&b.record_id))
            .then_with(|| {
                program
                    .rule(a.rule)
                    .info
                    .meta
                    .id
                    .cmp(&program.rule(b.rule).info.meta.id)
            })
            .then(a.rule.cmp(&b.rule))
    });
    let alerts = hits
        .into_iter()
        .map(|hit| {
            Alert::detection(Detection {
                rule: &program.rule(hit.rule).info,
                time: hit.time,
                record_id: hit.record_id,
                source_file: &files[hit.file].path,
                format: files[hit.file].format.as_str(),
                event: hit.event,
                matched: hit.matched,
            })
        })
        .collect();
    Ok(HuntReport {
        files: reports,
        alerts,
        elapsed: started.elapsed(),
    })
}

fn scan_file(
    program: &Program,
    index: usize,
    file: &InputFile,
    options: &HuntOptions,
    progress: &Progress,
) -> (FileReport, Vec<Hit>) {
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
            return (report, Vec::new());
        }
    };
    if let Some(channel) = unneeded_channel_log(program, &file.path, &mut reader) {
        report.status = FileStatus::Skipped(format!("no rule reads channel `{channel}`"));
        progress.bytes_done.fetch_add(file.size, Ordering::Relaxed);
        return (report, Vec::new());
    }
    report.notes = std::mem::take(&mut reader.notes);
    let settings = reader.settings();
    // Workers pull chunks from the file as they free up (reading overlaps evaluation);
    // results are put back in chunk order so that the report does not depend on timing.
    let mut results: Vec<(u64, ChunkStats, Vec<Hit>)> = reader
        .chunks()
        .par_bridge()
        .map_init(
            <(Event, Evaluator)>::default,
            |(event, evaluator), (number, source)| {
                let mut chunk_hits = Vec::new();
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
                    |event| evaluator.evaluate(program, index, event, options, &mut chunk_hits),
                );
                progress
                    .bytes_done
                    .fetch_add(evtx::CHUNK_SIZE, Ordering::Relaxed);
                progress
                    .records
                    .fetch_add(stats.records + stats.skipped, Ordering::Relaxed);
                progress
                    .alerts
                    .fetch_add(chunk_hits.len() as u64, Ordering::Relaxed);
                (number, stats, chunk_hits)
            },
        )
        .collect();
    results.sort_by_key(|(number, _, _)| *number);
    let mut hits = Vec::new();
    for (_, stats, chunk_hits) in results {
        report.stats.add(&stats);
        hits.extend(chunk_hits);
    }
    (report, hits)
}

/// What a thread needs to evaluate records, reused from one record to the next.
#[derive(Default)]
struct Evaluator {
    scratch: Scratch,
    matches: Vec<u32>,
}

impl Evaluator {
    fn evaluate(
        &mut self,
        program: &Program,
        file: usize,
        event: &mut Event,
        options: &HuntOptions,
        hits: &mut Vec<Hit>,
    ) {
        if !in_window(event.time, options) {
            return;
        }
        self.matches.clear();
        let candidates = program.candidates(event);
        program.evaluate(event, candidates, &mut self.scratch, &mut self.matches);
        if self.matches.is_empty() {
            return;
        }
        let snapshot = Arc::new(EventSnapshot {
            fields: event.to_pairs(),
            host: event.computer().map(str::to_string),
            channel: event.channel().map(str::to_string),
            provider: event.provider().map(str::to_string),
            event_id: event.event_id(),
        });
        for &rule in &self.matches {
            hits.push(Hit {
                time: event.time,
                file,
                record_id: event.record_id,
                rule,
                event: snapshot.clone(),
                matched: program.explain(rule, event, &mut self.scratch),
            });
        }
    }
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
