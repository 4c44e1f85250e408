//! Every format's records through one door: a file opens as a sequence of pieces (64 KiB
//! EVTX chunks, or blocks of whole text lines), and each piece reads into events. Pieces
//! are independent, so a hunt reads them on every core and `tansa events` one after the
//! other, with the same code.

use super::discover::{Container, Format, InputFile};
use super::evtx::{self, ChunkSource, ChunkStats, EvtxReader};
use super::lines::{Block, Blocks};
use super::{json, source, syslog};
use crate::event::{Event, Origin};
use crate::field::{FieldTable, well_known};
use ::evtx::ParserSettings;
use std::sync::Arc;

/// What reading needs to know beyond the file.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The year of syslog timestamps that have none (else the file's modification year).
    pub year: Option<i16>,
    /// The zone of syslog timestamps that have none.
    pub syslog_zone: jiff::tz::TimeZone,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            year: None,
            syslog_zone: jiff::tz::TimeZone::UTC,
        }
    }
}

/// A part of a file that reads on its own.
pub enum Piece {
    Chunk(u64, ChunkSource),
    Lines(Block),
}

impl Piece {
    /// Its position in the file (chunk number, or first line).
    pub fn position(&self) -> u64 {
        match self {
            Piece::Chunk(number, _) => *number,
            Piece::Lines(block) => block.first_line,
        }
    }

    /// About how many bytes of the file it covers (for progress).
    pub fn bytes(&self) -> u64 {
        match self {
            Piece::Chunk(..) => evtx::CHUNK_SIZE,
            Piece::Lines(block) => block.bytes.len() as u64,
        }
    }
}

/// How to turn one file's pieces into events.
#[derive(Clone)]
pub struct Reader {
    format: Format,
    settings: Arc<ParserSettings>,
    syslog: syslog::SyslogContext,
}

impl Reader {
    pub fn new(file: &InputFile, options: &ReadOptions) -> Reader {
        let this_year = jiff::Zoned::now().year();
        Reader {
            format: file.format,
            settings: evtx::settings(),
            syslog: syslog::SyslogContext {
                year: options.year.or(file.modified_year).unwrap_or(this_year),
                zone: options.syslog_zone.clone(),
            },
        }
    }

    /// Reads one piece: for each record, fills `event` and calls `on_event`. For EVTX,
    /// `keep` is asked after a record's header whether the rest is worth reading.
    pub fn read(
        &self,
        piece: Piece,
        table: &FieldTable,
        event: &mut Event,
        keep: impl FnMut(&Event) -> bool,
        mut on_event: impl FnMut(&mut Event),
    ) -> ChunkStats {
        let block = match piece {
            Piece::Chunk(number, source) => {
                return evtx::read_chunk(
                    number,
                    source,
                    &self.settings,
                    table,
                    event,
                    keep,
                    on_event,
                );
            }
            Piece::Lines(block) => block,
        };
        let mut stats = ChunkStats {
            cut_lines: block.cut_lines,
            ..ChunkStats::default()
        };
        for (line_number, line) in block.lines() {
            event.clear();
            event.record_id = line_number;
            match self.read_line(line, table, event) {
                Ok(()) => {
                    stats.records += 1;
                    on_event(event);
                }
                Err(e) => {
                    stats.failed += 1;
                    stats.error(format!("line {line_number}: {e}"));
                }
            }
        }
        stats
    }

    /// One text line into `event` (cleared, its record id set).
    pub fn read_line(
        &self,
        line: &[u8],
        table: &FieldTable,
        event: &mut Event,
    ) -> Result<(), String> {
        match self.format {
            Format::Json => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    return Err("an empty line where a JSON object was expected".into());
                }
                json::flatten(line, table, event)?;
                push_time(event);
                Ok(())
            }
            Format::Syslog | Format::Evtx => {
                event.push(
                    "Channel",
                    SYSLOG_CHANNEL,
                    Some(well_known::CHANNEL),
                    Origin::Header,
                );
                event.time = syslog::parse_line(line, &self.syslog, &mut |name, value| {
                    event.push(name, value, table.get(name), Origin::Payload);
                });
                push_time(event);
                Ok(())
            }
        }
    }
}

/// Gives an event without a `TimeCreated` field its time under that name, so that rules
/// about time (`TimeCreated|calendar: business_hours`, `TimeCreated|hour`) read every
/// input the same way.
fn push_time(event: &mut Event) {
    if event.has(well_known::TIME_CREATED) {
        return;
    }
    if let Some(time) = event.time {
        let text = crate::alert::format_time(time);
        event.push(
            "TimeCreated",
            &text,
            Some(well_known::TIME_CREATED),
            Origin::Header,
        );
    }
}

/// The channel every syslog event has: rules reach syslog through it (see `logsource`).
pub const SYSLOG_CHANNEL: &str = "syslog";

/// Opens `file` and hands its pieces, in file order, to `run`; also returns what is wrong
/// with the file as a whole (notes). Pieces are read lazily as `run` pulls them.
pub fn with_pieces<T>(
    file: &InputFile,
    run: impl FnOnce(&mut (dyn Iterator<Item = Piece> + Send)) -> T,
) -> Result<(T, Vec<String>), String> {
    if file.format == Format::Evtx && file.container == Container::Plain {
        let mut reader = EvtxReader::open(&file.path)?;
        let notes = std::mem::take(&mut reader.notes);
        let mut pieces = reader
            .chunks()
            .map(|(number, source)| Piece::Chunk(number, source));
        return Ok((run(&mut pieces), notes));
    }
    let mut notes = Vec::new();
    let (result, end) = source::with_reader(file, |reader| {
        if file.format == Format::Evtx {
            let mut pieces = evtx::stream_chunks(reader, &mut notes)
                .map(|(number, source)| Piece::Chunk(number, source));
            return run(&mut pieces);
        }
        let mut failed = None;
        let mut pieces = Blocks::new(reader).map_while(|block| match block {
            Ok(block) => Some(Piece::Lines(block)),
            Err(e) => {
                failed = Some(e);
                None
            }
        });
        let result = run(&mut pieces);
        if let Some(e) = failed {
            notes.push(format!("stopped reading: {e}"));
        }
        result
    })?;
    if end.capped {
        notes.push(format!(
            "expands past {} GiB: read up to there (a decompression bomb?)",
            source::MAX_EXPANDED_BYTES >> 30
        ));
    }
    Ok((result, notes))
}
