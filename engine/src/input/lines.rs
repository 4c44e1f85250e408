//! Text inputs (syslog, JSON lines) as blocks of whole lines, so workers can take blocks in
//! parallel while memory holds only a few of them.
//!
//! A block is about `BLOCK_BYTES` and always ends at a line end; each knows the number of
//! its first line, so a line's record id is its line number in the file whichever worker
//! reads it. A line longer than `MAX_LINE_BYTES` is cut there (the cut is counted) and the
//! rest of it skipped, so one endless line cannot exhaust memory.

use std::io::{self, Read};

/// Blocks hold about this many bytes: 64 KiB, an EVTX chunk's size, is a hundred lines or
/// more for a worker's turn, and small enough that the allocator reuses freed blocks' memory.
/// With 1 MiB blocks each was a fresh mapping, faulted in page by page once the allocator
/// maps everything over 128 KiB (see the CLI's `allocator`): the parse-only hunt of the
/// bench ran at 750,000 lines/s instead of 810,000.
pub const BLOCK_BYTES: usize = 1 << 16;

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

/// The UTF-8 byte order mark some Windows tools write at the start of a text file.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// Splits a reader into `Block`s. A byte order mark at the start is dropped. When the
/// reader fails (a gzip file cut short, a zip member whose checksum is wrong), the lines
/// read before the failure come out first, then the error, which says after which line.
pub struct Blocks<R> {
    reader: R,
    /// Bytes read but not yet handed out: the start of an unfinished line, which has no
    /// line end (so a newly read part is the only one to search).
    carry: Vec<u8>,
    next_line: u64,
    /// Skipping the rest of a line that was cut.
    skipping: bool,
    started: bool,
    /// An error to report once the lines read before it are out.
    failed: Option<io::Error>,
    done: bool,
}

impl<R: Read> Blocks<R> {
    pub fn new(reader: R) -> Blocks<R> {
        Blocks {
            reader,
            carry: Vec::new(),
            next_line: 1,
            skipping: false,
            started: false,
            failed: None,
            done: false,
        }
    }

    /// Reads up to a block's worth onto `carry`; whether the input is over (its end, or an
    /// error kept in `failed`).
    fn fill(&mut self) -> bool {
        let before = self.carry.len();
        // Room for the whole read at once: growing by doubling would copy the carry again
        // and again.
        self.carry.reserve(BLOCK_BYTES);
        let result = (&mut self.reader)
            .take(BLOCK_BYTES as u64)
            .read_to_end(&mut self.carry);
        if !self.started {
            self.started = true;
            if self.carry.starts_with(BOM) {
                self.carry.drain(..BOM.len());
            }
        }
        match result {
            Ok(n) => n == 0 && self.carry.len() == before,
            Err(e) => {
                let after =
                    self.next_line - 1 + memchr::memchr_iter(b'\n', &self.carry).count() as u64;
                self.failed = Some(io::Error::new(
                    e.kind(),
                    format!("stopped reading after line {after}: {e}"),
                ));
                true
            }
        }
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
        loop {
            if self.done {
                return self.failed.take().map(Err);
            }
            let searched = self.carry.len();
            let over = self.fill();
            if self.skipping {
                // Drop the rest of a cut line, up to its end.
                match memchr::memchr(b'\n', &self.carry) {
                    Some(end) => {
                        self.carry.drain(..=end);
                        self.skipping = false;
                    }
                    None => self.carry.clear(),
                }
                if over {
                    self.done = true;
                }
                if self.skipping || self.carry.is_empty() {
                    continue;
                }
            } else if over {
                self.done = true;
                if self.carry.is_empty() {
                    continue;
                }
                let rest = std::mem::take(&mut self.carry);
                return Some(Ok(self.emit(rest, 0)));
            }
            // Lines end only in what was just read (or anywhere, after a skip).
            let from = if self.carry.len() < searched {
                0
            } else {
                searched
            };
            if let Some(end) = memchr::memrchr(b'\n', &self.carry[from..]) {
                let rest = self.carry.split_off(from + end + 1);
                let block = std::mem::replace(&mut self.carry, rest);
                return Some(Ok(self.emit(block, 0)));
            }
            if self.done {
                // The input ended inside a line that followed a cut one.
                let rest = std::mem::take(&mut self.carry);
                return Some(Ok(self.emit(rest, 0)));
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

/// Reads one line of a stream into `line`, without its line end (`\n`, `\r\n`); `None` at
/// the end of the input, else whether the line was cut at `MAX_LINE_BYTES` (the rest of it
/// is skipped). For pipes, where a line must be handed on as soon as it is complete.
pub fn read_line(input: &mut dyn io::BufRead, line: &mut Vec<u8>) -> io::Result<Option<bool>> {
    line.clear();
    let (mut cut, mut any) = (false, false);
    loop {
        let available = match input.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        any = true;
        let (content, taken, ended) = match memchr::memchr(b'\n', available) {
            Some(end) => (end, end + 1, true),
            None => (available.len(), available.len(), false),
        };
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        cut |= content > room;
        line.extend_from_slice(&available[..content.min(room)]);
        input.consume(taken);
        if ended {
            break;
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(any.then_some(cut))
}

/// Drops a byte order mark at the start of a stream.
pub fn skip_bom(input: &mut dyn io::BufRead) -> io::Result<()> {
    if input.fill_buf()?.starts_with(BOM) {
        input.consume(BOM.len());
    }
    Ok(())
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

    /// Gives `good` bytes, then fails.
    struct FailsAfter<'a> {
        good: &'a [u8],
    }

    impl Read for FailsAfter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.good.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "corrupt deflate stream",
                ));
            }
            let n = buf.len().min(self.good.len()).min(1000);
            buf[..n].copy_from_slice(&self.good[..n]);
            self.good = &self.good[n..];
            Ok(n)
        }
    }

    #[test]
    fn lines_read_before_an_error_come_out_then_the_error() {
        let text: String = (1..=5000).map(|i| format!("line {i}\n")).collect();
        let good = format!("{text}half a li");
        let mut blocks = Blocks::new(FailsAfter {
            good: good.as_bytes(),
        });
        let block = blocks.next().unwrap().unwrap();
        let lines: Vec<_> = block.lines().collect();
        assert_eq!(lines.len(), 5001);
        assert_eq!(lines[4999], (5000, &b"line 5000"[..]));
        assert_eq!(lines[5000], (5001, &b"half a li"[..]));
        let error = blocks.next().unwrap().unwrap_err().to_string();
        assert!(error.contains("after line 5000"), "{error}");
        assert!(error.contains("corrupt deflate stream"), "{error}");
        assert!(blocks.next().is_none());
    }

    #[test]
    fn a_byte_order_mark_at_the_start_is_dropped() {
        assert_eq!(
            all_lines(b"\xef\xbb\xbf{\"a\":1}\n\xef\xbb\xbfkept\n"),
            [
                (1, b"{\"a\":1}".to_vec()),
                (2, b"\xef\xbb\xbfkept".to_vec())
            ]
        );
        let mut stream = &b"\xef\xbb\xbfline\r\n"[..];
        skip_bom(&mut stream).unwrap();
        let mut line = Vec::new();
        assert_eq!(read_line(&mut stream, &mut line).unwrap(), Some(false));
        assert_eq!(line, b"line");
        assert_eq!(read_line(&mut stream, &mut line).unwrap(), None);
    }

    #[test]
    fn a_stream_line_of_exactly_the_limit_is_not_cut() {
        let mut text = vec![b'x'; MAX_LINE_BYTES];
        text.extend_from_slice(b"\n");
        text.extend(vec![b'y'; MAX_LINE_BYTES + 1]);
        text.extend_from_slice(b"\nz");
        let mut stream = io::BufReader::new(&text[..]);
        let mut line = Vec::new();
        assert_eq!(read_line(&mut stream, &mut line).unwrap(), Some(false));
        assert_eq!(line.len(), MAX_LINE_BYTES);
        assert_eq!(read_line(&mut stream, &mut line).unwrap(), Some(true));
        assert_eq!(line.len(), MAX_LINE_BYTES);
        assert_eq!(read_line(&mut stream, &mut line).unwrap(), Some(false));
        assert_eq!(line, b"z");
        assert_eq!(read_line(&mut stream, &mut line).unwrap(), None);
    }
}
