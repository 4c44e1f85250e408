//! Copies of correlation matches, dropped by the worker that made them.
//!
//! A log that holds an event twice (its chunks repeated, record ids and all) gives match
//! records equal byte for byte, sort key included: the same time, rule, file, record id, host, channel and
//! field values. The correlation stage takes the first and drops the rest as duplicates of
//! an event already taken (`Correlator::push`), and since the matches are sorted by key
//! and then by bytes, equal ones come out one after another, so the clock does not move
//! between them and no deadline passes. A worker that remembers the matches it sent lately
//! can therefore drop a copy itself, before it is sorted, spilled, merged and read back by
//! every chain's thread: the alerts are the same, and the copy is counted as a match and a
//! duplicate, as the stage would have counted it. Only exact copies go: a match that differs
//! in anything still reaches the stage, which decides as before. (The stream, whose matches
//! are correlated as they come and not sorted, does not drop them.)
//!
//! On the dense bench log, a real log's ten chunks repeated, every record feeds the pack's
//! correlations and all but 869 of 417,120 matches are copies; without this each was
//! serialized, sorted, written to disk and read back by each of the stage's threads.
//!
//! The memory is bounded: `SETS` sets of `WAYS`, each set remembering the last `WAYS`
//! matches that fell in it (by hash), so a worker holds at most `SETS` × `WAYS` matches
//! (about 100 bytes each) and forgets the older ones. A copy that comes after its original
//! was forgotten is sent on and dropped by the stage as before. (With two ways to a set,
//! 1,024 sets, 59 of 512 distinct matches were forgotten: a set forgets when more matches
//! fall in it than it has ways, and with two ways that is common. With eight, the dense
//! 30 MB log's workers drop 40,373 of its 40,843 copies on one thread.)

use crate::field::FxHasher;
use crate::order::SortKey;
use std::hash::Hasher;

/// Sets in a worker's memory of matches; a power of two.
const SETS: usize = 256;
/// Matches a set remembers.
const WAYS: usize = 8;

/// A worker's memory of the matches it sent lately.
#[derive(Default)]
pub(crate) struct RecentMatches {
    /// `WAYS` per set, made when the first match is sent.
    kept: Vec<Kept>,
    /// Per set, the hashes of its matches, and the way its next match replaces.
    sets: Vec<([u64; WAYS], usize)>,
    /// Copies dropped so far.
    dropped: u64,
}

#[derive(Default)]
struct Kept {
    key: Option<SortKey>,
    bytes: Vec<u8>,
}

impl RecentMatches {
    /// Whether the match is a copy of one sent lately; if not, it is remembered as sent, in
    /// place of the oldest of its set.
    pub fn is_copy(&mut self, key: SortKey, bytes: &[u8]) -> bool {
        if self.kept.is_empty() {
            self.kept.resize_with(SETS * WAYS, Kept::default);
            self.sets = vec![([0; WAYS], 0); SETS];
        }
        // The key and the length, not the bytes: few matches share a key, and hashing a
        // whole match cost as much as the rest of the look.
        let mut hasher = FxHasher::default();
        hasher.write_u64(key.time as u64);
        hasher.write_u64((key.time >> 64) as u64);
        hasher.write_u64(key.record);
        hasher.write_u64(u64::from(key.file) << 32 | u64::from(key.rule));
        hasher.write_usize(bytes.len());
        let hash = hasher.finish();
        let set = (hash >> (64 - SETS.trailing_zeros())) as usize;
        let (hashes, next) = &mut self.sets[set];
        let kept = &mut self.kept[set * WAYS..][..WAYS];
        for (way, &kept_hash) in hashes.iter().enumerate() {
            if kept_hash == hash && kept[way].key == Some(key) && kept[way].bytes == bytes {
                self.dropped += 1;
                return true;
            }
        }
        hashes[*next] = hash;
        let oldest = &mut kept[*next];
        oldest.key = Some(key);
        oldest.bytes.clear();
        oldest.bytes.extend_from_slice(bytes);
        *next = (*next + 1) % WAYS;
        false
    }

    /// The copies dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(record: u64) -> SortKey {
        SortKey {
            time: 1,
            file: 0,
            record,
            rule: 0,
        }
    }

    /// A copy is one equal in key and bytes; the first of each is sent.
    #[test]
    fn only_exact_copies_of_matches_sent_are_dropped() {
        let mut recent = RecentMatches::default();
        assert!(!recent.is_copy(key(1), b"match"));
        assert!(recent.is_copy(key(1), b"match"));
        assert!(!recent.is_copy(key(2), b"match"), "another key");
        assert!(!recent.is_copy(key(1), b"matcH"), "other bytes");
        assert!(!recent.is_copy(key(1), b""), "no bytes");
        assert!(recent.is_copy(key(1), b""));
        assert!(recent.is_copy(key(1), b"match"));
        assert!(recent.is_copy(key(2), b"match"));
        assert_eq!(recent.dropped(), 4);
    }

    /// A quarter as many matches as the memory holds are nearly all remembered (a set
    /// forgets only if more than `WAYS` of them fall in it); four times as many are not,
    /// and what is forgotten is sent again.
    #[test]
    fn the_memory_of_matches_is_bounded() {
        let match_bytes = |n: u64| format!("match {n}").into_bytes();
        let mut recent = RecentMatches::default();
        let few = (SETS * WAYS / 4) as u64;
        for n in 0..few {
            assert!(!recent.is_copy(key(n), &match_bytes(n)));
        }
        let remembered = (0..few)
            .filter(|&n| recent.is_copy(key(n), &match_bytes(n)))
            .count();
        assert!(remembered as u64 >= few * 99 / 100, "{remembered} of {few}");
        let many = (4 * SETS * WAYS) as u64;
        for n in 0..many {
            recent.is_copy(key(n), &match_bytes(n));
        }
        let remembered = (0..many)
            .filter(|&n| recent.is_copy(key(n), &match_bytes(n)))
            .count();
        assert!(remembered <= SETS * WAYS, "{remembered}");
        assert_eq!(recent.kept.len(), SETS * WAYS);
    }

    proptest::proptest! {
        /// A match is called a copy only if the same key and bytes were sent before, and
        /// one just sent is always called a copy.
        #[test]
        fn a_match_is_never_called_a_copy_wrongly(
            matches in proptest::collection::vec(
                (0u8..6, proptest::collection::vec(0u8..3, 0..4)),
                0..200,
            ),
        ) {
            let mut recent = RecentMatches::default();
            let mut sent = std::collections::HashSet::new();
            for (record, rest) in &matches {
                let bytes: Vec<u8> = [*record].iter().chain(rest).copied().collect();
                let key = key(u64::from(*record));
                let copy = recent.is_copy(key, &bytes);
                let sent_before = !sent.insert(bytes.clone());
                proptest::prop_assert!(!copy || sent_before);
                proptest::prop_assert!(recent.is_copy(key, &bytes));
            }
        }
    }
}
