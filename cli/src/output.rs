//! Alert output: stdout, or a file written atomically (a temporary file beside it, renamed
//! over it once complete), so a scheduler never picks up half a run's alerts.
//!
//! A path that is not a regular file (`/dev/null`, `/dev/stdout`, a named pipe) is written
//! in place: renaming a file over it would replace the device or pipe with a file, which
//! `-o /dev/null`, run as root, did.

use anyhow::{Context, Result};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub enum AtomicOutput {
    Stdout(BufWriter<io::Stdout>),
    /// A device or a pipe, written as the alerts come.
    InPlace(BufWriter<File>),
    File {
        writer: BufWriter<File>,
        temporary: PathBuf,
        target: PathBuf,
        committed: bool,
    },
}

impl AtomicOutput {
    pub fn stdout() -> AtomicOutput {
        AtomicOutput::Stdout(BufWriter::new(io::stdout()))
    }

    pub fn file(target: &Path) -> Result<AtomicOutput> {
        if std::fs::metadata(target).is_ok_and(|meta| !meta.is_file() && !meta.is_dir()) {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(target)
                .with_context(|| format!("cannot open {}", target.display()))?;
            return Ok(AtomicOutput::InPlace(BufWriter::new(file)));
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "alerts".into());
        let temporary = target.with_file_name(format!(".{name}.tansa-{}.tmp", std::process::id()));
        let file = File::create(&temporary)
            .with_context(|| format!("cannot create {}", temporary.display()))?;
        Ok(AtomicOutput::File {
            writer: BufWriter::new(file),
            temporary,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    /// Flushes everything and, for a file, moves it into place.
    pub fn commit(&mut self) -> Result<()> {
        match self {
            AtomicOutput::Stdout(writer) => match writer.flush() {
                // A reader that stopped early (`| head`) is not an error.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                other => other.context("cannot write alerts to stdout"),
            },
            AtomicOutput::InPlace(writer) => writer.flush().context("cannot write the alerts"),
            AtomicOutput::File {
                writer,
                temporary,
                target,
                committed,
            } => {
                writer.flush()?;
                writer.get_ref().sync_all()?;
                std::fs::rename(&*temporary, &*target).with_context(|| {
                    format!(
                        "cannot move {} to {}",
                        temporary.display(),
                        target.display()
                    )
                })?;
                *committed = true;
                Ok(())
            }
        }
    }
}

impl Write for AtomicOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            AtomicOutput::Stdout(w) => w.write(buf),
            AtomicOutput::InPlace(w) => w.write(buf),
            AtomicOutput::File { writer, .. } => writer.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            AtomicOutput::Stdout(w) => w.flush(),
            AtomicOutput::InPlace(w) => w.flush(),
            AtomicOutput::File { writer, .. } => writer.flush(),
        }
    }
}

impl Drop for AtomicOutput {
    fn drop(&mut self) {
        if let AtomicOutput::File {
            temporary,
            committed: false,
            ..
        } = self
        {
            let _ = std::fs::remove_file(temporary);
        }
    }
}
