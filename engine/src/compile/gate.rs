//! Gates: literals one of which must occur in an event for a rule to possibly match.
//!
//! 1,183 SigmaHQ process_creation rules sit in the bucket of Sysmon 1 (and Security 4688):
//! evaluating each of them per record is what made a naive engine slow. But nearly every
//! such rule needs some literal in some field (`Image|endswith: '\certutil.exe'` needs
//! `\certutil.exe` in `Image`), and the field automata find all of a field's literals in
//! one pass. So a rule with a gate is evaluated only when one of its gate literals was
//! found; the others are skipped without being looked at.
//!
//! A gate is a necessary condition, derived from the condition tree:
//! - a check needs one of its values' literals (any anchor: `equals x` implies `contains
//!   x`); with `all`, the best one of its values' sets;
//! - `and` needs what its most selective term needs; `or` needs the union of its terms';
//! - `not` needs nothing we can name, nor do regexes, `*`, numbers, CIDRs and the like.
//!
//! Gate literals are lowercase and go into the same automata as `contains` needles (see
//! `literals`). Checks on `EventID` are never gates: routing has already applied them.

use super::literals::Subject;
use super::matcher::StrPattern;
use super::{Check, CompiledRule, Expr, ValueTest};

/// One of these literals must occur (lowercase, on its subject).
pub(crate) type Gate = Vec<(Subject, Box<str>)>;

impl CompiledRule {
    /// The rule's gate, if its condition has one. `event_id` is the subject that stands for
    /// `EventID` (rule-local ids, such as gates are made with, have no fixed one), if any.
    pub(crate) fn gate(&self, event_id: Option<Subject>) -> Option<Gate> {
        self.expr_gate(&self.condition, event_id)
    }

    fn expr_gate(&self, expr: &Expr, event_id: Option<Subject>) -> Option<Gate> {
        match expr {
            Expr::Check(i) => check_gate(&self.checks[*i as usize], event_id),
            Expr::Selection(i) => self.expr_gate(&self.selections[*i as usize].1, event_id),
            Expr::And(terms) => terms
                .iter()
                .filter_map(|t| self.expr_gate(t, event_id))
                .max_by_key(score),
            Expr::Or(terms) => {
                let mut union = Gate::new();
                for term in terms.iter() {
                    union.extend(self.expr_gate(term, event_id)?);
                }
                Some(union)
            }
            Expr::Not(_) => None,
        }
    }
}

/// Higher is more selective: long shortest literal first, then fewer literals.
fn score(gate: &Gate) -> (usize, std::cmp::Reverse<usize>) {
    let shortest = gate.iter().map(|(_, l)| l.len()).min().unwrap_or(0);
    (shortest, std::cmp::Reverse(gate.len()))
}

fn check_gate(check: &Check, event_id: Option<Subject>) -> Option<Gate> {
    if check.negate || Some(check.subject) == event_id {
        return None;
    }
    let per_test = check.tests.iter().map(|t| test_gate(check.subject, t));
    if check.all {
        per_test.flatten().max_by_key(score)
    } else {
        let mut union = Gate::new();
        for gate in per_test {
            union.extend(gate?);
        }
        (!union.is_empty()).then_some(union)
    }
}

fn test_gate(subject: Subject, test: &ValueTest) -> Option<Gate> {
    let literals = required_literals(test)?;
    Some(literals.into_iter().map(|l| (subject, l)).collect())
}

/// For each of a string test's patterns, a lowercase literal that a value it matches holds;
/// `None` if some pattern (or the test) needs none.
pub(crate) fn required_literals(test: &ValueTest) -> Option<Vec<Box<str>>> {
    let ValueTest::Str(patterns) = test else {
        return None;
    };
    patterns
        .iter()
        .map(|p| match p {
            StrPattern::Literal { text, cased, .. } => {
                // A cased match implies a case-insensitive one, so the lowercase text gates.
                let text: Box<str> = if *cased {
                    text.to_lowercase().into()
                } else {
                    text.clone()
                };
                (!text.is_empty()).then_some(text)
            }
            StrPattern::Glob(glob) => glob.longest_literal().map(|l| l.to_lowercase().into()),
            StrPattern::Any | StrPattern::Regex(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::compile::literals::Subject;
    use crate::compile::{Options, compile};
    use crate::rule::load_str;

    /// Ten Security 4688 rules, each on `Image` and with `EventID` in its condition.
    /// `EventID` is never a gate: a rule that names nothing else is evaluated for every
    /// record of its bucket, and one that names `Image` too waits for its `Image` needle.
    #[test]
    fn event_ids_are_never_gates_whatever_the_rule_local_id_of_the_field() {
        let rule = |n: usize, detection: &str| {
            format!(
                "title: r{n}\nid: r{n}\nlogsource:\n  product: windows\n  service: security\n\
                 detection:\n{detection}  condition: selection\n"
            )
        };
        let mut rules: Vec<String> = (0..9)
            .map(|n| {
                // `EventID` comes after `Image`: its rule-local id is not the well-known one.
                let detection = format!(
                    "  selection:\n    Image|endswith: '\\tool{n}.exe'\n    EventID: 4688\n"
                );
                rule(n, &detection)
            })
            .collect();
        rules.push(rule(9, "  selection:\n    EventID: 4688\n"));
        let loaded = load_str(std::path::Path::new("t.yml"), &rules.join("---\n"));
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let (program, errors) = compile(loaded.rules, loaded.correlations, &Options::default());
        assert!(errors.is_empty(), "{errors:?}");
        let security = program.routes.channels["security"] as usize;
        let bucket = &program.routes.by_channel[security].by_event_id[&4688];
        let id_of = |rule: u32| program.rules[rule as usize].info.meta.id.as_str();
        let always: Vec<&str> = bucket.always.iter().map(|&r| id_of(r)).collect();
        assert_eq!(always, ["r9"]);
        let image = program.fields.get("Image").unwrap();
        assert_eq!(bucket.gate_subjects, [Subject::Field(image)]);
    }
}
