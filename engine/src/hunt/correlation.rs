//! The correlation stage's side of a hunt: match records in, correlation alerts out. The
//! batch hunt feeds it every match once all inputs are read, in time order; the stream
//! feeds it each event's matches as they come.
//!
//! With more than one thread, the batch stage runs the plan's independent chains of
//! correlations (`Plan::chains`) apart, each thread reading every match for its chains:
//! on the archived-logons bench the stage had been a third of a two-thread hunt, on one
//! core. One more thread merges the sorted matches, once for all of them (`Sorted::feeds`),
//! also when one thread correlates them all. Chains share nothing but the cap on live
//! groups, so what they fire apart is what one correlator fires, unless the cap could have
//! been reached; then the stage runs again with one correlator, which applies the cap as
//! the matches come. Either way the alerts are the same at any thread count. (The summary's peak of live groups is then the sum of
//! each chain's peak: no moment had more.)

use super::evaluate::Context;
use crate::alert::CorrelationAlert;
use crate::correlate::{self, Correlator, MatchRef, Stats};
use crate::order::{Batch, Feed, SortKey, Sorted, Sorter};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Alerts of one thread's chains, held before spilling; they are usually few.
const CHAIN_ALERT_BUDGET: usize = 1024 * 1024;
/// Matches between two looks at how many groups all threads hold.
const GUARD_EVERY: u64 = 4096;

/// The room a match's fields are listed in, kept from one match to the next: a stage
/// reads every match of a hunt, and allocating and freeing the list for each was a tenth of
/// what handing one to the correlators cost (the dense log with the pack). Between matches
/// it is empty, so it borrows no text.
#[derive(Default)]
pub(crate) struct FieldsRoom(Vec<(&'static str, Option<&'static str>)>);

impl FieldsRoom {
    /// The room, empty, for the texts of one match.
    fn take<'a>(&mut self) -> Vec<(&'a str, Option<&'a str>)> {
        relabel(std::mem::take(&mut self.0))
    }

    /// Puts the room back once the match is done with it.
    fn give_back(&mut self, fields: Vec<(&str, Option<&str>)>) {
        self.0 = relabel(fields);
    }
}

/// An emptied list of texts as a list of texts of another lifetime, in the same
/// allocation: collecting an empty list into one with elements of the same layout reuses
/// the allocation (and would only allocate anew if it did not).
fn relabel<'a, 'b>(mut fields: Vec<(&'a str, Option<&'a str>)>) -> Vec<(&'b str, Option<&'b str>)> {
    fields.clear();
    fields.into_iter().map(|_| ("", None)).collect()
}

/// Hands one match record (`correlate::wire`, as `Evaluator` writes it) to each of
/// `correlators`.
pub(crate) fn push_match(
    context: &Context<'_>,
    correlators: &mut [Correlator<'_>],
    room: &mut FieldsRoom,
    key: SortKey,
    bytes: &[u8],
) -> io::Result<()> {
    let damaged = || io::Error::new(io::ErrorKind::InvalidData, "a damaged match record");
    let program = context.program;
    let m = correlate::wire::decode(bytes).ok_or_else(damaged)?;
    let compiled = program
        .compiled_rules()
        .get(m.rule as usize)
        .ok_or_else(damaged)?;
    let feed = program.feed(m.rule).ok_or_else(damaged)?;
    let input = context.files.get(m.file as usize).ok_or_else(damaged)?;
    let mut fields = room.take();
    fields.extend(
        feed.fields
            .iter()
            .zip(m.values)
            .map(|((name, _), value)| (&**name, value)),
    );
    let m = MatchRef {
        time: m.time,
        rule: &compiled.info.meta.id,
        host: m.host,
        channel: m.channel,
        record_id: m.record,
        file: &context.names[m.file as usize],
        format: input.format.as_str(),
        fields,
    };
    for correlator in correlators {
        correlator.push(key, &m);
    }
    room.give_back(m.fields);
    Ok(())
}

/// What has fired so far, as serialized alerts with their place in the output (a
/// correlation kept silent by one built on it writes nothing), counted in `levels`.
pub(crate) fn fired_alerts(
    context: &Context<'_>,
    correlator: &mut Correlator<'_>,
    alerts: &mut Batch,
    levels: &mut [u64; 5],
) {
    let plan = context.program.correlations();
    for fired in correlator.drain() {
        let node = &plan.nodes()[fired.node as usize];
        if !node.emits {
            continue;
        }
        levels[node.info.meta.level as usize] += 1;
        let alert = CorrelationAlert::new(&node.info, &fired, context.options.lang);
        let number = context.correlation_number(fired.node);
        context.make_rule_text(number, &node.info.meta, &node.info.source.path);
        alerts.push_with(fired.key, |bytes| alert.write_entry(number, bytes));
    }
}

/// Adds alerts counted by level to the hunt's counts.
pub(crate) fn count_levels(context: &Context<'_>, levels: &[u64; 5]) {
    for (total, &n) in context.levels.iter().zip(levels) {
        total.fetch_add(n, Ordering::Relaxed);
    }
}

/// The batch stage: every match, in time order, through the correlations; what fires goes
/// to `alerts`. `fed` counts the matches of each compiled rule.
pub(crate) fn correlate_all(
    context: &Context<'_>,
    matches: Sorter,
    fed: &[u64],
    alerts: &mut Sorter,
) -> io::Result<Stats> {
    let matches = matches.into_sorted();
    let threads = match context.options.threads {
        0 => rayon::current_num_threads(),
        n => n,
    };
    let shares = shares(context, fed, threads);
    if shares.len() > 1
        && let Some(stats) = correlate_apart(context, &matches, &shares, alerts)?
    {
        return Ok(stats);
    }
    if threads == 1 {
        return correlate_together(context, Matches::Sorted(&matches), alerts);
    }
    // The runs merged on another thread meanwhile.
    std::thread::scope(|scope| {
        let (mut feeds, merge) = matches.feeds(1);
        let merging = scope.spawn(merge);
        let feed = feeds.pop().expect("one feed asked for");
        let correlated = correlate_together(context, Matches::Fed(feed), alerts);
        join(merging)?;
        correlated
    })
}

/// Where a correlator reads the matches: merging the runs itself, or as another thread
/// merges them.
enum Matches<'a> {
    Sorted(&'a Sorted),
    Fed(Feed),
}

impl Matches<'_> {
    fn for_each(self, take: impl FnMut(SortKey, &[u8]) -> io::Result<()>) -> io::Result<()> {
        match self {
            Matches::Sorted(sorted) => sorted.for_each(take),
            Matches::Fed(feed) => feed.for_each(take),
        }
    }
}

/// A scoped thread's result; its panic goes on in this thread.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// One correlator for every correlation: the cap on live groups applies to all of them at
/// once, in the order of the matches.
fn correlate_together(
    context: &Context<'_>,
    matches: Matches<'_>,
    alerts: &mut Sorter,
) -> io::Result<Stats> {
    let mut correlator =
        Correlator::new(context.program.correlations(), context.options.max_groups);
    let correlators = std::slice::from_mut(&mut correlator);
    let mut fired = Batch::new();
    let mut levels = [0; 5];
    let mut room = FieldsRoom::default();
    matches.for_each(|key, bytes| {
        push_match(context, correlators, &mut room, key, bytes)?;
        fired_alerts(context, &mut correlators[0], &mut fired, &mut levels);
        alerts.extend(&mut fired)
    })?;
    correlator.finish();
    fired_alerts(context, &mut correlator, &mut fired, &mut levels);
    alerts.extend(&mut fired)?;
    count_levels(context, &levels);
    Ok(correlator.stats())
}

/// The chains some match feeds, dealt out to at most `threads` threads: heaviest first,
/// each to the thread with the least so far. A chain weighs what its correlations are fed:
/// each rule's matches, once for each place in their `rules` lists it fills.
fn shares(context: &Context<'_>, fed: &[u64], threads: usize) -> Vec<Vec<Vec<u32>>> {
    let plan = context.program.correlations();
    let chains = plan.chains();
    let mut chain_of = vec![0; plan.nodes().len()];
    for (index, chain) in chains.iter().enumerate() {
        for &node in chain {
            chain_of[node as usize] = index;
        }
    }
    let mut weight = vec![0u64; chains.len()];
    for (compiled, &matches) in context.program.compiled_rules().iter().zip(fed) {
        for slot in plan
            .inputs
            .get(&compiled.info.meta.id)
            .into_iter()
            .flatten()
        {
            weight[chain_of[slot.node as usize]] += matches;
        }
    }
    deal(&weight, threads)
        .into_iter()
        .map(|share| share.into_iter().map(|c| chains[c].clone()).collect())
        .collect()
}

/// Items of some weight (the ones of none left out) dealt to at most `threads` shares:
/// heaviest first, each to the share with the least weight so far, the first of those on
/// a tie. Always at least one share.
fn deal(weights: &[u64], threads: usize) -> Vec<Vec<usize>> {
    let mut items: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0).collect();
    items.sort_by_key(|&i| std::cmp::Reverse(weights[i]));
    let mut shares: Vec<(u64, Vec<usize>)> =
        vec![(0, Vec::new()); threads.clamp(1, items.len().max(1))];
    for item in items {
        let lightest = shares
            .iter_mut()
            .min_by_key(|(load, _)| *load)
            .expect("at least one share");
        lightest.0 += weights[item];
        lightest.1.push(item);
    }
    shares.into_iter().map(|(_, items)| items).collect()
}

/// What one thread's chains fired and counted.
struct ShareResult {
    alerts: Sorter,
    levels: [u64; 5],
    stats: Stats,
}

/// Runs each share on its own thread. `None` when the result could differ from one
/// correlator's: the chains' live groups, each at its peak, add up to the cap (whether they
/// reached it together depends on when), or together they held that many at some moment
/// and the threads stopped so as not to hold more.
fn correlate_apart(
    context: &Context<'_>,
    matches: &Sorted,
    shares: &[Vec<Vec<u32>>],
    alerts: &mut Sorter,
) -> io::Result<Option<Stats>> {
    let max_groups = context.options.max_groups;
    let live: Vec<AtomicUsize> = shares.iter().map(|_| AtomicUsize::new(0)).collect();
    let stop = AtomicBool::new(false);
    // The runs are merged once, on a thread of their own, for every share.
    let results: Vec<io::Result<Option<ShareResult>>> = std::thread::scope(|scope| {
        let (feeds, merge) = matches.feeds(shares.len());
        let merging = scope.spawn(merge);
        let handles: Vec<_> = shares
            .iter()
            .zip(feeds)
            .enumerate()
            .map(|(index, (chains, feed))| {
                let (live, stop) = (&live, &stop);
                scope.spawn(move || run_share(context, feed, chains, index, live, stop))
            })
            .collect();
        let results = handles.into_iter().map(join).collect();
        // A merging that failed ended the feeds early: the shares' results are short.
        join(merging).map(|()| results)
    })?;
    let mut done = Vec::with_capacity(results.len());
    for result in results {
        match result? {
            Some(share) => done.push(share),
            None => return Ok(None),
        }
    }
    let peaks: usize = done.iter().map(|share| share.stats.peak_groups).sum();
    if peaks >= max_groups {
        return Ok(None);
    }
    let mut stats = Stats::default();
    let mut batch = Batch::new();
    for share in done {
        stats.add(&share.stats);
        count_levels(context, &share.levels);
        share.alerts.for_each(|key, bytes| {
            batch.push(key, bytes);
            if batch.len() >= 1024 {
                alerts.extend(&mut batch)?;
            }
            Ok(())
        })?;
        alerts.extend(&mut batch)?;
    }
    Ok(Some(stats))
}

/// One thread: every match through a correlator per chain of `chains`. Every
/// `GUARD_EVERY` matches it says in `live[index]` how many groups it holds, and stops
/// (`None`) once all threads together hold the cap.
fn run_share(
    context: &Context<'_>,
    matches: Feed,
    chains: &[Vec<u32>],
    index: usize,
    live: &[AtomicUsize],
    stop: &AtomicBool,
) -> io::Result<Option<ShareResult>> {
    let plan = context.program.correlations();
    let max_groups = context.options.max_groups;
    let mut correlators: Vec<Correlator<'_>> = chains
        .iter()
        .map(|nodes| Correlator::for_nodes(plan, max_groups, nodes))
        .collect();
    let mut alerts = Sorter::new(CHAIN_ALERT_BUDGET);
    let mut fired = Batch::new();
    let mut levels = [0; 5];
    let mut taken = 0u64;
    let mut room = FieldsRoom::default();
    let result = matches.for_each(|key, bytes| {
        push_match(context, &mut correlators, &mut room, key, bytes)?;
        for correlator in &mut correlators {
            fired_alerts(context, correlator, &mut fired, &mut levels);
        }
        alerts.extend(&mut fired)?;
        taken += 1;
        if taken.is_multiple_of(GUARD_EVERY) {
            let held = correlators.iter().map(Correlator::live_groups).sum();
            live[index].store(held, Ordering::Relaxed);
            let all: usize = live.iter().map(|l| l.load(Ordering::Relaxed)).sum();
            if all >= max_groups {
                stop.store(true, Ordering::Relaxed);
            }
            if stop.load(Ordering::Relaxed) {
                return Err(io::Error::other("another thread found the cap reached"));
            }
        }
        Ok(())
    });
    match result {
        // Stopped, or failed while stopping: one correlator will read them all again.
        Err(_) if stop.load(Ordering::Relaxed) => return Ok(None),
        result => result?,
    }
    let mut stats = Stats::default();
    for correlator in &mut correlators {
        correlator.finish();
        fired_alerts(context, correlator, &mut fired, &mut levels);
        stats.add(&correlator.stats());
    }
    alerts.extend(&mut fired)?;
    Ok(Some(ShareResult {
        alerts,
        levels,
        stats,
    }))
}

#[cfg(test)]
mod tests {
    use super::{FieldsRoom, deal};

    #[test]
    fn a_match_lists_its_fields_in_the_room_the_last_one_left() {
        let mut room = FieldsRoom::default();
        let first = String::from("10.0.0.5");
        let mut fields = room.take();
        fields.push(("IpAddress", Some(first.as_str())));
        let allocation = fields.as_ptr() as usize;
        room.give_back(fields);
        drop(first);
        let second = String::from("PC02");
        let mut fields = room.take();
        assert!(fields.is_empty());
        assert_eq!(fields.as_ptr() as usize, allocation);
        fields.push(("Computer", Some(second.as_str())));
        assert_eq!(fields, [("Computer", Some("PC02"))]);
    }

    #[test]
    fn chains_are_dealt_heaviest_first_to_the_lightest_thread() {
        // The archived-logons bench: a chain of two fed 238k matches, then 101k, 89k, 12k.
        assert_eq!(deal(&[0, 238, 101, 89, 0, 12], 2), [vec![1], vec![2, 3, 5]]);
        assert_eq!(deal(&[5, 5, 5], 8), [vec![0], vec![1], vec![2]]);
        assert_eq!(deal(&[3, 1, 2], 1), [vec![0, 2, 1]]);
        // Nothing fed: one share with nothing to run.
        assert_eq!(deal(&[0, 0], 2), [Vec::<usize>::new()]);
        assert_eq!(deal(&[], 0), [Vec::<usize>::new()]);
    }
}
