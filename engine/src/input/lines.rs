//! Text inputs (syslog, JSON lines) as blocks of whole lines, so workers can take blocks in
//! parallel while memory holds only a few of them.
//!
//! A block is about `BLOCK_BYTES` and always ends at a line end; each knows the number of
//! its first line, so a line's record id is its line number in the file whichever worker
//! reads it. A line longer than `MAX_LINE_BYTES` is cut there (the cut is counted) and the
//! rest of it skipped, so one endless line cannot exhaust memory.

use std::io::{self, Read};

/// Blocks hold about this many bytes.
pub const BLOCK_BYTES: usize = 1 << 20;

/// A longer line is cut to this many bytes.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Whole lines, the first one numbered `first_line` (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub first_line: u64,
    pub bytes: Vec<u8>,
    /// Lines of this block that were cut at `MAX_LINE_BYTES`.
    pub cut_lines: u64,
}

impl Block {
    /// Each line with its number, line ends (`\n`, `\r\n`) removed.
    pub fn lines(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let mut bytes = self.bytes.as_slice();
        if bytes.last() == Some(&b'\n') {
            bytes = &bytes[..bytes.len() - 1];
        }
        let empty = self.bytes.is_empty();
        bytes
            .split(|&b| b == b'\n')
            .filter(move |_| !empty)
            .enumerate()
            .map(|(i, line)| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                (self.first_line + i as u64, line)
            })
    }
}

/// Splits a reader into `Block`s.
pub struct Blocks<R> {
    reader: R,
    /// Bytes read but not yet handed out (the start of an unfinished line).
    carry: Vec<u8>,
    next_line: u64,
    /// Skipping the rest of a line that was cut.
    skipping: bool,
    done: bool,
}

impl<R: Read> Blocks<R> {
    pub fn new(reader: R) -> Blocks<R> {
        Blocks {
            reader,
            carry: Vec::new(),
            next_line: 1,
            skipping: false,
            done: false,
        }
    }

    fn fill(&mut self) -> io::Result<usize> {
        let start = self.carry.len();
        self.carry.resize(start + BLOCK_BYTES, 0);
        let n = loop {
            match self.reader.read(&mut self.carry[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.carry.truncate(start);
                    return Err(e);
                }
            }
        };
        self.carry.truncate(start + n);
        Ok(n)
    }

    fn emit(&mut self, bytes: Vec<u8>, cut_lines: u64) -> Block {
        let lines = memchr::memchr_iter(b'\n', &bytes).count() as u64
            + u64::from(!bytes.is_empty() && bytes.last() != Some(&b'\n'));
        let block = Block {
            first_line: self.next_line,
            bytes,
            cut_lines,
        };
        self.next_line += lines;
        block
    }
}

impl<R: Read> Iterator for Blocks<R> {
    type Item = io::Result<Block>;

    fn next(&mut self) -> Option<io::Result<Block>> {
        if self.done {
            return None;
        }
        loop {
            let read = match self.fill() {
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            if self.skipping {
                // Drop the rest of a cut line, up to its end.
                match memchr::memchr(b'\n', &self.carry) {
                    Some(end) => {
                        self.carry.drain(..=end);
                        self.skipping = false;
                    }
                    None => {
                        self.carry.clear();
                        if read == 0 {
                            self.done = true;
                            return None;
                        }
                        continue;
                    }
                }
            }
            if read == 0 {
                self.done = true;
                if self.carry.is_empty() {
                    return None;
                }
                let rest = std::mem::take(&mut self.carry);
                return Some(Ok(self.emit(rest, 0)));
            }
            if self.carry.len() >= BLOCK_BYTES {
                if let Some(end) = memchr::memrchr(b'\n', &self.carry) {
                    let rest = self.carry.split_off(end + 1);
                    let block = std::mem::replace(&mut self.carry, rest);
                    return Some(Ok(self.emit(block, 0)));
                }
                if self.carry.len() >= MAX_LINE_BYTES {
                    // One line fills the block: keep its start, skip the rest.
                    let mut line = std::mem::take(&mut self.carry);
                    line.truncate(MAX_LINE_BYTES);
                    line.push(b'\n');
                    self.skipping = true;
                    return Some(Ok(self.emit(line, 1)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_lines(text: &[u8]) -> Vec<(u64, Vec<u8>)> {
        Blocks::new(text)
            .flat_map(|b| {
                let b = b.unwrap();
                b.lines().map(|(n, l)| (n, l.to_vec())).collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn lines_keep_their_numbers_across_blocks() {
        let mut text = Vec::new();
        for i in 1..=200_000 {
            text.extend_from_slice(format!("line {i}\r\n").as_bytes());
        }
        text.extend_from_slice(b"no newline at the end");
        let lines = all_lines(&text);
        assert_eq!(lines.len(), 200_001);
        assert!(Blocks::new(&text[..]).count() > 2);
        for (n, line) in &lines[..200_000] {
            assert_eq!(line, format!("line {n}").as_bytes());
        }
        assert_eq!(lines[200_000], (200_001, b"no newline at the end".to_vec()));
    }

    #[test]
    fn empty_lines_count_and_an_empty_input_has_none() {
        assert_eq!(
            all_lines(b"a\n\nb\n"),
            [(1, b"a".to_vec()), (2, vec![]), (3, b"b".to_vec())]
        );
        assert!(all_lines(b"").is_empty());
    }

    #[test]
    fn an_endless_line_is_cut_and_the_next_line_keeps_its_number() {
        let mut text = vec![b'x'; MAX_LINE_BYTES + 3 * BLOCK_BYTES + 17];
        text.extend_from_slice(b"\nnext\n");
        let blocks: Vec<Block> = Blocks::new(&text[..]).map(Result::unwrap).collect();
        assert_eq!(blocks.iter().map(|b| b.cut_lines).sum::<u64>(), 1);
        let lines: Vec<(u64, usize)> = blocks
            .iter()
            .flat_map(|b| b.lines().map(|(n, l)| (n, l.len())).collect::<Vec<_>>())
            .collect();
        assert_eq!(lines, [(1, MAX_LINE_BYTES), (2, 4)]);
    }
}
