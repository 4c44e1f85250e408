//! An input's bytes, wherever they are: a plain file, a gzip stream (several members, as
//! logrotate and `cat a.gz b.gz` write them), or one member of a zip collection (KAPE,
//! Velociraptor). Everything is read as a stream, never unpacked to disk, and never
//! written anywhere: a member's name is only ever a label, never a path.
//!
//! Decompression is capped (`MAX_EXPANDED_BYTES`) against archive bombs: a member that
//! expands past the cap is read up to it, and the cut is reported.

use super::discover::{Container, InputFile};
use std::fs::File;
use std::io::{self, Read};

/// A compressed input is read up to this many bytes once expanded.
pub const MAX_EXPANDED_BYTES: u64 = 64 << 30;

/// What `with_reader` learned besides the callback's result.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadEnd {
    /// The expanded data went past `MAX_EXPANDED_BYTES` and was cut there.
    pub capped: bool,
}

/// Opens `file` and hands its (expanded) bytes to `read`.
pub fn with_reader<T>(
    file: &InputFile,
    read: impl FnOnce(&mut (dyn Read + Send)) -> T,
) -> Result<(T, ReadEnd), String> {
    let raw = File::open(&file.path).map_err(|e| format!("cannot open: {e}"))?;
    match &file.container {
        Container::Plain => {
            let mut raw = raw;
            Ok((read(&mut raw), ReadEnd::default()))
        }
        Container::Gzip => {
            let mut capped =
                Capped::new(flate2::read::MultiGzDecoder::new(raw), MAX_EXPANDED_BYTES);
            let result = read(&mut capped);
            Ok((result, capped.end()))
        }
        Container::Zip { index, .. } => {
            let mut archive =
                zip::ZipArchive::new(raw).map_err(|e| format!("cannot read the zip: {e}"))?;
            let member = archive
                .by_index(*index)
                .map_err(|e| format!("cannot read the zip member: {e}"))?;
            let mut capped = Capped::new(member, MAX_EXPANDED_BYTES);
            let result = read(&mut capped);
            Ok((result, capped.end()))
        }
    }
}

/// The first `limit` bytes of `reader` (fewer if it ends first).
pub fn head(reader: &mut dyn Read, limit: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(limit);
    reader.take(limit as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// A stream (stdin) made ready to read as lines: gzip is expanded, and its format is told
/// from its first bytes (JSON lines if it starts with `{`, else syslog: on a pipe, any text
/// is taken as lines). EVTX and zip cannot be read from a pipe (their parts are found by
/// seeking), and say so.
pub fn open_stream<'a>(
    mut input: Box<dyn io::BufRead + 'a>,
) -> Result<(super::discover::Format, Box<dyn io::BufRead + 'a>), String> {
    use super::discover::{Format, sniff_bytes};
    let head = input.fill_buf().map_err(|e| e.to_string())?;
    if head.starts_with(b"\x1f\x8b") {
        // No size cap: a pipe may run for ever, and nothing is held but the current line.
        let expanded = flate2::read::MultiGzDecoder::new(input);
        return open_stream(Box::new(io::BufReader::with_capacity(1 << 16, expanded)));
    }
    if head.starts_with(b"PK\x03\x04") {
        return Err("a zip archive cannot be read from a pipe: give its path".into());
    }
    match sniff_bytes(head) {
        Some(Format::Evtx) => Err("an EVTX file cannot be read from a pipe: give its path".into()),
        Some(Format::Json) => Ok((Format::Json, input)),
        _ => Ok((Format::Syslog, input)),
    }
}

/// Like `head`, but what was read before an error is kept (a compressed file cut short still
/// has a beginning); an error with nothing read is still an error.
pub fn head_lenient(reader: &mut dyn Read, limit: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(limit);
    match reader.take(limit as u64).read_to_end(&mut head) {
        Err(e) if head.is_empty() => Err(e),
        _ => Ok(head),
    }
}

/// A reader that stops after `cap` bytes and remembers whether there was more.
struct Capped<R> {
    inner: R,
    left: u64,
    hit: bool,
}

impl<R: Read> Capped<R> {
    fn new(inner: R, cap: u64) -> Capped<R> {
        Capped {
            inner,
            left: cap,
            hit: false,
        }
    }

    fn end(&self) -> ReadEnd {
        ReadEnd { capped: self.hit }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // Past the cap: one byte more says whether there was more to read.
            let mut probe = [0u8; 1];
            if !self.hit && self.inner.read(&mut probe)? > 0 {
                self.hit = true;
            }
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_cuts_and_says_so() {
        let data = vec![7u8; 10_000];
        let mut capped = Capped::new(&data[..], 4096);
        let mut out = Vec::new();
        capped.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 4096);
        assert!(capped.end().capped);
        let mut exact = Capped::new(&data[..], 10_000);
        exact.read_to_end(&mut out).unwrap();
        assert!(!exact.end().capped, "nothing was left out");
    }
}
