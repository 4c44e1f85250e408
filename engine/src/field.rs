//! Field names, resolved to small integer ids once, when rules compile.
//!
//! A record's fields are looked up by id, never by comparing names per rule: the input
//! resolves each field name it reads to an id through this table (one hash lookup per field),
//! and a compiled rule holds ids. Names no rule uses get no id; they stay in the event for
//! keyword searches and output.
//!
//! Some fields answer to more than one name. The Sigma spec writes `<System>` attributes as
//! `Tag_Attribute` (`Execution_ProcessID`, `Security_UserID`) while SigmaHQ's Windows fields
//! use the bare attribute (`ProcessID`); both names resolve to one id here.

use crate::keyword_filter::KeywordFilter;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The id of a field name in a `FieldTable`.
pub type FieldId = u32;

/// Fields every table knows, with fixed ids, so inputs can fill an event's header without a
/// lookup.
pub mod well_known {
    use super::FieldId;
    pub const EVENT_ID: FieldId = 0;
    pub const CHANNEL: FieldId = 1;
    pub const COMPUTER: FieldId = 2;
    pub const PROVIDER_NAME: FieldId = 3;
    pub const EVENT_RECORD_ID: FieldId = 4;
    pub const TIME_CREATED: FieldId = 5;
    pub const NAMES: [&str; 6] = [
        "EventID",
        "Channel",
        "Computer",
        "Provider_Name",
        "EventRecordID",
        "TimeCreated",
    ];

    /// The name of a well-known field.
    pub fn name(id: FieldId) -> Option<&'static str> {
        NAMES.get(id as usize).copied()
    }
}

/// Other names for fields, as `(alias, name)`.
const ALIASES: &[(&str, &str)] = &[
    ("TimeCreated_SystemTime", "TimeCreated"),
    ("Execution_ProcessID", "ProcessID"),
    ("Execution_ThreadID", "ThreadID"),
    ("Security_UserID", "UserID"),
    ("Correlation_ActivityID", "ActivityID"),
    ("Correlation_RelatedActivityID", "RelatedActivityID"),
    ("Qualifiers", "EventID_Qualifiers"),
];

/// Maps field names to ids. Built before a hunt, then shared read-only by every worker.
#[derive(Debug, Clone)]
pub struct FieldTable {
    /// Different for every table and every change to one (see `FieldTable::version`).
    version: u64,
    ids: HashMap<Box<str>, FieldId, FxBuild>,
    names: Vec<Box<str>>,
    /// A one-sided filter in front of `ids`: for each name length (capped at 63), a bit per
    /// value of `(first byte ^ last byte) & 63` that some name in the table has. Most of the
    /// names a syslog line or JSON object carries are in no rule; this turns their lookup
    /// into a load and a test instead of a hash and a probe.
    shapes: Box<[u64; 64]>,
}

/// A number no table has had yet.
fn next_version() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The filter slot and bit of `name` (see `FieldTable::shapes`).
#[inline]
fn shape(name: &str) -> (usize, u64) {
    let bytes = name.as_bytes();
    let mix = match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => first ^ last,
        _ => 0,
    };
    (bytes.len().min(63), 1 << (mix & 63))
}

impl Default for FieldTable {
    fn default() -> Self {
        FieldTable::new()
    }
}

impl FieldTable {
    /// A table with the well-known fields and the aliases.
    pub fn new() -> FieldTable {
        let mut table = FieldTable {
            version: next_version(),
            ids: HashMap::default(),
            names: Vec::new(),
            shapes: Box::new([0; 64]),
        };
        for name in well_known::NAMES {
            table.intern(name);
        }
        for (alias, name) in ALIASES {
            let id = table.intern(name);
            table.insert(alias, id);
        }
        table
    }

    fn insert(&mut self, name: &str, id: FieldId) {
        self.version = next_version();
        let (slot, bit) = shape(name);
        self.shapes[slot] |= bit;
        self.ids.insert(name.into(), id);
    }

    /// The id of `name`, adding it if new.
    pub fn intern(&mut self, name: &str) -> FieldId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as FieldId;
        self.names.push(name.into());
        self.insert(name, id);
        id
    }

    #[inline]
    pub fn get(&self, name: &str) -> Option<FieldId> {
        let (slot, bit) = shape(name);
        if self.shapes[slot] & bit == 0 {
            return None;
        }
        self.ids.get(name).copied()
    }

    /// Identifies what the table maps: a lookup remembered from a table with the same
    /// version is still right (a clone shares its original's version until either changes).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The primary name of a field.
    pub fn name(&self, id: FieldId) -> &str {
        &self.names[id as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// A set of field ids, one bit each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    words: Vec<u64>,
}

impl FieldSet {
    pub fn insert(&mut self, id: FieldId) {
        let word = id as usize / 64;
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (id % 64);
    }

    pub fn union_with(&mut self, other: &FieldSet) {
        if other.words.len() > self.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (word, other) in self.words.iter_mut().zip(&other.words) {
            *word |= other;
        }
    }

    #[inline]
    pub fn contains(&self, id: FieldId) -> bool {
        self.words
            .get(id as usize / 64)
            .is_some_and(|word| word & (1 << (id % 64)) != 0)
    }
}

/// The fields a record's reader must fill: those of up to four sets, or every field; or
/// every field if the record may hold a keyword of up to four filters, and else those of
/// the sets.
///
/// Why: a record's rules read a few of its fields, and formatting the others (UTF-16 to
/// UTF-8, numbers, SIDs) was half of what reading a record cost. A reader told what is
/// wanted leaves the rest out and marks the event partial (`Event::is_partial`); whoever
/// needs the whole record (an alert shows every field) has it read again. Keyword searches
/// read every value, but only of records that may hold a keyword: a reader that can look
/// at a record's raw strings first (`evtx_binxml`) puts them to the filters; one that
/// cannot reads every field.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    sets: [Option<&'a FieldSet>; 4],
    everything: bool,
    keywords: [Option<&'a KeywordFilter>; 4],
}

impl<'a> Wanted<'a> {
    /// Every field, named or not.
    pub const EVERYTHING: Wanted<'static> = Wanted {
        sets: [None; 4],
        everything: true,
        keywords: [None; 4],
    };

    /// The fields of any of `sets`.
    pub fn any_of(sets: [Option<&'a FieldSet>; 4]) -> Wanted<'a> {
        Wanted {
            sets,
            everything: false,
            keywords: [None; 4],
        }
    }

    /// These fields, or every field if the record may hold a keyword of `filters`.
    pub fn unless_keywords(self, filters: [Option<&'a KeywordFilter>; 4]) -> Wanted<'a> {
        Wanted {
            keywords: filters,
            ..self
        }
    }

    /// The keyword filters still to be asked (none once `everything`), each once.
    pub fn keyword_filters(&self) -> impl Iterator<Item = &'a KeywordFilter> + '_ {
        let filters = &self.keywords;
        filters
            .iter()
            .enumerate()
            .filter(|_| !self.everything)
            .filter_map(move |(i, filter)| {
                let filter = (*filter)?;
                let first = !filters[..i]
                    .iter()
                    .flatten()
                    .any(|f| std::ptr::eq(*f, filter));
                first.then_some(filter)
            })
    }

    /// These fields, for a record that the keyword filters found to hold no keyword.
    pub fn without_keyword_filters(self) -> Wanted<'a> {
        Wanted {
            keywords: [None; 4],
            ..self
        }
    }

    /// Surely every field (with keyword filters to resolve, maybe not).
    pub fn is_everything(&self) -> bool {
        self.everything
    }

    /// Whether the field with this id (`None`: a name no rule reads) is wanted. Every
    /// field is, until the keyword filters are resolved.
    #[inline]
    pub fn contains(&self, id: Option<FieldId>) -> bool {
        match id {
            _ if self.everything || self.keywords.iter().any(Option::is_some) => true,
            None => false,
            Some(id) => self.sets.iter().flatten().any(|set| set.contains(id)),
        }
    }
}

/// A field name's length with its first, middle and last bytes: names that differ
/// mostly differ here, and it costs a few instructions where hashing the name costs tens.
/// For quick "surely not the same name" tests; equal prints still need the names compared.
pub(crate) fn name_fingerprint(name: &str) -> u32 {
    let bytes = name.as_bytes();
    let byte = |at: usize| bytes.get(at).map_or(0, |&b| u32::from(b));
    let len = bytes.len();
    ((len as u32) << 24) ^ (byte(0) << 16) ^ (byte(len / 2) << 8) ^ byte(len.wrapping_sub(1))
}

/// FxHash (from rustc): a multiply-rotate hash, several times faster than SipHash on the
/// short field names we look up per record. Not DoS-resistant, which a table built from the
/// user's own rules does not need.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

pub type FxBuild = BuildHasherDefault<FxHasher>;

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_share_an_id() {
        let mut table = FieldTable::new();
        assert_eq!(table.get("Security_UserID"), table.get("UserID"));
        assert_eq!(table.get("EventID"), Some(well_known::EVENT_ID));
        let id = table.intern("TargetUserName");
        assert_eq!(table.intern("TargetUserName"), id);
        assert_eq!(table.name(id), "TargetUserName");
        assert_eq!(
            table.get("targetusername"),
            None,
            "names are case-sensitive"
        );
    }

    #[test]
    fn every_interned_name_passes_the_shape_filter() {
        let mut table = FieldTable::new();
        let names: Vec<String> = (0..2000)
            .map(|i| {
                format!(
                    "{}{i}{}",
                    ["src", "x", "", "Data_"][i % 4],
                    ["", "_ip", "é"][i % 3]
                )
            })
            .chain(["", "a", &"long".repeat(40)].map(String::from))
            .collect();
        let ids: Vec<FieldId> = names.iter().map(|n| table.intern(n)).collect();
        for (name, id) in names.iter().zip(ids) {
            assert_eq!(table.get(name), Some(id), "{name}");
        }
        for (alias, _) in ALIASES {
            assert!(table.get(alias).is_some(), "{alias}");
        }
        assert_eq!(table.get("never-interned"), None);
    }
}
