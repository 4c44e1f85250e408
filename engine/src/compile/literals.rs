//! Shared Aho-Corasick automata for literal `contains` needles.
//!
//! Thousands of rules test the same few fields (`CommandLine`, `Image`) for substrings.
//! Testing each needle on its own costs one pass over the value per needle; instead every
//! case-insensitive ASCII `contains` needle of every rule on a field goes into one
//! automaton for that field (measured: 0.6-2 GB/s for 1k-16k needles), which runs at most
//! once per record, on first demand, and stamps the needles it found. A rule's test is then
//! a lookup. Keyword searches (no field) have one automaton over every value of the event.
//!
//! Needles are lowercase and the automata case-sensitive: a value is ASCII-lowercased into
//! a scratch buffer before the scan (measured: building a 5,600-needle automaton takes
//! 15 ms this way, 70 ms with the automaton folding case itself). ASCII folding is exact for
//! needles whose other characters have no case (emoji, CJK, symbols). Needles with cased
//! non-ASCII letters (Cyrillic homoglyphs) go to a second automaton per subject, run over
//! the Unicode-lowercased value, and only for values that are not pure ASCII (such a needle
//! cannot occur in those).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::field::FxBuild;
use rayon::prelude::*;

use std::collections::HashMap;

/// What an automaton scans: one field, or every value (keywords). Keyword searches are
/// grouped by the channels their rules read, so a record is searched only for the
/// keywords of rules that can see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    Field(u32),
    /// A keyword group (one per distinct channel set).
    Keywords(u32),
}

#[derive(Debug)]
pub(crate) struct Automaton {
    pub ac: AhoCorasick,
    /// Needle id of each automaton pattern.
    pub needles: Vec<u32>,
}

/// The automata of one subject.
#[derive(Debug, Default)]
pub(crate) struct SubjectAutomata {
    /// Needles that ASCII case folding matches exactly.
    pub folded: Option<Automaton>,
    /// Needles with cased non-ASCII letters, run over lowercased non-ASCII values.
    pub unicode: Option<Automaton>,
}

/// Whether ASCII case folding finds `needle` (lowercase) wherever Unicode folding would.
fn ascii_folding_suffices(needle: &str) -> bool {
    needle.chars().all(|c| {
        c.is_ascii()
            || (c.to_lowercase().eq(std::iter::once(c)) && c.to_uppercase().eq(std::iter::once(c)))
    })
}

/// Collects needles while rules compile.
#[derive(Debug, Default)]
pub(crate) struct LiteralsBuilder {
    ids: HashMap<(Subject, Box<str>), u32, FxBuild>,
    count: u32,
}

impl LiteralsBuilder {
    /// The id of lowercase `needle` on `subject`, shared by every rule that uses it.
    pub fn needle(&mut self, subject: Subject, needle: &str) -> u32 {
        let key = (subject, Box::<str>::from(needle));
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = self.count;
        self.count += 1;
        self.ids.insert(key, id);
        id
    }

    pub fn build(self, field_count: usize, keyword_groups: usize) -> Result<Literals, String> {
        // (subject, needs Unicode folding) -> (needle, id)
        type Groups = HashMap<(Subject, bool), Vec<(Box<str>, u32)>>;
        let mut per_subject = Groups::new();

        for ((subject, text), id) in self.ids {
            let unicode = !ascii_folding_suffices(&text);
            per_subject
                .entry((subject, unicode))
                .or_default()
                .push((text, id));
        }
        let mut fields: Vec<SubjectAutomata> = (0..field_count)
            .map(|_| SubjectAutomata::default())
            .collect();
        let mut keywords: Vec<SubjectAutomata> = (0..keyword_groups)
            .map(|_| SubjectAutomata::default())
            .collect();

        // The automata are independent: build them on every core.
        let built: Vec<((Subject, bool), Result<Automaton, String>)> = per_subject
            .into_par_iter()
            .map(|(key, mut needles)| {
                // Sorted so the automaton, and its pattern numbering, is the same every run.
                needles.sort();
                let automaton = AhoCorasickBuilder::new()
                    .match_kind(MatchKind::Standard)
                    .build(needles.iter().map(|(t, _)| t.as_bytes()))
                    .map(|ac| Automaton {
                        ac,
                        needles: needles.iter().map(|(_, id)| *id).collect(),
                    })
                    .map_err(|e| format!("cannot build the literal automaton: {e}"));
                (key, automaton)
            })
            .collect();
        for ((subject, unicode), automaton) in built {
            let slot = match subject {
                Subject::Field(id) => &mut fields[id as usize],
                Subject::Keywords(group) => &mut keywords[group as usize],
            };
            if unicode {
                slot.unicode = Some(automaton?);
            } else {
                slot.folded = Some(automaton?);
            }
        }
        Ok(Literals {
            fields,
            keywords,
            count: self.count as usize,
        })
    }
}

/// The automata of a compiled program.
#[derive(Debug, Default)]
pub(crate) struct Literals {
    pub fields: Vec<SubjectAutomata>,
    /// By keyword group.
    pub keywords: Vec<SubjectAutomata>,
    pub count: usize,
}

impl Literals {
    pub fn automata(&self, subject: Subject) -> Option<&SubjectAutomata> {
        match subject {
            Subject::Field(id) => self.fields.get(id as usize),
            Subject::Keywords(group) => self.keywords.get(group as usize),
        }
    }
}
