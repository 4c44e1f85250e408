//! One detection item (`Field|mod1|mod2: values`) to a `Check`.
//!
//! Modifiers apply in the order written, as the spec says: `base64offset|contains` encodes
//! then wraps in wildcards; `contains|base64offset` would encode the wildcards and is
//! refused. Every modifier of Sigma v2.1 is handled; an unknown one is an error, never
//! ignored, since ignoring it would silently change what the rule matches.

use super::LocalIds;
use super::glob::Glob;
use super::literals::Subject;
use super::matcher::{Anchor, Cidr, Compare, LazyRegex, StrPattern, TimePart, parse_number};
use super::placeholder::Placeholders;
use super::{Check, ValueTest};
use crate::rule::RawValue;
use crate::rule::sigma_string::{self, Part, SigmaString, Utf16};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The most alternatives one value may expand into (windash, placeholders).
const MAX_VARIANTS: usize = 1024;

/// A step that rewrites a string value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Contains,
    StartsWith,
    EndsWith,
    Windash,
    Base64,
    Base64Offset,
    Utf16(Utf16),
}

#[derive(Debug, Default)]
struct Modifiers {
    steps: Vec<Step>,
    all: bool,
    cased: bool,
    re: bool,
    re_flags: String,
    cidr: bool,
    exists: bool,
    fieldref: bool,
    expand: bool,
    neq: bool,
    compare: Option<Compare>,
    time_part: Option<TimePart>,
    calendar: bool,
}

fn parse_modifiers(names: &[String]) -> Result<Modifiers, String> {
    let mut m = Modifiers::default();
    for name in names {
        let step = match name.as_str() {
            "contains" => Some(Step::Contains),
            "startswith" => Some(Step::StartsWith),
            "endswith" => Some(Step::EndsWith),
            "windash" => Some(Step::Windash),
            "base64" => Some(Step::Base64),
            "base64offset" => Some(Step::Base64Offset),
            "wide" | "utf16le" => Some(Step::Utf16(Utf16::Le)),
            "utf16be" => Some(Step::Utf16(Utf16::Be)),
            "utf16" => Some(Step::Utf16(Utf16::LeWithBom)),
            _ => None,
        };
        if let Some(step) = step {
            m.steps.push(step);
            continue;
        }
        match name.as_str() {
            "all" => m.all = true,
            "cased" => m.cased = true,
            "re" => m.re = true,
            "i" | "ignorecase" | "m" | "multiline" | "s" | "dotall" => {
                if !m.re {
                    return Err(format!("modifier `{name}` only follows `re`"));
                }
                m.re_flags.push(name.chars().next().unwrap_or('i'));
            }
            "cidr" => m.cidr = true,
            "exists" => m.exists = true,
            "fieldref" => m.fieldref = true,
            "expand" => m.expand = true,
            "calendar" => m.calendar = true,
            "neq" => m.neq = true,
            "gt" | "gte" | "lt" | "lte" => {
                if m.compare.is_some() {
                    return Err("only one of gt, gte, lt, lte may be given".into());
                }
                m.compare = Some(match name.as_str() {
                    "gt" => Compare::Gt,
                    "gte" => Compare::Gte,
                    "lt" => Compare::Lt,
                    _ => Compare::Lte,
                });
            }
            other => match TimePart::parse(other) {
                Some(part) => {
                    if m.time_part.is_some() {
                        return Err("only one time-part modifier may be given".into());
                    }
                    m.time_part = Some(part);
                }
                None => return Err(format!("unknown modifier `{other}`")),
            },
        }
    }
    // Combinations that have no meaning.
    let is_anchor = |s: &Step| matches!(s, Step::Contains | Step::StartsWith | Step::EndsWith);
    let encodes = m.steps.iter().any(|s| !is_anchor(s));
    let string_mods = !m.steps.is_empty() || m.cased || m.expand;
    if m.re && (encodes || m.cased || m.expand) {
        return Err("`re` takes no encoding, `cased` or `expand` modifiers".into());
    }
    if m.cidr && (string_mods || m.re || m.compare.is_some()) {
        return Err("`cidr` cannot be combined with string modifiers".into());
    }
    if m.exists && names.len() > 1 {
        return Err("`exists` stands alone".into());
    }
    if m.calendar && names.len() > 1 {
        return Err("`calendar` stands alone (negate it with `not` in the condition)".into());
    }
    if m.fieldref && (encodes || m.re || m.cidr || m.expand) {
        return Err(
            "`fieldref` combines only with contains, startswith, endswith, cased, all and neq"
                .into(),
        );
    }
    if m.compare.is_some() && (string_mods || m.re) {
        return Err("gt/gte/lt/lte compare numbers and take no string modifiers".into());
    }
    if m.time_part.is_some() && (string_mods || m.re || m.cidr || m.fieldref) {
        return Err("time-part modifiers take only gt/gte/lt/lte and neq".into());
    }
    Ok(m)
}

/// What compiling an item needs besides the item.
pub(crate) struct ItemContext<'a> {
    pub placeholders: &'a Placeholders,
    /// The site's calendars (for `calendar`).
    pub calendars: &'a crate::site::Calendars,
    /// Rule-local field and needle ids.
    pub ids: &'a mut LocalIds,
    pub regexes: &'a RegexCache,
    /// A field name as this rule's target names it (for `fieldref`).
    pub rename: &'a dyn Fn(&str) -> String,
}

/// Compiles one item into a check on `subject` (field names are already resolved).
pub(crate) fn compile_item(
    field_name: &str,
    subject: Subject,
    modifiers: &[String],
    values: &[RawValue],
    context: &mut ItemContext<'_>,
) -> Result<Check, String> {
    let mut m = parse_modifiers(modifiers)?;
    if matches!(subject, Subject::Keywords(_)) {
        if m.exists
            || m.fieldref
            || m.cidr
            || m.calendar
            || m.compare.is_some()
            || m.time_part.is_some()
        {
            return Err("keyword searches take only string modifiers".into());
        }
        // A keyword is found anywhere in a value unless the rule anchors it.
        let anchored = m
            .steps
            .iter()
            .any(|s| matches!(s, Step::Contains | Step::StartsWith | Step::EndsWith));
        if !anchored && !m.re {
            m.steps.push(Step::Contains);
        }
    }
    let mut tests = Vec::with_capacity(values.len());
    for value in values {
        let text = match value {
            RawValue::Null => {
                if m.exists {
                    return Err("`exists` takes true or false".into());
                }
                tests.push(ValueTest::Null);
                continue;
            }
            RawValue::Text(t) | RawValue::Typed(t) => t.as_str(),
        };
        tests.push(compile_value(text, value, &m, subject, context)?);
    }
    if m.cidr && !m.all {
        tests = merge_networks(tests);
    }
    Ok(Check {
        subject,
        field: field_name.into(),
        tests: tests.into_boxed_slice(),
        all: m.all,
        negate: m.neq,
    })
}

/// A value's networks as one test, so that a value is read as an address once for a
/// list of networks, not once per network.
fn merge_networks(tests: Vec<ValueTest>) -> Vec<ValueTest> {
    let mut networks: Vec<Cidr> = Vec::new();
    let mut others = Vec::new();
    for test in tests {
        match test {
            ValueTest::Cidr(nets) => networks.extend(nets),
            other => others.push(other),
        }
    }
    if !networks.is_empty() {
        others.push(ValueTest::Cidr(networks.into_boxed_slice()));
    }
    others
}

fn compile_value(
    text: &str,
    raw: &RawValue,
    m: &Modifiers,
    subject: Subject,
    context: &mut ItemContext<'_>,
) -> Result<ValueTest, String> {
    if m.exists {
        return match text.to_ascii_lowercase().as_str() {
            "true" | "yes" => Ok(ValueTest::Exists(true)),
            "false" | "no" => Ok(ValueTest::Exists(false)),
            _ => Err(format!("`exists` takes true or false, not `{text}`")),
        };
    }
    if m.cidr {
        return Cidr::parse(text).map(|c| ValueTest::Cidr(Box::new([c])));
    }
    if m.calendar {
        return context
            .calendars
            .get(text)
            .map(|calendar| ValueTest::Calendar(calendar.clone()))
            .ok_or_else(|| {
                let known: Vec<&str> = context.calendars.names().collect();
                format!(
                    "unknown calendar `{text}` (the site defines: {}; add calendars with --site FILE)",
                    known.join(", ")
                )
            });
    }
    if let Some(part) = m.time_part {
        let value = parse_number(text)
            .filter(|v| v.fract() == 0.0)
            .ok_or_else(|| format!("`{text}` is not a whole number"))?;
        return Ok(ValueTest::TimePart {
            part,
            op: m.compare.unwrap_or(Compare::Eq),
            value: value as i64,
        });
    }
    if let Some(op) = m.compare {
        let value = parse_number(text).ok_or_else(|| format!("`{text}` is not a number"))?;
        return Ok(ValueTest::Number { op, value });
    }
    if m.fieldref {
        let anchor = m.steps.iter().fold(Anchor::Equals, |a, s| match s {
            Step::Contains => Anchor::Contains,
            Step::StartsWith if a == Anchor::Suffix => Anchor::Contains,
            Step::StartsWith => Anchor::Prefix,
            Step::EndsWith if a == Anchor::Prefix => Anchor::Contains,
            Step::EndsWith => Anchor::Suffix,
            _ => a,
        });
        return Ok(ValueTest::FieldRef {
            other: context.ids.field(&(context.rename)(text)),
            anchor,
            cased: m.cased,
        });
    }
    if m.re {
        return compile_regex(text, m, context.regexes)
            .map(|re| ValueTest::Str(Box::new([StrPattern::Regex(re)])));
    }

    // Strings: expand placeholders, parse wildcards, apply the steps in order.
    let texts = if m.expand {
        context.placeholders.expand(text, MAX_VARIANTS)?
    } else {
        vec![text.to_string()]
    };
    let mut variants: Vec<Variant> = texts
        .iter()
        .map(|t| {
            Variant::Text(match raw {
                // Numbers and booleans have no wildcards.
                RawValue::Typed(_) => SigmaString::literal(t),
                _ => SigmaString::parse(t),
            })
        })
        .collect();
    for step in &m.steps {
        variants = apply_step(*step, variants)?;
        if variants.len() > MAX_VARIANTS {
            return Err(format!(
                "the value expands into more than {MAX_VARIANTS} alternatives"
            ));
        }
    }
    let mut patterns = Vec::with_capacity(variants.len());
    for variant in variants {
        patterns.push(string_pattern(
            &variant.into_text(),
            m.cased,
            subject,
            context.ids,
        )?);
    }
    Ok(ValueTest::Str(patterns.into_boxed_slice()))
}

/// A value between steps: text with wildcards, or the bytes an encoding step produced.
enum Variant {
    Text(SigmaString),
    Bytes(Vec<u8>),
}

impl Variant {
    fn into_text(self) -> SigmaString {
        match self {
            Variant::Text(s) => s,
            Variant::Bytes(b) => SigmaString::literal(&sigma_string::bytes_to_text(&b)),
        }
    }

    fn into_bytes(self, step: &str) -> Result<Vec<u8>, String> {
        match self {
            Variant::Bytes(b) => Ok(b),
            Variant::Text(s) => s.as_literal().map(String::into_bytes).ok_or_else(|| {
                format!(
                    "`{step}` needs a value without wildcards (put contains/startswith/endswith after it)"
                )
            }),
        }
    }
}

fn apply_step(step: Step, variants: Vec<Variant>) -> Result<Vec<Variant>, String> {
    let mut out = Vec::with_capacity(variants.len());
    for v in variants {
        match step {
            Step::Contains => out.push(Variant::Text(v.into_text().contains())),
            Step::StartsWith => out.push(Variant::Text(v.into_text().startswith())),
            Step::EndsWith => out.push(Variant::Text(v.into_text().endswith())),
            Step::Windash => out.extend(
                v.into_text()
                    .windash(MAX_VARIANTS)?
                    .into_iter()
                    .map(Variant::Text),
            ),
            Step::Base64 => {
                let encoded = sigma_string::base64(&v.into_bytes("base64")?);
                out.push(Variant::Text(SigmaString::literal(&encoded)));
            }
            Step::Base64Offset => out.extend(
                sigma_string::base64_offsets(&v.into_bytes("base64offset")?)
                    .iter()
                    .map(|s| Variant::Text(SigmaString::literal(s))),
            ),
            Step::Utf16(encoding) => {
                let bytes = v.into_bytes("wide/utf16")?;
                out.push(Variant::Bytes(sigma_string::encode_utf16(&bytes, encoding)));
            }
        }
    }
    Ok(out)
}

/// The cheapest test for a parsed string: a literal at a position, or a regex.
fn string_pattern(
    s: &SigmaString,
    cased: bool,
    subject: Subject,
    ids: &mut LocalIds,
) -> Result<StrPattern, String> {
    let normalize = |t: &str| -> Box<str> {
        if cased {
            t.into()
        } else {
            t.to_lowercase().into()
        }
    };
    let literal = |anchor, text: &str| StrPattern::Literal {
        anchor,
        text: normalize(text),
        cased,
        needle: None,
    };
    Ok(match s.parts.as_slice() {
        [] => literal(Anchor::Equals, ""),
        [Part::Many] => StrPattern::Any,
        [Part::Literal(t)] => literal(Anchor::Equals, t),
        [Part::Literal(t), Part::Many] => literal(Anchor::Prefix, t),
        [Part::Many, Part::Literal(t)] => literal(Anchor::Suffix, t),
        [Part::Many, Part::Literal(t), Part::Many] => {
            let text = normalize(t);
            let needle = (!cased).then(|| ids.needle(subject, &text));
            StrPattern::Literal {
                anchor: Anchor::Contains,
                text,
                cased,
                needle,
            }
        }
        parts => StrPattern::Glob(Glob::new(parts, cased)),
    })
}

fn compile_regex(
    text: &str,
    m: &Modifiers,
    regexes: &RegexCache,
) -> Result<Arc<LazyRegex>, String> {
    let mut pattern = String::new();
    if !m.re_flags.is_empty() {
        pattern.push_str("(?");
        pattern.push_str(&m.re_flags);
        pattern.push(')');
    }
    let starts = m.steps.contains(&Step::StartsWith) && !m.steps.contains(&Step::Contains);
    let ends = m.steps.contains(&Step::EndsWith) && !m.steps.contains(&Step::Contains);
    match (starts, ends) {
        (false, false) => pattern.push_str(text),
        _ => {
            pattern.push_str(if starts { "^(?:" } else { "(?:" });
            pattern.push_str(text);
            pattern.push_str(if ends { ")$" } else { ")" });
        }
    }
    regexes.get(&pattern)
}

/// Regexes already checked in this compilation, by pattern: a process_creation rule compiles
/// once per target (Sysmon and Security), and both share one program.
#[derive(Debug, Default)]
pub(crate) struct RegexCache(Mutex<HashMap<String, Result<Arc<LazyRegex>, String>>>);

impl RegexCache {
    fn get(&self, pattern: &str) -> Result<Arc<LazyRegex>, String> {
        let lock = || self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(checked) = lock().get(pattern) {
            return checked.clone();
        }
        let checked = LazyRegex::new(pattern).map(Arc::new);
        lock().insert(pattern.to_string(), checked.clone());
        checked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(mods: &[&str], values: &[RawValue]) -> Result<Check, String> {
        let mods: Vec<String> = mods.iter().map(|s| s.to_string()).collect();
        compile_item(
            "F",
            Subject::Field(100),
            &mods,
            values,
            &mut ItemContext {
                placeholders: &Placeholders::default(),
                calendars: &Default::default(),
                ids: &mut LocalIds::default(),
                regexes: &RegexCache::default(),
                rename: &|n| n.to_string(),
            },
        )
    }

    #[test]
    fn a_regex_too_large_fails_at_first_use_and_matches_nothing() {
        let check = compile(&["re"], &[text("\\w{1000}{1000}")]).expect("the syntax is valid");
        let ValueTest::Str(patterns) = &check.tests[0] else {
            panic!("a string test")
        };
        let StrPattern::Regex(regex) = &patterns[0] else {
            panic!("a regex")
        };
        assert_eq!(regex.failure(), None, "not built at compile time");
        assert!(!regex.is_match("a"));
        assert!(regex.failure().is_some_and(|m| m.contains("too large")));
    }

    fn text(s: &str) -> RawValue {
        RawValue::Text(s.into())
    }

    #[test]
    fn unknown_and_conflicting_modifiers_are_errors() {
        assert!(
            compile(&["contians"], &[text("x")])
                .unwrap_err()
                .contains("unknown modifier `contians`")
        );
        assert!(compile(&["i"], &[text("x")]).is_err());
        assert!(compile(&["re", "base64"], &[text("x")]).is_err());
        assert!(compile(&["cidr", "contains"], &[text("10.0.0.0/8")]).is_err());
        assert!(compile(&["exists", "contains"], &[text("true")]).is_err());
        assert!(compile(&["gt", "lt"], &[RawValue::Typed("1".into())]).is_err());
        assert!(compile(&["gt"], &[text("ten")]).is_err());
        assert!(compile(&["exists"], &[text("maybe")]).is_err());
        assert!(
            compile(&["contains", "base64"], &[text("x")])
                .unwrap_err()
                .contains("without wildcards")
        );
        assert!(
            compile(&["re"], &[text("(unclosed")])
                .unwrap_err()
                .contains("invalid regex")
        );
        assert!(
            compile(&["expand"], &[text("%nope%")])
                .unwrap_err()
                .contains("%nope%")
        );
    }

    #[test]
    fn literal_shapes() {
        let check = compile(
            &[],
            &[
                text("a*"),
                text("*a"),
                text("*a*"),
                text("a"),
                text("*"),
                text("a*b"),
                text(""),
            ],
        )
        .unwrap();
        let kinds: Vec<String> = check
            .tests
            .iter()
            .map(|t| match t {
                ValueTest::Str(p) => match &p[0] {
                    StrPattern::Literal { anchor, needle, .. } => {
                        format!("{anchor:?}{}", if needle.is_some() { "+ac" } else { "" })
                    }
                    StrPattern::Any => "Any".into(),
                    StrPattern::Glob(_) => "Glob".into(),
                    StrPattern::Regex(_) => "Regex".into(),
                },
                _ => "other".into(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "Prefix",
                "Suffix",
                "Contains+ac",
                "Equals",
                "Any",
                "Glob",
                "Equals"
            ]
        );
    }
}
