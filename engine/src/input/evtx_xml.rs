//! Flattens one EVTX record, rendered as XML by the evtx crate, into an `Event`.
//!
//! Most records no longer come this way: `evtx_binxml` reads them from their BinXML template
//! and values, and sends here only what it does not model. What this module makes of evtx's
//! XML is the reference that reading is checked against, record for record.
//!
//! Why XML and not evtx's JSON: the XML keeps the record as Windows wrote it (repeated
//! `Data` names stay repeated, an empty element is an empty string and not `null`), it needs
//! no unescaping of the backslashes that fill Windows paths, and it renders as fast. The
//! parser below is a single forward scan for the tiny, well-formed XML subset evtx emits:
//! elements, attributes, text, the five entities, character references and CDATA.
//!
//! Naming (what SigmaHQ rules expect, see `tests/thor.yml` and the Sigma Windows taxonomy):
//! - `<System>` children by element name (`EventID`, `Channel`, `Computer`, ...); their
//!   attributes as `Element_Attribute` (`Provider_Name`, `Provider_Guid`), except the ones
//!   rules name bare: `TimeCreated` (SystemTime), `ProcessID`, `ThreadID`, `UserID`,
//!   `ActivityID`, `RelatedActivityID` (the `Tag_Attribute` spellings are aliases).
//! - `<EventData>`: `<Data Name="X">` as `X`; unnamed `<Data>` as `Data`; `<Binary>` as
//!   `Binary`.
//! - `<UserData>` and anything else: leaf elements by their own name, attributes as
//!   `Element_Attribute`; namespace declarations are dropped.

use crate::event::{Event, Origin};
#[cfg(test)]
use crate::field::FieldId;
use crate::field::FieldTable;
use memchr::{memchr, memchr2};

/// Why a rendered record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed record XML at byte {offset}: {reason}")]
pub struct XmlError {
    pub offset: usize,
    pub reason: &'static str,
}

/// What became of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flattened {
    /// Every field is in the event.
    Complete,
    /// `keep` said no after `<System>`: only the header fields are in the event.
    Skipped,
}

/// Where an element is, which decides how its fields are named and where they come from
/// (`evtx_binxml` reads records by the same rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    /// The record's root element.
    Root,
    /// `<System>` and below: the header.
    System,
    /// `<EventData>` and below.
    EventData,
    /// Any other payload (`<UserData>`, ...).
    Other,
}

impl Section {
    /// The section of a child element named `name` of an element in this section.
    pub(crate) fn child(self, name: &str) -> Section {
        match self {
            Section::Root => match name {
                "System" => Section::System,
                "EventData" => Section::EventData,
                _ => Section::Other,
            },
            section => section,
        }
    }

    pub(crate) fn origin(self) -> Origin {
        if self == Section::System {
            Origin::Header
        } else {
            Origin::Payload
        }
    }
}

struct Frame {
    /// The element's name, as a range of the XML.
    name: (usize, usize),
    section: Section,
    depth: usize,
    has_children: bool,
    /// Where this element's text starts in the event's buffer.
    text_start: usize,
    /// For `<Data Name="...">`: the name's range in the event's buffer.
    data_name: Option<(usize, usize)>,
}

/// Fills `event` from the XML of one record. After the `<System>` element, `keep(event)`
/// decides whether the payload is worth reading.
pub fn flatten(
    xml: &str,
    table: &FieldTable,
    event: &mut Event,
    keep: impl FnMut(&Event) -> bool,
) -> Result<Flattened, XmlError> {
    flatten_with(xml, table, event, keep, true)
}

/// `flatten`, with or without the fast paths for the common shapes (tests check that both
/// read every record alike).
fn flatten_with(
    xml: &str,
    table: &FieldTable,
    event: &mut Event,
    mut keep: impl FnMut(&Event) -> bool,
    fast_paths: bool,
) -> Result<Flattened, XmlError> {
    let bytes = xml.as_bytes();
    let mut pos = 0;
    let mut stack: Vec<Frame> = Vec::with_capacity(8);
    while pos < bytes.len() {
        let Some(lt) = memchr(b'<', &bytes[pos..]).map(|i| pos + i) else {
            break;
        };
        if lt > pos && !stack.is_empty() {
            decode_text(&xml[pos..lt], event.text_mut());
        }
        let rest = &bytes[lt..];
        if rest.starts_with(b"</") {
            let end = find(bytes, lt, b'>')?;
            let frame = stack.pop().ok_or(XmlError {
                offset: lt,
                reason: "closing tag without an open element",
            })?;
            end_element(xml, table, event, &frame, false);
            pos = end + 1;
            if frame.section == Section::System && frame.depth == 2 && !keep(event) {
                return Ok(Flattened::Skipped);
            }
        } else if fast_paths
            && rest.starts_with(DATA_OPEN)
            && stack
                .last()
                .is_some_and(|p| p.section == Section::EventData && p.depth == 2)
            && let Some(next) = data_element(xml, lt, table, event, &mut stack)
        {
            pos = next;
        } else if rest.starts_with(b"<![CDATA[") {
            let start = lt + 9;
            let end = memchr::memmem::find(&bytes[start..], b"]]>").ok_or(XmlError {
                offset: lt,
                reason: "unterminated CDATA",
            })?;
            event.text_mut().push_str(&xml[start..start + end]);
            pos = start + end + 3;
        } else if rest.starts_with(b"<?") || rest.starts_with(b"<!") {
            pos = find(bytes, lt, b'>')? + 1;
        } else if fast_paths
            && stack.len() >= 2
            && let Some(next) = leaf_element(xml, lt, table, event, &mut stack)
        {
            pos = next;
        } else {
            pos = start_element(xml, lt, table, event, &mut stack)?;
        }
    }
    if let Some(frame) = stack.last() {
        return Err(XmlError {
            offset: frame.name.0,
            reason: "element not closed",
        });
    }
    Ok(Flattened::Complete)
}

const DATA_OPEN: &[u8] = b"<Data Name=\"";
const DATA_CLOSE: &[u8] = b"</Data>";

/// The fast path for the bulk of a record, `<Data Name="X">value</Data>` directly in
/// `<EventData>`: read in one go, without the element stack. Returns the position after
/// the element, or `None` (having changed nothing) for any other shape (an entity in the
/// name, more attributes, CDATA or children in the value), which the general path reads.
fn data_element(
    xml: &str,
    lt: usize,
    table: &FieldTable,
    event: &mut Event,
    stack: &mut [Frame],
) -> Option<usize> {
    let bytes = xml.as_bytes();
    let name_start = lt + DATA_OPEN.len();
    let name_end = name_start + memchr(b'"', &bytes[name_start..])?;
    let name = &xml[name_start..name_end];
    if name.contains('&') {
        return None;
    }
    let (value, escaped, end) = match &bytes[name_end + 1..] {
        [b'>', ..] => {
            let value_start = name_end + 2;
            let (value_end, escaped) = text_end(bytes, value_start)?;
            if !bytes[value_end..].starts_with(DATA_CLOSE) {
                return None;
            }
            let value = &xml[value_start..value_end];
            (value, escaped, value_end + DATA_CLOSE.len())
        }
        [b'/', b'>', ..] => ("", false, name_end + 3),
        _ => return None,
    };
    adopt(stack.last_mut()?, event);
    let text = event.text_mut();
    let name_at = text.len();
    text.push_str(name);
    let value_at = text.len();
    push_text(value, escaped, text);
    let value_end = text.len();
    event.add_named_field(
        table,
        (name_at, value_at),
        (value_at, value_end),
        Origin::Payload,
    );
    Some(end)
}

/// The fast path for a leaf without attributes below `<System>`, `<EventData>` or
/// `<UserData>`, `<Name>text</Name>` (most of `<System>`): read in one go, as the general
/// path would read it. Returns the position after the element, or `None` (having changed
/// nothing) for any other shape.
fn leaf_element(
    xml: &str,
    lt: usize,
    table: &FieldTable,
    event: &mut Event,
    stack: &mut [Frame],
) -> Option<usize> {
    let bytes = xml.as_bytes();
    let name_start = lt + 1;
    let name_len = bytes[name_start..].iter().position(|&b| is_name_end(b))?;
    let name_end = name_start + name_len;
    if name_len == 0 || bytes[name_end] != b'>' {
        return None;
    }
    let value_start = name_end + 1;
    let (value_end, escaped) = text_end(bytes, value_start)?;
    // `</Name>` must close it at once (no child, no CDATA).
    let close = &bytes[value_end..];
    let name = &bytes[name_start..name_end];
    if close.len() < name_len + 3
        || &close[..2] != b"</"
        || &close[2..2 + name_len] != name
        || close[2 + name_len] != b'>'
    {
        return None;
    }
    let parent = stack.last_mut()?;
    let origin = parent.section.origin();
    adopt(parent, event);
    let name = &xml[name_start..name_end];
    let value = &xml[value_start..value_end];
    let text = event.text_mut();
    let value_at = text.len();
    push_text(value, escaped, text);
    let name_at = text.len();
    text.push_str(name);
    let name_end_at = text.len();
    event.add_named_field(table, (name_at, name_end_at), (value_at, name_at), origin);
    Some(value_end + name_len + 3)
}

/// Where the text at `start` ends (the next `<`), and whether it holds an entity to decode.
/// Most values hold none: one search finds the end or says to decode.
#[inline(always)]
fn text_end(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut end = start + memchr2(b'<', b'&', &bytes[start..])?;
    let escaped = bytes[end] == b'&';
    if escaped {
        end += memchr(b'<', &bytes[end..])?;
    }
    Some((end, escaped))
}

/// Appends text to the event's buffer, decoding entities if `text_end` found any.
#[inline(always)]
fn push_text(raw: &str, escaped: bool, out: &mut String) {
    if escaped {
        decode_text(raw, out);
    } else {
        out.push_str(raw);
    }
}

/// Marks `parent` as having a child element, as the general path does when one opens:
/// text before the first child is not a value, so it is dropped.
#[inline(always)]
fn adopt(parent: &mut Frame, event: &mut Event) {
    if !parent.has_children {
        event.text_mut().truncate(parent.text_start);
        parent.has_children = true;
    }
}

fn find(bytes: &[u8], from: usize, byte: u8) -> Result<usize, XmlError> {
    memchr(byte, &bytes[from..])
        .map(|i| from + i)
        .ok_or(XmlError {
            offset: from,
            reason: "unterminated tag",
        })
}

fn is_name_end(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'/' | b'>')
}

/// Parses `<name attr="v" ...>` or `<name .../>` at `lt`; returns the position after it.
fn start_element(
    xml: &str,
    lt: usize,
    table: &FieldTable,
    event: &mut Event,
    stack: &mut Vec<Frame>,
) -> Result<usize, XmlError> {
    let bytes = xml.as_bytes();
    let name_start = lt + 1;
    let mut i = name_start;
    while i < bytes.len() && !is_name_end(bytes[i]) {
        i += 1;
    }
    let name = (name_start, i);
    let name_str = &xml[name.0..name.1];
    let depth = stack.len() + 1;
    let section = stack
        .last()
        .map_or(Section::Root, |parent| parent.section.child(name_str));
    if let Some(parent) = stack.last_mut() {
        if !parent.has_children {
            // Text before the first child is not a value: drop it.
            event.text_mut().truncate(parent.text_start);
        }
        parent.has_children = true;
    }
    let mut data_name = None;
    // Attributes.
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return Err(XmlError {
                offset: lt,
                reason: "unterminated tag",
            });
        }
        match bytes[i] {
            b'>' => {
                i += 1;
                stack.push(Frame {
                    name,
                    section,
                    depth,
                    has_children: false,
                    text_start: event.text_len(),
                    data_name,
                });
                return Ok(i);
            }
            b'/' => {
                if bytes.get(i + 1) != Some(&b'>') {
                    return Err(XmlError {
                        offset: i,
                        reason: "expected `/>`",
                    });
                }
                let frame = Frame {
                    name,
                    section,
                    depth,
                    has_children: false,
                    text_start: event.text_len(),
                    data_name,
                };
                end_element(xml, table, event, &frame, true);
                return Ok(i + 2);
            }
            _ => {}
        }
        let attr_start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let attr = &xml[attr_start..i];
        while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\'' {
            i += 1;
        }
        let Some(&quote) = bytes.get(i) else {
            return Err(XmlError {
                offset: attr_start,
                reason: "attribute without a value",
            });
        };
        let value_start = i + 1;
        let value_end = memchr(quote, &bytes[value_start..])
            .map(|j| value_start + j)
            .ok_or(XmlError {
                offset: attr_start,
                reason: "unterminated attribute value",
            })?;
        i = value_end + 1;
        let raw_value = &xml[value_start..value_end];
        if attr == "xmlns" || attr.starts_with("xmlns:") || section == Section::Root {
            continue;
        }
        if section == Section::EventData && name_str == "Data" && attr == "Name" {
            let start = event.text_len();
            decode_text(raw_value, event.text_mut());
            data_name = Some((start, event.text_len()));
            continue;
        }
        attribute_field(event, table, section, name_str, attr, raw_value);
    }
}

/// Adds an attribute as a field named `Element_Attribute` (or its bare name, see above).
fn attribute_field(
    event: &mut Event,
    table: &FieldTable,
    section: Section,
    element: &str,
    attr: &str,
    raw_value: &str,
) {
    let bare = (section == Section::System)
        .then(|| bare_attribute(element, attr))
        .flatten();
    let text = event.text_mut();
    let name_start = text.len();
    if let Some(bare) = bare {
        text.push_str(bare);
    } else {
        text.push_str(element);
        text.push('_');
        text.push_str(attr);
    }
    let value_start = text.len();
    decode_text(raw_value, text);
    let value_end = text.len();
    event.add_named_field(
        table,
        (name_start, value_start),
        (value_start, value_end),
        section.origin(),
    );
}

/// The bare name rules use for a `<System>` attribute, if it has one (`TimeCreated` for its
/// SystemTime, `ProcessID` for Execution's, ...). Other inputs of Windows events (JSON) name
/// fields the same way.
pub(crate) fn bare_attribute<'a>(element: &'a str, attr: &'a str) -> Option<&'a str> {
    match (element, attr) {
        ("TimeCreated", "SystemTime") => Some(element),
        ("Execution", "ProcessID" | "ThreadID")
        | ("Security", "UserID")
        | ("Correlation", "ActivityID" | "RelatedActivityID") => Some(attr),
        _ => None,
    }
}

/// Turns a closed element into a field, if it is a leaf that holds a value.
fn end_element(
    xml: &str,
    table: &FieldTable,
    event: &mut Event,
    frame: &Frame,
    self_closing: bool,
) {
    if frame.has_children || frame.depth < 2 {
        return;
    }
    if frame.depth == 2 && frame.section != Section::Other {
        // `<System>` or `<EventData>` without children: no value of its own.
        event.text_mut().truncate(frame.text_start);
        return;
    }
    // `<Correlation/>` in System says nothing; `<Empty/>` in a payload is an empty value.
    if self_closing && frame.section == Section::System {
        return;
    }
    let element = &xml[frame.name.0..frame.name.1];
    let value = (frame.text_start, event.text_len());
    let name = match frame.data_name {
        Some(name) => name,
        None => {
            let text = event.text_mut();
            let start = text.len();
            text.push_str(element);
            (start, text.len())
        }
    };
    event.add_named_field(table, name, value, frame.section.origin());
}

/// Appends `raw` to `out` with entities and character references decoded.
fn decode_text(raw: &str, out: &mut String) {
    let bytes = raw.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while let Some(amp) = memchr(b'&', &bytes[i..]).map(|j| i + j) {
        let Some(semi) = memchr(b';', &bytes[amp..]).map(|j| amp + j) else {
            break;
        };
        let entity = &raw[amp + 1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity.strip_prefix('#').and_then(|num| {
                let code = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => num.parse().ok(),
                };
                code.and_then(char::from_u32)
            }),
        };
        match decoded {
            Some(c) => {
                out.push_str(&raw[run..amp]);
                out.push(c);
                run = semi + 1;
                i = semi + 1;
            }
            None => i = amp + 1,
        }
    }
    out.push_str(&raw[run..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn flat(xml: &str) -> Vec<(String, String)> {
        let table = FieldTable::new();
        let mut event = Event::new();
        flatten(xml, &table, &mut event, |_| true).unwrap();
        event.to_pairs()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn system_and_event_data() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Service Control Manager" Guid="{555908d1}" EventSourceName="Service Control Manager"/><EventID Qualifiers="16384">7036</EventID><TimeCreated SystemTime="2020-09-23T16:57:41.3726306Z"/><Correlation/><Execution ProcessID="580" ThreadID="6460"/><Channel>System</Channel><Security/></System><EventData><Data Name="param1">A &amp; B &lt;c&gt; &#233;</Data><Data Name="param1">again</Data><Data>unnamed</Data><Data Name="empty"></Data><Binary>5700</Binary></EventData></Event>"#;
        assert_eq!(
            flat(xml),
            pairs(&[
                ("Provider_Name", "Service Control Manager"),
                ("Provider_Guid", "{555908d1}"),
                ("Provider_EventSourceName", "Service Control Manager"),
                ("EventID_Qualifiers", "16384"),
                ("EventID", "7036"),
                ("TimeCreated", "2020-09-23T16:57:41.3726306Z"),
                ("ProcessID", "580"),
                ("ThreadID", "6460"),
                ("Channel", "System"),
                ("param1", "A & B <c> é"),
                ("param1", "again"),
                ("Data", "unnamed"),
                ("empty", ""),
                ("Binary", "5700"),
            ])
        );
    }

    #[test]
    fn data_shapes_off_the_fast_path_read_the_same() {
        let xml = r#"<Event><System><Channel>Security</Channel></System><EventData><Data Name="plain">v</Data><Data Name="a&amp;b">x</Data><Data Name="closed"/><Data Name="cdata"><![CDATA[<x>]]></Data><Data Name="typed" Type="y">t</Data><Data Name="escaped">1 &lt; 2</Data><Data Name="nested"><Inner>i</Inner></Data><Data Name="last">z</Data></EventData></Event>"#;
        assert_eq!(
            flat(xml),
            pairs(&[
                ("Channel", "Security"),
                ("plain", "v"),
                ("a&b", "x"),
                ("closed", ""),
                ("cdata", "<x>"),
                ("Data_Type", "y"),
                ("typed", "t"),
                ("escaped", "1 < 2"),
                ("Inner", "i"),
                ("last", "z"),
            ])
        );
    }

    #[test]
    fn leaf_shapes_off_the_fast_path_read_the_same() {
        let xml = r#"<Event><System><EventID Qualifiers="16384">7036</EventID><Level>4</Level><Keywords></Keywords></System><UserData><Log><Escaped>a &amp; b</Escaped><Mixed>text<Child>c</Child></Mixed><Wrong>w</Wrongish><Ok>o</Ok></Log></UserData></Event>"#;
        assert_eq!(
            flat(xml),
            pairs(&[
                ("EventID_Qualifiers", "16384"),
                ("EventID", "7036"),
                ("Level", "4"),
                ("Keywords", ""),
                ("Escaped", "a & b"),
                ("Child", "c"),
                ("Wrong", "w"),
                ("Ok", "o"),
            ])
        );
    }

    /// A record-like XML document from a few pieces that exercise every path: elements
    /// with and without attributes, `Data` with and without names, entities, CDATA, mixed
    /// content, empty and self-closing elements, mismatched closing tags.
    fn record_xml() -> impl Strategy<Value = String> {
        let text = prop::sample::select(vec![
            "",
            "v",
            "a &amp; b",
            "&lt;x&gt;",
            "&#233;",
            "&bogus;",
            "<![CDATA[<c>]]>",
            "t<Child>c</Child>",
            "<Empty/>",
        ]);
        let name = prop::sample::select(vec![
            "Data",
            "Level",
            "A",
            "Data Name=\"n\"",
            "Data Name=\"a&amp;b\"",
            "X y=\"1\"",
            "Data Name=\"m\" Type=\"t\"",
        ]);
        let element = (name, text, any::<u8>()).prop_map(|(name, text, shape)| {
            let tag = name.split(' ').next().unwrap_or(name);
            match shape % 8 {
                0 => format!("<{name}/>"),
                1 => format!("<{name}>{text}</{tag}x>"),
                _ => format!("<{name}>{text}</{tag}>"),
            }
        });
        let section = prop::sample::select(vec!["System", "EventData", "UserData"]);
        prop::collection::vec((section, prop::collection::vec(element, 0..6)), 1..4).prop_map(
            |sections| {
                let mut xml = String::from("<Event xmlns=\"e\">");
                for (section, elements) in sections {
                    xml.push_str(&format!("<{section}>"));
                    if section == "UserData" {
                        xml.push_str("<Inner>");
                    }
                    xml.extend(elements);
                    if section == "UserData" {
                        xml.push_str("</Inner>");
                    }
                    xml.push_str(&format!("</{section}>"));
                }
                xml.push_str("</Event>");
                xml
            },
        )
    }

    proptest! {
        #[test]
        fn fast_paths_read_every_record_as_the_general_path_does(xml in record_xml()) {
            let mut table = FieldTable::new();
            for name in ["n", "m", "Level", "A", "Data"] {
                table.intern(name);
            }
            let read = |fast| {
                let mut event = Event::new();
                let result = flatten_with(&xml, &table, &mut event, |_| true, fast);
                let by_id: Vec<Vec<String>> = (0..table.len() as FieldId)
                    .map(|id| event.values(id).map(str::to_string).collect())
                    .collect();
                (result, event.to_pairs(), by_id)
            };
            prop_assert_eq!(read(true), read(false));
        }
    }

    #[test]
    fn user_data_leaves_by_name_and_cdata() {
        let xml = r#"<Event xmlns="x"><System><Channel>System</Channel></System><UserData><LogFileCleared xmlns:auto-ns3="y" xmlns="z"><SubjectUserName>user01</SubjectUserName><Channel>Security</Channel><BackupPath></BackupPath><Script><![CDATA[a<b]]></Script><Flag/></LogFileCleared></UserData></Event>"#;
        assert_eq!(
            flat(xml),
            pairs(&[
                ("Channel", "System"),
                ("SubjectUserName", "user01"),
                ("Channel", "Security"),
                ("BackupPath", ""),
                ("Script", "a<b"),
                ("Flag", ""),
            ])
        );
    }

    #[test]
    fn keep_can_stop_after_system() {
        let table = FieldTable::new();
        let mut event = Event::new();
        let xml = "<Event><System><Channel>Setup</Channel></System><EventData><Data Name=\"a\">b</Data></EventData></Event>";
        let result = flatten(xml, &table, &mut event, |e| e.channel() != Some("Setup")).unwrap();
        assert_eq!(result, Flattened::Skipped);
        assert_eq!(event.field_count(), 1);
    }

    #[test]
    fn broken_xml_is_an_error_not_a_panic() {
        let table = FieldTable::new();
        for xml in [
            "<Event><System>",
            "<Event a=\"x></Event>",
            "</x>",
            "<Event><![CDATA[x</Event>",
            "<Event a></Event>",
        ] {
            let mut event = Event::new();
            assert!(flatten(xml, &table, &mut event, |_| true).is_err(), "{xml}");
        }
    }

    #[test]
    fn unknown_entities_stay_as_written() {
        let mut out = String::new();
        decode_text("a &bogus; b & c &#xZZ; &#65;", &mut out);
        assert_eq!(out, "a &bogus; b & c &#xZZ; A");
    }
}
