//! The index from (channel, event id) to the rules a record can meet.
//!
//! A record looks up its channel (exact name, then ASCII-lowercased) and its event id, and
//! gets up to four buckets: its channel's bucket for its event id and for any event id, and
//! the same two for rules that read every channel. In a large bucket, rules with a gate
//! (see `gate`) are filed under their gate needles and evaluated only when one is found.

use super::literals::Subject;
use crate::field::FxBuild;
use std::collections::{BTreeSet, HashMap};

/// Buckets smaller than this evaluate every rule: scanning for gates would cost more.
const GATE_MIN_RULES: usize = 8;

/// The rules of one (channel, event id) pair.
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    /// Evaluated for every record.
    pub always: Vec<u32>,
    /// Gate needle to the rules it opens.
    pub gated: HashMap<u32, Vec<u32>, FxBuild>,
    /// The subjects whose automata find this bucket's gate needles.
    pub gate_subjects: Vec<Subject>,
}

impl Bucket {
    pub fn is_empty(&self) -> bool {
        self.always.is_empty() && self.gated.is_empty()
    }

    fn build(rules: Vec<u32>, gates: &[Option<Vec<(Subject, u32)>>]) -> Bucket {
        let mut bucket = Bucket::default();
        if rules.len() < GATE_MIN_RULES {
            bucket.always = rules;
            return bucket;
        }
        let mut subjects = BTreeSet::new();
        for rule in rules {
            match &gates[rule as usize] {
                Some(gate) => {
                    for (subject, needle) in gate {
                        subjects.insert(*subject);
                        let list = bucket.gated.entry(*needle).or_default();
                        if list.last() != Some(&rule) {
                            list.push(rule);
                        }
                    }
                }
                None => bucket.always.push(rule),
            }
        }
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
    pub channels: HashMap<Box<str>, Channel, FxBuild>,
    pub any_channel: Channel,
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

    fn build(self, gates: &[Option<Vec<(Subject, u32)>>]) -> Channel {
        Channel {
            by_event_id: self
                .by_event_id
                .into_iter()
                .map(|(id, rules)| (id, Bucket::build(rules, gates)))
                .collect(),
            any_event_id: Bucket::build(self.any_event_id, gates),
        }
    }
}

/// Collects rule placements while rules compile.
#[derive(Debug, Default)]
pub(crate) struct RoutesBuilder {
    channels: HashMap<Box<str>, Lists>,
    any_channel: Lists,
}

impl RoutesBuilder {
    /// Files `rule` under each of `channels` (`None`: every channel) and `event_ids`
    /// (`None`: any). Channels are filed under their name and its ASCII lowercase.
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
                    keys.insert(channel.as_str().into());
                    keys.insert(channel.to_ascii_lowercase().into());
                }
                for key in keys {
                    self.channels.entry(key).or_default().add(event_ids, rule);
                }
            }
        }
    }

    /// The final index; `gates[rule]` holds each compiled rule's gate needles.
    pub fn build(self, gates: &[Option<Vec<(Subject, u32)>>]) -> Routes {
        Routes {
            channels: self
                .channels
                .into_iter()
                .map(|(name, lists)| (name, lists.build(gates)))
                .collect(),
            any_channel: self.any_channel.build(gates),
        }
    }
}
