//! Every format's records through one door: a file opens as a sequence of pieces (64 KiB
//! EVTX chunks, or blocks of whole text lines), and each piece reads into events. Pieces
//! are independent, so a hunt reads them on every core and `tansa events` one after the
//! other, with the same code.

use super::discover::{Container, Format, InputFile};
use super::evtx::{self, ChunkContext, ChunkSource, ChunkStats, EvtxReader, Wants};
use super::lines::{self, Block, Blocks};
use super::{json, source, syslog};
use crate::event::{Event, Handled, Origin};
use crate::field::{FieldTable, Wanted, well_known};
use std::sync::Arc;

/// What reading needs to know beyond the file.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The year of syslog timestamps that have none. Without it, the year the file was last
    /// written, else the year of `now`; either way a time more than a day after that moment
    /// is from the year before.
    pub year: Option<i16>,
    /// When the run happens, for inputs that have no time of their own (stdin). The caller's
    /// clock: the engine reads none.
    pub now: Option<jiff::Timestamp>,
    /// The zone of syslog timestamps that have none.
    pub syslog_zone: jiff::tz::TimeZone,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            year: None,
            now: None,
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
    /// Shared by the file's EVTX chunks, and by other files read with the same context.
    evtx: Arc<ChunkContext>,
    syslog: syslog::SyslogContext,
}

impl Reader {
    /// A reader of `file`. EVTX chunks share `evtx` (plans of their templates): give every
    /// file of a run the same one.
    pub fn new(file: &InputFile, options: &ReadOptions, evtx: Arc<ChunkContext>) -> Reader {
        let written = file.modified.or(options.now);
        let (year, latest) = match (options.year, written) {
            (Some(year), _) => (year, None),
            (None, Some(time)) => (time.to_zoned(jiff::tz::TimeZone::UTC).year(), Some(time)),
            (None, None) => (syslog::SyslogContext::default().year, None),
        };
        Reader {
            format: file.format,
            evtx,
            syslog: syslog::SyslogContext {
                year,
                zone: options.syslog_zone.clone(),
                latest,
            },
        }
    }

    /// Reads one piece: for each record, fills `event` and calls `on_event`. For EVTX,
    /// `wants` says which fields to read of each record (see `evtx::Wants`); text records
    /// are always read whole.
    pub fn read<'w>(
        &self,
        piece: Piece,
        table: &FieldTable,
        event: &mut Event,
        wants: Wants<'w, impl FnMut(&Event) -> Option<Wanted<'w>>>,
        mut on_event: impl FnMut(&mut Event) -> Handled,
    ) -> ChunkStats {
        let block = match piece {
            Piece::Chunk(number, source) => {
                return evtx::read_chunk(number, source, &self.evtx, table, event, wants, on_event);
            }
            Piece::Lines(block) => block,
        };
        let mut stats = ChunkStats {
            cut_lines: block.cut_lines,
            ..ChunkStats::default()
        };
        for (line_number, line) in block.lines() {
            self.read_numbered(line_number, line, table, event, &mut stats, &mut |event| {
                on_event(event);
            });
        }
        stats
    }

    /// Reads a stream (stdin) line by line as it comes, each event handed to `on_event`
    /// before the next line is read; stops at the end of the input or at the first error
    /// of `input` or `on_event`. `stats` counts as it goes, so it is right either way.
    pub fn read_stream(
        &self,
        input: &mut dyn std::io::BufRead,
        table: &FieldTable,
        event: &mut Event,
        stats: &mut ChunkStats,
        mut on_event: impl FnMut(&mut Event) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        lines::skip_bom(input)?;
        let (mut line, mut number) = (Vec::new(), 0);
        let mut failure = None;
        while let Some(cut) = lines::read_line(input, &mut line)? {
            number += 1;
            stats.cut_lines += u64::from(cut);
            self.read_numbered(number, &line, table, event, stats, &mut |event| {
                if let Err(e) = on_event(event) {
                    failure = Some(e);
                }
            });
            if let Some(e) = failure.take() {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Line `number` into `event`, then to `on_event`; blank lines are not records.
    fn read_numbered(
        &self,
        number: u64,
        line: &[u8],
        table: &FieldTable,
        event: &mut Event,
        stats: &mut ChunkStats,
        on_event: &mut impl FnMut(&mut Event),
    ) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        event.clear();
        event.record_id = number;
        match self.read_line(line, table, event) {
            Ok(()) => {
                stats.records += 1;
                on_event(event);
            }
            Err(e) => {
                stats.failed += 1;
                stats.error(|| format!("line {number}: {e}"));
            }
        }
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
                json::flatten(line, table, event)?;
                push_time(event);
                Ok(())
            }
            Format::Evtx => Err("an EVTX file is read by chunks, not by lines".into()),
            Format::Syslog => {
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
        let text = event.text_mut();
        let name = text.len();
        text.push_str("TimeCreated");
        let value = text.len();
        crate::alert::write_time(time, text);
        let end = text.len();
        event.add_field_at(
            (name, value),
            (value, end),
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
            notes.push(e.to_string());
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
