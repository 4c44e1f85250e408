//! A YAML document as a tree of nodes that remember where they were written and how.
//!
//! Sigma values must be kept as written: `00000429` is text, not the number 429, and
//! `1.10` is not `1.1`. The tree is built straight from the events of serde-saphyr's YAML
//! parser (granit-parser, which serde-saphyr re-exports), so every scalar keeps the text the
//! parser read and every node its line and column; everything downstream (rules, mappings,
//! placeholders, site settings) reads this one tree, so every error can point at a line and
//! column. Building the tree here, not through serde's `Deserialize` with `Spanned` values,
//! halves the cost of reading a rule (measured: 1.15 to 0.5 billion instructions for
//! SigmaHQ's 2,407 Windows rules), which is most of what a hunt over a small folder spends.
//!
//! What the tree builder decides, as serde-saphyr does with the options tansa used before:
//! a duplicate key in a mapping is an error (serde_yaml kept the last one silently);
//! aliases are expanded under a budget of nodes and mappings nest at most 64 deep, so a
//! hostile file cannot exhaust memory or the stack; `<<` merge keys are applied; plain
//! scalars that YAML's core schema reads as numbers or booleans are marked `typed`, except
//! numbers with leading zeros or underscores, which stay text (`0x10`, `1.5`, `true` are
//! typed; `0042`, `1_000`, `yes` are not).

use serde_saphyr::granit_parser::{Event, Marker, Parser, ScalarStyle, Tag};
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

/// The most nodes a file may hold, aliases expanded (serde-saphyr's default budget).
const MAX_NODES: usize = 250_000;
/// The deepest a file may nest sequences and mappings (serde-saphyr's default budget).
const MAX_DEPTH: usize = 64;

/// Parses every document of a (possibly multi-document) YAML source. Empty documents are
/// left out.
pub fn parse_documents(source: &str) -> Result<Vec<Node>, YamlError> {
    let mut builder = Builder::default();
    for next in Parser::new_from_str(source) {
        let (event, span) = next.map_err(|e| YamlError {
            pos: pos(e.marker()),
            message: e.info(),
        })?;
        builder.event(event, pos(&span.start))?;
    }
    Ok(builder.documents)
}

fn pos(marker: &Marker) -> Pos {
    Pos {
        line: u32::try_from(marker.line()).unwrap_or(u32::MAX),
        column: u32::try_from(marker.col() + 1).unwrap_or(u32::MAX),
    }
}

/// A sequence or mapping whose end has not been read yet.
struct Open {
    pos: Pos,
    anchor: usize,
    kind: OpenKind,
}

enum OpenKind {
    Seq(Vec<Node>),
    Map {
        entries: Vec<(Key, Node)>,
        /// The key read, waiting for its value.
        key: Option<Key>,
        /// Whether that key is a `<<` merge key.
        merging: bool,
        /// The values of `<<` merge keys, applied when the mapping ends.
        merges: Vec<Node>,
    },
}

/// Builds nodes from parser events.
#[derive(Default)]
struct Builder {
    documents: Vec<Node>,
    open: Vec<Open>,
    /// Anchored nodes, by the parser's anchor id.
    anchors: Vec<(usize, Node)>,
    /// Nodes made so far, aliases expanded.
    nodes: usize,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, at: Pos) -> Result<(), YamlError> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.count(at, 1)?;
                let plain = style == ScalarStyle::Plain;
                let core = tag.as_deref().and_then(Tag::core_suffix);
                let text = text.into_owned();
                if self.wants_key() {
                    // A key is text, whatever YAML would type it as (`4624:` is a key too).
                    if anchor != 0 {
                        let value = scalar(text.clone(), plain, core);
                        self.anchors.push((anchor, Node { pos: at, value }));
                    }
                    let merge = plain && tag.is_none() && text == "<<";
                    self.set_key(Key { pos: at, text }, merge);
                    return Ok(());
                }
                let value = scalar(text, plain, core);
                self.complete(Node { pos: at, value }, anchor)
            }
            Event::SequenceStart(_, anchor, _) => self.start(at, anchor, OpenKind::Seq(Vec::new())),
            Event::MappingStart(_, anchor, _) => self.start(
                at,
                anchor,
                OpenKind::Map {
                    entries: Vec::new(),
                    key: None,
                    merging: false,
                    merges: Vec::new(),
                },
            ),
            Event::SequenceEnd | Event::MappingEnd => self.end(),
            Event::Alias(id) => {
                let (_, anchored) = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(anchor, _)| *anchor == id)
                    .ok_or_else(|| error(at, "an alias to an unknown anchor"))?;
                let nodes = size(anchored);
                let node = Node {
                    pos: at,
                    value: anchored.value.clone(),
                };
                self.count(at, nodes)?;
                if self.wants_key() {
                    let Value::Scalar { text, .. } = node.value else {
                        return Err(error(at, "a mapping key must be a scalar"));
                    };
                    self.set_key(Key { pos: at, text }, false);
                    return Ok(());
                }
                self.complete(node, 0)
            }
            // Stream and document boundaries (a document's root completes it), comments.
            _ => Ok(()),
        }
    }

    /// Whether the collection being read is a mapping waiting for its next key.
    fn wants_key(&self) -> bool {
        matches!(
            self.open.last(),
            Some(Open {
                kind: OpenKind::Map { key: None, .. },
                ..
            })
        )
    }

    /// Gives the mapping being read the key of its next value (`merge`: a `<<` merge key).
    fn set_key(&mut self, key: Key, merge: bool) {
        if let Some(Open {
            kind: OpenKind::Map {
                key: slot, merging, ..
            },
            ..
        }) = self.open.last_mut()
        {
            *slot = Some(key);
            *merging = merge;
        }
    }

    fn count(&mut self, at: Pos, nodes: usize) -> Result<(), YamlError> {
        self.nodes += nodes;
        if self.nodes > MAX_NODES {
            return Err(error(
                at,
                &format!("more than {MAX_NODES} nodes, aliases expanded"),
            ));
        }
        Ok(())
    }

    fn start(&mut self, at: Pos, anchor: usize, kind: OpenKind) -> Result<(), YamlError> {
        self.count(at, 1)?;
        if self.wants_key() {
            return Err(error(at, "a mapping key must be a scalar"));
        }
        if self.open.len() == MAX_DEPTH {
            return Err(error(
                at,
                &format!("lists and mappings nested more than {MAX_DEPTH} deep"),
            ));
        }
        self.open.push(Open {
            pos: at,
            anchor,
            kind,
        });
        Ok(())
    }

    fn end(&mut self) -> Result<(), YamlError> {
        let Some(open) = self.open.pop() else {
            return Ok(());
        };
        let value = match open.kind {
            OpenKind::Seq(items) => Value::Seq(items),
            OpenKind::Map {
                mut entries,
                merges,
                ..
            } => {
                if let Some(key) = first_duplicate(&entries) {
                    return Err(error(
                        key.pos,
                        &format!("duplicate mapping key `{}`", key.text),
                    ));
                }
                merge(&mut entries, merges)?;
                Value::Map(entries)
            }
        };
        self.complete(
            Node {
                pos: open.pos,
                value,
            },
            open.anchor,
        )
    }

    /// Places a finished node in the collection being read, or makes it a document.
    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.open.last_mut().map(|open| &mut open.kind) {
            None if matches!(node.value, Value::Null) => {}
            None => self.documents.push(node),
            Some(OpenKind::Seq(items)) => items.push(node),
            Some(OpenKind::Map {
                entries,
                key,
                merging,
                merges,
            }) => match key.take() {
                Some(_) if *merging => merges.push(node),
                Some(key) => entries.push((key, node)),
                // Keys are taken where they are read; a collection as key is refused there.
                None => return Err(error(node.pos, "a mapping key must be a scalar")),
            },
        }
        Ok(())
    }
}

/// A scalar's value. `plain`: written without quotes or block indicators; `core`: the
/// suffix of a core-schema tag (`!!str`) on it.
fn scalar(text: String, plain: bool, core: Option<&str>) -> Value {
    match core {
        Some("null") => Value::Null,
        Some("str") => Value::Scalar { text, typed: false },
        Some("bool" | "int" | "float") => Value::Scalar { text, typed: true },
        _ if !plain => Value::Scalar { text, typed: false },
        _ if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") => Value::Null,
        _ => {
            let typed = is_bool(&text) || is_number(&text);
            Value::Scalar { text, typed }
        }
    }
}

fn is_bool(text: &str) -> bool {
    matches!(text, "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
}

/// Whether YAML's core schema reads `text` as a number, leaving out numbers whose spelling
/// a value would lose: leading zeros (`0042`) and underscores (`1_000`).
fn is_number(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let radix = |prefix: &str, digit: fn(&u8) -> bool| {
        unsigned
            .strip_prefix(prefix)
            .is_some_and(|d| !d.is_empty() && d.as_bytes().iter().all(digit))
    };
    if radix("0x", u8::is_ascii_hexdigit)
        || radix("0o", |b| (b'0'..=b'7').contains(b))
        || radix("0b", |b| matches!(b, b'0' | b'1'))
    {
        return true;
    }
    if matches!(
        unsigned,
        ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN"
    ) {
        return true;
    }
    // Digits, an optional fraction, an optional exponent; at least one digit before the
    // exponent, and no leading zero before another digit.
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    let leading_zero = whole.len() > 1 && whole.starts_with('0');
    digits(whole)
        && fraction.is_none_or(digits)
        && whole.len() + fraction.map_or(0, str::len) > 0
        && !leading_zero
        && exponent_ok
}

/// The number of nodes in `node`, for the alias budget.
fn size(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(size).sum(),
        Value::Map(entries) => entries.iter().map(|(_, v)| 1 + size(v)).sum(),
        Value::Null | Value::Scalar { .. } => 0,
    }
}

/// The first key written again in a mapping (its second spelling), if any.
fn first_duplicate(entries: &[(Key, Node)]) -> Option<&Key> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_unstable_by(|&a, &b| entries[a].0.text.cmp(&entries[b].0.text).then(a.cmp(&b)));
    order
        .windows(2)
        .filter(|pair| entries[pair[0]].0.text == entries[pair[1]].0.text)
        .map(|pair| pair[1])
        .min()
        .map(|at| &entries[at].0)
}

/// Applies `<<` merge keys: the entries of each merged mapping (or of each mapping in a
/// merged list, the first winning) that the mapping does not set itself.
fn merge(entries: &mut Vec<(Key, Node)>, merges: Vec<Node>) -> Result<(), YamlError> {
    for merged in merges {
        let maps = match merged.value {
            Value::Map(map) => vec![map],
            Value::Seq(items) => items
                .into_iter()
                .map(|item| match item.value {
                    Value::Map(map) => Ok(map),
                    _ => Err(error(item.pos, "a `<<` merge key takes mappings")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(error(merged.pos, "a `<<` merge key takes mappings")),
        };
        for (key, value) in maps.into_iter().flatten() {
            if !entries.iter().any(|(k, _)| k.text == key.text) {
                entries.push((key, value));
            }
        }
    }
    Ok(())
}

fn error(pos: Pos, message: &str) -> YamlError {
    YamlError {
        pos,
        message: message.to_string(),
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

    /// Each item of `a`'s list: its text and whether it is typed, or `None` for null.
    fn items(source: &str) -> Vec<Option<(String, bool)>> {
        let doc = one(source);
        let Value::Seq(items) = &doc.get("a").unwrap().value else {
            panic!("not a list: {doc:?}")
        };
        items
            .iter()
            .map(|n| match &n.value {
                Value::Scalar { text, typed } => Some((text.clone(), *typed)),
                Value::Null => None,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn numbers_and_booleans_of_the_core_schema_are_typed_but_keep_their_spelling() {
        let typed = "[True, FALSE, 0o17, 0x1F, 0b11, +12, -3, -0, 0, 3., .5, +.5, 1e3, 1E3, \
                     5e+3, 1.5e-3, 0.0, -0x1, 99999999999999999999999, .inf, -.Inf, .NaN]";
        for (text, is_typed) in items(&format!("a: {typed}\n")).into_iter().flatten() {
            assert!(is_typed, "{text} should be typed");
        }
        let text = "[yes, on, tRUE, 012, 00, 1_000, 12:30, 0x, 0o, 0xG, 0O17, 0X1F, 1.2.3, 1e, \
                    e3, ., +, '12', \"true\", 0o8]";
        for (text, is_typed) in items(&format!("a: {text}\n")).into_iter().flatten() {
            assert!(!is_typed, "{text} should be text");
        }
    }

    #[test]
    fn tags_of_the_core_schema_say_what_a_scalar_is() {
        assert_eq!(
            items("a: [!!str 12, !!int '12', !!null '', !local 12, !local x]\n"),
            vec![
                Some(("12".into(), false)),
                Some(("12".into(), true)),
                None,
                Some(("12".into(), true)),
                Some(("x".into(), false)),
            ]
        );
        assert_eq!(
            items("a: [null, Null, NULL, ~, '', 'null', nULL]\n"),
            vec![
                None,
                None,
                None,
                None,
                Some((String::new(), false)),
                Some(("null".into(), false)),
                Some(("nULL".into(), false)),
            ]
        );
    }

    #[test]
    fn keys_are_text_whatever_yaml_would_type_them_as() {
        let doc = one("4624: a\ntrue: b\n~: c\n'x': d\n");
        let keys: Vec<_> = doc
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| &*k.text)
            .collect();
        assert_eq!(keys, ["4624", "true", "~", "x"]);
        for source in ["? [a]\n: 1\n", "? {a: 1}\n: 1\n", "a: &l [1]\n*l : 2\n"] {
            let err = parse_documents(source).unwrap_err();
            assert!(
                err.message.contains("key must be a scalar"),
                "{source:?}: {err:?}"
            );
        }
    }

    #[test]
    fn aliases_copy_the_anchored_node_with_the_positions_it_was_written_at() {
        let doc = one("base: &b\n  x: 1\nuse: *b\nkey: &k name\n*k : 2\n");
        let (base, used) = (doc.get("base").unwrap(), doc.get("use").unwrap());
        assert_eq!(used.value, base.value);
        assert_eq!(used.pos, Pos { line: 3, column: 6 });
        assert_eq!(used.as_map().unwrap()[0].0.pos, Pos { line: 2, column: 3 });
        assert_eq!(doc.get("name").and_then(Node::as_str), Some("2"));
        let err = parse_documents("a: *nowhere\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 1, column: 4 });
    }

    #[test]
    fn aliases_that_would_grow_past_the_node_budget_are_an_error() {
        // Each level holds ten of the one before: 10^6 nodes from a few lines.
        let mut source = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..=6 {
            let previous = format!("*l{}", level - 1);
            let list = [previous.as_str(); 10].join(", ");
            source.push_str(&format!("l{level}: &l{level} [{list}]\n"));
        }
        let err = parse_documents(&source).unwrap_err();
        assert!(err.message.contains("nodes"), "{err:?}");
        assert_eq!(err.pos.line, 6);
        // Five levels (about 111,000 nodes) are within it.
        let five: String = source.lines().take(5).map(|l| format!("{l}\n")).collect();
        assert!(parse_documents(&five).is_ok());
    }

    #[test]
    fn nesting_deeper_than_the_budget_is_an_error() {
        let deep =
            |depth: usize| format!("a: {}{}\n", "[".repeat(depth - 1), "]".repeat(depth - 1));
        assert!(parse_documents(&deep(MAX_DEPTH)).is_ok());
        let err = parse_documents(&deep(MAX_DEPTH + 1)).unwrap_err();
        assert!(err.message.contains("nested"), "{err:?}");
    }

    #[test]
    fn merge_keys_add_what_the_mapping_does_not_set() {
        let doc = one(
            "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  x: 3\nd: {'<<': *a}\n",
        );
        let c = doc.get("c").unwrap();
        let get = |k: &str| c.get(k).and_then(Node::as_str);
        assert_eq!(
            (get("x"), get("y"), get("z")),
            (Some("3"), Some("1"), Some("2"))
        );
        assert_eq!(c.as_map().unwrap().len(), 3);
        // A quoted `<<` is an ordinary key.
        assert!(doc.get("d").unwrap().get("<<").is_some());
        let err = parse_documents("a:\n  <<: 1\n").unwrap_err();
        assert!(err.message.contains("merge"), "{err:?}");
    }

    #[test]
    fn syntax_errors_say_what_and_where() {
        let err = parse_documents("a: [1, 2\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 1, column: 4 });
        assert!(err.message.contains("bracket"), "{err:?}");
        let err = parse_documents("a: 1\nb: c: d\n").unwrap_err();
        assert_eq!(err.pos.line, 2);
        assert!(
            !err.message.contains("line"),
            "the position is given apart: {err:?}"
        );
    }

    proptest::proptest! {
        /// Whatever the text, reading it gives a tree or an error with a position; it
        /// never panics.
        #[test]
        fn any_text_reads_or_fails_cleanly(
            text in "([a-c:\\-\\[\\]{},&*<!'\" ?|>#~\n]|  ){0,60}"
        ) {
            if let Err(e) = parse_documents(&text) {
                proptest::prop_assert!(e.pos.line >= 1, "{:?}", e);
            }
        }
    }

    #[test]
    fn several_documents() {
        let docs = parse_documents("a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
    }
}
