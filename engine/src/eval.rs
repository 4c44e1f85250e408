//! Running a compiled `Program` over one `Event`.
//!
//! The hot path: find the record's bucket (channel, event id), then evaluate each rule of
//! the bucket, short-circuiting. A worker owns one `Scratch`, which remembers for the
//! current record which literal automata have run and which needles they found, so each
//! field is scanned at most once per record however many rules test it; it also keeps each
//! field's last value and the needles found in it, and a record with the same value (logs
//! repeat shares, logon types, processes from one record to the next) takes those needles
//! without a scan. Nothing here allocates for a record unless a rule needs Unicode case
//! folding (or a field's value is longer than any it has kept).

use crate::compile::literals::{Automaton, Subject, SubjectAutomata};
use crate::compile::matcher::{Cidr, StrPattern, literal_test};
use crate::compile::route::{Bucket, BucketKeywords, Channel};
use crate::compile::{Check, CompiledRule, Expr, Program, ValueTest};
use crate::event::Event;
use crate::field::Wanted;

/// Per-worker state for evaluation; reuse it for every record.
#[derive(Debug, Default)]
pub struct Scratch {
    stamp: u32,
    needle_hits: Vec<u32>,
    /// Needles found in the current record, in the order found.
    hit_list: Vec<u32>,
    field_scanned: Vec<u32>,
    keywords_scanned: Vec<u32>,
    /// Gated rules already evaluated for the current record.
    rule_seen: Vec<u32>,
    /// A value being scanned, lowercased.
    lowercase: Vec<u8>,
    /// Per field: the last single value its automaton was run over, and the needles found
    /// in it (see `scan`).
    last_scans: Vec<LastScan>,
    /// The record's whole text, lowercased, for keyword searches; and the stamp of the
    /// record it is from.
    text_lowercase: Vec<u8>,
    text_stamp: u32,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch::default()
    }

    /// Starts a new record: forget what the last one found.
    fn begin(&mut self, program: &Program) {
        if self.needle_hits.len() != program.literals.count
            || self.field_scanned.len() != program.literals.fields.len()
            || self.rule_seen.len() != program.rules.len()
            || self.keywords_scanned.len() != program.literals.keywords.len()
        {
            self.needle_hits = vec![0; program.literals.count];
            self.field_scanned = vec![0; program.literals.fields.len()];
            self.rule_seen = vec![0; program.rules.len()];
            self.keywords_scanned = vec![0; program.literals.keywords.len()];
            self.last_scans = Vec::new();
            self.last_scans
                .resize_with(program.literals.fields.len(), LastScan::default);
            self.text_stamp = 0;
            self.stamp = 0;
        }
        self.hit_list.clear();
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.needle_hits.iter_mut().for_each(|s| *s = 0);
            self.field_scanned.iter_mut().for_each(|s| *s = 0);
            self.rule_seen.iter_mut().for_each(|s| *s = 0);
            self.keywords_scanned.iter_mut().for_each(|s| *s = 0);
            self.text_stamp = 0;
            self.stamp = 1;
        }
    }
}

/// The rules a record can meet: up to four buckets (its channel and every channel, each
/// by event id and for any event id).
#[derive(Debug, Default, Clone, Copy)]
pub struct Candidates<'p> {
    buckets: [Option<&'p Bucket>; 4],
}

impl<'p> Candidates<'p> {
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().flatten().all(|b| b.is_empty())
    }

    /// The fields these rules read: all a record needs for them to be evaluated.
    pub fn wanted(&self) -> Wanted<'p> {
        let mut filters = [None; 4];
        for (filter, bucket) in filters.iter_mut().zip(&self.buckets) {
            match bucket.map(|b| &b.keywords) {
                None | Some(BucketKeywords::None) => {}
                Some(BucketKeywords::Filtered(keywords)) => *filter = Some(&**keywords),
                Some(BucketKeywords::Everything) => return Wanted::EVERYTHING,
            }
        }
        Wanted::any_of(self.buckets.map(|b| b.map(|b| &b.fields))).unless_keywords(filters)
    }
}

/// What matched in one selection, for an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedSelection<'a> {
    pub name: &'a str,
    /// Fields whose checks held (for keyword searches: the fields that held the keyword).
    pub fields: Vec<&'a str>,
}

impl Program {
    /// The rules that records of this event's channel and event id can meet.
    pub fn candidates<'p>(&'p self, event: &Event) -> Candidates<'p> {
        let channel = event.channel().unwrap_or("");
        let event_id = event.event_id();
        let routes = &self.routes;
        let channel_routes = routes
            .channels
            .get(channel)
            .or_else(|| routes.channels.get(lowercase(channel, &mut [0; 128])))
            .map(|&index| &routes.by_channel[index as usize]);
        let pick = |routes: Option<&'p Channel>| -> [Option<&'p Bucket>; 2] {
            match routes {
                None => [None, None],
                Some(r) => [
                    event_id.and_then(|id| r.by_event_id.get(&id)),
                    Some(&r.any_event_id),
                ],
            }
        };
        let [a, b] = pick(channel_routes);
        let [c, d] = pick(Some(&self.routes.any_channel));
        Candidates {
            buckets: [a, b, c, d],
        }
    }

    /// The header fields a record must have before its rules are known: those some rule
    /// reads, and those routing, windows and alerts' hosts need.
    pub fn header_wanted(&self) -> Wanted<'_> {
        match self.routes.some_read_everything {
            true => Wanted::EVERYTHING,
            false => Wanted::any_of([Some(&self.routes.read_anywhere), None, None, None]),
        }
    }

    /// Appends to `matches` the index of every compiled rule that matches `event`.
    pub fn evaluate(
        &self,
        event: &Event,
        candidates: Candidates<'_>,
        scratch: &mut Scratch,
        matches: &mut Vec<u32>,
    ) {
        if candidates.is_empty() {
            return;
        }
        scratch.begin(self);
        for bucket in candidates.buckets.into_iter().flatten() {
            for &index in &bucket.always {
                self.evaluate_rule(index, event, scratch, matches);
            }
            if !bucket.has_gates() {
                continue;
            }
            for &subject in &bucket.gate_subjects {
                self.scan(subject, event, scratch);
            }
            // Rules evaluated below may scan other fields and add to the list; those needles
            // gate nothing here (every gate needle of the bucket was scanned for above).
            let found = scratch.hit_list.len();
            for i in 0..found {
                let Some(rules) = bucket.gated(scratch.hit_list[i]) else {
                    continue;
                };
                for &index in rules {
                    let seen = &mut scratch.rule_seen[index as usize];
                    if *seen != scratch.stamp {
                        *seen = scratch.stamp;
                        self.evaluate_rule(index, event, scratch, matches);
                    }
                }
            }
        }
    }

    #[inline]
    fn evaluate_rule(
        &self,
        index: u32,
        event: &Event,
        scratch: &mut Scratch,
        matches: &mut Vec<u32>,
    ) {
        let rule = &self.rules[index as usize];
        if self.expr(rule, &rule.condition, event, scratch) {
            matches.push(index);
        }
    }

    /// Which selections of a matching rule held, and on which fields.
    pub fn explain<'a>(
        &'a self,
        index: u32,
        event: &'a Event,
        scratch: &mut Scratch,
    ) -> Vec<MatchedSelection<'a>> {
        scratch.begin(self);
        let rule = &self.rules[index as usize];
        let mut out = Vec::new();
        for (name, expr) in &rule.selections {
            if !self.expr(rule, expr, event, scratch) {
                continue;
            }
            let mut fields = Vec::new();
            self.matched_fields(rule, expr, event, scratch, &mut fields);
            out.push(MatchedSelection { name, fields });
        }
        out
    }

    fn matched_fields<'a>(
        &'a self,
        rule: &'a CompiledRule,
        expr: &Expr,
        event: &'a Event,
        scratch: &mut Scratch,
        out: &mut Vec<&'a str>,
    ) {
        match expr {
            Expr::Check(i) => {
                let check = &rule.checks[*i as usize];
                if !self.check(check, event, scratch) {
                    return;
                }
                let mut add = |name: &'a str| {
                    if !out.contains(&name) {
                        out.push(name);
                    }
                };
                match check.subject {
                    Subject::Field(_) => add(&check.field),
                    Subject::Keywords(_) => keyword_fields(check, event, add),
                }
            }
            Expr::Selection(i) => {
                self.matched_fields(rule, &rule.selections[*i as usize].1, event, scratch, out)
            }
            Expr::And(terms) | Expr::Or(terms) => terms
                .iter()
                .for_each(|t| self.matched_fields(rule, t, event, scratch, out)),
            Expr::Not(_) => {}
        }
    }

    fn expr(&self, rule: &CompiledRule, expr: &Expr, event: &Event, scratch: &mut Scratch) -> bool {
        match expr {
            Expr::Check(i) => self.check(&rule.checks[*i as usize], event, scratch),
            Expr::Selection(i) => self.expr(rule, &rule.selections[*i as usize].1, event, scratch),
            Expr::And(terms) => terms.iter().all(|t| self.expr(rule, t, event, scratch)),
            Expr::Or(terms) => terms.iter().any(|t| self.expr(rule, t, event, scratch)),
            Expr::Not(inner) => !self.expr(rule, inner, event, scratch),
        }
    }

    #[inline]
    fn check(&self, check: &Check, event: &Event, scratch: &mut Scratch) -> bool {
        if let Subject::Keywords(_) = check.subject
            && event.keywords_absent()
        {
            // The reader found none of the keywords of the record's rules in any value.
            return check.negate;
        }
        let held = if check.all {
            check
                .tests
                .iter()
                .all(|t| self.test(t, check.subject, event, scratch))
        } else {
            check
                .tests
                .iter()
                .any(|t| self.test(t, check.subject, event, scratch))
        };
        held != check.negate
    }

    fn test(
        &self,
        test: &ValueTest,
        subject: Subject,
        event: &Event,
        scratch: &mut Scratch,
    ) -> bool {
        match test {
            ValueTest::Str(patterns) => patterns.iter().any(|p| match p.needle() {
                Some(needle) => {
                    self.scan(subject, event, scratch);
                    scratch.needle_hits[needle as usize] == scratch.stamp
                }
                None => any_value(subject, event, |v| p.test(v)),
            }),
            ValueTest::Null => match subject {
                Subject::Field(id) => !event.has(id),
                Subject::Keywords(_) => false,
            },
            ValueTest::Exists(expected) => match subject {
                Subject::Field(id) => event.has(id) == *expected,
                Subject::Keywords(_) => false,
            },
            ValueTest::Cidr(nets) => any_value(subject, event, |v| Cidr::any_contains(nets, v)),
            ValueTest::Number { op, value } => any_value(subject, event, |v| {
                crate::compile::matcher::parse_number(v).is_some_and(|x| op.holds(x, *value))
            }),
            ValueTest::TimePart { part, op, value } => any_value(subject, event, |v| {
                part.extract(v, &self.timezone)
                    .is_some_and(|x| op.holds(x, *value))
            }),
            ValueTest::Calendar(calendar) => any_value(subject, event, |v| {
                crate::compile::matcher::parse_time(v)
                    .is_some_and(|t| calendar.contains(t, &self.timezone))
            }),
            ValueTest::FieldRef {
                other,
                anchor,
                cased,
            } => any_value(subject, event, |v| {
                event.values(*other).any(|w| {
                    let needle = if *cased {
                        w.to_string()
                    } else {
                        w.to_lowercase()
                    };
                    literal_test(*anchor, &needle, *cased, v)
                })
            }),
        }
    }

    /// Runs the subject's literal automaton over its values, once per record.
    fn scan(&self, subject: Subject, event: &Event, scratch: &mut Scratch) {
        let stamp = scratch.stamp;
        let scanned = match subject {
            Subject::Field(id) => &mut scratch.field_scanned[id as usize],
            Subject::Keywords(group) => &mut scratch.keywords_scanned[group as usize],
        };
        if *scanned == stamp {
            return;
        }
        *scanned = stamp;
        let Some(automata) = self.literals.automata(subject) else {
            return;
        };
        let (hits, found) = (&mut scratch.needle_hits, &mut scratch.hit_list);
        if let Subject::Keywords(_) = subject {
            if event.keywords_absent() {
                return;
            }
            // Keywords are searched for in every value: the record's text (its names and
            // values back to back) is lowercased once per record, a gate says whether any
            // needle occurs in it, and only then are the values searched one by one (a hit
            // in the text may be in a name or span two values).
            if scratch.text_stamp != stamp {
                scratch.text_stamp = stamp;
                scratch.text_lowercase.clear();
                scratch
                    .text_lowercase
                    .extend_from_slice(event.text().as_bytes());
                scratch.text_lowercase.make_ascii_lowercase();
            }
            let text = scratch.text_lowercase.as_slice();
            if let Some(automaton) = &automata.folded
                && automaton
                    .gate
                    .as_ref()
                    .unwrap_or(&automaton.ac)
                    .is_match(text)
            {
                for range in event.value_ranges() {
                    stamp_matches(automaton, &text[range], stamp, hits, found);
                }
            }
            if let Some(automaton) = &automata.unicode {
                for value in event.all_values().filter(|v| !v.is_ascii()) {
                    let value = value.to_lowercase();
                    stamp_matches(automaton, value.as_bytes(), stamp, hits, found);
                }
            }
            return;
        }
        let Subject::Field(id) = subject else {
            return;
        };
        let lowercase = &mut scratch.lowercase;
        // A field's value is often the last record's (the same share, logon type, process):
        // a single value equal to the one last scanned finds the needles found then.
        let mut values = event.values(id);
        let (Some(value), None) = (values.next(), values.next()) else {
            for value in event.values(id) {
                mark(automata, value, lowercase, stamp, hits, found);
            }
            return;
        };
        let last = &mut scratch.last_scans[id as usize];
        if last.valid && last.value == value.as_bytes() {
            for &needle in &last.needles {
                hits[needle as usize] = stamp;
                found.push(needle);
            }
            return;
        }
        let start = found.len();
        mark(automata, value, lowercase, stamp, hits, found);
        last.valid = true;
        last.value.clear();
        last.value.extend_from_slice(value.as_bytes());
        last.needles.clear();
        last.needles.extend_from_slice(&found[start..]);
    }
}

/// Stamps the needles of a field's automata found in `value` (`lowercase`: room for it
/// lowercased).
fn mark(
    automata: &SubjectAutomata,
    value: &str,
    lowercase: &mut Vec<u8>,
    stamp: u32,
    hits: &mut [u32],
    found: &mut Vec<u32>,
) {
    if let Some(automaton) = &automata.folded {
        lowercase.clear();
        lowercase.extend_from_slice(value.as_bytes());
        lowercase.make_ascii_lowercase();
        stamp_matches(automaton, lowercase, stamp, hits, found);
    }
    if let Some(automaton) = &automata.unicode
        && !value.is_ascii()
    {
        let value = value.to_lowercase();
        stamp_matches(automaton, value.as_bytes(), stamp, hits, found);
    }
}

/// A field's last single value scanned, and the needles its automaton found in it: each
/// needle belongs to one field, so they are the needles the scan added to the record's
/// hit list.
#[derive(Debug, Default)]
struct LastScan {
    valid: bool,
    value: Vec<u8>,
    needles: Vec<u32>,
}

fn stamp_matches(
    automaton: &Automaton,
    value: &[u8],
    stamp: u32,
    hits: &mut [u32],
    found: &mut Vec<u32>,
) {
    // Most values hold no needle; the gate (or, past its size, the non-overlapping search)
    // says so faster than the overlapping walk (see `compile/literals.rs`).
    if !automaton
        .gate
        .as_ref()
        .unwrap_or(&automaton.ac)
        .is_match(value)
    {
        return;
    }
    for m in automaton.ac.find_overlapping_iter(value) {
        let needle = automaton.needles[m.pattern().as_usize()];
        let hit = &mut hits[needle as usize];
        if *hit != stamp {
            *hit = stamp;
            found.push(needle);
        }
    }
}

/// `text` in ASCII lowercase, in `buffer` if it fits (channel names do).
fn lowercase<'a>(text: &'a str, buffer: &'a mut [u8; 128]) -> &'a str {
    if text.len() > buffer.len() || !text.is_ascii() {
        return text;
    }
    let out = &mut buffer[..text.len()];
    out.copy_from_slice(text.as_bytes());
    out.make_ascii_lowercase();
    std::str::from_utf8(out).unwrap_or(text)
}

#[inline]
fn any_value(subject: Subject, event: &Event, mut f: impl FnMut(&str) -> bool) -> bool {
    match subject {
        Subject::Field(id) => event.values(id).any(&mut f),
        Subject::Keywords(_) => event.all_values().any(f),
    }
}

/// Gives `add` the name of each field whose value holds one of a keyword check's patterns.
fn keyword_fields<'a>(check: &Check, event: &'a Event, mut add: impl FnMut(&'a str)) {
    for (name, value) in event.fields() {
        let hit = check.tests.iter().any(|t| match t {
            ValueTest::Str(patterns) => patterns.iter().any(|p: &StrPattern| p.test(value)),
            _ => false,
        });
        if hit {
            add(name);
        }
    }
}
