//! Loaded rules to a `Program`: checks on field ids, an index by channel and event id, and
//! shared literal automata. Compiled once, then shared read-only by every worker.
//!
//! Each rule is compiled once per logsource target (see `logsource`): field names go
//! through the target's renames and into the `FieldTable`; the target's conditions
//! (`EventID: 4688`) are ANDed in; the event ids the whole condition requires decide which
//! (channel, event id) buckets the rule sits in. A record then meets only the rules of its
//! bucket: a Security 4624 record never evaluates a Sysmon rule.

mod gate;
pub mod item;
pub mod literals;
pub mod matcher;
pub mod placeholder;
pub(crate) mod route;

use crate::field::{FieldId, FieldTable, well_known};
use crate::logsource::{Mapping, Resolution, Target};
use crate::rule::condition::{Condition, pattern_covers};
use crate::rule::{LogSource, Meta, Rule, RuleError, Selection, Source};
use jiff::tz::TimeZone;
use literals::{Literals, LiteralsBuilder, Subject};
use matcher::{Anchor, Cidr, Compare, StrPattern, TimePart};
pub use placeholder::Placeholders;
use route::{Routes, RoutesBuilder};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// What compilation needs besides the rules.
#[derive(Debug, Clone)]
pub struct Options {
    pub mapping: Mapping,
    pub placeholders: Placeholders,
    /// The site's time zone, for the time-part modifiers.
    pub timezone: TimeZone,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mapping: Mapping::builtin(),
            placeholders: Placeholders::default(),
            timezone: TimeZone::UTC,
        }
    }
}

/// A rule's description, shared by its compiled forms and its alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleInfo {
    pub meta: Meta,
    pub source: Source,
    pub logsource: LogSource,
}

/// One test on a value of the check's subject.
#[derive(Debug, Clone)]
pub enum ValueTest {
    /// Any of the patterns matches a value.
    Str(Box<[StrPattern]>),
    /// `null`: the field is absent.
    Null,
    Exists(bool),
    Cidr(Box<[Cidr]>),
    Number {
        op: Compare,
        value: f64,
    },
    TimePart {
        part: TimePart,
        op: Compare,
        value: i64,
    },
    /// The value compares with a value of another field of the event.
    FieldRef {
        other: FieldId,
        anchor: Anchor,
        cased: bool,
    },
}

/// A detection item: tests on one field (or on every value, for keywords), joined by OR, or
/// AND with `all`, negated with `neq`.
#[derive(Debug, Clone)]
pub struct Check {
    pub(crate) subject: Subject,
    /// The field's name as the rule wrote it, for alerts.
    pub(crate) field: Box<str>,
    pub(crate) tests: Box<[ValueTest]>,
    pub(crate) all: bool,
    pub(crate) negate: bool,
}

#[derive(Debug, Clone)]
pub enum Expr {
    Check(u32),
    /// A named selection of the rule.
    Selection(u32),
    And(Box<[Expr]>),
    Or(Box<[Expr]>),
    Not(Box<Expr>),
}

/// A rule compiled for one target.
#[derive(Debug)]
pub struct CompiledRule {
    pub info: Arc<RuleInfo>,
    /// The target's service (`sysmon`, `security`), if it has one.
    pub service: Option<String>,
    /// The channels the rule reads (`None`: every channel).
    pub channels: Option<Vec<String>>,
    /// The event ids the rule can match (`None`: any).
    pub event_ids: Option<Vec<u32>>,
    pub(crate) checks: Vec<Check>,
    pub(crate) selections: Vec<(Box<str>, Expr)>,
    pub(crate) condition: Expr,
}

/// A rule that loaded but that no event of these inputs can reach.
#[derive(Debug, Clone)]
pub struct Idle {
    pub info: Arc<RuleInfo>,
    pub reason: String,
}

/// Compiled rules, ready to evaluate.
#[derive(Debug)]
pub struct Program {
    pub(crate) fields: FieldTable,
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) routes: Routes,
    pub(crate) literals: Literals,
    pub(crate) timezone: TimeZone,
    infos: Vec<Arc<RuleInfo>>,
    idle: Vec<Idle>,
}

impl Program {
    /// The field table inputs resolve names with.
    pub fn fields(&self) -> &FieldTable {
        &self.fields
    }

    pub fn rule(&self, index: u32) -> &CompiledRule {
        &self.rules[index as usize]
    }

    /// Compiled rules (a rule compiled for two targets counts twice).
    pub fn compiled_rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// Every rule that loaded and compiled, in load order, idle ones included.
    pub fn rules(&self) -> &[Arc<RuleInfo>] {
        &self.infos
    }

    pub fn idle(&self) -> &[Idle] {
        &self.idle
    }

    /// Whether any rule reads events of `channel` (exact name, or ignoring ASCII case).
    pub fn wants_channel(&self, channel: &str) -> bool {
        let routes = &self.routes;
        if !routes.any_channel.any_event_id.is_empty() || !routes.any_channel.by_event_id.is_empty()
        {
            return true;
        }
        routes.channels.contains_key(channel)
            || routes
                .channels
                .contains_key(channel.to_ascii_lowercase().as_str())
    }
}

/// What compiling many rules shares: field ids, literal needles, keyword groups.
struct Compiler<'o> {
    options: &'o Options,
    fields: FieldTable,
    literals: LiteralsBuilder,
    /// Keyword group of each distinct channel set (`None`: every channel).
    keyword_groups: HashMap<Option<Vec<String>>, u32>,
}

/// One rule's compilation: where its events come from and the checks built so far.
struct RuleBuild<'a> {
    target: &'a Target,
    keyword_group: u32,
    checks: Vec<Check>,
}

/// Compiles `rules`. Rules that fail are reported and left out; the others compile.
pub fn compile(rules: Vec<Rule>, options: &Options) -> (Program, Vec<RuleError>) {
    let mut compiler = Compiler {
        options,
        fields: FieldTable::new(),
        literals: LiteralsBuilder::default(),
        keyword_groups: HashMap::new(),
    };
    let mut compiled: Vec<CompiledRule> = Vec::new();
    let mut routes = RoutesBuilder::default();
    let mut gates = Vec::new();
    let mut infos = Vec::new();
    let mut idle = Vec::new();
    let mut errors = Vec::new();

    for rule in rules {
        let info = Arc::new(RuleInfo {
            meta: rule.meta.clone(),
            source: rule.source.clone(),
            logsource: rule.logsource.clone(),
        });
        let targets = match options.mapping.resolve(&rule.logsource) {
            Resolution::Targets(targets) => targets,
            Resolution::Idle(reason) => {
                // Compile anyway, so that a broken idle rule is still reported; its needles
                // go to a builder that is thrown away.
                let everywhere = Target {
                    service: None,
                    channels: None,
                    conditions: Vec::new(),
                    fields: Default::default(),
                };
                let kept = std::mem::take(&mut compiler.literals);
                let result = compiler.rule(&rule, &info, &everywhere);
                compiler.literals = kept;
                match result {
                    Ok(_) => {
                        infos.push(info.clone());
                        idle.push(Idle { info, reason });
                    }
                    Err(e) => errors.push(e),
                }
                continue;
            }
        };
        let mut placed = Vec::new();
        let mut failed = None;
        for target in &targets {
            match compiler.rule(&rule, &info, target) {
                // The rule's own event ids never occur in this source.
                Ok((_, Some(ids))) if ids.is_empty() => {}
                Ok((compiled_rule, event_ids)) => placed.push((compiled_rule, event_ids, target)),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            errors.push(e);
            continue;
        }
        infos.push(info.clone());
        if placed.is_empty() {
            idle.push(Idle {
                info,
                reason: format!(
                    "the event ids it requires never occur in logsource `{}`",
                    rule.logsource
                ),
            });
            continue;
        }
        for (compiled_rule, event_ids, target) in placed {
            let index = compiled.len() as u32;
            gates.push(compiled_rule.gate().map(|gate| {
                gate.iter()
                    .map(|(subject, literal)| {
                        (*subject, compiler.literals.needle(*subject, literal))
                    })
                    .collect::<Vec<_>>()
            }));
            compiled.push(compiled_rule);
            routes.add(&target.channels, &event_ids, index);
        }
    }

    let Compiler {
        fields,
        literals,
        keyword_groups,
        ..
    } = compiler;
    let literals = match literals.build(fields.len(), keyword_groups.len()) {
        Ok(literals) => literals,
        Err(message) => {
            // Only an automaton too large for memory gets here; say so rather than panic.
            errors.push(RuleError {
                path: Default::default(),
                pos: Default::default(),
                rule_id: None,
                title: None,
                message,
            });
            Literals::default()
        }
    };
    let program = Program {
        fields,
        rules: compiled,
        routes: routes.build(&gates),
        literals,
        timezone: options.timezone.clone(),
        infos,
        idle,
    };
    (program, errors)
}

impl Compiler<'_> {
    /// Compiles `rule` for `target`; returns it with the event ids it requires (`None`:
    /// any).
    fn rule(
        &mut self,
        rule: &Rule,
        info: &Arc<RuleInfo>,
        target: &Target,
    ) -> Result<(CompiledRule, Option<BTreeSet<u32>>), RuleError> {
        let error = |pos, message: String| RuleError {
            path: rule.source.path.clone(),
            pos,
            rule_id: Some(rule.meta.id.clone()),
            title: Some(rule.meta.title.clone()),
            message,
        };
        let next_group = self.keyword_groups.len() as u32;
        let keyword_group = *self
            .keyword_groups
            .entry(target.channels.clone())
            .or_insert(next_group);
        let mut build = RuleBuild {
            target,
            keyword_group,
            checks: Vec::new(),
        };
        let mut selections = Vec::new();
        for named in &rule.detection.selections {
            let expr = self
                .selection(&named.selection, &mut build)
                .map_err(|(pos, message)| {
                    error(pos, format!("selection `{}`: {message}", named.name))
                })?;
            selections.push((Box::<str>::from(named.name.as_str()), expr));
        }
        let condition = condition_expr(&rule.detection.condition, &rule.detection.selections);
        let mut conjuncts = Vec::new();
        for (field, values) in &target.conditions {
            let id = self.fields.intern(field);
            let patterns: Vec<StrPattern> = values
                .iter()
                .map(|v| StrPattern::Literal {
                    anchor: Anchor::Equals,
                    text: v.to_lowercase().into(),
                    cased: false,
                    needle: None,
                })
                .collect();
            build.checks.push(Check {
                subject: Subject::Field(id),
                field: field.as_str().into(),
                tests: Box::new([ValueTest::Str(patterns.into_boxed_slice())]),
                all: false,
                negate: false,
            });
            conjuncts.push(Expr::Check(build.checks.len() as u32 - 1));
        }
        let condition = if conjuncts.is_empty() {
            condition
        } else {
            conjuncts.push(condition);
            Expr::And(conjuncts.into_boxed_slice())
        };
        let mut compiled = CompiledRule {
            info: info.clone(),
            service: target.service.clone(),
            channels: target.channels.clone(),
            event_ids: None,
            checks: build.checks,
            selections,
            condition,
        };
        let event_ids = compiled.required_event_ids(&compiled.condition);
        compiled.event_ids = event_ids.as_ref().map(|ids| ids.iter().copied().collect());
        Ok((compiled, event_ids))
    }

    fn selection(
        &mut self,
        selection: &Selection,
        build: &mut RuleBuild<'_>,
    ) -> Result<Expr, (crate::yaml::Pos, String)> {
        match selection {
            Selection::All(items) => {
                let mut terms = Vec::with_capacity(items.len());
                for item in items {
                    let target = build.target;
                    let (subject, name) = match &item.field {
                        Some(field) => {
                            let mapped = target.field_name(field);
                            (Subject::Field(self.fields.intern(mapped)), field.as_str())
                        }
                        None => (Subject::Keywords(build.keyword_group), "keywords"),
                    };
                    let fields = &mut self.fields;
                    let check = item::compile_item(
                        name,
                        subject,
                        &item.modifiers,
                        &item.values,
                        &self.options.placeholders,
                        &mut self.literals,
                        &mut |other| fields.intern(target.field_name(other)),
                    )
                    .map_err(|message| {
                        let what = match &item.field {
                            Some(f) if item.modifiers.is_empty() => format!("`{f}`"),
                            Some(f) => format!("`{f}|{}`", item.modifiers.join("|")),
                            None => "keywords".to_string(),
                        };
                        (item.pos, format!("{what}: {message}"))
                    })?;
                    build.checks.push(check);
                    terms.push(Expr::Check(build.checks.len() as u32 - 1));
                }
                Ok(if terms.len() == 1 {
                    terms.remove(0)
                } else {
                    Expr::And(terms.into_boxed_slice())
                })
            }
            Selection::Any(alternatives) => {
                let mut terms = Vec::with_capacity(alternatives.len());
                for alt in alternatives {
                    terms.push(self.selection(alt, build)?);
                }
                Ok(Expr::Or(terms.into_boxed_slice()))
            }
        }
    }
}

fn condition_expr(condition: &Condition, selections: &[crate::rule::NamedSelection]) -> Expr {
    let index = |name: &str| {
        selections
            .iter()
            .position(|s| s.name == name)
            .expect("references were checked when the rule loaded") as u32
    };
    match condition {
        Condition::Ref(name) => Expr::Selection(index(name)),
        Condition::Not(inner) => Expr::Not(Box::new(condition_expr(inner, selections))),
        Condition::And(terms) => Expr::And(
            terms
                .iter()
                .map(|t| condition_expr(t, selections))
                .collect(),
        ),
        Condition::Or(terms) => Expr::Or(
            terms
                .iter()
                .map(|t| condition_expr(t, selections))
                .collect(),
        ),
        Condition::Of { all, pattern } => {
            let covered: Box<[Expr]> = selections
                .iter()
                .enumerate()
                .filter(|(_, s)| pattern_covers(pattern, &s.name))
                .map(|(i, _)| Expr::Selection(i as u32))
                .collect();
            if *all {
                Expr::And(covered)
            } else {
                Expr::Or(covered)
            }
        }
    }
}

impl CompiledRule {
    /// The event ids `expr` can only be true for, or `None` if it constrains none.
    fn required_event_ids(&self, expr: &Expr) -> Option<BTreeSet<u32>> {
        match expr {
            Expr::Check(i) => event_ids_of(&self.checks[*i as usize]),
            Expr::Selection(i) => self.required_event_ids(&self.selections[*i as usize].1),
            Expr::And(terms) => terms
                .iter()
                .filter_map(|t| self.required_event_ids(t))
                .reduce(|a, b| a.intersection(&b).copied().collect()),
            Expr::Or(terms) => {
                let mut union = BTreeSet::new();
                for term in terms.iter() {
                    union.extend(self.required_event_ids(term)?);
                }
                Some(union)
            }
            Expr::Not(_) => None,
        }
    }
}

/// The event ids a check requires: a plain `EventID: [..]` equality with numeric values.
fn event_ids_of(check: &Check) -> Option<BTreeSet<u32>> {
    if check.subject != Subject::Field(well_known::EVENT_ID) || check.negate {
        return None;
    }
    if check.all && check.tests.len() > 1 {
        return None;
    }
    let mut ids = BTreeSet::new();
    for test in check.tests.iter() {
        let ValueTest::Str(patterns) = test else {
            return None;
        };
        for pattern in patterns.iter() {
            match pattern {
                StrPattern::Literal {
                    anchor: Anchor::Equals,
                    text,
                    ..
                } => ids.insert(text.parse::<u32>().ok()?),
                _ => return None,
            };
        }
    }
    Some(ids)
}

/// Rules read from files and compiled, with every error from either step.
#[derive(Debug)]
pub struct Ruleset {
    pub program: Program,
    pub errors: Vec<RuleError>,
    /// Rule files read.
    pub files: usize,
}

/// Loads every rule under `paths` and compiles them.
pub fn load_and_compile(paths: &[std::path::PathBuf], options: &Options) -> Ruleset {
    let loaded = crate::rule::load(paths);
    let (program, compile_errors) = compile(loaded.rules, options);
    let mut errors = loaded.errors;
    errors.extend(compile_errors);
    Ruleset {
        program,
        errors,
        files: loaded.files,
    }
}
