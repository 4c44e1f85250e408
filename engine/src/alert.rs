//! Alerts: the one place that knows the output's field names.
//!
//! An alert is one JSON object per line, described by `schema/alert.schema.json` and
//! versioned by `schema_version` (bumped on any change that could break a consumer). Its
//! `id` is stable across reruns and machines: a hash of the alert kind, the rule id and the
//! event's identity. For EVTX the identity is host, channel and EventRecordID, which Windows
//! never reuses within a channel, so two copies of the same log raise alerts with the same
//! ids and a SIEM can drop the duplicates.
//!
//! Until the output, alerts are held, sorted and spilled as *entries*: the JSON line without
//! its `rule` object, which every alert of a rule repeats (a third of an alert's bytes with
//! SigmaHQ's rules, more with tansa's and their Japanese translations). Each rule's object is
//! written once per hunt (`RuleTexts`) and put back when the line is written out.

use crate::compile::RuleInfo;
use crate::correlate::{CorrelationInfo, Fired};
use crate::enrich::{Enrichment, Lang};
use crate::eval::MatchedSelection;
use crate::event::Event;
use crate::field::name_fingerprint;
use crate::hash::fnv1a128;
use jiff::Timestamp;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use std::io::{self, Write};
use std::path::Path;
use std::sync::OnceLock;

/// Bumped whenever a field changes meaning, is renamed or is removed.
pub const SCHEMA_VERSION: u32 = 1;

/// A detection alert. It borrows from the event it is about: serialized at once, it never
/// outlives it, and copying every field of every matched event into strings of its own was
/// most of the allocator's work on a collection of many small logs.
///
/// It is written only by `write_entry`, straight into the entry, as serde_json would write
/// it (its `Serialize` shapes, kept for the tests, say so): `push_json_str` copies a string
/// that needs no escaping whole where serde_json inspects it a byte at a time.
#[derive(Debug, Clone)]
pub struct Alert<'a> {
    head: AlertHead<'a>,
    event: EventFields<'a>,
    /// Words for the codes in the event (see `enrich`), by field, in record order.
    enrichment: Pairs<'a>,
}

/// An alert's fields before `event` and `enrichment`, in the order they are written.
#[derive(Debug, Clone, Serialize)]
struct AlertHead<'a> {
    schema_version: u32,
    id: String,
    /// `detection` for one event and one rule.
    kind: &'static str,
    /// The language of the rule's texts and of `enrichment` (`en`, `ja`).
    lang: &'static str,
    /// The event's time, UTC, RFC 3339 with 7 fractional digits (EVTX's resolution).
    time: Option<String>,
    rule: RuleHole,
    host: Option<&'a str>,
    channel: Option<&'a str>,
    provider: Option<&'a str>,
    event_id: Option<u32>,
    record_id: u64,
    source: SourceRef,
    matched: Vec<MatchedRef<'a>>,
}

impl AlertHead<'_> {
    /// Appends the head as serde_json writes it, but with nothing after `"rule":` (the rule
    /// object goes there, see `RuleTexts`) and without its closing brace; where the rule
    /// object goes, counted from the head's start.
    fn write_open(&self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        out.extend_from_slice(b"{\"schema_version\":");
        push_decimal(u64::from(self.schema_version), out);
        out.extend_from_slice(b",\"id\":");
        push_json_str(&self.id, out);
        out.extend_from_slice(b",\"kind\":");
        push_json_str(self.kind, out);
        out.extend_from_slice(b",\"lang\":");
        push_json_str(self.lang, out);
        out.extend_from_slice(b",\"time\":");
        push_json_option(self.time.as_deref(), out);
        out.extend_from_slice(b",\"rule\":");
        let hole = out.len() - start;
        out.extend_from_slice(b",\"host\":");
        push_json_option(self.host, out);
        out.extend_from_slice(b",\"channel\":");
        push_json_option(self.channel, out);
        out.extend_from_slice(b",\"provider\":");
        push_json_option(self.provider, out);
        out.extend_from_slice(b",\"event_id\":");
        match self.event_id {
            Some(id) => push_decimal(u64::from(id), out),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"record_id\":");
        push_decimal(self.record_id, out);
        out.extend_from_slice(b",\"source\":{\"file\":");
        push_json_str(&self.source.file, out);
        out.extend_from_slice(b",\"format\":");
        push_json_str(self.source.format, out);
        out.extend_from_slice(b"},\"matched\":[");
        for (i, matched) in self.matched.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"selection\":");
            push_json_str(matched.selection, out);
            out.extend_from_slice(b",\"fields\":[");
            for (k, field) in matched.fields.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                push_json_str(field, out);
            }
            out.extend_from_slice(b"]}");
        }
        out.push(b']');
        hole
    }
}

/// Appends `n` in decimal.
fn push_decimal(n: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(crate::decimal::digits(n, &mut [0; 20]));
}

/// Appends `text` as a JSON string, or `null`.
fn push_json_option(text: Option<&str>, out: &mut Vec<u8>) {
    match text {
        Some(text) => push_json_str(text, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// `(name, text)` pairs written as a JSON object in their order.
#[derive(Debug, Clone, Default)]
pub struct Pairs<'a>(pub Vec<(&'a str, &'a str)>);

impl Pairs<'_> {
    /// Appends the pairs as a JSON object, as serde_json would write it.
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (name, text)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_json_str(name, out);
            out.push(b':');
            push_json_str(text, out);
        }
        out.push(b'}');
    }
}

/// Appends `text` as a JSON string, byte for byte as serde_json writes it: copied whole
/// unless it holds a quote, a backslash or a control character, which serde_json escapes.
fn push_json_str(text: &str, out: &mut Vec<u8>) {
    if !json_plain(text.as_bytes()) {
        serde_json::to_writer(&mut *out, text).expect("strings always serialize");
        return;
    }
    out.reserve(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

/// Whether `bytes` holds no byte that JSON escapes (a control character, a quote, a
/// backslash), looked at eight bytes at a time: an alert writes about fifty strings, most of
/// them short field values, and a byte-by-byte test (which the compiler vectorized only for
/// the long ones, leaving a short string to its scalar tail) was 7% of a hunt whose every
/// other record alerts (the archived logons sample).
fn json_plain(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    /// Not zero if some byte of `word` is below `n` (`n` at most 128): exact as a yes or
    /// no, since a borrow only spreads above a byte that is below `n`. Bytes of 128 and
    /// more (UTF-8 beyond ASCII) never count.
    fn below(word: u64, n: u8) -> u64 {
        word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS
    }
    fn plain(word: u64) -> bool {
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        below(word, 0x20) | below(quote, 1) | below(backslash, 1) == 0
    }
    fn word(bytes: &[u8]) -> u64 {
        u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
    }
    if bytes.len() < 8 {
        // Padded with a byte that needs no escaping.
        let mut padded = [b'a'; 8];
        padded[..bytes.len()].copy_from_slice(bytes);
        return plain(u64::from_le_bytes(padded));
    }
    // Whole words, then the last eight bytes (which may overlap the last whole word).
    bytes.chunks_exact(8).all(|w| plain(word(w))) && plain(word(&bytes[bytes.len() - 8..]))
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleRef {
    pub id: String,
    pub title: String,
    pub level: &'static str,
    pub status: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub tags: Vec<String>,
    pub references: Vec<String>,
    pub falsepositives: Vec<String>,
    /// The rule file.
    pub file: String,
    /// The rule's fields beyond the Sigma spec, as written.
    pub custom: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceRef {
    pub file: String,
    pub format: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct MatchedRef<'a> {
    pub selection: &'a str,
    pub fields: Vec<&'a str>,
}

/// The event's fields as a JSON object in record order; a name that repeats maps to an
/// array of its values.
#[derive(Debug, Clone, Copy)]
pub struct EventFields<'a>(pub &'a Event);

/// A field of an event with what grouping its name needs.
struct Field<'e> {
    /// The name's length and three of its bytes: names that differ mostly differ here.
    print: u32,
    name: &'e str,
    value: &'e str,
    /// The first field of its name.
    first: usize,
    /// For that first field: how many share the name.
    count: u32,
}

impl<'e> EventFields<'e> {
    /// The fields in record order, each knowing the first of its name. Names rarely
    /// repeat, but finding the ones that do by comparing every pair of names cost more
    /// than writing the alert: a fingerprint of each name turns that into a comparison of
    /// numbers, and the strings are compared only when two fingerprints agree. (Against an
    /// Fx hash of the whole name: 487 to 390 million instructions for the 100,849 alerts
    /// of an archived logons log.)
    fn grouped(&self) -> Vec<Field<'e>> {
        let mut fields: Vec<Field> = self
            .0
            .fields()
            .map(|(name, value)| Field {
                print: name_fingerprint(name),
                name,
                value,
                first: 0,
                count: 0,
            })
            .collect();
        for i in 0..fields.len() {
            let (print, name) = (fields[i].print, fields[i].name);
            let of = fields[..i]
                .iter()
                .enumerate()
                .find(|(j, e)| e.first == *j && e.print == print && e.name == name)
                .map_or(i, |(j, _)| j);
            fields[i].first = of;
            fields[of].count += 1;
        }
        fields
    }

    /// The values of the name first written by field `i`.
    fn values<'f>(fields: &'f [Field<'e>], i: usize) -> impl Iterator<Item = &'e str> + 'f {
        fields[i..]
            .iter()
            .filter(move |f| f.first == i)
            .map(|f| f.value)
    }

    /// Appends the fields as a JSON object, as their `Serialize` writes it.
    fn write_json(&self, out: &mut Vec<u8>) {
        let fields = self.grouped();
        out.push(b'{');
        let mut written = 0;
        for (i, field) in fields.iter().enumerate() {
            if field.count == 0 {
                continue;
            }
            if written > 0 {
                out.push(b',');
            }
            written += 1;
            push_json_str(field.name, out);
            out.push(b':');
            if field.count == 1 {
                push_json_str(field.value, out);
                continue;
            }
            out.push(b'[');
            for (k, value) in Self::values(&fields, i).enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                push_json_str(value, out);
            }
            out.push(b']');
        }
        out.push(b'}');
    }
}

impl Serialize for EventFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = self.grouped();
        let distinct = fields.iter().filter(|f| f.count > 0).count();
        let mut map = serializer.serialize_map(Some(distinct))?;
        for (i, field) in fields.iter().enumerate() {
            match field.count {
                // A later value of a name already written.
                0 => {}
                1 => map.serialize_entry(field.name, field.value)?,
                _ => {
                    let values: Vec<&str> = Self::values(&fields, i).collect();
                    map.serialize_entry(field.name, &values)?;
                }
            }
        }
        map.end()
    }
}

/// Everything needed to write a detection alert.
pub struct Detection<'a> {
    pub rule: &'a RuleInfo,
    pub time: Option<Timestamp>,
    pub record_id: u64,
    /// The input's name (`InputFile::name`).
    pub source_file: &'a str,
    pub format: &'static str,
    pub event: &'a Event,
    pub matched: Vec<MatchedSelection<'a>>,
    pub lang: Lang,
    pub enrichment: &'a Enrichment,
}

/// The rule's text in `lang` from its `translations` block, or the rule's own (English).
fn translated(meta: &crate::rule::Meta, lang: Lang, key: &str) -> Option<serde_json::Value> {
    if lang == Lang::En {
        return None;
    }
    meta.custom
        .get("translations")?
        .get(lang.code())?
        .get(key)
        .cloned()
}

impl RuleRef {
    /// The rule's description for an alert, in `lang` where the rule has a translation.
    pub fn new(meta: &crate::rule::Meta, file: &Path, lang: Lang) -> RuleRef {
        let text =
            |key: &str| translated(meta, lang, key).and_then(|v| v.as_str().map(str::to_string));
        let falsepositives = translated(meta, lang, "falsepositives")
            .and_then(|v| {
                v.as_array().map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
            })
            .unwrap_or_else(|| meta.falsepositives.clone());
        RuleRef {
            id: meta.id.clone(),
            title: text("title").unwrap_or_else(|| meta.title.clone()),
            level: meta.level.as_str(),
            status: meta.status.clone(),
            description: text("description").or_else(|| meta.description.clone()),
            author: meta.author.clone(),
            tags: meta.tags.clone(),
            references: meta.references.clone(),
            falsepositives,
            file: file.display().to_string(),
            custom: meta.custom.clone(),
        }
    }
}

impl<'a> Alert<'a> {
    pub fn detection(d: Detection<'a>) -> Alert<'a> {
        let event = d.event;
        let (host, channel) = (event.computer(), event.channel());
        let id = alert_id(
            "detection",
            &d.rule.meta.id,
            (host, channel),
            d.source_file,
            d.record_id,
        );
        let enrichment = d.enrichment.explain(channel, event.fields(), d.lang);
        let head = AlertHead {
            schema_version: SCHEMA_VERSION,
            id,
            kind: "detection",
            lang: d.lang.code(),
            time: d.time.map(format_time),
            rule: RuleHole,
            host,
            channel,
            provider: event.provider(),
            event_id: event.event_id(),
            record_id: d.record_id,
            source: SourceRef {
                file: d.source_file.to_string(),
                format: d.format,
            },
            matched: d
                .matched
                .into_iter()
                .map(|m| MatchedRef {
                    selection: m.name,
                    fields: m.fields,
                })
                .collect(),
        };
        Alert {
            head,
            event: EventFields(event),
            enrichment: Pairs(enrichment),
        }
    }

    /// Appends the alert to `out` as an entry of rule number `rule` (see `RuleTexts`).
    pub fn write_entry(&self, rule: u32, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; ENTRY_HEADER]);
        let hole = self.head.write_open(out);
        fill_entry_header(&mut out[start..], rule, hole);
        out.extend_from_slice(b",\"event\":");
        self.event.write_json(out);
        out.extend_from_slice(b",\"enrichment\":");
        self.enrichment.write_json(out);
        out.push(b'}');
    }
}

/// An alert of kind `correlation`: a correlation rule fired, with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct CorrelationAlert {
    pub schema_version: u32,
    pub id: String,
    /// Always `correlation`.
    pub kind: &'static str,
    pub lang: &'static str,
    /// When it fired: the time of the match that met the condition (or the end of the
    /// window, for conditions judged on whole windows). UTC.
    pub time: String,
    pub rule: RuleHole,
    /// The host of its events, when they all come from one.
    pub host: Option<String>,
    pub correlation: CorrelationRef,
}

#[derive(Debug, Clone, Serialize)]
pub struct CorrelationRef {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub timespan: String,
    /// `{"gte": 10}`, with `field` for the `value_*` types.
    pub condition: serde_json::Map<String, serde_json::Value>,
    /// The group-by fields and their values (null: the events lacked the field).
    pub group: serde_json::Map<String, serde_json::Value>,
    /// The aggregate (count, distinct values, sum, average, rules) when it fired.
    pub value: serde_json::Value,
    /// The highest the aggregate reached while the alert was open.
    pub peak: serde_json::Value,
    pub first_time: String,
    pub last_time: String,
    /// The named rules and how many of their matches contributed.
    pub rules: Vec<RuleCount>,
    /// Every contributing match; `events` lists the first `EVIDENCE_CAP` (100).
    pub events_total: u64,
    pub events: Vec<EvidenceRef>,
    /// `value_count`: the distinct values (the first 100) and how many there were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values_total: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleCount {
    pub id: String,
    pub matches: u64,
}

/// One contributing event, or one firing of an inner correlation (`alert` is its id).
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceRef {
    pub time: String,
    pub rule: String,
    pub host: Option<String>,
    pub channel: Option<String>,
    pub record_id: u64,
    pub source: SourceRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
}

impl CorrelationAlert {
    pub fn new(info: &CorrelationInfo, fired: &Fired, lang: Lang) -> CorrelationAlert {
        let time =
            |ns: i64| format_time(Timestamp::from_nanosecond(i128::from(ns)).unwrap_or_default());
        let events: Vec<EvidenceRef> = fired
            .evidence
            .iter()
            .map(|e| EvidenceRef {
                time: time(e.time),
                rule: e.rule.to_string(),
                host: e.host.as_deref().map(str::to_string),
                channel: e.channel.as_deref().map(str::to_string),
                record_id: e.record_id,
                source: SourceRef {
                    file: e.file.to_string(),
                    format: format_name(&e.format),
                },
                alert: e.alert.as_deref().map(str::to_string),
            })
            .collect();
        let mut hosts = events.iter().map(|e| e.host.as_deref());
        let first_host = hosts.next().flatten();
        let host = first_host
            .filter(|h| hosts.all(|other| other == Some(*h)))
            .map(str::to_string);
        let mut condition = serde_json::Map::new();
        condition.insert(
            info.condition.op.as_str().to_string(),
            number(info.condition.value),
        );
        if !info.value_fields.is_empty() {
            condition.insert("field".into(), info.value_fields.clone().into());
        }
        let counts_values = info.kind == crate::rule::correlation::CorrelationType::ValueCount;
        CorrelationAlert {
            schema_version: SCHEMA_VERSION,
            id: fired.id.clone(),
            kind: "correlation",
            lang: lang.code(),
            time: time(fired.time),
            rule: RuleHole,
            host,
            correlation: CorrelationRef {
                kind: info.kind.as_str(),
                timespan: info.timespan.text.clone(),
                condition,
                group: fired
                    .group
                    .iter()
                    .map(|(name, value)| (name.clone(), value.clone().into()))
                    .collect(),
                value: number(fired.value),
                peak: number(fired.peak),
                first_time: time(fired.first_time),
                last_time: time(fired.last_time),
                rules: info
                    .rules
                    .iter()
                    .zip(&fired.rule_counts)
                    .map(|(id, &matches)| RuleCount {
                        id: id.clone(),
                        matches,
                    })
                    .collect(),
                events_total: fired.events_total,
                events,
                values: counts_values.then(|| fired.values.clone()),
                values_total: counts_values.then_some(fired.values_total),
            },
        }
    }

    /// Appends the alert to `out` as an entry of rule number `rule` (see `RuleTexts`).
    pub fn write_entry(&self, rule: u32, out: &mut Vec<u8>) {
        write_entry(rule, self, out)
    }
}

/// Where an alert's `rule` object goes: written as `null`, then cut out of the entry.
#[derive(Debug, Clone, Copy)]
pub struct RuleHole;

impl Serialize for RuleHole {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

/// An entry: the rule's number and where its object goes (both `u32`, little-endian), then
/// the alert's JSON without it.
const ENTRY_HEADER: usize = 8;

fn write_entry(rule: u32, alert: &impl Serialize, out: &mut Vec<u8>) {
    const HOLE: &[u8] = b"\"rule\":null";
    let start = out.len();
    out.extend_from_slice(&[0; ENTRY_HEADER]);
    let json = out.len();
    serde_json::to_writer(&mut *out, alert).expect("alerts always serialize");
    // The fields before `rule` hold numbers, fixed words, hex digits and times, so the first
    // `"rule":` is the field itself.
    let hole = memchr::memmem::find(&out[json..], HOLE).expect("alerts have a rule field")
        + HOLE.len()
        - "null".len();
    out.drain(json + hole..json + hole + "null".len());
    fill_entry_header(&mut out[start..], rule, hole);
}

/// Writes an entry's header at the start of `entry`: the rule's number and where its
/// object goes in the JSON that follows.
fn fill_entry_header(entry: &mut [u8], rule: u32, hole: usize) {
    entry[..4].copy_from_slice(&rule.to_le_bytes());
    entry[4..ENTRY_HEADER].copy_from_slice(&(hole as u32).to_le_bytes());
}

/// Each rule's `rule` object as JSON, by rule number, made when its first alert is.
#[derive(Debug, Default)]
pub struct RuleTexts(Vec<OnceLock<Box<[u8]>>>);

impl RuleTexts {
    /// Room for rules numbered `0..rules`.
    pub fn new(rules: usize) -> RuleTexts {
        RuleTexts((0..rules).map(|_| OnceLock::new()).collect())
    }

    /// Makes rule `rule`'s object with `make`, unless an earlier alert did.
    pub fn make(&self, rule: u32, make: impl FnOnce() -> RuleRef) {
        if let Some(slot) = self.0.get(rule as usize) {
            slot.get_or_init(|| {
                serde_json::to_vec(&make())
                    .expect("rules always serialize")
                    .into()
            });
        }
    }

    /// Writes the alert line of `entry`, with its rule's object put back, and a newline.
    pub fn write_line(&self, entry: &[u8], out: &mut dyn Write) -> io::Result<()> {
        let damaged = || io::Error::new(io::ErrorKind::InvalidData, "a damaged alert entry");
        let (header, json) = entry.split_at_checked(ENTRY_HEADER).ok_or_else(damaged)?;
        let number = |bytes: &[u8]| {
            u32::from_le_bytes(bytes.try_into().expect("4 bytes of the header")) as usize
        };
        let (rule, hole) = (number(&header[..4]), number(&header[4..]));
        let text = self
            .0
            .get(rule)
            .and_then(OnceLock::get)
            .ok_or_else(damaged)?;
        let (before, after) = json.split_at_checked(hole).ok_or_else(damaged)?;
        out.write_all(before)?;
        out.write_all(text)?;
        out.write_all(after)?;
        out.write_all(b"\n")
    }
}

/// A number as JSON: whole numbers without a fraction.
fn number(value: f64) -> serde_json::Value {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 9e15 {
        (value as i64).into()
    } else {
        serde_json::Number::from_f64(value).map_or(serde_json::Value::Null, Into::into)
    }
}

/// Input format names are a small fixed set; unknown ones (from saved matches) read as
/// `other`.
fn format_name(name: &str) -> &'static str {
    crate::input::discover::Format::ALL
        .iter()
        .map(|f| f.as_str())
        .find(|known| *known == name)
        .unwrap_or("other")
}

/// 32 hex digits identifying an alert: kind, rule and the event's identity (its host and
/// channel, when it has both).
fn alert_id(
    kind: &str,
    rule_id: &str,
    host_and_channel: (Option<&str>, Option<&str>),
    file: &str,
    record_id: u64,
) -> String {
    let record = record_id.to_le_bytes();
    let hash = match host_and_channel {
        (Some(host), Some(channel)) => fnv1a128(&[
            kind.as_bytes(),
            rule_id.as_bytes(),
            b"event",
            host.as_bytes(),
            channel.as_bytes(),
            &record,
        ]),
        _ => fnv1a128(&[
            kind.as_bytes(),
            rule_id.as_bytes(),
            b"file",
            file.as_bytes(),
            &record,
        ]),
    };
    format!("{hash:032x}")
}

/// UTC, RFC 3339, always 7 fractional digits: `2019-03-19T23:34:25.8943413Z`.
pub fn format_time(time: Timestamp) -> String {
    let mut out = String::with_capacity(28);
    write_time(time, &mut out);
    out
}

/// `format_time`, appended to `out`.
pub fn write_time(time: Timestamp, out: &mut String) {
    let nanos = time.as_nanosecond();
    let seconds = nanos.div_euclid(1_000_000_000) as i64;
    let ticks = nanos.rem_euclid(1_000_000_000) / 100;
    let whole = Timestamp::from_second(seconds).unwrap_or(time);
    let t = whole.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    // Written by hand: every record of a text input gets one (strftime costs 10x).
    let two = |out: &mut String, n: i8, sep: char| {
        out.push(char::from(b'0' + (n / 10) as u8));
        out.push(char::from(b'0' + (n % 10) as u8));
        out.push(sep);
    };
    let year = t.year();
    if (0..=9999).contains(&year) {
        let y = year as u16;
        for d in [y / 1000, y / 100 % 10, y / 10 % 10, y % 10] {
            out.push(char::from(b'0' + d as u8));
        }
    } else {
        out.push_str(&format!("{year:+07}"));
    }
    out.push('-');
    two(out, t.month(), '-');
    two(out, t.day(), 'T');
    two(out, t.hour(), ':');
    two(out, t.minute(), ':');
    two(out, t.second(), '.');
    let mut digits = [b'0'; 7];
    let mut rest = ticks;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.push_str(std::str::from_utf8(&digits).unwrap_or("0000000"));
    out.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keeps_seven_digits_in_utc() {
        let t: Timestamp = "2019-03-19T23:34:25.8943413Z".parse().unwrap();
        assert_eq!(format_time(t), "2019-03-19T23:34:25.8943413Z");
        let t: Timestamp = "2019-03-20T08:34:25+09:00".parse().unwrap();
        assert_eq!(format_time(t), "2019-03-19T23:34:25.0000000Z");
        let t: Timestamp = "1969-12-31T23:59:59.5Z".parse().unwrap();
        assert_eq!(format_time(t), "1969-12-31T23:59:59.5000000Z");
    }

    #[test]
    fn repeated_names_become_arrays_in_record_order() {
        let mut event = Event::new();
        for (name, value) in [("b", "1"), ("a", "x"), ("b", "2")] {
            event.push(name, value, None, crate::event::Origin::Payload);
        }
        let json = serde_json::to_string(&EventFields(&event)).unwrap();
        assert_eq!(json, r#"{"b":["1","2"],"a":"x"}"#);
    }

    proptest::proptest! {
        /// Every name once, where it first appears; its values in record order, an array
        /// when there are several: as the plain reading of that sentence would write it.
        #[test]
        fn event_fields_group_repeated_names_as_the_plain_reading_does(
            fields in proptest::collection::vec(("[a-d\"]{1,2}", "[xy\\\\\n\u{1}é]{0,3}"), 0..24)
        ) {
            let mut event = Event::new();
            for (name, value) in &fields {
                event.push(name, value, None, crate::event::Origin::Payload);
            }
            let mut expected = String::from("{");
            let mut written: Vec<&str> = Vec::new();
            for (name, _) in &fields {
                if written.contains(&name.as_str()) {
                    continue;
                }
                written.push(name);
                let values: Vec<&str> = fields
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
                    .collect();
                if expected.len() > 1 {
                    expected.push(',');
                }
                expected += &serde_json::to_string(name).unwrap();
                expected.push(':');
                expected += &match values.as_slice() {
                    [one] => serde_json::to_string(one).unwrap(),
                    many => serde_json::to_string(many).unwrap(),
                };
            }
            expected.push('}');
            proptest::prop_assert_eq!(serde_json::to_string(&EventFields(&event)).unwrap(), expected.clone());
            // The direct writing of alerts makes the same bytes.
            let mut direct = Vec::new();
            EventFields(&event).write_json(&mut direct);
            proptest::prop_assert_eq!(String::from_utf8(direct).unwrap(), expected);
        }

        /// An alert's head written directly is serde_json's, with the rule object's
        /// `null` where the returned place says.
        #[test]
        fn an_alert_head_written_directly_is_serde_json_s(
            texts in proptest::collection::vec("[a-z\"\\\\\n\u{1}é]{0,6}", 8),
            present in proptest::collection::vec(proptest::prelude::any::<bool>(), 5),
            numbers in (proptest::prelude::any::<u32>(), proptest::prelude::any::<u64>()),
            matched in proptest::collection::vec(
                ("[a-z\"]{0,4}", proptest::collection::vec("[a-z\\\\]{0,4}", 0..3)),
                0..3,
            ),
        ) {
            let some = |i: usize| present[i].then_some(texts[i].as_str());
            let head = AlertHead {
                schema_version: SCHEMA_VERSION,
                id: texts[5].clone(),
                kind: "detection",
                lang: "en",
                time: some(0).map(str::to_string),
                rule: RuleHole,
                host: some(1),
                channel: some(2),
                provider: some(3),
                event_id: present[4].then_some(numbers.0),
                record_id: numbers.1,
                source: SourceRef {
                    file: texts[6].clone(),
                    format: "evtx",
                },
                matched: matched
                    .iter()
                    .map(|(selection, fields)| MatchedRef {
                        selection,
                        fields: fields.iter().map(String::as_str).collect(),
                    })
                    .collect(),
            };
            let mut direct = Vec::new();
            let hole = head.write_open(&mut direct);
            direct.push(b'}');
            direct.splice(hole..hole, *b"null");
            proptest::prop_assert_eq!(
                String::from_utf8(direct).unwrap(),
                serde_json::to_string(&head).unwrap()
            );
        }

        /// The word-at-a-time test says what the byte-by-byte one says, bytes of every
        /// value and every length around a word's.
        #[test]
        fn json_plain_is_the_byte_test(bytes in proptest::collection::vec(
            proptest::sample::select(vec![0u8, 0x1f, 0x20, b'!', b'"', b'#', b'[', b'\\', b']', b'a', 0x7f, 0x80, 0xa2, 0xdc, 0xff]),
            0..40,
        )) {
            let expected = bytes.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\');
            proptest::prop_assert_eq!(json_plain(&bytes), expected);
        }

        /// Strings and pairs written directly are what serde_json writes.
        #[test]
        fn json_strings_written_directly_are_serde_json_s(
            pairs in proptest::collection::vec((".{0,12}", "[ -~\\x00-\\x1f\u{7f}é\u{3042}\u{1F600}]{0,40}"), 0..6)
        ) {
            let mut direct = Vec::new();
            let borrowed: Vec<(&str, &str)> =
                pairs.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
            Pairs(borrowed).write_json(&mut direct);
            let map: serde_json::Map<String, serde_json::Value> = pairs
                .iter()
                .map(|(n, t)| (n.clone(), serde_json::Value::String(t.clone())))
                .collect();
            // A repeated name: serde_json's map keeps one, the pairs both; compare only
            // when the names are distinct.
            if map.len() == pairs.len() {
                let mut expected = String::from("{");
                for (i, (n, t)) in pairs.iter().enumerate() {
                    if i > 0 {
                        expected.push(',');
                    }
                    expected += &serde_json::to_string(n).unwrap();
                    expected.push(':');
                    expected += &serde_json::to_string(t).unwrap();
                }
                expected.push('}');
                proptest::prop_assert_eq!(String::from_utf8(direct).unwrap(), expected);
            }
        }
    }

    /// An alert-shaped record: a `rule` after fixed fields, and a later field whose text
    /// looks like the hole.
    #[derive(Serialize)]
    struct Shaped<R> {
        schema_version: u32,
        id: &'static str,
        time: Option<&'static str>,
        rule: R,
        note: &'static str,
    }

    fn shaped<R>(rule: R) -> Shaped<R> {
        Shaped {
            schema_version: SCHEMA_VERSION,
            id: "0123abcd",
            time: None,
            rule,
            note: r#"says "rule":null"#,
        }
    }

    fn rule_ref(id: &str) -> RuleRef {
        RuleRef {
            id: id.into(),
            title: "Ünïcode \"title\"".into(),
            level: "high",
            status: None,
            description: Some("two\nlines".into()),
            author: None,
            tags: vec!["attack.t1110".into()],
            references: Vec::new(),
            falsepositives: Vec::new(),
            file: "rules/x.yml".into(),
            custom: serde_json::Map::new(),
        }
    }

    #[test]
    fn an_entry_written_out_is_the_alert_with_its_rule_object_put_back() {
        let texts = RuleTexts::new(3);
        texts.make(2, || rule_ref("r2"));
        texts.make(2, || panic!("made once"));
        texts.make(0, || rule_ref("r0"));
        let mut entries = Vec::new();
        write_entry(2, &shaped(RuleHole), &mut entries);
        let first = entries.len();
        write_entry(0, &shaped(RuleHole), &mut entries);

        let mut out = Vec::new();
        texts.write_line(&entries[..first], &mut out).unwrap();
        texts.write_line(&entries[first..], &mut out).unwrap();
        let expected = format!(
            "{}\n{}\n",
            serde_json::to_string(&shaped(rule_ref("r2"))).unwrap(),
            serde_json::to_string(&shaped(rule_ref("r0"))).unwrap()
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        assert!(
            first < expected.find('\n').unwrap(),
            "the entry is smaller than its line"
        );
    }

    #[test]
    fn a_damaged_entry_is_an_error_not_a_wrong_line() {
        let texts = RuleTexts::new(2);
        texts.make(0, || rule_ref("r0"));
        let mut entry = Vec::new();
        write_entry(0, &shaped(RuleHole), &mut entry);
        let error = |entry: &[u8]| texts.write_line(entry, &mut Vec::new()).unwrap_err().kind();
        assert_eq!(error(&entry[..5]), io::ErrorKind::InvalidData, "no header");
        let mut unknown = entry.clone();
        unknown[0] = 1;
        assert_eq!(
            error(&unknown),
            io::ErrorKind::InvalidData,
            "rule 1 never fired"
        );
        unknown[0] = 9;
        assert_eq!(error(&unknown), io::ErrorKind::InvalidData, "no rule 9");
        let mut past = entry.clone();
        past[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            error(&past),
            io::ErrorKind::InvalidData,
            "hole past the end"
        );
    }

    #[test]
    fn ids_follow_the_event_not_the_file() {
        let event = (Some("DC01"), Some("Security"));
        let a = alert_id("detection", "r1", event, "a/Security.evtx", 7);
        let b = alert_id("detection", "r1", event, "copy/Security.evtx", 7);
        assert_eq!(a, b);
        assert_ne!(a, alert_id("detection", "r2", event, "a/Security.evtx", 7));
        assert_ne!(a, alert_id("detection", "r1", event, "a/Security.evtx", 8));
        let hostless = (None, Some("Security"));
        assert_ne!(
            alert_id("detection", "r1", hostless, "a/Security.evtx", 7),
            alert_id("detection", "r1", hostless, "copy/Security.evtx", 7),
            "without a host, the file tells events apart"
        );
        assert_eq!(a.len(), 32);
    }
}
