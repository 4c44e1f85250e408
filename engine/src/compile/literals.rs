//! Shared Aho-Corasick automata for literal `contains` needles.
//!
//! Thousands of rules test the same few fields (`CommandLine`, `Image`) for substrings.
//! Testing each needle on its own costs one pass over the value per needle; instead every
//! case-insensitive ASCII `contains` needle of every rule on a field goes into one
//! automaton for that field (measured: 0.6-2 GB/s for 1k-16k needles), which runs at most
//! once per record, on first demand, and stamps the needles it found. A rule's test is then
//! a lookup. Keyword searches (no field) have one automaton over every value of the event.
//! A subject's automata are built when a record first asks for them (see `on_demand`).
//!
//! Needles are lowercase. Automata are case-sensitive and a value is ASCII-lowercased into a
//! scratch buffer before the scan (measured: building a 5,600-needle automaton takes 15 ms
//! this way, 70 ms with the automaton folding case itself, and its tables are 5 MiB
//! smaller). Most values hold no needle, so a value is first put to a gate: a
//! leftmost-first automaton over the same needles that says whether any occurs. Unlike the
//! standard automaton, which finds overlapping matches, it can use the SIMD Teddy prefilter
//! (up to 64 needles), which skims text many times faster than an automaton walks it; only
//! when the gate finds a needle does the standard automaton walk the value. A keyword
//! search lowercases the record's whole text (names and values) once and asks the gate
//! about all of it; only then are the values searched one by one. Measured (`cargo bench
//! -p tansa-engine --bench hot_paths -- match`): evaluating a 4624 logon against SigmaHQ's
//! Windows rules, whose Mimikatz keywords search every record, went from 2.2 µs with a
//! case-folding automaton run value by value to 1.5 µs. Gates on fields took evaluation on
//! the dense Security log from 705 to 616 million instructions (callgrind, 30 MB, SigmaHQ
//! and the pack). ASCII folding is exact for
//! needles whose other characters have no case (emoji, CJK, symbols). Needles with cased
//! non-ASCII letters (Cyrillic homoglyphs) go to a second automaton per subject, run over
//! the Unicode-lowercased value, and only for values that are not pure ASCII (such a needle
//! cannot occur in those).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use super::on_demand::OnDemand;
use crate::field::FxBuild;

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
    /// Finds every needle, overlapping ones too.
    pub ac: AhoCorasick,
    /// For up to `GATED_MAX_NEEDLES` needles: answers whether any needle occurs, faster
    /// (see the module comment).
    pub gate: Option<AhoCorasick>,
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

    /// Groups the needles by subject. The automata are built when a record first needs
    /// them (see `on_demand`).
    pub fn build(self, field_count: usize, keyword_groups: usize) -> Literals {
        let mut fields: Vec<Needles> = (0..field_count).map(|_| Needles::default()).collect();
        let mut keywords: Vec<Needles> = (0..keyword_groups).map(|_| Needles::default()).collect();
        for ((subject, text), id) in self.ids {
            let slot = match subject {
                Subject::Field(id) => &mut fields[id as usize],
                Subject::Keywords(group) => &mut keywords[group as usize],
            };
            if ascii_folding_suffices(&text) {
                slot.folded.push((text, id));
            } else {
                slot.unicode.push((text, id));
            }
        }
        Literals {
            fields: fields.into_iter().map(OnDemand::new).collect(),
            keywords: keywords.into_iter().map(OnDemand::new).collect(),
            count: self.count as usize,
        }
    }
}

/// The needles of one subject, by the automaton they go into.
#[derive(Debug, Default)]
pub(crate) struct Needles {
    folded: Vec<(Box<str>, u32)>,
    unicode: Vec<(Box<str>, u32)>,
}

impl Needles {
    fn build(&self) -> Result<SubjectAutomata, String> {
        Ok(SubjectAutomata {
            folded: automaton(&self.folded)?,
            unicode: automaton(&self.unicode)?,
        })
    }
}

/// Automata of at most this many needles get a gate: the Teddy prefilter takes up to 64.
const GATED_MAX_NEEDLES: usize = 64;

/// One automaton over `needles`, or none if there are none.
fn automaton(needles: &[(Box<str>, u32)]) -> Result<Option<Automaton>, String> {
    if needles.is_empty() {
        return Ok(None);
    }
    // Sorted so the automaton, and its pattern numbering, is the same every run.
    let mut sorted: Vec<&(Box<str>, u32)> = needles.iter().collect();
    sorted.sort();
    let build = |kind| {
        AhoCorasickBuilder::new()
            // aho-corasick would make a DFA of up to 100 needles: on the corpus, SigmaHQ's
            // 61 such automata take 2.4 MB as DFAs and 0.3 MB as contiguous NFAs, and
            // evaluating a logon against SigmaHQ takes the same time either way.
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .match_kind(kind)
            .build(sorted.iter().map(|(text, _)| text.as_bytes()))
            .map_err(|e| format!("cannot build the literal automaton: {e}"))
    };
    let gate = if sorted.len() <= GATED_MAX_NEEDLES {
        Some(build(MatchKind::LeftmostFirst)?)
    } else {
        None
    };
    Ok(Some(Automaton {
        ac: build(MatchKind::Standard)?,
        gate,
        needles: sorted.iter().map(|(_, id)| *id).collect(),
    }))
}

/// The automata of a compiled program, by subject, built on first use.
#[derive(Debug, Default)]
pub(crate) struct Literals {
    pub fields: Vec<OnDemand<Needles, SubjectAutomata>>,
    /// By keyword group.
    pub keywords: Vec<OnDemand<Needles, SubjectAutomata>>,
    pub count: usize,
}

impl Literals {
    /// The automata of `subject`, built now if this is their first use. `None` if the
    /// subject has no needles, or if its automata could not be built (see
    /// `Literals::failures`).
    #[inline]
    pub fn automata(&self, subject: Subject) -> Option<&SubjectAutomata> {
        let part = match subject {
            Subject::Field(id) => self.fields.get(id as usize),
            Subject::Keywords(group) => self.keywords.get(group as usize),
        }?;
        part.get(Needles::build).ok()
    }

    /// Builds every automaton not built yet.
    pub fn build_all(&self) {
        for part in self.fields.iter().chain(&self.keywords) {
            let _ = part.get(Needles::build);
        }
    }

    /// Why automata that were needed could not be built.
    pub fn failures(&self) -> impl Iterator<Item = &str> {
        self.fields
            .iter()
            .chain(&self.keywords)
            .filter_map(|part| part.failure())
    }
}
