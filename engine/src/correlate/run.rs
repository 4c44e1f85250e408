//! The correlation stage at run time: matches in time order in, firings out.
//!
//! Each correlation keeps its groups in a slab indexed by group key. A single queue of
//! timers, ordered by deadline, says when a group's window has emptied (sliding windows) or
//! closed (whole windows); before a match at time `t` is taken, every deadline before `t`
//! is handled, so what happens never depends on how matches were batched. A firing of an
//! inner correlation is fed to the correlations built on it at the time it fired, which is
//! never earlier than anything already taken: the stream stays in order at every level.

use super::plan::{Node, Plan};
use super::window::{Entry, Value, Window};
use super::{EVIDENCE_CAP, Evidence, MatchRef, Slot};
use crate::field::FxBuild;
use crate::hash::fnv1a128;
use crate::order::SortKey;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

/// A group's values of its correlation's `group-by` fields. Shared: the group holds it, and
/// the index that finds the group by it (a copy of the values for each had been 8% of the
/// archived logons' correlation stage, whose groups mostly live for one match).
type GroupKey = Arc<[Option<String>]>;

/// A correlation that fired: everything its alert says.
#[derive(Debug, Clone)]
pub struct Fired {
    /// Index into `Plan::nodes`.
    pub node: u32,
    /// Stable alert id.
    pub id: String,
    /// When it fired: the match that met the condition, or the end of a whole window.
    pub time: i64,
    /// Where the alert goes in the output.
    pub key: SortKey,
    /// The group-by fields and their values (`None`: the events did not have the field).
    pub group: Vec<(String, Option<String>)>,
    /// The aggregate when the condition first held, and the highest it reached.
    pub value: f64,
    pub peak: f64,
    pub first_time: i64,
    pub last_time: i64,
    /// Every contributing match; `evidence` holds the first `EVIDENCE_CAP` of them.
    pub events_total: u64,
    pub evidence: Vec<Arc<Evidence>>,
    /// `value_count`: the distinct values, the first `EVIDENCE_CAP` of them, and how many.
    pub values: Vec<String>,
    pub values_total: u64,
    /// Contributing matches per named rule, in the correlation's `rules` order.
    pub rule_counts: Vec<u64>,
}

/// What the stage did, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Matches received.
    pub matches: u64,
    /// Matches of an event already received (two copies of one log).
    pub duplicates: u64,
    /// Matches left out because the live-group cap was reached.
    pub over_cap: u64,
    /// The most groups alive at once.
    pub peak_groups: usize,
    /// Correlations that fired (written or not).
    pub fired: u64,
}

impl Stats {
    /// Adds the counts of correlators that ran other chains on the same matches: the
    /// live groups at the peak become the sum of each one's peak, which no moment exceeds.
    pub fn add(&mut self, other: &Stats) {
        self.matches += other.matches;
        self.duplicates += other.duplicates;
        self.over_cap += other.over_cap;
        self.peak_groups += other.peak_groups;
        self.fired += other.fired;
    }
}

struct Episode {
    fired: Arc<Evidence>,
    id: Arc<str>,
    value: f64,
    peak: f64,
    first: i64,
    last: i64,
    total: u64,
    evidence: Vec<Arc<Evidence>>,
    values: Vec<Box<str>>,
    seen: HashSet<Box<str>, FxBuild>,
    rule_counts: Vec<u64>,
}

impl Episode {
    fn add(&mut self, entry: &Entry) {
        // An inner correlation's firing brings the events that made it fire, then itself.
        for evidence in entry.evidence.parts.iter().chain([&entry.evidence]) {
            self.first = self.first.min(evidence.time);
            self.last = self.last.max(evidence.time);
            self.total += 1;
            if self.evidence.len() < EVIDENCE_CAP {
                self.evidence.push(evidence.clone());
            }
        }
        if let Value::Text(text) = &entry.value
            && self.seen.insert(text.clone())
            && self.values.len() < EVIDENCE_CAP
        {
            self.values.push(text.clone());
        }
        self.rule_counts[entry.slot as usize] += 1;
    }
}

struct Group {
    key: GroupKey,
    window: Window,
    episode: Option<Episode>,
    /// Whole windows: when the current one closes.
    closes_at: Option<i64>,
    /// The deadline of this group's pending timer.
    timer: Option<i64>,
}

#[derive(Default)]
struct NodeState {
    index: HashMap<GroupKey, u32, FxBuild>,
    slab: Vec<Option<Group>>,
    generations: Vec<u32>,
    free: Vec<u32>,
    /// Windows of removed groups, emptied, for new groups: most groups on a busy log live
    /// for one match, and making and freeing each one's window was 7% of the correlation
    /// stage on the archived logons.
    spare_windows: Vec<Window>,
}

/// How many emptied windows a correlation keeps for its next groups.
const SPARE_WINDOWS: usize = 64;

/// What an interned text of a match is (see `Correlator::last_interned`).
#[derive(Clone, Copy)]
enum Role {
    Rule,
    Host,
    Channel,
    File,
    Format,
}

/// A pending deadline: (time, node, slab slot, generation of the slot).
type Timer = Reverse<(i64, u32, u32, u32)>;

/// A firing to feed to the correlations built on the one that fired.
struct Derived {
    outputs: Vec<Slot>,
    evidence: Arc<Evidence>,
    fields: Vec<(String, Option<String>)>,
}

/// Runs a plan over matches given in time order.
pub struct Correlator<'p> {
    plan: &'p Plan,
    nodes: Vec<NodeState>,
    timers: BinaryHeap<Timer>,
    now: i64,
    seq: u64,
    /// Identities of the matches taken at time `now` (interned rule, host, channel and
    /// file by address, and the record id), to drop a second copy.
    taken_now: HashSet<([usize; 4], u64), FxBuild>,
    strings: HashSet<Arc<str>, FxBuild>,
    /// The text last interned in each `Role`: consecutive matches mostly share their rule,
    /// host, channel, file and format, and comparing with the last costs less than hashing.
    last_interned: [Option<Arc<str>>; 5],
    /// Room for a match's group key, in which its group is looked up: most matches of a busy
    /// correlation join a group that exists, and a key made for each was made for nothing.
    key_room: Vec<Option<String>>,
    /// The parts of an event's evidence (none: it is no correlation's firing), shared.
    no_parts: Arc<[Arc<Evidence>]>,
    max_groups: usize,
    live_groups: usize,
    /// The correlations this correlator runs (all, unless made for some chains).
    runs: Vec<bool>,
    stats: Stats,
    fired: Vec<Fired>,
}

impl<'p> Correlator<'p> {
    pub fn new(plan: &'p Plan, max_groups: usize) -> Correlator<'p> {
        let all: Vec<u32> = (0..plan.nodes.len() as u32).collect();
        Correlator::for_nodes(plan, max_groups, &all)
    }

    /// A correlator that runs only `nodes`, whole chains of `plan` (see `Plan::chains`), and
    /// is handed every match all the same. Correlators for disjoint chains, each given the
    /// same stream, together fire what one correlator for all would, as long as the live
    /// groups of all of them never reach the cap together. The summary's counts of matches
    /// and duplicates are kept by the correlator that runs the first correlation a match
    /// feeds, so that they add up over correlators to what one would count.
    pub fn for_nodes(plan: &'p Plan, max_groups: usize, nodes: &[u32]) -> Correlator<'p> {
        let mut runs = vec![false; plan.nodes.len()];
        for &node in nodes {
            runs[node as usize] = true;
        }
        Correlator {
            plan,
            nodes: plan.nodes.iter().map(|_| NodeState::default()).collect(),
            timers: BinaryHeap::new(),
            now: i64::MIN,
            seq: 0,
            taken_now: HashSet::default(),
            strings: HashSet::default(),
            last_interned: Default::default(),
            key_room: Vec::new(),
            no_parts: Arc::new([]),
            max_groups,
            live_groups: 0,
            runs,
            stats: Stats::default(),
            fired: Vec::new(),
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The groups alive now.
    pub fn live_groups(&self) -> usize {
        self.live_groups
    }

    /// The firings so far, taken out.
    pub fn drain(&mut self) -> Vec<Fired> {
        std::mem::take(&mut self.fired)
    }

    /// Takes one match. Matches must come in the order of their `key`.
    pub fn push(&mut self, key: SortKey, m: &MatchRef<'_>) {
        let Some(slots) = self.plan.inputs.get(m.rule) else {
            return;
        };
        let counts = slots.first().is_some_and(|s| self.runs[s.node as usize]);
        self.stats.matches += u64::from(counts);
        // Deadlines pass at every match, as they would with every correlation here.
        self.advance(m.time);
        if !slots.iter().any(|s| self.runs[s.node as usize]) {
            return;
        }
        // A copy of an event already taken is dropped before its texts are shared out.
        let rule = self.interned_address(Role::Rule, m.rule);
        let host = m.host.map(|s| self.interned_address(Role::Host, s));
        let channel = m.channel.map(|s| self.interned_address(Role::Channel, s));
        let file = self.interned_address(Role::File, m.file);
        let identity = match (host, channel) {
            (Some(host), Some(channel)) => [rule, host, channel, 0],
            _ => [rule, 0, 0, file],
        };
        if !self.taken_now.insert((identity, m.record_id)) {
            self.stats.duplicates += u64::from(counts);
            return;
        }
        let rule = self.just_interned(Role::Rule, m.rule, rule);
        let host = m
            .host
            .zip(host)
            .map(|(s, at)| self.just_interned(Role::Host, s, at));
        let channel = m
            .channel
            .zip(channel)
            .map(|(s, at)| self.just_interned(Role::Channel, s, at));
        let file = self.just_interned(Role::File, m.file, file);
        let evidence = Arc::new(Evidence {
            time: m.time,
            rule,
            host,
            channel,
            record_id: m.record_id,
            file,
            format: self.intern_as(Role::Format, m.format),
            alert: None,
            parts: self.no_parts.clone(),
            key,
        });
        for &slot in slots {
            if self.runs[slot.node as usize] {
                self.feed(slot, evidence.clone(), &m.fields);
            }
        }
    }

    /// Ends the stream: every open window closes and every open alert is written.
    pub fn finish(&mut self) {
        while let Some(Reverse((_, node, slot, generation))) = self.timers.pop() {
            self.on_timer(node, slot, generation, None);
        }
    }

    /// Handles every deadline before `time`, then moves the clock to it.
    fn advance(&mut self, time: i64) {
        // The stream is ordered; a match that is not is taken at the current time.
        let time = time.max(self.now);
        while let Some(&Reverse((deadline, node, slot, generation))) = self.timers.peek() {
            if deadline >= time {
                break;
            }
            self.timers.pop();
            self.on_timer(node, slot, generation, Some(time));
        }
        if time != self.now {
            self.taken_now.clear();
            self.now = time;
        }
    }

    /// The address of `text` interned (`intern_as`): interned strings are one allocation
    /// per text, so their addresses identify them. Only the address: sharing the text
    /// (counting a reference more, and one less at the end) is left to matches that are
    /// not a copy of an event already taken, which on copies of one log most are.
    fn interned_address(&mut self, role: Role, text: &str) -> usize {
        if let Some(last) = &self.last_interned[role as usize]
            && **last == *text
        {
            return Arc::as_ptr(last) as *const u8 as usize;
        }
        let shared = self.intern_as(role, text);
        Arc::as_ptr(&shared) as *const u8 as usize
    }

    /// The shared `text`, which `interned_address` just found at `address` for `role`: the
    /// role's last text, known by its address without comparing the text again.
    fn just_interned(&mut self, role: Role, text: &str, address: usize) -> Arc<str> {
        match &self.last_interned[role as usize] {
            Some(last) if Arc::as_ptr(last) as *const u8 as usize == address => last.clone(),
            _ => self.intern_as(role, text),
        }
    }

    /// `intern`, for a text in `role`.
    fn intern_as(&mut self, role: Role, text: &str) -> Arc<str> {
        let last = &mut self.last_interned[role as usize];
        if let Some(last) = last
            && **last == *text
        {
            return last.clone();
        }
        let shared = self.intern(text);
        self.last_interned[role as usize] = Some(shared.clone());
        shared
    }

    fn intern(&mut self, text: &str) -> Arc<str> {
        if let Some(existing) = self.strings.get(text) {
            return existing.clone();
        }
        let shared: Arc<str> = text.into();
        self.strings.insert(shared.clone());
        shared
    }

    fn feed(&mut self, at: Slot, evidence: Arc<Evidence>, fields: &[(&str, Option<&str>)]) {
        let plan = self.plan;
        let node = &plan.nodes[at.node as usize];
        let lookup = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, v)| *v)
                .map(unmapped)
        };
        let group_fields = &node.group_fields[at.slot as usize];
        let mut key = std::mem::take(&mut self.key_room);
        key.resize(group_fields.len(), None);
        for (room, name) in key.iter_mut().zip(group_fields) {
            match (lookup(name), room) {
                (Some(value), Some(room)) => {
                    room.clear();
                    room.push_str(value);
                }
                (Some(value), room) => *room = Some(value.to_string()),
                (None, room) => *room = None,
            }
        }
        let parts: Vec<Option<&str>> = node.value_fields[at.slot as usize]
            .iter()
            .map(|name| lookup(name))
            .collect();
        let value = Value::of(node.info.kind, &parts);
        let slab_slot = self.group_slot(at.node, &key);
        self.key_room = key;
        let Some(slab_slot) = slab_slot else {
            self.stats.over_cap += 1;
            return;
        };
        self.seq += 1;
        let entry = Entry {
            evidence,
            seq: self.seq,
            slot: at.slot,
            value,
        };
        let derived = if node.info.condition.op.is_lower_bound() {
            self.slide(at.node, slab_slot, entry)
        } else {
            self.fill(at.node, slab_slot, entry);
            None
        };
        if let Some(derived) = derived {
            self.feed_derived(derived);
        }
    }

    fn feed_derived(&mut self, derived: Derived) {
        let fields: Vec<(&str, Option<&str>)> = derived
            .fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_deref()))
            .collect();
        for &out in &derived.outputs {
            self.feed(out, derived.evidence.clone(), &fields);
        }
    }

    /// The slab slot of a group, created if new; `None` at the live-group cap.
    fn group_slot(&mut self, node: u32, key: &[Option<String>]) -> Option<u32> {
        let state = &mut self.nodes[node as usize];
        if let Some(&slot) = state.index.get(key) {
            return Some(slot);
        }
        if self.live_groups >= self.max_groups {
            return None;
        }
        let key: GroupKey = key.into();
        let info = &self.plan.nodes[node as usize].info;
        let group = Group {
            key: key.clone(),
            window: state
                .spare_windows
                .pop()
                .unwrap_or_else(|| Window::new(info.kind, info.rules.len())),
            episode: None,
            closes_at: None,
            timer: None,
        };
        let slot = match state.free.pop() {
            Some(slot) => {
                state.slab[slot as usize] = Some(group);
                slot
            }
            None => {
                state.slab.push(Some(group));
                state.generations.push(0);
                state.slab.len() as u32 - 1
            }
        };
        state.index.insert(key, slot);
        self.live_groups += 1;
        self.stats.peak_groups = self.stats.peak_groups.max(self.live_groups);
        Some(slot)
    }

    /// Takes a group out, its key free for a new one: its key and episode; its window,
    /// emptied, waits for the next group of the correlation.
    fn remove_group(&mut self, node: u32, slot: u32) -> Option<(GroupKey, Option<Episode>)> {
        let state = &mut self.nodes[node as usize];
        let Group {
            key,
            mut window,
            episode,
            ..
        } = state.slab[slot as usize].take()?;
        state.index.remove(&key);
        state.generations[slot as usize] += 1;
        state.free.push(slot);
        if state.spare_windows.len() < SPARE_WINDOWS && window.reuse() {
            state.spare_windows.push(window);
        }
        self.live_groups -= 1;
        Some((key, episode))
    }

    fn group(&mut self, node: u32, slot: u32) -> &mut Group {
        self.nodes[node as usize].slab[slot as usize]
            .as_mut()
            .expect("a live group")
    }

    fn set_timer(&mut self, node: u32, slot: u32, deadline: i64) {
        let generation = self.nodes[node as usize].generations[slot as usize];
        let group = self.group(node, slot);
        if group.timer.is_some_and(|pending| pending <= deadline) {
            // The pending timer fires first and looks again.
            return;
        }
        group.timer = Some(deadline);
        self.timers
            .push(Reverse((deadline, node, slot, generation)));
    }

    /// A lower-bound condition: slide the window to the new match and check.
    fn slide(&mut self, node_index: u32, slot: u32, entry: Entry) -> Option<Derived> {
        let plan = self.plan;
        let node = &plan.nodes[node_index as usize];
        let span = node.timespan_ns as i64;
        let time = entry.evidence.time;
        let mut closed = None;
        let mut opened = None;
        {
            let group = self.group(node_index, slot);
            group.window.expire_before(time.saturating_sub(span));
            group.window.push(entry);
            let mut value = group.window.aggregate();
            let holds = |v: Option<f64>| {
                v.is_some_and(|v| node.info.condition.op.holds(v, node.info.condition.value))
            };
            if group.episode.is_some() && !holds(value) {
                // The alert ends; its matches are spent. The new match starts afresh.
                closed = group.episode.take();
                let mut entries = group.window.take();
                let newest = entries.pop_back().expect("just pushed");
                group.window.push(newest);
                value = group.window.aggregate();
            }
            if let Some(episode) = &mut group.episode {
                let newest = group.window.newest().expect("just pushed");
                episode.add(newest);
                episode.peak = episode.peak.max(value.unwrap_or(f64::NAN));
            } else if holds(value) {
                let value = value.expect("holds");
                let episode = open_episode(node, &group.key, group.window.contributing(), value);
                opened = Some(derived_of(node, &group.key, &episode));
                group.episode = Some(episode);
            }
        }
        if let Some(episode) = closed {
            let key = self.group(node_index, slot).key.clone();
            self.emit(node_index, &key, episode);
        }
        if opened.is_some() {
            self.stats.fired += 1;
        }
        let deadline = time.saturating_add(span);
        self.set_timer(node_index, slot, deadline);
        opened.flatten()
    }

    /// Another condition: add the match to the group's whole window, opening one if needed.
    fn fill(&mut self, node_index: u32, slot: u32, entry: Entry) {
        let span = self.plan.nodes[node_index as usize].timespan_ns as i64;
        let time = entry.evidence.time;
        let group = self.group(node_index, slot);
        let opens = group.closes_at.is_none();
        let closes_at = *group.closes_at.get_or_insert(time.saturating_add(span));
        group.window.push(entry);
        if opens {
            self.set_timer(node_index, slot, closes_at);
        }
    }

    /// A deadline passed (or, with `now` = `None`, the stream ended).
    fn on_timer(&mut self, node_index: u32, slot: u32, generation: u32, now: Option<i64>) {
        let state = &self.nodes[node_index as usize];
        if state.generations[slot as usize] != generation || state.slab[slot as usize].is_none() {
            return;
        }
        let plan = self.plan;
        let node = &plan.nodes[node_index as usize];
        let span = node.timespan_ns as i64;
        let group = self.group(node_index, slot);
        group.timer = None;
        if let Some(closes_at) = group.closes_at {
            // A whole window closed: judge it.
            let value = group.window.aggregate();
            let entries = group.window.take();
            let Some((key, _)) = self.remove_group(node_index, slot) else {
                return;
            };
            if let Some(value) = value
                && node
                    .info
                    .condition
                    .op
                    .holds(value, node.info.condition.value)
            {
                let mut episode = open_episode(node, &key, entries.iter(), value);
                // A whole window fires when it closes.
                let fired_at = Arc::new(Evidence {
                    time: closes_at,
                    key: SortKey {
                        time: i128::from(closes_at),
                        file: u32::MAX,
                        record: u64::MAX,
                        rule: node.rank,
                    },
                    ..(*episode.fired).clone()
                });
                episode.fired = fired_at;
                self.stats.fired += 1;
                let derived = derived_of(node, &key, &episode);
                self.emit(node_index, &key, episode);
                if let Some(derived) = derived {
                    self.feed_derived(derived);
                }
            }
            return;
        }
        let expires = group
            .window
            .last_time()
            .map_or(i64::MIN, |t| t.saturating_add(span));
        match now {
            Some(now) if expires >= now => {
                self.set_timer(node_index, slot, expires);
            }
            _ => {
                if let Some((key, Some(episode))) = self.remove_group(node_index, slot) {
                    self.emit(node_index, &key, episode);
                }
            }
        }
    }

    fn emit(&mut self, node_index: u32, key: &GroupKey, episode: Episode) {
        let node = &self.plan.nodes[node_index as usize];
        self.fired.push(Fired {
            node: node_index,
            id: episode.id.to_string(),
            time: episode.fired.time,
            key: SortKey {
                rule: node.rank,
                ..episode.fired.key
            },
            group: group_fields(node, key),
            value: episode.value,
            peak: episode.peak,
            first_time: episode.first,
            last_time: episode.last,
            events_total: episode.total,
            evidence: episode.evidence,
            values_total: episode.seen.len() as u64,
            values: episode.values.into_iter().map(String::from).collect(),
            rule_counts: episode.rule_counts,
        });
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.5`) as the IPv4 address it is; any other
/// value as it is.
fn unmapped(value: &str) -> &str {
    let Some(prefix) = value.get(..7) else {
        return value;
    };
    let rest = &value[7..];
    if prefix.eq_ignore_ascii_case("::ffff:") && rest.parse::<std::net::Ipv4Addr>().is_ok() {
        rest
    } else {
        value
    }
}

fn group_fields(node: &Node, key: &GroupKey) -> Vec<(String, Option<String>)> {
    node.info
        .group_by
        .iter()
        .zip(key.iter())
        .map(|(name, value)| (name.clone(), value.as_deref().map(str::to_string)))
        .collect()
}

/// An alert opening with `entries` (in time order; the last one met the condition).
fn open_episode<'e>(
    node: &Node,
    key: &GroupKey,
    entries: impl Iterator<Item = &'e Entry>,
    value: f64,
) -> Episode {
    let entries: Vec<&Entry> = entries.collect();
    let first = entries.first().expect("a window that holds has entries");
    let last = entries.last().expect("a window that holds has entries");
    let mut episode = Episode {
        fired: last.evidence.clone(),
        id: alert_id(node, key, &first.evidence).into(),
        value,
        peak: value,
        first: first.evidence.time,
        last: last.evidence.time,
        total: 0,
        evidence: Vec::new(),
        values: Vec::new(),
        seen: HashSet::default(),
        rule_counts: vec![0; node.info.rules.len()],
    };
    for entry in entries {
        episode.add(entry);
    }
    episode
}

/// The firing as a match for the correlations built on this one.
fn derived_of(node: &Node, key: &GroupKey, episode: &Episode) -> Option<Derived> {
    if node.outputs.is_empty() {
        return None;
    }
    let fired = &episode.fired;
    Some(Derived {
        outputs: node.outputs.clone(),
        evidence: Arc::new(Evidence {
            rule: node.info.meta.id.as_str().into(),
            alert: Some(episode.id.clone()),
            parts: episode.evidence.clone().into(),
            key: SortKey {
                rule: node.rank,
                ..fired.key
            },
            ..(**fired).clone()
        }),
        fields: group_fields(node, key),
    })
}

/// 32 hex digits: the correlation, its group, and the first event that contributed. The
/// same logs give the same ids on every run and machine.
fn alert_id(node: &Node, key: &GroupKey, first: &Evidence) -> String {
    let mut parts: Vec<&[u8]> = vec![b"correlation", node.info.meta.id.as_bytes()];
    for value in key.iter() {
        match value {
            Some(v) => {
                parts.push(b"v");
                parts.push(v.as_bytes());
            }
            None => parts.push(b"-"),
        }
    }
    let record = first.record_id.to_le_bytes();
    let time = first.time.to_le_bytes();
    parts.push(first.rule.as_bytes());
    match (&first.host, &first.channel) {
        (Some(host), Some(channel)) => {
            parts.extend([b"event".as_slice(), host.as_bytes(), channel.as_bytes()]);
        }
        _ => parts.extend([b"file".as_slice(), first.file.as_bytes()]),
    }
    parts.push(&record);
    parts.push(&time);
    if let Some(alert) = &first.alert {
        parts.push(alert.as_bytes());
    }
    format!("{:032x}", fnv1a128(&parts))
}
