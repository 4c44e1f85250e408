//! Flattens an EVTX record straight from its BinXML: the chunk's template gives the record's
//! shape, the record's substitution values its content. No XML is rendered or parsed.
//!
//! Why: rendering a record to XML is a third of what a hunt spends on it, and parsing the
//! XML back (`evtx_xml`) another quarter. Yet a record is nearly always one template
//! instance, the same shape as hundreds of others in its chunk, with a few dozen values. So
//! a template is read into a `Plan`, a flat list of steps saying which fields the shape
//! makes, and each record runs its template's plan over its values. A value may itself be
//! BinXML, a template instance of its own (Windows writes most `<EventData>` so): its plan
//! runs where the value stands. Every chunk defines its templates anew, so plans are also
//! kept by the definitions' content (`PlanStore`), for every file read with one context.
//! A record's values are mostly the last record's at the same place of the same template
//! (provider, channel, computer, user, share): such a value is copied from the last text
//! it made (`Plans::formatted`), not formatted again.
//!
//! The event must be exactly the one `evtx_xml::flatten` makes of the XML evtx renders for
//! the same record: the same fields, names, values, origins and order. So a plan follows
//! evtx's rendering (values formatted as evtx formats them, an element left out when its
//! DependencyId names a null value, an attribute left out when its value is empty) and
//! `evtx_xml`'s naming (see there). What this module does not model it declines, and the
//! caller renders XML instead: a template with entity or character references, CDATA or
//! processing instructions; a record holding arrays, floats or ANSI strings, BinXML in an
//! attribute, or an element all of whose child elements were left out; anything malformed. The corpus
//! test `direct_binxml_reading_agrees_with_xml_on_every_record` compares the two readings
//! of every record of every corpus file.

use super::evtx_xml::{Flattened, Section, bare_attribute};
use crate::event::{Event, Origin};
use crate::field::{FieldId, FieldTable, Wanted};
use crate::keyword_filter::{self, KeywordFilter};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, RwLock};

/// The plans of one chunk's templates, and room for a record's values. Templates and names
/// are chunk-local: use one `Plans` per chunk.
pub struct Plans<'s> {
    /// Where plans made in other chunks are.
    store: &'s PlanStore,
    /// By `plan_key` (a template is planned for where it is used), with the plan's slots in
    /// `formatted`. A chunk uses a few templates, so a list is searched faster than a map
    /// is hashed.
    by_key: Vec<Known>,
    /// The values of the instances being read, outermost first.
    values: Vec<Value>,
    /// Room for a definition's content key.
    key: Vec<u8>,
    /// Per plan and value index: the value last formatted there and its text. A record's
    /// values are mostly the last record's (its provider, channel, computer, user, share):
    /// one found unchanged is copied, not formatted again. Taken from the store's pool and
    /// given back, so that a small chunk does not pay for allocating it.
    formatted: Vec<Formatted>,
    /// The slots of `formatted` this chunk's plans have.
    slots_used: u32,
    /// Per slot of `formatted`: the string last found to hold no keyword there.
    clean: Vec<Clean>,
    /// Strings narrowed for keyword filters (`keyword_filter::narrow_utf16`).
    narrowed: Vec<u8>,
    /// The slots whose strings are in `narrowed`.
    narrowed_slots: Vec<u32>,
}

/// A plan known to a chunk: by `plan_key`, with its slots in `Plans::formatted`.
struct Known {
    key: u64,
    plan: Option<Arc<Plan>>,
    slots: Slots,
    /// The keyword filters (`filters_key`) the plan's fixed text was found clean for.
    fixed_text_clean: u64,
}

/// A string found to hold no keyword of the filters with `filters_key` (0: none yet).
#[derive(Debug, Default)]
struct Clean {
    filters: u64,
    bytes: Vec<u8>,
}

/// Identifies a set of keyword filters; never 0.
fn filters_key(wanted: &Wanted<'_>) -> u64 {
    let key = wanted
        .keyword_filters()
        .fold(0x9e37_79b9_7f4a_7c15_u64, |key, filter| {
            (key.rotate_left(23) ^ filter.id()).wrapping_mul(0x0100_0000_01b3)
        });
    key.max(1)
}

/// What a chunk's `Plans` leave for the next chunk's: a value's text and whether a string
/// holds a keyword depend on its bytes alone, whatever slot it is in; and the room.
#[derive(Default)]
struct Pooled {
    formatted: Vec<Formatted>,
    clean: Vec<Clean>,
    values: Vec<Value>,
}

/// A plan's slots in `Plans::formatted`: the first, and how many (its instances' values).
#[derive(Debug, Clone, Copy)]
struct Slots {
    first: u32,
    count: u32,
}

/// A value as it was last formatted in a slot: its type, its bytes and its text.
#[derive(Debug, Default)]
struct Formatted {
    kind: u8,
    bytes: Vec<u8>,
    text: String,
}

impl Plans<'_> {
    pub fn new(store: &PlanStore) -> Plans<'_> {
        let Pooled {
            formatted,
            clean,
            values,
        } = store
            .pool
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_default();
        Plans {
            store,
            by_key: Vec::new(),
            values,
            key: Vec::new(),
            formatted,
            slots_used: 0,
            clean,
            narrowed: Vec::new(),
            narrowed_slots: Vec::new(),
        }
    }
}

impl Drop for Plans<'_> {
    fn drop(&mut self) {
        if let Ok(mut pool) = self.store.pool.lock() {
            pool.push(Pooled {
                formatted: std::mem::take(&mut self.formatted),
                clean: std::mem::take(&mut self.clean),
                values: std::mem::take(&mut self.values),
            });
        }
    }
}

/// Plans shared by the chunks read with one `ChunkContext` (and the threads reading them):
/// a file's, or a whole hunt's. Every chunk that uses a template defines it again, with its
/// names at other offsets, and planning it again would cost as much as reading a few of its
/// records. So plans are kept by the definition's content (`ContentKey`), where it is used,
/// and the field table's version, which is all a plan depends on.
#[derive(Default)]
pub struct PlanStore {
    plans: RwLock<HashMap<Vec<u8>, Option<Arc<Plan>>>>,
    /// What chunks read before leave for the next, one per chunk read at once.
    pool: Mutex<Vec<Pooled>>,
}

/// Past this many plans a store keeps no more: memory stays bounded, and chunks then plan
/// their own. A hunt over the 277 logs of the corpus (or 29 copies of them) makes 174.
const MAX_STORED_PLANS: usize = 4096;

impl PlanStore {
    fn get(&self, key: &[u8]) -> Option<Option<Arc<Plan>>> {
        self.plans.read().ok()?.get(key).cloned()
    }

    pub(crate) fn len(&self) -> usize {
        self.plans.read().map_or(0, |plans| plans.len())
    }

    fn insert(&self, key: &[u8], plan: Option<Arc<Plan>>) {
        if let Ok(mut plans) = self.plans.write()
            && plans.len() < MAX_STORED_PLANS
        {
            plans.insert(key.to_vec(), plan);
        }
    }
}

/// Fills `event` (already cleared) from the record whose BinXML is `chunk[offset..][..size]`:
/// the `header` fields of `<System>`, then, if `keep` (asked after `<System>`) says to read
/// the rest, the fields it wants. The event is partial if either left any out. `None` if
/// the record is outside what this module models: the event is then half-filled and the
/// caller reads the record through XML instead.
///
/// Keyword filters in what `keep` wants are resolved here: they are put to the record's
/// strings and to the fixed text of its templates (see `keyword_filter`), each instance's
/// before its fields are read. A record that may hold a keyword is read whole from there
/// on (the values left out before held none), from the start if that was in `<System>`.
#[allow(clippy::too_many_arguments)]
pub fn flatten<'w>(
    chunk: &[u8],
    offset: u64,
    size: u32,
    plans: &mut Plans<'_>,
    table: &FieldTable,
    event: &mut Event,
    header: Wanted<'w>,
    keep: impl FnMut(&Event) -> Option<Wanted<'w>>,
) -> Option<Flattened> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(size as usize)?;
    plans.values.clear();
    let mut reader = Reader {
        chunk: chunk.get(..end)?,
        table,
        plans,
        keep,
        wanted: header,
        filtering: !header.is_everything(),
        filtered_by: None,
        entered: Entered::default(),
        read_again: false,
    };
    if !header.is_everything() {
        event.set_partial();
    }
    let first = reader.instance(start, end, Place::TOP, event);
    if first.is_some() || !reader.read_again {
        return first.map(|(flattened, _)| flattened);
    }
    // The record may hold a keyword, and its header was read in part: read it whole.
    let record_id = event.record_id;
    event.clear();
    event.record_id = record_id;
    reader.plans.values.clear();
    reader.entered = Entered::default();
    reader.wanted = Wanted::EVERYTHING;
    reader.filtering = false;
    let (flattened, _) = reader.instance(start, end, Place::TOP, event)?;
    Some(flattened)
}

/// One substitution value: its BinXML type and where its bytes are in the chunk.
#[derive(Debug, Clone, Copy)]
struct Value {
    kind: u8,
    bytes: (u32, u32),
}

impl Value {
    /// Nested BinXML with something in it: elements, in an element's content.
    fn is_fragment(&self) -> bool {
        self.kind == kind::BINXML && self.bytes.0 != self.bytes.1
    }
}

/// BinXML value types (MS-EVEN6 2.2.18) this module formats.
mod kind {
    pub const NULL: u8 = 0x00;
    pub const STRING: u8 = 0x01;
    pub const INT8: u8 = 0x03;
    pub const UINT8: u8 = 0x04;
    pub const INT16: u8 = 0x05;
    pub const UINT16: u8 = 0x06;
    pub const INT32: u8 = 0x07;
    pub const UINT32: u8 = 0x08;
    pub const INT64: u8 = 0x09;
    pub const UINT64: u8 = 0x0a;
    pub const BOOL: u8 = 0x0d;
    pub const BINARY: u8 = 0x0e;
    pub const GUID: u8 = 0x0f;
    pub const SIZE_T: u8 = 0x10;
    pub const FILETIME: u8 = 0x11;
    pub const SYSTIME: u8 = 0x12;
    pub const SID: u8 = 0x13;
    pub const HEX_INT32: u8 = 0x14;
    pub const HEX_INT64: u8 = 0x15;
    pub const BINXML: u8 = 0x21;
}

/// Whether a value of `kind` and `len` bytes is one this module reads as evtx does.
fn readable(kind: u8, len: usize) -> bool {
    match kind {
        kind::NULL | kind::STRING | kind::BINARY | kind::SID | kind::BINXML => true,
        kind::INT8 | kind::UINT8 => len == 1,
        kind::INT16 | kind::UINT16 => len == 2,
        kind::INT32 | kind::UINT32 | kind::BOOL | kind::HEX_INT32 => len == 4,
        kind::INT64 | kind::UINT64 | kind::FILETIME | kind::HEX_INT64 => len == 8,
        kind::GUID | kind::SYSTIME => len == 16,
        kind::SIZE_T => len == 4 || len == 8,
        _ => false,
    }
}

/// Little-endian integers at `at`, if `bytes` holds them.
pub(super) fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

pub(super) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

pub(super) fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

const FRAGMENT_HEADER: u8 = 0x0f;
const TEMPLATE_INSTANCE: u8 = 0x0c;
const END_OF_STREAM: u8 = 0x00;
/// A template definition's header: next definition's offset, GUID, data size.
const DEFINITION_HEADER_SIZE: usize = 24;

/// Reads the template instance that makes up `chunk[start..end]` (a record, or a nested
/// BinXML value): the definition's offset, with the values appended to `values`. `None`
/// for any other form, or a value this module does not read.
fn read_instance(chunk: &[u8], start: usize, end: usize, values: &mut Vec<Value>) -> Option<u32> {
    let stream = chunk.get(..end)?;
    let mut at = start;
    if *stream.get(at)? == FRAGMENT_HEADER {
        at += 4;
    }
    if *stream.get(at)? != TEMPLATE_INSTANCE {
        return None;
    }
    // Token, an unknown byte, the template id, then the definition's offset.
    let definition = u32_at(stream, at + 6)?;
    at += 10;
    if definition as usize == at {
        // The chunk's first use of the template defines it in place: skip the definition.
        let data_size = u32_at(stream, at + 20)? as usize;
        at = at.checked_add(DEFINITION_HEADER_SIZE + data_size)?;
    }
    let count = u32_at(stream, at)? as usize;
    at += 4;
    let descriptors = stream.get(at..at.checked_add(count.checked_mul(4)?)?)?;
    let mut value_at = at + descriptors.len();
    for descriptor in descriptors.chunks_exact(4) {
        let len = usize::from(u16::from_le_bytes([descriptor[0], descriptor[1]]));
        let kind = descriptor[2];
        let value_end = value_at + len;
        if value_end > end || !readable(kind, len) {
            return None;
        }
        values.push(Value {
            kind,
            bytes: (value_at as u32, value_end as u32),
        });
        value_at = value_end;
    }
    // What follows the values must end the stream.
    match stream.get(value_at) {
        None | Some(&END_OF_STREAM) => Some(definition),
        Some(_) => None,
    }
}

/// A piece of an attribute's or element's content.
#[derive(Debug, Clone, Copy)]
enum Part {
    /// Text written in the template: a range of `Plan::text`.
    Text(u32, u32),
    /// The instance's value with this index.
    Value(u16),
}

/// A field's name written in the template: a range of `Plan::text`, with its id.
#[derive(Debug, Clone, Copy)]
struct Name {
    text: (u32, u32),
    id: Option<FieldId>,
}

/// Where an element is: its depth (the root is 1) and `evtx_xml`'s section, which decides
/// naming and origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Place {
    depth: u8,
    section: Section,
}

impl Place {
    /// Where a record's root is: its parent's place.
    const TOP: Place = Place {
        depth: 0,
        section: Section::Root,
    };

    /// Where a child element named `name` is.
    fn child(self, name: &str) -> Place {
        let section = match self.depth {
            0 => Section::Root,
            _ => self.section.child(name),
        };
        Place {
            depth: self.depth + 1,
            section,
        }
    }
}

/// One step of a plan.
#[derive(Debug, Clone)]
enum Step {
    /// An element starts. If its DependencyId names a null value it is left out, and the
    /// plan goes on after step `close`.
    Open {
        dependency: Option<u16>,
        depth: u8,
        close: u32,
    },
    /// An attribute field, left out if its value is empty.
    Attribute {
        name: Name,
        parts: Range<u32>,
        origin: Origin,
    },
    /// `<Data Name="...">` in `<EventData>`: the name of the element's field, written in
    /// the template (`known`, the common case) or made of `parts`.
    DataName {
        known: Option<Name>,
        parts: Range<u32>,
    },
    /// The content of an element without child elements in the template: its field (if
    /// `field`, named by its `DataName` if it had one), unless a value is nested BinXML,
    /// whose elements then become its children.
    Content {
        name: Name,
        parts: Range<u32>,
        place: Place,
        field: bool,
    },
    /// A value among an element's child elements: if nested BinXML, more children.
    Nested { value: u16, parent: Place },
    /// An element ends. `template_children`: its template has child elements, and if all
    /// were left out the record is declined (evtx then writes the element in a way this
    /// module does not model). `ends_system`: it is `<System>`, after which `keep` is asked.
    Close {
        depth: u8,
        template_children: bool,
        ends_system: bool,
    },
}

/// A template, read into the steps that make a record's fields.
#[derive(Debug)]
struct Plan {
    steps: Vec<Step>,
    parts: Vec<Part>,
    text: String,
    /// The text the template itself writes into values, ASCII-lowercased, each piece
    /// ended by a NUL: keyword filters look there too.
    fixed_text: Vec<u8>,
    /// Some value is made of more than one part: a keyword could straddle them, where no
    /// filter would see it.
    joined_values: bool,
}

/// Elements deeper than this are declined (the run keeps a count per depth on the stack).
const MAX_DEPTH: usize = 32;

/// An element of a template definition, as read.
#[derive(Debug, Default)]
struct Element {
    name: String,
    dependency: Option<u16>,
    attributes: Vec<(String, Vec<Part>)>,
    content: Vec<Node>,
    /// Closed as empty (`<X/>`), not with an end tag.
    self_closing: bool,
}

#[derive(Debug)]
enum Node {
    Part(Part),
    Element(Element),
}

impl Element {
    fn has_child_elements(&self) -> bool {
        self.content.iter().any(|n| matches!(n, Node::Element(_)))
    }
}

/// The key of a template's plan: its definition's offset and where it is used.
fn plan_key(definition: u32, parent: Place) -> u64 {
    u64::from(definition) | u64::from(parent.depth) << 32 | (parent.section as u64) << 40
}

impl Plan {
    /// Reads the template defined at `definition` in `chunk`, for an instance whose parent
    /// is at `parent`. `None` if it uses what this module does not model, or is malformed.
    fn build(chunk: &[u8], definition: u32, parent: Place, table: &FieldTable) -> Option<Plan> {
        let mut plan = Plan {
            steps: Vec::new(),
            parts: Vec::new(),
            text: String::new(),
            fixed_text: Vec::new(),
            joined_values: false,
        };
        let mut builder = TreeBuilder {
            stack: Vec::new(),
            within: Within::Content,
            root: None,
            text: &mut plan.text,
        };
        walk_definition(chunk, definition as usize, &mut builder)?;
        if !builder.stack.is_empty() {
            return None;
        }
        let root = builder.root?;
        plan.compile(&root, parent.child(&root.name), true, table)?;
        plan.find_fixed_text();
        Some(plan)
    }

    /// Fills `fixed_text` and `joined_values` from the steps that make values.
    fn find_fixed_text(&mut self) {
        for step in &self.steps {
            let parts = match step {
                Step::Attribute { parts, .. } => parts,
                Step::Content {
                    parts, field: true, ..
                } => parts,
                _ => continue,
            };
            match self.parts(parts) {
                [] | [Part::Value(_)] => {}
                [Part::Text(from, to)] => {
                    let text = &self.text[*from as usize..*to as usize];
                    self.fixed_text
                        .extend(text.bytes().map(|b| b.to_ascii_lowercase()));
                    self.fixed_text.push(0);
                }
                _ => self.joined_values = true,
            }
        }
    }

    fn compile(
        &mut self,
        element: &Element,
        place: Place,
        root: bool,
        table: &FieldTable,
    ) -> Option<()> {
        if usize::from(place.depth) > MAX_DEPTH {
            return None;
        }
        let open = self.steps.len();
        self.steps.push(Step::Open {
            // A template's root is always rendered.
            dependency: element.dependency.filter(|_| !root),
            depth: place.depth,
            close: 0,
        });
        for (attribute, value) in &element.attributes {
            if place.section == Section::Root
                || attribute == "xmlns"
                || attribute.starts_with("xmlns:")
            {
                continue;
            }
            if place.section == Section::EventData && element.name == "Data" && attribute == "Name"
            {
                let known = match value.as_slice() {
                    [] => Some(String::new()),
                    [Part::Text(from, to)] => Some(self.text[*from as usize..*to as usize].into()),
                    _ => None,
                };
                let known = known.map(|name| self.add_name(&name, table));
                let parts = self.add_parts(value.iter().copied());
                self.steps.push(Step::DataName { known, parts });
                continue;
            }
            let parts = self.add_parts(value.iter().copied());
            let bare = (place.section == Section::System)
                .then(|| bare_attribute(&element.name, attribute))
                .flatten();
            let name = match bare {
                Some(bare) => self.add_name(bare, table),
                None => self.add_name(&format!("{}_{attribute}", element.name), table),
            };
            self.steps.push(Step::Attribute {
                name,
                parts,
                origin: place.section.origin(),
            });
        }
        let template_children = element.has_child_elements();
        if template_children {
            // Text among child elements is no value; values may be nested BinXML.
            for node in &element.content {
                match node {
                    Node::Element(child) => {
                        self.compile(child, place.child(&child.name), false, table)?
                    }
                    Node::Part(Part::Value(value)) => self.steps.push(Step::Nested {
                        value: *value,
                        parent: place,
                    }),
                    Node::Part(Part::Text(..)) => {}
                }
            }
        } else {
            // As `evtx_xml`: the root, `<System>` and `<EventData>` hold no value of their
            // own, nor does an empty element in `<System>` (`<Correlation/>`).
            let field = place.depth >= 2
                && !(place.depth == 2 && place.section != Section::Other)
                && !(element.self_closing && place.section == Section::System);
            let name = self.add_name(&element.name, table);
            let parts = self.add_parts(element.content.iter().filter_map(|n| match n {
                Node::Part(part) => Some(*part),
                Node::Element(_) => None,
            }));
            self.steps.push(Step::Content {
                name,
                parts,
                place,
                field,
            });
        }
        let close = self.steps.len() as u32;
        self.steps.push(Step::Close {
            depth: place.depth,
            template_children,
            ends_system: place.depth == 2 && place.section == Section::System,
        });
        if let Step::Open { close: at, .. } = &mut self.steps[open] {
            *at = close;
        }
        Some(())
    }

    fn add_parts(&mut self, parts: impl Iterator<Item = Part>) -> Range<u32> {
        let start = self.parts.len() as u32;
        self.parts.extend(parts);
        start..self.parts.len() as u32
    }

    fn add_name(&mut self, name: &str, table: &FieldTable) -> Name {
        let start = self.text.len() as u32;
        self.text.push_str(name);
        Name {
            text: (start, self.text.len() as u32),
            id: table.get(name),
        }
    }

    fn parts(&self, parts: &Range<u32>) -> &[Part] {
        &self.parts[parts.start as usize..parts.end as usize]
    }
}

/// A field name's range in the event's text, with its id if it was looked up already.
type NameAt = ((usize, usize), Option<Option<FieldId>>);

/// Runs plans over a record's values, nested instances included.
struct Reader<'r, 's, 'w, K> {
    chunk: &'r [u8],
    table: &'r FieldTable,
    plans: &'r mut Plans<'s>,
    keep: K,
    /// The fields to read: the header's until `keep` has seen `<System>`, then its answer,
    /// its keyword filters resolved.
    wanted: Wanted<'w>,
    /// `wanted` is not every field.
    filtering: bool,
    /// `keep`'s answer, if it had keyword filters that the record passed so far: instances
    /// entered later are put to them too.
    filtered_by: Option<Wanted<'w>>,
    /// The instances the record has entered so far.
    entered: Entered,
    /// The record may hold a keyword and its header was read in part: it is read again
    /// whole, whatever `keep` answers then.
    read_again: bool,
}

/// How many instances a record has entered, and the first one's place in `Plans::by_key`.
#[derive(Debug, Default, Clone, Copy)]
struct Entered {
    count: u32,
    first: usize,
}

/// What `keep` said of a record whose `<System>` has been read.
enum Keep {
    Read,
    Skip,
    ReadAgain,
}

impl<'w, K: FnMut(&Event) -> Option<Wanted<'w>>> Reader<'_, '_, 'w, K> {
    /// Reads the template instance `chunk[start..end]`, whose root's parent is at `parent`:
    /// how the record ends, and how many elements it rendered (its root: 1).
    fn instance(
        &mut self,
        start: usize,
        end: usize,
        parent: Place,
        event: &mut Event,
    ) -> Option<(Flattened, u32)> {
        let base = self.plans.values.len();
        let definition = read_instance(self.chunk, start, end, &mut self.plans.values)?;
        let key = plan_key(definition, parent);
        let known = self.plans.by_key.iter().position(|known| known.key == key);
        let (plan, slots, at) = match known {
            Some(at) => {
                let known = &self.plans.by_key[at];
                (known.plan.clone()?, known.slots, at)
            }
            None => {
                let plan = self.plan(definition, parent);
                let slots = Slots {
                    first: self.plans.slots_used,
                    count: (self.plans.values.len() - base) as u32,
                };
                self.plans.slots_used += slots.count;
                let used = self.plans.slots_used as usize;
                let formatted = &mut self.plans.formatted;
                if formatted.len() < used {
                    formatted.resize_with(used, Default::default);
                }
                let at = self.plans.by_key.len();
                self.plans.by_key.push(Known {
                    key,
                    plan: plan.clone(),
                    slots,
                    fixed_text_clean: 0,
                });
                (plan?, slots, at)
            }
        };
        if self.entered.count == 0 {
            self.entered.first = at;
        }
        self.entered.count += 1;
        if let Some(filtered_by) = self.filtered_by
            && self.instance_may_hold_keyword(&filtered_by, at, base)
        {
            // The values left out so far were found to hold no keyword. Read the rest whole.
            self.filtered_by = None;
            self.wanted = Wanted::EVERYTHING;
            self.filtering = false;
            event.set_keywords_absent(false);
        }
        let result = self.run(&plan, base, slots, event);
        self.plans.values.truncate(base);
        result
    }

    /// The plan of the template defined at `definition`, for an instance whose root's
    /// parent is at `parent`: from the store, or made and stored.
    fn plan(&mut self, definition: u32, parent: Place) -> Option<Arc<Plan>> {
        let key = &mut self.plans.key;
        key.clear();
        key.extend_from_slice(&self.table.version().to_le_bytes());
        key.extend_from_slice(&[parent.depth, parent.section as u8]);
        walk_definition(self.chunk, definition as usize, &mut ContentKey(key))?;
        if let Some(plan) = self.plans.store.get(key) {
            return plan;
        }
        let plan = Plan::build(self.chunk, definition, parent, self.table).map(Arc::new);
        self.plans.store.insert(&self.plans.key, plan.clone());
        plan
    }

    /// The value with `index` in the instance whose values start at `base`.
    fn value(&self, base: usize, index: u16) -> Option<Value> {
        self.plans.values.get(base + usize::from(index)).copied()
    }

    /// Whether any of the parts is nested BinXML.
    fn has_fragment(&self, plan: &Plan, parts: &Range<u32>, base: usize) -> bool {
        plan.parts(parts).iter().any(|part| match *part {
            Part::Value(index) => self.value(base, index).is_some_and(|v| v.is_fragment()),
            Part::Text(..) => false,
        })
    }

    fn run(
        &mut self,
        plan: &Plan,
        base: usize,
        slots: Slots,
        event: &mut Event,
    ) -> Option<(Flattened, u32)> {
        let mut rendered = [0u32; MAX_DEPTH + 2];
        let top = match plan.steps.first() {
            Some(Step::Open { depth, .. }) => usize::from(*depth),
            _ => return None,
        };
        // The field name of the element being read, and its id if known.
        let mut data_name: Option<NameAt> = None;
        // The element being read names a field that is not wanted.
        let mut skip_content = false;
        let mut at = 0;
        while let Some(step) = plan.steps.get(at) {
            at += 1;
            match step {
                Step::Open {
                    dependency,
                    depth,
                    close,
                } => {
                    let left_out = dependency
                        .and_then(|d| self.value(base, d))
                        .is_some_and(|v| v.kind == kind::NULL);
                    if left_out {
                        at = *close as usize + 1;
                        continue;
                    }
                    let depth = usize::from(*depth);
                    rendered[depth - 1] += 1;
                    rendered[depth] = 0;
                    data_name = None;
                    skip_content = false;
                }
                Step::Attribute {
                    name,
                    parts,
                    origin,
                } => {
                    if self.has_fragment(plan, parts, base) {
                        return None;
                    }
                    if self.filtering && !self.wanted.contains(name.id) {
                        continue;
                    }
                    let value = self.write_parts(plan, parts, base, slots, event);
                    if value.0 != value.1 {
                        let name_at = write_name(plan, name, event);
                        event.add_field_at(name_at, value, name.id, *origin);
                    }
                }
                Step::DataName { known, parts } => {
                    skip_content = false;
                    if self.filtering
                        && let Some(known) = known
                        && known.text.0 != known.text.1
                        && !self.wanted.contains(known.id)
                    {
                        skip_content = true;
                        data_name = None;
                        continue;
                    }
                    let name = match known {
                        Some(known) => (write_name(plan, known, event), Some(known.id)),
                        None if self.has_fragment(plan, parts, base) => return None,
                        None => (self.write_parts(plan, parts, base, slots, event), None),
                    };
                    // An empty attribute is left out: the field is then named `Data`.
                    data_name = (name.0.0 != name.0.1).then_some(name);
                }
                Step::Content {
                    name,
                    parts,
                    place,
                    field,
                } => {
                    if self.has_fragment(plan, parts, base) {
                        // The fragments' elements are the children; other content is no value.
                        for part in plan.parts(parts) {
                            if let Part::Value(index) = *part {
                                let skipped =
                                    self.nested(base, index, *place, &mut rendered, event)?;
                                if skipped {
                                    return Some((Flattened::Skipped, 1));
                                }
                            }
                        }
                        continue;
                    }
                    if !field || skip_content {
                        continue;
                    }
                    if self.filtering && !self.content_wanted(data_name, name, event) {
                        continue;
                    }
                    let value = self.write_parts(plan, parts, base, slots, event);
                    match data_name {
                        Some((name_at, Some(id))) => {
                            event.add_field_at(name_at, value, id, place.section.origin());
                        }
                        Some((name_at, None)) => {
                            event.add_named_field(
                                self.table,
                                name_at,
                                value,
                                place.section.origin(),
                            );
                        }
                        None => {
                            let name_at = write_name(plan, name, event);
                            event.add_field_at(name_at, value, name.id, place.section.origin());
                        }
                    }
                }
                Step::Nested { value, parent } => {
                    if self.nested(base, *value, *parent, &mut rendered, event)? {
                        return Some((Flattened::Skipped, 1));
                    }
                }
                Step::Close {
                    depth,
                    template_children,
                    ends_system,
                } => {
                    if *template_children && rendered[usize::from(*depth)] == 0 {
                        return None;
                    }
                    if *ends_system {
                        match self.ask_keep(event) {
                            Keep::Read => {}
                            Keep::Skip => return Some((Flattened::Skipped, 1)),
                            Keep::ReadAgain => return None,
                        }
                    }
                }
            }
        }
        Some((Flattened::Complete, rendered[top - 1]))
    }

    /// Asks `keep` about the record whose `<System>` has been read: whether to read on, and
    /// which fields. Out of line, like `content_wanted`: `keep` is the caller's (routing
    /// rules, time windows), once a record.
    #[inline(never)]
    fn ask_keep(&mut self, event: &mut Event) -> Keep {
        let Some(mut wanted) = (self.keep)(event) else {
            return Keep::Skip;
        };
        if self.read_again {
            wanted = Wanted::EVERYTHING;
        } else if wanted.keyword_filters().next().is_some() {
            // `<System>` is the record's own instance's (anything else is read whole).
            let may_hold = match self.entered {
                Entered { count: 1, first } => self.instance_may_hold_keyword(&wanted, first, 0),
                _ => true,
            };
            if !may_hold {
                self.filtered_by = Some(wanted);
                wanted = wanted.without_keyword_filters();
                event.set_keywords_absent(true);
            } else if self.filtering {
                self.read_again = true;
                return Keep::ReadAgain;
            } else {
                wanted = Wanted::EVERYTHING;
            }
        }
        if !wanted.is_everything() {
            event.set_partial();
        }
        self.wanted = wanted;
        self.filtering = !wanted.is_everything();
        Keep::Read
    }

    /// Whether the instance whose values start at `base`, planned by `by_key[at]`, may make
    /// a value holding a keyword of `wanted`'s filters: in a string, in its plan's fixed
    /// text, or across the pieces of a value. Strings found clean are remembered by slot.
    fn instance_may_hold_keyword(&mut self, wanted: &Wanted<'w>, at: usize, base: usize) -> bool {
        let filters = filters_key(wanted);
        // A string shorter than every keyword holds none.
        let shortest = wanted
            .keyword_filters()
            .map(KeywordFilter::shortest)
            .min()
            .unwrap_or(0);
        let Plans {
            by_key,
            values,
            clean,
            narrowed,
            narrowed_slots,
            ..
        } = &mut *self.plans;
        let known = &mut by_key[at];
        let Some(plan) = &known.plan else {
            return true;
        };
        if plan.joined_values {
            return true;
        }
        narrowed.clear();
        narrowed_slots.clear();
        if known.fixed_text_clean != filters {
            narrowed.extend_from_slice(&plan.fixed_text);
        }
        let slots = known.slots;
        if clean.len() < (slots.first + slots.count) as usize {
            clean.resize_with((slots.first + slots.count) as usize, Clean::default);
        }
        for (index, value) in values[base..].iter().enumerate() {
            if value.kind != kind::STRING {
                continue;
            }
            let bytes = &self.chunk[value.bytes.0 as usize..value.bytes.1 as usize];
            if bytes.len() < 2 * shortest {
                continue;
            }
            if index < slots.count as usize {
                let slot = slots.first + index as u32;
                let last = &clean[slot as usize];
                if last.filters == filters && same_bytes(&last.bytes, bytes) {
                    continue;
                }
                narrowed_slots.push(slot);
            }
            keyword_filter::narrow_utf16(bytes, narrowed);
        }
        if narrowed.is_empty() {
            return false;
        }
        if wanted.keyword_filters().any(|f| f.may_occur(narrowed)) {
            return true;
        }
        known.fixed_text_clean = filters;
        for &slot in narrowed_slots.iter() {
            let value = values[base + (slot - slots.first) as usize];
            let last = &mut clean[slot as usize];
            last.filters = filters;
            last.bytes.clear();
            last.bytes
                .extend_from_slice(&self.chunk[value.bytes.0 as usize..value.bytes.1 as usize]);
        }
        false
    }

    /// Whether an element's content, named `data_name` or else `name`, is a wanted field.
    /// Out of line: with the field checks inlined into the loop over steps, reading a
    /// record whole took 5% more instructions (an archived logons sample) though it checks
    /// nothing; the loop now only tests `filtering`.
    #[inline(never)]
    fn content_wanted(&self, data_name: Option<NameAt>, name: &Name, event: &Event) -> bool {
        match data_name {
            // Named by values.
            Some(((start, end), None)) => self
                .wanted
                .contains(self.table.get(&event.text()[start..end])),
            // Its `DataName` step left it out if it was not wanted.
            Some((_, Some(_))) => true,
            None => self.wanted.contains(name.id),
        }
    }

    /// Reads value `index`, if it is nested BinXML, as children of an element at `parent`,
    /// counting them in `rendered`. Whether `keep` said to skip the record.
    fn nested(
        &mut self,
        base: usize,
        index: u16,
        parent: Place,
        rendered: &mut [u32; MAX_DEPTH + 2],
        event: &mut Event,
    ) -> Option<bool> {
        let Some(value) = self.value(base, index).filter(Value::is_fragment) else {
            return Some(false);
        };
        let (start, end) = (value.bytes.0 as usize, value.bytes.1 as usize);
        let (flattened, roots) = self.instance(start, end, parent, event)?;
        rendered[usize::from(parent.depth)] += roots;
        Some(flattened == Flattened::Skipped)
    }

    /// Appends the parts' text to the event's text; its range. A value that is the one last
    /// formatted in its slot is copied from there.
    fn write_parts(
        &mut self,
        plan: &Plan,
        parts: &Range<u32>,
        base: usize,
        slots: Slots,
        event: &mut Event,
    ) -> (usize, usize) {
        let text = event.text_mut();
        let start = text.len();
        for part in plan.parts(parts) {
            match *part {
                Part::Text(from, to) => text.push_str(&plan.text[from as usize..to as usize]),
                Part::Value(index) => {
                    let Some(value) = self.value(base, index) else {
                        continue;
                    };
                    let bytes = &self.chunk[value.bytes.0 as usize..value.bytes.1 as usize];
                    let Some(last) = (u32::from(index) < slots.count).then(|| {
                        &mut self.plans.formatted[(slots.first + u32::from(index)) as usize]
                    }) else {
                        write_value(value.kind, bytes, text);
                        continue;
                    };
                    if last.kind == value.kind && same_bytes(&last.bytes, bytes) {
                        text.push_str(&last.text);
                        continue;
                    }
                    let at = text.len();
                    write_value(value.kind, bytes, text);
                    last.kind = value.kind;
                    last.bytes.clear();
                    last.bytes.extend_from_slice(bytes);
                    last.text.clear();
                    last.text.push_str(&text[at..]);
                }
            }
        }
        (start, text.len())
    }
}

/// `a == b`, inline for the short values most are (numbers, times, GUIDs, SIDs): a call to
/// `memcmp` for each of a record's values had cost about as much as the comparing. (Inline
/// up to 64 bytes too, it changed nothing measurable: what `memcmp` still costs is mostly
/// the first touch of the record's bytes, and the long strings, paths and access lists.)
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    fn word<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
        let mut word = [0; N];
        word.copy_from_slice(&bytes[at..at + N]);
        word
    }
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        // Two words that overlap when `n` is under 16 cover every byte.
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        4..=7 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        _ => a == b,
    }
}

/// Appends a name written in the template to the event's text; its range.
fn write_name(plan: &Plan, name: &Name, event: &mut Event) -> (usize, usize) {
    let text = event.text_mut();
    let start = text.len();
    text.push_str(&plan.text[name.text.0 as usize..name.text.1 as usize]);
    (start, text.len())
}

/// What a template definition says, token by token. Names and text come as their UTF-16LE
/// bytes.
trait DefinitionSink {
    fn open(&mut self, name: &[u8], dependency: u16) -> Option<()>;
    fn attribute(&mut self, name: &[u8]) -> Option<()>;
    fn close_start(&mut self) -> Option<()>;
    /// `empty`: closed as `<X/>`, not with an end tag.
    fn close(&mut self, empty: bool) -> Option<()>;
    fn text(&mut self, units: &[u8]) -> Option<()>;
    fn substitution(&mut self, index: u16) -> Option<()>;
}

/// Walks the template definition at `at` in `chunk` into `sink`. `None` for what this
/// module does not model (CDATA, references, processing instructions, text other than
/// UTF-16, nested instances) or anything malformed.
fn walk_definition(chunk: &[u8], at: usize, sink: &mut impl DefinitionSink) -> Option<()> {
    let data_size = u32_at(chunk, at + 20)? as usize;
    let mut at = at + DEFINITION_HEADER_SIZE;
    let end = at.checked_add(data_size)?.min(chunk.len());
    let mut first = true;
    loop {
        let token = *chunk[..end].get(at)?;
        at += 1;
        match token {
            END_OF_STREAM => return Some(()),
            FRAGMENT_HEADER if first => at += 3,
            0x01 | 0x41 => {
                let dependency = u16_at(chunk, at)?;
                // The dependency, the element's size, then its name.
                at += 6;
                let name = name_at(chunk, &mut at)?;
                if token & 0x40 != 0 {
                    at += 4; // the attribute list's size
                }
                sink.open(name, dependency)?;
            }
            0x06 | 0x46 => sink.attribute(name_at(chunk, &mut at)?)?,
            0x02 => sink.close_start()?,
            0x03 | 0x04 => sink.close(token == 0x03)?,
            0x05 | 0x45 => {
                if *chunk.get(at)? != kind::STRING {
                    return None;
                }
                let chars = usize::from(u16_at(chunk, at + 1)?);
                at += 3;
                sink.text(chunk.get(at..at + 2 * chars)?)?;
                at += 2 * chars;
            }
            0x0d | 0x0e => {
                // The index, then the value's type, which the record's values repeat.
                sink.substitution(u16_at(chunk, at)?)?;
                at += 3;
            }
            _ => return None,
        }
        first = false;
        if at > end {
            return None;
        }
    }
}

/// A name reference at `at` (advanced past it): the name's characters, from the chunk's
/// string table; a name defined in place (at its first use in the chunk) is skipped over.
fn name_at<'c>(chunk: &'c [u8], at: &mut usize) -> Option<&'c [u8]> {
    let offset = u32_at(chunk, *at)? as usize;
    *at += 4;
    let chars = usize::from(u16_at(chunk, offset.checked_add(6)?)?);
    let units = chunk.get(offset + 8..offset + 8 + 2 * chars)?;
    if offset == *at {
        // Link, hash, length, the characters and a NUL.
        *at += 10 + 2 * chars;
    }
    Some(units)
}

/// Builds the root element of a definition.
struct TreeBuilder<'t> {
    stack: Vec<Element>,
    within: Within,
    root: Option<Element>,
    /// Where template text goes (the plan's text).
    text: &'t mut String,
}

/// Where the reader is in an element.
#[derive(PartialEq, Eq)]
enum Within {
    /// Between `<name` and `>`, with no attribute started.
    StartTag,
    /// In the value of the element's last attribute.
    Attribute,
    /// Between `>` and `</name>`.
    Content,
}

fn utf16_name(units: &[u8]) -> Option<String> {
    let units: Vec<u16> = units
        .chunks_exact(2)
        .map(|u| u16::from_le_bytes([u[0], u[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

impl TreeBuilder<'_> {
    fn push_part(&mut self, part: Part) -> Option<()> {
        let element = self.stack.last_mut()?;
        match self.within {
            Within::StartTag => return None,
            Within::Attribute => element.attributes.last_mut()?.1.push(part),
            Within::Content => element.content.push(Node::Part(part)),
        }
        Some(())
    }
}

impl DefinitionSink for TreeBuilder<'_> {
    fn open(&mut self, name: &[u8], dependency: u16) -> Option<()> {
        if self.within != Within::Content || (self.stack.is_empty() && self.root.is_some()) {
            return None;
        }
        self.stack.push(Element {
            name: utf16_name(name)?,
            dependency: (dependency != 0xffff).then_some(dependency),
            ..Element::default()
        });
        self.within = Within::StartTag;
        Some(())
    }

    fn attribute(&mut self, name: &[u8]) -> Option<()> {
        if self.within == Within::Content {
            return None;
        }
        let name = utf16_name(name)?;
        self.stack.last_mut()?.attributes.push((name, Vec::new()));
        self.within = Within::Attribute;
        Some(())
    }

    fn close_start(&mut self) -> Option<()> {
        if self.within == Within::Content {
            return None;
        }
        self.within = Within::Content;
        Some(())
    }

    fn close(&mut self, empty: bool) -> Option<()> {
        // `<X/>` ends a start tag, `</X>` content.
        if empty == (self.within == Within::Content) {
            return None;
        }
        let mut element = self.stack.pop()?;
        element.self_closing = empty;
        self.within = Within::Content;
        match self.stack.last_mut() {
            Some(parent) => parent.content.push(Node::Element(element)),
            None => self.root = Some(element),
        }
        Some(())
    }

    fn text(&mut self, units: &[u8]) -> Option<()> {
        let start = self.text.len() as u32;
        write_utf16(units, false, self.text);
        self.push_part(Part::Text(start, self.text.len() as u32))
    }

    fn substitution(&mut self, index: u16) -> Option<()> {
        self.push_part(Part::Value(index))
    }
}

/// A definition's content as bytes: its tokens, with names spelled out rather than given
/// by offset. The same template defined in two chunks has the same content.
struct ContentKey<'k>(&'k mut Vec<u8>);

impl ContentKey<'_> {
    fn bytes(&mut self, token: u8, bytes: &[u8]) -> Option<()> {
        self.0.push(token);
        self.0
            .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        self.0.extend_from_slice(bytes);
        Some(())
    }
}

impl DefinitionSink for ContentKey<'_> {
    fn open(&mut self, name: &[u8], dependency: u16) -> Option<()> {
        self.0.extend_from_slice(&dependency.to_le_bytes());
        self.bytes(0x01, name)
    }
    fn attribute(&mut self, name: &[u8]) -> Option<()> {
        self.bytes(0x06, name)
    }
    fn close_start(&mut self) -> Option<()> {
        self.bytes(0x02, &[])
    }
    fn close(&mut self, empty: bool) -> Option<()> {
        self.bytes(if empty { 0x03 } else { 0x04 }, &[])
    }
    fn text(&mut self, units: &[u8]) -> Option<()> {
        self.bytes(0x05, units)
    }
    fn substitution(&mut self, index: u16) -> Option<()> {
        self.bytes(0x0d, &index.to_le_bytes())
    }
}

/// Appends a value as evtx's XML renders it, as `evtx_xml` reads that back (entities
/// decoded). `kind` and the length are checked by `readable`.
fn write_value(kind: u8, bytes: &[u8], out: &mut String) {
    let le = |n: usize| -> u64 {
        let mut buf = [0u8; 8];
        buf[..n].copy_from_slice(&bytes[..n]);
        u64::from_le_bytes(buf)
    };
    match kind {
        kind::STRING => write_utf16(bytes, true, out),
        kind::INT8 => write_signed(i64::from(bytes[0] as i8), out),
        kind::UINT8 => write_decimal(u64::from(bytes[0]), out),
        kind::INT16 => write_signed(i64::from(le(2) as u16 as i16), out),
        kind::UINT16 => write_decimal(le(2), out),
        kind::INT32 => write_signed(i64::from(le(4) as u32 as i32), out),
        kind::UINT32 => write_decimal(le(4), out),
        kind::INT64 => write_signed(le(8) as i64, out),
        kind::UINT64 => write_decimal(le(8), out),
        kind::BOOL => match le(4) as u32 as i32 {
            0 => out.push_str("false"),
            1 => out.push_str("true"),
            other => write_signed(i64::from(other), out),
        },
        kind::BINARY => {
            let mut hex = [0u8; 64];
            for block in bytes.chunks(hex.len() / 2) {
                for (pair, &b) in hex.chunks_exact_mut(2).zip(block) {
                    pair[0] = hex_digit(b >> 4, b'A');
                    pair[1] = hex_digit(b & 15, b'A');
                }
                push_ascii(&hex[..2 * block.len()], out);
            }
        }
        kind::GUID => write_guid(bytes, out),
        kind::SIZE_T | kind::HEX_INT32 | kind::HEX_INT64 => {
            out.push_str("0x");
            write_hex(le(bytes.len()), out);
        }
        kind::FILETIME => write_filetime(le(8), out),
        kind::SYSTIME => write_systime(bytes, out),
        kind::SID => write_sid(bytes, out),
        // NULL, and empty nested BinXML: nothing.
        _ => {}
    }
}

/// UTF-16LE as evtx writes it into XML: up to the first NUL if `to_nul`, and `_` for what
/// XML cannot hold (C0 controls but tab, LF and CR; U+FFFE, U+FFFF; lone surrogates).
fn write_utf16(bytes: &[u8], to_nul: bool, out: &mut String) {
    // Mostly printable ASCII: narrowed in one pass, four units at a time while they are
    // all U+0020..U+007F, each pushed as a character known to be ASCII (a byte, no
    // validation). The first unit past ASCII hands the rest to the general path.
    let bytes = &bytes[..bytes.len() & !1];
    out.reserve(bytes.len() / 2);
    let ascii = |unit: u64| char::from((unit & 0x7F) as u8);
    let mut at = 0;
    while at < bytes.len() {
        if let Some(four) = bytes.get(at..at + 8) {
            let w = u64::from_le_bytes([
                four[0], four[1], four[2], four[3], four[4], four[5], four[6], four[7],
            ]);
            // Each unit below 0x80, and each at least 0x20 (adding 0x60 sets its bit 7).
            const LOW7: u64 = 0x0080_0080_0080_0080;
            if w & 0xFF80_FF80_FF80_FF80 == 0 && (w + 0x0060_0060_0060_0060) & LOW7 == LOW7 {
                // Pushed one at a time: `String::extend` with the four was inlined or not
                // depending on the rest of the program, and a change elsewhere once made
                // it a call that cost 7% of a hunt over an archived logons log.
                for unit in [w, w >> 16, w >> 32, w >> 48] {
                    out.push(ascii(unit));
                }
                at += 8;
                continue;
            }
        }
        let unit = u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        if unit == 0 && to_nul {
            break;
        }
        if (0x20..0x80).contains(&unit) || matches!(unit, 0x09 | 0x0A | 0x0D) {
            out.push(ascii(u64::from(unit)));
            at += 2;
            continue;
        }
        let rest = &bytes[at..];
        let end = match to_nul {
            true => rest
                .chunks_exact(2)
                .position(|u| u == [0, 0])
                .map_or(rest.len(), |units| 2 * units),
            false => rest.len(),
        };
        write_utf16_chars(&rest[..end], out);
        break;
    }
}

/// `write_utf16` one character at a time, for text that needs it.
fn write_utf16_chars(bytes: &[u8], out: &mut String) {
    let units = bytes
        .chunks_exact(2)
        .map(|u| u16::from_le_bytes([u[0], u[1]]));
    for c in char::decode_utf16(units) {
        match c {
            Ok(c @ ('\t' | '\n' | '\r')) => out.push(c),
            Ok(c) if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('_'),
            Ok(c) => out.push(c),
            Err(_) => out.push('_'),
        }
    }
}

fn hex_digit(nibble: u8, ten: u8) -> u8 {
    if nibble < 10 {
        b'0' + nibble
    } else {
        ten + nibble - 10
    }
}

/// Appends text made here of ASCII digits and signs in one go, not a character at a time.
fn push_ascii(ascii: &[u8], out: &mut String) {
    debug_assert!(ascii.is_ascii());
    out.push_str(std::str::from_utf8(ascii).unwrap_or_default());
}

fn write_decimal(v: u64, out: &mut String) {
    // A digit at a time: for these one to twenty characters, cheaper than validating
    // them as UTF-8 (which took a third of the cost of writing a number).
    for &digit in crate::decimal::digits(v, &mut [0; 20]) {
        out.push(char::from(digit & 0x7F));
    }
}

fn write_signed(v: i64, out: &mut String) {
    if v < 0 {
        out.push('-');
    }
    write_decimal(v.unsigned_abs(), out);
}

/// Lowercase, without leading zeros.
fn write_hex(v: u64, out: &mut String) {
    let digits = (64 - v.leading_zeros()).div_ceil(4).max(1) as usize;
    let mut text = [0u8; 16];
    for (i, d) in text[..digits].iter_mut().rev().enumerate() {
        *d = hex_digit((v >> (4 * i)) as u8 & 15, b'a');
    }
    push_ascii(&text[..digits], out);
}

/// `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}` in lowercase, the first three groups
/// little-endian, as evtx renders a GUID.
fn write_guid(bytes: &[u8], out: &mut String) {
    const ORDER: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    let mut text = *b"{00000000-0000-0000-0000-000000000000}";
    let mut at_text = 1;
    for (i, &at) in ORDER.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at_text += 1;
        }
        text[at_text] = hex_digit(bytes[at] >> 4, b'a');
        text[at_text + 1] = hex_digit(bytes[at] & 15, b'a');
        at_text += 2;
    }
    push_ascii(&text, out);
}

/// `S-revision-authority-sub-...`; `S-?` for a SID too short to have its header.
fn write_sid(bytes: &[u8], out: &mut String) {
    let [revision, count, a0, a1, a2, a3, a4, a5, subs @ ..] = bytes else {
        out.push_str("S-?");
        return;
    };
    out.push_str("S-");
    write_decimal(u64::from(*revision), out);
    out.push('-');
    write_decimal(
        u64::from_be_bytes([0, 0, *a0, *a1, *a2, *a3, *a4, *a5]),
        out,
    );
    for sub in subs.chunks_exact(4).take(usize::from(*count)) {
        out.push('-');
        write_decimal(
            u64::from(u32::from_le_bytes([sub[0], sub[1], sub[2], sub[3]])),
            out,
        );
    }
}

/// A date as evtx writes it: `YYYY-MM-DDTHH:MM:SS.fffffffZ`, the year's last four digits.
fn write_datetime(year: u64, month: u64, day: u64, seconds: u64, ticks: u64, out: &mut String) {
    fn digits(into: &mut [u8], mut v: u64) {
        for d in into.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    let mut text = *b"0000-00-00T00:00:00.0000000Z";
    digits(&mut text[0..4], year % 10_000);
    digits(&mut text[5..7], month);
    digits(&mut text[8..10], day);
    digits(&mut text[11..13], seconds / 3600);
    digits(&mut text[14..16], seconds / 60 % 60);
    digits(&mut text[17..19], seconds % 60);
    digits(&mut text[20..27], ticks);
    push_ascii(&text, out);
}

/// A FILETIME (100 ns ticks since 1601); all zeros past `i64::MAX`, as evtx writes it.
fn write_filetime(filetime: u64, out: &mut String) {
    const TICKS_PER_SECOND: u64 = 10_000_000;
    const TICKS_PER_DAY: u64 = 86_400 * TICKS_PER_SECOND;
    if filetime > i64::MAX as u64 {
        write_datetime(0, 0, 0, 0, 0, out);
        return;
    }
    let (days, ticks) = (filetime / TICKS_PER_DAY, filetime % TICKS_PER_DAY);
    let (year, month, day) = date_of_day(days);
    write_datetime(
        year,
        month,
        day,
        ticks / TICKS_PER_SECOND,
        ticks % TICKS_PER_SECOND,
        out,
    );
}

/// The Gregorian date `days` after 1601-01-01. 1601 starts a 400-year cycle, so the
/// cycles, centuries, four-year runs and years fall out by division.
fn date_of_day(days: u64) -> (u64, u64, u64) {
    const CYCLE: u64 = 146_097; // days in 400 years
    const CENTURY: u64 = 36_524;
    const QUAD: u64 = 1_461;
    let (cycles, rest) = (days / CYCLE, days % CYCLE);
    let centuries = (rest / CENTURY).min(3);
    let rest = rest - centuries * CENTURY;
    let quads = rest / QUAD;
    let rest = rest - quads * QUAD;
    let years = (rest / 365).min(3);
    let mut day_of_year = rest - years * 365;
    let year = 1601 + cycles * 400 + centuries * 100 + quads * 4 + years;
    let lengths = [
        31,
        if is_leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let mut month = 1;
    for length in lengths {
        if day_of_year < length {
            break;
        }
        day_of_year -= length;
        month += 1;
    }
    (year, month, day_of_year + 1)
}

fn is_leap(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

/// A SYSTEMTIME; one Windows would not take as a time is written as 1601-01-01, as evtx
/// writes it.
fn write_systime(bytes: &[u8], out: &mut String) {
    let field = |i: usize| u64::from(u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]));
    let (year, month, day) = (field(0), field(1), field(3));
    let (hour, minute, second, millis) = (field(4), field(5), field(6), field(7));
    let month_days = match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let valid = (1601..=30827).contains(&year)
        && (1..=12).contains(&month)
        && (1..=month_days).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60
        && millis < 1000;
    if valid {
        let seconds = hour * 3600 + minute * 60 + second;
        write_datetime(year, month, day, seconds, millis * 10_000, out);
    } else {
        write_datetime(1601, 1, 1, 0, 0, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value(kind: u8, bytes: &[u8]) -> String {
        assert!(readable(kind, bytes.len()));
        let mut out = String::new();
        write_value(kind, bytes, &mut out);
        out
    }

    #[test]
    fn values_are_written_as_evtx_renders_them() {
        let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
        assert_eq!(value(kind::STRING, &utf16("C:\\a&b\0tail")), "C:\\a&b");
        assert_eq!(value(kind::STRING, &utf16("a\u{1}b\tc\u{FFFF}")), "a_b\tc_");
        assert_eq!(value(kind::STRING, &[0x00, 0xD8, b'x', 0]), "_x");
        assert_eq!(value(kind::STRING, &utf16("日本")), "日本");
        assert_eq!(value(kind::INT8, &[0xff]), "-1");
        assert_eq!(value(kind::UINT16, &[0x10, 0x27]), "10000");
        assert_eq!(value(kind::INT32, &(-5i32).to_le_bytes()), "-5");
        assert_eq!(
            value(kind::UINT64, &u64::MAX.to_le_bytes()),
            "18446744073709551615"
        );
        assert_eq!(value(kind::BOOL, &1u32.to_le_bytes()), "true");
        assert_eq!(value(kind::BOOL, &0u32.to_le_bytes()), "false");
        assert_eq!(value(kind::BOOL, &7u32.to_le_bytes()), "7");
        assert_eq!(value(kind::HEX_INT32, &0x3e7u32.to_le_bytes()), "0x3e7");
        assert_eq!(value(kind::HEX_INT64, &0u64.to_le_bytes()), "0x0");
        assert_eq!(
            value(kind::SIZE_T, &0x8000_0000_0000_0001u64.to_le_bytes()),
            "0x8000000000000001"
        );
        assert_eq!(value(kind::BINARY, &[0x0a, 0xff]), "0AFF");
        assert_eq!(value(kind::NULL, &[]), "");
        let guid = [
            0x25, 0x96, 0x84, 0x54, 0x78, 0x54, 0x94, 0x49, 0xa5, 0xba, 0x3e, 0x3b, 0x03, 0x28,
            0xc3, 0x0d,
        ];
        assert_eq!(
            value(kind::GUID, &guid),
            "{54849625-5478-4994-a5ba-3e3b0328c30d}"
        );
        let system = [1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0];
        assert_eq!(value(kind::SID, &system), "S-1-5-18");
        assert_eq!(value(kind::SID, &[1, 0, 0]), "S-?");
        // 2021-11-23T09:26:30.0591547Z
        let filetime = 132_821_331_900_591_547u64;
        assert_eq!(
            value(kind::FILETIME, &filetime.to_le_bytes()),
            "2021-11-23T09:26:30.0591547Z"
        );
        assert_eq!(
            value(kind::FILETIME, &u64::MAX.to_le_bytes()),
            "0000-00-00T00:00:00.0000000Z"
        );
        // Year, month, weekday, day, hour, minute, second, milliseconds.
        let systime =
            |parts: [u16; 8]| -> Vec<u8> { parts.iter().flat_map(|v| v.to_le_bytes()).collect() };
        assert_eq!(
            value(kind::SYSTIME, &systime([2024, 2, 4, 29, 23, 59, 58, 999])),
            "2024-02-29T23:59:58.9990000Z"
        );
        assert_eq!(
            value(kind::SYSTIME, &systime([2023, 2, 4, 29, 0, 0, 0, 0])),
            "1601-01-01T00:00:00.0000000Z",
            "no February 29th in 2023"
        );
        assert!(!readable(kind::INT32, 2));
        assert!(!readable(0x0b, 4), "floats are left to evtx");
        assert!(!readable(0x81, 8), "arrays are left to evtx");
    }

    #[test]
    fn a_template_has_one_content_key_in_every_chunk_and_another_has_another() {
        use tansa_fixtures::event::EventSpec;
        // Two shapes, alternating, over a few chunks: every chunk defines both anew.
        let events: Vec<EventSpec> = (0..600)
            .map(|i| {
                let event = EventSpec::new("Security", 4624 + i % 2);
                match i % 2 {
                    0 => event.data("TargetUserName", "alice"),
                    _ => event
                        .data("TargetUserName", "bob")
                        .data("Status", "0xc000006d"),
                }
            })
            .collect();
        let file = tansa_fixtures::write_evtx(&events).unwrap();
        let chunks: Vec<&[u8]> = file[4096..].chunks(65536).collect();
        assert!(chunks.len() >= 3);
        let key_of_record = |chunk: &[u8], n: usize| {
            let mut at = 512;
            for _ in 0..n {
                at += u32_at(chunk, at + 4).unwrap() as usize;
            }
            let size = u32_at(chunk, at + 4).unwrap() as usize;
            let mut values = Vec::new();
            let definition = read_instance(chunk, at + 24, at + size - 4, &mut values).unwrap();
            let mut key = Vec::new();
            walk_definition(chunk, definition as usize, &mut ContentKey(&mut key)).unwrap();
            key
        };
        for chunk in &chunks[1..] {
            assert_eq!(key_of_record(chunk, 0), key_of_record(chunks[0], 0));
            assert_eq!(key_of_record(chunk, 1), key_of_record(chunks[0], 1));
        }
        assert_ne!(key_of_record(chunks[0], 0), key_of_record(chunks[0], 1));
    }

    #[test]
    fn dates_agree_with_jiff_across_leap_years_and_centuries() {
        let epoch: jiff::Timestamp = "1601-01-01T00:00:00Z".parse().unwrap();
        // Every day boundary around century and leap-year edges, and a prime stride.
        let mut days: Vec<u64> = (0..3_000_000u64).step_by(997).collect();
        for year in [1700i16, 1900, 2000, 2100, 2400, 2023, 2024, 9999] {
            let date = jiff::civil::date(year, 1, 1);
            let day = (date - jiff::civil::date(1601, 1, 1)).get_days() as u64;
            days.extend(day.saturating_sub(400)..day + 400);
        }
        for day in days {
            let Ok(ts) = epoch.checked_add(jiff::SignedDuration::from_hours(24 * day as i64))
            else {
                continue;
            };
            let civil = ts.to_zoned(jiff::tz::TimeZone::UTC).date();
            let expected = (
                civil.year() as u64,
                civil.month() as u64,
                civil.day() as u64,
            );
            assert_eq!(date_of_day(day), expected, "day {day}");
        }
    }

    /// A plan gives keyword filters the text it writes into values itself, and says when a
    /// value is made of pieces (a keyword could straddle them).
    #[test]
    fn a_plan_knows_its_fixed_text_and_its_values_made_of_pieces() {
        let name = Name {
            text: (0, 4),
            id: None,
        };
        let place = Place::TOP.child("Event");
        let plan = |parts: Vec<Part>, field: bool| {
            let mut plan = Plan {
                steps: vec![
                    Step::Attribute {
                        name,
                        parts: 0..1,
                        origin: crate::event::Origin::Header,
                    },
                    Step::Content {
                        name,
                        parts: 1..parts.len() as u32,
                        place,
                        field,
                    },
                ],
                parts,
                text: "NameMSEDGEWIN10".into(),
                fixed_text: Vec::new(),
                joined_values: false,
            };
            plan.find_fixed_text();
            (plan.fixed_text, plan.joined_values)
        };
        let fixed = Part::Text(4, 15);
        assert_eq!(
            plan(vec![fixed, Part::Value(0)], true),
            (b"msedgewin10\0".to_vec(), false)
        );
        assert_eq!(
            plan(vec![Part::Value(1), Part::Value(0), fixed], true),
            (Vec::new(), true)
        );
        // Content that makes no field is no value.
        assert_eq!(
            plan(vec![Part::Value(1), Part::Value(0), fixed], false),
            (Vec::new(), false)
        );
    }

    proptest! {
        /// Keyword filters rely on it (`keyword_filter::FORMATTED`): a value of any type but
        /// a string is written with these characters only.
        #[test]
        fn values_other_than_strings_are_written_with_the_formatted_characters(
            kind in proptest::sample::select(vec![
                kind::INT8, kind::UINT8, kind::INT16, kind::UINT16, kind::INT32, kind::UINT32,
                kind::INT64, kind::UINT64, kind::BOOL, kind::BINARY, kind::GUID, kind::SIZE_T,
                kind::FILETIME, kind::SYSTIME, kind::SID, kind::HEX_INT32, kind::HEX_INT64,
            ]),
            bytes in proptest::collection::vec(any::<u8>(), 0..40),
            small in 0u8..4,
        ) {
            let len = (0..=bytes.len()).rev().find(|&len| readable(kind, len));
            let bytes = match len {
                Some(len) => &bytes[..len],
                None => return Ok(()),
            };
            let mut bytes = bytes.to_vec();
            // Booleans are mostly 0 or 1, and SIDs name how many parts they have.
            match kind {
                kind::BOOL if !bytes.is_empty() => bytes[1..].fill(0),
                kind::SID if bytes.len() > 1 => bytes[1] = small,
                _ => {}
            }
            if kind == kind::BOOL && !bytes.is_empty() {
                bytes[0] %= 3;
            }
            let mut text = String::new();
            write_value(kind, &bytes, &mut text);
            for c in text.bytes() {
                prop_assert!(
                    crate::keyword_filter::FORMATTED.contains(&c.to_ascii_lowercase()),
                    "{:?} in {:?} (type {:#x})", c as char, text, kind
                );
            }
        }
    }
}

#[cfg(test)]
mod utf16_tests {
    use super::*;
    use proptest::prelude::*;

    /// What `write_utf16` must write: the general path over the text up to its first NUL.
    fn one_char_at_a_time(bytes: &[u8], to_nul: bool) -> String {
        let even = &bytes[..bytes.len() & !1];
        let end = match to_nul {
            true => even
                .chunks_exact(2)
                .position(|u| u == [0, 0])
                .map_or(even.len(), |units| 2 * units),
            false => even.len(),
        };
        let mut out = String::new();
        write_utf16_chars(&even[..end], &mut out);
        out
    }

    /// Units as logs hold them: mostly printable ASCII, with the edges of the fast path
    /// (controls, DEL, Latin-1, NUL), other scripts and lone or paired surrogates.
    fn unit() -> impl Strategy<Value = u16> {
        prop_oneof![
            8 => 0x20u16..0x80,
            1 => 0u16..0x20,
            1 => 0x7Fu16..0x100,
            1 => Just(0u16),
            1 => 0x100u16..0xD800,
            1 => 0xD800u16..0xE000,
            1 => 0xE000u16..=0xFFFF,
        ]
    }

    proptest! {
        /// Values compared inline are equal exactly when their bytes are: any length, and
        /// a value against itself, itself one byte shorter, or itself with one byte changed
        /// anywhere.
        #[test]
        fn values_compare_inline_as_their_bytes_do(
            a in proptest::collection::vec(any::<u8>(), 0..80),
            changed in proptest::option::of(any::<proptest::sample::Index>()),
            cut in 0usize..2,
        ) {
            let mut b = a.clone();
            if let Some(at) = changed.filter(|_| !b.is_empty()) {
                let at = at.index(b.len());
                b[at] ^= 1;
            }
            b.truncate(b.len().saturating_sub(cut));
            prop_assert_eq!(same_bytes(&a, &b), a == b);
            prop_assert!(same_bytes(&a, &a));
        }
    }

    proptest! {
        #[test]
        fn the_fast_path_writes_what_the_general_path_writes(
            units in proptest::collection::vec(unit(), 0..300),
            odd_byte in proptest::option::of(any::<u8>()),
            to_nul in any::<bool>(),
        ) {
            let mut bytes: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
            bytes.extend(odd_byte);
            let mut out = String::from("before:");
            write_utf16(&bytes, to_nul, &mut out);
            prop_assert_eq!(out, format!("before:{}", one_char_at_a_time(&bytes, to_nul)));
        }
    }
}
