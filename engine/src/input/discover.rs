//! Finding inputs: files and folders (recursively), include/exclude globs, and the format
//! of each file by its first bytes, never by its extension (a log copied off a machine can
//! be named anything).
//!
//! Inputs are only read: files are opened read-only, and nothing is created, renamed or
//! locked beside them. Folders are listed in sorted order so that every run sees the same
//! files in the same order. Symbolic links to folders are not followed (a link loop in a
//! collection would never end); links to files are read.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A file format tansa reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Evtx,
}

impl Format {
    pub const ALL: [Format; 1] = [Format::Evtx];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Evtx => "evtx",
        }
    }
}

pub const EVTX_MAGIC: &[u8; 8] = b"ElfFile\0";

/// A file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    pub format: Format,
    pub size: u64,
}

/// A path that was not read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Discovered {
    pub files: Vec<InputFile>,
    /// Files that are not inputs (unknown format, excluded by a glob, empty).
    pub skipped: Vec<Skipped>,
    /// Paths that could not be read at all.
    pub failed: Vec<Skipped>,
}

/// Include/exclude globs. A glob matches a file's path relative to the input it was found
/// under; a glob without `/` also matches the file name alone. Matching ignores case, as
/// Windows paths do.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl Filter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Filter, String> {
        Ok(Filter {
            include: build_set(include)?,
            exclude: build_set(exclude)?,
        })
    }

    /// Whether `relative` (a path under an input folder) passes the globs, and if not why.
    fn check(&self, relative: &Path) -> Result<(), String> {
        let name = relative.file_name().map(Path::new).unwrap_or(relative);
        let hit = |set: &GlobSet| set.is_match(relative) || set.is_match(name);
        if let Some(include) = &self.include
            && !hit(include)
        {
            return Err("not matched by --include".into());
        }
        if let Some(exclude) = &self.exclude
            && hit(exclude)
        {
            return Err("matched by --exclude".into());
        }
        Ok(())
    }
}

fn build_set(globs: &[String]) -> Result<Option<GlobSet>, String> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        let glob = GlobBuilder::new(glob)
            .case_insensitive(true)
            .build()
            .map_err(|e| format!("invalid glob `{glob}`: {e}"))?;
        builder.add(glob);
    }
    builder
        .build()
        .map(Some)
        .map_err(|e| format!("invalid glob set: {e}"))
}

/// Finds every input under `paths`. A path given directly is read whatever its name; files
/// inside folders pass through `filter`.
pub fn discover(paths: &[PathBuf], filter: &Filter) -> Discovered {
    let mut found = Discovered::default();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, path, filter, &mut found),
            Ok(meta) => classify(path, meta.len(), &mut found),
            Err(e) => found.failed.push(Skipped {
                path: path.clone(),
                reason: e.to_string(),
            }),
        }
    }
    found
}

fn walk(root: &Path, dir: &Path, filter: &Filter, found: &mut Discovered) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            found.failed.push(Skipped {
                path: dir.to_path_buf(),
                reason: format!("cannot list folder: {e}"),
            });
            return;
        }
    };
    let mut children: Vec<(PathBuf, std::fs::FileType)> = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => match entry.file_type() {
                Ok(t) => children.push((entry.path(), t)),
                Err(e) => found.failed.push(Skipped {
                    path: entry.path(),
                    reason: e.to_string(),
                }),
            },
            Err(e) => found.failed.push(Skipped {
                path: dir.to_path_buf(),
                reason: format!("cannot list folder: {e}"),
            }),
        }
    }
    children.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, file_type) in children {
        if file_type.is_dir() {
            walk(root, &path, filter, found);
            continue;
        }
        if file_type.is_symlink() {
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => {}
                Ok(_) => {
                    found.skipped.push(Skipped {
                        path,
                        reason: "link to a folder (not followed)".into(),
                    });
                    continue;
                }
                Err(e) => {
                    found.failed.push(Skipped {
                        path,
                        reason: format!("broken link: {e}"),
                    });
                    continue;
                }
            }
        }
        let relative = path.strip_prefix(root).unwrap_or(&path);
        if let Err(reason) = filter.check(relative) {
            found.skipped.push(Skipped { path, reason });
            continue;
        }
        match std::fs::metadata(&path) {
            Ok(meta) => classify(&path, meta.len(), found),
            Err(e) => found.failed.push(Skipped {
                path,
                reason: e.to_string(),
            }),
        }
    }
}

fn classify(path: &Path, size: u64, found: &mut Discovered) {
    match sniff(path) {
        Ok(Some(format)) => found.files.push(InputFile {
            path: path.to_path_buf(),
            format,
            size,
        }),
        Ok(None) => found.skipped.push(Skipped {
            path: path.to_path_buf(),
            reason: if size == 0 {
                "empty file".into()
            } else {
                "not a format tansa reads".into()
            },
        }),
        Err(e) => found.failed.push(Skipped {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// The format of a file, from its first bytes.
pub fn sniff(path: &Path) -> std::io::Result<Option<Format>> {
    let mut head = [0u8; 8];
    let mut file = File::open(path)?;
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..])? {
            0 => break,
            n => read += n,
        }
    }
    Ok((read == head.len() && &head == EVTX_MAGIC).then_some(Format::Evtx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_magic_and_honours_globs() {
        let dir = std::env::temp_dir().join(format!("tansa-discover-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a.evtx"), b"ElfFile\0rest").unwrap();
        std::fs::write(dir.join("sub/renamed.bin"), b"ElfFile\0rest").unwrap();
        std::fs::write(dir.join("notes.evtx"), b"hello world").unwrap();
        std::fs::write(dir.join("empty.evtx"), b"").unwrap();

        let all = discover(std::slice::from_ref(&dir), &Filter::default());
        let names: Vec<_> = all
            .files
            .iter()
            .map(|f| f.path.strip_prefix(&dir).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            names,
            [PathBuf::from("a.evtx"), PathBuf::from("sub/renamed.bin")]
        );
        assert_eq!(all.skipped.len(), 2);

        let filter = Filter::new(&[], &["sub/*".into()]).unwrap();
        assert_eq!(discover(std::slice::from_ref(&dir), &filter).files.len(), 1);
        let filter = Filter::new(&["*.BIN".into()], &[]).unwrap();
        assert_eq!(discover(std::slice::from_ref(&dir), &filter).files.len(), 1);
        assert!(Filter::new(&["a[".into()], &[]).is_err());

        let missing = discover(&[dir.join("nope")], &Filter::default());
        assert_eq!(missing.failed.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
