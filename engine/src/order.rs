//! Putting alerts (and matches for correlation) in their final order with flat memory: an
//! external merge sort.
//!
//! Alerts arrive from the workers in any order, already serialized, each with an integer
//! sort key (event time, source file rank, record id, rule rank). They collect in memory
//! up to a budget; past it, the batch is sorted and written to a temporary run file. The
//! output merges the runs and what is left in memory. Memory stays at the budget however
//! many alerts a hunt raises (plus, in a `SharedSorter`, the batch a thread is writing out),
//! and the order (hence every byte of output) never depends on thread count or timing.
//!
//! Runs go to the system's temporary folder (`$TMPDIR`), never beside the inputs, and are
//! deleted when the output is dropped.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

/// Where an alert goes in the output. Compared field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SortKey {
    /// Event time in nanoseconds since the Unix epoch; `i128::MIN` when unknown.
    pub time: i128,
    /// The source file's position among the inputs sorted by path.
    pub file: u32,
    pub record: u64,
    /// The rule's position among compiled rules sorted by rule id.
    pub rule: u32,
}

const KEY_BYTES: usize = 16 + 4 + 8 + 4;

impl SortKey {
    fn to_bytes(self) -> [u8; KEY_BYTES] {
        let mut out = [0u8; KEY_BYTES];
        out[..16].copy_from_slice(&self.time.to_le_bytes());
        out[16..20].copy_from_slice(&self.file.to_le_bytes());
        out[20..28].copy_from_slice(&self.record.to_le_bytes());
        out[28..32].copy_from_slice(&self.rule.to_le_bytes());
        out
    }

    fn from_bytes(b: &[u8; KEY_BYTES]) -> SortKey {
        let mut time = [0u8; 16];
        time.copy_from_slice(&b[..16]);
        SortKey {
            time: i128::from_le_bytes(time),
            file: u32::from_le_bytes(b[16..20].try_into().expect("4 bytes")),
            record: u64::from_le_bytes(b[20..28].try_into().expect("8 bytes")),
            rule: u32::from_le_bytes(b[28..32].try_into().expect("4 bytes")),
        }
    }
}

/// Serialized entries with their keys, back to back in one buffer: what a worker fills
/// for a piece of input and hands to a `Sorter`, and what the sorter holds in memory. One
/// buffer, not one allocation per entry: a hunt makes an entry for every match, and
/// allocating, growing and freeing each one cost 5% of the hunt; thousands of small blocks
/// freed by another thread than the one that made them also left the allocator holding
/// far more memory than the entries.
#[derive(Debug, Default)]
pub struct Batch {
    entries: Vec<Entry>,
    bytes: Vec<u8>,
}

/// An entry of a batch: its key and where its bytes are in `Batch::bytes`.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: SortKey,
    start: usize,
    end: usize,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds an entry whose bytes `write` appends to the buffer it is given.
    pub fn push_with(&mut self, key: SortKey, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.bytes.len();
        write(&mut self.bytes);
        let end = self.bytes.len();
        self.entries.push(Entry { key, start, end });
    }

    pub fn push(&mut self, key: SortKey, line: &[u8]) {
        self.push_with(key, |bytes| bytes.extend_from_slice(line));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keeps the entries `keep` says yes to, in their order, moving their bytes down over
    /// the ones left out. For a batch as it was pushed (each entry's bytes after the
    /// previous entry's), which is what a worker holds; not after `sort`.
    pub fn retain(&mut self, mut keep: impl FnMut(SortKey, &[u8]) -> bool) {
        let (mut kept, mut kept_bytes) = (0, 0);
        for index in 0..self.entries.len() {
            let Entry { key, start, end } = self.entries[index];
            if !keep(key, &self.bytes[start..end]) {
                continue;
            }
            debug_assert!(start >= kept_bytes, "retain on a sorted batch");
            if start != kept_bytes {
                self.bytes.copy_within(start..end, kept_bytes);
            }
            let end = kept_bytes + (end - start);
            self.entries[kept] = Entry {
                key,
                start: kept_bytes,
                end,
            };
            kept += 1;
            kept_bytes = end;
        }
        self.entries.truncate(kept);
        self.bytes.truncate(kept_bytes);
    }

    /// Empties the batch, keeping its buffers for the next piece.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes.clear();
    }

    /// The entries in the batch's order.
    pub fn iter(&self) -> impl Iterator<Item = (SortKey, &[u8])> {
        self.entries
            .iter()
            .map(|entry| (entry.key, &self.bytes[entry.start..entry.end]))
    }

    /// Puts the entries in key order, then by bytes, so that entries with equal keys (JSON
    /// records that repeat a record id) still come out in one order whatever the threads
    /// did.
    pub fn sort(&mut self) {
        let bytes = &self.bytes;
        self.entries.sort_unstable_by(|a, b| {
            a.key
                .cmp(&b.key)
                .then_with(|| bytes[a.start..a.end].cmp(&bytes[b.start..b.end]))
        });
    }

    /// Moves the entries of `other` to the end of this batch, leaving `other` empty.
    fn append(&mut self, other: &mut Batch) {
        let offset = self.bytes.len();
        self.bytes.extend_from_slice(&other.bytes);
        self.entries.extend(other.entries.iter().map(|entry| Entry {
            key: entry.key,
            start: entry.start + offset,
            end: entry.end + offset,
        }));
        other.clear();
    }

    /// Bytes held, as a sorter's budget counts them.
    fn memory(&self) -> usize {
        self.bytes.len() + self.entries.len() * std::mem::size_of::<Entry>()
    }
}

/// Collects serialized alerts and hands them back in key order.
#[derive(Debug)]
pub struct Sorter {
    /// The entries in memory.
    pending: Batch,
    /// An empty batch with room, left by the last spill of a `SharedSorter` made
    /// `keeping_room`: the next entries go there instead of into new memory that the system
    /// must fault in.
    spare: Batch,
    budget: usize,
    runs: Vec<Run>,
    /// Batches spilled to disk so far (runs merge, so there may be fewer files).
    spills: usize,
    /// How many runs of one level merge into one of the next (`FAN_IN`).
    fan_in: usize,
    count: u64,
}

/// A sorted run on disk, deleted when dropped.
#[derive(Debug)]
struct Run {
    path: PathBuf,
    /// 0 for a spilled batch; n + 1 for a merge of runs of level n.
    level: u32,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Sorter {
    /// A sorter that keeps up to `budget` bytes of alerts in memory.
    pub fn new(budget: usize) -> Sorter {
        Sorter {
            pending: Batch::new(),
            spare: Batch::new(),
            budget,
            runs: Vec::new(),
            spills: 0,
            fan_in: FAN_IN,
            count: 0,
        }
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Takes the entries of `batch` (an alert's JSON line, or any bytes), leaving it empty;
    /// spills to disk when the memory budget is exceeded.
    pub fn extend(&mut self, batch: &mut Batch) -> io::Result<()> {
        if self.take(batch) {
            self.spill()?;
        }
        Ok(())
    }

    /// Moves the entries of `batch` into memory; whether they are now past the budget.
    fn take(&mut self, batch: &mut Batch) -> bool {
        self.reserve(batch.bytes.len());
        self.count += batch.len() as u64;
        self.pending.append(batch);
        self.pending.memory() > self.budget
    }

    /// Makes room for `more` bytes, growing the buffer by doubling but never past what the
    /// budget needs: one batch past the budget is spilled, so the buffer stops growing
    /// near it instead of doubling once more.
    fn reserve(&mut self, more: usize) {
        let bytes = &mut self.pending.bytes;
        let needed = bytes.len() + more;
        if needed <= bytes.capacity() {
            return;
        }
        let target = (bytes.capacity() * 2)
            .min(self.budget)
            .max(needed)
            .max(4096);
        bytes.reserve_exact(target - bytes.len());
    }

    /// How many batches went to disk.
    pub fn spilled_runs(&self) -> usize {
        self.spills
    }

    fn spill(&mut self) -> io::Result<()> {
        let run = write_run(&mut self.pending)?;
        self.add_run(run)
    }

    /// Takes a run written from this sorter's entries. `fan_in` runs of one level merge
    /// into one run of the next, so a huge output keeps few files open (fewer than `fan_in`
    /// per level) and each entry is rewritten once per level, not once per merge.
    fn add_run(&mut self, run: Run) -> io::Result<()> {
        self.runs.push(run);
        self.spills += 1;
        let mut level = 0;
        while self.runs.iter().filter(|r| r.level == level).count() >= self.fan_in {
            let (same, rest) = std::mem::take(&mut self.runs)
                .into_iter()
                .partition::<Vec<Run>, _>(|r| r.level == level);
            self.runs = rest;
            let (mut merged, mut out) = Run::create()?;
            merge(&same, std::iter::empty(), |key, line| {
                write_entry(&mut out, key, line)
            })?;
            out.flush()?;
            drop(out);
            level += 1;
            merged.level = level;
            self.runs.push(merged);
        }
        Ok(())
    }

    /// Hands every entry to `take`, in key order, merging the runs on disk with what is
    /// left in memory.
    pub fn for_each(self, take: impl FnMut(SortKey, &[u8]) -> io::Result<()>) -> io::Result<()> {
        self.into_sorted().for_each(take)
    }

    /// The entries, ready to be read in order as many times as needed.
    pub fn into_sorted(mut self) -> Sorted {
        self.pending.sort();
        Sorted(self)
    }
}

/// A sorter's entries in order, which any number of threads can read at once, each
/// merging the runs on disk for itself.
#[derive(Debug)]
pub struct Sorted(Sorter);

impl Sorted {
    pub fn len(&self) -> u64 {
        self.0.count
    }

    pub fn is_empty(&self) -> bool {
        self.0.count == 0
    }

    /// Hands every entry to `take`, in key order.
    pub fn for_each(
        &self,
        mut take: impl FnMut(SortKey, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let sorter = &self.0;
        if sorter.runs.is_empty() {
            for (key, line) in sorter.pending.iter() {
                take(key, line)?;
            }
            return Ok(());
        }
        merge(&sorter.runs, sorter.pending.iter(), take)
    }

    /// Feeds for `readers` readers, each of which gets every entry in order, and the
    /// merging that fills them, to be run on a thread of its own meanwhile (it fails if a
    /// run cannot be read back; a feed then ends early, so its reader's result must wait
    /// for the merging's). A reader that stops drops its feed; the merging goes on for the
    /// others. The runs are merged once whatever the number of readers: on a log whose every
    /// record feeds a correlation, merging was a third of the correlation stage, and each
    /// thread of the stage merged them all for itself.
    pub fn feeds(
        &self,
        readers: usize,
    ) -> (Vec<Feed>, impl FnOnce() -> io::Result<()> + Send + '_) {
        let (senders, feeds): (Vec<_>, Vec<_>) = (0..readers)
            .map(|_| {
                let (sender, receiver) = std::sync::mpsc::sync_channel(FEED_BATCHES);
                (sender, Feed(receiver))
            })
            .unzip();
        let merge = move || {
            let mut senders: Vec<_> = senders.into_iter().map(Some).collect();
            // Hands a batch to every reader still reading; `false` once none is.
            let mut hand_over = |batch: Batch| {
                let batch = std::sync::Arc::new(batch);
                for sender in &mut senders {
                    if sender
                        .as_ref()
                        .is_some_and(|s| s.send(batch.clone()).is_err())
                    {
                        *sender = None;
                    }
                }
                senders.iter().any(Option::is_some)
            };
            let mut batch = Batch::new();
            let mut readers_gone = false;
            let merged = self.for_each(|key, bytes| {
                batch.push(key, bytes);
                if batch.len() >= FEED_BATCH_ENTRIES && !hand_over(std::mem::take(&mut batch)) {
                    readers_gone = true;
                    return Err(io::Error::other(
                        "every reader of the merged entries stopped",
                    ));
                }
                Ok(())
            });
            if readers_gone {
                return Ok(());
            }
            merged?;
            hand_over(batch);
            Ok(())
        };
        (feeds, merge)
    }
}

/// Entries handed over at once to a feed: the hand-over costs far less than they do.
const FEED_BATCH_ENTRIES: usize = 1024;
/// Batches a feed holds before the merging waits for its reader.
const FEED_BATCHES: usize = 4;

/// The entries of a `Sorted`, in order, as its merging hands them over (see
/// `Sorted::feeds`).
#[derive(Debug)]
pub struct Feed(std::sync::mpsc::Receiver<std::sync::Arc<Batch>>);

impl Feed {
    /// Hands every entry to `take`, in key order, until the merging ends or `take` fails.
    pub fn for_each(
        self,
        mut take: impl FnMut(SortKey, &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        for batch in self.0 {
            for (key, bytes) in batch.iter() {
                take(key, bytes)?;
            }
        }
        Ok(())
    }
}

/// Sorts `batch` and writes it to a new run, leaving the batch empty.
fn write_run(batch: &mut Batch) -> io::Result<Run> {
    batch.sort();
    let (run, mut out) = Run::create()?;
    for (key, line) in batch.iter() {
        write_entry(&mut out, key, line)?;
    }
    out.flush()?;
    drop(out);
    batch.clear();
    Ok(run)
}

/// A sorter that many threads feed at once. A thread whose batch takes the entries past
/// the budget takes them out and sorts and writes them to disk after releasing the lock,
/// so the other threads go on adding theirs meanwhile instead of waiting: the matches of
/// a log whose every record feeds a correlation spill about 40 times per 300 MB, each
/// spill a few milliseconds of sorting and writing (measured: 2-3% off a two-thread hunt
/// of that log, no more memory at peak on the 1 GB tree). The price is at most one more
/// budget of entries in memory per thread spilling at that moment.
#[derive(Debug)]
pub struct SharedSorter {
    sorter: std::sync::Mutex<Sorter>,
    /// Keeps a spilled batch's room for the next entries (see `keeping_room`).
    keep_room: bool,
}

impl SharedSorter {
    pub fn new(budget: usize) -> SharedSorter {
        SharedSorter {
            sorter: std::sync::Mutex::new(Sorter::new(budget)),
            keep_room: false,
        }
    }

    /// A sorter that keeps the room of the batch it last spilled for the next entries,
    /// which costs one more budget of memory: for one that spills often. A hunt's matches
    /// spill every 1 MiB when every record feeds a correlation (40 times over the dense
    /// 300 MB log), and faulting in new memory for each batch was a third of what spilling
    /// cost (system time 0.29-0.38 s to 0.22-0.24 s, two threads). Alerts spill rarely, and
    /// their 4 MiB kept would have been 7 MB more at the peak of the 1 GB tree.
    pub fn keeping_room(budget: usize) -> SharedSorter {
        SharedSorter {
            keep_room: true,
            ..SharedSorter::new(budget)
        }
    }

    /// `Sorter::extend`, spilling outside the lock.
    pub fn extend(&self, batch: &mut Batch) -> io::Result<()> {
        let mut full = {
            let mut sorter = self.lock();
            if !sorter.take(batch) {
                return Ok(());
            }
            let spare = std::mem::take(&mut sorter.spare);
            std::mem::replace(&mut sorter.pending, spare)
        };
        let run = write_run(&mut full)?;
        let mut sorter = self.lock();
        sorter.add_run(run)?;
        if self.keep_room && full.bytes.capacity() > sorter.spare.bytes.capacity() {
            sorter.spare = full;
        }
        Ok(())
    }

    /// The sorter, once every thread is done with it.
    pub fn into_inner(self) -> Sorter {
        self.sorter.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// The sorter, also after a thread panicked holding it (its entries are still whole:
    /// nothing panics between taking the lock and changing them).
    fn lock(&self) -> std::sync::MutexGuard<'_, Sorter> {
        self.sorter.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The buffer a run is written through. A run is a whole batch written at once; with the
/// default 8 KiB, writing the 40 runs of a log whose every record feeds a correlation took
/// 7,000 `write` calls per 300 MB, and 64 KiB took 0.02-0.04 s off the hunt (system time
/// 0.15-0.21 to 0.13-0.18 s with tansa's pack on the dense 300 MB log, one thread). Runs
/// are read back through the default buffer: one per run, and a larger one changed nothing.
const RUN_WRITE_BUFFER: usize = 64 * 1024;

/// How many runs of one level merge into one of the next.
const FAN_IN: usize = 256;

impl Run {
    fn create() -> io::Result<(Run, BufWriter<File>)> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "tansa-{}-{}.run",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let out = BufWriter::with_capacity(RUN_WRITE_BUFFER, File::create(&path)?);
        Ok((Run { path, level: 0 }, out))
    }
}

fn write_entry(out: &mut impl Write, key: SortKey, line: &[u8]) -> io::Result<()> {
    out.write_all(&key.to_bytes())?;
    out.write_all(&(line.len() as u64).to_le_bytes())?;
    out.write_all(line)
}

/// Hands the entries of sorted `runs` and of the sorted `memory` to `take`, in order.
fn merge<'m>(
    runs: &[Run],
    mut memory: impl Iterator<Item = (SortKey, &'m [u8])>,
    mut take: impl FnMut(SortKey, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let mut readers = Vec::with_capacity(runs.len());
    for run in runs {
        readers.push(BufReader::new(File::open(&run.path)?));
    }
    let memory_source = readers.len();
    // The next entry of `source` (a run, or the in-memory remainder), read into `line`.
    let mut next = |source: usize, line: &mut Vec<u8>| -> io::Result<Option<SortKey>> {
        if source < memory_source {
            return read_entry(&mut readers[source], line);
        }
        Ok(memory.next().map(|(key, bytes)| {
            line.clear();
            line.extend_from_slice(bytes);
            key
        }))
    };
    // Heap of (key, bytes, source), ordered as the runs are. The head's source gives its
    // next entry in the head's place, which then sinks to where it belongs: one pass down
    // the heap per entry, not a pop and a push, and its buffer is reused, so merging
    // allocates nothing per entry.
    let mut heap = BinaryHeap::new();
    for source in 0..=memory_source {
        let mut line = Vec::new();
        if let Some(key) = next(source, &mut line)? {
            heap.push(Reverse((key, line, source)));
        }
    }
    while let Some(mut head) = heap.peek_mut() {
        let Reverse((key, line, source)) = &mut *head;
        take(*key, line)?;
        match next(*source, line)? {
            Some(next_key) => *key = next_key,
            None => {
                std::collections::binary_heap::PeekMut::pop(head);
            }
        }
    }
    Ok(())
}

/// Reads the next entry of a run into `line` (whose buffer is reused); its key, or `None`
/// at the end of the run.
fn read_entry(reader: &mut impl Read, line: &mut Vec<u8>) -> io::Result<Option<SortKey>> {
    let mut key = [0u8; KEY_BYTES];
    match reader.read_exact(&mut key) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut len = [0u8; 8];
    reader.read_exact(&mut len)?;
    line.clear();
    line.resize(u64::from_le_bytes(len) as usize, 0);
    reader.read_exact(line)?;
    Ok(Some(SortKey::from_bytes(&key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(time: i128, rule: u32) -> SortKey {
        SortKey {
            time,
            file: 0,
            record: 0,
            rule,
        }
    }

    fn batch(entries: &[(SortKey, Vec<u8>)]) -> Batch {
        let mut batch = Batch::new();
        for (key, line) in entries {
            batch.push(*key, line);
        }
        batch
    }

    /// Entries left out take their bytes with them; the others keep their keys, bytes and
    /// order, and the batch takes entries again after.
    #[test]
    fn retain_keeps_the_entries_asked_for_in_order() {
        let mut kept = batch(&[
            (key(3, 0), b"one".to_vec()),
            (key(1, 1), b"two, longer".to_vec()),
            (key(2, 2), b"three".to_vec()),
            (key(2, 3), Vec::new()),
            (key(5, 4), b"five".to_vec()),
        ]);
        kept.retain(|key, _| key.rule % 2 == 0);
        let entries = |b: &Batch| -> Vec<(u32, Vec<u8>)> {
            b.iter()
                .map(|(k, bytes)| (k.rule, bytes.to_vec()))
                .collect()
        };
        assert_eq!(
            entries(&kept),
            [
                (0, b"one".to_vec()),
                (2, b"three".to_vec()),
                (4, b"five".to_vec())
            ]
        );
        assert_eq!(kept.bytes.len(), "onethreefive".len());
        kept.retain(|_, bytes| bytes != b"one");
        kept.push(key(0, 9), b"nine");
        assert_eq!(
            entries(&kept),
            [
                (2, b"three".to_vec()),
                (4, b"five".to_vec()),
                (9, b"nine".to_vec())
            ]
        );
        kept.retain(|_, _| false);
        assert!(kept.is_empty() && kept.bytes.is_empty());
    }

    proptest::proptest! {
        /// `retain` keeps what a filter over the entries keeps, whatever the lengths.
        #[test]
        fn retain_is_a_filter(
            entries in proptest::collection::vec(
                (proptest::prelude::any::<bool>(), proptest::collection::vec(0u8..4, 0..12)),
                0..40,
            ),
        ) {
            let all: Vec<(SortKey, Vec<u8>)> = entries
                .iter()
                .enumerate()
                .map(|(n, (_, bytes))| (key(0, n as u32), bytes.clone()))
                .collect();
            let mut kept = batch(&all);
            kept.retain(|key, _| entries[key.rule as usize].0);
            let expected: Vec<(SortKey, Vec<u8>)> = all
                .into_iter()
                .filter(|(key, _)| entries[key.rule as usize].0)
                .collect();
            let got: Vec<(SortKey, Vec<u8>)> =
                kept.iter().map(|(key, bytes)| (key, bytes.to_vec())).collect();
            proptest::prop_assert_eq!(got, expected);
        }
    }

    fn output(sorter: Sorter) -> Vec<String> {
        lines(&sorter.into_sorted())
    }

    fn lines(sorted: &Sorted) -> Vec<String> {
        let mut out = Vec::new();
        sorted
            .for_each(|_, line| {
                out.push(String::from_utf8(line.to_vec()).unwrap());
                Ok(())
            })
            .unwrap();
        out
    }

    #[test]
    fn spilled_runs_merge_into_the_same_order_as_memory() {
        let alerts: Vec<(SortKey, Vec<u8>)> = (0..5000)
            .map(|i| {
                let t = (i * 7919 % 5000) as i128;
                (
                    key(t, (i % 3) as u32),
                    format!("{{\"t\":{t},\"r\":{}}}", i % 3).into_bytes(),
                )
            })
            .collect();
        let mut in_memory = Sorter::new(usize::MAX);
        let mut spilling = Sorter::new(4096);
        for chunk in alerts.chunks(97) {
            in_memory.extend(&mut batch(chunk)).unwrap();
            spilling.extend(&mut batch(chunk)).unwrap();
        }
        assert_eq!(in_memory.spilled_runs(), 0);
        assert!(spilling.spilled_runs() > 10);
        let runs: Vec<PathBuf> = spilling.runs.iter().map(|r| r.path.clone()).collect();
        let expected = output(in_memory);
        assert_eq!(expected.len(), 5000);
        assert_eq!(output(spilling), expected);
        // The runs are gone.
        assert!(runs.iter().all(|p| !p.exists()));
        let mut sorted = alerts.clone();
        sorted.sort_by_key(|(k, _)| *k);
        assert_eq!(
            expected,
            sorted
                .into_iter()
                .map(|(_, l)| String::from_utf8(l).unwrap())
                .collect::<Vec<_>>()
        );
    }

    /// Sorted entries read twice at once, by two threads each merging the runs on disk
    /// for itself, come out whole and in order both times.
    #[test]
    fn sorted_entries_read_by_two_threads_at_once_come_out_whole_each_time() {
        let (sorted, expected) = spilled(3000);
        assert_eq!(sorted.len(), 3000);
        let read = || lines(&sorted);
        let (first, second) = std::thread::scope(|scope| {
            let first = scope.spawn(read);
            let second = scope.spawn(read);
            (first.join().unwrap(), second.join().unwrap())
        });
        assert_eq!(first, expected);
        assert_eq!(second, expected);
        assert_eq!(read(), expected, "and again after");
    }

    fn spilled(count: i128) -> (Sorted, Vec<String>) {
        let mut spilling = Sorter::new(4096);
        let mut in_memory = Sorter::new(usize::MAX);
        for chunk in (0..count).collect::<Vec<i128>>().chunks(50) {
            let entries: Vec<(SortKey, Vec<u8>)> = chunk
                .iter()
                .map(|&i| (key(i * 7919 % count, 0), i.to_string().into_bytes()))
                .collect();
            spilling.extend(&mut batch(&entries)).unwrap();
            in_memory.extend(&mut batch(&entries)).unwrap();
        }
        assert!(spilling.spilled_runs() > 10);
        (spilling.into_sorted(), output(in_memory))
    }

    fn read_feed(feed: Feed, stop_after: usize) -> (io::Result<()>, Vec<String>) {
        let mut out = Vec::new();
        let result = feed.for_each(|_, line| {
            if out.len() == stop_after {
                return Err(io::Error::other("enough"));
            }
            out.push(String::from_utf8(line.to_vec()).unwrap());
            Ok(())
        });
        (result, out)
    }

    /// Runs merged once for three readers: each gets every entry in order, and one that
    /// stops early holds back neither the others nor the merging.
    #[test]
    fn merged_entries_fed_to_many_readers_reach_each_whole_and_in_order() {
        let (sorted, expected) = spilled(5000);
        let (feeds, merge) = sorted.feeds(3);
        let (merged, read) = std::thread::scope(|scope| {
            let merging = scope.spawn(merge);
            let readers: Vec<_> = feeds
                .into_iter()
                .zip([usize::MAX, 10, usize::MAX])
                .map(|(feed, stop_after)| scope.spawn(move || read_feed(feed, stop_after)))
                .collect();
            let read: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
            (merging.join().unwrap(), read)
        });
        merged.unwrap();
        assert!(read[0].0.is_ok() && read[2].0.is_ok());
        assert_eq!(read[0].1, expected);
        assert_eq!(read[2].1, expected);
        assert!(read[1].0.is_err());
        assert_eq!(read[1].1, expected[..10]);
        // Every reader stopping stops the merging, which is not an error.
        let (feeds, merge) = sorted.feeds(2);
        drop(feeds);
        merge().unwrap();
    }

    /// A run that cannot be read back fails the merging; its feeds end early.
    #[test]
    fn a_run_lost_fails_the_merging_of_feeds() {
        let (sorted, expected) = spilled(3000);
        std::fs::remove_file(&sorted.0.runs[0].path).unwrap();
        let (mut feeds, merge) = sorted.feeds(1);
        let feed = feeds.pop().unwrap();
        let (merged, (read, out)) = std::thread::scope(|scope| {
            let merging = scope.spawn(merge);
            let read = read_feed(feed, usize::MAX);
            (merging.join().unwrap(), read)
        });
        assert!(merged.is_err());
        assert!(read.is_ok() && out.len() < expected.len());
    }

    /// Four threads feeding one shared sorter, which spills outside its lock, give the
    /// entries back in the order one sorter kept in memory gives them; also when each
    /// spill's room is kept for the next entries.
    #[test]
    fn threads_spilling_at_once_lose_and_reorder_nothing() {
        let entries: Vec<(SortKey, Vec<u8>)> = (0..8000)
            .map(|i| {
                let t = (i * 7919 % 8000) as i128;
                (key(t, (i % 5) as u32), format!("entry {i}").into_bytes())
            })
            .collect();
        for shared in [SharedSorter::new(2048), SharedSorter::keeping_room(2048)] {
            std::thread::scope(|scope| {
                for part in entries.chunks(2000) {
                    let shared = &shared;
                    scope.spawn(move || {
                        for chunk in part.chunks(31) {
                            shared.extend(&mut batch(chunk)).unwrap();
                        }
                    });
                }
            });
            let spilling = shared.into_inner();
            assert!(spilling.spilled_runs() > 40);
            assert_eq!(spilling.len(), 8000);
            let mut in_memory = Sorter::new(usize::MAX);
            in_memory.extend(&mut batch(&entries)).unwrap();
            assert_eq!(output(spilling), output(in_memory));
        }
    }

    #[test]
    fn memory_stays_near_the_budget_however_many_entries_arrive() {
        let budget = 50_000;
        let mut sorter = Sorter::new(budget);
        let mut largest = 0;
        for batch in 0..500u32 {
            let mut entries = Batch::new();
            for i in 0..7 {
                entries.push(key(i128::from(batch * 7 + i), 0), &[b'x'; 700]);
            }
            sorter.extend(&mut entries).unwrap();
            assert!(entries.is_empty());
            largest = largest.max(sorter.pending.bytes.capacity());
        }
        assert!(sorter.spilled_runs() > 30);
        // One batch (7 x 700 bytes) may go past the budget before it spills; the buffer
        // never doubles beyond that.
        assert!(largest <= budget + 7 * 700, "buffer grew to {largest}");
        assert_eq!(output(sorter).len(), 3500);
    }

    #[test]
    fn equal_keys_come_out_in_one_order_whatever_the_arrival_order() {
        let entries: Vec<(SortKey, Vec<u8>)> = (0..3000)
            .map(|i| {
                (
                    key(i % 7, 0),
                    format!("{{\"n\":{}}}", i * 31 % 3000).into_bytes(),
                )
            })
            .collect();
        let mut forward = Sorter::new(2048);
        let mut backward = Sorter::new(usize::MAX);
        for chunk in entries.chunks(61) {
            forward.extend(&mut batch(chunk)).unwrap();
        }
        for chunk in entries.rchunks(13) {
            backward.extend(&mut batch(chunk)).unwrap();
        }
        assert!(forward.spilled_runs() > 5);
        assert_eq!(output(forward), output(backward));
    }

    #[test]
    fn runs_merge_by_levels_and_the_output_is_the_same() {
        let entries: Vec<(SortKey, Vec<u8>)> = (0..20_000)
            .map(|i| {
                (
                    key(i * 7919 % 20_000, 0),
                    format!("{{\"i\":{i}}}").into_bytes(),
                )
            })
            .collect();
        let mut spilling = Sorter {
            fan_in: 4,
            ..Sorter::new(1024)
        };
        let mut in_memory = Sorter::new(usize::MAX);
        for chunk in entries.chunks(50) {
            spilling.extend(&mut batch(chunk)).unwrap();
            in_memory.extend(&mut batch(chunk)).unwrap();
        }
        assert!(spilling.spilled_runs() > 4 * 4 * 4);
        assert!(spilling.runs.len() < 4 * 4, "{}", spilling.runs.len());
        assert!(spilling.runs.iter().any(|r| r.level >= 2));
        assert_eq!(spilling.len(), 20_000);
        assert_eq!(output(spilling), output(in_memory));
    }
}
