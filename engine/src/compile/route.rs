//! The index from (channel, event id) to the rules a record can meet.
//!
//! A record looks up its channel (exact name, then ASCII-lowercased) and its event id, and
//! gets up to four buckets: its channel's bucket for its event id and for any event id, and
//! the same two for rules that read every channel. In a large bucket, rules with a gate
//! (see `gate`) are filed under their gate needles and evaluated only when one is found.

use super::literals::Subject;
use super::{KeywordReads, Reads};
use crate::field::{FieldId, FieldSet, FxBuild, well_known};
use crate::keyword_filter::KeywordFilter;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

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
    /// The fields its rules name (see `field::Wanted`).
    pub fields: FieldSet,
    /// What its rules' keyword searches need of a record besides.
    pub keywords: BucketKeywords,
}

/// What a bucket's keyword searches need of a record.
#[derive(Debug, Default)]
pub(crate) enum BucketKeywords {
    #[default]
    None,
    /// Every value, if the filter says the record may hold a keyword.
    Filtered(Arc<KeywordFilter>),
    /// Every value.
    Everything,
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
        reads: &[Reads],
        filters: &mut Filters,
    ) -> Bucket {
        let (fields, keywords) = union_of(rules.iter().map(|&rule| &reads[rule as usize]));
        let mut bucket = Bucket {
            fields,
            keywords: filters.bucket_keywords(keywords),
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
    /// Some bucket reads every value of every record (keywords no filter can rule out).
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

    fn build(
        self,
        gates: &[Option<Vec<(Subject, u32)>>],
        reads: &[Reads],
        filters: &mut Filters,
    ) -> Channel {
        Channel {
            by_event_id: self
                .by_event_id
                .into_iter()
                .map(|(id, rules)| (id, Bucket::build(rules, gates, reads, filters)))
                .collect(),
            any_event_id: Bucket::build(self.any_event_id, gates, reads, filters),
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
    /// what it reads.
    pub fn build(self, gates: &[Option<Vec<(Subject, u32)>>], reads: &[Reads]) -> Routes {
        let mut read_anywhere = FieldSet::default();
        reads
            .iter()
            .for_each(|read| read_anywhere.union_with(&read.fields));
        (0..well_known::NAMES.len() as FieldId).for_each(|id| read_anywhere.insert(id));
        let mut filters = Filters::default();
        let mut routes = Routes {
            any_channel: self.any_channel.build(gates, reads, &mut filters),
            read_anywhere,
            ..Routes::default()
        };
        for (index, (lowercase, lists)) in self.channels.into_iter().enumerate() {
            routes.channels.insert(lowercase, index as u32);
            routes
                .by_channel
                .push(lists.build(gates, reads, &mut filters));
        }
        // A record's header is read before its rules are known, so only buckets whose
        // keywords no filter can rule out make it whole; a filtered record that may hold a
        // keyword is read again whole (see `evtx_binxml`).
        routes.some_read_everything = std::iter::once(&routes.any_channel)
            .chain(&routes.by_channel)
            .flat_map(|channel| channel.by_event_id.values().chain([&channel.any_event_id]))
            .any(|bucket| matches!(bucket.keywords, BucketKeywords::Everything));
        for spelling in self.spellings {
            let index = routes.channels[spelling.to_ascii_lowercase().as_str()];
            routes.channels.insert(spelling, index);
        }
        routes
    }
}

/// The fields any of `reads` names, and what their keyword searches need.
fn union_of<'a>(reads: impl IntoIterator<Item = &'a Reads>) -> (FieldSet, KeywordReads) {
    let (mut fields, mut keywords) = (FieldSet::default(), KeywordReads::None);
    for read in reads {
        fields.union_with(&read.fields);
        keywords.add(&read.keywords);
    }
    (fields, keywords)
}

/// Keyword filters by their keywords: buckets whose rules search the same keywords share one.
#[derive(Default)]
struct Filters {
    by_keywords: HashMap<Vec<Box<str>>, Arc<KeywordFilter>>,
}

impl Filters {
    fn bucket_keywords(&mut self, keywords: KeywordReads) -> BucketKeywords {
        match keywords {
            KeywordReads::None => BucketKeywords::None,
            KeywordReads::Everything => BucketKeywords::Everything,
            KeywordReads::Filtered(mut keywords) => {
                keywords.sort();
                keywords.dedup();
                if let Some(filter) = self.by_keywords.get(&keywords) {
                    return BucketKeywords::Filtered(filter.clone());
                }
                match KeywordFilter::new(keywords.iter().map(|k| &**k)) {
                    Some(filter) => {
                        let filter = Arc::new(filter);
                        self.by_keywords.insert(keywords, filter.clone());
                        BucketKeywords::Filtered(filter)
                    }
                    None => BucketKeywords::Everything,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BucketKeywords;
    use crate::compile::{Options, Program, compile};
    use crate::rule::load_str;

    fn program(keywords: &[&[&str]]) -> Program {
        let rules: Vec<String> = keywords
            .iter()
            .enumerate()
            .map(|(n, words)| {
                format!(
                    "title: k{n}\nid: k{n}\nlogsource: {{product: windows}}\n\
                     detection:\n  keywords: {words:?}\n  condition: keywords\n"
                )
            })
            .collect();
        let loaded = load_str(std::path::Path::new("k.yml"), &rules.join("---\n"));
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let (program, errors) = compile(loaded.rules, loaded.correlations, &Options::default());
        assert!(errors.is_empty(), "{errors:?}");
        program
    }

    /// Keyword rules whose keywords only a string can hold let records be read in part
    /// (one filter per set of keywords); one other keyword makes every record whole.
    #[test]
    fn only_keywords_a_filter_can_rule_out_leave_records_read_in_part() {
        let filtered = program(&[&["sekurlsa::"], &["*kiwi*printer*"]]);
        assert!(!filtered.header_wanted().is_everything());
        let bucket = &filtered.routes.any_channel.any_event_id;
        assert!(matches!(bucket.keywords, BucketKeywords::Filtered(_)));

        for other in ["4624", "lsa_dump", "*"] {
            let whole = program(&[&["sekurlsa::"], &[other]]);
            assert!(whole.header_wanted().is_everything(), "{other}");
            let bucket = &whole.routes.any_channel.any_event_id;
            assert!(
                matches!(bucket.keywords, BucketKeywords::Everything),
                "{other}"
            );
        }
    }
}
