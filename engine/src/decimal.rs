//! A number's decimal digits, written without `fmt`: the EVTX reader writes one for most
//! numeric values of a record and an alert writes a few, and `fmt`'s machinery costs several
//! times the digits themselves.

/// The decimal digits of `n`, ASCII, at the end of `buffer`.
#[inline]
pub(crate) fn digits(mut n: u64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buffer[at..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_the_formatted_number() {
        for n in [0, 7, 10, 99, 4624, 1_000_000, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(digits(n, &mut [0; 20]), n.to_string().as_bytes(), "{n}");
        }
    }
}
