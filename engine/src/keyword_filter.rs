//! A keyword search's first look at a record: whether any of its keywords could be in one
//! of the record's values, asked of the record's raw strings before its fields are read.
//!
//! Why: a Sigma keyword rule (values with no field, like SigmaHQ's "Mimikatz Use") searches
//! every value of every record its log source covers, so every such record was read whole:
//! each field formatted, the whole text lowercased and searched. Yet nearly no record holds
//! a keyword. An EVTX record's strings are UTF-16LE: the low bytes of an ASCII string's
//! units are its text. So the reader (`evtx_binxml`) narrows each string value to its low
//! bytes, lowercased (`narrow_utf16`), and puts them, with the text its templates write
//! themselves, to the filter; a record where no keyword occurs is read with only the fields
//! its rules name (`field::Wanted` carries the filters to the reader). A value equal to the
//! one last found clean in its place is not looked at again.
//!
//! The look is one-sided: it may say "maybe" of a record without the keyword, never "no"
//! of one with it, for the keywords `filterable` accepts:
//! - printable ASCII other than `_`: a string's ASCII characters are its code units, one
//!   for one, except that control characters are written as `_` (so an `_` in a value may
//!   not be in the string); non-ASCII keywords may need Unicode case folding;
//! - at least one character that no value of another type (number, time, GUID, SID, hex,
//!   boolean) is written with (`FORMATTED`): only a string can then hold the keyword.
//!
//! A value made of several pieces (text and values side by side) could hold a keyword
//! across them: the reader reads a record whole when its template makes one. Keywords
//! that fail `filterable` (a regex, `*`, `_`, a number) keep every record of their rules'
//! log sources read whole.

use aho_corasick::{AhoCorasick, MatchKind, packed};
use std::sync::atomic::{AtomicU64, Ordering};

/// Every character, ASCII-lowercased, that a value of a type other than string is written
/// with: decimal and hex digits, `0x`, `-`, GUID braces, dates (`T`, `:`, `.`, `Z`), SIDs
/// (`S-`, and `S-?` for one too short), `true` and `false`. Checked against the writer by a
/// property test in `evtx_binxml`.
pub(crate) const FORMATTED: &[u8] = b"0123456789abcdef-x{}tz:.srul?";

/// Whether a record whose strings `KeywordFilter` passes surely holds no `keyword`
/// (lowercase) in any value: see the module comment.
pub fn filterable(keyword: &str) -> bool {
    let printable = keyword
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'_');
    printable
        && keyword
            .bytes()
            .any(|b| !FORMATTED.contains(&b.to_ascii_lowercase()))
}

/// Looks for keywords in narrowed text (`narrow_utf16`).
#[derive(Debug)]
pub struct KeywordFilter {
    search: Search,
    /// The length of the shortest keyword, in bytes (characters: they are ASCII).
    shortest: usize,
    /// Different for every filter made (see `id`).
    id: u64,
}

/// A search for the keywords, lowercase.
#[derive(Debug)]
enum Search {
    /// aho-corasick's SIMD searcher (Teddy), for up to 64 keywords.
    Packed(packed::Searcher),
    Automaton(AhoCorasick),
}

impl KeywordFilter {
    /// A filter for `keywords` (lowercase); `None` if one is not `filterable` (or there are
    /// none), when every record must be read whole.
    pub fn new<'k>(keywords: impl IntoIterator<Item = &'k str>) -> Option<KeywordFilter> {
        let mut forms: Vec<Vec<u8>> = Vec::new();
        for keyword in keywords {
            if !filterable(keyword) {
                return None;
            }
            forms.push(keyword.to_ascii_lowercase().into_bytes());
        }
        if forms.is_empty() {
            return None;
        }
        forms.sort();
        forms.dedup();
        let shortest = forms.iter().map(Vec::len).min().unwrap_or(0);
        let packed = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(&forms)
            .build();
        let search = match packed {
            Some(searcher) => Search::Packed(searcher),
            None => Search::Automaton(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(&forms)
                    .ok()?,
            ),
        };
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Some(KeywordFilter {
            search,
            shortest,
            id,
        })
    }

    /// How many characters the shortest keyword has: a string shorter holds none.
    pub fn shortest(&self) -> usize {
        self.shortest
    }

    /// Tells this filter from every other one made in the process: what readers remember
    /// of a string found clean, they remember with it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether one of the keywords may be in `narrowed`: strings put through
    /// `narrow_utf16`, or other text ASCII-lowercased, each ended by a NUL (no keyword
    /// holds one, so none is found across two). "No" is sure; "maybe" is not.
    pub fn may_occur(&self, narrowed: &[u8]) -> bool {
        match &self.search {
            Search::Packed(searcher) => searcher.find(narrowed).is_some(),
            Search::Automaton(automaton) => automaton.is_match(narrowed),
        }
    }
}

/// Appends a UTF-16LE string as `KeywordFilter::may_occur` looks at it: the low byte of each
/// unit, ASCII-lowercased, then a NUL. A unit past ASCII leaves its low byte too, which
/// can only make a "maybe" of a string without a keyword (keywords are ASCII).
pub fn narrow_utf16(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend(
        bytes
            .chunks_exact(2)
            .map(|unit| unit[0].to_ascii_lowercase()),
    );
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn keywords_only_a_string_can_hold_are_filterable() {
        for keyword in [
            "sekurlsa::",
            "\\mimilib.dll",
            "kiwi legit printer",
            "cmd /c",
        ] {
            assert!(filterable(keyword), "{keyword}");
        }
        // A number, a GUID's piece, a date, a SID, a boolean, hex: another type may write them.
        for keyword in [
            "4624",
            "-4fe1-",
            "2024-01-01t",
            "s-1-5-18",
            "true",
            "0xdeadbeef",
        ] {
            assert!(!filterable(keyword), "{keyword}");
        }
        // `_` may stand for a control character; non-ASCII may need Unicode folding.
        for keyword in ["lsa_dump", "mimikatz\u{e9}", "tab\there", ""] {
            assert!(!filterable(keyword), "{keyword:?}");
        }
        assert!(KeywordFilter::new(["sekurlsa::", "4624"]).is_none());
        assert!(KeywordFilter::new([]).is_none());
    }

    fn narrowed(strings: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for string in strings {
            narrow_utf16(&utf16(string), &mut out);
        }
        out
    }

    #[test]
    fn a_keyword_is_found_in_any_case_and_only_within_one_string() {
        let filter = KeywordFilter::new(["sekurlsa::", "lsadump::"]).unwrap();
        assert_eq!(filter.shortest(), "lsadump::".len());
        for text in [
            "x SekurLSA::logonpasswords",
            "LSADUMP::sam",
            "\u{e9}..lsadump::",
        ] {
            assert!(filter.may_occur(&narrowed(&["a", text, "b"])), "{text}");
        }
        for text in ["sekurlsa:", "lsadump:;", "sekur lsa::", "s\u{0}ekurlsa::"] {
            assert!(!filter.may_occur(&narrowed(&[text])), "{text:?}");
        }
        // Two strings side by side do not make one.
        assert!(!filter.may_occur(&narrowed(&["sekur", "lsa::"])));
        // A unit past ASCII may make a "maybe" (U+0173's low byte is `s`), never a "no".
        assert!(filter.may_occur(&narrowed(&["\u{173}ekurlsa::"])));
    }

    proptest! {
        /// Whatever surrounds it, in whatever case, a keyword in a string is found.
        #[test]
        fn a_string_holding_a_keyword_is_never_passed(
            before in "[ -~\u{80}-\u{3000}]{0,40}",
            after in "[ -~\u{80}-\u{3000}]{0,40}",
            flips in proptest::collection::vec(any::<bool>(), 12),
            others in proptest::collection::vec("[ -~\u{80}-\u{3000}]{0,20}", 0..4),
        ) {
            let keyword: String = "mimidrv.sys"
                .chars()
                .zip(&flips)
                .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
                .collect();
            let filter = KeywordFilter::new(["mimidrv.sys", "privilege::debug"]).unwrap();
            let string = format!("{before}{keyword}{after}");
            let mut strings: Vec<&str> = others.iter().map(String::as_str).collect();
            strings.insert(strings.len() / 2, &string);
            prop_assert!(filter.may_occur(&narrowed(&strings)));
        }
    }
}
