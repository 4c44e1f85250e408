//! Sigma filter documents (spec v2.1 "meta filters"): one site-specific exclusion added to
//! many rules, so a team tunes out its own false positives without editing the rules.
//!
//! A filter applies to a rule it names (by id or name; `rules: any`, or no list, names
//! every rule) when the filter's logsource contains the rule's: each attribute the filter
//! gives is the rule's too. The rule's condition becomes `(rule) and (filter)`, as pySigma
//! does, so a filter says `not selection` to exclude; its selections join the rule under
//! names that start with `_filter<n>_`, which `them` and the rule's own patterns never
//! cover. Filters never apply to correlation rules. Filter documents load in file order,
//! and `<n>` is a filter's position in that order, so the result is the same on every run.

use super::condition::Condition;
use super::{
    Ctx, LogSource, NamedSelection, Rule, RuleError, Source, optional_string, parse_detection,
    parse_logsource, required_string,
};
use crate::yaml::{Node, Pos, Value};

/// A loaded filter document.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterRule {
    pub source: Source,
    pub id: String,
    pub title: String,
    pub logsource: LogSource,
    /// The rules it names; `None` for every rule of its logsource.
    pub rules: Option<Vec<(String, Pos)>>,
    pub selections: Vec<NamedSelection>,
    pub condition: Condition,
}

pub(crate) fn parse(ctx: Ctx<'_>, document: usize, doc: &Node) -> Result<FilterRule, RuleError> {
    let title = required_string(&ctx, doc, "title")?;
    let id = optional_string(&ctx, doc, "id")?
        .unwrap_or_else(|| format!("filter-{:016x}", crate::hash::fnv1a64(title.as_bytes())));
    let logsource = parse_logsource(&ctx, doc)?;
    let node = doc.get("filter").expect("checked by the caller");
    let rules = match node.get("rules") {
        None => None,
        Some(n) => match &n.value {
            Value::Scalar { text, .. } if text == "any" => None,
            Value::Seq(items) if items.is_empty() => None,
            Value::Seq(items) => Some(
                items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map(|name| (name.to_string(), item.pos))
                            .ok_or_else(|| ctx.error(item.pos, "`rules` lists rule ids or names"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Value::Scalar { text, .. } => Some(vec![(text.clone(), n.pos)]),
            _ => {
                return Err(ctx.error(
                    n.pos,
                    format!(
                        "`rules` must be a list of rule ids or names, or `any`, not {}",
                        n.kind()
                    ),
                ));
            }
        },
    };
    let detection = parse_detection(&ctx, node, "filter", &["rules"])?;
    Ok(FilterRule {
        source: Source {
            path: ctx.path.to_path_buf(),
            document,
            pos: doc.pos,
        },
        id,
        title,
        logsource,
        rules,
        selections: detection.selections,
        condition: detection.condition,
    })
}

/// Adds each filter to the rules it applies to. A rule a filter names that is not loaded,
/// or whose logsource the filter does not contain, is an error (the filter would silently
/// do nothing for it).
pub(crate) fn apply(filters: &[FilterRule], rules: &mut [Rule], errors: &mut Vec<RuleError>) {
    for (number, filter) in filters.iter().enumerate() {
        let prefix = format!("_filter{number}_");
        let error = |pos: Pos, message: String| RuleError {
            path: filter.source.path.clone(),
            pos,
            rule_id: Some(filter.id.clone()),
            title: Some(filter.title.clone()),
            message,
        };
        let named = |rule: &Rule, name: &str| {
            rule.meta.id == name || rule.meta.name.as_deref() == Some(name)
        };
        if let Some(names) = &filter.rules {
            for (name, pos) in names {
                match rules.iter().find(|r| named(r, name)) {
                    None => errors.push(error(
                        *pos,
                        format!("the filter names rule `{name}`, which is not loaded"),
                    )),
                    Some(rule) if !contains(&filter.logsource, &rule.logsource) => {
                        errors.push(error(
                            *pos,
                            format!(
                                "the filter's logsource ({}) does not contain rule `{name}`'s ({})",
                                filter.logsource, rule.logsource
                            ),
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        for rule in rules.iter_mut() {
            let listed = match &filter.rules {
                None => true,
                Some(names) => names.iter().any(|(name, _)| named(rule, name)),
            };
            if !listed || !contains(&filter.logsource, &rule.logsource) {
                continue;
            }
            let detection = &mut rule.detection;
            for selection in &filter.selections {
                detection.selections.push(NamedSelection {
                    name: format!("{prefix}{}", selection.name),
                    ..selection.clone()
                });
            }
            let own = std::mem::replace(&mut detection.condition, Condition::And(Vec::new()));
            detection.condition = Condition::And(vec![own, renamed(&filter.condition, &prefix)]);
            rule.filters.push(filter.id.clone());
        }
    }
}

/// Whether every logsource attribute the filter gives is the rule's too.
fn contains(filter: &LogSource, rule: &LogSource) -> bool {
    let same = |f: &Option<String>, r: &Option<String>| match f {
        None => true,
        Some(f) => r.as_ref().is_some_and(|r| r.eq_ignore_ascii_case(f)),
    };
    same(&filter.product, &rule.product)
        && same(&filter.category, &rule.category)
        && same(&filter.service, &rule.service)
}

/// The filter's condition with its selection names prefixed.
fn renamed(condition: &Condition, prefix: &str) -> Condition {
    match condition {
        Condition::Ref(name) => Condition::Ref(format!("{prefix}{name}")),
        Condition::Not(inner) => Condition::Not(Box::new(renamed(inner, prefix))),
        Condition::And(terms) => Condition::And(terms.iter().map(|t| renamed(t, prefix)).collect()),
        Condition::Or(terms) => Condition::Or(terms.iter().map(|t| renamed(t, prefix)).collect()),
        Condition::Of { all, pattern } => Condition::Of {
            all: *all,
            // `them` (`*`) is every selection of the filter.
            pattern: format!("{prefix}{pattern}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::rule::load_str;
    use std::path::Path;

    const RULES: &str = "title: Failed logon
id: r1
name: failed_logon
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4625}
  condition: selection
---
title: Process
id: r2
logsource: {product: windows, category: process_creation}
detection:
  selection: {Image|endswith: '\\\\cmd.exe'}
  condition: selection
";

    #[test]
    fn a_filter_joins_the_rules_it_names_with_and() {
        let text = format!(
            "{RULES}---
title: Not the scanner
id: f1
logsource: {{product: windows}}
filter:
  rules: [failed_logon]
  scanner:
    IpAddress: 10.0.0.9
  condition: not scanner
"
        );
        let loaded = load_str(Path::new("x.yml"), &text);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let rule = &loaded.rules[0];
        assert_eq!(rule.filters, ["f1"]);
        assert_eq!(rule.detection.selections[1].name, "_filter0_scanner");
        assert_eq!(
            format!("{:?}", rule.detection.condition),
            r#"And([Ref("selection"), Not(Ref("_filter0_scanner"))])"#
        );
        assert!(loaded.rules[1].filters.is_empty());
    }

    #[test]
    fn any_applies_to_every_contained_rule_and_bad_names_are_errors() {
        let text = format!(
            "{RULES}---
title: Everywhere
logsource: {{product: windows}}
filter:
  rules: any
  lab: {{Computer: LAB01}}
  condition: not 1 of them
---
title: Misnamed
logsource: {{product: windows, service: sysmon}}
filter:
  rules: [r1, nothing]
  x: {{a: b}}
  condition: not x
"
        );
        let loaded = load_str(Path::new("x.yml"), &text);
        assert_eq!(loaded.rules[0].filters.len(), 1);
        assert_eq!(loaded.rules[1].filters.len(), 1);
        let messages: Vec<String> = loaded.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages[0].contains("does not contain rule `r1`"),
            "{messages:?}"
        );
        assert!(
            messages[1].contains("`nothing`, which is not loaded"),
            "{messages:?}"
        );
        assert!(messages[1].starts_with("x.yml:26:"), "{messages:?}");
    }
}
