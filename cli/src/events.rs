//! `tansa events`: the events of some inputs as rules see them, one JSON object per line,
//! so a rule author can learn the field names and see why a rule does or does not match.

use crate::exit;
use crate::output::AtomicOutput;
use crate::settings::{CompileArgs, ReadArgs};
use anyhow::Result;
use clap::Args;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use tansa_engine::alert::{EventFields, format_time};
use tansa_engine::event::{Event, Handled};
use tansa_engine::field::{FieldTable, Wanted};
use tansa_engine::input::discover::{self, Container, Filter, Format, InputFile};
use tansa_engine::input::evtx::{ChunkStats, Wants};
use tansa_engine::input::records::{Reader, with_pieces};
use tansa_engine::input::source::open_stream;

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Files and folders, as for `hunt` (`-` reads JSON lines or syslog from stdin).
    #[arg(required = true, value_name = "PATH")]
    pub inputs: Vec<PathBuf>,
    /// Write the events to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Only read files whose path (relative to the input folder) or name matches GLOB.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Skip files whose path (relative to the input folder) or name matches GLOB.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub compile: CompileArgs,
}

/// One event as printed.
#[derive(Serialize)]
struct Printed<'a> {
    source: Source<'a>,
    record_id: u64,
    time: Option<String>,
    /// The fields in record order; a repeated name maps to an array.
    fields: EventFields<'a>,
}

#[derive(Serialize)]
struct Source<'a> {
    file: &'a str,
    format: &'static str,
}

pub fn run(args: EventsArgs) -> u8 {
    match run_inner(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tansa: {e:#}");
            exit::USAGE
        }
    }
}

fn run_inner(args: &EventsArgs) -> Result<u8> {
    let options = args.compile.options()?;
    let read = args.read.options(&options.timezone)?;
    let mut out = match &args.output {
        Some(path) => AtomicOutput::file(path)?,
        None => AtomicOutput::stdout(),
    };
    let table = FieldTable::new();
    let mut partial = false;
    let files = if args.inputs.len() == 1 && args.inputs[0].as_os_str() == "-" {
        partial |= print_stdin(&mut out, &table, &read)?;
        Vec::new()
    } else {
        let filter = Filter::new(&args.include, &args.exclude).map_err(anyhow::Error::msg)?;
        let found = discover::discover(&args.inputs, &filter);
        for failed in &found.failed {
            eprintln!(
                "tansa: cannot read {}: {}",
                failed.path.display(),
                failed.reason
            );
            partial = true;
        }
        found.files
    };
    // One context for every file: a template planned in one serves the others.
    let evtx = std::sync::Arc::default();
    for file in &files {
        let name = file.name();
        let reader = Reader::new(file, &read, std::sync::Arc::clone(&evtx));
        let mut event = Event::new();
        let mut write_error = None;
        let result = with_pieces(file, |pieces| {
            let mut failed = 0;
            for piece in pieces {
                let stats = reader.read(
                    piece,
                    &table,
                    &mut event,
                    Wants::whole(|_: &Event| Some(Wanted::EVERYTHING)),
                    |event| {
                        if write_error.is_none()
                            && let Err(e) = print(&mut out, &name, file.format, event)
                        {
                            write_error = Some(e);
                        }
                        Handled::Done
                    },
                );
                failed += stats.failed + stats.failed_chunks + stats.cut_lines;
                for error in &stats.errors {
                    eprintln!("tansa: {name}: {error}");
                }
                if stats.cut_lines > 0 {
                    eprintln!("tansa: {name}: {} line(s) cut at 16 MiB", stats.cut_lines);
                }
                if write_error.is_some() {
                    // The reader went away (`| head`): nothing more will be printed.
                    break;
                }
            }
            failed
        });
        if let Some(e) = write_error {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(exit::OK);
            }
            return Err(e.into());
        }
        match result {
            Ok((failed, notes)) => {
                partial |= failed > 0 || !notes.is_empty();
                for note in notes {
                    eprintln!("tansa: {name}: {note}");
                }
            }
            Err(message) => {
                eprintln!("tansa: cannot read {name}: {message}");
                partial = true;
            }
        }
    }
    out.commit()?;
    Ok(if partial { exit::PARTIAL } else { exit::OK })
}

fn print(out: &mut dyn Write, file: &str, format: Format, event: &Event) -> std::io::Result<()> {
    let printed = Printed {
        source: Source {
            file,
            format: format.as_str(),
        },
        record_id: event.record_id,
        time: event.time.map(format_time),
        fields: EventFields(event),
    };
    serde_json::to_writer(&mut *out, &printed)?;
    out.write_all(b"\n")
}

/// Events from stdin; whether some lines could not be read.
fn print_stdin(
    out: &mut dyn Write,
    table: &FieldTable,
    read: &tansa_engine::input::records::ReadOptions,
) -> Result<bool> {
    let stdin = Box::new(std::io::BufReader::new(std::io::stdin().lock()));
    let (format, mut input) = open_stream(stdin).map_err(|e| anyhow::anyhow!("stdin: {e}"))?;
    let file = InputFile {
        path: PathBuf::from("-"),
        container: Container::Plain,
        format,
        size: 0,
        modified: None,
    };
    let reader = Reader::new(&file, read, Default::default());
    let mut stats = ChunkStats::default();
    let result = reader.read_stream(&mut input, table, &mut Event::new(), &mut stats, |event| {
        print(out, "-", format, event)
    });
    for error in &stats.errors {
        eprintln!("tansa: -: {error}");
    }
    if stats.cut_lines > 0 {
        eprintln!("tansa: -: {} line(s) cut at 16 MiB", stats.cut_lines);
    }
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(anyhow::Error::new(e).context("stdin")),
        Ok(()) => Ok(stats.failed > 0 || stats.cut_lines > 0),
    }
}
