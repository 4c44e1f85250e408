//! Stable hashes for ids that must not change between runs, machines or Rust versions
//! (`std`'s hasher promises none of that).

const FNV64_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV64_PRIME: u64 = 0x0000_0100_0000_01b3;
const FNV128_OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const FNV128_PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV64_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV64_PRIME)
    })
}

/// FNV-1a, 128 bits, over several parts; each part is length-prefixed so that
/// `("ab", "c")` and `("a", "bc")` differ.
pub fn fnv1a128(parts: &[&[u8]]) -> u128 {
    let mut h = FNV128_OFFSET;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u128::from(b)).wrapping_mul(FNV128_PRIME);
        }
    };
    for part in parts {
        feed(&(part.len() as u64).to_le_bytes());
        feed(part);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // Published FNV-1a test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn parts_are_delimited() {
        assert_ne!(fnv1a128(&[b"ab", b"c"]), fnv1a128(&[b"a", b"bc"]));
        assert_eq!(fnv1a128(&[b"x"]), fnv1a128(&[b"x"]));
    }
}
