//! EVTX files: chunks in, flattened events out.
//!
//! A file is read one 64 KiB chunk at a time, and the caller processes chunks in parallel
//! (each chunk is self-contained: its own string and template tables), so one big log
//! keeps every core busy and memory stays at a few chunks per thread whatever the file's
//! size. We drive the chunks ourselves rather than use evtx's multithreaded record
//! iterator, whose consumer blocks on a channel and deadlocks when nested in rayon.
//!
//! A record becomes an event straight from its BinXML (`evtx_binxml`: the chunk's template
//! and the record's values), walked by us rather than by evtx's iterator, which is asked
//! only for the few records the direct reading declines; those go through evtx's XML
//! (`evtx_xml`). Both readings make the same event of a record.
//!
//! Damage is reported, never fatal: a chunk that does not parse is counted with the number
//! of records its header claims, a record that does not render is counted as failed, and
//! the rest of the file is still read. evtx silently drops a partial last chunk; we notice
//! from the file size and say so.

use super::evtx_binxml::{self, PlanStore, u32_at, u64_at};
use super::evtx_xml::{self, Flattened, XmlError};
use crate::event::{Event, Handled};
use crate::field::{FieldTable, Wanted};
use evtx::{EvtxChunk, EvtxChunkData, EvtxParser, ParserSettings};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

pub const FILE_HEADER_SIZE: u64 = 4096;
pub const CHUNK_SIZE: u64 = 65536;

/// An EVTX file open for reading.
pub struct EvtxReader {
    parser: EvtxParser<File>,
    settings: Arc<ParserSettings>,
    /// Problems with the file as a whole that do not stop reading it.
    pub notes: Vec<String>,
}

/// A chunk as read from the file, or why it could not be.
pub enum ChunkSource {
    Data(Box<EvtxChunkData>),
    Unreadable(String),
}

/// What reading one chunk produced besides events.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChunkStats {
    /// Records flattened and handed to the caller.
    pub records: u64,
    /// Records skipped before their payload was read (no rule reads their channel).
    pub skipped: u64,
    /// Records that could not be read.
    pub failed: u64,
    /// Records read through evtx's XML, being outside what `evtx_binxml` models.
    pub via_xml: u64,
    /// Text lines cut at `lines::MAX_LINE_BYTES` (the start was read as the record).
    pub cut_lines: u64,
    /// Chunks that could not be read at all.
    pub failed_chunks: u64,
    /// The first few errors, with where they happened.
    pub errors: Vec<String>,
}

/// How many error messages a chunk keeps (all are counted).
const MAX_ERRORS_KEPT: usize = 5;

impl ChunkStats {
    /// Keeps an error message, made only if it is among the first few.
    pub(crate) fn error(&mut self, message: impl FnOnce() -> String) {
        if self.errors.len() < MAX_ERRORS_KEPT {
            self.errors.push(message());
        }
    }

    pub fn add(&mut self, other: &ChunkStats) {
        self.records += other.records;
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.via_xml += other.via_xml;
        self.cut_lines += other.cut_lines;
        self.failed_chunks += other.failed_chunks;
        for e in &other.errors {
            if self.errors.len() < MAX_ERRORS_KEPT {
                self.errors.push(e.clone());
            }
        }
    }
}

impl EvtxReader {
    /// Opens `path` read-only and checks its file header.
    pub fn open(path: &Path) -> Result<EvtxReader, String> {
        let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let len = file
            .metadata()
            .map_err(|e| format!("cannot read metadata: {e}"))?
            .len();
        let mut notes = Vec::new();
        if len < FILE_HEADER_SIZE {
            return Err(format!(
                "truncated: {len} bytes, shorter than the 4096-byte EVTX file header"
            ));
        }
        let partial = (len - FILE_HEADER_SIZE) % CHUNK_SIZE;
        if partial != 0 {
            notes.push(format!(
                "the file ends with a partial chunk ({partial} of {CHUNK_SIZE} bytes); its records cannot be read"
            ));
        }
        let parser = EvtxParser::from_read_seek(file).map_err(|e| describe(&e))?;
        if !parser.header().validate_checksum() {
            notes.push("the file header checksum does not match (records are still read)".into());
        }
        let settings = settings();
        Ok(EvtxReader {
            parser,
            settings,
            notes,
        })
    }

    /// The file's chunks in record order (a wrapped log starts at its oldest chunk), each
    /// with its number in that order. Chunks are read one at a time as the iterator is
    /// pulled, so memory holds only the chunks being worked on.
    pub fn chunks(&mut self) -> impl Iterator<Item = (u64, ChunkSource)> + Send + '_ {
        self.parser.chunks().enumerate().map(|(number, chunk)| {
            let source = match chunk {
                Ok(data) => ChunkSource::Data(Box::new(data)),

                Err(e) => ChunkSource::Unreadable(describe(&e)),
            };
            (number as u64, source)
        })
    }

    /// The channel of the file's first record.
    pub fn first_channel(&mut self, table: &FieldTable) -> Option<String> {
        let settings = self.settings.clone();
        let mut data = self.parser.chunks().next()?.ok()?;
        let mut chunk = data.parse(settings).ok()?;
        let record = chunk.iter().next()?.ok()?;
        let xml = record.into_xml().ok()?.data;
        let mut event = Event::new();
        evtx_xml::flatten(&xml, table, &mut event, |_| false).ok()?;
        event.channel().map(str::to_string)
    }
}

/// What EVTX chunks read with it share: evtx's parser settings, and the plans of their
/// templates (see `evtx_binxml::PlanStore`). A hunt gives one to all its files: the logs of
/// a collection (and copies of one) define the same templates over and over, and planning
/// each once made the bench's 1 GB collection 25% faster (3.5 to 2.7 s on one thread).
pub struct ChunkContext {
    settings: Arc<ParserSettings>,
    plans: PlanStore,
}

impl Default for ChunkContext {
    fn default() -> Self {
        ChunkContext {
            settings: settings(),
            plans: PlanStore::default(),
        }
    }
}

impl ChunkContext {
    /// How many template plans it holds.
    pub fn planned(&self) -> usize {
        self.plans.len()
    }
}

/// The parser settings every chunk is read with.
pub fn settings() -> Arc<ParserSettings> {
    Arc::new(ParserSettings::new().indent(false))
}

/// The chunks of an EVTX file read as a stream (a zip member, a gzip file), in file order:
/// no seeking, so no wrap-around reordering, which only changes the order records are
/// read in, never the output (alerts are ordered by time). `notes` receives what is wrong
/// with the file as a whole.
pub fn stream_chunks<'r>(
    reader: &'r mut (dyn std::io::Read + Send),
    notes: &'r mut Vec<String>,
) -> impl Iterator<Item = (u64, ChunkSource)> + Send + 'r {
    let mut header = vec![0u8; FILE_HEADER_SIZE as usize];
    let header_ok = match read_full(reader, &mut header) {
        Ok(n) if n == header.len() && header.starts_with(b"ElfFile\0") => true,
        Ok(n) => {
            notes.push(format!(
                "truncated: {n} bytes, shorter than the 4096-byte EVTX file header"
            ));
            false
        }
        Err(e) => {
            notes.push(format!("cannot read: {e}"));
            false
        }
    };
    let mut number = 0u64;
    std::iter::from_fn(move || {
        if !header_ok {
            return None;
        }
        loop {
            let mut data = vec![0u8; CHUNK_SIZE as usize];
            let read = match read_full(reader, &mut data) {
                Ok(read) => read,
                Err(e) => {
                    notes.push(format!("cannot read past chunk {number}: {e}"));
                    return None;
                }
            };
            if read == 0 {
                return None;
            }
            if read < data.len() {
                notes.push(format!(
                    "the file ends with a partial chunk ({read} of {CHUNK_SIZE} bytes); its records cannot be read"
                ));
                return None;
            }
            let this = number;
            number += 1;
            // Unused chunks of a log that never filled are zeros.
            if data.iter().all(|&b| b == 0) {
                continue;
            }
            let source = match EvtxChunkData::new(data, false) {
                Ok(chunk) => ChunkSource::Data(Box::new(chunk)),
                Err(e) => ChunkSource::Unreadable(describe(&e)),
            };
            return Some((this, source));
        }
    })
}

/// Reads until `buf` is full or the input ends; the number of bytes read.
fn read_full(reader: &mut dyn std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// How records are turned into events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// From the BinXML where `evtx_binxml` models the record, through XML otherwise.
    Direct,
    /// Always through the XML evtx renders (to check `Direct` against).
    Xml,
}

/// Which of a record's fields to read: `header` of its `<System>` part; then `keep`, asked
/// after that part, says whether the rest is worth reading and which of its fields. `keep`
/// may be asked twice about a record (when the direct reading declines it after its
/// header, or `on_event` wants a partial event whole), so it must answer from the event
/// alone.
pub struct Wants<'w, K> {
    pub header: Wanted<'w>,
    pub keep: K,
}

impl<'w, K: FnMut(&Event) -> Option<Wanted<'w>>> Wants<'w, K> {
    /// Every field of the records `keep` keeps.
    pub fn whole(keep: K) -> Self {
        Wants {
            header: Wanted::EVERYTHING,
            keep,
        }
    }
}

/// Reads one chunk: for each record, fills `event` with the fields `wants` says and calls
/// `on_event`, which may ask for a partial event whole.
pub fn read_chunk<'w>(
    index: u64,
    source: ChunkSource,
    context: &ChunkContext,
    table: &FieldTable,
    event: &mut Event,
    wants: Wants<'w, impl FnMut(&Event) -> Option<Wanted<'w>>>,
    on_event: impl FnMut(&mut Event) -> Handled,
) -> ChunkStats {
    read_chunk_with(
        Reading::Direct,
        index,
        source,
        context,
        table,
        event,
        wants,
        on_event,
    )
}

/// `read_chunk`, reading records as `reading` says.
#[allow(clippy::too_many_arguments)]
pub fn read_chunk_with<'w>(
    reading: Reading,
    index: u64,
    source: ChunkSource,
    context: &ChunkContext,
    table: &FieldTable,
    event: &mut Event,
    wants: Wants<'w, impl FnMut(&Event) -> Option<Wanted<'w>>>,
    mut on_event: impl FnMut(&mut Event) -> Handled,
) -> ChunkStats {
    let Wants {
        header: header_wanted,
        mut keep,
    } = wants;
    let mut stats = ChunkStats::default();
    let mut data = match source {
        ChunkSource::Data(data) => data,
        ChunkSource::Unreadable(message) => {
            stats.failed_chunks += 1;
            stats.error(|| format!("chunk {index}: {message}"));
            return stats;
        }
    };
    let claimed = claimed_records(&data);
    // Hands a read record to `on_event`; `true` if it wants the (partial) record read
    // again whole, which is then counted when that reading is handed over.
    let mut finish = |flattened: Result<Flattened, XmlError>,
                      header_time: jiff::Timestamp,
                      event: &mut Event,
                      stats: &mut ChunkStats| match flattened {
        Ok(Flattened::Complete) => {
            event.time = event
                .header_value(crate::field::well_known::TIME_CREATED)
                .and_then(parse_system_time)
                .or(Some(header_time));
            if on_event(event) == Handled::NeedsWhole && event.is_partial() {
                return true;
            }
            stats.records += 1;
            false
        }
        Ok(Flattened::Skipped) => {
            stats.skipped += 1;
            false
        }
        Err(e) => {
            stats.failed += 1;
            let record_id = event.record_id;
            stats.error(|| format!("record {record_id}: {e}"));
            false
        }
    };
    // The direct reading walks the records itself, which saves evtx's per-record work, and
    // needs nothing evtx makes of a chunk: evtx parses the chunk (its string table) only
    // when a record the direct reading declines needs it. A chunk whose walk finds anything
    // amiss is read by evtx's iterator alone, which reports and resyncs.
    let mut walk = Vec::new();
    if reading == Reading::Direct && walk_records(&data.data, &data.header, &mut walk) {
        let (bytes, header) = (&data.data, &data.header);
        let mut plans = evtx_binxml::Plans::new(&context.plans);
        // The chunk as evtx parses it, made the first time a record needs it, and its
        // iterator, which yields one item per record of a clean walk, in order.
        let mut parsed = None;
        let mut lender = Some(&mut parsed);
        let mut records = None;
        let mut consumed = 0;
        for (n, raw) in walk.iter().enumerate() {
            let mut whole = false;
            let read_directly = loop {
                event.clear();
                event.record_id = raw.record_id;
                let direct = evtx_binxml::flatten(
                    bytes,
                    raw.binxml_offset,
                    raw.binxml_size,
                    &mut plans,
                    table,
                    event,
                    if whole {
                        Wanted::EVERYTHING
                    } else {
                        header_wanted
                    },
                    |event| {
                        keep(event).map(|wanted| if whole { Wanted::EVERYTHING } else { wanted })
                    },
                );
                let Some(flattened) = direct else { break false };
                if finish(Ok(flattened), raw.timestamp, event, &mut stats) && !whole {
                    whole = true;
                    continue;
                }
                break true;
            };
            if read_directly {
                continue;
            }
            // Made once: `lender` holds the only way to the chunk's slot.
            let records = records.get_or_insert_with(|| match lender.take() {
                Some(slot) => slot
                    .insert(EvtxChunk::new(bytes, header, context.settings.clone()))
                    .as_mut()
                    .map(|chunk| chunk.iter())
                    .map_err(|e| describe(e)),
                None => Err("evtx cannot read the chunk twice".to_string()),
            });
            let records = match records {
                Ok(records) => records,
                Err(message) => {
                    stats.failed += 1;
                    stats.error(|| format!("chunk {index}: {message}"));
                    continue;
                }
            };
            let record = records.nth(n - consumed);
            consumed = n + 1;
            let record = match record {
                Some(Ok(record)) if record.binxml_offset == raw.binxml_offset => record,
                Some(Ok(_)) | None => {
                    stats.failed += 1;
                    stats.error(|| {
                        format!("chunk {index}: evtx does not find record {}", raw.record_id)
                    });
                    continue;
                }
                Some(Err(e)) => {
                    stats.failed += 1;
                    stats.error(|| format!("chunk {index}: {}", describe(&e)));
                    continue;
                }
            };
            let flattened = through_xml(record, table, event, &mut keep, &mut stats);
            if let Some(flattened) = flattened {
                finish(flattened, raw.timestamp, event, &mut stats);
            }
        }
        return stats;
    }
    let mut chunk = match data.parse(context.settings.clone()) {
        Ok(chunk) => chunk,
        Err(e) => {
            stats.failed_chunks += 1;
            stats.failed += claimed;
            stats.error(|| format!("chunk {index}: {}", describe(&e)));
            return stats;
        }
    };
    for record in chunk.iter() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                stats.failed += 1;
                stats.error(|| format!("chunk {index}: {}", describe(&e)));
                continue;
            }
        };
        let header_time = record.timestamp;
        if let Some(flattened) = through_xml(record, table, event, &mut keep, &mut stats) {
            finish(flattened, header_time, event, &mut stats);
        }
    }
    stats
}

/// Flattens a record from the XML evtx renders of it; `None` (counted as failed) if it
/// cannot be rendered.
fn through_xml<'w>(
    record: evtx::EvtxRecord<'_>,
    table: &FieldTable,
    event: &mut Event,
    mut keep: impl FnMut(&Event) -> Option<Wanted<'w>>,
    stats: &mut ChunkStats,
) -> Option<Result<Flattened, XmlError>> {
    let record_id = record.event_record_id;
    event.clear();
    event.record_id = record_id;
    stats.via_xml += 1;
    match record.into_xml() {
        // Always whole: the XML is rendered in full anyway.
        Ok(xml) => Some(evtx_xml::flatten(&xml.data, table, event, |event| {
            keep(event).is_some()
        })),
        Err(e) => {
            stats.failed += 1;
            stats.error(|| format!("record {record_id}: {}", describe(&e)));
            None
        }
    }
}

/// A record's place in its chunk, from its header.
struct RawRecord {
    record_id: u64,
    timestamp: jiff::Timestamp,
    binxml_offset: u64,
    binxml_size: u32,
}

const CHUNK_HEADER_SIZE: usize = 512;
const RECORD_HEADER_SIZE: usize = 24;

/// Walks a chunk's records as evtx's iterator does (from the chunk header to the free space
/// or the chunk's last record), into `out`. `false` at the first thing amiss (a bad magic
/// or size, a time out of range), where evtx's iterator reports and resyncs.
fn walk_records(data: &[u8], header: &evtx::EvtxChunkHeader, out: &mut Vec<RawRecord>) -> bool {
    const MAGIC: &[u8] = b"\x2a\x2a\x00\x00";
    let live_end = (header.free_space_offset as usize).min(data.len());
    let mut at = CHUNK_HEADER_SIZE;
    while at < live_end {
        // Magic, size, record id, FILETIME.
        let (Some(size), Some(record_id), Some(filetime)) = (
            u32_at(data, at + 4),
            u64_at(data, at + 8),
            u64_at(data, at + 16),
        ) else {
            return false;
        };
        let size = size as usize;
        let binxml_offset = at + RECORD_HEADER_SIZE;
        // The header, the BinXML, and a copy of the size.
        let Some(binxml_size) = size.checked_sub(RECORD_HEADER_SIZE + 4) else {
            return false;
        };
        if &data[at..at + 4] != MAGIC || binxml_offset + binxml_size > data.len() {
            return false;
        }
        let Some(timestamp) = filetime_timestamp(filetime) else {
            return false;
        };
        out.push(RawRecord {
            record_id,
            timestamp,
            binxml_offset: binxml_offset as u64,
            binxml_size: binxml_size as u32,
        });
        if record_id == header.last_event_record_id {
            break;
        }
        at += size;
    }
    true
}

/// A FILETIME (100 ns ticks since 1601) as a timestamp, if jiff can hold it.
fn filetime_timestamp(filetime: u64) -> Option<jiff::Timestamp> {
    const TICKS_PER_SECOND: u64 = 10_000_000;
    const UNIX_EPOCH_IN_WINDOWS_SECONDS: i64 = 11_644_473_600;
    let seconds = (filetime / TICKS_PER_SECOND) as i64 - UNIX_EPOCH_IN_WINDOWS_SECONDS;
    let nanoseconds = ((filetime % TICKS_PER_SECOND) * 100) as i32;
    jiff::Timestamp::new(seconds, nanoseconds).ok()
}

/// How many records a chunk's header says it holds (0 if the header makes no sense).
fn claimed_records(data: &EvtxChunkData) -> u64 {
    let h = &data.header;
    if h.last_event_record_number >= h.first_event_record_number {
        (h.last_event_record_number - h.first_event_record_number + 1).min(CHUNK_SIZE / 24)
    } else {
        0
    }
}

/// An error and its causes, on one line.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `2021-11-23T09:26:30.0591547Z`, the form evtx renders SystemTime in, parsed without
/// the general RFC 3339 machinery; anything else goes to jiff.
pub fn parse_system_time(text: &str) -> Option<jiff::Timestamp> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let mut n = 0i64;
        for &c in b.get(range)? {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + i64::from(c - b'0');
        }
        Some(n)
    };
    let fast = (|| {
        if b.len() != 28
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[19] != b'.'
            || b[27] != b'Z'
        {
            return None;
        }
        let date = jiff::civil::Date::new(
            digits(0..4)? as i16,
            digits(5..7)? as i8,
            digits(8..10)? as i8,
        )
        .ok()?;
        let time = jiff::civil::Time::new(
            digits(11..13)? as i8,
            digits(14..16)? as i8,
            digits(17..19)? as i8,
            (digits(20..27)? * 100) as i32,
        )
        .ok()?;
        date.to_datetime(time)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
    })();
    fast.or_else(|| text.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record of an EVTX file given as bytes, read as `reading` says: what the hunt
    /// sees of each (id, time, fields, header fields), and the stats.
    #[allow(clippy::type_complexity)]
    fn read_all(
        bytes: &[u8],
        reading: Reading,
        table: &FieldTable,
        context: &ChunkContext,
    ) -> (
        Vec<(
            u64,
            Option<jiff::Timestamp>,
            Vec<(String, String)>,
            Vec<Option<String>>,
        )>,
        ChunkStats,
    ) {
        let mut input = std::io::Cursor::new(bytes);
        let mut notes = Vec::new();
        let mut event = Event::new();
        let (mut records, mut stats) = (Vec::new(), ChunkStats::default());
        let chunks: Vec<_> = stream_chunks(&mut input, &mut notes).collect();
        for (index, source) in chunks {
            let chunk_stats = read_chunk_with(
                reading,
                index,
                source,
                context,
                table,
                &mut event,
                Wants::whole(|e: &Event| {
                    (!e.record_id.is_multiple_of(7)).then_some(Wanted::EVERYTHING)
                }),
                |e| {
                    let header = (0..crate::field::well_known::NAMES.len() as u32)
                        .map(|id| e.header_value(id).map(str::to_string))
                        .collect();
                    records.push((e.record_id, e.time, e.to_pairs(), header));
                    Handled::Done
                },
            );
            stats.add(&chunk_stats);
        }
        assert!(notes.is_empty(), "{notes:?}");
        (records, stats)
    }

    /// A written log of `count` logons.
    fn logons(count: usize) -> Vec<u8> {
        use tansa_fixtures::event::EventSpec;
        let events: Vec<EventSpec> = (0..count)
            .map(|i| {
                EventSpec::new("Security", 4624)
                    .data("TargetUserName", &format!("user{i}"))
                    .data("IpAddress", "10.0.0.9")
                    .data("LogonType", "3")
            })
            .collect();
        tansa_fixtures::write_evtx(&events).unwrap()
    }

    /// The offset of record `n` (from 0) of chunk `k`.
    fn record_at(bytes: &[u8], k: usize, n: usize) -> usize {
        let mut at = 4096 + k * 65536 + 512;
        for _ in 0..n {
            at += u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        }
        at
    }

    /// Makes record `n` of chunk `k` one the direct reading leaves to evtx: its first value
    /// becomes an array of strings. Past the record header: fragment header, instance
    /// token, an unknown byte, template id, definition offset, value count, then the
    /// descriptors (size, type, 0).
    fn make_declined(bytes: &mut [u8], k: usize, n: usize) {
        let descriptor = record_at(bytes, k, n) + 24 + 4 + 1 + 1 + 4 + 4 + 4;
        assert_eq!(bytes[descriptor + 2], 0x01, "a string value");
        bytes[descriptor + 2] = 0x81;
    }

    #[test]
    fn records_the_direct_reading_declines_or_cannot_walk_are_read_by_evtx() {
        let mut bytes = logons(400);
        assert!(bytes.len() >= 4096 + 2 * 65536, "two chunks at least");
        make_declined(&mut bytes, 0, 3);
        // Chunk 1, record 5: a bad magic, past which only evtx's iterator resyncs.
        let broken = record_at(&bytes, 1, 5);
        bytes[broken..broken + 4].copy_from_slice(b"BAD!");
        let table = FieldTable::new();
        let (direct, direct_stats) =
            read_all(&bytes, Reading::Direct, &table, &ChunkContext::default());
        let (xml, xml_stats) = read_all(&bytes, Reading::Xml, &table, &ChunkContext::default());
        assert_eq!(direct, xml);
        assert_eq!(
            (
                direct_stats.records,
                direct_stats.skipped,
                direct_stats.failed
            ),
            (xml_stats.records, xml_stats.skipped, xml_stats.failed)
        );
        assert_eq!(direct_stats.failed, 1, "the broken record");
        assert_eq!(
            direct_stats.records + direct_stats.skipped + direct_stats.failed,
            400
        );
        // Chunk 0's declined record, and chunk 1 (walked by evtx) as a whole.
        assert!(
            direct_stats.via_xml > 50 && direct_stats.via_xml < 300,
            "{direct_stats:?}"
        );
        assert!(
            direct.iter().any(|r| r.0 == 4),
            "the declined record was read"
        );
    }

    /// evtx parses a chunk only for the records the direct reading declines: a chunk
    /// whose string table evtx cannot read still gives every record the direct reading
    /// takes, and only the declined one fails, with the chunk's error.
    #[test]
    fn a_chunk_evtx_cannot_parse_loses_only_the_records_it_was_needed_for() {
        let mut bytes = logons(100);
        assert!(bytes.len() < 4096 + 2 * 65536, "one chunk");
        // The last head of the chunk's string table points past the chunk.
        let strings_head = 4096 + 128 + 63 * 4;
        bytes[strings_head..strings_head + 4].copy_from_slice(&0x1_0000u32.to_le_bytes());
        let table = FieldTable::new();
        let (xml, xml_stats) = read_all(&bytes, Reading::Xml, &table, &ChunkContext::default());
        assert!(xml.is_empty());
        assert_eq!((xml_stats.failed, xml_stats.failed_chunks), (100, 1));
        let (direct, stats) = read_all(&bytes, Reading::Direct, &table, &ChunkContext::default());
        assert_eq!((stats.records + stats.skipped, stats.failed), (100, 0));
        assert_eq!(direct.len() as u64, stats.records);
        make_declined(&mut bytes, 0, 3);
        let (direct, stats) = read_all(&bytes, Reading::Direct, &table, &ChunkContext::default());
        assert_eq!((stats.records + stats.skipped, stats.failed), (99, 1));
        assert!(
            direct.iter().all(|r| r.0 != 4),
            "the declined record, id 4, is lost"
        );
        assert!(
            stats.errors.iter().any(|e| e.starts_with("chunk 0: ")),
            "{:?}",
            stats.errors
        );
    }

    #[test]
    fn records_read_from_their_templates_as_from_their_xml() {
        use tansa_fixtures::event::EventSpec;
        let awkward = "a&b <c> \"d\" 'e' \t tab\r\nline \u{1}ctl 日本語 Ünïcödé \u{1F600}";
        let mut events = Vec::new();
        for i in 0..400u32 {
            let time = jiff::Timestamp::from_second(1_700_000_000 + i64::from(i)).unwrap();
            let event = match i % 5 {
                0 => EventSpec::new("Security", 4624)
                    .data("SubjectUserSid", "S-1-5-18")
                    .data("TargetUserName", &format!("user{i}"))
                    .data("Empty", "")
                    .data("LogonType", "3"),
                1 => EventSpec::new("System", 7045)
                    .unnamed("first")
                    .unnamed(awkward)
                    .binary("00FF10"),
                2 => EventSpec::new("Security", 1102).user_data(
                    "LogFileCleared",
                    &[("SubjectUserName", awkward), ("Empty", "")],
                ),
                3 => EventSpec::new("Microsoft-Windows-Sysmon/Operational", 1)
                    .data("CommandLine", awkward)
                    .data("Image", "C:\\Windows\\System32\\cmd.exe"),
                _ => {
                    // An empty attribute, which evtx leaves out.
                    let mut event = EventSpec::new("Application", 1000);
                    event.provider_guid = Some(String::new());
                    event
                }
            };
            events.push(event.at(time));
        }
        let bytes = tansa_fixtures::write_evtx(&events).unwrap();
        let mut table = FieldTable::new();
        for name in [
            "TargetUserName",
            "Data",
            "SubjectUserName",
            "CommandLine",
            "Binary",
        ] {
            table.intern(name);
        }
        let (direct, direct_stats) =
            read_all(&bytes, Reading::Direct, &table, &ChunkContext::default());
        let (xml, xml_stats) = read_all(&bytes, Reading::Xml, &table, &ChunkContext::default());
        assert_eq!(
            direct_stats.via_xml, 0,
            "every record was read from its template"
        );
        assert_eq!(xml_stats.via_xml, 400);
        assert_eq!((direct_stats.records, direct_stats.skipped), (343, 57));
        assert_eq!(direct.len(), xml.len());
        for (d, x) in direct.iter().zip(&xml) {
            assert_eq!(d, x);
        }
        // The awkward text comes through as Windows would show it: controls as `_`.
        let shown = awkward.replace('\u{1}', "_");
        assert!(
            direct
                .iter()
                .any(|(_, _, fields, _)| fields.iter().any(|(_, v)| *v == shown))
        );
    }

    /// A record read in part has the wanted header and payload fields of the whole record,
    /// with every value, and nothing else; one whose reader asks for it whole is read again
    /// whole, and counted once. The XML reading always reads whole.
    #[test]
    fn records_read_in_part_have_what_is_wanted_and_are_read_again_whole_on_request() {
        use crate::field::FieldSet;
        use tansa_fixtures::event::EventSpec;
        let events: Vec<EventSpec> = (0..300u32)
            .map(|i| match i % 4 {
                0 => EventSpec::new("Security", 4624)
                    .data("TargetUserName", &format!("user{i}"))
                    .data("IpAddress", "10.0.0.9")
                    .data("TargetUserName", "again")
                    .data("LogonType", "3"),
                1 => EventSpec::new("System", 7045)
                    .unnamed("first")
                    .unnamed(&format!("second{i}")),
                2 => EventSpec::new("Security", 1102).user_data(
                    "LogFileCleared",
                    &[("SubjectUserName", "admin"), ("SubjectDomainName", "CORP")],
                ),
                _ => EventSpec::new("Microsoft-Windows-Sysmon/Operational", 1)
                    .data("CommandLine", "cmd /c whoami")
                    .data("Image", "C:\\Windows\\System32\\cmd.exe"),
            })
            .collect();
        let bytes = tansa_fixtures::write_evtx(&events).unwrap();
        let mut table = FieldTable::new();
        let mut wanted_ids = FieldSet::default();
        for name in ["TargetUserName", "Data", "SubjectUserName"] {
            wanted_ids.insert(table.intern(name));
        }
        for name in ["IpAddress", "LogonType", "SubjectDomainName", "CommandLine"] {
            table.intern(name);
        }
        let wanted = Wanted::any_of([None, Some(&wanted_ids), None, None]);
        let mut header_ids = FieldSet::default();
        (0..crate::field::well_known::NAMES.len() as u32).for_each(|id| header_ids.insert(id));
        header_ids.insert(table.intern("ProcessID"));
        let header = Wanted::any_of([Some(&header_ids), None, None, None]);
        // (record id, partial, fields) of every event handed over.
        let read = |reading: Reading,
                    header: Wanted<'_>,
                    wanted: Wanted<'_>,
                    ask_whole: fn(u64) -> bool| {
            let mut input = std::io::Cursor::new(&bytes[..]);
            let (mut notes, mut event) = (Vec::new(), Event::new());
            let (mut seen, mut stats) = (Vec::new(), ChunkStats::default());
            let context = ChunkContext::default();
            for (index, source) in stream_chunks(&mut input, &mut notes).collect::<Vec<_>>() {
                let chunk_stats = read_chunk_with(
                    reading,
                    index,
                    source,
                    &context,
                    &table,
                    &mut event,
                    Wants {
                        header,
                        keep: |_: &Event| Some(wanted),
                    },
                    |e| {
                        seen.push((e.record_id, e.is_partial(), e.to_pairs()));
                        match ask_whole(e.record_id) {
                            true => Handled::NeedsWhole,
                            false => Handled::Done,
                        }
                    },
                );
                stats.add(&chunk_stats);
            }
            (seen, stats)
        };
        let everything = Wanted::EVERYTHING;
        let (whole, whole_stats) = read(Reading::Direct, everything, everything, |_| true);
        assert!(whole.iter().all(|(_, partial, _)| !partial));
        assert_eq!((whole.len(), whole_stats.records), (300, 300));

        let (seen, stats) = read(Reading::Direct, header, wanted, |id| id % 3 == 0);
        assert_eq!(stats.records, 300, "a record read twice counts once");
        let mut seen = seen.into_iter();
        for (id, _, all_fields) in &whole {
            let (seen_id, partial, fields) = seen.next().unwrap();
            assert_eq!((seen_id, partial), (*id, true));
            // The header's and payload's fields that are not wanted (`Version`, `Image` and
            // others are not even in the table).
            let unwanted = [
                "Version",
                "Level",
                "Task",
                "Opcode",
                "Keywords",
                "ThreadID",
                "IpAddress",
                "LogonType",
                "SubjectDomainName",
                "CommandLine",
                "Image",
            ];
            let kept: Vec<&(String, String)> = all_fields
                .iter()
                .filter(|(name, _)| !unwanted.contains(&name.as_str()))
                .collect();
            assert_eq!(fields.iter().collect::<Vec<_>>(), kept, "record {id}");
            if id % 3 == 0 {
                let (again_id, partial, fields) = seen.next().unwrap();
                assert_eq!((again_id, partial, &fields), (*id, false, all_fields));
            }
        }
        assert!(seen.next().is_none());

        let (xml, xml_stats) = read(Reading::Xml, header, wanted, |_| true);
        assert_eq!(xml_stats.records, 300);
        assert_eq!(xml, whole, "the XML reading reads whole");
    }

    #[test]
    fn files_read_with_one_context_plan_each_template_once() {
        use tansa_fixtures::event::EventSpec;
        let log = |users: std::ops::Range<u32>| {
            let events: Vec<EventSpec> = users
                .map(|i| {
                    let time = jiff::Timestamp::from_second(1_700_000_000 + i64::from(i));
                    let event = if i % 2 == 0 {
                        EventSpec::new("Security", 4624).data("TargetUserName", &format!("u{i}"))
                    } else {
                        EventSpec::new("System", 7045).unnamed(&format!("service{i}"))
                    };
                    event.at(time.unwrap())
                })
                .collect();
            tansa_fixtures::write_evtx(&events).unwrap()
        };
        let (first, second) = (log(0..300), log(1000..1200));
        let mut table = FieldTable::new();
        table.intern("TargetUserName");
        let shared = ChunkContext::default();
        read_all(&first, Reading::Direct, &table, &shared);
        let planned = shared.planned();
        assert!(planned >= 2, "both templates were planned");
        let (records, stats) = read_all(&second, Reading::Direct, &table, &shared);
        assert_eq!(
            shared.planned(),
            planned,
            "the second file planned nothing new"
        );
        let (alone, alone_stats) =
            read_all(&second, Reading::Direct, &table, &ChunkContext::default());
        assert_eq!(
            records, alone,
            "and reads as it does with a context of its own"
        );
        assert_eq!(stats.via_xml, 0);
        assert_eq!(
            (stats.records, stats.skipped),
            (alone_stats.records, alone_stats.skipped)
        );
    }

    #[test]
    fn system_time_fast_and_slow_paths_agree() {
        for text in [
            "2021-11-23T09:26:30.0591547Z",
            "2024-02-29T23:59:59.9999999Z",
        ] {
            let fast = parse_system_time(text).unwrap();
            let slow: jiff::Timestamp = text.parse().unwrap();
            assert_eq!(fast, slow);
        }
        assert_eq!(
            parse_system_time("2021-11-23T09:26:30Z"),
            "2021-11-23T09:26:30Z".parse().ok()
        );
        assert_eq!(parse_system_time("2021-13-23T09:26:30.0591547Z"), None);
        assert_eq!(parse_system_time("garbage"), None);
    }
}
