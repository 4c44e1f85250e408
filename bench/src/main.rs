//! Builds the benchmark inputs from `../shared/corpus/evtx` (see `bench/README.md`).
//!
//! `make-bench-inputs CORPUS OUT_DIR [MEGABYTES]` writes `OUT_DIR/security-<N>mb.evtx`: a
//! Security log made of the chunks of every Security log in the corpus, repeated until the
//! file reaches N MiB (default 30). Chunks are self-contained (their own string and
//! template tables), so the result is a valid log with a realistic mix of Security events.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use tansa_engine::field::FieldTable;
use tansa_engine::input::discover::{Filter, discover};
use tansa_engine::input::evtx::{CHUNK_SIZE, EvtxReader, FILE_HEADER_SIZE};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        bail!("usage: make-bench-inputs CORPUS_EVTX_DIR OUT_DIR [MEGABYTES]");
    }
    let corpus = PathBuf::from(&args[1]);
    let out_dir = PathBuf::from(&args[2]);
    let megabytes: usize = args.get(3).map_or(Ok(30), |m| m.parse())?;
    std::fs::create_dir_all(&out_dir)?;

    let chunks = security_chunks(&corpus)?;
    if chunks.is_empty() {
        bail!("no Security log in {}", corpus.display());
    }
    let wanted = megabytes * 1024 * 1024 / CHUNK_SIZE as usize;
    let mut body = Vec::with_capacity(wanted * CHUNK_SIZE as usize);
    for chunk in chunks.iter().cycle().take(wanted.max(chunks.len())) {
        body.extend_from_slice(chunk);
    }
    let count = body.len() / CHUNK_SIZE as usize;
    let mut file = tansa_fixtures::evtx_file::file_header(count, 1);
    file.extend_from_slice(&body);
    let path = out_dir.join(format!("security-{megabytes}mb.evtx"));
    std::fs::write(&path, &file).with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "{}: {count} chunks from {} distinct Security chunks",
        path.display(),
        chunks.len()
    );
    Ok(())
}

/// The non-empty chunks of every file in `corpus` whose first record is in Security.
fn security_chunks(corpus: &Path) -> Result<Vec<Vec<u8>>> {
    let table = FieldTable::new();
    let mut chunks = Vec::new();
    for file in discover(&[corpus.to_path_buf()], &Filter::default()).files {
        let Ok(mut reader) = EvtxReader::open(&file.path) else {
            continue;
        };
        if reader.first_channel(&table).as_deref() != Some("Security") {
            continue;
        }
        let bytes = std::fs::read(&file.path)?;
        for chunk in bytes[FILE_HEADER_SIZE as usize..].chunks_exact(CHUNK_SIZE as usize) {
            if chunk.starts_with(b"ElfChnk\0") {
                chunks.push(chunk.to_vec());
            }
        }
    }
    Ok(chunks)
}
