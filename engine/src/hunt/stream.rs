//! A hunt over a stream (`tansa hunt -`): events one at a time from a pipe, alerts written
//! as they happen, so a SIEM pipeline can put tansa in the middle.
//!
//! One thread reads, evaluates and writes; each event's alerts are flushed before the next
//! event is read. Correlation runs as events arrive: windows close as event time advances,
//! and an alert is written when its burst ends (or when the input ends). Events are taken
//! in the order they come; one whose time is earlier than an event already taken counts at
//! that later time (a stream cannot be sorted without waiting for its end).

use super::correlation::{fired_alerts, push_match};
use super::evaluate::{Context, Evaluator};
use super::{CorrelationReport, HuntOptions};
use crate::compile::Program;
use crate::correlate::Correlator;
use crate::event::Event;
use crate::input::discover::{Container, Format, InputFile};
use crate::input::lines::MAX_LINE_BYTES;
use crate::input::records::Reader;
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What a stream hunt did.
#[derive(Debug, Clone, Default)]
pub struct StreamReport {
    /// Lines read as events.
    pub records: u64,
    /// Lines that could not be read (not JSON, for a JSON stream).
    pub failed: u64,
    /// Lines cut at `MAX_LINE_BYTES`.
    pub cut_lines: u64,
    /// The first few errors, with their line numbers.
    pub errors: Vec<String>,
    pub alerts_by_level: [u64; 5],
    pub correlation: Option<CorrelationReport>,
    pub elapsed: Duration,
}

/// How many error messages the report keeps (all are counted).
const ERRORS_KEPT: usize = 20;

/// Hunts `input` (JSON lines or syslog, as `format` says), writing each alert to `out` as
/// one line and flushing after every event that raised any.
pub fn hunt_stream(
    program: &Program,
    input: &mut dyn BufRead,
    format: Format,
    options: &HuntOptions,
    out: &mut dyn Write,
) -> io::Result<StreamReport> {
    let started = Instant::now();
    let files = [InputFile {
        path: PathBuf::from("-"),
        container: Container::Plain,
        format,
        size: 0,
        modified_year: None,
    }];
    let context = Context::new(program, &files, options);
    let reader = Reader::new(&files[0], &options.read);
    let plan = program.correlations();
    let mut correlator = (!plan.is_empty()).then(|| Correlator::new(plan, options.max_groups));
    let (mut event, mut evaluator) = (Event::new(), Evaluator::default());
    let mut report = StreamReport::default();
    let mut line = Vec::new();
    let mut number = 0u64;
    while let Some(cut) = read_line(input, &mut line)? {
        number += 1;
        report.cut_lines += u64::from(cut);
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        event.clear();
        event.record_id = number;
        if let Err(e) = reader.read_line(text, program.fields(), &mut event) {
            report.failed += 1;
            if report.errors.len() < ERRORS_KEPT {
                report.errors.push(format!("line {number}: {e}"));
            }
            continue;
        }
        report.records += 1;
        let (mut alerts, mut matches) = (Vec::new(), Vec::new());
        evaluator.evaluate(&context, 0, &mut event, &mut alerts, &mut matches);
        alerts.sort_by_key(|(key, _)| *key);
        if let Some(correlator) = &mut correlator {
            for (key, bytes) in &matches {
                push_match(&context, correlator, *key, bytes)?;
            }
            alerts.extend(fired_alerts(&context, correlator));
        }
        write_all(out, &alerts)?;
    }
    if let Some(correlator) = &mut correlator {
        correlator.finish();
        let mut fired = fired_alerts(&context, correlator);
        fired.sort_by_key(|(key, _)| *key);
        write_all(out, &fired)?;
        report.correlation = Some(CorrelationReport {
            stats: correlator.stats(),
            untimed: context.untimed_matches.load(Ordering::Relaxed),
            max_groups: options.max_groups,
            elapsed: started.elapsed(),
        });
    }
    report.alerts_by_level = context.levels.map(|l| l.into_inner());
    report.elapsed = started.elapsed();
    Ok(report)
}

fn write_all(out: &mut dyn Write, alerts: &[(crate::order::SortKey, Vec<u8>)]) -> io::Result<()> {
    if alerts.is_empty() {
        return Ok(());
    }
    for (_, line) in alerts {
        out.write_all(line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Reads one line (with its `\n`) into `line`; `None` at the end of the input, else whether
/// the line was cut at `MAX_LINE_BYTES` (the rest of it is skipped).
fn read_line(input: &mut dyn BufRead, line: &mut Vec<u8>) -> io::Result<Option<bool>> {
    line.clear();
    let mut cut = false;
    loop {
        let available = match input.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((!line.is_empty() || cut).then_some(cut));
        }
        let (taken, done) = match memchr::memchr(b'\n', available) {
            Some(end) => (end + 1, true),
            None => (available.len(), false),
        };
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        if taken > room {
            cut = true;
        }
        line.extend_from_slice(&available[..taken.min(room)]);
        input.consume(taken);
        if done {
            return Ok(Some(cut));
        }
    }
}
