//! A match as bytes, inside one hunt: what workers hand to the external sort for the
//! correlation stage. The rule and the input file are indexes (the hunt knows both), the
//! field names are the rule's feed (see `plan::Feed`), so a record holds only what varies:
//! time, ids, host, channel and the field values. About a third of its JSON size, and no
//! parsing to read back.
//!
//! The texts' lengths come first and their bytes after, together, so that reading a match
//! back checks its UTF-8 once rather than once per text: the stage reads every match of a
//! hunt, and per text the check had been a fifth of its reading (runs come back from disk,
//! so they are checked, not trusted). Reading back allocates nothing: the values are an
//! iterator over the record.

/// What a text's length is when there is no text.
const NONE: u32 = u32::MAX;

/// Appends one match to `out`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode<'a>(
    out: &mut Vec<u8>,
    time: i64,
    rule: u32,
    file: u32,
    record: u64,
    host: Option<&'a str>,
    channel: Option<&'a str>,
    values: impl ExactSizeIterator<Item = Option<&'a str>>,
) {
    out.extend_from_slice(&time.to_le_bytes());
    out.extend_from_slice(&rule.to_le_bytes());
    out.extend_from_slice(&file.to_le_bytes());
    out.extend_from_slice(&record.to_le_bytes());
    let count = 2 + values.len();
    out.extend_from_slice(&(count as u32).to_le_bytes());
    // The lengths' places first, filled in as the texts follow them.
    let lengths = out.len();
    out.resize(lengths + 4 * count, 0);
    let mut put = |index: usize, text: Option<&str>| {
        let len = text.map_or(NONE, |t| t.len() as u32);
        let at = lengths + 4 * index;
        out[at..at + 4].copy_from_slice(&len.to_le_bytes());
        if let Some(text) = text {
            out.extend_from_slice(text.as_bytes());
        }
    };
    put(0, host);
    put(1, channel);
    for (index, value) in values.enumerate() {
        put(2 + index, value);
    }
}

/// A match read back.
#[derive(Debug)]
pub(crate) struct Decoded<'a> {
    pub time: i64,
    pub rule: u32,
    pub file: u32,
    pub record: u64,
    pub host: Option<&'a str>,
    pub channel: Option<&'a str>,
    /// The field values, in the order of the rule's feed.
    pub values: Values<'a>,
}

/// The field values of a match read back, in order.
#[derive(Debug, Clone)]
pub(crate) struct Values<'a> {
    /// The lengths not yet taken, four bytes each.
    lengths: &'a [u8],
    /// Their texts, one after another.
    text: &'a str,
}

impl<'a> Iterator for Values<'a> {
    type Item = Option<&'a str>;

    fn next(&mut self) -> Option<Option<&'a str>> {
        next_text(&mut self.lengths, &mut self.text).map(|(_, text)| text)
    }
}

/// Reads a match written by `encode`; `None` if the bytes are not one.
pub(crate) fn decode(mut bytes: &[u8]) -> Option<Decoded<'_>> {
    let time = i64::from_le_bytes(take(&mut bytes, 8)?.try_into().ok()?);
    let rule = u32::from_le_bytes(take(&mut bytes, 4)?.try_into().ok()?);
    let file = u32::from_le_bytes(take(&mut bytes, 4)?.try_into().ok()?);
    let record = u64::from_le_bytes(take(&mut bytes, 8)?.try_into().ok()?);
    let count = u32::from_le_bytes(take(&mut bytes, 4)?.try_into().ok()?) as usize;
    if count < 2 {
        return None;
    }
    let lengths = take(&mut bytes, count.checked_mul(4)?)?;
    let text = std::str::from_utf8(bytes).ok()?;
    // Every length within the text and ending on a character, all of it taken.
    let (mut rest_lengths, mut rest_text) = (lengths, text);
    while !rest_lengths.is_empty() {
        let (len, value) = next_text(&mut rest_lengths, &mut rest_text)?;
        if value.is_none() && len != NONE {
            return None;
        }
    }
    if !rest_text.is_empty() {
        return None;
    }
    let mut values = Values { lengths, text };
    let host = values.next()?;
    let channel = values.next()?;
    Some(Decoded {
        time,
        rule,
        file,
        record,
        host,
        channel,
        values,
    })
}

/// Takes the next length and its text: `None` at the end of the lengths, a length with no
/// text for none or for one that does not fit (which `decode` refuses).
fn next_text<'a>(lengths: &mut &'a [u8], text: &mut &'a str) -> Option<(u32, Option<&'a str>)> {
    let len = u32::from_le_bytes(take(lengths, 4)?.try_into().ok()?);
    if len == NONE {
        return Some((len, None));
    }
    let Some(value) = text.get(..len as usize) else {
        return Some((len, None));
    };
    *text = &text[value.len()..];
    Some((len, Some(value)))
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if bytes.len() < n {
        return None;
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUES: [Option<&str>; 4] = [Some("10.0.0.5"), None, Some(""), Some("名前")];

    fn encoded() -> Vec<u8> {
        let mut out = Vec::new();
        encode(
            &mut out,
            -5,
            7,
            2,
            99,
            Some("DC01"),
            None,
            VALUES.into_iter(),
        );
        out
    }

    #[test]
    fn a_match_reads_back_as_written() {
        let out = encoded();
        let decoded = decode(&out).unwrap();
        assert_eq!(
            (decoded.time, decoded.rule, decoded.file, decoded.record),
            (-5, 7, 2, 99)
        );
        assert_eq!((decoded.host, decoded.channel), (Some("DC01"), None));
        assert_eq!(decoded.values.collect::<Vec<_>>(), VALUES);
    }

    #[test]
    fn damaged_matches_are_refused() {
        let out = encoded();
        // Cut short, or with a byte too many.
        assert!(decode(&out[..out.len() - 1]).is_none());
        assert!(decode(&[&out[..], b"x"].concat()).is_none());
        // The last text's length one less: it would end inside a character.
        let last_length = 8 + 4 + 4 + 8 + 4 + 4 * 5;
        let mut cut = out.clone();
        cut[last_length..last_length + 4].copy_from_slice(&5u32.to_le_bytes());
        assert!(decode(&cut).is_none());
        // A byte that is not UTF-8.
        let mut bad = out.clone();
        let at = bad.len() - 1;
        bad[at] = 0xff;
        assert!(decode(&bad).is_none());
        // Fewer texts than a host and a channel.
        let mut few = out;
        few[24..28].copy_from_slice(&1u32.to_le_bytes());
        assert!(decode(&few).is_none());
    }
}
