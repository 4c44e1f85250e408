//! Words for the codes in an event, for alerts: `0xC000006A` is "the user name is correct
//! but the password is wrong", logon type 10 is Remote Desktop, `S-1-5-32-544` is
//! Administrators. In English or Japanese.
//!
//! The tables are data (`enrichment/windows.yml`, built in, from the incident-response
//! guide's tables); a user file in the same format extends or overrides them entry by entry.

use crate::field::{FxBuild, name_fingerprint};
use crate::yaml::{self, Node, Pos, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

const BUILTIN: &str = include_str!("../../enrichment/windows.yml");

/// The language of alert text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Ja,
}

impl Lang {
    pub fn parse(text: &str) -> Option<Lang> {
        match text {
            "en" => Some(Lang::En),
            "ja" => Some(Lang::Ja),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }
}

/// One explanation in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Text {
    en: String,
    ja: String,
}

impl Text {
    fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::Ja if self.ja.is_empty() => &self.en,
            Lang::Ja => &self.ja,
        }
    }
}

/// A table file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrichmentError {
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for EnrichmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos.line > 0 {
            write!(f, "{}: ", self.pos)?;
        }
        f.write_str(&self.message)
    }
}

type Table<V> = HashMap<String, V, FxBuild>;

/// A 256-bit filter of names by their fingerprint (`field::name_fingerprint`): a name not
/// in it is surely absent, one in it is probably present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct NameFilter([u64; 4]);

impl NameFilter {
    fn bit(name: &str) -> usize {
        // The print's top byte after a multiply, to which every byte of it contributes.
        (name_fingerprint(name).wrapping_mul(0x9E37_79B1) >> 24) as usize
    }

    fn insert(&mut self, name: &str) {
        let bit = Self::bit(name);
        self.0[bit / 64] |= 1 << (bit % 64);
    }

    fn may_hold(&self, name: &str) -> bool {
        let bit = Self::bit(name);
        self.0[bit / 64] & (1 << (bit % 64)) != 0
    }
}

/// The enrichment tables in force. Every alert looks up each of its event's fields here,
/// so the tables hash with Fx and are keyed so that a lookup borrows what it looks up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enrichment {
    /// Field name → lowercase value → text.
    fields: Table<Table<Text>>,
    /// The names in `fields`, as bits of a small filter (see `NameFilter`): most of an
    /// event's fields have no table, and the filter says so without hashing the name.
    field_names: NameFilter,
    /// Lowercase channel → event id → text.
    events: Table<Table<Text>>,
    /// Uppercase SID → text.
    sids: Table<Text>,
    /// Relative id of a domain SID → text.
    rids: Table<Text>,
}

impl Enrichment {
    /// The built-in tables.
    pub fn builtin() -> Enrichment {
        let mut tables = Enrichment::default();
        tables
            .merge_text(BUILTIN)
            .expect("the built-in enrichment tables are valid");
        tables
    }

    /// Adds the entries of a table file, replacing entries with the same key.
    pub fn merge_file(&mut self, path: &Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        self.merge_text(&text)
            .map_err(|e| format!("{}:{e}", path.display()))
    }

    pub fn merge_text(&mut self, text: &str) -> Result<(), EnrichmentError> {
        let docs = yaml::parse_documents(text).map_err(|e| EnrichmentError {
            pos: e.pos,
            message: e.message,
        })?;
        for doc in &docs {
            for (key, section) in map(doc, "an enrichment file")? {
                match key.text.as_str() {
                    "fields" => {
                        for (field, values) in map(section, "`fields`")? {
                            self.field_names.insert(&field.text);
                            let table = self.fields.entry(field.text.clone()).or_default();
                            for (value, text) in map(values, "a field's values")? {
                                table.insert(value.text.to_lowercase(), text_of(text)?);
                            }
                        }
                    }
                    "events" => {
                        for (channel, ids) in map(section, "`events`")? {
                            let table = self.events.entry(channel.text.to_lowercase()).or_default();
                            for (id, text) in map(ids, "a channel's event ids")? {
                                table.insert(id.text.clone(), text_of(text)?);
                            }
                        }
                    }
                    "sids" => {
                        for (sid, text) in map(section, "`sids`")? {
                            if sid.text == "rid" {
                                for (rid, text) in map(text, "`rid`")? {
                                    self.rids.insert(rid.text.clone(), text_of(text)?);
                                }
                            } else {
                                self.sids.insert(sid.text.to_uppercase(), text_of(text)?);
                            }
                        }
                    }
                    other => {
                        return Err(EnrichmentError {
                            pos: key.pos,
                            message: format!(
                                "unknown section `{other}` (expected fields, events or sids)"
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Explanations for an event's fields, in record order: `(field, text)`.
    pub fn explain<'a>(
        &'a self,
        channel: Option<&str>,
        fields: impl Iterator<Item = (&'a str, &'a str)>,
        lang: Lang,
    ) -> Vec<(&'a str, &'a str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        let mut buffer = [0u8; FOLD_BUFFER];
        for (name, value) in fields {
            if out.iter().any(|(n, _)| *n == name) {
                continue;
            }
            let text = if name == "EventID" {
                channel.and_then(|c| self.events.get(&*folded(c, false, &mut buffer))?.get(value))
            } else if let Some(table) = self
                .field_names
                .may_hold(name)
                .then(|| self.fields.get(name))
                .flatten()
            {
                table.get(&*folded(value, false, &mut buffer))
            } else if value.starts_with("S-1-") || value.starts_with("s-1-") {
                self.sid(value)
            } else {
                None
            };
            if let Some(text) = text {
                out.push((name, text.get(lang)));
            }
        }
        out
    }

    fn sid(&self, value: &str) -> Option<&Text> {
        let mut buffer = [0u8; FOLD_BUFFER];
        let upper = folded(value, true, &mut buffer);
        if let Some(text) = self.sids.get(&*upper) {
            return Some(text);
        }
        // A domain or machine SID: S-1-5-21-<three sub-authorities>-<rid>.
        if upper.starts_with("S-1-5-21-") && upper.split('-').count() == 8 {
            return self.rids.get(upper.rsplit('-').next()?);
        }
        None
    }
}

/// Codes, channels and SIDs fit; longer text is folded on the heap.
const FOLD_BUFFER: usize = 96;

/// `text` in lower (or upper) case: in `buffer` when it is ASCII and fits, which codes,
/// channels and SIDs are, else through the full Unicode mapping.
fn folded<'b>(text: &str, upper: bool, buffer: &'b mut [u8; FOLD_BUFFER]) -> Cow<'b, str> {
    if text.is_ascii() && text.len() <= buffer.len() {
        let out = &mut buffer[..text.len()];
        out.copy_from_slice(text.as_bytes());
        if upper {
            out.make_ascii_uppercase();
        } else {
            out.make_ascii_lowercase();
        }
        // ASCII stays ASCII, so this never falls back.
        return Cow::Borrowed(std::str::from_utf8(out).unwrap_or_default());
    }
    Cow::Owned(if upper {
        text.to_uppercase()
    } else {
        text.to_lowercase()
    })
}

fn map<'a>(node: &'a Node, what: &str) -> Result<&'a [(yaml::Key, Node)], EnrichmentError> {
    node.as_map().ok_or_else(|| EnrichmentError {
        pos: node.pos,
        message: format!("{what} must be a mapping, not {}", node.kind()),
    })
}

fn text_of(node: &Node) -> Result<Text, EnrichmentError> {
    // `{en: a, b}` is valid YAML (a second key `b`): refuse it, it is a missing quote.
    if let Some(entries) = node.as_map()
        && let Some((key, _)) = entries
            .iter()
            .find(|(k, _)| k.text != "en" && k.text != "ja")
    {
        return Err(EnrichmentError {
            pos: key.pos,
            message: format!(
                "unexpected `{}` in an entry (quote texts that contain a comma)",
                key.text
            ),
        });
    }
    let get = |lang: &str| node.get(lang).and_then(Node::as_str).map(str::to_string);

    match (&node.value, get("en")) {
        (Value::Map(_), Some(en)) => Ok(Text {
            en,
            ja: get("ja").unwrap_or_default(),
        }),
        _ => Err(EnrichmentError {
            pos: node.pos,
            message: "an entry is {en: ..., ja: ...} (ja may be left out)".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explain(tables: &Enrichment, fields: &[(&str, &str)], lang: Lang) -> Vec<(String, String)> {
        tables
            .explain(Some("Security"), fields.iter().copied(), lang)
            .into_iter()
            .map(|(name, text)| (name.to_string(), text.to_string()))
            .collect()
    }

    #[test]
    fn codes_sids_and_event_ids_in_both_languages() {
        let tables = Enrichment::builtin();
        let event = [
            ("EventID", "4625"),
            ("Channel", "Security"),
            ("LogonType", "10"),
            ("SubStatus", "0xc000006a"),
            ("TargetSid", "S-1-5-21-1111111111-2222222222-3333333333-512"),
            ("MemberSid", "S-1-5-32-544"),
            ("TargetUserName", "alice"),
        ];
        let en = explain(&tables, &event, Lang::En);
        assert_eq!(
            en[0],
            ("EventID".into(), "An account failed to log on".into())
        );
        assert_eq!(
            en[1],
            (
                "LogonType".into(),
                "RemoteInteractive (Remote Desktop)".into()
            )
        );
        assert!(en[2].1.contains("password is wrong"));
        assert_eq!(en[3], ("TargetSid".into(), "Domain Admins".into()));
        assert_eq!(en[4], ("MemberSid".into(), "Administrators".into()));
        assert_eq!(en.len(), 5);
        let ja = explain(&tables, &event, Lang::Ja);
        assert_eq!(ja[0].1, "アカウントがログオンに失敗しました");
        assert!(ja[2].1.contains("パスワードが間違っている"));
    }

    #[test]
    fn event_ids_are_per_channel() {
        let tables = Enrichment::builtin();
        let rdp = tables.explain(
            Some("Microsoft-Windows-TerminalServices-RDPClient/Operational"),
            [("EventID", "1102")].into_iter(),
            Lang::En,
        );
        assert!(rdp[0].1.starts_with("RDP client"), "{rdp:?}");
        let security = explain(&tables, &[("EventID", "1102")], Lang::En);
        assert_eq!(security[0].1, "The audit log was cleared");
    }

    #[test]
    fn codes_channels_and_sids_match_in_any_case_and_any_length() {
        let mut tables = Enrichment::builtin();
        let long = "É".repeat(60);
        let custom = "é".repeat(60);
        tables
            .merge_text(&format!("fields:\n  Custom:\n    {long}: {{en: long}}\n"))
            .unwrap();
        let out = tables.explain(
            Some("SECURITY"),
            [
                ("EventID", "1102"),
                ("SubStatus", "0XC000006A"),
                ("MemberSid", "s-1-5-32-544"),
                ("TargetSid", "s-1-5-21-1111111111-2222222222-3333333333-512"),
                ("OtherSid", "S-1-5-21-1-2-512-7"),
                ("Custom", &custom),
            ]
            .into_iter(),
            Lang::En,
        );
        let names: Vec<&str> = out.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["EventID", "SubStatus", "MemberSid", "TargetSid", "Custom"],
            "{out:?}"
        );
        assert_eq!(out[3].1, "Domain Admins");
        assert_eq!(out[4].1, "long");
    }

    #[test]
    fn a_user_file_overrides_and_extends() {
        let mut tables = Enrichment::builtin();
        tables
            .merge_text("fields:\n  LogonType:\n    '10': {en: RDP!}\n  Custom:\n    x: {en: ex, ja: エックス}\n")
            .unwrap();
        let out = explain(&tables, &[("LogonType", "10"), ("Custom", "X")], Lang::Ja);
        assert_eq!(
            out,
            [
                ("LogonType".into(), "RDP!".into()),
                ("Custom".into(), "エックス".into())
            ]
        );
        let err = tables
            .merge_text("colours:\n  red: {en: red}\n")
            .unwrap_err();
        assert_eq!(err.pos.line, 1);
        assert!(
            tables
                .merge_text("fields:\n  A:\n    x: just text\n")
                .is_err()
        );
        let err = tables
            .merge_text("fields:\n  A:\n    x: {en: one, two}\n")
            .unwrap_err();
        assert!(err.message.contains("comma"), "{err}");
    }
}
