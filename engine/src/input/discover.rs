//! Finding inputs: files and folders (recursively), include/exclude globs, and the format
//! of each file by its first bytes, never by its extension (a log copied off a machine can
//! be named anything): EVTX by its magic, JSON lines by a leading `{`, syslog by its
//! header or a known device payload. gzip files are looked into, and each member of a zip
//! collection is an input of its own.
//!
//! Inputs are only read: files are opened read-only, and nothing is created, renamed or
//! locked beside them. Folders are listed in sorted order so that every run sees the same
//! files in the same order. Symbolic links to folders are not followed (a link loop in a
//! collection would never end); links to files are read.

use super::source;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use std::fs::File;
use std::path::{Path, PathBuf};

/// A file format tansa reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Evtx,
    /// Syslog lines from network devices and Unix hosts (see `input::syslog`).
    Syslog,
    /// One JSON object per line (see `input::json`).
    Json,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Evtx, Format::Syslog, Format::Json];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Evtx => "evtx",
            Format::Syslog => "syslog",
            Format::Json => "json",
        }
    }
}

/// How a file holds its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Container {
    Plain,
    /// gzip (one or several members).
    Gzip,
    /// One member of a zip archive: its index and its name (a label, never a path).
    Zip {
        index: usize,
        name: String,
    },
}

pub const EVTX_MAGIC: &[u8; 8] = b"ElfFile\0";
const GZIP_MAGIC: &[u8; 2] = b"\x1f\x8b";
const ZIP_MAGIC: &[u8; 4] = b"PK\x03\x04";

/// How much of a file (expanded) is read to tell its format.
const SNIFF_BYTES: usize = 8192;

/// A file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// The file on disk.
    pub path: PathBuf,
    pub container: Container,
    pub format: Format,
    /// Bytes on disk (for a zip member, its compressed size).
    pub size: u64,
    /// When the file (or zip member) was last written: syslog lines without a year take
    /// that year.
    pub modified: Option<jiff::Timestamp>,
}

impl InputFile {
    /// How alerts and messages name it: its path, or `archive.zip:member/name`.
    pub fn name(&self) -> String {
        match &self.container {
            Container::Zip { name, .. } => format!("{}:{name}", self.path.display()),
            _ => self.path.display().to_string(),
        }
    }
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
/// inside folders, and the members of any zip archive, pass through `filter`.
pub fn discover(paths: &[PathBuf], filter: &Filter) -> Discovered {
    let mut found = Discovered::default();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, path, filter, &mut found),
            // A file named on the command line is read whatever its name.
            Ok(meta) => classify(path, path, &meta, filter, Named::Yes, &mut found),
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
        let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        match std::fs::metadata(&path) {
            Ok(meta) => classify(&path, &relative, &meta, filter, Named::No, found),
            Err(e) => found.failed.push(Skipped {
                path,
                reason: e.to_string(),
            }),
        }
    }
}

/// Whether a file was named on the command line (read whatever its name) or found in a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    Yes,
    No,
}

/// Sorts one file into inputs, skipped or failed. Globs apply to what is read: a plain or
/// gzip file found in a folder by its path below that folder, a zip archive's members by
/// their names (also when the archive was named on the command line).
fn classify(
    path: &Path,
    relative: &Path,
    meta: &std::fs::Metadata,
    filter: &Filter,
    named: Named,
    found: &mut Discovered,
) {
    let size = meta.len();
    let skip = |found: &mut Discovered, reason: String| {
        found.skipped.push(Skipped {
            path: path.to_path_buf(),
            reason,
        })
    };
    let head = match File::open(path).and_then(|mut f| source::head(&mut f, SNIFF_BYTES)) {
        Ok(head) => head,
        Err(e) => {
            found.failed.push(Skipped {
                path: path.to_path_buf(),
                reason: e.to_string(),
            });
            return;
        }
    };
    if head.starts_with(ZIP_MAGIC) {
        classify_zip(path, size, filter, found);
        return;
    }
    if named == Named::No
        && let Err(reason) = filter.check(relative)
    {
        skip(found, reason);
        return;
    }
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok());
    let (container, format) = if head.starts_with(GZIP_MAGIC) {
        // Expanded from the file, not from `head`: a few compressed bytes may not expand to
        // enough text to tell, and what a file cut short expands to still tells.
        let expanded = File::open(path).and_then(|file| {
            let mut inner = flate2::read::MultiGzDecoder::new(file);
            source::head_lenient(&mut inner, SNIFF_BYTES)
        });
        match expanded {
            Ok(expanded) => (Container::Gzip, sniff_bytes(&expanded)),
            Err(e) => {
                found.failed.push(Skipped {
                    path: path.to_path_buf(),
                    reason: format!("not a readable gzip file: {e}"),
                });
                return;
            }
        }
    } else {
        (Container::Plain, sniff_bytes(&head))
    };
    match format {
        Some(format) => found.files.push(InputFile {
            path: path.to_path_buf(),
            container,
            format,
            size,
            modified,
        }),
        None if size == 0 => skip(found, "empty file".into()),
        None => skip(found, "not a format tansa reads".into()),
    }
}

/// Every member of a zip archive that holds a format tansa reads becomes an input.
fn classify_zip(path: &Path, size: u64, filter: &Filter, found: &mut Discovered) {
    let label = |name: &str| PathBuf::from(format!("{}:{name}", path.display()));
    let archive = File::open(path)
        .map_err(|e| e.to_string())
        .and_then(|f| zip::ZipArchive::new(f).map_err(|e| e.to_string()));
    let mut archive = match archive {
        Ok(archive) => archive,
        Err(e) => {
            found.failed.push(Skipped {
                path: path.to_path_buf(),
                reason: format!("cannot read the zip: {e}"),
            });
            return;
        }
    };
    let mut members = Vec::new();
    for index in 0..archive.len() {
        let mut member = match archive.by_index(index) {
            Ok(member) => member,
            Err(e) => {
                found.failed.push(Skipped {
                    path: label(&format!("#{index}")),
                    reason: format!("cannot read the zip member: {e}"),
                });
                continue;
            }
        };
        let name = member
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| String::from_utf8_lossy(member.name_raw()).into_owned());
        if member.is_dir() {
            continue;
        }
        if let Err(reason) = filter.check(Path::new(&name)) {
            found.skipped.push(Skipped {
                path: label(&name),
                reason,
            });
            continue;
        }
        // Zip times are local, without a zone: as UTC, to within a day. Writers that store
        // none leave the DOS epoch (1980), which says nothing.
        let modified = member
            .last_modified()
            .filter(|t| t.year() > 1980)
            .and_then(|t| {
                jiff::civil::DateTime::new(
                    t.year() as i16,
                    t.month() as i8,
                    t.day() as i8,
                    t.hour() as i8,
                    t.minute() as i8,
                    t.second() as i8,
                    0,
                )
                .ok()
            })
            .and_then(|t| t.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|t| t.timestamp());
        let compressed = member.compressed_size();
        let head = source::head(&mut member, SNIFF_BYTES);
        let format = match head {
            Ok(head) if head.starts_with(ZIP_MAGIC) || head.starts_with(GZIP_MAGIC) => {
                found.skipped.push(Skipped {
                    path: label(&name),
                    reason: "an archive inside an archive (unpack the outer one first)".into(),
                });
                continue;
            }
            Ok(head) => sniff_bytes(&head),
            Err(e) => {
                found.failed.push(Skipped {
                    path: label(&name),
                    reason: format!("cannot read the zip member: {e}"),
                });
                continue;
            }
        };
        match format {
            Some(format) => members.push(InputFile {
                path: path.to_path_buf(),
                container: Container::Zip { index, name },
                format,
                size: compressed.min(size),
                modified,
            }),
            None => found.skipped.push(Skipped {
                path: label(&name),
                reason: "not a format tansa reads".into(),
            }),
        }
    }
    // Members in name order, so runs agree whatever order the archive lists them in.
    members.sort_by_cached_key(InputFile::name);
    found.files.extend(members);
}

/// The format of a file, from its first bytes (expanded, for a compressed one).
pub fn sniff_bytes(head: &[u8]) -> Option<Format> {
    if head.starts_with(EVTX_MAGIC) {
        return Some(Format::Evtx);
    }
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let first = text.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first == b'{' {
        return Some(Format::Json);
    }
    super::syslog::looks_like_syslog(text).then_some(Format::Syslog)
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
