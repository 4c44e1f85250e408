//! One group's window of one correlation: its matches in time order and the aggregate its
//! condition compares, kept up to date as matches enter and leave, so a check costs the
//! same whether the window holds ten matches or a million.

use super::Evidence;
use crate::field::FxBuild;
use crate::rule::correlation::CorrelationType;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Numbers are summed exactly as millionths, so a sum does not drift as values enter and
/// leave the window.
const SCALE: f64 = 1_000_000.0;

/// What a match adds to a `value_*` aggregate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// The match has no value for the condition's field(s).
    None,
    /// `value_count`: the value (several fields joined with ` | `).
    Text(Box<str>),
    /// `value_sum`, `value_avg`: the value in millionths.
    Number(i128),
}

impl Value {
    /// The value of `parts` for a correlation of `kind`.
    pub(crate) fn of(kind: CorrelationType, parts: &[Option<&str>]) -> Value {
        match kind {
            CorrelationType::ValueCount => {
                if parts.is_empty() || parts.iter().any(Option::is_none) {
                    return Value::None;
                }
                let joined: Vec<&str> = parts.iter().map(|p| p.unwrap_or("")).collect();
                Value::Text(joined.join(" | ").into())
            }
            CorrelationType::ValueSum | CorrelationType::ValueAvg => parts
                .first()
                .copied()
                .flatten()
                .and_then(|text| text.trim().parse::<f64>().ok())
                .filter(|n| n.is_finite())
                .map_or(Value::None, |n| Value::Number((n * SCALE).round() as i128)),
            _ => Value::None,
        }
    }
}

/// The most entries (and values) a window may have room for and be reused (`reuse`).
const REUSED_ROOM: usize = 64;

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub evidence: Arc<Evidence>,
    /// Position in the stream: orders matches that share a time.
    pub seq: u64,
    /// Which of the correlation's rules matched.
    pub slot: u32,
    pub value: Value,
}

#[derive(Debug)]
pub(crate) struct Window {
    kind: CorrelationType,
    entries: VecDeque<Entry>,
    /// `value_count`: how many entries hold each value.
    distinct: HashMap<Box<str>, u32, FxBuild>,
    /// `value_sum`, `value_avg`: the sum of numeric values, in millionths, and their count.
    sum: i128,
    numbers: u64,
    /// Temporal types: per rule, the (time, seq) of its entries.
    per_slot: Vec<VecDeque<(i64, u64)>>,
}

impl Window {
    pub(crate) fn new(kind: CorrelationType, slots: usize) -> Window {
        Window {
            kind,
            entries: VecDeque::new(),
            distinct: HashMap::default(),
            sum: 0,
            numbers: 0,
            per_slot: if kind.is_temporal() {
                vec![VecDeque::new(); slots]
            } else {
                Vec::new()
            },
        }
    }

    pub(crate) fn newest(&self) -> Option<&Entry> {
        self.entries.back()
    }

    pub(crate) fn last_time(&self) -> Option<i64> {
        self.entries.back().map(|e| e.evidence.time)
    }

    pub(crate) fn push(&mut self, entry: Entry) {
        match &entry.value {
            Value::Text(text) => *self.distinct.entry(text.clone()).or_insert(0) += 1,
            Value::Number(n) => {
                self.sum += n;
                self.numbers += 1;
            }
            Value::None => {}
        }
        if let Some(times) = self.per_slot.get_mut(entry.slot as usize) {
            times.push_back((entry.evidence.time, entry.seq));
        }
        self.entries.push_back(entry);
    }

    /// Drops the entries older than `cutoff`.
    pub(crate) fn expire_before(&mut self, cutoff: i64) {
        while self
            .entries
            .front()
            .is_some_and(|e| e.evidence.time < cutoff)
        {
            let entry = self.entries.pop_front().expect("checked");
            self.forget(&entry);
        }
    }

    fn forget(&mut self, entry: &Entry) {
        match &entry.value {
            Value::Text(text) => {
                if let Some(count) = self.distinct.get_mut(text) {
                    *count -= 1;
                    if *count == 0 {
                        self.distinct.remove(text);
                    }
                }
            }
            Value::Number(n) => {
                self.sum -= n;
                self.numbers -= 1;
            }
            Value::None => {}
        }
        if let Some(times) = self.per_slot.get_mut(entry.slot as usize) {
            times.pop_front();
        }
    }

    /// Empties the window for another group of its correlation, keeping its room; `false`
    /// if it grew too large to be worth keeping.
    pub(crate) fn reuse(&mut self) -> bool {
        if self.entries.capacity() > REUSED_ROOM || self.distinct.capacity() > REUSED_ROOM {
            return false;
        }
        self.entries.clear();
        self.clear_aggregate();
        true
    }

    /// Empties the window, handing back its entries.
    pub(crate) fn take(&mut self) -> VecDeque<Entry> {
        self.clear_aggregate();
        std::mem::take(&mut self.entries)
    }

    /// What the entries add up to, as for no entries.
    fn clear_aggregate(&mut self) {
        self.distinct.clear();
        self.sum = 0;
        self.numbers = 0;
        for times in &mut self.per_slot {
            times.clear();
        }
    }

    /// The value the condition compares, or `None` when there is none (an average of no
    /// numbers).
    pub(crate) fn aggregate(&self) -> Option<f64> {
        Some(match self.kind {
            CorrelationType::EventCount => self.entries.len() as f64,
            CorrelationType::ValueCount => self.distinct.len() as f64,
            CorrelationType::ValueSum => self.sum as f64 / SCALE,
            CorrelationType::ValueAvg => {
                if self.numbers == 0 {
                    return None;
                }
                self.sum as f64 / self.numbers as f64 / SCALE
            }
            CorrelationType::Temporal => {
                self.per_slot.iter().filter(|t| !t.is_empty()).count() as f64
            }
            CorrelationType::TemporalOrdered => self.ordered_prefix() as f64,
        })
    }

    /// How many of the rules, in their order, matched one after another: the earliest
    /// match of the first rule, then the earliest match of the second after it, and so on.
    /// Taking the earliest at each step finds the longest such chain.
    fn ordered_prefix(&self) -> usize {
        self.chain().count()
    }

    /// The (time, seq) of each step of the chain `ordered_prefix` counts.
    fn chain(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        let mut after = (i64::MIN, 0u64);
        self.per_slot.iter().map_while(move |times| {
            let next = times.partition_point(|&(time, seq)| (time, seq) <= after);
            let found = *times.get(next)?;
            after = found;
            Some(found)
        })
    }

    /// The entries that count towards the aggregate: all of them, except that for
    /// `temporal_ordered` those before the chain's first step do not.
    pub(crate) fn contributing(&self) -> impl Iterator<Item = &Entry> {
        let from = match self.kind {
            CorrelationType::TemporalOrdered => self.chain().next(),
            _ => None,
        };
        self.entries
            .iter()
            .filter(move |e| from.is_none_or(|f| (e.evidence.time, e.seq) >= f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::SortKey;

    fn entry(time: i64, seq: u64, slot: u32, value: Value) -> Entry {
        Entry {
            evidence: Arc::new(Evidence {
                time,
                rule: "r".into(),
                host: None,
                channel: None,
                record_id: seq,
                file: "f".into(),
                format: "evtx".into(),
                alert: None,
                parts: Arc::new([]),
                key: SortKey {
                    time: time.into(),
                    file: 0,
                    record: seq,
                    rule: 0,
                },
            }),
            seq,
            slot,
            value,
        }
    }

    #[test]
    fn distinct_values_and_sums_follow_entries_in_and_out() {
        let mut w = Window::new(CorrelationType::ValueCount, 1);
        for (i, user) in ["a", "b", "a", "c"].iter().enumerate() {
            w.push(entry(i as i64, i as u64, 0, Value::Text((*user).into())));
        }
        assert_eq!(w.aggregate(), Some(3.0));
        w.expire_before(2);
        assert_eq!(w.aggregate(), Some(2.0), "a and c are left");

        let mut w = Window::new(CorrelationType::ValueAvg, 1);
        assert_eq!(w.aggregate(), None);
        for (i, n) in ["0.1", "0.2", "x", "0.3"].iter().enumerate() {
            w.push(entry(
                i as i64,
                i as u64,
                0,
                Value::of(CorrelationType::ValueAvg, &[Some(n)]),
            ));
        }
        assert_eq!(w.aggregate(), Some(0.2));
        w.expire_before(1);
        assert_eq!(w.aggregate(), Some(0.25));
    }

    /// A window emptied for another group is as a new one, for every kind, keeping its
    /// room; one grown past `REUSED_ROOM` is not kept.
    #[test]
    fn a_reused_window_is_as_a_new_one() {
        let kinds = [
            (CorrelationType::EventCount, Value::None),
            (CorrelationType::ValueCount, Value::Text("a".into())),
            (CorrelationType::ValueSum, Value::Number(2_000_000)),
            (CorrelationType::ValueAvg, Value::Number(2_000_000)),
            (CorrelationType::Temporal, Value::None),
            (CorrelationType::TemporalOrdered, Value::None),
        ];
        for (kind, value) in kinds {
            let mut used = Window::new(kind, 2);
            for seq in 0..3 {
                used.push(entry(seq as i64, seq, (seq % 2) as u32, value.clone()));
            }
            let room = used.entries.capacity();
            assert!(used.reuse());
            assert_eq!(used.entries.capacity(), room, "{kind:?} keeps its room");
            let mut new = Window::new(kind, 2);
            assert_eq!(used.aggregate(), new.aggregate(), "{kind:?} emptied");
            assert!(used.newest().is_none());
            for w in [&mut used, &mut new] {
                w.push(entry(10, 10, 1, value.clone()));
            }
            assert_eq!(used.aggregate(), new.aggregate(), "{kind:?} after a push");
            assert_eq!(used.contributing().count(), new.contributing().count());
        }
        let mut large = Window::new(CorrelationType::EventCount, 1);
        for seq in 0..=REUSED_ROOM as u64 {
            large.push(entry(seq as i64, seq, 0, Value::None));
        }
        assert!(!large.reuse());
    }

    #[test]
    fn the_ordered_chain_needs_each_rule_after_the_previous() {
        let mut w = Window::new(CorrelationType::TemporalOrdered, 3);
        w.push(entry(1, 1, 1, Value::None)); // b before any a: no use
        w.push(entry(2, 2, 0, Value::None)); // a
        assert_eq!(w.aggregate(), Some(1.0));
        w.push(entry(3, 3, 2, Value::None)); // c before b
        assert_eq!(w.aggregate(), Some(1.0));
        w.push(entry(4, 4, 1, Value::None)); // b
        assert_eq!(w.aggregate(), Some(2.0));
        w.push(entry(4, 5, 2, Value::None)); // c at the same time, later in the stream
        assert_eq!(w.aggregate(), Some(3.0));
        w.expire_before(3);
        assert_eq!(w.aggregate(), Some(0.0), "the a is gone");
    }
}
