//! The index from (channel, event id) to the rules a record can meet.
//!
//! A record looks up its channel (exact name, then ASCII-lowercased) and its event id, and
//! gets up to four buckets: its channel's bucket for its event id and for any event id, and
//! the same two for rules that read every channel. In a large bucket, rules with a gate
//! (see `gate`) are filed under their gate needles and evaluated only when one is found.

use super::literals::Subject;
use crate::field::{FieldId, FieldSet, FxBuild, well_known};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Buckets smaller than this evaluate every rule: scanning for gates would cost more.
const GATE_MIN_RULES: usize = 8;

/// The rules of one (channel, event id) pair.
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    /// Evaluated for every record.
    pub always: Vec<u32>,
    /// Gate needle to the rules it opens: a range of `gated_rules`. One flat list, not a
    /// list per needle: SigmaHQ's process-creation bucket files about 1,000 rules under
    /// tens of thousands of needles.
    gated: HashMap<u32, (u32, u32), FxBuild>,
    gated_rules: Vec<u32>,
    /// The subjects whose automata find this bucket's gate needles.
    pub gate_subjects: Vec<Subject>,
    /// The fields its rules read (see `field::Wanted`), unless `reads_everything`.
    pub fields: FieldSet,
    /// Some rule searches every value (keywords).
    pub reads_everything: bool,
}

impl Bucket {
    pub fn is_empty(&self) -> bool {
        self.always.is_empty() && self.gated.is_empty()
    }

    /// Whether some of the bucket's rules wait for a gate needle.
    pub fn has_gates(&self) -> bool {
        !self.gated.is_empty()
    }

    /// The rules that gate `needle` opens, in rule order.
    pub fn gated(&self, needle: u32) -> Option<&[u32]> {
        let &(start, end) = self.gated.get(&needle)?;
        Some(&self.gated_rules[start as usize..end as usize])
    }

    fn build(
        rules: Vec<u32>,
        gates: &[Option<Vec<(Subject, u32)>>],
        reads: &[Option<FieldSet>],
    ) -> Bucket {
        let (fields, reads_everything) = union_of(rules.iter().map(|&rule| &reads[rule as usize]));
        let mut bucket = Bucket {
            fields,
            reads_everything,
            ..Bucket::default()
        };
        if rules.len() < GATE_MIN_RULES {
            bucket.always = rules;
            return bucket;
        }
        let mut subjects = BTreeSet::new();
        let mut by_needle: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for rule in rules {
            match &gates[rule as usize] {
                Some(gate) => {
                    for (subject, needle) in gate {
                        subjects.insert(*subject);
                        let list = by_needle.entry(*needle).or_default();
                        if list.last() != Some(&rule) {
                            list.push(rule);
                        }
                    }
                }
                None => bucket.always.push(rule),
            }
        }
        bucket.gated.reserve(by_needle.len());
        for (needle, rules) in by_needle {
            let start = bucket.gated_rules.len() as u32;
            bucket.gated_rules.extend(rules);
            let end = bucket.gated_rules.len() as u32;
            bucket.gated.insert(needle, (start, end));
        }
        bucket.gated_rules.shrink_to_fit();
        bucket.gate_subjects = subjects.into_iter().collect();
        bucket
    }
}

#[derive(Debug, Default)]
pub(crate) struct Channel {
    pub by_event_id: HashMap<u32, Bucket, FxBuild>,
    pub any_event_id: Bucket,
}

#[derive(Debug, Default)]
pub(crate) struct Routes {
    /// A channel's name, as rules spell it and ASCII-lowercased, to its place in
    /// `by_channel`. Channel names are not case-sensitive on Windows: every spelling of a
    /// name shares one set of buckets, which a record finds under its own spelling or,
    /// failing that, under its lowercase.
    pub channels: HashMap<Box<str>, u32, FxBuild>,
    pub by_channel: Vec<Channel>,
    pub any_channel: Channel,
    /// The fields some rule reads, and those every record needs (routing, time, host):
    /// what a record's header must have before its rules are known. Unless
    /// `some_read_everything`.
    pub read_anywhere: FieldSet,
    pub some_read_everything: bool,
}

#[derive(Debug, Default)]
struct Lists {
    by_event_id: HashMap<u32, Vec<u32>>,
    any_event_id: Vec<u32>,
}

impl Lists {
    fn add(&mut self, event_ids: &Option<BTreeSet<u32>>, rule: u32) {
        match event_ids {
            Some(ids) => ids
                .iter()
                .for_each(|id| self.by_event_id.entry(*id).or_default().push(rule)),
            None => self.any_event_id.push(rule),
        }
    }

    fn build(self, gates: &[Option<Vec<(Subject, u32)>>], reads: &[Option<FieldSet>]) -> Channel {
        Channel {
            by_event_id: self
                .by_event_id
                .into_iter()
                .map(|(id, rules)| (id, Bucket::build(rules, gates, reads)))
                .collect(),
            any_event_id: Bucket::build(self.any_event_id, gates, reads),
        }
    }
}

/// Collects rule placements while rules compile.
#[derive(Debug, Default)]
pub(crate) struct RoutesBuilder {
    /// By ASCII-lowercased channel name.
    channels: BTreeMap<Box<str>, Lists>,
    /// Every spelling rules use.
    spellings: BTreeSet<Box<str>>,
    any_channel: Lists,
}

impl RoutesBuilder {
    /// Files `rule` under each of `channels` (`None`: every channel) and `event_ids`
    /// (`None`: any).
    pub fn add(
        &mut self,
        channels: &Option<Vec<String>>,
        event_ids: &Option<BTreeSet<u32>>,
        rule: u32,
    ) {
        match channels {
            None => self.any_channel.add(event_ids, rule),
            Some(channels) => {
                let mut keys: BTreeSet<Box<str>> = BTreeSet::new();
                for channel in channels {
                    self.spellings.insert(channel.as_str().into());
                    keys.insert(channel.to_ascii_lowercase().into());
                }
                for key in keys {
                    self.channels.entry(key).or_default().add(event_ids, rule);
                }
            }
        }
    }

    /// The final index; `gates[rule]` holds each compiled rule's gate needles, `reads[rule]`
    /// the fields it reads (`None`: every value).
    pub fn build(
        self,
        gates: &[Option<Vec<(Subject, u32)>>],
        reads: &[Option<FieldSet>],
    ) -> Routes {
        let (mut read_anywhere, some_read_everything) = union_of(reads);
        (0..well_known::NAMES.len() as FieldId).for_each(|id| read_anywhere.insert(id));
        let mut routes = Routes {
            any_channel: self.any_channel.build(gates, reads),
            read_anywhere,
            some_read_everything,
            ..Routes::default()
        };
        for (index, (lowercase, lists)) in self.channels.into_iter().enumerate() {
            routes.channels.insert(lowercase, index as u32);
            routes.by_channel.push(lists.build(gates, reads));
        }
        for spelling in self.spellings {
            let index = routes.channels[spelling.to_ascii_lowercase().as_str()];
            routes.channels.insert(spelling, index);
        }
        routes
    }
}

/// The fields any of `reads` reads, and whether one reads every value (`None`).
fn union_of<'a>(reads: impl IntoIterator<Item = &'a Option<FieldSet>>) -> (FieldSet, bool) {
    let (mut union, mut everything) = (FieldSet::default(), false);
    for read in reads {
        match read {
            Some(read) => union.union_with(read),
            None => everything = true,
        }
    }
    (union, everything)
}
