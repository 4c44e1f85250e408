//! JSON lines: one object per line, from a file or a pipe.
//!
//! Three shapes are understood, told apart by their top-level keys:
//! - **evtx_dump** records (`{"Event": {"System": {...}, "EventData": {...}}}`) are flattened
//!   exactly as EVTX records are (`evtx_xml`): `<System>` children by name, attributes as
//!   `Element_Attribute` or their bare names, EventData by data name, UserData leaves by
//!   their own names.
//! - **Winlogbeat / Elastic Common Schema** (`{"winlog": {...}, "@timestamp": ...}`): the
//!   `winlog` keys map to the EVTX names (table below), `winlog.event_data.X` and
//!   `winlog.user_data.X` become `X`, and every other key keeps its dotted path
//!   (`host.name`).
//! - **Any other object**: every leaf under its dotted path; the time comes from the first
//!   of `@timestamp`, `timestamp`, `time`, `TimeCreated`, `EventTime` that parses.
//!
//! Arrays give a field several values; `null` leaves a field out. Numbers and booleans
//! become their JSON text (`4624`, `true`).

use crate::event::{Event, Origin};
use crate::field::FieldTable;
use serde_json::{Map, Value};

/// Winlogbeat's `winlog` keys and the EVTX field each one is.
const WINLOG_FIELDS: &[(&str, &str)] = &[
    ("event_id", "EventID"),
    ("channel", "Channel"),
    ("computer_name", "Computer"),
    ("record_id", "EventRecordID"),
    ("provider_name", "Provider_Name"),
    ("provider_guid", "Provider_Guid"),
    ("task", "Task"),
    ("opcode", "Opcode"),
    ("version", "Version"),
    ("keywords", "Keywords"),
    ("process.pid", "ProcessID"),
    ("process.thread.id", "ThreadID"),
    ("user.identifier", "UserID"),
    ("activity_id", "ActivityID"),
    ("related_activity_id", "RelatedActivityID"),
];

/// Where a generic object's time can be.
const TIME_KEYS: &[&str] = &[
    "@timestamp",
    "timestamp",
    "time",
    "TimeCreated",
    "EventTime",
];

/// Fills `event` from one JSON line. The caller has set `event.record_id` to the line
/// number; an EVTX record id in the line replaces it.
pub fn flatten(line: &[u8], table: &FieldTable, event: &mut Event) -> Result<(), String> {
    // serde_json counts lines within the text it was given, always 1 here: say the column.
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        format!(
            "not JSON at column {}: {}",
            e.column(),
            without_position(&e)
        )
    })?;
    let Value::Object(object) = value else {
        return Err("not a JSON object".into());
    };
    let mut sink = Sink { table, event };
    if let Some(Value::Object(record)) = object.get("Event")
        && record.contains_key("System")
    {
        sink.evtx_record(record);
    } else if let Some(Value::Object(winlog)) = object.get("winlog") {
        sink.winlog(&object, winlog);
    } else {
        // Top-level EVTX header names (a flattened Windows event) are its header, so the
        // event routes like one; they come first, as a header does.
        let is_header = |key: &str| crate::field::well_known::NAMES.contains(&key);
        for (key, value) in object.iter().filter(|(k, _)| is_header(k)) {
            sink.leaves(key, value, Origin::Header);
        }
        for (key, value) in object.iter().filter(|(k, _)| !is_header(k)) {
            sink.leaves(key, value, Origin::Payload);
        }
        let time = TIME_KEYS
            .iter()
            .filter_map(|key| object.get(*key)?.as_str())
            .find_map(super::evtx::parse_system_time);
        event_time(sink.event, time);
    }
    let event = sink.event;
    if let Some(record) = event
        .header_value(crate::field::well_known::EVENT_RECORD_ID)
        .and_then(|r| r.parse().ok())
    {
        event.record_id = record;
    }
    Ok(())
}

fn event_time(event: &mut Event, time: Option<jiff::Timestamp>) {
    if time.is_some() {
        event.time = time;
    }
}

struct Sink<'a> {
    table: &'a FieldTable,
    event: &'a mut Event,
}

impl Sink<'_> {
    fn push(&mut self, name: &str, value: &str, origin: Origin) {
        self.event.push(name, value, self.table.get(name), origin);
    }

    /// Every scalar under `value`, named by its dotted path from `name`.
    fn leaves(&mut self, name: &str, value: &Value, origin: Origin) {
        match value {
            Value::Null => {}
            Value::String(text) => self.push(name, text, origin),
            Value::Number(n) => self.push(name, &n.to_string(), origin),
            Value::Bool(b) => self.push(name, if *b { "true" } else { "false" }, origin),
            Value::Array(items) => {
                for item in items {
                    self.leaves(name, item, origin);
                }
            }
            Value::Object(map) => {
                for (key, child) in map {
                    self.leaves(&format!("{name}.{key}"), child, origin);
                }
            }
        }
    }

    /// Every scalar under `value`, named by its own key (UserData, EventData).
    fn own_names(&mut self, name: &str, value: &Value) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    if key == "#attributes" {
                        continue;
                    }
                    let key = if key == "#text" { name } else { key };
                    self.own_names(key, child);
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.own_names(name, item);
                }
            }
            scalar => self.leaves(name, scalar, Origin::Payload),
        }
    }

    fn evtx_record(&mut self, record: &Map<String, Value>) {
        for (section, value) in record {
            match section.as_str() {
                "#attributes" => {}
                "System" => {
                    if let Value::Object(system) = value {
                        self.system(system);
                    }
                }
                "EventData" => match value {
                    Value::Object(data) => {
                        for (name, child) in data {
                            if name != "#attributes" {
                                self.own_names(name, child);
                            }
                        }
                    }
                    other => self.leaves("Data", other, Origin::Payload),
                },
                _ => self.own_names(section, value),
            }
        }
        let time = self
            .event
            .header_value(crate::field::well_known::TIME_CREATED)
            .and_then(super::evtx::parse_system_time);
        event_time(self.event, time);
    }

    fn system(&mut self, system: &Map<String, Value>) {
        for (element, value) in system {
            match value {
                Value::Object(parts) => {
                    if let Some(Value::Object(attributes)) = parts.get("#attributes") {
                        for (attr, attr_value) in attributes {
                            let name = match super::evtx_xml::bare_attribute(element, attr) {
                                Some(bare) => bare.to_string(),
                                None => format!("{element}_{attr}"),
                            };
                            self.leaves(&name, attr_value, Origin::Header);
                        }
                    }
                    if let Some(text) = parts.get("#text") {
                        self.leaves(element, text, Origin::Header);
                    }
                }
                scalar => self.leaves(element, scalar, Origin::Header),
            }
        }
    }

    fn winlog(&mut self, object: &Map<String, Value>, winlog: &Map<String, Value>) {
        let mut flat = Vec::new();
        flatten_paths("", winlog, &mut flat);
        for (path, value) in &flat {
            if let Some((_, evtx)) = WINLOG_FIELDS.iter().find(|(key, _)| key == path) {
                self.leaves(evtx, value, Origin::Header);
            }
        }
        for (path, value) in &flat {
            let data = path
                .strip_prefix("event_data.")
                .or_else(|| path.strip_prefix("user_data."));
            match data {
                Some(name) => self.leaves(name, value, Origin::Payload),
                None if WINLOG_FIELDS.iter().any(|(key, _)| key == path) => {}
                None => self.leaves(&format!("winlog.{path}"), value, Origin::Payload),
            }
        }
        for (key, value) in object {
            if key != "winlog" {
                self.leaves(key, value, Origin::Payload);
            }
        }
        let time = object
            .get("@timestamp")
            .and_then(Value::as_str)
            .and_then(super::evtx::parse_system_time);
        event_time(self.event, time);
    }
}

/// The scalars and arrays of `map`, by dotted path (arrays are leaves).
fn flatten_paths<'v>(
    prefix: &str,
    map: &'v Map<String, Value>,
    out: &mut Vec<(String, &'v Value)>,
) {
    for (key, value) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(child) => flatten_paths(&path, child, out),
            other => out.push((path, other)),
        }
    }
}

/// A serde_json error without its "at line L column C" suffix.
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> (Vec<(String, String)>, Event) {
        let mut event = Event::new();
        event.record_id = 7;
        flatten(line.as_bytes(), &FieldTable::new(), &mut event).unwrap();
        (event.to_pairs(), event)
    }

    fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
        pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn evtx_dump_records_flatten_like_evtx() {
        let line = r##"{"Event":{"#attributes":{"xmlns":"http://schemas.microsoft.com/win/2004/08/events/event"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing","Guid":"{54849625-5478-4994-A5BA-3E3B0328C30D}"}},"EventID":4625,"Version":0,"TimeCreated":{"#attributes":{"SystemTime":"2019-03-19T23:34:25.894341Z"}},"EventRecordID":2155,"Execution":{"#attributes":{"ProcessID":512,"ThreadID":2580}},"Channel":"Security","Computer":"DC01"},"EventData":{"TargetUserName":"alice","LogonType":3,"IpAddress":"10.0.0.5","Empty":""}}}"##;
        let (pairs, event) = fields(line);
        assert_eq!(
            get(&pairs, "Provider_Name"),
            ["Microsoft-Windows-Security-Auditing"]
        );
        assert_eq!(get(&pairs, "EventID"), ["4625"]);
        assert_eq!(get(&pairs, "ProcessID"), ["512"]);
        assert_eq!(get(&pairs, "TimeCreated"), ["2019-03-19T23:34:25.894341Z"]);
        assert_eq!(get(&pairs, "LogonType"), ["3"]);
        assert_eq!(get(&pairs, "Empty"), [""]);
        assert_eq!(event.channel(), Some("Security"));
        assert_eq!(event.event_id(), Some(4625));
        assert_eq!(event.record_id, 2155);
        assert_eq!(
            event.time,
            Some("2019-03-19T23:34:25.894341Z".parse().unwrap())
        );
    }

    #[test]
    fn winlogbeat_maps_to_evtx_names() {
        let line = r#"{"@timestamp":"2024-05-01T09:00:00.123Z","host":{"name":"dc01"},"winlog":{"channel":"Security","event_id":"4624","computer_name":"DC01.clinic.local","record_id":991,"provider_name":"Microsoft-Windows-Security-Auditing","process":{"pid":640,"thread":{"id":1}},"event_data":{"LogonType":"10","IpAddress":"203.0.113.5"},"api":"wineventlog"}}"#;
        let (pairs, event) = fields(line);
        assert_eq!(event.channel(), Some("Security"));
        assert_eq!(event.event_id(), Some(4624));
        assert_eq!(event.computer(), Some("DC01.clinic.local"));
        assert_eq!(event.record_id, 991);
        assert_eq!(get(&pairs, "ProcessID"), ["640"]);
        assert_eq!(get(&pairs, "LogonType"), ["10"]);
        assert_eq!(get(&pairs, "host.name"), ["dc01"]);
        assert_eq!(get(&pairs, "winlog.api"), ["wineventlog"]);
        assert!(get(&pairs, "winlog.channel").is_empty());
        assert_eq!(
            event.time,
            Some("2024-05-01T09:00:00.123Z".parse().unwrap())
        );
    }

    #[test]
    fn other_objects_keep_dotted_paths_and_arrays_repeat() {
        let (pairs, event) = fields(
            r#"{"time":"2024-05-01T09:00:00Z","src":{"ip":"10.0.0.1"},"tags":["a","b"],"gone":null,"ok":true,"Channel":"Security","EventID":4688}"#,
        );
        assert_eq!(event.channel(), Some("Security"));
        assert_eq!(event.event_id(), Some(4688));
        assert_eq!(get(&pairs, "src.ip"), ["10.0.0.1"]);
        assert_eq!(get(&pairs, "tags"), ["a", "b"]);
        assert!(get(&pairs, "gone").is_empty());
        assert_eq!(get(&pairs, "ok"), ["true"]);
        assert_eq!(
            event.record_id, 7,
            "no record id in the line: the line number stays"
        );
        assert!(event.time.is_some());
    }

    #[test]
    fn not_json_is_an_error() {
        let mut event = Event::new();
        assert!(flatten(b"{broken", &FieldTable::new(), &mut event).is_err());
        assert!(flatten(b"[1,2]", &FieldTable::new(), &mut event).is_err());
    }
}
