//! Evaluating one event: what every reader of a hunt (batch workers, the stream) does with
//! each record. Matches become serialized alerts and, for rules a correlation names,
//! compact match records for the correlation stage, each with its place in the output.

use super::HuntOptions;
use crate::alert::{Alert, Detection, RuleRef, RuleTexts};
use crate::compile::Program;
use crate::correlate;
use crate::eval::Candidates;
use crate::eval::Scratch;
use crate::event::{Event, Handled};
use crate::field::Wanted;
use crate::field::well_known;
use crate::input::discover::InputFile;
use crate::input::evtx;
use crate::order::{Batch, SortKey};
use crate::rule::Meta;
use jiff::Timestamp;
use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What evaluation needs to know about the hunt, context by every thread.
pub(crate) struct Context<'a> {
    pub program: &'a Program,
    pub files: &'a [InputFile],
    pub options: &'a HuntOptions,
    /// Each input's name (`InputFile::name`).
    pub names: Vec<Arc<str>>,
    /// Output position of each input (the inputs sorted by name).
    pub file_rank: Vec<u32>,
    /// Output position of each compiled rule (sorted by rule id).
    pub rule_rank: Vec<u32>,
    /// Alerts per level, indexed by `Level as usize`.
    pub levels: [AtomicU64; 5],
    /// Matches of events without a time, which no correlation window can hold.
    pub untimed_matches: AtomicU64,
    /// The `rule` objects of alerts (see `alert`): compiled rules by index, then
    /// correlations (`correlation_number`).
    pub rule_texts: RuleTexts,
}

impl<'a> Context<'a> {
    pub fn new(program: &'a Program, files: &'a [InputFile], options: &'a HuntOptions) -> Self {
        let names: Vec<Arc<str>> = files.iter().map(|f| f.name().into()).collect();
        let file_rank = ranks(files.len(), |a, b| names[a].cmp(&names[b]));
        let rule_rank = ranks(program.compiled_rules().len(), |a, b| {
            let id = |i: usize| &program.compiled_rules()[i].info.meta.id;
            id(a).cmp(id(b)).then(a.cmp(&b))
        });
        Context {
            program,
            files,
            options,
            names,
            file_rank,
            rule_rank,
            levels: Default::default(),
            untimed_matches: AtomicU64::new(0),
            rule_texts: RuleTexts::new(
                program.compiled_rules().len() + program.correlations().nodes().len(),
            ),
        }
    }

    /// The number of correlation `node`'s alerts among the rules of `rule_texts`.
    pub fn correlation_number(&self, node: u32) -> u32 {
        self.program.compiled_rules().len() as u32 + node
    }

    /// Makes rule `number`'s `rule` object, in the hunt's language, if no alert has yet.
    pub fn make_rule_text(&self, number: u32, meta: &Meta, file: &Path) {
        self.rule_texts
            .make(number, || RuleRef::new(meta, file, self.options.lang));
    }
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

/// Whether a worker reads records in part or whole.
///
/// Reading only the fields a record's rules read (`Program::header_wanted`, then
/// `Candidates::wanted`) saves formatting the others, but a record that raises an alert is
/// then read twice, since its alert shows every field. Where alerts are dense (an archived
/// domain controller log whose every other record alerts) that costs more than it saves.
/// So a worker counts, over its last `WINDOW` records read in part, how many were read
/// again; past one in `MAX_REREAD_SHARE`, it reads whole for the next `WHOLE_SPELL`
/// records, then tries again. The choice is made for a whole piece (a chunk) at its start,
/// header and payload alike. Either way the alerts are the same: only the cost changes.
#[derive(Debug, Default)]
pub(crate) struct ReadPolicy {
    /// The current piece is read whole.
    whole_piece: Cell<bool>,
    partial: Cell<u32>,
    reread: Cell<u32>,
    whole_left: Cell<u32>,
}

const WINDOW: u32 = 256;
const MAX_REREAD_SHARE: u32 = 8;
const WHOLE_SPELL: u32 = 8192;

impl ReadPolicy {
    /// Starts a piece: the header fields to read of its records.
    pub fn header<'p>(&self, program: &'p Program) -> Wanted<'p> {
        self.whole_piece.set(self.whole_left.get() > 0);
        match self.whole_piece.get() {
            true => Wanted::EVERYTHING,
            false => program.header_wanted(),
        }
    }

    /// The fields to read of a record whose rules are `candidates`.
    pub fn wanted<'p>(&self, candidates: &Candidates<'p>) -> Wanted<'p> {
        if self.whole_piece.get() {
            self.whole_left.set(self.whole_left.get().saturating_sub(1));
            return Wanted::EVERYTHING;
        }
        let wanted = candidates.wanted();
        if !wanted.is_everything() {
            self.partial.set(self.partial.get() + 1);
            if self.partial.get() == WINDOW {
                if self.reread.get() * MAX_REREAD_SHARE > WINDOW {
                    self.whole_left.set(WHOLE_SPELL);
                }
                self.partial.set(0);
                self.reread.set(0);
            }
        }
        wanted
    }

    /// Notes what the evaluation of a record read with `wanted` said.
    pub fn handled(&self, handled: Handled) -> Handled {
        if handled == Handled::NeedsWhole {
            self.reread.set(self.reread.get() + 1);
        }
        handled
    }
}

/// What a thread needs to evaluate records, reused from one record to the next.
#[derive(Default)]
pub(crate) struct Evaluator {
    scratch: Scratch,
    matches: Vec<u32>,
    /// Per compiled rule: the matches sent to the correlation stage, which deals chains of
    /// correlations to threads by them (see `correlation`).
    fed: Vec<u64>,
}

impl Evaluator {
    /// Per compiled rule, the matches this evaluator sent to the correlation stage (empty
    /// if none).
    pub fn fed(&self) -> &[u64] {
        &self.fed
    }

    /// Evaluates one record; each match becomes a serialized alert in `alerts` and, for a
    /// rule a correlation names, a serialized `Match` in `matches`. A partial event (read
    /// with its candidates' `wanted` fields) that raises an alert is left alone and asked
    /// for whole: the alert shows every field.
    pub fn evaluate(
        &mut self,
        context: &Context<'_>,
        file: usize,
        event: &mut Event,
        alerts: &mut Batch,
        matches: &mut Batch,
    ) -> Handled {
        let program = context.program;
        if !in_window(|| event.time, context.options) {
            return Handled::Done;
        }
        self.matches.clear();
        let candidates = program.candidates(event);
        program.evaluate(event, candidates, &mut self.scratch, &mut self.matches);
        if self.matches.is_empty() {
            return Handled::Done;
        }
        if event.is_partial() && self.matches.iter().any(|&rule| program.raises_alerts(rule)) {
            return Handled::NeedsWhole;
        }
        let input = &context.files[file];
        for &rule in &self.matches {
            let info = &program.rule(rule).info;
            let key = SortKey {
                time: event.time.map_or(i128::MIN, |t| t.as_nanosecond()),
                file: context.file_rank[file],
                record: event.record_id,
                rule: context.rule_rank[rule as usize],
            };
            if let Some(feed) = program.feed(rule) {
                match event_nanos(event) {
                    Some(time) => {
                        if self.fed.is_empty() {
                            self.fed = vec![0; program.compiled_rules().len()];
                        }
                        self.fed[rule as usize] += 1;
                        matches.push_with(key, |bytes| {
                            correlate::wire::encode(
                                bytes,
                                time,
                                rule,
                                file as u32,
                                event.record_id,
                                event.computer(),
                                event.channel(),
                                feed.fields.iter().map(|(_, id)| event.first(*id)),
                            )
                        })
                    }
                    None => {
                        context.untimed_matches.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if !program.raises_alerts(rule) {
                continue;
            }
            context.levels[info.meta.level as usize].fetch_add(1, Ordering::Relaxed);
            let alert = Alert::detection(Detection {
                rule: info,
                time: event.time,
                record_id: event.record_id,
                source_file: &context.names[file],
                format: input.format.as_str(),
                event,
                matched: program.explain(rule, event, &mut self.scratch),
                lang: context.options.lang,
                enrichment: &context.options.enrichment,
            });
            context.make_rule_text(rule, &info.meta, &info.source.path);
            alerts.push_with(key, |bytes| alert.write_entry(rule, bytes));
        }
        Handled::Done
    }
}

/// The event's time in nanoseconds, if it has one in the range correlation handles
/// (1677 to 2262).
pub(crate) fn event_nanos(event: &Event) -> Option<i64> {
    event
        .time
        .and_then(|t| i64::try_from(t.as_nanosecond()).ok())
}

pub(crate) fn header_time(event: &Event) -> Option<Timestamp> {
    event
        .header_value(well_known::TIME_CREATED)
        .and_then(evtx::parse_system_time)
}

/// Whether the event's `time` is inside `--since`/`--until`; an event whose time is unknown
/// is kept. The time is found only if there is a window: a record's time, read from its
/// header to decide whether to read the rest, is otherwise parsed once, when it is read.
pub(crate) fn in_window(time: impl FnOnce() -> Option<Timestamp>, options: &HuntOptions) -> bool {
    if options.since.is_none() && options.until.is_none() {
        return true;
    }
    let Some(time) = time() else { return true };
    options.since.is_none_or(|since| time >= since)
        && options.until.is_none_or(|until| time < until)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a piece of `records` records; how many were read in part, header and
    /// payload alike (panics if the two disagree), each then asked again when
    /// `read_again(n)` for its number `n` in the piece.
    fn piece(
        policy: &ReadPolicy,
        program: &Program,
        records: u32,
        read_again: impl Fn(u32) -> bool,
    ) -> u32 {
        let in_part = !policy.header(program).is_everything();
        let mut partial = 0;
        for n in 0..records {
            let payload_in_part = !policy.wanted(&Candidates::default()).is_everything();
            assert_eq!(payload_in_part, in_part, "record {n}");
            if in_part {
                partial += 1;
                if read_again(n) {
                    policy.handled(Handled::NeedsWhole);
                }
            }
        }
        partial
    }

    #[test]
    fn a_worker_reads_whole_for_a_while_where_partial_reads_are_read_again_often() {
        let (program, _) = crate::compile::compile(Vec::new(), Vec::new(), &Default::default());
        let policy = ReadPolicy::default();
        // One in sixteen read again: reading in part pays.
        for _ in 0..20 {
            assert_eq!(piece(&policy, &program, 100, |n| n % 16 == 0), 100);
        }
        // Every one read again: the piece in which a window fills ends in part, the next
        // ones are read whole until a spell has passed, then in part again.
        let pieces: Vec<u32> = (0..(WINDOW + WHOLE_SPELL) / 100 + 2)
            .map(|_| piece(&policy, &program, 100, |_| true))
            .collect();
        let spell = WHOLE_SPELL.div_ceil(100) as usize;
        assert_eq!(pieces[0], 100, "{pieces:?}");
        assert!(
            pieces[1..=spell].iter().all(|&partial| partial == 0),
            "{pieces:?}"
        );
        assert_eq!(pieces[spell + 1], 100, "{pieces:?}");
        assert_eq!(policy.handled(Handled::Done), Handled::Done);
    }
}
