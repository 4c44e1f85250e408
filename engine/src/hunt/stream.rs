//! A hunt over a stream (`tansa hunt -`): events one at a time from a pipe, alerts written
//! as they happen, so a SIEM pipeline can put tansa in the middle.
//!
//! One thread reads, evaluates and writes; each event's alerts are flushed before the next
//! event is read. Correlation runs as events arrive: windows close as event time advances,
//! and an alert is written when its burst ends (or when the input ends). Events are taken
//! in the order they come; one whose time is earlier than an event already taken counts at
//! that later time (a stream cannot be sorted without waiting for its end).

use super::correlation::{FieldsRoom, count_levels, fired_alerts, push_match};
use super::evaluate::{Context, Evaluator};
use super::{CorrelationReport, HuntOptions};
use crate::compile::Program;
use crate::correlate::Correlator;
use crate::event::Event;
use crate::input::discover::{Container, Format, InputFile};
use crate::input::evtx::ChunkStats;
use crate::input::records::Reader;
use crate::order::Batch;
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
    /// The first few errors, with their line numbers (all are counted in `failed`).
    pub errors: Vec<String>,
    pub alerts_by_level: [u64; 5],
    pub correlation: Option<CorrelationReport>,
    pub elapsed: Duration,
}

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
        modified: None,
    }];
    let context = Context::new(program, &files, options);
    let reader = Reader::new(&files[0], &options.read, Default::default());
    let plan = program.correlations();
    let mut correlator = (!plan.is_empty()).then(|| Correlator::new(plan, options.max_groups));
    let (mut event, mut evaluator) = (Event::new(), Evaluator::default());
    let mut read = ChunkStats::default();
    let (mut alerts, mut matches) = (Batch::new(), Batch::new());
    let mut levels = [0; 5];
    let mut room = FieldsRoom::default();
    let result = reader.read_stream(input, program.fields(), &mut event, &mut read, |event| {
        alerts.clear();
        matches.clear();
        // Text records are read whole: nothing is asked again.
        evaluator.evaluate(&context, 0, event, &mut alerts, &mut matches);
        alerts.sort();
        if let Some(correlator) = &mut correlator {
            for (key, bytes) in matches.iter() {
                let correlators = std::slice::from_mut(correlator);
                push_match(&context, correlators, &mut room, key, bytes)?;
            }
            fired_alerts(&context, correlator, &mut alerts, &mut levels);
        }
        write_all(&context, out, &alerts)
    });
    result?;
    let mut report = StreamReport {
        records: read.records,
        failed: read.failed,
        cut_lines: read.cut_lines,
        errors: read.errors,
        ..StreamReport::default()
    };
    if let Some(correlator) = &mut correlator {
        correlator.finish();
        alerts.clear();
        fired_alerts(&context, correlator, &mut alerts, &mut levels);
        alerts.sort();
        write_all(&context, out, &alerts)?;
        report.correlation = Some(CorrelationReport {
            stats: correlator.stats(),
            untimed: context.untimed_matches.load(Ordering::Relaxed),
            max_groups: options.max_groups,
            elapsed: started.elapsed(),
        });
    }
    count_levels(&context, &levels);
    report.alerts_by_level = context.levels.map(|l| l.into_inner());
    report.elapsed = started.elapsed();
    Ok(report)
}

fn write_all(context: &Context<'_>, out: &mut dyn Write, alerts: &Batch) -> io::Result<()> {
    if alerts.is_empty() {
        return Ok(());
    }
    for (_, entry) in alerts.iter() {
        context.rule_texts.write_line(entry, out)?;
    }
    out.flush()
}
