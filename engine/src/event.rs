//! The one event type every input produces and every rule reads.
//!
//! An event is a list of named text values kept in one buffer, plus an index from field id
//! to the values with that name. Inputs fill it; rules ask for values by id. A worker reuses
//! one `Event` for every record it reads, so the per-record path allocates nothing once the
//! buffers have grown to the size of the largest record.
//!
//! Values are text, as Sigma compares them: the number 10 from an EVTX record is the text
//! `10`. A name may repeat (EVTX `Data` elements can), and every value is kept. Fields come
//! from the record header (`System` in EVTX) or from the payload (`EventData`, `UserData`,
//! a syslog message); when both have a field of the same name, the payload's shadows the
//! header's (an event 104 names the log it cleared in a `Channel` field of its own).
//!
//! An EVTX event may be partial: read with only the fields its rules read (`field::Wanted`),
//! which is enough to evaluate it but not to show it. Whoever shows it (an alert) asks for
//! the record whole (`Handled::NeedsWhole`), and the reader reads it again.

use crate::field::{FieldId, FieldTable, well_known};
use jiff::Timestamp;

/// Where a field came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Header,
    Payload,
}

/// What the consumer of an event says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Done,
    /// It needs every field of the record, and the event is partial: read it again whole.
    NeedsWhole,
}

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Field {
    name: (u32, u32),
    value: (u32, u32),
    /// The next field with the same id, or `NONE`.
    next: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    generation: u32,
    first: u32,
    last: u32,
    header: bool,
}

/// One record, flattened.
#[derive(Debug, Clone)]
pub struct Event {
    text: String,
    fields: Vec<Field>,
    slots: Vec<Slot>,
    generation: u32,
    /// The event time, if the input knows it.
    pub time: Option<Timestamp>,
    /// The record's number in its source (EVTX EventRecordID, line number for text).
    pub record_id: u64,
    /// The previous records' field names by position, with their ids (see `field_id`).
    names: NameMemo,
    /// Only the fields the reader was told were wanted were read (see `field::Wanted`).
    partial: bool,
    /// The reader found that no value holds a keyword of the record's rules (see
    /// `keyword_filter`).
    keywords_absent: bool,
}

/// Field names by their position in a record, with their ids in table `version`. Records
/// of one log mostly come from a few templates, so a record's n-th field is usually named
/// as the last record's was; comparing the name costs less than hashing it and probing a
/// table of thousands of names.
#[derive(Debug, Clone, Default)]
struct NameMemo {
    version: u64,
    names: Vec<(String, Option<FieldId>)>,
}

impl Default for Event {
    fn default() -> Self {
        Event {
            text: String::new(),
            fields: Vec::new(),
            slots: Vec::new(),
            // Slots start at generation 0, which must not look current.
            generation: 1,
            time: None,
            record_id: 0,
            names: NameMemo::default(),
            partial: false,
            keywords_absent: false,
        }
    }
}

impl Event {
    pub fn new() -> Event {
        Event::default()
    }

    /// Empties the event for the next record, keeping its buffers.
    pub fn clear(&mut self) {
        self.text.clear();
        self.fields.clear();
        self.time = None;
        self.record_id = 0;
        self.partial = false;
        self.keywords_absent = false;
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Stamps from 2^32 records ago could look current: start the slots afresh.
            self.slots.iter_mut().for_each(|s| *s = Slot::default());
            self.generation = 1;
        }
    }

    /// Whether the reader left out fields no rule of the record reads: the event then
    /// serves evaluation, not output.
    #[inline]
    pub fn is_partial(&self) -> bool {
        self.partial
    }

    pub(crate) fn set_partial(&mut self) {
        self.partial = true;
    }

    /// Whether the reader found that no value holds a keyword that the keyword searches of
    /// the record's rules look for: they are then false without a search.
    #[inline]
    pub fn keywords_absent(&self) -> bool {
        self.keywords_absent
    }

    pub(crate) fn set_keywords_absent(&mut self, absent: bool) {
        self.keywords_absent = absent;
    }

    /// The buffer that names and values live in. Inputs append a value's text here, then
    /// call `add_field` with its range, which lets them decode escapes in place.
    #[inline]
    pub fn text_mut(&mut self) -> &mut String {
        &mut self.text
    }

    /// The buffer's contents: names and values side by side.
    #[inline]
    pub fn text(&self) -> &str {
        &self.text
    }

    #[inline]
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// Records a field whose name and value are the given ranges of the buffer, with the
    /// id `table` gives its name.
    #[inline]
    pub fn add_named_field(
        &mut self,
        table: &FieldTable,
        name: (usize, usize),
        value: (usize, usize),
        origin: Origin,
    ) {
        let id = self.field_id(table, name);
        self.add_field_at(name, value, id, origin);
    }

    /// The id in `table` of the field about to be added, whose name is at `name` in the
    /// text: what the last record's field at this position was named is checked first.
    #[inline]
    fn field_id(&mut self, table: &FieldTable, name: (usize, usize)) -> Option<FieldId> {
        let memo = &mut self.names;
        if memo.version != table.version() {
            memo.names.clear();
            memo.version = table.version();
        }
        let name = &self.text[name.0..name.1];
        let position = self.fields.len();
        match memo.names.get_mut(position) {
            Some((known, id)) if known == name => *id,
            Some((known, id)) => {
                known.clear();
                known.push_str(name);
                *id = table.get(name);
                *id
            }
            None => {
                let id = table.get(name);
                if position == memo.names.len() {
                    memo.names.push((name.to_string(), id));
                }
                id
            }
        }
    }

    /// Records a field whose name and value are the given ranges of the buffer.
    #[inline]
    pub fn add_field_at(
        &mut self,
        name: (usize, usize),
        value: (usize, usize),
        id: Option<FieldId>,
        origin: Origin,
    ) {
        let index = self.fields.len() as u32;
        self.fields.push(Field {
            name: (name.0 as u32, name.1 as u32),
            value: (value.0 as u32, value.1 as u32),
            next: NONE,
        });
        let Some(id) = id else { return };
        let id = id as usize;
        if id >= self.slots.len() {
            self.slots.resize(id + 1, Slot::default());
        }
        let generation = self.generation;
        let slot = &mut self.slots[id];
        let header = origin == Origin::Header;
        if slot.generation != generation || (slot.header && !header) {
            // First value for this id, or a payload value shadowing header values.
            *slot = Slot {
                generation,
                first: index,
                last: index,
                header,
            };
        } else if slot.header == header {
            self.fields[slot.last as usize].next = index;
            slot.last = index;
        }
        // A header value after payload values of the same name stays unindexed.
    }

    /// Appends a field with the given name and value.
    pub fn push(&mut self, name: &str, value: &str, id: Option<FieldId>, origin: Origin) {
        let name_start = self.text.len();
        self.text.push_str(name);
        let value_start = self.text.len();
        self.text.push_str(value);
        self.add_field_at(
            (name_start, value_start),
            (value_start, self.text.len()),
            id,
            origin,
        );
    }

    /// The values of field `id`, in record order.
    #[inline]
    pub fn values(&self, id: FieldId) -> Values<'_> {
        let next = match self.slots.get(id as usize) {
            Some(slot) if slot.generation == self.generation => slot.first,
            _ => NONE,
        };
        Values { event: self, next }
    }

    /// The first value of field `id`.
    #[inline]
    pub fn first(&self, id: FieldId) -> Option<&str> {
        self.values(id).next()
    }

    #[inline]
    pub fn has(&self, id: FieldId) -> bool {
        matches!(self.slots.get(id as usize), Some(slot) if slot.generation == self.generation)
    }

    /// Every field as `(name, value)`, in record order, shadowed header fields included.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.fields
            .iter()
            .map(|f| (self.slice(f.name), self.slice(f.value)))
    }

    /// Where each value lies in `text()`, for searches over a lowercased copy of it.
    pub fn value_ranges(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        self.fields
            .iter()
            .map(|f| f.value.0 as usize..f.value.1 as usize)
    }

    /// Every value, for keyword searches.
    pub fn all_values(&self) -> impl Iterator<Item = &str> + '_ {
        self.fields.iter().map(|f| self.slice(f.value))
    }

    pub fn field_count(&self) -> usize {
        self.fields.len()
    }

    #[inline]
    fn slice(&self, (start, end): (u32, u32)) -> &str {
        &self.text[start as usize..end as usize]
    }

    pub fn channel(&self) -> Option<&str> {
        self.header_value(well_known::CHANNEL)
    }

    pub fn computer(&self) -> Option<&str> {
        self.header_value(well_known::COMPUTER)
    }

    pub fn provider(&self) -> Option<&str> {
        self.header_value(well_known::PROVIDER_NAME)
    }

    pub fn event_id(&self) -> Option<u32> {
        self.header_value(well_known::EVENT_ID)?.parse().ok()
    }

    /// A header field's value even where a payload field of the same name shadows it.
    pub fn header_value(&self, id: FieldId) -> Option<&str> {
        let slot = self.slots.get(id as usize)?;
        if slot.generation != self.generation {
            return None;
        }
        if slot.header {
            return Some(self.slice(self.fields[slot.first as usize].value));
        }
        // Shadowed: find the header field by name among the fields before the first
        // payload value. Rare (event 104's Channel), so a scan is fine.
        let name = well_known::name(id)?;
        self.fields[..slot.first as usize]
            .iter()
            .find(|f| self.slice(f.name) == name)
            .map(|f| self.slice(f.value))
    }

    /// An owned copy of the fields, `(name, value)` pairs in record order: what tests compare
    /// events by.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        self.fields()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }
}

/// The values of one field.
pub struct Values<'a> {
    event: &'a Event,
    next: u32,
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        if self.next == NONE {
            return None;
        }
        let field = &self.event.fields[self.next as usize];
        self.next = field.next;
        Some(self.event.slice(field.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::field::FieldTable;

    /// Adds a field named `name` the way the EVTX reader does, returning its id.
    fn add(event: &mut Event, table: &FieldTable, name: &str) -> Option<FieldId> {
        let start = event.text_len();
        event.text_mut().push_str(name);
        let end = event.text_len();
        let id = event.field_id(table, (start, end));
        event.add_field_at((start, end), (end, end), id, Origin::Payload);
        id
    }

    #[test]
    fn field_ids_remembered_by_position_follow_names_and_tables() {
        let mut first = FieldTable::new();
        let (a, b) = (first.intern("A"), first.intern("B"));
        let mut event = Event::new();
        event.clear();
        assert_eq!(add(&mut event, &first, "A"), Some(a));
        assert_eq!(add(&mut event, &first, "B"), Some(b));
        // The next record names its fields the other way round, then adds one.
        event.clear();
        assert_eq!(add(&mut event, &first, "B"), Some(b));
        assert_eq!(add(&mut event, &first, "A"), Some(a));
        assert_eq!(add(&mut event, &first, "Unknown"), None);
        // Another table, and the same table once changed, give their own ids.
        let mut second = FieldTable::new();
        let b2 = second.intern("B");
        event.clear();
        assert_eq!(add(&mut event, &second, "B"), Some(b2));
        assert_eq!(add(&mut event, &second, "A"), None);
        let mut changed = second.clone();
        let a2 = changed.intern("A");
        event.clear();
        assert_eq!(add(&mut event, &changed, "B"), Some(b2));
        assert_eq!(add(&mut event, &changed, "A"), Some(a2));
    }

    #[test]
    fn repeated_names_keep_every_value_and_payload_shadows_header() {
        let mut table = FieldTable::new();
        let data = table.intern("Data");
        let mut event = Event::new();
        for _ in 0..2 {
            event.clear();
            event.push(
                "Channel",
                "System",
                Some(well_known::CHANNEL),
                Origin::Header,
            );
            event.push("Data", "a", Some(data), Origin::Payload);
            event.push("Data", "b", Some(data), Origin::Payload);
            event.push(
                "Channel",
                "Security",
                Some(well_known::CHANNEL),
                Origin::Payload,
            );
            event.push("Unknown", "x", None, Origin::Payload);
            assert_eq!(event.values(data).collect::<Vec<_>>(), ["a", "b"]);
            assert_eq!(
                event.values(well_known::CHANNEL).collect::<Vec<_>>(),
                ["Security"]
            );
            assert_eq!(event.channel(), Some("System"));
            assert_eq!(event.all_values().count(), 5);
        }
        event.clear();
        assert!(!event.has(data));
    }
}
