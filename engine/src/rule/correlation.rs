//! Sigma correlation rules (spec v2.1) as written: documents that name other rules and say
//! how their matches combine over time. This module reads and checks one document; the
//! `correlate` module resolves the names and runs them.
//!
//! Where the spec and its reference implementation differ we accept both spellings:
//! `generate` at the top level (the JSON schema) or inside `correlation` (pySigma), and
//! `group-by` may be left out (the text says it is optional). `value_percentile` is refused:
//! v2.1 does not say what it computes.

use super::{Ctx, Meta, RuleError, Source, parse_meta, scalar};
use crate::yaml::{Node, Pos, Value};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
}

impl CorrelationType {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationType::EventCount => "event_count",
            CorrelationType::ValueCount => "value_count",
            CorrelationType::Temporal => "temporal",
            CorrelationType::TemporalOrdered => "temporal_ordered",
            CorrelationType::ValueSum => "value_sum",
            CorrelationType::ValueAvg => "value_avg",
        }
    }

    fn parse(text: &str) -> Option<CorrelationType> {
        [
            CorrelationType::EventCount,
            CorrelationType::ValueCount,
            CorrelationType::Temporal,
            CorrelationType::TemporalOrdered,
            CorrelationType::ValueSum,
            CorrelationType::ValueAvg,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }

    /// Whether the condition compares a field's values (`condition.field`).
    pub fn needs_field(self) -> bool {
        matches!(
            self,
            CorrelationType::ValueCount | CorrelationType::ValueSum | CorrelationType::ValueAvg
        )
    }

    pub fn is_temporal(self) -> bool {
        matches!(
            self,
            CorrelationType::Temporal | CorrelationType::TemporalOrdered
        )
    }
}

impl fmt::Display for CorrelationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

impl CompareOp {
    pub const ALL: [CompareOp; 6] = [
        CompareOp::Gt,
        CompareOp::Gte,
        CompareOp::Lt,
        CompareOp::Lte,
        CompareOp::Eq,
        CompareOp::Neq,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Gt => "gt",
            CompareOp::Gte => "gte",
            CompareOp::Lt => "lt",
            CompareOp::Lte => "lte",
            CompareOp::Eq => "eq",
            CompareOp::Neq => "neq",
        }
    }

    pub fn parse(text: &str) -> Option<CompareOp> {
        CompareOp::ALL.into_iter().find(|op| op.as_str() == text)
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            CompareOp::Gt => value > threshold,
            CompareOp::Gte => value >= threshold,
            CompareOp::Lt => value < threshold,
            CompareOp::Lte => value <= threshold,
            CompareOp::Eq => value == threshold,
            CompareOp::Neq => value != threshold,
        }
    }

    /// Whether the condition is a lower bound, which more matches can only help meet.
    pub fn is_lower_bound(self) -> bool {
        matches!(self, CompareOp::Gt | CompareOp::Gte)
    }
}

/// `condition: {gte: 10}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub op: CompareOp,
    pub value: f64,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.value)
    }
}

/// A time span as written (`5m`) and in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timespan {
    pub text: String,
    pub seconds: u64,
}

impl Timespan {
    /// `<number><unit>`: s, m, h, d, w, M (30.436875 days) or y (365.2425 days), as pySigma
    /// reads them.
    pub fn parse(text: &str) -> Result<Timespan, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("timespan `{text}` has no unit (s, m, h, d, w, M or y)"))?;
        let (number, unit) = text.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("timespan `{text}` must start with a whole number"))?;
        let unit_seconds: u64 = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 604_800,
            "M" => 2_629_746,
            "y" => 31_556_952,
            _ => {
                return Err(format!(
                    "timespan `{text}`: unknown unit `{unit}` (s, m, h, d, w, M or y)"
                ));
            }
        };
        let seconds = number
            .checked_mul(unit_seconds)
            .filter(|&s| s > 0 && s <= 100 * 31_556_952)
            .ok_or_else(|| format!("timespan `{text}` must be above 0 and at most 100 years"))?;
        Ok(Timespan {
            text: text.to_string(),
            seconds,
        })
    }
}

/// A name in `rules:` or an alias entry, where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
    pub pos: Pos,
}

/// `aliases: {alias: {rule: field, ...}}`: one group-by name for fields that are named
/// differently in different rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub name: String,
    /// (rule id or name, that rule's field).
    pub fields: Vec<(Reference, String)>,
}

/// A loaded correlation rule.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationRule {
    pub source: Source,
    pub meta: Meta,
    pub kind: CorrelationType,
    pub rules: Vec<Reference>,
    pub group_by: Vec<String>,
    pub timespan: Timespan,
    pub condition: Threshold,
    /// `condition.field`: the fields whose values a `value_*` type aggregates (several
    /// are AND-linked: their combination is the value).
    pub value_fields: Vec<String>,
    pub aliases: Vec<Alias>,
    /// Whether the rules it names still raise their own alerts.
    pub generate: bool,
    /// Where `correlation:` was written.
    pub pos: Pos,
}

/// Top-level fields of a correlation document that the spec defines.
const KNOWN_FIELDS: &[&str] = &[
    "title",
    "id",
    "name",
    "related",
    "taxonomy",
    "status",
    "description",
    "license",
    "author",
    "references",
    "date",
    "modified",
    "falsepositives",
    "level",
    "tags",
    "generate",
    "correlation",
];

const CORRELATION_FIELDS: &[&str] = &[
    "type",
    "rules",
    "group-by",
    "timespan",
    "condition",
    "aliases",
    "generate",
];

pub(crate) fn parse(
    mut ctx: Ctx<'_>,
    document: usize,
    doc: &Node,
) -> Result<CorrelationRule, RuleError> {
    let meta = parse_meta(&mut ctx, doc, KNOWN_FIELDS)?;
    let ctx = &ctx;
    let node = doc.get("correlation").expect("checked by the caller");
    let entries = node.as_map().ok_or_else(|| {
        ctx.error(
            node.pos,
            format!("`correlation` must be a mapping, not {}", node.kind()),
        )
    })?;
    for (key, _) in entries {
        if !CORRELATION_FIELDS.contains(&key.text.as_str()) {
            return Err(ctx.error(
                key.pos,
                format!(
                    "unknown correlation field `{}` (expected {})",
                    key.text,
                    CORRELATION_FIELDS.join(", ")
                ),
            ));
        }
    }
    let required = |key: &str| {
        node.get(key)
            .ok_or_else(|| ctx.error(node.pos, format!("correlation has no `{key}`")))
    };

    let type_node = required("type")?;
    let type_text = scalar(ctx, type_node, "type")?;
    let kind = CorrelationType::parse(type_text).ok_or_else(|| {
        let why = if type_text == "value_percentile" {
            "`value_percentile` is not supported: Sigma v2.1 does not define what it computes"
                .to_string()
        } else {
            format!(
                "unknown correlation type `{type_text}` (event_count, value_count, temporal, temporal_ordered, value_sum or value_avg)"
            )
        };
        ctx.error(type_node.pos, why)
    })?;

    let rules_node = required("rules")?;
    let rules = references(ctx, rules_node, "rules")?;
    if rules.is_empty() {
        return Err(ctx.error(rules_node.pos, "`rules` names no rule"));
    }

    let group_by = match node.get("group-by") {
        None => Vec::new(),
        Some(n) => references(ctx, n, "group-by")?
            .into_iter()
            .map(|r| r.name)
            .collect(),
    };

    let timespan_node = required("timespan")?;
    let timespan = Timespan::parse(scalar(ctx, timespan_node, "timespan")?)
        .map_err(|e| ctx.error(timespan_node.pos, e))?;

    let (condition, value_fields) = match node.get("condition") {
        Some(n) => parse_condition(ctx, n)?,
        None if kind.is_temporal() => (
            Threshold {
                op: CompareOp::Gte,
                value: rules.len() as f64,
            },
            Vec::new(),
        ),
        None => return Err(ctx.error(node.pos, "correlation has no `condition`")),
    };
    let condition_pos = node.get("condition").map_or(node.pos, |n| n.pos);
    if kind.needs_field() && value_fields.is_empty() {
        return Err(ctx.error(
            condition_pos,
            format!("a {kind} correlation needs `field` in its condition"),
        ));
    }
    if !kind.needs_field() && !value_fields.is_empty() {
        return Err(ctx.error(
            condition_pos,
            format!("a {kind} correlation takes no `field` in its condition"),
        ));
    }

    let aliases = match node.get("aliases") {
        None => Vec::new(),
        Some(n) => parse_aliases(ctx, n)?,
    };

    let generate = match (doc.get("generate"), node.get("generate")) {
        (None, None) => false,
        (Some(n), None) | (None, Some(n)) => boolean(ctx, n, "generate")?,
        (Some(a), Some(b)) => {
            let (a_value, b_value) = (boolean(ctx, a, "generate")?, boolean(ctx, b, "generate")?);
            if a_value != b_value {
                return Err(ctx.error(
                    b.pos,
                    "`generate` is given twice, at the top and in `correlation`, with different values",
                ));
            }
            a_value
        }
    };

    Ok(CorrelationRule {
        source: Source {
            path: ctx.path.to_path_buf(),
            document,
            pos: doc.pos,
        },
        meta,
        kind,
        rules,
        group_by,
        timespan,
        condition,
        value_fields,
        aliases,
        generate,
        pos: node.pos,
    })
}

/// A name or a list of names.
fn references(ctx: &Ctx<'_>, node: &Node, what: &str) -> Result<Vec<Reference>, RuleError> {
    let one = |n: &Node| -> Result<Reference, RuleError> {
        Ok(Reference {
            name: scalar(ctx, n, what)?.to_string(),
            pos: n.pos,
        })
    };
    match &node.value {
        Value::Seq(items) => items.iter().map(one).collect(),
        Value::Scalar { .. } => Ok(vec![one(node)?]),
        _ => Err(ctx.error(
            node.pos,
            format!(
                "`{what}` must be a name or a list of names, not {}",
                node.kind()
            ),
        )),
    }
}

fn parse_condition(ctx: &Ctx<'_>, node: &Node) -> Result<(Threshold, Vec<String>), RuleError> {
    let entries = node.as_map().ok_or_else(|| {
        ctx.error(
            node.pos,
            format!(
                "the correlation `condition` is a mapping like `gte: 10`, not {}",
                node.kind()
            ),
        )
    })?;
    let mut threshold = None;
    let mut fields = Vec::new();
    for (key, value) in entries {
        if key.text == "field" {
            fields = references(ctx, value, "field")?
                .into_iter()
                .map(|r| r.name)
                .collect();
            continue;
        }
        let op = CompareOp::parse(&key.text).ok_or_else(|| {
            ctx.error(
                key.pos,
                format!(
                    "unknown condition `{}` (gt, gte, lt, lte, eq, neq, and `field`)",
                    key.text
                ),
            )
        })?;
        if threshold.is_some() {
            return Err(ctx.error(
                key.pos,
                "a correlation condition has exactly one comparison (as pySigma requires)",
            ));
        }
        let text = scalar(ctx, value, &key.text)?;
        let number: f64 = text
            .trim()
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite())
            .ok_or_else(|| ctx.error(value.pos, format!("`{}` must be a number", key.text)))?;
        threshold = Some(Threshold { op, value: number });
    }
    let threshold = threshold.ok_or_else(|| {
        ctx.error(
            node.pos,
            "the condition has no comparison (gt, gte, lt, lte, eq or neq)",
        )
    })?;
    Ok((threshold, fields))
}

fn parse_aliases(ctx: &Ctx<'_>, node: &Node) -> Result<Vec<Alias>, RuleError> {
    let entries = node.as_map().ok_or_else(|| {
        ctx.error(
            node.pos,
            format!("`aliases` must be a mapping, not {}", node.kind()),
        )
    })?;
    let mut aliases = Vec::new();
    for (key, value) in entries {
        let per_rule = value.as_map().ok_or_else(|| {
            ctx.error(
                value.pos,
                format!(
                    "alias `{}` must map rule names to field names, not {}",
                    key.text,
                    value.kind()
                ),
            )
        })?;
        let mut fields = Vec::new();
        for (rule, field) in per_rule {
            fields.push((
                Reference {
                    name: rule.text.clone(),
                    pos: rule.pos,
                },
                scalar(ctx, field, &key.text)?.to_string(),
            ));
        }
        aliases.push(Alias {
            name: key.text.clone(),
            fields,
        });
    }
    Ok(aliases)
}

fn boolean(ctx: &Ctx<'_>, node: &Node, what: &str) -> Result<bool, RuleError> {
    match scalar(ctx, node, what)? {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(ctx.error(
            node.pos,
            format!("`{what}` must be true or false, not `{other}`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{Document, parse_rules};
    use std::path::Path;

    fn parse_one(text: &str) -> Result<CorrelationRule, RuleError> {
        let (mut documents, mut errors) = parse_rules(Path::new("c.yml"), text);
        if !errors.is_empty() {
            return Err(errors.remove(0));
        }
        match documents.remove(0) {
            Document::Correlation(c) => Ok(c),
            other => panic!("not a correlation: {other:?}"),
        }
    }

    const BRUTE_FORCE: &str = "title: Many failed logons
id: c1
level: high
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 5m
  condition:
    gte: 10
";

    #[test]
    fn a_correlation_loads() {
        let c = parse_one(BRUTE_FORCE).unwrap();
        assert_eq!(c.kind, CorrelationType::EventCount);
        assert_eq!(c.rules[0].name, "failed_logon");
        assert_eq!(c.group_by, ["IpAddress"]);
        assert_eq!(c.timespan.seconds, 300);
        assert_eq!(
            c.condition,
            Threshold {
                op: CompareOp::Gte,
                value: 10.0
            }
        );
        assert!(!c.generate);
    }

    #[test]
    fn temporal_defaults_to_all_rules_and_generate_is_read_in_both_places() {
        let text = "title: t\ngenerate: true\ncorrelation:\n  type: temporal\n  rules: [a, b, c]\n  timespan: 1h\n";
        let c = parse_one(text).unwrap();
        assert_eq!(c.condition.value, 3.0);
        assert!(c.generate);
        let text = "title: t\ncorrelation:\n  type: temporal_ordered\n  rules: [a, b]\n  timespan: 1h\n  generate: true\n";
        assert!(parse_one(text).unwrap().generate);
    }

    #[test]
    fn timespans_follow_pysigma() {
        assert_eq!(Timespan::parse("90m").unwrap().seconds, 5400);
        assert_eq!(Timespan::parse("2w").unwrap().seconds, 1_209_600);
        assert_eq!(Timespan::parse("1M").unwrap().seconds, 2_629_746);
        assert!(Timespan::parse("10").is_err());
        assert!(Timespan::parse("0s").is_err());
        assert!(Timespan::parse("5 minutes").is_err());
    }

    #[test]
    fn mistakes_are_reported_where_they_are() {
        let e = parse_one(&BRUTE_FORCE.replace("gte: 10", "gte: 10\n    lt: 100")).unwrap_err();
        assert!(e.message.contains("exactly one"), "{e}");
        assert_eq!(e.pos.line, 11);
        let e = parse_one(&BRUTE_FORCE.replace("event_count", "value_count")).unwrap_err();
        assert!(e.message.contains("needs `field`"), "{e}");
        let e = parse_one(&BRUTE_FORCE.replace("5m", "5x")).unwrap_err();
        assert!(e.message.contains("unknown unit"), "{e}");
        assert_eq!(e.pos.line, 8);
        let e = parse_one(&BRUTE_FORCE.replace("event_count", "value_percentile")).unwrap_err();
        assert!(e.message.contains("does not define"), "{e}");
        let e = parse_one(&BRUTE_FORCE.replace("group-by", "groupby")).unwrap_err();
        assert!(e.message.contains("unknown correlation field"), "{e}");
        assert_eq!(e.rule_id.as_deref(), Some("c1"));
    }
}
