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
use crate::field::well_known;

/// One of these literals must occur (lowercase, on its subject).
pub(crate) type Gate = Vec<(Subject, Box<str>)>;

impl CompiledRule {
    /// The rule's gate, if its condition has one.
    pub(crate) fn gate(&self) -> Option<Gate> {
        self.expr_gate(&self.condition)
    }

    fn expr_gate(&self, expr: &Expr) -> Option<Gate> {
        match expr {
            Expr::Check(i) => check_gate(&self.checks[*i as usize]),
            Expr::Selection(i) => self.expr_gate(&self.selections[*i as usize].1),
            Expr::And(terms) => terms
                .iter()
                .filter_map(|t| self.expr_gate(t))
                .max_by_key(score),
            Expr::Or(terms) => {
                let mut union = Gate::new();
                for term in terms.iter() {
                    union.extend(self.expr_gate(term)?);
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

fn check_gate(check: &Check) -> Option<Gate> {
    if check.negate || check.subject == Subject::Field(well_known::EVENT_ID) {
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
                (!text.is_empty()).then_some((subject, text))
            }
            StrPattern::Glob(glob) => glob
                .longest_literal()
                .map(|l| (subject, l.to_lowercase().into())),
            StrPattern::Any | StrPattern::Regex(_) => None,
        })
        .collect()
}
