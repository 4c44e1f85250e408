//! A YAML document as a tree of nodes that remember where they were written and how.
//!
//! Sigma values must be kept as written: `00000429` is text, not the number 429, and
//! `1.10` is not `1.1`. serde-saphyr parses the file (duplicate keys are an error, alias and
//! depth budgets hold), `Spanned` gives each node its line, column and byte range, and for
//! plain scalars that YAML would type as numbers or booleans we take the spelling straight
//! from the source by that byte range. Everything downstream (rules, mappings, placeholders)
//! reads this one tree, so every error can point at a line and column.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// A position in a YAML source, 1-based. Line 0 means unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// A scalar, as written (quotes removed). `typed` is true for plain scalars that YAML
    /// reads as a number or boolean (`10`, `true`).
    Scalar {
        text: String,
        typed: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub pos: Pos,
    pub text: String,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.text == key)
            .map(|(_, v)| v)
    }

    /// A scalar, or each scalar of a list of scalars.
    pub fn strings(&self) -> Option<Vec<&str>> {
        match &self.value {
            Value::Scalar { text, .. } => Some(vec![text]),
            Value::Seq(items) => items.iter().map(Node::as_str).collect(),
            Value::Null => Some(Vec::new()),
            Value::Map(_) => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The node as JSON, scalars as strings, for passing unknown rule fields through.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Scalar { text, .. } => serde_json::Value::String(text.clone()),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.text.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Why a YAML file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        strict_booleans: true,
    }
}

/// Parses every document of a (possibly multi-document) YAML source.
pub fn parse_documents(source: &str) -> Result<Vec<Node>, YamlError> {
    let raw: Vec<RawNode> =
        serde_saphyr::from_multiple_with_options(source, options()).map_err(|e| {
            let pos = e
                .location()
                .map(|l| Pos {
                    line: l.line() as u32,
                    column: l.column() as u32,
                })
                .unwrap_or_default();
            YamlError {
                pos,
                message: first_line(&e.to_string()),
            }
        })?;
    Ok(raw
        .into_iter()
        .filter(|n| !matches!(n.value, RawValue::Null))
        .map(|n| n.resolve(source))
        .collect())
}

/// serde-saphyr's messages carry a source snippet after the first line; we print our own.
fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

/// A node as deserialized, before typed scalars get their spelling back from the source.
struct RawNode {
    pos: Pos,
    byte_range: Option<(usize, usize)>,
    value: RawValue,
}

enum RawValue {
    Null,
    Text(String),
    /// A number or boolean; `fallback` is serde's rendering if the source range is unknown.
    Typed(String),
    Seq(Vec<RawNode>),
    Map(Vec<(Key, RawNode)>),
}

impl RawNode {
    fn resolve(self, source: &str) -> Node {
        let value = match self.value {
            RawValue::Null => Value::Null,
            RawValue::Text(text) => Value::Scalar { text, typed: false },
            RawValue::Typed(fallback) => {
                let written = self
                    .byte_range
                    .and_then(|(start, len)| source.get(start..start + len))
                    .map(str::trim)
                    .filter(|s| !s.is_empty());
                Value::Scalar {
                    text: written.map_or(fallback, str::to_string),
                    typed: true,
                }
            }
            RawValue::Seq(items) => {
                Value::Seq(items.into_iter().map(|n| n.resolve(source)).collect())
            }
            RawValue::Map(entries) => Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, v.resolve(source)))
                    .collect(),
            ),
        };
        Node {
            pos: self.pos,
            value,
        }
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<RawValue>::deserialize(deserializer)?;
        let location = spanned.referenced;
        let span = location.span();
        let byte_range = span
            .byte_offset()
            .zip(span.byte_len())
            .map(|(o, l)| (o as usize, l as usize));
        Ok(RawNode {
            pos: Pos {
                line: location.line() as u32,
                column: location.column() as u32,
            },
            byte_range,
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawValueVisitor)
    }
}

struct RawValueVisitor;

impl<'de> Visitor<'de> for RawValueVisitor {
    type Value = RawValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawValue, E> {
        Ok(RawValue::Typed(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawValue, E> {
        Ok(RawValue::Typed(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawValue, E> {
        Ok(RawValue::Typed(v.to_string()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawValue, E> {
        Ok(RawValue::Typed(v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawValue, E> {
        Ok(RawValue::Typed(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawValue, E> {
        Ok(RawValue::Typed(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawValue, E> {
        Ok(RawValue::Text(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<RawValue, E> {
        Ok(RawValue::Text(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<RawValue, E> {
        Ok(RawValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawValue, D::Error> {
        RawValue::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<RawNode>()? {
            items.push(item);
        }
        Ok(RawValue::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value::<RawNode>()?;
            let key = Key {
                pos: Pos {
                    line: key.referenced.line() as u32,
                    column: key.referenced.column() as u32,
                },
                text: key.value.0,
            };
            entries.push((key, value));
        }
        Ok(RawValue::Map(entries))
    }
}

/// A mapping key as text, whatever YAML would type it as (`4624:` is a key too).
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(KeyText)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(source: &str) -> Node {
        parse_documents(source).unwrap().remove(0)
    }

    #[test]
    fn scalars_keep_their_spelling() {
        let doc = one("a: [00000429, 1.10, 0x10, 10, true, yes, 'quoted', ~, 1_000]\n");
        let items: Vec<_> = match &doc.get("a").unwrap().value {
            Value::Seq(items) => items.iter().map(|n| n.value.clone()).collect(),
            _ => panic!(),
        };
        let text = |t: &str, typed| Value::Scalar {
            text: t.into(),
            typed,
        };
        assert_eq!(
            items,
            vec![
                text("00000429", false),
                text("1.10", true),
                text("0x10", true),
                text("10", true),
                text("true", true),
                text("yes", false),
                text("quoted", false),
                Value::Null,
                text("1_000", false),
            ]
        );
    }

    #[test]
    fn duplicate_keys_are_an_error_with_a_position() {
        let err = parse_documents("a: 1\nb:\n  x: 1\n  x: 2\n").unwrap_err();
        assert!(err.message.to_lowercase().contains("duplicate"), "{err:?}");
        assert_eq!(err.pos.line, 4);
    }

    #[test]
    fn positions_point_at_keys_and_values() {
        let doc = one("title: t\ndetection:\n  sel:\n    EventID: 4624\n");
        let (key, value) = &doc
            .get("detection")
            .unwrap()
            .get("sel")
            .unwrap()
            .as_map()
            .unwrap()[0];
        assert_eq!(key.pos, Pos { line: 4, column: 5 });
        assert_eq!(value.pos.line, 4);
        assert_eq!(value.as_str(), Some("4624"));
    }

    #[test]
    fn several_documents() {
        let docs = parse_documents("a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
    }
}
